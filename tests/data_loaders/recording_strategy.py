"""A minimal strategy that records what the engine delivers, for catalog/streaming tests."""

from __future__ import annotations

from typing import ClassVar

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.liquidation import LiquidationData


class RecordingConfig(StrategyConfig, frozen=True):
    """Which instrument to subscribe to."""

    instrument_id: str
    client_id: str = "LIQ"


class RecordingStrategy(Strategy):
    """Appends every liquidation (ts_init, side, notional) and the last trade seen before it."""

    received: ClassVar[list[tuple[int, str, float, float | None]]] = []

    def __init__(self, config: RecordingConfig) -> None:
        super().__init__(config)
        self.instrument_id = InstrumentId.from_str(config.instrument_id)

    def on_start(self) -> None:
        self.subscribe_data(
            DataType(LiquidationData),
            client_id=ClientId(self.config.client_id),
            instrument_id=self.instrument_id,
        )

    def on_data(self, data: LiquidationData) -> None:
        trade = self.cache.trade_tick(self.instrument_id)
        last = float(trade.price) if trade is not None else None
        RecordingStrategy.received.append((data.ts_init, data.side, data.notional, last))
