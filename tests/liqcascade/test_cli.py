"""The command line: exit codes and messages a user sees."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from liqcascade.cli import main
from tests.conftest import snapshot


def test_load_then_summary(fixtures: Path, catalog_dir: Path) -> None:
    runner = CliRunner()
    trades = str(fixtures / "ETHUSDT2025-03-03.csv")
    result = runner.invoke(main, ["load", "bybit-trades", trades, "--catalog", str(catalog_dir)])
    assert result.exit_code == 0, result.output
    liqs = str(fixtures / "bybit_allLiquidation.jsonl")
    result = runner.invoke(
        main, ["load", "bybit-liquidations", liqs, "--catalog", str(catalog_dir)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["summary", "--catalog", str(catalog_dir)])
    assert result.exit_code == 0, result.output
    assert "ETHUSDT-LINEAR.BYBIT" in result.output
    trade_line = next(line for line in result.output.splitlines() if line.startswith("trades"))
    assert trade_line.split()[2] == "5"  # rows
    liq_line = next(line for line in result.output.splitlines() if line.startswith("liquid"))
    assert liq_line.split()[2] == "3"


def test_malformed_file_exits_non_zero_naming_file_and_line(
    fixtures: Path, catalog_dir: Path
) -> None:
    runner = CliRunner()
    good = str(fixtures / "ETHUSDT2025-03-03.csv")
    runner.invoke(main, ["load", "bybit-trades", good, "--catalog", str(catalog_dir)])
    before = snapshot(catalog_dir)
    bad = str(fixtures / "ETHUSDT2025-03-04_bad_price.csv")
    result = runner.invoke(main, ["load", "bybit-trades", bad, "--catalog", str(catalog_dir)])
    assert result.exit_code == 2
    assert "ETHUSDT2025-03-04_bad_price.csv, line 3" in result.output
    assert "catalog unchanged" in result.output
    assert snapshot(catalog_dir) == before


def test_unknown_format_is_named(fixtures: Path, catalog_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["load", "kraken", str(fixtures / "ETHUSDT2025-03-03.csv"), "--catalog", str(catalog_dir)],
    )
    assert result.exit_code == 2
    assert "unknown format 'kraken'" in result.output


def test_feed_delay_option_applies(fixtures: Path, catalog_dir: Path) -> None:
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from liqcascade.data_loaders.liquidation import LiquidationData

    liqs = str(fixtures / "bybit_legacy_liquidation.jsonl")
    result = CliRunner().invoke(
        main,
        ["load", "bybit-liquidations", liqs, "--catalog", str(catalog_dir), "--feed-delay-ms", "0"],
    )
    assert result.exit_code == 0, result.output
    data = ParquetDataCatalog(str(catalog_dir)).query(LiquidationData)
    # With no delay the push time (ts) is the earliest possible receipt.
    assert data[0].data.ts_init == 1740960003000 * 1_000_000 + 1
