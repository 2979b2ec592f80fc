"""Status monitoring of a paper/live node, written to the strategies' JSON-lines event log.

The paper-trading checklist (:mod:`liqcascade.live.checklist`) needs facts the strategy cannot see:
was the websocket up, when did it drop, when did the node start and stop. This module writes them
into the same event log format as :class:`liqcascade.strategies.event_log.EventLog`: one JSON
object per line with ``ts`` (UNIX ns), ``time``, ``event`` and ``symbol`` (``"*"`` here: they
concern the whole node, not one symbol).

Events
------
``session_start``   the node started trading. Fields: ``symbols`` (list), plus any extras.
``session_stop``    the node is stopping (a crash writes none: the checklist then ends the
                    session at the last event of the log).
``ws_connected``    a websocket connection opened. Fields: ``client``, ``reconnects`` (the
                    client's counter).
``ws_disconnected`` a websocket connection was lost. Fields: ``client``, ``reason``.
``status``          a periodic snapshot. Fields: ``client``, ``connected`` (bool), ``messages``,
                    ``messages_per_s``, ``liquidations``, ``reconnects``,
                    ``last_liquidation_age_s`` (``null`` before the first), ``open_orders``,
                    ``open_positions``, ``realized_pnl_today``, ``unrealized_pnl``,
                    ``pnl_today`` (quote currency, ``null`` without a portfolio).

Wiring (for the live node)
--------------------------
::

    monitor = StatusMonitor(
        event_log=EventLog("logs/events-node.jsonl"),  # or a strategy's log path
        feed_stats=liquidation_client_of(node).stats,
        cache=node.cache,
        portfolio=node.portfolio,
        log=node.get_logger().info,  # or any callable taking a line
    )
    monitor.session_start(symbols=["ETHUSDT", "SOLUSDT"])
    task = loop.create_task(monitor.run(status_interval_s=60.0, poll_interval_s=1.0))
    ...
    task.cancel(); monitor.session_stop()

``poll_connection()`` is cheap (it compares two counters); calling it every second timestamps
connection changes to the second. ``tick()`` does both the poll and the status line/event. A
reconnection completed between two polls is still seen (the client's ``reconnects`` counter
moved) and logged as a disconnection and a connection at the poll time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from liqcascade.strategies.event_log import EventLog

if TYPE_CHECKING:
    from nautilus_trader.cache.cache import Cache
    from nautilus_trader.live.node import TradingNode
    from nautilus_trader.portfolio.base import PortfolioFacade

SESSION_START = "session_start"
SESSION_STOP = "session_stop"
WS_CONNECTED = "ws_connected"
WS_DISCONNECTED = "ws_disconnected"
STATUS = "status"
#: Events written by this module (the checklist treats them as node-wide).
NODE_EVENTS = (SESSION_START, SESSION_STOP, WS_CONNECTED, WS_DISCONNECTED, STATUS)
#: The ``symbol`` of node-wide events.
ALL_SYMBOLS = "*"
DEFAULT_CLIENT = "BYBIT_LIQ"
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S

_default_logger = logging.getLogger("liqcascade.monitor")


def _as_event_log(event_log: EventLog | str | Path | None) -> EventLog:
    return event_log if isinstance(event_log, EventLog) else EventLog(event_log)


def log_session_start(
    event_log: EventLog, ts_ns: int, symbols: Iterable[str] = (), **fields: Any
) -> None:
    """Write ``session_start`` (the node started trading ``symbols``)."""
    event_log.write(ts_ns, SESSION_START, ALL_SYMBOLS, symbols=list(symbols), **fields)


def log_session_stop(event_log: EventLog, ts_ns: int, **fields: Any) -> None:
    """Write ``session_stop`` (the node is stopping)."""
    event_log.write(ts_ns, SESSION_STOP, ALL_SYMBOLS, **fields)


def log_ws_connected(
    event_log: EventLog,
    ts_ns: int,
    client: str = DEFAULT_CLIENT,
    reconnects: int = 0,
    **fields: Any,
) -> None:
    """Write ``ws_connected`` (a websocket connection of ``client`` opened)."""
    event_log.write(
        ts_ns, WS_CONNECTED, ALL_SYMBOLS, client=client, reconnects=reconnects, **fields
    )


def log_ws_disconnected(
    event_log: EventLog,
    ts_ns: int,
    client: str = DEFAULT_CLIENT,
    reason: str = "",
    **fields: Any,
) -> None:
    """Write ``ws_disconnected`` (a websocket connection of ``client`` was lost)."""
    event_log.write(ts_ns, WS_DISCONNECTED, ALL_SYMBOLS, client=client, reason=reason, **fields)


def liquidation_client_of(node: TradingNode, client_id: str = DEFAULT_CLIENT) -> Any:
    """
    Return the node's liquidation data client (it registers under a venue named after itself).

    Raises
    ------
    KeyError
        If the node has no such client.

    """
    from nautilus_trader.model.identifiers import Venue

    return node.kernel.data_engine.routing_map[Venue(client_id)]


@dataclass(frozen=True)
class StatusSnapshot:
    """One status sample (the fields of the ``status`` event)."""

    trader: str | None
    client: str
    connected: bool | None
    messages: int | None
    messages_per_s: float | None
    liquidations: int | None
    reconnects: int | None
    last_liquidation_age_s: float | None
    open_orders: int | None
    open_positions: int | None
    realized_pnl_today: float | None
    unrealized_pnl: float | None
    pnl_today: float | None

    def line(self) -> str:
        """The human-readable status line."""

        def fmt(value: object, spec: str = "") -> str:
            return "n/a" if value is None else format(value, spec)

        state = {True: "connected", False: "DISCONNECTED", None: "no feed"}[self.connected]
        trader = f"trader={self.trader} " if self.trader is not None else ""
        return (
            f"status {trader}{self.client} {state} reconnects={fmt(self.reconnects)}"
            f" msgs/s={fmt(self.messages_per_s, '.1f')} liquidations={fmt(self.liquidations)}"
            f" last_liquidation_age={fmt(self.last_liquidation_age_s, '.1f')}s"
            f" open_orders={fmt(self.open_orders)} open_positions={fmt(self.open_positions)}"
            f" pnl_today={fmt(self.pnl_today, '.2f')}"
            f" (realized {fmt(self.realized_pnl_today, '.2f')},"
            f" unrealized {fmt(self.unrealized_pnl, '.2f')})"
        )


class StatusMonitor:
    """
    Log connection changes and periodic status of a node to its event log.

    Parameters
    ----------
    event_log : EventLog | str | Path | None
        Where events go (an ``EventLog`` or a path; ``None`` logs lines only).
    feed_stats : Callable[[], Any], optional
        The data client's ``stats`` method: an object with ``connected``, ``messages``,
        ``liquidations``, ``reconnects`` and optionally ``last_liquidation_ns`` (missing fields
        are reported as ``null``).
    cache : Cache, optional
        The node's cache (open orders and positions, positions closed today).
    portfolio : PortfolioFacade, optional
        The node's portfolio (unrealized PnL of open positions).
    client : str
        Name of the monitored client in the events.
    clock_ns : Callable[[], int]
        Wall clock, UNIX ns.
    trader_state : Callable[[], str], optional
        The trader's state name. Until it is ``RUNNING`` the venue has not been reconciled:
        status lines then say so and report open orders and positions as unknown (``null``),
        never as 0.
    log : Callable[[str], None], optional
        Receives each status line (default: the ``liqcascade.monitor`` logger at INFO).

    """

    def __init__(
        self,
        event_log: EventLog | str | Path | None,
        feed_stats: Callable[[], Any] | None = None,
        cache: Cache | None = None,
        portfolio: PortfolioFacade | None = None,
        client: str = DEFAULT_CLIENT,
        clock_ns: Callable[[], int] = time.time_ns,
        log: Callable[[str], None] | None = None,
        trader_state: Callable[[], str] | None = None,
    ) -> None:
        self.events = _as_event_log(event_log)
        self._trader_state = trader_state
        self._feed_stats = feed_stats
        self._cache = cache
        self._portfolio = portfolio
        self.client = client
        self._clock_ns = clock_ns
        self._log = log or _default_logger.info
        self._connected: bool | None = None  # as of the last poll
        self._reconnects: int | None = None
        self._rate_mark: tuple[int, int] | None = None  # (ts, messages) of the last status
        self._liquidations: int | None = None
        self._last_liquidation_ns: int | None = None

    # -- session ---------------------------------------------------------------------------------

    def session_start(self, symbols: Iterable[str] = (), **fields: Any) -> None:
        """Write ``session_start`` now."""
        log_session_start(self.events, self._clock_ns(), symbols, **fields)

    def session_stop(self, **fields: Any) -> None:
        """Write ``ws_disconnected`` if connected, then ``session_stop``; close the log."""
        now = self._clock_ns()
        if self._connected:
            log_ws_disconnected(self.events, now, self.client, reason="session stop")
            self._connected = False
        log_session_stop(self.events, now, **fields)
        self.events.close()

    # -- polling ---------------------------------------------------------------------------------

    def _stats(self) -> Any:
        if self._feed_stats is None:
            return None
        try:
            return self._feed_stats()
        except Exception as e:  # monitoring must never take the node down
            self._log(f"status: cannot read the feed's stats: {e}")
            return None

    def poll_connection(self, now_ns: int | None = None, stats: Any = None) -> None:
        """Compare the client's connection state with the last poll; log changes as events."""
        stats = stats if stats is not None else self._stats()
        if stats is None:
            return
        now = self._clock_ns() if now_ns is None else now_ns
        connected = bool(getattr(stats, "connected", False))
        reconnects = getattr(stats, "reconnects", None)
        missed = 0
        if reconnects is not None and self._reconnects is not None:
            missed = reconnects - self._reconnects
        if self._connected and connected and missed > 0:
            # Dropped and reconnected between two polls: the counter says so.
            log_ws_disconnected(
                self.events, now, self.client, reason=f"{missed} reconnect(s) between polls"
            )
            log_ws_connected(self.events, now, self.client, reconnects=reconnects or 0)
        elif self._connected and not connected:
            log_ws_disconnected(self.events, now, self.client, reason="connection lost")
        elif connected and not self._connected:
            log_ws_connected(self.events, now, self.client, reconnects=reconnects or 0)
        self._connected = connected
        self._reconnects = reconnects
        liquidations = getattr(stats, "liquidations", None)
        last_liq = getattr(stats, "last_liquidation_ns", None)
        if last_liq is not None:
            self._last_liquidation_ns = last_liq
        elif (
            liquidations is not None
            and self._liquidations is not None
            and liquidations > self._liquidations
        ):
            # The client keeps no time of its last liquidation: the poll that saw the count
            # move is the best estimate (poll often for a precise age).
            self._last_liquidation_ns = now
        self._liquidations = liquidations

    def snapshot(self, now_ns: int | None = None) -> StatusSnapshot:
        """Poll the connection and compute a status sample (no status event written)."""
        now = self._clock_ns() if now_ns is None else now_ns
        stats = self._stats()
        self.poll_connection(now, stats)
        messages = getattr(stats, "messages", None) if stats is not None else None
        rate = None
        if messages is not None:
            if self._rate_mark is not None and now > self._rate_mark[0]:
                rate = (messages - self._rate_mark[1]) / ((now - self._rate_mark[0]) / NS_PER_S)
            self._rate_mark = (now, messages)
        age = None
        if self._last_liquidation_ns is not None:
            age = max(0.0, (now - self._last_liquidation_ns) / NS_PER_S)
        open_orders = open_positions = None
        realized = unrealized = None
        trader = self._trader_state() if self._trader_state is not None else None
        if self._cache is not None and trader in (None, "RUNNING"):
            open_orders = len(self._cache.orders_open())
            open_positions = len(self._cache.positions_open())
            realized = self._realized_today(now)
        if self._portfolio is not None and self._cache is not None:
            unrealized = self._unrealized()
        total = None if realized is None else realized + (unrealized or 0.0)
        return StatusSnapshot(
            trader=trader,
            client=self.client,
            connected=self._connected if stats is not None else None,
            messages=messages,
            messages_per_s=rate,
            liquidations=self._liquidations,
            reconnects=self._reconnects,
            last_liquidation_age_s=age,
            open_orders=open_orders,
            open_positions=open_positions,
            realized_pnl_today=realized,
            unrealized_pnl=unrealized,
            pnl_today=total,
        )

    def tick(self, now_ns: int | None = None) -> StatusSnapshot:
        """Poll, log the status line and append a ``status`` event. Never raises."""
        now = self._clock_ns() if now_ns is None else now_ns
        try:
            snap = self.snapshot(now)
        except Exception as e:  # monitoring must never take the node down
            self._log(f"status: snapshot failed: {type(e).__name__}: {e}")
            snap = StatusSnapshot(None, self.client, *([None] * 11))
        self._log(snap.line())
        fields = asdict(snap)
        fields.pop("client")
        self.events.write(now, STATUS, ALL_SYMBOLS, client=self.client, **fields)
        return snap

    async def run(self, status_interval_s: float = 60.0, poll_interval_s: float = 1.0) -> None:
        """Poll the connection every ``poll_interval_s`` and tick every ``status_interval_s``
        until cancelled."""
        next_status = time.monotonic()
        while True:
            if time.monotonic() >= next_status:
                self.tick()
                # After a stall, the next status is one interval from now, not a burst.
                next_status = max(next_status + status_interval_s, time.monotonic())
            else:
                self.poll_connection()
            await asyncio.sleep(min(poll_interval_s, max(0.0, next_status - time.monotonic())))

    # -- PnL -------------------------------------------------------------------------------------

    def _realized_today(self, now: int) -> float:
        """Realized PnL (fees included) since 00:00 UTC: positions closed today, plus what
        open positions realized so far (positions live minutes: max hold 30 min)."""
        assert self._cache is not None
        midnight = now - now % NS_PER_DAY
        total = 0.0
        for position in self._cache.positions_closed():
            if position.ts_closed >= midnight and position.realized_pnl is not None:
                total += float(position.realized_pnl)
        for position in self._cache.positions_open():
            if position.realized_pnl is not None:
                total += float(position.realized_pnl)
        return total

    def _unrealized(self) -> float | None:
        assert self._cache is not None and self._portfolio is not None
        total = 0.0
        for instrument_id in {p.instrument_id for p in self._cache.positions_open()}:
            pnl = self._portfolio.unrealized_pnl(instrument_id)
            if pnl is None:
                return None  # no price yet: unknown, not zero
            total += float(pnl)
        return total
