"""The O(n log n) concordance against the O(n^2) pairwise formulas, and Uno's C against
scikit-survival's ``concordance_index_ipcw``."""

import numpy as np
import pandas as pd
import pytest

from metpot import survival as sv
from metpot.errors import MetpotError

# ---------------------------------------------------------------------------------------------
# the previous implementation (n x n comparison matrices), kept here as the reference
# ---------------------------------------------------------------------------------------------


def _conc(r):
    ri, rj = r[:, None], r[None, :]
    return np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))


def _harrell_ref(t, e, r):
    t, e, r = np.asarray(t, float), np.asarray(e, bool), np.asarray(r, float)
    ti, tj = t[:, None], t[None, :]
    comp = e[:, None] & ((tj > ti) | ((tj == ti) & ~e[None, :]))
    num, den = float((_conc(r) * comp).sum()), float(comp.sum())
    return num / den if den > 0 else np.nan


def _censoring_km_left_ref(t, e):
    km = sv.kaplan_meier(t, ~e, conf_type="none")
    kt, ks = km["time"].to_numpy(), km["surv"].to_numpy()
    return np.r_[1.0, ks][np.searchsorted(kt, t, side="left")]


def _uno_ref(t, e, r, tau=None, train=None):
    """Pairwise Uno's C; ``train`` (time, event): the censoring Kaplan-Meier of those."""
    t, e, r = np.asarray(t, float), np.asarray(e, bool), np.asarray(r, float)
    if train is None:
        g = _censoring_km_left_ref(t, e)
    else:
        km = sv.kaplan_meier(train[0], ~np.asarray(train[1], bool), conf_type="none")
        kt, ks = km["time"].to_numpy(), km["surv"].to_numpy()
        g = np.r_[1.0, ks][np.searchsorted(kt, t, side="left")]
    ok = e & (g > 0)
    if tau is not None:
        ok &= t < tau
    w = np.zeros_like(t)
    w[ok] = 1.0 / g[ok] ** 2
    wc = (ok[:, None] & (t[:, None] < t[None, :])) * w[:, None]
    num, den = float((wc * _conc(r)).sum()), float(wc.sum())
    return num / den if den > 0 else np.nan


def _percentile_ref(v, conf):
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    a = (1 - conf) / 2
    return np.quantile(v, a), np.quantile(v, 1 - a)


def _table_ref(t, e, preds, n_boot, seed, tau, compare, conf=0.95):
    """The previous concordance_table: every resample materialised, every C pairwise."""
    names = list(preds)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(names), 2))
    for b in range(n_boot):
        idx = rng.integers(0, t.size, t.size)
        for k, nm in enumerate(names):
            r = preds[nm][idx]
            boot[b, k] = _harrell_ref(t[idx], e[idx], r), _uno_ref(t[idx], e[idx], r, tau)
    full = np.array(
        [[_harrell_ref(t, e, preds[nm]), _uno_ref(t, e, preds[nm], tau)] for nm in names]
    )
    table = {
        nm: (*full[k], *[_percentile_ref(boot[:, k, m], conf) for m in (0, 1)])
        for k, nm in enumerate(names)
    }
    diffs = {}
    for a, b in compare:
        ka, kb = names.index(a), names.index(b)
        for m, metric in enumerate(("harrell", "uno")):
            d = boot[:, ka, m] - boot[:, kb, m]
            diffs[(a, b, metric)] = (full[ka, m] - full[kb, m], *_percentile_ref(d, conf))
    return table, diffs


def _data(seed, n, time_digits=0, risk_digits=1, event_rate=0.6):
    """Random survival data with many tied times (deaths with deaths, deaths with censorings)
    and tied risks."""
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10, n), time_digits)
    e = rng.random(n) < event_rate
    r = np.round(rng.normal(size=n), risk_digits)
    return t, e, r


# ---------------------------------------------------------------------------------------------
# harrell_c / uno_c against the pairwise formulas
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_harrell_identical_to_pairwise_formula(seed):
    n = [2, 3, 10, 57, 200, 801][seed % 6]
    t, e, r = _data(seed, n, time_digits=seed % 2, risk_digits=seed % 3)
    assert (t[e][:, None] == t[~e][None, :]).any() or n < 20  # death/censoring ties present
    ours, ref = sv.harrell_c(t, e, r), _harrell_ref(t, e, r)
    # integer counts: exactly equal, not merely close
    assert ours == ref or (np.isnan(ours) and np.isnan(ref))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("tau_q", [None, 0.3, 0.8])
def test_uno_identical_to_pairwise_formula(seed, tau_q):
    n = [2, 3, 10, 57, 200, 801][seed % 6]
    t, e, r = _data(seed, n, time_digits=seed % 2, risk_digits=seed % 3)
    tau = None if tau_q is None else float(np.quantile(t, tau_q))
    ours, ref = sv.uno_c(t, e, r, tau=tau), _uno_ref(t, e, r, tau)
    if np.isnan(ref):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(ref, rel=1e-12, abs=0)


def test_concordance_at_n_3000_with_heavy_ties():
    t, e, r = _data(99, 3000, time_digits=0, risk_digits=0, event_rate=0.4)
    assert sv.harrell_c(t, e, r) == _harrell_ref(t, e, r)
    tau = float(np.quantile(t, 0.7))
    assert sv.uno_c(t, e, r, tau=tau) == pytest.approx(_uno_ref(t, e, r, tau), rel=1e-12, abs=0)


def test_concordance_edge_cases():
    # no death: no comparable pair
    assert np.isnan(sv.harrell_c([1, 2, 3], [0, 0, 0], [1, 2, 3]))
    assert np.isnan(sv.uno_c([1, 2, 3], [0, 0, 0], [1, 2, 3]))
    # only tied deaths: not comparable
    assert np.isnan(sv.harrell_c([2, 2], [1, 1], [1, 2]))
    # a censoring at the death time counts for Harrell, not for Uno (strict T_i < T_j)
    assert sv.harrell_c([2, 2], [1, 0], [2, 1]) == 1.0
    assert np.isnan(sv.uno_c([2, 2], [1, 0], [2, 1]))
    # tau before the first death
    assert np.isnan(sv.uno_c([1, 2, 3], [1, 1, 0], [3, 2, 1], tau=1.0))
    assert sv.uno_c([1, 2, 3], [1, 1, 0], [3, 2, 1], tau=1.5) == 1.0
    assert np.isnan(sv.uno_c([1, 2, 3], [1, 1, 0], [3, 2, 1], tau=np.nan))  # as t < nan
    # all risks tied: 1/2
    assert sv.harrell_c([1, 2, 3, 4], [1, 0, 1, 1], [5, 5, 5, 5]) == 0.5
    # one patient
    assert np.isnan(sv.harrell_c([1.0], [1], [0.3]))


def test_reversing_the_score_mirrors_c():
    t, e, r = _data(3, 400)
    assert sv.harrell_c(t, e, -r) == pytest.approx(1 - sv.harrell_c(t, e, r), rel=1e-14)
    assert sv.uno_c(t, e, -r) == pytest.approx(1 - sv.uno_c(t, e, r), rel=1e-12)


def test_risk_values_only_matter_by_rank():
    t, e, r = _data(4, 300)
    squashed = np.tanh(r) * 1e-6 + 5  # same order, same ties
    assert sv.harrell_c(t, e, squashed) == sv.harrell_c(t, e, r)
    assert sv.uno_c(t, e, squashed) == sv.uno_c(t, e, r)


# ---------------------------------------------------------------------------------------------
# concordance_table (bootstrap) against the previous implementation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "tau_q"), [(0, 40, None), (1, 75, 0.6), (2, 150, None)])
def test_concordance_table_identical_to_pairwise_bootstrap(seed, n, tau_q):
    t, e, r = _data(seed, n)
    rng = np.random.default_rng(seed + 100)
    preds = {
        "r": r,
        "group": rng.integers(0, 3, n).astype(float),  # heavily tied
        "mix": r + rng.normal(size=n),
    }
    tau = None if tau_q is None else float(np.quantile(t, tau_q))
    compare = [("mix", "r"), ("group", "r")]
    res = sv.concordance_table(t, e, preds, n_boot=40, seed=seed, tau=tau, compare=compare)
    table_ref, diffs_ref = _table_ref(t, e, preds, 40, seed, tau, compare)
    cols = ["harrell_c", "uno_c", "harrell_lower", "harrell_upper", "uno_lower", "uno_upper"]
    got = res["table"].set_index("predictor")
    for nm, (hc, uc, (hl, hu), (ul, uu)) in table_ref.items():
        want = [hc, uc, hl, hu, ul, uu]
        np.testing.assert_allclose(got.loc[nm, cols].to_numpy(float), want, rtol=1e-12, atol=0)
        # Harrell's counts are integers: exactly equal
        assert got.loc[nm, "harrell_c"] == hc and got.loc[nm, "harrell_lower"] == hl
    d = res["differences"].set_index(["predictor_a", "predictor_b", "metric"])
    assert len(d) == len(diffs_ref)
    for key, want in diffs_ref.items():
        # differences of C values (scale 1): absolute tolerance
        np.testing.assert_allclose(
            d.loc[key, ["difference", "lower", "upper"]].to_numpy(float), want, rtol=0, atol=1e-12
        )


def test_concordance_table_resample_without_deaths_gives_nan_not_error():
    # 1 death in 30: many resamples have none; CIs come from the finite ones
    t = np.arange(1.0, 31.0)
    e = np.zeros(30, bool)
    e[3] = True
    r = np.linspace(1, 0, 30)
    res = sv.concordance_table(t, e, {"r": r, "flat": np.zeros(30)}, n_boot=60, seed=5)
    table_ref, _ = _table_ref(t, e, {"r": r, "flat": np.zeros(30)}, 60, 5, None, [])
    got = res["table"].set_index("predictor")
    assert got.loc["r", "harrell_lower"] == table_ref["r"][2][0]
    assert got.loc["flat", "harrell_c"] == 0.5


def test_concordance_table_accepts_a_dataframe_and_is_deterministic():
    t, e, r = _data(6, 120)
    df = pd.DataFrame({"a": r, "b": np.round(r * 3)})
    one = sv.concordance_table(t, e, df, n_boot=30, seed=3)
    two = sv.concordance_table(t, e, {"a": r, "b": np.round(r * 3)}, n_boot=30, seed=3)
    pd.testing.assert_frame_equal(one["table"], two["table"])
    pd.testing.assert_frame_equal(one["differences"], two["differences"])
    other = sv.concordance_table(t, e, df, n_boot=30, seed=4)
    assert not one["table"]["harrell_lower"].equals(other["table"]["harrell_lower"])


# ---------------------------------------------------------------------------------------------
# Uno's C against scikit-survival
# ---------------------------------------------------------------------------------------------


def _sksurv(t, e, r, tau=None, train=None, tied_tol=0.0):
    # scikit-survival is a test dependency; imported here so that only these tests need it
    from sksurv.metrics import concordance_index_ipcw
    from sksurv.util import Surv

    y = Surv.from_arrays(event=e, time=t)
    y_train = y if train is None else Surv.from_arrays(event=train[1], time=train[0])
    return concordance_index_ipcw(y_train, y, r, tau=tau, tied_tol=tied_tol)[0]


def _data_no_death_censoring_ties(seed, n):
    """Deaths tied with deaths and censorings with censorings, never a death with a
    censoring; risks tied."""
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10, n))
    e = rng.random(n) < 0.6
    t[~e] += 0.5  # censoring times on a different grid from death times
    r = np.round(rng.normal(size=n), 1)
    return t, e, r


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tau_q", [None, 0.5, 0.9])
def test_uno_agrees_with_scikit_survival_without_death_censoring_ties(seed, tau_q):
    t, e, r = _data_no_death_censoring_ties(seed, [60, 200, 1000][seed % 3])
    assert len(np.unique(t[e])) < e.sum() and len(np.unique(r)) < r.size  # ties present
    assert not np.isin(t[e], t[~e]).any()
    tau = None if tau_q is None else float(np.quantile(t[e], tau_q))
    assert sv.uno_c(t, e, r, tau=tau) == pytest.approx(_sksurv(t, e, r, tau), rel=1e-12, abs=0)


def _uno_sksurv_convention(t, e, r, tau=None, train=None):
    """Uno's C with scikit-survival's conventions at death/censoring ties: a censoring at the
    death time is comparable, and the weight is G(T_i)^-2 from a censoring Kaplan-Meier (of
    ``train``, default of the patients evaluated) in which the deaths at a time leave the risk
    set before the censorings."""
    tt, et = (t, e) if train is None else train
    ts = np.unique(tt)
    at_risk = np.array([(tt >= s).sum() - ((tt == s) & et).sum() for s in ts])
    censored = np.array([((tt == s) & ~et).sum() for s in ts])
    g_at = np.cumprod(1 - np.divide(censored, at_risk, out=np.zeros(ts.size), where=censored > 0))
    g = np.r_[1.0, g_at][np.searchsorted(ts, t, side="right")]
    ok = e if tau is None else e & (t < tau)
    w = np.where(ok, 1 / np.where(ok, g, 1.0) ** 2, 0.0)
    comp = ok[:, None] & ((t[:, None] < t[None, :]) | ((t[:, None] == t[None, :]) & ~e[None, :]))
    wc = comp * w[:, None]
    return float((wc * _conc(r)).sum() / wc.sum())


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(4))
def test_uno_convention_difference_from_scikit_survival_is_only_death_censoring_ties(seed):
    # integer times: many deaths share their time with censorings
    t, e, r = _data(seed + 20, 300, time_digits=0)
    e[np.argmax(t)] = False  # sksurv needs G > 0 at every death
    assert np.isin(t[e], t[~e]).any()
    theirs = _sksurv(t, e, r)
    assert theirs == pytest.approx(_uno_sksurv_convention(t, e, r), rel=1e-12, abs=0)
    ours = sv.uno_c(t, e, r)
    assert ours == pytest.approx(_uno_ref(t, e, r), rel=1e-12, abs=0)
    assert abs(ours - theirs) > 1e-6  # the conventions really differ here


# ---------------------------------------------------------------------------------------------
# Uno's C of a test fold: censoring distribution of the training patients (cross-validation)
# ---------------------------------------------------------------------------------------------


def _split(seed, n, ties_across=False):
    """A random train/test split (test ~1/3) of data with deaths tied with deaths, censorings
    with censorings and tied risks; with ``ties_across``, integer times for all (a test death
    shares its time with training censorings)."""
    if ties_across:
        t, e, r = _data(seed, n, time_digits=0)
    else:
        t, e, r = _data_no_death_censoring_ties(seed, n)
    test = np.random.default_rng(seed + 100).random(n) < 1 / 3
    return (t[test], e[test], r[test]), (t[~test], e[~test])


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(8))
def test_uno_with_training_censoring_agrees_with_scikit_survival(seed):
    """concordance_index_ipcw(survival_train, survival_test, risk, tau): the censoring
    Kaplan-Meier of the training patients, at the cross-validation's tau rule."""
    from metpot.classify.metrics import _uno_fold, uno_tau

    (t, e, r), train = _split(seed, [60, 150, 400, 1000][seed % 4])
    assert len(np.unique(t[e])) < e.sum() and len(np.unique(r)) < r.size  # ties present
    assert np.isin(t[e], train[0][train[1]]).any()  # test deaths tied with training deaths
    assert not np.isin(t[e], train[0][~train[1]]).any()
    tau = uno_tau(train[0])
    ours = sv.uno_c(t, e, r, tau=tau, train_time=train[0], train_event=train[1])
    assert ours == pytest.approx(_sksurv(t, e, r, tau, train), rel=1e-12, abs=0)
    # default tied_tol (1e-8) too: the risks differ by 0 or >= 0.1
    assert ours == pytest.approx(_sksurv(t, e, r, tau, train, tied_tol=1e-8), rel=1e-12, abs=0)
    assert ours == pytest.approx(_uno_ref(t, e, r, tau, train), rel=1e-12, abs=0)
    assert _uno_fold(train[0], train[1], t, e, r) == ours
    # another truncation, inside the training follow-up
    tau2 = float(np.quantile(t[e], 0.5))
    ours2 = sv.uno_c(t, e, r, tau=tau2, train_time=train[0], train_event=train[1])
    assert ours2 == pytest.approx(_sksurv(t, e, r, tau2, train), rel=1e-12, abs=0)


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(3))
def test_uno_with_training_censoring_differs_from_scikit_survival_only_by_its_tie_convention(seed):
    """Integer times: test deaths tied with censorings (test or training). The two
    conventions of ``uno_c``'s docstring, each against its pairwise formula."""
    (t, e, r), train = _split(seed + 30, 400, ties_across=True)
    assert np.isin(t[e], train[0][~train[1]]).any()
    tau = float(np.quantile(train[0], 0.8))
    ours = sv.uno_c(t, e, r, tau=tau, train_time=train[0], train_event=train[1])
    theirs = _sksurv(t, e, r, tau, train)
    assert ours == pytest.approx(_uno_ref(t, e, r, tau, train), rel=1e-12, abs=0)
    assert theirs == pytest.approx(_uno_sksurv_convention(t, e, r, tau, train), rel=1e-12, abs=0)
    assert 0 < abs(ours - theirs) < 0.02


@pytest.mark.parametrize("seed", range(4))
def test_uno_with_its_own_censoring_as_training_is_the_whole_cohort_value(seed):
    t, e, r = _data(seed, 300)
    for tau in (None, float(np.quantile(t, 0.7))):
        own = sv.uno_c(t, e, r, tau=tau)
        assert sv.uno_c(t, e, r, tau=tau, train_time=t, train_event=e) == pytest.approx(
            own, rel=1e-15, abs=0
        )


def test_uno_test_fold_censoring_differs_from_training_censoring():
    """A ~50-patient test fold: its own censoring Kaplan-Meier is not the training one."""
    from metpot.classify.metrics import _uno_fold, uno_tau

    rng = np.random.default_rng(5)
    n = 250
    death, cens = rng.exponential(40, n), rng.uniform(5, 120, n)
    t, e = np.minimum(death, cens), death <= cens
    r = -death + rng.normal(0, 30, n)
    test = np.arange(n) < 50
    tt, et, rt = t[test], e[test], r[test]
    tau = uno_tau(t[~test])
    own = sv.uno_c(tt, et, rt, tau=tau)
    trained = _uno_fold(t[~test], e[~test], tt, et, rt)
    assert trained == pytest.approx(_sksurv(tt, et, rt, tau, (t[~test], e[~test])), rel=1e-12)
    assert abs(own - trained) > 1e-3


def test_uno_training_censoring_errors():
    t, e, r = np.array([1.0, 2.0, 5.0]), np.array([True, True, False]), np.array([3, 2, 1.0])
    with pytest.raises(MetpotError, match="train_time and train_event"):
        sv.uno_c(t, e, r, train_time=t)
    # a death after the training follow-up: the training censoring distribution is unknown
    with pytest.raises(MetpotError, match="longest follow-up"):
        sv.uno_c(t, e, r, train_time=[1.5, 1.8], train_event=[0, 1])
    # ... unless tau leaves it out
    assert sv.uno_c(t, e, r, tau=1.9, train_time=[1.5, 1.8], train_event=[0, 1]) == 1.0
