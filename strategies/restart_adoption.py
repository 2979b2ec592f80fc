"""Taking over, after a restart, what the venue still holds for a cascade market-maker.

One concern: a live or paper node's strategy starts again (a crash, a deploy, a reboot). The
node's reconciliation has loaded the venue's orders and positions into the cache (claimed by
the strategy through ``external_order_claims``); :class:`RestartAdoption` reads what the state
file (:mod:`liqcascade.strategies.cascade_state`) remembers and reconciles the two:

* a working entry keeps its timeout, counted from when it was sent (never from the restart);
* an open position gets one reduce-only take-profit and one stop covering it (extras an older
  session left are cancelled; missing ones are placed, priced from the persisted average fill
  price, else the position's ``avg_px_open``) and its max-hold timer is re-armed from the
  exchange's first fill time (closed at market at once when already past);
* a trade the file remembers but the venue no longer shows ended while the node was down: its
  leftover exits are cancelled and, if it had filled, the cooldown restarts from now.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderAccepted
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

from liqcascade.strategies.cascade_state import STOP_LOSS
from liqcascade.strategies.cascade_state import TAKE_PROFIT
from liqcascade.strategies.cascade_state import TIMEOUT
from liqcascade.strategies.cascade_state import TradeState
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL
from liqcascade.strategies.settled_timers import set_alert

if TYPE_CHECKING:
    from liqcascade.strategies.cascade_mm import CascadeMarketMaker

NS_PER_S = 1_000_000_000


def keep_one(
    orders: Sequence[Order], wanted: ClientOrderId | None
) -> tuple[Order | None, list[Order]]:
    """
    The one order to keep of several doing the same job, and the extras to cancel.

    The order the state file knows (``wanted``) is kept when it is among them, else the first:
    a crash between sending an order and saving its id must not leave two.
    """
    kept = next((o for o in orders if o.client_order_id == wanted), orders[0] if orders else None)
    return kept, [o for o in orders if o is not kept]


def accepted_ns(order: Order) -> int | None:
    """When the venue accepted ``order`` (its report's time for a reconciled order)."""
    return next((e.ts_event for e in order.events if isinstance(e, OrderAccepted)), None)


def first_fill_at_venue(position: Position, entry: Order | None, persisted_ns: int | None) -> int:
    """The exchange's time of the position's first fill, as far as anything here knows it.

    Candidates: the persisted first fill (an exchange timestamp), the entry's fills as the
    reconciliation rebuilt them from Bybit's execution list (exchange ``execTime``), and the
    position's opening. The earliest wins: a position reconciled from a bare position report
    opens at the reconciliation (its inferred fill), which must not restart the clock.
    """
    candidates = [position.ts_opened]
    if persisted_ns:
        candidates.append(persisted_ns)
    fills = [e.ts_event for e in entry.events if isinstance(e, OrderFilled)] if entry else []
    candidates.extend(fills)
    candidates.extend(e.ts_event for e in position.events)
    return min(candidates)


class RestartAdoption:
    """
    Adopt, at the host strategy's start, the entry and position the venue still holds.

    Runs once per start of a strategy with a ``state_path`` (live and paper nodes); backtests
    never call it. Orders are cancelled, placed and timed through the host, so they remain the
    strategy's own.

    Parameters
    ----------
    host : CascadeMarketMaker
        The strategy that restarts.

    """

    def __init__(self, host: CascadeMarketMaker) -> None:
        self.host = host

    def restore(self) -> None:
        """Load the saved state, then adopt what the venue still holds for this instrument."""
        host = self.host
        assert host._state is not None
        now = host.clock.timestamp_ns()
        host._session_start_ns = now
        saved = host._state.load()
        host._cooldown_until_ns = int(saved.get("cooldown_until_ns") or 0)
        host.losses.restore_own(saved.get("closed", []))
        if saved.get("detector"):
            host.detector.restore(saved["detector"])
        trade = saved.get("trade")
        if trade:
            host.trade = TradeState.from_json(trade)
        positions = host.cache.positions_open(instrument_id=host.instrument_id)
        mine = [p for p in positions if p.strategy_id == host.id]
        for other in positions:
            if other.strategy_id != host.id:
                # It still blocks new entries (the portfolio is not flat), but is not managed.
                host.log.warning(f"Open position {other.id} belongs to {other.strategy_id}")
        orders = host.cache.orders_open(instrument_id=host.instrument_id, strategy_id=host.id)
        entries = [o for o in orders if not o.is_reduce_only]
        exits = [o for o in orders if o.is_reduce_only]
        if not mine and not entries:
            self._on_trade_gone(trade, exits, now)
            return
        if entries:
            self._adopt_entry(entries, now)
        if mine:
            self._adopt_position(mine[0], exits, now)
        host.events.write(
            now,
            "restored",
            host.symbol,
            entry_id=host.trade.entry_id.value if host.trade.entry_id else None,
            position_id=mine[0].id.value if mine else None,
            quantity=float(mine[0].quantity) if mine else 0.0,
            exits=sorted(i.value for i in host.trade.exit_ids),
            first_fill_ns=host.trade.first_fill_ns,
            cooldown_until_ns=host._cooldown_until_ns,
        )
        host._save_state()

    def _on_trade_gone(self, trade: dict[str, Any] | None, exits: list[Order], now: int) -> None:
        """Nothing of ours is working at the venue: whatever the state file says has ended."""
        host = self.host
        for order in exits:  # reduce-only leftovers without a position can never act
            host._cancel(order)
        entry = host._order(host.trade.entry_id)
        filled = host.trade.first_fill_ns is not None or (
            entry is not None and entry.filled_qty > 0
        )
        if trade and filled:
            # Closed by its TP/SL at the venue while the node was down (when exactly is unknown:
            # the cooldown counts from now).
            host._cooldown_until_ns = max(
                host._cooldown_until_ns, now + int(host.config.cooldown_s * NS_PER_S)
            )
            host.events.write(now, "trade_ended_offline", host.symbol, **trade)
        elif trade:
            host.events.write(now, "entry_ended_offline", host.symbol, **trade)
        host.trade = TradeState()
        host._save_state()

    def _adopt_entry(self, entries: list[Order], now: int) -> None:
        host = self.host
        entry, extras = keep_one(entries, host.trade.entry_id)
        for other in extras:  # one entry per symbol: any other is a stray
            host.log.warning(f"Cancelling extra working order {other.client_order_id}")
            host._cancel(other)
        trade = host.trade
        if entry.client_order_id != trade.entry_id:
            trade.entry_submitted_ns = None  # not the one the state file knows
        trade.entry_id = entry.client_order_id
        trade.side = BUY if entry.side == OrderSide.BUY else SELL
        trade.repriced = True
        # Its age: when we sent it, else when the venue accepted it (never "now": an entry
        # older than its timeout must not get a fresh one at every restart).
        submitted = trade.entry_submitted_ns or accepted_ns(entry) or now
        trade.entry_submitted_ns = submitted
        deadline = submitted + int(host.config.entry_timeout_s * NS_PER_S)
        if deadline <= now:
            order_id = entry.client_order_id.value
            host.events.write(now, "entry_expired_offline", host.symbol, order_id=order_id)
            host._cancel(entry)
        else:
            set_alert(host.clock, host._timer_entry, deadline, host._on_entry_timeout)

    def _adopt_position(self, position: Position, exits: list[Order], now: int) -> None:
        host, trade = self.host, self.host.trade
        trade.side = BUY if position.is_long else SELL
        entry = host._order(trade.entry_id)
        trade.first_fill_ns = first_fill_at_venue(position, entry, trade.first_fill_ns)
        for order in exits:
            trade.roles.setdefault(order.client_order_id, host._role(order))
            trade.exit_ids.add(order.client_order_id)
        deadline = trade.first_fill_ns + int(host.config.max_hold_s * NS_PER_S)
        if deadline <= now:
            host._close_at_market(TIMEOUT)
            return
        self._adopt_exits(position, exits)
        set_alert(host.clock, host._timer_hold, deadline, host._on_max_hold)

    def _adopt_exits(self, position: Position, exits: list[Order]) -> None:
        """Keep one take-profit and one stop of those working (cancel extras: an older session
        may have left one pair per partial fill), then resize or place them for the position."""
        host, trade = self.host, self.host.trade
        for role in (TAKE_PROFIT, STOP_LOSS):
            current = trade.tp_id if role == TAKE_PROFIT else trade.sl_id
            keep, extras = keep_one([o for o in exits if host._role(o) == role], current)
            for extra in extras:
                host.log.warning(f"Cancelling extra {role} {extra.client_order_id}")
                host._cancel(extra)
            kept = keep.client_order_id if keep is not None else None
            if role == TAKE_PROFIT:
                trade.tp_id = kept
            else:
                trade.sl_id = kept
        missing_tp = trade.tp_id is None
        missing_sl = trade.sl_id is None and not host.config.native_stop
        if missing_tp or missing_sl:
            fill_px = trade.average_fill_price()
            if fill_px is None:
                fill_px = Decimal(str(position.avg_px_open))
            tp_price, sl_price = host.exits.prices(fill_px)
            quantity = float(position.quantity)
            host.events.write(
                host.clock.timestamp_ns(),
                "exits_restored",
                host.symbol,
                reference=float(fill_px),
                take_profit=float(tp_price) if missing_tp else None,
                take_profit_qty=quantity if missing_tp else 0.0,
                stop=float(sl_price) if missing_sl else None,
                stop_qty=quantity if missing_sl else 0.0,
            )
        host.exits.sync()
