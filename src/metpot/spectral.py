"""Spectral clustering of a similarity network and the choice of the number of clusters.

Exact to SNFtool, for the networks :mod:`metpot.snf` builds (the functions are also
importable from there):

* :func:`spectral_clustering` / :func:`spectral_clusterings`: SNFtool ``spectralClustering``
  (type 3): the normalised Laplacian ``D^-1/2 (D - W) D^-1/2``, its eigenvectors with the
  smallest ``|eigenvalue|`` (dense LAPACK or Lanczos, :data:`SOLVERS`), then the Yu-Shi
  discretisation. The rotation is seeded with row ``round(n / 2)`` (R rounds half to even,
  like Python) and takes the first index on ties (``which.min``, ``which.max``).
* :func:`cluster_number_scores`, :func:`estimates_from_scores`, :func:`estimate_n_clusters`:
  SNFtool ``estimateNumberOfClustersGivenGraph``, the eigen-gap and the rotation cost of
  each candidate number of clusters (rankings keep the candidate order on ties).
* :func:`choose_n_clusters`: the workflow's choice between those two estimates, with the
  consensus PAC as arbiter (also importable from :mod:`metpot.clusters`).

Cluster labels are 1-based, like SNFtool's. SciPy's eigen solvers and the numba kernels are
imported when first needed, so that importing this module (and :mod:`metpot.clusters`) stays
cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from metpot._snf_inputs import _EPS, _as_square, _check_K, _check_variant
from metpot.errors import MetpotError

__all__ = [
    "LANCZOS_MIN_SAMPLES",
    "SOLVERS",
    "choose_n_clusters",
    "cluster_number_scores",
    "estimate_n_clusters",
    "estimates_from_scores",
    "spectral_clustering",
    "spectral_clusterings",
]

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

    from metpot import _snf_kernels as _k

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
    import scipy.linalg

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
        Similarity network, e.g. :func:`metpot.snf.fuse` output.
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
        Similarity network, e.g. :func:`metpot.snf.fuse` output.
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
    import scipy.linalg

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


# -------------------------------------------------- choosing the number of clusters


def choose_n_clusters(
    estimates: Mapping[str, int], pac: Mapping[int, float] | None = None, n: int | str = "auto"
) -> tuple[int, str]:
    """Choose the number of clusters from SNF's estimates and consensus stability.

    Parameters
    ----------
    estimates : mapping
        ``eigengap_best``, ``eigengap_second``, ``rotation_cost_best``,
        ``rotation_cost_second`` (SNFtool ``estimateNumberOfClustersGivenGraph``).
    pac : mapping of int to float, optional
        Proportion of ambiguous clustering per k (lower is more stable).
    n : int or "auto"
        A fixed number is returned as is.

    Returns
    -------
    k : int
    why : str
        One sentence saying how ``k`` was chosen.

    Notes
    -----
    With ``n="auto"``: when SNF's two estimates (eigen-gap best and rotation-cost best) agree,
    that k is chosen. When they disagree, the one with the lower consensus PAC wins (ties and
    no consensus: the rotation-cost best, which SNF's authors recommend). PAC is not used to
    pick among all k on its own: it favours coarse partitions (merging two partly overlapping
    subtypes gives a stable, low-PAC split), which is why it arbitrates between SNF's
    estimates instead.
    """
    if n != "auto":
        return int(n), f"fixed by configuration (clusters.n = {n})"
    eg, rc = int(estimates["eigengap_best"]), int(estimates["rotation_cost_best"])
    if eg == rc:
        why = f"the eigen-gap and rotation-cost estimates agree on k = {eg}"
        if pac and eg in pac:
            why += f" (consensus PAC {pac[eg]:.3f})"
        return eg, why
    if pac and eg in pac and rc in pac and np.isfinite(pac[eg]) and np.isfinite(pac[rc]):
        k = eg if pac[eg] < pac[rc] else rc
        return k, (
            f"the eigen-gap (k = {eg}) and rotation-cost (k = {rc}) estimates disagree; "
            f"k = {k} has the lower consensus PAC ({pac[eg]:.3f} vs {pac[rc]:.3f})"
            if k == eg
            else f"the eigen-gap (k = {eg}) and rotation-cost (k = {rc}) estimates disagree; "
            f"k = {k} has the lower or equal consensus PAC ({pac[rc]:.3f} vs {pac[eg]:.3f})"
        )
    return rc, (
        f"the eigen-gap (k = {eg}) and rotation-cost (k = {rc}) estimates disagree and no "
        "consensus PAC is available: the rotation-cost estimate is used"
    )
