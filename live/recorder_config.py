"""What a recording is told (:class:`RecorderConfig`) and what it reports
(:class:`RecorderStats`).

The one concern of this module is the recorder's settings and counters; the recorder itself is
:mod:`liqcascade.live.recorder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from liqcascade.data_loaders.instruments import DEFAULT_SPECS_PATH
from liqcascade.live.config import BYBIT_LINEAR_PUBLIC_URL
from liqcascade.live.recording_catalog import LIQUIDATION_TOPIC
from liqcascade.live.recording_catalog import TRADE_TOPIC
from liqcascade.live.stream_settings import ConnectionStats


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
        The connection rules, as in :class:`~liqcascade.live.stream_settings.StreamSettings`
        (Bybit's recommended 20 s ping by default).
    heartbeat_topic : str | None
        An always-busy topic subscribed on the same connection (``{symbol}`` = the first
        symbol; Bybit pushes linear ``tickers`` every 100 ms), never recorded. Pongs only prove
        the socket; this proves that pushes still flow while liquidations are quiet. ``None``
        disables stall detection.
    stall_timeout_s : float
        No push of any topic for this long, while the heartbeat topic is acknowledged, means
        the server stopped delivering: the connection is replaced (every topic resubscribed)
        although pongs still arrive. Counted in ``stalls``.
    refusal_retry_initial_s, refusal_retry_max_s : float
        A subscription Bybit refuses (tied to its topics by the request's ``req_id``) is retried
        alone after ``refusal_retry_initial_s``, doubling up to ``refusal_retry_max_s``;
        meanwhile it is listed in ``refused_topics`` (and the status line), not in
        ``subscribed``.
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
    # The live data client's defaults (BybitLiquidationClientConfig, configs/paper.toml).
    heartbeat_topic: str | None = "tickers.{symbol}"
    stall_timeout_s: float = 5.0
    refusal_retry_initial_s: float = 1.0
    refusal_retry_max_s: float = 60.0
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
            "stall_timeout_s",
            "refusal_retry_initial_s",
            "refusal_retry_max_s",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.heartbeat_topic is not None:
            try:
                heartbeat = self.heartbeat_topic.format(symbol=self.symbols[0])
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(
                    f"heartbeat_topic {self.heartbeat_topic!r}: only {{symbol}} may be filled in"
                ) from e
            # The stream never hands heartbeat pushes on: a recorded topic would go unrecorded.
            if heartbeat.startswith((LIQUIDATION_TOPIC, TRADE_TOPIC)):
                raise ValueError(
                    f"heartbeat_topic {self.heartbeat_topic!r} is a recorded topic: its pushes "
                    "would never be recorded (use an always-busy topic such as tickers.{symbol})"
                )

    @property
    def topics(self) -> list[str]:
        """Every topic subscribed: liquidations and trades of each symbol."""
        return [f"{p}{s}" for s in self.symbols for p in (LIQUIDATION_TOPIC, TRADE_TOPIC)]


@dataclass(frozen=True, kw_only=True)
class RecorderStats(ConnectionStats):
    """
    A snapshot of the recorder's counters: the connection's
    (:class:`~liqcascade.live.stream_settings.ConnectionStats`) and these.

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
