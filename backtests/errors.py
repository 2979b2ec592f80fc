"""The error every configuration check raises: a value that cannot be used, named by its key.

Kept apart from :mod:`liqcascade.backtests.run_config` (which re-exports it) so the system
registry (:mod:`liqcascade.backtests.systems`), which the run config reads through, can raise it
without importing the run config back.
"""


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""
