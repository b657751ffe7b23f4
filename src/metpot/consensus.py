"""Consensus clustering of the SNF pipeline (Monti et al. 2003), one resample per job.

The procedure follows the consensus clustering that CancerSubtypes' ``ExecuteSNF.CC`` runs
(ConsensusClusterPlus with spectral clustering): draw many subsamples of the patients (80%
by default, without replacement), cluster each subsample into k groups for every candidate
k, and record for each pair of patients how often they land in the same cluster when both
were drawn. The consensus matrix ``M`` holds that fraction; a stable k gives an ``M`` of
zeros and ones. Here each subsample reruns the whole SNF pipeline (affinity networks, fusion,
spectral clustering) so that resampling also covers the network construction.

The work is split so that every resample can be its own job:

1. :func:`resample_indices` (or :func:`resample_index` for one r) gives the subsample of
   resample ``r``; it depends only on ``(seed, r)``.
2. :func:`cluster_resample` clusters one subsample for all candidate k. When the views are
   already scaled (``normalize=False``, as in the workflow), the distance between two
   samples does not depend on which other samples were drawn: :func:`layer_distances`
   computes them once per view on the whole cohort and each resample takes its
   submatrix; only the affinity networks, their fusion and one eigen-decomposition (for
   all k) are computed per resample.
3. :func:`consensus_matrices` / :func:`consensus_matrix` gather the resamples, and
   :func:`consensus_summary` reports PAC (Șenbabaoğlu et al. 2014), the consensus CDF, its
   area and the relative change in area (Monti's delta) per k.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, warn_data

__all__ = [
    "layer_distances",
    "resample_index",
    "resample_indices",
    "cluster_resample",
    "consensus_matrix",
    "consensus_matrices",
    "consensus_cdf",
    "cdf_area",
    "pac",
    "delta_area",
    "sample_stability",
    "cluster_consensus",
    "consensus_labels",
    "consensus_summary",
]

DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
_ROW_BLOCK = 256


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise MetpotError(f"resample fraction must be in (0, 1], got {fraction}")
    return fraction


def resample_index(n_samples: int, r: int, fraction: float = 0.8, seed: int = 0) -> np.ndarray:
    """Return the sorted sample positions of resample ``r``.

    Parameters
    ----------
    n_samples : int
        Number of samples in the full data.
    r : int
        Resample number (0-based).
    fraction : float
        Fraction of the samples drawn (without replacement), rounded to the nearest integer
        and at least 2.
    seed : int
        Base seed. The draw uses ``numpy.random.default_rng([seed, r])``, so it depends only
        on ``(seed, r)``: jobs can compute their own subsample independently.

    Returns
    -------
    numpy.ndarray of int64
        Sorted positions, ``0 <= i < n_samples``.
    """
    if int(n_samples) != n_samples or n_samples < 2:
        raise MetpotError(f"n_samples must be an integer >= 2, got {n_samples}")
    if int(r) != r or r < 0:
        raise MetpotError(f"resample number must be an integer >= 0, got {r}")
    if int(seed) != seed or seed < 0:
        raise MetpotError(f"seed must be an integer >= 0, got {seed}")
    fraction = _check_fraction(fraction)
    size = min(int(n_samples), max(2, int(round(fraction * n_samples))))
    rng = np.random.default_rng([int(seed), int(r)])
    return np.sort(rng.choice(int(n_samples), size=size, replace=False)).astype(np.int64)


def resample_indices(
    n_samples: int, n_resamples: int, fraction: float = 0.8, seed: int = 0
) -> list[np.ndarray]:
    """Return the sorted sample positions of resamples ``0 .. n_resamples - 1``.

    Parameters
    ----------
    n_samples : int
        Number of samples in the full data.
    n_resamples : int
        Number of resamples.
    fraction : float
        Fraction of the samples drawn in each resample (without replacement).
    seed : int
        Base seed; resample ``r`` is :func:`resample_index` ``(n_samples, r, fraction, seed)``.

    Returns
    -------
    list of numpy.ndarray
        One sorted position array per resample.
    """
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise MetpotError(f"n_resamples must be an integer >= 1, got {n_resamples}")
    return [resample_index(n_samples, r, fraction, seed) for r in range(int(n_resamples))]


def _ks(ks: int | Iterable[int]) -> list[int]:
    if isinstance(ks, int | np.integer):
        ks = [ks]
    try:
        out = sorted({int(k) for k in ks})
    except (TypeError, ValueError):
        raise MetpotError(f"cluster numbers must be integers, got {ks!r}") from None
    if not out or out[0] < 2:
        raise MetpotError(f"cluster numbers must be integers >= 2, got {out}")
    return out


def layer_distances(views: Sequence, metric: str | Sequence[str] = "sqeuclidean") -> list:
    """Distances between all samples of each view, computed once for every resample.

    Parameters
    ----------
    views : sequence of array_like or DataFrame, each (n_samples, n_features_v)
        The full data views, samples in rows, already scaled (the resamples reuse these
        distances, so the views must not be re-standardised per subsample).
    metric : str or sequence of str
        Distance (see :func:`metpot.snf.distance`), one per view if a sequence.

    Returns
    -------
    list of numpy.ndarray
        One (n_samples, n_samples) float64 distance matrix per view; the submatrix of a
        subsample equals the distances computed on the subsample alone.
    """
    from metpot import snf

    views = _as_views(views)
    metrics = [metric] * len(views) if isinstance(metric, str) else list(metric)
    if len(metrics) != len(views):
        raise MetpotError(f"{len(metrics)} metrics given for {len(views)} views")
    return [snf.distance(v, m) for v, m in zip(views, metrics, strict=True)]


def _as_views(views) -> list[np.ndarray]:
    if isinstance(views, np.ndarray | pd.DataFrame):
        views = [views]
    views = [v.to_numpy(dtype=float) if isinstance(v, pd.DataFrame) else np.asarray(v, float)
             for v in views]  # fmt: skip
    if not views:
        raise MetpotError("consensus needs at least one view")
    n = views[0].shape[0]
    if any(v.ndim != 2 or v.shape[0] != n for v in views):
        raise MetpotError(
            "views must be 2-D with the same number of samples (rows), got shapes "
            + ", ".join(str(v.shape) for v in views)
        )
    return views


def cluster_resample(
    views: Sequence,
    indices: Sequence[int],
    ks: int | Iterable[int] = (2, 3, 4, 5, 6),
    K: int = 20,
    mu: float = 0.5,
    t: int = 20,
    variant: str = "snftool-2.3",
    metric: str = "sqeuclidean",
    normalize: bool = True,
    *,
    distances: Sequence[np.ndarray] | None = None,
    solver: str = "auto",
    precision: str = "float64",
) -> pd.DataFrame:
    """Cluster one subsample with the SNF pipeline, for every candidate cluster number.

    Parameters
    ----------
    views : sequence of array_like or DataFrame, each (n_samples, n_features_v)
        The full data views, samples in rows, the same samples in the same order.
    indices : sequence of int
        Sample positions of this subsample (see :func:`resample_index`).
    ks : int or iterable of int
        Candidate cluster numbers (>= 2, smaller than the subsample size).
    K, mu, t, variant, metric, normalize
        Settings of :func:`metpot.snf.snf_pipeline`. ``K`` is clipped to the subsample
        size minus one, with a warning. With a single view there is no fusion: its
        affinity network is clustered directly.
    distances : sequence of numpy.ndarray, optional
        :func:`layer_distances` of the full views (with the same ``metric``), reused
        instead of recomputing the subsample's distances; only with ``normalize=False``
        (z-scoring the subsample would change the distances).
    solver : {"auto", "dense", "lanczos"}
        Eigen solver of :func:`metpot.spectral.spectral_clusterings` (one decomposition for
        all ``ks``).
    precision : {"float64", "float32"}
        Precision of the fusion (:func:`metpot.snf.fuse` ``dtype``); the distances,
        affinities and the eigen-decomposition stay in float64. float32 fuses about 1.5-2x
        faster with half the fusion memory; its fused network differs from float64's by
        about 1e-7 (relative), far below the change that subsampling makes, and the
        workflow's tests check that the partitions of every resample are the same as in
        float64 on the reference cohorts and the demo.

    Returns
    -------
    DataFrame
        ``len(indices)`` x ``len(ks)`` int labels (1..k); index: the sample positions
        (``sample``), columns: the cluster numbers. ``attrs["K"]`` holds the K used.

    Notes
    -----
    Memory, with V views, N samples and a subsample of m: the caller's V distance
    matrices (V N^2 float64), then V subsample affinities (built in place in their
    submatrix copies) and the fusion's V + 1 buffers: (V N^2 + (2V + 1) m^2) x 8 bytes at
    the peak, 4.2 GB for V = 2, N = 10,000, m = 8,000 (the fusion's buffers are half as
    large in float32, which then needs one float64 m x m copy for the eigen-decomposition).
    The eigen-decomposition adds no m x m buffer from
    :data:`metpot.spectral.LANCZOS_MIN_SAMPLES` samples on.
    """
    from metpot import snf
    from metpot.spectral import spectral_clusterings

    if precision not in ("float64", "float32"):
        raise MetpotError(f"consensus precision must be float64 or float32, got {precision!r}")

    views = _as_views(views)
    n = views[0].shape[0]
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1 or len(np.unique(idx)) != len(idx) or idx.min() < 0 or idx.max() >= n:
        raise MetpotError(f"indices must be distinct sample positions in 0..{n - 1}")
    n_sub = len(idx)
    k_list = _ks(ks)
    if k_list[-1] >= n_sub:
        raise MetpotError(
            f"cluster number {k_list[-1]} must be smaller than the subsample ({n_sub})"
        )
    if distances is not None:
        if normalize:
            raise MetpotError(
                "consensus: precomputed distances need normalize=False (z-scoring each "
                "subsample changes its distances)"
            )
        distances = list(distances)
        if len(distances) != len(views) or any(np.shape(D) != (n, n) for D in distances):
            raise MetpotError(
                f"distances must be {len(views)} matrices of {n} x {n} (one per view)"
            )
    K_used = int(K)
    if K_used >= n_sub:
        K_used = n_sub - 1
        warn_data(f"consensus: K={K} clipped to {K_used} for a subsample of {n_sub} samples")
    metrics = [metric] * len(views) if isinstance(metric, str) else list(metric)
    if len(metrics) != len(views):
        raise MetpotError(f"{len(metrics)} metrics given for {len(views)} views")
    affinities = []
    for i, met in enumerate(metrics):
        if distances is not None:
            D = np.ascontiguousarray(distances[i][np.ix_(idx, idx)], dtype=np.float64)
        else:
            sub = views[i][idx]
            D = snf.distance(snf.standard_normalization(sub) if normalize else sub, met)
        affinities.append(snf.affinity_matrix(D, K=K_used, mu=mu, copy=False))
        del D
    if len(affinities) == 1:
        W = affinities.pop()
    else:
        W = snf.fuse(affinities, K=K_used, t=t, variant=variant, dtype=np.dtype(precision))
    del affinities
    labels = spectral_clusterings(W, k_list, solver=solver)
    out = pd.DataFrame(labels, index=pd.Index(idx, name="sample"), dtype=np.int64)
    out.columns.name = "k"
    out.attrs["K"] = K_used
    return out


def _check_resample(n: int, r: int, indices, labels) -> tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(indices, dtype=np.int64)
    lab = np.asarray(labels)
    if idx.shape != lab.shape or idx.ndim != 1:
        raise MetpotError(f"resample {r}: {len(idx)} indices but {len(lab)} labels")
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise MetpotError(f"resample {r}: sample position outside 0..{n - 1}")
    return idx, lab


def _co_clustered(n: int, groups: Sequence[tuple[np.ndarray, np.ndarray, int]]) -> np.ndarray:
    """``C[i, j]`` = number of groupings in which ``i`` and ``j`` share a group.

    ``groups`` holds, per resample, the sample positions, their 0-based group codes and
    the number of groups. With ``Y`` the n x (total groups) 0/1 membership matrix,
    ``C = Y Y^T`` (one BLAS rank-k update instead of one n x n scatter per resample); in
    float32 the counts are exact integers below 2^24.
    """
    width = sum(g for _, _, g in groups)
    dtype = np.float32 if len(groups) < 2**24 else np.float64
    Y = np.zeros((n, width), dtype=dtype)
    col = 0
    for idx, codes, g in groups:
        Y[idx, col + codes] = 1.0
        col += g
    return Y @ Y.T


def _ratio(together: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``together / counts`` in float64 where ``counts > 0``, else 0."""
    M = np.zeros(counts.shape, dtype=np.float64)
    np.divide(together, counts, out=M, where=counts > 0, dtype=np.float64)
    return M


def consensus_matrix(
    n_samples: int,
    resamples: Iterable[tuple[Sequence[int], Sequence[int]]],
    return_counts: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Consensus matrix of one cluster number from clustered resamples.

    Parameters
    ----------
    n_samples : int
        Number of samples in the full data.
    resamples : iterable of (indices, labels)
        Per resample, the sample positions and their cluster labels (same length).
    return_counts : bool
        Also return the co-sampling counts.

    Returns
    -------
    M : numpy.ndarray, (n_samples, n_samples)
        ``M[i, j]`` = times ``i`` and ``j`` were clustered together / times both were drawn.
        Symmetric; 1 on the diagonal for samples drawn at least once; 0 for pairs never drawn
        together (as ConsensusClusterPlus).
    counts : numpy.ndarray, (n_samples, n_samples), optional
        How often each pair was drawn together (diagonal: how often each sample was drawn).
    """
    n = int(n_samples)
    drawn, clustered = [], []
    for r, (indices, labels) in enumerate(resamples):
        idx, lab = _check_resample(n, r, indices, labels)
        levels, codes = np.unique(lab, return_inverse=True)
        drawn.append((idx, np.zeros(len(idx), np.int64), 1))
        clustered.append((idx, codes.reshape(-1), len(levels)))
    if not drawn:
        raise MetpotError("consensus_matrix needs at least one resample")
    counts = _co_clustered(n, drawn)
    M = _ratio(_co_clustered(n, clustered), counts)
    return (M, counts.astype(np.float64)) if return_counts else M


def consensus_matrices(n_samples: int, tables: Iterable[pd.DataFrame]) -> dict[int, np.ndarray]:
    """Consensus matrices for every cluster number from :func:`cluster_resample` tables.

    The co-sampling counts are computed once for all cluster numbers.

    Parameters
    ----------
    n_samples : int
        Number of samples in the full data.
    tables : iterable of DataFrame
        :func:`cluster_resample` outputs (index: sample positions, columns: k).

    Returns
    -------
    dict
        k -> consensus matrix (see :func:`consensus_matrix`).

    Notes
    -----
    Memory: the float32 co-sampling counts and one float32 co-clustering count matrix
    (N^2 x 4 bytes each) besides the float64 results (N^2 x 8 bytes per k): 4.8 GB for
    N = 10,000 and five cluster numbers.
    """
    tables = list(tables)
    if not tables:
        raise MetpotError("consensus_matrices needs at least one resample table")
    ks = [int(k) for k in tables[0].columns]
    for i, tab in enumerate(tables):
        if [int(k) for k in tab.columns] != ks:
            raise MetpotError(
                f"resample table {i} has cluster numbers {list(tab.columns)}, not {ks}"
            )
    n = int(n_samples)
    checked = []
    for r, tab in enumerate(tables):
        labels = tab.to_numpy()
        idx = _check_resample(n, r, tab.index.to_numpy(), labels[:, 0] if ks else [])[0]
        checked.append((idx, labels))
    counts = _co_clustered(n, [(idx, np.zeros(len(idx), np.int64), 1) for idx, _ in checked])
    out = {}
    for j, k in enumerate(ks):
        groups = []
        for idx, labels in checked:
            levels, codes = np.unique(labels[:, j], return_inverse=True)
            groups.append((idx, codes.reshape(-1), len(levels)))
        out[k] = _ratio(_co_clustered(n, groups), counts)
    return out


def _square_matrix(M) -> np.ndarray:
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise MetpotError(f"consensus matrix must be square, got shape {M.shape}")
    if M.shape[0] < 2:
        raise MetpotError("consensus matrix needs at least 2 samples")
    return M


def _cdf_at(M: np.ndarray, points) -> np.ndarray:
    """Fraction of the sample pairs (upper triangle) with consensus ``<= x + 1e-12``.

    Counts by binning each row's upper part against the sorted points, without sorting or
    gathering the n (n - 1) / 2 pair values (O(n^2 log(#points)), O(n) memory).
    """
    M = _square_matrix(M)
    n = M.shape[0]
    thr = np.asarray(points, dtype=float).reshape(-1) + 1e-12
    order = np.argsort(thr, kind="stable")
    edges = thr[order]
    hist = np.zeros(len(edges) + 1, dtype=np.int64)
    for i in range(n - 1):
        # first point >= the value: the value counts at that point and all larger ones
        hist += np.bincount(np.searchsorted(edges, M[i, i + 1 :], side="left"),
                            minlength=len(edges) + 1)  # fmt: skip
    cdf = np.empty(len(thr))
    cdf[order] = np.cumsum(hist)[: len(edges)] / (n * (n - 1) // 2)
    return cdf


def consensus_cdf(
    M: np.ndarray, grid: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of the consensus values of all sample pairs (upper triangle).

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix.
    grid : sequence of float, optional
        Points at which the CDF is evaluated; default 0, 0.01, ..., 1.

    Returns
    -------
    x : numpy.ndarray
        The grid.
    cdf : numpy.ndarray
        Fraction of pairs with consensus ``<= x`` (a tolerance of 1e-12 so that e.g. 0.3
        counts at x = 0.3 despite floating point).
    """
    x = DEFAULT_GRID.copy() if grid is None else np.asarray(grid, dtype=float)
    return x, _cdf_at(M, x)


def _area(x: np.ndarray, cdf: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * cdf[1:]))


def cdf_area(M: np.ndarray, grid: Sequence[float] | None = None) -> float:
    """Area under the consensus CDF, as ConsensusClusterPlus computes it.

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix.
    grid : sequence of float, optional
        Increasing grid from 0 to 1; default 0, 0.01, ..., 1 (ConsensusClusterPlus' 100
        histogram bins).

    Returns
    -------
    float
        ``sum_j (x_j - x_{j-1}) * CDF(x_j)``. Larger for a consensus matrix with more
        pairs at 0 (more clusters); 0.99 * (fraction of pairs at 0) + 0.01 for a 0/1 matrix
        on the default grid.
    """
    return _area(*consensus_cdf(M, grid))


def _check_pac_interval(lower: float, upper: float) -> None:
    if not 0.0 <= lower < upper <= 1.0:
        raise MetpotError(f"PAC needs 0 <= lower < upper <= 1, got {lower}, {upper}")


def pac(M: np.ndarray, lower: float = 0.1, upper: float = 0.9) -> float:
    """Proportion of ambiguous clustering (Șenbabaoğlu et al. 2014).

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix.
    lower, upper : float
        The ambiguous interval; PAC = CDF(upper) - CDF(lower).

    Returns
    -------
    float
        Fraction of sample pairs with ``lower < consensus <= upper``; 0 for a perfectly
        stable clustering, lower is better.
    """
    _check_pac_interval(lower, upper)
    cdf = _cdf_at(M, [lower, upper])
    return float(cdf[1] - cdf[0])


def delta_area(areas: Mapping[int, float]) -> dict[int, float]:
    """Relative change in the area under the consensus CDF (Monti's delta K plot).

    Parameters
    ----------
    areas : mapping
        k -> :func:`cdf_area` of its consensus matrix.

    Returns
    -------
    dict
        k -> delta: the area itself for the smallest k, else
        ``(A(k) - A(k_prev)) / A(k_prev)`` with ``k_prev`` the next smaller k given.
    """
    ks = sorted(int(k) for k in areas)
    out: dict[int, float] = {}
    for i, k in enumerate(ks):
        if i == 0:
            out[k] = float(areas[k])
        else:
            prev = float(areas[ks[i - 1]])
            out[k] = float((areas[k] - prev) / prev) if prev > 0 else float("nan")
    return out


def _labels(labels: Sequence, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise MetpotError(f"labels must have one entry per sample ({n}), got shape {lab.shape}")
    return lab


def sample_stability(M: np.ndarray, labels: Sequence) -> np.ndarray:
    """Per-sample mean consensus with the other members of its own cluster.

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix (n x n).
    labels : sequence
        Cluster label of each sample (e.g. the final clustering).

    Returns
    -------
    numpy.ndarray
        Mean ``M[i, j]`` over ``j != i`` in the cluster of ``i`` (Monti's item consensus);
        NaN for a sample alone in its cluster.
    """
    M = np.asarray(M, dtype=float)
    n = M.shape[0]
    lab = _labels(labels, n)
    n_same = np.empty(n, dtype=np.int64)
    total = np.empty(n)
    # row blocks: no n x n temporaries (each row is summed as a whole, as before)
    for i0 in range(0, n, _ROW_BLOCK):
        i1 = min(i0 + _ROW_BLOCK, n)
        same = lab[i0:i1, None] == lab[None, :]
        same[np.arange(i1 - i0), np.arange(i0, i1)] = False
        n_same[i0:i1] = same.sum(axis=1)
        total[i0:i1] = np.where(same, M[i0:i1], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_same > 0, total / np.maximum(n_same, 1), np.nan)


def cluster_consensus(M: np.ndarray, labels: Sequence) -> dict:
    """Mean consensus among the pairs within each cluster (Monti's cluster consensus).

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix.
    labels : sequence
        Cluster label of each sample.

    Returns
    -------
    dict
        label -> mean ``M[i, j]`` over pairs ``i < j`` of the cluster (NaN for singletons).
    """
    M = np.asarray(M, dtype=float)
    lab = _labels(labels, M.shape[0])
    out = {}
    for c in pd.unique(lab):
        members = np.flatnonzero(lab == c)
        sub = M[np.ix_(members, members)]
        vals = sub[np.triu_indices(len(members), k=1)]
        key = c.item() if isinstance(c, np.generic) else c
        out[key] = float(vals.mean()) if len(vals) else float("nan")
    return out


def consensus_labels(M: np.ndarray, k: int) -> np.ndarray:
    """Final clustering of a consensus matrix: average-linkage on ``1 - M`` (as
    ConsensusClusterPlus ``finalLinkage="average"``).

    Parameters
    ----------
    M : numpy.ndarray
        Consensus matrix.
    k : int
        Number of clusters.

    Returns
    -------
    numpy.ndarray of int
        Labels 1..k, numbered by first appearance.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    M = np.asarray(M, dtype=float)
    D = 1.0 - (M + M.T) / 2.0
    np.fill_diagonal(D, 0.0)
    raw = fcluster(linkage(squareform(np.clip(D, 0, 1), checks=False), "average"), k, "maxclust")
    _, first = np.unique(raw, return_index=True)
    order = {lab: i + 1 for i, lab in enumerate(raw[np.sort(first)])}
    return np.array([order[x] for x in raw], dtype=np.int64)


def consensus_summary(
    matrices: Mapping[int, np.ndarray],
    lower: float = 0.1,
    upper: float = 0.9,
    grid: Sequence[float] | None = None,
    n_resamples: int | None = None,
) -> dict:
    """Gather PAC, CDF, area and delta area per cluster number into a JSON-ready dict.

    Parameters
    ----------
    matrices : mapping
        k -> consensus matrix (see :func:`consensus_matrices`).
    lower, upper : float
        PAC interval.
    grid : sequence of float, optional
        CDF grid (default 0, 0.01, ..., 1).
    n_resamples : int, optional
        Recorded as is.

    Returns
    -------
    dict
        ``ks``, ``pac`` / ``area`` / ``delta_area`` (keys: k as str), ``cdf`` (``x`` and one
        list per k), ``best_k_pac`` (smallest PAC; ties to the larger CDF area, then to the
        smaller k), ``pac_interval``,
        ``n_samples``, ``n_resamples``. Only str keys, floats, ints and lists.
    """
    if not matrices:
        raise MetpotError("consensus_summary needs at least one consensus matrix")
    _check_pac_interval(lower, upper)
    ks = sorted(int(k) for k in matrices)
    x = DEFAULT_GRID.copy() if grid is None else np.asarray(grid, dtype=float)
    pacs, areas, cdfs = {}, {}, {}
    for k in ks:
        # one pass over each matrix: the default grid (area), the grid asked for, the PAC
        # interval
        points = np.concatenate([DEFAULT_GRID, x, [lower, upper]])
        cdf = _cdf_at(matrices[k], points)
        n_grid = len(DEFAULT_GRID)
        areas[k] = _area(DEFAULT_GRID, cdf[:n_grid])
        cdfs[str(k)] = [round(float(v), 6) for v in cdf[n_grid : n_grid + len(x)]]
        pacs[k] = float(cdf[-1] - cdf[-2])
    deltas = delta_area(areas)
    # ties in PAC (common on clean data, e.g. 0 at both k = 2 and 3) go to the larger area
    # under the CDF (the finer of the equally stable partitions), then to the smaller k
    best = min(ks, key=lambda k: (round(pacs[k], 12), -round(areas[k], 12), k))
    n = int(np.asarray(matrices[ks[0]]).shape[0])

    def clean(v: float) -> float | None:
        return None if not np.isfinite(v) else round(float(v), 6)

    return {
        "n_samples": n,
        "n_resamples": None if n_resamples is None else int(n_resamples),
        "ks": ks,
        "pac_interval": [float(lower), float(upper)],
        "pac": {str(k): clean(pacs[k]) for k in ks},
        "area": {str(k): clean(areas[k]) for k in ks},
        "delta_area": {str(k): clean(deltas[k]) for k in ks},
        "best_k_pac": best,
        "cdf": {"x": [round(float(v), 6) for v in x], **cdfs},
    }
