"""The crash detectors: volume spikes, drop rules, windows, causality; counted across assets.

The trailing rules (:class:`CrashDetector`) and the seed's (:class:`SeedDetector`) judge one
asset's bar at a time; :class:`CrashPlanner` counts the qualifying bars of one close time.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from liqcascade.strategies.crash_detector import CrashDetector
from liqcascade.strategies.crash_detector import CrashParams
from liqcascade.strategies.crash_detector import SeedDetector
from liqcascade.strategies.crash_detector import SeedParams
from liqcascade.strategies.crash_detector import TimeWindow
from liqcascade.strategies.crash_detector import TrailingWindow
from liqcascade.strategies.crash_planner import CrashPlanner
from liqcascade.strategies.crash_planner import TradeRules

S = 1_000_000_000
HOUR = 3600 * S
T0 = 1_704_067_200 * S  # 2024-01-01 00:00 UTC
ASSETS = ("A", "B", "C", "D")
CRASH = 20  # bar index of the crash in the crafted series
PARAMS = CrashParams(lookback=20, min_history=10)  # fixed: r1 <= -2 %, r2 <= -3 %, P95 volume


def quiet(n: int = 30, base: float = 100.0) -> tuple[list[float], list[float]]:
    """Closes wobbling +-0.1 % and volumes 100..104: nothing qualifies."""
    closes = [base * (1.001 if i % 2 else 0.999) for i in range(n)]
    volumes = [100.0 + i % 5 for i in range(n)]
    return closes, volumes


def crashed(
    n: int = 30, at: int = CRASH, drop: float = 0.05, volume: float = 1000.0
) -> tuple[list[float], list[float]]:
    """A quiet series whose bar ``at`` closes ``drop`` below the base on ``volume``."""
    closes, volumes = quiet(n)
    closes[at] = 100.0 * (1 - drop)
    volumes[at] = volume
    return closes, volumes


def feed(
    detector: CrashDetector | SeedDetector,
    series: dict[str, tuple[list[float], list[float]]],
    skip: tuple[int, ...] = (),
) -> CrashPlanner:
    """Feed every close time as one slot (bars of all assets); return the planner (events)."""
    planner = CrashPlanner(detector, TradeRules(min_assets=3))
    n = len(next(iter(series.values()))[0])
    for i in range(n):
        if i not in skip:
            bars = {asset: (closes[i], volumes[i]) for asset, (closes, volumes) in series.items()}
            planner.on_slot(T0 + (i + 1) * HOUR, bars)
    return planner


def test_two_crashing_assets_make_no_event() -> None:
    planner = feed(CrashDetector(PARAMS), {"A": crashed(), "B": crashed(), "C": quiet()})
    assert planner.events == []


def test_three_crashing_assets_make_an_event_with_their_numbers() -> None:
    planner = feed(
        CrashDetector(PARAMS), {"D": crashed(), "B": quiet(), "C": crashed(), "A": crashed()}
    )
    [event] = planner.events
    assert event.ts_ns == T0 + (CRASH + 1) * HOUR
    assert event.assets == ["A", "C", "D"]  # sorted, whatever the order of the bars
    member = event.members[0]
    assert member.r1 == pytest.approx(95.0 / 100.1 - 1)  # previous close 100 * 1.001
    assert member.r2 == pytest.approx(95.0 / 99.9 - 1)
    assert (member.r1_threshold, member.r2_threshold) == (-0.02, -0.03)
    assert member.branch == "drop"


def test_every_qualifying_asset_of_the_close_is_in_the_event() -> None:
    [event] = feed(CrashDetector(PARAMS), {a: crashed() for a in ASSETS}).events
    assert event.assets == list(ASSETS)


def test_qualifying_bars_at_different_closes_do_not_combine() -> None:
    planner = feed(
        CrashDetector(PARAMS),
        {"A": crashed(), "B": crashed(), "C": crashed(at=CRASH + 1), "D": quiet()},
    )
    assert planner.events == []


def test_no_volume_spike_no_event() -> None:
    normal = {a: crashed(volume=102.0) for a in ("A", "B", "C")}
    assert feed(CrashDetector(PARAMS), normal).events == []


def test_volume_threshold_is_inclusive_and_uses_prior_bars_only() -> None:
    closes, volumes = quiet()
    # Trailing 20 volumes before the crash bar: 100..104 four times -> P95 = 104.
    prior = volumes[CRASH - 20 : CRASH]
    p95 = float(np.quantile(prior, 0.95))
    assert p95 == 104.0
    series = {}
    for asset in ("A", "B", "C"):
        c, v = list(closes), list(volumes)
        c[CRASH], v[CRASH] = 95.0, p95  # exactly the threshold
        series[asset] = (c, v)
    [event] = feed(CrashDetector(PARAMS), series).events
    assert event.members[0].volume_threshold == p95


@pytest.mark.parametrize(("require_both", "events"), [(True, 0), (False, 1)])
def test_1h_drop_without_2h_drop(require_both: bool, events: int) -> None:
    # The bar before rallies +2.5 %; the crash bar falls -2.5 %: r1 = -2.5 % but r2 = -0.06 %.
    series = {}
    for asset in ("A", "B", "C"):
        closes, volumes = quiet()
        closes[CRASH - 1] = closes[CRASH - 2] * 1.025
        closes[CRASH] = closes[CRASH - 1] * 0.975
        volumes[CRASH] = 1000.0
        series[asset] = (closes, volumes)
    detector = CrashDetector(CrashParams(lookback=20, min_history=10, require_both=require_both))
    assert len(feed(detector, series).events) == events


@pytest.mark.parametrize(("require_both", "event_bars"), [(True, [CRASH]), (False, [CRASH, 21])])
def test_the_bar_after_a_crash_signals_again_only_under_either_rule(
    require_both: bool, event_bars: list[int]
) -> None:
    # After the -5 % bar, the next bar moves -0.1 % on high volume: r1 small, r2 still ~ -5 %.
    series = {}
    for asset in ("A", "B", "C"):
        closes, volumes = crashed()
        closes[CRASH + 1] = closes[CRASH] * 0.999
        volumes[CRASH + 1] = 2000.0
        series[asset] = (closes, volumes)
    detector = CrashDetector(CrashParams(lookback=20, min_history=10, require_both=require_both))
    events = feed(detector, series).events
    assert [(e.ts_ns - T0) // HOUR - 1 for e in events] == event_bars


def test_no_signal_until_min_history() -> None:
    # The crash is the 6th bar: only 5 trailing volumes exist, min_history is 10.
    series = {a: crashed(at=5) for a in ("A", "B", "C")}
    assert feed(CrashDetector(PARAMS), series).events == []
    assert len(feed(CrashDetector(CrashParams(lookback=20, min_history=5)), series).events) == 1


def test_a_gap_leaves_the_returns_undefined() -> None:
    series = {a: crashed() for a in ("A", "B", "C")}
    # The bar before the crash is missing: no close exactly 1 bar earlier, r1 undefined.
    assert feed(CrashDetector(PARAMS), series, skip=(CRASH - 1,)).events == []


def test_out_of_order_bars_are_ignored() -> None:
    for detector in (CrashDetector(PARAMS), SeedDetector(SeedParams(window=2))):
        detector.judge("A", T0 + HOUR, 100.0, 1.0)
        assert detector.judge("A", T0 + HOUR, 50.0, 1e9) is None
        assert detector.judge("A", T0, 50.0, 1e9) is None
        assert detector.ignored_bars == 2


def test_percentile_thresholds_come_from_prior_returns_only() -> None:
    rng = random.Random(7)
    params = CrashParams(
        lookback=30, min_history=20, threshold_mode="percentile", drop_quantile=0.05
    )
    series = {}
    for asset in ("A", "B", "C"):
        closes = [100.0]
        for _ in range(39):
            closes.append(closes[-1] * (1 + rng.gauss(0, 0.003)))
        closes[35] = closes[34] * 0.97  # far below the 5th percentile of +-0.3 % moves
        volumes = [100.0 + rng.random() for _ in range(40)]
        volumes[35] = 500.0
        series[asset] = (closes, volumes)
    [event] = feed(CrashDetector(params), series).events
    member = event.members[0]
    closes, volumes = series["A"]
    r1 = [closes[i] / closes[i - 1] - 1 for i in range(1, 35)][-30:]  # before bar 35
    r2 = [closes[i] / closes[i - 2] - 1 for i in range(2, 35)][-30:]
    assert member.r1_threshold == pytest.approx(float(np.quantile(r1, 0.05)), rel=1e-12)
    assert member.r2_threshold == pytest.approx(float(np.quantile(r2, 0.05)), rel=1e-12)
    assert member.volume_threshold == pytest.approx(float(np.quantile(volumes[5:35], 0.95)))


def test_percentile_mode_scales_with_each_assets_volatility() -> None:
    # A -2.5 % bar is a crash for calm assets (+-0.1 % an hour) but ordinary for one that
    # moves +-4 % an hour: its 5th percentile is far below -2.5 %.
    params = CrashParams(lookback=20, min_history=10, threshold_mode="percentile")
    rng = random.Random(11)
    series = {}
    for asset, sigma in (("A", 0.001), ("B", 0.001), ("C", 0.04), ("D", 0.001)):
        closes = [100.0]
        for _ in range(29):
            closes.append(closes[-1] * (1 + rng.gauss(0, sigma)))
        volumes = [100.0 + rng.uniform(0, 10) for _ in range(30)]
        closes[CRASH] = closes[CRASH - 1] * 0.975
        closes[CRASH + 1] = closes[CRASH]  # no follow-through
        volumes[CRASH] = 1000.0
        series[asset] = (closes, volumes)
    without_d = {a: s for a, s in series.items() if a != "D"}
    # A and B only: C's -2.5 % is not below its own P5.
    assert feed(CrashDetector(params), without_d).events == []
    assert [(e.ts_ns, e.assets) for e in feed(CrashDetector(params), series).events] == [
        (T0 + (CRASH + 1) * HOUR, ["A", "B", "D"])
    ]


def test_percentile_mode_never_calls_a_gain_a_drop() -> None:
    # A steady rally of +1 % a bar: every trailing return is +1 %, so its 5th percentile is
    # +1 %; a +0.5 % bar is "below the percentile" but not a drop.
    params = CrashParams(lookback=20, min_history=10, threshold_mode="percentile")
    series = {}
    for asset in ("A", "B", "C"):
        closes = [100.0 * 1.01**i for i in range(30)]
        closes[CRASH] = closes[CRASH - 1] * 1.005
        volumes = [100.0] * 30
        volumes[CRASH] = 1000.0
        series[asset] = (closes, volumes)
    assert feed(CrashDetector(params), series).events == []


def _random_market(seed: int, n: int = 200) -> dict[str, tuple[list[float], list[float]]]:
    rng = random.Random(seed)
    series = {}
    for asset in ASSETS:
        closes, volumes, price = [], [], 100.0
        for _ in range(n):
            price *= 1 + rng.gauss(0, 0.01)
            closes.append(price)
            volumes.append(rng.lognormvariate(4, 0.5))
        series[asset] = (closes, volumes)
    for at in rng.sample(range(30, n), 8):  # common crashes on a volume spike
        for asset in rng.sample(ASSETS, rng.choice((2, 3, 4))):
            closes, volumes = series[asset]
            closes[at] = closes[at - 1] * (1 - rng.uniform(0.02, 0.06))
            volumes[at] *= rng.uniform(3, 10)
    return series


def _summary(planner: CrashPlanner) -> list[tuple[int, tuple[str, ...]]]:
    return [(e.ts_ns, tuple(e.assets)) for e in planner.events]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_appending_or_changing_future_bars_never_changes_earlier_events(seed: int) -> None:
    params = CrashParams(lookback=48, min_history=24, r1_drop=-0.015, r2_drop=-0.02)
    market = _random_market(seed)
    full = feed(CrashDetector(params), market)
    assert full.events, "the crafted market should contain events"
    rng = random.Random(seed)
    for cut in (40, 90, 150):
        head = {a: (c[:cut], v[:cut]) for a, (c, v) in market.items()}
        prefix = feed(CrashDetector(params), head)
        cut_ns = T0 + cut * HOUR  # close time of bar cut - 1
        assert _summary(prefix) == [e for e in _summary(full) if e[0] <= cut_ns]
        # Replace the future with wild bars: the past stays exactly as it was.
        other = {
            a: (
                c[:cut] + [x * rng.uniform(0.5, 1.5) for x in c[cut:]],
                v[:cut] + [1e9] * len(v[cut:]),
            )
            for a, (c, v) in market.items()
        }
        changed = feed(CrashDetector(params), other)
        assert [e for e in _summary(changed) if e[0] <= cut_ns] == _summary(prefix)


def test_the_current_bar_never_moves_its_own_thresholds() -> None:
    # Same history, a different crash-bar volume: the volume threshold of that bar is the same.
    thresholds = []
    for spike in (1_000.0, 1e12):
        [event] = feed(CrashDetector(PARAMS), {a: crashed(volume=spike) for a in "ABC"}).events
        thresholds.append(event.members[0].volume_threshold)
    assert thresholds[0] == thresholds[1] == 104.0


def test_the_order_of_a_slot_s_bars_does_not_change_the_event() -> None:
    market = _random_market(5)
    params = CrashParams(lookback=48, min_history=24, r1_drop=-0.015, r2_drop=-0.02)
    forward = feed(CrashDetector(params), market)
    backward = feed(CrashDetector(params), dict(reversed(list(market.items()))))
    assert forward.events and forward.events == backward.events


def test_trailing_window_quantile_matches_numpy() -> None:
    rng = random.Random(3)
    window = TrailingWindow(25)
    values = [rng.uniform(-1, 1) for _ in range(100)]
    for i, value in enumerate(values):
        window.add(value)
        expected = np.quantile(values[max(0, i - 24) : i + 1], [0.05, 0.5, 0.95])
        assert [window.quantile(q) for q in (0.05, 0.5, 0.95)] == pytest.approx(list(expected))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("r2_bars", 1),
        ("threshold_mode", "zscore"),
        ("r1_drop", 0.02),
        ("volume_quantile", 95),
        ("min_history", 1000),
    ],
)
def test_params_are_validated_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"CrashParams.{field}"):
        CrashParams(**{field: value})


# --------------------------------------------------------------------------- the seed's rules

SEED = SeedParams(window=20)


def seed_series(
    n: int = 30, at: int = CRASH, closes_at: dict[int, float] | None = None, volume: float = 1e3
) -> tuple[list[float], list[float]]:
    """Quiet bars; ``closes_at`` sets closes (index -> price), bar ``at`` gets ``volume``."""
    closes, volumes = quiet(n)
    for i, price in (closes_at or {}).items():
        closes[i] = price
    volumes[at] = volume
    return closes, volumes


def test_seed_crash_branch() -> None:
    # r1 = 94 / 100.1 - 1 = -6.1 % < -5 % on a volume above the window's P95.
    series = {a: seed_series(closes_at={CRASH: 94.0}) for a in "ABC"}
    [event] = feed(SeedDetector(SEED), series).events
    member = event.members[0]
    assert member.branch == "crash" and member.r1 == pytest.approx(94.0 / 100.1 - 1)
    assert (member.r1_threshold, member.r2_threshold) == (-0.05, None)


def test_seed_cascade_branch() -> None:
    # -6 % on a normal volume, then -2.5 % on a spike: r2 = -8.35 % < -8 %, r1 > -3 %.
    closes = {CRASH - 1: 94.0, CRASH: 94.0 * 0.975}
    series = {a: seed_series(closes_at=closes) for a in "ABC"}
    [event] = feed(SeedDetector(SEED), series).events
    assert event.ts_ns == T0 + (CRASH + 1) * HOUR
    member = event.members[0]
    assert member.branch == "cascade" and member.r2 == pytest.approx(94.0 * 0.975 / 99.9 - 1)
    assert (member.r1_threshold, member.r2_threshold) == (-0.03, -0.08)
    # The same slide with a last hour of -3.5 % (r1 not above -3 %): neither branch.
    closes = {CRASH - 1: 95.0, CRASH: 95.0 * 0.965}
    assert feed(SeedDetector(SEED), {a: seed_series(closes_at=closes) for a in "ABC"}).events == []


@pytest.mark.parametrize(
    ("params", "closes_at"),
    [
        # r1 exactly at the crash threshold: "r1 < -5 %" is strict.
        (SeedParams(window=20, crash_drop=95.0 / 100.1 - 1.0), {CRASH: 95.0}),
        # r2 exactly at the cascade threshold.
        (
            SeedParams(window=20, cascade_drop=94.0 * 0.98 / 99.9 - 1.0),
            {CRASH - 1: 94.0, CRASH: 94.0 * 0.98},
        ),
        # r1 exactly at the cascade's floor: "r1 > -3 %" is strict.
        (
            SeedParams(window=20, cascade_r1_above=0.97 - 1.0),
            {CRASH - 1: 94.0, CRASH: 94.0 * 0.97},
        ),
    ],
)
def test_seed_return_comparisons_are_strict(params: SeedParams, closes_at: dict) -> None:
    series = {a: seed_series(closes_at=closes_at) for a in "ABC"}
    assert feed(SeedDetector(params), series).events == []


def test_seed_volume_comparison_is_strict_and_the_window_includes_the_bar() -> None:
    # Window of 20 bars including the crash bar: 19 quiet volumes (100..104) and the bar's own.
    # With the bar's volume equal to the window's top values, P95 equals it: "v > P95" fails.
    closes, volumes = quiet()
    volumes[CRASH - 2] = volumes[CRASH - 1] = volumes[CRASH] = 500.0
    window = volumes[CRASH - 19 : CRASH + 1]
    assert float(np.quantile(window, 0.95)) == 500.0  # 19 * 0.95 = 18.05: between two 500s
    closes[CRASH] = 90.0
    series = {a: (list(closes), list(volumes)) for a in "ABC"}
    assert feed(SeedDetector(SEED), series).events == []
    # The bar's own 500 alone at the top: P95 = 104 + (500 - 104) * 0.05 = 123.8 < 500.
    volumes[CRASH - 2] = volumes[CRASH - 1] = 100.0
    series = {a: (list(closes), list(volumes)) for a in "ABC"}
    [event] = feed(SeedDetector(SEED), series).events
    assert event.members[0].volume_threshold == pytest.approx(104.0 + 396.0 * 0.05)


def test_seed_thresholds_equal_pandas_rolling_quantiles_including_the_bar() -> None:
    rng = np.random.default_rng(3)
    volumes = rng.lognormal(4, 0.6, 400)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))
    closes[200] = closes[199] * 0.9  # r1 < -5 % on every branch below
    detector = SeedDetector(SeedParams(window=168))
    rolling95 = pd.Series(volumes).rolling(168).quantile(0.95)
    rolling90 = pd.Series(volumes).rolling(168).quantile(0.90)
    seen = 0
    for i in range(400):
        crash = detector.judge("A", T0 + i * HOUR, float(closes[i]), float(volumes[i]))
        if crash is None:
            continue
        seen += 1
        expected = rolling95[i] if crash.branch == "crash" else rolling90[i]
        assert crash.volume_threshold == expected  # the very same float, bar included
        assert volumes[i] > expected and i >= 167
    assert seen


def test_seed_needs_a_full_window_in_time() -> None:
    # A crash at bar 18 with a window of 20: not enough bars yet.
    series = {a: seed_series(at=18, closes_at={18: 90.0}) for a in "ABC"}
    assert feed(SeedDetector(SEED), series).events == []
    # A gap of one bar at 10: the 20 hours before bar 25 hold only 19 bars.
    series = {a: seed_series(at=25, closes_at={25: 90.0}) for a in "ABC"}
    assert feed(SeedDetector(SEED), series, skip=(10,)).events == []
    assert len(feed(SeedDetector(SEED), series, skip=(5,)).events) == 1


def test_time_window_keeps_the_last_span() -> None:
    window = TimeWindow(3 * HOUR)
    for i, value in enumerate([5.0, 1.0, 3.0, 4.0]):
        window.add(T0 + i * HOUR, value)
    assert len(window) == 3 and window.quantile(0.0) == 1.0
    window.add(T0 + 10 * HOUR, 2.0)  # everything older than 3 h is gone
    assert len(window) == 1 and window.quantile(0.5) == 2.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("window", 1), ("crash_drop", 0.05), ("crash_volume_quantile", 95), ("cascade_drop", 0.0)],
)
def test_seed_params_are_validated_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"SeedParams.{field}"):
        SeedParams(**{field: value})
