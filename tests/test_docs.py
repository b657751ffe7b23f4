"""The README and the documentation site (docs/, mkdocs.yml) agree with each other.

CI builds the site with ``mkdocs build --strict`` (.ci/run), which fails on a broken link or
anchor inside docs/; these tests cover what that build does not read: the README's links
into docs/, and the README's commands that a slow test runs from docs/own-cohort.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_docs_page_is_in_the_nav_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs" and config["strict"] is True
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages))
    assert sorted(pages) == sorted(p.name for p in DOCS.glob("*.md"))
    assert pages[0] == "index.md"


def test_readme_links_into_docs_resolve():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert (ROOT / link).is_file(), f"README.md links to {link}, which does not exist"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    where = _section(readme, "Where to go next")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"(docs/{page.name})" in where, f"README: no link to docs/{page.name}"


def test_readme_own_cohort_blocks_are_the_executed_pages():
    """The README's "Running on your own cohort" repeats blocks of docs/own-cohort.md, the
    page tests/test_workflow.py executes, so both stay literally true."""
    readme = _section((ROOT / "README.md").read_text(), "Running on your own cohort")
    page = (DOCS / "own-cohort.md").read_text()
    pattern = r"```(yaml|bash)\n(.*?)```"
    blocks = re.findall(pattern, readme, flags=re.S)
    assert len(blocks) >= 3
    executed = re.findall(pattern, page, flags=re.S)
    for block in blocks:
        assert block in executed, f"README block not in docs/own-cohort.md:\n{block[1]}"


def test_readme_keeps_the_two_commands_ci_runs():
    """The README's two commands: install + demo run, then the tests (what .ci/run runs)."""
    two = _section((ROOT / "README.md").read_text(), "The two commands")
    commands = [
        line
        for block in re.findall(r"```bash\n(.*?)```", two, flags=re.S)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2
    install = "pip install uv && uv pip install --compile-bytecode ."
    assert commands[0].endswith(f"{install} && snakemake --cores 2")
    assert commands[1] == 'uv pip install --compile-bytecode ".[test]" && python -m pytest'
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_ci_builds_the_docs_with_warnings_as_errors():
    run = (ROOT / ".ci" / "run").read_text()
    build = [line for line in run.splitlines() if line.startswith("mkdocs build")]
    assert len(build) == 1 and "--strict" in build[0]
    assert "--quiet" not in build[0], "mkdocs --quiet hides the warnings --strict counts"


def test_the_report_image_is_shown_in_the_docs():
    assert (DOCS / "report.png").is_file()
    assert "](report.png)" in (DOCS / "quickstart.md").read_text()
