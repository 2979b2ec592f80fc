"""The live node's half of each trading system: how a ``TradingNode`` reads and builds it.

A system (:mod:`liqcascade.backtests.systems`) names its live half by import path
(``System.live``); :func:`live_system` resolves it here, so ``backtests`` never imports
``live``. A :class:`LiveSystem` says how the system's strategy parameters are read from a node
file (and what the node file must hold for it), what it refuses about the node's instruments,
how its strategies are created and added to the node, and whether it can carry Bybit's native
stops. The node (:mod:`liqcascade.live.node_spec`, :mod:`liqcascade.live.node_build`,
:mod:`liqcascade.live.node`) does the rest alike for every system.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.systems import get_system
from liqcascade.backtests.systems import resolve_path

if TYPE_CHECKING:
    from liqcascade.live.node_spec import NodeSpec


@dataclass(frozen=True)
class StrategySlots:
    """What the node gives a system's strategies: where they log, keep state, and their ids."""

    session_dir: Path  # event logs: events-<SYMBOL>.jsonl, events-crash.jsonl, ...
    state_file: Path  # the restart state of the strategies (one file for the node)
    liquidation_client: str  # the data client id serving liquidations and trades
    native_stop: bool  # entries carry Bybit's native stop (resolved for the node's --env)
    #: symbol -> (order_id_tag, use_hyphens): client order ids Bybit takes as orderLinkId.
    order_id_tags: dict[str, tuple[str, bool]]


def _no_instrument_checks(strategies: dict[str, dict[str, Any]], specs: dict[str, Any]) -> None:
    return None


def _no_build_checks(spec: NodeSpec, native_stop: bool) -> None:
    return None


@dataclass(frozen=True)
class LiveSystem:
    """
    A system's paper/live hooks. Each raises ``ConfigError`` naming the key.

    Attributes
    ----------
    name : str
        ``node.system``.
    strategy_kwargs : Callable[[dict, Sequence[str], dict, str], dict[str, dict]]
        ``(strategy_tree, symbols, node_tree, mode)``: the strategy parameters (the backtests'
        ``System.strategy_kwargs``) for this node: ``strategy_tree`` is ``{"strategy": the
        strategy file with the node file's [strategy] tables merged}``, ``node_tree`` the whole
        node file (for rules such as System B's ``node.market_data = "bybit"``).
    add_strategies : Callable[[TradingNode, NodeSpec, StrategySlots], dict[str, Strategy]]
        Create the strategies and add them to the node's trader; returns them by symbol (or
        ``"*"``).
    check_instruments : Callable[[dict, dict[str, InstrumentSpec]], None]
        ``(strategies, instrument_specs)``: refuse what the node's instruments file rules out.
    check_build : Callable[[NodeSpec, bool], None]
        ``(spec, native_stop)``: before anything is built, every value must take effect.
    native_stop : bool
        Its entries can carry Bybit's native stop (``[live] native_stop``).

    """

    name: str
    strategy_kwargs: Callable[
        [dict[str, Any], Sequence[str], dict[str, Any], str], dict[str, dict[str, Any]]
    ]
    add_strategies: Callable[[Any, NodeSpec, StrategySlots], dict[str, Any]]
    check_instruments: Callable[[dict[str, dict[str, Any]], dict[str, Any]], None] = (
        _no_instrument_checks
    )
    check_build: Callable[[NodeSpec, bool], None] = _no_build_checks
    native_stop: bool = False


def live_system(name: object) -> LiveSystem:
    """
    The live half of the system registered as ``name``.

    Raises
    ------
    ConfigError
        ``node.system``: not a registered system (listing them), or one without a live node.

    """
    system = get_system(name, "node.system")
    if system.live is None:
        raise ConfigError(f"node.system: {system.name} has no paper or live node")
    live = resolve_path(system.live)
    if not isinstance(live, LiveSystem) or live.name != system.name:
        raise TypeError(f"{system.live} is not the LiveSystem {system.name!r}")
    return live
