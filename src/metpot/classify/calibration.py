"""Calibration of the nested cross-validation's out-of-fold class probabilities (report figures)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from metpot.classify.options import NAN_SLICE_NOTES

CALIBRATION_CI = "patient bootstrap, percentile"


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic regression with an offset (Newton, step-halving).

    NaN coefficients when the likelihood has no finite maximum (separated classes).
    """
    from scipy.special import expit

    beta = np.zeros(X.shape[1])

    def loglik(b):
        eta = offset + X @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for _ in range(100):
        mu = expit(offset + X @ beta)
        w = mu * (1.0 - mu)
        H = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(H, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return np.full(X.shape[1], np.nan)
        for _ in range(30):
            new = loglik(beta + step)
            if new >= current - 1e-12:
                break
            step = step / 2.0
        beta, current = beta + step, new
        if np.max(np.abs(step)) < 1e-9:
            return beta if np.all(np.abs(beta) < 1e3) else np.full(X.shape[1], np.nan)
    return np.full(X.shape[1], np.nan)


def calibration_in_the_large_and_slope(proba, y) -> tuple[float, float]:
    """Logistic recalibration of predicted probabilities (Cox 1958; Van Calster 2016).

    Parameters
    ----------
    proba : array-like
        Predicted probabilities of the event (or class).
    y : array-like
        1 where the event (class) was observed, else 0.

    Returns
    -------
    citl : float
        Calibration-in-the-large: ``a`` in ``logit P(y) = a + logit(p)`` (0 when the mean
        prediction matches the observed frequency; > 0: risks under-estimated).
    slope : float
        ``b`` in ``logit P(y) = a + b logit(p)`` (1 ideal; < 1: predictions too extreme).
        NaN when the fit has no finite maximum (perfectly separated predictions).
    """
    p = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=float)
    lp = np.log(p / (1.0 - p))
    if y.min() == y.max():
        return float("nan"), float("nan")
    citl = _logistic_fit(np.ones((len(p), 1)), y, lp)[0]
    slope = _logistic_fit(np.column_stack([np.ones(len(p)), lp]), y, np.zeros(len(p)))[1]
    return float(citl), float(slope)


def _quantile_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each prediction: edges at the quantiles of ``p`` (ties never split)."""
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) < 2:
        return np.zeros(len(p), dtype=np.int64)
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)


def calibration_table(
    predictions: pd.DataFrame,
    kinds: Mapping[str, str],
    n_bins: int = 10,
    n_boot: int = 1000,
    seed: int = 1,
) -> pd.DataFrame:
    """Reliability of the out-of-fold class probabilities of the nested cross-validation.

    For each (target, model, feature set) and class (one-vs-rest; landmark targets: the
    event class ``1`` only), the out-of-fold predictions of every outer repeat are pooled and
    cut into up to ``n_bins`` bins at the quantiles of the predicted probability (equal
    predictions always share a bin). Per bin: the mean prediction, the observed fraction of
    the class and its 95 % interval from a bootstrap over patients (each patient's
    predictions of every repeat resampled together, ``n_boot`` resamples, ``seed``), since a
    patient appears once per repeat.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Out-of-fold predictions (:func:`fit_one` / :func:`assemble`): ``target``, ``model``,
        ``feature_set``, ``sample``, ``truth``, ``prob:<class>``.
    kinds : mapping
        Target -> ``categorical`` / ``landmark`` / ``survival`` (survival targets have no
        probabilities and are left out).
    n_bins, n_boot, seed
        Bins, bootstrap resamples and their seed.

    Returns
    -------
    pandas.DataFrame
        ``target``, ``model``, ``feature_set``, ``class``, ``bin`` (1..), ``mean_predicted``,
        ``observed``, ``n`` (predictions), ``n_patients``, ``ci_low``, ``ci_high``, and per
        class ``calibration_in_the_large`` and ``calibration_slope``
        (:func:`calibration_in_the_large_and_slope`, on the pooled predictions), ``ci_method``.
    """
    cols = ["target", "model", "feature_set", "class", "bin", "mean_predicted", "observed", "n",
            "n_patients", "ci_low", "ci_high", "calibration_in_the_large", "calibration_slope",
            "ci_method"]  # fmt: skip
    rows = []
    keys = ["target", "model", "feature_set"]
    if predictions.empty or "truth" not in predictions.columns:
        return pd.DataFrame(columns=cols)
    for (tg, md, fs), grp in predictions.groupby(keys, sort=False):
        kind = kinds.get(tg)
        if kind not in ("categorical", "landmark"):
            continue
        prob_cols = [c for c in grp.columns if str(c).startswith("prob:") and grp[c].notna().any()]
        if kind == "landmark":
            prob_cols = [c for c in prob_cols if str(c) == "prob:1"]
        truth = grp["truth"].astype(str).to_numpy()
        codes, patients = pd.factorize(grp["sample"].astype(str), sort=True)
        n_pat = len(patients)
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(n_pat, np.full(n_pat, 1.0 / n_pat), size=n_boot).astype(float)
        for col in prob_cols:
            cls = str(col).removeprefix("prob:")
            p = grp[col].to_numpy(float)
            ok = np.isfinite(p)
            p_ok, y_ok, c_ok = p[ok], (truth[ok] == cls).astype(float), codes[ok]
            if not len(p_ok):
                continue
            b = _quantile_bins(p_ok, n_bins)
            nb = int(b.max()) + 1
            flat = c_ok * nb + b
            count = np.bincount(flat, minlength=n_pat * nb).reshape(n_pat, nb)
            events = np.bincount(flat, weights=y_ok, minlength=n_pat * nb).reshape(n_pat, nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = (weights @ events) / (weights @ count)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", NAN_SLICE_NOTES, RuntimeWarning)
                lo, hi = np.nanquantile(boot, [0.025, 0.975], axis=0)
            citl, slope = calibration_in_the_large_and_slope(p_ok, y_ok)
            for j in range(nb):
                sel = b == j
                if not sel.any():
                    continue
                rows.append(
                    (tg, md, fs, cls, j + 1, float(p_ok[sel].mean()), float(y_ok[sel].mean()),
                     int(sel.sum()), int(np.unique(c_ok[sel]).size), float(lo[j]), float(hi[j]),
                     citl, slope, f"{CALIBRATION_CI} ({n_boot})")
                )  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    # bins renumbered 1.. after dropping empty ones
    if len(table):
        table["bin"] = table.groupby(keys + ["class"], sort=False).cumcount() + 1
    return table
