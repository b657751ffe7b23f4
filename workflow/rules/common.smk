"""Helpers shared by the rules: the config, the step contract, and the metpot command line.

Every file a rule reads or writes comes from metpot.manifest (the step contract that the
metpot commands and tracking share); rules pass them explicitly to their command.
"""

import copy
import functools
import os
import re
import json
import shlex
import sys
import time
from pathlib import Path

from snakemake.utils import validate

from metpot import manifest
from metpot.config import load_yaml, validate_config
from metpot.errors import MetpotError
from metpot.summary import REPORT_FACTS_KEY, config_digest, report_facts
from metpot.validate import check


SCHEMA = workflow.source_path("../../config/schema.yaml")
RUN_STARTED = time.time()

# A user's config stands alone (`--configfile my.yaml`): the demo's config is read only when
# no config was given (`snakemake --cores 2` in the repository runs the demo).
if "cohort" not in config:
    _demo = load_yaml(workflow.source_path("../../config/config.yaml"))
    for _key, _value in dict(config).items():  # --config key=value overrides
        _demo[_key] = _value
    config.clear()
    config.update(_demo)

# metpot's check names every offending key; snakemake's validate then fills the same defaults.
try:
    validate_config(config, SCHEMA)
except MetpotError as exc:
    sys.exit("\n".join(f"metpot: error: {line}" for line in str(exc).splitlines()))
validate(config, schema=SCHEMA, set_default=True)

OUT = manifest.out_dir(config)
LAYERS = manifest.layers(config)
SRC = Path(workflow.basedir) / "src"
# the consensus chunks share the run's cores (numba kernels and BLAS of each chunk); a run
# without --cores (a cluster profile, --report) gives each chunk one
_CORES = getattr(workflow.resource_settings, "cores", None) or 1
CHUNK_THREADS = max(1, _CORES // max(1, manifest.n_consensus_chunks(config)))


def _check_data():
    """The data checks of `metpot validate`, once, before any job (not inside cluster jobs)."""
    if not workflow.is_main_process:  # a job spawned by an executor: the main process checked
        return
    # files a rule writes (the demo cohort) are not opened before they exist (notes not shown)
    problems = [p for p in check(copy.deepcopy(config)) if p.level != "note"]
    for p in problems:
        print(f"metpot: {p.level}: {p.message}", file=sys.stderr)
    if any(p.level == "error" for p in problems):
        sys.exit(1)


_check_data()


def run_config():
    """The run's config without the report facts: what the rules and tracking receive."""
    return {k: v for k, v in config.items() if k != REPORT_FACTS_KEY}


def _digest():
    try:
        return config_digest(run_config())
    except (TypeError, ValueError, MetpotError):  # a config JSON cannot hold
        return ""


# The report's first page (workflow/report/workflow.rst) sees nothing but the config, and a
# report built in the run's own process (--report-after-run) is rendered after the run wrote
# <output_dir>/summary.json, which did not exist when this file was parsed: so the config holds
# a function, which the page calls to read the facts when it is rendered. Nothing else reads
# it: run_config() leaves it out, so no rule, config file or tracked parameter depends on it.
config.pop(REPORT_FACTS_KEY, None)
config[REPORT_FACTS_KEY] = functools.partial(
    report_facts, manifest.step("summary", config).outputs["summary_json"].path, _digest()
)


def uses_conda():
    methods = getattr(workflow.deployment_settings, "deployment_method", ())
    return any("conda" in str(m).lower() for m in methods)


# Rules run the workflow's own metpot sources when the workflow sits in a source checkout; with
# --sdm conda the python of the rule's environment runs them, otherwise the python that runs
# snakemake (where metpot is installed).
_PYTHONPATH = f"PYTHONPATH={SRC}${{PYTHONPATH:+:$PYTHONPATH}} " if SRC.is_dir() else ""
METPOT = f"{_PYTHONPATH}{'python' if uses_conda() else sys.executable} -m metpot.cli"


def step_config_json(step):
    """The config a step reads (manifest.STEP_SECTIONS), as JSON: the params of its config
    file's job, so that a change of config reruns only the steps whose sections changed."""
    return json.dumps(manifest.step_config(step, run_config()))


def files(step, **wildcards):
    return manifest.step(step, config, **wildcards)


def inputs(step, **wildcards):
    return files(step, **wildcards).inputs


def _output(o):
    """One declared output for `output:`, temp() for kind temp, report() where it has one."""
    if o.kind == "temp":
        return temp(o.path)
    if o.report is not None:
        return report(
            o.path,
            caption=f"../report/{o.report.caption}",
            category=o.report.category,
            subcategory=o.report.subcategory or None,
            labels=o.report.labels_dict() or None,
        )
    return o.path


def outputs(step, **wildcards):
    """A step's outputs for `output:` (temp() and report() flags from the step contract)."""
    return {key: _output(o) for key, o in files(step, **wildcards).outputs.items()}


def io_args(wildcards, input, output):
    """Every named input and output of a job as --input/--output KEY=PATH arguments (the
    step's config file, input ``config``, goes to --config)."""
    args = []
    for flag, named in (("--input", input), ("--output", output)):
        for key, value in named.items():
            if flag == "--input" and key == "config":
                continue
            for path in [value] if isinstance(value, str) else list(value):
                args += [flag, f"{key}={path}"]
    return shlex.join(args)


def _text_bytes(path):
    """Uncompressed size of a text input: the gzip trailer's ISIZE (size mod 4 GiB, so at
    least the compressed size) or the file size; a Parquet file counts 4x its size."""
    size = os.path.getsize(path)
    if str(path).endswith(".parquet"):
        return 4 * size
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return size
        f.seek(-4, os.SEEK_END)
        return max(int.from_bytes(f.read(4), "little"), size)


def text_mem_mb(per_byte=20, base=1000):
    """mem_mb of a job that parses its input tables as text: `base` + `per_byte` x their
    uncompressed size (ingest: 4.1 GB for 230 MB of text at N = 10,000; bench/resources.md),
    50% more per retry."""

    def mem_mb(wildcards, input, attempt):
        total = sum(_text_bytes(p) for p in input)
        return int((base + per_byte * total / 2**20) * (1 + 0.5 * (attempt - 1)))

    return mem_mb


def cells_mem_mb(per_cell=80, base=1000):
    """mem_mb of a job whose memory follows the cells (rows x columns) of its Parquet inputs:
    `base` + `per_cell` bytes per cell (characterise: 2.4 GB for 23 M cells at N = 10,000,
    asked 3.2 GB),
    50% more per retry."""

    def mem_mb(wildcards, input, attempt):
        import pyarrow.parquet as pq

        cells = 0
        for path in input:
            if str(path).endswith(".parquet"):
                with open(path, "rb") as f:  # Snakemake defers a missing input's OSError
                    meta = pq.read_metadata(f)
                cells += meta.num_rows * meta.num_columns
        return int((base + per_cell * cells / 2**20) * (1 + 0.5 * (attempt - 1)))

    return mem_mb


def nxn_mem_mb(buffers, base=1000):
    """mem_mb of a job holding `buffers` float64 N x N matrices, N = rows of its first input.

    Evaluated when the job is about to run (before, the missing input defers it); each retry
    (--retries) asks for 50% more. Measured in bench/resources.md.
    """

    def mem_mb(wildcards, input, attempt):
        import pyarrow.parquet as pq

        with open(input[0], "rb") as f:
            n = pq.read_metadata(f).num_rows
        return int((base + buffers * 8 * n * n / 2**20) * (1 + 0.5 * (attempt - 1)))

    return mem_mb


def step_rule(
    step,
    doc,
    *,
    mem_mb,
    runtime,
    threads=1,
    args="",
    env="core",
    name=None,
    benchmark=True,
    input=(),
    outputs_of=None,
    constraints=None,
    priority=0,
    **params,
):
    """One workflow step as a Snakemake rule, `metpot <step>` on the step contract's files.

    Inputs and outputs come from metpot.manifest (`input` replaces the inputs, e.g.
    `[unpack(f)]`; `outputs_of` gives the outputs' wildcards, e.g. `models`), plus the step's
    config file (rule step_config) handed to the command with --config; `args` adds to its
    command line (wildcards), `params` to the rule's params. `env` names envs/<env>.yaml;
    `benchmark=False` leaves the benchmark file out; `priority` puts a job of the run's
    longest chain before the jobs beside it.
    """
    name = name or step
    command = step.replace("_", "-")
    rule:
        name:
            name
        wildcard_constraints:
            **(constraints or {}),
        input:
            *input,
            **({} if input else inputs(step)),
            config=manifest.step_config_file(step, config),  # last: input[0] is the data
        output:
            **outputs(step, **(outputs_of or {})),
        params:
            metpot=METPOT,
            io=io_args,
            **params,
        threads: threads
        priority: priority
        resources:
            mem_mb=mem_mb,
            runtime=runtime,
        log:
            files(step).log,
        conda:
            f"../../envs/{env}.yaml"
        shell:
            f"{{params.metpot}} {command} --config {{input.config:q}} {{params.io}}{args}"
            " --threads {threads} --log {log}"
    made = workflow.get_rule(name)
    made.docstring = doc  # a docstring in a rule's body is a literal
    if benchmark:  # set as Snakemake sets a `benchmark:` directive, which cannot be left empty
        made.benchmark_modifier = workflow.modifier.path_modifier
        made.benchmark = files(step).benchmark


def final_outputs():
    return manifest.final_outputs(config)


def tracking_enabled():
    return config["tracking"]["enabled"]


def record_failure(log):
    """onerror: record the failed run in MLflow (never raises)."""
    if not tracking_enabled():
        return
    from metpot.tracking import log_failed_run

    log_failed_run(
        run_config(),
        OUT,
        manifest.analysis_outputs(config).values(),
        RUN_STARTED,
        snakemake_log=log,
        workflow_dir=workflow.basedir,
        opened=(
            manifest.step("track_models", config).outputs["models"].path
            if manifest.has_track_models(config)
            else None
        ),
    )


def clear_failure_records():
    """onstart: failure records of an earlier run are not this run's (they are in MLflow)."""
    from metpot.tracking import FAILED_RUN_FILE, FAILURE_SUFFIX

    Path(OUT, FAILED_RUN_FILE).unlink(missing_ok=True)
    for path in Path(OUT, "logs").rglob(f"*{FAILURE_SUFFIX}"):
        path.unlink()


def print_summary():
    """onsuccess: the run's summary on the terminal."""
    path = Path(manifest.step("summary", config).outputs["summary"].path)
    if path.is_file():
        print(f"\n{path.read_text()}", file=sys.stderr)
