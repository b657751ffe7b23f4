"""Configuration: schema validation with defaults, and what a config switches on.

The schema is ``config/schema.yaml``, the only place where defaults, allowed values and model
lists are written: the code reads them with :func:`schema` (read once),
:func:`schema_node`, :func:`schema_default` and :func:`schema_enum`. :func:`config_problems`
lists every schema violation and every inconsistency between keys, one line each, naming the
key to change; :func:`validate_config` raises them together. A user's config stands alone:
keys left out take the schema's defaults, never the demo's values (``config/config.yaml`` is
only the demo).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from metpot.errors import MetpotError

if TYPE_CHECKING:
    import jsonschema

CRS_FACTORS = (
    "node_positive",
    "disease_free_interval_months",
    "n_liver_tumors",
    "cea_ng_ml",
    "largest_tumor_cm",
)
#: Length of a year in each time unit (``cohort.clinical.time_unit``: its allowed values).
YEAR_LENGTH = {"days": 365.25, "months": 12.0, "years": 1.0}

#: Settings a preset of ``survival.integrated_groups`` carries: preset -> {(section, key):
#: value}. The 2023 validation (Katipally et al., JAMA Oncol 2023) called the Fong score high
#: from 2; Pitroda 2018 from 3 (the schema's default).
PRESET_SETTINGS: dict[str, dict[tuple[str, str], Any]] = {
    "katipally2023": {("crs", "high_cutoff"): 2},
}


#: PyYAML's safe loader, its libyaml (C) parser when the wheel has it: the same documents,
#: parsed about ten times faster (every workflow job reads the schema)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _schema_file() -> dict:
    from metpot.bundle import schema_path

    return load_yaml(schema_path())


def schema() -> dict:
    """The config schema (``config/schema.yaml``), read once per process.

    Returns
    -------
    dict
        A deep copy (callers may change it freely).
    """
    return copy.deepcopy(_schema_file())


def resolve_ref(node: Mapping, root: Mapping) -> dict:
    """A schema ``node`` with its local ``$ref`` (``#/definitions/...`` of the schema ``root``)
    merged in (the node's own keys win)."""
    node = dict(node)
    while "$ref" in node:
        target: Any = root
        for part in node.pop("$ref").removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **node}
    return node


def schema_node(key: str) -> dict:
    """The schema of one config key, ``$ref`` resolved.

    Parameters
    ----------
    key : str
        Dotted path of the key, e.g. ``"crs.high_cutoff"`` or ``"preprocess.select.top"``;
        ``*`` stands for a name the user chooses (``"cohort.omics.*.layout"``).

    Returns
    -------
    dict
        The key's schema (``type``, ``default``, ``enum``, ``description``, ...), a copy.

    Raises
    ------
    KeyError
        The schema has no such key.
    """
    root = _schema_file()
    node: dict = dict(root)
    for part in key.split("."):
        node = resolve_ref(node, root)
        props = node.get("properties", {})
        if part == "*" and isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        elif part in props:
            node = props[part]
        else:
            raise KeyError(f"config schema: no key {key!r} ({part!r} unknown)")
    return copy.deepcopy(resolve_ref(node, root))


def schema_default(key: str) -> Any:
    """The schema's default of one config key (a copy), e.g. ``schema_default("crs.high_cutoff")``.

    Raises
    ------
    KeyError
        The key is unknown or has no default.
    """
    node = schema_node(key)
    if "default" not in node:
        raise KeyError(f"config schema: {key} has no default")
    return node["default"]


def schema_enum(key: str) -> tuple:
    """The allowed values of one config key (its ``enum``, or that of its array's items), in
    the schema's order.

    Raises
    ------
    KeyError
        The key is unknown or has no list of values.
    """
    node = schema_node(key)
    values = node.get("enum", node.get("items", {}).get("enum"))
    if values is None:
        raise KeyError(f"config schema: {key} has no list of allowed values")
    return tuple(values)


def _fill_defaults(node: Mapping, instance: Any, root: Mapping) -> None:
    """Fill the schema's defaults into ``instance`` in place, as validation would (no check)."""
    node = resolve_ref(node, root)
    if not isinstance(instance, dict):
        return
    for key, sub in node.get("properties", {}).items():
        if "default" in sub and key not in instance:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(sub, instance[key], root)


def section_defaults(name: str, section: Mapping | None = None, *, check: bool = True) -> dict:
    """One top-level config section with the schema's defaults filled in (checked alone).

    Parameters
    ----------
    name : str
        The section (e.g. ``"classify"``).
    section : mapping, optional
        The user's section; default empty.
    check : bool
        Validate it against the schema (imports jsonschema); ``False`` only fills defaults.

    Returns
    -------
    dict
        A new dict.

    Raises
    ------
    MetpotError
        With ``check``: one line per schema problem, naming ``<name>.<key>``.
    """
    root = _schema_file()
    config = {name: copy.deepcopy(dict(section or {}))}
    if not check:
        _fill_defaults(root["properties"][name], config[name], root)
        return config[name]
    sub = {
        "definitions": root.get("definitions", {}),
        "type": "object",
        "properties": {name: root["properties"][name]},
    }
    errors = sorted(
        _section_validator(name, sub).iter_errors(config), key=lambda e: [str(p) for p in e.path]
    )
    if errors:
        raise MetpotError("\n".join(dict.fromkeys(_message(e) for e in errors)))
    return config[name]


_SECTION_VALIDATORS: dict = {}


def _section_validator(name: str, sub: Mapping):
    if name not in _SECTION_VALIDATORS:
        _SECTION_VALIDATORS[name] = _default_filling_validator()(sub)
    return _SECTION_VALIDATORS[name]


@functools.cache
def _default_filling_validator():
    """jsonschema's Draft 2020-12 validator that fills defaults as it validates (jsonschema is
    imported here: steps that read a resolved config never need it)."""
    import jsonschema

    validator_class = jsonschema.Draft202012Validator
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_yaml(path: str | Path) -> Any:
    """Read a YAML (or JSON) file, with a one-line error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise MetpotError(f"{path}: file not found")
    try:
        with path.open() as fh:
            return yaml.load(fh, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MetpotError(f"{path}: not valid YAML{where}") from None


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _schema(schema: str | Path | Mapping | None) -> Mapping:
    if schema is None:
        return _schema_file()
    return schema if isinstance(schema, Mapping) else load_yaml(schema)


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "oneOf" and err.context:
        import jsonschema

        err = jsonschema.exceptions.best_match(err.context)
    message = err.message.replace("\n", " ")
    if err.validator == "additionalProperties":
        message = f"unknown key: {message}"
    return f"config: {_key_path(err)}: {message}"


def config_problems(config: Any, schema: str | Path | Mapping | None = None) -> list[str]:
    """Every problem of a config, one line each naming its key (defaults filled in place).

    Parameters
    ----------
    config : dict
        The configuration; modified in place: defaults are filled.
    schema : path or mapping, optional
        The JSON schema; default the workflow's ``config/schema.yaml``.

    Returns
    -------
    list of str
        Empty when the config is valid.
    """
    if not isinstance(config, dict):
        return ["config: expected a mapping of keys at the top level"]
    apply_presets(config)  # before the schema fills its defaults: only unset keys take them
    validator = _default_filling_validator()(_schema(schema))
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.path])
    if errors:
        return list(dict.fromkeys(_message(e) for e in errors))
    return _semantic_problems(config)


def validate_config(config: Any, schema: str | Path | Mapping | None = None) -> dict:
    """Validate ``config`` in place (filling defaults); raise every problem at once.

    Raises
    ------
    MetpotError
        With one line per problem.
    """
    problems = config_problems(config, schema)
    if problems:
        raise MetpotError("\n".join(problems))
    return config


def load_config(source: str | Path | Mapping) -> dict:
    """A validated config with defaults, from a YAML/JSON file or a mapping.

    A string starting with ``{`` is read as JSON text (what the workflow's rules pass).
    """
    if isinstance(source, Mapping):
        config = copy.deepcopy(dict(source))
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        config = json.loads(source)
    else:
        config = load_yaml(source)
    return validate_config(config)


def read_config_json(path: str | Path) -> dict:
    """A resolved config as the workflow writes it for a step (``<output_dir>/config/<step>.json``,
    read as is: the workflow validated it), with a one-line error for a missing or malformed
    file."""
    path = Path(path)
    if not path.is_file():
        raise MetpotError(f"{path}: file not found")
    try:
        value = json.loads(path.read_text())
    except ValueError as exc:
        raise MetpotError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MetpotError(f"{path}: expected a mapping of config keys at the top level")
    return value


def _preset(config: Mapping) -> str | None:
    survival = config.get("survival")
    groups = survival.get("integrated_groups") if isinstance(survival, Mapping) else None
    return groups if isinstance(groups, str) and groups in PRESET_SETTINGS else None


def apply_presets(config: dict) -> dict:
    """Set what the chosen ``survival.integrated_groups`` preset carries, where the config
    does not set it.

    Run on the config as written, before the schema fills its defaults (which would make
    every key look set): ``katipally2023`` sets ``crs.high_cutoff: 2`` unless ``crs`` names
    a ``high_cutoff`` itself. A key set otherwise is kept; :func:`preset_warnings` names it.

    Parameters
    ----------
    config : dict
        The configuration; modified in place.

    Returns
    -------
    dict
        ``config``.
    """
    preset = _preset(config)
    for (section, key), value in PRESET_SETTINGS.get(preset, {}).items():
        node = config.get(section)
        if isinstance(node, dict) and key not in node:
            node[key] = copy.deepcopy(value)
    return config


def preset_warnings(config: Mapping) -> list[str]:
    """One line per setting that contradicts the chosen ``survival.integrated_groups``
    preset, naming both keys and both values (empty when none does).

    Parameters
    ----------
    config : dict
        A config (with or without defaults: after :func:`apply_presets`, a key that differs
        from its preset's value was set by the user).
    """
    preset = _preset(config)
    lines = []
    for (section, key), value in PRESET_SETTINGS.get(preset, {}).items():
        node = config.get(section)
        if isinstance(node, Mapping) and key in node and node[key] != value:
            lines.append(
                f"config: {section}.{key}: {node[key]} is kept although "
                f"survival.integrated_groups: {preset} uses {section}.{key}: {value}; the "
                f"integrated risk groups then differ from the {preset} design (remove "
                f"{section}.{key} or set it to {value} to follow it)"
            )
    return lines


def _semantic_problems(config: dict) -> list[str]:
    problems = []
    layers = list(config["cohort"]["omics"])
    for name in config.get("preprocess", {}).get("omics", {}):
        if name not in layers:
            problems.append(
                f"config: preprocess.omics.{name}: no omics layer named {name!r} "
                f"(layers: {', '.join(layers)})"
            )
    clinical = config["cohort"].get("clinical") or {}
    for a, b in (("time", "event"), ("pfs_time", "pfs_event")):
        if bool(clinical.get(a)) != bool(clinical.get(b)):
            problems.append(f"config: cohort.clinical: {a!r} and {b!r} must be given together")
    if (clinical.get("time") or clinical.get("pfs_time")) and not clinical.get("time_unit"):
        problems.append(
            "config: cohort.clinical.time_unit: required when survival times are configured "
            "(days, months or years)"
        )
    if clinical.get("pfs_time") and not clinical.get("time"):
        problems.append("config: cohort.clinical.time: PFS is configured without overall survival")
    crs = config.get("crs")
    if crs is not None:
        if not clinical:
            problems.append("config: crs: the clinical risk score needs cohort.clinical")
        elif not crs.get("score"):
            missing = [f for f in CRS_FACTORS if not crs.get(f)]
            if missing:
                problems.append(
                    f"config: crs.{missing[0]}: name the clinical column of every Fong factor "
                    f"(missing: {', '.join(missing)}), or a precomputed crs.score"
                )
    survival = config.get("survival", {})
    if survival.get("integrated_groups") is not None and (crs is None or not has_survival(config)):
        problems.append(
            "config: survival.integrated_groups: integrated risk groups need crs and survival "
            "(cohort.clinical.time/event)"
        )
    sub_layer = config.get("subtypes", {}).get("layer")
    if sub_layer and sub_layer not in layers:
        problems.append(
            f"config: subtypes.layer: no omics layer named {sub_layer!r} "
            f"(layers: {', '.join(layers)})"
        )
    char_layer = config.get("characterise", {}).get("layer")
    if char_layer and char_layer not in layers:
        problems.append(
            f"config: characterise.layer: no omics layer named {char_layer!r} "
            f"(layers: {', '.join(layers)})"
        )
    score = config.get("score") or {}
    if (score.get("ntp") or {}).get("templates"):
        method = score.get("method", schema_default("score.method"))
        if method != "ntp":
            problems.append(
                "config: score.ntp.templates: a published template scores with NTP only; "
                f"set score.method: ntp (got {method})"
            )
        if score.get("model"):
            problems.append(
                "config: score.ntp.templates: give score.model or score.ntp.templates, not both"
            )
    n = config.get("clusters", {}).get("n", schema_default("clusters.n"))
    if isinstance(n, int) and n not in config["clusters"]["candidates"]:
        config["clusters"]["candidates"] = sorted({*config["clusters"]["candidates"], n})
    return problems


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


def endpoints(config: dict) -> list[str]:
    """Survival endpoints configured: ``os`` and, when PFS columns are set, ``pfs``."""
    if not has_survival(config):
        return []
    clinical = config["cohort"]["clinical"]
    return ["os", "pfs"] if clinical.get("pfs_time") else ["os"]


def has_crs(config: dict) -> bool:
    """Whether the clinical risk score is configured."""
    return config.get("crs") is not None and bool(config["cohort"].get("clinical"))


def has_clinical_model(config: dict) -> bool:
    """Whether a multivariable Cox model has clinical terms (risk score or covariates)."""
    clinical = config["cohort"].get("clinical") or {}
    return has_crs(config) or bool(clinical.get("covariates"))


def has_integrated_groups(config: dict) -> bool:
    """Whether integrated risk groups (subtype x CRS group) are configured."""
    return has_crs(config) and config.get("survival", {}).get("integrated_groups") is not None


def has_truth(config: dict) -> bool:
    """Whether known labels are configured."""
    return bool(config["cohort"].get("truth"))
