"""Which events of a Bybit push a recording accepts: the checks that keep the catalog loadable.

The one concern of this module is the event-level verdict. Each event goes through the shared
parsers (:func:`liqcascade.data_loaders.bybit.parse_liquidation_message`, one event at a time,
and :func:`~liqcascade.data_loaders.bybit.parse_trade_event`), then through what would break the
catalog later: another symbol's event, a time outside 2017..now+2 days, a price or size that is
not positive (liquidations) or not finite, a trade price or size off the instrument's tick/lot
grid, a trade id longer than the framework's 36 characters. A refused event raises one of
:data:`CHECK_ERRORS`; one bad event spoils only itself.
"""

from __future__ import annotations

import math
from typing import Any

from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.bybit import parse_liquidation_message
from liqcascade.data_loaders.bybit import parse_trade_event
from liqcascade.data_loaders.frames import MAX_FUTURE_NS
from liqcascade.data_loaders.frames import MIN_TS_NS
from liqcascade.data_loaders.instruments import InstrumentSpec

#: What a refused event raises (the parsers' errors included).
CHECK_ERRORS = (MessageError, KeyError, TypeError, ValueError)


def on_grid(value: float, precision: int) -> bool:
    """Whether ``value`` is a whole number of ``10**-precision`` steps."""
    # The tolerance of liqcascade.data_loaders.arrow_tables.to_units: a row it would refuse is
    # refused here, alone, instead of failing a whole flush.
    scaled = value * 10.0**precision
    return abs(scaled - round(scaled)) <= max(1e-6, abs(scaled) * 1e-12)


def _check_origin(event_symbol: str, topic_symbol: str, ts_event: int, now_ns: int) -> None:
    if event_symbol != topic_symbol:
        raise MessageError(f"event for {event_symbol} in the {topic_symbol} topic")
    if not MIN_TS_NS <= ts_event <= now_ns + MAX_FUTURE_NS:
        raise MessageError(f"event time {ts_event} out of range")


def check_liquidation(
    message: dict[str, Any], event: Any, symbol: str, recv_ns: int, now_ns: int
) -> LiquidationRecord:
    """
    Return the record of one event of an ``allLiquidation.<symbol>`` push.

    Raises
    ------
    MessageError, KeyError, TypeError, ValueError
        The event is refused.

    """
    # The shared parser, one event at a time: one bad event spoils only itself.
    (record,) = parse_liquidation_message({**message, "data": [event]}, recv_ns)
    _check_origin(record.symbol, symbol, record.ts_event, now_ns)
    if not (record.price > 0 and record.quantity > 0):
        raise MessageError("price and size must be positive")
    if not (math.isfinite(record.price) and math.isfinite(record.quantity)):
        raise MessageError("price and size must be finite")
    return record


def check_trade(
    event: Any, symbol: str, spec: InstrumentSpec, recv_ns: int, now_ns: int
) -> TradePrint:
    """
    Return the record of one event of a ``publicTrade.<symbol>`` push (``spec``: the symbol's).

    Raises
    ------
    MessageError, KeyError, TypeError, ValueError
        The event is refused.

    """
    record = parse_trade_event(event, recv_ns)
    _check_origin(record.symbol, symbol, record.ts_event, now_ns)
    if not (math.isfinite(record.price) and math.isfinite(record.size)):
        raise MessageError("price and size must be finite")
    if len(record.trade_id) > 36:  # the framework's TradeId limit
        raise MessageError(f"trade id longer than 36 characters: {record.trade_id!r}")
    if not on_grid(record.price, spec.price_precision):
        raise MessageError(f"price off the {spec.tick_size} tick")
    if not on_grid(record.size, spec.size_precision):
        raise MessageError(f"size off the {spec.qty_step} lot step")
    return record
