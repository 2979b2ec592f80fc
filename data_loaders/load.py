"""Load source files into the catalog: one registry entry per wire format.

``load_files`` parses and validates every file first, stages everything, and only then moves
files into the catalog, so a malformed row anywhere leaves the catalog exactly as it was. A load
in which no file held a single row is an error (:class:`NoRowsError`), never a silent success.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.catalog_writer import WriteSummary
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import DEFAULT_TRADE_FEED_DELAY_NS
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM
from liqcascade.data_loaders.instruments import BYBIT_LINEAR
from liqcascade.data_loaders.instruments import MARKETS
from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_registry
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS


@dataclass(frozen=True)
class LoadOptions:
    """Options a source may use; each loader takes only what applies to it."""

    symbol: str | None = None
    feed_delay_ns: int = DEFAULT_FEED_DELAY_NS  # liquidations without a receipt time
    trade_feed_delay_ns: int = DEFAULT_TRADE_FEED_DELAY_NS  # trades without a receipt time
    interval: str | None = None
    mapping: Any = None  # generic.TableMapping for generic tables
    market: str | None = None  # where the source does not say itself (see Source.markets)
    skip_unknown: bool = False  # JSON lines of no known shape: skip and count, not fail


@dataclass(frozen=True)
class Source:
    """
    A wire format: what it produces, how to parse one file, and which markets it may fill.

    ``markets`` lists the markets the format can load into; the first is the default when
    neither the file nor ``--market`` says. A format whose files name their venue (tardis's
    ``exchange`` column, Binance's archive layout, freqtrade's folders) refuses a contradicting
    ``--market``; a Bybit format accepts only Bybit.
    """

    kind: str  # "liquidations" | "trades" | "bars"
    parse: Callable[[Path, LoadOptions], pd.DataFrame]
    description: str
    markets: tuple[str, ...] = (BYBIT_LINEAR.name,)


@dataclass
class LoadSummary:
    """What a load did: the catalog writer's summary plus per-file notes and row counts."""

    write: WriteSummary
    rows_per_file: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> dict[tuple[str, str], int]:
        """Rows per (catalog folder, identifier) in the days loaded."""
        return self.write.rows

    @property
    def files_written(self) -> int:
        return self.write.files_written

    @property
    def files_unchanged(self) -> int:
        return self.write.files_unchanged

    @property
    def files_removed(self) -> int:
        return self.write.files_removed


class NoRowsError(ValueError):
    """Files that held nothing to load: never a silent "0 rows"."""


def _bybit_liquidations(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.bybit import load_bybit_liquidations

    return load_bybit_liquidations(path, o.feed_delay_ns, o.symbol, o.skip_unknown)


def _bybit_trades(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.bybit import load_bybit_trades

    return load_bybit_trades(path, o.symbol, o.trade_feed_delay_ns)


def _tardis_liquidations(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.tardis import load_tardis_liquidations

    return load_tardis_liquidations(path, o.feed_delay_ns, o.symbol)


def _tardis_trades(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.tardis import load_tardis_trades

    return load_tardis_trades(path, o.symbol)


def _generic_liquidations(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.generic import load_generic_liquidations

    if o.mapping is None:
        raise ValueError("generic-liquidations needs --mapping FILE (column mapping)")
    return load_generic_liquidations(path, o.mapping, o.symbol, o.feed_delay_ns)


def _bybit_klines(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.klines import load_bybit_klines

    return load_bybit_klines(path, o.interval, o.symbol)


def _binance_klines(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.klines import load_binance_klines

    return load_binance_klines(path, o.interval, o.symbol, o.market)


def _binance_trades(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.binance import load_binance_trades

    return load_binance_trades(path, o.symbol, o.market)


def _binance_aggtrades(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.binance import load_binance_aggtrades

    return load_binance_aggtrades(path, o.symbol, o.market)


def _freqtrade_ohlcv(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.freqtrade import load_freqtrade_ohlcv

    return load_freqtrade_ohlcv(path, o.symbol, o.market)


_BINANCE = (BINANCE_USDM.name, BINANCE_SPOT.name)
_ALL = tuple(MARKETS)

SOURCES: dict[str, Source] = {
    "bybit-liquidations": Source(
        "liquidations", _bybit_liquidations, "Bybit allLiquidation/liquidation JSON lines"
    ),
    "bybit-trades": Source("trades", _bybit_trades, "Bybit public trade-history CSV(.gz)"),
    "bybit-klines": Source("bars", _bybit_klines, "Bybit kline CSV"),
    "tardis-liquidations": Source(
        "liquidations", _tardis_liquidations, "tardis.dev liquidations CSV(.gz)", _ALL
    ),
    "tardis-trades": Source("trades", _tardis_trades, "tardis.dev trades CSV(.gz)", _ALL),
    "binance-klines": Source(
        "bars", _binance_klines, "Binance data-vision kline CSV/zip", _BINANCE
    ),
    "binance-trades": Source(
        "trades", _binance_trades, "Binance data-vision trades CSV/zip", _BINANCE
    ),
    "binance-aggtrades": Source(
        "trades", _binance_aggtrades, "Binance data-vision aggTrades CSV/zip", _BINANCE
    ),
    "freqtrade-ohlcv": Source(
        "bars", _freqtrade_ohlcv, "freqtrade OHLCV .feather/.json(.gz)", _ALL
    ),
    "generic-liquidations": Source(
        "liquidations", _generic_liquidations, "any CSV/Parquet table with a column mapping", _ALL
    ),
}


def bar_type_for(spec: InstrumentSpec, bar_spec: str) -> str:
    """Bar type of externally aggregated last-price bars (``...-1-HOUR-LAST-EXTERNAL``)."""
    return f"{spec.instrument_id}-{bar_spec}-LAST-EXTERNAL"


def _markets_of(path: Path, frame: pd.DataFrame, source: Source, options: LoadOptions) -> Any:
    """Each row's market (a Series) or one market for the file (a str), checked."""
    if "market" in frame.columns:  # the file names it per row (tardis)
        markets = frame["market"]
        if options.market is not None and len(frame) and (markets != options.market).any():
            bad = frame.loc[markets != options.market].iloc[0]
            raise MalformedInputError(
                path,
                f"line {int(bad['line'])}",
                f"the file says {bad['market']}, --market says {options.market}",
            )
        return markets
    market = frame.attrs.get("market") or options.market or source.markets[0]
    if market not in source.markets:
        raise ValueError(
            f"{path}: {source.description} cannot load into {market} "
            f"(it loads into {', '.join(source.markets)})"
        )
    return market


def load_files(
    source_format: str,
    files: Sequence[Path],
    catalog: Path,
    options: LoadOptions = LoadOptions(),
    instruments: Sequence[Path] = (),
    progress: bool = False,
) -> LoadSummary:
    """
    Load files of one format into a catalog, all-or-nothing.

    Each row lands in the instrument of its own market (Binance rows in Binance instruments,
    tardis rows in the venue their ``exchange`` column names).

    Parameters
    ----------
    instruments : Sequence[Path]
        Specs files on top of the shipped ones (same instrument: the file's wins).

    Raises
    ------
    MalformedInputError
        The first malformed file/line, or a symbol without an instrument definition; the
        catalog is left untouched.
    NoRowsError
        No file held a single row to load.
    KeyError
        An unknown ``source_format``.

    """
    if source_format not in SOURCES:
        raise KeyError(f"unknown format {source_format!r}; choose from {sorted(SOURCES)}")
    source = SOURCES[source_format]
    if options.market is not None and options.market not in source.markets:
        raise ValueError(
            f"{source_format} cannot load into {options.market} "
            f"(--market: {', '.join(source.markets)})"
        )
    registry = load_registry(instruments)
    result = LoadSummary(WriteSummary())
    with CatalogWriter(catalog) as writer:
        for path in tqdm(files, desc=f"load {source_format}", unit="file", disable=not progress):
            path = Path(path)
            frame = source.parse(path, options)
            result.rows_per_file[str(path)] = len(frame)
            result.notes += [f"{path.name}: {note}" for note in frame.attrs.get("notes", [])]
            markets = _markets_of(path, frame, source, options)
            keys = [markets, frame["symbol"]] if isinstance(markets, pd.Series) else ["symbol"]
            for key, part in frame.groupby(keys, sort=True):
                market, symbol = key if isinstance(markets, pd.Series) else (markets, key[0])
                spec = registry.get(str(symbol).upper(), str(market))
                if spec is None:
                    raise MalformedInputError(
                        path,
                        f"line {int(part['line'].iloc[0])}",
                        registry.missing_message(str(symbol), str(market)),
                    )
                writer.add_instrument(to_instrument(spec))
                if source.kind == "trades":
                    writer.add_trades(part, spec, path)
                elif source.kind == "liquidations":
                    writer.add_liquidations(part, spec)
                else:
                    bar_spec = frame.attrs.get("bar_spec", "1-HOUR")
                    writer.add_bars(part, bar_type_for(spec, bar_spec), spec, path)
        if files and not any(result.rows_per_file.values()):
            names = ", ".join(Path(f).name for f in list(files)[:3])
            more = f" and {len(files) - 3} more" if len(files) > 3 else ""
            raise NoRowsError(
                f"no {source.kind} to load in {names}{more}"
                + (f" ({'; '.join(result.notes[:3])})" if result.notes else "")
            )
    result.write = writer.summary
    return result
