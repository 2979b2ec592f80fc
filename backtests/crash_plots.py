"""System B's charts: equity against the benchmarks, and prices with the crash events (HTML)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from liqcascade.backtests.crash_metrics import benchmark_value
from liqcascade.backtests.crash_metrics import btc_value
from liqcascade.backtests.crash_report_inputs import as_utc_index
from liqcascade.backtests.metrics import equity_curve
from liqcascade.backtests.plots import IncludePlotlyJs
from liqcascade.backtests.records import RunRecords


def _naive(index: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_convert(None) if index.tz is not None else index


def plot_equity_vs_benchmark(
    records: RunRecords,
    closes: pd.DataFrame,
    out_path: Path,
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> Path:
    """Strategy realised equity and the benchmark, both as the growth of 1 (HTML)."""
    equity = equity_curve(records) / records.starting_balance
    value = benchmark_value(closes)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=_naive(equity.index), y=equity.values, name="strategy", line_shape="hv")
    )
    fig.add_trace(go.Scatter(x=_naive(value.index), y=value.values, name="equal-weight buy & hold"))
    btc = btc_value(closes)
    if btc is not None:
        fig.add_trace(go.Scatter(x=_naive(btc.index), y=btc.values, name="BTC buy & hold"))
    fig.update_layout(
        title=f"{records.name}: equity vs benchmark (growth of 1)",
        xaxis_title="time (UTC)",
        yaxis_title="growth of 1",
        hovermode="x unified",
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=include_plotlyjs)
    return out_path


def plot_crash_events(
    records: RunRecords,
    closes: pd.DataFrame,
    crashes: pd.DataFrame,
    out_path: Path,
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> Path:
    """Prices (close / first close) with crash events, entries and exits marked (HTML)."""
    closes = as_utc_index(closes)
    first = closes.bfill().iloc[0]
    fig = go.Figure()
    for symbol in closes.columns:
        fig.add_trace(
            go.Scatter(
                x=_naive(closes.index),
                y=(closes[symbol] / first[symbol]).values,
                name=symbol,
                legendgroup=symbol,
            )
        )
    xs, ys, texts = [], [], []
    for _, crash in crashes.iterrows():
        for symbol, close in crash["closes"].items():
            if symbol in first.index and close is not None:
                xs.append(crash["time"])
                ys.append(close / first[symbol])
                texts.append(f"{symbol}: crash with {crash['assets']}")
    fig.add_trace(
        go.Scatter(
            x=_naive(pd.DatetimeIndex(xs)) if xs else [],
            y=ys,
            text=texts,
            mode="markers",
            name="crash (qualifying asset)",
            marker={"symbol": "x", "size": 10, "color": "#d62728"},
        )
    )
    for kind, when, price, marker in (
        ("entry", "entry_ns", "entry_price", "triangle-up"),
        ("exit", "exit_ns", "exit_price", "triangle-down"),
    ):
        trades = [t for t in records.trades if t.symbol in first.index]
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime([getattr(t, when) for t in trades], unit="ns"),
                y=[getattr(t, price) / first[t.symbol] for t in trades],
                text=[f"{t.symbol} {kind} pnl {t.pnl:.2f}" for t in trades],
                mode="markers",
                name=kind,
                marker={"symbol": marker, "size": 8},
                visible="legendonly",
            )
        )
    for when in crashes["time"] if len(crashes) else []:
        fig.add_vline(x=when.tz_convert(None), line={"color": "#d62728", "width": 1, "dash": "dot"})
    fig.update_layout(
        title=f"{records.name}: prices (close / first close) and crash events",
        xaxis_title="time (UTC)",
        yaxis_title="price relative to the first close",
        hovermode="closest",
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=include_plotlyjs)
    return out_path
