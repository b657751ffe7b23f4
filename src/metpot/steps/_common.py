"""What several steps read the same way: per-sample tables, outcomes, subtypes, layers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from metpot.errors import MetpotError
from metpot.step_io import need

log = logging.getLogger("metpot")


def read_samples(path: str | Path, **kwargs) -> pd.DataFrame:
    """A per-sample TSV written by a step, with sample ids kept as strings (``0001``)."""
    return pd.read_csv(path, sep="\t", dtype={"sample_id": str}, **kwargs)


def read_outcome(path: str | Path, endpoint: str = "os") -> pd.DataFrame:
    """``time`` (years) and ``event`` of the patients with usable survival for an endpoint.

    Parameters
    ----------
    path : str or Path
        The ingest step's ``outcome.tsv``.
    endpoint : str
        ``os`` or ``pfs``.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample id; ``event`` is boolean.
    """
    table = read_samples(path, index_col="sample_id")
    cols = [f"{endpoint}_years", f"{endpoint}_event"]
    if cols[0] not in table.columns:
        raise MetpotError(f"{path}: no {endpoint.upper()} columns ({cols[0]})")
    table = table[cols].dropna()
    table.columns = ["time", "event"]
    table["event"] = table["event"].astype(bool)
    return table


def read_json(path: str | Path):
    """A JSON file written by a step."""
    import json

    return json.loads(Path(path).read_text())


def tsv_or_none(inputs: Mapping, key: str) -> pd.DataFrame | None:
    """Input ``key`` as a table, or None when not given or empty (a step with nothing to say)."""
    if key not in inputs or Path(need(inputs, key)).stat().st_size <= 1:
        return None
    return pd.read_csv(need(inputs, key), sep="\t")


def subtypes(inputs: Mapping) -> tuple[pd.Series, dict[int, str]]:
    """The ``assignments`` input (subtype 1..k by sample id) and the ``subtypes`` names."""
    subtype = read_samples(need(inputs, "assignments"), index_col="sample_id")["subtype"]
    table = pd.read_csv(need(inputs, "subtypes"), sep="\t")
    names = dict(zip(table["subtype"].astype(int), table["name"].astype(str), strict=True))
    return subtype, names


def subtype_names(table: pd.DataFrame) -> dict:
    """Subtype number -> name, from a ``subtypes`` table."""
    return dict(zip(table["subtype"], table["name"].astype(str), strict=True))


def layers(inputs: Mapping) -> dict[str, pd.DataFrame]:
    """The ``layer_<name>`` inputs, in order, checked to share their samples."""
    frames = {
        key.removeprefix("layer_"): pd.read_parquet(path)
        for key, path in inputs.items()
        if key.startswith("layer_")
    }
    if not frames:
        raise MetpotError("no omics layer given (--input layer_<name>=PATH)")
    first = next(iter(frames.values())).index
    for key, frame in frames.items():
        if not frame.index.equals(first):
            raise MetpotError(f"{inputs['layer_' + key]}: samples differ from the other layers")
    return frames


def snf_options(snf: dict) -> dict:
    """The SNF settings of the config as keyword arguments (the layers are already scaled)."""
    return {key: snf[key] for key in ("K", "mu", "t", "variant", "metric")}


def check_snf_settings(snf: dict, n_samples: int) -> None:
    """A user error if SNF's K is not smaller than the number of samples."""
    if snf["K"] >= n_samples:
        raise MetpotError(
            f"config: snf.K = {snf['K']} must be smaller than the number of samples ({n_samples})"
        )


def square(matrix, ids) -> pd.DataFrame:
    """A samples x samples matrix as a frame indexed and labelled by sample id."""
    return pd.DataFrame(matrix, index=pd.Index(ids, name="sample_id"), columns=list(ids))


def progress(what: str, done: int, total: int) -> None:
    """A progress bar on a terminal (by hand); a log line every 10 steps otherwise."""
    if sys.stderr.isatty() and not any(isinstance(h, logging.FileHandler) for h in log.handlers):
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        print(
            f"\r{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )
    elif done % 10 == 0 or done == total:
        log.info("%s: %d/%d resamples clustered", what, done, total)
