import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import COAD, R_SURVIVAL

from metpot.errors import DataWarning, MetpotError
from metpot.io import read_omics
from metpot.preprocess import (
    handle_missing,
    log2_transform,
    preprocess_layer,
    select_features,
    zscore,
)
from metpot.survival import survival_frame


def frame(n=20, p=8, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.normal(size=(n, p)) * np.arange(1, p + 1),
        index=[f"s{i}" for i in range(n)],
        columns=[f"f{j}" for j in range(p)],
    )


def test_log2_refuses_negative_values_naming_them():
    X = frame().abs()
    X.loc["s3", "f2"] = -0.5
    with pytest.raises(MetpotError, match=r"-0.5.*'f2'.*'s3'"):
        log2_transform(X, "mrna")
    np.testing.assert_allclose(log2_transform(X.abs()).to_numpy(), np.log2(X.abs() + 1))


def test_missing_features_dropped_and_rest_imputed():
    X = frame()
    X.iloc[:10, 0] = np.nan  # 50 % missing: dropped
    X.iloc[3, 1] = np.nan  # imputed
    with pytest.warns(DataWarning) as record:
        out, info = handle_missing(X, max_fraction=0.2, impute="knn", knn_k=3, layer="mrna")
    assert "f0" not in out.columns and info["dropped_missing"] == ["f0"]
    assert info["n_imputed_cells"] == 1 and not out.isna().any().any()
    assert any("f0" in str(w.message) for w in record)


def test_variance_and_mad_keep_the_top_features_in_input_order():
    X = frame()
    out, info = select_features(X, "variance", top=3)
    assert list(out.columns) == ["f5", "f6", "f7"] and info["n_after"] == 3
    out, _ = select_features(X, "mad", top=2)
    assert list(out.columns) == ["f6", "f7"]


def test_zscore_is_snftool_standard_normalization():
    from metpot.snf import standard_normalization

    X = frame()
    X["f3"] = 1.0
    np.testing.assert_allclose(zscore(X).to_numpy(), standard_normalization(X.to_numpy()))


def test_cox_select_needs_survival():
    with pytest.raises(MetpotError, match="needs survival"):
        select_features(frame(), "cox")


def test_preprocess_layer_summary():
    X = frame().abs()
    settings = {
        "transform": "log2",
        "select": {"method": "variance", "top": 5},
        "scale": "zscore",
        "missing": {"max_fraction": 0.2, "impute": "knn"},
    }
    out, summary = preprocess_layer(X, settings, layer="mrna")
    assert out.shape == (20, 5) and summary["n_features_out"] == 5
    np.testing.assert_allclose(out.std(axis=0, ddof=1), 1.0)


@pytest.mark.reference
@pytest.mark.parametrize("layer, n_kept", [("mrna", 370), ("mirna", 6)])
def test_cox_filter_keeps_exactly_what_r_keeps(layer, n_kept):
    X = read_omics(COAD / f"{layer}.csv.gz")
    clinical = pd.read_csv(COAD / "clinical.csv", dtype=str).set_index("sample_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        surv = survival_frame(clinical, "os_days", "os_status", "Dead")
    ref = pd.read_csv(R_SURVIVAL / f"coad_{layer}_univariable_cox.csv.gz")
    out, info = select_features(X, "cox", p=0.05, survival=surv)
    expected = ref.loc[ref["p"] < 0.05, "feature"].tolist()
    assert len(expected) == n_kept
    assert list(out.columns) == expected
    got = info["cox"].set_index("feature")["p"]
    want = ref.set_index("feature")["p"]
    ok = want.notna()
    np.testing.assert_allclose(got[ok.index[ok]], want[ok], rtol=1e-10)  # see test_survival
    assert got[~ok].isna().all()


@pytest.mark.parametrize("seed", range(6))
def test_knn_impute_is_scikit_learns_knn_imputer(seed):
    """Same imputed values as KNNImputer(keep_empty_features=True), edge cases included:
    an all-missing feature, samples sharing no observed feature with the donors (feature
    mean), features observed by fewer samples than n_neighbors."""
    from sklearn.impute import KNNImputer

    from metpot.preprocess import knn_impute

    rng = np.random.default_rng(seed)
    for n, p, frac, k in [(60, 25, 0.05, 5), (120, 40, 0.3, 10), (30, 8, 0.5, 29)]:
        X = rng.normal(size=(n, p))
        X[rng.random((n, p)) < frac] = np.nan
        X[:, 0] = np.nan
        X[: n // 3, : p // 2] = np.nan
        X[n // 3 :, p // 2 :] = np.nan
        X[np.isnan(X).all(axis=1), -1] = 1.0
        X[3:, 1] = np.nan  # three donors only
        expected = KNNImputer(n_neighbors=k, keep_empty_features=True).fit_transform(X)
        got = knn_impute(X, k)
        assert not np.isnan(got).any()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
