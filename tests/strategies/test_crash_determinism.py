"""No System B decision depends on the order in which bars of one close time arrive.

The same bars go through a real engine in several orders: within each time stamp the bars are
shuffled (the engine's sort by ``ts_init`` is stable, so they arrive in the shuffled order). The
event logs - crash events, skips, entries, exits with their PnL - and the fills must be
identical. The market is the reference test's (``tests/backtests/seed_market.py``): under the
trailing rules BTC's hold ends on the bar of a new BTC crash, the case where the old strategy's
choice to buy again depended on which bar arrived first.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.strategies.bar_harness import BarRun
from tests.strategies.bar_harness import run_engine

HOUR = 3600 * 10**9


def _catalog_data(catalog: Path) -> tuple[list[Any], list[Any]]:
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    reader = ParquetDataCatalog(str(catalog))
    instruments = sorted(reader.instruments(), key=lambda i: i.id.value)
    return instruments, list(reader.bars())


def _shuffled(bars: list[Any], seed: int) -> list[Any]:
    rng = random.Random(seed)
    return sorted(bars, key=lambda b: (b.ts_init, rng.random()))


def _arrivals(bars: list[Any]) -> list[str]:
    return [b.bar_type.instrument_id.value for b in bars]


def _fills(run: BarRun) -> list[tuple]:
    return sorted(
        (f.ts_event, f.instrument_id.value, f.order_side.name, str(f.last_px), str(f.last_qty))
        for f in run.fills()
    )


#: Strategy parameters and the shipped run whose venue (fees) applies.
RULES = {
    "trailing": ({}, "backtest_crash_reversion", ["venue.maker_fee_bps=0"]),  # taker 10 bps
    "seed": ({"rules": "seed"}, "backtest_crash_seed", []),  # a flat 0.2 % per round trip
}


@pytest.mark.parametrize("rules", list(RULES))
def test_shuffling_the_bars_of_each_close_changes_no_decision(
    rules: str, seed_edge_catalog: Path, tmp_path: Path
) -> None:
    instruments, bars = _catalog_data(seed_edge_catalog)
    params, config, venue = RULES[rules]
    orders = [_shuffled(bars, seed) for seed in range(4)]
    assert len({tuple(_arrivals(o)) for o in orders}) == 4  # four different arrival orders
    runs = [run_engine(tmp_path, instruments, order, venue, config, **params) for order in orders]
    first = runs[0]
    assert first.of("exit"), "the market should trade"
    for other in runs[1:]:
        assert other.events == first.events
        assert _fills(other) == _fills(first)


def test_trailing_rules_sell_and_buy_back_when_a_hold_ends_on_a_new_crash(
    seed_edge_catalog: Path, tmp_path: Path
) -> None:
    instruments, bars = _catalog_data(seed_edge_catalog)
    _, config, venue = RULES["trailing"]
    run = run_engine(tmp_path, instruments, _shuffled(bars, 7), venue, config)
    btc = [e for e in run.events if e.get("symbol") == "BTCUSDT"]
    crashes = [e["event_ns"] for e in run.of("crash") if "BTCUSDT" in e["assets"]]
    # BTC crashes at 260 and again at 262, when its 2-bar hold from 260 ends.
    second = next(t for t in crashes if t - 2 * HOUR in crashes)
    exits = [e for e in btc if e["event"] == "exit" and e["exit_ns"] == second]
    entries = [e for e in btc if e["event"] == "entry_fill" and e["ts"] == second]
    assert len(exits) == 1 and len(entries) == 1  # sold, then bought back at the same close
    assert not [e for e in btc if e["event"] == "skip"]
