"""What the paper-trading checklist measures in a session's event logs: figures, no verdicts.

Each function reads :class:`~liqcascade.live.session_logs.EventLogs` and returns the numbers one
or more checklist lines judge: the session's span, each websocket client's connected stretches,
cascades per symbol, reaction times, entry outcomes, trade results, exit reasons, TP/SL exit
prices against their entries, one-position and cooldown breaches, exits without a logged fill.
The targets, the PASS/FAIL/N/A verdicts and the text are :mod:`liqcascade.live.checklist`'s.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np

from liqcascade.live.monitor import SESSION_START
from liqcascade.live.monitor import SESSION_STOP
from liqcascade.live.monitor import STATUS
from liqcascade.live.monitor import WS_CONNECTED
from liqcascade.live.monitor import WS_DISCONNECTED
from liqcascade.live.session_logs import EventLogs

NS_PER_S = 1_000_000_000
NS_PER_H = 3600 * NS_PER_S
NS_PER_DAY = 24 * NS_PER_H
LONG_SIDE, SHORT_SIDE = "BUY", "SELL"  # entry sides in the strategy's events
EXIT_REASONS = ("TP", "SL", "TIMEOUT")


def events_named(events: Iterable[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    """The events whose ``event`` is one of ``names``, in order."""
    return [e for e in events if e["event"] in names]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# -- session ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """The span of the logs (first to last event) and how many events of each kind they hold."""

    start_ns: int
    end_ns: int
    counts: Counter[str]

    @property
    def days(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_DAY


def session_span(logs: EventLogs) -> Session | None:
    """The session's span and event counts; ``None`` without events."""
    if not logs.events:
        return None
    counts = Counter(e["event"] for e in logs.events)
    return Session(logs.events[0]["ts"], logs.events[-1]["ts"], counts)


# -- websocket -------------------------------------------------------------------------------


@dataclass
class _Connection:
    stretches: list[tuple[int, int]] = field(default_factory=list)
    reconnects: int = 0
    source: str = ""


def _from_ws_events(events: list[dict[str, Any]], client: str, end: int) -> _Connection:
    conn = _Connection(source="ws events")
    since: int | None = None
    last_seen: int | None = None
    opened = 0
    for e in events:
        name, ts = e["event"], e["ts"]
        mine = e.get("client", client) == client
        if name == SESSION_START and since is not None:
            # The previous session ended without a word (a crash): its connection ended no
            # later than the last event it logged.
            conn.stretches.append((since, last_seen if last_seen is not None else ts))
            since = None
        elif name == WS_CONNECTED and mine:
            if since is not None:  # a disconnection nobody logged
                conn.stretches.append((since, ts))
            conn.reconnects += opened > 0
            opened += 1
            since = ts
        elif ((name == WS_DISCONNECTED and mine) or name == SESSION_STOP) and since is not None:
            conn.stretches.append((since, ts))
            since = None
        last_seen = ts
    if since is not None:
        conn.stretches.append((since, end))
    return conn


def _from_status(samples: list[dict[str, Any]], end: int) -> _Connection:
    conn = _Connection(source="status samples")
    since: int | None = None
    previous: dict[str, Any] | None = None
    for s in samples:
        ts, up = s["ts"], s.get("connected") is True
        counter, last_counter = _int(s.get("reconnects")), None
        if previous is not None:
            last_counter = _int(previous.get("reconnects"))
        jumped = counter is not None and last_counter is not None and counter > last_counter
        if jumped:
            conn.reconnects += counter - last_counter  # type: ignore[operator]
        if since is not None and (not up or jumped):
            conn.stretches.append((since, ts))
            since = None
        if up and since is None:
            since = ts
        previous = s
    if since is not None:
        conn.stretches.append((since, max(end, samples[-1]["ts"])))
    return conn


@dataclass(frozen=True)
class ClientConnection:
    """One websocket client's connection over the session."""

    client: str
    source: str  # "ws events", or "status samples" when the log has no ws events
    longest_h: float  # the longest uninterrupted connection
    uptime: float  # connected share of the session, at most 1
    connected_s: float
    disconnected_s: float
    reconnects: int
    connections: int  # connected stretches
    session_h: float


def client_connections(logs: EventLogs, start: int, end: int) -> list[ClientConnection]:
    """
    Each websocket client's connection between ``start`` and ``end`` (ns), by client name.

    From ``ws_connected``/``ws_disconnected`` events (a ``session_start`` ends a connection a
    crash left open, at the last event before it); from ``status`` samples when there are none
    (a sample not connected, or a jump of the reconnect counter, ends a stretch). Empty when the
    logs hold neither.
    """
    ws_events = events_named(logs.events, WS_CONNECTED, WS_DISCONNECTED)
    status = [e for e in events_named(logs.events, STATUS) if isinstance(e.get("connected"), bool)]
    clients = sorted({str(e.get("client", "?")) for e in ws_events or status})
    span = max(end - start, 1)
    out = []
    for client in clients:
        if ws_events:
            conn = _from_ws_events(logs.events, client, end)
        else:
            conn = _from_status([s for s in status if s.get("client", "?") == client], end)
        lengths = [b - a for a, b in conn.stretches]
        connected = sum(lengths)
        out.append(
            ClientConnection(
                client=client,
                source=conn.source,
                longest_h=max(lengths, default=0) / NS_PER_H,
                uptime=min(1.0, connected / span),
                connected_s=connected / NS_PER_S,
                disconnected_s=max(0, span - connected) / NS_PER_S,
                reconnects=conn.reconnects,
                connections=len(conn.stretches),
                session_h=span / NS_PER_H,
            )
        )
    return out


# -- cascades and entries --------------------------------------------------------------------


def cascades_per_symbol(logs: EventLogs) -> dict[str, int]:
    """``cascade`` events of each symbol of the logs (0 for a symbol without any)."""
    counts = Counter(e.get("symbol") for e in events_named(logs.events, "cascade"))
    return {symbol: counts.get(symbol, 0) for symbol in logs.symbols}


@dataclass(frozen=True)
class ReactionTimes:
    """Seconds from a cascade's declaration to its first entry submission."""

    delays_s: list[float]
    p50_s: float  # numpy's linear interpolation
    p99_s: float
    max_s: float


def reaction_times(logs: EventLogs) -> ReactionTimes | None:
    """
    ``entry_submitted.ts - declared_ns`` of each first submission (not re-priced ones).

    ``declared_ns`` is the receipt of the cascade's 2nd large liquidation. ``None`` without a
    first submission.
    """
    firsts = [
        e
        for e in events_named(logs.events, "entry_submitted")
        if not e.get("repriced") and _int(e.get("declared_ns")) is not None
    ]
    delays = [(e["ts"] - e["declared_ns"]) / NS_PER_S for e in firsts]
    if not delays:
        return None
    p50, p99 = (float(x) for x in np.percentile(delays, [50, 99]))
    return ReactionTimes(delays, p50, p99, max(delays))


def _outcomes(events: list[dict[str, Any]]) -> dict[tuple[Any, Any], str]:
    """Per cascade with an entry (symbol, declared_ns): filled, unfilled or pending."""
    cascade_of: dict[tuple[Any, Any], tuple[Any, Any]] = {}  # (symbol, order id) -> cascade
    submitted: dict[tuple[Any, Any], list[Any]] = defaultdict(list)
    for e in events_named(events, "entry_submitted"):
        key = (e.get("symbol"), e.get("declared_ns"))
        submitted[key].append(e.get("order_id"))
        cascade_of[(e.get("symbol"), e.get("order_id"))] = key
    outcome = dict.fromkeys(submitted, "pending")
    for e in events_named(events, "entry_fill", "entry_unfilled", "entry_rejected"):
        key = cascade_of.get((e.get("symbol"), e.get("order_id")))
        if key is None:
            key = (e.get("symbol"), e.get("declared_ns"))
        if key not in outcome:
            continue
        if e["event"] == "entry_fill":
            outcome[key] = "filled"
        elif outcome[key] != "filled":
            # A rejection ends the entry unless a re-priced order followed it.
            final = e["event"] == "entry_unfilled" or e.get("order_id") == submitted[key][-1]
            if final:
                outcome[key] = "unfilled"
    return outcome


@dataclass(frozen=True)
class EntryOutcomes:
    """How the cascades' entries ended: filled, unfilled (ended unfilled), still pending."""

    cascades: int
    filled: int
    unfilled: int
    pending: int
    skipped: int  # cascades the gate skipped
    skip_reasons: Counter[str]  # numbers stripped: "cooldown for 120 s" -> "cooldown for"


def entry_outcomes(logs: EventLogs) -> EntryOutcomes:
    """Entries per outcome (a re-priced entry counts once), and the skipped cascades."""
    outcome = Counter(_outcomes(logs.events).values())
    skips = events_named(logs.events, "skip")
    # "cooldown for 120 s" and "cooldown for 30 s" are one reason.
    reasons = Counter(
        re.sub(r"\s*\d[\d.]*(\s*s\b)?", "", str(e.get("reason", "?"))).strip() for e in skips
    )
    return EntryOutcomes(
        cascades=len(events_named(logs.events, "cascade")),
        filled=outcome["filled"],
        unfilled=outcome["unfilled"],
        pending=outcome["pending"],
        skipped=len(skips),
        skip_reasons=reasons,
    )


# -- trades ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeResults:
    """PnL of the ``exit`` events that carry one, and the fees of all exits."""

    pnls: list[float]
    fees: float

    @property
    def wins(self) -> int:
        return sum(p > 0 for p in self.pnls)


def trade_results(logs: EventLogs) -> TradeResults:
    exits = events_named(logs.events, "exit")
    known = [p for p in (_num(e.get("pnl")) for e in exits) if p is not None]
    return TradeResults(known, sum(_num(e.get("fees")) or 0.0 for e in exits))


def exit_reasons(logs: EventLogs) -> Counter[str]:
    """``exit`` events per ``reason`` (``?`` when missing)."""
    return Counter(str(e.get("reason", "?")) for e in events_named(logs.events, "exit"))


@dataclass(frozen=True)
class WrongExit:
    """A TP exit priced at a loss, or an SL exit priced in profit."""

    symbol: Any
    side: str
    reason: str
    entry_price: float
    exit_price: float


@dataclass(frozen=True)
class TpSlChecks:
    """TP and SL exits checked per entry side (``BUY``/``SELL``), and the wrong ones."""

    checked: dict[str, Counter[str]]
    wrong: list[WrongExit]


def tp_sl_checks(logs: EventLogs) -> TpSlChecks:
    """Each TP/SL exit with a known side and prices: is it in profit (TP) or at a loss (SL)?"""
    checked: dict[str, Counter[str]] = {LONG_SIDE: Counter(), SHORT_SIDE: Counter()}
    wrong: list[WrongExit] = []
    for e in events_named(logs.events, "exit"):
        side, reason = e.get("side"), e.get("reason")
        entry, exit_ = _num(e.get("entry_price")), _num(e.get("exit_price"))
        if side not in checked or reason not in ("TP", "SL") or entry is None or exit_ is None:
            continue
        checked[side][reason] += 1
        gain = (exit_ - entry) * (1 if side == LONG_SIDE else -1)
        if (reason == "TP" and gain <= 0) or (reason == "SL" and gain >= 0):
            wrong.append(WrongExit(e.get("symbol"), side, reason, entry, exit_))
    return TpSlChecks(checked, wrong)


@dataclass(frozen=True)
class Breach:
    """An entry submitted while a trade was working, or within the cooldown of an exit."""

    symbol: Any
    ts: int
    gap_s: float | None  # seconds after the exit (cooldown breach); None: a trade was working


@dataclass(frozen=True)
class PositionLimits:
    """First entry submissions (re-priced ones aside) and the breaches among them."""

    entries: int
    breaches: list[Breach]


def position_limits(logs: EventLogs, cooldown_s: float) -> PositionLimits:
    """Replay each symbol's entries and exits: one trade at a time, ``cooldown_s`` after exits."""
    cooldown_ns = int(cooldown_s * NS_PER_S)
    by_symbol: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    names = ("entry_submitted", "entry_fill", "entry_unfilled", "entry_rejected", "exit")
    for e in events_named(logs.events, *names):
        by_symbol[e.get("symbol")].append(e)
    breaches: list[Breach] = []
    entries = 0
    for symbol, events in by_symbol.items():
        working = position = False
        last_exit: int | None = None
        for e in events:
            name, ts = e["event"], e["ts"]
            if name == "entry_submitted":
                if e.get("repriced"):
                    working = True
                    continue
                entries += 1
                if working or position:
                    breaches.append(Breach(symbol, ts, None))
                elif last_exit is not None and ts - last_exit < cooldown_ns:
                    breaches.append(Breach(symbol, ts, (ts - last_exit) / NS_PER_S))
                working = True
            elif name == "entry_fill":
                position = True
            elif name in ("entry_unfilled", "entry_rejected") and not position:
                working = False
            elif name == "exit":
                working = position = False
                last_exit = ts
    return PositionLimits(entries, breaches)


def orphan_exits(logs: EventLogs) -> int:
    """``exit`` events whose cascade (symbol, ``declared_ns``) has no logged ``entry_fill``."""
    filled = {
        (e.get("symbol"), e.get("declared_ns")) for e in events_named(logs.events, "entry_fill")
    }
    return sum(
        1
        for e in events_named(logs.events, "exit")
        if _int(e.get("declared_ns")) is not None
        and (e.get("symbol"), e.get("declared_ns")) not in filled
    )
