"""CascadeMarketMaker in a real BacktestEngine: every rule of the guide on crafted data."""

from __future__ import annotations

from pathlib import Path

import pytest

from liqcascade.strategies.cascade_mm import OptimisticFillsWarning
from tests.strategies.harness import S
from tests.strategies.harness import liquidation
from tests.strategies.harness import run
from tests.strategies.harness import trades

LONG, SHORT = "LONG", "SHORT"
CASCADE_LONGS = [liquidation(5, LONG, 100_000), liquidation(6, LONG, 120_000)]
CASCADE_SHORTS = [liquidation(5, SHORT, 100_000), liquidation(6, SHORT, 120_000)]


def test_longs_liquidated_buy_below_then_take_profit(tmp_path: Path) -> None:
    prices = [(0, 2000.0), (4, 2000.0), (10, 1998.0), (12, 1997.0), (14, 1996.5), (20, 1999.0)]
    prices += [(25, 2000.0), (30, 2000.5), (40, 2000.0)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS)
    (submitted,) = result.of("entry_submitted")
    # 2000.00 * (1 - 0.0015) = 1997.00; TP 1997 * 1.0015 = 1999.9955 -> up to 2000.00;
    # SL 1997 * 0.9975 = 1992.0075 -> up (towards the entry) to 1992.01. 2000 USDT / 1997 -> 1.00.
    assert submitted["side"] == "BUY"
    assert submitted["price"] == 1997.00
    assert submitted["quantity"] == 1.0
    assert submitted["declared_ns"] == result.of("cascade")[0]["declared_ns"]
    (fill,) = result.of("entry_fill")
    assert fill["price"] == 1997.00
    assert fill["ts"] == result.of("entry_fill")[0]["ts"]
    assert (fill["take_profit"], fill["stop"]) == (2000.00, 1992.01)
    (exit_,) = result.of("exit")
    assert exit_["reason"] == "TP"
    assert exit_["exit_price"] == 2000.00
    # 3.00 USDT gross on 1 ETH; fees from the instrument (maker 2 bps on both legs).
    fees = 1997.0 * 0.0002 + 2000.0 * 0.0002
    assert exit_["pnl"] == pytest.approx(3.0 - fees, abs=0.01)


def test_conservative_fills_need_a_trade_through_the_limit(tmp_path: Path) -> None:
    touch_only = [(0, 2000.0), (10, 1997.0), (20, 1997.0), (30, 1999.0)]
    result = run(tmp_path, trades(touch_only), CASCADE_LONGS)
    assert result.of("entry_fill") == []
    optimistic = run(tmp_path, trades(touch_only), CASCADE_LONGS, touch_fills=True)
    assert [f["price"] for f in optimistic.of("entry_fill")] == [1997.0]


def test_engine_fills_on_a_stale_side_with_raw_aggressors(tmp_path: Path) -> None:
    """Why the runner neutralises aggressors (canary for a framework change).

    With buyer/seller prints the engine infers L1 from aggressors and keeps a stale ask: a
    buyer print at 1997 leaves ask = 1997, a later seller print at 1999 does not move it, and
    a resting BUY 1997 fills while the market trades 1999.
    """
    touch_then_up = [(0, 2000.0), (10, 1997.0), (20, 1997.0), (30, 1999.0)]
    with pytest.warns(OptimisticFillsWarning):  # the strategy tells the user so
        raw = run(tmp_path, trades(touch_then_up), CASCADE_LONGS, raw_aggressors=True)
    assert raw.of("data_warning")
    assert [f["ts"] for f in raw.of("entry_fill")] == [
        raw.of("entry_submitted")[0]["ts"] + 24 * S - 1
    ]


def test_shorts_liquidated_sell_above_then_stop_loss(tmp_path: Path) -> None:
    # 2000 * 1.0015 = 2003.00; TP 2003 * 0.9985 = 1999.9955 -> down (away from entry) 1999.99;
    # SL 2003 * 1.0025 = 2008.0075 -> down (towards the entry) 2008.00.
    prices = [(0, 2000.0), (10, 2002.0), (12, 2003.5), (20, 2006.0), (25, 2008.5), (30, 2009.0)]
    result = run(tmp_path, trades(prices), CASCADE_SHORTS)
    (submitted,) = result.of("entry_submitted")
    assert (submitted["side"], submitted["price"]) == ("SELL", 2003.00)
    (fill,) = result.of("entry_fill")
    assert (fill["price"], fill["take_profit"], fill["stop"]) == (2003.00, 1999.99, 2008.00)
    (exit_,) = result.of("exit")
    assert exit_["reason"] == "SL"
    assert exit_["side"] == "SELL"
    # The stop fills at the print that triggered it (no spread in trade-only data): 2008.50.
    assert exit_["exit_price"] == 2008.50
    # 2000 USDT / 2003 = 0.9985 -> 0.99 ETH (floored to the lot step).
    assert exit_["quantity"] == 0.99
    fees = 0.99 * (2003.0 * 0.0002 + 2008.5 * 0.00055)  # maker entry, taker stop
    assert exit_["fees"] == pytest.approx(fees)
    assert exit_["pnl"] == pytest.approx(-5.5 * 0.99 - fees)


def test_position_closed_at_market_30_minutes_after_the_fill(tmp_path: Path) -> None:
    prices = [(0, 2000.0), (10, 1996.0)] + [(60 * m, 1996.5) for m in range(1, 40)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS)
    (fill,) = result.of("entry_fill")
    (exit_,) = result.of("exit")
    assert exit_["reason"] == "TIMEOUT"
    # The timer fires at fill + 30 min and the market order fills at once against the last
    # print (trade-only data has no spread): 1996.50.
    assert exit_["exit_ns"] == fill["ts"] + 30 * 60 * S
    assert exit_["exit_price"] == 1996.5


def T0_PLUS(seconds: float) -> int:  # noqa: N802 (reads like the constant it offsets)
    from tests.strategies.harness import T0

    return T0 + int(seconds * S)


def test_unfilled_entry_cancelled_after_30_minutes(tmp_path: Path) -> None:
    prices = [(0, 2000.0)] + [(60 * m, 1999.0) for m in range(1, 40)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS)
    (submitted,) = result.of("entry_submitted")
    (unfilled,) = result.of("entry_unfilled")
    assert unfilled["ts"] == submitted["ts"] + 30 * 60 * S
    assert result.of("entry_fill") == [] and result.of("exit") == []


def test_one_position_per_symbol_and_cooldown_after_close(tmp_path: Path) -> None:
    # Cascades more than 60 s apart (closer ones extend the same window).
    prices = [(0, 2000.0), (10, 1996.0), (100, 1998.0), (300, 2000.5)]
    prices += [(30 * k, 2001.0) for k in range(11, 40)]
    holding = [liquidation(100, LONG, 100_000), liquidation(101, LONG, 100_000)]
    in_cooldown = [liquidation(400, LONG, 100_000), liquidation(401, LONG, 100_000)]
    after = [liquidation(700, LONG, 100_000), liquidation(701, LONG, 100_000)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS + holding + in_cooldown + after)
    assert len(result.of("cascade")) == 4
    reasons = [s["reason"] for s in result.of("skip")]
    assert reasons == ["position or entry already working", "cooldown for 199 s"]
    (first_exit,) = result.of("exit")
    assert first_exit["exit_ns"] == T0_PLUS(300)
    submitted = result.of("entry_submitted")
    assert [s["declared_ns"] for s in submitted] == [T0_PLUS(6) + 1, T0_PLUS(701) + 1]


def test_partial_fills_resize_one_take_profit_and_one_stop(tmp_path: Path) -> None:
    # Entry 1.00 ETH at 1997; prints through the limit of 0.40 then 0.60 ETH. Bybit allows 10
    # conditional orders per symbol: one exit pair, amended to the position, never one per fill.
    points = [(T0_PLUS(0), 2000.0, 5.0), (T0_PLUS(10), 1996.5, 0.4), (T0_PLUS(20), 1996.0, 0.6)]
    points += [(T0_PLUS(30), 2000.5, 5.0)]
    result = run(tmp_path, points, CASCADE_LONGS)
    fills = result.of("entry_fill")
    assert [(f["price"], f["quantity"]) for f in fills] == [(1997.0, 0.4), (1997.0, 0.6)]
    exits = [o for o in result.engine.cache.orders() if o.is_reduce_only]
    assert sorted((o.order_type.name, float(o.quantity)) for o in exits) == [
        ("LIMIT", 1.0),
        ("STOP_MARKET", 1.0),
    ]
    (exit_,) = result.of("exit")
    assert (exit_["reason"], exit_["quantity"]) == ("TP", 1.0)


def test_post_only_rejection_reprices_once(tmp_path: Path) -> None:
    # 1 s order latency: the market falls to 1996 before the BUY 1997 arrives (7 s), so the
    # post-only order would take liquidity and is rejected; it is re-priced from 1996 -> 1993.00,
    # which arrives at 8 s, before the market trades through it at 20 s.
    prices = [(0, 2000.0), (6.5, 1996.0), (10, 1996.0), (11, 1996.0), (12, 1996.0)]
    prices += [(20, 1992.5), (30, 1999.0)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS, order_latency_ms=1000)
    (rejected,) = result.of("entry_rejected")
    assert rejected["post_only"] is True
    first, second = result.of("entry_submitted")
    assert (first["price"], first["repriced"]) == (1997.0, False)
    assert (second["price"], second["repriced"]) == (1993.0, True)
    assert [f["price"] for f in result.of("entry_fill")] == [1993.0]


def test_post_only_rejection_skips_when_repricing_is_off(tmp_path: Path) -> None:
    prices = [(0, 2000.0), (6.5, 1996.0), (10, 1996.0), (20, 1992.5), (30, 1999.0)]
    result = run(
        tmp_path,
        trades(prices),
        CASCADE_LONGS,
        order_latency_ms=1000,
        reprice_on_post_only_reject=False,
    )
    assert len(result.of("entry_submitted")) == 1
    assert result.of("entry_fill") == []


def test_daily_loss_limit_halts_until_the_next_day(tmp_path: Path) -> None:
    # 10 000 USDT account, 50 000 USDT per trade: one stop costs ~0.3 % x 50k = ~150 > 1 %.
    day = 86_400
    prices = [(0, 2000.0), (10, 1996.0), (20, 1991.0), (40, 1990.0)]
    prices += [(300, 1990.0), (day - 600, 1990.0), (day + 50, 1990.0), (day + 100, 1990.0)]
    again = [liquidation(400, LONG, 100_000), liquidation(401, LONG, 100_000)]  # after cooldown
    next_day = [liquidation(day + 60, LONG, 100_000), liquidation(day + 61, LONG, 100_000)]
    result = run(
        tmp_path,
        trades(prices, size=100.0),  # prints large enough to fill the 25 ETH stop at once
        CASCADE_LONGS + again + next_day,
        balance=10_000,
        trade_notional=50_000,
        min_history=1000,
        history=1000,
    )
    assert result.of("exit")[0]["reason"] == "SL"
    (skip,) = result.of("skip")
    assert skip["reason"].startswith("daily loss limit reached")
    assert [s["declared_ns"] for s in result.of("entry_submitted")] == [
        T0_PLUS(6) + 1,
        T0_PLUS(day + 61) + 1,
    ]


def test_loss_limits_are_account_wide(tmp_path: Path) -> None:
    # ETH stops out ~150 USDT (> 1 % of 10 000); SOL's cascade after that is refused, SOL's
    # cascade alone is taken.
    eth_prices = [(0, 2000.0), (10, 1996.0), (20, 1991.0), (40, 1990.0), (300, 1990.0)]
    eth = (trades(eth_prices, size=100.0), CASCADE_LONGS, {"trade_notional": 50_000})
    sol_prices = [(0, 150.0), (390, 150.0), (450, 150.0)]
    sol_cascade = [
        liquidation(400, LONG, 100_000, price=150.0),
        liquidation(401, LONG, 100_000, price=150.0),
    ]
    common = {"balance": 10_000, "symbol": "SOLUSDT", "trade_notional": 1_000}
    sol = trades(sol_prices)
    with_loss = run(tmp_path, sol, sol_cascade, companions={"ETHUSDT": eth}, **common)
    eth_exits = [e for e in with_loss.companion_events["ETHUSDT"] if e["event"] == "exit"]
    assert [e["reason"] for e in eth_exits] == ["SL"]
    (skip,) = with_loss.of("skip")
    assert skip["reason"].startswith("daily loss limit reached")
    assert with_loss.of("entry_submitted") == []
    alone = run(tmp_path, sol, sol_cascade, **common)
    assert len(alone.of("entry_submitted")) == 1


def test_trading_hours_filter(tmp_path: Path) -> None:
    # T0 is 14:00 UTC: inside 13-18, outside 15-18.
    prices = [(0, 2000.0), (30, 2000.0)]
    inside = run(tmp_path, trades(prices), CASCADE_LONGS, trading_hours=[13, 18])
    assert len(inside.of("entry_submitted")) == 1
    outside = run(tmp_path, trades(prices), CASCADE_LONGS, trading_hours=[15, 18])
    assert outside.of("entry_submitted") == []
    assert outside.of("skip")[0]["reason"] == "outside trading hours 15-18 UTC"


def test_blackout_window_and_tie_side_skip(tmp_path: Path) -> None:
    prices = [(0, 2000.0), (30, 2000.0)]
    blackout = [["2025-03-03T13:30:00Z", "2025-03-03T14:30:00Z"]]
    result = run(tmp_path, trades(prices), CASCADE_LONGS, blackouts=blackout)
    assert result.of("skip")[0]["reason"] == "blackout window"
    tie = [liquidation(5, LONG, 100_000), liquidation(6, SHORT, 100_000)]
    result = run(tmp_path, trades(prices), tie)
    assert result.of("skip")[0]["reason"] == "no dominant side (equal notional)"


def test_btc_parameters_come_from_the_config_file(tmp_path: Path) -> None:
    from liqcascade.backtests.run_config import load_runs

    config = Path(__file__).resolve().parents[2] / "configs" / "backtest_sample.toml"
    # BTC trades only at 0 % maker (the guide): its parameters are in the 0 bps run.
    btc = load_runs(config, ["venue.maker_fee_bps=0"], scenarios=False)[0].strategies["BTCUSDT"]
    assert (btc["entry_offset"], btc["take_profit"], btc["stop_loss"]) == (0.001, 0.005, 0.0025)
    params = {
        k: v for k, v in btc.items() if k not in ("warm_threshold", "trade_notional")
    }  # 2000 USDT per trade below, as the expected prices were worked out
    prices = [(0, 90_000.0), (10, 89_900.0), (12, 89_880.0), (60, 90_500.0)]
    cascade = [
        liquidation(5, LONG, 300_000, price=90_000.0),
        liquidation(6, LONG, 300_000, price=90_000.0),
    ]
    result = run(
        tmp_path,
        trades(prices, size=1.0),
        cascade,
        symbol="BTCUSDT",
        warm_threshold=btc["warm_threshold"],
        **params,
    )
    (submitted,) = result.of("entry_submitted")
    # 90 000 * (1 - 0.0010) = 89 910.0 (tick 0.10); TP 89 910 * 1.005 = 90 359.55 -> 90 359.60;
    # SL 89 910 * 0.9975 = 89 685.225 -> up to 89 685.30. 2000 USDT -> 0.022 BTC.
    assert (submitted["price"], submitted["quantity"]) == (89_910.0, 0.022)
    (fill,) = result.of("entry_fill")
    assert (fill["take_profit"], fill["stop"]) == (90_359.6, 89_685.3)
    assert result.of("exit")[0]["reason"] == "TP"
