"""``liqcascade download`` against a local server in each source's real URL layout."""

from __future__ import annotations

import gzip
import hashlib
import random
import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqcascade.cli import main
from liqcascade.data_loaders.binance_vision import periods
from liqcascade.data_loaders.download import DownloadRequest
from liqcascade.data_loaders.download import download
from liqcascade.data_loaders.fetch import Outcome
from liqcascade.data_loaders.fetch import RetryPolicy
from tests.data_loaders.file_server import FileServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FAST = RetryPolicy(attempts=3, base_s=0.001, max_s=0.01)


def _bybit_archive(root: Path) -> Path:
    """public.bybit.com layout: trading/<SYMBOL>/<SYMBOL><date>.csv.gz (2025-03-04 missing)."""
    folder = root / "trading" / "ETHUSDT"
    folder.mkdir(parents=True)
    body = (FIXTURES / "ETHUSDT2025-03-03.csv").read_bytes()
    (folder / "ETHUSDT2025-03-03.csv.gz").write_bytes(gzip.compress(body * 1))
    return root


def _binance_archive(root: Path, good_checksum: bool = True) -> Path:
    """data.binance.vision layout: a daily USD-M trades zip with its .CHECKSUM."""
    folder = root / "data" / "futures" / "um" / "daily" / "trades" / "ETHUSDT"
    folder.mkdir(parents=True)
    name = "ETHUSDT-trades-2025-03-03.zip"
    with zipfile.ZipFile(folder / name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "binance" / "ETHUSDT-trades-2025-03-03.csv", name[:-4] + ".csv")
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    if not good_checksum:
        digest = "0" * 64
    (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")
    return root


def _request(source: str, out: Path, base_url: str, **kwargs: object) -> DownloadRequest:
    defaults: dict[str, object] = {
        "symbols": ("ETHUSDT",),
        "start": date(2025, 3, 3),
        "end": date(2025, 3, 4),
    }
    return DownloadRequest(source=source, out=out, base_url=base_url, **{**defaults, **kwargs})


def test_bybit_archive_fetches_reports_missing_and_skips_complete_files(tmp_path: Path) -> None:
    with FileServer(_bybit_archive(tmp_path / "srv")) as server:
        request = _request("bybit-trades", tmp_path / "raw", server.url)
        report = download(request, FAST, progress=False)
        assert [r.outcome for r in report.results] == [Outcome.FETCHED, Outcome.MISSING]
        target = tmp_path / "raw" / "bybit" / "trading" / "ETHUSDT" / "ETHUSDT2025-03-03.csv.gz"
        assert report.complete_files == [target]
        assert "missing at the source: ETHUSDT 2025-03-04 trades (HTTP 404)" in report.format()
        asked = len(server.requests)
        again = download(request, FAST, progress=False)
        assert [r.outcome for r in again.results] == [Outcome.PRESENT, Outcome.MISSING]
        assert len(server.requests) == asked + 1  # only the missing day is asked again


def test_interrupted_body_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    root = _bybit_archive(tmp_path / "srv")
    big = root / "trading" / "ETHUSDT" / "ETHUSDT2025-03-03.csv.gz"
    header, row = (FIXTURES / "ETHUSDT2025-03-03.csv").read_bytes().splitlines(keepends=True)[:2]
    rng = random.Random(7)  # distinct trade ids: a body of several chunks, even compressed
    rows = [row.replace(b"6f0c9d2e", rng.randbytes(4).hex().encode()) for _ in range(40_000)]
    big.write_bytes(gzip.compress(header + b"".join(rows), mtime=0))
    with FileServer(root) as server:
        server.faults["/trading/ETHUSDT/ETHUSDT2025-03-03.csv.gz"] = ["cut"]
        request = _request("bybit-trades", tmp_path / "raw", server.url, end=date(2025, 3, 3))
        report = download(request, FAST, progress=False)
    assert report.results[0].outcome is Outcome.FETCHED and report.results[0].attempts == 2
    ranges = [r for _, r in server.requests if r]
    assert len(ranges) == 1 and int(ranges[0][6:-1]) > 0  # resumed, not restarted
    assert report.complete_files[0].read_bytes() == big.read_bytes()


def test_binance_checksum_verified_and_server_errors_retried(tmp_path: Path) -> None:
    with FileServer(_binance_archive(tmp_path / "srv")) as server:
        path = "/data/futures/um/daily/trades/ETHUSDT/ETHUSDT-trades-2025-03-03.zip"
        server.faults[path] = ["503"]
        request = _request(
            "binance",
            tmp_path / "raw",
            server.url,
            end=date(2025, 3, 3),
            market="binance-usdm",
            data_type="trades",
        )
        report = download(request, FAST, progress=False)
    (result,) = report.results
    assert result.outcome is Outcome.FETCHED and result.attempts == 2
    assert result.file.target.with_name(result.file.target.name + ".CHECKSUM").exists()
    with FileServer(_binance_archive(tmp_path / "bad", good_checksum=False)) as server:
        request = _request(
            "binance",
            tmp_path / "raw2",
            server.url,
            end=date(2025, 3, 3),
            market="binance-usdm",
            data_type="trades",
        )
        report = download(request, FAST, progress=False)
    (result,) = report.results
    assert result.outcome is Outcome.FAILED and "SHA-256 differs" in result.detail
    assert not result.file.target.exists() and report.failed


def test_binance_auto_period_takes_monthly_files_for_whole_past_months() -> None:
    got = periods(date(2025, 1, 30), date(2025, 3, 2), "auto", today=date(2025, 3, 10))
    assert got == [
        ("daily", date(2025, 1, 30)),
        ("daily", date(2025, 1, 31)),
        ("monthly", date(2025, 2, 1)),
        ("daily", date(2025, 3, 1)),
        ("daily", date(2025, 3, 2)),
    ]


def _tardis(root: Path) -> Path:
    for day in ("01", "02"):
        folder = root / "v1" / "bybit" / "liquidations" / "2025" / "03" / day
        folder.mkdir(parents=True)
        body = (FIXTURES / "tardis_liquidations_ETHUSDT.csv").read_bytes()
        (folder / "ETHUSDT.csv.gz").write_bytes(gzip.compress(body))
    return root


def _paid(path: str) -> bool:
    return path.split("/")[-2] != "01"  # .../<YYYY>/<MM>/<DD>/<SYMBOL>.csv.gz


def test_tardis_free_first_day_without_key_and_paid_days_with_it(tmp_path: Path) -> None:
    with FileServer(_tardis(tmp_path / "srv"), paid=_paid) as server:
        request = _request(
            "tardis",
            tmp_path / "raw",
            server.url,
            start=date(2025, 3, 1),
            end=date(2025, 3, 2),
            exchange="bybit",
            data_type="liquidations",
        )
        free = download(request, FAST, progress=False, api_key="")
        assert [r.outcome for r in free.results] == [Outcome.FETCHED]
        assert len(server.requests) == 1  # the paid day was not even asked for
        assert "set TARDIS_API_KEY" in free.format()
        wrong = download(request, FAST, progress=False, api_key="nope")
        assert [r.outcome for r in wrong.results] == [Outcome.PRESENT, Outcome.UNAUTHORIZED]
        paid = download(request, FAST, progress=False, api_key="test-key")
        assert [r.outcome for r in paid.results] == [Outcome.PRESENT, Outcome.FETCHED]


def test_wrong_options_for_a_source_are_refused() -> None:
    with pytest.raises(ValueError, match="--interval does not apply to tardis"):
        DownloadRequest(
            "tardis",
            ("ETHUSDT",),
            date(2025, 3, 1),
            date(2025, 3, 1),
            Path("x"),
            exchange="bybit",
            data_type="trades",
            interval="1m",
        )
    with pytest.raises(ValueError, match="binance needs --market"):
        DownloadRequest("binance", ("ETHUSDT",), date(2025, 3, 1), date(2025, 3, 1), Path("x"))


def test_cli_download_and_load_into_binance_instruments(tmp_path: Path) -> None:
    with FileServer(_binance_archive(tmp_path / "srv")) as server:
        args = [
            "download",
            "binance",
            "--symbols",
            "ETHUSDT",
            "--start",
            "2025-03-03",
            "--end",
            "2025-03-03",
            "--market",
            "binance-usdm",
            "--data-type",
            "trades",
            "--out",
            str(tmp_path / "raw"),
            "--base-url",
            server.url,
            "--load",
            "--catalog",
            str(tmp_path / "catalog"),
        ]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "fetched" in result.output and "ETHUSDT-PERP.BINANCE" in result.output
    assert (tmp_path / "catalog" / "data" / "trade_tick" / "ETHUSDT-PERP.BINANCE").is_dir()
