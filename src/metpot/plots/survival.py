"""Survival figures: Kaplan-Meier curves with a number-at-risk table, and forest plots.

Every number drawn comes from :mod:`metpot.survival` results: the curves from
:func:`~metpot.survival.kaplan_meier`, the numbers at risk from
:func:`~metpot.survival.survival_at`, the p-value from :func:`~metpot.survival.logrank_test`
(or the result passed in), the hazard ratios from a :class:`~metpot.survival.CoxResult`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd

from metpot import survival as sv
from metpot.errors import MetpotError
from metpot.plots.theme import PALETTE, _new_figure, _order_levels, format_p, style, styled

__all__ = ["forest_plot", "km_plot"]


def km_plot(
    time,
    event,
    group,
    ax=None,
    title: str | None = None,
    landmarks: Sequence[float] | None = None,
    logrank: dict | None = None,
    risk_times: Sequence[float] | None = None,
    time_label: str = "Time (years)",
    conf_int: bool = True,
    order: Sequence | None = None,
    colors: Sequence[str] | None = None,
):
    """Kaplan-Meier curves per group, number-at-risk table and log-rank p-value.

    Parameters
    ----------
    time, event, group : array-like
        Follow-up, event indicator and group label per patient.
    ax : matplotlib.axes.Axes, optional
        Axes to draw in (its figure gets the risk table under the axes); default a new figure.
    title : str, optional
        Axes title.
    landmarks : sequence of float, optional
        Times marked with a dotted vertical line (e.g. 365, 730, 1095 days).
    logrank : dict, optional
        A :func:`metpot.survival.logrank_test` result to print; computed if not given.
    risk_times : sequence of float, optional
        Times of the number-at-risk table; default the x ticks.
    time_label : str
        X-axis label.
    conf_int : bool
        Shade the 95 % (log) confidence band.
    order : sequence, optional
        Group levels in the order drawn and listed (others follow); default sorted.
    colors : sequence of str, optional
        One colour per level in that order; default :data:`PALETTE`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    with style():
        return _km_plot(
            time, event, group, ax, title, landmarks, logrank, risk_times, time_label, conf_int,
            order, colors,
        )  # fmt: skip


def _km_plot(
    time, event, group, ax, title, landmarks, logrank, risk_times, time_label, conf_int, order,
    colors,
):  # fmt: skip
    t, e = sv._as_time_event(time, event)
    codes, levels = sv._group_codes(group, t.size)
    if logrank is None and len(levels) > 1:
        logrank = sv.logrank_test(t, e, codes)
    drawn = _order_levels(levels, order)
    palette = list(colors) if colors else PALETTE
    # with an order, a level keeps its colour when another level is absent
    slots = [*(order or ()), *(lv for lv in drawn if lv not in (order or ()))]
    color_of = {lv: palette[slots.index(lv) % len(palette)] for lv in drawn}
    if ax is None:
        fig = _new_figure(7.0, 5.0 + 0.25 * len(levels))
        bottom = 0.16 + 0.055 * (len(levels) + 1)
        ax = fig.add_axes((0.2, bottom, 0.75, 0.88 - bottom))
    else:
        fig = ax.figure
    curves = {}
    for lv in drawn:
        sel = codes == levels.index(lv)
        km = sv.kaplan_meier(t[sel], e[sel])
        curves[lv] = km
        color = color_of[lv]
        x = np.r_[0.0, km["time"].to_numpy()]
        y = np.r_[1.0, km["surv"].to_numpy()]
        ax.step(x, y, where="post", color=color, lw=1.6, label=f"{lv} (n={int(sel.sum())})")
        if conf_int:
            lo = np.r_[1.0, km["lower"].to_numpy()]
            hi = np.r_[1.0, km["upper"].to_numpy()]
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(x[ok], lo[ok], hi[ok], step="post", color=color, alpha=0.12, lw=0)
        cens = km[km["n_censor"] > 0]
        ax.plot(cens["time"], cens["surv"], ls="none", marker="|", ms=6, color=color)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(time_label)
    if title:
        ax.set_title(title)
    for lm in landmarks or ():
        ax.axvline(float(lm), color="0.6", ls=":", lw=1)
    # legend and p-value outside the axes, on the right: they never cover a curve
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if logrank is not None:
        ax.text(
            1.02,
            0.02,
            f"Log-rank {format_p(logrank['p'])}",
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=9,
        )
    # number-at-risk table
    if risk_times is None:
        xmax = ax.get_xlim()[1]
        risk_times = [tk for tk in ax.get_xticks() if 0 <= tk <= xmax]
    risk_times = [float(v) for v in risk_times]
    trans = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    y0 = -0.2
    ax.text(
        -0.17,
        y0,
        "Number at risk",
        transform=ax.transAxes,
        ha="left",
        va="center",
        fontsize=9,
        fontweight="bold",
    )
    for k, lv in enumerate(drawn):
        yy = y0 - 0.07 * (k + 1)
        at = sv.survival_at(curves[lv], risk_times)
        ax.text(
            -0.1,
            yy,
            str(lv),
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=9,
            color=color_of[lv],
        )
        for tt, nr in zip(at["time"], at["n_risk"], strict=True):
            ax.text(tt, yy, str(int(nr)), transform=trans, ha="center", va="center", fontsize=9)
    return fig


@styled
def forest_plot(cox_result, ax=None, title: str | None = None):
    """Forest plot of hazard ratios with confidence intervals (log scale).

    Parameters
    ----------
    cox_result : CoxResult or pandas.DataFrame
        A :func:`metpot.survival.cox_ph` result, or a table with ``term``, ``hr``,
        ``hr_lower``, ``hr_upper`` and ``p`` columns.
    ax : matplotlib.axes.Axes, optional
        Axes to draw in; default a new figure.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    tab = cox_result.table if isinstance(cox_result, sv.CoxResult) else cox_result
    need = {"term", "hr", "hr_lower", "hr_upper", "p"}
    if not isinstance(tab, pd.DataFrame) or not need.issubset(tab.columns):
        raise MetpotError(
            "forest_plot needs a CoxResult or a table with term/hr/hr_lower/hr_upper/p"
        )
    tab = tab[np.isfinite(tab["hr"].to_numpy(float))].reset_index(drop=True)
    n = len(tab)
    if ax is None:
        fig = _new_figure(8.0, 1.2 + 0.45 * max(n, 1))
        ax = fig.add_axes(
            (0.25, 0.8 / (1.2 + 0.45 * max(n, 1)), 0.4, 0.45 * max(n, 1) / (1.2 + 0.45 * max(n, 1)))
        )
    else:
        fig = ax.figure
    y = np.arange(n)[::-1]
    hr = tab["hr"].to_numpy(float)
    lo = tab["hr_lower"].to_numpy(float)
    hi = tab["hr_upper"].to_numpy(float)
    ax.errorbar(hr, y, xerr=[hr - lo, hi - hr], fmt="s", color="k", ecolor="k", ms=5, capsize=3)
    ax.axvline(1.0, color="0.5", ls="--", lw=1)
    ax.set_xscale("log")
    lo_all = float(np.nanmin(np.r_[lo, 1.0]))
    hi_all = float(np.nanmax(np.r_[hi, 1.0]))
    nice = [v * 10.0**k for k in range(-3, 4) for v in (1, 2, 5)]
    ticks = [v for v in nice if lo_all / 1.05 <= v <= hi_all * 1.05] or [1.0]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(tab["term"].astype(str))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("Hazard ratio (95% CI, log scale)")
    if title:  # above the "HR (95% CI)" / "p" headers, left-aligned with the term labels
        fig.suptitle(title, x=0.02, ha="left", y=1.0, va="bottom", fontsize=10, fontweight="bold")
    trans = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(
        1.05,
        n - 0.35,
        "HR (95% CI)",
        transform=trans,
        ha="left",
        va="bottom",
        fontsize=9,
        fontweight="bold",
    )
    ax.text(
        1.62, n - 0.35, "p", transform=trans, ha="left", va="bottom", fontsize=9, fontweight="bold"
    )
    for yy, h, lw, up, p in zip(y, hr, lo, hi, tab["p"].to_numpy(float), strict=True):
        ax.text(
            1.05,
            yy,
            f"{h:.2f} ({lw:.2f}-{up:.2f})",
            transform=trans,
            ha="left",
            va="center",
            fontsize=9,
        )
        ax.text(
            1.62,
            yy,
            format_p(p).removeprefix("p = ").removeprefix("p "),
            transform=trans,
            ha="left",
            va="center",
            fontsize=9,
        )
    return fig
