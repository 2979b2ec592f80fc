"""Trade-level simulation of one symbol: liquidation clusters, the mid price and the tape.

:func:`simulate_symbol` draws the symbol's liquidations (a Hawkes cluster process), their
push-then-revert price impact, the diffusion, the trade arrivals and sides, and returns the
trades and liquidations as integers on the instrument's grids (:class:`SymbolSim`), ready for
the writers of :mod:`liqcascade.data_loaders.sample_wire`. The model is described in
:mod:`liqcascade.data_loaders.sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liqcascade.data_loaders.sample_market import CRASH_NOISE
from liqcascade.data_loaders.sample_market import DAY_S
from liqcascade.data_loaders.sample_market import HOUR_S
from liqcascade.data_loaders.sample_market import S_DIFFUSION
from liqcascade.data_loaders.sample_market import S_LIQ
from liqcascade.data_loaders.sample_market import S_REVERT
from liqcascade.data_loaders.sample_market import S_TRADES
from liqcascade.data_loaders.sample_market import S_WIRE
from liqcascade.data_loaders.sample_market import TS_PER_S
from liqcascade.data_loaders.sample_market import Grid
from liqcascade.data_loaders.sample_market import Market
from liqcascade.data_loaders.sample_market import SampleConfig
from liqcascade.data_loaders.sample_market import SymbolModel
from liqcascade.data_loaders.sample_market import ar1
from liqcascade.data_loaders.sample_market import crash_depth
from liqcascade.data_loaders.sample_market import exp_eval
from liqcascade.data_loaders.sample_market import exp_states
from liqcascade.data_loaders.sample_market import seasonality
from liqcascade.data_loaders.sample_market import smoothstep
from liqcascade.data_loaders.sample_market import stream_rng

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
_TRADE_SIZE_SIGMA = 1.6
_LIQ_BOOST = 3.0  # trade intensity excitation per unit sqrt(notional / P95)
_LIQ_BOOST_TAU_S = 20.0
_LIQ_BOOST_CAP = 9.0
_PRESSURE_TAU_S = 30.0
_BURST_SIGMA = 0.35
_BURST_PHI = 0.9


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
class SymbolSim:
    """One symbol's trade-level days as integers: the tape and the liquidations' wire fields."""

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
    symbol: str, model: SymbolModel, config: SampleConfig, market: Market
) -> _Liquidations:
    rng = stream_rng(config.seed, symbol, S_LIQ)
    seconds = market.seconds
    hours = np.arange(seconds // HOUR_S)
    unix_hours = market.start_s // HOUR_S + hours
    act = market.activity[config.bar_history_days + hours // 24]
    season_h = seasonality(unix_hours) ** 0.7
    rate_h = model.liq_clusters_per_day / 24 * config.liq_rate_scale * season_h
    counts = rng.poisson(rate_h * act)
    t_par = np.repeat(hours * HOUR_S, counts) + rng.random(int(counts.sum())) * HOUR_S
    long_par = rng.random(len(t_par)) < config.liq_long_share
    crash_par = np.zeros(len(t_par), dtype=bool)
    crash = market.crash
    if crash is not None:
        per_s = model.liq_clusters_per_day * config.liq_rate_scale / DAY_S
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
        stream_rng(config.seed, symbol, S_REVERT).random(n_clusters) < config.reversion_probability
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


def simulate_symbol(
    symbol: str, model: SymbolModel, grid: Grid, config: SampleConfig, market: Market
) -> SymbolSim:
    """Simulate one symbol's trade-level days (the model in :mod:`.sample`)."""
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
        depth = crash_depth(crash, model, symbol, config.seed)
        fall = -float(permanent[liq.crash].sum())
        if fall > 0.5 * depth:
            impact[liq.crash] *= 0.5 * depth / fall
            permanent[liq.crash] *= 0.5 * depth / fall
    imp_cum = np.cumsum(impact)
    push_states = exp_states(liq.t, impact * _PUSH_SHARE, _PUSH_TAU_S)
    # A reverting cluster's reverting part starts to decay _REVERT_LAG_S after its last event.
    _, first, inv = np.unique(liq.cluster, return_index=True, return_inverse=True)
    amount = np.bincount(inv, weights=impact * frac, minlength=len(first))
    has = amount != 0.0
    by_start = np.argsort(liq.end[first][has], kind="stable")
    rev_t = liq.end[first][has][by_start] + _REVERT_LAG_S
    rev_a = amount[has][by_start]
    rev_crash = liq.crash[first][has][by_start]
    rev_cum = np.cumsum(rev_a)
    rev_states = exp_states(rev_t, rev_a, tau)

    def liquidation_part(q: np.ndarray) -> np.ndarray:
        """The liquidations' contribution to the log mid at times ``q``."""
        idx = np.searchsorted(liq.t, q, side="right") - 1
        out = np.where(idx >= 0, imp_cum[np.maximum(idx, 0)] if len(liq.t) else 0.0, 0.0)
        out -= exp_eval(liq.t, push_states, _PUSH_TAU_S, q)
        idx = np.searchsorted(rev_t, q, side="right") - 1
        out -= np.where(idx >= 0, rev_cum[np.maximum(idx, 0)] if len(rev_t) else 0.0, 0.0)
        return out + exp_eval(rev_t, rev_states, tau, q)

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
    unix_hours = market.start_s // HOUR_S + sec // HOUR_S
    act = market.activity[config.bar_history_days + sec // DAY_S]
    season = seasonality(unix_hours)
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
        vol_mult = np.where(in_crash, CRASH_NOISE * vol_mult, vol_mult)
    rho = config.market_correlation
    idio = stream_rng(config.seed, symbol, S_DIFFUSION).standard_normal(seconds)
    shocks = math.sqrt(rho) * market.market_shocks + math.sqrt(1.0 - rho) * idio
    drift = -float(permanent[outside].sum()) / seconds
    w_grid = np.concatenate([[0.0], np.cumsum(sigma_day / math.sqrt(DAY_S) * vol_mult * shocks)])
    w_grid += drift * np.arange(seconds + 1)
    grid_t = np.arange(seconds + 1, dtype=float)
    log_p0 = math.log(model.price)

    def log_mid(q: np.ndarray) -> np.ndarray:
        out = log_p0 + np.interp(q, grid_t, w_grid) + liquidation_part(q)
        if crash is not None:
            out -= drop_path * smoothstep((q - crash.t0) / crash.drop_s)
            out += rebound_path * smoothstep((q - crash.t0 - crash.drop_s) / crash.rebound_s)
        return out

    # --- trade arrivals -----------------------------------------------------------------------
    rng = stream_rng(config.seed, symbol, S_TRADES)
    weight = np.sqrt(np.minimum(liq.notional / model.liq_p95, _BOOST_RATIO_CAP))
    # Crash clusters do not excite trading on their own: the crash multiplier already does.
    kern = np.stack([weight * ~liq.crash, weight * liq.sign], axis=1)
    boost_states = exp_states(liq.t, kern[:, :1], _LIQ_BOOST_TAU_S)
    boost = _LIQ_BOOST * exp_eval(liq.t, boost_states, _LIQ_BOOST_TAU_S, sec + 0.5)[:, 0]
    burst = np.exp(ar1(rng, seconds // 60 + 1, _BURST_PHI, _BURST_SIGMA) - _BURST_SIGMA**2 / 2)
    base_rate = config.base_trades_per_day * model.trade_weight * config.trade_rate_scale / DAY_S
    # A crash multiplies the volume of a typical hour, whatever the time of day.
    activity = np.where(crash_mult > 1.0, np.maximum(season * act, 1.0), season * act)
    quiet_rate = base_rate * activity * burst[sec // 60]
    lam = quiet_rate * (1.0 + np.minimum(boost, _LIQ_BOOST_CAP)) * crash_mult
    counts = rng.poisson(lam)
    n = int(counts.sum())
    t_units = np.repeat(sec * TS_PER_S, counts) + rng.integers(0, TS_PER_S, n)
    t_units.sort()
    q = t_units / TS_PER_S
    pressure_states = exp_states(liq.t, kern[:, 1:], _PRESSURE_TAU_S)
    pressure = exp_eval(liq.t, pressure_states, _PRESSURE_TAU_S, q)[:, 0]
    buy = rng.random(n) < 0.5 + 0.35 * np.tanh(pressure / 2.0)
    size_notional = model.trade_median_notional * np.exp(rng.standard_normal(n) * _TRADE_SIZE_SIGMA)

    # --- merge the liquidations' own prints ----------------------------------------------------
    liq_units = np.round(liq.t * 1000.0).astype(np.int64) * (TS_PER_S // 1000)
    all_units = np.concatenate([t_units, liq_units])
    order = np.argsort(all_units, kind="stable")
    is_liq = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(liq.t), dtype=bool)])[order]
    all_units = all_units[order]
    all_q = all_units / TS_PER_S
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
    wire = stream_rng(config.seed, symbol, S_WIRE)
    offset = wire.uniform(0.002, 0.01, len(liq.t))
    long_ = liq.sign < 0
    bankrupt = np.where(
        long_,
        np.floor(liq_mid * (1.0 - offset) / grid.tick),
        np.ceil(liq_mid * (1.0 + offset) / grid.tick),
    ).astype(np.int64)
    start_price = round(model.price * 10.0**grid.pp / grid.tick) * grid.tick

    # --- per-day split, tick directions, base volume for the history ---------------------------
    start_units = market.start_s * TS_PER_S
    ts = all_units + start_units
    day_edges = start_units + np.arange(days + 1) * DAY_S * TS_PER_S
    day_bounds = np.searchsorted(ts, day_edges, side="left")
    day_bounds[-1] = len(ts)
    hour_of = (all_units // (HOUR_S * TS_PER_S)).astype(np.int64)
    vol_h = np.bincount(hour_of, weights=all_size, minlength=days * 24)[: days * 24]
    h_idx = np.arange(days * 24)
    norm_h = (
        seasonality(market.start_s // HOUR_S + h_idx)
        * market.activity[config.bar_history_days + h_idx // 24]
    )
    calm = np.ones(days * 24, dtype=bool)
    if crash is not None:
        first = int(crash.t0 // HOUR_S)
        last = int((crash.t0 + crash.drop_s + crash.rebound_s) // HOUR_S) + 3
        calm[first : last + 1] = False
    base_volume = float(vol_h[calm].sum() / norm_h[calm].sum()) if calm.any() else 0.0
    return SymbolSim(
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


def _to_lots(qty: np.ndarray, grid: Grid) -> np.ndarray:
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
