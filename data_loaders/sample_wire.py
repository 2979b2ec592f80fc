"""Writers of the sample market's files in the real sources' wire formats.

Bybit's public trade-history CSV (gzip), recorder-wrapped ``allLiquidation`` websocket pushes
(JSON lines, gzip, batched by the 500 ms push interval, with a receipt latency) and 1h klines
CSV, written from the integers the model produces (:class:`~.sample_symbol.SymbolSim`,
:class:`~.sample_bars.Bars`). The trade files are rendered column-wise with numpy (they dominate
the run time); every number is written exactly as Bybit writes it. Trade ids and receipt
latencies come from their own random streams, so they never shift the model's draws.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from liqcascade.data_loaders.sample_bars import Bars
from liqcascade.data_loaders.sample_market import DAY_S
from liqcascade.data_loaders.sample_market import S_IDS
from liqcascade.data_loaders.sample_market import S_WIRE
from liqcascade.data_loaders.sample_market import Grid
from liqcascade.data_loaders.sample_market import Market
from liqcascade.data_loaders.sample_market import iso_date
from liqcascade.data_loaders.sample_market import stream_rng
from liqcascade.data_loaders.sample_symbol import SymbolSim

TRADES_HEADER = (
    "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    "foreignNotional"
)
KLINES_HEADER = "startTime,open,high,low,close,volume,turnover"
#: Bybit's tick directions, indexed by :attr:`~.sample_symbol.SymbolSim.tick_dir`.
TICK_DIRECTIONS = ("PlusTick", "ZeroPlusTick", "MinusTick", "ZeroMinusTick")

_PUSH_MS = 500  # Bybit allLiquidation push interval
_TRADES_GZIP_LEVEL = 1  # the trade files dominate generation time; level 6 is only 13 % smaller


def _fixed_str(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


_Field = tuple[np.ndarray, np.ndarray | None]  # (N, w) ASCII bytes, validity mask (None: all)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + 48).astype(np.uint8)


def _n_digits(values: np.ndarray, width: int) -> np.ndarray:
    count = np.ones(len(values), dtype=np.int64)
    for k in range(1, width):
        count += values >= 10**k
    return count


def _const(text: bytes, n: int) -> _Field:
    return np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (n, len(text))), None


def _choice(options: tuple[str, ...], index: np.ndarray) -> _Field:
    width = max(len(o) for o in options)
    table = np.zeros((len(options), width), dtype=np.uint8)
    for i, option in enumerate(options):
        table[i, : len(option)] = np.frombuffer(option.encode(), dtype=np.uint8)
    lengths = np.array([len(o) for o in options])
    return table[index], np.arange(width) < lengths[index][:, None]


def _int_part(values: np.ndarray) -> _Field:
    width = len(str(int(values.max()))) if len(values) else 1
    mask = np.arange(width) >= (width - _n_digits(values, width))[:, None]
    return _digits(values, width), mask


def _fixed(values: np.ndarray, decimals: int, trim: bool = False) -> _Field:
    """Non-negative fixed-point integers (``decimals`` implied) as decimal text."""
    scale = 10**decimals
    mat, mask = _int_part(values // scale)
    if decimals == 0:
        return mat, mask
    n = len(values)
    frac = values % scale
    frac_mask: np.ndarray | None = None
    dot_mask: np.ndarray | None = None
    if trim:
        zeros = np.zeros(n, dtype=np.int64)
        for j in range(1, decimals + 1):
            zeros += frac % 10**j == 0
        keep = decimals - zeros
        frac_mask = np.arange(decimals) < keep[:, None]
        dot_mask = (keep > 0)[:, None]
    return (
        np.concatenate([mat, np.full((n, 1), ord("."), np.uint8), _digits(frac, decimals)], 1),
        np.concatenate(
            [
                mask,
                np.ones((n, 1), bool) if dot_mask is None else dot_mask,
                np.ones((n, decimals), bool) if frac_mask is None else frac_mask,
            ],
            1,
        ),
    )


def _scientific(values: np.ndarray, exponent_shift: int) -> _Field:
    """``'%.6g'`` of ``values * 10**exponent_shift`` for integers whose result is >= 1e6."""
    n = len(values)
    width = len(str(int(values.max()))) if n else 1
    nd = _n_digits(values, width)
    over = np.maximum(nd - 6, 0)
    div = 10**over
    mant = np.where(nd > 6, (values + div // 2) // div, values * 10 ** np.maximum(6 - nd, 0))
    exp = nd - 1 + exponent_shift
    carry = mant >= 10**6
    mant = np.where(carry, mant // 10, mant)
    exp = exp + carry
    mat, _ = _fixed(mant, 5, trim=False)
    _, mask = _fixed(mant, 5, trim=True)
    e_digits = _digits(exp, 2)
    return (
        np.concatenate([mat, np.broadcast_to(np.frombuffer(b"e+", np.uint8), (n, 2)), e_digits], 1),
        np.concatenate([mask, np.ones((n, 4), bool)], 1),
    )


def _render(fields: list[_Field]) -> bytes:
    """Join the fields with commas into newline-terminated lines."""
    n = len(fields[0][0])
    parts: list[_Field] = []
    for i, field in enumerate(fields):
        parts.append(field)
        parts.append(_const(b"," if i < len(fields) - 1 else b"\n", n))
    mat = np.concatenate([p[0] for p in parts], axis=1)
    mask = np.concatenate(
        [np.ones(p[0].shape, bool) if p[1] is None else p[1] for p in parts], axis=1
    )
    return mat[mask].tobytes()


def _uuids(rng: np.random.Generator, n: int) -> _Field:
    """Random (version 4 layout) UUID strings."""
    hexed = np.frombuffer(rng.bytes(16 * n).hex().encode(), dtype=np.uint8).reshape(n, 32).copy()
    hexed[:, 12] = ord("4")
    hexed[:, 16] = np.frombuffer(b"89ab", np.uint8)[hexed[:, 16] % 4]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst in ((0, 0), (8, 9), (12, 14), (16, 19), (20, 24)):
        width = {0: 8, 8: 4, 12: 4, 16: 4, 20: 12}[src]
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return out, None


def write_trades(
    path: Path, symbol: str, grid: Grid, sim: SymbolSim, lo: int, hi: int, seed: int, day: int
) -> None:
    """One day's trade CSV (trades ``lo`` to ``hi`` of ``sim``), gzip at level 1, no mtime."""
    n = hi - lo
    header = (TRADES_HEADER + "\n").encode()
    body = b""
    if n:
        price, size = sim.price[lo:hi], sim.size[lo:hi]
        notional = price * size  # exact, 10^-(pp+sp) units
        size_field = _fixed(size, grid.sp)
        body = _render(
            [
                _fixed(sim.ts[lo:hi], 4),
                _const(symbol.encode(), n),
                _choice(("Sell", "Buy"), sim.buy[lo:hi].astype(np.int64)),
                size_field,
                _fixed(price, grid.pp),
                _choice(TICK_DIRECTIONS, sim.tick_dir[lo:hi]),
                _uuids(stream_rng(seed, symbol, S_IDS, day), n),
                _scientific(notional, 8 - grid.pp - grid.sp),
                size_field,
                _fixed(notional, grid.pp + grid.sp, trim=True),
            ]
        )
    path.write_bytes(gzip.compress(header + body, compresslevel=_TRADES_GZIP_LEVEL, mtime=0))


def write_liquidations(
    out: Path, symbol: str, grid: Grid, sim: SymbolSim, market: Market
) -> list[Path]:
    """One JSON-lines file per event day: each push batches a 500 ms interval's events."""
    rng = stream_rng(market.config.seed, symbol, S_WIRE, 1)
    interval = sim.liq_ms // _PUSH_MS
    starts = np.flatnonzero(np.diff(interval, prepend=-1))
    ends = np.append(starts[1:], len(interval))
    latency_ns = rng.integers(20_000_000, 120_000_001, len(starts))
    lines: dict[str, list[str]] = {market.date(d): [] for d in range(market.config.days)}
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        push_ms = int(interval[a] + 1) * _PUSH_MS
        data = [
            {
                "T": int(sim.liq_ms[i]),
                "s": symbol,
                "S": "Buy" if sim.liq_long[i] else "Sell",
                "v": _fixed_str(int(sim.liq_size[i]), grid.sp),
                "p": _fixed_str(int(sim.liq_price[i]), grid.pp),
            }
            for i in range(a, b)
        ]
        msg = {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": push_ms, "data": data}
        record = {"recv_ts_ns": push_ms * 1_000_000 + int(latency_ns[k]), "msg": msg}
        day = iso_date(int(interval[a]) * _PUSH_MS / 1000)
        lines[day].append(json.dumps(record, separators=(",", ":")))
    paths = []
    for date, day_lines in lines.items():
        path = out / f"allLiquidation_{symbol}_{date}.jsonl.gz"
        text = "".join(line + "\n" for line in day_lines)
        path.write_bytes(gzip.compress(text.encode(), compresslevel=6, mtime=0))
        paths.append(path)
    return paths


def write_klines(out: Path, symbol: str, grid: Grid, bars: list[Bars], market: Market) -> Path:
    """One klines CSV covering ``bars`` (the history's, then the trade-level days')."""
    first = market.hist_start_s
    last = market.start_s + (market.config.days - 1) * DAY_S
    name = f"{symbol}_60_{iso_date(first)}_{iso_date(last)}.csv"

    def fmt(units: int) -> str:
        return _fixed_str(units, grid.pp)

    rows = [KLINES_HEADER]
    for b in bars:
        for i in range(len(b.start_ms)):
            rows.append(
                ",".join(
                    (
                        str(int(b.start_ms[i])),
                        fmt(int(b.open[i])),
                        fmt(int(b.high[i])),
                        fmt(int(b.low[i])),
                        fmt(int(b.close[i])),
                        _fixed_str(int(b.volume[i]), grid.sp),
                        _fixed_str(int(b.turnover[i]), grid.pp + grid.sp),
                    )
                )
            )
    path = out / name
    path.write_text("\n".join(rows) + "\n")
    return path
