"""metpot's scikit-learn estimators against scikit-learn's own conventions.

``parametrize_with_checks`` runs scikit-learn's estimator checks on every estimator and
transformer metpot offers. The checks that do not apply are listed below, each with why;
the run is strict: a listed check that passes fails the test too, so the list stays true.
The checks that cannot run at all here (they would skip themselves) are left out of the
parametrization, also with why (``NOT_RUN``), so that the run reports no skipped test.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from metpot.classify.models import CoxPH
from metpot.classify.transformers import (
    AsArray,
    DropMissing,
    Log2Transform,
    SignatureSelector,
    TopVariance,
    ZScore,
)
from metpot.errors import MetpotError, MetpotValueError
from metpot.snf_estimator import SNF

TRANSFORMERS = [
    Log2Transform(),
    DropMissing(),
    TopVariance(),
    ZScore(),
    SignatureSelector(size=3),
    AsArray(),
]

#: Why a check does not apply to an estimator. The checks feed every estimator one
#: samples x features matrix with class labels or numbers as ``y``.
SURVIVAL_Y = (
    "y is a survival outcome, a structured array (event, time) as scikit-survival's "
    "estimators take; the check's class labels or numbers are refused with a ValueError"
)
VIEWS_X = (
    "X is a list of views (one samples x features matrix per omics layer, at least 2); "
    "the check's single matrix is refused with a ValueError"
)

#: The checks that fit an estimator on their own samples x features matrix and ``y`` of class
#: labels or numbers (for CoxPH, the input checks that fail before ``y`` is read, on sparse,
#: complex, empty or 1-D X, do apply and pass).
FIT_ON_CHECK_DATA = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
]
COXPH_Y_CHECKS = FIT_ON_CHECK_DATA

#: The checks that fit SNF on one matrix: those above, and the ones that feed it a single
#: clustering, complex or empty matrix (what they check of the input is tested on views in
#: test_snf_checks_its_views below).
SNF_VIEWS_CHECKS = sorted(
    [*FIT_ON_CHECK_DATA, "check_clustering", "check_complex_data",
     "check_estimators_empty_data_messages"]
)  # fmt: skip

NOT_APPLICABLE: dict[type, dict[str, str]] = {
    TopVariance: {
        "check_estimators_pickle": (
            "the check puts NaN into both columns of its X (the tag allow_nan: the "
            "preprocessing runs on data with missing values); TopVariance ranks only "
            "columns with a variance (the pipeline imputes before it) and refuses when no "
            "column is left"
        ),
    },
    CoxPH: dict.fromkeys(COXPH_Y_CHECKS, SURVIVAL_Y),
    SNF: dict.fromkeys(SNF_VIEWS_CHECKS, VIEWS_X),
}


#: The checks left out of the run for every estimator, and why.
NOT_RUN: dict[str, str] = {
    "check_array_api_input": (
        "metpot's estimators are NumPy-only (their array_api_support tag is False, see "
        "test_estimators_are_numpy_only): for them scikit-learn only checks that NumPy input "
        "under array-API dispatch gives the same results, a check that needs SciPy's "
        "array-API mode (SCIPY_ARRAY_API=1 set before SciPy is imported, which would change "
        "SciPy for the whole test session) and skips itself without it"
    ),
}

ESTIMATORS = [*TRANSFORMERS, CoxPH(), SNF()]


def not_applicable(estimator) -> dict[str, str]:
    """The checks that do not apply to ``estimator`` and why (``NOT_APPLICABLE``)."""
    return NOT_APPLICABLE.get(type(estimator), {})


def _check_name(case) -> str:
    """The name of the scikit-learn check of one ``(estimator, check)`` case."""
    check = (case.values if hasattr(case, "values") else case)[1]
    return (check.func if isinstance(check, partial) else check).__name__


def _checks_to_run():
    """``parametrize_with_checks`` of :data:`ESTIMATORS` without the :data:`NOT_RUN` checks."""
    marker = parametrize_with_checks(
        ESTIMATORS, expected_failed_checks=not_applicable, xfail_strict=True
    )
    names, cases = marker.args
    kept = [c for c in cases if _check_name(c) not in NOT_RUN]
    return pytest.mark.parametrize(names, kept, **marker.kwargs), len(cases) - len(kept)


CHECKS, N_NOT_RUN = _checks_to_run()


@CHECKS
def test_sklearn_conventions(estimator, check):
    check(estimator)


def test_not_run_checks_are_one_per_estimator_and_numpy_only():
    from sklearn.utils import estimator_checks

    for name, reason in NOT_RUN.items():
        assert hasattr(estimator_checks, name), f"no check {name}"
        assert len(reason) > 40, f"{name}: reason too short"
    assert N_NOT_RUN == len(NOT_RUN) * len(ESTIMATORS)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimators_are_numpy_only(estimator):
    assert get_tags(estimator).array_api_support is False


def test_every_listed_check_exists_and_every_reason_is_written():
    from sklearn.utils import estimator_checks

    for cls, checks in NOT_APPLICABLE.items():
        for name, reason in checks.items():
            assert hasattr(estimator_checks, name), f"{cls.__name__}: no check {name}"
            assert len(reason) > 40, f"{cls.__name__}.{name}: reason too short"


def test_input_errors_are_metpot_errors_and_value_errors():
    assert issubclass(MetpotValueError, MetpotError)
    assert issubclass(MetpotValueError, ValueError)


@pytest.mark.parametrize("step", TRANSFORMERS, ids=lambda s: type(s).__name__)
def test_transform_before_fit_is_not_fitted_error(step):
    X = np.ones((4, 2))
    with pytest.raises(NotFittedError):
        step.transform(X)
    with pytest.raises(NotFittedError):
        step.get_feature_names_out()


@pytest.mark.parametrize("step", TRANSFORMERS, ids=lambda s: type(s).__name__)
def test_transform_names_the_step_and_the_number_of_features(step):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 4))
    y = np.repeat([0, 1, 2], 4)
    step = step.__class__(**step.get_params()).fit(X, y)
    with pytest.raises(MetpotValueError) as err:
        step.transform(X[:, :3])
    assert str(err.value) == (
        f"X has 3 features, but {type(step).__name__} is expecting 4 features as input"
    )


def test_log2_refuses_negative_values_in_fit_with_the_column():
    X = np.array([[1.0, 2.0], [3.0, -0.5]])
    with pytest.raises(MetpotValueError, match=r"column 'x1' has -0\.5;.*classify\.transform"):
        Log2Transform().fit(X)


def _surv(time, event):
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    return y


def test_coxph_checks_x_and_y():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    y = _surv(rng.exponential(size=40), rng.uniform(size=40) < 0.7)
    with pytest.raises(NotFittedError):
        CoxPH().predict(x)
    with pytest.raises(MetpotValueError, match="structured array"):
        CoxPH().fit(x, y["time"])
    with pytest.raises(MetpotValueError, match="y has shape"):
        CoxPH().fit(x, y[:30])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(MetpotValueError, match="NaN or inf value .* column 1, row 3"):
        CoxPH().fit(bad, y)
    cox = CoxPH().fit(x, y)
    with pytest.raises(MetpotValueError, match="X has 1 features, but CoxPH is expecting 2"):
        cox.predict(x[:, :1])
    # a missing covariate at prediction: NaN for that sample, as before
    lp = cox.predict(bad)
    assert np.isnan(lp[3]) and np.isfinite(np.delete(lp, 3)).all()
    # one covariate as a vector
    one = CoxPH().fit(x[:, 0], y)
    np.testing.assert_array_equal(one.predict(x[:, 0]), one.predict(x[:, :1]))


def test_snf_checks_its_views():
    rng = np.random.default_rng(2)
    views = [rng.normal(size=(30, 5)), rng.normal(size=(30, 4))]
    with pytest.raises(MetpotValueError, match=r"list of views .* shape \(30, 5\)"):
        SNF(K=5).fit(views[0])
    with pytest.raises(MetpotValueError, match="at least 2 views, got 1"):
        SNF(K=5).fit(views[:1])
    with pytest.raises(MetpotValueError, match="sparse"):
        import scipy.sparse

        SNF(K=5).fit(scipy.sparse.csr_matrix(views[0]))
    nan = [views[0].copy(), views[1]]
    nan[0][2, 3] = np.nan
    with pytest.raises(MetpotValueError, match=r"views\[0\] has a non-finite value nan"):
        SNF(K=5).fit(nan)
    with pytest.raises(MetpotValueError, match="K=30 must be smaller than the number of samples"):
        SNF(K=30).fit(views)
    with pytest.raises(MetpotValueError, match=r"views\[1\] has 20 samples but views\[0\] has 30"):
        SNF(K=5).fit([views[0], views[1][:20]])
    with pytest.raises(MetpotValueError, match="n_clusters must be 'auto' or an integer"):
        SNF(K=5, n_clusters="two").fit(views)
