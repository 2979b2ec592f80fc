"""Sweep speed: a 64-setting grid on the 7-day sample, on Ray and in one process; the screen.

    .venv/bin/python -m benchmarks.bench_sweep [--workers 2] [--confirm 4] [--keep]

Prints, from one run:

1. the wall time of ``liqcascade sweep`` (``run_sweep``: Ray start, the views of all 64
   settings, 64 engine runs, the report) on the sample market of ``make sample`` (target
   <= 2 min on 2 cores);
2. Ray's speed-up: the same 64 settings again on Ray and one after another in this process
   (same views, same runner), in 4 alternating rounds of 16 so that other load on a shared
   machine hits both alike (target >= 1.7x on 2 cores); every row is checked to be the same;
3. the screen (``backtests/screen.py``) on the same 64 settings: its time and its agreement
   with the engine (trades, exits, PnL, rank of the objective) - a ranking aid, never a result;
4. the seed-scale extrapolation (282 days x 5 symbols, ~0.99 billion trades) of a 100-setting
   sweep: all in the engine, and screened with the best ``--confirm`` confirmed in the engine
   (target <= 60 min on 2 cores). Costs are scaled linearly with the trades (an upper bound: the
   liquidation and start-up parts grow with days only), then again with the windows scaled to
   the seed's cascades per day (bench_backtest's method; an upper bound too).

The catalog is hard-linked into a scratch folder first, so every view is built from scratch.
The machine may be shared: other processes' load slows both sides of the speed-up alike, but
not the absolute times - the load average is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import time
from pathlib import Path

import pandas as pd

from liqcascade.backtests.metrics import compute_metrics
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.screen import agreement
from liqcascade.backtests.screen import screen_records
from liqcascade.backtests.screen import screen_runs
from liqcascade.backtests.sweep import ResultStore
from liqcascade.backtests.sweep import SettingPool
from liqcascade.backtests.sweep import ray_session
from liqcascade.backtests.sweep import run_setting
from liqcascade.backtests.sweep import run_sweep
from liqcascade.data_loaders.sample_catalog import build_sample_catalog

SEED_DAYS, SEED_TRADES = 282, 282 * (1_500_000 + 4 * 500_000)
#: The seed's cascades/day per symbol and trades/day (bench_backtest's table).
SEED_CASCADES = {"ETHUSDT": 9.4, "BTCUSDT": 7.4, "SOLUSDT": 6.9, "XRPUSDT": 5.3, "DOGEUSDT": 4.4}
SEED_TRADES_PER_DAY = {s: 1_500_000 if s == "ETHUSDT" else 500_000 for s in SEED_CASCADES}
SYMBOLS = ("ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT")

GRID = """
[sweep]
mode = "grid"
objective = "sharpe"
[sweep.constraints]
trades = {{ min = 10 }}
[sweep.params]
"strategy.defaults.entry_offset" = [0.001, 0.0015, 0.002, 0.0025]
"strategy.defaults.take_profit" = [0.001, 0.0015, 0.002, 0.0025]
"strategy.defaults.stop_loss" = [0.002, 0.0025, 0.003, 0.004]
"""


def _link_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                shutil.copy2(path, dest)


def _config(root: Path, catalog: Path) -> Path:
    text = f"""
[run]
name = "bench-sweep"
catalog = "{catalog}"
output = "{root / "output"}"
symbols = {list(SYMBOLS)!r}
starting_balance = 10000.0
cascade_charts = 0

[venue]
fills = "conservative"
maker_fee_bps = 2.0
taker_fee_bps = 5.5
latency_ms = 100
{GRID.format()}
"""
    path = root / "bench_sweep.toml"
    path.write_text(text.replace("'", '"'))
    return path


def _symbol_trades(catalog: Path) -> int:
    import pyarrow.parquet as pq

    total = 0
    for symbol in SYMBOLS:
        folder = catalog / "data" / "trade_tick" / f"{symbol}-LINEAR.BYBIT"
        total += sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--confirm", type=int, default=4, help="settings confirmed at scale")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    sample = build_sample_catalog(Path("data/sample"), Path("data/catalog"), echo=print)
    root = Path(f"data/bench-sweep-{os.getpid()}").resolve()
    _link_tree(sample.resolve(), root / "catalog")
    config = _config(root, root / "catalog")
    trades_in = _symbol_trades(root / "catalog")
    print(f"market: the 7-day sample, {', '.join(SYMBOLS)}: {trades_in:,} trades")
    try:
        # 1. The sweep, as the command runs it.
        started = time.perf_counter()
        outcome = run_sweep(str(config), workers=args.workers, progress=False, echo=lambda _: None)
        wall = time.perf_counter() - started
        rows = {r["key"]: r for r in outcome.rows}
        pool = outcome.pool
        kept = statistics.mean(r["fed"]["kept"] for r in rows.values())
        print(
            f"\n1. 64-setting grid through Ray ({args.workers} workers): {wall:.1f} s wall "
            f"(views of all settings {pool.view_seconds:.1f} s, runs {pool.run_seconds:.1f} s, "
            f"Ray start and report the rest); target <= 120 s: "
            + ("MET" if wall <= 120 else "NOT MET")
        )
        print(f"   each setting fed {kept:,.0f} trades on average (checked windows)")

        # 2. Ray vs one process on the same settings (views already built), in 4 alternating
        # rounds of 16, so a change in the machine's other load hits both sides alike.
        ray_seconds = sequential = 0.0
        same = 0
        seconds = []
        keys = list(rows)
        with ray_session(args.workers, None):
            for block in range(4):
                part = keys[block::4]
                store = ResultStore(root / f"ray-{block}", echo=lambda _: None)
                ray_pool = SettingPool(str(config), [], store, False, lambda _: None)
                jobs = [ray_pool.job(tuple(tuple(kv) for kv in rows[k]["setting"])) for k in part]
                started = time.perf_counter()
                again = ray_pool.run(jobs, args.workers)
                ray_seconds += time.perf_counter() - started
                started = time.perf_counter()
                for key, ray_row in zip(part, again, strict=True):
                    row = rows[key]
                    result = run_setting(str(config), row["overrides"], str(root / "seq" / key))
                    seconds.append(result["seconds"])
                    same += result["metrics"] == row["metrics"] == ray_row["metrics"]
                sequential += time.perf_counter() - started
        speedup = sequential / ray_seconds
        print(
            f"\n2. the same 64 settings, 4 alternating rounds of 16: one process "
            f"{sequential:.1f} s, Ray ({args.workers} workers) {ray_seconds:.1f} s: "
            f"speed-up {speedup:.2f}x; "
            "target >= 1.7x: " + ("MET" if speedup >= 1.7 else "NOT MET")
        )
        print(f"   rows identical (sweep, Ray again, one process): {same}/{len(rows)}")

        # 3. The screen on the same settings, against the engine rows.
        specs = [
            load_runs(str(config), row["overrides"], scenarios=False)[0] for row in rows.values()
        ]
        started = time.perf_counter()
        screened = screen_runs(specs)
        screen_seconds = time.perf_counter() - started
        frame = []
        for spec, row, trades in zip(specs, rows.values(), screened, strict=True):
            metrics = compute_metrics(screen_records(spec, trades))
            frame.append(
                {
                    "engine": row["objective"] if row["feasible"] else math.nan,
                    "screen": metrics["sharpe"] if metrics["trades"] >= 10 else math.nan,
                    **agreement(trades, row["trades"]),
                }
            )
        table = pd.DataFrame(frame)
        rho = table["engine"].rank().corr(table["screen"].rank())  # Spearman: ranks, then Pearson
        best = int(table["engine"].idxmax())
        screen_rank = int(table["screen"].rank(ascending=False)[best])
        pnl_gap = (table["screen_pnl"] - table["engine_pnl"]).abs().mean()
        print(
            f"\n3. screen of the 64 settings (one pass over the prints): {screen_seconds:.1f} s "
            f"({screen_seconds / 64 * 1000:.0f} ms per setting)"
        )
        print(
            f"   agreement with the engine: trades {table['screen_trades'].sum():,} vs "
            f"{table['engine_trades'].sum():,}; engine trades the screen also made "
            f"{table['matched_share'].mean():.1%}; same exit reason "
            f"{table['same_exit_share'].mean():.1%}; "
            f"mean |PnL gap| per setting {pnl_gap:.2f} USDT (engine mean "
            f"{table['engine_pnl'].abs().mean():.2f})"
        )
        print(
            f"   Sharpe rank correlation (Spearman) {rho:.3f}; the engine's best setting is "
            f"#{screen_rank} on the screen (confirm {args.confirm}: "
            + ("kept" if screen_rank <= args.confirm else "MISSED")
            + ")"
        )

        # 4. Seed scale.
        scale = SEED_TRADES / trades_in
        per_setting = statistics.mean(seconds) * scale
        parallel = min(speedup, args.workers)
        views = pool.view_seconds * scale * 100 / 64
        full = 100 * per_setting / parallel + views
        screen_seed = screen_seconds * scale * 100 / 64
        confirmed = math.ceil(args.confirm / args.workers) * per_setting
        confirmed_views = pool.view_seconds * scale * args.confirm / 64
        screened_total = screen_seed + confirmed + confirmed_views
        days = next(iter(rows.values()))["metrics"]["days"]
        per_symbol = statistics.mean(r["metrics"]["cascades"] for r in rows.values())
        per_symbol /= days * len(SYMBOLS)
        seed_mean = sum(SEED_CASCADES[s] * SEED_TRADES_PER_DAY[s] for s in SYMBOLS) / sum(
            SEED_TRADES_PER_DAY[s] for s in SYMBOLS
        )
        factor = max(1.0, seed_mean / per_symbol)
        print(
            f"\n4. seed scale ({SEED_TRADES / 1e9:.2f} billion trades, x{scale:.0f} the "
            f"sample's): one setting in the engine ~{per_setting / 60:.1f} min"
        )
        print(
            f"   100 settings all in the engine on {args.workers} cores: {full / 60:.0f} min "
            f"(views {views / 60:.0f} min); target <= 60 min: "
            + ("MET" if full <= 3600 else "NOT MET")
        )
        print(
            f"   100 settings screened ({screen_seed / 60:.1f} min), the best {args.confirm} "
            f"confirmed in the engine ({(confirmed + confirmed_views) / 60:.1f} min incl. "
            f"views): {screened_total / 60:.1f} min; target <= 60 min: "
            + ("MET" if screened_total <= 3600 else "NOT MET")
        )
        bound = screen_seed + (confirmed + confirmed_views) * factor
        print(
            f"   at the seed's cascade frequency ({seed_mean:.1f}/day vs the sample's "
            f"{per_symbol:.1f}; windows x{factor:.2f}, an upper bound): {bound / 60:.1f} min"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
