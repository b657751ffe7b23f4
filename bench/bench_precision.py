"""One consensus resample in float64 (the named baseline) and float32, same run, one thread.

What a ``consensus_chunk`` job does per resample at N patients (the subsample is 80%):
submatrices of the full-cohort distances, two affinity networks, their fusion (float64 or
float32, ``clusters.consensus.precision``) and one eigen-decomposition for k = 2..6. Two
synthetic views (2,000 and 300 features, three groups), z-scored; numba and BLAS limited to
one thread as in the workflow. The two precisions alternate ``--repeat`` times; the fastest
of each is reported with CPU seconds, and the labels of both are compared.

Usage::

    python bench/bench_precision.py [--sizes 2000 10000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from metpot import consensus, snf  # noqa: E402


def views(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    out = []
    for p in (2000, 300):
        centres = rng.normal(0, 1, (3, p))
        out.append(snf.standard_normalization(centres[truth] * 0.3 + rng.standard_normal((n, p))))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    numba.set_num_threads(1)
    ks = (2, 3, 4, 5, 6)
    print("| N | subsample | float64 s (CPU) | float32 s (CPU) | ratio | same labels |")
    print("|---:|---:|---:|---:|---:|---|")
    for n in args.sizes:
        X = views(n)
        D = consensus.layer_distances(X)
        idx = consensus.resample_index(n, 0, 0.8, 1)
        for precision in ("float64", "float32"):  # compile and warm the kernels
            consensus.cluster_resample(
                X, idx[:200], (2, 3), normalize=False, distances=D, precision=precision
            )
        best = {"float64": (np.inf, np.inf), "float32": (np.inf, np.inf)}
        labels = {}
        for _ in range(args.repeat):
            for precision in ("float64", "float32"):
                t0, c0 = time.perf_counter(), time.process_time()
                labels[precision] = consensus.cluster_resample(
                    X, idx, ks, normalize=False, distances=D, precision=precision
                )
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                best[precision] = min(best[precision], (wall, cpu))
        same = labels["float64"].equals(labels["float32"])
        (w64, c64), (w32, c32) = best["float64"], best["float32"]
        print(
            f"| {n} | {len(idx)} | {w64:.1f} ({c64:.1f}) | {w32:.1f} ({c32:.1f}) | "
            f"{w64 / w32:.2f} | {same} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
