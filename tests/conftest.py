"""Shared test helpers: fixture paths and a fresh catalog folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
