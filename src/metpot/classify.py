"""Classifiers that predict subtype and outcome, compared honestly with the clinical risk score.

Everything that learns is a scikit-learn estimator inside a :class:`~sklearn.pipeline.Pipeline`
fitted within the cross-validation folds, so nothing about a test patient (its label, its
features' distribution) reaches the model that predicts it:

    log2 (optional) -> drop features with too many missing, median imputation
    -> top-N variance per layer (unsupervised) -> z-score -> supervised signature (optional)
    -> model

* Inputs: ingested (raw, pre-preprocessing) layers as samples x features frames;
  :func:`feature_matrix` names the model's columns ``"<layer>:<feature>"``.
* Targets (:class:`Target`): categorical (``snf_subtype``, any clinical column), survival
  (time, event) and landmark (event before ``landmark_years``; patients censored earlier are
  excluded and counted). Build them with :func:`categorical_target`, :func:`survival_target`,
  :func:`landmark_target`, or all at once from config with :func:`build_targets`.
* Models: elastic-net logistic regression (saga), random forest, linear SVM with sigmoid-
  calibrated probabilities, histogram gradient boosting, a small MLP; for survival targets Cox
  elastic net and random survival forest (scikit-survival) and ``crs`` (a Cox model of the
  clinical risk score alone). :func:`make_model` builds each; :data:`DEFAULT_GRIDS` are their
  hyper-parameter grids.
* Nested cross-validation (:func:`fit_one`): outer repeated stratified K-fold
  (:func:`outer_folds`, a function of the samples, the stratification labels and the seed only,
  hence the same for every model, feature set and the CRS), inner grid search
  (:func:`_tune`, as :class:`~sklearn.model_selection.GridSearchCV`).
* Metrics are computed on each outer test fold; estimates are their mean over the K x R folds,
  with the corrected resampled t interval of Nadeau & Bengio (Mach Learn 2003): variance
  ``(1/J + n_test/n_train) s^2`` with ``J = K R`` folds, ``t`` with ``J - 1`` df. The plain
  t interval over folds is too narrow because the training sets overlap.
* Against the risk score (:func:`compare_with_crs`): inside every outer training fold, Cox
  models of the CRS alone, of the molecular prediction alone and of CRS + molecular prediction
  are fitted on the training patients (their molecular predictions are themselves out-of-fold
  within the training fold: inner cross-validation with the tuned hyper-parameters) and
  evaluated on the test fold; C-index differences are paired over folds (same corrected t),
  and decision-curve net benefit at the landmark is computed from the pooled out-of-fold
  predicted risks (:func:`net_benefit`).
* The final model per target, model and feature set is refitted on all patients (inner CV
  on all patients for the hyper-parameters) and described by a model card
  (:func:`model_card`); :func:`save_fit` writes it with :func:`metpot.model_io.save_model`.

:func:`run_classification` runs everything; the workflow can instead fan out one job per
(target, model, feature set) with :func:`fit_one` and gather with :func:`assemble`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from metpot.errors import MetpotError, name_list, warn_data

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_CONFIG",
    "DEFAULT_GRIDS",
    "SURVIVAL_MODELS",
    "CoxPH",
    "AsArray",
    "DropMissing",
    "Log2Transform",
    "SignatureSelector",
    "Target",
    "TopVariance",
    "ZScore",
    "assemble",
    "build_pipeline",
    "build_preprocessing",
    "build_targets",
    "categorical_target",
    "compare_with_crs",
    "feature_matrix",
    "fit_models",
    "fit_groups",
    "fit_one",
    "landmark_target",
    "make_model",
    "markers",
    "model_card",
    "net_benefit",
    "outer_folds",
    "plot_vs_crs",
    "resolve_config",
    "run_classification",
    "save_fit",
    "survival_target",
]

#: Classifiers for categorical and landmark targets, simplest first (ties go to the simpler).
CLASSIFIERS: tuple[str, ...] = ("logistic", "svm", "random_forest", "gradient_boosting", "mlp")
#: Models for survival targets, simplest first.
SURVIVAL_MODELS: tuple[str, ...] = ("crs", "coxnet", "rsf")
_SIMPLICITY = {m: i for i, m in enumerate(("crs", "coxnet", *CLASSIFIERS, "rsf"))}

#: Hyper-parameter grids (parameter of the model -> values). ``coxnet``'s ``alpha`` is its
#: single penalty (scikit-survival's ``alphas=[alpha]``); ``svm``'s ``C`` is the LinearSVC's.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "logistic": {"C": [0.05, 0.5], "l1_ratio": [0.5]},
    "svm": {"C": [0.001, 0.01]},
    "random_forest": {"min_samples_leaf": [1, 5]},
    "gradient_boosting": {"max_depth": [2, 3]},
    "mlp": {"alpha": [1.0, 10.0]},
    "coxnet": {"alpha": [0.05, 0.2], "l1_ratio": [0.5]},
    "rsf": {"min_samples_leaf": [5, 15]},
    "crs": {},
}

#: Defaults of the ``classify`` config section (see :func:`resolve_config`).
DEFAULT_CONFIG: dict = {
    "targets": ["snf_subtype"],
    "feature_sets": ["each", "all", "signature"],
    "signature": {"size": 31, "quotas": {}},
    # the model that earns its time on the demo and TCGA COAD (bench/README.md, "Which
    # classifiers by default"); the others are named in classify.models
    "models": {"logistic": {"grid": DEFAULT_GRIDS["logistic"]}},
    "survival_models": ["coxnet", "rsf", "crs"],
    "outer": {"folds": 5, "repeats": 2},
    "inner": {"folds": 3},
    "transform": "none",
    "max_missing": 0.2,
    "top_variance": 1000,
    "min_class_size": 10,
    "landmark_years": 3.0,
    "auc_landmarks_years": [1.0, 3.0, 5.0],
    "n_markers": 20,
    "seed": 1,
    "n_jobs": 1,
}

_UNIT_PER_YEAR = {"days": 365.25, "months": 12.0, "years": 1.0}
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SEP = ":"


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------


def resolve_config(config: Mapping | None = None) -> dict:
    """The ``classify`` config section with defaults filled in and checked.

    Parameters
    ----------
    config : mapping, optional
        The user's section (keys of :data:`DEFAULT_CONFIG`); model entries may give ``grid``.

    Returns
    -------
    dict
        A new dict: every key of :data:`DEFAULT_CONFIG`, user values first. A model's grid
        replaces the default grid as a whole.

    Raises
    ------
    MetpotError
        Unknown key or model, a bad number.
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise MetpotError(f"classify: unknown key(s) {name_list(unknown)}")
    out = {}
    for key, default in DEFAULT_CONFIG.items():
        value = config.get(key, default)
        if isinstance(default, dict) and key != "models":
            value = {**default, **dict(value or {})}
        out[key] = value
    models = {}
    for name, spec in (config.get("models") or DEFAULT_CONFIG["models"]).items():
        if name not in DEFAULT_GRIDS or name == "crs":
            known = [m for m in DEFAULT_GRIDS if m != "crs"]
            raise MetpotError(
                f"classify.models: unknown model {name!r} (known: {name_list(known)})"
            )
        spec = dict(spec or {})
        models[name] = {"grid": dict(spec.get("grid", DEFAULT_GRIDS[name]))}
    out["models"] = models
    for name in out["survival_models"]:
        if name not in SURVIVAL_MODELS:
            raise MetpotError(
                f"classify.survival_models: unknown model {name!r} "
                f"(known: {name_list(SURVIVAL_MODELS)})"
            )
    for key, sub, low in (("outer", "folds", 2), ("outer", "repeats", 1), ("inner", "folds", 2)):
        v = out[key][sub]
        if not isinstance(v, int | np.integer) or v < low:
            raise MetpotError(f"classify.{key}.{sub} must be an integer >= {low}, got {v!r}")
    size = out["signature"]["size"]
    if not isinstance(size, int | np.integer) or size < 1:
        raise MetpotError(f"classify.signature.size must be a positive integer, got {size!r}")
    if out["transform"] not in ("none", "log2"):
        raise MetpotError(f"classify.transform must be none or log2, got {out['transform']!r}")
    return out


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def _column(layer: str, feature: object) -> str:
    return f"{layer}{SEP}{feature}"


def _split_column(column: str) -> tuple[str, str]:
    layer, _, feature = str(column).partition(SEP)
    return layer, feature


def feature_set_layers(layers: Sequence[str], feature_set: str) -> list[str]:
    """Layers a feature set draws on: one layer, or every layer for ``all``/``signature``."""
    layers = list(layers)
    if feature_set in ("all", "signature"):
        return layers
    if feature_set in layers:
        return [feature_set]
    raise MetpotError(
        f"classify.feature_sets: unknown feature set {feature_set!r} "
        f"(layers: {name_list(layers)}; or all, signature)"
    )


def expand_feature_sets(layers: Sequence[str], feature_sets: Sequence[str]) -> list[str]:
    """Config feature sets with ``each`` expanded to every layer name (order kept)."""
    out: list[str] = []
    for fs in feature_sets:
        for name in list(layers) if fs == "each" else [fs]:
            feature_set_layers(layers, name)
            if name not in out:
                out.append(name)
    return out


def feature_matrix(layers: Mapping[str, pd.DataFrame], feature_set: str) -> pd.DataFrame:
    """Model input of a feature set: the layers' columns named ``"<layer>:<feature>"``.

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Ingested layers, samples x features, with the same samples (any order; the first
        layer's order is kept).
    feature_set : str
        A layer name, ``"all"`` or ``"signature"`` (both: every layer).

    Returns
    -------
    pandas.DataFrame
        Samples x columns, float.

    Raises
    ------
    MetpotError
        Unknown feature set, or layers whose samples differ.
    """
    names = feature_set_layers(layers.keys(), feature_set)
    first = next(iter(layers))
    index = layers[first].index
    parts = []
    for name in names:
        X = layers[name]
        if set(X.index) != set(index) or len(X.index) != len(index):
            diff = sorted(set(X.index) ^ set(index), key=str)
            raise MetpotError(
                f"layer {name}: samples differ from layer {first}'s ({name_list(diff)}); "
                "align the layers first"
            )
        X = X.loc[index]
        part = X.astype(float)
        part.columns = [_column(name, c) for c in X.columns]
        parts.append(part)
    out = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    out.index = pd.Index([str(s) for s in index], name="sample_id")
    return out


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A prediction target over some samples.

    Attributes
    ----------
    name : str
    kind : {"categorical", "survival", "landmark"}
    y : pandas.Series or pandas.DataFrame
        Categorical/landmark: labels indexed by sample (landmark: 1 = event before the
        landmark, 0 = event-free at it). Survival: ``time`` (float) and ``event`` (bool).
    survival : pandas.DataFrame, optional
        ``time``/``event`` of the samples (survival and landmark targets).
    landmark : float, optional
        Landmark in the clinical time unit (landmark targets).
    excluded : dict
        Reason -> list of samples left out.
    """

    name: str
    kind: str
    y: pd.Series | pd.DataFrame
    survival: pd.DataFrame | None = None
    landmark: float | None = None
    excluded: dict[str, list[str]] = field(default_factory=dict)

    @property
    def samples(self) -> list[str]:
        """Samples of the target, in order."""
        return [str(s) for s in self.y.index]

    @property
    def classes(self) -> list:
        """Sorted class labels (empty for survival targets)."""
        if self.kind == "survival":
            return []
        return sorted(pd.unique(self.y))

    @property
    def strata(self) -> np.ndarray:
        """Labels the folds are stratified on (the class, or the event indicator)."""
        if self.kind == "survival":
            return self.y["event"].to_numpy().astype(int)
        return self.y.to_numpy()

    def y_fit(self, samples: Sequence[str] | None = None):
        """What estimators are fitted on: labels, or a scikit-survival structured array."""
        y = self.y if samples is None else self.y.loc[list(samples)]
        if self.kind == "survival":
            return _surv_array(y["time"], y["event"])
        return y.to_numpy()

    @property
    def n_excluded(self) -> int:
        """Number of samples left out."""
        return sum(len(v) for v in self.excluded.values())


def _surv_array(time, event) -> np.ndarray:
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = np.asarray(event, dtype=bool)
    out["time"] = np.asarray(time, dtype=float)
    return out


def categorical_target(values: pd.Series, name: str, min_class_size: int = 10) -> Target:
    """A categorical target; missing labels and classes smaller than ``min_class_size`` are
    left out with a :class:`~metpot.errors.DataWarning` naming them.

    Parameters
    ----------
    values : pandas.Series
        Label per sample (indexed by sample id).
    name : str
        Target name (e.g. ``snf_subtype`` or the clinical column).
    min_class_size : int
        Smallest class kept: a class too small to appear in every stratified fold cannot be
        learnt or evaluated honestly.

    Returns
    -------
    Target

    Raises
    ------
    MetpotError
        Fewer than two classes remain.
    """
    s = pd.Series(values).copy()
    s.index = [str(i) for i in s.index]
    excluded: dict[str, list[str]] = {}
    missing = s.isna() | (s.astype(str).str.strip() == "")
    if missing.any():
        excluded["missing label"] = list(s.index[missing])
        warn_data(
            f"target {name}: {int(missing.sum())} sample(s) without a label left out: "
            f"{name_list(s.index[missing])}"
        )
    s = s[~missing].astype(str)
    counts = s.value_counts()
    small = sorted(counts.index[counts < min_class_size], key=str)
    if small:
        drop = s.isin(small)
        excluded["class smaller than min_class_size"] = list(s.index[drop])
        warn_data(
            f"target {name}: class(es) "
            + ", ".join(f"{c} ({counts[c]} samples)" for c in small)
            + f" smaller than classify.min_class_size={min_class_size} left out "
            f"({int(drop.sum())} samples: {name_list(s.index[drop])})"
        )
        s = s[~drop]
    if s.nunique() < 2:
        raise MetpotError(
            f"target {name}: fewer than two classes with >= {min_class_size} samples "
            f"(counts: {dict(counts)})"
        )
    s.name = name
    return Target(name=name, kind="categorical", y=s, excluded=excluded)


def survival_target(survival: pd.DataFrame, name: str) -> Target:
    """A survival target from a ``time``/``event`` frame (e.g. ``survival.survival_frame``).

    Parameters
    ----------
    survival : pandas.DataFrame
        ``time`` and ``event`` by sample id (usable patients only).
    name : str
        Target name (e.g. ``os``).

    Returns
    -------
    Target
    """
    y = survival[["time", "event"]].copy()
    y.index = [str(i) for i in y.index]
    y["time"] = y["time"].astype(float)
    y["event"] = y["event"].astype(bool)
    if y["event"].sum() < 2:
        raise MetpotError(f"target {name}: fewer than two events")
    return Target(name=name, kind="survival", y=y, survival=y)


def landmark_target(
    survival: pd.DataFrame, name: str, landmark_years: float, time_unit: str = "months"
) -> Target:
    """Event before a landmark (1) or event-free at it (0).

    Patients censored before the landmark have no answer: they are left out, named in a
    :class:`~metpot.errors.DataWarning` and counted in ``Target.excluded``.

    Parameters
    ----------
    survival : pandas.DataFrame
        ``time``/``event`` by sample id.
    name : str
        Target name.
    landmark_years : float
        Landmark in years.
    time_unit : {"days", "months", "years"}
        Unit of ``time``.

    Returns
    -------
    Target
    """
    if time_unit not in _UNIT_PER_YEAR:
        raise MetpotError(f"time_unit must be days, months or years, got {time_unit!r}")
    landmark = float(landmark_years) * _UNIT_PER_YEAR[time_unit]
    s = survival[["time", "event"]].copy()
    s.index = [str(i) for i in s.index]
    t, e = s["time"].to_numpy(float), s["event"].to_numpy(bool)
    event = e & (t <= landmark)
    censored = ~e & (t < landmark)
    excluded = {}
    if censored.any():
        excluded[f"censored before {landmark_years:g} years"] = list(s.index[censored])
        warn_data(
            f"target {name}: {int(censored.sum())} of {len(s)} patients censored before the "
            f"{landmark_years:g}-year landmark left out: {name_list(s.index[censored])}"
        )
    keep = ~censored
    y = pd.Series(event[keep].astype(int), index=s.index[keep], name=name)
    if y.nunique() < 2:
        raise MetpotError(f"target {name}: all usable patients have the same landmark status")
    return Target(
        name=name, kind="landmark", y=y, survival=s.loc[keep], landmark=landmark, excluded=excluded
    )


def build_targets(
    names: Sequence[str],
    *,
    clinical: pd.DataFrame | None = None,
    subtypes: pd.Series | None = None,
    endpoints: Mapping[str, pd.DataFrame] | None = None,
    landmark_years: float = 3.0,
    time_unit: str = "months",
    min_class_size: int = 10,
) -> dict[str, Target]:
    """Targets named in ``classify.targets``.

    ``snf_subtype`` is ``subtypes``; an endpoint name (``os``, ``pfs``: keys of ``endpoints``)
    is a survival target; ``<endpoint>_landmark`` is the landmark target of that endpoint at
    ``landmark_years``; any other name is a categorical column of ``clinical``.

    Parameters
    ----------
    names : sequence of str
        Target names.
    clinical : pandas.DataFrame, optional
        Clinical table indexed by sample id.
    subtypes : pandas.Series, optional
        The workflow's subtype per sample.
    endpoints : mapping, optional
        Endpoint name -> ``time``/``event`` frame.
    landmark_years, time_unit, min_class_size
        See :func:`landmark_target` and :func:`categorical_target`.

    Returns
    -------
    dict
        Name -> :class:`Target`.
    """
    endpoints = dict(endpoints or {})
    out = {}
    for name in names:
        if name in endpoints:
            out[name] = survival_target(endpoints[name], name)
        elif name.endswith("_landmark") and name[: -len("_landmark")] in endpoints:
            out[name] = landmark_target(
                endpoints[name[: -len("_landmark")]], name, landmark_years, time_unit
            )
        elif name == "snf_subtype":
            if subtypes is None:
                raise MetpotError("classify.targets: snf_subtype needs the workflow's subtypes")
            out[name] = categorical_target(subtypes, name, min_class_size)
        else:
            if clinical is None or name not in clinical.columns:
                cols = [] if clinical is None else list(clinical.columns)
                raise MetpotError(
                    f"classify.targets: {name!r} is neither snf_subtype, an endpoint "
                    f"({name_list(endpoints) or 'none'}) nor a clinical column "
                    f"({name_list(cols)})"
                )
            out[name] = categorical_target(clinical[name], name, min_class_size)
    return out


# ---------------------------------------------------------------------------------------------
# transformers
# ---------------------------------------------------------------------------------------------


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
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
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


# ---------------------------------------------------------------------------------------------
# a small Cox model (CRS alone, and the Cox models of the CRS comparison)
# ---------------------------------------------------------------------------------------------


class CoxPH(BaseEstimator):
    """Cox proportional hazards (:func:`metpot.survival.cox_ph`, Efron ties) with a Breslow
    baseline hazard; ``predict`` gives the linear predictor (higher = worse).

    ``fit(X, y)`` takes a scikit-survival structured array ``y`` (event, time).
    """

    def fit(self, X, y):
        from metpot.survival import cox_ph

        x = np.asarray(X, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        y = np.asarray(y)
        ev, tm = y.dtype.names[0], y.dtype.names[1]
        t, e = y[tm].astype(float), y[ev].astype(bool)
        self.n_features_in_ = x.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.mean_ = x.mean(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = cox_ph(x - self.mean_, t, e)
        self.coef_ = np.nan_to_num(np.asarray(res.coef, dtype=float))
        lp = (x - self.mean_) @ self.coef_
        times = np.unique(t[e])
        risk = np.exp(lp)
        at_risk = np.array([risk[t >= s].sum() for s in times])
        deaths = np.array([np.sum(e & (t == s)) for s in times], dtype=float)
        self.event_times_ = times
        self.cum_baseline_hazard_ = np.cumsum(deaths / at_risk)
        return self

    def predict(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        return (x - self.mean_) @ self.coef_

    def survival_at(self, X, times) -> np.ndarray:
        """Survival probabilities, samples x ``times``."""
        idx = np.searchsorted(self.event_times_, np.asarray(times, float), side="right") - 1
        h0 = np.where(idx >= 0, self.cum_baseline_hazard_[np.maximum(idx, 0)], 0.0)
        return np.exp(-np.exp(self.predict(X))[:, None] * h0[None, :])

    def score(self, X, y) -> float:
        from metpot.survival import harrell_c

        y = np.asarray(y)
        return harrell_c(y[y.dtype.names[1]], y[y.dtype.names[0]], self.predict(X))


# ---------------------------------------------------------------------------------------------
# models and pipelines
# ---------------------------------------------------------------------------------------------


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
        steps.append(("signature", SignatureSelector(int(signature.get("size", 31)), quotas)))
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


# ---------------------------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------------------------


def outer_folds(
    samples: Sequence[str], strata: Sequence, n_splits: int = 5, n_repeats: int = 2, seed: int = 1
) -> pd.DataFrame:
    """Outer folds: repeated stratified K-fold, a function of samples, strata and seed only.

    Parameters
    ----------
    samples : sequence of str
        Sample ids.
    strata : sequence
        Stratification label per sample (class, or event indicator).
    n_splits, n_repeats : int
        K and the number of repeats.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample``, ``repeat``, ``fold`` (0-based): the fold in which each sample is
        a test sample, for each repeat.
    """
    samples = [str(s) for s in samples]
    strata = np.asarray(strata)
    counts = pd.Series(strata).value_counts()
    if counts.min() < n_splits:
        warn_data(
            f"stratum {counts.idxmin()!r} has {counts.min()} samples, fewer than "
            f"{n_splits} outer folds: some test folds lack it"
        )
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, test) in enumerate(cv.split(np.zeros(len(samples)), strata)):
            r, f = divmod(k, n_splits)
            rows += [(samples[i], r, f) for i in test]
    out = pd.DataFrame(rows, columns=["sample", "repeat", "fold"])
    return out.sort_values(["repeat", "fold", "sample"], kind="stable").reset_index(drop=True)


def _fold_indices(folds: pd.DataFrame, samples: Sequence[str]):
    """(repeat, fold, train_idx, test_idx) over ``samples`` (those absent from folds ignored)."""
    pos = {s: i for i, s in enumerate(samples)}
    out = []
    for (r, f), grp in folds.groupby(["repeat", "fold"], sort=True):
        test = np.array(sorted(pos[s] for s in grp["sample"] if s in pos), dtype=int)
        in_rep = folds.loc[folds["repeat"] == r, "sample"]
        all_rep = np.array(sorted(pos[s] for s in in_rep if s in pos), dtype=int)
        train = np.setdiff1d(all_rep, test)
        out.append((int(r), int(f), train, test))
    return out


def _inner_splits(strata: np.ndarray, n_splits: int, seed: int) -> list:
    counts = pd.Series(strata).value_counts()
    k = int(min(n_splits, max(2, counts.min())))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(cv.split(np.zeros(len(strata)), strata))


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------


def _classification_metrics(y_true, proba: np.ndarray, classes: list) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss, roc_auc_score

    y_true = np.asarray(y_true)
    pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    onehot = (y_true[:, None] == np.asarray(classes, dtype=object)[None, :]).astype(float)
    out = {
        "balanced_accuracy": float(balanced_accuracy_score(y_true.astype(str), pred.astype(str))),
        "macro_f1": float(
            f1_score(y_true.astype(str), pred.astype(str), average="macro", zero_division=0)
        ),
    }
    aucs = []
    for k in range(len(classes)):
        pos = onehot[:, k]
        if 0 < pos.sum() < len(pos):
            aucs.append(roc_auc_score(pos, proba[:, k]))
        if len(classes) == 2:
            break
    out["auroc"] = float(np.mean(aucs)) if aucs else float("nan")
    p = np.clip(proba, 1e-15, 1.0)
    out["log_loss"] = float(log_loss(onehot, p / p.sum(axis=1, keepdims=True)))
    out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    return out


def _survival_metrics(
    y_train: np.ndarray,
    y_test: np.ndarray,
    risk: np.ndarray,
    surv_fn,
    auc_times: Sequence[float],
    auc_names: Sequence[str],
) -> dict[str, float]:
    from sksurv.metrics import cumulative_dynamic_auc, integrated_brier_score

    from metpot.survival import harrell_c, uno_c

    t, e = y_test["time"], y_test["event"]
    out = {"harrell_c": harrell_c(t, e, risk), "uno_c": uno_c(t, e, risk)}
    tr_max = y_train["time"][y_train["event"]].max() if y_train["event"].any() else 0
    for lt, name in zip(auc_times, auc_names, strict=True):
        value = float("nan")
        if t.min() < lt < t.max() and lt < tr_max:
            try:
                value = float(cumulative_dynamic_auc(y_train, y_test, risk, [lt])[0][0])
            except ValueError:
                pass
        out[name] = value
    lo = max(np.quantile(t, 0.1), y_train["time"].min())
    hi = min(np.quantile(t, 0.8), t.max() * (1 - 1e-9), y_train["time"].max())
    ibs = float("nan")
    if surv_fn is not None and hi > lo:
        grid = np.linspace(lo, hi, 20)
        try:
            ibs = float(integrated_brier_score(y_train, y_test, surv_fn(grid), grid))
        except ValueError:
            pass
    out["integrated_brier"] = ibs
    return out


def _t_interval(values, ratio: float, conf: float = 0.95) -> tuple[float, float, float]:
    """Mean and corrected resampled t interval (Nadeau & Bengio 2003) over fold values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    se = float(np.sqrt((1.0 / v.size + ratio) * v.var(ddof=1)))
    q = float(stats.t.ppf(0.5 + conf / 2, v.size - 1))
    return m, m - q * se, m + q * se


_UNIT_INTERVAL = ("balanced_accuracy", "macro_f1", "auroc", "harrell_c", "uno_c", "td_auc_")


def _clip(metric: str, est: float, lo: float, hi: float) -> tuple[float, float, float]:
    """Keep an interval of a metric bounded by [0, 1] (or >= 0) within its range."""
    if metric.startswith(_UNIT_INTERVAL):
        return est, max(lo, 0.0), min(hi, 1.0)
    return est, max(lo, 0.0), hi


def _t_test(values, ratio: float) -> float:
    """Two-sided p-value of the corrected resampled t test that the mean is 0."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    se = float(np.sqrt((1.0 / v.size + ratio) * v.var(ddof=1)))
    if se == 0:
        return 0.0 if v.mean() != 0 else 1.0
    return float(2 * stats.t.sf(abs(v.mean() / se), v.size - 1))


CI_METHOD = (
    "mean over outer folds x repeats, corrected resampled t (Nadeau-Bengio 2003), "
    "clipped to the metric's range"
)
#: Primary metric by target kind (higher is better), used to pick the best model.
PRIMARY_METRIC = {"categorical": "balanced_accuracy", "landmark": "auroc", "survival": "harrell_c"}
_LOWER_IS_BETTER = {"log_loss", "brier", "integrated_brier"}


# ---------------------------------------------------------------------------------------------
# one (target, model, feature set)
# ---------------------------------------------------------------------------------------------


def _landmark_names(years: Sequence[float]) -> list[str]:
    return [f"td_auc_{y:g}y" for y in years]


def _mol_covariates(p: np.ndarray) -> np.ndarray:
    """Cox covariates of a molecular prediction: risk, or probabilities less the first class."""
    return p if p.shape[1] == 1 else p[:, 1:]


def _surv_fn(est, X: pd.DataFrame):
    """times -> survival matrix (samples x times), or None if the model has no such output."""
    final = est[-1] if isinstance(est, Pipeline) else est
    if isinstance(final, CoxPH):
        return lambda times: final.survival_at(X, times)
    if not hasattr(final, "predict_survival_function"):
        return None
    Xt = est[:-1].transform(X) if isinstance(est, Pipeline) else X
    fns = final.predict_survival_function(Xt)

    def at(times):
        out = np.empty((len(fns), len(times)))
        for i, fn in enumerate(fns):
            lo, hi = fn.domain
            out[i] = fn(np.clip(times, lo, hi))
        return out

    return at


def _n_model_features(est) -> int:
    final = est[-1] if isinstance(est, Pipeline) else est
    return int(getattr(final, "n_features_in_", 0))


def _crs_fold(crs_tr, mol_tr, y_tr, crs_te, mol_te, landmark):
    """Cox models of CRS, molecular and CRS + molecular fitted on train, applied to test."""
    out = {}
    designs = {
        "crs": (crs_tr[:, None], crs_te[:, None]),
        "molecular": (_mol_covariates(mol_tr), _mol_covariates(mol_te)),
        "crs_molecular": (
            np.column_stack([crs_tr, _mol_covariates(mol_tr)]),
            np.column_stack([crs_te, _mol_covariates(mol_te)]),
        ),
    }
    for name, (a, b) in designs.items():
        cox = CoxPH().fit(a, y_tr)
        out[f"lp_{name}"] = cox.predict(b)
        if landmark is not None:
            out[f"p_{name}"] = 1.0 - cox.survival_at(b, [landmark])[:, 0]
    return out


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


def _balanced_accuracy(y_true: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (scikit-learn's
    ``balanced_accuracy_score``, same arithmetic, without its input validation)."""
    labels, inv = np.unique(y_true, return_inverse=True)
    hits = np.bincount(inv, weights=(y_true == pred).astype(float), minlength=len(labels))
    return float(np.mean(hits / np.bincount(inv, minlength=len(labels))))


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


@contextmanager
def _quiet_fits():
    """One thread per fold (the folds are the parallel units; OpenMP and BLAS threads on top
    would oversubscribe the cores), and the inner fits' convergence notes silenced."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1), np.errstate(all="ignore"):
        # convergence notes of the inner fits, and scikit-survival's divisions by zero at
        # time points without anyone at risk (those metrics come out NaN and are counted)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _one_fold(
    prep, specs, X, target: Target, tr, te, inner_k, seed, auc_times, auc_names,
    crs: pd.Series | None, outcome: pd.DataFrame | None, landmark: float | None,
):  # fmt: skip
    """One outer fold for every model: the preprocessing fitted once on the training fold
    (and once per inner split), each model tuned on it and evaluated on the test fold;
    optionally the CRS comparison. Returns one result per model of ``specs``."""
    cpu0 = time.process_time()
    samples = X.index
    Xtr = X.iloc[tr]
    splits = _inner_splits(target.strata[tr], inner_k, seed)
    compare = crs is not None and outcome is not None
    out = []
    with _quiet_fits():
        fitted = _prepare(prep, Xtr, target)
        need_inner = compare or any(len(list(_grid_points(g))) > 1 for _, g in specs)
        inner = _inner_data(prep, Xtr, target, splits) if need_inner else []
        x_te = fitted.transform(X.iloc[te])
        shared = time.process_time() - cpu0
        for proto, grid in specs:
            c0 = time.process_time()
            est, best, oof = _tune(proto, grid, fitted, inner, len(tr), target, compare)
            pred = _predict(est, x_te, target)
            res = {"test": te, "best_params": best, "n_features": _n_model_features(est)}
            if target.kind == "survival":
                res["risk"] = pred[:, 0]
                res["metrics"] = _survival_metrics(
                    target.y_fit(samples[tr]), target.y_fit(samples[te]), pred[:, 0],
                    _surv_fn(_whole(fitted, est), X.iloc[te]), auc_times, auc_names,
                )  # fmt: skip
            else:
                res["proba"] = pred
                res["metrics"] = _classification_metrics(
                    target.y.to_numpy()[te], pred, target.classes
                )
            if compare:
                res["crs"] = _crs_comparison_fold(samples, tr, te, oof, pred, crs, outcome,
                                                  landmark)  # fmt: skip
            res["cpu_seconds"] = time.process_time() - c0 + shared / len(specs)
            out.append(res)
    return out


def _grid_points(grid: Mapping):
    from sklearn.model_selection import ParameterGrid

    return ParameterGrid(dict(grid)) if grid else [{}]


def _crs_comparison_fold(samples, tr, te, mol_tr, mol_te, crs, outcome, landmark):
    """CRS / molecular / CRS + molecular Cox models for one outer fold (never in-sample).

    ``mol_tr``: the training patients' molecular predictions from the inner CV (each made
    by a model that did not see that patient); ``mol_te``: the test patients' predictions
    from the model tuned and fitted on the training fold.
    """
    ok = samples.isin(crs.dropna().index) & samples.isin(outcome.index)
    tr_ok, te_ok = tr[ok[tr]], te[ok[te]]
    if len(te_ok) == 0 or len(tr_ok) < 10:
        return None
    o_tr = outcome.loc[samples[tr_ok]]
    y_tr = _surv_array(o_tr["time"], o_tr["event"])
    if not y_tr["event"].any():
        return None
    fold = _crs_fold(
        crs.loc[samples[tr_ok]].to_numpy(float), mol_tr[ok[tr]], y_tr,
        crs.loc[samples[te_ok]].to_numpy(float), mol_te[ok[te]], landmark,
    )  # fmt: skip
    fold["test"] = te_ok
    return fold


def fit_one(
    target: Target,
    model: str,
    feature_set: str,
    layers: Mapping[str, pd.DataFrame],
    config: Mapping | None = None,
    **kwargs,
) -> dict:
    """Nested cross-validation of one (target, model, feature set), and its final model.

    :func:`fit_models` with one model (same parameters, ``model`` instead of ``models``).

    Returns
    -------
    dict
        The one result of :func:`fit_models`.
    """
    return fit_models(target, [model], feature_set, layers, config, **kwargs)[0]


def fit_models(
    target: Target,
    models: Sequence[str],
    feature_set: str,
    layers: Mapping[str, pd.DataFrame],
    config: Mapping | None = None,
    *,
    crs: pd.Series | None = None,
    outcome: pd.DataFrame | None = None,
    time_unit: str = "months",
    cohort: Mapping | None = None,
    refit: bool = True,
) -> list[dict]:
    """Nested cross-validation of several models on one (target, feature set), and their
    final models.

    Every model sees the same outer folds, and within each training set (outer or inner) the
    preprocessing is fitted once and shared by the models: the result of each model is the
    one its own pipeline would give, at a fraction of the cost.

    Parameters
    ----------
    target : Target
        The target.
    models : sequence of str
        Classifiers (categorical/landmark targets), survival models, or ``crs`` (survival
        targets: a Cox model of the clinical risk score alone; ``feature_set`` is ignored and
        ``crs`` must be the only model).
    feature_set : str
        A layer name, ``all`` or ``signature``.
    layers : mapping of str to pandas.DataFrame
        Ingested layers (samples x features), containing every target sample.
    config : mapping, optional
        The ``classify`` section (:func:`resolve_config` is applied).
    crs : pandas.Series, optional
        Clinical risk score (0-5) by sample, NaN where unscored. With ``outcome`` (or a
        survival/landmark target), each outer fold also fits the Cox models of the CRS
        comparison (see :func:`compare_with_crs`).
    outcome : pandas.DataFrame, optional
        ``time``/``event`` of the endpoint the CRS comparison is made on (default: the
        target's own survival for survival and landmark targets).
    time_unit : str
        Unit of the survival times (for the landmarks).
    cohort : mapping, optional
        ``{"name": ..., "checksums": {...}}`` recorded in the model card.
    refit : bool
        Refit the final models on all samples.

    Returns
    -------
    list of dict
        Per model, in order: ``rows`` (long metrics table), ``fold_metrics`` (per outer fold),
        ``predictions`` (out-of-fold), ``folds`` (:func:`outer_folds` table), ``final``
        (fitted pipeline or None), ``card`` (model card), ``features`` (selected features with
        weights), ``best_params`` (per fold), ``target``, ``model``, ``feature_set``,
        ``kind``, ``cpu_seconds`` (the model's own CPU and its share of the preprocessing).
    """
    from joblib import Parallel, delayed

    wall0, cpu0 = time.perf_counter(), time.process_time()
    cfg = resolve_config(config)
    seed = int(cfg["seed"])
    models = list(models)
    if not models:
        raise MetpotError("fit_models needs at least one model")
    valid = SURVIVAL_MODELS if target.kind == "survival" else CLASSIFIERS
    for model in models:
        if model == "crs" and target.kind != "survival":
            raise MetpotError(f"model crs is for survival targets, not {target.name}")
        if model not in valid:
            raise MetpotError(
                f"model {model!r} does not fit a {target.kind} target ({target.name}); "
                f"use one of {name_list(valid)}"
            )
    if "crs" in models:
        if len(models) > 1:
            raise MetpotError("model crs is fitted alone (it uses no features)")
        feature_set = "crs"
    folds = outer_folds(
        target.samples, target.strata, cfg["outer"]["folds"], cfg["outer"]["repeats"], seed
    )
    if outcome is None and target.survival is not None:
        outcome = target.survival
    if crs is not None:
        crs = pd.Series(crs, dtype=float).copy()
        crs.index = [str(i) for i in crs.index]
    landmark = float(cfg["landmark_years"]) * _UNIT_PER_YEAR[time_unit]
    if target.kind == "landmark":
        landmark = target.landmark

    if feature_set == "crs":
        if crs is None:
            raise MetpotError("model crs needs the clinical risk score")
        scored = [s for s in target.samples if s in crs.index and np.isfinite(crs.get(s))]
        X = pd.DataFrame({_column("clinical", "crs"): crs.loc[scored].to_numpy(float)})
        X.index = pd.Index(scored, name="sample_id")
        fit_target = Target(target.name, target.kind, target.y.loc[scored], target.survival)
        prep, specs = None, [(CoxPH(), {})]
        crs_arg = None
    else:
        missing = [s for s in target.samples if s not in layers[next(iter(layers))].index]
        if missing:
            raise MetpotError(
                f"target {target.name}: samples absent from the layers: {name_list(missing)}"
            )
        X = feature_matrix({k: v.loc[target.samples] for k, v in layers.items()}, feature_set)
        prep = build_preprocessing(
            transform=cfg["transform"],
            max_missing=float(cfg["max_missing"]),
            top_variance=cfg["top_variance"],
            signature=cfg["signature"] if feature_set == "signature" else None,
        )
        specs = []
        for model in models:
            spec = cfg["models"].get(model, {"grid": DEFAULT_GRIDS[model]})
            specs.append((make_model(model, seed), param_grid(model, spec["grid"])))
        fit_target = target
        crs_arg = crs if (crs is not None and outcome is not None) else None

    auc_years = list(cfg["auc_landmarks_years"])
    auc_times = [float(y) * _UNIT_PER_YEAR[time_unit] for y in auc_years]
    auc_names = _landmark_names(auc_years)
    splits = _fold_indices(folds, list(X.index))
    n_jobs = int(cfg["n_jobs"])
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_one_fold)(
            prep, specs, X, fit_target, tr, te, cfg["inner"]["folds"], seed, auc_times,
            auc_names, crs_arg, outcome, landmark,
        )  # fmt: skip
        for (_, _, tr, te) in splits
    )
    finals = _refit(prep, specs, X, fit_target, cfg, seed) if refit else [None] * len(specs)
    outs = []
    for k, model in enumerate(models):
        results = [fold[k] for fold in per_fold]
        out = _collect(fit_target, target, model, feature_set, X, splits, results, folds,
                       outcome, cfg)  # fmt: skip
        out["landmark"] = landmark
        if finals[k] is not None:
            final, params = finals[k]
            out["final"] = final
            out["features"] = feature_table(final, X, fit_target, model, feature_set)
            out["card"] = model_card(
                final, X, fit_target, model, feature_set, list(layers.keys()), cfg,
                out["rows"], params, cohort,
            )  # fmt: skip
        out["cpu_seconds"] = sum(r["cpu_seconds"] for r in results)
        outs.append(out)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if n_jobs != 1:  # CPU of the fold workers too (load-independent cost)
        cpu += sum(r["cpu_seconds"] for fold in per_fold for r in fold)
    for out in outs:  # the job's cost, shared equally (the models' own CPU is above)
        out["wall_seconds"] = wall / len(outs)
        out["job_cpu_seconds"] = cpu
    return outs


def _collect(fit_target, target, model, feature_set, X, splits, results, folds, outcome, cfg):
    """One model's fold results as its metrics, predictions and parameter tables."""
    fold_rows, pred_parts, best_rows = [], [], []
    classes = fit_target.classes
    for (r, f, tr, te), res in zip(splits, results, strict=True):
        fold_rows.append(
            {"repeat": r, "fold": f, "n_train": len(tr), "n_test": len(te), **res["metrics"]}
        )
        best_rows.append(
            {"repeat": r, "fold": f, "n_features": res["n_features"]}
            | _jsonable(res["best_params"])
        )
        part = pd.DataFrame({"sample": X.index[te].to_numpy(), "repeat": r, "fold": f})
        if target.kind == "survival":
            yy = fit_target.y.iloc[te]
            part["time"] = yy["time"].to_numpy()
            part["event"] = yy["event"].to_numpy()
            part["risk"] = res["risk"]
        else:
            part["truth"] = fit_target.y.iloc[te].to_numpy()
            part["prediction"] = np.asarray(classes, dtype=object)[np.argmax(res["proba"], 1)]
            for k, c in enumerate(classes):
                part[f"prob:{c}"] = res["proba"][:, k]
        comp = res.get("crs")
        if comp is not None:
            pos = {int(i): j for j, i in enumerate(comp["test"])}
            for key, vals in comp.items():
                if key == "test":
                    continue
                part[key] = [vals[pos[int(i)]] if int(i) in pos else np.nan for i in te]
        pred_parts.append(part)
    fold_metrics = pd.DataFrame(fold_rows)
    predictions = pd.concat(pred_parts, ignore_index=True)
    predictions.insert(0, "feature_set", feature_set)
    predictions.insert(0, "model", model)
    predictions.insert(0, "target", target.name)
    if outcome is not None and "lp_crs" in predictions.columns:
        o = outcome.reindex(predictions["sample"])
        predictions["outcome_time"] = o["time"].to_numpy(float)
        predictions["outcome_event"] = o["event"].to_numpy(float)
    best_params = pd.DataFrame(best_rows)
    n_features = int(np.median(best_params["n_features"]))
    ratio = 1.0 / (int(cfg["outer"]["folds"]) - 1)
    skip = ("repeat", "fold", "n_train", "n_test")
    metric_names = [c for c in fold_metrics.columns if c not in skip]
    rows = []
    for metric in metric_names:
        est, lo, hi = _clip(metric, *_t_interval(fold_metrics[metric], ratio))
        rows.append(
            {
                "target": target.name, "model": model, "feature_set": feature_set,
                "n_features": n_features, "metric": metric, "estimate": est,
                "ci_low": lo, "ci_high": hi, "n_samples": len(X),
                "n_folds": int(np.isfinite(fold_metrics[metric].to_numpy(float)).sum()),
                "ci_method": CI_METHOD,
            }
        )  # fmt: skip
    return {
        "target": target.name, "kind": target.kind, "model": model, "feature_set": feature_set,
        "rows": pd.DataFrame(rows), "fold_metrics": fold_metrics, "predictions": predictions,
        "folds": folds, "best_params": best_params, "final": None, "card": None,
        "features": None, "n_excluded": target.n_excluded, "excluded": target.excluded,
    }  # fmt: skip


def _jsonable(d: Mapping) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, list | tuple):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
            v = v[0] if len(v) == 1 else v
        out[k.replace("model__estimator__", "").replace("model__", "")] = v
    return out


def _refit(prep, specs, X, target, cfg, seed) -> list:
    """The final models on all samples (inner CV on all samples for the hyper-parameters)."""
    splits = _inner_splits(target.strata, cfg["inner"]["folds"], seed)
    out = []
    with _quiet_fits():
        fitted = _prepare(prep, X, target)
        need_inner = any(len(list(_grid_points(g))) > 1 for _, g in specs)
        inner = _inner_data(prep, X, target, splits) if need_inner else []
        for proto, grid in specs:
            est, params, _ = _tune(proto, grid, fitted, inner, len(X), target, need_oof=False)
            whole = est if prep is None else _whole(_prepare_copy(fitted), est)
            out.append((whole, _jsonable(params)))
    return out


def _prepare_copy(fitted: _Prepared) -> _Prepared:
    """An independent copy of a fitted preprocessing (each final model owns its steps)."""
    import copy

    return _Prepared(copy.deepcopy(fitted.prep), fitted.train, fitted.y)


# ---------------------------------------------------------------------------------------------
# final model description
# ---------------------------------------------------------------------------------------------


def used_columns(est, X: pd.DataFrame) -> list[str]:
    """Input columns the fitted pipeline's model actually uses (after every selection)."""
    if not isinstance(est, Pipeline):
        return list(X.columns)
    return [str(c) for c in est[:-1].get_feature_names_out()]


def feature_table(est, X: pd.DataFrame, target: Target, model: str, feature_set: str):
    """The final model's features with weights or importances.

    Returns
    -------
    pandas.DataFrame
        One row per used feature (per class for multi-class linear models): ``target``,
        ``model``, ``feature_set``, ``layer``, ``feature``, ``column``, ``class``,
        ``weight`` (coefficient on the z-scored feature, or impurity importance; NaN for
        models without either: gradient boosting, MLP, RSF), ``weight_kind``,
        ``univariate_score`` (ANOVA F or Cox score chi-square on all samples), ``rank``.
    """
    cols = used_columns(est, X)
    final = est[-1] if isinstance(est, Pipeline) else est
    Xt = est[:-1].transform(X) if isinstance(est, Pipeline) else X
    score = univariate_scores(np.asarray(Xt, dtype=float), target.y_fit())
    weights: dict[str, np.ndarray] = {}
    kind = "none"
    if hasattr(final, "coef_") and not hasattr(final, "calibrated_classifiers_"):
        coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
        if coef.shape[1] != len(cols):
            coef = coef.T
        kind = "coefficient"
        if coef.shape[0] == 1:
            weights[str(target.classes[-1]) if target.classes else ""] = coef[0]
        else:
            for k, c in enumerate(getattr(final, "classes_", range(coef.shape[0]))):
                weights[str(c)] = coef[k]
    elif hasattr(final, "calibrated_classifiers_"):
        coefs = [np.atleast_2d(cc.estimator.coef_) for cc in final.calibrated_classifiers_]
        coef = np.mean(coefs, axis=0)
        kind = "coefficient (mean over calibration folds)"
        if coef.shape[0] == 1:
            weights[str(target.classes[-1])] = coef[0]
        else:
            for k, c in enumerate(final.classes_):
                weights[str(c)] = coef[k]
    else:
        try:  # scikit-survival's forests raise NotImplementedError here
            weights[""] = np.asarray(final.feature_importances_, dtype=float)
            kind = "impurity importance"
        except (AttributeError, NotImplementedError, ValueError):
            pass
    if not weights:
        weights[""] = np.full(len(cols), np.nan)
    rows = []
    for cls, w in weights.items():
        order = np.lexsort((np.arange(len(cols)), -np.nan_to_num(np.abs(w), nan=0.0), -score))
        rank = np.empty(len(cols), dtype=int)
        key = np.abs(w) if np.isfinite(w).any() else score
        rank[np.lexsort((np.arange(len(cols)), -np.nan_to_num(key, nan=0.0)))] = np.arange(
            1, len(cols) + 1
        )
        for j in order:
            layer, feature = _split_column(cols[j])
            rows.append(
                (target.name, model, feature_set, layer, feature, cols[j], cls, float(w[j]),
                 kind, float(score[j]), int(rank[j]))
            )  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=["target", "model", "feature_set", "layer", "feature", "column", "class",
                 "weight", "weight_kind", "univariate_score", "rank"],
    )  # fmt: skip
    return table.sort_values(["class", "rank"], kind="stable").reset_index(drop=True)


def _welch_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Welch t statistic of ``a`` against ``b`` per column (NaN values omitted)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        na, nb = np.sum(~np.isnan(a), 0), np.sum(~np.isnan(b), 0)
        va, vb = np.nanvar(a, 0, ddof=1), np.nanvar(b, 0, ddof=1)
        return (np.nanmean(a, 0) - np.nanmean(b, 0)) / np.sqrt(va / na + vb / nb)


def markers(X: pd.DataFrame, labels, n_markers: int = 20, transform: str = "none") -> dict:
    """Per class, the most up-regulated columns against the other samples.

    Each column is z-scored over the samples (after ``transform``); the Welch t statistic of
    a class against the rest ranks the columns; the ``n_markers`` largest positive ones are
    the class's markers (ties by column order). For nearest-template prediction.

    Returns
    -------
    dict
        Class -> list of columns (``"<layer>:<feature>"``).
    """
    values = X.to_numpy(dtype=float)
    if transform == "log2":
        values = np.log2(np.clip(values, 0, None) + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - np.nanmean(values, 0)) / np.nanstd(values, 0, ddof=1)
    labels = np.asarray(labels)
    out = {}
    for c in sorted(pd.unique(labels), key=str):
        t = np.nan_to_num(_welch_t(z[labels == c], z[labels != c]), nan=-np.inf)
        order = np.lexsort((np.arange(len(t)), -t))
        top = [j for j in order[:n_markers] if t[j] > 0]
        out[str(c)] = [str(X.columns[j]) for j in top]
    return out


def model_card(
    est, X, target: Target, model, feature_set, layer_names, cfg, rows, params, cohort
) -> dict:
    """The model card of a final model (JSON-ready; see :mod:`metpot.model_io`).

    Holds ``target``, ``target_kind``, ``model``, ``feature_set``, ``layers``, ``classes``,
    ``features`` (the pipeline's input columns in order, as ``{"layer", "feature",
    "column"}``), ``used_features`` (those the model uses after selection), ``preprocessing``
    (transform, missing, variance filter, signature, scaling, and per used feature the training
    ``mean``/``sd``/``quantiles``/``missing`` of the raw values), ``markers`` (per class, for
    nearest-template prediction), ``hyperparameters``, ``metrics`` (nested-CV rows),
    ``training`` (cohort name, input checksums, ``n_samples``, excluded samples), ``n_samples``.
    """
    cohort = dict(cohort or {})
    used = used_columns(est, X)
    raw = X[used].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        qs = np.nanquantile(raw, _QUANTILES, axis=0) if raw.size else np.zeros((5, 0))
        mean, sd = np.nanmean(raw, 0), np.nanstd(raw, 0, ddof=1)
    stats_ = {
        c: {
            "mean": _num(mean[j]),
            "sd": _num(sd[j]),
            "quantiles": {f"{q:g}": _num(qs[k, j]) for k, q in enumerate(_QUANTILES)},
            "missing": _num(np.isnan(raw[:, j]).mean()),
        }  # fmt: skip
        for j, c in enumerate(used)
    }
    layers_used = ["clinical"] if model == "crs" else feature_set_layers(layer_names, feature_set)
    preprocessing = {
        "transform": "none" if model == "crs" else cfg["transform"],
        "missing": {"max_fraction": float(cfg["max_missing"]), "impute": "median"},
        "variance_top_per_layer": None if model == "crs" else cfg["top_variance"],
        "scale": "none" if model == "crs" else "zscore",
        "signature": dict(cfg["signature"]) if feature_set == "signature" else None,
        "raw_value_summary": stats_,
        "raw_value_summary_of": "used_features",
    }
    mk = {}
    if target.kind != "survival" and model != "crs":
        mk = markers(X, target.y.to_numpy(), int(cfg["n_markers"]), cfg["transform"])
    metrics = {"primary": PRIMARY_METRIC[target.kind]}
    for r in rows.to_dict(orient="records"):
        metrics[str(r["metric"])] = {
            k: _plain(r[k]) for k in ("estimate", "ci_low", "ci_high", "n_folds", "ci_method")
        }
    if model != "crs":  # what scoring checks a new cohort against (metpot.score)
        from metpot.score import training_statistics

        preprocessing.update(training_statistics(X, cfg["transform"]))
        preprocessing["fill_missing"] = "impute"  # NaN: the pipeline imputes training medians
    return {
        "target": target.name,
        "target_kind": target.kind,
        "model": model,
        "feature_set": feature_set,
        "layers": layers_used,
        "classes": [_plain(c) for c in target.classes],
        "features": [
            dict(zip(("layer", "feature"), _split_column(c), strict=True), column=str(c))
            for c in X.columns
        ],
        "used_features": used,
        "preprocessing": preprocessing,
        "markers": mk,
        "hyperparameters": params,
        "landmark": target.landmark,
        "metrics": metrics,
        "training": {
            "cohort": cohort.get("name"),
            "checksums": dict(cohort.get("checksums") or {}),
            "n_samples": len(X),
            "n_excluded": target.n_excluded,
            "excluded": target.excluded,
            "seed": int(cfg["seed"]),
            "outer": dict(cfg["outer"]),
            "inner": dict(cfg["inner"]),
        },
        "n_samples": len(X),
    }


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def save_fit(result: Mapping, path: str | Path) -> dict:
    """Write a :func:`fit_one` result's final model and card where the caller says.

    Parameters
    ----------
    result : mapping
        A :func:`fit_one` result with ``final`` and ``card``.
    path : str or Path
        The ``.skops`` file (the card goes beside it as ``.json``).

    Returns
    -------
    dict
        The card as written.
    """
    from metpot.model_io import save_model

    if result.get("final") is None:
        raise MetpotError(f"{result['target']}/{result['model']}: no final model (refit=False)")
    return save_model(result["final"], path, result["card"])


# ---------------------------------------------------------------------------------------------
# against the clinical risk score
# ---------------------------------------------------------------------------------------------


def _km_at(t: np.ndarray, e: np.ndarray, at: float) -> float:
    """Kaplan-Meier survival at ``at`` (1 if no event before)."""
    s = 1.0
    for u in np.unique(t[e & (t <= at)]):
        n = np.sum(t >= u)
        d = np.sum(e & (t == u))
        s *= 1.0 - d / n
    return float(s)


def net_benefit(
    time, event, risk: Mapping[str, Sequence[float]], landmark: float, thresholds=None
) -> pd.DataFrame:
    """Decision-curve net benefit at a landmark for censored outcomes (Vickers et al. 2008).

    For threshold probability ``pt``, a strategy treats the patients whose predicted risk of an
    event by ``landmark`` is ``>= pt``; with ``n`` patients, ``n_t`` treated and ``S_t`` the
    Kaplan-Meier survival at the landmark among the treated,
    ``NB = (1 - S_t) n_t / n - S_t n_t / n * pt / (1 - pt)``. Treat-all uses every patient,
    treat-none is 0.

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    risk : mapping
        Strategy name -> predicted probability of an event by the landmark.
    landmark : float
        Landmark (time unit of ``time``).
    thresholds : array-like, optional
        Threshold probabilities (default 0.01 ... 0.99).

    Returns
    -------
    pandas.DataFrame
        ``threshold``, ``strategy``, ``net_benefit``.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2) if thresholds is None else thresholds
    n = len(t)
    s_all = _km_at(t, e, landmark)
    rows = []
    for pt in thresholds:
        w = pt / (1 - pt)
        rows.append((pt, "treat_all", (1 - s_all) - s_all * w))
        rows.append((pt, "treat_none", 0.0))
        for name, p in risk.items():
            p = np.asarray(p, dtype=float)
            treat = p >= pt
            nt = int(treat.sum())
            if nt == 0:
                rows.append((pt, name, 0.0))
                continue
            st = _km_at(t[treat], e[treat], landmark)
            rows.append((pt, name, (1 - st) * nt / n - st * nt / n * w))
    return pd.DataFrame(rows, columns=["threshold", "strategy", "net_benefit"])


_PREDICTORS = {
    "crs": "lp_crs",
    "molecular": "lp_molecular",
    "crs_plus_molecular": "lp_crs_molecular",
}


def compare_with_crs(
    predictions: pd.DataFrame,
    n_splits: int,
    landmark: float | None = None,
    thresholds=None,
) -> dict[str, pd.DataFrame]:
    """CRS alone, molecular alone and CRS + molecular, on the same patients and folds.

    Uses the out-of-fold Cox linear predictors that :func:`fit_one` computed inside each outer
    training fold (``lp_crs``, ``lp_molecular``, ``lp_crs_molecular``). Harrell's and Uno's C
    are computed per outer test fold on the patients with a CRS and an outcome; differences
    are paired over folds; estimates, 95 % CIs and the two-sided p-value use the corrected
    resampled t (Nadeau & Bengio 2003). Decision curves pool each repeat's out-of-fold
    predicted risks (``p_*``) and average the net benefit over repeats.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Out-of-fold predictions of one or more :func:`fit_one` results.
    n_splits : int
        Outer K (for the variance correction).
    landmark : float, optional
        Landmark of the decision curves (time unit of the outcome).
    thresholds : array-like, optional
        Decision-curve thresholds.

    Returns
    -------
    dict
        ``"table"``: ``target, model, feature_set, predictor, reference, metric, estimate,
        ci_low, ci_high, p_value, n_patients, n_folds, ci_method``; ``"decision_curve"``:
        ``target, model, feature_set, landmark, threshold, strategy, net_benefit``.
    """
    from metpot.survival import harrell_c, uno_c

    ratio = 1.0 / (n_splits - 1)
    if "lp_crs" not in predictions.columns:
        return {"table": pd.DataFrame(), "decision_curve": pd.DataFrame()}
    rows, curves = [], []
    for (tg, md, fs), grp in predictions.groupby(["target", "model", "feature_set"], sort=False):
        grp = grp[np.isfinite(grp["lp_crs"].to_numpy(float))]
        if grp.empty:
            continue
        per = {p: {"harrell_c": [], "uno_c": []} for p in _PREDICTORS}
        for _, fg in grp.groupby(["repeat", "fold"], sort=True):
            t = fg["outcome_time"].to_numpy(float)
            e = fg["outcome_event"].to_numpy(bool)
            for p, col in _PREDICTORS.items():
                r = fg[col].to_numpy(float)
                ok = e.any()
                per[p]["harrell_c"].append(harrell_c(t, e, r) if ok else np.nan)
                per[p]["uno_c"].append(uno_c(t, e, r) if ok else np.nan)
        n_pat = int(grp["sample"].nunique())
        common = {"target": tg, "model": md, "feature_set": fs, "n_patients": n_pat,
                  "ci_method": CI_METHOD}  # fmt: skip
        for metric in ("harrell_c", "uno_c"):
            for p in _PREDICTORS:
                v = np.asarray(per[p][metric], dtype=float)
                est, lo, hi = _clip(metric, *_t_interval(v, ratio))
                rows.append({**common, "predictor": p, "reference": "", "metric": metric,
                             "estimate": est, "ci_low": lo, "ci_high": hi, "p_value": np.nan,
                             "n_folds": int(np.isfinite(v).sum())})  # fmt: skip
            for a, b in (("crs_plus_molecular", "crs"), ("molecular", "crs"),
                         ("crs_plus_molecular", "molecular")):  # fmt: skip
                d = np.asarray(per[a][metric], float) - np.asarray(per[b][metric], float)
                est, lo, hi = _t_interval(d, ratio)
                rows.append({**common, "predictor": a, "reference": b,
                             "metric": f"{metric}_difference", "estimate": est, "ci_low": lo,
                             "ci_high": hi, "p_value": _t_test(d, ratio),
                             "n_folds": int(np.isfinite(d).sum())})  # fmt: skip
        if landmark is not None and "p_crs" in grp.columns:
            reps = []
            for _, rg in grp.groupby("repeat", sort=True):
                risk = {p: rg[f"p_{col[3:]}"].to_numpy(float) for p, col in _PREDICTORS.items()}
                reps.append(
                    net_benefit(
                        rg["outcome_time"],
                        rg["outcome_event"].astype(bool),
                        risk,
                        landmark,
                        thresholds,
                    )  # fmt: skip
                )
            nb = pd.concat(reps).groupby(["threshold", "strategy"], sort=False).mean()
            nb = nb.reset_index()
            nb.insert(0, "landmark", landmark)
            nb.insert(0, "feature_set", fs)
            nb.insert(0, "model", md)
            nb.insert(0, "target", tg)
            curves.append(nb)
    cols = ["target", "model", "feature_set", "predictor", "reference", "metric", "estimate",
            "ci_low", "ci_high", "p_value", "n_patients", "n_folds", "ci_method"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return {"table": table, "decision_curve": curve}


def plot_vs_crs(table: pd.DataFrame, metric: str = "harrell_c", title: str | None = None):
    """Estimates with 95 % CIs of CRS, molecular and CRS + molecular for every model.

    Parameters
    ----------
    table : pandas.DataFrame
        ``compare_with_crs(...)["table"]``.
    metric : str
        ``harrell_c`` or ``uno_c``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from metpot.plots import PALETTE, _new_figure, style

    with style():
        return _plot_vs_crs(table, metric, title, PALETTE, _new_figure)


def _plot_vs_crs(table, metric, title, PALETTE, _new_figure):  # noqa: N803
    t = table[(table["metric"] == metric) & (table["reference"] == "")]
    groups = list(t.groupby(["target", "model", "feature_set"], sort=False))
    height = 1.2 + 0.55 * max(1, len(groups)) * 1.5
    fig = _new_figure(7.0, height)
    ax = fig.add_subplot(1, 1, 1)
    labels, ys = [], []
    y = 0.0
    for k, ((tg, md, fs), g) in enumerate(groups):
        for j, p in enumerate(_PREDICTORS):
            r = g[g["predictor"] == p]
            if r.empty:
                continue
            r = r.iloc[0]
            yy = y - 0.25 * j
            err = [[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]]
            ax.errorbar(
                r["estimate"], yy, xerr=err, fmt="o", color=PALETTE[j], capsize=3,
                label=p if k == 0 else None,
            )  # fmt: skip
        labels.append(f"{tg}: {md} / {fs}")
        ys.append(y - 0.25)
        y -= 1.0
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(f"{metric.replace('_', ' ')} (out-of-fold, 95% CI)")
    ax.set_title(title or "Molecular models against the clinical risk score", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# assembly and driver
# ---------------------------------------------------------------------------------------------


def _best(rows: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Best (model, feature set) per target by the primary metric, ties to the simpler."""
    out = []
    for tg, grp in rows.groupby("target", sort=False):
        metric = PRIMARY_METRIC[kinds[tg]]
        g = grp[(grp["metric"] == metric) & (grp["model"] != "crs")].copy()
        if g.empty:
            continue
        g["_score"] = g["estimate"].round(3)
        g["_simple"] = g["model"].map(_SIMPLICITY)
        g = g.sort_values(["_score", "_simple", "n_features"], ascending=[False, True, True],
                          kind="stable")  # fmt: skip
        r = g.iloc[0]
        out.append({"target": tg, "model": r["model"], "feature_set": r["feature_set"],
                    "metric": metric, "estimate": r["estimate"], "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"]})  # fmt: skip
    return pd.DataFrame(out)


def assemble(results: Sequence[Mapping], config: Mapping | None = None) -> dict:
    """Gather :func:`fit_one` results: comparison, best model per target, CRS comparison.

    Parameters
    ----------
    results : sequence of dict
        :func:`fit_one` results (any mix of targets, models and feature sets).
    config : mapping, optional
        The ``classify`` section.

    Returns
    -------
    dict
        ``comparison`` (long metrics table), ``best`` (per target), ``vs_crs`` and
        ``decision_curve`` (:func:`compare_with_crs`), ``predictions`` (out-of-fold),
        ``folds`` (per target), ``features`` (final models' features), ``fold_metrics``.
    """
    cfg = resolve_config(config)
    results = list(results)
    kinds = {r["target"]: r["kind"] for r in results}
    comparison = pd.concat([r["rows"] for r in results], ignore_index=True)
    preds = pd.concat([r["predictions"] for r in results], ignore_index=True)
    folds = pd.concat(
        [r["folds"].assign(target=r["target"]) for r in results], ignore_index=True
    ).drop_duplicates(["target", "sample", "repeat"])
    folds = folds[["target", "sample", "repeat", "fold"]].reset_index(drop=True)
    features = [r["features"] for r in results if r.get("features") is not None]
    fold_metrics = pd.concat(
        [r["fold_metrics"].assign(target=r["target"], model=r["model"],
                                  feature_set=r["feature_set"]) for r in results],
        ignore_index=True,
    )  # fmt: skip
    vs_parts, dc_parts = [], []
    for tg, grp in preds.groupby("target", sort=False):
        landmark = next(r.get("landmark") for r in results if r["target"] == tg)
        comp = compare_with_crs(grp, int(cfg["outer"]["folds"]), landmark)
        vs_parts.append(comp["table"])
        dc_parts.append(comp["decision_curve"])
    nonempty = [p for p in vs_parts if not p.empty]
    return {
        "comparison": comparison,
        "best": _best(comparison, kinds),
        "vs_crs": pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame(),
        "decision_curve": pd.concat([d for d in dc_parts if not d.empty], ignore_index=True)
        if any(not d.empty for d in dc_parts)
        else pd.DataFrame(),
        "predictions": preds,
        "folds": folds,
        "features": pd.concat(features, ignore_index=True) if features else pd.DataFrame(),
        "fold_metrics": fold_metrics,
    }


def plan(targets: Mapping[str, Target], layer_names: Sequence[str], config: Mapping | None = None):
    """The (target, model, feature set) combinations :func:`run_classification` fits.

    Classifiers x feature sets for categorical and landmark targets; survival models x
    feature sets (and ``crs`` once) for survival targets.
    """
    cfg = resolve_config(config)
    fsets = expand_feature_sets(layer_names, cfg["feature_sets"])
    jobs = []
    for name, t in targets.items():
        if t.kind == "survival":
            for m in cfg["survival_models"]:
                for fs in ["crs"] if m == "crs" else fsets:
                    jobs.append((name, m, fs))
        else:
            jobs += [(name, m, fs) for m in cfg["models"] if m in CLASSIFIERS for fs in fsets]
    return jobs


def fit_groups(jobs: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """(target, model, feature set) fits grouped as (target, feature set, models), in order:
    the models of a group share their folds' preprocessing (:func:`fit_models`)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for target, model, fs in jobs:
        groups.setdefault((target, fs), []).append(model)
    return [(t, fs, models) for (t, fs), models in groups.items()]


def run_classification(
    layers: Mapping[str, pd.DataFrame],
    targets: Mapping[str, Target],
    config: Mapping | None = None,
    *,
    crs: pd.Series | None = None,
    outcome: pd.DataFrame | None = None,
    time_unit: str = "months",
    cohort: Mapping | None = None,
    refit: bool = True,
) -> dict:
    """Fit and compare every configured (target, model, feature set).

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Ingested layers (samples x features, aligned).
    targets : mapping of str to Target
        From :func:`build_targets`.
    config : mapping, optional
        The ``classify`` section.
    crs : pandas.Series, optional
        Clinical risk score by sample (NaN where unscored).
    outcome : pandas.DataFrame, optional
        ``time``/``event`` of the endpoint categorical targets are compared with the CRS on
        (survival and landmark targets use their own).
    time_unit : str
        Unit of the survival times.
    cohort : mapping, optional
        ``{"name", "checksums"}`` for the model cards.
    refit : bool
        Refit final models.

    Returns
    -------
    dict
        :func:`assemble`'s tables plus ``results`` (the :func:`fit_one` results, with the
        final models and cards).
    """
    jobs = plan(targets, list(layers), config)
    done = {}
    for name, fs, models in fit_groups(jobs):
        fits = fit_models(
            targets[name],
            models,
            fs,
            layers,
            config,
            crs=crs,
            outcome=outcome if targets[name].kind == "categorical" else None,
            time_unit=time_unit,
            cohort=cohort,
            refit=refit,
        )
        done.update({(name, f["model"], fs): f for f in fits})
    results = [done[job] for job in jobs]
    out = assemble(results, config)
    out["results"] = results
    return out


# ---------------------------------------------------------------------------------------------
# calibration and the compact signature (report figures)
# ---------------------------------------------------------------------------------------------

CALIBRATION_CI = "patient bootstrap, percentile"


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic regression with an offset (Newton, step-halving).

    NaN coefficients when the likelihood has no finite maximum (separated classes).
    """
    from scipy.special import expit

    beta = np.zeros(X.shape[1])

    def loglik(b):
        eta = offset + X @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for _ in range(100):
        mu = expit(offset + X @ beta)
        w = mu * (1.0 - mu)
        H = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(H, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return np.full(X.shape[1], np.nan)
        for _ in range(30):
            new = loglik(beta + step)
            if new >= current - 1e-12:
                break
            step = step / 2.0
        beta, current = beta + step, new
        if np.max(np.abs(step)) < 1e-9:
            return beta if np.all(np.abs(beta) < 1e3) else np.full(X.shape[1], np.nan)
    return np.full(X.shape[1], np.nan)


def calibration_in_the_large_and_slope(proba, y) -> tuple[float, float]:
    """Logistic recalibration of predicted probabilities (Cox 1958; Van Calster 2016).

    Parameters
    ----------
    proba : array-like
        Predicted probabilities of the event (or class).
    y : array-like
        1 where the event (class) was observed, else 0.

    Returns
    -------
    citl : float
        Calibration-in-the-large: ``a`` in ``logit P(y) = a + logit(p)`` (0 when the mean
        prediction matches the observed frequency; > 0: risks under-estimated).
    slope : float
        ``b`` in ``logit P(y) = a + b logit(p)`` (1 ideal; < 1: predictions too extreme).
        NaN when the fit has no finite maximum (perfectly separated predictions).
    """
    p = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=float)
    lp = np.log(p / (1.0 - p))
    if y.min() == y.max():
        return float("nan"), float("nan")
    citl = _logistic_fit(np.ones((len(p), 1)), y, lp)[0]
    slope = _logistic_fit(np.column_stack([np.ones(len(p)), lp]), y, np.zeros(len(p)))[1]
    return float(citl), float(slope)


def _quantile_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each prediction: edges at the quantiles of ``p`` (ties never split)."""
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) < 2:
        return np.zeros(len(p), dtype=np.int64)
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)


def calibration_table(
    predictions: pd.DataFrame,
    kinds: Mapping[str, str],
    n_bins: int = 10,
    n_boot: int = 1000,
    seed: int = 1,
) -> pd.DataFrame:
    """Reliability of the out-of-fold class probabilities of the nested cross-validation.

    For each (target, model, feature set) and class (one-vs-rest; landmark targets: the
    event class ``1`` only), the out-of-fold predictions of every outer repeat are pooled and
    cut into up to ``n_bins`` bins at the quantiles of the predicted probability (equal
    predictions always share a bin). Per bin: the mean prediction, the observed fraction of
    the class and its 95 % interval from a bootstrap over patients (each patient's
    predictions of every repeat resampled together, ``n_boot`` resamples, ``seed``), since a
    patient appears once per repeat.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Out-of-fold predictions (:func:`fit_one` / :func:`assemble`): ``target``, ``model``,
        ``feature_set``, ``sample``, ``truth``, ``prob:<class>``.
    kinds : mapping
        Target -> ``categorical`` / ``landmark`` / ``survival`` (survival targets have no
        probabilities and are left out).
    n_bins, n_boot, seed
        Bins, bootstrap resamples and their seed.

    Returns
    -------
    pandas.DataFrame
        ``target``, ``model``, ``feature_set``, ``class``, ``bin`` (1..), ``mean_predicted``,
        ``observed``, ``n`` (predictions), ``n_patients``, ``ci_low``, ``ci_high``, and per
        class ``calibration_in_the_large`` and ``calibration_slope``
        (:func:`calibration_in_the_large_and_slope`, on the pooled predictions), ``ci_method``.
    """
    cols = ["target", "model", "feature_set", "class", "bin", "mean_predicted", "observed", "n",
            "n_patients", "ci_low", "ci_high", "calibration_in_the_large", "calibration_slope",
            "ci_method"]  # fmt: skip
    rows = []
    keys = ["target", "model", "feature_set"]
    if predictions.empty or "truth" not in predictions.columns:
        return pd.DataFrame(columns=cols)
    for (tg, md, fs), grp in predictions.groupby(keys, sort=False):
        kind = kinds.get(tg)
        if kind not in ("categorical", "landmark"):
            continue
        prob_cols = [c for c in grp.columns if str(c).startswith("prob:") and grp[c].notna().any()]
        if kind == "landmark":
            prob_cols = [c for c in prob_cols if str(c) == "prob:1"]
        truth = grp["truth"].astype(str).to_numpy()
        codes, patients = pd.factorize(grp["sample"].astype(str), sort=True)
        n_pat = len(patients)
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(n_pat, np.full(n_pat, 1.0 / n_pat), size=n_boot).astype(float)
        for col in prob_cols:
            cls = str(col).removeprefix("prob:")
            p = grp[col].to_numpy(float)
            ok = np.isfinite(p)
            p_ok, y_ok, c_ok = p[ok], (truth[ok] == cls).astype(float), codes[ok]
            if not len(p_ok):
                continue
            b = _quantile_bins(p_ok, n_bins)
            nb = int(b.max()) + 1
            flat = c_ok * nb + b
            count = np.bincount(flat, minlength=n_pat * nb).reshape(n_pat, nb)
            events = np.bincount(flat, weights=y_ok, minlength=n_pat * nb).reshape(n_pat, nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = (weights @ events) / (weights @ count)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanquantile(boot, [0.025, 0.975], axis=0)
            citl, slope = calibration_in_the_large_and_slope(p_ok, y_ok)
            for j in range(nb):
                sel = b == j
                if not sel.any():
                    continue
                rows.append(
                    (tg, md, fs, cls, j + 1, float(p_ok[sel].mean()), float(y_ok[sel].mean()),
                     int(sel.sum()), int(np.unique(c_ok[sel]).size), float(lo[j]), float(hi[j]),
                     citl, slope, f"{CALIBRATION_CI} ({n_boot})")
                )  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    # bins renumbered 1.. after dropping empty ones
    if len(table):
        table["bin"] = table.groupby(keys + ["class"], sort=False).cumcount() + 1
    return table


def signature_model(comparison: pd.DataFrame, kinds: Mapping[str, str], target: str) -> str | None:
    """The model whose ``signature`` fit of ``target`` is best (primary metric, ties to the
    simpler model), or None without a signature fit."""
    rows = comparison[(comparison["target"] == target) & (comparison["feature_set"] == "signature")]
    best = _best(rows, kinds) if len(rows) else pd.DataFrame()
    return None if best.empty else str(best.iloc[0]["model"])


def signature_matrix(
    layers: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    labels: pd.Series,
    classes: Sequence | None = None,
    transform: str = "none",
) -> dict:
    """A compact signature's features across the classes, z-scored, for a heatmap.

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Layers (samples x features) holding the signature's features.
    columns : sequence of str
        The signature's features as ``"<layer>:<feature>"`` (:func:`used_columns`).
    labels : pandas.Series
        Class per sample (the samples drawn).
    classes : sequence, optional
        Class order (default sorted).
    transform : {"none", "log2"}
        The classifiers' transform, applied before z-scoring.

    Returns
    -------
    dict
        ``z`` (features x samples, z-scored over the samples; rows grouped by layer, then by
        the class each feature marks, i.e. whose mean z is highest, strongest first; samples
        by class, then by their mean z over their class's features), ``labels`` (class per
        drawn sample), ``layer`` and ``marks`` (per row), ``means`` (features x classes, mean
        z per class).
    """
    labels = pd.Series(labels).astype(str)
    labels.index = [str(i) for i in labels.index]
    classes = [str(c) for c in (classes if classes is not None else sorted(labels.unique()))]
    cols = list(dict.fromkeys(str(c) for c in columns))
    if not cols:
        raise MetpotError("signature_matrix: the signature has no feature")
    parts = {}
    for col in cols:
        layer, feature = _split_column(col)
        if layer not in layers or feature not in layers[layer].columns:
            raise MetpotError(f"signature feature {col} is not in the layers")
        frame = layers[layer]
        frame = frame.set_axis([str(i) for i in frame.index], axis=0)
        parts[col] = frame.loc[labels.index, feature].to_numpy(dtype=float)
    X = np.column_stack([parts[c] for c in cols])
    if transform == "log2":
        X = np.log2(np.clip(X, 0, None) + 1.0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(X, axis=0, ddof=1)
        Z = (X - np.nanmean(X, axis=0)) / np.where(sd > 0, sd, 1.0)
        lab = labels.to_numpy()
        means = np.column_stack([np.nanmean(Z[lab == c], axis=0) for c in classes])
    marks = np.argmax(np.nan_to_num(means, nan=-np.inf), axis=1)
    layer_order = {name: i for i, name in enumerate(layers)}
    row_layers = [_split_column(c)[0] for c in cols]
    strength = means[np.arange(len(cols)), marks]
    rows = sorted(
        range(len(cols)),
        key=lambda j: (layer_order.get(row_layers[j], len(layer_order)), marks[j], -strength[j], j),
    )
    class_pos = {c: i for i, c in enumerate(classes)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        own = np.array(
            [np.nanmean(Z[i, marks == class_pos.get(lab[i], -1)]) if
             (marks == class_pos.get(lab[i], -1)).any() else 0.0 for i in range(len(lab))]
        )  # fmt: skip
    own = np.nan_to_num(own, nan=0.0)
    samples = sorted(
        range(len(lab)), key=lambda i: (class_pos.get(lab[i], len(classes)), -own[i], i)
    )
    z = pd.DataFrame(
        Z[np.ix_(samples, rows)].T,
        index=[cols[j] for j in rows],
        columns=labels.index[samples],
    )
    return {
        "z": z,
        "labels": labels.iloc[samples],
        "layer": np.array([row_layers[j] for j in rows]),
        "marks": np.array([classes[marks[j]] for j in rows]),
        "means": pd.DataFrame(means[rows], index=z.index, columns=classes),
    }
