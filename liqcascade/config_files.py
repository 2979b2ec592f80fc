"""Where a config file is, and what the relative paths inside it mean.

Two ways to name a config on the command line:

* **a path** (``--config my/run.toml``): every relative path in the file resolves against the
  file's own folder, whatever the working directory. A file that says
  ``strategy = "cascade_mm.toml"`` and ``catalog = "../data/catalog"`` means the files next to
  it and the catalog beside its folder - the layout ``liqcascade init DIR`` writes
  (``DIR/configs/*.toml``, ``DIR/data/``, ``DIR/output/``).
* **a shipped preset's name** (``--config backtest_sample``), when no such file exists: the
  preset is read from the package. Its references to other configs (``strategy``,
  ``instruments``) resolve inside the package; its data paths (catalog, output, state) resolve
  as if ``liqcascade init .`` had copied it to ``./configs/`` - the package folder is no place
  for data.

Paths given as ``key=value`` overrides on the command line are the user's own typing and
resolve against the working directory, as every command-line path does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from liqcascade.configs import configs_dir
from liqcascade.configs import shipped_config
from liqcascade.configs import shipped_configs


class ConfigNotFoundError(FileNotFoundError):
    """Neither a file nor a shipped preset of that name; the message lists the presets."""


@dataclass(frozen=True)
class ConfigSource:
    """A located config file and the folders its relative paths resolve against."""

    path: Path
    #: Relative references to other config files (strategy, instruments) resolve here.
    refs_anchor: Path
    #: Relative data locations (catalog, output, sessions, state) resolve here.
    data_anchor: Path

    @property
    def is_preset(self) -> bool:
        """Read from the package by name rather than from a path."""
        return self.refs_anchor != self.data_anchor

    def ref(self, value: str | Path) -> Path:
        """A referenced config file (absolute paths are kept as they are)."""
        return _under(self.refs_anchor, value)

    def data(self, value: str | Path) -> Path:
        """A data location named in the file."""
        return _under(self.data_anchor, value)


def _under(anchor: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    # normpath folds "configs/../data" into "data" without resolving symlinks.
    return path if path.is_absolute() else Path(os.path.normpath(anchor / path))


def locate_config(name_or_path: str | Path) -> ConfigSource:
    """
    Find a config by path, else by the name of a shipped preset.

    Raises
    ------
    ConfigNotFoundError
        If it is neither (the message lists the shipped presets).

    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        folder = path.resolve().parent
        return ConfigSource(path, folder, folder)
    # A bare name that is not a file here is a preset's: a folder called "live" in the working
    # directory (this repository has one) must not hide the "live" preset.
    if path.parent == Path("."):
        try:
            preset = shipped_config(path.name)
        except FileNotFoundError:
            pass
        else:
            return ConfigSource(preset, configs_dir(), Path.cwd() / "configs")
    names = ", ".join(p.stem for p in shipped_configs())
    raise ConfigNotFoundError(f"{name_or_path}: no such file, nor a shipped preset ({names})")
