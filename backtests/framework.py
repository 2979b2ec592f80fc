"""The framework's own ``BacktestNode`` as a first-class way in.

``liqcascade backtest`` is a thin layer over ``BacktestNode``. Users who drive the framework
themselves get the same run from one call::

    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.config import BacktestRunConfig
    from nautilus_trader.backtest.node import BacktestNode

    from liqcascade.backtests import framework_configs

    parts = framework_configs("backtest_sample", ["run.catalog=data/catalog"])
    config = BacktestRunConfig(
        engine=BacktestEngineConfig(strategies=parts.strategies),
        venues=parts.venues,
        data=parts.data,
    )
    BacktestNode(configs=[config]).run()

What the call does that a hand-written config would miss:

* **data** from the *execution view* of the catalog (built once and cached beside it): the
  same prints without aggressor sides, so the engine's L1 book cannot fill resting limits at
  prices the market has left, cut to the trade windows the strategy can act in. It uses the
  *proven* windows (no run check needed), so its fills equal the CLI's, whose speculative
  windows are checked after each run. Liquidations carry the ``client_id`` the strategy
  subscribes with, which the framework requires for custom data.
* **venues**: the simulated Bybit of the run config - margin account, L1 book from trades,
  conservative or optimistic fills, fees in basis points, liquidity consumption.
* **strategies**: one ``CascadeMarketMaker`` per symbol from the strategy file (BTC's own
  parameters included), with a unique ``order_id_tag`` and the run's order latency.

System B (``run.system = "crash_reversion"``, e.g. ``"backtest_crash_reversion"``) gets the
bars of every symbol as the catalog holds them, a bars-only simulated venue of the instruments'
own venue, and one ``CrashReversion`` trading them all; its ``view`` is ``None``. Either way the
catalog is checked first, as ``liqcascade backtest`` checks it.

The same catalog used the naive way (``BacktestDataConfig`` straight at the loaders' catalog)
still runs, but the strategy then warns at its first cascade
(:class:`~liqcascade.strategies.cascade_mm.OptimisticFillsWarning`, also logged as an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liqcascade.backtests.execution_view import ViewStats
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.systems import get_system


@dataclass(frozen=True)
class FrameworkConfigs:
    """
    The framework configs of one run, to compose a ``BacktestRunConfig`` yourself.

    Attributes
    ----------
    venues : list[BacktestVenueConfig]
        The simulated venue.
    data : list[BacktestDataConfig]
        Trades (execution view) and liquidations per symbol.
    strategies : list[ImportableStrategyConfig]
        One cascade market-maker per symbol.
    spec : RunSpec
        The resolved run the configs were built from.
    view : ViewStats | None
        The execution view the data configs read (System A); ``None`` for System B, whose
        bars are read as the catalog holds them.

    """

    venues: list[Any]
    data: list[Any]
    strategies: list[Any]
    spec: RunSpec
    view: ViewStats | None

    def run_config(self, **kwargs: Any) -> Any:
        """A ``BacktestRunConfig`` of these parts (keyword arguments pass through)."""
        from nautilus_trader.backtest.config import BacktestEngineConfig
        from nautilus_trader.backtest.config import BacktestRunConfig

        engine = kwargs.pop("engine", None) or BacktestEngineConfig(strategies=self.strategies)
        return BacktestRunConfig(engine=engine, venues=self.venues, data=self.data, **kwargs)


def framework_configs(
    config: str | Path,
    overrides: Sequence[str] = (),
    *,
    scenario: str | None = None,
    event_log_dir: str | Path | None = None,
) -> FrameworkConfigs:
    """
    Build the framework configs ``liqcascade backtest`` would run (System A or B).

    Parameters
    ----------
    config : str | Path
        A run config file, or a shipped preset's name (``"backtest_sample"``).
    overrides : Sequence[str]
        ``key=value`` overrides, as on the command line (``"run.catalog=data/catalog"``).
    scenario : str, optional
        The name of a ``[[scenario]]`` of the file; default the base run.
    event_log_dir : str | Path, optional
        Folder for the strategies' JSON-lines event logs (``events-<SYMBOL>.jsonl``); default
        none.

    Returns
    -------
    FrameworkConfigs

    Raises
    ------
    ConfigError
        For a bad config value (named by its key), an unknown scenario, or a catalog that
        cannot feed the run (checked as ``liqcascade backtest`` checks it: System B's bars must
        cover its warm-up).
    MissingDataError
        System A: a symbol without its instrument, liquidations or trades in the window.

    """
    runs = load_runs(config, overrides, scenarios=scenario is not None)
    if scenario is not None:
        named = {run.name: run for run in runs[1:]}
        if scenario not in named:
            raise ConfigError(f"scenario {scenario!r} not in {config} (has: {', '.join(named)})")
        spec = named[scenario]
    else:
        spec = runs[0]
    system = get_system(spec.system)
    if system.framework_parts is None:
        raise ConfigError(f"run.system: {spec.system} offers no framework configs")
    system.check_data(spec)  # what `liqcascade backtest` refuses, refused here too
    log_dir = Path(event_log_dir) if event_log_dir is not None else None
    venues, data, strategies, view = system.framework_parts(spec, log_dir)
    return FrameworkConfigs(venues=venues, data=data, strategies=strategies, spec=spec, view=view)
