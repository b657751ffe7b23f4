"""The generated documentation pages match what their sources generate today.

docs/configuration.md comes from config/schema.yaml and docs/outputs.md from the step contract
(metpot.manifest): after changing either, regenerate them (metpot.docgen's docstring).
"""

import copy
from pathlib import Path

from metpot import docgen, manifest
from metpot.config import schema, schema_default

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "python -m metpot.docgen {} > docs/{}.md"


def test_configuration_reference_is_the_schemas():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == docgen.config_reference(), REGENERATE.format("config", "configuration")


def test_outputs_table_is_the_manifests():
    committed = (ROOT / "docs" / "outputs.md").read_text()
    assert committed == docgen.outputs_table(), REGENERATE.format("outputs", "outputs")


def test_the_reference_follows_a_change_of_the_schema():
    raw = schema()
    row = f"| `crs.high_cutoff` | integer | `{schema_default('crs.high_cutoff')}` |"
    assert row in docgen.config_reference(raw)
    raw["properties"]["crs"]["properties"]["high_cutoff"]["default"] = 4
    changed = docgen.config_reference(raw)
    assert "| `crs.high_cutoff` | integer | `4` |" in changed
    assert changed != (ROOT / "docs" / "configuration.md").read_text()


def test_the_reference_names_every_key_of_the_schema():
    text = docgen.config_reference()

    def keys(node, prefix):
        node = dict(node)
        while "$ref" in node:
            node = {**copy.deepcopy(root["definitions"][node.pop("$ref").split("/")[-1]]), **node}
        for key, sub in node.get("properties", {}).items():
            yield f"{prefix}{key}"
            yield from keys(sub, f"{prefix}{key}.")

    root = schema()
    names = list(keys(root, ""))
    assert len(names) > 100
    missing = [k for k in names if f"| `{k}` |" not in text]
    assert not missing


def test_the_outputs_table_lists_every_step_and_output():
    text = docgen.outputs_table()
    config = docgen.example_config()
    for name in ["demo_cohort", *manifest.analysis_steps(config), "track", "summary"]:
        assert f"## `{name}`" in text
        for key in manifest.step(name, config).outputs:
            assert f"| `{key}` |" in text, (name, key)
    assert "## `score`" in text and "## `sweep`" in text  # the example turns every step on


def test_docgen_command_line(capsys):
    assert docgen.main(["config"]) == 0
    assert capsys.readouterr().out == docgen.config_reference()
    assert docgen.main(["nope"]) == 2
