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
        f"{OUT}/ingest/samples.tsv",
        f"{OUT}/ingest/inputs.json",
        f"{OUT}/ingest/metrics.json",
    ]
    if config["cohort"].get("clinical"):
        files.append(f"{OUT}/ingest/clinical.parquet")
    if has_survival(config):
        files.append(f"{OUT}/ingest/outcome.tsv")
    if config["cohort"].get("truth"):
        files.append(f"{OUT}/ingest/truth.tsv")
    return files


def input_paths():
    cohort = config["cohort"]
    paths = [spec["path"] for spec in cohort["omics"].values()]
    if cohort.get("clinical"):
        paths.append(cohort["clinical"]["path"])
    if cohort.get("truth"):
        paths.append(cohort["truth"])
    return paths


def final_outputs():
    return ingest_outputs() + layer_files("preprocess") + [f"{OUT}/preprocess/summary.json"]


def folder_of(name, kind="output"):
    """A params function giving the folder of a named input or output file."""

    def folder(wildcards, input, output):
        files = output if kind == "output" else input
        return os.path.dirname(getattr(files, name))

    return folder
