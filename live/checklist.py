"""The paper-trading checklist (seed section 9, "Paper Trade First"): its targets and verdicts.

The figures come from :mod:`liqcascade.live.checklist_measures` (which reads the logs through
:mod:`liqcascade.live.session_logs`); :mod:`liqcascade.live.checklist_lines` judges each against
:class:`Targets` and writes its text; this module puts the lines in order and writes the table
and the ``liqcascade checklist`` command's output.

Input: the JSON-lines event logs of a paper or live session - one per symbol
(``events-<SYMBOL>.jsonl``, written by
:class:`liqcascade.strategies.cascade_mm.CascadeMarketMaker`) plus the node-wide events of
:mod:`liqcascade.live.monitor` (``session_start``, ``session_stop``, ``ws_connected``,
``ws_disconnected``, ``status``), in their own file (``events-node.jsonl`` in the same folder is
picked up) or repeated in every symbol's file (identical node-wide lines found in several files
count once). A torn last line (a crash mid-write) is skipped and reported; an unreadable line
elsewhere fails the log-integrity line.

Lines and how each is judged
----------------------------
=========================  ======================================================  ===========
Line                       Figure                                                  Target
=========================  ======================================================  ===========
Session span               last event - first event                                >= 7 days
Websocket stable 24h+      longest uninterrupted connection (``ws_*`` events;      >= 24 h
                           ``status`` samples when there are none)
Websocket uptime           connected time / session span; reconnects               >= 99 % *
Cascades/day <SYMBOL>      ``cascade`` events / session days                       5-9 /day
Reaction time              ``entry_submitted.ts - declared_ns`` (the 2nd large     p99 < 3 s
                           liquidation's receipt), first submission per cascade
Fill rate                  cascades with an ``entry_fill`` / cascades whose entry  50-80 %
                           ended (filled, ``entry_unfilled`` or finally rejected);
                           entries still working at the end are left out
Win rate                   ``exit`` events with ``pnl > 0`` / all exits            65-75 %
Exit split TP/SL/TIMEOUT   shares of ``exit.reason``                               every exit
                                                                                   TP, SL or
                                                                                   TIMEOUT
TP/SL logic                TP exits priced in profit and SL exits at a loss, for   both sides,
                           long and short entries                                  none wrong
Cooldown and one position  no entry while an entry or position is working, none    no breach
                           within ``cooldown_s`` of the symbol's last exit
Event log integrity        unreadable lines; exits without a logged entry fill     none
=========================  ======================================================  ===========

(*) the uptime target is this project's choice; the seed only asks for "stable for 24h+".
Rates per day need at least ``min_days_for_rate`` (1 day) of session, the stability line 24 h:
shorter sessions give ``N/A`` with the figure still shown. Every line is ``N/A`` when its
events are absent. Percentiles are numpy's linear interpolation.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from liqcascade.live.checklist_lines import FAIL
from liqcascade.live.checklist_lines import NA
from liqcascade.live.checklist_lines import PASS
from liqcascade.live.checklist_lines import CheckLine
from liqcascade.live.checklist_lines import Targets
from liqcascade.live.checklist_lines import cascade_lines
from liqcascade.live.checklist_lines import fill_line
from liqcascade.live.checklist_lines import integrity_line
from liqcascade.live.checklist_lines import limits_line
from liqcascade.live.checklist_lines import reaction_line
from liqcascade.live.checklist_lines import session_line
from liqcascade.live.checklist_lines import split_line
from liqcascade.live.checklist_lines import tp_sl_line
from liqcascade.live.checklist_lines import websocket_lines
from liqcascade.live.checklist_lines import win_line
from liqcascade.live.session_logs import EventLogs
from liqcascade.live.session_logs import expand_paths
from liqcascade.live.session_logs import read_event_logs

# The lines and the reading functions stay importable from here, where they were before the
# splits.
__all__ = [
    "FAIL",
    "NA",
    "PASS",
    "CheckLine",
    "EventLogs",
    "Targets",
    "checklist",
    "checklist_command",
    "expand_paths",
    "format_checklist",
    "read_event_logs",
]

#: The seed's targets (frozen: safe as a default argument).
DEFAULT_TARGETS = Targets()


# -- public ----------------------------------------------------------------------------------


def checklist(
    event_log_paths: str | Path | Iterable[str | Path],
    targets: Targets = DEFAULT_TARGETS,
) -> list[CheckLine]:
    """
    Compute the paper-trading checklist from event logs.

    Parameters
    ----------
    event_log_paths : str | Path | Iterable
        Event-log files and/or folders (``events-*.jsonl`` inside).
    targets : Targets
        The targets judged against.

    Returns
    -------
    list[CheckLine]
        In order: session, websocket, cascades per symbol, reaction time, fill rate, win rate,
        exit split, TP/SL logic, cooldown/position limits, log integrity.

    Raises
    ------
    FileNotFoundError
        A path that does not exist.

    """
    logs = read_event_logs(event_log_paths)
    session, start, end = session_line(logs, targets)
    return [
        session,
        *websocket_lines(logs, targets, start, end),
        *cascade_lines(logs, targets, start, end),
        reaction_line(logs, targets),
        fill_line(logs, targets),
        win_line(logs, targets),
        split_line(logs),
        tp_sl_line(logs),
        limits_line(logs, targets),
        integrity_line(logs),
    ]


def format_checklist(lines: Sequence[CheckLine], title: str = "Paper-trading checklist") -> str:
    """Render lines as a fixed-width text table, details indented below their line."""
    item_w = max([len(line.item) for line in lines] + [4])
    value_w = max([len(line.value) for line in lines] + [5])
    out = [title, f"{'':6}{'ITEM':<{item_w}}  {'VALUE':<{value_w}}  TARGET"]
    for line in lines:
        out.append(f"{line.status:<6}{line.item:<{item_w}}  {line.value:<{value_w}}  {line.target}")
        if line.detail:
            out.append(f"{'':6}  {line.detail}")
    counts = Counter(line.status for line in lines)
    out.append(f"{counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[NA]} N/A")
    return "\n".join(out)


def checklist_command(
    log: str | Path | Sequence[str | Path],
    as_json: bool = False,
    cooldown_s: float = 300.0,
) -> int:
    """
    Body of ``liqcascade checklist --log FILE_OR_DIR [--log ...] [--json]`` (plain arguments;
    the CLI adds the click decorators and ``sys.exit``s the result).

    Returns
    -------
    int
        The exit code: 0 when no line fails, 1 otherwise.

    Raises
    ------
    click.BadParameter
        A log path that does not exist.

    """
    import click

    try:
        lines = checklist(log, Targets(cooldown_s=cooldown_s))
    except FileNotFoundError as e:
        raise click.BadParameter(str(e), param_hint="--log") from e
    if as_json:
        click.echo(json.dumps([asdict(line) for line in lines], indent=2, default=str))
    else:
        click.echo(format_checklist(lines))
    return 1 if any(line.status == FAIL for line in lines) else 0
