"""Hourly bars of the sample market: the bar-level history model, and the trade-level bars.

:func:`history_bars` is the coarser model of the days before the trade-level ones (a 5-minute
random walk with fat-tailed shocks, crash episodes and news hours, ending exactly at the
trade-level start price); :func:`trade_bars` aggregates 1h bars exactly from the simulated
trades. The model is described in :mod:`liqcascade.data_loaders.sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liqcascade.data_loaders.sample_market import CRASH_NOISE
from liqcascade.data_loaders.sample_market import HOUR_S
from liqcascade.data_loaders.sample_market import S_HISTORY
from liqcascade.data_loaders.sample_market import SUBSTEPS
from liqcascade.data_loaders.sample_market import TS_PER_S
from liqcascade.data_loaders.sample_market import Grid
from liqcascade.data_loaders.sample_market import Market
from liqcascade.data_loaders.sample_market import SampleConfig
from liqcascade.data_loaders.sample_market import SymbolModel
from liqcascade.data_loaders.sample_market import ar1
from liqcascade.data_loaders.sample_market import crash_depth
from liqcascade.data_loaders.sample_market import seasonality
from liqcascade.data_loaders.sample_market import smoothstep
from liqcascade.data_loaders.sample_market import stream_rng
from liqcascade.data_loaders.sample_symbol import SymbolSim


@dataclass
class Bars:
    """1h bars of one symbol as integers on its grids (Bybit's kline columns)."""

    start_ms: np.ndarray
    open: np.ndarray  # price units
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # size units
    turnover: np.ndarray  # 10^-(pp+sp) units


def history_bars(
    symbol: str,
    model: SymbolModel,
    grid: Grid,
    config: SampleConfig,
    market: Market,
    base_volume: float,
    end_price: int,
) -> Bars:
    """The bar-level history of one symbol, ending at ``end_price`` (price units)."""
    hours = config.bar_history_days * 24
    n_steps = hours * SUBSTEPS
    rng = stream_rng(config.seed, symbol, S_HISTORY)
    h = np.arange(hours)
    season = seasonality(market.hist_start_s // HOUR_S + h)
    act = market.activity[h // 24]
    step_hour = np.arange(n_steps) // SUBSTEPS
    sigma_step = model.daily_vol / math.sqrt(24 * SUBSTEPS)
    rho = config.market_correlation
    idio = rng.standard_t(4, n_steps) / math.sqrt(2.0)
    shocks = math.sqrt(rho) * market.hist_market_shocks + math.sqrt(1.0 - rho) * idio
    noise_mult = np.ones(n_steps)
    volume_mult = np.ones(hours)
    returns = np.zeros(n_steps)
    for crash in market.hist_crashes:
        depth = crash_depth(crash, model, symbol, config.seed)
        s0 = int(crash.t0 // HOUR_S) * SUBSTEPS
        drop = max(1, round(crash.drop_s / HOUR_S * SUBSTEPS))
        reb = max(1, round(crash.rebound_s / HOUR_S * SUBSTEPS))
        path = -depth * smoothstep(np.arange(drop + 1) / drop)
        path = np.concatenate(
            [path, path[-1] + crash.rebound * depth * smoothstep(np.arange(1, reb + 1) / reb)]
        )
        seg = slice(s0, min(s0 + drop + reb, n_steps))
        returns[seg] += np.diff(path)[: seg.stop - seg.start]
        noise_mult[seg] = CRASH_NOISE
        h0 = s0 // SUBSTEPS
        h_drop = -(-drop // SUBSTEPS)
        volume_mult[h0 : h0 + h_drop] = np.maximum(volume_mult[h0 : h0 + h_drop], crash.volume_mult)
        h_reb = slice(h0 + h_drop, min(h0 + h_drop + -(-reb // SUBSTEPS), hours))
        volume_mult[h_reb] = np.maximum(volume_mult[h_reb], 2.0)
    for hour, move, mult in market.news:
        if hour < hours:
            returns[hour * SUBSTEPS : (hour + 1) * SUBSTEPS] += move * model.crash_beta / SUBSTEPS
            volume_mult[hour] = max(volume_mult[hour], mult)
            noise_mult[hour * SUBSTEPS : (hour + 1) * SUBSTEPS] = 1.3
    vol_step = sigma_step * np.sqrt(season * act)[step_hour] * noise_mult
    returns += vol_step * shocks
    path = np.concatenate([[0.0], np.cumsum(returns)])
    path -= path[-1]  # the history ends exactly where the trade-level model starts
    px = end_price * np.exp(path)  # price units
    ticks = np.round(px / grid.tick).astype(np.int64)
    ticks[-1] = end_price // grid.tick
    o, c = ticks[:-1:SUBSTEPS], ticks[SUBSTEPS::SUBSTEPS]
    windows = px[:n_steps].reshape(hours, SUBSTEPS)
    hi_px = np.maximum(windows.max(axis=1), px[SUBSTEPS::SUBSTEPS])
    lo_px = np.minimum(windows.min(axis=1), px[SUBSTEPS::SUBSTEPS])
    excursion = np.abs(rng.standard_normal((2, hours))) * sigma_step * 0.7 * np.sqrt(season * act)
    high = np.maximum(
        np.ceil(hi_px * np.exp(excursion[0]) / grid.tick).astype(np.int64), np.maximum(o, c)
    )
    low = np.minimum(
        np.floor(lo_px * np.exp(-excursion[1]) / grid.tick).astype(np.int64), np.minimum(o, c)
    )
    low = np.maximum(low, 1)
    # Hourly volume: seasonality x regime x AR(1) noise x |return| coupling (or a spike).
    noise = np.exp(ar1(rng, hours, 0.6, 0.3) - 0.045)
    hour_ret = np.abs(np.log(c / o)) / (sigma_step * math.sqrt(SUBSTEPS) * np.sqrt(season * act))
    coupling = np.where(volume_mult > 1.0, 1.0, 0.6 + 0.4 * np.minimum(hour_ret, 3.0))
    # A spike multiplies the volume of a typical hour, whatever the time of day.
    activity = np.where(volume_mult > 1.0, np.maximum(season * act, 1.0), season * act)
    noise = np.where(volume_mult > 1.0, noise**0.3, noise)
    vol = base_volume * activity * noise * coupling * volume_mult
    volume = np.round(vol / grid.step).astype(np.int64) * grid.step
    typical = (o + c + high + low) * grid.tick / 4.0
    turnover = np.round(volume * typical).astype(np.int64)
    start_ms = (market.hist_start_s + h * HOUR_S).astype(np.int64) * 1000
    return Bars(
        start_ms, o * grid.tick, high * grid.tick, low * grid.tick, c * grid.tick, volume, turnover
    )


def trade_bars(sim: SymbolSim, config: SampleConfig, market: Market) -> Bars:
    """Aggregate 1h bars exactly from the trades; an empty hour repeats the last close."""
    hours = config.days * 24
    start_units = market.start_s * TS_PER_S
    edges = start_units + np.arange(hours + 1) * HOUR_S * TS_PER_S
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
    start_ms = (market.start_s + np.arange(hours) * HOUR_S).astype(np.int64) * 1000
    return Bars(start_ms, o, high, low, c, volume, turnover)
