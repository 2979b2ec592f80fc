"""The parameters of one symbol's cascade market-maker, checked when they are built.

One concern: :class:`CascadeMarketMakerConfig`, the frozen ``StrategyConfig`` of
:class:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker` (also importable from
``liqcascade.strategies.cascade_mm``, the path run configs and ``ImportableStrategyConfig`` use).
Every value is validated here, with a message naming the field, so a typo fails at load rather
than trading on a wrong number.
"""

from __future__ import annotations

from msgspec.structs import force_setattr
from nautilus_trader.common.config import NonNegativeFloat
from nautilus_trader.common.config import NonNegativeInt
from nautilus_trader.common.config import PositiveFloat
from nautilus_trader.common.config import PositiveInt
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.strategies.cascade_detector import DetectorParams
from liqcascade.strategies.trading_gate import parse_utc

#: Bybit's ``slTriggerBy`` for each allowed ``stop_trigger`` (native stops only).
NATIVE_TRIGGERS = {
    "LAST_PRICE": "LastPrice",
    "MARK_PRICE": "MarkPrice",
    "INDEX_PRICE": "IndexPrice",
}


class CascadeMarketMakerConfig(StrategyConfig, frozen=True):
    """
    Parameters of one symbol's cascade market-maker (fractions, not percent).

    Parameters
    ----------
    instrument_id : InstrumentId
        E.g. ``ETHUSDT-LINEAR.BYBIT`` (its string form is accepted and converted).
    warm_threshold : float
        Large-liquidation notional (USDT) until enough history exists for the rolling quantile.
    liquidation_client_id : str
        Data client publishing ``LiquidationData`` (backtest data config / live client name).
    trades_client_id : str | None
        With ``subscribe_trades``: the data client to take trades from (``None``: the venue's
        routing). Live nodes name their public-stream client, which drops block and RPI prints.
    quantile, history, min_history, refresh_s, window_s, min_events, window_mode
        Cascade detection, see :class:`~liqcascade.strategies.cascade_detector.DetectorParams`.
    entry_offset : float
        Limit distance from the reference price (0.0015 = 0.15 %).
    take_profit, stop_loss : float
        Exit distances from the entry fill price.
    entry_timeout_s : float
        Cancel an unfilled entry after this long.
    max_hold_s : float
        Close at market this long after the first entry fill.
    cooldown_s : float
        No new entry this long after a position closes.
    trade_notional : float
        Entry size in USDT (floored to the lot step).
    order_latency_ms : float
        Delay from a decision to the order reaching the venue (entries, exits and market
        closes alike). Modelled here, on the strategy's clock, rather than in the venue's latency
        model: the venue releases delayed orders at the next data point of *any* instrument,
        which would make fills depend on other symbols' data. Cancels and amendments are
        immediate. Live, leave it at 0: the network provides the latency.
    reprice_on_post_only_reject : bool
        Re-price a post-only-rejected entry once (else skip the cascade).
    stop_trigger : str
        Stop trigger price type. ``LAST_PRICE`` everywhere; ``MARK_PRICE`` and ``INDEX_PRICE``
        only with ``native_stop`` (Bybit's ``slTriggerBy``): a plain stop-market order reaches
        Bybit with ``triggerBy = LastPrice`` whatever its trigger type (nautilus_trader 1.231),
        and backtests and the paper venue have no mark or index prices, so any other value is
        refused here rather than silently ignored.
    native_stop : bool
        Live on Bybit: the entry carries the stop as Bybit's native, entire-position stop-loss
        (``stopLoss`` + ``tpslMode = "Full"``, market on trigger). The exchange creates it when
        the entry fills - also while this process is down - keeps exactly one per position and
        resizes it as partial fills arrive. The strategy then places no stop of its own.
        Off (backtests, paper, Bybit demo which refuses native TP/SL): one reduce-only
        stop-market placed by the strategy after the first fill and resized with the position.
    stop_retries : int
        A refused stop is re-sent this many times, ``close_retry_s`` apart, before the position
        is closed at market; a stop refused because its trigger is already crossed (it would
        have fired) closes at once.
    trading_hours : list[int] | None
        ``[start_hour, end_hour)`` UTC for new entries, ``None`` = all hours.
    skip_weekends : bool
        No new entries on Saturdays and Sundays (UTC).
    blackouts : list[list[str]]
        ``[[start, end], ...]`` ISO-8601 UTC windows without new entries (FOMC, CPI).
    daily_loss_limit, weekly_loss_limit : float | None
        Account-wide realised loss, as a fraction of the period's starting balance, that stops
        new entries until the next UTC day / ISO week.
    max_open_symbols : int | None
        Account-wide cap on instruments with an open position or a working entry (any
        strategy's): a cascade on a further symbol is skipped. ``None`` = no cap. The guide:
        "max 3-4 symbols simultaneously".
    max_maker_fee_bps : float | None
        Trade this symbol only if the venue's maker fee is at most this (the guide: BTC only at
        0 % maker). Backtests skip the symbol before the run and say why; ``None`` = any fee.
    subscribe_trades : bool
        Subscribe to trade ticks. Live nodes need it (the cache only holds what is subscribed,
        and the sandbox fills from it); backtests do not (the engine caches every tick).
    bar_type : BarType | None
        Bars to use as the reference price when the data has no trades or quotes.
    event_log_path : str | None
        JSON-lines event log; ``None`` disables it.
    log_liquidations : bool, default True
        Write every liquidation of the instrument to the event log (what the strategy saw).
        Sweeps turn it off: no record or report reads these lines back (reports read the
        catalog), and writing them is ~9 % of a windowed sample run.
    state_path : str | None
        Restart state file (see :mod:`liqcascade.strategies.cascade_mm` and
        :class:`~liqcascade.strategies.cascade_state.StrategyStateFile`); shared
        by the strategies of one node. ``None`` (backtests) keeps no state.
    close_retry_s : float
        With ``state_path``: delay before re-sending a rejected market close.

    """

    instrument_id: InstrumentId
    warm_threshold: PositiveFloat
    liquidation_client_id: str = "BYBIT_LIQ"
    trades_client_id: str | None = None
    quantile: PositiveFloat = 0.95
    history: PositiveInt = 1000
    min_history: PositiveInt = 200
    refresh_s: PositiveFloat = 3600.0
    window_s: PositiveFloat = 60.0
    min_events: PositiveInt = 2
    window_mode: str = "anchored"
    entry_offset: PositiveFloat = 0.0015
    take_profit: PositiveFloat = 0.0015
    stop_loss: PositiveFloat = 0.0025
    entry_timeout_s: PositiveFloat = 1800.0
    max_hold_s: PositiveFloat = 1800.0
    cooldown_s: NonNegativeFloat = 300.0
    trade_notional: PositiveFloat = 2000.0
    order_latency_ms: NonNegativeFloat = 0.0
    reprice_on_post_only_reject: bool = True
    stop_trigger: str = "LAST_PRICE"
    native_stop: bool = False
    stop_retries: NonNegativeInt = 3
    trading_hours: list[int] | None = None
    skip_weekends: bool = False
    blackouts: list[list[str]] | None = None
    daily_loss_limit: PositiveFloat | None = 0.01
    weekly_loss_limit: PositiveFloat | None = 0.02
    max_open_symbols: PositiveInt | None = 4
    max_maker_fee_bps: float | None = None
    subscribe_trades: bool = False
    bar_type: BarType | None = None
    event_log_path: str | None = None
    log_liquidations: bool = True
    state_path: str | None = None
    close_retry_s: PositiveFloat = 1.0

    def __post_init__(self) -> None:
        # Built in code with the string forms (as the framework's JSON decoding would convert
        # them): accept them here too. The annotations bound what decoding admits; the checks
        # below repeat them for direct construction, with messages that name the field.
        for name, parse in (
            ("instrument_id", InstrumentId.from_str),
            ("bar_type", BarType.from_str),
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                force_setattr(self, name, parse(value))
        positive = (
            "warm_threshold",
            "entry_offset",
            "take_profit",
            "stop_loss",
            "entry_timeout_s",
            "max_hold_s",
            "trade_notional",
            "close_retry_s",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("cooldown_s", "order_latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("entry_offset", "take_profit", "stop_loss"):
            value = getattr(self, name)
            if value > 0.05:  # 5 %: far beyond a cascade bounce; almost surely a percent typo
                raise ValueError(
                    f"{name} is a fraction (0.0015 = 0.15 %), got {value}: "
                    f"did you mean {value / 100}?"
                )
        if self.trading_hours is not None and (
            len(self.trading_hours) != 2 or not all(0 <= h <= 24 for h in self.trading_hours)
        ):
            raise ValueError(
                f"trading_hours must be [start_hour, end_hour], got {self.trading_hours}"
            )
        for window in self.blackouts or []:
            if len(window) != 2:
                raise ValueError(f"blackouts entries must be [start, end], got {window}")
            start, end = parse_utc(window[0]), parse_utc(window[1])
            if end <= start:
                raise ValueError(f"blackouts window ends before it starts: {window}")
        allowed = NATIVE_TRIGGERS if self.native_stop else ("LAST_PRICE",)
        if self.stop_trigger not in allowed:
            raise ValueError(
                f"stop_trigger: {self.stop_trigger!r} cannot take effect here (allowed: "
                f"{', '.join(allowed)}; mark/index triggers need native_stop on Bybit)"
            )
        DetectorParams(**self.detector_kwargs())  # validates the detector fields by name

    def detector_kwargs(self) -> dict[str, float | int | str]:
        """The detector's parameters."""
        return {
            "warm_threshold": self.warm_threshold,
            "quantile": self.quantile,
            "history": self.history,
            "min_history": self.min_history,
            "refresh_s": self.refresh_s,
            "window_s": self.window_s,
            "min_events": self.min_events,
            "window_mode": self.window_mode,
        }
