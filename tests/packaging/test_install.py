"""The plugin as a user installs it: a wheel into a fresh virtualenv, used from another folder.

Slow (builds a wheel and a virtualenv with the framework in it): marked ``slow``, run in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERIC = ("strategies", "live", "backtests", "data_loaders", "configs")

pytestmark = pytest.mark.slow


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding a regular (non-editable) install of the repository's wheel."""
    root = tmp_path_factory.mktemp("install")
    had_build = (ROOT / "build").exists()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", ROOT], root)
    if not had_build:  # setuptools builds in the source tree: leave the checkout as it was
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    wheel = next((root / "dist").glob("*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], root)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], root)
    return venv


def _site_packages(venv: Path) -> Path:
    version = sysconfig.get_python_version()
    return venv / "lib" / f"python{version}" / "site-packages"


def test_wheel_installs_one_namespace_with_its_configs(installed: Path) -> None:
    site = _site_packages(installed)
    assert not [name for name in GENERIC if (site / name).exists()]
    package = site / "liqcascade"
    for sub in ("strategies", "data_loaders", "backtests", "live", "configs"):
        assert (package / sub / "__init__.py").exists(), sub
    shipped = {p.name for p in (package / "configs").glob("*.toml")}
    assert {"cascade_mm.toml", "backtest_sample.toml", "instruments.toml"} <= shipped
    metadata = next(site.glob("nautilus_liquidation_cascades-*.dist-info")) / "METADATA"
    text = metadata.read_text()
    assert "License-Expression: MIT" in text
    assert "Requires-Dist: nautilus_trader~=1.231.0" in text


def test_every_command_works_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    """From a folder that is not the repository: help, init, sample, backtest (file and preset)."""
    cli = installed / "bin" / "liqcascade"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert "backtest" in _run([cli, "--help"], work, env)
    out = _run([cli, "init", "mine"], work, env)
    assert "configs/backtest_sample.toml" in out
    assert (work / "mine" / "configs" / "cascade_mm.toml").exists()
    assert "kept" in _run([cli, "init", "mine"], work, env)  # a second init keeps user edits
    catalog = "mine/data/catalog"
    _run(
        [cli, "sample", "--days", "1", "--out", "mine/data/sample", "--catalog", catalog], work, env
    )
    assert "ETHUSDT-LINEAR.BYBIT" in _run([cli, "summary", "--catalog", catalog], work, env)
    # The user's copy: its relative paths resolve against the file, not the working folder.
    elsewhere = tmp_path / "another"
    elsewhere.mkdir()
    report = _run(
        [
            cli,
            "backtest",
            "--config",
            work / "mine" / "configs" / "backtest_sample.toml",
            "--no-scenarios",
            "--no-charts",
        ],
        elsewhere,
        env,
    )
    assert "reports in" in report
    assert (work / "mine" / "output" / "latest" / "summary.txt").exists()
    # The shipped preset by name, data paths on the command line.
    report = _run(
        [
            cli,
            "backtest",
            "--config",
            "backtest_sample",
            "--no-scenarios",
            "--no-charts",
            f"run.catalog={catalog}",
            "run.output=preset-out",
        ],
        work,
        env,
    )
    assert (work / "preset-out" / "latest" / "summary.txt").exists()
