"""tardis.dev downloadable CSV files: ``liquidations`` and ``trades`` (plain or ``.csv.gz``).

Both share the header ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``.

Venues: every row loads into the market its ``exchange`` column names - ``bybit`` -> Bybit
linear (``ETHUSDT-LINEAR.BYBIT``), ``binance-futures`` -> Binance USD-M
(``ETHUSDT-PERP.BINANCE``), ``binance`` -> Binance spot (``ETHUSDT.BINANCE``). Any other exchange
is an error naming the line: a Binance print must never become a Bybit one. tardis serves an
empty gzip for a day without data; such a file loads as no rows (and says so).

Fidelity limits
---------------
- ``timestamp`` is the exchange's event time and ``local_timestamp`` the moment tardis's recorder
  received the message, both in whole microseconds; they become ``ts_event`` and ``ts_init``
  (x 1000 to nanoseconds). Bybit stamps in milliseconds, so Bybit's event times end in ``000``.
- ``local_timestamp`` is a real receipt time, measured from tardis's servers (AWS, London or
  Tokyo), not from yours: your own latency differs.
- Liquidations: ``side`` is the side of the **liquidation order**: ``sell`` means a long position
  was force-sold, so it becomes ``LONG``; ``buy`` becomes ``SHORT``. (Reading it as the position
  side inverts every signal.) A row whose side is neither is rejected: the position is unknown.
  ``price`` is the venue's reported (for Bybit: bankruptcy) price, ``amount`` the size in base
  units; ``id`` is dropped (Bybit sends none). For Bybit, tardis recorded the legacy
  ``liquidation`` topic until 2025-02-26, which carried at most one liquidation per symbol per
  second: older files *undercount* cascades. From then on it records ``allLiquidation``.
- Trades: ``side`` is the **taker** side: ``buy`` -> aggressor 1 (buyer), ``sell`` -> 2
  (seller), ``unknown`` -> 0. ``id`` is the venue's trade id; an empty id (exchanges without
  ids) is rejected rather than invented. ``amount`` is in base units.
- Clock skew: a ``local_timestamp`` earlier than ``timestamp`` (exchange clock ahead of the
  recorder's) is raised to ``timestamp``, since nothing can be received before it happened; the
  framework's own Tardis loader keeps the raw value.
- Prices and sizes are float64 as printed; the catalog writer applies the instrument precision.
- Symbols are upper-cased (tardis writes Bybit symbols as ``ETHUSDT``); every row keeps its own
  symbol, so a grouped multi-symbol file loads as such unless ``expected_symbol`` is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import INT
from liqcascade.data_loaders.csv_reader import STR
from liqcascade.data_loaders.csv_reader import open_binary
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.csv_reader import upper_symbols
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.frames import empty_frame
from liqcascade.data_loaders.frames import liquidation_ts_init
from liqcascade.data_loaders.frames import validate_liquidations
from liqcascade.data_loaders.frames import validate_trades
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM
from liqcascade.data_loaders.instruments import BYBIT_LINEAR
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT

#: tardis exchange id -> our market (see the module docstring).
EXCHANGE_MARKETS = {
    "bybit": BYBIT_LINEAR.name,
    "binance-futures": BINANCE_USDM.name,
    "binance": BINANCE_SPOT.name,
}
#: Column types read from a tardis ``liquidations`` / ``trades`` file.
_COLUMNS = {
    "exchange": STR,
    "symbol": STR,
    "timestamp": INT,
    "local_timestamp": INT,
    "id": STR,
    "side": STR,
    "price": FLOAT,
    "amount": FLOAT,
}
_NS_PER_US = np.int64(1_000)

# Liquidation ORDER side -> liquidated POSITION side.
_LIQUIDATION_SIDES = {"sell": LONG, "buy": SHORT}
# Taker side -> AggressorSide value (1 buyer, 2 seller, 0 no aggressor).
_AGGRESSORS = {"buy": 1, "sell": 2, "unknown": 0}


def _map_side(
    path: Path, values: pa.ChunkedArray, lines: np.ndarray, words: dict[str, object]
) -> np.ndarray:
    """Index each side value into ``words`` (case-insensitive); raise at the first unknown."""
    value_set = pa.array(list(words))
    # tardis writes lower case: try the cheap exact match first, lower-case only if needed.
    index = pc.index_in(values, value_set=value_set)
    if index.null_count:
        index = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=value_set)
    if index.null_count:
        raw = values.to_numpy(zero_copy_only=False)
        expected = "/".join(words)
        raise_first(
            path,
            lines,
            index.is_null().to_numpy(zero_copy_only=False),
            lambda i: f"unknown side value {raw[i]!r} (expected {expected})",
        )
    return index.to_numpy(zero_copy_only=False)


def _markets(path: Path, values: pa.ChunkedArray, lines: np.ndarray) -> pd.Series:
    """Each row's market from its ``exchange`` (a file holds one exchange: cheap to map)."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    names = [str(x) for x in encoded.dictionary.to_pylist()]
    unknown = [name for name in names if name not in EXCHANGE_MARKETS]
    if unknown:
        known = ", ".join(EXCHANGE_MARKETS)
        raise_first(
            path,
            lines,
            pc.equal(values, unknown[0]).to_numpy(zero_copy_only=False),
            lambda _: f"exchange {unknown[0]!r} has no instruments here (known: {known})",
        )
    markets = pa.array([EXCHANGE_MARKETS[n] for n in names], STR).take(encoded.indices)
    return to_str_series(markets)


def _is_empty(path: Path) -> bool:
    with open_binary(path) as f:
        return not f.read(1)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    frame = empty_frame(columns)
    frame["market"] = pd.Series(dtype="object")
    frame.attrs["notes"] = ["empty file (tardis serves one for a day without data)"]
    return frame


def _timestamps(columns: dict[str, pa.ChunkedArray]) -> tuple[np.ndarray, np.ndarray]:
    ts_event = columns["timestamp"].to_numpy() * _NS_PER_US
    ts_recv = columns["local_timestamp"].to_numpy() * _NS_PER_US
    return ts_event, ts_recv


def load_tardis_liquidations(
    path: Path,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
    expected_symbol: str | None = None,
) -> pd.DataFrame:
    """
    Load a tardis.dev ``liquidations`` CSV (``.csv`` or ``.csv.gz``).

    Parameters
    ----------
    path : Path
        The file.
    feed_delay_ns : int, default DEFAULT_FEED_DELAY_NS
        Unused while the file carries ``local_timestamp`` (it always does); kept so every
        liquidation loader has the same signature.
    expected_symbol : str, optional
        If given, every row must be this symbol.

    Returns
    -------
    pd.DataFrame
        A liquidation frame (``side`` = liquidated position), sorted by ``ts_init``.

    Raises
    ------
    MalformedInputError
        At the first bad line (missing column, bad number, unknown side, ...).

    """
    path = Path(path)
    if _is_empty(path):
        return _empty(LIQUIDATION_COLUMNS)
    columns, lines = read_csv_columns(path, _COLUMNS)
    index = _map_side(path, columns["side"], lines, _LIQUIDATION_SIDES)  # type: ignore[arg-type]
    sides = pa.array(list(_LIQUIDATION_SIDES.values()), type=STR).take(index)
    ts_event, ts_recv = _timestamps(columns)
    frame = pd.DataFrame(
        {
            "symbol": to_str_series(upper_symbols(path, columns["symbol"], lines)),
            "side": to_str_series(sides),
            "price": columns["price"].to_numpy(),
            "quantity": columns["amount"].to_numpy(),
            "ts_event": ts_event,
            "ts_init": liquidation_ts_init(ts_event, ts_recv, feed_delay_ns),
            "line": lines,
        },
        columns=list(LIQUIDATION_COLUMNS),
    )
    frame["market"] = _markets(path, columns["exchange"], lines)
    frame = sort_by_ts_init(frame)
    expected = expected_symbol.upper() if expected_symbol is not None else None
    frame = validate_liquidations(path, frame, expected_symbol=expected)
    frame.attrs["notes"] = []
    return frame


def load_tardis_trades(path: Path, expected_symbol: str | None = None) -> pd.DataFrame:
    """
    Load a tardis.dev ``trades`` CSV (``.csv`` or ``.csv.gz``).

    Parameters
    ----------
    path : Path
        The file.
    expected_symbol : str, optional
        If given, every row must be this symbol.

    Returns
    -------
    pd.DataFrame
        A trade frame (aggressor 1 = buyer, 2 = seller, 0 = unknown), sorted by ``ts_init``.

    Raises
    ------
    MalformedInputError
        At the first bad line (missing column, bad number, unknown side, empty trade id, ...).

    """
    path = Path(path)
    if _is_empty(path):
        return _empty(TRADE_COLUMNS)
    columns, lines = read_csv_columns(path, _COLUMNS)
    index = _map_side(path, columns["side"], lines, _AGGRESSORS)  # type: ignore[arg-type]
    aggressor = np.array(list(_AGGRESSORS.values()), dtype=np.int8)[index]
    trade_ids = columns["id"]
    empty = pc.equal(pc.utf8_length(trade_ids), 0).to_numpy(zero_copy_only=False)
    raise_first(path, lines, empty, lambda _: "empty trade id")
    ts_event, ts_recv = _timestamps(columns)
    frame = pd.DataFrame(
        {
            "symbol": to_str_series(upper_symbols(path, columns["symbol"], lines)),
            "price": columns["price"].to_numpy(),
            "size": columns["amount"].to_numpy(),
            "aggressor": aggressor,
            "trade_id": to_str_series(trade_ids),
            "ts_event": ts_event,
            # Receipt before the event is clock skew; clamp so ts_init >= ts_event holds.
            "ts_init": np.maximum(ts_recv, ts_event),
            "line": lines,
        },
        columns=list(TRADE_COLUMNS),
    )
    frame["market"] = _markets(path, columns["exchange"], lines)
    frame = sort_by_ts_init(frame)
    expected = expected_symbol.upper() if expected_symbol is not None else None
    frame = validate_trades(path, frame, expected_symbol=expected)
    frame.attrs["notes"] = []
    return frame
