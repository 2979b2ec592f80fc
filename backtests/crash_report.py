"""System B report in the seed's format, from the strategy's event log and the bars it traded.

``../shared/seeds/002_*.txt`` reports total trades, total return, mean return per trade, max
drawdown, Sharpe and annualised alpha, plus a table per period with its market regime. Every
figure here is computed from :class:`~liqcascade.strategies.crash_reversion.CrashReversion`'s event
log (``exit`` lines are the trades, ``crash`` lines the events) and the bar closes.

Conventions (those of :mod:`liqcascade.backtests.metrics`, whose helpers do the arithmetic)
------------------------------------------------------------------------------
* Days are UTC calendar days; a year is 365 days. The run spans the first to the last bar
  close; every day in it counts, days without a closed trade with a return of 0.
* Strategy equity is *realised*: starting balance plus the PnL (after fees) of closed trades,
  stepped at each exit (:func:`~liqcascade.backtests.metrics.equity_curve`,
  :func:`~liqcascade.backtests.metrics.daily_returns`). Positions open at the end are not counted.
* **Total return** = total PnL / starting balance. **Mean return per trade** = mean of
  PnL / entry notional. **Max drawdown** = worst peak-to-trough fall of the realised equity.
  **Sharpe** = mean / std of the daily returns x sqrt(365)
  (:func:`~liqcascade.backtests.metrics.sharpe_from_daily`).
* **Benchmark**: equal-weight buy-and-hold of the assets that have prices at each time. It
  starts (value 1.0) at the first bar close of any asset, equally split over the assets priced
  then, and is never rebalanced, except that an asset whose prices start later is bought at
  its first close with an equal share of the portfolio's value then (the holdings already in
  the portfolio are sold down pro rata, so the value does not jump). With every asset priced
  from the start this is the plain equal-weight buy-and-hold. A missing later close carries
  the previous one. Its day-end value is the last close stamped within that UTC day (bars are
  stamped at their close, as are the strategy's exits). **BTC buy & hold** is shown beside it.
* **Alpha** (annualised) = the intercept ``a`` of the OLS regression
  ``r_strategy(d) = a + b * r_benchmark(d) + e(d)`` over the daily returns, times 365 (simple,
  not compounded): ``b = cov(r_s, r_b) / var(r_b)``, ``a = mean(r_s) - b * mean(r_b)``. A
  fraction: 0.0049 = 0.49 % a year. Undefined (``None``) with fewer than 2 days or a flat
  benchmark.
* **Regime** of a period from the benchmark's compounded return in it: below ``bear_below``
  (-10 %) "bear", above ``bull_above`` (+10 %) "bull", else "sideways".

These are the *account* figures (a starting balance, a fixed notional per trade, PnL after
fees). The seed's own figures - sums and means of per-trade returns, a per-trade Sharpe, alpha
against BTC's hourly returns - are :mod:`liqcascade.backtests.seed_metrics`'; the report prints
both, in separately labelled blocks, plus the seed's periods.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from liqcascade.backtests.metrics import DAYS_PER_YEAR
from liqcascade.backtests.metrics import daily_returns
from liqcascade.backtests.metrics import equity_curve
from liqcascade.backtests.metrics import max_drawdown_pct
from liqcascade.backtests.metrics import sharpe_from_daily
from liqcascade.backtests.plots import IncludePlotlyJs
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import TradeRecord
from liqcascade.backtests.records import trade_from_exit_event
from liqcascade.backtests.seed_metrics import btc_column
from liqcascade.backtests.seed_metrics import seed_metrics
from liqcascade.backtests.seed_metrics import seed_period_table
from liqcascade.strategies.event_log import read_events

BEAR, BULL, SIDEWAYS = "bear", "bull", "sideways"
PERIOD_COLUMNS = (
    "period",
    "start",
    "end",
    "regime",
    "benchmark_return_pct",
    "return_pct",
    "sharpe",
    "avg_return_pct",
    "trades",
    "alpha",
)


# --------------------------------------------------------------------------- inputs


def _symbol(instrument_id: str) -> str:
    return instrument_id.split(".")[0].removesuffix("-LINEAR")


def closes_from_bars(bars: Iterable[Any]) -> pd.DataFrame:
    """
    Bar closes as a frame: one column per symbol, indexed by close time (UTC).

    Parameters
    ----------
    bars : iterable of nautilus ``Bar``
        Bars of one interval, any instruments (``ts_event`` = bar close, as the loaders stamp).

    Returns
    -------
    pd.DataFrame
        Float closes; a symbol without a bar at a time has NaN there.

    """
    rows: dict[str, dict[int, float]] = {}
    for bar in bars:
        symbol = _symbol(bar.bar_type.instrument_id.value)
        rows.setdefault(symbol, {})[int(bar.ts_event)] = float(bar.close)
    frame = pd.DataFrame({symbol: pd.Series(values) for symbol, values in rows.items()})
    frame = frame.sort_index()
    frame.index = pd.to_datetime(frame.index.to_numpy(np.int64), unit="ns", utc=True)
    return frame


def closes_from_catalog(
    catalog: str | Path,
    instrument_ids: Sequence[str],
    bar_spec: str = "1-HOUR-LAST-EXTERNAL",
    start: str | int | None = None,
    end: str | int | None = None,
) -> pd.DataFrame:
    """
    Read the strategy's bars from a ``ParquetDataCatalog`` and return :func:`closes_from_bars`.

    Columns follow the order of ``instrument_ids``.

    Parameters
    ----------
    catalog : str or Path
        Catalog root (holding ``data/bar/<bar type>/``).
    instrument_ids : sequence of str
        E.g. ``["ETHUSDT-LINEAR.BYBIT", ...]``; bar types are ``f"{id}-{bar_spec}"``.
    bar_spec : str
        As in the strategy config.
    start, end : str or int, optional
        Bounds passed to the catalog (ISO text or UNIX ns).

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    reader = ParquetDataCatalog(str(catalog))
    bar_types = [f"{instrument_id}-{bar_spec}" for instrument_id in instrument_ids]
    closes = closes_from_bars(reader.bars(bar_types=bar_types, start=start, end=end))
    order = [_symbol(i) for i in instrument_ids]
    missing = [symbol for symbol in order if symbol not in closes.columns]
    if missing:
        raise ValueError(f"catalog {catalog} has no {bar_spec} bars for {', '.join(missing)}")
    return closes[order]


def _as_utc_index(closes: pd.DataFrame) -> pd.DataFrame:
    closes = closes.astype(float).sort_index()
    index = closes.index
    if not isinstance(index, pd.DatetimeIndex):
        index = pd.to_datetime(np.asarray(index, dtype=np.int64), unit="ns", utc=True)
    elif index.tz is None:
        index = index.tz_localize("UTC")
    closes.index = index
    return closes


def _events(events: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(events, str | Path):
        return read_events(events) if Path(events).exists() else []
    return list(events)


def trades_from_events(events: Sequence[dict[str, Any]]) -> list[TradeRecord]:
    """Closed round trips (``exit`` lines) as trade records, in exit order."""
    trades = [trade_from_exit_event(e) for e in events if e["event"] == "exit"]
    return sorted(trades, key=lambda t: (t.exit_ns, t.symbol))


def crash_events_frame(events: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """
    One row per crash event: its close time, assets and the branch each qualified on.

    Returns
    -------
    pd.DataFrame
        Columns ``time`` (UTC), ``event_ns``, ``n_assets``, ``assets`` (``;``-joined, sorted),
        ``branches`` (``;``-joined, same order), ``closes`` (symbol -> crash-bar close).

    """
    rows = sorted((e for e in events if e["event"] == "crash"), key=lambda e: e["event_ns"])
    members = [e.get("members", []) for e in rows]
    return pd.DataFrame(
        {
            "time": pd.to_datetime([e["event_ns"] for e in rows], unit="ns", utc=True),
            "event_ns": [e["event_ns"] for e in rows],
            "n_assets": [len(e["assets"]) for e in rows],
            "assets": [";".join(e["assets"]) for e in rows],
            "branches": [";".join(str(m.get("branch", "drop")) for m in ms) for ms in members],
            "closes": [{m["symbol"]: m["close"] for m in ms} for ms in members],
        }
    )


# --------------------------------------------------------------------------- arithmetic


def benchmark_value(closes: pd.DataFrame) -> pd.Series:
    """
    Equal-weight buy-and-hold of the assets priced at each time, 1.0 at the start.

    Parameters
    ----------
    closes : pd.DataFrame
        Closes per symbol (see :func:`closes_from_bars`).

    Returns
    -------
    pd.Series
        From the first time any symbol has a close. The assets priced then are bought with
        equal shares and held; an asset whose prices start later is bought at its first close
        with ``1 / n`` of the portfolio's value (``n`` = assets then held), the others sold down
        pro rata. A missing later close carries the previous one forward.

    Raises
    ------
    ValueError
        If no symbol has a single close.

    """
    closes = _as_utc_index(closes)
    prices = closes.ffill().to_numpy(float)
    priced = ~np.isnan(prices)
    counts = priced.sum(axis=1)
    if not counts.any():
        raise ValueError("closes has no price at all")
    begin = int(np.flatnonzero(counts)[0])
    units = np.zeros(prices.shape[1])
    value = np.empty(len(prices) - begin)
    held = np.zeros(prices.shape[1], dtype=bool)
    for row in range(begin, len(prices)):
        new = priced[row] & ~held
        if new.any():
            before = float(np.nansum(units * prices[row])) if held.any() else 1.0
            n = int(held.sum() + new.sum())
            units *= held.sum() / n  # make room for the newcomers' equal shares
            units[new] = before / n / prices[row, new]
            held |= new
        value[row - begin] = float(np.nansum(units[held] * prices[row, held]))
    return pd.Series(value, index=closes.index[begin:], name="benchmark")


def btc_value(closes: pd.DataFrame) -> pd.Series | None:
    """BTC buy & hold (close / first close) from its first close, or ``None`` without BTC."""
    closes = _as_utc_index(closes)
    btc = btc_column(closes.columns)
    if btc is None or closes[btc].isna().all():
        return None
    series = closes[btc].loc[closes[btc].first_valid_index() :].ffill()
    return (series / float(series.iloc[0])).rename("btc")


def benchmark_daily_returns(value: pd.Series, days: pd.DatetimeIndex) -> pd.Series:
    """
    Daily returns of a value series over ``days`` (UTC midnights).

    The day-end value is the last value stamped within that day (carried over days without
    one); the first day is measured against the series' first value (the purchase).
    """
    day_end = value.groupby(value.index.floor("D")).last().reindex(days).ffill()
    day_end = day_end.fillna(float(value.iloc[0]))  # days before the purchase: still cash
    previous = day_end.shift(1, fill_value=float(value.iloc[0]))
    return (day_end / previous - 1.0).rename("benchmark_return")


def ols_alpha(strategy: pd.Series, benchmark: pd.Series) -> tuple[float, float] | None:
    """
    Annualised alpha and beta: OLS of daily strategy returns on daily benchmark returns.

    Parameters
    ----------
    strategy, benchmark : pd.Series
        Fractional daily returns on the same days.

    Returns
    -------
    tuple[float, float] or None
        ``(intercept * 365, slope)``; ``None`` with fewer than 2 common days or a benchmark
        without variance (the regression is undefined).

    """
    both = pd.concat([strategy, benchmark], axis=1, join="inner").dropna()
    if len(both) < 2:
        return None
    y = both.iloc[:, 0].to_numpy(float)
    x = both.iloc[:, 1].to_numpy(float)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx < 1e-18:
        return None
    beta = float(dx @ (y - y.mean())) / sxx
    alpha = float(y.mean()) - beta * float(x.mean())
    return alpha * DAYS_PER_YEAR, beta


def regime_of(benchmark_return: float, bear_below: float = -0.10, bull_above: float = 0.10) -> str:
    """``bear`` / ``bull`` / ``sideways`` from a period's benchmark return (fractions)."""
    if benchmark_return < bear_below:
        return BEAR
    if benchmark_return > bull_above:
        return BULL
    return SIDEWAYS


def _compound(returns: pd.Series) -> float:
    return float((1.0 + returns).prod() - 1.0)


def _mean_trade_return_pct(trades: Sequence[TradeRecord]) -> float | None:
    return float(np.mean([t.return_fraction for t in trades])) * 100.0 if trades else None


def build_records(
    trades: Sequence[TradeRecord],
    closes: pd.DataFrame,
    starting_balance: float,
    name: str = "crash-reversion",
) -> RunRecords:
    """
    Run records of the strategy: its trades over the span of the bars.

    The span is the first to the last bar close; ``end_ns`` is one nanosecond past the last
    close so the day of a last bar closing at midnight is a day of the run.
    """
    if starting_balance <= 0:
        raise ValueError(f"starting_balance must be positive, got {starting_balance}")
    closes = _as_utc_index(closes)
    if closes.empty:
        raise ValueError("closes is empty: the report needs the bars the strategy traded")
    ns = closes.index.as_unit("ns").asi8
    return RunRecords(
        name=name,
        symbols=tuple(str(c) for c in closes.columns),
        start_ns=int(ns[0]),
        end_ns=int(ns[-1]) + 1,
        starting_balance=float(starting_balance),
        cascades=(),
        signals=(),
        trades=tuple(sorted(trades, key=lambda t: t.exit_ns)),
    )


def crash_summary(records: RunRecords, closes: pd.DataFrame) -> dict[str, Any]:
    """
    The seed's headline figures (module docstring for the definitions).

    Returns
    -------
    dict
        ``trades``, ``total_return_pct``, ``mean_return_per_trade_pct``, ``max_drawdown_pct``
        (positive = size of the fall), ``sharpe``, ``alpha`` (annualised fraction), ``beta``,
        ``benchmark_return_pct``, ``btc_return_pct`` (BTC buy & hold; ``None`` without BTC),
        ``days``. Undefined values are ``None``.

    """
    strategy = daily_returns(records)
    value = benchmark_value(closes)
    btc = btc_value(closes)
    benchmark = benchmark_daily_returns(value, strategy.index)
    regression = ols_alpha(strategy, benchmark)
    total_pnl = math.fsum(t.pnl for t in records.trades)
    return {
        "days": len(strategy),
        "trades": len(records.trades),
        "total_return_pct": total_pnl / records.starting_balance * 100.0,
        "mean_return_per_trade_pct": _mean_trade_return_pct(records.trades),
        "max_drawdown_pct": max_drawdown_pct(equity_curve(records)),
        "sharpe": sharpe_from_daily(strategy),
        "alpha": regression[0] if regression else None,
        "beta": regression[1] if regression else None,
        "benchmark_return_pct": (float(value.iloc[-1]) - 1.0) * 100.0,
        "btc_return_pct": (float(btc.iloc[-1]) - 1.0) * 100.0 if btc is not None else None,
    }


def seed_summary(records: RunRecords, closes: pd.DataFrame) -> dict[str, Any]:
    """The seed's headline figures of the run (:func:`.seed_metrics.seed_metrics`)."""
    closes = _as_utc_index(closes)
    return seed_metrics(records.trades, closes, records.start_ns, records.end_ns - 1)


def period_table(
    records: RunRecords,
    closes: pd.DataFrame,
    period: str = "M",
    bear_below: float = -0.10,
    bull_above: float = 0.10,
) -> pd.DataFrame:
    """
    The seed's per-period table.

    Parameters
    ----------
    records : RunRecords
        The run (:func:`build_records`).
    closes : pd.DataFrame
        Closes per symbol, for the benchmark.
    period : str
        pandas period frequency of the rows: ``"M"`` calendar months (default), ``"Q"``,
        ``"Y"``, ``"W"``, ``"D"``.
    bear_below, bull_above : float
        Regime thresholds on the period's benchmark return (fractions).

    Returns
    -------
    pd.DataFrame
        Columns :data:`PERIOD_COLUMNS`: the period's label, first and last day, regime,
        benchmark and strategy returns compounded over its days (%), Sharpe of its daily
        returns, mean return per trade of the trades exiting in it (%), their count, and the
        annualised alpha of its days. Undefined values are ``None``.

    """
    strategy = daily_returns(records)
    benchmark = benchmark_daily_returns(benchmark_value(closes), strategy.index)
    labels = strategy.index.tz_localize(None).to_period(period)
    exit_days = {t: pd.Timestamp(t.exit_ns, unit="ns", tz="UTC").floor("D") for t in records.trades}
    rows = []
    for label in labels.unique():
        mask = np.asarray(labels == label)
        s, b = strategy[mask], benchmark[mask]
        days = set(s.index)
        trades = [t for t in records.trades if exit_days[t] in days]
        regression = ols_alpha(s, b)
        bench_return = _compound(b)
        rows.append(
            {
                "period": str(label),
                "start": s.index[0].strftime("%Y-%m-%d"),
                "end": s.index[-1].strftime("%Y-%m-%d"),
                "regime": regime_of(bench_return, bear_below, bull_above),
                "benchmark_return_pct": bench_return * 100.0,
                "return_pct": _compound(s) * 100.0,
                "sharpe": sharpe_from_daily(s),
                "avg_return_pct": _mean_trade_return_pct(trades),
                "trades": len(trades),
                "alpha": regression[0] if regression else None,
            }
        )
    table = pd.DataFrame(rows, columns=list(PERIOD_COLUMNS), dtype=object)
    return table.astype(object).where(table.notna(), None)


# --------------------------------------------------------------------------- text


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


# --------------------------------------------------------------------------- plots


def _naive(index: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_convert(None) if index.tz is not None else index


def plot_equity_vs_benchmark(
    records: RunRecords,
    closes: pd.DataFrame,
    out_path: Path,
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> Path:
    """Strategy realised equity and the benchmark, both as the growth of 1 (HTML)."""
    equity = equity_curve(records) / records.starting_balance
    value = benchmark_value(closes)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=_naive(equity.index), y=equity.values, name="strategy", line_shape="hv")
    )
    fig.add_trace(go.Scatter(x=_naive(value.index), y=value.values, name="equal-weight buy & hold"))
    btc = btc_value(closes)
    if btc is not None:
        fig.add_trace(go.Scatter(x=_naive(btc.index), y=btc.values, name="BTC buy & hold"))
    fig.update_layout(
        title=f"{records.name}: equity vs benchmark (growth of 1)",
        xaxis_title="time (UTC)",
        yaxis_title="growth of 1",
        hovermode="x unified",
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=include_plotlyjs)
    return out_path


def plot_crash_events(
    records: RunRecords,
    closes: pd.DataFrame,
    crashes: pd.DataFrame,
    out_path: Path,
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> Path:
    """Prices (close / first close) with crash events, entries and exits marked (HTML)."""
    closes = _as_utc_index(closes)
    first = closes.bfill().iloc[0]
    fig = go.Figure()
    for symbol in closes.columns:
        fig.add_trace(
            go.Scatter(
                x=_naive(closes.index),
                y=(closes[symbol] / first[symbol]).values,
                name=symbol,
                legendgroup=symbol,
            )
        )
    xs, ys, texts = [], [], []
    for _, crash in crashes.iterrows():
        for symbol, close in crash["closes"].items():
            if symbol in first.index and close is not None:
                xs.append(crash["time"])
                ys.append(close / first[symbol])
                texts.append(f"{symbol}: crash with {crash['assets']}")
    fig.add_trace(
        go.Scatter(
            x=_naive(pd.DatetimeIndex(xs)) if xs else [],
            y=ys,
            text=texts,
            mode="markers",
            name="crash (qualifying asset)",
            marker={"symbol": "x", "size": 10, "color": "#d62728"},
        )
    )
    for kind, when, price, marker in (
        ("entry", "entry_ns", "entry_price", "triangle-up"),
        ("exit", "exit_ns", "exit_price", "triangle-down"),
    ):
        trades = [t for t in records.trades if t.symbol in first.index]
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime([getattr(t, when) for t in trades], unit="ns"),
                y=[getattr(t, price) / first[t.symbol] for t in trades],
                text=[f"{t.symbol} {kind} pnl {t.pnl:.2f}" for t in trades],
                mode="markers",
                name=kind,
                marker={"symbol": marker, "size": 8},
                visible="legendonly",
            )
        )
    for when in crashes["time"] if len(crashes) else []:
        fig.add_vline(x=when.tz_convert(None), line={"color": "#d62728", "width": 1, "dash": "dot"})
    fig.update_layout(
        title=f"{records.name}: prices (close / first close) and crash events",
        xaxis_title="time (UTC)",
        yaxis_title="price relative to the first close",
        hovermode="closest",
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=include_plotlyjs)
    return out_path


# --------------------------------------------------------------------------- entry point


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
    lines = _events(events)
    closes = _as_utc_index(closes)
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
