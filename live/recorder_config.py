"""What a recording is told (:class:`RecorderConfig`) and what it reports
(:class:`RecorderStats`).

The one concern of this module is the recorder's settings and counters; the recorder itself is
:mod:`liqcascade.live.recorder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from liqcascade.data_loaders.instruments import DEFAULT_SPECS_PATH
from liqcascade.live.bybit_stream import ConnectionStats
from liqcascade.live.config import BYBIT_LINEAR_PUBLIC_URL
from liqcascade.live.recording_catalog import LIQUIDATION_TOPIC
from liqcascade.live.recording_catalog import TRADE_TOPIC


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
