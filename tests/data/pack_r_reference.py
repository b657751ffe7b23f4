"""Re-create tests/data/r_reference/ from the project's shared reference folder.

    python tests/data/pack_r_reference.py [../shared]

What is copied and how is described in tests/data/PROVENANCE.md. Text files are copied byte
for byte (CSVs that are not gzipped yet are gzipped with a zero timestamp); the SNFtool
matrices are parsed from their 17-significant-digit CSVs into float64 (exact) and, being
symmetric, stored as their upper triangle in a ``.npz`` written with fixed zip timestamps, so
that packing twice gives identical bytes. ``tests/test_references.py`` checks every vendored
file against the shared folder whenever that folder is present.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "r_reference"
TAGS = ("2.2", "2.3.1")
# case -> number of samples (the matrices are n x n)
CASES = {"gauss": 150, "coad": 255}


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def gzip_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(src.read_bytes())


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez_compressed`` with fixed timestamps (byte-identical when re-packed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arrays[key]))


def upper(path: Path, n: int) -> np.ndarray:
    M = np.loadtxt(path, delimiter=",")
    assert M.shape == (n, n) and np.array_equal(M, M.T), path
    return M[np.triu_indices(n)]


def pack_snftool_case(reference: Path, case: str, n: int) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for i in (1, 2):
        per_tag = [
            upper(reference / f"snftool-{tag}" / f"{case}_affinity{i}.csv.gz", n) for tag in TAGS
        ]
        assert np.array_equal(per_tag[0], per_tag[1]), f"{case} affinity{i} differs between tags"
        arrays[f"affinity{i}"] = per_tag[0]
    for tag in TAGS:
        folder = reference / f"snftool-{tag}"
        arrays[f"fused_{tag}"] = upper(folder / f"{case}_fused.csv.gz", n)
        for k in range(2, 6):
            arrays[f"labels_k{k}_{tag}"] = np.loadtxt(
                folder / f"{case}_labels_k{k}.txt", dtype=np.int64
            )
        arrays[f"nclusters_{tag}"] = np.loadtxt(folder / f"{case}_nclusters.txt", dtype=np.int64)
    return arrays


def main(shared: Path) -> None:
    reference, coad = shared / "reference", shared / "data" / "tcga_coad"
    for name in ("mrna.csv.gz", "mirna.csv.gz", "clinical.csv"):
        copy(coad / name, OUT / "tcga_coad" / name)
    survival = reference / "r-survival"
    for name in ("coad_mrna_univariable_cox.csv", "coad_mirna_univariable_cox.csv"):
        gzip_copy(survival / name, OUT / "r-survival" / f"{name}.gz")
    for name in ("coad_snf_k3_survival.json", "coad_usable_mask.txt"):
        copy(survival / name, OUT / "r-survival" / name)
    for i in (1, 2):
        copy(
            reference / "inputs" / f"gauss_view{i}.csv.gz",
            OUT / "snftool" / f"gauss_view{i}.csv.gz",
        )
    for case, n in CASES.items():
        save_npz(OUT / "snftool" / f"{case}_reference.npz", pack_snftool_case(reference, case, n))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared")
