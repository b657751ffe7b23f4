"""Nested cross-validation of several models on one (target, feature set), and their final
models (:func:`fit_models`, :func:`fit_one`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from metpot.classify.against_crs import _crs_comparison_fold
from metpot.classify.cards import feature_table, model_card
from metpot.classify.folds import _fold_indices, _inner_splits, outer_folds
from metpot.classify.inputs import Target, feature_matrix
from metpot.classify.metrics import (
    CI_METHOD,
    _classification_metrics,
    _clip,
    _landmark_names,
    _survival_metrics,
    _t_interval,
)
from metpot.classify.models import (
    CoxConvergenceWarning,
    CoxPH,
    build_preprocessing,
    make_model,
    param_grid,
)
from metpot.classify.options import (
    _UNIT_PER_YEAR,
    CLASSIFIERS,
    DEFAULT_GRIDS,
    SURVIVAL_MODELS,
    _column,
    resolve_config,
)
from metpot.classify.tuning import (
    _grid_points,
    _inner_data,
    _predict,
    _prepare,
    _prepare_copy,
    _tune,
    _whole,
)
from metpot.errors import MetpotError, name_list


def _surv_fn(est, X: pd.DataFrame):
    """times -> survival matrix (samples x times), or None if the model has no such output."""
    final = est[-1] if isinstance(est, Pipeline) else est
    if isinstance(final, CoxPH):
        return lambda times: final.survival_at(X, times)
    if not hasattr(final, "predict_survival_function"):
        return None
    Xt = est[:-1].transform(X) if isinstance(est, Pipeline) else X
    fns = final.predict_survival_function(Xt)

    def at(times):
        out = np.empty((len(fns), len(times)))
        for i, fn in enumerate(fns):
            lo, hi = fn.domain
            out[i] = fn(np.clip(times, lo, hi))
        return out

    return at


def _n_model_features(est) -> int:
    final = est[-1] if isinstance(est, Pipeline) else est
    return int(getattr(final, "n_features_in_", 0))


@contextmanager
def _fit_threads():
    """One thread per fold (the folds are the parallel units; OpenMP and BLAS threads on top
    would oversubscribe the cores)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


#: Messages kept per warning category of a fit's record, and their length.
_FIRST_MESSAGES, _MESSAGE_CHARS = 3, 300


@contextmanager
def _recording(into: list):
    """Every warning raised inside (convergence notes of the fits, scikit-survival's divisions
    by zero at time points without anyone at risk, ...) appended to ``into``, not shown: the
    fit's record (:func:`_warning_record`) says what happened, nothing is silenced."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    into.extend(caught)


def _warning_record(caught) -> dict:
    """Recorded warnings as ``{category: {"count": n, "first": [distinct messages]}}``."""
    out: dict[str, dict] = {}
    for w in caught:
        r = out.setdefault(w.category.__name__, {"count": 0, "first": []})
        r["count"] += 1
        if len(r["first"]) < _FIRST_MESSAGES:
            where = os.path.join(*os.path.normpath(w.filename).split(os.sep)[-2:])
            msg = f"{str(w.message)[:_MESSAGE_CHARS]} ({where}:{w.lineno})"
            if msg not in r["first"]:
                r["first"].append(msg)
    return out


def _merge_records(records) -> dict:
    """Several :func:`_warning_record` outputs as one (counts added, first messages kept)."""
    out: dict[str, dict] = {}
    for rec in records:
        for cat, r in rec.items():
            o = out.setdefault(cat, {"count": 0, "first": []})
            o["count"] += r["count"]
            for msg in r["first"]:
                if len(o["first"]) < _FIRST_MESSAGES and msg not in o["first"]:
                    o["first"].append(msg)
    return dict(sorted(out.items()))


def _n_cox_failures(caught) -> int:
    return sum(issubclass(w.category, CoxConvergenceWarning) for w in caught)


def _failed_cox(est) -> bool:
    """A :class:`CoxPH` (alone or ending a pipeline) whose fit did not converge."""
    final = est[-1] if isinstance(est, Pipeline) else est
    return isinstance(final, CoxPH) and not final.converged_


def _needs_inner(specs, need_oof: bool = False) -> bool:
    """Whether some model needs the inner splits: a grid to tune, or inner predictions."""
    return need_oof or any(len(list(_grid_points(g))) > 1 for _, g in specs)


def _one_fold(
    prep, specs, X, target: Target, tr, te, inner_k, seed, auc_times, auc_names,
    crs: pd.Series | None, outcome: pd.DataFrame | None, landmark: float | None,
):  # fmt: skip
    """One outer fold for every model: the preprocessing fitted once on the training fold
    (and once per inner split), each model tuned on it and evaluated on the test fold;
    optionally the CRS comparison. Returns one result per model of ``specs``."""
    cpu0 = time.process_time()
    samples = X.index
    Xtr = X.iloc[tr]
    splits = _inner_splits(target.strata[tr], inner_k, seed)
    compare = crs is not None and outcome is not None
    out = []
    shared_caught: list = []
    with _fit_threads():
        with _recording(shared_caught):
            fitted = _prepare(prep, Xtr, target)
            inner = _inner_data(prep, Xtr, target, splits) if _needs_inner(specs, compare) else []
            x_te = fitted.transform(X.iloc[te])
        shared = time.process_time() - cpu0
        for proto, grid in specs:
            c0 = time.process_time()
            caught: list = []
            with _recording(caught):
                res = _fit_fold_model(proto, grid, fitted, inner, tr, te, samples, X, x_te,
                                      target, auc_times, auc_names, compare, crs, outcome,
                                      landmark)  # fmt: skip
            res["warnings"] = _warning_record(shared_caught + caught)
            res["cox_not_converged"] = _n_cox_failures(caught)
            res["cpu_seconds"] = time.process_time() - c0 + shared / len(specs)
            out.append(res)
    return out


def _fit_fold_model(proto, grid, fitted, inner, tr, te, samples, X, x_te, target, auc_times,
                    auc_names, compare, crs, outcome, landmark) -> dict:  # fmt: skip
    """One model of :func:`_one_fold`: tuned, evaluated on the test fold, compared with the
    CRS. A Cox fit that did not converge gives NaN metrics (and no CRS comparison) for the
    fold, which then does not count among the folds of an estimate."""
    est, best, oof = _tune(proto, grid, fitted, inner, len(tr), target, compare)
    pred = _predict(est, x_te, target)
    res = {"test": te, "best_params": best, "n_features": _n_model_features(est)}
    if target.kind == "survival":
        res["risk"] = pred[:, 0]
        y_tr, y_te = target.y_fit(samples[tr]), target.y_fit(samples[te])
        if _failed_cox(est):
            placeholder = np.zeros(len(te))  # the metric names, each NaN
            names = _survival_metrics(y_tr, y_te, placeholder, None, auc_times, auc_names)
            res["metrics"] = dict.fromkeys(names, float("nan"))
        else:
            res["metrics"] = _survival_metrics(
                y_tr, y_te, pred[:, 0], _surv_fn(_whole(fitted, est), X.iloc[te]), auc_times,
                auc_names,
            )  # fmt: skip
    else:
        res["proba"] = pred
        res["metrics"] = _classification_metrics(target.y.to_numpy()[te], pred, target.classes)
    if compare:
        comp = _crs_comparison_fold(samples, tr, te, oof, pred, crs, outcome, landmark)
        if comp is not None and not all(
            np.isfinite(v).all() for k, v in comp.items() if k.startswith("lp_")
        ):  # a comparison Cox model did not converge: the fold leaves the comparison
            comp = {k: (v if k == "test" else np.full(len(v), np.nan)) for k, v in comp.items()}
        res["crs"] = comp
    return res


def fit_one(
    target: Target,
    model: str,
    feature_set: str,
    layers: Mapping[str, pd.DataFrame],
    config: Mapping | None = None,
    **kwargs,
) -> dict:
    """Nested cross-validation of one (target, model, feature set), and its final model.

    :func:`fit_models` with one model (same parameters, ``model`` instead of ``models``).

    Returns
    -------
    dict
        The one result of :func:`fit_models`.
    """
    return fit_models(target, [model], feature_set, layers, config, **kwargs)[0]


def fit_models(
    target: Target,
    models: Sequence[str],
    feature_set: str,
    layers: Mapping[str, pd.DataFrame],
    config: Mapping | None = None,
    *,
    crs: pd.Series | None = None,
    outcome: pd.DataFrame | None = None,
    time_unit: str = "months",
    cohort: Mapping | None = None,
    refit: bool = True,
) -> list[dict]:
    """Nested cross-validation of several models on one (target, feature set), and their
    final models.

    Every model sees the same outer folds, and within each training set (outer or inner) the
    preprocessing is fitted once and shared by the models: the result of each model is the
    one its own pipeline would give, at a fraction of the cost.

    Parameters
    ----------
    target : Target
        The target.
    models : sequence of str
        Classifiers (categorical/landmark targets), survival models, or ``crs`` (survival
        targets: a Cox model of the clinical risk score alone; ``feature_set`` is ignored and
        ``crs`` must be the only model).
    feature_set : str
        A layer name, ``all`` or ``signature``.
    layers : mapping of str to pandas.DataFrame
        Ingested layers (samples x features), containing every target sample.
    config : mapping, optional
        The ``classify`` section (:func:`resolve_config` is applied).
    crs : pandas.Series, optional
        Clinical risk score (0-5) by sample, NaN where unscored. With ``outcome`` (or a
        survival/landmark target), each outer fold also fits the Cox models of the CRS
        comparison (see :func:`compare_with_crs`).
    outcome : pandas.DataFrame, optional
        ``time``/``event`` of the endpoint the CRS comparison is made on (default: the
        target's own survival for survival and landmark targets).
    time_unit : str
        Unit of the survival times (for the landmarks).
    cohort : mapping, optional
        ``{"name": ..., "checksums": {...}}`` recorded in the model card.
    refit : bool
        Refit the final models on all samples.

    Returns
    -------
    list of dict
        Per model, in order: ``rows`` (long metrics table), ``fold_metrics`` (per outer fold),
        ``predictions`` (out-of-fold), ``folds`` (:func:`outer_folds` table), ``final``
        (fitted pipeline or None), ``card`` (model card), ``features`` (selected features with
        weights), ``best_params`` (per fold), ``target``, ``model``, ``feature_set``,
        ``kind``, ``cpu_seconds`` (the model's own CPU and its share of the preprocessing),
        ``fit_warnings`` (the warnings of its fits, outer folds with their inner fits and the
        final refit, its preprocessing and evaluation included: ``{category: {"count": n,
        "first": [up to 3 distinct messages]}}``) and ``cox_not_converged`` (``count`` of Cox
        fits that did not converge, the outer ``folds`` they were in, ``final``: those of the
        final refit; such a fold's metrics are NaN).
    """
    from joblib import Parallel, delayed

    wall0, cpu0 = time.perf_counter(), time.process_time()
    cfg = resolve_config(config)
    seed = int(cfg["seed"])
    models = list(models)
    if not models:
        raise MetpotError("fit_models needs at least one model")
    valid = SURVIVAL_MODELS if target.kind == "survival" else CLASSIFIERS
    for model in models:
        if model == "crs" and target.kind != "survival":
            raise MetpotError(f"model crs is for survival targets, not {target.name}")
        if model not in valid:
            raise MetpotError(
                f"model {model!r} does not fit a {target.kind} target ({target.name}); "
                f"use one of {name_list(valid)}"
            )
    if "crs" in models:
        if len(models) > 1:
            raise MetpotError("model crs is fitted alone (it uses no features)")
        feature_set = "crs"
    folds = outer_folds(
        target.samples, target.strata, cfg["outer"]["folds"], cfg["outer"]["repeats"], seed
    )
    if outcome is None and target.survival is not None:
        outcome = target.survival
    if crs is not None:
        crs = pd.Series(crs, dtype=float).copy()
        crs.index = [str(i) for i in crs.index]
    landmark = float(cfg["landmark_years"]) * _UNIT_PER_YEAR[time_unit]
    if target.kind == "landmark":
        landmark = target.landmark

    if feature_set == "crs":
        if crs is None:
            raise MetpotError("model crs needs the clinical risk score")
        scored = [s for s in target.samples if s in crs.index and np.isfinite(crs.get(s))]
        X = pd.DataFrame({_column("clinical", "crs"): crs.loc[scored].to_numpy(float)})
        X.index = pd.Index(scored, name="sample_id")
        fit_target = Target(target.name, target.kind, target.y.loc[scored], target.survival)
        prep, specs = None, [(CoxPH(), {})]
        crs_arg = None
    else:
        missing = [s for s in target.samples if s not in layers[next(iter(layers))].index]
        if missing:
            raise MetpotError(
                f"target {target.name}: samples absent from the layers: {name_list(missing)}"
            )
        X = feature_matrix({k: v.loc[target.samples] for k, v in layers.items()}, feature_set)
        prep = build_preprocessing(
            transform=cfg["transform"],
            max_missing=float(cfg["max_missing"]),
            top_variance=cfg["top_variance"],
            signature=cfg["signature"] if feature_set == "signature" else None,
        )
        specs = []
        for model in models:
            spec = cfg["models"].get(model, {"grid": DEFAULT_GRIDS[model]})
            specs.append((make_model(model, seed), param_grid(model, spec["grid"])))
        fit_target = target
        crs_arg = crs if (crs is not None and outcome is not None) else None

    auc_years = list(cfg["auc_landmarks_years"])
    auc_times = [float(y) * _UNIT_PER_YEAR[time_unit] for y in auc_years]
    auc_names = _landmark_names(auc_years)
    splits = _fold_indices(folds, list(X.index))
    n_jobs = int(cfg["n_jobs"])
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_one_fold)(
            prep,
            specs,
            X,
            fit_target,
            tr,
            te,
            cfg["inner"]["folds"],
            seed,
            auc_times,
            auc_names,
            crs_arg,
            outcome,
            landmark,
        )  # fmt: skip
        for (_, _, tr, te) in splits
    )
    finals = _refit(prep, specs, X, fit_target, cfg, seed) if refit else [None] * len(specs)
    outs = []
    for k, model in enumerate(models):
        results = [fold[k] for fold in per_fold]
        out = _collect(fit_target, target, model, feature_set, X, splits, results, folds,
                       outcome, cfg)  # fmt: skip
        out["landmark"] = landmark
        records = [r["warnings"] for r in results]
        out["cox_not_converged"] = {
            "count": sum(r["cox_not_converged"] for r in results),
            "folds": [
                {"repeat": int(rp), "fold": int(f), "fits": r["cox_not_converged"]}
                for (rp, f, _, _), r in zip(splits, results, strict=True)
                if r["cox_not_converged"]
            ],
            "final": 0,
        }
        if finals[k] is not None:
            final, params, record, n_failed = finals[k]
            records.append(record)
            out["cox_not_converged"]["final"] = n_failed
            out["cox_not_converged"]["count"] += n_failed
            out["final"] = final
            out["features"] = feature_table(final, X, fit_target, model, feature_set)
            out["card"] = model_card(
                final, X, fit_target, model, feature_set, list(layers.keys()), cfg,
                out["rows"], params, cohort,
            )  # fmt: skip
        out["fit_warnings"] = _merge_records(records)
        out["cpu_seconds"] = sum(r["cpu_seconds"] for r in results)
        outs.append(out)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if n_jobs != 1:  # CPU of the fold workers too (load-independent cost)
        cpu += sum(r["cpu_seconds"] for fold in per_fold for r in fold)
    for out in outs:  # the job's cost, shared equally (the models' own CPU is above)
        out["wall_seconds"] = wall / len(outs)
        out["job_cpu_seconds"] = cpu
    return outs


def _collect(fit_target, target, model, feature_set, X, splits, results, folds, outcome, cfg):
    """One model's fold results as its metrics, predictions and parameter tables."""
    fold_rows, pred_parts, best_rows = [], [], []
    classes = fit_target.classes
    for (r, f, tr, te), res in zip(splits, results, strict=True):
        fold_rows.append(
            {"repeat": r, "fold": f, "n_train": len(tr), "n_test": len(te), **res["metrics"]}
        )
        best_rows.append(
            {"repeat": r, "fold": f, "n_features": res["n_features"]}
            | _jsonable(res["best_params"])
        )
        part = pd.DataFrame({"sample": X.index[te].to_numpy(), "repeat": r, "fold": f})
        if target.kind == "survival":
            yy = fit_target.y.iloc[te]
            part["time"] = yy["time"].to_numpy()
            part["event"] = yy["event"].to_numpy()
            part["risk"] = res["risk"]
        else:
            part["truth"] = fit_target.y.iloc[te].to_numpy()
            part["prediction"] = np.asarray(classes, dtype=object)[np.argmax(res["proba"], 1)]
            for k, c in enumerate(classes):
                part[f"prob:{c}"] = res["proba"][:, k]
        comp = res.get("crs")
        if comp is not None:
            pos = {int(i): j for j, i in enumerate(comp["test"])}
            for key, vals in comp.items():
                if key == "test":
                    continue
                part[key] = [vals[pos[int(i)]] if int(i) in pos else np.nan for i in te]
        pred_parts.append(part)
    fold_metrics = pd.DataFrame(fold_rows)
    predictions = pd.concat(pred_parts, ignore_index=True)
    predictions.insert(0, "feature_set", feature_set)
    predictions.insert(0, "model", model)
    predictions.insert(0, "target", target.name)
    if outcome is not None and "lp_crs" in predictions.columns:
        o = outcome.reindex(predictions["sample"])
        predictions["outcome_time"] = o["time"].to_numpy(float)
        predictions["outcome_event"] = o["event"].to_numpy(float)
    best_params = pd.DataFrame(best_rows)
    n_features = int(np.median(best_params["n_features"]))
    ratio = 1.0 / (int(cfg["outer"]["folds"]) - 1)
    skip = ("repeat", "fold", "n_train", "n_test")
    metric_names = [c for c in fold_metrics.columns if c not in skip]
    rows = []
    for metric in metric_names:
        est, lo, hi = _clip(metric, *_t_interval(fold_metrics[metric], ratio))
        rows.append(
            {
                "target": target.name, "model": model, "feature_set": feature_set,
                "n_features": n_features, "metric": metric, "estimate": est,
                "ci_low": lo, "ci_high": hi, "n_samples": len(X),
                "n_folds": int(np.isfinite(fold_metrics[metric].to_numpy(float)).sum()),
                "ci_method": CI_METHOD,
            }
        )  # fmt: skip
    return {
        "target": target.name, "kind": target.kind, "model": model, "feature_set": feature_set,
        "rows": pd.DataFrame(rows), "fold_metrics": fold_metrics, "predictions": predictions,
        "folds": folds, "best_params": best_params, "final": None, "card": None,
        "features": None, "n_excluded": target.n_excluded, "excluded": target.excluded,
        "classes_left_out": list(target.left_out),
    }  # fmt: skip


def _jsonable(d: Mapping) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, list | tuple):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
            v = v[0] if len(v) == 1 else v
        out[k.replace("model__estimator__", "").replace("model__", "")] = v
    return out


def _refit(prep, specs, X, target, cfg, seed) -> list:
    """The final models on all samples (inner CV on all samples for the hyper-parameters):
    per model, the fitted whole, its parameters, its warnings record and its number of Cox
    fits that did not converge."""
    splits = _inner_splits(target.strata, cfg["inner"]["folds"], seed)
    out = []
    shared_caught: list = []
    with _fit_threads():
        with _recording(shared_caught):
            fitted = _prepare(prep, X, target)
            inner = _inner_data(prep, X, target, splits) if _needs_inner(specs) else []
        for proto, grid in specs:
            caught: list = []
            with _recording(caught):
                est, params, _ = _tune(proto, grid, fitted, inner, len(X), target,
                                       need_oof=False)  # fmt: skip
                whole = est if prep is None else _whole(_prepare_copy(fitted), est)
            out.append((whole, _jsonable(params), _warning_record(shared_caught + caught),
                        _n_cox_failures(caught)))  # fmt: skip
    return out
