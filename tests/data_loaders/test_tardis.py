"""tardis.dev liquidations and trades CSV loaders."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.frames import LIQUIDATION_COLUMNS
from liqcascade.data_loaders.frames import TRADE_COLUMNS
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.liquidation import DEFAULT_FEED_DELAY_NS
from liqcascade.data_loaders.liquidation import TIE_BREAK_NS
from liqcascade.data_loaders.tardis import load_tardis_liquidations
from liqcascade.data_loaders.tardis import load_tardis_trades

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LIQUIDATIONS = FIXTURES / "tardis_liquidations_ETHUSDT.csv"
TRADES = FIXTURES / "tardis_trades_ETHUSDT.csv"


def variant(src: Path, dst: Path, replace: dict[int, str | None]) -> Path:
    """Copy ``src`` to ``dst`` with 1-based lines replaced (``None`` deletes the line)."""
    lines = src.read_text().splitlines()
    out = []
    for number, text in enumerate(lines, start=1):
        new = replace.get(number, text)
        if new is not None:
            out.append(new)
    dst.write_text("\n".join(out) + "\n")
    return dst


def gzipped(src: Path, dst: Path) -> Path:
    with src.open("rb") as f_in, gzip.open(dst, "wb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    return dst


# ---------------------------------------------------------------------------------- liquidations


def test_liquidation_order_side_becomes_position_side() -> None:
    frame = load_tardis_liquidations(LIQUIDATIONS)
    # Fixture sides in file order: sell, sell, buy, sell. "sell" = a long was force-sold.
    assert frame["side"].tolist() == ["LONG", "LONG", "SHORT", "LONG"]


def test_liquidation_frame_contract() -> None:
    frame = load_tardis_liquidations(LIQUIDATIONS)
    assert tuple(frame.columns) == (*LIQUIDATION_COLUMNS, "market")
    assert frame["market"].tolist() == ["bybit-linear"] * 4  # the exchange column decides
    assert frame["symbol"].tolist() == ["ETHUSDT"] * 4
    assert frame["price"].dtype == np.float64 and frame["quantity"].dtype == np.float64
    assert frame["ts_event"].dtype == np.int64 and frame["ts_init"].dtype == np.int64
    assert frame["line"].tolist() == [2, 3, 4, 5]
    assert frame["price"].tolist() == [2301.52, 2301.30, 2310.1, 2298.75]
    assert frame["quantity"].tolist() == [1.25, 0.4, 3.0, 0.08]


def test_liquidation_timestamps_us_to_ns_and_receipt_is_ts_init() -> None:
    frame = load_tardis_liquidations(LIQUIDATIONS)
    assert frame["ts_event"].iloc[0] == 1_740_614_400_123_000_000
    # ts_init = local_timestamp (receipt) + the tie-break nanosecond, not ts_event + delay.
    assert frame["ts_init"].iloc[0] == 1_740_614_400_412_345_000 + TIE_BREAK_NS
    assert frame["ts_init"].iloc[2] == 1_740_614_401_812_007_000 + TIE_BREAK_NS
    # feed_delay_ns has no effect: the file always has a receipt time.
    other = load_tardis_liquidations(LIQUIDATIONS, feed_delay_ns=7 * DEFAULT_FEED_DELAY_NS)
    assert other["ts_init"].tolist() == frame["ts_init"].tolist()


def test_liquidation_symbol_upper_cased_and_expected_symbol(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "lower.csv",
        {2: "bybit,ethusdt,1740614400123000,1740614400412345,,sell,2301.52,1.25"},
    )
    frame = load_tardis_liquidations(src, expected_symbol="ethusdt")
    assert set(frame["symbol"]) == {"ETHUSDT"}
    with pytest.raises(MalformedInputError, match=r"lower\.csv, line 2: symbol differs"):
        load_tardis_liquidations(src, expected_symbol="BTCUSDT")


def test_liquidation_rows_sorted_by_ts_init(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "unsorted.csv",
        {2: "bybit,ETHUSDT,1740614403000000,1740614403100000,,sell,2301.52,1.25"},
    )
    frame = load_tardis_liquidations(src)
    assert frame["line"].tolist() == [3, 4, 5, 2]
    assert (np.diff(frame["ts_init"].to_numpy()) >= 0).all()


def test_liquidation_bad_number_names_file_and_line(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "bad_price.csv",
        {4: "bybit,ETHUSDT,1740614401500000,1740614401812007,,buy,23x0.1,3"},
    )
    with pytest.raises(MalformedInputError) as info:
        load_tardis_liquidations(src)
    message = str(info.value)
    assert "bad_price.csv" in message and "line 4" in message and "23x0.1" in message
    assert info.value.location == "line 4"


def test_liquidation_bad_timestamp_and_wrong_field_count(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "bad_ts.csv",
        {3: "bybit,ETHUSDT,1740614400123000.5,1740614400412345,,sell,2301.30,0.4"},
    )
    with pytest.raises(MalformedInputError, match=r"bad_ts\.csv, line 3: column 'timestamp'"):
        load_tardis_liquidations(src)
    src = variant(
        LIQUIDATIONS,
        tmp_path / "short_row.csv",
        {5: "bybit,ETHUSDT,1740614402250000,1740614402561220,sell,2298.75,0.08"},
    )
    with pytest.raises(MalformedInputError, match=r"line 5: expected 8 fields, found 7"):
        load_tardis_liquidations(src)


def test_liquidation_unknown_side(tmp_path: Path) -> None:
    # "unknown" is legal for trades but says nothing about which position was liquidated.
    src = variant(
        LIQUIDATIONS,
        tmp_path / "side.csv",
        {3: "bybit,ETHUSDT,1740614400123000,1740614400412345,,unknown,2301.30,0.4"},
    )
    with pytest.raises(
        MalformedInputError, match=r"side\.csv, line 3: unknown side value 'unknown'"
    ):
        load_tardis_liquidations(src)


def test_liquidation_missing_column(tmp_path: Path) -> None:
    src = tmp_path / "no_local.csv"
    src.write_text(
        "exchange,symbol,timestamp,id,side,price,amount\n"
        "bybit,ETHUSDT,1740614400123000,,sell,2301.52,1.25\n"
    )
    with pytest.raises(MalformedInputError, match=r"line 1: missing column 'local_timestamp'"):
        load_tardis_liquidations(src)


def test_liquidation_gz_equals_plain(tmp_path: Path) -> None:
    plain = load_tardis_liquidations(LIQUIDATIONS)
    packed = load_tardis_liquidations(gzipped(LIQUIDATIONS, tmp_path / "liq.csv.gz"))
    assert packed.equals(plain)


def test_liquidation_gz_malformed_still_located(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "bad.csv",
        {5: "bybit,ETHUSDT,1740614402250000,1740614402561220,,sell,2298.75,abc"},
    )
    with pytest.raises(MalformedInputError, match=r"bad\.csv\.gz, line 5: column 'amount'"):
        load_tardis_liquidations(gzipped(src, tmp_path / "bad.csv.gz"))


def test_liquidation_non_positive_quantity(tmp_path: Path) -> None:
    src = variant(
        LIQUIDATIONS,
        tmp_path / "zero.csv",
        {3: "bybit,ETHUSDT,1740614400123000,1740614400412345,,sell,2301.30,0"},
    )
    with pytest.raises(
        MalformedInputError, match=r"zero\.csv, line 3: quantity must be a positive"
    ):
        load_tardis_liquidations(src)


# ---------------------------------------------------------------------------------------- trades


def test_trade_taker_side_becomes_aggressor() -> None:
    frame = load_tardis_trades(TRADES)
    # buy -> 1 (buyer), sell -> 2 (seller), unknown -> 0 (no aggressor).
    assert frame["aggressor"].tolist() == [1, 2, 2, 1, 0]
    assert frame["aggressor"].dtype == np.int8


def test_trade_frame_contract_and_timestamps() -> None:
    frame = load_tardis_trades(TRADES, expected_symbol="ETHUSDT")
    assert tuple(frame.columns) == (*TRADE_COLUMNS, "market")
    assert frame["trade_id"].iloc[0] == "9c6e4b0a-1f3d-5c55-a6d1-3f2b8e0d9a11"
    assert frame["ts_event"].iloc[0] == 1_740_614_400_101_000_000
    assert frame["ts_init"].iloc[0] == 1_740_614_400_105_512_000  # local_timestamp, no tie-break
    assert frame["line"].tolist() == [2, 3, 4, 5, 6]
    assert frame["size"].tolist() == [0.52, 1.25, 0.4, 3.0, 0.08]


def test_trades_match_framework_tardis_loader(tmp_path: Path) -> None:
    from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader
    from nautilus_trader.model.identifiers import InstrumentId

    spec = load_specs()["ETHUSDT"]
    oracle = TardisCSVDataLoader(
        price_precision=spec.price_precision,
        size_precision=spec.size_precision,
        instrument_id=InstrumentId.from_str(spec.instrument_id),
    )
    # The committed fixture plus a larger generated file (random sides, prices, ids).
    rng = np.random.default_rng(7)
    n = 2_000
    ts = 1_740_614_400_000_000 + np.cumsum(rng.integers(0, 3_000, n))
    sides = rng.choice(["buy", "sell", "unknown"], n, p=[0.45, 0.45, 0.1])
    prices = np.round(2300 + np.cumsum(rng.normal(0, 0.1, n)), 2)
    sizes = np.round(rng.exponential(1.0, n), 2) + 0.01
    generated = tmp_path / "generated.csv.gz"
    with gzip.open(generated, "wt") as f:
        f.write("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
        for i in range(n):
            f.write(
                f"bybit,ETHUSDT,{ts[i]},{ts[i] + 4_000 + i % 97},t{i:06d},{sides[i]},"
                f"{prices[i]:.2f},{sizes[i]:.2f}\n"
            )
    for path in (TRADES, generated):
        ours = load_tardis_trades(path)
        theirs = oracle.load_trades(path)
        assert len(ours) == len(theirs)
        assert ours["price"].tolist() == [t.price.as_double() for t in theirs]
        assert ours["size"].tolist() == [t.size.as_double() for t in theirs]
        assert ours["aggressor"].tolist() == [int(t.aggressor_side) for t in theirs]
        assert ours["trade_id"].tolist() == [t.trade_id.value for t in theirs]
        assert ours["ts_event"].tolist() == [t.ts_event for t in theirs]
        assert ours["ts_init"].tolist() == [t.ts_init for t in theirs]


def test_trade_clock_skew_clamped(tmp_path: Path) -> None:
    # Recorder's clock behind the exchange's: receipt "before" the event.
    src = variant(
        TRADES,
        tmp_path / "skew.csv",
        {2: "bybit,ETHUSDT,1740614400101000,1740614400100000,id-1,buy,2301.6,0.52"},
    )
    frame = load_tardis_trades(src)
    row = frame[frame["line"] == 2].iloc[0]
    assert row["ts_init"] == row["ts_event"] == 1_740_614_400_101_000_000


def test_trade_bad_number_names_file_and_line(tmp_path: Path) -> None:
    src = variant(
        TRADES,
        tmp_path / "bad_size.csv",
        {5: "bybit,ETHUSDT,1740614401490000,1740614401494391,e8b2,buy,2310.1,3..0"},
    )
    with pytest.raises(MalformedInputError) as info:
        load_tardis_trades(src)
    assert "bad_size.csv" in str(info.value) and "line 5" in str(info.value)


def test_trade_unknown_side_and_empty_id(tmp_path: Path) -> None:
    src = variant(
        TRADES,
        tmp_path / "side.csv",
        {4: "bybit,ETHUSDT,1740614400118000,1740614400122043,5a7c,taker,2301.3,0.4"},
    )
    with pytest.raises(MalformedInputError, match=r"line 4: unknown side value 'taker'"):
        load_tardis_trades(src)
    src = variant(
        TRADES,
        tmp_path / "no_id.csv",
        {3: "bybit,ETHUSDT,1740614400118000,1740614400122043,,sell,2301.52,1.25"},
    )
    with pytest.raises(MalformedInputError, match=r"no_id\.csv, line 3: empty trade id"):
        load_tardis_trades(src)


def test_trade_side_case_insensitive(tmp_path: Path) -> None:
    src = variant(
        TRADES,
        tmp_path / "upper.csv",
        {2: "bybit,ETHUSDT,1740614400101000,1740614400105512,id-1,BUY,2301.6,0.52"},
    )
    assert load_tardis_trades(src)["aggressor"].iloc[0] == 1


def test_trade_blank_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    text = TRADES.read_text().splitlines()
    # A blank line after line 3 pushes the rest down by one; the error must say line 6.
    text.insert(3, "")
    text[5] = "bybit,ETHUSDT,1740614401490000,1740614401494391,e8b2,buy,nan?,3"
    src = tmp_path / "blank.csv"
    src.write_text("\n".join(text) + "\n\n")
    with pytest.raises(MalformedInputError, match=r"blank\.csv, line 6: column 'price'"):
        load_tardis_trades(src)
    del text[5]  # drop the bad row: the rest loads, blank lines skipped, numbers still true
    src.write_text("\n".join(text) + "\n\n")
    assert load_tardis_trades(src)["line"].tolist() == [2, 3, 5, 6]


def test_trade_gz_equals_plain(tmp_path: Path) -> None:
    plain = load_tardis_trades(TRADES)
    packed = load_tardis_trades(gzipped(TRADES, tmp_path / "trades.csv.gz"))
    assert packed.equals(plain)


def test_trade_expected_symbol_mismatch() -> None:
    with pytest.raises(MalformedInputError, match=r"line 2: symbol differs from the declared"):
        load_tardis_trades(TRADES, expected_symbol="SOLUSDT")


def test_header_only_file_gives_empty_typed_frame(tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(TRADES.read_text().splitlines()[0] + "\n")
    frame = load_tardis_trades(src)
    assert len(frame) == 0 and tuple(frame.columns) == (*TRADE_COLUMNS, "market")
    assert frame["ts_init"].dtype == np.int64 and frame["aggressor"].dtype == np.int8
    # tardis serves an empty gzip for a day without data: no rows, and the frame says why.
    (tmp_path / "nothing.csv.gz").write_bytes(gzip.compress(b""))
    empty = load_tardis_liquidations(tmp_path / "nothing.csv.gz")
    assert len(empty) == 0 and "empty file" in empty.attrs["notes"][0]


def test_exchange_column_picks_the_venue(tmp_path: Path) -> None:
    rows = TRADES.read_text().splitlines()
    binance = tmp_path / "binance.csv"
    binance.write_text(
        "\n".join([rows[0], *(r.replace("bybit,", "binance-futures,") for r in rows[1:])])
    )
    assert set(load_tardis_trades(binance)["market"]) == {"binance-usdm"}
    spot = tmp_path / "spot.csv"
    spot.write_text("\n".join([rows[0], rows[1].replace("bybit,", "binance,")]))
    assert set(load_tardis_trades(spot)["market"]) == {"binance-spot"}
    okx = tmp_path / "okx.csv"
    okx.write_text("\n".join([rows[0], rows[1], rows[2].replace("bybit,", "okex-swap,")]))
    with pytest.raises(MalformedInputError, match=r"okx\.csv, line 3: exchange 'okex-swap'"):
        load_tardis_trades(okx)
