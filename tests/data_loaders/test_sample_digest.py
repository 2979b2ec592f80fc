"""The sample generator's output, pinned: a small sample's file contents, digest by digest.

The digests were computed with the generator before it was split into model and writer modules;
any change to the model's draws, the order of its random streams or a writer's formatting
changes one of them. The gzip members are compared decompressed (the compressor's own bytes may
differ between zlib builds); that the same config gives the same compressed bytes is
``test_same_config_gives_identical_bytes``.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from liqcascade.data_loaders.sample import SampleConfig
from liqcascade.data_loaders.sample import generate_sample

# One trade-level day holding the trade-level crash; ten history days with three crashes and
# one news hour.
PINNED = SampleConfig(
    days=1, bar_history_days=10, symbols=("ETHUSDT", "DOGEUSDT"), trade_rate_scale=0.05
)
DIGESTS = {
    "trades/ETHUSDT2025-03-03.csv.gz": (
        "06113efaa0b0e2f2e1a01faebb1182b649fb43a46f2feb904898d74d6a00507d"
    ),
    "trades/DOGEUSDT2025-03-03.csv.gz": (
        "50b99576d8940a0fd025d3880bd39d4c2f9151301b3ed79fbad15e27e78e5191"
    ),
    "liquidations/allLiquidation_ETHUSDT_2025-03-03.jsonl.gz": (
        "f809836603f5374419db427c64deff7a17c6246b1f3f6190d077f6c01fa76fc4"
    ),
    "liquidations/allLiquidation_DOGEUSDT_2025-03-03.jsonl.gz": (
        "ce6dd2febc440b499278b9ecb52a9635b2cb1b3e46366f0cbf67f9eaa7d3534c"
    ),
    "klines/ETHUSDT_60_2025-02-21_2025-03-03.csv": (
        "0b52c4d83503cefbd05954ccdf71600937d6426536cfaac217df069ce1cc4064"
    ),
    "klines/DOGEUSDT_60_2025-02-21_2025-03-03.csv": (
        "7c8f8b57209c3eae606a694cfcfe6732be468d8957f035d20bcf32099ed66eb0"
    ),
}


def test_a_small_sample_has_the_pinned_contents(tmp_path: Path) -> None:
    files = generate_sample(tmp_path, PINNED)
    written = {}
    for path in files.trades + files.liquidations + files.klines:
        raw = path.read_bytes()
        content = gzip.decompress(raw) if path.suffix == ".gz" else raw
        written[path.relative_to(tmp_path / "bybit").as_posix()] = hashlib.sha256(
            content
        ).hexdigest()
    assert written == DIGESTS
