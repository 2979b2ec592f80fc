"""The rules a cascade must pass before an entry, in a real BacktestEngine.

Each rule's own behaviour is pinned elsewhere (``test_cascade_mm``: one position, cooldown,
hours, blackouts, loss limits; ``tests/live/test_operations``: the node's halt file, exposure
cap and maintenance windows). Here: a node's rule reaches the strategy through
``add_entry_gate``, is asked with the strategy and the time, and comes before the strategy's own
cooldown - the kill switch must win whatever else is going on.
"""

from __future__ import annotations

from pathlib import Path

from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from tests.strategies.harness import liquidation
from tests.strategies.operator_harness import at
from tests.strategies.operator_harness import of
from tests.strategies.operator_harness import run_with_operator

CASCADE_LONGS = [liquidation(5, "LONG", 100_000), liquidation(6, "LONG", 120_000)]
# Filled at 10 s, take-profit at 20 s (cooldown to 220 s); two more cascades during the cooldown,
# the first while the node's rule halts entries.
PRICES = [(0, 2000.0), (10, 1996.5), (20, 2000.5), *((t, 2000.0) for t in range(30, 200, 30))]
# Each after the previous one's 60 s window.
IN_COOLDOWN = [liquidation(80, "LONG", 100_000), liquidation(81, "LONG", 120_000)]
LATER = [liquidation(150, "LONG", 100_000), liquidation(151, "LONG", 120_000)]


def test_a_node_rule_refuses_before_the_cooldown_and_is_asked_with_the_time(
    tmp_path: Path,
) -> None:
    asked: list[int] = []

    def halt(strategy: CascadeMarketMaker, now: int) -> str | None:
        asked.append(now)
        return "halted by the operator" if at(70) <= now < at(100) else None

    steps = [(1, lambda strategy: strategy.add_entry_gate(halt))]
    _, log = run_with_operator(
        tmp_path, PRICES, steps, CASCADE_LONGS + IN_COOLDOWN + LATER, cooldown_s=200.0
    )
    first, in_cooldown, later = of(log, "cascade")
    assert [e["reason"] for e in of(log, "exit")] == ["TP"]  # the first cascade traded
    halted, cooling = of(log, "skip")
    # Halted during the cooldown: the node's reason, not "cooldown for ...".
    assert (halted["declared_ns"], halted["reason"]) == (
        in_cooldown["declared_ns"],
        "halted by the operator",
    )
    assert asked == [first["declared_ns"], in_cooldown["declared_ns"], later["declared_ns"]]
    assert (cooling["declared_ns"], cooling["reason"]) == (
        later["declared_ns"],
        "cooldown for 69 s",
    )
