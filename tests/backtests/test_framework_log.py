"""The framework's warnings and errors reach the user: a log file beside the reports, errors on
screen. The logger is process-wide (the first engine decides), so the run is a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from pathlib import Path
from msgspec.structs import replace
from nautilus_trader.backtest.node import BacktestNode
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.systems.cascade_mm import build_run_config

catalog, folder = Path(sys.argv[1]), Path(sys.argv[2])
spec = load_runs(
    "backtest_sample", [f"run.catalog={catalog}", 'run.symbols=["ETHUSDT"]'], scenarios=False
)[0]
view = build_execution_view(spec.catalog, list(spec.symbols), spec.strategies, 0, speculative=False)
config = build_run_config(spec, view.path, folder, log_dir=folder)
strategies = [
    replace(s, strategy_path="tests.backtests.loud_strategy:LoudStrategy")
    for s in config.engine.strategies
]
config = replace(config, engine=replace(config.engine, strategies=strategies))
BacktestNode(configs=[config]).run()
"""


@pytest.mark.slow
def test_framework_warnings_go_to_the_log_file_and_errors_to_the_screen(
    small_catalog: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(small_catalog), str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    screen = done.stdout + done.stderr
    assert "loud strategy: a framework error" in screen
    assert "loud strategy: a framework warning" not in screen  # warnings: the file only
    log = (folder / "framework.log").read_text()
    assert "loud strategy: a framework warning" in log and "a framework error" in log
