"""Step ``summary``: the run's summary, ``summary.txt`` and ``summary.json``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metpot.step_io import many, need
from metpot.steps._common import read_json, read_samples, tsv_or_none


def run(cfg: dict, inputs: dict, *, outputs=(), **_) -> dict:
    """The summary text and (declared) the run's facts for the report's first page."""
    from metpot.summary import run_facts, run_summary

    def load(key):
        return read_json(inputs[key]) if key in inputs else None

    def by_folder(key, read):  # <output_dir>/<step>/<endpoint or cohort>/<file>
        return {Path(p).parent.name: read(p) for p in many(inputs, key)}

    # what summary.txt and summary.json both report
    shared = dict(
        ingest=load("ingest_metrics"),
        samples=read_samples(need(inputs, "samples")),
        preprocess=load("preprocess"),
        n_clusters=load("n_clusters"),
        subtypes=pd.read_csv(need(inputs, "subtypes"), sep="\t"),
        agreement=load("agreement"),
        survival=by_folder("survival", read_json),
        classify_best=tsv_or_none(inputs, "classify_best"),
        scored=by_folder("score", read_json),
        run=load("run"),
        suggested_names=tsv_or_none(inputs, "suggested_names"),
        partition_stability=tsv_or_none(inputs, "partition_stability"),
    )
    out: dict = {
        "summary": run_summary(
            cfg,
            **shared,
            classify_vs_crs=tsv_or_none(inputs, "classify_vs_crs"),
            characterise=load("characterise"),
        )
    }
    if "summary_json" in outputs:

        def table(path):
            return pd.read_csv(path, sep="\t")

        landmarks = by_folder("integrated_landmarks", table)
        median = by_folder("integrated_median", table)
        integrated = {e: (landmarks.get(e), median[e]) for e in median}
        out["summary_json"] = run_facts(cfg, **shared, integrated=integrated)
    return out
