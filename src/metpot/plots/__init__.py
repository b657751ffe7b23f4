"""Figures: they read the results of the science modules (which never import them).

One module per topic, every public name re-exported here (``from metpot.plots import
km_plot`` works as before):

* :mod:`~metpot.plots.theme`: :func:`style` and :func:`styled` (one font, size and spine style
  for every figure), the colour-blind-safe Okabe-Ito :data:`PALETTE` for unordered groups,
  :func:`ordered_colors` (a sequential palette) for ordered ones such as low / intermediate /
  high risk (:data:`RISK_ORDER`), :func:`format_p`, and :func:`save_figure`, which writes
  byte-identical SVG and PNG files for identical input (fixed SVG hash salt, no creation date,
  no software stamp).
* :mod:`~metpot.plots.survival`: :func:`km_plot` (Kaplan-Meier curves with a number-at-risk
  table and the log-rank p-value), :func:`forest_plot` (hazard ratios).
* :mod:`~metpot.plots.clusters`: :func:`similarity_heatmap` (a network ordered by subtype),
  :func:`cluster_number_plot`, :func:`consensus_cdf_plot`, :func:`consensus_matrices_plot`,
  :func:`pac_plot`, :func:`silhouette_plot`.
* :mod:`~metpot.plots.classify`: :func:`decision_curve_plot`, :func:`plot_vs_crs`,
  :func:`calibration_plot`, :func:`signature_heatmap`.
* :mod:`~metpot.plots.score`: :func:`score_plot`.
* :mod:`~metpot.plots.characterise`: :func:`marker_heatmap`, :func:`gene_set_plot`,
  :func:`format_fdr`.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no GUI
backend), each drawn inside :func:`style`.
"""

import matplotlib as matplotlib  # ``metpot.plots.matplotlib``, as when plots was one module

from metpot.plots.characterise import Z_LIMIT, format_fdr, gene_set_plot, marker_heatmap
from metpot.plots.classify import (
    calibration_plot,
    decision_curve_plot,
    plot_vs_crs,
    signature_heatmap,
)
from metpot.plots.clusters import _block_means as _block_means  # used by tests/test_plots.py
from metpot.plots.clusters import (
    cluster_number_plot,
    consensus_cdf_plot,
    consensus_matrices_plot,
    pac_plot,
    silhouette_plot,
    similarity_heatmap,
)
from metpot.plots.score import score_plot
from metpot.plots.survival import forest_plot, km_plot
from metpot.plots.theme import (
    PALETTE,
    RISK_ORDER,
    STYLE,
    SVG_HASHSALT,
    format_p,
    ordered_colors,
    save_figure,
    style,
    styled,
)
from metpot.plots.theme import _new_figure as _new_figure
from metpot.plots.theme import _subtype_colors as _subtype_colors

__all__ = [
    "PALETTE",
    "RISK_ORDER",
    "STYLE",
    "SVG_HASHSALT",
    "Z_LIMIT",
    "calibration_plot",
    "cluster_number_plot",
    "consensus_cdf_plot",
    "consensus_matrices_plot",
    "decision_curve_plot",
    "format_fdr",
    "format_p",
    "forest_plot",
    "gene_set_plot",
    "km_plot",
    "marker_heatmap",
    "ordered_colors",
    "pac_plot",
    "plot_vs_crs",
    "save_figure",
    "score_plot",
    "signature_heatmap",
    "silhouette_plot",
    "similarity_heatmap",
    "style",
    "styled",
]
