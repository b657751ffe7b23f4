"""The ``metpot`` command line: ``validate``, ``run``, and one subcommand per workflow step.

Each step subcommand reads its files, calls the science modules and writes its files. Which
files those are is defined once, in :mod:`metpot.manifest`: the workflow's rules pass every
file explicitly (``--input KEY=PATH``, ``--output KEY=PATH``); by hand,
``metpot <step> --config my.yaml`` takes them from the manifest under ``output_dir``. A step
writes every declared output and nothing else, and only after everything is computed, so a
user error leaves no partial output. User errors print one line and exit with status 1; data
warnings print one line each and the run goes on. With ``--log``, progress goes to the log
file only and warnings and errors also to the terminal; on an error a record
``<log>.failed.json`` (step, error, log) is left for tracking.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from metpot.errors import DataWarning, MetpotError, name_list, warn_data

log = logging.getLogger("metpot")

FAILURE_SUFFIX = ".failed.json"


# --------------------------------------------------------------------------- step files


class StepIO:
    """The declared inputs and outputs of one step, and the writers that honour them.

    Every output is written through this object, atomically; writing an undeclared key, or
    finishing without writing a declared one, is an internal error (a broken contract, not
    a user mistake). On failure, :meth:`remove` deletes what was written.
    """

    def __init__(self, inputs: dict, outputs: dict[str, str]):
        self.inputs = inputs
        self.outputs = {k: Path(v) for k, v in outputs.items()}
        self.written: list[Path] = []

    def input(self, key: str) -> str:
        if key not in self.inputs:
            raise MetpotError(f"missing input {key!r} (give it with --input {key}=PATH)")
        return self.inputs[key]

    def inputs_list(self, key: str) -> list[str]:
        value = self.inputs.get(key, [])
        return [value] if isinstance(value, str) else list(value)

    def path(self, key: str) -> Path:
        if key not in self.outputs:
            raise RuntimeError(f"output {key!r} is not declared for this step")
        path = self.outputs[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(path)
        return path

    def tsv(self, key: str, frame: pd.DataFrame) -> None:
        from metpot.io import write_tsv

        write_tsv(frame, self.path(key))

    def json(self, key: str, obj) -> None:
        from metpot.io import write_json

        write_json(obj, self.path(key))

    def parquet(self, key: str, frame: pd.DataFrame) -> None:
        from metpot.io import write_parquet

        write_parquet(frame, self.path(key))

    def text(self, key: str, text: str) -> None:
        from metpot.io import write_text

        write_text(text, self.path(key))

    def figure(self, key: str, fig) -> None:
        from metpot.manifest import FIGURE_FORMATS
        from metpot.plots import save_figure

        paths = {fmt: self.path(f"{key}_{fmt}") for fmt in FIGURE_FORMATS}
        save_figure(fig, paths["svg"].with_suffix(""))
        for fmt, p in paths.items():
            if p != paths["svg"].with_suffix(f".{fmt}"):
                raise RuntimeError(f"figure {key}: {p} is not beside {paths['svg']}")

    def check_complete(self) -> None:
        missing = [k for k, p in self.outputs.items() if p not in self.written]
        if missing:
            raise RuntimeError(f"declared output(s) not written: {', '.join(missing)}")

    def remove(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)


def _pairs(items: list[str] | None, option: str) -> dict:
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise MetpotError(f"{option} {item!r}: expected KEY=PATH")
        if key in out:
            out[key] = [*([out[key]] if isinstance(out[key], str) else out[key]), value]
        else:
            out[key] = value
    return out


def _step_io(step: str, cfg: dict, args: argparse.Namespace, **wildcards) -> StepIO:
    """The files of a step: as the rule passed them, else the manifest's under output_dir."""
    inputs = _pairs(args.input, "--input")
    outputs = _pairs(args.output, "--output")
    if not outputs:
        from metpot.manifest import step as manifest_step

        files = manifest_step(step, cfg, **wildcards)
        inputs = {**files.inputs, **inputs}
        outputs = files.output_paths()
    for key, value in outputs.items():
        if not isinstance(value, str):
            raise MetpotError(f"--output {key} given more than once")
    return StepIO(inputs, outputs)


def _config(args: argparse.Namespace) -> dict:
    """The config of a step: a user's YAML (validated, defaulted), or the resolved config the
    rules write as a ``.json`` file (or give as JSON text)."""
    from metpot.config import load_config, read_config_json

    if args.config is None:
        raise MetpotError("--config: give your config file (YAML), e.g. --config my.yaml")
    text = args.config
    if text.lstrip().startswith("{"):
        return json.loads(text)  # the resolved (validated) config as text
    if text.endswith(".json"):
        return read_config_json(text)  # the rules' file: the resolved (validated) config
    return load_config(text)


# --------------------------------------------------------------------------- logging


def _setup_logging(command: str, log_path: str | None) -> None:
    fmt = logging.Formatter(f"metpot {command}: %(levelname)s: %(message)s")
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    # With a log file (a workflow job), progress stays in the file so parallel jobs do not
    # interleave on the terminal; warnings and errors are shown on both.
    stream.setLevel(logging.WARNING if log_path else logging.INFO)
    log.addHandler(stream)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w")
        handler.setFormatter(fmt)
        log.addHandler(handler)

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            log.warning(str(message))
        else:
            log.debug("%s: %s (%s:%s)", category.__name__, message, filename, lineno)

    warnings.showwarning = show
    warnings.simplefilter("always", DataWarning)


def _progress(what: str, done: int, total: int) -> None:
    """A progress bar on a terminal (by hand); a log line every 10 steps otherwise."""
    if sys.stderr.isatty() and not any(isinstance(h, logging.FileHandler) for h in log.handlers):
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        print(
            f"\r{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )
    elif done % 10 == 0 or done == total:
        log.info("%s: %d/%d resamples clustered", what, done, total)


# --------------------------------------------------------------------------- helpers


def read_samples(path: str | Path, **kwargs) -> pd.DataFrame:
    """A per-sample TSV written by a step, with sample ids kept as strings (``0001``)."""
    return pd.read_csv(path, sep="\t", dtype={"sample_id": str}, **kwargs)


def read_outcome(path: str | Path, endpoint: str = "os") -> pd.DataFrame:
    """``time`` (years) and ``event`` of the patients with usable survival for an endpoint."""
    table = read_samples(path, index_col="sample_id")
    cols = [f"{endpoint}_years", f"{endpoint}_event"]
    if cols[0] not in table.columns:
        raise MetpotError(f"{path}: no {endpoint.upper()} columns ({cols[0]})")
    table = table[cols].dropna()
    table.columns = ["time", "event"]
    table["event"] = table["event"].astype(bool)
    return table


def _subtypes(io: StepIO) -> tuple[pd.Series, dict[int, str]]:
    """The ``assignments`` input (subtype 1..k by sample id) and the ``subtypes`` names."""
    subtype = read_samples(io.input("assignments"), index_col="sample_id")["subtype"]
    table = pd.read_csv(io.input("subtypes"), sep="\t")
    names = dict(zip(table["subtype"].astype(int), table["name"].astype(str), strict=True))
    return subtype, names


def _layers(io: StepIO) -> dict[str, pd.DataFrame]:
    """The ``layer_<name>`` inputs, in order, checked to share their samples."""
    frames = {
        key.removeprefix("layer_"): pd.read_parquet(path)
        for key, path in io.inputs.items()
        if key.startswith("layer_")
    }
    if not frames:
        raise MetpotError("no omics layer given (--input layer_<name>=PATH)")
    first = next(iter(frames.values())).index
    for key, frame in frames.items():
        if not frame.index.equals(first):
            raise MetpotError(f"{io.inputs['layer_' + key]}: samples differ from the other layers")
    return frames


def _snf_options(snf: dict) -> dict:
    """The SNF settings of the config as keyword arguments (the layers are already scaled)."""
    return {key: snf[key] for key in ("K", "mu", "t", "variant", "metric")}


def _check_snf_settings(snf: dict, n_samples: int) -> None:
    if snf["K"] >= n_samples:
        raise MetpotError(
            f"config: snf.K = {snf['K']} must be smaller than the number of samples ({n_samples})"
        )


def _square(matrix, ids) -> pd.DataFrame:
    return pd.DataFrame(matrix, index=pd.Index(ids, name="sample_id"), columns=list(ids))


# --------------------------------------------------------------------------- step commands


def cmd_demo_cohort(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.simulate import simulate_cohort

    demo = cfg["demo"]
    cohort = simulate_cohort(n_patients=demo["n_patients"], seed=demo["seed"])
    _write_cohort(cohort, io)
    log.info("wrote a SYNTHETIC demo cohort of %d patients", len(cohort["truth"]))


def cmd_simulate(args: argparse.Namespace) -> int:
    """``metpot simulate``: a synthetic cohort's files, to try metpot without data of one's own."""
    from metpot.manifest import step
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n_patients=args.n_patients, seed=args.seed)
    files = step("demo_cohort", {"output_dir": "."})
    paths = {k: str(Path(args.out_dir) / Path(o.path).name) for k, o in files.outputs.items()}
    _write_cohort(cohort, StepIO({}, paths))
    print(f"wrote a SYNTHETIC cohort of {args.n_patients} patients to {args.out_dir}/")
    return 0


def _write_cohort(cohort: dict, io: StepIO) -> None:
    # level 1: 4x faster to write than the default 9 (8 s at N = 1,000), 25% larger files
    gz = {"method": "gzip", "mtime": 0, "compresslevel": 1}
    for layer in ("mrna", "mirna"):
        frame = cohort[layer]
        frame.index.name = "feature"
        frame.to_csv(
            io.path(layer), sep="\t", float_format="%.6f", compression=gz, lineterminator="\n"
        )
    cohort["clinical"].to_csv(io.path("clinical"), sep="\t", index=False, lineterminator="\n")
    cohort["truth"].to_csv(io.path("truth"), sep="\t", index=False, lineterminator="\n")
    io.text("readme", cohort["readme"])


def cmd_ingest(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.ingest import input_summary, load_cohort, outcome_table

    cohort_cfg = json.loads(json.dumps(cfg["cohort"]))
    for key, path in io.inputs.items():  # the files the rule passed
        if key.startswith("layer_"):
            cohort_cfg["omics"][key.removeprefix("layer_")]["path"] = path
        elif key == "clinical":
            cohort_cfg["clinical"]["path"] = path
        elif key == "truth":
            cohort_cfg["truth"] = path
    cohort = load_cohort(cohort_cfg)
    clinical_cfg = cohort_cfg.get("clinical") or {}
    outcome = None
    if cohort.clinical is not None and clinical_cfg.get("time"):
        outcome = outcome_table(cohort.clinical, clinical_cfg)
    files = input_summary(cohort_cfg, cohort)
    n_kept = int((cohort.samples["status"] == "kept").sum())
    metrics = {"n_samples": n_kept, "n_dropped": int(len(cohort.samples) - n_kept)}
    metrics.update({f"n_features.{n}": int(f.shape[1]) for n, f in cohort.layers.items()})
    if outcome is not None:
        metrics["n_with_survival"] = int(outcome["os_years"].notna().sum())
    for name, frame in cohort.layers.items():
        io.parquet(f"layer_{name}", frame)
    io.tsv("samples", cohort.samples)
    if "clinical" in io.outputs:
        io.parquet("clinical", cohort.clinical)
    if "outcome" in io.outputs:
        io.tsv("outcome", outcome.reset_index())
    if "truth" in io.outputs:
        io.tsv("truth", cohort.truth)
    io.json("inputs", files)
    io.json("metrics", metrics)
    log.info(
        "ingested %d samples x %s",
        n_kept,
        ", ".join(f"{n}: {f.shape[1]} features" for n, f in cohort.layers.items()),
    )


def cmd_preprocess(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.config import layer_preprocess
    from metpot.preprocess import preprocess_layer

    survival = read_outcome(io.input("outcome"), "os") if "outcome" in io.inputs else None
    results, summary = {}, {}
    for layer, X in _layers(io).items():
        settings = layer_preprocess(cfg, layer)
        X, info = preprocess_layer(X, settings, survival, layer)
        results[layer] = (X, info.pop("cox_table", None))
        summary[layer] = {"settings": settings, **info}
        if settings["select"]["method"] == "cox":
            summary[layer]["note"] = (
                "features were selected by their association with survival: survival "
                "differences between subtypes found on them are optimistic (circular)"
            )
    for layer, (X, cox_table) in results.items():
        io.parquet(f"layer_{layer}", X)
        if cox_table is not None:
            io.tsv(f"cox_{layer}", cox_table)
    io.json("summary", summary)
    io.json("metrics", {f"n_features.{k}": v["n_features_out"] for k, v in summary.items()})
    for layer, info in summary.items():
        log.info("%s: %d -> %d features", layer, info["n_features_in"], info["n_features_out"])


def cmd_snf(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.snf import snf_pipeline

    snf = cfg["snf"]
    frames = _layers(io)
    ids = next(iter(frames.values())).index
    _check_snf_settings(snf, len(ids))
    affinities, fused = snf_pipeline(
        [f.to_numpy() for f in frames.values()], **_snf_options(snf), normalize=False
    )
    for layer, W in zip(frames, affinities, strict=True):
        io.parquet(f"affinity_{layer}", _square(W, ids))
    io.parquet("fused", _square(fused, ids))
    params = {**snf, "n_samples": len(ids)}
    params.update({f"n_features.{k}": int(v.shape[1]) for k, v in frames.items()})
    io.json("params", params)
    log.info("fused %d layers over %d samples (%s)", len(frames), len(ids), snf["variant"])


def cmd_consensus_chunk(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.consensus import cluster_resample, layer_distances, resample_indices
    from metpot.manifest import n_consensus_chunks

    snf, cons = cfg["snf"], cfg["clusters"]["consensus"]
    frames = _layers(io)
    ids = next(iter(frames.values())).index
    views = [f.to_numpy() for f in frames.values()]
    ks = list(cfg["clusters"]["candidates"])
    chunk = range(args.chunk, cons["resamples"], n_consensus_chunks(cfg))
    indices = resample_indices(len(ids), cons["resamples"], cons["fraction"], cons["seed"])
    distances = layer_distances(views, snf["metric"]) if len(chunk) else None
    rows = []
    for done, r in enumerate(chunk, start=1):
        options = dict(_snf_options(snf), precision=cons["precision"])
        labels = cluster_resample(
            views, indices[r], ks, **options, normalize=False, distances=distances
        )
        block = pd.DataFrame(labels.to_numpy(), columns=[f"k{k}" for k in labels.columns])
        block.insert(0, "sample_id", ids[labels.index.to_numpy()])
        block.insert(0, "resample", r)
        rows.append(block)
        _progress(f"chunk {args.chunk}", done, len(chunk))
    columns = ["resample", "sample_id", *[f"k{k}" for k in ks]]
    io.tsv("chunk", pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns))


def cmd_clusters(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.clusters import agreement, cluster_network, input_order, k_doubts, subtype_table

    ccfg, snf = cfg["clusters"], cfg["snf"]
    fused = pd.read_parquet(io.input("fused"))
    ids = fused.index
    ks = [k for k in ccfg["candidates"] if k < len(ids)]
    if not ks:
        raise MetpotError(f"config: clusters.candidates: every k is >= the {len(ids)} samples")
    chunk_files = io.inputs_list("chunks")
    resamples = pd.concat([read_samples(f) for f in chunk_files]) if chunk_files else None
    res = cluster_network(fused.to_numpy(), ks, snf["variant"], ccfg["n"], resamples, ids)
    k, est, consensus = res["k"], res["estimates"], res["consensus"]
    labels = res["labels"]
    assignments = pd.DataFrame({"sample_id": ids, "subtype": labels[k]})
    signatures = cfg.get("subtypes", {}).get("signatures") or {}
    layer = pd.read_parquet(io.input("layer")) if signatures else None
    subtypes = subtype_table(assignments.set_index("sample_id")["subtype"], layer, signatures)
    first = next(iter(cfg["cohort"]["omics"]))
    order = None
    if "samples" in io.inputs:  # the first layer's file order, for subtypes that are a block
        order = input_order(read_samples(io.input("samples")), first)
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
        names=dict(zip(subtypes["subtype"], subtypes["name"].astype(str), strict=True)),
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
    if consensus:
        choice["pac"] = consensus["pac"]
        choice["delta_area"] = consensus["delta_area"]
        metrics.update({f"pac.k{c}": consensus["pac"][str(c)] for c in ks})
        metrics["stability.mean"] = float(consensus["stability"][k].mean())
    agree = None
    if "truth" in io.inputs:
        truth = pd.read_csv(io.input("truth"), sep="\t", dtype=str).set_index("sample_id")["label"]
        agree = agreement(assignments.set_index("sample_id")["subtype"], truth)
        metrics.update({f"truth.{m}": agree[m] for m in ("ari", "nmi", "nmi_snftool")})
    io.tsv("assignments", assignments)
    io.tsv(
        "assignments_all_k", pd.DataFrame({"sample_id": ids, **{f"k{c}": labels[c] for c in ks}})
    )
    io.json("n_clusters", choice)
    io.tsv("subtypes", subtypes)
    if "consensus" in io.outputs:
        if consensus is None:
            raise MetpotError("consensus: the consensus chunks hold no resample")
        io.json(
            "consensus",
            {key: v for key, v in consensus.items() if key not in ("matrix", "stability")},
        )
        stab = pd.DataFrame(
            {"sample_id": ids, "subtype": labels[k], "stability": consensus["stability"][k]}
        )
        io.tsv("stability", stab)
        io.parquet("consensus_matrix", _square(consensus["matrix"][k], ids))
    if agree is not None:
        io.tsv("confusion", agree.pop("confusion").reset_index())
        io.json("agreement", agree)
    _write_cluster_figures(io, fused, assignments, subtypes, res, consensus)
    _write_consensus_per_k(io, consensus, k)
    io.json("metrics", metrics)
    log.info("%d subtypes: %s", k, res["why"])
    if agree:
        log.info("agreement with known labels: ARI %.3f, NMI %.3f", agree["ari"], agree["nmi"])


def _write_cluster_figures(io, fused, assignments, subtypes, res, consensus) -> None:
    """The fused network by subtype, SNF's k criteria and (with resamples) the consensus CDF."""
    from metpot.clusters import consensus_silhouette
    from metpot.plots import (
        cluster_number_plot,
        consensus_cdf_plot,
        silhouette_plot,
        similarity_heatmap,
    )

    names = dict(zip(subtypes["subtype"], subtypes["name"].astype(str), strict=True))
    labels, k = assignments["subtype"].to_numpy(), res["k"]
    io.figure("fused_heatmap", similarity_heatmap(fused.to_numpy(), labels, names))
    for key in [key for key in io.inputs if key.startswith("affinity_")]:
        layer = key.removeprefix("affinity_")
        W = pd.read_parquet(io.input(key)).loc[fused.index, fused.index].to_numpy()
        fig = similarity_heatmap(W, labels, names, f"{layer} network")
        io.figure(f"affinity_heatmap_{layer}", fig)
    io.figure("cluster_number", cluster_number_plot(res["scores"], k))
    if "consensus_cdf_svg" in io.outputs:
        io.figure("consensus_cdf", consensus_cdf_plot(consensus, k))
        matrix = consensus["matrix"][k]
        title = f"Consensus matrix, k = {k}"
        fig = similarity_heatmap(matrix, labels, names, title, 1.0, "consensus index")
        io.figure("consensus_heatmap", fig)
        widths = consensus_silhouette(matrix, labels)
        io.figure("silhouette", silhouette_plot(widths, labels, names, f"Silhouette, k = {k}"))


def _write_consensus_per_k(io: StepIO, consensus: dict | None, k: int) -> None:
    """PAC per k (table, figure) and the consensus matrix of every k, each in its own order.

    Drawn from the matrices the clusters step already holds (no resample is recomputed); at
    most 1,000 samples are drawn (the same random subset for every k).
    """
    if "pac" not in io.outputs:
        return
    from metpot.clusters import consensus_display, pac_table
    from metpot.plots import consensus_matrices_plot, pac_plot

    table = pac_table(consensus, k)
    io.tsv("pac", table)
    io.figure("pac_figure", pac_plot(table))
    panels = {}
    for c, M in consensus["matrix"].items():
        pos, clusters = consensus_display(M, c)
        panels[c] = (M[np.ix_(pos, pos)], clusters)
    fig = consensus_matrices_plot(panels, k, consensus["pac"], consensus.get("n_samples"))
    io.figure("consensus_matrices", fig)


def cmd_risk_score(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.risk_score import fong_score

    crs = dict(cfg["crs"])
    clinical = pd.read_parquet(io.input("clinical"))
    cutoff = crs.pop("high_cutoff", 3)
    score_col = crs.pop("score", None)
    try:
        result = fong_score(clinical, high_cutoff=cutoff, score_col=score_col, **crs)
    except MetpotError as exc:
        raise MetpotError(f"{cfg['cohort']['clinical']['path']}: {exc}") from None
    scores = result["scores"]
    scores.index.name = "sample_id"
    metrics = {
        "n_scored": len(scores),
        "n_excluded": result["n_excluded"],
        "n_high": int((scores["crs_group"] == "high").sum()),
        "n_low": int((scores["crs_group"] == "low").sum()),
        "high_cutoff": cutoff,
    }
    io.tsv("crs", scores.reset_index())
    io.json("summary", {**metrics, "excluded": result["excluded"]})
    io.json("metrics", metrics)
    log.info(
        "risk score of %d patients (%d high), %d left out for missing factors",
        len(scores),
        metrics["n_high"],
        result["n_excluded"],
    )


def cmd_survival(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.config import preset_warnings
    from metpot.outcomes import analyse_endpoint
    from metpot.risk_score import integrated_table

    endpoint = args.endpoint
    scfg = cfg["survival"]
    clinical_cfg = cfg["cohort"]["clinical"]
    subtype, names = _subtypes(io)
    crs = covariates = integrated = None
    if "crs" in io.inputs:
        crs = read_samples(io.input("crs"), index_col="sample_id")
        if "integrated_groups" in io.outputs:
            integrated = integrated_table(scfg["integrated_groups"])
            for line in preset_warnings(cfg):  # also at validation; here in the step's log
                warn_data(line)
    if clinical_cfg.get("covariates"):
        clinical = pd.read_parquet(io.input("clinical"))
        covariates = clinical[clinical_cfg["covariates"]].apply(pd.to_numeric, errors="coerce")
    outcome = read_outcome(io.input("outcome"), endpoint)
    res = analyse_endpoint(
        outcome["time"],
        outcome["event"],
        subtype,
        names,
        crs,
        covariates,
        scfg["reference"],
        scfg["landmarks_years"],
        integrated,
        scfg["bootstrap"],
        scfg["cv_folds"],
        cfg.get("seed", 1),
    )
    _write_endpoint(io, endpoint.upper(), res, [names[k] for k in sorted(names)])
    io.json("metrics", res["metrics"])
    lr = res["logrank"]
    log.info(
        "%s: log-rank chi-square %.2f (df %d), p = %.3g over %d patients",
        endpoint.upper(),
        lr["chisq"],
        lr["df"],
        lr["p"],
        res["n"],
    )


TIME_LABEL = "Time (years)"


def _write_km(
    io: StepIO,
    prefix: str,
    figure: str,
    res: dict,
    data: pd.DataFrame,
    title: str,
    order: list | None = None,
):
    """KM tables (curve, landmarks, median) and the KM figure of one grouping.

    Subtypes are drawn in subtype order with the colours of the clusters figures; integrated
    risk groups low -> intermediate -> high with a sequential palette.
    """
    from metpot.plots import RISK_ORDER, km_plot, ordered_colors

    risk = prefix == "integrated_"  # low -> intermediate -> high, a sequential palette

    for key, suffix in (("km", ""), ("landmarks", "_landmarks"), ("median", "_median")):
        if key in res:
            io.tsv(f"{prefix}km{suffix}", res[key])
    fig = km_plot(
        data["time"].to_numpy(),
        data["event"].to_numpy(),
        data["group"].to_numpy(),
        logrank=res["logrank"],
        title=title,
        time_label=TIME_LABEL,
        order=RISK_ORDER if risk else order,
        colors=ordered_colors(len(RISK_ORDER)) if risk else None,
    )
    io.figure(figure, fig)


def _write_endpoint(io: StepIO, name: str, res: dict, subtype_order: list | None = None) -> None:
    """Every table and figure of one endpoint's analysis."""
    from metpot.plots import forest_plot

    keys = ("chisq", "df", "p", "n", "observed", "expected", "groups", "names")
    io.json("logrank", {k: res["logrank"][k] for k in keys})
    io.tsv("logrank_pairwise", res["pairwise"])
    _write_km(io, "", "km_subtype", res, res["data"], f"{name} by subtype", subtype_order)
    io.tsv("cox_subtype", res["cox_subtype"].table)
    io.json("cox_subtype_json", res["cox_subtype"].to_dict())
    if "cox_multivariable" in io.outputs:
        model = res["cox_multivariable"]
        io.tsv("cox_multivariable", model.table)
        io.json(
            "cox_multivariable_json",
            {
                "model": model.to_dict(),
                "reduced_model": res["cox_reduced"].to_dict(),
                "lr_test_adding_subtype": res["lr_subtype"],
            },
        )
        io.tsv("cox_zph", res["zph"].reset_index(names="term"))
        io.tsv("concordance", res["concordance"])
        io.tsv("concordance_differences", res["concordance_differences"])
        fig = forest_plot(model, title=f"{name}: Cox model (reference subtype {res['reference']})")
        io.figure("forest", fig)
    if "integrated_groups" in io.outputs:
        integ = res["integrated"]
        groups = integ["groups"].set_index("sample_id")
        io.tsv("integrated_groups", integ["groups"])
        io.tsv("integrated_cross", integ["cross_table"].reset_index())
        io.json("integrated_logrank", integ["logrank"])
        data = res["data"].loc[groups.index].assign(group=groups["risk_group"])
        title = f"{name} by integrated risk group"
        _write_km(io, "integrated_", "km_integrated", integ, data, title)


def cmd_sweep_point(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.clusters import sweep_point

    frames = _layers(io)
    ids = next(iter(frames.values())).index
    _check_snf_settings({"K": args.K}, len(ids))
    main = read_samples(io.input("assignments"), index_col="sample_id")["subtype"]
    time_ = event = None
    if "outcome" in io.inputs:
        outcome = read_outcome(io.input("outcome"), "os").reindex(ids)
        time_, event = outcome["time"].to_numpy(float), outcome["event"].fillna(False).to_numpy()
    point = sweep_point(
        [f.to_numpy() for f in frames.values()],
        args.K,
        args.mu,
        args.t,
        [k for k in cfg["clusters"]["candidates"] if k < len(ids)],
        cfg["snf"]["variant"],
        cfg["snf"]["metric"],
        reference=main.reindex(ids).to_numpy(),
        time=time_,
        event=event,
    )
    io.json("point", point)
    log.info("K=%d mu=%g t=%d: k = %d", args.K, args.mu, args.t, point["n_clusters"])


def cmd_sweep(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    points = [json.loads(Path(p).read_text()) for p in io.inputs_list("points")]
    table = pd.DataFrame(points)
    table["sizes"] = table["sizes"].map(lambda v: "/".join(map(str, v)))
    io.tsv("summary", table)


def cmd_characterise(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot import characterise as ch
    from metpot.config import layer_preprocess
    from metpot.manifest import characterise_layer, gene_sets
    from metpot.plots import gene_set_plot, marker_heatmap

    ccfg = {"top": 20, "fdr": 0.05, **(cfg.get("characterise") or {})}
    top_n, fdr = int(ccfg["top"]), float(ccfg["fdr"])
    subtype, names = _subtypes(io)
    frames = _layers(io)
    analysed, tables = {}, []
    for layer, X in frames.items():
        transform = layer_preprocess(cfg, layer).get("transform", "none")
        X = ch.analysed_layer(X, transform, layer)
        analysed[layer] = X
        tables.append(ch.differential_features(X, subtype, layer, names))
    top = ch.top_features(pd.concat(tables, ignore_index=True), top_n, fdr)
    sets, sets_result = gene_sets(cfg), None
    if sets:  # computed before anything is written: a bad gene set leaves no output
        layer = characterise_layer(cfg)
        if layer not in analysed:
            raise MetpotError(f"config: characterise.layer: no omics layer named {layer!r}")
        scores = ch.gene_set_scores(analysed[layer], sets, layer)
        tests = ch.gene_set_tests(scores, subtype, names)
        sets_result = (layer, scores, tests, ch.suggest_names(tests, fdr))
    metrics: dict = {"fdr": fdr, "top": top_n}
    for layer, table in zip(frames, tables, strict=True):
        io.tsv(f"differential_{layer}", table)
        metrics[f"{layer}.n_tested"] = int(table["feature"].nunique())
        for k, g in table.groupby("subtype"):
            passing = g[g["fdr"] < fdr]
            metrics[f"{layer}.subtype{k}.n_up"] = int((passing["direction"] == "up").sum())
            metrics[f"{layer}.subtype{k}.n_down"] = int((passing["direction"] == "down").sum())
        fig = marker_heatmap(
            analysed[layer],
            subtype,
            top[top["layer"] == layer],
            names,
            f"{layer}: top {top_n} features up in each subtype (FDR < {fdr:g})",
            f"no feature of {layer} is higher in a subtype at FDR < {fdr:g}",
        )
        io.figure(f"heatmap_{layer}", fig)
    io.tsv("top_features", top)
    if sets_result is not None:
        layer, scores, tests, suggested = sets_result
        io.tsv("gene_set_scores", scores.rename_axis("sample_id").reset_index())
        io.tsv("gene_set_tests", tests)
        io.tsv("suggested_names", suggested)
        title = f"Gene-set scores by subtype ({layer}; * one-vs-rest FDR < {fdr:g})"
        io.figure("gene_sets", gene_set_plot(scores, subtype, tests, names, fdr, title))
        for r in suggested.itertuples():
            metrics[f"suggested.subtype{r.subtype}"] = r.suggested
        kw = tests[tests["test"] == "kruskal_wallis"]
        metrics.update({f"gene_set.{r.gene_set}.kruskal_fdr": r.fdr for r in kw.itertuples()})
        log.info(
            "suggested names: %s",
            ", ".join(f"{r.name} -> {r.suggested}" for r in suggested.itertuples()),
        )
    io.json("metrics", metrics)
    log.info("characterised %d subtypes on %s", subtype.nunique(), ", ".join(frames))


def _classify_data(cfg: dict, io: StepIO) -> dict:
    """What every classify fit reads: layers, targets' sources, CRS, outcomes, checksums."""
    layers = _layers(io)
    subtypes = None
    if "assignments" in io.inputs:
        assign, names = _subtypes(io)
        subtypes = assign.map(names)
    clinical = pd.read_parquet(io.input("clinical")) if "clinical" in io.inputs else None
    endpoints = {}
    if "outcome" in io.inputs:
        for endpoint in ("os", "pfs"):
            try:
                endpoints[endpoint] = read_outcome(io.input("outcome"), endpoint)
            except MetpotError:
                continue
    crs = None
    if "crs" in io.inputs:
        crs = read_samples(io.input("crs"), index_col="sample_id")["crs"].astype(float)
    inputs = json.loads(Path(io.input("inputs")).read_text())
    cohort = {
        "name": cfg["cohort"]["name"],
        "checksums": {i["layer"]: i["sha256"] for i in inputs},
    }
    return {
        "layers": layers,
        "subtypes": subtypes,
        "clinical": clinical,
        "endpoints": endpoints,
        "crs": crs,
        "cohort": cohort,
    }


def cmd_classify_fit(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.classify import build_targets, fit_models
    from metpot.manifest import classify_config, classify_fit_jobs, fit_output_key
    from metpot.model_io import save_model

    ccfg = classify_config(cfg)
    if args.threads:  # the outer folds run in parallel up to the job's threads
        ccfg["n_jobs"] = args.threads
    jobs = {(t, fs): m for t, fs, m in classify_fit_jobs(cfg)}
    if (args.target, args.feature_set) not in jobs:
        raise MetpotError(
            f"no classify job for target {args.target!r} and feature set {args.feature_set!r} "
            f"in this config (jobs: {name_list(f'{t}/{fs}' for t, fs in jobs)})"
        )
    models = list(jobs[(args.target, args.feature_set)])
    data = _classify_data(cfg, io)
    targets = build_targets(
        [args.target],
        clinical=data["clinical"],
        subtypes=data["subtypes"],
        endpoints=data["endpoints"],
        landmark_years=ccfg["landmark_years"],
        time_unit="years",
        min_class_size=ccfg["min_class_size"],
    )
    target = targets[args.target]
    outcome = data["endpoints"].get("os") if target.kind == "categorical" else None
    fits = fit_models(
        target,
        models,
        args.feature_set,
        data["layers"],
        ccfg,
        crs=data["crs"],
        outcome=outcome,
        time_unit="years",
        cohort=data["cohort"],
    )
    for model, res in zip(models, fits, strict=True):
        _write_fit(io, res, lambda key, m=model: fit_output_key(m, key), save_model)


def _write_fit(io: StepIO, res: dict, key, save_model) -> None:
    """One model's files of a classify job (``key``: file key -> the job's output key)."""
    for name in ("rows", "fold_metrics", "best_params", "predictions", "folds"):
        io.tsv(key(name), res[name])
    features = res.get("features")
    io.tsv(key("features"), features if features is not None else pd.DataFrame())
    fields = ("target", "kind", "model", "feature_set", "landmark", "n_excluded", "excluded",
              "fit_warnings", "cox_not_converged")  # fmt: skip
    io.json(key("fit"), {k: res.get(k) for k in fields})
    card = res["card"]
    io.json(
        key("params"),
        {
            "target": res["target"],
            "model": res["model"],
            "feature_set": res["feature_set"],
            **(card.get("hyperparameters") or {}),
        },
    )
    rows = res["rows"]
    metrics = {}
    for r in rows.itertuples():
        metrics[r.metric] = r.estimate
        metrics[f"{r.metric}.ci_low"] = r.ci_low
        metrics[f"{r.metric}.ci_high"] = r.ci_high
    io.json(key("metrics"), metrics)
    save_model(res["final"], io.path(key("model")), card)
    io.path(key("card"))  # written beside the model by save_model
    log.info(
        "%s / %s / %s: %s",
        res["target"],
        res["model"],
        res["feature_set"],
        ", ".join(f"{r.metric} {r.estimate:.3f}" for r in rows.itertuples()),
    )


def _read_fit(io: StepIO, i: int) -> dict:
    """The i-th fit of the classify inputs, as :func:`metpot.classify.fit_one` returned it."""
    text = {"sample": str, "truth": str, "prediction": str, "target": str, "feature_set": str}

    def tsv(key):
        path = io.inputs_list(key)[i]
        if Path(path).stat().st_size <= 1:
            return pd.DataFrame()
        return pd.read_csv(path, sep="\t", dtype=text)

    fit = json.loads(Path(io.inputs_list("fit")[i]).read_text())
    out = dict(fit)
    for key in ("rows", "fold_metrics", "best_params", "predictions", "folds", "features"):
        out[key] = tsv(key)
    if out["features"].empty:
        out["features"] = None
    return out


def cmd_classify(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.classify import assemble
    from metpot.manifest import classify_config

    ccfg = classify_config(cfg)
    results = [_read_fit(io, i) for i in range(len(io.inputs_list("fit")))]
    out = assemble(results, ccfg)
    io.tsv("comparison", out["comparison"])
    io.tsv("vs_crs", out["vs_crs"])
    io.tsv("decision_curve", out["decision_curve"])
    io.tsv("best", out["best"])
    io.tsv("predictions", out["predictions"])
    io.tsv("folds", out["folds"])
    features = out["features"]
    for key in io.outputs:
        if key.startswith("features_"):
            target = key.removeprefix("features_")
            part = features[features["target"] == target] if len(features) else features
            io.tsv(key, part)
    if "vs_crs_figure_svg" in io.outputs:
        from metpot.plots import plot_vs_crs

        io.figure("vs_crs_figure", plot_vs_crs(out["vs_crs"]))
    if "decision_curve_figure_svg" in io.outputs:
        from metpot.plots import decision_curve_plot

        io.figure("decision_curve_figure", decision_curve_plot(out["decision_curve"]))
    _write_classify_report(cfg, ccfg, io, out, results)
    metrics = {}
    for r in out["best"].to_dict(orient="records"):
        for k, v in r.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                metrics[f"best.{r['target']}.{k}"] = v
    io.json("metrics", metrics)
    log.info("%d fits compared", len(results))


def _subtype_colours(io: StepIO) -> dict:
    """Subtype name -> the colour of the clusters figures (subtypes in subtype order)."""
    from metpot.plots import PALETTE

    if "subtypes" not in io.inputs:
        return {}
    table = pd.read_csv(io.input("subtypes"), sep="\t").sort_values("subtype")
    return {str(n): PALETTE[i % len(PALETTE)] for i, n in enumerate(table["name"])}


def _write_classify_report(cfg: dict, ccfg: dict, io: StepIO, out: dict, results: list) -> None:
    """Calibration of the out-of-fold probabilities; the compact signature as a heatmap."""
    if "calibration" not in io.outputs:
        return
    from metpot.classify import calibration_table, signature_matrix, signature_model
    from metpot.plots import calibration_plot, signature_heatmap

    kinds = {r["target"]: r["kind"] for r in results}
    preds = out["predictions"]
    table = calibration_table(preds, kinds, seed=int(ccfg["seed"]))
    io.tsv("calibration", table)
    colours = _subtype_colours(io)
    for key in [k for k in io.outputs if k.startswith("calibration_") and k.endswith("_svg")]:
        target = key.removeprefix("calibration_").removesuffix("_svg")
        part = table[table["target"] == target]
        labels = None
        if kinds.get(target) == "landmark":
            labels = {"1": f"event by {float(ccfg['landmark_years']):g} years"}
        fig = calibration_plot(
            part,
            preds[preds["target"] == target],
            colors=colours if target == "snf_subtype" else None,
            class_labels=labels,
            title=f"{target}: calibration of the out-of-fold probabilities (nested CV)",
        )
        io.figure(f"calibration_{target}", fig)
    signature = [k for k in io.outputs if k.startswith("signature_") and k.endswith("_svg")]
    if not signature:
        return
    layers = _layers(io)
    features = out["features"]
    for key in signature:
        target = key.removeprefix("signature_").removesuffix("_svg")
        model = signature_model(out["comparison"], kinds, target)
        rows = features[
            (features["target"] == target)
            & (features["model"] == model)
            & (features["feature_set"] == "signature")
        ]
        truth = preds[(preds["target"] == target) & (preds["model"] == model)]
        truth = truth.drop_duplicates("sample").set_index("sample")["truth"]
        classes = sorted(truth.unique(), key=str)
        if target == "snf_subtype" and colours:
            classes = [c for c in colours if c in set(truth)] + [
                c for c in classes if c not in colours
            ]
        data = signature_matrix(layers, rows["column"], truth, classes, ccfg["transform"])
        title = f"{target}: {len(data['z'])}-feature signature of the final {model} model"
        fig = signature_heatmap(
            data, colours if target == "snf_subtype" else None, title,
            "subtype" if target == "snf_subtype" else target,
        )  # fmt: skip
        io.figure(f"signature_{target}", fig)


def cmd_score_oneoff(args: argparse.Namespace) -> int:
    """``metpot score --model M --omics mrna=x.csv [--clinical c.tsv] --out DIR``."""
    from metpot.io import read_omics, read_table
    from metpot.model_io import load_model
    from metpot.score import score_cohort

    if not args.omics or not args.out:
        raise MetpotError("metpot score --model needs --omics LAYER=PATH and --out DIR")
    layers = {k: read_omics(v, args.layout) for k, v in _pairs(args.omics, "--omics").items()}
    model, card = load_model(args.model)
    clinical = None
    if args.clinical:
        table = read_table(args.clinical)
        clinical = table.set_index(table.columns[0])
    predictions, summary = score_cohort(model, card, layers, clinical=clinical, method=args.method)
    out = Path(args.out)
    io = StepIO({}, {"predictions": out / "predictions.tsv", "summary": out / "summary.json"})
    io.tsv("predictions", predictions)
    io.json("summary", summary)
    log.info("scored %d samples with %s: %s", len(predictions), args.model, out)
    return 0


def cmd_score(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.io import read_omics
    from metpot.model_io import load_model, read_card
    from metpot.risk_score import integrated_table
    from metpot.score import score_cohort, select_model

    scfg = cfg["score"]
    spec = scfg["cohorts"][args.cohort]
    layers = {
        name: read_omics(io.input(f"layer_{name}"), layer.get("layout", "features_x_samples"))
        for name, layer in spec["omics"].items()
    }
    if "model" in io.inputs:
        model_path = io.input("model")
    elif str(scfg.get("model", "")).startswith("models:/"):
        import tempfile

        from metpot.tracking import fetch_model_files

        model_path = str(fetch_model_files(scfg["model"], tempfile.mkdtemp(prefix="metpot-")))
    else:
        cards = {p: read_card(p) for p in io.inputs_list("cards")}
        if not cards:
            raise MetpotError("score: no trained model (configure classify or score.model)")
        chosen = select_model(cards, layers, scfg["min_coverage"])
        model_path = str(Path(chosen).with_suffix(".skops"))
    model, card = load_model(model_path)
    clinical = None
    if "clinical" in io.inputs:
        from metpot.io import read_table

        table = read_table(io.input("clinical"))
        id_col = spec["clinical"].get("sample_id", "sample_id")
        if id_col not in table.columns:
            raise MetpotError(f"{io.input('clinical')}: no column {id_col!r}")
        clinical = table.set_index(id_col)
    reference = None
    if "assignments" in io.inputs:
        assign, names = _subtypes(io)
        labels = assign.map(names)
        train = {
            k.removeprefix("train_"): pd.read_parquet(v)
            for k, v in io.inputs.items()
            if k.startswith("train_")
        }
        reference = {"layers": train, "labels": labels}
    crs_cfg = dict(cfg.get("crs") or {})
    high_cutoff = crs_cfg.pop("high_cutoff", 3)
    groups = cfg.get("survival", {}).get("integrated_groups")
    predictions, summary = score_cohort(
        model,
        card,
        layers,
        clinical=clinical,
        method=scfg["method"],
        min_coverage=scfg["min_coverage"],
        min_confidence=scfg["min_confidence"],
        low_confidence=scfg["low_confidence"],
        standardize=scfg["standardize"],
        ntp_fdr=scfg["ntp"]["fdr"],
        ntp_n_perm=scfg["ntp"]["n_perm"],
        seed=scfg["ntp"]["seed"],
        reference=reference,
        snf_options={k: cfg["snf"][k] for k in ("K", "mu", "t", "variant")},
        crs=crs_cfg or None,
        risk_table=integrated_table(groups) if groups else None,
        crs_high_cutoff=high_cutoff,
    )
    summary["model"] = {**summary.get("model", {}), "path": str(model_path)}
    io.tsv("predictions", predictions)
    io.json("summary", summary)
    if "probabilities_svg" in io.outputs:
        from metpot.plots import score_plot

        io.figure("probabilities", score_plot(predictions, f"Scored cohort {args.cohort}"))
    if "agreement" in io.outputs:
        io.tsv("agreement", summary.get("agreement_table", pd.DataFrame()))
    counts = predictions["prediction"].value_counts()
    io.json(
        "metrics",
        {"n_samples": len(predictions), **{f"n.{k}": int(v) for k, v in counts.items()}},
    )
    log.info("scored %d samples of %s with %s", len(predictions), args.cohort, model_path)


def cmd_track(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.manifest import analysis_outputs, out_dir
    from metpot.tracking import log_workflow_run

    outputs = analysis_outputs(cfg).values()
    run = log_workflow_run(cfg, out_dir(cfg), outputs, workflow_dir=args.workflow_dir)
    run["models"] = _register_best_models(cfg, run)
    io.json("run", run)
    log.info("MLflow run %s recorded", run["run_id"])


def _register_best_models(cfg: dict, run: dict) -> list[dict]:
    """The best model of each classify target, logged and registered as <cohort>-<target>."""
    from metpot.manifest import classify_fit_files, classify_jobs, out_dir, step
    from metpot.model_io import load_model
    from metpot.tracking import log_model

    if not classify_jobs(cfg):
        return []
    best = pd.read_csv(step("classify", cfg).outputs["best"].path, sep="\t", dtype=str)
    registered = []
    for row in best.itertuples():
        files = classify_fit_files(cfg, row.target, row.model, row.feature_set)
        model, card = load_model(files["model"].path)
        summary = card["preprocessing"].get("raw_value_summary") or {}
        columns = [f["column"] for f in card["features"]]
        # the input example holds the training means, not a patient's values
        example = pd.DataFrame(
            [[(summary.get(c) or {}).get("mean", np.nan) for c in columns]], columns=columns
        ).astype(float)
        name = f"{cfg['cohort']['name']}-{row.target}"
        root = Path(out_dir(cfg))
        ref = log_model(
            model,
            f"{row.model}__{row.feature_set}",
            example,
            registered_name=name,
            run_id=run["run_id"],
            tracking_uri=run["tracking_uri"],
            version_tags={
                f"metpot.{k}_artifact": Path(files[k].path).relative_to(root).as_posix()
                for k in ("model", "card")
            },
        )
        registered.append(
            {"target": row.target, "model_uri": ref.model_uri, "version": ref.version}
        )
        log.info("registered %s as %s", files["model"].path, ref.model_uri)
    return registered


def _tsv_or_none(io: StepIO, key: str) -> pd.DataFrame | None:
    if key not in io.inputs or Path(io.input(key)).stat().st_size <= 1:
        return None
    return pd.read_csv(io.input(key), sep="\t")


def cmd_summary(cfg: dict, io: StepIO, args: argparse.Namespace) -> None:
    from metpot.summary import run_facts, run_summary

    def load(key):
        return json.loads(Path(io.input(key)).read_text()) if key in io.inputs else None

    def by_endpoint(key):
        return {Path(p).parent.name: pd.read_csv(p, sep="\t") for p in io.inputs_list(key)}

    # what summary.txt and summary.json both report
    shared = dict(
        ingest=load("ingest_metrics"),
        samples=read_samples(io.input("samples")),
        preprocess=load("preprocess"),
        n_clusters=load("n_clusters"),
        subtypes=pd.read_csv(io.input("subtypes"), sep="\t"),
        agreement=load("agreement"),
        survival={
            Path(p).parent.name: json.loads(Path(p).read_text()) for p in io.inputs_list("survival")
        },
        classify_best=_tsv_or_none(io, "classify_best"),
        scored={
            Path(p).parent.name: json.loads(Path(p).read_text()) for p in io.inputs_list("score")
        },
        run=load("run"),
        suggested_names=_tsv_or_none(io, "suggested_names"),
    )
    text = run_summary(
        cfg,
        **shared,
        classify_vs_crs=_tsv_or_none(io, "classify_vs_crs"),
        characterise=load("characterise"),
    )
    io.text("summary", text)
    if "summary_json" in io.outputs:
        # summary.json: the run's facts for the report's first page
        landmarks, median = by_endpoint("integrated_landmarks"), by_endpoint("integrated_median")
        integrated = {e: (landmarks.get(e), median[e]) for e in median}
        io.json("summary_json", run_facts(cfg, **shared, integrated=integrated))


# --------------------------------------------------------------------------- validate, run


def cmd_validate(args: argparse.Namespace) -> int:
    from metpot.validate import check

    problems = check(args.config_file)
    for p in problems:
        print(f"{p.level}: {p.message}", file=sys.stderr if p.level == "error" else sys.stdout)
    errors = sum(p.level == "error" for p in problems)
    if errors:
        print(f"{args.config_file}: {errors} problem(s) to fix", file=sys.stderr)
        return 1
    print(f"{args.config_file}: OK")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from metpot.bundle import workflow_root
    from metpot.validate import check

    problems = check(args.config_file)
    for p in problems:
        print(f"{p.level}: {p.message}", file=sys.stderr)
    if any(p.level == "error" for p in problems):
        return 1
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(workflow_root() / "Snakefile"),
        "--directory",
        os.getcwd(),
        "--configfile",
        str(Path(args.config_file).resolve()),
    ]
    if args.profile:
        cmd += ["--profile", args.profile]
    if args.cores or not args.profile:
        cmd += ["--cores", str(args.cores or "all")]
    cmd += args.snakemake_args
    print("metpot run:", shlex.join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


# --------------------------------------------------------------------------- parser


STEPS: dict[str, tuple[Callable, str]] = {
    "demo-cohort": (cmd_demo_cohort, "write the SYNTHETIC demo cohort"),
    "ingest": (cmd_ingest, "read, validate and align the cohort's files"),
    "preprocess": (cmd_preprocess, "transform, impute, select and scale each layer"),
    "snf": (cmd_snf, "per-layer affinities and the fused network"),
    "consensus-chunk": (cmd_consensus_chunk, "cluster one chunk of the consensus resamples"),
    "clusters": (cmd_clusters, "choose the number of subtypes, assign samples, agreement"),
    "risk-score": (cmd_risk_score, "the Fong clinical risk score"),
    "survival": (cmd_survival, "survival of one endpoint by subtype, Cox, concordance"),
    "sweep-point": (cmd_sweep_point, "SNF and clustering at one setting of the sweep"),
    "sweep": (cmd_sweep, "the sweep's summary table"),
    "characterise": (cmd_characterise, "differential features and gene-set scores per subtype"),
    "classify-fit": (cmd_classify_fit, "nested CV of every model of one target x feature set"),
    "classify": (cmd_classify, "compare the classifiers with each other and the risk score"),
    "score": (cmd_score, "score a new cohort with a trained model"),
    "track": (cmd_track, "record the workflow run in MLflow"),
    "summary": (cmd_summary, "the run's summary (summary.txt)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``metpot`` command."""
    from metpot import __version__

    parser = argparse.ArgumentParser(prog="metpot", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"metpot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write a SYNTHETIC cohort's files (to try metpot)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--n-patients", type=int, default=150)
    p.add_argument("--seed", type=int, default=2018)

    p = sub.add_parser("validate", help="check a config and its data files, listing every problem")
    p.add_argument("config_file", help="your config (YAML)")

    p = sub.add_parser(
        "run",
        help="validate, then run the workflow on a config in the current directory",
        description="Everything after -- goes to snakemake (e.g. -- --dry-run).",
    )
    p.add_argument("config_file", help="your config (YAML)")
    p.add_argument("--cores", help="cores to use (default: all, or the profile's)")
    p.add_argument("--profile", help="a Snakemake profile folder (e.g. profiles/slurm)")

    for name, (_, help_) in STEPS.items():
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--config", help="your config (YAML), or the resolved config as JSON (the rules)"
        )
        p.add_argument("--input", action="append", metavar="KEY=PATH", help="an input file")
        p.add_argument("--output", action="append", metavar="KEY=PATH", help="an output file")
        p.add_argument("--log", help="also write messages to this file")
        p.add_argument("--threads", type=int, help="threads for numba and BLAS (default: all)")
        if name == "consensus-chunk":
            p.add_argument("--chunk", type=int, required=True)
        if name == "survival":
            p.add_argument("--endpoint", choices=["os", "pfs"], default="os")
        if name == "track":
            p.add_argument("--workflow-dir", help="the workflow's folder (for its git commit)")
        if name == "sweep-point":
            p.add_argument("--K", type=int, required=True)
            p.add_argument("--mu", type=float, required=True)
            p.add_argument("--t", type=int, required=True)
        if name == "classify-fit":
            p.add_argument("--target", required=True)
            p.add_argument("--feature-set", required=True)
        if name == "score":
            p.add_argument("--cohort", help="a cohort of score.cohorts (with --config)")
            p.add_argument("--model", help="one-off: a .skops model file (its card beside it)")
            p.add_argument(
                "--omics", action="append", metavar="LAYER=PATH", help="one-off: a layer's file"
            )
            p.add_argument("--layout", default="features_x_samples", help="one-off: of --omics")
            p.add_argument("--clinical", help="one-off: clinical table (CRS and risk groups)")
            p.add_argument("--method", choices=["classifier", "ntp"], default="classifier")
            p.add_argument("--out", help="one-off: output folder")
    return parser


def _limit_threads(n: int) -> None:
    """Keep a job within the cores the scheduler gave it (numba kernels and BLAS)."""
    import numba
    from threadpoolctl import threadpool_limits

    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    threadpool_limits(n)


def _record_failure(step: str, log_path: str | None, message: str) -> None:
    if not log_path:
        return
    from metpot.io import write_json

    record = {"step": step, "error": message, "log": log_path, "time": time.time()}
    try:
        write_json(record, f"{log_path}{FAILURE_SUFFIX}")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metpot`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["run"] and "--" in argv:  # metpot run my.yaml -- <snakemake arguments>
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    args.snakemake_args = extra
    if args.command in ("validate", "run", "simulate"):
        _setup_logging(args.command, None)
        command = {"validate": cmd_validate, "run": cmd_run, "simulate": cmd_simulate}
        try:
            return command[args.command](args)
        except MetpotError as exc:
            for line in str(exc).splitlines():
                log.error("%s", line)
            return 1
    _setup_logging(args.command, args.log)
    if args.threads:
        _limit_threads(args.threads)
    if args.command == "score" and args.model and not args.config:
        try:
            return cmd_score_oneoff(args)
        except MetpotError as exc:
            log.error("%s", exc)
            return 1
    step = args.command.replace("-", "_")
    io = None
    try:
        cfg = _config(args)
        wildcards = {"chunk": args.chunk} if step == "consensus_chunk" else {}
        if step == "survival":
            wildcards = {"endpoint": args.endpoint}
        if step == "classify_fit":
            wildcards = {"target": args.target, "feature_set": args.feature_set}
        if step == "sweep_point":
            wildcards = {"K": str(args.K), "mu": f"{args.mu:g}", "t": str(args.t)}
        if step == "score":
            if not args.cohort:
                raise MetpotError("metpot score --config needs --cohort NAME (of score.cohorts)")
            wildcards = {"cohort": args.cohort}
        io = _step_io(step, cfg, args, **wildcards)
        STEPS[args.command][0](cfg, io, args)
        io.check_complete()
    except MetpotError as exc:
        if io is not None:
            io.remove()
        for line in str(exc).splitlines():
            log.error("%s", line)
        _record_failure(step, args.log, str(exc))
        return 1
    except KeyboardInterrupt:
        if io is not None:
            io.remove()
        log.error("interrupted")
        return 130
    except Exception as exc:
        if io is not None:
            io.remove()
        log.exception("internal error (please report it with this log)")
        _record_failure(step, args.log, f"internal error: {type(exc).__name__}: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
