"""The planner: events from complete slots, bounce entries, adaptive exits, overlap."""

from __future__ import annotations

import random

import pytest

from liqcascade.strategies.crash_detector import AssetCrash
from liqcascade.strategies.crash_planner import BOUNCE
from liqcascade.strategies.crash_planner import GAIN
from liqcascade.strategies.crash_planner import HOLD
from liqcascade.strategies.crash_planner import CrashPlanner
from liqcascade.strategies.crash_planner import SlotPlan
from liqcascade.strategies.crash_planner import TradeRules

HOUR = 3600 * 10**9
SEED_RULES = TradeRules(entry=BOUNCE, take_gain=0.02, overlap=True)
TRAILING_RULES = TradeRules()


class Scripted:
    """A detector that qualifies exactly the (asset, bar index) pairs it is given."""

    def __init__(self, crashes: set[tuple[str, int]]) -> None:
        self.crashes = crashes
        self.ignored_bars = 0
        self.judged: list[tuple[str, int]] = []

    def judge(self, asset: str, ts_ns: int, close: float, volume: float) -> AssetCrash | None:
        self.judged.append((asset, ts_ns // HOUR))
        if (asset, ts_ns // HOUR) not in self.crashes:
            return None
        return AssetCrash(asset, ts_ns, close, volume, -0.06, None, -0.05, None, 1.0, "crash")


def run(
    rules: TradeRules,
    crashes: set[tuple[str, int]],
    closes: dict[str, dict[int, float]],
    bars: int = 8,
    missing: set[tuple[str, int]] = frozenset(),
) -> list[SlotPlan]:
    """Slots 0..bars-1 of assets A-D (close 100 unless ``closes`` says otherwise)."""
    planner = CrashPlanner(Scripted(crashes), rules)
    plans = []
    for i in range(bars):
        slot = {a: (closes.get(a, {}).get(i, 100.0), 1.0) for a in "ABCD" if (a, i) not in missing}
        plans.append(planner.on_slot(i * HOUR, slot))
    return plans


def entries(plans: list[SlotPlan]) -> list[tuple[int, str, int]]:
    """(slot, asset, trade id) of every entry."""
    return [(p.ts_ns // HOUR, e.asset, e.trade_id) for p in plans for e in p.entries]


def exits(plans: list[SlotPlan]) -> list[tuple[int, str, int, str]]:
    """(slot, asset, trade id, reason) of every exit."""
    return [(p.ts_ns // HOUR, e.asset, e.trade_id, e.reason) for p in plans for e in p.exits]


def skips(plans: list[SlotPlan]) -> list[tuple[int, str, str]]:
    return [(p.ts_ns // HOUR, s.asset, s.reason) for p in plans for s in p.skips]


CRASH_AT_1 = {("A", 1), ("B", 1), ("C", 1)}


def test_seed_buys_the_next_bar_on_a_bounce_and_skips_the_rest() -> None:
    closes = {"A": {2: 101.0}, "B": {2: 99.0}, "C": {2: 100.0}}  # up, down, flat
    plans = run(SEED_RULES, CRASH_AT_1, closes)
    assert plans[1].event is not None and plans[1].event.assets == ["A", "B", "C"]
    assert plans[1].entries == []  # nothing at the crash bar itself
    assert entries(plans) == [(2, "A", 1)]
    assert skips(plans) == [(2, "B", "no bounce"), (2, "C", "no bounce")]  # flat is no bounce


def test_seed_needs_the_bar_right_after_the_crash() -> None:
    plans = run(SEED_RULES, CRASH_AT_1, {"A": {2: 101.0}}, missing={("A", 2)})
    assert entries(plans) == [] and (2, "A", "no bar") in skips(plans)


@pytest.mark.parametrize(
    ("after_1h", "expected"), [(1.021, (3, GAIN)), (1.019, (4, HOLD)), (0.95, (4, HOLD))]
)
def test_seed_exits_after_1_h_on_a_gain_else_after_2_h(after_1h: float, expected: tuple) -> None:
    closes = {"A": {2: 100.1, 3: 100.1 * after_1h}}
    plans = run(SEED_RULES, CRASH_AT_1, closes)
    [(slot, asset, trade, reason)] = exits(plans)
    assert (slot, reason) == expected and asset == "A" and trade == 1
    [exit_] = [e for p in plans for e in p.exits]
    assert exit_.gain == pytest.approx(closes["A"].get(slot, 100.0) / 100.1 - 1)


def test_seed_gain_comparison_is_strict() -> None:
    closes = {"A": {2: 100.1, 3: 102.2}}
    exact = TradeRules(entry=BOUNCE, take_gain=102.2 / 100.1 - 1.0, overlap=True)
    assert exits(run(exact, CRASH_AT_1, closes)) == [(4, "A", 1, HOLD)]


def test_seed_gain_is_checked_only_one_bar_after_the_entry() -> None:
    # Flat after 1 h, +5 % after 2 h: the 2 h exit is a HOLD exit, not a late GAIN.
    closes = {"A": {2: 100.1, 3: 100.1, 4: 105.1}}
    assert exits(run(SEED_RULES, CRASH_AT_1, closes)) == [(4, "A", 1, HOLD)]


def test_a_missing_exit_bar_defers_the_exit_to_the_next_bar() -> None:
    closes = {"A": {2: 100.1}}
    plans = run(SEED_RULES, CRASH_AT_1, closes, missing={("A", 4)})
    assert exits(plans) == [(5, "A", 1, HOLD)]


def test_seed_trades_overlap_and_each_runs_its_own_course() -> None:
    # A crashes at 1 and again at 2 (its entry bar); bounces at 2 and 3.
    crashes = CRASH_AT_1 | {("A", 2), ("B", 2), ("D", 2)}
    closes = {"A": {2: 100.1, 3: 100.2, 4: 100.3, 5: 100.3}}
    plans = run(SEED_RULES, crashes, closes)
    assert [(s, a) for s, a, _ in entries(plans)] == [(2, "A"), (3, "A")]
    assert exits(plans) == [(4, "A", 1, HOLD), (5, "A", 2, HOLD)]  # open together at 3..4


def test_trailing_rules_never_hold_an_asset_twice_but_buy_back_at_a_hold_end() -> None:
    # Crashes at 1, 2 (A held: skipped) and 3 (A's hold from 1 ends at 3: sold and bought).
    crashes = CRASH_AT_1 | {("A", 2), ("C", 2), ("D", 2)} | {("A", 3), ("B", 3), ("D", 3)}
    plans = run(TRAILING_RULES, crashes, {})
    assert [(s, a) for s, a, _ in entries(plans) if a == "A"] == [(1, "A"), (3, "A")]
    assert (2, "A", "already held") in skips(plans)
    assert [(s, a, r) for s, a, _, r in exits(plans) if a == "A"] == [
        (3, "A", HOLD),
        (5, "A", HOLD),
    ]
    # Within the slot the exit comes first, then the new entry.
    slot3 = plans[3]
    assert [e.asset for e in slot3.exits] == ["A", "B", "C"]
    assert [e.asset for e in slot3.entries] == ["A", "B"]  # D is still held from bar 2


def test_the_order_of_a_slot_s_bars_changes_nothing() -> None:
    crashes = CRASH_AT_1 | {("A", 3), ("B", 3), ("D", 3)}
    closes = {"A": {2: 101.0, 4: 100.5}, "B": {2: 100.5}, "D": {4: 99.0}}
    reference = None
    for seed in range(5):
        rng = random.Random(seed)
        planner = CrashPlanner(Scripted(crashes), SEED_RULES)
        plans = []
        for i in range(8):
            assets = list("ABCD")
            rng.shuffle(assets)
            slot = {a: (closes.get(a, {}).get(i, 100.0), 1.0) for a in assets}
            plans.append(planner.on_slot(i * HOUR, slot))
        summary = (entries(plans), exits(plans), skips(plans), [p.event for p in plans])
        assert reference is None or summary == reference
        reference = summary


def test_forgotten_trades_do_not_block_or_exit() -> None:
    planner = CrashPlanner(Scripted(CRASH_AT_1), TRAILING_RULES)
    planner.on_slot(0, {a: (100.0, 1.0) for a in "ABCD"})
    plan = planner.on_slot(HOUR, {a: (100.0, 1.0) for a in "ABCD"})
    planner.forget(plan.entries[0].trade_id)  # A's order was refused
    later = [planner.on_slot(i * HOUR, {a: (100.0, 1.0) for a in "ABCD"}) for i in (2, 3)]
    assert [e.asset for e in later[1].exits] == ["B", "C"]


def test_slots_must_move_forward() -> None:
    planner = CrashPlanner(Scripted(set()), SEED_RULES)
    planner.on_slot(HOUR, {"A": (1.0, 1.0)})
    with pytest.raises(ValueError, match="not later"):
        planner.on_slot(HOUR, {"A": (1.0, 1.0)})


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_assets", 0), ("entry", "next"), ("hold_bars", 0), ("take_gain", -0.02)],
)
def test_trade_rules_are_validated_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TradeRules.{field}"):
        TradeRules(**{field: value})
