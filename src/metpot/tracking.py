"""MLflow tracking of metpot workflow runs (the only metpot module that imports mlflow).

The scientific modules never import this module: each step only writes plain files under the
output root (``results/`` by default), and this module turns whatever subset of them exists into
one MLflow run per workflow invocation.

Results contract read here
--------------------------
- ``ingest/inputs.json``: a list of ``{"layer", "path", "sha256", "n_rows", "n_cols", "format"}``
  (one per input file). Each becomes run params ``input.<layer>.{sha256,shape,path,format}``, a
  tag ``metpot.input.<layer>.sha256`` and an MLflow dataset input (name = layer, digest = the
  first 36 hex digits of the sha256 -- MLflow's limit --, the full sha256 and the shape in the
  dataset profile and in the input tags).
- ``<step>/metrics.json`` anywhere under the root (a JSON object of numbers, nested objects or
  lists): flattened with ``.`` (list items by index) and logged on the parent run prefixed with
  the folder's relative path (``survival/metrics.json`` ``{"logrank": {"p": ...}}`` ->
  ``survival.logrank.p``; ``classify/rf/metrics.json`` -> ``classify.rf.<key>``). Booleans are
  logged as 0/1; strings become tags ``metpot.value.<key>``; nulls are skipped. A new step
  folder is picked up without any change here.
- Every folder with a ``params.json`` becomes a nested child run (tag ``mlflow.parentRunId``)
  named after its relative path (``snf``, ``classify/rf``), holding those params and that
  folder's own metrics (unprefixed).
- Artifacts: every ``.tsv .json .parquet .svg .png .html .pdf`` file under 50 MB, at its
  relative path, plus the resolved config as ``config.yaml``.

Parent run params: the whole resolved config flattened (``preprocess.select.method``; lists
as JSON strings; values truncated to MLflow's 6000-character limit), ``metpot.version``,
``git.commit`` / ``git.dirty`` of the workflow directory (``"unknown"`` outside git),
``version.python`` and ``version.<package>`` for the key packages.

Where runs go
-------------
:func:`resolve_tracking_uri`: ``$MLFLOW_TRACKING_URI`` > config ``tracking.uri`` >
``sqlite:///<cwd>/mlflow.db`` (MLflow's own default since 3.7, made absolute). For SQLite stores
the experiment is created with an explicit artifact location ``<db dir>/mlartifacts/<experiment>``
(config ``tracking.artifact_location`` overrides); without it MLflow would use ``./mlruns``
relative to whatever the current directory was. Every operation on a SQLite store runs under an
exclusive ``fcntl.flock`` on ``<db>.lock`` next to the database: MLflow's schema creation/alembic
migration is not safe when two processes open a fresh store at once (``table experiments already
exists`` / ``duplicate column name``), and SQLite write contention is avoided altogether. HTTP(S)
tracking servers need no lock.

How the workflow calls it (CLI/Snakefile wiring is done elsewhere)
------------------------------------------------------------------
The ``track`` rule at the end of the DAG (after every result it should record)::

    from metpot.tracking import log_workflow_run
    run_id = log_workflow_run(config["output_dir"], config, workflow_dir=workflow.basedir)
    # -> writes <results>/mlflow_run.json {"run_id", "experiment_id", "tracking_uri", "status"}

Snakemake's ``onerror`` handler (``log`` is snakemake's own log file; in Snakemake 9 it is a
*list* of paths, which is accepted as is; relative rule ``log:`` paths are resolved against the
current directory, i.e. the snakemake workdir)::

    onerror:
        from metpot.tracking import log_failed_run
        log_failed_run(config, config["output_dir"], log_text_or_path=log,
                       workflow_dir=workflow.basedir)

``log_failed_run`` finds the failed rule and that rule's own ``log:`` files in snakemake's log
(:func:`failed_rule_from_snakemake_log`), attaches them, records whatever partial
metrics/inputs exist, ends the run FAILED and writes ``<results>/mlflow_failed_run.json`` (not
``mlflow_run.json``, so that a failure never fakes the ``track`` rule's output). It never raises:
tracking problems are reported on stderr so they do not mask the workflow's own error.

Models: :func:`log_model` logs a fitted scikit-learn estimator with skops serialization,
signature and input example, registers it (convention ``<cohort>-<target>``) and points the
alias (``champion``) at the new version; :func:`load_champion` loads
``models:/<name>@champion``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

try:  # POSIX only; on other platforms the SQLite lock degrades to a no-op
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_TRACKING_URI",
    "ModelRef",
    "failed_rule_from_snakemake_log",
    "load_champion",
    "log_failed_run",
    "log_model",
    "log_workflow_run",
    "resolve_tracking_uri",
    "store_lock",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
RUN_FILE = "mlflow_run.json"
FAILED_RUN_FILE = "mlflow_failed_run.json"
ARTIFACT_SUFFIXES = frozenset({".tsv", ".json", ".parquet", ".svg", ".png", ".html", ".pdf"})
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
KEY_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "snakemake", "mlflow", "numba", "skops")
LOCK_TIMEOUT_S = 600.0
_TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")

# MLflow limits (mlflow.utils.validation); kept here so importing this module stays cheap.
_MAX_PARAM_VAL = 6000
_MAX_TAG_VAL = 8000
_MAX_KEY = 250
_MAX_DIGEST = 36
_MAX_INPUT_TAG_VAL = 500
_MAX_PARAMS_TAGS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_ERROR_CHARS = 4000

# skops: types from these modules are trusted when logging a model (anything else must be
# passed explicitly through ``extra_trusted_types``).
_TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "metpot.", "builtins.", "collections.")


# --------------------------------------------------------------------------------------------
# Tracking URI and store lock
# --------------------------------------------------------------------------------------------


def _normalise_uri(uri: str) -> str:
    """Make a SQLite URI absolute (relative to the current directory); other URIs unchanged."""
    uri = str(uri).strip()
    if "://" not in uri and not uri.startswith(("databricks", "sqlite:")):
        if uri.endswith((".db", ".sqlite", ".sqlite3")):
            return "sqlite:///" + str(Path(uri).expanduser().resolve())
        return uri
    path = _sqlite_path(uri)
    if path is not None:
        query = uri[uri.index("?") :] if "?" in uri else ""
        return "sqlite:///" + str(path) + query
    return uri


def _sqlite_path(uri: str) -> Path | None:
    """Absolute database path of a ``sqlite:///`` URI, None for other or in-memory URIs."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///") :].split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest).expanduser().resolve()  # "/abs" (from sqlite:////abs) or relative to cwd


def resolve_tracking_uri(config_uri: str | None = None) -> str:
    """The tracking URI to use.

    Precedence: environment ``MLFLOW_TRACKING_URI`` > ``config_uri`` (config ``tracking.uri``) >
    ``sqlite:///mlflow.db`` in the current working directory. SQLite URIs are returned with an
    absolute path so a later change of directory does not move the store.
    """
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    uri = env or (str(config_uri).strip() if config_uri else "") or DEFAULT_TRACKING_URI
    return _normalise_uri(uri)


def _artifact_location(uri: str, experiment: str, config: Mapping | None = None) -> str | None:
    """Explicit artifact location for a new experiment (None: let the server decide)."""
    explicit = ((config or {}).get("tracking") or {}).get("artifact_location")
    if explicit:
        explicit = str(explicit)
        return Path(explicit).resolve().as_uri() if "://" not in explicit else explicit
    db = _sqlite_path(uri)
    if db is None:
        return None
    slug = re.sub(r"[^\w.-]+", "_", experiment).strip("._") or "experiment"
    return (db.parent / "mlartifacts" / slug).as_uri()


_held = threading.local()


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``<db>.lock`` for a SQLite tracking URI.

    Re-entrant within a thread; a no-op for non-SQLite URIs (HTTP servers serialise
    themselves). Raises TimeoutError after ``timeout`` seconds of waiting.
    """
    db = _sqlite_path(_normalise_uri(tracking_uri))
    if db is None or fcntl is None:
        yield
        return
    lock_path = db.with_name(db.name + ".lock")
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    key = str(lock_path)
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"could not lock the MLflow store {lock_path} within {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _fluent_uri(uri: str) -> Iterator[None]:
    """Temporarily point mlflow's fluent API (used by mlflow.sklearn) at ``uri``.

    Not ``mlflow.tracking._tracking_service.utils._use_tracking_uri``: restoring an unset URI
    through ``mlflow.set_tracking_uri(None)`` *unsets* ``$MLFLOW_TRACKING_URI``, so the process
    would afterwards silently fall back to ``./mlflow.db``. The global and the environment
    variable are both saved and restored here.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    old_global = tracking_utils._tracking_uri
    old_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old_global)
        if old_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_env


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


# --------------------------------------------------------------------------------------------
# Flattening and sanitising
# --------------------------------------------------------------------------------------------


def _key(key: str) -> str:
    """A valid MLflow param/metric/tag key (alphanumerics, _ - . space : only, <= 250 chars)."""
    key = re.sub(r"[^\w.\- :]", "_", str(key)).strip()
    if not key or key == "." or key.startswith(".."):
        key = "_" + key
    return key[:_MAX_KEY]


def _truncate(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    marker = "...[truncated]"
    return value[: limit - len(marker)] + marker


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str, sort_keys=True)
    elif value is None:
        text = "null"
    else:
        text = str(value)
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


def _flatten_leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _flatten_leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flatten_leaves(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, obj


def flatten_metrics(obj: Any, prefix: str = "") -> tuple[dict[str, float], dict[str, str]]:
    """Split a metrics JSON object into numeric metrics and string leaves (for tags).

    Nested keys are joined with ``.``, list items by index; booleans become 0/1; nulls are
    dropped.
    """
    metrics: dict[str, float] = {}
    strings: dict[str, str] = {}
    for key, value in _flatten_leaves(obj, prefix):
        if not key or value is None:
            continue
        if isinstance(value, bool):
            metrics[_key(key)] = float(value)
        elif isinstance(value, (int, float)):
            metrics[_key(key)] = float(value)
        else:
            strings[_key(key)] = _truncate(str(value), _MAX_TAG_VAL)
    return metrics, strings


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


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
    """``{"git.commit", "git.dirty"}`` of ``workflow_dir`` (cwd); "unknown" outside git.

    Dirty means tracked files differ from HEAD (untracked files, e.g. results, are ignored).
    """
    cwd = Path(workflow_dir or os.getcwd())
    commit = _git(["rev-parse", "HEAD"], cwd) if cwd.is_dir() else None
    if not commit:
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    dirty = "unknown" if status is None else str(bool(status.strip())).lower()
    return {"git.commit": commit.strip(), "git.dirty": dirty}


def environment_params() -> dict[str, str]:
    """``metpot.version``, ``version.python`` and ``version.<package>`` for KEY_PACKAGES."""
    from metpot import __version__

    out = {"metpot.version": __version__, "version.python": platform.python_version()}
    for pkg in KEY_PACKAGES:
        try:
            out[f"version.{pkg}"] = _pkg_version(pkg)
        except PackageNotFoundError:
            out[f"version.{pkg}"] = "not installed"
    return out


def experiment_name(config: Mapping, experiment: str | None = None) -> str:
    """``experiment`` > config ``tracking.experiment`` > config ``cohort.name`` > "metpot"."""
    if experiment:
        return str(experiment)
    tracking = config.get("tracking") or {}
    if tracking.get("experiment"):
        return str(tracking["experiment"])
    cohort = config.get("cohort") or {}
    if isinstance(cohort, Mapping) and cohort.get("name"):
        return str(cohort["name"])
    return "metpot"


# --------------------------------------------------------------------------------------------
# Reading the results tree
# --------------------------------------------------------------------------------------------


def _visible_files(root: Path, name: str | None = None) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith(".") or (name is not None and f != name):
                continue
            found.append(Path(dirpath) / f)
    return found


def _read_json(path: Path, notes: dict[str, str]) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        notes[_key(f"metpot.warning.{path.name}")] = _truncate(
            f"unreadable {path}: {exc}", _MAX_TAG_VAL
        )
        warnings.warn(f"metpot.tracking: skipped unreadable {path}: {exc}", stacklevel=3)
        return None


def _step_prefix(root: Path, folder: Path) -> str:
    rel = folder.relative_to(root).as_posix()
    return "" if rel == "." else rel.replace("/", ".")


def _collect_metrics(root: Path, notes: dict[str, str]) -> tuple[dict[str, float], dict[str, str]]:
    metrics: dict[str, float] = {}
    strings: dict[str, str] = {}
    for path in _visible_files(root, "metrics.json"):
        data = _read_json(path, notes)
        if data is None:
            continue
        m, s = flatten_metrics(data, _step_prefix(root, path.parent))
        metrics.update(m)
        strings.update({_key(f"metpot.value.{k}"): v for k, v in s.items()})
    return metrics, strings


def _read_inputs(root: Path, notes: dict[str, str]) -> list[dict[str, Any]]:
    path = root / "ingest" / "inputs.json"
    if not path.is_file():
        return []
    data = _read_json(path, notes)
    if isinstance(data, Mapping):  # tolerate {"layer": {...}} as well as a list
        data = [dict(v, layer=v.get("layer", k)) for k, v in data.items() if isinstance(v, Mapping)]
    if not isinstance(data, list):
        return []
    out, seen = [], set()
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            continue
        layer = _key(str(entry.get("layer") or f"input{i}"))
        if layer in seen:
            layer = f"{layer}_{i}"
        seen.add(layer)
        out.append(dict(entry, layer=layer))
    return out


def _input_params_tags(inputs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    params, tags = {}, {}
    for e in inputs:
        layer = e["layer"]
        sha = str(e.get("sha256", ""))
        params[_key(f"input.{layer}.sha256")] = sha
        params[_key(f"input.{layer}.shape")] = f"{e.get('n_rows', '?')}x{e.get('n_cols', '?')}"
        params[_key(f"input.{layer}.path")] = _param_value(str(e.get("path", "")))
        params[_key(f"input.{layer}.format")] = _param_value(str(e.get("format", "")))
        tags[_key(f"metpot.input.{layer}.sha256")] = sha
    return params, tags


def _dataset_inputs(inputs: list[dict[str, Any]]) -> list:
    """MLflow DatasetInput entities: metadata only, digest = sha256 prefix (MLflow max 36)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    result = []
    for e in inputs:
        sha = str(e.get("sha256") or "")
        path = str(e.get("path") or "")
        profile = {
            "sha256": sha,
            "num_rows": e.get("n_rows"),
            "num_cols": e.get("n_cols"),
            "format": e.get("format"),
        }
        dataset = Dataset(
            name=e["layer"],
            digest=(sha or "unknown")[:_MAX_DIGEST],
            source_type="local",
            source=json.dumps({"uri": path}),
            schema=None,
            profile=json.dumps(profile, default=str),
        )
        tags = [
            InputTag(key=MLFLOW_DATASET_CONTEXT, value="input"),
            InputTag(key="sha256", value=sha[:_MAX_INPUT_TAG_VAL]),
            InputTag(key="shape", value=f"{e.get('n_rows', '?')}x{e.get('n_cols', '?')}"),
            InputTag(key="format", value=str(e.get("format", ""))[:_MAX_INPUT_TAG_VAL]),
        ]
        result.append(DatasetInput(dataset=dataset, tags=tags))
    return result


def _artifact_files(root: Path) -> list[Path]:
    out = []
    for path in _visible_files(root):
        if path.suffix.lower() not in ARTIFACT_SUFFIXES:
            continue
        if path.parent == root and path.name in (RUN_FILE, FAILED_RUN_FILE):
            continue
        try:
            if path.stat().st_size >= MAX_ARTIFACT_BYTES:
                continue
        except OSError:
            continue
        out.append(path)
    return out


def _write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _log_batch(client, run_id: str, params=None, metrics=None, tags=None) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    for chunk in _chunks(sorted((params or {}).items()), _MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=[Param(k, v) for k, v in chunk], synchronous=True)
    for chunk in _chunks(sorted((tags or {}).items()), _MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(
            run_id,
            tags=[RunTag(k, _truncate(str(v), _MAX_TAG_VAL)) for k, v in chunk],
            synchronous=True,
        )
    metric_items = [(k, v) for k, v in sorted((metrics or {}).items()) if not isinstance(v, bool)]
    for chunk in _chunks(metric_items, _MAX_METRICS_PER_BATCH):
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in chunk],
            synchronous=True,
        )


def _get_or_create_experiment(client, name: str, uri: str, config: Mapping) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=_artifact_location(uri, name, config)
        )
    except MlflowException:  # created meanwhile by another client of a server
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _log_run(
    results_dir: str | os.PathLike,
    config: Mapping,
    *,
    experiment: str | None,
    status: str,
    run_name: str | None,
    extra_tags: Mapping[str, Any] | None,
    extra_artifacts: Mapping[str, Path] | None,
    workflow_dir: str | os.PathLike | None,
    tracking_uri: str | None,
    run_file: str,
) -> str:
    status = str(status).upper()
    if status not in _TERMINAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(_TERMINAL_STATUSES)}, not {status!r}")
    config = _jsonable(dict(config or {}))
    root = Path(results_dir).resolve()
    uri = (
        _normalise_uri(tracking_uri)
        if tracking_uri
        else resolve_tracking_uri((config.get("tracking") or {}).get("uri"))
    )
    name = experiment_name(config, experiment)
    notes: dict[str, str] = {}

    # Everything read from disk before taking the lock, so the lock is held briefly.
    params = flatten_params(config)
    params.update(environment_params())
    git = git_info(workflow_dir)
    params.update(git)
    inputs = _read_inputs(root, notes)
    input_params, input_tags = _input_params_tags(inputs)
    params.update(input_params)
    metrics, value_tags = _collect_metrics(root, notes)
    children = []
    for p in _visible_files(root, "params.json"):
        folder = p.parent
        if folder == root:
            continue
        child_params = _read_json(p, notes)
        child_metrics: dict[str, float] = {}
        child_strings: dict[str, str] = {}
        if (folder / "metrics.json").is_file():
            data = _read_json(folder / "metrics.json", notes)
            if data is not None:
                child_metrics, child_strings = flatten_metrics(data)
        children.append(
            (
                folder.relative_to(root).as_posix(),
                flatten_params(child_params if isinstance(child_params, Mapping) else {}),
                child_metrics,
                child_strings,
            )
        )
    tags = {
        "mlflow.source.name": "metpot",
        "mlflow.source.type": "LOCAL",
        "metpot.results_dir": str(root),
        "metpot.status": status,
        "metpot.version": params["metpot.version"],
        **input_tags,
        **value_tags,
        **notes,
    }
    if git["git.commit"] != "unknown":
        tags["mlflow.source.git.commit"] = git["git.commit"]
    tags.update({_key(k): str(v) for k, v in (extra_tags or {}).items()})

    with tempfile.TemporaryDirectory(prefix="metpot-track-") as stage_dir:
        stage = Path(stage_dir)
        for f in _artifact_files(root):
            dest = stage / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, dest)
            except OSError:
                shutil.copy2(f, dest)
        import yaml

        (stage / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        for rel, src in (extra_artifacts or {}).items():
            dest = stage / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)

        with store_lock(uri):
            client = _client(uri)
            exp_id = _get_or_create_experiment(client, name, uri, config)
            run = client.create_run(exp_id, run_name=run_name, tags={"metpot.status": "RUNNING"})
            run_id = run.info.run_id
            try:
                _log_batch(client, run_id, params=params, metrics=metrics, tags=tags)
                datasets = _dataset_inputs(inputs)
                if datasets:
                    client.log_inputs(run_id, datasets=datasets)
                for rel, c_params, c_metrics, c_strings in children:
                    child = client.create_run(
                        exp_id,
                        run_name=rel,
                        tags={"mlflow.parentRunId": run_id, "metpot.step": rel},
                    )
                    _log_batch(
                        client,
                        child.info.run_id,
                        params=c_params,
                        metrics=c_metrics,
                        tags={_key(f"metpot.value.{k}"): v for k, v in c_strings.items()},
                    )
                    client.set_terminated(child.info.run_id, status=status)
                client.log_artifacts(run_id, str(stage))
            except BaseException:
                client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id, status=status)

    _write_json_atomic(
        root / run_file,
        {"run_id": run_id, "experiment_id": exp_id, "tracking_uri": uri, "status": status},
    )
    return run_id


def log_workflow_run(
    results_dir: str | os.PathLike,
    config: Mapping,
    experiment: str | None = None,
    status: str = "FINISHED",
    run_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    *,
    workflow_dir: str | os.PathLike | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Record one workflow invocation as an MLflow run; return its run id.

    Parameters
    ----------
    results_dir : path
        The output root (``results/``); any subset of the step folders may exist.
    config : dict
        The resolved workflow config (logged flattened as params and as ``config.yaml``).
    experiment : str, optional
        Experiment name; default config ``tracking.experiment``, else ``cohort.name``.
    status : str
        Terminal status of the run (``FINISHED``, ``FAILED``, ``KILLED``).
    run_name : str, optional
        MLflow run name (MLflow generates one when omitted).
    extra_tags : dict, optional
        Additional run tags.
    workflow_dir : path, optional
        Directory whose git commit/dirty state is recorded (default: cwd).
    tracking_uri : str, optional
        Explicit tracking URI, overriding :func:`resolve_tracking_uri`.

    Writes ``results_dir/mlflow_run.json`` (``run_id``, ``experiment_id``, ``tracking_uri``,
    ``status``) atomically.
    """
    return _log_run(
        results_dir,
        config,
        experiment=experiment,
        status=status,
        run_name=run_name,
        extra_tags=extra_tags,
        extra_artifacts=None,
        workflow_dir=workflow_dir,
        tracking_uri=tracking_uri,
        run_file=RUN_FILE,
    )


_ERROR_RE = re.compile(r"^\s*Error in rule (?P<rule>[^\s:,]+)\s*[:,]", re.MULTILINE)
_GROUP_RULE_RE = re.compile(r"^\s+rule (?P<rule>[^\s:]+):\s*$")
_LOG_RE = re.compile(
    r"^\s*log:\s*(?P<files>.+?)\s*(\(check log file\(s\) for error details\))?\s*$"
)


def failed_rule_from_snakemake_log(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    workdir: str | os.PathLike | None = None,
) -> tuple[str | None, list[Path]]:
    """The first failed rule named in a snakemake log and the ``log:`` files of failed rules.

    Parses ``Error in rule NAME:`` (and ``Error in rule NAME, jobid: N``) blocks and their
    ``log: a, b (check log file(s) for error details)`` lines. Relative log paths are resolved
    against ``workdir`` (default: the current directory, i.e. the snakemake workdir); only
    existing files are returned. Returns ``(None, [])`` when the log is missing or names no rule.
    ``path`` may also be a list of log files: Snakemake 9 passes ``onerror`` a *list*
    (``logger_manager.get_logfile()``), not a single path.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path or [])
    chunks = []
    for p in paths:
        try:
            chunks.append(Path(p).read_text(errors="replace"))
        except OSError:
            continue
    if not chunks:
        return None, []
    text = "\n".join(chunks)
    base = Path(workdir or os.getcwd())
    rules: list[str] = []
    logs: list[Path] = []
    in_block = False
    for line in text.splitlines():
        m = _ERROR_RE.match(line)
        if m:
            rules.append(m.group("rule"))
            in_block = True
            continue
        if not in_block:
            continue
        if line and not line[0].isspace():
            in_block = False
            continue
        g = _GROUP_RULE_RE.match(line)
        if g and g.group("rule") not in rules:
            rules.append(g.group("rule"))
        lm = _LOG_RE.match(line)
        if lm:
            for f in lm.group("files").split(","):
                f = f.strip()
                if not f:
                    continue
                p = Path(f) if Path(f).is_absolute() else base / f
                if p.is_file() and p not in logs:
                    logs.append(p)
    return (rules[0] if rules else None), logs


def log_failed_run(
    config: Mapping,
    results_dir: str | os.PathLike,
    failed_rule: str | None = None,
    log_text_or_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    error: BaseException | str | None = None,
    *,
    experiment: str | None = None,
    workflow_dir: str | os.PathLike | None = None,
    tracking_uri: str | None = None,
) -> str | None:
    """Record a failed workflow invocation as a FAILED run; return its run id (None on error).

    The run carries tags ``metpot.failed_rule`` and ``metpot.error`` (truncated), the log as
    artifact ``logs/snakemake.log`` (a path -- or, as Snakemake 9's ``onerror`` passes it, a
    list of paths -- is attached as is; any other string is taken as the log text),
    the failed rule's own log files under ``logs/``, and whatever partial metrics, inputs and
    result files exist. Writes ``results_dir/mlflow_failed_run.json``. Never raises: a
    tracking problem is printed to stderr so it cannot mask the workflow's own failure.
    """
    try:
        extra: dict[str, Path] = {}
        tags: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="metpot-failed-") as tmp:
            log_path: Path | None = None
            if isinstance(log_text_or_path, (list, tuple)):  # snakemake 9: list of log files
                files = [Path(p) for p in log_text_or_path if Path(p).is_file()]
                log_text_or_path = files[-1] if files else None
            if log_text_or_path is not None:
                candidate = str(log_text_or_path)
                if "\n" not in candidate and len(candidate) < 4096 and Path(candidate).is_file():
                    log_path = Path(candidate)
                else:
                    log_path = Path(tmp) / "snakemake.log"
                    log_path.write_text(candidate)
                extra["logs/snakemake.log"] = log_path
                rule, rule_logs = failed_rule_from_snakemake_log(log_path)  # cwd = workdir
                failed_rule = failed_rule or rule
                for p in rule_logs:
                    rel = f"logs/{p.name}"
                    if rel in extra:
                        rel = f"logs/{len(extra)}_{p.name}"
                    extra[rel] = p
            if error is not None:
                message = (
                    f"{type(error).__name__}: {error}"
                    if isinstance(error, BaseException)
                    else str(error)
                )
            elif rule_errors := _rule_log_errors(extra):
                message = rule_errors
            elif log_path is not None:
                message = _error_excerpt(log_path)
            else:
                message = "workflow failed"
            tags["metpot.failed_rule"] = failed_rule or "unknown"
            tags["metpot.error"] = _truncate(message, _MAX_ERROR_CHARS)
            return _log_run(
                results_dir,
                config,
                experiment=experiment,
                status="FAILED",
                run_name=None,
                extra_tags=tags,
                extra_artifacts=extra,
                workflow_dir=workflow_dir,
                tracking_uri=tracking_uri,
                run_file=FAILED_RUN_FILE,
            )
    except Exception as exc:  # never mask the workflow's own error
        print(f"metpot: could not record the failed run in MLflow: {exc!r}", file=sys.stderr)
        return None


def _rule_log_errors(files: Mapping[str, Path]) -> str:
    """The one-line ``ERROR`` messages metpot's commands wrote to the failed rule's logs."""
    lines = []
    for rel, path in files.items():
        if rel == "logs/snakemake.log" or not path.is_file():
            continue
        lines += [ln for ln in path.read_text(errors="replace").splitlines() if ": ERROR: " in ln]
    return "\n".join(lines)


def _error_excerpt(log_path: Path, max_lines: int = 40) -> str:
    """The lines of a snakemake log from its first ``Error``, else its tail."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "workflow failed"
    for i, line in enumerate(lines):
        if "Error" in line or "Exception" in line:
            return "\n".join(lines[i : i + max_lines])
    return "\n".join(lines[-max_lines:]) or "workflow failed"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """Where a logged model lives.

    ``model_uri`` is ``models:/<registered_name>@<alias>`` when registered, else the logged
    model's own URI (``models:/m-...``); ``version`` is the registry version (None if not
    registered); ``logged_model_uri`` the immutable URI of this exact model.
    """

    model_uri: str
    logged_model_uri: str
    run_id: str
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None


def skops_trusted_types(
    model: Any, extra_trusted_types: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """The types skops would refuse to load from ``model``, after checking they are safe.

    Types from sklearn/numpy/scipy/metpot (and ``extra_trusted_types``) are accepted; any
    other type raises ValueError naming it.
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    extra = set(extra_trusted_types)
    bad = [t for t in untrusted if t not in extra and not t.startswith(_TRUSTED_MODULE_PREFIXES)]
    if bad:
        raise ValueError(
            "model contains types outside sklearn/numpy/scipy/metpot that skops will not load: "
            + ", ".join(bad)
            + " (pass them in extra_trusted_types if they are safe)"
        )
    return sorted(untrusted)


def _pip_requirements() -> list[str]:
    reqs = []
    for pkg in ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas"):
        try:
            reqs.append(f"{pkg}=={_pkg_version(pkg)}")
        except PackageNotFoundError:
            continue
    return reqs


def _head(X: Any, n: int = 5) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[:n]
    return X[:n]


def log_model(
    model: Any,
    name: str,
    X_example: Any,
    registered_name: str | None = None,
    alias: str | None = "champion",
    run_id: str | None = None,
    *,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    extra_trusted_types: tuple[str, ...] | list[str] = (),
) -> ModelRef:
    """Log a fitted scikit-learn model (skops format) and optionally register it.

    Parameters
    ----------
    model : estimator
        A fitted scikit-learn estimator or pipeline.
    name : str
        Model name within the run (MLflow 3 ``name``), e.g. ``"rf"``.
    X_example : DataFrame or array
        Feature rows; the first five are the input example and, with the model's
        predictions, define the signature.
    registered_name : str, optional
        Registry name (convention ``<cohort>-<target>``); a new version is created.
    alias : str, optional
        Alias set on the new version (``champion``) so ``models:/<name>@champion`` loads it.
    run_id : str, optional
        Run to log into (e.g. a child run id; it keeps its status). Default: the active run,
        else a new run ``model:<name>`` in ``experiment`` (default ``"metpot"``).
    tracking_uri : str, optional
        Explicit URI; default :func:`resolve_tracking_uri`.
    extra_trusted_types : sequence of str
        Further skops types to trust beyond sklearn/numpy/scipy/metpot.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    uri = _normalise_uri(tracking_uri) if tracking_uri else resolve_tracking_uri()
    trusted = skops_trusted_types(model, extra_trusted_types)
    example = _head(X_example)
    signature = infer_signature(example, model.predict(example))

    with store_lock(uri), _fluent_uri(uri):
        client = _client(uri)
        restore: tuple[str, int | None] | None = None
        active = mlflow.active_run()
        if active is not None and run_id in (None, active.info.run_id):
            run_id = active.info.run_id
            ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
        else:
            if run_id is None:
                # never MLflow's "Default" experiment: its artifact location is ./mlruns
                # relative to whichever directory first opened the store
                exp_name = experiment_name({}, experiment)
                exp_id = _get_or_create_experiment(client, exp_name, uri, {})
                run_id = client.create_run(exp_id, run_name=f"model:{name}").info.run_id
            else:
                run_info = client.get_run(run_id).info
                if run_info.status != "RUNNING":
                    restore = (run_info.status, run_info.end_time)
            ctx = mlflow.start_run(run_id=run_id)
        with ctx:
            info = mlflow.sklearn.log_model(
                model,
                name=name,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                skops_trusted_types=trusted,
                signature=signature,
                input_example=example,
                registered_model_name=registered_name,
                # explicit: MLflow would otherwise infer them by re-loading the model in a
                # subprocess (slow, and it may pick up the whole environment)
                pip_requirements=_pip_requirements(),
            )
        if restore is not None:  # start_run/end_run re-finished the run: put its status back
            client.set_terminated(run_id, status=restore[0], end_time=restore[1])
        version = None
        if registered_name:
            version = str(info.registered_model_version)
            if alias:
                client.set_registered_model_alias(registered_name, alias, version)
    model_uri = (
        f"models:/{registered_name}@{alias}"
        if registered_name and alias
        else f"models:/{registered_name}/{version}"
        if registered_name
        else info.model_uri
    )
    return ModelRef(
        model_uri=model_uri,
        logged_model_uri=info.model_uri,
        run_id=run_id,
        registered_name=registered_name,
        version=version,
        alias=alias if registered_name else None,
    )


def load_champion(name: str, alias: str = "champion", *, tracking_uri: str | None = None) -> Any:
    """Load the scikit-learn model behind ``models:/<name>@<alias>``."""
    import mlflow.sklearn

    uri = _normalise_uri(tracking_uri) if tracking_uri else resolve_tracking_uri()
    with store_lock(uri), _fluent_uri(uri):
        return mlflow.sklearn.load_model(f"models:/{name}@{alias}")
