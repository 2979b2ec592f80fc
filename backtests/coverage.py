"""Which UTC days a catalog has data for, per instrument: the denominator of every per-day figure.

A recording with gaps (a recorder that was down, days nobody bought) must not be divided by its
calendar span: "cascades per day" is per day *with liquidation data*. Liquidation days are read
from the rows (``ts_init``, small files); trade days from the catalog's file names (one file per
UTC day as the loaders write them; a multi-day file from another tool counts for every day it
spans), so a month of trades is never decoded for this.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import NS_PER_DAY
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import interval_of


def day_label(day_ns: int) -> str:
    """``2025-03-03`` for the UTC day starting at ``day_ns``."""
    return datetime.fromtimestamp(day_ns // 1_000_000_000, UTC).date().isoformat()


def _in(interval: tuple[int, int], start: int | None, end: int | None) -> bool:
    return (end is None or interval[0] <= end) and (start is None or interval[1] >= start)


def liquidation_times(
    catalog: Path, instrument_id: str, start: int | None = None, end: int | None = None
) -> np.ndarray:
    """Sorted ``ts_init`` of an instrument's liquidations within ``[start, end]``."""
    folder = Path(catalog) / "data" / LIQUIDATIONS.directory / instrument_id
    parts = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        interval = interval_of(path)
        if interval is None or not _in(interval, start, end):
            continue
        ts = pq.read_table(path, columns=["ts_init"])["ts_init"].to_numpy().astype(np.int64)
        mask = np.ones(len(ts), dtype=bool)
        if start is not None:
            mask &= ts >= start
        if end is not None:
            mask &= ts <= end
        parts.append(ts[mask])
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


def trade_days(
    catalog: Path, instrument_id: str, start: int | None = None, end: int | None = None
) -> tuple[int, ...]:
    """UTC days (day-start ns) that an instrument's trade files cover within the bounds."""
    folder = Path(catalog) / "data" / TRADES.directory / instrument_id
    days: set[int] = set()
    for path in folder.glob("*.parquet") if folder.exists() else []:
        interval = interval_of(path)
        if interval is None or not _in(interval, start, end):
            continue
        first = max(interval[0], start) if start is not None else interval[0]
        last = min(interval[1], end) if end is not None else interval[1]
        days.update(range(first - first % NS_PER_DAY, last + 1, NS_PER_DAY))
    return tuple(sorted(days))


@dataclass(frozen=True)
class Coverage:
    """
    Days with data per symbol inside a run's bounds.

    ``liquidation_days`` decide the per-day figures; ``trade_days`` are reported beside them.
    The calendar is every UTC day from ``first_day`` to ``last_day``.
    """

    first_day: int
    last_day: int
    liquidation_days: Mapping[str, tuple[int, ...]]
    trade_days: Mapping[str, tuple[int, ...]]

    @property
    def calendar_days(self) -> int:
        """UTC days from the first to the last of the run, both included."""
        return (self.last_day - self.first_day) // NS_PER_DAY + 1

    def data_days(self, symbol: str | None = None) -> tuple[int, ...]:
        """Days with liquidation data of ``symbol``, or of any symbol."""
        if symbol is not None:
            return self.liquidation_days.get(symbol, ())
        return tuple(sorted(set().union(*self.liquidation_days.values())))

    def gaps(self, days: Iterable[int]) -> list[tuple[int, int]]:
        """Runs of calendar days without data: ``(first, last)`` day starts."""
        have = set(days)
        gaps: list[tuple[int, int]] = []
        for day in range(self.first_day, self.last_day + 1, NS_PER_DAY):
            if day in have:
                continue
            if gaps and gaps[-1][1] == day - NS_PER_DAY:
                gaps[-1] = (gaps[-1][0], day)
            else:
                gaps.append((day, day))
        return gaps

    def describe(self, symbol: str) -> str:
        """One line: liquidation and trade coverage of a symbol, with its gaps."""
        liq = self.liquidation_days.get(symbol, ())
        trades = self.trade_days.get(symbol, ())
        gaps = self.gaps(liq)
        text = (
            f"{symbol}: liquidations on {len(liq)} of {self.calendar_days} days, "
            f"trades on {len(trades)}"
        )
        if gaps:
            shown = ", ".join(
                day_label(a) if a == b else f"{day_label(a)}..{day_label(b)}" for a, b in gaps[:5]
            )
            more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            text += f"; no liquidation data on {shown}{more}"
        return text


def catalog_coverage(
    catalog: Path,
    instruments: Mapping[str, str],
    start: int | None = None,
    end: int | None = None,
) -> Coverage:
    """
    Coverage of ``instruments`` (symbol -> instrument id) within ``[start, end]`` (ns, inclusive).

    Without bounds the calendar runs from the first to the last day with liquidation data.
    """
    liq: dict[str, tuple[int, ...]] = {}
    trades: dict[str, tuple[int, ...]] = {}
    for symbol, instrument_id in instruments.items():
        times = liquidation_times(catalog, instrument_id, start, end)
        liq[symbol] = tuple(int(d) for d in np.unique(times - times % NS_PER_DAY))
        trades[symbol] = trade_days(catalog, instrument_id, start, end)
    all_days = sorted(set().union(*liq.values())) if liq else []
    first = start - start % NS_PER_DAY if start is not None else (all_days[0] if all_days else 0)
    last = all_days[-1] if all_days else first
    if end is not None:
        last = end - end % NS_PER_DAY
    return Coverage(first, max(first, last), liq, trades)
