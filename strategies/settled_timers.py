"""Strategy timers that stay on time in a backtest when their callback sends orders.

nautilus_trader 1.231's ``BacktestEngine._advance_time(ts)`` fires, before each data point at
``ts``, every timer due earlier, settling the venues whenever the timer timestamp changes and
once more after the loop. A timer created during that *last* settle - a handler of an event of
an order the loop's last callback sent: the re-priced entry after a post-only rejection, the
market close after a refused stop, each delayed by ``order_latency_ms`` - is not seen until the
loop of the *next* data point, after this data point has moved the book. Its order then meets a
later print than its own arrival (measured: a re-priced BUY due at 8 s judged against the print
at 20 s), which drops exactly the entries the market trades through.

:func:`set_alert` closes the gap where it opens: on a backtest clock, a timer callback is
followed by a no-op alert one nanosecond later. The engine pops that alert inside the same loop,
so it first settles the callback's batch (creating any such timer), then re-advances the clocks
and collects every timer due before the data point, in time order. A chain (a timer set in a
settle of an order sent from such a timer) is covered the same way at each step.

Earlier versions fed a heartbeat print one nanosecond before most prints instead; the engine
then handled almost half again as many data points. Live and paper nodes have real-time clocks
and need nothing: there :func:`set_alert` is ``set_time_alert_ns``.
"""

from __future__ import annotations

from collections.abc import Callable

from nautilus_trader.common.component import Clock
from nautilus_trader.common.component import TestClock
from nautilus_trader.common.events import TimeEvent

#: Names of the no-op alerts (one per clock and nanosecond).
SETTLE_ALERT = "settle-after-"


def _ignore(event: TimeEvent) -> None:
    """The settle alert's only job is to be popped."""


def set_alert(
    clock: Clock, name: str, alert_time_ns: int, callback: Callable[[TimeEvent], None]
) -> None:
    """``clock.set_time_alert_ns``, followed on a backtest clock by a settle alert 1 ns later."""
    if isinstance(clock, TestClock):
        callback = _then_settle(clock, callback)
    clock.set_time_alert_ns(name, alert_time_ns, callback)


def _then_settle(
    clock: TestClock, callback: Callable[[TimeEvent], None]
) -> Callable[[TimeEvent], None]:
    def fire(event: TimeEvent) -> None:
        callback(event)
        now = clock.timestamp_ns()
        name = f"{SETTLE_ALERT}{now}"
        if name not in clock.timer_names:  # one serves every callback of this nanosecond
            clock.set_time_alert_ns(name, now + 1, _ignore)

    return fire
