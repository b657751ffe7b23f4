"""metpot.io's writers: files get the permissions of the umask, as every other tool's output."""

import os
import stat

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from metpot.io import write_json, write_parquet, write_text, write_tsv
from metpot.model_io import card_path, save_model


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_get_the_permissions_of_the_umask(tmp_path, umask):
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    paths = {
        "json": tmp_path / "x.json",
        "tsv": tmp_path / "x.tsv",
        "parquet": tmp_path / "x.parquet",
        "text": tmp_path / "x.txt",
    }
    write_json({"a": 1}, paths["json"])
    write_tsv(frame, paths["tsv"])
    write_parquet(frame, paths["parquet"])
    write_text("x\n", paths["text"])
    for path in paths.values():
        assert _mode(path) == 0o666 & ~umask, (path.name, oct(_mode(path)))
    if umask == 0o022:
        assert _mode(paths["json"]) == 0o644


def test_model_and_card_get_the_permissions_of_the_umask(tmp_path, umask):
    model = DummyClassifier().fit([[0.0], [1.0]], ["a", "b"])
    path = tmp_path / "m.skops"
    save_model(model, path, {"classes": ["a", "b"]})
    assert _mode(path) == 0o666 & ~umask
    assert _mode(card_path(path)) == 0o666 & ~umask


# ------------------------------------------------ text matrices through pyarrow's reader


def _read(tmp_path, name, content):
    from metpot.io import read_omics

    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return read_omics(path)


def test_cells_pyarrow_does_not_parse_are_read_as_text(tmp_path):
    """Padded numbers and NA tokens (the text fallback) give what clean cells give."""
    padded = _read(tmp_path, "a.tsv", "\ufefff\tA\tB\r\ng1\t 1.5\tNA \r\n\ng2\t2\t#N/A\r\n")
    clean = _read(tmp_path, "b.tsv", "f\tA\tB\ng1\t1.5\t\ng2\t2\tnull\n")
    pd.testing.assert_frame_equal(padded, clean)
    assert padded.loc["A", "g1"] == 1.5 and padded["g2"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    "content, needle",
    [
        ("f\tA\tB\n", "no data rows below the header"),
        (b"f\tA\tB\ng1\t1\t2\xe9\n", "not UTF-8 text (byte 12)"),
        ("f\tA\tB\tC\ng1\t1\tinf\tx\n", "non-numeric value 'x' at row 'g1', column 'C'"),
        ("f\tA\tB\ng1\t1\t-Infinity\n", "infinite value '-Infinity' at row 'g1', column 'B'"),
        ("f\tA\tB\ng1\t1\t2\t3\n", "ragged rows: line 2 (id 'g1') has 4 fields"),
    ],
)
def test_text_matrix_errors_name_the_file_and_the_place(tmp_path, content, needle):
    from metpot.errors import MetpotError

    with pytest.raises(MetpotError) as err:
        _read(tmp_path, "m.tsv", content)
    assert str(err.value).startswith(f"{tmp_path / 'm.tsv'}: ") and needle in str(err.value)
    assert "\n" not in str(err.value)


def test_geo_series_matrix_without_its_end_line_is_refused(tmp_path):
    from metpot.errors import MetpotError

    text = '!series_matrix_table_begin\n"ID_REF"\t"GSM1"\n"a"\t1\n'
    with pytest.raises(MetpotError, match="not a GEO series matrix"):
        _read(tmp_path, "GSE1_series_matrix.txt", text)
