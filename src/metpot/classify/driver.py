"""Every fit of a configuration: the jobs (:func:`plan`, :func:`fit_groups`), running them
(:func:`run_classification`), and gathering the results with the best model per target
(:func:`assemble`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from metpot.classify.against_crs import compare_with_crs
from metpot.classify.inputs import Target
from metpot.classify.nested_cv import fit_models
from metpot.classify.options import (
    _SIMPLICITY,
    CLASSIFIERS,
    PRIMARY_METRIC,
    expand_feature_sets,
    fit_groups,
    resolve_config,
)


def _best(rows: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Best (model, feature set) per target by the primary metric, ties to the simpler."""
    out = []
    for tg, grp in rows.groupby("target", sort=False):
        metric = PRIMARY_METRIC[kinds[tg]]
        g = grp[(grp["metric"] == metric) & (grp["model"] != "crs")].copy()
        if g.empty:
            continue
        g["_score"] = g["estimate"].round(3)
        g["_simple"] = g["model"].map(_SIMPLICITY)
        g = g.sort_values(["_score", "_simple", "n_features"], ascending=[False, True, True],
                          kind="stable")  # fmt: skip
        r = g.iloc[0]
        out.append({"target": tg, "model": r["model"], "feature_set": r["feature_set"],
                    "metric": metric, "estimate": r["estimate"], "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"]})  # fmt: skip
    return pd.DataFrame(out)


def _left_out_text(left_out) -> str:
    """Classes a target left out as one line: ``"c (n patients), ...: reason"`` per reason."""
    by_reason: dict[str, list[str]] = {}
    for c in left_out or []:
        by_reason.setdefault(c["reason"], []).append(f"{c['class']} ({c['n']} patients)")
    return "; ".join(f"{', '.join(v)}: {k}" for k, v in by_reason.items())


def _validation(target: str) -> str:
    """What validated a row against the CRS: ``partition`` for the subtypes of all patients as
    the target, ``nested_cv`` for a target not discovered by the run (outcome, clinical)."""
    return "partition" if target == "snf_subtype" else "nested_cv"


def assemble(results: Sequence[Mapping], config: Mapping | None = None) -> dict:
    """Gather :func:`fit_one` results: comparison, best model per target, CRS comparison.

    Parameters
    ----------
    results : sequence of dict
        :func:`fit_one` results (any mix of targets, models and feature sets).
    config : mapping, optional
        The ``classify`` section.

    Returns
    -------
    dict
        ``comparison`` (long metrics table), ``best`` (per target, with the classes it
        left out and why in ``classes_left_out``), ``vs_crs`` (with a
        ``validation`` column: ``partition`` for ``snf_subtype``, ``nested_cv`` for other
        targets) and ``decision_curve`` (:func:`compare_with_crs`), ``predictions`` (out-of-fold),
        ``folds`` (per target), ``features`` (final models' features), ``fold_metrics``.
    """
    cfg = resolve_config(config)
    results = list(results)
    kinds = {r["target"]: r["kind"] for r in results}
    comparison = pd.concat([r["rows"] for r in results], ignore_index=True)
    preds = pd.concat([r["predictions"] for r in results], ignore_index=True)
    folds = pd.concat(
        [r["folds"].assign(target=r["target"]) for r in results], ignore_index=True
    ).drop_duplicates(["target", "sample", "repeat"])
    folds = folds[["target", "sample", "repeat", "fold"]].reset_index(drop=True)
    features = [r["features"] for r in results if r.get("features") is not None]
    fold_metrics = pd.concat(
        [r["fold_metrics"].assign(target=r["target"], model=r["model"],
                                  feature_set=r["feature_set"]) for r in results],
        ignore_index=True,
    )  # fmt: skip
    vs_parts, dc_parts = [], []
    for tg, grp in preds.groupby("target", sort=False):
        landmark = next(r.get("landmark") for r in results if r["target"] == tg)
        comp = compare_with_crs(grp, int(cfg["outer"]["folds"]), landmark)
        vs_parts.append(comp["table"])
        dc_parts.append(comp["decision_curve"])
    nonempty = [p for p in vs_parts if not p.empty]
    vs_crs = pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame()
    if not vs_crs.empty:
        vs_crs.insert(3, "validation", vs_crs["target"].map(_validation))
    best = _best(comparison, kinds)
    if not best.empty:
        left = {r["target"]: _left_out_text(r.get("classes_left_out")) for r in results}
        best["classes_left_out"] = best["target"].map(left).fillna("")
    return {
        "comparison": comparison,
        "best": best,
        "vs_crs": vs_crs,
        "decision_curve": pd.concat([d for d in dc_parts if not d.empty], ignore_index=True)
        if any(not d.empty for d in dc_parts)
        else pd.DataFrame(),
        "predictions": preds,
        "folds": folds,
        "features": pd.concat(features, ignore_index=True) if features else pd.DataFrame(),
        "fold_metrics": fold_metrics,
    }


def plan(targets: Mapping[str, Target], layer_names: Sequence[str], config: Mapping | None = None):
    """The (target, model, feature set) combinations :func:`run_classification` fits.

    Classifiers x feature sets for categorical and landmark targets; survival models x
    feature sets (and ``crs`` once) for survival targets.
    """
    cfg = resolve_config(config)
    fsets = expand_feature_sets(layer_names, cfg["feature_sets"])
    jobs = []
    for name, t in targets.items():
        if t.kind == "survival":
            for m in cfg["survival_models"]:
                for fs in ["crs"] if m == "crs" else fsets:
                    jobs.append((name, m, fs))
        else:
            jobs += [(name, m, fs) for m in cfg["models"] if m in CLASSIFIERS for fs in fsets]
    return jobs


def run_classification(
    layers: Mapping[str, pd.DataFrame],
    targets: Mapping[str, Target],
    config: Mapping | None = None,
    *,
    outcome: pd.DataFrame | None = None,
    **options,
) -> dict:
    """Fit and compare every configured (target, model, feature set).

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Ingested layers (samples x features, aligned).
    targets : mapping of str to Target
        From :func:`build_targets`.
    config : mapping, optional
        The ``classify`` section.
    outcome : pandas.DataFrame, optional
        ``time``/``event`` of the endpoint categorical targets are compared with the CRS on
        (survival and landmark targets use their own).
    **options
        ``crs``, ``time_unit``, ``cohort``, ``refit``: as :func:`fit_models`.

    Returns
    -------
    dict
        :func:`assemble`'s tables plus ``results`` (the :func:`fit_one` results, with the
        final models and cards).
    """
    jobs = plan(targets, list(layers), config)
    done = {}
    for name, fs, models in fit_groups(jobs):
        fits = fit_models(
            targets[name],
            models,
            fs,
            layers,
            config,
            outcome=outcome if targets[name].kind == "categorical" else None,
            **options,
        )
        done.update({(name, f["model"], fs): f for f in fits})
    results = [done[job] for job in jobs]
    out = assemble(results, config)
    out["results"] = results
    return out
