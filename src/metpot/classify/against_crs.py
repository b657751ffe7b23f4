"""Against the clinical risk score: Cox models of the CRS, the molecular prediction and both,
fitted in every outer training fold; their comparison over the folds (:func:`compare_with_crs`)
and decision-curve net benefit (:func:`net_benefit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metpot.classify.inputs import _surv_array
from metpot.classify.metrics import CI_METHOD, _clip, _t_interval, _t_test, _uno_fold
from metpot.classify.models import CoxPH


def _mol_covariates(p: np.ndarray) -> np.ndarray:
    """Cox covariates of a molecular prediction: risk, or probabilities less the first class."""
    return p if p.shape[1] == 1 else p[:, 1:]


def _crs_fold(crs_tr, mol_tr, y_tr, crs_te, mol_te, landmark):
    """Cox models of CRS, molecular and CRS + molecular fitted on train, applied to test."""
    out = {}
    designs = {
        "crs": (crs_tr[:, None], crs_te[:, None]),
        "molecular": (_mol_covariates(mol_tr), _mol_covariates(mol_te)),
        "crs_molecular": (
            np.column_stack([crs_tr, _mol_covariates(mol_tr)]),
            np.column_stack([crs_te, _mol_covariates(mol_te)]),
        ),
    }
    for name, (a, b) in designs.items():
        cox = CoxPH().fit(a, y_tr)
        out[f"lp_{name}"] = cox.predict(b)
        if landmark is not None:
            out[f"p_{name}"] = 1.0 - cox.survival_at(b, [landmark])[:, 0]
    return out


def _crs_comparison_fold(samples, tr, te, mol_tr, mol_te, crs, outcome, landmark):
    """CRS / molecular / CRS + molecular Cox models for one outer fold (never in-sample).

    ``mol_tr``: the training patients' molecular predictions from the inner CV (each made
    by a model that did not see that patient); ``mol_te``: the test patients' predictions
    from the model tuned and fitted on the training fold.
    """
    ok = samples.isin(crs.dropna().index) & samples.isin(outcome.index)
    tr_ok, te_ok = tr[ok[tr]], te[ok[te]]
    if len(te_ok) == 0 or len(tr_ok) < 10:
        return None
    o_tr = outcome.loc[samples[tr_ok]]
    y_tr = _surv_array(o_tr["time"], o_tr["event"])
    if not y_tr["event"].any():
        return None
    fold = _crs_fold(
        crs.loc[samples[tr_ok]].to_numpy(float), mol_tr[ok[tr]], y_tr,
        crs.loc[samples[te_ok]].to_numpy(float), mol_te[ok[te]], landmark,
    )  # fmt: skip
    fold["test"] = te_ok
    return fold


def _km_at(t: np.ndarray, e: np.ndarray, at: float) -> float:
    """Kaplan-Meier survival at ``at`` (1 if no event before)."""
    s = 1.0
    for u in np.unique(t[e & (t <= at)]):
        n = np.sum(t >= u)
        d = np.sum(e & (t == u))
        s *= 1.0 - d / n
    return float(s)


def net_benefit(
    time, event, risk: Mapping[str, Sequence[float]], landmark: float, thresholds=None
) -> pd.DataFrame:
    """Decision-curve net benefit at a landmark for censored outcomes (Vickers et al. 2008).

    For threshold probability ``pt``, a strategy treats the patients whose predicted risk of an
    event by ``landmark`` is ``>= pt``; with ``n`` patients, ``n_t`` treated and ``S_t`` the
    Kaplan-Meier survival at the landmark among the treated,
    ``NB = (1 - S_t) n_t / n - S_t n_t / n * pt / (1 - pt)``. Treat-all uses every patient,
    treat-none is 0.

    Parameters
    ----------
    time, event : array-like
        Follow-up and event indicator.
    risk : mapping
        Strategy name -> predicted probability of an event by the landmark.
    landmark : float
        Landmark (time unit of ``time``).
    thresholds : array-like, optional
        Threshold probabilities (default 0.01 ... 0.99).

    Returns
    -------
    pandas.DataFrame
        ``threshold``, ``strategy``, ``net_benefit``.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2) if thresholds is None else thresholds
    n = len(t)
    s_all = _km_at(t, e, landmark)
    rows = []
    for pt in thresholds:
        w = pt / (1 - pt)
        rows.append((pt, "treat_all", (1 - s_all) - s_all * w))
        rows.append((pt, "treat_none", 0.0))
        for name, p in risk.items():
            p = np.asarray(p, dtype=float)
            treat = p >= pt
            nt = int(treat.sum())
            if nt == 0:
                rows.append((pt, name, 0.0))
                continue
            st = _km_at(t[treat], e[treat], landmark)
            rows.append((pt, name, (1 - st) * nt / n - st * nt / n * w))
    return pd.DataFrame(rows, columns=["threshold", "strategy", "net_benefit"])


_PREDICTORS = {
    "crs": "lp_crs",
    "molecular": "lp_molecular",
    "crs_plus_molecular": "lp_crs_molecular",
}


def compare_with_crs(
    predictions: pd.DataFrame,
    n_splits: int,
    landmark: float | None = None,
    thresholds=None,
) -> dict[str, pd.DataFrame]:
    """CRS alone, molecular alone and CRS + molecular, on the same patients and folds.

    Uses the out-of-fold Cox linear predictors that :func:`fit_one` computed inside each outer
    training fold (``lp_crs``, ``lp_molecular``, ``lp_crs_molecular``). Harrell's and Uno's C
    are computed per outer test fold on the patients with a CRS and an outcome (Uno's with the
    censoring distribution of the fold's training patients, the repeat's other folds, and
    truncated at :func:`~metpot.classify.metrics.uno_tau`); differences are paired over folds;
    estimates, 95 % CIs and the two-sided p-value use the corrected resampled t (Nadeau &
    Bengio 2003). Decision curves pool each repeat's out-of-fold predicted risks (``p_*``) and
    average the net benefit over repeats.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Out-of-fold predictions of one or more :func:`fit_one` results.
    n_splits : int
        Outer K (for the variance correction).
    landmark : float, optional
        Landmark of the decision curves (time unit of the outcome).
    thresholds : array-like, optional
        Decision-curve thresholds.

    Returns
    -------
    dict
        ``"table"``: ``target, model, feature_set, predictor, reference, metric, estimate,
        ci_low, ci_high, p_value, n_patients, n_folds, ci_method``; ``"decision_curve"``:
        ``target, model, feature_set, landmark, threshold, strategy, net_benefit``.
    """
    from metpot.survival import harrell_c

    ratio = 1.0 / (n_splits - 1)
    if "lp_crs" not in predictions.columns:
        return {"table": pd.DataFrame(), "decision_curve": pd.DataFrame()}
    rows, curves = [], []
    for (tg, md, fs), grp in predictions.groupby(["target", "model", "feature_set"], sort=False):
        grp = grp[np.isfinite(grp["lp_crs"].to_numpy(float))]
        if grp.empty:
            continue
        per = {p: {"harrell_c": [], "uno_c": []} for p in _PREDICTORS}
        for (rep, fold), fg in grp.groupby(["repeat", "fold"], sort=True):
            t = fg["outcome_time"].to_numpy(float)
            e = fg["outcome_event"].to_numpy(bool)
            # the fold's training patients: the repeat's other folds (those the Cox models of
            # this fold were fitted on), for the censoring distribution of Uno's C
            tg_ = grp[(grp["repeat"] == rep) & (grp["fold"] != fold)]
            t_tr = tg_["outcome_time"].to_numpy(float)
            e_tr = tg_["outcome_event"].to_numpy(bool)
            for p, col in _PREDICTORS.items():
                r = fg[col].to_numpy(float)
                ok = e.any()
                per[p]["harrell_c"].append(harrell_c(t, e, r) if ok else np.nan)
                uno = _uno_fold(t_tr, e_tr, t, e, r) if ok and t_tr.size else np.nan
                per[p]["uno_c"].append(uno)
        n_pat = int(grp["sample"].nunique())
        common = {"target": tg, "model": md, "feature_set": fs, "n_patients": n_pat,
                  "ci_method": CI_METHOD}  # fmt: skip
        for metric in ("harrell_c", "uno_c"):
            for p in _PREDICTORS:
                v = np.asarray(per[p][metric], dtype=float)
                est, lo, hi = _clip(metric, *_t_interval(v, ratio))
                rows.append({**common, "predictor": p, "reference": "", "metric": metric,
                             "estimate": est, "ci_low": lo, "ci_high": hi, "p_value": np.nan,
                             "n_folds": int(np.isfinite(v).sum())})  # fmt: skip
            for a, b in (("crs_plus_molecular", "crs"), ("molecular", "crs"),
                         ("crs_plus_molecular", "molecular")):  # fmt: skip
                d = np.asarray(per[a][metric], float) - np.asarray(per[b][metric], float)
                est, lo, hi = _t_interval(d, ratio)
                rows.append({**common, "predictor": a, "reference": b,
                             "metric": f"{metric}_difference", "estimate": est, "ci_low": lo,
                             "ci_high": hi, "p_value": _t_test(d, ratio),
                             "n_folds": int(np.isfinite(d).sum())})  # fmt: skip
        if landmark is not None and "p_crs" in grp.columns:
            reps = []
            for _, rg in grp.groupby("repeat", sort=True):
                risk = {p: rg[f"p_{col[3:]}"].to_numpy(float) for p, col in _PREDICTORS.items()}
                reps.append(
                    net_benefit(
                        rg["outcome_time"],
                        rg["outcome_event"].astype(bool),
                        risk,
                        landmark,
                        thresholds,
                    )  # fmt: skip
                )
            nb = pd.concat(reps).groupby(["threshold", "strategy"], sort=False).mean()
            nb = nb.reset_index()
            nb.insert(0, "landmark", landmark)
            nb.insert(0, "feature_set", fs)
            nb.insert(0, "model", md)
            nb.insert(0, "target", tg)
            curves.append(nb)
    cols = ["target", "model", "feature_set", "predictor", "reference", "metric", "estimate",
            "ci_low", "ci_high", "p_value", "n_patients", "n_folds", "ci_method"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return {"table": table, "decision_curve": curve}
