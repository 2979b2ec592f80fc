"""What a :class:`~liqcascade.live.bybit_stream.BybitPublicStream` is configured with and what
it reports: its settings, its counters, and the log it writes through.

Kept apart from the connection itself so the readers (the live data client, the recorder) and
their configs can name these without importing the websocket machinery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import Protocol


class StreamLog(Protocol):
    """What the stream logs through: NautilusTrader's ``Logger`` or :class:`StdLog`."""

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...

    def exception(self, message: str, ex: BaseException) -> None: ...


class StdLog:
    """A standard-library logger with the methods of NautilusTrader's ``Logger``."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, message: str) -> None:
        self._logger.info(message)

    def warning(self, message: str) -> None:
        self._logger.warning(message)

    def error(self, message: str) -> None:
        self._logger.error(message)

    def exception(self, message: str, ex: BaseException) -> None:
        self._logger.error(message, exc_info=ex)


def should_log(count: int) -> bool:
    """The first ten, then every power of ten: a flood of bad messages cannot flood the log."""
    return count <= 10 or str(count).rstrip("0") == "1"


@dataclass(frozen=True)
class StreamSettings:
    """
    The connection rules of a :class:`BybitPublicStream`.

    Parameters
    ----------
    url : str
        Websocket URL of a Bybit public stream (tests use a local server).
    ping_interval_s, pong_timeout_s : float
        Application ping period; how long a connection may stay silent after a ping.
    reconnect_initial_s, reconnect_max_s : float
        First reconnection delay (doubling per failed attempt) and its cap, before jitter.
    open_timeout_s : float
        Timeout of one websocket opening handshake.
    subscribe_batch : int
        Topics per subscribe request.
    max_message_bytes : int
        Largest accepted websocket message.
    proxy : str | True | None
        Proxy URL; ``True`` = the environment's proxy settings (``websockets``' default);
        ``None`` = a direct connection.
    heartbeat_topic : str, optional
        An always-busy topic subscribed with the first topic (``{symbol}`` = that topic's
        symbol), ``None`` for no stall detection.
    stall_timeout_s : float
        No push for this long while the heartbeat topic is acknowledged replaces the connection.
    refusal_retry_initial_s, refusal_retry_max_s : float
        Retry delay of a refused subscription, doubling up to the cap.
    request_ids : bool
        Tag subscribe requests with a ``req_id`` (which ties a refusal to its topics, so refused
        topics can be retried and are never reported as subscribed). Without it a refusal is
        counted and logged only, and nothing is ever acknowledged: stall detection, which starts
        once the heartbeat topic is acknowledged, is off too.

    """

    url: str
    ping_interval_s: float
    pong_timeout_s: float
    reconnect_initial_s: float
    reconnect_max_s: float
    open_timeout_s: float
    subscribe_batch: int
    max_message_bytes: int
    proxy: str | Literal[True] | None = True
    heartbeat_topic: str | None = None
    stall_timeout_s: float = 5.0
    refusal_retry_initial_s: float = 1.0
    refusal_retry_max_s: float = 60.0
    request_ids: bool = True

    @classmethod
    def of(cls, config: Any, **overrides: Any) -> StreamSettings:
        """The settings a configuration has under the same names (the optional ones may be
        missing: their defaults apply); ``overrides`` win."""
        names = [f.name for f in dataclasses.fields(cls) if hasattr(config, f.name)]
        return cls(**{**{name: getattr(config, name) for name in names}, **overrides})


@dataclass(frozen=True, kw_only=True)
class ConnectionStats:
    """
    A snapshot of the connection's counters (readers extend it with their own).

    Parameters
    ----------
    connected : bool
        Whether a websocket connection is open right now.
    messages : int
        Websocket messages received (all kinds).
    malformed : int
        Undecodable messages plus invalid events the reader reported (each skipped).
    unknown : int
        Messages of topics not subscribed, or unrecognised control messages (skipped).
    reconnects : int
        Connections opened after the first one.
    connect_failures : int
        Failed connection attempts.
    pings, pongs : int
        Application pings sent and pongs received.
    subscribe_errors : int
        Subscribe/unsubscribe requests the server refused.
    last_message_ns : int | None
        Receipt time of the last message (the stream's clock), ``None`` before the first.
    refused_topics : tuple[str, ...]
        Topics refused and waiting for their retry (not subscribed).
    subscribed : tuple[str, ...]
        Topics the server acknowledged on the current connection (with ``request_ids``).
    stalls : int
        Connections replaced because pushes stopped while pongs continued.

    """

    connected: bool
    messages: int
    malformed: int
    unknown: int
    reconnects: int
    connect_failures: int
    pings: int
    pongs: int
    subscribe_errors: int
    last_message_ns: int | None
    refused_topics: tuple[str, ...] = ()
    subscribed: tuple[str, ...] = ()
    stalls: int = 0
