"""Step ``track``: record the workflow run in MLflow (``workflow/rules/track.smk``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger("metpot")


def run(cfg: dict, inputs: dict, *, workflow_dir: str | None = None, **_) -> dict:
    """The MLflow run of the workflow's outputs, with the best model of each target."""
    from metpot.manifest import analysis_outputs, out_dir
    from metpot.tracking import log_workflow_run

    outputs = analysis_outputs(cfg).values()
    run = log_workflow_run(cfg, out_dir(cfg), outputs, workflow_dir=workflow_dir)
    run["models"] = _register_best_models(cfg, run)
    log.info("MLflow run %s recorded", run["run_id"])
    return {"run": run}


def _register_best_models(cfg: dict, run: dict) -> list[dict]:
    """The best model of each classify target, logged and registered as <cohort>-<target>."""
    from metpot.manifest import classify_fit_files, classify_jobs, out_dir, step
    from metpot.model_io import input_example, load_model
    from metpot.tracking import log_model

    if not classify_jobs(cfg):
        return []
    best = pd.read_csv(step("classify", cfg).outputs["best"].path, sep="\t", dtype=str)
    registered = []
    for row in best.itertuples():
        files = classify_fit_files(cfg, row.target, row.model, row.feature_set)
        model, card = load_model(files["model"].path)
        name = f"{cfg['cohort']['name']}-{row.target}"
        root = Path(out_dir(cfg))
        ref = log_model(
            model,
            f"{row.model}__{row.feature_set}",
            input_example(card),
            registered_name=name,
            run_id=run["run_id"],
            tracking_uri=run["tracking_uri"],
            version_tags={
                f"metpot.{k}_artifact": Path(files[k].path).relative_to(root).as_posix()
                for k in ("model", "card")
            },
        )
        registered.append(
            {"target": row.target, "model_uri": ref.model_uri, "version": ref.version}
        )
        log.info("registered %s as %s", files["model"].path, ref.model_uri)
    return registered
