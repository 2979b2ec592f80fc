"""System B's inputs, checked before a run: instruments and bars of every asset in the window.

Without this check a symbol missing from the catalog (or without bars in ``run.start`` ..
``run.end``) let the engine run without it and failed at the end with a traceback, and a window
too short for the rules' warm-up ran to "0 trades" without a word. Each case is now a
:class:`~liqcascade.backtests.run_config.ConfigError` naming ``run.symbols`` (or the window),
what is missing and what the catalog does hold, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.data_loaders.catalog_writer import BARS
from liqcascade.data_loaders.catalog_writer import interval_of
from liqcascade.strategies.trading_gate import parse_utc

DEFAULT_BAR_SPEC = "1-HOUR-LAST-EXTERNAL"


@dataclass(frozen=True)
class BarCoverage:
    """Bars of one bar type in a catalog: all of them, and those inside the run window."""

    bar_type: str
    total: int
    in_window: int
    first_ns: int | None  # first and last bar of the whole catalog
    last_ns: int | None
    window_first_ns: int | None = None  # first and last bar inside the window
    window_last_ns: int | None = None


def _utc(ns: int | None) -> str:
    import pandas as pd

    return "-" if ns is None else f"{pd.Timestamp(ns, unit='ns', tz='UTC'):%Y-%m-%d %H:%M}"


def bar_coverage(
    catalog: Path, bar_type: str, start_ns: int | None, end_ns: int | None
) -> BarCoverage:
    """
    Count the bars of ``bar_type`` in a catalog and in a window (inclusive, like the catalog's).

    Row counts come from the Parquet footers and the time span from the file names (the
    catalog's ``<first>_<last>.parquet``); only a file straddling a window bound is read.
    """
    folder = Path(catalog) / "data" / BARS.directory / bar_type
    lo = start_ns if start_ns is not None else -1
    hi = end_ns if end_ns is not None else 2**63
    total = in_window = 0
    first = last = None
    inside: list[int] = []  # the first and last bar inside the window of each file
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        rows = pq.read_metadata(path).num_rows
        interval = interval_of(path)
        if not rows:
            continue
        if interval is None:  # not named by the catalog: read its times
            ts = pq.read_table(path, columns=["ts_init"])["ts_init"].to_numpy()
            interval = (int(ts.min()), int(ts.max()))
        total += rows
        first = interval[0] if first is None else min(first, interval[0])
        last = interval[1] if last is None else max(last, interval[1])
        if interval[1] < lo or interval[0] > hi:
            continue
        if lo <= interval[0] and interval[1] <= hi:
            in_window += rows
            inside += interval
        else:
            ts = pq.read_table(path, columns=["ts_init"])["ts_init"].to_numpy()
            kept = ts[(ts >= lo) & (ts <= hi)]
            in_window += len(kept)
            if len(kept):
                inside += [int(kept.min()), int(kept.max())]
    return BarCoverage(
        bar_type,
        total,
        in_window,
        first,
        last,
        min(inside, default=None),
        max(inside, default=None),
    )


def bar_span(spec: RunSpec) -> tuple[int, int]:
    """
    First and last ``ts_init`` of the bars a System B run reads: every symbol's bars of the
    strategy's ``bar_spec`` inside ``run.start`` .. ``run.end`` (inclusive, as the engine reads
    them).

    Raises
    ------
    ConfigError
        If no symbol has a bar in the window, naming the catalog, the bar types and the window.

    """
    params = spec.strategies["*"]
    bar_spec = params.get("bar_spec", DEFAULT_BAR_SPEC)
    start = parse_utc(spec.start) if spec.start else None
    end = parse_utc(spec.end) if spec.end else None
    coverage = [
        bar_coverage(Path(spec.catalog), f"{i}-{bar_spec}", start, end)
        for i in params["instrument_ids"]
    ]
    held = [c for c in coverage if c.in_window]
    if not held:
        window = f"{spec.start or 'the start'} .. {spec.end or 'the end'}"
        raise ConfigError(
            f"run.symbols: catalog {spec.catalog} has no {bar_spec} bars of "
            f"{', '.join(params['instrument_ids'])} in the window {window}"
        )
    return min(c.window_first_ns for c in held), max(c.window_last_ns for c in held)


def check_crash_data(spec: RunSpec) -> dict[str, BarCoverage]:
    """
    Refuse a System B run the catalog cannot feed, before it starts.

    Every instrument must be defined in the catalog and have bars in the window, and at least
    ``min_assets`` assets must have more bars than the rules' warm-up (else no event could
    ever be declared).

    Returns
    -------
    dict[str, BarCoverage]
        Per instrument id.

    Raises
    ------
    ConfigError
        Naming ``run.symbols`` (or ``run.start``/``run.end``), the missing instruments or bar
        types, the window, and what the catalog holds instead.

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from liqcascade.strategies.crash_reversion import CrashReversionConfig

    params = spec.strategies["*"]
    ids = list(params["instrument_ids"])
    bar_spec = params.get("bar_spec", DEFAULT_BAR_SPEC)
    catalog = Path(spec.catalog)
    if not (catalog / "data").exists():
        raise ConfigError(f"run.catalog: {catalog} holds no data (load bars into it first)")
    defined = {i.id.value for i in ParquetDataCatalog(str(catalog)).instruments()}
    undefined = [i for i in ids if i not in defined]
    if undefined:
        raise ConfigError(
            f"run.symbols: no instrument definition for {', '.join(undefined)} in catalog "
            f"{catalog} (it defines: {', '.join(sorted(defined)) or 'none'})"
        )
    start = parse_utc(spec.start) if spec.start else None
    end = parse_utc(spec.end) if spec.end else None
    coverage = {i: bar_coverage(catalog, f"{i}-{bar_spec}", start, end) for i in ids}
    empty = [c for c in coverage.values() if c.in_window == 0]
    if empty:
        window = f"{spec.start or 'the start'} .. {spec.end or 'the end'}"
        held = "; ".join(
            f"{c.bar_type}: "
            + (f"{c.total} bars, {_utc(c.first_ns)} .. {_utc(c.last_ns)}" if c.total else "none")
            for c in empty
        )
        raise ConfigError(
            f"run.symbols: no bars in the window {window} in catalog {catalog} for "
            f"{len(empty)} of {len(ids)} instruments ({held}). Load their klines, drop them "
            f"from run.symbols, or move run.start/run.end"
        )
    config = CrashReversionConfig(**params)
    warmup = config.warmup_bars
    ready = [c for c in coverage.values() if c.in_window > warmup]
    if len(ready) < config.min_assets:
        counts = ", ".join(f"{c.bar_type}: {c.in_window}" for c in coverage.values())
        raise ConfigError(
            f"run.start/run.end: rules = {config.rules!r} need more than {warmup} bars of an "
            f"asset before one can qualify, and min_assets = {config.min_assets} of them; only "
            f"{len(ready)} have that many in the window ({counts}), so nothing could trade"
        )
    return coverage
