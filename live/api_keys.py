"""Bybit API keys: read only from the environment, and only the selected environment's pair.

Keys go into the exec client's config object only: they are never logged, printed (only the
variables' *names* are) or written to a session folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from liqcascade.backtests.run_config import ConfigError

#: Environment variables holding the keys, per ``--env``. Only their *names* are ever printed.
KEY_ENV_VARS = {
    "demo": ("BYBIT_DEMO_API_KEY", "BYBIT_DEMO_API_SECRET"),
    "mainnet": ("BYBIT_API_KEY", "BYBIT_API_SECRET"),
}
#: Every variable that can hold a Bybit key (the framework reads the mainnet pair from the
#: environment in any client built without explicit keys, e.g. the public data client).
ALL_KEY_VARS = (
    "BYBIT_API_KEY",
    "BYBIT_API_SECRET",
    "BYBIT_DEMO_API_KEY",
    "BYBIT_DEMO_API_SECRET",
    "BYBIT_TESTNET_API_KEY",
    "BYBIT_TESTNET_API_SECRET",
)


def read_api_keys(env: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """
    Return ``(api_key, api_secret)`` for ``env`` from the environment.

    Raises
    ------
    ConfigError
        Naming the missing *variables* (never a value).

    """
    environ = os.environ if environ is None else environ
    names = KEY_ENV_VARS[env]
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigError(f"--env {env}: set {' and '.join(missing)} in the environment")
    return environ[names[0]], environ[names[1]]


def scrub_foreign_keys(env: str | None) -> list[str]:
    """
    Remove every Bybit key variable but ``env``'s own pair from this process's environment.

    The framework's Bybit clients read ``BYBIT_API_KEY``/``BYBIT_API_SECRET`` from the
    environment whenever they are built without keys (the public *data* client always is), so
    a demo session would otherwise load the mainnet key. A paper session (``env`` ``None``)
    keeps none. Returns the names removed (never values).
    """
    keep = set(KEY_ENV_VARS.get(env or "", ()))
    removed = [name for name in ALL_KEY_VARS if name not in keep and name in os.environ]
    for name in removed:
        del os.environ[name]
    return removed
