"""Pack the consensus resamples of three runs into the test cases of tests/test_consensus_stop.py.

Each case is the 200 resamples (clusters.consensus: resamples 200, fraction 0.8, seed 1,
float32) of one run of the workflow at commit 4342d79 (before the stopping check existed, so
every resample ran), with ``snakemake --notemp`` to keep the chunk tables:

* ``demo``: ``config/config.yaml`` (the synthetic demo cohort, N = 150);
* ``tcga_coad``: ``bench/configs/tcga_coad.yaml`` (the real TCGA COAD cohort, N = 255);
* ``sim1000``: ``config/config.yaml`` with ``demo.n_patients: 1000`` (the cohort of
  ``bench/bench_workflow.py --sizes 1000``).

Usage: ``python make_cases.py NAME=RESULTS_DIR ...`` (RESULTS_DIR: the run's output folder).
Writes ``<NAME>.parquet`` (resample, position of the patient in the fused network, one
label column per k) and ``cases.json`` (per case: patients, candidate ks, clusters.n and SNF's
four cluster-number estimates of the full cohort's fused network).
"""

import glob
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

here = Path(__file__).parent
cases = json.loads((here / "cases.json").read_text()) if (here / "cases.json").exists() else {}
for arg in sys.argv[1:]:
    name, results = arg.split("=", 1)
    clusters = Path(results) / "clusters"
    choice = json.loads((clusters / "n_clusters.json").read_text())
    ids = pd.read_csv(clusters / "assignments.tsv", sep="\t")["sample_id"]
    files = sorted(glob.glob(str(clusters / "consensus" / "chunk_*.tsv")))
    table = pd.concat([pd.read_csv(f, sep="\t") for f in files])
    ks = [int(c[1:]) for c in table.columns if c.startswith("k")]
    pos = pd.Series(np.arange(len(ids)), index=ids)
    out = pd.DataFrame(
        {
            "resample": table["resample"].astype("int16"),
            "position": pos[table["sample_id"]].to_numpy().astype("int16"),
            **{f"k{k}": table[f"k{k}"].astype("int8") for k in ks},
        }
    ).sort_values(["resample", "position"], kind="stable")
    out.to_parquet(here / f"{name}.parquet", index=False, compression="zstd")
    cases[name] = {
        "n_samples": len(ids),
        "ks": ks,
        "n": choice["mode"],
        "estimates": choice["estimates"],
        "resamples": int(out["resample"].nunique()),
    }
(here / "cases.json").write_text(json.dumps(cases, indent=2) + "\n")
