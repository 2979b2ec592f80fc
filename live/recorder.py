"""Record Bybit's public linear stream (liquidations and trades) straight into a data catalog.

A recording made here *is* a backtest data set: the rows land in the same catalog files, with the
same schemas and timestamps, that the file loaders produce, so ``BacktestNode`` streams them as-is.

What is recorded
----------------
* ``allLiquidation.<SYM>`` -> ``LiquidationData`` rows, parsed by the shared
  :func:`liqcascade.data_loaders.bybit.parse_liquidation_message` with ``recv_ts_ns`` = receipt
  time, so ``ts_init`` = receipt time + the loaders' 1 ns tie-break (never before the event time).
* ``publicTrade.<SYM>`` -> ``TradeTick`` rows, parsed by the live client's
  :func:`liqcascade.data_loaders.bybit.parse_trade_event` (re-exported here as
  ``parse_trade_message``; both belong in ``data_loaders/bybit.py``): ``ts_event`` = the trade time
  ``T``, ``ts_init`` = receipt time, aggressor from the taker side ``S``, ``trade_id`` = ``i``. On
  top, the recorder refuses what would break the catalog later: a price or size off the
  instrument's tick/lot grid or not finite, a trade id longer than the framework's 36 characters,
  another symbol's event, a time outside 2017..now+2 days. Block trades (``BT: true``) and RPI
  trades (``RPI: true``) are skipped and counted as ``block_trades``, the one rule of
  :func:`liqcascade.data_loaders.bybit.is_book_trade`: a backtest's L1 matching must not fill
  resting orders on prints the public book never showed.
* Receipt times are floored to the microsecond, for trades and liquidations alike. Trades then
  sit on whole microseconds and liquidations one nanosecond after, so the two can never share a
  ``ts_init`` (the engine orders ties differently in one-shot and streaming modes).
* Optionally every received message as a raw JSON line ``{"recv_ts_ns": int, "msg": {...}}`` in
  ``<raw_dir>/bybit-linear-<YYYY-MM-DD>.jsonl`` (UTC day of receipt), which the
  ``bybit-liquidations`` loader re-imports. Lines that must not be imported carry no ``msg`` key
  (the loader skips them): ``{"recv_ts_ns", "undecodable": text}`` and
  ``{"recv_ts_ns", "rejected": message, "errors": [...]}``; the good events of a partly bad push
  are written as their own ``msg`` line.

Crash safety
------------
Rows are buffered in memory and written every ``flush_interval_s`` through
:class:`~liqcascade.data_loaders.catalog_writer.CatalogWriter` (staged, then moved into place;
per-day merge with de-duplication), in a worker thread so the websocket keeps being read. A ``kill
-9`` loses only the rows received since the last completed flush; a restart appends, and rows a
replay delivers again are dropped by the writer's de-duplication (trades by ``ts_event, trade_id,
price, size, aggressor``; liquidations by ``ts_event, side, price, quantity``). Raw lines are
written in whole-line chunks every ``raw_flush_interval_s``; a line torn by a crash is cut off when
the file is reopened, so the loader never meets half a line. Run one recorder per catalog: two
processes merging the same day file would race.

Connection
----------
:class:`~liqcascade.live.bybit_stream.BybitPublicStream`, the live data client's connection:
``{"op":"ping"}`` every 20 s, a connection silent for ``pong_timeout_s`` after a ping is
replaced, reconnection with exponential backoff (0.5 s doubling to 30 s, jittered, reset once a
connection opens), every topic resubscribed after a reconnection. Malformed messages are logged
(throttled), counted and skipped; nothing a peer sends stops the recorder.

``orderbook.1`` best bid/ask is not recorded: the catalog writer has no quote-tick table yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import BinaryIO

import msgspec
import pandas as pd

from liqcascade.data_loaders.bybit import TRADE_TOPIC_PREFIX
from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.bybit import is_book_trade
from liqcascade.data_loaders.bybit import parse_liquidation_message
from liqcascade.data_loaders.bybit import parse_trade_event
from liqcascade.data_loaders.bybit import parse_trade_message
from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.catalog_writer import WriteSummary
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import MAX_FUTURE_NS
from liqcascade.data_loaders.frames import MIN_TS_NS
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.frames import validate_liquidations
from liqcascade.data_loaders.frames import validate_trades
from liqcascade.data_loaders.instruments import DEFAULT_SPECS_PATH
from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.live.bybit_stream import BybitPublicStream
from liqcascade.live.bybit_stream import ConnectionStats
from liqcascade.live.bybit_stream import StdLog
from liqcascade.live.bybit_stream import StreamSettings
from liqcascade.live.config import BYBIT_LINEAR_PUBLIC_URL

__all__ = [
    "BybitRecorder",
    "RawLineWriter",
    "RecorderConfig",
    "RecorderStats",
    "TradePrint",
    "parse_trade_message",
    "record",
    "record_command",
    "run_recorder",
    "write_records",
]

log = logging.getLogger("liqcascade.recorder")

LIQUIDATION_TOPIC = "allLiquidation."
TRADE_TOPIC = TRADE_TOPIC_PREFIX
RAW_FILE_PREFIX = "bybit-linear-"
_PARSE_ERRORS = (MessageError, KeyError, TypeError, ValueError)
_encoder = msgspec.json.Encoder()


# -- configuration and counters ----------------------------------------------------------------


@dataclass(frozen=True)
class RecorderConfig:
    """
    What to record and where, and the connection rules.

    Parameters
    ----------
    symbols : tuple[str, ...]
        Bybit linear symbols, e.g. ``("ETHUSDT", "SOLUSDT")``; each needs an instrument spec.
    catalog : Path
        Catalog root (created if missing).
    flush_interval_s : float
        Seconds between catalog writes; a crash loses at most the rows of one interval.
    raw_dir : Path, optional
        Folder of the per-day raw JSON-lines files, ``None`` for none.
    url : str
        Websocket URL of Bybit's public linear stream (tests use a local server).
    status_interval_s : float
        Seconds between status log lines.
    raw_flush_interval_s : float
        Seconds between writes of buffered raw lines.
    ping_interval_s, pong_timeout_s, reconnect_initial_s, reconnect_max_s, open_timeout_s, \
subscribe_batch, max_message_bytes
        The connection rules, as in :class:`~liqcascade.live.bybit_stream.StreamSettings`
        (Bybit's recommended 20 s ping by default).
    specs_path : Path
        Instrument specs (tick and lot sizes of the trade tables).
    skip_block_trades : bool
        Leave out block and RPI trades (``"BT": true`` / ``"RPI": true``, see
        :func:`liqcascade.data_loaders.bybit.is_book_trade`).

    """

    symbols: tuple[str, ...]
    catalog: Path
    flush_interval_s: float = 60.0
    raw_dir: Path | None = None
    url: str = BYBIT_LINEAR_PUBLIC_URL
    status_interval_s: float = 60.0
    raw_flush_interval_s: float = 1.0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 10.0
    subscribe_batch: int = 10
    max_message_bytes: int = 2**22
    specs_path: Path = DEFAULT_SPECS_PATH
    skip_block_trades: bool = True

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must not be empty")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must be a ws:// or wss:// URL, got {self.url!r}")
        positive = (
            "flush_interval_s",
            "status_interval_s",
            "raw_flush_interval_s",
            "ping_interval_s",
            "pong_timeout_s",
            "reconnect_initial_s",
            "reconnect_max_s",
            "open_timeout_s",
            "subscribe_batch",
            "max_message_bytes",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

    @property
    def topics(self) -> list[str]:
        """Every topic subscribed: liquidations and trades of each symbol."""
        return [f"{p}{s}" for s in self.symbols for p in (LIQUIDATION_TOPIC, TRADE_TOPIC)]


@dataclass(frozen=True, kw_only=True)
class RecorderStats(ConnectionStats):
    """
    A snapshot of the recorder's counters: the connection's
    (:class:`~liqcascade.live.bybit_stream.ConnectionStats`) and these.

    Parameters
    ----------
    liquidations, trades : int
        Events accepted into the buffer (a replay counts again; the writer drops it).
    block_trades : int
        Block and RPI trades skipped.
    rows_buffered : int
        Rows waiting for the next flush.
    rows_flushed : int
        Rows handed to successful catalog commits (before the writer's de-duplication).
    rows_dropped : int
        Rows a commit refused as invalid (logged).
    flushes, flush_failures : int
        Successful catalog commits; commits that failed (rows kept for the next attempt).
    raw_lines : int
        Raw JSON lines written.
    last_liquidation_ns : int | None
        Receipt time of the last liquidation push.

    """

    liquidations: int
    trades: int
    block_trades: int
    rows_buffered: int
    rows_flushed: int
    rows_dropped: int
    flushes: int
    flush_failures: int
    raw_lines: int
    last_liquidation_ns: int | None


@dataclass
class _Batch:
    liquidations: list[tuple[LiquidationRecord, int]] = field(default_factory=list)
    trades: list[tuple[TradePrint, int]] = field(default_factory=list)  # (record, message no)

    def __len__(self) -> int:
        return len(self.liquidations) + len(self.trades)


# -- catalog writes --------------------------------------------------------------------------


def _on_grid(value: float, precision: int) -> bool:
    # The tolerance of liqcascade.data_loaders.arrow_tables.to_units: a row it would refuse is
    # refused here, alone, instead of failing a whole flush.
    scaled = value * 10.0**precision
    return abs(scaled - round(scaled)) <= max(1e-6, abs(scaled) * 1e-12)


def write_records(
    catalog: Path,
    specs: dict[str, InstrumentSpec],
    liquidations: Sequence[tuple[LiquidationRecord, int]],
    trades: Sequence[tuple[TradePrint, int]],
    add_instruments: Iterable[str] = (),
) -> WriteSummary:
    """
    Write parsed records into the catalog through :class:`CatalogWriter` (all-or-nothing).

    Parameters
    ----------
    catalog : Path
        Catalog root.
    specs : dict[str, InstrumentSpec]
        Instrument specs by symbol (every record's symbol must have one).
    liquidations, trades : Sequence[tuple[record, int]]
        Records with the number of the message they came from (named in validation errors).
    add_instruments : Iterable[str]
        Symbols whose instrument definitions to write too.

    Raises
    ------
    MalformedInputError
        A record the frame validation refuses; nothing is written.

    """
    with CatalogWriter(catalog) as writer:
        for symbol in add_instruments:
            writer.add_instrument(to_instrument(specs[symbol]))
        if liquidations:
            rows = [(*record, line) for record, line in liquidations]
            frame = pd.DataFrame(rows, columns=list(LIQUIDATION_COLUMNS))
            frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
            for symbol, part in frame.groupby("symbol", sort=True):
                source = Path(f"<{LIQUIDATION_TOPIC}{symbol} stream>")
                validate_liquidations(source, part, str(symbol))
                writer.add_liquidations(part, specs[str(symbol)])
        if trades:
            rows = [(*record, line) for record, line in trades]
            frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
            frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
            for symbol, part in frame.groupby("symbol", sort=True):
                source = Path(f"<{TRADE_TOPIC}{symbol} stream>")
                validate_trades(source, part, str(symbol))
                writer.add_trades(part, specs[str(symbol)], source)
    return writer.summary


# -- raw JSON lines --------------------------------------------------------------------------


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


def _raw_line(recv_ts_ns: int, text: str | None, message: dict[str, Any] | None) -> bytes:
    """A ``{"recv_ts_ns", "msg"}`` line, reusing the received text when it is one line."""
    if text is not None and "\n" not in text and "\r" not in text:
        return f'{{"recv_ts_ns":{recv_ts_ns},"msg":{text}}}'.encode()
    return _encoder.encode({"recv_ts_ns": recv_ts_ns, "msg": message})


# -- the recorder ------------------------------------------------------------------------------


class BybitRecorder:
    """
    Record liquidations and trades of ``config.symbols`` into ``config.catalog``.

    Run :meth:`run` on an event loop; :meth:`request_stop` (thread-safe) ends it after a final
    flush.

    Parameters
    ----------
    config : RecorderConfig
        What to record and the connection rules.
    clock_ns : Callable[[], int]
        Receipt clock (UNIX ns).

    Raises
    ------
    ValueError
        A symbol without an instrument spec.

    """

    def __init__(self, config: RecorderConfig, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self._clock_ns = clock_ns
        specs = load_specs(config.specs_path)
        missing = [s for s in config.symbols if s not in specs]
        if missing:
            raise ValueError(
                f"no instrument spec for {', '.join(missing)} in {config.specs_path} "
                "(run `liqcascade instruments refresh`)"
            )
        self._specs = {s: specs[s] for s in config.symbols}
        self._buffer = _Batch()
        self._raw = RawLineWriter(config.raw_dir) if config.raw_dir is not None else None
        self._instruments_written = False
        self._flush_lock: asyncio.Lock | None = None
        self._stop_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream = BybitPublicStream(
            # Fixed topics, sent as Bybit's plain {"op","args"}: a refusal is counted and logged.
            StreamSettings.of(config, request_ids=False),
            on_push=self._on_push,
            clock_ns=self._receipt_ns,
            log=StdLog(log),
            on_other=self._on_other,
            name="recorder",
        )
        self._status_mark = (time.monotonic(), 0)  # (when, messages) of the last status line
        self._n: dict[str, int] = dict.fromkeys(
            (
                "liquidations",
                "trades",
                "block_trades",
                "rows_flushed",
                "rows_dropped",
                "flushes",
                "flush_failures",
            ),
            0,
        )
        self._last_liquidation_ns: int | None = None

    # -- public --------------------------------------------------------------------------------

    def stats(self) -> RecorderStats:
        """Return a snapshot of the counters."""
        return RecorderStats(
            **dataclasses.asdict(self._stream.stats()),
            rows_buffered=len(self._buffer),
            raw_lines=self._raw.lines_written if self._raw is not None else 0,
            last_liquidation_ns=self._last_liquidation_ns,
            **self._n,
        )

    def status_line(self) -> str:
        """One human-readable status line (also resets the messages/s measuring window)."""
        s = self.stats()
        now_mono = time.monotonic()
        since, messages = self._status_mark
        rate = (s.messages - messages) / max(now_mono - since, 1e-9)
        self._status_mark = (now_mono, s.messages)
        if s.last_liquidation_ns is None:
            age = "never"
        else:
            age = f"{(self._clock_ns() - s.last_liquidation_ns) / 1e9:.1f}s"
        return (
            f"recorder {'connected' if s.connected else 'DISCONNECTED'}"
            f" reconnects={s.reconnects} msgs/s={rate:.1f} liquidations={s.liquidations}"
            f" trades={s.trades} last_liquidation_age={age} rows_buffered={s.rows_buffered}"
            f" rows_flushed={s.rows_flushed} flushes={s.flushes}"
            f" flush_failures={s.flush_failures} malformed={s.malformed} unknown={s.unknown}"
            f" raw_lines={s.raw_lines}"
        )

    def request_stop(self) -> None:
        """Ask :meth:`run` to flush and return (callable from any thread or a signal handler)."""
        loop, event = self._loop, self._stop_event
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(event.set)

    async def run(self, stop_after_s: float | None = None) -> RecorderStats:
        """
        Record until :meth:`request_stop` (or ``stop_after_s``), then flush and return.

        Parameters
        ----------
        stop_after_s : float, optional
            Stop on its own after this many seconds.

        Returns
        -------
        RecorderStats
            The final counters.

        """
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._status_mark = (time.monotonic(), self._stream.messages)
        config = self.config
        log.info(
            f"recording {', '.join(config.symbols)} from {config.url} into {config.catalog}"
            + (f" (raw lines in {config.raw_dir})" if config.raw_dir else "")
        )
        await self._stream.subscribe(config.topics)  # sent once a connection opens
        self._stream.start()
        # These end by themselves once stopped: a flush in progress is never cancelled, so its
        # worker thread cannot race the final flush on the same catalog files.
        chores = [
            self._loop.create_task(self._every(config.flush_interval_s, self.flush)),
            self._loop.create_task(self._every(config.status_interval_s, self._log_status)),
        ]
        if self._raw is not None:
            chores.append(
                self._loop.create_task(self._every(config.raw_flush_interval_s, self._flush_raw))
            )
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), stop_after_s)
        finally:
            self._stop_event.set()
            await self._stream.close()
            await asyncio.gather(*chores, return_exceptions=True)
            await self.flush()
            if self._buffer:
                log.error(f"{len(self._buffer)} rows could not be written before stopping")
            if self._raw is not None:
                try:
                    self._raw.close()
                except OSError as e:
                    log.error(f"cannot write raw lines: {e}")
            log.info(self.status_line())
        return self.stats()

    async def flush(self) -> None:
        """Write the buffered rows to the catalog now (in a worker thread)."""
        assert self._flush_lock is not None
        async with self._flush_lock:
            batch, self._buffer = self._buffer, _Batch()
            if not batch:
                return
            instruments = () if self._instruments_written else tuple(self._specs)
            try:
                await asyncio.to_thread(
                    write_records,
                    self.config.catalog,
                    self._specs,
                    batch.liquidations,
                    batch.trades,
                    instruments,
                )
            except OSError as e:
                # The disk, not the data: keep every row (older first) for the next attempt.
                self._n["flush_failures"] += 1
                log.error(f"catalog write failed, {len(batch)} rows kept for the next flush: {e}")
                self._buffer = _Batch(
                    batch.liquidations + self._buffer.liquidations,
                    batch.trades + self._buffer.trades,
                )
                return
            except Exception as e:
                self._n["flush_failures"] += 1
                log.error(f"catalog write refused the batch ({e}); retrying symbol by symbol")
                await self._flush_in_parts(batch, instruments)
                return
            self._instruments_written = True
            self._n["flushes"] += 1
            self._n["rows_flushed"] += len(batch)
            log.debug(f"flushed {len(batch)} rows")

    async def _flush_in_parts(self, batch: _Batch, instruments: tuple[str, ...]) -> None:
        """One commit per (kind, symbol): a part the writer refuses is dropped, not the rest."""
        parts: list[tuple[list, list]] = []
        for symbol in self._specs:
            liq = [r for r in batch.liquidations if r[0].symbol == symbol]
            trades = [r for r in batch.trades if r[0].symbol == symbol]
            parts += [(liq, []), ([], trades)]
        for liquidations, trades in parts:
            rows = len(liquidations) + len(trades)
            if not rows:
                continue
            try:
                await asyncio.to_thread(
                    write_records,
                    self.config.catalog,
                    self._specs,
                    liquidations,
                    trades,
                    instruments,
                )
            except Exception as e:
                self._n["rows_dropped"] += rows
                log.error(f"dropped {rows} rows the catalog writer refused: {e}")
                continue
            instruments = ()
            self._instruments_written = True
            self._n["flushes"] += 1
            self._n["rows_flushed"] += rows

    # -- periodic tasks ------------------------------------------------------------------------

    async def _every(self, interval_s: float, action: Callable[[], Any]) -> None:
        assert self._stop_event is not None
        while not self._stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), interval_s)
            if self._stop_event.is_set():
                return
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a periodic chore must never end the recorder
                log.exception(f"periodic task {getattr(action, '__name__', action)} failed")

    def _log_status(self) -> None:
        log.info(self.status_line())

    def _flush_raw(self) -> None:
        assert self._raw is not None
        try:
            self._raw.flush()
        except OSError as e:
            log.error(f"cannot write raw lines: {e}")

    # -- messages ------------------------------------------------------------------------------

    def _receipt_ns(self) -> int:
        now = self._clock_ns()
        return now - now % 1000  # whole microseconds: see the module docstring

    def _on_push(self, topic: str, message: dict[str, Any], raw: str | bytes, recv_ns: int) -> None:
        text = raw if isinstance(raw, str) else None
        if topic.startswith(LIQUIDATION_TOPIC):
            self._on_liquidations(topic, message, text, recv_ns)
        else:
            self._on_trades(topic, message, text, recv_ns)

    def _on_other(
        self, kind: str, raw: str | bytes, message: dict[str, Any] | None, recv_ns: int
    ) -> None:
        """Keep a raw line of every other message; only control replies under ``msg``."""
        if kind == "control" and message is not None:
            self._write_raw_message(recv_ns, raw if isinstance(raw, str) else None, message)
        elif kind == "unknown":
            # Not under "msg": the loader must not import (or choke on) a topic we did not ask for.
            self._write_raw(recv_ns, {"recv_ts_ns": recv_ns, "unknown": message})
        else:
            self._write_raw(recv_ns, {"recv_ts_ns": recv_ns, "undecodable": _as_text(raw)})

    def _on_liquidations(
        self, topic: str, message: dict[str, Any], text: str | None, recv_ns: int
    ) -> None:
        symbol = topic[len(LIQUIDATION_TOPIC) :]
        events = message.get("data")
        if not isinstance(events, list):
            self._reject(recv_ns, message, [f"bad liquidation message: {message!r:.200}"])
            return
        good: list[Any] = []
        errors: list[str] = []
        for event in events:
            try:
                # The shared parser, one event at a time: one bad event spoils only itself.
                (record,) = parse_liquidation_message({**message, "data": [event]}, recv_ns)
                self._check(record.symbol, symbol, record.ts_event)
                if not (record.price > 0 and record.quantity > 0):
                    raise MessageError("price and size must be positive")
                if not (math.isfinite(record.price) and math.isfinite(record.quantity)):
                    raise MessageError("price and size must be finite")
            except _PARSE_ERRORS as e:
                errors.append(f"{e}: {event!r:.200}")
                continue
            good.append(event)
            self._buffer.liquidations.append((record, self._stream.messages))
        self._n["liquidations"] += len(good)
        if good:
            self._last_liquidation_ns = recv_ns
        self._write_accepted(recv_ns, text, message, good, events, errors)

    def _on_trades(
        self, topic: str, message: dict[str, Any], text: str | None, recv_ns: int
    ) -> None:
        symbol = topic[len(TRADE_TOPIC) :]
        events = message.get("data")
        if not isinstance(events, list):
            self._reject(recv_ns, message, [f"bad trade message: {message!r:.200}"])
            return
        spec = self._specs[symbol]
        good: list[Any] = []
        errors: list[str] = []
        for event in events:
            try:
                record = parse_trade_event(event, recv_ns)
                self._check(record.symbol, symbol, record.ts_event)
                if not (math.isfinite(record.price) and math.isfinite(record.size)):
                    raise MessageError("price and size must be finite")
                if len(record.trade_id) > 36:  # the framework's TradeId limit
                    raise MessageError(f"trade id longer than 36 characters: {record.trade_id!r}")
                if not _on_grid(record.price, spec.price_precision):
                    raise MessageError(f"price off the {spec.tick_size} tick")
                if not _on_grid(record.size, spec.size_precision):
                    raise MessageError(f"size off the {spec.qty_step} lot step")
            except _PARSE_ERRORS as e:
                errors.append(f"{e}: {event!r:.200}")
                continue
            good.append(event)
            if self.config.skip_block_trades and not is_book_trade(event):
                self._n["block_trades"] += 1
                continue
            self._n["trades"] += 1
            self._buffer.trades.append((record, self._stream.messages))
        self._write_accepted(recv_ns, text, message, good, events, errors)

    def _check(self, event_symbol: str, topic_symbol: str, ts_event: int) -> None:
        if event_symbol != topic_symbol:
            raise MessageError(f"event for {event_symbol} in the {topic_symbol} topic")
        if not MIN_TS_NS <= ts_event <= self._clock_ns() + MAX_FUTURE_NS:
            raise MessageError(f"event time {ts_event} out of range")

    # -- raw lines and skips ---------------------------------------------------------------------

    def _write_accepted(
        self,
        recv_ns: int,
        text: str | None,
        message: dict[str, Any],
        good: list[Any],
        events: list[Any],
        errors: list[str],
    ) -> None:
        for error in errors:
            self._skip_malformed(f"bad event in {message.get('topic')}: {error}")
        if not errors:
            self._write_raw_message(recv_ns, text, message)
            return
        if good:  # the importable part, as its own message
            self._write_raw_message(recv_ns, None, {**message, "data": good})
        self._write_raw(recv_ns, {"recv_ts_ns": recv_ns, "rejected": message, "errors": errors})

    def _reject(self, recv_ns: int, message: dict[str, Any], errors: list[str]) -> None:
        for error in errors:
            self._skip_malformed(error)
        self._write_raw(recv_ns, {"recv_ts_ns": recv_ns, "rejected": message, "errors": errors})

    def _write_raw_message(self, recv_ns: int, text: str | None, message: dict[str, Any]) -> None:
        if self._raw is not None:
            self._raw.add(recv_ns, _raw_line(recv_ns, text, message))

    def _write_raw(self, recv_ns: int, line: dict[str, Any]) -> None:
        if self._raw is not None:
            self._raw.add(recv_ns, _encoder.encode(line))

    def _skip_malformed(self, reason: str) -> None:
        self._stream.skip_malformed(reason)


def _as_text(raw: str | bytes) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")


# -- entry points ------------------------------------------------------------------------------


def record(
    symbols: Sequence[str],
    catalog: str | Path,
    flush_interval_s: float = 60.0,
    raw_dir: str | Path | None = None,
    url: str = BYBIT_LINEAR_PUBLIC_URL,
    stop_after_s: float | None = None,
    **options: Any,
) -> RecorderStats:
    """
    Record Bybit liquidations and trades into a catalog until SIGINT/SIGTERM or ``stop_after_s``.

    Parameters
    ----------
    symbols : Sequence[str]
        Bybit linear symbols, e.g. ``["ETHUSDT", "SOLUSDT"]``.
    catalog : str | Path
        Catalog root.
    flush_interval_s : float
        Seconds between catalog writes.
    raw_dir : str | Path, optional
        Also append every message as a raw JSON line to per-day files here.
    url : str
        Websocket URL (Bybit's public linear stream by default).
    stop_after_s : float, optional
        Stop (after a final flush) this many seconds after the start.
    **options
        Further :class:`RecorderConfig` fields (``status_interval_s``, ``ping_interval_s``, ...).

    Returns
    -------
    RecorderStats
        The final counters.

    """
    recorder = BybitRecorder(
        RecorderConfig(
            symbols=tuple(s.strip().upper() for s in symbols if s.strip()),
            catalog=Path(catalog),
            flush_interval_s=flush_interval_s,
            raw_dir=Path(raw_dir) if raw_dir is not None else None,
            url=url,
            **options,
        )
    )
    return run_recorder(recorder, stop_after_s)


def run_recorder(recorder: BybitRecorder, stop_after_s: float | None = None) -> RecorderStats:
    """Run ``recorder`` on a new event loop; SIGINT/SIGTERM stop it (in the main thread)."""

    async def main() -> RecorderStats:
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            # A polite stop flushes the buffer; only SIGKILL loses the last interval.
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, recorder.request_stop)
        return await recorder.run(stop_after_s)

    return asyncio.run(main())


def record_command(
    symbols: str,
    catalog: str | Path,
    raw_dir: str | Path | None = None,
    flush_interval: float = 60.0,
    url: str = BYBIT_LINEAR_PUBLIC_URL,
    status_interval: float = 60.0,
    stop_after: float | None = None,
) -> None:
    """
    Body of ``liqcascade record --symbols ETHUSDT,SOLUSDT --catalog DIR [--raw-dir DIR]
    [--flush-interval 60] [--url URL]`` (plain arguments; the CLI adds the click decorators).

    Logs to stderr at INFO unless logging is configured already; stops on Ctrl-C / SIGTERM
    after a final flush.

    Raises
    ------
    click.BadParameter
        No symbols, a symbol without an instrument spec, a bad URL or interval.

    """
    import click

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    names = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not names:
        raise click.BadParameter("give symbols, e.g. ETHUSDT,SOLUSDT", param_hint="--symbols")
    try:
        recorder = BybitRecorder(
            RecorderConfig(
                symbols=tuple(names),
                catalog=Path(catalog),
                flush_interval_s=flush_interval,
                raw_dir=Path(raw_dir) if raw_dir is not None else None,
                url=url,
                status_interval_s=status_interval,
            )
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    stats = run_recorder(recorder, stop_after)
    click.echo(
        f"recorded {stats.liquidations} liquidations and {stats.trades} trades "
        f"({stats.rows_flushed} rows flushed, {stats.rows_dropped} dropped) into {catalog}",
        err=True,
    )
