"""The [sweep] and [walk_forward] tables: values, errors named by key, folds, the result file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.sweep import ResultStore
from liqcascade.backtests.sweep import check_settings
from liqcascade.backtests.sweep_space import parse_sweep
from liqcascade.backtests.walk_forward import NS_PER_DAY
from liqcascade.backtests.walk_forward import Fold
from liqcascade.backtests.walk_forward import WalkForwardSpec
from liqcascade.backtests.walk_forward import inside_run
from liqcascade.backtests.walk_forward import make_folds

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "research_sample.toml"


def test_grid_is_every_combination_with_exact_decimals() -> None:
    spec = parse_sweep(
        {
            "params": {
                "strategy.defaults.take_profit": {"low": 0.001, "high": 0.0025, "step": 0.0005},
                "strategy.defaults.trading_hours": [[0, 24], [13, 18]],
            }
        }
    )
    settings = spec.settings()
    assert len(settings) == 8
    assert [v for (_, v), _ in settings[::2]] == [0.001, 0.0015, 0.002, 0.0025]
    assert settings[1] == (
        ("strategy.defaults.take_profit", 0.001),
        ("strategy.defaults.trading_hours", (13, 18)),
    )


def test_random_draws_are_seeded_and_distinct() -> None:
    table = {
        "mode": "random",
        "trials": 5,
        "seed": 1,
        "params": {"venue.latency_ms": {"low": 50, "high": 400, "log": True}},
    }
    first, again = parse_sweep(table).settings(), parse_sweep(table).settings()
    assert first == again and len({s for s in first}) == 5
    assert all(50 <= v <= 400 and isinstance(v, int) for ((_, v),) in first)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"params": {}}, "sweep.params: name at least one"),
        ({"params": {"strategy.defaults.take_profit": {"low": 1}}}, "needs low and high"),
        (
            {"params": {"strategy.defaults.take_profit": {"low": 0.001, "high": 0.002}}},
            "a grid needs",
        ),
        ({"mode": "guided", "params": {"venue.latency_ms": [1, 2]}}, "sweep.trials"),
        ({"objective": "sharp", "params": {"venue.latency_ms": [1]}}, "sweep.objective"),
        (
            {"constraints": {"trade": {"min": 1}}, "params": {"venue.latency_ms": [1]}},
            "sweep.constraints.trade",
        ),
        ({"params": {"latency_ms": [1, 2]}}, "sweep.params.latency_ms"),
        ({"param": {}}, "sweep.param: unknown key"),
    ],
)
def test_bad_sweep_tables_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sweep(table)


def test_a_parameter_that_changes_nothing_is_refused(tmp_path: Path) -> None:
    # BTC is not among the run's symbols: sweeping its offset would sweep nothing.
    spec = parse_sweep({"params": {"strategy.symbols.BTCUSDT.entry_offset": [0.001, 0.002]}})
    catalog = [f"run.catalog={tmp_path}"]
    with pytest.raises(ConfigError, match="changes nothing in the run"):
        check_settings(str(CONFIG), catalog, spec, spec.settings())
    bad = parse_sweep({"params": {"strategy.defaults.take_profit": [0.0015, 0.15]}})
    with pytest.raises(ConfigError, match=r"take_profit=0\.15: .*did you mean 0\.0015"):
        check_settings(str(CONFIG), catalog, bad, [])


def test_rolling_and_anchored_folds_of_whole_days() -> None:
    day = NS_PER_DAY
    first, last = 20_000 * day + 5, 20_007 * day - 1  # 7 days
    rolling = make_folds(WalkForwardSpec(3, 2, "rolling"), first, last)
    assert [
        (f.train_start_ns // day, f.test_start_ns // day, f.test_end_ns // day) for f in rolling
    ] == [
        (20_000, 20_003, 20_005),
        (20_002, 20_005, 20_007),
    ]
    anchored = make_folds(WalkForwardSpec(3, 2, "anchored"), first, last)
    assert [f.train_start_ns // day for f in anchored] == [20_000, 20_000]
    with pytest.raises(ConfigError, match="hold no fold"):
        make_folds(WalkForwardSpec(6, 2, "rolling"), first, last)
    fold = Fold(0, 20_000 * day, 20_001 * day, 20_002 * day)
    assert fold.train_window == [
        "run.start=2024-10-04T00:00:00Z",
        "run.end=2024-10-04T23:59:59.999999Z",
    ]


def test_folds_stay_inside_run_start_and_end() -> None:
    """A partial first or last day is a fold day, but no window reaches past the run's bounds."""
    day, hour = NS_PER_DAY, NS_PER_DAY // 24
    start, end = "2024-10-04T06:00:00Z", "2024-10-06T11:00:00Z"
    first, last = 20_000 * day + 6 * hour, 20_002 * day + 11 * hour  # the span inside them
    whole = make_folds(WalkForwardSpec(1, 1), first, last)
    assert inside_run(whole, None, None) == whole  # no bounds: whole days
    folds = inside_run(whole, start, end)
    assert [f.train_window + f.test_window for f in folds] == [
        [
            "run.start=2024-10-04T06:00:00Z",
            "run.end=2024-10-04T23:59:59.999999Z",
            "run.start=2024-10-05T00:00:00Z",
            "run.end=2024-10-05T23:59:59.999999Z",
        ],
        [
            "run.start=2024-10-05T00:00:00Z",
            "run.end=2024-10-05T23:59:59.999999Z",
            "run.start=2024-10-06T00:00:00Z",
            "run.end=2024-10-06T11:00:00Z",
        ],
    ]


def test_a_torn_last_line_is_dropped_and_rerun(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text(json.dumps({"key": "a", "x": 1}) + '\n{"key": "b", "x')
    said: list[str] = []
    store = ResultStore(tmp_path, said.append)
    assert list(store.rows) == ["a"] and "incomplete last line dropped" in said[0]
    assert ResultStore(tmp_path).rows.keys() == {"a"}  # the file was repaired
    (tmp_path / "results.jsonl").write_text('{"key": "a"\n' + json.dumps({"key": "b"}) + "\n")
    with pytest.raises(ValueError, match=r"results\.jsonl:1: not a result row"):
        ResultStore(tmp_path)
