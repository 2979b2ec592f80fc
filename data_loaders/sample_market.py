"""The sample market's parameters and what all its symbols share.

:class:`SampleConfig` (the model's parameters), the built-in per-symbol models, the random
streams (one per model component, so changing one never shifts another), the instrument grids
the model works on in integers, the small numerical helpers of the model, and :class:`Market`:
the activity regime, the common diffusion factor, the crash plans and the news hours that every
symbol sees. The model itself is described in :mod:`liqcascade.data_loaders.sample`.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal

import numpy as np

from liqcascade.data_loaders.instruments import InstrumentSpec

DAY_S = 86_400
HOUR_S = 3_600
TS_PER_S = 10_000  # trade timestamps are written with 4 decimals: 100 us units
SUBSTEPS = 12  # 5-minute steps per hour in the bar-level model
CRASH_NOISE = 0.6  # diffusion volatility multiplier inside a crash episode
_REGIME_SIGMA = 0.25
_REGIME_PHI = 0.85
_WEEKEND_FACTOR = 0.6
# UTC hour-of-day activity: Asia evening, European morning, busiest during US hours (13-18).
_HOUR_PROFILE = np.array(
    [
        1.00, 0.95, 0.90, 0.85, 0.80, 0.75, 0.75, 0.80, 0.95, 1.00, 1.00, 1.00,
        1.10, 1.35, 1.60, 1.70, 1.60, 1.45, 1.30, 1.15, 1.05, 1.00, 1.00, 1.00,
    ]
)  # fmt: skip
_SEASON_NORM = float(_HOUR_PROFILE.mean() * (5 + 2 * _WEEKEND_FACTOR) / 7)

# Random stream ids, one per model component (changing one never shifts another).
S_MARKET, S_LIQ, S_REVERT, S_DIFFUSION, S_TRADES, S_WIRE, S_IDS, S_HISTORY, S_CRASH = range(9)


@dataclass(frozen=True)
class SymbolModel:
    """The built-in model of one symbol (levels calibrated on early March 2025)."""

    price: float  # mid at `start` 00:00 UTC
    daily_vol: float
    trade_weight: float  # relative trade arrival rate
    trade_median_notional: float  # USDT
    liq_p95: float  # target P95 of liquidation notional, USDT
    liq_clusters_per_day: float
    crash_beta: float  # crash depth relative to the market


MODELS: dict[str, SymbolModel] = {
    "BTCUSDT": SymbolModel(85_000.0, 0.025, 1.2, 800.0, 200_000.0, 330.0, 0.85),
    "ETHUSDT": SymbolModel(2_200.0, 0.035, 3.0, 500.0, 80_000.0, 450.0, 1.05),
    "SOLUSDT": SymbolModel(140.0, 0.045, 1.0, 350.0, 15_000.0, 320.0, 1.2),
    "DOGEUSDT": SymbolModel(0.20, 0.050, 0.9, 250.0, 10_000.0, 310.0, 1.25),
    "XRPUSDT": SymbolModel(2.4, 0.045, 1.0, 300.0, 12_000.0, 300.0, 1.15),
}


@dataclass(frozen=True)
class SampleConfig:
    """
    Parameters of the synthetic market.

    Parameters
    ----------
    start : str
        UTC date of the first trade-level day.
    days : int
        Number of trade- and liquidation-level days.
    bar_history_days : int
        Days of 1h klines before ``start`` (bar-level model).
    symbols : tuple[str, ...]
        Symbols to generate (each needs an instrument spec and a built-in model).
    seed : int
        Master seed.
    reversion_probability : float
        Probability that a liquidation cluster's impact (partially) reverts once it has ended.
    reversion_fraction : float
        Fraction of the cluster's impact that reverts when it does.
    reversion_half_life_s : float
        Half-life of the reversion, seconds; it starts 20 s after the cluster's last event.
    trade_rate_scale : float
        Multiplies every symbol's trade arrival rate.
    crash_episodes : int
        Cross-asset crash episodes in the bar-level history.
    trade_level_crash : bool
        Whether one crash episode also happens inside the trade-level days.
    base_trades_per_day : float
        Trades per day of a symbol with relative weight 1 (ETH has 3) before seasonality.
    market_correlation : float
        Correlation of the symbols' diffusion returns.
    liq_rate_scale : float
        Multiplies every symbol's liquidation cluster rate.
    liq_branching_ratio : float
        Mean number of offspring per liquidation (< 1).
    liq_offspring_delay_s : float
        Mean delay of an offspring after its parent, seconds.
    liq_long_share : float
        Share of clusters that liquidate longs.
    impact_bps : float
        Impact of a lone liquidation of P95 notional, basis points; a cluster moves the price by
        ``impact_bps * sqrt(cumulative notional / P95)`` (each event capped at 3 x P95).

    """

    start: str = "2025-03-03"
    days: int = 7
    bar_history_days: int = 120
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT")
    seed: int = 7
    reversion_probability: float = 0.9
    reversion_fraction: float = 1.0
    reversion_half_life_s: float = 5.0
    trade_rate_scale: float = 1.0
    crash_episodes: int = 3
    trade_level_crash: bool = True
    base_trades_per_day: float = 85_000.0
    market_correlation: float = 0.6
    liq_rate_scale: float = 1.0
    liq_branching_ratio: float = 0.5
    liq_offspring_delay_s: float = 2.0
    liq_long_share: float = 0.6
    impact_bps: float = 22.0


def iso_date(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, tz=dt.UTC).date().isoformat()


def start_seconds(start: str) -> int:
    try:
        day = dt.date.fromisoformat(start)
    except ValueError as e:
        raise ValueError(f"start must be an ISO date (YYYY-MM-DD), got {start!r}") from e
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def stream_rng(seed: int, symbol: str | None, stream: int, *extra: int) -> np.random.Generator:
    key = zlib.crc32(symbol.encode()) if symbol else 0
    return np.random.default_rng(np.random.SeedSequence([seed, key, stream, *extra]))


def seasonality(unix_hours: np.ndarray) -> np.ndarray:
    """Activity multiplier of each UTC hour (mean 1 over a week)."""
    hod = unix_hours % 24
    dow = (unix_hours // 24 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = np.where(dow >= 5, _WEEKEND_FACTOR, 1.0)
    return _HOUR_PROFILE[hod] * weekend / _SEASON_NORM


def ar1(
    rng: np.random.Generator, n: int, phi: float, sigma: float, start: float | None = None
) -> np.ndarray:
    """Gaussian AR(1) of length ``n``, stationary std ``sigma``, continuing from ``start``."""
    x = rng.standard_normal() * sigma if start is None else start
    eps = rng.standard_normal(n) * sigma * math.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    for i in range(n):
        x = phi * x + eps[i]
        out[i] = x
    return out


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def exp_states(times: np.ndarray, weights: np.ndarray, tau: float) -> np.ndarray:
    """``S_k = sum_{i <= k} w_i exp(-(t_k - t_i) / tau)``, recursively (times sorted)."""
    states = np.empty_like(weights, dtype=float)
    if len(times) == 0:
        return states
    decay = np.exp(-np.diff(times, prepend=times[0]) / tau)
    state = np.zeros(weights.shape[1:])
    for k in range(len(times)):
        state = state * decay[k] + weights[k]
        states[k] = state
    return states


def exp_eval(times: np.ndarray, states: np.ndarray, tau: float, query: np.ndarray) -> np.ndarray:
    """Evaluate the exponential-kernel sum of events ``<= query`` at ``query`` times."""
    out = np.zeros((len(query), *states.shape[1:]))
    if len(times) == 0:
        return out
    idx = np.searchsorted(times, query, side="right") - 1
    has = idx >= 0
    k = idx[has]
    factor = np.exp(-(query[has] - times[k]) / tau)
    out[has] = states[k] * factor.reshape(-1, *([1] * (states.ndim - 1)))
    return out


@dataclass(frozen=True)
class Grid:
    """Integer grids of one instrument: prices in 10^-pp units, sizes in 10^-sp units."""

    pp: int
    sp: int
    tick: int  # tick size in price units
    step: int  # lot size in size units
    max_qty: int
    tick_size: float
    qty_step: float

    @classmethod
    def of(cls, spec: InstrumentSpec) -> Grid:
        pp, sp = spec.price_precision, spec.size_precision
        return cls(
            pp=pp,
            sp=sp,
            tick=int(spec.tick_size * Decimal(10) ** pp),
            step=int(spec.qty_step * Decimal(10) ** sp),
            max_qty=int(spec.max_qty * Decimal(10) ** sp),
            tick_size=float(spec.tick_size),
            qty_step=float(spec.qty_step),
        )


# --------------------------------------------------------------------------------------------
# Shared market: regimes, common factor, crash plans, news
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    key: int  # 0: the trade-level crash, i + 1: history crash i
    t0: float  # seconds since the start of its part (history or trade-level days)
    drop_s: float
    rebound_s: float
    depth: float  # market depth (fraction), scaled per symbol by crash_beta and a jitter
    rebound: float  # fraction of the fall recovered
    volume_mult: float


class Market:
    """
    Everything shared by all symbols.

    The trade-level days and the history draw from separate streams, so the trade-level data of
    a symbol depends neither on the history settings nor on the other symbols. The history's
    activity regime runs backwards from the first trade-level day (a stationary AR(1) is
    time-reversible), which keeps it continuous across the boundary.
    """

    def __init__(self, config: SampleConfig) -> None:
        self.config = config
        self.start_s = start_seconds(config.start)
        self.hist_start_s = self.start_s - config.bar_history_days * DAY_S
        self.seconds = config.days * DAY_S
        seed = config.seed
        forward = ar1(stream_rng(seed, None, S_MARKET, 0), config.days, _REGIME_PHI, _REGIME_SIGMA)
        backward = ar1(
            stream_rng(seed, None, S_MARKET, 1),
            config.bar_history_days,
            _REGIME_PHI,
            _REGIME_SIGMA,
            start=float(forward[0]),
        )
        # Daily activity regime (mean 1), history days first.
        regime = np.concatenate([backward[::-1], forward])
        self.activity = np.exp(regime - _REGIME_SIGMA**2 / 2)
        self.market_shocks = stream_rng(seed, None, S_MARKET, 2).standard_normal(self.seconds)
        n_steps = config.bar_history_days * 24 * SUBSTEPS
        hist = stream_rng(seed, None, S_MARKET, 3)
        self.hist_market_shocks = hist.standard_t(4, n_steps) / math.sqrt(2.0)
        self.hist_crashes = self._plan_history_crashes(hist)
        self.news = self._plan_news(hist)
        self.crash = (
            self._plan_trade_crash(stream_rng(seed, None, S_MARKET, 4))
            if config.trade_level_crash
            else None
        )

    def date(self, day: int) -> str:
        return iso_date(self.start_s + day * DAY_S)

    @staticmethod
    def _crash(rng: np.random.Generator, key: int, t0: float) -> Crash:
        return Crash(
            key=key,
            t0=t0,
            drop_s=float(rng.uniform(1.0, 2.0) * HOUR_S),
            rebound_s=float(rng.uniform(1.0, 3.0) * HOUR_S),
            depth=float(rng.uniform(0.04, 0.06)),
            rebound=float(rng.uniform(0.42, 0.58)),
            volume_mult=float(rng.uniform(3.0, 5.0)),
        )

    def _plan_history_crashes(self, rng: np.random.Generator) -> list[Crash]:
        """Crashes in the history, one per equal segment, starting on a whole hour."""
        hours = self.config.bar_history_days * 24
        n = self.config.crash_episodes
        out: list[Crash] = []
        if n == 0 or hours == 0:
            return out
        seg = hours / n
        for i in range(n):
            lo, hi = int(i * seg) + 12, int((i + 1) * seg) - 8
            if hi <= lo:
                continue
            hour = int(rng.integers(lo, hi))
            out.append(self._crash(rng, i + 1, float(hour * HOUR_S)))
        return out

    def _plan_news(self, rng: np.random.Generator) -> list[tuple[int, float, float]]:
        """Market-wide news hours in the history: (hour, signed move, volume multiplier)."""
        hours = self.config.bar_history_days * 24
        if hours == 0:
            return []
        out = []
        for hour in np.sort(rng.integers(0, hours, rng.poisson(hours / (24 * 6)))):
            sign = 1.0 if rng.random() < 0.5 else -1.0
            move = sign * float(rng.uniform(0.01, 0.025))
            out.append((int(hour), move, float(rng.uniform(2.5, 4.0))))
        return out

    def _plan_trade_crash(self, rng: np.random.Generator) -> Crash:
        """One crash in US hours of a weekday (if any) of the trade-level days."""
        days = self.config.days
        weekdays = [d for d in range(days) if (self.start_s // DAY_S + d + 3) % 7 < 5]
        day = int(rng.choice(weekdays)) if weekdays else int(rng.integers(0, days))
        t0 = day * DAY_S + int(rng.integers(13, 19)) * HOUR_S + int(rng.integers(0, 60)) * 60
        crash = self._crash(rng, 0, float(t0))
        latest = self.seconds - crash.drop_s - crash.rebound_s - 600.0
        return replace(crash, t0=float(max(0.0, min(t0, latest))))


def crash_depth(crash: Crash, model: SymbolModel, symbol: str, seed: int) -> float:
    """Log depth of a crash for one symbol (3-8 % fall)."""
    jitter = float(stream_rng(seed, symbol, S_CRASH, crash.key).uniform(0.92, 1.08))
    frac = min(0.08, max(0.03, crash.depth * model.crash_beta * jitter))
    return -math.log(1.0 - frac)
