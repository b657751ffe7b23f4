from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
COAD = SHARED / "data" / "tcga_coad"

needs_shared = pytest.mark.skipif(
    not (REFERENCE.is_dir() and COAD.is_dir()), reason="../shared (reference data) is absent"
)
