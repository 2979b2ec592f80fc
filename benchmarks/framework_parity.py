"""The same run three ways on one catalog: the CLI's runner, a plain ``BacktestNode`` fed by
``framework_configs``, and a ``BacktestNode`` pointed naively at the loaders' catalog.

    .venv/bin/python -m benchmarks.framework_parity [--catalog data/catalog] [key=value ...]

Prints round trips and realised PnL of each, whether the first two agree event for event, and
the warning the naive run raises. Exits 1 if the first two differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import msgspec
from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import TradeTick

from liqcascade.backtests import framework_configs
from liqcascade.backtests.runner import decision_events
from liqcascade.backtests.runner import run_spec
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_mm import OptimisticFillsWarning


def _node_pnl(config: BacktestRunConfig) -> tuple[int, float]:
    config = msgspec.structs.replace(config, dispose_on_completion=False)
    node = BacktestNode(configs=[config])
    node.run()
    report = node.get_engine(config.id).trader.generate_positions_report()
    node.dispose()
    pnl = sum(float(str(m).split()[0]) for m in report.get("realized_pnl", []))
    return len(report), pnl


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/backtest_sample.toml")
    parser.add_argument("--catalog", default="data/catalog")
    parser.add_argument("overrides", nargs="*", help="key=value, as for `liqcascade backtest`")
    args = parser.parse_args()
    overrides = [f"run.catalog={args.catalog}", *args.overrides]
    root = Path(tempfile.mkdtemp(prefix="framework-parity-"))

    parts = framework_configs(args.config, overrides, event_log_dir=root / "node")
    cli = run_spec(parts.spec, root / "cli", echo=lambda _: None)
    cli.dispose()
    cli_pnl = sum(t.pnl for t in cli.records.trades)

    # The runner bypasses the framework's logger (~20 % faster); so do these runs.
    engine = BacktestEngineConfig(
        strategies=parts.strategies, logging=LoggingConfig(bypass_logging=True)
    )
    node_trips, node_pnl = _node_pnl(parts.run_config(engine=engine))
    same = decision_events(root / "cli") == decision_events(root / "node")

    naive_data = []
    for symbol in parts.spec.symbols:
        instrument_id = instrument_id_for(symbol)
        naive_data += [
            BacktestDataConfig(
                catalog_path=str(parts.spec.catalog),
                data_cls=TradeTick,
                instrument_id=instrument_id,
            ),
            BacktestDataConfig(
                catalog_path=str(parts.spec.catalog),
                data_cls=LiquidationData,
                instrument_id=instrument_id,
                client_id="BYBIT_LIQ",
            ),
        ]
    naive = BacktestRunConfig(
        engine=BacktestEngineConfig(
            strategies=framework_configs(args.config, overrides).strategies,
            logging=LoggingConfig(bypass_logging=True),
        ),
        venues=parts.venues,
        data=naive_data,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        naive_trips, naive_pnl = _node_pnl(naive)
    warned = sum(issubclass(w.category, OptimisticFillsWarning) for w in caught)

    print(f"{'run':<42}{'round trips':>12}{'realised PnL':>16}")
    print(f"{'liqcascade backtest (runner)':<42}{len(cli.records.trades):>12}{cli_pnl:>16.2f}")
    print(f"{'BacktestNode + framework_configs':<42}{node_trips:>12}{node_pnl:>16.2f}")
    print(f"{'BacktestNode on the raw catalog (naive)':<42}{naive_trips:>12}{naive_pnl:>16.2f}")
    print(f"runner and framework_configs identical, event for event: {same}")
    print(f"OptimisticFillsWarning raised by the naive run: {warned} (one per symbol traded)")
    return 0 if same and round(cli_pnl, 2) == round(node_pnl, 2) else 1


if __name__ == "__main__":
    sys.exit(main())
