"""Build the sample catalog: generate raw sample files, then load them like real data.

A stamp file records the generator's configuration and the hash of every loader module's source,
so ``make backtest`` on an up-to-date checkout skips both steps, and any change to the generator
or to how files are loaded (e.g. a new receipt-time rule) rebuilds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAMP = ".sample-stamp.json"


def _fingerprint(config: Any) -> dict[str, Any]:
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):  # the generator and the loaders
        digest.update(module.name.encode() + module.read_bytes())
    return {
        "config": dataclasses.asdict(config),
        "loaders_sha256": digest.hexdigest(),
    }


def build_sample_catalog(
    out: Path,
    catalog: Path,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> Path:
    """
    Generate the sample market into ``out`` and load it into ``catalog``.

    Returns the catalog path. Does nothing if both are up to date (unless ``force``).
    """
    from liqcascade.data_loaders.load import LoadOptions
    from liqcascade.data_loaders.load import load_files
    from liqcascade.data_loaders.sample import SampleConfig
    from liqcascade.data_loaders.sample import generate_sample

    config = SampleConfig(**(overrides or {}))
    # As the stamp reads back (JSON has lists, the config tuples): else it never matches.
    fingerprint = json.loads(json.dumps(_fingerprint(config)))
    stamp = Path(catalog) / STAMP
    if not force and stamp.exists() and json.loads(stamp.read_text()) == fingerprint:
        echo(f"sample catalog {catalog} is up to date")
        return Path(catalog)

    if Path(catalog).exists() and any(Path(catalog).iterdir()):
        if not stamp.exists():
            raise FileExistsError(
                f"{catalog} holds data that is not a sample catalog; choose another --catalog"
            )
        shutil.rmtree(catalog)  # a sample catalog is derived data: rebuild it whole
    echo(f"generating sample market ({config.days} days, {len(config.symbols)} symbols) in {out}")
    files = generate_sample(Path(out), config)
    jobs = [
        ("bybit-trades", files.trades),
        ("bybit-liquidations", files.liquidations),
        ("bybit-klines", files.klines),
    ]
    for source_format, paths in jobs:
        load_files(source_format, paths, Path(catalog), LoadOptions(), progress=progress)
    stamp.write_text(json.dumps(fingerprint, indent=2))
    return Path(catalog)
