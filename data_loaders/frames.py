"""Column contracts shared by every loader, and the validation every loader gets for free.

Each loader parses one wire format into a ``pandas.DataFrame`` with the columns below; the
catalog writer turns frames into the framework's Arrow tables. Keeping validation here means
every source is checked the same way and every error names the file and the line.

Liquidation frame: ``symbol, side, price, quantity, ts_event, ts_init, line``
Trade frame:       ``symbol, price, size, aggressor, trade_id, ts_event, ts_init, line``
Bar frame:         ``symbol, open, high, low, close, volume, ts_event, ts_init, line``

``line`` is the 1-based line (text formats) or row (tables) the record came from. ``side`` is
already the liquidated position's side (``LONG``/``SHORT``); ``aggressor`` is 1 = buyer,
2 = seller, 0 = unknown (the framework's ``AggressorSide`` values).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import SIDES
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS

#: Assumed exchange-to-client delay of a public trade print when a source has no receipt time
#: (Bybit's trade archive), in nanoseconds; whole microseconds keep trades off the liquidations'
#: +1 ns tie-break.
DEFAULT_TRADE_FEED_DELAY_NS = 100_000_000

LIQUIDATION_COLUMNS = ("symbol", "side", "price", "quantity", "ts_event", "ts_init", "line")
TRADE_COLUMNS = (
    "symbol",
    "price",
    "size",
    "aggressor",
    "trade_id",
    "ts_event",
    "ts_init",
    "line",
)
BAR_COLUMNS = ("symbol", "open", "high", "low", "close", "volume", "ts_event", "ts_init", "line")

#: Earliest plausible timestamp (2017-01-01): catches seconds/ms/µs unit mix-ups.
MIN_TS_NS = 1_483_228_800_000_000_000
#: How far past "now" a timestamp may be before it is called out of range.
MAX_FUTURE_NS = 2 * 86_400 * 1_000_000_000


def _fail(path: Path, frame: pd.DataFrame, mask: np.ndarray, reason: str, column: str) -> None:
    index = int(np.flatnonzero(mask)[0])
    row = frame.iloc[index]
    unit = "row" if path.suffix == ".parquet" else "line"
    value = row[column]
    value = value.item() if isinstance(value, np.generic) else value  # 2.0, not np.float64(2.0)
    raise MalformedInputError(path, f"{unit} {int(row['line'])}", f"{reason}: {value!r}")


def _check_positive(path: Path, frame: pd.DataFrame, columns: Iterable[str]) -> None:
    for column in columns:
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            _fail(path, frame, bad, f"{column} must be a positive number", column)


def _check_timestamps(path: Path, frame: pd.DataFrame) -> None:
    max_ts = time.time_ns() + MAX_FUTURE_NS
    for column in ("ts_event", "ts_init"):
        values = frame[column].to_numpy(dtype=np.int64)
        bad = (values < MIN_TS_NS) | (values > max_ts)
        if bad.any():
            _fail(path, frame, bad, f"{column} out of range (not 2017..now)", column)
    bad = frame["ts_init"].to_numpy(dtype=np.int64) < frame["ts_event"].to_numpy(dtype=np.int64)
    if bad.any():
        _fail(path, frame, bad, "receipt time before event time", "ts_init")


def _check_symbol(path: Path, frame: pd.DataFrame, expected_symbol: str | None) -> None:
    if expected_symbol is None:
        return
    bad = (frame["symbol"] != expected_symbol).to_numpy(dtype=bool)
    if bad.any():
        _fail(path, frame, bad, f"symbol differs from the declared {expected_symbol}", "symbol")


def validate_liquidations(
    path: Path,
    frame: pd.DataFrame,
    expected_symbol: str | None = None,
) -> pd.DataFrame:
    """
    Check a liquidation frame; return it unchanged.

    Raises
    ------
    MalformedInputError
        At the first bad record: non-positive price or quantity, unknown side, timestamps out
        of range, or a symbol other than ``expected_symbol``.

    """
    _check_positive(path, frame, ("price", "quantity"))
    bad = ~frame["side"].isin(SIDES).to_numpy()
    if bad.any():
        _fail(path, frame, bad, "unknown liquidation side", "side")
    _check_timestamps(path, frame)
    _check_symbol(path, frame, expected_symbol)
    return frame


def validate_trades(
    path: Path,
    frame: pd.DataFrame,
    expected_symbol: str | None = None,
) -> pd.DataFrame:
    """Check a trade frame (see :func:`validate_liquidations`); aggressor must be 0, 1 or 2."""
    _check_positive(path, frame, ("price", "size"))
    bad = ~np.isin(frame["aggressor"].to_numpy(), (0, 1, 2))
    if bad.any():
        _fail(path, frame, bad, "unknown aggressor side", "aggressor")
    _check_timestamps(path, frame)
    _check_symbol(path, frame, expected_symbol)
    return frame


def validate_bars(
    path: Path,
    frame: pd.DataFrame,
    expected_symbol: str | None = None,
) -> pd.DataFrame:
    """Check a bar frame: positive prices, ``low <= open, close <= high``, volume >= 0."""
    _check_positive(path, frame, ("open", "high", "low", "close"))
    volume = frame["volume"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(volume) & (volume >= 0))
    if bad.any():
        _fail(path, frame, bad, "volume must be a non-negative number", "volume")
    low, high = frame["low"].to_numpy(), frame["high"].to_numpy()
    bad = (low > frame[["open", "close"]].min(axis=1).to_numpy()) | (
        high < frame[["open", "close"]].max(axis=1).to_numpy()
    )
    if bad.any():
        _fail(path, frame, bad, "inconsistent OHLC (low/high do not bound open/close)", "low")
    _check_timestamps(path, frame)
    _check_symbol(path, frame, expected_symbol)
    return frame


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty frame with the given contract's columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def liquidation_ts_init(
    ts_event: np.ndarray | int,
    ts_recv: np.ndarray | int | None = None,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
) -> np.ndarray | int:
    """
    Return each liquidation's ``ts_init``: when a live client could first have known of it.

    The receipt time when the source recorded one, else ``ts_event + feed_delay_ns``; plus
    :data:`~liqcascade.data_loaders.liquidation.TIE_BREAK_NS` so it never ties with a trade. Never
    earlier than ``ts_event``. Works element-wise on int64 arrays and on plain ints alike.
    """
    base = ts_event + feed_delay_ns if ts_recv is None else ts_recv
    return np.maximum(base, ts_event) + TIE_BREAK_NS


def number_identical_liquidations(frame: pd.DataFrame) -> pd.DataFrame:
    """
    Keep identical liquidations of one push apart: the k-th gets ``ts_event + k`` nanoseconds.

    Two liquidations of the same size, price and side in one push are two liquidations (the live
    client counts both), but the catalog de-duplicates on ``(ts_event, side, price, quantity)``
    so that a re-import, or a push a reconnection replays, adds nothing. Rows of one push share
    their ``ts_init`` (its receipt time); among those, equal rows are numbered 0, 1, 2, ... and
    the number is added to ``ts_event`` (exchange times are whole milliseconds, so the
    nanoseconds are free). A re-import numbers them the same way, and a replayed push, received
    later, numbers its copy 0 again: both still collapse onto the rows already stored.
    ``ts_init`` stays at least ``ts_event`` + the tie-break.
    """
    keys = ["symbol", "ts_init", "ts_event", "side", "price", "quantity"]
    if len(frame) < 2 or not frame.duplicated(keys).any():
        return frame
    frame = frame.copy()
    sequence = frame.groupby(keys, sort=False).cumcount().to_numpy(dtype=np.int64)
    frame["ts_event"] = frame["ts_event"].to_numpy(dtype=np.int64) + sequence
    frame["ts_init"] = np.maximum(
        frame["ts_init"].to_numpy(dtype=np.int64), frame["ts_event"].to_numpy() + TIE_BREAK_NS
    )
    return frame
