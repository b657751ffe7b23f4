"""Figures of the subtype characterisation: marker heatmaps and gene-set scores by subtype.

Drawn with the style, palette and subtype colours of :mod:`metpot.plots.theme` (the same
subtype has the same colour in every figure) and written with :func:`metpot.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.colors
import matplotlib.patches
import numpy as np
import pandas as pd

from metpot.plots.theme import (
    _finish_panels,
    _format_stat,
    _new_figure,
    _subtype_colors,
    styled,
)

__all__ = ["Z_LIMIT", "format_fdr", "gene_set_plot", "marker_heatmap"]

Z_LIMIT = 3.0
"""Row z-scores of the marker heatmap are clipped to +-Z_LIMIT."""


def format_fdr(q: float) -> str:
    """Format an FDR for a figure (``FDR = 0.012``, ``FDR < 0.001``, ``FDR = NA``).

    Parameters
    ----------
    q : float
        The FDR (``None`` or NaN print as ``FDR = NA``).

    Returns
    -------
    str
    """
    return _format_stat("FDR", q)


def _row_zscores(M: np.ndarray) -> np.ndarray:
    """z-score each row over its observed values (sd with n - 1; sd 0 -> 1)."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(M, axis=1, keepdims=True)
        n = np.sum(~np.isnan(M), axis=1, keepdims=True)
        sd = np.sqrt(np.nansum((M - mean) ** 2, axis=1, keepdims=True) / np.maximum(n - 1, 1))
    sd = np.where((sd > 0) & np.isfinite(sd), sd, 1.0)
    return (M - mean) / sd


@styled
def marker_heatmap(
    X: pd.DataFrame,
    labels: pd.Series,
    top: pd.DataFrame,
    names: Mapping | None = None,
    title: str | None = None,
    empty_note: str = "no feature passes the FDR threshold",
):
    """Top up-regulated features of each subtype across the samples, ordered by subtype.

    Parameters
    ----------
    X : DataFrame
        Samples x features on the analysed scale (the features of ``top`` at least).
    labels : Series
        Subtype per sample id.
    top : DataFrame
        :func:`metpot.characterise.top_features` of one layer (``subtype``, ``feature``,
        ``direction``, ``rank``): its ``up`` rows are drawn, grouped by subtype in rank
        order; a feature marking several subtypes is drawn once, under the first.
    names : mapping, optional
        Subtype -> name.
    title : str, optional
    empty_note : str
        Text of the figure when ``top`` has no ``up`` row.

    Returns
    -------
    matplotlib.figure.Figure
        Rows z-scored over the samples (clipped to +-:data:`Z_LIMIT`; missing cells grey),
        samples ordered by subtype with the subtype colour bar above, feature labels on the
        right and the subtype whose marker each row is on the left.
    """
    names = dict(names or {})
    lab = labels.loc[X.index]
    colors = _subtype_colors(lab.tolist())
    up = top[top["direction"] == "up"].sort_values(["subtype", "rank"], kind="stable")
    up = up.drop_duplicates("feature", keep="first")
    feats, groups = up["feature"].tolist(), up["subtype"].tolist()
    n = len(feats)
    row_h, top_in, bottom_in = 0.13, 0.7, 0.45
    height = max(3.0, top_in + bottom_in + row_h * max(n, 8))
    width = 8.0
    fig = _new_figure(width, height)
    hx, hw = 0.85 / width, 4.6 / width
    hy, hh = bottom_in / height, (height - top_in - bottom_in) / height
    ax = fig.add_axes((hx, hy, hw, hh))
    order = np.argsort(lab.to_numpy(), kind="stable")
    sorted_lab = lab.to_numpy()[order]
    if n:
        M = X[feats].to_numpy(dtype=float).T[:, order]
        Z = np.clip(_row_zscores(M), -Z_LIMIT, Z_LIMIT)
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
        im = ax.imshow(
            np.ma.masked_invalid(Z), cmap=cmap, vmin=-Z_LIMIT, vmax=Z_LIMIT,
            interpolation="nearest", aspect="auto",
        )  # fmt: skip
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels(feats, fontsize=7 if n <= 60 else 5.5)
        ax.yaxis.tick_right()
        ax.tick_params(axis="y", length=0, pad=2)
        for b in np.flatnonzero(np.diff(sorted_lab.astype(float)) != 0):
            ax.axvline(b + 0.5, color="white", lw=1.2)
        for b in np.flatnonzero(np.diff(np.asarray(groups, dtype=float)) != 0):
            ax.axhline(b + 0.5, color="white", lw=1.2)
        side = fig.add_axes((hx - 0.2 / width, hy, 0.14 / width, hh))
        bar = np.array([[matplotlib.colors.to_rgb(colors.get(g, "0.5"))] for g in groups])
        side.imshow(bar, aspect="auto", interpolation="nearest")
        side.set_axis_off()
        bar_h = min(hh * 0.35, 1.6 / height)
        cax = fig.add_axes((6.95 / width, hy + hh * 0.05, 0.14 / width, bar_h))
        fig.colorbar(im, cax=cax, label="row z-score")
    else:
        ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xticks([])
    ax.set_xlabel(f"{len(lab)} samples, ordered by subtype")
    for side_name in ("top", "right"):
        ax.spines[side_name].set_visible(True)
    topbar = fig.add_axes((hx, hy + hh + 0.05 / height, hw, 0.14 / height))
    bar = np.array([[matplotlib.colors.to_rgb(colors[v]) for v in sorted_lab]])
    topbar.imshow(bar, aspect="auto", interpolation="nearest")
    topbar.set_axis_off()
    handles = [
        matplotlib.patches.Patch(color=c, label=f"{names.get(lv, lv)} (n={int((lab == lv).sum())})")
        for lv, c in colors.items()
    ]
    fig.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(6.85 / width, 1 - top_in / height),
        title="subtype",
    )  # fmt: skip
    if title:
        fig.suptitle(title, x=hx, ha="left", y=1 - 0.2 / height, va="top")
    return fig


@styled
def gene_set_plot(
    scores: pd.DataFrame,
    labels: pd.Series,
    tests: pd.DataFrame,
    names: Mapping | None = None,
    fdr: float = 0.05,
    title: str | None = None,
):
    """Gene-set scores by subtype: one panel per set, boxes and every sample's point.

    Parameters
    ----------
    scores : DataFrame
        Samples x sets (:func:`metpot.characterise.gene_set_scores`).
    labels : Series
        Subtype per sample id.
    tests : DataFrame
        :func:`metpot.characterise.gene_set_tests`: the Kruskal-Wallis FDR goes in each
        panel's title; subtypes whose score is significantly higher than the rest's
        (one-vs-rest FDR below ``fdr``, AUC > 0.5) get a ``*`` above their box.
    names : mapping, optional
        Subtype -> name.
    fdr : float
        The threshold of the ``*``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = dict(names or {})
    lab = labels.loc[scores.index]
    colors = _subtype_colors(lab.tolist())
    levels = list(colors)
    sets = list(scores.columns)
    ncol = min(3, max(1, len(sets)))
    nrow = -(-len(sets) // ncol) if sets else 1
    fig = _new_figure(2.0 + 1.9 * ncol + 0.25 * len(levels) * ncol, 0.8 + 3.0 * nrow)
    rng = np.random.default_rng(0)  # fixed jitter: identical figures for identical input
    for i, s in enumerate(sets):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        data = [scores.loc[(lab == lv).to_numpy(), s].dropna().to_numpy(float) for lv in levels]
        pos = np.arange(1, len(levels) + 1)
        box = ax.boxplot(
            data, positions=pos, widths=0.55, showfliers=False, patch_artist=True,
            medianprops={"color": "k"},
        )  # fmt: skip
        for patch, lv in zip(box["boxes"], levels, strict=True):
            patch.set_facecolor(matplotlib.colors.to_rgba(colors[lv], 0.25))
            patch.set_edgecolor(colors[lv])
        for p, d, lv in zip(pos, data, levels, strict=True):
            x = p + rng.uniform(-0.18, 0.18, d.size)
            ax.plot(x, d, ls="none", marker="o", ms=2.6, color=colors[lv], alpha=0.8)
        kw = tests[(tests["gene_set"] == s) & (tests["test"] == "kruskal_wallis")]
        q = float(kw["fdr"].iloc[0]) if len(kw) else np.nan
        ax.set_title(f"{s}\nKruskal-Wallis {format_fdr(q)}", fontsize=9)
        ovr = tests[(tests["gene_set"] == s) & (tests["test"] == "mann_whitney")]
        top = max((float(np.max(d)) for d in data if d.size), default=1.0)
        span = top - min((float(np.min(d)) for d in data if d.size), default=0.0)
        for r in ovr.itertuples():
            if r.fdr < fdr and r.auc > 0.5 and r.subtype in levels:
                x = pos[levels.index(r.subtype)]
                ax.text(x, top + 0.04 * span, "*", ha="center", va="bottom", fontsize=12)
        ax.set_ylim(top=top + 0.16 * max(span, 1e-9))
        ax.set_xticks(pos)
        ax.set_xticklabels(
            [names.get(lv, str(lv)) for lv in levels], rotation=30 if len(levels) > 3 else 0
        )
        if i % ncol == 0:
            ax.set_ylabel("Score (mean z-score of its genes)")
    return _finish_panels(fig, title, None if sets else "no gene set")
