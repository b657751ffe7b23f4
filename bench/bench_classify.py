"""The demo's classifier fits, current code against a named baseline revision, same session.

python bench/bench_classify.py [--baseline 5f3ce75] [--patients 150] [--seed 2018]
                               [--models logistic,svm,random_forest,gradient_boosting,mlp]
                               [--repeats 1] [--out DIR]

Target: the demo's simulated subtypes (a stand-in for ``snf_subtype``), compared with the
risk score on overall survival, as in the workflow. Feature sets mrna, mirna, all and the
31-feature signature; nested CV 5 x 2 outer folds, 3 inner folds; the final models refitted.

Three ways, run alternately ``--repeats`` times in one process so that they see the same
machine load (CPU seconds of this process; the machine is shared, so wall time is load
dependent and CPU time much less so):

* ``baseline``: the classify module of revision ``--baseline`` (read with ``git show`` into a
  temporary module), one ``fit_one`` per model x feature set, as its workflow ran them (one
  job each): every model refits the preprocessing of every fold;
* ``baseline, same models``: the baseline code on ``--models`` (the ratio of the two
  implementations on the same work);
* ``current``: :func:`metpot.classify.fit_models`, one call per feature set for ``--models``
  (the preprocessing of each fold fitted once and shared, random forests tuned out of bag,
  the logistic regression's ``C`` grid a warm-started path);
* ``current, default``: the default ``classify.models`` of the current schema.

``--cohort tcga``: the vendored TCGA COAD cohort instead (``tests/data/r_reference``; target
its TCGA subtypes, class 4 of 3 samples left out; no risk score), the real-data check of the
default model set.

Each row gives the balanced accuracy (95 % CI) of every model x feature set, so that a speed
up that changed a number shows. Not counted: the ~2.5 s of imports that every workflow job
pays (``bench/bench_workflow.py`` measures the whole workflow, imports included).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from metpot import classify as C
from metpot.risk_score import fong_score
from metpot.simulate import simulate_cohort
from metpot.survival import survival_frame

REPO = Path(__file__).resolve().parents[1]
FEATURE_SETS = ("mrna", "mirna", "all", "signature")
ALL_MODELS = "logistic,svm,random_forest,gradient_boosting,mlp"


def demo_inputs(n_patients: int, seed: int):
    """Layers (samples x features), the subtype target, CRS and OS of the demo cohort."""
    d = simulate_cohort(n_patients, seed=seed)
    layers = {"mrna": d["mrna"].T, "mirna": d["mirna"].T}
    clinical = d["clinical"].set_index("sample_id")
    truth = d["truth"].set_index("sample_id")["label"].rename("snf_subtype")
    factors = ["node_positive", "disease_free_interval_months", "n_liver_tumors",
               "cea_ng_ml", "largest_tumor_cm"]  # fmt: skip
    crs = fong_score(clinical, **{f: f for f in factors})["scores"]["crs"]
    crs = crs.reindex(clinical.index).astype(float)
    os_ = survival_frame(clinical, "os_months", "os_event", 1)
    return layers, truth, crs, os_


def tcga_inputs():
    """The vendored TCGA COAD cohort (tests/data): layers and the TCGA subtype target."""
    from metpot.io import read_omics

    folder = REPO / "tests" / "data" / "r_reference" / "tcga_coad"
    layers = {name: read_omics(folder / f"{name}.csv.gz") for name in ("mrna", "mirna")}
    common = layers["mrna"].index.intersection(layers["mirna"].index)
    layers = {k: v.loc[common] for k, v in layers.items()}
    clinical = pd.read_csv(folder / "clinical.csv", dtype=str).set_index("sample_id")
    return layers, clinical.loc[common, "tcga_subtype"].rename("tcga_subtype"), None, None


def baseline_module(rev: str):
    """The ``metpot.classify`` module of revision ``rev`` (its other imports: current)."""
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:src/metpot/classify.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="metpot_bench_")) / "classify_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("classify_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["classify_baseline"] = module
    spec.loader.exec_module(module)
    return module


def run(way: str, module, models: list[str], layers, truth, crs, os_) -> tuple[float, list]:
    """CPU seconds and fit results of one way."""
    cfg = {"models": {m: {} for m in models}, "n_jobs": 1}
    target = module.categorical_target(truth, str(truth.name))
    kw = {"crs": crs, "outcome": os_, "time_unit": "months", "cohort": {"name": "demo"}}
    cpu0 = time.process_time()
    if way.startswith("baseline"):
        fits = [module.fit_one(target, m, fs, layers, cfg, **kw)
                for m in models for fs in FEATURE_SETS]  # fmt: skip
    else:
        fits = [f for fs in FEATURE_SETS
                for f in module.fit_models(target, models, fs, layers, cfg, **kw)]  # fmt: skip
    return time.process_time() - cpu0, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="5f3ce75", help="git revision of the baseline")
    parser.add_argument(
        "--cohort",
        choices=["demo", "tcga"],
        default="demo",
        help="the demo, or TCGA COAD (tests/data; its subtypes, no CRS)",
    )
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--models", default=ALL_MODELS, help="models of the same-work ratio")
    parser.add_argument("--no-baseline", action="store_true", help="the current code only")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", help="folder for the balanced-accuracy table (TSV)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.cohort == "tcga":
        layers, truth, crs, os_ = tcga_inputs()
    else:
        layers, truth, crs, os_ = demo_inputs(args.patients, args.seed)
    base = baseline_module(args.baseline)
    models = args.models.split(",")
    # the classifiers of each default (a categorical target: survival models do not apply)
    default = [m for m in C.resolve_config({})["models"] if m in C.CLASSIFIERS]
    old_default = [m for m in base.resolve_config({})["models"] if m in base.CLASSIFIERS]
    first_way = f"baseline {args.baseline}, its default ({len(old_default)} models)"
    ways = {} if args.no_baseline else {first_way: (base, old_default)}
    if models != old_default and not args.no_baseline:
        ways[f"baseline {args.baseline}, {len(models)} models"] = (base, models)
    ways[f"current, {len(models)} models"] = (C, models)
    if default != models:
        ways[f"current, its default ({', '.join(default)})"] = (C, default)
    same_b = next((w for w, (m, ms) in ways.items() if m is base and ms == models), None)
    cpu = {w: [] for w in ways}
    rows = []
    for rep in range(args.repeats):
        for way, (module, ms) in ways.items():
            seconds, fits = run(way, module, ms, layers, truth, crs, os_)
            cpu[way].append(seconds)
            print(f"# repeat {rep + 1}: {way}: {seconds:.1f} CPU s", flush=True)
            if rep == 0:
                for f in fits:
                    ba = f["rows"].set_index("metric").loc["balanced_accuracy"]
                    rows.append({"way": way, "model": f["model"], "feature_set": f["feature_set"],
                                 "balanced_accuracy": ba["estimate"], "ci_low": ba["ci_low"],
                                 "ci_high": ba["ci_high"]})  # fmt: skip
    print(f"\n### Classifier fits, {args.cohort} (N = {len(truth)}), CPU s, same session\n")
    print("| way | fits | CPU s (median) | ratio to the baseline's default |")
    print("|---|---:|---:|---:|")
    first_values = sorted(cpu[next(iter(ways))])
    first = first_values[len(first_values) // 2]
    for way, (_, ms) in ways.items():
        values = sorted(cpu[way]) or [float("nan")]
        med = values[len(values) // 2]
        print(f"| {way} | {len(ms) * len(FEATURE_SETS)} | {med:.1f} | {first / med:.1f}x |")
    same_b = cpu[same_b] if same_b else []
    same_c = cpu[f"current, {len(models)} models"]
    if same_b and same_c:
        ratio = sorted(same_b)[len(same_b) // 2] / sorted(same_c)[len(same_c) // 2]
        print(f"\nsame models, same work: baseline / current = {ratio:.1f}x")
    table = pd.DataFrame(rows)
    wide = table.assign(
        cell=table.apply(
            lambda r: f"{r.balanced_accuracy:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})", axis=1
        )
    )
    print("\n### Balanced accuracy (95 % CI) per way, model and feature set\n")
    print(wide.pivot_table(index=["model", "way"], columns="feature_set", values="cell",
                           aggfunc="first")[list(FEATURE_SETS)].to_markdown())  # fmt: skip
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        table.to_csv(os.path.join(args.out, "balanced_accuracy.tsv"), sep="\t", index=False)


if __name__ == "__main__":
    main()
