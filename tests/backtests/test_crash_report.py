"""System B report: figures checked against hand-computed values on a tiny series."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from liqcascade.backtests.crash_report import benchmark_value
from liqcascade.backtests.crash_report import build_records
from liqcascade.backtests.crash_report import closes_from_bars
from liqcascade.backtests.crash_report import crash_events_frame
from liqcascade.backtests.crash_report import crash_report
from liqcascade.backtests.crash_report import crash_summary
from liqcascade.backtests.crash_report import ols_alpha
from liqcascade.backtests.crash_report import period_table
from liqcascade.backtests.crash_report import regime_of
from liqcascade.backtests.crash_report import trades_from_events
from tests.strategies.bar_harness import make_bars

S = 1_000_000_000
HOUR = 3600 * S
DAY = 24 * HOUR
D0 = 1_704_067_200 * S  # 2024-01-01 00:00 UTC

# Two assets; B never moves, so the equal-weight value is (A / 100 + 1) / 2.
#   time          A       value   benchmark daily return
#   D0 00:00    100.00   1.0000   (purchase)
#   D0 23:00    120.00   1.1000   d0: 1.1000 / 1.0000 - 1 = +0.10
#   D1 23:00    109.00   1.0450   d1: 1.0450 / 1.1000 - 1 = -0.05
#   D2 23:00    113.18   1.0659   d2: 1.0659 / 1.0450 - 1 = +0.02
#   D3 23:00    113.18   1.0659   d3: 0
CLOSES = pd.DataFrame(
    {"A": [100.0, 120.0, 109.0, 113.18, 113.18], "B": [100.0] * 5},
    index=[
        D0,
        D0 + 23 * HOUR,
        D0 + DAY + 23 * HOUR,
        D0 + 2 * DAY + 23 * HOUR,
        D0 + 3 * DAY + 23 * HOUR,
    ],
)
BALANCE = 1000.0


def exit_event(day: int, pnl: float, symbol: str = "A") -> dict:
    """A closed trade: 10 units bought at 100 (notional 1000) at 10:00, sold at 12:00."""
    return {
        "event": "exit",
        "symbol": symbol,
        "reason": "HOLD",
        "event_ns": D0 + day * DAY + 10 * HOUR,
        "side": "BUY",
        "entry_ns": D0 + day * DAY + 10 * HOUR,
        "exit_ns": D0 + day * DAY + 12 * HOUR,
        "entry_price": 100.0,
        "exit_price": 100.0 + pnl / 10,
        "quantity": 10.0,
        "pnl": pnl,
        "fees": 0.0,
    }


# Strategy equity (starting balance 1000), one trade a day on D0-D2:
#   d0: +20      -> 1020.000   r0 = 20 / 1000       = +0.02
#   d1: -10.2    -> 1009.800   r1 = -10.2 / 1020    = -0.01
#   d2: +10.098  -> 1019.898   r2 = 10.098 / 1009.8 = +0.01
#   d3: nothing                r3 = 0
EVENTS = [
    {
        "event": "crash",
        "symbol": "*",
        "event_ns": D0 + 10 * HOUR,
        "assets": ["A", "B", "C"],
        "members": [
            {"symbol": "A", "close": 110.0, "branch": "crash"},
            {"symbol": "B", "close": 100.0, "branch": "cascade"},
            {"symbol": "C", "close": 5.0, "branch": "crash"},
        ],
    },
    exit_event(0, 20.0),
    exit_event(1, -10.2),
    exit_event(2, 10.098),
]

# Hand arithmetic, daily strategy returns r = [0.02, -0.01, 0.01, 0] and benchmark
# b = [0.10, -0.05, 0.02, 0]:
#   mean(r) = 0.02 / 4 = 0.005, mean(b) = 0.07 / 4 = 0.0175
#   r - mean = [0.015, -0.015, 0.005, -0.005]; b - mean = [0.0825, -0.0675, 0.0025, -0.0175]
#   Sxy = 0.015*0.0825 + 0.015*0.0675 + 0.005*0.0025 + 0.005*0.0175
#       = 0.0012375 + 0.0010125 + 0.0000125 + 0.0000875 = 0.00235
#   Sxx = 0.0825^2 + 0.0675^2 + 0.0025^2 + 0.0175^2
#       = 0.00680625 + 0.00455625 + 0.00000625 + 0.00030625 = 0.011675
#   beta = Sxy / Sxx = 0.00235 / 0.011675 = 0.20128480...
#   alpha(daily) = 0.005 - beta * 0.0175 = 0.005 - 0.00352248... = 0.00147752...
#   alpha(annual) = alpha(daily) * 365 = 0.539293...
BETA = 0.00235 / 0.011675
ALPHA = (0.005 - BETA * 0.0175) * 365
#   Sharpe: sum of squared deviations = 0.000225 + 0.000225 + 0.000025 + 0.000025 = 0.0005,
#   std (ddof 1) = sqrt(0.0005 / 3) = 0.0129099...; 0.005 / 0.0129099 * sqrt(365) = 7.39932...
SHARPE = 0.005 / math.sqrt(0.0005 / 3) * math.sqrt(365)
#   Trade returns: 20 / 1000, -10.2 / 1000, 10.098 / 1000 -> mean 0.019898 / 3 = 0.66327 %
MEAN_TRADE_PCT = (0.02 - 0.0102 + 0.010098) / 3 * 100
#   Total return: 19.898 / 1000 = 1.9898 %; drawdown: (1020 - 1009.8) / 1020 = 1 %


def test_the_hand_arithmetic_in_the_comments() -> None:
    assert abs(ALPHA - 0.539293) < 1e-6
    assert abs(SHARPE - 7.39932) < 1e-5


def test_benchmark_is_the_equal_weight_buy_and_hold() -> None:
    value = benchmark_value(CLOSES)
    assert list(value.round(10)) == [1.0, 1.1, 1.045, 1.0659, 1.0659]


def test_summary_matches_the_hand_computed_figures() -> None:
    records = build_records(trades_from_events(EVENTS), CLOSES, BALANCE)
    summary = crash_summary(records, CLOSES)
    assert summary["days"] == 4
    assert summary["trades"] == 3
    assert summary["total_return_pct"] == pytest.approx(1.9898)
    assert summary["mean_return_per_trade_pct"] == pytest.approx(MEAN_TRADE_PCT)
    assert summary["max_drawdown_pct"] == pytest.approx(1.0)
    assert summary["sharpe"] == pytest.approx(SHARPE)
    assert summary["alpha"] == pytest.approx(ALPHA)
    assert summary["beta"] == pytest.approx(BETA)
    assert summary["benchmark_return_pct"] == pytest.approx(6.59)


def test_ols_alpha_is_undefined_without_benchmark_variance() -> None:
    days = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    flat = pd.Series(0.0, index=days)
    assert ols_alpha(pd.Series([0.01, 0.0, 0.02], index=days), flat) is None
    assert ols_alpha(flat.iloc[:1], flat.iloc[:1]) is None
    # A strategy that is exactly 0.001 + 2 x benchmark has alpha 0.001 * 365 and beta 2.
    bench = pd.Series([0.01, -0.02, 0.03], index=days)
    alpha, beta = ols_alpha(0.001 + 2 * bench, bench)
    assert alpha == pytest.approx(0.365) and beta == pytest.approx(2.0)


def test_regimes() -> None:
    assert regime_of(-0.11) == "bear" and regime_of(0.11) == "bull"
    assert regime_of(-0.10) == regime_of(0.10) == regime_of(0.0) == "sideways"


def test_period_table_monthly_and_daily() -> None:
    records = build_records(trades_from_events(EVENTS), CLOSES, BALANCE)
    [month] = period_table(records, CLOSES).to_dict("records")
    assert month["period"] == "2024-01" and month["regime"] == "sideways"  # +6.59 %
    assert month["start"] == "2024-01-01" and month["end"] == "2024-01-04"
    assert month["trades"] == 3
    assert month["avg_return_pct"] == pytest.approx(MEAN_TRADE_PCT)
    assert month["sharpe"] == pytest.approx(SHARPE)
    assert month["alpha"] == pytest.approx(ALPHA)
    # 1.02 * 0.99 * 1.01 * 1.0 - 1 = 1.99898 %
    assert month["return_pct"] == pytest.approx((1.02 * 0.99 * 1.01 - 1) * 100)

    days = period_table(records, CLOSES, period="D", bear_below=-0.04, bull_above=0.05)
    assert list(days["regime"]) == ["bull", "bear", "sideways", "sideways"]
    assert [round(x, 10) for x in days["benchmark_return_pct"]] == [10.0, -5.0, 2.0, 0.0]
    assert list(days["trades"]) == [1, 1, 1, 0]
    assert days["avg_return_pct"].iloc[3] is None
    assert all(v is None for v in days["sharpe"]) and all(v is None for v in days["alpha"])


def test_crash_events_frame() -> None:
    frame = crash_events_frame(EVENTS)
    assert list(frame["assets"]) == ["A;B;C"] and list(frame["n_assets"]) == [3]
    assert list(frame["branches"]) == ["crash;cascade;crash"]
    assert frame["closes"].iloc[0] == {"A": 110.0, "B": 100.0, "C": 5.0}
    assert frame["time"].iloc[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")


def test_crash_report_writes_files_and_returns_the_text(tmp_path: Path) -> None:
    text = crash_report(EVENTS, CLOSES, tmp_path / "report", BALANCE, name="tiny")
    for line in (
        "Total trades: 3",
        "Total return: 1.99%",
        "Mean return per trade: 0.66%",
        "Max Drawdown: -1.00%",
        "Sharpe Ratio (daily returns x sqrt(365)): 7.40",
        "Annualized Alpha (daily OLS on the equal-weight benchmark x 365): 0.5393 (beta 0.201)",
        "Crash events: 1 (mean assets per event: 3.0; qualifying bars by branch: cascade 1, "
        "crash 2)",
        "| 2024-01 ",
        # The seed's block: per-trade returns 2 %, -1.02 %, 1.0098 % (no BTC: no alpha).
        "Total return (sum of trade returns): 1.99%",
        "Max Drawdown (of the cumulative sum): -1.02%",
        "Annualized Alpha (hourly OLS on BTC, intercept x trades a year): - (no BTC",
        "BTC buy & hold: - (no BTC in the universe)",
        "| 2023-01-01 to 2024-01-31 | headline",
    ):
        assert line in text, line
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {
        "summary.txt",
        "seed_metrics.csv",
        "seed_periods.csv",
        "trades.csv",
        "crash_events.csv",
        "periods.csv",
        "daily_returns.csv",
        "equity.html",
        "crashes.html",
        "plotly.min.js",
    } <= written
    assert (tmp_path / "report" / "summary.txt").read_text() == text
    daily = pd.read_csv(tmp_path / "report" / "daily_returns.csv", index_col=0)
    assert list(daily["daily_return"].round(12)) == [0.02, -0.01, 0.01, 0.0]
    assert list(daily["benchmark_return"].round(12)) == [0.1, -0.05, 0.02, 0.0]


def test_a_run_without_trades_reports_zeros(tmp_path: Path) -> None:
    text = crash_report([], CLOSES, tmp_path, BALANCE, include_plotlyjs=False)
    assert "Total trades: 0" in text and "Total return: 0.00%" in text
    assert "Sharpe Ratio (daily returns x sqrt(365)): -" in text  # a flat equity has no Sharpe
    assert "No crash event in this run" in text


def test_closes_from_bars() -> None:
    bars = make_bars("ETHUSDT", [2000.0, 2010.5], [1.0, 2.0]) + make_bars(
        "SOLUSDT", [100.0, 99.5], [1.0, 2.0]
    )
    closes = closes_from_bars(bars)
    assert list(closes.columns) == ["ETHUSDT", "SOLUSDT"]
    assert closes.index[0] == pd.Timestamp("2024-01-01 01:00", tz="UTC")  # first bar's close
    assert closes.loc[:, "ETHUSDT"].tolist() == [2000.0, 2010.5]
