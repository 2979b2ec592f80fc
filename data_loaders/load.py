"""Load source files into the catalog: one registry entry per wire format.

``load_files`` parses and validates every file first, stages everything, and only then moves
files into the catalog, so a malformed row anywhere leaves the catalog exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.catalog_writer import WriteSummary
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import DEFAULT_TRADE_FEED_DELAY_NS
from liqcascade.data_loaders.instruments import DEFAULT_SPECS_PATH
from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_specs
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


@dataclass(frozen=True)
class Source:
    """A wire format: what it produces and how to parse one file of it."""

    kind: str  # "liquidations" | "trades" | "bars"
    parse: Callable[[Path, LoadOptions], pd.DataFrame]
    description: str


def _bybit_liquidations(path: Path, o: LoadOptions) -> pd.DataFrame:
    from liqcascade.data_loaders.bybit import load_bybit_liquidations

    return load_bybit_liquidations(path, o.feed_delay_ns, o.symbol)


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

    return load_binance_klines(path, o.interval, o.symbol)


SOURCES: dict[str, Source] = {
    "bybit-liquidations": Source(
        "liquidations", _bybit_liquidations, "Bybit allLiquidation/liquidation JSON lines"
    ),
    "bybit-trades": Source("trades", _bybit_trades, "Bybit public trade-history CSV(.gz)"),
    "bybit-klines": Source("bars", _bybit_klines, "Bybit kline CSV"),
    "tardis-liquidations": Source(
        "liquidations", _tardis_liquidations, "tardis.dev liquidations CSV(.gz)"
    ),
    "tardis-trades": Source("trades", _tardis_trades, "tardis.dev trades CSV(.gz)"),
    "binance-klines": Source("bars", _binance_klines, "Binance data-vision kline CSV/zip"),
    "generic-liquidations": Source(
        "liquidations", _generic_liquidations, "any CSV/Parquet table with a column mapping"
    ),
}


def bar_type_for(spec: InstrumentSpec, bar_spec: str) -> str:
    """Bar type of externally aggregated last-price bars (``...-1-HOUR-LAST-EXTERNAL``)."""
    return f"{spec.instrument_id}-{bar_spec}-LAST-EXTERNAL"


def load_files(
    source_format: str,
    files: Sequence[Path],
    catalog: Path,
    options: LoadOptions = LoadOptions(),
    specs_path: Path = DEFAULT_SPECS_PATH,
    progress: bool = False,
) -> WriteSummary:
    """
    Load files of one format into a catalog, all-or-nothing.

    Raises
    ------
    MalformedInputError
        The first malformed file/line; the catalog is left untouched.
    KeyError
        An unknown ``source_format``.

    """
    if source_format not in SOURCES:
        raise KeyError(f"unknown format {source_format!r}; choose from {sorted(SOURCES)}")
    source = SOURCES[source_format]
    specs = load_specs(specs_path)
    with CatalogWriter(catalog) as writer:
        for path in tqdm(files, desc=f"load {source_format}", unit="file", disable=not progress):
            path = Path(path)
            frame = source.parse(path, options)
            for symbol, part in frame.groupby("symbol", sort=True):
                spec = specs.get(str(symbol).upper())
                if spec is None:
                    raise MalformedInputError(
                        path,
                        f"line {int(part['line'].iloc[0])}",
                        f"no instrument definition for {symbol!r} in {specs_path}",
                    )
                writer.add_instrument(to_instrument(spec))
                if source.kind == "trades":
                    writer.add_trades(part, spec, path)
                elif source.kind == "liquidations":
                    writer.add_liquidations(part, spec)
                else:
                    bar_spec = frame.attrs.get("bar_spec", "1-HOUR")
                    writer.add_bars(part, bar_type_for(spec, bar_spec), spec, path)
    return writer.summary
