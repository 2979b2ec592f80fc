"""Trade windows: where a cascade stops needing prints (pure functions, no engine).

The end-to-end guarantee - identical orders, fills and PnL with and without windows - is in
``test_runner.py``; these pin each branch of the replayed entry rule.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from backtests.execution_view import WINDOW_MARGIN_NS
from backtests.execution_view import WindowRules
from backtests.execution_view import cascade_end
from backtests.execution_view import cascade_windows
from backtests.execution_view import window_rules
from strategies.order_prices import BUY
from strategies.order_prices import SELL

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


def _end(side: str, *prints: tuple[float, str]) -> int:
    ts = np.array([int(t * S) for t, _ in prints], dtype=np.int64)
    ticks = np.array([int(Decimal(p) / TICK) for _, p in prints], dtype=np.int64)
    return cascade_end(DECLARED, side, RULES, TICK, ts, ticks)


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


def test_sell_side_is_the_mirror() -> None:
    assert _end(SELL, (999, "2000.00"), (1500, "2002.99")) == ARRIVAL + WINDOW_MARGIN_NS
    assert _end(SELL, (999, "2000.00"), (1500, "2003.01")) == _after_fill(1500 * S)


def test_limit_reached_before_the_order_arrives_keeps_the_full_span() -> None:
    # Post-only may reject and re-price: not replayed, so nothing is cut.
    assert _end(BUY, (999, "2000.00"), (1000.05, "1997.00"), (1500, "2001")) == FULL


def test_no_reference_price_keeps_the_full_span() -> None:
    assert _end(BUY, (1000.5, "2000.00")) == FULL


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
    whole = cascade_windows(liquidations, strategy, 0, [(ts, ticks)], TICK)
    chunks = [(ts[i : i + chunk], ticks[i : i + chunk]) for i in range(0, len(ts), chunk)]
    assert cascade_windows(liquidations, strategy, 0, iter(chunks), TICK) == whole
    full = cascade_windows(liquidations, strategy)
    assert len(whole) == len(full) == len(declared)  # one per cascade, all far apart
    for (start, end), (full_start, full_end) in zip(whole, full, strict=True):
        assert start == full_start
        assert start < end <= full_end
        assert end <= start + window_rules(strategy).full_span_ns
    assert sum(e - s for s, e in whole) < 0.5 * sum(e - s for s, e in full)
