"""The position's one take-profit and one stop: placed, resized, replaced, refused.

The pure parts directly; the rest in a real BacktestEngine (``tests/strategies/harness.py``).
A stop refused for a transient reason and retried needs a venue that refuses one: that is in
``tests/live/test_live_node.py`` (the Bybit-protocol venue).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig
from liqcascade.strategies.position_exits import stop_already_crossed
from tests.strategies.harness import T0
from tests.strategies.harness import S
from tests.strategies.harness import liquidation
from tests.strategies.harness import run
from tests.strategies.harness import trades

CASCADE_LONGS = [liquidation(5, "LONG", 100_000), liquidation(6, "LONG", 120_000)]


def test_a_stop_refused_because_its_trigger_crossed_is_recognised() -> None:
    crossed = [
        "110092: expect Rising, but trigger_price[199200] <= current[199100]",
        "110093 expect Falling",
        "STOP_MARKET SELL order stop px of 1992.01 was in the market: bid=1991.00, ask=1991.00",
    ]
    assert all(stop_already_crossed(reason) for reason in crossed)
    for transient in ("10006: Too many visits", "Order placement failed", "", None):
        assert not stop_already_crossed(transient)


def test_native_stop_params_carry_the_stop_priced_from_the_entry() -> None:
    instrument = to_instrument(load_specs()["ETHUSDT"])
    config = dict(instrument_id=str(instrument.id), warm_threshold=80_000.0)
    native = CascadeMarketMaker(
        CascadeMarketMakerConfig(**config, native_stop=True, stop_trigger="MARK_PRICE")
    )
    native.instrument = instrument
    native.trade.side = "BUY"
    # BUY 1997 -> stop 1997 * 0.9975 = 1992.0075, rounded towards the entry.
    assert native.exits.native_stop_params(Decimal("1997.00")) == {
        "stop_loss": "1992.01",
        "tpsl_mode": "Full",
        "sl_order_type": "Market",
        "sl_trigger_by": "MarkPrice",
    }
    own_stop = CascadeMarketMaker(CascadeMarketMakerConfig(**config))
    own_stop.instrument = instrument
    assert own_stop.exits.native_stop_params(Decimal("1997.00")) is None


def test_a_stop_whose_trigger_crossed_before_it_arrived_closes_at_once(tmp_path: Path) -> None:
    # Filled at 10 s; the exits arrive 1 s later, after the market fell through the stop
    # (1992.01) at 10.5 s: the venue refuses the stop, the position is closed at market.
    prices = [(0, 2000.0), (10, 1996.5), (10.5, 1991.0), (11.5, 1991.0), (12, 1990.0)]
    prices += [(13, 1990.0), (20, 1990.0)]
    result = run(tmp_path, trades(prices), CASCADE_LONGS, order_latency_ms=1000)
    (rejected,) = result.of("exit_rejected")
    assert rejected["role"] == "SL" and "in the market" in rejected["reason"]
    assert result.of("stop_retry") == []  # no retry: the stop would have fired
    (close,) = result.of("market_close")
    assert (close["reason"], close["ts"]) == ("SL", rejected["ts"])
    (exit_,) = result.of("exit")
    assert exit_["reason"] == "SL"


def test_exits_still_waiting_out_the_latency_are_resized_before_they_are_sent(
    tmp_path: Path,
) -> None:
    # 0.4 then 0.6 ETH fill within the order latency of the first fill's exits: the 0.4 exits
    # are replaced by 1.0 exits before anything is sent - the venue sees one pair only.
    points = [(T0, 2000.0, 5.0), (T0 + 10 * S, 1996.5, 0.4), (T0 + 10 * S + S // 2, 1996.0, 0.6)]
    points += [(T0 + 12 * S, 1998.0, 5.0), (T0 + 30 * S, 2000.5, 5.0)]
    result = run(tmp_path, points, CASCADE_LONGS, order_latency_ms=1000)
    assert [f["quantity"] for f in result.of("entry_fill")] == [0.4, 0.6]
    # The cache learns an order when it is sent: the withdrawn 0.4 pair never was.
    exits = [o for o in result.engine.cache.orders() if o.is_reduce_only]
    assert sorted((o.order_type.name, float(o.quantity)) for o in exits) == [
        ("LIMIT", 1.0),
        ("STOP_MARKET", 1.0),
    ]
    (exit_,) = result.of("exit")
    assert (exit_["reason"], exit_["quantity"]) == ("TP", 1.0)
