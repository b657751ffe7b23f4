"""The models: a small Cox model (:class:`CoxPH`), :func:`make_model` and its grids
(:func:`param_grid`), and the pipelines (:func:`build_preprocessing`, :func:`build_pipeline`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from metpot.classify.options import CLASSIFIERS, DEFAULT_GRIDS, SURVIVAL_MODELS
from metpot.classify.transformers import (
    AsArray,
    DropMissing,
    Log2Transform,
    SignatureSelector,
    TopVariance,
    ZScore,
    check_matrix,
)
from metpot.config import schema_default
from metpot.errors import DataWarning, MetpotError, MetpotValueError, name_list


class CoxConvergenceWarning(ConvergenceWarning):
    """A :class:`CoxPH` fit that did not converge: its predictions are NaN, not a fake effect."""


class CoxPH(BaseEstimator):
    """Cox proportional hazards (:func:`metpot.survival.cox_ph`, Efron ties) with a Breslow
    baseline hazard; ``predict`` gives the linear predictor (higher = worse).

    ``fit(X, y)`` takes a scikit-survival structured array ``y`` (event, time). After the fit,
    ``converged_`` and ``n_iter_`` tell how the Newton iteration ended and ``coef_`` holds
    :func:`~metpot.survival.cox_ph`'s coefficients as they are (NaN for aliased covariates,
    ``aliased_``, which the linear predictor leaves out as R's ``predict.coxph`` does). A fit
    that did not converge (monotone likelihood: a coefficient diverges) emits a
    :class:`CoxConvergenceWarning` and predicts NaN: a failed fit never passes for a fit that
    found no effect.
    """

    def fit(self, X, y):
        """Fit the Cox model and its baseline hazard.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x covariates (a 1-D array is one covariate), finite values.
        y : numpy structured array
            ``(event, time)`` per sample, as scikit-survival's ``Surv.from_arrays``.

        Returns
        -------
        CoxPH
        """
        from metpot.survival import cox_ph

        x = check_matrix(self, _column(X), fit=True, allow_nan=False)
        if y is None:
            raise MetpotValueError(
                "CoxPH requires y to be passed, but the target y is None (a structured array "
                "(event, time))"
            )
        y = np.asarray(y)
        if y.dtype.names is None or len(y.dtype.names) < 2:
            raise MetpotValueError(
                f"CoxPH needs y as a structured array (event, time) as scikit-survival's "
                f"Surv.from_arrays makes, got an array of dtype {y.dtype}"
            )
        if y.shape != (x.shape[0],):
            raise MetpotValueError(f"CoxPH: y has shape {y.shape} for {x.shape[0]} samples in X")
        ev, tm = y.dtype.names[0], y.dtype.names[1]
        t, e = y[tm].astype(float), y[ev].astype(bool)
        self.n_features_in_ = x.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.mean_ = x.mean(axis=0)
        with warnings.catch_warnings():
            # cox_ph's own note of the same failure, re-emitted below as CoxConvergenceWarning
            warnings.filterwarnings("ignore", "Cox model did not converge", DataWarning)
            res = cox_ph(x - self.mean_, t, e)
        self.coef_ = np.asarray(res.coef, dtype=float)
        self.aliased_ = np.isnan(self.coef_)
        self.converged_ = bool(res.converged)
        self.n_iter_ = int(res.iterations)
        times = np.unique(t[e])
        self.event_times_ = times
        if not self.converged_:
            warnings.warn(
                f"Cox fit did not converge in {self.n_iter_} iterations ({x.shape[0]} samples, "
                f"{int(e.sum())} events, coefficients {np.round(self.coef_[:5], 3).tolist()}"
                f"{' ...' if self.coef_.size > 5 else ''}): "
                "its predictions are NaN",
                CoxConvergenceWarning,
                stacklevel=2,
            )
            self.cum_baseline_hazard_ = np.full(times.size, np.nan)
            return self
        lp = (x - self.mean_) @ np.where(self.aliased_, 0.0, self.coef_)
        risk = np.exp(lp)
        at_risk = np.array([risk[t >= s].sum() for s in times])
        deaths = np.array([np.sum(e & (t == s)) for s in times], dtype=float)
        self.cum_baseline_hazard_ = np.cumsum(deaths / at_risk)
        return self

    def predict(self, X) -> np.ndarray:
        """The linear predictor (centred at the training means; higher = worse).

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x the covariates of ``fit``.

        Returns
        -------
        numpy.ndarray
            One value per sample (NaN for a sample with a missing covariate); NaN
            everywhere when the fit did not converge.
        """
        check_is_fitted(self)
        x = check_matrix(self, _column(X), fit=False)  # NaN in, NaN out
        if not getattr(self, "converged_", True):  # (models saved before converged_ existed)
            return np.full(x.shape[0], np.nan)
        return (x - self.mean_) @ np.where(np.isnan(self.coef_), 0.0, self.coef_)

    def survival_at(self, X, times) -> np.ndarray:
        """Survival probabilities.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Samples x the covariates of ``fit``.
        times : array_like
            Times, in the unit of the training times.

        Returns
        -------
        numpy.ndarray
            Samples x ``times``.
        """
        check_is_fitted(self)
        idx = np.searchsorted(self.event_times_, np.asarray(times, float), side="right") - 1
        h0 = np.where(idx >= 0, self.cum_baseline_hazard_[np.maximum(idx, 0)], 0.0)
        return np.exp(-np.exp(self.predict(X))[:, None] * h0[None, :])

    def score(self, X, y) -> float:
        """Harrell's C of :meth:`predict` against ``y`` (a structured array (event, time))."""
        from metpot.survival import harrell_c

        y = np.asarray(y)
        return harrell_c(y[y.dtype.names[1]], y[y.dtype.names[0]], self.predict(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _column(X):
    """A 1-D array as one column (CoxPH takes a single covariate as a vector)."""
    return np.asarray(X)[:, None] if np.ndim(X) == 1 else X


def make_model(name: str, seed: int = 0):
    """A fresh, unfitted model.

    Parameters
    ----------
    name : str
        One of :data:`CLASSIFIERS` or :data:`SURVIVAL_MODELS`.
    seed : int
        ``random_state`` of the model.

    Returns
    -------
    estimator
    """
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            solver="saga", C=1.0, l1_ratio=0.5, max_iter=1000, tol=1e-2,
            class_weight="balanced", random_state=seed,
        )  # fmt: skip
    if name == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        return CalibratedClassifierCV(
            LinearSVC(C=0.01, class_weight="balanced", random_state=seed, max_iter=5000),
            method="sigmoid",
            cv=3,
        )
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        # "balanced_subsample": scikit-learn 1.9's "balanced" fails on labels like "1", "2"
        return RandomForestClassifier(
            n_estimators=100, class_weight="balanced_subsample", random_state=seed, n_jobs=1
        )
    if name == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=30, learning_rate=0.2, max_depth=3, early_stopping=False,
            class_weight="balanced", random_state=seed,
        )  # fmt: skip
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(16,), alpha=1.0, max_iter=200, random_state=seed)
    if name == "coxnet":
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        return CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=[0.1], fit_baseline_model=True)
    if name == "rsf":
        from sksurv.ensemble import RandomSurvivalForest

        return RandomSurvivalForest(
            n_estimators=100, min_samples_leaf=10, max_features="sqrt", random_state=seed,
            n_jobs=1,
        )  # fmt: skip
    if name == "crs":
        return CoxPH()
    raise MetpotError(f"unknown model {name!r} (known: {name_list(CLASSIFIERS + SURVIVAL_MODELS)})")


def param_grid(name: str, grid: Mapping[str, Sequence] | None = None) -> dict[str, list]:
    """A model's grid as grid-search parameters of :func:`build_pipeline`'s output."""
    grid = DEFAULT_GRIDS[name] if grid is None else grid
    out = {}
    for key, values in grid.items():
        values = list(values)
        if name == "svm" and key != "method":
            out[f"model__estimator__{key}"] = values
        elif name == "coxnet" and key == "alpha":
            out["model__alphas"] = [[float(v)] for v in values]
        else:
            out[f"model__{key}"] = values
    return out


def build_preprocessing(
    *,
    transform: str = "none",
    max_missing: float = 0.2,
    top_variance: int | None = 1000,
    signature: Mapping | None = None,
) -> Pipeline:
    """Everything before the model: transform, missing values, variance filter, scaling,
    optional signature selection; the output is a plain array.

    Parameters
    ----------
    transform : {"none", "log2"}
        Transform of the raw values.
    max_missing : float
        Columns with a larger missing fraction (in the training samples) are dropped.
    top_variance : int or None
        Columns kept per layer by variance (unsupervised pre-filter).
    signature : mapping, optional
        ``{"size": int, "quotas": {layer: int}}``: a supervised signature chosen within fit.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    steps = []
    if transform == "log2":
        steps.append(("log2", Log2Transform()))
    steps += [
        ("missing", DropMissing(max_missing)),
        ("variance", TopVariance(top_variance)),
        ("scale", ZScore()),
    ]
    if signature:
        quotas = dict(signature.get("quotas") or {}) or None
        steps.append(
            (
                "signature",
                SignatureSelector(
                    int(signature.get("size", schema_default("classify.signature.size"))), quotas
                ),
            )
        )
    steps.append(("array", AsArray()))
    return Pipeline(steps)


def build_pipeline(model: str, *, seed: int = 0, **preprocessing) -> Pipeline:
    """The whole learner: :func:`build_preprocessing` and the model.

    Parameters
    ----------
    model : str
        Model name (:func:`make_model`).
    seed : int
        Random seed of the model.
    **preprocessing
        ``transform``, ``max_missing``, ``top_variance``, ``signature`` of
        :func:`build_preprocessing`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Input: a frame with ``"<layer>:<feature>"`` columns (metpot's steps pass frames on;
        the model gets an array).
    """
    steps = build_preprocessing(**preprocessing).steps
    return Pipeline([*steps, ("model", make_model(model, seed))])


# Saved models (skops) name a class by its module: these keep the name they have always had,
# ``metpot.classify.<class>`` (metpot.model_io.TRUSTED_TYPES, model files already written),
# which the package re-exports.
CoxPH.__module__ = "metpot.classify"
CoxConvergenceWarning.__module__ = "metpot.classify"
