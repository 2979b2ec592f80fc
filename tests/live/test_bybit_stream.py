"""The shared Bybit public-stream connection on its own, against the local Bybit-protocol server.

Reconnection with resubscription, pings, and bad messages counted and skipped are pinned through
both users of the stream (``test_liquidation_client.py``, ``test_recorder.py``); these tests pin
what only the stream and its subscription bookkeeping decide. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import pytest

from liqcascade.live.bybit_stream import BybitPublicStream
from liqcascade.live.bybit_stream import backoff_delay
from liqcascade.live.bybit_subscriptions import Subscriptions
from liqcascade.live.stream_settings import StdLog
from liqcascade.live.stream_settings import StreamSettings
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event

TOPIC = "allLiquidation.ETHUSDT"
LOG = StdLog(logging.getLogger("tests.bybit_stream"))


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition`` on the loop; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def run_stream(
    server: BybitServer,
    on_push: Callable[[str, dict[str, Any], str | bytes, int], None],
    scenario: Callable[[BybitPublicStream], Awaitable[None]],
    **settings: Any,
) -> BybitPublicStream:
    """Subscribe ``TOPIC`` on a stream to ``server``, run ``scenario``, close the stream."""

    async def main() -> BybitPublicStream:
        options: dict[str, Any] = {
            "url": server.url,
            "ping_interval_s": 20.0,
            "pong_timeout_s": 10.0,
            "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.2,
            "open_timeout_s": 5.0,
            "subscribe_batch": 10,
            "max_message_bytes": 2**20,
            "proxy": None,
        }
        stream = BybitPublicStream(
            StreamSettings(**{**options, **settings}), on_push, time.time_ns, LOG
        )
        await stream.subscribe([TOPIC])
        stream.start()
        try:
            await asyncio.wait_for(stream.wait_open(), 5.0)
            await asyncio.wait_for(scenario(stream), 10.0)
        finally:
            await stream.close()
        return stream

    return asyncio.run(main())


@pytest.fixture
def server() -> Any:
    with BybitServer() as srv:
        yield srv


def test_a_reader_that_raises_costs_one_message_not_the_connection(server: BybitServer) -> None:
    delivered: list[str] = []

    def on_push(topic: str, message: dict[str, Any], raw: str | bytes, recv_ns: int) -> None:
        size = message["data"][0]["v"]
        if size == "13":
            raise RuntimeError("a bug in the reader")
        delivered.append(size)

    async def scenario(stream: BybitPublicStream) -> None:
        for size in (13, 1):
            server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", size, 2500)])
        await wait_for(lambda: delivered == ["1"], "the push after the failing one")

    stats = run_stream(server, on_push, scenario).stats()
    assert (stats.malformed, stats.reconnects) == (1, 0)
    assert server.connections_opened == 1


def test_a_refusal_of_a_plain_request_is_reported_and_never_retried(server: BybitServer) -> None:
    """Without ``req_id`` Bybit's refusal names no request: counted, shown as "?", not retried."""
    server.refuse_topic(TOPIC, 1)

    async def scenario(stream: BybitPublicStream) -> None:
        await wait_for(lambda: stream.stats().subscribe_errors == 1, "the refusal")
        await asyncio.sleep(0.5)  # five retry delays: nothing may be sent again

    stats = run_stream(
        server, lambda *_: None, scenario, request_ids=False, refusal_retry_initial_s=0.1
    ).stats()
    assert stats.refused_topics == ("?",)
    assert stats.subscribed == ()
    # Bybit's plain form, exactly, once.
    assert server.received_messages("subscribe") == [{"op": "subscribe", "args": [TOPIC]}]


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    assert backoff_delay(0, 0.5, 30.0, 0.0) == 0.25
    assert backoff_delay(0, 0.5, 30.0, 0.5) == 0.375
    assert backoff_delay(3, 0.5, 30.0, 0.0) == 2.0  # 0.5 doubled three times, halved
    assert backoff_delay(10, 0.5, 30.0, 0.0) == 15.0  # capped at 30 s
    assert backoff_delay(10_000, 0.5, 30.0, 0.999) == pytest.approx(29.985)  # no overflow


def test_subscribe_requests_carry_at_most_ten_topics_and_refusals_are_retried() -> None:
    """Bybit documents 10 args per subscribe request (spot); req_id ties replies to topics."""
    subs = Subscriptions(LOG, "tickers.{symbol}", 10, True, 1.0, 60.0)
    topics = [f"allLiquidation.S{i}USDT" for i in range(12)]
    assert subs.want(topics) == "tickers.S0USDT"
    first, second = subs.requests(subs.wanted)
    assert first == {"req_id": "1", "op": "subscribe", "args": topics[:10]}
    assert second == {"req_id": "2", "op": "subscribe", "args": topics[10:]}
    assert subs.requests(topics) == []  # already requested on this connection
    assert subs.requests(["tickers.S0USDT"]) == [
        {"req_id": "3", "op": "subscribe", "args": ["tickers.S0USDT"]}
    ]

    subs.on_reply({"success": True, "ret_msg": "", "req_id": "1", "op": "subscribe"}, now=0.0)
    subs.on_reply({"success": False, "ret_msg": "error", "req_id": "2", "op": "subscribe"}, 0.0)
    assert subs.acknowledged == tuple(sorted(topics[:10]))
    assert subs.refused == tuple(sorted(topics[10:])) and subs.errors == 1
    assert subs.due(0.5) == [] and subs.due(1.0) == topics[10:]
    (retry,) = subs.requests(topics[10:11])  # alone, with a req_id of its own
    assert retry == {"req_id": "4", "op": "subscribe", "args": topics[10:11]}

    subs.new_connection()  # a reconnection: everything is requested again
    assert [r["args"] for r in subs.requests(subs.wanted)] == [topics[:10], topics[10:]]
    assert subs.acknowledged == ()
