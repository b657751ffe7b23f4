"""Survival statistics matching the R ``survival`` package.

Everything here is implemented in NumPy/SciPy and reproduces R (``survival`` 3.x, as shipped
with R 4.2) to floating-point accuracy on the reference outputs in ``../shared``:

* :func:`kaplan_meier`, :func:`survival_at`, :func:`median_survival` -- ``survfit``,
  ``summary(fit, times=)`` and ``print.survfit`` (Greenwood variance, ``log`` confidence
  intervals by default, upper limit clipped at 1).
* :func:`logrank_test`, :func:`pairwise_logrank` -- ``survdiff`` (``rho = 0``).
* :func:`cox_ph` -- ``coxph`` (Efron or Breslow ties, Newton-Raphson with step halving,
  ``eps = 1e-9`` on the relative log-likelihood change, ``iter.max = 20``), and
  :func:`treatment_dummies` to build ``factor(group)`` columns. The iteration is that of
  survival 3.x's ``coxfit6``: a failed step is pulled back by 1/2, 2/3, 3/4, ... towards the
  last accepted beta, and convergence is tested on every evaluated point (also after a
  pull-back). This detail decides agreement at the 1e-6 level: the classic "halve once, never
  stop while halving" rule or the trust-region variant end on different iterates and miss R's
  univariable p-values by up to ~1.3e-6 (relative).
* :func:`univariable_cox` -- one ``coxph(Surv(time, event) ~ x)`` per feature, vectorised:
  all features are fitted at once by a batched Newton-Raphson whose Efron risk-set sums are
  reverse cumulative sums over the time-sorted samples.
* :func:`cox_zph` -- ``cox.zph`` (score test for ``beta(t) = beta + gamma g(t)``, ``g`` the
  left-continuous ``1 - KM`` for ``transform = "km"``).
* :func:`harrell_c` -- ``concordance(Surv(time, event) ~ risk, reverse = TRUE)``;
  :func:`uno_c` (IPCW, Uno et al. 2011); :func:`bootstrap_ci`, :func:`concordance_table`.
* :func:`survival_frame` -- validate the time/event columns of a clinical table.

Functions take arrays or DataFrames and return DataFrames or dicts of plain Python floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from metpot.errors import MetpotError, name_list, warn_data

__all__ = [
    "CoxResult",
    "bootstrap_ci",
    "concordance_table",
    "cox_ph",
    "cox_zph",
    "harrell_c",
    "kaplan_meier",
    "logrank_test",
    "median_survival",
    "p_adjust",
    "pairwise_logrank",
    "survival_at",
    "survival_frame",
    "treatment_dummies",
    "uno_c",
    "univariable_cox",
]

#: Convergence tolerance of R's ``coxph.control()`` (relative change in log-likelihood).
COX_EPS = 1e-9
#: Maximum Newton-Raphson iterations of R's ``coxph.control()``.
COX_ITER_MAX = 20
#: Cholesky tolerance of R's ``coxph.control()`` (``.Machine$double.eps^0.75``).
COX_TOLER_CHOL = np.finfo(float).eps ** 0.75


# ---------------------------------------------------------------------------------------------
# input helpers
# ---------------------------------------------------------------------------------------------


def _as_time_event(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``time`` (finite, >= 0) and ``event`` (0/1 or bool) as 1-D arrays."""
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event).ravel()
    if t.shape != e_raw.shape:
        raise MetpotError(f"time has {t.size} values but event has {e_raw.size}")
    if t.size == 0:
        raise MetpotError("no patients: time and event are empty")
    if not np.all(np.isfinite(t)):
        raise MetpotError(f"time has {int(np.sum(~np.isfinite(t)))} missing/non-finite values")
    if np.any(t < 0):
        raise MetpotError(f"time has negative values: {name_list(np.unique(t[t < 0]))}")
    try:
        e = e_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise MetpotError(
            f"event must be 0/1 or boolean, got {name_list(np.unique(e_raw))}"
        ) from exc
    bad = ~np.isin(e, (0.0, 1.0))
    if np.any(bad):
        raise MetpotError(f"event must be 0/1 or boolean, got {name_list(np.unique(e_raw[bad]))}")
    return t, e.astype(bool)


def _f(x) -> float:
    """Plain float (NaN kept)."""
    return float(x)


# ---------------------------------------------------------------------------------------------
# survival_frame
# ---------------------------------------------------------------------------------------------


def survival_frame(
    clinical: pd.DataFrame,
    time_col: str,
    event_col: str,
    event_value: object,
    id_col: str | None = None,
) -> pd.DataFrame:
    """Validated survival outcome (``time`` float, ``event`` bool) of the usable patients.

    Patients with a missing, non-numeric or negative time, or a missing event status, are
    left out with a :class:`~metpot.errors.DataWarning` naming them; no outcome is imputed.

    Parameters
    ----------
    clinical : pandas.DataFrame
        One row per patient.
    time_col : str
        Follow-up time column (e.g. ``"os_days"``).
    event_col : str
        Event status column (e.g. ``"os_status"``); at most two distinct non-missing values.
    event_value : object
        The value of ``event_col`` meaning "event happened" (e.g. ``"Dead"``, ``1``, ``True``).
    id_col : str, optional
        Column with patient identifiers; by default the index of ``clinical``.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient id (input order kept), columns ``time`` (float) and ``event``
        (bool), usable patients only.

    Raises
    ------
    MetpotError
        A column is absent, the event column has more than two distinct values, the event
        value never occurs, or no patient is usable.
    """
    for col in (time_col, event_col) + ((id_col,) if id_col else ()):
        if col not in clinical.columns:
            raise MetpotError(
                f"clinical table has no column {col!r} (columns: {name_list(clinical.columns)})"
            )
    ids = clinical[id_col].astype(str).to_numpy() if id_col else clinical.index.astype(str)
    ids = np.asarray(ids)

    ev = clinical[event_col]
    ev_missing = ev.isna().to_numpy() | (ev.astype(str).str.strip() == "").to_numpy()
    seen = pd.unique(ev[~ev_missing])
    if len(seen) > 2:
        raise MetpotError(
            f"event column {event_col!r} has more than two distinct values: {name_list(seen)}"
        )
    if not any(_same_value(v, event_value) for v in seen):
        raise MetpotError(
            f"event value {event_value!r} never occurs in column {event_col!r} "
            f"(values seen: {name_list(seen)})"
        )
    event = np.array(
        [(not m) and _same_value(v, event_value) for v, m in zip(ev, ev_missing, strict=True)]
    )

    tm = pd.to_numeric(clinical[time_col], errors="coerce").to_numpy(dtype=float)
    bad_time = ~np.isfinite(tm)
    neg_time = np.isfinite(tm) & (tm < 0)
    drop = bad_time | neg_time | ev_missing
    if np.any(drop):
        reasons = []
        if np.any(bad_time):
            reasons.append(f"missing {time_col}: {name_list(ids[bad_time])}")
        if np.any(neg_time):
            reasons.append(f"negative {time_col}: {name_list(ids[neg_time])}")
        if np.any(ev_missing & ~bad_time & ~neg_time):
            reasons.append(
                f"missing {event_col}: {name_list(ids[ev_missing & ~bad_time & ~neg_time])}"
            )
        warn_data(
            f"{int(drop.sum())} of {len(ids)} patients left out of survival analysis ("
            + "; ".join(reasons)
            + ")"
        )
    keep = ~drop
    if not np.any(keep):
        raise MetpotError(
            f"no patient has a usable survival outcome in columns {time_col!r}/{event_col!r}"
        )
    out = pd.DataFrame({"time": tm[keep], "event": event[keep].astype(bool)}, index=ids[keep])
    out.index.name = id_col or clinical.index.name or "sample_id"
    return out


def _same_value(a: object, b: object) -> bool:
    """Equality used for event values: exact, else string comparison (``1`` == ``"1"``)."""
    try:
        if a == b:
            return True
    except (TypeError, ValueError):
        pass
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# log-rank
# ---------------------------------------------------------------------------------------------


def _group_codes(group, n: int) -> tuple[np.ndarray, list]:
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    if len(g) != n:
        raise MetpotError(f"group has {len(g)} values but time has {n}")
    if g.isna().any():
        raise MetpotError(f"group has {int(g.isna().sum())} missing values")
    try:
        levels = sorted(pd.unique(g))
    except TypeError:
        levels = sorted(pd.unique(g), key=str)
    codes = np.array([levels.index(v) for v in g], dtype=int)
    return codes, [_plain(v) for v in levels]


def _plain(v):
    """Python scalar from a NumPy scalar (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def logrank_test(time, event, group) -> dict:
    """Log-rank test as R ``survdiff(Surv(time, event) ~ group)`` (``rho = 0``).

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    group : array-like
        Group label per patient (two or more groups).

    Returns
    -------
    dict
        ``chisq``, ``df``, ``p``, and per group in sorted order ``groups``, ``n``,
        ``observed``, ``expected``, plus the ``variance`` matrix of ``O - E``. As R, groups with
        no expected events are left out of the statistic, which is computed on the remaining
        groups minus the first (solve; a generalised inverse if the matrix is singular).
    """
    t, e = _as_time_event(time, event)
    codes, levels = _group_codes(group, t.size)
    k = len(levels)
    if k < 2:
        raise MetpotError(f"log-rank test needs at least two groups, got {name_list(levels)}")
    utimes, inv = np.unique(t, return_inverse=True)
    m = utimes.size
    at_time = np.zeros((m, k))
    dead = np.zeros((m, k))
    np.add.at(at_time, (inv, codes), 1.0)
    np.add.at(dead, (inv, codes), e.astype(float))
    n_risk = np.cumsum(at_time[::-1], axis=0)[::-1]  # m x k
    n_tot = n_risk.sum(axis=1)
    d_tot = dead.sum(axis=1)
    ev = d_tot > 0
    nr, nt, dt = n_risk[ev], n_tot[ev], d_tot[ev]
    expected = (nr * (dt / nt)[:, None]).sum(axis=0)
    observed = dead.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(nt > 1, dt * (nt - dt) / (nt * nt * (nt - 1)), 0.0)
    var = np.diag((w[:, None] * nr * nt[:, None]).sum(axis=0)) - np.einsum("t,ti,tj->ij", w, nr, nr)
    use = expected > 0
    if use.sum() < 2:
        chisq, df = 0.0, 0
    else:
        diff = (observed - expected)[use][1:]
        vv = var[np.ix_(use, use)][1:, 1:]
        try:
            sol = np.linalg.solve(vv, diff)
        except np.linalg.LinAlgError:
            sol = np.linalg.pinv(vv) @ diff
        chisq = float(diff @ sol)
        df = int(use.sum() - 1)
    p = float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")
    return {
        "chisq": float(chisq),
        "df": df,
        "p": p,
        "groups": levels,
        "n": [int(x) for x in np.bincount(codes, minlength=k)],
        "observed": [float(x) for x in observed],
        "expected": [float(x) for x in expected],
        "variance": [[float(x) for x in row] for row in var],
    }


def p_adjust(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Multiple-testing adjustment as R ``p.adjust`` (``"holm"``, ``"BH"``, ``"bonferroni"``).

    Parameters
    ----------
    p : sequence of float
        Raw p-values (NaN kept as NaN and not counted).
    method : str
        Adjustment method.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values.
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    n = q.size
    if n == 0:
        return out
    if method == "holm":
        o = np.argsort(q, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * q[o]))
    elif method == "BH":
        o = np.argsort(q, kind="stable")[::-1]
        adj = np.minimum(1.0, np.minimum.accumulate(n / np.arange(n, 0, -1) * q[o]))
    elif method == "bonferroni":
        o = np.arange(n)
        adj = np.minimum(1.0, n * q)
    else:
        raise MetpotError(f"correction must be 'holm', 'BH' or 'bonferroni', got {method!r}")
    res = np.empty(n)
    res[o] = adj
    out[ok] = res
    return out


def pairwise_logrank(time, event, group, correction: str = "holm") -> pd.DataFrame:
    """Log-rank test for every pair of groups, with multiple-testing correction.

    Parameters
    ----------
    time, event, group : array-like
        As :func:`logrank_test`.
    correction : {"holm", "BH", "bonferroni"}
        R ``p.adjust`` method applied across the pairs.

    Returns
    -------
    pandas.DataFrame
        Columns ``group1``, ``group2``, ``chisq``, ``p``, ``p_adj``, one row per pair in sorted
        group order.
    """
    t, e = _as_time_event(time, event)
    codes, levels = _group_codes(group, t.size)
    rows = []
    for a, b in combinations(range(len(levels)), 2):
        sel = (codes == a) | (codes == b)
        res = logrank_test(t[sel], e[sel], codes[sel])
        rows.append((levels[a], levels[b], res["chisq"], res["p"]))
    out = pd.DataFrame(rows, columns=["group1", "group2", "chisq", "p"])
    out["p_adj"] = p_adjust(out["p"].to_numpy(), correction)
    return out


# ---------------------------------------------------------------------------------------------
# Cox model: core Efron/Breslow sums
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RiskSets:
    """Time-sorted layout shared by all Cox computations on one (time, event)."""

    order: np.ndarray  # samples sorted by ascending time
    group_start: np.ndarray  # first sorted index of each distinct time
    slot_group: np.ndarray  # distinct-time index of each death "slot" (one per death)
    slot_frac: np.ndarray  # Efron fraction k/d of each slot
    dead_sorted: np.ndarray  # event indicator in sorted order
    n_groups: int

    @classmethod
    def build(cls, t: np.ndarray, e: np.ndarray, ties: str) -> _RiskSets:
        order = np.argsort(t, kind="stable")
        ts = t[order]
        es = e[order]
        starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
        gid = np.cumsum(np.r_[True, ts[1:] != ts[:-1]]) - 1
        d = np.bincount(gid, weights=es.astype(float), minlength=starts.size).astype(int)
        slot_group = np.repeat(np.arange(starts.size), d)
        if ties == "efron":
            slot_frac = np.concatenate([np.arange(k) / k for k in d if k > 0]) if d.any() else []
        elif ties == "breslow":
            slot_frac = np.zeros(int(d.sum()))
        else:
            raise MetpotError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        return cls(order, starts, slot_group, np.asarray(slot_frac, float), es, starts.size)


def _rev_cumsum_groups(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum over samples with time >= each distinct time (last axis = sorted samples)."""
    c = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]
    return c[..., starts]


def _group_sums(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum within each distinct time (last axis = sorted samples)."""
    return np.add.reduceat(a, starts, axis=-1)


def _cox_derivs(rs: _RiskSets, xs: np.ndarray, beta: np.ndarray):
    """Log-likelihood, score and information for a multi-covariate Cox model.

    ``xs``: p x n covariates in sorted order (centred). Returns (loglik, u (p), imat (p x p)).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _cox_derivs_raw(rs, xs, beta)


def _cox_derivs_raw(rs: _RiskSets, xs: np.ndarray, beta: np.ndarray):
    eta = beta @ xs
    risk = np.exp(eta)
    dead = rs.dead_sorted
    p = xs.shape[0]
    s0 = _rev_cumsum_groups(risk, rs.group_start)
    d0 = _group_sums(risk * dead, rs.group_start)
    rx = risk * xs  # p x n
    s1 = _rev_cumsum_groups(rx, rs.group_start)
    d1 = _group_sums(rx * dead, rs.group_start)
    rxx = rx[:, None, :] * xs[None, :, :]
    s2 = _rev_cumsum_groups(rxx, rs.group_start)
    d2 = _group_sums(rxx * dead, rs.group_start)
    g, f = rs.slot_group, rs.slot_frac
    # Efron: the d tied deaths enter the k-th term with weight (1 - k/d) ... R adds
    # deaths successively: denominators (S0 - D0) + D0 * (k+1)/d, k = 0..d-1.
    denom = s0[g] - f * d0[g]
    m1 = (s1[:, g] - f * d1[:, g]) / denom
    m2 = (s2[:, :, g] - f * d2[:, :, g]) / denom
    loglik = float(np.sum(eta * dead) - np.sum(np.log(denom)))
    u = (xs * dead).sum(axis=1) - m1.sum(axis=1)
    imat = m2.sum(axis=2) - np.einsum("is,js->ij", m1, m1)
    if p == 0:
        imat = np.zeros((0, 0))
    return loglik, u, imat


def _cholesky2(mat: np.ndarray, toler: float) -> tuple[np.ndarray, int]:
    """R survival's ``cholesky2``: LDL' with zeroed singular pivots. Returns (ldl, rank)."""
    a = np.array(mat, dtype=float, copy=True)
    n = a.shape[0]
    a = np.triu(a) + np.triu(a, 1).T
    diag_max = max([a[i, i] for i in range(n)] + [0.0])
    eps = toler if diag_max == 0 else diag_max * toler
    rank = 0
    for i in range(n):
        pivot = a[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            a[i, i] = 0.0
        else:
            rank += 1
            for j in range(i + 1, n):
                temp = a[j, i] / pivot
                a[j, i] = temp
                a[j, j] -= temp * temp * pivot
                for k in range(j + 1, n):
                    a[k, j] -= temp * a[k, i]
    return a, rank


def _chsolve2(ldl: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R survival's ``chsolve2`` (solve with the ``cholesky2`` factor)."""
    n = ldl.shape[0]
    y = np.array(y, dtype=float, copy=True)
    for i in range(n):
        y[i] -= float(np.dot(y[:i], ldl[i, :i]))
    for i in range(n - 1, -1, -1):
        if ldl[i, i] == 0:
            y[i] = 0.0
        else:
            y[i] = y[i] / ldl[i, i] - float(np.dot(y[i + 1 :], ldl[i + 1 :, i]))
    return y


def _chinv(imat: np.ndarray, ldl: np.ndarray) -> np.ndarray:
    """Inverse of the information on the non-singular pivots, zero rows/cols elsewhere."""
    ok = np.diag(ldl) != 0
    out = np.zeros_like(imat)
    if ok.any():
        out[np.ix_(ok, ok)] = np.linalg.inv(imat[np.ix_(ok, ok)])
    return out


@dataclass
class CoxResult:
    """A fitted Cox proportional-hazards model (R ``coxph``).

    Attributes
    ----------
    terms : list of str
        Covariate names.
    coef, se, z, p, hr, hr_lower, hr_upper : list of float
        Per term (NaN for aliased terms, as R's NA); 95 % (``conf_level``) Wald CI of the HR.
    var : list of list of float
        Variance matrix of the coefficients.
    loglik : list of float
        Log partial likelihood at 0 and at the estimate (R's ``fit$loglik``).
    lr_test, wald_test, score_test : dict
        ``stat``, ``df``, ``p``.
    n, n_events, iterations : int
    converged : bool
    ties : str
    conf_level : float
    """

    terms: list[str]
    coef: list[float]
    se: list[float]
    z: list[float]
    p: list[float]
    hr: list[float]
    hr_lower: list[float]
    hr_upper: list[float]
    var: list[list[float]]
    loglik: list[float]
    lr_test: dict
    wald_test: dict
    score_test: dict
    n: int
    n_events: int
    iterations: int
    converged: bool
    ties: str
    conf_level: float
    _x: np.ndarray = field(repr=False, default=None)
    _time: np.ndarray = field(repr=False, default=None)
    _event: np.ndarray = field(repr=False, default=None)

    @property
    def table(self) -> pd.DataFrame:
        """Coefficient table: term, coef, se, z, p, hr, hr_lower, hr_upper."""
        return pd.DataFrame(
            {
                "term": self.terms,
                "coef": self.coef,
                "se": self.se,
                "z": self.z,
                "p": self.p,
                "hr": self.hr,
                "hr_lower": self.hr_lower,
                "hr_upper": self.hr_upper,
            }
        )

    def to_dict(self) -> dict:
        """JSON-serialisable summary (everything except the stored design)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _design(X) -> tuple[np.ndarray, list[str]]:
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        try:
            arr = X.to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
            raise MetpotError(
                f"Cox covariates must be numeric; non-numeric columns: {name_list(bad)} "
                "(use treatment_dummies for categorical covariates)"
            ) from exc
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        names = [f"x{i + 1}" for i in range(arr.shape[1])]
    if arr.ndim != 2:
        raise MetpotError(f"Cox covariates must be 2-D (samples x covariates), got {arr.ndim}-D")
    return arr, names


def cox_ph(
    X,
    time,
    event,
    ties: str = "efron",
    conf_level: float = 0.95,
    eps: float = COX_EPS,
    iter_max: int = COX_ITER_MAX,
) -> CoxResult:
    """Cox proportional-hazards regression as R ``coxph(Surv(time, event) ~ X)``.

    Newton-Raphson from ``beta = 0`` as R's ``coxfit6`` (survival 3.x): a step that lowers
    the log partial likelihood (or overflows) is pulled back towards the last accepted beta,
    by 1/2, then 2/3, 3/4, ... of its length while it keeps failing ("step halving"); the
    iteration stops as soon as the relative change of the log-likelihood against the best so
    far is ``<= eps``, returning the beta just evaluated; after ``iter_max`` iterations the
    last accepted beta is returned with ``converged = False``. Covariates are centred
    internally (the Newton path does not depend on centring or scaling). Aliased covariates
    (singular information, R's ``cholesky2`` tolerance) get NaN coefficients, as R's NA.

    Parameters
    ----------
    X : pandas.DataFrame or array-like
        Samples x covariates (numeric; see :func:`treatment_dummies` for factors).
    time, event : array-like
        Follow-up and event indicator.
    ties : {"efron", "breslow"}
        Tie handling (R's default Efron).
    conf_level : float
        Level of the hazard-ratio confidence intervals.
    eps, iter_max : float, int
        R's ``coxph.control(eps, iter.max)``.

    Returns
    -------
    CoxResult
    """
    t, e = _as_time_event(time, event)
    x, names = _design(X)
    if x.shape[0] != t.size:
        raise MetpotError(f"covariates have {x.shape[0]} rows but time has {t.size}")
    if not np.all(np.isfinite(x)):
        bad = [names[j] for j in np.flatnonzero(~np.all(np.isfinite(x), axis=0))]
        raise MetpotError(f"Cox covariates have missing values in: {name_list(bad)}")
    if not e.any():
        raise MetpotError("Cox model needs at least one event; there are none")
    p = x.shape[1]
    rs = _RiskSets.build(t, e, ties)
    xc = (x - x.mean(axis=0))[rs.order].T.copy()

    beta = np.zeros(p)
    ll0, u, imat = _cox_derivs(rs, xc, beta)
    ldl, _ = _cholesky2(imat, COX_TOLER_CHOL)
    step = _chsolve2(ldl, u)
    score_stat = float(u @ step)
    newbeta = beta + step
    loglik_best = ll0
    halving = 0
    converged = False
    iters = 0
    newlk = ll0
    final_beta = beta
    if p == 0 or iter_max == 0:
        converged = p == 0
    else:
        for it in range(1, iter_max + 1):
            iters = it
            newlk, u, imat = _cox_derivs(rs, xc, newbeta)
            ldl, _ = _cholesky2(imat, COX_TOLER_CHOL)
            finite = np.isfinite(newlk) and np.all(np.isfinite(u)) and np.all(np.isfinite(imat))
            if finite and abs(1 - loglik_best / newlk) <= eps:
                converged = True
                final_beta = newbeta
                break
            if not finite or newlk < loglik_best:
                # not converging: step back towards the last good beta, more each time
                halving += 1
                newbeta = (newbeta + halving * beta) / (halving + 1.0)
            else:
                halving = 0
                loglik_best = newlk
                step = _chsolve2(ldl, u)
                beta = newbeta
                newbeta = newbeta + step
        if not converged:
            # out of iterations: R reports the last accepted beta, with its derivatives
            final_beta = beta
            newlk, u, imat = _cox_derivs(rs, xc, beta)
            ldl, _ = _cholesky2(imat, COX_TOLER_CHOL)
    imat_new = imat
    var = _chinv(imat_new, ldl) if p else np.zeros((0, 0))
    sing = np.diag(var) == 0 if p else np.zeros(0, bool)
    coef = np.where(sing, np.nan, final_beta)
    se = np.where(sing, np.nan, np.sqrt(np.where(sing, 0.0, np.diag(var))))
    z = coef / se
    pval = 2 * stats.norm.sf(np.abs(z))
    zq = stats.norm.ppf(1 - (1 - conf_level) / 2)
    ok = ~sing
    df = int(ok.sum())
    lr = 2 * (newlk - ll0)
    if df:
        b = coef[ok]
        wald = float(b @ np.linalg.solve(var[np.ix_(ok, ok)], b))
    else:
        wald = 0.0

    def test(stat):
        return {"stat": float(stat), "df": df, "p": float(stats.chi2.sf(stat, df)) if df else 1.0}

    if p and not converged:
        warn_data(
            f"Cox model did not converge in {iter_max} iterations (coefficients of "
            f"{name_list(names)} possibly infinite); last accepted estimate reported"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        hr, hr_lo, hr_hi = np.exp(coef), np.exp(coef - zq * se), np.exp(coef + zq * se)
    return CoxResult(
        terms=names,
        coef=[_f(v) for v in coef],
        se=[_f(v) for v in se],
        z=[_f(v) for v in z],
        p=[_f(v) for v in pval],
        hr=[_f(v) for v in hr],
        hr_lower=[_f(v) for v in hr_lo],
        hr_upper=[_f(v) for v in hr_hi],
        var=[[_f(v) for v in row] for row in np.where(np.outer(ok, ok), var, np.nan)],
        loglik=[float(ll0), float(newlk)],
        lr_test=test(lr),
        wald_test=test(wald),
        score_test=test(score_stat),
        n=int(t.size),
        n_events=int(e.sum()),
        iterations=iters,
        converged=converged,
        ties=ties,
        conf_level=conf_level,
        _x=x,
        _time=t,
        _event=e,
    )


def largest_level(values: pd.Series):
    """The most frequent level (ties: the first in sorted order), R users' usual reference."""
    counts = values.value_counts()
    try:
        levels = sorted(counts.index)
    except TypeError:
        levels = sorted(counts.index, key=str)
    return next(lv for lv in levels if counts[lv] == counts.max())


def treatment_dummies(
    values,
    reference: object | None = None,
    prefix: str | None = None,
    index=None,
) -> pd.DataFrame:
    """Treatment-coded dummy columns for a categorical covariate (R's ``factor()`` coding).

    Parameters
    ----------
    values : array-like or pandas.Series
        The categorical values (no missing values).
    reference : object, optional
        Reference level (no column). Default: the largest group (ties: the first level in
        sorted order). R's own default is the first level; pass it to reproduce that.
    prefix : str, optional
        Column-name prefix; default ``"factor(<name>)"`` for a named Series, else
        ``"factor(group)"``. Columns are ``f"{prefix}{level}"`` as R names them.
    index : optional
        Index of the result (default: the Series' index, else a RangeIndex).

    Returns
    -------
    pandas.DataFrame
        One 0/1 float column per non-reference level, in sorted level order.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if s.isna().any():
        raise MetpotError(f"categorical covariate {s.name!r} has {int(s.isna().sum())} missing")
    try:
        levels = sorted(pd.unique(s))
    except TypeError:
        levels = sorted(pd.unique(s), key=str)
    if reference is None:
        reference = largest_level(s)
    elif not any(_same_value(reference, lv) for lv in levels):
        raise MetpotError(f"reference level {reference!r} not among the levels {name_list(levels)}")
    if prefix is None:
        prefix = f"factor({s.name})" if s.name is not None else "factor(group)"
    idx = index if index is not None else s.index
    cols = {
        f"{prefix}{lv}": (s.to_numpy() == lv).astype(float)
        for lv in levels
        if not _same_value(lv, reference)
    }
    return pd.DataFrame(cols, index=idx)


# ---------------------------------------------------------------------------------------------
# vectorised univariable Cox
# ---------------------------------------------------------------------------------------------


def _uni_derivs(rs: _RiskSets, xs: np.ndarray, beta: np.ndarray):
    """Per-feature loglik, score, information; ``xs`` F x n sorted & centred, ``beta`` F."""
    eta = beta[:, None] * xs
    risk = np.exp(eta)
    dead = rs.dead_sorted
    st = rs.group_start
    rx = risk * xs
    rxx = rx * xs
    g, f = rs.slot_group, rs.slot_frac
    s0 = _rev_cumsum_groups(risk, st)[:, g]
    s1 = _rev_cumsum_groups(rx, st)[:, g]
    s2 = _rev_cumsum_groups(rxx, st)[:, g]
    dd = dead.astype(float)
    d0 = _group_sums(risk * dd, st)[:, g]
    d1 = _group_sums(rx * dd, st)[:, g]
    d2 = _group_sums(rxx * dd, st)[:, g]
    denom = s0 - f * d0
    m1 = (s1 - f * d1) / denom
    m2 = (s2 - f * d2) / denom
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = (eta * dd).sum(axis=1) - np.log(denom).sum(axis=1)
    u = (xs * dd).sum(axis=1) - m1.sum(axis=1)
    imat = (m2 - m1 * m1).sum(axis=1)
    return loglik, u, imat


def univariable_cox(
    X,
    time,
    event,
    ties: str = "efron",
    eps: float = COX_EPS,
    iter_max: int = COX_ITER_MAX,
    chunk_size: int = 500,
) -> pd.DataFrame:
    """One univariable Cox model per feature, fitted for all features at once.

    Equivalent to R ``coxph(Surv(time, event) ~ x)`` for every column ``x`` of ``X`` (the
    CancerSubtypes ``FSbyCox`` filter): the same Newton-Raphson, step halving and
    convergence rule as :func:`cox_ph`, run as a batch over features (per-feature state), the
    Efron risk-set sums computed as reverse cumulative sums over the time-sorted samples.
    Constant features (and any feature whose information is 0 at the estimate) get NaN, as R's
    NA. Features with missing values are fitted one by one on their complete samples.

    Parameters
    ----------
    X : pandas.DataFrame or array-like
        Samples x features.
    time, event : array-like
        Follow-up and event indicator (one per sample).
    ties : {"efron", "breslow"}
        Tie handling.
    eps, iter_max : float, int
        Convergence tolerance and iteration limit (R's defaults).
    chunk_size : int
        Features per batch (bounds memory: about ``12 * chunk_size * n_samples`` doubles).

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``coef``, ``se``, ``z``, ``p``, ``n``, ``n_events``, ``converged``,
        one row per feature in input order.
    """
    t, e = _as_time_event(time, event)
    x, names = _design(X)
    if x.shape[0] != t.size:
        raise MetpotError(f"X has {x.shape[0]} samples but time has {t.size}")
    if not e.any():
        raise MetpotError("univariable Cox needs at least one event; there are none")
    nf = x.shape[1]
    coef = np.full(nf, np.nan)
    se = np.full(nf, np.nan)
    conv = np.zeros(nf, bool)
    n_used = np.full(nf, t.size)
    n_ev = np.full(nf, int(e.sum()))
    complete = np.all(np.isfinite(x), axis=0)
    rs = _RiskSets.build(t, e, ties)
    idx_complete = np.flatnonzero(complete)
    for start in range(0, idx_complete.size, max(1, chunk_size)):
        cols = idx_complete[start : start + chunk_size]
        b, s, c = _batched_newton(rs, x[:, cols], eps, iter_max)
        coef[cols], se[cols], conv[cols] = b, s, c
    for j in np.flatnonzero(~complete):
        ok = np.isfinite(x[:, j])
        n_used[j] = int(ok.sum())
        n_ev[j] = int(e[ok].sum())
        if ok.sum() < 2 or not e[ok].any() or np.ptp(x[ok, j]) == 0:
            continue
        fit = cox_ph(x[ok, j][:, None], t[ok], e[ok], ties=ties, eps=eps, iter_max=iter_max)
        coef[j], se[j], conv[j] = fit.coef[0], fit.se[0], fit.converged
    z = coef / se
    p = 2 * stats.norm.sf(np.abs(z))
    stuck = np.isfinite(coef) & ~conv
    if np.any(stuck):
        warn_data(
            f"univariable Cox did not converge in {iter_max} iterations for {int(stuck.sum())} "
            f"features (coefficient possibly infinite; last accepted estimate kept): "
            f"{name_list(np.asarray(names)[stuck])}"
        )
    return pd.DataFrame(
        {
            "feature": names,
            "coef": coef,
            "se": se,
            "z": z,
            "p": p,
            "n": n_used,
            "n_events": n_ev,
            "converged": conv,
        }
    )


def _batched_newton(rs: _RiskSets, x: np.ndarray, eps: float, iter_max: int):
    """Batched coxfit6 over the columns of ``x`` (n x F). Returns (coef, se, converged)."""
    nf = x.shape[1]
    const = np.ptp(x, axis=0) == 0
    xs = (x - x.mean(axis=0))[rs.order].T.copy()  # F x n sorted, centred
    beta = np.zeros(nf)
    ll, u, imat = _uni_derivs(rs, xs, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(imat > 0, u / imat, 0.0)
    newbeta = beta + step
    best = ll.copy()
    halving = np.zeros(nf)
    active = ~const
    conv = np.zeros(nf, bool)
    out_beta = np.full(nf, np.nan)
    out_info = np.full(nf, np.nan)
    for _ in range(iter_max):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            nl, nu, ni = _uni_derivs(rs, xs[act], newbeta[act])
            finite = np.isfinite(nl) & np.isfinite(nu) & np.isfinite(ni)
            finished = finite & (np.abs(1 - best[act] / nl) <= eps)
        fin = act[finished]
        out_beta[fin] = newbeta[fin]
        out_info[fin] = ni[finished]
        conv[fin] = True
        active[fin] = False
        cont = ~finished
        a2 = act[cont]
        nl2, nu2, ni2, fin2 = nl[cont], nu[cont], ni[cont], finite[cont]
        worse = ~fin2 | (nl2 < best[a2])
        hv = a2[worse]
        halving[hv] += 1
        newbeta[hv] = (newbeta[hv] + halving[hv] * beta[hv]) / (halving[hv] + 1.0)
        good = a2[~worse]
        halving[good] = 0
        best[good] = nl2[~worse]
        with np.errstate(divide="ignore", invalid="ignore"):
            stp = np.where(ni2[~worse] > 0, nu2[~worse] / ni2[~worse], 0.0)
        beta[good] = newbeta[good]
        newbeta[good] = newbeta[good] + stp
    rest = np.flatnonzero(active)
    if rest.size:
        # out of iterations: the last accepted beta, with its information (R's flag 1000)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _, _, ni = _uni_derivs(rs, xs[rest], beta[rest])
        out_beta[rest] = beta[rest]
        out_info[rest] = ni
    valid = (~const) & np.isfinite(out_info) & (out_info > 0)
    coef = np.where(valid, out_beta, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(valid, 1.0 / np.sqrt(np.where(valid, out_info, 1.0)), np.nan)
    return coef, se, conv & valid


# ---------------------------------------------------------------------------------------------
# proportional-hazards test
# ---------------------------------------------------------------------------------------------


def cox_zph(
    fit: CoxResult,
    transform: str | Callable = "km",
    terms: Mapping[str, Sequence[str]] | None = None,
    global_test: bool = True,
) -> pd.DataFrame:
    """Test of proportional hazards as R ``cox.zph`` (survival 3.x).

    A score test, at the fitted coefficients, of adding ``gamma * g(t) * x`` for each term,
    using the full information matrix of the augmented model (R's ``zph1``); ``g`` is the
    centred transform of time (``"km"``: 1 minus the left-continuous Kaplan-Meier of all
    patients; ``"rank"``, ``"log"``, ``"identity"`` or a callable).

    Parameters
    ----------
    fit : CoxResult
        From :func:`cox_ph`.
    transform : str or callable
        Time transform.
    terms : mapping, optional
        Term name -> covariate names, to test multi-column terms (e.g. the dummies of one
        factor) jointly. Default: each covariate is its own term.
    global_test : bool
        Add the ``GLOBAL`` row.

    Returns
    -------
    pandas.DataFrame
        Index: term names (+ ``GLOBAL``); columns ``chisq``, ``df``, ``p``.
    """
    if not isinstance(fit, CoxResult) or fit._x is None:
        raise MetpotError("cox_zph needs a CoxResult from cox_ph")
    keep = [i for i, c in enumerate(fit.coef) if np.isfinite(c)]
    names = [fit.terms[i] for i in keep]
    x = fit._x[:, keep]
    beta = np.array([fit.coef[i] for i in keep])
    t, e = fit._time, fit._event
    p = len(keep)
    if terms is None:
        groups = {nm: [j] for j, nm in enumerate(names)}
    else:
        groups = {}
        for term, cols in terms.items():
            missing = [c for c in cols if c not in fit.terms]
            if missing:
                raise MetpotError(f"cox_zph term {term!r}: unknown covariates {name_list(missing)}")
            idx = [names.index(c) for c in cols if c in names]
            if idx:
                groups[term] = idx
    if callable(transform):
        tt = np.asarray(transform(t), dtype=float)
    elif transform == "km":
        km = kaplan_meier(t, e)
        kt, ks = km["time"].to_numpy(), km["surv"].to_numpy()
        ind = np.searchsorted(kt, t, side="left")  # number of KM times strictly < t
        tt = 1.0 - np.r_[1.0, ks][ind]
    elif transform == "rank":
        tt = stats.rankdata(t)
    elif transform == "log":
        tt = np.log(t)
    elif transform == "identity":
        tt = t.astype(float)
    else:
        raise MetpotError(
            f"transform must be 'km', 'rank', 'log', 'identity' or a callable, got {transform!r}"
        )
    gtime = tt - tt[e].mean()

    rs = _RiskSets.build(t, e, fit.ties)
    xs = (x - x.mean(axis=0))[rs.order].T
    eta = beta @ xs
    risk = np.exp(eta)
    dead = rs.dead_sorted.astype(float)
    st = rs.group_start
    g, f = rs.slot_group, rs.slot_frac
    gt_group = gtime[rs.order][st]  # g(t) per distinct time
    s0 = _rev_cumsum_groups(risk, st)[g]
    d0 = _group_sums(risk * dead, st)[g]
    rx = risk * xs
    s1 = _rev_cumsum_groups(rx, st)[:, g]
    d1 = _group_sums(rx * dead, st)[:, g]
    rxx = rx[:, None, :] * xs[None, :, :]
    s2 = _rev_cumsum_groups(rxx, st)[:, :, g]
    d2 = _group_sums(rxx * dead, st)[:, :, g]
    denom = s0 - f * d0
    m1 = (s1 - f * d1) / denom
    v = (s2 - f * d2) / denom - m1[:, None, :] * m1[None, :, :]  # p x p x slots
    w = gt_group[g]
    gs = gtime[rs.order]
    u_gamma = (xs * dead * gs).sum(axis=1) - (m1 * w).sum(axis=1)
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = v.sum(axis=2)
    imat[:p, p:] = (v * w).sum(axis=2)
    imat[p:, :p] = imat[:p, p:].T
    imat[p:, p:] = (v * w * w).sum(axis=2)
    rows = []
    u0 = np.zeros(p)
    for term, jj in groups.items():
        kk = list(range(p)) + [p + j for j in jj]
        uu = np.r_[u0, u_gamma[jj]]
        stat = float(np.linalg.solve(imat[np.ix_(kk, kk)], uu) @ uu)
        rows.append((term, stat, len(jj)))
    if global_test:
        uu = np.r_[u0, u_gamma]
        rows.append(("GLOBAL", float(np.linalg.solve(imat, uu) @ uu), p))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"]).set_index("term")
    out["p"] = stats.chi2.sf(out["chisq"].to_numpy(), out["df"].to_numpy())
    return out


# ---------------------------------------------------------------------------------------------
# concordance
# ---------------------------------------------------------------------------------------------


def _risk_array(risk, n: int) -> np.ndarray:
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n:
        raise MetpotError(f"risk has {r.size} values but time has {n}")
    if not np.all(np.isfinite(r)):
        raise MetpotError(f"risk has {int(np.sum(~np.isfinite(r)))} missing/non-finite values")
    return r


def _harrell_counts(t, e, r) -> tuple[float, float]:
    """(concordant + tied/2, comparable) with R ``concordance`` conventions."""
    # comparable: i had an event and j was still at risk after t_i (t_j > t_i), or j was
    # censored at t_i (censorings at a death time count as after it); tied deaths are not.
    ti, tj = t[:, None], t[None, :]
    comp = e[:, None] & ((tj > ti) | ((tj == ti) & ~e[None, :]))
    ri, rj = r[:, None], r[None, :]
    conc = np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))
    return float((conc * comp).sum()), float(comp.sum())


def harrell_c(time, event, risk) -> float:
    """Harrell's concordance index as R ``concordance(Surv(time, event) ~ risk, reverse=TRUE)``.

    A higher ``risk`` predicts shorter survival. A pair is comparable when the shorter time is
    an event (a censoring at the same time as a death counts as later; two deaths at the same
    time are not comparable); pairs tied on ``risk`` count 1/2. This is R's default
    (``timewt = "n"``) Harrell C.

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    risk : array-like
        Risk score (higher = worse prognosis). For a survival-time prediction, pass its
        negative.

    Returns
    -------
    float
        C in [0, 1] (NaN if no comparable pair).
    """
    t, e = _as_time_event(time, event)
    r = _risk_array(risk, t.size)
    num, den = _harrell_counts(t, e, r)
    return num / den if den > 0 else float("nan")


def _censoring_km_left(t: np.ndarray, e: np.ndarray) -> np.ndarray:
    """G(t-) of the censoring distribution (KM with censorings as events), at each t_i."""
    km = kaplan_meier(t, ~e, conf_type="none")
    kt, ks = km["time"].to_numpy(), km["surv"].to_numpy()
    ind = np.searchsorted(kt, t, side="left")
    return np.r_[1.0, ks][ind]


def uno_c(time, event, risk, tau: float | None = None) -> float:
    """Uno's IPCW concordance (Uno et al., Stat Med 2011).

    ``C = sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau) [I(r_i > r_j) + I(r_i = r_j)/2] /
    sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau)``, ``G`` the Kaplan-Meier estimate of the
    censoring distribution (left limit at ``T_i``). Without censoring it equals
    :func:`harrell_c`.

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    risk : array-like
        Risk score (higher = worse prognosis).
    tau : float, optional
        Truncation time; default no truncation (all event times).

    Returns
    -------
    float
        C in [0, 1] (NaN if no comparable pair).
    """
    t, e = _as_time_event(time, event)
    r = _risk_array(risk, t.size)
    num, den = _uno_counts(t, e, r, tau)
    return num / den if den > 0 else float("nan")


def _uno_counts(t, e, r, tau):
    g = _censoring_km_left(t, e)
    ok = e & (g > 0)
    if tau is not None:
        ok &= t < tau
    w = np.zeros_like(t)
    w[ok] = 1.0 / g[ok] ** 2
    comp = ok[:, None] & (t[:, None] < t[None, :])
    ri, rj = r[:, None], r[None, :]
    conc = np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))
    wc = comp * w[:, None]
    return float((wc * conc).sum()), float(wc.sum())


def bootstrap_ci(
    fn: Callable[..., float],
    *arrays,
    n_boot: int = 1000,
    seed: int = 0,
    conf: float = 0.95,
) -> dict:
    """Percentile bootstrap confidence interval of a statistic.

    Patients (rows of every array, resampled together) are drawn with replacement
    ``n_boot`` times with ``numpy.random.default_rng(seed)``, so the result is deterministic.

    Parameters
    ----------
    fn : callable
        ``fn(*arrays) -> float``.
    *arrays : array-like
        Per-patient arrays (same length), e.g. ``time, event, risk``.
    n_boot : int
        Number of resamples.
    seed : int
        Random seed.
    conf : float
        Confidence level.

    Returns
    -------
    dict
        ``estimate`` (on the original data), ``lower``, ``upper``, ``n_boot`` (resamples with
        a finite statistic), ``conf``.
    """
    arrs = [np.asarray(a) for a in arrays]
    if not arrs:
        raise MetpotError("bootstrap_ci needs at least one array")
    n = len(arrs[0])
    if any(len(a) != n for a in arrs):
        raise MetpotError(f"bootstrap_ci arrays differ in length: {[len(a) for a in arrs]}")
    est = float(fn(*arrs))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        vals[b] = fn(*[a[idx] for a in arrs])
    lo, hi = _percentile_ci(vals, conf)
    return {
        "estimate": est,
        "lower": lo,
        "upper": hi,
        "n_boot": int(np.isfinite(vals).sum()),
        "conf": float(conf),
    }


def _percentile_ci(vals: np.ndarray, conf: float) -> tuple[float, float]:
    v = vals[np.isfinite(vals)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1 - conf) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def concordance_table(
    time,
    event,
    predictors: Mapping[str, Sequence[float]] | pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    conf: float = 0.95,
    tau: float | None = None,
    compare: Sequence[tuple[str, str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Harrell and Uno C, with bootstrap CIs on shared resamples, for several predictors.

    All predictors are evaluated on the SAME bootstrap resamples, so their CIs and the CIs of
    their differences compare the models on identical patients.

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    predictors : mapping or pandas.DataFrame
        Name -> risk score (higher = worse prognosis), one value per patient.
    n_boot, seed, conf : int, int, float
        Bootstrap settings (see :func:`bootstrap_ci`).
    tau : float, optional
        Truncation time for Uno's C.
    compare : sequence of (str, str), optional
        Pairs ``(a, b)`` whose difference ``C_a - C_b`` is reported; default all pairs.

    Returns
    -------
    dict
        ``"table"``: DataFrame with one row per predictor, columns ``predictor``,
        ``harrell_c``, ``harrell_lower``, ``harrell_upper``, ``uno_c``, ``uno_lower``,
        ``uno_upper``; ``"differences"``: DataFrame with ``predictor_a``, ``predictor_b``,
        ``metric`` (``harrell``/``uno``), ``difference``, ``lower``, ``upper``.
    """
    t, e = _as_time_event(time, event)
    if isinstance(predictors, pd.DataFrame):
        preds = {str(c): predictors[c].to_numpy(float) for c in predictors.columns}
    else:
        preds = {str(k): _risk_array(v, t.size) for k, v in predictors.items()}
    if not preds:
        raise MetpotError("concordance_table needs at least one predictor")
    for k, v in preds.items():
        preds[k] = _risk_array(v, t.size)
    names = list(preds)
    if compare is None:
        compare = list(combinations(names, 2))
    for a, b in compare:
        for nm in (a, b):
            if nm not in preds:
                raise MetpotError(f"unknown predictor {nm!r} (known: {name_list(names)})")

    def both(idx):
        tt, ee = t[idx], e[idx]
        out = {}
        for nm in names:
            r = preds[nm][idx]
            hn, hd = _harrell_counts(tt, ee, r)
            un, ud = _uno_counts(tt, ee, r, tau)
            out[nm] = (hn / hd if hd else np.nan, un / ud if ud else np.nan)
        return out

    full = both(np.arange(t.size))
    rng = np.random.default_rng(seed)
    boot = {nm: np.empty((n_boot, 2)) for nm in names}
    for b in range(n_boot):
        idx = rng.integers(0, t.size, t.size)
        res = both(idx)
        for nm in names:
            boot[nm][b] = res[nm]
    rows = []
    for nm in names:
        hl, hu = _percentile_ci(boot[nm][:, 0], conf)
        ul, uu = _percentile_ci(boot[nm][:, 1], conf)
        rows.append((nm, full[nm][0], hl, hu, full[nm][1], ul, uu))
    table = pd.DataFrame(
        rows,
        columns=[
            "predictor",
            "harrell_c",
            "harrell_lower",
            "harrell_upper",
            "uno_c",
            "uno_lower",
            "uno_upper",
        ],
    )
    drows = []
    for a, b in compare:
        for k, metric in enumerate(("harrell", "uno")):
            lo, hi = _percentile_ci(boot[a][:, k] - boot[b][:, k], conf)
            drows.append((a, b, metric, float(full[a][k] - full[b][k]), lo, hi))
    diffs = pd.DataFrame(
        drows, columns=["predictor_a", "predictor_b", "metric", "difference", "lower", "upper"]
    )
    return {"table": table, "differences": diffs}
