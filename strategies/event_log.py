"""A structured event log: one JSON object per line, the same in backtests, paper and live.

Every line has ``ts`` (UNIX ns, the engine clock: simulated in backtests, wall time live),
``time`` (ISO UTC), ``event`` and ``symbol``, plus event-specific fields. Lines are flushed as
they are written so a crash loses nothing already logged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TextIO

NS_PER_S = 1_000_000_000
_ENCODER = json.JSONEncoder(default=str, check_circular=False)  # records are flat dicts


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
        #: Called with every record written (a live node's alerts and metrics); a listener
        #: that raises is dropped from nothing and breaks nothing: its error is swallowed.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._file: TextIO | None = None
        self._day_prefix: dict[int, str] = {}  # UTC day number -> "YYYY-MM-DDT"

    def write(self, ts_ns: int, event: str, symbol: str, **fields: Any) -> None:
        """Append one event."""
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        record = {"ts": ts_ns, "time": self._stamp(ts_ns), "event": event, "symbol": symbol}
        record.update(fields)
        self._file.write(_ENCODER.encode(record) + "\n")
        self._file.flush()
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener(record)

    def _stamp(self, ts_ns: int) -> str:
        """ISO-8601 UTC with nanoseconds; the date part cached (a line per liquidation is hot)."""
        seconds, nanos = divmod(ts_ns, NS_PER_S)
        day, in_day = divmod(seconds, 86_400)
        prefix = self._day_prefix.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")
            self._day_prefix[day] = prefix
        hours, rest = divmod(in_day, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}.{nanos:09d}Z"

    def close(self) -> None:
        """Close the file (reopened on the next write)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: str | Path, skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    """
    Read an event log back (skipping a torn last line from a crash).

    ``skip`` names event kinds to leave out without parsing them - e.g. ``("liquidation",)``,
    the bulk of a long backtest's log, for readers that only want orders and trades.
    """
    markers = tuple(f'"event": "{kind}"' for kind in skip)
    events = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            # "event" comes third, after "ts" and "time": look only at the line's head.
            if markers and any(marker in line[:128] for marker in markers):
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
