"""Execution views built together, and views of runs that start after the catalog does."""

from __future__ import annotations

from pathlib import Path

from liqcascade.backtests.execution_view import ViewRequest
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.execution_view import build_execution_views
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import run_spec

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "backtest_sample.toml"
SYMBOLS = ["ETHUSDT", "SOLUSDT"]


def _files(view: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(view)): p.read_bytes() for p in sorted(view.rglob("*")) if p.is_file()
    }


def test_views_built_in_one_pass_are_the_views_built_alone(
    small_catalog: Path, tmp_path: Path
) -> None:
    settings = ([], ["entry_offset=0.001"], ["take_profit=0.0025"], ["trading_hours=[13, 18]"])
    specs = [
        load_runs(
            CONFIG,
            [f"run.catalog={small_catalog}", *(f"strategy.defaults.{o}" for o in setting)],
            scenarios=False,
        )[0]
        for setting in settings
    ]
    requests = [
        ViewRequest({s: spec.strategies[s] for s in SYMBOLS}, 100_000_000) for spec in specs
    ]
    together = build_execution_views(small_catalog, SYMBOLS, requests, tmp_path / "together")
    # Trading hours do not move a window: the last setting shares the first one's view.
    assert len({v.path for v in together}) == 3
    assert together[3].path == together[0].path
    for request, view in zip(requests, together, strict=True):
        alone = build_execution_view(
            small_catalog, SYMBOLS, request.strategies, 100_000_000, tmp_path / "alone"
        )
        assert alone.path.name == view.path.name
        assert _files(alone.path) == _files(view.path)
        assert 0 < view.trades_kept < view.trades_in


def test_a_run_starting_later_keeps_its_checked_windows(
    small_catalog: Path, tmp_path: Path
) -> None:
    # The view's detector must start with the run: from the catalog's start it would declare
    # other cascades than the strategy, the check would fail and the run fall back.
    overrides = [f"run.catalog={small_catalog}", f"run.symbols={SYMBOLS}".replace("'", '"')]
    spec = load_runs(CONFIG, [*overrides, "run.start=2025-03-03T09:00:00Z"], scenarios=False)[0]
    said: list[str] = []
    result = run_spec(spec, tmp_path / "run", echo=said.append)
    try:
        assert said == []  # no second run
        assert result.view.speculative
        assert result.view.trades_kept < result.view.trades_in / 2
        assert result.records.trades
    finally:
        result.dispose()
