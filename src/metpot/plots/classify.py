"""Figures of the classifiers: decision curves, the comparison with the clinical risk score
(CRS), the calibration of the out-of-fold probabilities and the compact signature heatmap.

They read the tables of :mod:`metpot.classify` (science never imports the plots).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.colors
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd

from metpot.plots.theme import PALETTE, _finish_panels, _new_figure, styled

__all__ = ["calibration_plot", "decision_curve_plot", "plot_vs_crs", "signature_heatmap"]


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
    note = None if groups else "no decision curve (no landmark outcome)"
    return _finish_panels(fig, title, note)


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
        how = g["validation"].iloc[0] if "validation" in g.columns else ""
        labels.append(f"{tg}: {md} / {fs}" + (f" ({how})" if how == "pipeline" else ""))
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
                err = np.vstack([y - d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float) - y])
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
