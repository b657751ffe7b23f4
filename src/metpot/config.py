"""Configuration: schema validation with defaults and per-layer settings.

The schema is ``config/schema.yaml``; the Snakefile validates the config with
:func:`snakemake.utils.validate` (which fills defaults) and then with :func:`validate_config`
here, which turns the first schema violation into a one-line :class:`MetpotError` that names
the offending key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from metpot.errors import MetpotError


def _extend_with_default(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _extend_with_default(jsonschema.Draft202012Validator)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file, with a one-line error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise MetpotError(f"{path}: file not found")
    try:
        with path.open() as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MetpotError(f"{path}: not valid YAML{where}") from None


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict, schema: str | Path | Mapping) -> dict:
    """Validate ``config`` against ``schema`` in place, filling defaults.

    Parameters
    ----------
    config : dict
        The configuration (modified in place: defaults are filled).
    schema : path or mapping
        The JSON schema (``config/schema.yaml``).

    Returns
    -------
    dict
        The same ``config``.

    Raises
    ------
    MetpotError
        On the first violation, with a one-line message naming the key.
    """
    if not isinstance(schema, Mapping):
        schema = load_yaml(schema)
    if not isinstance(config, dict):
        raise MetpotError("config: expected a mapping at the top level")
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        message = err.message.replace("\n", " ")
        if err.validator == "additionalProperties":
            message = f"unknown key: {message}"
        raise MetpotError(f"config: {_key_path(err)}: {message}")
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    layers = list(config["cohort"]["omics"])
    for name in config.get("preprocess", {}).get("omics", {}):
        if name not in layers:
            raise MetpotError(
                f"config: preprocess.omics.{name}: no omics layer named {name!r} "
                f"(layers: {', '.join(layers)})"
            )
    clinical = config["cohort"].get("clinical") or {}
    if bool(clinical.get("time")) != bool(clinical.get("event")):
        raise MetpotError("config: cohort.clinical: 'time' and 'event' must be given together")
    if bool(clinical.get("pfs_time")) != bool(clinical.get("pfs_event")):
        raise MetpotError(
            "config: cohort.clinical: 'pfs_time' and 'pfs_event' must be given together"
        )
    n = config.get("clusters", {}).get("n", "auto")
    if isinstance(n, int) and n not in config["clusters"]["candidates"]:
        config["clusters"]["candidates"] = sorted({*config["clusters"]["candidates"], n})


def _merge(base: dict, override: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def layer_preprocess(config: dict, layer: str) -> dict:
    """Preprocessing settings of one layer: the defaults with its overrides merged in."""
    pre = config.get("preprocess", {})
    base = {k: v for k, v in pre.items() if k != "omics"}
    return _merge(base, pre.get("omics", {}).get(layer, {}))


def has_survival(config: dict) -> bool:
    """Whether overall survival columns are configured."""
    clinical = config["cohort"].get("clinical") or {}
    return bool(clinical.get("time") and clinical.get("event"))
