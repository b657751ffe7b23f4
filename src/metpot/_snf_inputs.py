"""Checks and conversions of the inputs of :mod:`metpot.snf` and :mod:`metpot.spectral`.

Every matrix is turned into a C-contiguous float64 NumPy array (DataFrames accepted) and
checked (2-D, finite, square where a network is expected); ``K``, ``mu``, ``t`` and the SNF
``variant`` are checked with one-line :class:`~metpot.errors.MetpotValueError` messages (a
``MetpotError`` and a ``ValueError``). None of these names is public.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metpot.errors import MetpotValueError

VARIANTS = ("snftool-2.3", "snftool-2.2")
_EPS = float(np.finfo(np.float64).eps)


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise MetpotValueError(
            f"unknown SNF variant {variant!r}; expected one of {', '.join(VARIANTS)}"
        )
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
        raise MetpotValueError(f"{name} is not numeric: {exc}") from None
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.ndim != 2:
        raise MetpotValueError(f"{name} must be a 2-D matrix, got {A.ndim} dimensions")
    if A.size == 0:
        raise MetpotValueError(f"{name} is empty (shape {A.shape})")
    if not np.isfinite(A).all() and not (allow_nan and (np.isfinite(A) | np.isnan(A)).all()):
        bad = np.argwhere(~(np.isfinite(A) | (allow_nan & np.isnan(A))))[0]
        raise MetpotValueError(
            f"{name} has a non-finite value {A[tuple(bad)]} at row {bad[0]}, column {bad[1]}"
        )
    return A


def _as_square(W, name: str, *, copy: bool = False, float32: bool = False) -> np.ndarray:
    A = _as_matrix(W, name, copy=copy, float32=float32)
    if A.shape[0] != A.shape[1]:
        raise MetpotValueError(f"{name} must be square, got shape {A.shape}")
    return A


def _check_K(K, n: int, name: str = "K") -> int:
    if isinstance(K, bool) or not float(K).is_integer():
        raise MetpotValueError(f"{name} must be an integer, got {K!r}")
    K = int(K)
    if K < 1:
        raise MetpotValueError(f"{name} must be >= 1, got {K}")
    if K >= n:
        raise MetpotValueError(f"{name}={K} must be smaller than the number of samples ({n})")
    return K


def _check_positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise MetpotValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _check_t(t) -> int:
    if isinstance(t, bool) or not float(t).is_integer() or int(t) < 0:
        raise MetpotValueError(
            f"t (number of fusion iterations) must be an integer >= 0, got {t!r}"
        )
    return int(t)


def _as_views(views, name: str = "views") -> list[np.ndarray]:
    if isinstance(views, np.ndarray | pd.DataFrame):
        views = [views]
    views = list(views)
    if not views:
        raise MetpotValueError(f"{name} is empty: give at least one data matrix")
    out = [_as_matrix(v, f"{name}[{i}]") for i, v in enumerate(views)]
    n = out[0].shape[0]
    for i, v in enumerate(out[1:], start=1):
        if v.shape[0] != n:
            raise MetpotValueError(
                f"{name}[{i}] has {v.shape[0]} samples but {name}[0] has {n}: "
                "all views must hold the same samples (rows)"
            )
    return out
