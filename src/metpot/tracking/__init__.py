"""MLflow tracking of metpot workflow runs (the only metpot module that imports mlflow).

One workflow invocation is one MLflow run in the experiment ``tracking.experiment`` (default
``cohort.name``). What it records is decided by the step contract (:mod:`metpot.manifest`),
never by what happens to lie in the output folder:

- params: the resolved config (flattened with ``.``; lists as JSON), ``metpot.version``,
  ``version.<package>``, ``git.commit``/``git.dirty`` of the workflow folder, and the SHA-256,
  shape, path and format of every input file (from ``ingest/inputs.json``; also logged as
  MLflow dataset inputs, digest = the first 36 hex digits of the SHA-256);
- metrics: every declared ``metrics.json``, prefixed with its folder
  (``survival/os/metrics.json`` -> ``survival.os.<key>``); strings become tags
  ``metpot.value.<key>``;
- one child run per declared ``params.json`` (the steps that fit something), with that
  folder's metrics;
- artifacts: the declared outputs of the kinds ``tracking.artifacts`` selects (``summary``:
  figures, aggregate tables, metrics and model files; ``all``: also patient-level tables),
  under 50 MB, and the resolved config as ``config.yaml``.

A failed run (:func:`log_failed_run`, from Snakemake's ``onerror``) records the same, limited
to the files written since the run started, and the failure records that ``metpot`` commands
leave beside their logs (``<log>.failed.json``: step, one-line error, log file).

The store is ``$MLFLOW_TRACKING_URI`` > ``tracking.uri`` > ``sqlite:///<cwd>/mlflow.db``. A
SQLite store is only opened under an exclusive lock (``<db>.lock``, :mod:`filelock`): MLflow's
schema migration is not safe when two processes open a fresh store at once. New experiments
of a SQLite store keep their artifacts in ``mlartifacts/<experiment>`` beside the database
(:mod:`metpot.tracking._store`). Models: :mod:`metpot.tracking.models`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

from metpot.tracking._store import (
    DEFAULT_TRACKING_URI,
    LOCK_TIMEOUT_S,
    _client,
    _get_or_create_experiment,
    _normalise_uri,
    resolve_tracking_uri,
    store_lock,
)
from metpot.tracking.models import (
    ModelRef,
    fetch_model_files,
    load_champion,
    log_model,
    set_champion,
)

__all__ = [
    "DEFAULT_TRACKING_URI",
    "LOCK_TIMEOUT_S",
    "ModelRef",
    "fetch_model_files",
    "load_champion",
    "log_failed_run",
    "log_model",
    "log_workflow_run",
    "open_workflow_run",
    "resolve_tracking_uri",
    "run_tracking_uri",
    "set_champion",
    "store_lock",
]

FAILED_RUN_FILE = "mlflow_failed_run.json"
FAILURE_SUFFIX = ".failed.json"
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
KEY_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "snakemake", "mlflow", "numba", "skops")

# MLflow limits (mlflow.utils.validation)
_MAX_PARAM_VAL = 6000
_MAX_TAG_VAL = 8000
_MAX_KEY = 250
_MAX_DIGEST = 36
_MAX_INPUT_TAG_VAL = 500
_MAX_ERROR_CHARS = 4000
#: The tags that name metpot as the source of a run.
_SOURCE_TAGS = {"mlflow.source.name": "metpot", "mlflow.source.type": "LOCAL"}


# --------------------------------------------------------------------------------------------
# Flattening
# --------------------------------------------------------------------------------------------


def _key(key: str) -> str:
    """A valid MLflow key (alphanumerics, ``_ - . space :``; at most 250 characters)."""
    key = re.sub(r"[^\w.\- :]", "_", str(key)).strip()
    if not key or key == "." or key.startswith(".."):
        key = "_" + key
    return key[:_MAX_KEY]


def _truncate(value: str, limit: int) -> str:
    marker = "...[truncated]"
    return value if len(value) <= limit else value[: limit - len(marker)] + marker


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = "null" if value is None else str(value)
    return _truncate(text, _MAX_PARAM_VAL)


def flatten_params(obj: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings with ``.``; lists become JSON strings; values truncated."""
    out: dict[str, str] = {}
    if isinstance(obj, Mapping):
        if not obj and prefix:
            out[_key(prefix)] = "{}"
        for k, v in obj.items():
            out.update(flatten_params(v, f"{prefix}.{k}" if prefix else str(k)))
    elif prefix:
        out[_key(prefix)] = _param_value(obj)
    return out


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, obj


def flatten_metrics(obj: Any, prefix: str = "") -> tuple[dict[str, float], dict[str, str]]:
    """Numeric leaves (booleans as 0/1) and string leaves of a metrics object; nulls dropped."""
    metrics: dict[str, float] = {}
    strings: dict[str, str] = {}
    for key, value in _leaves(obj, prefix):
        if not key or value is None:
            continue
        if isinstance(value, (bool, int, float)):
            metrics[_key(key)] = float(value)
        else:
            strings[_key(key)] = _truncate(str(value), _MAX_TAG_VAL)
    return metrics, strings


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_info(workflow_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """``git.commit`` and ``git.dirty`` (tracked files changed) of a folder; else "unknown"."""
    cwd = Path(workflow_dir or os.getcwd())
    commit = _git(["rev-parse", "HEAD"], cwd) if cwd.is_dir() else None
    if not commit:
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    dirty = "unknown" if status is None else str(bool(status.strip())).lower()
    return {"git.commit": commit.strip(), "git.dirty": dirty}


def environment_params() -> dict[str, str]:
    """``metpot.version``, ``version.python`` and ``version.<package>``."""
    from metpot import __version__

    out = {"metpot.version": __version__, "version.python": platform.python_version()}
    for pkg in KEY_PACKAGES:
        try:
            out[f"version.{pkg}"] = _pkg_version(pkg)
        except PackageNotFoundError:
            out[f"version.{pkg}"] = "not installed"
    return out


def experiment_name(config: Mapping, experiment: str | None = None) -> str:
    """``experiment`` > ``tracking.experiment`` > ``cohort.name`` > ``"metpot"``."""
    tracking = config.get("tracking") or {}
    cohort = config.get("cohort") or {}
    return str(experiment or tracking.get("experiment") or cohort.get("name") or "metpot")


def _dataset_inputs(inputs: list[dict]) -> list:
    """MLflow dataset inputs (metadata only) of the input files."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    result = []
    for e in inputs:
        sha = str(e.get("sha256") or "")
        shape = f"{e.get('n_rows', '?')}x{e.get('n_cols', '?')}"
        profile = {"sha256": sha, "num_rows": e.get("n_rows"), "num_cols": e.get("n_cols")}
        dataset = Dataset(
            name=_key(e["layer"]),
            digest=(sha or "unknown")[:_MAX_DIGEST],
            source_type="local",
            source=json.dumps({"uri": str(e.get("path", ""))}),
            schema=None,
            profile=json.dumps({**profile, "format": e.get("format")}),
        )
        tags = [
            InputTag(key=MLFLOW_DATASET_CONTEXT, value="input"),
            InputTag(key="sha256", value=sha[:_MAX_INPUT_TAG_VAL]),
            InputTag(key="shape", value=shape),
            InputTag(key="format", value=str(e.get("format", ""))[:_MAX_INPUT_TAG_VAL]),
        ]
        result.append(DatasetInput(dataset=dataset, tags=tags))
    return result


def _input_params(inputs: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    params, tags = {}, {}
    for e in inputs:
        layer, sha = e["layer"], str(e.get("sha256", ""))
        params[_key(f"input.{layer}.sha256")] = sha
        params[_key(f"input.{layer}.shape")] = f"{e.get('n_rows', '?')}x{e.get('n_cols', '?')}"
        params[_key(f"input.{layer}.path")] = _param_value(str(e.get("path", "")))
        params[_key(f"input.{layer}.format")] = _param_value(str(e.get("format", "")))
        tags[_key(f"metpot.input.{layer}.sha256")] = sha
    return params, tags


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def fit_record_metrics(fit: Mapping) -> tuple[dict[str, float], dict[str, str]]:
    """The fit record of a classify ``fit.json`` as child-run metrics and tags: the count of
    each warning category of the fits (``fit_warnings.<category>``), the Cox fits that did not
    converge (``cox_not_converged``), and each category's first messages
    (tag ``metpot.fit_warnings.<category>``)."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for cat, r in (fit.get("fit_warnings") or {}).items():
        metrics[_key(f"fit_warnings.{cat}")] = float(r.get("count", 0))
        tags[_key(f"metpot.fit_warnings.{cat}")] = _truncate(
            " | ".join(r.get("first") or []), _MAX_TAG_VAL
        )
    cox = fit.get("cox_not_converged")
    if isinstance(cox, Mapping):
        metrics["cox_not_converged"] = float(cox.get("count", 0))
    return metrics, tags


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _folder_prefix(root: Path, path: Path) -> str:
    rel = path.parent.resolve().relative_to(root).as_posix()
    return "" if rel == "." else rel.replace("/", ".")


def run_tracking_uri(config: Mapping, tracking_uri: str | None = None) -> str:
    """The store a run of ``config`` goes to (``tracking_uri`` overrides the config's)."""
    if tracking_uri:
        return _normalise_uri(tracking_uri)
    return resolve_tracking_uri((config.get("tracking") or {}).get("uri"))


def open_workflow_run(config: Mapping, *, tracking_uri: str | None = None) -> dict:
    """Open the MLflow run of a workflow invocation before its outputs are all written.

    The workflow's ``track_models`` step logs the models into it as soon as they are chosen;
    :func:`log_workflow_run` with ``run_id`` records the rest and finishes it, and
    :func:`log_failed_run` marks it FAILED if the workflow fails first.

    Returns
    -------
    dict
        ``run_id``, ``experiment_id``, ``tracking_uri``, ``status`` (``RUNNING``).
    """
    uri = run_tracking_uri(config, tracking_uri)
    tags = {**_SOURCE_TAGS, "metpot.status": "RUNNING"}
    with store_lock(uri):
        client = _client(uri)
        exp_id = _get_or_create_experiment(client, experiment_name(config), uri, config)
        run_id = client.create_run(exp_id, tags=tags).info.run_id
    return {"run_id": run_id, "experiment_id": exp_id, "tracking_uri": uri, "status": "RUNNING"}


def still_open(opened: Mapping | None, tracking_uri: str) -> str | None:
    """The run id of ``opened`` (:func:`open_workflow_run`'s record) while that run is open
    in the store at ``tracking_uri``; None otherwise (finished, elsewhere, or gone)."""
    if not isinstance(opened, Mapping) or not opened.get("run_id"):
        return None
    uri = _normalise_uri(tracking_uri)
    if _normalise_uri(str(opened.get("tracking_uri", ""))) != uri:
        return None
    with store_lock(uri):
        try:
            info = _client(uri).get_run(opened["run_id"]).info
        except Exception:  # deleted, or a store that no longer has it
            return None
    return info.run_id if info.status == "RUNNING" else None


def log_workflow_run(
    config: Mapping,
    results_dir: str | os.PathLike,
    outputs: Sequence[Any],
    *,
    status: str = "FINISHED",
    since: float | None = None,
    tags: Mapping[str, str] | None = None,
    extra_artifacts: Mapping[str, str | os.PathLike] | None = None,
    workflow_dir: str | os.PathLike | None = None,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    run_id: str | None = None,
) -> dict:
    """Record one workflow invocation as an MLflow run.

    Parameters
    ----------
    config : dict
        The resolved workflow config.
    results_dir : path
        The run's ``output_dir`` (metrics keys and artifact paths are relative to it).
    outputs : sequence of :class:`metpot.manifest.Output`
        The declared outputs to consider (for artifacts: those of the kinds
        ``tracking.artifacts`` selects; see :func:`metpot.manifest.tracked_artifacts`).
        Outputs of kind ``metrics`` and ``params`` give the metrics and child runs.
    status : str
        ``FINISHED``, ``FAILED`` or ``KILLED``.
    since : float, optional
        Only files modified at or after this time (seconds since the epoch) are recorded
        (a failed run: nothing from an earlier run).
    tags : mapping, optional
        Further run tags.
    extra_artifacts : mapping, optional
        Artifact path -> file, logged as well (logs of a failed run).
    workflow_dir : path, optional
        Folder whose git commit is recorded.
    tracking_uri : str, optional
        Overrides :func:`resolve_tracking_uri`.
    run_name : str, optional
        The run's name.
    run_id : str, optional
        An open run (:func:`open_workflow_run`) to record into and finish; default a new run.

    Returns
    -------
    dict
        ``run_id``, ``experiment_id``, ``tracking_uri``, ``status``.
    """
    import yaml
    from mlflow.entities import Metric, Param, RunTag

    config = json.loads(json.dumps(dict(config), default=str))
    root = Path(results_dir).resolve()
    uri = run_tracking_uri(config, tracking_uri)

    def current(o) -> Path | None:
        p = Path(o.path).resolve()
        if not p.is_file() or (since is not None and p.stat().st_mtime < since):
            return None
        return p

    present = [(o, p) for o in outputs if (p := current(o)) is not None]
    params = {**flatten_params(config), **environment_params(), **git_info(workflow_dir)}
    inputs = next(
        (d for o, p in present if p.name == "inputs.json" and isinstance(d := _read_json(p), list)),
        [],
    )
    input_params, input_tags = _input_params(inputs)
    params.update(input_params)
    metrics: dict[str, float] = {}
    run_tags = {
        **_SOURCE_TAGS,
        "metpot.results_dir": str(root),
        "metpot.status": status,
        **input_tags,
        **{_key(k): _truncate(str(v), _MAX_TAG_VAL) for k, v in (tags or {}).items()},
    }
    if params["git.commit"] != "unknown":
        run_tags["mlflow.source.git.commit"] = params["git.commit"]
    folder_metrics: dict[Path, dict] = {}
    for o, p in present:
        if o.kind == "metrics" and (data := _read_json(p)) is not None:
            folder_metrics[p.parent] = data
            m, s = flatten_metrics(data, _folder_prefix(root, p))
            metrics.update(m)
            run_tags.update({_key(f"metpot.value.{k}"): v for k, v in s.items()})
    fit_records = {p.parent: d for o, p in present
                   if p.name == "fit.json" and isinstance(d := _read_json(p), dict)}  # fmt: skip
    children = [
        (
            p.parent.relative_to(root).as_posix(),
            _read_json(p) or {},
            folder_metrics.get(p.parent, {}),
            fit_records.get(p.parent, {}),
        )
        for o, p in present
        if o.kind == "params"
    ]
    from metpot.manifest import SUMMARY_KINDS

    wanted = set(SUMMARY_KINDS)
    if (config.get("tracking") or {}).get("artifacts") == "all":
        wanted.add("patient")
    artifacts = {
        p.relative_to(root).as_posix(): p
        for o, p in present
        if o.kind in wanted and p.stat().st_size < MAX_ARTIFACT_BYTES
    }
    artifacts.update({k: Path(v) for k, v in (extra_artifacts or {}).items()})

    with tempfile.TemporaryDirectory(prefix="metpot-track-") as stage_dir:
        stage = Path(stage_dir)
        for rel, src in artifacts.items():
            dest = stage / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                dest.write_bytes(Path(src).read_bytes())
        (stage / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        with store_lock(uri):
            client = _client(uri)
            if run_id is None:
                exp_id = _get_or_create_experiment(client, experiment_name(config), uri, config)
                run_id = client.create_run(exp_id, run_name=run_name, tags=run_tags).info.run_id
            else:
                exp_id = client.get_run(run_id).info.experiment_id
                client.log_batch(run_id, tags=[RunTag(k, v) for k, v in run_tags.items()])
                if run_name:
                    client.update_run(run_id, name=run_name)
            try:
                client.log_batch(
                    run_id,
                    params=[Param(k, v) for k, v in sorted(params.items())],
                    metrics=[Metric(k, v, 0, 0) for k, v in sorted(metrics.items())],
                    synchronous=True,
                )
                if inputs:
                    client.log_inputs(run_id, datasets=_dataset_inputs(inputs))
                for rel, c_params, c_metrics, c_fit in children:
                    child = client.create_run(
                        exp_id,
                        run_name=rel,
                        tags={"mlflow.parentRunId": run_id, "metpot.step": rel},
                    ).info.run_id
                    m, s = flatten_metrics(c_metrics)
                    fm, ft = fit_record_metrics(c_fit)
                    m.update(fm)
                    tags = [RunTag(_key(f"metpot.value.{k}"), v) for k, v in s.items()]
                    tags += [RunTag(k, v) for k, v in ft.items()]
                    client.log_batch(
                        child,
                        params=[Param(k, v) for k, v in flatten_params(c_params).items()],
                        metrics=[Metric(k, v, 0, 0) for k, v in m.items()],
                        tags=tags,
                        synchronous=True,
                    )
                    client.set_terminated(child, status=status)
                client.log_artifacts(run_id, str(stage))
            except BaseException:
                client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id, status=status)
    return {"run_id": run_id, "experiment_id": exp_id, "tracking_uri": uri, "status": status}


def failure_records(log_dir: str | os.PathLike, since: float | None = None) -> list[dict]:
    """The failure records ``metpot`` commands left beside their logs (newest last)."""
    records = []
    for path in sorted(Path(log_dir).rglob(f"*{FAILURE_SUFFIX}")):
        if since is not None and path.stat().st_mtime < since:
            continue
        data = _read_json(path)
        if isinstance(data, dict):
            records.append(data)
    return sorted(records, key=lambda r: r.get("time", 0))


def log_failed_run(
    config: Mapping,
    results_dir: str | os.PathLike,
    outputs: Sequence[Any],
    since: float,
    *,
    snakemake_log: str | os.PathLike | Sequence | None = None,
    workflow_dir: str | os.PathLike | None = None,
    tracking_uri: str | None = None,
    opened: str | os.PathLike | None = None,
) -> str | None:
    """Record a failed workflow invocation as a FAILED run; return its run id (None on error).

    The run carries the tags ``metpot.failed_rule`` and ``metpot.error`` from the failure
    records written since ``since`` (else ``unknown`` and "workflow failed"), the failed
    steps' logs and Snakemake's log under ``logs/``, and whatever declared outputs were
    written since ``since``. Writes ``<results_dir>/mlflow_failed_run.json``. Never raises: a
    tracking problem is printed to stderr so it cannot mask the workflow's own error.

    ``opened`` is the record of a run this invocation opened (:func:`open_workflow_run`, the
    ``track_models`` step's file): written since ``since`` and still open, that run is the one
    recorded as FAILED.
    """
    try:
        root = Path(results_dir)
        run_id = None
        if opened is not None and Path(opened).is_file() and Path(opened).stat().st_mtime >= since:
            run_id = still_open(_read_json(Path(opened)), run_tracking_uri(config, tracking_uri))
        records = failure_records(root / "logs", since)
        extra: dict[str, Path] = {}
        for r in records:
            if r.get("log") and Path(r["log"]).is_file():
                extra[f"logs/{Path(r['log']).name}"] = Path(r["log"])
        logs = [snakemake_log] if isinstance(snakemake_log, (str, os.PathLike)) else snakemake_log
        files = [Path(p) for p in logs or [] if Path(p).is_file()]
        if files:
            extra["logs/snakemake.log"] = files[-1]
        tags = {
            "metpot.failed_rule": ",".join(dict.fromkeys(r["step"] for r in records)) or "unknown",
            "metpot.error": _truncate(
                "\n".join(r["error"] for r in records) or "workflow failed", _MAX_ERROR_CHARS
            ),
        }
        run = log_workflow_run(
            config,
            root,
            outputs,
            status="FAILED",
            since=since,
            tags=tags,
            extra_artifacts=extra,
            workflow_dir=workflow_dir,
            tracking_uri=tracking_uri,
            run_id=run_id,
        )
        from metpot.io import write_json

        write_json(run, root / FAILED_RUN_FILE)
        return run["run_id"]
    except Exception as exc:  # never mask the workflow's own error
        print(f"metpot: could not record the failed run in MLflow: {exc!r}", file=sys.stderr)
        return None
