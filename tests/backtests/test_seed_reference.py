"""The seed preset, run as a user runs it, equals an independent pandas reference trade by trade.

``liqcascade backtest --config backtest_crash_seed`` on a generated market of 8 assets (330
hourly bars, planted crashes: ``seed_market.edge_case_episodes``) must produce exactly the trades
of ``seed_reference.reference_trades`` - the notebook's rules written from the issue's rule list
- and print both metric blocks, the seed's figures being those of the reference's trades.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from liqcascade.cli import main
from liqcascade.strategies.event_log import read_events
from tests.backtests.seed_reference import bar_frames
from tests.backtests.seed_reference import qualifying_not_entered
from tests.backtests.seed_reference import reference_trades
from tests.conftest import SEED_EDGE_SYMBOLS

HOUR = pd.Timedelta(hours=1)
IDS = [f"{s}-LINEAR.BYBIT" for s in SEED_EDGE_SYMBOLS]


@pytest.fixture(scope="module")
def reference(seed_edge_catalog: Path) -> pd.DataFrame:
    return reference_trades(*bar_frames(seed_edge_catalog, IDS))


@pytest.fixture(scope="module")
def cli_run(seed_edge_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("seed-run")
    symbols = "[" + ",".join(f'"{s}"' for s in SEED_EDGE_SYMBOLS) + "]"
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--config",
            "backtest_crash_seed",
            f"run.catalog={seed_edge_catalog}",
            f"run.symbols={symbols}",
            f"run.output={out}",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = out / "latest" / "crash-seed"
    return result.output, read_events(folder / "events-crash.jsonl"), folder


def engine_trades(events: list[dict]) -> pd.DataFrame:
    rows = [
        {
            "symbol": e["symbol"],
            "crash_time": pd.Timestamp(e["event_ns"], unit="ns", tz="UTC"),
            "entry_time": pd.Timestamp(e["entry_ns"], unit="ns", tz="UTC"),
            "exit_time": pd.Timestamp(e["exit_ns"], unit="ns", tz="UTC"),
            "entry": e["entry_price"],
            "exit": e["exit_price"],
            "ret": e["return_fraction"],
            "reason": e["reason"],
        }
        for e in events
        if e["event"] == "exit"
    ]
    frame = pd.DataFrame(rows)
    return frame.sort_values(["entry_time", "symbol"], kind="stable").reset_index(drop=True)


def test_the_market_holds_every_edge_case(seed_edge_catalog: Path, reference: pd.DataFrame) -> None:
    closes, volumes = bar_frames(seed_edge_catalog, IDS)
    by = reference.groupby("symbol")
    assert set(reference["branch"]) == {"crash", "cascade"}  # both detection branches
    assert set(reference["exit_after_h"]) == {1, 2}  # the adaptive exit, both ways
    assert len(qualifying_not_entered(closes, volumes)) >= 2  # failed bounces
    crash_times = set(zip(reference["symbol"], reference["crash_time"], strict=True))
    # A new crash of an asset on the bar one of its trades ends.
    assert any(
        (s, t) in crash_times
        for s, t in zip(reference["symbol"], reference["exit_time"], strict=True)
    )
    # An asset crashing while one of its trades is open, and trades of one asset overlapping.
    assert any(
        ((trade.symbol, c) in crash_times)
        for trade in reference.itertuples()
        for c in pd.date_range(trade.entry_time, trade.exit_time - HOUR, freq="h")
    )
    overlaps = [
        (a.entry_time < b.entry_time < a.exit_time)
        for _, rows in by
        for a in rows.itertuples()
        for b in rows.itertuples()
    ]
    assert any(overlaps)
    assert len(reference) >= 15


def test_engine_trades_equal_the_reference(cli_run: tuple, reference: pd.DataFrame) -> None:
    _, events, _ = cli_run
    engine = engine_trades(events)
    columns = ["symbol", "crash_time", "entry_time", "exit_time", "entry", "exit"]
    pd.testing.assert_frame_equal(engine[columns], reference[columns])
    # Returns after the flat 0.2 %: the venue charges it on the entry notional, in USDT cents.
    assert np.allclose(engine["ret"], reference["ret"], rtol=0, atol=1e-9)
    assert list(engine["reason"]) == [
        "GAIN" if h == 1 else "HOLD" for h in reference["exit_after_h"]
    ]
    assert not [e for e in events if e["event"] in ("open_at_end", "late_bar", "order_rejected")]


def test_the_report_prints_both_blocks_from_the_trades(
    cli_run: tuple, reference: pd.DataFrame
) -> None:
    output, _, folder = cli_run
    seed_block = output[output.index("## The seed's metrics") : output.index("## Account")]
    account_block = output[output.index("## Account results") :]
    n = len(reference)
    assert f"Total trades: {n}" in seed_block and f"Total trades: {n}" in account_block
    total = reference["ret"].sum() * 100
    assert f"Total return (sum of trade returns): {total:.2f}%" in seed_block
    assert f"Mean return per trade: {reference['ret'].mean() * 100:.2f}%" in seed_block
    seed = pd.read_csv(folder / "seed_metrics.csv", index_col=0)["value"]
    assert float(seed["total_return_pct"]) == pytest.approx(total, abs=1e-7)
    # Per-trade Sharpe: trades per year from the run's span (first to last bar close).
    years = (329 * 3600) / (365 * 24 * 3600)
    sharpe = reference["ret"].mean() / reference["ret"].std(ddof=1) * math.sqrt(n / years)
    assert float(seed["sharpe"]) == pytest.approx(sharpe, rel=1e-9)
    assert "cost 20.0 bps per trade" in output
    assert "Crashing assets not bought: 3 (no bounce 3)" in output
    assert "## The seed's periods" in output and "2023-01-01 to 2024-01-31" in output
