"""Run one backtest (a resolved run config) with the framework's ``BacktestNode``.

``run_spec`` looks the run's system up (:mod:`liqcascade.backtests.systems`), checks its data,
lets the system build its ``BacktestRunConfig`` and run it (event logs into the run's folder),
and reduces the event logs to :class:`~liqcascade.backtests.records.RunRecords` with the
system's own hook. Strategy exceptions fail the run (``raise_exception=True``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liqcascade.backtests.execution_view import ViewStats
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.systems import get_system
from liqcascade.strategies.event_log import read_events


@dataclass
class RunResult:
    """A finished run: its records, where its files are, and how long it took."""

    spec: RunSpec
    records: RunRecords
    folder: Path
    view: ViewStats | None  # the execution view a trade-window system read
    seconds: float
    node: Any = None  # the BacktestNode, kept until dispose() for the tearsheet

    @property
    def engine(self) -> Any:
        """The run's ``BacktestEngine`` (until :meth:`dispose`)."""
        return self.node.get_engine(self.node.configs[0].id) if self.node else None

    def dispose(self) -> None:
        """Release the engine."""
        if self.node is not None:
            self.node.dispose()
            self.node = None


def slug(text: str) -> str:
    """A file-system-safe name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"


def decision_events(folder: Path) -> list[dict[str, Any]]:
    """Every logged event of a run but the liquidations: cascades, orders, fills, exits, skips."""
    return [
        e for f in sorted(folder.glob("events-*.jsonl")) for e in read_events(f, ("liquidation",))
    ]


def run_spec(
    spec: RunSpec,
    folder: Path,
    echo: Callable[[str], None] = print,
    log_dir: Path | None = None,
) -> RunResult:
    """
    Run one spec with its system; its event logs land in ``folder``, the framework's log in
    ``log_dir``.

    Raises
    ------
    MissingDataError
        System A: a symbol without instrument, liquidations or trades in the run's window
        (checked before the engine starts).
    ConfigError
        A system's data check that failed (System B: instruments or bars missing).

    """
    started = time.perf_counter()
    system = get_system(spec.system)
    if spec.prices:  # explicit cross-venue prices: a derived catalog, named in the report
        from dataclasses import replace

        from liqcascade.backtests.price_mapping import mapped_catalog

        try:
            derived = mapped_catalog(spec.catalog, list(spec.symbols), spec.prices)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        spec = replace(spec, catalog=derived)
    coverage = system.check_data(spec)  # a run the catalog cannot feed fails here
    if spec.framework_log == "off":
        log_dir = None
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events-*.jsonl"):
        old.unlink()  # a rerun into the same folder must not append to old logs
    execution = system.execute(spec, folder, echo, log_dir)
    records = system.records(spec, folder, execution, coverage)
    return RunResult(
        spec, records, folder, execution.view, time.perf_counter() - started, execution.node
    )
