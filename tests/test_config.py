import copy
import subprocess
import sys
from pathlib import Path

import pytest

from metpot.config import layer_preprocess, load_yaml, validate_config
from metpot.errors import MetpotError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.fixture
def config():
    return load_yaml(ROOT / "config" / "config.yaml")


def test_default_config_is_valid_and_defaults_filled(config):
    validate_config(config, SCHEMA)
    assert config["preprocess"]["missing"]["knn_k"] == 10
    assert config["snf"]["K"] == 20
    assert config["clusters"]["consensus"]["fraction"] == 0.8


def test_minimal_config_gets_every_default():
    cfg = {"cohort": {"name": "x", "omics": {"a": {"path": "a.tsv"}, "b": {"path": "b.tsv"}}}}
    validate_config(cfg, SCHEMA)
    assert cfg["cohort"]["omics"]["a"]["layout"] == "features_x_samples"
    assert cfg["preprocess"]["select"] == {"method": "variance", "top": 2000, "p": 0.05}
    assert cfg["snf"]["variant"] == "snftool-2.3"


@pytest.mark.parametrize(
    "path, value, needle",
    [
        (("snf", "K"), "twenty", "snf.K"),
        (("preprocess", "select", "method"), "pca", "preprocess.select.method"),
        (("preprocess", "transform"), "log10", "preprocess.transform"),
        (("snf", "variant"), "snftool-9", "snf.variant"),
        (("clusters", "consensus", "fraction"), 1.5, "clusters.consensus.fraction"),
        (("cohort", "omics", "mrna", "layout"), "wide", "cohort.omics.mrna.layout"),
    ],
)
def test_bad_value_names_the_key(config, path, value, needle):
    cfg = copy.deepcopy(config)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(MetpotError) as err:
        validate_config(cfg, SCHEMA)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_unknown_key_is_named(config):
    config["snf"]["KK"] = 3
    with pytest.raises(MetpotError, match="KK"):
        validate_config(config, SCHEMA)


def test_override_for_unknown_layer(config):
    config["preprocess"]["omics"] = {"protein": {"transform": "log2"}}
    with pytest.raises(MetpotError, match="preprocess.omics.protein"):
        validate_config(config, SCHEMA)


def test_layer_overrides_merge(config):
    config["preprocess"]["omics"] = {"mirna": {"select": {"method": "mad", "top": 50}}}
    validate_config(config, SCHEMA)
    mirna = layer_preprocess(config, "mirna")
    assert mirna["select"]["method"] == "mad" and mirna["select"]["top"] == 50
    assert mirna["scale"] == "zscore"
    assert layer_preprocess(config, "mrna")["select"]["method"] == "variance"


@pytest.mark.slow  # runs Snakemake
def test_snakemake_rejects_bad_config_in_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "cohort:\n  name: x\n  omics:\n    a: {path: a.tsv}\nsnf: {K: twenty}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-s",
            str(ROOT / "Snakefile"),
            "--configfile",
            str(tmp_path / "bad.yaml"),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "config: snf.K: 'twenty' is not of type 'integer'" in proc.stderr
    assert "Traceback" not in proc.stderr
