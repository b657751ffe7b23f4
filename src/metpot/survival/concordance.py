"""Harrell's and Uno's concordance in O(n log n), and their bootstrap.

The patients are sorted by time once; a Fenwick (binary indexed) tree over the ranks of the
risk score, filled from the longest follow-up down, counts for every death how many
comparable patients have a lower and an equal risk. A bootstrap resample is the same
computation with each patient counted as often as it was drawn, so the sort and the ranks
are shared by all resamples and predictors; the counts are integers, so Harrell's C is exact
and Uno's C differs from a pairwise sum only by rounding.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from numba import njit

from metpot.errors import MetpotError, name_list
from metpot.survival.data import _as_time_event, _risk_array


@njit(cache=True)
def _pair_counts(start, stop, event, ranks, n_ranks, count, tau_group, g_fixed, out):
    """Harrell and Uno sums of every predictor on one (weighted) sample.

    ``start``/``stop`` delimit the distinct times (ascending) of the time-sorted patients,
    ``event`` their event indicators, ``ranks`` (K x n) the dense 1-based ranks of each risk
    score, ``count`` how often each patient is counted (0 leaves it out), ``tau_group`` the
    first distinct time not before ``tau``, ``g_fixed`` the censoring survival G(t-) at each
    distinct time from another sample (empty: estimated on this one). Writes, per predictor,
    Harrell's concordant (+ tied / 2) and comparable counts and Uno's weighted ones into
    ``out`` (K x 4).
    """
    n_groups = start.size
    # censoring Kaplan-Meier, left limit G(t-) at each distinct time: the product over the
    # earlier present times s of (1 - censored(s) / at_risk(s)), as kaplan_meier(t, ~e)
    weight = np.zeros(n_groups)
    at_risk = 0
    for i in range(count.size):
        at_risk += count[i]
    g_left = 1.0
    for gi in range(n_groups):
        if g_fixed.size > 0:
            if gi < tau_group and g_fixed[gi] > 0.0:
                weight[gi] = 1.0 / (g_fixed[gi] * g_fixed[gi])
            continue
        total = 0
        censored = 0
        for i in range(start[gi], stop[gi]):
            total += count[i]
            if not event[i]:
                censored += count[i]
        if total == 0:
            continue
        if gi < tau_group and g_left > 0.0:
            weight[gi] = 1.0 / (g_left * g_left)
        g_left = g_left * (1.0 - censored / at_risk)
        at_risk -= total
    for k in range(ranks.shape[0]):
        rank = ranks[k]
        tree = np.zeros(n_ranks[k] + 1, np.int64)
        inserted = 0
        h_num = 0
        h_den = 0
        u_num = 0.0
        u_den = 0.0
        for gi in range(n_groups - 1, -1, -1):
            lo, hi = start[gi], stop[gi]
            # Uno: the tree holds the patients with a strictly later time
            g_num, g_den = _query_deaths(tree, lo, hi, event, rank, count, inserted)
            if weight[gi] > 0.0:
                u_num += weight[gi] * g_num
                u_den += weight[gi] * g_den
            # Harrell: also the patients censored at this time
            inserted += _insert(tree, lo, hi, event, False, rank, count)
            num, den = _query_deaths(tree, lo, hi, event, rank, count, inserted)
            h_num += num
            h_den += den
            inserted += _insert(tree, lo, hi, event, True, rank, count)
        out[k, 0] = h_num / 2.0
        out[k, 1] = h_den
        out[k, 2] = u_num / 2.0
        out[k, 3] = u_den


@njit(cache=True, inline="always")
def _query_deaths(tree, lo, hi, event, rank, count, inserted):
    """Over the deaths in ``[lo, hi)``: sum of count * (2 * lower + equal), count * inserted."""
    num = 0
    den = 0
    for i in range(lo, hi):
        if event[i] and count[i] > 0:
            below = _prefix(tree, rank[i] - 1)
            num += count[i] * (below + _prefix(tree, rank[i]))
            den += count[i] * inserted
    return num, den


@njit(cache=True, inline="always")
def _insert(tree, lo, hi, event, deaths, rank, count):
    """Add the deaths (or, ``deaths`` False, the censorings) in ``[lo, hi)``; how many."""
    added = 0
    for i in range(lo, hi):
        if event[i] == deaths and count[i] > 0:
            pos = rank[i]
            while pos < tree.size:
                tree[pos] += count[i]
                pos += pos & -pos
            added += count[i]
    return added


@njit(cache=True, inline="always")
def _prefix(tree, rank):
    """Total count of the ranks 1..rank."""
    total = 0
    while rank > 0:
        total += tree[rank]
        rank -= rank & -rank
    return total


@njit(cache=True)
def _pair_counts_rows(start, stop, event, ranks, n_ranks, counts, tau_group, g_fixed, out):
    """:func:`_pair_counts` for each row of ``counts`` (B x n) into ``out`` (B x K x 4)."""
    for b in range(counts.shape[0]):
        _pair_counts(start, stop, event, ranks, n_ranks, counts[b], tau_group, g_fixed, out[b])


class _Layout:
    """Patients sorted by time, and the risk ranks of each predictor, for the kernels."""

    def __init__(
        self,
        t: np.ndarray,
        e: np.ndarray,
        risks: np.ndarray,
        tau: float | None,
        train: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.order = np.argsort(t, kind="stable")
        ts = t[self.order]
        new = np.r_[True, ts[1:] != ts[:-1]]
        self.start = np.flatnonzero(new)
        self.stop = np.r_[self.start[1:], ts.size]
        self.event = e[self.order]
        # dense 1-based ranks: equal risks share a rank
        self.ranks = np.empty(risks.shape, np.int64)
        self.n_ranks = np.empty(risks.shape[0], np.int64)
        for k, r in enumerate(risks):
            levels, inv = np.unique(r[self.order], return_inverse=True)
            self.ranks[k] = inv + 1
            self.n_ranks[k] = levels.size
        # deaths at the first tau_group distinct times (those before tau) are weighted
        self.tau_group = self.start.size if tau is None else int(np.sum(ts[self.start] < tau))
        # Uno's weights from the censoring distribution of a training sample, or (empty) of
        # each resample itself
        self.g_fixed = np.empty(0)
        if train is not None:
            times = ts[self.start]
            weighted = self.event & (ts < (np.inf if tau is None else tau))
            if weighted.any() and ts[weighted].max() > train[0].max():
                raise MetpotError(
                    f"uno_c: a death at {ts[weighted].max():g} is after the training patients' "
                    f"longest follow-up ({train[0].max():g}), where their censoring "
                    "distribution is unknown; choose tau at most that follow-up"
                )
            self.g_fixed = _censoring_left(*train, times)

    def sums(self, resamples: Iterable[np.ndarray], block: int = 64) -> np.ndarray:
        """(B x K x 4) sums for each resample (patient indices, original order)."""
        n = self.order.size
        resamples = iter(resamples)
        parts = [np.empty((0, self.ranks.shape[0], 4))]
        while first := list(itertools.islice(resamples, block)):
            counts = np.empty((len(first), n), np.int64)
            for b, idx in enumerate(first):
                counts[b] = np.bincount(idx, minlength=n)[self.order]
            out = np.empty((len(first), self.ranks.shape[0], 4))
            args = (self.start, self.stop, self.event, self.ranks, self.n_ranks)
            _pair_counts_rows(*args, counts, self.tau_group, self.g_fixed, out)
            parts.append(out)
        return np.concatenate(parts)


def _censoring_left(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Censoring Kaplan-Meier of (``time``, ``event``), left limit ``G(at-)``: the product over
    the times ``s < at`` of ``1 - censored(s) / at_risk(s)`` (the kernel's own estimate)."""
    ts, inv = np.unique(time, return_inverse=True)
    total = np.bincount(inv, minlength=ts.size)
    censored = np.bincount(inv, weights=~event, minlength=ts.size)
    at_risk = time.size - np.r_[0, np.cumsum(total)[:-1]]
    g = np.r_[1.0, np.cumprod(1.0 - censored / at_risk)]
    return g[np.searchsorted(ts, at, side="left")]


def _ratios(sums: np.ndarray) -> np.ndarray:
    """(..., 2) Harrell and Uno C from (..., 4) sums; NaN without a comparable pair."""
    num = sums[..., [0, 2]]
    den = sums[..., [1, 3]]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _single(time, event, risk, tau, train=None) -> np.ndarray:
    t, e = _as_time_event(time, event)
    r = _risk_array(risk, t.size)
    return _ratios(_Layout(t, e, r[None], tau, train).sums([np.arange(t.size)]))[0, 0]


def harrell_c(time, event, risk) -> float:
    """Harrell's concordance index as R ``concordance(Surv(time, event) ~ risk, reverse=TRUE)``.

    A higher ``risk`` predicts shorter survival. A pair is comparable when the shorter time is
    an event (a censoring at the same time as a death counts as later; two deaths at the same
    time are not comparable); pairs tied on ``risk`` count 1/2. This is R's default
    (``timewt = "n"``) Harrell C. Computed in O(n log n).

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
    return float(_single(time, event, risk, None)[0])


def uno_c(
    time,
    event,
    risk,
    tau: float | None = None,
    *,
    train_time=None,
    train_event=None,
) -> float:
    """Uno's IPCW concordance (Uno et al., Stat Med 2011).

    ``C = sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau) [I(r_i > r_j) + I(r_i = r_j)/2] /
    sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau)``, ``G`` the Kaplan-Meier estimate of the
    censoring distribution (left limit at ``T_i``). Without censoring it equals
    :func:`harrell_c`. Computed in O(n log n).

    ``G`` is estimated on the patients evaluated (``time``, ``event``; right for a whole
    cohort) or, given ``train_time`` and ``train_event``, on those training patients, as
    scikit-survival's ``concordance_index_ipcw(survival_train, survival_test, risk, tau)``
    does (right for a test fold: the censoring distribution of ~50 test patients is a poor
    estimate). The training estimate is unknown after the training patients' longest
    follow-up: a weighted death (before ``tau``) later than it raises :class:`MetpotError`.

    scikit-survival's ``concordance_index_ipcw(y_train, y, risk, tau, tied_tol=0)`` gives the
    same value when no death shares its time with a censoring (of the evaluated patients, or of
    the training patients given them). At such a tie it differs in two ways: it counts the
    censored patient as comparable (as Harrell's C does; here ``T_i < T_j`` is strict), and it
    weights the death by ``G(T_i)``, a censoring Kaplan-Meier in which the tied deaths leave
    the risk set before the censorings, instead of ``G(T_i-)``. Its default ``tied_tol = 1e-8``
    also counts risks closer than 1e-8 as tied (here only equal risks).

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    risk : array-like
        Risk score (higher = worse prognosis).
    tau : float, optional
        Truncation time: only deaths before ``tau`` are the earlier member of a pair; default
        no truncation (all event times).
    train_time, train_event : array-like, optional
        Follow-up and event indicator of the training patients, for the censoring
        distribution (both or neither).

    Returns
    -------
    float
        C in [0, 1] (NaN if no comparable pair).
    """
    if (train_time is None) != (train_event is None):
        raise MetpotError("uno_c: give both train_time and train_event, or neither")
    train = None if train_time is None else _as_time_event(train_time, train_event)
    return float(_single(time, event, risk, tau, train)[1])


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
    vals = np.array([fn(*[a[idx] for a in arrs]) for idx in _resamples(n, n_boot, seed)], float)
    lo, hi = _percentile_ci(vals, conf)
    return {
        "estimate": est,
        "lower": lo,
        "upper": hi,
        "n_boot": int(np.isfinite(vals).sum()),
        "conf": float(conf),
    }


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The resamples' patient indices: ``rng.integers(0, n, n)`` ``n_boot`` times."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n, n)


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
    their differences compare the models on identical patients. Resample ``b`` draws the
    patients ``numpy.random.default_rng(seed).integers(0, n, n)`` (the b-th such call).

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
        preds = {str(k): v for k, v in predictors.items()}
    if not preds:
        raise MetpotError("concordance_table needs at least one predictor")
    names = list(preds)
    if compare is None:
        compare = list(combinations(names, 2))
    for a, b in compare:
        for nm in (a, b):
            if nm not in preds:
                raise MetpotError(f"unknown predictor {nm!r} (known: {name_list(names)})")
    layout = _Layout(t, e, np.array([_risk_array(preds[nm], t.size) for nm in names]), tau)
    full = _ratios(layout.sums([np.arange(t.size)]))[0]  # K x 2
    boot = _ratios(layout.sums(_resamples(t.size, n_boot, seed)))  # B x K x 2
    rows = []
    for k, nm in enumerate(names):
        hl, hu = _percentile_ci(boot[:, k, 0], conf)
        ul, uu = _percentile_ci(boot[:, k, 1], conf)
        rows.append((nm, float(full[k, 0]), hl, hu, float(full[k, 1]), ul, uu))
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
        ka, kb = names.index(a), names.index(b)
        for m, metric in enumerate(("harrell", "uno")):
            lo, hi = _percentile_ci(boot[:, ka, m] - boot[:, kb, m], conf)
            drows.append((a, b, metric, float(full[ka, m] - full[kb, m]), lo, hi))
    diffs = pd.DataFrame(
        drows, columns=["predictor_a", "predictor_b", "metric", "difference", "lower", "upper"]
    )
    return {"table": table, "differences": diffs}
