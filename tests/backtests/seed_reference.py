"""An independent reference of the seed notebook's rules, in plain pandas.

Written from the rule list of issue #13 (the notebook's rules), not from the strategy's code:
vectorised over an hourly grid, as a notebook would, with nothing in common with the engine path
but the bars it reads.

* r1 = 1 h return, r2 = 2 h return, v = the bar's volume; rolling windows of 168 bars
  including the current bar (``rolling(168).quantile``).
* crash: r1 < -5 % and v > P95; or cascade: r2 < -8 % and r1 > -3 % and v > P90.
* event: at least 3 assets qualify on the same bar.
* entry: at the close of the bar after the crash bar, for assets whose return over that bar
  is > 0.
* exit: if the return one hour after entry is > 2 %, exit then; otherwise two hours after entry.
* cost: a flat 0.2 % per trade; trades of one asset may overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

WINDOW = 168
COST = 0.002


def bar_frames(
    catalog: Path, instrument_ids: Sequence[str], bar_spec: str = "1-HOUR-LAST-EXTERNAL"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Closes and volumes per symbol from a catalog, on a complete hourly grid (NaN = no bar)."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    bars = ParquetDataCatalog(str(catalog)).bars(
        bar_types=[f"{i}-{bar_spec}" for i in instrument_ids]
    )
    rows = [
        (b.bar_type.instrument_id.symbol.value.removesuffix("-LINEAR"), b.ts_event, b) for b in bars
    ]
    frame = pd.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "time": pd.to_datetime([r[1] for r in rows], unit="ns", utc=True),
            "close": [float(r[2].close) for r in rows],
            "volume": [float(r[2].volume) for r in rows],
        }
    )
    grid = pd.date_range(frame["time"].min(), frame["time"].max(), freq="h")
    closes = frame.pivot(index="time", columns="symbol", values="close").reindex(grid)
    volumes = frame.pivot(index="time", columns="symbol", values="volume").reindex(grid)
    return closes, volumes


def reference_trades(closes: pd.DataFrame, volumes: pd.DataFrame) -> pd.DataFrame:
    """
    The notebook's trades on an hourly grid of closes and volumes.

    Returns
    -------
    pd.DataFrame
        One row per trade: ``symbol``, ``crash_time``, ``entry_time``, ``exit_time``,
        ``entry``, ``exit``, ``ret`` (after the 0.2 % cost), ``branch`` (crash/cascade),
        ``exit_after_h`` (1 or 2). Trades whose exit bar lies beyond the data are left out
        (still open at the end). Sorted by entry time and symbol.

    """
    r1 = closes / closes.shift(1) - 1
    r2 = closes / closes.shift(2) - 1
    p95 = volumes.rolling(WINDOW).quantile(0.95)
    p90 = volumes.rolling(WINDOW).quantile(0.90)
    crash = (r1 < -0.05) & (volumes > p95)
    cascade = (r2 < -0.08) & (r1 > -0.03) & (volumes > p90)
    qualifies = crash | cascade
    event = qualifies.sum(axis=1) >= 3

    nxt = closes.shift(-1)  # the bar after the crash bar: the entry
    one_after = closes.shift(-2)  # one hour after the entry
    two_after = closes.shift(-3)  # two hours after the entry
    bounce = nxt / closes - 1 > 0
    gain_1h = one_after / nxt - 1
    hour = pd.Timedelta(hours=1)

    rows = []
    for t in closes.index[event]:
        for symbol in closes.columns[qualifies.loc[t]]:
            if not bounce.loc[t, symbol]:
                continue
            entry = nxt.loc[t, symbol]
            if gain_1h.loc[t, symbol] > 0.02:
                exit_price, after = one_after.loc[t, symbol], 1
            else:
                exit_price, after = two_after.loc[t, symbol], 2
            if pd.isna(exit_price):
                continue  # still open when the data end
            rows.append(
                {
                    "symbol": symbol,
                    "crash_time": t,
                    "entry_time": t + hour,
                    "exit_time": t + hour + after * hour,
                    "entry": entry,
                    "exit": exit_price,
                    "ret": exit_price / entry - 1 - COST,
                    "branch": "crash" if crash.loc[t, symbol] else "cascade",
                    "exit_after_h": after,
                }
            )
    columns = [
        "symbol", "crash_time", "entry_time", "exit_time", "entry", "exit", "ret", "branch",
        "exit_after_h",
    ]  # fmt: skip
    trades = pd.DataFrame(rows, columns=columns)
    return trades.sort_values(["entry_time", "symbol"], kind="stable").reset_index(drop=True)


def qualifying_not_entered(closes: pd.DataFrame, volumes: pd.DataFrame) -> pd.DataFrame:
    """Event members without a bounce (the failed confirmations), for the edge-case checks."""
    r1 = closes / closes.shift(1) - 1
    r2 = closes / closes.shift(2) - 1
    crash = (r1 < -0.05) & (volumes > volumes.rolling(WINDOW).quantile(0.95))
    cascade = (r2 < -0.08) & (r1 > -0.03) & (volumes > volumes.rolling(WINDOW).quantile(0.90))
    qualifies = crash | cascade
    event = qualifies.sum(axis=1) >= 3
    failed = qualifies & ~(closes.shift(-1) / closes - 1 > 0)
    failed = failed[event]
    pairs = [(t, s) for t in failed.index for s in failed.columns[failed.loc[t]]]
    return pd.DataFrame(pairs, columns=["crash_time", "symbol"])
