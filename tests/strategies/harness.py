"""Run CascadeMarketMaker in a real BacktestEngine on small crafted data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.engine import BacktestEngineConfig
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import CustomData
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import TradeId

from liqcascade.backtests.engine_configs import venue_config
from liqcascade.backtests.run_config import load_runs
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig
from liqcascade.strategies.event_log import read_events

S = 1_000_000_000
T0 = 1_741_010_400 * S  # 2025-03-03 14:00 UTC, a Monday inside the 13-18 UTC session


@dataclass
class Run:
    """What a harness run leaves behind."""

    engine: BacktestEngine
    events: list[dict[str, Any]]
    companion_events: dict[str, list[dict[str, Any]]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind, in order."""
        return [e for e in self.events if e["event"] == kind]


def trades(points: list[tuple[float, float]], size: float = 5.0, start: int = T0) -> list:
    """``(seconds after start, price)`` pairs -> ETH trade ticks (alternating aggressors)."""
    return [(start + int(t * S), price, size) for t, price in points]


def liquidation(t: float, side: str, notional: float, price: float = 2000.0) -> tuple:
    """A liquidation received ``t`` seconds after T0."""
    return (T0 + int(t * S), side, price, notional / price)


def new_engine(
    balance: float = 100_000.0,
    touch_fills: bool = False,
    *,
    config: str = "backtest_sample",
    overrides: Sequence[str] = (),
    bars_only: bool = False,
) -> BacktestEngine:
    """An engine with the runner's own venue (``venue_config`` of the shipped run ``config``,
    conservative fills unless ``touch_fills``, plus run-config ``overrides`` such as
    ``"venue.taker_fee_bps=10"``), assembled by the framework's ``BacktestNode`` as every run's
    is; the test adds instruments, data and strategies. ``bars_only``: System B's bar-fed
    hedging venue."""
    fills = "optimistic" if touch_fills else "conservative"
    keys = [f"run.starting_balance={balance}", f"venue.fills={fills}", *overrides]
    (spec,) = load_runs(config, keys, scenarios=False)
    run = BacktestRunConfig(
        engine=BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)),
        venues=[venue_config(spec, bars_only=bars_only)],
        data=[],
        dispose_on_completion=False,
    )
    node = BacktestNode(configs=[run])
    node.build()
    return node.get_engine(run.id)


def run(
    tmp_path: Path,
    trade_points: list[tuple[int, float, float]],
    liquidations: list[tuple],
    symbol: str = "ETHUSDT",
    balance: float = 100_000.0,
    touch_fills: bool = False,
    raw_aggressors: bool = False,
    companions: dict[str, tuple[list, list, dict[str, Any]]] | None = None,
    **overrides: Any,
) -> Run:
    """
    Run one strategy over the data; return the engine and its event log.

    Trades carry no aggressor, as in the runner's execution view
    (``liqcascade.backtests.execution_view``), unless ``raw_aggressors`` alternates buyer/seller
    prints to show the engine's stale-side artefact. ``companions`` adds more symbols to the same
    account, each ``symbol: (trade points, liquidations, strategy overrides)``.
    """
    engine = new_engine(balance, touch_fills)
    log = _add_market(
        engine, tmp_path, symbol, trade_points, liquidations, raw_aggressors, overrides
    )
    logs = {
        other: _add_market(engine, tmp_path, other, points, liqs, raw_aggressors, params)
        for other, (points, liqs, params) in (companions or {}).items()
    }
    engine.run()
    events = read_events(log) if log.exists() else []
    others = {k: read_events(v) if v.exists() else [] for k, v in logs.items()}
    return Run(engine=engine, events=events, companion_events=others)


def _add_market(
    engine: BacktestEngine,
    tmp_path: Path,
    symbol: str,
    trade_points: list[tuple[int, float, float]],
    liquidations: list[tuple],
    raw_aggressors: bool,
    overrides: dict[str, Any],
) -> Path:
    """Add one instrument, its trades and liquidations, and its strategy; return its log."""
    spec = load_specs()[symbol]
    instrument = to_instrument(spec)
    engine.add_instrument(instrument)

    def aggressor(i: int) -> AggressorSide:
        if not raw_aggressors:
            return AggressorSide.NO_AGGRESSOR
        return AggressorSide.SELLER if i % 2 else AggressorSide.BUYER

    ticks = []
    for i, (ts, price, size) in enumerate(trade_points):
        ticks.append(
            TradeTick(
                instrument.id,
                instrument.make_price(Decimal(str(price))),
                instrument.make_qty(Decimal(str(size))),
                aggressor(i),
                TradeId(f"T{i}"),
                ts,
                ts,
            )
        )
    engine.add_data(ticks)
    liqs = [
        CustomData(
            DataType(LiquidationData),
            LiquidationData(
                instrument_id=instrument.id,
                side=side,
                price=price,
                quantity=qty,
                notional=price * qty,
                ts_event=ts - S // 2,
                ts_init=ts + 1,
            ),
        )
        for ts, side, price, qty in liquidations
    ]
    if liqs:
        engine.add_data(liqs, client_id=ClientId("BYBIT_LIQ"))
    log = tmp_path / f"events-{symbol}-{len(list(tmp_path.glob('events-*')))}.jsonl"
    params = {"warm_threshold": 80_000.0, "event_log_path": str(log), **overrides}
    config = CascadeMarketMakerConfig(instrument_id=str(instrument.id), **params)
    engine.add_strategy(CascadeMarketMaker(config))
    return log
