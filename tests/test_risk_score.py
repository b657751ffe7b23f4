"""Tests of metpot.risk_score (Fong clinical risk score, integrated risk groups)."""

import numpy as np
import pandas as pd
import pytest

from metpot.errors import DataWarning, MetpotError
from metpot.risk_score import PITRODA_2018, fong_score, integrated_risk_groups

COLS = {
    "node_positive": "node",
    "disease_free_interval_months": "dfi",
    "n_liver_tumors": "ntum",
    "cea_ng_ml": "cea",
    "largest_tumor_cm": "size",
}


def _clin():
    return pd.DataFrame(
        {
            "node": [1, 0, "yes", "No", True, 0],
            "dfi": [6, 24, 11.9, 12, 0, 30],
            "ntum": [2, 1, 3, 1, 4, 1],
            "cea": [250, 5, 201, 200, 1000, 3],
            "size": [6, 2, 5.1, 5, 8, 1],
        },
        index=[f"p{i}" for i in range(6)],
    )


def test_fong_score_points_and_groups():
    res = fong_score(_clin(), **COLS)
    s = res["scores"]
    assert res["n_excluded"] == 0 and res["excluded"] == []
    # thresholds are strict: DFI < 12, > 1 tumour, CEA > 200, size > 5
    assert s["crs"].tolist() == [5, 0, 5, 0, 5, 0]
    assert s.loc["p3"].drop(["crs", "crs_group"]).tolist() == [0, 0, 0, 0, 0]
    assert s["crs_group"].tolist() == ["high", "low", "high", "low", "high", "low"]
    mixed = _clin().assign(ntum=[1, 1, 1, 2, 1, 2], cea=[5, 5, 5, 5, 5, 300])
    s2 = fong_score(mixed, **COLS)["scores"]
    assert s2["crs"].tolist() == [3, 0, 3, 1, 3, 2]
    assert s2["crs_group"].tolist() == ["high", "low", "high", "low", "high", "low"]
    s3 = fong_score(mixed, **COLS, high_cutoff=2)["scores"]
    assert s3["crs_group"].tolist() == ["high", "low", "high", "low", "high", "high"]


def test_fong_score_missing_factors_excluded_not_imputed():
    clin = _clin()
    clin.loc["p1", "cea"] = np.nan
    clin.loc["p4", "node"] = ""
    with pytest.warns(DataWarning, match=r"2 of 6.*not imputed") as rec:
        res = fong_score(clin, **COLS)
    msg = str(rec[0].message)
    assert "p1" in msg and "p4" in msg and "cea" in msg and "node" in msg
    assert res["n_excluded"] == 2 and res["excluded"] == ["p1", "p4"]
    assert list(res["scores"].index) == ["p0", "p2", "p3", "p5"]


def test_fong_score_precomputed_column():
    clin = pd.DataFrame({"crs": [0, 2, 3, 5, None]}, index=list("abcde"))
    with pytest.warns(DataWarning, match="e"):
        res = fong_score(clin, score_col="crs")
    assert res["scores"]["crs"].tolist() == [0, 2, 3, 5]
    assert res["scores"]["crs_group"].tolist() == ["low", "low", "high", "high"]
    assert res["n_excluded"] == 1
    with pytest.raises(MetpotError, match="integer 0-5"):
        fong_score(pd.DataFrame({"crs": [1, 6]}), score_col="crs")
    with pytest.raises(MetpotError, match="either score_col"):
        fong_score(clin, score_col="crs", node_positive="node")


def test_fong_score_bad_values():
    bad = _clin().assign(node=[1, 0, "maybe", 0, 2, 1])
    with pytest.raises(MetpotError, match=r"'node'.*p2='maybe'.*p4=2"):
        fong_score(bad, **COLS)
    with pytest.raises(MetpotError, match="must be numeric"):
        fong_score(_clin().assign(cea=[1, 2, "high", 4, 5, 6]), **COLS)
    with pytest.raises(MetpotError, match=">= 0"):
        fong_score(_clin().assign(size=[1, 2, -3, 4, 5, 6]), **COLS)
    with pytest.raises(MetpotError, match="missing: CEA"):
        fong_score(_clin(), **{k: v for k, v in COLS.items() if k != "cea_ng_ml"})
    with pytest.raises(MetpotError, match="no column"):
        fong_score(_clin(), **{**COLS, "cea_ng_ml": "CEA"})
    with pytest.raises(MetpotError, match="high_cutoff"):
        fong_score(_clin(), **COLS, high_cutoff=7)


def test_integrated_risk_groups_default_table():
    sub = pd.Series(["immune", "immune", "canonical", "canonical", "Stromal", "stromal"])
    grp = pd.Series(["low", "high", "low", "high", "low", "high"])
    out = integrated_risk_groups(sub, grp)
    assert out.tolist() == ["low", "intermediate", "intermediate", "high", "intermediate", "high"]
    for s, row in PITRODA_2018.items():
        assert set(row) == {"low", "high"}, s


def test_integrated_risk_groups_custom_table_and_errors():
    table = {"A": {"low": "low", "high": "high"}, "B": {"low": "high", "high": "high"}}
    out = integrated_risk_groups(["A", "B", "A"], ["low", "low", "high"], table=table)
    assert out.tolist() == ["low", "high", "high"]
    with pytest.warns(DataWarning, match="1 patients"):
        out = integrated_risk_groups(["A", None], ["low", "low"], table=table)
    assert pd.isna(out.iloc[1])
    with pytest.raises(MetpotError, match="subtype.*C not in"):
        integrated_risk_groups(["C"], ["low"], table=table)
    with pytest.raises(MetpotError, match="CRS group"):
        integrated_risk_groups(["A"], ["medium"], table=table)
    with pytest.raises(MetpotError, match="values"):
        integrated_risk_groups(["A", "B"], ["low"], table=table)
