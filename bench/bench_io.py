"""Reading a large text matrix: peak memory and time of ``metpot.io.read_omics``, against the
reader of commit 5f3ce75 (cell by cell into Python lists: the named baseline) in the same run.

A generated features x samples TSV (standard normal values, ``%.7g``; ~50 MB by default) is
read by each reader in a fresh child process; each child reports its wall time, the growth of
its peak resident memory over the memory after its imports (``ru_maxrss``: it sees pyarrow's
allocations, which ``tracemalloc`` does not), and a hash of the frame it read, so that the
two frames are checked identical.

Usage::

    python bench/bench_io.py [--size 20000x250] [--gzip]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BASELINE = "5f3ce75"
ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, importlib.util, json, resource, sys, time
import numpy as np
import pandas as pd
import pyarrow.csv  # noqa: F401  (imported by both readers' processes alike)
import metpot.errors

module, path = sys.argv[1], sys.argv[2]
if module == "metpot.io":
    from metpot.io import read_omics
else:
    spec = importlib.util.spec_from_file_location("old_io", module)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    read_omics = old.read_omics
with open("/proc/self/statm") as fh:
    before = int(fh.read().split()[1]) * resource.getpagesize()
t0 = time.perf_counter()
frame = read_omics(path)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
digest = hashlib.sha256(np.ascontiguousarray(frame.to_numpy()).tobytes())
digest.update("\t".join(frame.index).encode() + b"\n" + "\t".join(frame.columns).encode())
print(json.dumps({"seconds": seconds, "growth": peak - before, "shape": frame.shape,
                  "sha256": digest.hexdigest()}))
"""


def _write_matrix(path: Path, n_features: int, n_samples: int, gz: bool) -> int:
    """The TSV (gzipped with ``gz``); returns its uncompressed size in bytes."""
    import gzip

    rng = np.random.default_rng(0)
    header = "feature\t" + "\t".join(f"S{j:04d}" for j in range(n_samples)) + "\n"
    size = 0
    opener = gzip.open if gz else open
    with opener(path, "wt") as fh:
        fh.write(header)
        size += len(header)
        for start in range(0, n_features, 1000):
            block = rng.standard_normal((min(1000, n_features - start), n_samples))
            lines = "".join(
                f"G{start + i:05d}\t" + "\t".join(f"{v:.7g}" for v in row) + "\n"
                for i, row in enumerate(block)
            )
            fh.write(lines)
            size += len(lines.encode())
    return size


def _child(module: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, module, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="20000x250", help="features x samples")
    ap.add_argument("--gzip", action="store_true", help="read a gzipped file")
    args = ap.parse_args(argv)
    n_features, n_samples = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench_io.") as tmp:
        tmp = Path(tmp)
        old = tmp / f"io_{BASELINE}.py"
        old.write_text(
            subprocess.run(
                ["git", "show", f"{BASELINE}:src/metpot/io.py"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        path = tmp / ("matrix.tsv.gz" if args.gzip else "matrix.tsv")
        size = _write_matrix(path, n_features, n_samples, args.gzip)
        print(
            f"{n_features} x {n_samples} TSV{' (gzipped)' if args.gzip else ''}: "
            f"{size / 1e6:.1f} MB of text, {path.stat().st_size / 1e6:.1f} MB on disk"
        )
        print("| reader | wall s | peak memory growth MB | bytes per input byte |")
        print("|---|---:|---:|---:|")
        results = {}
        for name, module in ((f"{BASELINE} (baseline)", str(old)), ("metpot.io", "metpot.io")):
            r = results[name] = _child(module, path)
            print(
                f"| {name} | {r['seconds']:.2f} | {r['growth'] / 1e6:.0f} | "
                f"{r['growth'] / size:.1f} |",
                flush=True,
            )
        base, new = results.values()
        print(
            f"ratio baseline / metpot.io: memory {base['growth'] / new['growth']:.1f}x, "
            f"time {base['seconds'] / new['seconds']:.1f}x; frames identical: "
            f"{base['sha256'] == new['sha256']}"
        )


if __name__ == "__main__":
    main()
