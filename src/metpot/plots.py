"""Survival figures: Kaplan-Meier curves with a number-at-risk table, and forest plots.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
GUI backend). Every number drawn comes from :mod:`metpot.survival` results: the curves from
:func:`~metpot.survival.kaplan_meier`, the numbers at risk from
:func:`~metpot.survival.survival_at`, the p-value from :func:`~metpot.survival.logrank_test`
(or the result passed in), the hazard ratios from a :class:`~metpot.survival.CoxResult`.
:func:`save_figure` writes byte-identical SVG and PNG files for identical input (fixed SVG
hash salt, no creation date, no software stamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from metpot import survival as sv
from metpot.errors import MetpotError

__all__ = ["format_p", "forest_plot", "km_plot", "save_figure"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
SVG_HASHSALT = "metpot"


def format_p(p: float) -> str:
    """Format a p-value for a figure (``p = 0.043``, ``p < 0.001``)."""
    if p is None or not np.isfinite(p):
        return "p = NA"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def km_plot(
    time,
    event,
    group,
    ax=None,
    title: str | None = None,
    landmarks: Sequence[float] | None = None,
    logrank: dict | None = None,
    risk_times: Sequence[float] | None = None,
    time_label: str = "Time (days)",
    conf_int: bool = True,
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

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    t, e = sv._as_time_event(time, event)
    codes, levels = sv._group_codes(group, t.size)
    if logrank is None and len(levels) > 1:
        logrank = sv.logrank_test(t, e, codes)
    if ax is None:
        fig = _new_figure(7.0, 5.0 + 0.25 * len(levels))
        bottom = 0.16 + 0.055 * (len(levels) + 1)
        ax = fig.add_axes((0.2, bottom, 0.75, 0.88 - bottom))
    else:
        fig = ax.figure
    curves = {}
    for k, lv in enumerate(levels):
        sel = codes == k
        km = sv.kaplan_meier(t[sel], e[sel])
        curves[lv] = km
        color = PALETTE[k % len(PALETTE)]
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
    ax.legend(loc="lower left", frameon=False, fontsize=9)
    if logrank is not None:
        ax.text(
            0.98,
            0.97,
            f"Log-rank {format_p(logrank['p'])}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=10,
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
    for k, lv in enumerate(levels):
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
            color=PALETTE[k % len(PALETTE)],
        )
        for tt, nr in zip(at["time"], at["n_risk"], strict=True):
            ax.text(tt, yy, str(int(nr)), transform=trans, ha="center", va="center", fontsize=9)
    return fig


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
    if title:
        ax.set_title(title)
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


def save_figure(fig, path_without_suffix) -> list[Path]:
    """Write ``fig`` as ``<path>.svg`` and ``<path>.png``, byte-identical for identical input.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_without_suffix : str or Path
        Output path without extension; parent directories are created.

    Returns
    -------
    list of Path
        The two files written (SVG, PNG).
    """
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    svg = base.with_name(base.name + ".svg")
    png = base.with_name(base.name + ".png")
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path"}):
        fig.savefig(
            svg, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
        )
        fig.savefig(png, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    return [svg, png]
