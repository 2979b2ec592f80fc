"""``liqcascade``: one command line for loading data, building the sample and running jobs.

Subcommands import their heavy modules lazily so ``liqcascade --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from liqcascade.data_loaders.instruments import DEFAULT_SPECS_PATH

CONFIG_HELP = "A config file, or the name of a shipped preset (e.g. backtest_sample)."


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
def main() -> None:
    """Liquidation-cascade strategies for NautilusTrader."""


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
    help="TOML/JSON column mapping for generic-liquidations.",
)
@click.option(
    "--instruments",
    default=DEFAULT_SPECS_PATH,
    show_default=True,
    type=click.Path(exists=True, path_type=Path),
    help="Instrument specs file.",
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
    instruments: Path,
) -> None:
    """Load FILES of SOURCE_FORMAT into the catalog (all-or-nothing, idempotent).

    Formats: bybit-liquidations, bybit-trades, bybit-klines, tardis-liquidations,
    tardis-trades, binance-klines, generic-liquidations.
    """
    from liqcascade.data_loaders.errors import MalformedInputError
    from liqcascade.data_loaders.load import SOURCES
    from liqcascade.data_loaders.load import LoadOptions
    from liqcascade.data_loaders.load import load_files

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
    )
    try:
        summary = load_files(source_format, files, catalog, options, instruments, progress=True)
    except MalformedInputError as e:
        _fail(f"{e} (catalog unchanged)")
    except ValueError as e:
        _fail(f"{e} (catalog unchanged)")
    for (directory, identifier), rows in sorted(summary.rows.items()):
        click.echo(f"{directory:<24} {identifier:<40} {rows:>12,} rows in the days loaded")
    click.echo(
        f"files written {summary.files_written}, unchanged {summary.files_unchanged}, "
        f"replaced {summary.files_removed}"
    )


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
@click.option("--config", "config", required=True, help=CONFIG_HELP)
@click.option("--scenarios/--no-scenarios", default=True, help="Also run the [[scenario]] runs.")
@click.option("--charts/--no-charts", default=True, help="Charts of the largest cascades.")
@click.argument("overrides", nargs=-1)
def backtest(config: str, scenarios: bool, charts: bool, overrides: tuple[str, ...]) -> None:
    """Run a backtest config; OVERRIDES are key=value (e.g. venue.fills=optimistic)."""
    from liqcascade.backtests.job import run_job
    from liqcascade.backtests.run_config import ConfigError

    try:
        run_job(config, overrides, scenarios=scenarios, charts=charts, echo=click.echo)
    except ConfigError as e:
        _fail(f"{config}: {e}")


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

    try:
        paper_command(config, overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")


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

    try:
        live_command(config, env, confirm_mainnet, overrides)
    except ConfigError as e:
        _fail(f"{config}: {e}")


@main.command()
@click.option("--symbols", required=True, help="Comma-separated, e.g. ETHUSDT,SOLUSDT.")
@click.option("--catalog", required=True, type=click.Path(path_type=Path))
@click.option("--raw-dir", type=click.Path(path_type=Path), help="Also keep raw JSON lines.")
@click.option("--flush-interval", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--status-interval", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--url", default="wss://stream.bybit.com/v5/public/linear", show_default=True)
@click.option("--stop-after", type=click.FloatRange(min=1), help="Stop after N seconds.")
def record(
    symbols: str,
    catalog: Path,
    raw_dir: Path | None,
    flush_interval: float,
    status_interval: float,
    url: str,
    stop_after: float | None,
) -> None:
    """Record liquidations and trades from Bybit's public stream into the catalog.

    Crash-safe: data is flushed every --flush-interval seconds; a restart appends without
    duplicates. Ctrl-C flushes and stops.
    """
    from liqcascade.live.recorder import record_command

    record_command(symbols, catalog, raw_dir, flush_interval, url, status_interval, stop_after)


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


if __name__ == "__main__":
    main()
