"""Clinical risk score (Fong 1999) and integrated clinical-molecular risk groups.

* :func:`fong_score` -- the Fong clinical risk score (CRS) for resected colorectal liver
  metastases (Fong et al., Ann Surg 1999;230:309-318): one point each for a node-positive
  primary, a disease-free interval < 12 months, more than one liver tumour, a preoperative CEA
  > 200 ng/ml and a largest liver tumour > 5 cm.
* :func:`integrated_risk_groups` -- combine a molecular subtype with the CRS group into
  low / intermediate / high integrated risk (Pitroda et al., Nat Commun 2018;9:1793).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metpot.config import schema_default
from metpot.errors import MetpotError, name_list, warn_data

__all__ = [
    "FONG_FACTORS",
    "INTEGRATED_PRESETS",
    "KATIPALLY_2023",
    "PITRODA_2018",
    "fong_score",
    "integrated_risk_groups",
    "integrated_table",
]

#: The five Fong factors: result column -> description.
FONG_FACTORS = {
    "node_positive": "node-positive primary",
    "dfi_lt_12mo": "disease-free interval < 12 months",
    "multiple_tumors": "more than one liver tumour",
    "cea_gt_200": "CEA > 200 ng/ml",
    "size_gt_5cm": "largest liver tumour > 5 cm",
}

#: Default integrated risk table (Pitroda et al. 2018): subtype -> CRS group -> risk.
PITRODA_2018: dict[str, dict[str, str]] = {
    "immune": {"low": "low", "high": "intermediate"},
    "canonical": {"low": "intermediate", "high": "high"},
    "stromal": {"low": "intermediate", "high": "high"},
}

#: The 2023 validation (Katipally et al., JAMA Oncol 2023; CRS high from 2, ``crs.high_cutoff:
#: 2``): low = immune or canonical with CRS < 2; intermediate = immune with CRS >= 2 or stromal
#: with CRS < 2; high = canonical or stromal with CRS >= 2.
KATIPALLY_2023: dict[str, dict[str, str]] = {
    "immune": {"low": "low", "high": "intermediate"},
    "canonical": {"low": "low", "high": "high"},
    "stromal": {"low": "intermediate", "high": "high"},
}

#: Named tables for ``survival.integrated_groups``.
INTEGRATED_PRESETS = {"pitroda2018": PITRODA_2018, "katipally2023": KATIPALLY_2023}


#: The score from which the CRS group is ``"high"`` when ``crs.high_cutoff`` is not given:
#: the config schema's default (3, Fong 1999: 0-2 low, 3-5 high).
DEFAULT_HIGH_CUTOFF: int = schema_default("crs.high_cutoff")


def crs_settings(section: Mapping | None) -> tuple[int, dict]:
    """The ``crs`` config section as (high cutoff, the other settings: columns or ``score``).

    Parameters
    ----------
    section : mapping or None
        The ``crs`` section of the config.

    Returns
    -------
    tuple of (int, dict)
        ``crs.high_cutoff`` (default :data:`DEFAULT_HIGH_CUTOFF`) and the rest of the section.
    """
    rest = dict(section or {})
    return rest.pop("high_cutoff", DEFAULT_HIGH_CUTOFF), rest


def integrated_table(spec: str | Mapping[str, Mapping[str, str]]) -> dict:
    """The integrated-groups table of a preset name or an explicit table."""
    if isinstance(spec, str):
        if spec not in INTEGRATED_PRESETS:
            raise MetpotError(
                f"config: survival.integrated_groups: no preset {spec!r} "
                f"(presets: {', '.join(INTEGRATED_PRESETS)})"
            )
        return {k: dict(v) for k, v in INTEGRATED_PRESETS[spec].items()}
    return {str(k): dict(v) for k, v in spec.items()}


_YES = {"yes", "y", "true", "1", "positive", "pos"}
_NO = {"no", "n", "false", "0", "negative", "neg"}


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == "" or v.strip().lower() in {"na", "nan"}
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _parse_node(col: pd.Series, ids: np.ndarray) -> np.ndarray:
    """Node status -> 1.0 / 0.0 / NaN (missing). Strict: anything else is an error."""
    out = np.full(len(col), np.nan)
    bad = []
    for k, v in enumerate(col.to_numpy(dtype=object)):
        if _is_missing(v):
            continue
        if isinstance(v, bool | np.bool_):
            out[k] = float(v)
        elif isinstance(v, int | float | np.integer | np.floating):
            if float(v) in (0.0, 1.0):
                out[k] = float(v)
            else:
                bad.append((ids[k], v))
        elif isinstance(v, str) and v.strip().lower() in _YES:
            out[k] = 1.0
        elif isinstance(v, str) and v.strip().lower() in _NO:
            out[k] = 0.0
        else:
            bad.append((ids[k], v))
    if bad:
        shown = name_list(f"{i}={v!r}" for i, v in bad)
        raise MetpotError(
            f"column {col.name!r} (node-positive primary) must be 0/1, true/false or yes/no; "
            f"got {shown}"
        )
    return out


def _parse_numeric(col: pd.Series, ids: np.ndarray, what: str) -> np.ndarray:
    """Numeric factor -> float / NaN (missing). Non-numeric or negative values are errors."""
    raw = col.to_numpy(dtype=object)
    missing = np.array([_is_missing(v) for v in raw], dtype=bool)
    vals = pd.to_numeric(col.where(~missing), errors="coerce").to_numpy(dtype=float)
    bad = ~missing & ~np.isfinite(vals)
    if np.any(bad):
        shown = name_list(f"{i}={v!r}" for i, v in zip(ids[bad], raw[bad], strict=True))
        raise MetpotError(f"column {col.name!r} ({what}) must be numeric; got {shown}")
    neg = ~missing & (vals < 0)
    if np.any(neg):
        shown = name_list(f"{i}={v!r}" for i, v in zip(ids[neg], raw[neg], strict=True))
        raise MetpotError(f"column {col.name!r} ({what}) must be >= 0; got {shown}")
    vals = np.where(missing, np.nan, vals)
    return vals


def fong_score(
    clinical: pd.DataFrame,
    node_positive: str | None = None,
    disease_free_interval_months: str | None = None,
    n_liver_tumors: str | None = None,
    cea_ng_ml: str | None = None,
    largest_tumor_cm: str | None = None,
    high_cutoff: int | None = DEFAULT_HIGH_CUTOFF,
    score_col: str | None = None,
    id_col: str | None = None,
) -> dict:
    """Fong clinical risk score (0-5) and its low/high group.

    One point each for: node-positive primary; disease-free interval (primary to liver
    metastasis) < 12 months; more than one liver tumour; preoperative CEA > 200 ng/ml; largest
    liver tumour > 5 cm. ``"high"`` if the score is ``>= high_cutoff`` (default the config
    schema's ``crs.high_cutoff``, 3: 0-2 low, 3-5 high, as Fong 1999 and Pitroda 2018; the 2023
    New EPOC validation used 0-1 / 2-5, i.e. ``high_cutoff=2``).

    Patients with any factor missing are not scored (never imputed): they are left out of the
    result, named in a :class:`~metpot.errors.DataWarning` and counted.

    Parameters
    ----------
    clinical : pandas.DataFrame
        One row per patient.
    node_positive : str
        Column: node-positive primary, as 0/1, bool, or yes/no (also true/false,
        positive/negative) strings. Any other value is an error.
    disease_free_interval_months : str
        Column: months from primary to liver metastasis (>= 0; 0 for synchronous).
    n_liver_tumors : str
        Column: number of liver tumours.
    cea_ng_ml : str
        Column: preoperative CEA in ng/ml.
    largest_tumor_cm : str
        Column: diameter of the largest liver tumour in cm.
    high_cutoff : int, optional
        Score from which the group is ``"high"`` (1-5); default ``crs.high_cutoff`` of the
        config schema.
    score_col : str, optional
        Column holding a precomputed score (integers 0-5); when given, the factor columns are
        not used (and must not be given).
    id_col : str, optional
        Column with patient ids (default: the index).

    Returns
    -------
    dict
        ``"scores"``: DataFrame indexed by patient id (scored patients only, input order) with
        the five 0/1 point columns (absent with ``score_col``), ``crs`` (int) and ``crs_group``
        (``"low"``/``"high"``); ``"excluded"``: list of the ids left out; ``"n_excluded"``:
        their number.

    Raises
    ------
    MetpotError
        Unknown column, no factor columns and no ``score_col``, bad values, bad cutoff.
    """
    if high_cutoff is None:
        high_cutoff = DEFAULT_HIGH_CUTOFF
    if not isinstance(high_cutoff, int | np.integer) or not 1 <= int(high_cutoff) <= 5:
        raise MetpotError(f"high_cutoff must be an integer from 1 to 5, got {high_cutoff!r}")
    factor_cols = {
        "node_positive": node_positive,
        "dfi_lt_12mo": disease_free_interval_months,
        "multiple_tumors": n_liver_tumors,
        "cea_gt_200": cea_ng_ml,
        "size_gt_5cm": largest_tumor_cm,
    }
    given = {k: v for k, v in factor_cols.items() if v is not None}
    if score_col is not None and given:
        raise MetpotError(
            f"give either score_col ({score_col!r}) or the factor columns, not both "
            f"(factor columns given: {name_list(given.values())})"
        )
    if score_col is None and len(given) < 5:
        missing = [FONG_FACTORS[k] for k in factor_cols if k not in given]
        raise MetpotError(
            f"Fong score needs all five factor columns; missing: {name_list(missing)}"
        )
    needed = ([score_col] if score_col else list(given.values())) + ([id_col] if id_col else [])
    absent = [c for c in needed if c not in clinical.columns]
    if absent:
        raise MetpotError(
            f"clinical table has no column(s) {name_list(absent)} "
            f"(columns: {name_list(clinical.columns)})"
        )
    ids = np.asarray(clinical[id_col].astype(str) if id_col else clinical.index.astype(str))

    if score_col is not None:
        s = _parse_numeric(clinical[score_col], ids, "precomputed Fong score")
        ok = ~np.isnan(s)
        bad = ok & ((s != np.round(s)) | (s > 5))
        if np.any(bad):
            shown = name_list(f"{i}={v:g}" for i, v in zip(ids[bad], s[bad], strict=True))
            raise MetpotError(
                f"column {score_col!r} (Fong score) must be an integer 0-5; got {shown}"
            )
        points = None
        score = s
        complete = ok
        reasons = {score_col: ~ok}
    else:
        node = _parse_node(clinical[node_positive], ids)
        dfi = _parse_numeric(clinical[disease_free_interval_months], ids, "disease-free interval")
        ntum = _parse_numeric(clinical[n_liver_tumors], ids, "number of liver tumours")
        cea = _parse_numeric(clinical[cea_ng_ml], ids, "CEA ng/ml")
        size = _parse_numeric(clinical[largest_tumor_cm], ids, "largest tumour cm")
        with np.errstate(invalid="ignore"):
            points = pd.DataFrame(
                {
                    "node_positive": node,
                    "dfi_lt_12mo": np.where(np.isnan(dfi), np.nan, (dfi < 12).astype(float)),
                    "multiple_tumors": np.where(np.isnan(ntum), np.nan, (ntum > 1).astype(float)),
                    "cea_gt_200": np.where(np.isnan(cea), np.nan, (cea > 200).astype(float)),
                    "size_gt_5cm": np.where(np.isnan(size), np.nan, (size > 5).astype(float)),
                },
                index=ids,
            )
        complete = points.notna().all(axis=1).to_numpy()
        score = points.sum(axis=1, min_count=5).to_numpy()
        reasons = {given[k]: points[k].isna().to_numpy() for k in points.columns}

    excluded = [str(i) for i in ids[~complete]]
    if excluded:
        why = "; ".join(
            f"missing {col}: {name_list(ids[m])}" for col, m in reasons.items() if np.any(m)
        )
        warn_data(
            f"Fong score not computed for {len(excluded)} of {len(ids)} patients "
            f"(not imputed; {why})"
        )
    crs = score[complete].astype(int)
    out = (
        points.loc[complete].astype(int)
        if points is not None
        else pd.DataFrame(index=ids[complete])
    )
    out.index = pd.Index(ids[complete], name=id_col or clinical.index.name or "sample_id")
    out["crs"] = crs
    out["crs_group"] = np.where(crs >= int(high_cutoff), "high", "low")
    return {"scores": out, "excluded": excluded, "n_excluded": len(excluded)}


def integrated_risk_groups(
    subtype,
    crs_group,
    table: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.Series:
    """Integrated clinical-molecular risk group from molecular subtype and CRS group.

    The default table (:data:`PITRODA_2018`) follows Pitroda et al. 2018, whose abstract
    reports low-, intermediate- and high-risk integrated groups (10-year OS 94 %, 45 %, 19 %):

    ============  ===============  ===============
    subtype       CRS low          CRS high
    ============  ===============  ===============
    immune        low              intermediate
    canonical     intermediate     high
    stromal       intermediate     high
    ============  ===============  ===============

    i.e. low = immune & low CRS; high = (canonical or stromal) & high CRS; intermediate = the
    rest. Pass ``table`` to use another assignment (e.g. other subtype names).

    Parameters
    ----------
    subtype : array-like or pandas.Series
        Molecular subtype per patient (matched to the table keys case-insensitively).
    crs_group : array-like or pandas.Series
        ``"low"``/``"high"`` per patient (e.g. ``fong_score(...)["scores"]["crs_group"]``).
    table : mapping, optional
        ``{subtype: {"low": risk, "high": risk}}``.

    Returns
    -------
    pandas.Series
        Integrated risk per patient (index of ``subtype`` if a Series); NaN where the
        subtype or CRS group is missing (named in a warning).

    Raises
    ------
    MetpotError
        Lengths differ, or a subtype / CRS group is not in the table.
    """
    table = PITRODA_2018 if table is None else table
    lut = {
        str(k).strip().lower(): {str(g).strip().lower(): r for g, r in v.items()}
        for k, v in table.items()
    }
    sub = subtype if isinstance(subtype, pd.Series) else pd.Series(list(subtype))
    grp = crs_group if isinstance(crs_group, pd.Series) else pd.Series(list(crs_group))
    if len(sub) != len(grp):
        raise MetpotError(f"subtype has {len(sub)} values but crs_group has {len(grp)}")
    if isinstance(subtype, pd.Series) and isinstance(crs_group, pd.Series):
        if not sub.index.equals(grp.index):
            grp = grp.reindex(sub.index)
    else:
        grp.index = sub.index
    out = []
    missing = []
    unknown_sub, unknown_grp = set(), set()
    for i, s, g in zip(
        sub.index, sub.to_numpy(dtype=object), grp.to_numpy(dtype=object), strict=True
    ):
        if _is_missing(s) or _is_missing(g):
            missing.append(i)
            out.append(np.nan)
            continue
        ks, kg = str(s).strip().lower(), str(g).strip().lower()
        if ks not in lut:
            unknown_sub.add(str(s))
            out.append(np.nan)
        elif kg not in lut[ks]:
            unknown_grp.add(str(g))
            out.append(np.nan)
        else:
            out.append(lut[ks][kg])
    if unknown_sub:
        raise MetpotError(
            f"subtype(s) {name_list(sorted(unknown_sub))} not in the integrated-risk table "
            f"(known: {name_list(table.keys())})"
        )
    if unknown_grp:
        raise MetpotError(
            f"CRS group(s) {name_list(sorted(unknown_grp))} not in the integrated-risk table "
            "(expected 'low'/'high')"
        )
    if missing:
        warn_data(
            f"integrated risk not assigned for {len(missing)} patients with missing subtype "
            f"or CRS group: {name_list(missing)}"
        )
    return pd.Series(out, index=sub.index, name="integrated_risk", dtype=object)
