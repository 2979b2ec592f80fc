"""Instrument definitions for Bybit USDT linear perpetuals.

Specs live in ``configs/instruments.toml`` (offline defaults with their provenance) so a user can
edit them; :func:`refresh_specs` rewrites that file from Bybit's public instruments endpoint
through the framework's Bybit adapter when the machine is online.

``InstrumentSpec`` is plain Python (no framework import) so the synthetic sample generator and
pure decision logic can use tick and lot sizes cheaply; :func:`to_instrument` builds the
framework's ``CryptoPerpetual``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from liqcascade.configs import configs_dir

if TYPE_CHECKING:
    from nautilus_trader.model.instruments import CryptoPerpetual

VENUE = "BYBIT"
#: The shipped specs (package data), found from any working directory.
DEFAULT_SPECS_PATH = configs_dir() / "instruments.toml"


@dataclass(frozen=True)
class InstrumentSpec:
    """Trading rules of one linear perpetual, as the venue publishes them."""

    symbol: str
    base: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    max_leverage: Decimal

    @property
    def instrument_id(self) -> str:
        """Nautilus id, e.g. ``ETHUSDT-LINEAR.BYBIT``."""
        return instrument_id_for(self.symbol)

    @property
    def price_precision(self) -> int:
        """Decimal places of the tick size (``0.010`` -> 3)."""
        return _precision(self.tick_size)

    @property
    def size_precision(self) -> int:
        """Decimal places of the quantity step (``1`` -> 0)."""
        return _precision(self.qty_step)


def instrument_id_for(symbol: str) -> str:
    """Return the Nautilus instrument id of a Bybit linear symbol."""
    return f"{symbol.upper()}-LINEAR.{VENUE}"


def symbol_of(instrument_id: str) -> str:
    """Return the venue symbol of an instrument id (``ETHUSDT-LINEAR.BYBIT`` -> ``ETHUSDT``)."""
    return instrument_id.split(".")[0].removesuffix("-LINEAR")


def _precision(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    # "0.010" normalises to "0.01"; Bybit quotes SOL at 3 decimals, so honour the written form.
    written = step.as_tuple().exponent
    return max(0, -min(int(exponent), int(written)))


_FIELDS = (
    "tick_size",
    "qty_step",
    "min_qty",
    "max_qty",
    "min_notional",
    "maker_fee",
    "taker_fee",
    "max_leverage",
)


def load_specs(path: str | Path = DEFAULT_SPECS_PATH) -> dict[str, InstrumentSpec]:
    """
    Read instrument specs from a TOML file.

    Raises
    ------
    ValueError
        Naming the symbol and field, if a value is missing or not a positive decimal.

    """
    path = Path(path)
    with path.open("rb") as f:
        raw = tomllib.load(f)
    specs: dict[str, InstrumentSpec] = {}
    for symbol, table in raw.items():
        values: dict[str, Decimal] = {}
        for field in _FIELDS:
            if field not in table:
                raise ValueError(f"{path}: [{symbol}] is missing field '{field}'")
            try:
                value = Decimal(str(table[field]))
            except ArithmeticError as e:
                raise ValueError(f"{path}: [{symbol}].{field} is not a number") from e
            if value < 0 or (value == 0 and field not in ("maker_fee", "taker_fee")):
                raise ValueError(f"{path}: [{symbol}].{field} must be positive, got {value}")
            values[field] = value
        specs[symbol.upper()] = InstrumentSpec(
            symbol=symbol.upper(), base=str(table.get("base", symbol[:-4])), **values
        )
    return specs


def to_instrument(spec: InstrumentSpec, ts_init: int = 0) -> CryptoPerpetual:
    """Build the framework's ``CryptoPerpetual`` for a spec (USDT-margined, linear)."""
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.identifiers import Symbol
    from nautilus_trader.model.instruments import CryptoPerpetual
    from nautilus_trader.model.objects import Currency
    from nautilus_trader.model.objects import Money
    from nautilus_trader.model.objects import Price
    from nautilus_trader.model.objects import Quantity

    instrument_id = InstrumentId.from_str(spec.instrument_id)
    base = Currency.from_str(spec.base)
    margin = Decimal(1) / spec.max_leverage
    return CryptoPerpetual(
        instrument_id=instrument_id,
        raw_symbol=Symbol(spec.symbol),
        base_currency=base,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=spec.price_precision,
        size_precision=spec.size_precision,
        price_increment=Price(spec.tick_size, spec.price_precision),
        size_increment=Quantity(spec.qty_step, spec.size_precision),
        max_quantity=Quantity(spec.max_qty, spec.size_precision),
        min_quantity=Quantity(spec.min_qty, spec.size_precision),
        max_notional=None,
        min_notional=Money(spec.min_notional, USDT),
        max_price=None,
        min_price=None,
        margin_init=margin,
        margin_maint=margin / 2,
        maker_fee=spec.maker_fee,
        taker_fee=spec.taker_fee,
        ts_event=ts_init,
        ts_init=ts_init,
    )


def spec_from_instrument(instrument: CryptoPerpetual) -> InstrumentSpec:
    """Read a spec back from a framework instrument (e.g. one the Bybit adapter loaded)."""
    symbol = symbol_of(instrument.id.value)
    margin = Decimal(str(instrument.margin_init))
    return InstrumentSpec(
        symbol=symbol,
        base=instrument.base_currency.code,
        tick_size=instrument.price_increment.as_decimal(),
        qty_step=instrument.size_increment.as_decimal(),
        min_qty=instrument.min_quantity.as_decimal(),
        max_qty=instrument.max_quantity.as_decimal(),
        min_notional=instrument.min_notional.as_decimal()
        if instrument.min_notional
        else Decimal(0),
        maker_fee=Decimal(str(instrument.maker_fee)),
        taker_fee=Decimal(str(instrument.taker_fee)),
        max_leverage=(Decimal(1) / margin).quantize(Decimal(1)) if margin > 0 else Decimal(1),
    )


def specs_to_toml(specs: dict[str, InstrumentSpec], header: str) -> str:
    """Render specs in the format of ``configs/instruments.toml``."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for spec in specs.values():
        lines += ["", f"[{spec.symbol}]", f'base = "{spec.base}"']
        lines += [f'{name} = "{getattr(spec, name)}"' for name in _FIELDS]
    return "\n".join(lines) + "\n"


def refresh_specs(
    symbols: list[str], out_path: Path = DEFAULT_SPECS_PATH
) -> dict[str, InstrumentSpec]:
    """
    Fetch current specs from Bybit's public instruments endpoint and rewrite ``out_path``.

    Uses the framework's Bybit adapter (``BybitInstrumentProvider``); needs network access to
    Bybit, no API keys. Fees come from the adapter's fee lookup for the account tier when keys
    are configured, otherwise from its defaults.
    """
    import asyncio
    from datetime import UTC
    from datetime import datetime

    from nautilus_trader.adapters.bybit.factories import get_cached_bybit_http_client
    from nautilus_trader.adapters.bybit.factories import get_cached_bybit_instrument_provider
    from nautilus_trader.core.nautilus_pyo3 import BybitProductType
    from nautilus_trader.model.identifiers import InstrumentId

    client = get_cached_bybit_http_client()
    provider = get_cached_bybit_instrument_provider(client, (BybitProductType.LINEAR,))
    ids = [InstrumentId.from_str(instrument_id_for(s)) for s in symbols]
    asyncio.run(provider.load_ids_async(ids))
    specs = {}
    for instrument_id in ids:
        instrument = provider.find(instrument_id)
        if instrument is None:
            raise ValueError(f"Bybit returned no linear instrument for {instrument_id}")
        specs[instrument_id.symbol.value.removesuffix("-LINEAR")] = spec_from_instrument(instrument)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "Bybit USDT linear perpetuals, refreshed from Bybit's public instruments endpoint\n"
        "(GET /v5/market/instruments-info?category=linear), via the nautilus Bybit adapter,\n"
        f"on {stamp}."
    )
    Path(out_path).write_text(specs_to_toml(specs, header))
    return specs
