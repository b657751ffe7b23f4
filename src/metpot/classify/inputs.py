"""What a model is fitted on: the feature matrix of a feature set (:func:`feature_matrix`), and
the prediction targets (:class:`Target`, built by :func:`build_targets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metpot.classify.options import _UNIT_PER_YEAR, _column, feature_set_layers
from metpot.errors import MetpotError, name_list, warn_data


def feature_matrix(layers: Mapping[str, pd.DataFrame], feature_set: str) -> pd.DataFrame:
    """Model input of a feature set: the layers' columns named ``"<layer>:<feature>"``.

    Parameters
    ----------
    layers : mapping of str to pandas.DataFrame
        Ingested layers, samples x features, with the same samples (any order; the first
        layer's order is kept).
    feature_set : str
        A layer name, ``"all"`` or ``"signature"`` (both: every layer).

    Returns
    -------
    pandas.DataFrame
        Samples x columns, float.

    Raises
    ------
    MetpotError
        Unknown feature set, or layers whose samples differ.
    """
    names = feature_set_layers(layers.keys(), feature_set)
    first = next(iter(layers))
    index = layers[first].index
    parts = []
    for name in names:
        X = layers[name]
        if set(X.index) != set(index) or len(X.index) != len(index):
            diff = sorted(set(X.index) ^ set(index), key=str)
            raise MetpotError(
                f"layer {name}: samples differ from layer {first}'s ({name_list(diff)}); "
                "align the layers first"
            )
        X = X.loc[index]
        part = X.astype(float)
        part.columns = [_column(name, c) for c in X.columns]
        parts.append(part)
    out = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    out.index = pd.Index([str(s) for s in index], name="sample_id")
    return out


@dataclass
class Target:
    """A prediction target over some samples.

    Attributes
    ----------
    name : str
    kind : {"categorical", "survival", "landmark"}
    y : pandas.Series or pandas.DataFrame
        Categorical/landmark: labels indexed by sample (landmark: 1 = event before the
        landmark, 0 = event-free at it). Survival: ``time`` (float) and ``event`` (bool).
    survival : pandas.DataFrame, optional
        ``time``/``event`` of the samples (survival and landmark targets).
    landmark : float, optional
        Landmark in the clinical time unit (landmark targets).
    excluded : dict
        Reason -> list of samples left out.
    left_out : list of dict
        Classes left out (categorical targets): ``{"class", "n", "reason"}`` each; the models
        never predict them.
    """

    name: str
    kind: str
    y: pd.Series | pd.DataFrame
    survival: pd.DataFrame | None = None
    landmark: float | None = None
    excluded: dict[str, list[str]] = field(default_factory=dict)
    left_out: list[dict] = field(default_factory=list)

    @property
    def samples(self) -> list[str]:
        """Samples of the target, in order."""
        return [str(s) for s in self.y.index]

    @property
    def classes(self) -> list:
        """Sorted class labels (empty for survival targets)."""
        if self.kind == "survival":
            return []
        return sorted(pd.unique(self.y))

    @property
    def strata(self) -> np.ndarray:
        """Labels the folds are stratified on (the class, or the event indicator)."""
        if self.kind == "survival":
            return self.y["event"].to_numpy().astype(int)
        return self.y.to_numpy()

    def y_fit(self, samples: Sequence[str] | None = None):
        """What estimators are fitted on: labels, or a scikit-survival structured array."""
        y = self.y if samples is None else self.y.loc[list(samples)]
        if self.kind == "survival":
            return _surv_array(y["time"], y["event"])
        return y.to_numpy()

    @property
    def n_excluded(self) -> int:
        """Number of samples left out."""
        return sum(len(v) for v in self.excluded.values())


def _surv_array(time, event) -> np.ndarray:
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = np.asarray(event, dtype=bool)
    out["time"] = np.asarray(time, dtype=float)
    return out


def categorical_target(values: pd.Series, name: str, min_class_size: int = 10) -> Target:
    """A categorical target; missing labels and classes smaller than ``min_class_size`` are
    left out with a :class:`~metpot.errors.DataWarning` naming them.

    Parameters
    ----------
    values : pandas.Series
        Label per sample (indexed by sample id).
    name : str
        Target name (e.g. ``snf_subtype`` or the clinical column).
    min_class_size : int
        Smallest class kept: a class too small to appear in every stratified fold cannot be
        learnt or evaluated honestly.

    Returns
    -------
    Target

    Raises
    ------
    MetpotError
        Fewer than two classes remain.
    """
    s = pd.Series(values).copy()
    s.index = [str(i) for i in s.index]
    excluded: dict[str, list[str]] = {}
    missing = s.isna() | (s.astype(str).str.strip() == "")
    if missing.any():
        excluded["missing label"] = list(s.index[missing])
        warn_data(
            f"target {name}: {int(missing.sum())} sample(s) without a label left out: "
            f"{name_list(s.index[missing])}"
        )
    s = s[~missing].astype(str)
    counts = s.value_counts()
    small = sorted(counts.index[counts < min_class_size], key=str)
    reason = f"smaller than classify.min_class_size={min_class_size}"
    left_out = [{"class": str(c), "n": int(counts[c]), "reason": reason} for c in small]
    if small:
        drop = s.isin(small)
        excluded["class smaller than min_class_size"] = list(s.index[drop])
        warn_data(
            f"target {name}: class(es) "
            + ", ".join(f"{c} ({counts[c]} samples)" for c in small)
            + f" smaller than classify.min_class_size={min_class_size} left out "
            f"({int(drop.sum())} samples: {name_list(s.index[drop])})"
        )
        s = s[~drop]
    if s.nunique() < 2:
        raise MetpotError(
            f"target {name}: fewer than two classes with >= {min_class_size} samples "
            f"(counts: {dict(counts)})"
        )
    s.name = name
    return Target(name=name, kind="categorical", y=s, excluded=excluded, left_out=left_out)


def survival_target(survival: pd.DataFrame, name: str) -> Target:
    """A survival target from a ``time``/``event`` frame (e.g. ``survival.survival_frame``).

    Parameters
    ----------
    survival : pandas.DataFrame
        ``time`` and ``event`` by sample id (usable patients only).
    name : str
        Target name (e.g. ``os``).

    Returns
    -------
    Target
    """
    y = survival[["time", "event"]].copy()
    y.index = [str(i) for i in y.index]
    y["time"] = y["time"].astype(float)
    y["event"] = y["event"].astype(bool)
    if y["event"].sum() < 2:
        raise MetpotError(f"target {name}: fewer than two events")
    return Target(name=name, kind="survival", y=y, survival=y)


def landmark_target(
    survival: pd.DataFrame, name: str, landmark_years: float, time_unit: str = "months"
) -> Target:
    """Event before a landmark (1) or event-free at it (0).

    Patients censored before the landmark have no answer: they are left out, named in a
    :class:`~metpot.errors.DataWarning` and counted in ``Target.excluded``.

    Parameters
    ----------
    survival : pandas.DataFrame
        ``time``/``event`` by sample id.
    name : str
        Target name.
    landmark_years : float
        Landmark in years.
    time_unit : {"days", "months", "years"}
        Unit of ``time``.

    Returns
    -------
    Target
    """
    if time_unit not in _UNIT_PER_YEAR:
        raise MetpotError(f"time_unit must be days, months or years, got {time_unit!r}")
    landmark = float(landmark_years) * _UNIT_PER_YEAR[time_unit]
    s = survival[["time", "event"]].copy()
    s.index = [str(i) for i in s.index]
    t, e = s["time"].to_numpy(float), s["event"].to_numpy(bool)
    event = e & (t <= landmark)
    censored = ~e & (t < landmark)
    excluded = {}
    if censored.any():
        excluded[f"censored before {landmark_years:g} years"] = list(s.index[censored])
        warn_data(
            f"target {name}: {int(censored.sum())} of {len(s)} patients censored before the "
            f"{landmark_years:g}-year landmark left out: {name_list(s.index[censored])}"
        )
    keep = ~censored
    y = pd.Series(event[keep].astype(int), index=s.index[keep], name=name)
    if y.nunique() < 2:
        raise MetpotError(f"target {name}: all usable patients have the same landmark status")
    return Target(
        name=name, kind="landmark", y=y, survival=s.loc[keep], landmark=landmark, excluded=excluded
    )


#: The endpoint a categorical target's predictions are compared with the CRS on (survival and
#: landmark targets use their own).
CRS_COMPARISON_ENDPOINT = "os"


def comparison_outcome(
    target: Target, endpoints: Mapping[str, pd.DataFrame]
) -> pd.DataFrame | None:
    """The ``outcome`` of :func:`~metpot.classify.fit_models` for a target.

    Parameters
    ----------
    target : Target
        The target fitted.
    endpoints : mapping
        Endpoint name -> ``time``/``event`` frame (those the cohort has).

    Returns
    -------
    pandas.DataFrame or None
        :data:`CRS_COMPARISON_ENDPOINT`'s outcome for a categorical target (None if the cohort
        lacks it); None for survival and landmark targets, which are compared on their own.
    """
    if target.kind != "categorical":
        return None
    return endpoints.get(CRS_COMPARISON_ENDPOINT)


def build_targets(
    names: Sequence[str],
    *,
    clinical: pd.DataFrame | None = None,
    subtypes: pd.Series | None = None,
    endpoints: Mapping[str, pd.DataFrame] | None = None,
    landmark_years: float = 3.0,
    time_unit: str = "months",
    min_class_size: int = 10,
) -> dict[str, Target]:
    """Targets named in ``classify.targets``.

    ``snf_subtype`` is ``subtypes``; an endpoint name (``os``, ``pfs``: keys of ``endpoints``)
    is a survival target; ``<endpoint>_landmark`` is the landmark target of that endpoint at
    ``landmark_years``; any other name is a categorical column of ``clinical``.

    Parameters
    ----------
    names : sequence of str
        Target names.
    clinical : pandas.DataFrame, optional
        Clinical table indexed by sample id.
    subtypes : pandas.Series, optional
        The workflow's subtype per sample.
    endpoints : mapping, optional
        Endpoint name -> ``time``/``event`` frame.
    landmark_years, time_unit, min_class_size
        See :func:`landmark_target` and :func:`categorical_target`.

    Returns
    -------
    dict
        Name -> :class:`Target`.
    """
    endpoints = dict(endpoints or {})
    out = {}
    for name in names:
        if name in endpoints:
            out[name] = survival_target(endpoints[name], name)
        elif name.endswith("_landmark") and name[: -len("_landmark")] in endpoints:
            out[name] = landmark_target(
                endpoints[name[: -len("_landmark")]], name, landmark_years, time_unit
            )
        elif name == "snf_subtype":
            if subtypes is None:
                raise MetpotError("classify.targets: snf_subtype needs the workflow's subtypes")
            out[name] = categorical_target(subtypes, name, min_class_size)
        else:
            if clinical is None or name not in clinical.columns:
                cols = [] if clinical is None else list(clinical.columns)
                raise MetpotError(
                    f"classify.targets: {name!r} is neither snf_subtype, an endpoint "
                    f"({name_list(endpoints) or 'none'}) nor a clinical column "
                    f"({name_list(cols)})"
                )
            out[name] = categorical_target(clinical[name], name, min_class_size)
    return out
