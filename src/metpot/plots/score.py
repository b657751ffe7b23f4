"""Figure of the scoring of a new cohort: each sample's class probabilities and flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metpot.plots.theme import PALETTE, _new_figure, styled

__all__ = ["score_plot"]


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
