"""Helpers shared by the scoring modules: reading the model card, value transforms, samples.

The model card's per-feature lists (``features``, ``preprocessing.*``) are read and checked
here; :func:`_apply_transform` puts raw values on the model's scale (``log2(x + 1)`` or
none) and :func:`_inverse_transform` brings them back; :func:`_column_zscores` standardises
the features within a cohort; :func:`_layer_frame`, :func:`_common_samples` and
:func:`_model_samples` align a cohort's layers on the samples present in every layer a model
uses. None of these names is public.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data
from metpot.validate import transposed_layers

TRANSFORMS = ("none", "log2")


def _column(layer: str, feature: str) -> str:
    return f"{layer}:{feature}"


def _card_features(card: Mapping) -> list[dict]:
    feats = card.get("features")
    if not isinstance(feats, list) or not feats:
        raise MetpotError("model card: 'features' is missing or empty")
    out = []
    for k, f in enumerate(feats):
        if not isinstance(f, Mapping) or "layer" not in f or "feature" not in f:
            raise MetpotError(f"model card: features[{k}] needs 'layer' and 'feature', got {f!r}")
        col = f.get("column") or _column(str(f["layer"]), str(f["feature"]))
        out.append({"layer": str(f["layer"]), "feature": str(f["feature"]), "column": col})
    return out


def _prep(card: Mapping) -> dict:
    prep = card.get("preprocessing") or {}
    if not isinstance(prep, Mapping):
        raise MetpotError("model card: 'preprocessing' must be an object")
    return dict(prep)


def _transform_name(card: Mapping) -> str:
    t = _prep(card).get("transform", "none") or "none"
    if t not in TRANSFORMS:
        raise MetpotError(f"model card: preprocessing.transform {t!r} is not one of {TRANSFORMS}")
    return t


def _stat(card: Mapping, key: str, n: int, required: bool = True) -> np.ndarray | None:
    prep = _prep(card)
    if key not in prep:
        if required:
            raise MetpotError(f"model card: preprocessing.{key} is missing")
        return None
    vals = np.asarray(prep[key], dtype=float)
    if vals.shape != (n,):
        raise MetpotError(
            f"model card: preprocessing.{key} has {vals.size} values for {n} features"
        )
    return vals


def _column_zscores(A: np.ndarray) -> np.ndarray:
    """Each column of ``A`` centred and scaled over its observed cells (sd with n - 1); a
    column with no finite positive sd becomes 0; missing cells stay missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(A, axis=0)
        s = np.nanstd(A, axis=0, ddof=1)
    ok = np.isfinite(s) & (s > 0)
    Z = np.zeros_like(A)
    Z[:, ok] = (A[:, ok] - m[ok]) / s[ok]
    Z[np.isnan(A)] = np.nan
    return Z


def _apply_transform(values: np.ndarray, transform: str, what: str = "cohort") -> np.ndarray:
    if transform == "none":
        return values
    with np.errstate(invalid="ignore"):
        neg = values < 0
    if np.any(neg):
        raise MetpotError(
            f"{what}: the model's log2 transform needs non-negative values, "
            f"found {int(neg.sum())} negative cell(s); give values in the training units"
        )
    return np.log2(values + 1.0)


def _inverse_transform(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "none":
        return values
    return np.maximum(np.exp2(values) - 1.0, 0.0)


def _common_samples(layers: Mapping[str, pd.DataFrame], names: Iterable[str]) -> pd.Index:
    names = [n for n in names if n in layers]
    if not names:
        return pd.Index([], name="sample_id")
    first = pd.Index(layers[names[0]].index.astype(str))
    keep = first
    for n in names[1:]:
        keep = keep[keep.isin(pd.Index(layers[n].index.astype(str)))]
    dropped = sorted(set().union(*(set(layers[n].index.astype(str)) for n in names)) - set(keep))
    if dropped:
        warn_data(
            f"{len(dropped)} sample(s) not in every layer the model uses "
            f"({', '.join(names)}) were not scored: {name_list(dropped)}"
        )
    return pd.Index(keep, name="sample_id")


def _model_samples(frames: Mapping[str, pd.DataFrame], used: list[str]) -> pd.Index:
    """:func:`_common_samples`, an error when there is none, naming a transposed layer."""
    samples = _common_samples(frames, used)
    if frames and samples.empty:
        ids = {n: (f.index, f.columns) for n, f in frames.items()}
        flipped = transposed_layers(ids)
        hint = (
            f": layer {flipped[0]} looks transposed (its features are the sample ids of "
            "another layer); check its layout"
            if flipped
            else ""
        )
        raise MetpotError(
            f"no sample is present in every layer the model uses ({', '.join(used)}){hint}"
        )
    return samples


def _layer_frame(layers: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = layers[name]
    if not isinstance(frame, pd.DataFrame):
        raise MetpotError(f"layer {name}: expected a samples x features data frame")
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise MetpotError(f"layer {name}: duplicate feature ids {name_list(dup)}")
    dup = frame.index[frame.index.duplicated()].unique().tolist()
    if dup:
        raise MetpotError(f"layer {name}: duplicate sample ids {name_list(dup)}")
    return frame
