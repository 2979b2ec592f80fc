"""Performance figures of a run, every one derived from its ``RunRecords``.

Nothing here is typed in: counts, shares, returns, drawdown and Sharpe are computed from the
cascades, signals and trades a run produced. The building blocks that work on a plain series
(:func:`sharpe_from_daily`, :func:`max_drawdown_pct`, :func:`drawdown_pct`) take a
``pd.Series`` so a bar-based system can reuse them with its own equity curve.

Conventions
-----------
* Times are UTC; days are UTC calendar days (crypto trades every day, so a year is 365 days).
* Equity is *realised*: starting balance plus the PnL (after fees) of every closed trade, stepped
  at each trade's exit. Beside it, the *mark-to-market* equity adds every open position valued at
  each print while it is open (:func:`mtm_equity`): its drawdown includes the adverse excursions
  a realised curve never shows.
* Returns of this fixed-notional strategy are *simple*: PnL over the starting balance, summed
  (a month = 30.44 x the mean daily PnL). Compounding a mean daily return would assume the
  position grows with the account, which it does not.
* ``*_pct`` figures are in percent (``1.0`` = 1 %); ``*_share`` and ``*_rate`` are fractions.
* Where a ratio has no denominator (no trades, no cascades, no signals) it is ``None``; counts
  are ``0`` and returns of a run without trades are ``0.0`` (the equity did not move).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np
import pandas as pd

from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import TradeRecord

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365  # crypto trades every calendar day
DAYS_PER_MONTH = 365.25 / 12  # 30.4375: the mean calendar month

# Row order of every table; report.py labels these keys for humans.
METRIC_KEYS: tuple[str, ...] = (
    "days",
    "calendar_days",
    "cascades",
    "cascades_per_day",
    "avg_cascade_duration_s",
    "buy_dominant_share",
    "sell_dominant_share",
    "signals",
    "fills",
    "fill_rate",
    "trades",
    "trades_per_day",
    "win_rate",
    "tp_share",
    "sl_share",
    "timeout_share",
    "avg_hold_s",
    "avg_return_per_trade_pct",
    "total_pnl",
    "total_fees",
    "total_return_pct",
    "daily_return_pct",
    "monthly_return_pct",
    "annualised_return_pct",
    "max_drawdown_pct",
    "max_drawdown_mtm_pct",
    "sharpe",
)

Metrics = dict[str, float | int | None]


# --------------------------------------------------------------------------- selection


def _select[R: (CascadeRecord, SignalRecord, TradeRecord)](
    items: Sequence[R], symbol: str | None
) -> list[R]:
    """All items (portfolio) or those of one symbol."""
    if symbol is None:
        return list(items)
    return [item for item in items if item.symbol == symbol]


def _ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def _utc(ns: int | Sequence[int]) -> pd.Timestamp | pd.DatetimeIndex:
    return pd.to_datetime(ns, unit="ns", utc=True)


# --------------------------------------------------------------------------- series


def equity_curve(records: RunRecords, symbol: str | None = None) -> pd.Series:
    """Realised equity: starting balance plus cumulative PnL, stepped at each trade's exit.

    Parameters
    ----------
    records : RunRecords
        The run.
    symbol : str, optional
        Only this symbol's trades (on the full starting balance); ``None`` = all symbols.

    Returns
    -------
    pd.Series
        Float equity indexed by UTC timestamps, sorted. The first point is the starting balance
        at the run's start, so a first losing trade counts as a drawdown. Trades closing at the
        same nanosecond are summed into one point: they never existed apart.
    """
    trades = _select(records.trades, symbol)
    start = _utc(min([records.start_ns, *(t.exit_ns for t in trades)]))
    first = pd.Series([float(records.starting_balance)], index=pd.DatetimeIndex([start]))
    if not trades:
        return first.rename("equity")
    pnl = pd.Series([t.pnl for t in trades], index=_utc([t.exit_ns for t in trades]), dtype=float)
    pnl = pnl.groupby(level=0).sum()  # also sorts by time
    equity = records.starting_balance + pnl.cumsum()
    return pd.concat([first, equity]).rename("equity")


def _run_days(
    records: RunRecords, trades: Sequence[TradeRecord], symbol: str | None = None
) -> pd.DatetimeIndex:
    """The UTC days of the run: with coverage, the days with data; else every calendar day.

    ``end_ns`` is the last data timestamp; a run ending exactly at midnight does not gain an
    empty extra day (it is treated as the end of the previous day). Days are widened to hold
    any trade exit outside [start, end] rather than silently losing its PnL.
    """
    if records.coverage is not None:
        days = {
            *records.coverage.data_days(symbol),
            *(t.exit_ns - t.exit_ns % NS_PER_DAY for t in trades),
        }
        return pd.DatetimeIndex(_utc(sorted(days)) if days else [], tz="UTC")
    last_ns = records.end_ns - 1 if records.end_ns > records.start_ns else records.start_ns
    first_ns = min([records.start_ns, *(t.exit_ns for t in trades)])
    last_ns = max([last_ns, *(t.exit_ns for t in trades)])
    return pd.date_range(_utc(first_ns).floor("D"), _utc(last_ns).floor("D"), freq="D")


def daily_returns(records: RunRecords, symbol: str | None = None) -> pd.Series:
    """Daily returns of the realised equity over EVERY UTC day of the run.

    Days without a closed trade are kept with a return of 0: dropping them would inflate the
    size of the mean daily return and distort the Sharpe ratio.

    Parameters
    ----------
    records : RunRecords
        The run.
    symbol : str, optional
        Only this symbol's trades (on the full starting balance); ``None`` = all symbols.

    Returns
    -------
    pd.Series
        Fractional returns (0.01 = 1 %) indexed by UTC midnight of each day:
        ``equity at the end of the day / equity at the end of the previous day - 1``, the first
        day measured against the starting balance.
    """
    trades = _select(records.trades, symbol)
    days = _run_days(records, trades, symbol)
    if trades:
        exit_days = _utc([t.exit_ns for t in trades]).floor("D")
        pnl = pd.Series([t.pnl for t in trades], index=exit_days, dtype=float)
        pnl_by_day = pnl.groupby(level=0).sum().reindex(days, fill_value=0.0)
    else:
        pnl_by_day = pd.Series(0.0, index=days)
    balance = float(records.starting_balance)
    end_of_day = balance + pnl_by_day.cumsum()
    previous = end_of_day.shift(1, fill_value=balance)
    return (end_of_day / previous - 1.0).rename("daily_return")


def drawdown_pct(equity: pd.Series) -> pd.Series:
    """Drawdown at each point, in percent of the running peak (0 at a new high, positive below).

    Parameters
    ----------
    equity : pd.Series
        Equity values in time order.

    Returns
    -------
    pd.Series
        ``(running peak - equity) / running peak * 100``, same index as ``equity``.
    """
    equity = equity.astype(float)
    peak = equity.cummax()
    # A non-positive peak (a blown account) has no meaningful percentage: NaN, not a sign flip.
    return (peak - equity) / peak.where(peak > 0) * 100.0


def max_drawdown_pct(equity: pd.Series) -> float:
    """Size of the worst peak-to-trough fall of an equity curve, in percent of the peak.

    Parameters
    ----------
    equity : pd.Series
        Equity values in time order.

    Returns
    -------
    float
        A positive number (2.0 = the equity once fell 2 % below its previous high); 0.0 for an
        empty or never-falling curve.
    """
    worst = drawdown_pct(equity).max() if not equity.empty else 0.0
    return float(worst) if math.isfinite(worst) else 0.0


def sharpe_from_daily(returns: pd.Series) -> float | None:
    """Sharpe ratio annualised from DAILY returns, with no risk-free rate.

    ``mean / std(ddof=1) * sqrt(365)``: crypto trades every calendar day, so a year has 365
    daily returns. The input must hold every day of the run, including days with zero return.

    Parameters
    ----------
    returns : pd.Series
        Fractional daily returns.

    Returns
    -------
    float or None
        ``None`` when it is undefined: fewer than 2 days, or a standard deviation of 0 (a flat
        equity, e.g. no trades). A deviation below 1e-12 counts as 0: it is float noise from
        identical returns, and dividing by it would print a meaningless huge ratio.
    """
    values = returns.dropna().astype(float)
    if len(values) < 2:
        return None
    std = float(values.std(ddof=1))
    if not math.isfinite(std) or std < 1e-12:
        return None
    return float(values.mean()) / std * math.sqrt(DAYS_PER_YEAR)


def mtm_equity(
    records: RunRecords,
    prices: Callable[[str, int, int], pd.DataFrame],
    symbol: str | None = None,
) -> pd.Series:
    """Mark-to-market equity: realised equity plus open positions valued at every print.

    Each trade holds ``quantity`` at its average entry price from its first entry fill to flat
    and is marked at every print of its symbol in between; at its exit the mark is replaced by
    the realised PnL (after all fees). Partial entry fills are treated as filled at the first
    fill's time (slightly overstating exposure, never hiding it).

    Parameters
    ----------
    records : RunRecords
        The run.
    prices : callable
        ``prices(symbol, start_ns, end_ns)`` -> frame with ``ts_ns`` and ``price`` columns (the
        runner's catalog reader).
    symbol : str, optional
        Only this symbol's trades; ``None`` = the portfolio.

    Returns
    -------
    pd.Series
        Equity indexed by UTC time, starting with the starting balance.
    """
    trades = _select(records.trades, symbol)
    # Every mark and every close as a change of the account's value, in the order (time,
    # marks before closes, trade, value); the equity after each is the running sum. Vectorised:
    # a run marks every print of every open position (tens of thousands of points).
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for index, trade in enumerate(trades):
        direction = 1.0 if trade.side == "BUY" else -1.0
        frame = prices(trade.symbol, trade.entry_ns, trade.exit_ns)
        ts = frame["ts_ns"].to_numpy(dtype=np.int64)
        price = frame["price"].to_numpy(dtype=float)
        keep = (ts >= trade.entry_ns) & (ts < trade.exit_ns)
        ts, values = ts[keep], direction * (price[keep] - trade.entry_price) * trade.quantity
        order = np.lexsort((values, ts))
        ts, values = ts[order], values[order]
        last = float(values[-1]) if len(values) else 0.0
        parts.append(
            (
                np.append(ts, trade.exit_ns),
                np.append(np.zeros(len(ts), np.int64), 1),  # closes: realised replaces mark
                np.full(len(ts) + 1, index, np.int64),
                np.append(values, trade.pnl),
                np.append(np.diff(values, prepend=0.0), trade.pnl - last),
            )
        )
    times = [np.array([records.start_ns], np.int64)]
    values = [np.array([float(records.starting_balance)])]
    if parts:
        ts, kind, owner, value, change = (np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.lexsort((value, owner, kind, ts))
        times.append(ts[order])
        values.append(records.starting_balance + np.cumsum(change[order]))
    series = pd.Series(np.concatenate(values), index=_utc(np.concatenate(times)), dtype=float)
    return series.groupby(level=0).last().rename("equity_mtm")


# --------------------------------------------------------------------------- metrics


def cascade_figures(cascades: Sequence[CascadeRecord], days: float) -> Metrics:
    """
    The cascade rows of a report, shared with ``liqcascade cascades`` so both print the same.

    ``cascades_per_day`` divides by ``days`` (days with liquidation data when known); duration
    is first to last large liquidation; the dominant-side shares count ties in the denominator.
    """
    n = len(cascades)
    return {
        "cascades": n,
        "cascades_per_day": _ratio(n, days),
        "avg_cascade_duration_s": (float(np.mean([c.duration_s for c in cascades])) if n else None),
        "buy_dominant_share": _ratio(sum(1 for c in cascades if c.side == "LONG"), n),
        "sell_dominant_share": _ratio(sum(1 for c in cascades if c.side == "SHORT"), n),
    }


def compute_metrics(records: RunRecords, symbol: str | None = None) -> Metrics:
    """Every figure of one symbol, or of the portfolio, computed from the run's records.

    Parameters
    ----------
    records : RunRecords
        The run.
    symbol : str, optional
        Restrict cascades, signals and trades to this symbol. Returns are measured against the
        full starting balance, as if the symbol traded the account alone. ``None`` = portfolio.

    Returns
    -------
    dict
        Keys in :data:`METRIC_KEYS` order:

        * ``days``: the denominator of every per-day figure: the days with liquidation data
          when the run knows its coverage (``records.coverage``), else the run length
          ``(end_ns - start_ns) / 1 day``. ``calendar_days``: the UTC days the run spans.
        * ``cascades``, ``cascades_per_day``, ``avg_cascade_duration_s`` (first to last large
          liquidation).
        * ``buy_dominant_share`` / ``sell_dominant_share``: fractions of cascades whose
          dominant liquidated side was ``LONG`` (Bybit's "buy-dominant") / ``SHORT``. Ties
          (side ``None``) count in the denominator only, so the two need not sum to 1.
        * ``signals`` (entry orders submitted), ``fills`` (signals filled), ``fill_rate``.
        * ``trades``, ``trades_per_day``, ``win_rate`` (PnL after fees > 0), ``tp_share``,
          ``sl_share``, ``timeout_share`` (fractions of trades by exit reason),
          ``avg_hold_s``, ``avg_return_per_trade_pct`` (mean PnL / entry notional, in %).
        * ``total_pnl``, ``total_fees`` (quote currency), ``total_return_pct`` (total PnL /
          starting balance, in %).
        * ``daily_return_pct``: mean of the daily returns over every day of the run (%).
        * ``monthly_return_pct``: simple, 30.4375 x the mean daily PnL / starting balance (%).
        * ``annualised_return_pct``: simple, 365 x the mean daily PnL / starting balance (%).
        * ``max_drawdown_pct``: worst peak-to-trough fall of the realised equity, % of peak.
        * ``max_drawdown_mtm_pct``: the same of the mark-to-market equity
          (``records.mtm``); ``None`` when the run did not mark its positions.
        * ``sharpe``: annualised from daily returns, see :func:`sharpe_from_daily`; ``None``
          with fewer than 2 days or zero deviation.

        Ratios without a denominator are ``None``.

    Raises
    ------
    ValueError
        If the starting balance is not positive (no return can be measured against it).
    """
    if records.starting_balance <= 0:
        raise ValueError(f"starting_balance must be positive, got {records.starting_balance}")
    cascades = _select(records.cascades, symbol)
    signals = _select(records.signals, symbol)
    trades = _select(records.trades, symbol)

    span_days = max(0, records.end_ns - records.start_ns) / NS_PER_DAY
    coverage = records.coverage
    days = float(len(coverage.data_days(symbol))) if coverage is not None else span_days
    n_signals = len(signals)
    n_fills = sum(1 for s in signals if s.filled)
    n_trades = len(trades)
    exit_reasons = [t.exit_reason.upper() for t in trades]

    returns = daily_returns(records, symbol)
    mean_daily = float(returns.mean())
    total_pnl = math.fsum(t.pnl for t in trades)
    balance = float(records.starting_balance)
    # Simple returns: the mean PnL of a calendar day of the run, days without trades included.
    mean_daily_pnl = total_pnl / len(returns) if len(returns) else 0.0

    metrics: Metrics = {
        "days": days,
        "calendar_days": coverage.calendar_days if coverage is not None else span_days,
        **cascade_figures(cascades, days),
        "signals": n_signals,
        "fills": n_fills,
        "fill_rate": _ratio(n_fills, n_signals),
        "trades": n_trades,
        "trades_per_day": _ratio(n_trades, days),
        "win_rate": _ratio(sum(1 for t in trades if t.pnl > 0), n_trades),
        "tp_share": _ratio(exit_reasons.count("TP"), n_trades),
        "sl_share": _ratio(exit_reasons.count("SL"), n_trades),
        "timeout_share": _ratio(exit_reasons.count("TIMEOUT"), n_trades),
        "avg_hold_s": float(np.mean([t.hold_s for t in trades])) if trades else None,
        "avg_return_per_trade_pct": (
            float(np.mean([t.return_fraction for t in trades])) * 100.0 if trades else None
        ),
        "total_pnl": total_pnl,
        "total_fees": math.fsum(t.fees for t in trades),
        "total_return_pct": total_pnl / records.starting_balance * 100.0,
        "daily_return_pct": mean_daily * 100.0,
        "monthly_return_pct": mean_daily_pnl * DAYS_PER_MONTH / balance * 100.0,
        "annualised_return_pct": mean_daily_pnl * DAYS_PER_YEAR / balance * 100.0,
        "max_drawdown_pct": max_drawdown_pct(equity_curve(records, symbol)),
        "max_drawdown_mtm_pct": (
            max_drawdown_pct(records.mtm[symbol]) if symbol in records.mtm else None
        ),
        "sharpe": sharpe_from_daily(returns),
    }
    return metrics


def symbols_of(records: RunRecords) -> list[str]:
    """The run's symbols in declared order, then any other symbol found in its records.

    A symbol missing from ``records.symbols`` still gets its column rather than vanishing
    from per-symbol tables while counting in the portfolio.
    """
    seen = list(dict.fromkeys(records.symbols))
    for item in (*records.cascades, *records.signals, *records.trades):
        if item.symbol not in seen:
            seen.append(item.symbol)
    return seen
