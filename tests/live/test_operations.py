"""Running a node unattended: supervision, alerts, health, kill switch and account-wide rules.

The commands run as a user runs them - ``liqcascade paper``/``live``/``flatten``/``resume`` in
their own process, or the same functions in-process - against the local Bybit-protocol servers.
Alerts go through Apprise to a ``json://`` URL served by a local HTTP receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from liqcascade.live.alerts import ALERT_URLS_ENV
from liqcascade.live.node import BuiltNode
from liqcascade.live.node import flatten_command
from liqcascade.live.node import live_command
from liqcascade.live.node import resume_command
from liqcascade.live.supervision import NodeFailedError
from liqcascade.strategies.event_log import read_events
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_venue import BybitVenue
from tests.live.test_live_node import KEYS
from tests.live.test_live_node import LIVE
from tests.live.test_live_node import events
from tests.live.test_live_node import fresh_bybit_clients
from tests.live.test_live_node import live_overrides
from tests.live.test_paper_node import ETH
from tests.live.test_paper_node import PAPER
from tests.live.test_paper_node import ROOT
from tests.live.test_paper_node import _closed_port
from tests.live.test_paper_node import cascade
from tests.live.test_paper_node import of
from tests.live.test_paper_node import open_position
from tests.live.test_paper_node import overrides
from tests.live.test_paper_node import run_paper
from tests.live.test_paper_node import wait_for

CLI = [sys.executable, "-m", "liqcascade.cli"]


class AlertReceiver:
    """A local HTTP endpoint for Apprise's ``json://`` notifications; records every body."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self._server.server_address[1]}/alerts"

    def titles(self) -> list[str]:
        return [r.get("title", "") for r in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def alerts() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LIQCASCADE_"))}
    return env | extra


# -- finding 1: a node that never reaches RUNNING exits non-zero ---------------------------------


def test_a_node_that_cannot_connect_exits_non_zero_and_alerts(
    tmp_path: Path, server: BybitServer, alerts: AlertReceiver
) -> None:
    dead = f"ws://127.0.0.1:{_closed_port()}/v5/public/linear"
    args = [
        *CLI,
        "paper",
        "--config",
        str(PAPER),
        *overrides(server, tmp_path, f'stream.url="{dead}"'),
        "timeouts.connection=1",
        "timeouts.startup=3",
    ]
    started = time.monotonic()
    done = subprocess.run(
        args,
        cwd=ROOT,
        env=_env(**{ALERT_URLS_ENV: alerts.url}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert time.monotonic() - started < 30
    assert "node failed: trader not RUNNING 3 s after start" in done.stderr
    assert any("startup_failed" in t for t in alerts.titles())
    (session,) = (tmp_path / "sessions").iterdir()
    kinds = [e["event"] for e in read_events(session / "events-node.jsonl")]
    assert "session_start" not in kinds  # it never traded
    assert kinds[-1] == "session_stop"


def test_an_exception_in_an_engine_queue_stops_the_node_alerts_and_exits_non_zero(
    tmp_path: Path, server: BybitServer, alerts: AlertReceiver
) -> None:
    """A bug raising inside the framework's data queue (here the strategy's ``on_data``, made to
    raise in the node's own process) stops the node through the framework's shutdown command:
    the supervisor alerts and the command exits 3, with its session closed. Not the framework's
    default ``os._exit(1)`` (no alert, nothing saved), and not the silent exit 0 of a stop
    mistaken for Ctrl-C."""
    script = (
        "import sys\n"
        "from liqcascade.cli import main\n"
        "from liqcascade.strategies.cascade_mm import CascadeMarketMaker\n"
        "def on_data(self, data):\n"
        "    raise RuntimeError('a bug in on_data')\n"
        "CascadeMarketMaker.on_data = on_data\n"
        "main(sys.argv[1:])\n"
    )
    args = [sys.executable, "-c", script, "paper", "--config", str(PAPER)]
    env = _env(**{ALERT_URLS_ENV: alerts.url})
    process = subprocess.Popen(
        [*args, *overrides(server, tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Liquidations until the running strategy gets one (before RUNNING they are not handed on).
        while process.poll() is None and time.monotonic() < deadline:
            if server.subscribers("allLiquidation.ETHUSDT"):
                server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2000)])
            time.sleep(0.3)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr[-3000:]
    assert "node failed: the framework shut the node down" in stderr
    assert "a bug in on_data" in stderr
    assert any("node_failed" in t for t in alerts.titles())
    (session,) = (tmp_path / "sessions").iterdir()
    stop = read_events(session / "events-node.jsonl")[-1]
    assert stop["event"] == "session_stop" and "a bug in on_data" in stop["failure"]


def test_systemd_unit_restarts_on_failure() -> None:
    unit = (ROOT / "deploy" / "liqcascade-live.service").read_text()
    assert "Restart=on-failure" in unit and "RestartSec=" in unit
    assert "ExecStart=" in unit and "liqcascade live" in unit


# -- finding 10: health endpoint and alerts while running ----------------------------------------


def test_health_endpoint_and_alerts_of_a_running_paper_node(
    tmp_path: Path, server: BybitServer, alerts: AlertReceiver
) -> None:
    port = _closed_port()
    args = [
        *CLI,
        "paper",
        "--config",
        str(PAPER),
        *overrides(server, tmp_path, f"health.port={port}", "alerts.disconnect_after_s=0.5"),
    ]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=_env(**{ALERT_URLS_ENV: alerts.url}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def get(path: str) -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()
            except OSError:
                return 0, b""

        deadline = time.monotonic() + 30
        while get("/health")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, "no healthy node"
            time.sleep(0.1)
        status = json.loads(get("/health")[1])
        assert (status["status"], status["trader"], status["feed_connected"]) == (
            "ok",
            "RUNNING",
            True,
        )
        assert status["open_positions"] == 0 and status["symbols"] == ["ETHUSDT"]
        code, metrics = get("/metrics")
        assert code == 200
        for line in (b"liqcascade_feed_connected 1.0", b"liqcascade_trader_running 1.0"):
            assert line in metrics
        assert b"liqcascade_cascades_total" in metrics and b"liqcascade_feed_age_seconds" in metrics
        # The feed goes down: the endpoint says so (503) and an alert goes out.
        server.reject_next(10_000)
        server.drop_all()
        while get("/health")[0] != 503:
            assert time.monotonic() < deadline, "health never reported the dead feed"
            time.sleep(0.1)
        while not any("feed_down" in t for t in alerts.titles()):
            assert time.monotonic() < deadline, f"no feed_down alert: {alerts.titles()}"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- finding 9: kill switch, exposure cap, clock drift, maintenance -------------------------------


# Known flake, not understood yet: in a full run (rarely alone) one of this test's three
# in-process nodes now and then never starts its trader, or the test's own task on that node's
# loop is cancelled during start-up. Each node here has its own loop; what cancels it is open
# (see the closing note of issue #14). A rerun starts from a fresh tmp_path.
@pytest.mark.flaky(reruns=2, reruns_delay=1)
def test_flatten_closes_everything_and_halts_until_resume(
    tmp_path: Path, server: BybitServer
) -> None:
    open_position(server, tmp_path)  # session s1: a long with its TP and SL at the paper venue
    stop = threading.Event()

    def prints() -> None:  # the paper venue closes against the next prints
        tick = 0
        while not stop.is_set():
            tick += 1
            server.push_trades("ETHUSDT", [("Buy", "0.60", f"{1998 + tick % 2 / 100:.2f}")])
            time.sleep(0.2)

    feeder = threading.Thread(target=prints, daemon=True)
    feeder.start()
    try:
        flatten_command(PAPER, overrides=overrides(server, tmp_path))
    finally:
        stop.set()
        feeder.join()
    venue = json.loads((tmp_path / "state" / "paper_venue.json").read_text())
    assert venue["orders"] == [] and venue["positions"] == []
    (session,) = [p.name for p in (tmp_path / "sessions").iterdir() if p.name != "s1"]
    closes = of(events(tmp_path, session), "market_close")
    # 0.60 filled by the first prints; the rest (cancelled like Bybit's) is sent again.
    assert [(c["reason"], c["quantity"]) for c in closes] == [("FLATTEN", 1.0), ("FLATTEN", 0.4)]
    (exit_,) = of(events(tmp_path, session), "exit")
    assert (exit_["reason"], exit_["quantity"]) == ("FLATTEN", 1.0)
    assert (tmp_path / "state" / "halt.json").exists()

    async def cascade_while_halted(built: BuiltNode) -> None:
        await cascade(built, server, "2000.00")
        await wait_for(lambda: of(events(tmp_path, "s3"), "skip"), "the skipped cascade")

    run_paper(server, tmp_path, "s3", cascade_while_halted)
    (skip,) = of(events(tmp_path, "s3"), "skip")
    assert skip["reason"].startswith("halted since")
    # `liqcascade resume` (the command line) lifts it.
    done = subprocess.run(
        [*CLI, "resume", "--config", str(PAPER), *overrides(server, tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "halt lifted" in done.stdout, done.stderr[-2000:]
    assert not resume_command(PAPER, overrides=overrides(server, tmp_path))  # nothing left


def test_exposure_cap_counts_every_symbol_of_the_account(
    tmp_path: Path, server: BybitServer
) -> None:
    async def scenario(built: BuiltNode) -> None:
        await cascade(built, server, "2000.00")  # ETH entry working
        await wait_for(lambda: built.node.cache.orders_open(instrument_id=ETH), "the ETH entry")
        server.push_trades("SOLUSDT", [("Buy", "10.0", "150.000")])
        await asyncio.sleep(0.2)
        for size in (150, 160):  # 2 x ~23 K USDT > SOL's 15 K warm P95
            server.push_liquidations("SOLUSDT", [liquidation_event("SOLUSDT", "Buy", size, 150)])
        await wait_for(lambda: of(events(tmp_path, "s1", "SOLUSDT"), "skip"), "the SOL skip")

    run_paper(
        server,
        tmp_path,
        "s1",
        scenario,
        'node.symbols=["ETHUSDT","SOLUSDT"]',
        "risk.max_symbols=1",
    )
    (skip,) = of(events(tmp_path, "s1", "SOLUSDT"), "skip")
    assert skip["reason"].startswith("exposure cap: 1 other symbols busy")


def test_live_refuses_to_start_on_a_drifting_clock(
    tmp_path: Path, server: BybitServer, alerts: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALERT_URLS_ENV, alerts.url)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with BybitVenue() as venue:
        venue.set(server_time_offset_ms=-5000)  # Bybit's clock 5 s behind ours
        fresh_bybit_clients()
        with pytest.raises(NodeFailedError, match=r"clock is \+[45]\d\d\d ms off Bybit"):
            live_command(
                LIVE,
                "mainnet",
                confirm_mainnet=True,
                overrides=live_overrides(
                    server, venue, tmp_path, "controls.max_clock_drift_ms=1000"
                ),
                bybit_exec_overrides=venue.exec_overrides,
            )
        assert venue.trade_requests() == []  # not a single order path was opened
    assert any("startup_failed" in t for t in alerts.titles())


def test_announced_maintenance_blocks_new_entries(tmp_path: Path, server: BybitServer) -> None:
    with BybitVenue() as venue:
        now_ms = int(time.time() * 1000)
        window = {
            "id": "m1",
            "title": "linear upgrade",
            "state": "scheduled",
            "begin": str(now_ms + 5 * 60_000),
            "end": str(now_ms + 35 * 60_000),
            "href": "",
            "serviceTypes": [1],
            "product": [1],
            "uidSuffix": [],
            "maintainType": 1,
            "env": 1,
        }
        venue.set(system_status=[window])

        async def scenario(built: BuiltNode) -> None:
            built.maintenance.refresh()  # what the supervisor does every maintenance_poll_s
            await cascade(built, server, "2000.00")
            await wait_for(lambda: of(events(tmp_path, "s1"), "skip"), "the skipped cascade")

        run_paper(
            server,
            tmp_path,
            "s1",
            scenario,
            f'controls.rest_url="{venue.http_url}"',
            "controls.maintenance_poll_s=300",
            "controls.maintenance_margin_s=600",  # 10 min before it begins: now
        )
        assert venue.rest_requests("/v5/system/status")
    (skip,) = of(events(tmp_path, "s1"), "skip")
    assert skip["reason"] == "Bybit maintenance window (linear upgrade)"
