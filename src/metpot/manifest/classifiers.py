"""The files of the classifier steps (``classify_fit``, ``classify_pipeline``,
``classify``) and of scoring new cohorts (``score``), and the config's facts that decide them."""

from __future__ import annotations

from collections.abc import Sequence

from metpot.config import endpoints, has_crs, layer_preprocess
from metpot.manifest._base import Output, StepFiles, _Builder, _rep, layers, out_dir
from metpot.manifest.analysis import _clusters, _ingest, _risk_score
from metpot.model_io import card_path


def classify_config(config: dict) -> dict:
    """The ``classify`` section with metpot.classify's defaults (without ``enabled``)."""
    from metpot.classify.options import resolve_config

    return resolve_config({k: v for k, v in config["classify"].items() if k != "enabled"})


def target_kind(config: dict, target: str) -> str:
    """``survival`` (an endpoint), ``landmark`` (``<endpoint>_landmark``) or ``categorical``."""
    eps = endpoints(config)
    if target in eps:
        return "survival"
    if target.endswith("_landmark") and target.removesuffix("_landmark") in eps:
        return "landmark"
    return "categorical"


def classify_jobs(config: dict) -> list[tuple[str, str, str]]:
    """The (target, model, feature set) fits of ``classify``, from the config alone."""
    if not config["classify"]["enabled"]:
        return []
    from metpot.classify.options import CLASSIFIERS, expand_feature_sets

    cfg = classify_config(config)
    fsets = expand_feature_sets(layers(config), cfg["feature_sets"])
    jobs = []
    for target in cfg["targets"]:
        if target_kind(config, target) == "survival":
            for m in cfg["survival_models"]:
                if m == "crs":
                    if has_crs(config):
                        jobs.append((target, m, "crs"))
                else:
                    jobs += [(target, m, fs) for fs in fsets]
        else:
            jobs += [(target, m, fs) for m in cfg["models"] if m in CLASSIFIERS for fs in fsets]
    return jobs


def _classify_inputs(config: dict) -> dict:
    ingest = _ingest(config).outputs
    inputs: dict = {f"layer_{n}": ingest[f"layer_{n}"].path for n in layers(config)}
    targets = config["classify"].get("targets") or ["snf_subtype"]
    if "snf_subtype" in targets:
        clusters = _clusters(config).outputs
        inputs["assignments"] = clusters["assignments"].path
        inputs["subtypes"] = clusters["subtypes"].path
    if "clinical" in ingest:
        inputs["clinical"] = ingest["clinical"].path
    if "outcome" in ingest:
        inputs["outcome"] = ingest["outcome"].path
    if has_crs(config):
        inputs["crs"] = _risk_score(config).outputs["crs"].path
    inputs["inputs"] = ingest["inputs"].path
    return inputs


#: The per-fit files of a classify job: (key, file name, kind).
_FIT_FILES = (
    ("rows", "rows.tsv", "table"),
    ("fold_metrics", "fold_metrics.tsv", "table"),
    ("best_params", "best_params.tsv", "table"),
    ("features", "features.tsv", "table"),
    ("predictions", "predictions.tsv", "patient"),
    ("folds", "folds.tsv", "patient"),
    ("fit", "fit.json", "table"),
    ("params", "params.json", "params"),
    ("metrics", "metrics.json", "metrics"),
)


#: The config sections (besides output_dir and cohort) that decide the classify jobs: the
#: rules hand a classify job these, and it finds its models with :func:`classify_fit_jobs`.
CLASSIFY_FIT_SECTIONS = ("classify", "seed", "crs")


def classify_fit_jobs(config: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """The classify jobs: one per (target, feature set), fitting its models together (they
    share each fold's preprocessing and the job's imports)."""
    from metpot.classify.options import fit_groups

    return [(t, fs, tuple(models)) for t, fs, models in fit_groups(classify_jobs(config))]


def classify_fit_rules(config: dict) -> dict[str, dict]:
    """The classify_fit rules: jobs whose model lists agree share a rule (a rule's outputs
    cannot depend on its wildcards' values). Rule name -> ``models``, ``targets`` and
    ``feature_sets`` (the values its wildcards take)."""
    rules: dict[tuple[str, ...], dict] = {}
    for target, fs, models in classify_fit_jobs(config):
        r = rules.setdefault(models, {"models": models, "targets": [], "feature_sets": []})
        for key, value in (("targets", target), ("feature_sets", fs)):
            if value not in r[key]:
                r[key].append(value)
    names = {}
    for models, r in rules.items():
        kind = "crs" if models == ("crs",) else None
        if kind is None:
            kind = "survival" if set(models) <= {"coxnet", "rsf"} else ""
        names["classify_fit" + (f"_{kind}" if kind else "")] = r
    return names


def classify_fit_files(config: dict, target: str, model: str, feature_set: str) -> dict:
    """The files of one (target, model, feature set) fit: key -> :class:`Output`."""
    name = f"{model}__{feature_set}"
    b = _Builder(config, f"classify/fits/{target}/{name}")
    for key, file, kind in _FIT_FILES:
        b.add(key, file, kind)
    model = b.path(f"{name}.skops", f"classify/models/{target}")
    b.files.outputs["model"] = Output(model, "model")
    card = card_path(model).name  # beside the model, the folder spelled as out_dir spells it
    b.files.outputs["card"] = Output(f"{model.rpartition('/')[0]}/{card}", "model")
    return b.files.outputs


def fit_output_key(model: str, key: str) -> str:
    """The output key of one model's file in its classify job."""
    return f"{model}__{key}"


def _classify_fit(
    config: dict,
    target: str = "{target}",
    feature_set: str = "{feature_set}",
    models: Sequence[str] | None = None,
) -> StepFiles:
    """One job: every model of (target, feature set). ``models`` is needed only with the
    wildcard patterns (the rule's outputs); concrete jobs find their models in the config."""
    if models is None and "{" in target:  # the rule's patterns: inputs and log only
        models = ()
    if models is None:
        models = next(
            (m for t, fs, m in classify_fit_jobs(config) if (t, fs) == (target, feature_set)),
            None,
        )
        if models is None:
            raise KeyError(f"no classify job for target {target!r}, feature set {feature_set!r}")
    files = StepFiles()
    files.inputs = _classify_inputs(config)
    for model in models:
        for key, o in classify_fit_files(config, target, model, feature_set).items():
            files.outputs[fit_output_key(model, key)] = o
    root = out_dir(config)
    files.log = f"{root}/logs/classify/{target}/{feature_set}.log"
    files.benchmark = f"{root}/benchmarks/classify/{target}/{feature_set}.tsv"
    return files


def classify_targets(config: dict) -> list[str]:
    """The classify targets of the config (empty when classify is off)."""
    return list(dict.fromkeys(t for t, _, _ in classify_jobs(config)))


def subtype_validation(config: dict) -> str:
    """``classify.validation`` resolved: ``auto`` is ``pipeline`` when a layer's features are
    chosen with the outcome (``preprocess`` select method ``cox``), else ``partition``."""
    value = (config.get("classify") or {}).get("validation", "auto")
    if value != "auto":
        return value
    return "pipeline" if features_chosen_with_outcome(config) else "partition"


def features_chosen_with_outcome(config: dict) -> bool:
    """Whether a layer's features are selected by their association with survival."""
    return any(layer_preprocess(config, n)["select"]["method"] == "cox" for n in layers(config))


def has_classify_pipeline(config: dict) -> bool:
    """Whether the run validates its subtypes inside the folds (``classify_pipeline``): with
    the ``snf_subtype`` classify target, always for the partition's stability."""
    return "snf_subtype" in classify_targets(config)


def _classify_pipeline(config: dict) -> StepFiles:
    b = _Builder(config, "classify")
    ingest = _ingest(config).outputs
    clusters = _clusters(config).outputs
    inputs: dict = {f"layer_{n}": ingest[f"layer_{n}"].path for n in layers(config)}
    inputs.update(
        assignments=clusters["assignments"].path,
        subtypes=clusters["subtypes"].path,
        n_clusters=clusters["n_clusters"].path,
    )
    if "outcome" in ingest:
        inputs["outcome"] = ingest["outcome"].path
    if has_crs(config):
        inputs["crs"] = _risk_score(config).outputs["crs"].path
    b.files.inputs = inputs
    b.add(
        "partition_stability",
        "partition_stability.tsv",
        "table",
        _rep("Classifiers", "partition_stability", name="partition stability"),
    )
    b.add("fit", "fit.json", "table", folder="classify/pipeline")
    if subtype_validation(config) == "pipeline":
        b.add("vs_crs", "vs_crs.tsv", "table", folder="classify/pipeline")
        b.add("predictions", "predictions.tsv", "patient", folder="classify/pipeline")
    b.add("metrics", "metrics.json", "metrics", folder="classify/pipeline")
    return b.files


def _classify(config: dict) -> StepFiles:
    b = _Builder(config, "classify")
    fits: dict[str, list[str]] = {}
    for job in classify_jobs(config):
        for key, o in classify_fit_files(config, *job).items():
            if key not in ("model", "params", "metrics"):
                fits.setdefault(key, []).append(o.path)
    b.files.inputs = fits
    if has_classify_pipeline(config) and subtype_validation(config) == "pipeline":
        b.files.inputs["pipeline_vs_crs"] = _classify_pipeline(config).outputs["vs_crs"].path
    b.add(
        "comparison", "comparison.tsv", "table", _rep("Classifiers", "comparison", name="all fits")
    )
    b.add("vs_crs", "vs_crs.tsv", "table", _rep("Classifiers", "vs_crs_table", name="against CRS"))
    b.add("decision_curve", "decision_curve.tsv", "table")
    b.add("best", "best.tsv", "table", _rep("Classifiers", "best", name="best per target"))
    b.add("predictions", "predictions.tsv", "patient")
    b.add("folds", "folds.tsv", "patient")
    for target in classify_targets(config):
        b.add(f"features_{target}", f"features_{target}.tsv", "table")
    if has_crs(config) and endpoints(config):
        b.figure(
            "vs_crs_figure", "vs_crs", _rep("Classifiers", "vs_crs", name="against CRS figure")
        )
        b.figure(
            "decision_curve_figure",
            "decision_curve",
            _rep("Classifiers", "decision_curve", name="decision curve"),
        )
    _classify_report(b, config)
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def signature_targets(config: dict) -> list[str]:
    """Categorical classify targets with a ``signature`` feature set (a signature heatmap)."""
    from metpot.classify.options import expand_feature_sets

    targets = [t for t in classify_targets(config) if target_kind(config, t) == "categorical"]
    fsets = expand_feature_sets(layers(config), classify_config(config)["feature_sets"])
    return targets if targets and "signature" in fsets else []


def _classify_report(b: _Builder, config: dict) -> None:
    """Calibration of the out-of-fold probabilities, and the compact signature's heatmap."""
    targets = [t for t in classify_targets(config) if target_kind(config, t) != "survival"]
    if not targets:
        return
    b.add(
        "calibration",
        "calibration.tsv",
        "table",
        _rep("Classifiers", "calibration_table", name="calibration table"),
    )
    for target in targets:
        b.figure(
            f"calibration_{target}",
            f"calibration_{target}",
            _rep("Classifiers", "calibration", name=f"calibration {target}", target=target),
        )
    signature = signature_targets(config)
    for target in signature:
        b.figure(
            f"signature_{target}",
            f"signature_{target}",
            _rep("Classifiers", "signature", name=f"signature {target}", target=target),
        )
    if signature:  # the signature's values, and the subtype colours of the clusters figures
        ingest = _ingest(config).outputs
        b.files.inputs.update({f"layer_{n}": ingest[f"layer_{n}"].path for n in layers(config)})
    if "snf_subtype" in targets:
        b.files.inputs["subtypes"] = _clusters(config).outputs["subtypes"].path


def subtype_target(config: dict) -> str | None:
    """The first categorical classify target (the one scoring uses by default)."""
    for target in classify_targets(config):
        if target_kind(config, target) == "categorical":
            return target
    return None


#: The files of a scored cohort that ``metpot score --model M --out DIR`` (one-off) also writes.
SCORE_FILES = {"predictions": "predictions.tsv", "summary": "summary.json"}


def score_oneoff_outputs(out: str) -> dict[str, str]:
    """The outputs of ``metpot score --model M --out DIR``: key -> path under ``out``."""
    return {key: f"{out}/{name}" for key, name in SCORE_FILES.items()}


def _score(config: dict, cohort: str = "{cohort}") -> StepFiles:
    b = _Builder(config, f"score/{cohort}")
    spec = config["score"]["cohorts"].get(cohort, {}) if "{" not in cohort else {}
    inputs: dict = {}
    for name, layer in spec.get("omics", {}).items():
        inputs[f"layer_{name}"] = layer["path"]
    if spec.get("clinical"):
        inputs["clinical"] = spec["clinical"]["path"]
    model = config["score"].get("model")
    templates = config["score"].get("ntp", {}).get("templates")
    if templates:  # a published NTP template: no model
        inputs["templates"] = templates
    elif model and not model.startswith("models:/"):
        inputs["model"] = model
    elif not model:
        target = subtype_target(config)
        cards = [
            classify_fit_files(config, t, m, fs)["card"].path
            for t, m, fs in classify_jobs(config)
            if t == target
        ]
        inputs["cards"] = cards
    if config["score"]["method"] in ("snf_propagation", "all"):
        ingest = _ingest(config).outputs
        inputs.update({f"train_{n}": ingest[f"layer_{n}"].path for n in layers(config)})
        clusters = _clusters(config).outputs
        inputs["assignments"] = clusters["assignments"].path
        inputs["subtypes"] = clusters["subtypes"].path
    b.files.inputs = inputs
    b.add("predictions", SCORE_FILES["predictions"], "patient")
    b.add(
        "summary",
        SCORE_FILES["summary"],
        "table",
        _rep("Scoring", "score_summary", cohort, cohort=cohort),
    )
    b.figure(
        "probabilities",
        "probabilities",
        _rep("Scoring", "score_probabilities", cohort, cohort=cohort),
    )
    if config["score"]["method"] == "all":
        b.add("agreement", "agreement.tsv", "table")
    b.add("metrics", "metrics.json", "metrics")
    b.logs(f"score_{cohort}", f"score_{cohort}")
    return b.files


def score_cohorts(config: dict) -> list[str]:
    """The cohorts ``score`` scores."""
    return list((config.get("score") or {}).get("cohorts", {}))
