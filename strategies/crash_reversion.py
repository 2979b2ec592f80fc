"""System B: cross-asset crash mean-reversion, as ONE NautilusTrader ``Strategy`` over many assets.

Flow (``../shared/seeds/002_*.txt``, "Methodology"):

1. Every closed bar of every configured instrument goes to one
   :class:`~liqcascade.strategies.crash_detector.CrashDetector`. A crash event is ``min_assets`` (3)
   assets with a 1 h and 2 h drop on a volume spike at the same bar close.
2. **Entry** - "entry at close of crash candle": the moment the ``min_assets``-th qualifying bar
   arrives, each founding asset is bought with a market order; an asset whose bar at the same
   close time qualifies later joins the event and is bought when its bar arrives. In a
   bar-driven backtest (venue ``bar_execution=True``) the engine's price of an asset is then its
   crash bar's close, and the fill is stamped at that close time: that IS the next executable
   price after the close with an instant reaction (no bar of the future is used). Slippage and
   any extra cost are modelled by the fee model's taker bps (the runner sets them), not by
   moving the price. Live, the fill comes at the market price a moment after the bar closes.
3. **Exit** - "hold for 1-2 hours": the position is closed at market at the close of the bar
   whose close time is ``crash close + hold_bars * interval``, from ``on_bar`` of that instrument
   (a clock timer at exactly that time would fire before that bar is processed, i.e. one bar
   early in price). If that bar is missing (a gap), the first later bar closes it.
4. **Optional stop** (off by default; the seed has none): a reduce-only stop-market at
   ``entry fill * (1 - stop_loss)`` (floored to the tick), placed once the entry has filled.
5. An asset that is held (or whose entry or exit is in flight) is not bought again; the skip is
   logged. Everything - crash events with their assets and numbers, joins, skips, entries, fills,
   exits with PnL - goes to the JSON-lines :class:`~liqcascade.strategies.event_log.EventLog`.

Positions still open when the strategy stops are logged as ``open_at_end`` and left alone (a
report counts closed round trips only).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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
from nautilus_trader.model.events import PositionClosed
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.instruments import symbol_of as venue_symbol
from liqcascade.strategies.crash_detector import AssetCrash
from liqcascade.strategies.crash_detector import CrashDetector
from liqcascade.strategies.crash_detector import CrashParams
from liqcascade.strategies.crash_detector import CrashSignal
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.order_prices import round_to_tick

ENTRY, HOLD, STOP_LOSS = "ENTRY", "HOLD", "SL"
ALL_ASSETS = "*"  # event-log symbol of cross-asset events


class CrashReversionConfig(StrategyConfig, frozen=True):
    """
    Parameters of the cross-asset crash reversion (fractions, not percent).

    Parameters
    ----------
    instrument_ids : list[str]
        The universe, e.g. ``["BTCUSDT-LINEAR.BYBIT", "ETHUSDT-LINEAR.BYBIT", ...]``.
    bar_spec : str
        Bars subscribed per instrument: bar type ``f"{instrument_id}-{bar_spec}"``. The bar
        interval follows from it (``1-HOUR`` -> 1 h).
    threshold_mode, r1_bars, r2_bars, r1_drop, r2_drop, drop_quantile, volume_quantile,
    lookback, min_history, require_both, min_assets
        Crash detection, see :class:`~liqcascade.strategies.crash_detector.CrashParams`.
    hold_bars : int
        Bars to hold after the crash bar (2 = exit at the close 2 h later on 1 h bars).
    notional_per_asset : float
        Entry size per crashing asset in USDT (floored to the lot step).
    stop_loss : float | None
        Reduce-only stop distance below the entry fill (0.05 = 5 %); ``None`` = no stop.
    stop_trigger : str
        Stop trigger price type (``LAST_PRICE``, ``MARK_PRICE``, ``INDEX_PRICE``).
    event_log_path : str | None
        JSON-lines event log; ``None`` disables it.
    subscribe_trades : bool
        Also subscribe to trade ticks. Live nodes need it: the paper venue fills market orders
        from the trades the node receives, and the cache only holds subscribed data. Backtests
        run on bars alone.

    """

    instrument_ids: list[str]
    bar_spec: str = "1-HOUR-LAST-EXTERNAL"
    threshold_mode: str = "fixed"
    r1_bars: int = 1
    r2_bars: int = 2
    r1_drop: float = -0.02
    r2_drop: float = -0.03
    drop_quantile: float = 0.05
    volume_quantile: float = 0.95
    lookback: int = 720
    min_history: int = 168
    require_both: bool = True
    min_assets: int = 3
    hold_bars: int = 2
    notional_per_asset: float = 1000.0
    stop_loss: float | None = None
    stop_trigger: str = "LAST_PRICE"
    event_log_path: str | None = None
    subscribe_trades: bool = False

    def __post_init__(self) -> None:
        if not self.instrument_ids:
            raise ValueError("instrument_ids must name at least one instrument")
        if len(set(self.instrument_ids)) != len(self.instrument_ids):
            raise ValueError(f"instrument_ids has duplicates: {self.instrument_ids}")
        for instrument_id in self.instrument_ids:
            InstrumentId.from_str(instrument_id)  # raises naming the bad id
        try:
            bar_type = BarType.from_str(f"{self.instrument_ids[0]}-{self.bar_spec}")
        except ValueError as e:
            raise ValueError(f"bar_spec is invalid: {self.bar_spec!r} ({e})") from e
        if not bar_type.spec.is_time_aggregated():
            raise ValueError(f"bar_spec must be time-aggregated, got {self.bar_spec!r}")
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
        CrashParams(**self.detector_kwargs())  # validates the detector fields by name

    @property
    def interval_ns(self) -> int:
        """Bar length in nanoseconds, from ``bar_spec``."""
        return BarType.from_str(f"{self.instrument_ids[0]}-{self.bar_spec}").spec.get_interval_ns()

    def detector_kwargs(self) -> dict[str, float | int | str | bool]:
        """The detector's parameters."""
        return {
            "interval_ns": self.interval_ns,
            "r1_bars": self.r1_bars,
            "r2_bars": self.r2_bars,
            "threshold_mode": self.threshold_mode,
            "r1_drop": self.r1_drop,
            "r2_drop": self.r2_drop,
            "drop_quantile": self.drop_quantile,
            "volume_quantile": self.volume_quantile,
            "lookback": self.lookback,
            "min_history": self.min_history,
            "require_both": self.require_both,
            "min_assets": self.min_assets,
        }


@dataclass
class _Trade:
    """One asset's round trip, from the entry order to flat."""

    event_ns: int
    exit_due_ns: int
    entry_id: ClientOrderId
    stop_id: ClientOrderId | None = None
    exit_id: ClientOrderId | None = None
    entry_ns: int | None = None


def symbol_of(instrument_id: InstrumentId) -> str:
    """``ETHUSDT-LINEAR.BYBIT`` -> ``ETHUSDT`` (the detector's and event log's asset name)."""
    return venue_symbol(instrument_id.value)


class CrashReversion(Strategy):
    """
    Buy every asset of a cross-asset crash at the crash bar's close; sell ``hold_bars`` later.

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
        self.detector = CrashDetector(CrashParams(**config.detector_kwargs()))
        self.events = EventLog(config.event_log_path)
        self._by_symbol = {symbol_of(i): i for i in self.instrument_ids}
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._trades: dict[InstrumentId, _Trade] = {}
        self._trigger = TriggerType[config.stop_trigger]

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
        """Log positions still open (they keep any stop at the venue) and close the log."""
        now = self.clock.timestamp_ns()
        for instrument_id, trade in self._trades.items():
            self.events.write(
                now,
                "open_at_end",
                symbol_of(instrument_id),
                event_ns=trade.event_ns,
                entry_ns=trade.entry_ns,
                exit_due_ns=trade.exit_due_ns,
            )
        self.events.close()

    # -- bars ------------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Exit what is due at this bar's close, then feed the bar to the crash detector."""
        instrument_id = bar.bar_type.instrument_id
        if instrument_id not in self._instruments:
            return
        trade = self._trades.get(instrument_id)
        if trade is not None and trade.exit_id is None and bar.ts_event >= trade.exit_due_ns:
            self._exit(instrument_id, trade)
        signal = self.detector.on_bar(
            symbol_of(instrument_id), bar.ts_event, float(bar.close), float(bar.volume)
        )
        if signal is not None:
            self._on_signal(signal)

    def _on_signal(self, signal: CrashSignal) -> None:
        event = signal.event
        if signal.joined:
            member = event.members[-1]
            self.events.write(
                event.ts_ns, "crash_join", member.asset, event_ns=event.ts_ns, **_stats(member)
            )
        else:
            self.events.write(
                event.ts_ns,
                "crash",
                ALL_ASSETS,
                event_ns=event.ts_ns,
                assets=event.assets,
                declared_by=event.declared_by,
                members=[m.as_dict() for m in event.members],
            )
        closes = {m.asset: m.close for m in event.members}
        for asset in signal.new_assets:
            self._enter(self._by_symbol[asset], event.ts_ns, closes[asset])

    # -- orders ----------------------------------------------------------------------------------

    def _skip(self, instrument_id: InstrumentId, event_ns: int, reason: str) -> None:
        self.log.info(f"Crash entry skipped for {instrument_id}: {reason}")
        self.events.write(
            self.clock.timestamp_ns(),
            "skip",
            symbol_of(instrument_id),
            event_ns=event_ns,
            reason=reason,
        )

    def _enter(self, instrument_id: InstrumentId, event_ns: int, close: float) -> None:
        if instrument_id in self._trades or not self.portfolio.is_flat(instrument_id):
            self._skip(instrument_id, event_ns, "already held")
            return
        instrument = self._instruments[instrument_id]
        price = Decimal(str(close))
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
            self._skip(
                instrument_id,
                event_ns,
                f"notional_per_asset {self.config.notional_per_asset} below the minimum order",
            )
            return
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=OrderSide.BUY,
            quantity=instrument.make_qty(quantity),
            time_in_force=TimeInForce.GTC,
            tags=[ENTRY],
        )
        self._trades[instrument_id] = _Trade(
            event_ns=event_ns,
            exit_due_ns=event_ns + self.config.hold_bars * self.interval_ns,
            entry_id=order.client_order_id,
        )
        self.events.write(
            self.clock.timestamp_ns(),
            "entry_submitted",
            symbol_of(instrument_id),
            order_id=order.client_order_id.value,
            event_ns=event_ns,
            reference=close,
            quantity=float(quantity),
            exit_due_ns=event_ns + self.config.hold_bars * self.interval_ns,
        )
        self.submit_order(order)

    def _order(self, client_order_id: ClientOrderId | None) -> Order | None:
        return self.cache.order(client_order_id) if client_order_id is not None else None

    def _cancel_if_open(self, client_order_id: ClientOrderId | None) -> None:
        order = self._order(client_order_id)
        if order is not None and not order.is_closed:
            self.cancel_order(order)

    def _exit(self, instrument_id: InstrumentId, trade: _Trade) -> None:
        """Close at market at this bar's close (cancelling an unfilled entry and the stop)."""
        self._cancel_if_open(trade.entry_id)
        self._cancel_if_open(trade.stop_id)
        positions = self.cache.positions_open(instrument_id=instrument_id, strategy_id=self.id)
        if not positions:
            self.events.write(
                self.clock.timestamp_ns(),
                "exit_skipped",
                symbol_of(instrument_id),
                event_ns=trade.event_ns,
                reason="no open position at the exit bar",
            )
            self._trades.pop(instrument_id, None)
            return
        for position in positions:
            order = self.order_factory.market(
                instrument_id=instrument_id,
                order_side=OrderSide.SELL if position.is_long else OrderSide.BUY,
                quantity=position.quantity,
                time_in_force=TimeInForce.GTC,
                reduce_only=True,
                tags=[HOLD],
            )
            trade.exit_id = order.client_order_id
            self.submit_order(order)

    def _submit_stop(self, instrument_id: InstrumentId, trade: _Trade, order: Order) -> None:
        instrument = self._instruments[instrument_id]
        fill_px = Decimal(str(order.avg_px))
        trigger = round_to_tick(
            fill_px * (1 - Decimal(str(self.config.stop_loss))),
            instrument.price_increment.as_decimal(),
            up=False,
        )
        stop = self.order_factory.stop_market(
            instrument_id=instrument_id,
            order_side=OrderSide.SELL,
            quantity=order.filled_qty,
            trigger_price=instrument.make_price(trigger),
            trigger_type=self._trigger,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            tags=[STOP_LOSS],
        )
        trade.stop_id = stop.client_order_id
        self.events.write(
            self.clock.timestamp_ns(),
            "stop_submitted",
            symbol_of(instrument_id),
            order_id=stop.client_order_id.value,
            event_ns=trade.event_ns,
            trigger=float(trigger),
            quantity=float(order.filled_qty),
        )
        self.submit_order(stop)

    def on_order_filled(self, event: OrderFilled) -> None:
        """Log entry fills; once the entry is complete, place the optional stop."""
        trade = self._trades.get(event.instrument_id)
        if trade is None or event.client_order_id != trade.entry_id:
            return
        if trade.entry_ns is None:
            trade.entry_ns = event.ts_event
        self.events.write(
            event.ts_event,
            "entry_fill",
            symbol_of(event.instrument_id),
            order_id=event.client_order_id.value,
            event_ns=trade.event_ns,
            price=float(event.last_px),
            quantity=float(event.last_qty),
            commission=float(event.commission),
        )
        order = self._order(event.client_order_id)
        if self.config.stop_loss is not None and order is not None and order.is_closed:
            self._submit_stop(event.instrument_id, trade, order)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """An entry refused by the venue ends its trade; a refused stop leaves the hold exit."""
        self.events.write(
            event.ts_event,
            "order_rejected",
            symbol_of(event.instrument_id),
            order_id=event.client_order_id.value,
            reason=event.reason,
        )
        self._on_closed_unfilled(event.instrument_id, event.client_order_id)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """An entry cancelled with nothing filled ends its trade."""
        self._on_closed_unfilled(event.instrument_id, event.client_order_id)

    def on_order_expired(self, event: OrderExpired) -> None:
        """Same as a cancel."""
        self._on_closed_unfilled(event.instrument_id, event.client_order_id)

    def _on_closed_unfilled(self, instrument_id: InstrumentId, order_id: ClientOrderId) -> None:
        trade = self._trades.get(instrument_id)
        if trade is None or order_id != trade.entry_id:
            return
        order = self._order(order_id)
        if order is not None and order.filled_qty > 0:
            if self.config.stop_loss is not None and trade.stop_id is None:
                self._submit_stop(instrument_id, trade, order)  # protect the partial fill
            return
        self.events.write(
            self.clock.timestamp_ns(),
            "entry_unfilled",
            symbol_of(instrument_id),
            order_id=order_id.value,
            event_ns=trade.event_ns,
        )
        del self._trades[instrument_id]

    # -- positions -------------------------------------------------------------------------------

    def on_position_closed(self, event: PositionClosed) -> None:
        """Record the round trip with its PnL and cancel what is left of it."""
        trade = self._trades.pop(event.instrument_id, None)
        closing = self._order(event.closing_order_id)
        reason = (closing.tags or ["?"])[0] if closing is not None else "?"
        if trade is not None:
            self._cancel_if_open(trade.stop_id)
            self._cancel_if_open(trade.entry_id)
        position = self.cache.position(event.position_id)
        fees = sum(float(c) for c in position.commissions()) if position is not None else 0.0
        quantity = float(event.peak_qty)
        notional = float(event.avg_px_open) * quantity
        pnl = float(event.realized_pnl)
        self.events.write(
            event.ts_event,
            "exit",
            symbol_of(event.instrument_id),
            reason=reason,
            event_ns=trade.event_ns if trade is not None else None,
            side="BUY" if event.entry == OrderSide.BUY else "SELL",
            entry_ns=event.ts_opened,
            exit_ns=event.ts_closed,
            entry_price=float(event.avg_px_open),
            exit_price=float(event.avg_px_close),
            quantity=quantity,
            pnl=pnl,
            fees=fees,
            return_fraction=pnl / notional if notional else None,
        )


def _stats(member: AssetCrash) -> dict[str, object]:
    stats = member.as_dict()
    stats.pop("symbol")
    return stats
