"""Build (do not start) the ``TradingNode`` a :class:`~liqcascade.live.node_spec.NodeSpec`
describes: data and execution clients, the system's strategies, entry gates, the session folder.

* Data: ``BYBIT_LIQ``, our public-stream client (:mod:`liqcascade.live.liquidation_client`);
  trades from the framework's Bybit data client (``market_data = "bybit"``) or from
  ``BYBIT_LIQ`` itself (``"stream"``).
* Execution, registered in code (a config-file exec factory crashes ``node.build()`` in
  nautilus_trader 1.231): paper = :class:`~liqcascade.live.factories.PaperExecutionClient`, live =
  the framework's Bybit exec client (keys: :mod:`liqcascade.live.api_keys`).
* Strategies: the node's system adds them (:mod:`liqcascade.live.systems`); every strategy that
  takes entry gates gets the kill switch, the exposure cap and the maintenance windows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Protocol
from typing import runtime_checkable

from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import RoutingConfig
from nautilus_trader.live.config import LiveDataEngineConfig
from nautilus_trader.live.config import LiveExecEngineConfig
from nautilus_trader.live.config import LiveRiskEngineConfig
from nautilus_trader.live.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.backtests.run_config import ConfigError
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.live.api_keys import read_api_keys
from liqcascade.live.api_keys import scrub_foreign_keys
from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.config import PaperExecClientConfig
from liqcascade.live.controls import REST_URLS
from liqcascade.live.controls import ExposureCap
from liqcascade.live.controls import HaltFile
from liqcascade.live.controls import MaintenanceWindows
from liqcascade.live.factories import BybitLiquidationClientFactory
from liqcascade.live.factories import PaperExecClientFactory
from liqcascade.live.node_spec import ENVIRONMENTS
from liqcascade.live.node_spec import LIVE_DEFAULTS
from liqcascade.live.node_spec import MainnetNotConfirmedError
from liqcascade.live.node_spec import NodeSpec
from liqcascade.live.systems import StrategySlots
from liqcascade.live.systems import live_system

VENUE = "BYBIT"
LIQ_CLIENT = "BYBIT_LIQ"
#: Bybit's limit on ``orderLinkId`` (our client order ids).
MAX_ORDER_ID_LENGTH = 36
#: Orders one strategy may send in a session that ids are sized for (5 digits of count).
ORDER_COUNT_DIGITS = 5
STRATEGY_STATE_FILE = "strategies.json"
PAPER_VENUE_FILE = "paper_venue.json"


@runtime_checkable
class EntryGated(Protocol):
    """A strategy whose entries the node's gates can veto (``CascadeMarketMaker``)."""

    def add_entry_gate(self, gate: Any) -> None:
        """Add a gate ``(strategy, ts_ns) -> reason | None`` consulted before every entry."""


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
    if spec.mode != "live" or not live_system(spec.system).native_stop:
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
    system = live_system(spec.system)
    native_stop = resolve_native_stop(spec, env)
    id_tags = {s: order_id_tag(s, spec.trader_id) for s in spec.symbols}
    system.check_build(spec, native_stop)  # every value must take effect, or no start
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
        # An unexpected exception in an engine's queue stops the node through the framework's
        # shutdown (strategies stop, the supervisor alerts and exits non-zero, the state file
        # is saved) instead of the default os._exit(1), which ends the process with no alert.
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(
            reconciliation=True, graceful_shutdown_on_exception=True, **reconciliation
        ),
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

    slots = StrategySlots(
        session_dir=session_dir,
        state_file=state_dir / STRATEGY_STATE_FILE,
        liquidation_client=LIQ_CLIENT,
        native_stop=native_stop,
        order_id_tags=id_tags,
    )
    strategies = system.add_strategies(node, spec, slots)
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
        if isinstance(strategy, EntryGated):
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
