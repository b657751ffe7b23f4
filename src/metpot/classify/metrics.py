"""Metrics of a test fold, and their corrected resampled t intervals and tests over the folds
(Nadeau & Bengio 2003).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def _classification_metrics(y_true, proba: np.ndarray, classes: list) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss, roc_auc_score

    y_true = np.asarray(y_true)
    pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    onehot = (y_true[:, None] == np.asarray(classes, dtype=object)[None, :]).astype(float)
    out = {
        "balanced_accuracy": float(balanced_accuracy_score(y_true.astype(str), pred.astype(str))),
        "macro_f1": float(
            f1_score(y_true.astype(str), pred.astype(str), average="macro", zero_division=0)
        ),
    }
    aucs = []
    for k in range(len(classes)):
        pos = onehot[:, k]
        if 0 < pos.sum() < len(pos):
            aucs.append(roc_auc_score(pos, proba[:, k]))
        if len(classes) == 2:
            break
    out["auroc"] = float(np.mean(aucs)) if aucs else float("nan")
    p = np.clip(proba, 1e-15, 1.0)
    out["log_loss"] = float(log_loss(onehot, p / p.sum(axis=1, keepdims=True)))
    out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    return out


#: Uno's C of a test fold truncates at ``tau`` = this quantile of the training patients'
#: follow-up times (deaths and censorings): at least ~20 % of them are still at risk before
#: tau, so the censoring weights G(t-)^-2 stay below ~25, and every weighted test death lies
#: within the training follow-up, where the training censoring distribution is known.
UNO_TAU_QUANTILE = 0.8


def uno_tau(train_time) -> float:
    """Truncation time of Uno's C on a test fold: the :data:`UNO_TAU_QUANTILE` quantile
    (numpy's linear interpolation) of the training patients' follow-up times."""
    return float(np.quantile(np.asarray(train_time, dtype=float), UNO_TAU_QUANTILE))


def _uno_fold(train_time, train_event, time, event, risk) -> float:
    """Uno's C of a test fold: censoring distribution from the training patients, truncated
    at :func:`uno_tau` of their follow-up (scikit-survival's ``concordance_index_ipcw``)."""
    from metpot.survival import uno_c

    return uno_c(time, event, risk, tau=uno_tau(train_time), train_time=train_time,
                 train_event=train_event)  # fmt: skip


def _survival_metrics(
    y_train: np.ndarray,
    y_test: np.ndarray,
    risk: np.ndarray,
    surv_fn,
    auc_times: Sequence[float],
    auc_names: Sequence[str],
) -> dict[str, float]:
    from sksurv.metrics import cumulative_dynamic_auc, integrated_brier_score

    from metpot.survival import harrell_c

    t, e = y_test["time"], y_test["event"]
    uno = _uno_fold(y_train["time"], y_train["event"], t, e, risk)
    out = {"harrell_c": harrell_c(t, e, risk), "uno_c": uno}
    tr_max = y_train["time"][y_train["event"]].max() if y_train["event"].any() else 0
    for lt, name in zip(auc_times, auc_names, strict=True):
        value = float("nan")
        if t.min() < lt < t.max() and lt < tr_max:
            try:
                value = float(cumulative_dynamic_auc(y_train, y_test, risk, [lt])[0][0])
            except ValueError:
                pass
        out[name] = value
    lo = max(np.quantile(t, 0.1), y_train["time"].min())
    hi = min(np.quantile(t, 0.8), t.max() * (1 - 1e-9), y_train["time"].max())
    ibs = float("nan")
    if surv_fn is not None and hi > lo:
        grid = np.linspace(lo, hi, 20)
        try:
            ibs = float(integrated_brier_score(y_train, y_test, surv_fn(grid), grid))
        except ValueError:
            pass
    out["integrated_brier"] = ibs
    return out


def _t_interval(values, ratio: float, conf: float = 0.95) -> tuple[float, float, float]:
    """Mean and corrected resampled t interval (Nadeau & Bengio 2003) over fold values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    se = float(np.sqrt((1.0 / v.size + ratio) * v.var(ddof=1)))
    q = float(stats.t.ppf(0.5 + conf / 2, v.size - 1))
    return m, m - q * se, m + q * se


_UNIT_INTERVAL = ("balanced_accuracy", "macro_f1", "auroc", "harrell_c", "uno_c", "td_auc_")


def _clip(metric: str, est: float, lo: float, hi: float) -> tuple[float, float, float]:
    """Keep an interval of a metric bounded by [0, 1] (or >= 0) within its range."""
    if metric.startswith(_UNIT_INTERVAL):
        return est, max(lo, 0.0), min(hi, 1.0)
    return est, max(lo, 0.0), hi


def _t_test(values, ratio: float) -> float:
    """Two-sided p-value of the corrected resampled t test that the mean is 0."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    se = float(np.sqrt((1.0 / v.size + ratio) * v.var(ddof=1)))
    if se == 0:
        return 0.0 if v.mean() != 0 else 1.0
    return float(2 * stats.t.sf(abs(v.mean() / se), v.size - 1))


CI_METHOD = (
    "mean over outer folds x repeats, corrected resampled t (Nadeau-Bengio 2003), "
    "clipped to the metric's range"
)

_LOWER_IS_BETTER = {"log_loss", "brier", "integrated_brier"}


def _landmark_names(years: Sequence[float]) -> list[str]:
    return [f"td_auc_{y:g}y" for y in years]


def _balanced_accuracy(y_true: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (scikit-learn's
    ``balanced_accuracy_score``, same arithmetic, without its input validation)."""
    labels, inv = np.unique(y_true, return_inverse=True)
    hits = np.bincount(inv, weights=(y_true == pred).astype(float), minlength=len(labels))
    return float(np.mean(hits / np.bincount(inv, minlength=len(labels))))
