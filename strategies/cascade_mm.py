"""System A: cascade market-making, as a NautilusTrader ``Strategy`` (one instance per symbol).

Flow (``../shared/seeds/000_*.txt``, sections 2-4 and 8):

1. Every ``LiquidationData`` goes to a
:class:`~liqcascade.strategies.cascade_detector.CascadeDetector`. 2. On a declared cascade - at the
receipt time of its second large liquidation - the gate checks
   the one-position rule, the cooldown, trading hours and loss limits.
3. A post-only limit order goes *into* the move: longs liquidated (price falling) -> BUY
   ``offset`` below the last price; shorts liquidated -> SELL above. The reference price is read
   from the cache (last trade, else quote mid, else last bar): no Python runs per trade tick.
4. Each entry fill (partial fills too) gets its own reduce-only take-profit limit and
   reduce-only stop-market, sized to that fill. When one of a pair fills, the other is cancelled
   (or reduced by a partial fill).
5. Timers, not GTD (Bybit ignores it): an unfilled entry is cancelled ``entry_timeout_s`` after
   submission; ``max_hold_s`` after the first fill the exits are cancelled and the position is
   closed at market.
6. When the position is flat: the exit reason (TP, SL or TIMEOUT: the tag of the closing order)
   is logged, any rest of the entry is cancelled, and the cooldown starts.

Post-only rejection: the entry is re-priced once from the then-current price (a fast market
can make a resting price marketable between decision and arrival); a second rejection skips the
cascade. Set ``reprice_on_post_only_reject = false`` to skip at the first rejection.

Entries, exits and brackets are separate orders on purpose: Bybit's adapter sends an order
list at once (reduce-only children are rejected before the entry fills), and emulated
brackets would release limits as market orders.

Restart safety (live and paper nodes: ``state_path`` set; backtests leave it ``None`` and
nothing below runs)
-----------------------------------------------------------------------------------------------
* Every state change (entry submitted, filled, exits placed, trade ended, cooldown started) is
  written atomically to ``state_path``: one JSON file shared by a node's strategies, one
  section per instrument (:class:`StrategyStateFile`).
* On start, after the node's reconciliation has loaded the venue's orders and positions into
  the cache (claimed by this strategy through ``external_order_claims``), the strategy adopts
  them: a working entry keeps its timeout; an open position gets reduce-only TP/SL for any
  quantity they do not cover (priced from the persisted average fill price, else the
  position's ``avg_px_open``) and its max-hold timer is re-armed from the persisted first fill
  time (closed at market at once when already past). No new entry while either exists. A trade
  the state file remembers but the venue no longer shows ended while the node was down: the
  cooldown restarts from now.
* Loss limits: the cache of a restarted node lacks earlier sessions' closed positions, so each
  close is also recorded (this ISO week only) in the state file; the limits add up the records
  of every symbol in the file plus positions closed this session that no record covers.
* A rejected market close (a simulated venue has no price before its first trade) is retried
  every ``close_retry_s`` instead of being dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from msgspec.structs import force_setattr
from nautilus_trader.common.component import TestClock
from nautilus_trader.common.config import NonNegativeFloat
from nautilus_trader.common.config import NonNegativeInt
from nautilus_trader.common.config import PositiveFloat
from nautilus_trader.common.config import PositiveInt
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import StrategyConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderAccepted
from nautilus_trader.model.events import OrderCanceled
from nautilus_trader.model.events import OrderExpired
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.events import OrderModifyRejected
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.events import OrderUpdated
from nautilus_trader.model.events import PositionClosed
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_detector import LONG
from liqcascade.strategies.cascade_detector import Cascade
from liqcascade.strategies.cascade_detector import CascadeDetector
from liqcascade.strategies.cascade_detector import DetectorParams
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL
from liqcascade.strategies.order_prices import entry_price
from liqcascade.strategies.order_prices import exit_prices
from liqcascade.strategies.order_prices import order_quantity
from liqcascade.strategies.trading_gate import LossLimits
from liqcascade.strategies.trading_gate import SessionRules
from liqcascade.strategies.trading_gate import parse_utc
from liqcascade.strategies.trading_gate import week_start

NS_PER_S = 1_000_000_000
NO_AGGRESSOR = AggressorSide.NO_AGGRESSOR
ENTRY, TAKE_PROFIT, STOP_LOSS, TIMEOUT = "ENTRY", "TP", "SL", "TIMEOUT"
FLATTEN = "FLATTEN"  # closed by the operator's kill switch
STATE_VERSION = 1
HISTORY_SAVE_NS = 60 * NS_PER_S
#: Bybit's ``slTriggerBy`` for each allowed ``stop_trigger`` (native stops only).
NATIVE_TRIGGERS = {
    "LAST_PRICE": "LastPrice",
    "MARK_PRICE": "MarkPrice",
    "INDEX_PRICE": "IndexPrice",
}
#: The reason Bybit gives when it cancels a post-only order that would take liquidity. On the
#: mainnet (trade websocket) path nautilus_trader 1.231 reports it as ``OrderRejected`` with
#: ``due_post_only=False``; the demo (REST) path sets the flag. Both mean the same here.
POST_ONLY_REJECT_REASON = "EC_PostOnlyWillTakeLiquidity"
#: Substrings of a stop's rejection that mean its trigger is already crossed: the stop would
#: have fired, so the position is closed at once (Bybit 110092/110093, "expect Rising/Falling";
#: the framework's simulated venue - backtests and the paper sandbox - says "was in the market").
CROSSED_STOP_REJECTIONS = ("110092", "110093", "expect rising", "expect falling", "in the market")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """
    Write ``data`` as JSON so that a reader (or a crash) sees the old file or the new one,
    never a torn one: a temporary file in the same folder, flushed to disk, then renamed.
    The temporary name is unique per call, so writes that interleave (events published while a
    save is under way) never rename each other's file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: str | Path) -> dict[str, Any] | None:
    """
    Read a JSON object written by :func:`write_json_atomic`; ``None`` if the file is missing.

    Raises
    ------
    ValueError
        If the file is not a JSON object (a restart must not silently forget a position).

    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); fix or remove it") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


class StrategyStateFile:
    """
    Restart state of the :class:`CascadeMarketMaker` instances of one node, in one JSON file.

    Format (``version`` 1)::

        {"version": 1,
         "symbols": {
           "ETHUSDT-LINEAR.BYBIT": {
             "strategy_id": "CascadeMarketMaker-ETHUSDT", "updated_ns": 1741010406000000001,
             "cooldown_until_ns": 0,
             "trade": null | {"entry_id": "O-...", "side": "BUY", "declared_ns": ...,
                              "entry_submitted_ns": ..., "first_fill_ns": ... | null,
                              "fill_qty": "1.00", "fill_value": "1997.0000",
                              "exits": {"O-...": "TP", "O-...": "SL"},
                              "siblings": {"O-...": "O-..."}},
             "closed": [["<position id>", <ts_closed_ns>, <realised pnl>], ...]}}}

    Each strategy rewrites only its own section (read, replace, atomic write): safe for the
    strategies of one node, which share its event loop; two nodes must not share a file.

    Parameters
    ----------
    path : str | Path
        The JSON file (created on the first write).
    key : str
        This strategy's section: its instrument id, stable across restarts.

    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key

    def _read(self) -> dict[str, Any]:
        data = read_json(self.path) or {"version": STATE_VERSION, "symbols": {}}
        if data.get("version") != STATE_VERSION or not isinstance(data.get("symbols"), dict):
            raise ValueError(f"{self.path}: not a version {STATE_VERSION} strategy state file")
        return data

    def load(self) -> dict[str, Any]:
        """This strategy's section (empty if none)."""
        return dict(self._read()["symbols"].get(self.key) or {})

    def save(self, section: dict[str, Any]) -> None:
        """Replace this strategy's section."""
        data = self._read()
        data["symbols"][self.key] = section
        write_json_atomic(self.path, data)

    def closed_records(self) -> list[tuple[str, int, float]]:
        """``(position id, ts_closed, realised pnl)`` recorded by every section."""
        records = []
        for section in self._read()["symbols"].values():
            for position_id, ts_closed, pnl in section.get("closed", []):
                records.append((str(position_id), int(ts_closed), float(pnl)))
        return records


def _accepted_ns(order: Order) -> int | None:
    """When the venue accepted ``order`` (its report's time for a reconciled order)."""
    return next((e.ts_event for e in order.events if isinstance(e, OrderAccepted)), None)


class OptimisticFillsWarning(UserWarning):
    """A backtest's data lets the engine fill more than the market would have."""


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
    state_path : str | None
        Restart state file (see the module docstring and :class:`StrategyStateFile`); shared
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


class CascadeMarketMaker(Strategy):
    """
    Place post-only limit orders into liquidation cascades and exit on TP, SL or timeout.

    Parameters
    ----------
    config : CascadeMarketMakerConfig
        The configuration.

    """

    def __init__(self, config: CascadeMarketMakerConfig) -> None:
        super().__init__(config)
        self.instrument_id = config.instrument_id
        self.symbol = self.instrument_id.symbol.value.removesuffix("-LINEAR")
        self.sessions = SessionRules(
            trading_hours=tuple(config.trading_hours) if config.trading_hours else None,
            skip_weekends=config.skip_weekends,
            blackouts=tuple((parse_utc(a), parse_utc(b)) for a, b in config.blackouts or []),
        )
        self.loss_limits = LossLimits(config.daily_loss_limit, config.weekly_loss_limit)
        self.events = EventLog(config.event_log_path)
        self._bar_type = config.bar_type
        self._trigger = TriggerType[config.stop_trigger]
        self._latency_ns = int(config.order_latency_ms * 1_000_000)
        self._state = (
            StrategyStateFile(config.state_path, config.instrument_id.value)
            if config.state_path
            else None
        )
        # Node-level rules (kill switch, account-wide exposure, maintenance windows): callables
        # ``gate(strategy, now_ns) -> reason | None`` added by the node, asked at every cascade.
        self._entry_gates: list[Callable[[CascadeMarketMaker, int], str | None]] = []
        self._clear_run_state()

    def add_entry_gate(self, gate: Callable[[CascadeMarketMaker, int], str | None]) -> None:
        """
        Add a rule that can refuse a new entry (a live node's halt file, exposure cap, ...).

        Parameters
        ----------
        gate : Callable[[CascadeMarketMaker, int], str | None]
            Called with this strategy and the time at each cascade that passed the strategy's
            own rules; a returned string is the reason the cascade is skipped.

        """
        self._entry_gates.append(gate)

    def _clear_run_state(self) -> None:
        """Everything a run learns: a new strategy and a reset one start from the same point."""
        self.detector = CascadeDetector(DetectorParams(**self.config.detector_kwargs()))
        self.instrument: Instrument | None = None
        self._reset_trade()
        self._cooldown_until_ns = 0
        # timer name -> (order, params) waiting out the latency
        self._pending: dict[str, tuple[Order, dict[str, str] | None]] = {}
        # Positions closed on the account this session, any strategy's, for the loss limits:
        # "position_id:ts_closed" -> (position_id, ts_closed, realised pnl). Kept from the
        # current week only, so checking the limits does not grow with the run's length.
        self._account_closed: dict[str, tuple[str, int, float]] = {}
        self._session_start_ns = 0  # set by _restore: until then nothing may be saved
        self._saved_ns = 0  # last state write
        self._closed: list[tuple[str, int, float]] = []  # this symbol's closes, this ISO week
        self._checked_trade_data = False  # see _check_backtest_trades

    # -- state -----------------------------------------------------------------------------------

    def _reset_trade(self) -> None:
        self._entry_id: ClientOrderId | None = None
        self._cascade: Cascade | None = None
        self._declared_ns: int | None = None  # the cascade's, also known after a restart
        self._entry_side: str | None = None
        self._repriced = False
        self._entry_submitted_ns: int | None = None
        self._first_fill_ns: int | None = None
        self._fill_qty = Decimal(0)  # entry fills so far: their average prices restored exits
        self._fill_value = Decimal(0)
        self._exit_ids: set[ClientOrderId] = set()
        self._roles: dict[ClientOrderId, str] = {}  # exit -> TP/SL/TIMEOUT (tags are not
        # reported back by a venue: orders adopted after a restart have none)
        # The position's one take-profit and one stop (each resized to the open quantity).
        self._tp_id: ClientOrderId | None = None
        self._sl_id: ClientOrderId | None = None
        self._stop_attempts = 0  # stops refused for a transient reason, this trade
        self._stop_given_up = False  # a stop refused for good: the position was closed instead
        self._closing = False  # closed at market (timeout, refused stop, flatten): no new exits

    @property
    def _timer_entry(self) -> str:
        return f"{self.id}-entry-timeout"

    @property
    def _timer_hold(self) -> str:
        return f"{self.id}-max-hold"

    @property
    def _timer_close_retry(self) -> str:
        return f"{self.id}-close-retry"

    def _role(self, order: Order | None) -> str:
        """An order's part in the trade: its tag, else what was recorded, else its shape."""
        if order is None:
            return "?"
        if order.tags:
            return order.tags[0]
        role = self._roles.get(order.client_order_id)
        if role is not None:
            return role
        if not order.is_reduce_only:
            return ENTRY
        shapes = {OrderType.LIMIT: TAKE_PROFIT, OrderType.STOP_MARKET: STOP_LOSS}
        return shapes.get(order.order_type, TIMEOUT)

    # -- persistence -----------------------------------------------------------------------------

    def _save_state(self) -> None:
        """Write this symbol's state (no-op without ``state_path``)."""
        if self._state is None or not self._session_start_ns:
            return  # not restored yet (e.g. stopped for a missing instrument): keep the file
        trade = None
        if self._entry_id is not None or self._first_fill_ns is not None or self._exit_ids:
            trade = {
                "entry_id": self._entry_id.value if self._entry_id else None,
                "side": self._entry_side,
                "declared_ns": self._declared_ns,
                "entry_submitted_ns": self._entry_submitted_ns,
                "first_fill_ns": self._first_fill_ns,
                "fill_qty": str(self._fill_qty),
                "fill_value": str(self._fill_value),
                "exits": {
                    i.value: self._roles.get(i) or self._role(self._order(i))
                    for i in sorted(self._exit_ids, key=lambda i: i.value)
                },
                "take_profit_id": self._tp_id.value if self._tp_id else None,
                "stop_id": self._sl_id.value if self._sl_id else None,
            }
        now = self.clock.timestamp_ns()
        self._saved_ns = now
        this_week = week_start(now)
        self._closed = [r for r in self._closed if r[1] >= this_week]
        self._state.save(
            {
                "strategy_id": self.id.value,
                "updated_ns": now,
                "cooldown_until_ns": self._cooldown_until_ns,
                "trade": trade,
                "closed": [list(r) for r in self._closed],
                # The rolling threshold's history: without it a restart falls back to the
                # warm-start threshold for the next min_history liquidations (hours).
                "detector": self.detector.history(),
            }
        )

    def _load_trade(self, trade: dict[str, Any]) -> None:
        """Put a persisted trade back into the attributes (the venue decides what survives)."""
        self._entry_id = ClientOrderId(trade["entry_id"]) if trade.get("entry_id") else None
        self._entry_side = trade.get("side")
        self._declared_ns = trade.get("declared_ns")
        self._entry_submitted_ns = trade.get("entry_submitted_ns")
        self._first_fill_ns = trade.get("first_fill_ns")
        self._fill_qty = Decimal(trade.get("fill_qty") or 0)
        self._fill_value = Decimal(trade.get("fill_value") or 0)
        self._roles = {ClientOrderId(i): r for i, r in (trade.get("exits") or {}).items()}
        self._exit_ids = set(self._roles)
        tp_id, sl_id = trade.get("take_profit_id"), trade.get("stop_id")
        self._tp_id = ClientOrderId(tp_id) if tp_id else None
        self._sl_id = ClientOrderId(sl_id) if sl_id else None
        # An adopted entry is not re-priced: the cascade it was priced from is gone.
        self._repriced = True

    def _restore(self) -> None:
        """Adopt what the venue still holds for this instrument; see the module docstring."""
        assert self._state is not None
        now = self.clock.timestamp_ns()
        self._session_start_ns = now
        saved = self._state.load()
        self._cooldown_until_ns = int(saved.get("cooldown_until_ns") or 0)
        self._closed = [(str(p), int(t), float(v)) for p, t, v in saved.get("closed", [])]
        if saved.get("detector"):
            self.detector.restore(saved["detector"])
        trade = saved.get("trade")
        if trade:
            self._load_trade(trade)
        positions = self.cache.positions_open(instrument_id=self.instrument_id)
        mine = [p for p in positions if p.strategy_id == self.id]
        for other in positions:
            if other.strategy_id != self.id:
                # It still blocks new entries (the portfolio is not flat), but is not managed.
                self.log.warning(f"Open position {other.id} belongs to {other.strategy_id}")
        orders = self.cache.orders_open(instrument_id=self.instrument_id, strategy_id=self.id)
        entries = [o for o in orders if not o.is_reduce_only]
        exits = [o for o in orders if o.is_reduce_only]
        if not mine and not entries:
            self._on_trade_gone(trade, exits, now)
            return
        if entries:
            self._adopt_entry(entries, now)
        if mine:
            self._adopt_position(mine[0], exits, now)
        self.events.write(
            now,
            "restored",
            self.symbol,
            entry_id=self._entry_id.value if self._entry_id else None,
            position_id=mine[0].id.value if mine else None,
            quantity=float(mine[0].quantity) if mine else 0.0,
            exits=sorted(i.value for i in self._exit_ids),
            first_fill_ns=self._first_fill_ns,
            cooldown_until_ns=self._cooldown_until_ns,
        )
        self._save_state()

    def _on_trade_gone(self, trade: dict[str, Any] | None, exits: list[Order], now: int) -> None:
        """Nothing of ours is working at the venue: whatever the state file says has ended."""
        for order in exits:  # reduce-only leftovers without a position can never act
            self._cancel(order)
        entry = self._order(self._entry_id)
        filled = self._first_fill_ns is not None or (entry is not None and entry.filled_qty > 0)
        if trade and filled:
            # Closed by its TP/SL at the venue while the node was down (when exactly is unknown:
            # the cooldown counts from now).
            self._cooldown_until_ns = max(
                self._cooldown_until_ns, now + int(self.config.cooldown_s * NS_PER_S)
            )
            self.events.write(now, "trade_ended_offline", self.symbol, **trade)
        elif trade:
            self.events.write(now, "entry_ended_offline", self.symbol, **trade)
        self._reset_trade()
        self._save_state()

    def _adopt_entry(self, entries: list[Order], now: int) -> None:
        entry = next((o for o in entries if o.client_order_id == self._entry_id), entries[0])
        for other in entries:
            if other is not entry:  # one entry per symbol: any other is a stray
                self.log.warning(f"Cancelling extra working order {other.client_order_id}")
                self._cancel(other)
        if entry.client_order_id != self._entry_id:
            self._entry_submitted_ns = None  # not the one the state file knows
        self._entry_id = entry.client_order_id
        self._entry_side = BUY if entry.side == OrderSide.BUY else SELL
        self._repriced = True
        # Its age: when we sent it, else when the venue accepted it (never "now": an entry
        # older than its timeout must not get a fresh one at every restart).
        submitted = self._entry_submitted_ns or _accepted_ns(entry) or now
        self._entry_submitted_ns = submitted
        deadline = submitted + int(self.config.entry_timeout_s * NS_PER_S)
        if deadline <= now:
            order_id = entry.client_order_id.value
            self.events.write(now, "entry_expired_offline", self.symbol, order_id=order_id)
            self._cancel(entry)
        else:
            self.clock.set_time_alert_ns(self._timer_entry, deadline, self._on_entry_timeout)

    def _first_fill_at_venue(self, position: Position) -> int:
        """The exchange's time of the position's first fill, as far as anything here knows it.

        Candidates: the persisted first fill (an exchange timestamp), the entry's fills as the
        reconciliation rebuilt them from Bybit's execution list (exchange ``execTime``), and the
        position's opening. The earliest wins: a position reconciled from a bare position report
        opens at the reconciliation (its inferred fill), which must not restart the clock.
        """
        candidates = [position.ts_opened]
        if self._first_fill_ns:
            candidates.append(self._first_fill_ns)
        entry = self._order(self._entry_id)
        fills = [e.ts_event for e in entry.events if isinstance(e, OrderFilled)] if entry else []
        candidates.extend(fills)
        candidates.extend(e.ts_event for e in position.events)
        return min(candidates)

    def _adopt_position(self, position: Position, exits: list[Order], now: int) -> None:
        self._entry_side = BUY if position.is_long else SELL
        self._first_fill_ns = self._first_fill_at_venue(position)
        for order in exits:
            self._roles.setdefault(order.client_order_id, self._role(order))
            self._exit_ids.add(order.client_order_id)
        deadline = self._first_fill_ns + int(self.config.max_hold_s * NS_PER_S)
        if deadline <= now:
            self._close_at_market(TIMEOUT)
            return
        self._adopt_exits(position, exits)
        self.clock.set_time_alert_ns(self._timer_hold, deadline, self._on_max_hold)

    def _adopt_exits(self, position: Position, exits: list[Order]) -> None:
        """Keep one take-profit and one stop of those working (cancel extras: an older session
        may have left one pair per partial fill), then resize or place them for the position."""
        for role in (TAKE_PROFIT, STOP_LOSS):
            mine = [o for o in exits if self._role(o) == role]
            current = self._tp_id if role == TAKE_PROFIT else self._sl_id
            first = mine[0] if mine else None
            keep = next((o for o in mine if o.client_order_id == current), first)
            for extra in mine:
                if extra is not keep:
                    self.log.warning(f"Cancelling extra {role} {extra.client_order_id}")
                    self._cancel(extra)
            kept = keep.client_order_id if keep is not None else None
            if role == TAKE_PROFIT:
                self._tp_id = kept
            else:
                self._sl_id = kept
        missing_tp = self._tp_id is None
        missing_sl = self._sl_id is None and not self.config.native_stop
        if missing_tp or missing_sl:
            fill_px = (
                self._fill_value / self._fill_qty
                if self._fill_qty > 0
                else Decimal(str(position.avg_px_open))
            )
            tp_price, sl_price = self._exit_prices(fill_px)
            quantity = float(position.quantity)
            self.events.write(
                self.clock.timestamp_ns(),
                "exits_restored",
                self.symbol,
                reference=float(fill_px),
                take_profit=float(tp_price) if missing_tp else None,
                take_profit_qty=quantity if missing_tp else 0.0,
                stop=float(sl_price) if missing_sl else None,
                stop_qty=quantity if missing_sl else 0.0,
            )
        self._sync_exits()

    def _on_account_position_event(self, event: object) -> None:
        """Note every position closed on the account (all strategies: the limits are global)."""
        if not isinstance(event, PositionClosed) or event.realized_pnl is None:
            return
        position_id, ts = event.position_id.value, event.ts_closed
        self._account_closed[f"{position_id}:{ts}"] = (position_id, ts, float(event.realized_pnl))
        week = week_start(ts)
        if any(closed < week for _, closed, _ in self._account_closed.values()):
            self._account_closed = {k: v for k, v in self._account_closed.items() if v[1] >= week}

    def _closed_pnls(self) -> Iterable[tuple[int, float]]:
        """``(ts_closed, realised pnl)`` of the account's closed positions, for loss limits."""
        closed = self._account_closed.values()
        if self._state is None:  # a backtest sees every close of the run
            return [(ts, pnl) for _, ts, pnl in closed]
        recorded = self._state.closed_records()
        known = {(position_id, ts) for position_id, ts, _ in recorded}
        extra = [  # closed this session and recorded by nobody (e.g. another strategy's)
            (ts, pnl)
            for position_id, ts, pnl in closed
            if ts >= self._session_start_ns and (position_id, ts) not in known
        ]
        return [(ts, pnl) for _, ts, pnl in recorded] + extra

    # -- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Look up the instrument and subscribe to liquidations (and trades if configured)."""
        self.instrument = self.cache.instrument(self.instrument_id)
        if self.instrument is None:
            self.log.error(f"Instrument {self.instrument_id} not in cache: stopping")
            self.stop()
            return
        self.subscribe_data(
            DataType(LiquidationData),
            client_id=ClientId(self.config.liquidation_client_id),
            instrument_id=self.instrument_id,
        )
        # Every strategy's position events (the loss limits are account-wide), as they happen:
        # scanning the cache's closed positions at each cascade would grow with the run.
        self.msgbus.subscribe(topic="events.position.*", handler=self._on_account_position_event)
        if self.config.subscribe_trades:
            trades_client = self.config.trades_client_id
            self.subscribe_trade_ticks(
                self.instrument_id, client_id=ClientId(trades_client) if trades_client else None
            )
        elif self._bar_type is None and not isinstance(self.clock, TestClock):
            # Live, the cache holds only subscribed data: unless another component subscribes
            # trades or quotes, every cascade would be skipped for want of a reference price.
            self.log.warning(
                "subscribe_trades is false and no bar_type is set: without another subscriber "
                "to this instrument's trades or quotes there is no reference price, and every "
                "cascade is skipped ('no reference price yet')"
            )
        if self._bar_type is not None:
            self.subscribe_bars(self._bar_type)
        if self._state is not None:
            self._restore()

    def on_stop(self) -> None:
        """
        Cancel a working entry; an open position keeps its reduce-only exits at the venue.

        Timers end with the node: the max-hold deadline is re-armed from the state file by the
        next start (``state_path``), not kept anywhere else.
        """
        entry = self._order(self._entry_id)
        self._cancel(entry)
        for cascade in self.detector.cascades:
            self._log_cascade("cascade_stats", cascade)
        self._save_state()
        self.events.close()

    def flatten(self) -> None:
        """Kill switch: cancel the entry and every exit, close any position at market."""
        self.log.warning("Flatten: cancelling orders and closing the position")
        self._cancel_timer(self._timer_entry)
        if self._open_position() is not None:
            self._close_at_market(FLATTEN)
        else:
            for order_id in [self._entry_id, *self._exit_ids]:
                self._cancel(self._order(order_id))
        for order in self.cache.orders_open(instrument_id=self.instrument_id, strategy_id=self.id):
            if order.client_order_id not in self._exit_ids or order.order_type != OrderType.MARKET:
                self._cancel(order)  # strays too (adopted or unknown to this session)

    def on_reset(self) -> None:
        """Forget the run (detector history, trade, cooldown, loss-limit records).

        ``engine.reset()`` then a second run gives the same result as the first. The event log
        is appended to; a restart-state file is untouched (it is re-read by the next start).
        """
        topic = "events.position.*"
        if self.msgbus.is_subscribed(topic, self._on_account_position_event):
            self.msgbus.unsubscribe(topic=topic, handler=self._on_account_position_event)
        self._clear_run_state()

    # -- signals ---------------------------------------------------------------------------------

    def on_data(self, data: Data) -> None:
        """Feed liquidations of this instrument to the detector; act on a declared cascade."""
        if not isinstance(data, LiquidationData) or data.instrument_id != self.instrument_id:
            return
        self.events.write(
            data.ts_init,
            "liquidation",
            self.symbol,
            side=data.side,
            price=data.price,
            quantity=data.quantity,
            notional=data.notional,
            ts_event=data.ts_event,
        )
        cascade = self.detector.on_liquidation(data.ts_init, data.side, data.notional)
        if cascade is not None:
            self._on_cascade(cascade)
        elif self._state is not None and data.ts_init - self._saved_ns > HISTORY_SAVE_NS:
            self._save_state()  # the detector's history, at most once a minute while quiet

    def _log_cascade(self, event: str, cascade: Cascade) -> None:
        self.events.write(
            cascade.declared_ns,
            event,
            self.symbol,
            start_ns=cascade.start_ns,
            declared_ns=cascade.declared_ns,
            end_ns=cascade.end_ns,
            large_events=cascade.large_events,
            events=cascade.events,
            long_notional=cascade.long_notional,
            short_notional=cascade.short_notional,
            threshold=cascade.threshold,
            side=cascade.side,
        )

    def _skip(self, cascade: Cascade, reason: str) -> None:
        self.log.info(f"Cascade ignored: {reason}")
        self.events.write(
            self.clock.timestamp_ns(),
            "skip",
            self.symbol,
            declared_ns=cascade.declared_ns,
            reason=reason,
        )

    def _on_cascade(self, cascade: Cascade) -> None:
        self._log_cascade("cascade", cascade)
        now = self.clock.timestamp_ns()
        blocked = self._blocked(cascade, now)
        if blocked is not None:
            self._skip(cascade, blocked)
            return
        reference = self._reference_price()
        if reference is None:
            self._skip(cascade, "no reference price yet")
            return
        self._cascade = cascade
        self._declared_ns = cascade.declared_ns
        self._entry_side = BUY if cascade.side == LONG else SELL
        if not self._submit_entry(reference):
            self._reset_trade()
        self._save_state()

    def _blocked(self, cascade: Cascade, now: int) -> str | None:
        if cascade.side is None:
            return "no dominant side (equal notional)"
        if self._entry_id is not None or not self.portfolio.is_flat(self.instrument_id):
            return "position or entry already working"
        for gate in self._entry_gates:  # the node's rules (kill switch first) take precedence
            reason = gate(self, now)
            if reason is not None:
                return reason
        if now < self._cooldown_until_ns:
            return f"cooldown for {(self._cooldown_until_ns - now) / NS_PER_S:.0f} s"
        reason = self.sessions.blocked(now)
        if reason is not None:
            return reason
        cap = self.config.max_open_symbols
        if cap is not None:
            exposed = self._exposed_instruments()
            if len(exposed) >= cap:
                return f"exposure cap: {len(exposed)} symbols open (max_open_symbols = {cap})"
        account = self.portfolio.account(self.instrument_id.venue)
        if account is None:
            return "no account"
        balance = account.balance_total(self.instrument.settlement_currency)
        closed = self._closed_pnls()
        return self.loss_limits.blocked(now, float(balance) if balance else 0.0, closed)

    def _exposed_instruments(self) -> set[InstrumentId]:
        """Instruments with an open position or a working entry, any strategy's.

        An entry still waiting out ``order_latency_ms`` is not in the cache yet and not counted:
        two symbols' cascades within one latency of each other can both pass the cap.
        """
        exposed = {p.instrument_id for p in self.cache.positions_open()}
        exposed |= {o.instrument_id for o in self.cache.orders_open() if not o.is_reduce_only}
        return exposed

    def _reference_price(self) -> Decimal | None:
        trade = self.cache.trade_tick(self.instrument_id)
        if trade is not None:
            if not self._checked_trade_data:
                self._check_backtest_trades(trade)
            return trade.price.as_decimal()
        quote = self.cache.quote_tick(self.instrument_id)
        if quote is not None:
            return (quote.bid_price.as_decimal() + quote.ask_price.as_decimal()) / 2
        if self._bar_type is not None:
            bar = self.cache.bar(self._bar_type)
            if bar is not None:
                return bar.close.as_decimal()
        return None

    def _check_backtest_trades(self, trade: TradeTick) -> None:
        """
        Say loudly when a backtest feeds trades with aggressor sides (once per run).

        With buyer/seller prints the engine's trade-driven L1 book keeps a stale opposite side
        and fills resting limits at prices the market has left: optimistic fills. The plugin's
        runner feeds prints without aggressors (``liqcascade.backtests.execution_view``);
        ``liqcascade.backtests.framework_configs`` gives a ``BacktestNode`` the same data.
        Live, aggressor sides are real information and nothing is said.
        """
        self._checked_trade_data = True
        if not isinstance(self.clock, TestClock) or trade.aggressor_side == NO_AGGRESSOR:
            return
        message = (
            f"{self.instrument_id}: backtest trades carry aggressor sides, so the engine's L1 "
            "book keeps a stale opposite side and can fill resting limits at prices the market "
            "has left (optimistic fills). Feed the execution view instead: "
            "liqcascade.backtests.framework_configs(...) or `liqcascade backtest`."
        )
        self.log.error(message)
        self.events.write(self.clock.timestamp_ns(), "data_warning", self.symbol, message=message)
        warnings.warn(message, OptimisticFillsWarning, stacklevel=2)

    # -- orders ----------------------------------------------------------------------------------

    def _submit_entry(self, reference: Decimal) -> bool:
        instrument = self.instrument
        tick = instrument.price_increment.as_decimal()
        price = entry_price(
            reference, self._entry_side, Decimal(str(self.config.entry_offset)), tick
        )
        quantity = order_quantity(
            Decimal(str(self.config.trade_notional)),
            price,
            instrument.size_increment.as_decimal(),
            instrument.min_quantity.as_decimal() if instrument.min_quantity else Decimal(0),
        )
        if quantity is None:
            self._skip(self._cascade, f"trade_notional {self.config.trade_notional} below min size")
            return False
        order = self.order_factory.limit(
            instrument_id=self.instrument_id,
            order_side=OrderSide.BUY if self._entry_side == BUY else OrderSide.SELL,
            quantity=instrument.make_qty(quantity),
            price=instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tags=[ENTRY],
        )
        self._entry_id = order.client_order_id
        now = self.clock.timestamp_ns()
        self._entry_submitted_ns = now
        self._submit(order, self._native_stop_params(price))
        self.clock.set_time_alert_ns(
            self._timer_entry,
            now + int(self.config.entry_timeout_s * NS_PER_S),
            self._on_entry_timeout,
        )
        self.events.write(
            now,
            "entry_submitted",
            self.symbol,
            order_id=order.client_order_id.value,
            declared_ns=self._cascade.declared_ns,
            side=self._entry_side,
            price=float(price),
            reference=float(reference),
            quantity=float(quantity),
            repriced=self._repriced,
        )
        return True

    def _native_stop_params(self, entry_px: Decimal) -> dict[str, str] | None:
        """Bybit order params carrying the entire-position stop (``native_stop``), else None.

        The stop is priced from the entry's limit price: a post-only entry fills at exactly that
        price, so it is the price every per-fill stop of the backtest would use.
        """
        if not self.config.native_stop:
            return None
        _, sl_price = self._exit_prices(entry_px)
        return {
            "stop_loss": str(self.instrument.make_price(sl_price)),
            "tpsl_mode": "Full",
            "sl_order_type": "Market",
            "sl_trigger_by": NATIVE_TRIGGERS[self.config.stop_trigger],
        }

    def _submit(self, order: Order, params: dict[str, str] | None = None) -> None:
        """Send an order now, or after ``order_latency_ms`` on the strategy's clock."""
        if self._latency_ns <= 0:
            self.submit_order(order, params=params)
            return
        name = self._submit_timer(order.client_order_id)
        self._pending[name] = (order, params)
        self.clock.set_time_alert_ns(
            name, self.clock.timestamp_ns() + self._latency_ns, self._on_latency_elapsed
        )

    def _on_latency_elapsed(self, event: TimeEvent) -> None:
        order, params = self._pending.pop(event.name, (None, None))
        if order is None:
            return
        # An order of a trade that ended meanwhile (e.g. exits of a position already closed), or
        # an exit replaced by a resized one meanwhile, is dropped: its decision no longer holds.
        if order.client_order_id == self._entry_id or order.client_order_id in self._exit_ids:
            self.submit_order(order, params=params)

    def _order(self, client_order_id: ClientOrderId | None) -> Order | None:
        """The order, from the cache or, still waiting out ``order_latency_ms``, from the
        strategy's own queue (the framework caches an order only once it is submitted)."""
        if client_order_id is None:
            return None
        order = self.cache.order(client_order_id)
        if order is None:
            pending = self._pending.get(self._submit_timer(client_order_id))
            order = pending[0] if pending is not None else None
        return order

    def _submit_timer(self, client_order_id: ClientOrderId) -> str:
        """The name of the timer that sends an order after ``order_latency_ms``."""
        return f"{self.id}-submit-{client_order_id.value}"

    def _cancel(self, order: Order | None) -> None:
        """Cancel an order once: one already closed or with a cancel under way is left alone.

        An exit's sibling is cancelled on the exit's fill and again when the position closes a
        moment later; the framework refuses the second (``PENDING_CANCEL``) with a warning.
        """
        if order is None:
            return
        waiting = self._submit_timer(order.client_order_id)
        if waiting in self._pending:
            # Never sent (still waiting out ``order_latency_ms``): it is dropped, as
            # ``_on_latency_elapsed`` drops an order whose decision no longer holds.
            self._pending.pop(waiting)
            self._cancel_timer(waiting)
            return
        if not order.is_closed and not order.is_pending_cancel:
            self.cancel_order(order)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Re-price a post-only-rejected entry once; retry or replace a refused stop."""
        if event.client_order_id == self._entry_id:
            self._cancel_timer(self._timer_entry)
            post_only = event.due_post_only or POST_ONLY_REJECT_REASON in (event.reason or "")
            self.events.write(
                event.ts_event,
                "entry_rejected",
                self.symbol,
                order_id=event.client_order_id.value,
                reason=event.reason,
                post_only=post_only,
            )
            retry = (
                post_only
                and self.config.reprice_on_post_only_reject
                and not self._repriced
                and self._first_fill_ns is None
            )
            reference = self._reference_price() if retry else None
            if reference is not None:
                self._repriced = True
                self._entry_id = None
                if self._submit_entry(reference):
                    self._save_state()
                    return
            if self._first_fill_ns is None:
                self._reset_trade()
            self._save_state()
        elif event.client_order_id in self._exit_ids:
            order = self._order(event.client_order_id)
            role = self._role(order)
            self.log.warning(f"Exit order rejected ({role}): {event.reason}")
            self.events.write(
                event.ts_event, "exit_rejected", self.symbol, reason=event.reason, role=role
            )
            if order is not None and order.order_type == OrderType.MARKET:
                if self._state is not None:
                    # The close itself was refused (a simulated venue before its first trade):
                    # try again shortly rather than keep a position past its deadline.
                    self._retry_later(lambda: self._close_at_market(role))
            elif role == STOP_LOSS:
                self._on_stop_rejected(event)

    def _retry_later(self, action: Any) -> None:
        self._cancel_timer(self._timer_close_retry)
        self.clock.set_time_alert_ns(
            self._timer_close_retry,
            self.clock.timestamp_ns() + int(self.config.close_retry_s * NS_PER_S),
            lambda _: action(),
        )

    def _on_stop_rejected(self, event: OrderRejected) -> None:
        """Never sit unprotected, and never close more than the refusal requires.

        A stop whose trigger is already crossed would have fired: close at market now. Any
        other refusal (rate limit, engine busy, a reason the venue does not explain) is retried
        ``stop_retries`` times, ``close_retry_s`` apart - the next :meth:`_sync_exits` places a
        fresh stop for the open quantity - before the position is closed at market.
        """
        reason = (event.reason or "").lower()
        crossed = any(marker in reason for marker in CROSSED_STOP_REJECTIONS)
        if not crossed and self._stop_attempts < self.config.stop_retries:
            self._stop_attempts += 1
            self.events.write(
                event.ts_event, "stop_retry", self.symbol, attempt=self._stop_attempts
            )
            self._retry_later(self._sync_exits)
            return
        self._stop_given_up = True
        self._close_at_market(STOP_LOSS)

    def on_order_filled(self, event: OrderFilled) -> None:
        """Resize the position's one TP and one SL to what is open after each fill."""
        if event.client_order_id == self._entry_id:
            self._on_entry_fill(event)
        elif event.client_order_id in self._exit_ids:
            self._on_exit_fill(event)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """An exit the venue now holds may be resized (a resize waits for the acceptance)."""
        self._adopt_native_stop(event.client_order_id)
        if event.client_order_id in self._exit_ids:
            self._sync_exits()

    def on_order_updated(self, event: OrderUpdated) -> None:
        """A resize landed, or the venue resized its native stop: check against the position."""
        self._adopt_native_stop(event.client_order_id)
        if event.client_order_id in self._exit_ids:
            self._sync_exits()

    def on_order_modify_rejected(self, event: OrderModifyRejected) -> None:
        """A resize was refused: replace the exit if it is gone, else try again on its next
        event (the open quantity is re-checked at every fill)."""
        if event.client_order_id in self._exit_ids:
            self.log.warning(f"Exit resize refused: {event.reason}")
            self._sync_exits()

    def _adopt_native_stop(self, client_order_id: ClientOrderId) -> None:
        """Bybit's entire-position stop is created by the venue (no ``orderLinkId``): the node's
        reconciliation hands it to this strategy (``external_order_claims``); remember it as the
        position's stop."""
        if not self.config.native_stop or client_order_id in self._exit_ids:
            return
        order = self._order(client_order_id)
        if (
            order is not None
            and order.instrument_id == self.instrument_id
            and order.is_reduce_only
            and order.order_type in (OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED)
        ):
            self._sl_id = client_order_id
            self._exit_ids.add(client_order_id)
            self._roles[client_order_id] = STOP_LOSS
            self._save_state()

    def _exit_prices(self, fill_px: Decimal) -> tuple[Decimal, Decimal]:
        return exit_prices(
            fill_px,
            self._entry_side,
            Decimal(str(self.config.take_profit)),
            Decimal(str(self.config.stop_loss)),
            self.instrument.price_increment.as_decimal(),
        )

    def _take_profit(self, quantity: Quantity, price: Decimal) -> Order:
        return self.order_factory.limit(
            instrument_id=self.instrument_id,
            order_side=OrderSide.SELL if self._entry_side == BUY else OrderSide.BUY,
            quantity=quantity,
            price=self.instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[TAKE_PROFIT],
        )

    def _stop_loss(self, quantity: Quantity, trigger: Decimal) -> Order:
        return self.order_factory.stop_market(
            instrument_id=self.instrument_id,
            order_side=OrderSide.SELL if self._entry_side == BUY else OrderSide.BUY,
            quantity=quantity,
            trigger_price=self.instrument.make_price(trigger),
            trigger_type=self._trigger,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[STOP_LOSS],
        )

    def _on_entry_fill(self, event: OrderFilled) -> None:
        fill_px = event.last_px.as_decimal()
        if self._first_fill_ns is None:
            self._first_fill_ns = event.ts_event
            self.clock.set_time_alert_ns(
                self._timer_hold,
                event.ts_event + int(self.config.max_hold_s * NS_PER_S),
                self._on_max_hold,
            )
        self._fill_qty += event.last_qty.as_decimal()
        self._fill_value += fill_px * event.last_qty.as_decimal()
        tp_price, sl_price = self._exit_prices(self._fill_value / self._fill_qty)
        self.events.write(
            event.ts_event,
            "entry_fill",
            self.symbol,
            order_id=event.client_order_id.value,
            declared_ns=self._declared_ns,
            side=self._entry_side,
            price=float(fill_px),
            quantity=float(event.last_qty),
            take_profit=float(tp_price),
            stop=float(sl_price),
            commission=float(event.commission),
        )
        self._sync_exits()
        self._save_state()

    def _on_exit_fill(self, event: OrderFilled) -> None:
        order = self._order(event.client_order_id)
        self.events.write(
            event.ts_event,
            "exit_fill",
            self.symbol,
            order_id=event.client_order_id.value,
            reason=self._role(order),
            price=float(event.last_px),
            quantity=float(event.last_qty),
            commission=float(event.commission),
        )
        # A partial take-profit: the stop keeps protecting exactly what is still open (and vice
        # versa). A full one closed the position: on_position_closed cancels the rest.
        self._sync_exits()
        if order is not None and order.order_type == OrderType.MARKET and not order.is_closed:
            # A market close that filled only in part (Bybit cancels the rest of a market order
            # beyond its slippage band; a simulated venue fills what the prints cover): send the
            # remainder again shortly rather than leave it open.
            role = self._role(order)
            self._retry_later(lambda: self._close_remainder(role))

    def _close_remainder(self, reason: str) -> None:
        if self._open_position() is not None:
            self._close_at_market(reason)

    # -- exits: one take-profit and one stop per position ----------------------------------------

    def _open_position(self) -> Position | None:
        positions = self.cache.positions_open(instrument_id=self.instrument_id, strategy_id=self.id)
        return positions[0] if positions else None

    def _sync_exits(self) -> None:
        """
        Keep one reduce-only take-profit and one stop, each covering exactly the open position.

        Bybit allows 10 conditional orders per symbol and rate-limits order creation, so an
        entry filled in many pieces must not spawn an exit pair per piece: the first fill places
        the pair, later fills amend their quantity. An exit still on its way to the venue is
        resized once it is accepted (``on_order_accepted`` calls back here); one still waiting
        out ``order_latency_ms`` is replaced before it is sent. With ``native_stop`` the
        exchange holds and resizes the stop itself.
        """
        position = self._open_position()
        if position is None or self.instrument is None or self._closing:
            return
        target = position.quantity.as_decimal()
        fill_px = (
            self._fill_value / self._fill_qty
            if self._fill_qty > 0
            else Decimal(str(position.avg_px_open))
        )
        tp_price, sl_price = self._exit_prices(fill_px)
        self._tp_id = self._sync_exit(
            self._tp_id, TAKE_PROFIT, target, lambda q: self._take_profit(q, tp_price)
        )
        if not self.config.native_stop:
            self._sl_id = self._sync_exit(
                self._sl_id, STOP_LOSS, target, lambda q: self._stop_loss(q, sl_price)
            )

    def _sync_exit(
        self,
        order_id: ClientOrderId | None,
        role: str,
        target: Decimal,
        make: Any,
    ) -> ClientOrderId | None:
        order = self._order(order_id)
        make_qty = self.instrument.make_qty
        if order is not None and order.status == OrderStatus.INITIALIZED:
            waiting = self._submit_timer(order.client_order_id)
            if waiting in self._pending:
                if order.quantity.as_decimal() == target:
                    return order_id
                # Not sent yet (order_latency_ms): send the right size instead.
                self._pending.pop(waiting)
                self._exit_ids.discard(order.client_order_id)
                self._cancel_timer(waiting)
                order = None
            else:
                return order_id  # handed to the engine: its acceptance calls back
        if order is None or order.is_closed:
            if role == STOP_LOSS and self._stop_given_up:
                return order_id  # refused for good: _on_stop_rejected closed at market
            new = make(make_qty(target))
            self._exit_ids.add(new.client_order_id)
            self._roles[new.client_order_id] = role
            self._submit(new)
            return new.client_order_id
        if order.is_inflight or order.is_pending_update or order.is_pending_cancel:
            return order_id  # its next event calls back
        wanted = order.filled_qty.as_decimal() + target
        if order.quantity.as_decimal() != wanted:
            self.modify_order(order, quantity=make_qty(wanted))
        return order_id

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """An entry cancelled before any fill ends the trade (no cooldown: nothing was traded)."""
        self._on_entry_closed_unfilled(event.client_order_id, event.ts_event, "canceled")

    def on_order_expired(self, event: OrderExpired) -> None:
        """Same as a cancel (venues may expire instead)."""
        self._on_entry_closed_unfilled(event.client_order_id, event.ts_event, "expired")

    def _on_entry_closed_unfilled(self, order_id: ClientOrderId, ts: int, how: str) -> None:
        if order_id != self._entry_id:
            return
        self._cancel_timer(self._timer_entry)
        if self._first_fill_ns is None:
            self.events.write(ts, "entry_unfilled", self.symbol, order_id=order_id.value, how=how)
            self._reset_trade()
        self._save_state()

    # -- timers ----------------------------------------------------------------------------------

    def _cancel_timer(self, name: str) -> None:
        if name in self.clock.timer_names:
            self.clock.cancel_timer(name)

    def _on_entry_timeout(self, event: TimeEvent) -> None:
        entry = self._order(self._entry_id)
        self._cancel(entry)

    def _on_max_hold(self, event: TimeEvent) -> None:
        self._close_at_market(TIMEOUT)

    def _close_at_market(self, reason: str) -> None:
        self._closing = True
        self._cancel(self._order(self._entry_id))
        for order_id in self._exit_ids:
            self._cancel(self._order(order_id))
        for position in self.cache.positions_open(
            instrument_id=self.instrument_id, strategy_id=self.id
        ):
            close = self.order_factory.market(
                instrument_id=self.instrument_id,
                order_side=OrderSide.SELL if position.is_long else OrderSide.BUY,
                quantity=position.quantity,
                time_in_force=TimeInForce.GTC,
                reduce_only=True,
                tags=[reason],
            )
            self._exit_ids.add(close.client_order_id)
            self._roles[close.client_order_id] = reason
            self.events.write(
                self.clock.timestamp_ns(),
                "market_close",
                self.symbol,
                reason=reason,
                order_id=close.client_order_id.value,
                quantity=float(position.quantity),
            )
            self._submit(close)
        self._save_state()

    # -- positions -------------------------------------------------------------------------------

    def on_position_closed(self, event: PositionClosed) -> None:
        """Record the round trip, clean up what is left, start the cooldown."""
        if event.instrument_id != self.instrument_id:
            return
        closing = self._order(event.closing_order_id)
        reason = self._role(closing)
        self._cancel_timer(self._timer_entry)
        self._cancel_timer(self._timer_hold)
        self._cancel_timer(self._timer_close_retry)
        for order_id in [self._entry_id, *self._exit_ids]:
            self._cancel(self._order(order_id))
        position = self.cache.position(event.position_id)
        fees = sum(float(c) for c in position.commissions()) if position is not None else 0.0
        pnl = float(event.realized_pnl)
        self.events.write(
            event.ts_event,
            "exit",
            self.symbol,
            reason=reason,
            declared_ns=self._declared_ns,
            side=BUY if event.entry == OrderSide.BUY else SELL,
            entry_ns=event.ts_opened,
            exit_ns=event.ts_closed,
            entry_price=event.avg_px_open,
            exit_price=event.avg_px_close,
            quantity=float(event.peak_qty),
            pnl=pnl,
            fees=fees,
        )
        self._cooldown_until_ns = event.ts_closed + int(self.config.cooldown_s * NS_PER_S)
        self._reset_trade()
        if self._state is not None:
            self._closed.append((event.position_id.value, event.ts_closed, pnl))
            self._save_state()
