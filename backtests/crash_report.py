"""System B report in the seed's format: the terminal text, and the files of a run's report.

``../shared/seeds/002_*.txt`` reports total trades, total return, mean return per trade, max
drawdown, Sharpe and annualised alpha, plus a table per period with its market regime.
:func:`crash_report` reads the strategy's event log and the bar closes
(:mod:`liqcascade.backtests.crash_report_inputs`), computes the figures
(:mod:`liqcascade.backtests.crash_metrics`, whose docstring defines each of them), and writes
them as text, CSV files and charts (:mod:`liqcascade.backtests.crash_plots`). The functions of
those modules are importable from here too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from liqcascade.backtests.crash_metrics import BEAR
from liqcascade.backtests.crash_metrics import BULL
from liqcascade.backtests.crash_metrics import PERIOD_COLUMNS
from liqcascade.backtests.crash_metrics import SIDEWAYS
from liqcascade.backtests.crash_metrics import benchmark_daily_returns
from liqcascade.backtests.crash_metrics import benchmark_value
from liqcascade.backtests.crash_metrics import btc_value
from liqcascade.backtests.crash_metrics import build_records
from liqcascade.backtests.crash_metrics import crash_summary
from liqcascade.backtests.crash_metrics import ols_alpha
from liqcascade.backtests.crash_metrics import period_table
from liqcascade.backtests.crash_metrics import regime_of
from liqcascade.backtests.crash_metrics import seed_summary
from liqcascade.backtests.crash_plots import plot_crash_events
from liqcascade.backtests.crash_plots import plot_equity_vs_benchmark
from liqcascade.backtests.crash_report_inputs import as_utc_index
from liqcascade.backtests.crash_report_inputs import closes_from_bars
from liqcascade.backtests.crash_report_inputs import closes_from_catalog
from liqcascade.backtests.crash_report_inputs import crash_events_frame
from liqcascade.backtests.crash_report_inputs import event_lines
from liqcascade.backtests.crash_report_inputs import trades_from_events
from liqcascade.backtests.metrics import daily_returns
from liqcascade.backtests.plots import IncludePlotlyJs
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.seed_metrics import seed_period_table

# Importable from here as before the report was split (the runner, the job and tests use them).
__all__ = [
    "BEAR",
    "BULL",
    "PERIOD_COLUMNS",
    "SIDEWAYS",
    "benchmark_daily_returns",
    "benchmark_value",
    "btc_value",
    "build_records",
    "closes_from_bars",
    "closes_from_catalog",
    "crash_events_frame",
    "crash_report",
    "crash_summary",
    "format_crash_report",
    "ols_alpha",
    "period_table",
    "plot_crash_events",
    "plot_equity_vs_benchmark",
    "regime_of",
    "seed_summary",
    "trades_from_events",
]


def _pct(value: float | None, decimals: int = 2) -> str:
    return "-" if value is None else f"{value:.{decimals}f}%"


def _num(value: float | None, decimals: int = 2) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _table(header: list[str], cells: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(row) for row in cells
    ]


def format_crash_report(
    records: RunRecords,
    summary: dict[str, Any],
    periods: pd.DataFrame,
    crashes: pd.DataFrame,
    seed: dict[str, Any] | None = None,
    seed_periods: pd.DataFrame | None = None,
    skips: dict[str, int] | None = None,
) -> str:
    """
    The report as terminal text.

    A header; the seed's own metrics (per-trade returns) and the account's metrics in two
    labelled blocks; the account's table by month; the seed's figures in the seed's periods.
    """
    first = pd.Timestamp(records.start_ns, unit="ns", tz="UTC")
    last = pd.Timestamp(records.end_ns - 1, unit="ns", tz="UTC")
    mean_assets = f"{crashes['n_assets'].mean():.1f}" if len(crashes) else "-"
    branches = pd.Series(";".join(crashes["branches"]).split(";")) if len(crashes) else None
    branch_text = (
        ", ".join(f"{k} {v}" for k, v in branches.value_counts().sort_index().items())
        if branches is not None
        else "-"
    )
    drawdown = summary["max_drawdown_pct"]
    alpha_line = _num(summary["alpha"], 4)
    if summary["beta"] is not None:
        alpha_line += f" (beta {summary['beta']:.3f})"
    btc = summary.get("btc_return_pct")
    lines = [
        f"System B - cross-asset crash mean-reversion: {records.name}",
        f"Period (UTC): {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} ({summary['days']} days)",
        f"Assets: {', '.join(records.symbols)}",
        f"Crash events: {len(crashes)} (mean assets per event: {mean_assets}; "
        f"qualifying bars by branch: {branch_text})",
        f"Equal-weight buy & hold (assets priced at each time): "
        f"{_pct(summary['benchmark_return_pct'])}; BTC buy & hold: "
        + (_pct(btc) if btc is not None else "- (no BTC in the universe)"),
    ]
    if not len(crashes):
        lines.append("No crash event in this run: the thresholds were never met by enough assets.")
    if skips:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(skips.items()))
        lines.append(f"Crashing assets not bought: {sum(skips.values())} ({reasons})")
    if seed is not None:
        per_year = _num(seed["trades_per_year"], 1)
        seed_alpha = _num(seed["alpha"], 4)
        if seed["beta"] is not None:
            seed_alpha += f" (beta {seed['beta']:.3f})"
        elif seed["btc"] is None:
            seed_alpha += " (no BTC in the universe)"
        lines += [
            "",
            "## The seed's metrics (per-trade returns, summed as the seed's notebook does)",
            f"- Total trades: {seed['trades']}",
            f"- Total return (sum of trade returns): {_pct(seed['total_return_pct'])}",
            f"- Mean return per trade: {_pct(seed['mean_return_pct'])}",
            f"- Max Drawdown (of the cumulative sum): {_pct(seed['max_drawdown_pct'])}",
            f"- Sharpe Ratio (mean / std x sqrt({per_year} trades a year)): {_num(seed['sharpe'])}",
            f"- Annualized Alpha (hourly OLS on BTC, intercept x trades a year): {seed_alpha}",
        ]
    lines += [
        "",
        f"## Account results ({records.starting_balance:,.2f} USDT starting balance, "
        "realised PnL after fees)",
        f"- Total trades: {summary['trades']}",
        f"- Total return: {_pct(summary['total_return_pct'])}",
        f"- Mean return per trade: {_pct(summary['mean_return_per_trade_pct'])}",
        f"- Max Drawdown: {_pct(-drawdown if drawdown else 0.0)}",
        f"- Sharpe Ratio (daily returns x sqrt(365)): {_num(summary['sharpe'])}",
        f"- Annualized Alpha (daily OLS on the equal-weight benchmark x 365): {alpha_line}",
        "",
        "## Account results by month",
        "",
    ]
    lines += _table(
        [
            "Time Period",
            "Market Regime",
            "Benchmark",
            "Return",
            "Sharpe",
            "Avg Return",
            "Trades",
            "Alpha (Annualized)",
        ],
        [
            [
                str(row["period"]),
                str(row["regime"]),
                _pct(row["benchmark_return_pct"]),
                _pct(row["return_pct"]),
                _num(row["sharpe"]),
                _pct(row["avg_return_pct"]),
                str(row["trades"]),
                _num(row["alpha"], 4),
            ]
            for _, row in periods.iterrows()
        ],
    )
    if seed_periods is not None:
        lines += ["", "## The seed's periods (seed metrics of the trades entered in each)", ""]
        lines += _table(
            [
                "Time Period",
                "Seed's Regime",
                "Covered",
                "Market Regime",
                "Sharpe",
                "Avg Return",
                "Sum",
                "Trades",
                "Alpha (Annualized)",
            ],
            [
                [
                    str(row["period"]),
                    str(row["seed_regime"]),
                    str(row["covered"]),
                    str(row["regime"] or "-"),
                    _num(row["sharpe"]),
                    _pct(row["avg_return_pct"]),
                    _pct(row["total_return_pct"]),
                    str(row["trades"]),
                    _num(row["alpha"], 4),
                ]
                for _, row in seed_periods.iterrows()
            ],
        )
    return "\n".join(lines) + "\n"


def crash_report(
    events: str | Path | Sequence[dict[str, Any]],
    closes: pd.DataFrame,
    out_dir: str | Path,
    starting_balance: float,
    *,
    name: str = "crash-reversion",
    period: str = "M",
    bear_below: float = -0.10,
    bull_above: float = 0.10,
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> str:
    """
    Write System B's report into ``out_dir`` and return it as terminal text.

    Parameters
    ----------
    events : path or list of dict
        The strategy's JSON-lines event log (``event_log_path``), or its parsed lines.
    closes : pd.DataFrame
        Bar closes of EVERY asset of the universe (the benchmark holds them all): columns are
        symbols (``ETHUSDT``), the index close times (UTC ``DatetimeIndex`` or UNIX ns). Build it
        with :func:`closes_from_catalog` or :func:`closes_from_bars`. Its first and last close
        bound the run.
    out_dir : str or Path
        Destination folder (created); files of the same names are overwritten.
    starting_balance : float
        The account's starting balance (USDT), the base of every return.
    name : str
        Run name for titles.
    period : str
        Rows of the period table (pandas period frequency, ``"M"`` = calendar months).
    bear_below, bull_above : float
        Regime thresholds (fractions of the benchmark's period return).
    include_plotlyjs : bool or str
        Passed to plotly's ``write_html`` (``"directory"`` writes ``plotly.min.js`` once next to
        the charts; ``True`` embeds it in each file).

    Returns
    -------
    str
        The text also written to ``summary.txt``. Files: ``summary.txt``, ``trades.csv``,
        ``crash_events.csv``, ``periods.csv``, ``seed_metrics.csv``, ``seed_periods.csv``,
        ``daily_returns.csv`` (strategy and benchmark), ``equity.html`` (equity vs the
        benchmark and BTC), ``crashes.html`` (prices with crash events).

    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = event_lines(events)
    closes = as_utc_index(closes)
    records = build_records(trades_from_events(lines), closes, starting_balance, name)
    crashes = crash_events_frame(lines)
    summary = crash_summary(records, closes)
    periods = period_table(records, closes, period, bear_below, bull_above)
    seed = seed_summary(records, closes)
    seed_periods = seed_period_table(
        records.trades,
        closes,
        benchmark_value(closes),
        regime=lambda r: regime_of(r, bear_below, bull_above),
    )
    skips = Counter(str(e.get("reason")) for e in lines if e["event"] == "skip")
    text = format_crash_report(records, summary, periods, crashes, seed, seed_periods, skips)

    strategy = daily_returns(records)
    benchmark = benchmark_daily_returns(benchmark_value(closes), strategy.index)
    pd.concat([strategy, benchmark], axis=1).to_csv(out / "daily_returns.csv")
    pd.DataFrame(
        [
            {
                "symbol": t.symbol,
                "event_utc": pd.Timestamp(t.declared_ns, unit="ns", tz="UTC").isoformat(),
                "entry_utc": pd.Timestamp(t.entry_ns, unit="ns", tz="UTC").isoformat(),
                "exit_utc": pd.Timestamp(t.exit_ns, unit="ns", tz="UTC").isoformat(),
                "entry_price": t.entry_price,
                "exit_price": t.exit_price,
                "quantity": t.quantity,
                "pnl": t.pnl,
                "fees": t.fees,
                "return_pct": t.return_fraction * 100.0,
                "exit_reason": t.exit_reason,
            }
            for t in sorted(records.trades, key=lambda t: (t.entry_ns, t.symbol))
        ],
        columns=[
            "symbol",
            "event_utc",
            "entry_utc",
            "exit_utc",
            "entry_price",
            "exit_price",
            "quantity",
            "pnl",
            "fees",
            "return_pct",
            "exit_reason",
        ],
    ).to_csv(out / "trades.csv", index=False)
    crashes.drop(columns=["closes"]).to_csv(out / "crash_events.csv", index=False)
    periods.to_csv(out / "periods.csv", index=False)
    seed_periods.to_csv(out / "seed_periods.csv", index=False)
    pd.Series(seed, name="value").to_csv(out / "seed_metrics.csv")
    (out / "summary.txt").write_text(text, encoding="utf-8")
    plot_equity_vs_benchmark(records, closes, out / "equity.html", include_plotlyjs)
    plot_crash_events(records, closes, crashes, out / "crashes.html", include_plotlyjs)
    return text
