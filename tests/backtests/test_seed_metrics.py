"""The seed's metrics and the benchmarks, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liqcascade.backtests.crash_report import benchmark_value
from liqcascade.backtests.crash_report import btc_value
from liqcascade.backtests.records import TradeRecord
from liqcascade.backtests.seed_metrics import hourly_strategy_returns
from liqcascade.backtests.seed_metrics import seed_metrics
from liqcascade.backtests.seed_metrics import seed_period_table

H0 = pd.Timestamp("2024-01-01 01:00", tz="UTC")
HOURS = pd.date_range(H0, periods=6, freq="h")
NS = [int(t.value) for t in HOURS]
#   hour       0     1     2     3     4     5
CLOSES = pd.DataFrame(
    {"BTCUSDT": [100.0, 101.0, 99.0, 100.0, 102.0, 102.0], "A": [10.0, 10.0, 11.0, 12, 12, 12]},
    index=HOURS,
)


def trade(symbol: str, entry: int, exit_: int, ret: float) -> TradeRecord:
    """One unit bought at the close of hour ``entry``, sold at ``exit_``; return ``ret``."""
    price_in = float(CLOSES[symbol].iloc[entry])
    price_out = float(CLOSES[symbol].iloc[exit_])
    return TradeRecord(
        symbol=symbol,
        side="BUY",
        declared_ns=NS[entry] - 3600 * 10**9,
        entry_ns=NS[entry],
        exit_ns=NS[exit_],
        entry_price=price_in,
        exit_price=price_out,
        quantity=1.0,
        pnl=ret * price_in,
        fees=0.002 * price_in,
        exit_reason="HOLD",
    )


# A: bought at 10 (hour 1), sold at 12 (hour 3): 12 / 10 - 1 - 0.002 = 0.198.
# BTC: bought at 100 (hour 3), sold at 102 (hour 4): 0.02 - 0.002 = 0.018.
TRADES = [trade("A", 1, 3, 0.198), trade("BTCUSDT", 3, 4, 0.018)]


def test_hourly_strategy_returns_mark_each_trade_to_the_closes() -> None:
    hourly = hourly_strategy_returns(TRADES, CLOSES)
    # A: hour 2 closes at 11 (+0.1 of the entry), hour 3 brings the rest: 0.198 - 0.1.
    assert list(hourly.round(12)) == [0.0, 0.0, 0.1, 0.098, 0.018, 0.0]
    assert hourly.sum() == pytest.approx(0.198 + 0.018)


def test_seed_metrics_by_hand() -> None:
    figures = seed_metrics(TRADES, CLOSES, NS[0], NS[-1])
    per_year = 2 / (5 / (365 * 24))  # two trades in five hours
    assert figures["trades"] == 2
    assert figures["trades_per_year"] == pytest.approx(per_year)
    assert figures["total_return_pct"] == pytest.approx(21.6)
    assert figures["mean_return_pct"] == pytest.approx(10.8)
    std = math.sqrt(((0.198 - 0.108) ** 2 + (0.018 - 0.108) ** 2) / 1)  # ddof = 1
    assert figures["sharpe"] == pytest.approx(0.108 / std * math.sqrt(per_year))
    assert figures["max_drawdown_pct"] == 0.0  # never below a previous peak
    # Alpha: OLS of the hourly returns on BTC's close-to-close returns (hours 1..5).
    y = np.array([0.0, 0.1, 0.098, 0.018, 0.0])
    x = CLOSES["BTCUSDT"].pct_change().to_numpy()[1:]
    slope, intercept = np.polyfit(x, y, 1)
    assert figures["beta"] == pytest.approx(slope)
    assert figures["alpha"] == pytest.approx(intercept * per_year)
    assert figures["btc"] == "BTCUSDT"


def test_drawdown_of_the_cumulative_sum_in_entry_order() -> None:
    # Entries in the order 0.02, -0.05, 0.01 (listed out of order): cumsum 0.02, -0.03, -0.02.
    trades = [trade("A", 3, 4, 0.01), trade("A", 1, 2, 0.02), trade("A", 2, 3, -0.05)]
    assert seed_metrics(trades, CLOSES, NS[0], NS[-1])["max_drawdown_pct"] == pytest.approx(-5.0)
    # A first trade that loses is a drawdown from 0.
    assert seed_metrics(trades[2:], CLOSES, NS[0], NS[-1])["max_drawdown_pct"] == pytest.approx(
        -5.0
    )


def test_without_btc_or_trades_the_undefined_figures_are_none() -> None:
    figures = seed_metrics(TRADES[:1], CLOSES[["A"]], NS[0], NS[-1])
    assert figures["alpha"] is None and figures["btc"] is None and figures["sharpe"] is None
    empty = seed_metrics([], CLOSES, NS[0], NS[-1])
    assert empty["trades"] == 0 and empty["total_return_pct"] == 0.0
    assert empty["mean_return_pct"] is None and empty["max_drawdown_pct"] == 0.0


def test_benchmark_takes_in_assets_as_their_prices_start() -> None:
    #        A     B      value
    #  t0  100    -      1.000   (all in A: 0.01 units)
    #  t1  110   50      1.100   B joins with half: A 0.005 units (0.55), B 0.011 units (0.55)
    #  t2  121   60      1.265   0.605 + 0.66
    #  t3  121   45      1.100   0.605 + 0.495
    closes = pd.DataFrame(
        {"A": [100.0, 110.0, 121.0, 121.0], "B": [np.nan, 50.0, 60.0, 45.0]}, index=HOURS[:4]
    )
    value = benchmark_value(closes)
    assert value.index[0] == HOURS[0]
    assert list(value.round(10)) == [1.0, 1.1, 1.265, 1.1]


def test_btc_buy_and_hold() -> None:
    value = btc_value(CLOSES)
    assert list(value.round(10)) == [1.0, 1.01, 0.99, 1.0, 1.02, 1.02]
    assert btc_value(CLOSES[["A"]]) is None


def test_seed_periods_say_what_the_run_covers() -> None:
    index = pd.date_range("2020-04-30 22:00", periods=5, freq="h", tz="UTC")
    closes = pd.DataFrame({"BTCUSDT": [100.0, 101, 102, 103, 104]}, index=index)
    table = seed_period_table([], closes, benchmark_value(closes)).set_index("period")
    assert table.loc["Mar-Apr 2020", "covered"] == "part (2020-04-30 .. 2020-05-01)"
    assert table.loc["May-Dec 2020", "covered"] == "part (2020-05-01 .. 2020-05-01)"
    assert table.loc["Jan-Dec 2021", "covered"] == "none"
    assert table.loc["Jan-Dec 2021", "trades"] == 0
    # May: the bars closing 01:00 and 02:00; the benchmark from the 00:00 close (102) to 104.
    assert table.loc["May-Dec 2020", "benchmark_return_pct"] == pytest.approx((104 / 102 - 1) * 100)
