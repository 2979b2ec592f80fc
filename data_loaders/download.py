"""``liqcascade download``: fetch public data for a date range, report what arrived, load it.

Sources (one module each): Bybit's trade archive (:mod:`~liqcascade.data_loaders.bybit_archive`),
Binance's data archive (:mod:`~liqcascade.data_loaders.binance_vision`) and tardis.dev datasets
(:mod:`~liqcascade.data_loaders.tardis_datasets`). Every file goes through
:func:`~liqcascade.data_loaders.fetch.fetch` (resumable, retried with backoff, verified); the
report lists what was fetched, already present, missing at the source, waiting for an API key, and
failed. ``load=True`` then loads every complete file into the catalog with its format's loader
(all-or-nothing, idempotent), each row into its own venue's instruments.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from pathlib import Path

from tqdm import tqdm

from liqcascade.data_loaders.fetch import Outcome
from liqcascade.data_loaders.fetch import RemoteFile
from liqcascade.data_loaders.fetch import Result
from liqcascade.data_loaders.fetch import RetryPolicy
from liqcascade.data_loaders.fetch import fetch

SOURCES = ("bybit-trades", "binance", "tardis")


@dataclass(frozen=True)
class DownloadRequest:
    """What to fetch: one source, symbols and an inclusive UTC date range."""

    source: str
    symbols: tuple[str, ...]
    start: date
    end: date
    out: Path
    base_url: str | None = None
    market: str | None = None  # binance
    data_type: str | None = None  # binance, tardis
    interval: str | None = None  # binance klines
    period: str = "auto"  # binance
    exchange: str | None = None  # tardis

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r} (sources: {', '.join(SOURCES)})")
        if self.end < self.start:
            raise ValueError(f"--end {self.end} is before --start {self.start}")
        if not self.symbols:
            raise ValueError("--symbols names no symbol")
        allowed = {
            "bybit-trades": set(),
            "binance": {"market", "data_type", "interval", "period"},
            "tardis": {"exchange", "data_type"},
        }[self.source]
        flags = {"market": "--market", "data_type": "--data-type", "interval": "--interval"}
        flags |= {"exchange": "--exchange"}
        for name, flag in flags.items():
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"{flag} does not apply to {self.source}")
        if self.period != "auto" and "period" not in allowed:
            raise ValueError(f"--period does not apply to {self.source}")
        for name in ("market", "exchange", "data_type"):
            if name in allowed and getattr(self, name) is None:
                raise ValueError(f"{self.source} needs {flags[name]}")

    @property
    def days(self) -> list[date]:
        """Every UTC day of the range."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass
class DownloadReport:
    """Per file what happened, and which loader format and market each file belongs to."""

    request: DownloadRequest
    load_format: str
    market: str | None
    results: list[Result] = field(default_factory=list)
    needs_key: list[str] = field(default_factory=list)  # not requested: no API key

    def of(self, outcome: Outcome) -> list[Result]:
        return [r for r in self.results if r.outcome is outcome]

    @property
    def complete_files(self) -> list[Path]:
        """Files on disk and whole (fetched now or before), in request order."""
        return [
            r.file.target for r in self.results if r.outcome in (Outcome.FETCHED, Outcome.PRESENT)
        ]

    @property
    def failed(self) -> bool:
        """Some file could not be fetched, or nothing at all is available."""
        return bool(self.of(Outcome.FAILED)) or not self.complete_files

    def format(self) -> str:
        """The summary a person reads: counts, then every file that did not arrive and why."""
        lines = [f"download {self.request.source}: {len(self.results) + len(self.needs_key)} files"]
        for outcome in Outcome:
            results = self.of(outcome)
            count = len(results) + (len(self.needs_key) if outcome is Outcome.UNAUTHORIZED else 0)
            lines.append(f"  {outcome.value:<22} {count:>6}")
        for outcome in (Outcome.MISSING, Outcome.UNAUTHORIZED, Outcome.FAILED):
            for r in self.of(outcome):
                lines.append(f"  {outcome.value}: {r.file.label} ({r.detail})")
        if self.needs_key:
            lines.append(
                f"  {len(self.needs_key)} day(s) not requested: only the first day of each month "
                f"is free; set TARDIS_API_KEY for the rest (first: {self.needs_key[0]})"
            )
        return "\n".join(lines)


def plan(request: DownloadRequest, api_key: str | None = None) -> DownloadReport:
    """The files of a request (nothing fetched yet) in a report to fill."""
    from liqcascade.data_loaders import binance_vision
    from liqcascade.data_loaders import bybit_archive
    from liqcascade.data_loaders import tardis_datasets

    needs_key: list[str] = []
    if request.source == "bybit-trades":
        files = bybit_archive.remote_files(
            request.symbols, request.days, request.out, request.base_url or bybit_archive.BASE_URL
        )
        load_format, market = bybit_archive.LOAD_FORMAT, bybit_archive.MARKET
    elif request.source == "binance":
        assert request.market is not None and request.data_type is not None
        files = binance_vision.remote_files(
            request.symbols,
            request.start,
            request.end,
            request.out,
            request.market,
            request.data_type,
            request.interval,
            request.period,
            request.base_url or binance_vision.BASE_URL,
        )
        load_format, market = binance_vision.DATA_TYPES[request.data_type], request.market
    else:
        assert request.exchange is not None and request.data_type is not None
        files, needs_key = tardis_datasets.remote_files(
            request.exchange,
            request.data_type,
            request.symbols,
            request.days,
            request.out,
            api_key,
            request.base_url or tardis_datasets.BASE_URL,
        )
        load_format, market = tardis_datasets.DATA_TYPES[request.data_type], None
    report = DownloadReport(request, load_format, market, needs_key=needs_key)
    report.results = [Result(f, Outcome.MISSING, "not fetched yet") for f in files]
    return report


def download(
    request: DownloadRequest,
    retry: RetryPolicy | None = None,
    progress: bool = True,
    api_key: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> DownloadReport:
    """
    Fetch every file of ``request`` that is not complete on disk yet.

    Parameters
    ----------
    api_key : str, optional
        tardis key; default ``TARDIS_API_KEY`` from the environment.

    """
    import requests

    from liqcascade.data_loaders.tardis_datasets import API_KEY_ENV

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    report = plan(request, key if request.source == "tardis" else None)
    files: list[RemoteFile] = [r.file for r in report.results]
    results: list[Result] = []
    extra = {"sleep": sleep} if sleep is not None else {}
    with requests.Session() as session:
        bar = tqdm(files, desc=f"download {request.source}", unit="file", disable=not progress)
        for file in bar:
            with tqdm(
                desc=file.target.name, unit="B", unit_scale=True, leave=False, disable=not progress
            ) as bytes_bar:

                def on_bytes(done: int, total: int | None, bytes_bar: tqdm = bytes_bar) -> None:
                    bytes_bar.total = total
                    bytes_bar.n = done
                    bytes_bar.refresh()

                policy = retry or RetryPolicy()
                results.append(fetch(session, file, policy, on_bytes=on_bytes, **extra))
    report.results = results
    return report


def load_downloaded(
    report: DownloadReport,
    catalog: Path,
    instruments: Sequence[Path] = (),
    progress: bool = True,
) -> object:
    """
    Load every complete file of a download into ``catalog`` (all-or-nothing).

    Returns
    -------
    LoadSummary

    Raises
    ------
    MalformedInputError, NoRowsError, ValueError
        As :func:`liqcascade.data_loaders.load.load_files`.

    """
    from liqcascade.data_loaders.load import LoadOptions
    from liqcascade.data_loaders.load import NoRowsError
    from liqcascade.data_loaders.load import load_files

    files = report.complete_files
    if not files:
        raise NoRowsError(f"nothing to load: no {report.request.source} file arrived")
    options = LoadOptions(market=report.market)
    return load_files(report.load_format, files, catalog, options, instruments, progress)
