"""Raw JSON lines of a recording: one file per UTC day of receipt, never a torn line.

The one concern of this module is the raw copy the recorder can keep of every received message
(``<raw_dir>/bybit-linear-<YYYY-MM-DD>.jsonl``), which the ``bybit-liquidations`` loader
re-imports: lines are appended in whole-line chunks, and a line torn by a crash is cut off when
the file is reopened, so the loader never meets half a line.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import BinaryIO

import msgspec

log = logging.getLogger("liqcascade.recorder")

RAW_FILE_PREFIX = "bybit-linear-"
_encoder = msgspec.json.Encoder()


def _cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline (a line torn by a crash); return bytes cut."""
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            f.truncate(keep)
        return size - keep


class RawLineWriter:
    """
    Append raw JSON lines to one file per UTC day of receipt, in whole-line chunks.

    Parameters
    ----------
    raw_dir : Path
        Folder of the files (created if missing).

    """

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = Path(raw_dir)
        self.lines_written = 0
        self._pending: list[tuple[str, bytes]] = []  # (day, line)
        self._day: str | None = None
        self._file: BinaryIO | None = None

    @staticmethod
    def path_for(raw_dir: Path, day: str) -> Path:
        """The file of one UTC day (``YYYY-MM-DD``)."""
        return Path(raw_dir) / f"{RAW_FILE_PREFIX}{day}.jsonl"

    def add(self, recv_ts_ns: int, line: bytes) -> None:
        """Queue one encoded line (without its newline) received at ``recv_ts_ns``."""
        day = datetime.fromtimestamp(recv_ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d")
        self._pending.append((day, line))

    def flush(self) -> None:
        """Write the queued lines, one ``write`` per day file (no half line reaches a file)."""
        pending, self._pending = self._pending, []
        start = 0
        while start < len(pending):
            day = pending[start][0]
            end = start
            while end < len(pending) and pending[end][0] == day:
                end += 1
            chunk = memoryview(b"".join(line + b"\n" for _, line in pending[start:end]))
            file = self._open(day)
            try:
                while chunk:  # an unbuffered write may be short (e.g. a full disk)
                    written = file.write(chunk)
                    if not written:
                        raise OSError(f"cannot write to {file.name}")
                    chunk = chunk[written:]
            except OSError:
                # Reopening cuts the half line this write may have left, before anything else
                # is appended behind it.
                file.close()
                self._file = None
                raise
            self.lines_written += end - start
            start = end

    def close(self) -> None:
        """Flush and close the current file."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self, day: str) -> BinaryIO:
        if self._day == day and self._file is not None:
            return self._file
        if self._file is not None:
            self._file.close()
        path = self.path_for(self.raw_dir, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            cut = _cut_torn_tail(path)
            if cut:
                log.warning(f"{path}: cut a torn last line ({cut} bytes) left by a crash")
        # Unbuffered: each flush is one write() of whole lines, never a partial buffer spill.
        self._file = path.open("ab", buffering=0)
        self._day = day
        return self._file


def message_line(recv_ts_ns: int, text: str | None, message: dict[str, Any] | None) -> bytes:
    """A ``{"recv_ts_ns", "msg"}`` line, reusing the received text when it is one line."""
    if text is not None and "\n" not in text and "\r" not in text:
        return f'{{"recv_ts_ns":{recv_ts_ns},"msg":{text}}}'.encode()
    return _encoder.encode({"recv_ts_ns": recv_ts_ns, "msg": message})


def encode_line(line: dict[str, Any]) -> bytes:
    """A line kept for forensics (no ``msg`` key: the loader skips it)."""
    return _encoder.encode(line)
