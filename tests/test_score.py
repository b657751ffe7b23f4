"""Scoring new cohorts: coverage, confidence flags, model files, NTP, SNF propagation."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from metpot import score as S
from metpot.errors import DataWarning, MetpotError
from metpot.model_io import load_model, save_model
from metpot.simulate import simulate_cohort

# ------------------------------------------------------------------------ fixtures


def _toy(n=60, p=30, seed=0, width=3):
    """Two layers, three classes separated by the first features of the mRNA layer."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"] * (n // 3))
    mrna = rng.normal(5.0, 1.0, size=(n, p))
    for k, c in enumerate("abc"):
        mrna[y == c, width * k : width * (k + 1)] += 3.0
    mirna = rng.normal(2.0, 1.0, size=(n, 5))
    ids = [f"S{i:03d}" for i in range(n)]
    layers = {
        "mrna": pd.DataFrame(mrna, index=ids, columns=[f"g{j}" for j in range(p)]),
        "mirna": pd.DataFrame(mirna, index=ids, columns=[f"m{j}" for j in range(5)]),
    }
    return layers, pd.Series(y, index=ids)


def _fit(layers, y, names=("mrna",), transform="none", missing="mean", C=1.0):
    feats = [
        {"layer": n, "feature": f, "column": f"{n}:{f}"} for n in names for f in layers[n].columns
    ]
    X = pd.concat([layers[n].add_prefix(f"{n}:") for n in names], axis=1)
    X = X[[f["column"] for f in feats]]
    model = make_pipeline(
        SimpleImputer(), StandardScaler(), LogisticRegression(C=C, max_iter=2000)
    ).fit(X, y.loc[X.index])
    card = {
        "target": "subtype",
        "feature_set": "+".join(names),
        "classes": [str(c) for c in model.classes_],
        "layers": list(names),
        "features": feats,
        "preprocessing": {
            **S.training_statistics(X, transform),
            "fill_missing": missing,
            "standardize": "none",
        },
        "markers": S.class_markers(X, y.loc[X.index], 10),
        "metrics": {"primary": "balanced_accuracy", "balanced_accuracy": {"estimate": 0.9}},
    }
    return model, card


@pytest.fixture(scope="module")
def toy():
    layers, y = _toy()
    model, card = _fit(layers, y)
    return layers, y, model, card


# ---------------------------------------------------------------------- coverage


def test_coverage_below_minimum_is_refused_naming_first_20_missing(toy):
    layers, _, _, card = toy
    kept = layers["mrna"].iloc[:, :5]  # 5 of 30 features
    with pytest.raises(MetpotError) as err:
        S.match_features({"mrna": kept}, card, min_coverage=0.9)
    msg = str(err.value)
    assert "\n" not in msg
    assert "coverage 0.167 is below score.min_coverage 0.9" in msg
    assert "25 of the model's 30 features are missing" in msg
    named = msg.split("first 20: ")[1].rstrip(")").split(", ")
    assert named == [f"mrna:g{j}" for j in range(5, 25)]


def test_partial_coverage_warns_and_fills_as_the_card_says(toy):
    layers, _, _, card = toy
    cut = {"mrna": layers["mrna"].drop(columns=["g29", "g28"])}
    with pytest.warns(DataWarning, match=r"coverage 0\.933: 2 of the model's 30 features"):
        X, info = S.match_features(cut, card, min_coverage=0.9)
    assert info["coverage"] == pytest.approx(28 / 30) and info["missing"] == [
        "mrna:g28",
        "mrna:g29",
    ]
    mean = card["preprocessing"]["mean"]
    assert (X["mrna:g29"] == mean[29]).all() and (X["mrna:g28"] == mean[28]).all()
    imp = {**card, "preprocessing": {**card["preprocessing"], "fill_missing": "impute"}}
    with pytest.warns(DataWarning, match="NaN for the model imputer"):
        X2, _ = S.match_features(cut, imp, min_coverage=0.9)
    assert X2["mrna:g29"].isna().all()
    assert X2.drop(columns=["mrna:g28", "mrna:g29"]).equals(
        X.drop(columns=["mrna:g28", "mrna:g29"])
    )


def test_shuffled_columns_samples_and_layers_give_identical_predictions(toy):
    layers, _, model, card = toy
    out, _ = S.score_cohort(model, card, layers, method="classifier")
    rng = np.random.default_rng(3)
    m = layers["mrna"]
    shuffled = {
        "mirna": layers["mirna"],
        "mrna": m.iloc[rng.permutation(m.shape[0]), rng.permutation(m.shape[1])],
    }
    out2, _ = S.score_cohort(model, card, shuffled, method="classifier")
    out2 = out2.set_index("sample_id").loc[out["sample_id"]].reset_index()
    pd.testing.assert_frame_equal(out, out2)
    X, _ = S.match_features(shuffled, card)
    assert list(X.columns) == [f["column"] for f in card["features"]]


# --------------------------------------------------------------------- confidence


def test_low_confidence_is_flagged_never_silently_assigned(toy):
    layers, _, model, card = toy
    X, _ = S.match_features(layers, card)
    conf = model.predict_proba(X).max(axis=1)
    cut = float(np.median(conf))
    out, summary = S.score_cohort(model, card, layers, min_confidence=cut)
    low = out["confidence"].to_numpy() < cut
    assert 0 < low.sum() < len(low)
    assert (out["flag"].str.contains("low_confidence").to_numpy() == low).all()
    # the most probable class is kept, flagged
    probs = out[[f"proba_{c}" for c in card["classes"]]].to_numpy()
    assert (out["prediction"].to_numpy() == np.array(card["classes"])[probs.argmax(1)]).all()
    assert summary["flags"]["low_confidence"] == low.sum()
    assert sum(summary["counts_unflagged"].values()) == (out["flag"] == "").sum()
    # or unassigned on request
    out2, summary2 = S.score_cohort(
        model, card, layers, min_confidence=cut, low_confidence="unassign"
    )
    assert out2["prediction"].isna().to_numpy().tolist() == low.tolist()
    assert summary2["counts"]["NA"] == low.sum()


def test_card_classes_must_match_the_model(toy):
    layers, _, model, card = toy
    bad = {**card, "classes": ["b", "a", "c"]}
    X, _ = S.match_features(layers, bad)
    with pytest.raises(MetpotError, match="differ from the model's classes"):
        S.predict_classifier(model, X, bad)


# ----------------------------------------------------------------- model files


def test_saved_model_scores_identically_and_tampered_file_is_refused(tmp_path, toy):
    layers, y, model, card = toy
    path = tmp_path / "subtype" / "logreg__mrna.skops"
    written = save_model(model, path, card)
    loaded, card2 = load_model(path)
    a, _ = S.score_cohort(model, card, layers)
    b, summary = S.score_cohort(loaded, card2, layers)
    pd.testing.assert_frame_equal(a, b)
    assert summary["model"]["sha256"] == written["sha256"]
    other, _ = _fit(layers, y, C=0.01)
    save_model(other, tmp_path / "other.skops", card)
    path.write_bytes((tmp_path / "other.skops").read_bytes())
    with pytest.raises(MetpotError, match=r"logreg__mrna\.skops: SHA-256 .* differs from its card"):
        load_model(path)


# ------------------------------------------------------------------ model choice


def _card(layers, metric, n_features, target="subtype"):
    feats = [
        {"layer": la, "feature": f"f{j}", "column": f"{la}:f{j}"}
        for la in layers
        for j in range(n_features)
    ]
    return {
        "target": target,
        "layers": layers,
        "features": feats,
        "metrics": {"primary": "balanced_accuracy", "balanced_accuracy": {"estimate": metric}},
    }


def test_mrna_only_cohort_gets_the_mrna_only_model():
    cards = {
        "both.skops": _card(["mrna", "mirna"], 0.95, 10),
        "mrna.skops": _card(["mrna"], 0.85, 10),
        "mirna.skops": _card(["mirna"], 0.90, 10),
    }
    assert S.select_model(cards, ["mrna"]) == "mrna.skops"
    assert S.select_model(cards, ["mrna", "mirna"]) == "both.skops"
    assert S.select_model(cards, ["mirna", "methylation"]) == "mirna.skops"
    # with the features given, coverage decides too
    few = {"mrna": [f"f{j}" for j in range(5)], "mirna": [f"f{j}" for j in range(10)]}
    assert S.select_model(cards, few, min_coverage=0.9) == "mirna.skops"
    # ties go to the model with fewer features
    tie = {"big": _card(["mrna"], 0.9, 20), "small": _card(["mrna"], 0.9, 5)}
    assert S.select_model(tie, ["mrna"]) == "small"
    with pytest.raises(MetpotError, match="no model of target subtype uses only"):
        S.select_model(cards, ["methylation"])
    with pytest.raises(MetpotError, match="several targets"):
        S.select_model({**cards, "os": _card(["mrna"], 0.7, 3, target="os")}, ["mrna"])


# --------------------------------------------------------------------------- NTP


def test_ntp_p_values_against_a_hand_computed_case():
    # one sample, four standardised features a, b, c, d; three classes:
    # X marked by a and b, Y by c, Z by d -> templates (1, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)
    z = pd.DataFrame([[2.0, 1.0, 0.0, -1.0]], index=["s1"], columns=list("abcd"))
    T = pd.DataFrame(
        [[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], index=list("abcd"), columns=list("XYZ")
    )
    # observed: cos to X = (2 + 1) / (sqrt(6) sqrt(2)) = 3 / sqrt(12); to Y 0; to Z -1 / sqrt(6)
    d_obs = 1 - 3 / math.sqrt(12)
    # the resampling draw of sample 0 with seed 9: 5 vectors of 4 indices into (a, b, c, d)
    draw = np.random.default_rng(np.random.SeedSequence(9).spawn(1)[0]).integers(0, 4, (5, 4))
    assert draw.tolist() == [[1, 1, 0, 1], [0, 3, 1, 1], [2, 1, 2, 1], [1, 0, 1, 2], [0, 0, 3, 0]]
    # resampled vectors and their smallest distance 1 - max cos, by hand:
    # (1, 1, 2, 1): cos X = 2/sqrt(14), Y = 2/sqrt(7), Z = 1/sqrt(7)  -> 1 - 2/sqrt(7)
    # (2,-1, 1, 1): cos X = 1/sqrt(14), Y = 1/sqrt(7), Z = 1/sqrt(7)  -> 1 - 1/sqrt(7)
    # (0, 1, 0, 1): cos X = 1/2,        Y = 0,         Z = 1/sqrt(2)  -> 1 - 1/sqrt(2)
    # (1, 2, 1, 0): cos X = 3/sqrt(12), Y = 1/sqrt(6), Z = 0          -> d_obs (a tie)
    # (2, 2,-1, 2): cos X = 4/sqrt(26), Y = -1/sqrt(13), Z = 2/sqrt(13) -> 1 - 4/sqrt(26)
    null = [
        1 - 2 / math.sqrt(7),
        1 - 1 / math.sqrt(7),
        1 - 1 / math.sqrt(2),
        d_obs,
        1 - 4 / math.sqrt(26),
    ]
    assert (
        sum(d < d_obs - 1e-12 for d in null) == 0 and sum(abs(d - d_obs) < 1e-12 for d in null) == 1
    )
    res = S.ntp(z, T, n_perm=5, seed=9)
    assert res.loc["s1", "prediction"] == "X"
    assert res.loc["s1", "d_X"] == pytest.approx(d_obs, abs=1e-14)
    assert res.loc["s1", "d_Y"] == pytest.approx(1.0) and res.loc["s1", "d_Z"] == pytest.approx(
        1 + 1 / math.sqrt(6)
    )
    # (1 + #{null <= observed}) / (n_perm + 1) = (1 + 1) / 6
    assert res.loc["s1", "p_value"] == pytest.approx(2 / 6, abs=1e-15)
    # CMScaller: average rank of the observed among 6 values = 1.5 -> 1.5 / 6, floored at 1/5
    cms = S.ntp(z, T, n_perm=5, seed=9, p_convention="cmscaller")
    assert cms.loc["s1", "p_value"] == pytest.approx(1.5 / 6, abs=1e-15)
    assert res.loc["s1", "fdr"] == res.loc["s1", "p_value"]


def test_bh_fdr_matches_r_p_adjust():
    # p.adjust(c(0.01, 0.04, 0.03, 0.2, 0.02), "BH") in R
    p = [0.01, 0.04, 0.03, 0.2, 0.02]
    np.testing.assert_allclose(S.bh_fdr(p), [0.05, 0.05, 0.05, 0.2, 0.05])
    np.testing.assert_allclose(S.bh_fdr([0.5, 0.01]), [0.5, 0.02])


def test_ntp_noise_samples_get_large_p_and_clear_samples_small():
    layers, y = _toy(p=60, width=10)
    _, card = _fit(layers, y)
    rng = np.random.default_rng(11)
    mrna = layers["mrna"]
    noise = pd.DataFrame(
        rng.normal(mrna.mean().to_numpy(), mrna.std().to_numpy(), size=(40, mrna.shape[1])),
        index=[f"N{i:02d}" for i in range(40)],
        columns=mrna.columns,
    )
    cohort = {"mrna": pd.concat([mrna, noise])}
    res, info = S.ntp_predict(cohort, card, n_perm=500, seed=1)
    assert info["n_markers"] == {"a": 10, "b": 10, "c": 10}
    real = res.loc[mrna.index]
    fake = res.loc[noise.index]
    assert (real["prediction"] == y).mean() >= 0.95
    assert real["p_value"].max() < 0.02
    assert fake["p_value"].median() > 0.2
    assert (fake["fdr"] > 0.05).mean() >= 0.9
    assert res["low_confidence"].equals(res["fdr"] > 0.05)
    # fixed seed, identical output; another seed, other p-values
    again, _ = S.ntp_predict(cohort, card, n_perm=500, seed=1)
    pd.testing.assert_frame_equal(res, again)
    other, _ = S.ntp_predict(cohort, card, n_perm=500, seed=2)
    assert not np.array_equal(other["p_value"], res["p_value"])


def test_ntp_needs_two_markers_per_class(toy):
    _, _, _, card = toy
    with pytest.raises(MetpotError, match=r"fewer than 2 markers .*: a \(1\)"):
        S.ntp_templates({"a": ["x", "gone"], "b": ["y", "z"]}, ["x", "y", "z"])
    with pytest.warns(DataWarning, match="fewer than 5 markers for class"):
        two = S.ntp_templates({"a": ["x", "w"], "b": ["y", "z"]}, ["x", "y", "z", "w"])
    assert two.loc["x"].tolist() == [1.0, -1.0]  # two classes: -1 off-class, as CMScaller


# ------------------------------------------------------ distribution and platform


def test_other_platform_is_flagged_and_per_cohort_standardisation_recovers(toy):
    layers, y, model, card = toy
    shifted = {"mrna": layers["mrna"] * 0.5 + 8.0}  # another scale and offset
    with pytest.warns(DataWarning, match="looks unlike the training data"):
        out, summary = S.score_cohort(model, card, shifted)
    assert summary["distribution"]["unlike_training"]
    assert out["flag"].str.contains("unlike_training").mean() > 0.5
    raw_acc = (out.set_index("sample_id")["prediction"] == y).mean()
    out2, summary2 = S.score_cohort(model, card, shifted, standardize="per_cohort")
    acc = (out2.set_index("sample_id")["prediction"] == y).mean()
    assert not summary2["distribution"]["unlike_training"]
    assert summary2["distribution"]["n_flagged"] == 0
    assert acc >= 0.95 > raw_acc
    same, s3 = S.score_cohort(model, card, layers)
    assert s3["distribution"]["n_flagged"] == 0 and s3["distribution"]["median_shift"] < 0.1


def test_distribution_rule_counts_values_outside_training_range():
    card = {
        "preprocessing": {
            "q01": [0.0, 0.0, 0.0, 0.0],
            "q50": [1.0] * 4,
            "q99": [2.0] * 4,
            "sd": [1.0] * 4,
        }
    }
    X = pd.DataFrame(
        [[1, 1, 1, 1], [3, 1, 1, 1], [3, 3, 1, np.nan], [-1, 3, 3, 3]],
        index=list("pqrs"),
        columns=list("abcd"),
        dtype=float,
    )
    per, cohort = S.distribution_check(X, card, max_outside=0.3)
    np.testing.assert_allclose(per["share_outside"], [0, 0.25, 2 / 3, 1.0])
    # 3 and -1 lie 1 sd beyond the range: inside with a margin of 1 sd, outside with 0.99
    loose, _ = S.distribution_check(X, card, max_outside=0.3, margin=1.0)
    assert (loose["share_outside"] == 0).all()
    tight, _ = S.distribution_check(X, card, max_outside=0.3, margin=0.99)
    np.testing.assert_allclose(tight["share_outside"], per["share_outside"])
    assert per["unlike_training"].tolist() == [False, False, True, True]
    assert cohort["n_flagged"] == 2 and not cohort["unlike_training"]
    # a missing feature (filled) is left out of the check
    per2, _ = S.distribution_check(X, card, max_outside=0.3, missing=["a"])
    np.testing.assert_allclose(per2["share_outside"], [0, 0, 0.5, 1.0])


def test_per_cohort_standardisation_on_log2_scale():
    layers, y = _toy()
    counts = {"mrna": np.exp2(layers["mrna"]) - 1.0}
    model, card = _fit(counts, y, transform="log2")
    assert card["preprocessing"]["transformed_mean"][0] == pytest.approx(
        float(np.log2(counts["mrna"]["g0"] + 1).mean())
    )
    X, _ = S.match_features(counts, card)
    Xs = S.standardize_cohort(X, card, "per_cohort")
    # on the training cohort itself the mapping is the identity
    np.testing.assert_allclose(Xs.to_numpy(), X.to_numpy(), rtol=1e-9, atol=1e-9)
    no_t = {
        **card,
        "preprocessing": {k: v for k, v in card["preprocessing"].items() if k != "transformed_sd"},
    }
    with pytest.raises(MetpotError, match="preprocessing.transformed_sd is missing"):
        S.standardize_cohort(X, no_t, "per_cohort")


# ------------------------------------------------------- agreement, risk, SNF


def test_agreement_table():
    a = pd.Series(["x", "x", "y", "y"], index=list("pqrs"))
    b = pd.Series(["x", "y", "y", "y"], index=list("pqrs"))
    table, tabs = S.agreement({"m1": a, "m2": b, "m3": a})
    row = table.iloc[0]
    assert (row["method_a"], row["method_b"], row["n"]) == ("m1", "m2", 4)
    assert row["agreement"] == 0.75
    # kappa: po = 0.75, pe = 0.5 * 0.25 + 0.5 * 0.75 = 0.5 -> 0.5
    assert row["kappa"] == pytest.approx(0.5)
    assert table.iloc[1][["agreement", "kappa", "ari"]].tolist() == [1.0, 1.0, 1.0]
    assert tabs["m1 vs m2"] == {"x": {"x": 1, "y": 1}, "y": {"x": 0, "y": 2}}


def test_demo_cohort_70_30_classifier_ntp_and_snf_with_risk_groups():
    c = simulate_cohort(150, seed=2018)
    layers = {k: c[k].T for k in ("mrna", "mirna")}
    y = c["truth"].set_index("sample_id")["label"]
    train, test = train_test_split(list(y.index), test_size=0.3, random_state=0, stratify=y)
    model, card = _fit({k: v.loc[train] for k, v in layers.items()}, y.loc[train], C=0.1)
    card["markers"] = S.class_markers(
        layers["mrna"].loc[train].add_prefix("mrna:"), y.loc[train], 50
    )
    new = {k: v.loc[test] for k, v in layers.items()}
    ref = {"layers": {k: v.loc[train] for k, v in layers.items()}, "labels": y.loc[train]}
    clinical = c["clinical"].set_index("sample_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        out, summary = S.score_cohort(
            model, card, new, clinical=clinical, method="all", reference=ref, ntp_n_perm=200
        )
    truth = y.loc[out["sample_id"]].to_numpy()
    acc = {
        m: float((out[col].to_numpy() == truth).mean())
        for m, col in [
            ("classifier", "prediction"),
            ("ntp", "ntp_prediction"),
            ("snf", "snf_prediction"),
        ]
    }
    assert acc["classifier"] >= 0.8 and acc["ntp"] >= 0.75 and acc["snf"] >= 0.8, acc
    pairs = {(p["method_a"], p["method_b"]) for p in summary["agreement"]["pairs"]}
    assert pairs == {
        ("classifier", "ntp"),
        ("classifier", "snf_propagation"),
        ("ntp", "snf_propagation"),
    }
    dis = (out["prediction"] != out["ntp_prediction"]) | (
        out["prediction"] != out["snf_prediction"]
    )
    assert (out["flag"].str.contains("methods_disagree") == dis).all()
    # risk groups: Pitroda 2018 table, the patient without CEA has none
    assert out.loc[out["sample_id"] == "CRLM098", "crs"].isna().all()
    ok = out.dropna(subset=["crs_group"])
    immune_low = (ok["prediction"] == "immune") & (ok["crs_group"] == "low")
    assert (ok.loc[immune_low, "risk_group"] == "low").all()
    assert set(ok["risk_group"]) <= {"low", "intermediate", "high"}
    assert any("CRLM098" in w for w in summary["warnings"])
    assert summary["n_samples"] == len(test) == sum(summary["counts"].values())


def test_snf_propagation_needs_every_discovery_layer(toy):
    layers, y, model, card = toy
    ref = {"layers": layers, "labels": y}
    with pytest.raises(MetpotError, match="new cohort lacks mirna"):
        S.score_cohort(
            None, card, {"mrna": layers["mrna"]}, method="snf_propagation", reference=ref
        )
    with pytest.raises(MetpotError, match="needs the discovery cohort"):
        S.score_cohort(None, card, layers, method="snf_propagation")


def test_outputs_are_writable_and_other_class_names_get_no_risk_group(tmp_path, toy):
    import json

    from metpot.io import write_json, write_tsv

    layers, y, model, card = toy
    clinical = pd.DataFrame({"crs": [0, 1, 2, 3, 4, 5] * 10}, index=layers["mrna"].index)
    with pytest.warns(DataWarning, match=r"class\(es\) a, b, c are not in the default"):
        out, summary = S.score_cohort(
            model, card, layers, clinical=clinical, method="all", min_confidence=0.9
        )
    assert out["risk_group"].isna().all() and out["crs"].notna().all()
    assert (out["crs_group"] == np.where(out["crs"] >= 3, "high", "low")).all()
    write_tsv(out, tmp_path / "predictions.tsv")
    write_json(summary, tmp_path / "summary.json")
    back = pd.read_csv(tmp_path / "predictions.tsv", sep="\t", dtype={"sample_id": str})
    assert back["sample_id"].tolist() == out["sample_id"].tolist()
    assert back["prediction"].tolist() == out["prediction"].tolist()
    assert json.loads((tmp_path / "summary.json").read_text())["n_samples"] == 60
    # a risk table naming the classes gives risk groups
    table = {c: {"low": "low", "high": "high"} for c in "abc"}
    out2, _ = S.score_cohort(model, card, layers, clinical=clinical, risk_table=table)
    assert (out2["risk_group"] == out2["crs_group"]).all()


def test_duplicate_sample_ids_are_refused(toy):
    layers, _, _, card = toy
    m = layers["mrna"]
    with pytest.raises(MetpotError, match="layer mrna: duplicate sample ids S000"):
        S.match_features({"mrna": pd.concat([m, m.iloc[:1]])}, card)


# ----------------------------------------------------------- what a user hits (issue 21)


@pytest.fixture(scope="module")
def two_layer_model(tmp_path_factory):
    layers, y = _toy()
    model, card = _fit(layers, y, names=("mrna", "mirna"))
    path = tmp_path_factory.mktemp("model") / "m.skops"
    save_model(model, path, card)
    return layers, path


def _score_cli(tmp_path, model_path, omics, capsys):
    from metpot.cli import main

    args = ["score", "--model", str(model_path), "--out", str(tmp_path / "out")]
    for name, frame in omics.items():
        file = tmp_path / f"{name}.tsv"
        frame.to_csv(file, sep="\t")
        args += ["--omics", f"{name}={file}"]
    code = main(args)
    return code, capsys.readouterr().err


def test_a_sample_without_any_value_is_left_unassigned_and_named(toy):
    layers, _, model, card = toy
    mrna = layers["mrna"].copy()
    mrna.loc["S005"] = np.nan
    with pytest.warns(DataWarning, match=r"1 sample\(s\) without any value.*S005"):
        out, summary = S.score_cohort(model, card, {"mrna": mrna, "mirna": layers["mirna"]})
    out = out.set_index("sample_id")
    assert pd.isna(out.loc["S005", "prediction"]) and pd.isna(out.loc["S005", "confidence"])
    assert out.loc["S005", "flag"].split(";")[0] == "no_values"
    assert summary["counts"]["NA"] == 1 and summary["flags"]["no_values"] == 1
    # the other samples are scored as without it
    ref, _ = S.score_cohort(model, card, layers)
    ref = ref.set_index("sample_id").drop(index="S005")
    pd.testing.assert_series_equal(out["prediction"].drop(index="S005"), ref["prediction"])


def test_distribution_check_flags_a_sample_with_no_observed_value(toy):
    layers, _, _, card = toy
    X = layers["mrna"].add_prefix("mrna:").copy()
    X.iloc[3] = np.nan
    per_sample, _ = S.distribution_check(X, card)
    assert np.isnan(per_sample["share_outside"].iloc[3])
    assert per_sample["unlike_training"].iloc[3]
    assert not per_sample["unlike_training"].drop(index=X.index[3]).any()


def test_a_transposed_file_is_named_and_warnings_are_printed_on_failure(
    tmp_path, two_layer_model, capsys
):
    layers, model_path = two_layer_model
    # mirna written samples x features although --layout is features_x_samples (default)
    code, err = _score_cli(
        tmp_path, model_path, {"mrna": layers["mrna"].T, "mirna": layers["mirna"]}, capsys
    )
    assert code == 1 and "Traceback" not in err
    errors = [ln for ln in err.splitlines() if "ERROR" in ln]
    assert len(errors) == 1, err
    assert "layer mirna" in errors[0] and "transposed" in errors[0], errors[0]
    assert "not in every layer the model uses" in err and "S000" in err  # the warning
    assert not (tmp_path / "out").exists()


def test_the_transposed_check_is_the_one_of_validate():
    from metpot.validate import transposed_layers

    ids = {"mrna": (["S1", "S2"], ["g1", "g2"]), "mirna": (["m1", "m2"], ["S1", "S2"])}
    assert transposed_layers(ids) == ["mirna"]
    assert transposed_layers({"a": (["S1"], ["g1"]), "b": (["S2"], ["m1"])}) == []
    assert S.transposed_layers is transposed_layers


def test_an_unknown_layer_is_named_with_the_models_layers(tmp_path, two_layer_model, capsys):
    layers, model_path = two_layer_model
    code, err = _score_cli(
        tmp_path, model_path, {"rnaseq": layers["mrna"].T, "mirna": layers["mirna"].T}, capsys
    )
    assert code == 1
    errors = [ln for ln in err.splitlines() if "ERROR" in ln]
    assert len(errors) == 1, err
    assert "rnaseq" in errors[0] and "mrna, mirna" in errors[0], errors[0]


def test_a_layer_the_model_does_not_use_is_named_in_a_warning(toy):
    layers, _, _, card = toy  # an mRNA-only model
    with pytest.warns(DataWarning, match=r"layer\(s\) mirna .*not used by the model.*mrna"):
        S.match_features(layers, card)
