"""One connection to Bybit's public v5 websocket stream, kept alive for whoever reads it.

The one concern of this module is the connection: connect, heartbeat, reconnect with backoff,
resubscribe, message counters and health. It is shared by the live data client
(:mod:`liqcascade.live.liquidation_client`, which turns pushes into framework data) and the
recorder (:mod:`liqcascade.live.recorder`, which writes them to files); what a push *means* is
theirs, through the ``on_push`` callback. Which topics are wanted, requested, acknowledged or
refused is :class:`~liqcascade.live.bybit_subscriptions.Subscriptions`.

Bybit's protocol (https://bybit-exchange.github.io/docs/v5/ws/connect)
--------------------------------------------------------------------
* Requests are JSON text: ``{"req_id": "1", "op": "subscribe", "args": ["allLiquidation.ETHUSDT"]}``
  (``unsubscribe`` alike; ``req_id`` optional, echoed in the reply).
* Heartbeat: ``{"op":"ping"}``, which Bybit recommends every 20 s (a silent connection is cut);
  the public stream answers ``{"success": true, "ret_msg": "pong", ..., "op": "ping"}``.
  Websocket protocol pings are off: one clock, the one Bybit documents.
* Pushes carry a ``topic``; everything without one is a control reply.

Liveness
--------
* A watchdog (every ``WATCHDOG_TICK_S``) sends the ping when due, one in flight at a time. A
  connection that receives nothing for ``pong_timeout_s`` after a ping is aborted: a half-open
  TCP connection never errors. Any message counts, not only the pong: during a burst the pong
  queues behind pushes.
* Pongs prove the socket, not the feed: with ``heartbeat_topic`` (an always-busy topic such as
  linear ``tickers``, every 100 ms) subscribed, no push of any topic for ``stall_timeout_s``
  replaces the connection too (counted in ``stalls``).
* After a drop: reconnect after ``reconnect_initial_s`` doubling per failed attempt up to
  ``reconnect_max_s`` (reset once a connection opens), each delay drawn uniformly from its upper
  half (jitter: clients dropped together by one outage do not come back in lockstep); then every
  wanted topic is subscribed again.
* A refused subscription (tied to its topics by ``req_id``) is not reported as subscribed: the
  watchdog retries it alone with doubling backoff; it is listed in ``refused_topics``.
* Undecodable messages, messages that are not JSON objects, unknown control replies and pushes
  of topics not subscribed are logged (throttled), counted and skipped; an exception in a
  reader's callback is counted as malformed and skipped. Nothing a peer sends stops the stream.

Transport: the plain ``websockets`` asyncio library on the caller's event loop, so callbacks run
on that loop's thread (the node's data engine is not thread-safe) with no extra hop, and the
whole policy is plain Python the tests drive against a local server. (The framework's Rust
``WebSocketClient`` has reconnection and heartbeats too, but splits them between Rust config and
Python hooks, and knows neither Bybit's refusals nor stalls; ``websockets``' own reconnecting
``async for ws in connect(...)`` retries only errors it deems transient and knows nothing of
application pings, resubscription or stalls.)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from liqcascade.live.bybit_subscriptions import Subscriptions
from liqcascade.live.stream_settings import ConnectionStats
from liqcascade.live.stream_settings import StreamLog
from liqcascade.live.stream_settings import StreamSettings
from liqcascade.live.stream_settings import should_log

PING_MESSAGE = '{"op":"ping"}'
#: How often the watchdog looks at the connection (pings, dead/stalled, refusal retries).
WATCHDOG_TICK_S = 0.25
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

#: ``on_push(topic, message, raw, recv_ns)``: a push of a subscribed topic (not the heartbeat).
PushHandler = Callable[[str, dict[str, Any], str | bytes, int], None]
#: ``on_other(kind, raw, message, recv_ns)`` for every other message, after it was counted:
#: ``kind`` is ``"undecodable"`` (``message`` None), ``"control"`` or ``"unknown"``.
OtherHandler = Callable[[str, str | bytes, dict[str, Any] | None, int], None]


def backoff_delay(attempt: int, initial_s: float, max_s: float, fraction: float) -> float:
    """
    Return the delay before reconnection ``attempt`` (0 = the first after a drop).

    ``initial_s`` doubles per attempt up to ``max_s``; ``fraction`` (uniform in [0, 1)) places
    the delay in the upper half of that value.
    """
    # Exponent capped: past ~60 doublings any delay is max_s anyway.
    ceiling = min(initial_s * 2 ** min(attempt, 60), max_s)
    return ceiling * (0.5 + fraction / 2)


class BybitPublicStream:
    """
    Keep one subscription to Bybit's public stream alive and hand every push to ``on_push``.

    Call :meth:`start` on an event loop (then :meth:`wait_open` to wait for the first
    connection), :meth:`subscribe` / :meth:`unsubscribe` at any time (topics are kept across
    reconnections), and :meth:`close` to end it.

    Parameters
    ----------
    settings : StreamSettings
        The connection rules.
    on_push : PushHandler
        Called on the loop thread for each push of a subscribed topic.
    clock_ns : Callable[[], int]
        Receipt clock (UNIX ns), read first thing for each message.
    log : StreamLog
        Where connection events and skipped messages are logged.
    on_other : OtherHandler, optional
        Called for every other message (e.g. to keep a raw copy).
    name : str
        Prefix of the asyncio task names.

    """

    def __init__(
        self,
        settings: StreamSettings,
        on_push: PushHandler,
        clock_ns: Callable[[], int],
        log: StreamLog,
        on_other: OtherHandler | None = None,
        name: str = "bybit-stream",
    ) -> None:
        self.settings = settings
        self._on_push = on_push
        self._on_other = on_other
        self._clock_ns = clock_ns
        self._log = log
        self._name = name
        self._subs = Subscriptions(
            log,
            settings.heartbeat_topic,
            settings.subscribe_batch,
            settings.request_ids,
            settings.refusal_retry_initial_s,
            settings.refusal_retry_max_s,
        )
        self._ws: ClientConnection | None = None
        self._run_task: asyncio.Task | None = None
        self._watchdog_task: asyncio.Task | None = None
        self._first_open: asyncio.Event | None = None
        self._stopping = False
        self._opened_once = False
        self._last_rx_mono = 0.0
        self._last_push_mono = 0.0
        self._ping_sent_mono = 0.0
        self._last_message_ns: int | None = None
        self._n = dict.fromkeys(
            (
                "messages",
                "malformed",
                "unknown",
                "reconnects",
                "connect_failures",
                "pings",
                "pongs",
                "stalls",
            ),
            0,
        )

    # -- public --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a websocket connection is open right now."""
        return self._ws is not None

    @property
    def messages(self) -> int:
        """Messages received so far (the number of the last one)."""
        return self._n["messages"]

    def stats(self) -> ConnectionStats:
        """Return a snapshot of the counters."""
        return ConnectionStats(
            connected=self.connected,
            last_message_ns=self._last_message_ns,
            subscribe_errors=self._subs.errors,
            refused_topics=self._subs.refused,
            subscribed=self._subs.acknowledged,
            **self._n,
        )

    def start(self) -> None:
        """Start connecting (and reconnecting) on the running loop."""
        self._stopping = False
        self._first_open = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._run_task = loop.create_task(self._run(), name=f"{self._name}-websocket")

    async def wait_open(self) -> None:
        """
        Return once the first connection is open.

        Raises
        ------
        RuntimeError
            If the connection loop ended before any connection opened.

        """
        assert self._run_task is not None and self._first_open is not None, "call start() first"
        opened = asyncio.get_running_loop().create_task(self._first_open.wait())
        try:
            await asyncio.wait({self._run_task, opened}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            opened.cancel()
        if not self._first_open.is_set():
            error = self._run_task.exception() if self._run_task.done() else None
            raise RuntimeError(f"{self._name} websocket ended before connecting") from error

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=2.0)
        for task in (self._watchdog_task, self._run_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._ws = None

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Want ``topics`` (from now on and after every reconnection); request them if open."""
        topics = list(topics)
        heartbeat = self._subs.want(topics)
        await self._request(topics)  # those not requested yet on this connection
        if heartbeat is not None:
            await self._request([heartbeat])

    async def unsubscribe(self, topic: str) -> None:
        """Stop wanting ``topic``; send the unsubscribe request if it was requested."""
        ws = self._ws
        if self._subs.drop(topic) and ws is not None:
            await self._send(ws, {"op": "unsubscribe", "args": [topic]})

    def skip_malformed(self, reason: str) -> None:
        """Count and log (throttled) a malformed message or event the reader skipped."""
        self._n["malformed"] += 1
        if should_log(self._n["malformed"]):
            self._log.warning(f"Skipped malformed ({self._n['malformed']} so far): {reason}")

    def skip_unknown(self, reason: str) -> None:
        """Count and log (throttled) a message nobody asked for."""
        self._n["unknown"] += 1
        if should_log(self._n["unknown"]):
            self._log.warning(f"Skipped unknown ({self._n['unknown']} so far): {reason}")

    # -- connection ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Keep one connection open until :meth:`close`; reconnect with backoff."""
        settings = self.settings
        retries = 0  # delays already waited in the current outage
        first = True
        while not self._stopping:
            if not first:
                delay = backoff_delay(
                    retries, settings.reconnect_initial_s, settings.reconnect_max_s, random.random()
                )
                retries += 1
                await asyncio.sleep(delay)
                if self._stopping:
                    return
            first = False
            try:
                ws = await connect(
                    settings.url,
                    open_timeout=settings.open_timeout_s,
                    ping_interval=None,  # Bybit wants application pings: one clock, not two
                    close_timeout=2.0,
                    max_size=settings.max_message_bytes,
                    # Small JSON pushes: per-message deflate would trade latency for bandwidth.
                    compression=None,
                    proxy=settings.proxy,
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._n["connect_failures"] += 1
                if should_log(self._n["connect_failures"]):
                    self._log.warning(
                        f"Websocket connect to {settings.url} failed "
                        f"({self._n['connect_failures']} so far): {type(e).__name__}: {e}"
                    )
                continue
            retries = 0
            try:
                await self._session(ws)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug here must not end the stream: reconnect instead
                self._log.exception("Websocket session failed", e)
            finally:
                self._end_session(ws)
            if not self._stopping:
                self._log.warning("Websocket connection lost: reconnecting")

    async def _session(self, ws: ClientConnection) -> None:
        # Set the connection and its (empty) sent-topics together, with no await in between, so
        # a concurrent ``subscribe`` either sees the old state (and its topic is sent below) or
        # the new one (and sends it itself) - never neither, never both.
        self._ws = ws
        self._subs.new_connection()
        self._last_rx_mono = self._last_push_mono = time.monotonic()
        self._ping_sent_mono = 0.0
        if self._opened_once:
            self._n["reconnects"] += 1
            self._log.info(f"Reconnected ({self._n['reconnects']})")
        else:
            self._log.info(f"Connected to {self.settings.url}")
        self._opened_once = True
        assert self._first_open is not None
        self._first_open.set()
        await self._request(self._subs.wanted)
        await self._request([self._subs.heartbeat] if self._subs.heartbeat else [])
        loop = asyncio.get_running_loop()
        self._watchdog_task = loop.create_task(self._watchdog(ws), name=f"{self._name}-watchdog")
        try:
            async for raw in ws:
                self._on_message(raw)
        except ConnectionClosed as e:
            self._log.warning(f"Websocket closed: {e}")

    def _end_session(self, ws: ClientConnection) -> None:
        if self._ws is ws:
            self._ws = None
            self._subs.new_connection()
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            self._watchdog_task = None
        ws.transport.abort()  # no-op when already closed; frees a half-open socket at once

    async def _watchdog(self, ws: ClientConnection) -> None:
        """Ping, replace a dead or stalled connection, retry refused subscriptions."""
        settings = self.settings
        next_ping = time.monotonic() + settings.ping_interval_s
        while True:
            await asyncio.sleep(WATCHDOG_TICK_S)
            now = time.monotonic()
            answered = self._last_rx_mono >= self._ping_sent_mono
            if now >= next_ping and answered:  # one ping in flight at a time
                if not await self._send(ws, PING_MESSAGE):
                    return
                self._n["pings"] += 1
                self._ping_sent_mono, next_ping = now, now + settings.ping_interval_s
            sent = self._ping_sent_mono
            if sent and self._last_rx_mono < sent and now - sent > settings.pong_timeout_s:
                self._log.warning(
                    f"Nothing received {now - sent:.1f} s after a ping: replacing the connection"
                )
                ws.transport.abort()  # ends the read loop with ConnectionClosed -> reconnect
                return
            if (
                self._subs.heartbeat_acknowledged
                and now - self._last_push_mono > settings.stall_timeout_s
            ):
                self._n["stalls"] += 1
                self._log.warning(
                    f"No push for {now - self._last_push_mono:.1f} s although the connection "
                    f"answers ({self._subs.heartbeat} is always busy): replacing it"
                )
                ws.transport.abort()
                return
            for topic in self._subs.due(now):  # one request each: a refusal names no topic
                self._log.info(f"Retrying refused subscription {topic}")  # reliably
                await self._request([topic])

    async def _request(self, topics: list[str]) -> None:
        ws = self._ws
        if ws is None:
            return  # requested when the next connection opens
        # Built (and marked requested) before awaiting: see ``_session``.
        for request in self._subs.requests(topics):
            await self._send(ws, request)

    async def _send(self, ws: ClientConnection, message: dict[str, Any] | str) -> bool:
        text = message if isinstance(message, str) else _encoder.encode(message).decode()
        try:
            await ws.send(text)
        except ConnectionClosed:
            return False  # the read loop sees the close too and reconnects
        return True

    # -- messages ------------------------------------------------------------------------------

    def _on_message(self, raw: str | bytes) -> None:
        recv_ns = self._clock_ns()  # first: the receipt time
        self._n["messages"] += 1
        self._last_message_ns = recv_ns
        self._last_rx_mono = time.monotonic()
        try:
            self._dispatch(raw, recv_ns)
        except Exception as e:  # whatever a peer sends, the stream goes on
            self._n["malformed"] += 1
            if should_log(self._n["malformed"]):
                self._log.exception(f"Unexpected error on message {raw[:200]!r}", e)

    def _dispatch(self, raw: str | bytes, recv_ns: int) -> None:
        try:
            message = _decoder.decode(raw)
        except msgspec.DecodeError as e:
            self.skip_malformed(f"undecodable message ({e}): {raw[:200]!r}")
            self._other("undecodable", raw, None, recv_ns)
            return
        if not isinstance(message, dict):
            self.skip_malformed(f"message is not a JSON object: {raw[:200]!r}")
            self._other("undecodable", raw, None, recv_ns)
            return
        topic = message.get("topic")
        if topic is None:
            self._on_control(message)
            self._other("control", raw, message, recv_ns)
            return
        self._last_push_mono = time.monotonic()
        if topic == self._subs.heartbeat:
            return  # it only proves that pushes flow
        if not self._subs.is_wanted(topic):
            self.skip_unknown(f"topic {topic!r} not subscribed")
            self._other("unknown", raw, message, recv_ns)
            return
        self._on_push(topic, message, raw, recv_ns)

    def _other(
        self, kind: str, raw: str | bytes, message: dict[str, Any] | None, recv_ns: int
    ) -> None:
        if self._on_other is not None:
            self._on_other(kind, raw, message, recv_ns)

    def _on_control(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op in ("ping", "pong"):  # Bybit answers {"op":"ping"} with op "ping", ret_msg "pong"
            self._n["pongs"] += 1
        elif op in ("subscribe", "unsubscribe"):
            self._subs.on_reply(message, time.monotonic())
        else:
            self.skip_unknown(f"message without topic: {message!r:.200}")
