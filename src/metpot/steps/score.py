"""Step ``score`` (``workflow/rules/classify.smk``) and the one-off ``metpot score --model``."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from metpot.config import schema_default
from metpot.errors import MetpotError
from metpot.step_io import many, need
from metpot.steps._common import subtypes

log = logging.getLogger("metpot")


def _model_path(cfg: dict, inputs: dict, layers: dict) -> str:
    """The model to score with: ``score.model`` (a file or ``models:/`` URI), else the best
    trained model that covers the cohort's features."""
    from metpot.model_io import model_path, read_card
    from metpot.score import select_model

    scfg = cfg["score"]
    if "model" in inputs:
        return inputs["model"]
    if str(scfg.get("model", "")).startswith("models:/"):
        import tempfile

        from metpot.tracking import fetch_model_files

        return str(fetch_model_files(scfg["model"], tempfile.mkdtemp(prefix="metpot-")))
    cards = {p: read_card(p) for p in many(inputs, "cards")}
    if not cards:
        raise MetpotError("score: no trained model (configure classify or score.model)")
    return str(model_path(select_model(cards, layers, scfg["min_coverage"])))


def run(cfg: dict, inputs: dict, *, cohort: str, outputs=(), **_) -> dict:
    """Subtype, confidence, flags and risk group of every patient of a cohort to score."""
    from metpot.io import read_omics
    from metpot.model_io import load_model
    from metpot.risk_score import crs_settings, integrated_table
    from metpot.score import score_cohort

    scfg = cfg["score"]
    spec = scfg["cohorts"][cohort]
    layers = {
        name: read_omics(
            need(inputs, f"layer_{name}"),
            layer.get("layout", schema_default("score.cohorts.*.omics.*.layout")),
        )
        for name, layer in spec["omics"].items()
    }
    templates = None
    if "templates" in inputs:  # a published NTP template, no model
        from metpot.score import read_templates

        templates = read_templates(inputs["templates"])
        model_path = inputs["templates"]
        model, card = None, {}
    else:
        model_path = _model_path(cfg, inputs, layers)
        model, card = load_model(model_path)
    clinical = None
    if "clinical" in inputs:
        from metpot.io import read_table

        table = read_table(inputs["clinical"])
        id_col = spec["clinical"].get(
            "sample_id", schema_default("score.cohorts.*.clinical.sample_id")
        )
        if id_col not in table.columns:
            raise MetpotError(f"{inputs['clinical']}: no column {id_col!r}")
        clinical = table.set_index(id_col)
    reference = None
    if "assignments" in inputs:
        assign, names = subtypes(inputs)
        train = {
            k.removeprefix("train_"): pd.read_parquet(v)
            for k, v in inputs.items()
            if k.startswith("train_")
        }
        reference = {"layers": train, "labels": assign.map(names)}
    high_cutoff, crs_cfg = crs_settings(cfg.get("crs"))
    groups = cfg.get("survival", {}).get("integrated_groups")
    predictions, summary = score_cohort(
        model,
        card,
        layers,
        clinical=clinical,
        method=scfg["method"],
        min_coverage=scfg["min_coverage"],
        min_confidence=scfg["min_confidence"],
        low_confidence=scfg["low_confidence"],
        standardize=scfg["standardize"],
        ntp_fdr=scfg["ntp"]["fdr"],
        ntp_n_perm=scfg["ntp"]["n_perm"],
        seed=scfg["ntp"]["seed"],
        ntp_pool=scfg["ntp"]["pool"],
        templates=templates,
        reference=reference,
        snf_options={k: cfg["snf"][k] for k in ("K", "mu", "t", "variant")},
        crs=crs_cfg or None,
        risk_table=integrated_table(groups) if groups else None,
        crs_high_cutoff=high_cutoff,
    )
    if templates is None:
        summary["model"] = {**summary.get("model", {}), "path": str(model_path)}
    out: dict = {"predictions": predictions, "summary": summary}
    if "probabilities_svg" in outputs:
        from metpot.plots import score_plot

        out["probabilities"] = score_plot(predictions, f"Scored cohort {cohort}")
    if "agreement" in outputs:
        out["agreement"] = summary.get("agreement_table", pd.DataFrame())
    counts = predictions["prediction"].value_counts()
    out["metrics"] = {
        "n_samples": len(predictions),
        **{f"n.{k}": int(v) for k, v in counts.items()},
    }
    log.info("scored %d samples of %s with %s", len(predictions), cohort, model_path)
    return out


def oneoff(
    model: str | None,
    omics: dict[str, str],
    *,
    out: str,
    layout: str = "features_x_samples",
    clinical: str | None = None,
    method: str = "classifier",
    templates: str | None = None,
) -> tuple[dict, dict[str, str]]:
    """``metpot score --model M|--templates T --omics LAYER=PATH [--clinical C] --out DIR``.

    Parameters
    ----------
    model : str or None
        A ``.skops`` model file, its card beside it (None with ``templates``).
    omics : dict
        Layer name -> omics file.
    out : str
        The output folder.
    layout, clinical, method
        The layout of the omics files, a clinical table (CRS and risk groups), the method.
    templates : str, optional
        A published NTP template (columns ``class``, ``feature``): scored by NTP, no model.

    Returns
    -------
    tuple of (dict, dict)
        The objects and the outputs they go to (:func:`metpot.manifest.score_oneoff_outputs`).
    """
    from metpot.io import read_omics, read_table
    from metpot.manifest import score_oneoff_outputs
    from metpot.model_io import load_model
    from metpot.score import read_templates, score_cohort

    layers = {k: read_omics(v, layout) for k, v in omics.items()}
    template = read_templates(templates) if templates else None
    estimator, card = load_model(model) if model else (None, {})
    if template is not None:
        method = "ntp"
    table = None
    if clinical:
        table = read_table(clinical)
        table = table.set_index(table.columns[0])
    predictions, summary = score_cohort(
        estimator, card, layers, clinical=table, method=method, templates=template
    )
    log.info("scored %d samples with %s: %s", len(predictions), model or templates, Path(out))
    return {"predictions": predictions, "summary": summary}, score_oneoff_outputs(out)
