"""The ``backtest`` command: a run config, its scenarios, reports and charts in one folder.

Layout of ``<output>/<name>-<UTC stamp>/`` (also reachable as ``<output>/latest``)::

    summary.txt          the base run's metrics per symbol and portfolio
    scenarios.txt/.csv   portfolio metrics of every scenario side by side
    <scenario>/          per run: metrics.csv, trades.csv, signals.csv, cascades.csv,
                         summary.txt, events-<SYMBOL>.jsonl, equity.html, tearsheet.html
    <base>/cascades/     charts of the largest cascades (price, liquidations, entry, TP/SL, exit)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pandas as pd

from liqcascade.backtests.crash_report import crash_report
from liqcascade.backtests.crash_report import crash_summary
from liqcascade.backtests.crash_report import seed_summary
from liqcascade.backtests.plots import plot_equity
from liqcascade.backtests.plots import plot_largest_cascades
from liqcascade.backtests.report import format_table
from liqcascade.backtests.report import metrics_table
from liqcascade.backtests.report import report_notes
from liqcascade.backtests.report import scenario_table
from liqcascade.backtests.report import write_report
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import CRASH_EVENTS
from liqcascade.backtests.runner import FRAMEWORK_LOG
from liqcascade.backtests.runner import RunResult
from liqcascade.backtests.runner import crash_closes
from liqcascade.backtests.runner import load_window
from liqcascade.backtests.runner import run_spec
from liqcascade.backtests.runner import slug
from liqcascade.data_loaders.sample_catalog import STAMP as SAMPLE_STAMP


def _tearsheet(result: RunResult, path: Path) -> None:
    from nautilus_trader.analysis import create_tearsheet

    create_tearsheet(result.engine, output_path=str(path), title=f"{result.spec.name} (System A)")


def _cascade_charts(result: RunResult, folder: Path) -> None:
    """The largest cascades of each symbol (BTC's notional would crowd out the rest)."""
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


def _crash_scenarios(results: list[RunResult]) -> pd.DataFrame:
    """System B's headline figures (the seed's format), one column per scenario."""
    columns = {}
    for result in results:
        closes = crash_closes(result.spec)
        summary = crash_summary(result.records, closes)
        seed = {f"seed_{k}": v for k, v in seed_summary(result.records, closes).items()}
        columns[result.spec.name] = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in {**summary, **seed}.items()
        }
    return pd.DataFrame(columns)


def _link_latest(root: Path) -> None:
    latest = root.parent / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    os.symlink(root.name, latest)


def run_job(
    config: Path,
    overrides: Sequence[str] = (),
    scenarios: bool = True,
    charts: bool = True,
    echo: Callable[[str], None] = print,
) -> list[RunResult]:
    """Run a config (and its scenarios); write every report; return the results."""
    specs = load_runs(config, overrides, scenarios)
    base = specs[0]
    for spec in specs:
        if spec.system == "crash_reversion":
            from liqcascade.backtests.crash_data import check_crash_data

            check_crash_data(spec)  # every run's bars, before the first one starts
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    root = base.output / f"{slug(base.name)}-{stamp}"
    results = []
    texts: dict[str, str] = {}  # System B's report in the seed's own format, per run
    for spec in specs:
        folder = root / slug(spec.name)
        echo(f"running {spec.name!r} ({', '.join(spec.symbols)}) ...")
        for symbol, reason in spec.skipped:
            echo(f"  {symbol} skipped: {reason}")
        result = run_spec(spec, folder, echo, log_dir=root)
        try:
            if spec.system == "crash_reversion":
                texts[spec.name] = crash_report(
                    folder / CRASH_EVENTS,
                    crash_closes(spec),
                    folder,
                    spec.starting_balance,
                    name=spec.name,
                )
            else:
                write_report(result.records, folder)
                plot_equity(result.records, folder / "equity.html")
                if charts and spec is base and spec.cascade_charts > 0:
                    _cascade_charts(result, folder / "cascades")
            _tearsheet(result, folder / "tearsheet.html")
        finally:
            result.dispose()
        view = result.view
        fed = ""
        if view is not None:
            kind = "all"
            if view.trades_kept < view.trades_in:
                kind = "speculative windows, checked" if view.speculative else "proven windows"
            fed = f"; trades fed {view.trades_kept:,} of {view.trades_in:,} ({kind})"
        echo(f"  {result.seconds:.1f} s{fed}")
        results.append(result)

    summary = texts.get(base.name) or format_table(metrics_table(results[0].records))
    header = f"{base.name} ({base.system}): fills {base.venue.fills}, "
    if base.venue.cost_per_trade_bps is not None:
        header += f"cost {base.venue.cost_per_trade_bps} bps per trade (no maker/taker fees), "
    else:
        header += f"maker {base.venue.maker_fee_bps} bps, taker {base.venue.taker_fee_bps} bps, "
    header += f"latency {base.venue.latency_ms} ms"
    if base.prices:  # results on another venue's prices must say so
        from liqcascade.backtests.price_mapping import describe

        header += "\nprices:\n" + "\n".join(f"  {line}" for line in describe(base.prices))
    first = results[0].records
    coverage = first.coverage
    if coverage is not None:  # per-day figures are per day with liquidation data
        header += "\ncoverage:\n" + "\n".join(
            f"  {coverage.describe(symbol)}" for symbol in base.symbols
        )
    log = root / f"{FRAMEWORK_LOG}.log"
    if log.exists() and log.stat().st_size:
        header += f"\nframework warnings and errors: {log}"
    notes = report_notes(
        (first.end_ns - first.start_ns) / 86_400e9,
        (base.catalog / SAMPLE_STAMP).exists(),
        base.skipped,
    )
    banner = "\n".join(f"* {note}" for note in notes)
    (root / "summary.txt").write_text(f"{header}\n{banner}\n\n{summary}\n")
    echo(f"\n{header}\n{banner}\n{summary}")
    if len(results) > 1:
        if base.system == "crash_reversion":
            table = _crash_scenarios(results)
        else:
            table = scenario_table([r.records for r in results])
        table.to_csv(root / "scenarios.csv")
        text = format_table(table)
        (root / "scenarios.txt").write_text(f"{banner}\n\n{text}\n")
        echo(f"\nScenarios (portfolio)\n{text}")
    _link_latest(root)
    echo(f"\nreports in {root}")
    return results
