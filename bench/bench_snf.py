"""Benchmark of metpot's SNF path against snfpy 0.2.2 (affinity networks + fusion).

For every N: two random views (N x 1000 and N x 300, a weak two-group structure), K = 20,
mu = 0.5, t = 20. snfpy (``make_affinity`` + ``snf``) runs in this process; metpot's path
(``snf_pipeline(..., variant="snftool-2.2")``: z-score, dist2, affinity, fusion -- the
same generation as snfpy) runs in a fresh child process, which reports its wall time
and its peak RSS (``resource.getrusage``), so the memory figure is that of the metpot
path alone (plus the interpreter and the input data). Both use the same data; their
affinity and fused networks are compared (max |difference| / max |value|).

Usage::

    python bench/bench_snf.py [--sizes 2000 4000 10000] [--skip-baseline-above 4000]

snfpy needs a shim for scikit-learn >= 1.8 (``check_array(force_all_finite=...)`` became
``ensure_all_finite``); it is applied here, in the benchmark only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_views(n: int, p1: int, p2: int, seed: int) -> list[np.ndarray]:
    """Two views with a weak two-group structure, samples in rows."""
    rng = np.random.default_rng(seed)
    X1 = rng.normal(size=(n, p1))
    X2 = rng.normal(size=(n, p2))
    X1[: n // 2, : p1 // 20] += 1.0
    X2[n // 3 :, : p2 // 15] -= 1.0
    return [X1, X2]


def _shim_snfpy():
    import snf.compute as sc

    original = sc.check_array

    def check_array(*args, force_all_finite=None, **kwargs):
        if force_all_finite is not None:
            kwargs["ensure_all_finite"] = force_all_finite
        return original(*args, **kwargs)

    sc.check_array = check_array
    return sc


def run_child(args) -> None:
    """Child mode: run metpot's path once, report time and peak RSS as JSON."""
    from metpot import snf

    views = make_views(args.child, args.features[0], args.features[1], args.seed)
    # warm the numba kernels (loaded from the on-disk cache) outside the timing
    snf.snf_pipeline([v[:60] for v in views], K=10, t=2, variant=args.variant)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c0 = time.process_time()
    t0 = time.perf_counter()
    affinities, fused = snf.snf_pipeline(
        views, K=args.K, mu=args.mu, t=args.t, variant=args.variant
    )
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.save:
        np.save(os.path.join(args.save, "fused.npy"), fused)
        for i, a in enumerate(affinities):
            np.save(os.path.join(args.save, f"affinity{i}.npy"), a)
    record = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_kb": peak,
        "rss_kb_before": rss_before,
    }
    print(json.dumps(record))


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 10000])
    ap.add_argument("--skip-baseline-above", type=int, default=4000)
    ap.add_argument("--features", type=int, nargs=2, default=[1000, 300])
    ap.add_argument("--K", type=int, default=20)
    ap.add_argument("--mu", type=float, default=0.5)
    ap.add_argument("--t", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="snftool-2.2", help="metpot variant (snfpy = 2.2)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="metpot runs per N (fresh processes; fastest kept)"
    )
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        run_child(args)
        return 0

    rows = []
    for n in args.sizes:
        baseline = n <= args.skip_baseline_above
        snfpy_s, diff = None, None
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, __file__, "--child", str(n), "--features"]
            cmd += [str(f) for f in args.features]
            cmd += ["--K", str(args.K), "--mu", str(args.mu), "--t", str(args.t)]
            cmd += ["--seed", str(args.seed), "--variant", args.variant]
            if baseline:
                cmd += ["--save", tmp]
            runs = []
            for _ in range(max(1, args.repeat)):
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            child = min(runs, key=lambda r: r["seconds"])
            child["peak_rss_kb"] = max(r["peak_rss_kb"] for r in runs)
            if baseline:
                sc = _shim_snfpy()
                views = make_views(n, *args.features, args.seed)
                t0 = time.perf_counter()
                aff = sc.make_affinity(views, K=args.K, mu=args.mu)
                fused = sc.snf(aff, K=args.K, t=args.t)
                snfpy_s = time.perf_counter() - t0
                diffs = [rel(np.load(os.path.join(tmp, "fused.npy")), fused)]
                for i, a in enumerate(aff):
                    diffs.append(rel(np.load(os.path.join(tmp, f"affinity{i}.npy")), a))
                diff = max(diffs)
                del aff, fused, views
        row = {
            "N": n,
            "snfpy_s": snfpy_s,
            "metpot_s": child["seconds"],
            "metpot_cpu_s": child["cpu_seconds"],
            "ratio": None if snfpy_s is None else snfpy_s / child["seconds"],
            "rel_diff": diff,
            "peak_rss_gb": child["peak_rss_kb"] * 1024 / 1e9,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    print(f"variant={args.variant} K={args.K} mu={args.mu} t={args.t} features={args.features}")
    print("| N | snfpy s | metpot s | ratio | rel. diff | metpot CPU s | metpot peak RSS (GB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['N']} | {fmt(r['snfpy_s'], '.1f')} | {r['metpot_s']:.2f} | "
            f"{fmt(r['ratio'], '.1f')} | {fmt(r['rel_diff'], '.1e')} | {r['metpot_cpu_s']:.1f} | "
            f"{r['peak_rss_gb']:.2f} |"
        )
    by_n = {r["N"]: r["metpot_s"] for r in rows}
    cpu_n = {r["N"]: r["metpot_cpu_s"] for r in rows}
    if 4000 in by_n and 10000 in by_n:
        print(
            f"growth metpot time(10000) / time(4000) = {by_n[10000] / by_n[4000]:.2f} "
            f"(CPU time: {cpu_n[10000] / cpu_n[4000]:.2f})"
        )
    print("GB = 1e9 bytes (ru_maxrss of the metpot child process, incl. interpreter and data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
