"""Reads of a catalog's (or an execution view's) trades and liquidations that runs and reports
need: the span a run covers, the prints a position was open through, the window around a cascade.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from liqcascade.backtests.errors import ConfigError
from liqcascade.data_loaders.arrow_tables import fixed_to_float
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import interval_of
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.strategies.trading_gate import parse_utc


def data_span(
    catalog: Path, symbols: tuple[str, ...], start: str | None, end: str | None
) -> tuple[int, int]:
    """
    First and last ``ts_init`` a System A run covers (config bounds, else the catalog's data).

    Raises
    ------
    ConfigError
        If the catalog holds no trades or liquidations of ``symbols`` at all.

    """
    firsts, lasts = [], []
    for symbol in symbols:
        for directory in (TRADES.directory, LIQUIDATIONS.directory):
            folder = catalog / "data" / directory / instrument_id_for(symbol)
            for f in folder.glob("*.parquet") if folder.exists() else []:
                interval = interval_of(f)
                if interval:
                    firsts.append(interval[0])
                    lasts.append(interval[1])
    if not firsts:
        raise ConfigError(
            f"run.catalog: {catalog} has no trades or liquidations for {', '.join(symbols)}"
        )
    first = max(min(firsts), parse_utc(start)) if start else min(firsts)
    last = min(max(lasts), parse_utc(end)) if end else max(lasts)
    return first, last


def view_prices(view: Path) -> Callable[[str, int, int], Any]:
    """``prices(symbol, start_ns, end_ns)`` from a view's prints (each symbol read once).

    Every trade lies inside the view's windows (the runner checks it), so the view holds every
    print a position was open through.
    """
    import pandas as pd

    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def read(symbol: str, start: int, end: int) -> pd.DataFrame:
        if symbol not in cache:
            folder = view / "data" / TRADES.directory / instrument_id_for(symbol)
            tables = [
                pq.read_table(f, columns=["ts_init", "price"])
                for f in sorted(folder.glob("*.parquet"))
            ]
            if tables:
                table = pa.concat_tables(tables)
                cache[symbol] = (
                    table["ts_init"].to_numpy().astype(np.int64),
                    fixed_to_float(table["price"]),
                )
            else:
                cache[symbol] = (np.array([], np.int64), np.array([], float))
        ts, price = cache[symbol]
        lo, hi = np.searchsorted(ts, [start, end], side="left")
        return pd.DataFrame({"ts_ns": ts[lo:hi], "price": price[lo:hi]})

    return read


def load_window(catalog: Path) -> Callable[[str, int, int], tuple[Any, Any]]:
    """A reader of (prices, liquidations) frames around a cascade, for the cascade charts."""
    import pandas as pd

    def read(symbol: str, start: int, end: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        instrument_id = instrument_id_for(symbol)
        prices, liquidations = [], []
        for directory, sink in ((TRADES.directory, prices), (LIQUIDATIONS.directory, liquidations)):
            folder = catalog / "data" / directory / instrument_id
            for f in sorted(folder.glob("*.parquet")) if folder.exists() else []:
                interval = interval_of(f)
                if interval and interval[1] >= start and interval[0] <= end:
                    sink.append(pq.read_table(f))
        price_frame = pd.DataFrame({"ts_ns": [], "price": []})
        if prices:
            table = pa.concat_tables(prices)
            ts = table["ts_init"].to_numpy().astype(np.int64)
            mask = (ts >= start) & (ts <= end)
            price_frame = pd.DataFrame(
                {"ts_ns": ts[mask], "price": fixed_to_float(table["price"])[mask]}
            )
        liq_frame = pd.DataFrame({"ts_ns": [], "price": [], "side": [], "notional": []})
        if liquidations:
            table = pa.concat_tables(liquidations).to_pandas()
            table = table[(table["ts_init"] >= start) & (table["ts_init"] <= end)]
            liq_frame = pd.DataFrame(
                {
                    "ts_ns": table["ts_init"].to_numpy(),
                    "price": table["price"].to_numpy(),
                    "side": table["side"].to_numpy(),
                    "notional": table["notional"].to_numpy(),
                }
            )
        return price_frame, liq_frame

    return read
