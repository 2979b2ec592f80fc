"""The paper-trading checklist from crafted event logs, and the status monitor that feeds it.

The logs are written line by line in the event-log format of ``liqcascade.strategies.event_log``
(the strategy's events) and ``liqcascade.live.monitor`` (node-wide events); every expected figure
below is worked out by hand in the comments.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from liqcascade.live.checklist import FAIL
from liqcascade.live.checklist import NA
from liqcascade.live.checklist import PASS
from liqcascade.live.checklist import CheckLine
from liqcascade.live.checklist import Targets
from liqcascade.live.checklist import checklist
from liqcascade.live.checklist import checklist_command
from liqcascade.live.checklist import format_checklist
from liqcascade.live.checklist import read_event_logs
from liqcascade.live.liquidation_client import FeedStats
from liqcascade.live.monitor import StatusMonitor
from liqcascade.live.monitor import liquidation_client_of
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.event_log import read_events
from tests.live.bybit_server import BybitServer
from tests.live.bybit_server import liquidation_event
from tests.live.conftest import Harness
from tests.live.conftest import run_node

S = 1_000_000_000
MIN = 60 * S
H = 3600 * S
T0 = 1_740_960_000 * S  # 2025-03-03 00:00:00 UTC


def ev(ts: int, event: str, symbol: str, **fields: Any) -> str:
    """One line exactly as ``EventLog.write`` formats it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // S)) + f".{ts % S:09d}Z"
    return json.dumps({"ts": ts, "time": stamp, "event": event, "symbol": symbol, **fields})


def by_item(lines: list[CheckLine]) -> dict[str, CheckLine]:
    return {line.item: line for line in lines}


# -- a two-day paper session: ETHUSDT and SOLUSDT ------------------------------------------------

# Node-wide events, repeated in both symbols' files (counted once). Connected from T0+1 s to
# T0+30 h, a 60 s outage, then until the stop at T0+48 h.
NODE = [
    ev(T0, "session_start", "*", symbols=["ETHUSDT", "SOLUSDT"]),
    ev(T0 + S, "ws_connected", "*", client="BYBIT_LIQ", reconnects=0),
    ev(T0 + 30 * H, "ws_disconnected", "*", client="BYBIT_LIQ", reason="connection lost"),
    ev(T0 + 30 * H + MIN, "ws_connected", "*", client="BYBIT_LIQ", reconnects=1),
    ev(T0 + 48 * H, "ws_disconnected", "*", client="BYBIT_LIQ", reason="session stop"),
    ev(T0 + 48 * H, "session_stop", "*"),
]


def cascade(ts: int, symbol: str, side: str = "LONG") -> list[str]:
    """The two large liquidations of a cascade and the cascade declared at the second."""
    return [
        ev(ts - 2 * S, "liquidation", symbol, side=side, price=2500.0, quantity=40.0,
           notional=100000.0, ts_event=ts - 2 * S - 300_000_000),
        ev(ts, "liquidation", symbol, side=side, price=2499.0, quantity=40.0,
           notional=99960.0, ts_event=ts - 300_000_000),
        ev(ts, "cascade", symbol, start_ns=ts - 2 * S, declared_ns=ts, end_ns=ts, large_events=2,
           events=2, long_notional=199960.0, short_notional=0.0, threshold=80000.0, side=side),
    ]  # fmt: skip


def submitted(
    ts: int, symbol: str, declared: int, oid: str, side: str = "BUY", repriced: bool = False
) -> str:
    return ev(ts, "entry_submitted", symbol, order_id=oid, declared_ns=declared, side=side,
              price=2495.0, reference=2498.75, quantity=0.04, repriced=repriced)  # fmt: skip


def eth_log() -> list[str]:
    lines: list[str] = []
    # 12 cascades, one every 4 h from T0+10 min: 12 in 2 days = 6.00 /day (PASS).
    declared = [T0 + 10 * MIN + k * 4 * H for k in range(12)]
    # First submissions after 0.1 0.1 0.2 0.2 0.3 0.3 0.4 0.5 s (cascades 0-7).
    delays = [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.5]
    for k, d in enumerate(declared):
        lines += cascade(d, "ETHUSDT", "LONG" if k != 1 else "SHORT")
        if k >= 8:  # cascades 8-11 skipped by the gate
            reason = "cooldown for 120 s" if k < 11 else "position or entry already working"
            lines.append(ev(d + 1000, "skip", "ETHUSDT", declared_ns=d, reason=reason))
            continue
        at = d + int(delays[k] * S)
        oid = f"O-ETH-{k}"
        if k == 0:  # filled, take profit on a long: pnl +0.30
            lines.append(submitted(at, "ETHUSDT", d, oid))
            lines.append(ev(at + 20 * S, "entry_fill", "ETHUSDT", order_id=oid, declared_ns=d,
                            side="BUY", price=2495.0, quantity=0.04, take_profit=2498.74,
                            stop=2488.76, commission=0.02))  # fmt: skip
            lines.append(ev(at + 2 * MIN, "exit_fill", "ETHUSDT", order_id="O-ETH-0-TP",
                            reason="TP", price=2498.74, quantity=0.04))  # fmt: skip
            lines.append(ev(at + 2 * MIN, "exit", "ETHUSDT", reason="TP", declared_ns=d,
                            side="BUY", entry_ns=at + 20 * S, exit_ns=at + 2 * MIN,
                            entry_price=2495.0, exit_price=2498.74, quantity=0.04, pnl=0.30,
                            fees=0.04))  # fmt: skip
        elif k == 1:  # post-only rejected, re-priced, filled; stop loss on a short: pnl -0.55
            lines.append(submitted(at, "ETHUSDT", d, oid, side="SELL"))
            lines.append(ev(at + 50_000_000, "entry_rejected", "ETHUSDT", order_id=oid,
                            reason="post-only would take", post_only=True))  # fmt: skip
            lines.append(submitted(at + 60_000_000, "ETHUSDT", d, oid + "b", "SELL", repriced=True))
            lines.append(ev(at + 30 * S, "entry_fill", "ETHUSDT", order_id=oid + "b",
                            declared_ns=d, side="SELL", price=2503.0, quantity=0.04,
                            take_profit=2499.25, stop=2509.26, commission=0.02))  # fmt: skip
            lines.append(ev(at + 5 * MIN, "exit", "ETHUSDT", reason="SL", declared_ns=d,
                            side="SELL", entry_ns=at + 30 * S, exit_ns=at + 5 * MIN,
                            entry_price=2503.0, exit_price=2509.3, quantity=0.04, pnl=-0.55,
                            fees=0.05))  # fmt: skip
        elif k == 7:  # rejected twice: the second rejection ends the entry
            lines.append(submitted(at, "ETHUSDT", d, oid))
            lines.append(ev(at + 40_000_000, "entry_rejected", "ETHUSDT", order_id=oid,
                            reason="post-only", post_only=True))  # fmt: skip
            lines.append(submitted(at + 50_000_000, "ETHUSDT", d, oid + "b", repriced=True))
            lines.append(ev(at + 90_000_000, "entry_rejected", "ETHUSDT", order_id=oid + "b",
                            reason="post-only", post_only=True))  # fmt: skip
        else:  # cascades 2-6: never filled, cancelled after the entry timeout
            lines.append(submitted(at, "ETHUSDT", d, oid))
            lines.append(ev(at + 30 * MIN, "entry_unfilled", "ETHUSDT", order_id=oid,
                            how="canceled"))  # fmt: skip
    return lines


def sol_log() -> list[str]:
    lines: list[str] = []
    # 3 cascades in 2 days: 1.50 /day (FAIL).
    d0, d1, d2 = T0 + 2 * H, T0 + 20 * H, T0 + 40 * H
    lines += cascade(d0, "SOLUSDT")
    at = d0 + int(0.6 * S)  # filled, take profit on a long: pnl +0.20
    lines.append(submitted(at, "SOLUSDT", d0, "O-SOL-0"))
    lines.append(ev(at + 10 * S, "entry_fill", "SOLUSDT", order_id="O-SOL-0", declared_ns=d0,
                    side="BUY", price=179.73, quantity=0.5, take_profit=180.0, stop=179.28,
                    commission=0.02))  # fmt: skip
    lines.append(ev(at + MIN, "exit", "SOLUSDT", reason="TP", declared_ns=d0, side="BUY",
                    entry_ns=at + 10 * S, exit_ns=at + MIN, entry_price=179.73, exit_price=180.0,
                    quantity=0.5, pnl=0.20, fees=0.04))  # fmt: skip
    lines += cascade(d1, "SOLUSDT")
    at = d1 + int(4.5 * S)  # a slow reaction, never filled
    lines.append(submitted(at, "SOLUSDT", d1, "O-SOL-1"))
    lines.append(ev(at + 30 * MIN, "entry_unfilled", "SOLUSDT", order_id="O-SOL-1", how="canceled"))
    lines += cascade(d2, "SOLUSDT")
    lines.append(ev(d2 + 1000, "skip", "SOLUSDT", declared_ns=d2, reason="no reference price yet"))
    return lines


def write_log(path: Path, lines: list[str], tail: str = "") -> Path:
    # Sorted by time like a real log; ``tail`` is raw text appended after the last newline.
    ordered = sorted(lines, key=lambda line: json.loads(line)["ts"])
    path.write_text("".join(line + "\n" for line in ordered) + tail)
    return path


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    write_log(tmp_path / "events-ETHUSDT.jsonl", NODE + eth_log())
    # The SOL log ends with a line torn by a crash.
    write_log(tmp_path / "events-SOLUSDT.jsonl", NODE + sol_log(), tail='{"ts": 17409600')
    return tmp_path


def test_two_day_session_figures_and_verdicts(session_dir: Path) -> None:
    lines = checklist(session_dir)
    assert [line.item for line in lines] == [
        "Session span",
        "Websocket stable 24h+",
        "Websocket uptime",
        "Cascades/day ETHUSDT",
        "Cascades/day SOLUSDT",
        "Reaction time",
        "Fill rate",
        "Win rate",
        "Exit split TP/SL/TIMEOUT",
        "TP/SL logic",
        "Cooldown and one position",
        "Event log integrity",
    ]
    line = by_item(lines)

    span = line["Session span"]
    assert (span.status, span.figures["days"]) == (FAIL, 2.0)  # target >= 7 days
    assert span.value == "2.00 days (2025-03-03 00:00 UTC -> 2025-03-05 00:00 UTC)"
    assert span.target == ">= 7 days"

    # Connected [T0+1 s, T0+30 h] and [T0+30 h+60 s, T0+48 h]: 61 s of 48 h disconnected.
    stable, uptime = line["Websocket stable 24h+"], line["Websocket uptime"]
    assert stable.status == PASS
    assert stable.figures["longest_h"] == pytest.approx(30 - 1 / 3600)
    assert stable.value == "longest connection 30.0 h"
    assert uptime.status == PASS
    assert uptime.figures["uptime"] == pytest.approx((48 * 3600 - 61) / (48 * 3600))
    assert uptime.figures["reconnects"] == 1
    assert uptime.figures["disconnected_s"] == pytest.approx(61)
    assert uptime.value == "99.96 % (1 reconnects, 61 s disconnected)"

    eth, sol = line["Cascades/day ETHUSDT"], line["Cascades/day SOLUSDT"]
    assert (eth.status, eth.figures["per_day"], eth.value) == (
        PASS,
        6.0,
        "6.00 /day (12 in 2.00 days)",
    )
    assert (sol.status, sol.figures["per_day"], sol.value) == (
        FAIL,
        1.5,
        "1.50 /day (3 in 2.00 days)",
    )
    assert eth.target == "5-9 /day"

    # First submissions only (re-priced orders are not reactions to a cascade):
    # sorted 0.1 0.1 0.2 0.2 0.3 0.3 0.4 0.5 0.6 4.5 s -> p50 = 0.3,
    # p99 = 0.6 + 0.91 * (4.5 - 0.6) = 4.149 (linear interpolation at rank 8.91).
    reaction = line["Reaction time"]
    assert reaction.status == FAIL
    assert reaction.figures["n"] == 10
    assert reaction.figures["p50_s"] == pytest.approx(0.3)
    assert reaction.figures["p99_s"] == pytest.approx(4.149)
    assert reaction.figures["max_s"] == pytest.approx(4.5)
    assert reaction.figures["over"] == 1
    assert reaction.value == "p50 0.300 s, p99 4.149 s (n=10)"
    assert reaction.target == "p99 < 3 s"

    # 10 cascades got an entry: ETH 0 and 1 and SOL 0 filled; ETH 2-6 and SOL 1 cancelled
    # unfilled; ETH 7 rejected twice. 3/10 = 30 %.
    fill = line["Fill rate"]
    assert fill.status == FAIL
    assert fill.figures == {
        "filled": 3,
        "unfilled": 7,
        "pending": 0,
        "skipped": 5,
        "rate": pytest.approx(0.3),
    }
    assert fill.value == "30.0 % (3/10 entries filled)"
    assert fill.target == "50-80 %"
    assert fill.detail == (
        "15 cascades: 10 entries, 5 skipped (cooldown for 3, "
        "no reference price yet 1, position or entry already working 1)"
    )

    # pnl +0.30, -0.55, +0.20: 2 wins of 3 = 66.7 %.
    win = line["Win rate"]
    assert (win.status, win.figures["wins"], win.figures["trades"]) == (PASS, 2, 3)
    assert win.figures["pnl"] == pytest.approx(-0.05)
    assert win.value == "66.7 % (2/3 trades with pnl > 0)"
    assert win.target == "65-75 %"

    split = line["Exit split TP/SL/TIMEOUT"]
    assert split.status == PASS
    assert split.value == "TP 66.7 % / SL 33.3 % / TIMEOUT 0.0 % (2/1/0)"
    assert split.figures == {"TP": 2, "SL": 1, "TIMEOUT": 0, "other": 0}

    tp_sl = line["TP/SL logic"]
    assert tp_sl.status == PASS
    assert tp_sl.value == "long 2 TP / 0 SL, short 0 TP / 1 SL, 0 wrong"

    limits = line["Cooldown and one position"]
    assert (limits.status, limits.figures) == (PASS, {"entries": 10, "breaches": 0})

    integrity = line["Event log integrity"]
    assert integrity.status == PASS
    assert integrity.figures["torn"] == 1
    assert integrity.figures["bad"] == 0
    assert integrity.figures["duplicates"] == len(NODE)
    assert integrity.figures["files"] == 2
    assert integrity.figures["events"] == len(NODE) + len(eth_log()) + len(sol_log())

    text = format_checklist(lines)
    assert "FAIL  Reaction time" in text
    assert "FAIL  Fill rate" in text
    assert text.splitlines()[-1] == "8 PASS, 4 FAIL, 0 N/A"


def test_single_file_and_list_of_files_give_the_same_figures(session_dir: Path) -> None:
    files = sorted(session_dir.glob("events-*.jsonl"))
    assert checklist(files) == checklist(session_dir)
    only_eth = by_item(checklist(session_dir / "events-ETHUSDT.jsonl"))
    assert "Cascades/day SOLUSDT" not in only_eth
    assert only_eth["Fill rate"].figures["rate"] == pytest.approx(2 / 8)


def test_short_session_with_logic_errors(tmp_path: Path) -> None:
    """Two hours, uptime from status samples only, a wrong TP, a cooldown breach, an unknown
    exit and an exit whose fill was never logged."""
    t1 = T0
    lines = []
    # Status every 10 min for 2 h: disconnected at 60 min, reconnected (counter 0 -> 1) by
    # 70 min: connected [0, 60] and [70, 120] min = 110 of 120 min = 91.67 %.
    for i in range(13):
        lines.append(ev(t1 + i * 10 * MIN, "status", "*", client="BYBIT_LIQ", connected=i != 6,
                        reconnects=0 if i <= 6 else 1, messages=100 * i))  # fmt: skip
    a, b = t1 + 5 * MIN, t1 + 10 * MIN
    lines += cascade(a, "ETHUSDT") + cascade(b, "ETHUSDT", "SHORT")
    # A: long, 0.2 s; "TP" priced *below* the entry: a TP/SL bug.
    lines.append(submitted(a + int(0.2 * S), "ETHUSDT", a, "A"))
    lines.append(ev(a + 30 * S, "entry_fill", "ETHUSDT", order_id="A", declared_ns=a, side="BUY",
                    price=2495.0, quantity=0.04))  # fmt: skip
    lines.append(ev(t1 + 8 * MIN, "exit", "ETHUSDT", reason="TP", declared_ns=a, side="BUY",
                    entry_price=2495.0, exit_price=2491.0, pnl=-0.1))  # fmt: skip
    # B: short, 0.25 s, only 2 min after A's exit (cooldown 300 s); closed by an unknown order.
    lines.append(submitted(b + int(0.25 * S), "ETHUSDT", b, "B", side="SELL"))
    lines.append(ev(b + 20 * S, "entry_fill", "ETHUSDT", order_id="B", declared_ns=b,
                    side="SELL", price=2503.0, quantity=0.04))  # fmt: skip
    lines.append(ev(t1 + 15 * MIN, "exit", "ETHUSDT", reason="?", declared_ns=b, side="SELL",
                    entry_price=2503.0, exit_price=2500.0, pnl=0.2))  # fmt: skip
    # C: an exit of a cascade whose entry fill is not in the log.
    lines.append(ev(t1 + 30 * MIN, "exit", "ETHUSDT", reason="SL", declared_ns=t1 + 25 * MIN,
                    side="SELL", entry_price=2500.0, exit_price=2505.0, pnl=-0.3))  # fmt: skip
    write_log(tmp_path / "events-ETHUSDT.jsonl", lines)

    line = by_item(checklist(tmp_path / "events-ETHUSDT.jsonl"))
    assert line["Session span"].figures["days"] == pytest.approx(2 / 24)
    stable, uptime = line["Websocket stable 24h+"], line["Websocket uptime"]
    assert stable.status == NA  # a 2 h session cannot show 24 h
    assert stable.figures["longest_h"] == pytest.approx(1.0)
    assert uptime.status == FAIL
    assert uptime.figures["uptime"] == pytest.approx(110 / 120)
    assert uptime.figures["reconnects"] == 1
    assert "status samples" in uptime.detail
    eth = line["Cascades/day ETHUSDT"]
    assert eth.status == NA and eth.figures["per_day"] == pytest.approx(2 / (2 / 24))
    reaction = line["Reaction time"]
    assert reaction.status == PASS
    assert reaction.figures["p50_s"] == pytest.approx(0.225)
    assert reaction.figures["p99_s"] == pytest.approx(0.2495)
    fill = line["Fill rate"]
    assert (fill.status, fill.value) == (FAIL, "100.0 % (2/2 entries filled)")  # above 80 %
    win = line["Win rate"]
    assert (win.status, win.figures["wins"], win.figures["trades"]) == (FAIL, 1, 3)
    split = line["Exit split TP/SL/TIMEOUT"]
    assert split.status == FAIL
    assert split.figures == {"TP": 1, "SL": 1, "TIMEOUT": 0, "other": 1}
    assert split.detail == "1 exits closed by an unknown order: ?"
    tp_sl = line["TP/SL logic"]
    assert tp_sl.status == FAIL
    assert tp_sl.value == "long 1 TP / 0 SL, short 0 TP / 1 SL, 1 wrong"
    assert tp_sl.detail == "ETHUSDT BUY TP 2495 -> 2491"
    limits = line["Cooldown and one position"]
    assert (limits.status, limits.figures) == (FAIL, {"entries": 2, "breaches": 1})
    assert limits.detail == "ETHUSDT entry at 2025-03-03 00:10 UTC 120 s after an exit"
    integrity = line["Event log integrity"]
    assert integrity.status == FAIL
    assert integrity.figures["orphan_exits"] == 1

    # A longer cooldown setting is honoured; a shorter one clears the breach.
    relaxed = by_item(checklist(tmp_path, Targets(cooldown_s=60)))
    assert relaxed["Cooldown and one position"].status == PASS


def test_unreadable_lines_and_a_crash_restart(tmp_path: Path) -> None:
    path = tmp_path / "events-ETHUSDT.jsonl"
    good = ev(T0, "liquidation", "ETHUSDT", side="LONG", price=1.0, quantity=1.0)
    # A torn write followed by the restarted node's first line on the same line (recovered),
    # then garbage in the middle of the file (unreadable).
    restarted = ev(T0 + H, "session_start", "*", symbols=["ETHUSDT"])
    path.write_text(
        good + "\n" + '{"ts": 1740960001, "eve' + restarted + "\nnot json\n" + good + "\n"
    )
    logs = read_event_logs(path)
    assert [e["event"] for e in logs.events] == ["liquidation", "liquidation", "session_start"]
    assert logs.torn_lines == [(path, 2)]
    assert logs.bad_lines == [(path, 3)]
    integrity = by_item(checklist(path))["Event log integrity"]
    assert integrity.status == FAIL
    assert "1 unreadable line(s): events-ETHUSDT.jsonl:3" in integrity.detail
    # The strategies' own reader agrees on what is readable.
    assert len(read_events(path)) == 2


def test_empty_log_is_not_applicable(tmp_path: Path) -> None:
    path = tmp_path / "events-XRPUSDT.jsonl"
    path.write_text("")
    lines = checklist(path)
    statuses = {line.item: line.status for line in lines}
    assert statuses.pop("Event log integrity") == PASS
    assert set(statuses.values()) == {NA}
    assert "Cascades/day XRPUSDT" in statuses


def test_checklist_command_exit_code_and_json(session_dir: Path, capsys: Any) -> None:
    assert checklist_command(str(session_dir)) == 1  # the session has failing lines
    out = capsys.readouterr().out
    assert out.startswith("Paper-trading checklist")
    assert checklist_command([session_dir / "events-ETHUSDT.jsonl"], as_json=True) == 1
    decoded = json.loads(capsys.readouterr().out)
    assert decoded[0]["item"] == "Session span" and decoded[0]["status"] == FAIL
    with pytest.raises(Exception, match="no such file"):
        checklist_command(session_dir / "missing.jsonl")


# -- the status monitor ------------------------------------------------------------------------


def feed(connected: bool, messages: int, liquidations: int, reconnects: int) -> FeedStats:
    """The live client's real stats record (other counters zero, whatever fields it grows)."""
    values: dict[str, Any] = {f.name: 0 for f in dataclasses.fields(FeedStats)}
    values.update(
        connected=connected,
        messages=messages,
        liquidations=liquidations,
        reconnects=reconnects,
        last_message_ns=None,
    )
    return FeedStats(**values)


def test_monitor_events_feed_the_checklist(tmp_path: Path) -> None:
    path = tmp_path / "events-node.jsonl"
    states = iter(
        [
            feed(True, 10, 0, 0),  # t = 0 s: connected
            feed(True, 70, 2, 0),  # t = 60 s: 1 msg/s, two liquidations
            feed(False, 70, 2, 0),  # t = 120 s: lost
            feed(True, 100, 2, 1),  # t = 150 s: back
            feed(True, 200, 3, 2),  # t = 210 s: dropped and back between two polls
        ]
    )
    lines: list[str] = []
    clock = [T0 - S]
    monitor = StatusMonitor(
        EventLog(path),
        feed_stats=lambda: next(states),
        clock_ns=lambda: clock[0],
        log=lines.append,
    )
    monitor.session_start(symbols=["ETHUSDT"])  # T0 - 1 s
    snaps = []
    for t in (0, 60, 120, 150, 210):
        clock[0] = T0 + t * S
        snaps.append(monitor.tick())
    clock[0] = T0 + 240 * S
    monitor.session_stop()
    assert snaps[1].messages_per_s == pytest.approx(1.0)
    assert snaps[1].last_liquidation_age_s == 0.0
    assert snaps[2].connected is False
    assert snaps[3].last_liquidation_age_s == pytest.approx(90.0)
    assert snaps[0].open_orders is None and snaps[0].pnl_today is None  # no cache given
    assert "status BYBIT_LIQ DISCONNECTED" in lines[2]

    events = read_events(path)
    ws = [(e["event"], (e["ts"] - T0) // S) for e in events if e["event"].startswith("ws_")]
    assert ws == [
        ("ws_connected", 0),
        ("ws_disconnected", 120),
        ("ws_connected", 150),
        ("ws_disconnected", 210),
        ("ws_connected", 210),
        ("ws_disconnected", 240),  # written by session_stop
    ]
    assert [e["connected"] for e in events if e["event"] == "status"] == [
        True,
        True,
        False,
        True,
        True,
    ]
    assert events[-1]["event"] == "session_stop"
    # Connected [0, 120], [150, 210] and [210, 240] s of a session from -1 s to 240 s.
    uptime = by_item(checklist(path))["Websocket uptime"]
    assert uptime.figures["reconnects"] == 2
    assert uptime.figures["connections"] == 3
    assert uptime.figures["uptime"] == pytest.approx(210 / 241)


def test_monitor_in_a_real_node(tmp_path: Path) -> None:
    """Wired to a running TradingNode: the client's stats, the node's cache and portfolio."""
    path = tmp_path / "events-node.jsonl"
    snaps = []

    async def scenario(h: Harness) -> None:
        monitor = StatusMonitor(
            EventLog(path),
            feed_stats=liquidation_client_of(h.node).stats,
            cache=h.node.cache,
            portfolio=h.node.portfolio,
            log=lambda line: None,
        )
        monitor.session_start(symbols=["ETHUSDT"])
        snaps.append(monitor.tick())
        h.server.push_liquidations("ETHUSDT", [liquidation_event("ETHUSDT", "Buy", 1, 2500)])
        await h.wait_delivered(1)
        h.server.drop_all()
        await h.wait_for(lambda: h.client.stats().reconnects == 1, "reconnection")
        snaps.append(monitor.tick())
        monitor.session_stop()

    with BybitServer() as server:
        run_node(server, scenario, reconnect_initial_s=0.05)
    first, second = snaps
    assert first.connected is True and first.reconnects == 0
    assert (first.open_orders, first.open_positions, first.pnl_today) == (0, 0, 0.0)
    assert second.connected is True and second.reconnects == 1
    assert second.liquidations == 1 and second.last_liquidation_age_s is not None
    events = [e["event"] for e in read_events(path)]
    assert events == [
        "session_start",
        "ws_connected",
        "status",
        "ws_disconnected",
        "ws_connected",
        "status",
        "ws_disconnected",
        "session_stop",
    ]
    assert by_item(checklist(path))["Websocket uptime"].figures["reconnects"] == 1


def test_monitor_run_polls_and_ticks(tmp_path: Path) -> None:
    path = tmp_path / "events-node.jsonl"
    calls = {"n": 0}

    def stats() -> FeedStats:
        calls["n"] += 1
        return feed(True, calls["n"], 0, 0)

    monitor = StatusMonitor(EventLog(path), feed_stats=stats, log=lambda line: None)

    async def main() -> None:
        task = asyncio.create_task(monitor.run(status_interval_s=0.1, poll_interval_s=0.02))
        await asyncio.sleep(0.35)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    events = [e["event"] for e in read_events(path)]
    assert events[0] == "ws_connected"
    assert 3 <= events.count("status") <= 5  # at 0, 0.1, 0.2, 0.3 s
    assert calls["n"] > events.count("status")  # polled between the status lines too
