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
    cohort = load_cohort(cohort_cfg, cfg.get("extra_clinical_columns"))
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
        shape = cohort.layers[item["layer"]].shape[::-1] if item["layer"] in cohort.layers else None
        files.append(
            {
                **item,
                "sha256": sha256(path),
                "bytes": path.stat().st_size,
                "n_features": shape[0] if shape else None,
                "n_samples": shape[1] if shape else None,
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


def read_outcome(in_dir: Path, endpoint: str = "os") -> pd.DataFrame | None:
    """``time``/``event`` of the patients with usable survival for an endpoint, or None."""
    path = in_dir / "outcome.tsv"
    if not path.exists():
        return None
    table = pd.read_csv(path, sep="\t", index_col="sample_id")
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


COMMANDS = {
    "simulate": cmd_simulate,
    "ingest": cmd_ingest,
    "preprocess": cmd_preprocess,
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
        return p

    p = add("simulate", "write the synthetic demo cohort")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--n-patients", type=int, default=150)
    p.add_argument("--seed", type=int, default=2018)

    for name, help_ in [
        ("ingest", "read, validate and align the cohort's files"),
        ("preprocess", "transform, impute, select and scale each layer"),
    ]:
        p = add(name, help_)
        p.add_argument(
            "--config-json", required=True, help="resolved config as JSON text, or @file"
        )
        p.add_argument("--out-dir", required=True)
        if name != "ingest":
            p.add_argument("--in-dir", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metpot`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.command, getattr(args, "log", None))
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
