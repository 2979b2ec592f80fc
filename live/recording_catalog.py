"""Rows of a recording into the data catalog: buffered, committed all-or-nothing, never lost
to a bad row or a full disk.

The one concern of this module is the catalog side of the recorder. Rows wait in a buffer and
are written through :class:`~liqcascade.data_loaders.catalog_writer.CatalogWriter` (staged, then
moved into place; per-day merge with de-duplication) in a worker thread, so the websocket keeps
being read. A failed write keeps every row for the next flush when the disk is at fault; when
the writer refuses the batch, it is retried symbol by symbol and only a refused part is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pandas as pd

from liqcascade.data_loaders.bybit import TRADE_TOPIC_PREFIX
from liqcascade.data_loaders.bybit import LiquidationRecord
from liqcascade.data_loaders.bybit import TradePrint
from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.catalog_writer import WriteSummary
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.frames import validate_liquidations
from liqcascade.data_loaders.frames import validate_trades
from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import to_instrument

log = logging.getLogger("liqcascade.recorder")

LIQUIDATION_TOPIC = "allLiquidation."
TRADE_TOPIC = TRADE_TOPIC_PREFIX


@dataclass
class RowBatch:
    """Records waiting for a flush, each with the number of the message it came from."""

    liquidations: list[tuple[LiquidationRecord, int]] = field(default_factory=list)
    trades: list[tuple[TradePrint, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.liquidations) + len(self.trades)


def write_records(
    catalog: Path,
    specs: dict[str, InstrumentSpec],
    liquidations: Sequence[tuple[LiquidationRecord, int]],
    trades: Sequence[tuple[TradePrint, int]],
    add_instruments: Iterable[str] = (),
) -> WriteSummary:
    """
    Write parsed records into the catalog through :class:`CatalogWriter` (all-or-nothing).

    Parameters
    ----------
    catalog : Path
        Catalog root.
    specs : dict[str, InstrumentSpec]
        Instrument specs by symbol (every record's symbol must have one).
    liquidations, trades : Sequence[tuple[record, int]]
        Records with the number of the message they came from (named in validation errors).
    add_instruments : Iterable[str]
        Symbols whose instrument definitions to write too.

    Raises
    ------
    MalformedInputError
        A record the frame validation refuses; nothing is written.

    """
    with CatalogWriter(catalog) as writer:
        for symbol in add_instruments:
            writer.add_instrument(to_instrument(specs[symbol]))
        if liquidations:
            rows = [(*record, line) for record, line in liquidations]
            frame = pd.DataFrame(rows, columns=list(LIQUIDATION_COLUMNS))
            frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
            for symbol, part in frame.groupby("symbol", sort=True):
                source = Path(f"<{LIQUIDATION_TOPIC}{symbol} stream>")
                validate_liquidations(source, part, str(symbol))
                writer.add_liquidations(part, specs[str(symbol)])
        if trades:
            rows = [(*record, line) for record, line in trades]
            frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
            frame = frame.sort_values("ts_init", kind="stable", ignore_index=True)
            for symbol, part in frame.groupby("symbol", sort=True):
                source = Path(f"<{TRADE_TOPIC}{symbol} stream>")
                validate_trades(source, part, str(symbol))
                writer.add_trades(part, specs[str(symbol)], source)
    return writer.summary


class CatalogFlusher:
    """
    Buffer records and write them to the catalog on :meth:`flush`.

    Parameters
    ----------
    catalog : Path
        Catalog root.
    specs : dict[str, InstrumentSpec]
        Instrument specs of the recorded symbols; their instruments go with the first commit.

    """

    def __init__(self, catalog: Path, specs: dict[str, InstrumentSpec]) -> None:
        self.catalog = catalog
        self._specs = specs
        self._buffer = RowBatch()
        self._instruments_written = False
        self._lock: asyncio.Lock | None = None
        self.rows_flushed = 0  # rows handed to successful commits
        self.rows_dropped = 0  # rows a commit refused as invalid
        self.flushes = 0  # successful commits
        self.flush_failures = 0  # failed commits (rows kept, or retried in parts)

    def __len__(self) -> int:
        """Rows waiting for the next flush."""
        return len(self._buffer)

    def add_liquidation(self, record: LiquidationRecord, message_no: int) -> None:
        """Buffer a liquidation row from message number ``message_no``."""
        self._buffer.liquidations.append((record, message_no))

    def add_trade(self, record: TradePrint, message_no: int) -> None:
        """Buffer a trade row from message number ``message_no``."""
        self._buffer.trades.append((record, message_no))

    async def flush(self) -> None:
        """Write the buffered rows to the catalog now (in a worker thread)."""
        if self._lock is None:
            self._lock = asyncio.Lock()  # on the running loop
        async with self._lock:
            batch, self._buffer = self._buffer, RowBatch()
            if not batch:
                return
            instruments = () if self._instruments_written else tuple(self._specs)
            try:
                await asyncio.to_thread(
                    write_records,
                    self.catalog,
                    self._specs,
                    batch.liquidations,
                    batch.trades,
                    instruments,
                )
            except OSError as e:
                # The disk, not the data: keep every row (older first) for the next attempt.
                self.flush_failures += 1
                log.error(f"catalog write failed, {len(batch)} rows kept for the next flush: {e}")
                self._buffer = RowBatch(
                    batch.liquidations + self._buffer.liquidations,
                    batch.trades + self._buffer.trades,
                )
                return
            except Exception as e:
                self.flush_failures += 1
                log.error(f"catalog write refused the batch ({e}); retrying symbol by symbol")
                await self._flush_in_parts(batch, instruments)
                return
            self._instruments_written = True
            self.flushes += 1
            self.rows_flushed += len(batch)
            log.debug(f"flushed {len(batch)} rows")

    async def _flush_in_parts(self, batch: RowBatch, instruments: tuple[str, ...]) -> None:
        """One commit per (kind, symbol): a part the writer refuses is dropped, not the rest."""
        parts: list[tuple[list, list]] = []
        for symbol in self._specs:
            liq = [r for r in batch.liquidations if r[0].symbol == symbol]
            trades = [r for r in batch.trades if r[0].symbol == symbol]
            parts += [(liq, []), ([], trades)]
        for liquidations, trades in parts:
            rows = len(liquidations) + len(trades)
            if not rows:
                continue
            try:
                await asyncio.to_thread(
                    write_records,
                    self.catalog,
                    self._specs,
                    liquidations,
                    trades,
                    instruments,
                )
            except Exception as e:
                self.rows_dropped += rows
                log.error(f"dropped {rows} rows the catalog writer refused: {e}")
                continue
            instruments = ()
            self._instruments_written = True
            self.flushes += 1
            self.rows_flushed += rows
