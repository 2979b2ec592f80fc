"""Tables, files and charts of a run, on the hand-built run of ``test_metrics``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqcascade.backtests.plots import cascade_window
from liqcascade.backtests.plots import plot_cascade
from liqcascade.backtests.plots import plot_equity
from liqcascade.backtests.plots import plot_largest_cascades
from liqcascade.backtests.plots import tp_sl_levels
from liqcascade.backtests.report import format_table
from liqcascade.backtests.report import metrics_table
from liqcascade.backtests.report import scenario_table
from liqcascade.backtests.report import write_report
from tests.backtests.test_metrics import C1
from tests.backtests.test_metrics import C2
from tests.backtests.test_metrics import C3
from tests.backtests.test_metrics import C4
from tests.backtests.test_metrics import T1
from tests.backtests.test_metrics import T2
from tests.backtests.test_metrics import S
from tests.backtests.test_metrics import empty_run
from tests.backtests.test_metrics import sample_run

# --------------------------------------------------------------------------- tables


def test_metrics_table_has_a_column_per_symbol_and_the_portfolio() -> None:
    table = metrics_table(sample_run())
    assert list(table.columns) == ["ETHUSDT", "SOLUSDT", "portfolio"]
    assert table.index[0] == "days" and table.index[-1] == "sharpe"
    assert table.loc["trades"].tolist() == [2, 2, 4]
    assert table.loc["total_pnl"].tolist() == [150.0, -50.0, 100.0]
    assert table.loc["max_drawdown_pct"].tolist() == pytest.approx([0.0, 2.0, 200 / 101])
    assert table.loc["win_rate"].tolist() == [1.0, 0.5, 0.75]


def test_metrics_table_keeps_none_for_undefined_ratios() -> None:
    table = metrics_table(empty_run())
    assert list(table.columns) == ["ETHUSDT", "portfolio"]
    assert table.loc["win_rate", "portfolio"] is None
    assert table.loc["sharpe", "ETHUSDT"] is None
    assert table.loc["trades", "portfolio"] == 0


def test_symbol_missing_from_records_symbols_still_gets_a_column() -> None:
    run = dataclasses.replace(sample_run(), symbols=("ETHUSDT",))
    assert list(metrics_table(run).columns) == ["ETHUSDT", "SOLUSDT", "portfolio"]


def test_scenario_table_compares_portfolios_side_by_side() -> None:
    # "maker 2 bps": the same trades, each 5 USDT worse (total PnL 100 - 4 x 5 = 80).
    worse = tuple(dataclasses.replace(t, pnl=t.pnl - 5.0) for t in sample_run().trades)
    runs = [
        sample_run("maker 0 bps"),
        dataclasses.replace(sample_run(), name="maker 2 bps", trades=worse),
    ]
    table = scenario_table(runs)
    assert list(table.columns) == ["maker 0 bps", "maker 2 bps"]
    assert table.loc["total_pnl"].tolist() == [100.0, 80.0]
    assert table.loc["total_return_pct"].tolist() == pytest.approx([1.0, 0.8])
    # Win rate is unchanged: T1 95, T2 -205, T3 45, T4 145 -> 3 / 4.
    assert table.loc["win_rate"].tolist() == [0.75, 0.75]
    with pytest.raises(ValueError, match="unique"):
        scenario_table([sample_run("a"), sample_run("a")])


def test_format_table_is_aligned_and_human_readable() -> None:
    text = format_table(metrics_table(sample_run()))
    lines = text.splitlines()
    assert lines[0].split() == ["Metric", "ETHUSDT", "SOLUSDT", "portfolio"]
    assert len({len(line) for line in lines[:2]}) == 1  # header as wide as the rule
    width = len(lines[1].split("  ")[0])  # the label column's rule
    rows = {line[:width].strip(): line[width:].split() for line in lines[2:]}
    assert rows["Sharpe (daily returns, mean/std x sqrt 365)"] == ["19.04", "-1.69", "4.22"]
    assert rows["Win rate (PnL after fees > 0)"] == ["100.00%", "50.00%", "75.00%"]
    assert rows["Trades"] == ["2", "2", "4"]
    assert rows["Avg return per trade (of notional)"] == ["1.625%", "-0.125%", "0.750%"]
    assert rows["Max drawdown (realised equity)"] == ["0.00%", "2.00%", "1.98%"]
    assert rows["Total fees (USDT)"] == ["1.80", "1.80", "3.60"]
    # Right-aligned: every value of a column ends in the same place.
    assert len({len(line) for line in lines}) == 1


def test_format_table_prints_none_as_dash() -> None:
    text = format_table(metrics_table(empty_run()))
    sharpe = next(line for line in text.splitlines() if line.startswith("Sharpe"))
    assert sharpe.split()[-2:] == ["-", "-"]
    trades = next(line for line in text.splitlines() if line.startswith("Trades "))
    assert trades.split()[-2:] == ["0", "0"]


# --------------------------------------------------------------------------- files


def test_write_report_writes_every_file(tmp_path: Path) -> None:
    paths = write_report(sample_run(), tmp_path / "out")
    assert set(paths) == {"metrics", "trades", "signals", "cascades", "summary"}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0

    metrics = pd.read_csv(paths["metrics"], index_col="metric")
    assert metrics.loc["total_pnl", "portfolio"] == 100.0
    assert metrics.loc["fill_rate", "SOLUSDT"] == pytest.approx(2 / 3)

    trades = pd.read_csv(paths["trades"])
    assert len(trades) == 4
    # Time order by entry: T1 (ETH d1 10:00), T2 (SOL d1 12:00), T3, T4.
    assert trades["symbol"].tolist() == ["ETHUSDT", "SOLUSDT", "ETHUSDT", "SOLUSDT"]
    first = trades.iloc[0]
    assert first["entry_utc"] == "2025-03-01T10:00:00+00:00"
    assert first["exit_utc"] == "2025-03-01T10:02:00+00:00"
    assert first["entry_ns"] == T1.entry_ns
    assert first["hold_s"] == 120.0
    assert first["return_pct"] == pytest.approx(2.0)  # 100 / 5000, in percent
    assert trades["exit_reason"].tolist() == ["TP", "SL", "TIMEOUT", "TP"]
    for field in dataclasses.fields(T1):
        name = field.name.removesuffix("_ns") + "_utc" if field.name.endswith("_ns") else None
        assert field.name in trades.columns and (name is None or name in trades.columns)

    signals = pd.read_csv(paths["signals"])
    assert signals["filled"].tolist() == [True, True, False, True, True]
    assert signals["submitted_utc"].iloc[0] == "2025-03-01T09:59:55.500000+00:00"

    cascades = pd.read_csv(paths["cascades"])
    assert cascades["duration_s"].tolist() == [12.0, 8.0, 6.0, 14.0, 10.0, 10.0]
    assert cascades["side"].isna().tolist() == [False, False, False, True, False, False]

    summary = paths["summary"].read_text()
    assert "Run: sample" in summary and "Sharpe (daily returns, mean/std x sqrt 365)" in summary


def test_write_report_on_an_empty_run(tmp_path: Path) -> None:
    paths = write_report(empty_run(), tmp_path)
    trades = pd.read_csv(paths["trades"])
    assert len(trades) == 0
    assert {"entry_utc", "hold_s", "return_pct", "pnl"} <= set(trades.columns)
    assert len(pd.read_csv(paths["cascades"])) == 0
    assert "Trades" in paths["summary"].read_text()


# --------------------------------------------------------------------------- plots


def test_plot_equity_writes_html_with_every_curve(tmp_path: Path) -> None:
    path = plot_equity(sample_run(), tmp_path / "equity.html")
    html = path.read_text()
    assert len(html) > 100_000  # plotly.js embedded: opens offline
    for name in ("portfolio", "portfolio drawdown", "ETHUSDT", "SOLUSDT drawdown"):
        assert f'"name":"{name}"' in html, name


def test_plot_equity_on_an_empty_run(tmp_path: Path) -> None:
    html = plot_equity(empty_run(), tmp_path / "equity.html").read_text()
    assert '"name":"portfolio"' in html


def market(start_ns: int, end_ns: int, price: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A price every 5 s and three liquidations, for chart tests."""
    ts = np.arange(start_ns, end_ns, 5 * S, dtype="int64")
    prices = pd.DataFrame({"ts_ns": ts, "price": price + np.sin(np.arange(len(ts))) * price / 500})
    liquidations = pd.DataFrame(
        {
            "ts_ns": [start_ns + 125 * S, start_ns + 127 * S, start_ns + 131 * S],
            "price": [price, price * 0.999, price * 0.998],
            "side": ["LONG", "LONG", "SHORT"],
            "notional": [100_000.0, 400_000.0, 20_000.0],
        }
    )
    return prices, liquidations


def trace_y(html: str, name: str) -> list[float]:
    """The y values of the named trace in a written chart."""
    match = re.search(rf'"name":"{re.escape(name)}","x":\[[^\]]*\],"y":\[([^\]]*)\]', html)
    assert match is not None, name
    return [float(v) for v in match.group(1).split(",")]


def test_tp_sl_levels_follow_the_entry_side() -> None:
    # Long at 2000: TP 2000 x 1.0015 = 2003, SL 2000 x 0.9975 = 1995.
    assert tp_sl_levels("BUY", 2000.0, 0.0015, 0.0025) == pytest.approx((2003.0, 1995.0))
    # Short at 100: TP 100 x 0.9985 = 99.85, SL 100 x 1.0025 = 100.25.
    assert tp_sl_levels("SELL", 100.0, 0.0015, 0.0025) == pytest.approx((99.85, 100.25))


def test_cascade_window_runs_to_the_exit_or_35_min_after_declaration() -> None:
    run = sample_run()
    # Traded: 2 min before C1's start to T1's exit.
    assert cascade_window(run, C1) == (C1.start_ns - 120 * S, T1.exit_ns)
    # Unfilled (C3) and untraded (C4): to 35 min after the declaration.
    assert cascade_window(run, C3) == (C3.start_ns - 120 * S, C3.declared_ns + 2100 * S)
    assert cascade_window(run, C4) == (C4.start_ns - 120 * S, C4.declared_ns + 2100 * S)


def test_plot_cascade_with_a_trade_draws_orders_and_levels(tmp_path: Path) -> None:
    run = sample_run()
    prices, liquidations = market(C1.start_ns - 200 * S, T1.exit_ns + 600 * S, 2000.0)
    path = plot_cascade(
        run, C1, prices, liquidations, tmp_path / "c1.html", take_profit=0.0015, stop_loss=0.0025
    )
    html = path.read_text()
    for name in (
        "trade price",
        "liquidated LONG",
        "liquidated SHORT",
        "declared",
        "entry limit",
        "entry fill",
        "take profit",
        "stop loss",
        "exit (TP)",
    ):
        assert f'"name":"{name}"' in html, name
    # T1 is a BUY filled at 2000: TP 2000 x 1.0015 = 2003, SL 2000 x 0.9975 = 1995.
    assert trace_y(html, "take profit") == pytest.approx([2003.0, 2003.0])
    assert trace_y(html, "stop loss") == pytest.approx([1995.0, 1995.0])
    assert trace_y(html, "entry limit") == [1999.0, 1999.0]  # the signal's limit price
    assert trace_y(html, "entry fill") == [2000.0]
    assert trace_y(html, "exit (TP)") == [2040.4]


def test_plot_cascade_short_and_untraded(tmp_path: Path) -> None:
    run = sample_run()
    prices, liquidations = market(C2.start_ns - 120 * S, T2.exit_ns, 100.0)
    html = plot_cascade(
        run, C2, prices, liquidations, tmp_path / "c2.html", take_profit=0.0015, stop_loss=0.0025
    ).read_text()
    assert '"name":"exit (SL)"' in html
    # Unfilled signal: limit order drawn, no fill, no levels.
    prices, liquidations = market(C3.start_ns - 120 * S, C3.declared_ns + 2100 * S, 100.0)
    html = plot_cascade(
        run, C3, prices, liquidations, tmp_path / "c3.html", take_profit=0.0015, stop_loss=0.0025
    ).read_text()
    assert '"name":"entry limit"' in html
    assert '"name":"entry fill"' not in html and '"name":"take profit"' not in html
    # No data at all: still a chart.
    empty = pd.DataFrame({"ts_ns": [], "price": [], "side": [], "notional": []})
    html = plot_cascade(
        run, C4, empty, empty, tmp_path / "c4.html", take_profit=0.0015, stop_loss=0.0025
    ).read_text()
    assert '"name":"trade price"' in html


def test_plot_largest_cascades_ranks_by_notional(tmp_path: Path) -> None:
    run = sample_run()
    calls: list[tuple[str, int, int]] = []

    def load_window(symbol: str, start_ns: int, end_ns: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        calls.append((symbol, start_ns, end_ns))
        return market(start_ns, end_ns, 2000.0 if symbol == "ETHUSDT" else 100.0)

    paths = plot_largest_cascades(
        run,
        load_window,
        tmp_path / "largest",
        n=3,
        take_profit={"ETHUSDT": 0.0015, "SOLUSDT": 0.002},
        stop_loss=0.0025,
    )
    # Totals: C1 300k, C4 160k (tie, 80k + 80k), then C2 and C5 at 100k: the earlier, C2.
    assert [p.name for p in paths] == [
        "01_ETHUSDT_20250301T095955.html",
        "02_ETHUSDT_20250302T200005.html",
        "03_SOLUSDT_20250301T115956.html",
    ]
    assert calls == [
        ("ETHUSDT", C1.start_ns - 120 * S, T1.exit_ns),
        ("ETHUSDT", C4.start_ns - 120 * S, C4.declared_ns + 2100 * S),
        ("SOLUSDT", C2.start_ns - 120 * S, T2.exit_ns),
    ]
    assert all(p.stat().st_size > 0 for p in paths)
    # plotly.js written once beside the charts, so the folder opens offline.
    assert (tmp_path / "largest" / "plotly.min.js").exists()
    # SOL short T2 filled at 100, TP 0.2 % (the SOL entry of the mapping): 100 x 0.998 = 99.8;
    # SL 0.25 %: 100 x 1.0025 = 100.25.
    html = paths[2].read_text()
    assert trace_y(html, "take profit") == pytest.approx([99.8, 99.8])
    assert trace_y(html, "stop loss") == pytest.approx([100.25, 100.25])
