"""Bybit public-stream pushes turned into framework data, for the live data client.

The one concern of this module is the conversion: an ``allLiquidation`` push becomes
``LiquidationData``, a ``publicTrade`` push ``TradeTick`` at the instrument's exact precision,
through the parsers shared with the recorded-data loaders
(:func:`liqcascade.data_loaders.bybit.parse_liquidation_message`,
:func:`~liqcascade.data_loaders.bybit.parse_trade_message`); block and RPI trades are left out
(:func:`~liqcascade.data_loaders.bybit.is_book_trade`), as everywhere.

* ``ts_init`` is the receipt time given (plus the loaders' 1 ns tie-break for liquidations, and
  never before the exchange's event time).
* A reconnection can replay events already delivered. Each liquidation's key (symbol, event
  time, side, price, size, and its occurrence number within its message - two identical events
  in one push are two liquidations, a replayed push repeats both) is kept in a bounded recent
  window; repeats are dropped and counted. Trades are keyed by their Bybit trade id the same way.
* A bad event spoils only itself: the good events of its push are still converted; the bad one
  is reported through ``skip_malformed`` (the connection's counter).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from collections.abc import Hashable
from typing import Any
from typing import TypeVar

from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument

from liqcascade.data_loaders.bybit import TRADE_TOPIC_PREFIX
from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.bybit import is_book_trade
from liqcascade.data_loaders.bybit import parse_liquidation_message
from liqcascade.data_loaders.bybit import parse_trade_event
from liqcascade.data_loaders.bybit import parse_trade_message
from liqcascade.data_loaders.instruments import symbol_of
from liqcascade.data_loaders.liquidation import LiquidationData

TOPIC_PREFIX = "allLiquidation."
_PARSE_ERRORS = (MessageError, KeyError, TypeError, ValueError)

Record = TypeVar("Record", LiquidationRecord, TradePrint)

# (symbol, ts_event, side, price, quantity, occurrence within its message)
DedupeKey = tuple[str, int, str, float, float, int]


class RecentKeys:
    """
    A set that remembers only its ``capacity`` most recently added keys.

    Parameters
    ----------
    capacity : int
        Number of keys kept; the oldest is forgotten first.

    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._order: deque[Hashable] = deque(maxlen=capacity)
        self._keys: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; return ``False`` if it was already known (a duplicate)."""
        if key in self._keys:
            return False
        if len(self._order) == self._order.maxlen:
            self._keys.discard(self._order[0])  # the deque drops it on append below
        self._order.append(key)
        self._keys.add(key)
        return True


def topic_for(instrument_id: InstrumentId) -> str:
    """
    Return the ``allLiquidation`` topic of a Bybit linear instrument.

    Raises
    ------
    ValueError
        If the instrument is not a linear contract (spot, inverse and options live on other
        streams).

    """
    symbol = symbol_of(instrument_id.value)
    if not symbol or "-" in symbol:
        raise ValueError(
            f"{instrument_id} is not a Bybit linear instrument (expected e.g. ETHUSDT-LINEAR.BYBIT)"
        )
    return f"{TOPIC_PREFIX}{symbol}"


def trade_topic_for(instrument_id: InstrumentId) -> str:
    """
    Return the ``publicTrade`` topic of a Bybit linear instrument.

    Raises
    ------
    ValueError
        If the instrument is not a linear contract.

    """
    return TRADE_TOPIC_PREFIX + topic_for(instrument_id)[len(TOPIC_PREFIX) :]


class PushConverter:
    """
    Convert pushes to ``LiquidationData`` / ``TradeTick``, dropping replayed events.

    Parameters
    ----------
    dedupe_window : int
        How many recent liquidation keys (and, apart, trade ids) are remembered.
    feed_delay_ns : int
        Passed to the shared liquidation parser.
    skip_malformed : Callable[[str], None]
        Called with the reason for each bad event (counted and logged by the caller).

    """

    def __init__(
        self, dedupe_window: int, feed_delay_ns: int, skip_malformed: Callable[[str], None]
    ) -> None:
        self._recent = RecentKeys(dedupe_window)
        self._recent_trades = RecentKeys(dedupe_window)
        self._feed_delay_ns = feed_delay_ns
        self._skip_malformed = skip_malformed
        self.duplicates = 0  # liquidations and trades dropped as repeats
        self.excluded_prints = 0  # block and RPI trades dropped

    def liquidations(
        self,
        topic: str,
        instrument_id: InstrumentId,
        message: dict[str, Any],
        recv_ns: int,
    ) -> list[LiquidationData]:
        """The new liquidations of one ``allLiquidation`` push received at ``recv_ns``."""
        try:
            records = parse_liquidation_message(message, recv_ns, self._feed_delay_ns)
        except _PARSE_ERRORS:
            delay = self._feed_delay_ns

            def parse_event(event: Any) -> list[LiquidationRecord]:
                return parse_liquidation_message({**message, "data": [event]}, recv_ns, delay)

            records = self._salvage(message, "liquidation", parse_event)
        symbol = topic[len(TOPIC_PREFIX) :]
        seen: dict[tuple[str, int, str, float, float], int] = {}
        data: list[LiquidationData] = []
        for r in records:
            if r.symbol != symbol:
                self._skip_malformed(f"event for {r.symbol} in topic {topic}")
                continue
            base = (r.symbol, r.ts_event, r.side, r.price, r.quantity)
            occurrence = seen.get(base, 0)
            seen[base] = occurrence + 1
            if not self._recent.add((*base, occurrence)):
                self.duplicates += 1
                continue
            data.append(
                LiquidationData(
                    instrument_id=instrument_id,
                    side=r.side,
                    price=r.price,
                    quantity=r.quantity,
                    notional=r.price * r.quantity,
                    ts_event=r.ts_event,
                    ts_init=r.ts_init,
                )
            )
        return data

    def trades(
        self,
        topic: str,
        instrument_id: InstrumentId,
        instrument: Instrument | None,
        message: dict[str, Any],
        recv_ns: int,
    ) -> list[TradeTick]:
        """The new book trades of one ``publicTrade`` push received at ``recv_ns`` (none, and
        one malformed message, without the ``instrument`` definition)."""
        events = message.get("data")
        if isinstance(events, list) and not all(is_book_trade(e) for e in events):
            kept = [e for e in events if is_book_trade(e)]
            self.excluded_prints += len(events) - len(kept)
            message = {**message, "data": kept}
        try:
            records = parse_trade_message(message, recv_ns)
        except _PARSE_ERRORS:
            records = self._salvage(
                message,
                "trade",
                # Block and RPI trades left out, as by parse_trade_message.
                lambda event: [parse_trade_event(event, recv_ns)] if is_book_trade(event) else [],
            )
        if instrument is None:
            self._skip_malformed(f"trades for {instrument_id}, which is not in the cache")
            return []
        symbol = topic[len(TRADE_TOPIC_PREFIX) :]
        ticks: list[TradeTick] = []
        for r in records:
            if r.symbol != symbol:
                self._skip_malformed(f"trade for {r.symbol} in topic {topic}")
                continue
            if not self._recent_trades.add((r.symbol, r.trade_id)):
                self.duplicates += 1
                continue
            try:
                # The instrument's exact precision: the matching engine raises on any other.
                tick = TradeTick(
                    instrument_id,
                    instrument.make_price(r.price),
                    instrument.make_qty(r.size),
                    AggressorSide(r.aggressor),
                    TradeId(r.trade_id),
                    r.ts_event,
                    r.ts_init,
                )
            except (TypeError, ValueError) as e:  # e.g. a size below the lot step
                self._skip_malformed(f"bad trade ({e}): {r!r:.200}")
                continue
            ticks.append(tick)
        return ticks

    def _salvage(
        self, message: dict[str, Any], what: str, parse_event: Callable[[Any], list[Record]]
    ) -> list[Record]:
        """Parse the events of a push one by one, keeping the good ones (one bad event spoils
        only itself)."""
        events = message.get("data")
        if not isinstance(events, list):
            self._skip_malformed(f"bad {what} message: {message!r:.200}")
            return []
        records: list[Record] = []
        for event in events:
            try:
                records.extend(parse_event(event))
            except _PARSE_ERRORS as e:
                self._skip_malformed(f"bad {what} event ({e}): {event!r:.200}")
        return records
