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

3. **No filler data.** An order sent ``order_latency_ms`` after a decision meets the book of its
   own arrival time, also between two prints far apart: the strategy's timers see to it
   (:mod:`liqcascade.strategies.settled_timers`), not data in the view.

Liquidations and instruments are linked (hard links, or copies across file systems), not
rewritten. Views are cached by a key of the source files and the window parameters.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from liqcascade.backtests.trade_windows import UNFILLED
from liqcascade.backtests.trade_windows import Grid
from liqcascade.backtests.trade_windows import Prints
from liqcascade.backtests.trade_windows import SpanReplay
from liqcascade.backtests.trade_windows import cascade_spans
from liqcascade.backtests.trade_windows import cascade_windows
from liqcascade.backtests.trade_windows import declared_cascades
from liqcascade.backtests.trade_windows import detector_params
from liqcascade.backtests.trade_windows import merge_windows
from liqcascade.backtests.trade_windows import since
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
#: 5: heartbeats before prints; 6: touch-only entries kept to their cancel; 7: heartbeats are
#: prints of a clock twin instrument; 8: only where a timer can fall between two prints; 9: no
#: heartbeats (the strategy's timers settle on time, ``strategies/settled_timers.py``).
VIEW_VERSION = 9
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
    strategy: dict[str, Any] | None, latency_ns: int, start_ns: int | None = None
) -> dict[str, Any] | None:
    if strategy is None:
        return None
    params = window_params(strategy, latency_ns)
    if start_ns is not None:  # the detector starts with the run (older keys stay valid)
        params["start_ns"] = start_ns
    return params


@dataclass(frozen=True)
class ViewRequest:
    """
    One execution view to build: what :func:`build_execution_view` takes, as a value.

    ``strategies`` maps each symbol to its strategy parameters (``None``: every trade);
    ``start_ns`` is the run's first ``ts_init`` (its detector starts there).
    """

    strategies: dict[str, dict[str, Any]] | None
    latency_ns: int = 0
    speculative: bool = True
    start_ns: int | None = None
    #: Filled in by :func:`build_execution_views`: instrument id -> window parameters.
    params: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


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


@dataclass(frozen=True)
class _Target:
    """One view's part for one instrument: where it is staged and how it is cut."""

    staging: Path
    strategy: dict[str, Any] | None
    latency_ns: int
    speculative: bool
    start_ns: int | None


def _build_instrument(
    catalog: Path, instrument_id: str, targets: list[_Target]
) -> list[tuple[int, int, int]]:
    """
    Write one instrument's part of several views in one pass over its trades.

    Returns, per target, ``(trades in, trades kept, windows or -1)``.
    """
    linked = [
        *_definition_files(catalog, instrument_id),
        *_files(catalog, LIQUIDATIONS.directory, instrument_id),
    ]
    for target in targets:
        for f in linked:
            _link(f, target.staging / f.relative_to(catalog))
    trade_files = _files(catalog, TRADES.directory, instrument_id)
    windows: list[list[tuple[int, int]] | None] = [None] * len(targets)
    replayed = [i for i, t in enumerate(targets) if t.strategy is not None]
    if replayed:
        grid = instrument_grid(catalog, instrument_id)
        liquidations = read_liquidations(catalog, instrument_id)
        detected: dict[str, list[tuple[int, str]]] = {}

        def declared(target: _Target) -> list[tuple[int, str]]:
            """Cascades, detected once per detector parameters and start."""
            detector = detector_params(target.strategy)
            key = json.dumps([target.start_ns, sorted(detector.items())])
            if key not in detected:
                detected[key] = declared_cascades(
                    since(liquidations, target.start_ns), target.strategy
                )
            return detected[key]

        if grid is None:  # no definition: every span is FULL (no prices to replay)
            spans = {
                i: cascade_spans(
                    liquidations,
                    targets[i].strategy,
                    targets[i].latency_ns,
                    start_ns=targets[i].start_ns,
                )
                for i in replayed
            }
        else:
            replays = {
                i: SpanReplay(
                    liquidations,
                    targets[i].strategy,
                    targets[i].latency_ns,
                    grid,
                    targets[i].start_ns,
                    declared(targets[i]),
                )
                for i in replayed
            }
            for prints in read_prints(trade_files, grid.tick):  # one read for every view
                for replay in replays.values():
                    replay.feed(prints)
            spans = {i: replay.finish() for i, replay in replays.items()}
        tick = float(grid.tick) if grid is not None else 0.0
        for i, found in spans.items():
            target = targets[i]
            windows[i] = cascade_windows(found, target.speculative)
            path = target.staging / _SPANS_DIR / f"{instrument_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = [[*astuple(span)[:4], span.limit, tick] for span in found]
            path.write_text(json.dumps({"speculative": target.speculative, "spans": rows}))
    counts = [[0, 0] for _ in targets]
    for f in trade_files:
        table = pq.read_table(f)
        ts = table["ts_init"].to_numpy()
        for target, cut, count in zip(targets, windows, counts, strict=True):
            count[0] += table.num_rows
            part = table
            if cut is not None:
                mask = _window_mask(ts, cut)
                if not mask.any():
                    continue
                part = table.filter(pa.array(mask))
            count[1] += part.num_rows
            _write_trades(part, target, f.parent.relative_to(catalog))
    return [
        (trades_in, kept, len(cut) if cut is not None else -1)
        for (trades_in, kept), cut in zip(counts, windows, strict=True)
    ]


def _write_trades(table: pa.Table, target: _Target, folder: Path) -> None:
    """A file of kept prints without aggressors."""
    table = _neutral(table)
    first = int(pc.min(table["ts_init"]).as_py())
    last = int(pc.max(table["ts_init"]).as_py())
    path = target.staging / folder / file_name(first, last)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=ROWS_PER_GROUP)
    assert interval_of(path) == (first, last)


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
    start_ns: int | None = None,
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
    start_ns : int, optional
        The run's first ``ts_init`` (``run.start``): its strategies' detectors start there,
        so the windows' cascades must too.

    """
    request = ViewRequest(strategies, latency_ns, speculative, start_ns)
    return build_execution_views(catalog, symbols, [request], views_root, workers)[0]


def build_execution_views(
    catalog: Path,
    symbols: list[str],
    requests: list[ViewRequest],
    views_root: Path | None = None,
    workers: int | None = None,
) -> list[ViewStats]:
    """
    Build (or reuse) several execution views of ``catalog`` in one pass over its trades.

    A sweep's settings need a view each; read one by one, every view would read every trade
    again. Here each instrument's prints are read once and fed to every view's replay, then
    each trade file is read once and cut for every view. Requests with equal window
    parameters are one view (the same cache key), and a view already in the cache is reused.
    Each view is exactly what :func:`build_execution_view` builds for its request.

    Returns
    -------
    list[ViewStats]
        One per request, in order.

    """
    catalog = Path(catalog)
    instrument_ids = [instrument_id_for(s) for s in symbols]
    root = Path(views_root) if views_root else catalog.parent / "exec_views"
    keys: list[str] = []
    todo: dict[str, ViewRequest] = {}
    for request in requests:
        per_instrument = {
            instrument_id: (request.strategies[symbol] if request.strategies is not None else None)
            for symbol, instrument_id in zip(symbols, instrument_ids, strict=True)
        }
        params = {
            i: _window_params_or_none(s, request.latency_ns, request.start_ns)
            for i, s in per_instrument.items()
        }
        key = _view_key(catalog, params, request.speculative)
        keys.append(key)
        if key not in todo and not (root / key / _COMPLETE).exists():
            todo[key] = request
    if todo:
        _build_views(catalog, symbols, instrument_ids, todo, root, workers)
    return [_read_stats(root / key) for key in keys]


def _read_stats(view: Path) -> ViewStats:
    saved = json.loads((view / _COMPLETE).read_text())
    return ViewStats(
        view, saved["trades_in"], saved["trades_kept"], saved["windows"], saved["speculative"]
    )


def _build_views(
    catalog: Path,
    symbols: list[str],
    instrument_ids: list[str],
    todo: dict[str, ViewRequest],
    root: Path,
    workers: int | None,
) -> None:
    # A staging folder of this build alone: builders in other processes (a sweep's workers)
    # may build the same view at the same time; the first complete one is renamed into place.
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stagings = {key: root / f".{key}.{tag}.tmp" for key in todo}
    for staging in stagings.values():
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    jobs = []
    for symbol, instrument_id in zip(symbols, instrument_ids, strict=True):
        targets = [
            _Target(
                stagings[key],
                request.strategies[symbol] if request.strategies is not None else None,
                request.latency_ns,
                request.speculative,
                request.start_ns,
            )
            for key, request in todo.items()
        ]
        jobs.append((catalog, instrument_id, targets))
    n_workers = _workers(catalog, instrument_ids, workers)
    if n_workers == 1:
        results = [_build_instrument(*job) for job in jobs]
    else:
        # spawn, not fork: the framework may already run threads in this process.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            results = list(pool.map(_build_instrument, *zip(*jobs, strict=True)))
    for index, (key, request) in enumerate(todo.items()):
        per_instrument = [r[index] for r in results]
        speculative = request.speculative and request.strategies is not None
        stats = {
            "trades_in": sum(r[0] for r in per_instrument),
            "trades_kept": sum(r[1] for r in per_instrument),
            "windows": {i: r[2] for i, r in zip(instrument_ids, per_instrument, strict=True)},
            "speculative": speculative,
        }
        staging, view = stagings[key], root / key
        (staging / _COMPLETE).write_text(json.dumps(stats))
        try:
            staging.rename(view)  # atomic: a view folder is always complete
        except OSError:
            if not (view / _COMPLETE).exists():  # a half-made leftover: replace it
                shutil.rmtree(view, ignore_errors=True)
                staging.rename(view)
            else:  # another builder finished first: its view is the same
                shutil.rmtree(staging, ignore_errors=True)


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
