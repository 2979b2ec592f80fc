"""Run CrashReversion in a real BacktestEngine on crafted hourly bars of several instruments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType

from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import to_instrument
from liqcascade.strategies.crash_reversion import CrashReversion
from liqcascade.strategies.crash_reversion import CrashReversionConfig
from liqcascade.strategies.event_log import read_events
from tests.strategies.harness import new_engine

S = 1_000_000_000
HOUR = 3600 * S
T0 = 1_704_067_200 * S  # 2024-01-01 00:00 UTC: the first bar closes at T0 + 1 h
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
BAR_SPEC = "1-HOUR-LAST-EXTERNAL"


@dataclass
class BarRun:
    """What a harness run leaves behind."""

    engine: BacktestEngine
    events: list[dict[str, Any]]

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        """Events of one kind (and symbol), in order."""
        return [
            e
            for e in self.events
            if e["event"] == kind and (symbol is None or e["symbol"] == symbol)
        ]

    def fills(self) -> list[Any]:
        """Every order fill of the run, in order."""
        return [
            event
            for order in self.engine.cache.orders()
            for event in order.events
            if type(event).__name__ == "OrderFilled"
        ]


def make_bars(
    symbol: str, closes: list[float], volumes: list[float], lows: list[float] | None = None
) -> list[Bar]:
    """Hourly bars closing at ``T0 + (i + 1) h``; open = previous close, low/high bracket both."""
    instrument = to_instrument(load_specs()[symbol])
    bar_type = BarType.from_str(f"{instrument.id}-{BAR_SPEC}")
    bars = []
    previous = closes[0]
    for i, (close, volume) in enumerate(zip(closes, volumes, strict=True)):
        low = min(previous, close) if lows is None or lows[i] is None else lows[i]
        ts = T0 + (i + 1) * HOUR
        bars.append(
            Bar(
                bar_type,
                instrument.make_price(Decimal(str(previous))),
                instrument.make_price(Decimal(str(max(previous, close)))),
                instrument.make_price(Decimal(str(low))),
                instrument.make_price(Decimal(str(close))),
                instrument.make_qty(Decimal(str(volume))),
                ts,
                ts,
            )
        )
        previous = close
    return bars


def run_bars(
    tmp_path: Path,
    bars_by_symbol: dict[str, list[Bar]],
    balance: float = 1_000_000.0,
    taker_bps: float = 0.0,
    **overrides: Any,
) -> BarRun:
    """Run one CrashReversion over every symbol's bars; return the engine and its event log."""
    specs = load_specs()
    instruments = [to_instrument(specs[s]) for s in bars_by_symbol]
    bars = sorted((b for bs in bars_by_symbol.values() for b in bs), key=lambda b: b.ts_init)
    params = {"lookback": 20, "min_history": 10, **overrides}
    venue = ["venue.maker_fee_bps=0", f"venue.taker_fee_bps={taker_bps}"]
    return run_engine(tmp_path, instruments, bars, venue, balance=balance, **params)


def run_engine(
    tmp_path: Path,
    instruments: list[Any],
    bars: list[Bar],
    venue: Sequence[str] = (),
    config: str = "backtest_crash_reversion",
    balance: float = 1_000_000.0,
    **params: Any,
) -> BarRun:
    """
    One CrashReversion over ``instruments`` in a real engine, fed ``bars`` in THEIR order.

    The venue is System B's run venue of the shipped run ``config`` with the run-config keys
    ``venue`` (fees). The engine sorts its data by ``ts_init`` with a stable sort, so bars of
    one time stamp arrive in the order given: a test can permute them.
    """
    engine = new_engine(balance, config=config, overrides=venue, bars_only=True)
    for instrument in instruments:
        engine.add_instrument(instrument)
    engine.add_data(list(bars))
    log = tmp_path / f"events-b-{len(list(tmp_path.glob('events-b-*')))}.jsonl"
    config = CrashReversionConfig(
        instrument_ids=[i.id.value for i in instruments],
        **{"notional_per_asset": 1000.0, "event_log_path": str(log), **params},
    )
    engine.add_strategy(CrashReversion(config))
    engine.run()
    events = read_events(log) if log.exists() else []
    return BarRun(engine=engine, events=events)
