"""The live Bybit liquidation client inside a real TradingNode, against a local server.

Every test is bounded (``SCENARIO_TIMEOUT_S`` per scenario, explicit waits inside) and talks to
``127.0.0.1`` only.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import tomllib

import pytest
from nautilus_trader.live.config import TradingNodeConfig
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId

import liqcascade.live.factories
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.liquidation_client import BybitLiquidationDataClient
from liqcascade.live.push_conversion import RecentKeys
from liqcascade.live.push_conversion import topic_for
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_server import liquidation_message
from tests.live.conftest import CLIENT
from tests.live.conftest import ETH
from tests.live.conftest import Harness
from tests.live.conftest import node_config
from tests.live.conftest import run_node

BTC = "BTCUSDT-LINEAR.BYBIT"
TOPIC = "allLiquidation.ETHUSDT"
MS = 1_000_000


def test_subscription_message_is_bybit_exact(server: BybitServer) -> None:
    async def scenario(h: Harness) -> None:
        assert h.client.ws_connected
        assert h.client.topics == [TOPIC]

    run_node(server, scenario)
    subscribes = [r for r in server.received if r.message and r.message["op"] == "subscribe"]
    # req_id ties Bybit's answer to the topics; tickers is the always-busy heartbeat topic.
    assert [r.raw for r in subscribes] == [
        '{"req_id":"1","op":"subscribe","args":["allLiquidation.ETHUSDT"]}',
        '{"req_id":"2","op":"subscribe","args":["tickers.ETHUSDT"]}',
    ]


def test_client_pings_and_counts_pongs(server: BybitServer) -> None:
    async def scenario(h: Harness) -> None:
        await h.wait_for(lambda: h.client.stats().pongs >= 3, "three pongs")

    harness = run_node(server, scenario, ping_interval_s=0.2)
    pings = [r for r in server.received if r.raw == '{"op":"ping"}']
    assert len(pings) >= 3
    gaps = [(b.ts_ns - a.ts_ns) / 1e9 for a, b in itertools.pairwise(pings)]
    assert all(0.15 < gap < 1.0 for gap in gaps), gaps  # every ~0.2 s, not a flood
    stats = harness.client.stats()
    assert stats.pings >= 3
    assert stats.reconnects == 0


def test_push_becomes_liquidation_data_with_receipt_time(server: BybitServer) -> None:
    sent: dict = {}

    async def scenario(h: Harness) -> None:
        t_ms = time.time_ns() // MS - 300  # the exchange event happened before the push
        events = [
            liquidation_event("ETHUSDT", "Buy", "0.5", "2500.1", t_ms),
            liquidation_event("ETHUSDT", "Sell", "2", "2510", t_ms + 1),
        ]
        sent["before_ns"] = h.now_ns()
        sent["message"] = h.server.push_liquidations("ETHUSDT", events)
        await h.wait_delivered(2)
        await h.settle(0.1)

    harness = run_node(server, scenario, heartbeat_topic=None)  # the only pushes: ours
    message = sent["message"]
    (long_liq, long_seen), (short_liq, _) = harness.recorder.received
    assert len(harness.recorder.received) == 2
    # "S":"Buy" is the liquidated position's side: a long was liquidated.
    assert (long_liq.side, short_liq.side) == (LONG, SHORT)
    assert long_liq.is_long_liquidated and not short_liq.is_long_liquidated
    assert long_liq.instrument_id == InstrumentId.from_str(ETH)
    assert (long_liq.price, long_liq.quantity) == (2500.1, 0.5)
    assert long_liq.notional == pytest.approx(1250.05)
    assert (short_liq.price, short_liq.quantity, short_liq.notional) == (2510.0, 2.0, 5020.0)
    assert long_liq.ts_event == message["data"][0]["T"] * MS
    assert short_liq.ts_event == message["data"][1]["T"] * MS
    # ts_init is the client's receipt time (+ the loaders' 1 ns tie-break): after the push was
    # made and sent, before the actor saw it, and one value for the whole message.
    assert long_liq.ts_init == short_liq.ts_init
    assert long_liq.ts_init >= message["ts"] * MS
    assert sent["before_ns"] < long_liq.ts_init <= long_seen + TIE_BREAK_NS
    stats = harness.client.stats()
    assert (stats.liquidations, stats.malformed, stats.duplicates) == (2, 0, 0)
    assert stats.last_message_ns is not None
    assert stats.last_message_ns == long_liq.ts_init - TIE_BREAK_NS


def test_reconnects_resubscribes_and_drops_replayed_events(server: BybitServer) -> None:
    """The server drops every connection mid-cascade, then replays its last pushes."""
    server.replay_last = 2
    timing: dict[str, float] = {}

    async def scenario(h: Harness) -> None:
        t = time.time_ns() // MS
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 10, 2500, t)])
        # Two identical events in one push are two liquidations, not a duplicate.
        same = liquidation_event("ETHUSDT", "Buy", 4, 2499.5, t + 5)
        h.server.push_liquidations("ETHUSDT", [same, dict(same)])
        h.server.push_liquidations("BTCUSDT", [liquidation_event("BTCUSDT", "Sell", 1, 90000, t)])
        await h.wait_delivered(4)

        assert h.server.drop_all() == 1
        timing["reconnect_s"] = await h.wait_for(
            lambda: (
                h.server.subscribe_count(TOPIC) == 2
                and h.server.subscribe_count("allLiquidation.BTCUSDT") == 2
            ),
            "resubscription",
            timeout=5.0,
        )
        # The reconnected client gets the replay (4 ETH events, 1 BTC event) and then new events.
        await h.wait_for(lambda: h.client.stats().duplicates == 4, "replayed duplicates dropped")
        h.server.push_liquidations(
            "ETHUSDT", [liquidation_event("ETHUSDT", "Sell", 3, 2480, t + 9)]
        )
        await h.wait_delivered(5)
        await h.settle()

    harness = run_node(
        server, scenario, instrument_ids=(ETH, BTC), reconnect_initial_s=0.1, ping_interval_s=60
    )
    assert timing["reconnect_s"] < 5.0
    data = harness.recorder.data
    assert [(d.instrument_id.value, d.side, d.quantity) for d in data] == [
        (ETH, LONG, 10.0),
        (ETH, LONG, 4.0),
        (ETH, LONG, 4.0),
        (BTC, SHORT, 1.0),
        (ETH, SHORT, 3.0),
    ]
    stats = harness.client.stats()
    assert stats.reconnects == 1
    assert stats.duplicates == 4
    assert stats.liquidations == 5
    assert stats.connected is False  # the node has stopped
    # After the reconnection both topics were requested again, in one subscribe message.
    subscribes = server.received_messages("subscribe")
    assert [m["args"] for m in subscribes[-2:]] == [
        ["allLiquidation.ETHUSDT", "allLiquidation.BTCUSDT"],
        ["tickers.ETHUSDT"],
    ]


def test_malformed_and_unknown_messages_are_counted_and_skipped(server: BybitServer) -> None:
    good = liquidation_event("ETHUSDT", "Buy", 1, 2500)

    async def scenario(h: Harness) -> None:
        raw = [
            "{not json",  # malformed
            "[1, 2, 3]",  # malformed: not an object
            '{"topic":"orderbook.50.ETHUSDT","type":"snapshot","data":{}}',  # unknown topic
            '{"hello":"world"}',  # unknown control message
            json.dumps(liquidation_message("ETHUSDT", [dict(good, S="Hold")])),  # bad side
            json.dumps({"topic": TOPIC, "ts": 1, "data": {"not": "a list"}}),  # bad data
            json.dumps(  # a refused subscription: counted apart, not malformed
                {
                    "success": False,
                    "ret_msg": "error:already subscribed,topic:allLiquidation.ETHUSDT",
                    "conn_id": "x",
                    "req_id": "",
                    "op": "subscribe",
                }
            ),
        ]
        for text in raw:
            assert h.server.broadcast_raw(text) == 1
        # One bad event spoils only itself: the good one in the same push is delivered.
        bad_price = dict(good, p="n/a", T=good["T"] + 1)
        h.server.push_liquidations("ETHUSDT", [bad_price, good])
        h.server.push_liquidations("ETHUSDT", [dict(good, S="Sell", T=good["T"] + 2)])
        await h.wait_delivered(2)
        await h.settle()

    harness = run_node(server, scenario)
    assert [d.side for d in harness.recorder.data] == [LONG, SHORT]
    stats = harness.client.stats()
    assert stats.malformed == 5  # 2 undecodable + bad side + bad data + bad price
    assert stats.unknown == 2
    assert stats.subscribe_errors == 1
    assert stats.liquidations == 2
    assert stats.reconnects == 0
    assert stats.messages >= 10  # 7 raw + 2 pushes + the subscribe ack


def test_backoff_after_refused_handshakes(server: BybitServer) -> None:
    async def scenario(h: Harness) -> None:
        h.server.reject_next(3)
        h.server.drop_all()
        await h.wait_for(lambda: h.client.stats().reconnects == 1, "reconnection", 5.0)
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2500)])
        await h.wait_delivered(1)

    harness = run_node(server, scenario, reconnect_initial_s=0.05, reconnect_max_s=0.2)
    stats = harness.client.stats()
    assert stats.connect_failures == 3
    assert stats.reconnects == 1
    assert server.connections_opened == 2


def test_silent_connection_is_replaced(server: BybitServer) -> None:
    """No pong, no push after a ping: the connection is presumed dead and replaced."""

    async def scenario(h: Harness) -> None:
        h.server.answer_pings = False
        h.server.stalled = True  # not even the heartbeat topic: a dead connection
        await h.wait_for(lambda: h.client.stats().reconnects >= 1, "stale detection", 5.0)
        h.server.answer_pings = True
        h.server.stalled = False
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Sell", 1, 2500)])
        await h.wait_delivered(1)

    harness = run_node(
        server, scenario, ping_interval_s=0.2, pong_timeout_s=0.2, reconnect_initial_s=0.05
    )
    assert harness.client.stats().reconnects >= 1
    assert server.subscribe_count(TOPIC) >= 2


def test_unsubscribe_is_sent_and_not_resubscribed(server: BybitServer) -> None:
    async def scenario(h: Harness) -> None:
        h.recorder.unsubscribe_data(
            DataType(LiquidationData),
            client_id=ClientId(CLIENT),
            instrument_id=InstrumentId.from_str(ETH),
        )
        await h.wait_for(lambda: h.server.subscribers(TOPIC) == 0, "unsubscription")
        h.server.drop_all()
        await h.wait_for(lambda: h.client.stats().reconnects == 1, "reconnection")
        await h.settle()

    harness = run_node(server, scenario, reconnect_initial_s=0.05)
    assert harness.client.topics == []
    assert server.received_messages("unsubscribe") == [
        {"op": "unsubscribe", "args": ["allLiquidation.ETHUSDT"]}
    ]
    assert server.subscribe_count(TOPIC) == 1  # not requested again after the reconnection


def test_non_linear_instrument_is_refused_without_a_request(server: BybitServer) -> None:
    async def scenario(h: Harness) -> None:
        await h.settle()

    harness = run_node(server, scenario, instrument_ids=(ETH, "ETHUSDT-SPOT.BYBIT"))
    assert harness.client.topics == [TOPIC]
    assert [d.metadata["instrument_id"].value for d in harness.client.subscribed_custom_data()] == [
        ETH
    ]
    assert [m["args"] for m in server.received_messages("subscribe")] == [
        ["allLiquidation.ETHUSDT"],
        ["tickers.ETHUSDT"],
    ]


def _docstring_block(title: str) -> str:
    """The literal block after ``title::`` in ``liqcascade.live.factories``' docstring."""
    doc = liqcascade.live.factories.__doc__ or ""
    match = re.search(rf"{title}[^\n]*::\n\n((?:    .*\n|\n)+)", doc)
    assert match, f"no {title} block in liqcascade.live.factories"
    return "\n".join(line[4:] for line in match.group(1).splitlines())


def test_node_config_snippets_from_docstring_build_the_client(server: BybitServer) -> None:
    toml_clients = tomllib.loads(_docstring_block("TOML"))["data_clients"]
    json_clients = json.loads("{" + _docstring_block("JSON") + "}")["data_clients"]
    assert toml_clients == json_clients
    json_clients[CLIENT]["config"]["url"] = server.url  # never the real Bybit in tests
    node_json = json.loads(node_config({}).json())
    node_json["data_clients"] = json_clients
    config = TradingNodeConfig.parse(json.dumps(node_json))

    async def scenario(h: Harness) -> None:
        assert ClientId(CLIENT) in h.node.kernel.data_engine.registered_clients
        assert isinstance(h.client, BybitLiquidationDataClient)
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2500)])
        await h.wait_delivered(1)

    harness = run_node(server, scenario, config=config)
    assert harness.recorder.data[0].side == LONG
    # The data engine must not route BYBIT market data (trades, quotes) to this client.
    engine = harness.node.kernel.data_engine
    assert engine.default_client is None
    assert set(engine.routing_map) == {harness.client.venue}


def test_topic_for_linear_instruments_only() -> None:
    assert topic_for(InstrumentId.from_str(ETH)) == TOPIC
    assert topic_for(InstrumentId.from_str("1000PEPEUSDT-LINEAR.BYBIT")) == (
        "allLiquidation.1000PEPEUSDT"
    )
    for other in ("ETHUSDT-SPOT.BYBIT", "BTCUSD-INVERSE.BYBIT"):
        with pytest.raises(ValueError, match="not a Bybit linear instrument"):
            topic_for(InstrumentId.from_str(other))


def test_recent_keys_forget_the_oldest() -> None:
    keys = RecentKeys(capacity=2)
    a, b, c = (("ETHUSDT", i, LONG, 1.0, 1.0, 0) for i in range(3))
    assert keys.add(a) and keys.add(b)
    assert not keys.add(a)
    assert keys.add(c)  # evicts a
    assert len(keys) == 2
    assert keys.add(a)  # a was forgotten
    assert not keys.add(c)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "https://stream.bybit.com"),
        ("ping_interval_s", 0),
        ("dedupe_window", 0),
        ("reconnect_max_s", 0.1),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        BybitLiquidationClientConfig(**{field: value})


# -- feed health (issue 12, finding 5) ----------------------------------------------------------


def test_dead_connection_is_replaced_within_10_s_with_the_default_settings(
    server: BybitServer,
) -> None:
    """No pong and no push (a half-open connection): replaced in well under a cascade."""
    seen: dict = {}

    async def scenario(h: Harness) -> None:
        await h.wait_for(lambda: h.client.stats().pongs >= 1, "a first pong", 8.0)
        h.server.answer_pings = False
        h.server.stalled = True
        seen["replaced_after_s"] = await h.wait_for(
            lambda: h.client.stats().reconnects >= 1, "the replacement", 12.0
        )
        h.server.answer_pings, h.server.stalled = True, False

    run_node(server, scenario, reconnect_initial_s=0.05)
    assert seen["replaced_after_s"] < 10.0


def test_a_feed_that_stops_pushing_while_pongs_continue_is_replaced(server: BybitServer) -> None:
    """The server answers every ping but delivers nothing: the always-busy heartbeat topic
    (tickers, 100 ms) goes quiet, the connection is replaced, and what the stalled server held
    back arrives on the new one."""

    async def scenario(h: Harness) -> None:
        await h.wait_for(lambda: "tickers.ETHUSDT" in h.client.stats().subscribed, "heartbeat")
        h.server.stalled = True
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 2, 2500)])
        await h.wait_for(lambda: h.client.stats().stalls >= 1, "stall detection", 5.0)
        h.server.stalled = False
        await h.wait_delivered(1)

    harness = run_node(
        server, scenario, stall_timeout_s=0.6, ping_interval_s=0.2, reconnect_initial_s=0.05
    )
    stats = harness.client.stats()
    assert stats.pongs >= 2  # the socket answered all along
    assert stats.stalls >= 1 and stats.reconnects >= 1
    assert [d.quantity for d in harness.recorder.data] == [2.0]


def test_a_refused_subscription_is_retried_with_backoff_and_reported(server: BybitServer) -> None:
    heartbeat = "tickers.ETHUSDT"  # refused here so that the liquidation topic lets us start
    server.refuse_topic(heartbeat, 2)
    seen: dict = {}

    async def scenario(h: Harness) -> None:
        await h.wait_for(lambda: heartbeat in h.client.stats().refused_topics, "the refusal")
        seen["while_refused"] = h.client.stats()
        await h.wait_for(lambda: heartbeat in h.client.stats().subscribed, "the retries", 5.0)

    harness = run_node(server, scenario, refusal_retry_initial_s=0.3, refusal_retry_max_s=1.0)
    refused = seen["while_refused"]
    assert heartbeat not in refused.subscribed  # never reported as subscribed while refused
    assert TOPIC in refused.subscribed
    stats = harness.client.stats()
    assert stats.subscribe_errors == 2 and stats.refused_topics == ()
    sent = [r for r in server.received if r.message and r.message.get("op") == "subscribe"]
    tries = [r for r in sent if r.message["args"] == [heartbeat]]
    assert len(tries) == 3  # refused twice, retried each time...
    gaps = [(b.ts_ns - a.ts_ns) / 1e9 for a, b in itertools.pairwise(tries)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.55  # ...with a doubling delay (0.3 s, 0.6 s)
