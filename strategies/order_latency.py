"""The modelled delay between a strategy's decision and its order reaching the venue.

One concern: ``order_latency_ms`` of
:class:`~liqcascade.strategies.cascade_mm_config.CascadeMarketMakerConfig`. Modelled on the
strategy's own clock rather than in the venue's latency model: the simulated venue releases
delayed orders at the next data point of *any* instrument, which would make one symbol's fills
depend on other symbols' data. Live the latency is left at 0 (the network provides it) and
orders go out at once.
"""

from __future__ import annotations

from collections.abc import Callable

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from liqcascade.strategies.settled_timers import set_alert


class DelayedOrders:
    """
    Submit a strategy's orders ``latency_ns`` after the decision, unless it no longer holds.

    Parameters
    ----------
    host : Strategy
        The strategy whose clock times the delay and whose ``submit_order`` sends the orders.
    latency_ns : int
        The delay; ``<= 0`` sends at once.
    still_wanted : Callable[[Order], bool]
        Asked when the delay has passed: an order of a trade that ended meanwhile (e.g. exits of
        a position already closed), or an exit replaced by a resized one, is dropped.

    """

    def __init__(
        self, host: Strategy, latency_ns: int, still_wanted: Callable[[Order], bool]
    ) -> None:
        self._host = host
        self._latency_ns = latency_ns
        self._still_wanted = still_wanted
        # timer name -> (order, params) waiting out the latency
        self._pending: dict[str, tuple[Order, dict[str, str] | None]] = {}

    def _timer(self, order: Order) -> str:
        return f"{self._host.id}-submit-{order.client_order_id.value}"

    def submit(self, order: Order, params: dict[str, str] | None = None) -> None:
        """Send ``order`` now, or after the latency on the strategy's clock."""
        host = self._host
        if self._latency_ns <= 0:
            host.submit_order(order, params=params)
            return
        name = self._timer(order)
        self._pending[name] = (order, params)
        set_alert(
            host.clock, name, host.clock.timestamp_ns() + self._latency_ns, self._on_latency_elapsed
        )

    def _on_latency_elapsed(self, event: TimeEvent) -> None:
        order, params = self._pending.pop(event.name, (None, None))
        if order is not None and self._still_wanted(order):
            self._host.submit_order(order, params=params)

    def waiting(self, client_order_id: ClientOrderId | None) -> Order | None:
        """The order of that id still waiting out the latency (the cache learns it when sent)."""
        if client_order_id is None:
            return None
        pending = self._pending.get(f"{self._host.id}-submit-{client_order_id.value}")
        return pending[0] if pending is not None else None

    def is_waiting(self, order: Order) -> bool:
        """Whether ``order`` is still waiting out the latency (not sent yet)."""
        return self._timer(order) in self._pending

    def withdraw(self, order: Order) -> None:
        """Drop an order still waiting out the latency: it will not be sent."""
        name = self._timer(order)
        self._pending.pop(name)
        if name in self._host.clock.timer_names:
            self._host.clock.cancel_timer(name)
