"""The ``classify_pipeline`` step: the subtypes validated inside the outer folds.

Partition stability in every run with the ``snf_subtype`` target; with ``classify.validation``
resolving to ``pipeline`` (:func:`metpot.manifest.subtype_validation`), the whole discovery
pipeline's comparison with the clinical risk score too
(:func:`metpot.classify.pipeline_cv.pipeline_cv`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from metpot.errors import MetpotError

log = logging.getLogger("metpot")


def _samples(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"sample_id": str}, index_col="sample_id")


def _outcome(path) -> pd.DataFrame | None:
    """Overall survival (``os_years``, ``os_event``) of the patients who have it."""
    table = _samples(path)
    if "os_years" not in table.columns:
        return None
    out = table[["os_years", "os_event"]].dropna()
    out.columns = ["time", "event"]
    out["event"] = out["event"].astype(bool)
    return out


def _layers(cfg: Mapping, inputs: Mapping) -> dict[str, pd.DataFrame]:
    frames = {n: pd.read_parquet(inputs[f"layer_{n}"]) for n in cfg["cohort"]["omics"]}
    first = next(iter(frames.values())).index
    for name, frame in frames.items():
        if not frame.index.equals(first):
            raise MetpotError(f"{inputs[f'layer_{name}']}: samples differ from the other layers")
    return frames


def _summary_metrics(stability: pd.DataFrame, vs_crs: pd.DataFrame) -> dict:
    ari = stability["ari"].to_numpy(float)
    ok = np.isfinite(ari)
    metrics = {
        "stability.ari_mean": float(ari[ok].mean()) if ok.any() else float("nan"),
        "stability.ari_min": float(ari[ok].min()) if ok.any() else float("nan"),
        "stability.ari_max": float(ari[ok].max()) if ok.any() else float("nan"),
        "stability.n_failed_folds": int((~ok).sum()),
    }
    acc = stability["balanced_accuracy"].to_numpy(float)
    if np.isfinite(acc).any():
        metrics["pipeline.balanced_accuracy_mean"] = float(np.nanmean(acc))
    if len(vs_crs):
        for r in vs_crs[vs_crs["reference"].fillna("") == ""].itertuples():
            metrics[f"pipeline.{r.predictor}.{r.metric}"] = r.estimate
    return metrics


def run(cfg: dict, inputs: Mapping, *, threads: int | None = 1, **_) -> dict[str, object]:
    """Partition stability and (``pipeline`` validation) the pipeline's comparison with CRS.

    Parameters
    ----------
    cfg : dict
        The resolved config.
    inputs : mapping
        ``layer_<name>`` (ingested), ``assignments``, ``subtypes``, ``n_clusters``, and when
        present ``outcome`` and ``crs``.
    threads : int
        Unused (the folds run one after the other; SNF uses the job's numba threads).

    Returns
    -------
    dict
        ``partition_stability`` (DataFrame), ``fit`` (dict: validation, model, k, warnings,
        failed folds), ``metrics`` (dict); with ``pipeline`` validation also ``vs_crs`` and
        ``predictions`` (DataFrames).
    """
    from metpot.classify.inputs import categorical_target
    from metpot.classify.pipeline_cv import pipeline_cv
    from metpot.config import layer_preprocess
    from metpot.manifest import classify_config, subtype_validation

    ccfg = classify_config(cfg)
    validation = subtype_validation(cfg)
    layers = _layers(cfg, inputs)
    assign = _samples(inputs["assignments"])["subtype"]
    table = pd.read_csv(inputs["subtypes"], sep="\t")
    names = dict(zip(table["subtype"].astype(int), table["name"].astype(str), strict=True))
    target = categorical_target(assign.map(names), "snf_subtype", ccfg["min_class_size"])
    k = int(json.loads(Path(inputs["n_clusters"]).read_text())["n_clusters"])
    outcome = _outcome(inputs["outcome"]) if "outcome" in inputs else None
    crs = None
    if "crs" in inputs:
        crs = _samples(inputs["crs"])["crs"].astype(float)
    res = pipeline_cv(
        target,
        layers,
        k,
        preprocess={n: layer_preprocess(cfg, n) for n in layers},
        snf=cfg["snf"],
        outcome=outcome,
        crs=crs,
        config=ccfg,
        time_unit="years",
        classify=validation == "pipeline",
    )
    stability = res["stability"]
    failed = stability[stability["note"] != ""]
    fit = {
        "validation": validation,
        "validation_setting": ccfg["validation"],
        "model": res["model"] if validation == "pipeline" else None,
        "k": k,
        "n_folds": len(stability),
        "folds_without_result": [
            {"repeat": int(r.repeat), "fold": int(r.fold), "note": str(r.note)}
            for r in failed.itertuples()
        ],
        "fit_warnings": res["warnings"],
    }
    out: dict[str, object] = {"partition_stability": stability, "fit": fit}
    if validation == "pipeline":
        out["vs_crs"] = res["vs_crs"]
        out["predictions"] = res["predictions"]
    out["metrics"] = _summary_metrics(stability, res["vs_crs"])
    if len(stability):
        log.info(
            "validation %s; partition stability: ARI %.2f (%.2f-%.2f) over %d folds",
            validation, stability["ari"].mean(), stability["ari"].min(),
            stability["ari"].max(), len(stability),
        )  # fmt: skip
    return out
