"""The trading systems: what the runner, the reports and the live node need from each, by name.

A *system* (System A ``cascade_mm``: cascade market-making, one ``CascadeMarketMaker`` per
symbol fed trades and liquidations; System B ``crash_reversion``: one ``CrashReversion`` over
every symbol, fed bars) is one :class:`System` object, defined in a module of its own in this
package. It says how its part of a run config is read, which data it needs and how that data is
checked before a run, how its strategies are built and run, how its records come out of its
event log, which report it writes, and which capabilities it has (the span of its data the
walk-forward cuts into folds, trade windows, the sweep's screen, the framework-config entry
point). ``backtests/`` and ``live/`` look a system up here
by ``run.system`` / ``node.system`` instead of testing its name.

Layering: this package sits inside ``backtests`` (above the strategies, below ``live``). The
live node's half of a system (how a ``TradingNode`` builds its strategies, its node-file rules)
lives in ``liqcascade.live.systems.<name>`` and is named here only by import path
(:attr:`System.live`), resolved by ``liqcascade.live`` - the way the framework's
``ImportableStrategyConfig`` names a strategy - so nothing in ``backtests`` imports ``live``.
The registry maps names to import paths too, so looking one system up imports only its module.

Adding a system: write ``backtests/systems/<name>.py`` exposing ``SYSTEM = System(...)`` (and,
for paper/live trading, ``live/systems/<name>.py`` exposing a ``LiveSystem``), then add one line
to :data:`_REGISTRY` - or call :func:`register_system` from your own code (tests do).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from liqcascade.backtests.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from liqcascade.backtests.coverage import Coverage
    from liqcascade.backtests.records import RunRecords
    from liqcascade.backtests.run_config import RunSpec
    from liqcascade.backtests.runner import RunResult

#: The system a run or node file without ``system`` runs.
DEFAULT_SYSTEM = "cascade_mm"

#: name -> ``"module:attribute"`` of its :class:`System`. One line per system.
_REGISTRY: dict[str, str] = {
    "cascade_mm": "liqcascade.backtests.systems.cascade_mm:SYSTEM",
    "crash_reversion": "liqcascade.backtests.systems.crash_reversion:SYSTEM",
}


@dataclass(frozen=True)
class Execution:
    """What running a system's engine left: the framework's node and, if any, the data view."""

    node: Any  # the BacktestNode (kept for the tearsheet until RunResult.dispose)
    view: Any = None  # ViewStats of the execution view the run read (trade-window systems)


def _no_skips(strategies: dict[str, dict[str, Any]], maker_fee_bps: float) -> list[Any]:
    return []


def _no_check(spec: RunSpec) -> None:
    return None


@dataclass(frozen=True)
class System:
    """
    One trading system, as the backtests see it (the live node's half is :attr:`live`).

    Every hook is a plain function of the system's own module; the shared code only calls
    them. Hooks that read a run config raise ``ConfigError`` naming the key.

    Attributes
    ----------
    name : str
        ``run.system`` / ``node.system``.
    label : str
        How reports name it (``"System A"``).
    strategy_file : str
        The shipped strategy file a run reads when ``run.strategy`` is not set (looked up
        beside the run file first).
    strategy_kwargs : Callable[[dict, Sequence[str]], dict[str, dict]]
        ``(tree, symbols) -> strategies``: the strategy file's parameters, validated, keyed by
        symbol (or ``"*"`` for one instance over every symbol). Becomes ``RunSpec.strategies``.
    execute : Callable[[RunSpec, Path, echo, Path | None], Execution]
        ``(spec, folder, echo, log_dir)``: build the ``BacktestRunConfig`` (event logs into
        ``folder``, the framework's log into ``log_dir``) and run it with ``BacktestNode``.
    records : Callable[[RunSpec, Path, Execution, Coverage | None], RunRecords]
        Reduce the run's event logs to :class:`~liqcascade.backtests.records.RunRecords`.
    write_report : Callable[[RunResult, Path, bool], str]
        ``(result, folder, charts)``: write the run's report files into ``folder`` and return
        its summary text (the job's ``summary.txt`` shows the base run's). ``charts``: the run
        is the base run and charts were asked for.
    scenario_table : Callable[[list[RunResult]], pd.DataFrame]
        The scenarios side by side (one column per run).
    check_data : Callable[[RunSpec], Coverage | None]
        Refuse a run the catalog cannot feed, before the engine starts (an error naming what
        is missing); may return the run's data coverage, which the report then uses.
    data_span : Callable[[RunSpec], tuple[int, int]] | None
        ``spec -> (first_ns, last_ns)``: the first and last ``ts_init`` of the data the run
        reads, inside ``run.start``/``run.end``; the walk-forward cuts its folds of whole UTC
        days from it. Raises ``ConfigError`` naming the catalog and the symbols when there is
        none. ``None``: no walk-forward.
    skipped_symbols : Callable[[dict, float], list[tuple[str, str]]]
        ``(strategies, maker_fee_bps)``: symbols the run leaves out, with the reason (the
        run config drops them from ``run.symbols`` and ``RunSpec.strategies``).
    check_every_run_first : bool
        ``liqcascade backtest`` checks every scenario's data before the first run starts.
    trade_windows : bool
        The run reads an *execution view* cut to trade windows (the sweep prebuilds them).
    screen : bool
        The sweep's screen (``sweep.confirm``) can replay it.
    sweep_strategy_kwargs : dict
        Strategy parameters a sweep's runs add to every symbol's: logging only, never a
        decision (each row must equal a plain backtest of its setting).
    framework_parts : Callable | None
        ``(spec, event_log_dir) -> (venues, data, strategies, view)`` for
        :func:`liqcascade.backtests.framework.framework_configs`; ``None``: not offered.
    live : str | None
        ``"module:attribute"`` of its ``liqcascade.live.systems.LiveSystem``; ``None``: no
        paper or live node.

    """

    name: str
    label: str
    strategy_file: str
    strategy_kwargs: Callable[[dict[str, Any], Sequence[str]], dict[str, dict[str, Any]]]
    execute: Callable[[RunSpec, Path, Callable[[str], None], Path | None], Execution]
    records: Callable[[RunSpec, Path, Execution, Coverage | None], RunRecords]
    write_report: Callable[[RunResult, Path, bool], str]
    scenario_table: Callable[[list[RunResult]], pd.DataFrame]
    check_data: Callable[[RunSpec], Coverage | None] = _no_check
    data_span: Callable[[RunSpec], tuple[int, int]] | None = None
    skipped_symbols: Callable[[dict[str, dict[str, Any]], float], list[tuple[str, str]]] = _no_skips
    check_every_run_first: bool = False
    trade_windows: bool = False
    screen: bool = False
    sweep_strategy_kwargs: dict[str, Any] = field(default_factory=dict)
    framework_parts: Callable[[RunSpec, Path | None], tuple[Any, Any, Any, Any]] | None = None
    live: str | None = None


def resolve_path(path: str) -> Any:
    """The object a ``"package.module:attribute"`` path names (imported on first use)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def system_names() -> tuple[str, ...]:
    """The registered systems' names, in registration order."""
    return tuple(_REGISTRY)


def register_system(name: str, path: str) -> None:
    """
    Register (or replace) a system: ``path`` is ``"module:attribute"`` of its :class:`System`.

    For a system of your own without editing :data:`_REGISTRY`; it is imported on first use.
    """
    _REGISTRY[name] = path


def unregister_system(name: str) -> None:
    """Forget a system registered with :func:`register_system` (tests clean up with it)."""
    _REGISTRY.pop(name, None)


def find_system(name: object) -> System | None:
    """
    The system registered as ``name``; ``None`` if there is none.

    Raises
    ------
    ConfigError
        If its registered path cannot be imported.

    """
    path = _REGISTRY.get(name) if isinstance(name, str) else None
    if path is None:
        return None
    try:
        system = resolve_path(path)
    except (ImportError, AttributeError) as e:  # a plugin's system: say which, not a traceback
        raise ConfigError(f"system {name!r} is registered as {path!r}, which fails: {e}") from e
    if not isinstance(system, System) or system.name != name:
        raise TypeError(f"{path} is not the System {name!r}")
    return system


def get_system(name: object, key: str = "run.system") -> System:
    """
    The system registered as ``name``.

    Raises
    ------
    ConfigError
        Naming ``key`` (``run.system`` / ``node.system``) and the registered systems.

    """
    system = find_system(name)
    if system is None:
        raise ConfigError(f"{key}: expected one of {system_names()}, got {name!r}")
    return system
