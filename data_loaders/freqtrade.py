"""freqtrade OHLCV files (``.feather``, ``.json``, ``.json.gz``) into bar frames.

Many traders already hold candles downloaded by ``freqtrade download-data``. Its layout::

    user_data/data/<exchange>/ETH_USDT-1h.feather                  spot
    user_data/data/<exchange>/futures/ETH_USDT_USDT-1h-futures.feather   USDT perpetual

(the pair with ``/``, ``:`` and a few other characters written as ``_``; the candle type after the
timeframe for futures). ``.feather`` holds the columns ``date, open, high, low, close, volume``
(``date`` a UTC timestamp, or integer ms in old files); ``.json``/``.json.gz`` a list of
``[date_ms, open, high, low, close, volume]`` rows.

Venue: the exchange folder and the candle type say which instrument a file is - ``binance``
futures -> ``ETHUSDT-PERP.BINANCE``, ``binance`` spot -> ``ETHUSDT.BINANCE``, ``bybit`` futures
-> ``ETHUSDT-LINEAR.BYBIT``. A file elsewhere needs ``market=`` (``--market``). Candle types
that are not trade prices (``mark``, ``index``, ``premiumIndex``, ``funding_rate``,
``open_interest``) are refused: a backtest must not take a mark price for a traded one.

Like every bar loader, bars are stamped at their **close** (``date`` is the candle's open), and
must sit on the timeframe's grid without repeats; ``1M`` (monthly) candles are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
from isal import igzip

from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM
from liqcascade.data_loaders.instruments import BYBIT_LINEAR
from liqcascade.data_loaders.klines import _bar_frame
from liqcascade.data_loaders.klines import _check_grid
from liqcascade.data_loaders.klines import interval_to_bar_spec

_NAME = re.compile(
    r"^(?P<pair>[A-Za-z0-9_]+)-(?P<timeframe>\d+(?:[smhdwy]|Mo|M))"
    r"(?:-(?P<candle>[A-Za-z_]+))?\.(?P<ext>feather|json|json\.gz)$"
)
#: (exchange folder, futures?) -> market.
_MARKETS = {
    ("binance", True): BINANCE_USDM.name,
    ("binance", False): BINANCE_SPOT.name,
    ("bybit", True): BYBIT_LINEAR.name,
}
_PRICE_CANDLES = ("futures", "spot")
_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def _location(path: Path) -> tuple[str, str, str | None, str | None]:
    """(symbol, timeframe, candle type, market from the folders) from a freqtrade path."""
    match = _NAME.match(path.name)
    if match is None:
        raise MalformedInputError(
            path,
            None,
            "not a freqtrade OHLCV file name (PAIR-TIMEFRAME[-CANDLETYPE].feather|json|json.gz, "
            "e.g. ETH_USDT_USDT-1h-futures.feather)",
        )
    parts = match.group("pair").split("_")
    if len(parts) not in (2, 3):
        raise MalformedInputError(path, None, f"cannot read the pair {match.group('pair')!r}")
    candle = match.group("candle")
    if candle is not None and candle not in _PRICE_CANDLES:
        raise MalformedInputError(
            path, None, f"{candle} candles are not traded prices; load the futures candles"
        )
    futures = len(parts) == 3 or candle == "futures"
    folder = path.parent.parent if path.parent.name == "futures" else path.parent
    market = _MARKETS.get((folder.name.lower(), futures))
    return parts[0] + parts[1], match.group("timeframe"), candle, market


def _read_feather(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    try:
        table = feather.read_table(str(path))
    except (pa.ArrowException, OSError) as e:
        raise MalformedInputError(path, None, f"not a readable feather file ({e})") from e
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing:
        raise MalformedInputError(path, None, f"missing column {missing[0]!r}")
    date = table["date"]
    if pa.types.is_timestamp(date.type):
        open_ns = date.cast(pa.timestamp("ns")).to_numpy().view(np.int64)
    elif pa.types.is_integer(date.type):
        open_ns = date.to_numpy().astype(np.int64) * 1_000_000  # old files: epoch ms
    else:
        raise MalformedInputError(path, None, f"column 'date' holds {date.type}, not timestamps")
    columns = {c: table[c].to_numpy().astype(np.float64) for c in _COLUMNS[1:]}
    return {"date": open_ns, **columns}, open_ns


def _read_json(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    raw = igzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        rows: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise MalformedInputError(path, None, f"not JSON ({e})") from e
    if not isinstance(rows, list):
        raise MalformedInputError(path, None, "expected a list of [date_ms, o, h, l, c, v] rows")
    values = np.empty((len(rows), 6), dtype=np.float64)
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 6):
            raise MalformedInputError(path, f"row {i + 1}", "expected [date_ms, o, h, l, c, v]")
        try:
            values[i] = row
        except (TypeError, ValueError):
            raise MalformedInputError(path, f"row {i + 1}", f"not numbers: {row!r}") from None
    open_ns = values[:, 0].astype(np.int64) * 1_000_000
    columns = {name: values[:, k] for k, name in enumerate(_COLUMNS) if k}
    return {"date": open_ns, **columns}, open_ns


def load_freqtrade_ohlcv(
    path: Path, symbol: str | None = None, market: str | None = None
) -> pd.DataFrame:
    """
    Load one freqtrade OHLCV file into a bar frame stamped at bar close.

    Parameters
    ----------
    path : Path
        E.g. ``user_data/data/binance/futures/ETH_USDT_USDT-1h-futures.feather``.
    symbol : str, optional
        Venue symbol; default: the pair without separators (``ETHUSDT``).
    market : str, optional
        Default: from the exchange folder and candle type (see the module docstring).

    Returns
    -------
    pd.DataFrame
        A bar frame with ``attrs["bar_spec"]`` and ``attrs["market"]``; ``line`` is the 1-based
        row.

    Raises
    ------
    MalformedInputError
        A name, column or row that is not freqtrade's, a non-price candle type, off-grid or
        repeated candles.
    ValueError
        The market cannot be inferred and was not given.

    """
    path = Path(path)
    name_symbol, timeframe, _, folder_market = _location(path)
    market = market or folder_market
    if market is None:
        raise ValueError(
            f"{path}: the folders do not say which venue this is (expected .../binance/ or "
            ".../bybit/ from freqtrade); pass --market"
        )
    if timeframe.endswith(("M", "Mo")):
        raise MalformedInputError(path, None, "monthly candles have no fixed length")
    spec, ns = interval_to_bar_spec(timeframe)
    columns, open_ns = _read_feather(path) if path.suffix == ".feather" else _read_json(path)
    lines = np.arange(1, len(open_ns) + 1, dtype=np.int64)
    bad = ~np.isfinite(np.column_stack([columns[c] for c in _COLUMNS[1:]])).all(axis=1)
    raise_first(path, lines, bad, lambda _: "missing or non-numeric OHLCV value")
    _check_grid(path, open_ns, lines, spec, ns)
    arrays = {c: pa.chunked_array([pa.array(columns[c])]) for c in _COLUMNS[1:]}
    frame = _bar_frame(
        path, (symbol or name_symbol).upper(), spec, arrays, open_ns + np.int64(ns), lines
    )
    frame.attrs["market"] = market
    frame.attrs["notes"] = []
    return frame
