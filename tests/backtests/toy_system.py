"""A third trading system, registered by the tests only: it counts bars and reports the count.

Everything the runner, the job and the reports need comes from :data:`SYSTEM` - the shared
modules know nothing of it, so a run of it proves they look systems up instead of branching.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.trading.strategy import Strategy

from liqcascade.backtests.crash_data import bar_coverage
from liqcascade.backtests.engine_configs import backtest_run_config
from liqcascade.backtests.engine_configs import run_node
from liqcascade.backtests.engine_configs import venue_config
from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.systems import Execution
from liqcascade.backtests.systems import System
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.event_log import read_events

EVENTS = "events-toy.jsonl"
REPORT = "toy_report.txt"


class BarCounterConfig(StrategyConfig, frozen=True):
    """The bars to count."""

    instrument_ids: list[str]
    bar_spec: str = "1-HOUR-LAST-EXTERNAL"
    event_log_path: str | None = None


class BarCounter(Strategy):
    """Logs every bar it receives; trades nothing."""

    def __init__(self, config: BarCounterConfig) -> None:
        super().__init__(config)
        self.events = EventLog(config.event_log_path)

    def on_start(self) -> None:
        """Subscribe the bars."""
        for instrument_id in self.config.instrument_ids:
            self.subscribe_bars(BarType.from_str(f"{instrument_id}-{self.config.bar_spec}"))

    def on_bar(self, bar: Bar) -> None:
        """One event line per bar."""
        symbol = bar.bar_type.instrument_id.symbol.value.removesuffix("-LINEAR")
        self.events.write(bar.ts_init, "bar", symbol)

    def on_stop(self) -> None:
        """Flush the log."""
        self.events.close()


def strategy_kwargs(tree: dict[str, Any], symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``[toy]`` of the strategy file, over every symbol."""
    toy = dict(tree.get("strategy", {}).get("toy", {}))
    unknown = sorted(set(toy) - {"bar_spec"})
    if unknown:
        raise ConfigError(f"strategy.toy.{unknown[0]}: unknown key")
    return {"*": {**toy, "instrument_ids": [f"{s}-LINEAR.BYBIT" for s in symbols]}}


def _bar_types(spec: RunSpec) -> list[str]:
    params = spec.strategies["*"]
    bar_spec = params.get("bar_spec", "1-HOUR-LAST-EXTERNAL")
    return [f"{i}-{bar_spec}" for i in params["instrument_ids"]]


def check_data(spec: RunSpec) -> None:
    """Bars of every symbol, or a ConfigError naming ``run.symbols``."""
    for bar_type in _bar_types(spec):
        if bar_coverage(spec.catalog, bar_type, None, None).total == 0:
            raise ConfigError(f"run.symbols: no {bar_type} bars in {spec.catalog}")


def execute(
    spec: RunSpec, folder: Path, echo: Callable[[str], None], log_dir: Path | None
) -> Execution:
    """One engine run over the bars."""
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.config import ImportableStrategyConfig

    data = [
        BacktestDataConfig(
            catalog_path=str(spec.catalog),
            data_cls="nautilus_trader.model.data:Bar",
            bar_types=_bar_types(spec),
        )
    ]
    strategy = ImportableStrategyConfig(
        strategy_path="tests.backtests.toy_system:BarCounter",
        config_path="tests.backtests.toy_system:BarCounterConfig",
        config={**spec.strategies["*"], "event_log_path": str(folder / EVENTS)},
    )
    venues = [venue_config(spec, bars_only=True)]
    return Execution(run_node(backtest_run_config(spec, data, [strategy], venues, log_dir)))


def records(spec: RunSpec, folder: Path, execution: Execution, coverage: Any) -> RunRecords:
    """No trades; the span of the bars the strategy logged."""
    stamps = [e["ts"] for e in read_events(folder / EVENTS)]
    return RunRecords(
        name=spec.name,
        symbols=spec.symbols,
        start_ns=min(stamps),
        end_ns=max(stamps),
        starting_balance=spec.starting_balance,
        cascades=(),
        signals=(),
        trades=(),
    )


def _counts(folder: Path) -> Counter[str]:
    return Counter(e["symbol"] for e in read_events(folder / EVENTS))


def write_report(result: Any, folder: Path, charts: bool) -> str:
    """``toy_report.txt``: bars seen per symbol."""
    text = "bars seen: " + ", ".join(f"{s} {n}" for s, n in sorted(_counts(folder).items()))
    (folder / REPORT).write_text(text + "\n")
    return text


def scenario_table(results: list[Any]) -> pd.DataFrame:
    """Bars seen per run."""
    return pd.DataFrame({r.spec.name: {"bars": sum(_counts(r.folder).values())} for r in results})


SYSTEM = System(
    name="toy",
    label="Toy system",
    strategy_file="toy.toml",
    strategy_kwargs=strategy_kwargs,
    execute=execute,
    records=records,
    write_report=write_report,
    scenario_table=scenario_table,
    check_data=check_data,
)
