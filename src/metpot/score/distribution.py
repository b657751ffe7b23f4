"""Training statistics, per-cohort standardisation and the check against training data.

:func:`training_statistics` computes, on the training side, the per-feature statistics a
model card stores (``card["preprocessing"]``); scoring uses them to standardise a
cross-platform cohort onto the training scale (:func:`standardize_cohort`) and to flag the
samples, and the cohort, that lie outside the training distribution
(:func:`distribution_check`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, warn_data
from metpot.score._common import (
    TRANSFORMS,
    _apply_transform,
    _column_zscores,
    _inverse_transform,
    _stat,
    _transform_name,
)

__all__ = ["distribution_check", "standardize_cohort", "training_statistics"]

STANDARDIZE = ("none", "per_cohort")


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


# ---------------------------------------------- standardisation and distribution


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
    Z = _column_zscores(_apply_transform(X.to_numpy(dtype=float), transform))
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
