"""Figures of the clustering: the fused and per-layer networks ordered by subtype, SNF's
cluster-number criteria, the consensus CDF, the consensus matrices per k, PAC per k and the
silhouette of each sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.colors
import matplotlib.patches
import numpy as np
import pandas as pd

from metpot.errors import MetpotError
from metpot.plots.theme import (
    PALETTE,
    _finish_panels,
    _new_figure,
    _subtype_colors,
    ordered_colors,
    styled,
)

__all__ = [
    "cluster_number_plot",
    "consensus_cdf_plot",
    "consensus_matrices_plot",
    "pac_plot",
    "silhouette_plot",
    "similarity_heatmap",
]


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
    return _finish_panels(fig, title)


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
