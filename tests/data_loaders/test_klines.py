"""Binance and Bybit klines into bar frames stamped at bar close."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import BAR_COLUMNS
from liqcascade.data_loaders.klines import interval_to_bar_spec
from liqcascade.data_loaders.klines import load_binance_klines
from liqcascade.data_loaders.klines import load_bybit_klines

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BINANCE_1H = FIXTURES / "binance_klines" / "ETHUSDT-1h-2024-01-01.csv"  # futures, header, ms
BINANCE_1M_US = FIXTURES / "binance_klines" / "ETHUSDT-1m-2025-01-01.csv"  # spot, no header, µs
BYBIT_60 = FIXTURES / "bybit_kline_files" / "ETHUSDT_60_2024-01-01_2024-01-01.csv"
BYBIT_D = FIXTURES / "bybit_kline_files" / "BTCUSDT_D_2024-01-01_2024-01-03.csv"

HOUR_NS = 3_600_000_000_000
MINUTE_NS = 60_000_000_000
OPEN_2024_NS = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC (a Monday)
OPEN_2025_NS = 1_735_689_600_000_000_000  # 2025-01-01 00:00 UTC


@pytest.mark.parametrize(
    ("interval", "spec", "ns"),
    [
        ("1s", "1-SECOND", 1_000_000_000),
        ("1m", "1-MINUTE", MINUTE_NS),
        ("15m", "15-MINUTE", 15 * MINUTE_NS),
        ("1h", "1-HOUR", HOUR_NS),
        ("4h", "4-HOUR", 4 * HOUR_NS),
        ("1d", "1-DAY", 24 * HOUR_NS),
        ("3d", "3-DAY", 72 * HOUR_NS),
        ("1w", "1-WEEK", 168 * HOUR_NS),
        ("1", "1-MINUTE", MINUTE_NS),  # Bybit codes: bare numbers are minutes
        ("5", "5-MINUTE", 5 * MINUTE_NS),
        ("60", "1-HOUR", HOUR_NS),
        ("120", "2-HOUR", 2 * HOUR_NS),
        ("720", "12-HOUR", 12 * HOUR_NS),
        ("D", "1-DAY", 24 * HOUR_NS),
        ("W", "1-WEEK", 168 * HOUR_NS),
        ("5-MINUTE", "5-MINUTE", 5 * MINUTE_NS),
        ("60-MINUTE", "1-HOUR", HOUR_NS),
    ],
)
def test_interval_to_bar_spec(interval: str, spec: str, ns: int) -> None:
    assert interval_to_bar_spec(interval) == (spec, ns)


@pytest.mark.parametrize("interval", ["M", "1M", "1mo", "1-MONTH", "7x", "", "0"])
def test_interval_to_bar_spec_rejects(interval: str) -> None:
    with pytest.raises(ValueError):
        interval_to_bar_spec(interval)


# -------------------------------------------------------------------------------------- Binance


def test_binance_bars_stamped_at_close_and_inferred_from_name() -> None:
    frame = load_binance_klines(BINANCE_1H, market="binance-usdm")
    assert tuple(frame.columns) == BAR_COLUMNS
    assert frame.attrs["bar_spec"] == "1-HOUR"
    assert frame["symbol"].tolist() == ["ETHUSDT"] * 3
    # First bar opens 00:00 and closes 01:00: it must not be visible before 01:00.
    closes = [OPEN_2024_NS + (i + 1) * HOUR_NS for i in range(3)]
    assert frame["ts_event"].tolist() == closes
    assert frame["ts_init"].tolist() == closes
    assert frame["line"].tolist() == [2, 3, 4]  # header row present
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [
        2281.87,
        2297.00,
        2276.83,
        2295.51,
        42152.589,
    ]
    assert frame["volume"].dtype == np.float64


def test_binance_no_header_and_microsecond_times() -> None:
    # Spot files have no header and, since 2025-01-01, microsecond timestamps.
    frame = load_binance_klines(BINANCE_1M_US, market="binance-spot")
    assert frame.attrs["bar_spec"] == "1-MINUTE"
    assert frame["line"].tolist() == [1, 2, 3]
    assert frame["ts_event"].tolist() == [OPEN_2025_NS + (i + 1) * MINUTE_NS for i in range(3)]


def test_binance_header_and_no_header_give_same_bars(tmp_path: Path) -> None:
    headerless = tmp_path / "ETHUSDT-1h-2024-01-01.csv"
    headerless.write_text("".join(BINANCE_1H.read_text().splitlines(keepends=True)[1:]))
    with_header = load_binance_klines(BINANCE_1H, market="binance-usdm")
    without = load_binance_klines(headerless, market="binance-usdm")
    assert without["line"].tolist() == [1, 2, 3]
    columns = ["open", "high", "low", "close", "volume", "ts_event", "ts_init"]
    assert without[columns].equals(with_header[columns])


def test_binance_zip_and_gz(tmp_path: Path) -> None:
    archive = tmp_path / "ETHUSDT-1h-2024-01-01.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(BINANCE_1H, BINANCE_1H.name)
    packed = tmp_path / "ETHUSDT-1h-2024-01-01.csv.gz"
    with BINANCE_1H.open("rb") as f_in, gzip.open(packed, "wb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    plain = load_binance_klines(BINANCE_1H, market="binance-usdm")
    for path in (archive, packed):
        frame = load_binance_klines(path, market="binance-usdm")
        assert frame.equals(plain)
        assert frame.attrs["bar_spec"] == "1-HOUR"


def test_binance_zip_must_hold_one_csv(tmp_path: Path) -> None:
    archive = tmp_path / "ETHUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.csv", "x")
        z.writestr("b.csv", "y")
    with pytest.raises(MalformedInputError, match="expected one CSV inside the zip"):
        load_binance_klines(archive, market="binance-usdm")


def test_binance_interval_and_symbol_without_file_name(tmp_path: Path) -> None:
    anonymous = tmp_path / "klines.csv"
    shutil.copy(BINANCE_1H, anonymous)
    with pytest.raises(ValueError, match="pass --symbol"):
        load_binance_klines(anonymous, market="binance-usdm")
    # The interval falls back to close_time - open_time.
    frame = load_binance_klines(anonymous, market="binance-usdm", symbol="ethusdt")
    assert frame.attrs["bar_spec"] == "1-HOUR"
    assert set(frame["symbol"]) == {"ETHUSDT"}


def test_binance_explicit_arguments_win(tmp_path: Path) -> None:
    frame = load_binance_klines(BINANCE_1H, market="binance-usdm", interval="60m", symbol="ETHUSDT")
    assert frame.attrs["bar_spec"] == "1-HOUR"


def test_binance_wrong_interval_rejected() -> None:
    with pytest.raises(MalformedInputError, match=r"line 2: close_time 1704070799999 does not"):
        load_binance_klines(BINANCE_1H, market="binance-usdm", interval="15m")


def test_binance_off_grid_bar(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT-1h-2024-01-01.csv"
    lines = BINANCE_1H.read_text().splitlines()
    # Shift the third bar by a minute; close_time is consistent, the grid is not.
    lines[2] = (
        lines[2].replace("1704070800000", "1704070860000").replace("1704074399999", "1704074459999")
    )
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedInputError, match=r"line 3: bar open .* is not on the 1-HOUR grid"):
        load_binance_klines(src, market="binance-usdm")


def test_binance_repeated_bar(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT-1h-2024-01-01.csv"
    lines = BINANCE_1H.read_text().splitlines()
    src.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(MalformedInputError, match=r"line 5: bar open .* repeats"):
        load_binance_klines(src, market="binance-usdm")


def test_binance_bad_number_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT-1m-2025-01-01.csv"
    lines = BINANCE_1M_US.read_text().splitlines()
    lines[1] = lines[1].replace("3340.00", "3340,00")  # decimal comma: one field too many
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedInputError) as info:
        load_binance_klines(src, market="binance-usdm")
    assert "ETHUSDT-1m-2025-01-01.csv" in str(info.value) and "line 2" in str(info.value)
    lines = BINANCE_1M_US.read_text().splitlines()
    lines[2] = lines[2].replace("3335.20", "3335.2O")
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedInputError, match=r"line 3: column 'low' is not a number"):
        load_binance_klines(src, market="binance-usdm")


def test_binance_inconsistent_ohlc(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT-1h-2024-01-01.csv"
    src.write_text(BINANCE_1H.read_text().replace("2300.00", "2291.00"))
    with pytest.raises(MalformedInputError, match=r"line 3: inconsistent OHLC"):
        load_binance_klines(src, market="binance-usdm")


# ---------------------------------------------------------------------------------------- Bybit


def test_bybit_bars_stamped_at_close_sorted_and_inferred() -> None:
    frame = load_bybit_klines(BYBIT_60)
    assert frame.attrs["bar_spec"] == "1-HOUR"
    assert tuple(frame.columns) == BAR_COLUMNS
    # The file is newest first; bars come out oldest first, each stamped at its close.
    assert frame["line"].tolist() == [4, 3, 2]
    assert frame["ts_event"].tolist() == [OPEN_2024_NS + (i + 1) * HOUR_NS for i in range(3)]
    assert (frame["ts_init"] == frame["ts_event"]).all()
    assert frame["open"].iloc[0] == 2281.87 and frame["close"].iloc[-1] == 2287.66
    assert set(frame["symbol"]) == {"ETHUSDT"}


def test_bybit_daily_code() -> None:
    frame = load_bybit_klines(BYBIT_D)
    assert frame.attrs["bar_spec"] == "1-DAY"
    assert set(frame["symbol"]) == {"BTCUSDT"}
    day = 24 * HOUR_NS
    assert frame["ts_event"].tolist() == [OPEN_2024_NS + (i + 1) * day for i in range(3)]


def test_bybit_needs_name_or_arguments(tmp_path: Path) -> None:
    anonymous = tmp_path / "bars.csv"
    shutil.copy(BYBIT_60, anonymous)
    with pytest.raises(ValueError, match="pass --symbol and --interval"):
        load_bybit_klines(anonymous)
    frame = load_bybit_klines(anonymous, interval="60", symbol="ETHUSDT")
    assert frame.attrs["bar_spec"] == "1-HOUR"


def test_bybit_off_grid_for_declared_interval() -> None:
    # Hourly bars read as 4-hour bars: 01:00 is not on the 4-hour grid.
    with pytest.raises(
        MalformedInputError,
        match=r"line 2: bar open 2024-01-01T02:00:00\+00:00 is not on the 4-HOUR grid",
    ):
        load_bybit_klines(BYBIT_60, interval="240")


def test_bybit_bad_number_and_missing_column(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT_60_2024-01-01_2024-01-01.csv"
    src.write_text(BYBIT_60.read_text().replace("2288.12", "n/a"))
    with pytest.raises(MalformedInputError) as info:
        load_bybit_klines(src)
    assert "ETHUSDT_60_2024-01-01_2024-01-01.csv, line 3" in str(info.value)
    src.write_text(BYBIT_60.read_text().replace("startTime", "start"))
    with pytest.raises(MalformedInputError, match=r"line 1: missing column 'startTime'"):
        load_bybit_klines(src)


def test_bybit_weekly_grid(tmp_path: Path) -> None:
    src = tmp_path / "ETHUSDT_W_2024-01-01_2024-01-14.csv"
    week_ms = 7 * 24 * 3_600_000
    monday = 1_704_067_200_000  # 2024-01-01 was a Monday
    src.write_text(
        "startTime,open,high,low,close,volume,turnover\n"
        f"{monday},2281.87,2400,2200,2350,1000,2300000\n"
        f"{monday + week_ms},2350,2500,2300,2450,1000,2400000\n"
    )
    frame = load_bybit_klines(src)
    assert frame.attrs["bar_spec"] == "1-WEEK"
    assert frame["ts_event"].iloc[0] == OPEN_2024_NS + 7 * 24 * HOUR_NS
    src.write_text(src.read_text().replace(str(monday), str(monday + 86_400_000), 1))
    with pytest.raises(MalformedInputError, match=r"line 2: .* not on the 1-WEEK grid"):
        load_bybit_klines(src)


def test_binance_market_from_the_archive_path_or_refused(tmp_path: Path) -> None:
    um = tmp_path / "data" / "futures" / "um" / "daily" / "klines" / "ETHUSDT" / "1h"
    spot = tmp_path / "data" / "spot" / "daily" / "klines" / "ETHUSDT" / "1m"
    for folder, source in ((um, BINANCE_1H), (spot, BINANCE_1M_US)):
        folder.mkdir(parents=True)
        shutil.copy(source, folder / source.name)
    assert load_binance_klines(um / BINANCE_1H.name).attrs["market"] == "binance-usdm"
    assert load_binance_klines(spot / BINANCE_1M_US.name).attrs["market"] == "binance-spot"
    with pytest.raises(ValueError, match="pass --market binance-usdm or binance-spot"):
        load_binance_klines(BINANCE_1H)
