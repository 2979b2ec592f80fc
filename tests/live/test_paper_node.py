"""Paper and live nodes built from the shipped config files, run for real against loopback.

Every node here is a real ``TradingNode`` built by :func:`liqcascade.live.node.build_node` from
``configs/paper.toml`` / ``configs/live.toml`` (plus test overrides): our public-stream client
with trades and instruments (``market_data = "stream"``) pointed at the local Bybit-protocol
server, the persistent sandbox venue, one ``CascadeMarketMaker`` per symbol. Nothing talks to
anything but ``127.0.0.1``; every wait is bounded. The ``server`` fixture (a local Bybit-protocol
server) comes from ``tests/live/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import pytest
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import parse_trade_message
from liqcascade.live.factories import PaperExecutionClient
from liqcascade.live.liquidation_client import BybitLiquidationDataClient
from liqcascade.live.monitor import liquidation_client_of
from liqcascade.live.node import BuiltNode
from liqcascade.live.node import ConfigError
from liqcascade.live.node import MainnetNotConfirmedError
from liqcascade.live.node import build_node
from liqcascade.live.node import live_command
from liqcascade.live.node import load_node_spec
from liqcascade.live.node import read_api_keys
from liqcascade.strategies.event_log import read_events
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_server import trade_message

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.toml"
LIVE = ROOT / "configs" / "live.toml"
ETH = InstrumentId.from_str("ETHUSDT-LINEAR.BYBIT")
TOPICS = ("publicTrade.ETHUSDT", "allLiquidation.ETHUSDT")
#: Upper bound of one node's scenario (its own waits are shorter; a loaded machine needs the room).
SCENARIO_TIMEOUT_S = 30.0

Scenario = Callable[[BuiltNode], Awaitable[None]]


def overrides(server: BybitServer, tmp_path: Path, *extra: str) -> list[str]:
    """Point a shipped node file at the local server and at ``tmp_path``; one symbol, fast."""
    return [
        f'stream.url="{server.url}"',
        'node.market_data="stream"',
        'node.symbols=["ETHUSDT"]',
        f'node.strategy="{ROOT / "configs" / "cascade_mm.toml"}"',
        f'node.instruments="{ROOT / "configs" / "instruments.toml"}"',
        f'node.sessions_dir="{tmp_path / "sessions"}"',
        f'node.state_dir="{tmp_path / "state"}"',
        'node.log_level="WARNING"',
        'node.log_level_file="OFF"',
        # Upper bounds only (each wait ends as soon as its step is done): generous, so a loaded
        # machine cannot make the kernel give up starting the trader.
        "timeouts.connection=20",
        "timeouts.reconciliation=20",
        "timeouts.portfolio=10",
        "timeouts.disconnection=3",
        "timeouts.post_stop=0.3",
        # The shipped defaults skip weekends and size $3K; these tests run on the wall clock
        # (any weekday) and their expected quantities were worked out for $2K.
        "strategy.defaults.skip_weekends=false",
        "strategy.defaults.trade_notional=2000",
        # Nothing here may reach Bybit: no server-time check or maintenance polling unless a
        # test points them at a local venue; the health endpoint on any free port.
        "controls.max_clock_drift_ms=0",
        "controls.maintenance_poll_s=0",
        "health.port=0",
        *extra,
    ]


async def wait_for(
    condition: Callable[[], object],
    what: str,
    timeout: float = 5.0,
    state: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` on the node's loop; fail after ``timeout`` (saying ``state()``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            detail = f" ({state()})" if state is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        await asyncio.sleep(0.01)


def _startup_state(built: BuiltNode) -> str:
    """Which start-up step of the kernel a node is stuck at (the trader starts after all), the
    liquidation client's connection counters and the node log's last warnings and errors."""
    kernel = built.node.kernel
    state = (
        f"data connected={kernel.data_engine.check_connected()}, "
        f"exec connected={kernel.exec_engine.check_connected()}, "
        f"portfolio initialized={kernel.portfolio.initialized}, "
        f"trader={kernel.trader.state}"
    )
    with contextlib.suppress(Exception):
        routed = {str(c.id): c.is_connected for c in kernel.data_engine.routing_map.values()}
        state += f"; data clients connected {routed} of {kernel.data_engine.registered_clients}"
    with contextlib.suppress(Exception):
        client = liquidation_client_of(built.node)
        task = client._stream._run_task
        state += f"; feed {client.stats()}; websocket task {task!r}"
        state += f"; client tasks {[repr(t) for t in client._tasks]}"
    logs = sorted(built.session_dir.glob("*.log"))
    if logs:
        lines = [
            line
            for line in logs[-1].read_text().splitlines()
            if "[WARN" in line or "[ERROR" in line
        ]
        state += "\nlast warnings and errors:\n" + "\n".join(lines[-15:])
    return state


def run_paper(
    server: BybitServer,
    tmp_path: Path,
    session: str,
    scenario: Scenario,
    *extra: str,
) -> BuiltNode:
    """Build a paper node from ``configs/paper.toml``, start it, run ``scenario``, stop it."""
    spec = load_node_spec(PAPER, overrides(server, tmp_path, *extra))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    built = build_node(spec, loop=loop, session_name=session)

    async def ready() -> None:
        await wait_for(
            lambda: all(s.is_running for s in built.strategies.values()),
            "strategies",
            60.0,
            lambda: _startup_state(built),
        )
        # Every symbol of the node (not only ETH): a push before its topic is subscribed is lost.
        topics = [f"{kind}.{s}" for s in spec.symbols for kind in ("publicTrade", "allLiquidation")]
        await wait_for(lambda: all(server.subscribers(t) for t in topics), "subscriptions")

    drive_node(loop, built, ready, scenario, SCENARIO_TIMEOUT_S, stop_timeout=2.0)
    return built


def drive_node(
    loop: asyncio.AbstractEventLoop,
    built: BuiltNode,
    ready: Callable[[], Awaitable[None]],
    scenario: Scenario,
    scenario_timeout: float,
    stop_timeout: float = 3.0,
) -> None:
    """
    Run a built node on ``loop`` the way ``run_async`` does, wait for ``ready``, run
    ``scenario`` (bounded), stop the node, end any straggling task and dispose of the node.
    """
    node = built.node

    async def main() -> None:
        run = loop.create_task(node.run_async())
        try:
            await ready()
            await asyncio.wait_for(scenario(built), scenario_timeout)
        finally:
            await node.stop_async()
            # The stopped engines end their queue tasks themselves; cancel only a straggler.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run, stop_timeout)

    try:
        loop.run_until_complete(main())
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        node.dispose()
        asyncio.set_event_loop(None)


def events(tmp_path: Path, session: str) -> list[dict]:
    """The ETH event log of one session (empty before its first event)."""
    path = tmp_path / "sessions" / session / "events-ETHUSDT.jsonl"
    return read_events(path) if path.exists() else []


def of(log: list[dict], kind: str) -> list[dict]:
    """Events of one kind."""
    return [e for e in log if e["event"] == kind]


async def cascade(built: BuiltNode, server: BybitServer, last_price: str) -> None:
    """A last trade, then two large long liquidations (2 x ~100 K USDT > ETH's 80 K warm P95)."""
    cache = built.node.kernel.cache
    before = cache.trade_tick(ETH)
    server.push_trades("ETHUSDT", [("Buy", "1.00", last_price)])
    await wait_for(lambda: cache.trade_tick(ETH) not in (None, before), "the last trade")
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 50, last_price)])
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 60, last_price)])


def open_position(server: BybitServer, tmp_path: Path) -> dict:
    """Session s1: a cascade, its entry filled by trades through the limit, TP/SL placed."""
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        await cascade(built, server, "2000.00")
        await wait_for(lambda: cache.orders_open(instrument_id=ETH), "the entry")
        server.push_trades("ETHUSDT", [("Sell", "5.00", "1996.50")])  # through the 1997.00 bid
        await wait_for(lambda: len(cache.orders_open(instrument_id=ETH)) == 2, "TP and SL")
        seen["exits"] = {o.order_type: o.client_order_id.value for o in cache.orders_open()}

    run_paper(server, tmp_path, "s1", scenario)
    return seen


# -- end to end -----------------------------------------------------------------------------------


def test_paper_node_enters_a_replayed_cascade_post_only_below_the_last_trade(
    server: BybitServer, tmp_path: Path
) -> None:
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        await cascade(built, server, "2000.00")
        await wait_for(lambda: cache.orders_open(instrument_id=ETH), "the entry")
        (order,) = cache.orders_open(instrument_id=ETH)
        seen["order"] = order
        seen["status"] = order.status
        seen["exec"] = built.node.kernel.exec_engine.get_clients_for_orders([order])

    built = run_paper(server, tmp_path, "s1", scenario)
    order = seen["order"]
    # 2000.00 * (1 - 0.0015) = 1997.00, post-only, 2000 USDT -> 1.00 ETH, resting at the venue.
    assert (order.side.name, order.order_type, str(order.price)) == (
        "BUY",
        OrderType.LIMIT,
        "1997.00",
    )
    assert order.is_post_only and not order.is_reduce_only
    assert str(order.quantity) == "1.00"
    assert seen["status"] == OrderStatus.ACCEPTED  # resting at the simulated venue
    assert order.status == OrderStatus.CANCELED  # by the strategy's on_stop
    log = events(tmp_path, "s1")
    (submitted,) = of(log, "entry_submitted")
    assert (submitted["side"], submitted["price"], submitted["reference"]) == (
        "BUY",
        1997.0,
        2000.0,
    )
    assert of(log, "cascade")[0]["large_events"] == 2
    # One client serves liquidations, trades and instruments: no Bybit REST anywhere.
    client = built.node.kernel.data_engine.routing_map[ETH.venue]
    assert isinstance(client, BybitLiquidationDataClient)
    stats = client.stats()
    assert (stats.trades, stats.liquidations, stats.instruments) == (1, 2, 1)
    assert [type(c) for c in seen["exec"]] == [PaperExecutionClient]
    # Ctrl-C semantics: stopping cancelled the working entry at the (persisted) venue.
    venue = json.loads((tmp_path / "state" / "paper_venue.json").read_text())
    assert venue["orders"] == [] and venue["positions"] == []
    session = json.loads((tmp_path / "sessions" / "s1" / "session.json").read_text())
    assert session["market_data"] == "stream" and session["symbols"] == ["ETHUSDT"]


def test_stream_trades_survive_a_reconnection_without_duplicates(
    server: BybitServer, tmp_path: Path
) -> None:
    server.replay_last = 5  # the server re-sends recent pushes to a new subscription
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        client = built.node.kernel.data_engine.routing_map[ETH.venue]
        server.push_trades("ETHUSDT", [("Buy", "0.5", "2000.1"), ("Sell", "0.25", "2000.05")])
        await wait_for(lambda: client.stats().trades == 2, "two trades")
        server.drop_all()
        await wait_for(lambda: server.subscribe_count("publicTrade.ETHUSDT") == 2, "resubscribe")
        await wait_for(lambda: client.stats().duplicates >= 2, "the replay dropped")
        server.push_trades("ETHUSDT", [("Sell", "1", "1999.99")])
        await wait_for(lambda: client.stats().trades == 3, "the new trade")
        seen["ticks"] = cache.trade_ticks(ETH)
        seen["stats"] = client.stats()

    run_paper(server, tmp_path, "s1", scenario, "stream.reconnect_initial_s=0.05")
    ticks = list(reversed(seen["ticks"]))  # the cache keeps the newest first
    # Exact instrument precision (ETH: 2 price, 2 size decimals) and Bybit's taker side.
    assert [(str(t.price), str(t.size), t.aggressor_side.name) for t in ticks] == [
        ("2000.10", "0.50", "BUYER"),
        ("2000.05", "0.25", "SELLER"),
        ("1999.99", "1.00", "SELLER"),
    ]
    assert seen["stats"].reconnects == 1


def test_restart_with_open_position_keeps_exits_and_does_not_enter_again(
    server: BybitServer, tmp_path: Path
) -> None:
    first = open_position(server, tmp_path)
    venue = json.loads((tmp_path / "state" / "paper_venue.json").read_text())
    assert [p["side"] for p in venue["positions"]] == ["LONG"]
    assert {o["client_order_id"] for o in venue["orders"]} == set(first["exits"].values())
    state = json.loads((tmp_path / "state" / "strategies.json").read_text())
    trade = state["symbols"][str(ETH)]["trade"]
    assert trade["first_fill_ns"] and trade["exits"] == {
        first["exits"][OrderType.LIMIT]: "TP",
        first["exits"][OrderType.STOP_MARKET]: "SL",
    }
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        (position,) = cache.positions_open(instrument_id=ETH)
        seen["position"] = (
            position.strategy_id.value,
            str(position.quantity),
            position.avg_px_open,
        )
        seen["open"] = {o.client_order_id.value for o in cache.orders_open(instrument_id=ETH)}
        await cascade(built, server, "1999.00")  # a new cascade while the position is open
        await wait_for(lambda: of(events(tmp_path, "s2"), "skip"), "the skipped cascade")
        server.push_trades("ETHUSDT", [("Buy", "5.00", "2000.50")])  # through the TP at 2000.00
        await wait_for(lambda: not cache.positions_open(instrument_id=ETH), "the TP")

    run_paper(server, tmp_path, "s2", scenario)
    # Reconciled from the venue, claimed by the strategy through external_order_claims.
    assert seen["position"] == ("CascadeMarketMaker-ETHUSDT", "1.00", 1997.0)
    assert seen["open"] == set(first["exits"].values())  # the same orders, adopted
    log = events(tmp_path, "s2")
    (restored,) = of(log, "restored")
    assert restored["exits"] == sorted(first["exits"].values())
    assert restored["first_fill_ns"] == trade["first_fill_ns"]
    assert of(log, "exits_restored") == []  # nothing missing
    assert of(log, "entry_submitted") == []
    assert of(log, "skip")[0]["reason"] == "position or entry already working"
    (exit_,) = of(log, "exit")
    assert (exit_["reason"], exit_["entry_price"], exit_["exit_price"]) == ("TP", 1997.0, 2000.0)
    state = json.loads((tmp_path / "state" / "strategies.json").read_text())["symbols"][str(ETH)]
    assert state["trade"] is None
    assert [round(r[2], 2) for r in state["closed"]] == [round(exit_["pnl"], 2)]
    assert state["cooldown_until_ns"] == exit_["exit_ns"] + 300 * 1_000_000_000


def test_restart_places_a_missing_stop_and_closes_past_max_hold(
    server: BybitServer, tmp_path: Path
) -> None:
    first = open_position(server, tmp_path)
    saved = tmp_path / "saved_state"
    shutil.copytree(tmp_path / "state", saved)

    # The stop vanished while the node was down (say, cancelled by hand on the venue).
    venue_file = tmp_path / "state" / "paper_venue.json"
    venue = json.loads(venue_file.read_text())
    venue["orders"] = [o for o in venue["orders"] if o["type"] != "STOP_MARKET"]
    venue_file.write_text(json.dumps(venue))
    seen: dict = {}

    async def keep_tp(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        await wait_for(lambda: len(cache.orders_open(instrument_id=ETH)) == 2, "TP and new SL")
        orders = cache.orders_open(instrument_id=ETH)
        seen["orders"] = {(o.order_type, o.client_order_id.value, str(o.quantity)) for o in orders}
        seen["stop"] = next((o for o in orders if o.order_type == OrderType.STOP_MARKET), None)

    run_paper(server, tmp_path, "s2", keep_tp)
    (restored,) = of(events(tmp_path, "s2"), "exits_restored")
    assert (restored["take_profit_qty"], restored["stop_qty"]) == (0.0, 1.0)
    assert restored["stop"] == 1992.01  # from the persisted fill price 1997.00
    stop = seen["stop"]
    assert stop is not None and stop.is_reduce_only and str(stop.trigger_price) == "1992.01"
    assert stop.tags == ["SL"]  # placed by this session (adopted orders come back untagged)
    assert (OrderType.LIMIT, first["exits"][OrderType.LIMIT], "1.00") in seen["orders"]

    # Another copy of the same state, restarted after max_hold_s has passed: close at market
    # at once (retried until the venue has a price: a sandbox has none before its first trade).
    shutil.rmtree(tmp_path / "state")
    shutil.copytree(saved, tmp_path / "state")

    async def timeout(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        await asyncio.sleep(0.3)
        server.push_trades("ETHUSDT", [("Buy", "1.00", "1998.00")])
        await wait_for(lambda: not cache.positions_open(instrument_id=ETH), "the market close")

    run_paper(
        server,
        tmp_path,
        "s3",
        timeout,
        "strategy.defaults.max_hold_s=0.5",
        "strategy.defaults.close_retry_s=0.1",
    )
    log = events(tmp_path, "s3")
    (exit_,) = of(log, "exit")
    assert (exit_["reason"], exit_["exit_price"]) == ("TIMEOUT", 1998.0)
    assert of(log, "entry_submitted") == []


def test_loss_limit_counts_losses_recorded_before_the_restart(
    server: BybitServer, tmp_path: Path
) -> None:
    # Another symbol's stop-out earlier today, recorded by a previous session: -150 USDT on a
    # 10 000 USDT account breaches the 1 % daily limit although this node's cache has no trades.
    state = tmp_path / "state" / "strategies.json"
    state.parent.mkdir(parents=True)
    loss = ["SOLUSDT-LINEAR.BYBIT-CascadeMarketMaker-SOLUSDT", time.time_ns() - 10**9, -150.0]
    section = {"cooldown_until_ns": 0, "trade": None, "closed": [loss]}
    state.write_text(json.dumps({"version": 1, "symbols": {"SOLUSDT-LINEAR.BYBIT": section}}))

    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server, "2000.00")
        await wait_for(lambda: of(events(tmp_path, "s1"), "skip"), "the skipped cascade")

    run_paper(server, tmp_path, "s1", scenario)
    (skip,) = of(events(tmp_path, "s1"), "skip")
    assert skip["reason"].startswith("daily loss limit reached (-150.00")
    saved = json.loads(state.read_text())["symbols"]
    assert saved["SOLUSDT-LINEAR.BYBIT"]["closed"] == [loss]  # other sections left alone


# -- live: environment, keys, confirmation --------------------------------------------------------


def test_mainnet_refuses_to_start_without_confirmation(tmp_path: Path) -> None:
    environ = {"BYBIT_API_KEY": "k" * 18, "BYBIT_API_SECRET": "s" * 36}
    with pytest.raises(MainnetNotConfirmedError, match="confirm"):
        live_command(LIVE, "mainnet", confirm_mainnet=False)
    spec = load_node_spec(LIVE, [f'node.sessions_dir="{tmp_path}/sessions"'])
    with pytest.raises(MainnetNotConfirmedError):
        build_node(spec, env="mainnet", environ=environ)
    assert not (tmp_path / "sessions").exists()  # refused before anything was created
    with pytest.raises(ConfigError, match="--env"):
        build_node(spec, env=None, environ=environ)
    paper = load_node_spec(PAPER, [f'node.sessions_dir="{tmp_path}/sessions"'])
    with pytest.raises(ConfigError, match="paper node takes no --env"):
        build_node(paper, env="demo", environ=environ)


def test_keys_are_read_from_the_environment_by_name_only() -> None:
    assert read_api_keys("demo", {"BYBIT_DEMO_API_KEY": "a", "BYBIT_DEMO_API_SECRET": "b"}) == (
        "a",
        "b",
    )
    # Mainnet keys are never used for demo, and an error names variables, never values.
    with pytest.raises(ConfigError) as error:
        read_api_keys("demo", {"BYBIT_API_KEY": "mainkey", "BYBIT_DEMO_API_KEY": "demokey"})
    assert "BYBIT_DEMO_API_SECRET" in str(error.value)
    assert "demokey" not in str(error.value) and "mainkey" not in str(error.value)


_LIVE_SCRIPT = textwrap.dedent(
    """
    import asyncio, contextlib, sys
    from liqcascade.live.node import build_node, load_node_spec
    config, port, *overrides = sys.argv[1:]
    loopback = {
        "base_url_http": f"http://127.0.0.1:{port}",
        "base_url_ws_private": f"ws://127.0.0.1:{port}/v5/private",
        "base_url_ws_trade": f"ws://127.0.0.1:{port}/v5/trade",
        "max_retries": 1,
    }
    assert all("127.0.0.1" in str(v) for k, v in loopback.items() if k.startswith("base_url"))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    built = build_node(
        load_node_spec(config, overrides), env="demo", loop=loop, bybit_exec_overrides=loopback,
        session_name="s1",
    )
    async def main():
        run = loop.create_task(built.node.run_async())
        await asyncio.sleep(2.5)  # connect (refused by the closed port) and time out
        await built.node.stop_async()
        run.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(run, 2.0)
    loop.run_until_complete(main())
    for task in asyncio.all_tasks(loop):
        task.cancel()
    built.node.dispose()
    """
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_demo_keys_never_appear_in_logs_or_session_files(
    server: BybitServer, tmp_path: Path
) -> None:
    """A demo node built and started against loopback only, logging everything at DEBUG."""
    key, secret = "DEMOkey7Hq2Lx9Pz4Vw", "DEMOsecretR8t5Mn3Bc6Kd1Fg0Js2Qa7"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    env |= {"BYBIT_DEMO_API_KEY": key, "BYBIT_DEMO_API_SECRET": secret}
    env |= {"BYBIT_API_KEY": "MAINkeyNeverUsed00", "BYBIT_API_SECRET": "MAINsecretNeverUsed0000"}
    args = [
        sys.executable,
        "-c",
        _LIVE_SCRIPT,
        str(LIVE),
        str(_closed_port()),
        *overrides(server, tmp_path, 'node.log_level="DEBUG"', 'node.log_level_file="DEBUG"'),
        "timeouts.connection=1.5",
        "timeouts.disconnection=1",
    ]
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    session = tmp_path / "sessions" / "s1"
    files = "".join(p.read_text(errors="replace") for p in session.rglob("*") if p.is_file())
    files += "".join(
        p.read_text(errors="replace") for p in (tmp_path / "state").rglob("*") if p.is_file()
    )
    assert "ExecClient-BYBIT" in output  # the log was captured...
    assert f"REST API key {key[:4]}...{key[-4:]}" in output  # ...the demo key was used...
    assert "127.0.0.1" in output and "bybit.com" not in output  # ...against loopback only
    for text in (output, files):
        for value in (key, secret, "MAINkeyNeverUsed00", "MAINsecretNeverUsed0000"):
            assert value not in text
    assert (tmp_path / "state" / "demo").is_dir()  # demo state kept apart from mainnet


# -- Ctrl-C ---------------------------------------------------------------------------------------

_PAPER_SCRIPT = (
    "import sys; from liqcascade.live.node import paper_command; "
    "paper_command(sys.argv[1], sys.argv[2:])"
)


def paper_process_with_working_entry(
    server: BybitServer, tmp_path: Path, log_file: Path
) -> tuple[subprocess.Popen, Path]:
    """``paper_command`` in its own process (as from a shell), with an entry working."""
    args = [sys.executable, "-c", _PAPER_SCRIPT, str(PAPER), *overrides(server, tmp_path)]
    args = [a.replace('node.log_level="WARNING"', 'node.log_level="INFO"') for a in args]
    with log_file.open("w") as out:
        process = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not all(server.subscribers(t) for t in TOPICS):
            assert process.poll() is None, log_file.read_text()[-3000:]
            assert time.monotonic() < deadline, "the node did not subscribe"
            time.sleep(0.05)
        server.push(trade_message("ETHUSDT", [("Buy", "1.00", "2000.00")]))
        time.sleep(0.3)  # the trade is the reference price: it must land first
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 50, 2000)])
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 60, 2000)])
        venue = tmp_path / "state" / "paper_venue.json"
        while not (venue.exists() and json.loads(venue.read_text())["orders"]):
            assert time.monotonic() < deadline, log_file.read_text()[-3000:]
            time.sleep(0.05)
        (events_file,) = (tmp_path / "sessions").glob("*/events-ETHUSDT.jsonl")
        return process, events_file
    except BaseException:
        process.kill()
        process.wait()
        raise


def test_ctrl_c_cancels_the_working_entry_and_exits_cleanly(
    server: BybitServer, tmp_path: Path
) -> None:
    log_file = tmp_path / "stdout.log"
    process, events_file = paper_process_with_working_entry(server, tmp_path, log_file)
    try:
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_file.read_text()
    assert returncode == 0, output[-3000:]
    assert "Received SIGINT, shutting down" in output
    assert "Traceback" not in output
    venue = json.loads((tmp_path / "state" / "paper_venue.json").read_text())
    assert venue["orders"] == []  # the entry was cancelled before the process ended
    state = json.loads((tmp_path / "state" / "strategies.json").read_text())
    (submitted,) = of(read_events(events_file), "entry_submitted")
    # A stopped strategy receives no more events: the cancel is not in its state file, and the
    # next start finds the entry gone and forgets it (test below for the opposite case).
    assert state["symbols"][str(ETH)]["trade"]["entry_id"] == submitted["order_id"]
    # The node's monitor logged the session (the checklist's uptime comes from these).
    node_log = read_events(events_file.parent / "events-node.jsonl")
    kinds = [e["event"] for e in node_log]
    assert kinds[0] == "session_start" and kinds[-1] == "session_stop"
    assert "status" in kinds  # the periodic status line (connection, msg/s, PnL today)


def test_after_a_crash_the_restart_adopts_the_working_entry(
    server: BybitServer, tmp_path: Path
) -> None:
    process, events_file = paper_process_with_working_entry(server, tmp_path, tmp_path / "o.log")
    process.kill()  # SIGKILL: no on_stop, nothing cancelled, only what was already saved
    process.wait(timeout=10)
    (submitted,) = of(read_events(events_file), "entry_submitted")
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        seen["open"] = [o.client_order_id.value for o in cache.orders_open(instrument_id=ETH)]
        seen["timer"] = built.strategies["ETHUSDT"].clock.timer_names
        server.push_trades("ETHUSDT", [("Sell", "5.00", "1996.50")])  # through the entry
        await wait_for(lambda: len(cache.orders_open(instrument_id=ETH)) == 2, "TP and SL")

    run_paper(server, tmp_path, "s2", scenario)
    assert seen["open"] == [submitted["order_id"]]  # the same order, still working
    assert "CascadeMarketMaker-ETHUSDT-entry-timeout" in seen["timer"]  # re-armed
    log = events(tmp_path, "s2")
    assert of(log, "restored")[0]["entry_id"] == submitted["order_id"]
    (fill,) = of(log, "entry_fill")
    assert (fill["order_id"], fill["price"], fill["take_profit"], fill["stop"]) == (
        submitted["order_id"],
        1997.0,
        2000.0,
        1992.01,
    )
    assert fill["declared_ns"] == submitted["declared_ns"]  # the cascade, from the state file


# -- files and parsing ----------------------------------------------------------------------------


def test_shipped_node_files_load_and_bybit_market_data_builds_offline(tmp_path: Path) -> None:
    paper = load_node_spec(PAPER)
    assert (paper.mode, paper.market_data, paper.venue["starting_balance"]) == (
        "paper",
        "bybit",
        10_000.0,
    )
    assert paper.strategies["ETHUSDT"]["warm_threshold"] == 80_000  # from cascade_mm.toml
    live = load_node_spec(LIVE)
    assert (live.mode, live.symbols) == ("live", ("DOGEUSDT",))
    assert live.strategies["DOGEUSDT"]["trade_notional"] == 100.0  # the node file's override
    with pytest.raises(ConfigError, match=r"node\.colour"):
        load_node_spec(PAPER, ["node.colour=1"])
    with pytest.raises(ConfigError, match=r"node\.market_data"):
        load_node_spec(PAPER, ['node.market_data="rest"'])
    # "bybit" market data: the framework's Bybit data client, built (never started: no network).
    spec = load_node_spec(
        PAPER, [f'node.sessions_dir="{tmp_path}/s"', f'node.state_dir="{tmp_path}/st"']
    )
    loop = asyncio.new_event_loop()
    built = build_node(spec, loop=loop, session_name="b")
    try:
        engine = built.node.kernel.data_engine
        assert type(engine.routing_map[ETH.venue]).__name__ == "BybitDataClient"
        liq = engine.routing_map[InstrumentId.from_str("X.BYBIT_LIQ").venue]
        assert isinstance(liq, BybitLiquidationDataClient)
        assert [c.value for c in built.node.kernel.exec_engine.registered_clients] == ["BYBIT"]
        assert set(built.strategies) == {"ETHUSDT", "SOLUSDT", "DOGEUSDT"}
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        built.node.dispose()


def test_parse_trade_message_bybit_format() -> None:
    message = trade_message("ETHUSDT", [("Sell", "0.50", "2000.00"), ("Buy", "1", "2000.01")])
    t_ms = message["data"][0]["T"]
    records = parse_trade_message(message, recv_ts_ns=t_ms * 1_000_000 + 7)
    assert [(r.symbol, r.price, r.size, r.aggressor) for r in records] == [
        ("ETHUSDT", 2000.0, 0.5, 2),  # taker Sell: seller-initiated
        ("ETHUSDT", 2000.01, 1.0, 1),
    ]
    assert records[0].trade_id == message["data"][0]["i"]
    assert records[0].ts_event == t_ms * 1_000_000
    assert records[0].ts_init == t_ms * 1_000_000 + 7
    # Receipt before the match (clock skew): never before the event.
    assert parse_trade_message(message, recv_ts_ns=0)[0].ts_init == t_ms * 1_000_000
    assert parse_trade_message({"op": "pong"}, 0) == []
    assert parse_trade_message({"topic": "allLiquidation.ETHUSDT", "data": []}, 0) == []
    bad = {**message, "data": [{**message["data"][0], "S": "Hold"}]}
    with pytest.raises(MessageError, match="taker side"):
        parse_trade_message(bad, 0)
    with pytest.raises(MessageError, match="not a list"):
        parse_trade_message({"topic": "publicTrade.ETHUSDT", "data": {}}, 0)


def test_state_file_is_left_alone_when_the_strategy_cannot_start(tmp_path: Path) -> None:
    """A strategy stopped before restoring (no instrument) must not overwrite its trade."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.backtest.engine import BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig

    from liqcascade.strategies.cascade_mm import CascadeMarketMaker
    from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

    state = tmp_path / "strategies.json"
    trade = {"entry_id": None, "side": "BUY", "first_fill_ns": 1, "exits": {"O-1": "SL"}}
    saved = {"version": 1, "symbols": {str(ETH): {"cooldown_until_ns": 5, "trade": trade}}}
    state.write_text(json.dumps(saved))
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    config = CascadeMarketMakerConfig(
        instrument_id=str(ETH), warm_threshold=80_000.0, state_path=str(state)
    )
    engine.add_strategy(CascadeMarketMaker(config))
    engine.run()  # no venue, no instrument: on_start stops the strategy
    engine.dispose()
    assert json.loads(state.read_text()) == saved


def test_system_b_paper_node_builds_with_bybit_bars(tmp_path: Path) -> None:
    """System B runs on the live node too: one CrashReversion over the symbols, hourly klines
    from the framework's Bybit data client (built, not started: no network here)."""
    from liqcascade.live.node import build_node
    from liqcascade.live.node import load_node_spec
    from liqcascade.strategies.crash_reversion import CrashReversion

    config = Path(__file__).resolve().parents[2] / "configs" / "paper_crash_reversion.toml"
    overrides = [f'node.sessions_dir="{tmp_path}/s"', f'node.state_dir="{tmp_path}/st"']
    spec = load_node_spec(config, overrides)
    assert spec.system == "crash_reversion"
    built = build_node(spec)
    try:
        (strategy,) = built.strategies.values()
        assert isinstance(strategy, CrashReversion)
        assert strategy.config.subscribe_trades
        assert [str(b) for b in strategy.bar_types][:1] == [
            "BTCUSDT-LINEAR.BYBIT-1-HOUR-LAST-EXTERNAL"
        ]
    finally:
        built.node.dispose()


def test_drop_mid_cascade_reconnects_within_5s_and_orders_once(
    server: BybitServer, tmp_path: Path
) -> None:
    """The server drops every connection between the two large liquidations of a cascade and
    replays recent pushes on resubscription: the client is back within 5 s, the replayed first
    liquidation is not counted twice, and exactly one entry order is placed."""
    server.replay_last = 5
    seen: dict = {}

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        client = built.node.kernel.data_engine.routing_map[ETH.venue]
        server.push_trades("ETHUSDT", [("Buy", "1.00", "2000.00")])
        await wait_for(lambda: cache.trade_tick(ETH) is not None, "the last trade")
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 50, "2000.00")])
        await wait_for(lambda: client.stats().liquidations == 1, "the first liquidation")
        dropped = time.monotonic()
        server.drop_all()
        await wait_for(
            lambda: server.subscribe_count("allLiquidation.ETHUSDT") == 2, "resubscribe", 5.0
        )
        seen["resubscribed_after_s"] = time.monotonic() - dropped
        await wait_for(lambda: client.stats().duplicates >= 1, "the replay dropped")
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 60, "2000.00")])
        await wait_for(lambda: cache.orders_open(instrument_id=ETH), "the entry")
        # A second replay (another drop) must not produce a second order either.
        server.drop_all()
        await wait_for(
            lambda: server.subscribe_count("allLiquidation.ETHUSDT") == 3, "resubscribe", 5.0
        )
        await asyncio.sleep(0.3)
        seen["orders"] = cache.orders(instrument_id=ETH)
        seen["stats"] = client.stats()

    run_paper(server, tmp_path, "s1", scenario, "stream.reconnect_initial_s=0.05")
    assert seen["resubscribed_after_s"] < 5.0
    (order,) = seen["orders"]
    assert str(order.price) == "1997.00"
    assert seen["stats"].liquidations == 2
    assert seen["stats"].reconnects == 2
    log = events(tmp_path, "s1")
    assert len(of(log, "cascade")) == 1
    assert len(of(log, "entry_submitted")) == 1


# -- issue 12: paper fills like the backtest; state and input ------------------------------------


def test_paper_fills_like_the_backtest_size_capped_conservative_and_on_book_prints_only(
    server: BybitServer, tmp_path: Path
) -> None:
    """Entry BUY 1.00 ETH at 1997.00. A 0.01 print through it fills 0.01, not the order; a
    print AT the limit fills nothing (conservative); block and RPI prints fill nothing."""

    async def scenario(built: BuiltNode) -> None:
        cache = built.node.kernel.cache
        await cascade(built, server, "2000.00")
        await wait_for(lambda: cache.orders_open(instrument_id=ETH), "the entry")
        off_book = trade_message(
            "ETHUSDT", [("Sell", "5.00", "1990.00"), ("Sell", "5.00", "1990.00")]
        )
        off_book["data"][0]["BT"] = True
        off_book["data"][1]["RPI"] = True
        server.push(off_book)
        server.push_trades("ETHUSDT", [("Sell", "5.00", "1997.00")])  # at the limit
        server.push_trades("ETHUSDT", [("Sell", "0.01", "1996.50")])  # through, 0.01 ETH
        await wait_for(lambda: of(events(tmp_path, "s1"), "entry_fill"), "the first fill")
        server.push_trades("ETHUSDT", [("Sell", "0.50", "1996.00")])
        await wait_for(lambda: len(of(events(tmp_path, "s1"), "entry_fill")) == 2, "the second")

    built = run_paper(server, tmp_path, "s1", scenario)
    fills = of(events(tmp_path, "s1"), "entry_fill")
    assert [(f["price"], f["quantity"]) for f in fills] == [(1997.0, 0.01), (1997.0, 0.5)]
    stats = built.node.kernel.data_engine.routing_map[ETH.venue].stats()
    assert stats.excluded_prints == 2


def test_detector_history_survives_a_restart(server: BybitServer, tmp_path: Path) -> None:
    """The rolling P95 is learnt from hours of liquidations: a restart must not fall back to
    the warm-start threshold for the next min_history events."""
    seen: dict = {}

    async def learn(built: BuiltNode) -> None:
        for i in range(30):
            server.push_liquidations(
                "ETHUSDT", [liquidation_event("ETHUSDT", "Sell", 0.1 + i, 2000)]
            )
        strategy = built.strategies["ETHUSDT"]
        await wait_for(lambda: strategy.detector.history()["seen"] == 30, "30 liquidations")
        seen["before"] = strategy.detector.history()

    run_paper(server, tmp_path, "s1", learn, "strategy.defaults.min_history=20")

    async def restart(built: BuiltNode) -> None:
        seen["after"] = built.strategies["ETHUSDT"].detector.history()

    run_paper(server, tmp_path, "s2", restart, "strategy.defaults.min_history=20")
    assert seen["after"] == seen["before"]
    assert len(seen["after"]["notionals"]) == 30


def test_non_finite_zero_or_negative_liquidations_are_malformed(
    server: BybitServer, tmp_path: Path
) -> None:
    """Two infinite-notional events must not declare a cascade: they are counted and skipped."""

    async def scenario(built: BuiltNode) -> None:
        client = built.node.kernel.data_engine.routing_map[ETH.venue]
        server.push_trades("ETHUSDT", [("Buy", "1.00", "2000.00")])
        bad = [("NaN", "2000"), ("Infinity", "2000"), ("1e400", "2000"), ("-5", "2000"),
               ("0", "2000"), ("5", "-2000"), ("5", "inf")]  # fmt: skip
        for size, price in bad:
            server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", size, price)])
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2000)])
        await wait_for(lambda: client.stats().liquidations == 1, "the good one")
        seen["stats"] = client.stats()

    seen: dict = {}
    run_paper(server, tmp_path, "s1", scenario)
    assert seen["stats"].malformed == 7
    log = events(tmp_path, "s1")
    assert [e["quantity"] for e in of(log, "liquidation")] == [1.0]
    assert of(log, "cascade") == []


def test_a_node_refuses_btc_above_its_maker_fee_cap(tmp_path: Path) -> None:
    """The shipped BTC parameters trade only at 0 % maker: a node whose instruments file says
    Bybit's VIP 0 fee (2 bps) refuses BTC at load instead of trading it silently."""
    base = [f'node.sessions_dir="{tmp_path}/s"', f'node.state_dir="{tmp_path}/st"']
    with pytest.raises(ConfigError, match=r"BTCUSDT.max_maker_fee_bps: .* 2 bps"):
        load_node_spec(PAPER, [*base, 'node.symbols=["BTCUSDT"]'])
    spec = load_node_spec(PAPER, [*base, 'node.symbols=["ETHUSDT"]'])  # no cap: loads
    assert spec.symbols == ("ETHUSDT",)
