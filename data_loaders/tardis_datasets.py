"""tardis.dev downloadable CSV datasets: ``liquidations`` and ``trades``, one gzip per day.

``https://datasets.tardis.dev/v1/<exchange>/<data_type>/<YYYY>/<MM>/<DD>/<SYMBOL>.csv.gz``, split
by the receipt time (``local_timestamp``) into UTC days; symbols upper-case with ``/`` and ``:``
written as ``-`` (what tardis's own client sends). The first day of each month is free; any other
day needs an API key, sent as ``Authorization: Bearer <key>`` and read from ``TARDIS_API_KEY``.
Without a key those days are not requested at all and the summary lists them. A day without data
is an empty gzip (it loads as no rows and says so). No checksum is published: size and a gzip
that decompresses to its end are the checks tardis recommends. Files go under
``<out>/tardis/<exchange>/<data_type>/<YYYY>/<MM>/<DD>/`` and load with ``tardis-liquidations`` /
``tardis-trades``, each row into the venue its ``exchange`` column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from liqcascade.data_loaders.fetch import RemoteFile
from liqcascade.data_loaders.tardis import EXCHANGE_MARKETS

BASE_URL = "https://datasets.tardis.dev"
API_KEY_ENV = "TARDIS_API_KEY"
DATA_TYPES = {"liquidations": "tardis-liquidations", "trades": "tardis-trades"}


def is_free(day: date) -> bool:
    """tardis serves the first day of each month without a key."""
    return day.day == 1


def remote_files(
    exchange: str,
    data_type: str,
    symbols: Sequence[str],
    days: Sequence[date],
    out: Path,
    api_key: str | None,
    base_url: str = BASE_URL,
) -> tuple[list[RemoteFile], list[str]]:
    """
    The dataset files to request, and the labels of days skipped for want of a key.

    Raises
    ------
    ValueError
        An exchange or data type this project cannot load.

    """
    if exchange not in EXCHANGE_MARKETS:
        raise ValueError(
            f"--exchange must be one of {', '.join(EXCHANGE_MARKETS)}, got {exchange!r}"
        )
    if data_type not in DATA_TYPES:
        raise ValueError(f"--data-type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    files, needs_key = [], []
    for raw in symbols:
        symbol = raw.replace(":", "-").replace("/", "-").upper()
        for day in days:
            label = f"{exchange} {symbol} {day.isoformat()} {data_type}"
            if not api_key and not is_free(day):
                needs_key.append(label)
                continue
            path = f"{exchange}/{data_type}/{day:%Y/%m/%d}/{symbol}.csv.gz"
            files.append(
                RemoteFile(
                    url=f"{base_url.rstrip('/')}/v1/{path}",
                    target=Path(out) / "tardis" / path,
                    gzip=True,
                    headers=headers,
                    label=label,
                )
            )
    return files, needs_key
