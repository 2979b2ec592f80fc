"""Loud failures before a run, and the cascades command agreeing with the backtest report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.backtests.job import run_job
from liqcascade.cli import main
from liqcascade.data_loaders.load import load_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_liquidations_without_trades_exit_non_zero_saying_what_and_how(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    load_files("bybit-liquidations", [FIXTURES / "bybit_allLiquidation.jsonl"], catalog)
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--config",
            "backtest_sample",
            f"run.catalog={catalog}",
            'run.symbols=["ETHUSDT","SOLUSDT"]',
            f"run.output={tmp_path / 'out'}",
        ],
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "ETHUSDT: liquidations on 1 day(s) but no trades" in text
    assert "liqcascade download bybit-trades --symbols ETHUSDT --start 2025-03-03" in text
    # SOL has nothing at all: its instrument and its signal are both named.
    assert "SOLUSDT: no instrument SOLUSDT-LINEAR.BYBIT" in text
    assert "SOLUSDT: no liquidations" in text and "liqcascade download tardis" in text
    assert not (tmp_path / "out").exists()  # refused before anything ran


def _cascades_cli(catalog: Path, out: Path, *extra: str) -> dict[str, dict[str, str]]:
    result = CliRunner().invoke(
        main, ["cascades", "--catalog", str(catalog), "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    with (out / "cascade_stats.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {row["statistic"]: row for row in rows}


@pytest.mark.slow
def test_backtest_cascade_rows_equal_the_cascades_command(
    small_catalog: Path, tmp_path: Path
) -> None:
    bounds = ["run.start=2025-03-03T06:00:00", "run.end=2025-03-03T23:00:00"]
    symbols = 'run.symbols=["ETHUSDT","SOLUSDT","DOGEUSDT"]'
    (result,) = run_job(
        "backtest_sample",
        [f"run.catalog={small_catalog}", f"run.output={tmp_path / 'out'}", symbols, *bounds],
        scenarios=False,
        charts=False,
        echo=lambda _: None,
    )
    from liqcascade.backtests.report import metrics_table

    report = metrics_table(result.records)
    stats = _cascades_cli(
        small_catalog,
        tmp_path / "cascades",
        "--start",
        "2025-03-03T06:00:00",
        "--end",
        "2025-03-03T23:00:00",
    )
    pairs = {
        "cascades": "Cascades",
        "cascades_per_day": "Cascades per day (with data)",
        "avg_cascade_duration_s": "Avg cascade duration (s)",
        "buy_dominant_share": "Buy-dominant (longs liquidated)",
        "sell_dominant_share": "Sell-dominant (shorts liquidated)",
        "days": "Days with liquidation data",
    }
    assert report.loc["cascades", "portfolio"] > 10
    for column in report.columns:
        for key, label in pairs.items():
            assert float(stats[label][column]) == pytest.approx(
                float(report.loc[key, column]), rel=1e-12
            ), (column, key)
