"""Paper and live ``TradingNode`` s for the cascade market-maker, built from config files.

A node file (``configs/paper.toml``, ``configs/live.toml``) names the symbols, the data source,
where sessions and restart state go, and the venue; the strategy parameters come from the same
``configs/cascade_mm.toml`` the backtests read (merged per symbol by
:func:`liqcascade.backtests.run_config.strategy_kwargs`), optionally overridden by
``[strategy.defaults]`` / ``[strategy.symbols.X]`` tables in the node file. See the two shipped
files for every key.

What a node runs
----------------
* Data: ``BYBIT_LIQ``, our public-stream client (:mod:`liqcascade.live.liquidation_client`), for
  ``allLiquidation`` pushes; trades from the framework's Bybit data client (``market_data =
  "bybit"``: product type LINEAR, no keys, instruments over REST) or from ``BYBIT_LIQ`` itself
  (``"stream"``: ``publicTrade`` pushes plus instruments from ``configs/instruments.toml``; no
  REST at all, which is what lets tests point a whole node at a local server).
* Execution, registered in code (a config-file exec factory crashes ``node.build()`` in
  nautilus_trader 1.231): paper = :class:`~liqcascade.live.factories.PaperExecutionClient` under
  venue ``BYBIT`` (the framework's sandbox, fills simulated from the trades the node receives, with
  a persisted venue); live = the framework's Bybit exec client, ``--env demo`` or ``mainnet``,
  keys only from the environment (``BYBIT_DEMO_API_KEY``/``BYBIT_DEMO_API_SECRET``,
  ``BYBIT_API_KEY``/``BYBIT_API_SECRET``). Mainnet refuses to start without
  ``confirm_mainnet=True``. Keys go into the exec client's config object only: they are never
  logged and never written to the session folder (the framework logs a masked key).
* Strategies: one ``CascadeMarketMaker`` per symbol (``order_id_tag`` = the symbol), with
  ``subscribe_trades``, ``liquidation_client_id = "BYBIT_LIQ"``, an event log per symbol in the
  session folder, the node's restart state file, and ``external_order_claims`` on its
  instrument so reconciled orders and positions are handed back to it.
* Startup reconciliation (``LiveExecEngineConfig(reconciliation=True)``): the venue's open
  orders and positions are loaded into the cache before the strategies start.

Files
-----
``<sessions_dir>/<UTC start time>/``: ``node.log`` (the framework's log), ``events-<SYM>.jsonl``
(one per symbol, the same event log as backtests), ``session.json`` (the resolved settings,
no keys). ``<state_dir>/``: ``strategies.json`` (restart state of the strategies, see
:class:`liqcascade.strategies.cascade_mm.StrategyStateFile`) and, paper only, ``paper_venue.json``
(the simulated venue). Live state goes to ``<state_dir>/<env>/``: demo and mainnet never share.

Supervision, controls, alerts
-----------------------------
:func:`run` supervises the node (:mod:`liqcascade.live.supervision`): not RUNNING within
``[timeouts] startup``, or a trader or strategy that stops, ends the run with
:class:`~liqcascade.live.supervision.NodeFailedError` (the CLI exits 3) so systemd or Docker
restarts it (``deploy/``). Entry gates from ``[risk]`` and ``[controls]``
(:mod:`liqcascade.live.controls`) and the kill switch (``halt.json``, ``flatten_command`` /
``resume_command``) are added to every strategy; alerts go through Apprise
(:mod:`liqcascade.live.alerts`), health and metrics to ``[health]``
(:mod:`liqcascade.live.health`).

Ctrl-C (SIGINT) or SIGTERM
--------------------------
The framework's signal handler stops the node: each strategy's ``on_stop`` cancels a working
entry and writes its state; an open position is left as it is, with its reduce-only TP and SL
working at the venue (Bybit keeps them; the paper venue saves them), so it stays protected
while the node is down. What does not survive is the max-hold timer (timers live in the
process): the next start re-arms it from the exchange's first fill time (persisted, or rebuilt
from Bybit's execution history by the startup reconciliation) and closes at market at once when
the deadline has passed meanwhile. On mainnet the stop is Bybit's own (carried by the entry),
so even an entry that fills while the process is down is protected. After
``timeout_post_stop`` the clients disconnect (the paper venue writes its final state) and the
process exits.

Restart
-------
Start the same command again: reconciliation loads the venue's orders and positions, and each
strategy adopts them from its state file (``CascadeMarketMaker._restore``): no second entry,
missing exits placed, timers re-armed, cooldown and this week's realised PnL (loss limits)
restored. A trade that ended at the venue while the node was down is logged and starts the
cooldown.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import RoutingConfig
from nautilus_trader.live.config import LiveExecEngineConfig
from nautilus_trader.live.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TraderId

from liqcascade.backtests.run_config import SYSTEMS
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import crash_kwargs
from liqcascade.backtests.run_config import parse_value
from liqcascade.backtests.run_config import set_key
from liqcascade.backtests.run_config import strategy_kwargs
from liqcascade.config_files import ConfigNotFoundError
from liqcascade.config_files import locate_config
from liqcascade.configs import shipped_config
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.data_loaders.instruments import load_specs
from liqcascade.live.alerts import Alerts
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.config import PaperExecClientConfig
from liqcascade.live.controls import REST_URLS
from liqcascade.live.controls import ClockDriftError
from liqcascade.live.controls import ExposureCap
from liqcascade.live.controls import HaltFile
from liqcascade.live.controls import MaintenanceWindows
from liqcascade.live.controls import check_clock
from liqcascade.live.factories import BybitLiquidationClientFactory
from liqcascade.live.factories import PaperExecClientFactory
from liqcascade.live.health import HealthServer
from liqcascade.live.supervision import NodeFailedError
from liqcascade.live.supervision import Supervisor
from liqcascade.live.supervision import SupervisorConfig
from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

MODES = ("paper", "live")
MARKET_DATA = ("bybit", "stream")
ENVIRONMENTS = ("demo", "mainnet")
VENUE = "BYBIT"
LIQ_CLIENT = "BYBIT_LIQ"
#: Environment variables holding the keys, per ``--env``. Only their *names* are ever printed.
KEY_ENV_VARS = {
    "demo": ("BYBIT_DEMO_API_KEY", "BYBIT_DEMO_API_SECRET"),
    "mainnet": ("BYBIT_API_KEY", "BYBIT_API_SECRET"),
}
#: Every variable that can hold a Bybit key (the framework reads the mainnet pair from the
#: environment in any client built without explicit keys, e.g. the public data client).
ALL_KEY_VARS = (
    "BYBIT_API_KEY",
    "BYBIT_API_SECRET",
    "BYBIT_DEMO_API_KEY",
    "BYBIT_DEMO_API_SECRET",
    "BYBIT_TESTNET_API_KEY",
    "BYBIT_TESTNET_API_SECRET",
)
#: Bybit's limit on ``orderLinkId`` (our client order ids).
MAX_ORDER_ID_LENGTH = 36
#: Orders one strategy may send in a session that ids are sized for (5 digits of count).
ORDER_COUNT_DIGITS = 5
#: Periodic reconciliation with the venue, on by default (seconds; ``[live]`` overrides).
LIVE_DEFAULTS = {
    "open_check_interval_secs": 10.0,
    "position_check_interval_secs": 30.0,
    "reconciliation_lookback_mins": 1440,
    "reconciliation_startup_delay_secs": 10.0,  # before the periodic checks begin
}
STRATEGY_STATE_FILE = "strategies.json"
#: Added to the node's connection + reconciliation + portfolio timeouts before the supervisor
#: declares a start failed.
STARTUP_MARGIN_S = 15.0
PAPER_VENUE_FILE = "paper_venue.json"
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
    #: Symbol -> ``CascadeMarketMakerConfig`` keyword arguments from the strategy file; for
    #: System B, ``{"*": CrashReversionConfig keyword arguments}``.
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


@dataclass
class BuiltNode:
    """A built (not yet running) node and what the caller may want to look at."""

    node: TradingNode
    spec: NodeSpec
    session_dir: Path
    state_dir: Path
    strategies: dict[str, Any]  # symbol -> CascadeMarketMaker, or "*" -> CrashReversion
    env: str | None = None
    halt: HaltFile | None = None
    maintenance: MaintenanceWindows | None = None
    rest_url: str | None = None
    native_stop: bool = False
    health_address: tuple[str, int] | None = None  # set by run() once the endpoint listens


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
    try:
        source = locate_config(path)
    except ConfigNotFoundError as e:
        raise ConfigError(str(e)) from e
    try:
        tree = tomllib.loads(source.path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{source.path}: {e}") from e
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
    strategy_file = Path(node.get("strategy", shipped_config("cascade_mm.toml")))
    try:
        strategy_tree = tomllib.loads(strategy_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"node.strategy: cannot read {strategy_file}: {e}") from e
    merged = {"strategy": _merge(strategy_tree, tree.get("strategy", {}))}
    system = node.get("system", "cascade_mm")
    if system not in SYSTEMS:
        raise ConfigError(f"node.system: expected one of {SYSTEMS}, got {system!r}")
    if system == "crash_reversion":
        # System B: one instance over every symbol, fed hourly klines by the Bybit data client.
        if node.get("market_data", "bybit") != "bybit":
            raise ConfigError("node.market_data: System B needs bars from the Bybit data client")
        strategies = crash_kwargs(merged, symbols)
    else:
        # Mark/index stop triggers can take effect only through Bybit's native stop (live):
        # validate with the most that the node may enable; build_node checks the real setting.
        native_possible = mode == "live" and tree.get("live", {}).get("native_stop") is not False
        if native_possible:
            defaults = merged["strategy"].setdefault("defaults", {})
            defaults.setdefault("native_stop", True)
        strategies = strategy_kwargs(merged, symbols)
        if native_possible:
            for kwargs in strategies.values():
                kwargs.pop("native_stop", None)
    instruments_file = Path(node.get("instruments", shipped_config("instruments.toml")))
    try:
        specs = load_specs(instruments_file)
    except (OSError, ValueError) as e:
        raise ConfigError(f"node.instruments: {e}") from e
    missing = [s for s in symbols if s not in specs]
    if missing:
        raise ConfigError(f"node.instruments: {instrument_id_for(missing[0])} not in the file")
    if system == "cascade_mm":
        # A backtest skips a symbol above its maker-fee cap; a node must not silently trade it:
        # the fee it checks is the instruments file's (the account's tier, as the user states it).
        for symbol in symbols:
            cap = strategies[symbol].get("max_maker_fee_bps")
            fee_bps = float(specs[symbol].maker_fee) * 10_000
            if cap is not None and fee_bps > cap:
                raise ConfigError(
                    f"strategy.symbols.{symbol}.max_maker_fee_bps: {symbol} needs maker fee <= "
                    f"{cap} bps, node.instruments says {fee_bps:g} bps; drop the symbol or set "
                    "its maker_fee to your account's tier"
                )
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
        system=system,
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


def read_api_keys(env: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """
    Return ``(api_key, api_secret)`` for ``env`` from the environment.

    Raises
    ------
    ConfigError
        Naming the missing *variables* (never a value).

    """
    environ = os.environ if environ is None else environ
    names = KEY_ENV_VARS[env]
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigError(f"--env {env}: set {' and '.join(missing)} in the environment")
    return environ[names[0]], environ[names[1]]


def scrub_foreign_keys(env: str | None) -> list[str]:
    """
    Remove every Bybit key variable but ``env``'s own pair from this process's environment.

    The framework's Bybit clients read ``BYBIT_API_KEY``/``BYBIT_API_SECRET`` from the
    environment whenever they are built without keys (the public *data* client always is), so
    a demo session would otherwise load the mainnet key. A paper session (``env`` ``None``)
    keeps none. Returns the names removed (never values).
    """
    keep = set(KEY_ENV_VARS.get(env or "", ()))
    removed = [name for name in ALL_KEY_VARS if name not in keep and name in os.environ]
    for name in removed:
        del os.environ[name]
    return removed


def resolve_native_stop(spec: NodeSpec, env: str | None) -> bool:
    """
    Whether entries carry Bybit's native stop (``[live] native_stop``, default ``"auto"``).

    ``auto``: on for mainnet; off for demo (Bybit's demo refuses native TP/SL trigger
    parameters) and paper (the sandbox venue ignores order params), where the strategy places
    its own stop after the first fill, as in backtests.

    Raises
    ------
    ConfigError
        ``native_stop = true`` where it cannot work.

    """
    if spec.mode != "live" or spec.system != "cascade_mm":
        return False
    wanted = spec.venue.get("native_stop", "auto")
    if env == "demo":
        if wanted is True:
            raise ConfigError('live.native_stop: Bybit demo refuses native TP/SL; use "auto"')
        return False
    return wanted in ("auto", True)


def order_id_tag(symbol: str, trader_id: str) -> tuple[str, bool]:
    """
    ``(order_id_tag, use_hyphens)`` giving client order ids Bybit accepts as ``orderLinkId``.

    Ids look like ``O-20250303-123456-LIVE-ETHUSDT-17`` (trader tag, strategy tag, count) and
    Bybit takes at most 36 characters: ``1000PEPEUSDT`` already needs 37 with one digit of
    count. Tried in order, sized for a 5-digit count: the symbol with hyphens, without, the
    symbol less its quote currency, then a short stable hash of the symbol.

    Raises
    ------
    ConfigError
        If even the shortest form is too long (a long ``node.trader_id`` tag).

    """
    trader_tag = trader_id.split("-", 1)[-1]
    base = symbol.removesuffix("USDT")
    digest = "S" + hashlib.sha1(symbol.encode()).hexdigest()[:6].upper()
    for tag, hyphens in ((symbol, True), (symbol, False), (base, False), (digest, False)):
        parts = ["O", "YYYYMMDD", "HHMMSS", trader_tag, tag, "9" * ORDER_COUNT_DIGITS]
        length = len(("-" if hyphens else "").join(parts))
        if length <= MAX_ORDER_ID_LENGTH:
            return tag, hyphens
    raise ConfigError(
        f"node.trader_id: tag {trader_tag!r} leaves no room for order ids of {symbol} within "
        f"Bybit's {MAX_ORDER_ID_LENGTH} characters; use a shorter tag (e.g. CASCADE-LIVE)"
    )


def _check_env(spec: NodeSpec, env: str | None, confirm_mainnet: bool) -> None:
    if spec.mode == "paper":
        if env is not None:
            raise ConfigError("a paper node takes no --env (it never sends orders to Bybit)")
        return
    if env not in ENVIRONMENTS:
        raise ConfigError(f"--env: expected one of {ENVIRONMENTS}, got {env!r}")
    if env == "mainnet" and not confirm_mainnet:
        raise MainnetNotConfirmedError(
            "--env mainnet trades real money: refusing to start without explicit confirmation "
            "(confirm_mainnet=True / --confirm-mainnet)"
        )


def _bybit_data_config(instrument_ids: frozenset[InstrumentId]) -> Any:
    from nautilus_trader.adapters.bybit import BybitDataClientConfig
    from nautilus_trader.core.nautilus_pyo3 import BybitEnvironment
    from nautilus_trader.core.nautilus_pyo3 import BybitProductType

    # Public trades only: no keys. Demo trading also uses the mainnet public stream.
    return BybitDataClientConfig(
        product_types=(BybitProductType.LINEAR,),
        environment=BybitEnvironment.MAINNET,
        instrument_provider=InstrumentProviderConfig(load_ids=instrument_ids),
    )


def _bybit_exec_config(
    env: str,
    instrument_ids: frozenset[InstrumentId],
    keys: tuple[str, str],
    overrides: Mapping[str, Any],
) -> Any:
    from nautilus_trader.adapters.bybit import BybitExecClientConfig
    from nautilus_trader.core.nautilus_pyo3 import BybitEnvironment
    from nautilus_trader.core.nautilus_pyo3 import BybitProductType

    # Leverage, margin and position mode stay as set on the Bybit account: not changed from here.
    return BybitExecClientConfig(
        api_key=keys[0],
        api_secret=keys[1],
        product_types=(BybitProductType.LINEAR,),
        environment=BybitEnvironment.DEMO if env == "demo" else BybitEnvironment.MAINNET,
        instrument_provider=InstrumentProviderConfig(load_ids=instrument_ids),
        use_gtd=False,  # Bybit has no GTD: the strategy cancels on timers
        **overrides,
    )


def build_node(
    spec: NodeSpec,
    env: str | None = None,
    confirm_mainnet: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
    environ: Mapping[str, str] | None = None,
    bybit_exec_overrides: Mapping[str, Any] | None = None,
    session_name: str | None = None,
) -> BuiltNode:
    """
    Build (do not start) the node a spec describes.

    Parameters
    ----------
    spec : NodeSpec
        From :func:`load_node_spec`.
    env : str, optional
        Live only: ``demo`` or ``mainnet``.
    confirm_mainnet : bool
        Must be ``True`` for ``mainnet``.
    loop : asyncio.AbstractEventLoop, optional
        The node's event loop (default: a new one).
    environ : Mapping[str, str], optional
        Where the keys are read (default ``os.environ``).
    bybit_exec_overrides : Mapping[str, Any], optional
        Live only: extra ``BybitExecClientConfig`` fields, e.g. ``base_url_http`` /
        ``base_url_ws_private`` / ``base_url_ws_trade`` (tests point them at loopback; normal
        runs leave the adapter's defaults).
    session_name : str, optional
        Session folder name (default: the UTC start time).

    Raises
    ------
    ConfigError
        Bad environment, unconfirmed mainnet, missing keys.

    """
    _check_env(spec, env, confirm_mainnet)
    keys = read_api_keys(env, environ) if spec.mode == "live" and env else None
    native_stop = resolve_native_stop(spec, env)
    id_tags = {s: order_id_tag(s, spec.trader_id) for s in spec.symbols}
    for symbol in spec.symbols if spec.system == "cascade_mm" else ():
        try:  # every value must take effect here, or the node does not start
            CascadeMarketMakerConfig(
                **spec.strategies[symbol],
                instrument_id=instrument_id_for(symbol),
                native_stop=native_stop,
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"strategy.symbols.{symbol}: {e}") from e
    if spec.mode == "live":
        scrub_foreign_keys(env)
    else:
        scrub_foreign_keys(None)
    stamp = session_name or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    session_dir = spec.sessions_dir / stamp
    session_dir.mkdir(parents=True, exist_ok=True)
    state_dir = spec.state_folder(env)
    state_dir.mkdir(parents=True, exist_ok=True)
    instrument_ids = frozenset(InstrumentId.from_str(instrument_id_for(s)) for s in spec.symbols)

    stream_trades = spec.market_data == "stream"
    data_clients: dict[str, Any] = {
        LIQ_CLIENT: BybitLiquidationClientConfig(
            **spec.stream,
            # Trades always come through this client (the strategies subscribe them from it by
            # client id): it drops block (BT) and RPI prints like the recorder and the loaders.
            trades=True,
            instruments_file=str(spec.instruments_file) if stream_trades else None,
            symbols=list(spec.symbols),
            # "stream": this client also serves BYBIT market data (trade subscriptions are
            # routed by venue); otherwise BYBIT stays with the framework's client.
            routing=RoutingConfig(venues=frozenset({VENUE})) if stream_trades else RoutingConfig(),
        )
    }
    if not stream_trades:
        data_clients[VENUE] = _bybit_data_config(instrument_ids)

    if spec.mode == "paper":
        exec_config: Any = PaperExecClientConfig(
            venue=VENUE,
            starting_balances=[f"{spec.venue['starting_balance']} USDT"],
            base_currency="USDT",
            oms_type="NETTING",
            account_type="MARGIN",
            default_leverage=Decimal(str(spec.venue["leverage"])),
            fills=spec.venue["fills"],
            state_path=str(state_dir / PAPER_VENUE_FILE),
        )
    else:
        assert env is not None and keys is not None
        exec_config = _bybit_exec_config(env, instrument_ids, keys, bybit_exec_overrides or {})
    # Live: reconcile orders and positions with Bybit periodically, not only at startup, so a
    # fill missed on the private stream gets its exits within open_check_interval_secs.
    reconciliation = {k: spec.venue[k] for k in LIVE_DEFAULTS} if spec.mode == "live" else {}
    if reconciliation:
        # Compare with Bybit's recent order *history*: its real-time list holds open orders
        # only, so an order filled while its private-stream update was lost would otherwise be
        # "likely recently filled" for ever and its fill never applied.
        reconciliation["open_check_open_only"] = False
    config = TradingNodeConfig(
        trader_id=spec.trader_id,
        logging=LoggingConfig(
            log_level=spec.log_level,
            log_level_file=spec.log_level_file,
            log_directory=str(session_dir),
            log_file_name="node",
            log_colors=False,
        ),
        exec_engine=LiveExecEngineConfig(reconciliation=True, **reconciliation),
        data_clients=data_clients,
        exec_clients={VENUE: exec_config},
        timeout_connection=spec.timeouts["connection"],
        timeout_reconciliation=spec.timeouts["reconciliation"],
        timeout_portfolio=spec.timeouts["portfolio"],
        timeout_disconnection=spec.timeouts["disconnection"],
        timeout_post_stop=spec.timeouts["post_stop"],
    )
    if loop is None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    node = TradingNode(config=config, loop=loop)
    node.add_data_client_factory(LIQ_CLIENT, BybitLiquidationClientFactory)
    if not stream_trades:
        from nautilus_trader.adapters.bybit import BybitLiveDataClientFactory

        node.add_data_client_factory(VENUE, BybitLiveDataClientFactory)
    if spec.mode == "paper":
        node.add_exec_client_factory(VENUE, PaperExecClientFactory.for_portfolio(node.portfolio))
    else:
        from nautilus_trader.adapters.bybit import BybitLiveExecClientFactory

        node.add_exec_client_factory(VENUE, BybitLiveExecClientFactory)

    strategies: dict[str, Any] = {}
    if spec.system == "crash_reversion":
        from liqcascade.strategies.crash_reversion import CrashReversion
        from liqcascade.strategies.crash_reversion import CrashReversionConfig

        params = {
            **spec.strategies["*"],
            "order_id_tag": "CRASH",
            "subscribe_trades": True,  # the paper venue fills from the trades the node receives
            "event_log_path": str(session_dir / "events-crash.jsonl"),
            "external_order_claims": [
                InstrumentId.from_str(instrument_id_for(s)) for s in spec.symbols
            ],
        }
        strategy = CrashReversion(CrashReversionConfig(**params))
        node.trader.add_strategy(strategy)
        strategies["*"] = strategy
    for symbol in spec.symbols if spec.system == "cascade_mm" else ():
        instrument_id = instrument_id_for(symbol)
        params = {
            **spec.strategies[symbol],
            "instrument_id": instrument_id,
            # Client order ids are Bybit's orderLinkId: at most 36 characters for any symbol.
            "order_id_tag": id_tags[symbol][0],
            "use_hyphens_in_client_order_ids": id_tags[symbol][1],
            "native_stop": native_stop,
            "subscribe_trades": True,  # the cache (and the paper venue) only see subscribed data
            "liquidation_client_id": LIQ_CLIENT,
            "trades_client_id": LIQ_CLIENT,
            "order_latency_ms": 0.0,  # a backtest model: live, the network is the latency
            "event_log_path": str(session_dir / f"events-{symbol}.jsonl"),
            "state_path": str(state_dir / STRATEGY_STATE_FILE),
            # Orders and positions reconciled at startup belong to this strategy again.
            "external_order_claims": [InstrumentId.from_str(instrument_id)],
        }
        strategy = CascadeMarketMaker(CascadeMarketMakerConfig(**params))
        node.trader.add_strategy(strategy)
        strategies[symbol] = strategy
    node.build()
    rest_url = rest_url_for(spec, env, bybit_exec_overrides)
    halt = HaltFile(state_dir)
    maintenance = (
        MaintenanceWindows(rest_url, spec.controls["maintenance_margin_s"])
        if spec.controls["maintenance_poll_s"] > 0
        else None
    )
    exposure = ExposureCap(
        max_symbols=int(spec.risk["max_symbols"]) if spec.risk["max_symbols"] else None,
        max_notional=float(spec.risk["max_notional"]) if spec.risk["max_notional"] else None,
    )
    for strategy in strategies.values():
        if isinstance(strategy, CascadeMarketMaker):
            strategy.add_entry_gate(halt.gate)
            strategy.add_entry_gate(exposure.gate)
            if maintenance is not None:
                strategy.add_entry_gate(maintenance.gate)
    _write_session(session_dir, spec, env, state_dir)
    return BuiltNode(
        node=node,
        spec=spec,
        session_dir=session_dir,
        state_dir=state_dir,
        strategies=strategies,
        env=env,
        halt=halt,
        maintenance=maintenance,
        rest_url=rest_url,
        native_stop=native_stop,
    )


def rest_url_for(
    spec: NodeSpec, env: str | None, exec_overrides: Mapping[str, Any] | None = None
) -> str:
    """Bybit's REST base URL for server time and system status (``[controls] rest_url``, else
    the exec client's, else the environment's public host)."""
    if spec.controls.get("rest_url"):
        return str(spec.controls["rest_url"])
    if exec_overrides and exec_overrides.get("base_url_http"):
        return str(exec_overrides["base_url_http"])
    return REST_URLS["demo" if env == "demo" else "mainnet"]


def _write_session(session_dir: Path, spec: NodeSpec, env: str | None, state_dir: Path) -> None:
    """The resolved settings, for the session's post-analysis (never any key)."""
    settings = asdict(spec)
    settings |= {"env": env, "state_dir": str(state_dir), "started": datetime.now(UTC).isoformat()}
    (session_dir / "session.json").write_text(json.dumps(settings, indent=1, default=str))


def run(
    built: BuiltNode,
    status_interval_s: float = 60.0,
    stop_when_flat: bool = False,
    alerts: Alerts | None = None,
) -> Supervisor:
    """
    Run a built node until it is stopped, supervised; then release it.

    Ctrl-C / SIGTERM stop it gracefully (the framework's signal handler, see the module
    docstring). A :class:`~liqcascade.live.supervision.Supervisor` fails the run when the
    trader does not reach RUNNING within the node's timeouts or stops while the process runs,
    alerts (Apprise, ``LIQCASCADE_ALERT_URLS``), obeys the kill switch and feeds the health
    endpoint (``[health]``). A :class:`~liqcascade.live.monitor.StatusMonitor` writes
    ``session_start`` (once RUNNING), ``session_stop``, websocket changes and a status line every
    ``status_interval_s`` to ``events-node.jsonl``, where ``liqcascade checklist`` reads them.

    Raises
    ------
    NodeFailedError
        The node could not trade: the caller exits non-zero so a supervisor restarts it.

    """
    from liqcascade.live.monitor import StatusMonitor
    from liqcascade.live.monitor import liquidation_client_of

    node, spec = built.node, built.spec
    alerts = alerts or Alerts(prefix=spec.trader_id)
    monitor = StatusMonitor(
        built.session_dir / "events-node.jsonl",
        feed_stats=liquidation_client_of(node).stats,
        cache=node.cache,
        portfolio=node.portfolio,
        trader_state=lambda: node.trader.state.name,
    )
    health = None
    if spec.health["enabled"]:
        health = HealthServer(spec.health["host"], int(spec.health["port"])).start()
        built.health_address = health.address
    _wire_events(built, alerts, health)
    timeouts = spec.timeouts
    supervisor = Supervisor(
        built,
        SupervisorConfig(
            startup_timeout_s=timeouts["startup"],
            disconnect_after_s=spec.alerts["disconnect_after_s"],
            maintenance_poll_s=spec.controls["maintenance_poll_s"],
            stop_when_flat=stop_when_flat,
            status_interval_s=status_interval_s,
        ),
        monitor=monitor,
        alerts=alerts,
        health=health,
        halt=built.halt,
        maintenance=built.maintenance,
    )
    if built.env == "demo" and spec.system == "cascade_mm":
        node.kernel.logger.warning(
            "Bybit demo refuses native TP/SL: stops are placed by the strategy after the first "
            "fill (a fill while this process is down is unprotected until it restarts)"
        )
    loop = node.get_event_loop()
    tasks = [loop.create_task(supervisor.run())]
    try:
        node.run(raise_exception=True)
    finally:
        tasks += [supervisor.status_task] if supervisor.status_task else []
        for task in tasks:
            task.cancel()
        if not loop.is_running() and not loop.is_closed():
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        left = supervisor.positions_left()
        if left and supervisor.started:
            alerts.send("positions_left", "stopped with open positions: " + "; ".join(left))
        monitor.session_stop(failure=supervisor.failure)
        if health is not None:
            health.stop()
        alerts.close()
        node.dispose()
    if supervisor.failure is not None:
        raise NodeFailedError(supervisor.failure)
    return supervisor


def _wire_events(built: BuiltNode, alerts: Alerts, health: HealthServer | None) -> None:
    """Strategy events -> alerts and metrics (order rejections, market closes, loss limits)."""
    counters = {
        "cascade": "cascades",
        "entry_submitted": "orders",
        "entry_fill": "fills",
        "exit_fill": "fills",
        "entry_rejected": "rejections",
        "exit_rejected": "rejections",
    }

    def on_event(record: dict[str, Any]) -> None:
        kind, symbol = record["event"], record["symbol"]
        if health is not None and kind in counters:
            health.count(counters[kind])
        if kind in ("entry_rejected", "exit_rejected"):
            alerts.send("order_rejected", f"{symbol}: {kind[:-9]} rejected: {record['reason']}")
        elif kind == "market_close":
            if health is not None:
                health.count("market_closes")
            alerts.send(
                "market_close",
                f"{symbol}: closing {record['quantity']} at market ({record['reason']})",
            )
        elif kind == "skip" and "loss limit" in str(record.get("reason")):
            alerts.send("loss_limit", f"{symbol}: {record['reason']}")

    for strategy in built.strategies.values():
        events = getattr(strategy, "events", None)
        if events is not None and hasattr(events, "listeners"):
            events.listeners.append(on_event)


def startup_checks(built: BuiltNode) -> None:
    """
    Refuse to trade on a clock that disagrees with Bybit's (``[controls] max_clock_drift_ms``,
    0 = off).

    Raises
    ------
    ClockDriftError
        Drift above the bound, or Bybit's server time unreadable.

    """
    bound = float(built.spec.controls["max_clock_drift_ms"])
    if bound > 0 and built.rest_url:
        drift = check_clock(built.rest_url, bound)
        built.node.kernel.logger.info(f"Clock drift vs Bybit: {drift:+.0f} ms (max {bound:.0f})")


def _run_checked(built: BuiltNode, stop_when_flat: bool = False) -> Supervisor:
    try:
        alerts = Alerts(prefix=built.spec.trader_id)
    except ValueError as e:  # a bad or unusable alert URL: named, before anything trades
        built.node.dispose()
        raise ConfigError(str(e)) from e
    try:
        startup_checks(built)
    except ClockDriftError as e:
        alerts.send("startup_failed", str(e))
        alerts.close()
        built.node.dispose()
        raise NodeFailedError(str(e)) from e
    return run(built, stop_when_flat=stop_when_flat, alerts=alerts)


def paper_command(config_path: str | Path, overrides: Sequence[str] = ()) -> BuiltNode:
    """
    ``liqcascade paper CONFIG``: run a paper node until Ctrl-C.

    Parameters
    ----------
    config_path : str | Path
        A node file with ``node.mode = "paper"``.
    overrides : Sequence[str]
        ``key=value`` overrides of the file.

    Returns
    -------
    BuiltNode
        The (stopped and disposed) node, for its session folder.

    Raises
    ------
    NodeFailedError
        The node could not trade (exit non-zero: a supervisor restarts it).

    """
    spec = load_node_spec(config_path, overrides)
    if spec.mode != "paper":
        raise ConfigError(f"node.mode: {config_path} is a {spec.mode} node, not paper")
    built = build_node(spec)
    _run_checked(built)
    return built


def live_command(
    config_path: str | Path,
    env: str,
    confirm_mainnet: bool = False,
    overrides: Sequence[str] = (),
    bybit_exec_overrides: Mapping[str, Any] | None = None,
) -> BuiltNode:
    """
    ``liqcascade live CONFIG --env demo|mainnet [--confirm-mainnet]``: run a live node.

    Parameters
    ----------
    config_path : str | Path
        A node file with ``node.mode = "live"``.
    env : str
        ``demo`` (Bybit demo trading, ``BYBIT_DEMO_API_KEY``/``BYBIT_DEMO_API_SECRET``) or
        ``mainnet`` (real money, ``BYBIT_API_KEY``/``BYBIT_API_SECRET``).
    confirm_mainnet : bool
        Required for ``mainnet``; checked before anything else happens.
    overrides : Sequence[str]
        ``key=value`` overrides of the file.
    bybit_exec_overrides : Mapping[str, Any], optional
        Extra ``BybitExecClientConfig`` fields (tests: loopback URLs).

    Returns
    -------
    BuiltNode
        The (stopped and disposed) node.

    Raises
    ------
    MainnetNotConfirmedError
        ``mainnet`` without ``confirm_mainnet``.
    ConfigError
        A bad file or missing keys.
    NodeFailedError
        The node could not trade (exit non-zero: a supervisor restarts it).

    """
    built = _build_live(config_path, env, confirm_mainnet, overrides, bybit_exec_overrides)
    _run_checked(built)
    return built


def _build_live(
    config_path: str | Path,
    env: str,
    confirm_mainnet: bool,
    overrides: Sequence[str],
    bybit_exec_overrides: Mapping[str, Any] | None,
) -> BuiltNode:
    if env == "mainnet" and not confirm_mainnet:  # before even reading the file
        raise MainnetNotConfirmedError(
            "--env mainnet trades real money: refusing to start without explicit confirmation "
            "(confirm_mainnet=True / --confirm-mainnet)"
        )
    spec = load_node_spec(config_path, overrides)
    if spec.mode != "live":
        raise ConfigError(f"node.mode: {config_path} is a {spec.mode} node, not live")
    return build_node(
        spec, env=env, confirm_mainnet=confirm_mainnet, bybit_exec_overrides=bybit_exec_overrides
    )


def halt_file_for(
    config_path: str | Path, env: str | None, overrides: Sequence[str] = ()
) -> HaltFile:
    """The kill switch of the node a config file (and ``--env``) describes."""
    spec = load_node_spec(config_path, overrides)
    if spec.mode == "live" and env not in ENVIRONMENTS:
        raise ConfigError(f"--env: a live node needs --env demo|mainnet, got {env!r}")
    if spec.mode == "paper" and env is not None:
        raise ConfigError("a paper node takes no --env")
    folder = spec.state_folder(env)
    folder.mkdir(parents=True, exist_ok=True)
    return HaltFile(folder)


def flatten_command(
    config_path: str | Path,
    env: str | None = None,
    confirm_mainnet: bool = False,
    overrides: Sequence[str] = (),
    bybit_exec_overrides: Mapping[str, Any] | None = None,
    reason: str = "liqcascade flatten",
) -> BuiltNode:
    """
    ``liqcascade flatten --config FILE [--env ...]``: the kill switch.

    Sets the persisted halt (no new entries until ``liqcascade resume``), then starts the node,
    lets each strategy adopt what the venue holds, cancels every order, closes every position
    at market and stops once nothing is open. A node already running on the same state folder
    sees the halt within a second and flattens itself (start this command anyway: the venue
    connection of a second node is harmless, and it confirms the account is flat).

    Raises
    ------
    NodeFailedError
        Something is still open after ``flat_timeout_s`` (exit non-zero).

    """
    halt = halt_file_for(config_path, env, overrides)
    halt.set(reason)
    spec = load_node_spec(config_path, overrides)
    if spec.mode == "live":
        built = _build_live(config_path, str(env), confirm_mainnet, overrides, bybit_exec_overrides)
    else:
        built = build_node(spec)
    _run_checked(built, stop_when_flat=True)
    return built


def resume_command(
    config_path: str | Path, env: str | None = None, overrides: Sequence[str] = ()
) -> bool:
    """``liqcascade resume --config FILE [--env ...]``: lift the halt; ``False`` if none."""
    return halt_file_for(config_path, env, overrides).clear()
