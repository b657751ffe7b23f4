"""The Snakemake report: captions and categories from the step contract, and the figures."""

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jinja2
import numpy as np
import pandas as pd
import pytest
import yaml

from metpot import manifest, plots
from metpot.config import load_config

ROOT = Path(__file__).resolve().parents[1]
REPORT_DIR = ROOT / "workflow" / "report"
SMALL_CLASSIFY = {
    "models": {"logistic": {"grid": {"C": [0.1]}}},
    "feature_sets": ["all"],
    "outer": {"folds": 3, "repeats": 1},
    "inner": {"folds": 2},
}


def _demo(**overrides) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(overrides)
    return load_config(config)


def _own_cohort() -> dict:
    """A user's config without clinical data, truth, signatures or tracking."""
    return load_config(
        {
            "cohort": {
                "name": "mine",
                "omics": {"a": {"path": "a.tsv"}, "b": {"path": "b.tsv"}},
            },
            "tracking": {"enabled": False},
        }
    )


def _reported(config: dict) -> dict[str, manifest.Output]:
    found = {}
    for name in [*manifest.analysis_steps(config), "summary"]:
        for files in manifest.expand_step(name, config):
            for o in files.outputs.values():
                if o.report is not None:
                    found[o.path] = o
    return found


def _render(path: Path, config: dict, **wildcards) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    snakemake = SimpleNamespace(
        config=copy.deepcopy(config), wildcards=SimpleNamespace(**wildcards)
    )
    return env.from_string(path.read_text()).render(snakemake=snakemake)


SCORE = {"cohorts": {"new": {"omics": {"mrna": {"path": "data/mrna_new.csv"}}}}}


@pytest.mark.parametrize("which", ["demo", "demo_classify", "demo_score", "demo_sweep", "own"])
def test_every_reported_output_has_a_caption_that_renders(which):
    config = {
        "demo": lambda: _demo(classify={"enabled": False}),
        "demo_classify": lambda: _demo(classify=SMALL_CLASSIFY),
        "demo_score": lambda: _demo(classify=SMALL_CLASSIFY, score=SCORE),
        "demo_sweep": lambda: _demo(classify={"enabled": False}, sweep={"K": [10, 20]}),
        "own": _own_cohort,
    }[which]()
    reported = _reported(config)
    assert reported
    for path, o in reported.items():
        assert o.report.category in manifest.REPORT_CATEGORIES, path
        caption = REPORT_DIR / o.report.caption
        assert caption.is_file(), f"{path}: no caption {caption.name}"
        wildcards = {}
        if "/survival/" in path:
            wildcards["endpoint"] = path.split("/")[-2]
        if "/score/" in path:
            wildcards["cohort"] = path.split("/")[-2]
        text = _render(caption, config, **wildcards)
        assert len(text.split()) > 8, caption.name
        assert "{{" not in text and "{%" not in text
    if which == "demo_sweep":
        assert "results/sweep/summary.tsv" in reported
    if which == "demo_score":
        assert {"results/score/new/probabilities.svg", "results/score/new/summary.json"} <= set(
            reported
        )
    first = _render(REPORT_DIR / "workflow.rst", config)
    assert ("SYNTHETIC" in first) == (which != "own")
    assert ("mlflow ui" in first) == (which != "own")
    assert "No run facts yet" in first  # built before a run: the page says so


def test_demo_reports_every_figure_in_its_category():
    config = _demo(classify=SMALL_CLASSIFY)
    reported = _reported(config)
    svgs = {p for p, o in manifest.analysis_outputs(config).items() if p.endswith(".svg")}
    assert svgs <= set(reported), sorted(svgs - set(reported))
    cats = {Path(p).name: o.report.category for p, o in reported.items()}
    assert cats["fused_heatmap.svg"] == cats["consensus_cdf.svg"] == "Subtypes"
    assert cats["cluster_number.svg"] == "Subtypes"
    assert cats["km_integrated.svg"] == cats["forest.svg"] == "Survival"
    assert cats["vs_crs.svg"] == "Classifiers"
    assert cats["summary.txt"] == "Data"
    assert cats["heatmap_mrna.svg"] == cats["gene_sets.svg"] == "Subtypes"
    # the PNG twin of a figure is not reported twice
    assert not any(p.endswith(".png") for p in reported)


# ------------------------------------------------------------------------------- figures


def _km_data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    g = np.array(["high", "intermediate", "low"])[rng.integers(0, 3, n)]
    scale = {"low": 8.0, "intermediate": 4.0, "high": 1.5}
    t = np.array([rng.exponential(scale[v]) for v in g])
    c = rng.uniform(0.5, 10, n)
    return np.minimum(t, c), t <= c, g


def test_km_plot_orders_risk_groups_low_to_high_and_keeps_the_legend_off_the_curves():
    t, e, g = _km_data()
    colors = plots.ordered_colors(3)
    fig = plots.km_plot(t, e, g, order=plots.RISK_ORDER, colors=colors)
    ax = fig.axes[0]
    labels = [x.get_text().split(" ")[0] for x in ax.get_legend().get_texts()]
    assert labels == ["low", "intermediate", "high"]
    lines = [h for h in ax.get_legend().legend_handles]
    assert [h.get_color() for h in lines] == colors
    # sequential: lightness falls from low to high
    lum = [np.dot(plots.matplotlib.colors.to_rgb(c), [0.299, 0.587, 0.114]) for c in colors]
    assert lum[0] > lum[1] > lum[2]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend_box = ax.get_legend().get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # outside the axes, on the right
    assert ax.get_xlabel() == "Time (years)"


def test_km_plot_group_keeps_its_colour_when_another_is_absent():
    t, e, g = _km_data(1)
    keep = g != "intermediate"
    colors = plots.ordered_colors(3)
    fig = plots.km_plot(t[keep], e[keep], g[keep], order=plots.RISK_ORDER, colors=colors)
    handles = fig.axes[0].get_legend().legend_handles
    assert [h.get_color() for h in handles] == [colors[0], colors[2]]


def test_forest_plot_title_clears_the_column_headers():
    import pandas as pd

    from metpot import survival as sv

    rng = np.random.default_rng(2)
    n = 120
    g = rng.integers(0, 3, n)
    t = rng.exponential(2.0 / (1 + 0.5 * g))
    e = np.ones(n, bool)
    X = sv.treatment_dummies(pd.Series(np.array(["A", "B", "C"])[g], name="g"))
    fig = plots.forest_plot(sv.cox_ph(X, t, e), title="OS: Cox model (reference subtype A)")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    headers = [x for x in fig.axes[0].texts if x.get_text() in ("HR (95% CI)", "p")]
    assert len(headers) == 2
    for h in headers:
        assert not title.overlaps(h.get_window_extent(renderer)), h.get_text()


def test_similarity_heatmap_orders_patients_by_subtype(tmp_path):
    rng = np.random.default_rng(3)
    labels = np.array([2, 1, 3, 1, 2, 3, 1])
    W = rng.uniform(size=(7, 7))
    W = (W + W.T) / 2
    fig = plots.similarity_heatmap(W, labels, {1: "immune", 2: "stromal", 3: "canonical"})
    image = fig.axes[0].get_images()[0].get_array()
    order = np.argsort(labels, kind="stable")
    expected = W[np.ix_(order, order)]
    off = ~np.eye(7, dtype=bool)
    np.testing.assert_array_equal(np.asarray(image)[off], expected[off])
    assert np.ma.getmaskarray(image)[~off].all() or np.isnan(np.asarray(image)[~off]).all()
    texts = [x.get_text() for x in fig.legends[0].get_texts()]
    assert texts == ["immune (n=3)", "stromal (n=2)", "canonical (n=2)"]
    a = plots.save_figure(fig, tmp_path / "a" / "h")
    b = plots.save_figure(
        plots.similarity_heatmap(W, labels, {1: "immune", 2: "stromal", 3: "canonical"}),
        tmp_path / "b" / "h",
    )
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_cluster_number_and_consensus_cdf_plot_the_given_numbers():
    import pandas as pd

    scores = pd.DataFrame(
        {"n_clusters": [3, 2, 4], "eigengap": [0.4, 0.1, 0.05], "rotation_cost": [50, 90, 120]}
    )
    fig = plots.cluster_number_plot(scores, chosen=3)
    eig, rot = fig.axes
    np.testing.assert_array_equal(eig.lines[0].get_ydata(), [0.1, 0.4, 0.05])
    np.testing.assert_array_equal(rot.lines[0].get_xdata(), [2, 3, 4])
    consensus = {
        "ks": [2, 3],
        "pac": {"2": 0.2, "3": 0.05},
        "pac_interval": [0.1, 0.9],
        "cdf": {"x": [0.0, 0.5, 1.0], "2": [0.3, 0.6, 1.0], "3": [0.5, 0.55, 1.0]},
    }
    fig = plots.consensus_cdf_plot(consensus, chosen=3)
    labels = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert labels == ["k = 2 (PAC 0.200)", "k = 3 (PAC 0.050) chosen"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [0.5, 0.55, 1.0])


def test_silhouette_of_a_clean_consensus_is_one_and_the_plot_groups_by_subtype():
    from metpot.clusters import consensus_silhouette

    labels = np.array([1, 1, 2, 2, 2, 1])
    clean = (labels[:, None] == labels[None, :]).astype(float)
    np.testing.assert_allclose(consensus_silhouette(clean, labels), 1.0)
    noisy = clean.copy()
    noisy[0, 2] = noisy[2, 0] = 0.9  # sample 0 often clusters with sample 2
    noisy[0, 1] = noisy[1, 0] = 0.5  # and only half the time with sample 1
    widths = consensus_silhouette(noisy, labels)
    # a(0) = (0.5 + 0) / 2, b(0) = (0.1 + 1 + 1) / 3: s = 1 - a / b
    assert widths[0] == pytest.approx(1 - 0.25 / 0.7)
    assert widths[5] == pytest.approx(1.0)
    fig = plots.silhouette_plot(widths, labels, {1: "immune", 2: "stromal"})
    ticks = [x.get_text() for x in fig.axes[0].get_yticklabels()]
    assert ticks[0].startswith("immune\nmean ") and ticks[1].startswith("stromal\nmean ")
    assert f"{widths[labels == 1].mean():.2f}" in ticks[0]


def test_score_plot_stacks_the_probabilities_and_marks_the_flags():
    import pandas as pd

    pred = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d"],
            "prediction": ["immune", "stromal", "immune", None],
            "proba_immune": [0.9, 0.2, 0.55, 0.4],
            "proba_stromal": [0.1, 0.8, 0.45, 0.6],
            "confidence": [0.9, 0.8, 0.55, 0.6],
            "flag": ["", "", "low_confidence", "low_confidence;unlike_training"],
        }
    )
    fig = plots.score_plot(pred, title="new")
    ax = fig.axes[0]
    # immune first (by confidence: a, c), then stromal (b), unassigned (d) last
    heights = [r.get_height() for r in ax.containers[0]]
    assert heights == [0.9, 0.55, 0.2, 0.4]
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["immune", "stromal", "flagged (n=2)"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 3])


def test_decision_curve_plot_draws_every_strategy_of_the_table():
    import pandas as pd

    rows = []
    for th in (0.1, 0.2, 0.3):
        for strategy, nb in (("crs", 0.1 - th / 4), ("molecular", 0.2 - th / 3)):
            rows.append(("t", "logistic", "all", 3, th, strategy, nb))
        rows.append(("t", "logistic", "all", 3, th, "treat_all", 0.15 - th / 2))
        rows.append(("t", "logistic", "all", 3, th, "treat_none", 0.0))
    cols = ["target", "model", "feature_set", "landmark", "threshold", "strategy", "net_benefit"]
    table = pd.DataFrame(rows, columns=cols)
    ax = plots.decision_curve_plot(table).axes[0]
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["crs", "molecular", "treat_all", "treat_none"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.2 - th / 3 for th in (0.1, 0.2, 0.3)])
    assert "event by 3 years" in ax.get_title()
    empty = plots.decision_curve_plot(table.iloc[:0])
    assert "no decision curve" in empty.axes[0].texts[0].get_text()


def test_classifier_report_outputs_follow_the_targets_and_feature_sets():
    config = _demo(
        classify={**SMALL_CLASSIFY, "feature_sets": ["all", "signature"],
                  "targets": ["snf_subtype", "os_landmark", "os"]}
    )  # fmt: skip
    reported = _reported(config)
    names = {Path(p).name: o for p, o in reported.items()}
    assert {"calibration.tsv", "calibration_snf_subtype.svg", "calibration_os_landmark.svg",
            "signature_snf_subtype.svg"} <= set(names)  # fmt: skip
    # survival targets have no probabilities; landmark classes are not subtypes
    assert "calibration_os.svg" not in names and "signature_os_landmark.svg" not in names
    assert names["signature_snf_subtype.svg"].report.category == "Classifiers"
    assert names["calibration_os_landmark.svg"].report.labels_dict()["target"] == "os_landmark"
    inputs = manifest.step("classify", config).inputs
    assert {"layer_mrna", "layer_mirna", "subtypes"} <= set(inputs)
    # without the signature feature set there is no signature heatmap (and no layer input)
    plain = _demo(classify=SMALL_CLASSIFY)
    assert not any("signature_" in p for p in _reported(plain))
    assert "layer_mrna" not in manifest.step("classify", plain).inputs
    clusters = {Path(p).name for p in _reported(plain) if "/clusters/" in p}
    assert {"pac.tsv", "pac.svg", "consensus_matrices.svg"} <= clusters


def _predictions(seed=0, n=120, repeats=2):
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"]
    truth = rng.choice(classes, n)
    rows = []
    for r in range(repeats):
        logits = rng.normal(size=(n, 3)) + 1.5 * (truth[:, None] == np.array(classes))
        proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        proba = np.round(proba, 2)  # ties between predictions
        for i in range(n):
            rows.append({"target": "t", "model": "logistic", "feature_set": "all",
                         "sample": f"s{i}", "repeat": r, "fold": i % 3, "truth": truth[i],
                         **{f"prob:{c}": proba[i, k] for k, c in enumerate(classes)}})  # fmt: skip
    return pd.DataFrame(rows)


def _chunks_match(table, preds, cls, column):
    """Observed fractions and mean predictions of the bins, from the predictions directly:
    sorted by probability, consecutive runs of each bin's size, ties never split."""
    rows = table[table["class"] == cls].sort_values("bin")
    p = preds[column].to_numpy(float)
    ok = np.isfinite(p)
    order = np.argsort(p[ok], kind="stable")
    p_sorted = p[ok][order]
    y_sorted = (preds["truth"].astype(str).to_numpy()[ok] == cls)[order]
    assert rows["n"].sum() == ok.sum()
    start = 0
    for r in rows.itertuples():
        chunk = slice(start, start + r.n)
        assert r.observed == pytest.approx(y_sorted[chunk].mean(), abs=1e-12)
        assert r.mean_predicted == pytest.approx(p_sorted[chunk].mean(), abs=1e-12)
        if start:  # a tie is never split between two bins
            assert p_sorted[start] > p_sorted[start - 1]
        assert 0 <= r.ci_low <= r.ci_high <= 1
        start += r.n


def test_calibration_table_bins_pool_the_repeats_and_match_a_direct_computation():
    from metpot.classify import calibration_table

    preds = _predictions()
    table = calibration_table(preds, {"t": "categorical"}, n_bins=10, n_boot=200, seed=3)
    assert list(table["class"].unique()) == ["a", "b", "c"]
    for cls in ("a", "b", "c"):
        _chunks_match(table, preds, cls, f"prob:{cls}")
        assert table.loc[table["class"] == cls, "n"].max() <= 2 * len(preds) / 10 + 40
    assert (table["n_patients"] <= 120).all()
    again = calibration_table(preds, {"t": "categorical"}, n_bins=10, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(table, again)  # seeded bootstrap
    # a landmark target: the event class only; survival targets are left out
    lm = preds.assign(target="t_landmark", truth=np.where(preds["truth"] == "a", "1", "0"))
    lm = lm.rename(columns={"prob:a": "prob:1", "prob:b": "prob:0"}).drop(columns="prob:c")
    out = calibration_table(pd.concat([lm, preds.assign(target="os")]),
                            {"t_landmark": "landmark", "os": "survival"}, n_boot=50)  # fmt: skip
    assert set(out["target"]) == {"t_landmark"} and set(out["class"]) == {"1"}
    _chunks_match(out, lm, "1", "prob:1")


def test_calibration_slope_and_in_the_large_recover_known_miscalibration():
    from scipy.special import expit, logit

    from metpot.classify import calibration_in_the_large_and_slope

    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, 40_000)
    y = rng.uniform(size=p.size) < p
    citl, slope = calibration_in_the_large_and_slope(p, y)
    assert abs(citl) < 0.05 and abs(slope - 1) < 0.05
    _, slope = calibration_in_the_large_and_slope(expit(2 * logit(p)), y)  # over-confident
    assert slope == pytest.approx(0.5, abs=0.05)
    citl, _ = calibration_in_the_large_and_slope(expit(logit(p) - 1), y)  # under-estimated
    assert citl == pytest.approx(1.0, abs=0.06)
    # perfectly separated predictions have no finite slope
    assert np.isnan(calibration_in_the_large_and_slope([0.2, 0.3, 0.7, 0.8], [0, 0, 1, 1])[1])


def _blocks(n=90, k=3, seed=5, noise=0.15):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n // k)
    rng.shuffle(labels)
    M = np.where(labels[:, None] == labels[None, :], 0.9, 0.05) + rng.uniform(0, noise, (n, n))
    M = np.clip((M + M.T) / 2, 0, 1)
    np.fill_diagonal(M, 1.0)
    return M, labels


def test_pac_per_k_equals_a_direct_count_of_ambiguous_pairs():
    from metpot.clusters import pac_table
    from metpot.consensus import consensus_summary

    M3, _ = _blocks()
    M2, _ = _blocks(k=2, seed=6, noise=0.6)
    table = pac_table(consensus_summary({2: M2, 3: M3}, n_resamples=10), chosen=3)
    for k, M in ((2, M2), (3, M3)):
        upper = M[np.triu_indices(len(M), 1)]
        direct = np.mean((upper > 0.1) & (upper <= 0.9))
        assert table.set_index("k").loc[k, "pac"] == pytest.approx(direct, abs=5e-7)
    assert list(table["chosen"]) == [False, True]
    assert table.loc[table["k"] == 2, "pac"].item() > 0.05
    fig = plots.pac_plot(table)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), table["pac"])
    assert "chosen k = 3" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_consensus_display_orders_by_consensus_clusters_and_caps_the_drawn_samples():
    from sklearn.metrics import adjusted_rand_score

    from metpot.clusters import consensus_display

    M, labels = _blocks(n=120)
    pos, clusters = consensus_display(M, 3)
    assert sorted(pos) == list(range(120))
    assert adjusted_rand_score(labels[pos], clusters) == 1.0
    assert (np.diff(clusters) >= 0).all()  # contiguous blocks, numbered in drawing order
    pos, clusters = consensus_display(M, 3, max_samples=50, seed=1)
    assert len(pos) == 50 == len(set(pos)) and adjusted_rand_score(labels[pos], clusters) == 1.0
    again, _ = consensus_display(M, 4, max_samples=50, seed=1)
    assert set(again) == set(pos)  # the same subset for every k
    panels = {k: (M[np.ix_(pos, pos)], clusters) for k in (2, 3)}
    fig = plots.consensus_matrices_plot(panels, chosen=3, pac={"2": 0.2, "3": 0.01},
                                        n_samples=120)  # fmt: skip
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles == ["k = 2, PAC 0.200", "k = 3, PAC 0.010 (chosen)"]
    assert "50 of 120 samples drawn" in fig._suptitle.get_text()


def test_signature_matrix_groups_features_by_layer_and_marked_subtype():
    from metpot.classify import signature_matrix

    rng = np.random.default_rng(7)
    ids = [f"s{i}" for i in range(30)]
    labels = pd.Series(np.repeat(["immune", "stromal", "canonical"], 10), index=ids)
    mrna = pd.DataFrame(rng.normal(size=(30, 4)), index=ids, columns=["G1", "G2", "G3", "G4"])
    mirna = pd.DataFrame(rng.normal(size=(30, 2)), index=ids, columns=["m1", "m2"])
    mrna.loc[labels == "stromal", "G1"] += 4
    mrna.loc[labels == "immune", "G2"] += 3
    mrna.loc[labels == "immune", "G3"] += 5
    mrna.loc[labels == "canonical", "G4"] += 4
    mirna.loc[labels == "stromal", "m1"] += 4
    mirna.loc[labels == "immune", "m2"] += 4
    classes = ["immune", "stromal", "canonical"]
    cols = ["mirna:m1", "mrna:G1", "mrna:G2", "mirna:m2", "mrna:G3", "mrna:G4"]
    shuffled = labels.sample(frac=1, random_state=1)
    out = signature_matrix({"mrna": mrna, "mirna": mirna}, cols, shuffled, classes)
    z = out["z"]
    assert list(z.index) == ["mrna:G3", "mrna:G2", "mrna:G1", "mrna:G4", "mirna:m2", "mirna:m1"]
    assert list(out["marks"]) == ["immune", "immune", "stromal", "canonical", "immune", "stromal"]
    assert list(out["labels"]) == list(np.repeat(classes, 10))
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=1, ddof=1), 1)
    expected = z.T.groupby(out["labels"].to_numpy()).mean().T[classes]
    np.testing.assert_allclose(out["means"].to_numpy(), expected.to_numpy())
    fig = plots.signature_heatmap(out, {"immune": "#111111"})
    image = np.asarray(fig.axes[0].get_images()[0].get_array())
    np.testing.assert_allclose(image, z.to_numpy())


def _facts(config):
    """The run facts of a small made-up run under ``config``."""
    from metpot.summary import run_facts

    samples = pd.DataFrame({"sample_id": ["a", "b", "c", "d"],
                            "status": ["kept", "kept", "kept", "dropped"],
                            "reason": ["", "", "", "not in every layer"],
                            "in_mrna": [True, True, True, True],
                            "in_mirna": [True, True, True, False]})  # fmt: skip
    metrics = {"n": 3, "events": 2, "logrank.chisq": 5.0, "logrank.p": 0.0123,
               "c.crs.harrell_c": 0.61, "c.crs.harrell_lower": 0.5, "c.crs.harrell_upper": 0.7,
               "c.crs_subtype.harrell_c": 0.66, "c.crs_subtype.harrell_lower": 0.55,
               "c.crs_subtype.harrell_upper": 0.77, "integrated.logrank.p": 0.2}  # fmt: skip
    median = pd.DataFrame({"group": ["low", "high"], "n": [2, 1], "events": [1, 1]})
    landmarks = pd.DataFrame({"group": ["low", "low", "high", "high"], "time": [1, 3, 1, 3],
                              "surv": [0.9, 0.8, 0.5, np.nan]})  # fmt: skip
    facts = run_facts(
        config, {"n_samples": 3}, samples,
        {"mrna": {"n_features_in": 10, "n_features_out": 9, "constant_dropped": ["X"]}},
        {"n_clusters": 3, "why": "the estimates agree on k = 3", "pac": {"3": 0.01}},
        pd.DataFrame({"subtype": [1, 2, 3], "name": ["immune", "stromal", "canonical"],
                      "n": [1, 1, 1]}),  # fmt: skip
        survival={"os": metrics}, integrated={"os": (landmarks, median)},
        run={"run_id": "abc123", "status": "FINISHED", "tracking_uri": "sqlite:///mlflow.db"},
        classify_best=pd.DataFrame([{"target": "snf_subtype", "model": "logistic",
                                     "feature_set": "all", "metric": "balanced_accuracy",
                                     "estimate": 0.9, "ci_low": 0.8, "ci_high": 1.0}]),
        suggested_names=pd.DataFrame({"subtype": [1, 2, 3],
                                      "name": ["immune", "stromal", "canonical"],
                                      "suggested": ["immune", "stromal", "none"]}),
    )  # fmt: skip
    return facts


def test_first_page_shows_the_run_facts(tmp_path):
    from metpot.summary import REPORT_FACTS_KEY, config_digest

    config = _demo(classify=SMALL_CLASSIFY)
    facts = _facts(config)
    assert json.loads(json.dumps(facts)) == facts  # JSON as written
    assert facts["samples"]["per_layer"] == {"mrna": 4, "mirna": 3}
    assert facts["config_sha256"] == config_digest({**config, REPORT_FACTS_KEY: {"x": 1}})
    assert facts["survival"]["os"]["integrated"]["landmark"] == "1"  # every group reaches 1 y
    page = REPORT_DIR / "workflow.rst"
    text = _render(page, {**config, REPORT_FACTS_KEY: {**facts, "stale": False, "path": "s.json"}})
    plain = re.sub(r"\s+", " ", text)
    assert "**3 analysed**" in plain and "1 not in every layer" in plain
    assert "**k = 3**: the estimates agree on k = 3" in plain
    assert "log-rank p = 0.012" in plain and "0.610 (0.500-0.700), + subtype 0.660" in plain
    assert "1-year survival low 90% (n = 2), high 50% (n = 1)" in plain
    assert "balanced accuracy 0.900 (0.800-1.000)" in plain
    assert "Gene sets suggest: immune → immune, stromal → stromal, canonical → none." in plain
    # the next item of the list stays on a line of its own
    assert re.search(r"canonical → none\.\s*\n- \*\*OS\*\*", text), text
    assert "``abc123``" in plain and "mlflow ui --backend-store-uri sqlite:///mlflow.db" in plain
    assert "No run facts yet" not in plain and "caution" not in plain
    stale = _render(page, {**config, REPORT_FACTS_KEY: {**facts, "stale": True, "path": "s.json"}})
    assert "caution: written under another configuration" in stale
    from docutils.core import publish_parts

    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})
    assert "system-message" not in html["html_body"]


def test_first_page_reads_the_facts_file_when_it_is_rendered(tmp_path):
    """The workflow hands the page a function (summary.report_facts), which reads
    summary.json when the page is rendered: a report built after the run in the run's own
    process shows the facts that run wrote."""
    import functools

    from metpot.summary import REPORT_FACTS_KEY, config_digest, report_facts

    config = _demo(classify=SMALL_CLASSIFY)
    page = REPORT_DIR / "workflow.rst"
    path = tmp_path / "summary.json"
    read = functools.partial(report_facts, str(path), config_digest(config))
    assert read() == {}
    assert "No run facts yet" in _render(page, {**config, REPORT_FACTS_KEY: read})
    facts = _facts(config)
    path.write_text(json.dumps(facts))  # written after the page was handed the function
    assert read() == {**facts, "stale": False, "path": str(path)}
    text = _render(page, {**config, REPORT_FACTS_KEY: read})
    as_dict = _render(page, {**config, REPORT_FACTS_KEY: read()})
    assert text == as_dict and "No run facts yet" not in text and "**3 analysed**" in text
    other = functools.partial(report_facts, str(path), config_digest({**config, "seed": 2}))
    assert other()["stale"] and report_facts(str(path), "")["stale"]
    stale = _render(page, {**config, REPORT_FACTS_KEY: other})
    assert "caution: written under another configuration" in stale
    path.write_text("[1, 2]")
    assert read() == {}


def test_doubts_about_k_are_warning_lines_of_the_summary_and_the_first_page():
    from docutils.core import publish_parts

    from metpot.clusters import k_doubts
    from metpot.summary import REPORT_FACTS_KEY, run_facts, run_summary

    config = _demo(classify={"enabled": False})
    ids = [f"P{i:03d}" for i in range(100)]
    labels = pd.Series([1, 2] * 43 + [1] * 7 + [3] * 7, index=ids)  # 3: the last 7
    names = {1: "canonical", 2: "stromal", 3: "immune"}
    doubts = k_doubts(labels, 3, [2, 3], "auto", 0.27, pac_max=0.1, min_size=10,
                      batch_chance=1e-3, order=ids, names=names)  # fmt: skip
    assert _rules(doubts) == ["largest_candidate", "pac", "small_subtype", "contiguous"]
    n_clusters = {
        "n_clusters": 3,
        "why": "the estimates agree on k = 3",
        "pac": {"3": 0.27},
        "doubts": json.loads(json.dumps(doubts)),
    }  # as read from n_clusters.json
    samples = pd.DataFrame(
        {"sample_id": ids, "status": "kept", "reason": "", "in_mrna": True, "in_mirna": True}
    )
    subtypes = pd.DataFrame({"subtype": [1, 2, 3], "name": list(names.values()), "n": [50, 43, 7]})
    args = (
        config,
        {"n_samples": 100},
        samples,
        {"mrna": {"n_features_in": 10, "n_features_out": 9}},
        n_clusters,
        subtypes,
    )
    text = run_summary(*args)
    warned = [ln.strip() for ln in text.splitlines() if "WARNING" in ln]
    assert warned == [f"WARNING: {d['message']}" for d in doubts]
    block = text.split("Subtypes: k = 3", 1)[1].split("\n\n", 1)[0]  # under the subtypes
    assert all(w in block for w in warned)
    facts = run_facts(*args)
    assert facts["subtypes"]["doubts"] == [
        {"rule": d["rule"], "message": d["message"]} for d in doubts
    ]
    page = _render(
        REPORT_DIR / "workflow.rst",
        {**config, REPORT_FACTS_KEY: {**facts, "stale": False, "path": "s.json"}},
    )
    plain = re.sub(r"\s+", " ", page)
    assert "**Doubts about k and the subtypes**" in plain
    assert all(d["message"] in plain for d in doubts)
    html = publish_parts(page, writer="html", settings_overrides={"report_level": 2})
    assert "system-message" not in html["html_body"]
    # without doubts: no warning line, no such item
    quiet = {**n_clusters, "doubts": []}
    assert "WARNING" not in run_summary(*args[:4], quiet, subtypes)
    facts = run_facts(*args[:4], quiet, subtypes)
    page = _render(
        REPORT_DIR / "workflow.rst",
        {**config, REPORT_FACTS_KEY: {**facts, "stale": False, "path": "s.json"}},
    )
    assert "Doubts about" not in page


def _rules(doubts):
    return [d["rule"] for d in doubts]


# ------------------------------------------------------------------------------- workflow

EXPECTED_FIGURES = [
    "fused_heatmap.svg",
    "cluster_number.svg",
    "consensus_cdf.svg",
    "km_subtype.svg",
    "km_integrated.svg",
    "forest.svg",
    "consensus_heatmap.svg",
    "silhouette.svg",
    "heatmap_mrna.svg",  # characterise
    "heatmap_mirna.svg",
    "gene_sets.svg",
    "affinity_heatmap_mrna.svg",
    "affinity_heatmap_mirna.svg",
    "consensus_matrices.svg",
    "pac.svg",
    "calibration_snf_subtype.svg",
    "calibration_os_landmark.svg",
    "signature_snf_subtype.svg",
]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """A small demo run and its report: (workdir, snakemake command prefix)."""
    tmp_path = tmp_path_factory.mktemp("report")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["demo"] = {"n_patients": 60, "seed": 11}
    config["clusters"]["consensus"] = {"resamples": 6, "chunks": 2, "seed": 1}
    config["survival"]["bootstrap"] = 20
    config["survival"]["cv_folds"] = 3
    config["classify"] = {  # small: one model, the signature, two targets
        "models": {"logistic": {"grid": {"C": [0.1]}}},
        "feature_sets": ["signature"],
        "signature": {"size": 12},
        "targets": ["snf_subtype", "os_landmark"],
        "outer": {"folds": 3, "repeats": 2},
        "inner": {"folds": 2},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    base = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
    ]  # fmt: skip
    # the report in the run's own process: the workflow is parsed before summary.json exists,
    # and the first page must still show this run's facts
    after = ["--cores", "2", "--report", "results/report.html", "--report-after-run"]
    run = subprocess.run([*base, *after], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    assert (tmp_path / "results" / "report.html").is_file()
    return tmp_path, base


@pytest.mark.slow
def test_demo_report_holds_every_figure_caption_and_category(demo_report):
    tmp_path, base = demo_report
    html = (tmp_path / "results" / "report.html").read_text()
    results = json.loads(re.search(r"var results = (\{.*?\});\n", html, re.S).group(1))
    names = {Path(p).name for p in results}
    assert set(EXPECTED_FIGURES) <= names, sorted(set(EXPECTED_FIGURES) - names)
    assert {"summary.txt", "subtypes.tsv", "concordance.tsv", "pac.tsv", "calibration.tsv"} <= names
    kms = [p for p in results if p.endswith("km_integrated.svg")]
    assert sorted(kms) == [
        "results/survival/os/km_integrated.svg",
        "results/survival/pfs/km_integrated.svg",
    ]
    for category in ("Data", "Subtypes", "Survival"):
        assert f'"{category}"' in html, category
    km = results["results/survival/pfs/km_subtype.svg"]
    assert km["labels"] == {"endpoint": "pfs", "grouping": "subtype", "kind": "Kaplan-Meier figure"}
    assert "progression-free survival (PFS)" in km["caption"]
    assert "shown in years" in km["caption"] and "1, 3, 5, 10 years" in km["caption"]
    desc = re.search(r"var workflow_desc = (\".*?\");\n", html, re.S).group(1)
    desc = json.loads(desc)
    assert "SYNTHETIC" in desc and "60 patients" in desc
    assert "mlflow ui --backend-store-uri" in re.sub(r"<[^>]+>", "", desc)
    run_id = json.loads((tmp_path / "results" / "mlflow_run.json").read_text())["run_id"]
    assert run_id in (tmp_path / "results" / "summary.txt").read_text()
    lint = subprocess.run([*base, "--lint"], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    assert "Lints for" not in lint.stdout + lint.stderr


def _workflow_desc(html: str) -> str:
    desc = json.loads(re.search(r"var workflow_desc = (\".*?\");\n", html, re.S).group(1))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", desc))


@pytest.mark.slow
def test_demo_report_first_page_and_new_tables_hold_the_runs_numbers(demo_report):
    import pandas as pd

    from metpot.consensus import pac

    tmp_path, base = demo_report
    results = tmp_path / "results"
    first = _workflow_desc((results / "report.html").read_text())
    k = json.loads((results / "clusters" / "n_clusters.json").read_text())["n_clusters"]
    n = json.loads((results / "ingest" / "metrics.json").read_text())["n_samples"]
    run_id = json.loads((results / "mlflow_run.json").read_text())["run_id"]
    assert f"{n} analysed" in first and n == 60
    assert f"k = {k}:" in first and run_id in first
    assert "No run facts yet" not in first and "caution" not in first
    assert "balanced accuracy" in first and "Harrell's C" in first
    # PAC of the chosen k from its consensus matrix, counted directly
    M = pd.read_parquet(results / "clusters" / "consensus_matrix.parquet").to_numpy()
    upper = M[np.triu_indices(len(M), 1)]
    table = pd.read_csv(results / "clusters" / "pac.tsv", sep="\t").set_index("k")
    assert table.loc[k, "pac"] == pytest.approx(np.mean((upper > 0.1) & (upper <= 0.9)), abs=5e-7)
    assert table.loc[k, "pac"] == pytest.approx(pac(M), abs=5e-7) and table.loc[k, "chosen"]
    assert list(table.index) == [2, 3, 4, 5, 6]
    # the calibration table's observed fractions, from the out-of-fold probabilities
    text = {"truth": str, "sample": str}
    preds = pd.read_csv(results / "classify" / "predictions.tsv", sep="\t", dtype=text)
    calib = pd.read_csv(results / "classify" / "calibration.tsv", sep="\t", dtype={"class": str})
    assert set(calib["target"]) == {"snf_subtype", "os_landmark"}
    assert set(calib.loc[calib["target"] == "os_landmark", "class"]) == {"1"}
    for (target, cls), _ in calib.groupby(["target", "class"]):
        part = preds[preds["target"] == target]
        assert len(part) == 2 * part["sample"].nunique()  # every repeat's predictions pooled
        _chunks_match(calib[calib["target"] == target], part, cls, f"prob:{cls}")
    # the facts never change what a run computes: nothing to rerun after the report
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    # a report built under another config than the run's says its facts are not this config's
    other = [*base, "--config", "seed=2", "--report", "results/other.html"]
    rep = subprocess.run(other, capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "caution: written under another configuration" in _workflow_desc(
        (results / "other.html").read_text()
    )


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_report_loads_in_headless_chromium_without_console_errors(demo_report):
    tmp_path, _ = demo_report
    url = (tmp_path / "results" / "report.html").as_uri()
    shot = tmp_path / "report.png"
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
        "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=300)
    assert dom.returncode == 0, dom.stderr[-3000:]
    # the React app rendered the first page (workflow.rst) and the categories (scripts, which
    # hold the same text as data, are left out)
    rendered = re.sub(r"<script\b.*?</script>", "", dom.stdout, flags=re.S)
    assert "This cohort is SYNTHETIC" in re.sub(r"<[^>]+>", "", rendered)
    for category in ("Data", "Subtypes", "Survival"):
        assert f">{category}<" in rendered, category
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    errors = [ln for ln in console if re.search(r"Uncaught|Error|ERROR:CONSOLE", ln)]
    assert not errors, errors
    png = subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=300)
    assert png.returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
