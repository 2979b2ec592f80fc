"""A fast *screen* of sweep settings: the strategy's rules replayed on prints, no engine.

Used to rank many settings when engine runs of all of them would take too long (the seed's
282 days x 5 symbols); the best are then run in the engine and **only engine figures are
reported** (:func:`liqcascade.backtests.sweep.search` never shows a screen figure as a result).
The screen's agreement with the engine is measured and printed by
``benchmarks/bench_sweep.py``.

What it replays, per symbol, with the same pure code the strategy runs (the
:class:`~liqcascade.strategies.cascade_detector.CascadeDetector`, ``entry_price``,
``exit_prices``, ``order_quantity``, :class:`~liqcascade.strategies.trading_gate.SessionRules`
and :class:`~liqcascade.strategies.trading_gate.LossLimits`):

* cascades from ``run.start`` on; one trade at a time per symbol, the cooldown after a close,
  trading hours, weekends, blackouts, the account-wide exposure cap and loss limits;
* the entry at ``entry_offset`` from the last print before the declaration, at the venue after
  the latency; a post-only limit that would cross the last print at its arrival is re-priced
  once from that print (a second cross skips the cascade); cancelled at ``entry_timeout``;
* a fill at the limit on the first print through it (``conservative``) or at it
  (``optimistic``; ``haircut`` counts a touch as a fill with ``fill_probability``);
* the exit: take-profit on the first print through (or at) its price, stop on the first print
  at or through it (filled there for that print's size, the rest one tick worse, as the engine
  does), else at market ``max_hold`` after the fill (the last print then); maker fees on entry
  and take-profit, taker on stop and timeout.

What it does not model (why it is a screen): partial fills and the order's size against the
prints' sizes, the liquidity a print has already given, an exit's own latency, and the
engine's stop walking thin prints. Those move single trades; the ranking of settings is what
it is for.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from liqcascade.backtests.execution_view import instrument_grid
from liqcascade.backtests.execution_view import read_liquidations
from liqcascade.backtests.execution_view import read_prints
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.trade_windows import Grid
from liqcascade.backtests.trade_windows import Prints
from liqcascade.backtests.trade_windows import SpanReplay
from liqcascade.backtests.trade_windows import declared_cascades
from liqcascade.backtests.trade_windows import since
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import entry_price
from liqcascade.strategies.order_prices import exit_prices
from liqcascade.strategies.order_prices import order_quantity
from liqcascade.strategies.trading_gate import LossLimits
from liqcascade.strategies.trading_gate import SessionRules
from liqcascade.strategies.trading_gate import parse_utc

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class ScreenTrade:
    """A replayed round trip."""

    symbol: str
    declared_ns: int
    side: str
    entry_ns: int
    exit_ns: int
    entry_price: float
    exit_price: float
    quantity: float
    pnl: float
    exit_reason: str


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _replay(
    symbol: str,
    declared_ns: int,
    side: str,
    strategy: Any,
    spec: RunSpec,
    prints: Prints,
    grid: Grid,
    rng: np.random.Generator,
) -> ScreenTrade | int | None:
    """One cascade: a trade, ``None`` (nothing happened), or the ns the entry was cancelled."""
    tick = grid.tick
    latency = int(spec.venue.latency_ms * 1_000_000)
    ts, ticks = prints.ts, prints.ticks
    sign = 1 if side == BUY else -1
    before = int(np.searchsorted(ts, declared_ns, side="left")) - 1
    if before < 0:
        return None  # no reference price
    offset = Decimal(str(strategy.entry_offset))
    reference = Decimal(int(ticks[before])) * tick
    submitted = declared_ns
    for _ in range(2):  # the entry, and one re-price after a post-only rejection
        limit_price = entry_price(reference, side, offset, tick)
        limit = int(limit_price / tick)
        arrival = submitted + latency
        last = int(np.searchsorted(ts, arrival, side="right")) - 1
        if sign * (int(ticks[last]) - limit) > 0:  # rests: it does not cross the last print
            break
        reference = Decimal(int(ticks[last])) * tick  # rejected: re-priced from the then-price
        submitted = arrival
    else:
        return None
    quantity = order_quantity(
        Decimal(str(strategy.trade_notional)), limit_price, grid.step, grid.min_qty
    )
    if quantity is None:
        return None
    deadline = declared_ns + int(strategy.entry_timeout_s * NS_PER_S)
    i0 = int(np.searchsorted(ts, arrival, side="right"))
    i1 = int(np.searchsorted(ts, deadline, side="right"))
    distance = sign * (ticks[i0:i1] - limit)
    fills = spec.venue.fills
    through = distance < 0
    if fills == "optimistic":
        hit = _first(distance <= 0)
    elif fills == "haircut":
        touches = distance <= 0
        lucky = touches & (rng.random(len(touches)) < spec.venue.fill_probability)
        hit = _first(through | lucky)
    else:
        hit = _first(through)
    if hit is None:
        return deadline  # unfilled: the entry worked until its cancel
    fill_ns = int(ts[i0 + hit])
    take_profit, stop = exit_prices(
        limit_price, side, Decimal(str(strategy.take_profit)),
        Decimal(str(strategy.stop_loss)), tick,
    )  # fmt: skip
    tp, sl = int(take_profit / tick), int(stop / tick)
    hold_end = fill_ns + int(strategy.max_hold_s * NS_PER_S)
    j0 = i0 + hit + 1
    j1 = int(np.searchsorted(ts, hold_end, side="right"))
    moves = sign * ticks[j0:j1]
    tp_hit = _first(moves > sign * tp) if fills == "conservative" else _first(moves >= sign * tp)
    sl_hit = _first(moves <= sign * sl)
    if tp_hit is not None and (sl_hit is None or tp_hit < sl_hit):
        exit_ns, exit_tick, reason = int(ts[j0 + tp_hit]), tp, "TP"
    elif sl_hit is not None:
        exit_ns, exit_tick, reason = int(ts[j0 + sl_hit]), int(ticks[j0 + sl_hit]), "SL"
        # The engine fills what the triggering print covers there, the rest one tick worse.
        covered = min(float(prints.sizes[j0 + sl_hit]), float(quantity)) / float(quantity)
        exit_tick = exit_tick - sign * (1 - covered)
    else:
        at = int(np.searchsorted(ts, hold_end + latency, side="right")) - 1
        exit_ns, exit_tick, reason = hold_end + latency, int(ticks[at]), "TIMEOUT"
    entry, exit_ = float(limit_price), float(exit_tick) * float(tick)
    qty = float(quantity)
    maker = spec.venue.maker_fee_bps / 10_000
    taker = spec.venue.taker_fee_bps / 10_000
    if spec.venue.cost_per_trade_bps is not None:
        fees = spec.venue.cost_per_trade_bps / 10_000 * entry * qty
    else:
        fees = maker * entry * qty + (maker if reason == "TP" else taker) * exit_ * qty
    pnl = sign * qty * (exit_ - entry) - fees
    return ScreenTrade(symbol, declared_ns, side, fill_ns, exit_ns, entry, exit_, qty, pnl, reason)


class _OutcomeReplay(SpanReplay):
    """Each cascade's would-be trade, from the prints streamed past it (one symbol)."""

    def __init__(
        self,
        symbol: str,
        spec: RunSpec,
        liquidations: Any,
        grid: Grid,
        start_ns: int | None,
        declared: list[tuple[int, str]],
        seed: int,
    ) -> None:
        from liqcascade.backtests.trade_windows import _config

        strategy = spec.strategies[symbol]
        latency_ns = int(spec.venue.latency_ms * 1_000_000)
        super().__init__(liquidations, strategy, latency_ns, grid, start_ns, declared)
        self.horizon_ns += 3 * latency_ns  # a re-priced entry, the market close's latency
        self.symbol, self.spec, self.config = symbol, spec, _config(strategy)
        self.rng = np.random.default_rng(seed)

    def replay_cascade(self, declared_ns: int, side: str, prints: Prints) -> Any:
        outcome = _replay(
            self.symbol, declared_ns, side, self.config, self.spec, prints, self.grid, self.rng
        )
        return declared_ns, side, outcome


def screen_runs(specs: Sequence[RunSpec], seed: int = 0) -> list[list[ScreenTrade]]:
    """
    Screen several resolved runs (System A) of one catalog in one pass over its prints.

    Each symbol's prints are read once, in file-sized chunks, and streamed past every run's
    cascades (memory: the prints one cascade needs, not the symbol's history); cascades are
    detected once per detector parameters. Then each run's gate (one trade per symbol,
    cooldown, sessions, exposure cap, loss limits) picks the trades, in time order across
    symbols. Returns each run's trades in exit order.
    """
    from liqcascade.backtests.trade_windows import detector_params

    catalogs = {spec.catalog for spec in specs}
    if len(catalogs) != 1:
        raise ValueError("screen_runs: the runs must share one catalog")
    catalog = Path(next(iter(catalogs)))
    outcomes: list[dict[str, list[Any]]] = [{} for _ in specs]
    symbols = sorted({symbol for spec in specs for symbol in spec.symbols})
    for symbol in symbols:
        instrument_id = instrument_id_for(symbol)
        grid = instrument_grid(catalog, instrument_id)
        if grid is None:
            raise ValueError(f"{catalog}: no instrument definition for {instrument_id}")
        liquidations = read_liquidations(catalog, instrument_id)
        detected: dict[str, list[tuple[int, str]]] = {}
        replays: dict[int, _OutcomeReplay] = {}
        for index, spec in enumerate(specs):
            if symbol not in spec.symbols:
                continue
            strategy = spec.strategies[symbol]
            start_ns = parse_utc(spec.start) if spec.start else None
            key = repr((start_ns, sorted(detector_params(strategy).items())))
            if key not in detected:
                detected[key] = declared_cascades(since(liquidations, start_ns), strategy)
            replays[index] = _OutcomeReplay(
                symbol, spec, liquidations, grid, start_ns, detected[key], seed
            )
        folder = catalog / "data" / TRADES.directory / instrument_id
        files = sorted(folder.glob("*.parquet")) if folder.exists() else []
        for chunk in read_prints(files, grid.tick):
            for replay in replays.values():
                replay.feed(chunk)
        for index, replay in replays.items():
            outcomes[index][symbol] = replay.finish()
    return [_gate(spec, outcomes[i]) for i, spec in enumerate(specs)]


def screen(spec: RunSpec, seed: int = 0) -> list[ScreenTrade]:
    """Screen one resolved run; its trades in exit order."""
    return screen_runs([spec], seed)[0]


def _gate(spec: RunSpec, per_symbol: dict[str, list[Any]]) -> list[ScreenTrade]:
    """The run's trades: the strategy's gate over every symbol's would-be trades, in order."""
    from liqcascade.backtests.trade_windows import _config

    end_ns = parse_utc(spec.end) if spec.end else None
    events = [
        (declared_ns, symbol, outcome)
        for symbol, items in per_symbol.items()
        for declared_ns, _, outcome in items
        if end_ns is None or declared_ns <= end_ns
    ]
    events.sort(key=lambda e: (e[0], e[1]))
    busy_until: dict[str, int] = {}
    cooldown_until: dict[str, int] = {}
    closed: list[tuple[int, float]] = []  # (exit ns, pnl) of trades closed so far
    pending: list[tuple[int, int, float]] = []  # heap of (exit ns, order, pnl) not yet closed
    trades: list[ScreenTrade] = []
    balance = spec.starting_balance
    configs = {symbol: _config(spec.strategies[symbol]) for symbol in spec.symbols}
    sessions = {
        symbol: SessionRules(
            tuple(c.trading_hours) if c.trading_hours else None,
            c.skip_weekends,
            tuple((parse_utc(a), parse_utc(b)) for a, b in (c.blackouts or [])),
        )
        for symbol, c in configs.items()
    }
    for declared_ns, symbol, outcome in events:
        strategy = configs[symbol]
        while pending and pending[0][0] <= declared_ns:
            exit_ns, _, pnl = heapq.heappop(pending)
            closed.append((exit_ns, pnl))
            balance += pnl
        if busy_until.get(symbol, 0) > declared_ns:
            continue  # position or entry already working
        if cooldown_until.get(symbol, 0) > declared_ns:
            continue
        if sessions[symbol].blocked(declared_ns) is not None:
            continue
        cap = strategy.max_open_symbols
        if cap is not None:
            exposed = sum(1 for until in busy_until.values() if until > declared_ns)
            if exposed >= cap:
                continue
        limits = LossLimits(strategy.daily_loss_limit, strategy.weekly_loss_limit)
        if limits.blocked(declared_ns, balance, closed) is not None:
            continue
        if outcome is None:
            continue
        if isinstance(outcome, int):  # unfilled: busy until its cancel, no cooldown
            busy_until[symbol] = outcome
            continue
        if end_ns is not None and outcome.exit_ns > end_ns:
            continue  # the run ends first: the engine leaves it open (no round trip)
        trades.append(outcome)
        busy_until[symbol] = outcome.exit_ns
        cooldown_until[symbol] = outcome.exit_ns + int(strategy.cooldown_s * NS_PER_S)
        heapq.heappush(pending, (outcome.exit_ns, len(trades), outcome.pnl))
    return sorted(trades, key=lambda t: t.exit_ns)


def screen_records(spec: RunSpec, trades: Sequence[ScreenTrade]) -> Any:
    """The screen's trades as run records (no cascades or signals: trade figures only)."""
    from liqcascade.backtests.catalog_reads import data_span
    from liqcascade.backtests.records import RunRecords
    from liqcascade.backtests.records import TradeRecord

    start_ns, end_ns = data_span(spec.catalog, spec.symbols, spec.start, spec.end)
    return RunRecords(
        name=f"{spec.name} (screen)",
        symbols=spec.symbols,
        start_ns=start_ns,
        end_ns=end_ns,
        starting_balance=spec.starting_balance,
        cascades=(),
        signals=(),
        trades=tuple(
            TradeRecord(
                symbol=t.symbol,
                side=t.side,
                declared_ns=t.declared_ns,
                entry_ns=t.entry_ns,
                exit_ns=t.exit_ns,
                entry_price=t.entry_price,
                exit_price=t.exit_price,
                quantity=t.quantity,
                pnl=t.pnl,
                fees=0.0,
                exit_reason=t.exit_reason,
            )
            for t in trades
        ),
    )


def agreement(screened: Sequence[ScreenTrade], engine: Sequence[dict[str, Any]]) -> dict:
    """
    How the screen's trades of one setting compare with the engine's (its result row's).

    Returns the trade counts, the share of the engine's trades the screen also made (same
    symbol and cascade), the share of those with the same exit reason, and both total PnLs.
    """
    mine = {(t.symbol, t.declared_ns): t for t in screened}
    theirs = {(t["symbol"], t["declared_ns"]): t for t in engine}
    both = mine.keys() & theirs.keys()
    same_exit = sum(mine[k].exit_reason == theirs[k]["exit_reason"] for k in both)
    return {
        "engine_trades": len(theirs),
        "screen_trades": len(mine),
        "matched_share": len(both) / len(theirs) if theirs else None,
        "same_exit_share": same_exit / len(both) if both else None,
        "engine_pnl": sum(t["pnl"] for t in engine),
        "screen_pnl": sum(t.pnl for t in screened),
    }
