"""Similarity Network Fusion (SNF), exact to the R package SNFtool and fast.

Two generations of SNFtool give different fused networks; both are available through
``variant``:

``"snftool-2.3"``
    SNFtool >= 2.2.1 (current CRAN). ``normalize(X) = X / (2 (rowSums(X) - diag(X)))``
    with the diagonal set to 0.5, applied at the start, after every iteration and at the
    end, each time followed by ``(X + X^T) / 2``. Raw eigen-gap.
``"snftool-2.2"``
    SNFtool <= 2.2, the original MATLAB ``SNF.m`` and snfpy 0.2.2. Row normalisation
    ``X / rowSums(X)``, ``+ I`` after each iteration, final ``(W + W^T + I) / 2``.
    Eigen-gap weighted by ``(1 - l_k) / (1 - l_{k+1})``.

The fusion step ``S W S^T`` uses the sparsity of the K-nearest-neighbour kernel ``S``
(K non-zeros per row): O(N^2 K) instead of O(N^3), with in-place updates so that
only three N x N buffers are live during the fusion of two views.

Every function takes arrays (pandas DataFrames are accepted and converted) with the
samples in rows, and returns NumPy arrays. Cluster labels are 1-based, like SNFtool's.

Details that decide exact agreement with SNFtool (checked against its outputs):

- ``affinityMatrix`` computes ``outer(means, means, avg) / 3 * 2`` with
  ``avg = (x + y) / 2``, i.e. ``(m_i + m_j) / 3``; the distance itself (not its square
  root) goes into ``dnorm``, which is R's accurate ``dnorm4``.
- ``.dominateset`` zeroes the first ``n - K`` positions of R's stable ascending sort:
  among entries tied at the K-th largest value the highest column indices are kept
  (MATLAB's descending sort keeps the lowest; snfpy's percentile threshold keeps all
  ties). Ties matter only with duplicated samples.

Spectral clustering of a network and the estimate of its number of clusters (SNFtool
``spectralClustering``, ``estimateNumberOfClustersGivenGraph``) are in
:mod:`metpot.spectral`, which describes their own exactness details; their names are
importable from here too. The scikit-learn estimator ``metpot.snf.SNF`` is in
:mod:`metpot.snf_estimator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from metpot import _snf_kernels as _k
from metpot import spectral as _spectral
from metpot._snf_inputs import (
    VARIANTS,
    _as_matrix,
    _as_square,
    _as_views,
    _check_K,
    _check_positive,
    _check_t,
    _check_variant,
)
from metpot.errors import MetpotError
from metpot.spectral import (
    LANCZOS_MIN_SAMPLES,
    SOLVERS,
    cluster_number_scores,
    estimate_n_clusters,
    estimates_from_scores,
    spectral_clustering,
    spectral_clusterings,
)

__all__ = [
    "LANCZOS_MIN_SAMPLES",
    "SOLVERS",
    "VARIANTS",
    "affinity_matrix",
    "cluster_number_scores",
    "concordance_network_nmi",
    "dist2",
    "distance",
    "estimate_n_clusters",
    "estimates_from_scores",
    "fuse",
    "group_predict",
    "nmi",
    "rank_features_by_nmi",
    "snf_pipeline",
    "spectral_clustering",
    "spectral_clusterings",
    "standard_normalization",
]

_CDIST_METRICS = (
    "braycurtis",
    "canberra",
    "chebyshev",
    "cityblock",
    "correlation",
    "cosine",
    "jensenshannon",
    "minkowski",
    "seuclidean",
)

# private names of metpot.spectral and metpot._snf_inputs that tests and benchmarks reach
# through this module
_EPS = _spectral._EPS
_discretisation = _spectral._discretisation
_estimate_eigenvalues = _spectral._estimate_eigenvalues
_lanczos = _spectral._lanczos
_laplacian_eigenpairs = _spectral._laplacian_eigenpairs
_laplacian_sym = _spectral._laplacian_sym
_use_lanczos = _spectral._use_lanczos


# ------------------------------------------------------------------ preprocessing


def standard_normalization(X, *, ignore_nan: bool = False) -> np.ndarray:
    """Z-score every column (SNFtool ``standardNormalization``).

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Data, samples in rows.
    ignore_nan : bool
        Accept missing values (NaN): each column's mean and sd are taken over its present
        values, and missing values stay missing (a column with fewer than two present values
        becomes all NaN). Infinite values are refused either way. Without missing values the
        result is the same as with ``ignore_nan=False``.

    Returns
    -------
    numpy.ndarray
        ``(X - mean) / sd`` per column, ``sd`` with ``n - 1`` degrees of freedom; a
        column with ``sd == 0`` is divided by 1 (it becomes 0).
    """
    A = _as_matrix(X, "X", allow_nan=ignore_nan)
    if A.shape[0] < 2:
        raise MetpotError(f"standard_normalization needs at least 2 samples, got {A.shape[0]}")
    missing = np.isnan(A)
    if ignore_nan and missing.any():
        present = (~missing).sum(axis=0)
        filled = np.where(missing, 0.0, A)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = filled.sum(axis=0) / present
            dev = np.where(missing, 0.0, A - mean)
            sd = np.sqrt((dev**2).sum(axis=0) / (present - 1))
        sd[present < 2] = np.nan
    else:
        mean = A.mean(axis=0)
        sd = A.std(axis=0, ddof=1)
    sd[sd == 0] = 1.0
    return (A - mean) / sd


def dist2(X, Y=None) -> np.ndarray:
    """Squared Euclidean distances between rows (SNFtool ``dist2``).

    Uses the same Gram formula as R, ``(rowSums(X^2) + rowSums(Y^2)) - 2 X Y^T`` with
    BLAS, and sets negative values (rounding) to 0.

    Parameters
    ----------
    X : array_like, shape (n, p)
    Y : array_like, shape (m, p), optional
        Defaults to ``X``.

    Returns
    -------
    numpy.ndarray, shape (n, m)
    """
    A = _as_matrix(X, "X")
    if Y is None:
        G = A @ A.T  # symmetric rank-k update: exactly symmetric
        sx = np.einsum("ij,ij->i", A, A)
        sy = sx
    else:
        B = _as_matrix(Y, "Y")
        if B.shape[1] != A.shape[1]:
            raise MetpotError(
                f"Y has {B.shape[1]} features but X has {A.shape[1]}: cannot compute distances"
            )
        G = A @ B.T
        sx = np.einsum("ij,ij->i", A, A)
        sy = np.einsum("ij,ij->i", B, B)
    G = np.ascontiguousarray(G)
    _k.dist2_finish(G, sx, sy)
    return G


def distance(X, metric: str = "sqeuclidean", Y=None) -> np.ndarray:
    """Pairwise distances between rows with a choice of metric.

    Parameters
    ----------
    X : array_like, shape (n, p)
    metric : str
        ``"sqeuclidean"`` (SNFtool's ``dist2``, exact), ``"euclidean"`` (its square
        root), ``"chisquared"`` (SNFtool ``chiDist2``) or a SciPy ``cdist`` metric:
        ``"correlation"``, ``"cosine"``, ``"cityblock"``, ``"chebyshev"``,
        ``"braycurtis"``, ``"canberra"``, ``"jensenshannon"``, ``"minkowski"``,
        ``"seuclidean"``.
    Y : array_like, shape (m, p), optional
        Defaults to ``X``.

    Returns
    -------
    numpy.ndarray, shape (n, m)
    """
    if metric == "sqeuclidean":
        return dist2(X, Y)
    if metric == "euclidean":
        D = dist2(X, Y)
        np.sqrt(D, out=D)
        return D
    A = _as_matrix(X, "X")
    B = A if Y is None else _as_matrix(Y, "Y")
    if B.shape[1] != A.shape[1]:
        raise MetpotError(f"Y has {B.shape[1]} features but X has {A.shape[1]}")
    if metric == "chisquared":
        # SNFtool chiDist2: 0.5 * sum((x - y)^2 / (x + y)), terms with x + y == 0 dropped
        D = np.empty((A.shape[0], B.shape[0]))
        for i in range(A.shape[0]):
            num = (A[i] - B) ** 2
            den = A[i] + B
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.where(den != 0, num / den, 0.0)
            D[i] = 0.5 * q.sum(axis=1)
        return D
    if metric not in _CDIST_METRICS:
        known = ", ".join(("sqeuclidean", "euclidean", "chisquared") + _CDIST_METRICS)
        raise MetpotError(f"unknown distance metric {metric!r}; expected one of {known}")
    from scipy.spatial.distance import cdist  # imported here: a costly import, rarely used

    return np.ascontiguousarray(cdist(A, B, metric=metric))


# ------------------------------------------------------------------------ affinity


def affinity_matrix(D, K: int = 20, mu: float = 0.5, *, copy: bool = True) -> np.ndarray:
    """Scaled exponential similarity kernel (SNFtool ``affinityMatrix``).

    ``D`` is symmetrised and its diagonal set to 0; ``m_i`` is the mean of the K
    smallest off-diagonal distances of row i (sorted row positions 2..K+1) plus eps;
    ``sigma_ij = (m_i + m_j) / 3 + D_ij / 3 + eps`` (at least eps) and
    ``W_ij = dnorm(D_ij, 0, mu * sigma_ij)`` -- the distance itself, not its square
    root, goes into the normal density, as in SNFtool.

    Parameters
    ----------
    D : array_like, shape (n, n)
        Distance matrix, usually :func:`dist2` of standardised data.
    K : int
        Number of neighbours, ``1 <= K < n``.
    mu : float
        Kernel width (SNFtool's ``sigma``), > 0.
    copy : bool
        If False and ``D`` is already a float64 C-contiguous array, it is overwritten
        with the result (saves an N x N buffer).

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetric affinity matrix.
    """
    A = _as_square(D, "D", copy=copy)
    K = _check_K(K, A.shape[0])
    mu = _check_positive(mu, "mu")
    _k.symmetrize(A, 0.0)
    np.fill_diagonal(A, 0.0)
    means = _k.neighbour_means(A, K)
    _k.affinity_inplace(A, means, mu)
    return A


# -------------------------------------------------------------------------- fusion


def _spmm_width(n: int, itemsize: int = 8) -> int:
    """Column-tile width of :func:`metpot._snf_kernels.spmm_t`.

    128 or 64 entries per row (whole passes of the 4 x 8-wide vector loop), so that a
    packed n x width tile (at most 8 MB per thread) stays in the last-level cache.
    """
    return 128 if n * 128 * itemsize <= 8 << 20 else 64


_NO_DEN = np.empty(0)


def _diffuse(S, net, tmp, out, variant, width):
    """One SNF diffusion step: ``out <- S V S^T``, V the network held in ``net``.

    A network is held as ``(U, den, mode)``: the upper triangle of ``U`` with the
    variant's normalisation and symmetrisation applied on the fly when it is read
    (see :mod:`metpot._snf_kernels`), which saves two passes over N x N memory per
    step. Two sparse passes, O(n^2 K); the second computes the upper triangle only
    (``S V S^T`` is symmetric as V is) and, for ``snftool-2.3``, the row sums that the
    normalisation needs. Returns the representation of the result.
    """
    idx, val = S
    U, den, mode = net
    _k.spmm_t(idx, val, U, den, mode, tmp, width, False, False, numba.get_num_threads())
    half = variant == "snftool-2.3"
    sums = _k.spmm_t(
        idx, val, tmp, _NO_DEN, _k.PLAIN, out, width, True, half, numba.get_num_threads()
    )
    if half:
        return out, _k.half_denominators(out, sums), _k.HALF
    return out, _NO_DEN, _k.PLUS_I


def fuse(
    affinities, K: int = 20, t: int = 20, variant: str = "snftool-2.3", dtype=np.float64
) -> np.ndarray:
    """Fuse similarity networks (SNFtool ``SNF``).

    Parameters
    ----------
    affinities : sequence of array_like, each (n, n)
        Per-view affinity matrices (:func:`affinity_matrix`), at least two.
    K : int
        Neighbours of the local (dominant-set) kernel, ``1 <= K < n``.
    t : int
        Number of diffusion iterations.
    variant : {"snftool-2.3", "snftool-2.2"}
        SNFtool generation; see the module docstring.
    dtype : {numpy.float64, numpy.float32}
        Precision of the diffusion. float64 (the default) reproduces SNFtool to rounding;
        float32 halves the memory traffic of the fusion (about 1.5x faster, half the
        memory) at a relative error of about 1e-6, which the consensus resamples use (see
        :func:`metpot.consensus.cluster_resample`).

    Returns
    -------
    numpy.ndarray, shape (n, n)
        The fused, symmetric network, of ``dtype``.

    Notes
    -----
    The local kernel keeps the K largest entries of each row; ties at the K-th value
    keep the highest column indices, as R's stable ``sort`` in ``.dominateset`` does.
    ``S W S^T`` is computed as two sparse passes, O(n^2 K), so the cost grows with
    the square of the number of samples.
    """
    variant = _check_variant(variant)
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise MetpotError(f"fuse: dtype must be float64 or float32, got {dtype}")
    if isinstance(affinities, np.ndarray) and affinities.ndim == 2:
        affinities = [affinities]
    affinities = list(affinities)
    if len(affinities) < 2:
        raise MetpotError(f"fuse needs at least 2 affinity matrices, got {len(affinities)}")
    t = _check_t(t)
    LW = len(affinities)
    walls = []
    n = None
    for i, W in enumerate(affinities):
        A = _as_square(W, f"affinities[{i}]")
        if n is None:
            n = A.shape[0]
            K = _check_K(K, n)
        elif A.shape[0] != n:
            raise MetpotError(
                f"affinities[{i}] is {A.shape[0]} x {A.shape[0]} but affinities[0] is {n} x {n}"
            )
        out = np.empty(A.shape, dtype)
        if variant == "snftool-2.3":
            _k.normalize_half(A, out)
        else:
            _k.normalize_rows(A, out)
        del A
        _k.symmetrize(out, 0.0)
        walls.append(out)
    local = [_k.dominate_set(W, K) for W in walls]
    width = _spmm_width(n, dtype.itemsize)
    nets = [(W, _NO_DEN, _k.SYM) for W in walls]
    del walls
    tmp = np.empty((n, n), dtype)
    spare = np.empty((n, n), dtype) if LW > 2 else None
    M = np.empty((n, n), dtype) if LW > 2 else None

    for _ in range(t):
        if LW == 2:
            # Jacobi update with three N x N buffers: the first sparse pass of a step
            # consumes the other network completely, so the step's result can overwrite
            # it: next0 = S0 V1 S0^T replaces V1, then next1 = S1 V0 S1^T replaces V0.
            new0 = _diffuse(local[0], nets[1], tmp, nets[1][0], variant, width)
            new1 = _diffuse(local[1], nets[0], tmp, nets[0][0], variant, width)
            nets = [new0, new1]
        else:
            np.copyto(spare, nets[0][0])
            for U, _, _ in nets[1:]:
                spare += U
            for j in range(LW):
                # (sum of the other networks) / (LW - 1); network j is consumed here
                U = nets[j][0]
                np.subtract(spare, U, out=M)
                M /= LW - 1
                idx, val = local[j]
                nth = numba.get_num_threads()
                _k.spmm_t(idx, val, M, _NO_DEN, _k.PLAIN, tmp, width, False, False, nth)
                half = variant == "snftool-2.3"
                sums = _k.spmm_t(idx, val, tmp, _NO_DEN, _k.PLAIN, U, width, True, half, nth)
                if half:
                    _k.upper_normalize_half_sym(U, sums)
                else:
                    _k.upper_mirror(U, 1.0)
    del M

    if LW == 2:
        fused = tmp
        (U0, d0, m0), (U1, d1, m1) = nets
        _k.materialize_mean2(U0, d0, m0, U1, d1, m1, fused)
    else:
        del tmp
        fused = spare
        np.copyto(fused, nets[0][0])
        for U, _, _ in nets[1:]:
            fused += U
        fused /= LW
    del nets
    if variant == "snftool-2.3":
        _k.normalize_half(fused, fused)
        _k.symmetrize(fused, 0.0)
    else:
        _k.normalize_rows(fused, fused)
        _k.symmetrize(fused, 1.0)
    return fused


# --------------------------------------------------------------- high-level paths


def snf_pipeline(
    views,
    K: int = 20,
    mu: float = 0.5,
    t: int = 20,
    variant: str = "snftool-2.3",
    metric: str | Sequence[str] = "sqeuclidean",
    normalize: bool = True,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Affinity networks and their fusion, as in the SNFtool examples.

    Per view: :func:`standard_normalization` (if ``normalize``), :func:`distance`
    (``dist2`` by default), :func:`affinity_matrix`; then :func:`fuse`.

    Parameters
    ----------
    views : sequence of array_like, each (n_samples, n_features_v)
        The data views, samples in rows, the same samples in the same order.
    K, mu, t, variant, normalize
        As :class:`metpot.snf_estimator.SNF` (the estimator: this function, then clustering).
    metric : str or sequence of str
        Distance, see :func:`distance`; one per view if a sequence.

    Returns
    -------
    affinities : list of numpy.ndarray
        One (n, n) affinity matrix per view.
    fused : numpy.ndarray
        The fused (n, n) network.
    """
    _check_variant(variant)
    Xs = _as_views(views)
    if len(Xs) < 2:
        raise MetpotError(f"SNF needs at least 2 views, got {len(Xs)}")
    n = Xs[0].shape[0]
    K = _check_K(K, n)
    metrics = [metric] * len(Xs) if isinstance(metric, str) else list(metric)
    if len(metrics) != len(Xs):
        raise MetpotError(f"{len(metrics)} metrics given for {len(Xs)} views")
    affinities = []
    for X, met in zip(Xs, metrics, strict=True):
        Z = standard_normalization(X) if normalize else X
        D = distance(Z, met)
        del Z
        affinities.append(affinity_matrix(D, K, mu, copy=False))
        del D
    return affinities, fuse(affinities, K=K, t=t, variant=variant)


def group_predict(
    train_views,
    test_views,
    train_labels,
    K: int = 20,
    mu: float = 0.5,
    t: int = 20,
    variant: str = "snftool-2.3",
    *,
    method: int = 1,
    return_all: bool = False,
) -> np.ndarray:
    """Predict the groups of new samples by label propagation (SNFtool ``groupPredict``).

    Train and test samples are stacked (train first) per view, standardised together,
    turned into affinity networks (:func:`dist2`, :func:`affinity_matrix`) and fused;
    the train labels are then propagated over ``P = W / rowSums(W)``.

    Parameters
    ----------
    train_views, test_views : sequence of array_like
        The same views, in the same order, for the labelled and the new samples.
    train_labels : array_like, shape (n_train,)
        Groups of the train samples (any hashable labels, usually 1..G).
    K, mu, t : int, float, int
        SNF parameters (``mu`` is SNFtool's ``alpha``).
    variant : {"snftool-2.3", "snftool-2.2"}
    method : {1, 0}
        1: label propagation (1000 steps of ``Y <- P Y`` with the train rows reset);
        0: local and global consistency, ``(1 - 0.9) (I - 0.9 P)^-1 Y0``.
    return_all : bool
        Return the labels of all stacked samples (train first), like SNFtool.

    Returns
    -------
    numpy.ndarray
        Predicted labels of the test samples (or of all samples).
    """
    _check_variant(variant)
    if method not in (0, 1):
        raise MetpotError(f"method must be 1 (label propagation) or 0, got {method!r}")
    train = _as_views(train_views, "train_views")
    test = _as_views(test_views, "test_views")
    if len(train) != len(test):
        raise MetpotError(f"{len(train)} train views but {len(test)} test views")
    labels = np.asarray(train_labels).ravel()
    ntr = train[0].shape[0]
    if labels.shape[0] != ntr:
        raise MetpotError(f"{labels.shape[0]} train labels for {ntr} train samples")
    for i, (a, b) in enumerate(zip(train, test, strict=True)):
        if a.shape[1] != b.shape[1]:
            raise MetpotError(
                f"view {i}: train has {a.shape[1]} features but test has {b.shape[1]}"
            )
    stacked = [np.vstack([a, b]) for a, b in zip(train, test, strict=True)]
    affinities, W = snf_pipeline(stacked, K=K, mu=mu, t=t, variant=variant)
    del affinities
    groups, codes = np.unique(labels, return_inverse=True)
    n = W.shape[0]
    Y0 = np.zeros((n, groups.size))
    Y0[np.arange(ntr), codes] = 1.0
    P = W / W.sum(axis=1)[:, None]
    if method == 1:
        Y = Y0.copy()
        for _ in range(1000):
            Y = P @ Y
            Y[:ntr] = Y0[:ntr]
    else:
        alpha = 0.9
        Y = (1 - alpha) * np.linalg.solve(np.eye(n) - alpha * P, Y0)
    pred = groups[np.argmax(Y, axis=1)]
    return pred if return_all else pred[ntr:]


# ---------------------------------------------------------------------------- NMI


def nmi(labels_a, labels_b) -> float:
    """Normalised mutual information of two labelings (SNFtool ``calNMI``).

    ``MI(a, b) / sqrt(H(a) H(b))``: scikit-learn's ``normalized_mutual_info_score`` with
    ``average_method="geometric"``, except that it is 0 when undefined (a labeling with a
    single class), where calNMI's ``max(0, NaN, na.rm = TRUE)`` gives 0 and scikit-learn 1
    if both labelings have a single class.

    Parameters
    ----------
    labels_a, labels_b : array_like, shape (n,)

    Returns
    -------
    float
    """
    a = np.asarray(labels_a).ravel()
    b = np.asarray(labels_b).ravel()
    if a.shape != b.shape:
        raise MetpotError(f"label vectors differ in length: {a.size} and {b.size}")
    if a.size == 0:
        raise MetpotError("label vectors are empty")
    if np.unique(a).size < 2 or np.unique(b).size < 2:
        return 0.0
    from sklearn.metrics import normalized_mutual_info_score

    return max(0.0, float(normalized_mutual_info_score(a, b, average_method="geometric")))


def concordance_network_nmi(Ws: Sequence, n_clusters: int) -> np.ndarray:
    """Pairwise NMI of the spectral clusterings of several networks (SNFtool).

    Parameters
    ----------
    Ws : sequence of array_like, each (n, n)
        Networks, e.g. the per-view affinities and the fused network.
    n_clusters : int
        Number of clusters for :func:`spectral_clustering`.

    Returns
    -------
    numpy.ndarray, shape (len(Ws), len(Ws))
        ``NMI[i, j]`` between the clusterings of ``Ws[i]`` and ``Ws[j]``.
    """
    labels = [spectral_clustering(W, n_clusters) for W in Ws]
    m = len(labels)
    out = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            out[i, j] = nmi(labels[i], labels[j])
    return out


def rank_features_by_nmi(
    views, W, K: int = 20, mu: float = 0.5, variant: str = "snftool-2.3"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Score every feature by the NMI of its own clustering with that of ``W`` (SNFtool).

    ``W`` is clustered with :func:`spectral_clustering` into the eigen-gap best number
    of clusters (candidates 2..5); each feature alone gives an affinity network
    (``affinity_matrix(dist2(x, x), K, mu)``, unscaled values) that is clustered into
    the same number of clusters and compared with :func:`nmi`.

    Parameters
    ----------
    views : sequence of array_like, each (n_samples, n_features_v)
    W : array_like, shape (n, n)
        Fused network of the views.
    K, mu : int, float
        Affinity parameters (SNFtool uses the defaults 20 and 0.5).
    variant : {"snftool-2.3", "snftool-2.2"}
        For the eigen-gap estimate of the number of clusters.

    Returns
    -------
    scores : list of numpy.ndarray
        NMI of every feature, one array per view.
    ranks : list of numpy.ndarray of int
        Rank of every feature within its view (1 = highest NMI; ties by position).
    """
    Xs = _as_views(views)
    Wm = _as_square(W, "W")
    if Wm.shape[0] != Xs[0].shape[0]:
        raise MetpotError(
            f"W is {Wm.shape[0]} x {Wm.shape[0]} but the views have {Xs[0].shape[0]} samples"
        )
    k = estimate_n_clusters(Wm, range(2, 6), variant)[0]
    fused_labels = spectral_clustering(Wm, k)
    scores, ranks = [], []
    for X in Xs:
        s = np.empty(X.shape[1])
        for f in range(X.shape[1]):
            aff = affinity_matrix(dist2(X[:, [f]]), K, mu, copy=False)
            s[f] = nmi(fused_labels, spectral_clustering(aff, k))
        r = np.empty(s.size, np.int64)
        r[np.argsort(-s, kind="stable")] = np.arange(1, s.size + 1)
        scores.append(s)
        ranks.append(r)
    return scores, ranks


def __getattr__(name: str):
    # the estimator lives in its own module so that the workflow's SNF and consensus jobs do
    # not pay for importing scikit-learn (~0.6 s per process)
    if name == "SNF":
        from metpot.snf_estimator import SNF

        return SNF
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
