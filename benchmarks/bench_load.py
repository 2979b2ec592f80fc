"""Loading throughput: Bybit trade-history CSV.gz and allLiquidation JSON lines -> catalog.

Prints rows/s (median of ``--repeat`` runs into a fresh catalog each time), end to end: read
and decompress, parse, validate, build Arrow tables, write per-day Parquet files, move in place.

    .venv/bin/python -m benchmarks.bench_load [--trades 1000000] [--liquidations 100000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from liqcascade.data_loaders.load import load_files

DAY_START = 1_740_960_000  # 2025-03-03 00:00 UTC, seconds


def write_trades(path: Path, n: int, seed: int = 1) -> None:
    """``n`` ETHUSDT trades over one day in Bybit's trade-history format."""
    rng = np.random.default_rng(seed)
    ts = DAY_START + np.sort(rng.uniform(0, 86_399, n))
    price = np.round(2200 + np.cumsum(rng.normal(0, 0.05, n)), 2)
    size = np.round(rng.lognormal(-1, 1, n), 2).clip(0.01)
    side = np.where(rng.random(n) < 0.5, "Buy", "Sell")
    frame = pd.DataFrame(
        {
            "timestamp": np.char.mod("%.4f", ts),
            "symbol": "ETHUSDT",
            "side": side,
            "size": np.char.mod("%.2f", size),
            "price": np.char.mod("%.2f", price),
            "tickDirection": "PlusTick",
            "trdMatchID": [f"{i:08x}-0000-5000-8000-{i:012x}" for i in range(n)],
            "grossValue": np.char.mod("%.6g", price * size * 1e8),
            "homeNotional": size,
            "foreignNotional": np.char.mod("%.4f", price * size),
        }
    )
    with gzip.open(path, "wt", compresslevel=6) as f:
        frame.to_csv(f, index=False)


def write_liquidations(path: Path, n: int, seed: int = 2) -> None:
    """``n`` ETHUSDT liquidation events in allLiquidation pushes (1-4 events per push)."""
    rng = np.random.default_rng(seed)
    t = DAY_START * 1000 + np.sort(rng.integers(0, 86_399_000, n))
    with gzip.open(path, "wt") as f:
        i = 0
        while i < n:
            k = int(min(rng.integers(1, 5), n - i))
            events = [
                {
                    "T": int(t[j]),
                    "s": "ETHUSDT",
                    "S": "Buy" if rng.random() < 0.6 else "Sell",
                    "v": f"{rng.lognormal(0, 1.5) + 0.01:.2f}",
                    "p": f"{2200 + rng.normal(0, 5):.2f}",
                }
                for j in range(i, i + k)
            ]
            push = int(t[i + k - 1]) // 500 * 500 + 500
            message = {"topic": "allLiquidation.ETHUSDT", "type": "snapshot", "ts": push}
            message["data"] = events
            f.write(json.dumps({"recv_ts_ns": push * 1_000_000 + 40_000_000, "msg": message}))
            f.write("\n")
            i += k


def measure(source_format: str, path: Path, rows: int, repeat: int) -> float:
    """Median rows/s of loading ``path`` into a fresh catalog."""
    timings = []
    for _ in range(repeat):
        catalog = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
        start = time.perf_counter()
        load_files(source_format, [path], catalog)
        timings.append(time.perf_counter() - start)
        shutil.rmtree(catalog)
    median = statistics.median(timings)
    print(
        f"{source_format:<20} {rows:>10,} rows  median {median:6.3f} s  "
        f"{rows / median:>12,.0f} rows/s  (runs: {', '.join(f'{t:.3f}' for t in timings)})"
    )
    return rows / median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--liquidations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        trades = Path(tmp) / "ETHUSDT2025-03-03.csv.gz"
        liquidations = Path(tmp) / "allLiquidation_ETHUSDT_2025-03-03.jsonl.gz"
        write_trades(trades, args.trades)
        write_liquidations(liquidations, args.liquidations)
        measure("bybit-trades", trades, args.trades, args.repeat)
        measure("bybit-liquidations", liquidations, args.liquidations, args.repeat)


if __name__ == "__main__":
    main()
