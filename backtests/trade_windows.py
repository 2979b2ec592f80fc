"""Trade windows: how long each cascade can need trade prints, from the strategy's own rules.

Pure functions on numpy arrays and ``Decimal`` (no files, no engine), so every branch is
unit-testable. :mod:`liqcascade.backtests.execution_view` reads the catalog into :class:`Prints`,
cuts the trades a backtest is fed with these windows, and checks the finished run against them.

The strategy holds no order or position outside ``[declaration, declaration + entry_timeout +
max_hold + margin]`` of some cascade, and cascades depend only on liquidations, so only prints
inside those windows - plus the last print before each, the entry's reference price - can
change a result. :func:`cascade_span` then replays the entry (and, speculatively, the exit)
to end each window earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from liqcascade.strategies.cascade_detector import LONG
from liqcascade.strategies.cascade_detector import CascadeDetector
from liqcascade.strategies.cascade_detector import DetectorParams
from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL
from liqcascade.strategies.order_prices import entry_price
from liqcascade.strategies.order_prices import exit_prices
from liqcascade.strategies.order_prices import order_quantity

NS_PER_S = 1_000_000_000
#: Extra time after entry timeout + max hold: order latency and the market close's fill.
WINDOW_MARGIN_NS = 120 * NS_PER_S
#: Kept after a replayed exit: more partial exits, a stop walking thin prints, the latency.
EXIT_MARGIN_NS = 120 * NS_PER_S

#: What the entry replay found for a cascade (see :func:`cascade_span`).
UNFILLED, FILLABLE, FULL = "unfilled", "fillable", "full"


def margins() -> dict[str, int]:
    """The margins in force (part of a cached view's key)."""
    return {"window_margin_ns": WINDOW_MARGIN_NS, "exit_margin_ns": EXIT_MARGIN_NS}


@dataclass(frozen=True)
class WindowRules:
    """The strategy parameters a trade window depends on."""

    entry_offset: Decimal
    entry_timeout_ns: int
    max_hold_ns: int
    latency_ns: int
    take_profit: Decimal = Decimal("0.0015")
    stop_loss: Decimal = Decimal("0.0025")
    trade_notional: Decimal = Decimal("2000")

    @property
    def full_span_ns(self) -> int:
        """The longest a cascade can keep the strategy busy, from its declaration."""
        return self.entry_timeout_ns + self.max_hold_ns + WINDOW_MARGIN_NS + 4 * self.latency_ns


def _config(strategy: dict[str, Any]) -> Any:
    from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

    return CascadeMarketMakerConfig(instrument_id="X.Y", **strategy)


def window_rules(strategy: dict[str, Any], latency_ns: int = 0) -> WindowRules:
    """The :class:`WindowRules` of a symbol's strategy parameters."""
    return _rules(_config(strategy), latency_ns)


def detector_params(strategy: dict[str, Any]) -> dict[str, Any]:
    """The parameters cascades depend on: settings with equal ones declare the same cascades."""
    return _config(strategy).detector_kwargs()


def window_params(strategy: dict[str, Any], latency_ns: int) -> dict[str, Any]:
    """Everything a symbol's windows depend on (trading hours, say, do not: views are shared)."""
    config = _config(strategy)
    rules = {k: str(v) for k, v in vars(_rules(config, latency_ns)).items()}
    return {**config.detector_kwargs(), **rules, **margins()}


def _rules(config: Any, latency_ns: int) -> WindowRules:
    return WindowRules(
        entry_offset=Decimal(str(config.entry_offset)),
        entry_timeout_ns=int(config.entry_timeout_s * NS_PER_S),
        max_hold_ns=int(config.max_hold_s * NS_PER_S),
        latency_ns=latency_ns,
        take_profit=Decimal(str(config.take_profit)),
        stop_loss=Decimal(str(config.stop_loss)),
        trade_notional=Decimal(str(config.trade_notional)),
    )


def declared_cascades(liquidations: pa.Table, strategy: dict[str, Any]) -> list[tuple[int, str]]:
    """
    ``(declared_ns, entry side)`` of every cascade the strategy could act on.

    The same :class:`~liqcascade.strategies.cascade_detector.CascadeDetector` the strategy runs,
    over every liquidation; cascades without a dominant side are left out (the strategy skips them).
    """
    detector = CascadeDetector(DetectorParams(**_config(strategy).detector_kwargs()))
    declared: list[tuple[int, str]] = []
    if liquidations.num_rows:
        ts = liquidations["ts_init"].to_numpy()
        sides = liquidations["side"].to_pylist()
        notionals = liquidations["notional"].to_numpy()
        on_liquidation = detector.on_liquidation
        for i in range(len(ts)):
            cascade = on_liquidation(int(ts[i]), sides[i], float(notionals[i]))
            if cascade is not None and cascade.side is not None:
                declared.append((int(ts[i]), BUY if cascade.side == LONG else SELL))
    return declared


@dataclass(frozen=True)
class Grid:
    """The instrument's price and size grid (what order prices and sizes round to)."""

    tick: Decimal
    step: Decimal
    min_qty: Decimal


@dataclass(frozen=True)
class Prints:
    """An instrument's trade prints: ``ts_init``, price in ticks, size."""

    ts: np.ndarray
    ticks: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def since(self, index: int) -> Prints:
        """The prints from ``index`` on."""
        return Prints(self.ts[index:], self.ticks[index:], self.sizes[index:])

    @staticmethod
    def join(parts: list[Prints]) -> Prints:
        """One run of prints from several, in order."""
        names = [f.name for f in fields(Prints)]
        return Prints(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))


@dataclass(frozen=True)
class CascadeSpan:
    """
    How long a cascade can need trade prints.

    ``safe_end_ns`` is a bound proven from the entry rule alone; ``end_ns`` (<= it) also
    replays the exits and is *speculative*: a run on it must be checked afterwards
    (:func:`window_violations`) and repeated on the safe ends if a trade outlived its window.
    """

    declared_ns: int
    end_ns: int
    safe_end_ns: int
    kind: str  # UNFILLED, FILLABLE or FULL
    limit: float | None  # the replayed entry price (None without a reference print)


def cascade_span(
    declared_ns: int, side: str, rules: WindowRules, grid: Grid, prints: Prints
) -> CascadeSpan:
    """
    Replay the strategy's entry (and, speculatively, exit) rules for one cascade.

    ``prints`` run from the last one before ``declared_ns`` to at least
    ``entry_timeout + max_hold`` after it.

    * entry = :func:`~liqcascade.strategies.order_prices.entry_price` of the last print before the
      declaration (the strategy's reference), sent at the declaration, at the venue after the
      latency, cancelled ``entry_timeout`` after the declaration;
    * FULL: a print reaches the limit before the order arrives, so post-only may reject it and
      the re-priced order is not replayed - the whole span is kept;
    * UNFILLED: no print reaches the limit before the deadline, nothing can fill - only prints
      up to the arrival (plus a margin) can matter; the cancel is a timer, which fires without
      data. Proven, so ``end_ns == safe_end_ns``;
    * FILLABLE: the first fill comes at the latest with the first print *through* the limit
      (a touch fills no later, conservatively never), or at the deadline if only touches
      occur; the position is closed ``max_hold`` after its first fill at the latest - the safe
      end. The speculative end assumes the whole order filled at the limit (resting orders
      fill at their price) from the first touch or the first print through, and ends once
      prints through the take-profit, or after the stop, add up to the order's size (a
      print's size fills at most once), plus a margin; with touches only (no print through
      before the deadline) at least until the deadline, where an unfilled entry is cancelled.
    """
    tick = grid.tick
    ts, ticks = prints.ts, prints.ticks
    full = declared_ns + rules.full_span_ns
    before = int(np.searchsorted(ts, declared_ns, side="left")) - 1
    if before < 0:  # no reference price: the strategy skips it; keep the full span anyway
        return CascadeSpan(declared_ns, full, full, FULL, None)
    reference = Decimal(int(ticks[before])) * tick
    limit_price = entry_price(reference, side, rules.entry_offset, tick)
    quantity = order_quantity(rules.trade_notional, limit_price, grid.step, grid.min_qty)
    limit = int(limit_price / tick)
    arrival = declared_ns + rules.latency_ns
    deadline = declared_ns + rules.entry_timeout_ns
    sign = 1 if side == BUY else -1  # compare as "price at or below the limit" for both sides
    distance = sign * (ticks - limit)  # <= 0: at or through the limit
    i_arrival = int(np.searchsorted(ts, arrival, side="right"))
    if quantity is None or (distance[before + 1 : i_arrival] <= 0).any():
        return CascadeSpan(declared_ns, full, full, FULL, float(limit_price))
    i_deadline = int(np.searchsorted(ts, deadline, side="right"))
    resting = distance[i_arrival:i_deadline]
    touches = np.flatnonzero(resting <= 0)
    if not len(touches):
        end = arrival + WINDOW_MARGIN_NS
        return CascadeSpan(declared_ns, end, end, UNFILLED, float(limit_price))
    through = np.flatnonzero(resting < 0)
    last_first_fill = int(ts[i_arrival + through[0]]) if len(through) else deadline
    safe_end = last_first_fill + rules.max_hold_ns + WINDOW_MARGIN_NS + 4 * rules.latency_ns
    first_fills = [int(ts[i_arrival + touches[0]])]
    if len(through):
        first_fills.append(last_first_fill)
    exit_guess = max(
        _replayed_exit(f, side, limit_price, float(quantity), rules, tick, prints)
        for f in first_fills
    )
    if not len(through):
        # Touches only: a conservative venue never fills the entry, which then rests until
        # its cancel at the deadline (logged then): keep the prints until that moment.
        exit_guess = max(exit_guess, deadline)
    end = min(exit_guess + EXIT_MARGIN_NS + 4 * rules.latency_ns, safe_end)
    return CascadeSpan(declared_ns, end, safe_end, FILLABLE, float(limit_price))


def _replayed_exit(
    first_fill_ns: int,
    side: str,
    fill_price: Decimal,
    quantity: float,
    rules: WindowRules,
    tick: Decimal,
    prints: Prints,
) -> int:
    """When ``quantity`` filled at ``fill_price`` would be out: take-profit, stop or max hold."""
    take_profit, stop = exit_prices(fill_price, side, rules.take_profit, rules.stop_loss, tick)
    tp, sl = int(take_profit / tick), int(stop / tick)
    sign = 1 if side == BUY else -1
    start = int(np.searchsorted(prints.ts, first_fill_ns + rules.latency_ns, side="right"))
    hold_end = first_fill_ns + rules.max_hold_ns
    stop_at = int(np.searchsorted(prints.ts, hold_end, side="right"))
    ts, prices = prints.ts[start:stop_at], sign * prints.ticks[start:stop_at]
    sizes = prints.sizes[start:stop_at]
    out = hold_end
    # Take-profit: prints through it, until their sizes cover the position.
    filled = np.cumsum(np.where(prices > sign * tp, sizes, 0.0))
    done = np.flatnonzero(filled >= quantity * (1 - 1e-9))
    if len(done):
        out = min(out, int(ts[done[0]]))
    # Stop: the first print at or through it triggers; the market close walks later prints.
    triggers = np.flatnonzero(prices <= sign * sl)
    if len(triggers):
        walked = np.cumsum(sizes[triggers[0] :])
        done = np.flatnonzero(walked >= quantity * (1 - 1e-9))
        if len(done):
            out = min(out, int(ts[triggers[0] + done[0]]))
    return out


def merge_windows(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


class SpanReplay:
    """
    :func:`cascade_span` for every cascade of one parameter set, fed prints chunk by chunk.

    Several replays can share one pass over an instrument's prints (a sweep's settings): each
    keeps only the prints its pending cascades still need.

    Parameters
    ----------
    liquidations : pa.Table
        The instrument's liquidations, sorted by ``ts_init``.
    strategy : dict
        The strategy's parameters (detector fields, offsets, timeouts, exits, size).
    latency_ns : int
        Order latency.
    grid : Grid
        The instrument's price and size grid.
    start_ns : int, optional
        The run's first ``ts_init``: the strategy sees nothing before it, so its detector
        starts there and so do the replayed reference prices.
    declared : list, optional
        The declared cascades, if already known (settings sharing detector parameters
        share them); else the detector runs over ``liquidations``.

    Subclasses replay something else per cascade: override :meth:`replay_cascade` (and widen
    ``horizon_ns`` if it needs prints further out).

    """

    def __init__(
        self,
        liquidations: pa.Table,
        strategy: dict[str, Any],
        latency_ns: int,
        grid: Grid,
        start_ns: int | None = None,
        declared: list[tuple[int, str]] | None = None,
    ) -> None:
        self.rules = window_rules(strategy, latency_ns)
        if declared is None:
            declared = declared_cascades(since(liquidations, start_ns), strategy)
        self.declared = declared
        self.grid = grid
        self.start_ns = start_ns
        self.spans: list[Any] = []
        self._buffer = Prints(*(np.empty(0, dtype=t) for t in (np.int64, np.int64, np.float64)))
        self._pending = 0  # declared[pending:] still need prints up to deadline + max hold
        #: How far after a declaration a cascade's replay needs prints.
        self.horizon_ns = self.rules.entry_timeout_ns + self.rules.max_hold_ns

    def replay_cascade(self, declared_ns: int, side: str, prints: Prints) -> Any:
        """One cascade's :class:`CascadeSpan`; ``prints`` run from the last one before it."""
        return cascade_span(declared_ns, side, self.rules, self.grid, prints)

    def _resolve(self, up_to: int | None) -> None:
        while self._pending < len(self.declared):
            declared_ns, side = self.declared[self._pending]
            if up_to is not None and declared_ns + self.horizon_ns >= up_to:
                return
            self.spans.append(self.replay_cascade(declared_ns, side, self._buffer))
            self._pending += 1

    def feed(self, chunk: Prints) -> None:
        """The next prints, in time order."""
        if self.start_ns is not None and len(chunk) and chunk.ts[0] < self.start_ns:
            chunk = chunk.since(int(np.searchsorted(chunk.ts, self.start_ns, side="left")))
        if not len(chunk):
            return
        buffer = Prints.join([self._buffer, chunk])
        self._buffer = buffer
        # Prints after the buffer's last one come in later chunks, so a cascade is complete
        # once its horizon is before the last print seen.
        self._resolve(int(buffer.ts[-1]))
        # Drop what no pending cascade can need: all but the last print before the next one.
        keep_from = len(buffer) - 1
        if self._pending < len(self.declared):
            next_declared = self.declared[self._pending][0]
            keep_from = int(np.searchsorted(buffer.ts, next_declared, side="left")) - 1
        self._buffer = buffer.since(max(keep_from, 0))

    def finish(self) -> list[Any]:
        """Every span (or subclass result), once all prints are fed."""
        self._resolve(None)
        return self.spans


def since(liquidations: pa.Table, start_ns: int | None) -> pa.Table:
    """The liquidations from ``start_ns`` on (all of them for ``None``)."""
    if start_ns is None or not liquidations.num_rows:
        return liquidations
    ts = liquidations["ts_init"].to_numpy()
    return liquidations.slice(int(np.searchsorted(ts, start_ns, side="left")))


def cascade_spans(
    liquidations: pa.Table,
    strategy: dict[str, Any],
    latency_ns: int = 0,
    prints: Iterable[Prints] | None = None,
    grid: Grid | None = None,
    start_ns: int | None = None,
) -> list[CascadeSpan]:
    """
    A :class:`CascadeSpan` for every cascade the strategy could act on, in order.

    Parameters
    ----------
    liquidations : pa.Table
        The instrument's liquidations, sorted by ``ts_init``.
    strategy : dict
        The strategy's parameters (detector fields, offsets, timeouts, exits, size).
    latency_ns : int
        Order latency.
    prints : iterable of Prints, optional
        The instrument's prints in time order, in chunks (e.g. one per catalog file). With
        them (and ``grid``) each span is :func:`cascade_span`'s; without them every span is
        FULL: ``entry_timeout + max_hold`` plus margins.
    grid : Grid, optional
        The instrument's price and size grid.
    start_ns : int, optional
        The run's first ``ts_init`` (see :class:`SpanReplay`).

    """
    if prints is None or grid is None:
        rules = window_rules(strategy, latency_ns)
        declared = declared_cascades(since(liquidations, start_ns), strategy)
        return [
            CascadeSpan(t, t + rules.full_span_ns, t + rules.full_span_ns, FULL, None)
            for t, _ in declared
        ]
    replay = SpanReplay(liquidations, strategy, latency_ns, grid, start_ns)
    for chunk in prints:
        replay.feed(chunk)
    return replay.finish()


def cascade_windows(spans: list[CascadeSpan], speculative: bool = True) -> list[tuple[int, int]]:
    """Merged ``[start, end]`` windows (ns) of the spans: speculative ends, or the safe ones."""
    return merge_windows(
        [(span.declared_ns, span.end_ns if speculative else span.safe_end_ns) for span in spans]
    )
