"""The generated documentation matches what its sources generate today.

docs/configuration.md comes from config/schema.yaml and the table of docs/outputs.md from the
step contract (metpot.manifest): after changing either, `python -m metpot.docgen write`.
"""

import copy
from pathlib import Path

import pytest

from metpot import docgen, manifest
from metpot.config import schema, schema_default

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "run: python -m metpot.docgen write"


def test_the_generated_pages_are_committed_as_generated():
    pages = docgen.pages(ROOT / "docs")
    assert len(pages) == 2
    for path, text in pages.items():
        assert path.read_text() == text, f"{path.name}: {REGENERATE}"
    assert docgen.outputs_table() in (ROOT / "docs" / "outputs.md").read_text()


def test_the_outputs_page_keeps_its_prose_around_the_generated_section():
    stale = f"{docgen.OUTPUTS_BEGIN}\nSTALE TABLE\n{docgen.OUTPUTS_END}"
    page = f"# Outputs\n\nprose\n\n{stale}\nend\n"
    new = docgen.outputs_page(page)
    assert new.startswith("# Outputs\n\nprose\n\n") and new.endswith(docgen.OUTPUTS_END + "\nend\n")
    assert "STALE TABLE" not in new and docgen.outputs_table() in new
    assert docgen.outputs_page(new) == new
    with pytest.raises(ValueError, match="no section"):
        docgen.outputs_page("# Outputs\n")


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
    for name in manifest.run_steps(config):
        assert f"### `{name}`" in text
        for key in manifest.step(name, config).outputs:
            assert f"| `{key}` |" in text, (name, key)
    assert "### `score`" in text and "### `sweep`" in text  # the example turns every step on


def test_docgen_command_line(capsys):
    assert docgen.main(["config"]) == 0
    assert capsys.readouterr().out == docgen.config_reference()
    assert docgen.main(["nope"]) == 2
