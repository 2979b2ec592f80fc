"""Bybit websocket liquidation messages and trade-history files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from liqcascade.data_loaders.bybit import MessageError
from liqcascade.data_loaders.bybit import load_bybit_liquidations
from liqcascade.data_loaders.bybit import load_bybit_trades
from liqcascade.data_loaders.bybit import parse_liquidation_message
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.liquidation import LONG
from liqcascade.data_loaders.liquidation import SHORT
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS

MS = 1_000_000


def test_all_liquidation_side_is_the_liquidated_position(fixtures: Path) -> None:
    frame = load_bybit_liquidations(fixtures / "bybit_allLiquidation.jsonl")
    # "Buy" = a long was liquidated (forced selling); "Sell" = a short.
    assert list(frame["side"]) == [LONG, LONG, SHORT]
    assert list(frame["price"]) == [2188.41, 2187.02, 2205.90]
    assert list(frame["quantity"]) == [12.5, 40.0, 3.1]


def test_acks_pongs_and_other_topics_are_skipped(fixtures: Path) -> None:
    frame = load_bybit_liquidations(fixtures / "bybit_allLiquidation.jsonl")
    assert len(frame) == 3  # 5 lines: ack, 2 liquidation pushes (3 events), pong, publicTrade
    assert list(frame["line"]) == [2, 2, 4]


def test_without_receipt_time_ts_init_is_event_plus_feed_delay(fixtures: Path) -> None:
    frame = load_bybit_liquidations(fixtures / "bybit_allLiquidation.jsonl")
    first = frame.iloc[0]
    assert first["ts_event"] == 1740960000123 * MS
    assert first["ts_init"] == (1740960000123 + 500) * MS + TIE_BREAK_NS


def test_ts_init_never_precedes_the_push(fixtures: Path) -> None:
    # Event at .123 pushed at .500: +500 ms = .623 is later than the push, so it wins; with a
    # 100 ms delay the push time (.500) is the earliest a client could have known.
    frame = load_bybit_liquidations(fixtures / "bybit_allLiquidation.jsonl", feed_delay_ns=100 * MS)
    assert frame.iloc[0]["ts_init"] == 1740960000500 * MS + TIE_BREAK_NS
    assert (frame["ts_init"] >= frame["ts_event"]).all()


def test_recorder_receipt_time_is_ts_init(fixtures: Path) -> None:
    frame = load_bybit_liquidations(fixtures / "bybit_recorded.jsonl")
    assert list(frame["ts_init"]) == [
        1740960000561234567 + TIE_BREAK_NS,
        1740960002047 * MS + TIE_BREAK_NS,
    ]
    assert list(frame["side"]) == [LONG, SHORT]


def test_legacy_liquidation_topic(fixtures: Path) -> None:
    frame = load_bybit_liquidations(fixtures / "bybit_legacy_liquidation.jsonl")
    assert list(frame["side"]) == [LONG, SHORT]
    assert list(frame["symbol"]) == ["SOLUSDT", "SOLUSDT"]
    assert frame.iloc[0]["ts_event"] == 1740960002800 * MS


def test_gzip_recording(fixtures: Path, tmp_path: Path) -> None:
    target = tmp_path / "rec.jsonl.gz"
    with (fixtures / "bybit_allLiquidation.jsonl").open("rb") as src, gzip.open(target, "wb") as d:
        shutil.copyfileobj(src, d)
    assert len(load_bybit_liquidations(target)) == 3


def test_unknown_side_names_file_and_line(fixtures: Path) -> None:
    with pytest.raises(MalformedInputError) as error:
        load_bybit_liquidations(fixtures / "bybit_bad_liquidation.jsonl")
    assert "bybit_bad_liquidation.jsonl, line 2" in str(error.value)
    assert "'Long'" in str(error.value)


def test_broken_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"topic":"allLiquidation.ETHUSDT","ts":1,"data":[]}\n{"topic": \n')
    with pytest.raises(MalformedInputError, match=r"broken.jsonl, line 2"):
        load_bybit_liquidations(path)


def test_declared_symbol_rejects_other_symbols(fixtures: Path) -> None:
    with pytest.raises(MalformedInputError, match="declared BTCUSDT"):
        load_bybit_liquidations(fixtures / "bybit_allLiquidation.jsonl", expected_symbol="BTCUSDT")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"T": 1740960000123, "s": "ETHUSDT", "S": "Buy", "v": "x", "p": "1"}, "'v' is not"),
        ({"T": 1740960000123, "s": "ETHUSDT", "S": "Buy", "v": "1"}, "missing field 'p'"),
        ({"T": 1740960000123, "S": "Buy", "v": "1", "p": "1"}, "missing field 's'"),
    ],
)
def test_parser_rejects_bad_events(event: dict, reason: str) -> None:
    message = {"topic": "allLiquidation.ETHUSDT", "ts": 1740960000500, "data": [event]}
    with pytest.raises(MessageError, match=reason):
        parse_liquidation_message(message)


def test_parser_events_in_one_message_keep_their_own_times() -> None:
    message = {
        "topic": "allLiquidation.ETHUSDT",
        "ts": 1740960001000,
        "data": [
            {"T": 1740960000100, "s": "ETHUSDT", "S": "Buy", "v": "1", "p": "2000"},
            {"T": 1740960000900, "s": "ETHUSDT", "S": "Buy", "v": "1", "p": "2000"},
        ],
    }
    first, second = parse_liquidation_message(message)
    assert first.ts_init == 1740960001000 * MS + TIE_BREAK_NS  # the push is later than T+500
    assert second.ts_init == 1740960001400 * MS + TIE_BREAK_NS


def test_trades_csv(fixtures: Path) -> None:
    frame = load_bybit_trades(fixtures / "ETHUSDT2025-03-03.csv")
    assert len(frame) == 5
    # side is the taker side: Buy -> buyer aggressor (1), Sell -> seller (2).
    assert list(frame["aggressor"]) == [2, 1, 1, 2, 2]
    assert frame.iloc[0]["ts_event"] == 1740960000031200000
    # No receipt time in the archive: a live client has the print 100 ms later (default).
    assert (frame["ts_init"] == frame["ts_event"] + 100 * MS).all()
    assert frame.iloc[1]["trade_id"] == "6f0c9d2e-1b7a-5e55-9a51-1c2d3e4f5a02"


def test_trade_feed_delay_is_configurable_through_the_cli(fixtures: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from liqcascade.cli import main

    catalog = tmp_path / "catalog"
    trades = str(fixtures / "ETHUSDT2025-03-03.csv")
    args = ["load", "bybit-trades", trades, "--catalog", str(catalog), "--trade-feed-delay-ms"]
    result = CliRunner().invoke(main, [*args, "250"])
    assert result.exit_code == 0, result.output
    (first, *_) = ParquetDataCatalog(str(catalog)).query(TradeTick)
    assert first.ts_init == first.ts_event + 250 * MS


def test_trades_gz_and_symbol_from_file_name(fixtures: Path, tmp_path: Path) -> None:
    target = tmp_path / "SOLUSDT2025-03-03.csv.gz"
    with (fixtures / "ETHUSDT2025-03-03.csv").open("rb") as src, gzip.open(target, "wb") as d:
        shutil.copyfileobj(src, d)
    # The file name declares SOLUSDT but the rows say ETHUSDT: mixed symbols are refused.
    with pytest.raises(MalformedInputError, match=r"SOLUSDT2025-03-03.csv.gz, line 2"):
        load_bybit_trades(target)


def test_trades_bad_price_names_line(fixtures: Path) -> None:
    with pytest.raises(MalformedInputError) as error:
        load_bybit_trades(fixtures / "ETHUSDT2025-03-04_bad_price.csv")
    assert "ETHUSDT2025-03-04_bad_price.csv, line 3" in str(error.value)
    assert "21x0.12" in str(error.value)


def test_trades_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT2025-03-05.csv"
    path.write_text("timestamp,symbol,side,size\n1740960000.1,ETHUSDT,Buy,1\n")
    with pytest.raises(MalformedInputError, match="missing column"):
        load_bybit_trades(path)


def test_trades_timestamp_in_milliseconds_is_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT2025-03-05.csv"
    header = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    path.write_text(header + "foreignNotional\n1740960000123,ETHUSDT,Buy,1,2000,PlusTick,a,1,1,1\n")
    with pytest.raises(MalformedInputError, match="line 2: ts_event out of range"):
        load_bybit_trades(path)
