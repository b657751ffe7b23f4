"""Per-layer preprocessing: transform, missing values, constant features, selection, scaling.

The order is fixed: transform -> missing values (drop, then impute) -> constant features
dropped -> feature selection -> scaling. Each step records what it did in a summary dict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metpot.config import section_defaults
from metpot.errors import MetpotError, name_list, warn_data


def log2_transform(X: pd.DataFrame, layer: str = "layer") -> pd.DataFrame:
    """Return ``log2(X + 1)``; negative input is an error naming the sample and feature."""
    values = X.to_numpy()
    neg = np.argwhere(values < 0)
    if len(neg):
        i, j = neg[0]
        raise MetpotError(
            f"layer {layer}: log2 transform needs non-negative values, found {values[i, j]!r} "
            f"for feature {X.columns[j]!r} in sample {X.index[i]!r} ({len(neg)} negative "
            "cell(s)); set preprocess transform: none for data already on a log scale"
        )
    return np.log2(X + 1.0)


def _without_columns(X: pd.DataFrame, columns) -> pd.DataFrame:
    """``X`` without ``columns``, as one block. (``DataFrame.drop`` of a few columns of one
    float block leaves pandas 3 one block per column, which makes every later whole-frame
    operation, e.g. the variance filter and z-scores, 5-10 times slower.)"""
    return X.iloc[:, np.flatnonzero(~X.columns.isin(columns))]


def handle_missing(
    X: pd.DataFrame,
    max_fraction: float = 0.2,
    impute: str = "knn",
    knn_k: int = 10,
    layer: str = "layer",
) -> tuple[pd.DataFrame, dict]:
    """Drop features with too many missing values and impute the rest.

    Parameters
    ----------
    X : DataFrame
        Samples x features, missing values as NaN.
    max_fraction : float
        Features with a larger fraction of missing samples are dropped (with a warning).
    impute : {"knn", "mean", "median", "none"}
        How the remaining missing cells are filled. ``knn`` averages the ``knn_k`` nearest
        samples (nan-Euclidean distance over the observed features).
    knn_k : int
        Neighbours for ``knn``.
    layer : str
        Layer name for messages.

    Returns
    -------
    X : DataFrame
    info : dict
        ``dropped`` (names), ``n_imputed_cells``.
    """
    frac = X.isna().mean(axis=0)
    drop = frac.index[frac > max_fraction].tolist()
    if drop:
        warn_data(
            f"layer {layer}: {len(drop)} feature(s) with more than {max_fraction:g} missing "
            f"dropped: {name_list(drop)}"
        )
        X = _without_columns(X, drop)
    if X.shape[1] == 0:
        raise MetpotError(f"layer {layer}: every feature has more than {max_fraction:g} missing")
    n_missing = int(X.isna().to_numpy().sum())
    if n_missing:
        empty = X.index[X.isna().all(axis=1)].tolist()
        if empty:
            raise MetpotError(
                f"layer {layer}: sample(s) with no observed value: {name_list(empty)}"
            )
        if impute == "none":
            raise MetpotError(
                f"layer {layer}: {n_missing} missing value(s) remain and missing.impute is none"
            )
        if impute == "knn":
            k = min(knn_k, X.shape[0] - 1)
            filled = knn_impute(X.to_numpy(dtype=float), k)
            X = pd.DataFrame(filled, index=X.index, columns=X.columns)
        else:
            stat = X.mean(axis=0) if impute == "mean" else X.median(axis=0)
            X = X.fillna(stat)
        warn_data(f"layer {layer}: {n_missing} missing value(s) imputed ({impute})")
    return X, {"dropped_missing": drop, "n_imputed_cells": n_missing, "impute": impute}


_KNN_CHUNK_BYTES = 256 << 20


def knn_impute(X: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Fill NaNs with the mean of the ``n_neighbors`` nearest samples that observe the feature.

    The algorithm of scikit-learn's ``KNNImputer(n_neighbors, keep_empty_features=True)``
    (uniform weights, ``nan_euclidean`` distances: the Euclidean distance over the features
    both samples observe, scaled up by ``n_features / n_observed_by_both``), with the
    distances computed by float matrix products in row chunks. scikit-learn multiplies
    boolean masks with float matrices, which numpy cannot hand to BLAS: 34 s at
    10,000 samples x 2,000 features with 0.01% of the cells missing, against 3.2 s here
    (``bench/bench_impute.py``). The results agree with scikit-learn's to rounding
    (``tests/test_preprocess.py``).

    Parameters
    ----------
    X : numpy.ndarray, shape (n_samples, n_features)
        Data with NaN for missing cells.
    n_neighbors : int
        Neighbours averaged (fewer when fewer samples observe the feature).

    Returns
    -------
    numpy.ndarray
        A copy of ``X`` with every NaN filled: from the nearest samples observing the
        feature; with the feature's mean when the sample shares no observed feature with
        any of them; 0 in a feature no sample observes.
    """
    X = np.asarray(X, dtype=float)
    out = X.copy()
    mask = np.isnan(X)
    valid = ~mask.all(axis=0)
    rows = np.flatnonzero(mask[:, valid].any(axis=1))
    if rows.size:
        from scipy import sparse

        n, p = X.shape
        filled = np.where(mask, 0.0, X)
        squares = filled * filled
        norms = squares.sum(axis=1)
        missing = sparse.csr_matrix(mask, dtype=float)  # few cells: sparse products
        n_missing = missing.sum(axis=1).A1
        step = max(1, _KNN_CHUNK_BYTES // (8 * n))
        for start in range(0, rows.size, step):
            chunk = rows[start : start + step]
            m = missing[chunk]
            # over the features both observe: sum (a - b)^2 = |a|^2 + |b|^2 - 2 a.b minus the
            # squares of each one's values where the other is missing (missing cells are 0)
            dist = -2.0 * (filled[chunk] @ filled.T)
            dist += norms[chunk][:, None] + norms[None, :]
            dist -= (missing @ squares[chunk].T).T + m @ squares.T
            np.clip(dist, 0.0, None, out=dist)
            count = p - n_missing[chunk][:, None] - n_missing[None, :] + (m @ missing.T).toarray()
            dist[count == 0] = np.nan
            dist /= np.maximum(count, 1.0)
            dist *= p
            np.sqrt(dist, out=dist)
            for col in np.flatnonzero(valid & mask[chunk].any(axis=0)):
                donors = np.flatnonzero(~mask[:, col])
                local = np.flatnonzero(mask[chunk, col])
                d = dist[local][:, donors]
                no_overlap = np.isnan(d).all(axis=1)
                if no_overlap.any():
                    out[chunk[local[no_overlap]], col] = X[donors, col].mean()
                    local, d = local[~no_overlap], d[~no_overlap]
                if not local.size:
                    continue
                k = min(n_neighbors, donors.size)
                nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
                weight = (~np.isnan(np.take_along_axis(d, nearest, axis=1))).astype(float)
                values = X[donors[nearest], col]
                out[chunk[local], col] = (values * weight).sum(axis=1) / weight.sum(axis=1)
    out[:, ~valid] = 0.0
    return out


def drop_constant(X: pd.DataFrame, layer: str = "layer") -> tuple[pd.DataFrame, list[str]]:
    """Drop features with zero variance across samples, with a warning naming them."""
    values = X.to_numpy()
    const = X.columns[np.all(values == values[:1], axis=0)].tolist()
    if const:
        warn_data(f"layer {layer}: {len(const)} constant feature(s) dropped: {name_list(const)}")
        X = _without_columns(X, const)
    if X.shape[1] == 0:
        raise MetpotError(f"layer {layer}: every feature is constant")
    return X, const


def _top(scores: pd.Series, top: int) -> list[str]:
    order = np.lexsort((np.arange(len(scores)), -scores.to_numpy()))
    return [scores.index[i] for i in sorted(order[:top])]


def select_features(
    X: pd.DataFrame,
    method: str = "variance",
    top: int = 2000,
    p: float = 0.05,
    survival: pd.DataFrame | None = None,
    layer: str = "layer",
) -> tuple[pd.DataFrame, dict]:
    """Select features by variance, MAD, or a univariable Cox filter.

    Parameters
    ----------
    X : DataFrame
        Samples x features (as :func:`handle_missing` leaves them).
    method : {"none", "variance", "mad", "cox"}
        ``variance``/``mad``: keep the ``top`` features with the largest variance (n - 1) or
        median absolute deviation, ties kept in input order. ``cox``: keep features whose
        univariable Cox Wald p-value (Efron ties, as R ``coxph``) is below ``p``, fitted on
        the samples with usable survival.
    top : int
        Features kept by ``variance`` and ``mad``.
    p : float
        Threshold of the Cox filter.
    survival : DataFrame, optional
        ``time`` and ``event`` indexed by sample id; required by ``cox``.
    layer : str
        Layer name for messages.

    Returns
    -------
    X : DataFrame
        The selected columns, in input order.
    info : dict
        What the selection did; for ``cox`` also the per-feature table under ``"cox"``.
    """
    info: dict = {"method": method, "n_before": int(X.shape[1])}
    if method == "none":
        keep = list(X.columns)
    elif method in ("variance", "mad"):
        if method == "variance":
            scores = X.var(axis=0, ddof=1)
        else:
            scores = (X - X.median(axis=0)).abs().median(axis=0)
        keep = _top(scores, top)
        info["top"] = top
    elif method == "cox":
        if survival is None or survival.empty:
            raise MetpotError(
                f"layer {layer}: select method cox needs survival (cohort.clinical time and event)"
            )
        from metpot.survival import univariable_cox

        usable = [s for s in X.index if s in survival.index]
        table = univariable_cox(
            X.loc[usable],
            survival.loc[usable, "time"].to_numpy(float),
            survival.loc[usable, "event"].to_numpy(bool),
        )
        pvals = pd.Series(np.asarray(table["p"], dtype=float), index=X.columns)
        keep = [c for c in X.columns if pvals[c] < p]
        if not keep:
            raise MetpotError(
                f"layer {layer}: no feature passes the univariable Cox filter p < {p:g} "
                f"(smallest p = {np.nanmin(pvals.to_numpy()):.3g})"
            )
        info.update(p_threshold=p, n_samples_fitted=len(usable))
        info["cox"] = pd.DataFrame(
            {"feature": list(X.columns), **{k: table[k].to_numpy() for k in ("coef", "z", "p")}}
        )
    else:
        raise MetpotError(f"layer {layer}: unknown select method {method!r}")
    info["n_after"] = len(keep)
    return X[keep], info


def zscore(X: pd.DataFrame) -> pd.DataFrame:
    """Z-score each feature (sd with n - 1; sd 0 -> 1), as SNFtool ``standardNormalization``."""
    from metpot.snf import standard_normalization

    return pd.DataFrame(standard_normalization(X), index=X.index, columns=X.columns)


def _with_defaults(settings: dict) -> dict:
    """A layer's settings over the config schema's ``preprocess`` defaults (a key left out
    takes its default)."""
    base = section_defaults("preprocess", check=False)
    out = {**base, **settings}
    for key in ("missing", "select"):
        out[key] = {**base[key], **(settings.get(key) or {})}
    return out


def preprocess_layer(
    X: pd.DataFrame, settings: dict, survival: pd.DataFrame | None = None, layer: str = "layer"
) -> tuple[pd.DataFrame, dict]:
    """Run the whole preprocessing of one layer.

    Parameters
    ----------
    X : DataFrame
        Samples x features float64 (NaN = missing).
    settings : dict
        The layer's resolved settings: ``transform``, ``missing``, ``select``, ``scale``.
    survival : DataFrame, optional
        ``time``/``event`` by sample id, for the Cox filter.
    layer : str
        Layer name for messages.

    Returns
    -------
    X : DataFrame
        Preprocessed samples x features.
    summary : dict
        JSON-ready record of what each option did (a ``cox`` table, when present, is
        returned under the key ``cox_table`` and is not JSON).
    """
    summary: dict = {"n_samples": int(X.shape[0]), "n_features_in": int(X.shape[1])}
    settings = _with_defaults(settings)
    transform = settings["transform"]
    if transform == "log2":
        X = log2_transform(X, layer)
    summary["transform"] = transform
    missing = settings["missing"]
    X, info = handle_missing(X, missing["max_fraction"], missing["impute"], missing["knn_k"], layer)
    summary["missing"] = {**info, "n_dropped": len(info["dropped_missing"])}
    X, const = drop_constant(X, layer)
    summary["constant_dropped"] = const
    select = settings["select"]
    X, info = select_features(X, select["method"], select["top"], select["p"], survival, layer)
    cox_table = info.pop("cox", None)
    summary["select"] = info
    scale = settings["scale"]
    if scale == "zscore":
        X = zscore(X)
    summary["scale"] = scale
    summary["n_features_out"] = int(X.shape[1])
    if cox_table is not None:
        summary["cox_table"] = cox_table
    return X, summary
