"""System A, cascade market-making (``run.system = "cascade_mm"``): one object, every hook.

One :class:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker` per symbol, fed the symbol's
trades (from the *execution view* of the catalog, cut to the trade windows the strategy can act
in) and its liquidations. Read from the strategy file's ``[defaults]`` and ``[symbols.X]``
tables; a symbol whose ``max_maker_fee_bps`` the venue's maker fee exceeds is skipped. Before a
run the catalog must hold an instrument, liquidations and trades of every symbol
(:func:`~liqcascade.backtests.data_checks.check_run_data`). The records are the strategies'
cascades, signals and trades, marked to market on the view's prints; the report is the
metrics tables, CSVs, the equity chart and charts of the largest cascades.

The live node's half: :mod:`liqcascade.live.systems.cascade_mm`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from liqcascade.backtests.catalog_reads import data_span
from liqcascade.backtests.catalog_reads import load_window
from liqcascade.backtests.catalog_reads import view_prices
from liqcascade.backtests.coverage import Coverage
from liqcascade.backtests.engine_configs import backtest_run_config
from liqcascade.backtests.engine_configs import run_node
from liqcascade.backtests.engine_configs import venue_config
from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.execution_view import window_violations
from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import trade_from_exit_event
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.systems import Execution
from liqcascade.backtests.systems import System
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.strategies.event_log import read_events
from liqcascade.strategies.trading_gate import parse_utc

if TYPE_CHECKING:
    import pandas as pd

    from liqcascade.backtests.runner import RunResult

#: The client id the strategies subscribe liquidations with (the framework requires one for
#: custom data; the live node's liquidation client has the same).
LIQUIDATION_CLIENT = "BYBIT_LIQ"
NS_PER_MS = 1_000_000


def strategy_kwargs(tree: dict[str, Any], symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per symbol, the strategy file's ``[defaults]`` merged with its ``[symbols.X]`` table,
    validated against ``CascadeMarketMakerConfig`` (a bad value is named before data is read).
    """
    from nautilus_trader.common.config import msgspec_decoding_hook

    from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

    strategy = tree.get("strategy", {})
    defaults = strategy.get("defaults", {})
    per_symbol = strategy.get("symbols", {})
    result = {}
    for symbol in symbols:
        if symbol not in per_symbol:
            raise ConfigError(f"strategy.symbols.{symbol}: no parameters for this symbol")
        kwargs = {**defaults, **per_symbol[symbol]}
        params = {"instrument_id": f"{symbol}-LINEAR.BYBIT", **kwargs}
        try:  # validate types and values now, so a bad one is named before data is read
            msgspec.convert(params, type=CascadeMarketMakerConfig, dec_hook=msgspec_decoding_hook)
        except (msgspec.ValidationError, TypeError, ValueError) as e:
            raise ConfigError(f"strategy.symbols.{symbol}: {e}") from e
        result[symbol] = kwargs
    return result


def data_configs(spec: RunSpec, view: Path) -> list[Any]:
    """
    System A's data: per symbol, the view's trades and the liquidations.

    Liquidations are custom data: their ``BacktestDataConfig`` needs the ``client_id`` the
    strategy subscribes with (``liquidation_client_id``), or the framework refuses the config.
    """
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.model.data import TradeTick

    from liqcascade.data_loaders.liquidation import LiquidationData

    data = []
    bounds = {"start_time": spec.start, "end_time": spec.end}
    for symbol in spec.symbols:
        instrument_id = instrument_id_for(symbol)
        if (view / "data" / TRADES.directory / instrument_id).exists():
            data.append(
                BacktestDataConfig(
                    catalog_path=str(view),
                    data_cls=TradeTick,
                    instrument_id=instrument_id,
                    **bounds,
                )
            )
        data.append(
            BacktestDataConfig(
                catalog_path=str(view),
                data_cls=LiquidationData,
                instrument_id=instrument_id,
                client_id=LIQUIDATION_CLIENT,
                **bounds,
            )
        )
    return data


def strategy_configs(spec: RunSpec, event_log_dir: Path | None) -> list[Any]:
    """System A's strategies: one ``CascadeMarketMaker`` per symbol, from the strategy file."""
    from nautilus_trader.config import ImportableStrategyConfig

    strategies = []
    for index, symbol in enumerate(spec.symbols):
        params = {
            **spec.strategies[symbol],
            "instrument_id": instrument_id_for(symbol),
            "liquidation_client_id": LIQUIDATION_CLIENT,
            "order_id_tag": f"{index:03d}",  # one instance per symbol: ids must not collide
            "order_latency_ms": spec.venue.latency_ms,
            "event_log_path": (
                str(event_log_dir / f"events-{symbol}.jsonl") if event_log_dir else None
            ),
        }
        strategies.append(
            ImportableStrategyConfig(
                strategy_path="liqcascade.strategies.cascade_mm:CascadeMarketMaker",
                config_path="liqcascade.strategies.cascade_mm:CascadeMarketMakerConfig",
                config=params,
            )
        )
    return strategies


def build_run_config(spec: RunSpec, view: Path, folder: Path, log_dir: Path | None = None) -> Any:
    """System A's ``BacktestRunConfig``: trades from the execution view, liquidations, one
    CascadeMarketMaker per symbol (framework log in ``log_dir``; ``None``: bypassed)."""
    data = data_configs(spec, view)
    return backtest_run_config(spec, data, strategy_configs(spec, folder), log_dir=log_dir)


def records_from_events(
    spec: RunSpec, folder: Path, span: tuple[int, int], coverage: Coverage | None = None
) -> RunRecords:
    """Reduce the strategies' event logs to run records."""
    cascades, signals, trades = [], [], []
    for symbol in spec.symbols:
        path = folder / f"events-{symbol}.jsonl"
        # Liquidation lines are most of a long run's log and none of its records.
        events = read_events(path, skip=("liquidation",)) if path.exists() else []
        filled = {e["declared_ns"] for e in events if e["event"] == "entry_fill"}
        seen_signals = set()
        for e in events:
            kind = e["event"]
            if kind == "cascade_stats":
                cascades.append(CascadeRecord.of(symbol, e))
            elif kind == "entry_submitted" and e["declared_ns"] not in seen_signals:
                seen_signals.add(e["declared_ns"])  # a re-priced entry is the same signal
                signals.append(
                    SignalRecord(
                        symbol=symbol,
                        declared_ns=e["declared_ns"],
                        submitted_ns=e["ts"],
                        side=e["side"],
                        price=e["price"],
                        filled=e["declared_ns"] in filled,
                    )
                )
            elif kind == "exit":
                trades.append(trade_from_exit_event(e))
    return RunRecords(
        name=spec.name,
        symbols=spec.symbols,
        start_ns=span[0],
        end_ns=span[1],
        starting_balance=spec.starting_balance,
        cascades=tuple(sorted(cascades, key=lambda c: c.declared_ns)),
        signals=tuple(sorted(signals, key=lambda s: s.declared_ns)),
        trades=tuple(sorted(trades, key=lambda t: t.exit_ns)),
        coverage=coverage,
    )


def with_marks(records: RunRecords, prices: Callable[[str, int, int], Any]) -> RunRecords:
    """The records with their mark-to-market equity, portfolio and per symbol."""
    from dataclasses import replace

    from liqcascade.backtests.metrics import mtm_equity

    marks = {None: mtm_equity(records, prices)}
    marks |= {s: mtm_equity(records, prices, s) for s in records.symbols}
    return replace(records, mtm=marks)


def _cascade_charts(result: RunResult, folder: Path) -> None:
    """The largest cascades of each symbol (BTC's notional would crowd out the rest)."""
    from liqcascade.backtests.plots import plot_largest_cascades

    spec = result.spec
    per_symbol = max(1, -(-spec.cascade_charts // len(spec.symbols)))
    reader = load_window(spec.catalog)
    for symbol in spec.symbols:
        records = replace(
            result.records,
            symbols=(symbol,),
            cascades=tuple(c for c in result.records.cascades if c.symbol == symbol),
        )
        plot_largest_cascades(
            records,
            reader,
            folder / symbol,
            n=per_symbol,
            take_profit=spec.strategies[symbol]["take_profit"],
            stop_loss=spec.strategies[symbol]["stop_loss"],
        )


def skipped_symbols(
    strategies: dict[str, dict[str, Any]], maker_fee_bps: float
) -> list[tuple[str, str]]:
    """Symbols whose ``max_maker_fee_bps`` the venue's maker fee exceeds, with the reason."""
    skipped = []
    for symbol, kwargs in strategies.items():
        cap = kwargs.get("max_maker_fee_bps")
        if cap is not None and maker_fee_bps > cap:
            reason = f"needs maker fee <= {cap} bps (max_maker_fee_bps), venue has {maker_fee_bps}"
            skipped.append((symbol, reason))
    return skipped


def check_data(spec: RunSpec) -> Coverage:
    """Every symbol's instrument, liquidations and trades in the window (else
    :class:`~liqcascade.backtests.data_checks.MissingDataError`); the run's coverage."""
    from liqcascade.backtests.data_checks import check_run_data

    return check_run_data(spec)


def execute(
    spec: RunSpec, folder: Path, echo: Callable[[str], None], log_dir: Path | None
) -> Execution:
    """
    Run the spec on its execution view: speculative trade windows, then the proven ones, then
    every trade. Each run is checked (every trade ended inside its window), so a run that
    stands is the full run's twin.
    """
    latency_ns = int(spec.venue.latency_ms * NS_PER_MS)
    attempts = [(spec.strategies, True), (spec.strategies, False)] if spec.trade_windows else []
    start_ns = parse_utc(spec.start) if spec.start else None  # detectors start there
    for strategies, speculative in [*attempts, (None, False)]:
        view = build_execution_view(
            spec.catalog,
            list(spec.symbols),
            strategies,
            latency_ns,
            speculative=speculative,
            start_ns=start_ns,
        )
        node = run_node(build_run_config(spec, view.path, folder, log_dir))
        problems = window_violations(view.path, folder, list(spec.symbols))
        if not problems or strategies is None:
            break
        echo(
            f"trade windows: {len(problems)} trade(s) outlived their window "
            f"(first: {problems[0]}); running again on "
            + ("the proven windows" if speculative else "every trade")
        )
        node.dispose()
        for log in folder.glob("events-*.jsonl"):
            log.unlink()
    return Execution(node, view)


def run_data_span(spec: RunSpec) -> tuple[int, int]:
    """The span of the run's trades and liquidations: ``run.start``/``run.end`` where set,
    else the catalog's first and last print of its symbols."""
    return data_span(spec.catalog, spec.symbols, spec.start, spec.end)


def records(
    spec: RunSpec, folder: Path, execution: Execution, coverage: Coverage | None
) -> RunRecords:
    """The event logs' records over the run's data span, marked to market on the view."""
    span = run_data_span(spec)
    return with_marks(
        records_from_events(spec, folder, span, coverage), view_prices(execution.view.path)
    )


def write_report(result: RunResult, folder: Path, charts: bool) -> str:
    """Metrics, trades, signals, cascades (CSV and text), the equity chart and, with
    ``charts``, the largest cascades; returns the metrics table as text."""
    from liqcascade.backtests.plots import plot_equity
    from liqcascade.backtests.report import format_table
    from liqcascade.backtests.report import metrics_table
    from liqcascade.backtests.report import write_report as write_files

    write_files(result.records, folder)
    plot_equity(result.records, folder / "equity.html")
    if charts and result.spec.cascade_charts > 0:
        _cascade_charts(result, folder / "cascades")
    return format_table(metrics_table(result.records))


def scenario_table(results: list[RunResult]) -> pd.DataFrame:
    """Portfolio metrics of every scenario side by side."""
    from liqcascade.backtests.report import scenario_table as table

    return table([r.records for r in results])


def framework_parts(spec: RunSpec, event_log_dir: Path | None) -> tuple[Any, Any, Any, Any]:
    """``(venues, data, strategies, view)`` for users' own ``BacktestNode``: the *proven* trade
    windows (nobody checks this run afterwards), so its fills equal the CLI's."""
    view = build_execution_view(
        spec.catalog,
        list(spec.symbols),
        spec.strategies if spec.trade_windows else None,
        int(spec.venue.latency_ms * NS_PER_MS),
        speculative=False,  # proven windows: nobody checks this run afterwards
        start_ns=parse_utc(spec.start) if spec.start else None,  # detectors start there
    )
    venues = [venue_config(spec)]
    return venues, data_configs(spec, view.path), strategy_configs(spec, event_log_dir), view


SYSTEM = System(
    name="cascade_mm",
    label="System A",
    strategy_file="cascade_mm.toml",
    strategy_kwargs=strategy_kwargs,
    execute=execute,
    records=records,
    write_report=write_report,
    scenario_table=scenario_table,
    check_data=check_data,
    data_span=run_data_span,
    skipped_symbols=skipped_symbols,
    trade_windows=True,
    screen=True,
    sweep_strategy_kwargs={"log_liquidations": False},  # the log's bulk; no record reads it
    framework_parts=framework_parts,
    live="liqcascade.live.systems.cascade_mm:LIVE",
)
