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
- ``spectralClustering`` seeds the Yu-Shi rotation with row ``round(n / 2)`` (R rounds
  half to even, like Python) and takes the first index on ties (``which.min``,
  ``which.max``); cluster-number rankings keep the candidate order on ties.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numba
import numpy as np
import pandas as pd
import scipy.linalg
from scipy.spatial.distance import cdist

from metpot import _snf_kernels as _k
from metpot.errors import MetpotError

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

VARIANTS = ("snftool-2.3", "snftool-2.2")
_EPS = float(np.finfo(np.float64).eps)
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


# --------------------------------------------------------------------------- checks


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise MetpotError(f"unknown SNF variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return variant


def _as_matrix(
    X, name: str, *, copy: bool = False, allow_nan: bool = False, float32: bool = False
) -> np.ndarray:
    """Float64, C-contiguous, 2-D, finite (or NaN, with ``allow_nan``) copy/view of ``X``
    (float32 kept as it is with ``float32``)."""
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    keep = float32 and isinstance(X, np.ndarray) and X.dtype == np.float32
    try:
        A = np.array(X, dtype=X.dtype if keep else np.float64, order="C",
                     copy=True if copy else None)  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise MetpotError(f"{name} is not numeric: {exc}") from None
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.ndim != 2:
        raise MetpotError(f"{name} must be a 2-D matrix, got {A.ndim} dimensions")
    if A.size == 0:
        raise MetpotError(f"{name} is empty (shape {A.shape})")
    if not np.isfinite(A).all() and not (allow_nan and (np.isfinite(A) | np.isnan(A)).all()):
        bad = np.argwhere(~(np.isfinite(A) | (allow_nan & np.isnan(A))))[0]
        raise MetpotError(
            f"{name} has a non-finite value {A[tuple(bad)]} at row {bad[0]}, column {bad[1]}"
        )
    return A


def _as_square(W, name: str, *, copy: bool = False, float32: bool = False) -> np.ndarray:
    A = _as_matrix(W, name, copy=copy, float32=float32)
    if A.shape[0] != A.shape[1]:
        raise MetpotError(f"{name} must be square, got shape {A.shape}")
    return A


def _check_K(K, n: int, name: str = "K") -> int:
    if isinstance(K, bool) or not float(K).is_integer():
        raise MetpotError(f"{name} must be an integer, got {K!r}")
    K = int(K)
    if K < 1:
        raise MetpotError(f"{name} must be >= 1, got {K}")
    if K >= n:
        raise MetpotError(f"{name}={K} must be smaller than the number of samples ({n})")
    return K


def _check_positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise MetpotError(f"{name} must be a positive number, got {value!r}")
    return value


def _check_t(t) -> int:
    if isinstance(t, bool) or not float(t).is_integer() or int(t) < 0:
        raise MetpotError(f"t (number of fusion iterations) must be an integer >= 0, got {t!r}")
    return int(t)


def _as_views(views, name: str = "views") -> list[np.ndarray]:
    if isinstance(views, np.ndarray | pd.DataFrame):
        views = [views]
    views = list(views)
    if not views:
        raise MetpotError(f"{name} is empty: give at least one data matrix")
    out = [_as_matrix(v, f"{name}[{i}]") for i, v in enumerate(views)]
    n = out[0].shape[0]
    for i, v in enumerate(out[1:], start=1):
        if v.shape[0] != n:
            raise MetpotError(
                f"{name}[{i}] has {v.shape[0]} samples but {name}[0] has {n}: "
                "all views must hold the same samples (rows)"
            )
    return out


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


# ------------------------------------------------------------------ spectral tools

SOLVERS = ("auto", "dense", "lanczos")
LANCZOS_MIN_SAMPLES = 500
"""From this many samples on, ``solver="auto"`` uses Lanczos instead of the dense solver.

Measured with ``bench/bench_clusters.py``: below a few hundred samples LAPACK's dense
tridiagonal reduction is as fast and reproduces SNFtool's eigenvectors bit for bit more
often; above, Lanczos wins by a factor that grows with n (its cost is O(n^2) per iteration
and it needs only the few eigenpairs the clustering uses).
"""


def _check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise MetpotError(f"unknown eigen solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    return solver


def _laplacian_sym(W: np.ndarray) -> np.ndarray:
    """``D^-1/2 (D - W) D^-1/2`` with zero degrees set to eps, as SNFtool builds it."""
    d = W.sum(axis=1)
    d[d == 0] = _EPS
    L = -W
    L[np.diag_indices_from(L)] += d
    dis = 1.0 / np.sqrt(d)
    L *= dis[:, None]
    L *= dis[None, :]
    return L


def _laplacian_inplace(A: np.ndarray) -> np.ndarray:
    """:func:`_laplacian_sym` overwriting ``A`` (the same operations, the same bits)."""
    d = A.sum(axis=1)
    d[d == 0] = _EPS
    np.negative(A, out=A)
    A[np.diag_indices_from(A)] += d
    dis = 1.0 / np.sqrt(d)
    A *= dis[:, None]
    A *= dis[None, :]
    return A


def _use_lanczos(solver: str, n: int, n_pairs: int) -> bool:
    if solver == "dense" or n_pairs >= n - 1:  # ARPACK needs fewer pairs than n
        return False
    return solver == "lanczos" or n >= LANCZOS_MIN_SAMPLES


def _lanczos(A: np.ndarray, n_pairs: int, vectors: bool):
    """The ``n_pairs`` smallest eigenpairs of the normalised Laplacian of ``A`` by Lanczos.

    ``L = I - D^-1/2 A D^-1/2`` (degrees as :func:`_laplacian_sym`, zero degrees set to
    eps): its smallest eigenvalues are ``1 - m`` for the largest ``m`` of
    ``D^-1/2 A D^-1/2``, which ARPACK finds from products with ``A`` alone (no N x N
    Laplacian is formed). Fixed start vector and ``tol=0`` (machine precision): the
    result is deterministic and agrees with the dense solver to rounding. A float32 ``A``
    (a consensus resample's fusion) is read as it is, its products accumulated in float64:
    the same numbers as its float64 copy, at half the memory traffic.
    Returns ascending eigenvalues (and the matching eigenvectors as columns).
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = A.shape[0]
    d = A.sum(axis=1, dtype=np.float64)
    d[d == 0] = _EPS
    dis = 1.0 / np.sqrt(d)
    if A.dtype == np.float32:
        buf = np.empty(n)

        def product(y):
            _k.matvec_f32(A, y, buf)
            return buf.copy()
    else:

        def product(y):
            return A @ y

    def matvec(x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return dis * product(dis * x)

    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(20260101).standard_normal(n)
    out = eigsh(
        op, k=n_pairs, which="LA", v0=v0, tol=0, maxiter=max(1000, 20 * n),
        return_eigenvectors=vectors,
    )  # fmt: skip
    mu, vec = out if vectors else (out, None)
    order = np.argsort(-mu, kind="stable")  # descending m = ascending 1 - m
    lam = 1.0 - mu[order]
    return (lam, vec[:, order]) if vectors else lam


def _laplacian_eigenpairs(W, n_pairs: int, solver: str):
    """Ascending eigenvalues and eigenvectors ``0 .. n_pairs - 1`` of SNFtool's Laplacian."""
    A = _as_square(W, "W", float32=True)
    if _use_lanczos(solver, A.shape[0], n_pairs):
        return _lanczos(A, n_pairs, True)
    L = _laplacian_sym(A.astype(np.float64, copy=False))
    return scipy.linalg.eigh(L, subset_by_index=[0, n_pairs - 1], driver="evr", overwrite_a=True)


def _discretisation(U: np.ndarray) -> np.ndarray:
    """Yu-Shi discretisation of SNFtool; returns the 0-based argmax column of each row."""
    U = U / np.sqrt((U**2).sum(axis=1))[:, None]
    n, k = U.shape
    R = np.zeros((k, k))
    R[:, 0] = U[round(n / 2) - 1]  # R's round(): half to even, like Python's
    c = np.zeros(n)
    for j in range(1, k):
        c += np.abs(U @ R[:, j - 1])
        R[:, j] = U[int(np.argmin(c))]
    last = 0.0
    for _ in range(20):
        labels = np.argmax(U @ R, axis=1)
        Y = np.zeros((n, k))
        Y[np.arange(n), labels] = 1.0
        u, s, vt = np.linalg.svd(Y.T @ U)
        ncut = 2.0 * (n - s.sum())
        if abs(ncut - last) < _EPS:
            break
        last = ncut
        R = vt.T @ u.T
    return labels


def _labels_from_eigenpairs(lam: np.ndarray, vec: np.ndarray, k: int) -> np.ndarray:
    """SNFtool type-3 labels for ``k`` clusters from the ascending eigenpairs 0..k+1."""
    n = vec.shape[0]
    hi = min(n - 1, k + 1)
    lam, vec = lam[: hi + 1], vec[:, : hi + 1]
    # R: eigen() returns decreasing eigenvalues, then a stable sort by |value|
    lam, vec = lam[::-1], vec[:, ::-1]
    order = np.argsort(np.abs(lam), kind="stable")[:k]
    U = vec[:, order]
    U = U / np.sqrt((U**2).sum(axis=1))[:, None]
    return (_discretisation(U) + 1).astype(np.int64)


def spectral_clusterings(W, ks: Iterable[int], solver: str = "auto") -> dict[int, np.ndarray]:
    """:func:`spectral_clustering` for several numbers of clusters, one eigen-decomposition.

    The eigenpairs ``0 .. max(ks) + 1`` of the Laplacian are computed once and every k
    takes the ones SNFtool would (its k eigenvectors with the smallest ``|eigenvalue|``
    among the first k + 2).

    Parameters
    ----------
    W : array_like, shape (n, n)
        Similarity network, e.g. :func:`fuse` output.
    ks : iterable of int
        Numbers of clusters, each ``1 <= k < n``.
    solver : {"auto", "dense", "lanczos"}
        ``"dense"``: LAPACK ``dsyevr`` on the Laplacian for the eigenpairs needed only;
        ``"lanczos"``: ARPACK on products with ``W`` (no N x N Laplacian, O(n^2) per
        iteration); ``"auto"``: Lanczos from :data:`LANCZOS_MIN_SAMPLES` samples on. Both
        agree to rounding (last digits); the partitions are the same unless two
        eigenvalues tie to rounding.

    Returns
    -------
    dict
        k -> labels 1..k (numpy.ndarray of int, shape (n,)), in the order of ``ks``.
    """
    _check_solver(solver)
    A = _as_square(W, "W", float32=True)
    n = A.shape[0]
    try:
        k_list = [int(k) for k in ks]
    except (TypeError, ValueError):
        raise MetpotError(f"numbers of clusters must be integers, got {ks!r}") from None
    if not k_list:
        raise MetpotError("spectral_clusterings needs at least one number of clusters")
    k_list = [_check_K(k, n, "n_clusters") for k in k_list]
    n_pairs = min(n, max(k_list) + 2)
    lam, vec = _laplacian_eigenpairs(A, n_pairs, solver)
    return {k: _labels_from_eigenpairs(lam, vec, k) for k in k_list}


def spectral_clustering(W, n_clusters: int, solver: str = "auto") -> np.ndarray:
    """Spectral clustering of a similarity network (SNFtool ``spectralClustering``, type 3).

    Normalised Laplacian ``D^-1/2 (D - W) D^-1/2``, the ``n_clusters`` eigenvectors with
    the smallest absolute eigenvalues, rows normalised to unit length, then Yu-Shi
    discretisation (deterministic; eigenvector signs do not matter).

    Parameters
    ----------
    W : array_like, shape (n, n)
        Similarity network, e.g. :func:`fuse` output.
    n_clusters : int
        Number of clusters, ``1 <= n_clusters < n``.
    solver : {"auto", "dense", "lanczos"}
        Eigen solver, see :func:`spectral_clusterings`.

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Labels 1..n_clusters.
    """
    return next(iter(spectral_clusterings(W, [n_clusters], solver).values()))


def _candidates(candidates) -> list[int]:
    try:
        cands = [int(c) for c in candidates]
    except (TypeError, ValueError):
        raise MetpotError(f"candidates must be integers, got {candidates!r}") from None
    if any(c < 1 for c in cands):
        raise MetpotError(f"candidate cluster numbers must be >= 1, got {cands}")
    cands = [c for c in cands if c > 1]  # SNFtool: "we always assume more than one cluster"
    if not cands:
        raise MetpotError(f"candidates {list(candidates)} hold no cluster number above 1")
    return cands


def _estimate_eigenvalues(W, n_values: int, solver: str) -> np.ndarray:
    """Ascending eigenvalues ``0 .. n_values - 1`` of the Laplacian of SNFtool's
    ``estimateNumberOfClustersGivenGraph``: ``(W + W^T) / 2`` with a zero diagonal."""
    W = _as_square(W, "W")
    n = W.shape[0]
    A = np.empty_like(W)
    for i0 in range(0, n, 256):  # (W + t(W)) / 2 as R computes it, in row blocks
        np.add(W[i0 : i0 + 256], W[:, i0 : i0 + 256].T, out=A[i0 : i0 + 256])
        A[i0 : i0 + 256] /= 2
    np.fill_diagonal(A, 0.0)
    if _use_lanczos(solver, A.shape[0], n_values):
        return _lanczos(A, n_values, False)
    L = _laplacian_inplace(A)
    lam = scipy.linalg.eigh(
        L, eigvals_only=True, subset_by_index=[0, n_values - 1], driver="evr", overwrite_a=True
    )
    return np.sort(lam)


def cluster_number_scores(
    W, candidates: Iterable[int] = range(2, 6), variant: str = "snftool-2.3", solver: str = "auto"
) -> pd.DataFrame:
    """Eigen-gap and rotation cost of every candidate number of clusters.

    The two heuristics of SNFtool ``estimateNumberOfClustersGivenGraph``: on the
    normalised Laplacian of ``W`` (symmetrised, diagonal zeroed) with ascending
    eigenvalues ``l_1 <= l_2 <= ...``, the eigen-gap of k is ``|l_{k+1} - l_k|``
    (``snftool-2.2`` multiplies it by ``(1 - l_k) / (1 - l_{k+1})``; highest best) and
    the rotation cost ``(1 - l_{k+1}) / (1 - l_k) * n / (1 + eps)`` (lowest best; the
    discretised eigenvectors are 0/1, so the cost does not depend on them). Only the
    eigenvalues ``l_1 .. l_{max(candidates) + 1}`` are computed.

    Parameters
    ----------
    W : array_like, shape (n, n)
        Similarity network.
    candidates : iterable of int
        Numbers of clusters to score (1 is dropped, as in SNFtool).
    variant : {"snftool-2.3", "snftool-2.2"}
    solver : {"auto", "dense", "lanczos"}
        Eigen solver, see :func:`spectral_clusterings`.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, in the given order: ``n_clusters``, ``eigengap``,
        ``rotation_cost``, ``eigengap_rank`` and ``rotation_cost_rank`` (1 = best; ties
        keep the candidate order).
    """
    variant = _check_variant(variant)
    _check_solver(solver)
    cands = _candidates(candidates)
    A = _as_square(W, "W")
    n = A.shape[0]
    if max(cands) >= n:
        raise MetpotError(f"candidate {max(cands)} clusters is not below the {n} samples")
    lam = _estimate_eigenvalues(A, max(cands) + 1, solver)
    ks = np.asarray(cands)
    gap = np.abs(lam[ks] - lam[ks - 1])
    if variant == "snftool-2.2":
        gap = gap * (1 - lam[ks - 1]) / (1 - lam[ks])
    total = n * (1.0 / (1.0 + _EPS))
    rot = (1 - lam[ks]) / (1 - lam[ks - 1]) * total
    gap_rank = np.empty(len(ks), np.int64)
    gap_rank[np.argsort(-gap, kind="stable")] = np.arange(1, len(ks) + 1)
    rot_rank = np.empty(len(ks), np.int64)
    rot_rank[np.argsort(rot, kind="stable")] = np.arange(1, len(ks) + 1)
    return pd.DataFrame(
        {
            "n_clusters": ks,
            "eigengap": gap,
            "rotation_cost": rot,
            "eigengap_rank": gap_rank,
            "rotation_cost_rank": rot_rank,
        }
    )


def estimates_from_scores(scores: pd.DataFrame) -> tuple[int, int | None, int, int | None]:
    """The four SNFtool estimates from a :func:`cluster_number_scores` table.

    Parameters
    ----------
    scores : pandas.DataFrame
        Output of :func:`cluster_number_scores`.

    Returns
    -------
    tuple of int
        ``(eigengap_best, eigengap_second, rotation_cost_best, rotation_cost_second)``;
        the second-best values are None when only one candidate was scored.
    """
    by_gap = scores.sort_values("eigengap_rank")["n_clusters"].tolist()
    by_rot = scores.sort_values("rotation_cost_rank")["n_clusters"].tolist()
    second = lambda xs: int(xs[1]) if len(xs) > 1 else None  # noqa: E731
    return int(by_gap[0]), second(by_gap), int(by_rot[0]), second(by_rot)


def estimate_n_clusters(
    W, candidates: Iterable[int] = range(2, 6), variant: str = "snftool-2.3", solver: str = "auto"
) -> tuple[int, int | None, int, int | None]:
    """Best numbers of clusters (SNFtool ``estimateNumberOfClustersGivenGraph``).

    Parameters
    ----------
    W : array_like, shape (n, n)
        Similarity network.
    candidates : iterable of int
        Numbers of clusters to consider.
    variant : {"snftool-2.3", "snftool-2.2"}
        ``snftool-2.2`` weights the eigen-gap (see :func:`cluster_number_scores`).
    solver : {"auto", "dense", "lanczos"}
        Eigen solver, see :func:`spectral_clusterings`.

    Returns
    -------
    tuple of int
        ``(eigengap_best, eigengap_second, rotation_cost_best, rotation_cost_second)``;
        the second-best values are None when only one candidate is given.
    """
    return estimates_from_scores(cluster_number_scores(W, candidates, variant, solver))


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
    K : int
        Neighbours for the affinity and the fusion.
    mu : float
        Kernel width of :func:`affinity_matrix`.
    t : int
        Fusion iterations.
    variant : {"snftool-2.3", "snftool-2.2"}
    metric : str or sequence of str
        Distance, see :func:`distance`; one per view if a sequence.
    normalize : bool
        Z-score the features first.

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
