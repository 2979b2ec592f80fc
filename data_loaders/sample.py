"""Deterministic synthetic crypto market written in the raw wire formats of the real sources.

:func:`generate_sample` writes, for every symbol, exactly the files the real pipeline ingests:

* ``bybit/trades/{SYMBOL}{YYYY-MM-DD}.csv.gz``: Bybit public trade-history CSV, one per day;
* ``bybit/liquidations/allLiquidation_{SYMBOL}_{YYYY-MM-DD}.jsonl.gz``: recorder-wrapped raw
  ``allLiquidation`` websocket pushes, one JSON object per line, one file per event day (the
  push batching the last 500 ms of a day is filed under that day although it is received a few
  tens of milliseconds after midnight);
* ``bybit/klines/{SYMBOL}_60_{first-date}_{last-date}.csv``: 1h klines covering
  ``bar_history_days`` of bar-level history followed by the trade-level days.

The same :class:`SampleConfig` always produces byte-identical files (seeded numpy generators,
one independent stream per symbol and model component, gzip with ``mtime=0``; trade files use
compression level 1 because compressing them dominates the run time). Changing
``reversion_probability`` or ``reversion_fraction`` changes only prices: arrival times, sides,
sizes and liquidations stay identical, so runs with and without reversion pair up exactly. A
symbol's trade-level data (trades, liquidations, trade-level klines) depends only on ``seed``,
``start``, ``days`` and the trade-level parameters: not on the history settings nor on which
other symbols are generated.

The market model
----------------
*Mid price (trade-level days).* Log mid = diffusion + liquidation impacts + crash path. The
diffusion is a Gaussian random walk on a one-second grid with a per-symbol daily volatility
(BTC 2.5 %, ETH 3.5 %, SOL 4.5 %, DOGE 5 %, XRP 4.5 %) built from a common market factor
(correlation ``market_correlation``) and an idiosyncratic factor, scaled by intraday seasonality
and a slowly varying daily activity regime. The diffusion variance is reduced by the variance the
permanent part of the liquidation impacts contributes (reverting impacts are gone within a
minute or two) so the total daily volatility stays near the target. Start levels
are early-March-2025-like (BTC 85 000, ETH 2 200, SOL 140, DOGE 0.20, XRP 2.4).

*Liquidations.* Per symbol, a branching (Hawkes) cluster process: parents arrive as a Poisson
process (300-450 clusters a day by symbol, x seasonality and activity), each event spawns
``Poisson(liq_branching_ratio)`` offspring (default 0.5) after ``Exp(liq_offspring_delay_s)``
seconds (default 2 s), offspring keep the parent's side with probability 0.9. Clusters
liquidate longs with probability ``liq_long_share``. Notional = (cluster severity, lognormal) x
(event size, lognormal), calibrated so the sample P95 is near BTC $200K, ETH $80K, SOL $15K,
DOGE $10K, XRP $12K; the shared severity makes large events arrive together, which is what a
"2+ events above P95 within 60 s" cascade detector looks for. With the defaults such a
detector finds roughly 4-6 cascades a day per symbol (ETH the most) lasting 7-15 s on average
(first to last large event); most clusters are one or two small liquidations.

*Price impact: push, then (maybe) revert.* A cluster is treated as one metaorder of forced
flow: after its k-th event it has moved the log mid by ``impact_bps * g(C_k)``, where ``C_k``
is the cluster's cumulative signed size in P95 units (each event counted as at most 3 x P95)
and ``g(x) = sign(x) sqrt(|x|)`` (square-root impact), down for liquidated longs, up for
liquidated shorts. A lone P95 liquidation moves the mid ``impact_bps`` (22 bp by default); a
cascade of a few large ones 0.3-0.6 %. Half of each event's increment is immediate, the other
half builds up with a 10 s time constant (the forced orders are worked through a thinning
book), so the price keeps moving for several seconds after the event that confirms a cascade.
Per cluster, with probability ``reversion_probability`` (default 0.9), a fraction
``reversion_fraction`` (default 1.0) of the cluster's total impact reverts: liquidity comes
back once the forced flow has stopped, so the reverting part starts to decay 20 s after the
cluster's last event (when its push has played out) with half-life ``reversion_half_life_s``
(default 5 s) - the snap-back is over about 40 s after the cascade. The rest is permanent.
This is the planted edge: a limit order resting 0.15 % into a cascade tends to be filled by
the late part of the push and is then carried back by the snap-back. With
``reversion_probability=0`` every impact is permanent and the same fills are followed by the
rest of the push instead, so the edge disappears. Because 60 % of clusters liquidate longs,
permanent impacts alone would make the market trend down; a constant drift offsets the
realised sum of (non-crash) permanent impacts so the sample is trend-neutral. That drift is
small by default (0-4 bp per hour) but 20-40 bp/h upwards with ``reversion_probability=0``:
a long position held for minutes then gains a few bp from it and a short loses them.

*Trades.* Inhomogeneous Poisson arrivals on a one-second grid. The intensity is the symbol's
base rate (ETH about 3x the others) x ``trade_rate_scale`` x intraday/weekly seasonality
(13-18 UTC busiest, weekends x0.6) x daily activity regime x a per-minute lognormal burst factor
x (1 + liquidation excitation, up to 10x right after large liquidations) x the crash multiplier.
Taker side is 50/50 except after liquidations, when it leans towards the forced side. A trade
prints at the best bid (taker sell) or best ask (taker buy) of a one-tick-wide book around the
mid. Sizes are lognormal in notional, converted to base units at the symbol's start price (not
the current mid, so sizes do not depend on the price path) and rounded to the lot grid (at
least one lot). Every liquidation also prints on the tape as one taker trade of its full size
at its event time, at the post-impact touch. A liquidation's bankruptcy price ``p`` is 0.2-1.0 %
below (liquidated long) or above (liquidated short) the mid at its event time.

*Crash episodes.* ``crash_episodes`` in the bar-level history and one in the trade-level days
(``trade_level_crash``): all symbols fall 3-8 % (alts more than BTC) over 1-2 hours with 3-6x
the hourly volume and, in the trade-level days, extra liquidation clusters (3x the normal rate
while falling, 92 % longs; 1.5x while rebounding, 80 % shorts), then rebound 40-60 % of the
fall over 1-3 hours. The crash clusters follow the same impact and reversion law; their lasting
(non-reverting) part supplies at most half of the fall (their impacts are scaled down if it
would be more) and they do not excite trading on their own (the crash volume multiplier does);
a deterministic path tops their net effect up to the target fall at the bottom and to the
target rebound at the end, and diffusion noise comes on top, so a realised fall or rebound can
land somewhat outside those ranges. A cascade trade against a crash usually loses: the slide
continues while the cascade's own impact snaps back.

*Bar-level history.* 1h bars built from a 5-minute log random walk with fat-tailed (Student-t,
4 d.o.f.) correlated shocks, the same seasonality and activity regime, crash episodes and
occasional market-wide "news" hours (1-2.5 % move either way with 2.5-4x volume) that a crash
detector must not mistake for crashes. Hourly volume = base volume (calibrated on the
trade-level days, so both parts agree) x seasonality x regime x AR(1) lognormal noise x a
volatility coupling (crash and news hours: a 3-6x / 2.5-4x spike instead); turnover is volume
x (O+H+L+C)/4. The path is shifted so its last close is exactly the trade-level start price.
Trade-level klines are aggregated exactly from the generated trades (turnover = sum of
price x size, exact).

What is realistic and what is not
---------------------------------
Realistic: file formats byte for byte (headers, decimals, grids, side conventions, 500 ms push
batching, receipt latency), price levels, relative volatilities, cross-asset correlation,
seasonality, heavy-tailed sizes, clustered liquidations whose sizes are calibrated to Bybit
P95 levels, and crash/rebound shapes in hourly bars.

Not realistic: there is no order book (one-tick spread, no depth, trades never walk the book,
one print per taker order, no same-timestamp fills); ordinary trades have no price impact and
the mid moves independently of the tape except through liquidations; liquidations are
exogenous (they cause moves, they are never caused by them); trade counts and volumes are
roughly 5-20x below real Bybit activity; the reversion edge is planted with known parameters
and is cleaner than in reality (90 % of clusters snap all the way back, on a fixed schedule;
impact per P95 liquidation is the same in bp for every symbol, so BTC cascades move BTC as much
as alt cascades move alts);
the bar-level history is a separate coarser model, not aggregated from simulated trades;
funding, open interest and the index/mark price do not exist.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np

from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_specs

TRADES_HEADER = (
    "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    "foreignNotional"
)
KLINES_HEADER = "startTime,open,high,low,close,volume,turnover"
TICK_DIRECTIONS = ("PlusTick", "ZeroPlusTick", "MinusTick", "ZeroMinusTick")

_DAY_S = 86_400
_HOUR_S = 3_600
_TS_PER_S = 10_000  # trade timestamps are written with 4 decimals: 100 us units
_SUBSTEPS = 12  # 5-minute steps per hour in the bar-level model
_PUSH_MS = 500  # Bybit allLiquidation push interval
_TRADES_GZIP_LEVEL = 1  # the trade files dominate generation time; level 6 is only 13 % smaller
_IMPACT_RATIO_CAP = 3.0  # one event counts as at most 3x P95 in the impact law
_BOOST_RATIO_CAP = 25.0  # ... and as at most 25x P95 in the trade-intensity excitation
_PUSH_SHARE = 0.5  # share of an impact that builds up over time (the rest is immediate)
_PUSH_TAU_S = 10.0  # time constant of that build-up
_REVERT_LAG_S = 2.0 * _PUSH_TAU_S  # reversion starts this long after a cluster's last event
_CRASH_RATE_DROP = 3.0  # liquidation cluster rate multiplier while a crash falls
_CRASH_RATE_REBOUND = 1.5  # ... and while it rebounds
_SAME_SIDE_OFFSPRING = 0.9
_SEVERITY_SIGMA = 0.9  # lognormal sigma of a cluster's shared size factor
_EVENT_SIGMA = 1.3  # lognormal sigma of one event's own size factor
_CRASH_SEVERITY = 0.5  # log shift of crash-cluster severity
_CRASH_NOISE = 0.6  # diffusion volatility multiplier inside a crash episode
_TRADE_SIZE_SIGMA = 1.6
_LIQ_BOOST = 3.0  # trade intensity excitation per unit sqrt(notional / P95)
_LIQ_BOOST_TAU_S = 20.0
_LIQ_BOOST_CAP = 9.0
_PRESSURE_TAU_S = 30.0
_REGIME_SIGMA = 0.25
_REGIME_PHI = 0.85
_BURST_SIGMA = 0.35
_BURST_PHI = 0.9
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
_S_MARKET, _S_LIQ, _S_REVERT, _S_DIFFUSION, _S_TRADES, _S_WIRE, _S_IDS, _S_HISTORY, _S_CRASH = (
    range(9)
)


@dataclass(frozen=True)
class _SymbolModel:
    price: float  # mid at `start` 00:00 UTC
    daily_vol: float
    trade_weight: float  # relative trade arrival rate
    trade_median_notional: float  # USDT
    liq_p95: float  # target P95 of liquidation notional, USDT
    liq_clusters_per_day: float
    crash_beta: float  # crash depth relative to the market


_MODELS: dict[str, _SymbolModel] = {
    "BTCUSDT": _SymbolModel(85_000.0, 0.025, 1.2, 800.0, 200_000.0, 330.0, 0.85),
    "ETHUSDT": _SymbolModel(2_200.0, 0.035, 3.0, 500.0, 80_000.0, 450.0, 1.05),
    "SOLUSDT": _SymbolModel(140.0, 0.045, 1.0, 350.0, 15_000.0, 320.0, 1.2),
    "DOGEUSDT": _SymbolModel(0.20, 0.050, 0.9, 250.0, 10_000.0, 310.0, 1.25),
    "XRPUSDT": _SymbolModel(2.4, 0.045, 1.0, 300.0, 12_000.0, 300.0, 1.15),
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


@dataclass(frozen=True)
class SampleFiles:
    """Paths written by :func:`generate_sample`, ordered by symbol then date."""

    trades: list[Path]
    liquidations: list[Path]
    klines: list[Path]


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def generate_sample(out_dir: Path, config: SampleConfig = SampleConfig()) -> SampleFiles:
    """
    Generate the synthetic market and write it in raw wire formats under ``out_dir/bybit``.

    Parameters
    ----------
    out_dir : Path
        Root directory; ``bybit/trades``, ``bybit/liquidations`` and ``bybit/klines`` are
        created below it. Existing files of the same names are overwritten.
    config : SampleConfig
        Model parameters.

    Returns
    -------
    SampleFiles
        The written files, ordered by symbol (as in ``config.symbols``) then date.

    Raises
    ------
    ValueError
        If a parameter is out of range or a symbol has no spec or no built-in model.

    """
    specs = load_specs()
    _validate(config, specs)
    out_dir = Path(out_dir)
    dirs = {name: out_dir / "bybit" / name for name in ("trades", "liquidations", "klines")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    market = _Market(config)
    trades: list[Path] = []
    liquidations: list[Path] = []
    klines: list[Path] = []
    futures: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for symbol in config.symbols:
            grid = _Grid.of(specs[symbol])
            sim = _simulate_symbol(symbol, _MODELS[symbol], grid, config, market)
            for day in range(config.days):
                date = market.date(day)
                path = dirs["trades"] / f"{symbol}{date}.csv.gz"
                lo, hi = sim.day_bounds[day], sim.day_bounds[day + 1]
                futures.append(
                    pool.submit(_write_trades, path, symbol, grid, sim, lo, hi, config.seed, day)
                )
                trades.append(path)
            liquidations += _write_liquidations(dirs["liquidations"], symbol, grid, sim, market)
            klines.append(_write_klines(dirs["klines"], symbol, grid, sim, config, market))
        for future in futures:
            future.result()
    return SampleFiles(trades=trades, liquidations=liquidations, klines=klines)


def _validate(config: SampleConfig, specs: dict[str, InstrumentSpec]) -> None:
    if config.days < 1:
        raise ValueError(f"days must be >= 1, got {config.days}")
    if config.bar_history_days < 0:
        raise ValueError(f"bar_history_days must be >= 0, got {config.bar_history_days}")
    if not config.symbols or len(set(config.symbols)) != len(config.symbols):
        raise ValueError(f"symbols must be non-empty and distinct, got {config.symbols}")
    for symbol in config.symbols:
        if symbol not in specs:
            raise ValueError(f"no instrument spec for {symbol}")
        if symbol not in _MODELS:
            raise ValueError(f"no built-in market model for {symbol}; known: {sorted(_MODELS)}")
    for name in ("reversion_probability", "reversion_fraction", "liq_long_share"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0.0 <= config.market_correlation <= 1.0:
        raise ValueError(f"market_correlation must be in [0, 1], got {config.market_correlation}")
    if not 0.0 <= config.liq_branching_ratio < 1.0:
        raise ValueError(f"liq_branching_ratio must be in [0, 1), got {config.liq_branching_ratio}")
    for name in (
        "reversion_half_life_s",
        "trade_rate_scale",
        "base_trades_per_day",
        "liq_rate_scale",
        "liq_offspring_delay_s",
    ):
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}")
    if config.crash_episodes < 0 or config.impact_bps < 0:
        raise ValueError("crash_episodes and impact_bps must be >= 0")
    _start_seconds(config.start)


def _iso_date(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, tz=dt.UTC).date().isoformat()


def _start_seconds(start: str) -> int:
    try:
        day = dt.date.fromisoformat(start)
    except ValueError as e:
        raise ValueError(f"start must be an ISO date (YYYY-MM-DD), got {start!r}") from e
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _rng(seed: int, symbol: str | None, stream: int, *extra: int) -> np.random.Generator:
    key = zlib.crc32(symbol.encode()) if symbol else 0
    return np.random.default_rng(np.random.SeedSequence([seed, key, stream, *extra]))


def _season(unix_hours: np.ndarray) -> np.ndarray:
    """Activity multiplier of each UTC hour (mean 1 over a week)."""
    hod = unix_hours % 24
    dow = (unix_hours // 24 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = np.where(dow >= 5, _WEEKEND_FACTOR, 1.0)
    return _HOUR_PROFILE[hod] * weekend / _SEASON_NORM


def _ar1(
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


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _exp_states(times: np.ndarray, weights: np.ndarray, tau: float) -> np.ndarray:
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


def _exp_eval(times: np.ndarray, states: np.ndarray, tau: float, query: np.ndarray) -> np.ndarray:
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
class _Grid:
    """Integer grids of one instrument: prices in 10^-pp units, sizes in 10^-sp units."""

    pp: int
    sp: int
    tick: int  # tick size in price units
    step: int  # lot size in size units
    max_qty: int
    tick_size: float
    qty_step: float

    @classmethod
    def of(cls, spec: InstrumentSpec) -> _Grid:
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

    def fmt_price(self, units: int) -> str:
        return _fixed_str(units, self.pp)

    def fmt_size(self, units: int) -> str:
        return _fixed_str(units, self.sp)


def _fixed_str(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


# --------------------------------------------------------------------------------------------
# Shared market: regimes, common factor, crash plans, news
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Crash:
    key: int  # 0: the trade-level crash, i + 1: history crash i
    t0: float  # seconds since the start of its part (history or trade-level days)
    drop_s: float
    rebound_s: float
    depth: float  # market depth (fraction), scaled per symbol by crash_beta and a jitter
    rebound: float  # fraction of the fall recovered
    volume_mult: float


class _Market:
    """
    Everything shared by all symbols.

    The trade-level days and the history draw from separate streams, so the trade-level data of
    a symbol depends neither on the history settings nor on the other symbols. The history's
    activity regime runs backwards from the first trade-level day (a stationary AR(1) is
    time-reversible), which keeps it continuous across the boundary.
    """

    def __init__(self, config: SampleConfig) -> None:
        self.config = config
        self.start_s = _start_seconds(config.start)
        self.hist_start_s = self.start_s - config.bar_history_days * _DAY_S
        self.seconds = config.days * _DAY_S
        seed = config.seed
        forward = _ar1(_rng(seed, None, _S_MARKET, 0), config.days, _REGIME_PHI, _REGIME_SIGMA)
        backward = _ar1(
            _rng(seed, None, _S_MARKET, 1),
            config.bar_history_days,
            _REGIME_PHI,
            _REGIME_SIGMA,
            start=float(forward[0]),
        )
        # Daily activity regime (mean 1), history days first.
        regime = np.concatenate([backward[::-1], forward])
        self.activity = np.exp(regime - _REGIME_SIGMA**2 / 2)
        self.market_shocks = _rng(seed, None, _S_MARKET, 2).standard_normal(self.seconds)
        n_steps = config.bar_history_days * 24 * _SUBSTEPS
        hist = _rng(seed, None, _S_MARKET, 3)
        self.hist_market_shocks = hist.standard_t(4, n_steps) / math.sqrt(2.0)
        self.hist_crashes = self._plan_history_crashes(hist)
        self.news = self._plan_news(hist)
        self.crash = (
            self._plan_trade_crash(_rng(seed, None, _S_MARKET, 4))
            if config.trade_level_crash
            else None
        )

    def date(self, day: int) -> str:
        return _iso_date(self.start_s + day * _DAY_S)

    @staticmethod
    def _crash(rng: np.random.Generator, key: int, t0: float) -> _Crash:
        return _Crash(
            key=key,
            t0=t0,
            drop_s=float(rng.uniform(1.0, 2.0) * _HOUR_S),
            rebound_s=float(rng.uniform(1.0, 3.0) * _HOUR_S),
            depth=float(rng.uniform(0.04, 0.06)),
            rebound=float(rng.uniform(0.42, 0.58)),
            volume_mult=float(rng.uniform(3.0, 5.0)),
        )

    def _plan_history_crashes(self, rng: np.random.Generator) -> list[_Crash]:
        """Crashes in the history, one per equal segment, starting on a whole hour."""
        hours = self.config.bar_history_days * 24
        n = self.config.crash_episodes
        out: list[_Crash] = []
        if n == 0 or hours == 0:
            return out
        seg = hours / n
        for i in range(n):
            lo, hi = int(i * seg) + 12, int((i + 1) * seg) - 8
            if hi <= lo:
                continue
            hour = int(rng.integers(lo, hi))
            out.append(self._crash(rng, i + 1, float(hour * _HOUR_S)))
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

    def _plan_trade_crash(self, rng: np.random.Generator) -> _Crash:
        """One crash in US hours of a weekday (if any) of the trade-level days."""
        days = self.config.days
        weekdays = [d for d in range(days) if (self.start_s // _DAY_S + d + 3) % 7 < 5]
        day = int(rng.choice(weekdays)) if weekdays else int(rng.integers(0, days))
        t0 = day * _DAY_S + int(rng.integers(13, 19)) * _HOUR_S + int(rng.integers(0, 60)) * 60
        crash = self._crash(rng, 0, float(t0))
        latest = self.seconds - crash.drop_s - crash.rebound_s - 600.0
        return replace(crash, t0=float(max(0.0, min(t0, latest))))


def _crash_depth(crash: _Crash, model: _SymbolModel, symbol: str, seed: int) -> float:
    """Log depth of a crash for one symbol (3-8 % fall)."""
    jitter = float(_rng(seed, symbol, _S_CRASH, crash.key).uniform(0.92, 1.08))
    frac = min(0.08, max(0.03, crash.depth * model.crash_beta * jitter))
    return -math.log(1.0 - frac)


# --------------------------------------------------------------------------------------------
# Trade-level simulation of one symbol
# --------------------------------------------------------------------------------------------


@dataclass
class _Liquidations:
    t: np.ndarray  # event time, seconds since start (whole milliseconds)
    sign: np.ndarray  # +1 short liquidated (price up), -1 long liquidated (price down)
    notional: np.ndarray  # model notional, USDT
    cluster: np.ndarray
    crash: np.ndarray  # bool, belongs to a crash cluster
    reverting: np.ndarray  # bool, its cluster reverts
    end: np.ndarray  # time of its cluster's last event (may lie beyond the last day)


@dataclass
class _SymbolSim:
    ts: np.ndarray  # trade time, 100 us units since the epoch (sorted)
    price: np.ndarray  # price units
    size: np.ndarray  # size units
    buy: np.ndarray  # taker side is Buy
    tick_dir: np.ndarray  # index into TICK_DIRECTIONS
    day_bounds: np.ndarray  # trade index of each day start, plus the end
    liq_ms: np.ndarray  # liquidation event time, UNIX ms
    liq_long: np.ndarray  # a long was liquidated
    liq_size: np.ndarray  # size units
    liq_price: np.ndarray  # bankruptcy price, price units
    base_volume: float  # mean hourly volume at seasonality 1 and activity 1, size units
    start_price: int  # price units, the mid at the start rounded to the tick grid


def _simulate_liquidations(
    symbol: str, model: _SymbolModel, config: SampleConfig, market: _Market
) -> _Liquidations:
    rng = _rng(config.seed, symbol, _S_LIQ)
    seconds = market.seconds
    hours = np.arange(seconds // _HOUR_S)
    unix_hours = market.start_s // _HOUR_S + hours
    act = market.activity[config.bar_history_days + hours // 24]
    rate_h = model.liq_clusters_per_day / 24 * config.liq_rate_scale * _season(unix_hours) ** 0.7
    counts = rng.poisson(rate_h * act)
    t_par = np.repeat(hours * _HOUR_S, counts) + rng.random(int(counts.sum())) * _HOUR_S
    long_par = rng.random(len(t_par)) < config.liq_long_share
    crash_par = np.zeros(len(t_par), dtype=bool)
    crash = market.crash
    if crash is not None:
        per_s = model.liq_clusters_per_day * config.liq_rate_scale / _DAY_S
        n_drop = rng.poisson(per_s * _CRASH_RATE_DROP * crash.drop_s)
        n_reb = rng.poisson(per_s * _CRASH_RATE_REBOUND * crash.rebound_s)
        t_drop = crash.t0 + rng.random(n_drop) * crash.drop_s
        t_reb = crash.t0 + crash.drop_s + rng.random(n_reb) * crash.rebound_s
        t_par = np.concatenate([t_par, t_drop, t_reb])
        long_par = np.concatenate([long_par, rng.random(n_drop) < 0.92, rng.random(n_reb) < 0.2])
        crash_par = np.concatenate([crash_par, np.ones(n_drop + n_reb, dtype=bool)])
    n_clusters = len(t_par)
    severity = rng.standard_normal(n_clusters) * _SEVERITY_SIGMA + _CRASH_SEVERITY * crash_par
    # Branching: each event begets Poisson(n) offspring after Exp(delay), mostly same side.
    t_parts, c_parts, s_parts = [t_par], [np.arange(n_clusters)], [np.where(long_par, -1, 1)]
    cur_t, cur_c, cur_s = t_parts[0], c_parts[0], s_parts[0]
    for _ in range(500):
        kids = rng.poisson(config.liq_branching_ratio, len(cur_t))
        total = int(kids.sum())
        if total == 0:
            break
        cur_t = np.repeat(cur_t, kids) + rng.exponential(config.liq_offspring_delay_s, total)
        cur_c = np.repeat(cur_c, kids)
        flip = rng.random(total) >= _SAME_SIDE_OFFSPRING
        cur_s = np.repeat(cur_s, kids) * np.where(flip, -1, 1)
        t_parts.append(cur_t)
        c_parts.append(cur_c)
        s_parts.append(cur_s)
    t = np.concatenate(t_parts)
    cluster = np.concatenate(c_parts)
    sign = np.concatenate(s_parts)
    log_base = math.log(model.liq_p95) - 1.645 * math.hypot(_SEVERITY_SIGMA, _EVENT_SIGMA)
    notional = np.exp(log_base + severity[cluster] + rng.standard_normal(len(t)) * _EVENT_SIGMA)
    t = np.floor(t * 1000.0) / 1000.0
    end = np.full(n_clusters, -np.inf)
    np.maximum.at(end, cluster, t)
    order = np.argsort(t, kind="stable")
    keep = order[t[order] < seconds]
    # Separate stream: same draws whatever the probability, so runs pair up exactly.
    reverting = (
        _rng(config.seed, symbol, _S_REVERT).random(n_clusters) < config.reversion_probability
    )
    return _Liquidations(
        t=t[keep],
        sign=sign[keep].astype(np.int64),
        notional=notional[keep],
        cluster=cluster[keep],
        crash=crash_par[cluster[keep]],
        reverting=reverting[cluster[keep]],
        end=end[cluster[keep]],
    )


def _cluster_impacts(cluster: np.ndarray, signed_ratio: np.ndarray) -> np.ndarray:
    """
    Square-root impact increments of events (time-ordered) on their cluster's cumulative size.

    After its k-th event a cluster has moved the log mid by ``g(C_k)``, ``g(x) = sign(x) *
    sqrt(|x|)``, ``C_k`` the cluster's cumulative signed size in P95 units; an event's impact is
    the increment ``g(C_k) - g(C_{k-1})``.
    """
    order = np.lexsort((np.arange(len(cluster)), cluster))
    ratio = signed_ratio[order]
    cum = np.cumsum(ratio)
    starts = np.flatnonzero(np.diff(cluster[order], prepend=-1))
    cum -= np.repeat(cum[starts] - ratio[starts], np.diff(np.append(starts, len(cum))))
    prev = cum - ratio
    out = np.empty(len(cluster))
    out[order] = np.sign(cum) * np.sqrt(np.abs(cum)) - np.sign(prev) * np.sqrt(np.abs(prev))
    return out


def _simulate_symbol(
    symbol: str, model: _SymbolModel, grid: _Grid, config: SampleConfig, market: _Market
) -> _SymbolSim:
    seconds = market.seconds
    days = config.days
    liq = _simulate_liquidations(symbol, model, config, market)
    tau = config.reversion_half_life_s / math.log(2.0)

    # --- liquidation impacts: push while the cluster is active, then (maybe) revert -----------
    ratio = np.minimum(liq.notional / model.liq_p95, _IMPACT_RATIO_CAP)
    impact = _cluster_impacts(liq.cluster, liq.sign * ratio) * config.impact_bps * 1e-4
    frac = config.reversion_fraction * liq.reverting
    permanent = impact * (1.0 - frac)
    crash = market.crash
    if crash is not None:
        # The crash's own liquidations supply at most half of its fall (their lasting part).
        depth = _crash_depth(crash, model, symbol, config.seed)
        fall = -float(permanent[liq.crash].sum())
        if fall > 0.5 * depth:
            impact[liq.crash] *= 0.5 * depth / fall
            permanent[liq.crash] *= 0.5 * depth / fall
    imp_cum = np.cumsum(impact)
    push_states = _exp_states(liq.t, impact * _PUSH_SHARE, _PUSH_TAU_S)
    # A reverting cluster's reverting part starts to decay _REVERT_LAG_S after its last event.
    _, first, inv = np.unique(liq.cluster, return_index=True, return_inverse=True)
    amount = np.bincount(inv, weights=impact * frac, minlength=len(first))
    has = amount != 0.0
    by_start = np.argsort(liq.end[first][has], kind="stable")
    rev_t = liq.end[first][has][by_start] + _REVERT_LAG_S
    rev_a = amount[has][by_start]
    rev_crash = liq.crash[first][has][by_start]
    rev_cum = np.cumsum(rev_a)
    rev_states = _exp_states(rev_t, rev_a, tau)

    def liquidation_part(q: np.ndarray) -> np.ndarray:
        """The liquidations' contribution to the log mid at times ``q``."""
        idx = np.searchsorted(liq.t, q, side="right") - 1
        out = np.where(idx >= 0, imp_cum[np.maximum(idx, 0)] if len(liq.t) else 0.0, 0.0)
        out -= _exp_eval(liq.t, push_states, _PUSH_TAU_S, q)
        idx = np.searchsorted(rev_t, q, side="right") - 1
        out -= np.where(idx >= 0, rev_cum[np.maximum(idx, 0)] if len(rev_t) else 0.0, 0.0)
        return out + _exp_eval(rev_t, rev_states, tau, q)

    drop_path = rebound_path = 0.0
    if crash is not None:
        # A deterministic path tops the crash liquidations' net effect up to the target fall
        # at the bottom and to the target rebound at the end.
        def crash_liquidations(at: float) -> float:
            pushed = impact[liq.crash & (liq.t <= at)]
            age = at - liq.t[liq.crash & (liq.t <= at)]
            kept = float((pushed * (1.0 - _PUSH_SHARE * np.exp(-age / _PUSH_TAU_S))).sum())
            m = rev_crash & (rev_t <= at)
            return kept - float((rev_a[m] * (1.0 - np.exp(-(at - rev_t[m]) / tau))).sum())

        bottom = crash_liquidations(crash.t0 + crash.drop_s)
        end = crash_liquidations(crash.t0 + crash.drop_s + crash.rebound_s)
        drop_path = max(0.0, depth + bottom)
        rebound_path = max(0.0, crash.rebound * depth + bottom - end)

    # --- diffusion on a one-second grid -------------------------------------------------------
    sec = np.arange(seconds)
    unix_hours = market.start_s // _HOUR_S + sec // _HOUR_S
    act = market.activity[config.bar_history_days + sec // _DAY_S]
    season = _season(unix_hours)
    crash_mult = np.ones(seconds)
    if crash is not None:
        x = sec - crash.t0
        in_drop = (x >= 0) & (x < crash.drop_s)
        after = x >= crash.drop_s
        half = 1.0 + (crash.volume_mult - 1.0) * 0.5
        decay_after = np.exp(-np.maximum(x - crash.drop_s - crash.rebound_s, 0.0) / 1800.0)
        crash_mult = np.where(in_drop, crash.volume_mult, 1.0)
        crash_mult = np.where(after, 1.0 + (half - 1.0) * decay_after, crash_mult)
    outside = ~liq.crash
    # Reverting impacts are gone within a minute or two; only the lasting part adds daily variance.
    liq_var_per_day = float((permanent[outside] ** 2).sum()) / days
    sigma_day = math.sqrt(max(model.daily_vol**2 - liq_var_per_day, 0.3 * model.daily_vol**2))
    # Inside a crash the deterministic path and the liquidations are the moves: damp the noise
    # so that one unlucky diffusion draw cannot cancel the crash.
    vol_mult = np.sqrt(season * act)
    if crash is not None:
        in_crash = (sec >= crash.t0) & (sec < crash.t0 + crash.drop_s + crash.rebound_s)
        vol_mult = np.where(in_crash, _CRASH_NOISE * vol_mult, vol_mult)
    rho = config.market_correlation
    idio = _rng(config.seed, symbol, _S_DIFFUSION).standard_normal(seconds)
    shocks = math.sqrt(rho) * market.market_shocks + math.sqrt(1.0 - rho) * idio
    drift = -float(permanent[outside].sum()) / seconds
    w_grid = np.concatenate([[0.0], np.cumsum(sigma_day / math.sqrt(_DAY_S) * vol_mult * shocks)])
    w_grid += drift * np.arange(seconds + 1)
    grid_t = np.arange(seconds + 1, dtype=float)
    log_p0 = math.log(model.price)

    def log_mid(q: np.ndarray) -> np.ndarray:
        out = log_p0 + np.interp(q, grid_t, w_grid) + liquidation_part(q)
        if crash is not None:
            out -= drop_path * _smoothstep((q - crash.t0) / crash.drop_s)
            out += rebound_path * _smoothstep((q - crash.t0 - crash.drop_s) / crash.rebound_s)
        return out

    # --- trade arrivals -----------------------------------------------------------------------
    rng = _rng(config.seed, symbol, _S_TRADES)
    weight = np.sqrt(np.minimum(liq.notional / model.liq_p95, _BOOST_RATIO_CAP))
    # Crash clusters do not excite trading on their own: the crash multiplier already does.
    kern = np.stack([weight * ~liq.crash, weight * liq.sign], axis=1)
    boost_states = _exp_states(liq.t, kern[:, :1], _LIQ_BOOST_TAU_S)
    boost = _LIQ_BOOST * _exp_eval(liq.t, boost_states, _LIQ_BOOST_TAU_S, sec + 0.5)[:, 0]
    burst = np.exp(_ar1(rng, seconds // 60 + 1, _BURST_PHI, _BURST_SIGMA) - _BURST_SIGMA**2 / 2)
    base_rate = config.base_trades_per_day * model.trade_weight * config.trade_rate_scale / _DAY_S
    # A crash multiplies the volume of a typical hour, whatever the time of day.
    activity = np.where(crash_mult > 1.0, np.maximum(season * act, 1.0), season * act)
    quiet_rate = base_rate * activity * burst[sec // 60]
    lam = quiet_rate * (1.0 + np.minimum(boost, _LIQ_BOOST_CAP)) * crash_mult
    counts = rng.poisson(lam)
    n = int(counts.sum())
    t_units = np.repeat(sec * _TS_PER_S, counts) + rng.integers(0, _TS_PER_S, n)
    t_units.sort()
    q = t_units / _TS_PER_S
    pressure_states = _exp_states(liq.t, kern[:, 1:], _PRESSURE_TAU_S)
    pressure = _exp_eval(liq.t, pressure_states, _PRESSURE_TAU_S, q)[:, 0]
    buy = rng.random(n) < 0.5 + 0.35 * np.tanh(pressure / 2.0)
    size_notional = model.trade_median_notional * np.exp(rng.standard_normal(n) * _TRADE_SIZE_SIGMA)

    # --- merge the liquidations' own prints ----------------------------------------------------
    liq_units = np.round(liq.t * 1000.0).astype(np.int64) * (_TS_PER_S // 1000)
    all_units = np.concatenate([t_units, liq_units])
    order = np.argsort(all_units, kind="stable")
    is_liq = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(liq.t), dtype=bool)])[order]
    all_units = all_units[order]
    all_q = all_units / _TS_PER_S
    mid = np.exp(log_mid(all_q)) * 10.0**grid.pp  # price units
    liq_mid = np.exp(log_mid(liq.t)) * 10.0**grid.pp
    # Quantities use the start price, not the mid, so they do not depend on the price path
    # (runs that differ only in reversion parameters then differ only in prices).
    liq_size = _to_lots(liq.notional / model.price, grid)
    all_buy = np.concatenate([buy, liq.sign > 0])[order]
    all_size = _to_lots(np.concatenate([size_notional / model.price, liq.notional * 0]), grid)
    all_size = all_size[order]
    all_size[is_liq] = liq_size[order[is_liq] - n]
    bid = np.floor(mid / grid.tick).astype(np.int64)
    price = (bid + all_buy) * grid.tick

    # --- liquidation wire fields ---------------------------------------------------------------
    wire = _rng(config.seed, symbol, _S_WIRE)
    offset = wire.uniform(0.002, 0.01, len(liq.t))
    long_ = liq.sign < 0
    bankrupt = np.where(
        long_,
        np.floor(liq_mid * (1.0 - offset) / grid.tick),
        np.ceil(liq_mid * (1.0 + offset) / grid.tick),
    ).astype(np.int64)
    start_price = round(model.price * 10.0**grid.pp / grid.tick) * grid.tick

    # --- per-day split, tick directions, base volume for the history ---------------------------
    start_units = market.start_s * _TS_PER_S
    ts = all_units + start_units
    day_edges = start_units + np.arange(days + 1) * _DAY_S * _TS_PER_S
    day_bounds = np.searchsorted(ts, day_edges, side="left")
    day_bounds[-1] = len(ts)
    hour_of = (all_units // (_HOUR_S * _TS_PER_S)).astype(np.int64)
    vol_h = np.bincount(hour_of, weights=all_size, minlength=days * 24)[: days * 24]
    h_idx = np.arange(days * 24)
    norm_h = (
        _season(market.start_s // _HOUR_S + h_idx)
        * market.activity[config.bar_history_days + h_idx // 24]
    )
    calm = np.ones(days * 24, dtype=bool)
    if crash is not None:
        first = int(crash.t0 // _HOUR_S)
        last = int((crash.t0 + crash.drop_s + crash.rebound_s) // _HOUR_S) + 3
        calm[first : last + 1] = False
    base_volume = float(vol_h[calm].sum() / norm_h[calm].sum()) if calm.any() else 0.0
    return _SymbolSim(
        ts=ts,
        price=price,
        size=all_size.astype(np.int64),
        buy=all_buy,
        tick_dir=_tick_directions(price, start_price),
        day_bounds=day_bounds,
        liq_ms=np.round(liq.t * 1000.0).astype(np.int64) + market.start_s * 1000,
        liq_long=long_,
        liq_size=liq_size,
        liq_price=bankrupt * grid.tick,
        base_volume=base_volume,
        start_price=start_price,
    )


def _to_lots(qty: np.ndarray, grid: _Grid) -> np.ndarray:
    """Base quantity -> size units on the lot grid, at least one lot, at most max_qty."""
    lots = np.maximum(1, np.round(qty / grid.qty_step)).astype(np.int64)
    return np.minimum(lots * grid.step, grid.max_qty // grid.step * grid.step)


def _tick_directions(price: np.ndarray, previous: int) -> np.ndarray:
    """Bybit tick direction of each trade against the one before it."""
    diff = np.sign(np.diff(price, prepend=previous))
    idx = np.arange(len(diff))
    last_move = np.maximum.accumulate(np.where(diff != 0, idx, -1))
    prev_sign = np.where(last_move >= 0, diff[np.maximum(last_move, 0)], 1)
    return np.select([diff > 0, diff < 0, prev_sign > 0], [0, 2, 1], default=3).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Bar-level history
# --------------------------------------------------------------------------------------------


@dataclass
class _Bars:
    start_ms: np.ndarray
    open: np.ndarray  # price units
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # size units
    turnover: np.ndarray  # 10^-(pp+sp) units


def _history_bars(
    symbol: str,
    model: _SymbolModel,
    grid: _Grid,
    config: SampleConfig,
    market: _Market,
    base_volume: float,
    end_price: int,
) -> _Bars:
    hours = config.bar_history_days * 24
    n_steps = hours * _SUBSTEPS
    rng = _rng(config.seed, symbol, _S_HISTORY)
    h = np.arange(hours)
    season = _season(market.hist_start_s // _HOUR_S + h)
    act = market.activity[h // 24]
    step_hour = np.arange(n_steps) // _SUBSTEPS
    sigma_step = model.daily_vol / math.sqrt(24 * _SUBSTEPS)
    rho = config.market_correlation
    idio = rng.standard_t(4, n_steps) / math.sqrt(2.0)
    shocks = math.sqrt(rho) * market.hist_market_shocks + math.sqrt(1.0 - rho) * idio
    noise_mult = np.ones(n_steps)
    volume_mult = np.ones(hours)
    returns = np.zeros(n_steps)
    for crash in market.hist_crashes:
        depth = _crash_depth(crash, model, symbol, config.seed)
        s0 = int(crash.t0 // _HOUR_S) * _SUBSTEPS
        drop = max(1, round(crash.drop_s / _HOUR_S * _SUBSTEPS))
        reb = max(1, round(crash.rebound_s / _HOUR_S * _SUBSTEPS))
        path = -depth * _smoothstep(np.arange(drop + 1) / drop)
        path = np.concatenate(
            [path, path[-1] + crash.rebound * depth * _smoothstep(np.arange(1, reb + 1) / reb)]
        )
        seg = slice(s0, min(s0 + drop + reb, n_steps))
        returns[seg] += np.diff(path)[: seg.stop - seg.start]
        noise_mult[seg] = _CRASH_NOISE
        h0 = s0 // _SUBSTEPS
        h_drop = -(-drop // _SUBSTEPS)
        volume_mult[h0 : h0 + h_drop] = np.maximum(volume_mult[h0 : h0 + h_drop], crash.volume_mult)
        h_reb = slice(h0 + h_drop, min(h0 + h_drop + -(-reb // _SUBSTEPS), hours))
        volume_mult[h_reb] = np.maximum(volume_mult[h_reb], 2.0)
    for hour, move, mult in market.news:
        if hour < hours:
            returns[hour * _SUBSTEPS : (hour + 1) * _SUBSTEPS] += (
                move * model.crash_beta / _SUBSTEPS
            )
            volume_mult[hour] = max(volume_mult[hour], mult)
            noise_mult[hour * _SUBSTEPS : (hour + 1) * _SUBSTEPS] = 1.3
    vol_step = sigma_step * np.sqrt(season * act)[step_hour] * noise_mult
    returns += vol_step * shocks
    path = np.concatenate([[0.0], np.cumsum(returns)])
    path -= path[-1]  # the history ends exactly where the trade-level model starts
    px = end_price * np.exp(path)  # price units
    ticks = np.round(px / grid.tick).astype(np.int64)
    ticks[-1] = end_price // grid.tick
    o, c = ticks[:-1:_SUBSTEPS], ticks[_SUBSTEPS::_SUBSTEPS]
    windows = px[:n_steps].reshape(hours, _SUBSTEPS)
    hi_px = np.maximum(windows.max(axis=1), px[_SUBSTEPS::_SUBSTEPS])
    lo_px = np.minimum(windows.min(axis=1), px[_SUBSTEPS::_SUBSTEPS])
    excursion = np.abs(rng.standard_normal((2, hours))) * sigma_step * 0.7 * np.sqrt(season * act)
    high = np.maximum(
        np.ceil(hi_px * np.exp(excursion[0]) / grid.tick).astype(np.int64), np.maximum(o, c)
    )
    low = np.minimum(
        np.floor(lo_px * np.exp(-excursion[1]) / grid.tick).astype(np.int64), np.minimum(o, c)
    )
    low = np.maximum(low, 1)
    # Hourly volume: seasonality x regime x AR(1) noise x |return| coupling (or a spike).
    noise = np.exp(_ar1(rng, hours, 0.6, 0.3) - 0.045)
    hour_ret = np.abs(np.log(c / o)) / (sigma_step * math.sqrt(_SUBSTEPS) * np.sqrt(season * act))
    coupling = np.where(volume_mult > 1.0, 1.0, 0.6 + 0.4 * np.minimum(hour_ret, 3.0))
    # A spike multiplies the volume of a typical hour, whatever the time of day.
    activity = np.where(volume_mult > 1.0, np.maximum(season * act, 1.0), season * act)
    noise = np.where(volume_mult > 1.0, noise**0.3, noise)
    vol = base_volume * activity * noise * coupling * volume_mult
    volume = np.round(vol / grid.step).astype(np.int64) * grid.step
    typical = (o + c + high + low) * grid.tick / 4.0
    turnover = np.round(volume * typical).astype(np.int64)
    start_ms = (market.hist_start_s + h * _HOUR_S).astype(np.int64) * 1000
    return _Bars(
        start_ms, o * grid.tick, high * grid.tick, low * grid.tick, c * grid.tick, volume, turnover
    )


def _trade_bars(sim: _SymbolSim, config: SampleConfig, market: _Market) -> _Bars:
    """Aggregate 1h bars exactly from the trades; an empty hour repeats the last close."""
    hours = config.days * 24
    start_units = market.start_s * _TS_PER_S
    edges = start_units + np.arange(hours + 1) * _HOUR_S * _TS_PER_S
    first = np.searchsorted(sim.ts, edges[:-1], side="left")
    end = np.searchsorted(sim.ts, edges[1:], side="left")
    has = end > first
    o = np.zeros(hours, dtype=np.int64)
    high, low, c = o.copy(), o.copy(), o.copy()
    volume, turnover = o.copy(), o.copy()
    if has.any():
        starts = first[has]
        o[has] = sim.price[starts]
        c[has] = sim.price[end[has] - 1]
        high[has] = np.maximum.reduceat(sim.price, starts)[: len(starts)]
        low[has] = np.minimum.reduceat(sim.price, starts)[: len(starts)]
        # Trades fill every hour between two non-empty ones, so reduceat segments are exact.
        cum_v = np.concatenate([[0], np.cumsum(sim.size)])
        cum_t = np.concatenate([[0], np.cumsum(sim.size * sim.price)])
        volume[has] = cum_v[end[has]] - cum_v[starts]
        turnover[has] = cum_t[end[has]] - cum_t[starts]
    prev = sim.start_price
    for i in range(hours):
        if has[i]:
            prev = int(c[i])
        else:
            o[i] = high[i] = low[i] = c[i] = prev
    start_ms = (market.start_s + np.arange(hours) * _HOUR_S).astype(np.int64) * 1000
    return _Bars(start_ms, o, high, low, c, volume, turnover)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

_Field = tuple[np.ndarray, np.ndarray | None]  # (N, w) ASCII bytes, validity mask (None: all)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + 48).astype(np.uint8)


def _n_digits(values: np.ndarray, width: int) -> np.ndarray:
    count = np.ones(len(values), dtype=np.int64)
    for k in range(1, width):
        count += values >= 10**k
    return count


def _const(text: bytes, n: int) -> _Field:
    return np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (n, len(text))), None


def _choice(options: tuple[str, ...], index: np.ndarray) -> _Field:
    width = max(len(o) for o in options)
    table = np.zeros((len(options), width), dtype=np.uint8)
    for i, option in enumerate(options):
        table[i, : len(option)] = np.frombuffer(option.encode(), dtype=np.uint8)
    lengths = np.array([len(o) for o in options])
    return table[index], np.arange(width) < lengths[index][:, None]


def _int_part(values: np.ndarray) -> _Field:
    width = len(str(int(values.max()))) if len(values) else 1
    mask = np.arange(width) >= (width - _n_digits(values, width))[:, None]
    return _digits(values, width), mask


def _fixed(values: np.ndarray, decimals: int, trim: bool = False) -> _Field:
    """Non-negative fixed-point integers (``decimals`` implied) as decimal text."""
    scale = 10**decimals
    mat, mask = _int_part(values // scale)
    if decimals == 0:
        return mat, mask
    n = len(values)
    frac = values % scale
    frac_mask: np.ndarray | None = None
    dot_mask: np.ndarray | None = None
    if trim:
        zeros = np.zeros(n, dtype=np.int64)
        for j in range(1, decimals + 1):
            zeros += frac % 10**j == 0
        keep = decimals - zeros
        frac_mask = np.arange(decimals) < keep[:, None]
        dot_mask = (keep > 0)[:, None]
    return (
        np.concatenate([mat, np.full((n, 1), ord("."), np.uint8), _digits(frac, decimals)], 1),
        np.concatenate(
            [
                mask,
                np.ones((n, 1), bool) if dot_mask is None else dot_mask,
                np.ones((n, decimals), bool) if frac_mask is None else frac_mask,
            ],
            1,
        ),
    )


def _scientific(values: np.ndarray, exponent_shift: int) -> _Field:
    """``'%.6g'`` of ``values * 10**exponent_shift`` for integers whose result is >= 1e6."""
    n = len(values)
    width = len(str(int(values.max()))) if n else 1
    nd = _n_digits(values, width)
    over = np.maximum(nd - 6, 0)
    div = 10**over
    mant = np.where(nd > 6, (values + div // 2) // div, values * 10 ** np.maximum(6 - nd, 0))
    exp = nd - 1 + exponent_shift
    carry = mant >= 10**6
    mant = np.where(carry, mant // 10, mant)
    exp = exp + carry
    mat, _ = _fixed(mant, 5, trim=False)
    _, mask = _fixed(mant, 5, trim=True)
    e_digits = _digits(exp, 2)
    return (
        np.concatenate([mat, np.broadcast_to(np.frombuffer(b"e+", np.uint8), (n, 2)), e_digits], 1),
        np.concatenate([mask, np.ones((n, 4), bool)], 1),
    )


def _render(fields: list[_Field]) -> bytes:
    """Join the fields with commas into newline-terminated lines."""
    n = len(fields[0][0])
    parts: list[_Field] = []
    for i, field in enumerate(fields):
        parts.append(field)
        parts.append(_const(b"," if i < len(fields) - 1 else b"\n", n))
    mat = np.concatenate([p[0] for p in parts], axis=1)
    mask = np.concatenate(
        [np.ones(p[0].shape, bool) if p[1] is None else p[1] for p in parts], axis=1
    )
    return mat[mask].tobytes()


def _uuids(rng: np.random.Generator, n: int) -> _Field:
    """Random (version 4 layout) UUID strings."""
    hexed = np.frombuffer(rng.bytes(16 * n).hex().encode(), dtype=np.uint8).reshape(n, 32).copy()
    hexed[:, 12] = ord("4")
    hexed[:, 16] = np.frombuffer(b"89ab", np.uint8)[hexed[:, 16] % 4]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst in ((0, 0), (8, 9), (12, 14), (16, 19), (20, 24)):
        width = {0: 8, 8: 4, 12: 4, 16: 4, 20: 12}[src]
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return out, None


def _write_trades(
    path: Path, symbol: str, grid: _Grid, sim: _SymbolSim, lo: int, hi: int, seed: int, day: int
) -> None:
    n = hi - lo
    header = (TRADES_HEADER + "\n").encode()
    body = b""
    if n:
        price, size = sim.price[lo:hi], sim.size[lo:hi]
        notional = price * size  # exact, 10^-(pp+sp) units
        size_field = _fixed(size, grid.sp)
        body = _render(
            [
                _fixed(sim.ts[lo:hi], 4),
                _const(symbol.encode(), n),
                _choice(("Sell", "Buy"), sim.buy[lo:hi].astype(np.int64)),
                size_field,
                _fixed(price, grid.pp),
                _choice(TICK_DIRECTIONS, sim.tick_dir[lo:hi]),
                _uuids(_rng(seed, symbol, _S_IDS, day), n),
                _scientific(notional, 8 - grid.pp - grid.sp),
                size_field,
                _fixed(notional, grid.pp + grid.sp, trim=True),
            ]
        )
    path.write_bytes(gzip.compress(header + body, compresslevel=_TRADES_GZIP_LEVEL, mtime=0))


def _write_liquidations(
    out: Path, symbol: str, grid: _Grid, sim: _SymbolSim, market: _Market
) -> list[Path]:
    rng = _rng(market.config.seed, symbol, _S_WIRE, 1)
    interval = sim.liq_ms // _PUSH_MS
    starts = np.flatnonzero(np.diff(interval, prepend=-1))
    ends = np.append(starts[1:], len(interval))
    latency_ns = rng.integers(20_000_000, 120_000_001, len(starts))
    lines: dict[str, list[str]] = {market.date(d): [] for d in range(market.config.days)}
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        push_ms = int(interval[a] + 1) * _PUSH_MS
        data = [
            {
                "T": int(sim.liq_ms[i]),
                "s": symbol,
                "S": "Buy" if sim.liq_long[i] else "Sell",
                "v": grid.fmt_size(int(sim.liq_size[i])),
                "p": grid.fmt_price(int(sim.liq_price[i])),
            }
            for i in range(a, b)
        ]
        msg = {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": push_ms, "data": data}
        record = {"recv_ts_ns": push_ms * 1_000_000 + int(latency_ns[k]), "msg": msg}
        day = _iso_date(int(interval[a]) * _PUSH_MS / 1000)
        lines[day].append(json.dumps(record, separators=(",", ":")))
    paths = []
    for date, day_lines in lines.items():
        path = out / f"allLiquidation_{symbol}_{date}.jsonl.gz"
        text = "".join(line + "\n" for line in day_lines)
        path.write_bytes(gzip.compress(text.encode(), compresslevel=6, mtime=0))
        paths.append(path)
    return paths


def _write_klines(
    out: Path, symbol: str, grid: _Grid, sim: _SymbolSim, config: SampleConfig, market: _Market
) -> Path:
    history = _history_bars(
        symbol, _MODELS[symbol], grid, config, market, sim.base_volume, sim.start_price
    )
    bars = [history, _trade_bars(sim, config, market)]
    first = market.hist_start_s
    last = market.start_s + (config.days - 1) * _DAY_S
    name = f"{symbol}_60_{_iso_date(first)}_{_iso_date(last)}.csv"
    fmt: Callable[[int], str] = grid.fmt_price
    rows = [KLINES_HEADER]
    for b in bars:
        for i in range(len(b.start_ms)):
            rows.append(
                ",".join(
                    (
                        str(int(b.start_ms[i])),
                        fmt(int(b.open[i])),
                        fmt(int(b.high[i])),
                        fmt(int(b.low[i])),
                        fmt(int(b.close[i])),
                        grid.fmt_size(int(b.volume[i])),
                        _fixed_str(int(b.turnover[i]), grid.pp + grid.sp),
                    )
                )
            )
    path = out / name
    path.write_text("\n".join(rows) + "\n")
    return path
