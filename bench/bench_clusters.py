"""Benchmark of the clustering side of the workflow: previous implementation vs current.

Two parts, each timed old and new in the same run, each in a fresh child process (one
thread for BLAS and numba, as a consensus job runs) that reports its wall time and peak
RSS (``getrusage``, including the interpreter and its inputs):

``chunk``
    What a ``consensus_chunk`` job does per resample on a synthetic demo cohort of N
    patients (``metpot.simulate.simulate_cohort``, layers z-scored like the workflow):
    *old* = the SNF pipeline on the 80% subsample (distances, affinities, fusion) and one
    dense eigen-decomposition per k (k = 2..6); *new* = ``layer_distances`` once per chunk
    (timed separately; a default chunk holds 25 resamples), the subsample's submatrix,
    affinities, fusion and one eigen-decomposition for all k
    (``consensus.cluster_resample(distances=...)``). The labels of both are compared.
``clusters``
    What the ``clusters`` step computes: *old* = ``estimate_n_clusters`` +
    ``cluster_number_scores`` + ``spectral_clustering`` per k (seven dense
    decompositions) + a consensus matrix per k by n x n scatters + PAC / CDF / area by
    sorting the pair values + stability; *new* = ``clusters.cluster_fused`` (one
    decomposition per Laplacian, Lanczos from 500 samples on) + ``consensus_matrices``
    (one BLAS rank-k update) + ``consensus_summary`` (binned CDF) + stability. Inputs:
    the fused network of the cohort (built beforehand in another child, so its memory
    is not counted) and 200 synthetic resample tables (80%, k = 2..6).
    Estimates, scores, labels and the summary of both are compared.

Usage::

    python bench/bench_clusters.py [--sizes 1000 2000] [--new-only 10000] [--resamples 2]

The old implementations are kept below as the named baseline (``old_*``).
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

KS = [2, 3, 4, 5, 6]
SNF_SETTINGS = {"K": 20, "mu": 0.5, "t": 20, "variant": "snftool-2.3", "metric": "sqeuclidean"}


# ------------------------------------------------------------------ the old baseline


def old_spectral_clustering(W, k):
    """Previous ``snf.spectral_clustering``: one dense decomposition (pairs 0..k+1) per k."""
    import scipy.linalg

    from metpot import snf

    A = np.asarray(W, dtype=float)
    n = A.shape[0]
    L = snf._laplacian_sym(A)
    lam, vec = scipy.linalg.eigh(L, subset_by_index=[0, min(n - 1, k + 1)], driver="evr")
    lam, vec = lam[::-1], vec[:, ::-1]
    U = vec[:, np.argsort(np.abs(lam), kind="stable")[:k]]
    U = U / np.sqrt((U**2).sum(axis=1))[:, None]
    return (snf._discretisation(U) + 1).astype(np.int64)


def old_cluster_number_scores(W, cands, variant):
    """Previous ``snf.cluster_number_scores``: two copies of W, dense eigenvalues 0..kmax."""
    import scipy.linalg

    from metpot import snf

    A = np.array(W, dtype=float, copy=True)
    n = A.shape[0]
    A = (A + A.T) / 2
    np.fill_diagonal(A, 0.0)
    L = snf._laplacian_sym(A)
    lam = scipy.linalg.eigh(L, eigvals_only=True, subset_by_index=[0, max(cands)], driver="evr")
    lam = np.sort(lam)
    ks = np.asarray(cands)
    gap = np.abs(lam[ks] - lam[ks - 1])
    if variant == "snftool-2.2":
        gap = gap * (1 - lam[ks - 1]) / (1 - lam[ks])
    rot = (1 - lam[ks]) / (1 - lam[ks - 1]) * (n * (1.0 / (1.0 + snf._EPS)))
    gap_rank = np.empty(len(ks), np.int64)
    gap_rank[np.argsort(-gap, kind="stable")] = np.arange(1, len(ks) + 1)
    rot_rank = np.empty(len(ks), np.int64)
    rot_rank[np.argsort(rot, kind="stable")] = np.arange(1, len(ks) + 1)
    return pd.DataFrame(
        {
            "n_clusters": ks,
            "eigengap": gap,
            "rotation_cost": rot,
            "eigengap_rank": gap_rank,
            "rotation_cost_rank": rot_rank,
        }
    )


def old_cluster_resample(views, idx, ks, K, mu, t, variant, metric):
    """Previous ``consensus.cluster_resample`` (normalize=False): everything per subsample."""
    from metpot import snf

    subs = [v[idx] for v in views]
    _, W = snf.snf_pipeline(subs, K=K, mu=mu, t=t, variant=variant, metric=metric,
                            normalize=False)  # fmt: skip
    return {k: old_spectral_clustering(W, k) for k in ks}


def old_consensus_matrix(n, resamples):
    together = np.zeros((n, n))
    counts = np.zeros((n, n))
    for idx, lab in resamples:
        counts[np.ix_(idx, idx)] += 1.0
        same = (lab[:, None] == lab[None, :]).astype(float)
        together[np.ix_(idx, idx)] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, together / np.where(counts > 0, counts, 1.0), 0.0)


def old_cdf(M, x):
    values = np.sort(M[np.triu_indices(M.shape[0], k=1)])
    return np.searchsorted(values, np.asarray(x) + 1e-12, side="right") / len(values)


def old_summary(matrices):
    from metpot.consensus import DEFAULT_GRID

    out = {}
    for k, M in matrices.items():
        p = old_cdf(M, [0.1, 0.9])
        area = float(np.sum(np.diff(DEFAULT_GRID) * old_cdf(M, DEFAULT_GRID)[1:]))
        cdf = old_cdf(M, DEFAULT_GRID)
        out[k] = (round(float(p[1] - p[0]), 6), round(area, 6), [round(float(v), 6) for v in cdf])
    return out


def old_sample_stability(M, lab):
    same = lab[:, None] == lab[None, :]
    np.fill_diagonal(same, False)
    n_same = same.sum(axis=1)
    total = np.where(same, M, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_same > 0, total / np.maximum(n_same, 1), np.nan)


# ---------------------------------------------------------------------------- data


def cohort_views(n: int) -> list[np.ndarray]:
    """The demo cohort's two layers, complete scaled features, samples in rows."""
    from metpot import snf
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n)
    views = []
    for layer in ("mrna", "mirna"):
        x = cohort[layer].T
        x = x.loc[:, x.notna().all() & (x.std() > 0)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            views.append(snf.standard_normalization(x.to_numpy()))
    return views


def resample_tables(n: int, n_resamples: int = 200, seed: int = 0) -> list[pd.DataFrame]:
    """Synthetic clustered resamples: labels follow a hidden grouping with 20% noise."""
    from metpot.consensus import resample_index

    rng = np.random.default_rng(seed)
    hidden = rng.integers(0, 6, n)
    tables = []
    for r in range(n_resamples):
        idx = resample_index(n, r, 0.8, seed)
        data = {}
        for k in KS:
            noise = rng.integers(0, k, len(idx))
            data[k] = np.where(rng.random(len(idx)) < 0.8, hidden[idx] % k, noise) + 1
        tables.append(pd.DataFrame(data, index=pd.Index(idx, name="sample")))
    return tables


# -------------------------------------------------------------------------- children


def child(args) -> None:
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    result: dict = {}
    with threadpool_limits(1):
        if args.part == "fused":
            from metpot import snf

            _, W = snf.snf_pipeline(cohort_views(args.n), **SNF_SETTINGS, normalize=False)
            np.save(args.data, W)
            return
        if args.part == "chunk":
            result = chunk_child(args)
        else:
            result = clusters_child(args)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    Path(args.out).write_text(json.dumps(result))


def chunk_child(args) -> dict:
    from metpot import consensus

    views = cohort_views(args.n)
    n = views[0].shape[0]
    labels = {}
    out: dict = {}
    if args.impl == "new":
        t0 = time.perf_counter()
        D = consensus.layer_distances(views, SNF_SETTINGS["metric"])
        out["distances_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in range(args.resamples):
        idx = consensus.resample_index(n, r, 0.8, 1)
        if args.impl == "old":
            lab = old_cluster_resample(views, idx, KS, **SNF_SETTINGS)
        else:
            tab = consensus.cluster_resample(
                views, idx, KS, **SNF_SETTINGS, normalize=False, distances=D
            )
            lab = {k: tab[k].to_numpy() for k in KS}
        labels[r] = {k: lab[k].tolist() for k in KS}
    out["per_resample_s"] = (time.perf_counter() - t0) / args.resamples
    out["labels"] = labels
    return out


def clusters_child(args) -> dict:
    from metpot import consensus, snf

    W = np.load(args.data)
    n = W.shape[0]
    tables = resample_tables(n)
    t0 = time.perf_counter()
    if args.impl == "old":
        est = snf.estimates_from_scores(old_cluster_number_scores(W, KS, "snftool-2.3"))
        scores = old_cluster_number_scores(W, KS, "snftool-2.3")
        labels = {k: old_spectral_clustering(W, k) for k in KS}
    else:
        from metpot.clusters import ESTIMATE_KEYS, cluster_fused

        fit = cluster_fused(W, KS, "snftool-2.3")
        est = tuple(fit["estimates"][key] for key in ESTIMATE_KEYS)
        scores, labels = fit["scores"], fit["labels"]
    t1 = time.perf_counter()
    if args.impl == "old":
        matrices = {
            k: old_consensus_matrix(
                n, [(t.index.to_numpy(), t.iloc[:, j].to_numpy()) for t in tables]
            )
            for j, k in enumerate(KS)
        }
        t2 = time.perf_counter()
        summary = old_summary(matrices)
        stability = {k: old_sample_stability(matrices[k], labels[k]) for k in KS}
    else:
        matrices = consensus.consensus_matrices(n, tables)
        t2 = time.perf_counter()
        s = consensus.consensus_summary(matrices)
        summary = {k: (s["pac"][str(k)], s["area"][str(k)], s["cdf"][str(k)]) for k in KS}
        stability = {k: consensus.sample_stability(matrices[k], labels[k]) for k in KS}
    t3 = time.perf_counter()
    return {
        "eigen_s": t1 - t0,
        "matrices_s": t2 - t1,
        "summary_s": t3 - t2,
        "total_s": t3 - t0,
        "estimates": list(est),
        "scores": scores[["eigengap", "rotation_cost"]].to_numpy().tolist(),
        "labels": {k: np.asarray(v).tolist() for k, v in labels.items()},
        "summary": {k: list(v) for k, v in summary.items()},
        "stability": {k: np.nan_to_num(v, nan=-1).tolist() for k, v in stability.items()},
    }


def run_child(part: str, impl: str, n: int, resamples: int, data: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    cmd = [sys.executable, __file__, "--child", part, "--impl", impl, "--n", str(n),
           "--resamples", str(resamples), "--data", data, "--out", out]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t0
    if part == "fused":
        return {}
    res = json.loads(Path(out).read_text())
    os.unlink(out)
    res["child_wall_s"] = wall
    return res


def compare(old: dict, new: dict, part: str) -> str:
    if part == "chunk":
        same = old["labels"] == new["labels"]
        return "labels identical" if same else "LABELS DIFFER"
    notes = []
    notes.append("estimates identical" if old["estimates"] == new["estimates"] else "EST DIFFER")
    a, b = np.asarray(old["scores"]), np.asarray(new["scores"])
    notes.append(f"scores rel. diff {np.abs(a - b).max() / np.abs(a).max():.1e}")
    notes.append("labels identical" if old["labels"] == new["labels"] else "LABELS DIFFER")
    same = old["summary"] == new["summary"] and old["stability"] == new["stability"]
    notes.append("PAC/CDF/area/stability identical" if same else "SUMMARY DIFFERS")
    return ", ".join(notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000])
    ap.add_argument("--new-only", type=int, nargs="*", default=[])
    ap.add_argument("--resamples", type=int, default=2, help="resamples timed per chunk run")
    ap.add_argument("--parts", nargs="+", default=["chunk", "clusters"])
    ap.add_argument("--child", choices=["chunk", "clusters", "fused"])
    ap.add_argument("--impl", choices=["old", "new"], default="new")
    ap.add_argument("--n", type=int)
    ap.add_argument("--data", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.child:
        args.part = args.child
        child(args)
        return

    run_child("chunk", "new", 120, 1, "")  # warm the numba cache
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes + args.new_only:
            impls = ["new"] if n in args.new_only and n not in args.sizes else ["old", "new"]
            data = str(Path(tmp) / f"fused_{n}.npy")
            if "clusters" in args.parts:
                run_child("fused", "new", n, 0, data)
            for part in args.parts:
                res = {impl: run_child(part, impl, n, args.resamples, data) for impl in impls}
                rows.append((n, part, res))
                line = {impl: {k: v for k, v in r.items() if k.endswith(("_s", "_gb"))}
                        for impl, r in res.items()}  # fmt: skip
                print(json.dumps({"n": n, "part": part, **line}), flush=True)
            Path(data).unlink(missing_ok=True)

    print("\n| N | part | old s | new s | ratio | old peak GB | new peak GB | check |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for n, part, res in rows:
        key = "per_resample_s" if part == "chunk" else "total_s"
        old, new = res.get("old"), res["new"]
        o = f"{old[key]:.3f}" if old else "-"
        ratio = f"{old[key] / new[key]:.1f}" if old else "-"
        og = f"{old['peak_rss_gb']:.2f}" if old else "-"
        check = compare(old, new, part) if old else "-"
        extra = (
            f" (+{new['distances_s']:.2f} s distances once per chunk)" if part == "chunk" else ""
        )
        label = "chunk (per resample)" if part == "chunk" else "clusters step"
        print(f"| {n} | {label} | {o} | {new[key]:.3f}{extra} | {ratio} | {og} | "
              f"{new['peak_rss_gb']:.2f} | {check} |")  # fmt: skip
    for n, part, res in rows:
        if part == "clusters":
            parts = {
                impl: (r["eigen_s"], r["matrices_s"], r["summary_s"]) for impl, r in res.items()
            }
            print(f"clusters N={n}: eigen / consensus matrices / summary+stability s: "
                  + "; ".join(f"{i} " + " / ".join(f"{x:.2f}" for x in v)
                              for i, v in parts.items()))  # fmt: skip


if __name__ == "__main__":
    main()
