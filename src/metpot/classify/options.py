"""Names and defaults of the classifiers' configuration, and the names of the models' columns.

Standard library only (no numpy, pandas or scikit-learn): the workflow's manifest
(:mod:`metpot.manifest`) reads these to plan its jobs without importing the science.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

from metpot.errors import MetpotError, name_list

#: Classifiers for categorical and landmark targets, simplest first (ties go to the simpler).
CLASSIFIERS: tuple[str, ...] = ("logistic", "svm", "random_forest", "gradient_boosting", "mlp")

#: Models for survival targets, simplest first.
SURVIVAL_MODELS: tuple[str, ...] = ("crs", "coxnet", "rsf")

#: numpy's notes on NaN-only or too-short slices (nanmean, nanvar, nanquantile), whose NaN
#: results the summaries handle: the only RuntimeWarnings they filter, by message.
NAN_SLICE_NOTES = "Mean of empty slice|All-NaN slice encountered|Degrees of freedom <= 0"

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
    "validation": "auto",
}

#: Values of ``classify.validation`` (``auto``: see :func:`metpot.manifest.subtype_validation`).
VALIDATIONS: tuple[str, ...] = ("auto", "pipeline", "partition")

_UNIT_PER_YEAR = {"days": 365.25, "months": 12.0, "years": 1.0}

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

SEP = ":"


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
    # numbers.Integral: int and numpy's integer types, without importing numpy
    for key, sub, low in (("outer", "folds", 2), ("outer", "repeats", 1), ("inner", "folds", 2)):
        v = out[key][sub]
        if not isinstance(v, numbers.Integral) or v < low:
            raise MetpotError(f"classify.{key}.{sub} must be an integer >= {low}, got {v!r}")
    size = out["signature"]["size"]
    if not isinstance(size, numbers.Integral) or size < 1:
        raise MetpotError(f"classify.signature.size must be a positive integer, got {size!r}")
    if out["transform"] not in ("none", "log2"):
        raise MetpotError(f"classify.transform must be none or log2, got {out['transform']!r}")
    if out["validation"] not in VALIDATIONS:
        raise MetpotError(
            f"classify.validation must be one of {name_list(VALIDATIONS)}, "
            f"got {out['validation']!r}"
        )
    return out


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


#: Primary metric by target kind (higher is better), used to pick the best model.
PRIMARY_METRIC = {"categorical": "balanced_accuracy", "landmark": "auroc", "survival": "harrell_c"}


def fit_groups(jobs: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """(target, model, feature set) fits grouped as (target, feature set, models), in order:
    the models of a group share their folds' preprocessing (one
    :func:`~metpot.classify.fit_models` call, one workflow job:
    :func:`metpot.manifest.classify_fit_jobs`)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for target, model, fs in jobs:
        groups.setdefault((target, fs), []).append(model)
    return [(t, fs, models) for (t, fs), models in groups.items()]
