"""Instrument specs: the offline defaults, validation, and the refresh round trip."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from liqcascade.data_loaders.instruments import load_specs
from liqcascade.data_loaders.instruments import spec_from_instrument
from liqcascade.data_loaders.instruments import specs_to_toml
from liqcascade.data_loaders.instruments import to_instrument


def test_offline_defaults_cover_the_five_perpetuals() -> None:
    specs = load_specs()
    assert sorted(specs) == ["BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
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
