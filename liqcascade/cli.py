"""``liqcascade``: one command line for loading data, building the sample and running jobs.

Subcommands import their heavy modules lazily so ``liqcascade --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

#: Exit code of a node that could not trade (startup timeout, stopped trader, clock drift):
#: systemd's Restart=on-failure restarts it.
NODE_FAILED_EXIT = 3
CONFIG_HELP = "A config file, or the name of a shipped preset (e.g. backtest_sample)."


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
def main() -> None:
    """Liquidation-cascade strategies for NautilusTrader."""


MARKET_CHOICE = click.Choice(["bybit-linear", "binance-usdm", "binance-spot"])


@main.command()
@click.argument("source_format")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--catalog", required=True, type=click.Path(path_type=Path), help="Catalog root.")
@click.option("--symbol", help="Declared symbol: every row must match it.")
@click.option(
    "--feed-delay-ms",
    default=500,
    show_default=True,
    type=click.IntRange(min=0),
    help="Assumed event-to-receipt delay for liquidations without a receipt time.",
)
@click.option(
    "--trade-feed-delay-ms",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="Assumed match-to-receipt delay for trades without a receipt time (Bybit's archive).",
)
@click.option("--interval", help="Kline interval when the file name does not say (e.g. 1h).")
@click.option(
    "--mapping",
    type=click.Path(exists=True, path_type=Path),
    help="TOML/JSON column mapping for generic-liquidations (README: 'Column mapping').",
)
@click.option(
    "--market",
    type=MARKET_CHOICE,
    help="Where rows go when the file does not say (Binance klines outside the archive "
    "layout, generic tables, freqtrade files outside their exchange folder).",
)
@click.option(
    "--skip-unknown",
    is_flag=True,
    help="JSON lines of no known shape: skip and count them instead of failing.",
)
@click.option(
    "--instruments",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Specs file on top of the shipped ones (repeatable; the same symbol replaces).",
)
def load(
    source_format: str,
    files: tuple[Path, ...],
    catalog: Path,
    symbol: str | None,
    feed_delay_ms: int,
    trade_feed_delay_ms: int,
    interval: str | None,
    mapping: Path | None,
    market: str | None,
    skip_unknown: bool,
    instruments: tuple[Path, ...],
) -> None:
    """Load FILES of SOURCE_FORMAT into the catalog (all-or-nothing, idempotent).

    Formats: bybit-liquidations, bybit-trades, bybit-klines, tardis-liquidations,
    tardis-trades, binance-klines, binance-trades, binance-aggtrades, freqtrade-ohlcv,
    generic-liquidations. Every row lands in its own venue's instrument.
    """
    from liqcascade.data_loaders.load import SOURCES
    from liqcascade.data_loaders.load import LoadOptions

    if source_format not in SOURCES:
        _fail(f"unknown format {source_format!r}; choose from: {', '.join(sorted(SOURCES))}")
    table_mapping = None
    if mapping is not None:
        from liqcascade.data_loaders.generic import TableMapping

        try:
            table_mapping = TableMapping.from_dict(_read_config(mapping))
        except ValueError as e:
            _fail(f"{mapping}: {e}")
    options = LoadOptions(
        symbol=symbol.upper() if symbol else None,
        feed_delay_ns=feed_delay_ms * 1_000_000,
        trade_feed_delay_ns=trade_feed_delay_ms * 1_000_000,
        interval=interval,
        mapping=table_mapping,
        market=market,
        skip_unknown=skip_unknown,
    )
    _load_and_report(source_format, list(files), catalog, options, instruments)


def _load_and_report(
    source_format: str,
    files: list[Path],
    catalog: Path,
    options: object,
    instruments: tuple[Path, ...],
) -> None:
    """Load, print what changed and every note; exit 2 with the reason on any failure."""
    from liqcascade.data_loaders.errors import MalformedInputError
    from liqcascade.data_loaders.load import load_files

    try:
        summary = load_files(source_format, files, catalog, options, instruments, progress=True)
    except (MalformedInputError, ValueError) as e:
        _fail(f"{e} (catalog unchanged)")
    for note in summary.notes:
        click.echo(f"note: {note}")
    for (directory, identifier), rows in sorted(summary.rows.items()):
        click.echo(f"{directory:<24} {identifier:<40} {rows:>12,} rows in the days loaded")
    empty = [Path(f).name for f, n in summary.rows_per_file.items() if n == 0]
    if empty:
        click.echo(f"{len(empty)} file(s) held no rows: {', '.join(empty[:5])}")
    click.echo(
        f"files written {summary.files_written}, unchanged {summary.files_unchanged}, "
        f"replaced {summary.files_removed}"
    )


@main.command()
@click.argument("source", type=click.Choice(["bybit-trades", "binance", "tardis"]))
@click.option("--symbols", required=True, help="Comma-separated venue symbols, e.g. ETHUSDT.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First UTC day.")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last UTC day.")
@click.option("--out", default=Path("data/raw"), show_default=True, type=click.Path(path_type=Path))
@click.option("--market", type=MARKET_CHOICE, help="binance: binance-usdm or binance-spot.")
@click.option("--data-type", help="binance: klines|trades|aggTrades; tardis: liquidations|trades.")
@click.option("--interval", help="binance klines: 1m, 1h, ...")
@click.option(
    "--period",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "daily", "monthly"]),
    help="binance: monthly zips for whole past months (auto), or one kind only.",
)
@click.option("--exchange", help="tardis: bybit, binance-futures or binance.")
@click.option("--base-url", help="Another server with the source's URL layout (mirrors, tests).")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--load", "load_after", is_flag=True, help="Load what arrived into --catalog.")
@click.option("--catalog", type=click.Path(path_type=Path), help="Catalog root (with --load).")
@click.option(
    "--instruments",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Specs file on top of the shipped ones (with --load; repeatable).",
)
def download(
    source: str,
    symbols: str,
    start: object,
    end: object,
    out: Path,
    market: str | None,
    data_type: str | None,
    interval: str | None,
    period: str,
    exchange: str | None,
    base_url: str | None,
    retries: int,
    load_after: bool,
    catalog: Path | None,
    instruments: tuple[Path, ...],
) -> None:
    """Fetch public data for SOURCE over [--start, --end]: resumable, verified, summarised.

    \b
    bybit-trades  public.bybit.com trade archive (no key)
    binance       data.binance.vision klines/trades/aggTrades, USD-M or spot (SHA-256 checked)
    tardis        datasets.tardis.dev liquidations/trades; the 1st of each month is free, other
                  days need TARDIS_API_KEY in the environment

    Files already complete under --out are not fetched again. Exit 1 if a file failed or
    nothing is available; 2 if loading fails.
    """
    from liqcascade.data_loaders.download import DownloadRequest
    from liqcascade.data_loaders.download import download as run_download
    from liqcascade.data_loaders.download import load_downloaded
    from liqcascade.data_loaders.errors import MalformedInputError
    from liqcascade.data_loaders.fetch import RetryPolicy

    if load_after and catalog is None:
        _fail("--load needs --catalog DIR")
    if catalog is not None and not load_after:
        _fail("--catalog is used only with --load")
    try:
        request = DownloadRequest(
            source=source,
            symbols=tuple(s.strip().upper() for s in symbols.split(",") if s.strip()),
            start=start.date(),  # type: ignore[attr-defined]
            end=end.date(),  # type: ignore[attr-defined]
            out=out,
            base_url=base_url,
            market=market,
            data_type=data_type,
            interval=interval,
            period=period,
            exchange=exchange,
        )
        report = run_download(request, RetryPolicy(attempts=retries))
    except ValueError as e:
        _fail(str(e))
    click.echo(report.format())
    if report.failed:
        click.echo("error: some files did not arrive (see above); rerun to resume", err=True)
    if load_after and report.complete_files:
        assert catalog is not None
        try:
            summary = load_downloaded(report, catalog, instruments)
        except (MalformedInputError, ValueError) as e:
            _fail(f"{e} (catalog unchanged)")
        for note in summary.notes:
            click.echo(f"note: {note}")
        for (directory, identifier), rows in sorted(summary.rows.items()):
            click.echo(f"{directory:<24} {identifier:<40} {rows:>12,} rows in the days loaded")
    if report.failed:
        sys.exit(1)


def _read_config(path: Path) -> dict:
    import json
    import tomllib

    text = path.read_text()
    return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)


@main.command()
@click.option("--out", default=Path("data/sample"), type=click.Path(path_type=Path))
@click.option("--catalog", default=Path("data/catalog"), type=click.Path(path_type=Path))
@click.option("--days", default=None, type=click.IntRange(min=1), help="Trade-level days.")
@click.option("--seed", default=None, type=int)
@click.option(
    "--reversion-probability",
    default=None,
    type=click.FloatRange(0, 1),
    help="Probability that a liquidation cluster's impact partially reverts (0 kills the edge).",
)
@click.option("--force", is_flag=True, help="Regenerate and reload even if up to date.")
def sample(
    out: Path,
    catalog: Path,
    days: int | None,
    seed: int | None,
    reversion_probability: float | None,
    force: bool,
) -> None:
    """Generate the deterministic sample market in raw wire formats and load it."""
    from liqcascade.data_loaders.sample_catalog import build_sample_catalog

    overrides = {
        k: v
        for k, v in {
            "days": days,
            "seed": seed,
            "reversion_probability": reversion_probability,
        }.items()
        if v is not None
    }
    build_sample_catalog(out, catalog, overrides, force=force, echo=click.echo)


@main.command()
@click.option("--catalog", default=Path("data/catalog"), type=click.Path(path_type=Path))
def summary(catalog: Path) -> None:
    """Print what the catalog holds: instruments, days, trades, liquidations, bars."""
    from liqcascade.data_loaders.summary import format_summary

    if not (catalog / "data").exists():
        _fail(f"no catalog at {catalog}")
    click.echo(format_summary(catalog))


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--catalog", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--symbols", help="Comma-separated; default every symbol with liquidations.")
@click.option("--start", help="First instant (UTC), e.g. 2025-03-01; default the data's first.")
@click.option("--end", help="Last instant (UTC), e.g. 2025-03-31; default the data's last.")
@click.option("--market", type=MARKET_CHOICE, default="bybit-linear", show_default=True)
@click.option(
    "--config",
    default="backtest_sample",
    show_default=True,
    help="Run config whose strategy file sets the detector (" + CONFIG_HELP + ")",
)
@click.option("--out", type=click.Path(path_type=Path), help="Default output/cascades-<time>/.")
@click.argument("overrides", nargs=-1)
def cascades(
    catalog: Path,
    symbols: str | None,
    start: str | None,
    end: str | None,
    market: str,
    config: str,
    out: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Cascade statistics from liquidations alone, with the strategy's own detector.

    Cascades per day with data, coverage and gaps, duration, liquidations and notional per
    cascade, dominant side, hour-of-day and weekday profiles, the threshold's path: a table,
    CSV files and cascades.html. OVERRIDES are key=value on the config (strategy.defaults...).
    """
    from datetime import UTC
    from datetime import datetime

    from liqcascade.backtests.cascade_stats import cascade_statistics
    from liqcascade.backtests.cascade_stats import detector_params_from_config
    from liqcascade.backtests.cascade_stats import symbols_with_liquidations
    from liqcascade.backtests.cascade_stats import write_outputs
    from liqcascade.backtests.run_config import ConfigError
    from liqcascade.data_loaders.instruments import instrument_id_for
    from liqcascade.strategies.trading_gate import parse_utc

    chosen = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None
    chosen = chosen or symbols_with_liquidations(catalog, market)
    if not chosen:
        _fail(f"no {market} liquidations in {catalog} (see `liqcascade summary --catalog`)")
    try:
        bounds = [parse_utc(t) if t else None for t in (start, end)]
    except ValueError as e:
        _fail(f"--start/--end: {e}")
    try:
        params = detector_params_from_config(config, chosen, overrides)
        results, coverage = cascade_statistics(
            catalog, {s: instrument_id_for(s, market) for s in chosen}, params, *bounds
        )
    except ConfigError as e:
        _fail(f"{config}: {e}")
    except ValueError as e:
        _fail(str(e))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out or Path("output") / f"cascades-{stamp}"
    title = f"Cascades in {catalog} ({market}, detector from {config})"
    click.echo(write_outputs(results, coverage, folder, title))
    click.echo(f"\nfiles in {folder}")
    if not any(r.cascades for r in results):
        _fail("no cascade detected: check the threshold (warm_threshold) and the data", 1)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.option("--scenarios/--no-scenarios", default=True, help="Also run the [[scenario]] runs.")
@click.option("--charts/--no-charts", default=True, help="Charts of the largest cascades.")
@click.argument("overrides", nargs=-1)
def backtest(config: str, scenarios: bool, charts: bool, overrides: tuple[str, ...]) -> None:
    """Run a backtest config; OVERRIDES are key=value (e.g. venue.fills=optimistic)."""
    from liqcascade.backtests.data_checks import MissingDataError
    from liqcascade.backtests.job import run_job
    from liqcascade.backtests.run_config import ConfigError

    try:
        run_job(config, overrides, scenarios=scenarios, charts=charts, echo=click.echo)
    except ConfigError as e:
        _fail(f"{config}: {e}")
    except MissingDataError as e:
        _fail(str(e))


RESEARCH_EXTRA = "pip install 'nautilus-liquidation-cascades[research]'"


def _research_options(command):
    """Options shared by ``sweep`` and ``walk-forward``."""
    for option in reversed(
        [
            click.option("--config", "config", required=True, help=CONFIG_HELP),
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                default=None,
                help="CPUs of the local Ray instance (default: every core).",
            ),
            click.option(
                "--address",
                default=None,
                help="A Ray cluster's address instead of a local instance (every node needs "
                "this package and the catalog and output folders at the same paths).",
            ),
            click.option(
                "--out",
                type=click.Path(path_type=Path),
                default=None,
                help="Results folder (default: <run.output>/sweeps/<name>-<fingerprint>, "
                "which the same command finds again to resume).",
            ),
            click.option("--charts/--no-charts", default=True, help="HTML charts."),
            click.option("--progress/--no-progress", default=True, help="Progress bar."),
            click.argument("overrides", nargs=-1),
        ]
    ):
        command = option(command)
    return command


def _research(run) -> None:
    """Run a research command: config errors, a missing extra and Ctrl-C end it plainly."""
    from liqcascade.backtests.run_config import ConfigError

    try:
        import optuna  # noqa: F401
        import ray  # noqa: F401
    except ImportError as e:
        _fail(f"{e.name} is not installed: sweeps need the research extra ({RESEARCH_EXTRA})")
    from liqcascade.backtests.sweep import SweepInterruptedError

    try:
        run()
    except ConfigError as e:
        _fail(str(e))
    except SweepInterruptedError as e:
        _fail(str(e), code=130)
    except KeyboardInterrupt:  # before any setting ran (views, Ray start)
        _fail("interrupted before any setting finished; the same command starts again", 130)


@main.command(context_settings={"ignore_unknown_options": True})
@_research_options
def sweep(
    config: str,
    workers: int | None,
    address: str | None,
    out: Path | None,
    charts: bool,
    progress: bool,
    overrides: tuple[str, ...],
) -> None:
    """Run the [sweep] of a run config: every setting a full backtest, as Ray tasks.

    Results are saved as each setting finishes; the same command resumes after a crash or
    Ctrl-C and never runs a setting twice. OVERRIDES are key=value, applied to every setting.
    """
    from liqcascade.backtests.sweep import run_sweep

    _research(
        lambda: run_sweep(
            config, overrides, workers, address, out, progress, charts, echo=click.echo
        )
    )


@main.command("walk-forward", context_settings={"ignore_unknown_options": True})
@_research_options
def walk_forward(
    config: str,
    workers: int | None,
    address: str | None,
    out: Path | None,
    charts: bool,
    progress: bool,
    overrides: tuple[str, ...],
) -> None:
    """Walk-forward: the [sweep] on each train fold, its best setting on the next test fold.

    Folds from the [walk_forward] table (train_days, test_days, rolling or anchored). Reports
    in-sample vs out-of-sample per fold and overall, the stitched out-of-sample equity, the
    parameter path and the degradation. Resumable like `sweep`.
    """
    from liqcascade.backtests.walk_forward import run_walk_forward

    _research(
        lambda: run_walk_forward(
            config, overrides, workers, address, out, progress, charts, echo=click.echo
        )
    )


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.argument("overrides", nargs=-1)
def paper(config: str, overrides: tuple[str, ...]) -> None:
    """Paper-trade on live Bybit data with simulated execution (no API keys). Ctrl-C stops.

    The same strategy files as the backtests (configs/cascade_mm.toml); OVERRIDES are key=value.
    """
    from liqcascade.backtests.run_config import ConfigError
    from liqcascade.live.node import paper_command
    from liqcascade.live.supervision import NodeFailedError

    try:
        paper_command(config, overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")
    except NodeFailedError as e:
        _fail(f"node failed: {e}", code=NODE_FAILED_EXIT)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.option("--env", type=click.Choice(["demo", "mainnet"]), required=True)
@click.option(
    "--confirm-mainnet",
    is_flag=True,
    help="Required with --env mainnet: real money.",
)
@click.argument("overrides", nargs=-1)
def live(config: str, env: str, confirm_mainnet: bool, overrides: tuple[str, ...]) -> None:
    """Trade on Bybit (demo or mainnet). Keys come only from the environment:
    BYBIT_DEMO_API_KEY/_SECRET or BYBIT_API_KEY/_SECRET. Ctrl-C cancels working entries;
    open positions keep their reduce-only TP/SL at the venue and are adopted on restart.
    """
    from liqcascade.backtests.run_config import ConfigError
    from liqcascade.live.node import live_command
    from liqcascade.live.supervision import NodeFailedError

    try:
        live_command(config, env, confirm_mainnet, overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")
    except NodeFailedError as e:
        _fail(f"node failed: {e}", code=NODE_FAILED_EXIT)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.option("--env", type=click.Choice(["demo", "mainnet"]), help="Live nodes only.")
@click.argument("overrides", nargs=-1)
def flatten(config: str, env: str | None, overrides: tuple[str, ...]) -> None:
    """Kill switch: halt new entries (persisted), cancel every order, close every position.

    The halt survives restarts until `liqcascade resume`. Exits 0 once the account is flat,
    non-zero if something is still open.
    """
    from liqcascade.backtests.run_config import ConfigError
    from liqcascade.live.node import flatten_command
    from liqcascade.live.supervision import NodeFailedError

    try:
        flatten_command(config, env, overrides=overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")
    except NodeFailedError as e:
        _fail(f"flatten failed: {e}", code=NODE_FAILED_EXIT)
    click.echo("flat; new entries halted until `liqcascade resume`")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.option("--env", type=click.Choice(["demo", "mainnet"]), help="Live nodes only.")
@click.argument("overrides", nargs=-1)
def resume(config: str, env: str | None, overrides: tuple[str, ...]) -> None:
    """Lift the halt set by `liqcascade flatten`: new entries are allowed again."""
    from liqcascade.backtests.run_config import ConfigError
    from liqcascade.live.node import resume_command

    try:
        lifted = resume_command(config, env, overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")
    click.echo("halt lifted" if lifted else "no halt was set")


@main.command()
@click.option("--symbols", required=True, help="Comma-separated, e.g. ETHUSDT,SOLUSDT.")
@click.option("--catalog", required=True, type=click.Path(path_type=Path))
@click.option("--raw-dir", type=click.Path(path_type=Path), help="Also keep raw JSON lines.")
@click.option("--flush-interval", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--status-interval", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--url", default="wss://stream.bybit.com/v5/public/linear", show_default=True)
@click.option("--stop-after", type=click.FloatRange(min=1), help="Stop after N seconds.")
@click.option(
    "--heartbeat-topic",
    metavar="TOPIC",
    help="An always-busy topic on the same connection, never recorded, that proves pushes "
    'still flow ({symbol} = the first symbol). Default tickers.{symbol}; "none" turns stall '
    "detection off.",
)
@click.option(
    "--stall-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="No push of any topic for this many seconds replaces the connection, although pongs "
    "still arrive. Default 5.",
)
def record(
    symbols: str,
    catalog: Path,
    raw_dir: Path | None,
    flush_interval: float,
    status_interval: float,
    url: str,
    stop_after: float | None,
    heartbeat_topic: str | None,
    stall_timeout: float | None,
) -> None:
    """Record liquidations and trades from Bybit's public stream into the catalog.

    Crash-safe: data is flushed every --flush-interval seconds; a restart appends without
    duplicates. Ctrl-C flushes and stops.
    """
    from liqcascade.live.recorder import record_command

    record_command(
        symbols,
        catalog,
        raw_dir,
        flush_interval,
        url,
        status_interval,
        stop_after,
        heartbeat_topic=heartbeat_topic,
        stall_timeout=stall_timeout,
    )


@main.command()
@click.option("--log", "log", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checklist(log: Path, as_json: bool) -> None:
    """The guide's paper-trading checklist from a session's event log (file or folder)."""
    from liqcascade.live.checklist import checklist_command

    sys.exit(checklist_command(log, as_json=as_json))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite config files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Write an editable copy of the shipped configs into DIRECTORY/configs/.

    Also creates DIRECTORY/data/ and DIRECTORY/output/, where the copied configs point (paths
    in a config file resolve against the file). Existing files are kept unless --force.
    """
    from liqcascade.user_folder import init_user_folder

    written, kept = init_user_folder(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    for path in kept:
        click.echo(f"kept  {path} (exists; --force overwrites)")
    click.echo(
        f"\nnext: liqcascade sample --out {directory / 'data' / 'sample'} "
        f"--catalog {directory / 'data' / 'catalog'}\n"
        f"      liqcascade backtest --config {directory / 'configs' / 'backtest_sample.toml'}"
    )


@main.group()
def instruments() -> None:
    """Instrument definitions (shipped: liqcascade/configs/instruments.toml)."""


@instruments.command("refresh")
@click.option("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT,DOGEUSDT,XRPUSDT", show_default=True)
@click.option(
    "--out",
    default=Path("configs/instruments.toml"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where to write (your folder from `liqcascade init`; never the installed package).",
)
def instruments_refresh(symbols: str, out: Path) -> None:
    """Refresh specs from Bybit's public instruments endpoint (needs network).

    Pass the file to `load --instruments` and to a node config's `instruments` key.
    """
    from liqcascade.data_loaders.instruments import refresh_specs

    try:
        specs = refresh_specs([s.strip().upper() for s in symbols.split(",") if s.strip()], out)
    except Exception as e:  # network, venue or adapter failure: say so plainly, change nothing
        _fail(f"refresh failed, {out} unchanged: {e}")
    click.echo(f"wrote {len(specs)} instruments to {out}")


@instruments.command("import")
@click.argument("response", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--market",
    required=True,
    type=click.Choice(["bybit-linear", "binance-usdm", "binance-spot"]),
    help="Which endpoint the JSON came from.",
)
@click.option("--symbols", help="Comma-separated; default every trading instrument in it.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def instruments_import(response: Path, market: str, symbols: str | None, out: Path) -> None:
    """Write a specs file from a venue's instruments endpoint saved as JSON (no network).

    Save, in a browser on any machine: Bybit
    https://api.bybit.com/v5/market/instruments-info?category=linear&limit=1000, Binance USD-M
    https://fapi.binance.com/fapi/v1/exchangeInfo, Binance spot
    https://api.binance.com/api/v3/exchangeInfo. Then pass OUT with --instruments.
    """
    import json
    from datetime import UTC
    from datetime import datetime

    from liqcascade.data_loaders.instruments import specs_from_exchange_json
    from liqcascade.data_loaders.instruments import specs_to_toml

    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    try:
        specs = specs_from_exchange_json(json.loads(response.read_text()), market, wanted)
    except (ValueError, json.JSONDecodeError) as e:
        _fail(f"{response}: {e} ({out} not written)")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"{market} instruments imported from {response.name} (a saved response of the venue's\n"
        f"public instruments endpoint) on {stamp} by `liqcascade instruments import`.\n"
        "Fees are the venue's base tier (the endpoint carries none); Binance perpetuals get\n"
        "max_leverage 20 (exchangeInfo carries no leverage). Edit to your account's values."
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(specs_to_toml(specs, header))
    click.echo(f"wrote {len(specs)} instruments to {out}; pass it with --instruments {out}")


if __name__ == "__main__":
    main()
