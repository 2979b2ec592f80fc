"""A node file, read and validated into a :class:`NodeSpec` (no keys: those come at build).

``configs/paper.toml`` / ``configs/live.toml`` name the mode, the system (``node.system``, a
registered system: :mod:`liqcascade.backtests.systems`), the symbols, the data source, where
sessions and restart state go, the venue (``[paper]`` / ``[live]``), the client timeouts, the
public stream (``[stream]``) and the operator tables (``[controls]``, ``[risk]``, ``[health]``,
``[alerts]``). The strategy parameters come from the system's strategy file (``node.strategy``,
default the shipped one), read like the backtests' and optionally overridden by ``[strategy...]``
tables of the node file; the system's live half (:mod:`liqcascade.live.systems`) adds its own
node rules. Every error names the offending key.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from nautilus_trader.model.identifiers import TraderId

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import parse_value
from liqcascade.backtests.run_config import read_config
from liqcascade.backtests.run_config import set_key
from liqcascade.backtests.systems import DEFAULT_SYSTEM
from liqcascade.backtests.systems import get_system
from liqcascade.configs import shipped_config
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.systems import live_system

MODES = ("paper", "live")
MARKET_DATA = ("bybit", "stream")
ENVIRONMENTS = ("demo", "mainnet")
#: Periodic reconciliation with the venue, on by default (seconds; ``[live]`` overrides).
LIVE_DEFAULTS = {
    "open_check_interval_secs": 10.0,
    "position_check_interval_secs": 30.0,
    "reconciliation_lookback_mins": 1440,
    "reconciliation_startup_delay_secs": 10.0,  # before the periodic checks begin
}
#: Added to the node's connection + reconciliation + portfolio timeouts before the supervisor
#: declares a start failed.
STARTUP_MARGIN_S = 15.0
_NODE_KEYS = {
    "mode", "system", "trader_id", "symbols", "strategy", "instruments", "market_data",
    "sessions_dir", "state_dir", "log_level", "log_level_file",
}  # fmt: skip
#: Operator tables of a node file: key -> default (``None``: off unless set).
_TABLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "controls": {
        "max_clock_drift_ms": 1000.0,
        "maintenance_poll_s": 300.0,
        "maintenance_margin_s": 900.0,
        "rest_url": None,
    },
    "risk": {"max_symbols": None, "max_notional": None},
    "health": {"enabled": True, "host": "127.0.0.1", "port": 8787},
    "alerts": {"disconnect_after_s": 30.0},
}
_TIMEOUT_KEYS = (
    "connection",
    "reconciliation",
    "portfolio",
    "disconnection",
    "post_stop",
    "startup",
)


class MainnetNotConfirmedError(ConfigError):
    """Mainnet was selected without the explicit confirmation."""


@dataclass(frozen=True)
class NodeSpec:
    """A node file, validated (no keys: those are read when the node is built)."""

    mode: str
    system: str
    trader_id: str
    symbols: tuple[str, ...]
    strategy_file: Path
    instruments_file: Path
    market_data: str
    sessions_dir: Path
    state_dir: Path
    log_level: str
    log_level_file: str
    timeouts: dict[str, float]
    #: ``BybitLiquidationClientConfig`` keyword arguments (``[stream]``).
    stream: dict[str, Any]
    #: Paper: ``starting_balance`` (USDT) and ``leverage``. Live: ``[live]`` options.
    venue: dict[str, Any]
    #: The system's strategy parameters: symbol -> ``CascadeMarketMakerConfig`` keyword
    #: arguments from the strategy file; for System B, ``{"*": CrashReversionConfig keyword
    #: arguments}``.
    strategies: dict[str, dict[str, Any]]
    #: ``[controls]``: clock drift bound, maintenance polling, Bybit REST URL.
    controls: dict[str, Any] = field(default_factory=dict)
    #: ``[risk]``: account-wide exposure cap (``max_symbols``, ``max_notional``).
    risk: dict[str, Any] = field(default_factory=dict)
    #: ``[health]``: the local HTTP endpoint (``enabled``, ``host``, ``port``).
    health: dict[str, Any] = field(default_factory=dict)
    #: ``[alerts]``: ``disconnect_after_s`` (URLs come from the environment only).
    alerts: dict[str, Any] = field(default_factory=dict)

    def state_folder(self, env: str | None = None) -> Path:
        """Where restart state lives (live: one folder per environment)."""
        return self.state_dir / env if self.mode == "live" and env else self.state_dir


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into a copy of ``base`` (tables merge, values replace)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _number(table: dict[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")
    return float(value)


def load_node_spec(path: str | Path, overrides: Sequence[str] = ()) -> NodeSpec:
    """
    Read and validate a node file; ``overrides`` are ``key=value`` like the backtests'
    (``node.symbols=["SOLUSDT"]``, ``stream.url=ws://127.0.0.1:9000/v5/public/linear``,
    ``strategy.defaults.trade_notional=100``).

    Raises
    ------
    ConfigError
        Naming the offending key.

    """
    source, tree = read_config(path)
    # Relative paths in the file resolve against it (liqcascade.config_files); overrides, typed
    # on the command line, against the working directory.
    node_table = tree.get("node", {})
    for key in ("strategy", "instruments"):
        if isinstance(node_table.get(key), str):
            node_table[key] = str(source.ref(node_table[key]))
    for key in ("sessions_dir", "state_dir"):
        if isinstance(node_table.get(key), str):
            node_table[key] = str(source.data(node_table[key]))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        set_key(tree, key.strip(), parse_value(text.strip()))
    known = {"node", "paper", "live", "stream", "timeouts", "strategy", *_TABLE_DEFAULTS}
    for key in tree:
        if key not in known:
            raise ConfigError(f"{key}: unknown table (known: {', '.join(sorted(known))})")
    node = tree.get("node", {})
    for key in node:
        if key not in _NODE_KEYS:
            raise ConfigError(f"node.{key}: unknown key (known: {', '.join(sorted(_NODE_KEYS))})")
    mode = node.get("mode")
    if mode not in MODES:
        raise ConfigError(f"node.mode: expected one of {MODES}, got {mode!r}")
    trader_id = node.get("trader_id", f"CASCADE-{mode.upper()}")
    try:
        TraderId(trader_id)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"node.trader_id: {e} (expected NAME-TAG, e.g. CASCADE-PAPER)") from e
    symbols = node.get("symbols")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise ConfigError("node.symbols: expected a non-empty list of symbols")
    symbols = tuple(s.upper() for s in symbols)
    market_data = node.get("market_data", "bybit")
    if market_data not in MARKET_DATA:
        raise ConfigError(f"node.market_data: expected one of {MARKET_DATA}, got {market_data!r}")
    system = get_system(node.get("system", DEFAULT_SYSTEM), "node.system")
    live = live_system(system.name)
    strategy_file = Path(node.get("strategy", shipped_config(system.strategy_file)))
    try:
        strategy_tree = tomllib.loads(strategy_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"node.strategy: cannot read {strategy_file}: {e}") from e
    merged = {"strategy": _merge(strategy_tree, tree.get("strategy", {}))}
    strategies = live.strategy_kwargs(merged, symbols, tree, mode)
    instruments_file = Path(node.get("instruments", shipped_config("instruments.toml")))
    try:
        specs = load_specs(instruments_file)
    except (OSError, ValueError) as e:
        raise ConfigError(f"node.instruments: {e}") from e
    missing = [s for s in symbols if s not in specs]
    if missing:
        raise ConfigError(f"node.instruments: {instrument_id_for(missing[0])} not in the file")
    live.check_instruments(strategies, specs)
    timeouts_table = tree.get("timeouts", {})
    for key in timeouts_table:
        if key not in _TIMEOUT_KEYS:
            raise ConfigError(f"timeouts.{key}: unknown key (known: {', '.join(_TIMEOUT_KEYS)})")
    defaults = {"connection": 30.0, "reconciliation": 30.0, "portfolio": 10.0}
    defaults |= {"disconnection": 10.0, "post_stop": 2.0}
    timeouts = {k: _number(timeouts_table, k, v, "timeouts") for k, v in defaults.items()}
    # From start to a RUNNING trader before the supervisor declares the start failed.
    startup = timeouts["connection"] + timeouts["reconciliation"] + timeouts["portfolio"]
    timeouts["startup"] = _number(timeouts_table, "startup", startup + STARTUP_MARGIN_S, "timeouts")
    stream = dict(tree.get("stream", {}))
    for key in ("trades", "instruments_file", "symbols"):
        if key in stream:
            raise ConfigError(f"stream.{key}: set by the node (node.market_data, node.symbols)")
    try:
        BybitLiquidationClientConfig(**stream)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"stream: {e}") from e
    if mode == "paper":
        paper = tree.get("paper", {})
        for key in paper:
            if key not in ("starting_balance", "leverage", "fills"):
                raise ConfigError(f"paper.{key}: unknown key")
        fills = paper.get("fills", "conservative")
        if fills not in ("conservative", "optimistic"):
            raise ConfigError(f"paper.fills: expected conservative or optimistic, got {fills!r}")
        venue = {
            "starting_balance": _number(paper, "starting_balance", 10_000.0, "paper"),
            "leverage": _number(paper, "leverage", 10.0, "paper"),
            "fills": fills,
        }
        if "live" in tree:
            raise ConfigError("live: a paper node has no [live] table")
    else:
        live = tree.get("live", {})
        allowed = (*LIVE_DEFAULTS, "native_stop")
        for key in live:
            if key not in allowed:
                raise ConfigError(f"live.{key}: unknown key (known: {', '.join(allowed)})")
        venue = {k: _number(live, k, v, "live") for k, v in LIVE_DEFAULTS.items()}
        venue["reconciliation_lookback_mins"] = int(venue["reconciliation_lookback_mins"])
        native = live.get("native_stop", "auto")
        if native not in ("auto", True, False):
            raise ConfigError(f'live.native_stop: expected "auto", true or false, got {native!r}')
        venue["native_stop"] = native
        if "paper" in tree:
            raise ConfigError("paper: a live node has no [paper] table")
    tables = {name: _operator_table(tree, name) for name in _TABLE_DEFAULTS}
    log_level = str(node.get("log_level", "INFO")).upper()
    log_level_file = str(node.get("log_level_file", "INFO")).upper()
    return NodeSpec(
        mode=mode,
        system=system.name,
        trader_id=trader_id,
        symbols=symbols,
        strategy_file=strategy_file,
        instruments_file=instruments_file,
        market_data=market_data,
        sessions_dir=Path(node.get("sessions_dir", f"output/{mode}")),
        state_dir=Path(node.get("state_dir", f"state/{mode}")),
        log_level=log_level,
        log_level_file=log_level_file,
        timeouts=timeouts,
        stream=stream,
        venue=venue,
        strategies=strategies,
        **tables,
    )


def _operator_table(tree: dict[str, Any], name: str) -> dict[str, Any]:
    """``[controls]``, ``[risk]``, ``[health]`` or ``[alerts]``: known keys, checked types."""
    defaults = _TABLE_DEFAULTS[name]
    table = dict(tree.get(name, {}))
    for key in table:
        if key not in defaults:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(defaults)})")
    merged = defaults | table
    for key, value in merged.items():
        default = defaults[key]
        if value is None or key in ("rest_url", "host"):
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name}.{key}: expected a string, got {value!r}")
            continue
        if isinstance(default, bool) or key == "enabled":
            if not isinstance(value, bool):
                raise ConfigError(f"{name}.{key}: expected true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{name}.{key}: expected a number >= 0, got {value!r}")
    if name == "health" and merged["host"] not in ("127.0.0.1", "::1", "localhost"):
        # Allowed, but it exposes positions and PnL: say so where it was asked for.
        merged["exposed"] = True
    return merged
