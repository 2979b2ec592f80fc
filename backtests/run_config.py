"""Backtest run configuration: a TOML file, ``key=value`` overrides, scenarios.

A run file has ``[run]``, ``[venue]`` and ``[[scenario]]`` tables and names a strategy file
(``run.strategy``) whose ``[defaults]`` and ``[symbols.X]`` tables are merged per symbol. Keys
are addressed with dots from the command line and in scenarios: ``venue.fills=optimistic``,
``strategy.defaults.trading_hours=[13,18]``, ``strategy.symbols.ETHUSDT.take_profit=0.002``.
Every error names the offending key.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from pathlib import Path
from typing import Any

from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.systems import DEFAULT_SYSTEM
from liqcascade.backtests.systems import find_system
from liqcascade.backtests.systems import get_system
from liqcascade.config_files import ConfigNotFoundError
from liqcascade.config_files import ConfigSource
from liqcascade.config_files import locate_config
from liqcascade.configs import shipped_config

#: How a resting limit fills from prints: only through it (queue position unknown), on a touch,
#: or on a touch with probability ``venue.fill_probability`` (the guide's "50 % of fills").
FILLS = ("conservative", "optimistic", "haircut")
__all__ = [  # ConfigError lives in liqcascade.backtests.errors; imported from here too
    "FILLS", "ConfigError", "RunSpec", "VenueSpec", "load_raw", "load_runs", "parse_value",
    "resolve", "set_key",
]  # fmt: skip


@dataclass(frozen=True)
class VenueSpec:
    """How the simulated venue fills and charges."""

    fills: str
    maker_fee_bps: float
    taker_fee_bps: float
    latency_ms: float
    fill_probability: float = 0.5  # "haircut": chance that a print AT the limit fills it
    random_seed: int = 42  # of the framework's fill model, so a haircut run is repeatable

    @property
    def prob_fill_on_limit(self) -> float:
        """The framework ``FillModel``'s probability for a print exactly at a resting limit."""
        return {"conservative": 0.0, "optimistic": 1.0}.get(self.fills, self.fill_probability)

    #: A flat cost per round trip (bps of the entry notional) instead of maker/taker fees.
    cost_per_trade_bps: float | None = None


@dataclass(frozen=True)
class RunSpec:
    """One fully resolved run (the base run or a scenario)."""

    name: str
    #: ``run.system``: a registered system (:mod:`liqcascade.backtests.systems`).
    system: str
    catalog: Path
    output: Path
    symbols: tuple[str, ...]
    start: str | None
    end: str | None
    starting_balance: float
    leverage: float
    chunk_size: int
    trade_windows: bool
    cascade_charts: int
    venue: VenueSpec
    #: The system's strategy parameters (its ``strategy_kwargs``). System A: symbol ->
    #: CascadeMarketMakerConfig kwargs. System B: {"*": CrashReversionConfig kwargs} (one
    #: instance over every symbol).
    strategies: dict[str, dict[str, Any]]
    #: Symbols of ``run.symbols`` left out, with the reason (e.g. BTC above its maker-fee cap).
    skipped: tuple[tuple[str, str], ...] = ()
    #: The framework's log: "file" (WARNING+ to <output>/framework.log, errors on screen) or
    #: "off" (bypassed: fastest, and silent).
    framework_log: str = "file"
    #: Explicit cross-venue prices: symbol -> market whose counterpart's trades price it
    #: (``[run.prices]``, see ``backtests/price_mapping.py``). Empty: every venue its own.
    prices: dict[str, str] = field(default_factory=dict)
    #: The strategy file the parameters came from (``run.strategy``, else the system's file
    #: beside the run file, else the shipped one).
    strategy_file: Path | None = None
    #: Whether the framework analyses the run at its end (its post-run statistics, which the
    #: tearsheet shows). Not a config key: a sweep turns it off, because its rows come from the
    #: event logs and the analysis cost about a tenth of each run.
    framework_analysis: bool = True


def parse_value(text: str) -> Any:
    """A command-line value as TOML (``2``, ``0.5``, ``true``, ``[13, 18]``) or a bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested dicts, creating tables on the way."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: '{part}' is a value, not a table")
        node = child
    node[leaf] = value


#: Keys of ``[run]`` naming another config file (resolved like ``refs``) or a data location.
_CONFIG_REFS = ("strategy",)
_DATA_PATHS = ("catalog", "output")


def _parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    pairs = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        pairs.append((key.strip(), parse_value(text.strip())))
    return pairs


def _anchor_paths(table: dict[str, Any], source: ConfigSource, prefix: str = "") -> None:
    """Make the run's relative paths absolute against the file (see ``config_files``)."""
    for key in (*_CONFIG_REFS, *_DATA_PATHS):
        dotted = f"{prefix}{key}"
        value = table.get(dotted)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"run.{key}: expected a path (str), got {value!r}")
        table[dotted] = str(source.ref(value) if key in _CONFIG_REFS else source.data(value))


def read_config(path: str | Path) -> tuple[ConfigSource, dict[str, Any]]:
    """A config file (a path or a shipped preset's name) and its TOML tree; a missing file or
    bad TOML is a :class:`ConfigError` naming the file. Shared by run files and node files."""
    try:
        source = locate_config(path)
    except ConfigNotFoundError as e:
        raise ConfigError(str(e)) from e
    try:
        return source, tomllib.loads(source.path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{source.path}: {e}") from e


def load_raw(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """
    Read a run file and its strategy file into one tree, then apply ``key=value`` overrides.

    ``path`` is a file or the name of a shipped preset; relative paths in the file resolve
    against it (:mod:`liqcascade.config_files`), paths in overrides against the working
    directory. ``run.*`` overrides apply before the strategy file is read, so
    ``run.strategy=other.toml`` takes effect; ``strategy.*`` overrides apply to that file.
    """
    source, tree = read_config(path)
    run = tree.setdefault("run", {})
    if not isinstance(run, dict):
        raise ConfigError("run: expected a table")
    _anchor_paths(run, source)
    for index, scenario in enumerate(tree.get("scenario", [])):
        if not isinstance(scenario, dict):
            raise ConfigError(f"scenario[{index}]: expected a table")
        _anchor_paths(scenario, source, prefix="run.")
    pairs = _parse_overrides(overrides)
    for key, value in pairs:
        if not key.startswith("strategy."):
            set_key(tree, key, value)
    # The system's own strategy file when run.strategy is not set (an unknown system is named
    # by resolve(); its tree is read with the default system's file meanwhile).
    system = find_system(run.get("system", DEFAULT_SYSTEM)) or get_system(DEFAULT_SYSTEM)
    default_name = system.strategy_file
    default = source.ref(default_name)
    if not default.exists():  # a file of the user's own without its strategy file beside it
        default = shipped_config(default_name)
    strategy_path = Path(run.get("strategy", default))
    try:
        tree["strategy"] = tomllib.loads(strategy_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"run.strategy: cannot read {strategy_path}: {e}") from e
    run["strategy"] = str(strategy_path)  # which file it was, said in every report's header
    for key, value in pairs:
        if key.startswith("strategy."):
            set_key(tree, key, value)
    return tree


def _get(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a TOML true must not pass for a number.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _bound(run: dict[str, Any], key: str) -> str | None:
    """``run.start``/``run.end`` as ISO-8601 text: a TOML date or date-time is a date too."""
    value = run.get(key)
    if isinstance(value, date):  # datetime is a date subclass; both have isoformat()
        return value.isoformat()
    return _get(run, key, str, None, "run")


def _prices(run: dict[str, Any], symbols: Sequence[str]) -> dict[str, str]:
    from liqcascade.backtests.price_mapping import prices_table

    try:
        prices = prices_table(run.get("prices"))
    except ValueError as e:
        raise ConfigError(str(e)) from e
    unknown = sorted(set(prices) - {s.upper() for s in symbols})
    if unknown:
        raise ConfigError(f"run.prices.{unknown[0]}: not one of run.symbols")
    return prices


def resolve(tree: dict[str, Any], name: str | None = None) -> RunSpec:
    """Validate a raw tree into a :class:`RunSpec`."""
    run, venue = tree.get("run", {}), tree.get("venue", {})
    known_run = {
        "name", "system", "catalog", "output", "strategy", "symbols", "start", "end",
        "starting_balance", "leverage", "chunk_size", "trade_windows", "cascade_charts",
        "framework_log", "prices",
    }  # fmt: skip
    for key in run:
        if key not in known_run:
            raise ConfigError(f"run.{key}: unknown key (known: {', '.join(sorted(known_run))})")
    venue_keys = (
        "fills", "maker_fee_bps", "taker_fee_bps", "latency_ms", "fill_probability",
        "random_seed", "cost_per_trade_bps",
    )  # fmt: skip
    for key in venue:
        if key not in venue_keys:
            raise ConfigError(f"venue.{key}: unknown key (known: {', '.join(venue_keys)})")
    fees_given = [k for k in ("maker_fee_bps", "taker_fee_bps") if k in venue]
    if "cost_per_trade_bps" in venue and fees_given:
        raise ConfigError(
            f"venue.cost_per_trade_bps replaces maker/taker fees: remove venue.{fees_given[0]}"
        )
    symbols = tuple(_get(run, "symbols", list, ["ETHUSDT"], "run"))
    if not symbols or not all(isinstance(s, str) for s in symbols):
        raise ConfigError("run.symbols: expected a non-empty list of symbols")
    fills = _get(venue, "fills", str, "conservative", "venue")
    if fills not in FILLS:
        raise ConfigError(f"venue.fills: expected one of {FILLS}, got {fills!r}")
    system = get_system(_get(run, "system", str, DEFAULT_SYSTEM, "run"), "run.system")
    upper = [s.upper() for s in symbols]
    strategies = system.strategy_kwargs(tree, upper)
    number = (int, float)
    maker_fee_bps = float(_get(venue, "maker_fee_bps", number, 2.0, "venue"))
    skipped = system.skipped_symbols(strategies, maker_fee_bps)
    if skipped and len(skipped) == len(upper):
        raise ConfigError(f"run.symbols: every symbol is skipped ({skipped[0][1]})")
    strategies = {k: v for k, v in strategies.items() if k not in dict(skipped)}
    symbols = tuple(s for s in upper if s not in dict(skipped))
    spec = RunSpec(
        name=name or _get(run, "name", str, "run", "run"),
        system=system.name,
        catalog=Path(_get(run, "catalog", str, "data/catalog", "run")),
        output=Path(_get(run, "output", str, "output", "run")),
        symbols=symbols,
        start=_bound(run, "start"),
        end=_bound(run, "end"),
        starting_balance=float(_get(run, "starting_balance", number, 100_000.0, "run")),
        leverage=float(_get(run, "leverage", number, 10.0, "run")),
        chunk_size=int(_get(run, "chunk_size", int, 250_000, "run")),
        trade_windows=_get(run, "trade_windows", bool, True, "run"),
        cascade_charts=int(_get(run, "cascade_charts", int, 10, "run")),
        venue=VenueSpec(
            fills=fills,
            maker_fee_bps=maker_fee_bps,
            taker_fee_bps=float(_get(venue, "taker_fee_bps", number, 5.5, "venue")),
            latency_ms=float(_get(venue, "latency_ms", number, 0.0, "venue")),
            fill_probability=float(_get(venue, "fill_probability", number, 0.5, "venue")),
            random_seed=int(_get(venue, "random_seed", int, 42, "venue")),
            cost_per_trade_bps=_get(venue, "cost_per_trade_bps", number, None, "venue"),
        ),
        strategies=strategies,
        skipped=tuple(skipped),
        framework_log=_get(run, "framework_log", str, "file", "run"),
        prices=_prices(run, symbols),
        strategy_file=Path(run["strategy"]) if "strategy" in run else None,
    )
    if spec.framework_log not in ("file", "off"):
        raise ConfigError(
            f"run.framework_log: expected 'file' or 'off', got {spec.framework_log!r}"
        )
    checks = {
        "run.starting_balance": spec.starting_balance > 0,
        "run.leverage": spec.leverage >= 1,
        "run.chunk_size": spec.chunk_size >= 0,
        "venue.maker_fee_bps": -10 <= spec.venue.maker_fee_bps <= 100,
        "venue.taker_fee_bps": 0 <= spec.venue.taker_fee_bps <= 100,
        "venue.latency_ms": spec.venue.latency_ms >= 0,
        "venue.fill_probability": 0 <= spec.venue.fill_probability <= 1,
        "venue.cost_per_trade_bps": 0 <= (spec.venue.cost_per_trade_bps or 0) <= 1000,
    }
    for key, ok in checks.items():
        if not ok:
            raise ConfigError(f"{key}: out of range")
    return spec


def load_runs(
    path: str | Path, overrides: Sequence[str] = (), scenarios: bool = True
) -> list[RunSpec]:
    """The base run and, if asked, one run per ``[[scenario]]`` (its overrides on the base)."""
    tree = load_raw(path, overrides)
    runs = [resolve(tree)]
    if not scenarios:
        return runs
    for index, scenario in enumerate(tree.get("scenario", [])):
        scenario = dict(scenario)
        name = scenario.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"scenario[{index}].name: every scenario needs a name")
        variant = copy.deepcopy(tree)
        for key, value in scenario.items():
            set_key(variant, key, value)
        runs.append(resolve(variant, name=name))
    return runs
