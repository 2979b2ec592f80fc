"""Scan sample-market parameters: System A's result on each generated market.

    .venv/bin/python -m benchmarks.edge_scan '[{"reversion_probability": 0.0}, {}]' [--days 4]

Each JSON object overrides ``SampleConfig`` fields; prints the portfolio metrics of the default
backtest config (conservative fills, 2 bps maker) on that market.
"""

import json
import sys
from pathlib import Path

from liqcascade.backtests.metrics import compute_metrics
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.runner import run_spec
from liqcascade.data_loaders.sample_catalog import build_sample_catalog

combos = json.loads(sys.argv[1])
days = int(sys.argv[sys.argv.index("--days") + 1]) if "--days" in sys.argv else 4
for ov in combos:
    root = Path("/tmp/edge") / ("_".join(f"{k}{v}" for k, v in ov.items()) or "default")
    build_sample_catalog(
        root / "raw",
        root / "catalog",
        {"days": days, "bar_history_days": 3, **ov},
        echo=lambda *_: None,
    )
    spec = load_runs(
        Path("configs/backtest_sample.toml"), [f"run.catalog={root / 'catalog'}"], scenarios=False
    )[0]
    r = run_spec(spec, root / "out")
    m = compute_metrics(r.records)
    print(
        ov,
        {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in m.items()
            if k
            in (
                "trades",
                "fill_rate",
                "win_rate",
                "tp_share",
                "sl_share",
                "avg_return_per_trade_pct",
                "total_return_pct",
                "sharpe",
            )
        },
        f"{r.seconds:.0f}s",
        flush=True,
    )
    r.dispose()
