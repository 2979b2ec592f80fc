"""What a catalog holds, read from Parquet footers and file names (no data is decoded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from liqcascade.data_loaders.catalog_writer import BARS
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import NS_PER_DAY
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import interval_of


@dataclass(frozen=True)
class SeriesSummary:
    """Rows, UTC days and time span of one catalog folder."""

    kind: str
    identifier: str
    rows: int
    days: int
    first_ts: int
    last_ts: int


def summarize_catalog(catalog: Path) -> list[SeriesSummary]:
    """Summarise trades, liquidations and bars per identifier."""
    result = []
    labels = {
        TRADES.directory: "trades",
        LIQUIDATIONS.directory: "liquidations",
        BARS.directory: "bars",
    }
    for directory, label in labels.items():
        root = Path(catalog) / "data" / directory
        for folder in sorted(p for p in root.glob("*") if p.is_dir()):
            files = sorted(folder.glob("*.parquet"))
            intervals = [i for i in (interval_of(f) for f in files) if i is not None]
            if not intervals:
                continue
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            days = {ts // NS_PER_DAY for start, end in intervals for ts in (start, end)}
            result.append(
                SeriesSummary(
                    kind=label,
                    identifier=folder.name,
                    rows=rows,
                    days=len(days),
                    first_ts=min(i[0] for i in intervals),
                    last_ts=max(i[1] for i in intervals),
                )
            )
    return result


def list_instruments(catalog: Path) -> list[str]:
    """Instrument ids the catalog defines."""
    root = Path(catalog) / "data"
    ids = set()
    for folder in root.glob("*/*"):
        if folder.parent.name in (TRADES.directory, LIQUIDATIONS.directory, BARS.directory):
            continue
        if folder.is_dir() and any(folder.glob("*.parquet")):
            ids.add(folder.name)
    return sorted(ids)


def format_summary(catalog: Path) -> str:
    """A terminal table: per series, rows, days and span, plus per-day rates."""
    from nautilus_trader.core.datetime import unix_nanos_to_iso8601

    series = summarize_catalog(catalog)
    lines = [f"Catalog {catalog}", f"Instruments: {', '.join(list_instruments(catalog)) or '-'}"]
    header = f"{'data':<13} {'series':<44} {'rows':>11} {'days':>5} {'per day':>10}  span (UTC)"
    lines += ["", header, "-" * len(header)]
    for s in series:
        span = (
            f"{unix_nanos_to_iso8601(s.first_ts)[:16]} .. {unix_nanos_to_iso8601(s.last_ts)[:16]}"
        )
        per_day = s.rows / max(s.days, 1)
        lines.append(
            f"{s.kind:<13} {s.identifier:<44} {s.rows:>11,} {s.days:>5} {per_day:>10,.0f}  {span}"
        )
    return "\n".join(lines)
