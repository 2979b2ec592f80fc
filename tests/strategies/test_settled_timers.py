"""``set_alert``: one settle alert after the callbacks of a nanosecond on a backtest clock.

The behaviour it exists for (an order sent from a settle meets its own arrival's book) is pinned
through the runner in ``tests/backtests/test_venue_model.py``.
"""

from __future__ import annotations

from nautilus_trader.common.component import TestClock
from nautilus_trader.common.events import TimeEvent

from liqcascade.strategies.settled_timers import SETTLE_ALERT
from liqcascade.strategies.settled_timers import set_alert


def test_a_backtest_callback_is_followed_by_one_settle_alert_a_nanosecond_later() -> None:
    clock = TestClock()
    fired: list[str] = []

    def callback(event: TimeEvent) -> None:
        fired.append(event.name)

    set_alert(clock, "a", 10, callback)
    set_alert(clock, "b", 10, callback)
    for handler in clock.advance_time(10):
        clock.set_time(handler.event.ts_event)
        handler.handle()
    assert sorted(fired) == ["a", "b"]
    assert clock.timer_names == [f"{SETTLE_ALERT}10"]  # one for both callbacks of that ns
    (settle,) = clock.advance_time(11)
    assert settle.event.ts_event == 11
