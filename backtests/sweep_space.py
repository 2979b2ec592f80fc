"""What a sweep searches and how it scores: the ``[sweep]`` table of a run config, as values.

A run config (``liqcascade backtest --config FILE``) can carry a ``[sweep]`` table; nothing
else in the file changes meaning::

    [sweep]
    mode = "grid"            # grid | random | guided (Optuna's TPE sampler)
    objective = "sharpe"     # any portfolio metric of the report (metrics.csv row names)
    direction = "maximize"   # or "minimize"
    trials = 32              # random and guided: how many settings (grid: all of them)
    seed = 7                 # random and guided draws

    [sweep.constraints]      # a setting that breaks one can never be the best
    trades = { min = 10 }
    max_drawdown_pct = { max = 3.0 }

    # confirm = 8            # screen every setting, run the 8 best in the engine

    [sweep.params]           # dotted keys, as on the command line
    "strategy.defaults.entry_offset" = [0.001, 0.0015, 0.002]            # listed values
    "strategy.defaults.take_profit" = { low = 0.001, high = 0.0025, step = 0.0005 }
    "strategy.defaults.trading_hours" = [[0, 24], [13, 18]]
    "venue.latency_ms" = { low = 50, high = 400, log = true }            # random/guided only

A *setting* is one value per parameter; it is run as the run config with ``key=value``
overrides, exactly what ``liqcascade backtest --config FILE key=value ...`` runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import product
from typing import Any

import numpy as np

from liqcascade.backtests.metrics import METRIC_KEYS
from liqcascade.backtests.run_config import ConfigError

MODES = ("grid", "random", "guided")
DIRECTIONS = ("maximize", "minimize")
#: A setting: (dotted key, value) per swept parameter, in the order of ``[sweep.params]``.
Setting = tuple[tuple[str, Any], ...]
#: Drawn floats keep this many significant digits: readable overrides, and two draws of
#: the "same" value are one setting.
SIGNIFICANT_DIGITS = 4


def toml_text(value: Any) -> str:
    """A value as ``key=value`` override text (TOML): ``0.0015``, ``true``, ``[13, 18]``."""
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    raise ConfigError(f"cannot sweep a value of type {type(value).__name__}: {value!r}")


def overrides_of(setting: Setting) -> list[str]:
    """``key=value`` overrides that run ``setting``."""
    return [f"{key}={toml_text(value)}" for key, value in setting]


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


@dataclass(frozen=True)
class Param:
    """One swept key: listed ``choices``, or a range ``low``..``high`` (``step``, ``log``)."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        """A range of integers (every bound an int): drawn values stay ints."""
        bounds = (self.low, self.high, self.step if self.step is not None else 1)
        return all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)

    def grid_values(self) -> tuple[Any, ...]:
        """Every value of a grid: the choices, or ``low, low + step, ... <= high``."""
        if self.choices is not None:
            return self.choices
        if self.step is None:
            raise ConfigError(
                f"sweep.params.{self.key}: a grid needs listed values or a range with a step"
            )
        low, step = Decimal(str(self.low)), Decimal(str(self.step))
        count = int((Decimal(str(self.high)) - low) / step) + 1
        values = [low + i * step for i in range(count)]
        return tuple(int(v) if self.integer else float(v) for v in values)

    def draw(self, rng: np.random.Generator) -> Any:
        """A random value: a choice, a grid value of a stepped range, else uniform (or log)."""
        if self.choices is not None or self.step is not None:
            values = self.grid_values()
            return values[int(rng.integers(len(values)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return round(value) if self.integer else _round(value)

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter (choices by their override text)."""
        import optuna

        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(
                [toml_text(c) for c in self.choices]
            )
        if self.integer:
            return optuna.distributions.IntDistribution(
                self.low, self.high, log=self.log, step=self.step or 1
            )
        return optuna.distributions.FloatDistribution(
            self.low, self.high, log=self.log, step=self.step
        )

    def from_optuna(self, raw: Any) -> Any:
        """The setting's value of an Optuna parameter value."""
        if self.choices is not None:
            return self.choices[[toml_text(c) for c in self.choices].index(raw)]
        if self.integer:
            return int(raw)
        if self.step is not None:  # back onto the grid's exact decimals
            return min(self.grid_values(), key=lambda v: abs(v - raw))
        return _round(float(raw))

    def to_optuna(self, value: Any) -> Any:
        """An Optuna parameter value of a setting's value (for resumed trials)."""
        return toml_text(value) if self.choices is not None else value

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take (resumed rows of other sweeps)."""
        if self.choices is not None:
            return toml_text(value) in [toml_text(c) for c in self.choices]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Constraint:
    """A bound on one portfolio metric: ``min <= metric <= max``."""

    metric: str
    min: float | None = None
    max: float | None = None

    def violation(self, metrics: dict[str, Any]) -> float:
        """How far outside the bound (<= 0: inside; 1 for an undefined metric)."""
        value = metrics.get(self.metric)
        if value is None:
            return 1.0
        worst = -math.inf
        if self.min is not None:
            worst = max(worst, self.min - value)
        if self.max is not None:
            worst = max(worst, value - self.max)
        return worst if worst > -math.inf else 0.0

    def describe(self) -> str:
        """``trades >= 10``, ``max_drawdown_pct <= 3``, or both."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {self.max:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Score:
    """A setting's objective and whether it satisfies every constraint."""

    objective: float | None
    feasible: bool
    violations: tuple[float, ...]


@dataclass(frozen=True)
class SweepSpec:
    """The ``[sweep]`` table."""

    mode: str
    params: tuple[Param, ...]
    objective: str = "sharpe"
    direction: str = "maximize"
    trials: int | None = None
    seed: int = 0
    constraints: tuple[Constraint, ...] = ()
    #: Screen every setting (:mod:`liqcascade.backtests.screen`), run only this many of the
    #: best in the engine; ``None`` runs every setting in the engine.
    confirm: int | None = None

    def settings(self) -> list[Setting]:
        """Grid: every combination, in order. Random: ``trials`` distinct draws (seeded)."""
        if self.mode == "grid":
            values = [p.grid_values() for p in self.params]
            return [
                tuple(zip((p.key for p in self.params), combo, strict=True))
                for combo in product(*values)
            ]
        if self.mode == "random":
            rng = np.random.default_rng(self.seed)
            seen: dict[str, Setting] = {}
            for _ in range(self.trials * 20):  # distinct draws; a small space runs out
                setting = tuple((p.key, p.draw(rng)) for p in self.params)
                seen.setdefault(json.dumps(overrides_of(setting)), setting)
                if len(seen) == self.trials:
                    break
            return list(seen.values())
        raise ValueError("guided settings come from the optimiser, one at a time")

    def score(self, metrics: dict[str, Any]) -> Score:
        """The objective of a run's portfolio metrics, and its constraints."""
        objective = metrics.get(self.objective)
        violations = tuple(c.violation(metrics) for c in self.constraints)
        feasible = objective is not None and all(v <= 0 for v in violations)
        return Score(objective, feasible, violations)

    def better(self, a: float, b: float) -> bool:
        """Whether objective ``a`` beats ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def rank_key(self, score: Score) -> tuple[int, float]:
        """Sort key: feasible settings first, best objective first."""
        if not score.feasible:
            return (1, 0.0)
        sign = -1.0 if self.direction == "maximize" else 1.0
        return (0, sign * score.objective)

    def describe(self) -> str:
        """One line: mode, size, objective and constraints."""
        size = (
            f"{len(self.settings())} settings"
            if self.mode == "grid"
            else f"{self.trials} trials, seed {self.seed}"
        )
        text = f"{self.mode} search ({size}), {self.direction} {self.objective}"
        if self.confirm:
            text += f"; screened, the best {self.confirm} confirmed in the engine"
        if self.constraints:
            text += " subject to " + ", ".join(c.describe() for c in self.constraints)
        return text


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return value


def _param(key: str, spec: Any) -> Param:
    where = f"sweep.params.{key}"
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: no values")
        return Param(key, choices=tuple(tuple(v) if isinstance(v, list) else v for v in spec))
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a list of values or {{low, high[, step, log]}}")
    unknown = set(spec) - {"low", "high", "step", "log"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key (low, high, step, log)")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs low and high")
    low, high = _number(spec["low"], f"{where}.low"), _number(spec["high"], f"{where}.high")
    step = _number(spec["step"], f"{where}.step") if "step" in spec else None
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: expected true or false")
    if not low < high:
        raise ConfigError(f"{where}: low must be below high")
    if step is not None and (step <= 0 or log):
        raise ConfigError(f"{where}.step: a positive step, and not with log")
    if log and low <= 0:
        raise ConfigError(f"{where}.low: a log range starts above 0")
    return Param(key, low=low, high=high, step=step, log=log)


def parse_sweep(table: Any) -> SweepSpec:
    """Validate a ``[sweep]`` table; every error names its key."""
    if not isinstance(table, dict):
        raise ConfigError("sweep: the run config has no [sweep] table")
    known = {
        "mode", "objective", "direction", "trials", "seed", "constraints", "params", "confirm",
    }  # fmt: skip
    for key in table:
        if key not in known:
            raise ConfigError(f"sweep.{key}: unknown key (known: {', '.join(sorted(known))})")
    mode = table.get("mode", "grid")
    if mode not in MODES:
        raise ConfigError(f"sweep.mode: expected one of {MODES}, got {mode!r}")
    params_table = table.get("params")
    if not isinstance(params_table, dict) or not params_table:
        raise ConfigError("sweep.params: name at least one parameter to sweep")
    params = tuple(_param(key, spec) for key, spec in params_table.items())
    for param in params:
        if mode == "grid":
            param.grid_values()  # a range without a step has no grid: say so now
        if not param.key.startswith(("strategy.", "venue.", "run.")):
            raise ConfigError(f"sweep.params.{param.key}: sweep strategy.*, venue.* or run.* keys")
    objective = table.get("objective", "sharpe")
    if objective not in METRIC_KEYS:
        raise ConfigError(
            f"sweep.objective: {objective!r} is not a metric (one of {', '.join(METRIC_KEYS)})"
        )
    direction = table.get("direction", "maximize")
    if direction not in DIRECTIONS:
        raise ConfigError(f"sweep.direction: expected one of {DIRECTIONS}, got {direction!r}")
    trials = table.get("trials")
    if mode != "grid":
        if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise ConfigError(f"sweep.trials: {mode} search needs a number of trials >= 1")
    elif trials is not None:
        raise ConfigError("sweep.trials: a grid runs every combination; remove trials")
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"sweep.seed: expected an integer, got {seed!r}")
    confirm = table.get("confirm")
    if confirm is not None:
        if not isinstance(confirm, int) or isinstance(confirm, bool) or confirm < 1:
            raise ConfigError(
                f"sweep.confirm: how many screened settings to confirm, got {confirm!r}"
            )
        if mode == "guided":
            raise ConfigError("sweep.confirm: the guided search runs every trial in the engine")
    constraints = []
    for metric, bound in (table.get("constraints") or {}).items():
        where = f"sweep.constraints.{metric}"
        if metric not in METRIC_KEYS:
            raise ConfigError(f"{where}: not a metric (one of {', '.join(METRIC_KEYS)})")
        if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"}:
            raise ConfigError(f"{where}: expected {{min = ...}} and/or {{max = ...}}")
        constraints.append(
            Constraint(
                metric,
                _number(bound["min"], f"{where}.min") if "min" in bound else None,
                _number(bound["max"], f"{where}.max") if "max" in bound else None,
            )
        )
    return SweepSpec(
        mode=mode,
        params=params,
        objective=objective,
        direction=direction,
        trials=trials,
        seed=seed,
        constraints=tuple(constraints),
        confirm=confirm,
    )


def setting_of(params: Sequence[Param], values: dict[str, Any]) -> Setting:
    """A setting from ``{key: value}`` in the parameters' order."""
    return tuple((p.key, values[p.key]) for p in params)
