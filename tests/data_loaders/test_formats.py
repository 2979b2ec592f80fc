"""Every real format loads through the user's path (``load_files`` / ``liqcascade load``) into its
own venue's instruments, with the right row counts and sides, or fails naming file and line."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from liqcascade.cli import main
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.load import LoadOptions
from liqcascade.data_loaders.load import NoRowsError
from liqcascade.data_loaders.load import load_files
from tests.conftest import snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BINANCE = FIXTURES / "binance"


def _rows(catalog: Path, folder: str, identifier: str) -> pd.DataFrame:
    files = sorted((catalog / "data" / folder / identifier).glob("*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def _zip(source: Path, target: Path, member: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(source, member)
    return target


def test_wrapped_recorder_shape_loads_with_position_sides(catalog_dir: Path) -> None:
    path = FIXTURES / "bybit_wrapped_recorder.jsonl"
    load_files("bybit-liquidations", [path], catalog_dir)
    rows = _rows(catalog_dir, "custom_liquidation_data", "BTCUSDT-LINEAR.BYBIT")
    # Legacy topic fields: side is the POSITION side, Buy = a long was liquidated.
    assert rows["side"].tolist() == ["LONG", "LONG", "LONG", "SHORT", "LONG"]
    # "t" is the receipt time (+1 ns tie-break); the two identical events of one push stay two.
    assert rows["ts_init"].iloc[0] == 1740960000640 * 1_000_000 + 1
    assert rows["quantity"].tolist()[1:3] == [0.012, 0.012]
    assert rows["ts_event"].tolist()[1:3] == [1740960001311000000, 1740960001311000001]
    before = snapshot(catalog_dir)
    load_files("bybit-liquidations", [path], catalog_dir)  # a re-import adds nothing
    assert snapshot(catalog_dir) == before


def test_unknown_json_lines_fail_naming_the_line_or_are_skipped_and_counted(
    tmp_path: Path, catalog_dir: Path
) -> None:
    path = tmp_path / "someone_elses.jsonl"
    lines = (FIXTURES / "bybit_wrapped_recorder.jsonl").read_text().splitlines()
    path.write_text("\n".join([lines[0], '{"ts": 1740960000000, "liq": [1, 2]}', lines[2]]))
    with pytest.raises(MalformedInputError, match=r"someone_elses.jsonl, line 2: not a known"):
        load_files("bybit-liquidations", [path], catalog_dir)
    assert snapshot(catalog_dir) == {}
    runner = CliRunner()
    result = runner.invoke(
        main, ["load", "bybit-liquidations", str(path), "--catalog", str(catalog_dir)]
    )
    assert result.exit_code == 2 and "line 2" in result.output and "--skip-unknown" in result.output
    result = runner.invoke(
        main,
        ["load", "bybit-liquidations", str(path), "--catalog", str(catalog_dir), "--skip-unknown"],
    )
    assert result.exit_code == 0, result.output
    assert "1 line(s) of no known shape skipped (first: line 2)" in result.output
    assert len(_rows(catalog_dir, "custom_liquidation_data", "BTCUSDT-LINEAR.BYBIT")) == 2


def test_a_file_of_only_acks_is_no_rows_not_success(tmp_path: Path, catalog_dir: Path) -> None:
    path = tmp_path / "acks.jsonl"
    path.write_text('{"success":true,"ret_msg":"","op":"subscribe"}\n{"op":"pong"}\n')
    with pytest.raises(NoRowsError, match=r"no liquidations to load in acks\.jsonl"):
        load_files("bybit-liquidations", [path], catalog_dir)
    result = CliRunner().invoke(
        main, ["load", "bybit-liquidations", str(path), "--catalog", str(catalog_dir)]
    )
    assert result.exit_code == 2 and "no liquidations to load" in result.output


def test_bybit_archive_with_rpi_column_leaves_rpi_trades_out(catalog_dir: Path) -> None:
    summary = load_files(
        "bybit-trades",
        [FIXTURES / "BTCUSDT2025-06-02_rpi.csv"],
        catalog_dir,
        LoadOptions(symbol="BTCUSDT"),
    )
    rows = _rows(catalog_dir, "trade_tick", "BTCUSDT-LINEAR.BYBIT")
    assert len(rows) == 3  # 5 prints, 2 of them RPI
    assert rows["aggressor_side"].tolist() == [2, 1, 1]
    assert "2 RPI trade(s) left out" in summary.notes[0]


@pytest.mark.parametrize(
    ("fixture", "source_format", "market_path", "instrument", "count"),
    [
        (
            "ETHUSDT-trades-2025-03-03.csv",
            "binance-trades",
            "futures/um",
            "ETHUSDT-PERP.BINANCE",
            4,
        ),
        ("ETHUSDT-trades-2025-03-03_spot.csv", "binance-trades", "spot", "ETHUSDT.BINANCE", 3),
        (
            "ETHUSDT-aggTrades-2025-03-03.csv",
            "binance-aggtrades",
            "futures/um",
            "ETHUSDT-PERP.BINANCE",
            3,
        ),
        (
            "ETHUSDT-aggTrades-2025-03-03_spot.csv",
            "binance-aggtrades",
            "spot",
            "ETHUSDT.BINANCE",
            2,
        ),
    ],
)
def test_binance_archive_trades_land_in_binance_instruments(
    tmp_path: Path,
    catalog_dir: Path,
    fixture: str,
    source_format: str,
    market_path: str,
    instrument: str,
    count: int,
) -> None:
    member = fixture.replace("_spot", "")
    kind = "aggTrades" if "aggTrades" in fixture else "trades"
    archive = _zip(
        BINANCE / fixture,
        tmp_path
        / "data"
        / market_path
        / "daily"
        / kind
        / "ETHUSDT"
        / member.replace(".csv", ".zip"),
        member,
    )
    load_files(source_format, [archive], catalog_dir)
    rows = _rows(catalog_dir, "trade_tick", instrument)
    assert len(rows) == count
    # is_buyer_maker true = the taker sold = aggressor SELLER (2).
    assert rows["aggressor_side"].iloc[0] == 2 and rows["aggressor_side"].iloc[1] == 1
    assert not (catalog_dir / "data" / "trade_tick" / "ETHUSDT-LINEAR.BYBIT").exists()
    if "spot" in fixture:  # microsecond times (spot since 2025)
        assert rows["ts_event"].iloc[0] == 1740960000031123000


def test_binance_file_contradicting_market_is_refused(catalog_dir: Path) -> None:
    with pytest.raises(MalformedInputError, match="a binance-spot trades file"):
        load_files(
            "binance-trades",
            [BINANCE / "ETHUSDT-trades-2025-03-03_spot.csv"],
            catalog_dir,
            LoadOptions(symbol="ETHUSDT", market="binance-usdm"),
        )
    with pytest.raises(ValueError, match="cannot load into bybit-linear"):
        load_files(
            "binance-trades",
            [BINANCE / "ETHUSDT-trades-2025-03-03.csv"],
            catalog_dir,
            LoadOptions(market="bybit-linear"),
        )


def test_tardis_rows_go_to_the_venue_of_their_exchange_column(catalog_dir: Path) -> None:
    load_files(
        "tardis-liquidations",
        [FIXTURES / "tardis_liquidations_binance-futures_ETHUSDT.csv"],
        catalog_dir,
    )
    rows = _rows(catalog_dir, "custom_liquidation_data", "ETHUSDT-PERP.BINANCE")
    # tardis side is the liquidation ORDER side: sell = a long was liquidated.
    assert rows["side"].tolist() == ["LONG", "LONG", "SHORT"]
    assert not (catalog_dir / "data" / "custom_liquidation_data" / "ETHUSDT-LINEAR.BYBIT").exists()
    load_files("tardis-liquidations", [FIXTURES / "tardis_liquidations_ETHUSDT.csv"], catalog_dir)
    assert len(_rows(catalog_dir, "custom_liquidation_data", "ETHUSDT-LINEAR.BYBIT")) == 4


def _freqtrade_folder(tmp_path: Path) -> Path:
    """A freqtrade user_data/data/binance folder, files written the way freqtrade writes them."""
    root = tmp_path / "user_data" / "data" / "binance"
    shutil.copytree(FIXTURES / "freqtrade" / "binance", root)
    rows = json.loads((root / "ETH_USDT-1h.json").read_text())
    frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    futures = root / "futures" / "ETH_USDT_USDT-1h-futures.feather"
    futures.parent.mkdir(exist_ok=True)  # git keeps no empty folder
    # freqtrade's FeatherDataHandler.ohlcv_store: reset_index + to_feather(lz4).
    frame.reset_index(drop=True).to_feather(futures, compression_level=9, compression="lz4")
    frame.reset_index(drop=True).to_feather(
        root / "futures" / "ETH_USDT_USDT-1h-mark.feather", compression="lz4"
    )
    return root


def test_freqtrade_feather_and_json_load_into_their_venue(
    tmp_path: Path, catalog_dir: Path
) -> None:
    root = _freqtrade_folder(tmp_path)
    load_files(
        "freqtrade-ohlcv", [root / "futures" / "ETH_USDT_USDT-1h-futures.feather"], catalog_dir
    )
    load_files("freqtrade-ohlcv", [root / "ETH_USDT-1h.json"], catalog_dir)
    perp = _rows(catalog_dir, "bar", "ETHUSDT-PERP.BINANCE-1-HOUR-LAST-EXTERNAL")
    spot = _rows(catalog_dir, "bar", "ETHUSDT.BINANCE-1-HOUR-LAST-EXTERNAL")
    assert len(perp) == len(spot) == 3
    # Stamped at the close: the first candle opened 00:00 and is known at 01:00.
    assert perp["ts_init"].iloc[0] == (1740960000000 + 3_600_000) * 1_000_000
    with pytest.raises(MalformedInputError, match="mark candles are not traded prices"):
        load_files(
            "freqtrade-ohlcv", [root / "futures" / "ETH_USDT_USDT-1h-mark.feather"], catalog_dir
        )
    elsewhere = tmp_path / "ETH_USDT-1h.json"
    shutil.copy(root / "ETH_USDT-1h.json", elsewhere)
    with pytest.raises(ValueError, match="pass --market"):
        load_files("freqtrade-ohlcv", [elsewhere], catalog_dir)


def test_live_and_recorded_trades_leave_block_and_rpi_trades_out() -> None:
    from liqcascade.data_loaders.bybit import parse_trade_message

    def event(i: int, **flags: bool) -> dict:
        base = {"T": 1740960000123, "s": "ETHUSDT", "S": "Buy", "v": "1", "p": "2190.1"}
        return {**base, "i": f"id-{i}", "BT": False, "RPI": False, **flags}

    message = {
        "topic": "publicTrade.ETHUSDT",
        "ts": 1740960000130,
        "data": [event(1), event(2, BT=True), event(3, RPI=True), event(4)],
    }
    kept = parse_trade_message(message, 1740960000140000000)
    assert [t.trade_id for t in kept] == ["id-1", "id-4"]


def test_binance_monthly_and_daily_urls_follow_the_archive_layout(tmp_path: Path) -> None:
    from datetime import date

    from liqcascade.data_loaders.binance_vision import remote_files

    files = remote_files(
        ["ETHUSDT"],
        date(2025, 1, 31),
        date(2025, 2, 28),
        tmp_path,
        "binance-spot",
        "klines",
        "1m",
        today=date(2025, 3, 15),
    )
    assert [f.url for f in files] == [
        "https://data.binance.vision/data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-01-31.zip",
        "https://data.binance.vision/data/spot/monthly/klines/ETHUSDT/1m/ETHUSDT-1m-2025-02.zip",
    ]
    assert files[1].checksum_url == files[1].url + ".CHECKSUM"
    assert "data/spot/monthly/klines" in str(files[1].target)  # the loaders read the market here
