"""A generated hourly market for System B's seed rules: the seed's 20 symbols, planted crashes.

Prices are a correlated random walk (0.4 % market + 0.4 % own noise an hour: far from the
seed's -5 % threshold, so only planted bars can qualify); volumes are lognormal around a level
per asset. :class:`Episode` plants returns and volume multipliers at chosen hours. The market is
written as Bybit kline CSV files (``SYMBOL_60_FIRST_LAST.csv``) with an instruments file for its
symbols (synthetic specs: tick and lot sizes picked for the price level, not the venue's) and
loaded with the project's own loader, so the engine reads it like real data.

:func:`edge_case_episodes` is the small market of the reference test; :func:`random_episodes`
the large one of ``benchmarks/seed_reference.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

SEED_UNIVERSE = (
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT",
    "DOTUSDT", "MATICUSDT", "LTCUSDT", "SHIBUSDT", "TRXUSDT", "LINKUSDT", "BCHUSDT", "UNIUSDT",
    "XLMUSDT", "ATOMUSDT", "FILUSDT", "ETCUSDT",
)  # fmt: skip
#: Start prices (2023-01-01 levels, roughly).
BASE_PRICE = {
    "BTCUSDT": 16_500.0, "ETHUSDT": 1_200.0, "BNBUSDT": 245.0, "SOLUSDT": 10.0,
    "XRPUSDT": 0.34, "ADAUSDT": 0.25, "DOGEUSDT": 0.07, "AVAXUSDT": 11.0, "DOTUSDT": 4.3,
    "MATICUSDT": 0.76, "LTCUSDT": 70.0, "SHIBUSDT": 0.0000083, "TRXUSDT": 0.055,
    "LINKUSDT": 5.6, "BCHUSDT": 97.0, "UNIUSDT": 5.2, "XLMUSDT": 0.072, "ATOMUSDT": 9.4,
    "FILUSDT": 3.0, "ETCUSDT": 16.0,
}  # fmt: skip
NS_PER_HOUR = 3_600_000_000_000
#: USDT an hour: far above the trades' 1,000, and SHIB's volume in coins stays within the
#: framework's largest quantity (3.4e13 at 16 decimals).
HOURLY_QUOTE_VOLUME = 2_000_000.0


@dataclass(frozen=True)
class Plant:
    """One asset's planted bar: its return and a volume multiplier, ``offset`` bars after."""

    offset: int
    ret: float
    volume_x: float = 1.0


@dataclass(frozen=True)
class Episode:
    """Planted bars of several assets around bar ``hour`` (index of the bar, 0 = first)."""

    hour: int
    plants: dict[str, tuple[Plant, ...]]
    label: str = ""


def crash(drop: float, *after: float) -> tuple[Plant, ...]:
    """A crash-branch bar (``drop`` on 6x volume) and the returns of the bars after it."""
    return (Plant(0, drop, 6.0), *(Plant(i + 1, r) for i, r in enumerate(after)))


def cascade(first: float, second: float, *after: float) -> tuple[Plant, ...]:
    """A cascade-branch bar: ``first`` on normal volume, then ``second`` on 4x volume."""
    return (
        Plant(-1, first),
        Plant(0, second, 4.0),
        *(Plant(i + 1, r) for i, r in enumerate(after)),
    )


def edge_case_episodes() -> list[Episode]:
    """
    The reference test's episodes (8 assets, bars 200..320): every edge case of the rules.

    * 200 crash branch: BTC bounces then gains 2.6 % (exit after 1 h), ETH bounces and drifts
      (exit after 2 h), SOL falls further (failed bounce), XRP bounces.
    * 230 cascade branch (-6.5 % on normal volume, then -2.2 % on a spike): ADA and DOGE
      bounce, AVAX does not.
    * 260 and 262: BTC, ETH, SOL crash; BTC crashes again two bars later while held (seed:
      bought again as its first trade ends; trailing rules: its hold ends on the new crash bar).
    * 265: BTC crashes on the bar its second trade's hold ends.
    * 290: SOL, ETH, XRP crash -9 .. -10 %; the bounce bar (+1 % on a spike) is itself a
      cascade bar (r2 < -8 %, r1 > -3 %): a second event one bar later, and trades in one asset
      overlapping in time.
    * 310: only two assets crash (no event).
    """
    return [
        Episode(
            200,
            {
                "BTCUSDT": crash(-0.06, 0.01, 0.026),
                "ETHUSDT": crash(-0.065, 0.008, 0.003, 0.004),
                "SOLUSDT": crash(-0.07, -0.005),
                "XRPUSDT": crash(-0.055, 0.002, -0.01, 0.001),
            },
            "crash branch, exits after 1 h and 2 h, failed bounce",
        ),
        Episode(
            230,
            {
                "ADAUSDT": cascade(-0.065, -0.022, 0.01, 0.004, 0.002),
                "DOGEUSDT": cascade(-0.066, -0.021, 0.005, 0.03),
                "AVAXUSDT": cascade(-0.067, -0.025, -0.003),
            },
            "cascade branch",
        ),
        Episode(
            260,
            {
                "BTCUSDT": crash(-0.06, 0.005),  # its bar 262 is planted below
                "ETHUSDT": crash(-0.062, 0.006, 0.002, 0.001),
                "SOLUSDT": crash(-0.058, 0.004, 0.001, 0.002),
            },
            "BTC crashes again at 262 while held",
        ),
        Episode(
            262,
            {
                "BTCUSDT": crash(-0.061, 0.007, 0.001),
                "XRPUSDT": crash(-0.06, 0.004, 0.002, 0.001, 0.0),
                "ADAUSDT": crash(-0.07, 0.006, 0.001, 0.002, 0.0),
            },
            "with BTC's second crash",
        ),
        Episode(
            265,
            {
                "BTCUSDT": crash(-0.063, 0.004, 0.001, 0.001),
                "LINKUSDT": crash(-0.064, 0.003, 0.002, 0.001),
                "DOGEUSDT": crash(-0.061, -0.004),
            },
            "BTC crashes on the bar its hold ends",
        ),
        Episode(
            290,
            {
                asset: (Plant(0, drop, 6.0), Plant(1, 0.01, 4.0), Plant(2, 0.015), Plant(3, 0.004))
                for asset, drop in (("SOLUSDT", -0.10), ("ETHUSDT", -0.09), ("XRPUSDT", -0.095))
            },
            "the bounce bar is a cascade bar: overlapping trades",
        ),
        Episode(
            310,
            {"LINKUSDT": crash(-0.07, 0.01), "AVAXUSDT": crash(-0.07, 0.01)},
            "two assets only: no event",
        ),
    ]


def random_episodes(
    symbols: tuple[str, ...], hours: int, count: int, seed: int, first_hour: int = 200
) -> list[Episode]:
    """
    ``count`` random episodes: 2-7 assets each, crash or cascade bars, random bounces and
    gains; hours drawn at random (episodes may fall on the bars after another's).
    """
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(count):
        hour = int(rng.integers(first_hour, hours - 6))
        chosen = rng.choice(len(symbols), size=int(rng.integers(2, 8)), replace=False)
        plants = {}
        for index in chosen:
            bounce = float(rng.choice([-1, 1], p=[0.3, 0.7]) * rng.uniform(0.001, 0.02))
            after = (bounce, float(rng.normal(0.005, 0.02)), float(rng.normal(0.0, 0.01)))
            if rng.random() < 0.7:
                plants[symbols[index]] = crash(float(rng.uniform(-0.12, -0.051)), *after)
            else:  # r2 from about -10.7 % to -6.4 %: some qualify, some do not
                first = float(rng.uniform(-0.08, -0.055))
                plants[symbols[index]] = cascade(first, float(rng.uniform(-0.029, -0.01)), *after)
        episodes.append(Episode(hour, plants, "random"))
    return episodes


def tick_of(price: float) -> Decimal:
    """A tick giving 5 significant digits or more."""
    return Decimal(1).scaleb(math.floor(math.log10(price)) - 4)


def lot_of(price: float) -> Decimal:
    """A lot step worth at most about 1 USDT at ``price``."""
    return Decimal(1).scaleb(max(-3, math.floor(math.log10(1.0 / price))))


@dataclass(frozen=True)
class Market:
    """The generated bars in whole ticks and lots, exactly as the kline files state them."""

    index: pd.DatetimeIndex  # bar close times (UTC)
    close_ticks: dict[str, np.ndarray]
    volume_lots: dict[str, np.ndarray]

    @property
    def symbols(self) -> tuple[str, ...]:
        """The generated symbols."""
        return tuple(self.close_ticks)


def generate(
    symbols: tuple[str, ...],
    start: str,
    hours: int,
    episodes: list[Episode],
    seed: int = 13,
) -> Market:
    """Random walk plus planted episodes, rounded to each symbol's tick and lot."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.004, size=(hours, 1))
    logs = common + rng.normal(0.0, 0.004, size=(hours, len(symbols)))
    volume_x = np.exp(rng.normal(0.0, 0.3, size=(hours, len(symbols))))
    column = {s: i for i, s in enumerate(symbols)}
    for episode in episodes:
        for symbol, plants in episode.plants.items():
            if symbol not in column:
                continue
            for plant in plants:
                row = episode.hour + plant.offset
                if 0 < row < hours:
                    logs[row, column[symbol]] = math.log1p(plant.ret)
                    volume_x[row, column[symbol]] *= plant.volume_x
    logs[0, :] = 0.0
    close_ticks, volume_lots = {}, {}
    for i, symbol in enumerate(symbols):
        base = BASE_PRICE[symbol]
        tick, lot = float(tick_of(base)), float(lot_of(base))
        path = base * np.exp(np.cumsum(logs[:, i]))
        close_ticks[symbol] = np.maximum(np.round(path / tick), 1).astype(np.int64)
        lots = np.round(HOURLY_QUOTE_VOLUME / path * volume_x[:, i] / lot)
        volume_lots[symbol] = np.maximum(lots, 1).astype(np.int64)
    index = pd.date_range(start, periods=hours, freq="h", tz="UTC") + pd.Timedelta(hours=1)
    return Market(index, close_ticks, volume_lots)


def _fixed(units: int, step: Decimal) -> str:
    return str(Decimal(int(units)) * step)


def write_klines(market: Market, out: Path) -> list[Path]:
    """One Bybit kline CSV per symbol: open = previous close, high/low bracket both."""
    out.mkdir(parents=True, exist_ok=True)
    index = market.index
    opens_at = index - pd.Timedelta(hours=1)
    start_ms = (opens_at.as_unit("ns").asi8 // 1_000_000).tolist()
    first, last = f"{opens_at[0]:%Y-%m-%d}", f"{opens_at[-1]:%Y-%m-%d}"
    paths = []
    for symbol in market.symbols:
        base = BASE_PRICE[symbol]
        tick, lot = tick_of(base), lot_of(base)
        c, v = market.close_ticks[symbol], market.volume_lots[symbol]
        o = np.concatenate([c[:1], c[:-1]])
        rows = ["startTime,open,high,low,close,volume,turnover"]
        for i in range(len(index)):
            high, low = max(o[i], c[i]), min(o[i], c[i])
            turnover = Decimal(int(v[i])) * lot * Decimal(int(c[i])) * tick
            rows.append(
                f"{start_ms[i]},{_fixed(o[i], tick)},{_fixed(high, tick)},{_fixed(low, tick)},"
                f"{_fixed(c[i], tick)},{_fixed(v[i], lot)},{turnover:.2f}"
            )
        path = out / f"{symbol}_60_{first}_{last}.csv"
        path.write_text("\n".join(rows) + "\n")
        paths.append(path)
    return paths


def write_instruments(symbols: tuple[str, ...], path: Path) -> Path:
    """Synthetic linear-perpetual specs for ``symbols`` in ``configs/instruments.toml``'s format."""
    lines = ["# Synthetic specs for a generated market (tests only): ticks and lots by price."]
    for symbol in symbols:
        base = BASE_PRICE[symbol]
        tick, lot = tick_of(base), lot_of(base)
        lines += [
            "",
            f"[{symbol}]",
            f'base = "{symbol.removesuffix("USDT")}"',
            f'tick_size = "{tick}"',
            f'qty_step = "{lot}"',
            f'min_qty = "{lot}"',
            'max_qty = "1000000000000"',
            'min_notional = "5"',
            'maker_fee = "0.0002"',
            'taker_fee = "0.00055"',
            'max_leverage = "50"',
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def build_catalog(
    root: Path,
    symbols: tuple[str, ...],
    start: str,
    hours: int,
    episodes: list[Episode],
    seed: int = 13,
) -> tuple[Path, Market]:
    """Generate, write raw files under ``root/raw`` and load them into ``root/catalog``."""
    from liqcascade.data_loaders.load import load_files

    market = generate(symbols, start, hours, episodes, seed)
    files = write_klines(market, root / "raw" / "klines")
    specs = write_instruments(symbols, root / "raw" / "instruments.toml")
    load_files("bybit-klines", files, root / "catalog", instruments=[specs])
    return root / "catalog", market
