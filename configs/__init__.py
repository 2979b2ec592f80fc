"""The configuration files shipped with the plugin (package data: ``liqcascade.configs``).

In a checkout they are the repository's ``configs/`` folder; installed, they live inside the
package. :func:`shipped_config` finds one by name from any working directory, and
``liqcascade init DIR`` copies them all into a folder of the user's own to edit.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def configs_dir() -> Path:
    """The folder holding the shipped ``*.toml`` files."""
    return Path(str(files(__name__)))


def shipped_configs() -> list[Path]:
    """Every shipped config file, sorted by name."""
    return sorted(configs_dir().glob("*.toml"))


def shipped_config(name: str) -> Path:
    """
    A shipped config file by name (``"cascade_mm"`` or ``"cascade_mm.toml"``).

    Raises
    ------
    FileNotFoundError
        If no shipped file has that name (the message lists the names there are).

    """
    file_name = name if name.endswith(".toml") else f"{name}.toml"
    path = configs_dir() / file_name
    if not path.is_file():
        names = ", ".join(p.stem for p in shipped_configs())
        raise FileNotFoundError(f"no shipped config {name!r} (shipped: {names})")
    return path
