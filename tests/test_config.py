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


def test_a_users_config_stands_alone():
    """Keys left out take the schema's defaults, never the demo's values."""
    cfg = {"cohort": {"name": "x", "omics": {"a": {"path": "a.tsv"}, "b": {"path": "b.tsv"}}}}
    validate_config(cfg, SCHEMA)
    assert "crs" not in cfg and "demo" not in cfg
    assert cfg["subtypes"]["signatures"] == {}
    assert "integrated_groups" not in cfg["survival"]
    assert cfg["output_dir"] == "results" and cfg["tracking"]["artifacts"] == "summary"


def test_every_problem_is_listed_each_naming_its_key():
    cfg = {
        "cohort": {
            "name": "x",
            "omics": {"a": {"path": "a.tsv"}},
            "clinical": {"path": "c.tsv", "time": "t", "event": "e"},
        },
        "crs": {"cea_ng_ml": "cea"},
        "preprocess": {"omics": {"zz": {}}},
    }
    with pytest.raises(MetpotError) as err:
        validate_config(cfg, SCHEMA)
    lines = str(err.value).splitlines()
    assert any(line.startswith("config: cohort.clinical.time_unit: required") for line in lines)
    assert any(line.startswith("config: crs.node_positive:") for line in lines)
    assert any(line.startswith("config: preprocess.omics.zz:") for line in lines)
    assert len(lines) == 3


# --------------------------------------------------------------------------- metpot validate


def _cohort_files(folder: Path, n: int = 30):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ids = [f"P{i:02d}" for i in range(n)]
    pd.DataFrame(rng.normal(size=(5, n)), index=[f"G{i}" for i in range(5)], columns=ids).to_csv(
        folder / "rna.csv"
    )
    pd.DataFrame(rng.normal(size=(n, 3)), index=ids, columns=["m1", "m2", "m3"]).to_csv(
        folder / "mir.csv"
    )
    pd.DataFrame(
        {"sample_id": ids, "days": rng.uniform(100, 3000, n).round(), "dead": rng.integers(0, 2, n)}
    ).to_csv(folder / "clin.csv", index=False)


def _validate(tmp_path, cfg):
    import yaml

    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    return subprocess.run(
        [sys.executable, "-m", "metpot.cli", "validate", "my.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_accepts_a_good_config(tmp_path):
    _cohort_files(tmp_path)
    cfg = {
        "cohort": {
            "name": "x",
            "omics": {
                "rna": {"path": "rna.csv"},
                "mir": {"path": "mir.csv", "layout": "samples_x_features"},
            },
            "clinical": {"path": "clin.csv", "time": "days", "event": "dead", "time_unit": "days"},
        },
        "snf": {"K": 10},
    }
    proc = _validate(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert "my.yaml: OK" in proc.stdout


def test_validate_lists_every_data_problem_naming_its_key(tmp_path):
    _cohort_files(tmp_path)
    cfg = {
        "cohort": {
            "name": "x",
            "omics": {
                "rna": {"path": "rna.csv"},
                "mir": {"path": "mir.csv"},  # wrong layout: the file is samples x features
                "prot": {"path": "absent.csv"},
            },
            "clinical": {
                "path": "clin.csv",
                "time": "days",
                "event": "status",  # no such column
                "time_unit": "months",  # implausible: a median of ~1,500 "months"
                "covariates": ["age"],
            },
        },
        "crs": {"score": "fong"},
        "subtypes": {"layer": "rna", "signatures": {"immune": ["CD8A", "GZMB"]}},
    }
    proc = _validate(tmp_path, cfg)
    assert proc.returncode == 1
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    warnings = [ln for ln in lines if ln.startswith("warning: ")]
    expected = [
        "cohort.omics.prot.path: absent.csv: file not found",
        "cohort.omics.mir.layout: ",
        "cohort.clinical.event: no column 'status'",
        "cohort.clinical.covariates[0]: no column 'age'",
        "crs.score: no column 'fong'",
        "subtypes.signatures.immune: none of its features",
    ]
    for needle in expected:
        assert sum(needle in e for e in errors) == 1, (needle, errors)
    assert len(errors) == len(expected)
    assert any("check cohort.clinical.time_unit" in w and "'days'" in w for w in warnings)
    assert "Traceback" not in proc.stderr


def test_validate_reports_schema_problems_before_data(tmp_path):
    proc = _validate(tmp_path, {"cohort": {"name": "x", "omics": {}}, "snf": {"K": "x"}})
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert any("cohort.omics" in e for e in errors) and any("snf.K" in e for e in errors)


def test_validate_accepts_the_demo_config_in_a_clean_folder(tmp_path):
    """The demo's files are written by the workflow's first rule (demo_cohort): not missing."""
    proc = subprocess.run(
        [sys.executable, "-m", "metpot.cli", "validate", str(ROOT / "config" / "config.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "config.yaml: OK" in proc.stdout
    notes = [ln for ln in proc.stdout.splitlines() if ln.startswith("note: ")]
    for key, path in [
        ("cohort.omics.mrna.path", "results/demo/mrna.tsv.gz"),
        ("cohort.omics.mirna.path", "results/demo/mirna.tsv.gz"),
        ("cohort.clinical.path", "results/demo/clinical.tsv"),
        ("cohort.truth", "results/demo/truth.tsv"),
    ]:
        assert sum(ln.startswith(f"note: {key}: {path}") for ln in notes) == 1, (key, notes)
    assert all("rule demo_cohort" in ln for ln in notes), notes
    assert not list(tmp_path.iterdir()), "validate wrote files"


def test_validate_checks_the_demo_files_once_they_exist(tmp_path):
    """Files the workflow writes are checked like any other once they are there."""
    assert (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "metpot.cli",
                "simulate",
                "--out-dir",
                "results/demo",
                "--n-patients",
                "40",
                "--seed",
                "1",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        ).returncode
        == 0
    )
    (tmp_path / "results" / "demo" / "clinical.tsv").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "metpot.cli", "validate", str(ROOT / "config" / "config.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error: cohort.clinical.path: results/demo/clinical.tsv: file is empty" in proc.stderr
    assert "note: cohort.clinical.path" not in proc.stdout


# --------------------------------------------------------------------------- presets

CRS_COLUMNS = {
    "node_positive": "node",
    "disease_free_interval_months": "dfi",
    "n_liver_tumors": "n",
    "cea_ng_ml": "cea",
    "largest_tumor_cm": "size",
}


def _crs_config(groups, crs_extra=None):
    return {
        "cohort": {
            "name": "x",
            "omics": {"a": {"path": "a.tsv"}, "b": {"path": "b.tsv"}},
            "clinical": {"path": "c.tsv", "time": "t", "event": "e", "time_unit": "months"},
        },
        "crs": {**CRS_COLUMNS, **(crs_extra or {})},
        "survival": {"integrated_groups": groups},
    }


def test_katipally2023_preset_sets_its_high_cutoff_when_the_config_does_not():
    from metpot.config import preset_warnings

    cfg = validate_config(_crs_config("katipally2023"), SCHEMA)
    assert cfg["crs"]["high_cutoff"] == 2
    assert preset_warnings(cfg) == []
    # validating again (what every workflow job does with the resolved config) keeps it
    assert validate_config(copy.deepcopy(cfg), SCHEMA)["crs"]["high_cutoff"] == 2


def test_an_explicit_high_cutoff_wins_over_the_preset_with_a_warning_naming_both():
    from metpot.config import preset_warnings

    cfg = validate_config(_crs_config("katipally2023", {"high_cutoff": 3}), SCHEMA)
    assert cfg["crs"]["high_cutoff"] == 3
    (line,) = preset_warnings(cfg)
    assert "crs.high_cutoff: 3" in line and "crs.high_cutoff: 2" in line
    assert "survival.integrated_groups: katipally2023" in line
    # the explicit value the preset carries anyway: nothing to say
    same = validate_config(_crs_config("katipally2023", {"high_cutoff": 2}), SCHEMA)
    assert preset_warnings(same) == []


@pytest.mark.parametrize("groups", ["pitroda2018", {"immune": {"low": "low", "high": "high"}}])
def test_other_integrated_groups_keep_the_schema_cutoff(groups):
    from metpot.config import preset_warnings

    cfg = validate_config(_crs_config(groups), SCHEMA)
    assert cfg["crs"]["high_cutoff"] == 3
    assert preset_warnings(cfg) == []


def test_validate_warns_about_a_cutoff_that_contradicts_the_preset(tmp_path):
    _cohort_files(tmp_path)
    cfg = _crs_config("katipally2023", {"high_cutoff": 3})
    cfg["cohort"]["omics"] = {
        "rna": {"path": "rna.csv"},
        "mir": {"path": "mir.csv", "layout": "samples_x_features"},
    }
    cfg["cohort"]["clinical"] = {
        "path": "clin.csv",
        "time": "days",
        "event": "dead",
        "time_unit": "days",
    }
    cfg["crs"] = {"score": "days", "high_cutoff": 3}
    cfg["snf"] = {"K": 10}
    proc = _validate(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stdout.splitlines() if ln.startswith("warning: ")]
    assert any(
        "crs.high_cutoff: 3" in w and "katipally2023 uses crs.high_cutoff: 2" in w for w in warnings
    ), proc.stdout


# ---------------------------------------------------------------------------------------------
# the schema: the only source of defaults, allowed values and model lists
# ---------------------------------------------------------------------------------------------


def test_schema_lookups_read_the_schema_file():
    from metpot.config import schema, schema_default, schema_enum, schema_node

    raw = load_yaml(SCHEMA)
    crs = raw["properties"]["crs"]["properties"]["high_cutoff"]
    assert schema_default("crs.high_cutoff") == crs["default"]
    assert schema_node("crs.high_cutoff")["maximum"] == crs["maximum"]
    # through a $ref into definitions
    top = raw["definitions"]["select"]["properties"]["top"]["default"]
    assert schema_default("preprocess.select.top") == top
    assert schema_enum("classify.survival_models") == tuple(
        raw["properties"]["classify"]["properties"]["survival_models"]["items"]["enum"]
    )
    assert schema() == raw
    schema()["properties"].clear()  # a copy: the next caller sees the whole schema
    assert schema() == raw
    with pytest.raises(KeyError, match="crs.nope"):
        schema_node("crs.nope")
    with pytest.raises(KeyError, match="no default"):
        schema_default("crs.score")


def test_code_constants_follow_the_schema():
    from metpot.classify import options as O
    from metpot.config import YEAR_LENGTH, schema_enum, schema_node, section_defaults

    assert tuple(YEAR_LENGTH) == schema_enum("cohort.clinical.time_unit")
    models = schema_node("classify.models")["properties"]
    assert set(O.CLASSIFIERS) | set(O.SURVIVAL_MODELS) == set(models) | {"crs"}
    for name, spec in models.items():
        assert O.DEFAULT_GRIDS[name] == spec["properties"]["grid"]["default"]
    defaults = section_defaults("classify")
    assert O.DEFAULT_CONFIG == {k: v for k, v in defaults.items() if k != "enabled"}
    assert O.resolve_config({}) == O.DEFAULT_CONFIG


def test_section_defaults_names_the_key():
    from metpot.config import section_defaults

    assert (
        section_defaults("snf", {"K": 10})["mu"]
        == load_yaml(SCHEMA)["properties"]["snf"]["properties"]["mu"]["default"]
    )
    with pytest.raises(MetpotError, match=r"config: snf\.K: 1 is less than the minimum of 2"):
        section_defaults("snf", {"K": 1})
    # without the check: the same defaults, filled as validation fills them
    for name, sub in load_yaml(SCHEMA)["properties"].items():
        if sub.get("type") == "object" and name not in ("cohort", "score"):  # no required keys
            assert section_defaults(name, check=False) == section_defaults(name), name
    assert section_defaults("snf", {"K": 1}, check=False)["K"] == 1


def test_library_defaults_are_the_schema_defaults(monkeypatch):
    """fong_score and the preprocessing take their defaults from the schema (patched here)."""
    import pandas as pd

    from metpot import config as C
    from metpot import risk_score
    from metpot.preprocess import _with_defaults

    assert risk_score.DEFAULT_HIGH_CUTOFF == C.schema_default("crs.high_cutoff")
    clinical = pd.DataFrame({"crs": [1, 2, 3]}, index=["a", "b", "c"])
    monkeypatch.setattr(risk_score, "DEFAULT_HIGH_CUTOFF", 2)
    groups = risk_score.fong_score(clinical, score_col="crs", high_cutoff=None)["scores"]
    assert list(groups["crs_group"]) == ["low", "high", "high"]
    assert _with_defaults({"select": {"method": "mad"}})["select"]["top"] == 2000
    raw = copy.deepcopy(C._schema_file())
    raw["definitions"]["select"]["properties"]["top"]["default"] = 7
    monkeypatch.setattr(C, "_schema_file", lambda: raw)
    assert _with_defaults({"select": {"method": "mad"}})["select"] == {
        "method": "mad",
        "top": 7,
        "p": raw["definitions"]["select"]["properties"]["p"]["default"],
    }


def test_the_demo_cohort_is_written_where_the_config_reads_it():
    """`snakemake --config output_dir=elsewhere` on the demo: the demo_cohort rule writes the
    files the config names (results/demo/...), so the run finds them."""
    from metpot import manifest

    config = load_yaml(ROOT / "config" / "config.yaml")
    config["output_dir"] = "elsewhere"
    validate_config(config, ROOT / "config" / "schema.yaml")
    out = manifest.step("demo_cohort", config).output_paths()
    cohort = config["cohort"]
    assert out["mrna"] == cohort["omics"]["mrna"]["path"] == "results/demo/mrna.tsv.gz"
    assert out["mirna"] == cohort["omics"]["mirna"]["path"]
    assert out["clinical"] == cohort["clinical"]["path"]
    assert out["truth"] == cohort["truth"]
    assert out["readme"] == "results/demo/README.txt"


def test_the_tcga_coad_config_is_valid_and_names_vendored_files():
    """bench/configs/tcga_coad.yaml (docs/classifiers.md's stability table) stays runnable."""
    cfg = load_yaml(ROOT / "bench" / "configs" / "tcga_coad.yaml")
    validate_config(cfg, SCHEMA)
    paths = [layer["path"] for layer in cfg["cohort"]["omics"].values()]
    assert all((ROOT / p).is_file() for p in [*paths, cfg["cohort"]["clinical"]["path"]])
    assert "snf_subtype" in cfg["classify"]["targets"] and "crs" not in cfg
