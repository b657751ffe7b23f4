"""NTP recipes (score.ntp.pool) and scoring with a published template (score.ntp.templates)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from metpot import score as S
from metpot.errors import DataWarning, MetpotError


def _cohort(n=45, p=40, seed=3):
    """Three classes a, b, c up in features g0-g3, g4-g7, g8-g11; 40 features in all."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"] * (n // 3))
    X = rng.normal(0.0, 1.0, size=(n, p))
    for k in range(3):
        X[y == "abc"[k], 4 * k : 4 * (k + 1)] += 2.5
    ids = [f"S{i:02d}" for i in range(n)]
    return pd.DataFrame(X, index=ids, columns=[f"g{j}" for j in range(p)]), pd.Series(y, ids)


def _table(rows, path=None):
    t = pd.DataFrame(rows, columns=["class", "feature"])
    t["layer"] = ""
    if path:
        t.attrs["path"] = str(path)
    return t


ROWS = [(c, f"g{4 * k + j}") for k, c in enumerate("abc") for j in range(4)]


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*a, **k)


def test_recipes_give_the_same_calls_and_distances_but_other_p_values():
    X, y = _cohort()
    t = _table(ROWS)
    allg, info_a = _quiet(S.ntp_predict, {"mrna": X}, templates=t, n_perm=200, seed=1)
    mark, info_m = _quiet(
        S.ntp_predict, {"mrna": X}, templates=t, n_perm=200, seed=1, pool="markers"
    )
    assert info_a["pool"] == "all_genes" and info_a["pool_size"] == 40
    assert info_m["pool"] == "markers" and info_m["pool_size"] == 12
    assert (allg["prediction"] == y).mean() > 0.9
    pd.testing.assert_series_equal(allg["prediction"], mark["prediction"])
    for c in "abc":
        np.testing.assert_allclose(allg[f"d_{c}"], mark[f"d_{c}"], rtol=0, atol=1e-12)
    assert not np.allclose(allg["p_value"], mark["p_value"])


def test_cmscaller_recipe_repeats_shared_markers_and_drops_incomplete_features():
    X, _ = _cohort()
    X.iloc[3, 1] = np.nan  # g1, a marker of a
    X.iloc[7, 30] = np.nan  # g30, not a marker
    rows = [*ROWS, ("b", "g0")]  # g0 marks a and b
    t = _table(rows)
    with pytest.warns(DataWarning) as rec:
        res, info = S.ntp_predict({"mrna": X}, templates=t, n_perm=50, seed=1)
    text = " | ".join(str(w.message) for w in rec)
    assert "2 feature(s) with missing values or no variance dropped" in text
    assert "1 of them markers: mrna:g1" in text
    assert info["pool_size"] == 38 and info["n_markers"] == {"a": 3, "b": 5, "c": 4}
    # the distances of CMScaller's recipe, by hand: g0 counted twice, one 1 per class
    Z = (X - X.mean()) / X.std(ddof=1)
    feats = ["g0", "g2", "g3", "g4", "g5", "g6", "g7", "g0", "g8", "g9", "g10", "g11"]
    cls = ["a"] * 3 + ["b"] * 5 + ["c"] * 4
    v = Z[feats].to_numpy()
    for c in "abc":
        tc = np.array([1.0 if k == c else 0.0 for k in cls])
        cos = v @ tc / (np.linalg.norm(v, axis=1) * np.linalg.norm(tc))
        np.testing.assert_allclose(res[f"d_{c}"], 1 - cos, rtol=0, atol=1e-12)
    # MOVICS's recipe keeps g1 (its missing cell set to 0) and g0 is one row
    mark, info_m = _quiet(
        S.ntp_predict, {"mrna": X}, templates=t, n_perm=50, seed=1, pool="markers"
    )
    assert info_m["n_markers"] == {"a": 4, "b": 5, "c": 4} and info_m["pool_size"] == 12
    assert not np.allclose(mark["d_b"], res["d_b"])


def test_templates_with_two_classes_get_minus_one_off_class_in_both_recipes():
    T = _quiet(S.ntp_templates, [("a", "x"), ("a", "y"), ("b", "y"), ("b", "z")], ["x", "y", "z"])
    assert T.index.tolist() == ["x", "y", "z"] and T.loc["y"].tolist() == [1.0, 1.0]
    R = _quiet(
        S.ntp_templates,
        [("a", "x"), ("a", "y"), ("b", "y"), ("b", "z")],
        ["x", "y", "z"],
        repeat_shared=True,
    )
    assert R.index.tolist() == ["x", "y", "y", "z"]
    assert R.to_numpy().tolist() == [[1, -1], [1, -1], [-1, 1], [-1, 1]]


# ------------------------------------------------------------- template files


def _write(tmp_path, text, name="t.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, needle",
    [
        ("klass\tfeature\na\tg0\n", r"t\.tsv: NTP templates need the column\(s\) class"),
        ("class\tfeature\na\tg0\n\tg1\nb\tg4\n", r"t\.tsv: line 3: empty 'class'"),
        ("class\tfeature\na\tg0\nb\t\n", r"t\.tsv: line 3: empty 'feature'"),
        ("class\tfeature\na\tg0\na\tg1\na\tg0\n", r"t\.tsv: feature 'g0' is listed twice .*2, 4"),
        ("class\tfeature\na\tg0\na\tg1\n", r"t\.tsv: NTP templates need at least two classes"),
        ("class\tfeature\n", r"t\.tsv: no data rows"),
    ],
)
def test_bad_template_files_get_one_line_errors_naming_file_and_value(tmp_path, text, needle):
    with pytest.raises(MetpotError, match=needle) as err:
        S.read_templates(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_template_features_are_checked_against_the_cohort(tmp_path):
    X, _ = _cohort()
    path = _write(tmp_path, "class\tfeature\tsymbol\n" + "".join(f"{c}\t{f}\tx\n" for c, f in ROWS))
    t = S.read_templates(path)
    assert t.columns.tolist() == ["class", "feature", "layer"] and len(t) == 12
    # ids of another kind: not one found
    other = X.rename(columns=lambda c: c.upper())
    with pytest.raises(MetpotError, match=r"t\.tsv: none of the 12 marker features .*G0"):
        S.ntp_predict({"mrna": other}, templates=t, n_perm=20)
    # a few missing: a coverage warning naming them; a class left with 1 marker: an error
    with pytest.warns(DataWarning, match=r"2 of 12 marker\(s\) are absent .*mrna:g0, mrna:g1"):
        _quiet_unstable = S.ntp_predict({"mrna": X.drop(columns=["g0", "g1"])}, templates=t)
    assert _quiet_unstable[1]["n_markers"]["a"] == 2
    with pytest.raises(MetpotError, match=r"fewer than 2 markers in the new cohort: a \(1\)"):
        _quiet(S.ntp_predict, {"mrna": X.drop(columns=["g0", "g1", "g2"])}, templates=t)
    # several layers: the file must say which
    two = {"mrna": X, "mirna": X.iloc[:, :5].add_prefix("m")}
    with pytest.raises(MetpotError, match=r"t\.tsv: the cohort has 2 layers .*'layer' column"):
        S.ntp_predict(two, templates=t)
    t2 = S.read_templates(
        _write(
            tmp_path,
            "class\tfeature\tlayer\n" + "".join(f"{c}\t{f}\tmrna\n" for c, f in ROWS),
            "t2.tsv",
        )
    )
    res, info = _quiet(S.ntp_predict, two, templates=t2, n_perm=20)
    assert info["pool_size"] == 40  # the layer of the markers only
    t2.loc[0, "layer"] = "rna"
    with pytest.raises(MetpotError, match=r"t2\.tsv: column 'layer': rna not a layer"):
        S.ntp_predict(two, templates=t2)


def test_score_cohort_with_templates_needs_no_model_and_only_ntp(tmp_path):
    X, y = _cohort()
    path = _write(tmp_path, "class\tfeature\n" + "".join(f"{c}\t{f}\n" for c, f in ROWS))
    t = S.read_templates(path)
    out, summary = _quiet(S.score_cohort, None, {}, {"mrna": X}, method="ntp", templates=t)
    assert out.columns.tolist()[:2] == ["sample_id", "prediction"]
    assert {"d_a", "d_b", "d_c", "p_value", "fdr", "flag"} <= set(out.columns)
    assert summary["classes"] == ["a", "b", "c"] and summary["templates"] == str(path)
    assert summary["ntp"]["pool"] == "all_genes"
    with pytest.raises(MetpotError, match="method ntp only, got method 'classifier'"):
        S.score_cohort(None, {}, {"mrna": X}, templates=t)


def test_one_off_cli_scores_with_a_template_file(tmp_path, capsys):
    from metpot.cli import main

    X, y = _cohort()
    data = tmp_path / "x.tsv"
    X.T.to_csv(data, sep="\t")
    tpl = _write(tmp_path, "class\tfeature\n" + "".join(f"{c}\t{f}\n" for c, f in ROWS))
    out = tmp_path / "out"
    code = main(["score", "--templates", str(tpl), "--omics", f"mrna={data}", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    pred = pd.read_csv(out / "predictions.tsv", sep="\t", index_col="sample_id")
    assert (pred["prediction"] == y).mean() > 0.9
    assert {"d_a", "p_value", "fdr", "flag"} <= set(pred.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "ntp" and summary["templates"] == str(tpl)
    bad = _write(tmp_path, "class\tgene\na\tg0\n", "bad.tsv")
    code = main(["score", "--templates", str(bad), "--omics", f"mrna={data}", "--out", str(out)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if "ERROR" in ln]
    assert code == 1 and len(err) == 1 and "bad.tsv" in err[0] and "feature" in err[0], err


def test_config_templates_need_method_ntp_and_replace_the_model():
    from pathlib import Path

    from metpot.config import config_problems
    from metpot.manifest import step

    schema = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    cohorts = {"new": {"omics": {"mrna": {"path": "new.tsv"}}}}
    cfg = {
        "cohort": {"name": "x", "omics": {"mrna": {"path": "a.tsv"}}},
        "score": {"cohorts": cohorts, "ntp": {"templates": "cms.tsv"}},
    }
    problems = config_problems(cfg, schema)
    assert any("score.ntp.templates" in p and "score.method: ntp" in p for p in problems)
    cfg = {
        "cohort": {"name": "x", "omics": {"mrna": {"path": "a.tsv"}}},
        "score": {"cohorts": cohorts, "method": "ntp", "ntp": {"templates": "cms.tsv"}},
    }
    assert config_problems(cfg, schema) == []
    assert cfg["score"]["ntp"]["pool"] == "all_genes"
    files = step("score", cfg, cohort="new")
    assert files.inputs["templates"] == "cms.tsv"
    assert "cards" not in files.inputs and "model" not in files.inputs
