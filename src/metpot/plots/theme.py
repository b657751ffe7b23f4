"""The look shared by every metpot figure, and how figures are created and written.

* :data:`STYLE` and :func:`style` (the rc settings every figure is drawn with: one font, size
  and spine style), :func:`styled` (the decorator that draws a figure function inside
  :func:`style`).
* Colours: the colour-blind-safe Okabe-Ito :data:`PALETTE` for unordered groups (subtypes,
  classes), :func:`ordered_colors` (a sequential palette) for ordered ones such as low /
  intermediate / high risk (:data:`RISK_ORDER`).
* :func:`format_p` (p-values as printed on a figure).
* Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, no GUI
  backend); :func:`save_figure` writes byte-identical SVG and PNG files for identical input
  (fixed SVG hash salt, no creation date, no software stamp).

(The module is not named ``style``: that name is the function :func:`style`, re-exported as
``metpot.plots.style``.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.colors
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "RISK_ORDER",
    "STYLE",
    "SVG_HASHSALT",
    "format_p",
    "ordered_colors",
    "save_figure",
    "style",
    "styled",
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
    """Decorator: draw ``func``'s figure inside :func:`style`.

    Parameters
    ----------
    func : callable
        A function that builds and returns a figure.

    Returns
    -------
    callable
        ``func``, called inside :func:`style`.
    """

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
    """Format a p-value for a figure (``p = 0.043``, ``p < 0.001``).

    Parameters
    ----------
    p : float
        The p-value (``None`` or NaN print as ``p = NA``).

    Returns
    -------
    str
    """
    return _format_stat("p", p)


def _format_stat(name: str, v: float | None) -> str:
    """``name = NA`` (``None`` or NaN), ``name < 0.001``, else ``name = v`` to three decimals
    below 0.1 and two above (:func:`format_p`, :func:`metpot.plots.format_fdr`)."""
    if v is None or not np.isfinite(v):
        return f"{name} = NA"
    if v < 0.001:
        return f"{name} < 0.001"
    return f"{name} = {v:.3f}" if v < 0.1 else f"{name} = {v:.2f}"


def _new_figure(width: float, height: float) -> Figure:
    """A ``width`` x ``height`` inch figure at 100 dpi on the Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _finish_panels(fig: Figure, title: str | None, note: str | None = None) -> Figure:
    """Finish a figure of panels: ``note`` written on it when no panel was drawn (``None``:
    panels were drawn), ``title`` at the top left, tight layout."""
    if note is not None:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, note, ha="center", va="center")
        ax.set_axis_off()
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def _subtype_colors(labels: Sequence) -> dict:
    """Subtype -> :data:`PALETTE` colour, subtypes in sorted order (the same in every figure)."""
    return {lv: PALETTE[i % len(PALETTE)] for i, lv in enumerate(sorted(set(labels)))}


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
    bbox = _tight_bbox(fig)
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path"}):
        fig.savefig(svg, format="svg", bbox_inches=bbox, metadata={"Date": None, "Creator": None})
        fig.savefig(png, format="png", dpi=150, bbox_inches=bbox, metadata={"Software": None})
    return [svg, png]


def _tight_bbox(fig: Figure):
    """The figure's tight bounding box (inches, padded as ``bbox_inches="tight"`` pads it).

    Computed once for both files: ``bbox_inches="tight"`` lays the whole figure out again
    for each file before drawing it, a third of the time a figure takes to write.
    """
    fig.draw_without_rendering()  # the layout (text extents, ticks) without drawing
    renderer = fig.canvas.get_renderer()
    return fig.get_tightbbox(renderer).padded(matplotlib.rcParams["savefig.pad_inches"])
