"""A local websocket server speaking Bybit's public-stream protocol, for tests and benchmarks.

It listens on ``127.0.0.1`` only (a random free port by default) and implements what a client of
``wss://stream.bybit.com/v5/public/linear`` relies on:

* ``{"op":"subscribe","args":[...]}`` / ``unsubscribe`` -> Bybit's acknowledgement
  ``{"success":true,"ret_msg":"","conn_id":"...","req_id":"","op":"subscribe"}`` (``success``
  false with Bybit's error text for topics it does not know);
* ``{"op":"ping"}`` -> ``{"success":true,"ret_msg":"pong","conn_id":"...","op":"ping"}``;
* ``allLiquidation.<SYM>`` and ``publicTrade.<SYM>`` pushes in Bybit's exact format, sent only
  to connections subscribed to the topic;
* ``tickers.<SYM>`` pushed by the server itself every 100 ms to its subscribers, as Bybit does
  for linear contracts (the client's heartbeat topic).

Failure controls: :attr:`BybitServer.stalled` stops every push while pings are still answered
(a server that stopped delivering); :meth:`BybitServer.refuse_topic` refuses the next N
subscriptions of a topic with Bybit's error reply.

Test controls: every client message is recorded (:attr:`BybitServer.received`); pushes to a topic
nobody subscribes yet wait in a queue and go out on the first subscription (no race between a
test and the client's subscribe); the last pushes of a topic can be replayed, also automatically
on every new subscription (what a reconnection may do); connections can be dropped abruptly
(:meth:`BybitServer.drop_all`), handshakes refused, and raw (malformed) text injected.

Two ways to run it: :class:`BybitServer` runs the asyncio server in a background thread with a
synchronous, thread-safe API (tests); :func:`serve_scenario` runs it in a separate process that
replays a scripted scenario and reports send times (benchmarks: no GIL shared with the node).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import defaultdict
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Request
from websockets.asyncio.server import Response
from websockets.asyncio.server import Server
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

HOST = "127.0.0.1"
PATH = "/v5/public/linear"
KNOWN_PREFIXES = ("allLiquidation.", "liquidation.", "publicTrade.", "tickers.", "orderbook.")


def now_ms() -> int:
    """Current UNIX time in milliseconds (Bybit's timestamp unit)."""
    return time.time_ns() // 1_000_000


def liquidation_event(
    symbol: str,
    side: str,
    size: float | str,
    price: float | str,
    t_ms: int | None = None,
) -> dict[str, Any]:
    """
    One ``allLiquidation`` event exactly as Bybit sends it.

    Parameters
    ----------
    symbol : str
        E.g. ``ETHUSDT``.
    side : str
        ``Buy`` (a long was liquidated) or ``Sell`` (a short was liquidated).
    size, price : float | str
        Sent as strings, like Bybit.
    t_ms : int, optional
        Event time in ms, default now.

    """
    return {
        "T": now_ms() if t_ms is None else t_ms,
        "s": symbol,
        "S": side,
        "v": str(size),
        "p": str(price),
    }


def liquidation_message(
    symbol: str,
    events: list[dict[str, Any]],
    ts_ms: int | None = None,
) -> dict[str, Any]:
    """An ``allLiquidation.<symbol>`` push carrying ``events`` (several per push, as on Bybit)."""
    return {
        "topic": f"allLiquidation.{symbol}",
        "type": "snapshot",
        "ts": now_ms() if ts_ms is None else ts_ms,
        "data": events,
    }


_trade_seq = itertools.count(1)


def trade_message(
    symbol: str,
    trades: list[tuple[str, float | str, float | str]],
    ts_ms: int | None = None,
) -> dict[str, Any]:
    """
    A ``publicTrade.<symbol>`` push.

    Parameters
    ----------
    symbol : str
        E.g. ``ETHUSDT``.
    trades : list[tuple[str, float | str, float | str]]
        ``(taker side "Buy"/"Sell", size, price)`` per trade.
    ts_ms : int, optional
        Push and trade time in ms, default now.

    """
    ts = now_ms() if ts_ms is None else ts_ms
    data = []
    for side, size, price in trades:
        seq = next(_trade_seq)
        data.append(
            {
                "T": ts,
                "s": symbol,
                "S": side,
                "v": str(size),
                "p": str(price),
                "L": "PlusTick" if side == "Buy" else "MinusTick",
                "i": str(uuid.UUID(int=seq)),
                "BT": False,
                "RPI": False,
                "seq": seq,
            }
        )
    return {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts, "data": data}


@dataclass
class Received:
    """One message a client sent: connection id, decoded JSON (or ``None``), raw text, time."""

    conn_id: str
    message: dict[str, Any] | None
    raw: str
    ts_ns: int


@dataclass
class _Conn:
    ws: ServerConnection
    conn_id: str
    topics: set[str] = field(default_factory=set)


class BybitProtocolServer:
    """
    The asyncio core: create and use it inside one event loop (see :class:`BybitServer`).

    Parameters
    ----------
    host : str
        Listening address; loopback only.
    port : int
        Port, 0 for a random free one.
    replay_last : int
        On every subscription to a topic, re-send that topic's last ``replay_last`` pushes
        (0 = never): simulates a feed that replays recent events after a reconnection.

    """

    def __init__(self, host: str = HOST, port: int = 0, replay_last: int = 0) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the test server listens on loopback only")
        self.host = host
        self.port = port
        self.replay_last = replay_last
        self.answer_pings = True
        self.received: list[Received] = []
        self.connections_opened = 0
        self.subscribe_count: dict[str, int] = defaultdict(int)
        self._conns: dict[str, _Conn] = {}
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._history: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=1000))
        self._reject_next = 0
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self.stalled = False
        self.refusals: dict[str, int] = {}  # topic -> subscriptions still to refuse
        self._ticker_task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        """The ``ws://`` URL to give the client."""
        return f"ws://{self.host}:{self.port}{PATH}"

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,  # Bybit relies on application pings
            max_queue=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker_task = asyncio.get_running_loop().create_task(self._tickers())

    async def _tickers(self) -> None:
        """Push ``tickers.<SYM>`` every 100 ms to its subscribers (unless stalled)."""
        while True:
            await asyncio.sleep(0.1)
            if self.stalled:
                continue
            for conn in list(self._conns.values()):
                for topic in [t for t in conn.topics if t.startswith("tickers.")]:
                    data = {"symbol": topic.split(".", 1)[1], "lastPrice": "2000.00"}
                    push = {"topic": topic, "type": "delta", "ts": now_ms(), "data": data}
                    await self._send(conn, json.dumps(push, separators=(",", ":")))

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._ticker_task is not None:
            self._ticker_task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)

    # -- controls --------------------------------------------------------------------------------

    def subscribers(self, topic: str) -> int:
        """How many open connections are subscribed to ``topic``."""
        return sum(topic in c.topics for c in self._conns.values())

    @property
    def open_connections(self) -> int:
        """Number of open connections."""
        return len(self._conns)

    def reject_next(self, count: int) -> None:
        """Refuse the next ``count`` websocket handshakes with HTTP 503."""
        self._reject_next = count

    async def push(self, message: dict[str, Any] | str, topic: str | None = None) -> int:
        """
        Send a push to every connection subscribed to its topic.

        With no subscriber yet the push waits and goes out on the first subscription.

        Returns
        -------
        int
            Connections it was sent to now.

        """
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        topic = topic or (message.get("topic") if isinstance(message, dict) else None)
        if topic is None:
            raise ValueError("a raw push needs an explicit topic")
        self._history[topic].append(text)
        targets = [c for c in self._conns.values() if topic in c.topics and not self.stalled]
        if not targets:
            self._pending[topic].append(text)
            return 0
        for conn in targets:
            await self._send(conn, text)
        return len(targets)

    async def broadcast_raw(self, text: str) -> int:
        """Send raw text (malformed JSON, unknown messages) to every open connection."""
        conns = list(self._conns.values())
        for conn in conns:
            await self._send(conn, text)
        return len(conns)

    async def replay(self, topic: str, last: int) -> int:
        """Re-send the last ``last`` pushes of ``topic`` to its subscribers."""
        texts = list(self._history[topic])[-last:] if last > 0 else []
        count = 0
        for conn in [c for c in self._conns.values() if topic in c.topics]:
            for text in texts:
                await self._send(conn, text)
                count += 1
        return count

    async def drop_all(self) -> int:
        """Abort every connection without a close handshake (a network failure)."""
        conns = list(self._conns.values())
        for conn in conns:
            conn.ws.transport.abort()
        return len(conns)

    async def wait_changed(self, timeout: float) -> None:
        """Wait until a connection or a message changes the server's state (or ``timeout``)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # -- protocol --------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._reject_next > 0:
            self._reject_next -= 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")
        if request.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown path\n")
        return None

    async def _send(self, conn: _Conn, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(text)

    async def _handler(self, ws: ServerConnection) -> None:
        conn = _Conn(ws=ws, conn_id=str(uuid.uuid4()))
        self._conns[conn.conn_id] = conn
        self.connections_opened += 1
        self._changed.set()
        try:
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode(errors="replace")
                await self._on_client_message(conn, text)
        except ConnectionClosed:
            pass
        finally:
            self._conns.pop(conn.conn_id, None)
            self._changed.set()

    async def _on_client_message(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            message = None
        self.received.append(Received(conn.conn_id, message, text, time.time_ns()))
        self._changed.set()
        if message is None:
            return
        op = message.get("op")
        req_id = str(message.get("req_id", ""))
        if op == "ping":
            if not self.answer_pings:
                return
            reply = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "op": "ping"}
            if req_id:
                reply["req_id"] = req_id
            await self._send(conn, json.dumps(reply, separators=(",", ":")))
        elif op in ("subscribe", "unsubscribe"):
            await self._on_subscription(conn, op, message.get("args"), req_id)

    async def _on_subscription(self, conn: _Conn, op: str, args: Any, req_id: str) -> None:
        topics = args if isinstance(args, list) else []
        bad = [t for t in topics if not (isinstance(t, str) and t.startswith(KNOWN_PREFIXES))]
        if op == "subscribe":
            for topic in topics:
                if self.refusals.get(topic, 0) > 0:
                    self.refusals[topic] -= 1
                    bad.append(topic)
        ack = {
            "success": not bad and bool(topics),
            "ret_msg": f"error:handler not found,topic:{bad[0]}" if bad else "",
            "conn_id": conn.conn_id,
            "req_id": req_id,
            "op": op,
        }
        if not topics:
            ack["ret_msg"] = "error:args is empty"
        await self._send(conn, json.dumps(ack, separators=(",", ":")))
        if not ack["success"]:
            return
        for topic in topics:
            if op == "unsubscribe":
                conn.topics.discard(topic)
                continue
            conn.topics.add(topic)
            self.subscribe_count[topic] += 1
            replay = list(self._history[topic])[-self.replay_last :] if self.replay_last else []
            pending = self._pending.pop(topic, [])
            for text in replay:
                if text not in pending:
                    await self._send(conn, text)
            for text in pending:
                await self._send(conn, text)


class BybitServer:
    """
    :class:`BybitProtocolServer` in a background thread, with a synchronous thread-safe API.

    Use as a context manager::

        with BybitServer() as server:
            config = BybitLiquidationClientConfig(url=server.url)
            ...
            server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2500)])

    Parameters
    ----------
    replay_last : int
        See :class:`BybitProtocolServer`.
    call_timeout_s : float
        Bound on every call into the server thread.

    """

    def __init__(self, replay_last: int = 0, call_timeout_s: float = 5.0) -> None:
        self._core = BybitProtocolServer(replay_last=replay_last)
        self._timeout = call_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> BybitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> BybitServer:
        """Start the thread and bind the port."""
        self._thread.start()
        self._call(self._core.start())
        return self

    def stop(self) -> None:
        """Close connections, stop the server and its thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._core.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self._timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    async def _read(self, fn: Callable[[], Any]) -> Any:
        return fn()

    def _snapshot(self, fn: Callable[[], Any]) -> Any:
        # Read server state on its own thread so lists are never observed mid-update.
        return self._call(self._read(fn))

    # -- properties ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``ws://127.0.0.1:<port>/v5/public/linear`` URL."""
        return self._core.url

    @property
    def replay_last(self) -> int:
        """Pushes re-sent on every subscription (0 = none)."""
        return self._core.replay_last

    @replay_last.setter
    def replay_last(self, value: int) -> None:
        self._core.replay_last = value

    @property
    def stalled(self) -> bool:
        """``True``: no push goes out (pings are still answered)."""
        return self._core.stalled

    @stalled.setter
    def stalled(self, value: bool) -> None:
        self._core.stalled = value

    def refuse_topic(self, topic: str, times: int) -> None:
        """Refuse the next ``times`` subscriptions to ``topic`` (Bybit's error reply)."""

        def apply() -> None:
            self._core.refusals[topic] = times

        self._snapshot(apply)

    @property
    def answer_pings(self) -> bool:
        """Whether pings get a pong (``False`` simulates a silently dead connection)."""
        return self._core.answer_pings

    @answer_pings.setter
    def answer_pings(self, value: bool) -> None:
        self._core.answer_pings = value

    @property
    def received(self) -> list[Received]:
        """Every message clients sent, in arrival order."""
        return self._snapshot(lambda: list(self._core.received))

    def received_messages(self, op: str | None = None) -> list[dict[str, Any]]:
        """Decoded client messages, optionally only those with ``op``."""
        return [
            r.message
            for r in self.received
            if r.message is not None and (op is None or r.message.get("op") == op)
        ]

    @property
    def open_connections(self) -> int:
        """Open connections now."""
        return self._snapshot(lambda: self._core.open_connections)

    @property
    def connections_opened(self) -> int:
        """Connections accepted since start."""
        return self._snapshot(lambda: self._core.connections_opened)

    def subscribers(self, topic: str) -> int:
        """Open connections subscribed to ``topic``."""
        return self._snapshot(lambda: self._core.subscribers(topic))

    def subscribe_count(self, topic: str) -> int:
        """Subscriptions to ``topic`` since start (one per connection that subscribed)."""
        return self._snapshot(lambda: self._core.subscribe_count[topic])

    # -- actions ---------------------------------------------------------------------------------

    def push(self, message: dict[str, Any] | str, topic: str | None = None) -> int:
        """Send a push to the topic's subscribers (queued until one subscribes)."""
        return self._call(self._core.push(message, topic))

    def push_liquidations(
        self,
        symbol: str,
        events: Iterable[dict[str, Any]],
        ts_ms: int | None = None,
    ) -> dict[str, Any]:
        """Send one ``allLiquidation.<symbol>`` push; return the message sent."""
        message = liquidation_message(symbol, list(events), ts_ms)
        self.push(message)
        return message

    def push_trades(
        self,
        symbol: str,
        trades: list[tuple[str, float | str, float | str]],
        ts_ms: int | None = None,
    ) -> dict[str, Any]:
        """Send one ``publicTrade.<symbol>`` push; return the message sent."""
        message = trade_message(symbol, trades, ts_ms)
        self.push(message)
        return message

    def broadcast_raw(self, text: str) -> int:
        """Send raw text to every connection (malformed or unknown messages)."""
        return self._call(self._core.broadcast_raw(text))

    def replay(self, topic: str, last: int) -> int:
        """Re-send the last ``last`` pushes of ``topic`` to its subscribers."""
        return self._call(self._core.replay(topic, last))

    def drop_all(self) -> int:
        """Abort every connection abruptly; return how many were dropped."""
        return self._call(self._core.drop_all())

    def reject_next(self, count: int) -> None:
        """Refuse the next ``count`` handshakes (HTTP 503)."""
        self._snapshot(lambda: self._core.reject_next(count))


# -- separate-process scenarios (benchmarks) ------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """
    A scripted replay run by :func:`serve_scenario` once a client subscribes.

    Parameters
    ----------
    symbol : str
        The symbol whose ``allLiquidation`` topic is played.
    messages : list[list[dict]]
        Events per push, in order. Each event is a :func:`liquidation_event` dict; its ``T``
        (and the push's ``ts``) are set to the actual send time.
    times_s : list[float]
        Send time of each push, in seconds after the start (paced against the start, so no
        drift accumulates; a late push goes out at once).
    start_delay_s : float
        Wait after the subscription before the first push.

    """

    symbol: str
    messages: list[list[dict[str, Any]]]
    times_s: list[float]
    start_delay_s: float = 0.5

    def __post_init__(self) -> None:
        if len(self.times_s) != len(self.messages):
            raise ValueError("one send time per message")


async def _play(scenario: Scenario, report: Callable[[dict[str, Any]], None]) -> None:
    server = BybitProtocolServer()
    await server.start()
    report({"url": server.url})
    topic = f"allLiquidation.{scenario.symbol}"
    while server.subscribers(topic) == 0:
        await server.wait_changed(0.1)
    await asyncio.sleep(scenario.start_delay_s)
    send_ns: list[int] = []
    start = time.perf_counter()
    for at, events in zip(scenario.times_s, scenario.messages, strict=True):
        delay = start + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.time_ns()
        t_ms = sent // 1_000_000
        for event in events:
            event["T"] = t_ms
        send_ns.append(sent)
        await server.push(liquidation_message(scenario.symbol, events, t_ms))
    report({"send_ns": send_ns, "elapsed_s": time.perf_counter() - start})
    while server.open_connections:  # keep serving until the client leaves
        await server.wait_changed(0.5)
    await server.stop()


def serve_scenario(scenario: Scenario, queue: Any) -> None:
    """
    Process target: serve on a random loopback port and play ``scenario``.

    Puts ``{"url": ...}`` on ``queue`` once listening, then ``{"send_ns": [...], "elapsed_s"}``
    (wall-clock send time of each push) when done. Ends when the client disconnects.
    """
    asyncio.run(_play(scenario, queue.put))
