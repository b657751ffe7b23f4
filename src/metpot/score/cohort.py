"""Scoring a new cohort end to end: :func:`score_cohort`.

It runs the methods asked for (classifier, NTP, SNF propagation, or all three), joins their
columns, sets the per-sample flags, compares the methods (:func:`agreement`), adds the
risk groups when clinical data are given (:func:`risk_groups`) and summarises the run. The
rules it applies are described once in :mod:`metpot.score`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from metpot.errors import DataWarning, MetpotError, name_list, warn_data
from metpot.score._common import TRANSFORMS, _apply_transform, _prep
from metpot.score.classifier import predict_classifier
from metpot.score.distribution import distribution_check, standardize_cohort
from metpot.score.matching import match_features
from metpot.score.nearest_template import ntp_predict
from metpot.score.propagation import snf_propagate

__all__ = ["METHODS", "agreement", "risk_groups", "score_cohort"]

METHODS = ("classifier", "ntp", "snf_propagation", "all")
_FONG_DEFAULTS = {
    "node_positive": "node_positive",
    "disease_free_interval_months": "disease_free_interval_months",
    "n_liver_tumors": "n_liver_tumors",
    "cea_ng_ml": "cea_ng_ml",
    "largest_tumor_cm": "largest_tumor_cm",
}


def agreement(predictions: Mapping[str, pd.Series]) -> tuple[pd.DataFrame, dict]:
    """Pairwise agreement between methods' predictions on the same samples.

    Parameters
    ----------
    predictions : mapping
        Method name -> Series of predicted labels (sample id index). Samples where either
        prediction is missing are left out of a pair.

    Returns
    -------
    table : DataFrame
        One row per pair: ``method_a``, ``method_b``, ``n``, ``agreement`` (share of equal
        labels), ``kappa`` (Cohen's), ``ari`` (adjusted Rand index).
    crosstabs : dict
        ``"a vs b"`` -> cross table as ``{label_a: {label_b: count}}``.
    """
    from sklearn.metrics import adjusted_rand_score, cohen_kappa_score

    names = list(predictions)
    rows, tabs = [], {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa, pb = predictions[a], predictions[b]
            both = pd.concat([pa.rename("a"), pb.rename("b")], axis=1, join="inner").dropna()
            la, lb = both["a"].astype(str), both["b"].astype(str)
            n = len(both)
            if n:
                agree = float((la == lb).mean())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    kappa = float(cohen_kappa_score(la, lb))
                ari = float(adjusted_rand_score(la, lb))
            else:
                agree = kappa = ari = float("nan")
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "n": n,
                    "agreement": agree,
                    "kappa": kappa,
                    "ari": ari,
                }
            )
            ct = pd.crosstab(la, lb)
            tabs[f"{a} vs {b}"] = {
                str(r): {str(c): int(ct.loc[r, c]) for c in ct.columns} for r in ct.index
            }
    return pd.DataFrame(
        rows, columns=["method_a", "method_b", "n", "agreement", "kappa", "ari"]
    ), tabs


# ------------------------------------------------------------------- risk groups


def risk_groups(
    prediction: pd.Series,
    clinical: pd.DataFrame,
    crs: Mapping | None = None,
    table: Mapping | None = None,
    high_cutoff: int | None = None,
) -> pd.DataFrame:
    """Fong score, CRS group and integrated risk group of scored samples.

    Parameters
    ----------
    prediction : Series
        Predicted subtype per sample id.
    clinical : DataFrame
        Clinical table indexed by sample id.
    crs : mapping, optional
        Keyword arguments of :func:`metpot.risk_score.fong_score` (column names); default: the
        five standard columns (``node_positive``, ``disease_free_interval_months``,
        ``n_liver_tumors``, ``cea_ng_ml``, ``largest_tumor_cm``), or ``score_col="crs"`` when
        the table has a ``crs`` column and not those.
    table : mapping, optional
        Integrated-risk table (default Pitroda 2018).
    high_cutoff : int, optional
        CRS from which the group is high; default ``crs.high_cutoff`` of the config schema.

    Returns
    -------
    DataFrame
        Index of ``prediction``: ``crs`` (Int64), ``crs_group``, ``risk_group`` (NA where the
        clinical factors or the prediction are missing).
    """
    from metpot.risk_score import fong_score, integrated_risk_groups

    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    if crs is None:
        if all(c in clin.columns for c in _FONG_DEFAULTS):
            crs = dict(_FONG_DEFAULTS)
        elif "crs" in clin.columns:
            crs = {"score_col": "crs"}
        else:
            raise MetpotError(
                "clinical table has neither the Fong factor columns "
                f"({', '.join(_FONG_DEFAULTS)}) nor a 'crs' column; configure score clinical crs"
            )
    ids = prediction.index.astype(str)
    absent = [i for i in ids if i not in clin.index]
    if absent:
        warn_data(f"{len(absent)} scored sample(s) have no clinical row: {name_list(absent)}")
    sub = clin.loc[[i for i in ids if i in clin.index]]
    scores = fong_score(
        sub, high_cutoff=None if high_cutoff is None else int(high_cutoff), **dict(crs)
    )["scores"]
    scores.index = scores.index.astype(str)
    out = pd.DataFrame(index=prediction.index)
    out["crs"] = pd.array(scores["crs"].reindex(ids).to_numpy(dtype=float), dtype="Int64")
    out["crs_group"] = scores["crs_group"].reindex(ids).to_numpy(dtype=object)
    ok = prediction.notna().to_numpy() & out["crs_group"].notna().to_numpy()
    risk = pd.Series(pd.NA, index=prediction.index, dtype=object)
    if table is None:
        from metpot.risk_score import PITRODA_2018

        known = {k.lower() for k in PITRODA_2018}
        unknown = sorted({str(p) for p in prediction[ok]} - known, key=str.lower)
        unknown = [u for u in unknown if u.strip().lower() not in known]
        if unknown:
            warn_data(
                f"risk_group not assigned: predicted class(es) {name_list(unknown)} are not in "
                "the default integrated-risk table (immune, canonical, stromal); give a table"
            )
            ok[:] = False
    if ok.any():
        risk[ok] = integrated_risk_groups(
            prediction[ok].astype(str), out["crs_group"][ok], table=table
        ).to_numpy(dtype=object)
    out["risk_group"] = risk
    return out


# ------------------------------------------------------------------------ driver


def _join_flags(*flags: tuple[str, np.ndarray]) -> np.ndarray:
    n = len(flags[0][1])
    out = []
    for i in range(n):
        out.append(";".join(name for name, mask in flags if bool(mask[i])))
    return np.asarray(out, dtype=object)


#: Options of :func:`score_cohort` that default to the config's ``score`` section (``ntp_x``
#: and ``seed`` are its ``ntp.x`` and ``ntp.seed``).
_FROM_SCHEMA = "method min_coverage min_confidence low_confidence ntp_fdr ntp_n_perm seed ntp_pool"


def _schema_key(option: str) -> str:
    return "score.ntp.seed" if option == "seed" else "score." + option.replace("ntp_", "ntp.", 1)


def score_cohort(
    model: Any,
    card: Mapping,
    layers: Mapping[str, pd.DataFrame],
    clinical: pd.DataFrame | None = None,
    method: str | None = None,
    *,
    min_coverage: float | None = None,
    min_confidence: float | None = None,
    low_confidence: str | None = None,
    standardize: str | None = None,
    max_outside: float = 0.2,
    max_shift: float = 1.0,
    outside_margin: float = 0.5,
    ntp_fdr: float | None = None,
    ntp_n_perm: int | None = None,
    seed: int | None = None,
    ntp_pool: str | None = None,
    templates: pd.DataFrame | None = None,
    reference: Mapping | None = None,
    snf_options: Mapping | None = None,
    crs: Mapping | None = None,
    risk_table: Mapping | None = None,
    crs_high_cutoff: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Score a new cohort: subtype, confidence, flags and (with clinical data) risk group.

    Parameters
    ----------
    model : estimator
        The fitted pipeline (:func:`metpot.model_io.load_model`); may be None for
        ``method="ntp"`` or ``"snf_propagation"``.
    card : dict
        Its model card (may be empty with ``templates``).
    layers : mapping
        The new cohort's layers, samples x features, raw values.
    clinical : DataFrame, optional
        Clinical table indexed by sample id, for ``crs``, ``crs_group`` and ``risk_group``.
    method : {"classifier", "ntp", "snf_propagation", "all"}, optional
        ``"all"``: the classifier gives ``prediction``; ``ntp_*`` and ``snf_prediction``
        columns, the ``methods_disagree`` flag and ``summary["agreement"]`` are added.
        Options left at None here and below take the defaults of the config's ``score``
        section (``config/schema.yaml``): the library and the workflow agree.
    min_coverage, min_confidence, low_confidence
        See :func:`match_features` and :func:`predict_classifier`.
    standardize : {"none", "per_cohort"}, optional
        Default: ``card["preprocessing"]["standardize"]`` or ``"none"``.
    max_outside, max_shift, outside_margin : float
        :func:`distribution_check` thresholds (``outside_margin`` is its ``margin``).
    ntp_fdr, ntp_n_perm, seed
        NTP options (samples with FDR above ``ntp_fdr`` are ``low_confidence``).
    ntp_pool : {"all_genes", "markers"}
        NTP recipe (CMScaller's or MOVICS's; :func:`metpot.score.ntp_predict`).
    templates : DataFrame, optional
        A published template table (:func:`metpot.score.templates.read_templates`): NTP
        scores with it instead of the card's markers, no model needed; ``method`` must be
        ``"ntp"``.
    reference : mapping, optional
        For SNF propagation: ``{"layers": {...}, "labels": Series}`` of the discovery cohort
        and optionally ``"transform"`` (applied to both cohorts; default ``"none"``).
    snf_options : mapping, optional
        ``K``, ``mu``, ``t``, ``variant`` for :func:`snf_propagate`.
    crs, risk_table, crs_high_cutoff
        See :func:`risk_groups`.

    Returns
    -------
    predictions : DataFrame
        One row per scored sample: ``sample_id``, ``prediction``, method columns (classifier:
        ``proba_<class>``, ``confidence``; NTP: ``d_<class>``, ``p_value``, ``fdr``; with
        ``all`` the NTP ones prefixed ``ntp_`` and ``snf_prediction``), ``share_outside``
        (classifier), ``flag``, and ``crs``, ``crs_group``, ``risk_group`` with clinical data.
    summary : dict
        ``method``, ``model`` (target, feature set, file, sha256), ``templates`` (the template
        file, or None), ``n_samples``, ``classes``,
        ``counts`` (per class, all predictions), ``counts_unflagged``, ``coverage`` (from
        :func:`match_features`), ``flags`` (count per flag), ``distribution`` (cohort check),
        ``ntp``, ``agreement``, ``warnings`` (the data warnings raised while scoring; they are
        also re-emitted).
    """
    # the options, as given; one left at None takes the workflow's default (the schema's)
    options = {k: v for k, v in locals().items() if k not in ("model", "card", "layers")}
    unset = [p for p in _FROM_SCHEMA.split() if options[p] is None]
    if unset:
        from metpot.config import schema_default

        options.update({p: schema_default(_schema_key(p)) for p in unset})
    method = options.pop("method")
    clinical = options.pop("clinical")
    if method not in METHODS:
        raise MetpotError(f"score.method must be one of {METHODS}, got {method!r}")
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            frame, summary = _score(model, card, layers, clinical, method, **options)
    finally:
        # re-emitted on failure too: a warning naming dropped samples explains the error
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    summary["warnings"] = [str(w.message) for w in data_warnings]
    return frame, summary


def _score(model, card, layers, clinical, method, **o) -> tuple[pd.DataFrame, dict]:
    card = card or {}
    templates = o["templates"]
    if templates is not None and method != "ntp":
        raise MetpotError(
            f"published NTP templates score with method ntp only, got method {method!r}"
        )
    classes = [str(c) for c in card.get("classes") or []]
    if templates is not None:
        classes = list(dict.fromkeys(templates["class"].astype(str)))
    summary: dict[str, Any] = {
        "method": method,
        "model": {k: card.get(k) for k in ("target", "feature_set", "file", "sha256")},
        "templates": None if templates is None else templates.attrs.get("path", "given"),
        "classes": classes,
        "coverage": None,
        "standardize": None,
        "distribution": None,
        "ntp": None,
        "agreement": None,
    }
    parts: dict[str, pd.DataFrame] = {}
    flags: dict[str, pd.Series] = {}
    preds: dict[str, pd.Series] = {}
    if method in ("classifier", "all"):
        if model is None:
            raise MetpotError(f"score.method {method} needs a model file")
        X, info = match_features(layers, card, o["min_coverage"])
        summary["coverage"] = info
        index = X.index
        blank = index.isin(info["no_values"])
        X = X.loc[~blank]
        std = o["standardize"] or _prep(card).get("standardize", "none")
        X = standardize_cohort(X, card, std)
        summary["standardize"] = std
        res = predict_classifier(model, X, card, o["min_confidence"], o["low_confidence"])
        flags["low_confidence"] = res.pop("low_confidence")
        res = res.reindex(index)  # samples without values: no prediction, NaN probabilities
        preds["classifier"] = res["prediction"]
        flags["no_values"] = pd.Series(blank, index=index)
        try:
            per_sample, cohort = distribution_check(
                X,
                card,
                o["max_outside"],
                o["max_shift"],
                missing=info["missing"],
                margin=o["outside_margin"],
            )
            res["share_outside"] = per_sample["share_outside"]
            flags["unlike_training"] = per_sample["unlike_training"]
            summary["distribution"] = cohort
        except MetpotError as exc:
            warn_data(f"distribution check skipped: {exc}")
        parts["classifier"] = res
    if method in ("ntp", "all"):
        res, info = ntp_predict(
            layers,
            card,
            n_perm=o["ntp_n_perm"],
            seed=o["seed"],
            fdr=o["ntp_fdr"],
            templates=templates,
            pool=o["ntp_pool"],
        )
        summary["ntp"] = info
        preds["ntp"] = res["prediction"]
        low = res.pop("low_confidence")
        if method == "ntp":
            flags["low_confidence"] = low
            parts["ntp"] = res
        else:
            res.columns = [f"ntp_{c}" for c in res.columns]
            res["ntp_low_confidence"] = low
            parts["ntp"] = res
    if method == "snf_propagation" or (method == "all" and o["reference"] is not None):
        ref = o["reference"]
        if ref is None or "layers" not in ref or "labels" not in ref:
            raise MetpotError(
                "snf_propagation needs the discovery cohort (reference layers and labels)"
            )
        tf = ref.get("transform", "none")
        if tf not in TRANSFORMS:
            raise MetpotError(f"reference transform must be one of {TRANSFORMS}, got {tf!r}")

        def tx(ls, what):
            return {
                n: pd.DataFrame(
                    _apply_transform(f.to_numpy(dtype=float), tf, f"{what} {n}"),
                    index=f.index,
                    columns=f.columns,
                )
                for n, f in ls.items()
            }

        snf = snf_propagate(
            tx(ref["layers"], "discovery layer"),
            ref["labels"],
            tx({n: layers[n] for n in ref["layers"] if n in layers}, "layer"),
            **dict(o["snf_options"] or {}),
        )
        preds["snf_propagation"] = snf
        if method == "snf_propagation":
            classes = sorted({str(v) for v in pd.Series(ref["labels"]).dropna()})
            summary["classes"] = classes
        col = "prediction" if method == "snf_propagation" else "snf_prediction"
        parts["snf"] = pd.DataFrame({col: snf})
    elif method == "all":
        warn_data("method all: no discovery cohort given, SNF propagation skipped")

    primary = "classifier" if method in ("classifier", "all") else method
    index = preds[primary].index
    out = pd.DataFrame(index=pd.Index(index, name="sample_id"))
    for part in parts.values():
        out = out.join(part, how="left")
    if method == "all":
        table, tabs = agreement(preds)
        summary["agreement"] = {"pairs": table.to_dict(orient="records"), "crosstabs": tabs}
        others = [p.reindex(index).astype(object) for k, p in preds.items() if k != "classifier"]
        base = preds["classifier"].reindex(index).astype(object)
        dis = np.zeros(len(index), dtype=bool)
        for p in others:
            both = base.notna().to_numpy() & p.notna().to_numpy()
            dis |= both & (base.astype(str).to_numpy() != p.astype(str).to_numpy())
        flags["methods_disagree"] = pd.Series(dis, index=index)
    order = ["no_values", "low_confidence", "unlike_training", "methods_disagree"]
    masks = [
        (k, flags[k].reindex(index).fillna(False).to_numpy(dtype=bool)) for k in order if k in flags
    ]
    out["flag"] = _join_flags(*masks) if masks else ""
    if clinical is not None:
        rg = risk_groups(
            out["prediction"], clinical, o["crs"], o["risk_table"], o["crs_high_cutoff"]
        )
        out = out.join(rg)
    out = out.reset_index()
    pred = out["prediction"]
    summary["n_samples"] = int(len(out))
    labels = classes or sorted(pred.dropna().astype(str).unique())
    summary["counts"] = {c: int((pred.astype(str) == c).sum()) for c in labels}
    summary["counts"]["NA"] = int(pred.isna().sum())
    clean = out["flag"] == ""
    summary["counts_unflagged"] = {c: int(((pred.astype(str) == c) & clean).sum()) for c in labels}
    summary["flags"] = {k: int(m.sum()) for k, m in masks}
    summary["n_flagged"] = int((~clean).sum())
    return out, summary
