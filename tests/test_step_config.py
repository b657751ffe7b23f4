"""Each step's config travels as a file its rule declares as input (rule step_config writes
<output_dir>/config/<step>.json), never as one shell argument: Linux refuses a single argument
over 128 KiB ("Argument list too long"), which a config with large gene sets passes.
"""

import json
import re
from argparse import Namespace

import pytest
from test_workflow import demo_config, snakemake

from metpot import manifest
from metpot.cli import _config
from metpot.config import load_config
from metpot.errors import MetpotError

#: Linux's limit on one argument of a command (MAX_ARG_STRLEN: 32 pages of 4 KiB).
MAX_ARG_STRLEN = 128 * 1024


def _jobs(out: str) -> list[dict]:
    """The jobs of a dry run's listing: rule and wildcards."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            w = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.append({"rule": m.group(1), "wildcards": w.group(1) if w else ""})
    return jobs


def test_step_config_holds_the_sections_a_step_reads():
    config = load_config(demo_config({}))
    char = manifest.step_config("characterise", config)
    assert set(char) == {"output_dir", "cohort", *manifest.STEP_SECTIONS["characterise"]}
    assert manifest.step_config("summary", config) == config
    assert set(manifest.STEP_SECTIONS) == set(manifest._STEPS)
    path = manifest.step_config_file("characterise", config)
    assert path == f"{config['output_dir']}/config/characterise.json"


def test_the_command_reads_a_json_config_file(tmp_path):
    config = load_config(demo_config({}))
    path = tmp_path / "characterise.json"
    path.write_text(json.dumps(manifest.step_config("characterise", config)))
    assert _config(Namespace(config=str(path))) == json.loads(path.read_text())
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MetpotError, match=r"bad\.json: not valid JSON"):
        _config(Namespace(config=str(tmp_path / "bad.json")))
    with pytest.raises(MetpotError, match=r"gone\.json: file not found"):
        _config(Namespace(config=str(tmp_path / "gone.json")))


@pytest.mark.slow  # runs Snakemake
def test_a_config_past_the_argument_limit_reaches_its_step(tmp_path):
    genes = [f"GENE{i:05d}_SYMBOL" for i in range(9000)]
    config = demo_config({"characterise": {"gene_sets": {"big": genes}}})
    config["tracking"] = {"enabled": False}
    assert len(json.dumps(config["characterise"])) > MAX_ARG_STRLEN
    dry = snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert dry.returncode == 0, dry.stderr[-3000:]
    commands = [ln for ln in dry.stdout.splitlines() if " characterise --config " in ln]
    assert len(commands) == 1
    assert "--config results/config/characterise.json " in commands[0]
    assert "GENE00001_SYMBOL" not in commands[0] and len(commands[0]) < MAX_ARG_STRLEN // 8
    # the step's config file holds its sections, gene sets included, as its command reads them
    run = snakemake(tmp_path, config, "results/config/characterise.json")
    assert run.returncode == 0, run.stderr[-3000:]
    cfg = _config(Namespace(config=str(tmp_path / "results" / "config" / "characterise.json")))
    assert cfg["characterise"]["gene_sets"]["big"] == genes
    assert set(cfg) == {"output_dir", "cohort", "preprocess", "subtypes", "characterise"}


@pytest.mark.slow  # runs Snakemake
def test_a_change_of_config_rewrites_only_the_config_of_the_steps_that_read_it(tmp_path):
    config = demo_config({"tracking": {"enabled": False}})
    steps = ["ingest", "preprocess", "snf", "clusters", "characterise", "survival", "classify"]
    targets = [f"results/config/{s}.json" for s in steps]
    first = snakemake(tmp_path, config, *targets)
    assert first.returncode == 0, first.stderr[-3000:]
    again = snakemake(tmp_path, config, "--dry-run", *targets)
    assert again.returncode == 0 and _jobs(again.stdout) == []
    config["characterise"]["top"] = 7  # read by characterise alone
    config["seed"] = 5  # read by survival and classify
    dry = snakemake(tmp_path, config, "--dry-run", *targets)
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = _jobs(dry.stdout)
    assert {j["rule"] for j in jobs} == {"step_config"}
    assert sorted(j["wildcards"] for j in jobs) == [
        "step=characterise",
        "step=classify",
        "step=survival",
    ]
    # each step declares its file as input: a new file reruns just that step (its mtime)
    full = snakemake(tmp_path, config, "--dry-run")
    assert full.returncode == 0, full.stderr[-3000:]
    for step in ("ingest", "characterise", "classify"):
        declared = rf"\nrule {step}:\n\s+input: [^\n]*results/config/{step}\.json"
        assert re.search(declared, full.stdout), step
