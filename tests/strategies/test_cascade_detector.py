"""The cascade detector: causality, warm start, window edges, direction, hourly refresh."""

from __future__ import annotations

import random

import pytest

from liqcascade.strategies.cascade_detector import LONG
from liqcascade.strategies.cascade_detector import SHORT
from liqcascade.strategies.cascade_detector import CascadeDetector
from liqcascade.strategies.cascade_detector import DetectorParams

S = 1_000_000_000
HOUR = 3600 * S
T0 = 1_740_960_000 * S  # 2025-03-03 00:00 UTC, on the hour grid


def feed(detector: CascadeDetector, events: list[tuple[int, str, float]]) -> list:
    return [detector.on_liquidation(*e) for e in events]


def test_two_large_liquidations_within_60s_declare_at_the_second() -> None:
    detector = CascadeDetector(DetectorParams(warm_threshold=80_000))
    out = feed(
        detector,
        [
            (T0 + 1 * S, LONG, 100_000),
            (T0 + 5 * S, LONG, 5_000),  # small: counted for direction, not as a large event
            (T0 + 20 * S, LONG, 90_000),
            (T0 + 25 * S, SHORT, 120_000),  # extends the cascade, no second declaration
        ],
    )
    assert out[0] is None and out[1] is None and out[3] is None
    cascade = out[2]
    assert cascade.declared_ns == T0 + 20 * S
    assert cascade.side == LONG
    assert cascade.threshold == 80_000
    # Report statistics keep growing after the decision; the decision does not change.
    assert cascade.large_events == 3 and cascade.events == 4
    assert cascade.duration_s == 24.0
    assert cascade.side == LONG
    assert detector.cascades == [cascade]


@pytest.mark.parametrize(("gap_ns", "declared"), [(60 * S, True), (60 * S + 1, False)])
def test_window_edge_is_inclusive_at_60s(gap_ns: int, declared: bool) -> None:
    detector = CascadeDetector(DetectorParams(warm_threshold=10_000))
    feed(detector, [(T0, SHORT, 20_000)])
    result = detector.on_liquidation(T0 + gap_ns, SHORT, 20_000)
    assert (result is not None) == declared


def test_chained_window_extends_from_the_last_large_event() -> None:
    params = DetectorParams(warm_threshold=10_000, min_events=3, window_mode="chained")
    out = feed(
        CascadeDetector(params),
        [(T0, LONG, 20_000), (T0 + 50 * S, LONG, 20_000), (T0 + 100 * S, LONG, 20_000)],
    )
    # 100 s after the first, but each within 60 s of the previous large one.
    assert out[2] is not None and out[2].start_ns == T0


def test_anchored_window_closes_60s_after_its_first_event() -> None:
    """The guide's window (the default): it starts at a large liquidation and lasts 60 s,
    whatever arrives inside it."""
    assert DetectorParams(warm_threshold=1).window_mode == "anchored"
    events = [(T0, LONG, 20_000), (T0 + 50 * S, LONG, 20_000), (T0 + 100 * S, LONG, 20_000)]
    out = feed(CascadeDetector(DetectorParams(warm_threshold=10_000, min_events=3)), events)
    assert out == [None, None, None]  # the third event is 100 s after the window opened
    edge = [(T0, LONG, 20_000), (T0 + 60 * S, LONG, 20_000)]
    assert feed(CascadeDetector(DetectorParams(warm_threshold=10_000)), edge)[1] is not None
    late = [(T0, LONG, 20_000), (T0 + 60 * S + 1, LONG, 20_000)]
    assert feed(CascadeDetector(DetectorParams(warm_threshold=10_000)), late) == [None, None]


@pytest.mark.parametrize(("mode", "signals"), [("anchored", [50, 130]), ("chained", [50])])
def test_a_long_running_cascade_signals_again_only_from_a_new_anchored_window(
    mode: str, signals: list[int]
) -> None:
    """Large liquidations every 30-50 s for two minutes: anchored windows [0, 60] and
    [100, 160] each declare once; a chained window never closes, so it declares once."""
    times = [0, 50, 100, 130, 150]
    events = [(T0 + t * S, LONG, 20_000) for t in times]
    out = feed(CascadeDetector(DetectorParams(warm_threshold=10_000, window_mode=mode)), events)
    assert [t for t, c in zip(times, out, strict=True) if c is not None] == signals


def test_threshold_is_inclusive() -> None:
    detector = CascadeDetector(DetectorParams(warm_threshold=10_000))
    assert feed(detector, [(T0, LONG, 10_000), (T0 + S, LONG, 10_000)])[1] is not None


def test_dominant_side_by_cumulative_notional_and_ties_have_no_side() -> None:
    detector = CascadeDetector(DetectorParams(warm_threshold=10_000))
    out = feed(detector, [(T0, LONG, 15_000), (T0 + S, SHORT, 20_000)])
    assert out[1].side == SHORT
    detector = CascadeDetector(DetectorParams(warm_threshold=10_000))
    out = feed(detector, [(T0, LONG, 20_000), (T0 + S, SHORT, 20_000)])
    assert out[1] is not None and out[1].side is None


def test_warm_start_until_enough_history_then_rolling_quantile() -> None:
    params = DetectorParams(warm_threshold=1e9, history=100, min_history=50, quantile=0.95)
    detector = CascadeDetector(params)
    # 49 events in the first hour: not enough history, the warm threshold stays.
    feed(detector, [(T0 + i * S, LONG, float(i + 1)) for i in range(49)])
    detector.on_liquidation(T0 + HOUR + S, LONG, 1.0)
    assert detector.threshold == 1e9
    # One more event in that hour makes 51 seen; the next hour's refresh uses the quantile.
    detector.on_liquidation(T0 + HOUR + 2 * S, LONG, 51.0)
    detector.on_liquidation(T0 + 2 * HOUR, LONG, 1.0)
    values = sorted([float(i + 1) for i in range(49)] + [1.0, 51.0])
    position = (len(values) - 1) * 0.95
    low = int(position)
    expected = values[low] + (values[low + 1] - values[low]) * (position - low)
    assert detector.threshold == pytest.approx(expected)


def test_threshold_refreshes_only_on_the_hour_and_from_past_events() -> None:
    params = DetectorParams(warm_threshold=50.0, history=10, min_history=5)
    detector = CascadeDetector(params)
    feed(detector, [(T0 + i * S, LONG, 10.0) for i in range(10)])
    assert detector.threshold == 50.0  # mid-hour: unchanged
    # First event of the next hour: refreshed from the 10 past events (all 10.0), and the
    # event itself (a huge one) is judged against that, not included in it.
    out = detector.on_liquidation(T0 + HOUR, LONG, 1e9)
    assert detector.threshold == 10.0
    assert out is None  # a single large event is not a cascade
    detector.on_liquidation(T0 + HOUR + 30 * S, LONG, 5.0)
    assert detector.threshold == 10.0  # still the same hour


def test_history_is_a_rolling_window() -> None:
    detector = CascadeDetector(DetectorParams(warm_threshold=1.0, history=5, min_history=5))
    feed(detector, [(T0 + i * S, LONG, 1000.0) for i in range(5)])
    feed(detector, [(T0 + (10 + i) * S, LONG, 1.0) for i in range(5)])  # pushes the 1000s out
    detector.on_liquidation(T0 + HOUR, LONG, 1.0)
    assert detector.threshold == 1.0


def test_causality_appending_future_events_never_changes_earlier_decisions() -> None:
    rng = random.Random(42)
    events = []
    t = T0
    for _ in range(5000):
        t += int(rng.expovariate(1 / 20) * S)
        events.append((t, rng.choice([LONG, SHORT]), rng.lognormvariate(9, 1.5)))
    params = DetectorParams(warm_threshold=50_000, history=300, min_history=100)
    full = CascadeDetector(params)
    feed(full, events)
    assert len(full.cascades) > 20
    for cut in (700, 2500, 4000):
        prefix = CascadeDetector(params)
        feed(prefix, events[:cut])
        decided = [(c.declared_ns, c.side, c.threshold) for c in prefix.cascades]
        later = [(c.declared_ns, c.side, c.threshold) for c in full.cascades][: len(decided)]
        assert decided == later
        assert all(c.declared_ns <= events[cut - 1][0] for c in prefix.cascades)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantile", 1.0), ("min_events", 1), ("warm_threshold", 0), ("min_history", 0)],
)
def test_invalid_params_name_the_field(field: str, value: float) -> None:
    kwargs = {"warm_threshold": 1.0, field: value}
    with pytest.raises(ValueError, match=f"DetectorParams.{field}"):
        DetectorParams(**kwargs)
