"""Inner cross-validation: the preprocessing fitted once per training set and shared by the
models (:class:`_Prepared`), and each model's grid search on it (:func:`_tune`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from metpot.classify.inputs import Target
from metpot.classify.metrics import _balanced_accuracy, _classification_metrics
from metpot.classify.options import PRIMARY_METRIC


def _aligned_proba(est, X, classes: list) -> np.ndarray:
    """Class probabilities in ``classes`` order (0 for a class absent from the training)."""
    p = np.asarray(est.predict_proba(X), dtype=float)
    own = list(est.classes_)
    if own == list(classes):
        return p
    out = np.zeros((p.shape[0], len(classes)))
    for k, c in enumerate(own):
        out[:, list(classes).index(c)] = p[:, k]
    return out


def _inner_score(target: Target, y_true, pred: np.ndarray) -> float:
    """Inner-CV score (higher is better): the target kind's primary metric."""
    if target.kind == "survival":
        from metpot.survival import harrell_c

        return harrell_c(y_true["time"], y_true["event"], pred[:, 0])
    if target.kind == "categorical":
        y_true = np.asarray(y_true).astype(str)
        classes = np.asarray(target.classes, dtype=object).astype(str)
        return _balanced_accuracy(y_true, classes[np.argmax(pred, axis=1)])
    return _classification_metrics(y_true, pred, target.classes)[PRIMARY_METRIC[target.kind]]


def _predict(est, X, target: Target) -> np.ndarray:
    """Risk (samples x 1) for survival targets, class probabilities otherwise."""
    if target.kind == "survival":
        return np.asarray(est.predict(X), dtype=float)[:, None]
    return _aligned_proba(est, X, target.classes)


@dataclass
class _Prepared:
    """A preprocessing fitted on some samples, with their transformed values.

    The preprocessing (transform, missing, variance filter, scaling, signature) does not
    depend on the model, so it is fitted once per training set and shared by every model
    (the same values each model's own pipeline would compute).
    """

    prep: Pipeline | None
    train: np.ndarray | pd.DataFrame
    y: np.ndarray

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        if self.prep is None:
            return X
        return self.prep.transform(X)


def _prepare(prep: Pipeline | None, X: pd.DataFrame, target: Target) -> _Prepared:
    y = target.y_fit(X.index)
    if prep is None:  # the CRS alone: its one column as it is
        return _Prepared(None, X, y)
    prep = clone(prep)
    return _Prepared(prep, prep.fit_transform(X, y), y)


def _inner_data(prep, X: pd.DataFrame, target: Target, splits) -> list:
    """Per inner split: the preprocessing fitted on its training part, and its test values."""
    out = []
    for itr, ite in splits:
        p = _prepare(prep, X.iloc[itr], target)
        out.append((p, p.transform(X.iloc[ite]), target.y_fit(X.index[ite]), ite))
    return out


def _model_params(grid_params: Mapping) -> dict:
    """Grid-search keys of :func:`param_grid` (``model__...``) as the bare model's parameters."""
    return {k.removeprefix("model__"): v for k, v in grid_params.items()}


def _tune(proto, grid: Mapping, fitted: _Prepared, inner: list, n: int, target: Target,
          need_oof: bool):  # fmt: skip
    """Grid search by inner cross-validation, keeping the best candidate's inner predictions.

    Like :class:`~sklearn.model_selection.GridSearchCV` (mean inner score, first best
    candidate in grid order, refit on all of the training samples), on the preprocessed values
    of :func:`_inner_data`; the inner out-of-fold predictions of the chosen candidate are
    returned too: the molecular predictions of the training patients that the CRS
    comparison's Cox models are fitted on, obtained without refitting.

    Returns
    -------
    estimator, dict, ndarray or None
        The refitted best model, its parameters (grid keys), and its inner out-of-fold
        predictions (probabilities or risk, samples x columns) when the inner CV ran.
    """
    candidates = list(_grid_points(grid))
    if len(candidates) == 1 and not need_oof:
        params = candidates[0]
        est = clone(proto).set_params(**_model_params(params)).fit(fitted.train, fitted.y)
        return est, params, None
    if _is_forest(proto, target):
        return _tune_out_of_bag(proto, candidates, fitted, target)
    n_out = 1 if target.kind == "survival" else len(target.classes)
    oofs = [np.full((n, n_out), np.nan) for _ in candidates]
    scores = [[] for _ in candidates]
    # a regularisation path: along C, each fit starts from the previous solution
    path = _warm_path(proto, candidates)
    for p, x_te, y_te, ite in inner:
        est = clone(proto).set_params(warm_start=True) if path else None
        for c in path or range(len(candidates)):
            if not path:
                est = clone(proto)
            est.set_params(**_model_params(candidates[c])).fit(p.train, p.y)
            pred = _predict(est, x_te, target)
            oofs[c][ite] = pred
            scores[c].append(_inner_score(target, y_te, pred))
    best = None
    for c in range(len(candidates)):  # the first best in grid order, as GridSearchCV
        mean = float(np.nanmean(scores[c])) if np.isfinite(scores[c]).any() else -np.inf
        if best is None or mean > best[0]:
            best = (mean, c)
    params = candidates[best[1]]
    est = clone(proto).set_params(**_model_params(params)).fit(fitted.train, fitted.y)
    return est, params, oofs[best[1]]


def _warm_path(proto, candidates: list) -> list[int] | None:
    """Candidate order of a warm-started regularisation path (strong to weak penalty), for
    a logistic regression whose candidates differ only in ``C``; None otherwise."""
    from sklearn.linear_model import LogisticRegression

    if not isinstance(proto, LogisticRegression) or len(candidates) < 2:
        return None
    others = [{k: v for k, v in c.items() if k != "model__C"} for c in candidates]
    if "model__C" not in candidates[0] or any(o != others[0] for o in others):
        return None
    return sorted(range(len(candidates)), key=lambda c: candidates[c]["model__C"])


def _is_forest(proto, target: Target) -> bool:
    from sklearn.ensemble import RandomForestClassifier

    return isinstance(proto, RandomForestClassifier) and target.kind != "survival"


def _tune_out_of_bag(proto, candidates: list, fitted: _Prepared, target: Target):
    """A random forest tuned on its out-of-bag predictions: each training sample is predicted
    by the trees whose bootstrap sample left it out, an out-of-sample estimate that costs no
    inner cross-validation. The best candidate (first best in grid order) is already fitted
    on all training samples; its out-of-bag probabilities are the inner predictions."""
    best = None
    for params in candidates:
        est = clone(proto).set_params(**_model_params(params), oob_score=True)
        est.fit(fitted.train, fitted.y)
        oob = np.asarray(est.oob_decision_function_, dtype=float)
        oob = np.where(np.isfinite(oob), oob, 1.0 / oob.shape[1])  # never out of bag: prior
        proba = np.zeros((len(oob), len(target.classes)))
        for k, c in enumerate(est.classes_):
            proba[:, list(target.classes).index(c)] = oob[:, k]
        score = _inner_score(target, fitted.y, proba)
        if best is None or score > best[0]:
            best = (score, params, est, proba)
    return best[2], best[1], best[3]


def _whole(fitted: _Prepared, est):
    """The fitted preprocessing and model as one pipeline (the model itself without one)."""
    if fitted.prep is None:
        return est
    return Pipeline([*fitted.prep.steps, ("model", est)])


def _grid_points(grid: Mapping):
    from sklearn.model_selection import ParameterGrid

    return ParameterGrid(dict(grid)) if grid else [{}]


def _prepare_copy(fitted: _Prepared) -> _Prepared:
    """An independent copy of a fitted preprocessing (each final model owns its steps)."""
    import copy

    return _Prepared(copy.deepcopy(fitted.prep), fitted.train, fitted.y)
