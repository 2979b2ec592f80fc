"""Supervision of a running paper/live node: fail loudly, alert, report health, obey the halt.

A ``TradingNode`` whose engines do not connect within ``timeout_connection`` (Bybit maintenance,
a network outage) logs a warning and carries on with a trader that never reaches RUNNING: no
trading, no management of an open position, and a process that looks alive. The
:class:`Supervisor` turns that - and a trader or strategy that stops while the process runs -
into a :class:`NodeFailedError`: the node is stopped, the reason is logged and alerted, and the
command exits non-zero so that systemd (``Restart=on-failure``, see ``deploy/``) or Docker
restarts it with backoff. So does the framework's own shutdown command (``ShutdownSystem``,
sent by an engine whose queue raised: the nodes set ``graceful_shutdown_on_exception``): the
kernel then stops like after Ctrl-C, and only the command tells the two apart.

Every second, on the node's own loop, it also

* writes ``session_start`` only once the trader is RUNNING (status lines before that say
  ``trader: starting``, never ``open_positions: 0`` for a venue that was not reconciled);
* alerts when the liquidation feed has been down longer than ``disconnect_after_s``, when a
  subscription is refused, and when it is back;
* flattens every strategy once the kill switch (:class:`~liqcascade.live.controls.HaltFile`) is
  set, and optionally stops the node once nothing is open (``liqcascade flatten``);
* refreshes Bybit's maintenance windows every ``maintenance_poll_s`` (off the loop);
* publishes the status to the health endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nautilus_trader.common.messages import ShutdownSystem

from liqcascade.live.alerts import Alerts
from liqcascade.live.controls import HaltFile
from liqcascade.live.controls import MaintenanceWindows
from liqcascade.live.health import HealthServer
from liqcascade.live.monitor import StatusMonitor

#: Where the kernel listens for ``ShutdownSystem`` (nautilus_trader 1.231, ``system/kernel.py``).
SHUTDOWN_TOPIC = "commands.system.shutdown"


class NodeFailedError(RuntimeError):
    """The node could not trade (startup timeout, a stopped trader or strategy)."""


@dataclass
class SupervisorConfig:
    """
    Parameters
    ----------
    startup_timeout_s : float
        From start to a RUNNING trader (the node's connection + reconciliation + portfolio
        timeouts plus a margin).
    disconnect_after_s : float
        Alert once the feed has been down this long.
    maintenance_poll_s : float
        Seconds between refreshes of Bybit's maintenance windows (0: never).
    stop_when_flat : bool
        ``liqcascade flatten``: stop the node once the halt is set and nothing is open.
    flat_timeout_s : float
        With ``stop_when_flat``: give up (failure) after this long.
    status_interval_s : float
        Seconds between status lines (written from RUNNING on).

    """

    startup_timeout_s: float
    disconnect_after_s: float = 30.0
    maintenance_poll_s: float = 300.0
    stop_when_flat: bool = False
    flat_timeout_s: float = 120.0
    status_interval_s: float = 60.0


class Supervisor:
    """Watch a built node while it runs (see the module docstring)."""

    def __init__(
        self,
        built: Any,
        config: SupervisorConfig,
        monitor: StatusMonitor,
        alerts: Alerts,
        health: HealthServer | None = None,
        halt: HaltFile | None = None,
        maintenance: MaintenanceWindows | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.built = built
        self.config = config
        self.monitor = monitor
        self.alerts = alerts
        self.health = health
        self.halt = halt
        self.maintenance = maintenance
        self._clock = clock
        self.failure: str | None = None
        self.status_task: asyncio.Task | None = None  # status lines, from RUNNING on
        self.started = False
        self.flattened = False
        self._down_since: float | None = None
        self._down_alerted = False
        self._refused: set[str] = set()
        self._next_maintenance = 0.0
        built.node.kernel.msgbus.subscribe(SHUTDOWN_TOPIC, self._on_shutdown_command)

    @property
    def node(self) -> Any:
        return self.built.node

    def _on_shutdown_command(self, command: ShutdownSystem) -> None:
        """The framework stops the node for a reason of its own: a failure, not an orderly stop."""
        if self.failure is None and not self._stopping():
            self.failure = f"the framework shut the node down: {command.reason}"
            self.node.kernel.logger.error(f"Supervisor: {self.failure} (exit non-zero)")
            self.alerts.send("node_failed", self.failure)

    def _fail(self, reason: str, kind: str = "startup_failed") -> None:
        self.failure = reason
        self.node.kernel.logger.error(f"Supervisor: {reason}: stopping (exit non-zero)")
        self.alerts.send(kind, reason)
        self.node.stop()

    async def run(self, poll_s: float = 1.0) -> None:
        """Supervise until the node stops (cancel the task to end it)."""
        deadline = self._clock() + self.config.startup_timeout_s
        while not self.node.trader.is_running:
            if self._stopping():
                return  # Ctrl-C / SIGTERM during the start: not a failure
            if self._clock() > deadline:
                self._fail(
                    f"trader not RUNNING {self.config.startup_timeout_s:.0f} s after start "
                    "(engines did not connect or reconcile: Bybit down, maintenance, network?)"
                )
                return
            self._publish(status="starting")
            await asyncio.sleep(min(poll_s, 0.2))
        self.started = True
        self.monitor.session_start(symbols=self.built.spec.symbols)
        self.status_task = asyncio.get_running_loop().create_task(
            self.monitor.run(status_interval_s=self.config.status_interval_s)
        )
        await self._watch(poll_s)

    async def _watch(self, poll_s: float) -> None:
        flat_deadline: float | None = None
        while True:
            if self._stopping():
                return  # an orderly stop (signal, flatten): strategies stop first, legitimately
            stopped = [name for name, s in self.built.strategies.items() if not s.is_running]
            if not self.node.trader.is_running or stopped:
                what = f"strategies stopped: {', '.join(stopped)}" if stopped else "trader stopped"
                self._fail(f"{what} while the node runs", kind="node_failed")
                return
            self._watch_feed()
            await self._watch_maintenance()
            halted = self.halt is not None and self.halt.read() is not None
            if halted and not self.flattened:
                self._flatten()
            if halted and self.config.stop_when_flat:
                flat_deadline = flat_deadline or self._clock() + self.config.flat_timeout_s
                if self._is_flat():
                    self.node.kernel.logger.info("Flat: stopping")
                    self.node.stop()
                    return
                if self._clock() > flat_deadline:
                    self._fail("positions or orders still open after flatten", "flatten_failed")
                    return
            self._publish(status="halted" if halted else self._feed_status())
            await asyncio.sleep(poll_s)

    # -- checks ------------------------------------------------------------------------------------

    def _stopping(self) -> bool:
        # The kernel sets this before it stops the trader (nautilus_trader 1.231 has no public
        # accessor); a stop we did not ask for is told apart by it.
        return bool(getattr(self.node.kernel, "_is_stopping", False))

    def _feed_stats(self) -> Any:
        try:
            return self.monitor._feed_stats() if self.monitor._feed_stats else None
        except Exception:
            return None

    def _feed_status(self) -> str:
        stats = self._feed_stats()
        if stats is None:
            return "ok"
        if not stats.connected or getattr(stats, "refused_topics", ()):
            return "degraded"
        return "ok"

    def _watch_feed(self) -> None:
        stats = self._feed_stats()
        if stats is None:
            return
        now = self._clock()
        if stats.connected:
            if self._down_alerted:
                self.alerts.send("feed_up", "liquidation feed connected again")
            self._down_since, self._down_alerted = None, False
        else:
            self._down_since = self._down_since or now
            down = now - self._down_since
            if not self._down_alerted and down >= self.config.disconnect_after_s:
                self._down_alerted = True
                self.alerts.send("feed_down", f"liquidation feed disconnected for {down:.0f} s")
        refused = set(getattr(stats, "refused_topics", ()))
        for topic in sorted(refused - self._refused):
            self.alerts.send("subscription_refused", f"Bybit refused {topic} (retrying)")
        self._refused = refused

    async def _watch_maintenance(self) -> None:
        if self.maintenance is None or self.config.maintenance_poll_s <= 0:
            return
        now = self._clock()
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + self.config.maintenance_poll_s
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.maintenance.refresh)

    def _flatten(self) -> None:
        self.flattened = True
        record = self.halt.read() if self.halt else None
        self.alerts.send("halted", f"kill switch set: {record}; cancelling and closing all")
        for strategy in self.built.strategies.values():
            flatten = getattr(strategy, "flatten", None)
            if flatten is not None:
                flatten()

    def _is_flat(self) -> bool:
        cache = self.node.cache
        return not cache.orders_open() and not cache.positions_open()

    def _publish(self, status: str) -> None:
        if self.health is None:
            return
        snap = self.monitor.snapshot()
        stats = self._feed_stats()
        last = getattr(stats, "last_message_ns", None) if stats else None
        self.health.update(
            {
                "status": status,
                "trader": self.node.trader.state.name,
                "trader_running": self.node.trader.is_running,
                "halted": status == "halted",
                "feed_connected": snap.connected,
                "feed_age_seconds": (time.time_ns() - last) / 1e9 if last else None,
                "feed_reconnects": snap.reconnects,
                "subscriptions_refused": len(getattr(stats, "refused_topics", ()) or ()),
                "refused_topics": list(getattr(stats, "refused_topics", ()) or ()),
                "open_orders": snap.open_orders,
                "open_positions": snap.open_positions,
                "pnl_today": snap.pnl_today,
                "liquidations": snap.liquidations,
                "symbols": list(self.built.spec.symbols),
                "maintenance": [
                    {"begin_ns": b, "end_ns": e, "title": t}
                    for b, e, t in (self.maintenance.windows if self.maintenance else [])
                ],
            }
        )

    def positions_left(self) -> list[str]:
        """Open positions as ``"<instrument> <side> <qty>"`` (for the shutdown alert)."""
        return [
            f"{p.instrument_id} {p.side.name} {p.quantity}"
            for p in self.node.cache.positions_open()
        ]
