"""Tests of consensus clustering (metpot.consensus)."""

import json

import numpy as np
import pandas as pd
import pytest

from metpot.consensus import (
    cdf_area,
    cluster_consensus,
    cluster_resample,
    consensus_cdf,
    consensus_labels,
    consensus_matrices,
    consensus_matrix,
    consensus_summary,
    delta_area,
    pac,
    resample_index,
    resample_indices,
    sample_stability,
)
from metpot.errors import DataWarning, MetpotError

N_PER, N_CLUSTERS = 20, 3


def _views(seed=0):
    """Two views of 3 well separated Gaussian clusters of 20 samples each."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(N_CLUSTERS), N_PER)
    views = []
    for n_feat in (30, 20):
        centres = rng.normal(0, 4, (N_CLUSTERS, n_feat))
        views.append(centres[truth] + rng.standard_normal((len(truth), n_feat)))
    return views, truth


@pytest.fixture(scope="module")
def clustered():
    views, truth = _views()
    n = len(truth)
    idx = resample_indices(n, 15, fraction=0.8, seed=3)
    tables = [cluster_resample(views, i, ks=(2, 3, 4, 5), K=10) for i in idx]
    return n, truth, tables, consensus_matrices(n, tables)


def test_resample_indices_deterministic_and_independent():
    a = resample_indices(50, 6, fraction=0.8, seed=11)
    b = resample_indices(50, 6, fraction=0.8, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    # resample r depends only on (seed, r): a job computing r alone gets the same draw, and
    # asking for more resamples does not change the earlier ones
    for r in range(6):
        assert np.array_equal(resample_index(50, r, 0.8, 11), a[r])
    c = resample_indices(50, 10, fraction=0.8, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(a, c[:6], strict=True))
    for x in a:
        assert len(x) == 40 and np.all(np.diff(x) > 0) and x.min() >= 0 and x.max() < 50
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], resample_indices(50, 1, 0.8, seed=12)[0])


@pytest.mark.parametrize("args", [(1, 5), (50, 0), (50, 5, 0.0), (50, 5, 1.5), (50, 5, 0.8, -1)])
def test_resample_bad_arguments(args):
    with pytest.raises(MetpotError):
        resample_indices(*args)


def test_cluster_resample_shape(clustered):
    n, truth, tables, _ = clustered
    tab = tables[0]
    assert tab.shape == (48, 4)
    assert list(tab.columns) == [2, 3, 4, 5]
    assert tab.index.name == "sample"
    for k in tab.columns:
        assert set(tab[k]) <= set(range(1, k + 1))
    # k = 3 recovers the truth on the subsample
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth[tab.index], tab[3]) == pytest.approx(1.0)


def test_cluster_resample_clips_K():
    views, _ = _views()
    idx = resample_index(60, 0, fraction=0.25, seed=0)  # 15 samples
    with pytest.warns(DataWarning, match="clipped"):
        tab = cluster_resample(views, idx, ks=(2, 3), K=20)
    assert tab.attrs["K"] == 14


def test_cluster_resample_single_view_and_frames():
    views, truth = _views()
    frame = pd.DataFrame(views[0])
    tab = cluster_resample([frame], np.arange(60), ks=3, K=10)
    assert tab.shape == (60, 1)


def test_cluster_resample_bad_arguments():
    views, _ = _views()
    with pytest.raises(MetpotError):
        cluster_resample(views, [0, 0, 1, 2], ks=2, K=2)
    with pytest.raises(MetpotError):
        cluster_resample(views, np.arange(10), ks=(2, 10), K=5)
    with pytest.raises(MetpotError):
        cluster_resample([views[0], views[1][:50]], np.arange(10), ks=2, K=5)


def test_consensus_matrix_properties(clustered):
    n, truth, tables, mats = clustered
    M, counts = consensus_matrix(
        n, ((t.index.to_numpy(), t[3].to_numpy()) for t in tables), return_counts=True
    )
    np.testing.assert_array_equal(M, mats[3])
    assert np.allclose(M, M.T)
    drawn = np.diag(counts) > 0
    assert np.all(np.diag(M)[drawn] == 1.0)
    assert np.all((M >= 0) & (M <= 1))
    assert np.all(M[counts == 0] == 0)


def test_consensus_matrix_by_hand():
    res = [(np.array([0, 1, 2]), np.array([1, 1, 2])), (np.array([0, 1, 3]), np.array([1, 2, 2]))]
    M = consensus_matrix(4, res)
    assert M[0, 1] == 0.5 and M[1, 2] == 0.0 and M[1, 3] == 1.0
    assert M[2, 3] == 0.0  # never drawn together
    assert np.all(np.diag(M) == 1.0)
    with pytest.raises(MetpotError):
        consensus_matrix(4, [(np.array([0, 1]), np.array([1]))])
    with pytest.raises(MetpotError):
        consensus_matrix(4, [])


def test_pac_zero_at_true_k(clustered):
    _, truth, _, mats = clustered
    pacs = {k: pac(M) for k, M in mats.items()}
    assert pacs[3] < 0.01
    assert pacs[4] > pacs[3] + 0.02 and pacs[5] > pacs[3] + 0.02
    assert np.array_equal(consensus_labels(mats[3], 3), truth + 1)
    stab = sample_stability(mats[3], truth)
    assert stab.shape == (60,) and np.all(stab > 0.99)
    assert all(v > 0.99 for v in cluster_consensus(mats[3], truth).values())


def test_cdf_pac_area_by_hand():
    M = np.array([[1, 0.5, 0.0], [0.5, 1, 1.0], [0.0, 1.0, 1]])
    x, cdf = consensus_cdf(M, [0.0, 0.5, 0.99, 1.0])
    np.testing.assert_allclose(cdf, [1 / 3, 2 / 3, 2 / 3, 1.0])
    assert pac(M) == pytest.approx(1 / 3)
    assert cdf_area(M, [0.0, 0.5, 1.0]) == pytest.approx(0.5 * 2 / 3 + 0.5 * 1.0)
    # default grid of 100 bins: a 0/1 matrix has area 0.99 * (fraction at 0) + 0.01
    B = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    assert cdf_area(B) == pytest.approx(0.99 * 2 / 3 + 0.01)
    assert delta_area({2: 0.5, 3: 0.75, 4: 0.75}) == {2: 0.5, 3: 0.5, 4: 0.0}
    with pytest.raises(MetpotError):
        pac(M, 0.9, 0.1)


def test_sample_stability_singleton():
    M = np.eye(3)
    M[0, 1] = M[1, 0] = 0.8
    stab = sample_stability(M, ["a", "a", "b"])
    assert stab[0] == pytest.approx(0.8) and np.isnan(stab[2])


def test_summary_json_ready(clustered):
    _, _, tables, mats = clustered
    s = consensus_summary(mats, n_resamples=len(tables))
    text = json.dumps(s, allow_nan=False)
    back = json.loads(text)
    assert back["ks"] == [2, 3, 4, 5]
    assert back["best_k_pac"] == 3
    assert set(back["pac"]) == {"2", "3", "4", "5"}
    assert len(back["cdf"]["x"]) == 101 and len(back["cdf"]["3"]) == 101
    assert back["n_samples"] == 60 and back["n_resamples"] == 15


@pytest.mark.parametrize("n_chunks", [1, 3])
def test_consensus_chunks_split_the_same_resamples(tmp_path, n_chunks):
    """Any number of workflow chunks (clusters.consensus.chunks) gives the same resamples,
    each clustered once: the consensus does not depend on how the work was split."""
    from metpot.cli import main

    views, _ = _views()
    ids = pd.Index([f"s{i:02d}" for i in range(len(views[0]))], name="sample_id")
    layers = []
    for name, v in zip(("a", "b"), views, strict=True):
        path = tmp_path / f"{name}.parquet"
        cols = [f"{name}{j}" for j in range(v.shape[1])]
        pd.DataFrame(v, index=ids, columns=cols).to_parquet(path)
        layers += ["--input", f"layer_{name}={path}"]
    snf = {"variant": "snftool-2.3", "metric": "sqeuclidean", "K": 10, "mu": 0.5, "t": 20}

    def chunks(n: int, first: int = 0, stop: bool | None = None) -> pd.DataFrame:
        consensus = {"resamples": 7, "fraction": 0.8, "seed": 1, "chunks": n}
        consensus["stop"] = {"first": first, "tolerance": 0.02}
        cfg = {"snf": snf, "clusters": {"candidates": [2, 3], "consensus": consensus}}
        cfg["clusters"]["consensus"]["precision"] = "float32"
        check = tmp_path / f"stop_{stop}.json"
        check.write_text(json.dumps({"stop": stop}))
        tables = []
        steps = [("consensus-chunk", [])]
        if stop is not None:  # the chunks after the stopping check
            steps.append(("consensus-more", ["--input", f"stop={check}"]))
        for step, extra in steps:
            for c in range(n):
                out = tmp_path / f"n{n}_{first}_{step}_{c}.tsv"
                argv = [step, "--config", json.dumps(cfg), *layers, *extra]
                assert main([*argv, "--output", f"chunk={out}", "--chunk", str(c)]) == 0
                tables.append(pd.read_csv(out, sep="\t", dtype={"sample_id": str}))
        table = pd.concat([t for t in tables if len(t)], ignore_index=True)
        return table.sort_values(["resample", "sample_id"], ignore_index=True)

    one = chunks(2)
    assert sorted(one["resample"].unique()) == list(range(7))
    pd.testing.assert_frame_equal(chunks(n_chunks), one)
    # two stages (clusters.consensus.stop.first = 3): the same resamples when the check goes
    # on, only the first three when it stops
    pd.testing.assert_frame_equal(chunks(n_chunks, first=3, stop=False), one)
    stopped = chunks(n_chunks, first=3, stop=True)
    pd.testing.assert_frame_equal(stopped, one[one["resample"] < 3].reset_index(drop=True))
