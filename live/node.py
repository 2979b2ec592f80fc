"""Paper and live ``TradingNode`` s of a trading system, built from config files, and running them.

This module runs a built node (supervision, alerts, health, the kill switch) and holds the
commands the CLI calls (``paper``, ``live``, ``flatten``, ``resume``). Reading a node file is
:mod:`liqcascade.live.node_spec`, building the node :mod:`liqcascade.live.node_build`, reading
keys :mod:`liqcascade.live.api_keys`, and what a system adds :mod:`liqcascade.live.systems`; the
names tests and users import from here (``load_node_spec``, ``build_node``, ``BuiltNode``, ...)
are re-exported.

A node file (``configs/paper.toml``, ``configs/live.toml``) names the symbols, the data source,
where sessions and restart state go, and the venue; the strategy parameters come from the same
``configs/cascade_mm.toml`` the backtests read (merged per symbol by
:func:`liqcascade.backtests.systems.cascade_mm.strategy_kwargs`), optionally overridden by
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
strategy adopts them from its state file (``strategies/restart_adoption.py``): no second entry,
missing exits placed, timers re-armed, cooldown and this week's realised PnL (loss limits)
restored. A trade that ended at the venue while the node was down is logged and starts the
cooldown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from liqcascade.backtests.run_config import ConfigError
from liqcascade.live.alerts import Alerts
from liqcascade.live.api_keys import read_api_keys
from liqcascade.live.controls import ClockDriftError
from liqcascade.live.controls import HaltFile
from liqcascade.live.controls import check_clock
from liqcascade.live.health import HealthServer
from liqcascade.live.node_build import BuiltNode
from liqcascade.live.node_build import build_node
from liqcascade.live.node_spec import ENVIRONMENTS
from liqcascade.live.node_spec import MainnetNotConfirmedError
from liqcascade.live.node_spec import NodeSpec
from liqcascade.live.node_spec import load_node_spec
from liqcascade.live.supervision import NodeFailedError
from liqcascade.live.supervision import Supervisor
from liqcascade.live.supervision import SupervisorConfig
from liqcascade.live.systems import live_system

__all__ = [  # the node's public names, wherever they are defined
    "BuiltNode", "ConfigError", "MainnetNotConfirmedError", "NodeSpec", "build_node",
    "flatten_command", "halt_file_for", "live_command", "load_node_spec", "paper_command",
    "read_api_keys", "resume_command", "run", "startup_checks",
]  # fmt: skip


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
    if built.env == "demo" and live_system(spec.system).native_stop:
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
