"""Operator notifications from a paper/live node, through Apprise.

`Apprise <https://github.com/caronc/apprise>`_ speaks Telegram, Slack, Discord, e-mail,
webhooks and ~100 other services, each configured by one URL (``tgram://bot/chat``,
``slack://...``, ``mailto://...``, ``json://host/path``). The URLs come from the environment
only - they often embed tokens - in ``LIQCASCADE_ALERT_URLS`` (several separated by spaces or
commas); without it alerts are only logged.

What is sent (``kind`` in the message title):

* ``startup_failed``   the node did not reach RUNNING within its timeout, or a strategy stopped;
* ``feed_down``        the liquidation feed has been disconnected longer than
  ``disconnect_after_s``; ``feed_up`` when it is back;
* ``subscription_refused`` Bybit refused a topic (it is retried with backoff);
* ``order_rejected``   the venue rejected an order (entries, exits, closes);
* ``market_close``     a position is closed at market (timeout, refused stop, flatten);
* ``loss_limit``       a daily/weekly loss limit stopped new entries;
* ``halted``           the kill switch (``liqcascade flatten``) is set;
* ``positions_left``   the node stopped with positions open (their exchange-side exits stay).

Notifications go out on a worker thread: a slow mail server never stalls the event loop.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

ALERT_URLS_ENV = "LIQCASCADE_ALERT_URLS"
_log = logging.getLogger("liqcascade.alerts")


@dataclass(frozen=True)
class Alert:
    """One alert: its kind, title and body."""

    kind: str
    title: str
    body: str


def alert_urls(environ: Mapping[str, str] | None = None) -> list[str]:
    """The notification URLs configured in ``LIQCASCADE_ALERT_URLS``."""
    environ = os.environ if environ is None else environ
    return [u for u in re.split(r"[\s,]+", environ.get(ALERT_URLS_ENV, "")) if u]


class Alerts:
    """
    Send alerts to every configured Apprise URL (and to the log).

    Parameters
    ----------
    urls : Sequence[str], optional
        Apprise URLs; default :func:`alert_urls` from the environment.
    prefix : str
        Put before every title (the trader id, so one channel can serve several nodes).
    log : callable, optional
        Receives ``(kind, title, body)`` of every alert (default: the ``liqcascade.alerts``
        logger at WARNING).

    Raises
    ------
    ValueError
        If a URL is not one Apprise understands (named without its secrets).

    """

    def __init__(
        self,
        urls: Sequence[str] | None = None,
        prefix: str = "liqcascade",
        log: Any = None,
    ) -> None:
        self.prefix = prefix
        self.sent: list[Alert] = []
        self._lock = threading.Lock()
        self._apprise: Any = None
        urls = alert_urls() if urls is None else list(urls)
        if urls:
            try:
                import apprise  # the `live` extra: only needed once a URL is configured
            except ImportError as e:
                raise ValueError(
                    f"{ALERT_URLS_ENV} is set but Apprise is not installed: "
                    'pip install "nautilus-liquidation-cascades[live]"'
                ) from e
            self._apprise = apprise.Apprise()
            for url in urls:
                if not self._apprise.add(url):
                    scheme = url.split("://", 1)[0]
                    raise ValueError(f"{ALERT_URLS_ENV}: a {scheme}:// URL Apprise cannot use")
        self._log = log
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")

    @property
    def enabled(self) -> bool:
        """Whether any notification URL is configured."""
        return self._apprise is not None and len(self._apprise) > 0

    def send(self, kind: str, body: str) -> None:
        """Log and (in the background) notify ``kind`` with ``body``. Never raises."""
        alert = Alert(kind=kind, title=f"[{self.prefix}] {kind}", body=body)
        with self._lock:
            self.sent.append(alert)
        if self._log is not None:
            self._log(kind, alert.title, body)
        else:
            _log.warning(f"{alert.title}: {body}")
        if self.enabled:
            self._pool.submit(self._notify, alert)

    def _notify(self, alert: Alert) -> None:
        try:
            if not self._apprise.notify(title=alert.title, body=alert.body):
                _log.error(f"alert {alert.kind} could not be delivered to every URL")
        except Exception as e:  # notifications must never take the node down
            _log.error(f"alert {alert.kind} failed: {type(e).__name__}: {e}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (bounded), then stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=False)
