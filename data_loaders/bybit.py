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
  ``recv_ts_ms``), as written by ``liqcascade record --raw``;
* the common third-party recorder shape ``{"t": <receipt ms>, "d": [event, ...]}``, events in
  either topic's fields (legacy ``{"updatedTime", "symbol", "side", "size", "price"}`` or
  ``{"T", "s", "S", "v", "p"}``);
* bare events, one per line, in either topic's fields (no receipt time).

In both topics ``S``/``side`` is the side of the **liquidated position**: ``Buy`` = a long was
liquidated (forced selling). ``p``/``price`` is the bankruptcy price, not a traded price.

Fidelity: without a recorded receipt time the event is assumed known at ``T + feed_delay``
(default 500 ms, the push interval) and never before the message's own push time ``ts``.

Every line of a recording must be understood. Known lines that carry no liquidation - subscribe
acknowledgements, pongs, other topics, the recorder's ``rejected``/``undecodable`` lines - are
skipped and counted. A line of no known shape is an error naming the file and line (a file of
someone else's format must not load as "0 rows"); ``skip_unknown=True`` (``--skip-unknown``)
skips such lines and reports how many. A liquidation message with bad fields is always an error
(files) or a logged, counted skip (live).

Trades
------
Bybit's public trade-history CSV (``<SYMBOL><YYYY-MM-DD>.csv.gz``): ``timestamp`` (float seconds,
exchange time), ``side`` (taker side), ``size``, ``price``, ``trdMatchID``; newer files add a
trailing ``RPI`` column (``1`` = the trade matched a Retail Price Improvement order). There is no
receipt time: ``ts_init = ts_event + trade_delay_ns`` (default 100 ms, ``--trade-feed-delay-ms``),
the time a live client would have the print, so a decision never uses a print before it could
have arrived. Fidelity limit: the backtest's venue also sees the print at ``ts_init`` (one
timeline for both), so orders meet prints that late too. Timestamps are rounded to the
microsecond (files carry 4 decimals); the delay must keep them whole microseconds.

RPI and block trades: one treatment everywhere
----------------------------------------------
Trades that could not have met one of our resting orders are left out of the trade data, counted
and reported: **block trades** (``BT: true`` in ``publicTrade``) are negotiated off the order book,
and **RPI trades** (``RPI`` = 1 in the archive, ``RPI: true`` in ``publicTrade``) matched RPI
orders, which only non-algorithmic takers can hit and which sit inside the public spread. Keeping
them would let the backtest's trade-driven matching fill a resting limit on a print the public
book never showed, so dropping them is the conservative choice (at worst a few fills are missed).
:func:`is_book_trade` is the one rule: the archive loader here, the recorder and the live client
all apply it.

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
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip

from liqcascade.data_loaders.csv_reader import FLOAT
from liqcascade.data_loaders.csv_reader import STR
from liqcascade.data_loaders.csv_reader import raise_first
from liqcascade.data_loaders.csv_reader import read_csv_columns
from liqcascade.data_loaders.csv_reader import read_first_row
from liqcascade.data_loaders.csv_reader import sort_by_ts_init
from liqcascade.data_loaders.csv_reader import to_str_series
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import DEFAULT_TRADE_FEED_DELAY_NS
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


#: Event fields of the two topics: (time, symbol, side, size, price).
_ALL_FIELDS = ("T", "s", "S", "v", "p")
_LEGACY_FIELDS = ("updatedTime", "symbol", "side", "size", "price")
# Bybit's field table says "updateTime" while its own example (and the stream) say "updatedTime".
_LEGACY_FIELDS_AS_DOCUMENTED = ("updateTime", "symbol", "side", "size", "price")


class UnknownShapeError(ValueError):
    """A JSON line that is no liquidation shape this loader knows (the reason is the message)."""


def _event_fields(event: dict[str, Any]) -> tuple[str, ...] | None:
    for fields in (_ALL_FIELDS, _LEGACY_FIELDS, _LEGACY_FIELDS_AS_DOCUMENTED):
        if fields[0] in event and fields[2] in event:  # time and side identify the shape
            return fields
    return None


def _is_known_other(line: dict[str, Any]) -> bool:
    """Lines a Bybit recording holds besides liquidations: acks, pongs, other topics, rejects."""
    topic = line.get("topic")
    if isinstance(topic, str):
        return not topic.startswith(("allLiquidation.", "liquidation."))
    # The recorder's own notes carry a receipt time and no message (rejected, undecodable, ...).
    recorder_note = ("recv_ts_ns" in line or "recv_ts_ms" in line) and "msg" not in line
    return "op" in line or recorder_note


def parse_recording_line(
    line: dict[str, Any], feed_delay_ns: int = DEFAULT_FEED_DELAY_NS
) -> list[LiquidationRecord] | None:
    """
    Parse one decoded line of a liquidation recording, whatever its known shape.

    Returns
    -------
    list[LiquidationRecord] | None
        The line's liquidations (possibly none), or ``None`` for a known line that carries no
        liquidation (an acknowledgement, a pong, another topic, a recorder's rejected line).

    Raises
    ------
    UnknownShapeError
        The line matches no known shape.
    MessageError
        A liquidation line with missing or invalid fields.

    """
    if "t" in line and "d" in line:  # {"t": receipt ms, "d": [events]}
        events = line["d"] if isinstance(line["d"], list) else [line["d"]]
        if not all(isinstance(e, dict) for e in events):
            raise MessageError("'d' must hold liquidation event objects")
        try:
            recv_ts_ns = int(line["t"]) * NS_PER_MS
        except (TypeError, ValueError):
            raise MessageError(f"'t' is not a receipt time in ms: {line['t']!r}") from None
        return _parse_events(events, recv_ts_ns, 0, feed_delay_ns)
    message, recv_ts_ns = unwrap(line)
    if "topic" in message:
        records = parse_liquidation_message(message, recv_ts_ns, feed_delay_ns)
        return None if _is_known_other(message) else records
    if _is_known_other(line) or _is_known_other(message):
        return None
    if recv_ts_ns is not None and not _event_fields(message):
        return None  # our recorder's wrapper around a control message without a topic
    if _event_fields(message) is not None:  # a bare event per line
        return _parse_events([message], recv_ts_ns, 0, feed_delay_ns)
    keys = ", ".join(sorted(map(str, line)))[:120]
    raise UnknownShapeError(f"not a known liquidation line shape (keys: {keys})")


def _parse_events(
    events: list[Any], recv_ts_ns: int | None, push_ts_ns: int, feed_delay_ns: int
) -> list[LiquidationRecord]:
    records = []
    for event in events:
        if not isinstance(event, dict):
            raise MessageError("liquidation event is not an object")
        fields = _event_fields(event)
        if fields is None:
            keys = ", ".join(sorted(map(str, event)))[:120]
            raise MessageError(f"not a liquidation event (keys: {keys})")
        time_key, symbol_key, side_key, size_key, price_key = fields
        ts_event = int(_number(event, time_key)) * NS_PER_MS
        symbol = event.get(symbol_key)
        if not isinstance(symbol, str) or not symbol:
            raise MessageError(f"missing field '{symbol_key}'")
        # Without a receipt time: the push interval's delay, and never before the push itself.
        known = max(ts_event + feed_delay_ns, push_ts_ns) if recv_ts_ns is None else recv_ts_ns
        records.append(
            LiquidationRecord(
                symbol=symbol,
                side=_side(event.get(side_key)),
                # NaN, infinities (1e400 parses as inf), zero and negatives are malformed: two
                # infinite-notional events would otherwise declare a cascade.
                price=_positive(event, price_key),
                quantity=_positive(event, size_key),
                ts_event=ts_event,
                ts_init=int(liquidation_ts_init(ts_event, known)),
            )
        )
    return records


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
    elif topic.startswith("liquidation."):
        event = message.get("data")
        if not isinstance(event, dict | list):
            raise MessageError("liquidation 'data' is not an object")
        events = event if isinstance(event, list) else [event]
    else:
        return []
    push_ts_ns = int(message["ts"]) * NS_PER_MS if isinstance(message.get("ts"), int) else 0
    return _parse_events(events, recv_ts_ns, push_ts_ns, feed_delay_ns)


def load_bybit_liquidations(
    path: Path,
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS,
    expected_symbol: str | None = None,
    skip_unknown: bool = False,
) -> pd.DataFrame:
    """
    Load a JSON-lines recording (plain or ``.gz``) of Bybit liquidations, in any known shape.

    The frame's ``attrs["notes"]`` says what was skipped (known non-liquidation lines, and with
    ``skip_unknown`` the lines of no known shape).

    Raises
    ------
    MalformedInputError
        Naming the line of the first unparseable JSON, invalid liquidation, or (unless
        ``skip_unknown``) line of no known shape.

    """
    path = Path(path)
    rows: list[tuple[Any, ...]] = []
    other = unknown = 0
    first_unknown = None
    opener = igzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    decoded = _decoder.decode(raw)
                    if not isinstance(decoded, dict):
                        raise UnknownShapeError("a line must be a JSON object")
                    records = parse_recording_line(decoded, feed_delay_ns)
                except UnknownShapeError as e:
                    if not skip_unknown:
                        raise MalformedInputError(
                            path, f"line {line_no}", f"{e}; --skip-unknown skips such lines"
                        ) from None
                    unknown += 1
                    first_unknown = first_unknown or line_no
                    continue
                except (msgspec.DecodeError, MessageError, TypeError, ValueError) as e:
                    raise MalformedInputError(path, f"line {line_no}", str(e)) from None
                if records is None:
                    other += 1
                    continue
                rows.extend((*r, line_no) for r in records)
    except (OSError, EOFError) as e:
        raise MalformedInputError(path, None, f"cannot read file: {e}") from e
    frame = pd.DataFrame(rows, columns=list(LIQUIDATION_COLUMNS))
    frame = frame.astype({"price": "float64", "quantity": "float64", "ts_event": "int64"})
    frame = frame.astype({"ts_init": "int64", "line": "int64"})
    frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
    notes = []
    if other:
        notes.append(f"{other} line(s) without liquidations skipped (acks, pongs, other topics)")
    if unknown:
        notes.append(f"{unknown} line(s) of no known shape skipped (first: line {first_unknown})")
    frame.attrs["notes"] = notes
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


_RPI_FLAGS = {"0": False, "1": True, "false": False, "true": True}


def load_bybit_trades(
    path: Path,
    expected_symbol: str | None = None,
    trade_delay_ns: int = DEFAULT_TRADE_FEED_DELAY_NS,
) -> pd.DataFrame:
    """
    Load a Bybit public trade-history CSV(.gz) into a trade frame.

    The symbol declared by the file name (or ``expected_symbol``) must match every row. Files
    with the trailing ``RPI`` column have their RPI trades left out (see the module docstring);
    ``attrs["notes"]`` says how many. ``ts_init`` is the match time plus ``trade_delay_ns``.

    Raises
    ------
    MalformedInputError
        Naming the line of the first malformed row (an ``RPI`` value other than 0/1 included).

    """
    if trade_delay_ns < 0 or trade_delay_ns % 1000:
        raise ValueError(f"trade delay must be whole microseconds >= 0, got {trade_delay_ns} ns")
    path = Path(path)
    expected_symbol = expected_symbol or symbol_from_trade_file(path)
    has_rpi = read_first_row(path)[-1] == "RPI"
    wanted = {**_TRADE_COLUMNS, "RPI": STR} if has_rpi else _TRADE_COLUMNS
    columns, lines = read_csv_columns(path, wanted)
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
            "ts_init": ts_event + trade_delay_ns,
            "line": lines,
        },
        columns=list(TRADE_COLUMNS),
    )
    notes = []
    if has_rpi:
        flags = pc.utf8_lower(pc.utf8_trim_whitespace(columns["RPI"]))
        index = pc.index_in(flags, value_set=pa.array(list(_RPI_FLAGS)))
        raw = columns["RPI"]
        raise_first(
            path,
            lines,
            index.is_null().to_numpy(zero_copy_only=False),
            lambda i: f"RPI must be 0 or 1, got {raw[i].as_py()!r}",
        )
        rpi = np.array(list(_RPI_FLAGS.values()))[index.to_numpy(zero_copy_only=False)]
        if rpi.any():
            notes.append(f"{int(rpi.sum())} RPI trade(s) left out (not fillable by our orders)")
            frame = frame.loc[~rpi].reset_index(drop=True)
    frame = validate_trades(path, sort_by_ts_init(frame), expected_symbol)
    frame.attrs["notes"] = notes
    return frame


# -- public trades (live client and recorder) ---------------------------------------------

TRADE_TOPIC_PREFIX = "publicTrade."


def is_book_trade(event: Any) -> bool:
    """
    Whether a ``publicTrade`` event is an order-book trade our orders could have met.

    ``False`` for block trades (``BT: true``) and RPI trades (``RPI: true``); ``True`` for anything
    else, including malformed events (so their parse error is not hidden). The one rule of the
    loaders, the recorder and the live client (module docstring: "RPI and block trades").
    """
    return not (isinstance(event, dict) and (event.get("BT") is True or event.get("RPI") is True))


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
        In message order, block and RPI trades left out (:func:`is_book_trade`); empty for
        messages that are not ``publicTrade`` pushes (acks, pongs, other topics).

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
    return [parse_trade_event(event, recv_ts_ns) for event in events if is_book_trade(event)]
