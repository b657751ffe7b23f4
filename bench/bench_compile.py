"""numba's first compilation of the SNF kernels, current code against a named baseline revision.

python bench/bench_compile.py [--baseline e47e9f4] [--repeats 2]

What a fresh install pays once, in the workflow's rule ``numba_cache``: the kernels of the snf
job (float64) and of the consensus resamples (float32) compiled by
:func:`metpot.kernels.warm_up`, one process per precision as the rule runs them. Each
measurement is a fresh child process with an empty numba cache (``NUMBA_CACHE_DIR``) and the
revision's own ``src`` first on ``PYTHONPATH``; the baseline (a temporary ``git worktree``) and
the current code run alternately, ``--repeats`` times each, so that they see the same machine
load. Printed: the child's wall time (imports included) and each precision's compile seconds
as ``warm_up`` reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_workflow import REPO, checkout  # noqa: E402

SNF = {"K": 20, "mu": 0.5, "t": 20, "variant": "snftool-2.3", "metric": "sqeuclidean"}
CHILD = (
    "import json, sys, time; t = time.perf_counter(); "
    "from metpot.kernels import warm_up; "
    "runs = warm_up(json.loads(sys.argv[1]), 'float32', processes=2); "
    "print(json.dumps({'wall': time.perf_counter() - t, 'runs': runs}))"
)


def measure(repo: Path) -> dict:
    """One cold compilation of ``repo``'s kernels in a child process."""
    with tempfile.TemporaryDirectory(prefix="metpot_numba_") as cache:
        path = [str(repo / "src"), os.environ.get("PYTHONPATH")]
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join(p for p in path if p)}  # fmt: skip
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(SNF)], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="e47e9f4", help="git revision of the baseline")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    rows = []
    with checkout(args.baseline) as base:
        for rep in range(args.repeats):
            for way, repo in ((f"baseline {args.baseline}", base), ("current", REPO)):
                res = measure(repo)
                secs = {r["precision"]: r["seconds"] for r in res["runs"]}
                n = sum(r["compiled"] for r in res["runs"])
                rows.append((way, res["wall"], secs.get("float64"), secs.get("float32"), n))
                print(f"# repeat {rep + 1}: {way}: {res['wall']:.1f} s", flush=True)
    print("\n| way | wall s (both precisions, 2 processes) | float64 compile s | "
          "float32 compile s | signatures compiled |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for way, wall, f64, f32, n in rows:
        print(f"| {way} | {wall:.1f} | {f64:.1f} | {f32:.1f} | {n} |")
    base = sorted(r[1] for r in rows if r[0] != "current")
    cur = sorted(r[1] for r in rows if r[0] == "current")
    print(f"\nratio of the medians, baseline / current: "
          f"{base[len(base) // 2] / cur[len(cur) // 2]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
