"""Matching a new cohort's features to a model, and choosing the model a cohort can use.

:func:`match_features` builds a model's input frame from the new cohort's layers by feature
id (whatever the column order), measures the coverage of the model's features, refuses
scoring below ``min_coverage`` and fills what is missing as the model card prescribes.
:func:`select_model` picks, among the models of one target, the best one whose layers (and
enough of whose features) the cohort has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data
from metpot.score._common import _card_features, _layer_frame, _model_samples, _prep, _stat

__all__ = ["match_features", "select_model"]

_LOWER_IS_BETTER = {"log_loss", "brier", "integrated_brier", "integrated_brier_score"}


def match_features(
    layers: Mapping[str, pd.DataFrame],
    card: Mapping,
    min_coverage: float = 0.9,
) -> tuple[pd.DataFrame, dict]:
    """Build the model's input frame from a new cohort, matching features by id.

    Parameters
    ----------
    layers : mapping of str to DataFrame
        Layer name -> samples x features frame of raw (ingested) values; any column order.
    card : dict
        The model card: ``features`` (list of ``{"layer", "feature", "column"}``) and
        optionally ``preprocessing.fill_missing`` (``"impute"`` or ``"mean"``, default ``"mean"``)
        with ``preprocessing.mean`` (training means of the raw values, feature order).
    min_coverage : float
        Smallest share of the model's features that must be present (0-1).

    Returns
    -------
    X : DataFrame
        Samples (those present in every layer the model uses, order of the first) x the card's
        columns in card order, float64. Missing features are NaN (``missing="impute"``) or the
        training mean (``"mean"``); sporadic missing cells likewise.
    info : dict
        ``coverage``, ``n_features``, ``n_present``, ``missing`` (column names),
        ``missing_by_layer`` ({layer: count}), ``n_missing_cells``, ``fill``, ``no_values``
        (the samples without any value for the model's features, named in a warning: the
        caller leaves them unassigned).

    Raises
    ------
    MetpotError
        Coverage below ``min_coverage`` (one line naming the first 20 missing features and
        their count, and the cohort's layers that are not the model's), no sample in every
        layer (naming a layer that looks transposed), no sample with any value, or a
        malformed card.
    """
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise MetpotError(f"score.min_coverage must be between 0 and 1, got {min_coverage!r}")
    feats = _card_features(card)
    fill = _prep(card).get("fill_missing", "mean")
    if fill not in ("impute", "mean"):
        raise MetpotError(
            f"model card: preprocessing.fill_missing must be 'impute' or 'mean', got {fill!r}"
        )
    used = list(dict.fromkeys(f["layer"] for f in feats))
    unknown = [str(n) for n in layers if n not in used]
    frames = {n: _layer_frame(layers, n) for n in used if n in layers}
    samples = _model_samples(frames, used)
    n = len(feats)
    present = np.array(
        [f["layer"] in frames and f["feature"] in frames[f["layer"]].columns for f in feats]
    )
    coverage = float(present.mean())
    missing = [f["column"] for f, p in zip(feats, present, strict=True) if not p]
    if coverage < min_coverage:
        raise MetpotError(
            f"feature coverage {coverage:.3f} is below score.min_coverage {min_coverage:g}: "
            f"{len(missing)} of the model's {n} features are missing from the new cohort "
            f"(first 20: {', '.join(missing[:20])})"
            + (
                f"; the cohort's layer(s) {', '.join(unknown)} are not the model's "
                f"({', '.join(used)})"
                if unknown
                else ""
            )
        )
    if unknown:
        warn_data(
            f"layer(s) {', '.join(unknown)} of the new cohort not used by the model "
            f"(its layers: {', '.join(used)})"
        )
    values = np.full((len(samples), n), np.nan)
    for layer, frame in frames.items():
        idx = [j for j, f in enumerate(feats) if f["layer"] == layer and present[j]]
        if idx:
            cols = [feats[j]["feature"] for j in idx]
            values[:, idx] = frame.loc[samples, cols].to_numpy(dtype=float)
    # before any filling: a sample without values would get the training mean's class
    blank = np.isnan(values[:, present]).all(axis=1)
    no_values = [str(x) for x in samples[blank]]
    if no_values and len(no_values) == len(samples):
        raise MetpotError(
            f"no sample has any value for the model's {n} features "
            f"(layers {', '.join(used)}); nothing to score"
        )
    if no_values:
        warn_data(
            f"{len(no_values)} sample(s) without any value for the model's features, "
            f"left unassigned (flag no_values): {name_list(no_values)}"
        )
    n_cells = int(np.isnan(values[:, present]).sum())
    if missing:
        by_layer = pd.Series([f["layer"] for f, p in zip(feats, present, strict=True) if not p])
        warn_data(
            f"feature coverage {coverage:.3f}: {len(missing)} of the model's {n} features "
            f"missing from the new cohort, filled with "
            f"{'NaN for the model imputer' if fill == 'impute' else 'the training mean'} "
            f"({name_list(missing, 20)})"
        )
    else:
        by_layer = pd.Series([], dtype=object)
    if n_cells:
        warn_data(
            f"{n_cells} missing value(s) in the new cohort's model features filled with "
            f"{'NaN for the model imputer' if fill == 'impute' else 'the training mean'}"
        )
    if fill == "mean" and (missing or n_cells):
        mean = _stat(card, "mean", n)
        rows, cols = np.nonzero(np.isnan(values))
        values[rows, cols] = mean[cols]
    X = pd.DataFrame(values, index=samples, columns=[f["column"] for f in feats])
    info = {
        "coverage": coverage,
        "n_features": n,
        "n_present": int(present.sum()),
        "missing": missing,
        "missing_by_layer": {str(k): int(v) for k, v in by_layer.value_counts().items()},
        "n_missing_cells": n_cells,
        "fill": fill,
        "no_values": no_values,
    }
    return X, info


# ------------------------------------------------------------------ model choice


def _primary(card: Mapping) -> tuple[str, float]:
    metrics = card.get("metrics") or {}
    name = metrics.get("primary")
    if not name or name not in metrics:
        raise MetpotError(
            f"model card {card.get('file', '?')}: metrics.primary (the name of the nested-CV "
            "primary metric) and its value are needed to choose a model"
        )
    val = metrics[name]
    if isinstance(val, Mapping):
        val = val.get("estimate")
    try:
        val = float(val)
    except (TypeError, ValueError):
        raise MetpotError(
            f"model card {card.get('file', '?')}: metrics.{name} is not a number: {val!r}"
        ) from None
    return str(name), val


def select_model(
    cards: Mapping[str, Mapping],
    available: Mapping[str, Any] | Iterable[str],
    min_coverage: float | None = None,
) -> str:
    """Choose, among models of one target, the best one the new cohort can be scored with.

    Candidates are the cards whose ``layers`` are all available (and, when ``available``
    gives the features of each layer and ``min_coverage`` is set, whose feature coverage is
    at least ``min_coverage``). The best is the highest nested-CV primary metric
    (``card["metrics"]["primary"]`` names it; its value is a number or ``{"estimate": ...}``;
    log-loss and Brier scores count lower as better); ties go to the model with fewer
    features, then fewer layers, then the first key.

    Parameters
    ----------
    cards : mapping
        Key (e.g. the model file path) -> model card.
    available : mapping or iterable
        Layer names of the new cohort, or ``{layer: DataFrame or feature ids}``.
    min_coverage : float, optional
        With features given, the smallest share of a model's features present.

    Returns
    -------
    str
        The key of the chosen card.

    Raises
    ------
    MetpotError
        No cards, cards of several targets, or no card the cohort covers.
    """
    if not cards:
        raise MetpotError("no model to choose from")
    targets = {str(c.get("target")) for c in cards.values()}
    if len(targets) > 1:
        raise MetpotError(f"models of several targets given ({name_list(sorted(targets))})")
    feats: dict[str, set[str]] | None = None
    if isinstance(available, Mapping):
        feats = {}
        for k, v in available.items():
            cols = v.columns if isinstance(v, pd.DataFrame) else (v or [])
            feats[str(k)] = {str(c) for c in cols}
        layer_set = set(feats)
    else:
        layer_set = {str(x) for x in available}
    ranked = []
    for pos, (key, card) in enumerate(cards.items()):
        layers = [str(x) for x in card.get("layers") or []]
        if not layers:
            layers = list(dict.fromkeys(f["layer"] for f in _card_features(card)))
        if not set(layers) <= layer_set:
            continue
        if feats is not None and min_coverage is not None:
            fl = _card_features(card)
            cov = np.mean([f["feature"] in feats.get(f["layer"], ()) for f in fl])
            if cov < min_coverage:
                continue
        name, val = _primary(card)
        sign = 1.0 if name in _LOWER_IS_BETTER else -1.0
        n_feat = len(card.get("features") or [])
        ranked.append((sign * val, n_feat, len(layers), pos, key))
    if not ranked:
        raise MetpotError(
            f"no model of target {targets.pop()} uses only the new cohort's layers "
            f"({', '.join(sorted(layer_set))}) with enough feature coverage"
        )
    ranked.sort(key=lambda r: r[:4])
    return ranked[0][4]
