"""The files of the analysis steps before the classifiers: the demo cohort, ingest,
preprocess, SNF, consensus, clusters, the clinical risk score, survival, the parameter sweep
and the characterisation of the subtypes."""

from __future__ import annotations

import os

from metpot.config import (
    endpoints,
    has_clinical_model,
    has_crs,
    has_integrated_groups,
    has_truth,
    layer_preprocess,
)
from metpot.manifest._base import (
    Output,
    Report,
    StepFiles,
    _Builder,
    _rep,
    gene_sets,
    layers,
    n_consensus_chunks,
    n_consensus_more_chunks,
    subtype_layer,
)


def _demo(config: dict) -> StepFiles:
    """The demo cohort's files: where the config's cohort section reads them (so that
    ``--config output_dir=...`` finds them), else under ``<output_dir>/demo``."""
    b = _Builder(config, "demo")
    cohort = config.get("cohort") or {}
    named = {
        "mrna": ((cohort.get("omics") or {}).get("mrna") or {}).get("path"),
        "mirna": ((cohort.get("omics") or {}).get("mirna") or {}).get("path"),
        "clinical": (cohort.get("clinical") or {}).get("path"),
        "truth": cohort.get("truth"),
    }
    for key, name in (
        ("mrna", "mrna.tsv.gz"),
        ("mirna", "mirna.tsv.gz"),
        ("clinical", "clinical.tsv"),
        ("truth", "truth.tsv"),
    ):
        if named[key]:
            b.files.outputs[key] = Output(named[key], "patient")
        else:
            b.add(key, name, "patient")
    b.files.outputs["readme"] = Output(
        os.path.join(os.path.dirname(b.files.outputs["mrna"].path), "README.txt"), "text"
    )
    return b.files


def _ingest(config: dict) -> StepFiles:
    b = _Builder(config, "ingest")
    cohort = config["cohort"]
    b.files.inputs = {f"layer_{n}": s["path"] for n, s in cohort["omics"].items()}
    for name in layers(config):
        b.add(f"layer_{name}", f"{name}.parquet", "patient")
    b.add("samples", "samples.tsv", "patient")
    b.add("inputs", "inputs.json", "table")
    b.add("metrics", "metrics.json", "metrics")
    if cohort.get("clinical"):
        b.files.inputs["clinical"] = cohort["clinical"]["path"]
        b.add("clinical", "clinical.parquet", "patient")
    if endpoints(config):
        b.add("outcome", "outcome.tsv", "patient")
    if has_truth(config):
        b.files.inputs["truth"] = cohort["truth"]
        b.add("truth", "truth.tsv", "patient")
    return b.files


def _ingested(config: dict, key: str) -> str:
    return _ingest(config).outputs[key].path


def _preprocess(config: dict) -> StepFiles:
    b = _Builder(config, "preprocess")
    ingest = _ingest(config).outputs
    b.files.inputs = {f"layer_{n}": ingest[f"layer_{n}"].path for n in layers(config)}
    if "outcome" in ingest:
        b.files.inputs["outcome"] = ingest["outcome"].path
    for name in layers(config):
        b.add(f"layer_{name}", f"{name}.parquet", "patient")
        if layer_preprocess(config, name)["select"]["method"] == "cox":
            b.add(f"cox_{name}", f"{name}.cox.tsv", "table")
    b.add("summary", "summary.json", "table", _rep("Data", "preprocess", name="preprocessing"))
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def _preprocessed(config: dict) -> dict[str, str]:
    out = _preprocess(config).outputs
    return {f"layer_{n}": out[f"layer_{n}"].path for n in layers(config)}


def _numba_cache(config: dict) -> StepFiles:
    b = _Builder(config, "snf")
    b.add("kernels", "numba_cache.json", "temp")
    return b.files


def _kernels(config: dict) -> dict[str, str]:
    """The input that orders a job after :func:`_numba_cache` (the job loads numba's cache)."""
    return {"numba_cache": _numba_cache(config).outputs["kernels"].path}


def _snf(config: dict) -> StepFiles:
    b = _Builder(config, "snf")
    b.files.inputs = {**_preprocessed(config), **_kernels(config)}
    b.add("fused", "fused.parquet", "patient")
    for name in layers(config):
        b.add(f"affinity_{name}", f"affinity_{name}.parquet", "patient")
    b.add("params", "params.json", "params")
    return b.files


def _consensus_chunk(config: dict, chunk: int | str = "{chunk}") -> StepFiles:
    b = _Builder(config, "clusters/consensus")
    b.files.inputs = {**_preprocessed(config), **_kernels(config)}
    b.add("chunk", f"chunk_{chunk}.tsv", "temp")
    b.logs(f"consensus/chunk_{chunk}", f"consensus_chunk_{chunk}")
    return b.files


def _first_chunks(config: dict) -> list[str]:
    return [
        _consensus_chunk(config, c).outputs["chunk"].path for c in range(n_consensus_chunks(config))
    ]


def _consensus_stop(config: dict) -> StepFiles:
    """The check after the consensus's first stage (only when the run can stop early)."""
    b = _Builder(config, "clusters/consensus")
    b.files.inputs = {"fused": _snf(config).outputs["fused"].path, "chunks": _first_chunks(config)}
    b.add("stop", "stop.json", "table")
    b.logs("consensus/stop", "consensus_stop")
    return b.files


def _consensus_more(config: dict, chunk: int | str = "{chunk}") -> StepFiles:
    """One chunk of the resamples after the stopping check (empty when the check stopped)."""
    b = _Builder(config, "clusters/consensus")
    b.files.inputs = {
        **_preprocessed(config),
        **_kernels(config),
        "stop": _consensus_stop(config).outputs["stop"].path,
    }
    b.add("chunk", f"more_{chunk}.tsv", "temp")
    b.logs(f"consensus/more_{chunk}", f"consensus_more_{chunk}")
    return b.files


def _clusters(config: dict) -> StepFiles:
    b = _Builder(config, "clusters")
    b.files.inputs = {
        "fused": _snf(config).outputs["fused"].path,
        "layer": _ingested(config, f"layer_{subtype_layer(config)}"),
        "samples": _ingested(config, "samples"),  # the input order (a subtype as a block)
    }
    chunks = _first_chunks(config)
    more = [
        _consensus_more(config, c).outputs["chunk"].path
        for c in range(n_consensus_more_chunks(config))
    ]
    if more:
        b.files.inputs["stop"] = _consensus_stop(config).outputs["stop"].path
    if chunks:
        b.files.inputs["chunks"] = chunks + more
    if has_truth(config):
        b.files.inputs["truth"] = _ingested(config, "truth")
    snf = _snf(config).outputs
    for name in layers(config):  # per-layer networks, drawn ordered by subtype
        b.files.inputs[f"affinity_{name}"] = snf[f"affinity_{name}"].path
    b.add("assignments", "assignments.tsv", "patient")
    b.add("assignments_all_k", "assignments_all_k.tsv", "patient")
    b.add(
        "n_clusters",
        "n_clusters.json",
        "table",
        _rep("Subtypes", "n_clusters", name="choice of k"),
    )
    b.add("subtypes", "subtypes.tsv", "table", _rep("Subtypes", "subtypes", name="subtypes"))
    b.add("metrics", "metrics.json", "metrics")
    b.figure(
        "fused_heatmap", "fused_heatmap", _rep("Subtypes", "fused_heatmap", name="fused network")
    )
    for name in layers(config):
        b.figure(
            f"affinity_heatmap_{name}",
            f"affinity_heatmap_{name}",
            _rep("Subtypes", "affinity_heatmap", name=f"{name} network"),
        )
    b.figure(
        "cluster_number",
        "cluster_number",
        _rep("Subtypes", "cluster_number", name="eigen-gap and rotation cost"),
    )
    if chunks:
        b.add("consensus", "consensus.json", "table")
        b.add("stability", "stability.tsv", "patient")
        b.add("consensus_matrix", "consensus_matrix.parquet", "patient")
        b.figure(
            "consensus_cdf",
            "consensus_cdf",
            _rep("Subtypes", "consensus_cdf", name="consensus CDF"),
        )
        b.figure(
            "consensus_heatmap",
            "consensus_heatmap",
            _rep("Subtypes", "consensus_heatmap", name="consensus matrix"),
        )
        b.figure("silhouette", "silhouette", _rep("Subtypes", "silhouette", name="silhouette"))
        _consensus_per_k(b)
    if has_truth(config):
        b.add("agreement", "agreement.json", "table")
        b.add(
            "confusion", "confusion.tsv", "table", _rep("Subtypes", "confusion", name="confusion")
        )
    return b.files


def _consensus_per_k(b: _Builder) -> None:
    """The consensus of every candidate k: PAC table and figure, the matrices side by side."""
    b.add("pac", "pac.tsv", "table", _rep("Subtypes", "pac_table", name="PAC per k"))
    b.figure("pac_figure", "pac", _rep("Subtypes", "pac", name="PAC per k figure"))
    b.figure(
        "consensus_matrices",
        "consensus_matrices",
        _rep("Subtypes", "consensus_matrices", name="consensus matrix per k"),
    )


def _risk_score(config: dict) -> StepFiles:
    b = _Builder(config, "risk_score")
    b.files.inputs = {"clinical": _ingested(config, "clinical")}
    b.add("crs", "crs.tsv", "patient")
    b.add("summary", "summary.json", "table")
    b.add("metrics", "metrics.json", "metrics")
    return b.files


def _km(b: _Builder, prefix: str, figure: str, config: dict, endpoint: str) -> None:
    what = "integrated risk group" if prefix else "subtype"
    sub = f"Endpoint {endpoint}"

    def rep(caption: str, **labels: str) -> Report:
        return _rep("Survival", caption, sub, endpoint=endpoint, grouping=what, **labels)

    b.add(f"{prefix}km", f"{prefix}km.tsv", "table")
    b.add(f"{prefix}km_median", f"{prefix}km_median.tsv", "table", rep("km_median", kind="table"))
    if config["survival"]["landmarks_years"]:
        b.add(
            f"{prefix}km_landmarks",
            f"{prefix}km_landmarks.tsv",
            "table",
            rep("km_landmarks", kind="landmark table"),
        )
    b.figure(figure, figure, rep(figure, kind="Kaplan-Meier figure"))


def _survival(config: dict, endpoint: str = "{endpoint}") -> StepFiles:
    b = _Builder(config, f"survival/{endpoint}")
    clusters = _clusters(config).outputs
    b.files.inputs = {
        "assignments": clusters["assignments"].path,
        "subtypes": clusters["subtypes"].path,
        "outcome": _ingested(config, "outcome"),
    }
    if config["cohort"]["clinical"].get("covariates"):
        b.files.inputs["clinical"] = _ingested(config, "clinical")
    if has_crs(config):
        b.files.inputs["crs"] = _risk_score(config).outputs["crs"].path
    b.add("logrank", "logrank.json", "table")
    b.add("logrank_pairwise", "logrank_pairwise.tsv", "table")
    _km(b, "", "km_subtype", config, endpoint)
    b.add("cox_subtype", "cox_subtype.tsv", "table")
    b.add("cox_subtype_json", "cox_subtype.json", "table")
    if has_clinical_model(config):
        sub = f"Endpoint {endpoint}"
        b.add(
            "cox_multivariable",
            "cox_multivariable.tsv",
            "table",
            _rep("Survival", "cox_multivariable", sub, endpoint=endpoint, grouping="Cox model",
                 kind="table"),
        )  # fmt: skip
        b.add("cox_multivariable_json", "cox_multivariable.json", "table")
        b.add("cox_zph", "cox_zph.tsv", "table")
        b.add(
            "concordance",
            "concordance.tsv",
            "table",
            _rep("Survival", "concordance", sub, endpoint=endpoint, grouping="concordance",
                 kind="table"),
        )  # fmt: skip
        b.add("concordance_differences", "concordance_differences.tsv", "table")
        b.figure(
            "forest",
            "forest",
            _rep("Survival", "forest", sub, endpoint=endpoint, grouping="Cox model",
                 kind="forest plot"),
        )  # fmt: skip
    if has_integrated_groups(config):
        b.add("integrated_groups", "integrated_groups.tsv", "patient")
        b.add("integrated_cross", "integrated_cross.tsv", "table")
        b.add("integrated_logrank", "integrated_logrank.json", "table")
        _km(b, "integrated_", "km_integrated", config, endpoint)
    b.add("metrics", "metrics.json", "metrics")
    b.logs(f"survival_{endpoint}", f"survival_{endpoint}")
    return b.files


def sweep_points(config: dict) -> list[tuple[str, str, str]]:
    """The (K, mu, t) settings of ``sweep``, as strings (empty when there is no sweep)."""
    sweep = config.get("sweep")
    if not sweep:
        return []
    return [
        (str(K), f"{mu:g}", str(t)) for K in sweep["K"] for mu in sweep["mu"] for t in sweep["t"]
    ]


def _sweep_point(config: dict, K: str = "{K}", mu: str = "{mu}", t: str = "{t}") -> StepFiles:
    b = _Builder(config, "sweep/points")
    b.files.inputs = dict(_preprocessed(config))
    b.files.inputs["assignments"] = _clusters(config).outputs["assignments"].path
    if endpoints(config):
        b.files.inputs["outcome"] = _ingested(config, "outcome")
    b.add("point", f"K{K}_mu{mu}_t{t}.json", "table")
    b.logs(f"sweep/K{K}_mu{mu}_t{t}", f"sweep/K{K}_mu{mu}_t{t}")
    return b.files


def _sweep(config: dict) -> StepFiles:
    b = _Builder(config, "sweep")
    b.files.inputs = {
        "points": [_sweep_point(config, *p).outputs["point"].path for p in sweep_points(config)]
    }
    b.add("summary", "summary.tsv", "table", _rep("Subtypes", "sweep", name="SNF parameter sweep"))
    return b.files


def _characterise(config: dict) -> StepFiles:
    b = _Builder(config, "characterise")
    clusters = _clusters(config).outputs
    b.files.inputs = {f"layer_{n}": _ingested(config, f"layer_{n}") for n in layers(config)}
    b.files.inputs["assignments"] = clusters["assignments"].path
    b.files.inputs["subtypes"] = clusters["subtypes"].path
    sub = "Characterisation"
    for name in layers(config):
        b.add(f"differential_{name}", f"differential_{name}.tsv", "table")
        b.figure(
            f"heatmap_{name}",
            f"heatmap_{name}",
            _rep("Subtypes", "characterise_heatmap", sub, name=f"{name} top features"),
        )
    b.add(
        "top_features",
        "top_features.tsv",
        "table",
        _rep("Subtypes", "characterise_top", sub, name="top differential features"),
    )
    if gene_sets(config):
        b.add("gene_set_scores", "gene_set_scores.tsv", "patient")
        b.add(
            "gene_set_tests",
            "gene_set_tests.tsv",
            "table",
            _rep("Subtypes", "characterise_tests", sub, name="gene-set tests"),
        )
        b.add(
            "suggested_names",
            "suggested_names.tsv",
            "table",
            _rep("Subtypes", "characterise_names", sub, name="suggested names"),
        )
        b.figure(
            "gene_sets",
            "gene_sets",
            _rep("Subtypes", "characterise_gene_sets", sub, name="gene-set scores"),
        )
    b.add("metrics", "metrics.json", "metrics")
    return b.files
