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
   the strategy runs, over every liquidation in the catalog. Each window is then cut to what
   the strategy's entry rule allows (:func:`cascade_end`): an entry no print reaches before
   its deadline needs prints only until it is at the venue; one that can fill needs them until
   ``max_hold`` after the latest possible first fill. Tests run both views and require the
   same orders, fills and PnL, with conservative and optimistic fills.

Liquidations and instruments are linked (hard links, or copies across file systems), not
rewritten. Views are cached by a key of the source files and the windows.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_loaders.arrow_tables import fixed_to_float
from data_loaders.catalog_writer import LIQUIDATIONS
from data_loaders.catalog_writer import ROWS_PER_GROUP
from data_loaders.catalog_writer import TRADES
from data_loaders.catalog_writer import file_name
from data_loaders.catalog_writer import interval_of
from data_loaders.instruments import instrument_id_for
from strategies.cascade_detector import LONG
from strategies.cascade_detector import CascadeDetector
from strategies.cascade_detector import DetectorParams
from strategies.order_prices import BUY
from strategies.order_prices import SELL
from strategies.order_prices import entry_price

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


@dataclass(frozen=True)
class WindowRules:
    """The strategy parameters a trade window depends on."""

    entry_offset: Decimal
    entry_timeout_ns: int
    max_hold_ns: int
    latency_ns: int

    @property
    def full_span_ns(self) -> int:
        """The longest a cascade can keep the strategy busy, from its declaration."""
        return self.entry_timeout_ns + self.max_hold_ns + WINDOW_MARGIN_NS + 4 * self.latency_ns


def _config(strategy: dict[str, Any]) -> Any:
    from strategies.cascade_mm import CascadeMarketMakerConfig

    return CascadeMarketMakerConfig(instrument_id="X.Y", **strategy)


def window_rules(strategy: dict[str, Any], latency_ns: int = 0) -> WindowRules:
    """The :class:`WindowRules` of a symbol's strategy parameters."""
    config = _config(strategy)
    return WindowRules(
        entry_offset=Decimal(str(config.entry_offset)),
        entry_timeout_ns=int(config.entry_timeout_s * NS_PER_S),
        max_hold_ns=int(config.max_hold_s * NS_PER_S),
        latency_ns=latency_ns,
    )


def declared_cascades(liquidations: pa.Table, strategy: dict[str, Any]) -> list[tuple[int, str]]:
    """
    ``(declared_ns, entry side)`` of every cascade the strategy could act on.

    The same :class:`~strategies.cascade_detector.CascadeDetector` the strategy runs, over
    every liquidation; cascades without a dominant side are left out (the strategy skips them).
    """
    detector = CascadeDetector(DetectorParams(**_config(strategy).detector_kwargs()))
    declared: list[tuple[int, str]] = []
    if liquidations.num_rows:
        ts = liquidations["ts_init"].to_numpy()
        sides = liquidations["side"].to_pylist()
        notionals = liquidations["notional"].to_numpy()
        on_liquidation = detector.on_liquidation
        for i in range(len(ts)):
            cascade = on_liquidation(int(ts[i]), sides[i], float(notionals[i]))
            if cascade is not None and cascade.side is not None:
                declared.append((int(ts[i]), BUY if cascade.side == LONG else SELL))
    return declared


def cascade_end(
    declared_ns: int,
    side: str,
    rules: WindowRules,
    tick: Decimal,
    ts: np.ndarray,
    ticks: np.ndarray,
) -> int:
    """
    The last time a cascade can still need trade prints; the window is ``[declared_ns, end]``.

    ``ts`` / ``ticks`` are the instrument's prints (``ts_init``, price in ticks) from the last
    one before ``declared_ns`` to at least the entry deadline. The strategy's own rules, replayed:

    * entry = :func:`~strategies.order_prices.entry_price` of the last print before the
      declaration (the strategy's reference), sent at the declaration, at the venue after the
      latency, cancelled ``entry_timeout`` after the declaration;
    * if a print reaches the limit before the order arrives, post-only may reject it and the
      re-priced order is not replayed here: the full span is kept (as if nothing were known);
    * if no print reaches the limit before the deadline, nothing can fill: only prints up to
      the arrival (plus a margin) can matter - the cancel is a timer, which fires without data;
    * otherwise the first fill comes at the latest with the first print *through* the limit (a
      touch fills no later than that, and conservatively never), or at the deadline if only
      touches occur; the position is closed ``max_hold`` after its first fill at the latest.
    """
    full = declared_ns + rules.full_span_ns
    before = int(np.searchsorted(ts, declared_ns, side="left")) - 1
    if before < 0:  # no reference price: the strategy skips it; keep the full span anyway
        return full
    reference = Decimal(int(ticks[before])) * tick
    limit = int(entry_price(reference, side, rules.entry_offset, tick) / tick)
    arrival = declared_ns + rules.latency_ns
    deadline = declared_ns + rules.entry_timeout_ns
    sign = 1 if side == BUY else -1  # compare as "price at or below the limit" for both sides
    distance = sign * (ticks - limit)  # <= 0: at or through the limit
    i_arrival = int(np.searchsorted(ts, arrival, side="right"))
    if (distance[before + 1 : i_arrival] <= 0).any():
        return full
    i_deadline = int(np.searchsorted(ts, deadline, side="right"))
    resting = distance[i_arrival:i_deadline]
    if not (resting <= 0).any():
        return arrival + WINDOW_MARGIN_NS
    through = np.flatnonzero(resting < 0)
    last_first_fill = int(ts[i_arrival + through[0]]) if len(through) else deadline
    return last_first_fill + rules.max_hold_ns + WINDOW_MARGIN_NS + 4 * rules.latency_ns


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def cascade_windows(
    liquidations: pa.Table,
    strategy: dict[str, Any],
    latency_ns: int = 0,
    prints: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
    tick: Decimal | None = None,
) -> list[tuple[int, int]]:
    """
    Merged ``[start, end]`` windows (ns) around every cascade the strategy could act on.

    Parameters
    ----------
    liquidations : pa.Table
        The instrument's liquidations, sorted by ``ts_init``.
    strategy : dict
        The strategy's parameters (detector fields, offsets, timeouts).
    latency_ns : int
        Order latency.
    prints : iterable of (ts, ticks), optional
        The instrument's prints in time order, in chunks (e.g. one per catalog file). With
        them (and ``tick``) each window ends where :func:`cascade_end` says; without them every
        window spans the full ``entry_timeout + max_hold`` plus margins.
    tick : Decimal, optional
        The instrument's price increment.

    """
    rules = window_rules(strategy, latency_ns)
    declared = declared_cascades(liquidations, strategy)
    if prints is None or tick is None:
        return _merge([(t, t + rules.full_span_ns) for t, _ in declared])
    spans: list[tuple[int, int]] = []
    buffer_ts = np.empty(0, dtype=np.int64)
    buffer_ticks = np.empty(0, dtype=np.int64)
    pending = 0  # declared[pending:] still need prints up to their entry deadline

    def resolve(up_to: int | None) -> None:
        nonlocal pending
        while pending < len(declared):
            declared_ns, side = declared[pending]
            if up_to is not None and declared_ns + rules.entry_timeout_ns >= up_to:
                return
            end = cascade_end(declared_ns, side, rules, tick, buffer_ts, buffer_ticks)
            spans.append((declared_ns, end))
            pending += 1

    for ts, ticks in prints:
        if not len(ts):
            continue
        buffer_ts = np.concatenate([buffer_ts, ts])
        buffer_ticks = np.concatenate([buffer_ticks, ticks])
        # Prints after the buffer's last one come in later chunks, so a cascade is complete
        # once its deadline is before the last print seen.
        resolve(int(buffer_ts[-1]))
        # Drop what no pending cascade can need: all but the last print before the next one.
        keep_from = len(buffer_ts) - 1
        if pending < len(declared):
            keep_from = int(np.searchsorted(buffer_ts, declared[pending][0], side="left")) - 1
        keep_from = max(keep_from, 0)
        buffer_ts, buffer_ticks = buffer_ts[keep_from:], buffer_ticks[keep_from:]
    resolve(None)
    return _merge(spans)


def read_prints(files: list[Path], tick: Decimal) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ts_init, price in ticks)`` of each trade file, in order."""
    step = float(tick)
    for f in files:
        table = pq.read_table(f, columns=["ts_init", "price"])
        ts = table["ts_init"].to_numpy().astype(np.int64)
        ticks = np.rint(fixed_to_float(table["price"]) / step).astype(np.int64)
        yield ts, ticks


def price_increment(catalog: Path, instrument_id: str) -> Decimal | None:
    """The instrument's price increment, from its definition in the catalog."""
    for f in _definition_files(catalog, instrument_id):
        values = pq.read_table(f, columns=["price_increment"])["price_increment"]
        if len(values):
            return Decimal(str(values[0].as_py()))
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
VIEW_VERSION = 2
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


def _window_params(strategy: dict[str, Any] | None, latency_ns: int) -> dict[str, Any] | None:
    """Everything a symbol's windows depend on (so e.g. trading hours share one view)."""
    if strategy is None:
        return None
    config = _config(strategy)
    rules = window_rules(strategy, latency_ns)
    return {
        **config.detector_kwargs(),
        "entry_offset": str(rules.entry_offset),
        "entry_timeout_ns": rules.entry_timeout_ns,
        "max_hold_ns": rules.max_hold_ns,
        "latency_ns": latency_ns,
    }


def _view_key(catalog: Path, params: dict[str, dict[str, Any] | None]) -> str:
    """A key of the source files and the window parameters: a cached view needs no reading."""
    digest = hashlib.sha256(f"v{VIEW_VERSION}".encode())
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
        tick = price_increment(catalog, instrument_id)
        windows = cascade_windows(
            read_liquidations(catalog, instrument_id),
            strategy,
            latency_ns,
            read_prints(trade_files, tick) if tick is not None else None,
            tick,
        )
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

    """
    catalog = Path(catalog)
    instrument_ids = [instrument_id_for(s) for s in symbols]
    per_instrument = {
        instrument_id: strategies[symbol] if strategies is not None else None
        for symbol, instrument_id in zip(symbols, instrument_ids, strict=True)
    }
    params = {i: _window_params(s, latency_ns) for i, s in per_instrument.items()}
    key = _view_key(catalog, params)
    root = Path(views_root) if views_root else catalog.parent / "exec_views"
    view = root / key
    stats_file = view / _COMPLETE
    if stats_file.exists():
        saved = json.loads(stats_file.read_text())
        return ViewStats(view, saved["trades_in"], saved["trades_kept"], saved["windows"])

    staging = root / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    jobs = [(catalog, staging, i, s, latency_ns) for i, s in per_instrument.items()]
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
    (staging / _COMPLETE).write_text(
        json.dumps({"trades_in": trades_in, "trades_kept": trades_kept, "windows": counts})
    )
    if view.exists():
        shutil.rmtree(view)
    staging.rename(view)
    return ViewStats(view, trades_in, trades_kept, counts)
