"""The compact signature: the model whose signature fit is best, and its features across the
classes (report figure).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.classify.driver import _best
from metpot.classify.options import NAN_SLICE_NOTES, _split_column
from metpot.errors import MetpotError


def signature_model(comparison: pd.DataFrame, kinds: Mapping[str, str], target: str) -> str | None:
    """The model whose ``signature`` fit of ``target`` is best (primary metric, ties to the
    simpler model), or None without a signature fit."""
    rows = comparison[(comparison["target"] == target) & (comparison["feature_set"] == "signature")]
    best = _best(rows, kinds) if len(rows) else pd.DataFrame()
    return None if best.empty else str(best.iloc[0]["model"])


def signature_classes(labels: pd.Series, order: Sequence = ()) -> list:
    """The classes of a signature heatmap, left to right.

    Parameters
    ----------
    labels : pandas.Series
        The true class of each sample.
    order : sequence, optional
        Classes to put first, in this order (the subtypes in subtype order, as the clusters
        figures draw them); those absent from ``labels`` are skipped.

    Returns
    -------
    list
        ``order``'s classes present in ``labels``, then the others sorted as text.
    """
    classes = sorted(labels.unique(), key=str)
    if not len(order):
        return classes
    present = set(labels)
    return [c for c in order if c in present] + [c for c in classes if c not in order]


def signature_matrix(
    layers: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    labels: pd.Series,
    classes: Sequence | None = None,
    transform: str = "none",
) -> dict:
    """A compact signature's features across the classes, z-scored, for a heatmap.

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Layers (samples x features) holding the signature's features.
    columns : sequence of str
        The signature's features as ``"<layer>:<feature>"`` (:func:`used_columns`).
    labels : pandas.Series
        Class per sample (the samples drawn).
    classes : sequence, optional
        Class order (default sorted).
    transform : {"none", "log2"}
        The classifiers' transform, applied before z-scoring.

    Returns
    -------
    dict
        ``z`` (features x samples, z-scored over the samples; rows grouped by layer, then by
        the class each feature marks, i.e. whose mean z is highest, strongest first; samples
        by class, then by their mean z over their class's features), ``labels`` (class per
        drawn sample), ``layer`` and ``marks`` (per row), ``means`` (features x classes, mean
        z per class).
    """
    labels = pd.Series(labels).astype(str)
    labels.index = [str(i) for i in labels.index]
    classes = [str(c) for c in (classes if classes is not None else sorted(labels.unique()))]
    cols = list(dict.fromkeys(str(c) for c in columns))
    if not cols:
        raise MetpotError("signature_matrix: the signature has no feature")
    parts = {}
    for col in cols:
        layer, feature = _split_column(col)
        if layer not in layers or feature not in layers[layer].columns:
            raise MetpotError(f"signature feature {col} is not in the layers")
        frame = layers[layer]
        frame = frame.set_axis([str(i) for i in frame.index], axis=0)
        parts[col] = frame.loc[labels.index, feature].to_numpy(dtype=float)
    X = np.column_stack([parts[c] for c in cols])
    if transform == "log2":
        X = np.log2(np.clip(X, 0, None) + 1.0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", NAN_SLICE_NOTES, RuntimeWarning)
        sd = np.nanstd(X, axis=0, ddof=1)
        Z = (X - np.nanmean(X, axis=0)) / np.where(sd > 0, sd, 1.0)
        lab = labels.to_numpy()
        means = np.column_stack([np.nanmean(Z[lab == c], axis=0) for c in classes])
    marks = np.argmax(np.nan_to_num(means, nan=-np.inf), axis=1)
    layer_order = {name: i for i, name in enumerate(layers)}
    row_layers = [_split_column(c)[0] for c in cols]
    strength = means[np.arange(len(cols)), marks]
    rows = sorted(
        range(len(cols)),
        key=lambda j: (layer_order.get(row_layers[j], len(layer_order)), marks[j], -strength[j], j),
    )
    class_pos = {c: i for i, c in enumerate(classes)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", NAN_SLICE_NOTES, RuntimeWarning)
        own = np.array(
            [np.nanmean(Z[i, marks == class_pos.get(lab[i], -1)]) if
             (marks == class_pos.get(lab[i], -1)).any() else 0.0 for i in range(len(lab))]
        )  # fmt: skip
    own = np.nan_to_num(own, nan=0.0)
    samples = sorted(
        range(len(lab)), key=lambda i: (class_pos.get(lab[i], len(classes)), -own[i], i)
    )
    z = pd.DataFrame(
        Z[np.ix_(samples, rows)].T,
        index=[cols[j] for j in rows],
        columns=labels.index[samples],
    )
    return {
        "z": z,
        "labels": labels.iloc[samples],
        "layer": np.array([row_layers[j] for j in rows]),
        "marks": np.array([classes[marks[j]] for j in rows]),
        "means": pd.DataFrame(means[rows], index=z.index, columns=classes),
    }
