"""Backtests of the liquidation-cascade strategies: runner, reports, research tools.

``framework_configs`` hands the framework's ``BacktestNode`` exactly what ``liqcascade
backtest`` runs (see :mod:`liqcascade.backtests.framework`).
"""

from liqcascade.backtests.framework import FrameworkConfigs
from liqcascade.backtests.framework import framework_configs

__all__ = ["FrameworkConfigs", "framework_configs"]
