"""The seed preset against the independent pandas reference on the seed's universe and period.

    .venv/bin/python -m benchmarks.seed_reference [--hours 9504] [--episodes 80] [--seed 13]
                                                  [--out DIR]

Generates an hourly market of the seed's 20 assets from 2023-01-01 (9504 bars = to 2024-01-31,
the seed's headline period) with random planted crashes (``tests/backtests/seed_market.py``:
crash and cascade bars on 2-7 assets, random bounces and gains, some episodes on the bars
right after others), writes it as Bybit kline files and loads it with the project's loader,
then runs ``liqcascade backtest --config backtest_crash_seed`` on it in a subprocess, exactly as
a user would. Compares the engine's trades (from the run's event log) with
``tests/backtests/seed_reference.py`` trade by trade - symbol, crash, entry and exit times,
entry and exit prices, return - and prints the counts, the first differences if any, the
seed's figures of both, the run's own report, and the time each step took. Exits 1 if they
differ. Run from the repository root (it imports the tests' generator and reference).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from liqcascade.strategies.event_log import read_events
from tests.backtests.seed_market import SEED_UNIVERSE
from tests.backtests.seed_market import build_catalog
from tests.backtests.seed_market import random_episodes
from tests.backtests.seed_reference import bar_frames
from tests.backtests.seed_reference import reference_trades

KEYS = ["symbol", "crash_time", "entry_time", "exit_time"]


def engine_trades(events: list[dict]) -> pd.DataFrame:
    """The run's trades (``exit`` lines) in the reference's layout."""

    def utc(ns: int) -> pd.Timestamp:
        return pd.Timestamp(ns, unit="ns", tz="UTC")

    rows = [
        {
            "symbol": e["symbol"],
            "crash_time": utc(e["event_ns"]),
            "entry_time": utc(e["entry_ns"]),
            "exit_time": utc(e["exit_ns"]),
            "entry": e["entry_price"],
            "exit": e["exit_price"],
            "ret": e["return_fraction"],
        }
        for e in events
        if e["event"] == "exit"
    ]
    frame = pd.DataFrame(rows, columns=[*KEYS, "entry", "exit", "ret"])
    return frame.sort_values(["entry_time", "symbol"], kind="stable").reset_index(drop=True)


def _figures(returns: pd.Series) -> str:
    return (
        f"{len(returns)} trades, sum {returns.sum() * 100:.2f} %, mean {returns.mean() * 100:.3f} %"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=9504, help="bars per asset (9504 = 396 d)")
    parser.add_argument("--episodes", type=int, default=80, help="planted crash episodes")
    parser.add_argument("--seed", type=int, default=13, help="random seed of the market")
    parser.add_argument("--out", type=Path, help="keep the market and the run here")
    args = parser.parse_args()

    root = args.out or Path(tempfile.mkdtemp(prefix="seed-reference-"))
    symbols = SEED_UNIVERSE
    started = time.perf_counter()
    episodes = random_episodes(symbols, args.hours, args.episodes, args.seed)
    catalog, _ = build_catalog(root, symbols, "2023-01-01", args.hours, episodes, args.seed)
    built = time.perf_counter()
    print(
        f"market: {len(symbols)} assets x {args.hours} hourly bars from 2023-01-01, "
        f"{args.episodes} planted episodes (seed {args.seed}), catalog {catalog} "
        f"({built - started:.1f} s to generate and load)"
    )

    cli = Path(sys.executable).with_name("liqcascade")
    command = [
        str(cli),
        "backtest",
        "--config",
        "backtest_crash_seed",
        f"run.catalog={catalog}",
        "run.symbols=[" + ",".join(f'"{s}"' for s in symbols) + "]",
        f"run.output={root / 'output'}",
    ]
    print("$ " + " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    ran = time.perf_counter()
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        return 1
    report = run.stdout
    print(f"backtest: {ran - built:.1f} s (the whole command, report included)")

    ids = [f"{s}-LINEAR.BYBIT" for s in symbols]
    reference = reference_trades(*bar_frames(catalog, ids))
    events = read_events(root / "output" / "latest" / "crash-seed" / "events-crash.jsonl")
    engine = engine_trades(events)
    checked = time.perf_counter()
    print(f"reference: {checked - ran:.1f} s (pandas, incl. reading the bars)")
    print(f"\nreference: {_figures(reference['ret'])}")
    print(f"engine:    {_figures(engine['ret'])}")
    crashes = [e for e in events if e["event"] == "crash"]
    print(
        f"crash events in the run: {len(crashes)}; branches in the reference's trades: "
        f"{reference['branch'].value_counts().to_dict()}; exits after 1 h / 2 h: "
        f"{reference['exit_after_h'].value_counts().sort_index().to_dict()}"
    )

    same_keys = len(engine) == len(reference) and engine[KEYS].equals(reference[KEYS])
    prices_equal = same_keys and np.array_equal(
        engine[["entry", "exit"]].to_numpy(), reference[["entry", "exit"]].to_numpy()
    )
    worst = float(np.abs(engine["ret"] - reference["ret"]).max()) if same_keys else None
    agree = same_keys and prices_equal and worst is not None and worst < 1e-9
    if agree:
        print(
            f"\nAGREE: all {len(engine)} trades equal (symbol, crash, entry and exit times, "
            f"entry and exit prices); largest return difference {worst:.2e}"
        )
    else:
        merged = engine.merge(reference, on=KEYS, how="outer", indicator=True)
        print(f"\nDIFFER: engine {len(engine)} trades, reference {len(reference)}")
        print(merged[merged["_merge"] != "both"].head(20).to_string())
    print("\nThe run's report:\n" + report)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
