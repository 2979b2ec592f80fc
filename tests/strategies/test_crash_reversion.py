"""CrashReversion in a real BacktestEngine on crafted hourly bars (bar execution).

Bars close at ``T0 + (i + 1) h``. The crash bar is index ``CRASH`` (close 21:00 UTC); with
``hold_bars = 2`` the exit is at the close of bar ``CRASH + 2`` (23:00 UTC).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liqcascade.strategies.crash_reversion import CrashReversionConfig
from tests.strategies.bar_harness import HOUR
from tests.strategies.bar_harness import T0
from tests.strategies.bar_harness import BarRun
from tests.strategies.bar_harness import make_bars
from tests.strategies.bar_harness import run_bars

BASE = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_000.0, "SOLUSDT": 100.0, "XRPUSDT": 0.5}
CRASH = 20
CRASH_TS = T0 + (CRASH + 1) * HOUR
N = 30
# Bounce path after the crash, as multiples of the base price.
PATH = {CRASH: 0.96, CRASH + 1: 0.98, CRASH + 2: 0.99, CRASH + 3: 1.0}


def closes_of(symbol: str, crash: bool = True, path: dict[int, float] | None = None) -> list:
    """Quiet +-0.1 % wobble; with ``crash``, the -4 % crash bar and its bounce."""
    base = BASE[symbol]
    closes = [base * (1.001 if i % 2 else 0.999) for i in range(N)]
    if crash:
        for i, factor in (path or PATH).items():
            closes[i] = base * factor
    return [round(c, 4) for c in closes]


def volumes_of(crash: bool = True, spike_at: tuple[int, ...] = (CRASH,)) -> list[float]:
    # Large volumes: the bar-execution book's size (a quarter of the bar volume) covers orders.
    volumes = [100_000.0 + i % 5 for i in range(N)]
    for i in spike_at if crash else ():
        volumes[i] = 1_000_000.0
    return volumes


def market(crashing: tuple[str, ...], **kwargs: object) -> dict[str, list]:
    return {
        s: make_bars(s, closes_of(s, s in crashing, **kwargs), volumes_of(s in crashing))
        for s in BASE
    }


def fills_of(run: BarRun, symbol: str) -> list:
    return [f for f in run.fills() if f.instrument_id.symbol.value.startswith(symbol)]


def test_entries_at_the_crash_close_and_exits_exactly_after_the_hold(tmp_path: Path) -> None:
    run = run_bars(tmp_path, market(("BTCUSDT", "ETHUSDT", "SOLUSDT")))
    [crash] = run.of("crash")
    assert crash["ts"] == CRASH_TS
    assert crash["assets"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        entry, exit_ = fills_of(run, symbol)
        closes = closes_of(symbol)
        # Entry: the crash bar has closed; the fill is at that close, stamped at that close.
        assert entry.order_side.name == "BUY"
        assert entry.ts_event == CRASH_TS
        assert float(entry.last_px) == pytest.approx(closes[CRASH])
        # Exit: exactly hold_bars * 1 h later, at that bar's close.
        assert exit_.order_side.name == "SELL"
        assert exit_.ts_event == entry.ts_event + 2 * HOUR
        assert float(exit_.last_px) == pytest.approx(closes[CRASH + 2])
        [logged] = run.of("exit", symbol)
        assert logged["reason"] == "HOLD" and logged["event_ns"] == CRASH_TS
        expected = (closes[CRASH + 2] - closes[CRASH]) * logged["quantity"]
        assert logged["pnl"] == pytest.approx(expected)  # no fees in this venue
        position = run.engine.cache.position(run.engine.cache.position_id(entry.client_order_id))
        assert position.is_closed and float(position.realized_pnl) == pytest.approx(expected)
    assert fills_of(run, "XRPUSDT") == []


def test_no_crash_event_no_orders(tmp_path: Path) -> None:
    run = run_bars(tmp_path, market(("BTCUSDT", "ETHUSDT")))  # only 2 of the 3 needed
    assert run.fills() == [] and run.of("crash") == [] and run.of("entry_submitted") == []


def test_every_crashing_asset_of_the_close_is_entered_at_its_close(tmp_path: Path) -> None:
    run = run_bars(tmp_path, market(tuple(BASE)))
    [crash] = run.of("crash")
    assert crash["assets"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    entry, exit_ = fills_of(run, "XRPUSDT")
    assert entry.ts_event == CRASH_TS and float(entry.last_px) == closes_of("XRPUSDT")[CRASH]
    assert exit_.ts_event == CRASH_TS + 2 * HOUR
    assert float(exit_.last_px) == closes_of("XRPUSDT")[CRASH + 2]


def test_a_slot_with_a_missing_bar_is_decided_after_the_wait(tmp_path: Path) -> None:
    # XRP has no bar at the crash close: the three others decide bar_wait_ms after the close,
    # at the prices of that close.
    bars = market(("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    bars["XRPUSDT"] = [b for b in bars["XRPUSDT"] if b.ts_event != CRASH_TS]
    run = run_bars(tmp_path, bars, bar_wait_ms=2000.0)
    [crash] = run.of("crash")
    assert crash["ts"] == CRASH_TS + 2 * 10**9 and crash["event_ns"] == CRASH_TS
    entry, exit_ = fills_of(run, "ETHUSDT")
    assert entry.ts_event == CRASH_TS + 2 * 10**9
    assert float(entry.last_px) == pytest.approx(closes_of("ETHUSDT")[CRASH])
    assert exit_.ts_event == CRASH_TS + 2 * HOUR  # the exit bar's slot is complete: no wait


def test_a_bar_arriving_after_its_close_was_decided_only_joins_the_history(
    tmp_path: Path,
) -> None:
    from nautilus_trader.model.data import Bar

    # XRP's crash bar is received 10 s after its close; the close is decided 2 s after it.
    bars = market(tuple(BASE))
    late = [
        Bar(b.bar_type, b.open, b.high, b.low, b.close, b.volume, b.ts_event, b.ts_event + 10**10)
        if b.ts_event == CRASH_TS
        else b
        for b in bars["XRPUSDT"]
    ]
    bars["XRPUSDT"] = late
    run = run_bars(tmp_path, bars, bar_wait_ms=2000.0)
    [crash] = run.of("crash")
    assert crash["assets"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    [seen] = run.of("late_bar")
    assert seen["symbol"] == "XRPUSDT" and seen["bar_ns"] == CRASH_TS
    assert fills_of(run, "XRPUSDT") == []
    assert len(run.of("exit")) == 3


def test_hold_of_one_bar(tmp_path: Path) -> None:
    run = run_bars(tmp_path, market(("BTCUSDT", "ETHUSDT", "SOLUSDT")), hold_bars=1)
    entry, exit_ = fills_of(run, "ETHUSDT")
    assert exit_.ts_event == entry.ts_event + HOUR
    assert float(exit_.last_px) == pytest.approx(closes_of("ETHUSDT")[CRASH + 1])


def test_stop_loss_closes_below_the_entry(tmp_path: Path) -> None:
    # The bar after the crash trades down to 0.93 x base (low) and closes at 0.95 x base.
    crashing = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    path = {CRASH: 0.96, CRASH + 1: 0.95, CRASH + 2: 0.99}
    bars = {}
    for symbol in BASE:
        closes = closes_of(symbol, symbol in crashing, path)
        lows = [None] * N
        if symbol in crashing:
            lows[CRASH + 1] = round(BASE[symbol] * 0.93, 4)
        bars[symbol] = make_bars(symbol, closes, volumes_of(symbol in crashing), lows)
    run = run_bars(tmp_path, bars, stop_loss=0.02)
    for symbol in crashing:
        entry_px = closes_of(symbol, True, path)[CRASH]
        [stop] = run.of("stop_submitted", symbol)
        assert stop["trigger"] == pytest.approx(entry_px * 0.98)
        entry, exit_ = fills_of(run, symbol)
        assert entry.ts_event == CRASH_TS
        assert exit_.ts_event == CRASH_TS + HOUR  # inside the next bar, not at the hold's end
        # Bars cannot say when inside the hour the low came: the engine fills the stop at its
        # trigger (the price passed through it) and stamps it with the bar's close time.
        assert float(exit_.last_px) == pytest.approx(stop["trigger"])
        [logged] = run.of("exit", symbol)
        assert logged["reason"] == "SL" and logged["pnl"] < 0
    # Without the stop the same data exits on time, at the hold bar's close.
    plain = run_bars(tmp_path, bars)
    assert [e["reason"] for e in plain.of("exit")] == ["HOLD"] * 3


def test_a_held_asset_is_not_bought_again(tmp_path: Path) -> None:
    # A second crash one bar later (-4 % again on a volume spike) while the first is held.
    path = {CRASH: 0.96, CRASH + 1: 0.92, CRASH + 2: 0.95, CRASH + 3: 0.97}
    crashing = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    bars = {
        s: make_bars(
            s,
            closes_of(s, s in crashing, path),
            volumes_of(s in crashing, spike_at=(CRASH, CRASH + 1)),
        )
        for s in BASE
    }
    run = run_bars(tmp_path, bars)
    assert [c["ts"] for c in run.of("crash")] == [CRASH_TS, CRASH_TS + HOUR]
    skips = run.of("skip")
    assert sorted(s["symbol"] for s in skips) == sorted(crashing)
    assert {s["reason"] for s in skips} == {"already held"}
    for symbol in crashing:
        assert len(fills_of(run, symbol)) == 2  # one entry, one exit
        [logged] = run.of("exit", symbol)
        assert logged["exit_ns"] == CRASH_TS + 2 * HOUR  # the first event's hold


def test_nothing_before_enough_history(tmp_path: Path) -> None:
    run = run_bars(tmp_path, market(("BTCUSDT", "ETHUSDT", "SOLUSDT")), lookback=30, min_history=25)
    assert run.fills() == []


IDS = ["BTCUSDT-LINEAR.BYBIT", "ETHUSDT-LINEAR.BYBIT", "SOLUSDT-LINEAR.BYBIT"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instrument_ids": IDS[:2]}, "min_assets"),
        ({"instrument_ids": [*IDS, IDS[0]]}, "duplicates"),
        ({"stop_loss": 5.0}, "stop_loss"),
        ({"stop_loss": 0.8}, "fraction"),
        ({"hold_bars": 0}, "hold_bars"),
        ({"notional_per_asset": 0.0}, "notional_per_asset"),
        ({"bar_spec": "1-HOUR"}, "bar_spec"),
        ({"r1_drop": 0.02}, "r1_drop"),
        ({"threshold_mode": "zscore"}, "threshold_mode"),
        ({"rules": "notebook"}, "rules"),
        ({"rules": "seed", "lookback": 168}, "lookback: not a parameter of rules = 'seed'"),
        ({"take_gain": 0.02}, "take_gain: not a parameter of rules = 'trailing'"),
        ({"rules": "seed", "cascade_drop": 0.08}, "SeedParams.cascade_drop"),
        ({"instrument_ids": [*IDS, "ETHUSDT.BINANCE"]}, "one symbol twice"),
        ({"bar_wait_ms": 3_600_000.0}, "bar_wait_ms"),
    ],
)
def test_config_is_validated_by_name(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CrashReversionConfig(**{"instrument_ids": IDS, **overrides})


def test_config_interval_follows_the_bar_spec() -> None:
    config = CrashReversionConfig(instrument_ids=IDS, bar_spec="15-MINUTE-LAST-EXTERNAL")
    assert config.interval_ns == 15 * 60 * 1_000_000_000
    assert config.detector_kwargs()["interval_ns"] == config.interval_ns
