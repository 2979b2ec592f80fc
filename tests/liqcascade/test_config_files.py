"""Config files: found by path or preset name, paths inside resolved against the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import load_runs
from liqcascade.cli import main
from liqcascade.config_files import ConfigNotFoundError
from liqcascade.config_files import locate_config
from liqcascade.configs import configs_dir
from liqcascade.live.node import load_node_spec


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """``liqcascade init`` into a fresh folder, through the CLI."""
    result = CliRunner().invoke(main, ["init", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    return tmp_path / "mine"


def test_init_copies_every_shipped_config_and_keeps_user_edits(user_folder: Path) -> None:
    shipped = sorted(p.name for p in configs_dir().glob("*.toml"))
    assert sorted(p.name for p in (user_folder / "configs").glob("*.toml")) == shipped
    assert (user_folder / "data").is_dir() and (user_folder / "output").is_dir()
    mine = user_folder / "configs" / "cascade_mm.toml"
    mine.write_text(mine.read_text() + "\n# my edit\n")
    again = CliRunner().invoke(main, ["init", str(user_folder)])
    assert "kept" in again.output and mine.read_text().endswith("# my edit\n")
    forced = CliRunner().invoke(main, ["init", str(user_folder), "--force"])
    assert forced.exit_code == 0 and not mine.read_text().endswith("# my edit\n")


def test_paths_in_a_file_resolve_against_the_file(
    user_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (user_folder / "configs" / "cascade_mm.toml").write_text(
        (configs_dir() / "cascade_mm.toml")
        .read_text()
        .replace("take_profit = 0.0015", "take_profit = 0.0021")
    )
    monkeypatch.chdir(tmp_path)  # anywhere but the user's folder
    (spec,) = load_runs(user_folder / "configs" / "backtest_sample.toml", scenarios=False)
    assert spec.catalog == user_folder / "data" / "catalog"
    assert spec.output == user_folder / "output"
    assert spec.strategies["ETHUSDT"]["take_profit"] == 0.0021  # the user's copy, not the package's
    node = load_node_spec(user_folder / "configs" / "paper.toml")
    assert node.strategy_file == user_folder / "configs" / "cascade_mm.toml"
    assert node.state_dir == user_folder / "state" / "paper"


def test_a_preset_by_name_reads_the_package_and_puts_data_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = locate_config("backtest_sample")
    assert source.path == configs_dir() / "backtest_sample.toml" and source.is_preset
    (spec,) = load_runs("backtest_sample", scenarios=False)
    assert spec.catalog.resolve() == (tmp_path / "data" / "catalog").resolve()
    assert spec.strategies["ETHUSDT"]["warm_threshold"] == 80000  # the shipped strategy file


def test_a_folder_of_a_presets_name_does_not_hide_the_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from this repository, ``--config live`` met the ``live/`` package folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "live").mkdir()
    assert locate_config("live").path == configs_dir() / "live.toml"
    (tmp_path / "paper").write_text("not toml")  # a file of that name is the user's file
    assert locate_config("paper").path == Path("paper")


def test_overrides_resolve_against_the_working_folder_and_run_strategy_takes_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        (configs_dir() / "cascade_mm.toml")
        .read_text()
        .replace("cooldown_s = 300", "cooldown_s = 42")
    )
    monkeypatch.chdir(tmp_path)
    (spec,) = load_runs(
        "backtest_sample", ["run.catalog=cat", "run.strategy=other.toml"], scenarios=False
    )
    assert spec.catalog == Path("cat")
    assert spec.strategies["ETHUSDT"]["cooldown_s"] == 42


def test_toml_dates_are_accepted_as_run_bounds() -> None:
    (spec,) = load_runs(
        "backtest_sample", ["run.start=2025-03-05", "run.end=2025-03-06T12:00:00Z"], scenarios=False
    )
    assert spec.start == "2025-03-05"
    assert spec.end.startswith("2025-03-06T12:00:00")


def test_unknown_config_names_the_presets(tmp_path: Path) -> None:
    with pytest.raises(ConfigNotFoundError, match="backtest_sample"):
        locate_config("no_such_preset")
    with pytest.raises(ConfigError, match="no such file"):
        load_runs(tmp_path / "missing.toml")
    result = CliRunner().invoke(main, ["backtest", "--config", "no_such_preset"])
    assert result.exit_code == 2 and "shipped preset" in result.output
