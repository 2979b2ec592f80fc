"""System A: cascade market-making, as a NautilusTrader ``Strategy`` (one instance per symbol).

Flow (``../shared/seeds/000_*.txt``, sections 2-4 and 8):

1. Every ``LiquidationData`` goes to a
   :class:`~liqcascade.strategies.cascade_detector.CascadeDetector`.
2. On a declared cascade - at the receipt time of its second large liquidation - the admission
   rules check the one-position rule, the node's rules, the cooldown, trading hours, the
   exposure cap and loss limits.
3. A post-only limit order goes *into* the move: longs liquidated (price falling) -> BUY
   ``offset`` below the last price; shorts liquidated -> SELL above. The reference price is read
   from the cache (last trade, else quote mid, else last bar): no Python runs per trade tick.
4. The first entry fill places one reduce-only take-profit limit and one reduce-only
   stop-market; later (partial) fills resize them to the open position. When one of the pair
   fills, the other is cancelled (or reduced by a partial fill).
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

Around that flow, in modules of their own:

* :mod:`~liqcascade.strategies.cascade_mm_config` - the parameters and their checks.
* :mod:`~liqcascade.strategies.entry_admission` - the rules a cascade must pass (step 2).
* :mod:`~liqcascade.strategies.order_latency` - ``order_latency_ms``, on the strategy's clock.
* :mod:`~liqcascade.strategies.position_exits` - the position's one take-profit and one stop:
  placed, resized with each fill, replaced when gone, a refused stop retried (or the position
  closed), Bybit's native stop recognised.
* :mod:`~liqcascade.strategies.cascade_state` - restart safety (live and paper nodes:
  ``state_path`` set; backtests leave it ``None``): every state change (entry submitted, filled,
  exits placed, trade ended, cooldown started) is written atomically to one JSON file shared by
  a node's strategies, one section per instrument. The loss limits add up the closes recorded
  there (a restarted node's cache lacks earlier sessions') plus this session's others.
* :mod:`~liqcascade.strategies.restart_adoption` - on start, after the node's reconciliation has
  loaded the venue's orders and positions into the cache, the strategy adopts them: a working
  entry keeps its timeout, an open position its exits and max-hold deadline. No new entry while
  either exists.

A rejected market close (a simulated venue has no price before its first trade) is retried
every ``close_retry_s`` instead of being dropped (with ``state_path``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal

from nautilus_trader.common.component import TestClock
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import TimeInForce
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
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position
from nautilus_trader.trading.strategy import Strategy

from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.strategies.cascade_detector import LONG
from liqcascade.strategies.cascade_detector import Cascade
from liqcascade.strategies.cascade_detector import CascadeDetector
from liqcascade.strategies.cascade_detector import DetectorParams
from liqcascade.strategies.cascade_mm_config import NATIVE_TRIGGERS  # noqa: F401 (re-exported)
from liqcascade.strategies.cascade_mm_config import CascadeMarketMakerConfig
from liqcascade.strategies.cascade_state import ENTRY
from liqcascade.strategies.cascade_state import FLATTEN
from liqcascade.strategies.cascade_state import STOP_LOSS
from liqcascade.strategies.cascade_state import TAKE_PROFIT
from liqcascade.strategies.cascade_state import TIMEOUT
from liqcascade.strategies.cascade_state import LossRecords
from liqcascade.strategies.cascade_state import StrategyStateFile
from liqcascade.strategies.cascade_state import TradeState
from liqcascade.strategies.cascade_state import read_json  # noqa: F401 (re-exported)
from liqcascade.strategies.cascade_state import write_json_atomic  # noqa: F401 (re-exported)
from liqcascade.strategies.entry_admission import EntryAdmission
from liqcascade.strategies.event_log import EventLog
from liqcascade.strategies.order_latency import DelayedOrders
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL
from liqcascade.strategies.order_prices import entry_price
from liqcascade.strategies.order_prices import order_quantity
from liqcascade.strategies.position_exits import PositionExits
from liqcascade.strategies.restart_adoption import RestartAdoption
from liqcascade.strategies.settled_timers import set_alert

NS_PER_S = 1_000_000_000
NO_AGGRESSOR = AggressorSide.NO_AGGRESSOR
HISTORY_SAVE_NS = 60 * NS_PER_S
#: The reason Bybit gives when it cancels a post-only order that would take liquidity. On the
#: mainnet (trade websocket) path nautilus_trader 1.231 reports it as ``OrderRejected`` with
#: ``due_post_only=False``; the demo (REST) path sets the flag. Both mean the same here.
POST_ONLY_REJECT_REASON = "EC_PostOnlyWillTakeLiquidity"


class OptimisticFillsWarning(UserWarning):
    """A backtest's data lets the engine fill more than the market would have."""


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
        self.events = EventLog(config.event_log_path)
        self._bar_type = config.bar_type
        self._latency_ns = int(config.order_latency_ms * 1_000_000)
        self._state = (
            StrategyStateFile(config.state_path, config.instrument_id.value)
            if config.state_path
            else None
        )
        self.admission = EntryAdmission(self)
        self.exits = PositionExits(self)
        self.adoption = RestartAdoption(self)
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
        self.admission.gates.append(gate)

    def _clear_run_state(self) -> None:
        """Everything a run learns: a new strategy and a reset one start from the same point."""
        self.detector = CascadeDetector(DetectorParams(**self.config.detector_kwargs()))
        self.instrument: Instrument | None = None
        self.trade = TradeState()
        self._cooldown_until_ns = 0
        self.orders = DelayedOrders(self, self._latency_ns, self._still_wanted)
        self.losses = LossRecords(self._state)
        self._session_start_ns = 0  # set by the restart adoption: until then nothing is saved
        self._saved_ns = 0  # last state write
        self._checked_trade_data = False  # see _check_backtest_trades

    @property
    def _first_fill_ns(self) -> int | None:
        """The trade's first entry fill (exchange time), as the live restart tests read it."""
        return self.trade.first_fill_ns

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
        role = self.trade.roles.get(order.client_order_id)
        if role is not None:
            return role
        if not order.is_reduce_only:
            return ENTRY
        shapes = {OrderType.LIMIT: TAKE_PROFIT, OrderType.STOP_MARKET: STOP_LOSS}
        return shapes.get(order.order_type, TIMEOUT)

    # -- restart state (see cascade_state and restart_adoption) ----------------------------------

    def _save_state(self) -> None:
        """Write this symbol's state (no-op without ``state_path``)."""
        if self._state is None or not self._session_start_ns:
            return  # not restored yet (e.g. stopped for a missing instrument): keep the file
        trade = self.trade.to_json(lambda order_id: self._role(self._order(order_id)))
        now = self.clock.timestamp_ns()
        self._saved_ns = now
        self._state.save(
            {
                "strategy_id": self.id.value,
                "updated_ns": now,
                "cooldown_until_ns": self._cooldown_until_ns,
                "trade": trade,
                "closed": [list(r) for r in self.losses.own_this_week(now)],
                # The rolling threshold's history: without it a restart falls back to the
                # warm-start threshold for the next min_history liquidations (hours).
                "detector": self.detector.history(),
            }
        )

    def _on_account_position_event(self, event: object) -> None:
        """Note every position closed on the account (all strategies: the limits are global)."""
        if isinstance(event, PositionClosed) and event.realized_pnl is not None:
            pnl = float(event.realized_pnl)
            self.losses.note_account_close(event.position_id.value, event.ts_closed, pnl)

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
            self.adoption.restore()

    def on_stop(self) -> None:
        """
        Cancel a working entry; an open position keeps its reduce-only exits at the venue.

        Timers end with the node: the max-hold deadline is re-armed from the state file by the
        next start (``state_path``), not kept anywhere else.
        """
        entry = self._order(self.trade.entry_id)
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
            for order_id in [self.trade.entry_id, *self.trade.exit_ids]:
                self._cancel(self._order(order_id))
        for order in self.cache.orders_open(instrument_id=self.instrument_id, strategy_id=self.id):
            if (
                order.client_order_id not in self.trade.exit_ids
                or order.order_type != OrderType.MARKET
            ):
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
        if self.config.log_liquidations:
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
        self.events.write(cascade.declared_ns, event, self.symbol, **asdict(cascade))

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
        blocked = self.admission.blocked(cascade, now)
        if blocked is not None:
            self._skip(cascade, blocked)
            return
        reference = self._reference_price()
        if reference is None:
            self._skip(cascade, "no reference price yet")
            return
        self.trade.cascade = cascade
        self.trade.declared_ns = cascade.declared_ns
        self.trade.side = BUY if cascade.side == LONG else SELL
        if not self._submit_entry(reference):
            self.trade = TradeState()
        self._save_state()

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
            reference, self.trade.side, Decimal(str(self.config.entry_offset)), tick
        )
        quantity = order_quantity(
            Decimal(str(self.config.trade_notional)),
            price,
            instrument.size_increment.as_decimal(),
            instrument.min_quantity.as_decimal() if instrument.min_quantity else Decimal(0),
        )
        if quantity is None:
            self._skip(
                self.trade.cascade, f"trade_notional {self.config.trade_notional} below min size"
            )
            return False
        order = self.order_factory.limit(
            instrument_id=self.instrument_id,
            order_side=OrderSide.BUY if self.trade.side == BUY else OrderSide.SELL,
            quantity=instrument.make_qty(quantity),
            price=instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tags=[ENTRY],
        )
        self.trade.entry_id = order.client_order_id
        now = self.clock.timestamp_ns()
        self.trade.entry_submitted_ns = now
        self.orders.submit(order, self.exits.native_stop_params(price))
        set_alert(
            self.clock,
            self._timer_entry,
            now + int(self.config.entry_timeout_s * NS_PER_S),
            self._on_entry_timeout,
        )
        self.events.write(
            now,
            "entry_submitted",
            self.symbol,
            order_id=order.client_order_id.value,
            declared_ns=self.trade.cascade.declared_ns,
            side=self.trade.side,
            price=float(price),
            reference=float(reference),
            quantity=float(quantity),
            repriced=self.trade.repriced,
        )
        return True

    def _still_wanted(self, order: Order) -> bool:
        """Whether an order decided ``order_latency_ms`` ago still belongs to the trade."""
        order_id = order.client_order_id
        return order_id == self.trade.entry_id or order_id in self.trade.exit_ids

    def _open_position(self) -> Position | None:
        positions = self.cache.positions_open(instrument_id=self.instrument_id, strategy_id=self.id)
        return positions[0] if positions else None

    def _order(self, client_order_id: ClientOrderId | None) -> Order | None:
        return self.cache.order(client_order_id) if client_order_id is not None else None

    def _cancel(self, order: Order | None) -> None:
        """Cancel an order once: one already closed or with a cancel under way is left alone.

        An exit's sibling is cancelled on the exit's fill and again when the position closes a
        moment later; the framework refuses the second (``PENDING_CANCEL``) with a warning.
        """
        if order is not None and not order.is_closed and not order.is_pending_cancel:
            self.cancel_order(order)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Re-price a post-only-rejected entry once; retry or replace a refused stop."""
        if event.client_order_id == self.trade.entry_id:
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
                and not self.trade.repriced
                and self.trade.first_fill_ns is None
            )
            reference = self._reference_price() if retry else None
            if reference is not None:
                self.trade.repriced = True
                self.trade.entry_id = None
                if self._submit_entry(reference):
                    self._save_state()
                    return
            if self.trade.first_fill_ns is None:
                self.trade = TradeState()
            self._save_state()
        elif event.client_order_id in self.trade.exit_ids:
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
                self.exits.on_stop_rejected(event)

    def _retry_later(self, action: Callable[[], object]) -> None:
        self._cancel_timer(self._timer_close_retry)
        set_alert(
            self.clock,
            self._timer_close_retry,
            self.clock.timestamp_ns() + int(self.config.close_retry_s * NS_PER_S),
            lambda _: action(),
        )

    def on_order_filled(self, event: OrderFilled) -> None:
        """Resize the position's one TP and one SL to what is open after each fill."""
        if event.client_order_id == self.trade.entry_id:
            self._on_entry_fill(event)
        elif event.client_order_id in self.trade.exit_ids:
            self._on_exit_fill(event)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """An exit the venue now holds may be resized (a resize waits for the acceptance)."""
        self.exits.on_order_event(event.client_order_id)

    def on_order_updated(self, event: OrderUpdated) -> None:
        """A resize landed, or the venue resized its native stop: check against the position."""
        self.exits.on_order_event(event.client_order_id)

    def on_order_modify_rejected(self, event: OrderModifyRejected) -> None:
        """A resize was refused: the exits decide whether to replace or wait."""
        self.exits.on_modify_rejected(event.client_order_id, event.reason)

    def _on_entry_fill(self, event: OrderFilled) -> None:
        fill_px = event.last_px.as_decimal()
        if self.trade.first_fill_ns is None:
            self.trade.first_fill_ns = event.ts_event
            set_alert(
                self.clock,
                self._timer_hold,
                event.ts_event + int(self.config.max_hold_s * NS_PER_S),
                self._on_max_hold,
            )
        self.trade.add_fill(fill_px, event.last_qty.as_decimal())
        tp_price, sl_price = self.exits.prices(self.trade.average_fill_price())
        self.events.write(
            event.ts_event,
            "entry_fill",
            self.symbol,
            order_id=event.client_order_id.value,
            declared_ns=self.trade.declared_ns,
            side=self.trade.side,
            price=float(fill_px),
            quantity=float(event.last_qty),
            take_profit=float(tp_price),
            stop=float(sl_price),
            commission=float(event.commission),
        )
        self.exits.sync()
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
        self.exits.sync()
        if order is not None and order.order_type == OrderType.MARKET and not order.is_closed:
            # A market close that filled only in part (Bybit cancels the rest of a market order
            # beyond its slippage band; a simulated venue fills what the prints cover): send the
            # remainder again shortly rather than leave it open.
            role = self._role(order)
            self._retry_later(lambda: self._close_remainder(role))

    def _close_remainder(self, reason: str) -> None:
        if self._open_position() is not None:
            self._close_at_market(reason)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """An entry cancelled before any fill ends the trade (no cooldown: nothing was traded)."""
        self._on_entry_closed_unfilled(event.client_order_id, event.ts_event, "canceled")

    def on_order_expired(self, event: OrderExpired) -> None:
        """Same as a cancel (venues may expire instead)."""
        self._on_entry_closed_unfilled(event.client_order_id, event.ts_event, "expired")

    def _on_entry_closed_unfilled(self, order_id: ClientOrderId, ts: int, how: str) -> None:
        if order_id != self.trade.entry_id:
            return
        self._cancel_timer(self._timer_entry)
        if self.trade.first_fill_ns is None:
            self.events.write(ts, "entry_unfilled", self.symbol, order_id=order_id.value, how=how)
            self.trade = TradeState()
        self._save_state()

    # -- timers ----------------------------------------------------------------------------------

    def _cancel_timer(self, name: str) -> None:
        if name in self.clock.timer_names:
            self.clock.cancel_timer(name)

    def _on_entry_timeout(self, event: TimeEvent) -> None:
        entry = self._order(self.trade.entry_id)
        self._cancel(entry)

    def _on_max_hold(self, event: TimeEvent) -> None:
        self._close_at_market(TIMEOUT)

    def _close_at_market(self, reason: str) -> None:
        self.trade.closing = True
        self._cancel(self._order(self.trade.entry_id))
        for order_id in self.trade.exit_ids:
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
            self.trade.add_exit(close.client_order_id, reason)
            self.events.write(
                self.clock.timestamp_ns(),
                "market_close",
                self.symbol,
                reason=reason,
                order_id=close.client_order_id.value,
                quantity=float(position.quantity),
            )
            self.orders.submit(close)
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
        for order_id in [self.trade.entry_id, *self.trade.exit_ids]:
            self._cancel(self._order(order_id))
        position = self.cache.position(event.position_id)
        fees = sum(float(c) for c in position.commissions()) if position is not None else 0.0
        pnl = float(event.realized_pnl)
        self.events.write(
            event.ts_event,
            "exit",
            self.symbol,
            reason=reason,
            declared_ns=self.trade.declared_ns,
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
        self.trade = TradeState()
        if self._state is not None:
            self.losses.record_own_close(event.position_id.value, event.ts_closed, pnl)
            self._save_state()
