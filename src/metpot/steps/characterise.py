"""Step ``characterise``: differential features and gene-set scores per subtype."""

from __future__ import annotations

import logging

import pandas as pd

from metpot.config import schema_default
from metpot.errors import MetpotError
from metpot.steps._common import layers, subtypes

log = logging.getLogger("metpot")


def run(cfg: dict, inputs: dict, **_) -> dict:
    """Differential features per layer, top markers, gene-set scores and suggested names."""
    from metpot import characterise as ch
    from metpot.config import layer_preprocess
    from metpot.manifest import characterise_layer, gene_sets
    from metpot.plots import gene_set_plot, marker_heatmap

    top_n, fdr = ch.settings(cfg.get("characterise"))
    subtype, names = subtypes(inputs)
    frames = layers(inputs)
    analysed, tables = {}, []
    for layer, X in frames.items():
        transform = layer_preprocess(cfg, layer).get(
            "transform", schema_default("preprocess.transform")
        )
        X = ch.analysed_layer(X, transform, layer)
        analysed[layer] = X
        tables.append(ch.differential_features(X, subtype, layer, names))
    top = ch.top_features(pd.concat(tables, ignore_index=True), top_n, fdr)
    sets, sets_result = gene_sets(cfg), None
    if sets:
        layer = characterise_layer(cfg)
        if layer not in analysed:
            raise MetpotError(f"config: characterise.layer: no omics layer named {layer!r}")
        scores = ch.gene_set_scores(analysed[layer], sets, layer)
        tests = ch.gene_set_tests(scores, subtype, names)
        sets_result = (layer, scores, tests, ch.suggest_names(tests, fdr))
    metrics: dict = {"fdr": fdr, "top": top_n}
    out: dict = {}
    for layer, table in zip(frames, tables, strict=True):
        out[f"differential_{layer}"] = table
        metrics[f"{layer}.n_tested"] = int(table["feature"].nunique())
        for k, g in table.groupby("subtype"):
            passing = g[g["fdr"] < fdr]
            metrics[f"{layer}.subtype{k}.n_up"] = int((passing["direction"] == "up").sum())
            metrics[f"{layer}.subtype{k}.n_down"] = int((passing["direction"] == "down").sum())
        out[f"heatmap_{layer}"] = marker_heatmap(
            analysed[layer],
            subtype,
            top[top["layer"] == layer],
            names,
            f"{layer}: top {top_n} features up in each subtype (FDR < {fdr:g})",
            f"no feature of {layer} is higher in a subtype at FDR < {fdr:g}",
        )
    out["top_features"] = top
    if sets_result is not None:
        layer, scores, tests, suggested = sets_result
        out["gene_set_scores"] = scores.rename_axis("sample_id").reset_index()
        out["gene_set_tests"] = tests
        out["suggested_names"] = suggested
        title = f"Gene-set scores by subtype ({layer}; * one-vs-rest FDR < {fdr:g})"
        out["gene_sets"] = gene_set_plot(scores, subtype, tests, names, fdr, title)
        for r in suggested.itertuples():
            metrics[f"suggested.subtype{r.subtype}"] = r.suggested
        kw = tests[tests["test"] == "kruskal_wallis"]
        metrics.update({f"gene_set.{r.gene_set}.kruskal_fdr": r.fdr for r in kw.itertuples()})
        log.info(
            "suggested names: %s",
            ", ".join(f"{r.name} -> {r.suggested}" for r in suggested.itertuples()),
        )
    out["metrics"] = metrics
    log.info("characterised %d subtypes on %s", subtype.nunique(), ", ".join(frames))
    return out
