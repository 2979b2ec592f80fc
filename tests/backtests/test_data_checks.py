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


def test_cascades_per_day_divide_by_days_with_data_and_gaps_are_listed(tmp_path: Path) -> None:
    day_ms = 86_400_000
    lines = []
    for day in (0, 2, 3):  # 2025-03-03, then a gap on 03-04, then 03-05 and 03-06
        for k in range(2 if day else 4):  # one cascade per pair of big liquidations, 10 min apart
            t = 1740960000000 + day * day_ms + k // 2 * 600_000 + k % 2 * 5_000
            event = (
                f'{{"updatedTime": {t}, "symbol": "BTCUSDT", "side": "Buy", '
                '"size": "20.000", "price": "86500.10"}'
            )
            lines.append(f'{{"t": {t + 400}, "d": [{event}]}}')
    recording = tmp_path / "btc.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    catalog = tmp_path / "catalog"
    load_files("bybit-liquidations", [recording], catalog)
    stats = _cascades_cli(catalog, tmp_path / "out")
    btc = {label: row["BTCUSDT"] for label, row in stats.items()}
    assert float(btc["Cascades"]) == 4
    assert float(btc["Days with liquidation data"]) == 3
    assert float(btc["Calendar days"]) == 4
    assert float(btc["Cascades per day (with data)"]) == pytest.approx(4 / 3)
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert (
        "liquidations on 3 of 4 days" in summary and "no liquidation data on 2025-03-04" in summary
    )
    for name in ("cascades.csv", "profile.csv", "thresholds.csv", "per_day.csv", "cascades.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name


def test_report_per_day_figures_use_days_with_data() -> None:
    from liqcascade.backtests.coverage import Coverage
    from liqcascade.backtests.metrics import compute_metrics
    from liqcascade.backtests.metrics import daily_returns
    from liqcascade.backtests.records import CascadeRecord
    from liqcascade.backtests.records import RunRecords
    from liqcascade.backtests.records import TradeRecord

    day = 86_400_000_000_000
    d0 = 1740960000000000000  # 2025-03-03
    cascades = tuple(
        CascadeRecord(
            "ETHUSDT", d0 + i * day, d0 + i * day + 1, d0 + i * day + 2, 2, 3, 1.0, 0.0, "LONG"
        )
        for i in (0, 0, 3)
    )
    trade = TradeRecord("ETHUSDT", "BUY", d0, d0 + 10, d0 + 20, 100.0, 101.0, 1.0, 10.0, 0.1, "TP")
    coverage = Coverage(d0, d0 + 9 * day, {"ETHUSDT": (d0, d0 + 3 * day)}, {"ETHUSDT": (d0,)})
    run = RunRecords(
        "r", ("ETHUSDT",), d0, d0 + 10 * day - 1, 1000.0, cascades, (), (trade,), coverage
    )
    m = compute_metrics(run)
    assert (m["days"], m["calendar_days"]) == (2.0, 10)
    assert m["cascades_per_day"] == 1.5 and m["trades_per_day"] == 0.5
    assert len(daily_returns(run)) == 2  # the blind days are not zero-return trading days


@pytest.mark.slow
def test_other_venue_prices_only_by_explicit_mapping_and_the_report_says_so(
    small_catalog: Path, tmp_path: Path
) -> None:
    import shutil

    from liqcascade.backtests.price_mapping import _converted
    from liqcascade.data_loaders.catalog_writer import CatalogWriter
    from liqcascade.data_loaders.instruments import load_registry

    registry = load_registry()
    bybit, binance = registry.get("ETHUSDT"), registry.get("ETHUSDT", "binance-usdm")
    catalog = tmp_path / "catalog"
    for folder in (small_catalog / "data").glob("*/ETHUSDT-LINEAR.BYBIT"):
        if folder.parent.name != "trade_tick":  # Bybit liquidations and instrument only
            shutil.copytree(folder, catalog / "data" / folder.parent.name / folder.name)
    with CatalogWriter(catalog) as writer:  # the same prints, as Binance USD-M trades
        for path in sorted((small_catalog / "data" / "trade_tick" / bybit.instrument_id).glob("*")):
            writer.add_trades(_converted(path, bybit, binance), binance, path)
    base = [
        f"run.catalog={catalog}",
        'run.symbols=["ETHUSDT"]',
        f"run.output={tmp_path / 'out'}",
        "--no-scenarios",
        "--no-charts",
    ]
    runner = CliRunner()
    refused = runner.invoke(main, ["backtest", "--config", "backtest_sample", *base])
    assert refused.exit_code == 2 and "but no trades" in refused.output  # never implicit
    mapped = runner.invoke(
        main,
        ["backtest", "--config", "backtest_sample", *base, 'run.prices.ETHUSDT="binance-usdm"'],
    )
    assert mapped.exit_code == 0, mapped.output
    assert "ETHUSDT: prices from ETHUSDT-PERP.BINANCE, not BYBIT's own trades" in mapped.output
    plain = runner.invoke(
        main,
        ["backtest", "--config", "backtest_sample", *base[1:], f"run.catalog={small_catalog}"],
    )
    assert plain.exit_code == 0, plain.output

    def pnl(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("Total PnL"))

    assert pnl(mapped.output) == pnl(plain.output)  # the same prints: the same run
    assert (catalog / "data" / "trade_tick" / bybit.instrument_id).exists() is False
