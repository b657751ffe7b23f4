"""Log-rank tests (R ``survdiff``, ``rho = 0``) and ``p.adjust``."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from metpot.errors import MetpotError, name_list
from metpot.survival.data import _as_time_event, _plain, _sorted_levels


def _group_codes(group, n: int) -> tuple[np.ndarray, list]:
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    if len(g) != n:
        raise MetpotError(f"group has {len(g)} values but time has {n}")
    if g.isna().any():
        raise MetpotError(f"group has {int(g.isna().sum())} missing values")
    levels = _sorted_levels(pd.unique(g))
    codes = np.array([levels.index(v) for v in g], dtype=int)
    return codes, [_plain(v) for v in levels]


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
