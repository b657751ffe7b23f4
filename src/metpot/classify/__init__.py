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

Modules, in the order the science flows (each imports only those above it):

* :mod:`~metpot.classify.options`: model names, grids, the config section's defaults
  (:func:`resolve_config`), feature sets; standard library only, for the workflow's manifest.
* :mod:`~metpot.classify.inputs`: :func:`feature_matrix` and the targets.
* :mod:`~metpot.classify.transformers`: the preprocessing steps.
* :mod:`~metpot.classify.models`: :class:`CoxPH`, :func:`make_model`, the pipelines.
* :mod:`~metpot.classify.folds` and :mod:`~metpot.classify.metrics`: folds, metrics, intervals.
* :mod:`~metpot.classify.tuning`: shared preprocessing and the inner grid search.
* :mod:`~metpot.classify.against_crs`: the comparison with the clinical risk score.
* :mod:`~metpot.classify.cards`: feature tables, markers, model cards, saving.
* :mod:`~metpot.classify.nested_cv`: :func:`fit_models` / :func:`fit_one`.
* :mod:`~metpot.classify.driver`: :func:`plan`, :func:`run_classification`, :func:`assemble`.
* :mod:`~metpot.classify.calibration` and :mod:`~metpot.classify.signature`: report tables.

Importing the package loads none of them: a name is loaded with its module on first use
(``from metpot.classify import fit_models``, ``C.fit_models``), so that the workflow's
manifest can read :mod:`~metpot.classify.options` without numpy or scikit-learn.

The figure of the CRS comparison is :func:`metpot.plots.plot_vs_crs` (science never imports
the plots).
"""

from __future__ import annotations

from metpot._lazy import lazy_exports

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_CONFIG",
    "DEFAULT_GRIDS",
    "SURVIVAL_MODELS",
    "CoxConvergenceWarning",
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
    "resolve_config",
    "run_classification",
    "save_fit",
    "survival_target",
]

#: Module of each name the package exports: ``__all__`` (the public API), and names the
#: command line, tests and benchmarks use (``from metpot import classify as C; C._tune``).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "options": (
        "CLASSIFIERS",
        "DEFAULT_CONFIG",
        "DEFAULT_GRIDS",
        "PRIMARY_METRIC",
        "SEP",
        "SURVIVAL_MODELS",
        "expand_feature_sets",
        "feature_set_layers",
        "fit_groups",
        "resolve_config",
    ),
    "inputs": (
        "CRS_COMPARISON_ENDPOINT",
        "Target",
        "_surv_array",
        "build_targets",
        "categorical_target",
        "comparison_outcome",
        "feature_matrix",
        "landmark_target",
        "survival_target",
    ),
    "transformers": (
        "AsArray",
        "DropMissing",
        "Log2Transform",
        "SignatureSelector",
        "TopVariance",
        "ZScore",
        "_cox_score_stat",
        "_nanmedian_columns",
        "univariate_scores",
    ),
    "models": (
        "CoxConvergenceWarning",
        "CoxPH",
        "build_pipeline",
        "build_preprocessing",
        "make_model",
        "param_grid",
    ),
    "folds": ("_fold_indices", "_inner_splits", "outer_folds"),
    "metrics": ("CI_METHOD", "_balanced_accuracy", "_t_interval"),
    "tuning": ("_prepare", "_tune", "_warm_path"),
    "against_crs": ("compare_with_crs", "net_benefit"),
    "cards": ("feature_table", "markers", "model_card", "save_fit", "used_columns"),
    "nested_cv": ("fit_models", "fit_one"),
    "driver": ("_best", "assemble", "plan", "run_classification"),
    "calibration": ("CALIBRATION_CI", "calibration_in_the_large_and_slope", "calibration_table"),
    "signature": ("signature_classes", "signature_matrix", "signature_model"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
