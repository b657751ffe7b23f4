"""The plain-text summary of a run (``<output_dir>/summary.txt``, printed at the end)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def _c(metrics: Mapping, predictor: str) -> str | None:
    key = f"c.{predictor}.harrell_c"
    if key not in metrics:
        return None
    lo, hi = (
        metrics.get(f"c.{predictor}.harrell_lower"),
        metrics.get(f"c.{predictor}.harrell_upper"),
    )
    cv = metrics.get(f"c.{predictor}.harrell_c_cv")
    text = f"{metrics[key]:.3f}"
    if lo is not None and hi is not None:
        text += f" (95% CI {lo:.3f}-{hi:.3f})"
    if cv is not None:
        text += f", cross-validated {cv:.3f}"
    return text


def _characterise_lines(
    config: Mapping,
    subtypes: pd.DataFrame,
    metrics: Mapping | None,
    suggested: pd.DataFrame | None,
) -> list[str]:
    """Differential features per layer and subtype, and the names the gene sets suggest."""
    lines = []
    names = dict(zip(subtypes["subtype"], subtypes["name"].astype(str), strict=True))
    if metrics:
        fdr = metrics.get("fdr")
        layers = [k.removesuffix(".n_tested") for k in metrics if k.endswith(".n_tested")]
        if layers:
            lines.append(f"  differential features at FDR < {fdr:g} (up/down in the subtype):")
        for layer in layers:
            key = f"{layer}.subtype{{}}.n_{{}}"
            counts = [
                f"{name} {metrics[key.format(k, 'up')]}/{metrics[key.format(k, 'down')]}"
                for k, name in names.items()
                if key.format(k, "up") in metrics
            ]
            lines.append(f"    {layer}: {', '.join(counts)}")
    if suggested is not None and len(suggested):
        from metpot.manifest import characterise_layer

        where = f" ({characterise_layer(config)})" if "cohort" in config else ""
        parts = []
        for r in suggested.itertuples():
            text = f"{r.name} -> {r.suggested}"
            if isinstance(r.shared_with, str) and r.shared_with:
                text += f" (shared with {r.shared_with})"
            parts.append(text)
        lines.append(f"  gene sets{where} suggest: " + ", ".join(parts))
    return lines


def run_summary(
    config: Mapping,
    ingest: Mapping,
    samples: pd.DataFrame,
    preprocess: Mapping,
    n_clusters: Mapping,
    subtypes: pd.DataFrame,
    agreement: Mapping | None = None,
    survival: Mapping[str, Mapping] | None = None,
    run: Mapping | None = None,
    classify_best: pd.DataFrame | None = None,
    classify_vs_crs: pd.DataFrame | None = None,
    scored: Mapping[str, Mapping] | None = None,
    characterise: Mapping | None = None,
    suggested_names: pd.DataFrame | None = None,
) -> str:
    """The run's headline results as text.

    Parameters
    ----------
    config : dict
        The resolved config.
    ingest, preprocess, n_clusters, agreement : dict
        ``ingest/metrics.json``, ``preprocess/summary.json``, ``clusters/n_clusters.json``,
        ``clusters/agreement.json``.
    samples, subtypes : DataFrame
        ``ingest/samples.tsv``, ``clusters/subtypes.tsv``.
    survival : dict, optional
        Endpoint (``os``, ``pfs``) -> its ``metrics.json``.
    run : dict, optional
        ``mlflow_run.json``.
    characterise : dict, optional
        ``characterise/metrics.json`` (differential features per layer and subtype).
    suggested_names : DataFrame, optional
        ``characterise/suggested_names.tsv`` (with gene sets).
    """
    cohort = config["cohort"]
    synthetic = " (SYNTHETIC demo data)" if "demo" in config else ""
    lines = [f"metpot run of cohort {cohort['name']}{synthetic}", ""]
    dropped = samples[samples["status"] != "kept"]
    line = f"Samples: {ingest['n_samples']} analysed"
    if len(dropped):
        reasons = dropped["reason"].value_counts()
        line += (
            f"; {len(dropped)} dropped (" + "; ".join(f"{n} {r}" for r, n in reasons.items()) + ")"
        )
    lines.append(line)
    for layer, info in preprocess.items():
        lines.append(
            f"  {layer}: {info['n_features_in']} features in, {info['n_features_out']} used"
        )
    if "n_with_survival" in ingest:
        lines.append(f"  with usable overall survival: {ingest['n_with_survival']}")
    k = n_clusters["n_clusters"]
    lines += ["", f"Subtypes: k = {k}: {n_clusters['why']}"]
    sizes = ", ".join(f"{r.name} {r.n}" for r in subtypes.itertuples())
    lines.append(f"  sizes: {sizes}")
    if agreement:
        lines.append(
            f"  agreement with known labels: ARI {agreement['ari']:.3f}, "
            f"NMI {agreement['nmi']:.3f} (n = {agreement['n']})"
        )
    lines += _characterise_lines(config, subtypes, characterise, suggested_names)
    for endpoint, m in (survival or {}).items():
        lines += ["", f"{endpoint.upper()}: {m['n']} patients, {m['events']} events"]
        lines.append(
            f"  log-rank test of subtypes: chi-square {m['logrank.chisq']:.2f}, "
            f"p = {m['logrank.p']:.3g}"
        )
        for clinical in ("crs", "clinical"):
            base, both = _c(m, clinical), _c(m, f"{clinical}_subtype")
            if base and both:
                what = "risk score" if clinical == "crs" else "covariates"
                lines.append(f"  Harrell's C, {what} alone: {base}")
                lines.append(f"  Harrell's C, {what} + subtype: {both}")
        if "lr_subtype.p" in m:
            lines.append(f"  adding subtype to the Cox model: LR test p = {m['lr_subtype.p']:.3g}")
        if "integrated.logrank.p" in m:
            lines.append(f"  integrated risk groups: log-rank p = {m['integrated.logrank.p']:.3g}")
    if classify_best is not None and len(classify_best):
        lines += ["", "Classifiers (nested cross-validation, 95% CI over outer folds):"]
        for r in classify_best.itertuples():
            lines.append(
                f"  {r.target}: best {r.model} on {r.feature_set}, {r.metric} "
                f"{r.estimate:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})"
            )
    if classify_vs_crs is not None and "estimate" in getattr(classify_vs_crs, "columns", []):
        diffs = classify_vs_crs[classify_vs_crs["metric"].astype(str).str.contains("difference")]
        if classify_best is not None and len(classify_best):
            keys = classify_best[["target", "model", "feature_set"]]
            diffs = diffs.merge(keys, on=["target", "model", "feature_set"])
        for r in diffs.itertuples():
            lines.append(
                f"  {r.target} {r.model}/{r.feature_set}: {r.predictor} vs {r.reference}, "
                f"{r.metric} {r.estimate:+.3f} ({r.ci_low:+.3f} to {r.ci_high:+.3f})"
            )
    for name, s in (scored or {}).items():
        counts = ", ".join(f"{k} {v}" for k, v in (s.get("counts") or {}).items())
        lines += ["", f"Scored cohort {name}: {s.get('n_samples', '?')} samples ({counts})"]
        flags = s.get("flags") or {}
        if flags:
            lines.append("  flagged: " + ", ".join(f"{k} {v}" for k, v in flags.items()))
    out = config.get("output_dir", "results")
    lines += ["", f"Results: {out}/ (subtypes: {out}/clusters/assignments.tsv)"]
    if run:
        uri = run["tracking_uri"]
        lines.append(f"MLflow run {run['run_id']} ({run['status']})")
        if uri.startswith("sqlite:"):
            lines.append(f"  open it with: mlflow ui --backend-store-uri {uri}")
        else:
            lines.append(f"  open it at: {uri}")
    return "\n".join(lines) + "\n"
