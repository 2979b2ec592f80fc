"""What a cascade market-maker remembers across a restart, and the file that holds it.

One concern: the restart state of :class:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker`
and its on-disk format. :class:`TradeState` is the trade under way (entry, fills, exit orders),
:class:`LossRecords` the closed positions the loss limits count, :class:`StrategyStateFile` the
JSON file one node's strategies share. No engine objects beyond identifiers: what to do with
the state after a restart is :mod:`liqcascade.strategies.restart_adoption`'s business.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.model.identifiers import ClientOrderId

from liqcascade.strategies.cascade_detector import Cascade
from liqcascade.strategies.trading_gate import week_start

STATE_VERSION = 1
#: An order's part in a trade: its tag when the strategy sent it, and the role the state file
#: records for each exit (a venue reports no tags back).
ENTRY, TAKE_PROFIT, STOP_LOSS, TIMEOUT = "ENTRY", "TP", "SL", "TIMEOUT"
FLATTEN = "FLATTEN"  # closed by the operator's kill switch

#: ``(position id, ts_closed, realised pnl)`` of one closed position.
ClosedRecord = tuple[str, int, float]


def write_json_atomic(path: str | Path, data: Any) -> None:
    """
    Write ``data`` as JSON so that a reader (or a crash) sees the old file or the new one,
    never a torn one: a temporary file in the same folder, flushed to disk, then renamed.
    The temporary name is unique per call, so writes that interleave (events published while a
    save is under way) never rename each other's file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: str | Path) -> dict[str, Any] | None:
    """
    Read a JSON object written by :func:`write_json_atomic`; ``None`` if the file is missing.

    Raises
    ------
    ValueError
        If the file is not a JSON object (a restart must not silently forget a position).

    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); fix or remove it") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


class StrategyStateFile:
    """
    Restart state of the ``CascadeMarketMaker`` instances of one node, in one JSON file.

    Format (``version`` 1)::

        {"version": 1,
         "symbols": {
           "ETHUSDT-LINEAR.BYBIT": {
             "strategy_id": "CascadeMarketMaker-ETHUSDT", "updated_ns": 1741010406000000001,
             "cooldown_until_ns": 0,
             "trade": null | {"entry_id": "O-...", "side": "BUY", "declared_ns": ...,
                              "entry_submitted_ns": ..., "first_fill_ns": ... | null,
                              "fill_qty": "1.00", "fill_value": "1997.0000",
                              "exits": {"O-...": "TP", "O-...": "SL"},
                              "take_profit_id": "O-..." | null, "stop_id": "O-..." | null},
             "closed": [["<position id>", <ts_closed_ns>, <realised pnl>], ...],
             "detector": {<the cascade detector's history>}}}}

    Each strategy rewrites only its own section (read, replace, atomic write): safe for the
    strategies of one node, which share its event loop; two nodes must not share a file.

    Parameters
    ----------
    path : str | Path
        The JSON file (created on the first write).
    key : str
        This strategy's section: its instrument id, stable across restarts.

    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = key

    def _read(self) -> dict[str, Any]:
        data = read_json(self.path) or {"version": STATE_VERSION, "symbols": {}}
        if data.get("version") != STATE_VERSION or not isinstance(data.get("symbols"), dict):
            raise ValueError(f"{self.path}: not a version {STATE_VERSION} strategy state file")
        return data

    def load(self) -> dict[str, Any]:
        """This strategy's section (empty if none)."""
        return dict(self._read()["symbols"].get(self.key) or {})

    def save(self, section: dict[str, Any]) -> None:
        """Replace this strategy's section."""
        data = self._read()
        data["symbols"][self.key] = section
        write_json_atomic(self.path, data)

    def closed_records(self) -> list[ClosedRecord]:
        """``(position id, ts_closed, realised pnl)`` recorded by every section."""
        records = []
        for section in self._read()["symbols"].values():
            for position_id, ts_closed, pnl in section.get("closed", []):
                records.append((str(position_id), int(ts_closed), float(pnl)))
        return records


@dataclass
class TradeState:
    """
    One trade of one symbol, from the entry's decision to the position's close.

    A new trade starts from ``TradeState()``; the persisted fields survive a restart through
    :meth:`to_json` / :meth:`from_json` (the venue then decides what of it is still alive).
    """

    entry_id: ClientOrderId | None = None
    cascade: Cascade | None = None  # not persisted: the cascade is gone after a restart
    declared_ns: int | None = None  # the cascade's, also known after a restart
    side: str | None = None  # BUY / SELL (the entry's)
    repriced: bool = False
    entry_submitted_ns: int | None = None
    first_fill_ns: int | None = None
    # Entry fills so far: their average price prices the exits (also of a restored position).
    fill_qty: Decimal = Decimal(0)
    fill_value: Decimal = Decimal(0)
    exit_ids: set[ClientOrderId] = field(default_factory=set)
    # exit -> TP/SL/TIMEOUT (tags are not reported back by a venue: orders adopted after a
    # restart have none)
    roles: dict[ClientOrderId, str] = field(default_factory=dict)
    # The position's one take-profit and one stop (each resized to the open quantity).
    tp_id: ClientOrderId | None = None
    sl_id: ClientOrderId | None = None
    stop_attempts: int = 0  # stops refused for a transient reason, this trade
    stop_given_up: bool = False  # a stop refused for good: the position was closed instead
    closing: bool = False  # closed at market (timeout, refused stop, flatten): no new exits

    @property
    def is_open(self) -> bool:
        """Anything of this trade may still be working (an entry, a fill or an exit)."""
        return self.entry_id is not None or self.first_fill_ns is not None or bool(self.exit_ids)

    def average_fill_price(self) -> Decimal | None:
        """The entry's average fill price so far (``None`` before any fill is known)."""
        return self.fill_value / self.fill_qty if self.fill_qty > 0 else None

    def add_fill(self, price: Decimal, quantity: Decimal) -> None:
        """Count one entry fill (partial fills each count)."""
        self.fill_qty += quantity
        self.fill_value += price * quantity

    def add_exit(self, order_id: ClientOrderId, role: str) -> None:
        """Track an exit order of this trade and its part in it."""
        self.exit_ids.add(order_id)
        self.roles[order_id] = role

    def to_json(self, role_of: Callable[[ClientOrderId], str]) -> dict[str, Any] | None:
        """
        The persisted part, as the state file stores it (``None`` when nothing is open).

        Parameters
        ----------
        role_of : Callable[[ClientOrderId], str]
            An exit's role when none was recorded (read from the order itself).

        """
        if not self.is_open:
            return None
        return {
            "entry_id": self.entry_id.value if self.entry_id else None,
            "side": self.side,
            "declared_ns": self.declared_ns,
            "entry_submitted_ns": self.entry_submitted_ns,
            "first_fill_ns": self.first_fill_ns,
            "fill_qty": str(self.fill_qty),
            "fill_value": str(self.fill_value),
            "exits": {
                i.value: self.roles.get(i) or role_of(i)
                for i in sorted(self.exit_ids, key=lambda i: i.value)
            },
            "take_profit_id": self.tp_id.value if self.tp_id else None,
            "stop_id": self.sl_id.value if self.sl_id else None,
        }

    @classmethod
    def from_json(cls, trade: dict[str, Any]) -> TradeState:
        """A persisted trade, as it was written (the venue decides what survives)."""
        roles = {ClientOrderId(i): r for i, r in (trade.get("exits") or {}).items()}
        tp_id, sl_id = trade.get("take_profit_id"), trade.get("stop_id")
        return cls(
            entry_id=ClientOrderId(trade["entry_id"]) if trade.get("entry_id") else None,
            side=trade.get("side"),
            declared_ns=trade.get("declared_ns"),
            entry_submitted_ns=trade.get("entry_submitted_ns"),
            first_fill_ns=trade.get("first_fill_ns"),
            fill_qty=Decimal(trade.get("fill_qty") or 0),
            fill_value=Decimal(trade.get("fill_value") or 0),
            exit_ids=set(roles),
            roles=roles,
            tp_id=ClientOrderId(tp_id) if tp_id else None,
            sl_id=ClientOrderId(sl_id) if sl_id else None,
            # An adopted entry is not re-priced: the cascade it was priced from is gone.
            repriced=True,
        )


class LossRecords:
    """
    The closed positions the loss limits add up, account-wide and across restarts.

    The cache of a restarted node lacks earlier sessions' closed positions, so each strategy
    also records its own closes (this ISO week only) in the state file; the limits add up the
    records of every symbol in the file plus positions closed this session that no record
    covers. Without a state file (backtests) the session's closes are all there is.

    Parameters
    ----------
    state_file : StrategyStateFile | None
        The node's state file (``None`` in backtests).

    """

    def __init__(self, state_file: StrategyStateFile | None) -> None:
        self._state_file = state_file
        # Positions closed on the account this session, any strategy's:
        # "position_id:ts_closed" -> record. Kept from the current week only, so checking the
        # limits does not grow with the run's length.
        self._account: dict[str, ClosedRecord] = {}
        self.own: list[ClosedRecord] = []  # this symbol's closes, this ISO week (persisted)

    def note_account_close(self, position_id: str, ts_closed: int, pnl: float) -> None:
        """A position closed on the account (any strategy's: the limits are account-wide)."""
        self._account[f"{position_id}:{ts_closed}"] = (position_id, ts_closed, pnl)
        week = week_start(ts_closed)
        if any(closed < week for _, closed, _ in self._account.values()):
            self._account = {k: v for k, v in self._account.items() if v[1] >= week}

    def record_own_close(self, position_id: str, ts_closed: int, pnl: float) -> None:
        """One of this symbol's positions closed (persisted with the state)."""
        self.own.append((position_id, ts_closed, pnl))

    def restore_own(self, saved: list[list[Any]]) -> None:
        """This symbol's records as the state file kept them."""
        self.own = [(str(p), int(t), float(v)) for p, t, v in saved]

    def own_this_week(self, now_ns: int) -> list[ClosedRecord]:
        """This symbol's records of the ISO week holding ``now_ns`` (older ones are dropped)."""
        this_week = week_start(now_ns)
        self.own = [r for r in self.own if r[1] >= this_week]
        return self.own

    def closed_pnls(self, session_start_ns: int) -> list[tuple[int, float]]:
        """``(ts_closed, realised pnl)`` of the account's closed positions, for loss limits."""
        closed = self._account.values()
        if self._state_file is None:  # a backtest sees every close of the run
            return [(ts, pnl) for _, ts, pnl in closed]
        recorded = self._state_file.closed_records()
        known = {(position_id, ts) for position_id, ts, _ in recorded}
        extra = [  # closed this session and recorded by nobody (e.g. another strategy's)
            (ts, pnl)
            for position_id, ts, pnl in closed
            if ts >= session_start_ns and (position_id, ts) not in known
        ]
        return [(ts, pnl) for _, ts, pnl in recorded] + extra
