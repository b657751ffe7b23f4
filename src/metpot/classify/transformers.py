"""Preprocessing steps fitted inside the folds (scikit-learn transformers on data frames): log2,
missing values, per-layer variance filter, z-score, supervised signature.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from metpot.classify.options import _split_column
from metpot.errors import MetpotValueError, name_list


def check_matrix(estimator, X, *, fit: bool, allow_nan: bool = True) -> np.ndarray:
    """``X`` as a 2-D float array, checked as scikit-learn's ``validate_data`` would.

    A light check on purpose: a data frame is converted once, without scikit-learn's
    per-column validation (slow for thousands of columns), and valid input is returned
    unchanged (``np.asarray(X, dtype=float)``).

    Parameters
    ----------
    estimator : estimator
        The estimator the data is for: named in the messages; with ``fit=False`` its
        ``n_features_in_`` is the number of columns expected.
    X : array_like or pandas.DataFrame
        Samples x features.
    fit : bool
        True in ``fit`` (at least one sample and one feature), False after it (as many
        features as in ``fit``).
    allow_nan : bool
        Accept NaN (never infinite values when False).

    Returns
    -------
    numpy.ndarray
        Float values, samples x features.

    Raises
    ------
    MetpotValueError
        Sparse or complex input, not 2-D, empty, another number of features than in ``fit``,
        or NaN/infinite values where they are not allowed; one line naming the estimator.
    """
    name = type(estimator).__name__
    if scipy.sparse.issparse(X):
        raise MetpotValueError(f"{name}: sparse input is not supported; give a dense array")
    values = np.asarray(X)
    if values.dtype.kind == "c":
        raise MetpotValueError(f"{name}: Complex data not supported")
    values = values.astype(float, copy=False)
    if values.ndim != 2:
        raise MetpotValueError(
            f"{name}: expected a 2-D array (samples x features), got {values.ndim}-D "
            f"of shape {values.shape}. Reshape your data: X.reshape(-1, 1) for one feature, "
            "X.reshape(1, -1) for one sample"
        )
    if fit:
        for axis, what in ((0, "sample"), (1, "feature")):
            if values.shape[axis] == 0:
                raise MetpotValueError(
                    f"{name}: 0 {what}(s) (shape={values.shape}) while a minimum of 1 is required."
                )
    elif values.shape[1] != estimator.n_features_in_:
        raise MetpotValueError(
            f"X has {values.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input"
        )
    if not allow_nan and not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        column = X.columns[j] if hasattr(X, "columns") else int(j)
        raise MetpotValueError(
            f"{name}: X has a NaN or inf value ({values[i, j]}) in column {column!r}, row {i}"
        )
    return values


class _FrameStep(TransformerMixin, BaseEstimator):
    """Base of metpot's preprocessing steps.

    They take a data frame (or an array) and return the same kind: a frame keeps the
    ``"<layer>:<feature>"`` column names the per-layer steps need, without scikit-learn's
    per-column validation of frames (slow for thousands of columns): :func:`check_matrix`
    checks the input instead. Subclasses set ``keep_`` (bool mask over the input columns)
    in ``fit`` and may override ``_apply``.
    """

    #: NaN accepted in ``fit`` and ``transform`` (also the scikit-learn tag ``allow_nan``).
    _allow_nan = True

    def _start(self, X) -> np.ndarray:
        values = check_matrix(self, X, fit=True, allow_nan=self._allow_nan)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns.astype(str), dtype=object)
        else:
            self.feature_names_in_ = np.asarray(
                [f"x{i}" for i in range(values.shape[1])], dtype=object
            )
        self.n_features_in_ = len(self.feature_names_in_)
        return values

    # skops writes an object array element by element (one JSON node per column name: about
    # 0.7 s for a model of ~2,400 columns); a fixed-width str array is one .npy. The fitted
    # attribute stays scikit-learn's object array.
    def __getstate__(self):
        state = super().__getstate__()
        names = state.get("feature_names_in_")
        if isinstance(names, np.ndarray) and names.dtype == object:
            state = {**state, "feature_names_in_": names.astype(str)}
        return state

    def __setstate__(self, state):
        names = state.get("feature_names_in_")
        if isinstance(names, np.ndarray) and names.dtype.kind == "U":
            state = {**state, "feature_names_in_": names.astype(object)}
        super().__setstate__(state)

    def fit(self, X, y=None):
        """Learn the input columns and keep them all (steps that select override this)."""
        self._start(X)
        self.keep_ = np.ones(self.n_features_in_, dtype=bool)
        return self

    def _apply(self, values: np.ndarray) -> np.ndarray:
        return values[:, self.keep_]

    def transform(self, X):
        """Apply the fitted step.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x the columns seen in ``fit``.

        Returns
        -------
        numpy.ndarray or pandas.DataFrame
            The kept (and transformed) columns; a frame for a frame.
        """
        check_is_fitted(self)
        values = check_matrix(self, X, fit=False, allow_nan=self._allow_nan)
        out = self._apply(values)
        if hasattr(X, "columns"):
            return pd.DataFrame(out, index=X.index, columns=self.get_feature_names_out())
        return out

    def get_support(self) -> np.ndarray:
        """Boolean mask of the kept input columns."""
        check_is_fitted(self)
        return self.keep_

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the kept input columns (``"x<i>"`` for an array)."""
        check_is_fitted(self)
        return self.feature_names_in_[self.keep_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags


class Log2Transform(_FrameStep):
    """``log2(x + 1)``; negative input (in ``fit`` or ``transform``) is a
    :class:`~metpot.errors.MetpotValueError` naming the column."""

    def fit(self, X, y=None):
        """Learn the input columns; refuse negative values.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x features, non-negative (NaN allowed).
        y : None
            Ignored.

        Returns
        -------
        Log2Transform
        """
        self._check_non_negative(self._start(X))
        self.keep_ = np.ones(self.n_features_in_, dtype=bool)
        return self

    def _check_non_negative(self, values: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            neg = values < 0
        if neg.any():
            j = int(np.argwhere(neg)[0][1])
            raise MetpotValueError(
                f"Negative values in data passed to Log2Transform: column "
                f"{self.feature_names_in_[j]!r} has {float(values[neg][0])!r}; log2(x + 1) "
                "needs non-negative values (set classify.transform: none for log-scale data)"
            )

    def _apply(self, values):
        self._check_non_negative(values)
        return np.log2(values + 1.0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


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
            raise MetpotValueError(
                f"DropMissing: every feature has more than {self.max_fraction:g} missing"
            )
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
        if len(values) < 2:
            raise MetpotValueError(
                f"TopVariance needs at least 2 samples to rank variances, got {len(values)} sample"
            )
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
            raise MetpotValueError("TopVariance: every feature is constant")
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

    # the ANOVA F and Cox scores need every value (the pipeline imputes before this step)
    _allow_nan = False

    def __init__(self, size: int = 31, quotas: dict | None = None, per_class: bool = True):
        self.size = size
        self.quotas = quotas
        self.per_class = per_class

    def fit(self, X, y):
        """Choose the signature's columns.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x features, finite values.
        y : array_like
            Class labels, or a scikit-survival structured array ``(event, time)``.

        Returns
        -------
        SignatureSelector
        """
        values = self._start(X)
        if y is None:
            raise MetpotValueError(
                "SignatureSelector requires y to be passed, but the target y is None "
                "(class labels or a survival array)"
            )
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
                raise MetpotValueError(
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class AsArray(_FrameStep):
    """Hand the model a plain array (the column names stay in ``get_feature_names_out``)."""

    def transform(self, X):
        """The kept columns as a float array (see :meth:`_FrameStep.transform`)."""
        return np.asarray(super().transform(np.asarray(X, dtype=float)), dtype=float)


# Saved models (skops) name a class by its module: these keep the name they have always had,
# ``metpot.classify.<class>`` (metpot.model_io.TRUSTED_TYPES, model files already written),
# which the package re-exports.
for _cls in (AsArray, DropMissing, Log2Transform, SignatureSelector, TopVariance, ZScore):
    _cls.__module__ = "metpot.classify"
