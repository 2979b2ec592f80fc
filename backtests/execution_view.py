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
   a result. The windows come from the same
   :class:`~liqcascade.strategies.cascade_detector.CascadeDetector` the strategy runs, over every
   liquidation in the catalog, and are cut by replaying the strategy's rules on the prints
   (:mod:`liqcascade.backtests.trade_windows`):

   * *proven* cuts: an entry no print reaches before its deadline needs prints only until it
     is at the venue; one that can fill needs them until ``max_hold`` after its latest
     possible first fill;
   * *speculative* cuts (the default): a fillable trade's window ends where prints through
     its take-profit, or after its stop, cover its size, plus a margin. The run is then
     checked (:func:`window_violations`): if the strategy was idle whenever prints were left
     out, it saw every print that could change it; if a trade outlived its window, the runner
     runs again on the proven windows.

   Tests run the windowed and full views and require the same orders, fills and PnL, with
   conservative and optimistic fills, and force a failed check to show the second run.

3. **Heartbeats.** A no-op ``Heartbeat`` one nanosecond before each distinct print time, so an
   order whose latency timer was created while the venue settled meets the book of its own
   arrival time, not the next print's (:mod:`liqcascade.backtests.heartbeat`).

Liquidations and instruments are linked (hard links, or copies across file systems), not
rewritten. Views are cached by a key of the source files and the window parameters.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from liqcascade.backtests.heartbeat import HEARTBEAT_DIRECTORY
from liqcascade.backtests.heartbeat import heartbeats_table
from liqcascade.backtests.trade_windows import UNFILLED
from liqcascade.backtests.trade_windows import Grid
from liqcascade.backtests.trade_windows import Prints
from liqcascade.backtests.trade_windows import cascade_spans
from liqcascade.backtests.trade_windows import cascade_windows
from liqcascade.backtests.trade_windows import merge_windows
from liqcascade.backtests.trade_windows import window_params
from liqcascade.data_loaders.arrow_tables import fixed_to_float
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import ROWS_PER_GROUP
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import file_name
from liqcascade.data_loaders.catalog_writer import interval_of
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.strategies.event_log import read_events

_COMPLETE = ".complete"
_SPANS_DIR = "spans"  # per instrument: the cascade spans the view was cut by


@dataclass(frozen=True)
class ViewStats:
    """What a view kept."""

    path: Path
    trades_in: int
    trades_kept: int
    windows: dict[str, int]
    speculative: bool = False  # windows cut at replayed exits: check the run


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


def read_prints(files: list[Path], tick: Decimal) -> Iterator[Prints]:
    """The prints of each trade file, in order."""
    step = float(tick)
    for f in files:
        table = pq.read_table(f, columns=["ts_init", "price", "size"])
        yield Prints(
            table["ts_init"].to_numpy().astype(np.int64),
            np.rint(fixed_to_float(table["price"]) / step).astype(np.int64),
            fixed_to_float(table["size"]),
        )


def instrument_grid(catalog: Path, instrument_id: str) -> Grid | None:
    """The instrument's price and size grid, from its definition in the catalog."""
    columns = ["price_increment", "size_increment", "min_quantity"]
    for f in _definition_files(catalog, instrument_id):
        table = pq.read_table(f, columns=columns)
        if table.num_rows:
            tick, step, min_qty = (table[c][0].as_py() for c in columns)
            return Grid(Decimal(str(tick)), Decimal(str(step)), Decimal(str(min_qty or 0)))
    return None


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


#: Bumped whenever the window rules change, so views cut by older rules are not reused.
VIEW_VERSION = 5  # 5: heartbeats before prints (see backtests.heartbeat)
#: Below this much trade data a view is built in-process (starting workers costs more).
PARALLEL_MIN_BYTES = 2 * 1024**3  # ~35 M trades: ~10 s in one process; spawning costs ~1 s


def _definition_files(catalog: Path, instrument_id: str) -> list[Path]:
    """The instrument's definition files (every data folder but trades, liquidations, bars)."""
    skip = (TRADES.directory, LIQUIDATIONS.directory, "bar")
    return [
        f
        for directory in sorted((catalog / "data").iterdir())
        if directory.name not in skip
        for f in _files(catalog, directory.name, instrument_id)
    ]


def _window_params_or_none(
    strategy: dict[str, Any] | None, latency_ns: int
) -> dict[str, Any] | None:
    return window_params(strategy, latency_ns) if strategy is not None else None


def _view_key(catalog: Path, params: dict[str, dict[str, Any] | None], speculative: bool) -> str:
    """A key of the source files and the window parameters: a cached view needs no reading."""
    digest = hashlib.sha256(f"v{VIEW_VERSION}:{speculative}".encode())
    for instrument_id in params:
        files = [
            *_files(catalog, TRADES.directory, instrument_id),
            *_files(catalog, LIQUIDATIONS.directory, instrument_id),
            *_definition_files(catalog, instrument_id),
        ]
        for f in files:
            stat = f.stat()
            digest.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _build_instrument(
    catalog: Path,
    staging: Path,
    instrument_id: str,
    strategy: dict[str, Any] | None,
    latency_ns: int,
    speculative: bool,
) -> tuple[int, int, int]:
    """Write one instrument's part of a view; ``(trades in, trades kept, windows or -1)``."""
    for f in [
        *_definition_files(catalog, instrument_id),
        *_files(catalog, LIQUIDATIONS.directory, instrument_id),
    ]:
        _link(f, staging / f.relative_to(catalog))
    trade_files = _files(catalog, TRADES.directory, instrument_id)
    windows = None
    if strategy is not None:
        grid = instrument_grid(catalog, instrument_id)
        spans = cascade_spans(
            read_liquidations(catalog, instrument_id),
            strategy,
            latency_ns,
            read_prints(trade_files, grid.tick) if grid is not None else None,
            grid,
        )
        windows = cascade_windows(spans, speculative)
        target = staging / _SPANS_DIR / f"{instrument_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tick = float(grid.tick) if grid is not None else 0.0
        rows = [[*astuple(span)[:4], span.limit, tick] for span in spans]
        target.write_text(json.dumps({"speculative": speculative, "spans": rows}))
    trades_in = trades_kept = 0
    for f in trade_files:
        table = pq.read_table(f)
        trades_in += table.num_rows
        if windows is not None:
            mask = _window_mask(table["ts_init"].to_numpy(), windows)
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
        beats = (
            staging / "data" / HEARTBEAT_DIRECTORY / instrument_id / file_name(first - 1, last - 1)
        )
        beats.parent.mkdir(parents=True, exist_ok=True)
        heartbeat_ts = table["ts_init"].to_numpy().astype(np.int64)
        pq.write_table(heartbeats_table(instrument_id, heartbeat_ts), beats)
    return trades_in, trades_kept, len(windows) if windows is not None else -1


def _workers(catalog: Path, instrument_ids: list[str], workers: int | None) -> int:
    if workers is None:
        size = sum(
            f.stat().st_size
            for instrument_id in instrument_ids
            for f in _files(catalog, TRADES.directory, instrument_id)
        )
        workers = len(os.sched_getaffinity(0)) if size >= PARALLEL_MIN_BYTES else 1
    return max(1, min(workers, len(instrument_ids)))


def build_execution_view(
    catalog: Path,
    symbols: list[str],
    strategies: dict[str, dict[str, Any]] | None,
    latency_ns: int = 0,
    views_root: Path | None = None,
    workers: int | None = None,
    speculative: bool = True,
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
    workers : int, optional
        Processes building instruments side by side (default: one per core for large
        catalogs, in-process for small ones). The view is the same either way.
    speculative : bool
        Cut windows at the replayed exits (check the run with :func:`window_violations`), or
        only at the proven bounds.

    """
    catalog = Path(catalog)
    instrument_ids = [instrument_id_for(s) for s in symbols]
    per_instrument = {
        instrument_id: strategies[symbol] if strategies is not None else None
        for symbol, instrument_id in zip(symbols, instrument_ids, strict=True)
    }
    params = {i: _window_params_or_none(s, latency_ns) for i, s in per_instrument.items()}
    key = _view_key(catalog, params, speculative)
    root = Path(views_root) if views_root else catalog.parent / "exec_views"
    view = root / key
    stats_file = view / _COMPLETE
    if stats_file.exists():
        saved = json.loads(stats_file.read_text())
        return ViewStats(
            view, saved["trades_in"], saved["trades_kept"], saved["windows"], saved["speculative"]
        )

    staging = root / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    jobs = [(catalog, staging, i, s, latency_ns, speculative) for i, s in per_instrument.items()]
    n_workers = _workers(catalog, instrument_ids, workers)
    if n_workers == 1:
        results = [_build_instrument(*job) for job in jobs]
    else:
        # spawn, not fork: the framework may already run threads in this process.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            results = list(pool.map(_build_instrument, *zip(*jobs, strict=True)))
    trades_in = sum(r[0] for r in results)
    trades_kept = sum(r[1] for r in results)
    counts = {i: r[2] for i, r in zip(per_instrument, results, strict=True)}
    speculative = speculative and strategies is not None
    (staging / _COMPLETE).write_text(
        json.dumps(
            {
                "trades_in": trades_in,
                "trades_kept": trades_kept,
                "windows": counts,
                "speculative": speculative,
            }
        )
    )
    if view.exists():
        shutil.rmtree(view)
    staging.rename(view)
    return ViewStats(view, trades_in, trades_kept, counts, speculative)


def window_violations(view: Path, folder: Path, symbols: list[str]) -> list[str]:
    """
    Check a run on a speculative view: did every trade end inside its window?

    If, in the windowed run, each strategy was idle (no order, no position) whenever prints were
    left out, the run saw every print that could change it, so it is the run with every trade.
    A trade's activity is every order event from its entry to its exit. The one exception is
    an UNFILLED entry waiting for its cancel: no print reached its limit (checked in the data),
    so it may outlive its window - if it never fills. The entry price must also be the
    replayed one, or the replay did not describe this run.

    Returns
    -------
    list[str]
        One line per trade that breaks this; empty if the run stands.

    """
    problems = []
    for symbol in symbols:
        instrument_id = instrument_id_for(symbol)
        spans_file = view / _SPANS_DIR / f"{instrument_id}.json"
        log = folder / f"events-{symbol}.jsonl"
        if not spans_file.exists() or not log.exists():
            continue
        saved = json.loads(spans_file.read_text())
        spans = {int(row[0]): row for row in saved["spans"]}
        end_column = 1 if saved["speculative"] else 2
        windows = merge_windows([(int(row[0]), int(row[end_column])) for row in saved["spans"]])
        starts = np.array([w[0] for w in windows], dtype=np.int64)
        for declared, activity in _trades_activity(log).items():
            span = spans.get(declared)
            if span is None:
                problems.append(f"{symbol} {declared}: a trade on a cascade the view did not see")
                continue
            _, _, _, kind, limit, tick = span
            end = windows[int(np.searchsorted(starts, declared, side="right")) - 1][1]
            price = activity["price"]
            if limit is not None and abs(price - limit) > tick / 2:
                problems.append(f"{symbol} {declared}: entry at {price}, replayed {limit}")
            late = [e for e in activity["events"] if e["ts"] > end]
            if kind == UNFILLED:
                filled = any(e["event"] == "entry_fill" for e in activity["events"])
                late = [e for e in late if e["event"] != "entry_unfilled"] if not filled else late
            if late:
                problems.append(
                    f"{symbol} {declared}: {late[0]['event']} at {late[0]['ts']} after the "
                    f"window's end {end} ({kind})"
                )
    return problems


_ACTIVITY = {
    "entry_submitted",
    "entry_rejected",
    "entry_fill",
    "entry_unfilled",
    "exit_fill",
    "exit_rejected",
    "exit",
}


def _trades_activity(log: Path) -> dict[int, dict[str, Any]]:
    """Per trade (its cascade's declaration): the entry price and every order event."""
    trades: dict[int, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for event in read_events(log, skip=("liquidation",)):
        kind = event.get("event")
        if kind not in _ACTIVITY:
            continue
        if kind == "entry_submitted" and event["declared_ns"] not in trades:
            current = {"price": event["price"], "events": []}
            trades[event["declared_ns"]] = current
        if current is not None:
            current["events"].append(event)
    return trades
