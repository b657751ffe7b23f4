"""Scoring new cohorts: subtype, confidence and integrated risk group for every new patient.

A model trained on a discovery cohort (``metpot.classify``, saved with
:func:`metpot.model_io.save_model`) is applied to a new cohort given as omics layers
(samples x features data frames, as :mod:`metpot.ingest` reads them). Three methods:

``classifier``
    The fitted pipeline of the model file. Its input is the frame of RAW values with the
    columns ``card["features"]`` (``"<layer>:<feature>"``) in card order; the pipeline does
    the transform, imputation and scaling itself. :func:`match_features` builds that frame by
    feature id, whatever the column order of the new files.
``ntp``
    Nearest template prediction (Hoshida, PLoS One 2010; as CMScaller's ``ntp`` and MOVICS's
    ``runNTP``): binary templates from the training cohort's class markers
    (``card["markers"]``), cosine distance of each sample, z-scored within the new cohort, to
    each template, a per-sample resampling p-value and BH FDR. It needs no training scale and
    no classifier, only the marker ids: prefer it for cohorts from another platform (e.g.
    microarrays scored with an RNA-seq model), where the classifier's input scale is wrong;
    it needs a cohort (at least a few samples of mixed subtypes), because each feature is
    centred and scaled across the new samples.
``snf_propagation``
    SNFtool's ``groupPredict`` (:func:`metpot.snf.group_predict`) against the discovery
    cohort's layers and subtypes, for cohorts that have every layer of the discovery cohort.
    The new samples are standardised together with the discovery samples (as SNFtool does),
    so adding or removing new samples shifts every sample's standardised values a little.

Safety rules (documented here once, applied by :func:`score_cohort`):

* **Coverage**: the share of the model's features present in the new cohort. Below
  ``min_coverage`` scoring is refused (:class:`~metpot.errors.MetpotError` naming the first 20
  missing features and their count); between that and 1 it proceeds with a warning, and the
  missing columns are filled as ``card["preprocessing"]["fill_missing"]`` prescribes: ``"impute"``
  leaves them NaN for the pipeline's own imputer, ``"mean"`` (the default when the key is
  absent) fills the card's training mean of the raw values.
* **Low confidence**: the confidence of a classifier call is its largest class probability.
  A sample below ``min_confidence`` keeps its most probable class in ``prediction`` and gets
  the flag ``low_confidence`` (``low_confidence="unassign"`` instead sets ``prediction`` to
  NA); it is never silently assigned. An NTP call is ``low_confidence`` when its FDR is
  above ``ntp_fdr``.
* **Unlike training** (:func:`distribution_check`): a sample is flagged ``unlike_training``
  when more than ``max_outside`` (default 0.2) of its observed features lie outside the
  training 1st-99th percentile range (``q01``..``q99`` of the card) by more than ``margin``
  (default 0.5) training sd (under 1 % are expected for a sample like the training ones; the
  margin keeps zero-inflated features, whose training floor is their ``q01``, from counting
  as outside when per-cohort standardisation moves the floor a little). The cohort is
  reported unlike the training data when the median over features of
  ``|median_new - q50| / sd`` exceeds ``max_shift`` (default 1, i.e. the typical feature
  moved by more than one training standard deviation) or when more than half of its samples
  are flagged.
* ``flag`` holds the flags of a sample joined by ``";"`` (empty when none):
  ``low_confidence``, ``unlike_training`` and, with ``method="all"``, ``methods_disagree``.

Model card keys read here (lists of per-feature values are in ``card["features"]`` order):

* ``target``, ``feature_set``, ``layers`` (list of layer names), ``classes`` (the order of
  ``predict_proba``; must equal the fitted model's ``classes_`` as strings), ``features``
  (``[{"layer", "feature", "column"}]``, ``column = "<layer>:<feature>"``).
* ``preprocessing``: ``transform`` (``"none"`` | ``"log2"``, i.e. ``log2(x + 1)``), ``fill_missing``
  (``"impute"`` | ``"mean"``; default ``"mean"``), ``standardize`` (``"none"`` |
  ``"per_cohort"``; default ``"none"``), and the raw-value statistics of the training input
  ``mean``, ``sd``, ``q01``, ``q50``, ``q99`` plus ``transformed_mean``, ``transformed_sd``
  after the transform (needed for per-cohort standardisation when ``transform`` is not
  ``"none"``). :func:`training_statistics` computes exactly these.
* ``markers``: ``{class: [column, ...]}`` for NTP (:func:`class_markers` computes them).
* ``metrics``: ``{"primary": <name>, <name>: number or {"estimate": ...}, ...}`` for
  :func:`select_model`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from metpot.errors import DataWarning, MetpotError, name_list, warn_data
from metpot.validate import transposed_layers

__all__ = [
    "METHODS",
    "agreement",
    "bh_fdr",
    "class_markers",
    "distribution_check",
    "match_features",
    "ntp",
    "ntp_predict",
    "ntp_templates",
    "ntp_zscore",
    "predict_classifier",
    "risk_groups",
    "score_cohort",
    "select_model",
    "snf_propagate",
    "standardize_cohort",
    "training_statistics",
    "transposed_layers",
]

METHODS = ("classifier", "ntp", "snf_propagation", "all")
STANDARDIZE = ("none", "per_cohort")
TRANSFORMS = ("none", "log2")
_LOWER_IS_BETTER = {"log_loss", "brier", "integrated_brier", "integrated_brier_score"}
_FONG_DEFAULTS = {
    "node_positive": "node_positive",
    "disease_free_interval_months": "disease_free_interval_months",
    "n_liver_tumors": "n_liver_tumors",
    "cea_ng_ml": "cea_ng_ml",
    "largest_tumor_cm": "largest_tumor_cm",
}


# ----------------------------------------------------------------------------- helpers


def _column(layer: str, feature: str) -> str:
    return f"{layer}:{feature}"


def _card_features(card: Mapping) -> list[dict]:
    feats = card.get("features")
    if not isinstance(feats, list) or not feats:
        raise MetpotError("model card: 'features' is missing or empty")
    out = []
    for k, f in enumerate(feats):
        if not isinstance(f, Mapping) or "layer" not in f or "feature" not in f:
            raise MetpotError(f"model card: features[{k}] needs 'layer' and 'feature', got {f!r}")
        col = f.get("column") or _column(str(f["layer"]), str(f["feature"]))
        out.append({"layer": str(f["layer"]), "feature": str(f["feature"]), "column": col})
    return out


def _prep(card: Mapping) -> dict:
    prep = card.get("preprocessing") or {}
    if not isinstance(prep, Mapping):
        raise MetpotError("model card: 'preprocessing' must be an object")
    return dict(prep)


def _transform_name(card: Mapping) -> str:
    t = _prep(card).get("transform", "none") or "none"
    if t not in TRANSFORMS:
        raise MetpotError(f"model card: preprocessing.transform {t!r} is not one of {TRANSFORMS}")
    return t


def _stat(card: Mapping, key: str, n: int, required: bool = True) -> np.ndarray | None:
    prep = _prep(card)
    if key not in prep:
        if required:
            raise MetpotError(f"model card: preprocessing.{key} is missing")
        return None
    vals = np.asarray(prep[key], dtype=float)
    if vals.shape != (n,):
        raise MetpotError(
            f"model card: preprocessing.{key} has {vals.size} values for {n} features"
        )
    return vals


def _apply_transform(values: np.ndarray, transform: str, what: str = "cohort") -> np.ndarray:
    if transform == "none":
        return values
    with np.errstate(invalid="ignore"):
        neg = values < 0
    if np.any(neg):
        raise MetpotError(
            f"{what}: the model's log2 transform needs non-negative values, "
            f"found {int(neg.sum())} negative cell(s); give values in the training units"
        )
    return np.log2(values + 1.0)


def _inverse_transform(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "none":
        return values
    return np.maximum(np.exp2(values) - 1.0, 0.0)


def _common_samples(layers: Mapping[str, pd.DataFrame], names: Iterable[str]) -> pd.Index:
    names = [n for n in names if n in layers]
    if not names:
        return pd.Index([], name="sample_id")
    first = pd.Index(layers[names[0]].index.astype(str))
    keep = first
    for n in names[1:]:
        keep = keep[keep.isin(pd.Index(layers[n].index.astype(str)))]
    dropped = sorted(set().union(*(set(layers[n].index.astype(str)) for n in names)) - set(keep))
    if dropped:
        warn_data(
            f"{len(dropped)} sample(s) not in every layer the model uses "
            f"({', '.join(names)}) were not scored: {name_list(dropped)}"
        )
    return pd.Index(keep, name="sample_id")


def _model_samples(frames: Mapping[str, pd.DataFrame], used: list[str]) -> pd.Index:
    """:func:`_common_samples`, an error when there is none, naming a transposed layer."""
    samples = _common_samples(frames, used)
    if frames and samples.empty:
        ids = {n: (f.index, f.columns) for n, f in frames.items()}
        flipped = transposed_layers(ids)
        hint = (
            f": layer {flipped[0]} looks transposed (its features are the sample ids of "
            "another layer); check its layout"
            if flipped
            else ""
        )
        raise MetpotError(
            f"no sample is present in every layer the model uses ({', '.join(used)}){hint}"
        )
    return samples


def _layer_frame(layers: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = layers[name]
    if not isinstance(frame, pd.DataFrame):
        raise MetpotError(f"layer {name}: expected a samples x features data frame")
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise MetpotError(f"layer {name}: duplicate feature ids {name_list(dup)}")
    dup = frame.index[frame.index.duplicated()].unique().tolist()
    if dup:
        raise MetpotError(f"layer {name}: duplicate sample ids {name_list(dup)}")
    return frame


# ------------------------------------------------------------------- feature matching


def match_features(
    layers: Mapping[str, pd.DataFrame],
    card: Mapping,
    min_coverage: float = 0.9,
) -> tuple[pd.DataFrame, dict]:
    """Build the model's input frame from a new cohort, matching features by id.

    Parameters
    ----------
    layers : mapping of str to DataFrame
        Layer name -> samples x features frame of raw (ingested) values; any column order.
    card : dict
        The model card: ``features`` (list of ``{"layer", "feature", "column"}``) and
        optionally ``preprocessing.fill_missing`` (``"impute"`` or ``"mean"``, default ``"mean"``)
        with ``preprocessing.mean`` (training means of the raw values, feature order).
    min_coverage : float
        Smallest share of the model's features that must be present (0-1).

    Returns
    -------
    X : DataFrame
        Samples (those present in every layer the model uses, order of the first) x the card's
        columns in card order, float64. Missing features are NaN (``missing="impute"``) or the
        training mean (``"mean"``); sporadic missing cells likewise.
    info : dict
        ``coverage``, ``n_features``, ``n_present``, ``missing`` (column names),
        ``missing_by_layer`` ({layer: count}), ``n_missing_cells``, ``fill``, ``no_values``
        (the samples without any value for the model's features, named in a warning: the
        caller leaves them unassigned).

    Raises
    ------
    MetpotError
        Coverage below ``min_coverage`` (one line naming the first 20 missing features and
        their count, and the cohort's layers that are not the model's), no sample in every
        layer (naming a layer that looks transposed), no sample with any value, or a
        malformed card.
    """
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise MetpotError(f"score.min_coverage must be between 0 and 1, got {min_coverage!r}")
    feats = _card_features(card)
    fill = _prep(card).get("fill_missing", "mean")
    if fill not in ("impute", "mean"):
        raise MetpotError(
            f"model card: preprocessing.fill_missing must be 'impute' or 'mean', got {fill!r}"
        )
    used = list(dict.fromkeys(f["layer"] for f in feats))
    unknown = [str(n) for n in layers if n not in used]
    frames = {n: _layer_frame(layers, n) for n in used if n in layers}
    samples = _model_samples(frames, used)
    n = len(feats)
    present = np.array(
        [f["layer"] in frames and f["feature"] in frames[f["layer"]].columns for f in feats]
    )
    coverage = float(present.mean())
    missing = [f["column"] for f, p in zip(feats, present, strict=True) if not p]
    if coverage < min_coverage:
        raise MetpotError(
            f"feature coverage {coverage:.3f} is below score.min_coverage {min_coverage:g}: "
            f"{len(missing)} of the model's {n} features are missing from the new cohort "
            f"(first 20: {', '.join(missing[:20])})"
            + (
                f"; the cohort's layer(s) {', '.join(unknown)} are not the model's "
                f"({', '.join(used)})"
                if unknown
                else ""
            )
        )
    if unknown:
        warn_data(
            f"layer(s) {', '.join(unknown)} of the new cohort not used by the model "
            f"(its layers: {', '.join(used)})"
        )
    values = np.full((len(samples), n), np.nan)
    for layer, frame in frames.items():
        idx = [j for j, f in enumerate(feats) if f["layer"] == layer and present[j]]
        if idx:
            cols = [feats[j]["feature"] for j in idx]
            values[:, idx] = frame.loc[samples, cols].to_numpy(dtype=float)
    # before any filling: a sample without values would get the training mean's class
    blank = np.isnan(values[:, present]).all(axis=1)
    no_values = [str(x) for x in samples[blank]]
    if no_values and len(no_values) == len(samples):
        raise MetpotError(
            f"no sample has any value for the model's {n} features "
            f"(layers {', '.join(used)}); nothing to score"
        )
    if no_values:
        warn_data(
            f"{len(no_values)} sample(s) without any value for the model's features, "
            f"left unassigned (flag no_values): {name_list(no_values)}"
        )
    n_cells = int(np.isnan(values[:, present]).sum())
    if missing:
        by_layer = pd.Series([f["layer"] for f, p in zip(feats, present, strict=True) if not p])
        warn_data(
            f"feature coverage {coverage:.3f}: {len(missing)} of the model's {n} features "
            f"missing from the new cohort, filled with "
            f"{'NaN for the model imputer' if fill == 'impute' else 'the training mean'} "
            f"({name_list(missing, 20)})"
        )
    else:
        by_layer = pd.Series([], dtype=object)
    if n_cells:
        warn_data(
            f"{n_cells} missing value(s) in the new cohort's model features filled with "
            f"{'NaN for the model imputer' if fill == 'impute' else 'the training mean'}"
        )
    if fill == "mean" and (missing or n_cells):
        mean = _stat(card, "mean", n)
        rows, cols = np.nonzero(np.isnan(values))
        values[rows, cols] = mean[cols]
    X = pd.DataFrame(values, index=samples, columns=[f["column"] for f in feats])
    info = {
        "coverage": coverage,
        "n_features": n,
        "n_present": int(present.sum()),
        "missing": missing,
        "missing_by_layer": {str(k): int(v) for k, v in by_layer.value_counts().items()},
        "n_missing_cells": n_cells,
        "fill": fill,
        "no_values": no_values,
    }
    return X, info


# --------------------------------------------------------------- training statistics


def training_statistics(X: pd.DataFrame, transform: str = "none") -> dict:
    """Per-feature statistics of the training input that scoring checks against.

    The classifier side stores this dict (merged into ``card["preprocessing"]``) so that
    scoring can standardise per cohort and check distributions.

    Parameters
    ----------
    X : DataFrame
        Training samples x model columns (raw values, card order).
    transform : {"none", "log2"}
        The model's transform (``log2(x + 1)``).

    Returns
    -------
    dict
        ``transform``; ``mean``, ``sd`` (n - 1), ``q01``, ``q50``, ``q99`` of the raw values;
        ``transformed_mean``, ``transformed_sd`` after the transform (the same as ``mean``,
        ``sd`` for ``"none"``). Lists in column order; NaN cells ignored.
    """
    if transform not in TRANSFORMS:
        raise MetpotError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    A = X.to_numpy(dtype=float)
    T = _apply_transform(A, transform, "training cohort")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanquantile(A, [0.01, 0.5, 0.99], axis=0)
        out = {
            "transform": transform,
            "mean": np.nanmean(A, axis=0),
            "sd": np.nanstd(A, axis=0, ddof=1),
            "q01": q[0],
            "q50": q[1],
            "q99": q[2],
            "transformed_mean": np.nanmean(T, axis=0),
            "transformed_sd": np.nanstd(T, axis=0, ddof=1),
        }
    return {k: (v if isinstance(v, str) else [float(x) for x in v]) for k, v in out.items()}


def class_markers(X: pd.DataFrame, y, n_markers: int = 50) -> dict[str, list[str]]:
    """Top up-regulated features of each class (one class against the rest), for NTP.

    Each feature is scored per class by Welch's t statistic of the class against all other
    samples; the ``n_markers`` largest positive statistics are the class's markers
    (Hoshida 2010 and CMScaller use up-regulated markers per class). A feature may mark
    several classes.

    Parameters
    ----------
    X : DataFrame
        Training samples x features (on the scale the model works in, e.g. log2).
    y : array_like
        Class of each sample.
    n_markers : int
        Markers per class (fewer if fewer features have a positive statistic).

    Returns
    -------
    dict
        ``{class (str): [column, ...]}``, classes sorted, markers by decreasing statistic.
    """
    if int(n_markers) < 2:
        raise MetpotError(f"n_markers must be >= 2, got {n_markers!r}")
    labels = np.asarray(y).astype(str)
    if labels.shape[0] != X.shape[0]:
        raise MetpotError(f"{labels.shape[0]} labels for {X.shape[0]} samples")
    A = X.to_numpy(dtype=float)
    out = {}
    for cls in sorted(set(labels)):
        a, b = A[labels == cls], A[labels != cls]
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise MetpotError(f"class {cls!r}: markers need at least 2 samples in and out of it")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            va = np.nanvar(a, axis=0, ddof=1) / np.sum(~np.isnan(a), axis=0)
            vb = np.nanvar(b, axis=0, ddof=1) / np.sum(~np.isnan(b), axis=0)
            t = (np.nanmean(a, axis=0) - np.nanmean(b, axis=0)) / np.sqrt(va + vb)
        t = np.where(np.isfinite(t), t, -np.inf)
        order = np.argsort(-t, kind="stable")
        top = [X.columns[j] for j in order[: int(n_markers)] if t[j] > 0]
        out[cls] = [str(c) for c in top]
    return out


# ---------------------------------------------------- standardisation and distribution


def standardize_cohort(X: pd.DataFrame, card: Mapping, method: str = "none") -> pd.DataFrame:
    """Per-cohort standardisation onto the training scale (for cross-platform cohorts).

    ``"per_cohort"``: each feature is z-scored within the new cohort on the model's
    transformed scale (``card["preprocessing"]["transform"]``), then mapped onto the
    training mean and sd there (``transformed_mean``, ``transformed_sd``; for
    ``transform: none`` these fall back to ``mean`` and ``sd``) and transformed back to raw
    units, so that the pipeline receives raw values as it expects. This removes a
    platform's location and scale per feature, and also any real difference in subtype mix
    between the cohorts: use it only for cohorts of some size and a plausible mix.
    A feature constant in the new cohort gets the training mean. ``"none"`` returns ``X``.

    Parameters
    ----------
    X : DataFrame
        The model input from :func:`match_features`.
    card : dict
        The model card.
    method : {"none", "per_cohort"}

    Returns
    -------
    DataFrame
    """
    if method not in STANDARDIZE:
        raise MetpotError(f"score.standardize must be one of {STANDARDIZE}, got {method!r}")
    if method == "none":
        return X
    if X.shape[0] < 3:
        raise MetpotError(
            f"score.standardize per_cohort needs at least 3 samples, the cohort has {X.shape[0]}"
        )
    n = X.shape[1]
    transform = _transform_name(card)
    mean = _stat(card, "transformed_mean", n, required=transform != "none")
    sd = _stat(card, "transformed_sd", n, required=transform != "none")
    if mean is None:
        mean, sd = _stat(card, "mean", n), _stat(card, "sd", n)
    T = _apply_transform(X.to_numpy(dtype=float), transform)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m_new = np.nanmean(T, axis=0)
        s_new = np.nanstd(T, axis=0, ddof=1)
    ok = np.isfinite(s_new) & (s_new > 0)
    Z = np.zeros_like(T)
    Z[:, ok] = (T[:, ok] - m_new[ok]) / s_new[ok]
    Z[np.isnan(T)] = np.nan
    out = _inverse_transform(Z * sd + mean, transform)
    return pd.DataFrame(out, index=X.index, columns=X.columns)


def distribution_check(
    X: pd.DataFrame,
    card: Mapping,
    max_outside: float = 0.2,
    max_shift: float = 1.0,
    missing: Iterable[str] = (),
    margin: float = 0.5,
) -> tuple[pd.DataFrame, dict]:
    """Compare each sample and the cohort with the training distribution of every feature.

    Rule (values as the model receives them, raw units): a value is *outside* when it lies
    below ``q01 - margin * sd`` or above ``q99 + margin * sd`` of its feature (training
    statistics). A sample is ``unlike_training`` when the share of its observed features
    outside exceeds ``max_outside`` (about 0.005 is expected for normal features of a sample
    drawn like the training ones with the default margin; 0.01 on TCGA COAD held-out samples),
    or when it has no observed feature at all (share NaN).
    Per feature, the cohort *shift* is ``|median_new - q50| / sd``; the cohort is unlike the
    training data when the median shift over features exceeds ``max_shift`` or more than half
    of its samples are flagged.

    Parameters
    ----------
    X : DataFrame
        Model input (samples x card columns).
    card : dict
        Needs ``preprocessing.q01``, ``q50``, ``q99`` and ``sd``.
    max_outside, max_shift : float
        Thresholds above.
    missing : iterable of str
        Columns absent from the cohort (filled in ``X``): left out of the check.
    margin : float
        Tolerance beyond the q01..q99 range, in training sd (>= 0).

    Returns
    -------
    per_sample : DataFrame
        Index of ``X``; ``share_outside`` (float) and ``unlike_training`` (bool).
    cohort : dict
        ``unlike_training`` (bool), ``n_flagged``, ``share_flagged``, ``median_shift``,
        ``most_shifted`` (up to 20 ``{"column", "shift"}``), the thresholds and the rule.
    """
    n = X.shape[1]
    q01, q50, q99, sd = (_stat(card, k, n) for k in ("q01", "q50", "q99", "sd"))
    cols = ~X.columns.isin(list(missing))
    A = X.to_numpy(dtype=float)[:, cols]
    if not float(margin) >= 0:
        raise MetpotError(f"score.margin must be >= 0, got {margin!r}")
    mid, s = q50[cols], sd[cols]
    tol = float(margin) * np.nan_to_num(s)
    lo, hi = q01[cols] - tol, q99[cols] + tol
    observed = ~np.isnan(A)
    with np.errstate(invalid="ignore"):
        outside = observed & ((A < lo) | (A > hi))
    n_obs = observed.sum(axis=1)
    share = np.where(n_obs > 0, outside.sum(axis=1) / np.maximum(n_obs, 1), np.nan)
    flagged = ~(share <= max_outside)  # a sample with nothing observed (NaN share) too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(A, axis=0)
    usable = np.isfinite(med) & (s > 0)
    shift = np.full(A.shape[1], np.nan)
    shift[usable] = np.abs(med[usable] - mid[usable]) / s[usable]
    median_shift = float(np.nanmedian(shift)) if usable.any() else float("nan")
    names = X.columns[cols]
    order = np.argsort(-np.nan_to_num(shift, nan=-1.0), kind="stable")[:20]
    share_flagged = float(flagged.mean()) if len(flagged) else 0.0
    cohort_flag = bool(
        (math.isfinite(median_shift) and median_shift > max_shift) or share_flagged > 0.5
    )
    per_sample = pd.DataFrame({"share_outside": share, "unlike_training": flagged}, index=X.index)
    cohort = {
        "unlike_training": cohort_flag,
        "n_flagged": int(flagged.sum()),
        "share_flagged": share_flagged,
        "median_shift": median_shift,
        "most_shifted": [
            {"column": str(names[j]), "shift": float(shift[j])}
            for j in order
            if np.isfinite(shift[j])
        ],
        "max_outside": float(max_outside),
        "max_shift": float(max_shift),
        "margin": float(margin),
        "rule": (
            "sample: share of observed features outside [q01 - margin sd, q99 + margin sd] "
            "of the training data > max_outside; cohort: median over features of "
            "|median - q50| / sd > max_shift, or more than half of the samples flagged"
        ),
    }
    if cohort_flag:
        warn_data(
            f"the new cohort looks unlike the training data (median feature shift "
            f"{median_shift:.2f} training sd, {int(flagged.sum())} of {len(flagged)} samples "
            "flagged); consider score.standardize: per_cohort or method: ntp"
        )
    return per_sample, cohort


# --------------------------------------------------------------------- classifier


def _model_classes(model: Any) -> list[str] | None:
    classes = getattr(model, "classes_", None)
    return None if classes is None else [str(c) for c in classes]


def predict_classifier(
    model: Any,
    X: pd.DataFrame,
    card: Mapping,
    min_confidence: float = 0.5,
    low_confidence: str = "flag",
) -> pd.DataFrame:
    """Class probabilities, prediction and confidence from a fitted classifier.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` over ``card["classes"]`` (checked against
        ``model.classes_`` when it has them).
    X : DataFrame
        Model input (card columns in card order).
    card : dict
        Needs ``classes``.
    min_confidence : float
        A sample whose largest probability is below this is ``low_confidence``.
    low_confidence : {"flag", "unassign"}
        ``"flag"`` keeps the most probable class in ``prediction``; ``"unassign"`` sets it
        to NA. Either way the flag is set.

    Returns
    -------
    DataFrame
        Index of ``X``; ``prediction`` (str), ``proba_<class>`` per class, ``confidence``,
        ``low_confidence`` (bool).
    """
    if low_confidence not in ("flag", "unassign"):
        raise MetpotError(
            f"score.low_confidence must be 'flag' or 'unassign', got {low_confidence!r}"
        )
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise MetpotError(f"score.min_confidence must be between 0 and 1, got {min_confidence!r}")
    classes = [str(c) for c in card.get("classes") or []]
    if len(classes) < 2:
        raise MetpotError("model card: 'classes' needs at least two classes")
    fitted = _model_classes(model)
    if fitted is not None and fitted != classes:
        raise MetpotError(
            f"model card classes {classes} differ from the model's classes {fitted}; refused"
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    if proba.shape != (X.shape[0], len(classes)):
        raise MetpotError(
            f"model returned probabilities of shape {proba.shape} for {X.shape[0]} samples "
            f"and {len(classes)} classes"
        )
    best = np.argmax(proba, axis=1)
    conf = proba[np.arange(len(best)), best]
    low = conf < float(min_confidence)
    pred = pd.Series(np.asarray(classes, dtype=object)[best], index=X.index, dtype=object)
    if low_confidence == "unassign":
        pred[low] = pd.NA
    out = pd.DataFrame({"prediction": pred}, index=X.index)
    for k, c in enumerate(classes):
        out[f"proba_{c}"] = proba[:, k]
    out["confidence"] = conf
    out["low_confidence"] = low
    return out


# ---------------------------------------------------------------------------- NTP


def bh_fdr(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``)."""
    p = np.asarray(p, dtype=float)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def ntp_zscore(X: pd.DataFrame) -> pd.DataFrame:
    """Centre and scale each feature across the samples of a cohort (R ``scale``).

    sd with n - 1; a constant feature becomes 0; missing cells become 0 (the feature's
    cohort mean) after scaling. Needs at least 2 samples.
    """
    if X.shape[0] < 2:
        raise MetpotError(
            f"NTP z-scores each feature within the new cohort and needs at least 2 samples, "
            f"got {X.shape[0]}"
        )
    A = X.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(A, axis=0)
        s = np.nanstd(A, axis=0, ddof=1)
    ok = np.isfinite(s) & (s > 0)
    Z = np.zeros_like(A)
    Z[:, ok] = (A[:, ok] - m[ok]) / s[ok]
    Z[np.isnan(Z)] = 0.0
    return pd.DataFrame(Z, index=X.index, columns=X.columns)


def ntp_templates(markers: Mapping[str, Iterable[str]], columns: Iterable[str]) -> pd.DataFrame:
    """Binary NTP templates over the union of the markers present in ``columns``.

    Template of class k: 1 for the markers of k, 0 for the other markers (-1 when there are
    exactly two classes, as CMScaller). A feature marking several classes is 1 in each.

    Parameters
    ----------
    markers : mapping
        ``{class: [column, ...]}``.
    columns : iterable of str
        Columns available in the new cohort.

    Returns
    -------
    DataFrame
        Marker columns (first-seen order) x classes (mapping order).

    Raises
    ------
    MetpotError
        Fewer than two classes, or a class with fewer than 2 markers present.
    """
    avail = set(map(str, columns))
    classes = [str(c) for c in markers]
    if len(classes) < 2:
        raise MetpotError("NTP needs markers of at least two classes (model card 'markers')")
    union: list[str] = []
    lost = 0
    for c in markers:
        for m in markers[c]:
            m = str(m)
            if m in avail:
                if m not in union:
                    union.append(m)
            else:
                lost += 1
    T = pd.DataFrame(0.0, index=pd.Index(union, name="feature"), columns=classes)
    counts = {}
    for c, ms in markers.items():
        present = [str(m) for m in ms if str(m) in avail]
        counts[str(c)] = len(present)
        T.loc[present, str(c)] = 1.0
    few = {c: k for c, k in counts.items() if k < 2}
    if few:
        raise MetpotError(
            "NTP: class(es) with fewer than 2 markers in the new cohort: "
            + ", ".join(f"{c} ({k})" for c, k in few.items())
        )
    if lost:
        warn_data(f"NTP: {lost} marker(s) of the model card are absent from the new cohort")
    unstable = [c for c, k in counts.items() if k < 5]
    if unstable:
        warn_data(f"NTP: fewer than 5 markers for class(es) {name_list(unstable)}; unstable")
    if len(classes) == 2:
        T[T == 0.0] = -1.0
    return T


def ntp(
    Z: pd.DataFrame,
    templates: pd.DataFrame,
    n_perm: int = 1000,
    seed: int = 0,
    *,
    p_convention: str = "plus_one",
    replace: bool = True,
) -> pd.DataFrame:
    """Nearest template prediction on a standardised cohort (Hoshida 2010; CMScaller ``ntp``).

    For sample i with values ``z_i`` over the template features: cosine similarity to every
    template; distance ``d = 1 - cos``; prediction = the nearest template. Null: ``n_perm``
    vectors drawn from the sample's own values over all columns of ``Z`` (the pool; with
    replacement as CMScaller's ``sample.int(P, S * nPerm, replace = TRUE)``, or a
    permutation without replacement with ``replace=False``), each giving the minimum
    distance to the templates. Draws of sample i come from
    ``default_rng(SeedSequence(seed).spawn(n)[i]).integers(0, P, size=(n_perm, S))``
    (``permuted`` rows for ``replace=False``), so a sample's p-value does not depend on
    chunking. p-value conventions:

    * ``"plus_one"``: ``(1 + #{null d_min <= observed d_min}) / (n_perm + 1)`` (a valid
      p-value, Phipson & Smyth 2010).
    * ``"cmscaller"``: CMScaller's ``rank(-c(obs, null))[1] / (n_perm + 1)`` with average ranks,
      i.e. ``(1 + #{null < obs} + #{null == obs} / 2) / (n_perm + 1)`` in distance, then
      raised to at least ``1 / n_perm``.

    FDR: Benjamini-Hochberg over the samples. CMScaller reports ``sqrt((1 - cos) / 2)`` as the
    distance, a monotone function of ``1 - cos``: predictions and p-values are the same.

    Parameters
    ----------
    Z : DataFrame
        Samples x features, already centred and scaled per feature (:func:`ntp_zscore`).
    templates : DataFrame
        Features (a subset of ``Z``'s columns) x classes (:func:`ntp_templates`).
    n_perm : int
        Resamples per sample (>= 1).
    seed : int
        Seed; fixed seed, identical output.
    p_convention : {"plus_one", "cmscaller"}
    replace : bool
        Draw with replacement (CMScaller) or permute (needs as many pool columns as template
        features).

    Returns
    -------
    DataFrame
        Index of ``Z``: ``prediction``, ``d_<class>`` per class, ``p_value``, ``fdr``.
    """
    if p_convention not in ("plus_one", "cmscaller"):
        raise MetpotError(
            f"ntp p_convention must be 'plus_one' or 'cmscaller', got {p_convention!r}"
        )
    n_perm = int(n_perm)
    if n_perm < 1:
        raise MetpotError(f"score.ntp.n_perm must be >= 1, got {n_perm}")
    cols = [str(c) for c in templates.index]
    absent = [c for c in cols if c not in Z.columns]
    if absent:
        raise MetpotError(f"NTP: template features absent from the data: {name_list(absent)}")
    classes = [str(c) for c in templates.columns]
    pool = Z.to_numpy(dtype=float)
    if not np.isfinite(pool).all():
        raise MetpotError("NTP: the standardised data must be finite (use ntp_zscore)")
    S, P = len(cols), pool.shape[1]
    if not replace and P < S:
        raise MetpotError(f"NTP without replacement needs >= {S} pool features, got {P}")
    Tm = templates.to_numpy(dtype=float)
    Tn = Tm / np.linalg.norm(Tm, axis=0)
    X = Z.loc[:, cols].to_numpy(dtype=float)
    norms = np.linalg.norm(X, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (X @ Tn) / norms[:, None]
    cos = np.nan_to_num(cos, nan=0.0)
    d = 1.0 - cos
    best = np.argmin(d, axis=1)
    d_obs = d[np.arange(len(best)), best]
    pvals = np.empty(len(best))
    children = np.random.SeedSequence(seed).spawn(len(best))
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        if replace:
            idx = rng.integers(0, P, size=(n_perm, S))
        else:
            idx = rng.permuted(np.tile(np.arange(P), (n_perm, 1)), axis=1)[:, :S]
        R = pool[i][idx]
        rn = np.linalg.norm(R, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            null = 1.0 - np.nan_to_num((R @ Tn) / rn[:, None], nan=0.0).max(axis=1)
        # compare on a rounded scale so that the observed vector drawn again counts as a tie
        null = np.round(null, 12)
        obs = round(float(d_obs[i]), 12)
        if p_convention == "plus_one":
            pvals[i] = (1 + np.count_nonzero(null <= obs)) / (n_perm + 1)
        else:
            rank = 1 + np.count_nonzero(null < obs) + 0.5 * np.count_nonzero(null == obs)
            pvals[i] = max(rank / (n_perm + 1), 1.0 / n_perm)
    out = pd.DataFrame(
        {"prediction": pd.Series(np.asarray(classes, dtype=object)[best], index=Z.index)},
        index=Z.index,
    )
    for k, c in enumerate(classes):
        out[f"d_{c}"] = d[:, k]
    out["p_value"] = pvals
    out["fdr"] = bh_fdr(pvals)
    return out


def ntp_predict(
    layers: Mapping[str, pd.DataFrame],
    card: Mapping,
    n_perm: int = 1000,
    seed: int = 0,
    fdr: float = 0.05,
    p_convention: str = "plus_one",
) -> tuple[pd.DataFrame, dict]:
    """NTP of a new cohort with the markers of a model card.

    The marker columns (``card["markers"]``, ``"<layer>:<feature>"``) are matched by id, put
    on the model's transformed scale (``preprocessing.transform``), z-scored within the cohort
    (:func:`ntp_zscore`; the pool of resampled values is the markers, as MOVICS ``runNTP``)
    and passed to :func:`ntp`.

    Returns
    -------
    DataFrame
        :func:`ntp` columns plus ``low_confidence`` (``fdr`` above the threshold).
    dict
        ``n_markers`` (matched, per class), ``n_perm``, ``seed``, ``fdr``, ``p_convention``.
    """
    markers = card.get("markers")
    if not isinstance(markers, Mapping) or not markers:
        raise MetpotError("model card: 'markers' is missing; NTP needs the class markers")
    if not 0.0 < float(fdr) <= 1.0:
        raise MetpotError(f"score.ntp.fdr must be in (0, 1], got {fdr!r}")
    wanted = list(dict.fromkeys(str(m) for ms in markers.values() for m in ms))
    split = [(c, *c.split(":", 1)) for c in wanted]
    bad = [c for c, *rest in split if len(rest) != 2 or not rest[1]]
    if bad:
        raise MetpotError(f"model card markers must be '<layer>:<feature>', got {name_list(bad)}")
    used = list(dict.fromkeys(layer for _, layer, _ in split))
    frames = {n: _layer_frame(layers, n) for n in used if n in layers}
    samples = _model_samples(frames, used)
    data = {}
    for col, layer, feat in split:
        if layer in frames and feat in frames[layer].columns:
            data[col] = frames[layer].loc[samples, feat].to_numpy(dtype=float)
    X = pd.DataFrame(data, index=samples)
    X = pd.DataFrame(
        _apply_transform(X.to_numpy(dtype=float), _transform_name(card)),
        index=X.index,
        columns=X.columns,
    )
    templates = ntp_templates(markers, X.columns)
    Z = ntp_zscore(X.loc[:, list(templates.index)])
    res = ntp(Z, templates, n_perm=n_perm, seed=seed, p_convention=p_convention)
    res["low_confidence"] = res["fdr"] > float(fdr)
    info = {
        "n_markers": {str(c): int((templates[c] > 0).sum()) for c in templates.columns},
        "n_perm": int(n_perm),
        "seed": int(seed),
        "fdr": float(fdr),
        "p_convention": p_convention,
        "n_low_confidence": int(res["low_confidence"].sum()),
    }
    return res, info


# ------------------------------------------------------------------ SNF propagation


def snf_propagate(
    train_layers: Mapping[str, pd.DataFrame],
    train_labels: pd.Series,
    layers: Mapping[str, pd.DataFrame],
    K: int = 20,
    mu: float = 0.5,
    t: int = 20,
    variant: str = "snftool-2.3",
    min_coverage: float = 0.9,
) -> pd.Series:
    """Subtypes of new samples by SNF label propagation against the discovery cohort.

    A wrapper of :func:`metpot.snf.group_predict` (SNFtool ``groupPredict``, method 1). Every
    layer of the discovery cohort must be in the new cohort; features are matched by id per
    layer (the shared ones are used; below ``min_coverage`` of a layer's features the call is
    refused). Give both cohorts on the same scale (as the SNF step used them). The new
    samples are standardised together with the discovery samples (as SNFtool does), so the
    new cohort's samples shift the standardisation, and a sample's call can depend a little
    on which other new samples are scored with it.

    Parameters
    ----------
    train_layers : mapping
        Discovery layers, samples x features.
    train_labels : Series
        Discovery subtype per sample id (samples without a label are left out).
    layers : mapping
        New cohort's layers.
    K, mu, t, variant
        SNF parameters (as the discovery run).
    min_coverage : float
        Smallest share of each discovery layer's features present.

    Returns
    -------
    Series
        Predicted subtype (str) per new sample id.
    """
    from metpot.snf import group_predict

    names = list(train_layers)
    absent = [n for n in names if n not in layers]
    if absent:
        raise MetpotError(
            f"snf_propagation needs every layer of the discovery cohort; the new cohort lacks "
            f"{', '.join(absent)}"
        )
    labels = pd.Series(train_labels).dropna()
    labels.index = labels.index.astype(str)
    train = {n: _layer_frame(train_layers, n) for n in names}
    new = {n: _layer_frame(layers, n) for n in names}
    tr_samples = [s for s in _common_samples(train, names) if s in labels.index]
    te_samples = _common_samples(new, names)
    if len(tr_samples) < 2:
        raise MetpotError("snf_propagation: fewer than 2 labelled discovery samples")
    tr_views, te_views = [], []
    for n in names:
        shared = [c for c in train[n].columns if c in new[n].columns]
        cov = len(shared) / max(train[n].shape[1], 1)
        if cov < min_coverage:
            raise MetpotError(
                f"snf_propagation: layer {n}: only {len(shared)} of the discovery cohort's "
                f"{train[n].shape[1]} features are in the new cohort (coverage {cov:.3f} < "
                f"{min_coverage:g})"
            )
        if cov < 1:
            warn_data(
                f"snf_propagation: layer {n}: {train[n].shape[1] - len(shared)} features "
                "absent from the new cohort, left out"
            )
        a = train[n].loc[tr_samples, shared].to_numpy(dtype=float)
        b = new[n].loc[te_samples, shared].to_numpy(dtype=float)
        if np.isnan(a).any():
            warn_data(
                f"snf_propagation: layer {n}: {int(np.isnan(a).sum())} missing value(s) of the "
                "discovery cohort filled with the feature's discovery mean"
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                col_mean = np.nan_to_num(np.nanmean(a, axis=0))
            a = np.where(np.isnan(a), col_mean, a)
        if np.isnan(b).any():
            warn_data(
                f"snf_propagation: layer {n}: {int(np.isnan(b).sum())} missing value(s) of the "
                "new cohort filled with the discovery mean"
            )
            b = np.where(np.isnan(b), a.mean(axis=0), b)
        tr_views.append(a)
        te_views.append(b)
    K = min(int(K), len(tr_samples) + len(te_samples) - 1)
    pred = group_predict(
        tr_views,
        te_views,
        labels.loc[tr_samples].astype(str).to_numpy(),
        K=K,
        mu=mu,
        t=t,
        variant=variant,
    )
    return pd.Series(pred.astype(object), index=pd.Index(te_samples, name="sample_id"))


# ----------------------------------------------------------------------- agreement


def agreement(predictions: Mapping[str, pd.Series]) -> tuple[pd.DataFrame, dict]:
    """Pairwise agreement between methods' predictions on the same samples.

    Parameters
    ----------
    predictions : mapping
        Method name -> Series of predicted labels (sample id index). Samples where either
        prediction is missing are left out of a pair.

    Returns
    -------
    table : DataFrame
        One row per pair: ``method_a``, ``method_b``, ``n``, ``agreement`` (share of equal
        labels), ``kappa`` (Cohen's), ``ari`` (adjusted Rand index).
    crosstabs : dict
        ``"a vs b"`` -> cross table as ``{label_a: {label_b: count}}``.
    """
    from sklearn.metrics import adjusted_rand_score, cohen_kappa_score

    names = list(predictions)
    rows, tabs = [], {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa, pb = predictions[a], predictions[b]
            both = pd.concat([pa.rename("a"), pb.rename("b")], axis=1, join="inner").dropna()
            la, lb = both["a"].astype(str), both["b"].astype(str)
            n = len(both)
            if n:
                agree = float((la == lb).mean())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    kappa = float(cohen_kappa_score(la, lb))
                ari = float(adjusted_rand_score(la, lb))
            else:
                agree = kappa = ari = float("nan")
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "n": n,
                    "agreement": agree,
                    "kappa": kappa,
                    "ari": ari,
                }
            )
            ct = pd.crosstab(la, lb)
            tabs[f"{a} vs {b}"] = {
                str(r): {str(c): int(ct.loc[r, c]) for c in ct.columns} for r in ct.index
            }
    return pd.DataFrame(
        rows, columns=["method_a", "method_b", "n", "agreement", "kappa", "ari"]
    ), tabs


# ---------------------------------------------------------------------- risk groups


def risk_groups(
    prediction: pd.Series,
    clinical: pd.DataFrame,
    crs: Mapping | None = None,
    table: Mapping | None = None,
    high_cutoff: int = 3,
) -> pd.DataFrame:
    """Fong score, CRS group and integrated risk group of scored samples.

    Parameters
    ----------
    prediction : Series
        Predicted subtype per sample id.
    clinical : DataFrame
        Clinical table indexed by sample id.
    crs : mapping, optional
        Keyword arguments of :func:`metpot.risk_score.fong_score` (column names); default: the
        five standard columns (``node_positive``, ``disease_free_interval_months``,
        ``n_liver_tumors``, ``cea_ng_ml``, ``largest_tumor_cm``), or ``score_col="crs"`` when
        the table has a ``crs`` column and not those.
    table : mapping, optional
        Integrated-risk table (default Pitroda 2018).
    high_cutoff : int
        CRS from which the group is high.

    Returns
    -------
    DataFrame
        Index of ``prediction``: ``crs`` (Int64), ``crs_group``, ``risk_group`` (NA where the
        clinical factors or the prediction are missing).
    """
    from metpot.risk_score import fong_score, integrated_risk_groups

    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    if crs is None:
        if all(c in clin.columns for c in _FONG_DEFAULTS):
            crs = dict(_FONG_DEFAULTS)
        elif "crs" in clin.columns:
            crs = {"score_col": "crs"}
        else:
            raise MetpotError(
                "clinical table has neither the Fong factor columns "
                f"({', '.join(_FONG_DEFAULTS)}) nor a 'crs' column; configure score clinical crs"
            )
    ids = prediction.index.astype(str)
    absent = [i for i in ids if i not in clin.index]
    if absent:
        warn_data(f"{len(absent)} scored sample(s) have no clinical row: {name_list(absent)}")
    sub = clin.loc[[i for i in ids if i in clin.index]]
    scores = fong_score(sub, high_cutoff=int(high_cutoff), **dict(crs))["scores"]
    scores.index = scores.index.astype(str)
    out = pd.DataFrame(index=prediction.index)
    out["crs"] = pd.array(scores["crs"].reindex(ids).to_numpy(dtype=float), dtype="Int64")
    out["crs_group"] = scores["crs_group"].reindex(ids).to_numpy(dtype=object)
    ok = prediction.notna().to_numpy() & out["crs_group"].notna().to_numpy()
    risk = pd.Series(pd.NA, index=prediction.index, dtype=object)
    if table is None:
        from metpot.risk_score import PITRODA_2018

        known = {k.lower() for k in PITRODA_2018}
        unknown = sorted({str(p) for p in prediction[ok]} - known, key=str.lower)
        unknown = [u for u in unknown if u.strip().lower() not in known]
        if unknown:
            warn_data(
                f"risk_group not assigned: predicted class(es) {name_list(unknown)} are not in "
                "the default integrated-risk table (immune, canonical, stromal); give a table"
            )
            ok[:] = False
    if ok.any():
        risk[ok] = integrated_risk_groups(
            prediction[ok].astype(str), out["crs_group"][ok], table=table
        ).to_numpy(dtype=object)
    out["risk_group"] = risk
    return out


# --------------------------------------------------------------------------- driver


def _join_flags(*flags: tuple[str, np.ndarray]) -> np.ndarray:
    n = len(flags[0][1])
    out = []
    for i in range(n):
        out.append(";".join(name for name, mask in flags if bool(mask[i])))
    return np.asarray(out, dtype=object)


def score_cohort(
    model: Any,
    card: Mapping,
    layers: Mapping[str, pd.DataFrame],
    clinical: pd.DataFrame | None = None,
    method: str = "classifier",
    *,
    min_coverage: float = 0.9,
    min_confidence: float = 0.5,
    low_confidence: str = "flag",
    standardize: str | None = None,
    max_outside: float = 0.2,
    max_shift: float = 1.0,
    outside_margin: float = 0.5,
    ntp_fdr: float = 0.05,
    ntp_n_perm: int = 1000,
    seed: int = 0,
    reference: Mapping | None = None,
    snf_options: Mapping | None = None,
    crs: Mapping | None = None,
    risk_table: Mapping | None = None,
    crs_high_cutoff: int = 3,
) -> tuple[pd.DataFrame, dict]:
    """Score a new cohort: subtype, confidence, flags and (with clinical data) risk group.

    Parameters
    ----------
    model : estimator
        The fitted pipeline (:func:`metpot.model_io.load_model`); may be None for
        ``method="ntp"`` or ``"snf_propagation"``.
    card : dict
        Its model card.
    layers : mapping
        The new cohort's layers, samples x features, raw values.
    clinical : DataFrame, optional
        Clinical table indexed by sample id, for ``crs``, ``crs_group`` and ``risk_group``.
    method : {"classifier", "ntp", "snf_propagation", "all"}
        ``"all"``: the classifier gives ``prediction``; ``ntp_*`` and ``snf_prediction``
        columns, the ``methods_disagree`` flag and ``summary["agreement"]`` are added.
    min_coverage, min_confidence, low_confidence
        See :func:`match_features` and :func:`predict_classifier`.
    standardize : {"none", "per_cohort"}, optional
        Default: ``card["preprocessing"]["standardize"]`` or ``"none"``.
    max_outside, max_shift, outside_margin : float
        :func:`distribution_check` thresholds (``outside_margin`` is its ``margin``).
    ntp_fdr, ntp_n_perm, seed
        NTP options (samples with FDR above ``ntp_fdr`` are ``low_confidence``).
    reference : mapping, optional
        For SNF propagation: ``{"layers": {...}, "labels": Series}`` of the discovery cohort
        and optionally ``"transform"`` (applied to both cohorts; default ``"none"``).
    snf_options : mapping, optional
        ``K``, ``mu``, ``t``, ``variant`` for :func:`snf_propagate`.
    crs, risk_table, crs_high_cutoff
        See :func:`risk_groups`.

    Returns
    -------
    predictions : DataFrame
        One row per scored sample: ``sample_id``, ``prediction``, method columns (classifier:
        ``proba_<class>``, ``confidence``; NTP: ``d_<class>``, ``p_value``, ``fdr``; with
        ``all`` the NTP ones prefixed ``ntp_`` and ``snf_prediction``), ``share_outside``
        (classifier), ``flag``, and ``crs``, ``crs_group``, ``risk_group`` with clinical data.
    summary : dict
        ``method``, ``model`` (target, feature set, file, sha256), ``n_samples``, ``classes``,
        ``counts`` (per class, all predictions), ``counts_unflagged``, ``coverage`` (from
        :func:`match_features`), ``flags`` (count per flag), ``distribution`` (cohort check),
        ``ntp``, ``agreement``, ``warnings`` (the data warnings raised while scoring; they are
        also re-emitted).
    """
    if method not in METHODS:
        raise MetpotError(f"score.method must be one of {METHODS}, got {method!r}")
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            frame, summary = _score(
                model,
                card,
                layers,
                clinical,
                method,
                min_coverage=min_coverage,
                min_confidence=min_confidence,
                low_confidence=low_confidence,
                standardize=standardize,
                max_outside=max_outside,
                max_shift=max_shift,
                outside_margin=outside_margin,
                ntp_fdr=ntp_fdr,
                ntp_n_perm=ntp_n_perm,
                seed=seed,
                reference=reference,
                snf_options=snf_options,
                crs=crs,
                risk_table=risk_table,
                crs_high_cutoff=crs_high_cutoff,
            )
    finally:
        # re-emitted on failure too: a warning naming dropped samples explains the error
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    summary["warnings"] = [str(w.message) for w in data_warnings]
    return frame, summary


def _score(model, card, layers, clinical, method, **o) -> tuple[pd.DataFrame, dict]:
    classes = [str(c) for c in card.get("classes") or []]
    summary: dict[str, Any] = {
        "method": method,
        "model": {k: card.get(k) for k in ("target", "feature_set", "file", "sha256")},
        "classes": classes,
        "coverage": None,
        "standardize": None,
        "distribution": None,
        "ntp": None,
        "agreement": None,
    }
    parts: dict[str, pd.DataFrame] = {}
    flags: dict[str, pd.Series] = {}
    preds: dict[str, pd.Series] = {}
    if method in ("classifier", "all"):
        if model is None:
            raise MetpotError(f"score.method {method} needs a model file")
        X, info = match_features(layers, card, o["min_coverage"])
        summary["coverage"] = info
        index = X.index
        blank = index.isin(info["no_values"])
        X = X.loc[~blank]
        std = o["standardize"] or _prep(card).get("standardize", "none")
        X = standardize_cohort(X, card, std)
        summary["standardize"] = std
        res = predict_classifier(model, X, card, o["min_confidence"], o["low_confidence"])
        flags["low_confidence"] = res.pop("low_confidence")
        res = res.reindex(index)  # samples without values: no prediction, NaN probabilities
        preds["classifier"] = res["prediction"]
        flags["no_values"] = pd.Series(blank, index=index)
        try:
            per_sample, cohort = distribution_check(
                X,
                card,
                o["max_outside"],
                o["max_shift"],
                missing=info["missing"],
                margin=o["outside_margin"],
            )
            res["share_outside"] = per_sample["share_outside"]
            flags["unlike_training"] = per_sample["unlike_training"]
            summary["distribution"] = cohort
        except MetpotError as exc:
            warn_data(f"distribution check skipped: {exc}")
        parts["classifier"] = res
    if method in ("ntp", "all"):
        res, info = ntp_predict(
            layers, card, n_perm=o["ntp_n_perm"], seed=o["seed"], fdr=o["ntp_fdr"]
        )
        summary["ntp"] = info
        preds["ntp"] = res["prediction"]
        low = res.pop("low_confidence")
        if method == "ntp":
            flags["low_confidence"] = low
            parts["ntp"] = res
        else:
            res.columns = [f"ntp_{c}" for c in res.columns]
            res["ntp_low_confidence"] = low
            parts["ntp"] = res
    if method == "snf_propagation" or (method == "all" and o["reference"] is not None):
        ref = o["reference"]
        if ref is None or "layers" not in ref or "labels" not in ref:
            raise MetpotError(
                "snf_propagation needs the discovery cohort (reference layers and labels)"
            )
        tf = ref.get("transform", "none")
        if tf not in TRANSFORMS:
            raise MetpotError(f"reference transform must be one of {TRANSFORMS}, got {tf!r}")

        def tx(ls, what):
            return {
                n: pd.DataFrame(
                    _apply_transform(f.to_numpy(dtype=float), tf, f"{what} {n}"),
                    index=f.index,
                    columns=f.columns,
                )
                for n, f in ls.items()
            }

        snf = snf_propagate(
            tx(ref["layers"], "discovery layer"),
            ref["labels"],
            tx({n: layers[n] for n in ref["layers"] if n in layers}, "layer"),
            **dict(o["snf_options"] or {}),
        )
        preds["snf_propagation"] = snf
        if method == "snf_propagation":
            classes = sorted({str(v) for v in pd.Series(ref["labels"]).dropna()})
            summary["classes"] = classes
        col = "prediction" if method == "snf_propagation" else "snf_prediction"
        parts["snf"] = pd.DataFrame({col: snf})
    elif method == "all":
        warn_data("method all: no discovery cohort given, SNF propagation skipped")

    primary = "classifier" if method in ("classifier", "all") else method
    index = preds[primary].index
    out = pd.DataFrame(index=pd.Index(index, name="sample_id"))
    for part in parts.values():
        out = out.join(part, how="left")
    if method == "all":
        table, tabs = agreement(preds)
        summary["agreement"] = {"pairs": table.to_dict(orient="records"), "crosstabs": tabs}
        others = [p.reindex(index).astype(object) for k, p in preds.items() if k != "classifier"]
        base = preds["classifier"].reindex(index).astype(object)
        dis = np.zeros(len(index), dtype=bool)
        for p in others:
            both = base.notna().to_numpy() & p.notna().to_numpy()
            dis |= both & (base.astype(str).to_numpy() != p.astype(str).to_numpy())
        flags["methods_disagree"] = pd.Series(dis, index=index)
    order = ["no_values", "low_confidence", "unlike_training", "methods_disagree"]
    masks = [
        (k, flags[k].reindex(index).fillna(False).to_numpy(dtype=bool)) for k in order if k in flags
    ]
    out["flag"] = _join_flags(*masks) if masks else ""
    if clinical is not None:
        rg = risk_groups(
            out["prediction"], clinical, o["crs"], o["risk_table"], o["crs_high_cutoff"]
        )
        out = out.join(rg)
    out = out.reset_index()
    pred = out["prediction"]
    summary["n_samples"] = int(len(out))
    labels = classes or sorted(pred.dropna().astype(str).unique())
    summary["counts"] = {c: int((pred.astype(str) == c).sum()) for c in labels}
    summary["counts"]["NA"] = int(pred.isna().sum())
    clean = out["flag"] == ""
    summary["counts_unflagged"] = {c: int(((pred.astype(str) == c) & clean).sum()) for c in labels}
    summary["flags"] = {k: int(m.sum()) for k, m in masks}
    summary["n_flagged"] = int((~clean).sum())
    return out, summary


# ---------------------------------------------------------------------- model choice


def _primary(card: Mapping) -> tuple[str, float]:
    metrics = card.get("metrics") or {}
    name = metrics.get("primary")
    if not name or name not in metrics:
        raise MetpotError(
            f"model card {card.get('file', '?')}: metrics.primary (the name of the nested-CV "
            "primary metric) and its value are needed to choose a model"
        )
    val = metrics[name]
    if isinstance(val, Mapping):
        val = val.get("estimate")
    try:
        val = float(val)
    except (TypeError, ValueError):
        raise MetpotError(
            f"model card {card.get('file', '?')}: metrics.{name} is not a number: {val!r}"
        ) from None
    return str(name), val


def select_model(
    cards: Mapping[str, Mapping],
    available: Mapping[str, Any] | Iterable[str],
    min_coverage: float | None = None,
) -> str:
    """Choose, among models of one target, the best one the new cohort can be scored with.

    Candidates are the cards whose ``layers`` are all available (and, when ``available``
    gives the features of each layer and ``min_coverage`` is set, whose feature coverage is
    at least ``min_coverage``). The best is the highest nested-CV primary metric
    (``card["metrics"]["primary"]`` names it; its value is a number or ``{"estimate": ...}``;
    log-loss and Brier scores count lower as better); ties go to the model with fewer
    features, then fewer layers, then the first key.

    Parameters
    ----------
    cards : mapping
        Key (e.g. the model file path) -> model card.
    available : mapping or iterable
        Layer names of the new cohort, or ``{layer: DataFrame or feature ids}``.
    min_coverage : float, optional
        With features given, the smallest share of a model's features present.

    Returns
    -------
    str
        The key of the chosen card.

    Raises
    ------
    MetpotError
        No cards, cards of several targets, or no card the cohort covers.
    """
    if not cards:
        raise MetpotError("no model to choose from")
    targets = {str(c.get("target")) for c in cards.values()}
    if len(targets) > 1:
        raise MetpotError(f"models of several targets given ({name_list(sorted(targets))})")
    feats: dict[str, set[str]] | None = None
    if isinstance(available, Mapping):
        feats = {}
        for k, v in available.items():
            cols = v.columns if isinstance(v, pd.DataFrame) else (v or [])
            feats[str(k)] = {str(c) for c in cols}
        layer_set = set(feats)
    else:
        layer_set = {str(x) for x in available}
    ranked = []
    for pos, (key, card) in enumerate(cards.items()):
        layers = [str(x) for x in card.get("layers") or []]
        if not layers:
            layers = list(dict.fromkeys(f["layer"] for f in _card_features(card)))
        if not set(layers) <= layer_set:
            continue
        if feats is not None and min_coverage is not None:
            fl = _card_features(card)
            cov = np.mean([f["feature"] in feats.get(f["layer"], ()) for f in fl])
            if cov < min_coverage:
                continue
        name, val = _primary(card)
        sign = 1.0 if name in _LOWER_IS_BETTER else -1.0
        n_feat = len(card.get("features") or [])
        ranked.append((sign * val, n_feat, len(layers), pos, key))
    if not ranked:
        raise MetpotError(
            f"no model of target {targets.pop()} uses only the new cohort's layers "
            f"({', '.join(sorted(layer_set))}) with enough feature coverage"
        )
    ranked.sort(key=lambda r: r[:4])
    return ranked[0][4]
