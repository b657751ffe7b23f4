"""Preprocessing steps fitted inside the folds (scikit-learn transformers on data frames): log2,
missing values, per-layer variance filter, z-score, supervised signature.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from metpot.classify.options import _split_column
from metpot.errors import MetpotError, name_list


class _FrameStep(TransformerMixin, BaseEstimator):
    """Base of metpot's preprocessing steps.

    They take a data frame (or an array) and return the same kind: a frame keeps the
    ``"<layer>:<feature>"`` column names the per-layer steps need, without scikit-learn's
    per-column validation of frames (slow for thousands of columns). Subclasses set
    ``keep_`` (bool mask over the input columns) in ``fit`` and may override ``_apply``.
    """

    def _start(self, X) -> np.ndarray:
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns.astype(str), dtype=object)
        else:
            self.feature_names_in_ = np.asarray(
                [f"x{i}" for i in range(np.shape(X)[1])], dtype=object
            )
        self.n_features_in_ = len(self.feature_names_in_)
        return np.asarray(X, dtype=float)

    def fit(self, X, y=None):
        """Learn the input columns and keep them all (steps that select override this)."""
        self._start(X)
        self.keep_ = np.ones(self.n_features_in_, dtype=bool)
        return self

    def _apply(self, values: np.ndarray) -> np.ndarray:
        return values[:, self.keep_]

    def transform(self, X):
        values = np.asarray(X, dtype=float)
        if values.ndim != 2 or values.shape[1] != self.n_features_in_:
            raise MetpotError(
                f"{type(self).__name__}: expected {self.n_features_in_} columns, "
                f"got {values.shape[1] if values.ndim == 2 else values.ndim}"
            )
        out = self._apply(values)
        if hasattr(X, "columns"):
            return pd.DataFrame(out, index=X.index, columns=self.get_feature_names_out())
        return out

    def get_support(self) -> np.ndarray:
        """Boolean mask of the kept input columns."""
        return self.keep_

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_[self.keep_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags



class Log2Transform(_FrameStep):
    """``log2(x + 1)``; negative input is a :class:`MetpotError` naming the column."""

    def _apply(self, values):
        with np.errstate(invalid="ignore"):
            neg = values < 0
        if neg.any():
            j = int(np.argwhere(neg)[0][1])
            raise MetpotError(
                f"log2 transform needs non-negative values; column "
                f"{self.feature_names_in_[j]!r} has {values[neg][0]!r} "
                "(set classify.transform: none for log-scale data)"
            )
        return np.log2(values + 1.0)



class DropMissing(_FrameStep):
    """Drop columns missing in more than ``max_fraction`` of the training samples, and fill
    the remaining missing values with the training median of their column.

    Parameters
    ----------
    max_fraction : float
        Largest fraction of missing training samples a kept column may have.
    """

    def __init__(self, max_fraction: float = 0.2):
        self.max_fraction = max_fraction

    def fit(self, X, y=None):
        values = self._start(X)
        miss = np.isnan(values)
        self.keep_ = miss.mean(axis=0) <= self.max_fraction
        if not self.keep_.any():
            raise MetpotError(f"every feature has more than {self.max_fraction:g} missing")
        kept = values[:, self.keep_]
        med = _nanmedian_columns(kept) if miss.any() else np.median(kept, axis=0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        return self

    def _apply(self, values):
        out = values[:, self.keep_]
        miss = np.isnan(out)
        if miss.any():
            out = np.where(miss, self.median_[None, :], out)
        return out



def _nanmedian_columns(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=0)`` (NaN for an all-missing column) by one sort: NaNs sort
    last, so each column's median sits at its count of present values."""
    ordered = np.sort(values, axis=0)
    n = np.sum(~np.isnan(values), axis=0)
    cols = np.arange(values.shape[1])
    lo = ordered[np.maximum((n - 1) // 2, 0), cols]
    hi = ordered[np.minimum(n // 2, len(values) - 1), cols]
    med = np.where(n % 2 == 1, lo, (lo + hi) / 2.0)
    return np.where(n > 0, med, np.nan)



class TopVariance(_FrameStep):
    """Keep the ``top`` columns of largest variance within each layer (unsupervised).

    The layer of a column is the part of its name before ``":"``. Constant columns are never
    kept; ties are broken by column order.

    Parameters
    ----------
    top : int or None
        Columns kept per layer (None: all non-constant).
    """

    def __init__(self, top: int | None = 1000):
        self.top = top

    def fit(self, X, y=None):
        values = self._start(X)
        var = np.var(values, axis=0, ddof=1)
        var = np.where(np.isfinite(var), var, 0.0)
        keep = var > 0
        if self.top is not None:
            layer = np.array([_split_column(c)[0] for c in self.feature_names_in_])
            for name in pd.unique(layer):
                idx = np.flatnonzero((layer == name) & keep)
                if len(idx) > self.top:
                    order = np.lexsort((idx, -var[idx]))
                    keep[idx[order[int(self.top) :]]] = False
        if not keep.any():
            raise MetpotError("every feature is constant")
        self.keep_ = keep
        return self



class ZScore(_FrameStep):
    """Centre and scale each column by its training mean and SD (n - 1; SD 0 -> 1)."""

    def fit(self, X, y=None):
        values = self._start(X)
        self.keep_ = np.ones(self.n_features_in_, dtype=bool)
        self.mean_ = values.mean(axis=0)
        sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.ones(values.shape[1])
        self.scale_ = np.where(sd > 0, sd, 1.0)
        return self

    def _apply(self, values):
        return (values - self.mean_) / self.scale_



def _cox_score_stat(X: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Univariable Cox score (log-rank) chi-square at beta = 0 for every column (Breslow)."""
    order = np.argsort(-time, kind="stable")
    t, e, x = time[order], event[order], X[order]
    n = len(t)
    s0 = np.arange(1, n + 1, dtype=float)
    s1 = np.cumsum(x, axis=0)
    s2 = np.cumsum(x * x, axis=0)
    # risk set of sample i: all with time >= t_i, i.e. positions 0 .. last one with time t_i
    last = np.searchsorted(-t, -t, side="right") - 1
    ev = np.flatnonzero(e)
    if len(ev) == 0:
        return np.zeros(X.shape[1])
    r = last[ev]
    mean = s1[r] / s0[r, None]
    u = (x[ev] - mean).sum(axis=0)
    info = (s2[r] / s0[r, None] - mean**2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(info > 1e-12, u * u / info, 0.0)
    return np.nan_to_num(chi)



def univariate_scores(X, y) -> np.ndarray:
    """Supervised univariate score per column (higher = more associated with ``y``).

    ANOVA F for class labels; the Cox score (log-rank) chi-square for a scikit-survival
    structured array ``(event, time)``. Constant columns score 0.
    """
    values = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if y.dtype.names is not None:
        ev, tm = y.dtype.names[0], y.dtype.names[1]
        return _cox_score_stat(values, y[tm].astype(float), y[ev].astype(bool))
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # constant features: their F is NaN, scored 0 below
        warnings.filterwarnings("ignore", "Features .* are constant", UserWarning)
        f, _ = f_classif(values, y)
    return np.nan_to_num(f, nan=0.0, posinf=np.finfo(float).max)



class SignatureSelector(_FrameStep):
    """A compact signature chosen by supervised univariate scores in ``fit`` -- so, in a
    pipeline, within the training folds only.

    For more than two classes the columns are ranked one class against the rest (ANOVA F of
    ``y == c``) and taken in turn from each class's ranking (round robin, classes in sorted
    order, skipping columns already taken), so that one strongly separated class cannot fill
    the whole signature; for two classes, by the ANOVA F; for a survival target, by the Cox
    score chi-square (:func:`univariate_scores`). Ties are broken by column order.

    Parameters
    ----------
    size : int
        Columns kept when no quotas are given.
    quotas : dict, optional
        Layer -> columns kept from that layer (e.g. ``{"mrna": 24, "mirna": 7}``); when
        given, ``size`` is not used.
    per_class : bool
        Round robin over the classes' one-vs-rest rankings (more than two classes only);
        False ranks by the multi-class ANOVA F alone.
    """

    def __init__(self, size: int = 31, quotas: dict | None = None, per_class: bool = True):
        self.size = size
        self.quotas = quotas
        self.per_class = per_class

    def fit(self, X, y):
        values = self._start(X)
        y = np.asarray(y)
        self.scores_ = univariate_scores(values, y)
        if self.per_class and y.dtype.names is None and len(np.unique(y)) > 2:
            rankings = [univariate_scores(values, y == c) for c in np.unique(y)]
        else:
            rankings = [self.scores_]
        keep = np.zeros(self.n_features_in_, dtype=bool)
        cols = np.arange(self.n_features_in_)
        if self.quotas:
            layer = np.array([_split_column(c)[0] for c in self.feature_names_in_])
            unknown = sorted(set(self.quotas) - set(layer))
            if unknown:
                raise MetpotError(
                    f"classify.signature.quotas: no layer {name_list(unknown)} in the "
                    f"feature set (layers: {name_list(pd.unique(layer))})"
                )
            groups = [(cols[layer == name], int(q)) for name, q in self.quotas.items()]
        else:
            groups = [(cols, int(self.size))]
        for idx, k in groups:
            orders = [idx[np.lexsort((idx, -score[idx]))] for score in rankings]
            taken: list[int] = []
            seen: set[int] = set()
            pos = [0] * len(orders)
            while len(taken) < min(k, len(idx)):
                for c, order in enumerate(orders):
                    while pos[c] < len(order) and order[pos[c]] in seen:
                        pos[c] += 1
                    if pos[c] < len(order) and len(taken) < k:
                        taken.append(int(order[pos[c]]))
                        seen.add(int(order[pos[c]]))
            keep[taken] = True
        self.keep_ = keep
        return self



class AsArray(_FrameStep):
    """Hand the model a plain array (the column names stay in ``get_feature_names_out``)."""

    def transform(self, X):
        return np.asarray(super().transform(np.asarray(X, dtype=float)), dtype=float)


# Saved models (skops) name a class by its module: these keep the name they have always had,
# ``metpot.classify.<class>`` (metpot.model_io.TRUSTED_TYPES, model files already written),
# which the package re-exports.
for _cls in (AsArray, DropMissing, Log2Transform, SignatureSelector, TopVariance, ZScore):
    _cls.__module__ = "metpot.classify"
