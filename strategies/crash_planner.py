"""Cross-asset crash decisions, one bar close time at a time, as plain Python.

A **slot** is every asset's bar of one close time. The planner is handed a slot only when it is
complete (:class:`~liqcascade.strategies.crash_reversion.CrashReversion` waits until every
asset's bar of that close has arrived, or a short timeout has passed), and it walks assets and
trades in a fixed order (asset name, trade number). So no decision depends on the order in
which the bars of one close time arrive.

For a slot at close time ``t`` the planner decides, in this order:

1. **Exits** of open trades whose asset has a bar at ``t``:

   * *take gain* (the seed's adaptive exit, ``take_gain`` set): exactly ``take_gain_after_bars``
     after the entry, if ``close / entry close - 1 > take_gain`` (+2 %), exit now (``"GAIN"``);
   * *hold*: ``hold_bars`` or more after the entry, exit now (``"HOLD"``). A missing bar at the
     due time defers the exit to the asset's next bar.

2. **Confirmed entries** (``entry = "bounce"``, the seed's): each asset of the crash event at
   ``t - interval`` is bought at ``t`` if its bar at ``t`` closes above its crash-bar close by
   more than ``bounce_above`` (0: any rise); otherwise it is skipped (``"no bounce"``, or
   ``"no bar"`` when it has no bar at ``t``).
3. **Detection**: every asset's bar is judged by the detector; ``min_assets`` or more qualifying
   bars make a crash event at ``t``. With ``entry = "crash_close"`` (our trailing rules) its
   assets are bought at ``t``; with ``"bounce"`` they wait for step 2 of the next slot.

With ``overlap = False`` an asset holding an open trade (one not exiting in step 1 of the same
slot) is not bought again (``"already held"``): an asset whose hold ends on the bar of a new
crash is sold and bought back. With ``overlap = True`` (the seed) every qualifying asset is
bought, held or not, and each trade runs its own course.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from liqcascade.strategies.crash_detector import NS_PER_HOUR
from liqcascade.strategies.crash_detector import AssetCrash
from liqcascade.strategies.crash_detector import Detector

CRASH_CLOSE, BOUNCE = "crash_close", "bounce"
HOLD, GAIN = "HOLD", "GAIN"  # exit reasons (the strategy's stop adds "SL")


@dataclass(frozen=True)
class TradeRules:
    """
    What a crash event leads to: when to buy, when to sell, whether trades may overlap.

    Parameters
    ----------
    interval_ns : int
        Bar length (1 h).
    min_assets : int
        Qualifying assets at one close time that make a crash event (3).
    entry : str
        ``"crash_close"``: buy at the crash bar's close. ``"bounce"``: buy at the next bar's
        close, only if that bar rose by more than ``bounce_above``.
    bounce_above : float
        Bounce confirmation threshold on the next bar's return (0.0 = any rise).
    hold_bars : int
        Exit this many bars after the entry (2).
    take_gain : float | None
        Exit early when the return ``take_gain_after_bars`` after the entry exceeds this
        (0.02); ``None`` = fixed hold.
    take_gain_after_bars : int
        When the early exit is checked (1 bar after the entry).
    overlap : bool
        Buy an asset again while a trade in it is open.

    """

    interval_ns: int = NS_PER_HOUR
    min_assets: int = 3
    entry: str = CRASH_CLOSE
    bounce_above: float = 0.0
    hold_bars: int = 2
    take_gain: float | None = None
    take_gain_after_bars: int = 1
    overlap: bool = False

    def __post_init__(self) -> None:
        checks = {
            "interval_ns": self.interval_ns > 0,
            "min_assets": self.min_assets >= 1,
            "entry": self.entry in (CRASH_CLOSE, BOUNCE),
            "bounce_above": -1.0 < self.bounce_above < 1.0,
            "hold_bars": self.hold_bars >= 1,
            "take_gain": self.take_gain is None or 0.0 < self.take_gain < 10.0,
            "take_gain_after_bars": 1 <= self.take_gain_after_bars < self.hold_bars
            or self.take_gain is None,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TradeRules.{name} is invalid: {getattr(self, name)!r}")


@dataclass(frozen=True)
class CrashEvent:
    """A cross-asset crash at one close time; ``members`` sorted by asset name."""

    ts_ns: int
    members: tuple[AssetCrash, ...]

    @property
    def assets(self) -> list[str]:
        """The crashing assets, sorted."""
        return [m.asset for m in self.members]


@dataclass(frozen=True)
class OpenTrade:
    """A trade the planner has entered and not yet exited."""

    trade_id: int
    asset: str
    event_ns: int  # close time of the crash bar
    entry_ns: int  # close time of the entry bar
    reference: float  # the entry bar's close


@dataclass(frozen=True)
class Entry:
    """Buy ``asset`` at this slot's close (``reference``)."""

    trade_id: int
    asset: str
    event_ns: int
    reference: float


@dataclass(frozen=True)
class Exit:
    """Sell trade ``trade_id`` at this slot's close; ``gain`` = close / entry close - 1."""

    trade_id: int
    asset: str
    reason: str
    reference: float
    gain: float


@dataclass(frozen=True)
class Skip:
    """An asset of a crash event that is not bought, and why."""

    asset: str
    event_ns: int
    reason: str


@dataclass
class SlotPlan:
    """Everything decided at one close time, in the order to carry it out."""

    ts_ns: int
    event: CrashEvent | None = None
    exits: list[Exit] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


class CrashPlanner:
    """
    Turn complete slots of closed bars into crash events, entries and exits.

    Parameters
    ----------
    detector : Detector
        Judges each asset's bar (:class:`~liqcascade.strategies.crash_detector.SeedDetector` or
        :class:`~liqcascade.strategies.crash_detector.CrashDetector`).
    rules : TradeRules
        Event size, entry, exit and overlap rules.

    """

    def __init__(self, detector: Detector, rules: TradeRules) -> None:
        self.detector = detector
        self.rules = rules
        self.open_trades: dict[int, OpenTrade] = {}
        self.events: list[CrashEvent] = []
        self._pending: CrashEvent | None = None  # awaiting its bounce confirmation
        self._next_id = 1
        self._last_slot: int | None = None

    def on_slot(self, ts_ns: int, bars: Mapping[str, tuple[float, float]]) -> SlotPlan:
        """
        Decide everything for one complete close time.

        Parameters
        ----------
        ts_ns : int
            The close time; slots must come in increasing order.
        bars : Mapping[str, tuple[float, float]]
            ``asset -> (close, volume)`` of every asset that has a bar at ``ts_ns``.

        Returns
        -------
        SlotPlan
            Exits, then entries (trade numbers assigned here), skips and the event, if any.

        Raises
        ------
        ValueError
            For a slot not later than the previous one.

        """
        if self._last_slot is not None and ts_ns <= self._last_slot:
            raise ValueError(f"slot {ts_ns} is not later than the previous slot {self._last_slot}")
        self._last_slot = ts_ns
        plan = SlotPlan(ts_ns)
        self._exits(plan, bars)
        held = {t.asset for t in self.open_trades.values()}
        self._confirm(plan, bars, held)
        members = []
        for asset in sorted(bars):
            close, volume = bars[asset]
            crash = self.detector.judge(asset, ts_ns, close, volume)
            if crash is not None:
                members.append(crash)
        if len(members) >= self.rules.min_assets:
            plan.event = CrashEvent(ts_ns, tuple(members))
            self.events.append(plan.event)
            if self.rules.entry == CRASH_CLOSE:
                for member in members:
                    self._enter(plan, member.asset, ts_ns, member.close, held)
            else:
                self._pending = plan.event
        return plan

    def on_late_bar(self, asset: str, ts_ns: int, close: float, volume: float) -> None:
        """A bar whose slot was already decided: it joins the asset's history, decides nothing."""
        self.detector.judge(asset, ts_ns, close, volume)

    def forget(self, trade_id: int) -> None:
        """A trade that ended outside the plan (entry never filled, stopped out)."""
        self.open_trades.pop(trade_id, None)

    # -- steps ------------------------------------------------------------------------------------

    def _exits(self, plan: SlotPlan, bars: Mapping[str, tuple[float, float]]) -> None:
        r = self.rules
        for trade in sorted(self.open_trades.values(), key=lambda t: t.trade_id):
            if trade.asset not in bars:
                continue
            close = bars[trade.asset][0]
            gain = close / trade.reference - 1.0
            elapsed = plan.ts_ns - trade.entry_ns
            reason = None
            if (
                r.take_gain is not None
                and elapsed == r.take_gain_after_bars * r.interval_ns
                and gain > r.take_gain
            ):
                reason = GAIN
            elif elapsed >= r.hold_bars * r.interval_ns:
                reason = HOLD
            if reason is not None:
                plan.exits.append(Exit(trade.trade_id, trade.asset, reason, close, gain))
                del self.open_trades[trade.trade_id]

    def _confirm(
        self, plan: SlotPlan, bars: Mapping[str, tuple[float, float]], held: set[str]
    ) -> None:
        event, self._pending = self._pending, None
        if event is None:
            return
        if event.ts_ns != plan.ts_ns - self.rules.interval_ns:  # no slot right after the crash
            plan.skips += [Skip(m.asset, event.ts_ns, "no bar") for m in event.members]
            return
        for member in event.members:
            bar = bars.get(member.asset)
            if bar is None:
                plan.skips.append(Skip(member.asset, event.ts_ns, "no bar"))
            elif bar[0] / member.close - 1.0 > self.rules.bounce_above:
                self._enter(plan, member.asset, event.ts_ns, bar[0], held)
            else:
                plan.skips.append(Skip(member.asset, event.ts_ns, "no bounce"))

    def _enter(
        self, plan: SlotPlan, asset: str, event_ns: int, reference: float, held: set[str]
    ) -> None:
        if not self.rules.overlap and asset in held:
            plan.skips.append(Skip(asset, event_ns, "already held"))
            return
        trade = OpenTrade(self._next_id, asset, event_ns, plan.ts_ns, reference)
        self._next_id += 1
        self.open_trades[trade.trade_id] = trade
        held.add(asset)
        plan.entries.append(Entry(trade.trade_id, asset, event_ns, reference))
