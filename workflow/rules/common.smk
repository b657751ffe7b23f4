"""Helpers shared by the rules: config validation, paths, and the metpot command line."""

import json
import os
import sys

from snakemake.utils import validate

from metpot.config import has_survival, validate_config
from metpot.errors import MetpotError


SCHEMA = workflow.source_path("../../config/schema.yaml")

# metpot's check first: it names the offending key in one line; snakemake's then fills defaults.
try:
    validate_config(config, SCHEMA)
except MetpotError as exc:
    sys.exit(f"metpot: error: {exc}")
validate(config, schema=SCHEMA, set_default=True)


OUT = "results"
LAYERS = list(config["cohort"]["omics"])
SRC = f"{workflow.basedir}/src"


def uses_conda():
    methods = getattr(workflow.deployment_settings, "deployment_method", ())
    return any("conda" in str(m).lower() for m in methods)


# Rules run the workflow's own metpot sources; with --sdm conda the python of the rule's
# environment runs them, otherwise the python that runs snakemake (where metpot is installed).
METPOT = (
    f"PYTHONPATH={SRC}${{PYTHONPATH:+:$PYTHONPATH}} "
    f"{'python' if uses_conda() else sys.executable} -m metpot.cli"
)


def step_config(*sections):
    """The config sections a step needs, as JSON for the --config-json option."""
    return json.dumps({s: config.get(s, {}) for s in sections})


def layer_files(folder):
    return expand(f"{OUT}/{folder}/{{layer}}.parquet", layer=LAYERS)


def ingest_outputs():
    files = layer_files("ingest") + [
        ingested("samples.tsv"),
        ingested("inputs.json"),
        ingested("metrics.json"),
    ]
    if config["cohort"].get("clinical"):
        files.append(ingested("clinical.parquet"))
    if has_survival(config):
        files.append(ingested("outcome.tsv"))
    if config["cohort"].get("truth"):
        files.append(ingested("truth.tsv"))
    return files


def ingested(name):
    return f"{OUT}/ingest/{name}"


def input_paths():
    cohort = config["cohort"]
    paths = [spec["path"] for spec in cohort["omics"].values()]
    if cohort.get("clinical"):
        paths.append(cohort["clinical"]["path"])
    if cohort.get("truth"):
        paths.append(cohort["truth"])
    return paths


CONSENSUS = config["clusters"]["consensus"]
CONSENSUS_CHUNKS = min(CONSENSUS["chunks"], CONSENSUS["resamples"])


def consensus_chunks():
    return expand(f"{OUT}/clusters/consensus/chunk_{{chunk}}.tsv", chunk=range(CONSENSUS_CHUNKS))


def truth_file():
    return [ingested("truth.tsv")] if config["cohort"].get("truth") else []


def cluster_outputs():
    files = [
        f"{OUT}/clusters/assignments.tsv",
        f"{OUT}/clusters/assignments_all_k.tsv",
        f"{OUT}/clusters/n_clusters.json",
        f"{OUT}/clusters/metrics.json",
        f"{OUT}/clusters/subtypes.tsv",
    ]
    if CONSENSUS_CHUNKS:
        files += [
            f"{OUT}/clusters/consensus.json",
            f"{OUT}/clusters/stability.tsv",
            f"{OUT}/clusters/consensus_matrix.parquet",
        ]
    if config["cohort"].get("truth"):
        files += [f"{OUT}/clusters/agreement.json", f"{OUT}/clusters/confusion.tsv"]
    return files


def subtype_layer():
    return config.get("subtypes", {}).get("layer") or LAYERS[0]


def has_crs():
    return bool(config.get("crs")) and bool(config["cohort"].get("clinical"))


def crs_outputs():
    if not has_crs():
        return []
    return [f"{OUT}/risk_score/{f}" for f in ("crs.tsv", "summary.json", "metrics.json")]


def survival_outputs():
    if not has_survival(config):
        return []
    folders = [f"{OUT}/survival"]
    if config["cohort"]["clinical"].get("pfs_time"):
        folders.append(f"{OUT}/survival/pfs")
    files = [f"{OUT}/survival/metrics.json"]
    for folder in folders:
        files += [f"{folder}/logrank.json", f"{folder}/km.tsv", f"{folder}/km_subtype.png"]
        if has_crs():
            files += [f"{folder}/concordance.tsv", f"{folder}/cox_multivariable.tsv"]
    return files


def tracking_enabled():
    return config["tracking"]["enabled"]


def analysis_outputs():
    return (
        ingest_outputs()
        + layer_files("preprocess")
        + [f"{OUT}/preprocess/summary.json", f"{OUT}/snf/fused.parquet"]
        + cluster_outputs()
        + crs_outputs()
        + survival_outputs()
    )


def folder_of(kind="output"):
    """A params function giving the folder of a rule's first output (or input)."""

    def folder(wildcards, input, output):
        return os.path.dirname((output if kind == "output" else input)[0])

    return folder


def final_outputs():
    tracked = [f"{OUT}/mlflow_run.json"] if tracking_enabled() else []
    return analysis_outputs() + tracked


def record_failure(log):
    """onerror: record the failed run in MLflow (never raises)."""
    if not tracking_enabled():
        return
    from metpot.tracking import log_failed_run

    log_failed_run(config, OUT, log_text_or_path=log, workflow_dir=workflow.basedir)
