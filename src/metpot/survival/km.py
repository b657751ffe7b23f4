"""Kaplan-Meier estimate, survival at given times and median survival (R ``survfit``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from metpot.errors import MetpotError, name_list
from metpot.survival.data import _as_time_event


def kaplan_meier(time, event, conf_level: float = 0.95, conf_type: str = "log") -> pd.DataFrame:
    """Kaplan-Meier estimate exactly as R ``survfit(Surv(time, event) ~ 1)``.

    Parameters
    ----------
    time, event : array-like
        Follow-up times (>= 0) and event indicators (0/1 or bool).
    conf_level : float
        Confidence level of the pointwise interval.
    conf_type : {"log", "log-log", "plain", "none"}
        Transformation of the interval (R's ``conf.type``; ``"log"`` is R's default).

    Returns
    -------
    pandas.DataFrame
        One row per distinct time (events and censorings), columns ``time``, ``n_risk``,
        ``n_event``, ``n_censor``, ``surv``, ``std_err`` (standard error of ``surv``, as in
        ``summary.survfit``; Greenwood), ``std_err_log`` (standard error of the cumulative
        hazard, R's ``fit$std.err``), ``lower``, ``upper`` (NaN where ``surv`` is 0, as R).
    """
    t, e = _as_time_event(time, event)
    utimes, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e.astype(float), minlength=utimes.size)
    n_total = np.bincount(inv, minlength=utimes.size).astype(float)
    n_censor = n_total - n_event
    n_risk = np.cumsum(n_total[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    se_log = np.sqrt(np.cumsum(term))
    lower, upper = _km_confint(surv, se_log, conf_level, conf_type)
    with np.errstate(invalid="ignore"):
        std_err = surv * se_log
    std_err = np.where(surv == 0, np.where(np.isfinite(se_log), 0.0, np.nan), std_err)
    return pd.DataFrame(
        {
            "time": utimes,
            "n_risk": n_risk.astype(int),
            "n_event": n_event.astype(int),
            "n_censor": n_censor.astype(int),
            "surv": surv,
            "std_err": std_err,
            "std_err_log": se_log,
            "lower": lower,
            "upper": upper,
        }
    )


def _km_confint(surv, se_log, conf_level, conf_type):
    """R's ``survfit_confint`` (``ulimit = TRUE``)."""
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            lower = np.exp(np.log(xx) - z * se_log)
            upper = np.minimum(np.exp(np.log(xx) + z * se_log), 1.0)
        elif conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            temp3 = -np.log(xx)
            temp1 = np.exp(-np.exp(np.log(temp3) + z * se_log / np.log(xx)))
            temp2 = np.exp(-np.exp(np.log(temp3) - z * se_log / np.log(xx)))
            lower, upper = temp2, temp1
            lower = np.where(surv == 1, 1.0, lower)
            upper = np.where(surv == 1, 1.0, upper)
        elif conf_type == "plain":
            se = surv * se_log
            lower = np.maximum(surv - z * se, 0.0)
            upper = np.minimum(surv + z * se, 1.0)
        elif conf_type == "none":
            lower = np.full_like(surv, np.nan)
            upper = np.full_like(surv, np.nan)
        else:
            raise MetpotError(
                f"conf_type must be 'log', 'log-log', 'plain' or 'none', got {conf_type!r}"
            )
    return lower, upper


def _km_from(km_or_time_event) -> pd.DataFrame:
    if isinstance(km_or_time_event, pd.DataFrame):
        need = {"time", "n_risk", "surv", "lower", "upper"}
        if not need.issubset(km_or_time_event.columns):
            raise MetpotError(
                f"not a kaplan_meier table: missing columns "
                f"{name_list(sorted(need - set(km_or_time_event.columns)))}"
            )
        return km_or_time_event
    time, event = km_or_time_event
    return kaplan_meier(time, event)


def survival_at(km_or_time_event, times: Sequence[float]) -> pd.DataFrame:
    """Survival at given times, as R ``summary(fit, times = times)``.

    The curve is a right-continuous step function: the value at ``t`` is the one at the last
    observed time ``<= t`` (1 before the first). ``n_risk`` is the number still at risk at
    ``t`` (follow-up ``>= t``). Times beyond the last follow-up, which R drops (without
    ``extend = TRUE``), get NaN.

    Parameters
    ----------
    km_or_time_event : pandas.DataFrame or tuple
        A :func:`kaplan_meier` table, or ``(time, event)``.
    times : sequence of float
        Query times.

    Returns
    -------
    pandas.DataFrame
        Columns ``time``, ``n_risk``, ``surv``, ``std_err``, ``lower``, ``upper``.
    """
    km = _km_from(km_or_time_event)
    kt = km["time"].to_numpy(float)
    q = np.asarray(times, dtype=float).ravel()
    idx = np.searchsorted(kt, q, side="right") - 1  # last time <= t
    first_ge = np.searchsorted(kt, q, side="left")  # first time >= t
    n0 = int(km["n_risk"].iloc[0]) if len(km) else 0
    rows = []
    for t, i, j in zip(q, idx, first_ge, strict=True):
        n_risk = int(km["n_risk"].iloc[j]) if j < len(km) else 0
        if len(km) and t > kt[-1]:
            rows.append((t, 0, np.nan, np.nan, np.nan, np.nan))
        elif i < 0:
            rows.append((t, n0 if j == 0 else n_risk, 1.0, 0.0, 1.0, 1.0))
        else:
            r = km.iloc[i]
            se = float(r["std_err"]) if "std_err" in km.columns else np.nan
            rows.append((t, n_risk, float(r["surv"]), se, float(r["lower"]), float(r["upper"])))
    return pd.DataFrame(rows, columns=["time", "n_risk", "surv", "std_err", "lower", "upper"])


def _minmin(y: np.ndarray, x: np.ndarray) -> float:
    """R ``print.survfit``'s ``minmin``: first x where y <= 0.5 (averaging an exact 0.5)."""
    tol = np.sqrt(np.finfo(float).eps)
    keep = ~np.isnan(y) & (y < 0.5 + tol)
    if not np.any(keep):
        return float("nan")
    x, y = x[keep], y[keep]
    if abs(y[0] - 0.5) < tol and np.any(y < y[0]):
        return float((x[0] + x[np.argmax(y < y[0])]) / 2)
    return float(x[0])


def median_survival(km_or_time_event) -> dict[str, float]:
    """Median survival and its confidence interval as R ``print.survfit``.

    The median is the first time the curve is ``<= 0.5`` (the midpoint to the next drop if
    the curve sits exactly at 0.5); the lower/upper limits are the times where the lower/upper
    confidence curves first reach 0.5 (so lower <= median <= upper). NaN when not reached.

    Parameters
    ----------
    km_or_time_event : pandas.DataFrame or tuple
        A :func:`kaplan_meier` table, or ``(time, event)``.

    Returns
    -------
    dict
        ``median``, ``lower``, ``upper`` (floats, NaN if not reached).
    """
    km = _km_from(km_or_time_event)
    x = km["time"].to_numpy(float)
    return {
        "median": _minmin(km["surv"].to_numpy(float), x),
        "lower": _minmin(km["lower"].to_numpy(float), x),
        "upper": _minmin(km["upper"].to_numpy(float), x),
    }
