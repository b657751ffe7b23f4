"""Survival statistics matching the R ``survival`` package.

Everything here is implemented in NumPy/SciPy (and numba for the concordance) and reproduces
R (``survival`` 3.x, as shipped with R 4.2) to floating-point accuracy on the reference
outputs in ``../shared``:

* :mod:`~metpot.survival.km`: :func:`kaplan_meier`, :func:`survival_at`,
  :func:`median_survival` -- ``survfit``, ``summary(fit, times=)`` and ``print.survfit``
  (Greenwood variance, ``log`` confidence intervals by default, upper limit clipped at 1).
* :mod:`~metpot.survival.logrank`: :func:`logrank_test`, :func:`pairwise_logrank` --
  ``survdiff`` (``rho = 0``); :func:`p_adjust`.
* :mod:`~metpot.survival.cox`: :func:`cox_ph` -- ``coxph`` (Efron or Breslow ties,
  Newton-Raphson with step halving, ``eps = 1e-9`` on the relative log-likelihood change,
  ``iter.max = 20``), and :func:`treatment_dummies` to build ``factor(group)`` columns. The
  iteration is that of survival 3.x's ``coxfit6``: a failed step is pulled back by 1/2, 2/3,
  3/4, ... towards the last accepted beta, and convergence is tested on every evaluated point
  (also after a pull-back). This detail decides agreement at the 1e-6 level: the classic
  "halve once, never stop while halving" rule or the trust-region variant end on different
  iterates and miss R's univariable p-values by up to ~1.3e-6 (relative).
  :func:`univariable_cox` -- one ``coxph(Surv(time, event) ~ x)`` per feature, the same
  Newton-Raphson run as one batch over all features. :func:`cox_zph` -- ``cox.zph`` (score
  test for ``beta(t) = beta + gamma g(t)``, ``g`` the left-continuous ``1 - KM`` for
  ``transform = "km"``). All three share one Efron risk-set core (reverse cumulative sums
  over the time-sorted samples).
* :mod:`~metpot.survival.concordance`: :func:`harrell_c` --
  ``concordance(Surv(time, event) ~ risk, reverse = TRUE)``; :func:`uno_c` (IPCW, Uno et al.
  2011; the censoring distribution of the patients evaluated or of training patients); both
  O(n log n); :func:`concordance_table` (bootstrap CIs on shared resamples);
  :func:`bootstrap_ci`.
* :func:`survival_frame` -- validate the time/event columns of a clinical table.

Functions take arrays or DataFrames and return DataFrames or dicts of plain Python floats.
"""

from metpot._lazy import lazy_exports

# Names are imported from their submodule on first use, so that a step needing one of them
# (ingest: survival_frame) does not pay for scipy.stats and numba.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "concordance": ("bootstrap_ci", "concordance_table", "harrell_c", "uno_c"),
    "cox": (
        "COX_EPS",
        "COX_ITER_MAX",
        "COX_TOLER_CHOL",
        "CoxResult",
        "cox_ph",
        "cox_zph",
        "largest_level",
        "treatment_dummies",
        "univariable_cox",
    ),
    "data": ("_as_time_event", "survival_frame"),  # _as_time_event: used by metpot.plots
    "km": ("kaplan_meier", "median_survival", "survival_at"),
    "logrank": ("_group_codes", "logrank_test", "p_adjust", "pairwise_logrank"),  # plots
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "CoxResult",
    "bootstrap_ci",
    "concordance_table",
    "cox_ph",
    "cox_zph",
    "harrell_c",
    "kaplan_meier",
    "logrank_test",
    "median_survival",
    "p_adjust",
    "pairwise_logrank",
    "survival_at",
    "survival_frame",
    "treatment_dummies",
    "uno_c",
    "univariable_cox",
]
