"""Another venue's prices for a run's liquidations - only when the run config says so.

Venues are kept apart everywhere: Binance trades load into Binance instruments and a Bybit run
never sees them. A trader who has Bybit liquidations but would rather take prices from Binance
(say, Binance's archive is what they have) writes it in the run config::

    [run.prices]
    ETHUSDT = "binance-usdm"      # ETHUSDT's trades come from ETHUSDT-PERP.BINANCE

and the run then builds a *derived catalog* beside the real one (``price_mapped/<key>/``): the
mapped symbol's liquidations as they are, its trades taken from the counterpart instrument (the
same coin, :meth:`~liqcascade.data_loaders.instruments.InstrumentRegistry.counterpart`), converted
to the run's instrument - prices times ``coin_units`` ratio (``1000PEPE`` vs ``PEPE``) rounded to
its tick, sizes the other way rounded to its lot (never below one lot) - and everything else
linked unchanged. The run's report names every mapping: results on another venue's prices are not
results on Bybit's, and nobody should mistake one for the other.

Fidelity: the other venue's prints are a proxy. Spreads, queue and the exact path of a cascade
differ between venues; the run stays causal (timestamps are the other venue's own), but fills are
judged against prints that did not happen on the venue the strategy trades.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from liqcascade.data_loaders.arrow_tables import fixed_to_float
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.instruments import BYBIT_LINEAR
from liqcascade.data_loaders.instruments import InstrumentRegistry
from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_registry
from liqcascade.data_loaders.instruments import to_instrument

_COMPLETE = ".complete"


def _key(catalog: Path, prices: Mapping[str, str], sources: list[Path]) -> str:
    stamp = [(str(p.relative_to(catalog)), p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
    text = json.dumps({"prices": dict(sorted(prices.items())), "files": sorted(stamp)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _files(catalog: Path, directory: str, instrument_id: str) -> list[Path]:
    folder = catalog / "data" / directory / instrument_id
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def _converted(path: Path, source: InstrumentSpec, target: InstrumentSpec) -> pd.DataFrame:
    table = pq.read_table(path)
    factor = float(Decimal(target.coin_units) / Decimal(source.coin_units))
    tick, lot = float(target.tick_size), float(target.qty_step)
    price = np.rint(fixed_to_float(table["price"]) * factor / tick) * tick
    size = np.maximum(np.rint(fixed_to_float(table["size"]) / factor / lot), 1) * lot
    n = table.num_rows
    return pd.DataFrame(
        {
            "symbol": target.symbol,
            "price": np.round(price, target.price_precision),
            "size": np.round(size, target.size_precision),
            "aggressor": table["aggressor_side"].to_numpy().astype(np.int8),
            "trade_id": table["trade_id"].to_pandas(),
            "ts_event": table["ts_event"].to_numpy().astype(np.int64),
            "ts_init": table["ts_init"].to_numpy().astype(np.int64),
            "line": np.arange(1, n + 1, dtype=np.int64),
        },
        columns=list(TRADE_COLUMNS),
    )


def describe(prices: Mapping[str, str], registry: InstrumentRegistry | None = None) -> list[str]:
    """One line per mapping, for the report: which instrument's prints priced which symbol."""
    registry = registry or load_registry()
    lines = []
    for symbol, market in sorted(prices.items()):
        target = registry.get(symbol, BYBIT_LINEAR.name)
        source = registry.counterpart(target, market) if target else None
        name = source.instrument_id if source else f"{symbol} on {market}"
        lines.append(
            f"{symbol}: prices from {name}, not {BYBIT_LINEAR.venue}'s own trades (run.prices)"
        )
    return lines


def mapped_catalog(catalog: Path, symbols: list[str], prices: Mapping[str, str]) -> Path:
    """
    The derived catalog of a run with ``run.prices`` (built once, then reused).

    Raises
    ------
    ValueError
        A mapped symbol with no counterpart on the named market, or no trades there.

    """
    catalog = Path(catalog)
    registry = load_registry()
    pairs: dict[str, tuple[InstrumentSpec, InstrumentSpec]] = {}
    sources: list[Path] = []
    for symbol, market in prices.items():
        target = registry.get(symbol, BYBIT_LINEAR.name)
        source = registry.counterpart(target, market) if target else None
        if target is None or source is None:
            raise ValueError(f"run.prices.{symbol}: no {market} counterpart of {symbol} is known")
        files = _files(catalog, TRADES.directory, source.instrument_id)
        if not files:
            raise ValueError(
                f"run.prices.{symbol}: no trades of {source.instrument_id} in {catalog}; load "
                f"them first (e.g. `liqcascade download binance --market {market} "
                f"--data-type trades --symbols {source.symbol} ... --load`)"
            )
        pairs[symbol] = (target, source)
        sources += files
    for symbol in symbols:
        sources += _files(catalog, LIQUIDATIONS.directory, registry.get(symbol).instrument_id)
    root = catalog.parent / "price_mapped" / _key(catalog, prices, sources)
    if (root / _COMPLETE).exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    # Everything but the mapped symbols' trades: linked, never copied.
    for folder in (catalog / "data").glob("*/*"):
        mapped_ids = {target.instrument_id for target, _ in pairs.values()}
        if folder.parent.name == TRADES.directory and folder.name in mapped_ids:
            continue
        link = root / "data" / folder.parent.name / folder.name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(folder.resolve(), link, target_is_directory=True)
    with CatalogWriter(root) as writer:
        for target, source in pairs.values():
            for path in _files(catalog, TRADES.directory, source.instrument_id):
                writer.add_trades(_converted(path, source, target), target, path)
            # The instrument folder is a link into the real catalog: never written through.
            if not any((root / "data").glob(f"*/{target.instrument_id}")):
                writer.add_instrument(to_instrument(target))
    (root / _COMPLETE).write_text(json.dumps(dict(prices)))
    return root


def prices_table(value: object) -> dict[str, str]:
    """Validate ``run.prices``: a table of symbol -> market name (not Bybit's own)."""
    from liqcascade.data_loaders.instruments import MARKETS

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f'run.prices: expected a table of SYMBOL = "market", got {value!r}')
    result = {}
    for symbol, market in value.items():
        if market not in MARKETS or market == BYBIT_LINEAR.name:
            others = ", ".join(m for m in MARKETS if m != BYBIT_LINEAR.name)
            raise ValueError(f"run.prices.{symbol}: expected one of {others}, got {market!r}")
        result[str(symbol).upper()] = str(market)
    return result
