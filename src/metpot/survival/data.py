"""Input checks shared by the survival modules, and :func:`survival_frame`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data


def _as_time_event(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``time`` (finite, >= 0) and ``event`` (0/1 or bool) as 1-D arrays."""
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event).ravel()
    if t.shape != e_raw.shape:
        raise MetpotError(f"time has {t.size} values but event has {e_raw.size}")
    if t.size == 0:
        raise MetpotError("no patients: time and event are empty")
    if not np.all(np.isfinite(t)):
        raise MetpotError(f"time has {int(np.sum(~np.isfinite(t)))} missing/non-finite values")
    if np.any(t < 0):
        raise MetpotError(f"time has negative values: {name_list(np.unique(t[t < 0]))}")
    try:
        e = e_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise MetpotError(
            f"event must be 0/1 or boolean, got {name_list(np.unique(e_raw))}"
        ) from exc
    bad = ~np.isin(e, (0.0, 1.0))
    if np.any(bad):
        raise MetpotError(f"event must be 0/1 or boolean, got {name_list(np.unique(e_raw[bad]))}")
    return t, e.astype(bool)


def _risk_array(risk, n: int) -> np.ndarray:
    """Validate a risk score: ``n`` finite floats."""
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n:
        raise MetpotError(f"risk has {r.size} values but time has {n}")
    if not np.all(np.isfinite(r)):
        raise MetpotError(f"risk has {int(np.sum(~np.isfinite(r)))} missing/non-finite values")
    return r


def _sorted_levels(levels) -> list:
    """Distinct ``levels`` in sorted order; mixed types that do not compare sort as strings."""
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _plain(v):
    """Python scalar from a NumPy scalar (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _same_value(a: object, b: object) -> bool:
    """Equality used for event values: exact, else string comparison (``1`` == ``"1"``)."""
    try:
        if a == b:
            return True
    except (TypeError, ValueError):
        pass
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()


def survival_frame(
    clinical: pd.DataFrame,
    time_col: str,
    event_col: str,
    event_value: object,
    id_col: str | None = None,
) -> pd.DataFrame:
    """Validated survival outcome (``time`` float, ``event`` bool) of the usable patients.

    Patients with a missing, non-numeric or negative time, or a missing event status, are
    left out with a :class:`~metpot.errors.DataWarning` naming them; no outcome is imputed.

    Parameters
    ----------
    clinical : pandas.DataFrame
        One row per patient.
    time_col : str
        Follow-up time column (e.g. ``"os_days"``).
    event_col : str
        Event status column (e.g. ``"os_status"``); at most two distinct non-missing values.
    event_value : object
        The value of ``event_col`` meaning "event happened" (e.g. ``"Dead"``, ``1``, ``True``).
    id_col : str, optional
        Column with patient identifiers; by default the index of ``clinical``.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient id (input order kept), columns ``time`` (float) and ``event``
        (bool), usable patients only.

    Raises
    ------
    MetpotError
        A column is absent, the event column has more than two distinct values, the event
        value never occurs, or no patient is usable.
    """
    for col in (time_col, event_col) + ((id_col,) if id_col else ()):
        if col not in clinical.columns:
            raise MetpotError(
                f"clinical table has no column {col!r} (columns: {name_list(clinical.columns)})"
            )
    ids = clinical[id_col].astype(str).to_numpy() if id_col else clinical.index.astype(str)
    ids = np.asarray(ids)

    ev = clinical[event_col]
    ev_missing = ev.isna().to_numpy() | (ev.astype(str).str.strip() == "").to_numpy()
    seen = pd.unique(ev[~ev_missing])
    if len(seen) > 2:
        raise MetpotError(
            f"event column {event_col!r} has more than two distinct values: {name_list(seen)}"
        )
    if not any(_same_value(v, event_value) for v in seen):
        raise MetpotError(
            f"event value {event_value!r} never occurs in column {event_col!r} "
            f"(values seen: {name_list(seen)})"
        )
    event = np.array(
        [(not m) and _same_value(v, event_value) for v, m in zip(ev, ev_missing, strict=True)]
    )

    tm = pd.to_numeric(clinical[time_col], errors="coerce").to_numpy(dtype=float)
    bad_time = ~np.isfinite(tm)
    neg_time = np.isfinite(tm) & (tm < 0)
    drop = bad_time | neg_time | ev_missing
    if np.any(drop):
        reasons = []
        if np.any(bad_time):
            reasons.append(f"missing {time_col}: {name_list(ids[bad_time])}")
        if np.any(neg_time):
            reasons.append(f"negative {time_col}: {name_list(ids[neg_time])}")
        if np.any(ev_missing & ~bad_time & ~neg_time):
            reasons.append(
                f"missing {event_col}: {name_list(ids[ev_missing & ~bad_time & ~neg_time])}"
            )
        warn_data(
            f"{int(drop.sum())} of {len(ids)} patients left out of survival analysis ("
            + "; ".join(reasons)
            + ")"
        )
    keep = ~drop
    if not np.any(keep):
        raise MetpotError(
            f"no patient has a usable survival outcome in columns {time_col!r}/{event_col!r}"
        )
    out = pd.DataFrame({"time": tm[keep], "event": event[keep].astype(bool)}, index=ids[keep])
    out.index.name = id_col or clinical.index.name or "sample_id"
    return out
