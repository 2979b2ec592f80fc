"""The checklist's lines: each figure of :mod:`liqcascade.live.checklist_measures` judged
against :class:`Targets`, with its text (the table of lines and targets is in
:mod:`liqcascade.live.checklist`)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any

from liqcascade.live.checklist_measures import EXIT_REASONS
from liqcascade.live.checklist_measures import LONG_SIDE
from liqcascade.live.checklist_measures import NS_PER_DAY
from liqcascade.live.checklist_measures import NS_PER_S
from liqcascade.live.checklist_measures import SHORT_SIDE
from liqcascade.live.checklist_measures import Breach
from liqcascade.live.checklist_measures import cascades_per_symbol
from liqcascade.live.checklist_measures import client_connections
from liqcascade.live.checklist_measures import entry_outcomes
from liqcascade.live.checklist_measures import exit_reasons
from liqcascade.live.checklist_measures import orphan_exits
from liqcascade.live.checklist_measures import position_limits
from liqcascade.live.checklist_measures import reaction_times
from liqcascade.live.checklist_measures import session_span
from liqcascade.live.checklist_measures import tp_sl_checks
from liqcascade.live.checklist_measures import trade_results
from liqcascade.live.monitor import SESSION_START
from liqcascade.live.session_logs import EventLogs

PASS, FAIL, NA = "PASS", "FAIL", "N/A"


@dataclass(frozen=True)
class Targets:
    """
    The checklist's targets (seed section 9 unless noted).

    Parameters
    ----------
    min_session_days : float
        Paper trade first, 1-2 weeks.
    min_stable_h : float
        Websocket connection stable for 24 h+.
    min_uptime : float
        Connected share of the session (project choice).
    cascades_per_day : tuple[float, float]
        Expected detection frequency per symbol.
    min_days_for_rate : float
        Shortest session for which a per-day rate is judged.
    max_reaction_s : float
        Orders placed within 3 s of the cascade (judged on the p99).
    fill_rate, win_rate : tuple[float, float]
        Expected ranges (fractions).
    cooldown_s : float
        The strategy's cooldown between trades of a symbol.

    """

    min_session_days: float = 7.0
    min_stable_h: float = 24.0
    min_uptime: float = 0.99
    cascades_per_day: tuple[float, float] = (5.0, 9.0)
    min_days_for_rate: float = 1.0
    max_reaction_s: float = 3.0
    fill_rate: tuple[float, float] = (0.50, 0.80)
    win_rate: tuple[float, float] = (0.65, 0.75)
    cooldown_s: float = 300.0


@dataclass(frozen=True)
class CheckLine:
    """
    One checklist line.

    Parameters
    ----------
    item : str
        What is checked.
    status : str
        ``PASS``, ``FAIL`` or ``N/A``.
    value : str
        The measured figure, formatted.
    target : str
        The target, formatted.
    detail : str
        Counts and caveats behind the figure.
    figures : dict
        The raw numbers (for tests and machine-readable output).

    """

    item: str
    status: str
    value: str
    target: str
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


# -- text ------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _range(bounds: tuple[float, float], scale: float = 100, unit: str = " %") -> str:
    lo, hi = bounds
    return f"{lo * scale:g}-{hi * scale:g}{unit}"


def _in_range(x: float, bounds: tuple[float, float]) -> bool:
    # A small tolerance: 0.5 computed as 1/2 must pass "50-80 %".
    return bounds[0] - 1e-12 <= x <= bounds[1] + 1e-12


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts / NS_PER_S, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- lines -----------------------------------------------------------------------------------


def session_line(logs: EventLogs, targets: Targets) -> tuple[CheckLine, int, int]:
    target = f">= {targets.min_session_days:g} days"
    session = session_span(logs)
    if session is None:
        return CheckLine("Session span", NA, "no events", target), 0, 0
    start, end, days, counts = session.start_ns, session.end_ns, session.days, session.counts
    sessions = counts[SESSION_START]
    detail = (
        f"{len(logs.events)} events, {counts['liquidation']} liquidations, "
        f"{counts['cascade']} cascades, {counts['exit']} trades"
        + (f", {sessions} node start(s)" if sessions else "")
    )
    line = CheckLine(
        "Session span",
        PASS if days >= targets.min_session_days else FAIL,
        f"{days:.2f} days ({_stamp(start)} -> {_stamp(end)})",
        target,
        detail,
        {"start_ns": start, "end_ns": end, "days": days},
    )
    return line, start, end


def websocket_lines(logs: EventLogs, targets: Targets, start: int, end: int) -> list[CheckLine]:
    stable_target = f"longest connection >= {targets.min_stable_h:g} h"
    uptime_target = f">= {_pct(targets.min_uptime)} of the session"
    connections = client_connections(logs, start, end)
    if not connections:
        reason = "no ws_connected/ws_disconnected/status events in the log"
        return [
            CheckLine("Websocket stable 24h+", NA, "no data", stable_target, reason),
            CheckLine("Websocket uptime", NA, "no data", uptime_target, reason),
        ]
    lines = []
    for conn in connections:
        suffix = f" ({conn.client})" if len(connections) > 1 else ""
        figures = {
            "client": conn.client,
            "longest_h": conn.longest_h,
            "uptime": conn.uptime,
            "connected_s": conn.connected_s,
            "disconnected_s": conn.disconnected_s,
            "reconnects": conn.reconnects,
            "connections": conn.connections,
        }
        if conn.longest_h >= targets.min_stable_h:
            stable = PASS
        elif conn.session_h < targets.min_stable_h:
            stable = NA  # not enough session yet to show it
        else:
            stable = FAIL
        detail = f"{conn.client}, from {conn.source}; session {conn.session_h:.1f} h"
        lines.append(
            CheckLine(
                f"Websocket stable 24h+{suffix}",
                stable,
                f"longest connection {conn.longest_h:.1f} h",
                stable_target,
                detail,
                figures,
            )
        )
        lines.append(
            CheckLine(
                f"Websocket uptime{suffix}",
                PASS if conn.uptime >= targets.min_uptime else FAIL,
                f"{100 * conn.uptime:.2f} % ({conn.reconnects} reconnects, "
                f"{conn.disconnected_s:.0f} s disconnected)",
                uptime_target,
                detail,
                figures,
            )
        )
    return lines


def cascade_lines(logs: EventLogs, targets: Targets, start: int, end: int) -> list[CheckLine]:
    days = (end - start) / NS_PER_DAY
    target = f"{_range(targets.cascades_per_day, 1, ' /day')}"
    lines = []
    for symbol, n in cascades_per_symbol(logs).items():
        figures = {"symbol": symbol, "cascades": n, "days": days}
        if days <= 0:
            lines.append(
                CheckLine(f"Cascades/day {symbol}", NA, f"{n} cascades", target, "", figures)
            )
            continue
        rate = n / days
        figures["per_day"] = rate
        if days < targets.min_days_for_rate:
            status = NA
            detail = f"session {days:.2f} days: too short to judge a daily rate"
        else:
            status = PASS if _in_range(rate, targets.cascades_per_day) else FAIL
            detail = ""
        lines.append(
            CheckLine(
                f"Cascades/day {symbol}",
                status,
                f"{rate:.2f} /day ({n} in {days:.2f} days)",
                target,
                detail,
                figures,
            )
        )
    return lines


def reaction_line(logs: EventLogs, targets: Targets) -> CheckLine:
    target = f"p99 < {targets.max_reaction_s:g} s"
    times = reaction_times(logs)
    if times is None:
        return CheckLine("Reaction time", NA, "no entries", target, "no entry_submitted events")
    n, p50, p99, slowest = len(times.delays_s), times.p50_s, times.p99_s, times.max_s
    over = sum(d >= targets.max_reaction_s for d in times.delays_s)
    return CheckLine(
        "Reaction time",
        PASS if p99 < targets.max_reaction_s else FAIL,
        f"p50 {p50:.3f} s, p99 {p99:.3f} s (n={n})",
        target,
        f"2nd large liquidation received -> entry submitted; slowest {slowest:.3f} s, "
        f"{over} at or over {targets.max_reaction_s:g} s",
        {"n": n, "p50_s": p50, "p99_s": p99, "max_s": slowest, "over": over},
    )


def fill_line(logs: EventLogs, targets: Targets) -> CheckLine:
    target = _range(targets.fill_rate)
    entries = entry_outcomes(logs)
    filled, unfilled, pending = entries.filled, entries.unfilled, entries.pending
    skipped = entries.skipped
    detail = (
        f"{entries.cascades} cascades: {filled + unfilled + pending} entries, {skipped} skipped"
    )
    if skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in entries.skip_reasons.most_common())
        detail += f" ({reasons})"
    if pending:
        detail += f"; {pending} still working at the end (left out)"
    figures = {"filled": filled, "unfilled": unfilled, "pending": pending, "skipped": skipped}
    ended = filled + unfilled
    if not ended:
        return CheckLine("Fill rate", NA, "no entries ended", target, detail, figures)
    rate = filled / ended
    figures["rate"] = rate
    return CheckLine(
        "Fill rate",
        PASS if _in_range(rate, targets.fill_rate) else FAIL,
        f"{_pct(rate)} ({filled}/{ended} entries filled)",
        target,
        detail,
        figures,
    )


def win_line(logs: EventLogs, targets: Targets) -> CheckLine:
    target = _range(targets.win_rate)
    results = trade_results(logs)
    known = results.pnls
    if not known:
        return CheckLine("Win rate", NA, "no trades", target, "no exit events with a pnl")
    wins = results.wins
    rate = wins / len(known)
    return CheckLine(
        "Win rate",
        PASS if _in_range(rate, targets.win_rate) else FAIL,
        f"{_pct(rate)} ({wins}/{len(known)} trades with pnl > 0)",
        target,
        f"net pnl {sum(known):.4f}, fees {results.fees:.4f}",
        {"trades": len(known), "wins": wins, "rate": rate, "pnl": sum(known)},
    )


def split_line(logs: EventLogs) -> CheckLine:
    target = "~73/25/2 %; every exit TP, SL or TIMEOUT"
    counts = exit_reasons(logs)
    exits = sum(counts.values())
    if not exits:
        return CheckLine("Exit split TP/SL/TIMEOUT", NA, "no trades", target)
    other = sum(n for reason, n in counts.items() if reason not in EXIT_REASONS)
    shares = [counts[r] / exits for r in EXIT_REASONS]
    value = " / ".join(f"{r} {_pct(s)}" for r, s in zip(EXIT_REASONS, shares, strict=True))
    value += f" ({'/'.join(str(counts[r]) for r in EXIT_REASONS)})"
    figures = {r: counts[r] for r in EXIT_REASONS} | {"other": other}
    detail = ""
    if other:
        unknown = sorted(r for r in counts if r not in EXIT_REASONS)
        detail = f"{other} exits closed by an unknown order: {', '.join(unknown)}"
    return CheckLine(
        "Exit split TP/SL/TIMEOUT", FAIL if other else PASS, value, target, detail, figures
    )


def tp_sl_line(logs: EventLogs) -> CheckLine:
    target = "TP in profit, SL at a loss, long and short"
    checks = tp_sl_checks(logs)
    longs, shorts = checks.checked[LONG_SIDE], checks.checked[SHORT_SIDE]
    wrong = [
        f"{w.symbol} {w.side} {w.reason} {w.entry_price:g} -> {w.exit_price:g}"
        for w in checks.wrong
    ]
    value = (
        f"long {longs['TP']} TP / {longs['SL']} SL, short {shorts['TP']} TP / {shorts['SL']} SL,"
        f" {len(wrong)} wrong"
    )
    figures = {
        "long_tp": longs["TP"],
        "long_sl": longs["SL"],
        "short_tp": shorts["TP"],
        "short_sl": shorts["SL"],
        "wrong": len(wrong),
    }
    if wrong:
        return CheckLine("TP/SL logic", FAIL, value, target, "; ".join(wrong[:5]), figures)
    missing = [name for name, c in (("long", longs), ("short", shorts)) if not c]
    if missing:
        detail = f"no {' or '.join(missing)} TP/SL exits yet"
        return CheckLine("TP/SL logic", NA, value, target, detail, figures)
    return CheckLine("TP/SL logic", PASS, value, target, "", figures)


def _breach_text(breach: Breach) -> str:
    if breach.gap_s is None:
        return f"{breach.symbol} entry at {_stamp(breach.ts)} while a trade was working"
    return f"{breach.symbol} entry at {_stamp(breach.ts)} {breach.gap_s:.0f} s after an exit"


def limits_line(logs: EventLogs, targets: Targets) -> CheckLine:
    target = f"one trade at a time per symbol, {targets.cooldown_s:g} s cooldown"
    limits = position_limits(logs, targets.cooldown_s)
    entries, breaches = limits.entries, [_breach_text(b) for b in limits.breaches]
    figures = {"entries": entries, "breaches": len(breaches)}
    if not entries:
        return CheckLine("Cooldown and one position", NA, "no entries", target, "", figures)
    return CheckLine(
        "Cooldown and one position",
        FAIL if breaches else PASS,
        f"{len(breaches)} breaches in {entries} entries",
        target,
        "; ".join(breaches[:5]),
        figures,
    )


def integrity_line(logs: EventLogs) -> CheckLine:
    target = "every line readable, every trade's fill logged"
    orphans = orphan_exits(logs)
    parts = []
    if logs.torn_lines:
        parts.append(f"{len(logs.torn_lines)} torn line(s) skipped (crash mid-write)")
    if logs.bad_lines:
        where = ", ".join(f"{p.name}:{n}" for p, n in logs.bad_lines[:5])
        parts.append(f"{len(logs.bad_lines)} unreadable line(s): {where}")
    if orphans:
        parts.append(f"{orphans} exit(s) without a logged entry fill")
    if logs.duplicates_dropped:
        parts.append(f"{logs.duplicates_dropped} node event(s) repeated across files counted once")
    return CheckLine(
        "Event log integrity",
        FAIL if logs.bad_lines or orphans else PASS,
        f"{len(logs.events)} events in {len(logs.files)} file(s)",
        target,
        "; ".join(parts),
        {
            "events": len(logs.events),
            "files": len(logs.files),
            "torn": len(logs.torn_lines),
            "bad": len(logs.bad_lines),
            "orphan_exits": orphans,
            "duplicates": logs.duplicates_dropped,
        },
    )
