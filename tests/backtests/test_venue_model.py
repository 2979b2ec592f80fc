"""The venue the runner configures, proven through run config -> runner -> BacktestNode.

Each test fails if its rule is broken in the runner or the fee model: conservative fills on a
touch, maker and taker rates swapped, latency ignored, a timer set in a settle seen late
(``strategies/settled_timers.py``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.backtests.scenario import Market
from tests.backtests.scenario import at
from tests.backtests.scenario import events_of
from tests.backtests.scenario import run_market


def view_trade_folders(root: Path) -> dict[str, int]:
    """Each trade folder of the run's execution view(s) and its number of prints."""
    folders: dict[str, int] = {}
    for f in (root / "exec_views").glob("*/data/trade_tick/*/*.parquet"):
        folders[f.parent.name] = folders.get(f.parent.name, 0) + pq.read_metadata(f).num_rows
    return folders


# Cascade declared at 6 s; reference = the last print before it (2000.00) -> BUY 1997.00.
TOUCH = [(0, 2000.0, 5), (10, 1997.0, 5), (20, 1999.0, 5), (2000, 1999.0, 5)]


@pytest.mark.parametrize(("fills", "filled"), [("optimistic", True), ("conservative", False)])
def test_a_print_at_the_limit_fills_only_optimistically(
    tmp_path: Path, fills: str, filled: bool
) -> None:
    run = run_market(tmp_path, Market(TOUCH), fills=fills, latency_ms=0)
    (entry,) = run.of("entry_submitted")
    assert (entry["side"], entry["price"]) == ("BUY", 1997.0)
    assert bool(run.of("entry_fill")) is filled


@pytest.mark.parametrize("fills", ["optimistic", "conservative"])
def test_a_print_through_the_limit_fills_in_both_modes_capped_by_its_size(
    tmp_path: Path, fills: str
) -> None:
    prints = [(0, 2000.0, 5), (10, 1996.5, 0.4), (12, 1996.0, 0.3), (20, 2003.0, 5)]
    prints += [(2000, 2003.0, 5)]
    run = run_market(tmp_path, Market(prints), fills=fills, latency_ms=0)
    fills_seen = [(f["ts"], f["price"], f["quantity"]) for f in run.of("entry_fill")]
    # 2000 USDT / 1997 = 1.0015 -> 1.00 ETH; each print fills at most its own size, at the limit.
    assert fills_seen == [(at(10), 1997.0, 0.4), (at(12), 1997.0, 0.3)]


def test_maker_fee_on_entries_and_take_profits_taker_on_stops_and_timeouts(
    tmp_path: Path,
) -> None:
    # Trade 1: entry 1997.00 (maker), TP 1997 x 1.0015 = 1999.9955 -> 2000.00 (maker).
    # Trade 2 (cascade at 306 s): entry 1997.00, stop 1992.00 -> fills at the print that
    # triggers it, 1991.00 (taker). Trade 3 (cascade at 606 s): entry 1997.00, no exit until
    # max hold -> market close (taker) at 1998.00.
    prints = [(0, 2000.0, 5), (10, 1996.0, 5), (20, 2001.0, 5)]
    prints += [(300, 2000.0, 5), (310, 1996.0, 5), (320, 1991.0, 5)]
    prints += [(600, 2000.0, 5), (610, 1996.0, 5), (620, 1998.0, 5), (2420, 1998.0, 5)]
    liquidations = [
        (t + dt, "LONG", 2000.0, q) for t in (0, 300, 600) for dt, q in ((5, 50), (6, 60))
    ]
    run = run_market(
        tmp_path,
        Market(prints, liquidations),
        fills="conservative",
        latency_ms=0,
        maker_fee_bps=1.0,
        taker_fee_bps=7.0,
    )
    entries = run.of("entry_fill")
    exits = run.of("exit_fill")
    assert [e["commission"] for e in entries] == [pytest.approx(1.0 * 1997.0 * 1e-4)] * 3
    reasons = [(e["reason"], e["price"], e["commission"]) for e in exits]
    assert reasons == [
        ("TP", 2000.0, pytest.approx(1.0 * 2000.0 * 1e-4)),
        ("SL", 1991.0, pytest.approx(1.0 * 1991.0 * 7e-4)),
        ("TIMEOUT", 1998.0, pytest.approx(1.0 * 1998.0 * 7e-4)),
    ]


def test_order_latency_delays_arrival_by_exactly_the_configured_time(tmp_path: Path) -> None:
    # Declared at 6 s + 1 ns; 250 ms latency -> the BUY 1997 reaches the venue at 6.250 s + 1 ns.
    # A print through it at 6.249 s is before it exists; the market is back at 1998 on arrival;
    # the print at 6.251 s fills it.
    prints = [(0, 2000.0, 5), (6.249, 1996.5, 5), (6.2495, 1998.0, 5), (6.251, 1996.9, 5)]
    prints += [(20, 2001.0, 5), (2000, 2001.0, 5)]
    run = run_market(tmp_path, Market(prints), fills="conservative", latency_ms=250)
    (submitted,) = run.of("entry_submitted")
    assert submitted["ts"] == at(6) + 1
    assert [f["ts"] for f in run.of("entry_fill")] == [at(6.251)]


def test_a_repriced_entry_meets_the_book_of_its_own_arrival(tmp_path: Path) -> None:
    """Post-only rejection -> re-price -> the new order arrives 1 s later, long before the
    next print (20 s). It must be judged against the book at its arrival (1996.00), not the 20 s
    print it would be rejected by (1992.50)."""
    prints = [(0, 2000.0, 5), (6.5, 1996.0, 5), (20, 1992.5, 5), (30, 1999.0, 5)]
    prints += [(2000, 1999.0, 5)]
    run = run_market(tmp_path, Market(prints), fills="conservative", latency_ms=1000)
    (rejected,) = run.of("entry_rejected")  # BUY 1997 arrives at 7 s into bid = ask = 1996
    assert rejected["post_only"]
    first, second = run.of("entry_submitted")
    assert (first["price"], second["price"], second["repriced"]) == (1997.0, 1993.0, True)
    assert [(f["ts"], f["price"]) for f in run.of("entry_fill")] == [(at(20), 1993.0)]


def test_a_repriced_entry_is_on_time_between_dense_and_sparse_prints_without_filler_data(
    tmp_path: Path,
) -> None:
    """As above with the next print 1.5 s after dense ones (latency 1 s): the re-priced BUY 1993
    is due at 8 s, between the 6.7 s and 8.2 s prints; it rests, and the 8.2 s print at 1992.50
    trades through it. The strategy's settle alerts do it: the view holds the real prints only
    (no heartbeat, no other instrument)."""
    prints = [(0, 2000.0, 5), (6.5, 1996.0, 5), (6.6, 1996.0, 5), (6.7, 1996.0, 5)]
    prints += [(8.2, 1992.5, 5), (30, 1999.0, 5), (2000, 1999.0, 5)]
    run = run_market(tmp_path, Market(prints), fills="conservative", latency_ms=1000)
    (rejected,) = run.of("entry_rejected")
    assert rejected["post_only"]
    assert [(f["ts"], f["price"]) for f in run.of("entry_fill")] == [(at(8.2), 1993.0)]
    assert view_trade_folders(tmp_path) == {"ETHUSDT-LINEAR.BYBIT": len(prints)}


def test_a_market_close_after_a_refused_stop_fills_at_its_arrival(tmp_path: Path) -> None:
    """The stop arrives (1 s latency) below the market and is refused; the market close it
    triggers arrives 1 s later and fills at the last print then (1991.00), not at the next
    print 14 s later (1980.00)."""
    prints = [(0, 2000.0, 5), (10, 1996.0, 5), (10.5, 1991.0, 5), (25, 1980.0, 5)]
    prints += [(2000, 1980.0, 5)]
    run = run_market(tmp_path, Market(prints), fills="conservative", latency_ms=1000)
    (fill,) = run.of("entry_fill")
    assert fill["ts"] == at(10)
    (refused,) = run.of("exit_rejected")
    assert refused["ts"] == at(11)  # the stop reached the venue 1 s after the fill
    (exit_,) = run.of("exit")
    assert (exit_["reason"], exit_["exit_price"], exit_["exit_ns"]) == ("SL", 1991.0, at(12))


@pytest.mark.parametrize(("probability", "filled"), [(0.0, False), (1.0, True)])
def test_the_haircut_mode_fills_a_touch_with_the_configured_probability(
    tmp_path: Path, probability: float, filled: bool
) -> None:
    run = run_market(
        tmp_path, Market(TOUCH), fills="haircut", fill_probability=probability, latency_ms=0
    )
    assert bool(run.of("entry_fill")) is filled


def test_the_exposure_cap_skips_a_cascade_on_a_further_symbol(tmp_path: Path) -> None:
    """ETH is in a trade (entry filled at 10 s, held until 2000 s) when SOL's cascade comes at
    106 s: with max_open_symbols = 1 SOL is skipped, with the default (4) it trades."""
    eth = Market([(0, 2000.0, 5), (10, 1996.0, 5), (2000, 1998.0, 5)])
    sol_liquidations = [(105.0, "LONG", 150.0, 700.0), (106.0, "LONG", 150.0, 700.0)]
    sol = Market(
        [(100, 150.0, 50), (110, 149.5, 50), (2000, 149.9, 50)], sol_liquidations, "SOLUSDT"
    )
    capped = run_market(tmp_path / "capped", [eth, sol], "strategy.defaults.max_open_symbols=1")
    (skip,) = [e for e in events_of(tmp_path / "capped" / "run", "SOLUSDT") if e["event"] == "skip"]
    assert skip["reason"].startswith("exposure cap: 1 symbols open")
    assert capped.of("entry_fill")  # ETH itself traded
    free = run_market(tmp_path / "free", [eth, sol])
    sol_events = events_of(tmp_path / "free" / "run", "SOLUSDT")
    assert [e for e in sol_events if e["event"] == "entry_fill"]
    assert free.of("entry_fill")


def test_an_entry_filled_in_pieces_gets_one_take_profit_while_exits_wait_out_latency(
    tmp_path: Path,
) -> None:
    # BUY 1.00 at 1997.00 arrives at 6.25 s; it fills 0.4 at 10 s, 0.3 at 10.1 s (the exits of
    # the first piece are still waiting out the 250 ms: they are resized, not duplicated) and
    # 0.3 at 12 s (the resting exits are amended). TP 2000.00: a print of 0.6 at 20 s and the
    # rest at 21 s. Duplicate take-profits would each take up to 0.6 of the first print.
    prints = [(0, 2000.0, 5), (10, 1996.5, 0.4), (10.1, 1996.0, 0.3), (12, 1995.5, 0.3)]
    prints += [(20, 2001.0, 0.6), (21, 2001.0, 5), (2000, 2001.0, 5)]
    run = run_market(tmp_path, Market(prints), fills="conservative", latency_ms=250)
    assert sum(e["quantity"] for e in run.of("entry_fill")) == pytest.approx(1.0)
    exits = run.of("exit_fill")
    assert len({e["order_id"] for e in exits}) == 1
    assert [(e["ts"], e["reason"], e["quantity"]) for e in exits] == [
        (at(20), "TP", pytest.approx(0.6)),
        (at(21), "TP", pytest.approx(0.4)),
    ]


def test_a_run_without_liquidation_lines_makes_the_same_decisions(tmp_path: Path) -> None:
    """``log_liquidations = false`` (what sweeps run) drops only the liquidation lines."""
    prints = [(0, 2000.0, 5), (10, 1996.0, 5), (20, 2001.0, 5), (2000, 2001.0, 5)]
    logged = run_market(tmp_path / "a", Market(prints), latency_ms=100)
    quiet = run_market(
        tmp_path / "b", Market(prints), "strategy.defaults.log_liquidations=false", latency_ms=100
    )
    log = tmp_path / "b" / "run" / f"events-{Market(prints).symbol}.jsonl"
    assert '"liquidation"' not in log.read_text()
    assert '"liquidation"' in (tmp_path / "a" / "run" / log.name).read_text()
    assert quiet.events == logged.events and logged.of("exit")
