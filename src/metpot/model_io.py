"""Model files: skops serialisation with an explicit list of trusted types, and model cards.

A trained model is two files side by side:

- ``<name>.skops``: the fitted estimator (a scikit-learn pipeline whose input is a data frame
  with the columns ``card["features"]`` in that order), written with :mod:`skops.io`. It is
  never pickled and never unpickled.
- ``<name>.json``: its model card, a JSON object. :func:`save_model` adds ``format``,
  ``file`` (the skops file's name), ``sha256`` (of the skops file), ``skops_types`` (the
  non-default types the file holds) and ``versions`` (package versions) to what the caller
  gives. The caller's card holds what scoring needs: ``target``, ``classes``, ``features``,
  ``preprocessing``, ``training`` and ``metrics`` (see ``metpot.classify``).

:func:`load_model` refuses a file whose SHA-256 differs from its card, and a file holding any
type outside :data:`TRUSTED_TYPES` (whatever the card claims), with a one-line
:class:`~metpot.errors.MetpotError`.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from metpot.errors import MetpotError

CARD_FORMAT = 1

#: Types beyond skops' own defaults that metpot's models may hold. skops loads the standard
#: scikit-learn estimators by itself; these are the few it asks about. A model holding any
#: other type is refused. ``tests/test_model_io.py`` fits every model metpot can build and
#: checks this list covers them.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "metpot.classify.AsArray",
        "metpot.classify.CoxPH",
        "metpot.classify.DropMissing",
        "metpot.classify.Log2Transform",
        "metpot.classify.SignatureSelector",
        "metpot.classify.TopVariance",
        "metpot.classify.ZScore",
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.tree._tree.Tree",
        "sksurv.ensemble.forest.RandomSurvivalForest",
        "sksurv.functions.StepFunction",
        "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
        "sksurv.linear_model.coxph.BreslowEstimator",
        "sksurv.tree.tree.SurvivalTree",
    }
)

_VERSIONED = ("metpot", "scikit-learn", "scikit-survival", "numpy", "scipy", "pandas", "skops")


def package_versions() -> dict[str, str]:
    """Versions of the packages a model file depends on (those installed)."""
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = _version(name)
        except PackageNotFoundError:
            continue
    return out


def card_path(model_path: str | Path) -> Path:
    """The model card beside a ``.skops`` file (the one place that names it)."""
    return Path(model_path).with_suffix(".json")


def model_path(card_file: str | Path) -> Path:
    """The ``.skops`` file a model card (:func:`card_path`) describes."""
    return Path(card_file).with_suffix(".skops")


def input_example(card: dict):
    """A one-row input example of a model for MLflow: the training means of its features.

    Parameters
    ----------
    card : dict
        The model's card (``features``, ``preprocessing.raw_value_summary``).

    Returns
    -------
    pandas.DataFrame
        One row, the model's columns in order, each the mean of its training values (NaN
        where the card holds none): no patient's values leave with the model.
    """
    import numpy as np
    import pandas as pd

    summary = card["preprocessing"].get("raw_value_summary") or {}
    columns = [f["column"] for f in card["features"]]
    row = [(summary.get(c) or {}).get("mean", np.nan) for c in columns]
    return pd.DataFrame([row], columns=columns).astype(float)


def untrusted_types(data: bytes) -> list[str]:
    """Types in serialised skops ``data`` that are outside :data:`TRUSTED_TYPES`."""
    import skops.io as sio

    return sorted(t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES)


def _canonical(data: bytes) -> bytes:
    """The same skops archive with canonical object ids and fixed entry dates.

    skops names objects (``__id__``) and array files (``<id>.npy``) by Python's ``id()`` and
    stamps entries with the time of writing, so the same model would give other bytes in
    another process. Ids are renumbered in order of first appearance in ``schema.json`` and
    every entry is dated 1980-01-01: a fixed seed gives a byte-identical file and SHA-256.
    """
    import io
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as src:
        entries = {i.filename: (i, src.read(i.filename)) for i in src.infolist()}
    schema = entries["schema.json"][1].decode()
    ids: dict[str, str] = {}
    for m in re.finditer(r'"__id__": (\d+)|"(\d+)\.npy"', schema):
        ids.setdefault(m.group(1) or m.group(2), str(len(ids) + 1))
    schema = re.sub(r'("__id__": )(\d+)', lambda m: m.group(1) + ids[m.group(2)], schema)
    schema = re.sub(r'"(\d+)\.npy"', lambda m: f'"{ids[m.group(1)]}.npy"', schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        renamed = {}
        for name, (info, content) in entries.items():
            stem = name.removesuffix(".npy")
            new = f"{ids.get(stem, stem)}.npy" if name.endswith(".npy") else name
            renamed[new] = (info, schema.encode() if name == "schema.json" else content)
        for name in sorted(renamed):
            info, content = renamed[name]
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, content)
    return out.getvalue()


def save_model(estimator: Any, path: str | Path, card: dict) -> dict:
    """Write a fitted estimator with skops and its model card beside it.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator.
    path : str or Path
        The ``.skops`` file to write; the card goes to the same name with ``.json``.
    card : dict
        The caller's card (JSON-serialisable).

    Returns
    -------
    dict
        The card as written (with ``format``, ``file``, ``sha256``, ``skops_types`` and
        ``versions`` added).

    Raises
    ------
    ValueError
        If the estimator holds a type outside :data:`TRUSTED_TYPES` (a programming error:
        such a model could never be loaded).
    """
    import skops.io as sio

    from metpot.io import sha256, write_json

    path = Path(path)
    data = _canonical(sio.dumps(estimator))
    bad = untrusted_types(data)
    if bad:
        raise ValueError(f"model holds types metpot does not trust: {', '.join(bad)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    full = {
        **card,
        "format": CARD_FORMAT,
        "file": path.name,
        "sha256": sha256(path),
        "skops_types": sorted(sio.get_untrusted_types(data=data)),
        "versions": package_versions(),
    }
    write_json(full, card_path(path))
    return full


def read_card(path: str | Path) -> dict:
    """Read a model card (the ``.json`` beside a ``.skops`` file, or the card itself)."""
    path = Path(path)
    card_file = path if path.suffix == ".json" else card_path(path)
    if not card_file.is_file():
        raise MetpotError(f"{card_file}: model card not found (expected beside the model file)")
    try:
        card = json.loads(card_file.read_text())
    except json.JSONDecodeError as exc:
        raise MetpotError(f"{card_file}: not a valid model card ({exc.msg})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise MetpotError(f"{card_file}: not a metpot model card of format {CARD_FORMAT}")
    return card


def load_model(path: str | Path) -> tuple[Any, dict]:
    """Load a model file after checking it against its card and the trusted types.

    Parameters
    ----------
    path : str or Path
        The ``.skops`` file (its card must be beside it).

    Returns
    -------
    estimator, dict
        The fitted estimator and its card.

    Raises
    ------
    MetpotError
        If the file or card is missing, the file's SHA-256 differs from the card's, or the
        file holds a type outside :data:`TRUSTED_TYPES`.
    """
    import skops.io as sio

    from metpot.io import sha256

    path = Path(path)
    if not path.is_file():
        raise MetpotError(f"{path}: model file not found")
    card = read_card(path)
    digest = sha256(path)
    if digest != card.get("sha256"):
        raise MetpotError(
            f"{path}: SHA-256 {digest[:12]}... differs from its card's "
            f"{str(card.get('sha256'))[:12]}...: the file was changed after training; refused"
        )
    data = path.read_bytes()
    try:
        bad = untrusted_types(data)
    except Exception as exc:  # a corrupt archive
        raise MetpotError(f"{path}: not a readable skops file ({exc})") from None
    if bad:
        raise MetpotError(f"{path}: holds types metpot does not trust ({', '.join(bad)}); refused")
    trusted = sorted(sio.get_untrusted_types(data=data))
    return sio.loads(data, trusted=trusted), card
