"""Cross-asset crash detection on closed bars, as plain Python (no framework imports).

System B (``../shared/seeds/002_*.txt``, "Event Detection"): a *crash event* is a bar close at
which at least ``min_assets`` (3) assets each show a multi-timeframe price drop on a volume
spike.

Per asset, on every CLOSED bar (close, volume, close time):

1. **Returns.** ``r1`` = close / close ``r1_bars`` bars earlier - 1 and ``r2`` = close / close
   ``r2_bars`` bars earlier - 1 (1 and 2 bars of 1 h = the seed's "1h and 2h"). The earlier
   closes must sit exactly ``k * interval`` before this bar: across a gap (missing bars) the
   return is undefined and the bar cannot signal.
2. **Drop thresholds**, ``threshold_mode``:

   * ``"fixed"``: ``r1 <= r1_drop`` (-2 %) and ``r2 <= r2_drop`` (-3 %).
   * ``"percentile"``: ``r1 <=`` the ``drop_quantile`` (0.05) quantile of the asset's trailing
     ``lookback`` one-horizon returns ``r1``; likewise ``r2`` against trailing ``r2`` values.
     The return must also be negative: after a strong rally a low percentile can be a gain.

3. **Drop rule** (the seed does not say what a 1 h drop without a 2 h drop is): with
   ``require_both = True`` (default) BOTH horizons must breach, so a sharp bar that only gives
   back the previous bar's rally (``r1`` -2.5 %, ``r2`` -0.5 %) is not a crash, and neither is
   the quiet bar after a crash (``r1`` -0.2 %, ``r2`` -4 %): one crash signals once. With
   ``require_both = False`` EITHER horizon suffices (more signals, and the bar after a crash
   can signal again through its ``r2``).
4. **Volume spike**: ``volume >=`` the ``volume_quantile`` (0.95, the seed's "top 5 %") quantile
   of the asset's trailing ``lookback`` bar volumes.

Trailing statistics use only bars strictly BEFORE the bar being judged: the bar's own return
and volume join the windows after the decision, so nothing from the current bar, the future or
the whole sample leaks in, and appending later bars can never change an earlier decision. Until
``min_history`` values are in every window the asset needs, it cannot signal. Quantiles are
linear-interpolation quantiles (numpy's default).

**Cross-asset event.** Bars of different assets closing at the same time arrive one after
another. The event is declared as soon as the ``min_assets``-th qualifying asset's bar arrives
(causal: nobody waits for a later bar); assets whose bars at that same close time qualify
afterwards *join* the event. Qualifying assets at a close time that never reaches
``min_assets`` make no event.
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import insort
from collections import deque
from dataclasses import dataclass
from dataclasses import field

NS_PER_HOUR = 3_600_000_000_000
FIXED, PERCENTILE = "fixed", "percentile"


@dataclass(frozen=True)
class CrashParams:
    """
    Crash detection parameters, shared by all assets.

    Parameters
    ----------
    interval_ns : int
        Bar length in nanoseconds (1 h).
    r1_bars, r2_bars : int
        Return horizons in bars (1 and 2: the seed's 1 h and 2 h on 1 h bars).
    threshold_mode : str
        ``"fixed"`` (``r1_drop``/``r2_drop``) or ``"percentile"`` (``drop_quantile``).
    r1_drop, r2_drop : float
        Fixed thresholds as negative fractions (-0.02 = a fall of 2 % or more).
    drop_quantile : float
        Percentile mode: a return at or below this quantile of its trailing returns is a drop.
    volume_quantile : float
        A volume at or above this quantile of the trailing volumes is a spike (0.95).
    lookback : int
        Bars in each trailing window (720 = 30 days of 1 h bars).
    min_history : int
        Values each needed trailing window must hold before the asset can signal.
    require_both : bool
        Both horizons must breach (``True``) or either one (``False``).
    min_assets : int
        Qualifying assets at one close time that make a crash event (3).

    """

    interval_ns: int = NS_PER_HOUR
    r1_bars: int = 1
    r2_bars: int = 2
    threshold_mode: str = FIXED
    r1_drop: float = -0.02
    r2_drop: float = -0.03
    drop_quantile: float = 0.05
    volume_quantile: float = 0.95
    lookback: int = 720
    min_history: int = 168
    require_both: bool = True
    min_assets: int = 3

    def __post_init__(self) -> None:
        checks = {
            "interval_ns": self.interval_ns > 0,
            "r1_bars": self.r1_bars >= 1,
            "r2_bars": self.r2_bars > self.r1_bars,
            "threshold_mode": self.threshold_mode in (FIXED, PERCENTILE),
            "r1_drop": -1.0 < self.r1_drop < 0.0,
            "r2_drop": -1.0 < self.r2_drop < 0.0,
            "drop_quantile": 0.0 < self.drop_quantile < 0.5,
            "volume_quantile": 0.0 < self.volume_quantile < 1.0,
            "lookback": self.lookback >= 2,
            "min_history": 2 <= self.min_history <= self.lookback,
            "min_assets": self.min_assets >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"CrashParams.{name} is invalid: {getattr(self, name)!r}")


def quantile_of_sorted(ordered: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of an already sorted, non-empty list."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class TrailingWindow:
    """
    The last ``size`` values, kept sorted as well, for O(1) quantiles.

    Parameters
    ----------
    size : int
        Window length; the oldest value drops out when a new one is added to a full window.

    """

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: float) -> None:
        """Append a value (evicting the oldest when full)."""
        if len(self._values) == self._size:
            old = self._values.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
        self._values.append(value)
        insort(self._sorted, value)

    def quantile(self, q: float) -> float:
        """Linear-interpolation quantile of the window (must not be empty)."""
        return quantile_of_sorted(self._sorted, q)


@dataclass(frozen=True)
class AssetCrash:
    """
    One asset's qualifying bar, with the numbers that qualified it.

    ``r1``/``r2`` are ``None`` when that horizon was not needed and not available; thresholds
    are the values in force for this bar (fixed, or the trailing quantiles).
    """

    asset: str
    ts_ns: int
    close: float
    volume: float
    r1: float | None
    r2: float | None
    r1_threshold: float
    r2_threshold: float
    volume_threshold: float

    def as_dict(self) -> dict[str, object]:
        """Plain fields, for the event log."""
        return {
            "symbol": self.asset,
            "close": self.close,
            "volume": self.volume,
            "r1": self.r1,
            "r2": self.r2,
            "r1_threshold": self.r1_threshold,
            "r2_threshold": self.r2_threshold,
            "volume_threshold": self.volume_threshold,
        }


@dataclass
class CrashEvent:
    """
    A cross-asset crash at one bar close time.

    ``members`` are the qualifying assets in arrival order: the first ``declared_with`` made
    the declaration (the last of them is ``declared_by``); later ones joined.
    """

    ts_ns: int
    declared_by: str
    declared_with: int
    members: list[AssetCrash] = field(default_factory=list)

    @property
    def assets(self) -> list[str]:
        """Every crashing asset of the event, in arrival order."""
        return [m.asset for m in self.members]


@dataclass(frozen=True)
class CrashSignal:
    """
    What one bar changed: the event it declared or joined, and the assets to act on now.

    ``new_assets`` is every founding asset on a declaration (``joined = False``) and just the
    bar's asset on a join (``joined = True``).
    """

    event: CrashEvent
    new_assets: tuple[str, ...]
    joined: bool


class _AssetState:
    def __init__(self, params: CrashParams) -> None:
        self.closes: deque[tuple[int, float]] = deque(maxlen=params.r2_bars)
        self.volumes = TrailingWindow(params.lookback)
        self.r1s = TrailingWindow(params.lookback)
        self.r2s = TrailingWindow(params.lookback)
        self.last_ts: int | None = None

    def close_at(self, ts_ns: int) -> float | None:
        for ts, close in self.closes:
            if ts == ts_ns:
                return close
        return None


class CrashDetector:
    """
    Detect cross-asset crash events from closed bars (in close-time order per asset).

    Parameters
    ----------
    params : CrashParams
        Thresholds, windows and the event size.

    """

    def __init__(self, params: CrashParams) -> None:
        self.params = params
        self._assets: dict[str, _AssetState] = {}
        self._groups: dict[int, list[AssetCrash]] = {}  # close time -> qualifying, not declared
        self._events_at: dict[int, CrashEvent] = {}
        self._newest_ts = 0
        self.events: list[CrashEvent] = []
        self.ignored_bars = 0  # bars not later than the asset's previous bar

    def _returns(self, state: _AssetState, ts_ns: int, close: float) -> tuple[float | None, ...]:
        p = self.params
        out = []
        for bars in (p.r1_bars, p.r2_bars):
            before = state.close_at(ts_ns - bars * p.interval_ns)
            out.append(close / before - 1.0 if before else None)
        return tuple(out)

    def judge(self, asset: str, ts_ns: int, close: float, volume: float) -> AssetCrash | None:
        """
        Judge one asset's closed bar alone (drop + volume spike), then add it to the history.

        Parameters
        ----------
        asset : str
            Asset name (e.g. ``ETHUSDT``).
        ts_ns : int
            Bar close time, strictly increasing per asset (earlier or repeated bars are
            ignored and counted in ``ignored_bars``).
        close, volume : float
            The bar's close price and volume.

        Returns
        -------
        AssetCrash | None
            The qualification, or ``None``.

        """
        p = self.params
        state = self._assets.get(asset)
        if state is None:
            state = self._assets[asset] = _AssetState(p)
        if state.last_ts is not None and ts_ns <= state.last_ts:
            self.ignored_bars += 1
            return None
        r1, r2 = self._returns(state, ts_ns, close)
        result = self._qualify(state, asset, ts_ns, close, volume, r1, r2)
        # Only now does this bar join the trailing statistics.
        state.volumes.add(volume)
        if r1 is not None:
            state.r1s.add(r1)
        if r2 is not None:
            state.r2s.add(r2)
        state.closes.append((ts_ns, close))
        state.last_ts = ts_ns
        return result

    def _qualify(
        self,
        state: _AssetState,
        asset: str,
        ts_ns: int,
        close: float,
        volume: float,
        r1: float | None,
        r2: float | None,
    ) -> AssetCrash | None:
        p = self.params
        if len(state.volumes) < p.min_history:
            return None
        volume_threshold = state.volumes.quantile(p.volume_quantile)
        if volume < volume_threshold:
            return None
        if p.threshold_mode == PERCENTILE:
            if min(len(state.r1s), len(state.r2s)) < p.min_history:
                return None
            r1_threshold = state.r1s.quantile(p.drop_quantile)
            r2_threshold = state.r2s.quantile(p.drop_quantile)
        else:
            r1_threshold, r2_threshold = p.r1_drop, p.r2_drop
        # A drop is a fall: in a strong uptrend a low percentile can be a positive return.
        drop1 = r1 is not None and r1 < 0.0 and r1 <= r1_threshold
        drop2 = r2 is not None and r2 < 0.0 and r2 <= r2_threshold
        if not ((drop1 and drop2) if p.require_both else (drop1 or drop2)):
            return None
        return AssetCrash(
            asset=asset,
            ts_ns=ts_ns,
            close=close,
            volume=volume,
            r1=r1,
            r2=r2,
            r1_threshold=r1_threshold,
            r2_threshold=r2_threshold,
            volume_threshold=volume_threshold,
        )

    def on_bar(self, asset: str, ts_ns: int, close: float, volume: float) -> CrashSignal | None:
        """
        Feed one closed bar; return the crash event it declares or joins, if any.

        Parameters
        ----------
        asset : str
            Asset name.
        ts_ns : int
            Bar close time (the same for all assets' bars of one interval).
        close, volume : float
            The bar's close price and volume.

        Returns
        -------
        CrashSignal | None
            On the ``min_assets``-th qualifying asset at ``ts_ns``: the new event with every
            founding asset. On a later qualifying asset at the same ``ts_ns``: the same event
            (now including it) with just that asset. Otherwise ``None``.

        """
        if ts_ns > self._newest_ts:
            self._newest_ts = ts_ns
            # Keep the current and the previous close time (a late bar); drop older groups.
            horizon = ts_ns - self.params.interval_ns
            for table in (self._groups, self._events_at):
                for old in [t for t in table if t < horizon]:
                    del table[old]
        crash = self.judge(asset, ts_ns, close, volume)
        if crash is None:
            return None
        event = self._events_at.get(ts_ns)
        if event is not None:
            event.members.append(crash)
            return CrashSignal(event, (asset,), joined=True)
        group = self._groups.setdefault(ts_ns, [])
        group.append(crash)
        if len(group) < self.params.min_assets:
            return None
        event = CrashEvent(
            ts_ns=ts_ns, declared_by=asset, declared_with=len(group), members=list(group)
        )
        del self._groups[ts_ns]
        self._events_at[ts_ns] = event
        self.events.append(event)
        return CrashSignal(event, tuple(event.assets), joined=False)
