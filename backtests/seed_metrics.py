"""The seed notebook's metrics, computed from a run's trades (per-trade returns, not an account).

The seed (``../shared/seeds/002_*.txt``) reports figures that are sums over trades, not the
growth of an account. Definitions, as the notebook computes them:

* **Trade return** ``r`` = PnL after costs / entry notional (the engine's fills; with the seed
  preset's flat 0.2 % cost this is ``exit / entry - 1 - 0.002``).
* **Total** = ``sum(r)`` (simple, not compounded); **mean** = ``mean(r)``.
* **Trades per year** = trades / years of the run (first to last bar close, 365-day years).
* **Sharpe** = ``mean(r) / std(r) * sqrt(trades per year)``, ``std`` with ``ddof = 1``
  (pandas' default); undefined with fewer than 2 trades or no spread.
* **Max drawdown** = the lowest ``cumsum(r) - running max of cumsum(r)``, trades in entry order
  (ties by symbol), the running max starting at 0 (a first losing trade is a drawdown). A
  fraction of the notional, negative: -0.1867 = the seed's "-18.67 %".
* **Alpha** = the intercept of the OLS regression of the hourly strategy return on BTC's hourly
  return, times trades per year; **beta** its slope. The *hourly strategy return* of an hour is
  the sum, over trades open in it, of that hour's move of the trade's value marked to the bar
  closes (``close / entry - 1``, the exit hour ending at the trade's return ``r``, cost
  included), 0 in hours with no trade. Summed over hours it is exactly ``sum(r)``. The notebook
  does not show which hour a trade's return is booked in; marking to market spreads it over the
  hours it was earned, which is what an account would show. Hours are the bar close times of
  the run; BTC's return is its close-to-close return (hours where BTC has no bar, or no bar the
  hour before, are left out of the regression). Needs BTC in the universe.

:data:`SEED_PERIODS` are the periods of the seed's tables; :func:`seed_period_table` computes
the same figures for the trades entered in each, and says how much of the period the run's bars
cover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liqcascade.backtests.records import TradeRecord

NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000


@dataclass(frozen=True)
class SeedPeriod:
    """A period of the seed's tables: ``start`` inclusive, ``end`` exclusive (UTC dates)."""

    label: str
    start: str
    end: str
    seed_regime: str  # the seed's own label


SEED_PERIODS: tuple[SeedPeriod, ...] = (
    SeedPeriod("Mar-Apr 2020", "2020-03-01", "2020-05-01", "Bear (COVID)"),
    SeedPeriod("May-Dec 2020", "2020-05-01", "2021-01-01", "Bullish Recovery"),
    SeedPeriod("Jan-Dec 2021", "2021-01-01", "2022-01-01", "Bull"),
    SeedPeriod("2023-01-01 to 2024-01-31", "2023-01-01", "2024-02-01", "headline"),
)


def btc_column(columns: Sequence[Any]) -> str | None:
    """The universe's BTC column (``BTCUSDT``), or ``None``."""
    return next((str(c) for c in columns if str(c).startswith("BTC")), None)


def ordered_trades(trades: Sequence[TradeRecord]) -> list[TradeRecord]:
    """Trades in entry order (ties by symbol, then exit): the notebook's row order."""
    return sorted(trades, key=lambda t: (t.entry_ns, t.symbol, t.exit_ns))


def hourly_strategy_returns(trades: Sequence[TradeRecord], closes: pd.DataFrame) -> pd.Series:
    """
    The hourly strategy return on the bar-close grid of ``closes`` (module docstring).

    Parameters
    ----------
    trades : sequence of TradeRecord
        The run's trades.
    closes : pd.DataFrame
        Closes per symbol on a UTC ``DatetimeIndex`` (bar close times).

    Returns
    -------
    pd.Series
        One value per row of ``closes``; ``sum`` equals the sum of the trade returns.

    """
    grid = closes.index.as_unit("ns").asi8
    values = np.zeros(len(grid))
    filled = closes.ffill()
    for trade in trades:
        if not len(grid):
            break
        prices = filled[trade.symbol].to_numpy(float) if trade.symbol in filled else None
        # Hours strictly after the entry up to the exit's hour (the first close at or after it).
        first = int(np.searchsorted(grid, trade.entry_ns, side="right"))
        last = min(int(np.searchsorted(grid, trade.exit_ns, side="left")), len(grid) - 1)
        marked = 0.0
        for k in range(first, last):
            price = prices[k] if prices is not None else math.nan
            if not math.isnan(price):
                now = price / trade.entry_price - 1.0
                values[k] += now - marked
                marked = now
        values[last] += trade.return_fraction - marked  # the exit hour: the rest, cost included
    return pd.Series(values, index=closes.index, name="strategy_hourly_return")


def _ols(y: np.ndarray, x: np.ndarray) -> tuple[float, float] | None:
    """``(intercept, slope)`` of ``y = a + b x``; ``None`` with < 2 rows or a constant ``x``."""
    if len(y) < 2:
        return None
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx < 1e-18:
        return None
    slope = float(dx @ (y - y.mean())) / sxx
    return float(y.mean()) - slope * float(x.mean()), slope


def seed_metrics(
    trades: Sequence[TradeRecord], closes: pd.DataFrame, start_ns: int, end_ns: int
) -> dict[str, Any]:
    """
    The seed's headline figures for ``trades`` over the span ``start_ns`` .. ``end_ns``.

    Parameters
    ----------
    trades : sequence of TradeRecord
        The trades to measure.
    closes : pd.DataFrame
        Closes per symbol (UTC index) over the same span, BTC included for the alpha.
    start_ns, end_ns : int
        The span the trades were taken in (first and last bar close): the base of trades/year.

    Returns
    -------
    dict
        ``trades``, ``total_return_pct`` (sum), ``mean_return_pct``, ``std_return_pct``,
        ``trades_per_year``, ``sharpe``, ``max_drawdown_pct`` (negative), ``alpha``, ``beta``,
        ``btc``. Undefined values are ``None``.

    """
    ordered = ordered_trades(trades)
    returns = np.array([t.return_fraction for t in ordered], dtype=float)
    n = len(returns)
    years = (end_ns - start_ns) / NS_PER_YEAR
    per_year = n / years if years > 0 else None
    mean = float(returns.mean()) if n else None
    std = float(returns.std(ddof=1)) if n >= 2 else None
    sharpe = mean / std * math.sqrt(per_year) if mean is not None and std and per_year else None
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    drawdown = float((cumulative - np.maximum.accumulate(cumulative)).min())
    btc = btc_column(closes.columns)
    alpha = beta = None
    if btc is not None and per_year:
        strategy = hourly_strategy_returns(ordered, closes)
        market = closes[btc].pct_change(fill_method=None)
        rows = market.notna().to_numpy()
        fit = _ols(strategy.to_numpy()[rows], market.to_numpy(float)[rows])
        if fit is not None:
            alpha, beta = fit[0] * per_year, fit[1]
    return {
        "trades": n,
        "total_return_pct": float(returns.sum()) * 100.0,
        "mean_return_pct": mean * 100.0 if mean is not None else None,
        "std_return_pct": std * 100.0 if std is not None else None,
        "trades_per_year": per_year,
        "sharpe": sharpe,
        "max_drawdown_pct": drawdown * 100.0,
        "alpha": alpha,
        "beta": beta,
        "btc": btc,
    }


SEED_PERIOD_COLUMNS = (
    "period",
    "seed_regime",
    "covered",
    "regime",
    "benchmark_return_pct",
    "trades",
    "total_return_pct",
    "avg_return_pct",
    "sharpe",
    "alpha",
)


def seed_period_table(
    trades: Sequence[TradeRecord],
    closes: pd.DataFrame,
    benchmark: pd.Series,
    periods: Sequence[SeedPeriod] = SEED_PERIODS,
    regime: Any = None,
) -> pd.DataFrame:
    """
    The seed's figures per period of its tables, for the trades entered in each.

    Parameters
    ----------
    trades : sequence of TradeRecord
        The run's trades.
    closes : pd.DataFrame
        Closes per symbol (UTC index): the run's bars.
    benchmark : pd.Series
        The equal-weight benchmark value on the same index (its return labels the regime).
    periods : sequence of SeedPeriod
        Rows of the table.
    regime : callable, optional
        ``benchmark return (fraction) -> label``.

    Returns
    -------
    pd.DataFrame
        Columns :data:`SEED_PERIOD_COLUMNS`. ``covered`` is ``"all"``, ``"part (first ..
        last)"`` or ``"none"``: how much of the period the run's bars span. Figures of a
        period without bars are ``None``.

    """
    index = closes.index
    rows = []
    for period in periods:
        start = pd.Timestamp(period.start, tz="UTC")
        end = pd.Timestamp(period.end, tz="UTC")
        # A bar closing at the period's start is the last hour of the previous period.
        inside = (index > start) & (index <= end)
        row: dict[str, Any] = {"period": period.label, "seed_regime": period.seed_regime}
        if not inside.any():
            rows.append({**row, "covered": "none", "trades": 0})
            continue
        times = index[inside]
        full = times[0] - start <= pd.Timedelta(hours=1) and end - times[-1] <= pd.Timedelta(
            hours=1
        )
        row["covered"] = "all" if full else f"part ({times[0]:%Y-%m-%d} .. {times[-1]:%Y-%m-%d})"
        lo, hi = int(times[0].value), int(times[-1].value)
        chosen = [t for t in trades if lo <= t.entry_ns <= hi]
        # The first bar inside opened one bar before it closed: the span starts there.
        first_row = int(np.flatnonzero(inside)[0])
        span_start = int(index[first_row - 1].value) if first_row > 0 else lo
        figures = seed_metrics(chosen, closes.loc[inside], span_start, hi)
        value = benchmark.reindex(index).ffill()
        base = value[index <= start].dropna()
        opening = float(base.iloc[-1]) if len(base) else float(value.loc[times[0]])
        bench_return = float(value.loc[times[-1]]) / opening - 1.0
        row.update(
            {
                "regime": regime(bench_return) if regime is not None else None,
                "benchmark_return_pct": bench_return * 100.0,
                "trades": figures["trades"],
                "total_return_pct": figures["total_return_pct"],
                "avg_return_pct": figures["mean_return_pct"],
                "sharpe": figures["sharpe"],
                "alpha": figures["alpha"],
            }
        )
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SEED_PERIOD_COLUMNS), dtype=object)
    return table.astype(object).where(table.notna(), None)
