"""Generic liquidation tables (CSV or Parquet) described by a column mapping, plus the CSV machinery
every text loader shares.

Use this when liquidations come from somewhere without a dedicated loader: a recorder of your own,
a vendor export, a notebook dump. The caller declares which column holds what
(:class:`TableMapping`) and, crucially, what the side column *means*:

- ``side_convention="position"``: the value names the **liquidated position**. ``long``/``buy``
  -> ``LONG``, ``short``/``sell`` -> ``SHORT`` (Bybit's ``allLiquidation`` ``S`` field says
  ``Buy`` for a liquidated long, so a raw Bybit recording is ``position``).
- ``side_convention="order"``: the value is the side of the **liquidation order** (tardis.dev,
  Binance ``forceOrder``): ``sell`` -> ``LONG`` (a long was force-sold), ``buy`` -> ``SHORT``.

Getting this wrong silently inverts every signal, so there is no default: the mapping must say.

Fidelity limits
---------------
- Timestamps are whatever the table says. With ``receipt_timestamp`` the receipt time becomes
  ``ts_init``; without it ``ts_init = ts_event + feed_delay_ns`` (500 ms by default, Bybit's push
  interval), which is an assumption, not a measurement.
- Numeric timestamp text (``"1704067200.123"`` in seconds, say) is converted exactly; digits
  below a nanosecond are dropped. Float columns in Parquet are rounded to whole microseconds,
  because a float64 cannot hold epoch nanoseconds exactly. ISO-8601 strings without an offset are
  taken as UTC.
- Prices and quantities are float64; a table's own rounding is kept, nothing is snapped to the
  instrument's tick here.
- Symbols are upper-cased and must be the venue symbol (``ETHUSDT``).

Errors name the file and the ``line`` (CSV, header is line 1) or ``row`` (Parquet, 1-based).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import INT
from liqcascade.data_loaders.csv_reader import STR
from liqcascade.data_loaders.csv_reader import is_parquet
from liqcascade.data_loaders.csv_reader import location
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import read_first_row
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.csv_reader import upper_symbols
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import liquidation_ts_init
from liqcascade.data_loaders.frames import validate_liquidations
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT

SIDE_CONVENTIONS = ("position", "order")
TIMESTAMP_UNITS = ("s", "ms", "us", "ns", "iso")
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_FRACTION_DIGITS = {"s": 9, "ms": 6, "us": 3, "ns": 0}
_INT64_MAX = np.iinfo(np.int64).max

# Side words per convention, lower-case; anything else is malformed.
_SIDE_WORDS: dict[str, dict[str, str]] = {
    "position": {"long": LONG, "buy": LONG, "short": SHORT, "sell": SHORT},
    "order": {"sell": LONG, "buy": SHORT},
}


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------


def _decimal_text_to_ns(
    path: Path, column: str, values: pa.ChunkedArray, lines: np.ndarray, unit: str
) -> np.ndarray:
    # Exact decimal -> integer ns without ever going through float64.
    text = pc.utf8_trim_whitespace(values)
    ok = pc.match_substring_regex(text, r"^[0-9]+(\.[0-9]*)?$").to_numpy(zero_copy_only=False)
    raise_first(
        path,
        lines,
        ~ok,
        lambda i: f"column {column!r} is not a {unit} timestamp: {values[i].as_py()!r}",
    )
    parts = pc.extract_regex(text, r"^(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]*))?$")
    whole_text = pc.struct_field(parts, "whole")
    # More than int64 can hold (19 digits above 9223372036854775807) would make the cast fail.
    length = pc.utf8_length(whole_text)
    too_long = pc.or_(
        pc.greater(length, 19),
        pc.and_(pc.equal(length, 19), pc.greater(whole_text, str(_INT64_MAX))),
    ).to_numpy(zero_copy_only=False)
    whole = pc.cast(pc.if_else(too_long, "0", whole_text), INT).to_numpy(zero_copy_only=False)
    scale = _NS_PER_UNIT[unit]
    overflow = too_long | (whole > _INT64_MAX // scale)
    raise_first(
        path, lines, overflow, lambda i: f"column {column!r} is out of range: {values[i].as_py()!r}"
    )
    ns = whole * scale
    digits = _FRACTION_DIGITS[unit]
    if digits:
        frac = pc.struct_field(parts, "frac")
        frac = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, digits, "0"), 0, digits)
        ns += pc.cast(frac, INT).to_numpy(zero_copy_only=False)
    return ns.astype(np.int64, copy=False)


def _iso_to_ns(path: Path, column: str, values: pa.ChunkedArray, lines: np.ndarray) -> np.ndarray:
    raw = values.to_numpy(zero_copy_only=False)
    parsed = pd.to_datetime(pd.Series(raw), format="ISO8601", utc=True, errors="coerce")
    raise_first(
        path,
        lines,
        parsed.isna().to_numpy(),
        lambda i: f"column {column!r} is not an ISO-8601 timestamp: {raw[i]!r}",
    )
    # pandas 3 infers the resolution; pin it to ns before taking the integers.
    return parsed.dt.tz_convert(None).dt.as_unit("ns").to_numpy().view(np.int64)


def timestamps_to_ns(
    path: Path, column: str, values: pa.ChunkedArray, lines: np.ndarray, unit: str
) -> np.ndarray:
    """
    Convert a timestamp column to int64 UNIX nanoseconds.

    Strings are parsed exactly (``unit`` ``"iso"``: ISO-8601; else decimal numbers in ``unit``);
    integers are scaled; floats are rounded to whole microseconds; Arrow timestamps are used as
    they are (their own unit wins).
    """
    kind = values.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None and kind.unit == "ns":
            return values.to_numpy().view(np.int64)
        return pc.cast(values, pa.timestamp("ns")).to_numpy().view(np.int64)
    if unit == "iso":
        if not pa.types.is_string(kind) and not pa.types.is_large_string(kind):
            raise MalformedInputError(
                path, None, f"column {column!r} holds {kind}, not ISO-8601 strings"
            )
        return _iso_to_ns(path, column, values, lines)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _decimal_text_to_ns(path, column, values, lines, unit)
    if pa.types.is_integer(kind):
        return values.to_numpy().astype(np.int64) * np.int64(_NS_PER_UNIT[unit])
    if pa.types.is_floating(kind):
        micros = np.round(values.to_numpy() * (_NS_PER_UNIT[unit] / 1_000))
        bad = ~np.isfinite(micros)
        raise_first(path, lines, bad, lambda _: f"column {column!r} holds a missing timestamp")
        return micros.astype(np.int64) * np.int64(1_000)
    raise MalformedInputError(path, None, f"column {column!r} holds {kind}, not timestamps")


# --------------------------------------------------------------------------------------------
# Mapping and loader
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableMapping:
    """
    Which column of a table holds what, and what its side values mean.

    Parameters
    ----------
    timestamp : str
        Event-time column.
    side : str
        Side column (see ``side_convention``).
    price : str
        Price column (bankruptcy price for Bybit).
    quantity : str
        Size column, base units.
    side_convention : str
        ``"position"``: the value names the liquidated position (``long``/``buy`` -> LONG).
        ``"order"``: the value is the liquidation order's side (``sell`` -> LONG).
    symbol : str, optional
        Symbol column; ``None`` when the caller passes ``symbol=`` to the loader.
    receipt_timestamp : str, optional
        Receipt-time column (same unit as ``timestamp``); becomes ``ts_init``.
    timestamp_unit : str, default "ms"
        ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"iso"`` (ISO-8601 strings).

    Raises
    ------
    ValueError
        Naming the field, if a value is not allowed.

    """

    timestamp: str
    side: str
    price: str
    quantity: str
    side_convention: str
    symbol: str | None = None
    receipt_timestamp: str | None = None
    timestamp_unit: str = "ms"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            optional = f.name in ("symbol", "receipt_timestamp")
            if value is None and optional:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"TableMapping.{f.name} must be a non-empty string, got {value!r}")
        if self.side_convention not in SIDE_CONVENTIONS:
            raise ValueError(
                f"TableMapping.side_convention must be one of {SIDE_CONVENTIONS}, "
                f"got {self.side_convention!r}"
            )
        if self.timestamp_unit not in TIMESTAMP_UNITS:
            raise ValueError(
                f"TableMapping.timestamp_unit must be one of {TIMESTAMP_UNITS}, "
                f"got {self.timestamp_unit!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableMapping:
        """
        Build a mapping from a TOML/JSON table.

        Raises
        ------
        ValueError
            Naming the field: unknown key, missing required key, or a bad value.

        """
        if not isinstance(data, Mapping):
            raise ValueError(f"TableMapping must be a table of fields, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(
                    f"TableMapping: unknown field {key!r} (fields: {', '.join(known)})"
                )
        required = ("timestamp", "side", "price", "quantity", "side_convention")
        for key in required:
            if key not in data:
                raise ValueError(f"TableMapping: missing required field {key!r}")
        return cls(**dict(data))

    def columns(self) -> dict[str, str]:
        """Role -> source column, for the roles this mapping uses."""
        roles = {
            "timestamp": self.timestamp,
            "side": self.side,
            "price": self.price,
            "quantity": self.quantity,
        }
        if self.symbol is not None:
            roles["symbol"] = self.symbol
        if self.receipt_timestamp is not None:
            roles["receipt_timestamp"] = self.receipt_timestamp
        return roles


def _read_parquet_columns(
    path: Path, roles: Mapping[str, str]
) -> tuple[dict[str, pa.ChunkedArray], np.ndarray]:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as e:
        raise MalformedInputError(path, None, f"not a readable Parquet file ({e})") from e
    for role, column in roles.items():
        if column not in schema.names:
            raise MalformedInputError(
                path, None, f"missing column {column!r} (mapped as {role}; has: {schema.names})"
            )
    wanted = list(dict.fromkeys(roles.values()))
    try:
        table = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as e:
        raise MalformedInputError(path, None, f"not a readable Parquet file ({e})") from e
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    columns = {c: table.column(c) for c in wanted}
    for column, values in columns.items():
        raise_first(
            path,
            lines,
            values.is_null().to_numpy(zero_copy_only=False),
            lambda _, column=column: f"missing value in column {column!r}",
        )
    return columns, lines


def _to_float(path: Path, column: str, values: pa.ChunkedArray, lines: np.ndarray) -> np.ndarray:
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return values.to_numpy().astype(np.float64, copy=False)
    if pa.types.is_decimal(values.type):
        return pc.cast(values, FLOAT).to_numpy()
    raw = values.to_numpy(zero_copy_only=False)
    out = np.empty(len(raw), dtype=np.float64)
    # Per-value parse: only reached for string-typed Parquet columns, which are small in practice.
    for i, text in enumerate(raw):
        try:
            out[i] = float(text)
        except (TypeError, ValueError):
            raise MalformedInputError(
                path, location(path, int(lines[i])), f"column {column!r} is not a number: {text!r}"
            ) from None
    return out


def _positions(
    path: Path,
    column: str,
    values: pa.ChunkedArray,
    lines: np.ndarray,
    convention: str,
) -> pa.ChunkedArray:
    words = _SIDE_WORDS[convention]
    text = values if pa.types.is_string(values.type) else pc.cast(values, STR)
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    index = pc.index_in(lowered, value_set=pa.array(list(words)))
    unknown = index.is_null().to_numpy(zero_copy_only=False)
    if unknown.any():
        raw = text.to_numpy(zero_copy_only=False)
        expected = "/".join(words)
        raise_first(
            path,
            lines,
            unknown,
            lambda i: (
                f"unknown side value {raw[i]!r} in column {column!r} "
                f"(side_convention {convention!r} expects {expected})"
            ),
        )
    return pa.array(list(words.values()), type=STR).take(index)


def load_generic_liquidations(
    path: Path,
    mapping: TableMapping,
    symbol: str | None = None,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
) -> pd.DataFrame:
    """
    Load liquidations from a CSV (``.csv``, ``.csv.gz``) or Parquet table via a column mapping.

    Parameters
    ----------
    path : Path
        The table; ``.parquet`` is read as Parquet, anything else as CSV with a header row.
    mapping : TableMapping
        Column names, the side convention and the timestamp unit.
    symbol : str, optional
        The venue symbol (``ETHUSDT``). Required when ``mapping.symbol`` is ``None``; otherwise
        every row's symbol must equal it.
    feed_delay_ns : int, default DEFAULT_FEED_DELAY_NS
        Assumed delivery delay when the table has no receipt-time column.

    Returns
    -------
    pd.DataFrame
        A liquidation frame (:data:`~liqcascade.data_loaders.frames.LIQUIDATION_COLUMNS`), sorted by
        ``ts_init``.

    Raises
    ------
    MalformedInputError
        Missing mapped column, unparsable value or unknown side, naming the line/row.
    ValueError
        If neither ``mapping.symbol`` nor ``symbol`` is given.

    """
    path = Path(path)
    if mapping.symbol is None and symbol is None:
        raise ValueError(f"{path}: the mapping has no symbol column, so pass --symbol")
    expected = symbol.strip().upper() if symbol is not None else None
    roles = mapping.columns()
    if is_parquet(path):
        columns, lines = _read_parquet_columns(path, roles)
    else:
        header = read_first_row(path)
        for role, column in roles.items():
            if column not in header:
                raise MalformedInputError(
                    path,
                    "line 1",
                    f"missing column {column!r} (mapped as {role}; header: {', '.join(header)})",
                )
        # Timestamps stay text here so they convert exactly (see _decimal_text_to_ns).
        kinds = {"price": FLOAT, "quantity": FLOAT}
        types = {column: kinds.get(role, STR) for role, column in roles.items()}
        columns, lines = read_csv_columns(path, types)

    price = _to_float(path, mapping.price, columns[mapping.price], lines)
    quantity = _to_float(path, mapping.quantity, columns[mapping.quantity], lines)
    side = _positions(path, mapping.side, columns[mapping.side], lines, mapping.side_convention)
    unit = mapping.timestamp_unit
    ts_event = timestamps_to_ns(path, mapping.timestamp, columns[mapping.timestamp], lines, unit)
    ts_recv = None
    if mapping.receipt_timestamp is not None:
        ts_recv = timestamps_to_ns(
            path, mapping.receipt_timestamp, columns[mapping.receipt_timestamp], lines, unit
        )
    if mapping.symbol is not None:
        raw = columns[mapping.symbol]
        text = raw if pa.types.is_string(raw.type) else pc.cast(raw, STR)
        symbols = to_str_series(upper_symbols(path, text, lines))
    else:
        symbols = to_str_series(pa.array([expected] * len(lines), type=STR))
    frame = pd.DataFrame(
        {
            "symbol": symbols,
            "side": to_str_series(side),
            "price": price,
            "quantity": quantity,
            "ts_event": ts_event,
            "ts_init": liquidation_ts_init(ts_event, ts_recv, feed_delay_ns),
            "line": lines,
        },
        columns=list(LIQUIDATION_COLUMNS),
    )
    frame = sort_by_ts_init(frame)
    return validate_liquidations(path, frame, expected_symbol=expected)
