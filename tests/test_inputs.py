"""Bad input: each case is a one-line error naming the file and what is wrong, a non-zero
exit, and no output; real-data blemishes are warnings and the run goes on."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from metpot.cli import main
from metpot.errors import DataWarning, MetpotError
from metpot.io import read_omics, read_table

SAMPLES = [f"S{i:02d}" for i in range(12)]


def write_layer(path, n_features=6, samples=SAMPLES, seed=0, sep="\t"):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.normal(size=(n_features, len(samples))),
        index=[f"g{i}" for i in range(n_features)],
        columns=samples,
    )
    frame.index.name = "feature"
    frame.to_csv(path, sep=sep)
    return frame


def write_clinical(path, samples=SAMPLES, **columns):
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "sample_id": samples,
            "os_months": rng.uniform(1, 100, len(samples)).round(1),
            "os_event": [i % 2 for i in range(len(samples))],
        }
    )
    for name, values in columns.items():
        table[name] = values
    table.to_csv(path, sep="\t", index=False)
    return table


@pytest.fixture
def cohort(tmp_path):
    write_layer(tmp_path / "mrna.tsv")
    write_layer(tmp_path / "mirna.tsv", n_features=4, seed=1)
    write_clinical(tmp_path / "clinical.tsv")
    cfg = {
        "cohort": {
            "name": "t",
            "omics": {
                "mrna": {"path": str(tmp_path / "mrna.tsv"), "layout": "features_x_samples"},
                "mirna": {"path": str(tmp_path / "mirna.tsv"), "layout": "features_x_samples"},
            },
            "clinical": {
                "path": str(tmp_path / "clinical.tsv"),
                "sample_id": "sample_id",
                "time": "os_months",
                "event": "os_event",
                "event_value": 1,
                "time_unit": "months",
            },
        }
    }
    return tmp_path, cfg


def write_config(tmp_path, cfg):
    """A user's config file with output_dir in tmp_path/out."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**cfg, "output_dir": str(tmp_path / "out")}))
    return str(path)


def run_ingest(tmp_path, cfg, capsys):
    code = main(["ingest", "--config", write_config(tmp_path, cfg)])
    err = capsys.readouterr().err
    return code, err, tmp_path / "out" / "ingest"


def assert_error(tmp_path, cfg, capsys, *needles):
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 1
    lines = [ln for ln in err.splitlines() if "ERROR" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), "partial output left behind"
    return lines[0]


def test_good_cohort_runs(cohort, capsys):
    tmp_path, cfg = cohort
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 0, err
    frame = pd.read_parquet(out / "mrna.parquet")
    assert frame.shape == (12, 6) and list(frame.index) == SAMPLES
    assert (out / "outcome.tsv").exists()
    inputs = json.loads((out / "inputs.json").read_text())
    assert {i["layer"] for i in inputs} == {"mrna", "mirna", "clinical"}
    assert all(len(i["sha256"]) == 64 for i in inputs)


def test_missing_file(cohort, capsys):
    tmp_path, cfg = cohort
    (tmp_path / "mirna.tsv").unlink()
    assert_error(tmp_path, cfg, capsys, "mirna.tsv", "not found")


def test_empty_file(cohort, capsys):
    tmp_path, cfg = cohort
    (tmp_path / "mirna.tsv").write_text("")
    assert_error(tmp_path, cfg, capsys, "mirna.tsv", "empty")


def test_corrupt_gzip(cohort, capsys):
    tmp_path, cfg = cohort
    data = gzip.compress((tmp_path / "mrna.tsv").read_bytes())
    (tmp_path / "mrna.tsv.gz").write_bytes(data[: len(data) // 2])
    cfg["cohort"]["omics"]["mrna"]["path"] = str(tmp_path / "mrna.tsv.gz")
    assert_error(tmp_path, cfg, capsys, "mrna.tsv.gz", "corrupt gzip")


def test_gzip_and_csv_and_parquet_read_alike(tmp_path):
    frame = write_layer(tmp_path / "a.csv", sep=",")
    (tmp_path / "a.tsv.gz").write_bytes(gzip.compress(frame.to_csv(sep="\t").encode()))
    frame.T.to_parquet(tmp_path / "a.parquet")
    a = read_omics(tmp_path / "a.csv")
    b = read_omics(tmp_path / "a.tsv.gz")
    c = read_omics(tmp_path / "a.parquet", layout="samples_x_features")
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a.to_numpy(), c.to_numpy())
    assert list(a.index) == SAMPLES


def test_geo_series_matrix(tmp_path):
    text = "\n".join(
        [
            '!Series_title\t"x"',
            '!Sample_geo_accession\t"GSM1"\t"GSM2"',
            "!series_matrix_table_begin",
            '"ID_REF"\t"GSM1"\t"GSM2"',
            '"1007_s_at"\t7.1\t7.3',
            '"1053_at"\t5.2\tnull',
            "!series_matrix_table_end",
        ]
    )
    path = tmp_path / "GSE1_series_matrix.txt.gz"
    path.write_bytes(gzip.compress(text.encode()))
    frame = read_omics(path)
    assert list(frame.index) == ["GSM1", "GSM2"]
    assert list(frame.columns) == ["1007_s_at", "1053_at"]
    assert np.isnan(frame.loc["GSM2", "1053_at"])


def test_ragged_rows(cohort, capsys):
    tmp_path, cfg = cohort
    lines = (tmp_path / "mrna.tsv").read_text().splitlines()
    lines[3] = "\t".join(lines[3].split("\t")[:-2])
    (tmp_path / "mrna.tsv").write_text("\n".join(lines) + "\n")
    assert_error(tmp_path, cfg, capsys, "mrna.tsv", "ragged", "line 4", "g2")


def test_non_numeric_cell(cohort, capsys):
    tmp_path, cfg = cohort
    frame = pd.read_csv(tmp_path / "mrna.tsv", sep="\t", index_col=0).astype(object)
    frame.loc["g3", "S05"] = "high"
    frame.to_csv(tmp_path / "mrna.tsv", sep="\t")
    assert_error(tmp_path, cfg, capsys, "mrna.tsv", "'high'", "g3", "S05")


def test_inf_cell(cohort, capsys):
    tmp_path, cfg = cohort
    frame = pd.read_csv(tmp_path / "mirna.tsv", sep="\t", index_col=0).astype(object)
    frame.loc["g1", "S02"] = "Inf"
    frame.to_csv(tmp_path / "mirna.tsv", sep="\t")
    assert_error(tmp_path, cfg, capsys, "mirna.tsv", "infinite", "g1", "S02")


def test_duplicate_sample_ids(cohort, capsys):
    tmp_path, cfg = cohort
    write_layer(tmp_path / "mrna.tsv", samples=[*SAMPLES[:-1], "S03"])
    assert_error(tmp_path, cfg, capsys, "mrna.tsv", "duplicate sample", "S03")


def test_duplicate_feature_ids(cohort, capsys):
    tmp_path, cfg = cohort
    text = (tmp_path / "mirna.tsv").read_text().replace("\ng2\t", "\ng1\t")
    (tmp_path / "mirna.tsv").write_text(text)
    assert_error(tmp_path, cfg, capsys, "mirna.tsv", "duplicate feature", "g1")


def test_no_common_samples(cohort, capsys):
    tmp_path, cfg = cohort
    write_layer(tmp_path / "mirna.tsv", samples=[f"X{i}" for i in range(12)])
    assert_error(tmp_path, cfg, capsys, "no sample id in common", "mrna", "mirna")


def test_partly_missing_samples_warn_and_continue(cohort, capsys):
    tmp_path, cfg = cohort
    write_layer(tmp_path / "mirna.tsv", samples=SAMPLES[:10])
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 0
    assert "2 sample(s)" in err and "S10" in err and "S11" in err
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert samples.loc[samples.sample_id == "S11", "status"].item() == "dropped"


def test_clinical_without_configured_column(cohort, capsys):
    tmp_path, cfg = cohort
    cfg["cohort"]["clinical"]["time"] = "survival_time"
    assert_error(tmp_path, cfg, capsys, "clinical.tsv", "survival_time")


def test_event_value_never_occurs(cohort, capsys):
    tmp_path, cfg = cohort
    cfg["cohort"]["clinical"]["event_value"] = "Dead"
    assert_error(tmp_path, cfg, capsys, "os_event", "Dead", "0", "1")


def test_event_with_more_than_two_values(cohort, capsys):
    tmp_path, cfg = cohort
    write_clinical(tmp_path / "clinical.tsv", os_event=[0, 1, 2] * 4)
    assert_error(tmp_path, cfg, capsys, "os_event", "2")


def test_some_patients_without_usable_survival_warn(cohort, capsys):
    tmp_path, cfg = cohort
    time = list(np.linspace(1, 50, 12))
    time[2] = -3.0
    time[5] = np.nan
    write_clinical(tmp_path / "clinical.tsv", os_months=time)
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 0, err
    assert "S02" in err and "S05" in err
    outcome = pd.read_csv(out / "outcome.tsv", sep="\t", index_col="sample_id")
    assert outcome["os_years"].notna().sum() == 10
    # the patients stay in the omics layers (clustering)
    assert len(pd.read_parquet(out / "mrna.parquet")) == 12


def test_no_patient_with_usable_survival(cohort, capsys):
    tmp_path, cfg = cohort
    write_clinical(tmp_path / "clinical.tsv", os_months=[np.nan] * 12)
    assert_error(tmp_path, cfg, capsys, "os_months")


def test_read_table_keeps_strings(tmp_path):
    (tmp_path / "c.csv").write_text("sample_id,x\nA,1\nB,\n")
    table = read_table(tmp_path / "c.csv")
    assert table["x"].tolist() == ["1", ""]


def test_read_omics_warns_nothing_for_missing_cells(tmp_path):
    (tmp_path / "m.csv").write_text("f,A,B\ng1,1,NA\ng2,2,3\n")
    frame = read_omics(tmp_path / "m.csv")
    assert np.isnan(frame.loc["B", "g1"])


def test_bad_layout_is_an_error(tmp_path):
    write_layer(tmp_path / "m.tsv")
    with pytest.raises(MetpotError, match="layout"):
        read_omics(tmp_path / "m.tsv", layout="wide")


def test_constant_feature_warns_and_is_dropped():
    from metpot.preprocess import preprocess_layer

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(8, 3)), columns=["a", "b", "c"])
    X["c"] = 2.0
    settings = {"select": {"method": "none"}, "scale": "zscore", "missing": {}}
    with pytest.warns(DataWarning, match="constant.*c"):
        out, summary = preprocess_layer(X, settings, layer="mrna")
    assert list(out.columns) == ["a", "b"] and summary["constant_dropped"] == ["c"]


def test_snf_k_not_below_the_number_of_samples_is_a_config_error(cohort, capsys):
    tmp_path, cfg = cohort
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 0, err
    cfg["preprocess"] = {"select": {"method": "none"}, "scale": "zscore", "missing": {}}
    cfg["snf"] = {"K": 12}
    path = write_config(tmp_path, cfg)
    assert main(["preprocess", "--config", path]) == 0
    capsys.readouterr()
    code = main(["snf", "--config", path])
    err = capsys.readouterr().err
    assert code == 1 and "config: snf.K = 12 must be smaller than the number of samples (12)" in err
    snf = tmp_path / "out" / "snf"
    assert not snf.exists() or not any(snf.iterdir())


def test_numeric_looking_sample_ids_stay_strings_through_the_steps(tmp_path, capsys):
    from metpot.cli import read_outcome

    ids = [f"{i:04d}" for i in range(12)]
    write_layer(tmp_path / "mrna.tsv", samples=ids)
    write_layer(tmp_path / "mirna.tsv", n_features=4, samples=ids, seed=1)
    write_clinical(tmp_path / "clinical.tsv", samples=ids)
    cfg = {
        "cohort": {
            "name": "t",
            "omics": {
                "mrna": {"path": str(tmp_path / "mrna.tsv")},
                "mirna": {"path": str(tmp_path / "mirna.tsv")},
            },
            "clinical": {
                "path": str(tmp_path / "clinical.tsv"),
                "time": "os_months",
                "event": "os_event",
                "event_value": 1,
                "time_unit": "months",
            },
        }
    }
    code, err, out = run_ingest(tmp_path, cfg, capsys)
    assert code == 0, err
    outcome = read_outcome(out / "outcome.tsv", "os")
    assert list(outcome.index) == ids
    assert list(pd.read_parquet(out / "mrna.parquet").index) == ids
