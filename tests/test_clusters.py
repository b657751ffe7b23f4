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


def test_agreement_perfect_and_permuted():
    labels = pd.Series([1, 1, 2, 2, 3, 3], index=list("abcdef"))
    truth = pd.Series(["x", "x", "y", "y", "z", "z"], index=list("abcdef"))
    res = agreement(labels, truth)
    assert res["ari"] == pytest.approx(1.0) and res["nmi"] == pytest.approx(1.0)
    assert res["confusion"].to_numpy().trace() == 6 or res["confusion"].to_numpy().max() == 2


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
