"""Step ``ingest``: read, validate and align the cohort's files (``rules/ingest.smk``)."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("metpot")


def run(cfg: dict, inputs: dict, *, threads: int | None = None, outputs=(), **_) -> dict:
    """The cohort's layers (aligned), samples, clinical table, outcome, truth and checksums."""
    from metpot.ingest import input_summary, load_cohort, outcome_table

    cohort_cfg = json.loads(json.dumps(cfg["cohort"]))
    for key, path in inputs.items():  # the files the rule passed
        if key.startswith("layer_"):
            cohort_cfg["omics"][key.removeprefix("layer_")]["path"] = path
        elif key == "clinical":
            cohort_cfg["clinical"]["path"] = path
        elif key == "truth":
            cohort_cfg["truth"] = path
    cohort = load_cohort(cohort_cfg)
    clinical_cfg = cohort_cfg.get("clinical") or {}
    outcome = None
    if cohort.clinical is not None and clinical_cfg.get("time"):
        outcome = outcome_table(cohort.clinical, clinical_cfg)
    files = input_summary(cohort_cfg, cohort)
    n_kept = int((cohort.samples["status"] == "kept").sum())
    metrics = {"n_samples": n_kept, "n_dropped": int(len(cohort.samples) - n_kept)}
    metrics.update({f"n_features.{n}": int(f.shape[1]) for n, f in cohort.layers.items()})
    if outcome is not None:
        metrics["n_with_survival"] = int(outcome["os_years"].notna().sum())
    out: dict = {f"layer_{name}": frame for name, frame in cohort.layers.items()}
    out["samples"] = cohort.samples
    if "clinical" in outputs:
        out["clinical"] = cohort.clinical
    if "outcome" in outputs:
        out["outcome"] = outcome.reset_index()
    if "truth" in outputs:
        out["truth"] = cohort.truth
    out["inputs"] = files
    out["metrics"] = metrics
    log.info(
        "ingested %d samples x %s",
        n_kept,
        ", ".join(f"{n}: {f.shape[1]} features" for n, f in cohort.layers.items()),
    )
    return out
