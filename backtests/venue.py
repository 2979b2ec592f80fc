"""Venue model pieces the framework builds from importable configs: fees.

The default ``MakerTakerFeeModel`` charges the instrument's own fees; scenarios need to compare
0 and 2 bps maker fees without editing instruments, so the run config selects
:class:`BpsFeeModel`. The seed's flat 0.2 % per trade is :class:`TradeCostFeeModel`
(``venue.cost_per_trade_bps``).
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.backtest.config import FeeModelConfig
from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.enums import LiquiditySide
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import Order


class BpsFeeModelConfig(FeeModelConfig, frozen=True):
    """
    Maker and taker fees in basis points of notional.

    Parameters
    ----------
    maker_bps : float
        Fee for passive fills (post-only entries, take-profits); 0 on Bybit's VIP tiers.
    taker_bps : float
        Fee for aggressive fills (stops, timeout market closes).

    """

    maker_bps: float = 2.0
    taker_bps: float = 5.5


class BpsFeeModel(FeeModel):
    """Charge ``maker_bps`` or ``taker_bps`` of the fill's notional by liquidity side."""

    def __init__(self, config: BpsFeeModelConfig) -> None:
        self._maker = Decimal(str(config.maker_bps)) / Decimal(10_000)
        self._taker = Decimal(str(config.taker_bps)) / Decimal(10_000)

    def get_commission(
        self,
        order: Order,
        fill_qty: Quantity,
        fill_px: Price,
        instrument: Instrument,
    ) -> Money:
        """Commission in the quote currency (linear perpetuals)."""
        notional = instrument.notional_value(fill_qty, fill_px).as_decimal()
        rate = self._maker if order.liquidity_side == LiquiditySide.MAKER else self._taker
        return Money(notional * rate, instrument.quote_currency)


class TradeCostFeeModelConfig(FeeModelConfig, frozen=True):
    """
    A flat cost per round trip, in basis points of the entry notional.

    Parameters
    ----------
    cost_bps : float
        Charged once per trade on its opening fill(s); closing (reduce-only) fills pay
        nothing. The seed's "flat 0.2 % per trade" is 20.

    """

    cost_bps: float = 20.0


class TradeCostFeeModel(FeeModel):
    """
    Charge ``cost_bps`` of notional on opening fills and nothing on reduce-only ones.

    The seed subtracts a flat 0.2 % from every trade's return: ``exit / entry - 1 - 0.002``.
    Charging it on the entry notional reproduces that exactly (a fee on both legs would charge
    ``0.001 * (1 + exit / entry)`` instead). Exits must be reduce-only orders, as
    System B's are.
    """

    def __init__(self, config: TradeCostFeeModelConfig) -> None:
        self._rate = Decimal(str(config.cost_bps)) / Decimal(10_000)

    def get_commission(
        self,
        order: Order,
        fill_qty: Quantity,
        fill_px: Price,
        instrument: Instrument,
    ) -> Money:
        """Commission in the quote currency: the cost on an opening fill, zero on a closing."""
        if order.is_reduce_only:
            return Money(0, instrument.quote_currency)
        notional = instrument.notional_value(fill_qty, fill_px).as_decimal()
        return Money(notional * self._rate, instrument.quote_currency)
