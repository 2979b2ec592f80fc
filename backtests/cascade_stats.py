"""``liqcascade cascades``: cascade statistics from liquidations alone, no prices needed.

The user with only a liquidation recording still wants to know: how many cascades a day, how long,
how big, which side, at what hours, and how the threshold moved. This replays each symbol's
liquidations (``ts_init`` order, the run's bounds) through the strategy's own
:class:`~liqcascade.strategies.cascade_detector.CascadeDetector`, built from the same strategy
file and per-symbol parameters a backtest uses, so its cascade rows equal a backtest's on the same
data (a test runs both). Per-day figures are per day *with liquidation data*
(:mod:`~liqcascade.backtests.coverage`); the gaps are listed.

Outputs: a table on screen and in ``summary.txt``, ``cascades.csv`` (one row per cascade),
``cascade_stats.csv`` (the table), ``profile.csv`` (hour-of-day and weekday counts),
``thresholds.csv`` (the threshold's path) and ``cascades.html`` (plotly charts of all four).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from liqcascade.backtests.coverage import Coverage
from liqcascade.backtests.coverage import catalog_coverage
from liqcascade.backtests.coverage import day_label
from liqcascade.backtests.metrics import cascade_figures
from liqcascade.backtests.records import CascadeRecord
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import interval_of
from liqcascade.strategies.cascade_detector import CascadeDetector
from liqcascade.strategies.cascade_detector import DetectorParams

PORTFOLIO = "portfolio"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Row order and labels of the statistics table.
STAT_LABELS: dict[str, str] = {
    "days": "Days with liquidation data",
    "calendar_days": "Calendar days",
    "gap_days": "Days without data (gaps)",
    "liquidations": "Liquidations",
    "cascades": "Cascades",
    "cascades_per_day": "Cascades per day (with data)",
    "avg_cascade_duration_s": "Avg cascade duration (s)",
    "median_cascade_duration_s": "Median cascade duration (s)",
    "avg_events": "Avg liquidations per cascade",
    "avg_large_events": "Avg large liquidations per cascade",
    "avg_notional": "Avg notional per cascade (USDT)",
    "median_notional": "Median notional per cascade (USDT)",
    "buy_dominant_share": "Buy-dominant (longs liquidated)",
    "sell_dominant_share": "Sell-dominant (shorts liquidated)",
    "last_threshold": "Threshold at the end (USDT)",
}


@dataclass(frozen=True)
class SymbolCascades:
    """One symbol's detector replay: its cascades and the threshold's path."""

    symbol: str
    instrument_id: str
    liquidations: int
    cascades: tuple[CascadeRecord, ...]
    thresholds: tuple[tuple[int, float], ...]  # (ts_init, threshold) at start and every change


def read_liquidations(
    catalog: Path, instrument_id: str, start: int | None, end: int | None
) -> pd.DataFrame:
    """``ts_init, side, notional`` of an instrument's liquidations in ``[start, end]``, sorted."""
    folder = Path(catalog) / "data" / LIQUIDATIONS.directory / instrument_id
    tables = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        interval = interval_of(path)
        if interval is None:
            continue
        if (end is not None and interval[0] > end) or (start is not None and interval[1] < start):
            continue
        tables.append(pq.read_table(path, columns=["ts_init", "side", "notional"]))
    if not tables:
        return pd.DataFrame({"ts_init": [], "side": [], "notional": []})
    frame = pa.concat_tables(tables).to_pandas()
    mask = np.ones(len(frame), dtype=bool)
    if start is not None:
        mask &= frame["ts_init"].to_numpy() >= start
    if end is not None:
        mask &= frame["ts_init"].to_numpy() <= end
    return frame.loc[mask].sort_values("ts_init", kind="stable", ignore_index=True)


def replay(
    symbol: str, instrument_id: str, liquidations: pd.DataFrame, params: DetectorParams
) -> SymbolCascades:
    """Feed liquidations to a fresh detector, as the strategy's ``on_data`` does."""
    detector = CascadeDetector(params)
    thresholds: list[tuple[int, float]] = []
    ts = liquidations["ts_init"].to_numpy(dtype=np.int64)
    sides = liquidations["side"].to_numpy()
    notionals = liquidations["notional"].to_numpy(dtype=np.float64)
    for t, side, notional in zip(ts.tolist(), sides.tolist(), notionals.tolist(), strict=True):
        detector.on_liquidation(t, side, notional)
        if not thresholds or thresholds[-1][1] != detector.threshold:
            thresholds.append((t, detector.threshold))
    records = tuple(CascadeRecord.of(symbol, vars(c)) for c in detector.cascades)
    return SymbolCascades(symbol, instrument_id, len(ts), records, tuple(thresholds))


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def statistics(results: Sequence[SymbolCascades], coverage: Coverage) -> dict[str, dict[str, Any]]:
    """The table: per symbol and the portfolio (all symbols), keys of :data:`STAT_LABELS`."""
    columns: dict[str, dict[str, Any]] = {}
    groups = [(r.symbol, [r]) for r in results] + [(PORTFOLIO, list(results))]
    for name, group in groups:
        symbol = None if name == PORTFOLIO else name
        days = coverage.data_days(symbol)
        cascades = [c for r in group for c in r.cascades]
        durations = [c.duration_s for c in cascades]
        notionals = [c.long_notional + c.short_notional for c in cascades]
        columns[name] = {
            "days": float(len(days)),
            "calendar_days": float(coverage.calendar_days),
            "gap_days": coverage.calendar_days - len(days),
            "liquidations": sum(r.liquidations for r in group),
            **cascade_figures(cascades, float(len(days))),
            "median_cascade_duration_s": _median(durations),
            "avg_events": _mean([c.events for c in cascades]),
            "avg_large_events": _mean([c.large_events for c in cascades]),
            "avg_notional": _mean(notionals),
            "median_notional": _median(notionals),
            "last_threshold": group[0].thresholds[-1][1]
            if symbol is not None and group[0].thresholds
            else None,
        }
        columns[name] = {key: columns[name][key] for key in STAT_LABELS}
    return columns


def _format(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_share"):
        return f"{value * 100:.1f}%"
    if key in ("cascades", "liquidations", "gap_days"):
        return f"{int(value):,d}"
    if key in ("days", "calendar_days"):
        return f"{value:,.0f}"
    if key in ("avg_notional", "median_notional", "last_threshold"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_statistics(columns: Mapping[str, Mapping[str, Any]]) -> str:
    """An aligned text table (rows: statistics; columns: symbols, then the portfolio)."""
    header = ["Statistic", *columns]
    rows = [
        [label, *(_format(k, columns[c][k]) for c in columns)] for k, label in STAT_LABELS.items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, [""] * len(header), *rows]:
        if row[0] == "" and row[-1] == "":
            lines.append("  ".join("-" * w for w in widths))
            continue
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def profiles(results: Sequence[SymbolCascades]) -> pd.DataFrame:
    """Cascades by UTC hour of declaration and by weekday, per symbol (long format)."""
    rows = []
    for r in results:
        declared = pd.to_datetime([c.declared_ns for c in r.cascades], unit="ns", utc=True)
        hours = np.bincount(np.asarray(declared.hour, dtype=np.int64), minlength=24)
        weekdays = np.bincount(np.asarray(declared.day_of_week, dtype=np.int64), minlength=7)
        rows += [(r.symbol, "hour", str(h), int(n)) for h, n in enumerate(hours)]
        rows += [(r.symbol, "weekday", WEEKDAYS[d], int(n)) for d, n in enumerate(weekdays)]
    return pd.DataFrame(rows, columns=["symbol", "profile", "bucket", "cascades"])


def cascades_frame(results: Sequence[SymbolCascades]) -> pd.DataFrame:
    """One row per cascade, with UTC times and the detector's own numbers."""
    rows = []
    for r in results:
        for c in r.cascades:
            rows.append(
                {
                    "symbol": c.symbol,
                    "start_utc": pd.Timestamp(c.start_ns, unit="ns", tz="UTC").isoformat(),
                    "declared_utc": pd.Timestamp(c.declared_ns, unit="ns", tz="UTC").isoformat(),
                    "end_utc": pd.Timestamp(c.end_ns, unit="ns", tz="UTC").isoformat(),
                    "duration_s": c.duration_s,
                    "events": c.events,
                    "large_events": c.large_events,
                    "long_notional": c.long_notional,
                    "short_notional": c.short_notional,
                    "side": c.side or "",
                    "start_ns": c.start_ns,
                    "declared_ns": c.declared_ns,
                    "end_ns": c.end_ns,
                }
            )
    return pd.DataFrame(rows)


def per_day(results: Sequence[SymbolCascades], coverage: Coverage) -> pd.DataFrame:
    """Cascades per UTC day with data, per symbol (days without data are absent, not 0)."""
    rows = []
    ns_day = 86_400_000_000_000
    for r in results:
        counts: dict[int, int] = dict.fromkeys(coverage.data_days(r.symbol), 0)
        for c in r.cascades:
            day = c.declared_ns - c.declared_ns % ns_day
            counts[day] = counts.get(day, 0) + 1
        rows += [(r.symbol, day_label(d), n) for d, n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["symbol", "day", "cascades"])


def write_chart(
    results: Sequence[SymbolCascades], coverage: Coverage, path: Path, title: str
) -> None:
    """``cascades.html``: per day, hour of day, weekday, and the threshold's path."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=4,
        cols=1,
        subplot_titles=(
            "Cascades per day with data (gaps have no bar)",
            "By hour of declaration (UTC)",
            "By weekday (UTC)",
            "Large-liquidation threshold (USDT notional)",
        ),
        vertical_spacing=0.07,
    )
    days, profile = per_day(results, coverage), profiles(results)
    for r in results:
        mine = days[days["symbol"] == r.symbol]
        figure.add_bar(x=mine["day"], y=mine["cascades"], name=r.symbol, row=1, col=1)
        for row, kind in ((2, "hour"), (3, "weekday")):
            part = profile[(profile["symbol"] == r.symbol) & (profile["profile"] == kind)]
            figure.add_bar(
                x=part["bucket"],
                y=part["cascades"],
                name=r.symbol,
                showlegend=False,
                row=row,
                col=1,
            )
        if r.thresholds:
            ts = pd.to_datetime([t for t, _ in r.thresholds], unit="ns", utc=True)
            figure.add_trace(
                go.Scatter(
                    x=ts,
                    y=[v for _, v in r.thresholds],
                    mode="lines",
                    line_shape="hv",
                    name=f"{r.symbol} threshold",
                    showlegend=False,
                ),
                row=4,
                col=1,
            )
    figure.update_layout(title=title, height=1400, barmode="group")
    figure.write_html(str(path), include_plotlyjs="cdn")


def write_outputs(
    results: Sequence[SymbolCascades], coverage: Coverage, folder: Path, title: str
) -> str:
    """Every file of the command into ``folder``; returns the text it printed."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = statistics(results, coverage)
    table = format_statistics(columns)
    lines = [title, "", table, "", "Coverage"]
    lines += [f"  {coverage.describe(r.symbol)}" for r in results]
    text = "\n".join(lines)
    (folder / "summary.txt").write_text(text + "\n")
    stats = pd.DataFrame(columns).rename(index=STAT_LABELS)
    stats.index.name = "statistic"
    stats.to_csv(folder / "cascade_stats.csv")
    cascades_frame(results).to_csv(folder / "cascades.csv", index=False)
    profiles(results).to_csv(folder / "profile.csv", index=False)
    per_day(results, coverage).to_csv(folder / "per_day.csv", index=False)
    pd.DataFrame(
        [
            (r.symbol, pd.Timestamp(t, unit="ns", tz="UTC").isoformat(), v, t)
            for r in results
            for t, v in r.thresholds
        ],
        columns=["symbol", "utc", "threshold", "ts_ns"],
    ).to_csv(folder / "thresholds.csv", index=False)
    write_chart(results, coverage, folder / "cascades.html", title)
    return text


def cascade_statistics(
    catalog: Path,
    instruments: Mapping[str, str],
    detector_params: Mapping[str, DetectorParams],
    start: int | None = None,
    end: int | None = None,
) -> tuple[list[SymbolCascades], Coverage]:
    """
    Replay every symbol's liquidations in ``[start, end]`` through its detector.

    Parameters
    ----------
    instruments : Mapping[str, str]
        Symbol -> instrument id (``ETHUSDT`` -> ``ETHUSDT-LINEAR.BYBIT``).
    detector_params : Mapping[str, DetectorParams]
        Per symbol, from the strategy file (as a backtest builds them).

    Raises
    ------
    ValueError
        A symbol with no liquidation in the bounds (naming it and how to get some).

    """
    coverage = catalog_coverage(catalog, instruments, start, end)
    results = []
    for symbol, instrument_id in instruments.items():
        frame = read_liquidations(catalog, instrument_id, start, end)
        if frame.empty:
            raise ValueError(
                f"{symbol}: no liquidations of {instrument_id} in {catalog} within the bounds. "
                "Record them (`liqcascade record --symbols ...`), load a recording "
                "(`liqcascade load bybit-liquidations FILE`), or download tardis.dev data "
                "(`liqcascade download tardis --exchange bybit --data-type liquidations ...`)"
            )
        results.append(replay(symbol, instrument_id, frame, detector_params[symbol]))
    return results, coverage


def detector_params_from_config(
    config: str | Path, symbols: Sequence[str], overrides: Sequence[str] = ()
) -> dict[str, DetectorParams]:
    """
    Each symbol's detector parameters, from a run config's strategy file (as a backtest does).

    Raises
    ------
    ConfigError
        A symbol the strategy file has no parameters for, or a bad value (named by its key).

    """
    from liqcascade.backtests.run_config import load_raw
    from liqcascade.backtests.systems.cascade_mm import strategy_kwargs
    from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

    tree = load_raw(config, overrides)
    kwargs = strategy_kwargs(tree, [s.upper() for s in symbols])
    params = {}
    for symbol, values in kwargs.items():
        strategy = CascadeMarketMakerConfig(instrument_id=f"{symbol}-LINEAR.BYBIT", **values)
        params[symbol] = DetectorParams(**strategy.detector_kwargs())
    return params


def symbols_with_liquidations(catalog: Path, market: str) -> list[str]:
    """Venue symbols of ``market`` that have a liquidation folder in the catalog."""
    from liqcascade.data_loaders.instruments import market_of
    from liqcascade.data_loaders.instruments import symbol_of

    root = Path(catalog) / "data" / LIQUIDATIONS.directory
    symbols = []
    for folder in sorted(root.glob("*")) if root.exists() else []:
        try:
            if market_of(folder.name).name == market:
                symbols.append(symbol_of(folder.name))
        except ValueError:
            continue
    return symbols
