"""Whole-pipeline validation inside the outer folds, and the stability of the partition.

The subtype classifiers of :mod:`~metpot.classify.nested_cv` learn the partition of *all*
patients: the test patients of a fold helped shape the clusters their training neighbours are
labelled with, and when the features are chosen with the outcome (``preprocess.select.method:
cox``) their survival helped shape them too. :func:`pipeline_cv` re-runs the discovery inside
every outer training fold (the same folds as the classifiers and the CRS comparison):

1. per layer, the preprocessing of :func:`metpot.preprocess.preprocess_layer` (transform,
   missing values, constant features, selection with the fold's own outcome, scaling) fitted
   on the training patients only;
2. SNF of the training patients and spectral clustering at the reference k;
3. the fold's clusters aligned to the reference (all-patient) partition by Hungarian matching
   on the training patients' overlap (:func:`align_labels`), and the ARI between the two
   (partition stability);
4. the configured first classifier trained on the fold's own subtypes (its selected features
   of every layer, the classifiers' preprocessing, inner grid search), which predicts the test
   patients' subtypes;
5. the comparison with the clinical risk score on the test patients, as for the out-of-fold
   predictions (:func:`~metpot.classify.against_crs._crs_comparison_fold`, then
   :func:`~metpot.classify.against_crs.compare_with_crs`: same Cox models, C-indices and
   Nadeau-Bengio intervals).

No test patient enters a fold's selection, network, clustering or classifier.
:func:`partition_stability` runs steps 1-3 only (cheap, every run).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metpot.classify.against_crs import _crs_comparison_fold, compare_with_crs
from metpot.classify.folds import _fold_indices, _inner_splits, outer_folds
from metpot.classify.inputs import Target, feature_matrix
from metpot.classify.metrics import _balanced_accuracy
from metpot.classify.models import build_preprocessing, make_model, param_grid
from metpot.classify.options import _UNIT_PER_YEAR, resolve_config
from metpot.errors import MetpotError

#: Values of the ``validation`` column: the subtypes of every patient from one partition of
#: all patients (``partition``), or the whole pipeline re-run in every training fold.
VALIDATIONS = ("partition", "pipeline")

#: The ``feature_set`` of the pipeline's rows: each fold's selected features of every layer.
PIPELINE_FEATURE_SET = "selected"

STABILITY_COLUMNS = ["repeat", "fold", "n_train", "n_test", "k", "n_features", "ari",
                     "n_classes", "accuracy", "balanced_accuracy", "note"]  # fmt: skip


def align_labels(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rename clusters to the reference labels they overlap most (Hungarian matching).

    Parameters
    ----------
    labels : array-like
        Cluster per sample (any hashable values).
    reference : array-like
        Reference label per sample (same samples, same order).

    Returns
    -------
    numpy.ndarray of object
        ``labels`` renamed: each cluster matched to one reference label so that the total
        overlap is largest (:func:`scipy.optimize.linear_sum_assignment`); clusters left
        unmatched (more clusters than reference labels) are named ``"unmatched <cluster>"``.
    """
    from scipy.optimize import linear_sum_assignment

    labels = np.asarray(labels, dtype=object)
    reference = np.asarray(reference, dtype=object)
    if labels.shape != reference.shape:
        raise MetpotError(f"align_labels: {labels.size} labels for {reference.size} references")
    own = sorted(pd.unique(labels), key=str)
    ref = sorted(pd.unique(reference), key=str)
    overlap = pd.crosstab(pd.Categorical(labels, own), pd.Categorical(reference, ref),
                          dropna=False).to_numpy()  # fmt: skip
    rows, cols = linear_sum_assignment(-overlap)
    rename = {own[r]: ref[c] for r, c in zip(rows, cols, strict=True)}
    return np.array([rename.get(x, f"unmatched {x}") for x in labels], dtype=object)


def _fold_partition(layers, tr_ids, k, preprocess, snf, outcome):
    """Steps 1-2 on the training patients: their selected features per layer, and clusters."""
    from metpot.preprocess import preprocess_layer
    from metpot.snf import snf_pipeline
    from metpot.spectral import spectral_clustering

    survival = None if outcome is None else outcome.loc[outcome.index.intersection(tr_ids)]
    views, selected = [], {}
    for name, X in layers.items():
        Xp, _ = preprocess_layer(X.loc[tr_ids], dict(preprocess[name]), survival, name)
        views.append(Xp.to_numpy(float))
        selected[name] = list(Xp.columns)
    options = {key: snf[key] for key in ("K", "mu", "t", "variant", "metric")}
    if options["K"] >= len(tr_ids):
        raise MetpotError(
            f"snf.K = {options['K']} is not below the {len(tr_ids)} training patients"
        )
    _, fused = snf_pipeline(views, **options, normalize=False)
    return selected, spectral_clustering(fused, int(k))


def _recorded(fn, *args):
    """``fn(*args)`` with its warnings recorded (returned), not shown: one note per fold."""
    from metpot.classify.nested_cv import _recording

    caught: list = []
    with _recording(caught):
        out = fn(*args)
    return out, caught


def partition_stability(
    target: Target, layers: Mapping[str, pd.DataFrame], k: int, **options
) -> dict:
    """Per outer fold, the ARI between the fold's re-clustering and the reference partition.

    :func:`pipeline_cv` without the classifier and the comparison with the risk score (see the
    module's description, steps 1-3).

    Parameters
    ----------
    target, layers, k
        As :func:`pipeline_cv`.
    **options
        ``preprocess``, ``snf`` (required), ``outcome``, ``config``: as :func:`pipeline_cv`.

    Returns
    -------
    dict
        ``stability``: :data:`STABILITY_COLUMNS` per fold (``accuracy`` columns NaN);
        ``warnings``: the warnings the folds raised (``{category: {"count", "first"}}``).
    """
    return pipeline_cv(target, layers, k, **options, classify=False)


def pipeline_cv(
    target: Target,
    layers: Mapping[str, pd.DataFrame],
    k: int,
    *,
    preprocess: Mapping[str, Mapping],
    snf: Mapping,
    outcome: pd.DataFrame | None = None,
    crs: pd.Series | None = None,
    config: Mapping | None = None,
    time_unit: str = "years",
    classify: bool = True,
) -> dict:
    """The whole discovery pipeline validated inside the outer folds (module description).

    Parameters
    ----------
    target : Target
        The categorical ``snf_subtype`` target (the reference partition, after
        ``classify.min_class_size``); its samples and labels decide the outer folds, as for
        the classifiers.
    layers : mapping of str to pandas.DataFrame
        Ingested layers (samples x features), containing every target sample.
    k : int
        Number of clusters of the reference partition.
    preprocess : mapping
        Layer name -> its preprocessing settings (``transform``, ``missing``, ``select``,
        ``scale``; :func:`metpot.config.layer_preprocess`).
    snf : mapping
        ``K``, ``mu``, ``t``, ``variant``, ``metric``.
    outcome : pandas.DataFrame, optional
        ``time``/``event`` by sample (needed by a Cox feature selection: the fold's training
        patients' only); also the endpoint of the comparison with the risk score.
    config : mapping, optional
        The ``classify`` section (outer folds and seed).
    crs : pandas.Series, optional
        Clinical risk score by sample (NaN where unscored); with ``outcome``, the fold's
        predictions are compared with it.
    time_unit : str
        Unit of the outcome's times (for ``classify.landmark_years``).
    classify : bool
        Train and evaluate the fold classifiers (False: partition stability only).

    Returns
    -------
    dict
        ``stability`` (:data:`STABILITY_COLUMNS` per fold: the fold's ARI with the reference
        on its training patients, and its classifier's accuracy and balanced accuracy
        against the reference labels of its test patients; ``note`` says why a fold has no
        result); ``predictions`` (per test patient: ``truth`` (reference), ``prediction``,
        and the CRS comparison's ``lp_*``/``p_*`` columns); ``vs_crs`` and
        ``decision_curve`` (:func:`~metpot.classify.against_crs.compare_with_crs` of those
        predictions, with ``validation = pipeline``; empty without a CRS and outcome);
        ``warnings``; ``model`` (the classifier).
    """
    from sklearn.metrics import adjusted_rand_score

    from metpot.classify.nested_cv import _merge_records, _warning_record

    if target.kind != "categorical":
        raise MetpotError(
            f"pipeline validation needs the categorical subtype target, not {target.name}"
        )
    cfg = resolve_config(config)
    seed = int(cfg["seed"])
    model = next(iter(cfg["models"]))
    missing = [name for name in layers if name not in preprocess]
    if missing:
        raise MetpotError(f"pipeline validation: no preprocessing settings for layer(s) {missing}")
    folds = outer_folds(target.samples, target.strata, cfg["outer"]["folds"],
                        cfg["outer"]["repeats"], seed)  # fmt: skip
    samples = pd.Index(target.samples)
    layers = {  # one float block per layer (a frame read from parquet has one per column)
        name: pd.DataFrame(X.to_numpy(float), index=[str(s) for s in X.index], columns=X.columns)
        for name, X in layers.items()
    }
    absent = samples.difference(next(iter(layers.values())).index)
    if len(absent):
        raise MetpotError(
            f"pipeline validation: samples absent from the layers: {list(absent)[:5]}"
        )
    if outcome is not None:
        outcome = outcome.set_axis([str(s) for s in outcome.index])
    if crs is not None:
        crs = pd.Series(crs, dtype=float).set_axis([str(s) for s in pd.Series(crs).index])
    compare = classify and crs is not None and outcome is not None
    landmark = float(cfg["landmark_years"]) * _UNIT_PER_YEAR[time_unit]
    reference = target.y.astype(str).to_numpy(dtype=object)
    rows, parts, records = [], [], []
    for rep, fold, tr, te in _fold_indices(folds, list(samples)):
        row = dict.fromkeys(STABILITY_COLUMNS, np.nan)
        row.update(repeat=rep, fold=fold, n_train=len(tr), n_test=len(te), k=int(k), note="")
        caught: list = []
        try:
            (selected, labels), c1 = _recorded(
                _fold_partition, layers, list(samples[tr]), k, preprocess, snf, outcome
            )
            caught += c1
            row["n_features"] = sum(len(v) for v in selected.values())
            row["ari"] = float(adjusted_rand_score(reference[tr], labels))
            if classify:
                aligned = align_labels(labels, reference[tr])
                res, c2 = _recorded(_fold_classifier, layers, selected, samples, tr, te,
                                    aligned, model, cfg, seed, crs, outcome, landmark,
                                    compare)  # fmt: skip
                caught += c2
                row["n_classes"] = len(res["classes"])
                if res["note"]:
                    row["note"] = res["note"]
                else:
                    pred = res["prediction"]
                    row["accuracy"] = float(np.mean(pred == reference[te]))
                    row["balanced_accuracy"] = _balanced_accuracy(reference[te], pred)
                    parts.append(_fold_predictions(target, samples, rep, fold, te, reference,
                                                   res, model, outcome))  # fmt: skip
        except MetpotError as exc:  # the pipeline itself fails on this training fold
            row["note"] = f"failed: {exc}"
        records.append(_warning_record(caught))
        rows.append(row)
    stability = pd.DataFrame(rows, columns=STABILITY_COLUMNS)
    predictions = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    out = {"stability": stability, "predictions": predictions, "vs_crs": pd.DataFrame(),
           "decision_curve": pd.DataFrame(), "warnings": _merge_records(records),
           "model": model}  # fmt: skip
    if compare and "lp_crs" in predictions.columns:
        comp = compare_with_crs(predictions, int(cfg["outer"]["folds"]), landmark)
        for key in ("vs_crs", "decision_curve"):
            table = comp["table" if key == "vs_crs" else key]
            if not table.empty:
                table.insert(3, "validation", "pipeline")
            out[key] = table
    return out


def _fold_classifier(layers, selected, samples, tr, te, aligned, model, cfg, seed, crs,
                     outcome, landmark, compare) -> dict:  # fmt: skip
    """Step 4-5 of one fold: the classifier of the fold's own subtypes, its test predictions
    and (``compare``) the CRS comparison's Cox models."""
    from metpot.classify.tuning import _inner_data, _predict, _prepare, _tune

    y = pd.Series(aligned, index=samples[tr], dtype=object).astype(str)
    counts = y.value_counts()
    kept = sorted(counts.index[counts >= int(cfg["min_class_size"])], key=str)
    out = {"classes": kept, "note": "", "prediction": None, "proba": None, "crs": None}
    if len(kept) < 2:
        out["note"] = (f"fewer than two of the fold's subtypes have >= "
                       f"classify.min_class_size={cfg['min_class_size']} patients")  # fmt: skip
        return out
    keep = y.isin(kept).to_numpy()
    tr_fit = tr[keep]
    fold_target = Target("fold_subtype", "categorical", y[keep])
    X = feature_matrix({n: layers[n].loc[samples, selected[n]] for n in layers}, "all")
    prep = build_preprocessing(transform=cfg["transform"], max_missing=float(cfg["max_missing"]),
                               top_variance=cfg["top_variance"], signature=None)  # fmt: skip
    proto = make_model(model, seed)
    grid = param_grid(model, cfg["models"][model]["grid"])
    Xtr = X.iloc[tr_fit]
    splits = _inner_splits(fold_target.strata, cfg["inner"]["folds"], seed)
    fitted = _prepare(prep, Xtr, fold_target)
    inner = _inner_data(prep, Xtr, fold_target, splits)
    est, _, oof = _tune(proto, grid, fitted, inner, len(tr_fit), fold_target, need_oof=True)
    proba = _predict(est, fitted.transform(X.iloc[te]), fold_target)
    out["proba"] = proba
    out["prediction"] = np.asarray(kept, dtype=object)[np.argmax(proba, axis=1)]
    if compare:
        comp = _crs_comparison_fold(samples, tr_fit, te, oof, proba, crs, outcome, landmark)
        if comp is not None and not all(
            np.isfinite(v).all() for key, v in comp.items() if key.startswith("lp_")
        ):  # a comparison Cox model did not converge: the fold leaves the comparison
            comp = {key: (v if key == "test" else np.full(len(v), np.nan))
                    for key, v in comp.items()}  # fmt: skip
        out["crs"] = comp
    return out


def _fold_predictions(target, samples, rep, fold, te, reference, res, model, outcome):
    """The test patients' rows of one fold, in the layout of the out-of-fold predictions."""
    part = pd.DataFrame({"target": target.name, "model": model,
                         "feature_set": PIPELINE_FEATURE_SET, "sample": samples[te].to_numpy(),
                         "repeat": rep, "fold": fold, "truth": reference[te],
                         "prediction": res["prediction"]})  # fmt: skip
    for j, c in enumerate(res["classes"]):
        part[f"prob:{c}"] = res["proba"][:, j]
    comp = res["crs"]
    if comp is not None:
        pos = {int(i): j for j, i in enumerate(comp["test"])}
        for key, vals in comp.items():
            if key != "test":
                part[key] = [vals[pos[int(i)]] if int(i) in pos else np.nan for i in te]
        o = outcome.reindex(part["sample"])
        part["outcome_time"] = o["time"].to_numpy(float)
        part["outcome_event"] = o["event"].to_numpy(float)
    return part
