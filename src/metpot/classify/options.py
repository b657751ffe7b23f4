"""Names and defaults of the classifiers' configuration, and the names of the models' columns.

Standard library only (no numpy, pandas or scikit-learn): the workflow's manifest
(:mod:`metpot.manifest`) reads these to plan its jobs without importing the science. The
model names, grids and defaults are those of the config schema (``config/schema.yaml``,
section ``classify``), read with :mod:`metpot.config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from metpot.config import YEAR_LENGTH, schema_default, schema_enum, schema_node, section_defaults
from metpot.errors import MetpotError, name_list

#: Models for survival targets, simplest first (``classify.survival_models``).
SURVIVAL_MODELS: tuple[str, ...] = schema_enum("classify.survival_models")

_MODEL_SPECS: dict = schema_node("classify.models")["properties"]

#: Classifiers for categorical and landmark targets, simplest first (ties go to the simpler):
#: the models of ``classify.models`` that are not survival models.
CLASSIFIERS: tuple[str, ...] = tuple(m for m in _MODEL_SPECS if m not in SURVIVAL_MODELS)

#: numpy's notes on NaN-only or too-short slices (nanmean, nanvar, nanquantile), whose NaN
#: results the summaries handle: the only RuntimeWarnings they filter, by message.
NAN_SLICE_NOTES = "Mean of empty slice|All-NaN slice encountered|Degrees of freedom <= 0"

# survival models and classifiers never compete for one target: one order serves both
_SIMPLICITY = {m: i for i, m in enumerate((*SURVIVAL_MODELS, *CLASSIFIERS))}

#: Hyper-parameter grids (parameter of the model -> values), the schema's defaults of
#: ``classify.models.<model>.grid``. ``coxnet``'s ``alpha`` is its single penalty
#: (scikit-survival's ``alphas=[alpha]``); ``svm``'s ``C`` is the LinearSVC's.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    **{m: spec["properties"]["grid"]["default"] for m, spec in _MODEL_SPECS.items()},
    **{m: {} for m in SURVIVAL_MODELS if m not in _MODEL_SPECS},  # crs: nothing to tune
}

#: Defaults of the ``classify`` config section (see :func:`resolve_config`), from the schema.
DEFAULT_CONFIG: dict = {
    k: v for k, v in section_defaults("classify", check=False).items() if k != "enabled"
}

_UNIT_PER_YEAR = YEAR_LENGTH

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

SEP = ":"


def resolve_config(config: Mapping | None = None) -> dict:
    """The ``classify`` section with defaults filled in and checked against the config schema.

    Parameters
    ----------
    config : mapping, optional
        The user's section (keys of :data:`DEFAULT_CONFIG`); model entries may give ``grid``.

    Returns
    -------
    dict
        A new dict: every key of :data:`DEFAULT_CONFIG` (``enabled`` left out), user values
        first. A model's grid replaces the default grid as a whole; no model (``models: {}``)
        means the default models.

    Raises
    ------
    MetpotError
        Unknown key or model, a bad value (one line per problem, naming the key).
    """
    config = dict(config or {})
    for name in config.get("models") or {}:
        if name not in _MODEL_SPECS:
            raise MetpotError(
                f"classify.models: unknown model {name!r} (known: {name_list(_MODEL_SPECS)})"
            )
    if not config.get("models"):
        config["models"] = schema_default("classify.models")
    out = section_defaults("classify", config)
    out.pop("enabled", None)
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
