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
]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """A small demo run (classify off) and its report: (workdir, snakemake command prefix)."""
    tmp_path = tmp_path_factory.mktemp("report")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["demo"] = {"n_patients": 60, "seed": 11}
    config["clusters"]["consensus"] = {"resamples": 6, "chunks": 2, "seed": 1}
    config["survival"]["bootstrap"] = 20
    config["survival"]["cv_folds"] = 3
    config["classify"] = {"enabled": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    base = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
    ]  # fmt: skip
    run = subprocess.run([*base, "--cores", "2"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    rep = subprocess.run([*base, "--report", "results/report.html"], capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr[-4000:]
    return tmp_path, base


@pytest.mark.slow
def test_demo_report_holds_every_figure_caption_and_category(demo_report):
    tmp_path, base = demo_report
    html = (tmp_path / "results" / "report.html").read_text()
    results = json.loads(re.search(r"var results = (\{.*?\});\n", html, re.S).group(1))
    names = {Path(p).name for p in results}
    assert set(EXPECTED_FIGURES) <= names, sorted(set(EXPECTED_FIGURES) - names)
    assert {"summary.txt", "subtypes.tsv", "concordance.tsv"} <= names
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
