"""System B through the runner and the CLI: its inputs are checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import run_spec
from liqcascade.backtests.systems.crash_reversion import crash_venue
from liqcascade.cli import main

SMALL = 'run.symbols=["ETHUSDT","SOLUSDT","DOGEUSDT"]'
LOOSE = ["strategy.strategy.min_history=6", "strategy.strategy.lookback=24"]


def _backtest(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["backtest", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # BTC is not in the small catalog at all.
        (
            ['run.symbols=["ETHUSDT","SOLUSDT","BTCUSDT"]', *LOOSE],
            "run.symbols: no instrument definition for BTCUSDT-LINEAR.BYBIT",
        ),
        # A window after the data: every symbol is named with what the catalog holds.
        (
            [SMALL, "run.start=2030-01-01", *LOOSE],
            "run.symbols: no bars in the window 2030-01-01 .. the end",
        ),
        # 48 bars per asset; the default rules need more than 168 before anything qualifies.
        ([SMALL], "need more than 169 bars"),
        # The seed's 168-bar window, likewise.
        ([SMALL, "--config", "backtest_crash_seed"], "rules = 'seed' need more than 168 bars"),
    ],
)
def test_a_run_the_catalog_cannot_feed_fails_before_it_starts(
    small_catalog: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    out = tmp_path / "out"
    config = "backtest_crash_reversion"
    if "--config" in overrides:  # another preset
        config = overrides[overrides.index("--config") + 1]
        overrides = [o for o in overrides if o not in ("--config", config)]
    code, output = _backtest(
        "--config",
        config,
        f"run.catalog={small_catalog}",
        f"run.output={out}",
        *overrides,
    )
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not out.exists()  # nothing ran, no report folder


def test_a_symbol_without_bars_is_named_with_the_bars_there_are(small_catalog: Path) -> None:
    spec = load_runs(
        "backtest_crash_reversion",
        [f"run.catalog={small_catalog}", SMALL, "run.end=2020-01-01", *LOOSE],
        scenarios=False,
    )[0]
    with pytest.raises(ConfigError) as caught:
        run_spec(spec, Path("/nonexistent-never-created"))
    text = str(caught.value)
    for symbol in ("ETHUSDT", "SOLUSDT", "DOGEUSDT"):
        assert f"{symbol}-LINEAR.BYBIT-1-HOUR-LAST-EXTERNAL: 48 bars, " in text


#: Hourly bars from 2023-01-01; the crash bar is bar 250 (see :func:`write_binance_crash`).
T0, HOUR, CRASH_BAR = 1_672_531_200 * 10**9, 3600 * 10**9, 250
BINANCE_PAIR = [
    'run.symbols=["BTCUSDT.BINANCE","ETHUSDT.BINANCE"]',
    "strategy.strategy.min_assets=2",
]


def write_binance_crash(root: Path) -> None:
    """A catalog of the framework's own test instruments (Binance spot BTC and ETH) and 260
    crafted hourly bars each: flat but for a -10 % bar on an 8x volume at bar 250 for both."""
    from nautilus_trader.model.data import Bar
    from nautilus_trader.model.data import BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    catalog = ParquetDataCatalog(str(root))
    instruments = [
        TestInstrumentProvider.btcusdt_binance(),
        TestInstrumentProvider.ethusdt_binance(),
    ]
    catalog.write_data(instruments)
    for instrument in instruments:
        bar_type = BarType.from_str(f"{instrument.id}-1-HOUR-LAST-EXTERNAL")
        base = 20_000.0 if instrument.id.symbol.value == "BTCUSDT" else 1_500.0
        bars = []
        for k in range(260):
            crash = k == CRASH_BAR
            close = instrument.make_price(base * (0.9 if crash else 1.0 + (k % 3) * 1e-4))
            volume = instrument.make_qty(1_000.0 * (8 if crash else 1 + (k % 5) / 10))
            ts = T0 + (k + 1) * HOUR
            bars.append(Bar(bar_type, close, close, close, close, volume, ts, ts))
        catalog.write_data(bars)


def test_instrument_ids_of_another_venue_run_on_that_venue(tmp_path: Path) -> None:
    """Spot ids (``BTCUSDT.BINANCE``) run as they are, on a simulated venue of that name."""
    write_binance_crash(tmp_path / "catalog")
    spec = load_runs(
        "backtest_crash_reversion",
        [f"run.catalog={tmp_path / 'catalog'}", *BINANCE_PAIR],
        scenarios=False,
    )[0]
    assert spec.strategies["*"]["instrument_ids"] == ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
    assert crash_venue(spec) == "BINANCE"
    result = run_spec(spec, tmp_path / "run")
    try:
        assert sorted(t.symbol for t in result.records.trades) == ["BTCUSDT", "ETHUSDT"]
        for trade in result.records.trades:
            assert trade.entry_ns == T0 + (CRASH_BAR + 1) * HOUR  # the crash bar's close
            assert trade.exit_ns == T0 + (CRASH_BAR + 3) * HOUR
        assert [str(v) for v in result.engine.list_venues()] == ["BINANCE"]
    finally:
        result.dispose()


def test_one_venue_per_run(small_catalog: Path) -> None:
    spec = load_runs(
        "backtest_crash_reversion",
        [
            f"run.catalog={small_catalog}",
            'run.symbols=["ETHUSDT","DOGEUSDT","SOLUSDT.BINANCE"]',
        ],
        scenarios=False,
    )[0]
    with pytest.raises(ConfigError, match="one venue per run, got BINANCE, BYBIT"):
        crash_venue(spec)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("venue.maker_fee_bps=2", "cost_per_trade_bps replaces maker/taker fees"),
        ("venue.cost_per_trade_bps=-1", "venue.cost_per_trade_bps: out of range"),
        ('venue.cost_per_trade_bps="20"', "venue.cost_per_trade_bps: expected"),
    ],
)
def test_flat_trade_cost_is_validated(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_runs("backtest_crash_seed", [override], scenarios=False)


def test_the_seed_preset_reads_its_own_rules() -> None:
    spec = load_runs("backtest_crash_seed", scenarios=False)[0]
    params = spec.strategies["*"]
    assert params["rules"] == "seed" and params["window"] == 168
    assert spec.venue.cost_per_trade_bps == 20.0
    with pytest.raises(ConfigError, match="lookback: not a parameter of rules = 'seed'"):
        load_runs("backtest_crash_seed", ["strategy.strategy.lookback=720"], scenarios=False)
