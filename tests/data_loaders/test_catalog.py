"""Catalog writing: framework-identical files, idempotence, atomicity, merging, streaming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from liqcascade.data_loaders.arrow_tables import fixed_point_array
from liqcascade.data_loaders.catalog_writer import CatalogWriter
from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.liquidation import LiquidationData
from liqcascade.data_loaders.load import load_files
from tests.conftest import snapshot

ETH = load_specs()["ETHUSDT"]
ETH_ID = InstrumentId.from_str(ETH.instrument_id)
T0 = 1_740_960_000_000_000_000  # 2025-03-03 00:00 UTC


def _trade_frame(n: int, start: int = T0, step: int = 1_000_000) -> pd.DataFrame:
    ts = [start + i * step for i in range(n)]
    return pd.DataFrame(
        {
            "symbol": "ETHUSDT",
            "price": [2190.11 + (i % 7) * 0.01 for i in range(n)],
            "size": [0.01 * (1 + i % 5) for i in range(n)],
            "aggressor": [1 + i % 2 for i in range(n)],
            "trade_id": [f"t{i}" for i in range(n)],
            "ts_event": ts,
            "ts_init": ts,
            "line": range(2, n + 2),
        }
    )


def test_fixed_point_matches_framework_raw_values() -> None:
    for value, precision in [(2190.11, 2), (0.00001, 5), (98765.4, 1), (123456789.0, 0)]:
        units = round(value * 10**precision)
        encoded = fixed_point_array(pd.Series([units]).to_numpy(), precision)[0].as_py()
        assert int.from_bytes(encoded, "little") == Price(value, precision).raw


def test_trade_files_are_byte_identical_to_the_framework(tmp_path: Path) -> None:
    frame = _trade_frame(12_000)  # > one row group
    with CatalogWriter(tmp_path / "ours") as writer:
        writer.add_trades(frame, ETH, Path("x.csv"))
    ticks = [
        TradeTick(
            ETH_ID,
            Price(row.price, 2),
            Quantity(row.size, 2),
            AggressorSide(row.aggressor),
            TradeId(row.trade_id),
            row.ts_event,
            row.ts_init,
        )
        for row in frame.itertuples()
    ]
    ParquetDataCatalog(str(tmp_path / "framework")).write_data(ticks)
    ours = snapshot(tmp_path / "ours" / "data" / "trade_tick")
    theirs = snapshot(tmp_path / "framework" / "data" / "trade_tick")
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_bars_and_liquidations_are_byte_identical_to_the_framework(tmp_path: Path) -> None:
    bar_type = f"{ETH.instrument_id}-1-HOUR-LAST-EXTERNAL"
    hours = [T0 + h * 3_600_000_000_000 for h in range(1, 4)]
    bars = pd.DataFrame(
        {
            "symbol": "ETHUSDT",
            "open": [2190.0, 2191.5, 2188.0],
            "high": [2195.0, 2193.0, 2190.0],
            "low": [2185.0, 2187.0, 2180.25],
            "close": [2191.5, 2188.0, 2189.0],
            "volume": [1500.25, 900.0, 3000.5],
            "ts_event": hours,
            "ts_init": hours,
            "line": [2, 3, 4],
        }
    )
    liqs = pd.DataFrame(
        {
            "symbol": "ETHUSDT",
            "side": ["LONG", "SHORT"],
            "price": [2188.41, 2205.9],
            "quantity": [12.5, 3.1],
            "ts_event": [T0 + 5, T0 + 10],
            "ts_init": [T0 + 7, T0 + 12],
            "line": [1, 2],
        }
    )
    with CatalogWriter(tmp_path / "ours") as writer:
        writer.add_bars(bars, bar_type, ETH, Path("k.csv"))
        writer.add_liquidations(liqs, ETH)
    framework = ParquetDataCatalog(str(tmp_path / "framework"))
    framework.write_data(
        [
            Bar(
                BarType.from_str(bar_type),
                Price(r.open, 2),
                Price(r.high, 2),
                Price(r.low, 2),
                Price(r.close, 2),
                Quantity(r.volume, 2),
                r.ts_event,
                r.ts_init,
            )
            for r in bars.itertuples()
        ]
    )
    framework.write_data(
        [
            LiquidationData(
                instrument_id=ETH_ID,
                side=r.side,
                price=r.price,
                quantity=r.quantity,
                notional=r.price * r.quantity,
                ts_event=r.ts_event,
                ts_init=r.ts_init,
            )
            for r in liqs.itertuples()
        ]
    )
    for folder in ("bar", "custom_liquidation_data"):
        ours = snapshot(tmp_path / "ours" / "data" / folder)
        assert ours
        assert ours == snapshot(tmp_path / "framework" / "data" / folder)


def test_load_writes_per_day_files_sorted_and_queryable(fixtures: Path, catalog_dir: Path) -> None:
    load_files("bybit-trades", [fixtures / "ETHUSDT2025-03-03.csv"], catalog_dir)
    load_files("bybit-liquidations", [fixtures / "bybit_allLiquidation.jsonl"], catalog_dir)
    catalog = ParquetDataCatalog(str(catalog_dir))
    trades = catalog.query(TradeTick, identifiers=[ETH.instrument_id])
    assert [str(t.price) for t in trades] == ["2190.11", "2190.12", "2190.12", "2189.90", "2194.00"]
    assert [t.ts_init for t in trades] == sorted(t.ts_init for t in trades)
    liqs = catalog.query(LiquidationData, identifiers=[ETH.instrument_id])
    assert [c.data.side for c in liqs] == ["LONG", "LONG", "SHORT"]
    assert liqs[1].data.notional == pytest.approx(40.0 * 2187.02)
    assert [i.id.value for i in catalog.instruments()] == [ETH.instrument_id]


def test_reimport_changes_nothing(fixtures: Path, catalog_dir: Path) -> None:
    files = [fixtures / "ETHUSDT2025-03-03.csv"]
    load_files("bybit-trades", files, catalog_dir)
    load_files("bybit-liquidations", [fixtures / "bybit_allLiquidation.jsonl"], catalog_dir)
    before = snapshot(catalog_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in catalog_dir.rglob("*.parquet")}
    again = load_files("bybit-trades", files, catalog_dir)
    load_files("bybit-liquidations", [fixtures / "bybit_allLiquidation.jsonl"], catalog_dir)
    assert snapshot(catalog_dir) == before
    assert {p: p.stat().st_mtime_ns for p in catalog_dir.rglob("*.parquet")} == mtimes
    assert again.files_written == 0


def test_overlapping_recordings_merge_without_duplicates(fixtures: Path, catalog_dir: Path) -> None:
    # The recorded file holds 2 of the 3 events of the raw file, received at other times.
    load_files("bybit-liquidations", [fixtures / "bybit_recorded.jsonl"], catalog_dir)
    load_files("bybit-liquidations", [fixtures / "bybit_allLiquidation.jsonl"], catalog_dir)
    liqs = ParquetDataCatalog(str(catalog_dir)).query(
        LiquidationData, identifiers=[ETH.instrument_id]
    )
    assert len(liqs) == 3
    # The earliest receipt of a duplicated event is kept (the recorder's, 561 ms after T).
    assert liqs[0].data.ts_init == 1740960000561234568


def test_malformed_file_leaves_catalog_exactly_as_it_was(fixtures: Path, catalog_dir: Path) -> None:
    load_files("bybit-trades", [fixtures / "ETHUSDT2025-03-03.csv"], catalog_dir)
    before = snapshot(catalog_dir)
    good_day2 = _trade_frame(3, start=T0 + 86_400_000_000_000)
    assert len(good_day2) == 3
    with pytest.raises(MalformedInputError, match="line 3"):
        # A good file first, then a bad one: nothing of either may land.
        load_files(
            "bybit-trades",
            [fixtures / "ETHUSDT2025-03-03.csv", fixtures / "ETHUSDT2025-03-04_bad_price.csv"],
            catalog_dir,
        )
    assert snapshot(catalog_dir) == before
    assert not list(catalog_dir.glob(".staging-*"))


def test_multi_day_file_from_another_tool_is_split_into_days(catalog_dir: Path) -> None:
    # A file spanning two days, as ParquetDataCatalog.write_data would write it.
    frame = _trade_frame(4, start=T0 + 86_399_000_000_000, step=500_000_000)
    ticks = [
        TradeTick(
            ETH_ID,
            Price(r.price, 2),
            Quantity(r.size, 2),
            AggressorSide(r.aggressor),
            TradeId(r.trade_id),
            r.ts_event,
            r.ts_init,
        )
        for r in frame.itertuples()
    ]
    ParquetDataCatalog(str(catalog_dir)).write_data(ticks)
    with CatalogWriter(catalog_dir) as writer:
        writer.add_trades(_trade_frame(2, start=T0 + 86_400_000_000_000 + 5), ETH, Path("x"))
    files = sorted((catalog_dir / "data" / "trade_tick" / ETH.instrument_id).glob("*.parquet"))
    assert [f.name[:10] for f in files] == ["2025-03-03", "2025-03-04"]
    assert len(ParquetDataCatalog(str(catalog_dir)).query(TradeTick)) == 6


def test_unknown_instrument_is_refused(tmp_path: Path, catalog_dir: Path) -> None:
    path = tmp_path / "ZZZUSDT2025-03-03.csv"
    header = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    path.write_text(header + "foreignNotional\n1740960000.1,ZZZUSDT,Buy,1,0.7,PlusTick,a,1,1,1\n")
    with pytest.raises(MalformedInputError, match="no instrument definition for 'ZZZUSDT'"):
        load_files("bybit-trades", [path], catalog_dir)
    assert snapshot(catalog_dir) == {}


def test_off_grid_price_is_refused(tmp_path: Path, catalog_dir: Path) -> None:
    path = tmp_path / "ETHUSDT2025-03-03.csv"
    header = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    path.write_text(
        header + "foreignNotional\n1740960000.1,ETHUSDT,Buy,1,2190.123,PlusTick,a,1,1,1\n"
    )
    with pytest.raises(MalformedInputError, match=r"line 2: price 2190\.123 has more than 2"):
        load_files("bybit-trades", [path], catalog_dir)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_backtest_node_streams_liquidations_after_trades(
    fixtures: Path, catalog_dir: Path, chunk_size: int | None
) -> None:
    from nautilus_trader.backtest.node import BacktestNode
    from nautilus_trader.config import BacktestDataConfig
    from nautilus_trader.config import BacktestEngineConfig
    from nautilus_trader.config import BacktestRunConfig
    from nautilus_trader.config import BacktestVenueConfig
    from nautilus_trader.config import ImportableStrategyConfig
    from nautilus_trader.config import LoggingConfig

    from tests.data_loaders.recording_strategy import RecordingStrategy

    load_files("bybit-trades", [fixtures / "ETHUSDT2025-03-03.csv"], catalog_dir)
    load_files("bybit-liquidations", [fixtures / "bybit_allLiquidation.jsonl"], catalog_dir)
    RecordingStrategy.received.clear()
    run = BacktestRunConfig(
        engine=BacktestEngineConfig(
            strategies=[
                ImportableStrategyConfig(
                    strategy_path="tests.data_loaders.recording_strategy:RecordingStrategy",
                    config_path="tests.data_loaders.recording_strategy:RecordingConfig",
                    config={"instrument_id": ETH.instrument_id},
                )
            ],
            logging=LoggingConfig(bypass_logging=True),
        ),
        venues=[
            BacktestVenueConfig(
                name="BYBIT",
                oms_type="NETTING",
                account_type="MARGIN",
                base_currency="USDT",
                starting_balances=["10000 USDT"],
            )
        ],
        data=[
            BacktestDataConfig(
                catalog_path=str(catalog_dir),
                data_cls=TradeTick,
                instrument_id=ETH.instrument_id,
            ),
            BacktestDataConfig(
                catalog_path=str(catalog_dir),
                data_cls=LiquidationData,
                instrument_id=ETH.instrument_id,
                client_id="LIQ",
            ),
        ],
        chunk_size=chunk_size,
        raise_exception=True,
        dispose_on_completion=True,
    )
    BacktestNode([run]).run()
    received = RecordingStrategy.received
    assert [r[1] for r in received] == ["LONG", "LONG", "SHORT"]
    # Each liquidation sees only trades printed before its receipt time: the first two arrive
    # at .623/.877 (after the .287 trade at 2190.12), the third at 2.140 (after 1.445's 2189.90).
    assert [r[3] for r in received] == [2190.12, 2190.12, 2189.90]


def test_trade_dedupe_keeps_distinct_trades_sharing_a_timestamp(catalog_dir: Path) -> None:
    frame = _trade_frame(6)
    frame.loc[[1, 2, 3], "ts_event"] = frame.loc[1, "ts_event"]  # three fills in one ms
    frame["ts_init"] = frame["ts_event"]
    replayed = pd.concat([frame, frame.iloc[[2, 4]]]).sort_values("ts_init", kind="stable")
    with CatalogWriter(catalog_dir) as writer:
        writer.add_trades(replayed, ETH, Path("x"))
    trades = ParquetDataCatalog(str(catalog_dir)).query(TradeTick)
    assert [t.trade_id.value for t in trades] == [f"t{i}" for i in range(6)]
