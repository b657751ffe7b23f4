"""Tests of metpot.survival: hand-computed and synthetic checks, and the R reference."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import COAD, R_SURVIVAL, SNFTOOL, load_snftool_case
from scipy import stats

from metpot import survival as sv
from metpot.errors import DataWarning, MetpotError

# Agreement with R's survival package on the COAD cohort, relative: measured at most 1.1e-14 for
# the log-rank test, the Cox model, Kaplan-Meier and Harrell's C (the JSON holds 15 significant
# digits), and 1.0e-12 for the univariable Cox table (coef and z; p 2.5e-13), on 2026-11-21.
RTOL = 1e-12
RTOL_UNIVARIABLE = 1e-10
Z975 = stats.norm.ppf(0.975)


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------

T_SMALL = [1, 2, 2, 3, 4, 5]
E_SMALL = [1, 1, 0, 1, 0, 1]


def test_kaplan_meier_hand_computed():
    km = sv.kaplan_meier(T_SMALL, E_SMALL)
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["n_risk"].tolist() == [6, 5, 3, 2, 1]
    assert km["n_event"].tolist() == [1, 1, 1, 0, 1]
    assert km["n_censor"].tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(km["surv"], [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0], rtol=1e-14)
    # Greenwood on the log scale: sum d / (n (n - d)) = 1/30 + 1/20 + 1/6 = 1/4 at t = 3
    assert km["std_err_log"].iloc[2] == pytest.approx(0.5, rel=1e-14)
    assert km["std_err"].iloc[2] == pytest.approx(4 / 9 * 0.5, rel=1e-14)
    assert km["lower"].iloc[2] == pytest.approx(4 / 9 * math.exp(-Z975 * 0.5), rel=1e-14)
    assert km["upper"].iloc[2] == 1.0  # 4/9 * exp(+0.98) > 1, clipped as R
    lower0 = 5 / 6 * math.exp(-Z975 * math.sqrt(1 / 30))
    assert km["lower"].iloc[0] == pytest.approx(lower0, rel=1e-14)
    # survival 0: R gives NA limits
    assert np.isnan(km["lower"].iloc[4]) and np.isnan(km["upper"].iloc[4])


def test_survival_at_step_semantics():
    km = sv.kaplan_meier(T_SMALL, E_SMALL)
    at = sv.survival_at(km, [0.5, 2, 2.5, 3, 5, 6])
    np.testing.assert_allclose(at["surv"].iloc[:5], [1, 2 / 3, 2 / 3, 4 / 9, 0.0], rtol=1e-14)
    assert at["n_risk"].tolist()[:5] == [6, 5, 3, 3, 1]
    assert np.isnan(at["surv"].iloc[5])  # beyond follow-up: R drops it
    # (time, event) tuple gives the same
    pd.testing.assert_frame_equal(at, sv.survival_at((T_SMALL, E_SMALL), [0.5, 2, 2.5, 3, 5, 6]))


def test_median_survival_like_print_survfit():
    med = sv.median_survival((T_SMALL, E_SMALL))
    assert med["median"] == 3.0
    # R survmean: lower <- minmin(lower, time); upper <- minmin(upper, time)
    assert med["lower"] == 2.0  # lower confidence curve first <= 0.5 at t = 2
    assert np.isnan(med["upper"])  # upper curve never reaches 0.5 (1, then NA at S = 0)
    # curve exactly at 0.5 over an interval: midpoint to the next drop
    assert sv.median_survival(([1, 2, 3, 4], [1, 1, 1, 1]))["median"] == 2.5


def test_median_not_reached():
    med = sv.median_survival(([1, 2, 3, 4], [1, 0, 0, 0]))
    assert np.isnan(med["median"])


# ---------------------------------------------------------------------------------------------
# log-rank and Cox on synthetic data
# ---------------------------------------------------------------------------------------------


def _sim(n=200, seed=1, beta=0.7, censor=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    age = rng.normal(60, 10, n)
    t = rng.exponential(1.0 / np.exp(beta * x + 0.02 * (age - 60)))
    if censor:
        c = rng.exponential(1.5, n)
        e = t <= c
        t = np.minimum(t, c)
    else:
        e = np.ones(n, bool)
    return t, e, x, age


def test_logrank_symmetric_in_group_labels():
    t, e, x, _ = _sim()
    a = sv.logrank_test(t, e, x)
    b = sv.logrank_test(t, e, 1 - x)
    c = sv.logrank_test(t, e, np.where(x == 1, "a", "b"))
    assert a["chisq"] == pytest.approx(b["chisq"], rel=1e-12)
    assert a["chisq"] == pytest.approx(c["chisq"], rel=1e-12)
    assert a["df"] == 1 and a["groups"] == [0, 1]
    assert sum(a["observed"]) == pytest.approx(sum(a["expected"]), rel=1e-12)
    assert a["observed"] == b["observed"][::-1]


def test_cox_binary_score_test_equals_logrank_without_ties():
    t, e, x, _ = _sim(seed=3)
    assert len(np.unique(t)) == len(t)
    lr = sv.logrank_test(t, e, x)
    fit = sv.cox_ph(pd.DataFrame({"x": x}), t, e)
    assert fit.score_test["stat"] == pytest.approx(lr["chisq"], rel=1e-10)
    assert fit.converged
    assert fit.lr_test["stat"] > 0 and fit.wald_test["df"] == 1
    # stopping rule (1e-9 on the log-likelihood) leaves the estimate at the maximum
    tight = sv.cox_ph(pd.DataFrame({"x": x}), t, e, eps=1e-15)
    assert fit.coef[0] == pytest.approx(tight.coef[0], rel=1e-6)
    assert fit.loglik[1] == pytest.approx(tight.loglik[1], rel=1e-12)


def test_pairwise_logrank_and_p_adjust():
    t, e, x, age = _sim(n=300, seed=4)
    g = np.where(age > 65, "c", np.where(x == 1, "b", "a"))
    pw = sv.pairwise_logrank(t, e, g, correction="holm")
    assert list(zip(pw.group1, pw.group2, strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    for row in pw.itertuples():
        sel = np.isin(g, [row.group1, row.group2])
        assert row.chisq == pytest.approx(sv.logrank_test(t[sel], e[sel], g[sel])["chisq"])
    p = pw["p"].to_numpy()
    o = np.argsort(p)
    holm = np.maximum.accumulate(np.minimum(1, (3 - np.arange(3)) * p[o]))
    np.testing.assert_allclose(pw["p_adj"].to_numpy()[o], holm)
    bh = sv.pairwise_logrank(t, e, g, correction="BH")["p_adj"].to_numpy()
    np.testing.assert_allclose(bh, sv.p_adjust(p, "BH"))
    assert np.all(bh >= p - 1e-15)
    with pytest.raises(MetpotError, match="correction"):
        sv.pairwise_logrank(t, e, g, correction="nope")


def test_cox_multivariable_and_dummies():
    t, e, x, age = _sim(n=300, seed=5)
    grp = pd.Series(np.where(age > 65, "old", np.where(x == 1, "b", "a")), name="grp")
    d = sv.treatment_dummies(grp)  # reference = largest group
    largest = grp.value_counts().idxmax()
    assert f"factor(grp){largest}" not in d.columns and d.shape[1] == 2
    d2 = sv.treatment_dummies(grp, reference="a")
    assert list(d2.columns) == ["factor(grp)b", "factor(grp)old"]
    X = d2.assign(age=age)
    fit = sv.cox_ph(X, t, e)
    tab = fit.table
    assert list(tab["term"]) == ["factor(grp)b", "factor(grp)old", "age"]
    np.testing.assert_allclose(tab["hr"], np.exp(tab["coef"]))
    np.testing.assert_allclose(tab["hr_lower"], np.exp(tab["coef"] - Z975 * tab["se"]))
    np.testing.assert_allclose(tab["z"], tab["coef"] / tab["se"])
    assert fit.loglik[1] > fit.loglik[0]
    assert fit.lr_test["df"] == 3
    json.dumps(fit.to_dict())  # plain types only
    with pytest.raises(MetpotError, match="reference level"):
        sv.treatment_dummies(grp, reference="zzz")


def test_cox_aliased_covariate_is_nan():
    t, e, x, age = _sim(n=150, seed=6)
    X = pd.DataFrame({"x": x.astype(float), "x_copy": x.astype(float), "age": age})
    fit = sv.cox_ph(X, t, e)
    assert np.isnan(fit.coef[1]) and np.isfinite(fit.coef[0]) and fit.lr_test["df"] == 2
    single = sv.cox_ph(X[["x", "age"]], t, e)
    np.testing.assert_allclose([fit.coef[0], fit.coef[2]], single.coef, rtol=1e-10)


def test_univariable_cox_matches_cox_ph_per_feature():
    rng = np.random.default_rng(7)
    n = 120
    t = np.round(rng.exponential(100, n))  # tied times -> Efron matters
    e = rng.random(n) < 0.6
    X = pd.DataFrame(rng.normal(size=(n, 6)) * [1, 2, 0.5, 3, 1, 1], columns=list("abcdef"))
    X["f"] = 3.0  # constant: NA as R
    X.loc[5, "e"] = np.nan  # missing value: fitted on its complete samples
    u = sv.univariable_cox(X, t, e)
    assert list(u["feature"]) == list(X.columns)
    for j, col in enumerate("abcd"):
        fit = sv.cox_ph(X[[col]], t, e)
        assert u["coef"].iloc[j] == pytest.approx(fit.coef[0], rel=1e-12)
        assert u["p"].iloc[j] == pytest.approx(fit.p[0], rel=1e-12)
    ok = X["e"].notna().to_numpy()
    fit_e = sv.cox_ph(X.loc[ok, ["e"]], t[ok], e[ok])
    assert u["p"].iloc[4] == pytest.approx(fit_e.p[0], rel=1e-12) and u["n"].iloc[4] == n - 1
    assert np.isnan(u["coef"].iloc[5]) and np.isnan(u["p"].iloc[5])


def test_cox_zph_flags_non_proportional_hazards():
    rng = np.random.default_rng(11)
    n = 400
    x = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    # x = 1: hazard 4 before t = 0.3 and 0.25 after (crossing hazards); z: proportional
    t0 = rng.exponential(1.0 / np.exp(0.5 * z))
    early = rng.exponential(1 / 4.0, n)
    late = 0.3 + rng.exponential(1 / 0.25, n)
    t1 = np.where(early < 0.3, early, late) * np.exp(-0.5 * z)
    t = np.where(x == 1, t1, t0)
    c = rng.uniform(0, 4, n)
    e = t <= c
    t = np.minimum(t, c)
    fit = sv.cox_ph(pd.DataFrame({"x": x, "z": z}), t, e)
    zph = sv.cox_zph(fit)
    assert list(zph.index) == ["x", "z", "GLOBAL"]
    assert zph.loc["x", "p"] < 1e-4
    assert zph.loc["GLOBAL", "df"] == 2
    assert np.all(zph["chisq"] >= 0)
    for tr in ("rank", "log", "identity"):
        assert sv.cox_zph(fit, transform=tr).loc["x", "p"] < 1e-3
    joint = sv.cox_zph(fit, terms={"both": ["x", "z"]}, global_test=False)
    assert joint.loc["both", "chisq"] == pytest.approx(zph.loc["GLOBAL", "chisq"], rel=1e-10)


# ---------------------------------------------------------------------------------------------
# concordance
# ---------------------------------------------------------------------------------------------


def _brute_harrell(t, e, r):
    num = den = 0.0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                den += 1
                num += 1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0
    return num / den


def test_harrell_c_brute_force_and_direction():
    rng = np.random.default_rng(8)
    t = np.round(rng.exponential(10, 80))
    e = rng.random(80) < 0.7
    r = np.round(rng.normal(size=80), 1)
    assert sv.harrell_c(t, e, r) == pytest.approx(_brute_harrell(t, e, r), rel=1e-14)
    assert sv.harrell_c(t, e, -r) == pytest.approx(1 - sv.harrell_c(t, e, r), rel=1e-12)
    # higher risk = shorter survival -> C near 1 for a perfect predictor
    t2 = np.arange(1.0, 21.0)
    assert sv.harrell_c(t2, np.ones(20), -t2) == 1.0


def test_uno_equals_harrell_without_censoring():
    t, e, x, age = _sim(n=150, seed=9, censor=False)
    risk = x + 0.01 * age
    assert sv.uno_c(t, e, risk) == pytest.approx(sv.harrell_c(t, e, risk), rel=1e-12)
    t, e, x, age = _sim(n=300, seed=9)
    c_h, c_u = sv.harrell_c(t, e, x), sv.uno_c(t, e, x)
    assert abs(c_h - c_u) < 0.05
    assert sv.uno_c(t, e, x, tau=np.quantile(t, 0.5)) > 0.5


def test_bootstrap_ci_deterministic():
    t, e, x, age = _sim(n=120, seed=10)
    a = sv.bootstrap_ci(sv.harrell_c, t, e, age, n_boot=200, seed=42)
    b = sv.bootstrap_ci(sv.harrell_c, t, e, age, n_boot=200, seed=42)
    assert a == b
    assert a["lower"] <= a["estimate"] <= a["upper"] and a["n_boot"] == 200
    assert a["estimate"] == sv.harrell_c(t, e, age)
    json.dumps(a)


def test_concordance_table_shared_resamples():
    t, e, x, age = _sim(n=150, seed=12)
    preds = {"x": x.astype(float), "age": age, "x_again": x.astype(float)}
    res = sv.concordance_table(t, e, preds, n_boot=100, seed=1)
    tab = res["table"].set_index("predictor")
    assert tab.loc["x", "harrell_c"] == pytest.approx(sv.harrell_c(t, e, x))
    assert tab.loc["x", "uno_c"] == pytest.approx(sv.uno_c(t, e, x))
    assert tab.loc["x", "harrell_lower"] == tab.loc["x_again", "harrell_lower"]
    d = res["differences"].set_index(["predictor_a", "predictor_b", "metric"])
    # identical predictors on the same resamples: difference exactly 0
    assert d.loc[("x", "x_again", "harrell"), ["difference", "lower", "upper"]].tolist() == [
        0.0,
        0.0,
        0.0,
    ]
    assert len(res["differences"]) == 6
    again = sv.concordance_table(t, e, preds, n_boot=100, seed=1)
    pd.testing.assert_frame_equal(res["table"], again["table"])


# ---------------------------------------------------------------------------------------------
# survival_frame
# ---------------------------------------------------------------------------------------------


def test_survival_frame_validation():
    clin = pd.DataFrame(
        {
            "id": ["p1", "p2", "p3", "p4", "p5"],
            "days": [10, None, -3, 40, 50],
            "status": ["Dead", "Alive", "Dead", "", "Alive"],
        }
    )
    expected = (
        r"^3 of 5 patients left out of survival analysis "
        r"\(missing days: p2; negative days: p3; missing status: p4\)$"
    )
    with pytest.warns(DataWarning, match=expected) as rec:
        sf = sv.survival_frame(clin, "days", "status", "Dead", id_col="id")
    assert len(rec) == 1
    assert list(sf.index) == ["p1", "p5"]
    assert sf["event"].tolist() == [True, False] and sf["time"].dtype == float
    with pytest.raises(MetpotError, match="never occurs.*Alive"):
        sv.survival_frame(clin, "days", "status", "Deceased", id_col="id")
    bad = clin.assign(status=["Dead", "Alive", "Lost", "Dead", "Alive"])
    with pytest.raises(MetpotError, match="more than two.*Lost"):
        sv.survival_frame(bad, "days", "status", "Dead")
    none = clin.assign(days=[None] * 5)
    with pytest.raises(MetpotError, match="no patient"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        sv.survival_frame(none, "days", "status", "Dead")
    with pytest.raises(MetpotError, match="no column 'nope'"):
        sv.survival_frame(clin, "nope", "status", "Dead")
    num = pd.DataFrame({"t": [1.0, 2.0], "e": [1, 0]})
    assert sv.survival_frame(num, "t", "e", 1)["event"].tolist() == [True, False]


def test_input_errors():
    with pytest.raises(MetpotError, match="event must be 0/1"):
        sv.kaplan_meier([1, 2], [1, 2])
    with pytest.raises(MetpotError, match="negative"):
        sv.kaplan_meier([-1, 2], [1, 0])
    with pytest.raises(MetpotError, match="at least two groups"):
        sv.logrank_test([1, 2], [1, 0], ["a", "a"])


# ---------------------------------------------------------------------------------------------
# R reference (vendored in tests/data/r_reference, see tests/data/PROVENANCE.md)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coad():
    clin = pd.read_csv(COAD / "clinical.csv")
    mask = np.loadtxt(R_SURVIVAL / "coad_usable_mask.txt", dtype=str) == "TRUE"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        sf = sv.survival_frame(clin, "os_days", "os_status", "Dead", id_col="sample_id")
    labels = load_snftool_case(SNFTOOL / "coad_reference.npz")["labels_k3_2.3.1"]
    ref = json.loads((R_SURVIVAL / "coad_snf_k3_survival.json").read_text())
    return {
        "clin": clin,
        "mask": mask,
        "sf": sf,
        "t": sf["time"].to_numpy(),
        "e": sf["event"].to_numpy(),
        "lab": labels[mask],
        "age": clin["age"].to_numpy(float)[mask],
        "ref": ref,
    }


@pytest.mark.reference
def test_reference_patient_without_followup_dropped():
    clin = pd.read_csv(COAD / "clinical.csv")
    mask = np.loadtxt(R_SURVIVAL / "coad_usable_mask.txt", dtype=str) == "TRUE"
    assert mask.sum() == 254
    with pytest.warns(DataWarning, match=r"TCGA\.DM\.A1D7\.01"):
        sf = sv.survival_frame(clin, "os_days", "os_status", "Dead", id_col="sample_id")
    assert list(sf.index) == list(clin["sample_id"][mask])


@pytest.mark.reference
def test_reference_logrank(coad):
    ref = coad["ref"]["logrank"]
    lr = sv.logrank_test(coad["t"], coad["e"], coad["lab"])
    assert lr["chisq"] == pytest.approx(ref["chisq"], rel=RTOL)
    assert lr["p"] == pytest.approx(ref["p"], rel=RTOL)
    assert lr["df"] == ref["df"]
    assert lr["n"] == ref["n"]
    np.testing.assert_allclose(lr["observed"], ref["observed"], rtol=RTOL)
    np.testing.assert_allclose(lr["expected"], ref["expected"], rtol=RTOL)


@pytest.mark.reference
def test_reference_cox_factor_group_plus_age(coad):
    ref = coad["ref"]["cox"]
    X = sv.treatment_dummies(pd.Series(coad["lab"], name="lab"))  # largest group = 1 = R's
    X["age"] = coad["age"]
    fit = sv.cox_ph(X, coad["t"], coad["e"], ties=ref["ties"])
    assert fit.terms == ref["terms"]
    for ours, theirs in [
        ("coef", "coef"),
        ("se", "se"),
        ("hr", "hr"),
        ("p", "p"),
        ("hr_lower", "hr_lower95"),
        ("hr_upper", "hr_upper95"),
        ("loglik", "loglik"),
    ]:
        np.testing.assert_allclose(getattr(fit, ours), ref[theirs], rtol=RTOL, err_msg=ours)
    assert fit.n == coad["ref"]["n"] and fit.n_events == coad["ref"]["events"]


@pytest.mark.reference
def test_reference_km_at_landmarks(coad):
    ref = coad["ref"]["km"]
    for g in sorted(set(coad["lab"])):
        sel = coad["lab"] == g
        rows = [i for i, s in enumerate(ref["strata"]) if s == f"factor(lab)={g}"]
        times = [ref["time"][i] for i in rows]
        at = sv.survival_at(sv.kaplan_meier(coad["t"][sel], coad["e"][sel]), times)
        np.testing.assert_allclose(at["surv"], [ref["surv"][i] for i in rows], rtol=RTOL)
        np.testing.assert_allclose(at["lower"], [ref["lower95"][i] for i in rows], rtol=RTOL)
        np.testing.assert_allclose(at["upper"], [ref["upper95"][i] for i in rows], rtol=RTOL)
        assert at["n_risk"].tolist() == [ref["n_risk"][i] for i in rows]


@pytest.mark.reference
def test_reference_harrell_c_age(coad):
    c = sv.harrell_c(coad["t"], coad["e"], coad["age"])
    assert c == pytest.approx(coad["ref"]["harrell_c_age"]["c"], rel=RTOL)


@pytest.mark.reference
@pytest.mark.parametrize("layer", ["mrna", "mirna"])
def test_reference_univariable_cox(coad, layer):
    data = pd.read_csv(COAD / f"{layer}.csv.gz", index_col=0)
    ref = pd.read_csv(R_SURVIVAL / f"coad_{layer}_univariable_cox.csv.gz")
    X = data.T.loc[coad["mask"]]
    res = sv.univariable_cox(X, coad["t"], coad["e"])
    assert list(res["feature"]) == list(ref["feature"])
    na_ref = ref["p"].isna().to_numpy()
    assert np.array_equal(res["p"].isna().to_numpy(), na_ref)
    ok = ~na_ref
    np.testing.assert_allclose(res["p"][ok], ref["p"][ok], rtol=RTOL_UNIVARIABLE)
    np.testing.assert_allclose(res["coef"][ok], ref["coef"][ok], rtol=RTOL_UNIVARIABLE)
    np.testing.assert_allclose(res["z"][ok], ref["z"][ok], rtol=RTOL_UNIVARIABLE)
    ours = set(res.loc[res["p"] < 0.05, "feature"])
    theirs = set(ref.loc[ref["p"] < 0.05, "feature"])
    assert ours == theirs and len(ours) > 0


def _tv_loglik(x, t, e, gfun, theta):
    """Efron log partial likelihood of beta'x + gamma'x g(t), by brute force over death times."""
    p = x.shape[1]
    beta, gamma = theta[:p], theta[p:]
    ll = 0.0
    for s in np.unique(t[e]):
        risk = t >= s
        dead = (t == s) & e
        eta = x @ beta + (x @ gamma) * gfun(s)
        w = np.exp(eta)
        d = dead.sum()
        ll += eta[dead].sum()
        for k in range(d):
            ll -= np.log(w[risk].sum() - k / d * w[dead].sum())
    return ll


def test_cox_zph_is_the_score_test_of_beta_times_g_of_t():
    rng = np.random.default_rng(21)
    n = 80
    x = np.c_[rng.integers(0, 2, n), rng.normal(size=n)]
    t = np.round(rng.exponential(1.0 / np.exp(0.6 * x[:, 0] - 0.4 * x[:, 1])) * 20) + 1
    c = rng.uniform(5, 60, n)
    e = t <= c
    t = np.minimum(t, np.round(c))
    fit = sv.cox_ph(pd.DataFrame(x, columns=["a", "b"]), t, e, eps=1e-14)
    km = sv.kaplan_meier(t, e)
    ttimes = {s: 1 - float(np.r_[1.0, km["surv"]][np.searchsorted(km["time"], s)]) for s in t}
    gmean = np.mean([ttimes[s] for s in t[e]])
    theta0 = np.r_[fit.coef, 0.0, 0.0]
    h = 1e-4
    k = theta0.size
    f = lambda th: _tv_loglik(x, t, e, lambda s: ttimes[s] - gmean, th)  # noqa: E731
    grad = np.zeros(k)
    hess = np.zeros((k, k))
    for i in range(k):
        ei = np.eye(k)[i] * h
        grad[i] = (f(theta0 + ei) - f(theta0 - ei)) / (2 * h)
        for j in range(k):
            ej = np.eye(k)[j] * h
            hess[i, j] = (
                f(theta0 + ei + ej)
                - f(theta0 + ei - ej)
                - f(theta0 - ei + ej)
                + f(theta0 - ei - ej)
            ) / (4 * h * h)
    info = -hess
    zph = sv.cox_zph(fit)
    u = np.r_[0.0, 0.0, grad[2:]]
    for j, term in enumerate(["a", "b"]):
        kk = [0, 1, 2 + j]
        expected = u[kk] @ np.linalg.solve(info[np.ix_(kk, kk)], u[kk])
        assert zph.loc[term, "chisq"] == pytest.approx(expected, rel=1e-4)
    assert zph.loc["GLOBAL", "chisq"] == pytest.approx(u @ np.linalg.solve(info, u), rel=1e-4)


def test_univariable_cox_converges_for_features_of_any_scale_and_offset():
    # the time it takes for 20,000 features is measured by bench/bench_cox.py
    rng = np.random.default_rng(0)
    n, nf = 300, 2000
    t = np.round(rng.exponential(1000, n))
    e = rng.random(n) < 0.4
    X = rng.normal(size=(n, nf)) * rng.uniform(0.2, 3, nf) + rng.uniform(0, 10, nf)
    res = sv.univariable_cox(X, t, e)
    assert res["converged"].all() and len(res) == nf


def test_median_ci_brackets_the_median():
    """R print.survfit: the lower limit comes from the lower confidence curve."""
    from metpot.survival import median_survival

    rng = np.random.default_rng(5)
    t = rng.exponential(10.0, 200)
    e = rng.uniform(size=200) < 0.8
    m = median_survival((t, e))
    assert m["lower"] < m["median"] < m["upper"]
