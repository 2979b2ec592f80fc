"""Per-asset crash detection on closed bars, as plain Python (no framework imports).

System B (``../shared/seeds/002_*.txt``, "Event Detection") judges every asset's closed bar on
its own: is it a crash bar? Two rule sets exist; both answer the same question, bar by bar, and
hand the qualifying bars to :class:`~liqcascade.strategies.crash_planner.CrashPlanner`, which
counts them across assets once every bar of that close time is in.

:class:`SeedDetector` - the notebook's rules, exactly
------------------------------------------------------
The seed is the README of a public project whose notebook holds the rules. Per asset and bar,
``r1`` = close / previous close - 1, ``r2`` = close / close two bars earlier - 1, ``v`` = the
bar's volume, and the volume percentiles are taken over a rolling window of ``window`` (168)
bars **including the current bar** (pandas ``rolling(168).quantile(q)``: linear interpolation,
no value until the window is full). A bar qualifies on either branch:

* **crash**: ``r1 < crash_drop`` (-5 %) **and** ``v >`` P95 of the window; or
* **cascade pattern**: ``r2 < cascade_drop`` (-8 %) **and** ``r1 > cascade_r1_above`` (-3 %)
  **and** ``v >`` P90 of the window.

All comparisons are strict. The window counts bars in time: it holds the bars closing in
``(t - window * interval, t]``, so across a gap it is not full and the asset cannot signal until
``window`` bars have closed again (what a rolling window over an hourly grid with missing rows
gives). Including the current bar is not a look-ahead: the bar has closed when it is judged.

:class:`CrashDetector` - our trailing rules (the ``crash_reversion`` preset)
---------------------------------------------------------------------------
1. **Returns** ``r1`` over ``r1_bars`` and ``r2`` over ``r2_bars``; the earlier closes must sit
   exactly ``k * interval`` before this bar, else the return is undefined.
2. **Drop thresholds**, ``threshold_mode``: ``"fixed"`` (``r1 <= r1_drop`` -2 %, ``r2 <= r2_drop``
   -3 %) or ``"percentile"`` (``r1`` at or below the ``drop_quantile`` of the asset's trailing
   ``r1`` values, likewise ``r2``; the return must also be negative).
3. **Drop rule**: ``require_both`` (both horizons) or either one.
4. **Volume spike**: ``volume >=`` the ``volume_quantile`` of the trailing ``lookback`` volumes.

Trailing statistics use only bars strictly BEFORE the bar being judged, and the asset needs
``min_history`` values in every window it uses before it can signal. Quantiles are
linear-interpolation quantiles (numpy's default).

Both detectors ignore (and count) a bar that is not later than the asset's previous bar, and
appending later bars never changes an earlier judgement.
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import insort
from collections import deque
from dataclasses import dataclass
from typing import Protocol

NS_PER_HOUR = 3_600_000_000_000
FIXED, PERCENTILE = "fixed", "percentile"
#: Branch names of a qualifying bar (``AssetCrash.branch``).
DROP, CRASH, CASCADE = "drop", "crash", "cascade"


def quantile_of_sorted(ordered: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's and pandas' default) of a sorted, non-empty list."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class TrailingWindow:
    """
    The last ``size`` values, kept sorted as well, for cheap quantiles.

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


class TimeWindow:
    """
    Values stamped in the last ``span_ns`` (``(t - span_ns, t]``), kept sorted for quantiles.

    Parameters
    ----------
    span_ns : int
        Window length in nanoseconds (``window * interval``).

    """

    def __init__(self, span_ns: int) -> None:
        self._values: deque[tuple[int, float]] = deque()
        self._sorted: list[float] = []
        self._span_ns = span_ns

    def __len__(self) -> int:
        return len(self._values)

    def add(self, ts_ns: int, value: float) -> None:
        """Append a value stamped ``ts_ns`` and drop those at or before ``ts_ns - span_ns``."""
        while self._values and self._values[0][0] <= ts_ns - self._span_ns:
            _, old = self._values.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
        self._values.append((ts_ns, value))
        insort(self._sorted, value)

    def quantile(self, q: float) -> float:
        """Linear-interpolation quantile of the window (must not be empty)."""
        return quantile_of_sorted(self._sorted, q)


@dataclass(frozen=True)
class AssetCrash:
    """
    One asset's qualifying bar, with the numbers that qualified it.

    ``branch`` says which rule fired (``"drop"`` for the trailing rules; ``"crash"`` or
    ``"cascade"`` for the seed's). ``r1``/``r2`` are ``None`` when undefined; thresholds are the
    values in force for this bar (``None`` where the branch does not use one).
    """

    asset: str
    ts_ns: int
    close: float
    volume: float
    r1: float | None
    r2: float | None
    r1_threshold: float | None
    r2_threshold: float | None
    volume_threshold: float
    branch: str = DROP

    def as_dict(self) -> dict[str, object]:
        """Plain fields, for the event log."""
        return {
            "symbol": self.asset,
            "branch": self.branch,
            "close": self.close,
            "volume": self.volume,
            "r1": self.r1,
            "r2": self.r2,
            "r1_threshold": self.r1_threshold,
            "r2_threshold": self.r2_threshold,
            "volume_threshold": self.volume_threshold,
        }


class Detector(Protocol):
    """What the planner needs from a detector: judge one asset's closed bar."""

    ignored_bars: int

    def judge(self, asset: str, ts_ns: int, close: float, volume: float) -> AssetCrash | None:
        """Judge the bar, add it to the asset's history, return its qualification or ``None``."""
        ...


class _Closes:
    """The last few closes of one asset, for returns over exact bar distances."""

    def __init__(self, keep: int) -> None:
        self._closes: deque[tuple[int, float]] = deque(maxlen=keep)
        self.last_ts: int | None = None

    def at(self, ts_ns: int) -> float | None:
        for ts, close in self._closes:
            if ts == ts_ns:
                return close
        return None

    def ret(self, ts_ns: int, close: float, back_ns: int) -> float | None:
        before = self.at(ts_ns - back_ns)
        return close / before - 1.0 if before else None

    def add(self, ts_ns: int, close: float) -> None:
        self._closes.append((ts_ns, close))
        self.last_ts = ts_ns


# --------------------------------------------------------------------------- the seed's rules


@dataclass(frozen=True)
class SeedParams:
    """
    The notebook's detection rules (module docstring).

    Parameters
    ----------
    interval_ns : int
        Bar length (1 h).
    window : int
        Bars in the rolling volume window, the current bar included (168 = one week).
    crash_drop : float
        Crash branch: ``r1 <`` this (-0.05).
    crash_volume_quantile : float
        Crash branch: ``volume >`` this quantile of the window (0.95).
    cascade_drop : float
        Cascade branch: ``r2 <`` this (-0.08).
    cascade_r1_above : float
        Cascade branch: ``r1 >`` this (-0.03): a 2 h slide whose last hour is not itself a crash.
    cascade_volume_quantile : float
        Cascade branch: ``volume >`` this quantile of the window (0.90).

    """

    interval_ns: int = NS_PER_HOUR
    window: int = 168
    crash_drop: float = -0.05
    crash_volume_quantile: float = 0.95
    cascade_drop: float = -0.08
    cascade_r1_above: float = -0.03
    cascade_volume_quantile: float = 0.90

    def __post_init__(self) -> None:
        checks = {
            "interval_ns": self.interval_ns > 0,
            "window": self.window >= 2,
            "crash_drop": -1.0 < self.crash_drop < 0.0,
            "crash_volume_quantile": 0.0 < self.crash_volume_quantile < 1.0,
            "cascade_drop": -1.0 < self.cascade_drop < 0.0,
            "cascade_r1_above": -1.0 < self.cascade_r1_above < 1.0,
            "cascade_volume_quantile": 0.0 < self.cascade_volume_quantile < 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SeedParams.{name} is invalid: {getattr(self, name)!r}")

    @property
    def warmup_bars(self) -> int:
        """Bars an asset needs before it can signal (a full volume window)."""
        return self.window


class _SeedAsset:
    def __init__(self, params: SeedParams) -> None:
        self.closes = _Closes(keep=2)
        self.volumes = TimeWindow(params.window * params.interval_ns)


class SeedDetector:
    """
    The notebook's per-asset crash rules (both branches), bar by bar.

    Parameters
    ----------
    params : SeedParams
        Thresholds and the window.

    """

    def __init__(self, params: SeedParams) -> None:
        self.params = params
        self._assets: dict[str, _SeedAsset] = {}
        self.ignored_bars = 0

    def judge(self, asset: str, ts_ns: int, close: float, volume: float) -> AssetCrash | None:
        """
        Judge one asset's closed bar (the window includes it), then keep it for later bars.

        Parameters
        ----------
        asset : str
            Asset name (``ETHUSDT``).
        ts_ns : int
            Bar close time, strictly increasing per asset (others are ignored and counted).
        close, volume : float
            The bar's close and volume.

        Returns
        -------
        AssetCrash | None
            The qualification (``branch`` ``"crash"`` or ``"cascade"``: with the default
            thresholds the branches exclude each other, ``r1 < -5 %`` against ``r1 > -3 %``),
            or ``None``.

        """
        p = self.params
        state = self._assets.get(asset)
        if state is None:
            state = self._assets[asset] = _SeedAsset(p)
        if state.closes.last_ts is not None and ts_ns <= state.closes.last_ts:
            self.ignored_bars += 1
            return None
        r1 = state.closes.ret(ts_ns, close, p.interval_ns)
        r2 = state.closes.ret(ts_ns, close, 2 * p.interval_ns)
        state.closes.add(ts_ns, close)
        state.volumes.add(ts_ns, volume)  # the window includes the current bar
        if len(state.volumes) < p.window or r1 is None:
            return None
        p_crash = state.volumes.quantile(p.crash_volume_quantile)
        if r1 < p.crash_drop and volume > p_crash:
            return AssetCrash(
                asset, ts_ns, close, volume, r1, r2, p.crash_drop, None, p_crash, CRASH
            )
        if r2 is None:
            return None
        p_cascade = state.volumes.quantile(p.cascade_volume_quantile)
        if r2 < p.cascade_drop and r1 > p.cascade_r1_above and volume > p_cascade:
            return AssetCrash(
                asset, ts_ns, close, volume, r1, r2, p.cascade_r1_above, p.cascade_drop,
                p_cascade, CASCADE,
            )  # fmt: skip
        return None


# --------------------------------------------------------------------------- trailing rules


@dataclass(frozen=True)
class CrashParams:
    """
    Our trailing detection parameters (module docstring), shared by all assets.

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
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"CrashParams.{name} is invalid: {getattr(self, name)!r}")

    @property
    def warmup_bars(self) -> int:
        """Bars an asset needs before it can signal (history plus the bar judged)."""
        return self.min_history + 1


class _TrailingAsset:
    def __init__(self, params: CrashParams) -> None:
        self.closes = _Closes(keep=params.r2_bars)
        self.volumes = TrailingWindow(params.lookback)
        self.r1s = TrailingWindow(params.lookback)
        self.r2s = TrailingWindow(params.lookback)


class CrashDetector:
    """
    Our trailing per-asset crash rules, bar by bar (in close-time order per asset).

    Parameters
    ----------
    params : CrashParams
        Thresholds and windows.

    """

    def __init__(self, params: CrashParams) -> None:
        self.params = params
        self._assets: dict[str, _TrailingAsset] = {}
        self.ignored_bars = 0  # bars not later than the asset's previous bar

    def judge(self, asset: str, ts_ns: int, close: float, volume: float) -> AssetCrash | None:
        """
        Judge one asset's closed bar against its past (drop + volume spike), then keep it.

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
            state = self._assets[asset] = _TrailingAsset(p)
        if state.closes.last_ts is not None and ts_ns <= state.closes.last_ts:
            self.ignored_bars += 1
            return None
        r1 = state.closes.ret(ts_ns, close, p.r1_bars * p.interval_ns)
        r2 = state.closes.ret(ts_ns, close, p.r2_bars * p.interval_ns)
        result = self._qualify(state, asset, ts_ns, close, volume, r1, r2)
        # Only now does this bar join the trailing statistics.
        state.volumes.add(volume)
        if r1 is not None:
            state.r1s.add(r1)
        if r2 is not None:
            state.r2s.add(r2)
        state.closes.add(ts_ns, close)
        return result

    def _qualify(
        self,
        state: _TrailingAsset,
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
