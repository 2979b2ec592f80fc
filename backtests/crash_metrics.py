"""System B's report figures: the account's metrics, the benchmark, alpha, regimes, periods.

``../shared/seeds/002_*.txt`` reports total trades, total return, mean return per trade, max
drawdown, Sharpe and annualised alpha, plus a table per period with its market regime. Every
figure here is computed from :class:`~liqcascade.strategies.crash_reversion.CrashReversion`'s event
log (``exit`` lines are the trades, ``crash`` lines the events) and the bar closes, read by
:mod:`liqcascade.backtests.crash_report_inputs`; :mod:`liqcascade.backtests.crash_report` presents
them.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from liqcascade.backtests.crash_report_inputs import as_utc_index
from liqcascade.backtests.metrics import DAYS_PER_YEAR
from liqcascade.backtests.metrics import daily_returns
from liqcascade.backtests.metrics import equity_curve
from liqcascade.backtests.metrics import max_drawdown_pct
from liqcascade.backtests.metrics import sharpe_from_daily
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import TradeRecord
from liqcascade.backtests.seed_metrics import btc_column
from liqcascade.backtests.seed_metrics import seed_metrics

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
    closes = as_utc_index(closes)
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
    closes = as_utc_index(closes)
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
    closes = as_utc_index(closes)
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
    closes = as_utc_index(closes)
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
