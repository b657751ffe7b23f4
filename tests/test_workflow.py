"""The whole workflow on a small synthetic cohort: it runs, and a fixed seed gives
byte-identical result tables."""

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow  # each test runs Snakemake end to end

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "demo": {"n_patients": 90, "seed": 7},
    "clusters": {"consensus": {"resamples": 12, "chunks": 2, "seed": 3}},
    "survival": {"bootstrap": 100},
    "tracking": {"enabled": False},
}
TINY = {
    "demo": {"n_patients": 40, "seed": 11},
    "clusters": {"consensus": {"resamples": 4, "chunks": 2}},
    "survival": {"bootstrap": 20, "cv_folds": 3},
    "tracking": {"enabled": True},
}


def run_workflow(
    workdir: Path, overrides: dict, *extra: str, env: dict | None = None, wait: bool = True
):
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
    cmd = [
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
    ]
    environ = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ
        )
    return subprocess.run(cmd, capture_output=True, text=True, env=environ)


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


def test_tracked_run_records_params_metrics_inputs_and_artifacts(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    proc = run_workflow(tmp_path / "wd", TINY, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads((tmp_path / "wd" / "results" / "mlflow_run.json").read_text())
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["snf.K"] == "20" and params["preprocess.select.method"] == "variance"
    assert "metpot.version" in params and "git.commit" in params
    inputs = json.loads((tmp_path / "wd" / "results" / "ingest" / "inputs.json").read_text())
    for item in inputs:
        assert params[f"input.{item['layer']}.sha256"] == item["sha256"]
    assert {d.dataset.name for d in run.inputs.dataset_inputs} >= {"mrna", "mirna", "clinical"}
    assert metrics["clusters.n_clusters"] >= 2
    assert "clusters.truth.ari" in metrics and "survival.os.logrank.p" in metrics
    assert "survival.os.c.crs_subtype.harrell_c" in metrics
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "demo"
    artifacts = set()
    stack = [""]
    while stack:
        for f in client.list_artifacts(run.info.run_id, stack.pop() or None):
            (stack.append(f.path) if f.is_dir else artifacts.add(f.path))
    assert {
        "clusters/assignments.tsv",
        "survival/logrank.json",
        "survival/km_subtype.png",
        "config.yaml",
    } <= artifacts
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert any(c.data.params.get("variant") == "snftool-2.3" for c in children)


def test_failed_run_is_recorded_as_failed(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_workflow(tmp_path / "wd", TINY, "--until", "demo_cohort")
    assert proc.returncode == 0, proc.stderr[-3000:]
    clinical = tmp_path / "wd" / "results" / "demo" / "clinical.tsv"
    clinical.write_text(clinical.read_text().replace("\t1\t", "\t2\t", 3))  # event 0/1/2
    proc = run_workflow(tmp_path / "wd", TINY, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode != 0
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 1
    tags = failed[0].data.tags
    assert tags.get("metpot.failed_rule") == "ingest"
    assert any("more than two distinct values" in v for v in tags.values())


def test_two_workflows_at_once_on_one_fresh_store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/shared.db"
    procs = [
        run_workflow(tmp_path / name, TINY, env={"MLFLOW_TRACKING_URI": uri}, wait=False)
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-4000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.mlflow.parentRunId IS NULL",
    )
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(top) == 2
    assert all(r.info.status == "FINISHED" and r.data.params for r in top)
