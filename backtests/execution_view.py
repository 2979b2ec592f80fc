"""The trade data a backtest's matching engine sees: an *execution view* of the catalog.

Two transformations, both made so fills are conservative and runs are fast:

1. **Aggressors neutralised.** With buyer/seller prints the engine infers its L1 book from the
   aggressor side and keeps a stale opposite side: after a buyer print at 1997 the ask stays
   1997 while sellers print 1999, and a resting BUY 1997 fills at a price the market has left
   (``tests/strategies/test_cascade_mm.py`` pins this). Without an aggressor, bid = ask = the
   last print, so a resting limit fills only when a print reaches it (touch, optimistic) or
   goes through it (conservative, ``prob_fill_on_limit = 0``).
2. **Trade windows (optional).** The strategy holds no order or position outside
   ``[declaration, declaration + entry_timeout + max_hold + margin]`` of some cascade, and
   cascades depend only on liquidations. So only trades inside the union of those windows -
   plus the last print before each window, which is the entry's reference price - can change
   a result. The windows come from the same :class:`~strategies.cascade_detector.CascadeDetector`
   the strategy runs, over every liquidation in the catalog. A test runs both views and
   requires identical fills and PnL.

Liquidations and instruments are linked (hard links, or copies across file systems), not
rewritten. Views are cached by a key of the source files and the windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_loaders.catalog_writer import LIQUIDATIONS
from data_loaders.catalog_writer import ROWS_PER_GROUP
from data_loaders.catalog_writer import TRADES
from data_loaders.catalog_writer import file_name
from data_loaders.catalog_writer import interval_of
from data_loaders.instruments import instrument_id_for
from strategies.cascade_detector import CascadeDetector
from strategies.cascade_detector import DetectorParams

NS_PER_S = 1_000_000_000
#: Extra time after entry timeout + max hold: order latency and the market close's fill.
WINDOW_MARGIN_NS = 120 * NS_PER_S
_COMPLETE = ".complete"


@dataclass(frozen=True)
class ViewStats:
    """What a view kept."""

    path: Path
    trades_in: int
    trades_kept: int
    windows: dict[str, int]


def _files(catalog: Path, directory: str, instrument_id: str) -> list[Path]:
    folder = catalog / "data" / directory / instrument_id
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def read_liquidations(catalog: Path, instrument_id: str) -> pa.Table:
    """All liquidations of an instrument (``ts_init``, ``side``, ``notional``, ``price``)."""
    files = _files(catalog, LIQUIDATIONS.directory, instrument_id)
    if not files:
        return pa.table({"ts_init": pa.array([], pa.int64())})
    columns = ["ts_init", "ts_event", "side", "notional", "price"]
    return pa.concat_tables(pq.read_table(f, columns=columns) for f in files)


def cascade_windows(
    liquidations: pa.Table, strategy: dict[str, Any], latency_ns: int = 0
) -> list[tuple[int, int]]:
    """
    Merged ``[start, end]`` windows (ns) around every cascade the strategy could act on.

    Parameters
    ----------
    liquidations : pa.Table
        The instrument's liquidations, sorted by ``ts_init``.
    strategy : dict
        The strategy's parameters (detector fields, ``entry_timeout_s``, ``max_hold_s``).
    latency_ns : int
        Order latency, added to the margin.

    """
    from strategies.cascade_mm import CascadeMarketMakerConfig

    config = CascadeMarketMakerConfig(instrument_id="X.Y", **strategy)
    detector = CascadeDetector(DetectorParams(**config.detector_kwargs()))
    span = int((config.entry_timeout_s + config.max_hold_s) * NS_PER_S) + WINDOW_MARGIN_NS
    span += 4 * latency_ns
    declared = []
    if liquidations.num_rows:
        ts = liquidations["ts_init"].to_numpy()
        sides = liquidations["side"].to_pylist()
        notionals = liquidations["notional"].to_numpy()
        on_liquidation = detector.on_liquidation
        for i in range(len(ts)):
            if on_liquidation(int(ts[i]), sides[i], float(notionals[i])) is not None:
                declared.append(int(ts[i]))
    windows: list[tuple[int, int]] = []
    for start in declared:
        end = start + span
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def _window_mask(ts: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
    """Rows inside any window, plus the last row before each window (the reference price)."""
    keep = np.zeros(len(ts), dtype=bool)
    if not windows or not len(ts):
        return keep
    starts = np.array([w[0] for w in windows], dtype=np.int64)
    ends = np.array([w[1] for w in windows], dtype=np.int64)
    first = np.searchsorted(ts, starts, side="left")
    last = np.searchsorted(ts, ends, side="right")
    delta = np.zeros(len(ts) + 1, dtype=np.int64)
    np.add.at(delta, first, 1)
    np.add.at(delta, last, -1)
    keep |= np.cumsum(delta[:-1]) > 0
    before = first - 1
    keep[before[before >= 0]] = True
    return keep


def _neutral(table: pa.Table) -> pa.Table:
    """The same prints without an aggressor side (see module docstring)."""
    index = table.schema.get_field_index("aggressor_side")
    zeros = pa.array(np.zeros(table.num_rows, dtype=np.uint8), pa.uint8())
    return table.set_column(index, table.schema.field(index), zeros)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _view_key(catalog: Path, instrument_ids: list[str], windows: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for instrument_id in instrument_ids:
        for directory in (TRADES.directory, LIQUIDATIONS.directory):
            for f in _files(catalog, directory, instrument_id):
                stat = f.stat()
                digest.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(json.dumps(windows, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def build_execution_view(
    catalog: Path,
    symbols: list[str],
    strategies: dict[str, dict[str, Any]] | None,
    latency_ns: int = 0,
    views_root: Path | None = None,
) -> ViewStats:
    """
    Build (or reuse) the execution view of ``catalog`` for ``symbols``.

    Parameters
    ----------
    catalog : Path
        The source catalog.
    symbols : list[str]
        Venue symbols, e.g. ``ETHUSDT``.
    strategies : dict | None
        Per-symbol strategy parameters to derive trade windows from; ``None`` keeps all trades.
    latency_ns : int
        Order latency (widens the windows).
    views_root : Path, optional
        Where views are kept (default: ``<catalog>/../exec_views``).

    """
    catalog = Path(catalog)
    instrument_ids = [instrument_id_for(s) for s in symbols]
    windows: dict[str, list[tuple[int, int]] | None] = {}
    for symbol, instrument_id in zip(symbols, instrument_ids, strict=True):
        if strategies is None:
            windows[instrument_id] = None
        else:
            liquidations = read_liquidations(catalog, instrument_id)
            windows[instrument_id] = cascade_windows(liquidations, strategies[symbol], latency_ns)
    key = _view_key(catalog, instrument_ids, windows)
    root = Path(views_root) if views_root else catalog.parent / "exec_views"
    view = root / key
    stats_file = view / _COMPLETE
    if stats_file.exists():
        saved = json.loads(stats_file.read_text())
        return ViewStats(view, saved["trades_in"], saved["trades_kept"], saved["windows"])

    staging = root / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    trades_in = trades_kept = 0
    for directory in (catalog / "data").iterdir():
        if directory.name in (TRADES.directory, LIQUIDATIONS.directory) or directory.name == "bar":
            continue
        for instrument_id in instrument_ids:  # instrument definitions
            for f in _files(catalog, directory.name, instrument_id):
                _link(f, staging / f.relative_to(catalog))
    for instrument_id in instrument_ids:
        for f in _files(catalog, LIQUIDATIONS.directory, instrument_id):
            _link(f, staging / f.relative_to(catalog))
        for f in _files(catalog, TRADES.directory, instrument_id):
            table = pq.read_table(f)
            trades_in += table.num_rows
            if windows[instrument_id] is not None:
                mask = _window_mask(table["ts_init"].to_numpy(), windows[instrument_id])
                if not mask.any():
                    continue
                table = table.filter(pa.array(mask))
            table = _neutral(table)
            trades_kept += table.num_rows
            first = int(pc.min(table["ts_init"]).as_py())
            last = int(pc.max(table["ts_init"]).as_py())
            target = staging / f.parent.relative_to(catalog) / file_name(first, last)
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target, row_group_size=ROWS_PER_GROUP)
            assert interval_of(target) == (first, last)
    counts = {k: (len(v) if v is not None else -1) for k, v in windows.items()}
    (staging / _COMPLETE).write_text(
        json.dumps({"trades_in": trades_in, "trades_kept": trades_kept, "windows": counts})
    )
    if view.exists():
        shutil.rmtree(view)
    staging.rename(view)
    return ViewStats(view, trades_in, trades_kept, counts)
