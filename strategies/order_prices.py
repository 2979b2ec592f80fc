"""Entry and exit prices and sizes for cascade orders, rounded to the venue's grid.

Pure functions on ``Decimal`` so the arithmetic is exact and testable without the engine.
Rounding always goes to the *safe* side:

* entry: further from the market (a BUY rounds down, a SELL up) - it never pays more than the
  configured offset, and stays at least one tick away so a post-only order is not a taker;
* take-profit: further from the entry - never books less than the configured profit;
* stop-loss: closer to the entry - never risks more than the configured loss.
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import ROUND_FLOOR
from decimal import Decimal

BUY = "BUY"
SELL = "SELL"


def round_to_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    """Round ``price`` to a multiple of ``tick``, up or down."""
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return steps * tick


def entry_price(reference: Decimal, side: str, offset: Decimal, tick: Decimal) -> Decimal:
    """
    Limit price ``offset`` away from ``reference``, into the move, at least one tick away.

    A BUY (longs were liquidated, price falling) rests below; a SELL rests above.
    """
    if side == BUY:
        price = round_to_tick(reference * (1 - offset), tick, up=False)
        return min(price, round_to_tick(reference, tick, up=True) - tick)
    price = round_to_tick(reference * (1 + offset), tick, up=True)
    return max(price, round_to_tick(reference, tick, up=False) + tick)


def exit_prices(
    fill: Decimal,
    side: str,
    take_profit: Decimal,
    stop_loss: Decimal,
    tick: Decimal,
) -> tuple[Decimal, Decimal]:
    """
    Return ``(take_profit_price, stop_trigger_price)`` for a position entered at ``fill``.

    ``side`` is the entry side: a long (BUY) takes profit above and stops below.
    """
    if side == BUY:
        tp = round_to_tick(fill * (1 + take_profit), tick, up=True)
        sl = round_to_tick(fill * (1 - stop_loss), tick, up=True)
    else:
        tp = round_to_tick(fill * (1 - take_profit), tick, up=False)
        sl = round_to_tick(fill * (1 + stop_loss), tick, up=False)
    return tp, sl


def order_quantity(
    notional: Decimal, price: Decimal, step: Decimal, min_qty: Decimal
) -> Decimal | None:
    """Base quantity for a quote ``notional``, floored to the lot step; ``None`` if too small."""
    quantity = round_to_tick(notional / price, step, up=False)
    return quantity if quantity >= min_qty and quantity > 0 else None
