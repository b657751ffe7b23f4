"""Tests of metpot.tracking against throw-away SQLite tracking stores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from metpot import tracking  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# 1x1 transparent PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory):
    """An initialised (migrated) empty store, copied per test: migrations cost seconds."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    client = MlflowClient(f"sqlite:///{path}", registry_uri=f"sqlite:///{path}")
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, _template_db):
    """An empty SQLite tracking store in tmp, selected through MLFLOW_TRACKING_URI."""
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_template_db, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)  # anything MLflow puts in the cwd stays in tmp
    return uri


def _config(name="coad"):
    return {
        "cohort": {"name": name},
        "output_dir": "results",
        "preprocess": {
            "select": {"method": "mad", "n_features": 2000},
            "layers": ["mrna", "mirna"],
        },
        "snf": {"K": 20, "mu": 0.5, "note": "x" * 10_000},
        "tracking": {},
    }


def _fake_results(root: Path) -> Path:
    (root / "ingest").mkdir(parents=True)
    inputs = [
        {
            "layer": "mrna",
            "path": "/data/mrna.tsv",
            "sha256": "ab" * 32,
            "n_rows": 120,
            "n_cols": 2000,
            "format": "tsv",
        },
        {
            "layer": "clinical",
            "path": "/data/clinical.tsv",
            "sha256": "cd" * 32,
            "n_rows": 120,
            "n_cols": 8,
            "format": "tsv",
        },
    ]
    (root / "ingest" / "inputs.json").write_text(json.dumps(inputs))
    (root / "snf").mkdir()
    (root / "snf" / "params.json").write_text(json.dumps({"K": 20, "mu": 0.5, "t": 20}))
    (root / "snf" / "metrics.json").write_text(json.dumps({"n_iter": 20, "converged": True}))
    (root / "clusters").mkdir()
    (root / "clusters" / "metrics.json").write_text(json.dumps({"k": 3, "silhouette": 0.21}))
    (root / "clusters" / "assignments.tsv").write_text("sample\tcluster\nA\t1\nB\t2\n")
    (root / "survival").mkdir()
    (root / "survival" / "metrics.json").write_text(
        json.dumps({"logrank": {"p": 0.004, "chi2": 11.2}, "hr": [1.0, 2.5], "method": "cox"})
    )
    (root / "survival" / "km.png").write_bytes(PNG)
    # a step the tracking code has never heard of
    (root / "foo").mkdir()
    (root / "foo" / "metrics.json").write_text(json.dumps({"bar": 1.5, "deep": {"x": [3, 4]}}))
    return root


KINDS = {
    "ingest/inputs.json": "table",
    "snf/params.json": "params",
    "snf/metrics.json": "metrics",
    "clusters/metrics.json": "metrics",
    "clusters/assignments.tsv": "patient",
    "survival/metrics.json": "metrics",
    "survival/km.png": "figure",
}


def _outputs(root: Path) -> list:
    """The declared outputs of the fake results (foo/metrics.json is not declared)."""
    from metpot.manifest import Output

    return [Output(str(root / rel), kind) for rel, kind in KINDS.items()]


def _artifact_paths(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.extend(_artifact_paths(client, run_id, f.path) if f.is_dir else [f.path])
    return out


def test_resolve_tracking_uri_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert tracking.resolve_tracking_uri("sqlite:///sub/x.db") == f"sqlite:///{tmp_path}/sub/x.db"
    assert tracking.resolve_tracking_uri("http://host:5000") == "http://host:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert tracking.resolve_tracking_uri("http://host:5000") == "http://env:5000"


def test_flatteners():
    params = tracking.flatten_params({"a": {"b": [1, 2], "c": None}, "d": "y" * 7000, "e/f!": 1})
    assert params["a.b"] == "[1, 2]"
    assert params["a.c"] == "null"
    assert len(params["d"]) == 6000 and params["d"].endswith("[truncated]")
    assert params["e_f_"] == "1"
    metrics, strings = tracking.flatten_metrics(
        {"a": {"p": 0.1, "l": [1, 2]}, "b": True, "s": "txt", "n": None}, "step"
    )
    assert metrics == {"step.a.p": 0.1, "step.a.l.0": 1.0, "step.a.l.1": 2.0, "step.b": 1.0}
    assert strings == {"step.s": "txt"}


def test_log_workflow_run(store, tmp_path):
    results = _fake_results(tmp_path / "results")
    info = tracking.log_workflow_run(
        _config(), results, _outputs(results), workflow_dir=ROOT, run_name="wf"
    )
    run_id = info["run_id"]

    client = MlflowClient(store)
    run = client.get_run(run_id)
    assert info == {
        "run_id": run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": store,
        "status": "FINISHED",
    }
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "wf"
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "coad"
    assert exp.artifact_location.startswith((tmp_path / "store" / "mlartifacts").as_uri())

    p = run.data.params
    assert p["preprocess.select.method"] == "mad"
    assert p["preprocess.select.n_features"] == "2000"
    assert p["preprocess.layers"] == '["mrna", "mirna"]'
    assert len(p["snf.note"]) <= 6000
    assert p["metpot.version"]
    assert len(p["git.commit"]) == 40 and p["git.dirty"] in ("true", "false")
    for pkg in ("numpy", "scipy", "pandas", "scikit-learn", "snakemake", "mlflow", "numba"):
        assert p[f"version.{pkg}"]
    assert p["version.python"].count(".") == 2
    # inputs as params/tags
    assert p["input.mrna.sha256"] == "ab" * 32
    assert p["input.mrna.shape"] == "120x2000"
    assert run.data.tags["metpot.input.clinical.sha256"] == "cd" * 32
    assert run.data.tags["mlflow.source.git.commit"] == p["git.commit"]

    m = run.data.metrics
    assert m["survival.logrank.p"] == pytest.approx(0.004)
    assert m["survival.hr.1"] == pytest.approx(2.5)
    assert m["clusters.k"] == 3
    assert m["snf.converged"] == 1.0
    assert not any(k.startswith("foo.") for k in m)  # an undeclared file is not this run's
    assert run.data.tags["metpot.value.survival.method"] == "cox"

    # dataset inputs: metadata only, digest = sha256 prefix, full sha256 in tags/profile
    ds = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(ds) == {"mrna", "clinical"}
    assert ds["mrna"].dataset.digest == ("ab" * 32)[:36]
    assert json.loads(ds["mrna"].dataset.profile)["sha256"] == "ab" * 32
    assert {t.key: t.value for t in ds["mrna"].tags}["sha256"] == "ab" * 32

    # child run for the fitted step
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert [c.info.run_name for c in children] == ["snf"]
    child = children[0]
    assert child.data.params == {"K": "20", "mu": "0.5", "t": "20"}
    assert child.data.metrics == {"n_iter": 20.0, "converged": 1.0}
    assert child.info.status == "FINISHED"

    arts = set(_artifact_paths(client, run_id))
    assert arts == {
        "config.yaml",
        "ingest/inputs.json",
        "snf/params.json",
        "snf/metrics.json",
        "clusters/metrics.json",
        "survival/metrics.json",
        "survival/km.png",
    }  # no patient-level table, nothing undeclared


def test_fit_warnings_go_to_the_fits_child_run(store, tmp_path):
    from metpot.manifest import Output

    root = tmp_path / "results"
    fit_dir = root / "classify" / "fits" / "os" / "crs__crs"
    fit_dir.mkdir(parents=True)
    (fit_dir / "params.json").write_text(json.dumps({"target": "os", "model": "crs"}))
    (fit_dir / "metrics.json").write_text(json.dumps({"harrell_c": 0.61}))
    record = {"ConvergenceWarning": {"count": 7, "first": ["lbfgs failed", "max_iter"]},
              "RuntimeWarning": {"count": 2, "first": ["divide by zero"]}}  # fmt: skip
    cox = {"count": 3, "folds": [{"repeat": 0, "fold": 1, "fits": 2}], "final": 1}
    (fit_dir / "fit.json").write_text(json.dumps({"fit_warnings": record,
                                                  "cox_not_converged": cox}))  # fmt: skip
    kinds = {"params.json": "params", "metrics.json": "metrics", "fit.json": "table"}
    outputs = [Output(str(fit_dir / name), kind) for name, kind in kinds.items()]
    info = tracking.log_workflow_run(_config(), root, outputs, workflow_dir=ROOT)
    client = MlflowClient(store)
    (child,) = client.search_runs(
        [info["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{info['run_id']}'"
    )
    assert child.data.metrics == {"harrell_c": 0.61, "fit_warnings.ConvergenceWarning": 7.0,
                                  "fit_warnings.RuntimeWarning": 2.0,
                                  "cox_not_converged": 3.0}  # fmt: skip
    assert child.data.tags["metpot.fit_warnings.ConvergenceWarning"] == "lbfgs failed | max_iter"
    assert "classify/fits/os/crs__crs/fit.json" in _artifact_paths(client, info["run_id"])


def test_patient_level_tables_only_with_artifacts_all(store, tmp_path):
    results = _fake_results(tmp_path / "results")
    cfg = _config()
    cfg["tracking"] = {"artifacts": "all"}
    run_id = tracking.log_workflow_run(cfg, results, _outputs(results))["run_id"]
    assert "clusters/assignments.tsv" in _artifact_paths(MlflowClient(store), run_id)


def test_minimal_results_and_git_unknown(store, tmp_path):
    """Works with no result file at all and outside git; experiment from config."""
    cfg = {"cohort": {"name": "coad"}, "tracking": {"experiment": "exp-x"}}
    info = tracking.log_workflow_run(cfg, tmp_path / "nothing", [], workflow_dir=tmp_path)
    run = MlflowClient(store).get_run(info["run_id"])
    assert run.data.params["git.commit"] == "unknown"
    assert MlflowClient(store).get_experiment(run.info.experiment_id).name == "exp-x"


def _failure(results: Path, step: str, error: str) -> Path:
    log = results / "logs" / f"{step}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"metpot {step}: ERROR: {error}\n")
    rec = {"step": step, "error": error, "log": str(log), "time": time.time()}
    Path(f"{log}.failed.json").write_text(json.dumps(rec))
    return log


def test_log_failed_run_records_only_this_run(store, tmp_path):
    results = _fake_results(tmp_path / "results")
    old = time.time() - 3600
    for p in results.rglob("*"):  # an earlier run's files (another cohort, say)
        os.utime(p, (old, old))
    _failure(results, "ingest", "old failure")
    for p in (results / "logs").iterdir():
        os.utime(p, (old, old))
    started = time.time() - 1
    (results / "clusters" / "metrics.json").write_text(json.dumps({"k": 4}))  # this run's
    _failure(results, "clusters", "k must be > 1")
    sm_log = tmp_path / "snakemake.log"
    sm_log.write_text("Error in rule clusters\n")

    run_id = tracking.log_failed_run(
        _config(), results, _outputs(results), started, snakemake_log=[sm_log]
    )
    assert run_id is not None
    client = MlflowClient(store)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["metpot.failed_rule"] == "clusters"
    assert run.data.tags["metpot.error"] == "k must be > 1"
    assert run.data.metrics == {"clusters.k": 4.0}  # nothing from the earlier run
    assert not client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )  # no child run from the earlier run's snf/params.json
    arts = set(_artifact_paths(client, run_id))
    assert arts == {
        "logs/snakemake.log",
        "logs/clusters.log",
        "config.yaml",
        "clusters/metrics.json",
    }
    saved = json.loads((results / "mlflow_failed_run.json").read_text())
    assert saved["status"] == "FAILED" and saved["run_id"] == run_id


@pytest.mark.slow  # runs Snakemake
def test_onerror_with_real_snakemake(store, tmp_path):
    """A real failing metpot command in Snakemake, recorded by the onerror handler."""
    (tmp_path / "bad.yaml").write_text(
        "cohort: {name: sm, omics: {a: {path: absent.tsv}, b: {path: absent2.tsv}}}\n"
    )
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
        import time
        STARTED = time.time()
        rule all:
            input: "results/ingest/a.parquet"
        rule ingest:
            output: "results/ingest/a.parquet"
            log: "results/logs/ingest.log"
            shell: "{sys.executable} -m metpot.cli ingest --config bad.yaml --log {{log}}"
        onerror:
            from metpot.tracking import log_failed_run
            log_failed_run({{"cohort": {{"name": "sm"}}}}, "results", [], STARTED,
                           snakemake_log=log)
        """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-c1", "--nocolor"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    info = json.loads((tmp_path / "results" / "mlflow_failed_run.json").read_text())
    client = MlflowClient(store)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["metpot.failed_rule"] == "ingest"
    assert run.data.tags["metpot.error"] == "absent.tsv: file not found"
    arts = set(_artifact_paths(client, run.info.run_id))
    assert {"logs/snakemake.log", "logs/ingest.log"} <= arts


def test_log_failed_run_never_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(tmp_path / "f" / "x.db"))
    monkeypatch.setattr(tracking, "log_workflow_run", lambda *a, **k: 1 / 0)
    assert tracking.log_failed_run({}, tmp_path, [], 0.0) is None
    assert "could not record" in capsys.readouterr().err


def test_log_model_register_and_load_champion(store, tmp_path):
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=["g1", "g2", "g3", "g4"])
    y = np.where(X["g1"] + rng.normal(scale=0.3, size=60) > 0, "CMS1", "CMS2")
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)

    results = _fake_results(tmp_path / "r")
    parent = tracking.log_workflow_run(_config(), results, _outputs(results))["run_id"]
    ref = tracking.log_model(rf, "rf", X, registered_name="coad-cms", run_id=parent)
    assert ref.model_uri == "models:/coad-cms@champion" and ref.version == "1"
    client = MlflowClient(store)
    assert client.get_run(parent).info.status == "FINISHED"  # status kept
    mv = client.get_model_version_by_alias("coad-cms", "champion")
    assert str(mv.version) == "1" and mv.run_id == parent

    loaded = mlflow.sklearn.load_model("models:/coad-cms@champion")
    np.testing.assert_array_equal(loaded.predict(X), rf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), rf.predict_proba(X))
    local = mlflow.artifacts.download_artifacts(ref.logged_model_uri, dst_path=str(tmp_path / "dl"))
    mlmodel = (Path(local) / "MLmodel").read_text()
    assert "serialization_format: skops" in mlmodel and "signature" in mlmodel
    assert (Path(local) / "model.skops").is_file()

    # a second version moves the alias; load_champion follows it
    lr = LogisticRegression().fit(X, y)
    ref2 = tracking.log_model(lr, "lr", X, registered_name="coad-cms")
    assert ref2.version == "2"
    champ = tracking.load_champion("coad-cms")
    np.testing.assert_array_equal(champ.predict(X), lr.predict(X))
    assert isinstance(champ, LogisticRegression)
    assert os.environ["MLFLOW_TRACKING_URI"] == store  # MLflow's own helper would unset it
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()
    lr_run = client.get_run(ref2.run_id)
    assert client.get_experiment(lr_run.info.experiment_id).name == "metpot"


def test_an_opened_run_takes_the_models_then_the_outputs_and_a_failure(store, tmp_path):
    """The workflow's track_models opens the run and logs the model into it (the run stays
    open, no champion yet); track records the outputs into the same run and names the
    champion; a failure in between marks that run FAILED instead of adding a run."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["g1", "g2", "g3"])
    y = np.where(X["g1"] > 0, "a", "b")
    lr = LogisticRegression().fit(X, y)
    client = MlflowClient(store)
    results = _fake_results(tmp_path / "r")

    opened = tracking.open_workflow_run(_config())
    ref = tracking.log_model(lr, "lr", X, "coad-x", alias=None, run_id=opened["run_id"])
    assert client.get_run(opened["run_id"]).info.status == "RUNNING"
    assert ref.alias is None and not client.get_registered_model("coad-x").aliases
    assert tracking.still_open(opened, store) == opened["run_id"]
    assert tracking.still_open(opened, "sqlite:///" + str(tmp_path / "other.db")) is None

    info = tracking.log_workflow_run(_config(), results, _outputs(results), run_id=opened["run_id"])
    assert info["run_id"] == opened["run_id"] and info["status"] == "FINISHED"
    run = client.get_run(opened["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["snf.K"] == "20"
    assert tracking.still_open(opened, store) is None  # track rerun alone: a new run
    registered = [{"target": "x", "registered_name": "coad-x", "version": ref.version}]
    champ = tracking.set_champion(registered, tracking_uri=store)
    assert champ == [{"target": "x", "model_uri": "models:/coad-x@champion", "version": "1"}]
    assert client.get_model_version_by_alias("coad-x", "champion").run_id == opened["run_id"]

    # a failure after track_models: its open run is the failed one
    again = tracking.open_workflow_run(_config())
    record = tmp_path / "mlflow_models.json"
    record.write_text(json.dumps(again))
    n_runs = len(client.search_runs([again["experiment_id"]]))
    failed = tracking.log_failed_run(_config(), results, [], 0.0, opened=record)
    assert failed == again["run_id"]
    assert client.get_run(failed).info.status == "FAILED"
    assert len(client.search_runs([again["experiment_id"]])) == n_runs
    # a record older than this invocation is not this invocation's run
    newer = tracking.log_failed_run(_config(), results, [], time.time() + 60, opened=record)
    assert newer not in (None, again["run_id"])


def test_untrusted_skops_types_rejected():
    from sklearn.preprocessing import FunctionTransformer

    ft = FunctionTransformer(func=json.dumps).fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="json.dumps"):
        tracking.log_model(ft, "ft", np.zeros((2, 2)))


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from metpot.manifest import Output
    from metpot.tracking import log_workflow_run
    go, results, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    outputs = [Output(p, k) for p, k in json.loads(sys.argv[4])]
    (go.parent / f"ready-{name}").touch()
    while not go.exists():
        time.sleep(0.01)
    cfg = {"cohort": {"name": "race"}, "who": {"name": name}}
    print(log_workflow_run(cfg, results, outputs, run_name=name)["run_id"])
    """
)


@pytest.mark.slow  # two processes migrate a fresh store (~10-25 s)
def test_concurrent_logging_on_fresh_store(store, tmp_path):
    """Two processes open the same fresh SQLite store at once; both runs are recorded."""
    Path(store.removeprefix("sqlite:///")).unlink()  # fresh: no tables, migrations to run
    results = _fake_results(tmp_path / "results")
    outputs = json.dumps([[o.path, o.kind] for o in _outputs(results)])
    go = tmp_path / "go"
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(results), f"w{i}", outputs],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    # release both together once both have imported metpot.tracking
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-w{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    run_ids = [out.strip().splitlines()[-1] for out, _ in outs]
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("race")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.metpot.step IS NULL")
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.data.params["who.name"] == r.info.run_name
        assert r.data.metrics["survival.logrank.p"] == pytest.approx(0.004)
    assert len(client.search_runs([exp.experiment_id], "tags.metpot.step = 'snf'")) == 2


def test_subtype_classifier_on_the_demo_cohort_round_trips(store):
    """A small classifier of the demo cohort's subtypes, registered as <cohort>-<target>,
    loads back by its alias and predicts the same."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from metpot.simulate import MRNA_PROGRAMMES, simulate_cohort

    cohort = simulate_cohort(n_patients=60, seed=3)
    genes = [g for p in MRNA_PROGRAMMES.values() for g in p[:4]]
    X = cohort["mrna"].loc[genes].T.astype("float64")
    y = cohort["truth"].set_index("sample_id").loc[X.index, "label"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.8

    ref = tracking.log_model(model, "subtype_classifier", X, registered_name="demo-subtype")
    assert ref.model_uri == "models:/demo-subtype@champion"
    loaded = tracking.load_champion("demo-subtype")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
