"""From zero to a real backtest, the way the README tells a user: download with --load, look at
the cascades, backtest - against a local server that serves tardis.dev and Bybit's archive in
their real URL layouts. The market is the project's sample generator, written out as those
sources' files (tardis liquidations CSV, Bybit trade archive CSV.gz)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.cli import main
from liqcascade.data_loaders.bybit import load_bybit_liquidations
from liqcascade.data_loaders.sample import SampleConfig
from liqcascade.data_loaders.sample import generate_sample
from tests.data_loaders.file_server import FileServer

DAY = "2025-03-01"  # the first of the month: tardis serves it without an API key


def _serve_sample_as_real_sources(root: Path, raw: Path) -> None:
    config = SampleConfig(
        days=1, start=DAY, symbols=("ETHUSDT",), bar_history_days=1, trade_rate_scale=0.5
    )
    files = generate_sample(raw, config)
    (trades,) = files.trades
    archive = root / "trading" / "ETHUSDT" / f"ETHUSDT{DAY}.csv.gz"
    archive.parent.mkdir(parents=True)
    shutil.copy(trades, archive)
    (recording,) = files.liquidations
    frame = load_bybit_liquidations(recording)
    lines = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for row in frame.itertuples():
        order_side = "sell" if row.side == "LONG" else "buy"  # tardis: the liquidation ORDER
        received_us = (row.ts_init - 1) // 1000  # minus the loaders' 1 ns tie-break
        lines.append(
            f"bybit,ETHUSDT,{row.ts_event // 1000},{received_us},,{order_side},"
            f"{row.price},{row.quantity}"
        )
    target = root / "v1" / "bybit" / "liquidations" / "2025" / "03" / "01" / "ETHUSDT.csv.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


@pytest.mark.slow
def test_download_load_cascades_backtest(tmp_path: Path) -> None:
    _serve_sample_as_real_sources(tmp_path / "srv", tmp_path / "generated")
    catalog, raw = tmp_path / "catalog", tmp_path / "raw"
    runner = CliRunner()
    common = ["--symbols", "ETHUSDT", "--start", DAY, "--end", DAY, "--out", str(raw)]
    with FileServer(tmp_path / "srv") as server:
        for source in (
            ["tardis", "--exchange", "bybit", "--data-type", "liquidations"],
            ["bybit-trades"],
        ):
            args = ["download", *source, *common, "--base-url", server.url]
            result = runner.invoke(main, [*args, "--load", "--catalog", str(catalog)])
            assert result.exit_code == 0, result.output
            assert "fetched                     1" in result.output
    cascades = runner.invoke(
        main, ["cascades", "--catalog", str(catalog), "--out", str(tmp_path / "cascades")]
    )
    assert cascades.exit_code == 0, cascades.output
    assert "ETHUSDT: liquidations on 1 of 1 days, trades on 1" in cascades.output
    assert (tmp_path / "cascades" / "cascades.html").exists()
    backtest = runner.invoke(
        main,
        [
            "backtest",
            "--config",
            "backtest_sample",
            "--no-scenarios",
            "--no-charts",
            f"run.catalog={catalog}",
            'run.symbols=["ETHUSDT"]',
            f"run.output={tmp_path / 'out'}",
        ],
    )
    assert backtest.exit_code == 0, backtest.output
    assert "coverage:" in backtest.output and "Fills" in backtest.output
    summary = (tmp_path / "out" / "latest" / "summary.txt").read_text()
    # The framework analysed the run (sweeps skip that): its tearsheet has the PnL statistics.
    (tearsheet,) = (tmp_path / "out" / "latest").glob("*/tearsheet.html")
    assert "PnL (total)" in tearsheet.read_text()

    def row(text: str) -> list[str]:  # the "Cascades" row of a table: label, then numbers
        return next(
            line.split()[1:]
            for line in text.splitlines()
            if line.startswith("Cascades ") and line.split()[1].isdigit()
        )

    assert row(cascades.output)[0] == row(summary)[0]  # the same cascades, counted twice
    assert int(row(summary)[0]) > 0
