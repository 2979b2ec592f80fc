"""Every metric of a tiny hand-built run against values worked out by hand below.

The run (3 UTC days, 2025-03-01 00:00 to 2025-03-04 00:00, balance 10,000 USDT):

======  =======  ======================  =====  =======  ==========  ===========================
cascade symbol   start -> declared, end  side   signal   trade       exit, pnl, fees
======  =======  ======================  =====  =======  ==========  ===========================
C1      ETHUSDT  d1 09:59:50 -> :55, :02  LONG   BUY  F   T1 BUY      d1 10:02 TP   +100, 1.0
C2      SOLUSDT  d1 11:59:52 -> :56, :00  SHORT  SELL F   T2 SELL     d1 12:05 SL   -200, 1.0
C3      SOLUSDT  d2 14:00:00 -> :03, :06  LONG   BUY  -   (unfilled)
C4      ETHUSDT  d2 20:00:00 -> :05, :14  tie    -        -
C5      ETHUSDT  d3 08:59:50 -> :55, :00  SHORT  SELL F   T3 SELL     d3 09:30 TIMEOUT +50, 0.8
C6      SOLUSDT  d3 14:59:50 -> :55, :00  LONG   BUY  F   T4 BUY      d3 15:01 TP   +150, 0.8
======  =======  ======================  =====  =======  ==========  ===========================

Day 2 has a cascade and an unfilled signal but no trade: its 0 % return must count.
Durations (end - start): C1 12 s, C2 8 s, C3 6 s, C4 14 s, C5 10 s, C6 10 s.
Entry notionals: T1 2000 x 2.5 = 5000, T2 100 x 50 = 5000, T3 2000 x 2 = 4000, T4 100 x 40 = 4000.
Holds: T1 120 s, T2 300 s, T3 1800 s, T4 60 s.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from liqcascade.backtests.metrics import METRIC_KEYS
from liqcascade.backtests.metrics import compute_metrics
from liqcascade.backtests.metrics import daily_returns
from liqcascade.backtests.metrics import drawdown_pct
from liqcascade.backtests.metrics import equity_curve
from liqcascade.backtests.metrics import max_drawdown_pct
from liqcascade.backtests.metrics import mtm_equity
from liqcascade.backtests.metrics import sharpe_from_daily
from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import TradeRecord

S = 1_000_000_000
DAY = 86_400 * S
D1 = 1_740_787_200 * S  # 2025-03-01 00:00:00 UTC
D2 = D1 + DAY
D3 = D2 + DAY
D4 = D3 + DAY


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    return day + (hh * 3600 + mm * 60 + ss) * S


def cascade(
    symbol: str,
    start: int,
    declared: int,
    end: int,
    side: str | None,
    long_notional: float,
    short_notional: float,
) -> CascadeRecord:
    return CascadeRecord(
        symbol=symbol,
        start_ns=start,
        declared_ns=declared,
        end_ns=end,
        large_events=2,
        events=3,
        long_notional=long_notional,
        short_notional=short_notional,
        side=side,
    )


# Total notionals (for "largest cascades"): C1 300k, C4 160k, C2 = C5 100k, C6 70k, C3 50k.
C1 = cascade("ETHUSDT", at(D1, 9, 59, 50), at(D1, 9, 59, 55), at(D1, 10, 0, 2), "LONG", 3e5, 0)
C2 = cascade("SOLUSDT", at(D1, 11, 59, 52), at(D1, 11, 59, 56), at(D1, 12), "SHORT", 0, 1e5)
C3 = cascade("SOLUSDT", at(D2, 14, 0, 0), at(D2, 14, 0, 3), at(D2, 14, 0, 6), "LONG", 5e4, 0)
C4 = cascade("ETHUSDT", at(D2, 20, 0, 0), at(D2, 20, 0, 5), at(D2, 20, 0, 14), None, 8e4, 8e4)
C5 = cascade("ETHUSDT", at(D3, 8, 59, 50), at(D3, 8, 59, 55), at(D3, 9), "SHORT", 2e4, 8e4)
C6 = cascade("SOLUSDT", at(D3, 14, 59, 50), at(D3, 14, 59, 55), at(D3, 15), "LONG", 7e4, 0)


def signal(c: CascadeRecord, side: str, price: float, filled: bool) -> SignalRecord:
    return SignalRecord(
        symbol=c.symbol,
        declared_ns=c.declared_ns,
        submitted_ns=c.declared_ns + S // 2,
        side=side,
        price=price,
        filled=filled,
    )


def trade(
    c: CascadeRecord,
    side: str,
    entry_ns: int,
    exit_ns: int,
    entry_price: float,
    exit_price: float,
    quantity: float,
    pnl: float,
    fees: float,
    reason: str,
) -> TradeRecord:
    return TradeRecord(
        symbol=c.symbol,
        side=side,
        declared_ns=c.declared_ns,
        entry_ns=entry_ns,
        exit_ns=exit_ns,
        entry_price=entry_price,
        exit_price=exit_price,
        quantity=quantity,
        pnl=pnl,
        fees=fees,
        exit_reason=reason,
    )


T1 = trade(C1, "BUY", at(D1, 10, 0), at(D1, 10, 2), 2000.0, 2040.4, 2.5, 100.0, 1.0, "TP")
T2 = trade(C2, "SELL", at(D1, 12, 0), at(D1, 12, 5), 100.0, 103.98, 50.0, -200.0, 1.0, "SL")
T3 = trade(C5, "SELL", at(D3, 9, 0), at(D3, 9, 30), 2000.0, 1974.6, 2.0, 50.0, 0.8, "TIMEOUT")
T4 = trade(C6, "BUY", at(D3, 15, 0), at(D3, 15, 1), 100.0, 103.77, 40.0, 150.0, 0.8, "TP")


def sample_run(name: str = "sample") -> RunRecords:
    """The run described in the module docstring."""
    return RunRecords(
        name=name,
        symbols=("ETHUSDT", "SOLUSDT"),
        start_ns=D1,
        end_ns=D4,
        starting_balance=10_000.0,
        cascades=(C1, C2, C3, C4, C5, C6),
        signals=(
            signal(C1, "BUY", 1999.0, True),
            signal(C2, "SELL", 100.2, True),
            signal(C3, "BUY", 99.8, False),
            signal(C5, "SELL", 2001.0, True),
            signal(C6, "BUY", 99.9, True),
        ),
        # Deliberately not in exit order: the equity must be built in time order.
        trades=(T3, T1, T4, T2),
    )


def empty_run() -> RunRecords:
    return RunRecords(
        name="empty",
        symbols=("ETHUSDT",),
        start_ns=D1,
        end_ns=D3,
        starting_balance=10_000.0,
        cascades=(),
        signals=(),
        trades=(),
    )


def utc(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


# --------------------------------------------------------------------------- series


def test_equity_curve_portfolio_steps_at_each_exit_from_the_starting_balance() -> None:
    curve = equity_curve(sample_run())
    # 10000 at start; +100 (T1) = 10100; -200 (T2) = 9900; +50 (T3) = 9950; +150 (T4) = 10100.
    assert list(curve.index) == [
        utc(D1),
        utc(at(D1, 10, 2)),
        utc(at(D1, 12, 5)),
        utc(at(D3, 9, 30)),
        utc(at(D3, 15, 1)),
    ]
    assert list(curve) == [10_000.0, 10_100.0, 9_900.0, 9_950.0, 10_100.0]


def test_equity_curve_per_symbol_uses_the_full_starting_balance() -> None:
    # SOL: 10000, -200 (T2) = 9800, +150 (T4) = 9950.
    assert list(equity_curve(sample_run(), "SOLUSDT")) == [10_000.0, 9_800.0, 9_950.0]
    # ETH: 10000, +100 (T1) = 10100, +50 (T3) = 10150.
    assert list(equity_curve(sample_run(), "ETHUSDT")) == [10_000.0, 10_100.0, 10_150.0]


def test_daily_returns_keep_the_day_without_trades() -> None:
    returns = daily_returns(sample_run())
    assert list(returns.index) == [utc(D1), utc(D2), utc(D3)]
    # d1: 9900 / 10000 - 1 = -0.01; d2: 9900 / 9900 - 1 = 0; d3: 10100 / 9900 - 1 = 2 / 99.
    assert returns.iloc[0] == pytest.approx(-0.01, abs=1e-15)
    assert returns.iloc[1] == 0.0
    assert returns.iloc[2] == pytest.approx(0.0202020202020202, rel=1e-12)


def test_daily_returns_per_symbol() -> None:
    # SOL: d1 9800/10000-1 = -0.02; d2 0; d3 9950/9800-1 = 150/9800 = 0.015306122...
    sol = daily_returns(sample_run(), "SOLUSDT")
    assert list(sol) == pytest.approx([-0.02, 0.0, 0.015306122448979], rel=1e-12)


def test_daily_returns_cover_partial_first_and_last_days() -> None:
    run = RunRecords(
        name="partial",
        symbols=("ETHUSDT",),
        start_ns=at(D1, 6, 0),  # 2.5 days: d1 06:00 to d3 18:00
        end_ns=at(D3, 18, 0),
        starting_balance=1_000.0,
        cascades=(),
        signals=(),
        trades=(trade(C1, "BUY", at(D2, 1, 0), at(D2, 1, 5), 10.0, 11.0, 10.0, 10.0, 0.0, "TP"),),
    )
    returns = daily_returns(run)
    # Three calendar days touched; only d2 moved: 1010 / 1000 - 1 = 0.01.
    assert list(returns.index) == [utc(D1), utc(D2), utc(D3)]
    assert list(returns) == pytest.approx([0.0, 0.01, 0.0], abs=1e-15)
    assert compute_metrics(run)["days"] == 2.5
    assert compute_metrics(run)["trades_per_day"] == 0.4  # 1 / 2.5


def test_simultaneous_exits_are_one_equity_point() -> None:
    # +50 and -50 at the same nanosecond never existed apart: no drawdown, one step.
    t_win = trade(C1, "BUY", at(D1, 10, 0), at(D1, 10, 2), 10.0, 11.0, 10.0, 50.0, 0.0, "TP")
    t_loss = trade(C2, "SELL", at(D1, 10, 0), at(D1, 10, 2), 10.0, 11.0, 10.0, -50.0, 0.0, "SL")
    run = RunRecords(
        name="tie",
        symbols=("ETHUSDT", "SOLUSDT"),
        start_ns=D1,
        end_ns=D2,
        starting_balance=1_000.0,
        cascades=(),
        signals=(),
        trades=(t_loss, t_win),
    )
    assert list(equity_curve(run)) == [1_000.0, 1_000.0]
    assert compute_metrics(run)["max_drawdown_pct"] == 0.0


# --------------------------------------------------------------------------- helpers


def test_max_drawdown_pct_is_the_worst_fall_from_a_peak() -> None:
    # Peaks 100 then 120; falls: 100 -> 90 = 10 %, 120 -> 96 = 20 %. Worst = 20.
    equity = pd.Series([100.0, 90.0, 120.0, 96.0, 110.0])
    assert max_drawdown_pct(equity) == pytest.approx(20.0, rel=1e-12)
    assert list(drawdown_pct(equity)) == pytest.approx([0.0, 10.0, 0.0, 20.0, 10 / 120 * 100])
    assert max_drawdown_pct(pd.Series([1.0, 2.0, 3.0])) == 0.0
    assert max_drawdown_pct(pd.Series([], dtype=float)) == 0.0


def test_sharpe_from_daily() -> None:
    # r = [0.01, -0.01, 0.03]: mean 0.01; deviations 0, -0.02, 0.02; var = 0.0008 / 2 = 0.0004;
    # std = 0.02; Sharpe = 0.01 / 0.02 * sqrt(365) = 0.5 * 19.1049731745428 = 9.5524865872714.
    assert sharpe_from_daily(pd.Series([0.01, -0.01, 0.03])) == pytest.approx(9.5524865872714)
    assert sharpe_from_daily(pd.Series([0.01])) is None  # fewer than 2 days
    assert sharpe_from_daily(pd.Series([0.0, 0.0, 0.0])) is None  # std 0
    assert sharpe_from_daily(pd.Series([0.001, 0.001, 0.001])) is None  # std 0 up to float noise
    assert sharpe_from_daily(pd.Series([], dtype=float)) is None


# --------------------------------------------------------------------------- metrics


def test_portfolio_metrics_match_hand_computed_values() -> None:
    m = compute_metrics(sample_run())
    assert tuple(m) == METRIC_KEYS
    expected = {
        "days": 3.0,  # (D4 - D1) / 1 day
        "cascades": 6,
        "cascades_per_day": 2.0,  # 6 / 3
        "avg_cascade_duration_s": 10.0,  # (12 + 8 + 6 + 14 + 10 + 10) / 6 = 60 / 6
        "buy_dominant_share": 0.5,  # LONG: C1, C3, C6 = 3 / 6
        "sell_dominant_share": 1 / 3,  # SHORT: C2, C5 = 2 / 6 (C4 is a tie)
        "signals": 5,
        "fills": 4,
        "fill_rate": 0.8,  # 4 / 5
        "trades": 4,
        "trades_per_day": 4 / 3,
        "win_rate": 0.75,  # T1, T3, T4 > 0
        "tp_share": 0.5,  # T1, T4
        "sl_share": 0.25,  # T2
        "timeout_share": 0.25,  # T3
        "avg_hold_s": 570.0,  # (120 + 300 + 1800 + 60) / 4 = 2280 / 4
        # returns of notional: 100/5000 = 2 %, -200/5000 = -4 %, 50/4000 = 1.25 %,
        # 150/4000 = 3.75 %; mean = 3 / 4 = 0.75 %.
        "avg_return_per_trade_pct": 0.75,
        "total_pnl": 100.0,  # 100 - 200 + 50 + 150
        "total_fees": 3.6,  # 1.0 + 1.0 + 0.8 + 0.8
        "total_return_pct": 1.0,  # 100 / 10000 * 100
        # Daily returns [-0.01, 0, 2/99 = 0.0202020202]: mean = 0.0102020202 / 3 = 0.0034006734.
        "daily_return_pct": 0.34006734006734,
        # Simple, not compounded: mean daily PnL 100 / 3 days; x 30.4375 / 10000 * 100.
        "monthly_return_pct": 100 / 3 * 30.4375 / 100,
        "annualised_return_pct": 100 / 3 * 365 / 100,  # x 365 / 10000 * 100
        # Peak 10100 (after T1) to trough 9900 (after T2): 200 / 10100 * 100.
        "max_drawdown_pct": 1.9801980198019802,
        # Deviations from the mean: -0.0134006734, -0.0034006734, +0.0168013468;
        # squares 1.795780e-4 + 1.156458e-5 + 2.822853e-4 = 4.734279e-4; / 2 = 2.367140e-4;
        # std = 0.0153855107; 0.0034006734 / 0.0153855107 * sqrt(365) (19.1049732) = 4.2227896.
        "sharpe": 4.2227895576508,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-9), key
    for key in ("cascades", "signals", "fills", "trades"):
        assert type(m[key]) is int, key


def test_eth_metrics_match_hand_computed_values() -> None:
    m = compute_metrics(sample_run(), "ETHUSDT")
    expected = {
        "days": 3.0,
        "cascades": 3,  # C1, C4, C5
        "cascades_per_day": 1.0,
        "avg_cascade_duration_s": 12.0,  # (12 + 14 + 10) / 3
        "buy_dominant_share": 1 / 3,  # C1
        "sell_dominant_share": 1 / 3,  # C5 (C4 tie)
        "signals": 2,
        "fills": 2,
        "fill_rate": 1.0,
        "trades": 2,
        "trades_per_day": 2 / 3,
        "win_rate": 1.0,
        "tp_share": 0.5,  # T1
        "sl_share": 0.0,
        "timeout_share": 0.5,  # T3
        "avg_hold_s": 960.0,  # (120 + 1800) / 2
        "avg_return_per_trade_pct": 1.625,  # (2 + 1.25) / 2
        "total_pnl": 150.0,
        "total_fees": 1.8,
        "total_return_pct": 1.5,
        # Daily [0.01, 0, 50/10100 = 0.0049504950]: mean 0.0149504950 / 3 = 0.0049834983.
        "daily_return_pct": 0.49834983498350,
        "monthly_return_pct": 50 * 30.4375 / 100,  # 150 / 3 a day, simple
        "annualised_return_pct": 50 * 365 / 100,
        "max_drawdown_pct": 0.0,  # equity only rises
        # Deviations 0.0050165017, -0.0049834983, -0.0000330033; sum of squares 5.000163e-5;
        # var 2.500082e-5; std 0.0050000817; 0.0049834983 / 0.0050000817 * 19.1049732.
        "sharpe": 19.041609353430,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key


def test_sol_metrics_match_hand_computed_values() -> None:
    m = compute_metrics(sample_run(), "SOLUSDT")
    expected = {
        "cascades": 3,  # C2, C3, C6
        "avg_cascade_duration_s": 8.0,  # (8 + 6 + 10) / 3
        "buy_dominant_share": 2 / 3,  # C3, C6
        "sell_dominant_share": 1 / 3,  # C2
        "signals": 3,
        "fills": 2,
        "fill_rate": 2 / 3,  # C3's order never filled
        "trades": 2,
        "win_rate": 0.5,
        "tp_share": 0.5,
        "sl_share": 0.5,
        "timeout_share": 0.0,
        "avg_hold_s": 180.0,  # (300 + 60) / 2
        "avg_return_per_trade_pct": -0.125,  # (-4 + 3.75) / 2
        "total_pnl": -50.0,
        "total_fees": 1.8,
        "total_return_pct": -0.5,
        # Daily [-0.02, 0, 150/9800 = 0.0153061224]: mean -0.0046938776 / 3 = -0.0015646259.
        "daily_return_pct": -0.15646258503401,
        "monthly_return_pct": -50 / 3 * 30.4375 / 100,  # -50 / 3 a day, simple
        "annualised_return_pct": -50 / 3 * 365 / 100,
        # The starting balance is the first peak: 10000 -> 9800 = 2 %.
        "max_drawdown_pct": 2.0,
        # Deviations -0.0184353741, 0.0015646259, 0.0168707483; sum of squares 6.269330e-4;
        # var 3.134665e-4; std 0.0177049883; -0.0015646259 / 0.0177049883 * 19.1049732.
        "sharpe": -1.6883453618769,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key


def test_unknown_symbol_has_counts_zero_and_ratios_none() -> None:
    m = compute_metrics(sample_run(), "XRPUSDT")
    assert m["cascades"] == 0 and m["trades"] == 0 and m["signals"] == 0
    assert m["win_rate"] is None and m["fill_rate"] is None


def test_empty_run_counts_zero_ratios_none_returns_zero() -> None:
    m = compute_metrics(empty_run())
    assert m["days"] == 2.0
    for key in ("cascades", "signals", "fills", "trades"):
        assert m[key] == 0, key
    assert m["cascades_per_day"] == 0.0 and m["trades_per_day"] == 0.0
    for key in (
        "avg_cascade_duration_s",
        "buy_dominant_share",
        "sell_dominant_share",
        "fill_rate",
        "win_rate",
        "tp_share",
        "sl_share",
        "timeout_share",
        "avg_hold_s",
        "avg_return_per_trade_pct",
        "sharpe",  # flat equity: std 0
    ):
        assert m[key] is None, key
    for key in (
        "total_pnl",
        "total_fees",
        "total_return_pct",
        "daily_return_pct",
        "monthly_return_pct",
        "annualised_return_pct",
        "max_drawdown_pct",
    ):
        assert m[key] == 0.0, key
    assert list(daily_returns(empty_run())) == [0.0, 0.0]
    assert list(equity_curve(empty_run())) == [10_000.0]


def test_zero_length_run_has_no_per_day_rates() -> None:
    run = RunRecords("point", ("ETHUSDT",), D1, D1, 1_000.0, (C1,), (), ())
    m = compute_metrics(run)
    assert m["days"] == 0.0
    assert m["cascades_per_day"] is None and m["trades_per_day"] is None
    assert m["sharpe"] is None  # a single day
    assert len(daily_returns(run)) == 1


def test_non_positive_balance_is_rejected() -> None:
    run = RunRecords("broke", ("ETHUSDT",), D1, D2, 0.0, (), (), ())
    with pytest.raises(ValueError, match="starting_balance"):
        compute_metrics(run)


def test_sharpe_counts_the_zero_day() -> None:
    # Dropping the empty day 2 would give [-0.01, 2/99]: mean 0.0051010101, std 0.0213560533
    # -> Sharpe 4.5633; the full-run value (4.2228) must be reported.
    sharpe = compute_metrics(sample_run())["sharpe"]
    assert sharpe is not None
    assert math.isclose(sharpe, 4.2227895576508, rel_tol=1e-9)


# --------------------------------------------------------------------------- marked to prints


def test_mark_to_market_equity_shows_the_open_excursions_realised_equity_hides() -> None:
    """A long 1 ETH from 2000 and, overlapping it, a short 10 SOL from 150: both end in profit,
    so the realised equity never falls; marked to prints the account was 17 USDT down."""
    eth = TradeRecord("ETHUSDT", "BUY", D1, D1 + 10 * S, D1 + 100 * S, 2000.0, 2005.0, 1.0, 4.0,
                      1.0, "TP")  # fmt: skip
    sol = TradeRecord("SOLUSDT", "SELL", D1, D1 + 20 * S, D1 + 200 * S, 150.0, 149.0, 10.0, 9.0,
                      1.0, "TP")  # fmt: skip
    prints = {
        "ETHUSDT": [(D1 + 30 * S, 1995.0), (D1 + 60 * S, 1990.0), (D1 + 90 * S, 2004.0)],
        "SOLUSDT": [(D1 + 50 * S, 150.5), (D1 + 60 * S, 150.7), (D1 + 150 * S, 149.2)],
    }

    def prices(symbol: str, start: int, end: int) -> pd.DataFrame:
        rows = [(ts, p) for ts, p in prints[symbol] if start <= ts < end]
        return pd.DataFrame(rows, columns=["ts_ns", "price"])

    run = RunRecords("mtm", ("ETHUSDT", "SOLUSDT"), D1, D1 + DAY, 10_000.0, (), (), (eth, sol))
    marked = mtm_equity(run, prices)
    # At 60 s: ETH (1990 - 2000) x 1 = -10, SOL -(150.7 - 150) x 10 = -7 -> 9983.
    assert marked.min() == pytest.approx(9983.0)
    assert marked.iloc[-1] == pytest.approx(10_013.0)  # 4 + 9 realised
    with_marks = dataclasses.replace(run, mtm={None: marked})
    metrics = compute_metrics(with_marks)
    assert metrics["max_drawdown_pct"] == 0.0
    assert metrics["max_drawdown_mtm_pct"] == pytest.approx(17 / 10_000 * 100)
    assert compute_metrics(run)["max_drawdown_mtm_pct"] is None  # not marked: not claimed
