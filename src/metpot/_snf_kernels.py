"""Numba kernels for :mod:`metpot.snf`.

All kernels work on C-contiguous arrays, in float64 (the fusion kernels also in float32
when :func:`metpot.snf.fuse` is asked for single precision: their buffers take the dtype of
their input), and most of them update their argument in place, so that the fusion of
N x N networks needs only a handful of N x N buffers. Their arithmetic follows the R code
of SNFtool operation by operation (e.g. ``(a + b) / 2`` for the symmetrisation, which is
exactly symmetric), so that the results agree with the reference to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

EPS = float(np.finfo(np.float64).eps)
_M_1_SQRT_2PI = 0.398942280401432677939946059934
_DNORM_HUGE = 2.0 * math.sqrt(np.finfo(np.float64).max)
# sqrt(-2 * log(2) * (DBL_MIN_EXP + 1 - DBL_MANT_DIG)), R's underflow boundary of dnorm
_DNORM_UNDERFLOW = math.sqrt(-2.0 * math.log(2.0) * (-1021 + 1 - 53))
_BLOCK = 64


@njit(cache=True, inline="always")
def _dnorm0(x, sigma):
    """R's ``dnorm(x, 0, sigma)`` (the accurate branch of R >= 3.1, ``dnorm4``)."""
    x = abs(x / sigma)
    if x >= _DNORM_HUGE:
        return 0.0
    if x < 5.0:
        return _M_1_SQRT_2PI * math.exp(-0.5 * x * x) / sigma
    if x > _DNORM_UNDERFLOW:
        return 0.0
    x1 = np.rint(x * 65536.0) / 65536.0
    x2 = x - x1
    return _M_1_SQRT_2PI / sigma * (math.exp(-0.5 * x1 * x1) * math.exp((-0.5 * x2 - x1) * x2))


@njit(parallel=True, cache=True)
def dist2_finish(G, sx, sy):
    """In place ``G[i, j] <- (sx[i] + sy[j]) - 2 * G[i, j]``, negatives set to 0 (R dist2)."""
    n, m = G.shape
    for i in prange(n):
        a = sx[i]
        for j in range(m):
            v = (a + sy[j]) - 2.0 * G[i, j]
            if v < 0.0:
                v = 0.0
            G[i, j] = v


@njit(cache=True)
def _tiles(n):
    """The tiles ``i0:i1 x j0:j1`` (``i0 <= j0``, blocks of ``_BLOCK``) covering the upper
    triangle of an n x n matrix, one row ``(i0, i1, j0, j1)`` each."""
    nb = (n + _BLOCK - 1) // _BLOCK
    out = np.empty((nb * (nb + 1) // 2, 4), np.int64)
    p = 0
    for i in range(nb):
        for j in range(i, nb):
            out[p, 0] = i * _BLOCK
            out[p, 1] = min((i + 1) * _BLOCK, n)
            out[p, 2] = j * _BLOCK
            out[p, 3] = min((j + 1) * _BLOCK, n)
            p += 1
    return out


@njit(parallel=True, cache=True)
def symmetrize(A, diag_add):
    """In place ``A <- (A + t(A) + diag_add * I) / 2`` (R's ``(X + t(X)) / 2``, exact)."""
    tiles = _tiles(A.shape[0])
    for p in prange(tiles.shape[0]):
        i0, i1, j0, j1 = tiles[p, 0], tiles[p, 1], tiles[p, 2], tiles[p, 3]
        if i0 == j0:
            for i in range(i0, i1):
                A[i, i] = (A[i, i] + A[i, i] + diag_add) / 2.0
                for j in range(i + 1, i1):
                    v = (A[i, j] + A[j, i]) / 2.0
                    A[i, j] = v
                    A[j, i] = v
        else:
            for i in range(i0, i1):
                for j in range(j0, j1):
                    v = (A[i, j] + A[j, i]) / 2.0
                    A[i, j] = v
                    A[j, i] = v


# Order statistics of a row without np.partition / np.sort: numba compiles those generic
# implementations for tens of seconds (most of a fresh install's first run); these few
# lines compile in well under a second and return the same values. NaN sorts last, as in
# NumPy.


@njit(cache=True, inline="always")
def _before(a, b, largest):
    """``a`` comes before ``b`` in NumPy's ascending order (NaN last), or in its reverse."""
    if largest:
        a, b = b, a
    return a < b or (b != b and a == a)


@njit(cache=True)
def _extremes_sorted(row, head, largest):
    """``head <- np.sort(row)[:len(head)]`` (the smallest values of ``row``, ascending) or,
    with ``largest``, ``np.sort(row)[::-1][:len(head)]`` (the largest, descending)."""
    k = head.shape[0]
    m = 0
    for j in range(row.shape[0]):
        v = row[j]
        if m < k:
            p = m
            m += 1
        elif _before(v, head[k - 1], largest):
            p = k - 1
        else:
            continue
        while p > 0 and _before(v, head[p - 1], largest):
            head[p] = head[p - 1]
            p -= 1
        head[p] = v


@njit(cache=True)
def _kth_largest(row, K):
    """``np.partition(row, len(row) - K)[len(row) - K]``: the K-th largest value of ``row``."""
    top = np.empty(K, row.dtype)
    _extremes_sorted(row, top, True)
    return top[K - 1]


@njit(parallel=True, cache=True)
def neighbour_means(D, K):
    """Mean of the sorted row positions 2..K+1 (1-based) of each row, plus eps."""
    n = D.shape[0]
    out = np.empty(n)
    for i in prange(n):
        head = np.empty(K + 1, D.dtype)
        _extremes_sorted(D[i], head, False)
        s = 0.0
        for k in range(1, K + 1):
            s += head[k]
        out[i] = s / K + EPS
    return out


@njit(parallel=True, cache=True)
def affinity_inplace(D, means, mu):
    """In place SNFtool ``affinityMatrix`` kernel on a symmetric, zero-diagonal ``D``.

    ``Sig = (m_i + m_j) / 2 / 3 * 2 + D / 3 + eps`` clamped below at eps, then
    ``dnorm(D, 0, mu * Sig)``. Every entry depends only on itself and ``means``, and
    the formula is exactly symmetric, so the R symmetrisation step is the identity.
    """
    n = D.shape[0]
    for i in prange(n):
        mi = means[i]
        for j in range(n):
            d = D[i, j]
            sig = (mi + means[j]) / 2.0 / 3.0 * 2.0 + d / 3.0 + EPS
            if sig <= EPS:
                sig = EPS
            D[i, j] = _dnorm0(d, mu * sig)


@njit(cache=True, inline="always")
def _half_den(s):
    """SNFtool 2.3 ``normalize``'s denominator ``2 s`` of ``s = rowSums - diag``, 0 -> 1."""
    if s == 0.0:
        s = 1.0
    return 2.0 * s


@njit(parallel=True, cache=True)
def normalize_half(src, dst):
    """SNFtool >= 2.2.1 ``normalize``: ``X / (2 (rowSums(X) - diag(X)))``, diagonal 0.5.

    A zero denominator ``rowSums(X) - diag(X)`` is replaced by 1. ``dst`` may be ``src``.
    """
    n = src.shape[0]
    for i in prange(n):
        s = 0.0
        for j in range(n):
            s += src[i, j]
        den = _half_den(s - src[i, i])
        for j in range(n):
            dst[i, j] = src[i, j] / den
        dst[i, i] = 0.5


@njit(parallel=True, cache=True)
def normalize_rows(src, dst):
    """``X / rowSums(X)`` (SNFtool <= 2.2). ``dst`` may be ``src``."""
    n, m = src.shape
    for i in prange(n):
        s = 0.0
        for j in range(m):
            s += src[i, j]
        for j in range(m):
            dst[i, j] = src[i, j] / s


@njit(parallel=True, cache=True)
def dominate_set(W, K):
    """Sparse rows of SNFtool ``.dominateset``: the K largest entries per row, row-normalised.

    R keeps the last K positions of ``sort(x, index.return = TRUE)``, a stable ascending
    sort: all entries above the K-th largest value are kept and, among entries equal to
    it, those with the highest column indices. Returns ``(idx, val)``, each n x K, the
    column indices ascending within a row.
    """
    n, m = W.shape
    idx = np.empty((n, K), np.int64)
    val = np.empty((n, K), W.dtype)
    for i in prange(n):
        row = W[i]
        thr = _kth_largest(row, K)
        found = np.empty(K, np.int64)
        c = 0
        for j in range(m):
            if row[j] > thr:
                found[c] = j
                c += 1
        j = m - 1
        while c < K:
            if row[j] == thr:
                found[c] = j
                c += 1
            j -= 1
        sel = idx[i]
        _extremes_sorted(found, sel, False)  # the K column indices, ascending
        s = 0.0
        for k in range(K):
            s += row[sel[k]]
        for k in range(K):
            val[i, k] = row[sel[k]] / s
    return idx, val


# How spmm_t reads its input X (the "network representation"):
#   PLAIN   X is a general matrix, read as is.
#   SYM     X is symmetric and only its upper triangle (j >= i) is read.
#   HALF    as SYM, then SNFtool >= 2.2.1 normalize + symmetrise applied on the fly:
#           (u / den_i + u / den_j) / 2 off the diagonal, 0.5 on it.
#   PLUS_I  as SYM, plus 1 on the diagonal (SNFtool <= 2.2: W + I, then symmetrise).
PLAIN, SYM, HALF, PLUS_I = -1, 0, 1, 2


@njit(cache=True, inline="always")
def _value(u, den, mode, a, b):
    if mode == HALF:
        if a == b:
            return 0.5
        return (u / den[a] + u / den[b]) / 2.0
    if mode == PLUS_I and a == b:
        return u + 1.0
    return u


@njit(cache=True)
def _pack(X, den, mode, tile, c0, w):
    """``tile[k, c] <- value of X[k, c0 + c]`` under ``mode`` (see above), all rows k."""
    nr = X.shape[0]
    if mode == PLAIN:
        for k in range(nr):
            for c in range(w):
                tile[k, c] = X[k, c0 + c]
        return
    c1 = c0 + w
    # rows above the tile: (k, c0 + c) is in the upper triangle, contiguous in row k
    for k in range(c0):
        if mode == HALF:
            dk = den[k]
            for c in range(w):
                u = X[k, c0 + c]
                tile[k, c] = (u / dk + u / den[c0 + c]) / 2.0
        else:
            for c in range(w):
                tile[k, c] = X[k, c0 + c]
    # the diagonal block
    for k in range(c0, c1):
        for c in range(w):
            b = c0 + c
            if k <= b:
                tile[k, c] = _value(X[k, b], den, mode, k, b)
            else:
                tile[k, c] = _value(X[b, k], den, mode, b, k)
    # rows below: (k, c0 + c) is mirrored from row c0 + c, read in blocks of 64 rows
    for k0 in range(c1, nr, 64):
        k1 = min(k0 + 64, nr)
        for c in range(w):
            b = c0 + c
            row = X[b]
            if mode == HALF:
                db = den[b]
                for k in range(k0, k1):
                    u = row[k]
                    tile[k, c] = (u / db + u / den[k]) / 2.0
            else:
                for k in range(k0, k1):
                    tile[k, c] = row[k]


@njit(parallel=True, cache=True)
def spmm_t(idx, val, X, den, mode, out, width, upper, want_sums, nthreads):
    """``out <- (S @ V).T`` with V the matrix that ``X`` represents under ``mode``.

    ``S`` is given by ``(idx, val)`` (K entries per row). Cost O(n^2 K). Each thread
    takes column tiles of V (rows of ``out``) round-robin and packs the n x width tile
    contiguously, so that the K-sparse rows of ``S`` sweep over a cached block.
    Applying it twice (the second time with ``PLAIN``) gives ``S V S^T``.

    With ``upper`` only the entries ``out[c, i]`` with ``i >= c0`` (the start of the
    tile of ``c``) are computed, which covers the upper triangle (half the work); with
    ``want_sums`` the row sums of the symmetric matrix whose upper triangle is that of
    ``out`` are returned (else an empty array).
    """
    n = idx.shape[0]
    K = idx.shape[1]
    K4 = K - K % 4
    m = n
    nr = X.shape[0]
    ib = 64
    ntiles = (m + width - 1) // width
    nth = max(1, min(nthreads, ntiles))
    part = np.zeros((nth, n if want_sums else 0))
    for th in prange(nth):
        tile = np.empty((nr, width), X.dtype)
        buf = np.empty((ib, width), X.dtype)
        for q in range(th, ntiles, nth):
            c0 = q * width
            w = min(width, m - c0)
            _pack(X, den, mode, tile, c0, w)
            start = c0 if upper else 0
            for i0 in range(start, n, ib):
                i1 = min(i0 + ib, n)
                for i in range(i0, i1):
                    acc = buf[i - i0]
                    for c in range(w):
                        acc[c] = 0.0
                    for kk in range(0, K4, 4):
                        s0 = val[i, kk]
                        s1 = val[i, kk + 1]
                        s2 = val[i, kk + 2]
                        s3 = val[i, kk + 3]
                        r0 = tile[idx[i, kk]]
                        r1 = tile[idx[i, kk + 1]]
                        r2 = tile[idx[i, kk + 2]]
                        r3 = tile[idx[i, kk + 3]]
                        for c in range(w):
                            acc[c] += (s0 * r0[c] + s1 * r1[c]) + (s2 * r2[c] + s3 * r3[c])
                    for kk in range(K4, K):
                        s0 = val[i, kk]
                        r0 = tile[idx[i, kk]]
                        for c in range(w):
                            acc[c] += s0 * r0[c]
                for c in range(w):
                    cc = c0 + c
                    orow = out[cc]
                    if want_sums:
                        s = 0.0
                        for i in range(i0, i1):
                            v = buf[i - i0, c]
                            orow[i] = v
                            if i > cc:
                                s += v
                                part[th, i] += v
                            elif i == cc:
                                s += v
                        part[th, cc] += s
                    else:
                        for i in range(i0, i1):
                            orow[i] = buf[i - i0, c]
    sums = np.zeros(n if want_sums else 0)
    for th in range(nth):
        for i in range(sums.shape[0]):
            sums[i] += part[th, i]
    return sums


@njit(parallel=True, cache=True)
def half_denominators(U, rowsums):
    """``2 (rowSums - diag)`` with a zero ``rowSums - diag`` replaced by 1 (SNFtool 2.3)."""
    n = U.shape[0]
    den = np.empty(n)
    for i in prange(n):
        den[i] = _half_den(rowsums[i] - U[i, i])
    return den


@njit(parallel=True, cache=True)
def materialize_mean2(U0, den0, mode0, U1, den1, mode1, out):
    """``out <- (V0 + V1) / 2`` for two networks held as (upper triangle, den, mode)."""
    tiles = _tiles(out.shape[0])
    for p in prange(tiles.shape[0]):
        i0, i1, j0, j1 = tiles[p, 0], tiles[p, 1], tiles[p, 2], tiles[p, 3]
        for i in range(i0, i1):
            for j in range(max(i, j0), j1):
                v = (
                    _value(U0[i, j], den0, mode0, i, j) + _value(U1[i, j], den1, mode1, i, j)
                ) / 2.0
                out[i, j] = v
                out[j, i] = v


@njit(parallel=True, cache=True)
def upper_normalize_half_sym(A, rowsums):
    """From the upper triangle of a symmetric ``A``: SNFtool 2.3 ``normalize`` + symmetrise.

    ``A[i, j] <- (A_ij / den_i + A_ij / den_j) / 2`` with ``den_i = 2 (rowSums_i - A_ii)``
    (a zero ``rowSums_i - A_ii`` replaced by 1) and the diagonal set to 0.5; both
    triangles are written.
    """
    n = A.shape[0]
    den = np.empty(n)
    for i in range(n):
        den[i] = _half_den(rowsums[i] - A[i, i])
    tiles = _tiles(n)
    for p in prange(tiles.shape[0]):
        i0, i1, j0, j1 = tiles[p, 0], tiles[p, 1], tiles[p, 2], tiles[p, 3]
        for i in range(i0, i1):
            di = den[i]
            for j in range(max(i + 1, j0), j1):
                v = A[i, j]
                v = (v / di + v / den[j]) / 2.0
                A[i, j] = v
                A[j, i] = v
            if j0 == i0:
                A[i, i] = 0.5


@njit(parallel=True, cache=True)
def upper_mirror(A, diag_add):
    """Copy the upper triangle of ``A`` to the lower one and add ``diag_add`` to the diagonal."""
    tiles = _tiles(A.shape[0])
    for p in prange(tiles.shape[0]):
        i0, i1, j0, j1 = tiles[p, 0], tiles[p, 1], tiles[p, 2], tiles[p, 3]
        for i in range(i0, i1):
            for j in range(max(i + 1, j0), j1):
                A[j, i] = A[i, j]
            if j0 == i0:
                A[i, i] = A[i, i] + diag_add


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def matvec_f32(A, x, out):
    """``out <- A @ x`` for a float32 ``A`` and float64 ``x``, accumulated in float64.

    Reads half the bytes of the float64 product (the eigen-solver's matrix-vector products
    are memory-bound) and four rows per pass over ``x``: 2.1x faster than BLAS ``dgemv`` on
    the float64 copy at n = 8,000 (one thread). ``reassoc`` lets the row sums vectorise,
    in a fixed order on a given machine, so results are reproducible there.
    """
    n, m = A.shape
    nb = n // 4
    for b in prange(nb):
        i = 4 * b
        r0, r1, r2, r3 = A[i], A[i + 1], A[i + 2], A[i + 3]
        s0 = s1 = s2 = s3 = 0.0
        for j in range(m):
            xj = x[j]
            s0 += np.float64(r0[j]) * xj
            s1 += np.float64(r1[j]) * xj
            s2 += np.float64(r2[j]) * xj
            s3 += np.float64(r3[j]) * xj
        out[i] = s0
        out[i + 1] = s1
        out[i + 2] = s2
        out[i + 3] = s3
    for i in range(4 * nb, n):
        s = 0.0
        for j in range(m):
            s += np.float64(A[i, j]) * x[j]
        out[i] = s
