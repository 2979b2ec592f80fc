"""When the strategy may open a new position: sessions, blackouts and loss limits.

Plain Python, no framework imports. Declarative like freqtrade's protections: the strategy asks
:meth:`TradingGate.blocked` at each signal and logs the reason it gets back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
_EPOCH_MONDAY_OFFSET_NS = 3 * NS_PER_DAY  # 1970-01-01 was a Thursday; weeks start on Monday


def day_start(ts_ns: int) -> int:
    """UTC midnight of the day holding ``ts_ns``."""
    return ts_ns - ts_ns % NS_PER_DAY


def week_start(ts_ns: int) -> int:
    """Monday 00:00 UTC of the ISO week holding ``ts_ns``."""
    shifted = ts_ns + _EPOCH_MONDAY_OFFSET_NS
    return shifted - shifted % (7 * NS_PER_DAY) - _EPOCH_MONDAY_OFFSET_NS


def parse_utc(text: str) -> int:
    """ISO-8601 time (naive = UTC) to UNIX ns."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * NS_PER_S + moment.microsecond * 1000


@dataclass(frozen=True)
class SessionRules:
    """
    Trading-hour rules.

    Parameters
    ----------
    trading_hours : tuple[int, int] | None
        ``(start_hour, end_hour)`` UTC, start inclusive, end exclusive (``(13, 18)`` = the US
        session of the guide). ``None`` trades all hours. A window may wrap midnight.
    skip_weekends : bool
        No new entries on Saturday and Sunday (UTC).
    blackouts : tuple[tuple[int, int], ...]
        ``(start_ns, end_ns)`` windows without new entries (FOMC, CPI, maintenance).

    """

    trading_hours: tuple[int, int] | None = None
    skip_weekends: bool = False
    blackouts: tuple[tuple[int, int], ...] = ()

    def blocked(self, ts_ns: int) -> str | None:
        """Why no entry may open at ``ts_ns``, or ``None``."""
        moment = datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC)
        if self.skip_weekends and moment.weekday() >= 5:
            return "weekend"
        if self.trading_hours is not None:
            start, end = self.trading_hours
            hour = moment.hour
            inside = start <= hour < end if start <= end else hour >= start or hour < end
            if not inside:
                return f"outside trading hours {start:02d}-{end:02d} UTC"
        for start_ns, end_ns in self.blackouts:
            if start_ns <= ts_ns < end_ns:
                return "blackout window"
        return None


@dataclass(frozen=True)
class LossLimits:
    """
    Account-level loss limits as fractions of the balance at the start of the period.

    Parameters
    ----------
    daily : float | None
        Stop new entries for the rest of the UTC day once the day's realised loss reaches this
        fraction (0.01 = 1 %).
    weekly : float | None
        Same for the ISO week (Monday 00:00 UTC).

    """

    daily: float | None = 0.01
    weekly: float | None = 0.02

    def blocked(
        self,
        ts_ns: int,
        balance_now: float,
        closed_pnls: Iterable[tuple[int, float]],
    ) -> str | None:
        """
        Why no entry may open, given the realised PnL of positions closed so far.

        ``closed_pnls`` are ``(ts_closed_ns, realised_pnl)`` of every position closed on the
        account up to ``ts_ns`` (all symbols: the limits are account-wide). The period's starting
        balance is reconstructed as ``balance_now - pnl_since_period_start``.
        """
        day, week = day_start(ts_ns), week_start(ts_ns)
        pnl_day = pnl_week = 0.0
        for closed_ns, pnl in closed_pnls:
            if week <= closed_ns <= ts_ns:
                pnl_week += pnl
                if closed_ns >= day:
                    pnl_day += pnl
        for name, limit, pnl in (("daily", self.daily, pnl_day), ("weekly", self.weekly, pnl_week)):
            if limit is None:
                continue
            start_balance = balance_now - pnl
            if start_balance > 0 and pnl <= -limit * start_balance:
                return (
                    f"{name} loss limit reached ({pnl:.2f} <= -{limit:.2%} of {start_balance:.2f})"
                )
        return None
