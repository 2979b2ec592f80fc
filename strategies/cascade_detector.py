"""Liquidation-cascade detection, as plain Python (no framework imports).

A *cascade* is two or more large liquidations close together in time:

1. **Threshold.** Per symbol, the ``quantile`` (0.95) of the notional of the last ``history``
   (1000) liquidations, recomputed every ``refresh_s`` (1 h). Until ``min_history`` events have
   been seen, a per-symbol warm-start threshold is used instead. A refresh uses only events that
   arrived strictly before the event being judged, so appending future events can never change
   an earlier decision.
2. **Window** (``window_mode``).

   * ``"anchored"`` (default, the guide's section 2): a large liquidation that finds no open
     window opens one for ``window_s`` (60 s) *from itself*. Large liquidations inside it count
     towards the cascade; the window closes ``window_s`` after its first event whatever happens
     inside. The next large liquidation after that opens a new window, which can declare a new
     cascade: a cascade that keeps going signals again at most once per window (the strategy's
     one-position rule and cooldown still apply).
   * ``"chained"``: each large liquidation extends the open window to ``window_s`` after
     itself, so a long run of large liquidations 59 s apart is one endless cascade that signals
     once.
3. **Declaration.** When the window holds ``min_events`` (2) large liquidations, the cascade is
   declared *at the receipt time of that event* - the moment a live client would know.
4. **Direction.** The notional of liquidated longs vs shorts among all liquidations since the
   window opened decides the side: more longs liquidated = forced selling = price pushed down.
   An exact tie has no direction.

Events keep arriving after the declaration; they extend the cascade's report statistics
(duration, count, notional) but never change the decision already taken.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

LONG = "LONG"  # a long position was liquidated (same strings as LiquidationData.side)
ANCHORED = "anchored"
CHAINED = "chained"
WINDOW_MODES = (ANCHORED, CHAINED)
SHORT = "SHORT"
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class DetectorParams:
    """
    Cascade detection parameters for one symbol.

    Parameters
    ----------
    warm_threshold : float
        Notional (USDT) used until ``min_history`` liquidations have been seen.
    quantile : float
        Quantile of recent notional that makes a liquidation "large" (0.95 = P95).
    history : int
        How many recent liquidations the quantile is computed over.
    min_history : int
        Liquidations needed before the rolling quantile replaces the warm-start threshold.
    refresh_s : float
        Seconds between threshold refreshes.
    window_s : float
        Window length: from its first large liquidation (``anchored``) or from the latest one
        (``chained``).
    min_events : int
        Large liquidations needed to declare a cascade.
    window_mode : str
        ``"anchored"`` (the guide) or ``"chained"``; see the module docstring.

    """

    warm_threshold: float
    quantile: float = 0.95
    history: int = 1000
    min_history: int = 200
    refresh_s: float = 3600.0
    window_s: float = 60.0
    min_events: int = 2
    window_mode: str = ANCHORED

    def __post_init__(self) -> None:
        checks = {
            "warm_threshold": self.warm_threshold > 0,
            "quantile": 0.0 < self.quantile < 1.0,
            "history": self.history >= 1,
            "min_history": 1 <= self.min_history <= self.history,
            "refresh_s": self.refresh_s > 0,
            "window_s": self.window_s > 0,
            "min_events": self.min_events >= 2,
            "window_mode": self.window_mode in WINDOW_MODES,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"DetectorParams.{name} is invalid: {getattr(self, name)!r}")


@dataclass
class Cascade:
    """
    One cascade: the decision taken at ``declared_ns`` and report statistics.

    ``side`` is the dominant liquidated side *at declaration* (``LONG``, ``SHORT`` or ``None``
    on a tie). ``end_ns``, ``events`` and the notionals keep growing while the window stays open.
    """

    start_ns: int
    declared_ns: int
    side: str | None
    threshold: float
    end_ns: int
    large_events: int
    events: int
    long_notional: float
    short_notional: float

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last large liquidation."""
        return (self.end_ns - self.start_ns) / NS_PER_S

    @property
    def notional(self) -> float:
        """All liquidated notional inside the window."""
        return self.long_notional + self.short_notional


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), without importing numpy."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class CascadeDetector:
    """
    Detect cascades in one symbol's liquidation stream (events in ``ts_init`` order).

    Parameters
    ----------
    params : DetectorParams
        Thresholds and windows.

    """

    def __init__(self, params: DetectorParams) -> None:
        self.params = params
        self._notionals: deque[float] = deque(maxlen=params.history)
        self._seen = 0
        self._threshold = params.warm_threshold
        self._next_refresh_ns: int | None = None
        self._window_ns = int(params.window_s * NS_PER_S)
        self._refresh_ns = int(params.refresh_s * NS_PER_S)
        self._current: Cascade | None = None  # open window (declared or not)
        self._last_large_ns = 0
        self._anchored = params.window_mode == ANCHORED
        self.cascades: list[Cascade] = []

    @property
    def threshold(self) -> float:
        """The notional threshold in force."""
        return self._threshold

    def history(self) -> dict[str, object]:
        """What the rolling threshold has learnt, as plain JSON-able values (for restarts)."""
        return {
            "notionals": list(self._notionals),
            "seen": self._seen,
            "threshold": self._threshold,
            "next_refresh_ns": self._next_refresh_ns,
        }

    def restore(self, saved: dict[str, object]) -> None:
        """
        Continue from :meth:`history` of an earlier run (a restarted live node).

        Only the threshold's inputs come back: an open cascade window does not survive a
        restart (its events are minutes old at best, and the window rules stay untouched).

        Raises
        ------
        ValueError
            If ``saved`` is not a :meth:`history` record.

        """
        try:
            notionals = [float(v) for v in saved["notionals"]]  # type: ignore[union-attr]
            seen = int(saved["seen"])  # type: ignore[call-overload]
            threshold = float(saved["threshold"])  # type: ignore[arg-type]
            next_refresh = saved.get("next_refresh_ns")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a detector history: {e}") from e
        self._notionals.clear()
        self._notionals.extend(notionals)  # the deque keeps the newest `history` of them
        self._seen = seen
        self._threshold = threshold if threshold > 0 else self.params.warm_threshold
        self._next_refresh_ns = int(next_refresh) if next_refresh is not None else None  # type: ignore[call-overload]

    def _maybe_refresh(self, ts_ns: int) -> None:
        if self._next_refresh_ns is None:
            self._next_refresh_ns = ts_ns - ts_ns % self._refresh_ns + self._refresh_ns
        if ts_ns < self._next_refresh_ns:
            return
        # Refresh on the hour grid, from events received before this one only.
        if self._seen >= self.params.min_history:
            self._threshold = _quantile(list(self._notionals), self.params.quantile)
        self._next_refresh_ns = ts_ns - ts_ns % self._refresh_ns + self._refresh_ns

    def on_liquidation(self, ts_ns: int, side: str, notional: float) -> Cascade | None:
        """
        Feed one liquidation; return the cascade it declares, if any.

        Parameters
        ----------
        ts_ns : int
            Receipt time (``ts_init``), non-decreasing across calls.
        side : str
            Liquidated position side, ``"LONG"`` or ``"SHORT"``.
        notional : float
            ``price * quantity`` in quote currency.

        Returns
        -------
        Cascade | None
            The new cascade when this event is the ``min_events``-th large one of a window.

        """
        self._maybe_refresh(ts_ns)
        is_large = notional >= self._threshold
        current = self._current
        if current is not None:
            opened = current.start_ns if self._anchored else self._last_large_ns
            if ts_ns - opened > self._window_ns:
                current = self._current = None  # window closed before this event
        declared = None
        if is_large:
            if current is None:
                current = self._current = Cascade(
                    start_ns=ts_ns,
                    declared_ns=0,
                    side=None,
                    threshold=self._threshold,
                    end_ns=ts_ns,
                    large_events=0,
                    events=0,
                    long_notional=0.0,
                    short_notional=0.0,
                )
            current.large_events += 1
            current.end_ns = ts_ns
            self._last_large_ns = ts_ns
        if current is not None:
            current.events += 1
            if side == LONG:
                current.long_notional += notional
            else:
                current.short_notional += notional
            if is_large and current.large_events == self.params.min_events:
                current.declared_ns = ts_ns
                if current.long_notional != current.short_notional:
                    current.side = LONG if current.long_notional > current.short_notional else SHORT
                self.cascades.append(current)
                declared = current
        self._notionals.append(notional)
        self._seen += 1
        return declared
