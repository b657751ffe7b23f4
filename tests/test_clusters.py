import numpy as np
import pandas as pd
import pytest

from metpot.clusters import agreement, choose_n_clusters, name_subtypes, signature_scores
from metpot.errors import DataWarning


def est(eg, rc, eg2=5, rc2=6):
    return {
        "eigengap_best": eg,
        "eigengap_second": eg2,
        "rotation_cost_best": rc,
        "rotation_cost_second": rc2,
    }


def test_fixed_n_is_returned():
    assert choose_n_clusters(est(2, 3), None, 4)[0] == 4


def test_agreeing_estimates_win_even_against_lower_pac():
    k, why = choose_n_clusters(est(3, 3), {2: 0.01, 3: 0.05}, "auto")
    assert k == 3 and "agree" in why


def test_pac_arbitrates_disagreement():
    assert choose_n_clusters(est(2, 4), {2: 0.2, 4: 0.1}, "auto")[0] == 4
    assert choose_n_clusters(est(2, 4), {2: 0.05, 4: 0.1}, "auto")[0] == 2
    assert choose_n_clusters(est(2, 4), {2: 0.1, 4: 0.1}, "auto")[0] == 4  # tie: rotation cost


def test_without_consensus_rotation_cost_is_used():
    k, why = choose_n_clusters(est(2, 4), None, "auto")
    assert k == 4 and "rotation-cost" in why


def test_agreement_perfect_under_other_names_and_order():
    idx = list("abcdefghi")
    truth = pd.Series(list("xxxyyyzzz"), index=idx)
    # the same partition with other cluster numbers, samples listed in another order
    labels = pd.Series([3, 3, 3, 1, 1, 1, 2, 2, 2], index=idx).iloc[::-1]
    res = agreement(labels, truth)
    assert res["n"] == 9
    for key in ("ari", "nmi", "nmi_snftool"):
        assert res[key] == pytest.approx(1.0, rel=1e-12), key
    expected = pd.DataFrame(
        [[0, 0, 3], [3, 0, 0], [0, 3, 0]],
        index=pd.Index(["x", "y", "z"], name="truth"),
        columns=pd.Index([1, 2, 3], name="subtype"),
    )
    pd.testing.assert_frame_equal(res["confusion"], expected, check_dtype=False)


def test_agreement_permuted_labels():
    idx = list("abcdef")
    truth = pd.Series(list("xxxyyy"), index=idx)
    # two samples swapped between the clusters: contingency [[2, 1], [1, 2]]
    res = agreement(pd.Series([1, 1, 2, 1, 2, 2], index=idx), truth)
    # ARI = (sum C(n_ij, 2) - E) / (max - E) with sum C(n_ij, 2) = 2, E = 6 * 6 / C(6, 2) = 2.4
    # and max = 6, i.e. -1/9; NMI: both entropies are 1 bit and MI = 5/3 - log2(3) bits
    assert res["ari"] == pytest.approx(-1 / 9, rel=1e-12)
    assert res["nmi"] == pytest.approx(5 / 3 - np.log2(3), rel=1e-12)
    assert res["nmi_snftool"] == pytest.approx(5 / 3 - np.log2(3), rel=1e-12)
    assert res["confusion"].to_numpy().tolist() == [[2, 1], [1, 2]]
    # labels independent of the truth: contingency all ones, ARI = (0 - 2/3) / (2 - 2/3)
    independent = agreement(pd.Series([1, 2, 1, 2], index=list("abde")), truth.loc[list("abde")])
    assert independent["n"] == 4
    assert independent["ari"] == pytest.approx(-0.5, rel=1e-12)
    assert independent["nmi"] == 0.0 and independent["nmi_snftool"] == 0.0
    # samples without a known label are ignored
    assert agreement(pd.Series([1, 1, 2, 1, 2, 2, 1], index=[*idx, "g"]), truth)["n"] == 6


def test_subtypes_named_after_their_signature():
    rng = np.random.default_rng(0)
    labels = pd.Series(np.repeat([1, 2, 3], 10), index=[f"s{i}" for i in range(30)])
    X = pd.DataFrame(
        rng.normal(size=(30, 6)),
        index=labels.index,
        columns=["CD8A", "GZMB", "COL1A1", "FAP", "MYC", "E2F1"],
    )
    X.loc[labels == 2, ["CD8A", "GZMB"]] += 3
    X.loc[labels == 3, ["COL1A1", "FAP"]] += 3
    X.loc[labels == 1, ["MYC", "E2F1"]] += 3
    sigs = {
        "immune": ["CD8A", "GZMB", "NOTTHERE"],
        "stromal": ["COL1A1", "FAP"],
        "canonical": ["MYC", "E2F1"],
    }
    with pytest.warns(DataWarning, match="NOTTHERE"):
        scores = signature_scores(X, sigs)
    table = name_subtypes(labels, scores)
    assert dict(zip(table["subtype"], table["name"], strict=True)) == {
        1: "canonical",
        2: "immune",
        3: "stromal",
    }
    assert table["n"].tolist() == [10, 10, 10]


def test_signature_scores_z_score_each_feature_over_present_values():
    X = pd.DataFrame(
        {"A": [1.0, 2.0, 4.0, np.nan], "B": [3.0, 3.0, 3.0, 3.0], "C": [0.0, 1.0, 2.0, 5.0]},
        index=["s1", "s2", "s3", "s4"],
    )
    scores = signature_scores(X, {"ab": ["A", "B"], "c": ["C"]})
    a = (np.array([1, 2, 4]) - 7 / 3) / np.sqrt(7 / 3)  # by hand: mean 7/3, sd sqrt(7/3)
    c = (np.array([0, 1, 2, 5]) - 2) / np.sqrt(14 / 3)
    # B is constant: z-score 0; s4 has no A, so its score is B's alone
    np.testing.assert_allclose(scores["ab"], [a[0] / 2, a[1] / 2, a[2] / 2, 0.0], atol=1e-15)
    np.testing.assert_allclose(scores["c"], c, rtol=1e-14)
    assert list(scores.index) == list(X.index)
