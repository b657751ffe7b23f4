"""Cox proportional-hazards models as R ``coxph`` / ``cox.zph`` (survival 3.x).

One Efron/Breslow risk-set core (:func:`_efron_moments`) and one Newton-Raphson loop
(:func:`_newton`, R's ``coxfit6``) serve :func:`cox_ph` (a batch of one model),
:func:`univariable_cox` (a batch of one-covariate models) and :func:`cox_zph`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from metpot.errors import MetpotError, name_list, warn_data
from metpot.survival.data import _as_time_event, _same_value, _sorted_levels
from metpot.survival.km import kaplan_meier

#: Convergence tolerance of R's ``coxph.control()`` (relative change in log-likelihood).
COX_EPS = 1e-9
#: Maximum Newton-Raphson iterations of R's ``coxph.control()``.
COX_ITER_MAX = 20
#: Cholesky tolerance of R's ``coxph.control()`` (``.Machine$double.eps^0.75``).
COX_TOLER_CHOL = np.finfo(float).eps ** 0.75


# ---------------------------------------------------------------------------------------------
# risk sets and the Efron/Breslow sums
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RiskSets:
    """Time-sorted layout shared by all Cox computations on one (time, event)."""

    order: np.ndarray  # samples sorted by ascending time
    group_start: np.ndarray  # first sorted index of each distinct time
    slot_group: np.ndarray  # distinct-time index of each death "slot" (one per death)
    slot_frac: np.ndarray  # Efron fraction k/d of each slot
    dead_sorted: np.ndarray  # event indicator in sorted order (float 0/1)

    @classmethod
    def build(cls, t: np.ndarray, e: np.ndarray, ties: str) -> _RiskSets:
        order = np.argsort(t, kind="stable")
        ts = t[order]
        es = e[order]
        new = np.r_[True, ts[1:] != ts[:-1]]
        starts = np.flatnonzero(new)
        d = np.bincount(np.cumsum(new) - 1, weights=es.astype(float), minlength=starts.size)
        d = d.astype(int)
        slot_group = np.repeat(np.arange(starts.size), d)
        if ties == "efron":
            # the k-th of d tied deaths (k = 0..d-1) has fraction k / d
            slot_frac = (np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)) / np.repeat(d, d)
        elif ties == "breslow":
            slot_frac = np.zeros(int(d.sum()))
        else:
            raise MetpotError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        return cls(order, starts, slot_group, np.asarray(slot_frac, float), es.astype(float))

    def sorted_centred(self, x: np.ndarray) -> np.ndarray:
        """``x`` (n x p) centred, in time order, as p x n."""
        return (x - x.mean(axis=0))[self.order].T.copy()

    def at_slots(self, a: np.ndarray) -> np.ndarray:
        """Efron's risk-set sum at each death slot: ``S - frac * D`` (last axis = samples).

        ``S`` sums ``a`` over the samples with time >= the slot's time, ``D`` over the deaths
        at that time; R adds the ``d`` tied deaths successively, so the k-th of them
        (k = 0..d-1) sees ``S - (k/d) D``. Breslow has ``frac = 0``.
        """
        st, g = self.group_start, self.slot_group
        s = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1][..., st]
        d = np.add.reduceat(a * self.dead_sorted, st, axis=-1)
        return s[..., g] - self.slot_frac * d[..., g]


def _efron_moments(rs: _RiskSets, xs: np.ndarray, eta: np.ndarray):
    """Per death slot: risk-set denominator, weighted mean and covariance of ``x``.

    ``xs`` is (..., p, n) sorted, centred covariates and ``eta`` (..., n) the linear predictor.
    Returns ``denom`` (..., slots), ``mean`` (..., p, slots), ``cov`` (..., p, p, slots); the
    information is the sum of ``cov`` over the slots, as R's ``coxfit6`` adds it death by death.
    """
    risk = np.exp(eta)
    rx = risk[..., None, :] * xs
    rxx = rx[..., :, None, :] * xs[..., None, :, :]
    denom = rs.at_slots(risk)
    mean = rs.at_slots(rx) / denom[..., None, :]
    cov = rs.at_slots(rxx) / denom[..., None, None, :]
    cov -= mean[..., :, None, :] * mean[..., None, :, :]
    return denom, mean, cov


def _cox_derivs(rs: _RiskSets, xs: np.ndarray, beta: np.ndarray):
    """Log partial likelihood, score and information of a batch of Cox models.

    ``xs`` (B, p, n) sorted, centred covariates; ``beta`` (B, p). Returns ``loglik`` (B),
    ``u`` (B, p), ``imat`` (B, p, p).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta = np.matmul(beta[:, None, :], xs)[:, 0, :]
        denom, mean, cov = _efron_moments(rs, xs, eta)
        dead = rs.dead_sorted
        loglik = (eta * dead).sum(axis=-1) - np.log(denom).sum(axis=-1)
        u = (xs * dead).sum(axis=-1) - mean.sum(axis=-1)
    return loglik, u, cov.sum(axis=-1)


# ---------------------------------------------------------------------------------------------
# R survival's cholesky2 / chsolve2, over a batch of matrices
# ---------------------------------------------------------------------------------------------


def _cholesky2(mat: np.ndarray, toler: float) -> np.ndarray:
    """R survival's ``cholesky2`` on each (p x p) matrix of ``mat`` (B, p, p).

    LDL' of the symmetrised upper triangle; a pivot that is not finite or below
    ``toler * max(diag)`` is set to 0 and its column left as it is (as R does).
    """
    a = np.triu(mat) + np.swapaxes(np.triu(mat, 1), -1, -2)
    p = a.shape[-1]
    diag = np.diagonal(a, axis1=-2, axis2=-1)
    diag_max = np.max(np.where(diag > 0, diag, 0.0), axis=-1, initial=0.0)  # NaN ignored, as R
    eps = np.where(diag_max == 0, toler, diag_max * toler)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite matrices: zero pivots
        for i in range(p):
            pivot = a[:, i, i].copy()
            ok = np.isfinite(pivot) & (pivot >= eps)
            a[:, i, i] = np.where(ok, pivot, 0.0)
            for j in range(i + 1, p):
                temp = np.where(ok, a[:, j, i] / np.where(ok, pivot, 1.0), a[:, j, i])
                a[:, j, i] = temp
                a[:, j, j] = np.where(ok, a[:, j, j] - temp * temp * pivot, a[:, j, j])
                for k in range(j + 1, p):
                    a[:, k, j] = np.where(ok, a[:, k, j] - temp * a[:, k, i], a[:, k, j])
    return a


def _chsolve2(ldl: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R survival's ``chsolve2``: solve with each ``cholesky2`` factor (B, p, p), ``y`` (B, p)."""
    y = np.array(y, dtype=float, copy=True)
    p = ldl.shape[-1]
    for i in range(p):
        for j in range(i):
            y[:, i] -= y[:, j] * ldl[:, i, j]
    for i in range(p - 1, -1, -1):
        d = ldl[:, i, i]
        yi = y[:, i] / np.where(d == 0, 1.0, d)
        for j in range(i + 1, p):
            yi -= y[:, j] * ldl[:, j, i]
        y[:, i] = np.where(d == 0, 0.0, yi)
    return y


# ---------------------------------------------------------------------------------------------
# Newton-Raphson (R's coxfit6), over a batch of models
# ---------------------------------------------------------------------------------------------


@dataclass
class _Fit:
    beta: np.ndarray  # (B, p) final estimate
    loglik0: np.ndarray  # (B,) at beta = 0
    loglik: np.ndarray  # (B,) at the estimate
    score0: np.ndarray  # (B,) score test statistic at beta = 0
    imat: np.ndarray  # (B, p, p) information at the estimate
    ldl: np.ndarray  # (B, p, p) its cholesky2 factor
    iterations: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) bool


def _newton(
    rs: _RiskSets, xs: np.ndarray, eps: float, iter_max: int, active: np.ndarray | None = None
) -> _Fit:
    """R ``coxfit6`` Newton-Raphson from ``beta = 0`` for a batch of models ``xs`` (B, p, n).

    Per model: a step that lowers the log-likelihood (or is not finite) is pulled back
    towards the last accepted beta by 1/2, 2/3, 3/4, ...; the model stops as soon as the
    relative change of the log-likelihood against the best so far is ``<= eps`` (also after a
    pull-back), returning the beta just evaluated; after ``iter_max`` iterations it returns the
    last accepted beta, not converged. Models with ``active`` False are not iterated.
    """
    nb, p = xs.shape[:2]
    beta = np.zeros((nb, p))
    ll0, u, imat = _cox_derivs(rs, xs, beta)
    ldl = _cholesky2(imat, COX_TOLER_CHOL)
    step = _chsolve2(ldl, u)
    score0 = np.einsum("bp,bp->b", u, step)
    newbeta = beta + step
    best = ll0.copy()
    loglik = ll0.copy()
    halving = np.zeros(nb)
    iters = np.zeros(nb, int)
    conv = np.zeros(nb, bool)
    out_beta = beta.copy()
    active = np.ones(nb, bool) if active is None else active.copy()
    if p == 0:
        conv[:], active[:] = True, False
    for it in range(1, iter_max + 1):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        iters[act] = it
        nl, nu, ni = _cox_derivs(rs, xs[act], newbeta[act])
        nldl = _cholesky2(ni, COX_TOLER_CHOL)
        with np.errstate(invalid="ignore", divide="ignore"):
            finite = (
                np.isfinite(nl) & np.isfinite(nu).all(axis=1) & np.isfinite(ni).all(axis=(1, 2))
            )
            done = finite & (np.abs(1 - best[act] / nl) <= eps)
        fin = act[done]
        out_beta[fin], loglik[fin] = newbeta[fin], nl[done]
        imat[fin], ldl[fin] = ni[done], nldl[done]
        conv[fin] = True
        active[fin] = False
        rest = ~done
        worse = rest & (~finite | (nl < best[act]))
        hv = act[worse]
        halving[hv] += 1
        newbeta[hv] = (newbeta[hv] + halving[hv, None] * beta[hv]) / (halving[hv, None] + 1.0)
        better = rest & ~worse
        good = act[better]
        halving[good] = 0
        best[good] = nl[better]
        beta[good] = newbeta[good]
        newbeta[good] = newbeta[good] + _chsolve2(nldl[better], nu[better])
    rest = np.flatnonzero(active)
    if rest.size and iter_max > 0:
        # out of iterations: the last accepted beta, with its derivatives (R's flag 1000)
        out_beta[rest] = beta[rest]
        loglik[rest], _, imat[rest] = _cox_derivs(rs, xs[rest], beta[rest])
        ldl[rest] = _cholesky2(imat[rest], COX_TOLER_CHOL)
    return _Fit(out_beta, ll0, loglik, score0, imat, ldl, iters, conv)


def _chinv(imat: np.ndarray, ldl: np.ndarray) -> np.ndarray:
    """Inverse of the information on the non-singular pivots, zero rows/cols elsewhere."""
    ok = np.diag(ldl) != 0
    out = np.zeros_like(imat)
    if ok.any():
        out[np.ix_(ok, ok)] = np.linalg.inv(imat[np.ix_(ok, ok)])
    return out


# ---------------------------------------------------------------------------------------------
# cox_ph
# ---------------------------------------------------------------------------------------------


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
    fit = _newton(rs, rs.sorted_centred(x)[None], eps, iter_max)
    converged = bool(fit.converged[0])
    var = _chinv(fit.imat[0], fit.ldl[0])
    sing = np.diag(var) == 0
    coef = np.where(sing, np.nan, fit.beta[0])
    se = np.where(sing, np.nan, np.sqrt(np.where(sing, 0.0, np.diag(var))))
    z = coef / se
    pval = 2 * stats.norm.sf(np.abs(z))
    zq = stats.norm.ppf(1 - (1 - conf_level) / 2)
    ok = ~sing
    df = int(ok.sum())
    ll0, newlk = float(fit.loglik0[0]), float(fit.loglik[0])
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
        coef=[float(v) for v in coef],
        se=[float(v) for v in se],
        z=[float(v) for v in z],
        p=[float(v) for v in pval],
        hr=[float(v) for v in hr],
        hr_lower=[float(v) for v in hr_lo],
        hr_upper=[float(v) for v in hr_hi],
        var=[[float(v) for v in row] for row in np.where(np.outer(ok, ok), var, np.nan)],
        loglik=[ll0, newlk],
        lr_test=test(2 * (newlk - ll0)),
        wald_test=test(wald),
        score_test=test(float(fit.score0[0])),
        n=int(t.size),
        n_events=int(e.sum()),
        iterations=int(fit.iterations[0]),
        converged=converged,
        ties=ties,
        conf_level=conf_level,
        _x=x,
        _time=t,
        _event=e,
    )


# ---------------------------------------------------------------------------------------------
# categorical covariates
# ---------------------------------------------------------------------------------------------


def largest_level(values: pd.Series):
    """The most frequent level (ties: the first in sorted order), R users' usual reference."""
    counts = values.value_counts()
    return next(lv for lv in _sorted_levels(counts.index) if counts[lv] == counts.max())


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
    levels = _sorted_levels(pd.unique(s))
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
# univariable Cox, all features at once
# ---------------------------------------------------------------------------------------------


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
    CancerSubtypes ``FSbyCox`` filter): the Newton-Raphson of :func:`cox_ph` run as a batch
    over features (per-feature state), the Efron risk-set sums computed as reverse cumulative
    sums over the time-sorted samples. Constant features (and any feature whose information is
    0 at the estimate) get NaN, as R's NA. Features with missing values are fitted one by one
    on their complete samples.

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
        b, s, c = _univariable_batch(rs, x[:, cols], eps, iter_max)
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


def _univariable_batch(rs: _RiskSets, x: np.ndarray, eps: float, iter_max: int):
    """One-covariate models for the columns of ``x`` (n x F). Returns (coef, se, converged)."""
    const = np.ptp(x, axis=0) == 0
    fit = _newton(rs, rs.sorted_centred(x)[:, None, :], eps, iter_max, active=~const)
    info = fit.imat[:, 0, 0]
    valid = (~const) & np.isfinite(info) & (info > 0)
    coef = np.where(valid, fit.beta[:, 0], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(valid, 1.0 / np.sqrt(np.where(valid, info, 1.0)), np.nan)
    return coef, se, fit.converged & valid


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
    xs = rs.sorted_centred(x)
    _, m1, v = _efron_moments(rs, xs, beta @ xs)  # p x slots, p x p x slots
    gs = gtime[rs.order]
    w = gs[rs.group_start][rs.slot_group]  # g(t) of each death slot
    u_gamma = (xs * rs.dead_sorted * gs).sum(axis=1) - (m1 * w).sum(axis=1)
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
