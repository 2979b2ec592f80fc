"""Live nodes against a local Bybit: the framework's real exec client, REST and websockets.

Every node is built by :func:`liqcascade.live.node.build_node` from ``configs/live.toml``: the
framework's ``BybitExecutionClient`` talks to :class:`tests.live.bybit_venue.BybitVenue` (REST,
private and trade websockets on 127.0.0.1), market data and liquidations come from the local
public-stream server. Each test pins one finding of issue 12.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.live.node import BuiltNode
from liqcascade.live.node import ConfigError
from liqcascade.live.node import build_node
from liqcascade.live.node import load_node_spec
from liqcascade.strategies.event_log import read_events
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_venue import BybitVenue
from tests.live.bybit_venue import VenueOrder
from tests.live.test_paper_node import ROOT
from tests.live.test_paper_node import drive_node
from tests.live.test_paper_node import overrides
from tests.live.test_paper_node import wait_for

LIVE = ROOT / "configs" / "live.toml"
ETH = InstrumentId.from_str("ETHUSDT-LINEAR.BYBIT")
KEYS = {
    "BYBIT_API_KEY": "MAINkey0000000000x",
    "BYBIT_API_SECRET": "MAINsecret000000000000000000000000x",
    "BYBIT_DEMO_API_KEY": "DEMOkey0000000000x",
    "BYBIT_DEMO_API_SECRET": "DEMOsecret000000000000000000000000x",
}
Scenario = Callable[[BuiltNode], Awaitable[None]]


def live_overrides(
    server: BybitServer, venue: BybitVenue, tmp_path: Path, *extra: str
) -> list[str]:
    """``configs/live.toml`` on ETH against the local servers (no health port, no polling)."""
    return overrides(
        server,
        tmp_path,
        "strategy.defaults.trade_notional=2000",  # 1.00 ETH at 1997
        f'controls.rest_url="{venue.http_url}"',
        "live.open_check_interval_secs=30",  # tests that need it set their own
        *extra,
    )


def run_live(
    server: BybitServer,
    venue: BybitVenue,
    tmp_path: Path,
    session: str,
    scenario: Scenario,
    *extra: str,
    env: str = "mainnet",
) -> BuiltNode:
    """Build a live node, start it, run ``scenario``, stop it."""
    fresh_bybit_clients()
    spec = load_node_spec(LIVE, live_overrides(server, venue, tmp_path, *extra))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    built = build_node(
        spec,
        env=env,
        confirm_mainnet=True,
        loop=loop,
        environ=KEYS,
        bybit_exec_overrides=venue.exec_overrides,
        session_name=session,
    )

    async def ready() -> None:
        await wait_for(lambda: built.node.trader.is_running, "the trader", 15.0)
        topics = [f"allLiquidation.{symbol}" for symbol in spec.symbols]
        await wait_for(lambda: all(server.subscribers(t) for t in topics), "subscription")

    drive_node(loop, built, ready, scenario, 30.0)
    return built


def fresh_bybit_clients() -> None:
    """nautilus_trader 1.231 caches its Bybit HTTP client and instrument provider process-wide
    (``lru_cache``), and a stopped exec client cancels that HTTP client for good: a second node
    in one process (only tests do that) would inherit a dead client."""
    from nautilus_trader.adapters.bybit import factories

    factories.get_cached_bybit_http_client.cache_clear()
    factories.get_cached_bybit_instrument_provider.cache_clear()


def events(tmp_path: Path, session: str, symbol: str = "ETHUSDT") -> list[dict]:
    path = tmp_path / "sessions" / session / f"events-{symbol}.jsonl"
    return read_events(path) if path.exists() else []


def of(log: list[dict], kind: str) -> list[dict]:
    return [e for e in log if e["event"] == kind]


async def cascade(built: BuiltNode, server: BybitServer, price: str = "2000.00") -> None:
    """A last trade, then two large long liquidations: a BUY entry 0.15 % below."""
    cache = built.node.kernel.cache
    before = cache.trade_tick(ETH)
    server.push_trades("ETHUSDT", [("Buy", "1.00", price)])
    await wait_for(lambda: cache.trade_tick(ETH) not in (None, before), "the last trade")
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 50, price)])
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 60, price)])


def creates(venue: BybitVenue) -> list[dict]:
    """Every order sent over the trade websocket (single and batch), in order."""
    sent = []
    for message in venue.trade_requests():
        if message["op"] == "order.create":
            sent.extend(message["args"])
        elif message["op"] == "order.create-batch":
            sent.extend(message["args"][0]["request"])
    return sent


def entry_link_id(venue: BybitVenue) -> str:
    (entry,) = [o for o in venue.orders() if o.link_id and not o.reduce_only]
    return entry.link_id


@pytest.fixture
def venue() -> BybitVenue:
    with BybitVenue() as v:
        yield v


# -- findings 2 and 3: protection at the exchange, one TP and one SL -----------------------------


def test_mainnet_entry_carries_the_stop_and_partial_fills_keep_one_exit_pair(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: venue.open_orders(), "the entry at the venue")
        link_id = entry_link_id(venue)
        for qty in ("0.30", "0.30", "0.40"):  # three partial fills
            venue.fill(link_id, qty)
            await asyncio.sleep(0.3)
        await wait_for(
            lambda: any(
                o.qty == Decimal("1.00") and o.order_type == "Limit" and o.reduce_only
                for o in venue.open_orders()
            ),
            "the take-profit resized to the position",
        )

    built = run_live(server, venue, tmp_path, "s1", scenario)
    assert built.native_stop
    entry = creates(venue)[0]
    # The stop travels with the entry: Bybit holds it from the first fill on, node or no node.
    assert (entry["timeInForce"], entry["stopLoss"], entry["tpslMode"]) == (
        "PostOnly",
        "1992.01",
        "Full",
    )
    assert (entry["slOrderType"], entry["slTriggerBy"]) == ("Market", "LastPrice")
    still_open = venue.open_orders()  # the node left the position and its exits in place
    take_profits = [o for o in still_open if o.order_type == "Limit" and o.reduce_only]
    stops = [o for o in still_open if o.trigger_price is not None]
    assert [(str(o.qty), str(o.price)) for o in take_profits] == [("1.00", "2000.00")]
    assert [(str(o.qty), str(o.trigger_price), o.stop_order_type) for o in stops] == [
        ("1.00", "1992.01", "StopLoss")  # the exchange's own, resized with the position
    ]
    # No stop of the strategy's own and one TP, amended twice: within Bybit's 10 conditional
    # orders and its order-creation rate limits however many pieces the entry fills in.
    assert [c for c in creates(venue) if c.get("triggerPrice")] == []
    assert len([c for c in creates(venue) if c.get("reduceOnly")]) == 1
    assert len(venue.trade_requests("order.amend")) == 2
    state = json.loads((tmp_path / "state" / "mainnet" / "strategies.json").read_text())
    trade = state["symbols"][str(ETH)]["trade"]
    assert trade["exits"][trade["stop_id"]] == "SL"  # the venue's stop, adopted as the SL


def test_a_fill_while_the_node_is_down_is_protected_and_held_from_the_exchange_fill_time(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    async def place_entry(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: built.node.cache.orders_open(instrument_id=ETH), "the entry")
        venue.set(ignore_cancels=True)  # the process dies: its cancel never reaches Bybit

    run_live(server, venue, tmp_path, "s1", place_entry)
    venue.set(ignore_cancels=False)
    # Filled 20 minutes ago while nothing ran: the exchange put the stop in place itself.
    filled_ms = int(time.time() * 1000) - 20 * 60 * 1000
    venue.fill(entry_link_id(venue), exec_ms=filled_ms)
    (stop,) = [o for o in venue.open_orders() if o.stop_order_type == "StopLoss"]
    assert (str(stop.qty), str(stop.trigger_price)) == ("1.00", "1992.01")
    seen: dict = {}

    async def restart(built: BuiltNode) -> None:
        strategy = built.strategies["ETHUSDT"]
        seen["first_fill_ns"] = strategy._first_fill_ns
        seen["timers"] = strategy.clock.timer_names
        await wait_for(lambda: of(events(tmp_path, "s2"), "restored"), "the adoption")

    # max hold 30 min from the exchange's fill time: 10 minutes left, not 30 from the restart.
    run_live(server, venue, tmp_path, "s2", restart)
    assert seen["first_fill_ns"] == filled_ms * 1_000_000
    assert "CascadeMarketMaker-ETHUSDT-max-hold" in seen["timers"]

    async def restart_late(built: BuiltNode) -> None:
        await wait_for(lambda: of(events(tmp_path, "s3"), "market_close"), "the timeout close")

    # The same position 35 minutes after its fill: past max hold, closed at market at once.
    run_live(server, venue, tmp_path, "s3", restart_late, "strategy.defaults.max_hold_s=900")
    (close,) = of(events(tmp_path, "s3"), "market_close")
    assert close["reason"] == "TIMEOUT"


def test_an_entry_older_than_its_timeout_is_cancelled_at_restart(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    async def place_entry(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: built.node.cache.orders_open(instrument_id=ETH), "the entry")
        venue.set(ignore_cancels=True)

    run_live(server, venue, tmp_path, "s1", place_entry)
    venue.set(ignore_cancels=False)
    (tmp_path / "state" / "mainnet" / "strategies.json").unlink()  # not even the state file
    (entry,) = venue.open_orders()
    venue.run(lambda: setattr(entry, "created_ms", entry.created_ms - 60_000))  # a minute old
    seen: dict = {}

    async def restart(built: BuiltNode) -> None:
        started = time.monotonic()
        await wait_for(lambda: not venue.open_orders(), "the cancel")
        seen["after_s"] = time.monotonic() - started

    # Bybit reports when it accepted the order (createdTime): 60 s old, 30 s timeout.
    run_live(server, venue, tmp_path, "s2", restart, "strategy.defaults.entry_timeout_s=30")
    assert seen["after_s"] < 2.0  # at once, not 30 s after the restart
    assert of(events(tmp_path, "s2"), "entry_expired_offline")


@pytest.mark.parametrize(
    ("reason", "retried", "closed"),
    [("EC_Others", [1], False), ("110092: expect Rising, trigger already crossed", [], True)],
)
def test_a_refused_stop_is_retried_unless_its_trigger_has_crossed(
    server: BybitServer,
    venue: BybitVenue,
    tmp_path: Path,
    reason: str,
    retried: list[int],
    closed: bool,
) -> None:
    """Demo (no native stop): the strategy's stop is accepted, then rejected by the engine. A
    reason that does not say the trigger is crossed gets the stop again, not a market close."""

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: venue.open_orders(), "the entry at the venue")
        venue.set(reject_next_stop=(0, reason))
        venue.fill(entry_link_id(venue))
        if closed:
            await wait_for(lambda: of(events(tmp_path, "s1"), "market_close"), "the close")
        else:
            await wait_for(
                lambda: any(o.trigger_price is not None for o in venue.open_orders()), "the stop"
            )

    run_live(
        server, venue, tmp_path, "s1", scenario, "strategy.defaults.close_retry_s=0.2", env="demo"
    )
    log = events(tmp_path, "s1")
    assert [e["attempt"] for e in of(log, "stop_retry")] == retried
    assert [e["reason"] for e in of(log, "market_close")] == (["SL"] if closed else [])
    if closed:
        assert of(log, "market_close")[0]["quantity"] == 1.0  # the position, nothing more
    # Distinct orders, not requests: the exec client sends a request again when its response is
    # lost (see the next test), and Bybit refuses the copy.
    stops = {b["orderLinkId"]: b for b in stop_requests(venue)}
    assert len(stops) == (1 if closed else 2) and all(s["qty"] == "1.00" for s in stops.values())
    assert len(working_stops(venue)) == (0 if closed else 1)


@pytest.mark.parametrize("refused", [False, True], ids=["accepted", "refused"])
def test_a_stop_whose_response_is_lost_is_neither_doubled_nor_dropped(
    server: BybitServer, venue: BybitVenue, tmp_path: Path, refused: bool
) -> None:
    """The stop reaches Bybit but its REST response is lost: the exec client sends it again,
    Bybit refuses the copy (duplicate ``orderLinkId``), and the private stream tells the order's
    fate. One working stop at the end, refused or not - never two, never none."""

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: venue.open_orders(), "the entry at the venue")
        venue.set(
            lose_next_stop_response=True, reject_next_stop=(0, "EC_Others") if refused else None
        )
        venue.fill(entry_link_id(venue))
        # The copy goes out after the client's retry delay (1-2 s), and every REST call waits
        # its turn in the client's rate limiter (they arrive 100 ms apart): allow for a loaded
        # machine. Refused: the stop, the strategy's second stop and the copy.
        settled = 3 if refused else 2
        await wait_for(
            lambda: len(stop_requests(venue)) == settled and len(working_stops(venue)) == 1,
            "the copy and one working stop",
            15.0,
            state=lambda: orders_state(venue, tmp_path),
        )
        (stop,) = working_stops(venue)
        stop_id = ClientOrderId(stop.link_id)
        await wait_for(
            lambda: built.node.cache.order(stop_id).status == OrderStatus.ACCEPTED,
            "the stop accepted",
        )

    run_live(
        server, venue, tmp_path, "s1", scenario, "strategy.defaults.close_retry_s=0.2", env="demo"
    )
    log = events(tmp_path, "s1")
    assert [e["attempt"] for e in of(log, "stop_retry")] == ([1] if refused else [])
    assert not of(log, "market_close")
    links = [b["orderLinkId"] for b in stop_requests(venue)]
    assert len(set(links)) == (2 if refused else 1)  # the copy carried the same orderLinkId
    assert len(working_stops(venue)) == 1


def test_a_stop_whose_response_and_push_are_both_lost_is_found_by_the_inflight_check(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    """Bybit holds the stop, but neither its REST response nor its private-stream push arrives:
    the order waits as submitted (no second stop sent meanwhile) until the framework's in-flight
    check asks Bybit about it (``inflight_check_threshold_ms`` 5 s, every 2 s) and accepts it."""
    waited: dict[str, float] = {}

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: venue.open_orders(), "the entry at the venue")
        venue.set(lose_next_stop_response=True, silence_next_stop_push=True)
        venue.fill(entry_link_id(venue))
        await wait_for(lambda: len(working_stops(venue)) == 1, "the stop at the venue")
        (stop,) = working_stops(venue)
        order = built.node.cache.order(ClientOrderId(stop.link_id))
        started = time.monotonic()
        await wait_for(
            lambda: order.status == OrderStatus.ACCEPTED,
            "the in-flight check",
            25.0,
            state=lambda: f"{order.status_string()}; {orders_state(venue, tmp_path)}",
        )
        waited["s"] = time.monotonic() - started

    run_live(server, venue, tmp_path, "s1", scenario, env="demo")
    assert waited["s"] > 3.0  # found by the check, not by a push
    assert len({b["orderLinkId"] for b in stop_requests(venue)}) == 1
    assert len(working_stops(venue)) == 1


def orders_state(venue: BybitVenue, tmp_path: Path) -> str:
    """The venue's orders, its recent REST requests and the strategy's events (for a failure)."""
    orders = ", ".join(f"{o.link_id} {o.status}" for o in venue.orders())
    requests = venue.rest_requests()
    recent = [
        (round(r.received - requests[0].received, 3), r.path, (r.body or {}).get("orderLinkId"))
        for r in requests
    ][-12:]
    errors = venue.run(lambda: list(venue.core.http_errors))
    log = [(e["event"], e.get("attempt")) for e in events(tmp_path, "s1")]
    return f"orders: {orders}; requests: {recent}; http errors: {errors}; events: {log}"


def stop_requests(venue: BybitVenue) -> list[dict]:
    """The bodies of the conditional-order create requests, in arrival order."""
    return [r.body for r in venue.rest_requests("/v5/order/create") if r.body.get("triggerPrice")]


def working_stops(venue: BybitVenue) -> list[VenueOrder]:
    """The conditional orders Bybit holds (untriggered)."""
    return [o for o in venue.open_orders() if o.trigger_price is not None]


# -- finding 4: Bybit's post-only cancel on the mainnet path --------------------------------------


def test_mainnet_post_only_cancel_is_recognised_and_repriced(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    venue.set(last_price={"ETHUSDT": Decimal("1996.00")}, reject_delay_s=0.3)

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)  # BUY 1997.00 from 2000; the market is at 1996 by now
        await wait_for(lambda: venue.orders(), "the first entry")
        server.push_trades("ETHUSDT", [("Sell", "1.00", "1996.00")])
        await wait_for(lambda: len(creates(venue)) == 2, "the re-priced entry")

    run_live(server, venue, tmp_path, "s1", scenario)
    (rejected,) = of(events(tmp_path, "s1"), "entry_rejected")
    assert rejected["reason"] == "EC_PostOnlyWillTakeLiquidity" and rejected["post_only"]
    first, second = of(events(tmp_path, "s1"), "entry_submitted")
    assert (first["price"], second["price"], second["repriced"]) == (1997.0, 1993.0, True)
    assert [c["price"] for c in creates(venue)] == ["1997.00", "1993.00"]


# -- findings 7 and 8: keys, settings that take effect ---------------------------------------


def test_a_demo_session_never_reads_the_mainnet_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    spec = load_node_spec(
        LIVE, [f'node.sessions_dir="{tmp_path}/s"', f'node.state_dir="{tmp_path}/st"']
    )
    loop = asyncio.new_event_loop()
    built = build_node(spec, env="demo", loop=loop, session_name="s")
    try:
        data_client = built.node.kernel.data_engine.routing_map[ETH.venue]
        assert type(data_client).__name__ == "BybitDataClient"  # the framework's public client
        assert data_client._http_client.api_key_masked in (None, "")
        assert "BYBIT_API_KEY" not in os.environ and "BYBIT_API_SECRET" not in os.environ
        assert os.environ["BYBIT_DEMO_API_KEY"] == KEYS["BYBIT_DEMO_API_KEY"]
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        built.node.dispose()


def test_stop_trigger_reaches_bybit_or_is_refused_at_load(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: venue.open_orders(), "the entry at the venue")

    run_live(server, venue, tmp_path, "s1", scenario, 'strategy.defaults.stop_trigger="MARK_PRICE"')
    assert creates(venue)[0]["slTriggerBy"] == "MarkPrice"
    # Where nothing can carry it (demo's own stop orders, paper, backtests) it is refused.
    spec = load_node_spec(LIVE, ['strategy.defaults.stop_trigger="MARK_PRICE"'])
    with pytest.raises(ConfigError, match=r"strategy\.symbols\.DOGEUSDT: stop_trigger"):
        build_node(spec, env="demo", environ=KEYS)


def test_a_fill_missed_on_the_private_stream_gets_its_exits_by_periodic_reconciliation(
    server: BybitServer, venue: BybitVenue, tmp_path: Path
) -> None:
    assert load_node_spec(LIVE).venue["open_check_interval_secs"] > 0  # on by default

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server)
        await wait_for(lambda: built.node.cache.orders_open(instrument_id=ETH), "the entry")
        venue.fill(entry_link_id(venue), push=False)  # the private stream drops the fill
        await wait_for(
            lambda: any(o.reduce_only and o.order_type == "Limit" for o in venue.open_orders()),
            "the take-profit",
            25.0,
        )

    run_live(
        server,
        venue,
        tmp_path,
        "s1",
        scenario,
        "live.open_check_interval_secs=1",
        "live.reconciliation_startup_delay_secs=1",
    )
    (fill,) = of(events(tmp_path, "s1"), "entry_fill")
    assert fill["quantity"] == 1.0


# -- finding 9: order ids for long symbols ------------------------------------------------------


def test_order_ids_fit_bybits_36_characters_for_1000pepeusdt(
    server: BybitServer, tmp_path: Path
) -> None:
    specs = ROOT / "configs" / "instruments.toml"  # ships 1000PEPEUSDT (tick 0.0000001)
    with BybitVenue(symbols=("1000PEPEUSDT",), specs_path=specs) as venue:

        async def scenario(built: BuiltNode) -> None:
            pepe = InstrumentId.from_str("1000PEPEUSDT-LINEAR.BYBIT")
            server.push_trades("1000PEPEUSDT", [("Buy", "1000", "0.0100000")])
            await wait_for(lambda: built.node.kernel.cache.trade_tick(pepe), "the trade")
            for size in (600_000, 700_000):
                event = liquidation_event("1000PEPEUSDT", "Buy", size, "0.0100000")
                server.push_liquidations("1000PEPEUSDT", [event])
            await wait_for(lambda: venue.open_orders(), "the entry accepted by the venue")

        spec_overrides = (
            f'node.instruments="{specs}"',
            'node.symbols=["1000PEPEUSDT"]',
            "strategy.symbols.1000PEPEUSDT.warm_threshold=5000",
            "strategy.defaults.trade_notional=100",
        )
        run_live(server, venue, tmp_path, "s1", scenario, *spec_overrides)
        (entry,) = creates(venue)
        assert len(entry["orderLinkId"]) <= 36
        assert entry["symbol"] == "1000PEPEUSDT"
