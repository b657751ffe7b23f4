"""The scalable clustering path gives the results of the straightforward one.

- Spectral clustering for every k from one eigen-decomposition, by the dense subset solver
  or by Lanczos, against SNFtool's reference labels and estimates and against the per-k
  dense decomposition (a transcription of the previous implementation), on the reference
  cases and on the demo cohort; Lanczos differs from the dense solver in the last digits
  only (bounded here).
- Consensus resamples that reuse the full-cohort distances give the same labels as
  recomputing them per subsample.
- Consensus matrices, CDF/PAC/area and stability, computed without n x n scatters or
  sorts, equal the direct formulas bit for bit.
- The consensus resamples' float32 fusion differs from float64 by a bounded relative error
  and gives the same partitions for every k: on the reference cases (whole cohort and
  subsampled networks, both SNFtool generations) and on the demo's resamples.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from conftest import SNFTOOL, load_snftool_case

from metpot import consensus, snf
from metpot.clusters import ESTIMATE_KEYS, cluster_fused
from metpot.errors import MetpotError

SIM = Path(__file__).resolve().parent / "data" / "snf_sim"
GENERATIONS = {"snftool-2.2": "2.2", "snftool-2.3": "2.3.1"}
EIG_ATOL = 1e-12  # Lanczos vs dense eigenvalues of a normalised Laplacian (spectrum in [0, 2])
SCORE_RTOL = 1e-10  # eigen-gap / rotation cost: differences of such eigenvalues


def _labels_per_k_dense(W, k):
    """The previous implementation: one dense decomposition per k (eigenpairs 0..k+1)."""
    W = np.asarray(W, dtype=float)
    n = W.shape[0]
    L = snf._laplacian_sym(W)
    lam, vec = scipy.linalg.eigh(L, subset_by_index=[0, min(n - 1, k + 1)], driver="evr")
    lam, vec = lam[::-1], vec[:, ::-1]
    U = vec[:, np.argsort(np.abs(lam), kind="stable")[:k]]
    U = U / np.sqrt((U**2).sum(axis=1))[:, None]
    return snf._discretisation(U) + 1


def _sim_fused():
    ref = dict(np.load(SIM / "sim_reference.npz"))
    n = 200
    iu = np.triu_indices(n)
    out = {}
    for variant, tag in GENERATIONS.items():
        M = np.zeros((n, n))
        M[iu] = ref[f"fused_{tag}"]
        fused = M + np.triu(M, 1).T
        labels = {k: ref[f"labels_k{k}_{tag}"] for k in range(2, 6)}
        out[variant] = (fused, labels, tuple(int(x) for x in ref[f"nclusters_{tag}"]))
    return out


def _vendored_fused(case):
    ref = load_snftool_case(SNFTOOL / f"{case}_reference.npz")
    out = {}
    for variant, tag in GENERATIONS.items():
        labels = {k: ref[f"labels_k{k}_{tag}"] for k in range(2, 6)}
        n_est = tuple(int(x) for x in ref[f"nclusters_{tag}"])
        out[variant] = (ref[f"fused_{tag}"], labels, n_est)
    return out


def _check_reference(cases):
    for variant, (W, expected, n_est) in cases.items():
        for solver in ("dense", "lanczos"):
            got = snf.spectral_clusterings(W, range(2, 6), solver=solver)
            for k in range(2, 6):
                assert np.array_equal(got[k], expected[k]), (variant, solver, k)
            assert snf.estimate_n_clusters(W, range(2, 6), variant, solver=solver) == n_est
        dense = snf.cluster_number_scores(W, range(2, 6), variant, solver="dense")
        lanczos = snf.cluster_number_scores(W, range(2, 6), variant, solver="lanczos")
        for col in ("eigengap", "rotation_cost"):
            np.testing.assert_allclose(lanczos[col], dense[col], rtol=SCORE_RTOL, atol=0)
        assert lanczos[["eigengap_rank", "rotation_cost_rank"]].equals(
            dense[["eigengap_rank", "rotation_cost_rank"]]
        )


def test_sim_reference_with_both_solvers():
    _check_reference(_sim_fused())


@pytest.mark.reference
@pytest.mark.parametrize("case", ["gauss", "coad"])
def test_vendored_reference_with_both_solvers(case):
    _check_reference(_vendored_fused(case))


@pytest.fixture(scope="module")
def demo_fused():
    """Fused networks of the demo cohort (as the workflow builds them) at two sizes."""
    from metpot.simulate import simulate_cohort

    out = {}
    for n in (150, 700):
        cohort = simulate_cohort(n)
        views = []
        for layer in ("mrna", "mirna"):
            x = cohort[layer].T
            x = x.loc[:, x.notna().all() & (x.std() > 0)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                views.append(snf.standard_normalization(x.to_numpy()))
        out[n] = snf.snf_pipeline(views, normalize=False)[1]
    return out


@pytest.mark.parametrize("n", [150, 700])
def test_demo_partitions_and_estimates_identical(demo_fused, n):
    W = demo_fused[n]
    ks = [2, 3, 4, 5, 6]
    old = {k: _labels_per_k_dense(W, k) for k in ks}
    for solver in ("dense", "lanczos", "auto"):
        new = snf.spectral_clusterings(W, ks, solver=solver)
        for k in ks:
            assert np.array_equal(new[k], old[k]), (solver, k)
    dense = snf.cluster_number_scores(W, ks, solver="dense")
    lanczos = snf.cluster_number_scores(W, ks, solver="lanczos")
    np.testing.assert_allclose(lanczos["eigengap"], dense["eigengap"], rtol=SCORE_RTOL)
    np.testing.assert_allclose(lanczos["rotation_cost"], dense["rotation_cost"], rtol=SCORE_RTOL)
    assert snf.estimates_from_scores(lanczos) == snf.estimates_from_scores(dense)


def test_lanczos_eigenpairs_bounded_and_deterministic(demo_fused):
    W = demo_fused[700]
    lam_d, vec_d = snf._laplacian_eigenpairs(W, 8, "dense")
    lam_l, vec_l = snf._laplacian_eigenpairs(W, 8, "lanczos")
    np.testing.assert_allclose(lam_l, lam_d, rtol=0, atol=EIG_ATOL)
    # eigenvectors equal up to sign where the eigenvalue is well separated
    gaps = np.minimum(np.diff(lam_d, prepend=-np.inf)[:-1], np.diff(lam_d)[:])
    for j in np.flatnonzero(gaps > 1e-6):
        dot = abs(float(vec_l[:, j] @ vec_d[:, j]))
        assert dot == pytest.approx(1.0, abs=1e-9)
    again = snf._laplacian_eigenpairs(W, 8, "lanczos")
    assert np.array_equal(again[0], lam_l) and np.array_equal(again[1], vec_l)
    assert snf._use_lanczos("auto", 700, 8) and not snf._use_lanczos("auto", 200, 8)


def test_lanczos_finds_repeated_eigenvalues():
    # three disconnected groups: the eigenvalue 0 has multiplicity 3
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    X[:200] += 8
    X[200:400] -= 8
    W = snf.affinity_matrix(snf.dist2(X), 20, 0.5)
    group = np.repeat([0, 1, 2], 200)
    W[group[:, None] != group[None, :]] = 0.0
    dense = snf._estimate_eigenvalues(W, 7, "dense")
    lanczos = snf._estimate_eigenvalues(W, 7, "lanczos")
    np.testing.assert_allclose(lanczos, dense, rtol=0, atol=EIG_ATOL)
    assert np.abs(lanczos[:3]).max() < 1e-12 and lanczos[3] > 1e-3
    assert snf.estimate_n_clusters(W, range(2, 7), solver="lanczos") == snf.estimate_n_clusters(
        W, range(2, 7), solver="dense"
    )


def test_cluster_fused_is_the_separate_functions():
    cases = _sim_fused()
    for variant, (W, expected, n_est) in cases.items():
        fit = cluster_fused(W, [2, 3, 4, 5], variant=variant)
        assert tuple(fit["estimates"][key] for key in ESTIMATE_KEYS) == n_est
        pd.testing.assert_frame_equal(
            fit["scores"], snf.cluster_number_scores(W, [2, 3, 4, 5], variant)
        )
        assert list(fit["labels"]) == [2, 3, 4, 5]
        for k in range(2, 6):
            assert np.array_equal(fit["labels"][k], expected[k])
            assert np.array_equal(fit["labels"][k], snf.spectral_clustering(W, k))
    single = cluster_fused(cases["snftool-2.3"][0], [3])
    assert single["estimates"]["eigengap_second"] is None
    with pytest.raises(MetpotError):
        snf.spectral_clusterings(cases["snftool-2.3"][0], [2], solver="arpack")


# ------------------------------------------------------------------------- consensus


def _scaled_views(seed=0, n=90):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n // 3)
    views = []
    for p in (30, 12):
        centres = rng.normal(0, 3, (3, p))
        views.append(snf.standard_normalization(centres[truth] + rng.standard_normal((n, p))))
    return views


@pytest.mark.parametrize("n_views", [1, 2])
def test_resample_with_full_distances_is_identical(n_views):
    views = _scaled_views()[:n_views]
    D = consensus.layer_distances(views)
    for r in range(4):
        idx = consensus.resample_index(90, r, 0.8, seed=5)
        # the same distances up to rounding (BLAS may block the subsample's Gram matrix
        # differently), and the same partitions
        sub, direct = D[0][np.ix_(idx, idx)], snf.distance(views[0][idx])
        assert np.abs(sub - direct).max() <= 1e-13 * np.abs(direct).max()
        a = consensus.cluster_resample(views, idx, (2, 3, 4), K=10, normalize=False)
        b = consensus.cluster_resample(views, idx, (2, 3, 4), K=10, normalize=False, distances=D)
        pd.testing.assert_frame_equal(a, b)


def test_resample_distances_need_unnormalised_views():
    views = _scaled_views()
    D = consensus.layer_distances(views)
    idx = consensus.resample_index(90, 0, 0.8, seed=5)
    with pytest.raises(MetpotError, match="normalize=False"):
        consensus.cluster_resample(views, idx, 3, K=10, normalize=True, distances=D)
    with pytest.raises(MetpotError, match="one per view"):
        consensus.cluster_resample(views, idx, 3, K=10, normalize=False, distances=D[:1])


def _old_consensus_matrix(n, resamples):
    together = np.zeros((n, n))
    counts = np.zeros((n, n))
    for idx, lab in resamples:
        counts[np.ix_(idx, idx)] += 1.0
        together[np.ix_(idx, idx)] += (lab[:, None] == lab[None, :]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, together / np.where(counts > 0, counts, 1.0), 0.0), counts


def _old_cdf(M, x):
    values = np.sort(M[np.triu_indices(M.shape[0], k=1)])
    return np.searchsorted(values, np.asarray(x) + 1e-12, side="right") / len(values)


def _random_tables(n, n_resamples, ks, seed=0):
    rng = np.random.default_rng(seed)
    tables = []
    for r in range(n_resamples):
        idx = consensus.resample_index(n, r, 0.7, seed=seed)
        # labels partly following a hidden grouping, partly random: values between 0 and 1
        hidden = np.arange(n)[idx] % 3
        data = {
            k: np.where(rng.random(len(idx)) < 0.7, hidden % k, rng.integers(0, k, len(idx))) + 1
            for k in ks
        }
        tables.append(pd.DataFrame(data, index=pd.Index(idx, name="sample")))
    return tables


def test_consensus_matrices_equal_direct_formula():
    n, ks = 70, [2, 3, 4]
    tables = _random_tables(n, 25, ks)
    got = consensus.consensus_matrices(n, tables)
    for j, k in enumerate(ks):
        pairs = [(t.index.to_numpy(), t.iloc[:, j].to_numpy()) for t in tables]
        expected, counts = _old_consensus_matrix(n, pairs)
        assert np.array_equal(got[k], expected)
        M, c = consensus.consensus_matrix(n, pairs, return_counts=True)
        assert np.array_equal(M, expected) and np.array_equal(c, counts)
        assert 0 < np.mean((expected > 0) & (expected < 1))  # not a trivial 0/1 matrix


def test_cdf_pac_area_equal_sorted_formula():
    n = 70
    M = consensus.consensus_matrices(n, _random_tables(n, 25, [3]))[3]
    grid = consensus.DEFAULT_GRID
    assert np.array_equal(consensus.consensus_cdf(M)[1], _old_cdf(M, grid))
    odd = [0.5, 0.1, 0.3, 0.3, 1.0]  # unsorted grid with a tie
    assert np.array_equal(consensus.consensus_cdf(M, odd)[1], _old_cdf(M, odd))
    old_pac = _old_cdf(M, [0.1, 0.9])
    assert consensus.pac(M) == float(old_pac[1] - old_pac[0])
    assert consensus.cdf_area(M) == float(np.sum(np.diff(grid) * _old_cdf(M, grid)[1:]))
    summary = consensus.consensus_summary({3: M})
    assert summary["pac"]["3"] == round(float(old_pac[1] - old_pac[0]), 6)
    assert summary["cdf"]["3"] == [round(float(v), 6) for v in _old_cdf(M, grid)]


def test_sample_stability_equals_direct_formula():
    n = 2 * consensus._ROW_BLOCK + 37  # several row blocks
    M = consensus.consensus_matrices(n, _random_tables(n, 12, [3], seed=2))[3]
    labels = np.random.default_rng(1).integers(1, 5, n)
    labels[0] = 9  # a singleton
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    n_same = same.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(
            n_same > 0, np.where(same, M, 0.0).sum(axis=1) / np.maximum(n_same, 1), np.nan
        )
    got = consensus.sample_stability(M, labels)
    assert np.isnan(got[0])
    assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_consensus_chunk_cli_output_unchanged(tmp_path, precision):
    """``metpot consensus`` with shared distances writes what per-resample distances give."""
    from metpot import cli

    views = _scaled_views(n=60)
    ids = [f"s{i:03d}" for i in range(60)]
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for name, v in zip(("a", "b"), views, strict=True):
        pd.DataFrame(v, index=pd.Index(ids, name="sample_id")).rename(columns=str).to_parquet(
            in_dir / f"{name}.parquet"
        )
    cfg = {
        "cohort": {"omics": {"a": {}, "b": {}}},
        "snf": {"K": 10, "mu": 0.5, "t": 10, "variant": "snftool-2.3", "metric": "sqeuclidean"},
        "clusters": {
            "candidates": [2, 3, 4],
            "consensus": {
                "resamples": 6,
                "fraction": 0.8,
                "seed": 1,
                "chunks": 2,
                "stop": {"first": 0},
                "precision": precision,
            },
        },
    }
    out = tmp_path / "chunk.tsv"
    argv = ["consensus-chunk", "--config", json.dumps(cfg), "--chunk", "1",
            "--input", f"layer_a={in_dir / 'a.parquet'}",
            "--input", f"layer_b={in_dir / 'b.parquet'}",
            "--output", f"chunk={out}"]  # fmt: skip
    assert cli.main(argv) == 0
    table = pd.read_csv(out, sep="\t", dtype={"sample_id": str})
    for r in (1, 3, 5):
        idx = consensus.resample_index(60, r, 0.8, 1)
        expected = consensus.cluster_resample(
            views, idx, (2, 3, 4), K=10, t=10, normalize=False, precision=precision
        )
        block = table[table["resample"] == r]
        assert block["sample_id"].tolist() == [ids[i] for i in idx]
        for k in (2, 3, 4):
            assert np.array_equal(block[f"k{k}"].to_numpy(), expected[k].to_numpy())


F32_RTOL = 1e-6  # float32 fusion vs float64: max |diff| / max |float64| (measured ~1e-8)


def _fused_both(affinities, variant, K=20):
    f64 = snf.fuse(affinities, K=K, t=20, variant=variant)
    f32 = snf.fuse(affinities, K=K, t=20, variant=variant, dtype=np.float32)
    assert f64.dtype == np.float64 and f32.dtype == np.float32
    assert np.abs(f32 - f64).max() <= F32_RTOL * np.abs(f64).max()
    return f64, f32


CASE_K = {"sim": 20, "gauss": 15, "coad": 20}  # the K each reference was computed with


@pytest.mark.reference
@pytest.mark.parametrize("case", ["sim", "gauss", "coad"])
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_float32_fusion_same_partitions_on_references(case, variant):
    """R's affinities fused in float32: R's partitions and estimates, and float64's on
    subsampled networks (as the consensus resamples fuse them)."""
    ref = load_snftool_case((SIM if case == "sim" else SNFTOOL) / f"{case}_reference.npz")
    tag, K = GENERATIONS[variant], CASE_K[case]
    A = [ref["affinity1"], ref["affinity2"]]
    n = A[0].shape[0]
    _, f32 = _fused_both(A, variant, K)
    got = snf.spectral_clusterings(f32, range(2, 6))
    for k in range(2, 6):
        assert np.array_equal(got[k], ref[f"labels_k{k}_{tag}"]), (case, variant, k)
    assert snf.estimate_n_clusters(f32, range(2, 6), variant) == tuple(
        int(x) for x in ref[f"nclusters_{tag}"]
    )
    for r in range(10):
        idx = consensus.resample_index(n, r, 0.8, seed=1)
        sub = [np.ascontiguousarray(a[np.ix_(idx, idx)]) for a in A]
        f64, f32 = _fused_both(sub, variant, K)
        a = snf.spectral_clusterings(f64, range(2, 7))
        b = snf.spectral_clusterings(f32, range(2, 7))
        for k in range(2, 7):
            assert np.array_equal(a[k], b[k]), (case, variant, r, k)


@pytest.mark.parametrize("n", [150, 700])
def test_float32_consensus_resamples_same_partitions_on_demo(n):
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n)
    views = []
    for layer in ("mrna", "mirna"):
        x = cohort[layer].T
        x = x.loc[:, x.notna().all() & (x.std() > 0)]
        views.append(snf.standard_normalization(x.to_numpy()))
    D = consensus.layer_distances(views)
    ks = (2, 3, 4, 5, 6)
    for r in range(12 if n == 150 else 4):
        idx = consensus.resample_index(n, r, 0.8, seed=1)
        kw = dict(normalize=False, distances=D)
        a = consensus.cluster_resample(views, idx, ks, **kw)
        b = consensus.cluster_resample(views, idx, ks, **kw, precision="float32")
        pd.testing.assert_frame_equal(a, b)


def test_fusion_precision_is_checked():
    with pytest.raises(MetpotError, match="float64 or float32"):
        snf.fuse([np.eye(5), np.eye(5)], K=2, t=2, dtype=np.float16)
    with pytest.raises(MetpotError, match="precision"):
        consensus.cluster_resample(_scaled_views(), np.arange(50), (2,), K=10, precision="half")


def test_lanczos_reads_a_float32_network_as_its_float64_copy(demo_fused):
    """A consensus resample's float32 network goes to Lanczos as it is (products
    accumulated in float64): eigenvalues of its float64 copy to rounding, same partitions."""
    W32 = demo_fused[700].astype(np.float32)
    W64 = W32.astype(np.float64)
    ks = [2, 3, 4, 5, 6]
    lam32 = snf._lanczos(W32, 8, False)
    lam64 = snf._lanczos(W64, 8, False)
    np.testing.assert_allclose(lam32, lam64, rtol=0, atol=EIG_ATOL)
    a = snf.spectral_clusterings(W32, ks, solver="lanczos")
    b = snf.spectral_clusterings(W64, ks, solver="lanczos")
    for k in ks:
        assert np.array_equal(a[k], b[k]), k
    scores32 = snf.cluster_number_scores(W32, ks, solver="lanczos")
    scores64 = snf.cluster_number_scores(W64, ks, solver="lanczos")
    np.testing.assert_allclose(scores32["eigengap"], scores64["eigengap"], rtol=SCORE_RTOL)
