"""The MLflow store: its URI, the lock a SQLite store is opened under, clients, experiments."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
LOCK_TIMEOUT_S = 600.0


# --------------------------------------------------------------------------------------------
# Tracking URI and store lock
# --------------------------------------------------------------------------------------------


def _sqlite_path(uri: str) -> Path | None:
    """Absolute database path of a ``sqlite:///`` URI, None for other or in-memory URIs."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///") :].split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest).expanduser().resolve()


def _normalise_uri(uri: str) -> str:
    """Make a SQLite URI (or a bare ``*.db`` path) absolute; other URIs unchanged."""
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


def resolve_tracking_uri(config_uri: str | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` > ``config_uri`` > ``sqlite:///mlflow.db`` (made absolute)."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return _normalise_uri(
        env or (str(config_uri).strip() if config_uri else "") or DEFAULT_TRACKING_URI
    )


def _artifact_location(uri: str, experiment: str, config: Mapping) -> str | None:
    """Artifact location of a new experiment (None: the server decides)."""
    explicit = (config.get("tracking") or {}).get("artifact_location")
    if explicit:
        return Path(explicit).resolve().as_uri() if "://" not in str(explicit) else str(explicit)
    db = _sqlite_path(uri)
    if db is None:
        return None
    slug = re.sub(r"[^\w.-]+", "_", experiment).strip("._") or "experiment"
    return (db.parent / "mlartifacts" / slug).as_uri()


_LOCKS: dict[str, Any] = {}


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` of a SQLite store (re-entrant; no-op otherwise).

    Raises :class:`TimeoutError` after ``timeout`` seconds of waiting.
    """
    from filelock import FileLock
    from filelock import Timeout as LockTimeout

    db = _sqlite_path(_normalise_uri(tracking_uri))
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    key = str(db) + ".lock"
    lock = _LOCKS.setdefault(key, FileLock(key))
    try:
        lock.acquire(timeout=timeout)
    except LockTimeout:
        raise TimeoutError(
            f"could not lock the MLflow store {key} within {timeout:.0f} s"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _fluent_uri(uri: str) -> Iterator[None]:
    """Point mlflow's fluent API (used by mlflow.sklearn) at ``uri`` for a while.

    Saves and restores both the global URI and ``$MLFLOW_TRACKING_URI``: restoring an unset
    URI with ``mlflow.set_tracking_uri(None)`` would unset the environment variable.
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
