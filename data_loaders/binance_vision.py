"""Binance's public data archive (``https://data.binance.vision``): klines, trades, aggTrades.

Layout (symbols upper-case)::

    data/<futures/um|spot>/<daily|monthly>/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<date>.zip
    data/<futures/um|spot>/<daily|monthly>/<trades|aggTrades>/<SYMBOL>/<SYMBOL>-<type>-<date>.zip

with ``<date>`` ``YYYY-MM-DD`` (daily) or ``YYYY-MM`` (monthly), and beside each zip a
``<name>.zip.CHECKSUM`` holding its SHA-256 (``sha256sum`` output), which every download is
verified against. Daily files appear the next day, monthly ones early in the next month, so the
``auto`` period takes a monthly file for every whole month before the current one and daily files
for the rest. Files are mirrored under ``<out>/binance/`` in the same layout, which is also how the
loaders tell USD-M (``.../futures/um/...``) from spot (``.../spot/...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from datetime import timedelta
from pathlib import Path

from liqcascade.data_loaders.fetch import RemoteFile
from liqcascade.data_loaders.instruments import BINANCE_SPOT
from liqcascade.data_loaders.instruments import BINANCE_USDM

BASE_URL = "https://data.binance.vision"
DATA_TYPES = {
    "klines": "binance-klines",
    "trades": "binance-trades",
    "aggTrades": "binance-aggtrades",
}
PERIODS = ("auto", "daily", "monthly")
_PREFIX = {BINANCE_USDM.name: "data/futures/um", BINANCE_SPOT.name: "data/spot"}


def _month_end(day: date) -> date:
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - timedelta(days=1)


def periods(start: date, end: date, period: str, today: date) -> list[tuple[str, date]]:
    """``("monthly", first day)`` and ``("daily", day)`` entries covering ``[start, end]``."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    result: list[tuple[str, date]] = []
    day = start
    while day <= end:
        month_end = _month_end(day)
        whole = day.day == 1 and month_end <= end
        finished = month_end < today.replace(day=1)
        if period == "monthly" or (period == "auto" and whole and finished):
            result.append(("monthly", day.replace(day=1)))
            day = month_end + timedelta(days=1)
        else:
            result.append(("daily", day))
            day += timedelta(days=1)
    return result


def remote_files(
    symbols: Sequence[str],
    start: date,
    end: date,
    out: Path,
    market: str,
    data_type: str,
    interval: str | None = None,
    period: str = "auto",
    base_url: str = BASE_URL,
    today: date | None = None,
) -> list[RemoteFile]:
    """
    The archive files (zip + checksum) covering ``[start, end]``.

    Raises
    ------
    ValueError
        Unknown market, data type or period; klines without an ``interval`` or trades with one.

    """
    if market not in _PREFIX:
        raise ValueError(f"--market must be one of {', '.join(_PREFIX)}, got {market!r}")
    if data_type not in DATA_TYPES:
        raise ValueError(f"--data-type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    if (data_type == "klines") != (interval is not None):
        raise ValueError("--interval is required for klines and not accepted for trades")
    files = []
    for symbol in symbols:
        for kind, first in periods(start, end, period, today or date.today()):
            stamp = first.strftime("%Y-%m") if kind == "monthly" else first.isoformat()
            middle = f"{interval}" if data_type == "klines" else data_type
            folder = f"{_PREFIX[market]}/{kind}/{data_type}/{symbol}"
            if data_type == "klines":
                folder += f"/{interval}"
            path = f"{folder}/{symbol}-{middle}-{stamp}.zip"
            url = f"{base_url.rstrip('/')}/{path}"
            files.append(
                RemoteFile(
                    url=url,
                    target=Path(out) / "binance" / path,
                    checksum_url=f"{url}.CHECKSUM",
                    label=f"{symbol} {stamp} {data_type}{' ' + interval if interval else ''}",
                )
            )
    return files
