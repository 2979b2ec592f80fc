"""``liqcascade init``: a folder of the user's own with editable copies of the shipped configs.

Like freqtrade's ``create-userdir``: the package's files stay pristine, the user edits copies.
The layout matches the relative paths inside the shipped files (they resolve against the file,
see :mod:`liqcascade.config_files`)::

    DIR/configs/*.toml   editable copies (strategy parameters, runs, nodes, instruments)
    DIR/data/            catalogs and raw files (``../data/catalog`` from a config)
    DIR/output/          backtest reports and session logs
"""

from __future__ import annotations

import shutil
from pathlib import Path

from liqcascade.configs import shipped_configs


def init_user_folder(directory: Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """
    Copy every shipped config into ``directory/configs`` and create ``data/`` and ``output/``.

    Returns
    -------
    tuple[list[Path], list[Path]]
        The files written, and the files kept because they already existed (without ``force``).

    """
    configs = Path(directory) / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "output"):
        (Path(directory) / sub).mkdir(exist_ok=True)
    written, kept = [], []
    for source in shipped_configs():
        target = configs / source.name
        if target.exists() and not force:
            kept.append(target)
            continue
        shutil.copyfile(source, target)
        written.append(target)
    return written, kept
