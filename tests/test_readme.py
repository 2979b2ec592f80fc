"""The README's "Use it from your own NautilusTrader code" snippets, executed as written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(name: str) -> str:
    """The python block that follows ``<!-- readme-snippet: NAME -->`` in the README."""
    pattern = rf"<!-- readme-snippet: {name} -->\n```python\n(.*?)```"
    match = re.search(pattern, README.read_text(), re.S)
    assert match, f"README has no snippet {name!r}"
    return match.group(1)


def test_backtest_node_snippet_runs_and_trades(
    small_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "catalog").symlink_to(small_catalog)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet("backtest-node"), "README.md[backtest-node]", "exec"), namespace)
    logs = sorted((tmp_path / "output" / "my-run").glob("events-*.jsonl"))
    assert [p.name for p in logs] == ["events-ETHUSDT.jsonl", "events-SOLUSDT.jsonl"]
    assert sum('"event": "exit"' in p.read_text() for p in logs) >= 1
    assert "realized_pnl" in capsys.readouterr().out


def test_trading_node_snippet_builds_the_node_it_describes() -> None:
    # A script's main thread has an event loop for the node to take; earlier tests may have
    # closed this process's, so give the snippet a fresh one as a script would have.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    namespace: dict = {}
    exec(compile(snippet("trading-node"), "README.md[trading-node]", "exec"), namespace)
    node = namespace["node"]
    try:
        assert node.is_built
        clients = {c.value for c in node.kernel.data_engine.registered_clients}
        assert {"BYBIT_LIQ", "BYBIT"} <= clients
        (strategy,) = node.trader.strategies()
        assert strategy.config.liquidation_client_id == "BYBIT_LIQ"
        assert strategy.config.subscribe_trades
    finally:
        node.dispose()
        asyncio.set_event_loop(None)
        loop.close()
