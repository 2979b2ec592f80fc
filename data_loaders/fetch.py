"""Fetch public data files over HTTP: resumable, retried with backoff, verified, never half-kept.

Built on ``requests`` (connection pooling, TLS, proxies from the environment). Written here rather
than taken from a downloader library because the rules are the sources' own: Binance publishes a
SHA-256 per zip in a ``.CHECKSUM`` file beside it, tardis and Bybit publish none (tardis advises
checking the size and that the gzip decompresses), tardis answers 401 for a day its free tier does
not cover, and an empty gzip means "no data that day". Those rules decide what counts as *fetched*,
*missing* or *failed*, which ``urllib3``'s retry policy alone cannot express.

A file is written to ``<target>.part`` and renamed only once it is complete and verified, so a
target that exists is complete: a rerun skips it. An interrupted ``.part`` is resumed with an HTTP
``Range`` request (a server that ignores it sends the whole file again, which is handled).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from enum import Enum
from pathlib import Path

import requests

#: Small enough that a cut connection loses little of what arrived (the last chunk).
CHUNK_BYTES = 1 << 16
#: HTTP statuses worth another try: the server or something on the way is overloaded or flaky.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Outcome(Enum):
    """What became of one remote file."""

    FETCHED = "fetched"
    PRESENT = "already present"
    MISSING = "missing at the source"
    UNAUTHORIZED = "needs an API key"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteFile:
    """
    One file to fetch.

    Parameters
    ----------
    url : str
        Where it is.
    target : Path
        Where it goes (complete files only; ``<target>.part`` while downloading).
    checksum_url : str, optional
        A ``sha256sum``-style file (``<hex digest>  <name>``) to verify against (Binance).
    gzip : bool
        The file is gzip: check it decompresses to the end (tardis, Bybit).
    headers : dict
        Extra request headers (tardis's ``Authorization``).
    label : str
        How the summary names it (``ETHUSDT 2025-03-03 trades``).

    """

    url: str
    target: Path
    checksum_url: str | None = None
    gzip: bool = False
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    label: str = ""


@dataclass(frozen=True)
class Result:
    """What happened to one file, and why if it did not arrive."""

    file: RemoteFile
    outcome: Outcome
    detail: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries; before try ``k`` (from 2) wait ``base_s * 2**(k-2)`` (+ up to 25 %)."""

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, ...)."""
        raw = min(self.max_s, self.base_s * 2 ** (attempt - 2))
        return raw * (1 + random.random() / 4)


class _RetryableError(Exception):
    """A failure another attempt may cure (network, 5xx, 429, a truncated or corrupt body)."""


class _FinalError(Exception):
    """A failure no retry cures; ``outcome`` says which."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def _expected_sha256(session: requests.Session, file: RemoteFile, timeout: float) -> str:
    assert file.checksum_url is not None
    try:
        response = session.get(file.checksum_url, headers=file.headers, timeout=timeout)
    except requests.RequestException as e:
        raise _RetryableError(f"checksum: {e}") from e
    if response.status_code == 404:
        raise _FinalError(Outcome.MISSING, f"no checksum file at {file.checksum_url}")
    if response.status_code in RETRY_STATUSES:
        raise _RetryableError(f"checksum: HTTP {response.status_code}")
    if response.status_code != 200:
        raise _FinalError(Outcome.FAILED, f"checksum: HTTP {response.status_code}")
    digest = response.text.split()[0].strip().lower() if response.text.split() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise _FinalError(
            Outcome.FAILED, f"checksum file is not sha256sum output: {response.text!r}"
        )
    return digest


def _download(
    session: requests.Session,
    file: RemoteFile,
    part: Path,
    timeout: float,
    on_bytes: Callable[[int, int | None], None],
) -> None:
    """Bring ``part`` to the complete body, resuming what is there."""
    have = part.stat().st_size if part.exists() else 0
    headers = dict(file.headers)
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with session.get(file.url, headers=headers, stream=True, timeout=timeout) as response:
            status = response.status_code
            if status == 404:
                raise _FinalError(Outcome.MISSING, "HTTP 404")
            if status in (401, 403):
                raise _FinalError(Outcome.UNAUTHORIZED, f"HTTP {status}")
            if status == 416:  # our part is not a prefix of what the server has now
                part.unlink()
                raise _RetryableError("HTTP 416 on resume: starting over")
            if status in RETRY_STATUSES:
                raise _RetryableError(f"HTTP {status}")
            if status not in (200, 206):
                raise _FinalError(Outcome.FAILED, f"HTTP {status}")
            mode = "ab" if status == 206 else "wb"  # 200: the server sent everything again
            start = have if status == 206 else 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            on_bytes(start, total)
            written = start
            with part.open(mode) as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    on_bytes(written, total)
            if total is not None and written != total:
                raise _RetryableError(f"body ended after {written} of {total} bytes")
    except requests.RequestException as e:  # connection reset, timeout, chunked-encoding error
        raise _RetryableError(str(e) or type(e).__name__) from e


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _gzip_is_whole(path: Path) -> bool:
    """Whether every gzip member decompresses to its end (an empty file is not gzip)."""
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, with its checksum
    with path.open("rb") as f:
        data = f.read(CHUNK_BYTES)
        if not data:
            return False
        while data:
            try:
                inflater.decompress(data)
                while inflater.eof and inflater.unused_data:  # concatenated members
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=47)
                    inflater.decompress(rest)
            except zlib.error:
                return False
            data = f.read(CHUNK_BYTES)
    return inflater.eof


def fetch(
    session: requests.Session,
    file: RemoteFile,
    retry: RetryPolicy = RetryPolicy(),
    timeout: float = 60.0,
    on_bytes: Callable[[int, int | None], None] = lambda done, total: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """
    Fetch one file unless it is already complete; never raises for a network or server fault.

    Returns
    -------
    Result
        ``PRESENT`` (target exists), ``FETCHED``, ``MISSING`` (404: the source has no such file),
        ``UNAUTHORIZED`` (401/403), or ``FAILED`` (retries exhausted, checksum mismatch), with
        the reason.

    """
    if file.target.exists():
        return Result(file, Outcome.PRESENT)
    file.target.parent.mkdir(parents=True, exist_ok=True)
    part = file.target.with_name(file.target.name + ".part")
    detail = ""
    for attempt in range(1, retry.attempts + 1):
        if attempt > 1:
            sleep(retry.delay(attempt))
        try:
            expected = _expected_sha256(session, file, timeout) if file.checksum_url else None
            _download(session, file, part, timeout, on_bytes)
            if expected is not None and _sha256(part) != expected:
                part.unlink()  # a corrupt body: fetch it whole again
                raise _RetryableError("SHA-256 differs from the published .CHECKSUM")
            if file.gzip and part.stat().st_size and not _gzip_is_whole(part):
                part.unlink()
                raise _RetryableError("the gzip does not decompress to its end")
            if file.checksum_url:
                checksum = file.target.with_name(file.target.name + ".CHECKSUM")
                checksum.write_text(f"{expected}  {file.target.name}\n")
            os.replace(part, file.target)
            return Result(file, Outcome.FETCHED, attempts=attempt)
        except _FinalError as e:
            return Result(file, e.outcome, str(e), attempt)
        except _RetryableError as e:
            detail = str(e)
    return Result(
        file, Outcome.FAILED, f"{detail} (after {retry.attempts} attempts)", retry.attempts
    )
