"""Score held-out samples as a user would, and time NTP.

python bench/bench_score.py accuracy [--splits 5] [--n-perm 1000]
python bench/bench_score.py ntp-speed [--samples 1000] [--n-perm 1000] [--markers 50]

``accuracy``: on TCGA COAD (``../shared/data/tcga_coad``, target ``tcga_subtype``) and on the
synthetic demo cohort (``simulate_cohort(150, 2018)``, target the simulated subtype), for each
of ``--splits`` stratified random 70/30 splits: fit a fixed, untuned pipeline on the 70 %
(SimpleImputer -> StandardScaler -> LogisticRegression(C=0.05, class_weight="balanced")) per
feature set (mRNA, miRNA, both), write it with ``model_io.save_model`` and its card (training
statistics and 50 markers per class from the 70 % only), load it back with
``model_io.load_model`` and score the 30 % with ``score.score_cohort``: the classifier of
each feature set, NTP with the mRNA markers (both recipes,
``score.ntp.pool`` all_genes and markers), and SNF label propagation (both layers, K = 20,
mu = 0.5, t = 20) against the 70 %. Balanced accuracy of each on the 30 % (mean and range
over splits), and which model ``select_model`` picks for an mRNA-only cohort.

``ntp-speed``: ``score.ntp`` on random data against a per-permutation Python loop (the
straightforward implementation), both on the same samples and seeds; the loop is timed on
the first 20 samples and scaled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from metpot import score as S
from metpot.errors import DataWarning
from metpot.io import read_omics, read_table
from metpot.model_io import load_model, save_model
from metpot.simulate import simulate_cohort

COAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "tcga_coad"
FEATURE_SETS = {"mrna": ("mrna",), "mirna": ("mirna",), "mrna+mirna": ("mrna", "mirna")}


def _coad():
    layers = {k: read_omics(COAD / f"{k}.csv.gz") for k in ("mrna", "mirna")}
    clin = read_table(COAD / "clinical.csv").set_index("sample_id")
    return layers, clin["tcga_subtype"].astype(str)


def _demo():
    c = simulate_cohort(150, seed=2018)
    layers = {k: c[k].T for k in ("mrna", "mirna")}
    return layers, c["truth"].set_index("sample_id")["label"].astype(str)


def _train(layers, y, names, folder: Path, name: str):
    X = pd.concat([layers[n].add_prefix(f"{n}:") for n in names], axis=1)
    feats = [
        {"layer": n, "feature": f, "column": f"{n}:{f}"} for n in names for f in layers[n].columns
    ]
    model = make_pipeline(
        SimpleImputer(),
        StandardScaler(),
        LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000),
    ).fit(X, y.loc[X.index])
    card = {
        "target": "subtype",
        "feature_set": name,
        "classes": [str(c) for c in model.classes_],
        "layers": list(names),
        "features": feats,
        "preprocessing": {**S.training_statistics(X), "missing": "impute"},
        "markers": S.class_markers(X, y.loc[X.index], 50),
        # no nested CV here: a stand-in primary metric so that select_model can run
        "metrics": {
            "primary": "balanced_accuracy",
            "balanced_accuracy": {"estimate": {"mrna+mirna": 0.9, "mrna": 0.8, "mirna": 0.7}[name]},
        },
    }
    path = folder / f"logreg__{name}.skops"
    save_model(model, path, card)
    return path


def accuracy(args) -> None:
    rows = []
    for cohort, loader in (("tcga_coad", _coad), ("demo", _demo)):
        layers, y = loader()
        ids = [s for s in layers["mrna"].index if s in y.index]
        for split in range(args.splits):
            train, test = train_test_split(
                ids, test_size=0.3, random_state=split, stratify=y.loc[ids]
            )
            tr = {k: v.loc[train] for k, v in layers.items()}
            te = {k: v.loc[test] for k, v in layers.items()}
            truth = y.loc[test]
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                paths = {n: _train(tr, y, names, Path(tmp), n) for n, names in FEATURE_SETS.items()}
                cards = {n: load_model(p)[1] for n, p in paths.items()}
                chosen = S.select_model({n: c for n, c in cards.items()}, ["mrna"])
                for n, p in paths.items():
                    model, card = load_model(p)
                    out, _ = S.score_cohort(model, card, te, method="classifier")
                    rows.append((cohort, split, f"classifier {n}", out, truth))
                # another platform: every mRNA value x -> 0.5 x + 3 (scale and offset)
                other = {**te, "mrna": te["mrna"] * 0.5 + 3.0}
                model, card = load_model(paths["mrna"])
                for std in ("none", "per_cohort"):
                    out, _ = S.score_cohort(model, card, other, standardize=std)
                    rows.append((cohort, split, f"classifier mrna, 0.5x+3, {std}", out, truth))
                model, card = load_model(paths["mrna"])
                for pool in ("all_genes", "markers"):  # CMScaller's recipe (default), MOVICS's
                    out, _ = S.score_cohort(
                        model, card, te, method="ntp", ntp_n_perm=args.n_perm, ntp_pool=pool
                    )
                    rows.append((cohort, split, f"ntp mrna markers, pool {pool}", out, truth))
                out, _ = S.score_cohort(
                    None,
                    card,
                    te,
                    method="snf_propagation",
                    reference={"layers": tr, "labels": y.loc[train]},
                )
                rows.append((cohort, split, "snf_propagation mrna+mirna", out, truth))
            print(
                f"{cohort} split {split}: select_model for an mRNA-only cohort -> {chosen}",
                file=sys.stderr,
            )
    recs = []
    for c, s, m, out, t in rows:
        p = out.set_index("sample_id")["prediction"]
        flag = out["flag"].fillna("")
        recs.append(
            (
                c,
                s,
                m,
                balanced_accuracy_score(t.loc[p.index], p),
                float((p == t.loc[p.index]).mean()),
                float(flag.str.contains("low_confidence").mean()),
                float(flag.str.contains("unlike_training").mean()),
            )
        )
    table = pd.DataFrame(
        recs,
        columns=[
            "cohort",
            "split",
            "method",
            "balanced_accuracy",
            "accuracy",
            "low_conf",
            "unlike",
        ],
    )
    agg = table.groupby(["cohort", "method"], sort=False).agg(
        bal_acc_mean=("balanced_accuracy", "mean"),
        bal_acc_min=("balanced_accuracy", "min"),
        bal_acc_max=("balanced_accuracy", "max"),
        acc_mean=("accuracy", "mean"),
        low_conf=("low_conf", "mean"),
        unlike=("unlike", "mean"),
    )
    pd.set_option("display.width", 140)
    print(agg.round(3).to_string())


def _ntp_loop(Z, templates, n_perm, seed):
    """Straightforward NTP p-values: one permutation at a time (the baseline)."""
    cols = list(templates.index)
    Tm = templates.to_numpy(dtype=float)
    Tn = Tm / np.linalg.norm(Tm, axis=0)
    X = Z.loc[:, cols].to_numpy()
    pool = Z.to_numpy()
    out = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(len(Z))):
        rng = np.random.default_rng(child)
        idx = rng.integers(0, pool.shape[1], size=(n_perm, len(cols)))
        x = X[i]
        obs = round(1.0 - float(np.max(x @ Tn / np.linalg.norm(x))), 12)
        hits = 0
        for b in range(n_perm):
            r = pool[i][idx[b]]
            d = round(1.0 - float(np.max(r @ Tn / np.linalg.norm(r))), 12)
            hits += d <= obs
        out.append((1 + hits) / (n_perm + 1))
    return np.array(out)


def ntp_speed(args) -> None:
    rng = np.random.default_rng(0)
    k, m = 4, args.markers
    S_ = k * m
    Z = pd.DataFrame(rng.normal(size=(args.samples, S_)), columns=[f"f{j}" for j in range(S_)])
    markers = {f"c{c}": [f"f{j}" for j in range(c * m, (c + 1) * m)] for c in range(k)}
    T = S.ntp_templates(markers, Z.columns)
    t0 = time.perf_counter()
    res = S.ntp(Z, T, n_perm=args.n_perm, seed=1)
    fast = time.perf_counter() - t0
    sub = 20
    t0 = time.perf_counter()
    slow_p = _ntp_loop(Z.iloc[:sub], T, args.n_perm, seed=1)
    slow = (time.perf_counter() - t0) * args.samples / sub
    # the same draws: the first samples' p-values agree exactly
    head = S.ntp(Z.iloc[:sub], T, n_perm=args.n_perm, seed=1)["p_value"].to_numpy()
    assert np.array_equal(head, slow_p), "baseline and score.ntp disagree"
    assert np.array_equal(head, res["p_value"].to_numpy()[:sub])
    print(
        f"ntp: {args.samples} samples x {args.n_perm} resamples, {k} classes x {m} markers: "
        f"score.ntp {fast:.2f} s; per-permutation loop {slow:.1f} s (scaled from {sub} "
        f"samples); ratio {slow / fast:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--splits", type=int, default=5)
    a.add_argument("--n-perm", type=int, default=1000)
    b = sub.add_parser("ntp-speed")
    b.add_argument("--samples", type=int, default=1000)
    b.add_argument("--n-perm", type=int, default=1000)
    b.add_argument("--markers", type=int, default=50)
    args = parser.parse_args()
    accuracy(args) if args.what == "accuracy" else ntp_speed(args)


if __name__ == "__main__":
    main()
