"""Bybit's public trade archive: one gzip CSV per symbol and UTC day.

``https://public.bybit.com/trading/<SYMBOL>/<SYMBOL><YYYY-MM-DD>.csv.gz`` (USDT and inverse
perpetuals; Bybit also publishes ``spot/``, which the cascade strategies do not use). No checksum
is published: a file counts as complete when its body matches ``Content-Length`` and the gzip
decompresses to its end. Files are kept in the same layout under ``<out>/bybit/trading/``, and load
with the ``bybit-trades`` format (the old 10-column header and the newer one with ``RPI`` alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from liqcascade.data_loaders.fetch import RemoteFile
from liqcascade.data_loaders.instruments import BYBIT_LINEAR

BASE_URL = "https://public.bybit.com"
LOAD_FORMAT = "bybit-trades"
MARKET = BYBIT_LINEAR.name


def remote_files(
    symbols: Sequence[str], days: Sequence[date], out: Path, base_url: str = BASE_URL
) -> list[RemoteFile]:
    """The archive files of ``symbols`` on ``days`` and where they go under ``out``."""
    files = []
    for symbol in symbols:
        for day in days:
            path = f"trading/{symbol}/{symbol}{day.isoformat()}.csv.gz"
            files.append(
                RemoteFile(
                    url=f"{base_url.rstrip('/')}/{path}",
                    target=Path(out) / "bybit" / path,
                    gzip=True,
                    label=f"{symbol} {day.isoformat()} trades",
                )
            )
    return files
