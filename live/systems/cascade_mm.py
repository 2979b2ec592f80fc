"""System A on a paper or live node: one ``CascadeMarketMaker`` per symbol.

The backtests' half (run config, data, records, report) is
:mod:`liqcascade.backtests.systems.cascade_mm`; the strategy parameters are read the same way.
What a node adds: Bybit's native stop where it can work, a refusal of a symbol whose maker fee
(as the node's instruments file states it) is above its ``max_maker_fee_bps``, and per symbol a
strategy with trades and liquidations from the node's liquidation client, its own event log,
the node's restart state file and the orders and positions of its instrument reconciled at
startup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.backtests.errors import ConfigError
from liqcascade.backtests.systems.cascade_mm import strategy_kwargs as backtest_kwargs
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.live.systems import LiveSystem
from liqcascade.live.systems import StrategySlots
from liqcascade.strategies.cascade_mm import CascadeMarketMaker
from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

if TYPE_CHECKING:
    from liqcascade.live.node_spec import NodeSpec


def strategy_kwargs(
    merged: dict[str, Any], symbols: Sequence[str], tree: dict[str, Any], mode: str
) -> dict[str, dict[str, Any]]:
    """The backtests' per-symbol parameters, validated with the most the node may enable."""
    # Mark/index stop triggers can take effect only through Bybit's native stop (live):
    # validate with the most that the node may enable; build_node checks the real setting.
    native_possible = mode == "live" and tree.get("live", {}).get("native_stop") is not False
    if native_possible:
        defaults = merged["strategy"].setdefault("defaults", {})
        defaults.setdefault("native_stop", True)
    strategies = backtest_kwargs(merged, symbols)
    if native_possible:
        for kwargs in strategies.values():
            kwargs.pop("native_stop", None)
    return strategies


def check_instruments(strategies: dict[str, dict[str, Any]], specs: dict[str, Any]) -> None:
    """
    A backtest skips a symbol above its maker-fee cap; a node must not silently trade it: the
    fee it checks is the instruments file's (the account's tier, as the user states it).
    """
    for symbol, kwargs in strategies.items():
        cap = kwargs.get("max_maker_fee_bps")
        fee_bps = float(specs[symbol].maker_fee) * 10_000
        if cap is not None and fee_bps > cap:
            raise ConfigError(
                f"strategy.symbols.{symbol}.max_maker_fee_bps: {symbol} needs maker fee <= "
                f"{cap} bps, node.instruments says {fee_bps:g} bps; drop the symbol or set "
                "its maker_fee to your account's tier"
            )


def check_build(spec: NodeSpec, native_stop: bool) -> None:
    """Every value must take effect with the node's real native-stop setting, or no start."""
    for symbol in spec.symbols:
        try:
            CascadeMarketMakerConfig(
                **spec.strategies[symbol],
                instrument_id=instrument_id_for(symbol),
                native_stop=native_stop,
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"strategy.symbols.{symbol}: {e}") from e


def add_strategies(node: Any, spec: NodeSpec, slots: StrategySlots) -> dict[str, Any]:
    """One ``CascadeMarketMaker`` per symbol (``order_id_tag`` from the symbol)."""
    strategies: dict[str, Any] = {}
    for symbol in spec.symbols:
        instrument_id = instrument_id_for(symbol)
        tag, hyphens = slots.order_id_tags[symbol]
        params = {
            **spec.strategies[symbol],
            "instrument_id": instrument_id,
            # Client order ids are Bybit's orderLinkId: at most 36 characters for any symbol.
            "order_id_tag": tag,
            "use_hyphens_in_client_order_ids": hyphens,
            "native_stop": slots.native_stop,
            "subscribe_trades": True,  # the cache (and the paper venue) only see subscribed data
            "liquidation_client_id": slots.liquidation_client,
            "trades_client_id": slots.liquidation_client,
            "order_latency_ms": 0.0,  # a backtest model: live, the network is the latency
            "event_log_path": str(slots.session_dir / f"events-{symbol}.jsonl"),
            "state_path": str(slots.state_file),
            # Orders and positions reconciled at startup belong to this strategy again.
            "external_order_claims": [InstrumentId.from_str(instrument_id)],
        }
        strategy = CascadeMarketMaker(CascadeMarketMakerConfig(**params))
        node.trader.add_strategy(strategy)
        strategies[symbol] = strategy
    return strategies


LIVE = LiveSystem(
    name="cascade_mm",
    strategy_kwargs=strategy_kwargs,
    add_strategies=add_strategies,
    check_instruments=check_instruments,
    check_build=check_build,
    native_stop=True,
)
