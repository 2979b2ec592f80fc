"""Klines (OHLCV candles) from Binance data-vision and Bybit into bar frames.

Bars are stamped at their **close**: ``ts_event = ts_init = open_time + interval``. A bar's high,
low and close are only known once it has closed, so a backtest must not see it earlier; stamping
at the open would leak up to one interval of the future into every decision.

Binance (``data.binance.vision``)
---------------------------------
Columns ``open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,
taker_buy_quote_volume,ignore``; futures files carry that header row, spot files none (both are
accepted). Times are milliseconds, except SPOT files from 2025-01-01 on, which use microseconds:
each row's unit is detected by magnitude. ``close_time`` is ``open_time + interval - 1`` unit and
is checked against the interval, which catches a wrong ``interval=``. ``volume`` is in base units;
quote volume, trade count and taker-buy volumes are dropped. Names look like
``ETHUSDT-1h-2024-01-01.csv`` (or the ``.zip`` it came in, read directly).

Bybit
-----
Header ``startTime,open,high,low,close,volume,turnover`` (``startTime`` = bar open, milliseconds);
``volume`` is in base units, ``turnover`` (quote) is dropped. The file name is
``{SYMBOL}_{interval}_{first}_{last}.csv`` with Bybit's interval codes
(``1 3 5 15 30 60 120 240 360 720 D W``). Rows may come newest first; they are sorted.

Limits common to both: candles are aggregates, so intrabar order is lost (a backtest on bars
cannot know whether the high or the low came first); monthly candles have no fixed length and are
not supported. Intraday and daily bars must sit on the interval grid (``open_time % interval ==
0``, UTC), weekly bars must open on a Monday 00:00 UTC, and open times must not repeat; gaps (venue
outages) are allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import INT
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import read_first_row
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.frames import BAR_COLUMNS
from liqcascade.data_loaders.frames import validate_bars

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
NS_PER_WEEK = 7 * NS_PER_DAY
#: 1970-01-01 was a Thursday; weekly candles open on Mondays, 4 days later in the week.
_WEEK_OFFSET_NS = 4 * NS_PER_DAY

# Largest unit first: a spec is written in the largest unit that divides the interval.
_SPEC_UNITS = (
    ("WEEK", NS_PER_WEEK),
    ("DAY", NS_PER_DAY),
    ("HOUR", NS_PER_HOUR),
    ("MINUTE", NS_PER_MINUTE),
    ("SECOND", NS_PER_SECOND),
)
_SUFFIX_NS = {
    "s": NS_PER_SECOND,
    "m": NS_PER_MINUTE,
    "h": NS_PER_HOUR,
    "d": NS_PER_DAY,
    "w": NS_PER_WEEK,
}
_SPEC_NS = dict(_SPEC_UNITS)

BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_BINANCE_TYPES = {
    "open_time": INT,
    "open": FLOAT,
    "high": FLOAT,
    "low": FLOAT,
    "close": FLOAT,
    "volume": FLOAT,
    "close_time": INT,
}
_BYBIT_TYPES = {
    "startTime": INT,
    "open": FLOAT,
    "high": FLOAT,
    "low": FLOAT,
    "close": FLOAT,
    "volume": FLOAT,
}
#: Binance times at or above this are microseconds (1e14 ms is the year 5138; 1e14 µs is 1973).
_MICROS_THRESHOLD = 10**14

_BINANCE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<interval>[0-9]+[smhdwM]|1mo)-[0-9]{4}-")
_BYBIT_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)_(?P<interval>[0-9]+|[DWM])_[^_]+_[^_]+$")


def interval_to_bar_spec(interval: str) -> tuple[str, int]:
    """
    Map a kline interval to a Nautilus bar spec (step-aggregation) and its length.

    Accepts Binance codes (``"1s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"1w"``), Bybit codes
    (minutes as digits ``"60"``, ``"D"``, ``"W"``) and spec strings (``"5-MINUTE"``).

    Returns
    -------
    tuple[str, int]
        The spec in the largest whole unit (``"60"`` -> ``("1-HOUR", 3_600_000_000_000)``) and
        the interval in nanoseconds.

    Raises
    ------
    ValueError
        For monthly or unknown intervals.

    """
    text = interval.strip()
    ns: int | None = None
    if text.isdigit():
        ns = int(text) * NS_PER_MINUTE  # Bybit: bare numbers are minutes
    elif text in ("D", "W"):
        ns = NS_PER_DAY if text == "D" else NS_PER_WEEK
    elif text in ("M", "1M", "1mo") or text.upper().endswith("-MONTH"):
        raise ValueError(f"monthly klines ({interval!r}) have no fixed length; not supported")
    elif match := re.fullmatch(r"([0-9]+)([smhdwSHDW])", text):
        ns = int(match.group(1)) * _SUFFIX_NS[match.group(2).lower()]
    elif (match := re.fullmatch(r"([0-9]+)-([A-Z]+)", text.upper())) and match.group(2) in _SPEC_NS:
        ns = int(match.group(1)) * _SPEC_NS[match.group(2)]
    if not ns:
        raise ValueError(f"unknown kline interval {interval!r}")
    for name, unit_ns in _SPEC_UNITS:
        if ns % unit_ns == 0:
            return f"{ns // unit_ns}-{name}", ns
    raise ValueError(f"kline interval {interval!r} is not a whole number of seconds")


def _name_parts(path: Path, pattern: re.Pattern[str]) -> tuple[str | None, str | None]:
    stem = path.name
    for suffix in (".gz", ".zip", ".csv"):
        stem = stem.removesuffix(suffix)
    match = pattern.match(stem)
    if match is None:
        return None, None
    return match.group("symbol"), match.group("interval")


def _utc(ns: np.int64) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat()


def _check_grid(path: Path, open_ns: np.ndarray, lines: np.ndarray, spec: str, ns: int) -> None:
    if ns <= NS_PER_DAY:
        off_grid = open_ns % np.int64(ns) != 0
    elif ns == NS_PER_WEEK:
        off_grid = (open_ns - np.int64(_WEEK_OFFSET_NS)) % np.int64(NS_PER_WEEK) != 0
    else:
        off_grid = open_ns % np.int64(NS_PER_DAY) != 0  # multi-day: at least on UTC midnight
    raise_first(
        path, lines, off_grid, lambda i: f"bar open {_utc(open_ns[i])} is not on the {spec} grid"
    )
    order = np.argsort(open_ns, kind="stable")
    repeated = np.zeros(len(open_ns), dtype=bool)
    repeated[order[1:]] = open_ns[order[1:]] == open_ns[order[:-1]]
    raise_first(path, lines, repeated, lambda i: f"bar open {_utc(open_ns[i])} repeats")


def _bar_frame(
    path: Path,
    symbol: str,
    spec: str,
    columns: dict[str, pa.ChunkedArray],
    close_ns: np.ndarray,
    lines: np.ndarray,
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "symbol": to_str_series(pa.array([symbol] * len(lines), type=pa.string())),
            "open": columns["open"].to_numpy(),
            "high": columns["high"].to_numpy(),
            "low": columns["low"].to_numpy(),
            "close": columns["close"].to_numpy(),
            "volume": columns["volume"].to_numpy(),
            "ts_event": close_ns,
            "ts_init": close_ns,
            "line": lines,
        },
        columns=list(BAR_COLUMNS),
    )
    frame = validate_bars(path, sort_by_ts_init(frame), expected_symbol=symbol)
    frame.attrs["bar_spec"] = spec
    return frame


def _resolve(
    path: Path,
    pattern: re.Pattern[str],
    interval: str | None,
    symbol: str | None,
) -> tuple[str | None, str | None]:
    name_symbol, name_interval = _name_parts(path, pattern)
    symbol = (symbol or name_symbol or "").strip().upper() or None
    return symbol, interval or name_interval


def load_binance_klines(
    path: Path,
    interval: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
) -> pd.DataFrame:
    """
    Load a Binance data-vision kline file (``.csv``, ``.csv.gz`` or the ``.zip`` it ships in).

    Parameters
    ----------
    path : Path
        The file, e.g. ``ETHUSDT-1h-2024-01-01.zip``.
    interval : str, optional
        Binance interval (``"1h"``); default: from the file name, else from the first row's
        ``close_time - open_time``.
    symbol : str, optional
        Venue symbol; default: from the file name.
    market : str, optional
        ``binance-usdm`` or ``binance-spot``; default: from the archive path
        (``.../futures/um/...`` or ``.../spot/...``). Kline files look alike in both markets,
        so one of the two must say.

    Returns
    -------
    pd.DataFrame
        A bar frame stamped at bar close, sorted, with ``attrs["bar_spec"]`` (``"1-HOUR"``) and
        ``attrs["market"]``.

    Raises
    ------
    MalformedInputError
        Bad line, off-grid or repeated bar, ``close_time`` not matching the interval.
    ValueError
        If the symbol or market cannot be inferred, or the interval is unknown or monthly.

    """
    from liqcascade.data_loaders.binance import market_from_path

    path = Path(path)
    symbol, interval = _resolve(path, _BINANCE_NAME, interval, symbol)
    if symbol is None:
        raise ValueError(f"{path}: cannot infer the symbol from the file name; pass --symbol")
    market = market or market_from_path(path)
    if market is None:
        raise ValueError(
            f"{path}: Binance USD-M and spot klines look alike and the path does not say "
            "(.../futures/um/... or .../spot/...); pass --market binance-usdm or binance-spot"
        )
    # Spot files have no header; futures files do. A numeric first field means data.
    first = read_first_row(path)
    names = BINANCE_COLUMNS if first[0].isdigit() else None
    columns, lines = read_csv_columns(path, _BINANCE_TYPES, names=names)

    open_raw = columns["open_time"].to_numpy()
    close_raw = columns["close_time"].to_numpy()
    # Per-row unit detection: spot switched ms -> µs on 2025-01-01, and concatenated files mix.
    unit_ns = np.where(open_raw >= _MICROS_THRESHOLD, np.int64(1_000), np.int64(1_000_000))
    open_ns = open_raw * unit_ns
    # close_time is the last unit inside the bar: close_time + 1 unit is the next bar's open.
    end_ns = close_raw * unit_ns + unit_ns
    if interval is None:
        if len(lines) == 0:
            raise ValueError(f"{path}: empty file and no interval; pass --interval")
        spec, ns = interval_to_bar_spec(f"{int(end_ns[0] - open_ns[0]) // NS_PER_SECOND}s")
    else:
        spec, ns = interval_to_bar_spec(interval)
    raise_first(
        path,
        lines,
        end_ns - open_ns != ns,
        lambda i: (
            f"close_time {int(close_raw[i])} does not close a {spec} bar "
            f"opened at {int(open_raw[i])}"
        ),
    )
    _check_grid(path, open_ns, lines, spec, ns)
    frame = _bar_frame(path, symbol, spec, columns, open_ns + np.int64(ns), lines)
    frame.attrs["market"] = market
    return frame


def load_bybit_klines(
    path: Path,
    interval: str | None = None,
    symbol: str | None = None,
) -> pd.DataFrame:
    """
    Load a Bybit kline CSV (``startTime,open,high,low,close,volume,turnover``).

    Parameters
    ----------
    path : Path
        The file, e.g. ``ETHUSDT_60_2024-01-01_2024-01-31.csv``.
    interval : str, optional
        Bybit interval code (``"60"``, ``"D"``); default: from the file name.
    symbol : str, optional
        Venue symbol; default: from the file name.

    Returns
    -------
    pd.DataFrame
        A bar frame stamped at bar close, sorted, with ``attrs["bar_spec"]``.

    Raises
    ------
    MalformedInputError
        Bad line, off-grid or repeated bar.
    ValueError
        If the symbol or interval cannot be inferred, or the interval is unknown or monthly.

    """
    path = Path(path)
    symbol, interval = _resolve(path, _BYBIT_NAME, interval, symbol)
    if symbol is None or interval is None:
        raise ValueError(
            f"{path}: cannot infer symbol/interval from the file name "
            "(expected SYMBOL_INTERVAL_FIRST_LAST.csv); pass --symbol and --interval"
        )
    spec, ns = interval_to_bar_spec(interval)
    columns, lines = read_csv_columns(path, _BYBIT_TYPES)
    open_ns = columns["startTime"].to_numpy() * np.int64(1_000_000)
    _check_grid(path, open_ns, lines, spec, ns)
    return _bar_frame(path, symbol, spec, columns, open_ns + np.int64(ns), lines)
