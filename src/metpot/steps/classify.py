"""Steps ``classify_fit`` and ``classify`` (``workflow/rules/classify.smk``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from metpot.errors import MetpotError, name_list
from metpot.step_io import Model, many, need
from metpot.steps._common import (
    layers,
    read_json,
    read_outcome,
    read_samples,
    subtypes,
    tsv_or_none,
)

log = logging.getLogger("metpot")


#: A fit's tables (``features`` last: it may be empty) and the fields of its ``fit.json``.
FIT_TABLES = ("rows", "fold_metrics", "best_params", "predictions", "folds", "features")
FIT_FIELDS = ("target", "kind", "model", "feature_set", "landmark", "n_excluded", "excluded",
              "classes_left_out", "fit_warnings", "cox_not_converged")  # fmt: skip


def _classify_data(cfg: dict, inputs: dict) -> dict:
    """What every classify fit reads: layers, targets' sources, CRS, outcomes, checksums."""
    data: dict = {"layers": layers(inputs), "subtypes": None, "crs": None, "endpoints": {}}
    if "assignments" in inputs:
        assign, names = subtypes(inputs)
        data["subtypes"] = assign.map(names)
    data["clinical"] = pd.read_parquet(inputs["clinical"]) if "clinical" in inputs else None
    if "outcome" in inputs:
        for endpoint in ("os", "pfs"):
            try:
                data["endpoints"][endpoint] = read_outcome(inputs["outcome"], endpoint)
            except MetpotError:
                continue
    if "crs" in inputs:
        crs = read_samples(inputs["crs"], index_col="sample_id")["crs"].astype(float)
        data["crs"] = crs
    files = read_json(need(inputs, "inputs"))
    data["cohort"] = {
        "name": cfg["cohort"]["name"],
        "checksums": {i["layer"]: i["sha256"] for i in files},
    }
    return data


def classify_fit(
    cfg: dict, inputs: dict, *, target: str, feature_set: str, threads: int | None = None, **_
) -> dict:
    """Nested CV of every model of one target x feature set: tables, final models, cards."""
    from metpot.classify import build_targets, comparison_outcome, fit_models
    from metpot.manifest import classify_config, classify_fit_jobs, fit_output_key

    ccfg = classify_config(cfg)
    if threads:  # the outer folds run in parallel up to the job's threads
        ccfg["n_jobs"] = threads
    jobs = {(t, fs): m for t, fs, m in classify_fit_jobs(cfg)}
    if (target, feature_set) not in jobs:
        raise MetpotError(
            f"no classify job for target {target!r} and feature set {feature_set!r} "
            f"in this config (jobs: {name_list(f'{t}/{fs}' for t, fs in jobs)})"
        )
    models = list(jobs[(target, feature_set)])
    data = _classify_data(cfg, inputs)
    built = build_targets(
        [target],
        clinical=data["clinical"],
        subtypes=data["subtypes"],
        endpoints=data["endpoints"],
        landmark_years=ccfg["landmark_years"],
        time_unit="years",
        min_class_size=ccfg["min_class_size"],
    )[target]
    fits = fit_models(
        built,
        models,
        feature_set,
        data["layers"],
        ccfg,
        crs=data["crs"],
        outcome=comparison_outcome(built, data["endpoints"]),
        time_unit="years",
        cohort=data["cohort"],
    )
    out: dict = {}
    for model, res in zip(models, fits, strict=True):
        out.update(fit_objects(res, lambda key, m=model: fit_output_key(m, key)))
    return out


def fit_objects(res: dict, key: Callable[[str], str]) -> dict:
    """One model's files of a classify job (``key``: file key -> the job's output key).

    The model goes out as a :class:`~metpot.step_io.Model`, its card beside it (the writer
    checks that the card's path is the declared one).
    """
    out: dict = {key(name): res[name] for name in FIT_TABLES[:-1]}
    features = res.get("features")
    out[key("features")] = features if features is not None else pd.DataFrame()
    out[key("fit")] = {k: res.get(k) for k in FIT_FIELDS}
    card = res["card"]
    out[key("params")] = {
        "target": res["target"],
        "model": res["model"],
        "feature_set": res["feature_set"],
        **(card.get("hyperparameters") or {}),
    }
    rows = res["rows"]
    metrics = {}
    for r in rows.itertuples():
        metrics[r.metric] = r.estimate
        metrics[f"{r.metric}.ci_low"] = r.ci_low
        metrics[f"{r.metric}.ci_high"] = r.ci_high
    out[key("metrics")] = metrics
    out[key("model")] = Model(res["final"], card)
    log.info(
        "%s / %s / %s: %s",
        res["target"],
        res["model"],
        res["feature_set"],
        ", ".join(f"{r.metric} {r.estimate:.3f}" for r in rows.itertuples()),
    )
    return out


def _read_fit(inputs: dict, i: int) -> dict:
    """The i-th fit of the classify inputs, as :func:`metpot.classify.fit_one` returned it."""
    text = {"sample": str, "truth": str, "prediction": str, "target": str, "feature_set": str}

    def tsv(key):
        path = many(inputs, key)[i]
        if Path(path).stat().st_size <= 1:
            return pd.DataFrame()
        return pd.read_csv(path, sep="\t", dtype=text)

    out = dict(read_json(many(inputs, "fit")[i]))
    for key in FIT_TABLES:
        out[key] = tsv(key)
    if out["features"].empty:
        out["features"] = None
    return out


def classify(cfg: dict, inputs: dict, *, outputs=(), **_) -> dict:
    """Every fit compared: metrics with CIs, best model per target, against the CRS."""
    from metpot.classify import assemble
    from metpot.manifest import classify_config

    ccfg = classify_config(cfg)
    results = [_read_fit(inputs, i) for i in range(len(many(inputs, "fit")))]
    res = assemble(results, ccfg)
    pipeline = tsv_or_none(inputs, "pipeline_vs_crs")  # the whole pipeline validated in folds
    if pipeline is not None:
        pipeline["reference"] = pipeline["reference"].fillna("")  # "" read back as NaN
        res["vs_crs"] = pd.concat([res["vs_crs"], pipeline], ignore_index=True)
    out = {k: res[k] for k in ("comparison", "vs_crs", "decision_curve", "best")}
    out.update({k: res[k] for k in ("predictions", "folds")})
    features = res["features"]
    for key in outputs:
        if key.startswith("features_"):
            target = key.removeprefix("features_")
            out[key] = features[features["target"] == target] if len(features) else features
    if "vs_crs_figure_svg" in outputs:
        from metpot.plots import plot_vs_crs

        out["vs_crs_figure"] = plot_vs_crs(res["vs_crs"])
    if "decision_curve_figure_svg" in outputs:
        from metpot.plots import decision_curve_plot

        out["decision_curve_figure"] = decision_curve_plot(res["decision_curve"])
    out.update(_classify_report(ccfg, inputs, outputs, res, results))
    metrics = {}
    for r in res["best"].to_dict(orient="records"):
        for k, v in r.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                metrics[f"best.{r['target']}.{k}"] = v
    out["metrics"] = metrics
    log.info("%d fits compared", len(results))
    return out


def _subtype_colours(inputs: dict) -> dict:
    """Subtype name -> the colour of the clusters figures (subtypes in subtype order)."""
    from metpot.plots import PALETTE

    if "subtypes" not in inputs:
        return {}
    table = pd.read_csv(inputs["subtypes"], sep="\t").sort_values("subtype")
    return {str(n): PALETTE[i % len(PALETTE)] for i, n in enumerate(table["name"])}


def _figure_targets(outputs, prefix: str) -> list[str]:
    """The targets of the declared figures ``<prefix><target>``."""
    keys = [k for k in outputs if k.startswith(prefix) and k.endswith("_svg")]
    return [k.removeprefix(prefix).removesuffix("_svg") for k in keys]


def _classify_report(ccfg: dict, inputs: dict, outputs, res: dict, results: list) -> dict:
    """Calibration of the out-of-fold probabilities; the compact signature as a heatmap."""
    if "calibration" not in outputs:
        return {}
    from metpot.classify import (
        calibration_table,
        signature_classes,
        signature_matrix,
        signature_model,
    )
    from metpot.plots import calibration_plot, signature_heatmap

    kinds = {r["target"]: r["kind"] for r in results}
    preds = res["predictions"]
    table = calibration_table(preds, kinds, seed=int(ccfg["seed"]))
    out: dict = {"calibration": table}
    colours = _subtype_colours(inputs)
    for target in _figure_targets(outputs, "calibration_"):
        labels = None
        if kinds.get(target) == "landmark":
            labels = {"1": f"event by {float(ccfg['landmark_years']):g} years"}
        out[f"calibration_{target}"] = calibration_plot(
            table[table["target"] == target],
            preds[preds["target"] == target],
            colors=colours if target == "snf_subtype" else None,
            class_labels=labels,
            title=f"{target}: calibration of the out-of-fold probabilities (nested CV)",
        )
    signature = _figure_targets(outputs, "signature_")
    if not signature:
        return out
    frames = layers(inputs)
    features = res["features"]
    for target in signature:
        model = signature_model(res["comparison"], kinds, target)
        rows = features[
            (features["target"] == target)
            & (features["model"] == model)
            & (features["feature_set"] == "signature")
        ]
        truth = preds[(preds["target"] == target) & (preds["model"] == model)]
        truth = truth.drop_duplicates("sample").set_index("sample")["truth"]
        subtype = target == "snf_subtype"
        classes = signature_classes(truth, list(colours) if subtype else ())
        data = signature_matrix(frames, rows["column"], truth, classes, ccfg["transform"])
        title = f"{target}: {len(data['z'])}-feature signature of the final {model} model"
        out[f"signature_{target}"] = signature_heatmap(
            data, colours if subtype else None, title, "subtype" if subtype else target
        )
    return out
