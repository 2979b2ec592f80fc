"""The crash detector: cross-asset counting, volume spikes, drop rule, causality."""

from __future__ import annotations

import random

import numpy as np
import pytest

from liqcascade.strategies.crash_detector import CrashDetector
from liqcascade.strategies.crash_detector import CrashParams
from liqcascade.strategies.crash_detector import TrailingWindow

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
    detector: CrashDetector, series: dict[str, tuple[list[float], list[float]]]
) -> list[tuple[int, str, object]]:
    """Feed bars time by time, assets in dict order; return (bar index, asset, signal) hits."""
    hits = []
    n = len(next(iter(series.values()))[0])
    for i in range(n):
        for asset, (closes, volumes) in series.items():
            signal = detector.on_bar(asset, T0 + (i + 1) * HOUR, closes[i], volumes[i])
            if signal is not None:
                hits.append((i, asset, signal))
    return hits


def test_two_crashing_assets_make_no_event() -> None:
    detector = CrashDetector(PARAMS)
    hits = feed(detector, {"A": crashed(), "B": crashed(), "C": quiet(), "D": quiet()})
    assert hits == [] and detector.events == []


def test_three_crashing_assets_declare_at_the_third_arrival() -> None:
    detector = CrashDetector(PARAMS)
    hits = feed(detector, {"A": crashed(), "B": quiet(), "C": crashed(), "D": crashed()})
    assert len(hits) == 1
    index, asset, signal = hits[0]
    # Declared on D's bar: the third qualifying bar at that close, no later bar needed.
    assert (index, asset) == (CRASH, "D")
    event = signal.event
    assert event.ts_ns == T0 + (CRASH + 1) * HOUR
    assert event.assets == ["A", "C", "D"] and event.declared_by == "D"
    assert signal.new_assets == ("A", "C", "D") and not signal.joined
    member = event.members[0]
    assert member.r1 == pytest.approx(95.0 / 100.1 - 1)  # previous close 100 * 1.001
    assert member.r2 == pytest.approx(95.0 / 99.9 - 1)
    assert (member.r1_threshold, member.r2_threshold) == (-0.02, -0.03)
    assert detector.events == [event]


def test_a_later_qualifying_asset_at_the_same_close_joins_the_event() -> None:
    detector = CrashDetector(PARAMS)
    hits = feed(detector, {a: crashed() for a in ASSETS})
    assert [(i, a) for i, a, _ in hits] == [(CRASH, "C"), (CRASH, "D")]
    declared, joined = hits[0][2], hits[1][2]
    assert declared.new_assets == ("A", "B", "C")
    assert joined.joined and joined.new_assets == ("D",) and joined.event is declared.event
    assert declared.event.assets == ["A", "B", "C", "D"] and declared.event.declared_with == 3
    assert len(detector.events) == 1


def test_qualifying_bars_at_different_closes_do_not_combine() -> None:
    detector = CrashDetector(PARAMS)
    hits = feed(
        detector,
        {"A": crashed(), "B": crashed(), "C": crashed(at=CRASH + 1), "D": quiet()},
    )
    assert hits == []


def test_no_volume_spike_no_event() -> None:
    detector = CrashDetector(PARAMS)
    normal = {a: crashed(volume=102.0) for a in ("A", "B", "C")}
    assert feed(detector, normal) == []


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
    hits = feed(CrashDetector(PARAMS), series)
    assert len(hits) == 1 and hits[0][2].event.members[0].volume_threshold == p95


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
    feed(detector, series)
    assert len(detector.events) == events


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
    feed(detector, series)
    assert [(e.ts_ns - T0) // HOUR - 1 for e in detector.events] == event_bars


def test_no_signal_until_min_history() -> None:
    # The crash is the 6th bar: only 5 trailing volumes exist, min_history is 10.
    series = {a: crashed(at=5) for a in ("A", "B", "C")}
    assert feed(CrashDetector(PARAMS), series) == []
    assert len(feed(CrashDetector(CrashParams(lookback=20, min_history=5)), series)) == 1


def test_a_gap_leaves_the_returns_undefined() -> None:
    detector = CrashDetector(PARAMS)
    for asset in ("A", "B", "C"):
        closes, volumes = crashed()
        for i in range(CRASH + 1):
            if i == CRASH - 1:
                continue  # the bar before the crash is missing
            detector.on_bar(asset, T0 + (i + 1) * HOUR, closes[i], volumes[i])
    assert detector.events == []  # no close exactly 1 bar earlier: r1 undefined


def test_out_of_order_bars_are_ignored() -> None:
    detector = CrashDetector(PARAMS)
    detector.on_bar("A", T0 + HOUR, 100.0, 1.0)
    assert detector.on_bar("A", T0 + HOUR, 50.0, 1e9) is None
    assert detector.ignored_bars == 1


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
    detector = CrashDetector(params)
    hits = feed(detector, series)
    assert len(hits) == 1
    member = hits[0][2].event.members[0]
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
    detector = CrashDetector(params)
    feed(detector, without_d)
    assert detector.events == []  # A and B only: C's -2.5 % is not below its own P5
    detector = CrashDetector(params)
    feed(detector, series)
    assert [(e.ts_ns, e.assets) for e in detector.events] == [
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
    detector = CrashDetector(params)
    feed(detector, series)
    assert detector.events == []


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


def _summary(detector: CrashDetector) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(e.ts_ns, e.declared_by, tuple(e.assets)) for e in detector.events]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_appending_or_changing_future_bars_never_changes_earlier_events(seed: int) -> None:
    params = CrashParams(lookback=48, min_history=24, r1_drop=-0.015, r2_drop=-0.02)
    market = _random_market(seed)
    full = CrashDetector(params)
    feed(full, market)
    assert full.events, "the crafted market should contain events"
    rng = random.Random(seed)
    for cut in (40, 90, 150):
        prefix = CrashDetector(params)
        feed(prefix, {a: (c[:cut], v[:cut]) for a, (c, v) in market.items()})
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
        changed = CrashDetector(params)
        feed(changed, other)
        assert [e for e in _summary(changed) if e[0] <= cut_ns] == _summary(prefix)


def test_the_current_bar_never_moves_its_own_thresholds() -> None:
    # Same history, a different crash-bar volume: the volume threshold of that bar is the same.
    thresholds = []
    for spike in (1_000.0, 1e12):
        detector = CrashDetector(PARAMS)
        hits = feed(detector, {a: crashed(volume=spike) for a in ("A", "B", "C")})
        thresholds.append(hits[0][2].event.members[0].volume_threshold)
    assert thresholds[0] == thresholds[1] == 104.0


def test_arrival_order_within_a_close_does_not_change_the_event() -> None:
    market = _random_market(5)
    params = CrashParams(lookback=48, min_history=24, r1_drop=-0.015, r2_drop=-0.02)
    forward, backward = CrashDetector(params), CrashDetector(params)
    feed(forward, market)
    feed(backward, dict(reversed(list(market.items()))))
    assert [(e.ts_ns, sorted(e.assets)) for e in forward.events] == [
        (e.ts_ns, sorted(e.assets)) for e in backward.events
    ]


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
        ("min_assets", 0),
    ],
)
def test_params_are_validated_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"CrashParams.{field}"):
        CrashParams(**{field: value})
