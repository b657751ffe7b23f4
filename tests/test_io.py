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
