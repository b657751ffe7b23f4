"""Models in MLflow: a fitted scikit-learn model logged (skops) and registered, the champion
alias, and a registered model's files fetched back."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

from metpot.tracking._store import (
    _client,
    _fluent_uri,
    _get_or_create_experiment,
    _normalise_uri,
    resolve_tracking_uri,
    store_lock,
)


@dataclass(frozen=True)
class ModelRef:
    """Where a logged model lives (``model_uri`` is ``models:/<name>@<alias>`` if registered)."""

    model_uri: str
    logged_model_uri: str
    run_id: str
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None


def _pip_requirements() -> list[str]:
    reqs = []
    for pkg in ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas"):
        with contextlib.suppress(PackageNotFoundError):
            reqs.append(f"{pkg}=={_pkg_version(pkg)}")
    return reqs


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
    version_tags: Mapping[str, str] | None = None,
) -> ModelRef:
    """Log a fitted scikit-learn model (skops format) and optionally register it.

    Parameters
    ----------
    model : estimator
        A fitted estimator holding only types of :data:`metpot.model_io.TRUSTED_TYPES`
        beyond skops' defaults.
    name : str
        Model name within the run.
    X_example : DataFrame or array
        Feature rows; the first five are the input example and define the signature.
    registered_name : str, optional
        Registry name (convention ``<cohort>-<target>``); a new version is created.
    alias : str, optional
        Alias set on the new version (``champion``).
    run_id : str, optional
        Run to log into (it keeps its status); default the active run, else a new run
        ``model:<name>`` in ``experiment`` (default ``"metpot"``).
    tracking_uri : str, optional
        Overrides :func:`resolve_tracking_uri`.
    version_tags : mapping, optional
        Tags of the new registered version.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io as sio
    from mlflow.models import infer_signature

    from metpot.model_io import untrusted_types

    data = sio.dumps(model)
    bad = untrusted_types(data)
    if bad:
        raise ValueError(f"model holds types metpot does not trust: {', '.join(bad)}")
    uri = _normalise_uri(tracking_uri) if tracking_uri else resolve_tracking_uri()
    example = X_example.iloc[:5] if hasattr(X_example, "iloc") else X_example[:5]
    signature = infer_signature(example, model.predict(example))

    with store_lock(uri), _fluent_uri(uri):
        client = _client(uri)
        restore = None
        active = mlflow.active_run()
        if active is not None and run_id in (None, active.info.run_id):
            run_id = active.info.run_id
            ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
        else:
            if run_id is None:
                exp_id = _get_or_create_experiment(client, experiment or "metpot", uri, {})
                run_id = client.create_run(exp_id, run_name=f"model:{name}").info.run_id
            else:
                info = client.get_run(run_id).info
                restore = (info.status, info.end_time)
            ctx = mlflow.start_run(run_id=run_id)
        with ctx:
            info = mlflow.sklearn.log_model(
                model,
                name=name,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                skops_trusted_types=sorted(sio.get_untrusted_types(data=data)),
                signature=signature,
                input_example=example,
                registered_model_name=registered_name,
                # explicit: MLflow would otherwise re-load the model in a subprocess to infer them
                pip_requirements=_pip_requirements(),
            )
        # start_run/end_run finished the run: reopen an open one, put a finished one's back
        if restore is not None and restore[0] == "RUNNING":
            client.update_run(run_id, status="RUNNING")
        elif restore is not None:
            client.set_terminated(run_id, status=restore[0], end_time=restore[1])
        version = None
        if registered_name:
            version = str(info.registered_model_version)
            for key, value in (version_tags or {}).items():
                client.set_model_version_tag(registered_name, version, key, value)
            if alias:
                client.set_registered_model_alias(registered_name, alias, version)
    if registered_name:
        model_uri = (
            f"models:/{registered_name}@{alias}"
            if alias
            else f"models:/{registered_name}/{version}"
        )
    else:
        model_uri = info.model_uri
    return ModelRef(
        model_uri=model_uri,
        logged_model_uri=info.model_uri,
        run_id=run_id,
        registered_name=registered_name,
        version=version,
        alias=alias if registered_name else None,
    )


def set_champion(
    registered: Sequence[Mapping], *, tracking_uri: str, alias: str = "champion"
) -> list[dict]:
    """Point ``alias`` at registered model versions.

    Parameters
    ----------
    registered : sequence of mapping
        ``target``, ``registered_name`` and ``version`` of each version (as the workflow's
        ``track_models`` step records them).
    tracking_uri : str
        The store (registry) they are in.
    alias : str
        The alias (``champion``).

    Returns
    -------
    list of dict
        ``target``, ``model_uri`` (``models:/<name>@<alias>``) and ``version`` of each.
    """
    uri = _normalise_uri(tracking_uri)
    out = []
    with store_lock(uri):
        client = _client(uri)
        for r in registered:
            client.set_registered_model_alias(r["registered_name"], alias, str(r["version"]))
            out.append(
                {
                    "target": r["target"],
                    "model_uri": f"models:/{r['registered_name']}@{alias}",
                    "version": str(r["version"]),
                }
            )
    return out


def fetch_model_files(model_uri: str, dest: str | os.PathLike, *, tracking_uri: str | None = None):
    """Download the metpot model file and card behind ``models:/<name>@<alias>``.

    The workflow's ``track`` step tags each registered version with the run artifacts of its
    ``.skops`` file and card (``metpot.model_artifact``, ``metpot.card_artifact``).

    Returns
    -------
    Path
        The downloaded ``.skops`` file (its card beside it).
    """
    from metpot.errors import MetpotError

    m = re.fullmatch(r"models:/([^@/]+)@([^@/]+)", model_uri.strip())
    if not m:
        raise MetpotError(f"score.model: {model_uri!r} is not models:/<name>@<alias>")
    uri = _normalise_uri(tracking_uri) if tracking_uri else resolve_tracking_uri()
    with store_lock(uri):
        client = _client(uri)
        try:
            version = client.get_model_version_by_alias(m.group(1), m.group(2))
        except Exception as exc:
            raise MetpotError(f"score.model: {model_uri} not found in {uri} ({exc})") from None
        tags = version.tags or {}
        if "metpot.model_artifact" not in tags:
            raise MetpotError(f"score.model: {model_uri} was not registered by a metpot run")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        paths = [
            client.download_artifacts(version.run_id, tags[key], str(dest))
            for key in ("metpot.model_artifact", "metpot.card_artifact")
        ]
    return Path(paths[0])


def load_champion(name: str, alias: str = "champion", *, tracking_uri: str | None = None) -> Any:
    """Load the scikit-learn model behind ``models:/<name>@<alias>``."""
    import mlflow.sklearn

    uri = _normalise_uri(tracking_uri) if tracking_uri else resolve_tracking_uri()
    with store_lock(uri), _fluent_uri(uri):
        return mlflow.sklearn.load_model(f"models:/{name}@{alias}")
