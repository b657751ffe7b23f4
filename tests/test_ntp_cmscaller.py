"""NTP against CMScaller's ``ntp()`` in R, with CMScaller's published CMS templates.

The reference (``tests/data/cmscaller``, see its README) is CMScaller 2.0.1's own ``ntp()``
run in R 4.2.2 on 92 TCGA colorectal tumours (the package's ``crcTCGAsubset``, 2,000 genes)
with its ``templates.CMS`` (529 rows, 47 genes marking two classes), ``nPerm = 1000`` and
``seed = 20``. ``ntp()`` draws its permutations with R's Mersenne-Twister
(``set.seed(20)``, then ``sample.int(P, S * nPerm, replace = TRUE)`` per sample); the helper
below replays R's generator, checked against the draws the R script recorded, so that metpot
gets the very same permutations and its p-values can be compared exactly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from metpot.errors import DataWarning
from metpot.io import read_omics
from metpot.score import ntp_predict
from metpot.score.templates import read_templates

CMS = DATA / "cmscaller"
SEED, N_PERM = 20, 1000

pytestmark = pytest.mark.reference


class _RSampleInt:
    """R's ``set.seed(seed)`` then successive ``sample.int(n, k, replace = TRUE)`` calls.

    R (>= 3.6, default ``sample.kind = "Rejection"``) seeds its Mersenne-Twister by scrambling
    the seed with ``seed = 69069 * seed + 1`` (50 times, then once per state word: 625 words,
    the first being the position, 624), and draws an index as ``R_unif_index``: for
    ``bits = ceil(log2(n)) < 16``, the top 16 bits of one 32-bit output (``floor(u * 65536)``
    for ``u = y / 2^32``) masked to ``bits`` bits, rejected when >= n. Successive calls of
    ``sample.int`` continue the same stream. :meth:`draw` returns 1-based indices.
    """

    def __init__(self, seed: int, n: int):
        s = seed & 0xFFFFFFFF
        for _ in range(50):
            s = (69069 * s + 1) & 0xFFFFFFFF
        key = []
        for _ in range(625):
            s = (69069 * s + 1) & 0xFFFFFFFF
            key.append(s)
        self.bits = math.ceil(math.log2(n))
        assert 0 < self.bits < 16, "two 16-bit chunks per draw are not replayed here"
        self.n = n
        self.gen = np.random.MT19937()
        self.gen.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.array(key[1:], dtype=np.uint32), "pos": 624},
        }
        self.left = np.empty(0, dtype=np.uint32)

    def draw(self, k: int) -> np.ndarray:
        parts, got = [self.left], self.left.size
        while got < k:
            raw = self.gen.random_raw(int((k - got) * 1.05) + 64).astype(np.uint32)
            v = (raw >> np.uint32(16)) & np.uint32((1 << self.bits) - 1)
            v = v[v < self.n]
            parts.append(v)
            got += v.size
        stream = np.concatenate(parts)
        self.left = stream[k:]
        return stream[:k].astype(np.int64) + 1


@pytest.fixture(scope="module")
def reference():
    counts = read_omics(CMS / "crc_tcga_counts.tsv.gz")  # samples x Entrez ids, 3 NA cells
    cohort = {"mrna": np.log2(counts + 1.0)}  # the R script's log2(emat + 1)
    templates = read_templates(CMS / "templates_CMS.tsv")
    r = pd.read_csv(CMS / "cmscaller_ntp.tsv", sep="\t", index_col="sample_id")
    fingerprint = pd.read_csv(CMS / "permutations_fingerprint.tsv", sep="\t", index_col="sample_id")
    return cohort, templates, r, fingerprint


def test_cms_templates_on_tcga_match_cmscaller_ntp(reference):
    cohort, templates, r, fingerprint = reference
    n = cohort["mrna"].shape[0]
    P = cohort["mrna"].shape[1] - 3  # the three genes with a missing value are dropped
    S = len(templates) - 1  # TNNT1 (7138), a CMS1 marker, has a missing value
    sampler = _RSampleInt(SEED, P)
    checked = []

    def draws(i):
        # sample i's call of sample.int in ntp(); the replayed draws are the ones R's ntp()
        # used (the R script checks that its recorded draws give ntp()'s p-values)
        idx = sampler.draw(S * N_PERM)
        row = fingerprint.iloc[i]
        assert idx[:10].tolist() == [int(v) for v in row["first"].split(",")]
        assert idx[-10:].tolist() == [int(v) for v in row["last"].split(",")]
        assert int(idx.sum()) == int(row["sum"])
        checked.append(i)
        return (idx - 1).reshape(N_PERM, S)  # matrix(..., ncol = nPerm): S values per column

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        res, info = ntp_predict(
            cohort,
            templates=templates,
            pool="all_genes",
            n_perm=N_PERM,
            p_convention="cmscaller",
            draws=draws,
        )
    messages = " | ".join(str(w.message) for w in caught)
    assert "3 feature(s) with missing values or no variance dropped" in messages
    assert "1 of 482 marker(s) are absent" in messages and "7138" in messages
    assert info["pool_size"] == P and info["n_markers"] == {
        "CMS1": 125,
        "CMS2": 82,
        "CMS3": 84,
        "CMS4": 237,
    }
    assert checked == list(range(n))
    assert res.index.tolist() == r.index.tolist()
    assert (res["prediction"] == r["prediction"]).all()
    # CMScaller reports sqrt((1 - cos) / 2); metpot d = 1 - cos
    for c in ("CMS1", "CMS2", "CMS3", "CMS4"):
        np.testing.assert_allclose(
            np.sqrt(res[f"d_{c}"] / 2), r[f"d.{c}"], rtol=0, atol=1e-10, err_msg=c
        )
    np.testing.assert_array_equal(res["p_value"].to_numpy(), r["p.value"].to_numpy())
    np.testing.assert_array_equal(res["fdr"].to_numpy(), r["FDR"].to_numpy())  # p.adjust
    # the comparison has teeth: a spread of p-values, and the other recipe gives others
    assert r["p.value"].nunique() > 20 and (r["FDR"] > 0.05).sum() >= 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        other, _ = ntp_predict(
            cohort, templates=templates, pool="markers", n_perm=200, p_convention="cmscaller"
        )
    assert not np.allclose(other["d_CMS4"], res["d_CMS4"])  # shared markers: one row
