"""Operator controls of a paper/live node: kill switch, exposure cap, clock and maintenance.

* **Kill switch.** ``liqcascade flatten --config FILE`` writes ``halt.json`` into the node's
  state folder, then cancels every order and closes every position; while the file exists no
  strategy opens a new entry (a running node notices at once: the file is read at every
  cascade, and its supervisor flattens within a second). ``liqcascade resume`` removes it.
  The halt is a file so that it survives restarts and crashes: a node restarted by systemd
  after a flatten stays flat.
* **Exposure cap.** Account-wide, across the node's strategies: at most ``max_symbols``
  instruments with a position or a working entry, and at most ``max_notional`` USDT of
  positions plus working entries (the new entry included).
* **Clock drift.** Receipt times are the strategy's clock and Bybit refuses requests whose
  timestamp is off by more than the receive window: at startup the local clock is compared
  with Bybit's ``GET /v5/market/time`` and the node refuses to start above ``max_clock_drift_ms``.
* **Maintenance.** Bybit publishes planned maintenance at ``GET /v5/system/status``
  (``begin``/``end`` in ms, ``state``); every window not yet completed becomes a blackout (no
  new entries from ``margin`` before it begins until ``margin`` after it ends), refreshed every
  ``poll_s``.

Gates are ``gate(strategy, now_ns) -> reason | None`` callables added to each strategy with
:meth:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker.add_entry_gate`.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from liqcascade.strategies.cascade_mm import read_json
from liqcascade.strategies.cascade_mm import write_json_atomic

HALT_FILE = "halt.json"
NS_PER_MS = 1_000_000
#: Bybit's public REST hosts (mainnet also serves the public data paper trading uses).
REST_URLS = {"mainnet": "https://api.bybit.com", "demo": "https://api-demo.bybit.com"}


class ClockDriftError(RuntimeError):
    """The local clock is too far from the exchange's."""


# -- kill switch -------------------------------------------------------------------------------


class HaltFile:
    """
    The persisted halt of one node's state folder.

    Parameters
    ----------
    state_dir : Path
        The node's state folder (live: per environment).

    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / HALT_FILE

    def read(self) -> dict[str, Any] | None:
        """The halt record, or ``None`` when trading is allowed."""
        return read_json(self.path)

    def set(self, reason: str) -> dict[str, Any]:
        """Halt new entries (idempotent: the first halt's time is kept)."""
        record = self.read() or {
            "since": datetime.now(UTC).isoformat(),
            "reason": reason,
        }
        write_json_atomic(self.path, record)
        return record

    def clear(self) -> bool:
        """Allow entries again; ``False`` if there was no halt."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def gate(self, strategy: Any, now_ns: int) -> str | None:
        """Entry gate: refuse while halted."""
        record = self.read()
        if record is None:
            return None
        return f"halted since {record.get('since')} ({record.get('reason')}): liqcascade resume"


# -- exposure ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureCap:
    """
    Account-wide limits on what the node's strategies hold at once.

    Parameters
    ----------
    max_symbols : int | None
        Instruments with an open position or a working entry, the new one included.
    max_notional : float | None
        USDT of open positions (at their entry price) plus working entries, the new entry
        (``trade_notional``) included.

    """

    max_symbols: int | None = None
    max_notional: float | None = None

    def gate(self, strategy: Any, now_ns: int) -> str | None:
        """Entry gate for ``strategy`` (a ``CascadeMarketMaker``): refuse beyond the caps."""
        cache = strategy.cache
        busy: set[Any] = set()
        notional = Decimal(0)
        for position in cache.positions_open():
            busy.add(position.instrument_id)
            notional += abs(position.quantity.as_decimal()) * Decimal(str(position.avg_px_open))
        for order in cache.orders_open():
            if order.is_reduce_only or not order.has_price:
                continue
            busy.add(order.instrument_id)
            notional += order.leaves_qty.as_decimal() * order.price.as_decimal()
        busy.discard(strategy.instrument_id)
        if self.max_symbols is not None and len(busy) + 1 > self.max_symbols:
            return f"exposure cap: {len(busy)} other symbols busy (max_symbols {self.max_symbols})"
        total = float(notional) + float(strategy.config.trade_notional)
        if self.max_notional is not None and total > self.max_notional:
            limit = self.max_notional
            return f"exposure cap: {total:.0f} USDT with this entry (max_notional {limit:.0f})"
        return None


# -- exchange clock and maintenance ------------------------------------------------------------


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"User-Agent": "liqcascade"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def clock_drift_ms(rest_url: str, timeout_s: float = 5.0) -> float:
    """
    Local clock minus Bybit's (``GET /v5/market/time``), in ms, at the request's midpoint.

    Raises
    ------
    OSError
        Network failure.
    ValueError
        An answer without Bybit's time fields.

    """
    sent = time.time_ns()
    payload = _get_json(f"{rest_url.rstrip('/')}/v5/market/time", timeout_s)
    received = time.time_ns()
    try:
        server_ns = int(payload["result"]["timeNano"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{rest_url}/v5/market/time: unexpected answer {payload!r:.200}") from e
    return ((sent + received) / 2 - server_ns) / NS_PER_MS


def check_clock(rest_url: str, max_drift_ms: float) -> float:
    """
    Refuse to trade on a clock that disagrees with the exchange.

    Raises
    ------
    ClockDriftError
        Drift above ``max_drift_ms``, or the server time cannot be read.

    """
    try:
        drift = clock_drift_ms(rest_url)
    except (OSError, ValueError) as e:
        raise ClockDriftError(f"cannot read Bybit's server time: {e}") from e
    if abs(drift) > max_drift_ms:
        raise ClockDriftError(
            f"local clock is {drift:+.0f} ms off Bybit's server time (max_clock_drift_ms "
            f"{max_drift_ms:.0f}): sync it (chrony/ntp) before trading"
        )
    return drift


@dataclass
class MaintenanceWindows:
    """
    Blackouts from Bybit's announced system maintenance (``GET /v5/system/status``).

    Parameters
    ----------
    rest_url : str
        Bybit's REST base URL.
    margin_s : float
        No new entries this long before a window begins and after it ends.

    """

    rest_url: str
    margin_s: float = 900.0

    def __post_init__(self) -> None:
        self.windows: list[tuple[int, int, str]] = []
        self.last_error: str | None = None

    def refresh(self, timeout_s: float = 5.0) -> list[tuple[int, int, str]]:
        """Fetch the status list; keep every window not completed. Never raises."""
        try:
            payload = _get_json(f"{self.rest_url.rstrip('/')}/v5/system/status", timeout_s)
            items = payload["result"]["list"]
            margin = int(self.margin_s * 1e9)
            windows = []
            for item in items:
                if str(item.get("state", "")).lower() == "completed":
                    continue
                begin = int(item["begin"]) * NS_PER_MS - margin
                end = int(item["end"]) * NS_PER_MS + margin
                windows.append((begin, end, str(item.get("title", ""))))
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.last_error = f"{type(e).__name__}: {e}"
            return self.windows  # keep what was known
        self.windows = windows
        self.last_error = None
        return windows

    def gate(self, strategy: Any, now_ns: int) -> str | None:
        """Entry gate: refuse inside an announced maintenance window (with its margins)."""
        for begin, end, title in self.windows:
            if begin <= now_ns < end:
                return f"Bybit maintenance window ({title})"
        return None
