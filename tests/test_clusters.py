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


# ------------------------------------------------------------------ doubts about k and subtypes

WARN = {"pac_max": 0.1, "min_size": 10, "batch_chance": 1e-3}


def _labels(sizes, ids=None, seed=0):
    """Subtypes 1..k of the given sizes, shuffled over ids (default s000, s001, ...)."""
    n = sum(sizes)
    ids = ids if ids is not None else [f"s{i:03d}" for i in range(n)]
    values = np.repeat(np.arange(1, len(sizes) + 1), sizes)
    return pd.Series(np.random.default_rng(seed).permutation(values), index=ids)


def _rules(doubts):
    return [d["rule"] for d in doubts]


def test_config_defaults_of_the_doubts_are_in_the_schema():
    from metpot.config import validate_config

    cfg = {"cohort": {"name": "x", "omics": {"a": {"path": "a"}, "b": {"path": "b"}}}}
    warn = validate_config(cfg)["clusters"]["warn"]
    assert warn == {"pac": 0.1, "min_size": 10, "batch_chance": 0.001}


def test_k_at_the_edge_of_the_candidates_is_a_doubt_only_when_chosen_automatically():
    from metpot.clusters import k_doubts

    labels = _labels([40, 30, 30, 20, 20, 20])
    (d,) = k_doubts(labels, 6, [2, 3, 4, 5, 6], "auto", None, **WARN)
    assert d["rule"] == "largest_candidate"
    assert "k = 6 is the largest of clusters.candidates (2, 3, 4, 5, 6)" in d["message"]
    assert k_doubts(labels, 6, [2, 3, 4, 5, 6], 6, None, **WARN) == []  # fixed by the user
    assert k_doubts(labels, 6, [6], "auto", None, **WARN) == []  # a single candidate
    two = _labels([90, 60])
    (d,) = k_doubts(two, 2, [4, 2, 3], "auto", None, **WARN)
    assert d["rule"] == "smallest_candidate" and "k = 1 (no subtype structure)" in d["message"]
    (d,) = k_doubts(_labels([50, 50, 50]), 3, [3, 4, 5], "auto", None, **WARN)
    assert d["rule"] == "smallest_candidate" and "add smaller candidates" in d["message"]
    assert k_doubts(_labels([50, 50, 50]), 3, [2, 3, 4], "auto", None, **WARN) == []


def test_pac_above_the_threshold_is_a_doubt_naming_the_key_and_values():
    from metpot.clusters import k_doubts

    labels = _labels([50, 50, 50])
    (d,) = k_doubts(labels, 3, [2, 3, 4], "auto", 0.27, **WARN)
    assert d["rule"] == "pac" and d["pac"] == 0.27
    assert "PAC of k = 3 is 0.270, above clusters.warn.pac = 0.1" in d["message"]
    for pac in (0.045, 0.1, None, float("nan")):  # at or below the threshold, or no consensus
        assert k_doubts(labels, 3, [2, 3, 4], "auto", pac, **WARN) == []
    assert _rules(k_doubts(labels, 3, [2, 3, 4], 3, 0.27, **WARN)) == ["pac"]  # also fixed k


def test_a_subtype_smaller_than_the_stated_size_is_named():
    from metpot.clusters import k_doubts

    labels = _labels([60, 33, 7])
    names = {1: "canonical", 2: "stromal", 3: "immune"}
    (d,) = k_doubts(labels, 3, [2, 3, 4], "auto", None, names=names, **WARN)
    assert d["rule"] == "small_subtype" and (d["subtype"], d["n"]) == (3, 7)
    assert (
        "subtype immune (subtype 3) has 7 patients, fewer than clusters.warn.min_size = 10"
        in d["message"]
    )
    assert k_doubts(_labels([60, 30, 10]), 3, [2, 3, 4], "auto", None, **WARN) == []


def test_a_subtype_that_is_a_block_of_the_input_order_is_named_as_a_possible_batch():
    from metpot.clusters import k_doubts

    rng = np.random.default_rng(3)
    n = 100
    ids = [f"P{i:03d}" for i in rng.permutation(n)]  # file order is not id order
    labels = pd.Series(rng.choice([1, 2], size=n), index=ids)
    labels.iloc[-7:] = 3  # the last 7 columns of the file
    order = list(ids)
    order.insert(50, "DROPPED1")  # samples of the file that were not clustered are skipped
    order.insert(96, "DROPPED2")  # even inside the block
    shuffled = labels.sample(frac=1, random_state=1)  # the labels' own order does not matter
    where = "the input file of layer mrna"
    doubts = k_doubts(shuffled, 3, [2, 3, 4], "auto", None, order=order, order_name=where,
                      **{**WARN, "min_size": 5})  # fmt: skip
    (d,) = doubts
    assert d["rule"] == "contiguous" and d["subtype"] == 3 and d["n"] == 7
    assert (d["first"], d["last"], d["of"]) == (94, 100, 100)
    assert d["chance"] == pytest.approx(94 / 16007560800)
    assert f"positions 94-100 of the 100 clustered samples in the order of the input file of " \
           f"layer mrna ({ids[93]} to {ids[99]}" in d["message"]  # fmt: skip
    assert "possible batch" in d["message"]
    # one sample of the block placed elsewhere in the file: no longer a block
    moved = order[:]
    moved.remove(ids[97])
    moved.insert(10, ids[97])
    assert k_doubts(shuffled, 3, [2, 3, 4], "auto", None, order=moved,
                    **{**WARN, "min_size": 5}) == []  # fmt: skip


def test_contiguity_rule_limits_size_half_the_cohort_and_chance():
    from metpot.clusters import contiguity_chance, k_doubts

    ids = [f"s{i:02d}" for i in range(20)]
    warn = {**WARN, "min_size": 1}
    # 3 of 20 consecutive: chance 18 / C(20, 3) = 0.016, named only with a looser threshold
    labels = pd.Series([1] * 17 + [2] * 3, index=ids)
    assert k_doubts(labels, 2, [2], "auto", None, order=ids, **warn) == []
    assert _rules(k_doubts(labels, 2, [2], "auto", None, order=ids,
                           **{**warn, "batch_chance": 0.05})) == ["contiguous"]  # fmt: skip
    # 2 consecutive samples are never a block; half the cohort or more is never named
    pair = pd.Series([1] * 18 + [2] * 2, index=ids)
    assert k_doubts(pair, 2, [2], "auto", None, order=ids, **{**warn, "batch_chance": 1}) == []
    halves = pd.Series([1] * 10 + [2] * 10, index=ids)
    assert k_doubts(halves, 2, [2], "auto", None, order=ids, **{**warn, "batch_chance": 1}) == []
    # the chance against a count of every position set of 3 among 8
    from itertools import combinations

    runs = sum(c[-1] - c[0] == 2 for c in combinations(range(8), 3))
    assert contiguity_chance(8, 3) == pytest.approx(runs / 56)


def test_random_input_orders_are_not_named_as_batches():
    """With the sample order unrelated to the subtypes, no subtype is named a block."""
    from metpot.clusters import k_doubts

    flagged = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(40, 200))
        small = int(rng.integers(3, 12))
        sizes = [small, (n - small) // 2, n - small - (n - small) // 2]
        labels = _labels(sizes, seed=seed)
        order = list(rng.permutation(labels.index))
        doubts = k_doubts(labels, 3, [2, 3, 4], "auto", None, order=order, **WARN)
        flagged += "contiguous" in _rules(doubts)
    assert flagged == 0


def test_input_order_is_the_first_layers_file_order_from_the_sample_table():
    from metpot.clusters import input_order

    samples = pd.DataFrame({
        "sample_id": ["b", "a", "d", "c", "e"],
        "status": ["kept", "dropped", "kept", "kept", "dropped"],
        "in_mrna": ["True", "True", "True", "True", "False"],  # as read back from the TSV
        "in_mirna": [True, False, True, True, True],
    })  # fmt: skip
    assert input_order(samples, "mrna") == ["b", "a", "d", "c"]
    with pytest.raises(Exception, match="in_prot"):
        input_order(samples, "prot")


def test_metpot_clusters_writes_the_doubts_to_n_clusters_json_and_the_log(tmp_path):
    """A planted subtype made of the last 6 samples of the first layer's file."""
    import json
    from pathlib import Path

    from metpot import manifest
    from metpot.cli import main
    from metpot.config import load_config

    rng = np.random.default_rng(5)
    n = 60
    file_ids = [f"T{i:02d}" for i in rng.permutation(n)]  # the file's order, not id order
    group = np.array([1, 2] * 27 + [3] * 6)  # 3: the last 6 columns of the file
    W = np.where(group[:, None] == group[None, :], 0.9, 0.05) + rng.uniform(0, 0.02, (n, n))
    W = (W + W.T) / 2
    ids = sorted(file_ids)  # the network in another order than the file's
    at = {s: i for i, s in enumerate(file_ids)}
    W = W[np.ix_([at[s] for s in ids], [at[s] for s in ids])]
    index = pd.Index(ids, name="sample_id")
    inputs = {"fused": tmp_path / "fused.parquet", "layer": tmp_path / "a.parquet"}
    pd.DataFrame(W, index=index, columns=ids).to_parquet(inputs["fused"])
    pd.DataFrame({"g": rng.normal(size=n)}, index=index).to_parquet(inputs["layer"])
    for layer in ("a", "b"):
        inputs[f"affinity_{layer}"] = inputs["fused"]
    inputs["samples"] = tmp_path / "samples.tsv"
    pd.DataFrame(
        {"sample_id": [*file_ids, "X1"], "status": ["kept"] * n + ["dropped"],
         "reason": [""] * n + ["missing from layer(s) b"],
         "in_a": [True] * (n + 1), "in_b": [True] * n + [False]}
    ).to_csv(inputs["samples"], sep="\t", index=False)  # fmt: skip
    config = load_config({
        "output_dir": str(tmp_path / "out"),
        "cohort": {"name": "x", "omics": {"a": {"path": "a"}, "b": {"path": "b"}}},
        "snf": {"K": 10},
        "clusters": {"n": 3, "candidates": [2, 3, 4], "consensus": {"resamples": 0}},
    })  # fmt: skip
    files = manifest.step("clusters", config)
    assert set(inputs) == set(files.inputs)
    log = tmp_path / "clusters.log"
    args = ["clusters", "--config", json.dumps(config), "--log", str(log)]
    args += [a for k, p in inputs.items() for a in ("--input", f"{k}={p}")]
    args += [a for k, p in files.output_paths().items() for a in ("--output", f"{k}={p}")]
    assert main(args) == 0
    choice = json.loads(Path(files.outputs["n_clusters"].path).read_text())
    assert choice["doubt_thresholds"] == {"pac": 0.1, "min_size": 10, "batch_chance": 0.001}
    assert [d["rule"] for d in choice["doubts"]] == ["small_subtype", "contiguous"]
    block = choice["doubts"][1]
    assert (block["n"], block["first"], block["last"], block["of"]) == (6, 55, 60, 60)
    assert f"({file_ids[54]} to {file_ids[59]};" in block["message"]
    assert "input file of layer a" in block["message"]
    text = log.read_text()
    assert all(f"doubt about the subtypes: {d['message']}" in text for d in choice["doubts"])
    metrics = json.loads(Path(files.outputs["metrics"].path).read_text())
    assert metrics["n_doubts"] == 2
