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
:class:`~liqcascade.live.bybit_stream.BybitPublicStream`, the live data client's connection, with
the same mechanisms (nothing of it is re-implemented here):

* ``{"op":"ping"}`` every 20 s; a connection silent for ``pong_timeout_s`` after a ping is
  replaced.
* Stalls: the always-busy ``heartbeat_topic`` (``tickers.<first symbol>``, pushed every 100 ms)
  rides on the same connection; no push of any topic for ``stall_timeout_s`` (5 s) replaces the
  connection although pongs still arrive (counted in ``stalls``). Without it a connection that
  answers pings but stopped pushing would record nothing, silently, for days. Heartbeat pushes
  are never recorded: neither catalog rows nor raw lines.
* Subscribe requests are Bybit's ``{"req_id": "1", "op": "subscribe", "args": [...]}``: the
  ``req_id`` ties a refusal to its topics, which are retried alone with doubling backoff
  (``refusal_retry_initial_s`` to ``refusal_retry_max_s``), listed in ``refused_topics`` and the
  status line meanwhile, and never reported as ``subscribed``.
* Reconnection with exponential backoff (0.5 s doubling to 30 s, jittered, reset once a
  connection opens), every topic resubscribed after a reconnection.
* Malformed messages are logged (throttled), counted and skipped; nothing a peer sends stops the
  recorder.

``orderbook.1`` best bid/ask is not recorded: the catalog writer has no quote-tick table yet.

This module is the recorder's lifecycle (run, periodic flushes and status lines, stop) and its
entry points; the parts live apart: settings and counters in
:mod:`~liqcascade.live.recorder_config`, event checks in :mod:`~liqcascade.live.recording_checks`,
catalog writes in :mod:`~liqcascade.live.recording_catalog`, raw lines in
:mod:`~liqcascade.live.raw_lines`, the connection in :mod:`~liqcascade.live.bybit_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.bybit import is_book_trade
from liqcascade.data_loaders.bybit import parse_trade_message
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.live.bybit_stream import BybitPublicStream
from liqcascade.live.config import BYBIT_LINEAR_PUBLIC_URL
from liqcascade.live.raw_lines import RawLineWriter
from liqcascade.live.raw_lines import encode_line
from liqcascade.live.raw_lines import message_line
from liqcascade.live.recorder_config import RecorderConfig
from liqcascade.live.recorder_config import RecorderStats
from liqcascade.live.recording_catalog import LIQUIDATION_TOPIC
from liqcascade.live.recording_catalog import CatalogFlusher
from liqcascade.live.recording_catalog import write_records
from liqcascade.live.recording_checks import CHECK_ERRORS
from liqcascade.live.recording_checks import check_liquidation
from liqcascade.live.recording_checks import check_trade
from liqcascade.live.stream_settings import StdLog
from liqcascade.live.stream_settings import StreamSettings

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
        self._catalog = CatalogFlusher(config.catalog, self._specs)
        self._raw = RawLineWriter(config.raw_dir) if config.raw_dir is not None else None
        self._stop_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream = BybitPublicStream(
            # As the live data client: requests carry a req_id (a refused topic is retried and
            # never reported as subscribed); the heartbeat topic replaces a stalled connection.
            StreamSettings.of(config),
            on_push=self._on_push,
            clock_ns=self._receipt_ns,
            log=StdLog(log),
            on_other=self._on_other,
            name="recorder",
        )
        self._status_mark = (time.monotonic(), 0)  # (when, messages) of the last status line
        self._n = dict.fromkeys(("liquidations", "trades", "block_trades"), 0)
        self._last_liquidation_ns: int | None = None

    # -- public --------------------------------------------------------------------------------

    def stats(self) -> RecorderStats:
        """Return a snapshot of the counters."""
        catalog = self._catalog
        return RecorderStats(
            **dataclasses.asdict(self._stream.stats()),
            **self._n,
            rows_buffered=len(catalog),
            rows_flushed=catalog.rows_flushed,
            rows_dropped=catalog.rows_dropped,
            flushes=catalog.flushes,
            flush_failures=catalog.flush_failures,
            raw_lines=self._raw.lines_written if self._raw is not None else 0,
            last_liquidation_ns=self._last_liquidation_ns,
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
            f" raw_lines={s.raw_lines} stalls={s.stalls}"
            + (f" REFUSED={','.join(s.refused_topics)}" if s.refused_topics else "")
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
            if self._catalog:
                log.error(f"{len(self._catalog)} rows could not be written before stopping")
            if self._raw is not None:
                try:
                    self._raw.close()
                except OSError as e:
                    log.error(f"cannot write raw lines: {e}")
            log.info(self.status_line())
        return self.stats()

    async def flush(self) -> None:
        """Write the buffered rows to the catalog now (in a worker thread)."""
        await self._catalog.flush()

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
        """Buffer the good events of a push; keep its raw line(s)."""
        is_liquidation = topic.startswith(LIQUIDATION_TOPIC)
        events = message.get("data")
        if not isinstance(events, list):
            what = "liquidation" if is_liquidation else "trade"
            self._reject(recv_ns, message, [f"bad {what} message: {message!r:.200}"])
            return
        symbol = topic.split(".", 1)[1]
        now_ns = self._clock_ns()
        good: list[Any] = []
        errors: list[str] = []
        for event in events:
            try:
                record = (
                    check_liquidation(message, event, symbol, recv_ns, now_ns)
                    if is_liquidation
                    else check_trade(event, symbol, self._specs[symbol], recv_ns, now_ns)
                )
            except CHECK_ERRORS as e:
                errors.append(f"{e}: {event!r:.200}")
                continue
            good.append(event)
            self._keep(record, event, recv_ns)
        if not errors:
            self._write_raw_message(recv_ns, raw if isinstance(raw, str) else None, message)
            return
        if good:  # the importable part, as its own message
            self._write_raw_message(recv_ns, None, {**message, "data": good})
        self._reject(recv_ns, message, [f"bad event in {topic}: {e}" for e in errors], errors)

    def _keep(self, record: LiquidationRecord | TradePrint, event: Any, recv_ns: int) -> None:
        message_no = self._stream.messages  # named in validation errors
        if isinstance(record, LiquidationRecord):
            self._n["liquidations"] += 1
            self._last_liquidation_ns = recv_ns
            self._catalog.add_liquidation(record, message_no)
        elif self.config.skip_block_trades and not is_book_trade(event):
            self._n["block_trades"] += 1
        else:
            self._n["trades"] += 1
            self._catalog.add_trade(record, message_no)

    def _reject(
        self,
        recv_ns: int,
        message: dict[str, Any],
        reasons: list[str],
        errors: list[str] | None = None,
    ) -> None:
        """Count and log each reason; keep the message as a ``rejected`` raw line."""
        for reason in reasons:
            self._stream.skip_malformed(reason)
        line = {"recv_ts_ns": recv_ns, "rejected": message, "errors": errors or reasons}
        self._write_raw(recv_ns, line)

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

    def _write_raw_message(self, recv_ns: int, text: str | None, message: dict[str, Any]) -> None:
        if self._raw is not None:
            self._raw.add(recv_ns, message_line(recv_ns, text, message))

    def _write_raw(self, recv_ns: int, line: dict[str, Any]) -> None:
        if self._raw is not None:
            self._raw.add(recv_ns, encode_line(line))


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
    *,
    heartbeat_topic: str | None = None,
    stall_timeout: float | None = None,
) -> None:
    """
    Body of ``liqcascade record --symbols ETHUSDT,SOLUSDT --catalog DIR [--raw-dir DIR]
    [--flush-interval 60] [--url URL] [--heartbeat-topic TOPIC|none] [--stall-timeout S]``
    (plain arguments; the CLI adds the click decorators). ``None`` keeps
    :class:`RecorderConfig`'s default; ``heartbeat_topic="none"`` turns stall detection off.

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
    watchdog: dict[str, Any] = {}
    if heartbeat_topic is not None:
        watchdog["heartbeat_topic"] = None if heartbeat_topic.lower() == "none" else heartbeat_topic
    if stall_timeout is not None:
        watchdog["stall_timeout_s"] = stall_timeout
    try:
        recorder = BybitRecorder(
            RecorderConfig(
                symbols=tuple(names),
                catalog=Path(catalog),
                flush_interval_s=flush_interval,
                raw_dir=Path(raw_dir) if raw_dir is not None else None,
                url=url,
                status_interval_s=status_interval,
                **watchdog,
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
