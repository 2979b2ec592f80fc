"""The framework configs every system's backtest shares, and running them with ``BacktestNode``.

The simulated venue (margin account, fills and fees from ``[venue]``), the engine's logging
(``run.framework_log``) and the ``BacktestRunConfig`` around a system's own data and strategy
configs. What a system feeds and trades is its own (:mod:`liqcascade.backtests.systems`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liqcascade.backtests.run_config import RunSpec

#: The framework's own log, written beside a job's reports (``backtest --config ...``).
FRAMEWORK_LOG = "framework"


def _fee_model(venue: Any) -> Any:
    from nautilus_trader.backtest.config import ImportableFeeModelConfig

    if venue.cost_per_trade_bps is not None:  # a flat cost per round trip (the seed's 0.2 %)
        return ImportableFeeModelConfig(
            fee_model_path="liqcascade.backtests.venue:TradeCostFeeModel",
            config_path="liqcascade.backtests.venue:TradeCostFeeModelConfig",
            config={"cost_bps": venue.cost_per_trade_bps},
        )
    return ImportableFeeModelConfig(
        fee_model_path="liqcascade.backtests.venue:BpsFeeModel",
        config_path="liqcascade.backtests.venue:BpsFeeModelConfig",
        config={"maker_bps": venue.maker_fee_bps, "taker_bps": venue.taker_fee_bps},
    )


def venue_config(spec: RunSpec, name: str = "BYBIT", *, bars_only: bool = False) -> Any:
    """The simulated venue ``name``: margin account, fills and fees from the run config.

    ``bars_only`` (System B): fills from bars, and a ``HEDGING`` venue, so each trade is its
    own position and overlapping trades in one asset (the seed's) keep their own entry price
    and PnL. Otherwise fills come from trade prints into a ``NETTING`` venue.
    """
    from nautilus_trader.backtest.config import BacktestVenueConfig
    from nautilus_trader.backtest.config import ImportableFillModelConfig

    venue = spec.venue
    return BacktestVenueConfig(
        name=name,
        oms_type="HEDGING" if bars_only else "NETTING",
        account_type="MARGIN",
        base_currency="USDT",
        starting_balances=[f"{spec.starting_balance} USDT"],
        default_leverage=spec.leverage,
        book_type="L1_MBP",
        trade_execution=not bars_only,
        bar_execution=bars_only,
        liquidity_consumption=True,  # one print's size fills at most once
        fill_model=ImportableFillModelConfig(
            fill_model_path="nautilus_trader.backtest.models:FillModel",
            config_path="nautilus_trader.backtest.config:FillModelConfig",
            # Conservative: a print AT the limit never fills (queue position unknown); only a
            # print through it does. Optimistic: a touch fills. Haircut: a touch fills with
            # probability venue.fill_probability (seeded: the same run twice is the same run).
            config={
                "prob_fill_on_limit": venue.prob_fill_on_limit,
                "random_seed": venue.random_seed,
            },
        ),
        fee_model=_fee_model(venue),
        # No venue latency model: it releases delayed orders at the next data point of ANY
        # instrument, so fills would depend on other symbols' data (and on trade windows).
        # venue.latency_ms is applied by the strategy on its own clock instead.
    )


def logging_config(log_dir: Path | None) -> Any:
    """
    The framework's logging for a run: WARNING and above to ``<log_dir>/framework.log``, ERROR
    on screen; ``None``: bypassed.

    Bypassing is ~20 % faster per tick fed (the engine formats a debug line per tick whenever
    logging is on, at any level), but then a strategy that stops itself, or any framework
    error, is silent. With trade windows only a few percent of the trades are fed, so the cost
    is small (README: "When something is wrong"); ``run.framework_log = "off"`` bypasses it.
    The first engine of a process decides for all later ones (the logger is process-wide).
    """
    from nautilus_trader.config import LoggingConfig

    if log_dir is None:
        return LoggingConfig(bypass_logging=True)
    return LoggingConfig(
        log_level="ERROR",
        log_level_file="WARNING",
        log_directory=str(log_dir),
        log_file_name=FRAMEWORK_LOG,
        log_colors=False,
    )


def _engine_config(
    strategies: list[Any], log_dir: Path | None = None, analysis: bool = True
) -> Any:
    from nautilus_trader.backtest.config import BacktestEngineConfig

    # Strategy exceptions fail the run either way (raise_exception).
    return BacktestEngineConfig(
        strategies=strategies, logging=logging_config(log_dir), run_analysis=analysis
    )


def backtest_run_config(
    spec: RunSpec,
    data: list[Any],
    strategies: list[Any],
    venues: list[Any] | None = None,
    log_dir: Path | None = None,
) -> Any:
    """A ``BacktestRunConfig`` of a system's data and strategies (default venue: ``BYBIT``).

    Strategy exceptions fail the run (``raise_exception``); the engine is kept after the run
    (for the tearsheet) until the caller disposes of the node.
    """
    from nautilus_trader.backtest.config import BacktestRunConfig

    return BacktestRunConfig(
        engine=_engine_config(strategies, log_dir, spec.framework_analysis),
        venues=venues or [venue_config(spec)],
        data=data,
        chunk_size=spec.chunk_size or None,
        raise_exception=True,
        dispose_on_completion=False,
    )


def run_node(config: Any) -> Any:
    """Run one ``BacktestRunConfig`` with the framework's ``BacktestNode``; return the node."""
    from nautilus_trader.backtest.node import BacktestNode

    node = BacktestNode(configs=[config])
    node.run()
    return node
