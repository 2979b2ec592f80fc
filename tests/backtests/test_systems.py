"""Systems are looked up, not branched on: a third system runs through ``liqcascade backtest``.

The toy system (:mod:`tests.backtests.toy_system`) is registered by this test only; its report,
summary and scenario table can come from nowhere but its own hooks.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from liqcascade.backtests.crash_data import bar_coverage
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.systems import register_system
from liqcascade.backtests.systems import system_names
from liqcascade.backtests.systems import unregister_system
from liqcascade.cli import main
from liqcascade.live.node import load_node_spec
from tests.backtests.toy_system import REPORT

SYMBOLS = ("ETHUSDT", "SOLUSDT")


@pytest.fixture
def toy() -> Iterator[str]:
    register_system("toy", "tests.backtests.toy_system:SYSTEM")
    yield "toy"
    unregister_system("toy")


def _toy_config(folder: Path, catalog: Path) -> Path:
    # The toy's strategy file is found beside the run file, as System.strategy_file says.
    (folder / "toy.toml").write_text('[toy]\nbar_spec = "1-HOUR-LAST-EXTERNAL"\n')
    run = folder / "toy_run.toml"
    run.write_text(
        f"""
[run]
name = "toy run"
system = "toy"
catalog = "{catalog}"
output = "out"
symbols = {list(SYMBOLS)!r}

[[scenario]]
name = "eth only"
"run.symbols" = ["ETHUSDT"]
"""
    )
    return run


def test_a_registered_toy_system_runs_through_liqcascade_backtest(
    toy: str, small_catalog: Path, tmp_path: Path
) -> None:
    config = _toy_config(tmp_path, small_catalog)
    result = CliRunner().invoke(main, ["backtest", "--config", str(config)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    root = (tmp_path / "out" / "latest").resolve()
    bars = {
        s: bar_coverage(small_catalog, f"{s}-LINEAR.BYBIT-1-HOUR-LAST-EXTERNAL", None, None).total
        for s in SYMBOLS
    }
    assert all(bars.values())
    # The toy's own report, from its own event log: every bar of the catalog, per symbol.
    expected = "bars seen: " + ", ".join(f"{s} {bars[s]}" for s in sorted(SYMBOLS))
    assert (root / "toy-run" / REPORT).read_text().strip() == expected
    assert (
        root / "eth-only" / REPORT
    ).read_text().strip() == f"bars seen: ETHUSDT {bars['ETHUSDT']}"
    # The job's summary is the toy's text, the scenario table the toy's table.
    summary = (root / "summary.txt").read_text()
    assert summary.startswith("toy run (toy): fills conservative")
    assert expected in summary
    table = pd.read_csv(root / "scenarios.csv", index_col=0)
    assert table.loc["bars"].to_dict() == {
        "toy run": sum(bars.values()),
        "eth only": bars["ETHUSDT"],
    }
    # The shared tearsheet is titled with the system's own label.
    assert '"text":"toy run (Toy system)"' in (root / "toy-run" / "tearsheet.html").read_text()
    # Nothing of System A's report was written for it.
    assert not (root / "toy-run" / "metrics.csv").exists()


def test_a_system_must_be_registered_and_is_named_by_its_key(
    toy: str, small_catalog: Path, tmp_path: Path
) -> None:
    config = _toy_config(tmp_path, small_catalog)
    with pytest.raises(ConfigError) as caught:
        load_runs(config, ["run.system=nope"])
    assert str(caught.value) == f"run.system: expected one of {system_names()}, got 'nope'"
    assert "toy" in system_names()
    # The toy has no live half: a node file naming it is refused by node.system.
    with pytest.raises(ConfigError, match=r"node\.system: toy has no paper or live node"):
        load_node_spec("paper", ['node.system="toy"'])
    with pytest.raises(ConfigError, match=r"node\.system: expected one of \("):
        load_node_spec("paper", ['node.system="nope"'])


@pytest.mark.parametrize(
    "path", ["tests.backtests.no_such_module:SYSTEM", "tests.backtests.toy_system:NO_SUCH"]
)
def test_a_registered_system_that_cannot_be_imported_is_a_config_error_naming_it(
    small_catalog: Path, tmp_path: Path, path: str
) -> None:
    register_system("broken", path)
    try:
        config = _toy_config(tmp_path, small_catalog)
        with pytest.raises(ConfigError, match=rf"system 'broken' is registered as '{path}'"):
            load_runs(config, ["run.system=broken"])
    finally:
        unregister_system("broken")


def test_running_any_system_s_backtest_imports_nothing_of_live() -> None:
    """Systems name their live half by import path: the backtests never import ``live``."""
    script = (
        "import sys\n"
        "from liqcascade.backtests.systems import system_names, get_system\n"
        "import liqcascade.backtests.job, liqcascade.backtests.sweep\n"
        "systems = [get_system(name) for name in system_names()]\n"
        "assert all(s.live for s in systems), systems\n"
        "print(sorted(m for m in sys.modules if m.startswith('liqcascade.live')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_node_without_node_strategy_reads_its_system_s_strategy_file(tmp_path: Path) -> None:
    """As a run does (``System.strategy_file``): System B's, not System A's."""
    shipped = Path(__file__).resolve().parents[2] / "configs"
    text = (shipped / "paper_crash_reversion.toml").read_text()
    text = text.replace('strategy = "crash_reversion.toml"\n', "")
    text = text.replace('"instruments.toml"', repr(str(shipped / "instruments.toml")))
    (tmp_path / "node.toml").write_text(text)
    spec = load_node_spec(tmp_path / "node.toml")
    assert spec.strategy_file.name == "crash_reversion.toml"
    assert spec.strategies == load_node_spec("paper_crash_reversion").strategies


def test_a_system_without_a_data_span_has_no_walk_forward_and_says_so(
    toy: str, small_catalog: Path, tmp_path: Path
) -> None:
    config = _toy_config(tmp_path, small_catalog)
    search = '\n[sweep]\n[sweep.params]\n"run.leverage" = [1, 2]\n[walk_forward]\ntrain_days = 1\n'
    config.write_text(config.read_text() + search + "test_days = 1\n")
    out = tmp_path / "wf"
    result = CliRunner().invoke(main, ["walk-forward", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "run.system: Toy system (toy) does not say which span its data covers" in result.output
    assert not out.exists()
