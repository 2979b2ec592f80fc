"""Trade windows: where a cascade stops needing prints (pure functions, no engine).

The end-to-end guarantee - identical orders, fills and PnL with and without windows - is in
``test_runner.py``; these pin each branch of the replayed entry rule.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from liqcascade.backtests.trade_windows import EXIT_MARGIN_NS
from liqcascade.backtests.trade_windows import FILLABLE
from liqcascade.backtests.trade_windows import UNFILLED
from liqcascade.backtests.trade_windows import WINDOW_MARGIN_NS
from liqcascade.backtests.trade_windows import CascadeSpan
from liqcascade.backtests.trade_windows import Grid
from liqcascade.backtests.trade_windows import Prints
from liqcascade.backtests.trade_windows import WindowRules
from liqcascade.backtests.trade_windows import cascade_span
from liqcascade.backtests.trade_windows import cascade_spans
from liqcascade.backtests.trade_windows import cascade_windows
from liqcascade.backtests.trade_windows import window_rules
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL

S = 1_000_000_000
TICK = Decimal("0.01")
RULES = WindowRules(
    entry_offset=Decimal("0.0015"),
    entry_timeout_ns=1800 * S,
    max_hold_ns=1800 * S,
    latency_ns=100_000_000,
)
DECLARED = 1000 * S
ARRIVAL = DECLARED + RULES.latency_ns
DEADLINE = DECLARED + RULES.entry_timeout_ns
FULL = DECLARED + RULES.full_span_ns
# Reference 2000.00: a BUY rests at 1997.00, a SELL at 2003.00.


GRID = Grid(TICK, Decimal("0.01"), Decimal("0.01"))  # 2000 USDT at 1997 -> 1.00 ETH


def _prints(*prints: tuple) -> Prints:
    """``(seconds, price[, size])``; size 100 unless given."""
    return Prints(
        np.array([int(p[0] * S) for p in prints], dtype=np.int64),
        np.array([int(Decimal(p[1]) / TICK) for p in prints], dtype=np.int64),
        np.array([p[2] if len(p) > 2 else 100.0 for p in prints], dtype=np.float64),
    )


def _span(side: str, *prints: tuple) -> CascadeSpan:
    return cascade_span(DECLARED, side, RULES, GRID, _prints(*prints))


def _end(side: str, *prints: tuple[float, str]) -> int:
    """The proven end."""
    return _span(side, *prints).safe_end_ns


def _after_fill(first_fill_ns: int) -> int:
    return first_fill_ns + RULES.max_hold_ns + WINDOW_MARGIN_NS + 4 * RULES.latency_ns


def test_no_print_reaches_the_limit_ends_after_arrival() -> None:
    end = _end(BUY, (999, "2000.00"), (1000.05, "1999.00"), (1500, "1997.01"), (2700, "1998"))
    assert end == ARRIVAL + WINDOW_MARGIN_NS


def test_a_print_through_the_limit_after_the_deadline_does_not_count() -> None:
    end = _end(BUY, (999, "2000.00"), (1500, "1998.00"), (1000 + 1800.001, "1990.00"))
    assert end == ARRIVAL + WINDOW_MARGIN_NS


def test_first_print_through_bounds_the_first_fill() -> None:
    end = _end(BUY, (999, "2000.00"), (1500, "1997.00"), (1600, "1996.99"), (1700, "1990"))
    assert end == _after_fill(1600 * S)


def test_touches_only_keep_the_position_possible_until_the_deadline() -> None:
    # Optimistic fills take a touch, conservative never: bound by the entry deadline.
    end = _end(BUY, (999, "2000.00"), (1500, "1997.00"), (1600, "1998.00"))
    assert end == _after_fill(DEADLINE)


def test_touches_only_keep_the_speculative_window_open_until_the_cancel() -> None:
    # The touch's exit is replayed at 1530, but a conservative venue never fills the entry:
    # it rests until its cancel at the deadline, which the window must still hold.
    span = _span(BUY, (999, "2000.00"), (1500, "1997.00"), (1530, "2000.01"), (2000, "1998"))
    assert span.kind == FILLABLE
    assert span.end_ns == _after_exit(DEADLINE)
    # A print through the limit bounds the fill: the exit ends the window as before.
    span = _span(BUY, (999, "2000.00"), (1500, "1996.99"), (1530, "2000.01"), (2000, "1998"))
    assert span.end_ns == _after_exit(1530 * S)


def test_a_start_bound_drops_earlier_liquidations_and_prints() -> None:
    # Cascades before the run's start are not the run's; neither is a reference print.
    liquidations = _liquidations([500.0, 1000.0])  # large pairs at 490/500 s and 990/1000 s
    strategy = {"warm_threshold": 10_000.0}
    prints = _prints((400, "2010.00"), (999, "2000.00"), (1500, "1998.00"))
    every = cascade_spans(liquidations, strategy, 0, [prints], GRID)
    assert [s.declared_ns for s in every] == [500 * S, 1000 * S]
    later = cascade_spans(liquidations, strategy, 0, [prints], GRID, start_ns=985 * S)
    assert [s.declared_ns for s in later] == [1000 * S]
    assert later[0].limit == 1997.00  # from the print at 999 s, after the start
    # Without a print between the start and the cascade, the run has no reference price.
    early = _prints((400, "2010.00"), (1500, "1998.00"))
    (span,) = cascade_spans(liquidations, strategy, 0, [early], GRID, start_ns=985 * S)
    assert span.limit is None


def test_sell_side_is_the_mirror() -> None:
    assert _end(SELL, (999, "2000.00"), (1500, "2002.99")) == ARRIVAL + WINDOW_MARGIN_NS
    assert _end(SELL, (999, "2000.00"), (1500, "2003.01")) == _after_fill(1500 * S)


def test_limit_reached_before_the_order_arrives_keeps_the_full_span() -> None:
    # Post-only may reject and re-price: not replayed, so nothing is cut.
    assert _end(BUY, (999, "2000.00"), (1000.05, "1997.00"), (1500, "2001")) == FULL


def test_no_reference_price_keeps_the_full_span() -> None:
    assert _end(BUY, (1000.5, "2000.00")) == FULL


def _after_exit(exit_ns: int) -> int:
    return exit_ns + EXIT_MARGIN_NS + 4 * RULES.latency_ns


def test_unfilled_entries_are_proven_so_nothing_is_speculative() -> None:
    span = _span(BUY, (999, "2000.00"), (1500, "1998.00"))
    assert span.kind == UNFILLED
    assert span.end_ns == span.safe_end_ns == ARRIVAL + WINDOW_MARGIN_NS
    assert span.limit == 1997.00


def test_speculative_end_follows_the_take_profit() -> None:
    # Fill at 1997.00 (touch at 1500, through at 1501); TP 2000.00, stop 1992.01.
    span = _span(
        BUY,
        (999, "2000.00"),
        (1500, "1997.00"),
        (1501, "1996.99"),
        (1530, "2000.00"),  # touches the TP: conservative does not fill yet
        (1540, "2000.01"),  # through the TP
        (1600, "1990.00"),
    )
    assert span.kind == FILLABLE
    assert span.safe_end_ns == _after_fill(1501 * S)
    assert span.end_ns == _after_exit(1540 * S)


def test_speculative_end_follows_the_stop() -> None:
    span = _span(BUY, (999, "2000.00"), (1500, "1996.99"), (1550, "1992.01"), (1600, "2001"))
    assert span.end_ns == _after_exit(1550 * S)


def test_speculative_end_takes_the_later_of_the_touch_and_through_fills() -> None:
    # From the touch at 1500 the TP print at 1510 exits; filled only at 1520 (through), the
    # position waits for the next TP print at 1700.
    span = _span(
        BUY,
        (999, "2000.00"),
        (1500, "1997.00"),
        (1510, "2000.01"),
        (1520, "1996.99"),
        (1700, "2000.01"),
    )
    assert span.end_ns == _after_exit(1700 * S)


def test_speculative_take_profit_needs_prints_covering_the_position() -> None:
    # 1.00 ETH: prints through the TP of 0.4, 0.4 (a touch of 5 does not count), then 0.4.
    span = _span(
        BUY,
        (999, "2000.00"),
        (1500, "1996.99"),
        (1540, "2000.01", 0.4),
        (1550, "2000.02", 0.4),
        (1560, "2000.00", 5.0),
        (1570, "1999.00", 5.0),
        (1580, "2000.01", 0.4),
    )
    assert span.end_ns == _after_exit(1580 * S)


def test_speculative_stop_walks_prints_until_the_position_is_closed() -> None:
    span = _span(
        BUY,
        (999, "2000.00"),
        (1500, "1996.99"),
        (1550, "1992.00", 0.5),  # triggers the stop, fills half
        (1560, "1995.00", 0.3),
        (1570, "1996.00", 0.3),  # the market close is done here
    )
    assert span.end_ns == _after_exit(1570 * S)


def test_speculative_end_without_an_exit_is_the_max_hold() -> None:
    span = _span(SELL, (999, "2000.00"), (1500, "2003.01"), (1600, "2001.00"))
    assert span.end_ns == span.safe_end_ns == _after_fill(1500 * S)


def _liquidations(declared_s: list[float]) -> pa.Table:
    ts = sorted(int(t * S) + shift for t in declared_s for shift in (-10 * S, 0))
    n = len(ts)
    return pa.table(
        {
            "ts_init": pa.array(ts, pa.int64()),
            "ts_event": pa.array(ts, pa.int64()),
            "side": ["LONG"] * n,
            "notional": [50_000.0] * n,
            "price": [2000.0] * n,
        }
    )


@pytest.mark.parametrize("chunk", [1, 7, 1000, 100_000])
def test_windows_do_not_depend_on_how_prints_are_chunked(chunk: int) -> None:
    rng = np.random.default_rng(3)
    ts = np.cumsum(rng.integers(1, 20 * S, 100_000)).astype(np.int64)
    ticks = (200_000 + np.cumsum(rng.integers(-40, 41, len(ts)))).astype(np.int64)
    strategy = {"warm_threshold": 10_000.0}
    declared = [float(t) / S for t in ts[:: len(ts) // 40][1:]]
    liquidations = _liquidations(declared)
    sizes = rng.uniform(0.01, 2.0, len(ts))
    whole_prints = Prints(ts, ticks, sizes)
    spans = cascade_spans(liquidations, strategy, 0, [whole_prints], GRID)
    chunks = [
        Prints(ts[i : i + chunk], ticks[i : i + chunk], sizes[i : i + chunk])
        for i in range(0, len(ts), chunk)
    ]
    assert cascade_spans(liquidations, strategy, 0, iter(chunks), GRID) == spans
    whole = cascade_windows(spans, speculative=False)
    assert all(s.end_ns <= s.safe_end_ns for s in spans)
    full = cascade_windows(cascade_spans(liquidations, strategy))
    assert len(whole) == len(full) == len(declared)  # one per cascade, all far apart
    for (start, end), (full_start, full_end) in zip(whole, full, strict=True):
        assert start == full_start
        assert start < end <= full_end
        assert end <= start + window_rules(strategy).full_span_ns
    assert sum(e - s for s, e in whole) < 0.5 * sum(e - s for s, e in full)
