"""The shared Cox core: Efron sums against a brute-force formula, the batched cholesky2 /
chsolve2 against R's scalar loops, and one Newton-Raphson for cox_ph and univariable_cox."""

import warnings

import numpy as np
import pandas as pd
import pytest

from metpot import survival as sv
from metpot.errors import DataWarning
from metpot.survival.cox import (
    COX_TOLER_CHOL,
    _cholesky2,
    _chsolve2,
    _cox_derivs,
    _RiskSets,
)


def _data(seed, n, p):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10, n))  # tied death times
    e = rng.random(n) < 0.6
    x = rng.normal(size=(n, p))
    return t, e, x


def _brute_derivs(x, t, e, beta, ties):
    """Efron/Breslow log partial likelihood, score and information, death time by death time
    (R's coxfit6: the k-th of d tied deaths sees the risk set minus k/d of the deaths)."""
    eta = x @ beta
    w = np.exp(eta)
    p = x.shape[1]
    ll, u, imat = 0.0, np.zeros(p), np.zeros((p, p))
    for s in np.unique(t[e]):
        risk = t >= s
        dead = (t == s) & e
        d = int(dead.sum())
        ll += eta[dead].sum()
        u += x[dead].sum(axis=0)
        for k in range(d):
            f = k / d if ties == "efron" else 0.0
            ww = w * (risk - f * dead)
            s0 = ww.sum()
            m = ww @ x / s0
            ll -= np.log(s0)
            u -= m
            imat += (x * ww[:, None]).T @ x / s0 - np.outer(m, m)
    return ll, u, imat


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("seed", range(4))
def test_efron_core_matches_the_death_by_death_formula(ties, seed):
    p = 1 + seed % 3
    t, e, x = _data(seed, 90, p)
    beta = np.random.default_rng(seed + 50).normal(scale=0.5, size=p)
    rs = _RiskSets.build(t, e, ties)
    xc = x - x.mean(axis=0)
    ll, u, imat = _cox_derivs(rs, rs.sorted_centred(x)[None], beta[None])
    ll_ref, u_ref, imat_ref = _brute_derivs(xc, t, e, beta, ties)
    assert ll[0] == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(u[0], u_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(imat[0], imat_ref, rtol=1e-12)


def test_efron_core_batch_equals_one_model_at_a_time():
    t, e, x = _data(7, 120, 2)
    rs = _RiskSets.build(t, e, "efron")
    xs = np.stack([rs.sorted_centred(x), rs.sorted_centred(x[:, ::-1] * 3)])
    beta = np.array([[0.3, -0.2], [0.1, 0.05]])
    batch = _cox_derivs(rs, xs, beta)
    for b in range(2):
        one = _cox_derivs(rs, xs[b : b + 1], beta[b : b + 1])
        for got, want in zip(batch, one, strict=True):
            # numpy's vectorised log may round an element differently by its position (1 ulp)
            np.testing.assert_allclose(got[b], want[0], rtol=1e-15, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# cholesky2 / chsolve2: R's scalar loops, transliterated
# ---------------------------------------------------------------------------------------------


def _cholesky2_r(mat, toler):
    a = np.array(mat, float)
    n = a.shape[0]
    eps = 0.0
    for i in range(n):
        if a[i, i] > eps:
            eps = a[i, i]
        for j in range(i + 1, n):
            a[j, i] = a[i, j]
    eps = toler if eps == 0 else eps * toler
    for i in range(n):
        pivot = a[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            a[i, i] = 0.0
        else:
            for j in range(i + 1, n):
                temp = a[j, i] / pivot
                a[j, i] = temp
                a[j, j] -= temp * temp * pivot
                for k in range(j + 1, n):
                    a[k, j] -= temp * a[k, i]
    return a


def _chsolve2_r(a, y):
    y = np.array(y, float)
    n = a.shape[0]
    for i in range(n):
        temp = y[i]
        for j in range(i):
            temp -= y[j] * a[i, j]
        y[i] = temp
    for i in range(n - 1, -1, -1):
        if a[i, i] == 0:
            y[i] = 0.0
        else:
            temp = y[i] / a[i, i]
            for j in range(i + 1, n):
                temp -= y[j] * a[j, i]
            y[i] = temp
    return y


def _matrices():
    rng = np.random.default_rng(3)
    out = []
    for p in (1, 2, 4):
        a = rng.normal(size=(p, p + 3))
        out.append(a @ a.T)  # positive definite
    b = rng.normal(size=(4, 6))
    spd = b @ b.T
    aliased = spd.copy()
    aliased[3] = aliased[2]
    aliased[:, 3] = aliased[:, 2]  # singular: column 3 = column 2
    out.append(aliased)
    out.append(np.diag([2.0, -1.0, 3.0]))  # a negative pivot
    out.append(np.zeros((2, 2)))
    out.append(np.array([[np.nan, 0.0], [0.0, 1.0]]))
    return out


@pytest.mark.parametrize("mat", _matrices(), ids=lambda m: f"{m.shape[0]}x{m.shape[0]}")
def test_batched_cholesky2_and_chsolve2_equal_r_loops(mat):
    rng = np.random.default_rng(4)
    y = rng.normal(size=mat.shape[0])
    ldl = _cholesky2(mat[None], COX_TOLER_CHOL)[0]
    ref = _cholesky2_r(mat, COX_TOLER_CHOL)
    np.testing.assert_array_equal(np.tril(ldl), np.tril(ref))
    np.testing.assert_array_equal(_chsolve2(ldl[None], y[None])[0], _chsolve2_r(ref, y))


def test_chsolve2_solves_positive_definite_systems():
    mats = np.stack([m for m in _matrices()[:3] if m.shape == (4, 4)] + [np.eye(4) * 2])
    y = np.random.default_rng(5).normal(size=(mats.shape[0], 4))
    sol = _chsolve2(_cholesky2(mats, COX_TOLER_CHOL), y)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", mats, sol), y, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# one Newton-Raphson for cox_ph and univariable_cox
# ---------------------------------------------------------------------------------------------


def test_univariable_cox_equals_cox_ph_per_feature():
    t, e, x = _data(11, 150, 6)
    x[:, 1] = np.round(x[:, 1])  # tied covariate
    x[:, 2] = 4.0  # constant: NaN
    x[:, 3] *= 1e3  # scale
    x[7, 4] = np.nan  # fitted on its complete samples
    res = sv.univariable_cox(x, t, e)
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        if j == 2:
            assert np.isnan(res.loc[j, "coef"]) and not res.loc[j, "converged"]
            continue
        fit = sv.cox_ph(x[ok, j][:, None], t[ok], e[ok])
        assert res.loc[j, "coef"] == pytest.approx(fit.coef[0], rel=1e-12)
        assert res.loc[j, "se"] == pytest.approx(fit.se[0], rel=1e-12)
        assert res.loc[j, "converged"] == fit.converged
        assert res.loc[j, "n"] == ok.sum()


def test_newton_step_halving_and_non_convergence_are_the_same_in_both():
    # complete separation: the likelihood keeps rising, the coefficient runs away
    t = np.arange(1.0, 41.0)
    e = np.ones(40, bool)
    x = np.r_[np.ones(20), np.zeros(20)][:, None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sv.cox_ph(x, t, e, iter_max=5)
        res = sv.univariable_cox(np.c_[x, -x], t, e, iter_max=5)
    assert not fit.converged and fit.iterations == 5
    assert sum(issubclass(w.category, DataWarning) for w in caught) == 2
    assert res.loc[0, "coef"] == pytest.approx(fit.coef[0], rel=1e-12)
    assert res.loc[1, "coef"] == pytest.approx(-fit.coef[0], rel=1e-12)
    assert not res["converged"].any()
    # more iterations: larger coefficient, still finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        longer = sv.cox_ph(x, t, e, iter_max=30)
    assert np.isfinite(longer.coef[0]) and longer.coef[0] > fit.coef[0]


def test_cox_ph_converges_to_the_score_root():
    t, e, x = _data(12, 200, 3)
    fit = sv.cox_ph(pd.DataFrame(x, columns=["a", "b", "c"]), t, e, eps=1e-14)
    assert fit.converged and 1 <= fit.iterations <= 20
    rs = _RiskSets.build(t, e, "efron")
    _, u, imat = _cox_derivs(rs, rs.sorted_centred(x)[None], np.array(fit.coef)[None])
    assert np.max(np.abs(u)) < 1e-8
    np.testing.assert_allclose(np.linalg.inv(imat[0]), fit.var, rtol=1e-10)


def test_cox_ph_aliased_covariate_is_nan_like_r():
    t, e, x = _data(13, 100, 2)
    x = np.c_[x, x[:, 0] + x[:, 1]]
    fit = sv.cox_ph(x, t, e)
    assert np.isfinite(fit.coef[:2]).all() and np.isnan(fit.coef[2])
    ref = sv.cox_ph(x[:, :2], t, e)
    np.testing.assert_allclose(fit.coef[:2], ref.coef, rtol=1e-12)
    assert fit.loglik[1] == pytest.approx(ref.loglik[1], rel=1e-14)


def test_cox_ph_without_covariates_and_without_iterations():
    t, e, x = _data(14, 50, 1)
    empty = sv.cox_ph(np.zeros((50, 0)), t, e)
    assert empty.converged and empty.terms == [] and empty.loglik[0] == empty.loglik[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        none = sv.cox_ph(x, t, e, iter_max=0)
    assert not none.converged and none.coef == [0.0] and none.iterations == 0
