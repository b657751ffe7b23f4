"""The step contract: every file each workflow step reads and writes, defined once.

The workflow's rules declare exactly these inputs and outputs, the ``metpot`` command of each
step writes exactly these outputs (and fails if it leaves one out or writes another), and
tracking logs exactly these files. Paths are under ``config["output_dir"]`` (default
``results``); which optional files exist (PFS, integrated risk groups, agreement with known
labels, ...) follows from the config alone, never from what happens to be on disk.

Each output has a *kind*, which decides what MLflow receives (``tracking.artifacts``):

- ``patient``: patient-level data (omics matrices, per-patient tables); logged only with
  ``tracking.artifacts: all``.
- ``table`` (aggregate tables and JSON), ``figure``, ``metrics``, ``params``, ``model``,
  ``text``: logged by default (``summary``).
- ``temp``: intermediates nothing reads after the run (removed by Snakemake).

An output may also carry a :class:`Report`: its category (Data, Subtypes, Survival,
Classifiers, Scoring), subcategory, caption file (``workflow/report/<caption>``) and labels in
the Snakemake report; the workflow wraps those outputs in ``report()`` (``common.smk``), so
what the report shows is declared here, once. A figure's SVG is reported, its PNG is not.

A step is looked up with :func:`step`, which returns its :class:`StepFiles`. Wildcard values
(``chunk``, ``endpoint``) may be given as ``"{chunk}"`` to obtain the rule's patterns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from metpot.config import (
    endpoints,
    has_clinical_model,
    has_crs,
    has_integrated_groups,
    has_truth,
    layer_preprocess,
)
from metpot.model_io import card_path

KINDS = ("patient", "table", "figure", "metrics", "params", "model", "text", "temp")
SUMMARY_KINDS = frozenset({"table", "figure", "metrics", "params", "model", "text"})
FIGURE_FORMATS = ("svg", "png")


@dataclass(frozen=True)
class Report:
    """Where an output appears in the Snakemake report (``snakemake --report``).

    ``caption`` is a file name in ``workflow/report/``; ``labels`` are (name, value) pairs
    (values may hold wildcards such as ``{endpoint}``).
    """

    category: str
    caption: str
    subcategory: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def labels_dict(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)


REPORT_CATEGORIES = ("Data", "Subtypes", "Survival", "Classifiers", "Scoring")


@dataclass(frozen=True)
class Output:
    """One declared output file: its path, kind and (optional) place in the report."""

    path: str
    kind: str
    report: Report | None = None


@dataclass
class StepFiles:
    """The files of one step (inputs: a path or a list of paths per key)."""

    inputs: dict[str, str | list[str]] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    log: str = ""
    benchmark: str = ""

    def output_paths(self) -> dict[str, str]:
        """Output key -> path."""
        return {k: o.path for k, o in self.outputs.items()}


def out_dir(config: dict) -> str:
    """The output folder of a run."""
    return str(config.get("output_dir") or "results").rstrip("/") or "."


def layers(config: dict) -> list[str]:
    """The omics layers, in config order."""
    return list(config["cohort"]["omics"])


def subtype_layer(config: dict) -> str:
    """The layer whose features name the subtypes (``subtypes.layer``, else the first)."""
    return config.get("subtypes", {}).get("layer") or layers(config)[0]


def characterise_layer(config: dict) -> str:
    """The layer of the gene sets (``characterise.layer``, else :func:`subtype_layer`)."""
    return (config.get("characterise") or {}).get("layer") or subtype_layer(config)


def gene_sets(config: dict) -> dict[str, list[str]]:
    """The configured gene sets (``characterise.gene_sets``; empty when none)."""
    return dict((config.get("characterise") or {}).get("gene_sets") or {})


def n_consensus_chunks(config: dict) -> int:
    """Consensus resamples are split into this many jobs (0 without consensus)."""
    cons = config["clusters"]["consensus"]
    return min(cons["chunks"], cons["resamples"])


class _Builder:
    def __init__(self, config: dict, folder: str):
        self.root = out_dir(config)
        self.folder = folder
        self.files = StepFiles()

    def path(self, name: str, folder: str | None = None) -> str:
        return f"{self.root}/{self.folder if folder is None else folder}/{name}"

    def add(
        self,
        key: str,
        name: str,
        kind: str,
        report: Report | None = None,
        folder: str | None = None,
    ) -> None:
        assert kind in KINDS, kind
        assert report is None or report.category in REPORT_CATEGORIES, report
        self.files.outputs[key] = Output(self.path(name, folder), kind, report)

    def figure(self, key: str, name: str, report: Report | None = None) -> None:
        """SVG and PNG of a figure; the report shows the SVG (the PNG is for slides)."""
        for fmt in FIGURE_FORMATS:
            self.add(f"{key}_{fmt}", f"{name}.{fmt}", "figure", report if fmt == "svg" else None)


def _rep(category: str, caption: str, subcategory: str = "", **labels: str) -> Report:
    return Report(category, f"{caption}.rst", subcategory, tuple(labels.items()))


def _demo(config: dict) -> StepFiles:
    """The demo cohort's files: where the config's cohort section reads them (so that
    ``--config output_dir=...`` finds them), else under ``<output_dir>/demo``."""
    b = _Builder(config, "demo")
    cohort = config.get("cohort") or {}
    named = {
        "mrna": ((cohort.get("omics") or {}).get("mrna") or {}).get("path"),
        "mirna": ((cohort.get("omics") or {}).get("mirna") or {}).get("path"),
        "clinical": (cohort.get("clinical") or {}).get("path"),
        "truth": cohort.get("truth"),
    }
    for key, name in (
        ("mrna", "mrna.tsv.gz"),
        ("mirna", "mirna.tsv.gz"),
        ("clinical", "clinical.tsv"),
        ("truth", "truth.tsv"),
    ):
        if named[key]:
            b.files.outputs[key] = Output(named[key], "patient")
        else:
            b.add(key, name, "patient")
    b.files.outputs["readme"] = Output(
        os.path.join(os.path.dirname(b.files.outputs["mrna"].path), "README.txt"), "text"
    )
    return b.files


def _ingest(config: dict) -> StepFiles:
    b = _Builder(config, "ingest")
    cohort = config["cohort"]
    b.files.inputs = {f"layer_{n}": s["path"] for n, s in cohort["omics"].items()}
    for name in layers(config):
        b.add(f"layer_{name}", f"{name}.parquet", "patient")
    b.add("samples", "samples.tsv", "patient")
    b.add("inputs", "inputs.json", "table")
    b.add("metrics", "metrics.json", "metrics")
    if cohort.get("clinical"):
        b.files.inputs["clinical"] = cohort["clinical"]["path"]
        b.add("clinical", "clinical.parquet", "patient")
    if endpoints(config):
        b.add("outcome", "outcome.tsv", "patient")
    if has_truth(config):
        b.files.inputs["truth"] = cohort["truth"]
        b.add("truth", "truth.tsv", "patient")
    return b.files


def _ingested(config: dict, key: str) -> str:
    return _ingest(config).outputs[key].path


def _preprocess(config: dict) -> StepFiles:
    b = _Builder(config, "preprocess")
    ingest = _ingest(config).outputs
    b.files.inputs = {f"layer_{n}": ingest[f"layer_{n}"].path for n in layers(config)}
    if "outcome" in ingest:
        b.files.inputs["outcome"] = ingest["outcome"].path
    for name in layers(config):
        b.add(f"layer_{name}", f"{name}.parquet", "patient")
        if layer_preprocess(config, name)["select"]["method"] == "cox":
            b.add(f"cox_{name}", f"{name}.cox.tsv", "table")
    b.add("summary", "summary.json", "table", _rep("Data", "preprocess", name="preprocessing"))
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def _preprocessed(config: dict) -> dict[str, str]:
    out = _preprocess(config).outputs
    return {f"layer_{n}": out[f"layer_{n}"].path for n in layers(config)}


def _numba_cache(config: dict) -> StepFiles:
    b = _Builder(config, "snf")
    b.add("kernels", "numba_cache.json", "temp")
    return b.files


def _kernels(config: dict) -> dict[str, str]:
    """The input that orders a job after :func:`_numba_cache` (the job loads numba's cache)."""
    return {"numba_cache": _numba_cache(config).outputs["kernels"].path}


def _snf(config: dict) -> StepFiles:
    b = _Builder(config, "snf")
    b.files.inputs = {**_preprocessed(config), **_kernels(config)}
    b.add("fused", "fused.parquet", "patient")
    for name in layers(config):
        b.add(f"affinity_{name}", f"affinity_{name}.parquet", "patient")
    b.add("params", "params.json", "params")
    return b.files


def _consensus_chunk(config: dict, chunk: int | str = "{chunk}") -> StepFiles:
    b = _Builder(config, "clusters/consensus")
    b.files.inputs = {**_preprocessed(config), **_kernels(config)}
    b.add("chunk", f"chunk_{chunk}.tsv", "temp")
    b.files.log = f"{b.root}/logs/consensus/chunk_{chunk}.log"
    b.files.benchmark = f"{b.root}/benchmarks/consensus_chunk_{chunk}.tsv"
    return b.files


def _clusters(config: dict) -> StepFiles:
    b = _Builder(config, "clusters")
    b.files.inputs = {
        "fused": _snf(config).outputs["fused"].path,
        "layer": _ingested(config, f"layer_{subtype_layer(config)}"),
        "samples": _ingested(config, "samples"),  # the input order (a subtype as a block)
    }
    chunks = [
        _consensus_chunk(config, c).outputs["chunk"].path for c in range(n_consensus_chunks(config))
    ]
    if chunks:
        b.files.inputs["chunks"] = chunks
    if has_truth(config):
        b.files.inputs["truth"] = _ingested(config, "truth")
    snf = _snf(config).outputs
    for name in layers(config):  # per-layer networks, drawn ordered by subtype
        b.files.inputs[f"affinity_{name}"] = snf[f"affinity_{name}"].path
    b.add("assignments", "assignments.tsv", "patient")
    b.add("assignments_all_k", "assignments_all_k.tsv", "patient")
    b.add(
        "n_clusters",
        "n_clusters.json",
        "table",
        _rep("Subtypes", "n_clusters", name="choice of k"),
    )
    b.add("subtypes", "subtypes.tsv", "table", _rep("Subtypes", "subtypes", name="subtypes"))
    b.add("metrics", "metrics.json", "metrics")
    b.figure(
        "fused_heatmap", "fused_heatmap", _rep("Subtypes", "fused_heatmap", name="fused network")
    )
    for name in layers(config):
        b.figure(
            f"affinity_heatmap_{name}",
            f"affinity_heatmap_{name}",
            _rep("Subtypes", "affinity_heatmap", name=f"{name} network"),
        )
    b.figure(
        "cluster_number",
        "cluster_number",
        _rep("Subtypes", "cluster_number", name="eigen-gap and rotation cost"),
    )
    if chunks:
        b.add("consensus", "consensus.json", "table")
        b.add("stability", "stability.tsv", "patient")
        b.add("consensus_matrix", "consensus_matrix.parquet", "patient")
        b.figure(
            "consensus_cdf",
            "consensus_cdf",
            _rep("Subtypes", "consensus_cdf", name="consensus CDF"),
        )
        b.figure(
            "consensus_heatmap",
            "consensus_heatmap",
            _rep("Subtypes", "consensus_heatmap", name="consensus matrix"),
        )
        b.figure("silhouette", "silhouette", _rep("Subtypes", "silhouette", name="silhouette"))
        _consensus_per_k(b)
    if has_truth(config):
        b.add("agreement", "agreement.json", "table")
        b.add(
            "confusion", "confusion.tsv", "table", _rep("Subtypes", "confusion", name="confusion")
        )
    return b.files


def _consensus_per_k(b: _Builder) -> None:
    """The consensus of every candidate k: PAC table and figure, the matrices side by side."""
    b.add("pac", "pac.tsv", "table", _rep("Subtypes", "pac_table", name="PAC per k"))
    b.figure("pac_figure", "pac", _rep("Subtypes", "pac", name="PAC per k figure"))
    b.figure(
        "consensus_matrices",
        "consensus_matrices",
        _rep("Subtypes", "consensus_matrices", name="consensus matrix per k"),
    )


def _risk_score(config: dict) -> StepFiles:
    b = _Builder(config, "risk_score")
    b.files.inputs = {"clinical": _ingested(config, "clinical")}
    b.add("crs", "crs.tsv", "patient")
    b.add("summary", "summary.json", "table")
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def _km(b: _Builder, prefix: str, figure: str, config: dict, endpoint: str) -> None:
    what = "integrated risk group" if prefix else "subtype"
    sub = f"Endpoint {endpoint}"

    def rep(caption: str, **labels: str) -> Report:
        return _rep("Survival", caption, sub, endpoint=endpoint, grouping=what, **labels)

    b.add(f"{prefix}km", f"{prefix}km.tsv", "table")
    b.add(f"{prefix}km_median", f"{prefix}km_median.tsv", "table", rep("km_median", kind="table"))
    if config["survival"]["landmarks_years"]:
        b.add(
            f"{prefix}km_landmarks",
            f"{prefix}km_landmarks.tsv",
            "table",
            rep("km_landmarks", kind="landmark table"),
        )
    b.figure(figure, figure, rep(figure, kind="Kaplan-Meier figure"))


def _survival(config: dict, endpoint: str = "{endpoint}") -> StepFiles:
    b = _Builder(config, f"survival/{endpoint}")
    clusters = _clusters(config).outputs
    b.files.inputs = {
        "assignments": clusters["assignments"].path,
        "subtypes": clusters["subtypes"].path,
        "outcome": _ingested(config, "outcome"),
    }
    if config["cohort"]["clinical"].get("covariates"):
        b.files.inputs["clinical"] = _ingested(config, "clinical")
    if has_crs(config):
        b.files.inputs["crs"] = _risk_score(config).outputs["crs"].path
    b.add("logrank", "logrank.json", "table")
    b.add("logrank_pairwise", "logrank_pairwise.tsv", "table")
    _km(b, "", "km_subtype", config, endpoint)
    b.add("cox_subtype", "cox_subtype.tsv", "table")
    b.add("cox_subtype_json", "cox_subtype.json", "table")
    if has_clinical_model(config):
        sub = f"Endpoint {endpoint}"
        b.add(
            "cox_multivariable",
            "cox_multivariable.tsv",
            "table",
            _rep("Survival", "cox_multivariable", sub, endpoint=endpoint, grouping="Cox model",
                 kind="table"),
        )  # fmt: skip
        b.add("cox_multivariable_json", "cox_multivariable.json", "table")
        b.add("cox_zph", "cox_zph.tsv", "table")
        b.add(
            "concordance",
            "concordance.tsv",
            "table",
            _rep("Survival", "concordance", sub, endpoint=endpoint, grouping="concordance",
                 kind="table"),
        )  # fmt: skip
        b.add("concordance_differences", "concordance_differences.tsv", "table")
        b.figure(
            "forest",
            "forest",
            _rep("Survival", "forest", sub, endpoint=endpoint, grouping="Cox model",
                 kind="forest plot"),
        )  # fmt: skip
    if has_integrated_groups(config):
        b.add("integrated_groups", "integrated_groups.tsv", "patient")
        b.add("integrated_cross", "integrated_cross.tsv", "table")
        b.add("integrated_logrank", "integrated_logrank.json", "table")
        _km(b, "integrated_", "km_integrated", config, endpoint)
    b.add("metrics", "metrics.json", "metrics")
    b.files.log = f"{b.root}/logs/survival_{endpoint}.log"
    b.files.benchmark = f"{b.root}/benchmarks/survival_{endpoint}.tsv"
    return b.files


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
    b.files.log = f"{b.root}/logs/score_{cohort}.log"
    b.files.benchmark = f"{b.root}/benchmarks/score_{cohort}.tsv"
    return b.files


def score_cohorts(config: dict) -> list[str]:
    """The cohorts ``score`` scores."""
    return list((config.get("score") or {}).get("cohorts", {}))


def sweep_points(config: dict) -> list[tuple[str, str, str]]:
    """The (K, mu, t) settings of ``sweep``, as strings (empty when there is no sweep)."""
    sweep = config.get("sweep")
    if not sweep:
        return []
    return [
        (str(K), f"{mu:g}", str(t)) for K in sweep["K"] for mu in sweep["mu"] for t in sweep["t"]
    ]


def _sweep_point(config: dict, K: str = "{K}", mu: str = "{mu}", t: str = "{t}") -> StepFiles:
    b = _Builder(config, "sweep/points")
    b.files.inputs = dict(_preprocessed(config))
    b.files.inputs["assignments"] = _clusters(config).outputs["assignments"].path
    if endpoints(config):
        b.files.inputs["outcome"] = _ingested(config, "outcome")
    b.add("point", f"K{K}_mu{mu}_t{t}.json", "table")
    b.files.log = f"{b.root}/logs/sweep/K{K}_mu{mu}_t{t}.log"
    b.files.benchmark = f"{b.root}/benchmarks/sweep/K{K}_mu{mu}_t{t}.tsv"
    return b.files


def _sweep(config: dict) -> StepFiles:
    b = _Builder(config, "sweep")
    b.files.inputs = {
        "points": [_sweep_point(config, *p).outputs["point"].path for p in sweep_points(config)]
    }
    b.add("summary", "summary.tsv", "table", _rep("Subtypes", "sweep", name="SNF parameter sweep"))
    return b.files


def _characterise(config: dict) -> StepFiles:
    b = _Builder(config, "characterise")
    clusters = _clusters(config).outputs
    b.files.inputs = {f"layer_{n}": _ingested(config, f"layer_{n}") for n in layers(config)}
    b.files.inputs["assignments"] = clusters["assignments"].path
    b.files.inputs["subtypes"] = clusters["subtypes"].path
    sub = "Characterisation"
    for name in layers(config):
        b.add(f"differential_{name}", f"differential_{name}.tsv", "table")
        b.figure(
            f"heatmap_{name}",
            f"heatmap_{name}",
            _rep("Subtypes", "characterise_heatmap", sub, name=f"{name} top features"),
        )
    b.add(
        "top_features",
        "top_features.tsv",
        "table",
        _rep("Subtypes", "characterise_top", sub, name="top differential features"),
    )
    if gene_sets(config):
        b.add("gene_set_scores", "gene_set_scores.tsv", "patient")
        b.add(
            "gene_set_tests",
            "gene_set_tests.tsv",
            "table",
            _rep("Subtypes", "characterise_tests", sub, name="gene-set tests"),
        )
        b.add(
            "suggested_names",
            "suggested_names.tsv",
            "table",
            _rep("Subtypes", "characterise_names", sub, name="suggested names"),
        )
        b.figure(
            "gene_sets",
            "gene_sets",
            _rep("Subtypes", "characterise_gene_sets", sub, name="gene-set scores"),
        )
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def analysis_outputs(config: dict) -> dict[str, Output]:
    """Every output of the analysis steps (not tracking or the summary), by unique path."""
    found: dict[str, Output] = {}
    for name in analysis_steps(config):
        for files in expand_step(name, config):
            for o in files.outputs.values():
                found[o.path] = o
    return found


def _track(config: dict) -> StepFiles:
    b = _Builder(config, ".")
    outputs = analysis_outputs(config)
    b.files.inputs = {"results": sorted(p for p, o in outputs.items() if o.kind != "temp")}
    b.files.outputs["run"] = Output(f"{b.root}/mlflow_run.json", "text")
    return b.files


def _summary_integrated_inputs(config: dict) -> dict[str, list[str]]:
    """The integrated risk groups' landmark survival and sizes, per endpoint (summary.json)."""
    if not has_integrated_groups(config) or not endpoints(config):
        return {}
    out: dict[str, list[str]] = {"integrated_landmarks": [], "integrated_median": []}
    for e in endpoints(config):
        files = _survival(config, e).outputs
        if "integrated_km_landmarks" in files:
            out["integrated_landmarks"].append(files["integrated_km_landmarks"].path)
        out["integrated_median"].append(files["integrated_km_median"].path)
    return {k: v for k, v in out.items() if v}


def _summary(config: dict) -> StepFiles:
    b = _Builder(config, ".")
    inputs: dict[str, str | list[str]] = {
        "ingest_metrics": _ingested(config, "metrics"),
        "samples": _ingested(config, "samples"),
        "preprocess": _preprocess(config).outputs["summary"].path,
        "n_clusters": _clusters(config).outputs["n_clusters"].path,
        "subtypes": _clusters(config).outputs["subtypes"].path,
    }
    if has_truth(config):
        inputs["agreement"] = _clusters(config).outputs["agreement"].path
    characterised = _characterise(config).outputs
    inputs["characterise"] = characterised["metrics"].path
    if "suggested_names" in characterised:
        inputs["suggested_names"] = characterised["suggested_names"].path
    survival = [_survival(config, e).outputs["metrics"].path for e in endpoints(config)]
    if survival:
        inputs["survival"] = survival
    inputs.update(_summary_integrated_inputs(config))
    if classify_jobs(config):
        inputs["classify_best"] = _classify(config).outputs["best"].path
        inputs["classify_vs_crs"] = _classify(config).outputs["vs_crs"].path
    if has_classify_pipeline(config):
        stability = _classify_pipeline(config).outputs["partition_stability"].path
        inputs["partition_stability"] = stability
    scored = [_score(config, c).outputs["summary"].path for c in score_cohorts(config)]
    if scored:
        inputs["score"] = scored
    if config["tracking"]["enabled"]:
        inputs["run"] = _track(config).outputs["run"].path
    b.files.inputs = inputs
    b.files.outputs["summary"] = Output(
        f"{b.root}/summary.txt", "text", _rep("Data", "summary", name="run summary")
    )
    # the same facts as JSON, for the report's first page (workflow.rst)
    b.files.outputs["summary_json"] = Output(f"{b.root}/summary.json", "table")
    return b.files


_STEPS: dict[str, Callable[..., StepFiles]] = {
    "demo_cohort": _demo,
    "ingest": _ingest,
    "preprocess": _preprocess,
    "numba_cache": _numba_cache,
    "snf": _snf,
    "consensus_chunk": _consensus_chunk,
    "clusters": _clusters,
    "risk_score": _risk_score,
    "survival": _survival,
    "sweep_point": _sweep_point,
    "sweep": _sweep,
    "characterise": _characterise,
    "classify_fit": _classify_fit,
    "classify_pipeline": _classify_pipeline,
    "classify": _classify,
    "score": _score,
    "track": _track,
    "summary": _summary,
}


def analysis_steps(config: dict) -> list[str]:
    """The analysis steps this config runs, in order (tracking and summary excluded)."""
    names = ["ingest", "preprocess", "numba_cache", "snf"]
    if n_consensus_chunks(config):
        names.append("consensus_chunk")
    names += ["clusters", "characterise"]
    if has_crs(config):
        names.append("risk_score")
    if endpoints(config):
        names.append("survival")
    if sweep_points(config):
        names += ["sweep_point", "sweep"]
    if classify_jobs(config):
        names += ["classify_fit", "classify"]
        if has_classify_pipeline(config):
            names.insert(-1, "classify_pipeline")
    if score_cohorts(config):
        names.append("score")
    return names


def step(name: str, config: dict, **wildcards) -> StepFiles:
    """The files of one step (``wildcards``: ``chunk``, ``endpoint``)."""
    if name not in _STEPS:
        raise KeyError(f"no workflow step named {name!r}")
    files = _STEPS[name](config, **wildcards)
    if not files.log:
        suffix = "".join(f"_{v}" for v in wildcards.values())
        files.log = f"{out_dir(config)}/logs/{name}{suffix}.log"
        files.benchmark = f"{out_dir(config)}/benchmarks/{name}{suffix}.tsv"
    return files


def expand_step(name: str, config: dict) -> list[StepFiles]:
    """Every job of a step with concrete wildcard values."""
    if name == "consensus_chunk":
        return [step(name, config, chunk=c) for c in range(n_consensus_chunks(config))]
    if name == "survival":
        return [step(name, config, endpoint=e) for e in endpoints(config)]
    if name == "classify_fit":
        jobs = classify_fit_jobs(config)
        return [step(name, config, target=t, feature_set=fs) for t, fs, _ in jobs]
    if name == "score":
        return [step(name, config, cohort=c) for c in score_cohorts(config)]
    if name == "sweep_point":
        return [step(name, config, K=K, mu=mu, t=t) for K, mu, t in sweep_points(config)]
    return [step(name, config)]


def final_outputs(config: dict) -> list[str]:
    """What a full run produces (the workflow's default target), temporary files excluded."""
    paths = [p for p, o in analysis_outputs(config).items() if o.kind != "temp"]
    if config["tracking"]["enabled"]:
        paths.append(_track(config).outputs["run"].path)
    paths.append(_summary(config).outputs["summary"].path)
    return paths


#: The config sections each step reads, besides ``output_dir`` and ``cohort`` (which every
#: step receives); ``None``: the whole run config (tracking and the summary record it). A
#: change of config reruns only the steps whose sections changed.
STEP_SECTIONS: dict[str, tuple[str, ...] | None] = {
    "demo_cohort": ("demo",),
    "ingest": (),
    "preprocess": ("preprocess",),
    "numba_cache": ("snf", "clusters"),
    "snf": ("snf",),
    "consensus_chunk": ("snf", "clusters"),
    "clusters": ("snf", "clusters", "subtypes"),
    "characterise": ("preprocess", "subtypes", "characterise"),
    "risk_score": ("crs",),
    "survival": ("survival", "crs", "seed"),
    "sweep_point": ("snf", "clusters"),
    "sweep": ("sweep",),
    "classify_fit": CLASSIFY_FIT_SECTIONS,
    "classify_pipeline": ("classify", "seed", "preprocess", "snf", "crs"),
    "classify": ("classify", "seed"),
    "score": ("score", "crs", "snf", "survival"),
    "track": None,
    "summary": None,
}


def step_config(name: str, config: dict) -> dict:
    """The part of the (resolved) config that step ``name`` reads (:data:`STEP_SECTIONS`)."""
    sections = STEP_SECTIONS[name]
    if sections is None:
        return dict(config)
    keys = ("output_dir", "cohort", *sections)
    return {k: config[k] for k in keys if k in config}


def step_config_file(name: str, config: dict) -> str:
    """Where the workflow writes the config of step ``name`` (``name`` may be ``"{step}"``):
    the file its rule declares as input and hands to its command (``--config``)."""
    return f"{out_dir(config)}/config/{name}.json"


def step_config_log(name: str, config: dict) -> str:
    """The log of the job that writes :func:`step_config_file`."""
    return f"{out_dir(config)}/logs/config/{name}.log"
