"""A local HTTP health endpoint for a paper/live node: JSON status and Prometheus metrics.

``GET /health`` -> ``200`` with JSON while the node trades (``"status": "ok"``), ``503`` while it
starts, is degraded (feed down, subscription refused, halted) or failed, so a load balancer, a
systemd watchdog script or ``curl -f`` can use the code alone. ``GET /metrics`` -> Prometheus
text (``prometheus_client``): feed age and connection, reconnects, refused subscriptions,
cascades, orders, fills, rejections, open orders/positions, PnL today.

Bound to ``127.0.0.1`` by default: the status reveals positions and PnL. The server runs in a
daemon thread (the stdlib's ``ThreadingHTTPServer``: two read-only endpoints do not justify a
web framework); the node's loop publishes a fresh snapshot every second with :meth:`update`,
and requests only read that snapshot, so nothing here touches the node's objects from another
thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Counters fed from the strategies' events (name -> help).
EVENT_COUNTERS = {
    "cascades": "Cascades declared",
    "orders": "Orders submitted (entries, exits, closes)",
    "fills": "Order fills",
    "rejections": "Orders rejected by the venue",
    "market_closes": "Positions closed at market",
}
#: Gauges set from the status snapshot (name -> help).
GAUGES = {
    "feed_connected": "1 if the liquidation feed's websocket is open",
    "feed_age_seconds": "Seconds since the feed's last message",
    "feed_reconnects": "Reconnections of the liquidation feed since start",
    "subscriptions_refused": "Topics the exchange currently refuses",
    "open_orders": "Open orders",
    "open_positions": "Open positions",
    "pnl_today": "Realised plus unrealised PnL since 00:00 UTC (quote currency)",
    "trader_running": "1 once the trader is RUNNING",
    "halted": "1 while the kill switch blocks new entries",
}


class HealthServer:
    """
    Serve ``/health`` and ``/metrics`` on ``host:port`` (``port`` 0 = any free port).

    Parameters
    ----------
    host : str
        Address to bind; ``127.0.0.1`` unless you mean to expose it.
    port : int
        TCP port.

    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(f"liqcascade_{name}", text, registry=self.registry)
            for name, text in EVENT_COUNTERS.items()
        }
        self._gauges = {
            name: Gauge(f"liqcascade_{name}", text, registry=self.registry)
            for name, text in GAUGES.items()
        }
        self._status: dict[str, Any] = {"status": "starting"}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> HealthServer:
        """Start serving (returns at once)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def count(self, name: str, amount: float = 1.0) -> None:
        """Increase one of :data:`EVENT_COUNTERS`."""
        self._counters[name].inc(amount)

    def update(self, status: Mapping[str, Any]) -> None:
        """Publish a new status (JSON body) and set the gauges it names."""
        for name, gauge in self._gauges.items():
            value = status.get(name)
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, int | float):
                gauge.set(value)
        with self._lock:
            self._status = dict(status)

    def status(self) -> dict[str, Any]:
        """The last published status."""
        with self._lock:
            return dict(self._status)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/health":
                    status = server.status()
                    code = 200 if status.get("status") == "ok" else 503
                    body = json.dumps(status, default=str).encode()
                    self._reply(code, "application/json", body)
                elif self.path.split("?")[0] == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(server.registry))
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log on stderr

        return Handler
