"""Benchmark of the whole default workflow on synthetic cohorts of several sizes.

For every N a fresh temporary working directory gets a COMPLETE config file: the
repository's ``config/config.yaml`` with ``demo.n_patients = N`` (and, unless
``--tracking``, ``tracking.enabled: false``), everything else kept. Then::

    snakemake --snakefile <repo>/Snakefile --directory <tmp> --configfile <tmp>/config.yaml
              --cores 2

runs the default target (demo cohort -> ingest -> preprocess -> snf -> consensus chunks
-> clusters -> risk score -> survival [-> tracking]). Reported per rule: wall seconds,
CPU seconds and peak RSS from the workflow's ``benchmark:`` files (any ``*.tsv`` under the
output folder's ``benchmarks/``; the output folder is the config's ``output_dir``,
default ``results``); rules without a ``benchmark:`` file get their wall time from the
snakemake log's job start/finish timestamps (1 s resolution, marked ``log``). Also the
whole-workflow wall time, the peak RSS of the largest job (the largest ``max_rss`` of the
benchmark files) and the growth between consecutive sizes.

Usage::

    python bench/bench_workflow.py --sizes 500 1000 2000 [--cores 2] [--tracking] [--keep]
                                   [--no-classify] [--baseline REV] [--resamples R]

A warm-up run at N = 60 first fills the numba cache (``--no-warmup`` skips it).

``--baseline REV`` names the baseline: the same workflow at git revision ``REV`` of this
repository (checked out in a temporary ``git worktree``, its own code on ``PYTHONPATH``
through its rules), run on the same synthetic cohort in the same session, alternately with
the current code for every N, so that the ratio baseline / current is measured under the
same machine load. A revision without a ``classify`` step runs without it, whatever
``--no-classify`` says: compare with ``--no-classify`` then.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def write_config(
    repo: Path, tmp: Path, n: int, tracking: bool, classify: bool = True, resamples=None
) -> tuple[Path, str]:
    """The repository's config with the size (and tracking) set; returns (path, output dir)."""
    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    cfg.setdefault("demo", {})["n_patients"] = int(n)
    if resamples is not None:
        cfg["clusters"]["consensus"]["resamples"] = int(resamples)
    if not classify and "classify:" in (repo / "config" / "schema.yaml").read_text():
        cfg["classify"] = {"enabled": False}
    if not tracking:
        cfg.setdefault("tracking", {})["enabled"] = False
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, str(cfg.get("output_dir") or "results")


def _num(row: dict, key: str) -> float:
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return math.nan


def parse_benchmarks(folder: Path, owners: dict[str, str] | None = None) -> dict[str, dict]:
    """Per rule: jobs, summed wall s and CPU s, max RSS (MB), from snakemake benchmark TSVs.

    Each ``*.tsv`` under ``folder`` (sub-folders too) is attributed to the rule whose job
    declared it (``owners``: resolved path -> rule, from the snakemake log); a file no job
    declared is named by its path below ``folder`` without a trailing ``_<number>``.
    Files that cannot be read are skipped with a note.
    """
    owners = owners or {}
    rules: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "s": 0.0, "cpu": 0.0, "rss": 0.0})
    if not folder.is_dir():
        return {}
    for path in sorted(folder.rglob("*.tsv")):
        rel = path.relative_to(folder).with_suffix("")
        name = owners.get(str(path.resolve())) or re.sub(r"_\d+$", "", "/".join(rel.parts))
        try:
            with path.open() as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
        except OSError as exc:
            print(f"# skipped {path}: {exc}", file=sys.stderr)
            continue
        for row in rows[-1:]:  # one line per run; a repeated benchmark keeps the last
            r = rules[name]
            r["jobs"] += 1
            r["s"] += _num(row, "s")
            cpu = _num(row, "cpu_time")
            r["cpu"] += 0.0 if math.isnan(cpu) else cpu
            rss = _num(row, "max_rss")
            if not math.isnan(rss):
                r["rss"] = max(r["rss"], rss)
    return dict(rules)


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^\s*(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s*jobid: (\d+)$")
_DONE = re.compile(r"^Finished job(?:id:)? (\d+)")
_BENCH = re.compile(r"^\s*benchmark: (.+)$")


def parse_log(text: str, workdir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Per rule wall time (summed over its jobs) from snakemake's job timestamps, and the
    rule of every benchmark file a job declared (resolved path -> rule)."""
    now = None
    pending = None
    current = None
    start: dict[str, tuple[str, datetime]] = {}
    owners: dict[str, str] = {}
    rules: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "s": 0.0})
    for line in text.splitlines():
        if m := _STAMP.match(line.strip()):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := _START.match(line):
            pending = current = m.group(1)
        elif (m := _BENCH.match(line)) and current:
            owners[str((workdir / m.group(1).strip()).resolve())] = current
        elif (m := _JOBID.match(line)) and pending and now:
            start[m.group(1)] = (pending, now)
            pending = None
        elif (m := _DONE.match(line.strip())) and now and m.group(1) in start:
            rule, t0 = start.pop(m.group(1))
            rules[rule]["jobs"] += 1
            rules[rule]["s"] += (now - t0).total_seconds()
    return dict(rules), owners


def run_size(
    repo: Path,
    n: int,
    cores: int,
    tracking: bool,
    keep: bool,
    classify: bool = True,
    resamples: int | None = None,
) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"metpot_bench_{n}_"))
    try:
        cfg, out_name = write_config(repo, tmp, n, tracking, classify, resamples)
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"),
            "--directory", str(tmp), "--configfile", str(cfg), "--cores", str(cores),
        ]  # fmt: skip
        # the revision's own package for the workflow's own imports (its step contract), not
        # the installed one
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(repo / "src"), os.environ.get("PYTHONPATH")) if p)}  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        log_text = proc.stdout + proc.stderr
        (tmp / "snakemake.out").write_text(log_text)
        if proc.returncode != 0:
            print(log_text[-4000:], file=sys.stderr)
            raise SystemExit(f"workflow failed at N = {n} (kept {tmp})")
        from_log, owners = parse_log(log_text, tmp)
        bench = parse_benchmarks(tmp / out_name / "benchmarks", owners)
        rules = {}
        for rule, r in from_log.items():
            if rule == "all":  # the default target, no job
                continue
            if rule in bench:
                rules[rule] = {**bench[rule], "source": "benchmark"}
            else:
                rules[rule] = {**r, "cpu": math.nan, "rss": math.nan, "source": "log"}
        for rule, r in bench.items():
            rules.setdefault(rule, {**r, "source": "benchmark"})
        return {"n": n, "wall": wall, "rules": rules, "dir": str(tmp)}
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def checkout(rev: str):
    """A temporary detached ``git worktree`` of this repository at ``rev``."""
    folder = Path(tempfile.mkdtemp(prefix="metpot_baseline_")) / "repo"
    git = ["git", "-C", str(REPO)]
    subprocess.run([*git, "worktree", "add", "--detach", str(folder), rev], check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(folder)], capture_output=True)
        shutil.rmtree(folder.parent, ignore_errors=True)


def peak_job_rss(res: dict) -> float:
    """Largest ``max_rss`` (MB) of any job with a benchmark file."""
    values = [r["rss"] for r in res["rules"].values() if not math.isnan(r.get("rss", math.nan))]
    return max(values) if values else math.nan


def fmt(v: float, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def report_size(res: dict, args: argparse.Namespace) -> None:
    """The per-rule table of one size."""
    n = res["n"]
    print(f"\n### N = {n}: whole workflow {res['wall']:.1f} s wall ({args.cores} cores)")
    if args.keep:
        print(f"(kept {res['dir']})")
    print("\n| rule | jobs | wall s (sum) | CPU s (sum) | max RSS MB | source |")
    print("|---|---:|---:|---:|---:|---|")
    for rule, r in sorted(res["rules"].items(), key=lambda kv: -kv[1]["s"]):
        print(
            f"| {rule} | {r['jobs']} | {fmt(r['s'])} | {fmt(r['cpu'])} | "
            f"{fmt(r['rss'], 0)} | {r['source']} |"
        )
    print(f"\npeak RSS of the largest job: {fmt(res['peak_job_rss_mb'], 0)} MB")
    sys.stdout.flush()


def report_baseline(results: list[dict], baseline: list[dict], rev: str) -> None:
    """Whole-workflow wall and per-rule CPU, baseline against current, same session."""
    print(f"\n### Against the baseline {rev} (same session, alternating runs)\n")
    print("| N | baseline wall s | current wall s | ratio | baseline CPU s | current CPU s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for cur, base in zip(results, baseline, strict=True):

        def cpu(res):
            return sum(r["cpu"] for r in res["rules"].values() if not math.isnan(r["cpu"]))

        print(
            f"| {cur['n']} | {fmt(base['wall'])} | {fmt(cur['wall'])} | "
            f"{fmt(base['wall'] / cur['wall'], 2)} | {fmt(cpu(base))} | {fmt(cpu(cur))} |"
        )
    sys.stdout.flush()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--tracking", action="store_true", help="keep MLflow tracking on")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument(
        "--no-classify", action="store_true", help="classify.enabled: false (SNF to survival only)"
    )
    ap.add_argument("--repo", type=Path, default=REPO, help="repository with the Snakefile")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    ap.add_argument(
        "--baseline", metavar="REV", help="git revision run alternately as the named baseline"
    )
    ap.add_argument(
        "--resamples",
        type=int,
        help="clusters.consensus.resamples (default: the config's 200); the consensus jobs' "
        "time is proportional to it",
    )
    args = ap.parse_args(argv)

    with contextlib.ExitStack() as stack:
        base_repo = stack.enter_context(checkout(args.baseline)) if args.baseline else None
        repos = [args.repo] + ([base_repo] if base_repo else [])
        if not args.no_warmup:
            for repo in repos:
                run_size(repo, 60, args.cores, False, False, not args.no_classify)
        results, baseline = [], []
        for n in args.sizes:
            res = run_size(
                args.repo, n, args.cores, args.tracking, args.keep, not args.no_classify,
                args.resamples,
            )  # fmt: skip
            res["peak_job_rss_mb"] = peak_job_rss(res)
            results.append(res)
            report_size(res, args)
            if base_repo:
                base = run_size(
                    base_repo, n, args.cores, args.tracking, False, not args.no_classify,
                    args.resamples,
                )  # fmt: skip
                base["peak_job_rss_mb"] = peak_job_rss(base)
                baseline.append(base)
                print(
                    f"\nbaseline {args.baseline} at N = {n}: {base['wall']:.1f} s wall; "
                    f"ratio baseline / current {base['wall'] / res['wall']:.2f}"
                )
                sys.stdout.flush()
    if baseline:
        report_baseline(results, baseline, args.baseline)
    print("\n### Growth\n")
    rules = sorted({r for res in results for r in res["rules"]})
    head = " | ".join(f"N={res['n']}" for res in results)
    print(f"| | {head} | growth (last / first) |")
    print("|---|" + "---:|" * (len(results) + 1))

    def row(name, values):
        first, last = values[0], values[-1]
        g = last / first if first and not math.isnan(first) and not math.isnan(last) else math.nan
        print(f"| {name} | " + " | ".join(fmt(v) for v in values) + f" | {fmt(g, 2)} |")

    row("whole workflow (wall s)", [res["wall"] for res in results])
    for rule in rules:
        row(rule, [res["rules"].get(rule, {}).get("s", math.nan) for res in results])
    if len(results) > 1 and results[-1]["n"] != results[0]["n"]:  # repeats of one size: no growth
        ratio = results[-1]["wall"] / results[0]["wall"]
        size = results[-1]["n"] / results[0]["n"]
        print(
            f"\nwhole workflow: x{ratio:.2f} for x{size:.2f} samples "
            f"(exponent {math.log(ratio) / math.log(size):.2f})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
