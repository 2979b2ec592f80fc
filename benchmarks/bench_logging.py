"""What the framework's log costs a backtest: bypassed vs WARNING to a file (the default).

    .venv/bin/python -m benchmarks.bench_logging [--days 2] [--repeat 3]

The logger is process-wide (the first engine decides), so every run is its own process. Prints
the median engine time of each mode, with trade windows (the default run) and with every trade.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import sys, tempfile, time
from pathlib import Path
from msgspec.structs import replace
from nautilus_trader.backtest.node import BacktestNode
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.systems.cascade_mm import build_run_config

catalog, mode, windows = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
spec = load_runs(
    "backtest_sample", [f"run.catalog={catalog}", 'run.symbols=["ETHUSDT"]'], scenarios=False
)[0]
view = build_execution_view(
    catalog, ["ETHUSDT"], spec.strategies if windows else None, 0, speculative=False
)
folder = Path(tempfile.mkdtemp())
config = build_run_config(spec, view.path, folder, log_dir=folder if mode == "file" else None)
started = time.perf_counter()
BacktestNode(configs=[replace(config, dispose_on_completion=True)]).run()
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from liqcascade.data_loaders.sample_catalog import build_sample_catalog

    root = Path(tempfile.mkdtemp())
    catalog = build_sample_catalog(
        root / "raw",
        root / "catalog",
        {"days": args.days, "symbols": ("ETHUSDT",)},
        echo=lambda _: None,
        progress=False,
    )
    for windows in ("1", "0"):
        times: dict[str, list[float]] = {"off": [], "file": []}
        for _ in range(args.repeat):
            for mode in times:  # alternate, so load on the machine hits both alike
                out = subprocess.run(
                    [sys.executable, "-c", RUN, str(catalog), mode, windows],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[mode].append(float(out.stdout.strip().splitlines()[-1]))
        off, file = statistics.median(times["off"]), statistics.median(times["file"])
        label = "trade windows" if windows == "1" else "every trade"
        print(
            f"{label:>14}: bypassed {off:.2f} s, WARNING to a file {file:.2f} s "
            f"(x{file / off:.2f}), medians of {args.repeat}"
        )


if __name__ == "__main__":
    main()
