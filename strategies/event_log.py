"""A structured event log: one JSON object per line, the same in backtests, paper and live.

Every line has ``ts`` (UNIX ns, the engine clock: simulated in backtests, wall time live),
``time`` (ISO UTC), ``event`` and ``symbol``, plus event-specific fields. Lines are flushed as
they are written so a crash loses nothing already logged.
"""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TextIO


class EventLog:
    """
    Append-only JSON-lines writer (a no-op when ``path`` is ``None``).

    Parameters
    ----------
    path : str | Path | None
        File to append to; parent folders are created.

    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._file: TextIO | None = None

    def write(self, ts_ns: int, event: str, symbol: str, **fields: Any) -> None:
        """Append one event."""
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
        stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ns % 1_000_000_000:09d}Z"
        record = {"ts": ts_ns, "time": stamp, "event": event, "symbol": symbol, **fields}
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (reopened on the next write)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Read an event log back (skipping a torn last line from a crash)."""
    events = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
