"""Factory registering :class:`~live.liquidation_client.BybitLiquidationDataClient` in a node.

From a config file
------------------
``TradingNodeConfig.parse(text)`` turns a data-client entry that has a ``path`` into an
``ImportableConfig``; the node builder instantiates its ``factory`` and decodes ``config`` into
the class named by ``path``. The key is the client id; keep it free of ``-`` (the builder keeps
only the part before the first ``-``). JSON::

    "data_clients": {
        "BYBIT_LIQ": {
            "path": "live.config:BybitLiquidationClientConfig",
            "factory": {"path": "live.factories:BybitLiquidationClientFactory"},
            "config": {
                "url": "wss://stream.bybit.com/v5/public/linear",
                "ping_interval_s": 20.0,
                "reconnect_initial_s": 0.5,
                "reconnect_max_s": 30.0,
                "dedupe_window": 10000
            }
        }
    }

TOML (read with ``tomllib``, then ``TradingNodeConfig.parse(json.dumps(...))``)::

    [data_clients.BYBIT_LIQ]
    path = "live.config:BybitLiquidationClientConfig"
    factory = { path = "live.factories:BybitLiquidationClientFactory" }

    [data_clients.BYBIT_LIQ.config]
    url = "wss://stream.bybit.com/v5/public/linear"
    ping_interval_s = 20.0
    reconnect_initial_s = 0.5
    reconnect_max_s = 30.0
    dedupe_window = 10000

In code: ``node.add_data_client_factory("BYBIT_LIQ", BybitLiquidationClientFactory)`` with
``data_clients={"BYBIT_LIQ": BybitLiquidationClientConfig(...)}``.

Strategies then subscribe with ``client_id=ClientId("BYBIT_LIQ")`` (``CascadeMarketMaker``'s
default ``liquidation_client_id``).
"""

from __future__ import annotations

import asyncio

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.identifiers import ClientId

from live.config import BybitLiquidationClientConfig
from live.liquidation_client import BybitLiquidationDataClient


class BybitLiquidationClientFactory(LiveDataClientFactory):
    """Create :class:`~live.liquidation_client.BybitLiquidationDataClient` instances."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: BybitLiquidationClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> BybitLiquidationDataClient:
        """
        Return a new client.

        Parameters
        ----------
        loop : asyncio.AbstractEventLoop
            The node's event loop.
        name : str
            The client id (the node-config key, e.g. ``BYBIT_LIQ``).
        config : BybitLiquidationClientConfig
            The client's configuration.
        msgbus : MessageBus
            The node's message bus.
        cache : Cache
            The node's cache.
        clock : LiveClock
            The node's clock.

        Returns
        -------
        BybitLiquidationDataClient

        """
        if not isinstance(config, BybitLiquidationClientConfig):
            raise TypeError(
                f"{name}: expected BybitLiquidationClientConfig, got {type(config).__name__}"
            )
        return BybitLiquidationDataClient(
            loop=loop,
            client_id=ClientId(name),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )
