"""Tests of the synthetic demo cohort (metpot.simulate)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from metpot.errors import MetpotError
from metpot.simulate import (
    MIRNA_PROGRAMMES,
    MRNA_PROGRAMMES,
    SUBTYPE_PROPORTIONS,
    gene_symbols,
    mirna_ids,
    simulate_cohort,
    subtype_counts,
)

# A few genes and miRNAs of each subtype's biology (expected independently of the module's
# programme lists): T-cell cytotoxicity, stroma/EMT, MYC/E2F proliferation.
IMMUNE_GENES = ["CD8A", "GZMB", "PRF1", "CXCL9", "IFNG"]
STROMAL_MIRNAS = ["hsa-miR-199a-5p", "hsa-miR-214-3p", "hsa-miR-143-3p", "hsa-miR-145-5p"]


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort()


def test_shapes_and_ids(cohort):
    assert cohort["mrna"].shape == (2000, 150)
    assert cohort["mirna"].shape == (300, 150)
    assert cohort["clinical"].shape[0] == 150
    assert list(cohort["truth"].columns) == ["sample_id", "label"]
    ids = list(cohort["truth"]["sample_id"])
    assert ids[0] == "CRLM001" and ids[-1] == "CRLM150"
    for key in ("mrna", "mirna"):
        assert list(cohort[key].columns) == ids
        assert cohort[key].index.is_unique
    assert list(cohort["clinical"]["sample_id"]) == ids
    assert cohort["mirna"].index.str.startswith(("hsa-miR-", "hsa-let-")).all()


def test_readme_says_synthetic(cohort):
    assert "SYNTHETIC" in cohort["readme"]
    assert "SYNTHETIC" in simulate_cohort.__doc__


def test_proportions(cohort):
    # New EPOC validation (JAMA Oncol 2023): canonical 50 %, immune 19 %, stromal 31 %
    assert SUBTYPE_PROPORTIONS == {"canonical": 0.50, "immune": 0.19, "stromal": 0.31}
    counts = cohort["truth"]["label"].value_counts().to_dict()
    assert counts == {"canonical": 75, "stromal": 46, "immune": 29}
    # largest remainder by hand, e.g. n = 12: 6, 2.28, 3.72 -> 6, 2, 3 and the last patient
    # to the largest remainder (stromal); n = 150: 75, 28.5, 46.5 -> the tie goes to the first
    # in (canonical, immune, stromal) order
    expected = {
        12: (6, 2, 4),
        37: (19, 7, 11),
        150: (75, 29, 46),
        151: (75, 29, 47),
        500: (250, 95, 155),
    }
    for n, (canonical, immune, stromal) in expected.items():
        assert subtype_counts(n) == {"canonical": canonical, "immune": immune, "stromal": stromal}
    # shuffled: not sorted by subtype
    labels = cohort["truth"]["label"].to_numpy()
    assert (labels[:-1] != labels[1:]).sum() > 20


def test_programme_features_present(cohort):
    for names in MRNA_PROGRAMMES.values():
        assert set(names) <= set(cohort["mrna"].index)
    for names in MIRNA_PROGRAMMES.values():
        assert set(names) <= set(cohort["mirna"].index)
    assert {"CD8A", "COL1A1", "MYC", "E2F1", "HLA-DRA", *IMMUNE_GENES} <= set(cohort["mrna"].index)
    assert {"hsa-miR-21-5p", "hsa-miR-155-5p", "hsa-miR-92a-3p", *STROMAL_MIRNAS} <= set(
        cohort["mirna"].index
    )
    assert len(gene_symbols()) >= 2000 and len(set(gene_symbols())) == len(gene_symbols())
    assert len(mirna_ids()) >= 300 and len(set(mirna_ids())) == len(mirna_ids())


def test_programmes_follow_subtypes(cohort):
    labels = cohort["truth"]["label"].to_numpy()
    mrna = cohort["mrna"]
    immune = mrna.loc[IMMUNE_GENES].mean()
    assert immune[labels == "immune"].mean() > immune[labels != "immune"].mean() + 1
    stromal = cohort["mirna"].loc[STROMAL_MIRNAS].mean()
    assert stromal[labels == "stromal"].mean() > stromal[labels == "canonical"].mean() + 1


def test_expression_scale(cohort):
    values = cohort["mrna"].to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) < 20
    means = np.nanmean(values, axis=1)
    assert 1.5 < np.percentile(means, 1) and np.percentile(means, 99) < 15


def test_determinism():
    a = simulate_cohort(n_patients=40, n_genes=300, n_mirnas=150, seed=7)
    b = simulate_cohort(n_patients=40, n_genes=300, n_mirnas=150, seed=7)
    c = simulate_cohort(n_patients=40, n_genes=300, n_mirnas=150, seed=8)
    for key in ("mrna", "mirna", "clinical", "truth"):
        pd.testing.assert_frame_equal(a[key], b[key])
        assert a[key].to_csv().encode() == b[key].to_csv().encode()
    assert a["readme"] == b["readme"]
    assert not a["mrna"].equals(c["mrna"])
    assert not a["clinical"].equals(c["clinical"])


def test_survival_consistency(cohort):
    clin = cohort["clinical"]
    ok = clin["os_months"].notna()
    assert (clin["pfs_months"] >= 0).all() and (clin.loc[ok, "os_months"] > 0).all()
    assert (clin.loc[ok, "pfs_months"] <= clin.loc[ok, "os_months"]).all()
    assert set(clin["os_event"].unique()) <= {0, 1}
    assert set(clin["pfs_event"].unique()) <= {0, 1}
    # a death is a PFS event too; follow-up at most 12 years
    assert (clin.loc[clin["os_event"] == 1, "pfs_event"] == 1).all()
    assert clin.loc[ok, "os_months"].max() <= 144
    assert 0.2 < clin["os_event"].mean() < 0.9
    assert clin["pfs_event"].mean() > clin["os_event"].mean()


def test_clinical_columns(cohort):
    clin = cohort["clinical"]
    expected = {
        "sample_id", "age", "sex", "node_positive", "disease_free_interval_months",
        "n_liver_tumors", "cea_ng_ml", "largest_tumor_cm", "os_months", "os_event",
        "pfs_months", "pfs_event",
    }  # fmt: skip
    assert set(clin.columns) == expected
    assert set(clin["node_positive"].unique()) <= {0, 1}
    assert (clin["disease_free_interval_months"] >= 0).all()
    assert (clin["n_liver_tumors"] >= 1).all()
    assert set(clin["sex"].unique()) <= {"F", "M"}


def test_blemishes_on(cohort):
    mrna, clin = cohort["mrna"], cohort["clinical"]
    assert int(mrna.isna().to_numpy().sum()) == 30
    assert 1 <= int(mrna.isna().any(axis=1).sum()) <= 5
    assert int((mrna.std(axis=1) == 0).sum()) == 1
    assert int(clin["os_months"].isna().sum()) == 1
    assert int(clin["cea_ng_ml"].isna().sum()) == 1
    # blemishes never touch the programme genes
    programme = [g for names in MRNA_PROGRAMMES.values() for g in names]
    assert not mrna.loc[programme].isna().any().any()


def test_blemishes_off():
    d = simulate_cohort(
        n_patients=40, n_genes=300, n_mirnas=150, missing_fraction=0, constant_genes=0,
        blemishes=False,
    )  # fmt: skip
    assert not d["mrna"].isna().any().any()
    assert (d["mrna"].std(axis=1) > 0).all()
    assert not d["clinical"].isna().any().any()
    assert "none" in d["readme"]


@pytest.mark.parametrize(
    "kwargs",
    [{"n_patients": 5}, {"n_genes": 50}, {"n_genes": 10**6}, {"missing_fraction": 0.5},
     {"constant_genes": -1}],
)  # fmt: skip
def test_bad_arguments(kwargs):
    with pytest.raises(MetpotError):
        simulate_cohort(**kwargs)


def test_snf_recovers_subtypes_better_than_each_layer(cohort):
    from sklearn.metrics import adjusted_rand_score

    from metpot import snf

    def prep(frame):
        x = frame.T
        x = x.loc[:, x.notna().all() & (x.std() > 0)]
        return snf.standard_normalization(x.to_numpy())

    def cluster(views):
        affinities = [snf.affinity_matrix(snf.dist2(v), K=20, mu=0.5) for v in views]
        fused = affinities[0] if len(views) == 1 else snf.fuse(affinities, K=20, t=20)
        return snf.spectral_clustering(fused, 3)

    truth = cohort["truth"]["label"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mrna, mirna = prep(cohort["mrna"]), prep(cohort["mirna"])
    both = adjusted_rand_score(truth, cluster([mrna, mirna]))
    alone = [adjusted_rand_score(truth, cluster([v])) for v in (mrna, mirna)]
    assert both >= 0.8
    assert max(alone) < both - 0.1
