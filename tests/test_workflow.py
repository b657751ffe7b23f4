"""The whole workflow on a small synthetic cohort: it runs, and a fixed seed gives
byte-identical result tables."""

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "demo": {"n_patients": 90, "seed": 7},
    "clusters": {"consensus": {"resamples": 12, "chunks": 2, "seed": 3}},
    "tracking": {"enabled": False},
}


def run_workflow(workdir: Path, overrides: dict, *extra: str) -> subprocess.CompletedProcess:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            for k, v in value.items():
                if isinstance(v, dict) and isinstance(config[key].get(k), dict):
                    config[key][k].update(v)
                else:
                    config[key][k] = v
        else:
            config[key] = value
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            "2",
            *extra,
        ],
        capture_output=True,
        text=True,
    )


def result_tables(results: Path) -> list[Path]:
    skip = {"logs", "benchmarks"}
    return sorted(
        p.relative_to(results)
        for p in results.rglob("*")
        if p.is_file()
        and not skip & set(p.relative_to(results).parts)
        and p.name != "mlflow_run.json"
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("wf")
    runs = []
    for name in ("a", "b"):
        proc = run_workflow(base / name, SMALL)
        assert proc.returncode == 0, proc.stderr[-4000:]
        runs.append(base / name / "results")
    return runs


def test_workflow_writes_the_contracted_outputs(two_runs):
    results = two_runs[0]
    assignments = pd.read_csv(results / "clusters" / "assignments.tsv", sep="\t")
    assert list(assignments.columns) == ["sample_id", "subtype"]
    assert assignments["subtype"].min() == 1
    assert len(assignments) == 90
    for layer in ("mrna", "mirna"):
        assert (results / "ingest" / f"{layer}.parquet").exists()
        assert (results / "preprocess" / f"{layer}.parquet").exists()
    samples = pd.read_csv(results / "ingest" / "samples.tsv", sep="\t")
    assert set(samples["status"]) <= {"kept", "dropped"}


def test_fixed_seed_gives_byte_identical_results(two_runs):
    a, b = two_runs
    files_a, files_b = result_tables(a), result_tables(b)
    assert files_a == files_b
    assert len(files_a) > 10
    differ = [str(f) for f in files_a if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert not differ, f"not byte-identical: {differ}"


def test_bad_input_leaves_no_partial_output(tmp_path):
    proc = run_workflow(tmp_path, SMALL, "--until", "demo_cohort")
    assert proc.returncode == 0, proc.stderr[-3000:]
    mrna = tmp_path / "results" / "demo" / "mrna.tsv.gz"
    mrna.write_bytes(mrna.read_bytes()[:5000])  # a truncated (corrupt) gzip
    proc = run_workflow(tmp_path, SMALL)
    assert proc.returncode != 0
    log = (tmp_path / "results" / "logs" / "ingest.log").read_text()
    errors = [ln for ln in log.splitlines() if "ERROR" in ln]
    assert len(errors) == 1 and "mrna.tsv.gz" in errors[0] and "gzip" in errors[0]
    assert "Traceback" not in log
    assert not (tmp_path / "results" / "ingest").exists() or not any(
        (tmp_path / "results" / "ingest").iterdir()
    )
    shutil.rmtree(tmp_path / "results")
