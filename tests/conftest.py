"""Paths of the vendored reference data, their loaders, and the reference-test guard.

The R references the tests compare with live in ``tests/data`` (see ``tests/data/PROVENANCE.md``),
so a fresh clone runs them. Only the provenance checks, which compare the vendored copies with
the project's shared folder (``../shared``), need that folder.

Tests marked ``reference`` compare with an independent implementation (R, snfpy). With
``METPOT_REQUIRE_REFERENCE=1`` in the environment (set by ``.ci/run`` when ``../shared``
exists), a skipped ``reference`` test is reported as a failure.
"""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SNF_SIM = DATA / "snf_sim"
R_REFERENCE = DATA / "r_reference"
COAD = R_REFERENCE / "tcga_coad"
R_SURVIVAL = R_REFERENCE / "r-survival"
SNFTOOL = R_REFERENCE / "snftool"

SHARED = ROOT.parent / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "reference").is_dir(), reason="../shared (the original references) is absent"
)

REQUIRE_REFERENCE = "METPOT_REQUIRE_REFERENCE"


def load_snftool_case(path: Path) -> dict[str, np.ndarray]:
    """A packed SNFtool reference (``*_reference.npz``) with its matrices rebuilt in full."""
    ref = dict(np.load(path))
    n = ref["labels_k2_2.3.1"].size
    iu = np.triu_indices(n)
    for key in list(ref):
        if key.startswith(("affinity", "fused")):
            M = np.zeros((n, n))
            M[iu] = ref[key]
            ref[key] = M + np.triu(M, 1).T
    return ref


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get(REQUIRE_REFERENCE) == "1"
        and item.get_closest_marker("reference") is not None
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"reference test skipped while {REQUIRE_REFERENCE}=1: {reason}"


def result_tables(results: Path, suffixes=None, exclude=("mlflow_run.json",)) -> list[Path]:
    """Files under a run's output folder, relative to it, for comparing two runs: logs and
    benchmarks left out, and the top-level files in ``exclude``; with ``suffixes``, only
    files with those suffixes."""
    skip = {"logs", "benchmarks"}
    files = (p.relative_to(results) for p in results.rglob("*") if p.is_file())
    return sorted(
        f
        for f in files
        if (suffixes is None or f.suffix in suffixes)
        and not skip & set(f.parts)
        and f.as_posix() not in exclude
    )
