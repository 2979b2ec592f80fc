"""System B: cross-asset crash mean-reversion, as ONE NautilusTrader ``Strategy`` over many assets.

Two rule sets (``rules``), chosen in the strategy file:

* ``"seed"`` (``configs/crash_seed.toml``): the seed notebook's rules exactly - a crash bar is a
  1 h drop below -5 % on volume above the rolling P95, or a 2 h slide below -8 % whose last hour
  is above -3 % on volume above the rolling P90 (168-bar windows including the bar); 3+ assets
  at one close make an event; each of its assets is bought at the close of the NEXT bar if that
  bar rose (a bounce), sold one bar later if up more than 2 % by then, else two bars after the
  entry; trades in one asset may overlap. See
  :class:`~liqcascade.strategies.crash_detector.SeedDetector`.
* ``"trailing"`` (``configs/crash_reversion.toml``): our causal reading of the seed's README -
  1 h and 2 h drops against fixed or trailing-percentile thresholds, volume against the P95 of
  the previous 720 bars, buy at the crash bar's close, sell ``hold_bars`` later, never two trades
  in one asset. See :class:`~liqcascade.strategies.crash_detector.CrashDetector`.

How bars become decisions
-------------------------
Bars of one close time (a *slot*) arrive one after another. The strategy collects them and
decides only once the slot is complete: when every instrument's bar of that close has arrived,
or ``bar_wait_ms`` after the close time, whichever comes first (a clock alert; in a backtest the
engine fires it after every bar of that time stamp and before any later one). The slot then goes
to :class:`~liqcascade.strategies.crash_planner.CrashPlanner`, which walks assets in name order:
no decision depends on the order in which the bars of one close arrive. A bar arriving after its
slot was decided joins the history and decides nothing (logged as ``late_bar``).

Orders are market orders. In a bar-driven backtest (venue ``bar_execution=True``, all bars of the
slot processed) an asset's price is its bar's close, so a fill is at the decision bar's close,
stamped at that close (or at the alert time when a bar was missing); live, it is the market a
moment after the close. Each trade has its own position (use a ``HEDGING`` venue to keep
overlapping trades apart; on a ``NETTING`` venue they share one position and are still accounted
per trade): exits are reduce-only sells of the trade's own quantity, against its position id.
An optional reduce-only stop (``stop_loss``, off by default; the seed has none) protects each
trade from its entry fill on. Costs are the venue's fee model's (the seed preset's run charges a
flat 0.2 % per trade).

Everything - crash events with their assets and numbers, skips, entries, fills, exits with PnL -
goes to the JSON-lines :class:`~liqcascade.strategies.event_log.EventLog`; each ``exit`` line is
one trade (PnL after fees from its own fills). Trades still open when the strategy stops are
logged as ``open_at_end`` and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderCanceled
from nautilus_trader.model.events import OrderExpired
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.instruments import symbol_of as venue_symbol
from liqcascade.strategies.crash_detector import CrashDetector
from liqcascade.strategies.crash_detector import CrashParams
from liqcascade.strategies.crash_detector import Detector
from liqcascade.strategies.crash_detector import SeedDetector
from liqcascade.strategies.crash_detector import SeedParams
from liqcascade.strategies.crash_planner import BOUNCE
from liqcascade.strategies.crash_planner import CRASH_CLOSE
from liqcascade.strategies.crash_planner import CrashPlanner
from liqcascade.strategies.crash_planner import Entry
from liqcascade.strategies.crash_planner import Exit
from liqcascade.strategies.crash_planner import SlotPlan
from liqcascade.strategies.crash_planner import TradeRules
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.order_prices import round_to_tick

ENTRY, STOP_LOSS = "ENTRY", "SL"
ALL_ASSETS = "*"  # event-log symbol of cross-asset events
SEED, TRAILING = "seed", "trailing"
RULES = (SEED, TRAILING)
#: Parameters of one rule set only (``None`` in the config = that rule set's default). Setting
#: one under the other rule set is an error, never silently ignored.
TRAILING_FIELDS = (
    "threshold_mode",
    "r1_bars",
    "r2_bars",
    "r1_drop",
    "r2_drop",
    "drop_quantile",
    "volume_quantile",
    "lookback",
    "min_history",
    "require_both",
)
SEED_FIELDS = (
    "window",
    "crash_drop",
    "crash_volume_quantile",
    "cascade_drop",
    "cascade_r1_above",
    "cascade_volume_quantile",
    "bounce_above",
    "take_gain",
)
_SEED_TRADE_DEFAULTS = {"bounce_above": 0.0, "take_gain": 0.02}
_NS_PER_MS = 1_000_000


class CrashReversionConfig(StrategyConfig, frozen=True):
    """
    Parameters of the cross-asset crash reversion (fractions, not percent).

    Parameters
    ----------
    instrument_ids : list[str]
        The universe, e.g. ``["BTCUSDT-LINEAR.BYBIT", "ETHUSDT-LINEAR.BYBIT", ...]`` or Binance
        ids; symbols (the id without venue and ``-LINEAR``) must be unique.
    bar_spec : str
        Bars subscribed per instrument: bar type ``f"{instrument_id}-{bar_spec}"``. The bar
        interval follows from it (``1-HOUR`` -> 1 h).
    rules : str
        ``"seed"`` (the notebook's rules) or ``"trailing"`` (ours); module docstring.
    min_assets : int
        Qualifying assets at one close time that make a crash event (3).
    hold_bars : int
        Bars from the entry to the exit (2; the seed's "two hours after entry").
    threshold_mode, r1_bars, r2_bars, r1_drop, r2_drop, drop_quantile, volume_quantile,
    lookback, min_history, require_both
        ``rules = "trailing"`` only: see
        :class:`~liqcascade.strategies.crash_detector.CrashParams` (``None`` = its default).
    window, crash_drop, crash_volume_quantile, cascade_drop, cascade_r1_above,
    cascade_volume_quantile
        ``rules = "seed"`` only: see :class:`~liqcascade.strategies.crash_detector.SeedParams`.
    bounce_above, take_gain
        ``rules = "seed"`` only: the entry needs the next bar's return above ``bounce_above``
        (0.0); the exit comes one bar after the entry if the trade is up more than ``take_gain``
        (0.02) by then.
    notional_per_asset : float
        Entry size per trade in the quote currency (floored to the lot step).
    stop_loss : float | None
        Reduce-only stop distance below the entry fill (0.05 = 5 %); ``None`` = no stop.
    stop_trigger : str
        Stop trigger price type (``LAST_PRICE``, ``MARK_PRICE``, ``INDEX_PRICE``).
    bar_wait_ms : float
        How long after a close time to wait for the other assets' bars of that close before
        deciding without them. Decisions come as soon as every asset's bar is in; in a
        backtest this only matters when a bar is missing (the decision is then stamped later,
        at unchanged prices).
    event_log_path : str | None
        JSON-lines event log; ``None`` disables it.
    subscribe_trades : bool
        Also subscribe to trade ticks. Live nodes need it: the paper venue fills market orders
        from the trades the node receives. Backtests run on bars alone.

    """

    instrument_ids: list[str]
    bar_spec: str = "1-HOUR-LAST-EXTERNAL"
    rules: str = TRAILING
    min_assets: int = 3
    hold_bars: int = 2
    threshold_mode: str | None = None
    r1_bars: int | None = None
    r2_bars: int | None = None
    r1_drop: float | None = None
    r2_drop: float | None = None
    drop_quantile: float | None = None
    volume_quantile: float | None = None
    lookback: int | None = None
    min_history: int | None = None
    require_both: bool | None = None
    window: int | None = None
    crash_drop: float | None = None
    crash_volume_quantile: float | None = None
    cascade_drop: float | None = None
    cascade_r1_above: float | None = None
    cascade_volume_quantile: float | None = None
    bounce_above: float | None = None
    take_gain: float | None = None
    notional_per_asset: float = 1000.0
    stop_loss: float | None = None
    stop_trigger: str = "LAST_PRICE"
    bar_wait_ms: float = 5000.0
    event_log_path: str | None = None
    subscribe_trades: bool = False

    def __post_init__(self) -> None:
        if not self.instrument_ids:
            raise ValueError("instrument_ids must name at least one instrument")
        if len(set(self.instrument_ids)) != len(self.instrument_ids):
            raise ValueError(f"instrument_ids has duplicates: {self.instrument_ids}")
        for instrument_id in self.instrument_ids:
            InstrumentId.from_str(instrument_id)  # raises naming the bad id
        symbols = [venue_symbol(i) for i in self.instrument_ids]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instrument_ids name one symbol twice: {self.instrument_ids}")
        try:
            bar_type = BarType.from_str(f"{self.instrument_ids[0]}-{self.bar_spec}")
        except ValueError as e:
            raise ValueError(f"bar_spec is invalid: {self.bar_spec!r} ({e})") from e
        if not bar_type.spec.is_time_aggregated():
            raise ValueError(f"bar_spec must be time-aggregated, got {self.bar_spec!r}")
        if self.rules not in RULES:
            raise ValueError(f"rules must be one of {RULES}, got {self.rules!r}")
        other = TRAILING_FIELDS if self.rules == SEED else SEED_FIELDS
        stray = [name for name in other if getattr(self, name) is not None]
        if stray:
            raise ValueError(
                f"{', '.join(stray)}: not a parameter of rules = {self.rules!r} "
                f"(it belongs to the other rule set; remove it or change rules)"
            )
        if self.min_assets > len(self.instrument_ids):
            raise ValueError(
                f"min_assets ({self.min_assets}) exceeds the number of instrument_ids "
                f"({len(self.instrument_ids)}): no event could ever be declared"
            )
        if self.hold_bars < 1:
            raise ValueError(f"hold_bars must be >= 1, got {self.hold_bars!r}")
        if not self.notional_per_asset > 0:
            raise ValueError(
                f"notional_per_asset must be positive, got {self.notional_per_asset!r}"
            )
        if self.stop_loss is not None and not 0 < self.stop_loss < 1:
            raise ValueError(f"stop_loss must be in (0, 1) or None, got {self.stop_loss!r}")
        if self.stop_loss is not None and self.stop_loss > 0.5:
            raise ValueError(
                f"stop_loss is a fraction (0.05 = 5 %), got {self.stop_loss}: "
                f"did you mean {self.stop_loss / 100}?"
            )
        if self.stop_trigger not in TriggerType.__members__:
            raise ValueError(f"stop_trigger must be a TriggerType name, got {self.stop_trigger!r}")
        if not self.bar_wait_ms >= 0:
            raise ValueError(f"bar_wait_ms must be >= 0, got {self.bar_wait_ms!r}")
        if self.bar_wait_ms * _NS_PER_MS >= self.interval_ns:
            raise ValueError(f"bar_wait_ms ({self.bar_wait_ms}) must be shorter than one bar")
        self.detector()  # validates the detector's fields by name
        self.trade_rules()

    @property
    def interval_ns(self) -> int:
        """Bar length in nanoseconds, from ``bar_spec``."""
        return BarType.from_str(f"{self.instrument_ids[0]}-{self.bar_spec}").spec.get_interval_ns()

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def detector_kwargs(self) -> dict[str, Any]:
        """The detector's parameters (those set here; the rest are its defaults)."""
        if self.rules == SEED:
            names = tuple(n for n in SEED_FIELDS if n not in _SEED_TRADE_DEFAULTS)
        else:
            names = TRAILING_FIELDS
        return {"interval_ns": self.interval_ns, **self._given(names)}

    def detector(self) -> Detector:
        """A fresh detector of this rule set."""
        if self.rules == SEED:
            return SeedDetector(SeedParams(**self.detector_kwargs()))
        return CrashDetector(CrashParams(**self.detector_kwargs()))

    def trade_rules(self) -> TradeRules:
        """Entry, exit and overlap rules of this rule set."""
        if self.rules == SEED:
            trade = {**_SEED_TRADE_DEFAULTS, **self._given(tuple(_SEED_TRADE_DEFAULTS))}
            return TradeRules(
                interval_ns=self.interval_ns,
                min_assets=self.min_assets,
                entry=BOUNCE,
                bounce_above=trade["bounce_above"],
                hold_bars=self.hold_bars,
                take_gain=trade["take_gain"],
                take_gain_after_bars=1,
                overlap=True,
            )
        return TradeRules(
            interval_ns=self.interval_ns,
            min_assets=self.min_assets,
            entry=CRASH_CLOSE,
            hold_bars=self.hold_bars,
            overlap=False,
        )

    @property
    def warmup_bars(self) -> int:
        """Bars an asset needs before its first bar can qualify."""
        detector = self.detector()
        return detector.params.warmup_bars  # type: ignore[attr-defined]


@dataclass
class _Trade:
    """One trade's orders and fills (entry fills to flat), accounted from its own fills."""

    trade_id: int
    instrument_id: InstrumentId
    event_ns: int
    entry_id: ClientOrderId
    position_id: PositionId | None = None
    stop_id: ClientOrderId | None = None
    exit_id: ClientOrderId | None = None
    exit_reason: str | None = None
    entry_ns: int | None = None
    exit_ns: int | None = None
    entry_qty: Decimal = Decimal(0)
    entry_value: Decimal = Decimal(0)
    exit_qty: Decimal = Decimal(0)
    exit_value: Decimal = Decimal(0)
    fees: float = 0.0
    orders: list[ClientOrderId] = field(default_factory=list)


def symbol_of(instrument_id: InstrumentId) -> str:
    """``ETHUSDT-LINEAR.BYBIT`` -> ``ETHUSDT`` (the detector's and event log's asset name)."""
    return venue_symbol(instrument_id.value)


class CrashReversion(Strategy):
    """
    Buy the assets of a cross-asset crash, sell them after the hold (module docstring).

    Parameters
    ----------
    config : CrashReversionConfig
        The configuration.

    """

    def __init__(self, config: CrashReversionConfig) -> None:
        super().__init__(config)
        self.instrument_ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self.bar_types = [BarType.from_str(f"{i}-{config.bar_spec}") for i in config.instrument_ids]
        self.interval_ns = config.interval_ns
        self.planner = CrashPlanner(config.detector(), config.trade_rules())
        self.events = EventLog(config.event_log_path)
        self._by_symbol = {symbol_of(i): i for i in self.instrument_ids}
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._trades: dict[int, _Trade] = {}
        self._trade_of_order: dict[ClientOrderId, int] = {}
        self._slots: dict[int, dict[str, tuple[float, float]]] = {}  # close time -> bars so far
        self._decided_ns: int | None = None  # the last slot handed to the planner
        self._wait_ns = int(config.bar_wait_ms * _NS_PER_MS)
        self._trigger = TriggerType[config.stop_trigger]
        self.late_bars = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Look up every instrument and subscribe to its bars."""
        for instrument_id in self.instrument_ids:
            instrument = self.cache.instrument(instrument_id)
            if instrument is None:
                self.log.error(f"Instrument {instrument_id} not in cache: stopping")
                self.stop()
                return
            self._instruments[instrument_id] = instrument
        for bar_type in self.bar_types:
            self.subscribe_bars(bar_type)
        if self.config.subscribe_trades:
            for instrument_id in self.instrument_ids:
                self.subscribe_trade_ticks(instrument_id)

    def on_stop(self) -> None:
        """Log trades still open (they keep any stop at the venue) and close the log."""
        now = self.clock.timestamp_ns()
        for trade in self._trades.values():
            self.events.write(
                now,
                "open_at_end",
                symbol_of(trade.instrument_id),
                trade=trade.trade_id,
                event_ns=trade.event_ns,
                entry_ns=trade.entry_ns,
            )
        self.events.close()

    # -- slots -----------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Collect the bar into its slot; decide once the slot is complete."""
        instrument_id = bar.bar_type.instrument_id
        if instrument_id not in self._instruments:
            return
        asset = symbol_of(instrument_id)
        ts = bar.ts_event
        close, volume = float(bar.close), float(bar.volume)
        slot = self._slots.get(ts)
        if self._decided_ns is not None and ts <= self._decided_ns:
            self.late_bars += 1  # its close was decided without it: history only
            self.planner.on_late_bar(asset, ts, close, volume)
            self.events.write(self.clock.timestamp_ns(), "late_bar", asset, bar_ns=ts)
            return
        if slot is not None and asset in slot:
            self.late_bars += 1  # a second bar of the same close: the first one stands
            self.events.write(self.clock.timestamp_ns(), "duplicate_bar", asset, bar_ns=ts)
            return
        if slot is None:
            slot = self._slots[ts] = {}
            self.clock.set_time_alert_ns(self._alert_name(ts), ts + self._wait_ns, self._on_alert)
        slot[asset] = (close, volume)
        if len(slot) == len(self._instruments):
            self._decide_through(ts)

    @staticmethod
    def _alert_name(ts_ns: int) -> str:
        return f"crash-slot-{ts_ns}"

    def _on_alert(self, event: TimeEvent) -> None:
        self._decide_through(int(event.name.rsplit("-", 1)[1]))

    def _decide_through(self, ts_ns: int) -> None:
        """Hand every collected slot up to ``ts_ns`` to the planner, oldest first."""
        for ts in sorted(t for t in self._slots if t <= ts_ns):
            bars = self._slots.pop(ts)
            name = self._alert_name(ts)
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)
            self._decided_ns = ts
            self._carry_out(self.planner.on_slot(ts, bars))

    def _carry_out(self, plan: SlotPlan) -> None:
        now = self.clock.timestamp_ns()
        if plan.event is not None:
            self.events.write(
                now,
                "crash",
                ALL_ASSETS,
                event_ns=plan.event.ts_ns,
                assets=plan.event.assets,
                members=[m.as_dict() for m in plan.event.members],
            )
        for exit_ in plan.exits:
            self._exit(exit_)
        for skip in plan.skips:
            self.events.write(now, "skip", skip.asset, event_ns=skip.event_ns, reason=skip.reason)
        for entry in plan.entries:
            self._enter(entry)

    # -- orders ----------------------------------------------------------------------------------

    def _enter(self, entry: Entry) -> None:
        instrument_id = self._by_symbol[entry.asset]
        instrument = self._instruments[instrument_id]
        price = Decimal(str(entry.reference))
        quantity = round_to_tick(
            Decimal(str(self.config.notional_per_asset)) / price,
            instrument.size_increment.as_decimal(),
            up=False,
        )
        min_qty = instrument.min_quantity.as_decimal() if instrument.min_quantity else Decimal(0)
        min_notional = (
            instrument.min_notional.as_decimal() if instrument.min_notional else Decimal(0)
        )
        if quantity <= 0 or quantity < min_qty or quantity * price < min_notional:
            self.planner.forget(entry.trade_id)
            self.events.write(
                self.clock.timestamp_ns(),
                "skip",
                entry.asset,
                event_ns=entry.event_ns,
                reason=f"notional_per_asset {self.config.notional_per_asset} below the minimum",
            )
            return
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=OrderSide.BUY,
            quantity=instrument.make_qty(quantity),
            time_in_force=TimeInForce.GTC,
            tags=[ENTRY],
        )
        trade = _Trade(entry.trade_id, instrument_id, entry.event_ns, order.client_order_id)
        self._track(trade, order.client_order_id)
        self.events.write(
            self.clock.timestamp_ns(),
            "entry_submitted",
            entry.asset,
            trade=entry.trade_id,
            order_id=order.client_order_id.value,
            event_ns=entry.event_ns,
            reference=entry.reference,
            quantity=float(quantity),
        )
        self.submit_order(order)

    def _track(self, trade: _Trade, order_id: ClientOrderId) -> None:
        self._trades[trade.trade_id] = trade
        self._trade_of_order[order_id] = trade.trade_id
        trade.orders.append(order_id)

    def _order(self, client_order_id: ClientOrderId | None) -> Order | None:
        return self.cache.order(client_order_id) if client_order_id is not None else None

    def _cancel_if_open(self, client_order_id: ClientOrderId | None) -> None:
        order = self._order(client_order_id)
        if order is not None and not order.is_closed:
            self.cancel_order(order)

    def _exit(self, exit_: Exit) -> None:
        """Sell the trade's filled quantity at market (cancelling an unfilled entry rest)."""
        trade = self._trades.get(exit_.trade_id)
        if trade is None:  # already stopped out
            return
        self._cancel_if_open(trade.entry_id)
        self._cancel_if_open(trade.stop_id)
        open_qty = trade.entry_qty - trade.exit_qty
        if open_qty <= 0:
            self.events.write(
                self.clock.timestamp_ns(),
                "exit_skipped",
                exit_.asset,
                trade=trade.trade_id,
                event_ns=trade.event_ns,
                reason="nothing filled at the exit bar",
            )
            self._drop(trade)
            return
        instrument = self._instruments[trade.instrument_id]
        order = self.order_factory.market(
            instrument_id=trade.instrument_id,
            order_side=OrderSide.SELL,
            quantity=instrument.make_qty(open_qty),
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[exit_.reason],
        )
        trade.exit_id = order.client_order_id
        self._track(trade, order.client_order_id)
        self.events.write(
            self.clock.timestamp_ns(),
            "exit_submitted",
            exit_.asset,
            trade=trade.trade_id,
            order_id=order.client_order_id.value,
            reason=exit_.reason,
            reference=exit_.reference,
            gain=exit_.gain,
        )
        self.submit_order(order, position_id=trade.position_id)

    def _submit_stop(self, trade: _Trade, order: Order) -> None:
        instrument = self._instruments[trade.instrument_id]
        fill_px = Decimal(str(order.avg_px))
        trigger = round_to_tick(
            fill_px * (1 - Decimal(str(self.config.stop_loss))),
            instrument.price_increment.as_decimal(),
            up=False,
        )
        stop = self.order_factory.stop_market(
            instrument_id=trade.instrument_id,
            order_side=OrderSide.SELL,
            quantity=order.filled_qty,
            trigger_price=instrument.make_price(trigger),
            trigger_type=self._trigger,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[STOP_LOSS],
        )
        trade.stop_id = stop.client_order_id
        self._track(trade, stop.client_order_id)
        self.events.write(
            self.clock.timestamp_ns(),
            "stop_submitted",
            symbol_of(trade.instrument_id),
            trade=trade.trade_id,
            order_id=stop.client_order_id.value,
            event_ns=trade.event_ns,
            trigger=float(trigger),
            quantity=float(order.filled_qty),
        )
        self.submit_order(stop, position_id=trade.position_id)

    # -- order events ----------------------------------------------------------------------------

    def _trade_for(self, client_order_id: ClientOrderId) -> _Trade | None:
        trade_id = self._trade_of_order.get(client_order_id)
        return self._trades.get(trade_id) if trade_id is not None else None

    def on_order_filled(self, event: OrderFilled) -> None:
        """Account every fill to its trade; place the optional stop; log the closed trade."""
        trade = self._trade_for(event.client_order_id)
        if trade is None:
            return
        qty = event.last_qty.as_decimal()
        value = event.last_px.as_decimal() * qty
        trade.fees += float(event.commission)
        if event.client_order_id == trade.entry_id:
            trade.entry_ns = trade.entry_ns or event.ts_event
            trade.entry_qty += qty
            trade.entry_value += value
            if trade.position_id is None:
                trade.position_id = event.position_id or self.cache.position_id(
                    event.client_order_id
                )
            self.events.write(
                event.ts_event,
                "entry_fill",
                symbol_of(event.instrument_id),
                trade=trade.trade_id,
                order_id=event.client_order_id.value,
                event_ns=trade.event_ns,
                price=float(event.last_px),
                quantity=float(event.last_qty),
                commission=float(event.commission),
            )
            order = self._order(event.client_order_id)
            if self.config.stop_loss is not None and order is not None and order.is_closed:
                self._submit_stop(trade, order)
            return
        trade.exit_qty += qty
        trade.exit_value += value
        trade.exit_ns = event.ts_event
        order = self._order(event.client_order_id)
        trade.exit_reason = (order.tags or ["?"])[0] if order is not None else "?"
        entry = self._order(trade.entry_id)
        if trade.exit_qty >= trade.entry_qty and (entry is None or entry.is_closed):
            self._close(trade)

    def _close(self, trade: _Trade) -> None:
        """The trade is flat: log it with its PnL after fees and forget it."""
        self._cancel_if_open(trade.stop_id)
        self._cancel_if_open(trade.exit_id)
        entry_price = trade.entry_value / trade.entry_qty
        notional = float(trade.entry_value)
        pnl = float(trade.exit_value - trade.entry_value) - trade.fees
        self.events.write(
            trade.exit_ns or self.clock.timestamp_ns(),
            "exit",
            symbol_of(trade.instrument_id),
            trade=trade.trade_id,
            reason=trade.exit_reason,
            event_ns=trade.event_ns,
            side="BUY",
            entry_ns=trade.entry_ns,
            exit_ns=trade.exit_ns,
            entry_price=float(entry_price),
            exit_price=float(trade.exit_value / trade.exit_qty),
            quantity=float(trade.entry_qty),
            pnl=pnl,
            fees=trade.fees,
            return_fraction=pnl / notional if notional else None,
        )
        self._drop(trade)

    def _drop(self, trade: _Trade) -> None:
        self._trades.pop(trade.trade_id, None)
        for order_id in trade.orders:
            self._trade_of_order.pop(order_id, None)
        self.planner.forget(trade.trade_id)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """A refused entry ends its trade; a refused exit or stop is logged (the trade stays)."""
        self.events.write(
            event.ts_event,
            "order_rejected",
            symbol_of(event.instrument_id),
            order_id=event.client_order_id.value,
            reason=event.reason,
        )
        self._on_closed_unfilled(event.client_order_id)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """An entry cancelled with nothing filled ends its trade."""
        self._on_closed_unfilled(event.client_order_id)

    def on_order_expired(self, event: OrderExpired) -> None:
        """Same as a cancel."""
        self._on_closed_unfilled(event.client_order_id)

    def _on_closed_unfilled(self, order_id: ClientOrderId) -> None:
        trade = self._trade_for(order_id)
        if trade is None or order_id != trade.entry_id:
            return
        if trade.entry_qty > 0:
            order = self._order(order_id)
            if self.config.stop_loss is not None and trade.stop_id is None and order is not None:
                self._submit_stop(trade, order)  # protect the partial fill
            if trade.exit_qty >= trade.entry_qty:
                self._close(trade)
            return
        self.events.write(
            self.clock.timestamp_ns(),
            "entry_unfilled",
            symbol_of(trade.instrument_id),
            trade=trade.trade_id,
            order_id=order_id.value,
            event_ns=trade.event_ns,
        )
        self._drop(trade)
