"""The ``metpot`` command line: one subcommand per workflow step.

Only this module and the workflow rules know the layout of ``results/``. Each subcommand
reads its inputs, computes everything, and only then writes its outputs, so that a user error
leaves no partial output. User errors print one line and exit with status 1; data warnings
print one line each and the run goes on. ``--log`` copies every message to a log file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from metpot.errors import DataWarning, MetpotError

log = logging.getLogger("metpot")


class Outputs:
    """Track files written by a command; remove them all if the command fails."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: str | Path) -> Path:
        path = Path(path)
        self.paths.append(path)
        return path

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


def _setup_logging(command: str, log_path: str | None) -> None:
    fmt = logging.Formatter(f"metpot {command}: %(levelname)s: %(message)s")
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
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


def _settings(text: str | None) -> dict:
    if not text:
        return {}
    if text.startswith("@"):
        return json.loads(Path(text[1:]).read_text())
    return json.loads(text)


# --------------------------------------------------------------------------- commands


def cmd_simulate(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n_patients=args.n_patients, seed=args.seed)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gz = {"method": "gzip", "mtime": 0}
    for layer in ("mrna", "mirna"):
        frame = cohort[layer]
        frame.index.name = "feature"
        frame.to_csv(
            out(out_dir / f"{layer}.tsv.gz"),
            sep="\t",
            float_format="%.6f",
            compression=gz,
            lineterminator="\n",
        )
    cohort["clinical"].to_csv(
        out(out_dir / "clinical.tsv"), sep="\t", index=False, lineterminator="\n"
    )
    cohort["truth"].to_csv(out(out_dir / "truth.tsv"), sep="\t", index=False, lineterminator="\n")
    out(out_dir / "README.txt").write_text(cohort["readme"])
    log.info("wrote a SYNTHETIC demo cohort of %d patients to %s", len(cohort["truth"]), out_dir)


def cmd_ingest(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.ingest import input_files, load_cohort
    from metpot.io import sha256, write_json, write_parquet, write_tsv

    cfg = _settings(args.config_json)
    cohort_cfg = cfg["cohort"]
    cohort = load_cohort(cohort_cfg)
    outcome = None
    clinical_cfg = cohort_cfg.get("clinical") or {}
    if cohort.clinical is not None and clinical_cfg.get("time"):
        from metpot.survival import survival_frame

        frames = {}
        endpoints = [("os", "time", "event", "event_value")]
        if clinical_cfg.get("pfs_time"):
            endpoints.append(("pfs", "pfs_time", "pfs_event", "pfs_event_value"))
        for name, t, e, v in endpoints:
            value = clinical_cfg.get(v, clinical_cfg.get("event_value", 1))
            try:
                sf = survival_frame(cohort.clinical, clinical_cfg[t], clinical_cfg[e], value)
            except MetpotError as exc:
                raise MetpotError(f"{clinical_cfg['path']}: {exc}") from None
            frames[f"{name}_time"] = sf["time"]
            frames[f"{name}_event"] = sf["event"].astype(int)
        outcome = pd.DataFrame(frames).reindex(cohort.clinical.index)
    out_dir = Path(args.out_dir)
    files = []
    for item in input_files(cohort_cfg):
        path = Path(item["path"])
        n_rows, n_cols = cohort.shapes[item["layer"]]
        name = path.name.lower().removesuffix(".gz")
        files.append(
            {
                **item,
                "format": name.rsplit(".", 1)[-1],
                "sha256": sha256(path),
                "bytes": path.stat().st_size,
                "n_rows": int(n_rows),
                "n_cols": int(n_cols),
            }
        )
    for name, frame in cohort.layers.items():
        write_parquet(frame, out(out_dir / f"{name}.parquet"))
    write_tsv(cohort.samples, out(out_dir / "samples.tsv"))
    if cohort.clinical is not None:
        write_parquet(cohort.clinical, out(out_dir / "clinical.parquet"))
    if outcome is not None:
        write_tsv(outcome.reset_index(), out(out_dir / "outcome.tsv"))
    if cohort.truth is not None:
        write_tsv(cohort.truth, out(out_dir / "truth.tsv"))
    write_json(files, out(out_dir / "inputs.json"))
    n_kept = int((cohort.samples["status"] == "kept").sum())
    metrics = {"n_samples": n_kept, "n_dropped": int(len(cohort.samples) - n_kept)}
    metrics.update({f"n_features.{n}": int(f.shape[1]) for n, f in cohort.layers.items()})
    if outcome is not None:
        metrics["n_with_survival"] = int(outcome["os_time"].notna().sum())
    write_json(metrics, out(out_dir / "metrics.json"))
    log.info(
        "ingested %d samples x %s",
        n_kept,
        ", ".join(f"{n}: {f.shape[1]} features" for n, f in cohort.layers.items()),
    )


def read_samples(path: str | Path, **kwargs) -> pd.DataFrame:
    """A per-sample TSV written by a step, with sample ids kept as strings (``0001``)."""
    return pd.read_csv(path, sep="\t", dtype={"sample_id": str}, **kwargs)


def read_outcome(in_dir: Path, endpoint: str = "os") -> pd.DataFrame | None:
    """``time``/``event`` of the patients with usable survival for an endpoint, or None."""
    path = in_dir / "outcome.tsv"
    if not path.exists():
        return None
    table = read_samples(path, index_col="sample_id")
    cols = [f"{endpoint}_time", f"{endpoint}_event"]
    if cols[0] not in table.columns:
        return None
    table = table[cols].dropna()
    table.columns = ["time", "event"]
    table["event"] = table["event"].astype(bool)
    return table


def cmd_preprocess(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.config import layer_preprocess
    from metpot.io import write_json, write_parquet, write_tsv
    from metpot.preprocess import preprocess_layer

    cfg = _settings(args.config_json)
    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    survival = read_outcome(in_dir, "os")
    results, summary = {}, {}
    for layer in cfg["cohort"]["omics"]:
        X = pd.read_parquet(in_dir / f"{layer}.parquet")
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
        write_parquet(X, out(out_dir / f"{layer}.parquet"))
        if cox_table is not None:
            write_tsv(cox_table, out(out_dir / f"{layer}.cox.tsv"))
    write_json(summary, out(out_dir / "summary.json"))
    write_json(
        {f"n_features.{k}": v["n_features_out"] for k, v in summary.items()},
        out(out_dir / "metrics.json"),
    )
    for layer, info in summary.items():
        log.info("%s: %d -> %d features", layer, info["n_features_in"], info["n_features_out"])


def _read_layers(in_dir: Path, layers: list[str]) -> dict[str, pd.DataFrame]:
    frames = {layer: pd.read_parquet(in_dir / f"{layer}.parquet") for layer in layers}
    first = next(iter(frames.values())).index
    for layer, frame in frames.items():
        if not frame.index.equals(first):
            raise MetpotError(f"{in_dir / layer}.parquet: samples differ from the other layers")
    return frames


def _check_snf_settings(snf: dict, n_samples: int) -> None:
    if snf["K"] >= n_samples:
        raise MetpotError(
            f"config: snf.K = {snf['K']} must be smaller than the number of samples ({n_samples})"
        )


def _progress(what: str, done: int, total: int) -> None:
    """A progress bar on a terminal; a log line every 10 steps otherwise (jobs, log files)."""
    if sys.stderr.isatty():
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


def _snf_options(snf: dict) -> dict:
    """The SNF settings of the config as keyword arguments (the layers are already scaled)."""
    return {key: snf[key] for key in ("K", "mu", "t", "variant", "metric")}


def _square(matrix, ids) -> pd.DataFrame:
    return pd.DataFrame(matrix, index=pd.Index(ids, name="sample_id"), columns=list(ids))


def cmd_snf(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.io import write_json, write_parquet
    from metpot.snf import snf_pipeline

    cfg = _settings(args.config_json)
    snf = cfg["snf"]
    frames = _read_layers(Path(args.in_dir), list(cfg["cohort"]["omics"]))
    ids = next(iter(frames.values())).index
    _check_snf_settings(snf, len(ids))
    affinities, fused = snf_pipeline(
        [f.to_numpy() for f in frames.values()], **_snf_options(snf), normalize=False
    )
    out_dir = Path(args.out_dir)
    for layer, W in zip(frames, affinities, strict=True):
        write_parquet(_square(W, ids), out(out_dir / f"affinity_{layer}.parquet"))
    write_parquet(_square(fused, ids), out(out_dir / "fused.parquet"))
    params = {**snf, "n_samples": len(ids)}
    params.update({f"n_features.{k}": int(v.shape[1]) for k, v in frames.items()})
    write_json(params, out(out_dir / "params.json"))
    log.info("fused %d layers over %d samples (%s)", len(frames), len(ids), snf["variant"])


def cmd_consensus(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.consensus import cluster_resample, layer_distances, resample_indices
    from metpot.io import write_tsv

    cfg = _settings(args.config_json)
    snf, cons = cfg["snf"], cfg["clusters"]["consensus"]
    frames = _read_layers(Path(args.in_dir), list(cfg["cohort"]["omics"]))
    ids = next(iter(frames.values())).index
    views = [f.to_numpy() for f in frames.values()]
    ks = list(cfg["clusters"]["candidates"])
    chunk = range(args.chunk, cons["resamples"], args.chunks)
    indices = resample_indices(len(ids), cons["resamples"], cons["fraction"], cons["seed"])
    distances = layer_distances(views, snf["metric"]) if len(chunk) else None
    rows = []
    for done, r in enumerate(chunk, start=1):
        labels = cluster_resample(
            views, indices[r], ks, **_snf_options(snf), normalize=False, distances=distances
        )
        block = pd.DataFrame(labels.to_numpy(), columns=[f"k{k}" for k in labels.columns])
        block.insert(0, "sample_id", ids[labels.index.to_numpy()])
        block.insert(0, "resample", r)
        rows.append(block)
        _progress(f"chunk {args.chunk}", done, len(chunk))
    columns = ["resample", "sample_id", *[f"k{k}" for k in ks]]
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    write_tsv(table, out(args.out))


def cmd_clusters(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.clusters import agreement, choose_n_clusters, cluster_fused
    from metpot.io import write_json, write_parquet, write_tsv

    cfg = _settings(args.config_json)
    ccfg, snf = cfg["clusters"], cfg["snf"]
    fused = pd.read_parquet(args.fused)
    ids = fused.index
    W = fused.to_numpy()
    ks = [k for k in ccfg["candidates"] if k < len(ids)]
    if not ks:
        raise MetpotError(f"config: clusters.candidates: every k is >= the {len(ids)} samples")
    fit = cluster_fused(W, ks, variant=snf["variant"])  # one eigen-decomposition per Laplacian
    est, scores, labels = fit["estimates"], fit["scores"], fit["labels"]
    consensus = None
    if args.chunks:
        consensus = _consensus_summary(args.chunks, ids, labels, ks)
    pac = {k: consensus["pac"][str(k)] for k in ks} if consensus else None
    k, why = choose_n_clusters(est, pac, ccfg["n"])
    if k not in labels:
        raise MetpotError(f"config: clusters.n = {k} is not below the {len(ids)} samples")
    assignments = pd.DataFrame({"sample_id": ids, "subtype": labels[k].astype(int)})
    subtypes = _name_subtypes(cfg, args.layer, assignments)
    choice = {
        "n_clusters": k,
        "why": why,
        "mode": ccfg["n"],
        "estimates": est,
        "candidates": scores.to_dict(orient="records"),
    }
    metrics = {"n_clusters": k, **{f"estimate.{a}": b for a, b in est.items()}}
    if consensus:
        choice["pac"] = consensus["pac"]
        choice["delta_area"] = consensus["delta_area"]
        metrics.update({f"pac.k{c}": consensus["pac"][str(c)] for c in ks})
        metrics["stability.mean"] = float(consensus["stability"][k].mean())
    truth_path = Path(args.truth) if args.truth else None
    agree = None
    if truth_path and truth_path.exists():
        truth = pd.read_csv(truth_path, sep="\t", dtype=str).set_index("sample_id")["label"]
        agree = agreement(assignments.set_index("sample_id")["subtype"], truth)
        metrics.update({f"truth.{m}": agree[m] for m in ("ari", "nmi", "nmi_snftool")})
    out_dir = Path(args.out_dir)
    write_tsv(assignments, out(out_dir / "assignments.tsv"))
    all_k = pd.DataFrame({"sample_id": ids, **{f"k{c}": labels[c] for c in ks}})
    write_tsv(all_k, out(out_dir / "assignments_all_k.tsv"))
    write_json(choice, out(out_dir / "n_clusters.json"))
    write_tsv(subtypes, out(out_dir / "subtypes.tsv"))
    if consensus:
        write_json(
            {key: v for key, v in consensus.items() if key not in ("matrix", "stability")},
            out(out_dir / "consensus.json"),
        )
        stab = pd.DataFrame(
            {"sample_id": ids, "subtype": labels[k], "stability": consensus["stability"][k]}
        )
        write_tsv(stab, out(out_dir / "stability.tsv"))
        write_parquet(
            _square(consensus["matrix"][k], ids), out(out_dir / "consensus_matrix.parquet")
        )
    if agree:
        confusion = agree.pop("confusion")
        write_tsv(confusion.reset_index(), out(out_dir / "confusion.tsv"))
        write_json(agree, out(out_dir / "agreement.json"))
    write_json(metrics, out(out_dir / "metrics.json"))
    log.info("%d subtypes: %s", k, why)
    if agree:
        log.info("agreement with known labels: ARI %.3f, NMI %.3f", agree["ari"], agree["nmi"])


def _name_subtypes(cfg: dict, layer_file: str | None, assignments: pd.DataFrame):
    from metpot.clusters import name_subtypes, signature_scores

    labels = assignments.set_index("sample_id")["subtype"]
    signatures = cfg.get("subtypes", {}).get("signatures") or {}
    if signatures and layer_file:
        X = pd.read_parquet(layer_file).loc[labels.index]
        table = name_subtypes(labels, signature_scores(X, signatures))
        table.insert(3, "named_by", "signature")
        return table
    ks = sorted(labels.unique())
    return pd.DataFrame(
        {
            "subtype": ks,
            "name": [f"subtype{k}" for k in ks],
            "n": [int((labels == k).sum()) for k in ks],
            "named_by": "none",
        }
    )


def _consensus_summary(chunk_files: list[str], ids: pd.Index, labels: dict, ks: list[int]):
    from metpot.consensus import consensus_matrices, consensus_summary, sample_stability

    table = pd.concat([read_samples(f) for f in chunk_files])
    if table.empty:
        return None
    pos = pd.Series(np.arange(len(ids)), index=ids)
    tables = []
    for _, block in table.groupby("resample", sort=True):
        frame = block[[f"k{k}" for k in ks]].set_axis(ks, axis=1)
        tables.append(frame.set_axis(pos[block["sample_id"]].to_numpy(), axis=0))
    matrices = consensus_matrices(len(ids), tables)
    summary = consensus_summary(matrices, n_resamples=len(tables))
    summary["matrix"] = matrices
    summary["stability"] = {k: sample_stability(matrices[k], labels[k]) for k in ks}
    return summary


def cmd_risk_score(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.io import write_json, write_tsv
    from metpot.risk_score import fong_score

    cfg = _settings(args.config_json)
    crs = dict(cfg["crs"])
    clinical = pd.read_parquet(args.clinical)
    cutoff = crs.pop("high_cutoff", 3)
    score_col = crs.pop("score", None)
    try:
        result = fong_score(clinical, high_cutoff=cutoff, score_col=score_col, **crs)
    except MetpotError as exc:
        raise MetpotError(f"{cfg['cohort']['clinical']['path']}: {exc}") from None
    scores = result["scores"]
    scores.index.name = "sample_id"
    write_tsv(scores.reset_index(), out(Path(args.out_dir) / "crs.tsv"))
    metrics = {
        "n_scored": len(scores),
        "n_excluded": result["n_excluded"],
        "n_high": int((scores["crs_group"] == "high").sum()),
        "n_low": int((scores["crs_group"] == "low").sum()),
        "high_cutoff": cutoff,
    }
    write_json(
        {**metrics, "excluded": result["excluded"]}, out(Path(args.out_dir) / "summary.json")
    )
    write_json(metrics, out(Path(args.out_dir) / "metrics.json"))
    log.info(
        "risk score of %d patients (%d high), %d left out for missing factors",
        len(scores),
        metrics["n_high"],
        result["n_excluded"],
    )


_YEARS = {"days": 365.25, "months": 12.0, "years": 1.0}


def cmd_survival(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.io import write_json
    from metpot.outcomes import analyse_endpoint

    cfg = _settings(args.config_json)
    scfg = cfg["survival"]
    clinical_cfg = cfg["cohort"]["clinical"]
    unit = clinical_cfg.get("time_unit", "months")
    landmarks = [y * _YEARS[unit] for y in scfg["landmarks_years"]]
    subtype = read_samples(args.assignments, index_col="sample_id")["subtype"]
    table = pd.read_csv(args.subtypes, sep="\t")
    names = dict(zip(table["subtype"].astype(int), table["name"].astype(str), strict=True))
    crs = covariates = integrated = None
    if args.crs:
        crs = read_samples(args.crs, index_col="sample_id")
        integrated = scfg["integrated_groups"]
        unmapped = sorted(set(names.values()) - set(integrated))
        if unmapped:
            log.warning(
                "survival.integrated_groups has no row for subtype(s) %s (name the subtypes "
                "with subtypes.signatures or configure the table): integrated risk groups "
                "skipped",
                ", ".join(unmapped),
            )
            integrated = None
    if clinical_cfg.get("covariates"):
        clinical = pd.read_parquet(args.clinical)
        covariates = clinical[clinical_cfg["covariates"]].apply(pd.to_numeric, errors="coerce")
    out_dir = Path(args.out_dir)
    endpoints = {"os": out_dir}
    if clinical_cfg.get("pfs_time"):
        endpoints["pfs"] = out_dir / "pfs"
    results = {}
    for endpoint in endpoints:
        outcome = read_outcome(Path(args.outcome).parent, endpoint)
        results[endpoint] = analyse_endpoint(
            outcome["time"],
            outcome["event"],
            subtype,
            names,
            crs,
            covariates,
            scfg["reference"],
            landmarks,
            integrated,
            scfg["bootstrap"],
            scfg["cv_folds"],
            cfg.get("seed", 1),
        )
    metrics = {}
    for endpoint, res in results.items():
        _write_endpoint(endpoints[endpoint], endpoint.upper(), res, f"Time ({unit})", out)
        metrics.update({f"{endpoint}.{k}": v for k, v in res["metrics"].items()})
        lr = res["logrank"]
        log.info(
            "%s: log-rank chi-square %.2f (df %d), p = %.3g over %d patients",
            endpoint.upper(),
            lr["chisq"],
            lr["df"],
            lr["p"],
            res["n"],
        )
    write_json(metrics, out(out_dir / "metrics.json"))


def _write_km(
    folder: Path,
    prefix: str,
    figure: str,
    res: dict,
    data: pd.DataFrame,
    title: str,
    time_label: str,
    out: Outputs,
) -> None:
    """KM tables (curve, landmarks, median) and the KM figure of one grouping."""
    from metpot.io import write_tsv
    from metpot.plots import km_plot, save_figure

    for key, suffix in (("km", ""), ("landmarks", "_landmarks"), ("median", "_median")):
        if key in res:
            write_tsv(res[key], out(folder / f"{prefix}km{suffix}.tsv"))
    fig = km_plot(
        data["time"].to_numpy(),
        data["event"].to_numpy(),
        data["group"].to_numpy(),
        logrank=res["logrank"],
        title=title,
        time_label=time_label,
    )
    base = folder / figure
    save_figure(fig, base)
    out(base.with_suffix(".svg"))
    out(base.with_suffix(".png"))


def _write_endpoint(folder: Path, name: str, res: dict, time_label: str, out: Outputs) -> None:
    """Every table and figure of one endpoint's analysis."""
    from metpot.io import write_json, write_tsv
    from metpot.plots import forest_plot, save_figure

    keys = ("chisq", "df", "p", "n", "observed", "expected", "groups", "names")
    write_json({k: res["logrank"][k] for k in keys}, out(folder / "logrank.json"))
    write_tsv(res["pairwise"], out(folder / "logrank_pairwise.tsv"))
    _write_km(folder, "", "km_subtype", res, res["data"], f"{name} by subtype", time_label, out)
    write_tsv(res["cox_subtype"].table, out(folder / "cox_subtype.tsv"))
    write_json(res["cox_subtype"].to_dict(), out(folder / "cox_subtype.json"))
    if "cox_multivariable" in res:
        model = res["cox_multivariable"]
        write_tsv(model.table, out(folder / "cox_multivariable.tsv"))
        write_json(
            {
                "model": model.to_dict(),
                "reduced_model": res["cox_reduced"].to_dict(),
                "lr_test_adding_subtype": res["lr_subtype"],
            },
            out(folder / "cox_multivariable.json"),
        )
        write_tsv(res["zph"].reset_index(names="term"), out(folder / "cox_zph.tsv"))
        write_tsv(res["concordance"], out(folder / "concordance.tsv"))
        write_tsv(res["concordance_differences"], out(folder / "concordance_differences.tsv"))
        fig = forest_plot(model, title=f"{name}: Cox model (reference subtype {res['reference']})")
        save_figure(fig, folder / "forest")
        out(folder / "forest.svg")
        out(folder / "forest.png")
    if "integrated" in res:
        integ = res["integrated"]
        groups = integ["groups"].set_index("sample_id")
        write_tsv(integ["groups"], out(folder / "integrated_groups.tsv"))
        write_tsv(integ["cross_table"].reset_index(), out(folder / "integrated_cross.tsv"))
        write_json(integ["logrank"], out(folder / "integrated_logrank.json"))
        data = res["data"].loc[groups.index].assign(group=groups["risk_group"])
        _write_km(
            folder,
            "integrated_",
            "km_integrated",
            integ,
            data,
            f"{name} by integrated risk group",
            time_label,
            out,
        )


def cmd_track(args: argparse.Namespace, out: Outputs) -> None:
    from metpot.tracking import log_workflow_run

    cfg = _settings(args.config_json)
    run_id = log_workflow_run(args.results, cfg, workflow_dir=args.workflow_dir)
    out(Path(args.results) / "mlflow_run.json")
    log.info("MLflow run %s recorded", run_id)


COMMANDS = {
    "simulate": cmd_simulate,
    "ingest": cmd_ingest,
    "preprocess": cmd_preprocess,
    "snf": cmd_snf,
    "consensus": cmd_consensus,
    "clusters": cmd_clusters,
    "risk-score": cmd_risk_score,
    "survival": cmd_survival,
    "track": cmd_track,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``metpot`` command."""
    from metpot import __version__

    parser = argparse.ArgumentParser(prog="metpot", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"metpot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--log", help="also write messages to this file")
        p.add_argument("--threads", type=int, help="threads for numba and BLAS (default: all)")
        return p

    p = add("simulate", "write the synthetic demo cohort")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--n-patients", type=int, default=150)
    p.add_argument("--seed", type=int, default=2018)

    for name, help_ in [
        ("ingest", "read, validate and align the cohort's files"),
        ("preprocess", "transform, impute, select and scale each layer"),
        ("snf", "per-layer affinities and the fused network"),
        ("consensus", "cluster one chunk of the consensus resamples"),
    ]:
        p = add(name, help_)
        p.add_argument(
            "--config-json", required=True, help="resolved config as JSON text, or @file"
        )
        if name != "consensus":
            p.add_argument("--out-dir", required=True)
        if name != "ingest":
            p.add_argument("--in-dir", required=True)
        if name == "consensus":
            p.add_argument("--chunk", type=int, required=True)
            p.add_argument("--chunks", type=int, required=True)
            p.add_argument("--out", required=True, help="the chunk's TSV")
    p = add("clusters", "choose the number of subtypes, assign samples, compare with truth")
    p.add_argument("--config-json", required=True)
    p.add_argument("--fused", required=True)
    p.add_argument("--chunks", nargs="*", default=[], help="consensus chunk TSVs")
    p.add_argument("--truth", help="known labels (ingest/truth.tsv)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--layer", help="ingested layer used to name subtypes by signature")

    p = add("risk-score", "the Fong clinical risk score")
    p.add_argument("--config-json", required=True)
    p.add_argument("--clinical", required=True)
    p.add_argument("--out-dir", required=True)

    p = add("survival", "survival by subtype, Cox models, concordance, integrated groups")
    p.add_argument("--config-json", required=True)
    p.add_argument("--assignments", required=True)
    p.add_argument("--subtypes", help="subtype names (clusters/subtypes.tsv)")
    p.add_argument("--outcome", required=True)
    p.add_argument("--clinical", required=True)
    p.add_argument("--crs", help="risk score table (risk_score/crs.tsv)")
    p.add_argument("--out-dir", required=True)

    p = add("track", "record the workflow run in MLflow")
    p.add_argument("--config-json", required=True)
    p.add_argument("--results", required=True, help="the results folder")
    p.add_argument("--workflow-dir", help="the workflow's folder (for its git commit)")
    return parser


def _limit_threads(n: int) -> None:
    """Keep a job within the cores the scheduler gave it (numba kernels and BLAS)."""
    import numba
    from threadpoolctl import threadpool_limits

    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    threadpool_limits(n)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metpot`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.command, getattr(args, "log", None))
    if getattr(args, "threads", None):
        _limit_threads(args.threads)
    out = Outputs()
    try:
        COMMANDS[args.command](args, out)
    except MetpotError as exc:
        out.remove()
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        out.remove()
        log.error("interrupted")
        return 130
    except Exception:
        out.remove()
        log.exception("internal error (please report it with this log)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
