"""Tables and files of a run: per-symbol and portfolio metrics, scenario comparisons, CSVs.

Every number comes from :func:`liqcascade.backtests.metrics.compute_metrics`; this module only
arranges, labels and writes them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from liqcascade.backtests.metrics import METRIC_KEYS
from liqcascade.backtests.metrics import compute_metrics
from liqcascade.backtests.metrics import symbols_of
from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import TradeRecord

PORTFOLIO = "portfolio"


def _count(value: float) -> str:
    return f"{int(value):,d}"


def _fixed(decimals: int) -> Callable[[float], str]:
    return lambda value: f"{value:,.{decimals}f}"


def _percent(decimals: int) -> Callable[[float], str]:
    # For figures already in percent (the ``*_pct`` metrics).
    return lambda value: f"{value:,.{decimals}f}%"


def _fraction_as_percent(value: float) -> str:
    # Shares and rates are fractions in the metrics; traders read them as percentages.
    return f"{value * 100:.2f}%"


# Human label and formatter per metric key, in METRIC_KEYS order.
METRIC_FORMATS: dict[str, tuple[str, Callable[[float], str]]] = {
    "days": ("Days with data (per-day denominator)", _fixed(2)),
    "calendar_days": ("Calendar days", _fixed(2)),
    "cascades": ("Cascades", _count),
    "cascades_per_day": ("Cascades per day", _fixed(2)),
    "avg_cascade_duration_s": ("Avg cascade duration (s)", _fixed(1)),
    "buy_dominant_share": ("Buy-dominant cascades (longs liquidated)", _fraction_as_percent),
    "sell_dominant_share": ("Sell-dominant cascades (shorts liquidated)", _fraction_as_percent),
    "signals": ("Signals (entry orders)", _count),
    "fills": ("Fills", _count),
    "fill_rate": ("Fill rate", _fraction_as_percent),
    "trades": ("Trades", _count),
    "trades_per_day": ("Trades per day", _fixed(2)),
    "win_rate": ("Win rate (PnL after fees > 0)", _fraction_as_percent),
    "tp_share": ("Exits at take profit", _fraction_as_percent),
    "sl_share": ("Exits at stop loss", _fraction_as_percent),
    "timeout_share": ("Exits at timeout", _fraction_as_percent),
    "avg_hold_s": ("Avg hold (s)", _fixed(1)),
    "avg_return_per_trade_pct": ("Avg return per trade (of notional)", _percent(3)),
    "total_pnl": ("Total PnL after fees (USDT)", _fixed(2)),
    "total_fees": ("Total fees (USDT)", _fixed(2)),
    "total_return_pct": ("Total return (of starting balance)", _percent(2)),
    "daily_return_pct": ("Daily return (mean)", _percent(3)),
    "monthly_return_pct": ("Monthly return (simple, 30.4 x mean daily PnL)", _percent(2)),
    "annualised_return_pct": ("Annual return (simple, 365 x mean daily PnL)", _percent(2)),
    "max_drawdown_pct": ("Max drawdown (realised equity)", _percent(2)),
    "max_drawdown_mtm_pct": ("Max drawdown (marked to prints)", _percent(2)),
    "sharpe": ("Sharpe (daily returns, mean/std x sqrt 365)", _fixed(2)),
}
assert tuple(METRIC_FORMATS) == METRIC_KEYS, "every metric needs a label"


#: Below this many days the annualised figures are extrapolations from too little data.
SHORT_SAMPLE_DAYS = 30
SHARPE_NOTE = (
    "Sharpe here: mean / standard deviation of the daily returns of realised equity over every "
    "calendar day of the run, x sqrt(365). tearsheet.html shows the framework's 'Sharpe Ratio "
    "(252 days)' of the account's daily returns: another definition, so another number."
)


def report_notes(
    days: float, synthetic: bool, skipped: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """The lines a report prints above its figures so they are not over-read.

    Parameters
    ----------
    days : float
        Length of the run in days.
    synthetic : bool
        Whether the catalog is the generated sample market.
    skipped : sequence of (symbol, reason)
        Symbols of the run config left out, and why.

    """
    notes = []
    if synthetic:
        notes.append(
            "SYNTHETIC SAMPLE MARKET: the edge is planted by the generator; these figures show "
            "the mechanics of the backtest, not the profit to expect."
        )
    if days < SHORT_SAMPLE_DAYS:
        notes.append(
            f"SHORT SAMPLE ({days:.1f} days < {SHORT_SAMPLE_DAYS}): Sharpe, monthly and annual "
            "returns are extrapolated from a few days and say little."
        )
    notes += [f"{symbol} skipped: {reason}" for symbol, reason in skipped]
    notes.append(SHARPE_NOTE)
    return notes


# --------------------------------------------------------------------------- tables


def metrics_table(records: RunRecords) -> pd.DataFrame:
    """Metrics of each symbol and of the portfolio.

    Parameters
    ----------
    records : RunRecords
        The run.

    Returns
    -------
    pd.DataFrame
        Rows = metric keys (:data:`liqcascade.backtests.metrics.METRIC_KEYS`), columns = each
        symbol then ``"portfolio"``. Object dtype, so counts stay ints and undefined ratios stay
        ``None``.
    """
    columns = {symbol: compute_metrics(records, symbol) for symbol in symbols_of(records)}
    columns[PORTFOLIO] = compute_metrics(records)
    return _table(columns)


def scenario_table(runs: Sequence[RunRecords]) -> pd.DataFrame:
    """Portfolio metrics of several scenarios side by side, one column per ``RunRecords.name``.

    Parameters
    ----------
    runs : sequence of RunRecords
        E.g. "maker 0 bps" and "maker 2 bps", or "all hours" and "13-18 UTC".

    Returns
    -------
    pd.DataFrame
        Rows = metric keys, columns = scenario names in the given order.

    Raises
    ------
    ValueError
        If two runs share a name: their columns could not be told apart.
    """
    names = [run.name for run in runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"scenario names must be unique, repeated: {duplicates}")
    return _table({run.name: compute_metrics(run) for run in runs})


def _table(columns: dict[str, dict[str, Any]]) -> pd.DataFrame:
    data = {name: [metrics[key] for key in METRIC_KEYS] for name, metrics in columns.items()}
    table = pd.DataFrame(data, index=pd.Index(METRIC_KEYS, name="metric"), dtype=object)
    # pandas turns None into NaN in places; keep the contract "undefined = None".
    return table.astype(object).where(table.notna(), None)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_value(key: str, value: Any) -> str:
    """One metric as text: its unit's format, ``-`` when undefined."""
    if _is_missing(value):
        return "-"
    if key in METRIC_FORMATS:
        return METRIC_FORMATS[key][1](value)
    if isinstance(value, int | float) and float(value).is_integer():
        return _count(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(df: pd.DataFrame) -> str:
    """A metrics table (rows = metric keys) as aligned text for a terminal or ``summary.txt``.

    Parameters
    ----------
    df : pd.DataFrame
        From :func:`metrics_table` or :func:`scenario_table`; unknown rows are printed too.

    Returns
    -------
    str
        Human-readable labels on the left, one right-aligned column per symbol or scenario.
        Shares and rates print as percentages, counts as integers, undefined values as ``-``.
    """
    header = ["Metric", *(str(column) for column in df.columns)]
    rows = [
        [
            METRIC_FORMATS.get(str(key), (str(key), None))[0],
            *(format_value(str(key), value) for value in df.loc[key]),
        ]
        for key in df.index
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


# --------------------------------------------------------------------------- files


def _iso(ns: int) -> str:
    """UNIX nanoseconds as ISO-8601 UTC, keeping sub-second digits."""
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def _records_frame(
    items: Sequence[Any],
    record_type: type,
    extra: dict[str, Callable[[Any], Any]],
    order: Callable[[Any], Any],
) -> pd.DataFrame:
    """Records as rows in time order: every ``*_ns`` field also as ``*_utc`` ISO text, plus
    derived columns.

    The ``*_ns`` integers stay (at the end) so files join exactly with the catalog's data.
    """
    fields = [f.name for f in dataclasses.fields(record_type)]
    iso_name = {name: name.removesuffix("_ns") + "_utc" for name in fields if name.endswith("_ns")}
    columns = [iso_name.get(name, name) for name in fields] + [*extra, *iso_name]
    rows = []
    for item in sorted(items, key=order):
        row = {
            iso_name.get(name, name): _iso(value) if name in iso_name else value
            for name in fields
            for value in [getattr(item, name)]
        }
        row.update({column: derive(item) for column, derive in extra.items()})
        row.update({name: getattr(item, name) for name in iso_name})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def trades_frame(records: RunRecords) -> pd.DataFrame:
    """All trades with every field, times in ISO UTC, plus ``hold_s``, ``notional`` and
    ``return_pct`` (PnL after fees in percent of the entry notional)."""
    return _records_frame(
        records.trades,
        TradeRecord,
        {
            "hold_s": lambda t: t.hold_s,
            "notional": lambda t: t.notional,
            "return_pct": lambda t: t.return_fraction * 100.0,
        },
        order=lambda t: (t.entry_ns, t.symbol),
    )


def signals_frame(records: RunRecords) -> pd.DataFrame:
    """All signals, times in ISO UTC."""
    return _records_frame(
        records.signals, SignalRecord, {}, order=lambda s: (s.submitted_ns, s.symbol)
    )


def cascades_frame(records: RunRecords) -> pd.DataFrame:
    """All cascades, times in ISO UTC, plus ``duration_s`` and total ``notional``."""
    return _records_frame(
        records.cascades,
        CascadeRecord,
        {
            "duration_s": lambda c: c.duration_s,
            "notional": lambda c: c.long_notional + c.short_notional,
        },
        order=lambda c: (c.start_ns, c.symbol),
    )


def summary_text(records: RunRecords) -> str:
    """A header naming the run, then the formatted metrics table."""
    header = [
        f"Run: {records.name}",
        f"Period (UTC): {_iso(records.start_ns)} to {_iso(records.end_ns)}",
        f"Symbols: {', '.join(symbols_of(records)) or '-'}",
        f"Starting balance: {records.starting_balance:,.2f}",
        "Per-symbol returns are measured on the full starting balance.",
    ]
    return "\n".join([*header, "", format_table(metrics_table(records)), ""])


def write_report(records: RunRecords, out_dir: Path) -> dict[str, Path]:
    """Write the run's metrics, records and summary into ``out_dir`` (created if needed).

    Parameters
    ----------
    records : RunRecords
        The run.
    out_dir : Path
        Destination folder; existing files of the same names are overwritten.

    Returns
    -------
    dict
        ``{"metrics", "trades", "signals", "cascades", "summary"}`` to the paths written:
        ``metrics.csv`` (metric rows x symbol/portfolio columns, undefined = empty),
        ``trades.csv``, ``signals.csv``, ``cascades.csv`` and ``summary.txt``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.csv",
        "trades": out_dir / "trades.csv",
        "signals": out_dir / "signals.csv",
        "cascades": out_dir / "cascades.csv",
        "summary": out_dir / "summary.txt",
    }
    metrics_table(records).to_csv(paths["metrics"])
    trades_frame(records).to_csv(paths["trades"], index=False)
    signals_frame(records).to_csv(paths["signals"], index=False)
    cascades_frame(records).to_csv(paths["cascades"], index=False)
    paths["summary"].write_text(summary_text(records), encoding="utf-8")
    return paths
