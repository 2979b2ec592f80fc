"""A real BacktestEngine with one ETH CascadeMarketMaker and an operator acting on it mid-run.

The operator is an actor with timers: at given times it stops, resets and starts the strategy
(a process ending and a new one starting, the cache holding the venue's orders and positions as
a node's reconciliation leaves them), cancels an order, or adds a node rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.actor import Actor

from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.event_log import read_events
from tests.strategies.harness import T0
from tests.strategies.harness import S
from tests.strategies.harness import _add_market
from tests.strategies.harness import new_engine
from tests.strategies.harness import trades

Step = tuple[float, Callable[[CascadeMarketMaker], None]]  # (seconds after T0, action)


class Operator(Actor):
    """Does things to the strategy at given times of the run (stop, start, cancel an order)."""

    def __init__(self, steps: list[Step]) -> None:
        super().__init__()
        self.steps = steps
        self.strategy: CascadeMarketMaker | None = None

    def on_start(self) -> None:
        for i, (seconds, _) in enumerate(self.steps):
            self.clock.set_time_alert_ns(f"step-{i}", T0 + int(seconds * S), self._on_step)

    def _on_step(self, event: object) -> None:
        _, action = self.steps[int(event.name.removeprefix("step-"))]
        action(self.strategy)


def stop(strategy: CascadeMarketMaker) -> None:
    """The process ends: on_stop, then a fresh strategy state (as a new process has)."""
    strategy.stop()
    strategy.reset()


def start(strategy: CascadeMarketMaker) -> None:
    """A new process starts the strategy (the restart adoption runs with a ``state_path``)."""
    strategy.start()


def restart(strategy: CascadeMarketMaker) -> None:
    """Stop, then start at once."""
    stop(strategy)
    start(strategy)


def run_with_operator(
    tmp_path: Path,
    prices: list[tuple[float, float]],
    steps: list[Step],
    liquidations: list[tuple],
    **overrides: object,
) -> tuple[BacktestEngine, list[dict]]:
    """One ETH strategy and an operator acting on it; the engine and the strategy's log."""
    engine = new_engine()
    log = _add_market(engine, tmp_path, "ETHUSDT", trades(prices), liquidations, False, overrides)
    operator = Operator(steps)
    engine.add_actor(operator)
    operator.strategy = engine.trader.strategies()[0]
    engine.run()
    return engine, read_events(log)


def of(log: list[dict], kind: str) -> list[dict]:
    """Events of one kind, in order."""
    return [e for e in log if e["event"] == kind]


def at(seconds: float) -> int:
    """The time ``seconds`` after T0."""
    return T0 + int(seconds * S)
