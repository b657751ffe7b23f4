"""Reading and writing tables with one-line errors for bad input.

Omics matrices are read from CSV or TSV (optionally gzipped), Parquet, or GEO series-matrix
text files and returned as samples x features float64 frames. Every problem with an input
file becomes a :class:`~metpot.errors.MetpotError` naming the file and the offending row,
column or value.

Text matrices are parsed by pyarrow's streaming CSV reader straight into float64 (about one
byte of memory per input byte at the peak instead of ~20 for Python lists of cells,
``bench/bench_io.py``); only a file that does not parse cleanly that way is read again as
text, cell checks and all, to name the offending line, row, column or value.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metpot.errors import MetpotError, name_list

NA_TOKENS = frozenset({"", "NA", "NaN", "nan", "NAN", "na", "N/A", "n/a", "#N/A", "null", "NULL"})
LAYOUTS = ("features_x_samples", "samples_x_features")

csv.field_size_limit(2**31 - 1)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MetpotError(f"{path}: file not found")
    if path.is_dir():
        raise MetpotError(f"{path}: is a directory, expected a file")
    if path.stat().st_size == 0:
        raise MetpotError(f"{path}: file is empty")


def read_text(path: str | Path) -> str:
    """Return the text of a plain or gzipped file, with clear errors.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        Its decoded text (UTF-8, BOM stripped).
    """
    path = Path(path)
    _check_exists(path)
    try:
        if _is_gzip(path):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise MetpotError(f"{path}: corrupt gzip file ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetpotError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise MetpotError(f"{path}: file is empty")
    return text


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith("_series_matrix.txt"):
        return "geo"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".txt", ".tab")):
        return "tsv"
    return "sniff"


def _rows(path: Path, text: str, kind: str) -> list[list[str]]:
    if kind == "sniff":
        first = text.split("\n", 1)[0]
        kind = "tsv" if "\t" in first else "csv"
    delimiter = "," if kind == "csv" else "\t"
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if len(rows) < 2:
        raise MetpotError(f"{path}: no data rows below the header")
    width = len(rows[0])
    if width < 2:
        raise MetpotError(
            f"{path}: the header has a single column; expected an id column and data columns "
            f"separated by {'commas' if delimiter == ',' else 'tabs'}"
        )
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise MetpotError(
                f"{path}: ragged rows: line {lineno} (id {row[0]!r}) has {len(row)} fields, "
                f"the header has {width}"
            )
    return rows


def _to_float(path: Path, cells: np.ndarray, row_ids: list[str], col_ids: list[str]) -> np.ndarray:
    # one vectorised pass over all cells (not one per column: 1.7x faster on 2,000 x 1,000)
    text = pd.Series(cells.ravel()).str.strip()
    out = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64).reshape(cells.shape)
    bad = np.isnan(out) & ~text.isin(NA_TOKENS).to_numpy().reshape(cells.shape)
    for problem, mask in (("non-numeric", bad), ("infinite", np.isinf(out))):
        if mask.any():
            # the first offending cell column by column, as a reader scanning columns finds it
            j = int(np.flatnonzero(mask.any(axis=0))[0])
            i = int(np.flatnonzero(mask[:, j])[0])
            raise MetpotError(
                f"{path}: {problem} value {cells[i, j]!r} at row {row_ids[i]!r}, "
                f"column {col_ids[j]!r}"
            )
    return out


def _check_unique(path: Path, ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    dups: list[str] = []
    for i in ids:
        if i in seen and i not in dups:
            dups.append(i)
        seen.add(i)
    if dups:
        raise MetpotError(f"{path}: duplicate {what} id(s): {name_list(dups)}")
    if "" in seen:
        raise MetpotError(f"{path}: empty {what} id")


class _TableBlock(io.RawIOBase):
    """The lines of ``fh`` up to (not including) the first starting with ``end``."""

    def __init__(self, fh, end: bytes):
        self.fh, self.end = fh, end
        self.buf = bytearray()
        self.done = self.found_end = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while len(self.buf) < len(b) and not self.done:
            line = self.fh.readline()
            if not line or line.startswith(self.end):
                self.done, self.found_end = True, bool(line)
            else:
                self.buf += line
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        del self.buf[:n]
        return n


def _header(path: Path, fh, kind: str) -> tuple[list[str], str]:
    """The first non-blank line's fields and the delimiter; ``fh`` is left after it."""
    while True:
        raw = fh.readline()
        if not raw:
            raise MetpotError(f"{path}: file is empty")
        if raw.strip():
            break
    try:
        line = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise MetpotError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if kind == "sniff":
        kind = "tsv" if "\t" in line else "csv"
    delimiter = "," if kind == "csv" else "\t"
    header = next(csv.reader([line], delimiter=delimiter))
    if len(header) < 2:
        rest = fh.readline()
        while rest and not rest.strip():
            rest = fh.readline()
        if not rest:
            raise MetpotError(f"{path}: no data rows below the header")
        raise MetpotError(
            f"{path}: the header has a single column; expected an id column and data columns "
            f"separated by {'commas' if delimiter == ',' else 'tabs'}"
        )
    return header, delimiter


def _arrow_table(path: Path, fh, header: list[str], delimiter: str, numeric: bool):
    """The rows below the header as a pyarrow table: ids as strings, the data columns as
    float64 (``numeric``) or as strings. Raises MetpotError for ragged rows."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    width = len(header)
    names = [f"c{j}" for j in range(width)]
    ragged = []

    def invalid(row) -> str:
        if not ragged:
            ragged.append(row)
        return "skip"

    reader = pacsv.open_csv(
        fh,
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 23),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={
                n: pa.float64() if numeric and j else pa.string() for j, n in enumerate(names)
            },
            null_values=sorted(NA_TOKENS),
            strings_can_be_null=True,
        ),
    )
    table = reader.read_all()
    if ragged:
        row = ragged[0]
        fields = next(csv.reader([row.text], delimiter=delimiter))
        lineno = (row.number or 0) + 1  # the header is line 1; blank lines are not counted
        raise MetpotError(
            f"{path}: ragged rows: line {lineno} (id {fields[0]!r}) has {row.actual_columns} "
            f"fields, the header has {width}"
        )
    if table.num_rows == 0:
        raise MetpotError(f"{path}: no data rows below the header")
    return table


def _checked_columns(path: Path, table, row_ids: list[str], col_ids: list[str]) -> np.ndarray:
    """Values of a table of text cells, with the checks of :func:`_to_float` column by column
    (memory of one column's Python strings at a time)."""
    values = np.empty((table.num_rows, len(col_ids)), order="F")
    first: dict[str, tuple[int, int, str]] = {}
    for j in range(len(col_ids)):
        raw = table.column(j + 1).to_pandas().fillna("")
        text = raw.str.strip()
        values[:, j] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values[:, j]) & ~text.isin(NA_TOKENS).to_numpy()
        for problem, mask in (("non-numeric", bad), ("infinite", np.isinf(values[:, j]))):
            if problem not in first and mask.any():
                i = int(np.flatnonzero(mask)[0])
                first[problem] = (i, j, raw.iloc[i])
    for problem in ("non-numeric", "infinite"):  # as _to_float: non-numeric cells first
        if problem in first:
            i, j, cell = first[problem]
            raise MetpotError(
                f"{path}: {problem} value {cell!r} at row {row_ids[i]!r}, column {col_ids[j]!r}"
            )
    return values


def _read_text_matrix(path: Path, fh, kind: str, numeric: bool):
    if kind == "geo":
        for line in iter(fh.readline, b""):
            if line.startswith(b"!series_matrix_table_begin"):
                break
        else:
            raise MetpotError(
                f"{path}: not a GEO series matrix (no !series_matrix_table_begin/_end lines)"
            )
        block = _TableBlock(fh, b"!series_matrix_table_end")
        fh = io.BufferedReader(block, buffer_size=1 << 20)
    header, delimiter = _header(path, fh, "tsv" if kind == "geo" else kind)
    table = _arrow_table(path, fh, header, delimiter, numeric)
    if kind == "geo" and not block.found_end:
        raise MetpotError(
            f"{path}: not a GEO series matrix (no !series_matrix_table_begin/_end lines)"
        )
    return header, table


def _utf8_error(path: Path) -> int | None:
    """Offset of the first byte that is not UTF-8 in a plain or gzipped file."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(chunk)
    return None


def _text_matrix(path: Path, kind: str) -> tuple[list[str], list[str], np.ndarray]:
    """Row ids, column ids and values of a CSV, TSV or GEO text matrix (plain or gzipped)."""
    import pyarrow as pa

    def read(numeric: bool):
        gz = _is_gzip(path)
        try:
            with gzip.open(path, "rb") if gz else path.open("rb") as fh:
                return _read_text_matrix(path, fh, kind, numeric)
        except (OSError, EOFError, zlib.error) as exc:
            if gz:
                raise MetpotError(f"{path}: corrupt gzip file ({exc})") from None
            raise MetpotError(f"{path}: cannot read ({exc})") from None
        except pa.ArrowInvalid as exc:
            if numeric and "conversion error to double" in str(exc):
                return None  # a cell that is not a plain number: read again as text
            if "UTF8" in str(exc):
                raise MetpotError(f"{path}: not UTF-8 text (byte {_utf8_error(path)})") from None
            if "Empty CSV file" in str(exc):
                raise MetpotError(f"{path}: no data rows below the header") from None
            message = str(exc).splitlines()[0]
            raise MetpotError(f"{path}: cannot parse the file ({message})") from None

    read_back = read(numeric=True)
    if read_back is not None:
        header, table = read_back
        values = np.empty((table.num_rows, len(header) - 1), order="F")
        for j in range(1, len(header)):
            values[:, j - 1] = table.column(j).to_numpy()
    row_ids = None
    if read_back is None or np.isinf(values).any():
        header, table = read(numeric=False)
        row_ids = [("" if i is None else i).strip() for i in table.column(0).to_pylist()]
        values = _checked_columns(path, table, row_ids, [c.strip() for c in header[1:]])
    if row_ids is None:
        row_ids = [("" if i is None else i).strip() for i in table.column(0).to_pylist()]
    del table
    return row_ids, [c.strip() for c in header[1:]], values


def _parquet_matrix(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise MetpotError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
    if not isinstance(frame.index, pd.RangeIndex):
        row_ids = [str(i) for i in frame.index]
    else:
        if frame.shape[1] < 2:
            raise MetpotError(f"{path}: expected an id column and data columns")
        row_ids = [str(i) for i in frame.iloc[:, 0]]
        frame = frame.iloc[:, 1:]
    col_ids = [str(c) for c in frame.columns]
    for c in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            cells = frame[[c]].astype(str).to_numpy()
            _to_float(path, cells, row_ids, [str(c)])
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.argwhere(np.isinf(values))
    if len(inf):
        i, j = inf[0]
        raise MetpotError(f"{path}: infinite value at row {row_ids[i]!r}, column {col_ids[j]!r}")
    return row_ids, col_ids, values


def read_omics(path: str | Path, layout: str = "features_x_samples") -> pd.DataFrame:
    """Read an omics matrix as samples x features float64.

    Parameters
    ----------
    path : str or Path
        CSV, TSV (optionally gzipped), Parquet, or GEO ``*_series_matrix.txt[.gz]``.
        The first column (or the Parquet index) holds the row ids.
    layout : {"features_x_samples", "samples_x_features"}
        Orientation of the file. GEO series matrices are always features x samples.

    Returns
    -------
    pandas.DataFrame
        Samples in rows (index named ``sample_id``), features in columns, float64, NaN for
        missing cells.

    Raises
    ------
    MetpotError
        For a missing, empty or corrupt file, ragged rows, non-numeric or infinite cells,
        and duplicate ids, naming the file and the offending row, column or value.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise MetpotError(f"{path}: unknown layout {layout!r} (expected one of {LAYOUTS})")
    _check_exists(path)
    kind = _file_kind(path)
    if kind == "parquet":
        row_ids, col_ids, values = _parquet_matrix(path)
    else:
        if kind == "geo":
            layout = "features_x_samples"
        row_ids, col_ids, values = _text_matrix(path, kind)
    row_what, col_what = (
        ("feature", "sample")
        if layout == "features_x_samples"
        else (
            "sample",
            "feature",
        )
    )
    _check_unique(path, row_ids, row_what)
    _check_unique(path, col_ids, col_what)
    frame = pd.DataFrame(values, index=pd.Index(row_ids), columns=pd.Index(col_ids), copy=False)
    if layout == "features_x_samples":
        frame = frame.T
    frame.index.name = "sample_id"
    frame.columns.name = "feature"
    return frame


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a clinical or label table (CSV, TSV, gzipped or Parquet) as strings.

    Parameters
    ----------
    path : str or Path
        The table; the first row is the header.

    Returns
    -------
    pandas.DataFrame
        All columns as strings (missing cells as empty strings), so that callers decide how
        to parse each column and can name bad values.
    """
    path = Path(path)
    _check_exists(path)
    kind = _file_kind(path)
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise MetpotError(
                f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()
        return frame.astype(object).where(frame.notna(), "").astype(str)
    if kind == "geo":
        raise MetpotError(f"{path}: a GEO series matrix is not a clinical table")
    rows = _rows(path, read_text(path), kind)
    header = [h.strip() for h in rows[0]]
    dup = [h for i, h in enumerate(header) if h in header[:i]]
    if dup:
        raise MetpotError(f"{path}: duplicate column name(s): {name_list(dup)}")
    return pd.DataFrame([[c.strip() for c in r] for r in rows[1:]], columns=header, dtype=str)


def sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, synced, then renamed over ``path``.

    The file gets the permissions a plain ``open`` gives (0o666 less the umask), not the
    0o600 of :func:`tempfile.mkstemp`, so results stay readable by the group on shared disks.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a frame to Parquet atomically and deterministically (no pandas metadata churn)."""
    _atomic(Path(path), lambda p: frame.to_parquet(p, engine="pyarrow", compression="zstd"))


def write_tsv(frame: pd.DataFrame, path: str | Path, index: bool = False) -> None:
    """Write a TSV atomically with fixed float formatting (17 significant digits)."""
    _atomic(
        Path(path),
        lambda p: frame.to_csv(p, sep="\t", index=index, float_format="%.17g", lineterminator="\n"),
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_json(obj: Any) -> Any:
    """Replace NaN/inf by None so the output is strict JSON."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean_json(obj.tolist())
    return obj


def write_json(obj: Any, path: str | Path) -> None:
    """Write strict JSON (NaN as null) atomically, keys in insertion order, 2-space indent."""
    text = json.dumps(_clean_json(obj), indent=2, default=_json_default, allow_nan=False) + "\n"
    write_text(text, path)


def write_text(text: str, path: str | Path) -> None:
    """Write text atomically."""
    _atomic(Path(path), lambda p: p.write_text(text))


def omics_ids(path: str | Path, layout: str = "features_x_samples") -> tuple[list[str], list[str]]:
    """Sample ids and feature ids of an omics file, without parsing its values.

    Text files are split on their delimiter only (quotes stripped); Parquet and GEO files are
    read in full. Used by ``metpot validate`` to check a config in seconds.
    """
    path = Path(path)
    _check_exists(path)
    kind = _file_kind(path)
    if kind in ("parquet", "geo"):
        frame = read_omics(path, layout)
        return list(frame.index), list(frame.columns)
    text = read_text(path)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 2:
        raise MetpotError(f"{path}: no data rows below the header")
    if kind == "sniff":
        kind = "tsv" if "\t" in lines[0] else "csv"
    delimiter = "," if kind == "csv" else "\t"
    header = [c.strip().strip('"') for c in lines[0].rstrip("\r").split(delimiter)[1:]]
    first = [ln.split(delimiter, 1)[0].strip().strip('"') for ln in lines[1:]]
    return (header, first) if layout == "features_x_samples" else (first, header)
