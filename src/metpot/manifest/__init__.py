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

from collections.abc import Callable

from metpot.config import endpoints, has_crs, has_integrated_groups, has_truth
from metpot.manifest._base import (
    FIGURE_FORMATS,
    KINDS,
    REPORT_CATEGORIES,
    SUMMARY_KINDS,
    Output,
    Report,
    StepFiles,
    _Builder,
    _rep,
    characterise_layer,
    consensus_first,
    gene_sets,
    layers,
    n_consensus_chunks,
    n_consensus_more_chunks,
    out_dir,
    subtype_layer,
)
from metpot.manifest.analysis import (
    _characterise,
    _clusters,
    _consensus_chunk,
    _consensus_more,
    _consensus_stop,
    _demo,
    _ingest,
    _ingested,
    _numba_cache,
    _preprocess,
    _risk_score,
    _snf,
    _survival,
    _sweep,
    _sweep_point,
    sweep_points,
)
from metpot.manifest.classifiers import (
    CLASSIFY_FIT_SECTIONS,
    SCORE_FILES,
    _classify,
    _classify_fit,
    _classify_pipeline,
    _score,
    classify_config,
    classify_fit_files,
    classify_fit_jobs,
    classify_fit_rules,
    classify_jobs,
    classify_targets,
    features_chosen_with_outcome,
    fit_output_key,
    has_classify_pipeline,
    score_cohorts,
    score_oneoff_outputs,
    signature_targets,
    subtype_target,
    subtype_validation,
    target_kind,
)

__all__ = [
    "CLASSIFY_FIT_SECTIONS",
    "FIGURE_FORMATS",
    "KINDS",
    "REPORT_CATEGORIES",
    "SCORE_FILES",
    "STEP_SECTIONS",
    "SUMMARY_KINDS",
    "Output",
    "Report",
    "StepFiles",
    "analysis_outputs",
    "analysis_steps",
    "characterise_layer",
    "classify_config",
    "classify_fit_files",
    "classify_fit_jobs",
    "classify_fit_rules",
    "classify_jobs",
    "classify_targets",
    "expand_step",
    "features_chosen_with_outcome",
    "final_outputs",
    "fit_output_key",
    "gene_sets",
    "has_classify_pipeline",
    "has_track_models",
    "layers",
    "n_consensus_chunks",
    "consensus_first",
    "n_consensus_more_chunks",
    "out_dir",
    "run_steps",
    "score_cohorts",
    "score_oneoff_outputs",
    "signature_targets",
    "step",
    "step_config",
    "step_config_file",
    "step_config_log",
    "subtype_layer",
    "subtype_target",
    "subtype_validation",
    "sweep_points",
    "target_kind",
]


def analysis_outputs(config: dict) -> dict[str, Output]:
    """Every output of the analysis steps (not tracking or the summary), by unique path."""
    found: dict[str, Output] = {}
    for name in analysis_steps(config):
        for files in expand_step(name, config):
            for o in files.outputs.values():
                found[o.path] = o
    return found


def has_track_models(config: dict) -> bool:
    """Whether the run has a ``track_models`` job: tracking on, and classifiers to register."""
    return bool(config["tracking"]["enabled"] and classify_jobs(config))


def _track_models(config: dict) -> StepFiles:
    """The MLflow run opened as soon as the classifiers are compared, with each target's best
    model logged and registered (``track`` finishes the run and names the champions)."""
    b = _Builder(config, ".")
    models = [
        o.path
        for t, m, fs in classify_jobs(config)
        for k, o in classify_fit_files(config, t, m, fs).items()
        if k in ("model", "card")
    ]
    b.files.inputs = {"best": _classify(config).outputs["best"].path, "models": models}
    b.files.outputs["models"] = Output(f"{b.root}/mlflow_models.json", "text")
    return b.files


def _track(config: dict) -> StepFiles:
    b = _Builder(config, ".")
    outputs = analysis_outputs(config)
    inputs: dict = {"results": sorted(p for p, o in outputs.items() if o.kind != "temp")}
    if has_track_models(config):
        inputs["models"] = _track_models(config).outputs["models"].path
    b.files.inputs = inputs
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
    "consensus_stop": _consensus_stop,
    "consensus_more": _consensus_more,
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
    "track_models": _track_models,
    "track": _track,
    "summary": _summary,
}


def analysis_steps(config: dict) -> list[str]:
    """The analysis steps this config runs, in order (tracking and summary excluded)."""
    names = ["ingest", "preprocess", "numba_cache", "snf"]
    if n_consensus_chunks(config):
        names.append("consensus_chunk")
    if n_consensus_more_chunks(config):
        names += ["consensus_stop", "consensus_more"]
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


def run_steps(config: dict) -> list[str]:
    """Every step of a run of ``config``, in order: the demo cohort, the analysis steps,
    tracking (when on) and the summary."""
    closing = ["track_models"] if has_track_models(config) else []
    closing += ["track"] if config["tracking"]["enabled"] else []
    return ["demo_cohort", *analysis_steps(config), *closing, "summary"]


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
    if name == "consensus_more":
        return [step(name, config, chunk=c) for c in range(n_consensus_more_chunks(config))]
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
    if has_track_models(config):
        paths.append(_track_models(config).outputs["models"].path)
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
    "consensus_stop": ("snf", "clusters"),
    "consensus_more": ("snf", "clusters"),
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
    "track_models": None,
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
