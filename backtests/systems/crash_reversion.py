"""System B, cross-asset crash reversion (``run.system = "crash_reversion"``): one object, every
hook.

One :class:`~liqcascade.strategies.crash_reversion.CrashReversion` over every symbol, fed bars
only (``bar_spec``, hourly by default) on a ``HEDGING`` venue of the instruments' own venue (a
full instrument id such as ``BTCUSDT.BINANCE`` runs on a simulated ``BINANCE``). Read from the
strategy file's ``[strategy]`` table. Before a run (every scenario's, before the first starts)
the catalog must define every instrument and hold enough bars in the window
(:func:`~liqcascade.backtests.crash_data.check_crash_data`). The records are its round trips
over the span of the bars; the report is the seed's format
(:func:`~liqcascade.backtests.crash_report.crash_report`).

The live node's half: :mod:`liqcascade.live.systems.crash_reversion`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from liqcascade.backtests.engine_configs import backtest_run_config
from liqcascade.backtests.engine_configs import run_node
from liqcascade.backtests.engine_configs import venue_config
from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.systems import Execution
from liqcascade.backtests.systems import System
from liqcascade.strategies.event_log import read_events

if TYPE_CHECKING:
    import pandas as pd

    from liqcascade.backtests.coverage import Coverage
    from liqcascade.backtests.runner import RunResult

#: The strategy's event log in a run's folder.
CRASH_EVENTS = "events-crash.jsonl"


def strategy_kwargs(tree: dict[str, Any], symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The strategy file's ``[strategy]`` table over every symbol, validated: ``{"*": kwargs}``
    (one instance trades them all)."""
    from liqcascade.strategies.crash_reversion import CrashReversionConfig

    kwargs = dict(tree.get("strategy", {}).get("strategy", {}))
    # A symbol is a Bybit linear perpetual (ETHUSDT); a full instrument id (BTCUSDT.BINANCE,
    # ETHUSDT-LINEAR.BYBIT) is taken as it is, so any venue the catalog holds can be used.
    ids = [s if "." in s else f"{s}-LINEAR.BYBIT" for s in symbols]
    kwargs.setdefault("instrument_ids", ids)
    try:
        msgspec.convert(kwargs, type=CrashReversionConfig)
    except (msgspec.ValidationError, TypeError, ValueError) as e:
        raise ConfigError(f"strategy.strategy: {e}") from e
    return {"*": kwargs}


def build_crash_run_config(spec: RunSpec, folder: Path, log_dir: Path | None = None) -> Any:
    """System B's ``BacktestRunConfig``: bars of every symbol, one CrashReversion instance."""
    venues, data, strategies = crash_parts(spec, folder / CRASH_EVENTS)
    return backtest_run_config(spec, data, strategies, venues, log_dir)


def framework_parts(spec: RunSpec, event_log_dir: Path | None) -> tuple[Any, Any, Any, None]:
    """``(venues, data, strategies, None)`` for users' own ``BacktestNode``: the same parts as
    :func:`build_crash_run_config`; no execution view (bars are read as the catalog holds
    them)."""
    log_path = event_log_dir / CRASH_EVENTS if event_log_dir is not None else None
    return (*crash_parts(spec, log_path), None)


def crash_parts(spec: RunSpec, event_log_path: Path | None) -> tuple[list, list, list]:
    """``(venues, data, strategies)``: a bars-only venue, the bars of every symbol in the
    window, one CrashReversion trading them all."""
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.config import ImportableStrategyConfig

    params = {
        **spec.strategies["*"],
        "order_id_tag": "000",
        "event_log_path": str(event_log_path) if event_log_path is not None else None,
    }
    bar_types = [
        f"{i}-{params.get('bar_spec', '1-HOUR-LAST-EXTERNAL')}" for i in params["instrument_ids"]
    ]
    data = [
        BacktestDataConfig(
            catalog_path=str(spec.catalog),
            data_cls="nautilus_trader.model.data:Bar",
            bar_types=bar_types,
            start_time=spec.start,
            end_time=spec.end,
        )
    ]
    strategy = ImportableStrategyConfig(
        strategy_path="liqcascade.strategies.crash_reversion:CrashReversion",
        config_path="liqcascade.strategies.crash_reversion:CrashReversionConfig",
        config=params,
    )
    return [venue_config(spec, crash_venue(spec), bars_only=True)], data, [strategy]


def crash_venue(spec: RunSpec) -> str:
    """The one venue of System B's instruments (``BYBIT``, ``BINANCE``, ...)."""
    venues = sorted({i.rsplit(".", 1)[1] for i in spec.strategies["*"]["instrument_ids"]})
    if len(venues) != 1:
        # One account per venue would each start with run.starting_balance: refuse, not guess.
        raise ConfigError(
            f"run.symbols: System B trades one venue per run, got {', '.join(venues)}"
        )
    return venues[0]


def crash_closes(spec: RunSpec) -> Any:
    """Bar closes of System B's universe (the benchmark holds every symbol)."""
    from liqcascade.backtests.crash_report import closes_from_catalog

    params = spec.strategies["*"]
    bar_spec = params.get("bar_spec", "1-HOUR-LAST-EXTERNAL")
    return closes_from_catalog(
        spec.catalog, params["instrument_ids"], bar_spec, spec.start, spec.end
    )


def scenario_table(results: list[RunResult]) -> pd.DataFrame:
    """System B's headline figures (the seed's format), one column per scenario."""
    import pandas as pd

    from liqcascade.backtests.crash_report import crash_summary
    from liqcascade.backtests.crash_report import seed_summary

    columns = {}
    for result in results:
        closes = crash_closes(result.spec)
        summary = crash_summary(result.records, closes)
        seed = {f"seed_{k}": v for k, v in seed_summary(result.records, closes).items()}
        columns[result.spec.name] = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in {**summary, **seed}.items()
        }
    return pd.DataFrame(columns)


def check_data(spec: RunSpec) -> None:
    """Instruments and bars of every asset in the window (else a ConfigError naming
    ``run.symbols`` or the window)."""
    from liqcascade.backtests.crash_data import check_crash_data

    check_crash_data(spec)


def data_span(spec: RunSpec) -> tuple[int, int]:
    """The first and last bar the run reads (its symbols' bars inside ``run.start`` ..
    ``run.end``); a ConfigError naming the catalog and symbols when there is none."""
    from liqcascade.backtests.crash_data import bar_span

    return bar_span(spec)


def execute(
    spec: RunSpec, folder: Path, echo: Callable[[str], None], log_dir: Path | None
) -> Execution:
    """One run over the bars (no view: the catalog's bars are what the engine reads)."""
    return Execution(run_node(build_crash_run_config(spec, folder, log_dir)))


def records(
    spec: RunSpec, folder: Path, execution: Execution, coverage: Coverage | None
) -> RunRecords:
    """System B's run records, from its event log and the bars."""
    from liqcascade.backtests.crash_report import build_records
    from liqcascade.backtests.crash_report import trades_from_events

    events = read_events(folder / CRASH_EVENTS) if (folder / CRASH_EVENTS).exists() else []
    return build_records(
        trades_from_events(events), crash_closes(spec), spec.starting_balance, spec.name
    )


def write_report(result: RunResult, folder: Path, charts: bool) -> str:
    """The seed's report of the run (tables, charts, CSVs); returns its text."""
    from liqcascade.backtests.crash_report import crash_report

    spec = result.spec
    return crash_report(
        folder / CRASH_EVENTS,
        crash_closes(spec),
        folder,
        spec.starting_balance,
        name=spec.name,
    )


SYSTEM = System(
    name="crash_reversion",
    label="System B",
    strategy_file="crash_reversion.toml",
    strategy_kwargs=strategy_kwargs,
    execute=execute,
    records=records,
    write_report=write_report,
    scenario_table=scenario_table,
    check_data=check_data,
    data_span=data_span,
    check_every_run_first=True,
    framework_parts=framework_parts,
    live="liqcascade.live.systems.crash_reversion:LIVE",
)
