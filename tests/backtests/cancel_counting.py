"""A ``CascadeMarketMaker`` that records every cancel it asks for, with the order's state.

Importable by the framework (``ImportableStrategyConfig``), so the runner path stays the real
one: only ``cancel_order`` is observed.
"""

from __future__ import annotations

from typing import ClassVar

from nautilus_trader.model.orders import Order

from liqcascade.strategies.cascade_mm import CascadeMarketMaker


class CancelCountingMarketMaker(CascadeMarketMaker):
    """Appends ``(client_order_id, status)`` for each ``cancel_order`` call."""

    cancels: ClassVar[list[tuple[str, str]]] = []

    def cancel_order(self, order: Order, *args: object, **kwargs: object) -> None:
        CancelCountingMarketMaker.cancels.append(
            (order.client_order_id.value, order.status_string())
        )
        super().cancel_order(order, *args, **kwargs)
