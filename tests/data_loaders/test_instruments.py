"""Instrument specs: the offline defaults per venue, validation, offline import, round trips."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.cli import main
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM
from liqcascade.data_loaders.instruments import BYBIT_LINEAR
from liqcascade.data_loaders.instruments import SHIPPED_SPEC_FILES
from liqcascade.data_loaders.instruments import load_registry
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import market_of
from liqcascade.data_loaders.instruments import spec_from_instrument
from liqcascade.data_loaders.instruments import specs_from_exchange_json
from liqcascade.data_loaders.instruments import specs_to_toml
from liqcascade.data_loaders.instruments import symbol_of
from liqcascade.data_loaders.instruments import to_instrument

EXCHANGE_INFO = Path(__file__).resolve().parent.parent / "fixtures" / "exchange_info"


def test_sample_five_keep_their_specs() -> None:
    specs = load_specs()
    assert {"BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"} <= set(specs)
    eth = to_instrument(specs["ETHUSDT"])
    assert eth.id.value == "ETHUSDT-LINEAR.BYBIT"
    assert str(eth.price_increment) == "0.01"
    assert eth.maker_fee == Decimal("0.0002")
    assert eth.taker_fee == Decimal("0.00055")
    # SOL is quoted to 3 decimals (tick 0.010), DOGE to 5, lot steps of 1 for DOGE/XRP.
    assert specs["SOLUSDT"].price_precision == 3
    assert specs["DOGEUSDT"].price_precision == 5
    assert specs["XRPUSDT"].size_precision == 0


def test_refresh_round_trip_preserves_specs(tmp_path: Path) -> None:
    specs = load_specs()
    rebuilt = {s: spec_from_instrument(to_instrument(spec)) for s, spec in specs.items()}
    assert rebuilt == specs
    out = tmp_path / "instruments.toml"
    out.write_text(specs_to_toml(rebuilt, "refreshed in a test"))
    assert load_specs(out) == specs


def test_bad_spec_names_symbol_and_field(tmp_path: Path) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text('[ETHUSDT]\nbase = "ETH"\ntick_size = "-0.01"\n')
    with pytest.raises(ValueError, match=r"\[ETHUSDT\]\.tick_size must be positive"):
        load_specs(path)
    path.write_text('[ETHUSDT]\nbase = "ETH"\ntick_size = "0.01"\n')
    with pytest.raises(ValueError, match=r"\[ETHUSDT\] is missing field 'qty_step'"):
        load_specs(path)
    fields = ["qty_step", "min_qty", "max_qty", "min_notional", "maker_fee", "taker_fee"]
    fields.append("max_leverage")
    path.write_text(
        '[ETHUSDT]\nbase = "ETH"\ntick_size = "abc"\n' + "".join(f'{f} = "1"\n' for f in fields)
    )
    with pytest.raises(ValueError, match=r"\[ETHUSDT\]\.tick_size is not a number"):
        load_specs(path)


def test_thirty_bybit_perpetuals_have_binance_counterparts() -> None:
    registry = load_registry()
    bybit = registry.market(BYBIT_LINEAR.name)
    assert len(bybit) >= 30
    for spec in bybit.values():
        usdm = registry.counterpart(spec, BINANCE_USDM.name)
        spot = registry.counterpart(spec, BINANCE_SPOT.name)
        assert usdm is not None and spot is not None, spec.symbol
        assert usdm.coin == spot.coin == spec.coin
    shib = registry.get("SHIB1000USDT")
    assert (shib.coin, shib.coin_units) == ("SHIB", Decimal(1000))
    assert registry.counterpart(shib, BINANCE_USDM.name).symbol == "1000SHIBUSDT"
    assert registry.counterpart(shib, BINANCE_SPOT.name).symbol == "SHIBUSDT"
    pepe = registry.get("1000PEPEUSDT", BINANCE_USDM.name)
    assert registry.counterpart(pepe, BINANCE_SPOT.name).coin_units == 1
    assert registry.get("POLUSDT") and registry.get("RENDERUSDT", BINANCE_SPOT.name)


def test_every_shipped_spec_builds_its_venues_instrument() -> None:
    ids = set()
    for spec in load_registry():
        instrument = to_instrument(spec)
        assert instrument.id.value == spec.instrument_id
        assert market_of(spec.instrument_id).name == spec.market
        assert symbol_of(spec.instrument_id) == spec.symbol
        ids.add(instrument.id.value)
    assert {"ETHUSDT-LINEAR.BYBIT", "ETHUSDT-PERP.BINANCE", "ETHUSDT.BINANCE"} <= ids
    spot = to_instrument(load_registry().get("ETHUSDT", BINANCE_SPOT.name))
    assert type(spot).__name__ == "CurrencyPair"


def test_round_trip_of_every_market(tmp_path: Path) -> None:
    for path in SHIPPED_SPEC_FILES:
        specs = load_specs(path)
        out = tmp_path / path.name
        out.write_text(specs_to_toml(specs, "round trip"))
        assert load_specs(out) == specs


def test_user_file_replaces_and_extends_the_shipped_specs(tmp_path: Path) -> None:
    own = tmp_path / "own.toml"
    fields = "".join(
        f'{f} = "{v}"\n'
        for f, v in (("qty_step", "1"), ("min_qty", "1"), ("max_qty", "10"), ("min_notional", "5"))
    )
    fees = 'maker_fee = "0"\ntaker_fee = "0.0005"\nmax_leverage = "10"\n'
    own.write_text(
        'market = "binance-usdm"\n'
        f'[ETHUSDT]\ntick_size = "0.05"\n{fields}{fees}'
        f'[NEWCOINUSDT]\ntick_size = "0.001"\n{fields}{fees}'
    )
    registry = load_registry([own])
    assert registry.get("ETHUSDT", BINANCE_USDM.name).tick_size == Decimal("0.05")
    assert registry.get("ETHUSDT").tick_size == Decimal("0.01")  # Bybit untouched
    assert registry.get("NEWCOINUSDT", BINANCE_USDM.name).base == "NEWCOIN"
    message = registry.missing_message("NEWCOINUSDT", BYBIT_LINEAR.name)
    assert "defined for binance-usdm" in message and "--instruments" in message


def test_unknown_market_and_field_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('market = "kraken"\n')
    with pytest.raises(ValueError, match="market = 'kraken'"):
        load_specs(path)
    path.write_text(
        '[ETHUSDT]\ntick = "0.01"\n'
        + "".join(
            f'{f} = "1"\n'
            for f in (
                "tick_size",
                "qty_step",
                "min_qty",
                "max_qty",
                "min_notional",
                "maker_fee",
                "taker_fee",
                "max_leverage",
            )
        )
    )
    with pytest.raises(ValueError, match=r"\[ETHUSDT\]\.tick is not a spec field"):
        load_specs(path)


def test_specs_from_saved_exchange_responses() -> None:
    bybit = json.loads((EXCHANGE_INFO / "bybit_instruments_info_linear.json").read_text())
    specs = specs_from_exchange_json(bybit, "bybit-linear")
    assert list(specs) == ["SHIB1000USDT", "SOLUSDT"]  # the dated future is not a perpetual
    assert specs["SOLUSDT"].tick_size == Decimal("0.010") and specs["SOLUSDT"].price_precision == 3
    assert specs["SHIB1000USDT"].qty_step == Decimal(10)
    assert specs["SHIB1000USDT"].coin == "SHIB" and specs["SOLUSDT"].max_leverage == 100
    usdm = json.loads((EXCHANGE_INFO / "binance_fapi_exchangeInfo.json").read_text())
    pepe = specs_from_exchange_json(usdm, "binance-usdm")["1000PEPEUSDT"]
    assert (pepe.tick_size, pepe.min_notional, pepe.instrument_id) == (
        Decimal("0.0000001"),
        Decimal(5),
        "1000PEPEUSDT-PERP.BINANCE",
    )
    spot = json.loads((EXCHANGE_INFO / "binance_spot_exchangeInfo.json").read_text())
    eth = specs_from_exchange_json(spot, "binance-spot", ["ETHUSDT"])["ETHUSDT"]
    # Binance pads with zeros ("0.01000000"): the step is 0.01, the precision 2.
    assert (eth.price_precision, eth.size_precision, eth.min_notional) == (2, 4, Decimal(5))
    with pytest.raises(ValueError, match="no trading binance-spot instrument 'BTCUSDT'"):
        specs_from_exchange_json(spot, "binance-spot", ["BTCUSDT"])
    with pytest.raises(ValueError, match="not a binance-usdm instruments response"):
        specs_from_exchange_json(bybit, "binance-usdm")


def test_instruments_import_command_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "binance_usdm.toml"
    result = CliRunner().invoke(
        main,
        [
            "instruments",
            "import",
            str(EXCHANGE_INFO / "binance_fapi_exchangeInfo.json"),
            "--market",
            "binance-usdm",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    specs = load_specs(out)
    assert list(specs) == ["1000PEPEUSDT"] and specs["1000PEPEUSDT"].market == "binance-usdm"
    assert "binance_fapi_exchangeInfo.json" in out.read_text()  # provenance in the header
