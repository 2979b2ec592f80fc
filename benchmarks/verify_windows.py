"""Check trade windows on a real-size catalog: the windowed and full runs must agree.

    .venv/bin/python -m benchmarks.verify_windows [--catalog data/catalog] [key=value ...]

Runs the backtest config (no scenarios) twice - trade windows on, then every trade - and
compares every event but the liquidations themselves (cascades, orders, fills, exits, skips).
The test suite does the same on a small market; this is for a large one or other parameters,
e.g. ``venue.fills=optimistic`` or ``venue.latency_ms=2000``. Exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import decision_events
from liqcascade.backtests.runner import run_spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/backtest_sample.toml")
    parser.add_argument("--catalog", default="data/catalog")
    parser.add_argument("overrides", nargs="*", help="key=value, as for `liqcascade backtest`")
    args = parser.parse_args()
    spec = load_runs(
        Path(args.config), [f"run.catalog={args.catalog}", *args.overrides], scenarios=False
    )[0]
    root = Path(tempfile.mkdtemp(prefix="verify-windows-"))
    windowed = run_spec(replace(spec, trade_windows=True), root / "windowed", echo=print)
    full = run_spec(replace(spec, trade_windows=False), root / "full", echo=lambda _: None)
    kept, total = windowed.view.trades_kept, full.view.trades_kept
    a, b = decision_events(root / "windowed"), decision_events(root / "full")
    print(f"trades fed: {kept:,} of {total:,} ({kept / total:.1%})")
    print(f"round trips: {len(windowed.records.trades)} windowed, {len(full.records.trades)} full")
    print(f"events compared: {len(a)} windowed, {len(b)} full")
    windowed.dispose()
    full.dispose()
    if a == b:
        print("IDENTICAL")
        return 0
    first = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    print(f"DIFFERENT from event {first}:")
    print(" windowed:", a[first] if first < len(a) else None)
    print(" full:    ", b[first] if first < len(b) else None)
    return 1


if __name__ == "__main__":
    sys.exit(main())
