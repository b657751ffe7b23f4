"""Classifiers, nested CV, leakage, the CRS comparison and model cards (metpot.classify)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import COAD, needs_shared

from metpot import classify as C
from metpot.errors import DataWarning, MetpotError
from metpot.survival import cox_ph

FAST = {"outer": {"folds": 5, "repeats": 2}, "inner": {"folds": 3}, "n_jobs": 1, "seed": 3}


def _random_layers(n=90, p=(400, 120), seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"S{i:03d}" for i in range(n)]
    return {
        "mrna": pd.DataFrame(rng.normal(6, 1, (n, p[0])), index=ids,
                             columns=[f"G{j}" for j in range(p[0])]),
        "mirna": pd.DataFrame(rng.normal(3, 1, (n, p[1])), index=ids,
                              columns=[f"miR-{j}" for j in range(p[1])]),
    }  # fmt: skip


def _demo():
    from metpot.risk_score import fong_score
    from metpot.simulate import simulate_cohort
    from metpot.survival import survival_frame

    d = simulate_cohort(150, seed=2018)
    layers = {"mrna": d["mrna"].T, "mirna": d["mirna"].T}
    clinical = d["clinical"].set_index("sample_id")
    truth = d["truth"].set_index("sample_id")["label"]
    factors = ["node_positive", "disease_free_interval_months", "n_liver_tumors",
               "cea_ng_ml", "largest_tumor_cm"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        crs = fong_score(clinical, **{f: f for f in factors})["scores"]["crs"]
        os_ = survival_frame(clinical, "os_months", "os_event", 1)
    return layers, truth, crs.reindex(clinical.index).astype(float), os_


# ---------------------------------------------------------------------------------------------
# inputs, targets, folds
# ---------------------------------------------------------------------------------------------


def test_feature_matrix_prefixes_layers_and_refuses_misaligned_samples():
    layers = _random_layers(10, (3, 2))
    layers["mirna"] = layers["mirna"].iloc[::-1]  # same samples, other order
    X = C.feature_matrix(layers, "all")
    assert list(X.columns[:3]) == ["mrna:G0", "mrna:G1", "mrna:G2"]
    assert list(X.columns[3:]) == ["mirna:miR-0", "mirna:miR-1"]
    assert list(X.index) == list(layers["mrna"].index)
    np.testing.assert_array_equal(X["mirna:miR-1"], layers["mirna"].loc[X.index, "miR-1"])
    assert list(C.feature_matrix(layers, "mirna").columns) == ["mirna:miR-0", "mirna:miR-1"]
    layers["mirna"] = layers["mirna"].iloc[1:]
    with pytest.raises(MetpotError, match="layer mirna: samples differ"):
        C.feature_matrix(layers, "all")
    with pytest.raises(MetpotError, match="unknown feature set 'rna'"):
        C.feature_matrix(layers, "rna")


def test_small_class_is_left_out_with_a_warning_naming_it():
    labels = pd.Series(["1"] * 20 + ["2"] * 15 + ["4"] * 3 + [None],
                       index=[f"s{i}" for i in range(39)])  # fmt: skip
    with pytest.warns(DataWarning) as record:
        t = C.categorical_target(labels, "tcga_subtype", min_class_size=10)
    messages = [str(w.message) for w in record]
    assert any("1 sample(s) without a label left out: s38" in m for m in messages)
    assert any("class(es) 4 (3 samples) smaller than classify.min_class_size=10" in m
               for m in messages)  # fmt: skip
    assert t.classes == ["1", "2"] and len(t.samples) == 35
    assert t.n_excluded == 4


def test_landmark_target_converts_units_and_counts_early_censoring():
    surv = pd.DataFrame(
        {"time": [100.0, 400.0, 2000.0, 300.0, 1500.0], "event": [True, True, False, False, True]},
        index=list("abcde"),
    )
    with pytest.warns(DataWarning, match="1 of 5 patients censored before the 3-year landmark"):
        t = C.landmark_target(surv, "os_landmark", 3, "days")
    assert t.landmark == pytest.approx(3 * 365.25)
    assert t.y.to_dict() == {"a": 1, "b": 1, "c": 0, "e": 0}
    assert t.excluded == {"censored before 3 years": ["d"]}


def test_outer_folds_depend_only_on_samples_labels_and_seed():
    samples = [f"s{i}" for i in range(40)]
    labels = np.array(["a", "b"] * 20)
    f1 = C.outer_folds(samples, labels, 5, 2, seed=7)
    f2 = C.outer_folds(samples, labels, 5, 2, seed=7)
    pd.testing.assert_frame_equal(f1, f2)
    assert len(f1) == 80 and f1.groupby("repeat")["sample"].nunique().tolist() == [40, 40]
    # stratified: each test fold holds 4 of each label
    lab = dict(zip(samples, labels, strict=True))
    counts = f1.assign(lab=f1["sample"].map(lab)).groupby(["repeat", "fold", "lab"]).size()
    assert set(counts) == {4}
    assert not f1.equals(C.outer_folds(samples, labels, 5, 2, seed=8))


def test_cox_score_statistic_matches_the_cox_model_score_test():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    time = rng.exponential(5, 60) * np.exp(-0.8 * X[:, 0])
    event = rng.random(60) < 0.7
    chi = C._cox_score_stat(X, time, event)
    for j in range(3):
        ref = cox_ph(X[:, [j]], time, event).score_test["stat"]
        assert chi[j] == pytest.approx(ref, rel=1e-9)


def test_signature_is_chosen_inside_fit_with_layer_quotas():
    layers = _random_layers(60, (50, 20), seed=2)
    X = C.feature_matrix(layers, "all")
    y = np.array(["a", "b"] * 30)
    X.loc[y == "a", "mrna:G7"] += 3  # informative
    X.loc[y == "a", "mirna:miR-3"] += 3
    sel = C.SignatureSelector(quotas={"mrna": 4, "mirna": 2}).fit(X, y)
    out = sel.get_feature_names_out()
    assert len(out) == 6 and "mrna:G7" in out and "mirna:miR-3" in out
    assert sum(c.startswith("mrna:") for c in out) == 4
    shuffled = np.random.default_rng(0).permutation(y)
    other = C.SignatureSelector(size=3).fit(X, shuffled)
    assert "mrna:G7" not in other.get_feature_names_out()  # depends on the labels given
    with pytest.raises(MetpotError, match="quotas: no layer rna"):
        C.SignatureSelector(quotas={"rna": 2}).fit(X, y)


def test_pipeline_steps_are_fitted_on_training_data_only():
    X = C.feature_matrix(_random_layers(30, (20, 5)), "all")
    X.iloc[0, 0] = np.nan
    pipe = C.build_pipeline("logistic", top_variance=10)
    pipe.fit(X.iloc[:20], np.array(["a", "b"] * 10))
    med = np.median(X.iloc[1:20, 0])
    assert pipe.named_steps["missing"].median_[0] == pytest.approx(med)
    before_scale = pipe[:2].transform(X.iloc[:20]).to_numpy()
    np.testing.assert_allclose(pipe.named_steps["scale"].mean_, before_scale.mean(axis=0))
    every = pipe[:2].transform(X).to_numpy().mean(axis=0)
    assert not np.allclose(pipe.named_steps["scale"].mean_, every)  # test samples not used
    kept = pipe[:-1].get_feature_names_out()
    assert sum(c.startswith("mrna:") for c in kept) == 10 and len(kept) == 15


def test_log2_refuses_negative_values_naming_the_column():
    X = C.feature_matrix(_random_layers(10, (3, 2)), "mrna") - 10
    with pytest.raises(MetpotError, match="column 'mrna:G0'"):
        C.Log2Transform().fit(X).transform(X)


def test_corrected_t_interval():
    v = np.array([0.6, 0.7, 0.8, 0.65, 0.75])
    m, lo, hi = C._t_interval(v, ratio=0.25)
    se = np.sqrt((1 / 5 + 0.25) * v.var(ddof=1))
    from scipy import stats

    assert m == pytest.approx(0.7)
    assert hi - m == pytest.approx(stats.t.ppf(0.975, 4) * se)
    assert m - lo == pytest.approx(hi - m)


def test_net_benefit_without_censoring():
    rng = np.random.default_rng(0)
    event = rng.random(200) < 0.3
    time = np.where(event, 1.0, 5.0)
    prev = event.mean()
    nb = C.net_benefit(time, event, {"perfect": event.astype(float), "noise": rng.random(200)},
                       landmark=2.0, thresholds=[0.1, 0.5])  # fmt: skip
    nb = nb.set_index(["threshold", "strategy"])["net_benefit"]
    for pt in (0.1, 0.5):
        assert nb[(pt, "treat_all")] == pytest.approx(prev - (1 - prev) * pt / (1 - pt))
        assert nb[(pt, "perfect")] == pytest.approx(prev)
        assert nb[(pt, "treat_none")] == 0
        assert nb[(pt, "noise")] < prev


def test_best_model_ties_go_to_the_simpler_model():
    rows = pd.DataFrame(
        {
            "target": "t", "metric": "balanced_accuracy",
            "model": ["mlp", "logistic", "random_forest"], "feature_set": ["all", "all", "mrna"],
            "n_features": [100, 100, 50], "estimate": [0.9001, 0.9003, 0.85],
            "ci_low": 0.8, "ci_high": 0.95,
        }
    )  # fmt: skip
    best = C._best(rows, {"t": "categorical"})
    assert best.iloc[0]["model"] == "logistic"
    rows.loc[1, "estimate"] = 0.88
    assert C._best(rows, {"t": "categorical"}).iloc[0]["model"] == "mlp"


def test_config_is_checked():
    cfg = C.resolve_config({"models": {"logistic": {"grid": {"C": [1.0]}}}})
    assert cfg["models"] == {"logistic": {"grid": {"C": [1.0]}}}
    assert cfg["signature"] == {"size": 31, "quotas": {}}
    with pytest.raises(MetpotError, match="unknown model 'xgb'"):
        C.resolve_config({"models": {"xgb": {}}})
    with pytest.raises(MetpotError, match="unknown key"):
        C.resolve_config({"folds": 3})
    with pytest.raises(MetpotError, match="classify.outer.folds"):
        C.resolve_config({"outer": {"folds": 1}})


# ---------------------------------------------------------------------------------------------
# nested CV: leakage, same folds, cards
# ---------------------------------------------------------------------------------------------


def _shuffled_problem():
    """Features from the demo mRNA layer, labels independent of them (shuffled)."""
    layers, truth, _, _ = _demo()
    rng = np.random.default_rng(11)
    labels = pd.Series(rng.permutation(truth.loc[layers["mrna"].index].to_numpy()),
                       index=layers["mrna"].index)  # fmt: skip
    return {"mrna": layers["mrna"]}, C.categorical_target(labels, "shuffled")


def test_no_leakage_with_selection_and_tuning_inside_but_optimism_outside():
    layers, target = _shuffled_problem()
    cfg = {**FAST, "top_variance": 500, "signature": {"size": 20},
           "models": {"logistic": {"grid": {"C": [0.1, 1.0]}}}}  # fmt: skip
    inside = C.fit_one(target, "logistic", "signature", layers, cfg, refit=False)
    ba = inside["rows"].set_index("metric").loc["balanced_accuracy"]
    chance = 1 / len(target.classes)
    assert ba["ci_low"] <= chance <= ba["ci_high"]
    assert abs(ba["estimate"] - chance) < 0.1

    # the same code, the same folds, but the signature chosen on ALL samples beforehand
    X = C.feature_matrix(layers, "mrna")
    pre = C.build_pipeline("logistic", top_variance=500)[:3].fit(X)
    sel = C.SignatureSelector(size=20).fit(pre.transform(X), target.y_fit())
    chosen = [c.split(":", 1)[1] for c in sel.get_feature_names_out()]
    outside = C.fit_one(target, "logistic", "mrna", {"mrna": layers["mrna"][chosen]}, cfg,
                        refit=False)  # fmt: skip
    pd.testing.assert_frame_equal(outside["folds"], inside["folds"])
    ba_out = outside["rows"].set_index("metric").loc["balanced_accuracy"]
    assert ba_out["ci_low"] > chance  # optimistic: looks like real signal
    assert ba_out["estimate"] > ba["estimate"] + 0.15


@pytest.fixture(scope="module")
def small_fit():
    layers = _random_layers(60, (60, 20), seed=4)
    rng = np.random.default_rng(5)
    y = pd.Series(np.array(["canonical", "immune", "stromal"] * 20), index=layers["mrna"].index)
    layers["mrna"].loc[y == "immune", ["G1", "G2", "G3"]] += 2.5
    layers["mirna"].loc[y == "stromal", ["miR-4", "miR-5"]] += 2.5
    surv = pd.DataFrame(
        {"time": rng.exponential(30, 60) * np.where(y == "immune", 3, 1),
         "event": rng.random(60) < 0.7}, index=y.index)  # fmt: skip
    crs = pd.Series(rng.integers(0, 6, 60).astype(float), index=y.index)
    crs.iloc[0] = np.nan
    target = C.categorical_target(y, "snf_subtype")
    cfg = {**FAST, "signature": {"size": 5}, "models": {"logistic": {"grid": {"C": [0.5]}}}}
    res = C.fit_one(target, "logistic", "signature", layers, cfg, crs=crs, outcome=surv,
                    cohort={"name": "toy", "checksums": {"mrna": "abc"}})  # fmt: skip
    return res, layers, target, crs, surv, cfg


def test_fit_one_tables(small_fit):
    res, layers, target, crs, surv, cfg = small_fit
    rows = res["rows"]
    assert list(rows.columns[:8]) == ["target", "model", "feature_set", "n_features", "metric",
                                      "estimate", "ci_low", "ci_high"]  # fmt: skip
    assert set(rows["metric"]) == {"balanced_accuracy", "macro_f1", "auroc", "log_loss", "brier"}
    assert (rows["n_features"] == 5).all()
    pred = res["predictions"]
    assert len(pred) == 2 * 60 and pred.groupby("repeat")["sample"].nunique().tolist() == [60, 60]
    # every prediction is out-of-fold: its sample is in that fold's test set
    merged = pred.merge(res["folds"], on=["sample", "repeat"], suffixes=("", "_f"))
    assert (merged["fold"] == merged["fold_f"]).all()
    # the CRS comparison never uses the unscored patient
    assert pred.loc[pred["sample"] == "S000", "lp_crs"].isna().all()
    assert pred.loc[pred["sample"] != "S000", "lp_crs_molecular"].notna().all()
    assert np.allclose(pred.filter(like="prob:").sum(axis=1), 1)


def test_same_folds_for_every_model_and_the_crs(small_fit):
    res, layers, target, crs, surv, cfg = small_fit
    svm = {**cfg, "models": {"svm": {"grid": {"C": [0.01]}}}}
    other = C.fit_one(target, "svm", "mrna", layers, svm, refit=False)
    pd.testing.assert_frame_equal(other["folds"], res["folds"])
    st = C.survival_target(surv, "os")
    a = C.fit_one(st, "crs", "crs", layers, cfg, crs=crs, refit=False)
    b = C.fit_one(st, "coxnet", "mrna", layers, cfg, crs=crs, refit=False)
    pd.testing.assert_frame_equal(a["folds"], b["folds"])
    # the CRS alone is evaluated on the same folds, restricted to scored patients
    assert set(a["predictions"]["sample"]) == set(st.samples) - {"S000"}
    folds_of = a["predictions"].merge(b["folds"], on=["sample", "repeat"])
    assert (folds_of["fold_x"] == folds_of["fold_y"]).all()
    assert {"harrell_c", "uno_c", "integrated_brier"} <= set(b["rows"]["metric"])


def _sksurv_uno(t_tr, e_tr, t, e, risk, tau):
    from sksurv.metrics import concordance_index_ipcw

    y_tr, y = C._surv_array(t_tr, e_tr), C._surv_array(t, e)
    return concordance_index_ipcw(y_tr, y, np.asarray(risk, float), tau=tau, tied_tol=0.0)[0]


def test_uno_c_of_a_test_fold_is_scikit_survivals_with_the_training_censoring():
    from metpot.classify.metrics import UNO_TAU_QUANTILE, _survival_metrics, uno_tau

    rng = np.random.default_rng(11)
    t = rng.exponential(30, 200)
    e = rng.random(200) < 0.6
    risk = np.round(rng.normal(size=200) - 0.02 * t, 1)  # tied risks
    for seed in range(4):
        test = np.random.default_rng(seed).permutation(200) < 50
        y_tr, y_te = C._surv_array(t[~test], e[~test]), C._surv_array(t[test], e[test])
        got = _survival_metrics(y_tr, y_te, risk[test], None, [], [])["uno_c"]
        tau = float(np.quantile(t[~test], UNO_TAU_QUANTILE))
        assert uno_tau(t[~test]) == tau < t[~test].max()
        ref = _sksurv_uno(t[~test], e[~test], t[test], e[test], risk[test], tau)
        assert got == pytest.approx(ref, rel=1e-12, abs=0)


def test_compare_with_crs_uno_c_uses_each_folds_training_patients(small_fit):
    from metpot.classify.metrics import uno_tau

    res = small_fit[0]
    pred = res["predictions"]
    pred = pred[np.isfinite(pred["lp_crs"])]
    vals = []
    for (rep, fold), fg in pred.groupby(["repeat", "fold"]):
        tr = pred[(pred["repeat"] == rep) & (pred["fold"] != fold)]
        t_tr, e_tr = tr["outcome_time"], tr["outcome_event"].astype(bool)
        vals.append(_sksurv_uno(t_tr, e_tr, fg["outcome_time"], fg["outcome_event"],
                                fg["lp_crs"], uno_tau(t_tr)))  # fmt: skip
    table = C.compare_with_crs(res["predictions"], 5)["table"]
    row = table[(table["metric"] == "uno_c") & (table["predictor"] == "crs")].iloc[0]
    assert row["estimate"] == pytest.approx(np.mean(vals), rel=1e-12, abs=0)


def test_docs_state_the_uno_truncation_rule():
    from pathlib import Path

    from metpot.classify.metrics import UNO_TAU_QUANTILE

    page = (Path(__file__).resolve().parents[1] / "docs" / "classifiers.md").read_text()
    assert f"tau = the {UNO_TAU_QUANTILE:g} quantile" in " ".join(page.split())


def test_refit_is_deterministic(small_fit):
    res, layers, target, crs, surv, cfg = small_fit
    again = C.fit_one(target, "logistic", "signature", layers, cfg, crs=crs, outcome=surv)
    pd.testing.assert_frame_equal(again["predictions"], res["predictions"])
    pd.testing.assert_frame_equal(again["rows"], res["rows"])
    assert again["card"]["used_features"] == res["card"]["used_features"]


def test_model_card_and_saved_model(small_fit, tmp_path):
    from metpot.model_io import load_model

    res, layers, target, crs, surv, cfg = small_fit
    card = C.save_fit(res, tmp_path / "models" / "snf_subtype" / "logistic__signature.skops")
    model, card2 = load_model(tmp_path / "models" / "snf_subtype" / "logistic__signature.skops")
    assert card2 == card
    assert card["target"] == "snf_subtype" and card["target_kind"] == "categorical"
    assert card["classes"] == ["canonical", "immune", "stromal"]
    assert card["layers"] == ["mrna", "mirna"]
    X = C.feature_matrix(layers, "signature")
    assert [f["column"] for f in card["features"]] == list(X.columns)
    assert card["features"][0] == {"layer": "mrna", "feature": "G0", "column": "mrna:G0"}
    assert len(card["used_features"]) == 5
    assert set(card["used_features"]) == set(card["preprocessing"]["raw_value_summary"])
    s = card["preprocessing"]["raw_value_summary"]["mrna:G1"]
    assert s["mean"] == pytest.approx(X["mrna:G1"].mean())
    assert s["quantiles"]["0.5"] == pytest.approx(X["mrna:G1"].median())
    assert "mrna:G1" in card["markers"]["immune"][:3]
    assert "mirna:miR-5" in card["markers"]["stromal"][:3]
    assert card["training"] == {**card["training"], "cohort": "toy", "checksums": {"mrna": "abc"},
                                "n_samples": 60}  # fmt: skip
    assert card["metrics"]["primary"] == "balanced_accuracy"
    assert card["metrics"]["balanced_accuracy"]["estimate"] > 0
    np.testing.assert_array_equal(model.predict_proba(X), res["final"].predict_proba(X))
    feats = res["features"]
    assert set(feats["column"]) == set(card["used_features"])
    assert feats["weight_kind"].iloc[0] == "coefficient"


def test_compare_with_crs_and_figure(small_fit):
    from metpot.plots import plot_vs_crs

    res, *_ = small_fit
    comp = C.compare_with_crs(res["predictions"], 5, landmark=30.0)
    t = comp["table"]
    diff = t[(t["metric"] == "harrell_c_difference") & (t["reference"] == "crs")
             & (t["predictor"] == "crs_plus_molecular")].iloc[0]  # fmt: skip
    assert diff["ci_low"] <= diff["estimate"] <= diff["ci_high"] and 0 <= diff["p_value"] <= 1
    assert diff["n_patients"] == 59
    dc = comp["decision_curve"]
    assert set(dc["strategy"]) == {"treat_all", "treat_none", "crs", "molecular",
                                   "crs_plus_molecular"}  # fmt: skip
    fig = plot_vs_crs(t)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_yticklabels()) == 1


# ---------------------------------------------------------------------------------------------
# the demo cohort and TCGA COAD (slow)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_fits():
    layers, truth, crs, os_ = _demo()
    target = C.categorical_target(truth, "snf_subtype")
    logistic = {"logistic": C.DEFAULT_CONFIG["models"]["logistic"]}
    cfg = {**FAST, "n_jobs": 2, "seed": 1, "models": logistic}
    out = {
        fs: C.fit_one(target, "logistic", fs, layers, cfg, crs=crs, outcome=os_, refit=False)
        for fs in ("mrna", "all", "signature")
    }
    return out


def _ba(res):
    return res["rows"].set_index("metric").loc["balanced_accuracy"]


@pytest.mark.slow
def test_demo_subtype_from_mrna_alone(demo_fits):
    assert _ba(demo_fits["mrna"])["estimate"] >= 0.85


@pytest.mark.slow
def test_demo_31_feature_signature_close_to_the_full_model(demo_fits):
    assert _ba(demo_fits["signature"])["estimate"] >= _ba(demo_fits["all"])["estimate"] - 0.05
    assert (demo_fits["signature"]["rows"]["n_features"] == 31).all()


@pytest.mark.slow
def test_demo_crs_plus_predicted_subtype_beats_crs_alone(demo_fits):
    comp = C.compare_with_crs(demo_fits["all"]["predictions"], 5, landmark=36.0)["table"]
    d = comp[
        (comp["metric"] == "harrell_c_difference")
        & (comp["predictor"] == "crs_plus_molecular")
        & (comp["reference"] == "crs")
    ]
    d = d.iloc[0]  # fmt: skip
    assert d["estimate"] > 0


@pytest.mark.slow
@needs_shared
def test_tcga_coad_subtype_from_each_layer():
    from metpot.io import read_omics

    layers = {name: read_omics(COAD / f"{name}.csv.gz") for name in ("mrna", "mirna")}
    common = layers["mrna"].index.intersection(layers["mirna"].index)
    layers = {k: v.loc[common] for k, v in layers.items()}
    clinical = pd.read_csv(COAD / "clinical.csv", dtype=str).set_index("sample_id")
    with pytest.warns(DataWarning, match=r"class\(es\) 4 \(3 samples\)"):
        target = C.categorical_target(clinical.loc[common, "tcga_subtype"], "tcga_subtype")
    cfg = {**FAST, "n_jobs": 2, "models": {"logistic": C.DEFAULT_CONFIG["models"]["logistic"]}}
    for fs in ("mrna", "mirna", "all"):
        ba = _ba(C.fit_one(target, "logistic", fs, layers, cfg, refit=False))
        assert ba["ci_low"] > 1 / 3, fs  # better than chance for three classes


def test_build_targets_and_a_landmark_target_end_to_end(small_fit):
    res, layers, target, crs, surv, cfg = small_fit
    clinical = pd.DataFrame({"response": ["yes", "no"] * 30}, index=surv.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        targets = C.build_targets(
            ["snf_subtype", "os", "os_landmark", "response"], clinical=clinical,
            subtypes=target.y, endpoints={"os": surv}, landmark_years=2, time_unit="months",
        )  # fmt: skip
    assert [t.kind for t in targets.values()] == ["categorical", "survival", "landmark",
                                                  "categorical"]  # fmt: skip
    assert targets["os_landmark"].landmark == 24.0
    with pytest.raises(MetpotError, match="neither snf_subtype, an endpoint"):
        C.build_targets(["stage"], clinical=clinical, endpoints={"os": surv})
    lm = C.fit_one(targets["os_landmark"], "logistic", "mrna", layers, cfg, crs=crs)
    assert lm["landmark"] == 24.0
    assert set(lm["rows"]["metric"]) >= {"auroc", "balanced_accuracy"}
    both = C.assemble([res, lm], cfg)
    assert set(both["best"]["target"]) == {"snf_subtype", "os_landmark"}
    assert set(both["vs_crs"]["target"]) == {"snf_subtype", "os_landmark"}
    assert set(both["decision_curve"]["landmark"]) == {24.0, 36.0}
    assert set(both["folds"].columns) == {"target", "sample", "repeat", "fold"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("model", C.CLASSIFIERS)
def test_every_classifier_takes_numeric_looking_labels(model):
    """TCGA subtypes are "1".."4": every classifier must fit them (class weights included)."""
    X = C.feature_matrix(_random_layers(30, (8, 4)), "all")
    y = np.array(["1", "2", "3"] * 10, dtype=object)
    pipe = C.build_pipeline(model, top_variance=5).fit(X, y)
    assert list(pipe.classes_) == ["1", "2", "3"]


# ---------------------------------------------------------------------------------------------
# several models on one feature set: shared preprocessing, out-of-bag and warm-started tuning
# ---------------------------------------------------------------------------------------------


def _signal_target(n=60, seed=4):
    layers = _random_layers(n, (60, 20), seed=seed)
    y = pd.Series(np.array(["canonical", "immune", "stromal"] * (n // 3)),
                  index=layers["mrna"].index)  # fmt: skip
    layers["mrna"].loc[y == "immune", ["G1", "G2", "G3"]] += 1.5
    layers["mirna"].loc[y == "stromal", ["miR-4", "miR-5"]] += 1.5
    return layers, C.categorical_target(y, "snf_subtype")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shared_preprocessing_gives_what_each_models_own_pipeline_gives():
    """fit_models fits the preprocessing once per training set for all models: each model's
    test-fold probabilities and chosen parameters are those of scikit-learn's GridSearchCV on
    that model's own whole pipeline, with the same inner splits."""
    from sklearn.model_selection import GridSearchCV

    layers, target = _signal_target()
    grids = {"svm": {"C": [0.001, 0.1]}, "logistic": {"C": [0.5]}}  # no warm path: one C
    cfg = {**FAST, "signature": {"size": 6}, "models": {m: {"grid": g} for m, g in grids.items()}}
    fits = C.fit_models(target, ["svm", "logistic"], "signature", layers, cfg, refit=False)
    X = C.feature_matrix(layers, "signature")
    (r, f, tr, te), *_ = C._fold_indices(fits[0]["folds"], list(X.index))
    inner = C._inner_splits(target.strata[tr], 3, FAST["seed"])
    for fit in fits:
        model = fit["model"]
        pipe = C.build_pipeline(model, top_variance=1000, signature={"size": 6}, seed=3)
        search = GridSearchCV(pipe, C.param_grid(model, grids[model]), cv=inner,
                              scoring="balanced_accuracy")  # fmt: skip
        search.fit(X.iloc[tr], target.y.to_numpy()[tr])
        pred = fit["predictions"].query("repeat == @r and fold == @f")
        proba = search.predict_proba(X.iloc[te])
        got = pred.set_index("sample").loc[X.index[te], [f"prob:{c}" for c in target.classes]]
        np.testing.assert_allclose(got.to_numpy(), proba, rtol=0, atol=1e-12)
        chosen = fit["best_params"].query("repeat == @r and fold == @f").iloc[0]
        assert chosen["C"] == search.best_params_[next(iter(search.best_params_))]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_models_fitted_together_or_alone_agree():
    layers, target = _signal_target()
    cfg = {**FAST, "models": {"logistic": {}, "svm": {"grid": {"C": [0.01]}}}}
    together = C.fit_models(target, ["logistic", "svm"], "mrna", layers, cfg, refit=False)
    for fit in together:
        alone = C.fit_one(target, fit["model"], "mrna", layers, cfg, refit=False)
        pd.testing.assert_frame_equal(fit["rows"], alone["rows"])
        pd.testing.assert_frame_equal(fit["predictions"], alone["predictions"])


def test_random_forest_is_tuned_out_of_bag():
    """No inner CV: each candidate forest is fitted once on the training fold and judged by its
    out-of-bag predictions, which are also the training patients' molecular predictions of the
    CRS comparison (each made by trees that did not see the patient)."""
    from sklearn.ensemble import RandomForestClassifier

    layers, target = _signal_target()
    X = C.feature_matrix(layers, "mrna")
    prep = C.build_preprocessing(top_variance=50)
    fitted = C._prepare(prep, X, target)
    grid = C.param_grid("random_forest", {"min_samples_leaf": [1, 5]})
    est, params, oob = C._tune(C.make_model("random_forest", 1), grid, fitted, [], len(X),
                               target, need_oof=True)  # fmt: skip
    assert isinstance(est, RandomForestClassifier) and est.oob_score
    assert params in ({"model__min_samples_leaf": 1}, {"model__min_samples_leaf": 5})
    assert oob.shape == (len(X), 3) and np.allclose(oob.sum(axis=1), 1)
    ref = RandomForestClassifier(**{**est.get_params(), "oob_score": True}).fit(
        fitted.train, fitted.y
    )
    np.testing.assert_array_equal(oob, ref.oob_decision_function_)
    # out of bag, not in sample: worse than the forest's fit to its own training data
    in_sample = est.predict_proba(fitted.train)
    assert (oob.max(axis=1) <= in_sample.max(axis=1) + 1e-12).mean() > 0.9


def test_logistic_grid_is_a_warm_started_path_along_c():
    cands = [{"model__C": 0.5, "model__l1_ratio": 0.5}, {"model__C": 0.05, "model__l1_ratio": 0.5}]
    assert C._warm_path(C.make_model("logistic"), cands) == [1, 0]
    mixed = [{"model__C": 0.5, "model__l1_ratio": 0.5}, {"model__C": 0.05, "model__l1_ratio": 1}]
    assert C._warm_path(C.make_model("logistic"), mixed) is None
    assert C._warm_path(C.make_model("svm"), [{"model__estimator__C": 1}] * 2) is None


def test_balanced_accuracy_is_scikit_learns():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.choice(["a", "b", "c"], 30)
        p = rng.choice(["a", "b", "c", "d"], 30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert C._balanced_accuracy(y, p) == balanced_accuracy_score(y, p)


def test_nanmedian_columns_is_numpys():
    rng = np.random.default_rng(1)
    for _ in range(100):
        x = np.round(rng.normal(size=(rng.integers(1, 25), 7)), 1)
        x[rng.random(x.shape) < rng.random()] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(x, axis=0)
        np.testing.assert_array_equal(C._nanmedian_columns(x), ref)


def test_one_classify_job_per_target_and_feature_set():
    from metpot import manifest
    from metpot.config import load_config

    cfg = load_config(
        {"cohort": {"name": "x", "omics": {"mrna": {"path": "m.tsv"}, "mirna": {"path": "r.tsv"}},
                    "clinical": {"path": "c.tsv", "time": "t", "event": "e",
                                 "time_unit": "months"}},
         "classify": {"targets": ["snf_subtype", "os"],
                      "models": {"logistic": {}, "random_forest": {}}}}
    )  # fmt: skip
    jobs = manifest.classify_fit_jobs(cfg)
    assert ("snf_subtype", "mrna", ("logistic", "random_forest")) in jobs
    assert ("os", "all", ("coxnet", "rsf")) in jobs
    assert len(jobs) == 4 + 4  # 4 feature sets per target; no CRS without crs columns
    rules = manifest.classify_fit_rules(cfg)
    assert rules["classify_fit"]["models"] == ("logistic", "random_forest")
    assert rules["classify_fit_survival"]["targets"] == ["os"]
    files = manifest.step("classify_fit", cfg, target="snf_subtype", feature_set="signature")
    assert set(files.outputs) >= {"logistic__rows", "random_forest__model", "random_forest__card"}
    assert files.benchmark.endswith("benchmarks/classify/snf_subtype/signature.tsv")
    # a job sees only the sections the rule hands it, and must find the same jobs (the CRS's)
    with_crs = load_config({**{k: v for k, v in cfg.items() if k != "crs"},
                            "crs": {"score": "crs_score"}})  # fmt: skip
    handed = {k: with_crs[k] for k in ("output_dir", "cohort", *manifest.CLASSIFY_FIT_SECTIONS)
              if k in with_crs}  # fmt: skip
    assert ("os", "crs", ("crs",)) in manifest.classify_fit_jobs(with_crs)
    assert manifest.classify_fit_jobs(handed) == manifest.classify_fit_jobs(with_crs)
    fits = {o.path for f in manifest.expand_step("classify_fit", cfg) for o in f.outputs.values()}
    per_fit = {o.path for job in manifest.classify_jobs(cfg)
               for o in manifest.classify_fit_files(cfg, *job).values()}  # fmt: skip
    assert fits == per_fit


# ---------------------------------------------------------------------------------------------
# no silent fits: convergence and warnings recorded
# ---------------------------------------------------------------------------------------------


def _separable_survival(n=40, seed=0):
    """Survival ordered exactly by a CRS-like score: the Cox likelihood is monotone."""
    rng = np.random.default_rng(seed)
    ids = [f"S{i:03d}" for i in range(n)]
    crs = pd.Series(np.repeat(np.arange(5.0), n // 5), index=ids)
    time = 100.0 - 15.0 * crs.to_numpy() + rng.uniform(0, 5, n)  # higher score, earlier death
    surv = pd.DataFrame({"time": time, "event": True}, index=ids)
    return crs, surv


def test_cox_fit_that_does_not_converge_is_marked_not_zeroed():
    crs, surv = _separable_survival()
    from metpot.classify.inputs import _surv_array

    y = _surv_array(surv["time"], surv["event"])
    with pytest.warns(C.CoxConvergenceWarning, match="did not converge"):
        cox = C.CoxPH().fit(crs.to_numpy()[:, None], y)
    assert cox.converged_ is False and cox.n_iter_ > 0
    assert not np.any(cox.coef_ == 0)  # diverging (or NaN), never a silent 0
    assert np.isnan(cox.predict(crs.to_numpy()[:, None])).all()
    assert np.isnan(cox.survival_at(crs.to_numpy()[:, None], [50.0])).all()
    x = crs.to_numpy()[:, None] + np.random.default_rng(1).normal(0, 3, (40, 1))
    ok = C.CoxPH().fit(x, y)
    assert ok.converged_ is True and np.isfinite(ok.predict(x)).all()


def test_non_converged_cox_folds_give_nan_metrics_and_are_recorded():
    crs, surv = _separable_survival()
    st = C.survival_target(surv, "os")
    res = C.fit_one(st, "crs", "crs", {}, FAST, crs=crs)
    cnc = res["cox_not_converged"]
    assert cnc["count"] == 11 and cnc["final"] == 1  # 5 x 2 outer folds and the final model
    assert [(f["repeat"], f["fold"]) for f in cnc["folds"]] == [(r, f) for r in (0, 1)
                                                                 for f in range(5)]  # fmt: skip
    assert res["fold_metrics"]["harrell_c"].isna().all()
    assert (res["rows"]["n_folds"] == 0).all()
    assert res["fit_warnings"]["CoxConvergenceWarning"]["count"] == 11
    assert len(res["fit_warnings"]["CoxConvergenceWarning"]["first"]) <= 3
    assert res["predictions"]["risk"].isna().all()
    assert res["final"].converged_ is False


def test_fit_records_convergence_warnings_of_the_fits():
    layers, target = _signal_target()
    cfg = {**FAST, "models": {"logistic": {"grid": {"C": [0.5], "max_iter": [1]}}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recorded, not shown
        res = C.fit_one(target, "logistic", "mrna", layers, cfg)
    conv = res["fit_warnings"]["ConvergenceWarning"]
    assert conv["count"] == 11  # one per outer fold and the final refit
    assert 1 <= len(conv["first"]) <= 3 and "max_iter" in conv["first"][0]
    assert res["cox_not_converged"] == {"count": 0, "folds": [], "final": 0}


def test_fit_json_holds_the_fit_record():
    from metpot.step_io import Model
    from metpot.steps.classify import fit_objects

    record = {"ConvergenceWarning": {"count": 4, "first": ["lbfgs failed to converge"]}}
    cox = {"count": 1, "folds": [{"repeat": 0, "fold": 2, "fits": 1}], "final": 0}
    res = {"target": "os", "kind": "survival", "model": "crs", "feature_set": "crs",
           "landmark": 36.0, "n_excluded": 0, "excluded": {}, "fit_warnings": record,
           "cox_not_converged": cox, "card": {}, "final": None, "features": None,
           "rows": pd.DataFrame({"metric": ["harrell_c"], "estimate": [0.6], "ci_low": [0.5],
                                 "ci_high": [0.7]})}  # fmt: skip
    for name in ("fold_metrics", "best_params", "predictions", "folds"):
        res[name] = pd.DataFrame({"x": [1]})
    out = fit_objects(res, lambda name: f"crs__{name}")
    fit = out["crs__fit"]
    assert fit["fit_warnings"] == record and fit["cox_not_converged"] == cox
    assert isinstance(out["crs__model"], Model) and "crs__card" not in out  # beside the model
    assert out["crs__features"].empty


def test_no_blanket_warning_filters_in_classify():
    """The fits' warnings are recorded; only named, handled notes are filtered (by message)."""
    import re
    from pathlib import Path

    src = Path(C.__file__).parent
    for path in src.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"simplefilter\(\s*[\"']ignore", text), path.name
        assert "nan_to_num(np.asarray(res.coef" not in text, path.name
