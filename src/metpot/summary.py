"""The plain-text summary of a run (``<output_dir>/summary.txt``, printed at the end)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass

import pandas as pd

from metpot.config import schema_default


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


def _left_out(row) -> str:
    """The classes a best model left out (``best.tsv``'s ``classes_left_out``; "" if none)."""
    value = getattr(row, "classes_left_out", "")
    return value if isinstance(value, str) else ""


def stability_facts(partition_stability: pd.DataFrame | None) -> dict | None:
    """Mean, lowest and highest ARI of the folds' re-clustering with the all-patient partition,
    the number of folds and of folds without a result; None without the table."""
    if partition_stability is None or "ari" not in getattr(partition_stability, "columns", []):
        return None
    ari = pd.to_numeric(partition_stability["ari"], errors="coerce")
    ok = ari.dropna()
    return {
        "ari_mean": _num(ok.mean()) if len(ok) else None,
        "ari_min": _num(ok.min()) if len(ok) else None,
        "ari_max": _num(ok.max()) if len(ok) else None,
        "n_folds": len(ari),
        "n_failed": int(ari.isna().sum()),
    }


def _validation_lines(
    config: Mapping, vs_crs: pd.DataFrame | None, stability: pd.DataFrame | None
) -> list[str]:
    """Which validation the subtype classifiers' comparison with the CRS used, the whole
    pipeline's rows, and the stability of the partition in the folds."""
    from metpot.manifest import features_chosen_with_outcome, subtype_validation

    facts = stability_facts(stability)
    if facts is None:
        return []
    validation = subtype_validation(dict(config))
    what = {
        "pipeline": "selection, SNF and clustering re-run in every outer training fold",
        "partition": "the subtypes of all patients as the target (test patients helped shape them)",
    }[validation]
    lines = ["", f"Subtype validation: {validation} ({what})"]
    if facts["ari_mean"] is not None:
        lines.append(
            f"  partition stability: ARI of each fold's re-clustering with the all-patient "
            f"partition {facts['ari_mean']:.2f} (range {facts['ari_min']:.2f}-"
            f"{facts['ari_max']:.2f}, {facts['n_folds'] - facts['n_failed']} folds)"
        )
    if facts["n_failed"]:
        lines.append(f"  WARNING: {facts['n_failed']} fold(s) could not re-run the pipeline")
    if vs_crs is not None and "validation" in getattr(vs_crs, "columns", []):
        rows = vs_crs[(vs_crs["validation"] == "pipeline") & (vs_crs["metric"] == "harrell_c")]
        for r in rows.itertuples():
            if str(r.reference) in ("", "nan"):
                lines.append(
                    f"  whole pipeline vs CRS ({r.model}): {r.predictor} Harrell's C "
                    f"{r.estimate:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})"
                )
        if len(rows) and features_chosen_with_outcome(dict(config)):
            lines.append(
                "  the partition rows of classify/vs_crs.tsv (validation partition) are "
                "optimistic: the features were chosen with the outcome"
            )
    return lines


@dataclass(frozen=True)
class RunResults:
    """The step results :func:`run_summary` and :func:`run_facts` read (``summary`` step).

    Attributes
    ----------
    ingest, preprocess, n_clusters, agreement : dict
        ``ingest/metrics.json``, ``preprocess/summary.json``, ``clusters/n_clusters.json``
        (its ``doubts``, each a ``WARNING`` line under the subtypes),
        ``clusters/agreement.json`` (optional).
    samples, subtypes : DataFrame
        ``ingest/samples.tsv``, ``clusters/subtypes.tsv``.
    survival : dict, optional
        Endpoint (``os``, ``pfs``) -> its ``metrics.json``.
    integrated : dict, optional
        Endpoint -> (``integrated_km_landmarks.tsv``, ``integrated_km_median.tsv``) frames.
    run : dict, optional
        ``mlflow_run.json``.
    classify_best, classify_vs_crs : DataFrame, optional
        ``classify/best.tsv``, ``classify/vs_crs.tsv``.
    scored : dict, optional
        Scored cohort -> its ``summary.json``.
    characterise : dict, optional
        ``characterise/metrics.json`` (differential features per layer and subtype).
    suggested_names : DataFrame, optional
        ``characterise/suggested_names.tsv`` (with gene sets).
    partition_stability : DataFrame, optional
        ``classify/partition_stability.tsv`` (the subtypes re-found in each outer fold).
    """

    ingest: Mapping
    samples: pd.DataFrame
    preprocess: Mapping
    n_clusters: Mapping
    subtypes: pd.DataFrame
    agreement: Mapping | None = None
    survival: Mapping[str, Mapping] | None = None
    _: KW_ONLY
    integrated: Mapping[str, tuple] | None = None
    run: Mapping | None = None
    classify_best: pd.DataFrame | None = None
    classify_vs_crs: pd.DataFrame | None = None
    scored: Mapping[str, Mapping] | None = None
    characterise: Mapping | None = None
    suggested_names: pd.DataFrame | None = None
    partition_stability: pd.DataFrame | None = None


def run_summary(config: Mapping, *results, **named) -> str:
    """The run's headline results as text.

    Parameters
    ----------
    config : dict
        The resolved config.
    *results, **named
        The step results the summary reads: the fields of :class:`RunResults`, the first
        seven (``ingest`` to ``survival``) positionally or by name, the others by name.

    Returns
    -------
    str
        The text of ``summary.txt``.
    """
    res = RunResults(*results, **named)
    cohort = config["cohort"]
    synthetic = " (SYNTHETIC demo data)" if "demo" in config else ""
    lines = [f"metpot run of cohort {cohort['name']}{synthetic}", ""]
    dropped = res.samples[res.samples["status"] != "kept"]
    line = f"Samples: {res.ingest['n_samples']} analysed"
    if len(dropped):
        reasons = dropped["reason"].value_counts()
        line += (
            f"; {len(dropped)} dropped (" + "; ".join(f"{n} {r}" for r, n in reasons.items()) + ")"
        )
    lines.append(line)
    for layer, info in res.preprocess.items():
        lines.append(
            f"  {layer}: {info['n_features_in']} features in, {info['n_features_out']} used"
        )
    if "n_with_survival" in res.ingest:
        lines.append(f"  with usable overall survival: {res.ingest['n_with_survival']}")
    k = res.n_clusters["n_clusters"]
    lines += ["", f"Subtypes: k = {k}: {res.n_clusters['why']}"]
    sizes = ", ".join(f"{r.name} {r.n}" for r in res.subtypes.itertuples())
    lines.append(f"  sizes: {sizes}")
    for d in res.n_clusters.get("doubts") or []:
        lines.append(f"  WARNING: {d['message']}")
    if res.agreement:
        lines.append(
            f"  agreement with known labels: ARI {res.agreement['ari']:.3f}, "
            f"NMI {res.agreement['nmi']:.3f} (n = {res.agreement['n']})"
        )
    lines += _characterise_lines(config, res.subtypes, res.characterise, res.suggested_names)
    for endpoint, m in (res.survival or {}).items():
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
    if res.classify_best is not None and len(res.classify_best):
        lines += ["", "Classifiers (nested cross-validation, 95% CI over outer folds):"]
        for r in res.classify_best.itertuples():
            lines.append(
                f"  {r.target}: best {r.model} on {r.feature_set}, {r.metric} "
                f"{r.estimate:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})"
            )
            left = _left_out(r)
            if left:
                lines.append(f"  WARNING: {r.target}: classes left out (never predicted): {left}")
    if res.classify_vs_crs is not None and "estimate" in getattr(
        res.classify_vs_crs, "columns", []
    ):
        diffs = res.classify_vs_crs[
            res.classify_vs_crs["metric"].astype(str).str.contains("difference")
        ]
        if res.classify_best is not None and len(res.classify_best):
            keys = res.classify_best[["target", "model", "feature_set"]]
            diffs = diffs.merge(keys, on=["target", "model", "feature_set"])
        for r in diffs.itertuples():
            lines.append(
                f"  {r.target} {r.model}/{r.feature_set}: {r.predictor} vs {r.reference}, "
                f"{r.metric} {r.estimate:+.3f} ({r.ci_low:+.3f} to {r.ci_high:+.3f})"
            )
    lines += _validation_lines(config, res.classify_vs_crs, res.partition_stability)
    for name, s in (res.scored or {}).items():
        counts = ", ".join(f"{k} {v}" for k, v in (s.get("counts") or {}).items())
        lines += ["", f"Scored cohort {name}: {s.get('n_samples', '?')} samples ({counts})"]
        flags = s.get("flags") or {}
        if flags:
            lines.append("  flagged: " + ", ".join(f"{k} {v}" for k, v in flags.items()))
    out = config.get("output_dir", schema_default("output_dir"))
    lines += ["", f"Results: {out}/ (subtypes: {out}/clusters/assignments.tsv)"]
    if res.run:
        uri = res.run["tracking_uri"]
        lines.append(f"MLflow run {res.run['run_id']} ({res.run['status']})")
        if uri.startswith("sqlite:"):
            lines.append(f"  open it with: mlflow ui --backend-store-uri {uri}")
        else:
            lines.append(f"  open it at: {uri}")
    return "\n".join(lines) + "\n"


#: Key under which the workflow (``common.smk``) puts the facts of ``summary.json`` into the
#: config the report's first page is rendered with; never part of a rule's parameters.
REPORT_FACTS_KEY = "_run_facts"


def config_digest(config: Mapping) -> str:
    """SHA-256 of a resolved config (JSON, sorted keys), without the report facts.

    The summary step records it in ``summary.json``; the report compares it with its own
    config to say whether the facts on its first page come from the same configuration.
    """
    import hashlib
    import json

    from metpot.config import validate_config

    plain = json.loads(json.dumps({k: v for k, v in config.items() if k != REPORT_FACTS_KEY}))
    text = json.dumps(validate_config(plain), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def report_facts(path: str, digest: str) -> dict:
    """The facts of the last run, for the report's first page (``workflow/report/workflow.rst``).

    The workflow puts this function (with its arguments) into the config under
    :data:`REPORT_FACTS_KEY`, and the page calls it when it is rendered: a report built in the
    run's own process (``--report-after-run``, the workflow parsed before the file existed)
    then shows that run's facts.

    Parameters
    ----------
    path : str
        The run's ``summary.json`` (:func:`run_facts`).
    digest : str
        :func:`config_digest` of the report's config ("" when it has none).

    Returns
    -------
    dict
        The facts, with ``stale`` (written under another config than the report's, or no
        digest to compare) and ``path``; empty while the file does not exist or is not a JSON
        mapping.
    """
    import json
    from pathlib import Path

    try:
        facts = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(facts, dict):
        return {}
    facts["stale"] = not digest or facts.get("config_sha256") != digest
    facts["path"] = str(path)
    return facts


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def _concordance(metrics: Mapping, predictor: str) -> dict | None:
    if f"c.{predictor}.harrell_c" not in metrics:
        return None
    return {
        "c": _num(metrics[f"c.{predictor}.harrell_c"]),
        "ci_low": _num(metrics.get(f"c.{predictor}.harrell_lower")),
        "ci_high": _num(metrics.get(f"c.{predictor}.harrell_upper")),
        "cv": _num(metrics.get(f"c.{predictor}.harrell_c_cv")),
    }


def _integrated(landmarks: pd.DataFrame | None, median: pd.DataFrame | None) -> list[dict]:
    groups = []
    if median is None:
        return groups
    for r in median.itertuples():
        row = {"group": str(r.group), "n": int(r.n), "events": int(r.events)}
        if landmarks is not None and len(landmarks):
            lm = landmarks[landmarks["group"].astype(str) == str(r.group)]
            pairs = zip(lm["time"], lm["surv"], strict=True)
            row["survival"] = {f"{t:g}": _num(s) for t, s in pairs}
        groups.append(row)
    return groups


def _headline_landmark(groups: list[dict]) -> str | None:
    """The latest landmark at which every group has a survival estimate (else the first)."""
    times = list((groups[0].get("survival") or {}) if groups else {})
    full = [t for t in times if all((g.get("survival") or {}).get(t) is not None for g in groups)]
    return full[-1] if full else (times[0] if times else None)


def run_facts(config: Mapping, *results, **named) -> dict:
    """The run's counts and headline results as JSON (``summary.json``, the report's first
    page).

    Parameters are those of :func:`run_summary` (:class:`RunResults`; ``integrated`` read
    here only).

    Returns
    -------
    dict
        ``cohort``, ``synthetic``, ``demo``, ``config_sha256`` (:func:`config_digest`),
        ``samples`` (analysed, per layer, in common, dropped by reason, with usable
        survival), ``features`` (per layer: in, used, dropped as constant or missing),
        ``subtypes`` (k, why, sizes, PAC, the doubts about them as ``rule`` and ``message``,
        agreement, the names gene sets suggest), ``survival``
        (per endpoint: patients, events, log-rank, Harrell's C with CIs, integrated groups),
        ``classifiers`` (best per target with CI), ``subtype_validation`` (the validation of
        the subtype classifiers and the partition's stability in the folds: mean, min and max
        ARI), ``scored`` and ``mlflow`` (run id, status, URI, the command that opens it).
    """
    res = RunResults(*results, **named)
    layers = list(config["cohort"]["omics"])
    dropped = res.samples[res.samples["status"] != "kept"]
    per_layer = {
        layer: int(res.samples[f"in_{layer}"].astype(str).str.lower().eq("true").sum())
        for layer in layers
        if f"in_{layer}" in res.samples.columns
    }
    facts: dict = {
        "cohort": config["cohort"]["name"],
        "synthetic": "demo" in config,
        "demo": dict(config["demo"]) if "demo" in config else None,
        "config_sha256": config_digest(config),
        "output_dir": config.get("output_dir") or "results",
        "samples": {
            "seen": len(res.samples),
            "analysed": int(res.ingest["n_samples"]),
            "per_layer": per_layer,
            "in_common": int(res.ingest["n_samples"]),
            "dropped": {str(k): int(v) for k, v in dropped["reason"].value_counts().items()},
            "n_dropped": len(dropped),
            "with_survival": {e: int(m["n"]) for e, m in (res.survival or {}).items()},
        },
        "features": {
            layer: {
                "in": int(info["n_features_in"]),
                "used": int(info["n_features_out"]),
                "constant_dropped": len(info.get("constant_dropped") or []),
                "missing_dropped": len((info.get("missing") or {}).get("dropped_missing") or []),
                "select": (info.get("select") or {}).get("method"),
            }
            for layer, info in res.preprocess.items()
        },
        "subtypes": {
            "k": int(res.n_clusters["n_clusters"]),
            "why": res.n_clusters["why"],
            "sizes": [
                {"subtype": int(r.subtype), "name": str(r.name), "n": int(r.n)}
                for r in res.subtypes.itertuples()
            ],  # fmt: skip
            "pac": _num((res.n_clusters.get("pac") or {}).get(str(res.n_clusters["n_clusters"]))),
            "doubts": [
                {"rule": str(d["rule"]), "message": str(d["message"])}
                for d in res.n_clusters.get("doubts") or []
            ],  # fmt: skip
            "agreement": None
            if not res.agreement
            else {
                "ari": _num(res.agreement["ari"]),
                "nmi": _num(res.agreement["nmi"]),
                "n": int(res.agreement["n"]),
            },  # fmt: skip
            "suggested": []
            if res.suggested_names is None
            else [
                {"name": str(r.name), "suggested": str(r.suggested)}
                for r in res.suggested_names.itertuples()
            ],  # fmt: skip
        },
        "survival": {},
        "classifiers": [],
        "subtype_validation": None,
        "scored": {},
        "mlflow": None,
    }
    for endpoint, m in (res.survival or {}).items():
        entry = {
            "n": int(m["n"]),
            "events": int(m["events"]),
            "logrank_chisq": _num(m.get("logrank.chisq")),
            "logrank_p": _num(m.get("logrank.p")),
            "concordance": {
                p: c
                for p in ("crs", "crs_subtype", "clinical", "clinical_subtype", "subtype")
                if (c := _concordance(m, p)) is not None
            },
            "lr_subtype_p": _num(m.get("lr_subtype.p")),
            "integrated": None,
        }
        if "integrated.logrank.p" in m:
            lm, med = (res.integrated or {}).get(endpoint, (None, None))
            groups = _integrated(lm, med)
            entry["integrated"] = {
                "logrank_p": _num(m["integrated.logrank.p"]),
                "groups": groups,
                "landmark": _headline_landmark(groups),
            }
        facts["survival"][endpoint] = entry
    if res.classify_best is not None and len(res.classify_best):
        facts["classifiers"] = [
            {"target": str(r.target), "model": str(r.model), "feature_set": str(r.feature_set),
             "metric": str(r.metric), "estimate": _num(r.estimate), "ci_low": _num(r.ci_low),
             "ci_high": _num(r.ci_high),
             "classes_left_out": _left_out(r)}
            for r in res.classify_best.itertuples()
        ]  # fmt: skip
    stability = stability_facts(res.partition_stability)
    if stability is not None:
        from metpot.manifest import subtype_validation

        facts["subtype_validation"] = {
            "validation": subtype_validation(dict(config)),
            "stability": stability,
        }
    for name, s in (res.scored or {}).items():
        facts["scored"][name] = {
            "n_samples": s.get("n_samples"),
            "counts": dict(s.get("counts") or {}),
            "flags": dict(s.get("flags") or {}),
        }
    if res.run:
        uri = str(res.run["tracking_uri"])
        facts["mlflow"] = {
            "run_id": res.run["run_id"],
            "experiment_id": res.run.get("experiment_id"),
            "status": res.run.get("status"),
            "tracking_uri": uri,
            "command": f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite:") else "",
            "url": "" if uri.startswith("sqlite:") else uri,
        }
    return facts
