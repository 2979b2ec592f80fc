"""Write frames into a ``ParquetDataCatalog`` as per-day files, all-or-nothing and idempotently.

Why not ``catalog.write_data`` directly: it refuses overlapping intervals (so re-importing a
file raises), skips an existing file name silently, needs one Python object per row, and a
failure half-way leaves half a load behind. Here:

* every input is parsed and validated before the catalog is touched;
* rows are split into one file per UTC day of ``ts_init`` (the intervals stay disjoint);
* a day that already exists is merged with the new rows and de-duplicated, so importing the
  same file twice changes nothing and an overlapping recording only adds what is new;
* new files are written to a staging folder inside the catalog root, then moved into place;
  a file whose bytes would not change is not touched.

The files are the framework's own (same schemas, names and row groups), readable by
``ParquetDataCatalog.query`` and streamed by ``BacktestNode``.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.core.datetime import unix_nanos_to_iso8601

from liqcascade.data_loaders.arrow_tables import bars_table
from liqcascade.data_loaders.arrow_tables import liquidations_table
from liqcascade.data_loaders.arrow_tables import trades_table
from liqcascade.data_loaders.frames import number_identical_liquidations

if TYPE_CHECKING:
    import pandas as pd
    from nautilus_trader.model.instruments import Instrument

    from liqcascade.data_loaders.instruments import InstrumentSpec

NS_PER_DAY = 86_400 * 1_000_000_000
ROWS_PER_GROUP = 5000  # ParquetDataCatalog.max_rows_per_group default: files stay identical


@dataclass(frozen=True)
class _Kind:
    directory: str  # catalog folder name of the data class
    dedupe_keys: tuple[str, ...]  # rows equal on these are one record
    keep: str  # which duplicate survives: "first" (earliest ts_init) or "last" (newest import)


TRADES = _Kind("trade_tick", ("ts_event", "trade_id", "price", "size", "aggressor_side"), "first")
# Liquidations de-duplicate without ts_init: a replayed push is the same event received later.
# Identical liquidations of one push differ in ts_event (frames.number_identical_liquidations).
LIQUIDATIONS = _Kind("custom_liquidation_data", ("ts_event", "side", "price", "quantity"), "first")
BARS = _Kind("bar", ("ts_event",), "last")


@dataclass
class WriteSummary:
    """What a commit changed: rows per (folder, identifier) and files per outcome."""

    rows: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    files_written: int = 0
    files_unchanged: int = 0
    files_removed: int = 0


def file_name(first_ts: int, last_ts: int) -> str:
    """The framework's file name for an interval of ``ts_init`` (inclusive)."""

    def stamp(ts: int) -> str:
        return unix_nanos_to_iso8601(ts).replace(":", "-").replace(".", "-")

    return f"{stamp(first_ts)}_{stamp(last_ts)}.parquet"


def interval_of(path: Path) -> tuple[int, int] | None:
    from nautilus_trader.persistence.catalog.parquet import _parse_filename_timestamps

    return _parse_filename_timestamps(str(path))


def _identifier_folder(identifier: str) -> str:
    from nautilus_trader.persistence.funcs import urisafe_identifier

    return urisafe_identifier(identifier)


class CatalogWriter:
    """
    Stage data for a catalog and move it into place on :meth:`commit`.

    Use as a context manager: the staging folder is removed whether or not the commit happens,
    and an exception inside the block leaves the catalog exactly as it was.

    Parameters
    ----------
    catalog_path : str | Path
        Root of the ``ParquetDataCatalog`` (created if missing).

    """

    def __init__(self, catalog_path: str | Path) -> None:
        self.root = Path(catalog_path)
        self._staging = self.root / f".staging-{uuid.uuid4().hex[:12]}"
        # (folder, identifier, day) -> merged table, and the existing files it supersedes.
        self._days: dict[tuple[str, str, int], pa.Table] = {}
        self._superseded: dict[tuple[str, str, int], set[Path]] = defaultdict(set)
        self._loaded: set[tuple[str, str, int]] = set()
        self._read: set[Path] = set()
        self._kinds: dict[str, _Kind] = {}
        self._instruments: list[Instrument] = []
        self.summary = WriteSummary()

    def __enter__(self) -> CatalogWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    # -- staging --------------------------------------------------------------------------------

    def add_trades(self, frame: pd.DataFrame, spec: InstrumentSpec, path: Path) -> None:
        """Stage trade rows of one instrument (``path`` names the source in errors)."""
        if len(frame):
            self._add(TRADES, spec.instrument_id, trades_table(frame, spec, path))

    def add_liquidations(self, frame: pd.DataFrame, spec: InstrumentSpec) -> None:
        """Stage liquidation rows of one instrument (identical rows of one push stay apart)."""
        if len(frame):
            frame = number_identical_liquidations(frame)
            self._add(LIQUIDATIONS, spec.instrument_id, liquidations_table(frame, spec))

    def add_bars(
        self, frame: pd.DataFrame, bar_type: str, spec: InstrumentSpec, path: Path
    ) -> None:
        """Stage bars of one bar type, e.g. ``ETHUSDT-LINEAR.BYBIT-1-HOUR-LAST-EXTERNAL``."""
        if len(frame):
            self._add(BARS, bar_type, bars_table(frame, bar_type, spec, path))

    def add_instrument(self, instrument: Instrument) -> None:
        """Stage an instrument definition (written only if it differs from the catalog's)."""
        self._instruments.append(instrument)

    def _add(self, kind: _Kind, identifier: str, table: pa.Table) -> None:
        self._kinds[kind.directory] = kind
        for day, part in _split_by_day(table):
            self._load_existing_day(kind, identifier, day)
            key = (kind.directory, identifier, day)
            self._days[key] = _merge(kind, self._days.get(key), part)

    def _load_existing_day(self, kind: _Kind, identifier: str, day: int) -> None:
        """
        Merge into the staged days every catalog file that touches ``day``.

        A file spanning several days (written by another tool) is split, and the other days it
        touches are loaded too, so the rewritten per-day files never overlap an old one.
        """
        if (kind.directory, identifier, day) in self._loaded:
            return
        self._loaded.add((kind.directory, identifier, day))
        folder = self.root / "data" / kind.directory / _identifier_folder(identifier)
        if not folder.exists():
            return
        day_end = day + NS_PER_DAY - 1
        for path in sorted(folder.glob("*.parquet")):
            interval = interval_of(path)
            if path in self._read or interval is None:
                continue
            if interval[1] < day or interval[0] > day_end:
                continue
            self._read.add(path)
            for other_day, part in _split_by_day(pq.read_table(path)):
                key = (kind.directory, identifier, other_day)
                self._superseded[key].add(path)
                self._days[key] = _merge(kind, self._days.get(key), part)
                self._load_existing_day(kind, identifier, other_day)

    # -- commit ---------------------------------------------------------------------------------

    def commit(self) -> WriteSummary:
        """Write staged days aside, then move them into the catalog. Returns what changed."""
        moves: list[tuple[Path, Path]] = []
        for (directory, identifier, _day), table in sorted(self._days.items()):
            target_dir = self.root / "data" / directory / _identifier_folder(identifier)
            name = file_name(int(table["ts_init"][0].as_py()), int(table["ts_init"][-1].as_py()))
            staged = self._staging / "data" / directory / _identifier_folder(identifier) / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, staged, row_group_size=ROWS_PER_GROUP)
            moves.append((staged, target_dir / name))
            self.summary.rows[(directory, identifier)] += table.num_rows
        moves += self._stage_instruments()

        keep = {target for _, target in moves}
        for staged, target in moves:
            if target.exists() and filecmp.cmp(staged, target, shallow=False):
                self.summary.files_unchanged += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
            self.summary.files_written += 1
        for paths in self._superseded.values():
            for path in paths - keep:
                if path.exists():
                    path.unlink()
                    self.summary.files_removed += 1
        self._days.clear()
        self._superseded.clear()
        return self.summary

    def _stage_instruments(self) -> list[tuple[Path, Path]]:
        if not self._instruments:
            return []
        from nautilus_trader.persistence.catalog import ParquetDataCatalog

        staging_catalog = ParquetDataCatalog(str(self._staging / "instruments"))
        unique = {i.id.value: i for i in self._instruments}
        staging_catalog.write_data(list(unique.values()))
        base = self._staging / "instruments"
        return [
            (path, self.root / path.relative_to(base)) for path in sorted(base.rglob("*.parquet"))
        ]


def _split_by_day(table: pa.Table) -> list[tuple[int, pa.Table]]:
    ts = table["ts_init"].to_numpy().astype(np.int64)
    days = ts - ts % NS_PER_DAY
    if len(days) and days[0] == days[-1] and (days == days[0]).all():
        return [(int(days[0]), table)]
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    bounds = np.flatnonzero(np.diff(sorted_days)) + 1
    result = []
    for chunk in np.split(order, bounds):
        result.append((int(days[chunk[0]]), table.take(pa.array(chunk))))
    return result


def _concat(tables: list[pa.Table]) -> pa.Table:
    first = tables[0]
    for other in tables[1:]:
        if other.schema.metadata != first.schema.metadata:
            raise ValueError(
                "catalog data and new data disagree on instrument metadata "
                f"({first.schema.metadata} vs {other.schema.metadata}); "
                "was the instrument's precision changed? Load into a fresh catalog."
            )
    return pa.concat_tables(tables)


def _merge(kind: _Kind, existing: pa.Table | None, new: pa.Table) -> pa.Table:
    """Union of two day tables, sorted by ``ts_init`` (stable), duplicates removed."""
    if existing is None:
        combined = new
    elif existing.num_rows == new.num_rows and existing.equals(new):
        return existing  # the common re-import: nothing new
    else:
        combined = _concat([existing, new])
    ts_init = combined["ts_init"].to_numpy()
    if not (ts_init[1:] >= ts_init[:-1]).all():
        order = pc.sort_indices(combined, sort_keys=[("ts_init", "ascending")])  # stable
        combined = combined.take(order)
    return _drop_duplicates(combined, kind)


def _drop_duplicates(table: pa.Table, kind: _Kind) -> pa.Table:
    """
    Remove rows equal on ``kind.dedupe_keys``, keeping the first or last in ``ts_init`` order.

    Every kind's keys start with ``ts_event``, so only rows whose ``ts_event`` repeats can be
    duplicates: they alone are grouped, which keeps a fresh million-row day cheap.
    """
    ts_event = table["ts_event"].to_numpy().astype(np.int64)
    order = None if (ts_event[1:] >= ts_event[:-1]).all() else np.argsort(ts_event, kind="stable")
    ordered = ts_event if order is None else ts_event[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return table
    repeated = np.zeros(len(ordered), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    candidates = np.flatnonzero(repeated) if order is None else np.sort(order[repeated])
    subset = table.select(list(kind.dedupe_keys)).take(pa.array(candidates))
    subset = subset.append_column("__row", pa.array(candidates))
    aggregate = "min" if kind.keep == "first" else "max"
    grouped = subset.group_by(list(kind.dedupe_keys), use_threads=False).aggregate(
        [("__row", aggregate)]
    )
    if grouped.num_rows == subset.num_rows:
        return table
    drop = np.setdiff1d(candidates, grouped[f"__row_{aggregate}"].to_numpy())
    keep = np.setdiff1d(np.arange(table.num_rows), drop, assume_unique=True)
    return table.take(pa.array(keep))
