"""Figures: Kaplan-Meier curves with a number-at-risk table, forest plots, the fused network
ordered by subtype, the cluster-number criteria and the consensus CDF.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
GUI backend). Every number drawn comes from :mod:`metpot.survival` results: the curves from
:func:`~metpot.survival.kaplan_meier`, the numbers at risk from
:func:`~metpot.survival.survival_at`, the p-value from :func:`~metpot.survival.logrank_test`
(or the result passed in), the hazard ratios from a :class:`~metpot.survival.CoxResult`.
:func:`save_figure` writes byte-identical SVG and PNG files for identical input (fixed SVG
hash salt, no creation date, no software stamp).

Every figure is drawn inside :func:`style` (one font, size and spine style for all), with the
colour-blind-safe Okabe-Ito :data:`PALETTE` for unordered groups and :func:`ordered_colors`
(a sequential palette) for ordered ones such as low / intermediate / high risk.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.colors
import matplotlib.patches
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from metpot import survival as sv
from metpot.errors import MetpotError

__all__ = [
    "RISK_ORDER",
    "calibration_plot",
    "cluster_number_plot",
    "decision_curve_plot",
    "consensus_cdf_plot",
    "consensus_matrices_plot",
    "pac_plot",
    "plot_vs_crs",
    "format_p",
    "forest_plot",
    "km_plot",
    "ordered_colors",
    "save_figure",
    "score_plot",
    "signature_heatmap",
    "silhouette_plot",
    "similarity_heatmap",
    "style",
]

#: Okabe-Ito colours (colour-blind safe), for unordered groups such as subtypes.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
#: Integrated risk groups, in the order they are drawn and listed.
RISK_ORDER = ("low", "intermediate", "high")
SVG_HASHSALT = "metpot"
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}


def style():
    """The rc settings every metpot figure is drawn with (a context manager).

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.rc_context`` with :data:`STYLE`.
    """
    return matplotlib.rc_context(STYLE)


def styled(func):
    """Decorator: draw ``func``'s figure inside :func:`style`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style():
            return func(*args, **kwargs)

    return wrapper


def ordered_colors(n: int) -> list[str]:
    """``n`` colours of a sequential, colour-blind-safe palette (light to dark, ``inferno``).

    Parameters
    ----------
    n : int
        Number of ordered groups (e.g. 3 for low / intermediate / high).

    Returns
    -------
    list of str
        Hex colours, the first for the lowest group.
    """
    cmap = matplotlib.colormaps["inferno"]
    points = np.linspace(0.78, 0.18, n) if n > 1 else np.array([0.5])
    return [matplotlib.colors.to_hex(cmap(float(x))) for x in points]


def _order_levels(levels: list, order: Sequence | None) -> list:
    """``levels`` in ``order`` (levels not named in ``order`` after, as they were)."""
    if not order:
        return list(levels)
    first = [lv for lv in order if lv in levels]
    return first + [lv for lv in levels if lv not in first]


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


def _subtype_colors(labels: Sequence) -> dict:
    return {lv: PALETTE[i % len(PALETTE)] for i, lv in enumerate(sorted(set(labels)))}


@styled
def similarity_heatmap(
    W,
    labels,
    names: Mapping | None = None,
    title: str | None = None,
    quantile: float = 0.99,
    value_label: str = "similarity",
    max_cells: int = 1000,
):
    """A patient-similarity network as a heatmap, patients ordered by subtype.

    Parameters
    ----------
    W : array-like, shape (n, n)
        Similarity matrix (e.g. the fused SNF network).
    labels : array-like, shape (n,)
        Subtype per patient (same order as ``W``).
    names : mapping, optional
        Subtype -> display name for the legend.
    title : str, optional
    quantile : float
        The colour scale is clipped at this quantile of the off-diagonal similarities (the
        diagonal is blanked), so that the block structure is visible.
    value_label : str
        Colour bar label.
    max_cells : int
        Above this many patients, the ordered matrix is drawn as ``max_cells`` x
        ``max_cells`` block means (diagonal excluded) and the subtype bar shows each block's
        most frequent subtype: a figure cannot show more, and N x N copies of a
        10,000-patient network would cost gigabytes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    W = np.asarray(W)
    labels = np.asarray(labels)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] != labels.size:
        raise MetpotError(f"similarity_heatmap: W is {W.shape}, labels has {labels.size} values")
    order = np.argsort(labels, kind="stable")
    if labels.size > max_cells:
        M, bar_labels = _block_means(W, order, labels, max_cells)
    else:
        M = W[np.ix_(order, order)].astype(float)
        np.fill_diagonal(M, np.nan)
        bar_labels = labels[order]
    off = M[np.isfinite(M)]
    vmax = float(np.quantile(off, quantile)) if off.size else 1.0
    colors = _subtype_colors(labels.tolist())
    fig = _new_figure(6.4, 5.6)
    ax = fig.add_axes((0.1, 0.08, 0.68, 0.78))
    im = ax.imshow(M, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    bar = np.array([[matplotlib.colors.to_rgb(colors[v]) for v in bar_labels]])
    top = fig.add_axes((0.1, 0.87, 0.68, 0.03))
    top.imshow(bar, aspect="auto", interpolation="nearest")
    left = fig.add_axes((0.065, 0.08, 0.025, 0.78))
    left.imshow(bar.transpose(1, 0, 2), aspect="auto", interpolation="nearest")
    for a in (top, left):
        a.set_axis_off()
    cax = fig.add_axes((0.8, 0.08, 0.025, 0.4))
    fig.colorbar(im, cax=cax, label=value_label)
    handles = [
        matplotlib.patches.Patch(
            color=c, label=f"{(names or {}).get(lv, lv)} (n={int((labels == lv).sum())})"
        )
        for lv, c in colors.items()
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.8, 0.86), title="subtype")
    if title:
        fig.suptitle(title, x=0.1, ha="left", y=0.905, va="bottom")
    return fig


def _block_means(W: np.ndarray, order: np.ndarray, labels: np.ndarray, n_blocks: int):
    """``n_blocks`` x ``n_blocks`` means of ``W[order][:, order]`` over near-equal consecutive
    blocks, self-similarities left out, one row block at a time (O(n) extra memory per row);
    and each block's most frequent label."""
    n = order.size
    edges = np.linspace(0, n, n_blocks + 1).round().astype(np.int64)
    starts, sizes = edges[:-1], np.diff(edges)
    out = np.empty((n_blocks, n_blocks))
    for b in range(n_blocks):
        rows = order[edges[b] : edges[b + 1]]
        block = W[rows][:, order].astype(float)
        block[np.arange(rows.size), np.arange(edges[b], edges[b + 1])] = 0.0
        pairs = sizes[b] * sizes.astype(float)
        pairs[b] -= sizes[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b] = np.add.reduceat(block.sum(axis=0), starts) / pairs
    out[~np.isfinite(out)] = np.nan
    ordered = labels[order]
    bar = []
    for b in range(n_blocks):
        values, counts = np.unique(ordered[edges[b] : edges[b + 1]], return_counts=True)
        bar.append(values[np.argmax(counts)])
    return out, np.asarray(bar)


@styled
def cluster_number_plot(scores: pd.DataFrame, chosen: int | None = None, title: str | None = None):
    """SNF's eigen-gap (higher is better) and rotation cost (lower is better) per k.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`metpot.snf.cluster_number_scores`: ``n_clusters``, ``eigengap``,
        ``rotation_cost``.
    chosen : int, optional
        The chosen k, marked on both panels.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    need = {"n_clusters", "eigengap", "rotation_cost"}
    if not need.issubset(scores.columns):
        raise MetpotError("cluster_number_plot needs n_clusters/eigengap/rotation_cost columns")
    tab = scores.sort_values("n_clusters")
    k = tab["n_clusters"].to_numpy(int)
    fig = _new_figure(7.5, 3.2)
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    panels = (
        ("eigengap", "Eigen-gap (higher is better)"),
        ("rotation_cost", "Rotation cost (lower is better)"),
    )
    for ax, (col, label), color in zip(axes, panels, PALETTE, strict=False):
        ax.plot(k, tab[col].to_numpy(float), marker="o", color=color)
        if chosen is not None:
            ax.axvline(chosen, color="0.5", ls="--", lw=1, label=f"chosen k = {chosen}")
            ax.legend(loc="best")
        ax.set_xticks(k)
        ax.set_xlabel("Number of subtypes k")
        ax.set_title(label, fontweight="normal")
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


@styled
def consensus_cdf_plot(consensus: Mapping, chosen: int | None = None, title: str | None = None):
    """Empirical CDF of the consensus matrix entries per k, with PAC in the legend.

    Parameters
    ----------
    consensus : mapping
        :func:`metpot.consensus.consensus_summary`: ``ks``, ``cdf`` (``x`` and one list per
        k as str), ``pac`` (k as str -> float), ``pac_interval``.
    chosen : int, optional
        The chosen k (drawn thicker).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    cdf = consensus["cdf"]
    x = np.asarray(cdf["x"], dtype=float)
    ks = [int(k) for k in consensus["ks"]]
    fig = _new_figure(6.0, 4.2)
    ax = fig.add_axes((0.12, 0.13, 0.6, 0.77))
    lo, hi = consensus.get("pac_interval", (0.1, 0.9))
    ax.axvspan(lo, hi, color="0.93", lw=0)
    for k, color in zip(ks, ordered_colors(len(ks)), strict=True):
        pac = consensus["pac"].get(str(k))
        label = f"k = {k} (PAC {pac:.3f})" if pac is not None else f"k = {k}"
        ax.step(
            x,
            np.asarray(cdf[str(k)], dtype=float),
            where="post",
            color=color,
            lw=2.6 if k == chosen else 1.4,
            label=label + (" chosen" if k == chosen else ""),
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Consensus index")
    ax.set_ylabel("CDF")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        ax.set_title(title)
    return fig


@styled
def consensus_matrices_plot(
    panels: Mapping[int, tuple],
    chosen: int | None = None,
    pac: Mapping | None = None,
    n_samples: int | None = None,
    title: str | None = None,
):
    """Consensus matrices of every candidate k, side by side, each ordered by its clustering.

    Parameters
    ----------
    panels : mapping of int to (matrix, clusters)
        Per k, the drawn consensus matrix (m x m, already ordered, e.g. with
        :func:`metpot.clusters.consensus_display`) and the consensus cluster of each drawn
        sample (the colour bar).
    chosen : int, optional
        The chosen k (its panel title says so).
    pac : mapping, optional
        k (int or str) -> PAC, printed in the panel titles.
    n_samples : int, optional
        Number of samples of the cohort; when more than were drawn, the figure says so.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    ks = sorted(int(k) for k in panels)
    if not ks:
        raise MetpotError("consensus_matrices_plot needs at least one matrix")
    ncol = min(len(ks), 3)
    nrow = -(-len(ks) // ncol)
    width, height = 3.1 * ncol + 0.9, 3.35 * nrow + 0.5
    fig = _new_figure(width, height)
    im = None
    for i, k in enumerate(ks):
        C, clusters = panels[k]
        C = np.asarray(C, dtype=float)
        clusters = np.asarray(clusters)
        r, c = divmod(i, ncol)
        x0 = (0.25 + 3.1 * c) / width
        y0 = (height - 0.5 - 3.35 * (r + 1) + 0.3) / height
        w, h = 2.6 / width, 2.6 / height
        ax = fig.add_axes((x0, y0, w, h))
        im = ax.imshow(C, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest",
                       aspect="auto")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        bar = fig.add_axes((x0, y0 + h + 0.06 / height, w, 0.12 / height))
        colors = np.array(
            [[matplotlib.colors.to_rgb(PALETTE[(int(v) - 1) % len(PALETTE)]) for v in clusters]]
        )
        bar.imshow(colors, aspect="auto", interpolation="nearest")
        bar.set_axis_off()
        value = None if pac is None else pac.get(k, pac.get(str(k)))
        text = f"k = {k}" + ("" if value is None else f", PAC {float(value):.3f}")
        bar.set_title(
            text + (" (chosen)" if k == chosen else ""),
            fontsize=9,
            fontweight="bold" if k == chosen else "normal",
            pad=3,
        )
    cax = fig.add_axes(((3.1 * ncol - 0.1) / width, 0.3 / height, 0.12 / width, 2.6 / height))
    fig.colorbar(im, cax=cax, label="consensus index")
    m = np.shape(panels[ks[0]][0])[0]
    note = ""
    if n_samples is not None and n_samples > m:
        note = f" ({m} of {n_samples} samples drawn, chosen at random)"
    fig.suptitle(
        (title or "Consensus matrix per k, ordered by its consensus clustering") + note,
        x=0.02,
        ha="left",
        y=0.995,
        va="top",
        fontsize=10,
        fontweight="bold",
    )
    return fig


@styled
def pac_plot(table: pd.DataFrame, title: str | None = None):
    """Proportion of ambiguous clustering (PAC) per k, the chosen k marked.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`metpot.clusters.pac_table`: ``k``, ``pac``, ``chosen`` (and ``pac_lower``,
        ``pac_upper`` for the axis label).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not {"k", "pac", "chosen"}.issubset(table.columns):
        raise MetpotError("pac_plot needs k/pac/chosen columns")
    tab = table.sort_values("k")
    k = tab["k"].to_numpy(int)
    pac = tab["pac"].to_numpy(float)
    chosen = tab["chosen"].to_numpy(bool)
    fig = _new_figure(5.2, 3.4)
    ax = fig.add_axes((0.14, 0.15, 0.62, 0.72))
    ax.plot(k, pac, color=PALETTE[0], marker="o")
    if chosen.any():
        ax.plot(k[chosen], pac[chosen], ls="none", marker="o", ms=11, mfc="none",
                mec=PALETTE[1], mew=2, label=f"chosen k = {int(k[chosen][0])}")  # fmt: skip
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    for kk, p in zip(k, pac, strict=True):
        if np.isfinite(p):
            ax.annotate(f"{p:.3f}", (kk, p), textcoords="offset points", xytext=(0, 7),
                        ha="center", fontsize=8)  # fmt: skip
    ax.set_xticks(k)
    top = float(np.nanmax(pac)) if np.isfinite(pac).any() else 0.0
    ax.set_ylim(-0.04 * max(0.05, 1.25 * top), max(0.05, 1.25 * top))
    ax.set_xlabel("Number of subtypes k")
    lo = tab["pac_lower"].iloc[0] if "pac_lower" in tab else 0.1
    hi = tab["pac_upper"].iloc[0] if "pac_upper" in tab else 0.9
    ax.set_ylabel(f"PAC (share of pairs in ({lo:g}, {hi:g}])")
    ax.set_title(title or "Proportion of ambiguous clustering (lower is more stable)",
                 fontweight="normal")  # fmt: skip
    return fig


@styled
def silhouette_plot(widths, labels, names: Mapping | None = None, title: str | None = None):
    """Silhouette width per sample, grouped by subtype and sorted within it.

    Parameters
    ----------
    widths : array-like, shape (n,)
        Silhouette width per sample (e.g. :func:`metpot.clusters.consensus_silhouette`).
    labels : array-like, shape (n,)
        Subtype per sample.
    names : mapping, optional
        Subtype -> display name.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    widths = np.asarray(widths, dtype=float)
    labels = np.asarray(labels)
    colors = _subtype_colors(labels.tolist())
    fig = _new_figure(6.0, 4.6)
    ax = fig.add_axes((0.22, 0.12, 0.55, 0.8))
    y = 0
    ticks, ticklabels = [], []
    for lv, color in colors.items():
        w = np.sort(widths[labels == lv])[::-1]
        pos = np.arange(y, y + w.size)
        ax.barh(pos, w, height=1.0, color=color, lw=0)
        ticks.append(y + w.size / 2)
        ticklabels.append(f"{(names or {}).get(lv, lv)}\nmean {w.mean():.2f}")
        y += w.size + max(2, widths.size // 50)
    ax.axvline(float(widths.mean()), color="0.4", ls="--", lw=1)
    ax.set_yticks(ticks)
    ax.set_yticklabels(ticklabels)
    ax.set_ylim(y, -1)
    ax.set_xlim(min(-0.1, float(widths.min()) - 0.05), 1.0)
    ax.set_xlabel(f"Silhouette width (mean {widths.mean():.2f}, dashed)")
    if title:
        ax.set_title(title)
    return fig


@styled
def score_plot(predictions: pd.DataFrame, title: str | None = None):
    """Class probabilities (stacked) and flags of every scored sample.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :func:`metpot.score.score_cohort` predictions: ``prediction``, ``proba_<class>``
        (without them each sample is one bar in its predicted class's colour), optional
        ``confidence`` and ``flag`` (``;``-joined flag names, empty when none).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = predictions.copy()
    p["prediction"] = p["prediction"].astype(object).where(p["prediction"].notna(), "NA")
    p["prediction"] = p["prediction"].astype(str)
    proba = [c for c in p.columns if str(c).startswith("proba_")]
    classes = [c.removeprefix("proba_") for c in proba] or sorted(p["prediction"].unique())
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
    # by predicted class in class order (unassigned last), most confident first
    p["_rank"] = p["prediction"].map({c: i for i, c in enumerate(classes)}).fillna(len(classes))
    keys = ["_rank"] + (["confidence"] if "confidence" in p else [])
    p = p.sort_values(keys, ascending=[True] + [False] * (len(keys) - 1), kind="stable")
    n = len(p)
    fig = _new_figure(min(14.0, 4.0 + 0.06 * n), 3.6)
    ax = fig.add_axes((0.1, 0.16, 0.7, 0.72))
    x = np.arange(n)
    if proba:
        bottom = np.zeros(n)
        for col, cls in zip(proba, classes, strict=True):
            v = p[col].fillna(0.0).to_numpy(float)
            ax.bar(x, v, bottom=bottom, width=1.0, color=colors[cls], lw=0, label=cls)
            bottom += v
        ax.set_ylabel("Class probability")
    else:
        for cls in classes:
            sel = (p["prediction"] == cls).to_numpy()
            ax.bar(x[sel], np.ones(sel.sum()), width=1.0, color=colors.get(cls, "0.7"), label=cls)
        ax.set_ylabel("Predicted class")
    flags = p["flag"].fillna("").astype(str).to_numpy() if "flag" in p else np.full(n, "")
    flagged = flags != ""
    if flagged.any():
        ax.plot(
            x[flagged], np.full(flagged.sum(), 1.04), ls="none", marker="v", ms=4, color="k",
            label=f"flagged (n={int(flagged.sum())})", clip_on=False,
        )  # fmt: skip
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, 1.0)
    ax.set_xticks([])
    ax.set_xlabel(f"{n} samples, by predicted class")
    handles, labels = ax.get_legend_handles_labels()  # classes first, then the flags
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("flagged"))
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
    )
    if title:
        ax.set_title(title, pad=12)
    return fig


@styled
def decision_curve_plot(table: pd.DataFrame, title: str | None = None):
    """Net benefit against the threshold probability, one panel per model and feature set.

    Parameters
    ----------
    table : pandas.DataFrame
        ``classify`` ``decision_curve.tsv``: ``target``, ``model``, ``feature_set``,
        ``landmark``, ``threshold``, ``strategy``, ``net_benefit``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = ["target", "model", "feature_set", "landmark"]
    groups = list(table.groupby(keys, sort=False)) if len(table) else []
    n = max(1, len(groups))
    fig = _new_figure(6.4, 0.6 + 3.0 * n)
    fixed = {"treat_all": ("0.55", "-"), "treat_none": ("k", ":")}
    for i, ((target, model, fset, landmark), g) in enumerate(groups):
        ax = fig.add_subplot(n, 1, i + 1)
        others = [s for s in dict.fromkeys(g["strategy"]) if s not in fixed]
        for j, strategy in enumerate([*others, *[s for s in fixed if s in set(g["strategy"])]]):
            d = g[g["strategy"] == strategy].sort_values("threshold")
            color, ls = fixed.get(strategy, (PALETTE[j % len(PALETTE)], "-"))
            ax.plot(d["threshold"], d["net_benefit"], color=color, ls=ls, label=strategy)
        top = float(np.nanmax(g["net_benefit"].to_numpy(float)))
        ax.set_ylim(-0.05 * max(top, 0.01), 1.1 * max(top, 0.01))
        ax.set_xlim(0, 1)
        ax.set_ylabel("Net benefit")
        ax.set_title(
            f"{target}: {model} / {fset}, event by {landmark:g} years", fontweight="normal"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        if i == n - 1:
            ax.set_xlabel("Threshold probability")
    if not groups:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no decision curve (no landmark outcome)", ha="center", va="center")
        ax.set_axis_off()
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


@styled
def plot_vs_crs(table: pd.DataFrame, metric: str = "harrell_c", title: str | None = None):
    """Estimates with 95 % CIs of CRS, molecular and CRS + molecular for every model.

    Parameters
    ----------
    table : pandas.DataFrame
        ``metpot.classify.compare_with_crs(...)["table"]`` (``classify`` ``vs_crs.tsv``).
    metric : str
        ``harrell_c`` or ``uno_c``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from metpot.classify.against_crs import _PREDICTORS

    t = table[(table["metric"] == metric) & (table["reference"] == "")]
    groups = list(t.groupby(["target", "model", "feature_set"], sort=False))
    height = 1.2 + 0.55 * max(1, len(groups)) * 1.5
    fig = _new_figure(7.0, height)
    ax = fig.add_subplot(1, 1, 1)
    labels, ys = [], []
    y = 0.0
    for k, ((tg, md, fs), g) in enumerate(groups):
        for j, p in enumerate(_PREDICTORS):
            r = g[g["predictor"] == p]
            if r.empty:
                continue
            r = r.iloc[0]
            yy = y - 0.25 * j
            err = [[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]]
            ax.errorbar(
                r["estimate"], yy, xerr=err, fmt="o", color=PALETTE[j], capsize=3,
                label=p if k == 0 else None,
            )  # fmt: skip
        labels.append(f"{tg}: {md} / {fs}")
        ys.append(y - 0.25)
        y -= 1.0
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(f"{metric.replace('_', ' ')} (out-of-fold, 95% CI)")
    ax.set_title(title or "Molecular models against the clinical risk score", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@styled
def calibration_plot(
    table: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    colors: Mapping | None = None,
    class_labels: Mapping | None = None,
    title: str | None = None,
):
    """Reliability curves of one target: one panel per model (rows) and feature set (columns).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`metpot.classify.calibration_table` rows of one target.
    predictions : pandas.DataFrame, optional
        The out-of-fold predictions (``model``, ``feature_set``, ``prob:<class>``): a
        histogram of each class's predicted probabilities is drawn under its panel.
    colors : mapping, optional
        Class -> colour (default :data:`PALETTE` in class order).
    class_labels : mapping, optional
        Class -> legend label.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if table.empty:
        fig = _new_figure(6.0, 2.0)
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no calibration (no class probabilities)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    models = list(dict.fromkeys(table["model"]))
    fsets = list(dict.fromkeys(table["feature_set"]))
    classes = list(dict.fromkeys(table["class"].astype(str)))
    colors = dict(colors or {})
    classes = [c for c in colors if c in classes] + [c for c in classes if c not in colors]
    color_of = {c: colors.get(c, PALETTE[i % len(PALETTE)]) for i, c in enumerate(classes)}
    label_of = {c: (class_labels or {}).get(c, c) for c in classes}
    nrow, ncol = len(models), len(fsets)
    width, height = 0.6 + 3.0 * ncol + 1.6, 0.9 + 3.9 * nrow
    fig = _new_figure(width, height)
    # per model: the curves, the histogram, a spacer (room for the next row's titles)
    grid = fig.add_gridspec(3 * nrow, ncol, height_ratios=[2.6, 0.7, 0.6] * nrow, hspace=0.1,
                            wspace=0.3, left=0.6 / width, right=(0.6 + 3.0 * ncol) / width,
                            top=1 - 0.6 / height, bottom=0.0)  # fmt: skip
    handles = {}
    for r, model in enumerate(models):
        for c, fset in enumerate(fsets):
            ax = fig.add_subplot(grid[3 * r, c])
            hist = fig.add_subplot(grid[3 * r + 1, c], sharex=ax)
            ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
            part = table[(table["model"] == model) & (table["feature_set"] == fset)]
            for cls in classes:
                d = part[part["class"].astype(str) == cls].sort_values("bin")
                if d.empty:
                    continue
                x = d["mean_predicted"].to_numpy(float)
                y = d["observed"].to_numpy(float)
                err = np.vstack(
                    [y - d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float) - y]
                )
                h = ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker="o",
                                ms=3.5, lw=1.2, capsize=2, color=color_of[cls])  # fmt: skip
                handles.setdefault(cls, h)
                if predictions is not None and f"prob:{cls}" in predictions.columns:
                    sel = (predictions["model"] == model) & (predictions["feature_set"] == fset)
                    p = predictions.loc[sel, f"prob:{cls}"].to_numpy(float)
                    p = p[np.isfinite(p)]
                    if p.size:
                        hist.hist(p, bins=np.linspace(0, 1, 21), histtype="step",
                                  color=color_of[cls], lw=1.2)  # fmt: skip
            ax.set_xlim(0, 1)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{model} / {fset}", fontweight="normal")
            ax.tick_params(labelbottom=False)
            if c == 0:
                ax.set_ylabel("Observed fraction")
                hist.set_ylabel("n")
            hist.set_xlabel("Predicted probability (out-of-fold)" if r == nrow - 1 else "")
            hist.spines["left"].set_visible(True)
            hist.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(2, integer=True))
    fig.legend(
        [handles[c] for c in classes if c in handles],
        [label_of[c] for c in classes if c in handles],
        loc="upper left",
        bbox_to_anchor=((0.6 + 3.0 * ncol + 0.1) / width, 1 - 0.6 / height),
        title="class (vs rest)" if len(classes) > 1 else None,
    )
    fig.suptitle(title or "Calibration of the out-of-fold probabilities", x=0.02, ha="left",
                 y=1 - 0.1 / height, va="top")  # fmt: skip
    return fig


@styled
def signature_heatmap(
    data: Mapping,
    colors: Mapping | None = None,
    title: str | None = None,
    class_title: str = "subtype",
):
    """A compact signature across the classes: z-scores per sample and mean per class.

    Parameters
    ----------
    data : mapping
        :func:`metpot.classify.signature_matrix`: ``z``, ``labels``, ``layer``, ``marks``,
        ``means``.
    colors : mapping, optional
        Class -> colour (default :data:`PALETTE` in class order).
    title : str, optional
    class_title : str
        Legend title of the classes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    z = data["z"]
    means = data["means"]
    labels = np.asarray(data["labels"]).astype(str)
    classes = [str(c) for c in means.columns]
    colors = dict(colors or {})
    color_of = {c: colors.get(c, PALETTE[i % len(PALETTE)]) for i, c in enumerate(classes)}
    n_rows, n_samples = z.shape
    height = 1.5 + 0.16 * max(n_rows, 8)
    width = 11.0
    fig = _new_figure(width, height)
    bottom, top = 0.55 / height, 1.0 - 0.75 / height
    lim = 2.5
    main = fig.add_axes((0.11, bottom, 0.5, top - bottom))
    im = main.imshow(z.to_numpy(float), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                     interpolation="nearest")  # fmt: skip
    main.set_xticks([])
    main.set_yticks([])
    main.set_xlabel(f"{n_samples} samples, by {class_title}")
    bar = fig.add_axes((0.11, top + 0.08 / height, 0.5, 0.15 / height))
    bar.imshow(np.array([[matplotlib.colors.to_rgb(color_of[c]) for c in labels]]),
               aspect="auto", interpolation="nearest")  # fmt: skip
    bar.set_axis_off()
    # left: layer (greys) and the class each feature marks
    layers = list(dict.fromkeys(data["layer"]))
    greys = {lv: str(g) for lv, g in zip(layers, np.linspace(0.35, 0.8, len(layers)), strict=True)}
    side = np.array(
        [[matplotlib.colors.to_rgb(greys[lv]), matplotlib.colors.to_rgb(color_of[m])]
         for lv, m in zip(data["layer"], data["marks"], strict=True)]
    )  # fmt: skip
    left = fig.add_axes((0.11 - 0.035, bottom, 0.03, top - bottom))
    left.imshow(side, aspect="auto", interpolation="nearest")
    left.set_xticks([0, 1])
    left.set_xticklabels(["layer", "marks"], rotation=90, fontsize=7)
    left.set_yticks([])
    for s in left.spines.values():
        s.set_visible(False)
    for lv in layers:  # layer names beside their block
        rows = np.flatnonzero(np.asarray(data["layer"]) == lv)
        left.text(-0.7, rows.mean(), lv, ha="right", va="center", fontsize=8, rotation=90)
    # right: mean z per class, with the feature names
    mean_ax = fig.add_axes((0.64, bottom, 0.035 * len(classes), top - bottom))
    mean_ax.imshow(means.to_numpy(float), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                   interpolation="nearest")  # fmt: skip
    mean_ax.set_xticks(range(len(classes)))
    mean_ax.set_xticklabels(classes, rotation=90, fontsize=8)
    mean_ax.set_yticks(range(n_rows))
    names = [str(c).split(":", 1)[-1] for c in z.index]
    mean_ax.set_yticklabels(names, fontsize=7 if n_rows <= 40 else 5)
    mean_ax.yaxis.tick_right()
    mean_ax.set_title("mean z", fontsize=8, fontweight="normal")
    for s in mean_ax.spines.values():
        s.set_visible(True)
    cax = fig.add_axes((0.9, bottom, 0.015, min(0.4, top - bottom)))
    fig.colorbar(im, cax=cax, label="z-score (clipped at ±2.5)")
    handles = [matplotlib.patches.Patch(color=color_of[c],
                                        label=f"{c} (n={int((labels == c).sum())})")
               for c in classes]  # fmt: skip
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.86, top + 0.02),
               title=class_title)  # fmt: skip
    fig.suptitle(title or f"Compact signature ({n_rows} features)", x=0.02, ha="left",
                 y=1.0 - 0.1 / height, va="top")  # fmt: skip
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
