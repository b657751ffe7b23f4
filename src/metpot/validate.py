"""``metpot validate``: a config checked against the schema and against its data, in seconds.

:func:`check` returns every problem at once, one line each, naming the config key to change:
schema violations and inconsistent keys; input files that are missing or unreadable; layouts
that look transposed (sample ids of one layer found among the features of another); too few
samples in common for ``snf.K``; clinical columns named by ``cohort.clinical`` or ``crs`` that
the clinical table lacks, or whose sample ids match no omics sample; signature and gene-set
genes absent from their layer; follow-up times implausible for ``time_unit``; settings that
contradict the chosen ``survival.integrated_groups`` preset (warnings). The workflow runs
the same checks before any job.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from metpot.config import CRS_FACTORS, config_problems, load_yaml, preset_warnings
from metpot.errors import DataWarning, MetpotError, name_list


@dataclass(frozen=True)
class Problem:
    """One finding: ``level`` is ``error``, ``warning`` or ``note`` (a check not made)."""

    level: str
    message: str


def check(
    source: str | Path | dict, skip_files: set[str] | frozenset = frozenset()
) -> list[Problem]:
    """Every problem of a config and its data.

    Parameters
    ----------
    source : path or dict
        The user's config file (YAML), or a config mapping (validated and defaulted in place).
    skip_files : set of str
        Input paths not to open, silently. Input files that a rule of the workflow writes
        (:func:`workflow_made_files`, e.g. the demo cohort) and that do not exist yet are
        not opened either, each with a note.

    Returns
    -------
    list of Problem
        Errors first, then warnings and notes; empty when the config and data look right.
    """
    if isinstance(source, dict):
        config = source
    else:
        try:
            config = load_yaml(source)
        except MetpotError as exc:
            return [Problem("error", str(exc))]
        if config is None:
            return [Problem("error", f"{source}: the file is empty")]
    problems = [Problem("error", p) for p in config_problems(config)]
    if problems:
        return problems
    skip = {os.path.normpath(p) for p in skip_files}
    notes = []
    for key, path in _input_files(config):
        rule = workflow_made_files(config).get(os.path.normpath(path))
        if rule and os.path.normpath(path) not in skip and not os.path.exists(path):
            skip.add(os.path.normpath(path))
            notes.append(
                Problem(
                    "note",
                    f"{key}: {path} is written by the workflow's rule {rule}; "
                    "its data is checked when the workflow reads it",
                )
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        problems = _data_problems(config, skip)
    problems += [Problem("warning", line) for line in preset_warnings(config)]
    problems += [Problem("warning", str(w.message)) for w in caught if w.category is DataWarning]
    order = {"error": 0, "warning": 1, "note": 2}
    return sorted(problems + notes, key=lambda p: order[p.level])


def workflow_made_files(config: dict) -> dict[str, str]:
    """Files that a rule of the workflow writes and a config may name as input.

    Parameters
    ----------
    config : dict
        A validated config (defaults filled).

    Returns
    -------
    dict
        Normalised path -> name of the rule that writes it: the demo cohort's files
        (rule ``demo_cohort``) when the config has a ``demo`` section; empty otherwise.
    """
    from metpot.manifest import step

    if "demo" not in config:
        return {}
    paths = step("demo_cohort", config).output_paths().values()
    return {os.path.normpath(p): "demo_cohort" for p in paths}


def _input_files(config: dict) -> list[tuple[str, str]]:
    """(config key, path) of every input file the config names."""
    cohort = config["cohort"]
    out = [(f"cohort.omics.{n}.path", s["path"]) for n, s in cohort["omics"].items()]
    if cohort.get("clinical"):
        out.append(("cohort.clinical.path", cohort["clinical"]["path"]))
    if cohort.get("truth"):
        out.append(("cohort.truth", cohort["truth"]))
    return out


def _data_problems(config: dict, skip: set[str]) -> list[Problem]:
    from metpot.io import omics_ids, read_table

    errors: list[Problem] = []
    warn: list[Problem] = []
    cohort = config["cohort"]
    ids: dict[str, tuple[list[str], list[str]]] = {}
    for name, spec in cohort["omics"].items():
        if os.path.normpath(spec["path"]) in skip:
            continue
        try:
            ids[name] = omics_ids(spec["path"], spec["layout"])
        except MetpotError as exc:
            errors.append(Problem("error", f"cohort.omics.{name}.path: {exc}"))
    common: set[str] | None = None
    for samples, _ in ids.values():
        common = set(samples) if common is None else common & set(samples)
    if common is not None and not common and len(ids) > 1:
        flipped = transposed_layers(ids)
        if flipped:
            layout = cohort["omics"][flipped[0]]["layout"]
            errors.append(
                Problem(
                    "error",
                    f"cohort.omics.{flipped[0]}.layout: its features are the other layers' "
                    f"samples: the file looks transposed (layout {layout})",
                )
            )
        else:
            errors.append(
                Problem(
                    "error",
                    "cohort.omics: no sample id in common between the layers (e.g. "
                    + "; ".join(f"{n}: {name_list(s[0], 2)}" for n, s in ids.items())
                    + ")",
                )
            )
    if common and len(ids) == len(cohort["omics"]):
        K = config["snf"]["K"]
        if K >= len(common):
            errors.append(
                Problem(
                    "error",
                    f"snf.K: {K} must be below the number of samples in common ({len(common)})",
                )
            )
    errors += _signature_problems(config, ids)
    clinical_cfg = cohort.get("clinical")
    if clinical_cfg and os.path.normpath(clinical_cfg["path"]) not in skip:
        try:
            table = read_table(clinical_cfg["path"])
        except MetpotError as exc:
            errors.append(Problem("error", f"cohort.clinical.path: {exc}"))
            table = None
        if table is not None:
            errors += _clinical_problems(config, table, common)
    truth = cohort.get("truth")
    if truth and os.path.normpath(truth) not in skip:
        try:
            t = read_table(truth)
            for col in ("sample_id", "label"):
                if col not in t.columns:
                    errors.append(Problem("error", f"cohort.truth: {truth}: no column {col!r}"))
        except MetpotError as exc:
            errors.append(Problem("error", f"cohort.truth: {exc}"))
    return errors + warn


def transposed_layers(ids: Mapping[str, tuple[Iterable[str], Iterable[str]]]) -> list[str]:
    """The layers that look transposed: their features are another layer's samples.

    Used by ``metpot validate`` and by the scorer (:func:`metpot.score.match_features`).

    Parameters
    ----------
    ids : mapping
        Layer name -> (sample ids, feature ids) as read with the configured layout.

    Returns
    -------
    list of str
        The names of such layers, in the order of ``ids``.
    """
    samples = {n: set(s) for n, (s, _) in ids.items()}
    return [
        n
        for n, (_, features) in ids.items()
        if any(set(features) & samples[m] for m in ids if m != n)
    ]


def _signature_problems(config: dict, ids: dict) -> list[Problem]:
    from metpot.manifest import characterise_layer, gene_sets, subtype_layer

    signatures = config.get("subtypes", {}).get("signatures") or {}
    out = _gene_list_problems("subtypes.signatures", signatures, subtype_layer(config), ids)
    return out + _gene_list_problems(
        "characterise.gene_sets", gene_sets(config), characterise_layer(config), ids
    )


def _gene_list_problems(key: str, lists: dict, layer: str, ids: dict) -> list[Problem]:
    """Named gene lists (``key``.<name>) none of whose genes (error) or some (warning) are in
    ``layer``."""
    out = []
    if not lists or layer not in ids:
        return out
    features = set(ids[layer][1])
    for name, genes in lists.items():
        absent = [g for g in genes if g not in features]
        if len(absent) == len(genes):
            out.append(
                Problem(
                    "error",
                    f"{key}.{name}: none of its features is in layer {layer} "
                    f"(e.g. {name_list(genes, 3)})",
                )
            )
        elif absent:
            out.append(
                Problem(
                    "warning",
                    f"{key}.{name}: {len(absent)} feature(s) not in layer {layer}: "
                    f"{name_list(absent)}",
                )
            )
    return out


def _clinical_problems(config: dict, table, common: set[str] | None) -> list[Problem]:
    from metpot.ingest import check_time_unit

    out = []
    cfg = config["cohort"]["clinical"]
    path = cfg["path"]
    columns = set(table.columns)

    def need(key: str, column: str) -> bool:
        if column not in columns:
            out.append(
                Problem(
                    "error",
                    f"{key}: no column {column!r} in {path} (columns: {name_list(table.columns)})",
                )
            )
            return False
        return True

    if need("cohort.clinical.sample_id", cfg["sample_id"]) and common:
        if not set(table[cfg["sample_id"]]) & common:
            out.append(
                Problem(
                    "error",
                    f"cohort.clinical.sample_id: no id in column {cfg['sample_id']!r} of {path} "
                    f"matches the omics samples (e.g. {name_list(table[cfg['sample_id']], 2)} "
                    f"vs {name_list(sorted(common), 2)})",
                )
            )
    for key in ("time", "event", "pfs_time", "pfs_event"):
        if cfg.get(key):
            ok = need(f"cohort.clinical.{key}", cfg[key])
            if ok and key.endswith("time") and cfg.get("time_unit"):
                check_time_unit(table[cfg[key]], cfg["time_unit"], cfg[key], path)
    for i, col in enumerate(cfg.get("covariates", [])):
        need(f"cohort.clinical.covariates[{i}]", col)
    crs = config.get("crs")
    if crs is not None:
        for key in ("score", *CRS_FACTORS):
            if crs.get(key):
                need(f"crs.{key}", crs[key])
    for target in config.get("classify", {}).get("targets", []) or []:
        column = target.get("column") if isinstance(target, dict) else None
        if column:
            need(f"classify.targets[{target.get('name', column)}].column", column)
    return out


def workflow_problems(config: dict, skip_files: set[str]) -> list[str]:
    """:func:`check` for the workflow on an already validated config: error lines only."""
    problems = check(copy.deepcopy(config), skip_files)
    return [p.message for p in problems if p.level == "error"]
