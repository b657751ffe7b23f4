"""Steps ``consensus_chunk``, ``clusters``, ``sweep_point`` and ``sweep`` (``clusters.smk``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, warn_data
from metpot.step_io import many, need
from metpot.steps._common import (
    check_snf_settings,
    layers,
    progress,
    read_json,
    read_outcome,
    read_samples,
    snf_options,
    square,
    subtype_names,
)

log = logging.getLogger("metpot")


def _resample_chunk(cfg: dict, inputs: dict, resamples: range, name: str) -> pd.DataFrame:
    """The consensus resamples ``resamples``, each clustered at every k, as one table."""
    from metpot.consensus import cluster_resample, layer_distances, resample_indices

    snf, cons = cfg["snf"], cfg["clusters"]["consensus"]
    ks = list(cfg["clusters"]["candidates"])
    columns = ["resample", "sample_id", *[f"k{k}" for k in ks]]
    if not len(resamples):
        return pd.DataFrame(columns=columns)
    frames = layers(inputs)
    ids = next(iter(frames.values())).index
    views = [f.to_numpy() for f in frames.values()]
    indices = resample_indices(len(ids), cons["resamples"], cons["fraction"], cons["seed"])
    distances = layer_distances(views, snf["metric"])
    rows = []
    for done, r in enumerate(resamples, start=1):
        options = dict(snf_options(snf), precision=cons["precision"])
        labels = cluster_resample(
            views, indices[r], ks, **options, normalize=False, distances=distances
        )
        block = pd.DataFrame(labels.to_numpy(), columns=[f"k{k}" for k in labels.columns])
        block.insert(0, "sample_id", ids[labels.index.to_numpy()])
        block.insert(0, "resample", r)
        rows.append(block)
        progress(name, done, len(resamples))
    return pd.concat(rows, ignore_index=True)


def consensus_chunk(cfg: dict, inputs: dict, *, chunk: int, **_) -> dict:
    """Resamples ``chunk, chunk + n_chunks, ...`` of the consensus's first stage (all the
    resamples without a stopping check), each clustered at every k."""
    from metpot.manifest import consensus_first, n_consensus_chunks

    resamples = range(chunk, consensus_first(cfg), n_consensus_chunks(cfg))
    return {"chunk": _resample_chunk(cfg, inputs, resamples, f"chunk {chunk}")}


def consensus_more(cfg: dict, inputs: dict, *, chunk: int, **_) -> dict:
    """Resamples ``first + chunk, first + chunk + n_chunks, ...``: the rest of the consensus
    when the stopping check did not stop it (else an empty table)."""
    from metpot.manifest import consensus_first, n_consensus_more_chunks

    first, total = consensus_first(cfg), cfg["clusters"]["consensus"]["resamples"]
    resamples = range(first + chunk, total, n_consensus_more_chunks(cfg))
    if read_json(need(inputs, "stop"))["stop"]:
        log.info("the stopping check stopped the consensus at %d resamples: none run here", first)
        resamples = range(0)
    return {"chunk": _resample_chunk(cfg, inputs, resamples, f"more {chunk}")}


def consensus_stop(cfg: dict, inputs: dict, **_) -> dict:
    """Whether the consensus can stop after its first stage (:mod:`metpot.consensus_stop`)."""
    from metpot.clusters import cluster_number_estimates, resample_tables
    from metpot.consensus_stop import deciding_ks, pac_by_group, stop_decision

    ccfg = cfg["clusters"]
    fused = pd.read_parquet(need(inputs, "fused"))
    ks = [k for k in ccfg["candidates"] if k < len(fused)]
    estimates = cluster_number_estimates(fused.to_numpy(), ks, cfg["snf"]["variant"])
    deciding = deciding_ks(estimates, ccfg["n"])
    table = pd.concat([read_samples(f) for f in many(inputs, "chunks")])
    tables = resample_tables(table, fused.index, ks)
    if any(k not in ks for k in deciding):
        raise MetpotError(
            f"config: clusters.n = {ccfg['n']} is not among clusters.candidates below the "
            f"{len(fused)} samples: the consensus has no PAC of it"
        )
    first = pac_by_group(len(fused), tables, deciding, seed=ccfg["consensus"]["seed"])
    decision = stop_decision(
        first,
        estimates,
        ccfg["n"],
        ccfg["warn"]["pac"],
        ccfg["consensus"]["stop"]["tolerance"],
        ccfg["consensus"]["resamples"],
    )
    for c in decision["checks"]:
        log.info("stopping check, %s: %s (%s)", c["check"], c["message"],
                 "passed" if c["passed"] else "not passed")  # fmt: skip
    log.info(
        "consensus %s after %d of %d resamples",
        "stops" if decision["stop"] else "goes on",
        decision["resamples_run"],
        decision["resamples"],
    )
    return {"stop": decision}


def clusters(cfg: dict, inputs: dict, *, outputs=(), **_) -> dict:
    """The number of subtypes, assignments, names, consensus, agreement and their figures."""
    from metpot.clusters import agreement, cluster_network, input_order, k_doubts, subtype_table

    ccfg, snf = cfg["clusters"], cfg["snf"]
    fused = pd.read_parquet(need(inputs, "fused"))
    ids = fused.index
    ks = [k for k in ccfg["candidates"] if k < len(ids)]
    if not ks:
        raise MetpotError(f"config: clusters.candidates: every k is >= the {len(ids)} samples")
    chunk_files = many(inputs, "chunks")
    resamples = pd.concat([read_samples(f) for f in chunk_files]) if chunk_files else None
    res = cluster_network(fused.to_numpy(), ks, snf["variant"], ccfg["n"], resamples, ids)
    k, est, consensus = res["k"], res["estimates"], res["consensus"]
    labels = res["labels"]
    assignments = pd.DataFrame({"sample_id": ids, "subtype": labels[k]})
    signatures = cfg.get("subtypes", {}).get("signatures") or {}
    layer = pd.read_parquet(need(inputs, "layer")) if signatures else None
    subtypes = subtype_table(assignments.set_index("sample_id")["subtype"], layer, signatures)
    first = next(iter(cfg["cohort"]["omics"]))
    order = None
    if "samples" in inputs:  # the first layer's file order, for subtypes that are a block
        order = input_order(read_samples(inputs["samples"]), first)
    doubts = k_doubts(
        assignments.set_index("sample_id")["subtype"],
        k,
        ks,
        ccfg["n"],
        consensus["pac"].get(str(k)) if consensus else None,
        pac_max=ccfg["warn"]["pac"],
        min_size=ccfg["warn"]["min_size"],
        batch_chance=ccfg["warn"]["batch_chance"],
        order=order,
        order_name=f"the input file of layer {first}",
        names=subtype_names(subtypes),
    )
    for d in doubts:
        warn_data(f"doubt about the subtypes: {d['message']}")
    choice = {
        "n_clusters": k,
        "why": res["why"],
        "mode": ccfg["n"],
        "estimates": est,
        "candidates": res["scores"].to_dict(orient="records"),
        "doubts": doubts,
        "doubt_thresholds": dict(ccfg["warn"]),
    }
    metrics = {"n_clusters": k, "n_doubts": len(doubts)}
    metrics.update({f"estimate.{a}": b for a, b in est.items()})
    if "stop" in inputs:  # the consensus's stopping check (clusters.consensus.stop)
        stop = choice["consensus_stop"] = read_json(inputs["stop"])
        if stop["stop"]:
            choice["why"] += (
                f"; the consensus stopped after {stop['resamples_run']} of "
                f"{stop['resamples']} resamples, the PAC that decide k settled"
            )
    if consensus:
        choice["pac"] = consensus["pac"]
        choice["delta_area"] = consensus["delta_area"]
        metrics.update({f"pac.k{c}": consensus["pac"][str(c)] for c in ks})
        metrics["stability.mean"] = float(consensus["stability"][k].mean())
    agree = None
    if "truth" in inputs:
        truth = pd.read_csv(inputs["truth"], sep="\t", dtype=str).set_index("sample_id")["label"]
        agree = agreement(assignments.set_index("sample_id")["subtype"], truth)
        metrics.update({f"truth.{m}": agree[m] for m in ("ari", "nmi", "nmi_snftool")})
    out: dict = {
        "assignments": assignments,
        "assignments_all_k": pd.DataFrame({"sample_id": ids, **{f"k{c}": labels[c] for c in ks}}),
        "n_clusters": choice,
        "subtypes": subtypes,
    }
    if "consensus" in outputs:
        if consensus is None:
            raise MetpotError("consensus: the consensus chunks hold no resample")
        out["consensus"] = {
            key: v for key, v in consensus.items() if key not in ("matrix", "stability")
        }
        out["stability"] = pd.DataFrame(
            {"sample_id": ids, "subtype": labels[k], "stability": consensus["stability"][k]}
        )
        out["consensus_matrix"] = square(consensus["matrix"][k], ids)
    if agree is not None:
        out["confusion"] = agree.pop("confusion").reset_index()
        out["agreement"] = agree
    out.update(_cluster_figures(inputs, outputs, fused, assignments, subtypes, res, consensus))
    out.update(_consensus_per_k(outputs, consensus, k))
    out["metrics"] = metrics
    log.info("%d subtypes: %s", k, choice["why"])
    if agree:
        log.info("agreement with known labels: ARI %.3f, NMI %.3f", agree["ari"], agree["nmi"])
    return out


def _cluster_figures(inputs, outputs, fused, assignments, subtypes, res, consensus) -> dict:
    """The fused network by subtype, SNF's k criteria and (with resamples) the consensus CDF."""
    from metpot.clusters import consensus_silhouette
    from metpot.plots import (
        cluster_number_plot,
        consensus_cdf_plot,
        silhouette_plot,
        similarity_heatmap,
    )

    names = subtype_names(subtypes)
    labels, k = assignments["subtype"].to_numpy(), res["k"]
    out = {"fused_heatmap": similarity_heatmap(fused.to_numpy(), labels, names)}
    for key in [key for key in inputs if key.startswith("affinity_")]:
        layer = key.removeprefix("affinity_")
        W = pd.read_parquet(inputs[key]).loc[fused.index, fused.index].to_numpy()
        out[f"affinity_heatmap_{layer}"] = similarity_heatmap(W, labels, names, f"{layer} network")
    out["cluster_number"] = cluster_number_plot(res["scores"], k)
    if "consensus_cdf_svg" in outputs:
        out["consensus_cdf"] = consensus_cdf_plot(consensus, k)
        matrix = consensus["matrix"][k]
        title = f"Consensus matrix, k = {k}"
        out["consensus_heatmap"] = similarity_heatmap(
            matrix, labels, names, title, 1.0, "consensus index"
        )
        widths = consensus_silhouette(matrix, labels)
        out["silhouette"] = silhouette_plot(widths, labels, names, f"Silhouette, k = {k}")
    return out


def _consensus_per_k(outputs, consensus: dict | None, k: int) -> dict:
    """PAC per k (table, figure) and the consensus matrix of every k, each in its own order.

    Drawn from the matrices the clusters step already holds (no resample is recomputed); at
    most 1,000 samples are drawn (the same random subset for every k).
    """
    if "pac" not in outputs:
        return {}
    from metpot.clusters import consensus_display, pac_table
    from metpot.plots import consensus_matrices_plot, pac_plot

    table = pac_table(consensus, k)
    panels = {}
    for c, M in consensus["matrix"].items():
        pos, groups = consensus_display(M, c)
        panels[c] = (M[np.ix_(pos, pos)], groups)
    return {
        "pac": table,
        "pac_figure": pac_plot(table),
        "consensus_matrices": consensus_matrices_plot(
            panels, k, consensus["pac"], consensus.get("n_samples")
        ),
    }


def sweep_point(cfg: dict, inputs: dict, *, K: int, mu: float, t: int, **_) -> dict:
    """SNF, clustering and survival separation at one (K, mu, t) of the sweep."""
    from metpot.clusters import sweep_point as point_at

    frames = layers(inputs)
    ids = next(iter(frames.values())).index
    check_snf_settings({"K": K}, len(ids))
    main = read_samples(need(inputs, "assignments"), index_col="sample_id")["subtype"]
    time_ = event = None
    if "outcome" in inputs:
        outcome = read_outcome(inputs["outcome"], "os").reindex(ids)
        time_, event = outcome["time"].to_numpy(float), outcome["event"].fillna(False).to_numpy()
    point = point_at(
        [f.to_numpy() for f in frames.values()],
        K,
        mu,
        t,
        [k for k in cfg["clusters"]["candidates"] if k < len(ids)],
        cfg["snf"]["variant"],
        cfg["snf"]["metric"],
        reference=main.reindex(ids).to_numpy(),
        time=time_,
        event=event,
    )
    log.info("K=%d mu=%g t=%d: k = %d", K, mu, t, point["n_clusters"])
    return {"point": point}


def sweep(cfg: dict, inputs: dict, **_) -> dict:
    """One row per setting of the sweep."""
    table = pd.DataFrame([read_json(p) for p in many(inputs, "points")])
    table["sizes"] = table["sizes"].map(lambda v: "/".join(map(str, v)))
    return {"summary": table}
