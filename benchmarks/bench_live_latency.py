"""Live-path latency and throughput of the Bybit liquidation client (not a test).

A local Bybit-protocol server runs in a **separate process** (no GIL shared with the node) on a
loopback port and replays scripted ``allLiquidation`` pushes into a real ``TradingNode``: the
liquidation client from ``liqcascade.live.factories``, ``CascadeMarketMaker`` trading through the
sandbox execution client (simulated fills, venue ``BYBIT``), and a recording actor.

1. **Reaction latency.** ``--cascades`` cascades, each two pushes whose last event is a large
   liquidation (the second declares the cascade). For each post-only entry the strategy submits:

   * *receipt -> submit*: the client's clock at message receipt (``ts_init`` - 1 ns) to the
     strategy's ``submit_order`` call (target p99 < 5 ms), split at the strategy's ``on_data``
     for the trigger event (framework delivery vs. strategy decision);
   * *send -> submit*: the server's clock when it sent the push to the same call (adds the
     loopback socket, websocket framing and event-loop wake-up);
   * *receipt -> accepted*: to the sandbox's ``OrderAccepted`` reaching the strategy.

   Entries time out after ``entry_timeout_s`` (no fill, no cooldown) before the next cascade.
2. **Sustained burst.** ``--rate`` events/s for ``--seconds`` s, ``--per-message`` events per
   push, small notional (no cascades, but the strategy still sees every event). Each event's
   lag = receipt (``ts_init``) - send time of its push; a client that keeps up shows the same lag
   in the first and the last second, a client that falls behind shows it growing.

Both clocks are the same machine's ``CLOCK_REALTIME`` (``time.time_ns`` / the node's
``LiveClock``).

    .venv/bin/python -m benchmarks.bench_live_latency [--cascades 300] [--rate 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import queue
import time
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.core.data import Data
from nautilus_trader.live.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.events import OrderAccepted
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.orders import Order

from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.factories import BybitLiquidationClientFactory
from liqcascade.live.liquidation_client import BybitLiquidationDataClient
from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig
from tests.live.bybit_server import Scenario
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_server import serve_scenario

CLIENT = "BYBIT_LIQ"
SYMBOL = "ETHUSDT"
INSTRUMENT = "ETHUSDT-LINEAR.BYBIT"
PRICE = 2500.0
WARM_THRESHOLD = 100_000.0  # USDT: large = 40+ ETH at 2500
WINDOW_S = 0.05  # cascade window: both legs inside it, the next cascade outside
LEG_GAP_S = 0.02  # between the two pushes of a cascade
ENTRY_TIMEOUT_S = 0.05  # the unfilled entry is cancelled before the next cascade


# -- node components -------------------------------------------------------------------------


class TimedCascadeMarketMaker(CascadeMarketMaker):
    """``CascadeMarketMaker`` that notes, per entry, the trigger event and submit/accept times."""

    def __init__(self, config: CascadeMarketMakerConfig) -> None:
        super().__init__(config)
        self.last_quantity = 0.0
        self.last_seen_ns = 0
        self.entries: list[dict[str, Any]] = []
        self._by_order: dict[str, dict[str, Any]] = {}

    def on_data(self, data: Data) -> None:
        """Remember the event being handled, then run the strategy."""
        if isinstance(data, LiquidationData):
            self.last_seen_ns = self.clock.timestamp_ns()
            self.last_quantity = data.quantity
        super().on_data(data)

    def submit_order(self, order: Order, *args: Any, **kwargs: Any) -> None:
        """Time the submission (the strategy's own call, before risk and execution)."""
        now = self.clock.timestamp_ns()
        if self.trade.cascade is not None and order.client_order_id == self.trade.entry_id:
            entry = {
                "submit_ns": now,
                "receipt_ns": self.trade.cascade.declared_ns - TIE_BREAK_NS,
                "seen_ns": self.last_seen_ns,
                "quantity": self.last_quantity,
            }
            self.entries.append(entry)
            self._by_order[order.client_order_id.value] = entry
        super().submit_order(order, *args, **kwargs)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """Time the sandbox's acknowledgement."""
        entry = self._by_order.get(event.client_order_id.value)
        if entry is not None:
            entry["accepted_ns"] = self.clock.timestamp_ns()


class RecorderConfig(ActorConfig, frozen=True):
    """The instrument to record."""

    instrument_id: str = INSTRUMENT


class Recorder(Actor):
    """Record every liquidation's quantity and ``ts_init`` (to pair events with send times)."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.quantities: list[float] = []
        self.ts_init: list[int] = []

    def on_start(self) -> None:
        """Subscribe like the strategy (a second subscriber on the same topic)."""
        self.subscribe_data(
            DataType(LiquidationData),
            client_id=ClientId(CLIENT),
            instrument_id=self.config.instrument_id,
        )

    def on_data(self, data: Data) -> None:
        """Record (cheap: two appends)."""
        self.quantities.append(data.quantity)
        self.ts_init.append(data.ts_init)


@dataclass
class RunResult:
    """What one node run leaves behind."""

    send_ns: list[int]
    server_elapsed_s: float
    strategy: TimedCascadeMarketMaker
    recorder: Recorder
    stats: Any
    extra: dict[str, Any] = field(default_factory=dict)


def run(scenario: Scenario, expected_events: int, timeout_s: float, uvloop: bool) -> RunResult:
    """Start the server process and a node, play ``scenario``, wait for every event, stop."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running Rust threads
    reports = ctx.Queue()
    server = ctx.Process(target=serve_scenario, args=(scenario, reports), daemon=True)
    server.start()
    try:
        url = reports.get(timeout=30)["url"]
        return _run_node(url, reports, expected_events, timeout_s, uvloop)
    finally:
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()  # our own child, by handle
            server.join(timeout=5)


def _run_node(
    url: str,
    reports: Any,
    expected_events: int,
    timeout_s: float,
    use_uvloop: bool,
) -> RunResult:
    if use_uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    config = TradingNodeConfig(
        trader_id="BENCH-001",
        logging=LoggingConfig(log_level="ERROR"),
        data_clients={
            CLIENT: BybitLiquidationClientConfig(url=url, dedupe_window=100_000),
        },
        exec_clients={
            "BYBIT": SandboxExecutionClientConfig(
                venue="BYBIT", starting_balances=["100000 USDT"], account_type="MARGIN"
            ),
        },
        timeout_connection=10.0,
        timeout_reconciliation=2.0,
        timeout_portfolio=2.0,
        timeout_disconnection=2.0,
        timeout_post_stop=0.1,
    )
    node = TradingNode(config, loop=loop)
    node.add_data_client_factory(CLIENT, BybitLiquidationClientFactory)
    node.add_exec_client_factory("BYBIT", SandboxLiveExecClientFactory)
    instrument = to_instrument(load_specs()[SYMBOL])
    node.kernel.cache.add_instrument(instrument)
    # The strategy prices entries from the cache's last trade; one seeded tick stands in for a
    # trade feed (which this benchmark does not exercise).
    node.kernel.cache.add_trade_tick(
        TradeTick(
            instrument_id=instrument.id,
            price=instrument.make_price(PRICE),
            size=instrument.make_qty(1),
            aggressor_side=AggressorSide.SELLER,
            trade_id=TradeId("seed"),
            ts_event=time.time_ns(),
            ts_init=time.time_ns(),
        )
    )
    strategy = TimedCascadeMarketMaker(
        CascadeMarketMakerConfig(
            instrument_id=INSTRUMENT,
            warm_threshold=WARM_THRESHOLD,
            history=1_000_000,
            min_history=1_000_000,  # keep the warm threshold: deterministic large/small
            window_s=WINDOW_S,
            entry_timeout_s=ENTRY_TIMEOUT_S,
            daily_loss_limit=None,
            weekly_loss_limit=None,
            order_id_tag="001",
        )
    )
    recorder = Recorder(RecorderConfig())
    node.trader.add_strategy(strategy)
    node.trader.add_actor(recorder)
    node.build()
    result: dict[str, Any] = {}

    async def main() -> None:
        task = loop.create_task(node.run_async())
        try:
            deadline = time.monotonic() + timeout_s
            while "send_ns" not in result:
                with contextlib.suppress(queue.Empty):
                    result.update(reports.get_nowait())
                if time.monotonic() > deadline:
                    raise TimeoutError("the server did not finish its scenario")
                await asyncio.sleep(0.05)
            while len(recorder.ts_init) < expected_events and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # let the last entry time out
            client = node.kernel.data_engine.routing_map[Venue(CLIENT)]
            assert isinstance(client, BybitLiquidationDataClient)
            result["stats"] = client.stats()
        finally:
            await node.stop_async()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 2.0)

    try:
        loop.run_until_complete(main())
    finally:
        pending = asyncio.all_tasks(loop)
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        node.dispose()
        asyncio.set_event_loop(None)
    return RunResult(
        send_ns=result["send_ns"],
        server_elapsed_s=result["elapsed_s"],
        strategy=strategy,
        recorder=recorder,
        stats=result["stats"],
    )


# -- scenarios -------------------------------------------------------------------------------


def cascade_scenario(
    cascades: int, period_s: float, leg_gap_s: float
) -> tuple[Scenario, dict[float, int]]:
    """
    One cascade every ``period_s``: two pushes ``leg_gap_s`` apart, each 3 small events and
    then one large.

    Returns the scenario and, per trigger (second large) event's unique quantity, the index of
    the push carrying it.
    """
    messages: list[list[dict[str, Any]]] = []
    times: list[float] = []
    trigger_push: dict[float, int] = {}
    for i in range(cascades):
        for leg in range(2):
            small = [liquidation_event(SYMBOL, "Buy", "0.5", PRICE) for _ in range(3)]
            size = Decimal(50) + Decimal(i) / 100 + Decimal(leg) / 1000  # unique per event
            events = [*small, liquidation_event(SYMBOL, "Buy", str(size), PRICE)]
            if leg == 1:
                trigger_push[float(size)] = len(messages)
            messages.append(events)
            times.append(i * period_s + leg * leg_gap_s)
    return Scenario(symbol=SYMBOL, messages=messages, times_s=times), trigger_push


def burst_scenario(rate: int, seconds: float, per_message: int) -> Scenario:
    """``rate`` small events/s for ``seconds`` s; event ``k`` has quantity ``(k + 1) / 1000``."""
    total = int(rate * seconds)
    messages = []
    for start in range(0, total, per_message):
        events = [
            liquidation_event(SYMBOL, "Sell", f"{(k + 1) / 1000:.3f}", "1")
            for k in range(start, min(start + per_message, total))
        ]
        messages.append(events)
    times = [i * per_message / rate for i in range(len(messages))]
    return Scenario(symbol=SYMBOL, messages=messages, times_s=times)


# -- reporting -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0-100)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def describe(name: str, values_ms: list[float]) -> str:
    """One line of p50/p90/p99/max in milliseconds."""
    if not values_ms:
        return f"  {name:<22} (no samples)"
    return (
        f"  {name:<22} n={len(values_ms):<6} p50={percentile(values_ms, 50):7.3f} ms  "
        f"p90={percentile(values_ms, 90):7.3f}  p99={percentile(values_ms, 99):7.3f}  "
        f"max={max(values_ms):7.3f}"
    )


def bench_latency(cascades: int, period_s: float, uvloop: bool) -> bool:
    """Run the reaction-latency part; print figures; return whether p99 < 5 ms."""
    scenario, trigger_push = cascade_scenario(cascades, period_s, LEG_GAP_S)
    result = run(
        scenario,
        expected_events=cascades * 8,
        timeout_s=cascades * period_s * 2 + 60,
        uvloop=uvloop,
    )
    entries = result.strategy.entries
    receipt_submit = [(e["submit_ns"] - e["receipt_ns"]) / 1e6 for e in entries]
    send_submit = [
        (e["submit_ns"] - result.send_ns[trigger_push[e["quantity"]]]) / 1e6
        for e in entries
        if e["quantity"] in trigger_push
    ]
    receipt_seen = [(e["seen_ns"] - e["receipt_ns"]) / 1e6 for e in entries]
    seen_submit = [(e["submit_ns"] - e["seen_ns"]) / 1e6 for e in entries]
    receipt_accept = [
        (e["accepted_ns"] - e["receipt_ns"]) / 1e6 for e in entries if "accepted_ns" in e
    ]
    print(
        f"Reaction latency: {cascades} cascades, one every {period_s * 1000:.0f} ms "
        f"({'uvloop' if uvloop else 'asyncio'} loop)"
    )
    print(f"  entries submitted: {len(entries)} / {cascades}   client stats: {result.stats}")
    print(describe("receipt -> submit", receipt_submit))
    print(describe("  receipt -> on_data", receipt_seen))
    print(describe("  on_data -> submit", seen_submit))
    print(describe("send -> submit", send_submit))
    print(describe("receipt -> accepted", receipt_accept))
    ok = bool(receipt_submit) and percentile(receipt_submit, 99) < 5.0
    print(f"  p99 receipt -> submit < 5 ms: {'PASS' if ok else 'FAIL'}")
    return ok


def bench_burst(rate: int, seconds: float, per_message: int, uvloop: bool) -> bool:
    """Run the sustained-burst part; print figures; return whether the client kept up."""
    scenario = burst_scenario(rate, seconds, per_message)
    total = sum(len(m) for m in scenario.messages)
    result = run(scenario, expected_events=total, timeout_s=seconds * 3 + 60, uvloop=uvloop)
    rec = result.recorder
    lags_ms: list[float] = []
    times_s: list[float] = []
    first_send = result.send_ns[0]
    for quantity, ts_init in zip(rec.quantities, rec.ts_init, strict=True):
        push = (round(quantity * 1000) - 1) // per_message
        send = result.send_ns[push]
        lags_ms.append((ts_init - TIE_BREAK_NS - send) / 1e6)
        times_s.append((send - first_send) / 1e9)
    first = [lag for lag, t in zip(lags_ms, times_s, strict=True) if t < 1.0]
    last = [lag for lag, t in zip(lags_ms, times_s, strict=True) if t >= seconds - 1.0]
    achieved = total / result.server_elapsed_s
    print(
        f"Sustained burst: {total} events in {len(scenario.messages)} pushes "
        f"({per_message}/push), target {rate}/s for {seconds:g} s"
    )
    print(
        f"  server sent at {achieved:,.0f} events/s; delivered {len(rec.ts_init)} / {total}; "
        f"client stats: {result.stats}"
    )
    print(describe("send -> receipt (all)", lags_ms))
    print(describe("  first second", first))
    print(describe("  last second", last))
    kept_up = (
        len(rec.ts_init) == total
        and bool(last)
        and percentile(last, 50) < max(5.0, 3 * percentile(first, 50))
        and percentile(lags_ms, 99) < 100.0
    )
    print(f"  kept up (all delivered, no growing lag): {'PASS' if kept_up else 'FAIL'}")
    return kept_up


def main() -> None:
    """Parse arguments and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cascades", type=int, default=200)
    parser.add_argument("--period-ms", type=float, default=150.0, help="between cascades")
    parser.add_argument("--rate", type=int, default=5000, help="burst events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="burst duration")
    parser.add_argument("--per-message", type=int, default=1, help="burst events per push")
    parser.add_argument("--uvloop", action="store_true", help="run the node on uvloop")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    args = parser.parse_args()
    if not args.skip_latency:
        bench_latency(args.cascades, args.period_ms / 1000, args.uvloop)
    if not args.skip_burst:
        bench_burst(args.rate, args.seconds, args.per_message, args.uvloop)


if __name__ == "__main__":
    main()
