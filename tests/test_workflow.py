"""The whole workflow: the demo, a user's own cohort beside it, `metpot run`, the step
contract (every file declared), tracking of this run only, and byte-identical results."""

import filecmp
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import result_tables

from metpot import manifest
from metpot.config import load_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# One small classifier where a test needs the classify step; none where it does not.
FAST_CLASSIFY = {
    "models": {"logistic": {"grid": {"C": [0.1]}}},
    "feature_sets": ["all"],
    "survival_models": ["coxnet"],
    "outer": {"folds": 3, "repeats": 1},
    "inner": {"folds": 2},
    "top_variance": 200,
}
SMALL = {
    "demo": {"n_patients": 90, "seed": 7},
    # two consensus stages: 10 resamples, the stopping check, the last 2 (or none)
    "clusters": {"consensus": {"resamples": 12, "chunks": 2, "seed": 3, "stop": {"first": 10}}},
    "survival": {"bootstrap": 100},
    "classify": FAST_CLASSIFY,
    "sweep": {"K": [10, 15], "mu": [0.5], "t": [10]},
    "tracking": {"enabled": False},
}
TINY = {
    "demo": {"n_patients": 40, "seed": 11},
    "clusters": {"consensus": {"resamples": 4, "chunks": 2}},
    "survival": {"bootstrap": 20, "cv_folds": 3},
    "classify": {"enabled": False},
    "tracking": {"enabled": True},
}


def demo_config(overrides: dict) -> dict:
    """The demo config with overrides merged one level deep."""
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
    return config


def snakemake(workdir: Path, config: dict, *extra, env=None, wait=True, name="config.yaml"):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / name).write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(workdir / name),
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


def run_workflow(workdir: Path, overrides: dict, *extra, **kwargs):
    return snakemake(workdir, demo_config(overrides), *extra, **kwargs)


def artifact_paths(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.extend(artifact_paths(client, run_id, f.path) if f.is_dir else [f.path])
    return out


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
    declared = manifest.final_outputs(load_config(demo_config(SMALL)))
    missing = [p for p in declared if not (results.parent / p).is_file()]
    assert not missing
    summary = (results / "summary.txt").read_text()
    assert "Subtypes: k = " in summary and "SYNTHETIC" in summary
    sweep = pd.read_csv(results / "sweep" / "summary.tsv", sep="\t")
    assert list(sweep["K"]) == [10, 15] and set(sweep["mu"]) == {0.5}
    assert sweep["logrank_p"].between(0, 1).all() and sweep["ari_main"].between(-1, 1).all()


def test_every_file_under_the_output_folder_is_declared(two_runs):
    """`snakemake --list-untracked` lists nothing under results/ but the rules' benchmark
    files, which are declared (`benchmark:`) but which Snakemake does not count as tracked."""
    workdir = two_runs[0].parent
    proc = snakemake(workdir, demo_config(SMALL), "--list-untracked")
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = [ln.strip() for ln in proc.stdout.splitlines() + proc.stderr.splitlines()]
    untracked = [ln for ln in listed if ln.startswith("results/")]
    config = load_config(demo_config(SMALL))
    benchmarks = {
        f.benchmark
        for name in [*manifest.analysis_steps(config), "demo_cohort"]
        for f in manifest.expand_step(name, config)
    }
    assert untracked, "expected the benchmark files at least"  # the command did list files
    assert [u for u in untracked if u not in benchmarks] == []


def test_fixed_seed_gives_byte_identical_results(two_runs):
    a, b = two_runs
    # summary.txt and summary.json name the run's MLflow run
    exclude = ("mlflow_run.json", "summary.txt", "summary.json")
    files_a, files_b = result_tables(a, exclude=exclude), result_tables(b, exclude=exclude)
    assert files_a == files_b
    assert len(files_a) > 10
    differ = [str(f) for f in files_a if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert not differ, f"not byte-identical: {differ}"


def test_bad_input_leaves_no_partial_output(tmp_path):
    """A corrupt input file written by the demo rule is checked like any other once it exists:
    the workflow's start-up check names it in one line, and no job runs."""
    proc = run_workflow(tmp_path, SMALL, "--until", "demo_cohort")
    assert proc.returncode == 0, proc.stderr[-3000:]
    mrna = tmp_path / "results" / "demo" / "mrna.tsv.gz"
    mrna.write_bytes(mrna.read_bytes()[:5000])  # a truncated (corrupt) gzip
    proc = run_workflow(tmp_path, SMALL)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and "mrna.tsv.gz" in errors[0] and "gzip" in errors[0], errors
    assert errors[0].startswith("metpot: error: cohort.omics.mrna.path: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results" / "ingest").exists() or not any(
        (tmp_path / "results" / "ingest").iterdir()
    )
    # the same file given to the ingest step directly: one error line in its log, no output
    cfg = tmp_path / "config.yaml"
    ingest = subprocess.run(
        [sys.executable, "-m", "metpot.cli", "ingest", "--config", str(cfg),
         "--log", "ingest.log"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ingest.returncode == 1
    log = (tmp_path / "ingest.log").read_text()
    errors = [ln for ln in log.splitlines() if "ERROR" in ln]
    assert len(errors) == 1 and "mrna.tsv.gz" in errors[0] and "gzip" in errors[0]
    assert "Traceback" not in log
    assert not (tmp_path / "results" / "ingest").exists() or not any(
        (tmp_path / "results" / "ingest").iterdir()
    )


def test_tracked_run_records_this_runs_declared_outputs(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    overrides = {**TINY, "classify": FAST_CLASSIFY}
    proc = run_workflow(tmp_path / "wd", overrides, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = tmp_path / "wd" / "results"
    info = json.loads((results / "mlflow_run.json").read_text())
    # the best classifier is registered, and scoring can fetch it with its card
    from metpot.model_io import load_model
    from metpot.tracking import fetch_model_files

    assert [m["model_uri"] for m in info["models"]] == ["models:/demo-snf_subtype@champion"]
    # track_models opened the run and logged the model into it; track finished the same run
    opened = json.loads((results / "mlflow_models.json").read_text())
    assert opened["run_id"] == info["run_id"]
    assert [m["version"] for m in opened["models"]] == [m["version"] for m in info["models"]]
    champion = MlflowClient(uri, registry_uri=uri).get_model_version_by_alias(
        "demo-snf_subtype", "champion"
    )
    assert champion.run_id == info["run_id"]
    path = fetch_model_files("models:/demo-snf_subtype@champion", tmp_path / "dl", tracking_uri=uri)
    model, card = load_model(path)
    assert card["target"] == "snf_subtype" and path.name == "logistic__all.skops"
    assert info["run_id"] in (results / "summary.txt").read_text()
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["snf.K"] == "20" and params["preprocess.select.method"] == "variance"
    assert "metpot.version" in params and "git.commit" in params
    inputs = json.loads((results / "ingest" / "inputs.json").read_text())
    for item in inputs:
        assert params[f"input.{item['layer']}.sha256"] == item["sha256"]
    assert {d.dataset.name for d in run.inputs.dataset_inputs} >= {"mrna", "mirna", "clinical"}
    assert metrics["clusters.n_clusters"] >= 2
    assert "clusters.truth.ari" in metrics and "survival.os.logrank.p" in metrics
    assert "survival.os.c.crs_subtype.harrell_c" in metrics
    assert "survival.pfs.c.crs_subtype.harrell_c" in metrics
    assert client.get_experiment(run.info.experiment_id).name == "demo"
    artifacts = set(artifact_paths(client, run.info.run_id))
    config = load_config(demo_config(overrides))
    declared = {
        str(Path(p).relative_to("results")): o for p, o in manifest.analysis_outputs(config).items()
    }
    assert {"survival/os/logrank.json", "survival/os/km_subtype.png", "config.yaml"} <= artifacts
    assert artifacts - {"config.yaml"} <= set(declared)
    assert all(declared[a].kind != "patient" for a in artifacts - {"config.yaml"})
    assert "clusters/assignments.tsv" not in artifacts  # patient-level: summary mode
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {"snf", "classify/fits/snf_subtype/logistic__all"}
    assert by_name["snf"].data.params["variant"] == "snftool-2.3"
    fit = by_name["classify/fits/snf_subtype/logistic__all"]
    assert fit.data.params["model"] == "logistic" and "balanced_accuracy" in fit.data.metrics


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
    assert len(failed) == 1 and len(runs) == 1  # no child run from anything earlier
    tags = failed[0].data.tags
    assert tags.get("metpot.failed_rule") == "ingest"
    assert "more than two distinct values" in tags["metpot.error"]
    assert "\n" not in tags["metpot.error"].strip()


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
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(top) == 2
    assert all(r.info.status == "FINISHED" and r.data.params for r in top)


# ------------------------------------------------------------------ a user's own cohort


def own_cohort(folder: Path, n: int = 70, seed: int = 5) -> dict:
    """A small simulated cohort as a user would bring it: other layer names, one layer
    samples x features, follow-up in days with a text status, an age column, no CRS."""
    from metpot.simulate import simulate_cohort

    c = simulate_cohort(n_patients=n, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    c["mrna"].to_csv(folder / "rna.csv")
    c["mirna"].T.to_csv(folder / "mir.tsv", sep="\t")
    clinical = c["clinical"][["sample_id", "age"]].copy()
    clinical["os_days"] = (c["clinical"]["os_months"] * 30.4375).round(1)
    clinical["vital"] = np.where(c["clinical"]["os_event"] == 1, "Dead", "Alive")
    clinical.to_csv(folder / "clin.csv", index=False)
    return {
        "output_dir": "results_mine",
        "cohort": {
            "name": "mine",
            "omics": {
                "rna": {"path": f"{folder.name}/rna.csv"},
                "mir": {"path": f"{folder.name}/mir.tsv", "layout": "samples_x_features"},
            },
            "clinical": {
                "path": f"{folder.name}/clin.csv",
                "time": "os_days",
                "event": "vital",
                "event_value": "Dead",
                "time_unit": "days",
                "covariates": ["age"],
            },
        },
        "clusters": {"consensus": {"resamples": 8, "chunks": 2}},
        "survival": {"bootstrap": 50},
        "classify": {"enabled": False},
    }


def test_own_cohort_beside_the_demo(tmp_path):
    from mlflow.tracking import MlflowClient

    from metpot.survival import kaplan_meier, survival_at

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {"MLFLOW_TRACKING_URI": uri}
    workdir = tmp_path / "wd"
    proc = run_workflow(workdir, TINY, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    demo = workdir / "results"
    before = {p: p.stat().st_mtime for p in demo.rglob("*") if p.is_file()}

    config = own_cohort(workdir / "mydata")
    proc = snakemake(workdir, config, env=env, name="my.yaml")
    assert proc.returncode == 0, proc.stderr[-4000:]  # first time
    mine = workdir / "results_mine"
    assert {p: p.stat().st_mtime for p in demo.rglob("*") if p.is_file()} == before

    # nothing of the demo's in its outputs: no risk score, no PFS, no integrated groups
    files = {str(p.relative_to(mine)) for p in mine.rglob("*") if p.is_file()}
    assert not [f for f in files if re.search(r"risk_score|pfs|integrated|demo/", f)]
    assert (mine / "survival" / "os" / "forest.png").is_file()

    # landmarks at multiples of 365.25 days, the axis in years
    raw = pd.read_csv(workdir / "mydata" / "clin.csv").dropna(subset=["os_days"])
    subtype = pd.read_csv(mine / "clusters" / "assignments.tsv", sep="\t").set_index("sample_id")[
        "subtype"
    ]
    got = pd.read_csv(mine / "survival" / "os" / "km_landmarks.tsv", sep="\t")
    assert sorted(set(got["time"])) == [1, 3, 5, 10]
    first = got[got["group"] == "subtype1"]
    rows = raw[raw["sample_id"].map(subtype) == 1]
    km = kaplan_meier(rows["os_days"].to_numpy(), (rows["vital"] == "Dead").to_numpy())
    expected = survival_at(km, [365.25 * y for y in (1, 3, 5, 10)])
    np.testing.assert_allclose(first["surv"], expected["surv"], rtol=1e-12)

    # covariates in its Cox model (no risk score configured)
    cox = pd.read_csv(mine / "survival" / "os" / "cox_multivariable.tsv", sep="\t")
    assert "age" in set(cox.iloc[:, 0])
    conc = pd.read_csv(mine / "survival" / "os" / "concordance.tsv", sep="\t")
    assert set(conc["predictor"]) == {"clinical", "subtype", "clinical_subtype"}

    # its MLflow run holds its own declared outputs only
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(json.loads((mine / "mlflow_run.json").read_text())["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "mine"
    assert run.data.params["cohort.name"] == "mine"
    assert not [k for k in run.data.params if k.startswith(("crs.", "demo."))]
    assert run.data.params["subtypes.signatures"] == "{}"  # the demo's markers did not leak
    assert not [k for k in run.data.metrics if re.match(r"(risk_score|survival\.pfs)", k)]
    declared = {
        str(Path(p).relative_to("results_mine"))
        for p in manifest.analysis_outputs(load_config(config))
    }
    artifacts = set(artifact_paths(client, run.info.run_id)) - {"config.yaml"}
    assert artifacts and artifacts <= declared
    for rel in artifacts:
        if (demo / rel).is_file() and rel.endswith((".json", ".tsv")):
            assert (demo / rel).read_bytes() != (mine / rel).read_bytes(), rel


def test_metpot_run_validates_then_runs_from_any_folder(tmp_path):
    config = own_cohort(tmp_path / "mydata", n=50)
    config["tracking"] = {"enabled": False}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(config))
    metpot = [sys.executable, "-m", "metpot.cli"]
    bad = dict(config, snf={"K": "twenty"})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        [*metpot, "run", "bad.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "snf.K" in proc.stderr
    assert not (tmp_path / "results_mine").exists()
    proc = subprocess.run(
        [*metpot, "run", "my.yaml", "--cores", "2"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "results_mine" / "summary.txt").is_file()
    assert "metpot run of cohort mine" in proc.stderr


def test_own_cohort_page_runs_as_written(tmp_path):
    """docs/own-cohort.md (whose blocks the README's "Running on your own cohort" repeats,
    tests/test_docs.py), executed block by block."""
    text = (ROOT / "docs" / "own-cohort.md").read_text()
    blocks = re.findall(r"```(yaml|bash)\n(.*?)```", text, flags=re.S)
    assert blocks
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
    }
    ran = 0
    for kind, body in blocks:
        if kind == "yaml":
            name = re.match(r"# (\S+\.yaml)", body)
            assert name, "each YAML block of the page starts with '# <file>.yaml'"
            (tmp_path / name.group(1)).write_text(body)
            continue
        for line in body.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            proc = subprocess.run(
                line, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env
            )
            assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
            ran += 1
    assert ran >= 3


def test_train_on_70_percent_and_score_the_other_30(tmp_path):
    """Through the workflow: a classifier trained on 70% of a cohort scores the other 30%
    with a balanced accuracy inside the nested-CV confidence interval."""
    from sklearn.metrics import balanced_accuracy_score

    from metpot.simulate import simulate_cohort

    c = simulate_cohort(n_patients=120, seed=9)
    truth = c["truth"].set_index("sample_id")["label"]
    rng = np.random.default_rng(0)
    ids = np.array(sorted(truth.index))
    test = set(rng.choice(ids, size=36, replace=False))
    train = [s for s in ids if s not in test]
    held = [s for s in ids if s in test]
    data = tmp_path / "data"
    data.mkdir()
    c["mrna"][train].to_csv(data / "mrna_train.csv")
    c["mirna"][train].to_csv(data / "mirna_train.csv")
    c["mrna"][held].sample(frac=1.0, random_state=1).iloc[:, ::-1].to_csv(data / "mrna_new.csv")
    clinical = c["clinical"].set_index("sample_id").loc[train].reset_index()
    clinical["true_subtype"] = truth.loc[train].to_numpy()
    clinical.to_csv(data / "clinical.csv", index=False)
    config = {
        "output_dir": "out",
        "cohort": {
            "name": "split",
            "omics": {
                "mrna": {"path": "data/mrna_train.csv"},
                "mirna": {"path": "data/mirna_train.csv"},
            },
            "clinical": {"path": "data/clinical.csv"},
        },
        "clusters": {"consensus": {"resamples": 0}},
        "classify": {
            **FAST_CLASSIFY,
            "targets": ["true_subtype"],
            "feature_sets": ["mrna", "all"],
        },
        "score": {"cohorts": {"new": {"omics": {"mrna": {"path": "data/mrna_new.csv"}}}}},
        "tracking": {"enabled": False},
    }
    proc = snakemake(tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "out"
    pred = pd.read_csv(out / "score" / "new" / "predictions.tsv", sep="\t", dtype=str)
    assert sorted(pred["sample_id"]) == sorted(held)
    summary = json.loads((out / "score" / "new" / "summary.json").read_text())
    assert summary["model"]["path"].endswith("logistic__mrna.skops")  # the mRNA-only model
    acc = balanced_accuracy_score(truth.loc[pred["sample_id"]], pred["prediction"])
    comp = pd.read_csv(out / "classify" / "comparison.tsv", sep="\t")
    row = comp[
        (comp["model"] == "logistic")
        & (comp["feature_set"] == "mrna")
        & (comp["metric"] == "balanced_accuracy")
    ].iloc[0]
    assert row["ci_low"] <= acc <= row["ci_high"], (acc, row.to_dict())
    assert acc > 0.6
