"""Before a System A run: is the data there? Say what is missing and how to get it.

The engine does not fail on missing data: a strategy whose instrument is not in the cache stops
itself with a log line, and a symbol with liquidations but no trades detects cascades it can never
price. A run like that "succeeds" with zero trades. Here every symbol of the run is checked against
the catalog within the run's bounds, and every problem is reported at once, before the engine
starts, with the command that would fix it.
"""

from __future__ import annotations

from pathlib import Path

from liqcascade.backtests.coverage import Coverage
from liqcascade.backtests.coverage import catalog_coverage
from liqcascade.backtests.coverage import day_label
from liqcascade.backtests.run_config import RunSpec
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.data_loaders.summary import list_instruments
from liqcascade.strategies.trading_gate import parse_utc


class MissingDataError(ValueError):
    """A run whose data cannot produce a meaningful result; the message says what to fetch."""


def run_bounds(spec: RunSpec) -> tuple[int | None, int | None]:
    """The run's ``[start, end]`` in ns (``None``: open), as the data configs bound ``ts_init``."""
    return (
        parse_utc(spec.start) if spec.start else None,
        parse_utc(spec.end) if spec.end else None,
    )


def _span(coverage: Coverage, symbol: str) -> tuple[str, str]:
    days = coverage.data_days(symbol) or (coverage.first_day, coverage.last_day)
    return day_label(days[0]), day_label(days[-1])


def check_run_data(spec: RunSpec) -> Coverage:
    """
    Check every symbol of a System A run; return the run's coverage.

    Raises
    ------
    MissingDataError
        Listing, per symbol, a missing instrument definition, no liquidations in the window, or
        liquidations without a single trade - and the command that fetches what is missing.

    """
    catalog = Path(spec.catalog)
    start, end = run_bounds(spec)
    instruments = {symbol: instrument_id_for(symbol) for symbol in spec.symbols}
    if not (catalog / "data").exists():
        raise MissingDataError(
            f"no catalog at {catalog} (run.catalog): load data first, e.g. "
            f"`liqcascade download bybit-trades --symbols {','.join(spec.symbols)} --start ... "
            f"--end ... --load --catalog {catalog}` (README: 'From zero to a real backtest')"
        )
    coverage = catalog_coverage(catalog, instruments, start, end)
    defined = set(list_instruments(catalog))
    window = f"between {spec.start or 'the start'} and {spec.end or 'the end'}"
    problems = []
    for symbol, instrument_id in instruments.items():
        liquidation_days = coverage.data_days(symbol)
        trade_days = coverage.trade_days.get(symbol, ())
        first, last = _span(coverage, symbol)
        if instrument_id not in defined:
            problems.append(
                f"{symbol}: no instrument {instrument_id} in {catalog}; loading any of its data "
                "writes it (`liqcascade load ...`), its spec must be in the instrument files "
                "(README: 'Instruments')"
            )
        if not liquidation_days:
            problems.append(
                f"{symbol}: no liquidations {window} in {catalog}: the strategy has no signal. "
                f"Record them (`liqcascade record --symbols {symbol} --catalog {catalog}`), load "
                "a recording (`liqcascade load bybit-liquidations FILE ...`) or download "
                f"tardis.dev data (`liqcascade download tardis --exchange bybit --data-type "
                f"liquidations --symbols {symbol} --start {first} --end {last} --load "
                f"--catalog {catalog}`)"
            )
        elif not trade_days:
            problems.append(
                f"{symbol}: liquidations on {len(liquidation_days)} day(s) but no trades {window} "
                f"in {catalog}: without prices no order can be placed or filled. Get Bybit's "
                f"public trades: `liqcascade download bybit-trades --symbols {symbol} "
                f"--start {first} --end {last} --load --catalog {catalog}`"
            )
    if problems:
        raise MissingDataError("the run's data is incomplete:\n  " + "\n  ".join(problems))
    return coverage
