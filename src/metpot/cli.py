"""The ``metpot`` command line: ``validate``, ``run``, and one subcommand per workflow step.

Each step subcommand reads its files, calls the science modules and writes its files: the step
itself is a function of :mod:`metpot.steps` (its config and inputs in, ``{output key: object}``
out), written by :func:`metpot.steps.write_outputs`. Which files those are is defined once, in
:mod:`metpot.manifest`: the workflow's rules pass every file explicitly (``--input KEY=PATH``,
``--output KEY=PATH``); by hand, ``metpot <step> --config my.yaml`` takes them from the
manifest under ``output_dir``. A step writes every declared output and nothing else, and only
after everything is computed, so a user error leaves no partial output. User errors print one
line and exit with status 1; data warnings print one line each and the run goes on; an
internal error exits with status 2 (its traceback in the log), an interruption with 130. With
``--log``, progress goes to the log file only and warnings and errors also to the terminal; on
an error a record ``<log>.failed.json`` (step, error, log) is left for tracking.

This module only parses arguments, sets up logging, limits threads and maps errors to exit
codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
import warnings
from pathlib import Path

from metpot.errors import DataWarning, MetpotError
from metpot.step_io import StepIO, write_outputs
from metpot.steps import STEPS
from metpot.steps._common import read_outcome, read_samples
from metpot.tracking import FAILURE_SUFFIX

__all__ = ["FAILURE_SUFFIX", "STEPS", "StepIO", "build_parser", "main", "read_outcome",
           "read_samples"]  # fmt: skip

log = logging.getLogger("metpot")


# --------------------------------------------------------------------------- arguments


def _pairs(items: list[str] | None, option: str) -> dict:
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise MetpotError(f"{option} {item!r}: expected KEY=PATH")
        if key in out:
            out[key] = [*([out[key]] if isinstance(out[key], str) else out[key]), value]
        else:
            out[key] = value
    return out


def _step_files(step: str, cfg: dict, args: argparse.Namespace, **wildcards) -> tuple[dict, dict]:
    """The inputs and outputs of a step: as the rule passed them, else the manifest's."""
    inputs = _pairs(args.input, "--input")
    outputs = _pairs(args.output, "--output")
    if not outputs:
        from metpot.manifest import step as manifest_step

        files = manifest_step(step, cfg, **wildcards)
        inputs = {**files.inputs, **inputs}
        outputs = files.output_paths()
    for key, value in outputs.items():
        if not isinstance(value, str):
            raise MetpotError(f"--output {key} given more than once")
    return inputs, outputs


def _config(args: argparse.Namespace) -> dict:
    """The config of a step: a user's YAML (validated, defaulted) or the rule's resolved JSON
    (the JSON text itself, or a ``.json`` file holding it)."""
    if args.config is None:
        raise MetpotError("--config: give your config file (YAML), e.g. --config my.yaml")
    text = args.config
    if text.lstrip().startswith("{"):
        return json.loads(text)  # the rules pass the resolved (validated) config
    if text.endswith(".json"):
        from metpot.config import read_config_json

        return read_config_json(text)  # the rules' file: the resolved (validated) config
    from metpot.config import load_config  # jsonschema: only for a user's YAML

    return load_config(text)


def _step_arguments(args: argparse.Namespace) -> tuple[dict, dict]:
    """A step's options: as the function's keywords, and as the step contract's wildcards."""
    values, wildcards = {}, {}
    for opt in STEPS[args.command].options:
        value = getattr(args, opt.dest)
        values[opt.dest] = value
        if opt.wildcard:
            if value is None and opt.missing:
                raise MetpotError(opt.missing)
            wildcards[opt.dest] = opt.fmt.format(value)
    return values, wildcards


# --------------------------------------------------------------------------- logging


def _setup_logging(command: str, log_path: str | None) -> None:
    fmt = logging.Formatter(f"metpot {command}: %(levelname)s: %(message)s")
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    # With a log file (a workflow job), progress stays in the file so parallel jobs do not
    # interleave on the terminal; warnings and errors are shown on both.
    stream.setLevel(logging.WARNING if log_path else logging.INFO)
    log.addHandler(stream)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w")
        handler.setFormatter(fmt)
        log.addHandler(handler)

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            log.warning(str(message))
        else:
            log.debug("%s: %s (%s:%s)", category.__name__, message, filename, lineno)

    warnings.showwarning = show
    warnings.simplefilter("always", DataWarning)


# --------------------------------------------------------------------------- commands


def cmd_simulate(args: argparse.Namespace) -> int:
    """``metpot simulate``: a synthetic cohort's files, to try metpot without data of one's own."""
    from metpot.manifest import step
    from metpot.simulate import simulate_cohort
    from metpot.steps.demo import cohort_files

    cohort = simulate_cohort(n_patients=args.n_patients, seed=args.seed)
    files = step("demo_cohort", {"output_dir": "."})
    paths = {k: str(Path(args.out_dir) / Path(o.path).name) for k, o in files.outputs.items()}
    write_outputs(cohort_files(cohort), paths)
    print(f"wrote a SYNTHETIC cohort of {args.n_patients} patients to {args.out_dir}/")
    return 0


def cmd_score_oneoff(args: argparse.Namespace) -> int:
    """``metpot score --model M|--templates T --omics mrna=x.csv [--clinical c] --out DIR``."""
    from metpot.steps.score import oneoff

    if not args.omics or not args.out:
        raise MetpotError("metpot score --model/--templates needs --omics LAYER=PATH and --out DIR")
    if args.model and args.templates:
        raise MetpotError("metpot score: give --model or --templates, not both")
    objects, outputs = oneoff(
        args.model,
        _pairs(args.omics, "--omics"),
        out=args.out,
        layout=args.layout,
        clinical=args.clinical,
        method=args.method,
        templates=args.templates,
    )
    write_outputs(objects, outputs)
    return 0


# --------------------------------------------------------------------------- validate, run


def cmd_validate(args: argparse.Namespace) -> int:
    from metpot.validate import check

    problems = check(args.config_file)
    for p in problems:
        print(f"{p.level}: {p.message}", file=sys.stderr if p.level == "error" else sys.stdout)
    errors = sum(p.level == "error" for p in problems)
    if errors:
        print(f"{args.config_file}: {errors} problem(s) to fix", file=sys.stderr)
        return 1
    print(f"{args.config_file}: OK")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from metpot.bundle import workflow_root
    from metpot.validate import check

    problems = check(args.config_file)
    for p in problems:
        print(f"{p.level}: {p.message}", file=sys.stderr)
    if any(p.level == "error" for p in problems):
        return 1
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(workflow_root() / "Snakefile"),
        "--directory",
        os.getcwd(),
        "--configfile",
        str(Path(args.config_file).resolve()),
    ]
    if args.profile:
        cmd += ["--profile", args.profile]
    if args.cores or not args.profile:
        cmd += ["--cores", str(args.cores or "all")]
    cmd += args.snakemake_args
    print("metpot run:", shlex.join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``metpot`` command."""
    from metpot import __version__

    parser = argparse.ArgumentParser(prog="metpot", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"metpot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write a SYNTHETIC cohort's files (to try metpot)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--n-patients", type=int, default=150)
    p.add_argument("--seed", type=int, default=2018)

    p = sub.add_parser("validate", help="check a config and its data files, listing every problem")
    p.add_argument("config_file", help="your config (YAML)")

    p = sub.add_parser(
        "run",
        help="validate, then run the workflow on a config in the current directory",
        description="Everything after -- goes to snakemake (e.g. -- --dry-run).",
    )
    p.add_argument("config_file", help="your config (YAML)")
    p.add_argument("--cores", help="cores to use (default: all, or the profile's)")
    p.add_argument("--profile", help="a Snakemake profile folder (e.g. profiles/slurm)")

    for name, spec in STEPS.items():
        p = sub.add_parser(name, help=spec.help)
        p.add_argument(
            "--config",
            help="your config (YAML), or the resolved config: JSON text or a .json file (rules)",
        )
        p.add_argument("--input", action="append", metavar="KEY=PATH", help="an input file")
        p.add_argument("--output", action="append", metavar="KEY=PATH", help="an output file")
        p.add_argument("--log", help="also write messages to this file")
        p.add_argument("--threads", type=int, help="threads for numba and BLAS (default: all)")
        for opt in spec.options:
            p.add_argument(opt.flag, **opt.kwargs)
    return parser


# --------------------------------------------------------------------------- running


def _limit_threads(n: int) -> None:
    """Keep a job within the cores the scheduler gave it (numba kernels and BLAS).

    numba is not imported here (half a second): a step that imports it later reads
    NUMBA_NUM_THREADS, capped at the cores numba would use.
    """
    import os

    from threadpoolctl import threadpool_limits

    numba = sys.modules.get("numba")
    if numba is not None:
        n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(n)
    else:
        affinity = getattr(os, "sched_getaffinity", None)  # not on macOS
        cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
        cores = int(os.environ.get("NUMBA_NUM_THREADS") or cores)
        n = max(1, min(n, cores))
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    threadpool_limits(n)


def _record_failure(step: str, log_path: str | None, message: str) -> None:
    if not log_path:
        return
    from metpot.io import write_json

    record = {"step": step, "error": message, "log": log_path, "time": time.time()}
    try:
        write_json(record, f"{log_path}{FAILURE_SUFFIX}")
    except OSError:
        pass


def _user_error(exc: MetpotError) -> int:
    for line in str(exc).splitlines():
        log.error("%s", line)
    return 1


def _run_step(args: argparse.Namespace) -> None:
    """Compute the step, then write its declared outputs (all of them, or none)."""
    step = args.command.replace("-", "_")
    cfg = _config(args)
    values, wildcards = _step_arguments(args)
    inputs, outputs = _step_files(step, cfg, args, **wildcards)
    keys = tuple(outputs)
    objects = STEPS[args.command].function()(
        cfg, inputs, threads=args.threads, outputs=keys, **values
    )
    write_outputs(objects, outputs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metpot`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["run"] and "--" in argv:  # metpot run my.yaml -- <snakemake arguments>
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    args.snakemake_args = extra
    if args.command in ("validate", "run", "simulate"):
        _setup_logging(args.command, None)
        command = {"validate": cmd_validate, "run": cmd_run, "simulate": cmd_simulate}
        try:
            return command[args.command](args)
        except MetpotError as exc:
            return _user_error(exc)
    _setup_logging(args.command, args.log)
    if args.threads:
        _limit_threads(args.threads)
    if args.command == "score" and (args.model or args.templates) and not args.config:
        try:
            return cmd_score_oneoff(args)
        except MetpotError as exc:
            log.error("%s", exc)
            return 1
    step = args.command.replace("-", "_")
    try:
        _run_step(args)
    except MetpotError as exc:
        code = _user_error(exc)
        _record_failure(step, args.log, str(exc))
        return code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as exc:
        log.exception("internal error (please report it with this log)")
        _record_failure(step, args.log, f"internal error: {type(exc).__name__}: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
