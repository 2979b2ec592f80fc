"""Configuration of the Bybit public-stream data client and of the persistent paper venue.

See :mod:`liqcascade.live.factories` for the node-config snippet that registers the client from a
file.
"""

from __future__ import annotations

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.config import LiveDataClientConfig

from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS

#: Bybit's public stream for USDT/USDC linear contracts (mainnet; demo trading uses it too).
BYBIT_LINEAR_PUBLIC_URL = "wss://stream.bybit.com/v5/public/linear"


class BybitLiquidationClientConfig(LiveDataClientConfig, frozen=True):
    """
    Configuration of :class:`~liqcascade.live.liquidation_client.BybitLiquidationDataClient`.

    Parameters
    ----------
    url : str
        Websocket URL of Bybit's public linear stream (tests point it at a local server).
    ping_interval_s : float
        Seconds between application-level ``{"op":"ping"}`` messages (Bybit asks for at least
        one every 20 s; more often is allowed).
    pong_timeout_s : float
        A connection that has received nothing (no pong, no push) this long after a ping is
        treated as dead and replaced: a half-open TCP connection never reports an error. With
        the defaults a dead connection is replaced within ``ping_interval_s + pong_timeout_s``
        (8 s), well inside a cascade.
    heartbeat_topic : str | None
        An always-busy topic subscribed on the same connection (``{symbol}`` = the first
        subscribed symbol; Bybit pushes linear ``tickers`` every 100 ms). It proves that the
        connection still delivers *pushes* while the liquidation topic is quiet: pongs alone
        only prove the socket. ``None`` disables stall detection.
    stall_timeout_s : float
        No push of any subscribed topic for this long, while the heartbeat topic is
        subscribed, means the server stopped delivering: the connection is replaced (and every
        topic resubscribed) even though pongs still arrive.
    refusal_retry_initial_s, refusal_retry_max_s : float
        A subscription Bybit refuses is retried after ``refusal_retry_initial_s``, doubling up
        to ``refusal_retry_max_s``; meanwhile the topic is reported in ``refused_topics`` (status
        lines, health endpoint, alerts), not as subscribed.
    reconnect_initial_s : float
        Delay before the first reconnection attempt after a drop; doubles per failed attempt.
        Each wait is drawn at random from its upper half (jitter: clients dropped together do
        not reconnect in step).
    reconnect_max_s : float
        Cap of the reconnection delay.
    open_timeout_s : float
        Timeout of one websocket opening handshake.
    feed_delay_ns : int
        Passed to the shared parser for sources without a receipt time. Live messages always
        have one (the client's clock at receipt), so it has no effect here; kept so the same
        value can be shared with the recorded-data loaders.
    dedupe_window : int
        How many recent liquidation keys are remembered to drop events a reconnection replays.
    subscribe_batch : int
        Maximum topics per subscribe request (Bybit documents a limit of 10 for some streams).
    proxy : str, optional
        Proxy URL for the websocket, ``None`` for a direct connection.
    max_message_bytes : int
        Largest accepted websocket message.
    trades : bool
        Also serve trade ticks: a ``subscribe_trade_ticks`` for a linear instrument subscribes
        ``publicTrade.<SYMBOL>`` and publishes ``TradeTick``. Off by default: the framework's
        Bybit data client is the usual source of market data. The data engine routes trade
        subscriptions by venue, so to serve ``BYBIT`` instruments the client must also be
        registered for that venue (``routing = {venues = ["BYBIT"]}``).
    instruments_file : str, optional
        An instrument specs file (``configs/instruments.toml`` format). On connect, the
        ``CryptoPerpetual`` of each of ``symbols`` is added to the cache and published, so
        strategies (and a sandbox venue) find them without Bybit's REST API.
    symbols : list[str], optional
        Symbols (``ETHUSDT``) whose instruments are loaded from ``instruments_file``; ``None``
        loads every symbol of the file.

    """

    url: str = BYBIT_LINEAR_PUBLIC_URL
    ping_interval_s: float = 5.0
    pong_timeout_s: float = 3.0
    heartbeat_topic: str | None = "tickers.{symbol}"
    stall_timeout_s: float = 5.0
    refusal_retry_initial_s: float = 1.0
    refusal_retry_max_s: float = 60.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 10.0
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS
    dedupe_window: int = 10_000
    subscribe_batch: int = 10
    proxy: str | None = None
    max_message_bytes: int = 2**22
    trades: bool = False
    instruments_file: str | None = None
    symbols: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must be a ws:// or wss:// URL, got {self.url!r}")
        positive = (
            "ping_interval_s",
            "pong_timeout_s",
            "stall_timeout_s",
            "refusal_retry_initial_s",
            "refusal_retry_max_s",
            "reconnect_initial_s",
            "reconnect_max_s",
            "open_timeout_s",
            "dedupe_window",
            "subscribe_batch",
            "max_message_bytes",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= "
                f"reconnect_initial_s ({self.reconnect_initial_s})"
            )
        if self.feed_delay_ns < 0:
            raise ValueError(f"feed_delay_ns must be >= 0, got {self.feed_delay_ns}")


class PaperExecClientConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    """
    Configuration of :class:`~liqcascade.live.factories.PaperExecutionClient`: the framework's
    sandbox venue, plus a file that lets its state survive a restart.

    Parameters
    ----------
    fills : str
        ``"conservative"`` (default, as the backtests): a resting limit fills only when a
        print goes *through* its price, never at it (queue position unknown).
        ``"optimistic"``: a print at the price fills too. Either way a print fills at most its
        own size, once (liquidity consumption), and prints reach the simulated book without
        their aggressor side, exactly as the backtests feed them.
    state_path : str, optional
        JSON file holding the simulated venue's open positions, working orders and balances,
        rewritten (atomically) after every order, position and account event and on
        disconnect. On start the client reports them to the execution engine's reconciliation
        (as Bybit reports a real account) and puts the orders back into the simulated order
        book. ``None`` = the plain sandbox (everything is lost on restart).

    """

    fills: str = "conservative"
    state_path: str | None = None

    def __post_init__(self) -> None:
        if self.fills not in ("conservative", "optimistic"):
            raise ValueError(f"fills must be conservative or optimistic, got {self.fills!r}")
