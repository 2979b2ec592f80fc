"""The Bybit recorder against the local Bybit-protocol server, writing a real catalog.

Nothing is mocked: the recorder connects over a loopback websocket, writes through
``CatalogWriter``, and the catalog is read back with ``ParquetDataCatalog``. One test runs the
recorder in a subprocess and ``kill -9``s it. Every wait is bounded.
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
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

import liqcascade.data_loaders.bybit
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.data_loaders.load import load_files
from liqcascade.live.recorder import BybitRecorder
from liqcascade.live.recorder import RawLineWriter
from liqcascade.live.recorder import RecorderConfig
from liqcascade.live.recorder import RecorderStats
from liqcascade.live.recorder import TradePrint
from liqcascade.live.recorder import parse_trade_message
from liqcascade.live.recorder import record_command
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.bybit_server import liquidation_message
from tests.live.bybit_server import trade_message

ETH = "ETHUSDT-LINEAR.BYBIT"
SOL = "SOLUSDT-LINEAR.BYBIT"
MS = 1_000_000
REPO = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class RunningRecorder:
    """A :class:`BybitRecorder` running on its own event loop in a background thread."""

    def __init__(self, config: RecorderConfig) -> None:
        self.recorder = BybitRecorder(config)
        self.result: RecorderStats | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.result = asyncio.run(self.recorder.run())
        except BaseException as e:  # surfaced by stop()
            self.error = e

    def start(self) -> RunningRecorder:
        self._thread.start()
        wait_until(lambda: self.recorder._stop_event is not None, "recorder loop")
        return self

    def __enter__(self) -> RunningRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # A failed assertion must not leave a recorder thread behind.
        if self._thread.is_alive():
            self.recorder.request_stop()
            self._thread.join(10.0)

    def stats(self) -> RecorderStats:
        return self.recorder.stats()

    def stop(self, timeout: float = 10.0) -> RecorderStats:
        if self._thread.is_alive():
            self.recorder.request_stop()
            self._thread.join(timeout)
        assert not self._thread.is_alive(), "recorder did not stop"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def config(server: BybitServer, tmp_path: Path, **overrides: Any) -> RecorderConfig:
    """Fast flushes against the local server (never the real Bybit)."""
    options: dict[str, Any] = {
        "symbols": ("ETHUSDT", "SOLUSDT"),
        "catalog": tmp_path / "catalog",
        "raw_dir": tmp_path / "raw",
        "url": server.url,
        "flush_interval_s": 0.2,
        "raw_flush_interval_s": 0.1,
        "status_interval_s": 0.5,
    }
    options.update(overrides)
    return RecorderConfig(**options)


def liquidations(root: Path, instrument_id: str = ETH) -> list[LiquidationData]:
    """Liquidations of one instrument, read back with the framework's catalog."""
    catalog = ParquetDataCatalog(str(root))
    return [d.data for d in catalog.query(LiquidationData, identifiers=[instrument_id])]


def trades(root: Path, instrument_id: str = ETH) -> list:
    """Trade ticks of one instrument, read back with the framework's catalog."""
    return ParquetDataCatalog(str(root)).trade_ticks(instrument_ids=[instrument_id])


def rows_on_disk(root: Path, folder: str, instrument_id: str = ETH) -> int:
    """Rows in a catalog folder right now (polled while a recorder subprocess writes)."""
    path = root / "data" / folder / instrument_id
    total = 0
    for file in path.glob("*.parquet") if path.exists() else []:
        try:
            total += pq.read_metadata(file).num_rows
        except OSError:  # replaced while read: poll again
            return -1
    return total


def liq_key(d: LiquidationData) -> tuple:
    return (d.ts_event, d.side, d.price, d.quantity, d.ts_init)


def floor_us(ts_ns: int) -> int:
    return ts_ns - ts_ns % 1000


@pytest.fixture
def server() -> Iterator[BybitServer]:
    """A Bybit-protocol server on a random loopback port."""
    with BybitServer() as srv:
        yield srv


@pytest.fixture
def start_recorder() -> Iterator[Callable[[RecorderConfig], RunningRecorder]]:
    """Start recorders in background threads; any still running at teardown is stopped."""
    started: list[RunningRecorder] = []

    def start(cfg: RecorderConfig) -> RunningRecorder:
        started.append(RunningRecorder(cfg).start())
        return started[-1]

    yield start
    for running in started:
        running.__exit__(None, None, None)


# -- parse_trade_message -----------------------------------------------------------------------


def test_trades_go_through_the_live_clients_parser() -> None:
    # One trade parser for the live client and the recorder.
    assert parse_trade_message is liqcascade.data_loaders.bybit.parse_trade_message
    message = {
        "topic": "publicTrade.ETHUSDT",
        "type": "snapshot",
        "ts": 1_740_000_000_123,
        "data": [
            {"T": 1_740_000_000_100, "s": "ETHUSDT", "S": "Buy", "v": "0.01", "p": "2500.10",
             "L": "PlusTick", "i": "a1", "BT": False},
            {"T": 1_740_000_000_101, "s": "ETHUSDT", "S": "Sell", "v": "3", "p": "2500",
             "L": "MinusTick", "i": "a2", "BT": False},
        ],
    }  # fmt: skip
    recv = 1_740_000_000_150 * MS + 7
    assert parse_trade_message(message, recv) == [
        TradePrint("ETHUSDT", 2500.10, 0.01, 1, "a1", 1_740_000_000_100 * MS, recv),
        TradePrint("ETHUSDT", 2500.0, 3.0, 2, "a2", 1_740_000_000_101 * MS, recv),
    ]
    # A receipt clock behind the exchange never puts ts_init before ts_event.
    assert parse_trade_message(message, 5)[0].ts_init == 1_740_000_000_100 * MS
    # The frame's aggressor codes are the framework's.
    assert (AggressorSide.BUYER.value, AggressorSide.SELLER.value) == (1, 2)


# -- recording -------------------------------------------------------------------------------


def test_records_exactly_what_was_pushed(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    cfg = config(server, tmp_path)
    running = start_recorder(cfg)
    t_ms = time.time_ns() // MS - 200  # the exchange events happened before the pushes
    before_liq = time.time_ns()
    liq = server.push_liquidations(
        "ETHUSDT",
        [
            liquidation_event("ETHUSDT", "Buy", "0.5", "2500.1", t_ms),
            liquidation_event("ETHUSDT", "Sell", "2", "2510", t_ms + 1),
        ],
    )
    before_trades = time.time_ns()
    eth = server.push_trades("ETHUSDT", [("Buy", "0.01", "2500.10"), ("Sell", "1.5", "2499.99")])
    sol = server.push_trades("SOLUSDT", [("Sell", "12.3", "180.125")])
    sol_liq = server.push_liquidations(
        "SOLUSDT", [liquidation_event("SOLUSDT", "Sell", "100", "181.5", t_ms)]
    )
    wait_until(lambda: running.stats().rows_flushed == 6, "a flush of all six rows")
    wait_until(lambda: len(running.stats().subscribed) == 5, "every acknowledgement")
    subscribed = running.stats().subscribed
    stats = running.stop()

    assert (stats.liquidations, stats.trades, stats.malformed, stats.unknown) == (3, 3, 0, 0)
    assert stats.rows_buffered == 0 and stats.flush_failures == 0
    assert stats.subscribe_errors == 0 and stats.connect_failures == 0
    # Bybit-exact requests: one for both topics of both symbols, then the heartbeat topic on its
    # own; each req_id ties Bybit's answer (and a refusal) to its topics.
    subscribes = [r.raw for r in server.received if r.message and r.message["op"] == "subscribe"]
    assert subscribes == [
        '{"req_id":"1","op":"subscribe","args":["allLiquidation.ETHUSDT","publicTrade.ETHUSDT",'
        '"allLiquidation.SOLUSDT","publicTrade.SOLUSDT"]}',
        '{"req_id":"2","op":"subscribe","args":["tickers.ETHUSDT"]}',
    ]
    assert subscribed == tuple(sorted([*cfg.topics, "tickers.ETHUSDT"]))

    root = cfg.catalog
    long_liq, short_liq = liquidations(root, ETH)
    # "S":"Buy" in allLiquidation is the liquidated position: a long.
    assert (long_liq.side, long_liq.price, long_liq.quantity) == (LONG, 2500.1, 0.5)
    assert (short_liq.side, short_liq.price, short_liq.quantity) == (SHORT, 2510.0, 2.0)
    assert long_liq.notional == pytest.approx(1250.05)
    assert long_liq.instrument_id == InstrumentId.from_str(ETH)
    assert [long_liq.ts_event, short_liq.ts_event] == [e["T"] * MS for e in liq["data"]]
    # ts_init: the receipt time floored to the microsecond, + the loaders' 1 ns tie-break.
    assert long_liq.ts_init == short_liq.ts_init
    assert long_liq.ts_init % 1000 == TIE_BREAK_NS
    assert long_liq.ts_init >= floor_us(before_liq) + TIE_BREAK_NS
    assert long_liq.ts_init <= time.time_ns()
    (sol_liquidation,) = liquidations(root, SOL)
    assert (sol_liquidation.side, sol_liquidation.price) == (SHORT, 181.5)
    assert sol_liquidation.ts_event == sol_liq["data"][0]["T"] * MS

    eth_ticks = trades(root, ETH)
    assert [(str(t.price), str(t.size), t.aggressor_side) for t in eth_ticks] == [
        ("2500.10", "0.01", AggressorSide.BUYER),
        ("2499.99", "1.50", AggressorSide.SELLER),
    ]
    assert [t.trade_id.value for t in eth_ticks] == [e["i"] for e in eth["data"]]
    assert [t.ts_event for t in eth_ticks] == [e["T"] * MS for e in eth["data"]]
    for tick in eth_ticks:
        assert tick.ts_init % 1000 == 0  # whole microseconds: never ties a liquidation
        assert floor_us(before_trades) <= tick.ts_init <= time.time_ns()
    (sol_tick,) = trades(root, SOL)
    assert (str(sol_tick.price), str(sol_tick.size)) == ("180.125", "12.3")
    assert sol_tick.aggressor_side == AggressorSide.SELLER
    assert sol_tick.trade_id.value == sol["data"][0]["i"]
    # The instruments are in the catalog too: the recording is a backtest data set.
    catalog = ParquetDataCatalog(str(root))
    assert sorted(i.id.value for i in catalog.instruments()) == [ETH, SOL]


def test_bad_messages_are_skipped_and_raw_lines_reimport(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    cfg = config(server, tmp_path, symbols=("ETHUSDT",))
    running = start_recorder(cfg)
    wait_until(lambda: server.subscribers("publicTrade.ETHUSDT") == 1, "subscription")
    good = liquidation_event("ETHUSDT", "Buy", 1, 2500)
    for text in (
        "{not json",
        "[1, 2, 3]",
        json.dumps({"topic": "allLiquidation.ETHUSDT", "ts": 1, "data": {"not": "a list"}}),
        json.dumps(liquidation_message("BTCUSDT", [good])),  # a topic never subscribed
        '{"hello":"world"}',
    ):
        server.broadcast_raw(text)
    # One push with a bad side, a bad price, another symbol's event and two good events.
    server.push_liquidations(
        "ETHUSDT",
        [
            dict(good, S="Hold"),
            dict(good, p="n/a", T=good["T"] + 1),
            dict(good, s="SOLUSDT", T=good["T"] + 2),
            good,
            dict(good, S="Sell", T=good["T"] + 3),
        ],
    )
    # A trade off the 0.01 tick, a block trade, an infinite price, a trade id too long for the
    # framework's TradeId and a good trade, in one push.
    push = trade_message(
        "ETHUSDT",
        [
            ("Buy", "1", "2500.005"),
            ("Sell", 2, 2500),
            ("Buy", 1, "inf"),
            ("Buy", 1, 2499),
            ("Buy", 1, 2501),
        ],
    )
    push["data"][1]["BT"] = True
    push["data"][3]["i"] = "x" * 37
    server.push(push)
    wait_until(lambda: running.stats().rows_flushed == 3, "the good rows flushed")
    wait_until(lambda: running.stats().raw_lines >= 9, "raw lines written")
    stats = running.stop()

    # 2 undecodable + bad data + bad side + bad price + wrong symbol + 3 bad trades.
    assert stats.malformed == 9
    assert stats.unknown == 2  # the unsubscribed topic and the message without a topic
    assert (stats.liquidations, stats.trades, stats.block_trades) == (2, 1, 1)
    recorded = liquidations(cfg.catalog)
    assert [(d.side, d.price) for d in recorded] == [(LONG, 2500.0), (SHORT, 2500.0)]
    assert [str(t.price) for t in trades(cfg.catalog)] == ["2501.00"]

    # Every received message is in the raw file; the loader re-imports exactly the same rows
    # (it skips the lines kept for forensics: undecodable, rejected, unknown topic).
    (raw_file,) = sorted(cfg.raw_dir.iterdir())
    assert raw_file.name.startswith("bybit-linear-") and raw_file.suffix == ".jsonl"
    lines = [json.loads(line) for line in raw_file.read_text().splitlines()]
    kinds = [
        next(k for k in ("msg", "undecodable", "rejected", "unknown") if k in x) for x in lines
    ]
    assert kinds.count("undecodable") == 2
    assert kinds.count("rejected") == 3  # bad data, the liquidation push, the trade push
    assert kinds.count("unknown") == 1
    assert all(isinstance(x["recv_ts_ns"], int) for x in lines)
    summary = load_files("bybit-liquidations", [raw_file], tmp_path / "reimported")
    assert summary.rows[("custom_liquidation_data", ETH)] == 2
    assert [liq_key(d) for d in liquidations(tmp_path / "reimported")] == [
        liq_key(d) for d in recorded
    ]


def test_reconnection_resubscribes_and_replays_add_no_rows(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    server.replay_last = 1  # every new subscription gets the topic's last push again
    cfg = config(server, tmp_path, symbols=("ETHUSDT",), reconnect_initial_s=0.05)
    running = start_recorder(cfg)
    # Subscribed first: server.replay() below only reaches current subscribers.
    wait_until(lambda: server.subscribers("allLiquidation.ETHUSDT") == 1, "subscription")
    t = time.time_ns() // MS
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 3, 2500, t)])
    server.push_trades("ETHUSDT", [("Sell", "0.5", "2500.5")])
    # The same push twice in one flush interval: one row.
    server.replay("allLiquidation.ETHUSDT", 1)
    wait_until(lambda: running.stats().rows_flushed >= 2, "first flush")

    assert server.drop_all() == 1
    wait_until(lambda: running.stats().reconnects == 1, "reconnection")
    wait_until(lambda: server.subscribe_count("publicTrade.ETHUSDT") == 2, "resubscription")
    wait_until(lambda: running.stats().trades == 2, "the replayed trade")
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Sell", 1, 2490, t + 9)])
    wait_until(lambda: running.stats().liquidations == 4, "the new liquidation")
    stats = running.stop()

    assert stats.reconnects == 1
    assert [(d.side, d.quantity) for d in liquidations(cfg.catalog)] == [(LONG, 3.0), (SHORT, 1.0)]
    assert [str(t.size) for t in trades(cfg.catalog)] == ["0.50"]


def test_silent_connection_is_replaced(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    cfg = config(
        server,
        tmp_path,
        symbols=("ETHUSDT",),
        ping_interval_s=0.2,
        pong_timeout_s=0.2,
        reconnect_initial_s=0.05,
        heartbeat_topic=None,  # its pushes would keep a connection without pongs alive
    )
    running = start_recorder(cfg)
    wait_until(lambda: running.stats().pongs >= 1, "a pong")
    server.answer_pings = False
    wait_until(lambda: running.stats().reconnects >= 1, "stale-connection detection")
    server.answer_pings = True
    server.push_trades("ETHUSDT", [("Buy", "1", "2500")])
    wait_until(lambda: running.stats().rows_flushed == 1, "a trade after the reconnection")
    stats = running.stop()
    assert stats.pings >= 2
    assert server.subscribe_count("allLiquidation.ETHUSDT") >= 2


def test_a_feed_that_stops_pushing_while_pongs_continue_is_replaced(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    """The server answers every ping but pushes nothing (not even tickers): the connection is
    replaced within stall_timeout_s and recording goes on, the held-back trade included."""
    stall_timeout_s = 0.6
    cfg = config(
        server,
        tmp_path,
        symbols=("ETHUSDT",),
        ping_interval_s=0.2,
        stall_timeout_s=stall_timeout_s,
        reconnect_initial_s=0.05,
    )
    running = start_recorder(cfg)
    wait_until(lambda: "tickers.ETHUSDT" in running.stats().subscribed, "the heartbeat topic")
    server.stalled = True
    stalled_at = time.monotonic()
    server.push_trades("ETHUSDT", [("Buy", "1", "2500")])  # held back by the stalled server
    pongs = running.stats().pongs
    wait_until(lambda: running.stats().stalls >= 1, "stall detection")
    replaced_after_s = time.monotonic() - stalled_at
    assert running.stats().pongs > pongs  # the socket answered all along
    server.stalled = False
    wait_until(lambda: running.stats().rows_flushed == 1, "the held-back trade")
    server.push_trades("ETHUSDT", [("Sell", "2", "2501")])
    wait_until(lambda: running.stats().rows_flushed == 2, "a trade after the replacement")
    stats = running.stop()

    # The last ticker came at most 100 ms before the stall; the watchdog looks every 0.25 s.
    assert replaced_after_s < stall_timeout_s + 0.5
    assert stats.stalls >= 1 and stats.reconnects >= 1
    assert server.subscribe_count("publicTrade.ETHUSDT") >= 2  # resubscribed
    assert [str(t.price) for t in trades(cfg.catalog)] == ["2500.00", "2501.00"]


def test_a_refused_topic_is_retried_and_recorded_once_accepted(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    topic = "allLiquidation.ETHUSDT"
    server.refuse_topic(topic, 2)  # the first request (both topics) and the first retry
    cfg = config(
        server,
        tmp_path,
        symbols=("ETHUSDT",),
        refusal_retry_initial_s=0.3,
        refusal_retry_max_s=1.0,
    )
    server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 4, 2500)])
    running = start_recorder(cfg)
    wait_until(lambda: topic in running.stats().refused_topics, "the refusal")
    while_refused = running.stats()
    status = running.recorder.status_line()
    wait_until(lambda: topic in running.stats().subscribed, "the accepted retry")
    wait_until(lambda: running.stats().rows_flushed == 1, "the liquidation")
    stats = running.stop()

    assert topic not in while_refused.subscribed  # never reported as subscribed while refused
    assert f"REFUSED={topic}" in status
    assert stats.subscribe_errors == 2 and stats.refused_topics == ()
    assert [(d.side, d.quantity) for d in liquidations(cfg.catalog)] == [(LONG, 4.0)]
    # Each retry alone, with its own req_id, after a doubling delay (0.3 s, then 0.6 s).
    tries = [r for r in server.received if r.message and r.message.get("args") == [topic]]
    assert [r.message["op"] for r in tries] == ["subscribe", "subscribe"]
    assert len({r.message["req_id"] for r in tries}) == 2
    assert (tries[1].ts_ns - tries[0].ts_ns) / 1e9 >= 0.55


def test_heartbeat_pushes_are_never_recorded(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    cfg = config(server, tmp_path, symbols=("ETHUSDT",))
    running = start_recorder(cfg)
    wait_until(lambda: "tickers.ETHUSDT" in running.stats().subscribed, "the heartbeat topic")
    received = running.stats().messages
    wait_until(lambda: running.stats().messages >= received + 10, "ten tickers (100 ms each)")
    server.push_trades("ETHUSDT", [("Buy", "1", "2500")])
    wait_until(lambda: running.stats().rows_flushed == 1, "the trade")
    wait_until(lambda: "2500" in raw_text(tmp_path), "its raw line")
    stats = running.stop()

    # Neither recorded nor counted as unknown or malformed...
    assert (stats.trades, stats.liquidations, stats.unknown, stats.malformed) == (1, 0, 0, 0)
    # ...nor written as raw lines: every line is the trade or a control reply.
    assert "tickers" not in raw_text(tmp_path)
    assert stats.messages >= stats.raw_lines + 10
    assert sorted(p.name for p in (cfg.catalog / "data").iterdir()) == [
        "crypto_perpetual",
        "trade_tick",
    ]


def test_heartbeat_topic_must_not_be_a_recorded_topic(tmp_path: Path) -> None:
    for topic, message in (
        ("publicTrade.{symbol}", "a recorded topic"),
        ("tickers.{sym}", "only {symbol}"),
    ):
        with pytest.raises(ValueError, match=message):
            RecorderConfig(symbols=("ETHUSDT",), catalog=tmp_path, heartbeat_topic=topic)


def test_failed_catalog_write_keeps_rows_for_the_next_flush(
    server: BybitServer, tmp_path: Path, start_recorder: Callable
) -> None:
    blocker = tmp_path / "catalog"
    blocker.write_text("a file where the catalog folder should be")
    cfg = config(server, tmp_path, symbols=("ETHUSDT",), raw_dir=None)
    running = start_recorder(cfg)
    server.push_trades("ETHUSDT", [("Buy", "1", "2500")])
    wait_until(lambda: running.stats().flush_failures >= 1, "a failed flush")
    assert running.stats().rows_buffered == 1
    blocker.unlink()
    wait_until(lambda: running.stats().rows_flushed == 1, "the retried flush")
    stats = running.stop()
    assert stats.rows_dropped == 0 and stats.raw_lines == 0
    assert [str(t.price) for t in trades(cfg.catalog)] == ["2500.00"]


def test_torn_raw_line_is_cut_when_the_file_is_reopened(tmp_path: Path) -> None:
    writer = RawLineWriter(tmp_path)
    ts = 1_740_000_000_000_000_000
    writer.add(ts, b'{"recv_ts_ns":1,"msg":{}}')
    writer.close()
    path = RawLineWriter.path_for(tmp_path, "2025-02-19")
    with path.open("ab") as f:
        f.write(b'{"recv_ts_ns":2,"msg":{"top')  # a crash in the middle of a write
    writer = RawLineWriter(tmp_path)
    writer.add(ts + 1, b'{"recv_ts_ns":3,"msg":{}}')
    writer.close()
    assert path.read_bytes() == b'{"recv_ts_ns":1,"msg":{}}\n{"recv_ts_ns":3,"msg":{}}\n'
    assert writer.lines_written == 1


# -- crash and restart -------------------------------------------------------------------------


def start_subprocess(server: BybitServer, tmp_path: Path, name: str) -> subprocess.Popen:
    """``record_command`` in a fresh interpreter (the CLI's code path), logging to a file."""
    args = {
        "symbols": "ETHUSDT",
        "catalog": str(tmp_path / "catalog"),
        "raw_dir": str(tmp_path / "raw"),
        "flush_interval": 0.3,
        "status_interval": 0.5,
        "url": server.url,
    }
    code = "import json, sys; from liqcascade.live.recorder import record_command; "
    code += "record_command(**json.loads(sys.argv[1]))"
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def raw_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "raw").glob("*.jsonl")))


def test_survives_kill_9_and_restart_without_duplicates(
    server: BybitServer, tmp_path: Path
) -> None:
    root = tmp_path / "catalog"
    first = start_subprocess(server, tmp_path, "first")
    try:
        t = time.time_ns() // MS
        liq1 = [
            liquidation_event("ETHUSDT", "Buy", 5, 2500, t),
            liquidation_event("ETHUSDT", "Buy", 2, 2499.5, t + 3),
        ]
        server.push_liquidations("ETHUSDT", liq1)
        trades1 = server.push_trades("ETHUSDT", [("Sell", "1", "2499.80"), ("Buy", "2", "2499.9")])
        wait_until(
            lambda: (
                rows_on_disk(root, "custom_liquidation_data") == 2
                and rows_on_disk(root, "trade_tick") == 2
                and trades1["data"][1]["i"] in raw_text(tmp_path)
            ),
            "the first flush",
            timeout=20.0,  # includes the interpreter start
        )
        first.send_signal(signal.SIGKILL)
        assert first.wait(5.0) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5.0)
    before = {p.name for p in (root / "data" / "trade_tick" / ETH).iterdir()}

    # A torn line, as a kill in the middle of a raw write would leave.
    (raw_file,) = sorted((tmp_path / "raw").glob("*.jsonl"))
    with raw_file.open("ab") as f:
        f.write(b'{"recv_ts_ns":1,"msg":{"topic":"allLiq')

    # The restarted recorder gets the last push of each topic replayed on subscription.
    server.replay_last = 1
    second = start_subprocess(server, tmp_path, "second")
    try:
        wait_until(
            lambda: server.subscribe_count("publicTrade.ETHUSDT") == 2, "resubscription", 20.0
        )
        server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Sell", 1, 2510, t + 9)])
        server.push_trades("ETHUSDT", [("Buy", "0.3", "2510.1")])
        wait_until(lambda: "2510.1" in raw_text(tmp_path), "the new trade received", 10.0)
        second.send_signal(signal.SIGTERM)  # a polite stop: final flush, exit 0
        assert second.wait(10.0) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(5.0)

    recorded = liquidations(root)
    assert [(d.side, d.quantity, d.price) for d in recorded] == [
        (LONG, 5.0, 2500.0),
        (LONG, 2.0, 2499.5),
        (SHORT, 1.0, 2510.0),
    ]
    ticks = trades(root)
    assert [(str(x.price), str(x.size)) for x in ticks] == [
        ("2499.80", "1.00"),
        ("2499.90", "2.00"),
        ("2510.10", "0.30"),
    ]
    assert len({x.trade_id.value for x in ticks}) == 3
    # The day file was merged and replaced, not duplicated next to the old one.
    after = list((root / "data" / "trade_tick" / ETH).iterdir())
    assert len(after) == 1 and after[0].name not in before
    log_text = (tmp_path / "second.log").read_text()
    assert "cut a torn last line" in log_text
    assert "recorder connected" in log_text  # a periodic status line

    # The raw lines of both runs (a replay included) re-import to the same liquidations.
    load_files("bybit-liquidations", [raw_file], tmp_path / "reimported")
    assert [liq_key(d) for d in liquidations(tmp_path / "reimported")] == [
        liq_key(d) for d in recorded
    ]


# -- command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbols", "url", "message"),
    [
        ("ETHUSDT,NOPEUSDT", "ws://127.0.0.1:1/x", "no instrument spec for NOPEUSDT"),
        (" , ", "ws://127.0.0.1:1/x", "give symbols"),
        ("ETHUSDT", "http://127.0.0.1:1/x", "ws:// or wss://"),
    ],
)
def test_record_command_refuses_bad_arguments(
    tmp_path: Path, symbols: str, url: str, message: str
) -> None:
    with pytest.raises(click.BadParameter, match=message):
        record_command(symbols, tmp_path / "catalog", url=url)
    assert not (tmp_path / "catalog").exists()


# -- the CLI's watchdog options ------------------------------------------------------------------


RECORD_ETH = [sys.executable, "-m", "liqcascade.cli", "record", "--symbols", "ETHUSDT"]


def record_cli(server: BybitServer, tmp_path: Path, *options: str) -> subprocess.Popen:
    """``liqcascade record`` in its own process, as a user runs it."""
    command = [*RECORD_ETH, "--catalog", str(tmp_path / "catalog"), "--url", server.url, *options]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_record_cli_stall_timeout_replaces_a_stalled_feed(
    server: BybitServer, tmp_path: Path
) -> None:
    """``--stall-timeout`` reaches the watchdog: a feed that stops pushing is replaced within
    it (the default, 5 s, would not have replaced it yet)."""
    process = record_cli(server, tmp_path, "--stall-timeout", "0.5", "--stop-after", "30")
    try:
        wait_until(lambda: server.subscribers("tickers.ETHUSDT") == 1, "the heartbeat topic", 30)
        server.stalled = True
        opened = server.connections_opened
        wait_until(lambda: server.connections_opened > opened, "a new connection", 4.0)
    finally:
        server.stalled = False
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "recorded 0 liquidations" in output, output


def test_record_cli_heartbeat_topic_none_subscribes_no_heartbeat(
    server: BybitServer, tmp_path: Path
) -> None:
    process = record_cli(server, tmp_path, "--heartbeat-topic", "none", "--stop-after", "30")
    try:
        wait_until(lambda: server.subscribers("publicTrade.ETHUSDT") == 1, "the trades", 30)
        time.sleep(0.5)  # the heartbeat request would follow the recorded topics at once
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    topics = [
        topic
        for r in server.received
        if r.message and r.message["op"] == "subscribe"
        for topic in r.message["args"]
    ]
    assert topics == ["allLiquidation.ETHUSDT", "publicTrade.ETHUSDT"]


def test_record_cli_refuses_a_recorded_topic_as_heartbeat(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *RECORD_ETH,
            "--catalog",
            str(tmp_path / "catalog"),
            "--heartbeat-topic",
            "publicTrade.{symbol}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "is a recorded topic" in result.stderr
    assert not (tmp_path / "catalog").exists()
