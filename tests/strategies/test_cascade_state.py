"""The restart state of a cascade market-maker and its file, directly (no engine needed)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import ClientOrderId

from liqcascade.strategies.cascade_state import LossRecords
from liqcascade.strategies.cascade_state import StrategyStateFile
from liqcascade.strategies.cascade_state import TradeState
from liqcascade.strategies.cascade_state import read_json
from liqcascade.strategies.cascade_state import write_json_atomic
from liqcascade.strategies.trading_gate import NS_PER_DAY
from liqcascade.strategies.trading_gate import week_start

MONDAY = 1_741_010_400 * 1_000_000_000  # 2025-03-03 14:00 UTC
ETH, SOL = "ETHUSDT-LINEAR.BYBIT", "SOLUSDT-LINEAR.BYBIT"


def filled_trade() -> TradeState:
    trade = TradeState(
        entry_id=ClientOrderId("O-1"), side="BUY", declared_ns=5, entry_submitted_ns=6
    )
    trade.first_fill_ns = 10
    trade.add_fill(Decimal("1997.00"), Decimal("0.40"))
    trade.add_fill(Decimal("1996.00"), Decimal("0.60"))
    trade.add_exit(ClientOrderId("O-2"), "TP")
    trade.add_exit(ClientOrderId("O-3"), "SL")
    trade.tp_id, trade.sl_id = ClientOrderId("O-2"), ClientOrderId("O-3")
    return trade


def test_a_trade_survives_the_file_as_it_was() -> None:
    trade = filled_trade()
    saved = json.loads(json.dumps(trade.to_json(lambda i: "?")))  # through JSON, as on disk
    assert saved["exits"] == {"O-2": "TP", "O-3": "SL"}
    assert (saved["fill_qty"], saved["fill_value"]) == ("1.00", "1996.4000")
    back = TradeState.from_json(saved)
    assert back.average_fill_price() == trade.average_fill_price() == Decimal("1996.4")
    for name in ("entry_id", "side", "declared_ns", "entry_submitted_ns", "first_fill_ns"):
        assert getattr(back, name) == getattr(trade, name)
    assert (back.exit_ids, back.roles) == (trade.exit_ids, trade.roles)
    assert (back.tp_id, back.sl_id) == (trade.tp_id, trade.sl_id)
    assert back.repriced is True  # an adopted entry is never re-priced: its cascade is gone


def test_no_trade_is_written_when_nothing_is_open() -> None:
    assert TradeState().to_json(lambda i: "?") is None
    assert TradeState(first_fill_ns=1).to_json(lambda i: "?") is not None  # a position
    assert TradeState().average_fill_price() is None


def test_an_exit_without_a_recorded_role_is_named_from_the_order() -> None:
    trade = TradeState(exit_ids={ClientOrderId("O-7")})
    saved = trade.to_json(lambda i: f"role of {i.value}")
    assert saved["exits"] == {"O-7": "role of O-7"}


def test_each_strategy_rewrites_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "state" / "strategies.json"
    eth, sol = StrategyStateFile(path, ETH), StrategyStateFile(path, SOL)
    assert eth.load() == {}  # no file yet
    eth.save({"cooldown_until_ns": 1, "closed": [["P-1", 100, -5.0]]})
    sol.save({"cooldown_until_ns": 2, "closed": [["P-2", 200, 3.0]]})
    eth.save({"cooldown_until_ns": 3, "closed": [["P-1", 100, -5.0]]})
    assert sol.load()["cooldown_until_ns"] == 2
    assert eth.load()["cooldown_until_ns"] == 3
    assert sorted(eth.closed_records()) == [("P-1", 100, -5.0), ("P-2", 200, 3.0)]
    assert [p.name for p in path.parent.iterdir()] == ["strategies.json"]  # no temp files left


def test_a_file_of_another_version_or_not_json_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "strategies.json"
    write_json_atomic(path, {"version": 2, "symbols": {}})
    with pytest.raises(ValueError, match=r"strategies\.json: not a version 1"):
        StrategyStateFile(path, ETH).load()
    path.write_text("{torn", encoding="utf-8")
    with pytest.raises(ValueError, match=r"strategies\.json: not valid JSON"):
        read_json(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_json(path)
    assert read_json(tmp_path / "missing.json") is None


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "strategies.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})  # not JSON: fails half-way through
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["strategies.json"]


def test_backtest_loss_records_are_the_sessions_closes() -> None:
    records = LossRecords(None)
    records.note_account_close("P-1", MONDAY, -10.0)
    records.note_account_close("P-2", MONDAY + 1, 4.0)
    assert records.closed_pnls(session_start_ns=0) == [(MONDAY, -10.0), (MONDAY + 1, 4.0)]


def test_account_closes_keep_only_the_current_week() -> None:
    records = LossRecords(None)
    records.note_account_close("P-1", MONDAY, -10.0)
    next_monday = week_start(MONDAY) + 7 * NS_PER_DAY
    records.note_account_close("P-2", next_monday, -1.0)
    assert records.closed_pnls(session_start_ns=0) == [(next_monday, -1.0)]


def test_restarted_loss_records_add_the_file_and_the_sessions_unrecorded_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "strategies.json"
    StrategyStateFile(path, SOL).save({"closed": [["P-sol", MONDAY - 10, -7.0]]})
    eth = StrategyStateFile(path, ETH)
    records = LossRecords(eth)
    session_start = MONDAY
    records.note_account_close("P-old", MONDAY - 5, -100.0)  # before this session: not counted
    records.note_account_close("P-sol", MONDAY - 10, -7.0)  # recorded by SOL: counted once
    records.note_account_close("P-x", MONDAY + 5, -2.0)  # nobody's record: counted
    assert sorted(records.closed_pnls(session_start)) == [(MONDAY - 10, -7.0), (MONDAY + 5, -2.0)]


def test_own_records_are_pruned_to_the_week_when_saved() -> None:
    records = LossRecords(None)
    records.restore_own([["P-1", MONDAY - 7 * NS_PER_DAY, -1.0], ["P-2", MONDAY, -2.0]])
    records.record_own_close("P-3", MONDAY + 1, 1.0)
    assert records.own_this_week(MONDAY + 2) == [("P-2", MONDAY, -2.0), ("P-3", MONDAY + 1, 1.0)]
