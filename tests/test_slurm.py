"""The workflow on a real SLURM cluster, through profiles/slurm, gives the same result tables
as a local run.

The cluster: one already running (``sinfo`` shows the node ``localhost`` idle), or a one-node
cluster that ``.ci/slurm-up.sh`` installs and starts (needs root) and ``.ci/slurm-down.sh``
stops afterwards. Without either the test is skipped, with the reason. Every wait is bounded.
"""

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import result_tables

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

ROOT = Path(__file__).resolve().parents[1]
UP = ROOT / ".ci" / "slurm-up.sh"
DOWN = ROOT / ".ci" / "slurm-down.sh"
RUN_TIMEOUT = 1200  # seconds, each workflow run

SMALL = {
    "demo": {"n_patients": 60, "seed": 5},
    # two consensus stages (10 resamples, the stopping check, the last 2), each job via sbatch
    "clusters": {"consensus": {"resamples": 12, "chunks": 2, "seed": 2, "stop": {"first": 10}}},
    "survival": {"bootstrap": 50, "cv_folds": 3},
    "classify": {"enabled": False},  # its ~20 jobs would triple the run on a 2-CPU node
    "tracking": {"enabled": False},
}
# Rules that must have run (every job of the run must have gone through sbatch).
RULES = {
    "demo_cohort",
    "ingest",
    "preprocess",
    "snf",
    "consensus_chunk",
    "consensus_stop",
    "consensus_more",
    "clusters",
    "risk_score",
    "survival",
}


def node_idle() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, timeout=15
        ).stdout
    except subprocess.TimeoutExpired:
        return False
    return bool(re.search(r"^localhost (idle|mixed|allocated)", out, re.M))


@pytest.fixture(scope="module")
def slurm():
    """A running one-node SLURM cluster; stops the daemons if this fixture started them."""
    if node_idle():
        yield False
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster is running and starting one needs root (.ci/slurm-up.sh)")
    try:
        up = subprocess.run(
            ["bash", str(UP)], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", str(DOWN)], capture_output=True, timeout=120)
        pytest.skip(".ci/slurm-up.sh did not finish within 900 s")
    if up.returncode != 0 or not node_idle():
        subprocess.run(["bash", str(DOWN)], capture_output=True, timeout=120)
        pytest.skip(f"SLURM could not be started: {(up.stdout + up.stderr)[-1500:]}")
    try:
        yield True
    finally:
        subprocess.run(["bash", str(DOWN)], capture_output=True, timeout=120)


def write_config(workdir: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key, value in SMALL.items():
        section = config.setdefault(key, {})
        for k, v in value.items():
            if isinstance(v, dict):
                section.setdefault(k, {}).update(v)
            else:
                section[k] = v
    workdir.mkdir(parents=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *options: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *options,
    ]
    # The jobs run `python -m snakemake` with this python (sbatch --export=ALL): put its
    # environment first on PATH, as an activated venv would.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        return subprocess.run(
            cmd,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        if shutil.which("squeue"):
            subprocess.run(["scancel", "--user", str(os.getuid())], timeout=30)
        pytest.fail(f"snakemake did not finish within {RUN_TIMEOUT} s: {exc.stderr!r:.3000}")


def slurmctld_log() -> Path:
    out = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", out, re.M)
    assert match, "scontrol show config names no SlurmctldLogFile"
    return Path(match.group(1))


def test_slurm_run_matches_local_run(slurm, tmp_path):
    cluster = tmp_path / "slurm"
    write_config(cluster)
    ctld_log = slurmctld_log()
    ctld_start = ctld_log.stat().st_size  # only this run's part of the log counts
    proc = snakemake(
        cluster,
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--jobs",
        "4",
        # test-cluster settings on top of the profile: quick status checks (MinJobAge 300 s
        # >= 3 x 2 s, so squeue still lists finished jobs), keep the job logs to check them
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
    )
    assert proc.returncode == 0, proc.stderr[-5000:]

    # (c) every job went through sbatch: a SLURM job id per Snakemake job in snakemake's
    # log, each submitted to and completed by slurmctld with exit status 0, each with its
    # SLURM log under .snakemake/slurm_logs/rule_<rule>/.
    logs = sorted((cluster / ".snakemake" / "log").glob("*.snakemake.log"))
    assert logs, "snakemake wrote no log"
    log = logs[-1].read_text()
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    # the jobs snakemake scheduled, less its local rules (`localrule all:`)
    jobs = {
        job: rule
        for rule, job in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", log, re.M)
    }
    assert RULES <= set(jobs.values())
    assert set(submitted) == set(jobs), (submitted, jobs)
    with ctld_log.open(errors="replace") as f:
        f.seek(ctld_start)
        ctld = f.read()
    for job_id in submitted.values():
        assert re.search(rf"_slurm_rpc_submit_batch_job: JobId={job_id}\b", ctld), job_id
        assert re.search(rf"_job_complete: JobId={job_id} WEXITSTATUS 0\b", ctld), job_id
    # squeue knows them by the run's job name, finished and COMPLETED
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    queue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", run_id],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    # (jobs that finished more than MinJobAge ago have left the list)
    listed = dict(line.split("|") for line in queue.split())
    assert listed and set(listed) <= set(submitted.values()), (listed, submitted)
    assert set(listed.values()) == {"COMPLETED"}, listed
    slurm_logs = list((cluster / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert sorted(p.stem for p in slurm_logs) == sorted(submitted.values())
    assert {p.relative_to(cluster / ".snakemake" / "slurm_logs").parts[0] for p in slurm_logs} == {
        f"rule_{r}" for r in jobs.values()
    }

    # (d) the same config run locally gives byte-identical result tables
    local = tmp_path / "local"
    write_config(local)
    proc = snakemake(local, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-5000:]
    a, b = cluster / "results", local / "results"
    files = result_tables(a, suffixes={".tsv", ".json"})
    assert files == result_tables(b, suffixes={".tsv", ".json"})
    assert len(files) > 15
    assert Path("clusters/assignments.tsv") in files
    differ = [str(f) for f in files if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert not differ, f"SLURM and local results differ: {differ}"
