"""Live ``LiquidationData`` (and optionally trades and instruments) from Bybit's public linear
websocket stream: the NautilusTrader data client.

The one concern of this module is the framework adapter: the client's lifecycle, the
subscribe/unsubscribe commands of the data engine, instruments from a file, and publishing. The
connection (heartbeat, reconnection, resubscription, refusals, stalls, counters) is
:class:`~liqcascade.live.bybit_stream.BybitPublicStream`, shared with the recorder; turning a push
into ``LiquidationData`` / ``TradeTick`` (shared parsers, replay de-duplication) is
:class:`~liqcascade.live.push_conversion.PushConverter`.

Design
------
* A ``LiveMarketDataClient``: liquidations are a custom data type, which the data engine routes
  through ``subscribe(SubscribeData)``; trade ticks (``trades = true``) come through
  ``subscribe_trade_ticks``, which the data engine only calls on market-data clients. It
  registers under a venue named after the client (``BYBIT_LIQ``), not ``BYBIT`` and not
  ``None``: the data engine would otherwise make it the routing target for ``BYBIT`` market
  data (stealing trade-tick subscriptions from the real Bybit client) or the default client for
  unknown venues. To serve ``BYBIT`` trades instead of the framework's client, register it for
  that venue explicitly with ``routing = {venues = ["BYBIT"]}``: one connection then carries
  both topics.
* Trades and instruments without Bybit's REST API (``trades``, ``instruments_file``): the
  framework's Bybit data client loads instruments over REST and derives its websocket URL from
  ``base_url_http``, so it cannot be pointed at a local test server; this client can.
  Instruments come from the offline specs file (``liqcascade.data_loaders.instruments``) and are
  added on connect.
* Receipt time: the node clock, read first for each message, so ``ts_init`` is the receipt time.
  Messages are handled on the node's event loop, where ``_handle_data`` must be called (the
  live data engine's ``process`` is not thread-safe), with no extra hop.
* Publishing: ``CustomData(DataType(LiquidationData), obj)`` through ``_handle_data``; the data
  engine drops a bare custom object as an unrecognised type.

Robustness (see :mod:`liqcascade.live.bybit_stream`)
----------------------------------------------------
* ``{"op":"ping"}`` every ``ping_interval_s`` (5 s); nothing received for ``pong_timeout_s``
  (3 s) after a ping replaces the connection: a dead connection is replaced within 8 s, inside a
  cascade. The always-busy ``heartbeat_topic`` (linear ``tickers``) rides on the same
  connection: no push for ``stall_timeout_s`` replaces it too (every topic resubscribed).
* A refused subscription is retried alone with doubling backoff and listed in
  ``refused_topics`` (status lines, health endpoint, alerts), never reported as subscribed.
* Events a reconnection replays are dropped and counted (``duplicates``); malformed JSON,
  unknown messages and bad events are logged (throttled), counted and skipped.

Counters are exposed by :meth:`BybitLiquidationDataClient.stats`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.common.enums import LogColor
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.data.messages import SubscribeData
from nautilus_trader.data.messages import SubscribeTradeTicks
from nautilus_trader.data.messages import UnsubscribeData
from nautilus_trader.data.messages import UnsubscribeTradeTicks
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.model.data import CustomData
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import Venue

from liqcascade.data_loaders.bybit import TRADE_TOPIC_PREFIX
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.live.bybit_stream import BybitPublicStream
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.push_conversion import PushConverter
from liqcascade.live.push_conversion import topic_for
from liqcascade.live.push_conversion import trade_topic_for
from liqcascade.live.stream_settings import ConnectionStats
from liqcascade.live.stream_settings import StreamSettings


@dataclass(frozen=True, kw_only=True)
class FeedStats(ConnectionStats):
    """
    The client's counters: those of its connection
    (:class:`~liqcascade.live.stream_settings.ConnectionStats`), and what it published.

    Parameters
    ----------
    liquidations : int
        ``LiquidationData`` published.
    duplicates : int
        Liquidation events and trades dropped as repeats (replays after a reconnection).
    trades : int
        ``TradeTick`` published (``trades = true``).
    instruments : int
        Instruments added from ``instruments_file``.
    excluded_prints : int
        Block (``BT``) and RPI trades dropped (not fillable on the order book).

    """

    liquidations: int
    duplicates: int
    trades: int = 0
    instruments: int = 0
    excluded_prints: int = 0


class BybitLiquidationDataClient(LiveMarketDataClient):
    """
    Publish Bybit ``allLiquidation`` pushes as ``LiquidationData`` (and, if configured,
    ``publicTrade`` pushes as ``TradeTick`` and offline instrument definitions).

    Strategies subscribe with ``subscribe_data(DataType(LiquidationData),
    client_id=ClientId("BYBIT_LIQ"), instrument_id=InstrumentId.from_str("ETHUSDT-LINEAR.BYBIT"))``
    and, for trades, ``subscribe_trade_ticks(instrument_id)`` (routed here when the client is
    registered for venue ``BYBIT``).

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The node's event loop.
    client_id : ClientId
        The client id (the node-config key, e.g. ``BYBIT_LIQ``).
    msgbus : MessageBus
        The node's message bus.
    cache : Cache
        The node's cache.
    clock : LiveClock
        The node's clock (receipt timestamps).
    config : BybitLiquidationClientConfig
        The configuration.

    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_id: ClientId,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: BybitLiquidationClientConfig,
    ) -> None:
        super().__init__(
            loop=loop,
            client_id=client_id,
            venue=Venue(client_id.value),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._feed_config = config
        self._data_type = DataType(LiquidationData)
        self._topics: dict[str, InstrumentId] = {}  # wanted topics, kept across reconnections
        self._stream = BybitPublicStream(
            StreamSettings.of(config),
            on_push=self._on_push,
            clock_ns=self._clock.timestamp_ns,  # ts_init is the receipt time
            log=self._log,
            name=str(self.id),
        )
        self._converter = PushConverter(
            config.dedupe_window, config.feed_delay_ns, self._stream.skip_malformed
        )
        self._liquidations = 0
        self._trades = 0
        self._instruments = 0

    # -- public --------------------------------------------------------------------------------

    @property
    def ws_connected(self) -> bool:
        """Whether a websocket connection is open right now."""
        return self._stream.connected

    @property
    def topics(self) -> list[str]:
        """The topics subscribed (re-sent after every reconnection)."""
        return sorted(self._topics)

    def stats(self) -> FeedStats:
        """Return a snapshot of the counters."""
        return FeedStats(
            **dataclasses.asdict(self._stream.stats()),
            liquidations=self._liquidations,
            duplicates=self._converter.duplicates,
            trades=self._trades,
            instruments=self._instruments,
            excluded_prints=self._converter.excluded_prints,
        )

    # -- LiveDataClient ------------------------------------------------------------------------

    async def _connect(self) -> None:
        # Return once the first connection is open: the kernel starts the trader only when every
        # client reports connected (and gives up after its own ``timeout_connection``).
        # Instruments first: strategies look them up when they start, after every client is
        # connected, and a sandbox venue needs them before the first trade.
        self._load_instruments()
        self._stream.start()
        await self._stream.wait_open()

    async def _disconnect(self) -> None:
        await self._stream.close()

    async def _subscribe(self, command: SubscribeData) -> None:
        try:
            if command.data_type.type is not LiquidationData:
                raise ValueError(f"{command.data_type}: this client serves only LiquidationData")
            if command.instrument_id is None:
                raise ValueError("LiquidationData needs an instrument_id")
            topic = topic_for(command.instrument_id)
        except ValueError as e:
            self._log.error(f"Cannot subscribe: {e}")
            # ``subscribe`` registered it before calling us: do not report a feed that never runs.
            self._remove_subscription(command.data_type)
            return
        self._topics[topic] = command.instrument_id
        await self._stream.subscribe([topic])

    async def _unsubscribe(self, command: UnsubscribeData) -> None:
        if command.data_type.type is not LiquidationData or command.instrument_id is None:
            return
        try:
            topic = topic_for(command.instrument_id)
        except ValueError:
            return
        await self._drop_topic(topic)

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        try:
            if not self._feed_config.trades:
                raise ValueError("trades are disabled (set trades = true in the client config)")
            topic = trade_topic_for(command.instrument_id)
        except ValueError as e:
            self._log.error(f"Cannot subscribe to {command.instrument_id} trades: {e}")
            self._remove_subscription_trade_ticks(command.instrument_id)
            return
        self._topics[topic] = command.instrument_id
        await self._stream.subscribe([topic])

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        try:
            topic = trade_topic_for(command.instrument_id)
        except ValueError:
            return
        await self._drop_topic(topic)

    async def _drop_topic(self, topic: str) -> None:
        self._topics.pop(topic, None)
        await self._stream.unsubscribe(topic)

    def _load_instruments(self) -> None:
        """Add the configured symbols' instruments from ``instruments_file`` to the cache."""
        path = self._feed_config.instruments_file
        if path is None:
            return
        specs = load_specs(path)  # raises naming the file and field: connect fails loudly
        symbols = self._feed_config.symbols
        wanted = [s.upper() for s in symbols] if symbols is not None else list(specs)
        missing = [s for s in wanted if s not in specs]
        if missing:
            raise ValueError(f"{path}: no instrument specs for {', '.join(missing)}")
        now = self._clock.timestamp_ns()
        for symbol in wanted:
            instrument = to_instrument(specs[symbol], ts_init=now)
            self._instrument_provider.add(instrument)
            # Through the data engine: it caches the instrument and publishes it (a sandbox venue
            # subscribed to the venue's data adds its matching engine on this message).
            self._handle_data(instrument)
            self._instruments += 1
        self._log.info(f"Loaded {len(wanted)} instruments from {path}", LogColor.BLUE)

    # -- pushes --------------------------------------------------------------------------------

    def _on_push(self, topic: str, message: dict[str, Any], raw: str | bytes, recv_ns: int) -> None:
        instrument_id = self._topics[topic]  # the stream passes subscribed topics only
        if topic.startswith(TRADE_TOPIC_PREFIX):
            instrument = self._cache.instrument(instrument_id)
            for tick in self._converter.trades(topic, instrument_id, instrument, message, recv_ns):
                self._handle_data(tick)
                self._trades += 1
            return
        for data in self._converter.liquidations(topic, instrument_id, message, recv_ns):
            self._handle_data(CustomData(self._data_type, data))
            self._liquidations += 1
