"""Tests of the synthetic sample generator: wire formats, determinism and market properties."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from liqcascade.data_loaders.instruments import InstrumentSpec
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.sample import KLINES_HEADER
from liqcascade.data_loaders.sample import TRADES_HEADER
from liqcascade.data_loaders.sample import SampleConfig
from liqcascade.data_loaders.sample import SampleFiles
from liqcascade.data_loaders.sample import generate_sample

SMALL = SampleConfig(days=2, bar_history_days=10, trade_rate_scale=0.2)
SYMBOLS = SMALL.symbols
DATES = ("2025-03-03", "2025-03-04")
START_S = 1_740_960_000  # 2025-03-03 00:00 UTC
END_S = START_S + 2 * 86_400
P95_TARGETS = {
    "BTCUSDT": 200_000.0,
    "ETHUSDT": 80_000.0,
    "SOLUSDT": 15_000.0,
    "DOGEUSDT": 10_000.0,
    "XRPUSDT": 12_000.0,
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{10}\.\d{4}$")
GROSS_RE = re.compile(r"^\d(\.\d{1,5})?e\+\d{2}$")


# --------------------------------------------------------------------------------------------
# Fixtures and readers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def specs() -> dict[str, InstrumentSpec]:
    return load_specs()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleFiles]:
    root = tmp_path_factory.mktemp("sample")
    return root, generate_sample(root, SMALL)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _on_grid(value: str, step: Decimal) -> bool:
    return Decimal(value) % step == 0


def _trade_rows(path: Path) -> Iterator[list[str]]:
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == TRADES_HEADER.split(",")
        yield from reader


def _trades(root: Path, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamp s, price, size) of all trades of a symbol, in file order."""
    ts: list[float] = []
    px: list[float] = []
    qty: list[float] = []
    for date in DATES:
        for row in _trade_rows(root / "bybit" / "trades" / f"{symbol}{date}.csv.gz"):
            ts.append(float(row[0]))
            px.append(float(row[4]))
            qty.append(float(row[3]))
    return np.array(ts), np.array(px), np.array(qty)


def _liquidation_records(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def _liquidations(root: Path, symbol: str) -> np.ndarray:
    """Rows of (event time s, +1 long liquidated / -1 short liquidated, notional USDT)."""
    rows = []
    for date in DATES:
        path = root / "bybit" / "liquidations" / f"allLiquidation_{symbol}_{date}.jsonl.gz"
        for record in _liquidation_records(path):
            for e in record["msg"]["data"]:
                side = 1.0 if e["S"] == "Buy" else -1.0
                rows.append((e["T"] / 1000.0, side, float(e["v"]) * float(e["p"])))
    return np.array(rows)


def _klines(root: Path, symbol: str) -> list[list[str]]:
    (path,) = (root / "bybit" / "klines").glob(f"{symbol}_60_*.csv")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == KLINES_HEADER.split(",")
    return rows[1:]


def _clusters(events: np.ndarray, gap_s: float = 30.0, min_events: int = 3) -> list[tuple]:
    """Liquidations grouped by gaps <= ``gap_s``: (first s, last s, mostly longs)."""
    out = []
    start = 0
    for i in range(1, len(events) + 1):
        if i == len(events) or events[i, 0] - events[i - 1, 0] > gap_s:
            chunk = events[start:i]
            if len(chunk) >= min_events:
                longs = float((chunk[:, 1] * chunk[:, 2]).sum()) > 0
                out.append((chunk[0, 0], chunk[-1, 0], longs))
            start = i
    return out


def _price_at(ts: np.ndarray, px: np.ndarray, t: float) -> float:
    """Last trade price at or before ``t``."""
    return float(px[max(int(np.searchsorted(ts, t, side="right")) - 1, 0)])


def _cascade_spans(events: np.ndarray, threshold: float, window_s: float = 60.0) -> list[float]:
    """
    Cascades: runs of 2+ events >= threshold, each within ``window_s`` of the previous.

    Returns each cascade's duration (first to last large event), seconds.
    """
    times = np.sort(events[events[:, 2] >= threshold, 0])
    spans = []
    start = 0
    for i in range(1, len(times) + 1):
        if i < len(times) and times[i] - times[i - 1] <= window_s:
            continue
        if i - start >= 2:
            spans.append(float(times[i - 1] - times[start]))
        start = i
    return spans


# --------------------------------------------------------------------------------------------
# Files, determinism and validation
# --------------------------------------------------------------------------------------------


def test_returns_and_writes_expected_files(sample: tuple[Path, SampleFiles]) -> None:
    root, files = sample
    bybit = root / "bybit"
    assert files.trades == [bybit / "trades" / f"{s}{d}.csv.gz" for s in SYMBOLS for d in DATES]
    assert files.liquidations == [
        bybit / "liquidations" / f"allLiquidation_{s}_{d}.jsonl.gz" for s in SYMBOLS for d in DATES
    ]
    assert files.klines == [bybit / "klines" / f"{s}_60_2025-02-21_2025-03-04.csv" for s in SYMBOLS]
    for path in files.trades + files.liquidations + files.klines:
        assert path.is_file()


def test_same_config_gives_identical_bytes(tmp_path: Path) -> None:
    config = SampleConfig(
        days=1, bar_history_days=2, symbols=("ETHUSDT", "DOGEUSDT"), trade_rate_scale=0.05
    )
    first = generate_sample(tmp_path / "a", config)
    second = generate_sample(tmp_path / "b", config)
    paths_a = first.trades + first.liquidations + first.klines
    paths_b = second.trades + second.liquidations + second.klines
    assert [p.relative_to(tmp_path / "a") for p in paths_a] == [
        p.relative_to(tmp_path / "b") for p in paths_b
    ]
    for a, b in zip(paths_a, paths_b, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = generate_sample(tmp_path / "c", replace(config, seed=8))
    assert other.trades[0].read_bytes() != first.trades[0].read_bytes()


def test_trade_level_data_ignores_history_settings_and_other_symbols(tmp_path: Path) -> None:
    small = SampleConfig(days=1, bar_history_days=3, trade_rate_scale=0.02)
    alone = replace(small, bar_history_days=0, crash_episodes=0, symbols=("SOLUSDT",))
    full = generate_sample(tmp_path / "full", small)
    solo = generate_sample(tmp_path / "solo", alone)
    index = small.symbols.index("SOLUSDT")
    assert full.trades[index].read_bytes() == solo.trades[0].read_bytes()
    assert full.liquidations[index].read_bytes() == solo.liquidations[0].read_bytes()
    tail = full.klines[index].read_text().splitlines()[-24:]
    assert tail == solo.klines[0].read_text().splitlines()[-24:]


@pytest.mark.parametrize(
    "change",
    [
        {"days": 0},
        {"symbols": ("FOOUSDT",)},
        {"reversion_probability": 1.5},
        {"liq_branching_ratio": 1.0},
        {"start": "March 3"},
        {"trade_rate_scale": 0.0},
    ],
)
def test_rejects_invalid_config(tmp_path: Path, change: dict) -> None:
    with pytest.raises(ValueError):
        generate_sample(tmp_path, replace(SampleConfig(), **change))


# --------------------------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_trade_csv_format(
    sample: tuple[Path, SampleFiles], specs: dict[str, InstrumentSpec], symbol: str
) -> None:
    root, _ = sample
    spec = specs[symbol]
    directions = {"PlusTick", "ZeroPlusTick", "MinusTick", "ZeroMinusTick"}
    for day, date in enumerate(DATES):
        day_start = START_S + day * 86_400
        prev_ts = float(day_start)
        prev_price: Decimal | None = None
        last_move = 0
        ids: set[str] = set()
        rows = 0
        for row in _trade_rows(root / "bybit" / "trades" / f"{symbol}{date}.csv.gz"):
            rows += 1
            assert len(row) == 10
            ts, sym, side, size, price, tick, match_id, gross, home, foreign = row
            assert TS_RE.match(ts), ts
            assert day_start <= float(ts) < day_start + 86_400
            assert float(ts) >= prev_ts
            prev_ts = float(ts)
            assert sym == symbol
            assert side in ("Buy", "Sell")
            assert _decimals(size) == spec.size_precision, size
            assert _on_grid(size, spec.qty_step) and Decimal(size) >= spec.qty_step
            assert _decimals(price) == spec.price_precision, price
            assert _on_grid(price, spec.tick_size) and Decimal(price) > 0
            assert tick in directions
            if prev_price is not None:
                move = (Decimal(price) > prev_price) - (Decimal(price) < prev_price)
                if move:
                    last_move = move
                    assert tick == ("PlusTick" if move > 0 else "MinusTick")
                elif last_move:
                    assert tick == ("ZeroPlusTick" if last_move > 0 else "ZeroMinusTick")
            prev_price = Decimal(price)
            assert UUID_RE.match(match_id), match_id
            ids.add(match_id)
            exact = Decimal(price) * Decimal(size)
            assert GROSS_RE.match(gross), gross
            assert math.isclose(float(gross), float(exact) * 1e8, rel_tol=6e-6)
            assert home == size
            assert Decimal(foreign) == exact
            if rows >= 20_000:
                break
        assert rows > 1000
        assert len(ids) == rows


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_liquidation_jsonl_format(
    sample: tuple[Path, SampleFiles], specs: dict[str, InstrumentSpec], symbol: str
) -> None:
    root, _ = sample
    spec = specs[symbol]
    for day, date in enumerate(DATES):
        path = root / "bybit" / "liquidations" / f"allLiquidation_{symbol}_{date}.jsonl.gz"
        records = _liquidation_records(path)
        assert len(records) > 100
        recv = [r["recv_ts_ns"] for r in records]
        assert recv == sorted(recv)
        day_start_ms = (START_S + day * 86_400) * 1000
        for record in records:
            assert set(record) == {"recv_ts_ns", "msg"}
            msg = record["msg"]
            assert list(msg) == ["topic", "type", "ts", "data"]
            assert msg["topic"] == f"allLiquidation.{symbol}"
            assert msg["type"] == "snapshot"
            push = msg["ts"]
            assert isinstance(push, int) and push % 500 == 0
            assert isinstance(record["recv_ts_ns"], int)
            assert 20_000_000 <= record["recv_ts_ns"] - push * 1_000_000 <= 120_000_000
            assert msg["data"]
            times = [e["T"] for e in msg["data"]]
            assert times == sorted(times)
            for e in msg["data"]:
                assert list(e) == ["T", "s", "S", "v", "p"]
                assert isinstance(e["T"], int)
                assert push - 500 <= e["T"] < push  # batched by 500 ms interval
                assert day_start_ms <= e["T"] < day_start_ms + 86_400_000
                assert e["s"] == symbol
                assert e["S"] in ("Buy", "Sell")
                assert isinstance(e["v"], str) and isinstance(e["p"], str)
                assert _decimals(e["v"]) == spec.size_precision
                assert _on_grid(e["v"], spec.qty_step) and Decimal(e["v"]) >= spec.qty_step
                assert _decimals(e["p"]) == spec.price_precision
                assert _on_grid(e["p"], spec.tick_size) and Decimal(e["p"]) > 0


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bankruptcy_price_is_beyond_the_market(
    sample: tuple[Path, SampleFiles], symbol: str
) -> None:
    """A liquidated long's bankruptcy price is below the market, a short's above."""
    root, _ = sample
    ts, px, _ = _trades(root, symbol)
    consistent = total = 0
    for date in DATES:
        path = root / "bybit" / "liquidations" / f"allLiquidation_{symbol}_{date}.jsonl.gz"
        for record in _liquidation_records(path):
            for e in record["msg"]["data"]:
                market = _price_at(ts, px, e["T"] / 1000.0 - 0.001)
                offset = float(e["p"]) / market - 1.0
                total += 1
                consistent += offset < -0.0015 if e["S"] == "Buy" else offset > 0.0015
    assert consistent / total > 0.97


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_klines_format_and_continuity(
    sample: tuple[Path, SampleFiles], specs: dict[str, InstrumentSpec], symbol: str
) -> None:
    root, _ = sample
    spec = specs[symbol]
    rows = _klines(root, symbol)
    assert len(rows) == (10 + 2) * 24
    starts = [int(r[0]) for r in rows]
    assert starts[0] == (START_S - 10 * 86_400) * 1000
    assert all(b - a == 3_600_000 for a, b in itertools.pairwise(starts))
    prev_close: float | None = None
    for r in rows:
        o, h, lo, c = (Decimal(x) for x in r[1:5])
        for text in r[1:5]:
            assert _decimals(text) == spec.price_precision
            assert _on_grid(text, spec.tick_size)
        assert _decimals(r[5]) == spec.size_precision and _on_grid(r[5], spec.qty_step)
        assert Decimal(r[6]) >= 0
        assert lo <= min(o, c) and h >= max(o, c) and lo > 0
        if prev_close is not None:
            assert abs(float(o) / prev_close - 1) < 0.005
        prev_close = float(c)
    history_close = float(rows[10 * 24 - 1][4])
    _, px, _ = _trades(root, symbol)
    assert abs(px[0] / history_close - 1) < 0.002


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_trade_level_klines_aggregate_the_trades(
    sample: tuple[Path, SampleFiles], symbol: str
) -> None:
    root, _ = sample
    bars: dict[int, list] = {}
    for date in DATES:
        for row in _trade_rows(root / "bybit" / "trades" / f"{symbol}{date}.csv.gz"):
            hour = int(Decimal(row[0])) // 3600 * 3600 * 1000
            price, size = Decimal(row[4]), Decimal(row[3])
            bar = bars.get(hour)
            if bar is None:
                bars[hour] = [price, price, price, price, size, price * size]
            else:
                bar[1] = max(bar[1], price)
                bar[2] = min(bar[2], price)
                bar[3] = price
                bar[4] += size
                bar[5] += price * size
    rows = _klines(root, symbol)
    prev_close = Decimal(rows[10 * 24 - 1][4])
    for r in rows[10 * 24 :]:
        values = [Decimal(x) for x in r[1:]]
        expected = bars.get(int(r[0]))
        if expected is None:  # an hour without trades repeats the previous close
            expected = [prev_close] * 4 + [Decimal(0), Decimal(0)]
        assert values == expected, r
        prev_close = values[3]
    assert len(bars) == 48


# --------------------------------------------------------------------------------------------
# Market properties
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_liquidation_p95_near_target(sample: tuple[Path, SampleFiles], symbol: str) -> None:
    root, _ = sample
    p95 = float(np.percentile(_liquidations(root, symbol)[:, 2], 95))
    assert P95_TARGETS[symbol] / 2 < p95 < P95_TARGETS[symbol] * 2


def test_cascade_rate(sample: tuple[Path, SampleFiles]) -> None:
    """Roughly 4-10 cascades (2+ events >= P95 within 60 s) per symbol per day."""
    root, _ = sample
    per_day = {}
    for symbol in SYMBOLS:
        events = _liquidations(root, symbol)
        threshold = float(np.percentile(events[:, 2], 95))
        per_day[symbol] = len(_cascade_spans(events, threshold)) / len(DATES)
    for symbol, rate in per_day.items():
        assert 2.0 <= rate <= 16.0, (symbol, per_day)
    assert per_day["ETHUSDT"] >= np.mean([v for k, v in per_day.items() if k != "ETHUSDT"])


def test_cascades_are_short(sample: tuple[Path, SampleFiles]) -> None:
    """Cascades last seconds, not minutes (the guide: 8-14 s on average)."""
    root, _ = sample
    spans = []
    for symbol in SYMBOLS:
        events = _liquidations(root, symbol)
        spans += _cascade_spans(events, float(np.percentile(events[:, 2], 95)))
    assert len(spans) >= 20
    assert 4.0 <= float(np.mean(spans)) <= 20.0, np.mean(spans)


def test_long_liquidation_share(sample: tuple[Path, SampleFiles]) -> None:
    root, _ = sample
    events = np.concatenate([_liquidations(root, s) for s in SYMBOLS])
    assert 0.5 < float((events[:, 1] > 0).mean()) < 0.7


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_prices_move_with_the_liquidated_side(
    sample: tuple[Path, SampleFiles], symbol: str
) -> None:
    """Price falls through long-liquidation clusters (to 10 s after), rises through short ones."""
    root, _ = sample
    ts, px, _ = _trades(root, symbol)
    clusters = _clusters(_liquidations(root, symbol))
    assert len(clusters) > 50
    agree = []
    for first, last, longs in clusters:
        before = _price_at(ts, px, first - 0.001)
        after = _price_at(ts, px, last + 10.0)
        agree.append(after < before if longs else after > before)
    assert np.mean(agree) > 0.6


def _post_cluster_reversion(root: Path, symbol: str) -> float:
    """Mean move 5 min after each cluster back from its extreme, in bps."""
    ts, px, _ = _trades(root, symbol)
    moves = []
    for first, last, longs in _clusters(_liquidations(root, symbol)):
        lo, hi = np.searchsorted(ts, first), np.searchsorted(ts, last, side="right")
        if last + 300.0 > ts[-1]:
            continue
        later = _price_at(ts, px, last + 300.0)
        if longs:
            extreme = float(px[lo:hi].min())
            moves.append(later / extreme - 1.0)
        else:
            extreme = float(px[lo:hi].max())
            moves.append(1.0 - later / extreme)
    return float(np.mean(moves)) * 1e4


PAIRED = SampleConfig(
    days=2,
    bar_history_days=1,
    symbols=("ETHUSDT", "SOLUSDT"),
    trade_rate_scale=0.2,
    crash_episodes=0,
    trade_level_crash=False,
)


@pytest.fixture(scope="module")
def paired(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same market without (``off``) and with (``on``, default) reversion."""
    root = tmp_path_factory.mktemp("paired")
    generate_sample(root / "off", replace(PAIRED, reversion_probability=0.0))
    generate_sample(root / "on", PAIRED)
    return {"off": root / "off", "on": root / "on"}


def _cluster_path(root: Path, symbol: str, lags: tuple[float, ...]) -> np.ndarray:
    """Mean move with the liquidated side (bps) from before each cluster to ``last + lag``."""
    ts, px, _ = _trades(root, symbol)
    moves = []
    for first, last, longs in _clusters(_liquidations(root, symbol)):
        before = _price_at(ts, px, first - 0.001)
        after = np.array([_price_at(ts, px, last + lag) for lag in lags])
        moves.append((before / after - 1.0) if longs else (after / before - 1.0))
    return np.mean(moves, axis=0) * 1e4


def test_reversion_changes_only_prices(paired: dict[str, Path]) -> None:
    for symbol in PAIRED.symbols:
        ts_off, px_off, qty_off = _trades(paired["off"], symbol)
        ts_on, px_on, qty_on = _trades(paired["on"], symbol)
        assert np.array_equal(ts_off, ts_on) and np.array_equal(qty_off, qty_on)
        assert not np.array_equal(px_off, px_on)
        assert np.array_equal(
            _liquidations(paired["off"], symbol)[:, :2], _liquidations(paired["on"], symbol)[:, :2]
        )


def test_reversion_probability_changes_post_cluster_moves(paired: dict[str, Path]) -> None:
    for symbol in PAIRED.symbols:
        off = _post_cluster_reversion(paired["off"], symbol)
        on = _post_cluster_reversion(paired["on"], symbol)
        assert on > off + 4.0, (symbol, off, on)


def test_clusters_push_then_revert_after_they_end(paired: dict[str, Path]) -> None:
    """
    The push outlasts a cluster's last event by some seconds; the reversion comes after it.

    Without reversion the displacement stays; with it most of it is gone a minute later.
    """
    lags = (0.0, 15.0, 60.0)
    for symbol in PAIRED.symbols:
        for name in ("off", "on"):
            at_end, pushed, later = _cluster_path(paired[name], symbol, lags)
            assert pushed > at_end + 1.0 > 5.0, (symbol, name, at_end, pushed)
            if name == "off":
                assert later > 0.8 * pushed, (symbol, name, pushed, later)
            else:
                assert later < 0.5 * pushed, (symbol, name, pushed, later)


def test_trade_level_crash_is_visible_in_klines(sample: tuple[Path, SampleFiles]) -> None:
    """All symbols fall >= 3 % within 3 hours together, on a volume spike, then rebound."""
    root, _ = sample
    n_hist = 10 * 24
    lows, opens, closes, volumes = [], [], [], []
    for symbol in SYMBOLS:
        rows = _klines(root, symbol)[n_hist:]
        opens.append([float(r[1]) for r in rows])
        lows.append([float(r[3]) for r in rows])
        closes.append([float(r[4]) for r in rows])
        volumes.append([float(r[5]) for r in rows])
    o, lo, c, v = (np.array(x) for x in (opens, lows, closes, volumes))
    found = False
    for h in range(o.shape[1] - 6):
        fall = lo[:, h : h + 3].min(axis=1) / o[:, h] - 1.0
        if (fall <= -0.03).all():
            spike = v[:, h : h + 3].max(axis=1) / np.median(v, axis=1)
            bottom = lo[:, h : h + 3].min(axis=1)
            rebound = (c[:, h + 5] - bottom) / (o[:, h] - bottom)
            found = bool((spike > 2.5).all() and (np.median(rebound) > 0.2))
            break
    assert found


def test_history_has_crash_episodes(sample: tuple[Path, SampleFiles]) -> None:
    """Each configured history crash shows up as a joint fall of >= 2.5 % within 3 hours."""
    root, _ = sample
    n_hist = 10 * 24
    closes = np.array([[float(r[4]) for r in _klines(root, s)[:n_hist]] for s in SYMBOLS])
    ahead = np.stack([closes[:, k : n_hist - 3 + k] for k in (1, 2, 3)]).min(axis=0)
    fall = ahead / closes[:, : n_hist - 3] - 1.0
    joint = np.flatnonzero((fall.max(axis=0) <= -0.02) & (fall.mean(axis=0) <= -0.025))
    episodes = int(len(joint) > 0) + int((np.diff(joint) > 6).sum())
    assert SMALL.crash_episodes <= episodes <= SMALL.crash_episodes + 2


def test_an_up_to_date_sample_catalog_is_not_built_again(small_catalog: Path) -> None:
    from liqcascade.data_loaders.sample_catalog import build_sample_catalog
    from tests.conftest import SMALL_SYMBOLS

    said: list[str] = []
    overrides = {
        "days": 1,
        "bar_history_days": 1,
        "symbols": SMALL_SYMBOLS,
        "trade_rate_scale": 0.5,
    }  # the small_catalog fixture's
    build_sample_catalog(
        small_catalog.parent / "raw", small_catalog, overrides, echo=said.append, progress=False
    )
    assert said == [f"sample catalog {small_catalog} is up to date"]
