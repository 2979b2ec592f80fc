"""Run System A backtests with the framework's ``BacktestNode`` from a run config file.

``run_spec`` builds one ``BacktestRunConfig`` (one strategy instance per symbol, one shared
account), streams the execution view of the catalog through ``BacktestNode`` and turns the
strategies' event logs into :class:`~liqcascade.backtests.records.RunRecords`. Strategy exceptions
fail the run (``raise_exception=True``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from liqcascade.backtests.coverage import Coverage
from liqcascade.backtests.execution_view import ViewStats
from liqcascade.backtests.execution_view import build_execution_view
from liqcascade.backtests.execution_view import window_violations
from liqcascade.backtests.records import CascadeRecord
from liqcascade.backtests.records import RunRecords
from liqcascade.backtests.records import SignalRecord
from liqcascade.backtests.records import trade_from_exit_event
from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.data_loaders.arrow_tables import fixed_to_float
from liqcascade.data_loaders.catalog_writer import LIQUIDATIONS
from liqcascade.data_loaders.catalog_writer import TRADES
from liqcascade.data_loaders.catalog_writer import interval_of
from liqcascade.data_loaders.instruments import instrument_id_for
from liqcascade.strategies.event_log import read_events
from liqcascade.strategies.trading_gate import parse_utc

LIQUIDATION_CLIENT = "BYBIT_LIQ"
CRASH_EVENTS = "events-crash.jsonl"
NS_PER_MS = 1_000_000


@dataclass
class RunResult:
    """A finished run: its records, where its files are, and how long it took."""

    spec: RunSpec
    records: RunRecords
    folder: Path
    view: ViewStats | None  # System A's execution view
    seconds: float
    node: Any = None  # the BacktestNode, kept until dispose() for the tearsheet

    @property
    def engine(self) -> Any:
        """The run's ``BacktestEngine`` (until :meth:`dispose`)."""
        return self.node.get_engine(self.node.configs[0].id) if self.node else None

    def dispose(self) -> None:
        """Release the engine."""
        if self.node is not None:
            self.node.dispose()
            self.node = None


def slug(text: str) -> str:
    """A file-system-safe name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"


def data_span(
    catalog: Path, symbols: tuple[str, ...], start: str | None, end: str | None
) -> tuple[int, int]:
    """First and last ``ts_init`` the run covers (config bounds, else the catalog's data)."""
    firsts, lasts = [], []
    for symbol in symbols:
        for directory in (TRADES.directory, LIQUIDATIONS.directory):
            folder = catalog / "data" / directory / instrument_id_for(symbol)
            for f in folder.glob("*.parquet") if folder.exists() else []:
                interval = interval_of(f)
                if interval:
                    firsts.append(interval[0])
                    lasts.append(interval[1])
    if not firsts:
        raise ValueError(
            f"catalog {catalog} has no trades or liquidations for {', '.join(symbols)}"
        )
    first = max(min(firsts), parse_utc(start)) if start else min(firsts)
    last = min(max(lasts), parse_utc(end)) if end else max(lasts)
    return first, last


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


def venue_config(spec: RunSpec, name: str = "BYBIT") -> Any:
    """The simulated venue ``name``: margin account, fills and fees from the run config.

    System B's venue is ``HEDGING``: each trade is its own position, so overlapping trades in
    one asset (the seed's) keep their own entry price and PnL.
    """
    from nautilus_trader.backtest.config import BacktestVenueConfig
    from nautilus_trader.backtest.config import ImportableFillModelConfig

    venue = spec.venue
    bars_only = spec.system == "crash_reversion"
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


#: The framework's own log, written beside a job's reports (``backtest --config ...``).
FRAMEWORK_LOG = "framework"


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


def _engine_config(strategies: list[Any], log_dir: Path | None = None) -> Any:
    from nautilus_trader.backtest.config import BacktestEngineConfig

    # Strategy exceptions fail the run either way (raise_exception).
    return BacktestEngineConfig(strategies=strategies, logging=logging_config(log_dir))


def _run_config(
    spec: RunSpec,
    data: list[Any],
    strategies: list[Any],
    venues: list[Any] | None = None,
    log_dir: Path | None = None,
) -> Any:
    from nautilus_trader.backtest.config import BacktestRunConfig

    return BacktestRunConfig(
        engine=_engine_config(strategies, log_dir),
        venues=venues or [venue_config(spec)],
        data=data,
        chunk_size=spec.chunk_size or None,
        raise_exception=True,
        dispose_on_completion=False,
    )


def data_configs(spec: RunSpec, view: Path) -> list[Any]:
    """
    System A's data: per symbol, the view's trades, the heartbeats (trades of the symbol's
    clock twin, :mod:`liqcascade.backtests.heartbeat`) and the liquidations.

    Liquidations are custom data: their ``BacktestDataConfig`` needs the ``client_id`` the
    strategy subscribes with (``liquidation_client_id``), or the framework refuses the config.
    """
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.model.data import TradeTick

    from liqcascade.backtests.heartbeat import clock_instrument_id
    from liqcascade.data_loaders.liquidation import LiquidationData

    data = []
    bounds = {"start_time": spec.start, "end_time": spec.end}
    for symbol in spec.symbols:
        instrument_id = instrument_id_for(symbol)
        for trades_of in (instrument_id, clock_instrument_id(instrument_id)):
            if (view / "data" / TRADES.directory / trades_of).exists():
                data.append(
                    BacktestDataConfig(
                        catalog_path=str(view),
                        data_cls=TradeTick,
                        instrument_id=trades_of,
                        **bounds,
                    )
                )
        data.append(
            BacktestDataConfig(
                catalog_path=str(view),
                data_cls=LiquidationData,
                instrument_id=instrument_id,
                client_id=LIQUIDATION_CLIENT,
                **bounds,
            )
        )
    return data


def strategy_configs(spec: RunSpec, event_log_dir: Path | None) -> list[Any]:
    """System A's strategies: one ``CascadeMarketMaker`` per symbol, from the strategy file."""
    from nautilus_trader.config import ImportableStrategyConfig

    strategies = []
    for index, symbol in enumerate(spec.symbols):
        params = {
            **spec.strategies[symbol],
            "instrument_id": instrument_id_for(symbol),
            "liquidation_client_id": LIQUIDATION_CLIENT,
            "order_id_tag": f"{index:03d}",  # one instance per symbol: ids must not collide
            "order_latency_ms": spec.venue.latency_ms,
            "event_log_path": (
                str(event_log_dir / f"events-{symbol}.jsonl") if event_log_dir else None
            ),
        }
        strategies.append(
            ImportableStrategyConfig(
                strategy_path="liqcascade.strategies.cascade_mm:CascadeMarketMaker",
                config_path="liqcascade.strategies.cascade_mm:CascadeMarketMakerConfig",
                config=params,
            )
        )
    return strategies


def build_run_config(spec: RunSpec, view: Path, folder: Path, log_dir: Path | None = None) -> Any:
    """System A's ``BacktestRunConfig``: trades from the execution view, liquidations, one
    CascadeMarketMaker per symbol (framework log in ``log_dir``; ``None``: bypassed)."""
    data = data_configs(spec, view)
    return _run_config(spec, data, strategy_configs(spec, folder), log_dir=log_dir)


def build_crash_run_config(spec: RunSpec, folder: Path, log_dir: Path | None = None) -> Any:
    """System B's ``BacktestRunConfig``: bars of every symbol, one CrashReversion instance."""
    from nautilus_trader.backtest.config import BacktestDataConfig
    from nautilus_trader.config import ImportableStrategyConfig

    params = {
        **spec.strategies["*"],
        "order_id_tag": "000",
        "event_log_path": str(folder / CRASH_EVENTS),
    }
    bar_types = [
        f"{i}-{params.get('bar_spec', '1-HOUR-LAST-EXTERNAL')}" for i in params["instrument_ids"]
    ]
    data = [
        BacktestDataConfig(
            catalog_path=str(spec.catalog),
            data_cls="nautilus_trader.model.data:Bar",
            bar_types=bar_types,
            start_time=spec.start,
            end_time=spec.end,
        )
    ]
    strategy = ImportableStrategyConfig(
        strategy_path="liqcascade.strategies.crash_reversion:CrashReversion",
        config_path="liqcascade.strategies.crash_reversion:CrashReversionConfig",
        config=params,
    )
    venues = [venue_config(spec, crash_venue(spec))]
    return _run_config(spec, data, [strategy], venues, log_dir)


def crash_venue(spec: RunSpec) -> str:
    """The one venue of System B's instruments (``BYBIT``, ``BINANCE``, ...)."""
    venues = sorted({i.rsplit(".", 1)[1] for i in spec.strategies["*"]["instrument_ids"]})
    if len(venues) != 1:
        # One account per venue would each start with run.starting_balance: refuse, not guess.
        raise ConfigError(
            f"run.symbols: System B trades one venue per run, got {', '.join(venues)}"
        )
    return venues[0]


def decision_events(folder: Path) -> list[dict[str, Any]]:
    """Every logged event of a run but the liquidations: cascades, orders, fills, exits, skips."""
    return [
        e for f in sorted(folder.glob("events-*.jsonl")) for e in read_events(f, ("liquidation",))
    ]


def records_from_events(
    spec: RunSpec, folder: Path, span: tuple[int, int], coverage: Coverage | None = None
) -> RunRecords:
    """Reduce the strategies' event logs to run records."""
    cascades, signals, trades = [], [], []
    for symbol in spec.symbols:
        path = folder / f"events-{symbol}.jsonl"
        # Liquidation lines are most of a long run's log and none of its records.
        events = read_events(path, skip=("liquidation",)) if path.exists() else []
        filled = {e["declared_ns"] for e in events if e["event"] == "entry_fill"}
        seen_signals = set()
        for e in events:
            kind = e["event"]
            if kind == "cascade_stats":
                cascades.append(
                    CascadeRecord(
                        symbol=symbol,
                        start_ns=e["start_ns"],
                        declared_ns=e["declared_ns"],
                        end_ns=e["end_ns"],
                        large_events=e["large_events"],
                        events=e["events"],
                        long_notional=e["long_notional"],
                        short_notional=e["short_notional"],
                        side=e["side"],
                    )
                )
            elif kind == "entry_submitted" and e["declared_ns"] not in seen_signals:
                seen_signals.add(e["declared_ns"])  # a re-priced entry is the same signal
                signals.append(
                    SignalRecord(
                        symbol=symbol,
                        declared_ns=e["declared_ns"],
                        submitted_ns=e["ts"],
                        side=e["side"],
                        price=e["price"],
                        filled=e["declared_ns"] in filled,
                    )
                )
            elif kind == "exit":
                trades.append(trade_from_exit_event(e))
    return RunRecords(
        name=spec.name,
        symbols=spec.symbols,
        start_ns=span[0],
        end_ns=span[1],
        starting_balance=spec.starting_balance,
        cascades=tuple(sorted(cascades, key=lambda c: c.declared_ns)),
        signals=tuple(sorted(signals, key=lambda s: s.declared_ns)),
        trades=tuple(sorted(trades, key=lambda t: t.exit_ns)),
        coverage=coverage,
    )


def view_prices(view: Path) -> Callable[[str, int, int], Any]:
    """``prices(symbol, start_ns, end_ns)`` from a view's prints (each symbol read once).

    Every trade lies inside the view's windows (the runner checks it), so the view holds every
    print a position was open through.
    """
    import pandas as pd

    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def read(symbol: str, start: int, end: int) -> pd.DataFrame:
        if symbol not in cache:
            folder = view / "data" / TRADES.directory / instrument_id_for(symbol)
            tables = [
                pq.read_table(f, columns=["ts_init", "price"])
                for f in sorted(folder.glob("*.parquet"))
            ]
            if tables:
                table = pa.concat_tables(tables)
                cache[symbol] = (
                    table["ts_init"].to_numpy().astype(np.int64),
                    fixed_to_float(table["price"]),
                )
            else:
                cache[symbol] = (np.array([], np.int64), np.array([], float))
        ts, price = cache[symbol]
        lo, hi = np.searchsorted(ts, [start, end], side="left")
        return pd.DataFrame({"ts_ns": ts[lo:hi], "price": price[lo:hi]})

    return read


def with_marks(records: RunRecords, prices: Callable[[str, int, int], Any]) -> RunRecords:
    """The records with their mark-to-market equity, portfolio and per symbol."""
    from dataclasses import replace

    from liqcascade.backtests.metrics import mtm_equity

    marks = {None: mtm_equity(records, prices)}
    marks |= {s: mtm_equity(records, prices, s) for s in records.symbols}
    return replace(records, mtm=marks)


def _run_node(config: Any) -> Any:
    from nautilus_trader.backtest.node import BacktestNode

    node = BacktestNode(configs=[config])
    node.run()
    return node


def run_spec(
    spec: RunSpec,
    folder: Path,
    echo: Callable[[str], None] = print,
    log_dir: Path | None = None,
) -> RunResult:
    """
    Run one spec; its event logs land in ``folder``, the framework's log in ``log_dir``.

    Raises
    ------
    MissingDataError
        System A: a symbol without instrument, liquidations or trades in the run's window
        (checked before the engine starts).

    """
    from liqcascade.backtests.data_checks import check_run_data

    started = time.perf_counter()
    if spec.prices:  # explicit cross-venue prices: a derived catalog, named in the report
        from dataclasses import replace

        from liqcascade.backtests.price_mapping import mapped_catalog

        try:
            derived = mapped_catalog(spec.catalog, list(spec.symbols), spec.prices)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        spec = replace(spec, catalog=derived)
    coverage = check_run_data(spec) if spec.system == "cascade_mm" else None
    if spec.framework_log == "off":
        log_dir = None
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events-*.jsonl"):
        old.unlink()  # a rerun into the same folder must not append to old logs
    view = None
    if spec.system == "crash_reversion":
        from liqcascade.backtests.crash_data import check_crash_data

        check_crash_data(spec)  # a symbol without bars fails here, not after the run
        node = _run_node(build_crash_run_config(spec, folder, log_dir))
    else:
        latency_ns = int(spec.venue.latency_ms * NS_PER_MS)
        # Speculative windows, then the proven ones, then every trade: each run is checked
        # (every trade ended inside its window), so a run that stands is the full run's twin.
        attempts = [(spec.strategies, True), (spec.strategies, False)] if spec.trade_windows else []
        start_ns = parse_utc(spec.start) if spec.start else None  # detectors start there
        for strategies, speculative in [*attempts, (None, False)]:
            view = build_execution_view(
                spec.catalog,
                list(spec.symbols),
                strategies,
                latency_ns,
                speculative=speculative,
                start_ns=start_ns,
            )
            node = _run_node(build_run_config(spec, view.path, folder, log_dir))
            problems = window_violations(view.path, folder, list(spec.symbols))
            if not problems or strategies is None:
                break
            echo(
                f"trade windows: {len(problems)} trade(s) outlived their window "
                f"(first: {problems[0]}); running again on "
                + ("the proven windows" if speculative else "every trade")
            )
            node.dispose()
            for log in folder.glob("events-*.jsonl"):
                log.unlink()
    if spec.system == "crash_reversion":
        records = crash_records(spec, folder)
    else:
        span = data_span(spec.catalog, spec.symbols, spec.start, spec.end)
        records = with_marks(
            records_from_events(spec, folder, span, coverage), view_prices(view.path)
        )
    return RunResult(spec, records, folder, view, time.perf_counter() - started, node)


def crash_closes(spec: RunSpec) -> Any:
    """Bar closes of System B's universe (the benchmark holds every symbol)."""
    from liqcascade.backtests.crash_report import closes_from_catalog

    params = spec.strategies["*"]
    bar_spec = params.get("bar_spec", "1-HOUR-LAST-EXTERNAL")
    return closes_from_catalog(
        spec.catalog, params["instrument_ids"], bar_spec, spec.start, spec.end
    )


def crash_records(spec: RunSpec, folder: Path) -> RunRecords:
    """System B's run records, from its event log and the bars."""
    from liqcascade.backtests.crash_report import build_records
    from liqcascade.backtests.crash_report import trades_from_events

    events = read_events(folder / CRASH_EVENTS) if (folder / CRASH_EVENTS).exists() else []
    return build_records(
        trades_from_events(events), crash_closes(spec), spec.starting_balance, spec.name
    )


def load_window(catalog: Path) -> Callable[[str, int, int], tuple[Any, Any]]:
    """A reader of (prices, liquidations) frames around a cascade, for the cascade charts."""
    import pandas as pd

    def read(symbol: str, start: int, end: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        instrument_id = instrument_id_for(symbol)
        prices, liquidations = [], []
        for directory, sink in ((TRADES.directory, prices), (LIQUIDATIONS.directory, liquidations)):
            folder = catalog / "data" / directory / instrument_id
            for f in sorted(folder.glob("*.parquet")) if folder.exists() else []:
                interval = interval_of(f)
                if interval and interval[1] >= start and interval[0] <= end:
                    sink.append(pq.read_table(f))
        price_frame = pd.DataFrame({"ts_ns": [], "price": []})
        if prices:
            table = pa.concat_tables(prices)
            ts = table["ts_init"].to_numpy().astype(np.int64)
            mask = (ts >= start) & (ts <= end)
            price_frame = pd.DataFrame(
                {"ts_ns": ts[mask], "price": fixed_to_float(table["price"])[mask]}
            )
        liq_frame = pd.DataFrame({"ts_ns": [], "price": [], "side": [], "notional": []})
        if liquidations:
            table = pa.concat_tables(liquidations).to_pandas()
            table = table[(table["ts_init"] >= start) & (table["ts_init"] <= end)]
            liq_frame = pd.DataFrame(
                {
                    "ts_ns": table["ts_init"].to_numpy(),
                    "price": table["price"].to_numpy(),
                    "side": table["side"].to_numpy(),
                    "notional": table["notional"].to_numpy(),
                }
            )
        return price_frame, liq_frame

    return read
