"""Time the univariable Cox feature filter (Efron ties, as R coxph) on random data.

python bench/bench_cox.py [--features 20000] [--samples 300] [--max-seconds 60]

Exits with status 1 when the filter takes longer than ``--max-seconds`` (the target: 20,000
features x 300 samples well under a minute on 2 cores).
"""

import argparse
import sys
import time

import numpy as np

from metpot.survival import univariable_cox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(args.samples, args.features))
    time_ = np.round(rng.exponential(10.0, args.samples), 1)  # rounded: tied times
    event = rng.uniform(size=args.samples) < 0.7
    univariable_cox(X[:, :10], time_, event)  # warm-up
    start = time.perf_counter()
    table = univariable_cox(X, time_, event)
    elapsed = time.perf_counter() - start
    print(
        f"univariable_cox: {args.features} features x {args.samples} samples in "
        f"{elapsed:.2f} s ({int(table['converged'].sum())} converged); "
        f"target < {args.max_seconds:g} s: {'met' if elapsed < args.max_seconds else 'MISSED'}"
    )
    if elapsed >= args.max_seconds:
        sys.exit(1)


if __name__ == "__main__":
    main()
