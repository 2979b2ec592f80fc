"""Reading a paper or live session's event logs: files or folders, merged into one timeline.

One JSON-lines log per symbol (``events-<SYMBOL>.jsonl``) plus the node-wide events of
:mod:`liqcascade.live.monitor`, in their own file or repeated in every symbol's file (identical
node-wide lines count once). A torn line (a crash mid-write) is recorded and skipped, with the
whole event that may follow it on the same line recovered; any other unreadable line is recorded
as bad. The paper-trading checklist (:mod:`liqcascade.live.checklist`) reads logs through here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liqcascade.live.monitor import NODE_EVENTS

_FILE_SYMBOL = re.compile(r"^events-([A-Za-z0-9]+)\.jsonl$")


@dataclass
class EventLogs:
    """Events of one or more logs, merged and sorted by ``ts`` (stable)."""

    events: list[dict[str, Any]]
    files: list[Path]
    symbols: list[str]
    torn_lines: list[tuple[Path, int]]
    bad_lines: list[tuple[Path, int]]
    duplicates_dropped: int


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """
    Files behind ``paths``: files as given, folders as their ``events-*.jsonl`` (else ``*.jsonl``).

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a folder without event logs.

    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("events-*.jsonl")) or sorted(path.glob("*.jsonl"))
            if not found:
                raise FileNotFoundError(f"{path}: no event logs (events-*.jsonl) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return list(dict.fromkeys(files))


def _decode(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event"), str):
        return None
    ts = value.get("ts")
    return value if isinstance(ts, int) and not isinstance(ts, bool) else None


def read_event_logs(paths: str | Path | Iterable[str | Path]) -> EventLogs:
    """
    Read and merge event logs (see :func:`expand_paths`).

    A line that cannot be read is *torn* when it is the file's last line, or when a whole event
    follows the fragment on the same line (a restarted node appended after a torn write): the
    event is recovered, the fragment skipped. Any other unreadable line is *bad*.
    """
    files = expand_paths(paths)
    events: list[dict[str, Any]] = []
    torn: list[tuple[Path, int]] = []
    bad: list[tuple[Path, int]] = []
    symbols: set[str] = set()
    seen_node_events: set[str] = set()
    duplicates = 0
    for path in files:
        match = _FILE_SYMBOL.match(path.name)
        if match and match.group(1).lower() != "node":
            symbols.add(match.group(1).upper())
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            event = _decode(text)
            if event is None:
                start = text.rfind('{"ts"')
                event = _decode(text[start:]) if start > 0 else None
                if event is None and number < len(lines):
                    bad.append((path, number))
                    continue
                torn.append((path, number))
                if event is None:
                    continue
            if event["event"] in NODE_EVENTS:
                key = json.dumps(event, sort_keys=True)
                if key in seen_node_events:
                    duplicates += 1
                    continue
                seen_node_events.add(key)
            symbol = event.get("symbol")
            if isinstance(symbol, str) and symbol and event["event"] not in NODE_EVENTS:
                symbols.add(symbol.upper())
            events.append(event)
    events.sort(key=lambda e: e["ts"])
    return EventLogs(events, files, sorted(symbols), torn, bad, duplicates)
