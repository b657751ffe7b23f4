"""Ingest: read every omics layer, the clinical table and known labels; align samples by id.

Samples missing from any omics layer are dropped (with a warning naming them); samples
without clinical data stay in the clustering and are left out of outcome analyses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from metpot.config import schema_default
from metpot.errors import MetpotError, name_list, warn_data
from metpot.io import read_omics, read_table


@dataclass
class Cohort:
    """An aligned cohort.

    Attributes
    ----------
    layers : dict of str to DataFrame
        Samples x features float64 frames, all with the same sample order.
    samples : DataFrame
        One row per sample seen anywhere: ``sample_id``, ``status`` (kept/dropped),
        ``reason``, one ``in_<layer>`` flag per layer and ``in_clinical``.
    clinical : DataFrame or None
        Clinical rows of the kept samples (strings, indexed by sample id, cohort order).
    truth : DataFrame or None
        Known labels of kept samples: ``sample_id``, ``label``.
    """

    layers: dict[str, pd.DataFrame]
    samples: pd.DataFrame
    clinical: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)


def align_layers(layers: dict[str, pd.DataFrame], paths: dict[str, str] | None = None) -> Cohort:
    """Keep the samples present in every layer, in the order of the first layer.

    Parameters
    ----------
    layers : dict of str to DataFrame
        Samples x features frames, in configuration order.
    paths : dict of str to str, optional
        File of each layer, for messages.

    Returns
    -------
    Cohort
        With ``layers`` restricted to the common samples and the ``samples`` table.
    """
    if not layers:
        raise MetpotError("config: cohort.omics: no omics layer configured")
    paths = paths or {}
    names = list(layers)
    first = layers[names[0]].index
    common = [s for s in first if all(s in layers[n].index for n in names[1:])]
    if not common:
        sizes = ", ".join(f"{n} ({paths.get(n, n)}, {len(layers[n])} samples)" for n in names)
        raise MetpotError(f"no sample id in common between the omics layers: {sizes}")
    common_set = set(common)
    all_ids: list[str] = []
    seen: set[str] = set()
    for n in names:
        for s in layers[n].index:
            if s not in seen:
                seen.add(s)
                all_ids.append(s)
    rows = []
    for s in all_ids:
        missing = [n for n in names if s not in layers[n].index]
        row = {"sample_id": s, "status": "kept" if s in common_set else "dropped"}
        row["reason"] = f"missing from layer(s) {', '.join(missing)}" if missing else ""
        row.update({f"in_{n}": s in layers[n].index for n in names})
        rows.append(row)
    samples = pd.DataFrame(rows)
    for n in names:
        extra = [s for s in layers[n].index if s not in common_set]
        if extra:
            warn_data(
                f"layer {n}: {len(extra)} sample(s) not in every other layer dropped: "
                f"{name_list(extra)}"
            )
    aligned = {n: layers[n].loc[common] for n in names}
    return Cohort(layers=aligned, samples=samples)


def attach_clinical(
    cohort: Cohort, clinical: pd.DataFrame, sample_id: str, required: list[str], path: str
) -> None:
    """Attach clinical rows to the kept samples, checking the configured columns exist.

    Parameters
    ----------
    cohort : Cohort
        Modified in place: ``clinical`` and ``samples.in_clinical`` are set.
    clinical : DataFrame
        The clinical table as strings.
    sample_id : str
        Column holding the sample ids.
    required : list of str
        Other configured columns that must exist.
    path : str
        The file, for messages.
    """
    for col in [sample_id, *required]:
        if col not in clinical.columns:
            raise MetpotError(f"{path}: no column {col!r} (columns: {name_list(clinical.columns)})")
    ids = clinical[sample_id]
    dups = ids[ids.duplicated()].unique().tolist()
    if dups:
        raise MetpotError(
            f"{path}: duplicate sample id(s) in column {sample_id!r}: {name_list(dups)}"
        )
    if (ids == "").any():
        line = int((ids == "").to_numpy().argmax()) + 2
        raise MetpotError(f"{path}: empty sample id in column {sample_id!r} at line {line}")
    table = clinical.set_index(sample_id)
    kept = list(cohort.layers[next(iter(cohort.layers))].index)
    present = [s for s in kept if s in table.index]
    if not present:
        raise MetpotError(
            f"{path}: no sample id in column {sample_id!r} matches the omics sample ids "
            f"(e.g. {name_list(kept, 3)} vs {name_list(table.index, 3)})"
        )
    absent = [s for s in kept if s not in table.index]
    if absent:
        warn_data(
            f"{path}: {len(absent)} sample(s) without clinical data (kept for clustering, left "
            f"out of outcome analyses): {name_list(absent)}"
        )
    cohort.samples["in_clinical"] = cohort.samples["sample_id"].isin(table.index)
    cohort.clinical = table.reindex(present)
    cohort.clinical.index.name = "sample_id"


def attach_truth(cohort: Cohort, truth: pd.DataFrame, path: str) -> None:
    """Attach known labels (``sample_id``, ``label``) of the kept samples."""
    for col in ("sample_id", "label"):
        if col not in truth.columns:
            raise MetpotError(f"{path}: no column {col!r} (columns: {name_list(truth.columns)})")
    dups = truth["sample_id"][truth["sample_id"].duplicated()].unique().tolist()
    if dups:
        raise MetpotError(f"{path}: duplicate sample id(s): {name_list(dups)}")
    kept = list(cohort.layers[next(iter(cohort.layers))].index)
    table = truth.set_index("sample_id")["label"]
    labelled = [s for s in kept if s in table.index and table[s] != ""]
    if not labelled:
        raise MetpotError(f"{path}: no sample id matches the omics sample ids")
    if len(labelled) < len(kept):
        missing = [s for s in kept if s not in labelled]
        warn_data(f"{path}: {len(missing)} sample(s) without a known label: {name_list(missing)}")
    cohort.truth = pd.DataFrame({"sample_id": labelled, "label": [table[s] for s in labelled]})


def clinical_columns(clinical_cfg: dict) -> list[str]:
    """Configured clinical columns other than the sample id."""
    keys = ("time", "event", "pfs_time", "pfs_event")
    cols = [clinical_cfg[k] for k in keys if clinical_cfg.get(k)]
    return cols + list(clinical_cfg.get("covariates", []))


def load_cohort(cohort_cfg: dict) -> Cohort:
    """Read and align everything the ``cohort`` config section names.

    Parameters
    ----------
    cohort_cfg : dict
        The validated ``cohort`` section.

    Returns
    -------
    Cohort
    """
    layers = {}
    paths = {}
    for name, spec in cohort_cfg["omics"].items():
        paths[name] = spec["path"]
        frame = read_omics(
            spec["path"], spec.get("layout", schema_default("cohort.omics.*.layout"))
        )
        if frame.shape[1] == 0:
            raise MetpotError(f"{spec['path']}: layer {name} has no feature")
        layers[name] = frame
    cohort = align_layers(layers, paths)
    for name, frame in layers.items():
        layout = cohort_cfg["omics"][name].get("layout", schema_default("cohort.omics.*.layout"))
        cohort.shapes[name] = frame.shape[::-1] if layout == "features_x_samples" else frame.shape
    clinical_cfg = cohort_cfg.get("clinical")
    if clinical_cfg:
        table = read_table(clinical_cfg["path"])
        cohort.shapes["clinical"] = table.shape
        required = clinical_columns(clinical_cfg)
        attach_clinical(
            cohort,
            table,
            clinical_cfg.get("sample_id", schema_default("cohort.clinical.sample_id")),
            required,
            clinical_cfg["path"],
        )
    if cohort_cfg.get("truth"):
        truth = read_table(cohort_cfg["truth"])
        cohort.shapes["truth"] = truth.shape
        attach_truth(cohort, truth, cohort_cfg["truth"])
    return cohort


def input_files(cohort_cfg: dict) -> list[dict]:
    """The input files named by the cohort config: ``[{"layer", "path"}]``."""
    files = [{"layer": n, "path": s["path"]} for n, s in cohort_cfg["omics"].items()]
    if cohort_cfg.get("clinical"):
        files.append({"layer": "clinical", "path": cohort_cfg["clinical"]["path"]})
    if cohort_cfg.get("truth"):
        files.append({"layer": "truth", "path": cohort_cfg["truth"]})
    return [{**f, "path": str(Path(f["path"]))} for f in files]


def check_time_unit(time: pd.Series, unit: str, column: str, path: str) -> None:
    """Warn when follow-up times look implausible for their declared unit.

    The median follow-up, converted to years, is expected between 0.1 and 30 years; outside
    that range the unit is probably wrong (months declared for days: a median of 1,500
    "months" is 125 years).
    """
    from metpot.config import YEAR_LENGTH

    values = pd.to_numeric(time, errors="coerce").dropna()
    if values.empty:
        return
    median = float(values.median())
    years = median / YEAR_LENGTH[unit]
    if years > 30 or years < 0.1:
        warn_data(
            f"{path}: column {column!r}: median follow-up {median:g} {unit} = {years:.3g} "
            f"years is implausible for time_unit {unit!r}; check cohort.clinical.time_unit"
        )


def outcome_table(clinical: pd.DataFrame, clinical_cfg: dict) -> pd.DataFrame:
    """Validated survival of every patient with clinical data, times converted to years.

    Parameters
    ----------
    clinical : DataFrame
        Clinical rows by sample id (:attr:`Cohort.clinical`).
    clinical_cfg : dict
        The validated ``cohort.clinical`` section (``time_unit`` required).

    Returns
    -------
    DataFrame
        Indexed by sample id (clinical order): ``os_years``, ``os_event`` and, with PFS
        configured, ``pfs_years``, ``pfs_event``; NaN where a patient's outcome is unusable
        (named in a warning).
    """
    from metpot.config import YEAR_LENGTH
    from metpot.survival import survival_frame

    unit = clinical_cfg["time_unit"]
    path = clinical_cfg["path"]
    frames = {}
    endpoints = [("os", "time", "event", "event_value")]
    if clinical_cfg.get("pfs_time"):
        endpoints.append(("pfs", "pfs_time", "pfs_event", "pfs_event_value"))
    for name, t, e, v in endpoints:
        check_time_unit(clinical[clinical_cfg[t]], unit, clinical_cfg[t], path)
        value = clinical_cfg.get(
            v, clinical_cfg.get("event_value", schema_default("cohort.clinical.event_value"))
        )
        try:
            sf = survival_frame(clinical, clinical_cfg[t], clinical_cfg[e], value)
        except MetpotError as exc:
            raise MetpotError(f"{path}: {exc}") from None
        frames[f"{name}_years"] = sf["time"] / YEAR_LENGTH[unit]
        frames[f"{name}_event"] = sf["event"].astype(int)
    out = pd.DataFrame(frames).reindex(clinical.index)
    out.index.name = "sample_id"
    return out


def input_summary(cohort_cfg: dict, cohort: Cohort) -> list[dict]:
    """SHA-256, size and shape of every input file (``inputs.json``)."""
    from metpot.io import sha256

    files = []
    for item in input_files(cohort_cfg):
        path = Path(item["path"])
        n_rows, n_cols = cohort.shapes[item["layer"]]
        name = path.name.lower().removesuffix(".gz")
        files.append(
            {
                **item,
                "format": name.rsplit(".", 1)[-1],
                "sha256": sha256(path),
                "bytes": path.stat().st_size,
                "n_rows": int(n_rows),
                "n_cols": int(n_cols),
            }
        )
    return files
