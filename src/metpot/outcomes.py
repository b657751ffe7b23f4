"""Outcome analysis of subtypes: survival by subtype, Cox models with the clinical risk
score, concordance of score vs score + subtype, and integrated risk groups.

:func:`analyse_endpoint` takes one endpoint (overall or progression-free survival) and returns
tables and JSON-ready dicts; it chooses no file names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list, warn_data
from metpot.survival import (
    concordance_table,
    cox_ph,
    cox_zph,
    harrell_c,
    kaplan_meier,
    largest_level,
    logrank_test,
    median_survival,
    pairwise_logrank,
    survival_at,
    treatment_dummies,
    uno_c,
)

RISK_ORDER = ("low", "intermediate", "high")


def _reference_level(groups: pd.Series, reference: str | None) -> str:
    if reference in (None, "largest"):
        return str(largest_level(groups))
    if reference not in set(groups):
        raise MetpotError(
            f"config: survival.reference: no subtype named {reference!r} "
            f"(subtypes: {name_list(sorted(set(groups)))})"
        )
    return str(reference)


def km_tables(
    time, event, groups: pd.Series, landmarks: Sequence[float], order: Sequence[str] | None = None
) -> dict:
    """Kaplan-Meier curve, landmark survival and median per group (95% log CIs)."""
    curves, marks, medians = [], [], []
    present = set(groups)
    for g in [x for x in order if x in present] if order is not None else sorted(present):
        mask = (groups == g).to_numpy()
        km = kaplan_meier(time[mask], event[mask])
        curves.append(km.assign(group=g))
        if len(landmarks):
            marks.append(survival_at(km, list(landmarks)).assign(group=g))
        medians.append(
            {
                "group": g,
                "n": int(mask.sum()),
                "events": int(event[mask].sum()),
                **median_survival(km),
            }
        )
    cols = lambda f: ["group", *[c for c in f.columns if c != "group"]]  # noqa: E731
    km = pd.concat(curves, ignore_index=True)
    out = {"km": km[cols(km)], "median": pd.DataFrame(medians)}
    if marks:
        lm = pd.concat(marks, ignore_index=True)
        out["landmarks"] = lm[cols(lm)]
    return out


def _cv_linear_predictor(X: pd.DataFrame, time, event, folds: list[np.ndarray]) -> np.ndarray:
    """Out-of-fold Cox linear predictor (each patient scored by a model fitted without it)."""
    lp = np.full(len(X), np.nan)
    values = X.to_numpy(float)
    for test in folds:
        train = np.setdiff1d(np.arange(len(X)), test)
        fit = cox_ph(X.iloc[train], time[train], event[train])
        coef = np.nan_to_num(np.asarray(fit.coef, dtype=float))
        lp[test] = values[test] @ coef
    return lp


def analyse_endpoint(
    time: pd.Series,
    event: pd.Series,
    subtype: pd.Series,
    names: Mapping[int, str] | None = None,
    crs: pd.DataFrame | None = None,
    covariates: pd.DataFrame | None = None,
    reference: str | None = None,
    landmarks: Sequence[float] = (),
    integrated_table: Mapping[str, Mapping[str, str]] | None = None,
    n_boot: int = 1000,
    cv_folds: int = 5,
    seed: int = 1,
) -> dict:
    """Survival of one endpoint by subtype, with the clinical risk score.

    Parameters
    ----------
    time, event : Series
        Follow-up and event (bool) of the patients with usable survival, by sample id.
    subtype : Series
        Subtype (integer 1..k) per sample id (patients without one are left out).
    names : mapping of int to str, optional
        Subtype names (e.g. ``{1: "canonical"}``); default ``subtype<k>``.
    crs : DataFrame, optional
        ``crs`` (score) and ``crs_group`` (low/high) by sample id, for the scored patients.
    covariates : DataFrame, optional
        Numeric covariates added to the multivariable Cox model (complete cases).
    reference : str, optional
        Reference subtype of the Cox models; default the largest.
    landmarks : sequence of float
        Times (in the unit of ``time``) where survival is reported.
    integrated_table : mapping, optional
        subtype -> CRS group -> risk group; integrated groups are skipped when None.
    n_boot : int
        Bootstrap resamples of the concordance CIs (the same for every model).
    cv_folds : int
        Folds of the cross-validated concordance (the same folds for every model).
    seed : int
        Seed of the bootstrap and of the folds.

    Returns
    -------
    dict
        ``logrank`` (dict), ``pairwise`` (DataFrame), ``km``/``landmarks``/``median``
        (DataFrames), ``cox_subtype`` (CoxResult), and with ``crs`` or ``covariates``:
        ``cox_multivariable`` (subtype + risk score + covariates), ``lr_subtype`` (dict),
        ``zph`` (DataFrame), ``concordance`` and ``concordance_differences`` (DataFrames);
        with ``crs`` and ``integrated_table``: ``integrated`` (groups, KM and log-rank);
        ``data`` (time, event and subtype name of the patients analysed);
        ``metrics`` (flat dict of the headline numbers); ``n`` (patients analysed).
    """
    ids = [s for s in time.index if s in subtype.index]
    if len(ids) < len(time):
        missing = [s for s in time.index if s not in subtype.index]
        warn_data(
            f"{len(missing)} patient(s) with survival but no subtype left out: {name_list(missing)}"
        )
    if not ids:
        raise MetpotError("no patient has both a subtype and usable survival")
    t = time.loc[ids].to_numpy(float)
    e = event.loc[ids].to_numpy(bool)
    gid = subtype.loc[ids].astype(int)
    names = {int(k): str(v) for k, v in (names or {}).items()}
    g = gid.map(lambda k: names.get(k, f"subtype{k}")).astype(str)
    out: dict = {"n": len(ids), "n_events": int(e.sum())}

    lr = logrank_test(t, e, gid.to_numpy())
    lr["names"] = [names.get(int(k), f"subtype{k}") for k in lr["groups"]]
    out["logrank"] = lr
    out["pairwise"] = pairwise_logrank(t, e, g.to_numpy(), correction="holm")
    out["data"] = pd.DataFrame({"time": t, "event": e, "group": g.to_numpy()}, index=ids)
    out["order"] = [names.get(int(k), f"subtype{k}") for k in sorted(set(gid))]
    out.update(km_tables(t, e, g, landmarks, out["order"]))
    ref = _reference_level(g, reference)
    dummies = treatment_dummies(g, reference=ref, prefix="subtype=", index=ids)
    out["cox_subtype"] = cox_ph(dummies, t, e)
    out["reference"] = ref
    metrics = {
        "n": len(ids),
        "events": int(e.sum()),
        "logrank.chisq": lr["chisq"],
        "logrank.p": lr["p"],
    }

    has_crs = crs is not None and len(crs) > 0
    if has_crs or covariates is not None:
        both = [s for s in ids if s in crs.index] if has_crs else list(ids)
        if covariates is not None:
            complete = covariates.reindex(both).dropna()
            dropped = [s for s in both if s not in complete.index]
            if dropped:
                warn_data(
                    f"{len(dropped)} patient(s) with a missing covariate left out of the "
                    f"multivariable Cox model: {name_list(dropped)}"
                )
            both = list(complete.index)
        what = "risk score" if has_crs else "covariates"
        if len(both) < 10:
            raise MetpotError(f"only {len(both)} patients have subtype, {what} and survival")
        pos = pd.Series(np.arange(len(ids)), index=ids)[both].to_numpy()
        tb, eb = t[pos], e[pos]
        parts = []
        if has_crs:
            score = crs.loc[both, "crs"].astype(float).rename("crs")
            parts.append(score.to_frame())
        if covariates is not None:
            parts.append(covariates.loc[both].astype(float))
        base = pd.concat(parts, axis=1)
        sub = treatment_dummies(g.loc[both], reference=ref, prefix="subtype=", index=both)
        full = base.join(sub)
        reduced_fit = cox_ph(base, tb, eb)
        full_fit = cox_ph(full, tb, eb)
        stat = 2.0 * (full_fit.loglik[1] - reduced_fit.loglik[1])
        df = sub.shape[1]
        from scipy.stats import chi2

        out["cox_multivariable"] = full_fit
        out["cox_reduced"] = reduced_fit
        out["lr_subtype"] = {
            "stat": float(stat),
            "df": int(df),
            "p": float(chi2.sf(stat, df)),
            "n": len(both),
        }
        out["zph"] = cox_zph(full_fit)
        # With a risk score, concordance compares the score alone with score + subtype, as
        # published (covariates belong to the Cox models above); without one, the covariates
        # alone with covariates + subtype.
        clinical_name = "crs" if has_crs else "clinical"
        clinical = score.to_frame() if has_crs else base
        designs = {
            clinical_name: clinical,
            "subtype": sub,
            f"{clinical_name}_subtype": clinical.join(sub),
        }
        lp = {}
        for name, design in designs.items():
            fit = cox_ph(design, tb, eb)
            lp[name] = design.to_numpy(float) @ np.nan_to_num(np.asarray(fit.coef, dtype=float))
        conc = concordance_table(
            tb,
            eb,
            lp,
            n_boot=n_boot,
            seed=seed,
            compare=[(f"{clinical_name}_subtype", clinical_name)],
        )
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(both))
        folds = [np.sort(order[i::cv_folds]) for i in range(cv_folds)]
        table = conc["table"]
        cv_lp = {p: _cv_linear_predictor(designs[p], tb, eb, folds) for p in table["predictor"]}
        table["harrell_c_cv"] = [harrell_c(tb, eb, cv_lp[p]) for p in table["predictor"]]
        table["uno_c_cv"] = [uno_c(tb, eb, cv_lp[p]) for p in table["predictor"]]
        out["concordance"] = table
        out["concordance_differences"] = conc["differences"]
        for row in table.itertuples():
            for m in table.columns.drop("predictor"):
                metrics[f"c.{row.predictor}.{m}"] = float(getattr(row, m))
        metrics["lr_subtype.p"] = out["lr_subtype"]["p"]
        if has_crs and integrated_table is not None:
            out["integrated"] = _integrated(
                tb, eb, g.loc[both], crs.loc[both, "crs_group"], integrated_table, landmarks
            )
            metrics["integrated.logrank.p"] = out["integrated"]["logrank"]["p"]
    out["metrics"] = metrics
    return out


def _integrated(t, e, subtype: pd.Series, crs_group: pd.Series, table, landmarks) -> dict:
    from metpot.risk_score import integrated_risk_groups

    unknown = sorted(set(subtype) - set(table))
    if unknown:
        raise MetpotError(
            f"survival.integrated_groups has no row for subtype(s) {name_list(unknown)} "
            f"(rows: {name_list(table)}); name the subtypes with subtypes.signatures or "
            "give a table for these names"
        )
    groups = integrated_risk_groups(subtype, crs_group, table).astype(str)
    cross = pd.crosstab(subtype.rename("subtype"), crs_group.rename("crs_group"))
    out = {
        "groups": pd.DataFrame(
            {
                "sample_id": subtype.index,
                "subtype": subtype.to_numpy(),
                "crs_group": crs_group.to_numpy(),
                "risk_group": groups.to_numpy(),
            }
        ),
        "cross_table": cross,
    }
    if groups.nunique() > 1:
        out["logrank"] = logrank_test(t, e, groups.to_numpy())
    else:
        out["logrank"] = {"chisq": float("nan"), "df": 0, "p": float("nan")}
    out.update(km_tables(t, e, groups, landmarks, RISK_ORDER))
    return out
