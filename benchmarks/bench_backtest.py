"""System A backtest speed: strategy overhead, trade windows, and the seed's scale.

    .venv/bin/python -m benchmarks.bench_backtest [--days 7] [--rate-scale 4] [--repeat 3]

1. Overhead: the same execution view (all trades) through a no-op strategy and through
   CascadeMarketMaker, medians of ``--repeat`` alternating runs; ratio (target <= 1.2x).
2. Windows: the same run fed only the trades inside cascade windows; the share of trades kept
   and the speed-up.
3. Scale: extrapolates the seed's backtest (282 days x 5 symbols, ~1.5 M trades/day ETH and
   ~0.5 M for the others, ~0.99 billion trades) from the measured engine throughput and the
   measured share of trades inside windows (which depends on cascades per day, not on the
   trade rate), plus building the windowed view once; then again with the windows scaled to
   the seed's cascades/day (an upper bound). An extrapolation, printed as such.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from msgspec.structs import replace

from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.execution_view import window_violations
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.systems.cascade_mm import build_run_config
from liqcascade.data_loaders.sample_catalog import build_sample_catalog
from liqcascade.strategies.event_log import read_events

CONFIG = Path("configs/backtest_sample.toml")
SEED_DAYS, SEED_TRADES = 282, 282 * (1_500_000 + 4 * 500_000)
#: The seed's cascades/day per symbol and its trades/day (its weight in the 1 B trades).
SEED_CASCADES = {"ETHUSDT": 9.4, "BTCUSDT": 7.4, "SOLUSDT": 6.9, "XRPUSDT": 5.3, "DOGEUSDT": 4.4}
SEED_TRADES_PER_DAY = {s: 1_500_000 if s == "ETHUSDT" else 500_000 for s in SEED_CASCADES}


def _frequency_factor(folder: Path, days: int) -> float:
    """
    How many more trades the seed's market would keep than this sample, at worst.

    Windows scale with cascades per day at most linearly, so the kept share is scaled by the
    seed's cascades/day over this sample's, symbol by symbol, weighted by the seed's trades.
    """
    total = sum(SEED_TRADES_PER_DAY.values())
    factor = 0.0
    for symbol, seed in SEED_CASCADES.items():
        events = read_events(folder / f"events-{symbol}.jsonl")
        sample = sum(e["event"] == "cascade" for e in events) / days
        fills = len({e["declared_ns"] for e in events if e["event"] == "entry_fill"}) / days
        print(f"  {symbol}: {sample:.1f} cascades/day ({fills:.1f} filled); seed {seed}")
        factor += SEED_TRADES_PER_DAY[symbol] / total * seed / max(sample, 1e-9)
    return factor


def _run(spec, view: Path, folder: Path, strategy_path: str | None = None) -> float:
    from nautilus_trader.backtest.node import BacktestNode

    config = build_run_config(spec, view, folder)
    if strategy_path:
        strategies = [
            s.__class__(strategy_path=strategy_path, config_path=s.config_path, config=s.config)
            for s in config.engine.strategies
        ]
        config = replace(config, engine=replace(config.engine, strategies=strategies))
    node = BacktestNode(configs=[config])
    start = time.perf_counter()
    node.run()
    seconds = time.perf_counter() - start
    node.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rate-scale", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    started = time.perf_counter()
    catalog = build_sample_catalog(
        root / "raw",
        root / "catalog",
        {"days": args.days, "bar_history_days": 1, "trade_rate_scale": args.rate_scale},
        echo=lambda _: None,
        progress=False,
    )
    elapsed = time.perf_counter() - started
    print(f"market: {args.days} days x 5 symbols, generated and loaded in {elapsed:.0f} s")
    spec = load_runs(CONFIG, [f"run.catalog={catalog}"], scenarios=False)[0]
    latency_ns = int(spec.venue.latency_ms * 1_000_000)
    full = build_execution_view(catalog, list(spec.symbols), None)
    view_seconds = {}
    for workers in (1, 2):  # separate roots: each builds from scratch
        started = time.perf_counter()
        windowed = build_execution_view(
            catalog, list(spec.symbols), spec.strategies, latency_ns, root / f"v{workers}", workers
        )
        view_seconds[workers] = time.perf_counter() - started
    trades, kept = full.trades_kept, windowed.trades_kept
    print(f"trades: {trades:,}; inside cascade windows: {kept:,} ({kept / trades:.1%})")
    print(
        "building the windowed view (read every trade, replay entries, write the kept ones): "
        + "; ".join(
            f"{w} worker(s) {t:.2f} s ({trades / t:,.0f} trades/s)" for w, t in view_seconds.items()
        )
    )

    noop, real, win = [], [], []
    for i in range(args.repeat):  # alternate, so drift in machine load hits both alike
        noop.append(
            _run(spec, full.path, root / f"noop{i}", "benchmarks.noop_strategy:NoOpStrategy")
        )
        real.append(_run(spec, full.path, root / f"real{i}"))
        win.append(_run(spec, windowed.path, root / f"win{i}"))
    started = time.perf_counter()
    problems = window_violations(windowed.path, root / "win0", list(spec.symbols))
    check_seconds = time.perf_counter() - started
    print(
        f"speculative windows checked in {check_seconds:.2f} s: {len(problems)} trade(s) "
        "outlived their window"
        + (" - the runner would run again on the proven windows" if problems else "")
    )
    m_noop, m_real, m_win = (statistics.median(x) for x in (noop, real, win))
    for label, seconds in (("no-op strategy", m_noop), ("CascadeMarketMaker", m_real)):
        print(f"{label + ', all trades:':<34} median {seconds:6.2f} s  ({trades / seconds:,.0f}/s)")
    print(f"  strategy overhead ratio: {m_real / m_noop:.3f}x (target <= 1.2x)")
    print(
        f"CascadeMarketMaker, windows only: median {m_win:6.2f} s  (speed-up {m_real / m_win:.2f}x)"
    )
    per_trade = m_real / trades  # engine + strategy cost per trade fed
    fixed = max(m_win - per_trade * kept, 0.0)  # liquidations, orders, start-up
    scale_fixed = fixed * SEED_DAYS / args.days
    full_scale = per_trade * SEED_TRADES
    windowed_scale = per_trade * SEED_TRADES * (kept / trades) + scale_fixed
    # Paid once (later runs reuse the view). One worker: linear in the trades, an upper bound.
    view_scale = view_seconds[1] / trades * SEED_TRADES
    windowed_scale += check_seconds * SEED_DAYS / args.days  # reads the event logs once
    print(
        f"extrapolated to the seed's {SEED_TRADES / 1e9:.2f} billion trades, one process: "
        f"all trades {full_scale / 60:.0f} min; trade windows (run + check) "
        f"{windowed_scale / 60:.1f} min "
        f"+ building the view once {view_scale / 60:.1f} min "
        f"= {(windowed_scale + view_scale) / 60:.1f} min (target < 30 min)"
    )
    print("cascade frequency, this sample vs the seed's table:")
    factor = _frequency_factor(root / "win0", args.days)
    adjusted = windowed_scale * factor + view_scale
    print(
        f"at the seed's cascade frequency (windows x {factor:.2f}, an upper bound): "
        f"{adjusted / 60:.1f} min (target < 30 min)"
    )


if __name__ == "__main__":
    main()
