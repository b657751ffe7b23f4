"""Time the whole classification on the SYNTHETIC demo cohort and print its main numbers.

python bench/bench_classify.py [--n-jobs 2] [--patients 150] [--seed 2018] [--out DIR]

Targets: the simulated subtypes (as a stand-in for ``snf_subtype``) and overall survival;
every default classifier x feature set (mrna, mirna, all, signature of 31), Cox elastic net
and random survival forest x feature sets, and the CRS alone; nested CV 5 x 2 outer folds,
3 inner folds. CPU seconds are summed over the fold workers (the machine is shared, so wall
time depends on the load; CPU time does not). Baseline for the ratio: the (logistic, mrna)
fit alone with ``n_jobs=1``.
"""

import argparse
import os
import time
import warnings

import pandas as pd

from metpot import classify as C
from metpot.risk_score import fong_score
from metpot.simulate import simulate_cohort
from metpot.survival import survival_frame


def demo_inputs(n_patients: int, seed: int):
    """Layers (samples x features), targets, CRS and OS of the demo cohort."""
    d = simulate_cohort(n_patients, seed=seed)
    layers = {"mrna": d["mrna"].T, "mirna": d["mirna"].T}
    clinical = d["clinical"].set_index("sample_id")
    truth = d["truth"].set_index("sample_id")["label"].rename("snf_subtype")
    factors = ["node_positive", "disease_free_interval_months", "n_liver_tumors",
               "cea_ng_ml", "largest_tumor_cm"]  # fmt: skip
    crs = fong_score(clinical, **{f: f for f in factors})["scores"]["crs"]
    crs = crs.reindex(clinical.index).astype(float)
    os_ = survival_frame(clinical, "os_months", "os_event", 1)
    targets = {
        "snf_subtype": C.categorical_target(truth, "snf_subtype"),
        "os": C.survival_target(os_, "os"),
    }
    return layers, targets, crs, os_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--out", help="folder for the tables (TSV)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    layers, targets, crs, os_ = demo_inputs(args.patients, args.seed)
    cfg = {"n_jobs": args.n_jobs}

    base = C.fit_one(targets["snf_subtype"], "logistic", "mrna", layers, {"n_jobs": 1},
                     crs=crs, outcome=os_)  # fmt: skip
    start = time.perf_counter()
    res = C.run_classification(layers, targets, cfg, crs=crs, outcome=os_, cohort={"name": "demo"})
    wall = time.perf_counter() - start
    cpu_s = sum(r["cpu_seconds"] for r in res["results"])
    n_fits = len(res["results"])
    print(
        f"baseline (logistic/mrna, n_jobs=1): {base['wall_seconds']:.1f} s wall, "
        f"{base['cpu_seconds']:.1f} s CPU"
    )
    print(
        f"whole classification ({n_fits} target x model x feature set, "
        f"n_jobs={args.n_jobs}): {wall:.1f} s wall, {cpu_s:.1f} s CPU "
        f"(= {cpu_s / 2:.0f} s on 2 free cores); CPU ratio to baseline "
        f"{cpu_s / base['cpu_seconds']:.1f}"
    )
    for r in res["results"]:
        print(f"  {r['target']:12s} {r['model']:18s} {r['feature_set']:10s} "
              f"{r['cpu_seconds']:6.1f} s CPU {r['wall_seconds']:6.1f} s wall")  # fmt: skip
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    cmp_ = res["comparison"]
    prim = cmp_[cmp_["metric"].isin(["balanced_accuracy", "harrell_c"])]
    print(prim[["target", "model", "feature_set", "n_features", "metric", "estimate", "ci_low",
                "ci_high"]].round(3).to_string(index=False))  # fmt: skip
    print(res["best"].round(3).to_string(index=False))
    vs = res["vs_crs"]
    print(vs[vs["metric"] == "harrell_c_difference"][
        ["target", "model", "feature_set", "predictor", "reference", "estimate", "ci_low",
         "ci_high", "p_value"]].round(3).to_string(index=False))  # fmt: skip
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for key in ("comparison", "best", "vs_crs", "decision_curve", "predictions", "folds",
                    "features"):  # fmt: skip
            res[key].to_csv(os.path.join(args.out, f"{key}.tsv"), sep="\t", index=False)


if __name__ == "__main__":
    main()
