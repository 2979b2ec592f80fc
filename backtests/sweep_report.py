"""A sweep's report: the ranked table, the best setting and how to reproduce it, the charts."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from liqcascade.backtests.report import format_value
from liqcascade.backtests.research_plots import plot_heatmap
from liqcascade.backtests.research_plots import plot_parallel
from liqcascade.backtests.sweep_space import SweepSpec

#: Columns of the ranked table beside the parameters and the objective.
COLUMNS = (
    "trades",
    "win_rate",
    "total_return_pct",
    "daily_return_pct",
    "max_drawdown_pct",
    "max_drawdown_mtm_pct",
    "sharpe",
)
#: Heatmaps drawn at most (one per pair of parameters).
MAX_HEATMAPS = 6


def backtest_command(config: str, overrides: Sequence[str]) -> str:
    """The plain backtest that reproduces a row."""
    return shlex.join(["liqcascade", "backtest", "--config", config, "--no-scenarios", *overrides])


def ranked_table(spec: SweepSpec, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rank, parameters, objective, feasibility, headline metrics and the row's key."""
    records = []
    for rank, row in enumerate(rows, 1):
        setting = dict(row["setting"])
        record = {"rank": rank}
        record |= {p.key: setting.get(p.key) for p in spec.params}
        record |= {"objective": row["objective"], "feasible": row["feasible"]}
        record |= {c: row["metrics"].get(c) for c in COLUMNS}
        record |= {"seconds": round(row["seconds"], 2), "key": row["key"]}
        records.append(record)
    return pd.DataFrame.from_records(records)


def _text_table(spec: SweepSpec, rows: Sequence[dict[str, Any]], top: int = 15) -> str:
    lines = []
    names = [p.key.rsplit(".", 1)[-1] for p in spec.params]
    header = ["#", *names, spec.objective, "ok", "trades", "return %", "mdd %"]
    lines.append("  ".join(f"{h:>12}" for h in header))
    for rank, row in enumerate(rows[:top], 1):
        setting = dict(row["setting"])
        m = row["metrics"]
        cells = [
            str(rank),
            *[str(setting.get(p.key)) for p in spec.params],
            "-" if row["objective"] is None else f"{row['objective']:.4g}",
            "yes" if row["feasible"] else "no",
            str(m.get("trades")),
            format_value("total_return_pct", m.get("total_return_pct")),
            format_value("max_drawdown_pct", m.get("max_drawdown_pct")),
        ]
        lines.append("  ".join(f"{c:>12}" for c in cells))
    if len(rows) > top:
        lines.append(f"... {len(rows) - top} more in sweep.csv")
    return "\n".join(lines)


def write_sweep_report(
    spec: SweepSpec,
    rows: Sequence[dict[str, Any]],
    folder: Path,
    config: str,
    overrides: Sequence[str],
    charts: bool = True,
) -> Path:
    """Write ``sweep.csv``, ``sweep.txt`` and the charts into ``folder``; return it."""
    ranked_table(spec, rows).to_csv(folder / "sweep.csv", index=False)
    feasible = [r for r in rows if r["feasible"]]
    lines = [f"Sweep: {spec.describe()}", ""]
    lines.append(
        "Every figure is a full engine run through the backtest runner (the same as "
        "`liqcascade backtest`); the best of many settings on one sample is optimistic - "
        "see `liqcascade walk-forward` for how it holds out of sample."
    )
    lines.append("")
    if feasible:
        best = feasible[0]
        lines.append(f"best: {spec.objective} = {best['objective']:.4g}")
        lines.append("reproduce: " + backtest_command(config, [*overrides, *best["overrides"]]))
    else:
        lines.append("no setting satisfies the constraints: there is no best setting")
    lines += ["", _text_table(spec, rows)]
    (folder / "sweep.txt").write_text("\n".join(lines) + "\n")
    if charts and feasible:
        keys = [p.key for p in spec.params]
        maximize = spec.direction == "maximize"
        for x, y in list(combinations(keys, 2))[:MAX_HEATMAPS]:
            name = f"heatmap-{x.rsplit('.', 1)[-1]}-{y.rsplit('.', 1)[-1]}.html"
            plot_heatmap(rows, x, y, spec.objective, maximize, folder / name)
        if len(keys) == 1:
            plot_heatmap(
                [{**r, "setting": [*r["setting"], ["-", "-"]]} for r in rows],
                keys[0],
                "-",
                spec.objective,
                maximize,
                folder / f"heatmap-{keys[0].rsplit('.', 1)[-1]}.html",
            )
        plot_parallel(rows, keys, spec.objective, folder / "parallel.html")
    return folder
