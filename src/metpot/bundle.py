"""Where the workflow's own files are: the Snakefile, rules, config schema and environments.

A wheel carries them inside the package (``metpot/_workflow/``, copied there at build time by
``setup.py``); a source checkout (editable install) has them beside ``src/``.
"""

from __future__ import annotations

from pathlib import Path

from metpot.errors import MetpotError


def workflow_root() -> Path:
    """The folder holding ``Snakefile``, ``workflow/``, ``config/`` and ``envs/``."""
    here = Path(__file__).resolve().parent
    for root in (here / "_workflow", here.parents[1]):
        if (root / "Snakefile").is_file() and (root / "workflow" / "rules").is_dir():
            return root
    raise MetpotError(
        f"the metpot workflow files are missing (looked in {here / '_workflow'} and "
        f"{here.parents[1]}): reinstall metpot with pip"
    )


def schema_path() -> Path:
    """The config schema (``config/schema.yaml``)."""
    return workflow_root() / "config" / "schema.yaml"


def demo_config_path() -> Path:
    """The demo cohort's config (``config/config.yaml``)."""
    return workflow_root() / "config" / "config.yaml"
