"""Venue model pieces the framework builds from importable configs: fees in basis points.

The default ``MakerTakerFeeModel`` charges the instrument's own fees; scenarios need to compare
0 and 2 bps maker fees without editing instruments, so the run config selects this model.
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
