"""Provenance: the vendored references in tests/data are the shared originals, unchanged.

These are the only tests that need ``../shared`` (see tests/data/PROVENANCE.md); every test
that compares with R reads the vendored copies.
"""

import gzip

import numpy as np
import pytest
from conftest import COAD, R_SURVIVAL, SHARED, SNF_SIM, SNFTOOL, load_snftool_case, needs_shared

pytestmark = [pytest.mark.reference, needs_shared]

REFERENCE = SHARED / "reference"
TAGS = ("2.2", "2.3.1")


def load_csv(path):
    return np.loadtxt(path, delimiter=",")


@pytest.mark.parametrize("name", ["mrna.csv.gz", "mirna.csv.gz", "clinical.csv"])
def test_cohort_files_are_byte_copies(name):
    assert (COAD / name).read_bytes() == (SHARED / "data" / "tcga_coad" / name).read_bytes()


@pytest.mark.parametrize(
    "name",
    [
        "coad_mrna_univariable_cox.csv",
        "coad_mirna_univariable_cox.csv",
        "coad_snf_k3_survival.json",
        "coad_usable_mask.txt",
    ],
)
def test_r_survival_files_are_byte_copies(name):
    original = (REFERENCE / "r-survival" / name).read_bytes()
    gz = R_SURVIVAL / f"{name}.gz"
    vendored = gzip.decompress(gz.read_bytes()) if gz.exists() else (R_SURVIVAL / name).read_bytes()
    assert vendored == original


@pytest.mark.parametrize("case, folder", [("sim", SNF_SIM), ("gauss", SNFTOOL)])
def test_snftool_inputs_are_byte_copies(case, folder):
    for i in (1, 2):
        name = f"{case}_view{i}.csv.gz"
        assert (folder / name).read_bytes() == (REFERENCE / "inputs" / name).read_bytes()


@pytest.mark.parametrize("case, folder", [("sim", SNF_SIM), ("gauss", SNFTOOL), ("coad", SNFTOOL)])
def test_snftool_outputs_are_the_shared_ones(case, folder):
    ref = load_snftool_case(folder / f"{case}_reference.npz")
    expected_keys = {"affinity1", "affinity2"}
    for tag in TAGS:
        original = REFERENCE / f"snftool-{tag}"
        for i in (1, 2):
            assert np.array_equal(
                ref[f"affinity{i}"], load_csv(original / f"{case}_affinity{i}.csv.gz")
            )
        assert np.array_equal(ref[f"fused_{tag}"], load_csv(original / f"{case}_fused.csv.gz"))
        for k in range(2, 6):
            labels = np.loadtxt(original / f"{case}_labels_k{k}.txt", dtype=np.int64)
            assert np.array_equal(ref[f"labels_k{k}_{tag}"], labels)
        nclusters = np.loadtxt(original / f"{case}_nclusters.txt", dtype=np.int64)
        assert np.array_equal(ref[f"nclusters_{tag}"], nclusters)
        expected_keys |= {f"fused_{tag}", f"nclusters_{tag}"}
        expected_keys |= {f"labels_k{k}_{tag}" for k in range(2, 6)}
        if case == "sim":
            predicted = np.loadtxt(original / "sim_grouppredict_all.txt", dtype=np.int64)
            assert np.array_equal(ref[f"grouppredict_all_{tag}"], predicted)
            expected_keys.add(f"grouppredict_all_{tag}")
    assert set(ref) == expected_keys
