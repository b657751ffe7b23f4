"""KNN imputation: scikit-learn's ``KNNImputer`` (the named baseline) vs ``preprocess.knn_impute``.

Both in the same process on the same random matrix (samples x features, standard normal,
``--missing`` of the cells set to NaN, the demo's rate by default), ``n_neighbors=10`` as the
preprocess step uses; wall seconds of each, their ratio and the largest absolute difference
of the imputed values.

Usage::

    python bench/bench_impute.py [--sizes 1000x2000 4000x2000] [--missing 1e-4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.impute import KNNImputer

from metpot.preprocess import knn_impute


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["1000x2000", "4000x2000"])
    ap.add_argument("--missing", type=float, default=1e-4)
    args = ap.parse_args(argv)
    print("| samples x features | KNNImputer s | knn_impute s | ratio | max abs diff |")
    print("|---|---:|---:|---:|---:|")
    for size in args.sizes:
        n, p = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, p))
        X[rng.random((n, p)) < args.missing] = np.nan
        t0 = time.perf_counter()
        expected = KNNImputer(n_neighbors=10, keep_empty_features=True).fit_transform(X)
        t1 = time.perf_counter()
        got = knn_impute(X, 10)
        t2 = time.perf_counter()
        print(
            f"| {n} x {p} | {t1 - t0:.2f} | {t2 - t1:.2f} | {(t1 - t0) / (t2 - t1):.1f} | "
            f"{np.abs(got - expected).max():.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
