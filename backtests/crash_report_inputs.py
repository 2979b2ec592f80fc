"""What System B's report reads: the bar closes and the strategy's event log, as frames and records.

Closes come from bars (or a ``ParquetDataCatalog``) as one column per symbol indexed by close
time (UTC); the event log's ``exit`` lines become trade records and its ``crash`` lines a frame of
crash events. The arithmetic on them is :mod:`liqcascade.backtests.crash_metrics`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liqcascade.backtests.records import TradeRecord
from liqcascade.backtests.records import trade_from_exit_event
from liqcascade.strategies.event_log import read_events


def _symbol(instrument_id: str) -> str:
    return instrument_id.split(".")[0].removesuffix("-LINEAR")


def closes_from_bars(bars: Iterable[Any]) -> pd.DataFrame:
    """
    Bar closes as a frame: one column per symbol, indexed by close time (UTC).

    Parameters
    ----------
    bars : iterable of nautilus ``Bar``
        Bars of one interval, any instruments (``ts_event`` = bar close, as the loaders stamp).

    Returns
    -------
    pd.DataFrame
        Float closes; a symbol without a bar at a time has NaN there.

    """
    rows: dict[str, dict[int, float]] = {}
    for bar in bars:
        symbol = _symbol(bar.bar_type.instrument_id.value)
        rows.setdefault(symbol, {})[int(bar.ts_event)] = float(bar.close)
    frame = pd.DataFrame({symbol: pd.Series(values) for symbol, values in rows.items()})
    frame = frame.sort_index()
    frame.index = pd.to_datetime(frame.index.to_numpy(np.int64), unit="ns", utc=True)
    return frame


def closes_from_catalog(
    catalog: str | Path,
    instrument_ids: Sequence[str],
    bar_spec: str = "1-HOUR-LAST-EXTERNAL",
    start: str | int | None = None,
    end: str | int | None = None,
) -> pd.DataFrame:
    """
    Read the strategy's bars from a ``ParquetDataCatalog`` and return :func:`closes_from_bars`.

    Columns follow the order of ``instrument_ids``.

    Parameters
    ----------
    catalog : str or Path
        Catalog root (holding ``data/bar/<bar type>/``).
    instrument_ids : sequence of str
        E.g. ``["ETHUSDT-LINEAR.BYBIT", ...]``; bar types are ``f"{id}-{bar_spec}"``.
    bar_spec : str
        As in the strategy config.
    start, end : str or int, optional
        Bounds passed to the catalog (ISO text or UNIX ns).

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    reader = ParquetDataCatalog(str(catalog))
    bar_types = [f"{instrument_id}-{bar_spec}" for instrument_id in instrument_ids]
    closes = closes_from_bars(reader.bars(bar_types=bar_types, start=start, end=end))
    order = [_symbol(i) for i in instrument_ids]
    missing = [symbol for symbol in order if symbol not in closes.columns]
    if missing:
        raise ValueError(f"catalog {catalog} has no {bar_spec} bars for {', '.join(missing)}")
    return closes[order]


def as_utc_index(closes: pd.DataFrame) -> pd.DataFrame:
    """Float closes sorted by time, indexed by a UTC ``DatetimeIndex`` (from UNIX ns too)."""
    closes = closes.astype(float).sort_index()
    index = closes.index
    if not isinstance(index, pd.DatetimeIndex):
        index = pd.to_datetime(np.asarray(index, dtype=np.int64), unit="ns", utc=True)
    elif index.tz is None:
        index = index.tz_localize("UTC")
    closes.index = index
    return closes


def event_lines(events: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event log's lines: read from a path (none if it does not exist), or as given."""
    if isinstance(events, str | Path):
        return read_events(events) if Path(events).exists() else []
    return list(events)


def trades_from_events(events: Sequence[dict[str, Any]]) -> list[TradeRecord]:
    """Closed round trips (``exit`` lines) as trade records, in exit order."""
    trades = [trade_from_exit_event(e) for e in events if e["event"] == "exit"]
    return sorted(trades, key=lambda t: (t.exit_ns, t.symbol))


def crash_events_frame(events: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """
    One row per crash event: its close time, assets and the branch each qualified on.

    Returns
    -------
    pd.DataFrame
        Columns ``time`` (UTC), ``event_ns``, ``n_assets``, ``assets`` (``;``-joined, sorted),
        ``branches`` (``;``-joined, same order), ``closes`` (symbol -> crash-bar close).

    """
    rows = sorted((e for e in events if e["event"] == "crash"), key=lambda e: e["event_ns"])
    members = [e.get("members", []) for e in rows]
    return pd.DataFrame(
        {
            "time": pd.to_datetime([e["event_ns"] for e in rows], unit="ns", utc=True),
            "event_ns": [e["event_ns"] for e in rows],
            "n_assets": [len(e["assets"]) for e in rows],
            "assets": [";".join(e["assets"]) for e in rows],
            "branches": [";".join(str(m.get("branch", "drop")) for m in ms) for ms in members],
            "closes": [{m["symbol"]: m["close"] for m in ms} for ms in members],
        }
    )
