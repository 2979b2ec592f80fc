"""The JSON-lines event log: one object per line, ISO-8601 UTC stamps with nanoseconds."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.event_log import read_events

S = 1_000_000_000


@pytest.mark.parametrize(
    "ts_ns",
    [
        0,
        1_709_164_799 * S + 999_999_999,  # 2024-02-28T23:59:59.999999999Z
        1_709_164_800 * S,  # leap day
        1_740_960_081_075_358_369,
        4_102_444_800 * S + 1,  # 2100-01-01
    ],
)
def test_stamp_is_iso_utc_with_nanoseconds(tmp_path: Path, ts_ns: int) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.write(ts_ns, "liquidation", "ETHUSDT", side="LONG", price=2178.16, notional=2657.3552)
    log.write(ts_ns + S, "exit", "ETHUSDT", reason="TP", extra=Path("x"))  # non-JSON -> str
    log.close()
    first, second = read_events(tmp_path / "events.jsonl")
    moment = datetime.fromtimestamp(ts_ns // S, tz=UTC)
    assert first["time"] == f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ns % S:09d}Z"
    assert (first["ts"], first["event"], first["side"], first["price"]) == (
        ts_ns,
        "liquidation",
        "LONG",
        2178.16,
    )
    assert (
        second["time"][:19] == f"{datetime.fromtimestamp(ts_ns // S + 1, tz=UTC):%Y-%m-%dT%H:%M:%S}"
    )
    assert second["extra"] == "x"


def test_readers_can_skip_event_kinds_without_parsing_them(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for i in range(3):
        log.write(i * S, "liquidation", "ETHUSDT", side="LONG")
        log.write(i * S + 1, "entry_submitted", "ETHUSDT", note='"event": "liquidation"')
    log.close()
    kept = read_events(path, skip=("liquidation",))
    assert [e["event"] for e in kept] == ["entry_submitted"] * 3  # a field quoting it stays
    assert len(read_events(path)) == 6
