"""The backtest runner on a small generated market, in the real BacktestNode."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.backtests import trade_windows
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import decision_events
from liqcascade.backtests.runner import run_spec
from liqcascade.cli import main
from liqcascade.configs import shipped_config

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "backtest_sample.toml"


def _spec(catalog: Path, *overrides: str):
    base = [f"run.catalog={catalog}", 'run.symbols=["ETHUSDT","SOLUSDT","DOGEUSDT"]']
    return load_runs(CONFIG, [*base, *overrides], scenarios=False)[0]


def _trades(result) -> list[tuple]:
    return [
        (t.symbol, t.exit_reason, t.entry_ns, t.exit_ns, t.entry_price, t.exit_price, t.pnl)
        for t in result.records.trades
    ]


@pytest.mark.parametrize("fills", ["conservative", "optimistic"])
def test_trade_windows_give_identical_results(
    small_catalog: Path, tmp_path: Path, fills: str
) -> None:
    spec = _spec(small_catalog, "venue.latency_ms=250", f"venue.fills={fills}")
    windowed = run_spec(spec, tmp_path / "windowed")
    full = run_spec(replace(spec, trade_windows=False), tmp_path / "full")
    try:
        assert windowed.view.speculative  # the checked, speculative windows held
        assert windowed.view.trades_kept < 0.5 * full.view.trades_kept  # it did skip trades
        assert len(windowed.records.trades) >= 5  # and there is something to compare
        assert _trades(windowed) == _trades(full)
        assert windowed.records.signals == full.records.signals
        assert windowed.records.cascades == full.records.cascades
        # Same orders at the same times and prices, same fills, same skips.
        assert decision_events(tmp_path / "windowed") == decision_events(tmp_path / "full")
    finally:
        windowed.dispose()
        full.dispose()


def test_a_trade_outliving_its_speculative_window_reruns_on_proven_windows(
    small_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows that end 10 minutes *before* each replayed exit: positions get cut short.
    monkeypatch.setattr(trade_windows, "EXIT_MARGIN_NS", -600 * 1_000_000_000)
    spec = _spec(small_catalog, "venue.latency_ms=250")
    said: list[str] = []
    rerun = run_spec(spec, tmp_path / "rerun", echo=said.append)
    full = run_spec(replace(spec, trade_windows=False), tmp_path / "full")
    try:
        assert said and "outlived their window" in said[0]
        assert rerun.view.speculative is False
        assert decision_events(tmp_path / "rerun") == decision_events(tmp_path / "full")
    finally:
        rerun.dispose()
        full.dispose()


def test_proven_windows_failing_the_check_fall_back_to_every_trade(
    small_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Margins negative enough to cut every trade short, proven windows included.
    monkeypatch.setattr(trade_windows, "EXIT_MARGIN_NS", -3600 * 1_000_000_000)
    monkeypatch.setattr(trade_windows, "WINDOW_MARGIN_NS", -1800 * 1_000_000_000)
    said: list[str] = []
    result = run_spec(_spec(small_catalog), tmp_path / "run", echo=said.append)
    try:
        assert len(said) == 2
        assert said[0].endswith("running again on the proven windows")
        assert said[1].endswith("running again on every trade")
        assert result.view.trades_kept == result.view.trades_in
        assert len(result.records.trades) >= 5
    finally:
        result.dispose()


def test_events_reduce_to_consistent_records(small_catalog: Path, tmp_path: Path) -> None:
    result = run_spec(_spec(small_catalog), tmp_path / "run")
    try:
        records = result.records
        assert records.cascades and records.signals
        declared = {(c.symbol, c.declared_ns) for c in records.cascades}
        assert all((s.symbol, s.declared_ns) in declared for s in records.signals)
        filled = {(s.symbol, s.declared_ns) for s in records.signals if s.filled}
        assert {(t.symbol, t.declared_ns) for t in records.trades} <= filled
        for trade in records.trades:
            assert trade.exit_reason in ("TP", "SL", "TIMEOUT")
            assert trade.declared_ns <= trade.entry_ns <= trade.exit_ns
            assert trade.entry_ns - trade.declared_ns <= 1800 * 10**9  # entry timeout
            assert trade.exit_ns - trade.entry_ns <= 1800 * 10**9 + 10**9  # max hold
        # The engine's own account agrees with the strategy's event log.
        engine = result.engine
        account = engine.cache.account_for_venue(engine.list_venues()[0])
        balance = float(account.balance_total(account.base_currency))
        pnl = sum(t.pnl for t in records.trades)
        assert balance == pytest.approx(records.starting_balance + pnl, abs=0.01)
    finally:
        result.dispose()


def test_strategy_exceptions_fail_the_run(small_catalog: Path, tmp_path: Path) -> None:
    from msgspec.structs import replace as replace_struct
    from nautilus_trader.backtest.node import BacktestNode

    from liqcascade.backtests.systems.cascade_mm import build_run_config

    spec = _spec(small_catalog)
    view = build_execution_view(small_catalog, list(spec.symbols), spec.strategies)
    config = build_run_config(spec, view.path, tmp_path)
    failing = [
        replace_struct(s, strategy_path="tests.backtests.failing_strategy:FailingStrategy")
        for s in config.engine.strategies
    ]
    config = replace_struct(config, engine=replace_struct(config.engine, strategies=failing))
    node = BacktestNode(configs=[config])
    with pytest.raises(RuntimeError, match="boom from the strategy"):
        node.run()
    node.dispose()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("venue.fills=sometimes", "venue.fills"),
        ("venue.maker_fee_bps=true", "venue.maker_fee_bps"),
        ("run.starting_balance=-5", "run.starting_balance"),
        ("run.colour=blue", "run.colour"),
        ("strategy.symbols.ETHUSDT.take_profit=0.15", "did you mean 0.0015"),
        ('strategy.defaults.stop_loss="wide"', "stop_loss"),
        ('run.symbols=["ADAUSDT"]', "strategy.symbols.ADAUSDT"),
    ],
)
def test_bad_config_names_the_field(override: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_runs(CONFIG, [override])


def test_scenarios_apply_their_overrides() -> None:
    base, maker0, optimistic, haircut, us_hours = load_runs(CONFIG)
    assert (base.venue.maker_fee_bps, maker0.venue.maker_fee_bps) == (2.0, 0.0)
    assert optimistic.venue.fills == "optimistic"
    assert (haircut.venue.fills, haircut.venue.prob_fill_on_limit) == ("haircut", 0.5)
    assert us_hours.strategies["ETHUSDT"]["trading_hours"] == [13, 18]
    assert "trading_hours" not in base.strategies["ETHUSDT"]
    assert maker0.strategies["BTCUSDT"]["take_profit"] == 0.005  # BTC's own parameters
    assert base.strategies["ETHUSDT"]["take_profit"] == 0.0015


def test_the_strategy_file_used_is_named_whichever_way_it_was_found(
    small_catalog: Path, tmp_path: Path
) -> None:
    """``run.strategy``, else the system's file beside the run file, else the shipped one -
    and ``liqcascade backtest`` says which in its header."""
    run = tmp_path / "mine.toml"
    run.write_text(f'[run]\ncatalog = "{small_catalog}"\nsymbols = ["ETHUSDT"]\n')
    assert load_runs(run)[0].strategy_file == shipped_config("cascade_mm.toml")
    beside = tmp_path / "cascade_mm.toml"
    beside.write_text(shipped_config("cascade_mm.toml").read_text())
    assert load_runs(run)[0].strategy_file == beside
    named = tmp_path / "other.toml"
    named.write_text(beside.read_text())
    assert load_runs(run, [f"run.strategy={named}"])[0].strategy_file == named
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["backtest", "--config", str(run), "--no-scenarios", "--no-charts", f"run.output={out}"],
    )
    assert result.exit_code == 0, result.output
    assert f"strategy parameters: {beside}" in result.output
    assert f"strategy parameters: {beside}" in (out / "latest" / "summary.txt").read_text()


def test_btc_is_skipped_unless_maker_is_zero_and_the_run_says_why() -> None:
    base, maker0 = load_runs(CONFIG)[:2]
    assert "BTCUSDT" not in base.symbols and "BTCUSDT" not in base.strategies
    ((symbol, reason),) = base.skipped
    assert symbol == "BTCUSDT" and "max_maker_fee_bps" in reason and "2.0" in reason
    assert "BTCUSDT" in maker0.symbols and maker0.skipped == ()


def test_system_b_runs_through_the_same_runner(small_catalog: Path, tmp_path: Path) -> None:
    config = CONFIG.parent / "backtest_crash_reversion.toml"
    overrides = [
        f"run.catalog={small_catalog}",
        'run.symbols=["ETHUSDT","SOLUSDT","DOGEUSDT"]',
        # One day of history in the small market: short windows and a low bar so it trades.
        "strategy.strategy.min_history=6",
        "strategy.strategy.lookback=24",
        "strategy.strategy.r1_drop=-0.001",
        "strategy.strategy.r2_drop=-0.001",
        "strategy.strategy.volume_quantile=0.5",
    ]
    spec = load_runs(config, overrides, scenarios=False)[0]
    assert spec.system == "crash_reversion"
    assert spec.strategies["*"]["instrument_ids"] == [
        "ETHUSDT-LINEAR.BYBIT",
        "SOLUSDT-LINEAR.BYBIT",
        "DOGEUSDT-LINEAR.BYBIT",
    ]
    result = run_spec(spec, tmp_path / "b")
    try:
        trades = result.records.trades
        assert trades, "the loosened thresholds should trade on one day of bars"
        for trade in trades:
            assert trade.side == "BUY"
            assert trade.exit_ns - trade.entry_ns == 2 * 3600 * 10**9  # hold_bars = 2
        engine = result.engine
        account = engine.cache.account_for_venue(engine.list_venues()[0])
        balance = float(account.balance_total(account.base_currency))
        assert balance == pytest.approx(
            spec.starting_balance + sum(t.pnl for t in trades), abs=0.01
        )
    finally:
        result.dispose()


def test_view_built_by_two_workers_is_the_same(small_catalog: Path, tmp_path: Path) -> None:
    spec = _spec(small_catalog)
    views = [
        build_execution_view(
            small_catalog, list(spec.symbols), spec.strategies, 0, tmp_path / name, workers
        )
        for name, workers in (("one", 1), ("two", 2))
    ]
    one, two = (sorted(p.relative_to(v.path) for p in v.path.rglob("*")) for v in views)
    assert one == two and any(p.suffix == ".parquet" for p in one)
    for relative in one:
        a, b = views[0].path / relative, views[1].path / relative
        assert a.is_dir() or a.read_bytes() == b.read_bytes()
    assert views[0].trades_kept == views[1].trades_kept < views[0].trades_in
