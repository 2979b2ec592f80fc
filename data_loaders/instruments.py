"""Instrument definitions: Bybit USDT perpetuals, Binance USD-M perpetuals and Binance spot.

Specs live in TOML files under ``configs/`` (offline defaults with their provenance), one file per
*market*, so a user can read and edit them:

- ``bybit-linear``: ``instruments.toml``, ids like ``ETHUSDT-LINEAR.BYBIT`` (perpetual);
- ``binance-usdm``: ``instruments_binance_usdm.toml``, ``ETHUSDT-PERP.BINANCE`` (perpetual);
- ``binance-spot``: ``instruments_binance_spot.toml``, ``ETHUSDT.BINANCE`` (``CurrencyPair``).

(The ids are the ones the framework's own Bybit and Binance adapters use.) A file names its
market with a top-level ``market = "..."`` key; a file without one is Bybit linear, which keeps
``instruments.toml`` and files written by ``instruments refresh`` as they were.

Venues are kept apart: a Binance row only ever becomes a Binance instrument. Coins that trade
under different names are related through ``coin`` and ``coin_units`` (``1000PEPEUSDT`` on Bybit
is 1000 PEPE per contract; ``PEPEUSDT`` on Binance spot is 1), which is what a run config's
explicit cross-venue price mapping needs to convert prices (see
:meth:`InstrumentRegistry.counterpart`).

:func:`refresh_specs` rewrites the Bybit file from Bybit's public instruments endpoint through the
framework's Bybit adapter when the machine is online; :func:`specs_from_exchange_json` reads the
same endpoint's JSON (or Binance's ``exchangeInfo``) saved by hand, for a machine that is not.

``InstrumentSpec`` is plain Python (no framework import) so the synthetic sample generator and
pure decision logic can use tick and lot sizes cheaply; :func:`to_instrument` builds the
framework's instrument.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from liqcascade.configs import configs_dir

if TYPE_CHECKING:
    from nautilus_trader.model.instruments import Instrument

VENUE = "BYBIT"


@dataclass(frozen=True)
class Market:
    """A venue's product class: how its symbols become instrument ids."""

    name: str  # "bybit-linear"
    venue: str  # "BYBIT"
    suffix: str  # "-LINEAR": the symbol part of the id is SYMBOL + suffix
    kind: str  # "perpetual" | "spot"
    spec_file: str  # the shipped specs file of this market

    def instrument_id(self, symbol: str) -> str:
        """``ETHUSDT`` -> ``ETHUSDT-LINEAR.BYBIT`` (this market's id)."""
        return f"{symbol.upper()}{self.suffix}.{self.venue}"


BYBIT_LINEAR = Market("bybit-linear", "BYBIT", "-LINEAR", "perpetual", "instruments.toml")
BINANCE_USDM = Market(
    "binance-usdm", "BINANCE", "-PERP", "perpetual", "instruments_binance_usdm.toml"
)
BINANCE_SPOT = Market("binance-spot", "BINANCE", "", "spot", "instruments_binance_spot.toml")
MARKETS: dict[str, Market] = {m.name: m for m in (BYBIT_LINEAR, BINANCE_USDM, BINANCE_SPOT)}

#: The shipped Bybit specs (package data), found from any working directory.
DEFAULT_SPECS_PATH = configs_dir() / BYBIT_LINEAR.spec_file
#: Every shipped specs file, one per market.
SHIPPED_SPEC_FILES = tuple(configs_dir() / m.spec_file for m in MARKETS.values())


def market_named(name: str) -> Market:
    """
    The market of a name (``"binance-usdm"``).

    Raises
    ------
    ValueError
        Listing the known markets.

    """
    try:
        return MARKETS[name]
    except KeyError:
        raise ValueError(f"unknown market {name!r} (known: {', '.join(MARKETS)})") from None


@dataclass(frozen=True)
class InstrumentSpec:
    """Trading rules of one instrument, as the venue publishes them."""

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
    market: str = BYBIT_LINEAR.name
    quote: str = "USDT"
    #: The underlying coin and how many of it one unit of ``base`` is (``1000PEPE`` -> PEPE,
    #: 1000); what relates the same coin across venues that name it differently.
    coin: str = ""
    coin_units: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if not self.coin:
            coin, units = coin_of(self.base)
            object.__setattr__(self, "coin", coin)
            object.__setattr__(self, "coin_units", units)

    @property
    def venue(self) -> str:
        """``BYBIT`` or ``BINANCE``."""
        return MARKETS[self.market].venue

    @property
    def instrument_id(self) -> str:
        """Nautilus id, e.g. ``ETHUSDT-LINEAR.BYBIT`` or ``ETHUSDT-PERP.BINANCE``."""
        return MARKETS[self.market].instrument_id(self.symbol)

    @property
    def price_precision(self) -> int:
        """Decimal places of the tick size (``0.010`` -> 3)."""
        return _precision(self.tick_size)

    @property
    def size_precision(self) -> int:
        """Decimal places of the quantity step (``1`` -> 0)."""
        return _precision(self.qty_step)


_MULTIPLIED = re.compile(r"^(?:(?P<lead>10+)(?P<coin>[A-Z].*)|(?P<coin2>.*[A-Z])(?P<tail>10+))$")


def coin_of(base: str) -> tuple[str, Decimal]:
    """
    The coin a base currency counts, and how many of it one unit is.

    ``1000PEPE`` -> (``PEPE``, 1000); ``SHIB1000`` -> (``SHIB``, 1000); ``ETH`` -> (``ETH``, 1).
    """
    match = _MULTIPLIED.match(base)
    if match is None:
        return base, Decimal(1)
    if match.group("lead"):
        return match.group("coin"), Decimal(match.group("lead"))
    return match.group("coin2"), Decimal(match.group("tail"))


def instrument_id_for(symbol: str, market: str = BYBIT_LINEAR.name) -> str:
    """Return the Nautilus instrument id of a venue symbol (default: Bybit linear)."""
    return market_named(market).instrument_id(symbol)


def symbol_of(instrument_id: str) -> str:
    """Return the venue symbol of an instrument id (``ETHUSDT-LINEAR.BYBIT`` -> ``ETHUSDT``)."""
    symbol = instrument_id.split(".")[0]
    for market in MARKETS.values():
        if market.suffix and symbol.endswith(market.suffix):
            return symbol.removesuffix(market.suffix)
    return symbol


def market_of(instrument_id: str) -> Market:
    """
    The market an instrument id belongs to.

    Raises
    ------
    ValueError
        For an id of no known market.

    """
    symbol, _, venue = instrument_id.partition(".")
    for market in MARKETS.values():
        if venue == market.venue and (
            symbol.endswith(market.suffix) if market.suffix else "-" not in symbol
        ):
            return market
    known = ", ".join(MARKETS)
    raise ValueError(f"{instrument_id}: not an instrument id of a known market ({known})")


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
#: Top-level keys of a specs file that are not instruments.
_FILE_KEYS = ("market",)


def _spec(path: Path, market: str, symbol: str, table: Any) -> InstrumentSpec:
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [{symbol}] must be a table of fields")
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
    known = {*_FIELDS, "base", "quote", "coin", "coin_units"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{path}: [{symbol}].{unknown[0]} is not a spec field")
    try:
        coin_units = Decimal(str(table.get("coin_units", 1)))
    except ArithmeticError as e:
        raise ValueError(f"{path}: [{symbol}].coin_units is not a number") from e
    if coin_units <= 0:
        raise ValueError(f"{path}: [{symbol}].coin_units must be positive")
    quote = str(table.get("quote", "USDT"))
    base = str(table.get("base", symbol[: -len(quote)] if symbol.endswith(quote) else symbol))
    return InstrumentSpec(
        symbol=symbol.upper(),
        base=base,
        market=market,
        quote=quote,
        coin=str(table.get("coin", "")),
        coin_units=coin_units,
        **values,
    )


def load_specs(path: str | Path = DEFAULT_SPECS_PATH) -> dict[str, InstrumentSpec]:
    """
    Read the instrument specs of one file (one market), keyed by venue symbol.

    Raises
    ------
    ValueError
        Naming the symbol and field, if a value is missing or not a positive decimal, or the
        file's ``market`` is unknown.

    """
    path = Path(path)
    with path.open("rb") as f:
        raw = tomllib.load(f)
    market = raw.get("market", BYBIT_LINEAR.name)
    if not isinstance(market, str) or market not in MARKETS:
        raise ValueError(f"{path}: market = {market!r} is not one of {', '.join(MARKETS)}")
    return {
        symbol.upper(): _spec(path, market, symbol, table)
        for symbol, table in raw.items()
        if symbol not in _FILE_KEYS
    }


class InstrumentRegistry:
    """
    Every known instrument, by id, with lookups per market and across venues.

    Parameters
    ----------
    specs : Iterable[InstrumentSpec]
        Later specs replace earlier ones with the same instrument id.
    sources : Sequence[Path]
        The files they came from (named in "no instrument definition" errors).

    """

    def __init__(self, specs: Iterable[InstrumentSpec], sources: Sequence[Path] = ()) -> None:
        self._by_id = {spec.instrument_id: spec for spec in specs}
        self.sources = tuple(sources)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[InstrumentSpec]:
        return iter(self._by_id.values())

    def get(self, symbol: str, market: str = BYBIT_LINEAR.name) -> InstrumentSpec | None:
        """The spec of ``symbol`` on ``market``, or ``None``."""
        return self._by_id.get(instrument_id_for(symbol, market))

    def by_id(self, instrument_id: str) -> InstrumentSpec | None:
        """The spec of an instrument id, or ``None``."""
        return self._by_id.get(instrument_id)

    def market(self, market: str) -> dict[str, InstrumentSpec]:
        """Specs of one market keyed by symbol."""
        return {s.symbol: s for s in self._by_id.values() if s.market == market}

    def counterpart(self, spec: InstrumentSpec, market: str) -> InstrumentSpec | None:
        """
        The instrument of the same coin and quote on another market, or ``None``.

        ``SHIB1000USDT`` (Bybit) -> ``1000SHIBUSDT`` (Binance USD-M) -> ``SHIBUSDT`` (spot).
        """
        matches = [
            other
            for other in self._by_id.values()
            if other.market == market and other.coin == spec.coin and other.quote == spec.quote
        ]
        return matches[0] if len(matches) == 1 else None

    def missing_message(self, symbol: str, market: str) -> str:
        """Why a symbol has no definition, and how to add one."""
        where = ", ".join(str(p) for p in self.sources) or "the shipped instrument files"
        same = [s for s in self._by_id.values() if s.symbol == symbol.upper()]
        hint = ""
        if same:
            hint = f" ({symbol} is defined for {', '.join(sorted(s.market for s in same))})"
        return (
            f"no instrument definition for {symbol!r} on {market}{hint} in {where}; add a "
            f"[{symbol.upper()}] table to a specs file of market {market!r} and pass it with "
            "--instruments (README: 'Instruments')"
        )


def load_registry(extra: Sequence[str | Path] = ()) -> InstrumentRegistry:
    """
    The shipped specs of every market, then ``extra`` files on top (same id: the later wins).

    Raises
    ------
    ValueError
        From :func:`load_specs`, naming the file, symbol and field.

    """
    paths = [*SHIPPED_SPEC_FILES, *(Path(p) for p in extra)]
    specs: list[InstrumentSpec] = []
    for path in paths:
        specs.extend(load_specs(path).values())
    return InstrumentRegistry(specs, paths)


def to_instrument(spec: InstrumentSpec, ts_init: int = 0) -> Instrument:
    """Build the framework's instrument: ``CryptoPerpetual`` (linear) or ``CurrencyPair``."""
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.identifiers import Symbol
    from nautilus_trader.model.instruments import CryptoPerpetual
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Currency
    from nautilus_trader.model.objects import Money
    from nautilus_trader.model.objects import Price
    from nautilus_trader.model.objects import Quantity

    instrument_id = InstrumentId.from_str(spec.instrument_id)
    base = Currency.from_str(spec.base)
    quote = Currency.from_str(spec.quote)
    common = {
        "instrument_id": instrument_id,
        "raw_symbol": Symbol(spec.symbol),
        "base_currency": base,
        "quote_currency": quote,
        "price_precision": spec.price_precision,
        "size_precision": spec.size_precision,
        "price_increment": Price(spec.tick_size, spec.price_precision),
        "size_increment": Quantity(spec.qty_step, spec.size_precision),
        "max_quantity": Quantity(spec.max_qty, spec.size_precision),
        "min_quantity": Quantity(spec.min_qty, spec.size_precision),
        "max_notional": None,
        "min_notional": Money(spec.min_notional, quote),
        "max_price": None,
        "min_price": None,
        "maker_fee": spec.maker_fee,
        "taker_fee": spec.taker_fee,
        "ts_event": ts_init,
        "ts_init": ts_init,
    }
    if MARKETS[spec.market].kind == "spot":
        return CurrencyPair(margin_init=Decimal(0), margin_maint=Decimal(0), **common)
    margin = Decimal(1) / spec.max_leverage
    return CryptoPerpetual(
        settlement_currency=quote,
        is_inverse=False,
        margin_init=margin,
        margin_maint=margin / 2,
        **common,
    )


def spec_from_instrument(instrument: Instrument) -> InstrumentSpec:
    """Read a spec back from a framework instrument (e.g. one the Bybit adapter loaded)."""
    symbol = symbol_of(instrument.id.value)
    margin = Decimal(str(instrument.margin_init))
    return InstrumentSpec(
        market=market_of(instrument.id.value).name,
        quote=instrument.quote_currency.code,
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
    """
    Render specs of one market in the format of ``configs/instruments.toml``.

    Raises
    ------
    ValueError
        If the specs belong to more than one market (one file is one market).

    """
    markets = {spec.market for spec in specs.values()}
    if len(markets) > 1:
        raise ValueError(f"one file holds one market, got {sorted(markets)}")
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    market = markets.pop() if markets else BYBIT_LINEAR.name
    if market != BYBIT_LINEAR.name:
        lines += ["", f'market = "{market}"']
    for spec in specs.values():
        lines += ["", f"[{spec.symbol}]", f'base = "{spec.base}"']
        if spec.quote != "USDT":
            lines.append(f'quote = "{spec.quote}"')
        if (spec.coin, spec.coin_units) != coin_of(spec.base):
            lines += [f'coin = "{spec.coin}"', f'coin_units = "{spec.coin_units}"']
        lines += [f'{name} = "{getattr(spec, name)}"' for name in _FIELDS]
    return "\n".join(lines) + "\n"


#: Fees of the venue's base tier, used where a saved endpoint response carries none.
_BASE_TIER_FEES = {
    BYBIT_LINEAR.name: (Decimal("0.0002"), Decimal("0.00055")),
    BINANCE_USDM.name: (Decimal("0.0002"), Decimal("0.0005")),
    BINANCE_SPOT.name: (Decimal("0.001"), Decimal("0.001")),
}
#: Binance's exchangeInfo carries no leverage (that takes a signed request): this is written.
_BINANCE_DEFAULT_LEVERAGE = Decimal(20)


def _plain(text: object) -> Decimal:
    """Binance pads decimals (``"0.01000000"``): the step is ``0.01``."""
    value = Decimal(str(text)).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral() else value


def _bybit_spec(item: dict[str, Any]) -> InstrumentSpec | None:
    if item.get("contractType") != "LinearPerpetual" or item.get("status") != "Trading":
        return None
    lot, price = item["lotSizeFilter"], item["priceFilter"]
    maker, taker = _BASE_TIER_FEES[BYBIT_LINEAR.name]
    return InstrumentSpec(
        symbol=item["symbol"],
        base=item["baseCoin"],
        quote=item["quoteCoin"],
        market=BYBIT_LINEAR.name,
        tick_size=Decimal(price["tickSize"]),  # as written: Bybit quotes SOL at "0.010"
        qty_step=Decimal(lot["qtyStep"]),
        min_qty=Decimal(lot["minOrderQty"]),
        max_qty=Decimal(lot["maxOrderQty"]),
        min_notional=Decimal(lot.get("minNotionalValue", "5")),
        maker_fee=maker,
        taker_fee=taker,
        max_leverage=Decimal(item["leverageFilter"]["maxLeverage"]).quantize(Decimal(1)),
    )


def _binance_spec(item: dict[str, Any], market: Market) -> InstrumentSpec | None:
    if item.get("status") != "TRADING":
        return None
    if market is BINANCE_USDM and item.get("contractType") != "PERPETUAL":
        return None
    filters = {f["filterType"]: f for f in item.get("filters", [])}
    price, lot = filters["PRICE_FILTER"], filters["LOT_SIZE"]
    notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL") or {}
    min_notional = notional.get("notional") or notional.get("minNotional") or "5"
    maker, taker = _BASE_TIER_FEES[market.name]
    return InstrumentSpec(
        symbol=item["symbol"],
        base=item["baseAsset"],
        quote=item["quoteAsset"],
        market=market.name,
        tick_size=_plain(price["tickSize"]),
        qty_step=_plain(lot["stepSize"]),
        min_qty=_plain(lot["minQty"]),
        max_qty=_plain(lot["maxQty"]),
        min_notional=_plain(min_notional),
        maker_fee=maker,
        taker_fee=taker,
        max_leverage=Decimal(1) if market is BINANCE_SPOT else _BINANCE_DEFAULT_LEVERAGE,
    )


def specs_from_exchange_json(
    data: dict[str, Any], market: str, symbols: Sequence[str] | None = None
) -> dict[str, InstrumentSpec]:
    """
    Specs from a venue's public instruments endpoint, saved as JSON (no network needed here).

    Bybit: ``GET /v5/market/instruments-info?category=linear`` (``result.list``; Bybit pages
    it, 500 per page with ``limit=1000``: save every page, or ask for the symbols you need with
    ``&symbol=``). Binance: ``GET /fapi/v1/exchangeInfo`` (USD-M) or ``GET /api/v3/exchangeInfo``
    (spot). Only trading instruments are kept (Bybit linear perpetuals, Binance perpetuals).
    Neither response carries fees, nor Binance's leverage: the venue's base-tier fees and
    20x (Binance perpetuals) are written, and the caller's file header says so.

    Parameters
    ----------
    data : dict
        The decoded response.
    market : str
        ``bybit-linear``, ``binance-usdm`` or ``binance-spot``.
    symbols : Sequence[str], optional
        Keep only these (each must be present).

    Raises
    ------
    ValueError
        A response of another shape, or a requested symbol it does not hold.

    """
    target = market_named(market)
    try:
        if target is BYBIT_LINEAR:
            items = data["result"]["list"]
            built = [_bybit_spec(item) for item in items]
        else:
            items = data["symbols"]
            built = [_binance_spec(item, target) for item in items]
    except (KeyError, TypeError, ArithmeticError) as e:
        raise ValueError(
            f"not a {market} instruments response (missing or bad field {e})"
        ) from None
    specs = {spec.symbol: spec for spec in built if spec is not None}
    if symbols is None:
        return dict(sorted(specs.items()))
    wanted = [s.upper() for s in symbols]
    missing = [s for s in wanted if s not in specs]
    if missing:
        raise ValueError(f"the response holds no trading {market} instrument {missing[0]!r}")
    return {s: specs[s] for s in wanted}


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
