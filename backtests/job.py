"""The ``backtest`` command: a run config, its scenarios, reports and charts in one folder.

Layout of ``<output>/<name>-<UTC stamp>/`` (also reachable as ``<output>/latest``)::

    summary.txt          the base run's summary (its system's report text)
    scenarios.txt/.csv   every scenario side by side (its system's scenario table)
    <scenario>/          per run: the system's report files, its event logs, tearsheet.html
                         (System A: metrics.csv, trades.csv, signals.csv, cascades.csv,
                         summary.txt, events-<SYMBOL>.jsonl, equity.html)
    <base>/cascades/     System A: charts of the largest cascades (price, liquidations, entry,
                         TP/SL, exit)

What a run's report holds and how scenarios are tabled is the run's system's
(:mod:`liqcascade.backtests.systems`); the header, notes and folder layout are shared here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path

from liqcascade.backtests.engine_configs import FRAMEWORK_LOG
from liqcascade.backtests.report import format_table
from liqcascade.backtests.report import report_notes
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import RunResult
from liqcascade.backtests.runner import run_spec
from liqcascade.backtests.runner import slug
from liqcascade.backtests.systems import get_system
from liqcascade.data_loaders.sample_catalog import STAMP as SAMPLE_STAMP


def _tearsheet(result: RunResult, path: Path) -> None:
    from nautilus_trader.analysis import create_tearsheet

    label = get_system(result.spec.system).label
    create_tearsheet(result.engine, output_path=str(path), title=f"{result.spec.name} ({label})")


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
    for spec in specs:  # where the system asks for it, every run's data before the first starts
        system = get_system(spec.system)
        if system.check_every_run_first:
            system.check_data(spec)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    root = base.output / f"{slug(base.name)}-{stamp}"
    results = []
    summaries = []  # each run's summary text, as its system's report gives it
    for spec in specs:
        folder = root / slug(spec.name)
        echo(f"running {spec.name!r} ({', '.join(spec.symbols)}) ...")
        for symbol, reason in spec.skipped:
            echo(f"  {symbol} skipped: {reason}")
        result = run_spec(spec, folder, echo, log_dir=root)
        try:
            system = get_system(spec.system)
            summaries.append(system.write_report(result, folder, charts and spec is base))
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

    summary = summaries[0]
    header = f"{base.name} ({base.system}): fills {base.venue.fills}, "
    if base.venue.cost_per_trade_bps is not None:
        header += f"cost {base.venue.cost_per_trade_bps} bps per trade (no maker/taker fees), "
    else:
        header += f"maker {base.venue.maker_fee_bps} bps, taker {base.venue.taker_fee_bps} bps, "
    header += f"latency {base.venue.latency_ms} ms"
    if base.strategy_file is not None:
        header += f"\nstrategy parameters: {base.strategy_file}"
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
        table = get_system(base.system).scenario_table(results)
        table.to_csv(root / "scenarios.csv")
        text = format_table(table)
        (root / "scenarios.txt").write_text(f"{banner}\n\n{text}\n")
        echo(f"\nScenarios (portfolio)\n{text}")
    _link_latest(root)
    echo(f"\nreports in {root}")
    return results
