"""The files of one workflow step, and the one writer every step's outputs go through.

A step (:mod:`metpot.steps`) computes ``{output key: object}``; :func:`write_outputs` writes
each object to the path its key is declared with (:mod:`metpot.manifest`), chosen by the
path's extension and the object's type:

- a :class:`pandas.DataFrame` to ``.tsv`` (:func:`metpot.io.write_tsv`) or ``.parquet``;
- a dict or list to ``.json``; a str to any other extension (text);
- a matplotlib figure under key ``<key>`` to the declared ``<key>_svg`` and ``<key>_png``
  (:data:`metpot.manifest.FIGURE_FORMATS`, :func:`metpot.plots.save_figure`);
- a :class:`Model` to ``.skops`` with :func:`metpot.model_io.save_model`, whose card goes to
  :func:`metpot.model_io.card_path` of that file: that path must be declared too;
- a callable (a file of a format of its own, e.g. the demo's gzipped tables): called with the
  output's path (not atomic: gzip names the file it compresses in its header).

Every other write is atomic; writing an undeclared key, or finishing without writing a declared one,
is an internal error (a broken contract, not a user mistake); on any failure every file
written is removed, so a failed step leaves no partial output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metpot.errors import MetpotError


@dataclass(frozen=True)
class Model:
    """A fitted estimator and its model card, to be written as ``.skops`` + card."""

    estimator: Any
    card: dict


class StepIO:
    """The declared inputs and outputs of one step, and the writers that honour them.

    Every output is written through this object, atomically; writing an undeclared key, or
    finishing without writing a declared one, is an internal error (a broken contract, not
    a user mistake). On failure, :meth:`remove` deletes what was written.

    Parameters
    ----------
    inputs : dict
        Input key -> path (or list of paths).
    outputs : dict
        Output key -> path.
    """

    def __init__(self, inputs: dict, outputs: Mapping[str, str | Path]):
        self.inputs = inputs
        self.outputs = {k: Path(v) for k, v in outputs.items()}
        self.written: list[Path] = []

    def input(self, key: str) -> str:
        """The path of input ``key`` (a user error if it was not given)."""
        return need(self.inputs, key)

    def inputs_list(self, key: str) -> list[str]:
        """The paths of input ``key`` (empty if it was not given)."""
        return many(self.inputs, key)

    def path(self, key: str) -> Path:
        """The declared path of output ``key``, its folder created, counted as written."""
        if key not in self.outputs:
            raise RuntimeError(f"output {key!r} is not declared for this step")
        path = self.outputs[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(path)
        return path

    def tsv(self, key: str, frame) -> None:
        """Write a table as TSV."""
        from metpot.io import write_tsv

        write_tsv(frame, self.path(key))

    def json(self, key: str, obj) -> None:
        """Write strict JSON."""
        from metpot.io import write_json

        write_json(obj, self.path(key))

    def parquet(self, key: str, frame) -> None:
        """Write a table as Parquet."""
        from metpot.io import write_parquet

        write_parquet(frame, self.path(key))

    def text(self, key: str, text: str) -> None:
        """Write text."""
        from metpot.io import write_text

        write_text(text, self.path(key))

    def figure(self, key: str, fig) -> None:
        """Write a figure in every format of :data:`metpot.manifest.FIGURE_FORMATS`."""
        from metpot.manifest import FIGURE_FORMATS
        from metpot.plots import save_figure

        paths = {fmt: self.path(f"{key}_{fmt}") for fmt in FIGURE_FORMATS}
        save_figure(fig, paths["svg"].with_suffix(""))
        for fmt, p in paths.items():
            if p != paths["svg"].with_suffix(f".{fmt}"):
                raise RuntimeError(f"figure {key}: {p} is not beside {paths['svg']}")

    def model(self, key: str, model: Model) -> None:
        """Write a model file and its card; the card's path must be a declared output."""
        from metpot.model_io import card_path, save_model

        path = self.path(key)
        save_model(model.estimator, path, model.card)
        card = card_path(path)
        declared = [k for k, p in self.outputs.items() if p == card]
        if not declared:
            card.unlink(missing_ok=True)
            raise RuntimeError(f"output {key!r}: its card {card} is not a declared output")
        self.path(declared[0])

    def custom(self, key: str, write) -> None:
        """Write a file with ``write(path)`` (a format of its own)."""
        write(self.path(key))

    def write(self, key: str, obj) -> None:
        """Write ``obj`` to output ``key`` by its declared extension (module docstring)."""
        import pandas as pd

        if key not in self.outputs and hasattr(obj, "savefig"):
            return self.figure(key, obj)
        suffix = self.outputs[key].suffix if key in self.outputs else ""
        if isinstance(obj, Model) and suffix == ".skops":
            return self.model(key, obj)
        if isinstance(obj, pd.DataFrame) and suffix in (".tsv", ".parquet"):
            return self.tsv(key, obj) if suffix == ".tsv" else self.parquet(key, obj)
        if isinstance(obj, dict | list) and suffix == ".json":
            return self.json(key, obj)
        if isinstance(obj, str) and suffix not in (".tsv", ".parquet", ".json", ".skops"):
            return self.text(key, obj)
        if callable(obj) and not isinstance(obj, pd.DataFrame | Model):
            return self.custom(key, obj)
        if key not in self.outputs:
            self.path(key)  # raises: not declared
        raise RuntimeError(f"output {key!r}: cannot write a {type(obj).__name__} to {suffix!r}")

    def check_complete(self) -> None:
        """Fail (internal error) if a declared output was not written."""
        missing = [k for k, p in self.outputs.items() if p not in self.written]
        if missing:
            raise RuntimeError(f"declared output(s) not written: {', '.join(missing)}")

    def remove(self) -> None:
        """Delete every file written so far."""
        for path in self.written:
            path.unlink(missing_ok=True)


def write_outputs(objects: Mapping[str, Any], outputs: Mapping[str, str | Path]) -> list[Path]:
    """Write a step's objects to their declared outputs: all of them, or none on failure.

    Parameters
    ----------
    objects : mapping
        Output key -> object (see the module docstring for the types and extensions).
    outputs : mapping
        Output key -> declared path (a figure's key ``k`` is declared as ``k_svg``, ``k_png``).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    RuntimeError
        If an object's key is not declared, a declared output is left unwritten, or an
        object cannot be written to its path's extension; every file written is removed.
    """
    io = StepIO({}, outputs)
    try:
        for key, obj in objects.items():
            io.write(key, obj)
        io.check_complete()
    except BaseException:
        io.remove()
        raise
    return io.written


def need(inputs: Mapping, key: str) -> str:
    """The path of input ``key``; a user error naming the option if it was not given."""
    if key not in inputs:
        raise MetpotError(f"missing input {key!r} (give it with --input {key}=PATH)")
    return inputs[key]


def many(inputs: Mapping, key: str) -> list[str]:
    """The paths of input ``key`` as a list (empty if it was not given)."""
    value = inputs.get(key, [])
    return [value] if isinstance(value, str) else list(value)
