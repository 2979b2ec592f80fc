"""The open position's protection: one take-profit and one stop, kept whole and repaired.

One concern: after each entry fill (and after a restart) the position of a
:class:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker` must carry exactly one reduce-only
take-profit and one stop, each covering the open quantity. :class:`PositionExits` places the
pair, resizes it as fills arrive, replaces an exit that is gone, retries a refused stop (or
closes the position when the stop can never stand) and recognises Bybit's native stop when the
exchange creates it. Why one pair and not one per fill: Bybit allows 10 conditional orders per
symbol and rate-limits order creation.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import Order

from liqcascade.strategies.cascade_mm_config import NATIVE_TRIGGERS
from liqcascade.strategies.cascade_state import STOP_LOSS
from liqcascade.strategies.cascade_state import TAKE_PROFIT
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import exit_prices

if TYPE_CHECKING:
    from liqcascade.strategies.cascade_mm import CascadeMarketMaker

#: Substrings of a stop's rejection that mean its trigger is already crossed: the stop would
#: have fired, so the position is closed at once (Bybit 110092/110093, "expect Rising/Falling";
#: the framework's simulated venue - backtests and the paper sandbox - says "was in the market").
CROSSED_STOP_REJECTIONS = ("110092", "110093", "expect rising", "expect falling", "in the market")


def stop_already_crossed(reason: str | None) -> bool:
    """Whether a stop's rejection says its trigger is already crossed (it would have fired)."""
    text = (reason or "").lower()
    return any(marker in text for marker in CROSSED_STOP_REJECTIONS)


class PositionExits:
    """
    Keep one reduce-only take-profit and one stop on the host strategy's open position.

    The exit orders' ids and roles live in the host's :class:`~liqcascade.strategies.
    cascade_state.TradeState` (they are persisted with it); this class decides which orders to
    place, resize or replace, and sends them through the host (its latency, cancel and close
    helpers), so every order still belongs to the strategy.

    Parameters
    ----------
    host : CascadeMarketMaker
        The strategy whose position is protected.

    """

    def __init__(self, host: CascadeMarketMaker) -> None:
        self.host = host
        self._trigger = TriggerType[host.config.stop_trigger]

    # -- prices and orders -----------------------------------------------------------------------

    def prices(self, fill_px: Decimal) -> tuple[Decimal, Decimal]:
        """``(take-profit price, stop trigger)`` for an entry filled at ``fill_px``."""
        host = self.host
        return exit_prices(
            fill_px,
            host.trade.side,
            Decimal(str(host.config.take_profit)),
            Decimal(str(host.config.stop_loss)),
            host.instrument.price_increment.as_decimal(),
        )

    def native_stop_params(self, entry_px: Decimal) -> dict[str, str] | None:
        """Bybit order params carrying the entire-position stop (``native_stop``), else None.

        The stop is priced from the entry's limit price: a post-only entry fills at exactly that
        price, so it is the price every per-fill stop of the backtest would use.
        """
        config = self.host.config
        if not config.native_stop:
            return None
        _, sl_price = self.prices(entry_px)
        return {
            "stop_loss": str(self.host.instrument.make_price(sl_price)),
            "tpsl_mode": "Full",
            "sl_order_type": "Market",
            "sl_trigger_by": NATIVE_TRIGGERS[config.stop_trigger],
        }

    def _closing_side(self) -> OrderSide:
        return OrderSide.SELL if self.host.trade.side == BUY else OrderSide.BUY

    def _take_profit(self, quantity: Quantity, price: Decimal) -> Order:
        host = self.host
        return host.order_factory.limit(
            instrument_id=host.instrument_id,
            order_side=self._closing_side(),
            quantity=quantity,
            price=host.instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[TAKE_PROFIT],
        )

    def _stop_loss(self, quantity: Quantity, trigger: Decimal) -> Order:
        host = self.host
        return host.order_factory.stop_market(
            instrument_id=host.instrument_id,
            order_side=self._closing_side(),
            quantity=quantity,
            trigger_price=host.instrument.make_price(trigger),
            trigger_type=self._trigger,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[STOP_LOSS],
        )

    # -- keeping the pair whole ------------------------------------------------------------------

    def sync(self) -> None:
        """
        Keep one reduce-only take-profit and one stop, each covering exactly the open position.

        The first fill places the pair, later fills amend their quantity. An exit still on its
        way to the venue is resized once it is accepted (:meth:`on_order_event` calls back
        here); one still waiting out ``order_latency_ms`` is replaced before it is sent. With
        ``native_stop`` the exchange holds and resizes the stop itself.
        """
        host = self.host
        position = host._open_position()
        if position is None or host.instrument is None or host.trade.closing:
            return
        target = position.quantity.as_decimal()
        fill_px = host.trade.average_fill_price()
        if fill_px is None:  # adopted without the fills (see restart_adoption)
            fill_px = Decimal(str(position.avg_px_open))
        tp_price, sl_price = self.prices(fill_px)
        # ``host.trade`` is read afresh each time: an order's events may end the trade.
        host.trade.tp_id = self._sync_one(
            host.trade.tp_id, TAKE_PROFIT, target, lambda q: self._take_profit(q, tp_price)
        )
        if not host.config.native_stop:
            host.trade.sl_id = self._sync_one(
                host.trade.sl_id, STOP_LOSS, target, lambda q: self._stop_loss(q, sl_price)
            )

    def _sync_one(
        self,
        order_id: ClientOrderId | None,
        role: str,
        target: Decimal,
        make: Callable[[Quantity], Order],
    ) -> ClientOrderId | None:
        host = self.host
        # An exit still waiting out order_latency_ms is not in the cache yet.
        order = host._order(order_id) or host.orders.waiting(order_id)
        make_qty = host.instrument.make_qty
        if order is not None and order.status == OrderStatus.INITIALIZED:
            if host.orders.is_waiting(order):
                if order.quantity.as_decimal() == target:
                    return order_id
                # Not sent yet (order_latency_ms): send the right size instead.
                host.orders.withdraw(order)
                host.trade.exit_ids.discard(order.client_order_id)
                order = None
            else:
                return order_id  # handed to the engine: its acceptance calls back
        if order is None or order.is_closed:
            if role == STOP_LOSS and host.trade.stop_given_up:
                return order_id  # refused for good: on_stop_rejected closed at market
            new = make(make_qty(target))
            host.trade.add_exit(new.client_order_id, role)
            host.orders.submit(new)
            return new.client_order_id
        if order.is_inflight or order.is_pending_update or order.is_pending_cancel:
            return order_id  # its next event calls back
        wanted = order.filled_qty.as_decimal() + target
        if order.quantity.as_decimal() != wanted:
            host.modify_order(order, quantity=make_qty(wanted))
        return order_id

    # -- venue events ----------------------------------------------------------------------------

    def on_order_event(self, client_order_id: ClientOrderId) -> None:
        """An order was accepted or updated: an exit the venue now holds (or resized) is checked
        against the position; a native stop the venue created is adopted first."""
        self.adopt_native_stop(client_order_id)
        if client_order_id in self.host.trade.exit_ids:
            self.sync()

    def on_modify_rejected(self, client_order_id: ClientOrderId, reason: str | None) -> None:
        """A resize was refused: replace the exit if it is gone, else try again on its next
        event (the open quantity is re-checked at every fill)."""
        if client_order_id in self.host.trade.exit_ids:
            self.host.log.warning(f"Exit resize refused: {reason}")
            self.sync()

    def adopt_native_stop(self, client_order_id: ClientOrderId) -> None:
        """Bybit's entire-position stop is created by the venue (no ``orderLinkId``): the node's
        reconciliation hands it to this strategy (``external_order_claims``); remember it as the
        position's stop."""
        host, trade = self.host, self.host.trade
        if not host.config.native_stop or client_order_id in trade.exit_ids:
            return
        order = host._order(client_order_id)
        if (
            order is not None
            and order.instrument_id == host.instrument_id
            and order.is_reduce_only
            and order.order_type in (OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED)
        ):
            trade.sl_id = client_order_id
            trade.add_exit(client_order_id, STOP_LOSS)
            host._save_state()

    def on_stop_rejected(self, event: OrderRejected) -> None:
        """Never sit unprotected, and never close more than the refusal requires.

        A stop whose trigger is already crossed would have fired: close at market now. Any
        other refusal (rate limit, engine busy, a reason the venue does not explain) is retried
        ``stop_retries`` times, ``close_retry_s`` apart - the next :meth:`sync` places a fresh
        stop for the open quantity - before the position is closed at market.
        """
        host, trade = self.host, self.host.trade
        crossed = stop_already_crossed(event.reason)
        if not crossed and trade.stop_attempts < host.config.stop_retries:
            trade.stop_attempts += 1
            host.events.write(
                event.ts_event, "stop_retry", host.symbol, attempt=trade.stop_attempts
            )
            host._retry_later(self.sync)
            return
        trade.stop_given_up = True
        host._close_at_market(STOP_LOSS)
