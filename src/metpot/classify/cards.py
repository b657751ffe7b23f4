"""What describes a final model: its features with weights (:func:`feature_table`), class
markers, its model card (:func:`model_card`), and saving it (:func:`save_fit`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from metpot.classify.inputs import Target
from metpot.classify.options import (
    _QUANTILES,
    NAN_SLICE_NOTES,
    PRIMARY_METRIC,
    _split_column,
    feature_set_layers,
)
from metpot.classify.transformers import univariate_scores
from metpot.errors import MetpotError


def used_columns(est, X: pd.DataFrame) -> list[str]:
    """Input columns the fitted pipeline's model actually uses (after every selection)."""
    if not isinstance(est, Pipeline):
        return list(X.columns)
    return [str(c) for c in est[:-1].get_feature_names_out()]


def feature_table(est, X: pd.DataFrame, target: Target, model: str, feature_set: str):
    """The final model's features with weights or importances.

    Returns
    -------
    pandas.DataFrame
        One row per used feature (per class for multi-class linear models): ``target``,
        ``model``, ``feature_set``, ``layer``, ``feature``, ``column``, ``class``,
        ``weight`` (coefficient on the z-scored feature, or impurity importance; NaN for
        models without either: gradient boosting, MLP, RSF), ``weight_kind``,
        ``univariate_score`` (ANOVA F or Cox score chi-square on all samples), ``rank``.
    """
    cols = used_columns(est, X)
    final = est[-1] if isinstance(est, Pipeline) else est
    Xt = est[:-1].transform(X) if isinstance(est, Pipeline) else X
    score = univariate_scores(np.asarray(Xt, dtype=float), target.y_fit())
    weights: dict[str, np.ndarray] = {}
    kind = "none"
    if hasattr(final, "coef_") and not hasattr(final, "calibrated_classifiers_"):
        coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
        if coef.shape[1] != len(cols):
            coef = coef.T
        kind = "coefficient"
        if coef.shape[0] == 1:
            weights[str(target.classes[-1]) if target.classes else ""] = coef[0]
        else:
            for k, c in enumerate(getattr(final, "classes_", range(coef.shape[0]))):
                weights[str(c)] = coef[k]
    elif hasattr(final, "calibrated_classifiers_"):
        coefs = [np.atleast_2d(cc.estimator.coef_) for cc in final.calibrated_classifiers_]
        coef = np.mean(coefs, axis=0)
        kind = "coefficient (mean over calibration folds)"
        if coef.shape[0] == 1:
            weights[str(target.classes[-1])] = coef[0]
        else:
            for k, c in enumerate(final.classes_):
                weights[str(c)] = coef[k]
    else:
        try:  # scikit-survival's forests raise NotImplementedError here
            weights[""] = np.asarray(final.feature_importances_, dtype=float)
            kind = "impurity importance"
        except (AttributeError, NotImplementedError, ValueError):
            pass
    if not weights:
        weights[""] = np.full(len(cols), np.nan)
    rows = []
    for cls, w in weights.items():
        order = np.lexsort((np.arange(len(cols)), -np.nan_to_num(np.abs(w), nan=0.0), -score))
        rank = np.empty(len(cols), dtype=int)
        key = np.abs(w) if np.isfinite(w).any() else score
        rank[np.lexsort((np.arange(len(cols)), -np.nan_to_num(key, nan=0.0)))] = np.arange(
            1, len(cols) + 1
        )
        for j in order:
            layer, feature = _split_column(cols[j])
            rows.append(
                (target.name, model, feature_set, layer, feature, cols[j], cls, float(w[j]),
                 kind, float(score[j]), int(rank[j]))
            )  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=["target", "model", "feature_set", "layer", "feature", "column", "class",
                 "weight", "weight_kind", "univariate_score", "rank"],
    )  # fmt: skip
    return table.sort_values(["class", "rank"], kind="stable").reset_index(drop=True)


def _welch_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Welch t statistic of ``a`` against ``b`` per column (NaN values omitted)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.filterwarnings("ignore", NAN_SLICE_NOTES, RuntimeWarning)
        na, nb = np.sum(~np.isnan(a), 0), np.sum(~np.isnan(b), 0)
        va, vb = np.nanvar(a, 0, ddof=1), np.nanvar(b, 0, ddof=1)
        return (np.nanmean(a, 0) - np.nanmean(b, 0)) / np.sqrt(va / na + vb / nb)


def markers(X: pd.DataFrame, labels, n_markers: int = 20, transform: str = "none") -> dict:
    """Per class, the most up-regulated columns against the other samples.

    Each column is z-scored over the samples (after ``transform``); the Welch t statistic of
    a class against the rest ranks the columns; the ``n_markers`` largest positive ones are
    the class's markers (ties by column order). For nearest-template prediction.

    Returns
    -------
    dict
        Class -> list of columns (``"<layer>:<feature>"``).
    """
    values = X.to_numpy(dtype=float)
    if transform == "log2":
        values = np.log2(np.clip(values, 0, None) + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - np.nanmean(values, 0)) / np.nanstd(values, 0, ddof=1)
    labels = np.asarray(labels)
    out = {}
    for c in sorted(pd.unique(labels), key=str):
        t = np.nan_to_num(_welch_t(z[labels == c], z[labels != c]), nan=-np.inf)
        order = np.lexsort((np.arange(len(t)), -t))
        top = [j for j in order[:n_markers] if t[j] > 0]
        out[str(c)] = [str(X.columns[j]) for j in top]
    return out


def model_card(
    est, X, target: Target, model, feature_set, layer_names, cfg, rows, params, cohort
) -> dict:
    """The model card of a final model (JSON-ready; see :mod:`metpot.model_io`).

    Holds ``target``, ``target_kind``, ``model``, ``feature_set``, ``layers``, ``classes``,
    ``classes_left_out`` (``{"class", "n", "reason"}``: classes it never predicts),
    ``features`` (the pipeline's input columns in order, as ``{"layer", "feature",
    "column"}``), ``used_features`` (those the model uses after selection), ``preprocessing``
    (transform, missing, variance filter, signature, scaling, and per used feature the training
    ``mean``/``sd``/``quantiles``/``missing`` of the raw values), ``markers`` (per class, for
    nearest-template prediction), ``hyperparameters``, ``metrics`` (nested-CV rows),
    ``training`` (cohort name, input checksums, ``n_samples``, excluded samples), ``n_samples``.
    """
    cohort = dict(cohort or {})
    used = used_columns(est, X)
    raw = X[used].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", NAN_SLICE_NOTES, RuntimeWarning)
        qs = np.nanquantile(raw, _QUANTILES, axis=0) if raw.size else np.zeros((5, 0))
        mean, sd = np.nanmean(raw, 0), np.nanstd(raw, 0, ddof=1)
    stats_ = {
        c: {
            "mean": _num(mean[j]),
            "sd": _num(sd[j]),
            "quantiles": {f"{q:g}": _num(qs[k, j]) for k, q in enumerate(_QUANTILES)},
            "missing": _num(np.isnan(raw[:, j]).mean()),
        }  # fmt: skip
        for j, c in enumerate(used)
    }
    layers_used = ["clinical"] if model == "crs" else feature_set_layers(layer_names, feature_set)
    preprocessing = {
        "transform": "none" if model == "crs" else cfg["transform"],
        "missing": {"max_fraction": float(cfg["max_missing"]), "impute": "median"},
        "variance_top_per_layer": None if model == "crs" else cfg["top_variance"],
        "scale": "none" if model == "crs" else "zscore",
        "signature": dict(cfg["signature"]) if feature_set == "signature" else None,
        "raw_value_summary": stats_,
        "raw_value_summary_of": "used_features",
    }
    mk = {}
    if target.kind != "survival" and model != "crs":
        mk = markers(X, target.y.to_numpy(), int(cfg["n_markers"]), cfg["transform"])
    metrics = {"primary": PRIMARY_METRIC[target.kind]}
    for r in rows.to_dict(orient="records"):
        metrics[str(r["metric"])] = {
            k: _plain(r[k]) for k in ("estimate", "ci_low", "ci_high", "n_folds", "ci_method")
        }
    if model != "crs":  # what scoring checks a new cohort against (metpot.score)
        from metpot.score import training_statistics

        preprocessing.update(training_statistics(X, cfg["transform"]))
        preprocessing["fill_missing"] = "impute"  # NaN: the pipeline imputes training medians
    return {
        "target": target.name,
        "target_kind": target.kind,
        "model": model,
        "feature_set": feature_set,
        "layers": layers_used,
        "classes": [_plain(c) for c in target.classes],
        # classes of the data the model never predicts, and why (e.g. too few patients)
        "classes_left_out": list(target.left_out),
        "features": [
            dict(zip(("layer", "feature"), _split_column(c), strict=True), column=str(c))
            for c in X.columns
        ],
        "used_features": used,
        "preprocessing": preprocessing,
        "markers": mk,
        "hyperparameters": params,
        "landmark": target.landmark,
        "metrics": metrics,
        "training": {
            "cohort": cohort.get("name"),
            "checksums": dict(cohort.get("checksums") or {}),
            "n_samples": len(X),
            "n_excluded": target.n_excluded,
            "excluded": target.excluded,
            "seed": int(cfg["seed"]),
            "outer": dict(cfg["outer"]),
            "inner": dict(cfg["inner"]),
        },
        "n_samples": len(X),
    }


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def save_fit(result: Mapping, path: str | Path) -> dict:
    """Write a :func:`fit_one` result's final model and card where the caller says.

    Parameters
    ----------
    result : mapping
        A :func:`fit_one` result with ``final`` and ``card``.
    path : str or Path
        The ``.skops`` file (the card goes beside it as ``.json``).

    Returns
    -------
    dict
        The card as written.
    """
    from metpot.model_io import save_model

    if result.get("final") is None:
        raise MetpotError(f"{result['target']}/{result['model']}: no final model (refit=False)")
    return save_model(result["final"], path, result["card"])
