"""A strategy that subscribes like CascadeMarketMaker and does nothing: the overhead baseline."""

from __future__ import annotations

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig


class NoOpStrategy(Strategy):
    """Receives the same liquidations, decides nothing."""

    def __init__(self, config: CascadeMarketMakerConfig) -> None:
        super().__init__(config)
        self.instrument_id = config.instrument_id

    def on_start(self) -> None:
        """Subscribe exactly as the real strategy does."""
        self.subscribe_data(
            DataType(LiquidationData),
            client_id=ClientId(self.config.liquidation_client_id),
            instrument_id=self.instrument_id,
        )

    def on_data(self, data: Data) -> None:
        """Nothing."""
