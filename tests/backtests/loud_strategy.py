"""A CascadeMarketMaker that logs a warning and an error at start: they must reach the user."""

from __future__ import annotations

from liqcascade.strategies.cascade_mm import CascadeMarketMaker


class LoudStrategy(CascadeMarketMaker):
    """Logs through the framework's logger, as the framework itself does when something is off."""

    def on_start(self) -> None:
        """Warn, complain, then start as usual."""
        self.log.warning("loud strategy: a framework warning")
        self.log.error("loud strategy: a framework error")
        super().on_start()
