"""Live ``LiquidationData`` (and optionally trades and instruments) from Bybit's public linear
websocket stream.

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
  ``base_url_http``, so it cannot be pointed at a local test server; this client can. Trades
  are parsed by :func:`liqcascade.data_loaders.bybit.parse_trade_message` (shared with the
  recorder; block and RPI trades are left out, as everywhere: ``is_book_trade``) and published
  as ``TradeTick`` at the instrument's exact precision; instruments come from the offline specs
  file (``liqcascade.data_loaders.instruments``) and are added on connect.
* Transport: the plain ``websockets`` asyncio library, on the node's own event loop. Messages
  are therefore handled on the loop thread, where ``_handle_data`` must be called (the live
  data engine's ``process`` is not thread-safe), with no extra hop; and reconnection,
  resubscription, application pings and de-duplication live together in plain Python that the
  tests drive against a local server. (The Rust ``WebSocketClient`` offers reconnection and
  heartbeats too, but splits that logic between Rust config and Python hooks.)
* Parsing: every liquidation push goes through
  :func:`liqcascade.data_loaders.bybit.parse_liquidation_message` - the same parser as the
  recorded-data loader - with ``recv_ts_ns`` = the node clock at receipt.
  ``ts_init`` is therefore the receipt time (plus the loaders' 1 ns tie-break, and never before
  the exchange's event time).
* Publishing: ``CustomData(DataType(LiquidationData), obj)`` through ``_handle_data``; the data
  engine drops a bare custom object as an unrecognised type.

Robustness
----------
* ``{"op":"ping"}`` every ``ping_interval_s`` (5 s; Bybit drops silent connections). A connection
  that receives nothing for ``pong_timeout_s`` (3 s) after a ping is aborted: half-open TCP never
  errors. A dead connection is thus replaced within 8 s, inside a cascade.
* Pongs prove the socket, not the feed: an always-busy topic (``heartbeat_topic``, linear
  ``tickers`` every 100 ms) rides on the same connection, and no push of any topic for
  ``stall_timeout_s`` while it is subscribed replaces the connection (every topic resubscribed).
* A subscription Bybit refuses (``success: false`` for the request's ``req_id``) is not reported
  as subscribed: it is retried alone with doubling backoff and listed in ``refused_topics``
  (status lines, health endpoint, alerts).
* After a drop: reconnect with exponential backoff (``reconnect_initial_s`` doubling up to
  ``reconnect_max_s``; reset once a connection opens), then resubscribe every topic.
* A reconnection can replay events already delivered. Each event's key (symbol, event time,
  side, price, size, and its occurrence number within its message - two identical events in one
  push are two liquidations, a replayed push repeats both) is kept in a bounded recent window;
  repeats are dropped and counted. Trades are keyed by their Bybit trade id the same way.
* Malformed JSON, unknown messages and bad events are logged (throttled), counted and skipped;
  good events of a message with one bad event are still delivered. Nothing a peer sends can
  stop the feed.

Counters are exposed by :meth:`BybitLiquidationDataClient.stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from itertools import batched
from typing import Any

import msgspec
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
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.identifiers import Venue
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from liqcascade.data_loaders.bybit import TRADE_TOPIC_PREFIX
from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.bybit import is_book_trade
from liqcascade.data_loaders.bybit import parse_liquidation_message
from liqcascade.data_loaders.bybit import parse_trade_event
from liqcascade.data_loaders.bybit import parse_trade_message
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import symbol_of
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.live.config import BybitLiquidationClientConfig

TOPIC_PREFIX = "allLiquidation."
PING_MESSAGE = '{"op":"ping"}'
#: How often the watchdog looks at the connection (pings, dead/stalled, refusal retries).
WATCHDOG_TICK_S = 0.25
_PARSE_ERRORS = (MessageError, KeyError, TypeError, ValueError)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

# (symbol, ts_event, side, price, quantity, occurrence within its message)
DedupeKey = tuple[str, int, str, float, float, int]


@dataclass(frozen=True)
class FeedStats:
    """
    A snapshot of the client's counters.

    Parameters
    ----------
    connected : bool
        Whether a websocket connection is open right now.
    messages : int
        Websocket messages received (all kinds).
    liquidations : int
        ``LiquidationData`` published.
    malformed : int
        Undecodable messages plus invalid liquidation events (each skipped).
    unknown : int
        Well-formed messages that are neither liquidations of a subscribed topic nor a known
        control reply (skipped).
    duplicates : int
        Liquidation events and trades dropped as repeats (replays after a reconnection).
    reconnects : int
        Connections opened after the first one.
    connect_failures : int
        Failed connection attempts.
    pings, pongs : int
        Application pings sent and pongs received.
    subscribe_errors : int
        Subscribe/unsubscribe requests the server refused.
    refused_topics : tuple[str, ...]
        Topics refused and waiting for their retry (not subscribed).
    subscribed : tuple[str, ...]
        Topics the server acknowledged on the current connection.
    stalls : int
        Connections replaced because pushes stopped while pongs continued.
    excluded_prints : int
        Block (``BT``) and RPI trades dropped (not fillable on the order book).
    last_message_ns : int | None
        Receipt time of the last message (node clock), ``None`` before the first.
    trades : int
        ``TradeTick`` published (``trades = true``).
    instruments : int
        Instruments added from ``instruments_file``.

    """

    connected: bool
    messages: int
    liquidations: int
    malformed: int
    unknown: int
    duplicates: int
    reconnects: int
    connect_failures: int
    pings: int
    pongs: int
    subscribe_errors: int
    last_message_ns: int | None
    trades: int = 0
    instruments: int = 0
    refused_topics: tuple[str, ...] = ()
    subscribed: tuple[str, ...] = ()
    stalls: int = 0
    excluded_prints: int = 0


class RecentKeys:
    """
    A set that remembers only its ``capacity`` most recently added keys.

    Parameters
    ----------
    capacity : int
        Number of keys kept; the oldest is forgotten first.

    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._order: deque[Hashable] = deque(maxlen=capacity)
        self._keys: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; return ``False`` if it was already known (a duplicate)."""
        if key in self._keys:
            return False
        if len(self._order) == self._order.maxlen:
            self._keys.discard(self._order[0])  # the deque drops it on append below
        self._order.append(key)
        self._keys.add(key)
        return True


def topic_for(instrument_id: InstrumentId) -> str:
    """
    Return the ``allLiquidation`` topic of a Bybit linear instrument.

    Raises
    ------
    ValueError
        If the instrument is not a linear contract (spot, inverse and options live on other
        streams).

    """
    symbol = symbol_of(instrument_id.value)
    if not symbol or "-" in symbol:
        raise ValueError(
            f"{instrument_id} is not a Bybit linear instrument (expected e.g. ETHUSDT-LINEAR.BYBIT)"
        )
    return f"{TOPIC_PREFIX}{symbol}"


def trade_topic_for(instrument_id: InstrumentId) -> str:
    """
    Return the ``publicTrade`` topic of a Bybit linear instrument.

    Raises
    ------
    ValueError
        If the instrument is not a linear contract.

    """
    return TRADE_TOPIC_PREFIX + topic_for(instrument_id)[len(TOPIC_PREFIX) :]


def _should_log(count: int) -> bool:
    # The first ten, then every power of ten: a flood of bad messages cannot flood the log.
    return count <= 10 or str(count).rstrip("0") == "1"


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
        self._sent: set[str] = set()  # topics requested on the current connection
        self._ws: ClientConnection | None = None
        self._run_task: asyncio.Task | None = None
        self._ping_task: asyncio.Task | None = None
        self._stopping = False
        self._opened_once = False
        self._first_open: asyncio.Event | None = None
        self._recent = RecentKeys(config.dedupe_window)
        self._recent_trades = RecentKeys(config.dedupe_window)
        self._last_rx_mono = 0.0
        self._last_push_mono = 0.0
        self._ping_sent_mono = 0.0
        self._heartbeat: str | None = None  # the heartbeat topic, once a symbol is known
        self._requests: dict[str, list[str]] = {}  # req_id -> topics (to know what was refused)
        self._req_ids = 0
        self._acked: set[str] = set()  # acknowledged on the current connection
        self._refused: dict[str, tuple[float, float]] = {}  # topic -> (retry at, next delay)
        self._stalls = 0
        self._excluded_prints = 0
        self._messages = 0
        self._liquidations = 0
        self._malformed = 0
        self._unknown = 0
        self._duplicates = 0
        self._reconnects = 0
        self._connect_failures = 0
        self._pings = 0
        self._pongs = 0
        self._subscribe_errors = 0
        self._last_message_ns: int | None = None
        self._trades = 0
        self._instruments = 0

    # -- public --------------------------------------------------------------------------------

    @property
    def ws_connected(self) -> bool:
        """Whether a websocket connection is open right now."""
        return self._ws is not None

    @property
    def topics(self) -> list[str]:
        """The topics subscribed (re-sent after every reconnection)."""
        return sorted(self._topics)

    def stats(self) -> FeedStats:
        """Return a snapshot of the counters."""
        return FeedStats(
            connected=self.ws_connected,
            messages=self._messages,
            liquidations=self._liquidations,
            malformed=self._malformed,
            unknown=self._unknown,
            duplicates=self._duplicates,
            reconnects=self._reconnects,
            connect_failures=self._connect_failures,
            pings=self._pings,
            pongs=self._pongs,
            subscribe_errors=self._subscribe_errors,
            last_message_ns=self._last_message_ns,
            trades=self._trades,
            instruments=self._instruments,
            refused_topics=tuple(sorted(self._refused)),
            subscribed=tuple(sorted(self._acked)),
            stalls=self._stalls,
            excluded_prints=self._excluded_prints,
        )

    # -- LiveDataClient ------------------------------------------------------------------------

    async def _connect(self) -> None:
        # Return once the first connection is open: the kernel starts the trader only when every
        # client reports connected (and gives up after its own ``timeout_connection``).
        # Instruments first: strategies look them up when they start, after every client is
        # connected, and a sandbox venue needs them before the first trade.
        self._load_instruments()
        self._stopping = False
        self._first_open = asyncio.Event()
        self._run_task = self._loop.create_task(self._run(), name=f"{self.id}-websocket")
        opened = self._loop.create_task(self._first_open.wait())
        try:
            await asyncio.wait({self._run_task, opened}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            opened.cancel()
        if not self._first_open.is_set():
            error = self._run_task.exception() if self._run_task.done() else None
            raise RuntimeError(f"{self.id} websocket supervisor ended before connecting") from error

    async def _disconnect(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=2.0)
        for task in (self._ping_task, self._run_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._ws = None

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
        await self._send_subscribe([topic])
        await self._send_subscribe(self._new_heartbeat(topic))

    def _new_heartbeat(self, topic: str) -> list[str]:
        """The heartbeat topic, the first time a symbol is known (else nothing)."""
        template = self._feed_config.heartbeat_topic
        if template is None or self._heartbeat is not None:
            return []
        self._heartbeat = template.format(symbol=topic.split(".", 1)[1])
        return [self._heartbeat]

    def _wanted(self) -> list[str]:
        return [*self._topics, *([self._heartbeat] if self._heartbeat else [])]

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
        await self._send_subscribe([topic])
        await self._send_subscribe(self._new_heartbeat(topic))

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        try:
            topic = trade_topic_for(command.instrument_id)
        except ValueError:
            return
        await self._drop_topic(topic)

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

    async def _unsubscribe(self, command: UnsubscribeData) -> None:
        if command.data_type.type is not LiquidationData or command.instrument_id is None:
            return
        try:
            topic = topic_for(command.instrument_id)
        except ValueError:
            return
        await self._drop_topic(topic)

    async def _drop_topic(self, topic: str) -> None:
        self._topics.pop(topic, None)
        self._refused.pop(topic, None)
        self._acked.discard(topic)
        ws = self._ws
        if ws is not None and topic in self._sent:
            self._sent.discard(topic)
            await self._send(ws, {"op": "unsubscribe", "args": [topic]})

    # -- connection ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Keep one connection open until ``_disconnect``; reconnect with backoff."""
        config = self._feed_config
        retries = 0  # delays already waited in the current outage
        first = True
        while not self._stopping:
            if not first:
                # Exponent capped: past ~60 doublings any delay is reconnect_max_s anyway.
                backoff = config.reconnect_initial_s * 2 ** min(retries, 60)
                delay = min(backoff, config.reconnect_max_s)
                retries += 1
                await asyncio.sleep(delay)
                if self._stopping:
                    return
            first = False
            try:
                ws = await connect(
                    config.url,
                    open_timeout=config.open_timeout_s,
                    # Bybit wants application pings; protocol pings would be a second clock.
                    ping_interval=None,
                    close_timeout=2.0,
                    max_size=config.max_message_bytes,
                    # Small JSON pushes: per-message deflate would trade latency for bandwidth.
                    compression=None,
                    proxy=config.proxy,
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._connect_failures += 1
                self._log.warning(
                    f"Websocket connect to {config.url} failed: {type(e).__name__}: {e}"
                )
                continue
            retries = 0
            try:
                await self._session(ws)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug here must not end the feed: reconnect instead
                self._log.exception("Websocket session failed", e)
            finally:
                self._end_session(ws)
            if not self._stopping:
                self._log.warning("Websocket connection lost: reconnecting")

    async def _session(self, ws: ClientConnection) -> None:
        # Set the connection and its (empty) sent-topics together, with no await in between, so
        # a concurrent ``_subscribe`` either sees the old state (and its topic is sent below) or
        # the new one (and sends it itself) - never neither, never both.
        self._ws = ws
        self._sent = set()
        self._acked = set()
        self._requests = {}
        self._last_rx_mono = self._last_push_mono = time.monotonic()
        self._ping_sent_mono = 0.0
        if self._opened_once:
            self._reconnects += 1
            self._log.info(f"Reconnected ({self._reconnects})", LogColor.GREEN)
        self._opened_once = True
        assert self._first_open is not None
        self._first_open.set()
        await self._send_subscribe(list(self._topics))
        # The heartbeat in its own request: a refusal of one request must not hold back the other.
        await self._send_subscribe([self._heartbeat] if self._heartbeat else [])
        self._ping_task = self._loop.create_task(self._watchdog(ws), name=f"{self.id}-watchdog")
        try:
            async for raw in ws:
                self._on_message(raw)
        except ConnectionClosed as e:
            self._log.warning(f"Websocket closed: {e}")

    def _end_session(self, ws: ClientConnection) -> None:
        if self._ws is ws:
            self._ws = None
            self._sent = set()
            self._acked = set()
        if self._ping_task is not None:
            self._ping_task.cancel()
            self._ping_task = None
        ws.transport.abort()  # no-op when already closed; frees a half-open socket at once

    async def _watchdog(self, ws: ClientConnection) -> None:
        """Ping, replace a dead or stalled connection, retry refused subscriptions."""
        config = self._feed_config
        next_ping = time.monotonic() + config.ping_interval_s
        while True:
            await asyncio.sleep(WATCHDOG_TICK_S)
            now = time.monotonic()
            answered = self._last_rx_mono >= self._ping_sent_mono
            if now >= next_ping and answered:  # one ping in flight at a time
                if not await self._send(ws, PING_MESSAGE):
                    return
                self._pings += 1
                self._ping_sent_mono, next_ping = now, now + config.ping_interval_s
            # Any message proves the socket alive, not only the pong: during a cascade the
            # pong may queue behind pushes.
            sent = self._ping_sent_mono
            if sent and self._last_rx_mono < sent and now - sent > config.pong_timeout_s:
                self._log.warning(
                    f"Nothing received {now - sent:.1f} s after a ping: replacing the connection"
                )
                ws.transport.abort()  # ends the read loop with ConnectionClosed -> reconnect
                return
            if (
                self._heartbeat in self._acked
                and now - self._last_push_mono > config.stall_timeout_s
            ):
                self._stalls += 1
                self._log.warning(
                    f"No push for {now - self._last_push_mono:.1f} s although the connection "
                    f"answers ({self._heartbeat} is always busy): replacing it"
                )
                ws.transport.abort()
                return
            due = [t for t, (at, _) in self._refused.items() if at <= now and t in self._wanted()]
            for topic in due:  # one request each: a refusal names no topic reliably
                self._log.info(f"Retrying refused subscription {topic}")
                await self._send_subscribe([topic])

    async def _send_subscribe(self, topics: list[str]) -> None:
        ws = self._ws
        if ws is None:
            return  # sent when the next connection opens
        new = [t for t in topics if t not in self._sent]
        self._sent.update(new)  # before awaiting: see ``_session``
        for chunk in batched(new, self._feed_config.subscribe_batch):
            if not chunk:
                continue
            self._req_ids += 1
            req_id = str(self._req_ids)
            self._requests[req_id] = list(chunk)
            await self._send(ws, {"req_id": req_id, "op": "subscribe", "args": list(chunk)})

    async def _send(self, ws: ClientConnection, message: dict[str, Any] | str) -> bool:
        text = message if isinstance(message, str) else _encoder.encode(message).decode()
        try:
            await ws.send(text)
        except ConnectionClosed:
            return False  # the read loop sees the close too and reconnects
        return True

    # -- messages ------------------------------------------------------------------------------

    def _on_message(self, raw: str | bytes) -> None:
        recv_ns = self._clock.timestamp_ns()  # first: ts_init is the receipt time
        self._messages += 1
        self._last_message_ns = recv_ns
        self._last_rx_mono = time.monotonic()
        try:
            self._dispatch(raw, recv_ns)
        except Exception as e:  # whatever a peer sends, the feed goes on
            self._malformed += 1
            if _should_log(self._malformed):
                self._log.exception(f"Unexpected error on message {raw[:200]!r}", e)

    def _dispatch(self, raw: str | bytes, recv_ns: int) -> None:
        try:
            message = _decoder.decode(raw)
        except msgspec.DecodeError as e:
            self._skip_malformed(f"undecodable message ({e}): {raw[:200]!r}")
            return
        if not isinstance(message, dict):
            self._skip_malformed(f"message is not a JSON object: {raw[:200]!r}")
            return
        topic = message.get("topic")
        if topic is None:
            self._on_control(message)
            return
        self._last_push_mono = time.monotonic()
        if topic == self._heartbeat:
            return  # it only proves that pushes flow
        instrument_id = self._topics.get(topic) if isinstance(topic, str) else None
        if instrument_id is None:
            self._skip_unknown(f"topic {topic!r} not subscribed")
            return
        if topic.startswith(TRADE_TOPIC_PREFIX):
            self._on_trades(message, topic, instrument_id, recv_ns)
            return
        try:
            records = parse_liquidation_message(message, recv_ns, self._feed_config.feed_delay_ns)
        except _PARSE_ERRORS:
            records = self._salvage(message, recv_ns)
        self._publish(topic, instrument_id, records)

    def _on_control(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op in ("ping", "pong"):  # Bybit answers {"op":"ping"} with op "ping", ret_msg "pong"
            self._pongs += 1
        elif op == "subscribe":
            self._on_subscribe_reply(message)
        elif op == "unsubscribe":
            if message.get("success") is False:
                self._subscribe_errors += 1
                self._log.error(f"Bybit refused {op}: {message.get('ret_msg')!r}")
        else:
            self._skip_unknown(f"message without topic: {message!r:.200}")

    def _on_subscribe_reply(self, message: dict[str, Any]) -> None:
        """Acknowledged topics are subscribed; refused ones are retried with backoff."""
        topics = self._requests.pop(str(message.get("req_id", "")), [])
        text = str(message.get("ret_msg") or "")
        if message.get("success") is False:
            self._subscribe_errors += 1
        if message.get("success") is not False or "already subscribed" in text:
            self._acked.update(topics)
            for topic in topics:
                self._refused.pop(topic, None)
            return
        now = time.monotonic()
        config = self._feed_config
        for topic in topics or ["?"]:
            self._sent.discard(topic)
            self._acked.discard(topic)
            _, delay = self._refused.get(topic, (0.0, config.refusal_retry_initial_s))
            self._refused[topic] = (now + delay, min(delay * 2, config.refusal_retry_max_s))
            self._log.error(f"Bybit refused {topic}: {text!r}; retrying in {delay:.1f} s")

    def _salvage(self, message: dict[str, Any], recv_ns: int) -> list[LiquidationRecord]:
        """Parse the events of a push one by one, keeping the good ones (one bad event spoils
        only itself)."""
        events = message.get("data")
        if not isinstance(events, list):
            self._skip_malformed(f"bad liquidation message: {message!r:.200}")
            return []
        records: list[LiquidationRecord] = []
        delay = self._feed_config.feed_delay_ns
        for event in events:
            try:
                records.extend(
                    parse_liquidation_message({**message, "data": [event]}, recv_ns, delay)
                )
            except _PARSE_ERRORS as e:
                self._skip_malformed(f"bad liquidation event ({e}): {event!r:.200}")
        return records

    def _publish(
        self,
        topic: str,
        instrument_id: InstrumentId,
        records: list[LiquidationRecord],
    ) -> None:
        symbol = topic[len(TOPIC_PREFIX) :]
        seen: dict[tuple[str, int, str, float, float], int] = {}
        for r in records:
            if r.symbol != symbol:
                self._skip_malformed(f"event for {r.symbol} in topic {topic}")
                continue
            base = (r.symbol, r.ts_event, r.side, r.price, r.quantity)
            occurrence = seen.get(base, 0)
            seen[base] = occurrence + 1
            if not self._recent.add((*base, occurrence)):
                self._duplicates += 1
                continue
            data = LiquidationData(
                instrument_id=instrument_id,
                side=r.side,
                price=r.price,
                quantity=r.quantity,
                notional=r.price * r.quantity,
                ts_event=r.ts_event,
                ts_init=r.ts_init,
            )
            self._handle_data(CustomData(self._data_type, data))
            self._liquidations += 1

    def _on_trades(
        self,
        message: dict[str, Any],
        topic: str,
        instrument_id: InstrumentId,
        recv_ns: int,
    ) -> None:
        events = message.get("data")
        if isinstance(events, list) and not all(is_book_trade(e) for e in events):
            kept = [e for e in events if is_book_trade(e)]
            self._excluded_prints += len(events) - len(kept)
            message = {**message, "data": kept}
        try:
            records = parse_trade_message(message, recv_ns)
        except _PARSE_ERRORS:
            records = self._salvage_trades(message, recv_ns)
        instrument = self._cache.instrument(instrument_id)
        if instrument is None:
            self._skip_malformed(f"trades for {instrument_id}, which is not in the cache")
            return
        symbol = topic[len(TRADE_TOPIC_PREFIX) :]
        for r in records:
            if r.symbol != symbol:
                self._skip_malformed(f"trade for {r.symbol} in topic {topic}")
                continue
            if not self._recent_trades.add((r.symbol, r.trade_id)):
                self._duplicates += 1
                continue
            try:
                # The instrument's exact precision: the matching engine raises on any other.
                tick = TradeTick(
                    instrument_id,
                    instrument.make_price(r.price),
                    instrument.make_qty(r.size),
                    AggressorSide(r.aggressor),
                    TradeId(r.trade_id),
                    r.ts_event,
                    r.ts_init,
                )
            except (TypeError, ValueError) as e:  # e.g. a size below the lot step
                self._skip_malformed(f"bad trade ({e}): {r!r:.200}")
                continue
            self._handle_data(tick)
            self._trades += 1

    def _salvage_trades(self, message: dict[str, Any], recv_ns: int) -> list[TradePrint]:
        events = message.get("data")
        if not isinstance(events, list):
            self._skip_malformed(f"bad trade message: {message!r:.200}")
            return []
        records: list[TradePrint] = []
        for event in events:
            if not is_book_trade(event):  # block and RPI trades: as parse_trade_message
                continue
            try:
                records.append(parse_trade_event(event, recv_ns))
            except _PARSE_ERRORS as e:
                self._skip_malformed(f"bad trade event ({e}): {event!r:.200}")
        return records

    def _skip_malformed(self, reason: str) -> None:
        self._malformed += 1
        if _should_log(self._malformed):
            self._log.warning(f"Skipped malformed ({self._malformed} so far): {reason}")

    def _skip_unknown(self, reason: str) -> None:
        self._unknown += 1
        if _should_log(self._unknown):
            self._log.warning(f"Skipped unknown ({self._unknown} so far): {reason}")
