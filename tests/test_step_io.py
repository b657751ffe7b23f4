"""The step contract's writer and the command line's exit codes.

A step's objects are written by their declared path's extension; an undeclared key, a
declared output left unwritten or an object of the wrong type is an internal error, and every
file written is then removed. The command line maps a user error to one line and exit 1, an
internal error to exit 2 with the traceback in the log, each with a ``<log>.failed.json``.
"""

import json

import pandas as pd
import pytest

from metpot.errors import MetpotError
from metpot.step_io import Model, write_outputs


def _declared(tmp_path, *names):
    return {name.split(".")[0]: str(tmp_path / "out" / name) for name in names}


def test_objects_are_written_by_extension(tmp_path):
    from matplotlib.figure import Figure

    frame = pd.DataFrame({"sample_id": ["0001"], "x": [0.1]})
    outputs = _declared(tmp_path, "t.tsv", "p.parquet", "j.json", "s.txt")
    outputs |= {"f_svg": str(tmp_path / "out" / "f.svg"), "f_png": str(tmp_path / "out" / "f.png")}
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    written = write_outputs({"t": frame, "p": frame, "j": {"a": 1}, "s": "hi\n", "f": fig}, outputs)
    assert sorted(map(str, written)) == sorted(outputs.values())
    assert (tmp_path / "out" / "t.tsv").read_text() == "sample_id\tx\n0001\t0.10000000000000001\n"
    assert pd.read_parquet(tmp_path / "out" / "p.parquet").equals(frame)
    assert json.loads((tmp_path / "out" / "j.json").read_text()) == {"a": 1}
    assert (tmp_path / "out" / "s.txt").read_text() == "hi\n"
    assert (tmp_path / "out" / "f.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "objects, message",
    [
        ({"a": {"x": 1}, "b": "text", "c": {}}, "not declared"),
        ({"a": {"x": 1}}, "not written: b"),
        ({"a": {"x": 1}, "b": pd.DataFrame()}, "cannot write a DataFrame"),
    ],
)
def test_a_broken_contract_leaves_nothing(tmp_path, objects, message):
    outputs = _declared(tmp_path, "a.json", "b.txt")
    with pytest.raises(RuntimeError, match=message):
        write_outputs(objects, outputs)
    assert not any((tmp_path / "out").iterdir())


def test_a_model_card_must_be_a_declared_output(tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = Model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), {"target": "t"})
    outputs = {"model": str(tmp_path / "out" / "m.skops"), "card": str(tmp_path / "out" / "m.json")}
    write_outputs({"model": model}, outputs)
    card = json.loads((tmp_path / "out" / "m.json").read_text())
    assert card["target"] == "t" and card["file"] == "m.skops"
    with pytest.raises(RuntimeError, match="card .* is not a declared output"):
        write_outputs({"m2": model}, {"m2": str(tmp_path / "other" / "m2.skops")})
    assert not any((tmp_path / "other").iterdir())


def _run(tmp_path, monkeypatch, error):
    import metpot.steps.clusters as steps_clusters
    from metpot.cli import main

    def failing(cfg, inputs, **_):
        raise error

    monkeypatch.setattr(steps_clusters, "sweep", failing)
    log = tmp_path / "logs" / "sweep.log"
    out = tmp_path / "summary.tsv"
    argv = ["sweep", "--config", "{}", "--output", f"summary={out}", "--log", str(log)]
    return main(argv), log, out


def test_user_error_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    code, log, out = _run(tmp_path, monkeypatch, MetpotError("points.tsv: bad value 'x'"))
    assert code == 1 and not out.exists()
    assert capsys.readouterr().err == "metpot sweep: ERROR: points.tsv: bad value 'x'\n"
    record = json.loads(log.with_name("sweep.log.failed.json").read_text())
    assert record["step"] == "sweep" and record["error"] == "points.tsv: bad value 'x'"


def test_internal_error_is_exit_2_with_traceback_in_the_log(tmp_path, monkeypatch):
    code, log, out = _run(tmp_path, monkeypatch, ZeroDivisionError("boom"))
    assert code == 2 and not out.exists()
    assert "Traceback" in log.read_text() and "ZeroDivisionError: boom" in log.read_text()
    record = json.loads(log.with_name("sweep.log.failed.json").read_text())
    assert record["error"] == "internal error: ZeroDivisionError: boom"


def test_interruption_is_exit_130(tmp_path, monkeypatch):
    code, log, _ = _run(tmp_path, monkeypatch, KeyboardInterrupt())
    assert code == 130 and "interrupted" in log.read_text()


def test_config_may_be_a_json_file(tmp_path):
    from metpot.cli import _config, build_parser

    path = tmp_path / "resolved.json"
    path.write_text(json.dumps({"output_dir": "x", "snf": {"K": 20}}))
    args = build_parser().parse_args(["snf", "--config", str(path)])
    assert _config(args) == {"output_dir": "x", "snf": {"K": 20}}
