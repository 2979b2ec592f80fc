"""CascadeMarketMaker in a real BacktestEngine: every rule of the guide on crafted data."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    raw = run(tmp_path, trades(touch_then_up), CASCADE_LONGS, raw_aggressors=True)
    assert [f["ts"] for f in raw.of("entry_fill")] == [
        raw.of("entry_submitted")[0]["ts"] + 24 * S - 1
    ]
