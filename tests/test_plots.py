"""Tests of metpot.plots: files written, byte-identical, numbers from survival results."""

import numpy as np
import pandas as pd
import pytest

from metpot import plots
from metpot import survival as sv
from metpot.errors import MetpotError


def _data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    t = np.round(rng.exponential(800 / (1 + 0.5 * g)))
    c = rng.uniform(100, 2500, n)
    e = t <= c
    return np.minimum(t, c), e, np.array(["A", "B", "C"])[g], rng.normal(60, 10, n)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_km_plot_files_byte_identical(tmp_path):
    t, e, g, _ = _data()
    outs = []
    for k in range(2):
        fig = plots.km_plot(t, e, g, title="KM", landmarks=[365, 730, 1095])
        outs.append(plots.save_figure(fig, tmp_path / f"run{k}" / "km"))
    for a, b in zip(outs[0], outs[1], strict=True):
        assert a.exists() and a.stat().st_size > 0
        assert a.read_bytes() == b.read_bytes(), a.name
    assert [p.suffix for p in outs[0]] == [".svg", ".png"]
    svg = outs[0][0].read_text()
    assert "<dc:date>" not in svg


def test_km_plot_numbers_come_from_survival_results():
    t, e, g, _ = _data()
    lr = sv.logrank_test(t, e, g)
    fig = plots.km_plot(t, e, g, risk_times=[0, 500, 1000])
    texts = _texts(fig)
    assert f"Log-rank {plots.format_p(lr['p'])}" in texts
    for lv in ["A", "B", "C"]:
        km = sv.kaplan_meier(t[g == lv], e[g == lv])
        for n in sv.survival_at(km, [0, 500, 1000])["n_risk"]:
            assert str(int(n)) in texts
    # a passed-in result is what is printed
    fig2 = plots.km_plot(t, e, g, logrank={**lr, "p": 0.0123})
    assert "Log-rank p = 0.012" in _texts(fig2)


def test_forest_plot_byte_identical(tmp_path):
    t, e, g, age = _data(1)
    X = sv.treatment_dummies(pd.Series(g, name="g")).assign(age=age)
    fit = sv.cox_ph(X, t, e)
    a = plots.save_figure(plots.forest_plot(fit, title="Cox"), tmp_path / "a" / "forest")
    b = plots.save_figure(plots.forest_plot(fit, title="Cox"), tmp_path / "b" / "forest")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()
    texts = _texts(plots.forest_plot(fit))
    tab = fit.table
    assert f"{tab.hr[0]:.2f} ({tab.hr_lower[0]:.2f}-{tab.hr_upper[0]:.2f})" in texts


def test_format_p():
    assert plots.format_p(0.0004) == "p < 0.001"
    assert plots.format_p(0.0432) == "p = 0.043"
    assert plots.format_p(0.5) == "p = 0.50"
    assert plots.format_p(float("nan")) == "p = NA"
    assert plots.format_p(None) == "p = NA"
    assert plots.format_fdr(0.0004) == "FDR < 0.001"
    assert plots.format_fdr(0.0123) == "FDR = 0.012"
    assert plots.format_fdr(0.25) == "FDR = 0.25"
    assert plots.format_fdr(None) == "FDR = NA"
    with pytest.raises(MetpotError, match=r"^forest_plot needs a CoxResult or a table with term/"):
        plots.forest_plot(pd.DataFrame({"x": [1]}))


def test_similarity_heatmap_block_means_of_a_large_network():
    """Above max_cells patients the heatmap draws block means without the diagonal."""
    rng = np.random.default_rng(3)
    n, blocks = 1203, 100
    labels = rng.integers(1, 4, n)
    W = rng.random((n, n))
    W = (W + W.T) / 2 + (labels[:, None] == labels[None, :])
    order = np.argsort(labels, kind="stable")
    M, bar = plots._block_means(W, order, labels, blocks)
    full = W[np.ix_(order, order)]
    np.fill_diagonal(full, np.nan)
    edges = np.linspace(0, n, blocks + 1).round().astype(int)
    for b in range(blocks):
        for c in (0, b, blocks - 1):
            expected = np.nanmean(full[edges[b] : edges[b + 1], edges[c] : edges[c + 1]])
            assert np.isclose(M[b, c], expected, rtol=1e-12)
        values, counts = np.unique(labels[order][edges[b] : edges[b + 1]], return_counts=True)
        assert bar[b] == values[np.argmax(counts)]
    fig = plots.similarity_heatmap(W, labels, max_cells=blocks)
    assert fig.axes[0].images[0].get_array().shape == (blocks, blocks)
