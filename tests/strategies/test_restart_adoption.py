"""Restart adoption: what a restarted CascadeMarketMaker takes over from the venue.

The pure choices directly; the adoption itself in a real BacktestEngine whose strategy restarts
mid-run (stopped, reset and started again by a timer, with a ``state_path``), so the cache holds
the venue's orders and positions exactly as a node's reconciliation leaves them. The live and
paper restarts through real nodes are in ``tests/live`` (test_live_node, test_paper_node).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.identifiers import ClientOrderId

from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.restart_adoption import keep_one
from tests.strategies.harness import liquidation
from tests.strategies.operator_harness import Step
from tests.strategies.operator_harness import at
from tests.strategies.operator_harness import of
from tests.strategies.operator_harness import restart
from tests.strategies.operator_harness import run_with_operator
from tests.strategies.operator_harness import start
from tests.strategies.operator_harness import stop

CASCADE_LONGS = [liquidation(5, "LONG", 100_000), liquidation(6, "LONG", 120_000)]
# BUY 1997 fills at 10 s; TP 2000.00, SL 1992.01. Then the market idles between them.
FILL_THEN_IDLE = [(0, 2000.0), (10, 1996.5), *((t, 1996.0) for t in range(15, 200, 5))]


def run_with_restarts(
    tmp_path: Path,
    prices: list[tuple[float, float]],
    steps: list[Step],
    liquidations: list[tuple] = CASCADE_LONGS,
    **overrides: object,
) -> tuple[BacktestEngine, list[dict]]:
    """The strategy with a state file, as a live or paper node runs it."""
    state = str(tmp_path / "strategies.json")
    return run_with_operator(tmp_path, prices, steps, liquidations, state_path=state, **overrides)


@dataclass
class _Order:
    client_order_id: ClientOrderId


def test_keep_one_keeps_the_order_the_state_file_knows() -> None:
    a, b, c = (_Order(ClientOrderId(f"O-{i}")) for i in range(3))
    assert keep_one([a, b, c], ClientOrderId("O-1")) == (b, [a, c])
    assert keep_one([a, b], ClientOrderId("O-9")) == (a, [b])  # unknown: the first
    assert keep_one([a], None) == (a, [])
    assert keep_one([], ClientOrderId("O-1")) == (None, [])


def test_an_open_position_keeps_its_exits_and_its_max_hold_from_the_first_fill(
    tmp_path: Path,
) -> None:
    engine, log = run_with_restarts(
        tmp_path, FILL_THEN_IDLE, [(30, restart)], max_hold_s=60.0, cooldown_s=0.0
    )
    (fill,) = of(log, "entry_fill")
    (restored,) = of(log, "restored")
    assert restored["ts"] == at(30) and restored["quantity"] == 1.0
    assert restored["first_fill_ns"] == fill["ts"]
    assert len(restored["exits"]) == 2 and of(log, "exits_restored") == []  # both still working
    # Held 60 s from the fill at 10 s, not from the restart: closed at market at 70 s.
    (close,) = of(log, "market_close")
    assert (close["reason"], close["ts"]) == ("TIMEOUT", at(70))
    (exit_,) = of(log, "exit")
    assert exit_["reason"] == "TIMEOUT"
    reduce_only = [o for o in engine.cache.orders() if o.is_reduce_only]
    assert sorted(o.order_type.name for o in reduce_only) == ["LIMIT", "MARKET", "STOP_MARKET"]


def test_a_position_past_its_max_hold_is_closed_at_the_restart(tmp_path: Path) -> None:
    steps = [(20, stop), (90, start)]  # down from 20 s to 90 s; max hold ended at 70 s
    _, log = run_with_restarts(tmp_path, FILL_THEN_IDLE, steps, max_hold_s=60.0)
    (close,) = of(log, "market_close")
    assert (close["reason"], close["ts"]) == ("TIMEOUT", at(90))
    assert of(log, "exit")[0]["reason"] == "TIMEOUT"


def test_a_missing_stop_is_placed_again_at_the_restart(tmp_path: Path) -> None:
    def cancel_stop(strategy: CascadeMarketMaker) -> None:
        (stop_order,) = [
            o for o in strategy.cache.orders_open() if o.order_type.name == "STOP_MARKET"
        ]
        strategy.cancel_order(stop_order)

    prices = [(0, 2000.0), (10, 1996.5), (15, 1996.0), (25, 1996.0), (35, 1996.0), (40, 1990.0)]
    prices += [(45, 1990.0), (50, 1990.0)]
    engine, log = run_with_restarts(tmp_path, prices, [(20, cancel_stop), (30, restart)])
    (restored,) = of(log, "exits_restored")
    # Priced from the persisted fill (1997): the same stop as before, for the whole position.
    assert (restored["stop"], restored["stop_qty"]) == (1992.01, 1.0)
    assert (restored["take_profit"], restored["take_profit_qty"]) == (None, 0.0)
    (exit_,) = of(log, "exit")
    assert exit_["reason"] == "SL"  # the new stop protected the position
    stops = [o for o in engine.cache.orders() if o.order_type == OrderType.STOP_MARKET]
    assert [o.status.name for o in stops] == ["CANCELED", "FILLED"]


def test_a_trade_that_ended_while_down_starts_the_cooldown_at_the_restart(
    tmp_path: Path,
) -> None:
    # Down from 20 s to 40 s; the take-profit fills at 25 s while nothing runs.
    prices = [(0, 2000.0), (10, 1996.5), (15, 1996.0), (25, 2000.5), (45, 2000.0), (60, 2000.0)]
    later = [liquidation(50, "LONG", 100_000), liquidation(51, "LONG", 120_000)]
    _, log = run_with_restarts(
        tmp_path, prices, [(20, stop), (40, start)], CASCADE_LONGS + later, cooldown_s=300.0
    )
    assert of(log, "exit") == []  # closed at the venue while the strategy was down
    (ended,) = of(log, "trade_ended_offline")
    assert ended["ts"] == at(40) and ended["first_fill_ns"] == of(log, "entry_fill")[0]["ts"]
    (skip,) = of(log, "skip")
    assert skip["reason"] == "cooldown for 289 s"  # 300 s from the restart at 40 s, not from 25
    state = json.loads((tmp_path / "strategies.json").read_text())
    assert state["symbols"]["ETHUSDT-LINEAR.BYBIT"]["trade"] is None
