"""Tests of metpot.snf: exactness against SNFtool (R) and snfpy, and the public API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import COAD, SNF_SIM, SNFTOOL, load_snftool_case
from scipy.spatial.distance import cdist
from sklearn.base import clone

from metpot import snf
from metpot.clusters import choose_n_clusters
from metpot.errors import MetpotError

GENERATIONS = {"snftool-2.2": "2.2", "snftool-2.3": "2.3.1"}  # variant -> reference tag
# Agreement with SNFtool's R outputs and with snfpy, as max |a - b| / max |b|: measured at most
# 1.3e-15 (coad affinities; 6e-16 for the fused networks) and 5e-16 (snfpy) on 2026-11-21.
RTOL = 1e-13


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|."""
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def load_csv(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",")


# ------------------------------------------------------------------ vendored sim case


@pytest.fixture(scope="module")
def sim():
    views = [load_csv(SNF_SIM / f"sim_view{i}.csv.gz") for i in (1, 2)]
    return views, load_snftool_case(SNF_SIM / "sim_reference.npz")


@pytest.fixture(scope="module")
def sim_results(sim):
    views, _ = sim
    return {v: snf.snf_pipeline(views, K=20, mu=0.5, t=20, variant=v) for v in GENERATIONS}


@pytest.mark.reference
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_sim_affinity_and_fused_match_snftool(sim, sim_results, variant):
    _, ref = sim
    affinities, fused = sim_results[variant]
    for i, a in enumerate(affinities, start=1):
        assert relative(a, ref[f"affinity{i}"]) < RTOL
    assert relative(fused, ref[f"fused_{GENERATIONS[variant]}"]) < RTOL
    assert np.array_equal(fused, fused.T)


@pytest.mark.reference
@pytest.mark.parametrize("variant", list(GENERATIONS))
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_sim_spectral_clustering_matches_snftool(sim, variant, k):
    _, ref = sim
    tag = GENERATIONS[variant]
    labels = snf.spectral_clustering(ref[f"fused_{tag}"], k)
    assert labels.dtype.kind == "i"
    assert np.array_equal(labels, ref[f"labels_k{k}_{tag}"])


@pytest.mark.reference
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_sim_labels_from_own_fusion(sim, sim_results, variant):
    _, ref = sim
    fused = sim_results[variant][1]
    for k in range(2, 6):
        assert np.array_equal(
            snf.spectral_clustering(fused, k), ref[f"labels_k{k}_{GENERATIONS[variant]}"]
        )


@pytest.mark.reference
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_sim_n_clusters_match_snftool(sim, variant):
    _, ref = sim
    tag = GENERATIONS[variant]
    got = snf.estimate_n_clusters(ref[f"fused_{tag}"], range(2, 6), variant)
    assert got == tuple(int(x) for x in ref[f"nclusters_{tag}"])


@pytest.mark.reference
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_sim_group_predict_matches_snftool(sim, variant):
    views, ref = sim
    expected = ref[f"grouppredict_all_{GENERATIONS[variant]}"]
    groups = np.repeat([1, 2], 100)
    train = [v[0::2] for v in views]  # rows 1, 3, ..., 199 (1-based)
    test = [v[1::2] for v in views]
    pred = snf.group_predict(train, test, groups[0::2], K=20, mu=0.5, t=20, variant=variant)
    assert np.array_equal(pred, expected[100:])
    stacked = snf.group_predict(train, test, groups[0::2], variant=variant, return_all=True)
    assert np.array_equal(stacked, expected)


# --------------------------------------------------- gauss and coad cases (vendored)


def _case_views(case: str):
    if case == "coad":
        views = [
            pd.read_csv(COAD / f"{name}.csv.gz", index_col=0).to_numpy().T
            for name in ("mrna", "mirna")
        ]
        return views, 20
    return [load_csv(SNFTOOL / f"{case}_view{i}.csv.gz") for i in (1, 2)], 15


@pytest.mark.reference
@pytest.mark.parametrize("case", ["gauss", "coad"])
@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_cases_match_snftool(case, variant):
    tag = GENERATIONS[variant]
    ref = load_snftool_case(SNFTOOL / f"{case}_reference.npz")
    views, K = _case_views(case)
    affinities, fused = snf.snf_pipeline(views, K=K, mu=0.5, t=20, variant=variant)
    for i, a in enumerate(affinities, start=1):
        assert relative(a, ref[f"affinity{i}"]) < RTOL
    ref_fused = ref[f"fused_{tag}"]
    assert relative(fused, ref_fused) < RTOL
    for k in range(2, 6):
        assert np.array_equal(snf.spectral_clustering(ref_fused, k), ref[f"labels_k{k}_{tag}"]), k
    expected_n = tuple(ref[f"nclusters_{tag}"].tolist())
    assert snf.estimate_n_clusters(ref_fused, range(2, 6), variant) == expected_n


# ------------------------------------------------------------------------ snfpy 0.2.2


@pytest.fixture
def snfpy(monkeypatch):
    compute = pytest.importorskip("snf.compute")
    original = compute.check_array

    def check_array(*args, force_all_finite=None, **kwargs):  # scikit-learn >= 1.8 shim
        if force_all_finite is not None:
            kwargs["ensure_all_finite"] = force_all_finite
        return original(*args, **kwargs)

    monkeypatch.setattr(compute, "check_array", check_array)
    return compute


@pytest.mark.reference
@pytest.mark.parametrize("n, K, t", [(120, 10, 20), (257, 20, 7)])
def test_snftool_22_matches_snfpy(snfpy, n, K, t):
    rng = np.random.default_rng(n)
    views = [rng.normal(size=(n, 40)), rng.normal(size=(n, 13))]
    views[0][: n // 2, :5] += 1.5
    affinities, fused = snf.snf_pipeline(views, K=K, mu=0.5, t=t, variant="snftool-2.2")
    ref_aff = snfpy.make_affinity(views, K=K, mu=0.5)
    ref_fused = snfpy.snf(ref_aff, K=K, t=t)
    for a, b in zip(affinities, ref_aff, strict=True):
        assert relative(a, b) < RTOL
    assert relative(fused, ref_fused) < RTOL


# --------------------------------------------------- fast fusion vs a dense reference


def _row_sums(X):
    """R's ``rowSums``: accumulated in long double (80-bit on x86), then rounded to double.

    The rounding matters with duplicated samples: their rows hold the same values in another
    order, and only a sum more precise than double gives them the same total, hence the tied
    entries of R's ``.dominateset``.
    """
    return X.astype(np.longdouble).sum(axis=1).astype(np.float64)


def _dense_snftool_fuse(affinities, K, t, variant):
    """Straight transcription of SNFtool's R ``SNF`` with dense products."""

    def dominate(X):
        A = np.zeros_like(X)
        for i, row in enumerate(X):
            keep = np.argsort(row, kind="stable")[len(row) - K :]
            A[i, keep] = row[keep]
        return A / A.sum(axis=1, keepdims=True)

    def normalize(X):
        if variant == "snftool-2.2":
            return X / _row_sums(X)[:, None]
        den = _row_sums(X) - np.diag(X)
        den[den == 0] = 1
        X = X / (2 * den[:, None])
        np.fill_diagonal(X, 0.5)
        return X

    walls = [normalize(a) for a in affinities]
    walls = [(w + w.T) / 2 for w in walls]
    local = [dominate(w) for w in walls]
    n, LW = walls[0].shape[0], len(walls)
    for _ in range(t):
        nxt = []
        for j in range(LW):
            M = sum(walls[k] for k in range(LW) if k != j) / (LW - 1)
            nxt.append(local[j] @ M @ local[j].T)
        walls = []
        for w in nxt:
            w = normalize(w) if variant == "snftool-2.3" else w + np.eye(n)
            walls.append((w + w.T) / 2)
    W = sum(walls) / LW
    W = normalize(W)
    return (W + W.T) / 2 if variant == "snftool-2.3" else (W + W.T + np.eye(n)) / 2


@pytest.mark.parametrize("variant", list(GENERATIONS))
@pytest.mark.parametrize("n_views", [2, 3])
def test_fuse_matches_dense_transcription(variant, n_views):
    rng = np.random.default_rng(7 + n_views)
    n = 150
    views = [rng.normal(size=(n, p)) for p in (30, 12, 7)[:n_views]]
    affinities = [snf.affinity_matrix(snf.dist2(snf.standard_normalization(v)), 12) for v in views]
    fast = snf.fuse(affinities, K=12, t=9, variant=variant)
    dense = _dense_snftool_fuse(affinities, K=12, t=9, variant=variant)
    assert relative(fast, dense) < 1e-12
    # inputs are not modified
    again = [snf.affinity_matrix(snf.dist2(snf.standard_normalization(v)), 12) for v in views]
    for a, b in zip(affinities, again, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("variant", list(GENERATIONS))
@pytest.mark.parametrize("n, K", [(3, 2), (129, 128), (130, 7)])
def test_fuse_edge_sizes(variant, n, K):
    # K = n - 1 and sizes around the 64/128-wide tiles of the kernels
    rng = np.random.default_rng(n + K)
    affinities = [
        snf.affinity_matrix(snf.dist2(snf.standard_normalization(rng.normal(size=(n, 4)))), K)
        for _ in range(2)
    ]
    fast = snf.fuse(affinities, K=K, t=4, variant=variant)
    assert relative(fast, _dense_snftool_fuse(affinities, K, 4, variant)) < 1e-12
    assert np.array_equal(fast, fast.T)


@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_fuse_with_duplicated_samples(variant):
    # duplicated samples give tied affinities, where .dominateset's tie-breaking matters
    rng = np.random.default_rng(21)
    base = [rng.normal(size=(40, 6)), rng.normal(size=(40, 4))]
    views = [np.vstack([v, v[:15], v[:5]]) for v in base]
    affinities, fused = snf.snf_pipeline(views, K=10, t=6, variant=variant)
    assert relative(fused, _dense_snftool_fuse(affinities, 10, 6, variant)) < 1e-12


def test_fuse_zero_iterations():
    rng = np.random.default_rng(3)
    views = [rng.normal(size=(40, 5)), rng.normal(size=(40, 3))]
    affinities, fused = snf.snf_pipeline(views, K=5, t=0)
    assert relative(fused, _dense_snftool_fuse(affinities, 5, 0, "snftool-2.3")) < 1e-14


def test_dominate_set_ties_keep_highest_indices():
    # R: x[sort(x, index.return=TRUE)$ix[1:(n - K)]] <- 0 with a stable ascending sort
    from metpot import _snf_kernels as kernels

    rng = np.random.default_rng(11)
    W = rng.integers(0, 4, size=(30, 30)).astype(float) + 1.0
    for K in (1, 3, 7, 29):
        idx, val = kernels.dominate_set(W, K)
        for i, row in enumerate(W):
            keep = np.sort(np.argsort(row, kind="stable")[len(row) - K :])
            assert np.array_equal(idx[i], keep)
            np.testing.assert_allclose(val[i], row[keep] / row[keep].sum(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_order_statistics_equal_numpy_bit_for_bit(dtype):
    # the kernels select without np.partition / np.sort (slow to compile): the same values
    # in the same order, with ties, and NaN sorting last as in NumPy
    from metpot import _snf_kernels as kernels

    rng = np.random.default_rng(5)
    for trial in range(60):
        n = int(rng.integers(2, 60))
        row = (rng.integers(0, 5, n) if trial % 2 else rng.random(n)).astype(dtype)
        if trial % 5 == 0:
            row[rng.integers(0, n, 2)] = np.nan
        for k in range(1, n + 1):
            head = np.empty(k, dtype)
            kernels._extremes_sorted(row, head, False)
            np.testing.assert_array_equal(head, np.sort(row)[:k])
            kernels._extremes_sorted(row, head, True)
            np.testing.assert_array_equal(head, np.sort(row)[::-1][:k])
            assert np.array_equal(
                kernels._kth_largest(row, k), np.partition(row, n - k)[n - k], equal_nan=True
            )
        a = rng.integers(0, 50, n)
        b = np.empty_like(a)
        kernels._extremes_sorted(a, b, False)  # every value: a whole sort
        assert np.array_equal(b, np.sort(a))
    D = rng.random((40, 40))
    for K in (1, 5, 39):
        # sorted positions 2..K+1 summed in ascending order, / K, + eps: to the last bit
        expected = [_ascending_sum(np.sort(r)[1 : K + 1]) / K + np.finfo(float).eps for r in D]
        np.testing.assert_array_equal(kernels.neighbour_means(D, K), expected)


def _ascending_sum(values) -> float:
    s = 0.0
    for v in values:
        s += float(v)
    return s


# --------------------------------------------------------------- preprocessing units


def test_standard_normalization():
    X = np.array([[1.0, 5.0, 2.0], [2.0, 5.0, 4.0], [4.0, 5.0, 9.0]])
    Z = snf.standard_normalization(X)
    expected = (X - X.mean(0)) / np.where(X.std(0, ddof=1) == 0, 1, X.std(0, ddof=1))
    np.testing.assert_allclose(Z, expected, rtol=1e-15)
    assert np.all(Z[:, 1] == 0)
    np.testing.assert_allclose(Z[:, [0, 2]].std(0, ddof=1), 1.0, rtol=1e-14)
    assert np.array_equal(snf.standard_normalization(X, ignore_nan=True), Z)


def test_standard_normalization_ignoring_missing_values():
    X = np.array([[1.0, 5.0, np.nan], [2.0, np.nan, 4.0], [4.0, 5.0, 9.0], [np.nan, 5.0, 2.0]])
    Z = snf.standard_normalization(X, ignore_nan=True)
    assert np.array_equal(np.isnan(Z), np.isnan(X))
    for j in range(3):  # each column as if its missing values were not there
        present = ~np.isnan(X[:, j])
        np.testing.assert_allclose(
            Z[present, j], snf.standard_normalization(X[present, [j]]).ravel(), rtol=1e-14
        )
    # by hand: column 0 is 1, 2, 4 -> mean 7/3, sd sqrt(7/3)
    np.testing.assert_allclose(Z[:3, 0], (np.array([1, 2, 4]) - 7 / 3) / np.sqrt(7 / 3))
    assert np.all(
        np.isnan(snf.standard_normalization([[1.0, 2.0], [np.nan, 3.0]], ignore_nan=True)[:, 0])
    )
    with pytest.raises(MetpotError, match="non-finite value nan at row 0, column 2"):
        snf.standard_normalization(X)
    with pytest.raises(MetpotError, match="non-finite value inf at row 0, column 2"):
        snf.standard_normalization(np.where(np.isnan(X), np.inf, X), ignore_nan=True)


def test_dist2_and_distance_metrics():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 6)), rng.normal(size=(20, 6))
    np.testing.assert_allclose(snf.dist2(X, Y), cdist(X, Y, "sqeuclidean"), atol=1e-12)
    D = snf.dist2(X)
    assert np.array_equal(D, D.T) and D.min() >= 0
    np.testing.assert_allclose(np.diag(D), 0, atol=1e-12)
    np.testing.assert_allclose(snf.distance(X, "euclidean"), cdist(X, X), atol=1e-6)
    for metric in ("correlation", "cosine", "cityblock"):
        np.testing.assert_allclose(snf.distance(X, metric), cdist(X, X, metric), rtol=1e-14)
    P = np.abs(X)
    chi = snf.distance(P, "chisquared")
    manual = 0.5 * ((P[:, None] - P[None]) ** 2 / (P[:, None] + P[None])).sum(-1)
    np.testing.assert_allclose(chi, manual, rtol=1e-13)
    # duplicated rows: the Gram formula may round below 0, R clips to 0
    Xd = np.vstack([X, X[:3]])
    assert snf.dist2(Xd).min() == 0.0
    with pytest.raises(MetpotError, match="metric"):
        snf.distance(X, "bogus")


def test_affinity_matrix_properties():
    rng = np.random.default_rng(1)
    D = snf.dist2(rng.normal(size=(50, 4)))
    W = snf.affinity_matrix(D, K=10, mu=0.5)
    assert np.array_equal(W, W.T) and np.all(W > 0)
    assert not np.shares_memory(W, D)
    # the formula of SNFtool's affinityMatrix
    Dz = D.copy()
    np.fill_diagonal(Dz, 0)
    m = np.sort(Dz, axis=1)[:, 1:11].mean(axis=1) + np.finfo(float).eps
    sig = np.maximum((m[:, None] + m[None, :]) / 3 + Dz / 3 + np.finfo(float).eps, 2.2e-16)
    s = 0.5 * sig
    expected = np.exp(-(Dz**2) / (2 * s**2)) / (s * np.sqrt(2 * np.pi))
    assert relative(W, expected) < 1e-13


# -------------------------------------------------------------- clustering helpers


def test_cluster_number_scores_consistent(sim):
    _, ref = sim
    W = ref["fused_2.3.1"]
    scores = snf.cluster_number_scores(W, range(2, 6), "snftool-2.3")
    assert list(scores["n_clusters"]) == [2, 3, 4, 5]
    best = snf.estimate_n_clusters(W, range(2, 6), "snftool-2.3")
    by_gap = scores.sort_values("eigengap_rank")["n_clusters"].tolist()
    by_rot = scores.sort_values("rotation_cost_rank")["n_clusters"].tolist()
    assert best == (by_gap[0], by_gap[1], by_rot[0], by_rot[1])
    assert (scores["eigengap"] >= 0).all() and (scores["rotation_cost"] > 0).all()
    # 1 is dropped as in SNFtool; a single candidate has no second best
    assert snf.estimate_n_clusters(W, [1, 3]) == (3, None, 3, None)


def test_spectral_clustering_is_deterministic_and_1_based(sim):
    _, ref = sim
    W = ref["fused_2.3.1"]
    a = snf.spectral_clustering(W, 3)
    b = snf.spectral_clustering(pd.DataFrame(W), 3)
    assert np.array_equal(a, b)
    assert set(np.unique(a)) == {1, 2, 3}


def test_nmi_matches_calnmi_definition():
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(5)
    a, b = rng.integers(1, 4, 80), rng.integers(1, 6, 80)
    expected = normalized_mutual_info_score(a, b, average_method="geometric")
    assert snf.nmi(a, b) == pytest.approx(expected, rel=1e-12)
    assert snf.nmi(a, a) == pytest.approx(1.0, rel=1e-12)
    assert snf.nmi(a, a * 10 + 3) == pytest.approx(1.0, rel=1e-12)  # label names do not matter
    # undefined -> 0, as max(0, NaN, na.rm=TRUE); scikit-learn gives 1 for two single classes
    assert snf.nmi(np.ones(10), a[:10]) == 0.0
    assert snf.nmi(np.ones(10), np.full(10, 2)) == 0.0
    # by hand: contingency [[2, 1], [1, 2]]: MI = 5/3 - log2(3) bits, both entropies 1 bit
    assert snf.nmi([1, 1, 2, 1, 2, 2], [1, 1, 1, 2, 2, 2]) == pytest.approx(
        5 / 3 - np.log2(3), rel=1e-12
    )
    with pytest.raises(MetpotError, match="differ in length: 3 and 2"):
        snf.nmi([1, 2, 1], [1, 2])


def test_concordance_network_nmi(sim, sim_results):
    affinities, fused = sim_results["snftool-2.3"]
    M = snf.concordance_network_nmi([*affinities, fused], 2)
    assert M.shape == (3, 3)
    np.testing.assert_allclose(np.diag(M), 1.0)
    np.testing.assert_allclose(M, M.T)
    assert np.all((M >= 0) & (M <= 1 + 1e-12))


def test_rank_features_by_nmi(sim, sim_results):
    views, _ = sim
    fused = sim_results["snftool-2.3"][1]
    scores, ranks = snf.rank_features_by_nmi(views, fused)
    assert [s.shape for s in scores] == [(2,), (2,)]
    for s, r in zip(scores, ranks, strict=True):
        assert sorted(r) == [1, 2]
        assert s[r == 1][0] >= s[r == 2][0]
        assert np.all((s >= 0) & (s <= 1 + 1e-12))


# ------------------------------------------------------------------------ estimator


def test_estimator_matches_functions(sim, sim_results):
    views, _ = sim
    est = snf.SNF(K=20, mu=0.5, t=20, variant="snftool-2.3")
    assert est.fit(views) is est
    affinities, fused = sim_results["snftool-2.3"]
    assert np.array_equal(est.fused_, fused)
    for a, b in zip(est.affinities_, affinities, strict=True):
        assert np.array_equal(a, b)
    keys = ("eigengap_best", "eigengap_second", "rotation_cost_best", "rotation_cost_second")
    estimates = dict(zip(keys, snf.estimate_n_clusters(fused), strict=True))
    assert (est.n_clusters_, est.n_clusters_reason_) == choose_n_clusters(estimates, None, "auto")
    assert np.array_equal(est.labels_, snf.spectral_clustering(fused, est.n_clusters_))
    fixed = clone(est).set_params(n_clusters=3)
    assert np.array_equal(fixed.fit_predict(views), snf.spectral_clustering(fused, 3))
    assert fixed.n_clusters_ == 3
    frames = [pd.DataFrame(v) for v in views]
    assert np.array_equal(snf.SNF().fit(frames).fused_, fused)


def test_estimator_chooses_k_as_the_workflow_does():
    # four groups where the eigen-gap (k = 2) and the rotation cost (k = 4) disagree: the
    # workflow's rule without consensus (clusters.choose_n_clusters) takes the rotation cost
    rng = np.random.default_rng(14)
    g = np.repeat(np.arange(4), 15)
    centers = rng.normal(size=(4, 5)) * rng.uniform(0.5, 3)
    views = [
        centers[g] + rng.normal(size=(60, 5)),
        centers[g] @ rng.normal(size=(5, 3)) + rng.normal(size=(60, 3)) * 2,
    ]
    est = snf.SNF(K=10, t=10).fit(views)
    assert snf.estimate_n_clusters(est.fused_) == (2, 3, 4, 2)
    assert est.n_clusters_ == 4 and "rotation-cost" in est.n_clusters_reason_
    assert np.array_equal(est.labels_, snf.spectral_clustering(est.fused_, 4))
    fixed = snf.SNF(K=10, t=10, n_clusters=2).fit(views)
    assert fixed.n_clusters_ == 2 and "fixed" in fixed.n_clusters_reason_


def test_pipeline_metric_per_view():
    rng = np.random.default_rng(4)
    views = [rng.normal(size=(40, 6)), rng.normal(size=(40, 5))]
    affs, fused = snf.snf_pipeline(views, K=6, t=3, metric=["sqeuclidean", "correlation"])
    z = [snf.standard_normalization(v) for v in views]
    assert np.array_equal(affs[0], snf.affinity_matrix(snf.dist2(z[0]), 6))
    assert np.array_equal(affs[1], snf.affinity_matrix(snf.distance(z[1], "correlation"), 6))
    assert np.array_equal(fused, snf.fuse(affs, K=6, t=3))
    with pytest.raises(MetpotError, match="metrics"):
        snf.snf_pipeline(views, K=6, metric=["euclidean"])


# --------------------------------------------------------------------------- errors


def test_errors_are_metpot_errors():
    rng = np.random.default_rng(2)
    views = [rng.normal(size=(30, 4)), rng.normal(size=(30, 3))]
    affs, _ = snf.snf_pipeline(views, K=5, t=2)
    with pytest.raises(MetpotError, match="variant"):
        snf.fuse(affs, K=5, variant="snftool-9")
    with pytest.raises(MetpotError, match="variant"):
        snf.estimate_n_clusters(affs[0], variant="matlab")
    with pytest.raises(MetpotError, match="K=30"):
        snf.fuse(affs, K=30)
    with pytest.raises(MetpotError, match="K=40"):
        snf.affinity_matrix(snf.dist2(views[0]), K=40)
    with pytest.raises(MetpotError, match="samples"):
        snf.snf_pipeline([views[0], views[1][:20]], K=5)
    bad = views[0].copy()
    bad[3, 2] = np.nan
    with pytest.raises(MetpotError, match="non-finite.*row 3, column 2"):
        snf.snf_pipeline([bad, views[1]], K=5)
    with pytest.raises(MetpotError, match="non-finite"):
        snf.fuse([affs[0], np.full_like(affs[1], np.inf)], K=5)
    with pytest.raises(MetpotError, match="at least 2"):
        snf.fuse([affs[0]], K=5)
    with pytest.raises(MetpotError, match="30 x 30"):
        snf.fuse([affs[0], affs[1][:20, :20]], K=5)
    with pytest.raises(MetpotError, match="n_clusters"):
        snf.spectral_clustering(affs[0], 30)
    with pytest.raises(MetpotError):
        snf.SNF(variant="nope").fit(views)
    with pytest.raises(MetpotError, match="features"):
        snf.group_predict(views, [views[0][:5], views[1][:5, :2]], np.ones(30))


def test_the_kernels_warm_up_covers_the_demo_sized_jobs():
    """After metpot.kernels.warm_up (rule numba_cache), the snf job and a float32 consensus
    resample of 150 patients need no kernel signature the warm-up did not compile (so they
    load numba's cache instead of compiling again). In a fresh process: what this test
    process compiled before does not count."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        from metpot.consensus import cluster_resample, layer_distances, resample_index
        from metpot.kernels import kernel_signatures, warm_up
        from metpot.snf import snf_pipeline

        snf = {"K": 20, "mu": 0.5, "t": 20, "variant": "snftool-2.3", "metric": "sqeuclidean"}
        warm_up(snf, "float32", processes=1)
        warmed = kernel_signatures()
        rng = np.random.default_rng(1)
        views = [rng.standard_normal((150, 60)), rng.standard_normal((150, 30))]
        snf_pipeline(views, **snf, normalize=False)
        cluster_resample(
            views, resample_index(150, 3, 0.8, 1), [2, 3, 4, 5, 6], **snf, normalize=False,
            distances=layer_distances(views, "sqeuclidean"), precision="float32",
        )
        print(len(warmed), sorted(kernel_signatures() - warmed))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    n_warmed, missing = proc.stdout.split(" ", 1)
    assert int(n_warmed) >= 15
    assert missing.strip() == "[]", missing
