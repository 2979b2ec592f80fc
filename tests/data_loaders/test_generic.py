"""Generic liquidation tables: column mapping, side conventions, CSV and Parquet."""

from __future__ import annotations

import gzip
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.generic import TableMapping
from liqcascade.data_loaders.generic import load_generic_liquidations
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POSITION = FIXTURES / "generic_liquidations_position.csv"  # Bybit allLiquidation recording
ORDER = FIXTURES / "generic_liquidations_order.csv"  # Binance forceOrder-style export

BYBIT_MAPPING = TableMapping(
    timestamp="T",
    side="S",
    price="p",
    quantity="v",
    side_convention="position",
    symbol="s",
    receipt_timestamp="recv_ts",
)
ORDER_MAPPING = TableMapping(
    timestamp="event_time", side="side", price="price", quantity="qty", side_convention="order"
)


# ------------------------------------------------------------------------------ side semantics


def test_position_convention_buy_is_long() -> None:
    frame = load_generic_liquidations(POSITION, BYBIT_MAPPING)
    # Bybit's S names the position: Buy = a long was liquidated. Values: Buy, Buy, Sell, buy.
    assert frame["side"].tolist() == ["LONG", "LONG", "SHORT", "LONG"]


def test_order_convention_sell_is_long() -> None:
    frame = load_generic_liquidations(ORDER, ORDER_MAPPING, symbol="ETHUSDT")
    # The liquidation ORDER side: SELL = a long was force-sold. Values: SELL, BUY, Sell.
    assert frame["side"].tolist() == ["LONG", "SHORT", "LONG"]


def test_position_convention_accepts_long_short_words(tmp_path: Path) -> None:
    src = tmp_path / "words.csv"
    src.write_text("t,side,px,q\n1740614400000,Long,100,1\n1740614400001, SHORT ,100,1\n")
    mapping = TableMapping("t", "side", "px", "q", "position")
    frame = load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    assert frame["side"].tolist() == ["LONG", "SHORT"]


def test_order_convention_rejects_position_words(tmp_path: Path) -> None:
    # "long" is meaningless as an order side: refuse rather than guess.
    src = tmp_path / "words.csv"
    src.write_text("t,side,px,q\n1740614400000,sell,100,1\n1740614400001,long,100,1\n")
    mapping = TableMapping("t", "side", "px", "q", "order")
    with pytest.raises(MalformedInputError) as info:
        load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    message = str(info.value)
    assert "words.csv, line 3" in message and "'long'" in message and "'order'" in message


def test_unknown_side_value_names_line_and_value(tmp_path: Path) -> None:
    src = tmp_path / "bad_side.csv"
    src.write_text(POSITION.read_text().replace("Sell", "Liquidated"))
    with pytest.raises(MalformedInputError, match=r"bad_side\.csv, line 4: unknown side value"):
        load_generic_liquidations(src, BYBIT_MAPPING)


# ---------------------------------------------------------------------------------- timestamps


def test_receipt_column_becomes_ts_init() -> None:
    frame = load_generic_liquidations(POSITION, BYBIT_MAPPING)
    assert frame["ts_event"].iloc[0] == 1_740_614_400_123_000_000  # ms -> ns
    assert frame["ts_init"].iloc[0] == 1_740_614_400_412_000_000 + TIE_BREAK_NS
    assert frame["symbol"].tolist() == ["ETHUSDT"] * 4
    assert tuple(frame.columns) == LIQUIDATION_COLUMNS
    assert frame["line"].tolist() == [2, 3, 4, 5]


def test_feed_delay_when_no_receipt_column() -> None:
    frame = load_generic_liquidations(ORDER, ORDER_MAPPING, symbol="ethusdt")
    ts_event = frame["ts_event"].to_numpy()
    assert ts_event[0] == 1_740_614_400_123_000_000
    expected = ts_event + DEFAULT_FEED_DELAY_NS + TIE_BREAK_NS
    assert frame["ts_init"].tolist() == expected.tolist()
    other = load_generic_liquidations(ORDER, ORDER_MAPPING, symbol="ETHUSDT", feed_delay_ns=0)
    assert other["ts_init"].tolist() == (ts_event + TIE_BREAK_NS).tolist()
    assert set(frame["symbol"]) == {"ETHUSDT"}


@pytest.mark.parametrize(
    ("unit", "text", "expected_ns"),
    [
        ("s", "1740614400.123456789", 1_740_614_400_123_456_789),
        ("s", "1740614400", 1_740_614_400_000_000_000),
        ("s", "1740614400.5", 1_740_614_400_500_000_000),
        ("ms", "1740614400123.25", 1_740_614_400_123_250_000),
        ("us", "1740614400123456", 1_740_614_400_123_456_000),
        ("ns", "1740614400123456789", 1_740_614_400_123_456_789),
        ("iso", "2025-02-27T00:00:00.123456Z", 1_740_614_400_123_456_000),
        ("iso", "2025-02-27 01:00:00+01:00", 1_740_614_400_000_000_000),
        ("iso", "2025-02-27T00:00:00", 1_740_614_400_000_000_000),
    ],
)
def test_timestamp_units_convert_exactly(
    tmp_path: Path, unit: str, text: str, expected_ns: int
) -> None:
    src = tmp_path / "units.csv"
    src.write_text(f"t,side,px,q\n{text},buy,100,1\n")
    mapping = TableMapping("t", "side", "px", "q", "position", timestamp_unit=unit)
    frame = load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    assert frame["ts_event"].iloc[0] == expected_ns


def test_bad_timestamp_names_line(tmp_path: Path) -> None:
    src = tmp_path / "bad_ts.csv"
    src.write_text("t,side,px,q\n1740614400000,buy,100,1\n17406144e3,buy,100,1\n")
    mapping = TableMapping("t", "side", "px", "q", "position")
    with pytest.raises(MalformedInputError, match=r"bad_ts\.csv, line 3: column 't' is not"):
        load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    src.write_text("t,side,px,q\n1740614400000,buy,100,1\n99999999999999999999,buy,100,1\n")
    with pytest.raises(MalformedInputError, match=r"line 3: column 't' is out of range"):
        load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    src.write_text("t,side,px,q\n2025-02-27T00:00:00Z,buy,100,1\nyesterday,buy,100,1\n")
    iso = TableMapping("t", "side", "px", "q", "position", timestamp_unit="iso")
    with pytest.raises(MalformedInputError, match=r"line 3: column 't' is not an ISO-8601"):
        load_generic_liquidations(src, iso, symbol="ETHUSDT")


def test_wrong_unit_is_caught_by_range_checks(tmp_path: Path) -> None:
    # Milliseconds declared as seconds overflow int64 nanoseconds.
    mapping = TableMapping("T", "S", "p", "v", "position", symbol="s", timestamp_unit="s")
    with pytest.raises(MalformedInputError, match=r"line 2: column 'T' is out of range"):
        load_generic_liquidations(POSITION, mapping)
    # Milliseconds declared as microseconds land in 1970.
    mapping = TableMapping("T", "S", "p", "v", "position", symbol="s", timestamp_unit="us")
    with pytest.raises(MalformedInputError, match=r"line 2: ts_event out of range"):
        load_generic_liquidations(POSITION, mapping)


# ----------------------------------------------------------------------------- malformed input


def test_bad_number_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad_qty.csv"
    lines = POSITION.read_text().splitlines()
    lines[3] = "1740614401500,ETHUSDT,Sell,3 ETH,2310.10,1740614401812"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedInputError) as info:
        load_generic_liquidations(src, BYBIT_MAPPING)
    assert "bad_qty.csv" in str(info.value) and "line 4" in str(info.value)
    assert "'v'" in str(info.value)


def test_missing_mapped_column_named(tmp_path: Path) -> None:
    mapping = TableMapping("T", "S", "p", "size", "position", symbol="s")
    with pytest.raises(MalformedInputError, match=r"missing column 'size' \(mapped as quantity"):
        load_generic_liquidations(POSITION, mapping)


def test_wrong_field_count(tmp_path: Path) -> None:
    src = tmp_path / "ragged.csv"
    src.write_text(ORDER.read_text() + "1740614403000,SELL,2290\n")
    with pytest.raises(MalformedInputError, match=r"ragged\.csv, line 5: expected 4 fields"):
        load_generic_liquidations(src, ORDER_MAPPING, symbol="ETHUSDT")


def test_symbol_required_and_checked() -> None:
    with pytest.raises(ValueError, match="pass --symbol"):
        load_generic_liquidations(ORDER, ORDER_MAPPING)
    with pytest.raises(MalformedInputError, match=r"line 2: symbol differs from the declared"):
        load_generic_liquidations(POSITION, BYBIT_MAPPING, symbol="BTCUSDT")


def test_gz_equals_plain(tmp_path: Path) -> None:
    packed = tmp_path / "liq.csv.gz"
    packed.write_bytes(gzip.compress(POSITION.read_bytes()))
    plain = load_generic_liquidations(POSITION, BYBIT_MAPPING)
    assert load_generic_liquidations(packed, BYBIT_MAPPING).equals(plain)


# ------------------------------------------------------------------------------------- parquet


def _parquet(tmp_path: Path, **columns: pa.Array) -> Path:
    path = tmp_path / "liq.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_int_timestamps_and_rows(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        ts=pa.array([1_740_614_400_123, 1_740_614_401_500], pa.int64()),
        recv=pa.array([1_740_614_400_412, 1_740_614_401_812], pa.int64()),
        side=pa.array(["Buy", "Sell"]),
        price=pa.array([2301.52, 2310.1]),
        size=pa.array([1, 3], pa.int32()),
        sym=pa.array(["ETHUSDT", "ETHUSDT"]),
    )
    mapping = TableMapping("ts", "side", "price", "size", "position", "sym", "recv")
    frame = load_generic_liquidations(path, mapping)
    assert frame["side"].tolist() == ["LONG", "SHORT"]
    assert frame["quantity"].tolist() == [1.0, 3.0]
    assert frame["line"].tolist() == [1, 2]
    assert frame["ts_init"].iloc[1] == 1_740_614_401_812_000_000 + TIE_BREAK_NS


def test_parquet_arrow_timestamp_and_float_seconds(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        ts=pa.array([1_740_614_400_123_456_789], pa.timestamp("ns", tz="UTC")),
        recv=pa.array([1_740_614_400.500123]),  # float seconds: rounded to whole µs
        side=pa.array(["sell"]),
        price=pa.array([2301.52]),
        size=pa.array([1.0]),
    )
    mapping = TableMapping("ts", "side", "price", "size", "order", None, "recv", "s")
    frame = load_generic_liquidations(path, mapping, symbol="ETHUSDT")
    assert frame["ts_event"].iloc[0] == 1_740_614_400_123_456_789
    assert frame["ts_init"].iloc[0] == 1_740_614_400_500_123_000 + TIE_BREAK_NS
    assert frame["side"].iloc[0] == "LONG"


def test_parquet_errors_name_rows(tmp_path: Path) -> None:
    base = {
        "ts": pa.array([1_740_614_400_123, 1_740_614_401_500, 1_740_614_402_000]),
        "side": pa.array(["Buy", "Sell", "Buy"]),
        "price": pa.array(["2301.5", "2310.1", "oops"]),
        "size": pa.array([1.0, 2.0, 3.0]),
    }
    mapping = TableMapping("ts", "side", "price", "size", "position")
    path = _parquet(tmp_path, **base)
    with pytest.raises(MalformedInputError, match=r"liq\.parquet, row 3: column 'price' is not a"):
        load_generic_liquidations(path, mapping, symbol="ETHUSDT")
    path = _parquet(tmp_path, **{**base, "price": pa.array([1.0, None, 2.0])})
    with pytest.raises(MalformedInputError, match=r"row 2: missing value in column 'price'"):
        load_generic_liquidations(path, mapping, symbol="ETHUSDT")
    path = _parquet(tmp_path, **{**base, "price": pa.array([1.0, 2.0, 3.0])})
    bad = TableMapping("ts", "side", "px", "size", "position")
    with pytest.raises(MalformedInputError, match=r"missing column 'px' \(mapped as price"):
        load_generic_liquidations(path, bad, symbol="ETHUSDT")
    path = _parquet(
        tmp_path,
        **{**base, "price": pa.array([1.0, 2.0, 3.0]), "side": pa.array(["Buy", "?", "?"])},
    )
    with pytest.raises(MalformedInputError, match=r"row 2: unknown side value '\?'"):
        load_generic_liquidations(path, mapping, symbol="ETHUSDT")


# ------------------------------------------------------------------------------------- mapping


def test_mapping_from_toml() -> None:
    text = """
    [mapping]
    timestamp = "T"
    side = "S"
    price = "p"
    quantity = "v"
    side_convention = "position"
    symbol = "s"
    receipt_timestamp = "recv_ts"
    """
    mapping = TableMapping.from_dict(tomllib.loads(text)["mapping"])
    assert mapping == BYBIT_MAPPING
    assert mapping.timestamp_unit == "ms"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timestamp": "t", "side": "s", "price": "p", "quantity": "q"}, "side_convention"),
        (
            {"timestamp": "t", "side": "s", "price": "p", "quantity": "q", "side_convention": "x"},
            "side_convention",
        ),
        (
            {
                "timestamp": "t",
                "side": "s",
                "price": "p",
                "quantity": "q",
                "side_convention": "order",
                "timestamp_unit": "minutes",
            },
            "timestamp_unit",
        ),
        (
            {
                "timestamp": "t",
                "side": "s",
                "price": "p",
                "quantity": "q",
                "side_convention": "order",
                "qty": "q",
            },
            "qty",
        ),
        (
            {
                "timestamp": 5,
                "side": "s",
                "price": "p",
                "quantity": "q",
                "side_convention": "order",
            },
            "timestamp",
        ),
    ],
)
def test_mapping_from_dict_names_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TableMapping.from_dict(data)


def test_large_file_round_trip(tmp_path: Path) -> None:
    # Enough rows to span several Arrow blocks/chunks; line numbers stay exact.
    n = 50_000
    ts = 1_740_614_400_000 + np.arange(n)
    src = tmp_path / "big.csv"
    with src.open("w") as f:
        f.write("t,side,px,q\n")
        for i in range(n):
            f.write(f"{ts[i]},{'buy' if i % 3 else 'sell'},{100 + i % 7},{1 + i % 5}\n")
    mapping = TableMapping("t", "side", "px", "q", "order")
    frame = load_generic_liquidations(src, mapping, symbol="ETHUSDT")
    assert len(frame) == n
    assert frame["line"].tolist() == list(range(2, n + 2))
    assert (frame["side"] == "LONG").sum() == len(range(0, n, 3))
