"""Shared test helpers: fixture paths, a fresh catalog folder per test, a small market."""

from __future__ import annotations

from pathlib import Path

import pytest

from liqcascade.data_loaders.sample_catalog import build_sample_catalog

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_SYMBOLS = ("ETHUSDT", "SOLUSDT", "DOGEUSDT")


@pytest.fixture
def fixtures() -> Path:
    """Folder of small fixtures in exact wire formats."""
    return FIXTURES


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """An empty catalog root."""
    return tmp_path / "catalog"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its bytes, to prove a catalog did not change."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One day of ETH, SOL and DOGE at half the trade rate, loaded like real data (shared)."""
    root = tmp_path_factory.mktemp("market")
    overrides = {
        "days": 1,
        "bar_history_days": 1,
        "symbols": SMALL_SYMBOLS,
        "trade_rate_scale": 0.5,
    }
    return build_sample_catalog(
        root / "raw", root / "catalog", overrides, echo=lambda _: None, progress=False
    )


#: The reference test's universe (8 of the seed's 20) and length: 330 hourly bars.
SEED_EDGE_SYMBOLS = (
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT", "LINKUSDT",
)  # fmt: skip
SEED_EDGE_HOURS = 330


@pytest.fixture(scope="session")
def seed_edge_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hourly bars of 8 assets with planted crashes covering every edge case of the seed's
    rules (``tests/backtests/seed_market.py``), loaded like real klines (shared)."""
    from tests.backtests.seed_market import build_catalog
    from tests.backtests.seed_market import edge_case_episodes

    root = tmp_path_factory.mktemp("seed-market")
    catalog, _ = build_catalog(
        root, SEED_EDGE_SYMBOLS, "2023-01-01", SEED_EDGE_HOURS, edge_case_episodes()
    )
    return catalog
