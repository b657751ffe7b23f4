"""Steps ``risk_score`` and ``survival`` (``workflow/rules/survival.smk``)."""

from __future__ import annotations

import logging

import pandas as pd

from metpot.config import schema_default
from metpot.errors import MetpotError, warn_data
from metpot.step_io import need
from metpot.steps._common import read_outcome, read_samples, subtypes

log = logging.getLogger("metpot")

TIME_LABEL = "Time (years)"


def risk_score(cfg: dict, inputs: dict, **_) -> dict:
    """The Fong clinical risk score of every patient with all its factors."""
    from metpot.risk_score import crs_settings, fong_score

    cutoff, crs = crs_settings(cfg["crs"])
    clinical = pd.read_parquet(need(inputs, "clinical"))
    score_col = crs.pop("score", None)
    try:
        result = fong_score(clinical, high_cutoff=cutoff, score_col=score_col, **crs)
    except MetpotError as exc:
        raise MetpotError(f"{cfg['cohort']['clinical']['path']}: {exc}") from None
    scores = result["scores"]
    scores.index.name = "sample_id"
    metrics = {
        "n_scored": len(scores),
        "n_excluded": result["n_excluded"],
        "n_high": int((scores["crs_group"] == "high").sum()),
        "n_low": int((scores["crs_group"] == "low").sum()),
        "high_cutoff": cutoff,
    }
    log.info(
        "risk score of %d patients (%d high), %d left out for missing factors",
        len(scores),
        metrics["n_high"],
        result["n_excluded"],
    )
    return {
        "crs": scores.reset_index(),
        "summary": {**metrics, "excluded": result["excluded"]},
        "metrics": metrics,
    }


def survival(cfg: dict, inputs: dict, *, endpoint: str = "os", outputs=(), **_) -> dict:
    """Survival of one endpoint by subtype: KM, log-rank, Cox, concordance, risk groups."""
    from metpot.config import preset_warnings
    from metpot.outcomes import analyse_endpoint
    from metpot.risk_score import integrated_table

    scfg = cfg["survival"]
    clinical_cfg = cfg["cohort"]["clinical"]
    subtype, names = subtypes(inputs)
    crs = covariates = integrated = None
    if "crs" in inputs:
        crs = read_samples(inputs["crs"], index_col="sample_id")
        if "integrated_groups" in outputs:
            integrated = integrated_table(scfg["integrated_groups"])
            for line in preset_warnings(cfg):  # also at validation; here in the step's log
                warn_data(line)
    if clinical_cfg.get("covariates"):
        clinical = pd.read_parquet(need(inputs, "clinical"))
        covariates = clinical[clinical_cfg["covariates"]].apply(pd.to_numeric, errors="coerce")
    outcome = read_outcome(need(inputs, "outcome"), endpoint)
    res = analyse_endpoint(
        outcome["time"],
        outcome["event"],
        subtype,
        names,
        crs,
        covariates,
        scfg["reference"],
        scfg["landmarks_years"],
        integrated,
        scfg["bootstrap"],
        scfg["cv_folds"],
        cfg.get("seed", schema_default("seed")),
    )
    out = _endpoint(outputs, endpoint.upper(), res, [names[k] for k in sorted(names)])
    out["metrics"] = res["metrics"]
    lr = res["logrank"]
    log.info(
        "%s: log-rank chi-square %.2f (df %d), p = %.3g over %d patients",
        endpoint.upper(),
        lr["chisq"],
        lr["df"],
        lr["p"],
        res["n"],
    )
    return out


def _km(prefix: str, res: dict, data: pd.DataFrame, title: str, order: list | None = None):
    """KM tables (curve, landmarks, median) and the KM figure of one grouping.

    Subtypes are drawn in subtype order with the colours of the clusters figures; integrated
    risk groups low -> intermediate -> high with a sequential palette.
    """
    from metpot.plots import RISK_ORDER, km_plot, ordered_colors

    risk = prefix == "integrated_"  # low -> intermediate -> high, a sequential palette
    out = {
        f"{prefix}km{suffix}": res[key]
        for key, suffix in (("km", ""), ("landmarks", "_landmarks"), ("median", "_median"))
        if key in res
    }
    fig = km_plot(
        data["time"].to_numpy(),
        data["event"].to_numpy(),
        data["group"].to_numpy(),
        logrank=res["logrank"],
        title=title,
        time_label=TIME_LABEL,
        order=RISK_ORDER if risk else order,
        colors=ordered_colors(len(RISK_ORDER)) if risk else None,
    )
    return out, fig


def _endpoint(outputs, name: str, res: dict, subtype_order: list | None = None) -> dict:
    """Every table and figure of one endpoint's analysis."""
    from metpot.plots import forest_plot

    keys = ("chisq", "df", "p", "n", "observed", "expected", "groups", "names")
    out: dict = {
        "logrank": {k: res["logrank"][k] for k in keys},
        "logrank_pairwise": res["pairwise"],
    }
    tables, out["km_subtype"] = _km("", res, res["data"], f"{name} by subtype", subtype_order)
    out.update(tables)
    out["cox_subtype"] = res["cox_subtype"].table
    out["cox_subtype_json"] = res["cox_subtype"].to_dict()
    if "cox_multivariable" in outputs:
        model = res["cox_multivariable"]
        out["cox_multivariable"] = model.table
        out["cox_multivariable_json"] = {
            "model": model.to_dict(),
            "reduced_model": res["cox_reduced"].to_dict(),
            "lr_test_adding_subtype": res["lr_subtype"],
        }
        out["cox_zph"] = res["zph"].reset_index(names="term")
        out["concordance"] = res["concordance"]
        out["concordance_differences"] = res["concordance_differences"]
        title = f"{name}: Cox model (reference subtype {res['reference']})"
        out["forest"] = forest_plot(model, title=title)
    if "integrated_groups" in outputs:
        integ = res["integrated"]
        groups = integ["groups"].set_index("sample_id")
        out["integrated_groups"] = integ["groups"]
        out["integrated_cross"] = integ["cross_table"].reset_index()
        out["integrated_logrank"] = integ["logrank"]
        data = res["data"].loc[groups.index].assign(group=groups["risk_group"])
        title = f"{name} by integrated risk group"
        tables, out["km_integrated"] = _km("integrated_", integ, data, title)
        out.update(tables)
    return out
