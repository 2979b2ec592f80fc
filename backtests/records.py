"""What a run produces, as plain records: the contract between a strategy and the reports.

The strategy's event log (JSON lines) and the engine's fills are reduced to these records;
every figure in a report is computed from them (``liqcascade.backtests.metrics``), never typed in.
All timestamps are UNIX nanoseconds (UTC); money is in the quote currency (USDT).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from liqcascade.backtests.coverage import Coverage


@dataclass(frozen=True)
class CascadeRecord:
    """A detected cascade (declared or not traded), for frequency and duration statistics."""

    symbol: str
    start_ns: int  # first large liquidation (receipt time)
    declared_ns: int  # the min_events-th large liquidation: the decision time
    end_ns: int  # last large liquidation of the window
    large_events: int
    events: int
    long_notional: float  # notional of liquidated longs in the window
    short_notional: float
    side: str | None  # dominant liquidated side at declaration: "LONG", "SHORT" or None (tie)

    @property
    def duration_s(self) -> float:
        """First to last large liquidation, seconds."""
        return (self.end_ns - self.start_ns) / 1e9

    @classmethod
    def of(cls, symbol: str, values: Mapping[str, Any]) -> CascadeRecord:
        """The record of a cascade's values: a detector's ``Cascade`` as a dict, or the
        strategy's ``cascade_stats`` event-log line (the same names; extra keys are ignored)."""
        names = [f.name for f in fields(cls) if f.name != "symbol"]
        return cls(symbol=symbol, **{name: values[name] for name in names})


@dataclass(frozen=True)
class SignalRecord:
    """A cascade the strategy acted on (an entry order was submitted), filled or not."""

    symbol: str
    declared_ns: int
    submitted_ns: int
    side: str  # entry order side: "BUY" (longs were liquidated) or "SELL"
    price: float  # entry limit price
    filled: bool


@dataclass(frozen=True)
class TradeRecord:
    """One round trip: entry fill(s) to flat."""

    symbol: str
    side: str  # entry side: "BUY" = long position, "SELL" = short position
    declared_ns: int  # cascade declaration that triggered it
    entry_ns: int  # first entry fill
    exit_ns: int  # position closed
    entry_price: float  # average entry fill price
    exit_price: float  # average exit fill price
    quantity: float  # peak position size (base units)
    pnl: float  # realised PnL after all fees
    fees: float  # total commissions paid (positive = cost)
    exit_reason: str  # "TP", "SL" or "TIMEOUT" (the order that closed the position)

    @property
    def hold_s(self) -> float:
        """Seconds from the first entry fill to flat."""
        return (self.exit_ns - self.entry_ns) / 1e9

    @property
    def notional(self) -> float:
        """Entry notional (quote currency)."""
        return self.entry_price * self.quantity

    @property
    def return_fraction(self) -> float:
        """PnL after fees as a fraction of the entry notional."""
        return self.pnl / self.notional if self.notional else 0.0


def trade_from_exit_event(event: dict[str, Any]) -> TradeRecord:
    """
    A round trip from a strategy's ``exit`` event-log line (both systems write one).

    The triggering signal's time is ``declared_ns`` (System A's cascade) or ``event_ns``
    (System B's crash bar).
    """
    return TradeRecord(
        symbol=event["symbol"],
        side=event.get("side", "BUY"),
        declared_ns=event.get("declared_ns") or event.get("event_ns") or 0,
        entry_ns=event["entry_ns"],
        exit_ns=event["exit_ns"],
        entry_price=event["entry_price"],
        exit_price=event["exit_price"],
        quantity=event["quantity"],
        pnl=event["pnl"],
        fees=event.get("fees", 0.0),
        exit_reason=event.get("reason", "?"),
    )


@dataclass(frozen=True)
class RunRecords:
    """Everything a report needs from one run (one scenario)."""

    name: str
    symbols: tuple[str, ...]
    start_ns: int  # first and last data timestamps of the run
    end_ns: int
    starting_balance: float
    cascades: tuple[CascadeRecord, ...]
    signals: tuple[SignalRecord, ...]
    trades: tuple[TradeRecord, ...]
    #: Days with data per symbol; per-day figures divide by those days, not the calendar span.
    coverage: Coverage | None = None
    #: Mark-to-market equity (``pandas.Series``, UTC index): realised equity plus every open
    #: position marked to each print while it is open. Key ``None`` = portfolio, else a
    #: symbol. Empty when the run had no prices to mark with (see ``metrics.mtm_equity``).
    mtm: dict[str | None, Any] = field(default_factory=dict, compare=False, repr=False)
