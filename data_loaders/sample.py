"""Deterministic synthetic crypto market written in the raw wire formats of the real sources.

:func:`generate_sample` writes, for every symbol, exactly the files the real pipeline ingests:

* ``bybit/trades/{SYMBOL}{YYYY-MM-DD}.csv.gz``: Bybit public trade-history CSV, one per day;
* ``bybit/liquidations/allLiquidation_{SYMBOL}_{YYYY-MM-DD}.jsonl.gz``: recorder-wrapped raw
  ``allLiquidation`` websocket pushes, one JSON object per line, one file per event day (the
  push batching the last 500 ms of a day is filed under that day although it is received a few
  tens of milliseconds after midnight);
* ``bybit/klines/{SYMBOL}_60_{first-date}_{last-date}.csv``: 1h klines covering
  ``bar_history_days`` of bar-level history followed by the trade-level days.

This module is the entry point and the model's description; the code is split by concern:
:mod:`.sample_market` (the parameters and what all symbols share: regimes, the common factor,
crash plans), :mod:`.sample_symbol` (one symbol's liquidations, mid price and trades),
:mod:`.sample_bars` (the bar-level history and the trade-level bars) and :mod:`.sample_wire`
(the writers of the wire formats).

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

from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.sample_bars import history_bars
from liqcascade.data_loaders.sample_bars import trade_bars
from liqcascade.data_loaders.sample_market import MODELS
from liqcascade.data_loaders.sample_market import Grid
from liqcascade.data_loaders.sample_market import Market
from liqcascade.data_loaders.sample_market import SampleConfig
from liqcascade.data_loaders.sample_market import start_seconds
from liqcascade.data_loaders.sample_symbol import simulate_symbol
from liqcascade.data_loaders.sample_wire import KLINES_HEADER
from liqcascade.data_loaders.sample_wire import TRADES_HEADER
from liqcascade.data_loaders.sample_wire import write_klines
from liqcascade.data_loaders.sample_wire import write_liquidations
from liqcascade.data_loaders.sample_wire import write_trades

# The public names, importable from here whichever module now defines them.
__all__ = ["KLINES_HEADER", "TRADES_HEADER", "SampleConfig", "SampleFiles", "generate_sample"]


@dataclass(frozen=True)
class SampleFiles:
    """Paths written by :func:`generate_sample`, ordered by symbol then date."""

    trades: list[Path]
    liquidations: list[Path]
    klines: list[Path]


_DEFAULT_CONFIG = SampleConfig()


def generate_sample(out_dir: Path, config: SampleConfig = _DEFAULT_CONFIG) -> SampleFiles:
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

    market = Market(config)
    trades: list[Path] = []
    liquidations: list[Path] = []
    klines: list[Path] = []
    futures: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for symbol in config.symbols:
            grid = Grid.of(specs[symbol])
            sim = simulate_symbol(symbol, MODELS[symbol], grid, config, market)
            for day in range(config.days):
                date = market.date(day)
                path = dirs["trades"] / f"{symbol}{date}.csv.gz"
                lo, hi = sim.day_bounds[day], sim.day_bounds[day + 1]
                futures.append(
                    pool.submit(write_trades, path, symbol, grid, sim, lo, hi, config.seed, day)
                )
                trades.append(path)
            liquidations += write_liquidations(dirs["liquidations"], symbol, grid, sim, market)
            model, volume, end_price = MODELS[symbol], sim.base_volume, sim.start_price
            history = history_bars(symbol, model, grid, config, market, volume, end_price)
            bars = [history, trade_bars(sim, config, market)]
            klines.append(write_klines(dirs["klines"], symbol, grid, bars, market))
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
        if symbol not in MODELS:
            raise ValueError(f"no built-in market model for {symbol}; known: {sorted(MODELS)}")
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
    start_seconds(config.start)
