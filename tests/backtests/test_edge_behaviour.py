"""Behaviour on the sample market: the edge comes from the planted mean reversion.

Two markets from the same seed differ only in prices (the generator draws arrivals, sides and
sizes from separate streams): one with the default partial mean reversion after liquidation
clusters, one with ``reversion_probability = 0``. The default System A backtest (conservative
fills, 2 bps maker) must make money on the first and lose it on the second - so the strategy's
profits come from the reversion it is designed to harvest, not from an artefact of the
simulation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liqcascade.backtests.metrics import compute_metrics
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import run_spec
from liqcascade.data_loaders.sample_catalog import build_sample_catalog

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "backtest_sample.toml"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT")  # the default sample


def _portfolio(tmp: Path, **market: object) -> dict:
    # The default sample market (7 days) with a short bar history: the trades and liquidations
    # are those of `make backtest`.
    overrides = {"bar_history_days": 1, **market}
    catalog = build_sample_catalog(
        tmp / "raw", tmp / "catalog", overrides, echo=lambda _: None, progress=False
    )
    symbols = ",".join(f'"{s}"' for s in SYMBOLS)
    spec = load_runs(
        CONFIG, [f"run.catalog={catalog}", f"run.symbols=[{symbols}]"], scenarios=False
    )[0]
    result = run_spec(spec, tmp / "run")
    try:
        return compute_metrics(result.records)
    finally:
        result.dispose()


@pytest.fixture(scope="module")
def with_and_without(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    on = _portfolio(tmp_path_factory.mktemp("reversion_on"))
    off = _portfolio(tmp_path_factory.mktemp("reversion_off"), reversion_probability=0.0)
    return on, off


def test_edge_is_positive_with_mean_reversion(with_and_without: tuple[dict, dict]) -> None:
    on, _ = with_and_without
    assert on["trades"] >= 30  # enough trades for the sign to mean something
    assert on["avg_return_per_trade_pct"] > 0.0
    assert on["total_pnl"] > 0.0


def test_edge_disappears_without_mean_reversion(with_and_without: tuple[dict, dict]) -> None:
    on, off = with_and_without
    assert off["trades"] >= 30
    assert off["avg_return_per_trade_pct"] <= 0.0
    assert off["total_pnl"] < on["total_pnl"]
    assert off["win_rate"] < on["win_rate"]
