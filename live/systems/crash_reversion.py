"""System B on a paper node: one ``CrashReversion`` over every symbol, fed Bybit's klines.

The backtests' half (run config, data, records, report) is
:mod:`liqcascade.backtests.systems.crash_reversion`; the strategy parameters are read the same
way. A node needs bars from the framework's Bybit data client (``node.market_data = "bybit"``)
and subscribes trades too, so the paper venue can fill the market orders. No restart adoption
yet (positions are short and the paper venue keeps them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.systems.crash_reversion import CRASH_EVENTS
from liqcascade.backtests.systems.crash_reversion import strategy_kwargs as backtest_kwargs
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.live.systems import LiveSystem
from liqcascade.live.systems import StrategySlots

if TYPE_CHECKING:
    from liqcascade.live.node_spec import NodeSpec


def strategy_kwargs(
    merged: dict[str, Any], symbols: Sequence[str], tree: dict[str, Any], mode: str
) -> dict[str, dict[str, Any]]:
    """One instance over every symbol, fed hourly klines by the Bybit data client."""
    if tree.get("node", {}).get("market_data", "bybit") != "bybit":
        raise ConfigError("node.market_data: System B needs bars from the Bybit data client")
    return backtest_kwargs(merged, symbols)


def add_strategies(node: Any, spec: NodeSpec, slots: StrategySlots) -> dict[str, Any]:
    """The one ``CrashReversion`` (``order_id_tag`` ``CRASH``), under key ``"*"``."""
    from liqcascade.strategies.crash_reversion import CrashReversion
    from liqcascade.strategies.crash_reversion import CrashReversionConfig

    params = {
        **spec.strategies["*"],
        "order_id_tag": "CRASH",
        "subscribe_trades": True,  # the paper venue fills from the trades the node receives
        "event_log_path": str(slots.session_dir / CRASH_EVENTS),
        "external_order_claims": [
            InstrumentId.from_str(instrument_id_for(s)) for s in spec.symbols
        ],
    }
    strategy = CrashReversion(CrashReversionConfig(**params))
    node.trader.add_strategy(strategy)
    return {"*": strategy}


LIVE = LiveSystem(
    name="crash_reversion", strategy_kwargs=strategy_kwargs, add_strategies=add_strategies
)
