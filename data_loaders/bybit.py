"""Bybit sources: websocket liquidation messages (recorded or live) and trade-history files.

Liquidations
------------
One parser, :func:`parse_liquidation_message`, serves both the file loader and the live data
client. It understands

* ``allLiquidation.<SYMBOL>`` pushes (complete feed since Feb 2025, every 500 ms, several events
  per message): ``{"topic", "type", "ts", "data": [{"T", "s", "S", "v", "p"}, ...]}``;
* legacy ``liquidation.<SYMBOL>`` pushes (at most one event per second per symbol, so it misses
  most of a cascade): ``"data": {"updatedTime", "symbol", "side", "size", "price"}``;
* recorder lines wrapping either with a receipt time: ``{"recv_ts_ns": int, "msg": {...}}`` (or
  ``recv_ts_ms``), as written by ``liqcascade record --raw``.

In both topics ``S``/``side`` is the side of the **liquidated position**: ``Buy`` = a long was
liquidated (forced selling). ``p``/``price`` is the bankruptcy price, not a traded price.

Fidelity: without a recorded receipt time the event is assumed known at ``T + feed_delay``
(default 500 ms, the push interval) and never before the message's own push time ``ts``. Subscribe
acknowledgements, pongs and other topics are skipped; a liquidation message that cannot be
understood is an error (files) or a logged, counted skip (live).

Trades
------
Bybit's public trade-history CSV (``<SYMBOL><YYYY-MM-DD>.csv.gz``): ``timestamp`` (float seconds,
exchange time), ``side`` (taker side), ``size``, ``price``, ``trdMatchID``. There is no receipt
time: ``ts_init = ts_event``. Timestamps are rounded to the microsecond (files carry 4 decimals).

Public trades (live)
--------------------
:func:`parse_trade_message` reads ``publicTrade.<SYMBOL>`` pushes for the live client and the
recorder: ``{"topic", "ts", "data": [{"T", "s", "S", "v", "p", "i", "BT", ...}]}``, where ``S``
is the **taker** side, ``T`` the match time (ms), ``i`` the trade id. ``ts_init`` is the receipt
time, never before the match.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from typing import NamedTuple

import msgspec
import numpy as np
import pandas as pd
import pyarrow.compute as pc
from isal import igzip

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import STR
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.frames import liquidation_ts_init
from liqcascade.data_loaders.frames import validate_liquidations
from liqcascade.data_loaders.frames import validate_trades
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT

NS_PER_MS = 1_000_000
_POSITION_SIDE = {"Buy": LONG, "Sell": SHORT}
_TRADE_FILE = re.compile(r"^([A-Z0-9]+?)(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$")
_decoder = msgspec.json.Decoder()


class LiquidationRecord(NamedTuple):
    """One parsed liquidation, before it becomes a frame row or a ``LiquidationData``."""

    symbol: str
    side: str
    price: float
    quantity: float
    ts_event: int
    ts_init: int


class MessageError(ValueError):
    """A liquidation message that cannot be understood (the reason is the message)."""


def _number(event: dict[str, Any], key: str) -> float:
    try:
        value = float(event[key])
    except KeyError:
        raise MessageError(f"missing field '{key}'") from None
    except (TypeError, ValueError):
        raise MessageError(f"field '{key}' is not a number: {event[key]!r}") from None
    return value


def _positive(event: dict[str, Any], key: str) -> float:
    value = _number(event, key)
    if not 0 < value < math.inf:  # also rejects NaN
        raise MessageError(f"field '{key}' must be a finite positive number, got {event[key]!r}")
    return value


def _side(value: object) -> str:
    try:
        return _POSITION_SIDE[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise MessageError(f"unknown liquidation side {value!r} (expected Buy or Sell)") from None


def unwrap(line: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Split a recorder line into (raw message, receipt time ns); raw messages pass through."""
    if "msg" in line:
        if "recv_ts_ns" in line:
            return line["msg"], int(line["recv_ts_ns"])
        if "recv_ts_ms" in line:
            return line["msg"], int(line["recv_ts_ms"]) * NS_PER_MS
    return line, None


def parse_liquidation_message(
    message: dict[str, Any],
    recv_ts_ns: int | None = None,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
) -> list[LiquidationRecord]:
    """
    Parse one Bybit websocket message into liquidation records.

    Parameters
    ----------
    message : dict
        A decoded websocket message (raw, not a recorder wrapper).
    recv_ts_ns : int, optional
        When the message was received; ``None`` for sources without receipt time.
    feed_delay_ns : int
        Assumed delay from event to receipt when ``recv_ts_ns`` is ``None``.

    Returns
    -------
    list[LiquidationRecord]
        Empty for messages that are not liquidation pushes (acks, pongs, other topics).

    Raises
    ------
    MessageError
        A liquidation push with missing or invalid fields.

    """
    topic = message.get("topic")
    if not isinstance(topic, str):
        return []
    if topic.startswith("allLiquidation."):
        events = message.get("data")
        if not isinstance(events, list):
            raise MessageError("allLiquidation 'data' is not a list")
        fields = ("T", "s", "S", "v", "p")
    elif topic.startswith("liquidation."):
        event = message.get("data")
        if not isinstance(event, dict):
            raise MessageError("liquidation 'data' is not an object")
        events = [event]
        fields = ("updatedTime", "symbol", "side", "size", "price")
    else:
        return []

    time_key, symbol_key, side_key, size_key, price_key = fields
    push_ts_ns = int(message["ts"]) * NS_PER_MS if isinstance(message.get("ts"), int) else 0
    records = []
    for event in events:
        if not isinstance(event, dict):
            raise MessageError("liquidation event is not an object")
        ts_event = int(_number(event, time_key)) * NS_PER_MS
        symbol = event.get(symbol_key)
        if not isinstance(symbol, str) or not symbol:
            raise MessageError(f"missing field '{symbol_key}'")
        # Without a receipt time: the push interval's delay, and never before the push itself.
        known = max(ts_event + feed_delay_ns, push_ts_ns) if recv_ts_ns is None else recv_ts_ns
        ts_init = int(liquidation_ts_init(ts_event, known))
        records.append(
            LiquidationRecord(
                symbol=symbol,
                side=_side(event.get(side_key)),
                # NaN, infinities (1e400 parses as inf), zero and negatives are malformed: two
                # infinite-notional events would otherwise declare a cascade.
                price=_positive(event, price_key),
                quantity=_positive(event, size_key),
                ts_event=ts_event,
                ts_init=ts_init,
            )
        )
    return records


def load_bybit_liquidations(
    path: Path,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
    expected_symbol: str | None = None,
) -> pd.DataFrame:
    """
    Load a JSON-lines recording (plain or ``.gz``) of Bybit liquidation messages.

    Raises
    ------
    MalformedInputError
        Naming the line of the first unparseable JSON or invalid liquidation message.

    """
    path = Path(path)
    rows: list[tuple[Any, ...]] = []
    opener = igzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    decoded = _decoder.decode(raw)
                    if not isinstance(decoded, dict):
                        raise MessageError("a line must be a JSON object")
                    message, recv_ts_ns = unwrap(decoded)
                    records = parse_liquidation_message(message, recv_ts_ns, feed_delay_ns)
                except (msgspec.DecodeError, MessageError, TypeError, ValueError) as e:
                    raise MalformedInputError(path, f"line {line_no}", str(e)) from None
                rows.extend((*r, line_no) for r in records)
    except (OSError, EOFError) as e:
        raise MalformedInputError(path, None, f"cannot read file: {e}") from e
    frame = pd.DataFrame(rows, columns=list(LIQUIDATION_COLUMNS))
    frame = frame.astype({"price": "float64", "quantity": "float64", "ts_event": "int64"})
    frame = frame.astype({"ts_init": "int64", "line": "int64"})
    frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
    return validate_liquidations(path, frame, expected_symbol)


_TRADE_COLUMNS = {
    "timestamp": FLOAT,
    "symbol": STR,
    "side": STR,
    "size": FLOAT,
    "price": FLOAT,
    "trdMatchID": STR,
}


def symbol_from_trade_file(path: Path) -> str | None:
    """``ETHUSDT2025-03-03.csv.gz`` -> ``ETHUSDT`` (``None`` if the name does not say)."""
    match = _TRADE_FILE.match(path.name)
    return match.group(1) if match else None


def load_bybit_trades(path: Path, expected_symbol: str | None = None) -> pd.DataFrame:
    """
    Load a Bybit public trade-history CSV(.gz) into a trade frame.

    The symbol declared by the file name (or ``expected_symbol``) must match every row.

    Raises
    ------
    MalformedInputError
        Naming the line of the first malformed row.

    """
    path = Path(path)
    expected_symbol = expected_symbol or symbol_from_trade_file(path)
    columns, lines = read_csv_columns(path, _TRADE_COLUMNS)
    side = columns["side"]
    aggressor = np.zeros(len(lines), dtype=np.int8)
    aggressor[pc.equal(side, "Buy").to_numpy(zero_copy_only=False)] = 1
    aggressor[pc.equal(side, "Sell").to_numpy(zero_copy_only=False)] = 2
    raise_first(path, lines, aggressor == 0, lambda i: f"unknown taker side {side[i].as_py()!r}")
    # Float seconds with <= 6 decimals are exact to the microsecond at today's magnitudes.
    ts_event = np.rint(columns["timestamp"].to_numpy() * 1e6).astype(np.int64) * 1000
    frame = pd.DataFrame(
        {
            "symbol": to_str_series(columns["symbol"]),
            "price": columns["price"].to_numpy(),
            "size": columns["size"].to_numpy(),
            "aggressor": aggressor,
            "trade_id": to_str_series(columns["trdMatchID"]),
            "ts_event": ts_event,
            "ts_init": ts_event,
            "line": lines,
        },
        columns=list(TRADE_COLUMNS),
    )
    return validate_trades(path, sort_by_ts_init(frame), expected_symbol)


# -- public trades (live client and recorder) ---------------------------------------------

TRADE_TOPIC_PREFIX = "publicTrade."
#: Aggressor codes of the trade frame (``liqcascade.data_loaders.frames``): 1 = buyer, 2 = seller.
AGGRESSOR_BUYER = 1
AGGRESSOR_SELLER = 2
_AGGRESSOR = {"Buy": AGGRESSOR_BUYER, "Sell": AGGRESSOR_SELLER}


class TradePrint(NamedTuple):
    """
    One parsed public trade, "TradeTick-ready".

    The fields are the trade frame's columns (``liqcascade.data_loaders.frames.TRADE_COLUMNS``
    without ``line``), in that order, so a recorder can build a frame with
    ``pd.DataFrame(records, columns=TRADE_COLUMNS[:-1])``. A live client builds a ``TradeTick``
    with ``instrument.make_price(price)``, ``instrument.make_qty(size)``,
    ``AggressorSide(aggressor)`` (1 = ``BUYER``, 2 = ``SELLER``), ``TradeId(trade_id)``.

    ``price`` and ``size`` are floats parsed from Bybit's decimal strings: at crypto price and size
    magnitudes a float round-trips every decimal with up to 15 significant digits, so rounding to
    the instrument's precision recovers the exact value.
    """

    symbol: str
    price: float
    size: float
    aggressor: int
    trade_id: str
    ts_event: int
    ts_init: int


def is_off_book_print(event: Any) -> bool:
    """
    Whether a ``publicTrade`` item is a block trade (``BT``) or an RPI trade (``RPI``).

    Block trades are negotiated off the order book and RPI (retail price improvement) orders
    are only matched against retail flow: neither can fill a resting limit order of ours, so
    the live feed, the paper venue, the recorder and the loaders all leave them out.
    """
    return isinstance(event, dict) and (event.get("BT") is True or event.get("RPI") is True)


def parse_trade_event(event: Any, recv_ts_ns: int) -> TradePrint:
    """
    Parse one element of a ``publicTrade`` push's ``data`` list.

    Raises
    ------
    MessageError
        Missing or invalid fields.

    """
    if not isinstance(event, dict):
        raise MessageError("trade event is not an object")
    symbol = event.get("s")
    if not isinstance(symbol, str) or not symbol:
        raise MessageError("missing field 's'")
    aggressor = _AGGRESSOR.get(event.get("S"))  # type: ignore[arg-type]
    if aggressor is None:
        raise MessageError(f"unknown taker side {event.get('S')!r} (expected Buy or Sell)")
    trade_id = event.get("i")
    if not isinstance(trade_id, str) or not trade_id:
        raise MessageError("missing field 'i'")
    try:
        ts_event = int(event["T"]) * NS_PER_MS
    except KeyError:
        raise MessageError("missing field 'T'") from None
    except (TypeError, ValueError):
        raise MessageError(f"field 'T' is not an integer: {event['T']!r}") from None
    return TradePrint(
        symbol=symbol,
        price=_positive(event, "p"),
        size=_positive(event, "v"),
        aggressor=aggressor,
        trade_id=trade_id,
        ts_event=ts_event,
        # Receipt time, never before the match itself (clock skew between us and Bybit).
        ts_init=max(recv_ts_ns, ts_event),
    )


def parse_trade_message(message: dict[str, Any], recv_ts_ns: int) -> list[TradePrint]:
    """
    Parse one decoded Bybit websocket message into trade records.

    Parameters
    ----------
    message : dict
        A decoded websocket message (raw, not a recorder wrapper).
    recv_ts_ns : int
        When the message was received (UNIX ns). Each record's ``ts_init`` is
        ``max(recv_ts_ns, ts_event)``; a recorded file replays with its recorded receipt time.

    Returns
    -------
    list[TradePrint]
        In message order; empty for messages that are not ``publicTrade`` pushes (acks, pongs,
        other topics).

    Raises
    ------
    MessageError
        A ``publicTrade`` push whose ``data`` is not a list, or with any invalid trade (use
        :func:`parse_trade_event` per element to keep the good ones).

    """
    topic = message.get("topic")
    if not isinstance(topic, str) or not topic.startswith(TRADE_TOPIC_PREFIX):
        return []
    events = message.get("data")
    if not isinstance(events, list):
        raise MessageError("publicTrade 'data' is not a list")
    return [parse_trade_event(event, recv_ts_ns) for event in events]
