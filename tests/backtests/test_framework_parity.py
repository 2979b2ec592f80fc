"""The framework's own ``BacktestNode``, driven by a user with public plugin API only, gives the
run ``liqcascade backtest`` gives: same order events, same PnL to the cent (System A and B)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pandas as pd
import pytest
from click.testing import CliRunner
from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import ClientId

from liqcascade.backtests import framework_configs
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.systems.crash_reversion import CRASH_EVENTS
from liqcascade.cli import main
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_mm import OptimisticFillsWarning
from liqcascade.strategies.event_log import read_events
from tests.backtests.cancel_counting import CancelCountingMarketMaker
from tests.backtests.test_crash_runner import BINANCE_PAIR
from tests.backtests.test_crash_runner import write_binance_crash
from tests.conftest import SMALL_SYMBOLS

SYMBOLS = "run.symbols=[" + ",".join(f'"{s}"' for s in SMALL_SYMBOLS) + "]"


def _order_events(folder: Path) -> list[dict]:
    """Every logged event but liquidations (cascades, orders, fills, exits), in file order."""
    events = []
    for symbol in SMALL_SYMBOLS:
        path = folder / f"events-{symbol}.jsonl"
        events += read_events(path, skip=("liquidation",)) if path.exists() else []
    return events


def _cli_run(catalog: Path, out: Path, *overrides: str) -> Path:
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--config",
            "backtest_sample",  # the shipped preset, by name
            "--no-scenarios",
            "--no-charts",
            f"run.catalog={catalog}",
            f"run.output={out}",
            SYMBOLS,
            *overrides,
        ],
    )
    assert result.exit_code == 0, result.output
    return out / "latest" / "sample"


def _node_run(config: BacktestRunConfig) -> pd.DataFrame:
    """Run, then read the positions report (kept until dispose: ``dispose_on_completion``)."""
    config = msgspec.structs.replace(config, dispose_on_completion=False)
    node = BacktestNode(configs=[config])
    node.run()
    engine = node.get_engine(config.id)
    positions = engine.trader.generate_positions_report()
    node.dispose()
    return positions


@pytest.mark.parametrize("fills", ["conservative", "optimistic"])
def test_plain_backtest_node_equals_cli(small_catalog: Path, tmp_path: Path, fills: str) -> None:
    overrides = [f"venue.fills={fills}"]
    cli_folder = _cli_run(small_catalog, tmp_path / "cli", *overrides)

    # The user's script: the framework's documented way, with the plugin's one call.
    parts = framework_configs(
        "backtest_sample",
        [f"run.catalog={small_catalog}", SYMBOLS, *overrides],
        event_log_dir=tmp_path / "node",
    )
    config = BacktestRunConfig(
        engine=BacktestEngineConfig(strategies=parts.strategies),
        venues=parts.venues,
        data=parts.data,
    )
    positions = _node_run(config)

    cli_events = _order_events(cli_folder)
    node_events = _order_events(tmp_path / "node")
    assert sum(e["event"] == "exit" for e in cli_events) >= 5  # something to compare
    assert node_events == cli_events

    cli_trades = pd.read_csv(cli_folder / "trades.csv")
    node_pnl = positions["realized_pnl"].map(lambda m: float(str(m).split()[0]))
    assert len(positions) == len(cli_trades)
    assert round(node_pnl.sum(), 2) == round(cli_trades["pnl"].sum(), 2)
    assert sorted(node_pnl.round(2)) == sorted(cli_trades["pnl"].round(2))


def test_naive_catalog_run_warns_of_optimistic_fills(small_catalog: Path) -> None:
    """Trades straight from the loaders' catalog keep their aggressor sides: say so loudly."""
    parts = framework_configs("backtest_sample", [f"run.catalog={small_catalog}", SYMBOLS])
    data = []
    for symbol in SMALL_SYMBOLS:
        instrument_id = f"{symbol}-LINEAR.BYBIT"
        data.append(
            BacktestDataConfig(
                catalog_path=str(small_catalog), data_cls=TradeTick, instrument_id=instrument_id
            )
        )
        data.append(
            BacktestDataConfig(
                catalog_path=str(small_catalog),
                data_cls=LiquidationData,
                instrument_id=instrument_id,
                client_id="BYBIT_LIQ",
            )
        )
    config = BacktestRunConfig(
        engine=BacktestEngineConfig(strategies=parts.strategies),
        venues=parts.venues,
        data=data,
    )
    with pytest.warns(OptimisticFillsWarning, match="aggressor sides"):
        _node_run(config)


def test_execution_view_run_does_not_warn(small_catalog: Path, recwarn: pytest.WarningsRecorder):
    parts = framework_configs("backtest_sample", [f"run.catalog={small_catalog}", SYMBOLS])
    _node_run(parts.run_config())
    assert not [w for w in recwarn if issubclass(w.category, OptimisticFillsWarning)]


def test_each_order_is_cancelled_once(small_catalog: Path) -> None:
    """An exit's sibling is cancelled at the exit's fill; the position's close must not ask
    again (the framework refuses a cancel of a PENDING_CANCEL order with a warning)."""
    parts = framework_configs("backtest_sample", [f"run.catalog={small_catalog}", SYMBOLS])
    strategies = [
        ImportableStrategyConfig(
            strategy_path="tests.backtests.cancel_counting:CancelCountingMarketMaker",
            config_path=s.config_path,
            config=s.config,
        )
        for s in parts.strategies
    ]
    CancelCountingMarketMaker.cancels.clear()
    _node_run(
        BacktestRunConfig(
            engine=BacktestEngineConfig(strategies=strategies), venues=parts.venues, data=parts.data
        )
    )
    cancels = CancelCountingMarketMaker.cancels
    assert len(cancels) >= 5
    ids = [order_id for order_id, _ in cancels]
    assert len(ids) == len(set(ids)), "an order was cancelled twice"
    assert not [c for c in cancels if c[1] in ("PENDING_CANCEL", "CANCELED", "FILLED")]


def test_reset_then_run_again_gives_the_same_run(small_catalog: Path, tmp_path: Path) -> None:
    """``engine.reset()`` clears the detector, the trade, the cooldown and the loss records."""
    parts = framework_configs(
        "backtest_sample", [f"run.catalog={small_catalog}", SYMBOLS], event_log_dir=tmp_path / "a"
    )
    config = parts.run_config(dispose_on_completion=False)
    node = BacktestNode(configs=[config])
    node.run()
    engine = node.get_engine(config.id)
    first_positions = engine.trader.generate_positions_report()
    first = _order_events(tmp_path / "a")
    for log in (tmp_path / "a").glob("*.jsonl"):
        log.rename(log.with_suffix(".first"))
    engine.reset()
    for data_config in config.data:  # the node clears its data after a run: load it again
        client_id = ClientId(data_config.client_id) if data_config.client_id else None
        data = BacktestNode.load_data_config(data_config).data
        engine.add_data(data, client_id=client_id, sort=False)
    engine.sort_data()
    engine.run()
    second_positions = engine.trader.generate_positions_report()
    second = _order_events(tmp_path / "a")
    node.dispose()
    assert len([e for e in first if e["event"] == "exit"]) >= 5
    assert json.dumps(second) == json.dumps(first)
    assert list(second_positions["realized_pnl"]) == list(first_positions["realized_pnl"])


def test_system_b_through_a_plain_backtest_node_equals_cli(tmp_path: Path) -> None:
    """System B's parts in a user's own ``BacktestNode``: the same round trips as the CLI."""
    write_binance_crash(tmp_path / "catalog")
    overrides = [f"run.catalog={tmp_path / 'catalog'}", *BINANCE_PAIR]
    command = ["backtest", "--config", "backtest_crash_reversion", "--no-scenarios"]
    result = CliRunner().invoke(main, [*command, f"run.output={tmp_path / 'cli'}", *overrides])
    assert result.exit_code == 0, result.output
    (cli_log,) = (tmp_path / "cli" / "latest").glob(f"*/{CRASH_EVENTS}")

    parts = framework_configs(
        "backtest_crash_reversion", overrides, event_log_dir=tmp_path / "node"
    )
    assert parts.view is None
    positions = _node_run(parts.run_config())

    cli_events = read_events(cli_log)
    assert sum(e["event"] == "exit" for e in cli_events) == 2  # both assets' round trip
    assert read_events(tmp_path / "node" / CRASH_EVENTS) == cli_events
    assert len(positions) == 2


def test_system_b_framework_configs_refuse_a_catalog_that_cannot_warm_up(tmp_path: Path) -> None:
    """What ``liqcascade backtest`` refuses before it runs, refused here too (not an empty run)."""
    write_binance_crash(tmp_path / "catalog")
    overrides = [f"run.catalog={tmp_path / 'catalog'}", *BINANCE_PAIR, "run.end=2023-01-05"]
    with pytest.raises(ConfigError, match="need more than"):
        framework_configs("backtest_crash_reversion", overrides)
