"""The classifier method: class probabilities, prediction and confidence of a fitted model.

:func:`predict_classifier` applies the model file's fitted pipeline to the input frame
built by :func:`metpot.score.matching.match_features` and flags the low-confidence calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from metpot.errors import MetpotError

__all__ = ["predict_classifier"]


def _model_classes(model: Any) -> list[str] | None:
    classes = getattr(model, "classes_", None)
    return None if classes is None else [str(c) for c in classes]


def predict_classifier(
    model: Any,
    X: pd.DataFrame,
    card: Mapping,
    min_confidence: float = 0.5,
    low_confidence: str = "flag",
) -> pd.DataFrame:
    """Class probabilities, prediction and confidence from a fitted classifier.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` over ``card["classes"]`` (checked against
        ``model.classes_`` when it has them).
    X : DataFrame
        Model input (card columns in card order).
    card : dict
        Needs ``classes``.
    min_confidence : float
        A sample whose largest probability is below this is ``low_confidence``.
    low_confidence : {"flag", "unassign"}
        ``"flag"`` keeps the most probable class in ``prediction``; ``"unassign"`` sets it
        to NA. Either way the flag is set.

    Returns
    -------
    DataFrame
        Index of ``X``; ``prediction`` (str), ``proba_<class>`` per class, ``confidence``,
        ``low_confidence`` (bool).
    """
    if low_confidence not in ("flag", "unassign"):
        raise MetpotError(
            f"score.low_confidence must be 'flag' or 'unassign', got {low_confidence!r}"
        )
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise MetpotError(f"score.min_confidence must be between 0 and 1, got {min_confidence!r}")
    classes = [str(c) for c in card.get("classes") or []]
    if len(classes) < 2:
        raise MetpotError("model card: 'classes' needs at least two classes")
    fitted = _model_classes(model)
    if fitted is not None and fitted != classes:
        raise MetpotError(
            f"model card classes {classes} differ from the model's classes {fitted}; refused"
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    if proba.shape != (X.shape[0], len(classes)):
        raise MetpotError(
            f"model returned probabilities of shape {proba.shape} for {X.shape[0]} samples "
            f"and {len(classes)} classes"
        )
    best = np.argmax(proba, axis=1)
    conf = proba[np.arange(len(best)), best]
    low = conf < float(min_confidence)
    pred = pd.Series(np.asarray(classes, dtype=object)[best], index=X.index, dtype=object)
    if low_confidence == "unassign":
        pred[low] = pd.NA
    out = pd.DataFrame({"prediction": pred}, index=X.index)
    for k, c in enumerate(classes):
        out[f"proba_{c}"] = proba[:, k]
    out["confidence"] = conf
    out["low_confidence"] = low
    return out
