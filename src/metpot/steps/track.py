"""Steps ``track_models`` and ``track``: record the workflow run in MLflow
(``workflow/rules/track.smk``).

``track_models`` opens the run as soon as the classifiers are compared and logs and registers
each target's best model into it, beside the jobs that are still running; ``track`` records
everything else into that run, finishes it, and only then points each target's ``champion``
alias at its new version (a run that fails before never names a champion). Without
``track_models`` (no classifiers, or its run already finished: ``track`` rerun alone),
``track`` does both itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from metpot.steps._common import read_json

log = logging.getLogger("metpot")


def _import_skops_first() -> None:
    # skops, imported, lists the types it trusts by looking each one up in sys.modules:
    # before MLflow fills sys.modules that takes a second less
    import skops.io  # noqa: F401


def models(cfg: dict, inputs: dict, **_) -> dict:
    """The open MLflow run of the workflow, with the best model of each target registered."""
    _import_skops_first()
    from metpot.tracking import open_workflow_run

    run = open_workflow_run(cfg)
    run["models"] = _register_best_models(cfg, run, alias=None)
    log.info("MLflow run %s opened, %d model(s) registered", run["run_id"], len(run["models"]))
    return {"models": run}


def run(cfg: dict, inputs: dict, *, workflow_dir: str | None = None, **_) -> dict:
    """The MLflow run of the workflow's outputs, with the best model of each target."""
    from metpot.manifest import analysis_outputs, classify_jobs, out_dir

    if classify_jobs(cfg) and "models" not in inputs:
        _import_skops_first()
    from metpot.tracking import log_workflow_run, run_tracking_uri, set_champion, still_open

    opened = read_json(inputs["models"]) if "models" in inputs else None
    run_id = still_open(opened, run_tracking_uri(cfg))
    if opened is not None and run_id is None:
        log.info("the run track_models opened is finished: the models are logged again")
    outputs = analysis_outputs(cfg).values()
    run = log_workflow_run(cfg, out_dir(cfg), outputs, workflow_dir=workflow_dir, run_id=run_id)
    registered = opened["models"] if run_id else _register_best_models(cfg, run, alias=None)
    run["models"] = set_champion(registered, tracking_uri=run["tracking_uri"])
    for m in run["models"]:
        log.info("%s is version %s", m["model_uri"], m["version"])
    log.info("MLflow run %s recorded", run["run_id"])
    return {"run": run}


def _register_best_models(cfg: dict, run: dict, *, alias: str | None) -> list[dict]:
    """The best model of each classify target, logged into ``run`` and registered as
    ``<cohort>-<target>`` (``alias`` set on the new version, if given)."""
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
            alias=alias,
            run_id=run["run_id"],
            tracking_uri=run["tracking_uri"],
            version_tags={
                f"metpot.{k}_artifact": Path(files[k].path).relative_to(root).as_posix()
                for k in ("model", "card")
            },
        )
        registered.append(
            {
                "target": row.target,
                "registered_name": name,
                "version": ref.version,
                "logged_model_uri": ref.logged_model_uri,
            }
        )
        log.info("logged %s as version %s of %s", files["model"].path, ref.version, name)
    return registered
