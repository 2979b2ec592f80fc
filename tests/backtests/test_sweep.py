"""Sweeps and walk-forwards through the CLI, on Ray (a local instance), on a generated market.

One Ray session serves the whole module (starting Ray takes seconds). Every result row is
checked against a plain ``liqcascade backtest`` of its overrides: the sweep reuses the runner,
so the figures must be the same, to the last digit.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from liqcascade.backtests.sweep import ResultStore
from liqcascade.cli import main
from liqcascade.data_loaders.sample_catalog import build_sample_catalog

pytest.importorskip("ray")
pytest.importorskip("optuna")

SYMBOLS = ("ETHUSDT", "SOLUSDT")
DAY1_END = "2025-03-03T23:59:59.999999Z"  # the generated market starts on Monday 2025-03-03


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance (2 CPUs) for the module; the commands use it as they find it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of ETH and SOL at a quarter of the sample's trade rate."""
    root = tmp_path_factory.mktemp("research-market")
    overrides = {"days": 3, "bar_history_days": 1, "symbols": SYMBOLS, "trade_rate_scale": 0.25}
    return build_sample_catalog(
        root / "raw", root / "catalog", overrides, echo=lambda _: None, progress=False
    )


def _config(folder: Path, catalog: Path, sweep: str, walk_forward: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "research.toml"
    path.write_text(
        f"""
[run]
name = "research-test"
catalog = "{catalog}"
output = "{folder / "output"}"
symbols = {json.dumps(list(SYMBOLS))}
starting_balance = 10000.0
cascade_charts = 0

[venue]
fills = "conservative"
maker_fee_bps = 2.0
taker_fee_bps = 5.5
latency_ms = 100

{sweep}
{walk_forward}
"""
    )
    return path


#: A grid ranked by total PnL among settings that traded; its [sweep.params] follow.
GRID_HEAD = """
[sweep]
mode = "grid"
objective = "total_pnl"
[sweep.constraints]
trades = { min = 1 }
[sweep.params]
"""
GRID = (
    GRID_HEAD
    + """"strategy.defaults.entry_offset" = [0.0015, 0.0025]
"strategy.defaults.take_profit" = { low = 0.0015, high = 0.0025, step = 0.001 }
"""
)
WALK_FORWARD = """
[walk_forward]
train_days = 1
test_days = 1
mode = "rolling"
"""


def _rows(store: Path) -> list[dict]:
    return [json.loads(line) for line in store.read_text().splitlines()]


def _plain_backtest(config: Path, overrides: list[str]) -> pd.Series:
    """The portfolio column of ``liqcascade backtest``'s metrics.csv for these overrides."""
    result = CliRunner().invoke(
        main,
        ["backtest", "--config", str(config), "--no-scenarios", "--no-charts", *overrides],
    )
    assert result.exit_code == 0, result.output
    latest = (config.parent / "output" / "latest").resolve()
    return pd.read_csv(latest / "research-test" / "metrics.csv", index_col=0)["portfolio"]


def _assert_row_is_the_plain_backtest(config: Path, row: dict) -> None:
    plain = _plain_backtest(config, [*row["base_overrides"], *row["overrides"]])
    for key, value in row["metrics"].items():
        if value is None:
            assert pd.isna(plain[key]), (key, row["overrides"])
        else:
            assert float(plain[key]) == value, (key, row["overrides"], plain[key], value)


def test_sweep_survives_a_kill_resumes_and_every_row_is_the_plain_backtest(
    market: Path, tmp_path: Path, ray_local
) -> None:
    config = _config(tmp_path, market, GRID)
    out = tmp_path / "sweep"
    store = out / "results.jsonl"
    # A sweep in its own process (its own Ray), killed (SIGKILL, no clean-up) after its first
    # setting is saved.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "liqcascade.cli", "sweep", "--config", str(config)]
    command += ["--out", str(out), "--workers", "1", "--no-progress", "--no-charts"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while not (store.exists() and store.read_text().count("\n") >= 1):
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no setting finished in time"
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
    saved = len(_rows(store))
    assert 1 <= saved < 4

    # The same command resumes: only the missing settings run, none twice.
    result = CliRunner().invoke(main, [*command[3:-2], "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"{4 - saved} run now, {saved} from earlier runs" in result.output
    rows = _rows(store)
    assert len(rows) == len({r["key"] for r in rows}) == 4
    assert sorted(tuple(r["overrides"]) for r in rows) == sorted(
        (f"strategy.defaults.entry_offset={e}", f"strategy.defaults.take_profit={t}")
        for e in ("0.0015", "0.0025")
        for t in ("0.0015", "0.0025")
    )
    assert any(r["metrics"]["trades"] for r in rows)  # there is something to compare

    # The report ranks them; its best is the best of the rows.
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4
    best = max(
        (r for r in rows if r["metrics"]["trades"] >= 1), key=lambda r: r["metrics"]["total_pnl"]
    )
    assert table.loc[0, "key"] == best["key"]
    assert " ".join(best["overrides"]) in (out / "sweep.txt").read_text()
    assert (out / "heatmap-entry_offset-take_profit.html").exists()
    assert (out / "parallel.html").exists()

    for row in rows:
        _assert_row_is_the_plain_backtest(config, row)


def test_guided_search_asks_optuna_and_never_runs_a_setting_twice(
    market: Path, tmp_path: Path, ray_local
) -> None:
    guided = """
[sweep]
mode = "guided"
trials = 3
seed = 3
objective = "total_pnl"
[sweep.params]
"strategy.defaults.take_profit" = [0.001, 0.0015, 0.002, 0.0025, 0.003]
"""
    config = _config(tmp_path, market, guided)
    out = tmp_path / "guided"
    args = ["sweep", "--config", str(config), "--out", str(out), "--no-progress"]
    args += ["--no-charts", f"run.end={DAY1_END}"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    rows = _rows(out / "results.jsonl")
    assert len(rows) == len({r["key"] for r in rows}) == 3  # three distinct settings
    # The same command again: the study is rebuilt from the saved rows; nothing is missing.
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "guided search resumes from" in again.output
    assert "0 run now" in again.output
    assert len(_rows(out / "results.jsonl")) == len(rows)
    _assert_row_is_the_plain_backtest(config, rows[0])


def test_two_fold_walk_forward_tests_each_train_folds_best_on_the_next_day(
    market: Path, tmp_path: Path, ray_local
) -> None:
    config = _config(tmp_path, market, GRID, WALK_FORWARD)
    out = tmp_path / "wf"
    args = ["walk-forward", "--config", str(config), "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out / "walk_forward" / "folds.csv")
    assert list(folds["fold"]) == [0, 1]
    assert list(folds["test_start"]) == ["2025-03-04 00:00:00+00:00", "2025-03-05 00:00:00+00:00"]
    rows = _rows(out / "results.jsonl")
    windows = {
        0: ("run.start=2025-03-03T00:00:00Z", "run.end=2025-03-03T23:59:59.999999Z"),
        1: ("run.start=2025-03-04T00:00:00Z", "run.end=2025-03-04T23:59:59.999999Z"),
    }
    tests = {
        0: ("run.start=2025-03-04T00:00:00Z", "run.end=2025-03-04T23:59:59.999999Z"),
        1: ("run.start=2025-03-05T00:00:00Z", "run.end=2025-03-05T23:59:59.999999Z"),
    }
    stitched = []
    for fold in (0, 1):
        train = [r for r in rows if tuple(r["overrides"][:2]) == windows[fold]]
        assert len(train) == 4  # the whole grid on the train day
        feasible = [r for r in train if r["metrics"]["trades"] >= 1]
        best = max(feasible, key=lambda r: r["metrics"]["total_pnl"])
        (test,) = [
            r
            for r in rows
            if tuple(r["overrides"][:2]) == tests[fold] and r["setting"] == best["setting"]
        ]
        assert folds.loc[fold, "is_objective"] == best["metrics"]["total_pnl"]
        assert folds.loc[fold, "oos_objective"] == test["metrics"]["total_pnl"]
        stitched += test["trades"]
        _assert_row_is_the_plain_backtest(config, best)
        _assert_row_is_the_plain_backtest(config, test)
    oos_trades = pd.read_csv(out / "walk_forward" / "oos_trades.csv")
    assert len(oos_trades) == len(stitched)
    overall = pd.read_csv(out / "walk_forward" / "overall.csv", index_col=0)["value"]
    pnl = sum(t["pnl"] for t in stitched)
    assert math.isclose(float(overall["oos_total_return_pct"]), pnl / 10_000 * 100)
    text = (out / "walk_forward" / "walk_forward.txt").read_text()
    assert "degradation of the total_pnl per fold: OOS/IS = " in text
    assert (out / "walk_forward" / "walk_forward.html").exists()
    # A second run finds every fold's runs: nothing runs again.
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "0 run(s) now" in again.output


def test_a_screened_sweep_runs_only_the_confirmed_settings_in_the_engine(
    market: Path, tmp_path: Path, ray_local
) -> None:
    screened = GRID.replace('objective = "total_pnl"', 'objective = "total_pnl"\nconfirm = 2')
    config = _config(tmp_path, market, screened)
    out = tmp_path / "screened"
    args = ["sweep", "--config", str(config), "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(main, [*args, "--no-charts", f"run.end={DAY1_END}"])
    assert result.exit_code == 0, result.output
    screen = pd.read_csv(out / "screen.csv")
    assert len(screen) == 4 and screen["confirmed"].sum() == 2
    rows = _rows(out / "results.jsonl")
    assert sorted(r["key"] for r in rows) == sorted(screen[screen["confirmed"]]["key"])
    assert len(pd.read_csv(out / "sweep.csv")) == 2  # only engine runs are results
    for row in rows:
        _assert_row_is_the_plain_backtest(config, row)


#: ``liqcascade`` with Python's Ctrl-C handler installed whatever SIGINT disposition it inherits.
CLI_WITH_CTRL_C = (
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from liqcascade.cli import main; main(sys.argv[1:])",
)


def _start_sweep(
    config: Path,
    out: Path,
    *extra: str,
    cli: Sequence[str] = (sys.executable, "-m", "liqcascade.cli"),
) -> subprocess.Popen:
    command = [*cli, "sweep", "--config", str(config)]
    command += ["--out", str(out), "--no-progress", "--no-charts", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_saves_what_finished_and_says_how_to_resume(market: Path, tmp_path: Path) -> None:
    # Enough settings (24) that the interrupt lands mid-sweep however fast one setting runs.
    offsets = [round(0.001 + i * 0.0002, 4) for i in range(12)]
    many = GRID.replace("[0.0015, 0.0025]", str(offsets))
    config = _config(tmp_path, market, many)
    out = tmp_path / "interrupted"
    # Ctrl-C's own handler: a test process run as a background job of a non-interactive shell
    # ignores SIGINT, and a child inherits that (the sweep then ran to its end: exit 0).
    process = _start_sweep(
        config, out, "--workers", "1", f"run.end={DAY1_END}", cli=CLI_WITH_CTRL_C
    )
    try:
        deadline = time.monotonic() + 240
        while not ((out / "results.jsonl").exists() and _rows(out / "results.jsonl")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no setting finished in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    # Complete lines only: the interrupt may cut the row being written short.
    saved = sum(line.endswith("}") for line in (out / "results.jsonl").read_text().splitlines())
    assert process.returncode == 130, (saved, stderr)
    assert saved < 2 * len(offsets)
    assert f"interrupted: {saved} setting(s) saved" in stderr
    assert "the same command resumes" in stderr


def test_address_runs_the_settings_on_an_existing_cluster(
    market: Path, tmp_path: Path, ray_local
) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    one = '[sweep]\n[sweep.params]\n"strategy.defaults.take_profit" = [0.002]\n'
    config = _config(tmp_path, market, one)
    out = tmp_path / "on-cluster"
    process = _start_sweep(config, out, "--address", address, f"run.end={DAY1_END}")
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr
    assert f"ray: 2 CPU(s) at {address}" in stdout
    (row,) = _rows(out / "results.jsonl")
    assert row["metrics"]["days"] > 0


# --------------------------------------------------------------------------- System B

CRASH_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
#: A short warm-up (7 bars) so one day of hourly bars can trade.
CRASH_STRATEGY = """
[strategy]
rules = "trailing"
min_history = 6
lookback = 24
min_assets = 3
hold_bars = 2
notional_per_asset = 2000.0
"""
CRASH_GRID = GRID_HEAD + '"strategy.strategy.hold_bars" = [1, 2]\n'


@pytest.fixture(scope="module")
def bar_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    Three days of hourly bars of four assets, nothing else (no trades, no liquidations).

    Each day three assets crash together at noon (the bar closing 13:00). The two bars after
    make the best hold a different one on day 1 (1 bar: +2 % then -3 %) than on day 2 (2 bars:
    +1 % then +2 %), so the walk-forward's parameter path shows which day chose.
    """
    from tests.backtests.seed_market import Episode
    from tests.backtests.seed_market import build_catalog
    from tests.backtests.seed_market import crash

    def together(hour: int, *after: float) -> Episode:
        drops = (-0.05, -0.055, -0.06)
        return Episode(
            hour, {s: crash(d, *after) for s, d in zip(CRASH_SYMBOLS[:3], drops, strict=True)}
        )

    root = tmp_path_factory.mktemp("bar-market")
    episodes = [together(12, 0.02, -0.03), together(36, 0.01, 0.02), together(60, 0.015, 0.01)]
    catalog, _ = build_catalog(root, CRASH_SYMBOLS, "2023-01-01", 72, episodes)
    assert not (catalog / "data" / "trade_tick").exists()  # bars only, like a klines catalog
    return catalog


def _crash_config(folder: Path, catalog: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crash.toml").write_text(CRASH_STRATEGY)
    path = folder / "crash-research.toml"
    path.write_text(
        f"""
[run]
name = "crash-research-test"
system = "crash_reversion"
catalog = "{catalog}"
output = "{folder / "output"}"
strategy = "crash.toml"
symbols = {json.dumps(list(CRASH_SYMBOLS))}
starting_balance = 100000.0
chunk_size = 0

[venue]
fills = "conservative"
taker_fee_bps = 10.0

{CRASH_GRID}
{WALK_FORWARD}
"""
    )
    return path


def _plain_crash_backtest(config: Path, overrides: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The trades and daily returns of ``liqcascade backtest`` of System B for these overrides."""
    result = CliRunner().invoke(
        main,
        ["backtest", "--config", str(config), "--no-scenarios", "--no-charts", *overrides],
    )
    assert result.exit_code == 0, result.output
    run = (config.parent / "output" / "latest").resolve() / "crash-research-test"
    daily = pd.read_csv(run / "daily_returns.csv", index_col=0)["daily_return"]
    return pd.read_csv(run / "trades.csv"), daily


def test_a_system_b_walk_forward_cuts_its_folds_from_the_bars(
    bar_market: Path, tmp_path: Path, ray_local
) -> None:
    config = _crash_config(tmp_path, bar_market)
    out = tmp_path / "wf"
    args = ["walk-forward", "--config", str(config), "--out", str(out), "--no-progress"]
    bounds = ["run.start=2023-01-01T02:00:00Z", "run.end=2023-01-03T20:00:00Z"]
    result = CliRunner().invoke(main, [*args, "--no-charts", *bounds])
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out / "walk_forward" / "folds.csv")
    # The bars close from 2023-01-01 01:00 to 2023-01-04 00:00; inside the bounds, three
    # (partial) days make two folds, whose windows stop at the bounds.
    assert list(folds["train_start"]) == ["2023-01-01 02:00:00+00:00", "2023-01-02 00:00:00+00:00"]
    assert list(folds["test_start"]) == ["2023-01-02 00:00:00+00:00", "2023-01-03 00:00:00+00:00"]
    assert list(folds["param:strategy.strategy.hold_bars"]) == [1, 2]  # day 1's best, day 2's
    rows = _rows(out / "results.jsonl")
    assert len(rows) == 5  # 2 settings x 2 train days + day 3's test (day 2's is a train run)
    assert {tuple(r["overrides"][:2]) for r in rows} == {
        ("run.start=2023-01-01T02:00:00Z", "run.end=2023-01-01T23:59:59.999999Z"),
        ("run.start=2023-01-02T00:00:00Z", "run.end=2023-01-02T23:59:59.999999Z"),
        ("run.start=2023-01-03T00:00:00Z", "run.end=2023-01-03T20:00:00Z"),
    }
    for fold, (day, end, hold) in enumerate(
        [("2023-01-02", "2023-01-02T23:59:59.999999Z", 1), ("2023-01-03", bounds[1][8:], 2)]
    ):
        overrides = [f"run.start={day}T00:00:00Z", f"run.end={end}"]
        overrides.append(f"strategy.strategy.hold_bars={hold}")
        (test,) = [r for r in rows if r["overrides"] == overrides]
        assert test["base_overrides"] == bounds
        assert test["metrics"]["trades"] == 3 == folds.loc[fold, "oos_trades"]
        assert folds.loc[fold, "oos_objective"] == test["metrics"]["total_pnl"]
        assert folds.loc[fold, "oos_daily_return_pct"] == test["metrics"]["daily_return_pct"]
        # The fold's out-of-sample run is the plain backtest of its window and setting.
        trades, daily = _plain_crash_backtest(config, [*bounds, *overrides])
        plain = [
            (t.symbol, pd.Timestamp(t.entry_utc).value, pd.Timestamp(t.exit_utc).value, t.pnl)
            for t in trades.itertuples()
        ]
        assert plain == [
            (t["symbol"], t["entry_ns"], t["exit_ns"], t["pnl"])
            for t in sorted(test["trades"], key=_by_entry)
        ]
        assert {t[:10] for t in trades["entry_utc"]} == {day}
        assert math.fsum(trades["pnl"]) == folds.loc[fold, "oos_total_pnl"]
        assert math.isclose(daily.mean() * 100, folds.loc[fold, "oos_daily_return_pct"])


def _by_entry(trade: dict) -> tuple[int, str]:
    return trade["entry_ns"], trade["symbol"]


def test_system_b_data_span_is_its_bars_inside_run_start_and_end(
    bar_market: Path, tmp_path: Path
) -> None:
    from liqcascade.backtests.run_config import load_runs
    from liqcascade.backtests.systems import get_system

    config = _crash_config(tmp_path, bar_market)

    def span(*overrides: str) -> list[str]:
        spec = load_runs(config, list(overrides), scenarios=False)[0]
        return [
            f"{pd.Timestamp(ns, tz='UTC'):%m-%d %H:%M}"
            for ns in get_system(spec.system).data_span(spec)
        ]

    assert span() == ["01-01 01:00", "01-04 00:00"]  # the first and last bar close
    # Bounds between bars: the first and last bar inside them (a file straddling a bound).
    assert span("run.start=2023-01-02T05:30:00Z", "run.end=2023-01-03T05:30:00Z") == [
        "01-02 06:00",
        "01-03 05:00",
    ]


@pytest.mark.parametrize(
    ("system", "catalog", "overrides", "message"),
    [
        # A window after every bar: the catalog, the bar type and every instrument are named.
        (
            "crash_reversion",
            "bar_market",
            ["run.start=2030-01-01"],
            "run.symbols: catalog {catalog} has no 1-HOUR-LAST-EXTERNAL bars of "
            "BTCUSDT-LINEAR.BYBIT, ETHUSDT-LINEAR.BYBIT, SOLUSDT-LINEAR.BYBIT, "
            "XRPUSDT-LINEAR.BYBIT in the window 2030-01-01 .. the end",
        ),
        # System A reads trades and liquidations: a bars-only catalog has none.
        (
            "cascade_mm",
            "bar_market",
            [],
            "run.catalog: {catalog} has no trades or liquidations for ETHUSDT, SOLUSDT",
        ),
        # ... and a window after every print leaves no data (not "-2 day(s) hold no fold").
        (
            "cascade_mm",
            "market",
            ["run.start=2030-01-01"],
            "run.start/run.end: catalog {catalog} has no data of ETHUSDT, SOLUSDT between "
            "2030-01-01 and the end",
        ),
        # Every fold's test run starts cold: a window shorter than a setting's warm-up (day 1
        # has 23 bars; min_history = 22 needs 24) is named before any run, not a Ray traceback.
        (
            "crash_reversion",
            "bar_market",
            ["strategy.strategy.min_history=22"],
            "run.start=2023-01-01T00:00:00Z run.end=2023-01-01T23:59:59.999999Z "
            "strategy.strategy.hold_bars=1: run.start/run.end: rules = 'trailing' need more "
            "than 23 bars",
        ),
        # The same for a sweep of System B: its data is checked before Ray starts.
        (
            "crash_reversion",
            "bar_market",
            ["--sweep", "strategy.strategy.min_history=22", "run.end=2023-01-01T23:59:59Z"],
            "strategy.strategy.hold_bars=1: run.start/run.end: rules = 'trailing' need more",
        ),
    ],
)
def test_a_search_without_data_names_the_catalog_and_symbols_before_it_starts(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    system: str,
    catalog: str,
    overrides: list[str],
    message: str,
) -> None:
    path = request.getfixturevalue(catalog)
    if system == "crash_reversion":
        config = _crash_config(tmp_path, path)
    else:
        config = _config(tmp_path, path, GRID, WALK_FORWARD)
    out = tmp_path / "wf"
    command = "sweep" if "--sweep" in overrides else "walk-forward"
    overrides = [o for o in overrides if o != "--sweep"]
    args = [command, "--config", str(config), "--out", str(out), *overrides]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message.format(catalog=path) in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing ran


def test_an_interrupt_counts_the_rows_in_the_file_not_in_memory(tmp_path: Path) -> None:
    """Ctrl-C can fall between a row's write and its entry in memory: the message says what a
    resume will find (complete lines of results.jsonl)."""
    store = ResultStore(tmp_path, echo=lambda _: None)
    store.add({"key": "a", "metrics": {}})
    with store.path.open("a") as f:  # written, not yet in store.rows; then a cut-short write
        f.write(json.dumps({"key": "b", "metrics": {}}) + "\n" + '{"key": "c", "met')
    assert (store.saved(), len(store.rows)) == (2, 1)
