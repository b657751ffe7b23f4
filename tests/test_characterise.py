"""Subtype characterisation: differential features (Mann-Whitney U, BH FDR), gene-set scores,
tests and suggested names, their figures, and the step's files."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import kruskal, mannwhitneyu

from metpot import characterise as ch
from metpot import manifest
from metpot.config import load_config
from metpot.errors import DataWarning, MetpotError
from metpot.plots import gene_set_plot, marker_heatmap

ROOT = Path(__file__).resolve().parents[1]


def _planted(seed=0, n_per=20, n_null=300, n_planted=10, shift=2.5):
    """3 subtypes x n_per samples; n_planted features higher in subtype 2, the rest null."""
    rng = np.random.default_rng(seed)
    labels = pd.Series(np.repeat([1, 2, 3], n_per), index=[f"s{i:03d}" for i in range(3 * n_per)])
    cols = [f"P{i}" for i in range(n_planted)] + [f"N{i}" for i in range(n_null)]
    X = pd.DataFrame(rng.normal(size=(len(labels), len(cols))), index=labels.index, columns=cols)
    X.loc[labels == 2, cols[:n_planted]] += shift
    return X, labels


def _bh(p):
    """Benjamini-Hochberg by hand: q_(i) = min_{j >= i} p_(j) m / j, at most 1."""
    p = np.asarray(p, float)
    m = p.size
    order = np.argsort(p)
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def test_planted_features_are_found_and_null_features_mostly_not():
    X, labels = _planted()
    table = ch.differential_features(X, labels, "rna", {2: "immune"})
    assert list(table.columns) == ch.DIFFERENTIAL_COLUMNS
    assert len(table) == 3 * X.shape[1]
    two = table[table["subtype"] == 2].set_index("feature")
    planted = [c for c in X.columns if c.startswith("P")]
    assert (two.loc[planted, "fdr"] < 0.05).all()
    assert (two.loc[planted, "direction"] == "up").all()
    assert set(two.loc[planted, "rank"]) == set(range(1, len(planted) + 1))
    assert (two["name"] == "immune").all()
    null = table[table["feature"].str.startswith("N")]
    assert (null["fdr"] < 0.05).mean() < 0.02  # 900 null tests
    # means and their difference on the given scale
    s2 = (labels == 2).to_numpy()
    np.testing.assert_allclose(two.loc["P0", "mean_in"], X.loc[s2, "P0"].mean(), rtol=1e-12)
    np.testing.assert_allclose(two.loc["P0", "mean_out"], X.loc[~s2, "P0"].mean(), rtol=1e-12)
    np.testing.assert_allclose(
        two.loc["P0", "difference"], two.loc["P0", "mean_in"] - two.loc["P0", "mean_out"]
    )
    top = ch.top_features(table, top=5, fdr=0.05)
    up2 = top[(top["subtype"] == 2) & (top["direction"] == "up")]
    assert up2["rank"].tolist() == [1, 2, 3, 4, 5] and set(up2["feature"]) <= set(planted)
    assert (top["fdr"] < 0.05).all()
    assert top.groupby(["layer", "subtype", "direction"]).size().max() <= 5


def test_p_values_equal_a_per_feature_scipy_loop():
    """Ties, missing cells and a small subtype (exact p where scipy's 'auto' picks it)."""
    rng = np.random.default_rng(4)
    labels = pd.Series([1] * 5 + [2] * 30 + [3] * 12, index=[f"s{i}" for i in range(47)])
    X = pd.DataFrame(rng.normal(size=(47, 60)), index=labels.index)
    X.columns = [f"f{j}" for j in range(60)]
    X.iloc[:, :20] = np.round(X.iloc[:, :20] * 2) / 2  # ties
    X.iloc[:, 5:10] += (labels == 1).to_numpy()[:, None] * 2.0
    X.iloc[3, 30] = X.iloc[40, 31] = X.iloc[0, 32] = np.nan  # missing cells
    table = ch.differential_features(X, labels, "x")
    for (k, feature), row in table.set_index(["subtype", "feature"]).iterrows():
        v = X[feature]
        inside = (labels == k) & v.notna()
        rest = (labels != k) & v.notna()
        ref = mannwhitneyu(v[inside], v[rest])  # scipy's defaults: two-sided, method 'auto'
        assert row["n_in"] == inside.sum() and row["n_out"] == rest.sum()
        np.testing.assert_allclose(row["p_value"], ref.pvalue, rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            row["auc"], ref.statistic / (inside.sum() * rest.sum()), rtol=1e-12
        )
    # the exact method was used somewhere (small subtype, no ties) and differs from asymptotic
    f = "f25"
    v = X[f]
    a, b = v[labels == 1], v[labels != 1]
    exact = mannwhitneyu(a, b, method="exact").pvalue
    row = table[(table["subtype"] == 1) & (table["feature"] == f)].iloc[0]
    assert row["p_value"] == pytest.approx(exact, rel=1e-12)
    assert exact != pytest.approx(mannwhitneyu(a, b, method="asymptotic").pvalue, rel=1e-6)


def test_fdr_is_benjamini_hochberg_within_each_subtype_and_layer():
    X, labels = _planted(seed=2, n_null=80)
    table = ch.differential_features(X, labels, "rna")
    for _, g in table.groupby("subtype"):
        np.testing.assert_allclose(g["fdr"], _bh(g["p_value"]), rtol=1e-12, atol=0)
    q = ch.benjamini_hochberg([0.01, np.nan, 0.04, 0.03])
    np.testing.assert_allclose(q[[0, 2, 3]], _bh([0.01, 0.04, 0.03]))
    assert np.isnan(q[1])


def test_constant_and_empty_features_are_named_and_left_out():
    X, labels = _planted(n_null=20)
    X["FLAT"] = 3.0
    X["GONE"] = np.nan
    with pytest.warns(DataWarning) as record:
        table = ch.differential_features(X, labels, "rna")
    messages = " | ".join(str(w.message) for w in record)
    assert "layer rna: 1 constant feature(s) not tested: FLAT" in messages
    assert "GONE" in messages
    assert not {"FLAT", "GONE"} & set(table["feature"])
    with pytest.raises(MetpotError, match="layer rna: no feature can be tested"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            ch.differential_features(X[["FLAT"]], labels, "rna")
    with pytest.raises(MetpotError, match="without a subtype: s000"):
        ch.one_vs_rest(X, labels.iloc[1:])


def test_analysed_layer_applies_only_the_transform():
    X = pd.DataFrame({"a": [0.0, 1.0, 3.0, np.nan]})
    np.testing.assert_allclose(ch.analysed_layer(X, "log2")["a"], [0, 1, 2, np.nan])
    assert ch.analysed_layer(X, "none") is X
    with pytest.raises(MetpotError, match="layer m: log2 transform needs non-negative"):
        ch.analysed_layer(-X, "log2", "m")


def _demo_sets() -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return config["characterise"]["gene_sets"]


def test_suggested_names_recover_the_planted_programmes_of_a_simulated_cohort():
    from metpot.simulate import simulate_cohort

    cohort = simulate_cohort(n_patients=90, seed=3)
    X = cohort["mrna"].T
    truth = cohort["truth"].set_index("sample_id")["label"]
    codes = {"canonical": 1, "immune": 2, "stromal": 3}
    labels = truth.map(codes)
    names = {v: k for k, v in codes.items()}
    scores = ch.gene_set_scores(X, _demo_sets(), "mrna")
    assert list(scores.columns) == ["immune", "stromal", "proliferation"]
    tests = ch.gene_set_tests(scores, labels, names)
    kw = tests[tests["test"] == "kruskal_wallis"].set_index("gene_set")
    assert (kw["fdr"] < 0.05).all()
    s = scores["immune"]
    ref = kruskal(*[s[labels == k] for k in (1, 2, 3)])
    assert kw.loc["immune", "p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    ovr = tests[tests["test"] == "mann_whitney"]
    np.testing.assert_allclose(ovr["fdr"], _bh(ovr["p_value"]), rtol=1e-12)
    suggested = ch.suggest_names(tests, fdr=0.05).set_index("name")["suggested"].to_dict()
    assert suggested == {"canonical": "proliferation", "immune": "immune", "stromal": "stromal"}


def test_suggestions_may_be_shared_or_none_and_say_so():
    rng = np.random.default_rng(1)
    labels = pd.Series(np.repeat([1, 2, 3, 4], 25), index=[f"s{i}" for i in range(100)])
    genes = [f"A{i}" for i in range(5)] + [f"B{i}" for i in range(5)]
    X = pd.DataFrame(rng.normal(size=(100, 10)), index=labels.index, columns=genes)
    X.loc[labels.isin([1, 2]), genes[:5]] += 2.0  # set a high in subtypes 1 and 2
    X.loc[labels == 3, genes[5:]] += 2.0  # set b high in subtype 3; subtype 4: none
    sets = {"a": genes[:5], "b": genes[5:]}
    names = {1: "one", 2: "two", 3: "three", 4: "four"}
    tests = ch.gene_set_tests(ch.gene_set_scores(X, sets), labels, names)
    out = ch.suggest_names(tests, 0.05).set_index("name")
    assert out["suggested"].to_dict() == {"one": "a", "two": "a", "three": "b", "four": "none"}
    assert out.loc["one", "shared_with"] == "two" and out.loc["two", "shared_with"] == "one"
    assert "also suggested for two" in out.loc["one", "note"]
    assert out.loc["three", "shared_with"] == "" and out.loc["four", "note"] != ""


def test_gene_set_messages_name_the_config_key_and_the_genes():
    X, _ = _planted(n_null=5)
    with pytest.warns(DataWarning, match=r"characterise.gene_sets.s: 2 feature\(s\) not in "
                      r"layer rna: GHOST1, GHOST2"):  # fmt: skip
        ch.gene_set_scores(X, {"s": ["P0", "GHOST1", "GHOST2"]}, "rna")
    with pytest.raises(MetpotError, match="^characterise.gene_sets.bogus: none of its features "
                       "is in layer rna$"):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            ch.gene_set_scores(X, {"bogus": ["NOPE"]}, "rna")


def test_validate_names_a_gene_set_without_genes(tmp_path):
    from metpot.validate import check

    rng = np.random.default_rng(0)
    samples = [f"s{i}" for i in range(30)]
    for layer, feats in (("a", ["G1", "G2", "G3"]), ("b", ["m1", "m2"])):
        frame = pd.DataFrame(rng.normal(size=(len(feats), 30)), index=feats, columns=samples)
        frame.to_csv(tmp_path / f"{layer}.tsv", sep="\t", index_label="feature")
    config = {
        "cohort": {
            "name": "x",
            "omics": {n: {"path": str(tmp_path / f"{n}.tsv")} for n in ("a", "b")},
        },
        "snf": {"K": 5},
        "characterise": {"layer": "a", "gene_sets": {"ok": ["G1", "X9"], "empty": ["Z1"]}},
    }
    problems = check(config)
    errors = [p.message for p in problems if p.level == "error"]
    warns = [p.message for p in problems if p.level == "warning"]
    assert errors == ["characterise.gene_sets.empty: none of its features is in layer a (e.g. Z1)"]
    assert warns == ["characterise.gene_sets.ok: 1 feature(s) not in layer a: X9"]
    bad = {**config, "characterise": {"layer": "c"}}
    assert any("characterise.layer: no omics layer named 'c'" in p.message for p in check(bad))


def test_the_step_declares_gene_set_files_only_with_gene_sets():
    config = load_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    files = manifest.step("characterise", config)
    assert "characterise" in manifest.analysis_steps(config)
    out = files.output_paths()
    assert out["differential_mrna"] == "results/characterise/differential_mrna.tsv"
    assert {"heatmap_mirna_svg", "heatmap_mirna_png", "top_features", "metrics"} <= set(out)
    assert files.outputs["gene_set_scores"].kind == "patient"
    assert files.outputs["suggested_names"].report.subcategory == "Characterisation"
    assert manifest.characterise_layer(config) == "mrna"
    assert files.inputs["layer_mrna"] == "results/ingest/mrna.parquet"
    plain = load_config(
        {"cohort": {"name": "x", "omics": {"a": {"path": "a"}, "b": {"path": "b"}}}}
    )
    out = manifest.step("characterise", plain).output_paths()
    assert "gene_set_scores" not in out and "differential_b" in out
    assert manifest.characterise_layer(plain) == "a"
    assert plain["characterise"] == {"top": 20, "fdr": 0.05, "gene_sets": {}}


def test_metpot_characterise_writes_its_declared_files(tmp_path, capsys):
    from metpot.cli import main

    X, labels = _planted(n_null=40)
    X2 = pd.DataFrame(
        np.random.default_rng(9).gamma(2.0, 2.0, size=(len(labels), 30)),
        index=pd.Index(labels.index, name="sample_id"),
        columns=[f"m{i}" for i in range(30)],
    )
    X.index.name = "sample_id"
    X.to_parquet(tmp_path / "rna.parquet")
    X2.to_parquet(tmp_path / "mir.parquet")
    pd.DataFrame({"sample_id": labels.index, "subtype": labels.to_numpy()}).to_csv(
        tmp_path / "assignments.tsv", sep="\t", index=False
    )
    pd.DataFrame({"subtype": [1, 2, 3], "name": ["c", "i", "s"], "n": [20] * 3}).to_csv(
        tmp_path / "subtypes.tsv", sep="\t", index=False
    )
    config = load_config(
        {
            "output_dir": str(tmp_path / "out"),
            "cohort": {"name": "x", "omics": {"rna": {"path": "r"}, "mir": {"path": "m"}}},
            "preprocess": {"omics": {"mir": {"transform": "log2"}}},
            "characterise": {"top": 3, "gene_sets": {"planted": ["P0", "P1", "P2", "GHOST"]}},
        }
    )
    files = manifest.step("characterise", config)
    args = ["characterise", "--config", json.dumps(config)]
    inputs = {
        "layer_rna": tmp_path / "rna.parquet",
        "layer_mir": tmp_path / "mir.parquet",
        "assignments": tmp_path / "assignments.tsv",
        "subtypes": tmp_path / "subtypes.tsv",
    }
    assert set(inputs) == set(files.inputs)
    for key, path in inputs.items():
        args += ["--input", f"{key}={path}"]
    for key, path in files.output_paths().items():
        args += ["--output", f"{key}={path}"]
    assert main(args) == 0
    assert all(Path(p).is_file() for p in files.output_paths().values())
    top = pd.read_csv(files.outputs["top_features"].path, sep="\t")
    up = top[(top["layer"] == "rna") & (top["subtype"] == 2) & (top["direction"] == "up")]
    assert len(up) == 3 and up["feature"].str.startswith("P").all() and (up["name"] == "i").all()
    mir = pd.read_csv(files.outputs["differential_mir"].path, sep="\t")
    first = mir[(mir["subtype"] == 1) & (mir["feature"] == "m0")].iloc[0]
    inside = (labels == 1).to_numpy()
    assert first["mean_in"] == pytest.approx(np.log2(X2["m0"][inside] + 1).mean(), rel=1e-12)
    names = pd.read_csv(files.outputs["suggested_names"].path, sep="\t")
    assert names.set_index("name")["suggested"].to_dict() == {
        "c": "none",
        "i": "planted",
        "s": "none",
    }
    metrics = json.loads(Path(files.outputs["metrics"].path).read_text())
    assert metrics["suggested.subtype2"] == "planted" and metrics["rna.n_tested"] == 50
    # a gene set without a gene of the layer: one line naming the key, and no output at all
    config["output_dir"] = str(tmp_path / "bad")
    config["characterise"]["gene_sets"] = {"bogus": ["NOPE"]}
    bad = manifest.step("characterise", config).output_paths()
    args = ["characterise", "--config", json.dumps(config)]
    args += [a for key, path in inputs.items() for a in ("--input", f"{key}={path}")]
    args += [a for key, path in bad.items() for a in ("--output", f"{key}={path}")]
    assert main(args) == 1
    assert "characterise.gene_sets.bogus: none of its features" in capsys.readouterr().err
    assert not any(Path(p).exists() for p in bad.values())


def test_marker_heatmap_groups_the_up_features_by_subtype_and_the_samples_too():
    X, labels = _planted(n_null=30)
    shuffled = X.sample(frac=1.0, random_state=0)  # sample order of X must not matter
    table = ch.differential_features(X, labels, "rna", {1: "a", 2: "b", 3: "c"})
    top = ch.top_features(table, top=4, fdr=0.05)
    fig = marker_heatmap(shuffled, labels, top, {1: "a", 2: "b", 3: "c"}, "t")
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    up = top[top["direction"] == "up"].drop_duplicates("feature")
    assert rows == up.sort_values(["subtype", "rank"])["feature"].tolist()
    Z = ax.images[0].get_array()
    assert Z.shape == (len(rows), len(X))
    # columns ordered by subtype: the planted rows are high exactly in subtype 2's block
    p0 = Z[rows.index("P0")] if "P0" in rows else Z[0]
    block = np.sort(labels.loc[shuffled.index].to_numpy(), kind="stable") == 2
    assert p0[block].mean() > 1.0 > p0[~block].mean() + 1.0
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["a (n=20)", "b (n=20)", "c (n=20)"]
    empty = marker_heatmap(X, labels, top.iloc[:0], empty_note="nothing at FDR < 0.05")
    assert "nothing at FDR < 0.05" in [t.get_text() for t in empty.axes[0].texts]


def test_gene_set_plot_has_one_panel_per_set_with_its_fdr():
    X, labels = _planted(n_null=10)
    scores = ch.gene_set_scores(X, {"planted": ["P0", "P1"], "null": ["N0", "N1"]})
    tests = ch.gene_set_tests(scores, labels, {1: "a", 2: "b", 3: "c"})
    fig = gene_set_plot(scores, labels, tests, {1: "a", 2: "b", 3: "c"}, 0.05)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("planted\nKruskal-Wallis FDR") and titles[1].startswith("null")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
    stars = [t for t in fig.axes[0].texts if t.get_text() == "*"]
    assert len(stars) == 1 and stars[0].get_position()[0] == 2  # subtype b only


def test_summary_lists_differential_counts_and_suggested_names():
    from metpot.summary import _characterise_lines

    config = load_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    subtypes = pd.DataFrame({"subtype": [1, 2], "name": ["immune", "stromal"], "n": [5, 6]})
    metrics = {"fdr": 0.05, "mrna.n_tested": 9, "mrna.subtype1.n_up": 4}
    metrics |= {"mrna.subtype1.n_down": 1, "mrna.subtype2.n_up": 0, "mrna.subtype2.n_down": 2}
    suggested = pd.DataFrame(
        {"name": ["immune", "stromal"], "suggested": ["immune", "immune"],
         "shared_with": ["stromal", "immune"]}
    )  # fmt: skip
    lines = _characterise_lines(config, subtypes, metrics, suggested)
    assert lines == [
        "  differential features at FDR < 0.05 (up/down in the subtype):",
        "    mrna: immune 4/1, stromal 0/2",
        "  gene sets (mrna) suggest: immune -> immune (shared with stromal), "
        "stromal -> immune (shared with immune)",
    ]
