"""A CascadeMarketMaker that raises on its first liquidation: exceptions must fail a run."""

from __future__ import annotations

from nautilus_trader.core.data import Data

from liqcascade.strategies.cascade_mm import CascadeMarketMaker


class FailingStrategy(CascadeMarketMaker):
    """Raises from on_data."""

    def on_data(self, data: Data) -> None:
        """Fail loudly."""
        raise RuntimeError("boom from the strategy")
