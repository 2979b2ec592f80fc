"""Pictures of sweeps and walk-forwards: HTML files (plotly), like the backtest reports.

* :func:`plot_heatmap`: the objective over two swept parameters (the best over any others);
* :func:`plot_parallel`: every setting as a line across all swept parameters and the objective;
* :func:`plot_walk_forward`: in-sample vs out-of-sample per fold, the stitched out-of-sample
  equity, and the parameter path across folds.

Every number drawn comes from the result rows (engine runs); nothing is interpolated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _label(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | tuple) else f"{value}"


def settings_frame(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> pd.DataFrame:
    """One line per row: each parameter's value (as text), objective, feasible, trades."""
    records = []
    for row in rows:
        setting = dict(row["setting"])
        records.append(
            {
                **{k: _label(setting[k]) for k in keys},
                "objective": row["objective"],
                "feasible": row["feasible"],
                "trades": row["metrics"].get("trades"),
            }
        )
    return pd.DataFrame.from_records(records, columns=[*keys, "objective", "feasible", "trades"])


def _order(values: Sequence[str]) -> list[str]:
    """Numeric labels in numeric order, the rest as first seen."""
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique, key=float)
    except ValueError:
        return unique


def plot_heatmap(
    rows: Sequence[dict[str, Any]],
    x: str,
    y: str,
    objective: str,
    maximize: bool,
    out_path: Path,
) -> Path:
    """
    The objective over parameters ``x`` and ``y``; with more parameters, each cell shows the
    best feasible setting among those sharing its ``x`` and ``y``. Infeasible cells are blank.
    """
    frame = settings_frame(rows, [x, y])
    feasible = frame[frame["feasible"]]
    best = feasible.groupby([y, x])["objective"]
    table = (best.max() if maximize else best.min()).unstack(x)
    xs, ys = _order(frame[x]), _order(frame[y])
    table = table.reindex(index=ys, columns=xs)
    counts = frame.groupby([y, x]).size().unstack(x).reindex(index=ys, columns=xs)
    text = [
        [
            "" if pd.isna(v) else f"{v:.3g}<br>({int(n)} run{'s' if n > 1 else ''})"
            for v, n in zip(table.loc[r], counts.loc[r].fillna(0), strict=True)
        ]
        for r in ys
    ]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=float),
            x=xs,
            y=ys,
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn" if maximize else "RdYlGn_r",
            colorbar={"title": objective},
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{objective} %{{z:.4g}}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{objective} by {x} and {y} (best feasible setting per cell; blank = none)",
        xaxis_title=x,
        yaxis_title=y,
        xaxis_type="category",
        yaxis_type="category",
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=True)
    return out_path


def plot_parallel(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], objective: str, out_path: Path
) -> Path:
    """Parallel coordinates: one line per feasible setting, coloured by the objective."""
    frame = settings_frame(rows, keys)
    frame = frame[frame["feasible"]]
    dimensions = []
    for key in keys:
        order = _order(list(frame[key]))
        dimensions.append(
            {
                "label": key.rsplit(".", 1)[-1],
                "values": [order.index(v) for v in frame[key]],
                "tickvals": list(range(len(order))),
                "ticktext": order,
            }
        )
    dimensions.append({"label": objective, "values": frame["objective"].astype(float)})
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": frame["objective"].astype(float),
                "colorscale": "RdYlGn",
                "showscale": True,
            },
            dimensions=dimensions,
        )
    )
    fig.update_layout(title=f"Feasible settings by parameter, coloured by {objective}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=True)
    return out_path


def plot_walk_forward(
    folds: pd.DataFrame,
    oos_equity: pd.Series,
    objective: str,
    param_keys: Sequence[str],
    out_path: Path,
) -> Path:
    """
    Walk-forward: in-sample vs out-of-sample bars per fold (objective and mean daily return),
    the stitched out-of-sample equity with fold boundaries, and the parameter path.
    """
    fig = make_subplots(
        rows=3 + len(param_keys),
        cols=1,
        subplot_titles=[
            f"{objective}: in-sample (best on train) vs out-of-sample (next test fold; "
            "no bar: undefined)",
            "mean daily return %: in-sample vs out-of-sample",
            "stitched out-of-sample equity (each test fold traded with its train fold's best)",
            *[f"parameter path: {k}" for k in param_keys],
        ],
        vertical_spacing=0.08 if param_keys else 0.1,
    )
    labels = [f"fold {i}" for i in folds["fold"]]
    for column, name, colour in (
        ("is_objective", "in-sample", "#1f77b4"),
        ("oos_objective", "out-of-sample", "#ff7f0e"),
    ):
        fig.add_trace(
            go.Bar(x=labels, y=folds[column], name=name, marker_color=colour, legendgroup=name),
            row=1,
            col=1,
        )
    for column, name, colour in (
        ("is_daily_return_pct", "in-sample", "#1f77b4"),
        ("oos_daily_return_pct", "out-of-sample", "#ff7f0e"),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=folds[column],
                name=name,
                marker_color=colour,
                legendgroup=name,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    end = pd.Timestamp(folds["test_end"].iloc[-1]).tz_localize(None)
    fig.add_trace(
        go.Scatter(  # held flat to the last test day's end: days without trades count too
            x=[*oos_equity.index.tz_localize(None), end],
            y=[*oos_equity.to_numpy(), oos_equity.iloc[-1]],
            mode="lines",
            line_shape="hv",
            name="out-of-sample equity",
        ),
        row=3,
        col=1,
    )
    for start in folds["test_start"]:
        fig.add_vline(x=pd.Timestamp(start).tz_localize(None), line_dash="dot", row=3, col=1)
    for index, key in enumerate(param_keys):
        raw = list(folds[f"param:{key}"])
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        values = raw if numeric else [_label(v) for v in raw]  # numbers on a number axis
        fig.add_trace(
            go.Scatter(x=labels, y=values, mode="lines+markers", name=key, showlegend=False),
            row=4 + index,
            col=1,
        )
    fig.update_layout(barmode="group", height=320 * (3 + len(param_keys)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out_path, include_plotlyjs=True)
    return out_path
