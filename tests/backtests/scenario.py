"""Hand-made markets for runner-level tests, written in Bybit's wire formats and loaded with the
real loaders, then run from a run config through the runner (the path `liqcascade backtest`
takes). Times are seconds after ``T0``; every print and liquidation is spelled out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import RunResult
from liqcascade.backtests.runner import run_spec
from liqcascade.data_loaders.load import LoadOptions
from liqcascade.data_loaders.load import load_files
from liqcascade.strategies.event_log import read_events

T0_S = 1_741_010_400  # 2025-03-03 14:00 UTC, a Monday
S = 1_000_000_000
HEADER = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
HEADER += "foreignNotional"
#: Two large long liquidations (warm threshold 80 000): a cascade declared at 6 s (+1 ns).
CASCADE_LONGS = [(5.0, "LONG", 2000.0, 50.0), (6.0, "LONG", 2000.0, 60.0)]


@dataclass
class Market:
    """Prints ``(t, price, size)`` and liquidations ``(t, position side, price, quantity)``."""

    prints: list[tuple[float, float, float]]
    liquidations: list[tuple[float, str, float, float]] = field(
        default_factory=lambda: list(CASCADE_LONGS)
    )
    symbol: str = "ETHUSDT"

    def write(self, root: Path) -> Path:
        """Raw files in Bybit's formats, loaded into ``root/catalog``; returns the catalog."""
        raw = root / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        lines = [HEADER]
        for i, (t, price, size) in enumerate(self.prints):
            lines.append(
                f"{T0_S + t:.4f},{self.symbol},Sell,{size},{price},ZeroMinusTick,"
                f"00000000-0000-0000-0000-{i:012d},{price * size * 1e8:.6e},{size},{price * size}"
            )
        trades = raw / f"{self.symbol}2025-03-03.csv"
        trades.write_text("\n".join(lines) + "\n")
        pushes = []
        for t, side, price, quantity in self.liquidations:
            ms = round((T0_S + t) * 1000)
            item = {"T": ms, "s": self.symbol, "S": "Buy" if side == "LONG" else "Sell"}
            item |= {"v": str(quantity), "p": str(price)}
            message = {"topic": f"allLiquidation.{self.symbol}", "type": "snapshot", "ts": ms}
            pushes.append({"recv_ts_ns": ms * 1_000_000, "msg": message | {"data": [item]}})
        liquidations = raw / f"allLiquidation_{self.symbol}.jsonl"
        liquidations.write_text("".join(json.dumps(p) + "\n" for p in pushes))
        catalog = root / "catalog"
        # Prints arrive when they are printed here: the times below are the times the engine sees.
        load_files("bybit-trades", [trades], catalog, LoadOptions(trade_feed_delay_ns=0))
        load_files("bybit-liquidations", [liquidations], catalog, LoadOptions())
        return catalog


STRATEGY = """
[defaults]
min_history = 1000000   # keep the warm threshold: every 100k liquidation is large
history = 1000000
daily_loss_limit = 1.0
weekly_loss_limit = 1.0
cooldown_s = 0
trade_notional = 2000.0
skip_weekends = false

[symbols.ETHUSDT]
warm_threshold = 80000

[symbols.SOLUSDT]
warm_threshold = 80000
"""


@dataclass
class Run:
    """A finished run and its event log."""

    result: RunResult
    events: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def run_market(
    root: Path,
    market: Market | list[Market],
    *overrides: str,
    strategy: str = STRATEGY,
    **venue: Any,
) -> Run:
    """Write the market(s), a run config and its strategy file; run it through the runner.

    The event log returned is the first market's symbol's; :func:`events_of` reads another's.
    """
    markets = market if isinstance(market, list) else [market]
    for each in markets:
        each.write(root)
    market = markets[0]
    symbols = ", ".join(f'"{m.symbol}"' for m in markets)
    (root / "strategy.toml").write_text(strategy)
    venue_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in venue.items())
    (root / "run.toml").write_text(
        f"""
[run]
name = "scenario"
catalog = "catalog"
output = "output"
strategy = "strategy.toml"
symbols = [{symbols}]
starting_balance = 100000.0
leverage = 10
cascade_charts = 0

[venue]
{venue_lines}
"""
    )
    (spec,) = load_runs(root / "run.toml", list(overrides), scenarios=False)
    folder = root / "run"
    result = run_spec(spec, folder, echo=lambda _: None)
    result.dispose()
    return Run(result, events_of(folder, market.symbol))


def events_of(folder: Path, symbol: str) -> list[dict[str, Any]]:
    """One symbol's logged events but its liquidations."""
    log = folder / f"events-{symbol}.jsonl"
    return read_events(log, skip=("liquidation",)) if log.exists() else []


def at(t: float) -> int:
    """``T0 + t`` seconds in UNIX ns (whole milliseconds, as the trade files carry them)."""
    return (T0_S * 1000 + round(t * 1000)) * 1_000_000
