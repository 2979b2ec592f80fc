"""Binance public data archive (``data.binance.vision``): ``trades`` and ``aggTrades`` files.

Klines live in :mod:`liqcascade.data_loaders.klines`; this module reads the two trade layouts of
USD-M futures and spot, daily or monthly, as the ``.zip`` the archive serves (or the CSV in it).

Layouts
-------
====================  =====================================================================
USD-M ``trades``      ``id,price,qty,quote_qty,time,is_buyer_maker`` (header row; files from
                      2019 have none), ``time`` in ms
spot ``trades``       ``id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch`` (no header)
USD-M ``aggTrades``   ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
                      is_buyer_maker`` (header row)
spot ``aggTrades``    the same plus ``isBestMatch`` (no header)
====================  =====================================================================

Spot files from 2025-01-01 on stamp in microseconds, older ones and futures in milliseconds: each
row's unit is read from its magnitude. The column count tells spot (one more column) from
futures, so a file always lands in its own market's instrument (``ETHUSDT.BINANCE`` or
``ETHUSDT-PERP.BINANCE``); a ``market`` that disagrees with the file is an error.

Fidelity limits
---------------
- ``is_buyer_maker`` true means the taker sold: aggressor SELLER (2); false: BUYER (1).
- No receipt time: ``ts_init = ts_event`` (exchange time), like Bybit's archive.
- An aggregate trade is every fill of one taker order at one price within 100 ms, summed: its
  size is real but several prints become one, and ``trade_id`` is the aggregate id.
- Binance pads prices and sizes with zeros (``17.80180000``); the catalog writer keeps the
  instrument's precision and refuses a value off its tick.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import INT
from liqcascade.data_loaders.csv_reader import STR
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import read_first_row
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.frames import validate_trades
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM

#: Binance times at or above this are microseconds (1e14 ms is the year 5138; 1e14 µs is 1973).
_MICROS_THRESHOLD = 10**14
_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>trades|aggTrades)-\d{4}-\d{2}(-\d{2})?\.")

# Positional names: (futures, spot) layouts per data type; time and maker flag by name below.
_LAYOUTS = {
    "trades": (
        ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
        ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"),
    ),
    "aggTrades": (
        (
            "agg_trade_id",
            "price",
            "quantity",
            "first_trade_id",
            "last_trade_id",
            "transact_time",
            "is_buyer_maker",
        ),
        (
            "agg_trade_id",
            "price",
            "quantity",
            "first_trade_id",
            "last_trade_id",
            "transact_time",
            "is_buyer_maker",
            "is_best_match",
        ),
    ),
}
_MAKER_FLAGS = {"true": True, "false": False}


def market_from_path(path: Path) -> str | None:
    """``.../futures/um/...`` -> ``binance-usdm``, ``.../spot/...`` -> ``binance-spot``."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-1]):
        if part == "futures" and parts[i + 1] == "um":
            return BINANCE_USDM.name
        if part == "spot":
            return BINANCE_SPOT.name
    return None


def _load(path: Path, kind: str, symbol: str | None, market: str | None) -> pd.DataFrame:
    path = Path(path)
    match = _NAME.match(path.name)
    symbol = (symbol or (match.group("symbol") if match else "")).upper()
    if not symbol:
        raise ValueError(
            f"{path}: cannot infer the symbol from the file name "
            f"(expected SYMBOL-{kind}-YYYY-MM[-DD].zip); pass --symbol"
        )
    first = read_first_row(path)
    futures, spot = _LAYOUTS[kind]
    if len(first) not in (len(futures), len(spot)):
        raise MalformedInputError(
            path,
            "line 1",
            f"expected {len(futures)} (USD-M) or {len(spot)} (spot) columns of Binance {kind}, "
            f"found {len(first)}",
        )
    file_market = BINANCE_SPOT.name if len(first) == len(spot) else BINANCE_USDM.name
    if market is not None and market != file_market:
        raise MalformedInputError(
            path, "line 1", f"a {file_market} {kind} file (by its columns), not {market}"
        )
    names = spot if file_market == BINANCE_SPOT.name else futures
    has_header = not first[0].strip().isdigit()
    id_name, time_name = names[0], names[5] if kind == "aggTrades" else names[4]
    size_name = names[2]
    types = {id_name: STR, "price": FLOAT, size_name: FLOAT, time_name: INT, "is_buyer_maker": STR}
    # Header rows of the archive use these very names; a headerless file gets them positionally.
    columns, lines = read_csv_columns(path, types, names=None if has_header else names)
    maker = pc.utf8_lower(pc.utf8_trim_whitespace(columns["is_buyer_maker"]))
    is_maker = pc.index_in(maker, value_set=pa.array(list(_MAKER_FLAGS), STR))
    raw_maker = columns["is_buyer_maker"]
    raise_first(
        path,
        lines,
        is_maker.is_null().to_numpy(zero_copy_only=False),
        lambda i: f"is_buyer_maker must be true or false, got {raw_maker[i].as_py()!r}",
    )
    buyer_is_maker = np.array(list(_MAKER_FLAGS.values()))[is_maker.to_numpy(zero_copy_only=False)]
    raw_time = columns[time_name].to_numpy()
    unit_ns = np.where(raw_time >= _MICROS_THRESHOLD, np.int64(1_000), np.int64(1_000_000))
    ts_event = raw_time * unit_ns
    frame = pd.DataFrame(
        {
            "symbol": to_str_series(pa.array([symbol] * len(lines), STR)),
            "price": columns["price"].to_numpy(),
            "size": columns[size_name].to_numpy(),
            # The buyer made the market: the taker sold.
            "aggressor": np.where(buyer_is_maker, 2, 1).astype(np.int8),
            "trade_id": to_str_series(columns[id_name]),
            "ts_event": ts_event,
            "ts_init": ts_event,
            "line": lines,
        },
        columns=list(TRADE_COLUMNS),
    )
    frame = validate_trades(path, sort_by_ts_init(frame), expected_symbol=symbol)
    frame.attrs["market"] = file_market
    frame.attrs["notes"] = []
    return frame


def load_binance_trades(
    path: Path, symbol: str | None = None, market: str | None = None
) -> pd.DataFrame:
    """
    Load a Binance ``trades`` file (USD-M or spot, ``.zip`` or ``.csv``) into a trade frame.

    Parameters
    ----------
    path : Path
        E.g. ``ETHUSDT-trades-2025-03-03.zip``.
    symbol : str, optional
        Venue symbol; default from the file name.
    market : str, optional
        ``binance-usdm`` or ``binance-spot``; must agree with the file's columns.

    Returns
    -------
    pd.DataFrame
        A trade frame with ``attrs["market"]``, sorted by ``ts_init``.

    Raises
    ------
    MalformedInputError
        Wrong column count, bad value, a market the file contradicts (naming file and line).

    """
    return _load(path, "trades", symbol, market)


def load_binance_aggtrades(
    path: Path, symbol: str | None = None, market: str | None = None
) -> pd.DataFrame:
    """Load a Binance ``aggTrades`` file; see :func:`load_binance_trades`."""
    return _load(path, "aggTrades", symbol, market)
