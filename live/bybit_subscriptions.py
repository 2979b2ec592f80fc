"""Which topics a Bybit public-stream connection wants, has requested, has, and was refused.

The one concern of this module is the subscription bookkeeping of
:class:`~liqcascade.live.bybit_stream.BybitPublicStream`, with no input or output of its own: it
builds the subscribe requests and reads Bybit's replies
(``{"success": bool, "ret_msg": str, "req_id": str, "op": "subscribe"}``, see
https://bybit-exchange.github.io/docs/v5/ws/connect).

* Wanted topics are kept across connections, in the order asked; "requested" and "acknowledged"
  are per connection.
* The heartbeat topic (an always-busy topic, ``{symbol}`` = the first wanted topic's symbol) is
  requested on its own: a refusal of one request must not hold back the other.
* At most ``batch`` topics per request (Bybit documents 10 args per request for spot).
* With ``request_ids`` each request carries a ``req_id``, the only way to tell which topics a
  refusal is about: refused topics are then never reported as subscribed and are retried alone
  with doubling backoff. A refusal tied to no request of ours is reported as topic ``"?"``.
  "already subscribed" is a success.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import batched
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:  # only a type: the stream module imports this one
    from liqcascade.live.stream_settings import StreamLog

#: Reported in ``refused`` for a refusal that names no request of ours (never retried).
UNKNOWN_TOPIC = "?"


class Subscriptions:
    """
    The topics of one stream and their state on the current connection.

    Parameters
    ----------
    log : StreamLog
        Where refusals are logged.
    heartbeat_template : str, optional
        The heartbeat topic, ``{symbol}`` standing for the first wanted topic's symbol.
    batch : int
        Topics per subscribe request.
    request_ids : bool
        Tag requests with a ``req_id`` (refusals tied to topics, retried).
    retry_initial_s, retry_max_s : float
        Retry delay of a refused topic, doubling up to the cap.

    """

    def __init__(
        self,
        log: StreamLog,
        heartbeat_template: str | None,
        batch: int,
        request_ids: bool,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        self._log = log
        self._template = heartbeat_template
        self._batch = batch
        self._request_ids = request_ids
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._wanted: dict[str, None] = {}  # kept across connections, in order
        self.heartbeat: str | None = None  # once a symbol is known
        self._sent: set[str] = set()  # requested on the current connection
        self._acked: set[str] = set()  # acknowledged on the current connection
        self._requests: dict[str, list[str]] = {}  # req_id -> topics (to know what was refused)
        self._req_ids = 0
        self._refused: dict[str, tuple[float, float]] = {}  # topic -> (retry at, next delay)
        self.errors = 0  # subscribe/unsubscribe requests refused

    @property
    def wanted(self) -> list[str]:
        """The topics wanted (the heartbeat apart), in the order asked."""
        return list(self._wanted)

    @property
    def acknowledged(self) -> tuple[str, ...]:
        """Topics acknowledged on the current connection, sorted."""
        return tuple(sorted(self._acked))

    @property
    def refused(self) -> tuple[str, ...]:
        """Topics refused and waiting for their retry, sorted."""
        return tuple(sorted(self._refused))

    @property
    def heartbeat_acknowledged(self) -> bool:
        """Whether the heartbeat topic is acknowledged (pushes must flow)."""
        return self.heartbeat is not None and self.heartbeat in self._acked

    def is_wanted(self, topic: Any) -> bool:
        """Whether ``topic`` (the heartbeat apart) is wanted."""
        return isinstance(topic, str) and topic in self._wanted

    def want(self, topics: Iterable[str]) -> str | None:
        """Want ``topics``; return the heartbeat topic if this made it known, else ``None``."""
        topics = list(topics)
        self._wanted.update(dict.fromkeys(topics))
        if not topics or self._template is None or self.heartbeat is not None:
            return None
        self.heartbeat = self._template.format(symbol=topics[0].split(".", 1)[1])
        return self.heartbeat

    def drop(self, topic: str) -> bool:
        """Stop wanting ``topic``; return whether it was requested (so an unsubscribe is due)."""
        self._wanted.pop(topic, None)
        self._refused.pop(topic, None)
        self._acked.discard(topic)
        requested = topic in self._sent
        self._sent.discard(topic)
        return requested

    def new_connection(self) -> None:
        """Forget what the last connection requested and had acknowledged."""
        self._sent = set()
        self._acked = set()
        self._requests = {}

    def requests(self, topics: Iterable[str]) -> list[dict[str, Any]]:
        """The subscribe requests for those of ``topics`` not requested yet on this connection
        (marked requested now, before anything is sent)."""
        new = [t for t in topics if t not in self._sent]
        self._sent.update(new)
        requests: list[dict[str, Any]] = []
        for chunk in batched(new, self._batch):
            request: dict[str, Any] = {"op": "subscribe", "args": list(chunk)}
            if self._request_ids:
                self._req_ids += 1
                req_id = str(self._req_ids)
                self._requests[req_id] = list(chunk)
                request = {"req_id": req_id, **request}
            requests.append(request)
        return requests

    def due(self, now: float) -> list[str]:
        """Refused topics (still wanted) whose retry is due at monotonic time ``now``."""
        wanted = (*self._wanted, self.heartbeat)
        return [t for t, (at, _) in self._refused.items() if at <= now and t in wanted]

    def on_reply(self, message: dict[str, Any], now: float) -> None:
        """Read a ``subscribe`` / ``unsubscribe`` reply received at monotonic time ``now``."""
        refused = message.get("success") is False
        text = str(message.get("ret_msg") or "")
        if refused:
            self.errors += 1
        if message.get("op") != "subscribe":
            if refused:
                self._log.error(f"Bybit refused {message.get('op')}: {text!r}")
            return
        topics = self._requests.pop(str(message.get("req_id", "")), [])
        if not refused or "already subscribed" in text:
            self._acked.update(topics)
            for topic in topics:
                self._refused.pop(topic, None)
            return
        if not topics:
            self._refused[UNKNOWN_TOPIC] = (float("inf"), 0.0)  # nothing to retry
            self._log.error(f"Bybit refused a subscription: {text!r}")
            return
        for topic in topics:
            self._sent.discard(topic)
            self._acked.discard(topic)
            _, delay = self._refused.get(topic, (0.0, self._retry_initial_s))
            self._refused[topic] = (now + delay, min(delay * 2, self._retry_max_s))
            self._log.error(f"Bybit refused {topic}: {text!r}; retrying in {delay:.1f} s")
