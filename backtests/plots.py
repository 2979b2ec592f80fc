"""Interactive charts of a run (plotly, written as HTML that opens offline).

The functions take records and plain data frames; reading prices and liquidations from the
catalog is the caller's job (``plot_largest_cascades`` gets a loader callback).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from liqcascade.backtests.metrics import drawdown_pct
from liqcascade.backtests.metrics import equity_curve
from liqcascade.backtests.metrics import symbols_of
from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import TradeRecord

NS_PER_S = 1_000_000_000
BEFORE_START_NS = 120 * NS_PER_S  # context before the first large liquidation
NO_TRADE_AFTER_DECLARED_NS = 35 * 60 * NS_PER_S  # entry order lives 30 min; show a bit more

# Colours by liquidated position side: long liquidations are forced sells (price falls).
SIDE_COLOURS = {"LONG": "#d62728", "SHORT": "#2ca02c"}

IncludePlotlyJs = bool | Literal["cdn", "directory"]


def _times(ns: pd.Series | np.ndarray | list[int]) -> pd.DatetimeIndex:
    """UNIX ns as naive UTC datetimes: plotly shows tz-aware values inconsistently."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ns, dtype="int64"), unit="ns"))


def _time(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns")


def _naive(index: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_convert(None) if index.tz is not None else index


def _write(fig: go.Figure, out_path: Path, include_plotlyjs: IncludePlotlyJs) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=include_plotlyjs)
    return out_path


# --------------------------------------------------------------------------- equity


def plot_equity(
    records: RunRecords, out_path: Path, *, include_plotlyjs: IncludePlotlyJs = True
) -> Path:
    """Portfolio and per-symbol realised equity, with their drawdowns (in %) below; the
    portfolio's mark-to-market equity and drawdown beside them when the run has them.

    Parameters
    ----------
    records : RunRecords
        The run.
    out_path : Path
        HTML file to write.
    include_plotlyjs : bool or str
        Passed to ``write_html``; ``True`` embeds plotly.js so the file opens offline.

    Returns
    -------
    Path
        ``out_path``.
    """
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        vertical_spacing=0.05,
        subplot_titles=("Equity (USDT)", "Drawdown (% of peak)"),
    )
    marked = records.mtm.get(None)
    if marked is not None and len(marked) > 1:
        x = _naive(marked.index)
        style = {"width": 1.5, "dash": "dot"}
        fig.add_trace(
            go.Scatter(x=x, y=marked.values, name="portfolio, marked to prints", line=style),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=-drawdown_pct(marked).values, name="marked-to-prints drawdown", line=style
            ),
            row=2,
            col=1,
        )
    series = {"portfolio": equity_curve(records)}
    for symbol in symbols_of(records):
        series[symbol] = equity_curve(records, symbol)
    for name, equity in series.items():
        portfolio = name == "portfolio"
        x = _naive(equity.index)
        # Per-symbol drawdowns start hidden (legend click): four overlapping fills are unreadable.
        line = {"width": 2.5 if portfolio else 1.2}
        fig.add_trace(
            go.Scatter(
                x=x, y=equity.values, name=name, line_shape="hv", line=line, legendgroup=name
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=-drawdown_pct(equity).values,  # plotted downwards: a fall below the peak
                name=f"{name} drawdown",
                line_shape="hv",
                line=line,
                fill="tozeroy" if portfolio else None,
                legendgroup=name,
                visible=True if portfolio else "legendonly",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="USDT", row=1, col=1)
    fig.update_yaxes(title_text="%", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(
        title=f"{records.name}: equity (starting balance {records.starting_balance:,.0f} USDT)",
        hovermode="x unified",
    )
    return _write(fig, out_path, include_plotlyjs)


# --------------------------------------------------------------------------- cascades


def cascade_signal(records: RunRecords, cascade: CascadeRecord) -> SignalRecord | None:
    """The signal the strategy placed for this cascade (same symbol and declaration time)."""
    return next(
        (
            s
            for s in records.signals
            if s.symbol == cascade.symbol and s.declared_ns == cascade.declared_ns
        ),
        None,
    )


def cascade_trade(records: RunRecords, cascade: CascadeRecord) -> TradeRecord | None:
    """The trade this cascade triggered (same symbol and declaration time), if it filled."""
    return next(
        (
            t
            for t in records.trades
            if t.symbol == cascade.symbol and t.declared_ns == cascade.declared_ns
        ),
        None,
    )


def cascade_window(records: RunRecords, cascade: CascadeRecord) -> tuple[int, int]:
    """``(start_ns, end_ns)`` of a cascade chart: 2 min before its start to the trade's exit,
    or to 35 min after the declaration when no trade followed."""
    trade = cascade_trade(records, cascade)
    start = cascade.start_ns - BEFORE_START_NS
    end = trade.exit_ns if trade is not None else cascade.declared_ns + NO_TRADE_AFTER_DECLARED_NS
    return start, max(end, cascade.end_ns)


def tp_sl_levels(
    side: str, entry_price: float, take_profit: float, stop_loss: float
) -> tuple[float, float]:
    """Take-profit and stop-loss prices of a position entered at ``entry_price``.

    ``side`` is the entry side: ``BUY`` (long) exits above at TP and below at SL, ``SELL``
    (short) the reverse.
    """
    if side.upper() == "BUY":
        return entry_price * (1 + take_profit), entry_price * (1 - stop_loss)
    return entry_price * (1 - take_profit), entry_price * (1 + stop_loss)


def _in_window(frame: pd.DataFrame, start_ns: int, end_ns: int) -> pd.DataFrame:
    if frame.empty:
        return frame
    ts = frame["ts_ns"].astype("int64")
    return frame[(ts >= start_ns) & (ts <= end_ns)].sort_values("ts_ns", kind="stable")


def _level(fig: go.Figure, name: str, x0: int, x1: int, y: float, colour: str, dash: str) -> None:
    """A horizontal price level drawn as a named trace, so it shows in the legend."""
    fig.add_trace(
        go.Scatter(
            x=[_time(x0), _time(x1)],
            y=[y, y],
            mode="lines",
            name=name,
            line={"color": colour, "dash": dash, "width": 1.5},
            hovertemplate=f"{name}: %{{y}}<extra></extra>",
        )
    )


def plot_cascade(
    records: RunRecords,
    cascade: CascadeRecord,
    prices: pd.DataFrame,
    liquidations: pd.DataFrame,
    out_path: Path,
    *,
    take_profit: float,
    stop_loss: float,
    include_plotlyjs: IncludePlotlyJs = True,
) -> Path:
    """One cascade: trade prices, liquidations, the declaration and the strategy's orders.

    Parameters
    ----------
    records : RunRecords
        The run; its signal and trade for this cascade are found by symbol and
        ``declared_ns``.
    cascade : CascadeRecord
        The cascade to show.
    prices : pd.DataFrame
        Trades of the symbol, columns ``ts_ns`` and ``price``; rows outside the window
        (:func:`cascade_window`) are ignored.
    liquidations : pd.DataFrame
        Columns ``ts_ns``, ``price``, ``side`` (liquidated position: ``LONG``/``SHORT``) and
        ``notional``; markers are sized by notional and coloured by side.
    out_path : Path
        HTML file to write.
    take_profit, stop_loss : float
        The strategy's TP and SL as fractions of the entry fill price (e.g. 0.0015, 0.0025),
        for the levels drawn; they are not in the records.
    include_plotlyjs : bool or str
        Passed to ``write_html``.

    Returns
    -------
    Path
        ``out_path``.
    """
    start_ns, end_ns = cascade_window(records, cascade)
    prices = _in_window(prices, start_ns, end_ns)
    liquidations = _in_window(liquidations, start_ns, end_ns)
    signal = cascade_signal(records, cascade)
    trade = cascade_trade(records, cascade)

    fig = go.Figure()
    # The detection window (first to last large liquidation) as a shaded band.
    fig.add_vrect(
        x0=_time(cascade.start_ns),
        x1=_time(max(cascade.end_ns, cascade.start_ns + 1)),
        fillcolor="orange",
        opacity=0.12,
        line_width=0,
    )
    fig.add_trace(
        go.Scatter(
            x=_times(prices["ts_ns"]) if not prices.empty else [],
            y=prices["price"].to_numpy() if not prices.empty else [],
            mode="lines",
            name="trade price",
            line={"color": "#1f77b4", "width": 1, "shape": "hv"},
        )
    )
    if not liquidations.empty:
        largest = float(liquidations["notional"].max()) or 1.0
        for side, group in liquidations.groupby("side", sort=True):
            notional = group["notional"].to_numpy(dtype=float)
            fig.add_trace(
                go.Scatter(
                    x=_times(group["ts_ns"]),
                    y=group["price"].to_numpy(),
                    mode="markers",
                    name=f"liquidated {side}",
                    # Area-like scaling: a 4x larger liquidation gets a 2x wider marker.
                    marker={
                        "size": 6 + 34 * np.sqrt(np.clip(notional, 0, None) / largest),
                        "color": SIDE_COLOURS.get(str(side), "#7f7f7f"),
                        "opacity": 0.6,
                        "line": {"width": 0.5, "color": "black"},
                    },
                    customdata=notional,
                    hovertemplate="%{x}<br>price %{y}<br>notional %{customdata:,.0f}"
                    "<extra>liquidated " + str(side) + "</extra>",
                )
            )

    # Price range for the vertical declaration line, from everything drawn.
    levels: list[float] = []
    if not prices.empty:
        levels += [float(prices["price"].min()), float(prices["price"].max())]
    if not liquidations.empty:
        levels += [float(liquidations["price"].min()), float(liquidations["price"].max())]

    if signal is not None:
        # The limit order rests from submission to its fill, or to the end of the window.
        order_end = trade.entry_ns if trade is not None else end_ns
        _level(fig, "entry limit", signal.submitted_ns, order_end, signal.price, "#9467bd", "dot")
        levels.append(signal.price)
    if trade is not None:
        tp, sl = tp_sl_levels(trade.side, trade.entry_price, take_profit, stop_loss)
        _level(fig, "take profit", trade.entry_ns, trade.exit_ns, tp, "#2ca02c", "dash")
        _level(fig, "stop loss", trade.entry_ns, trade.exit_ns, sl, "#d62728", "dash")
        long = trade.side.upper() == "BUY"
        fig.add_trace(
            go.Scatter(
                x=[_time(trade.entry_ns)],
                y=[trade.entry_price],
                mode="markers",
                name="entry fill",
                marker={
                    "symbol": "triangle-up" if long else "triangle-down",
                    "size": 14,
                    "color": "#9467bd",
                    "line": {"width": 1, "color": "black"},
                },
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[_time(trade.exit_ns)],
                y=[trade.exit_price],
                mode="markers",
                name=f"exit ({trade.exit_reason})",
                marker={
                    "symbol": "x",
                    "size": 13,
                    "color": "black",
                },
                hovertemplate=f"exit {trade.exit_reason}: %{{y}}<br>PnL {trade.pnl:,.2f}"
                "<extra></extra>",
            )
        )
        levels += [tp, sl, trade.exit_price]

    if levels:
        fig.add_trace(
            go.Scatter(
                x=[_time(cascade.declared_ns)] * 2,
                y=[min(levels), max(levels)],
                mode="lines",
                name="declared",
                line={"color": "black", "dash": "dot", "width": 1},
                hoverinfo="skip",
            )
        )

    side = cascade.side or "tie"
    notional = cascade.long_notional + cascade.short_notional
    outcome = (
        f"{trade.side} {trade.exit_reason}, PnL {trade.pnl:,.2f}"
        if trade is not None
        else ("not filled" if signal is not None else "no order")
    )
    fig.update_layout(
        title=(
            f"{cascade.symbol} cascade declared {_time(cascade.declared_ns):%Y-%m-%d %H:%M:%S} UTC"
            f" | {side}-dominant, {cascade.large_events} large / {cascade.events} events,"
            f" {notional:,.0f} USDT | {outcome}"
        ),
        xaxis={"title": "time (UTC)", "range": [_time(start_ns), _time(end_ns)]},
        yaxis={"title": "price"},
        hovermode="closest",
    )
    return _write(fig, out_path, include_plotlyjs)


def _per_symbol(value: float | Mapping[str, float], symbol: str) -> float:
    if isinstance(value, Mapping):
        if symbol not in value:
            raise KeyError(f"no take-profit/stop-loss given for {symbol}")
        return float(value[symbol])
    return float(value)


def largest_cascades(records: RunRecords, n: int) -> list[CascadeRecord]:
    """The ``n`` cascades with the largest liquidated notional (longs + shorts), largest first."""
    ranked = sorted(
        records.cascades,
        key=lambda c: (-(c.long_notional + c.short_notional), c.declared_ns, c.symbol),
    )
    return ranked[: max(0, n)]


def plot_largest_cascades(
    records: RunRecords,
    load_window: Callable[[str, int, int], tuple[pd.DataFrame, pd.DataFrame]],
    out_dir: Path,
    n: int = 10,
    *,
    take_profit: float | Mapping[str, float],
    stop_loss: float | Mapping[str, float],
    include_plotlyjs: IncludePlotlyJs = "directory",
) -> list[Path]:
    """One chart per each of the ``n`` largest cascades by notional.

    Parameters
    ----------
    records : RunRecords
        The run.
    load_window : callable
        ``load_window(symbol, start_ns, end_ns) -> (prices, liquidations)``, frames as
        :func:`plot_cascade` takes them; called once per chart with :func:`cascade_window`.
    out_dir : Path
        Folder for the HTML files, named ``NN_SYMBOL_YYYYmmddTHHMMSS.html`` by rank.
    n : int
        How many cascades.
    take_profit, stop_loss : float or mapping of symbol to float
        TP/SL fractions for the levels drawn, from the strategy's config (not in the
        records); a mapping of symbol to fraction when symbols differ (BTC does in the guide).
    include_plotlyjs : bool or str
        Default ``"directory"``: one ``plotly.min.js`` beside the charts instead of ~4 MB
        embedded in each; the folder opens offline as a whole.

    Returns
    -------
    list of Path
        The files written, largest cascade first.
    """
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for rank, cascade in enumerate(largest_cascades(records, n), start=1):
        start_ns, end_ns = cascade_window(records, cascade)
        prices, liquidations = load_window(cascade.symbol, start_ns, end_ns)
        name = f"{rank:02d}_{cascade.symbol}_{_time(cascade.declared_ns):%Y%m%dT%H%M%S}.html"
        paths.append(
            plot_cascade(
                records,
                cascade,
                prices,
                liquidations,
                out_dir / name,
                take_profit=_per_symbol(take_profit, cascade.symbol),
                stop_loss=_per_symbol(stop_loss, cascade.symbol),
                include_plotlyjs=include_plotlyjs,
            )
        )
    return paths
