"""CSV reading shared by every text loader: fast typed columns, exact error locations.

``pyarrow.csv`` parses millions of rows per second but its errors do not say which line is
wrong. :func:`read_csv_columns` uses it first and, only when it fails (or leaves a missing value),
re-reads the file with the standard ``csv`` module to raise at the first bad line, so the user
always gets ``file, line N: ...``. Plain, ``.gz`` and single-CSV ``.zip`` files are accepted.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import igzip

from liqcascade.data_loaders.errors import MalformedInputError

FLOAT = pa.float64()
INT = pa.int64()
STR = pa.string()


# --------------------------------------------------------------------------------------------


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is read as Parquet (by extension); everything else is CSV text."""
    return path.suffix.lower() == ".parquet"


def location(path: Path, line: int) -> str:
    """``"row N"`` for Parquet, ``"line N"`` for text, matching
    :mod:`liqcascade.data_loaders.frames`."""
    return f"{'row' if is_parquet(path) else 'line'} {line}"


def _zip_member(path: Path, archive: zipfile.ZipFile) -> str:
    # data.binance.vision zips hold exactly one CSV; anything else is ambiguous.
    names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if len(names) != 1:
        raise MalformedInputError(path, None, f"expected one CSV inside the zip, found {names}")
    return names[0]


@contextmanager
def open_binary(path: Path) -> Iterator[BinaryIO]:
    """Open a ``.csv``, ``.csv.gz`` or single-CSV ``.zip`` as a decompressed binary stream."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with igzip.open(path, "rb") as f:
                yield f  # type: ignore[misc]
        elif suffix == ".zip":
            with zipfile.ZipFile(path) as archive, archive.open(_zip_member(path, archive)) as f:
                yield f  # type: ignore[misc]
        else:
            with path.open("rb") as f:
                yield f
    except zipfile.BadZipFile as e:
        raise MalformedInputError(path, None, f"not a readable zip file ({e})") from e


@contextmanager
def _arrow_source(path: Path) -> Iterator[Any]:
    # Arrow's native readers skip the Python file layer (about 30 % faster on big files).
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with open_binary(path) as f:
            yield f
    elif suffix == ".gz":
        # ISA-L inflates ~2x faster than zlib; decompression is the floor of a trade load.
        yield pa.BufferReader(igzip.decompress(path.read_bytes()))
    else:
        with pa.input_stream(str(path)) as f:
            yield f


@contextmanager
def open_text(path: Path) -> Iterator[io.TextIOWrapper]:
    """Open like :func:`open_binary` but as text for the ``csv`` module (BOM stripped)."""
    with open_binary(path) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def read_first_row(path: Path) -> list[str]:
    """Return the first CSV row of a file (the header, when it has one), fields stripped."""
    try:
        with open_text(path) as f:
            row = next(csv.reader(f), None)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise MalformedInputError(path, "line 1", f"cannot read the file ({e})") from e
    if not row:
        raise MalformedInputError(path, "line 1", "empty file (expected a CSV header)")
    return [name.strip() for name in row]


def read_csv_columns(
    path: Path,
    columns: Mapping[str, pa.DataType],
    names: Sequence[str] | None = None,
) -> tuple[dict[str, pa.ChunkedArray], np.ndarray]:
    """
    Read some columns of a CSV file (plain, ``.gz`` or single-CSV ``.zip``).

    Fast path: ``pyarrow.csv`` straight into typed Arrow columns. If that fails for any reason,
    or leaves a missing value, a ``csv``-module scan re-reads the file: it raises at the first
    bad line, or (when the only trouble was, say, blank lines) returns what it parsed.

    Parameters
    ----------
    path : Path
        The CSV file.
    columns : Mapping[str, pa.DataType]
        Column name -> ``FLOAT``, ``INT`` or ``STR``. At least one must be numeric (a blank line
        then shows up as a missing value and sends the read to the exact slow path).
    names : Sequence[str], optional
        Column names of a file *without* a header row. ``None`` means line 1 is the header.

    Returns
    -------
    tuple[dict[str, pa.ChunkedArray], np.ndarray]
        The columns, and each row's 1-based source line (int64).

    Raises
    ------
    MalformedInputError
        Missing column, wrong field count, a value that is not a number, an empty numeric field.

    """
    if names is None:
        header = read_first_row(path)
        missing = [c for c in columns if c not in header]
        if missing:
            raise MalformedInputError(
                path, "line 1", f"missing column {missing[0]!r} (header: {', '.join(header)})"
            )
        first_line = 2
    else:
        header = list(names)
        first_line = 1
    table = _read_fast(path, columns, names)
    if table is not None and not any(table.column(c).null_count for c in columns):
        lines = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
        return {c: table.column(c) for c in columns}, lines
    return _read_slow(path, columns, header, has_header=names is None)


def _read_fast(
    path: Path, columns: Mapping[str, pa.DataType], names: Sequence[str] | None
) -> pa.Table | None:
    read_options = pacsv.ReadOptions(
        column_names=list(names) if names is not None else None,
        block_size=1 << 24,  # 16 MiB blocks: fewer, larger parallel chunks parse faster
    )
    # Keep blank lines as (null) rows so row index + offset is the exact source line.
    parse_options = pacsv.ParseOptions(ignore_empty_lines=False)
    convert_options = pacsv.ConvertOptions(
        column_types=dict(columns), include_columns=list(columns)
    )
    try:
        with _arrow_source(path) as source:
            return pacsv.read_csv(
                source,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
    except (pa.ArrowException, OSError, EOFError, ValueError):
        # Any failure is located (or forgiven) by the exact slow scan.
        return None


def _parser(kind: pa.DataType) -> Callable[[str], Any]:
    if kind == FLOAT:
        return float
    if kind == INT:
        return int
    return str


def _read_slow(
    path: Path, columns: Mapping[str, pa.DataType], header: list[str], has_header: bool
) -> tuple[dict[str, pa.ChunkedArray], np.ndarray]:
    positions = {c: header.index(c) for c in columns}
    parsers = {c: _parser(kind) for c, kind in columns.items()}
    values: dict[str, list[Any]] = {c: [] for c in columns}
    lines: list[int] = []
    width = len(header)
    line = 0
    try:
        with open_text(path) as f:
            reader = csv.reader(f)
            if has_header:
                next(reader, None)
                line = reader.line_num
            for row in reader:
                start, line = line + 1, reader.line_num
                if not row:
                    continue  # blank line: skipped; `start` stays the physical line number
                if len(row) != width:
                    raise MalformedInputError(
                        path, f"line {start}", f"expected {width} fields, found {len(row)}"
                    )
                for column, index in positions.items():
                    text = row[index]
                    try:
                        values[column].append(parsers[column](text))
                    except ValueError:
                        what = "an integer" if columns[column] == INT else "a number"
                        raise MalformedInputError(
                            path, f"line {start}", f"column {column!r} is not {what}: {text!r}"
                        ) from None
                lines.append(start)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise MalformedInputError(path, f"line {line + 1}", f"cannot read the file ({e})") from e
    arrays = {c: pa.chunked_array([pa.array(values[c], type=columns[c])]) for c in columns}
    return arrays, np.asarray(lines, dtype=np.int64)


def raise_first(
    path: Path, lines: np.ndarray, mask: np.ndarray, reason: Callable[[int], str]
) -> None:
    """Raise :class:`MalformedInputError` at the first ``True`` in ``mask``, if any."""
    if mask.any():
        index = int(np.flatnonzero(mask)[0])
        raise MalformedInputError(path, location(path, int(lines[index])), reason(index))


def to_str_series(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    """Arrow strings -> a pandas ``str`` Series (Arrow-backed, so no per-row Python objects)."""
    return pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def upper_symbols(path: Path, values: pa.ChunkedArray, lines: np.ndarray) -> pa.ChunkedArray:
    """Trim and upper-case venue symbols; an empty symbol is malformed."""
    # A file holds a handful of distinct symbols: clean the dictionary, not a million rows.
    encoded = pc.dictionary_encode(values.combine_chunks())
    dictionary = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    symbols = dictionary.take(encoded.indices)
    empty = pc.equal(pc.utf8_length(symbols), 0).to_numpy(zero_copy_only=False)
    raise_first(path, lines, empty, lambda _: "empty symbol")
    return pa.chunked_array([symbols])


def sort_by_ts_init(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable sort by ``ts_init``; skipped when already sorted (the usual case)."""
    ts = frame["ts_init"].to_numpy()
    if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
        frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
    return frame
