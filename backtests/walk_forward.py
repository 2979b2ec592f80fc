"""``liqcascade walk-forward``: choose on the past, trade the next days, repeat.

The run config's ``[walk_forward]`` table cuts its data span (as the run's system measures it,
``System.data_span``: System A's trades and liquidations, System B's bars) into folds of whole
UTC days::

    [walk_forward]
    train_days = 3
    test_days = 1
    mode = "rolling"     # the train window slides; "anchored": it always starts at day 0

Fold ``k`` tests days ``[train_days + k * test_days, ... + test_days)``; its train window is
the ``train_days`` before (rolling) or everything before (anchored). On each train window the
config's ``[sweep]`` runs; its best feasible setting then runs on the test window. Every run is
an ordinary backtest with ``run.start``/``run.end`` overrides (``end`` one microsecond before the
next window starts), so each figure equals ``liqcascade backtest`` of that setting and window.
A test run starts cold, like any backtest that starts at ``run.start``: its detector knows no
liquidation before the window (no information from the train days leaks in, none is needed).
System B's rules likewise see no bar before the window, so every window must hold their warm-up:
where the system asks for it, every setting's data is checked on every window before Ray starts.

Reported: in-sample (the best train run) vs out-of-sample (its test run) per fold; overall,
the mean in-sample figures against the stitched out-of-sample run (every test fold's trades
on one account, days without a feasible setting flat); the parameter path; and the
degradation ``1 - out-of-sample / in-sample`` of the objective and of the mean daily return.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.run_config import load_raw
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.sweep import ResultStore
from liqcascade.backtests.sweep import SettingPool
from liqcascade.backtests.sweep import check_data_first
from liqcascade.backtests.sweep import check_settings
from liqcascade.backtests.sweep import load_sweep
from liqcascade.backtests.sweep import ranked
from liqcascade.backtests.sweep import ray_session
from liqcascade.backtests.sweep import screened_jobs
from liqcascade.backtests.sweep import search
from liqcascade.backtests.sweep import sweep_folder
from liqcascade.backtests.sweep_space import SweepSpec
from liqcascade.backtests.systems import get_system

NS_PER_DAY = 86_400 * 1_000_000_000
#: Objectives that are rates (per day, per trade, annualised): comparable across window lengths.
RATE_METRICS = frozenset(
    {
        "sharpe", "daily_return_pct", "monthly_return_pct", "annualised_return_pct",
        "win_rate", "avg_return_per_trade_pct", "fill_rate", "trades_per_day",
        "cascades_per_day", "tp_share", "sl_share", "timeout_share",
    }
)  # fmt: skip
NS_PER_US = 1_000
MODES = ("rolling", "anchored")


@dataclass(frozen=True)
class WalkForwardSpec:
    """The ``[walk_forward]`` table."""

    train_days: int
    test_days: int
    mode: str = "rolling"


def parse_walk_forward(table: Any) -> WalkForwardSpec:
    """Validate a ``[walk_forward]`` table; every error names its key."""
    if not isinstance(table, dict):
        raise ConfigError("walk_forward: the run config has no [walk_forward] table")
    known = {"train_days", "test_days", "mode"}
    for key in table:
        if key not in known:
            raise ConfigError(
                f"walk_forward.{key}: unknown key (known: {', '.join(sorted(known))})"
            )
    days = {}
    for key in ("train_days", "test_days"):
        value = table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"walk_forward.{key}: whole days >= 1, got {value!r}")
        days[key] = value
    mode = table.get("mode", "rolling")
    if mode not in MODES:
        raise ConfigError(f"walk_forward.mode: expected one of {MODES}, got {mode!r}")
    return WalkForwardSpec(days["train_days"], days["test_days"], mode)


def _iso(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    micros = (ns % 1_000_000_000) // NS_PER_US
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


@dataclass(frozen=True)
class Fold:
    """One fold: train ``[train_start, test_start)``, test ``[test_start, test_end)`` (ns)."""

    index: int
    train_start_ns: int
    test_start_ns: int
    test_end_ns: int

    @staticmethod
    def _window(start: int, end: int) -> list[str]:
        # run.end is inclusive: stop one microsecond (the catalog's finest archive time)
        # before the next window begins, so no print belongs to two windows.
        return [f"run.start={_iso(start)}", f"run.end={_iso(end - NS_PER_US)}"]

    @property
    def train_window(self) -> list[str]:
        return self._window(self.train_start_ns, self.test_start_ns)

    @property
    def test_window(self) -> list[str]:
        return self._window(self.test_start_ns, self.test_end_ns)


def make_folds(spec: WalkForwardSpec, first_ns: int, last_ns: int) -> list[Fold]:
    """Folds of whole UTC days inside ``[first_ns, last_ns]`` (the run's data span)."""
    day0 = first_ns - first_ns % NS_PER_DAY
    end = last_ns - last_ns % NS_PER_DAY + (NS_PER_DAY if last_ns % NS_PER_DAY else 0)
    folds = []
    index = 0
    while True:
        test_start = day0 + (spec.train_days + index * spec.test_days) * NS_PER_DAY
        test_end = test_start + spec.test_days * NS_PER_DAY
        if test_end > end:
            break
        train_start = day0 if spec.mode == "anchored" else test_start - spec.train_days * NS_PER_DAY
        folds.append(Fold(index, train_start, test_start, test_end))
        index += 1
    if not folds:
        days = (end - day0) / NS_PER_DAY
        raise ConfigError(
            f"walk_forward: {days:.0f} day(s) of data hold no fold of {spec.train_days} train + "
            f"{spec.test_days} test day(s)"
        )
    return folds


def inside_run(folds: Sequence[Fold], start: str | None, end: str | None) -> list[Fold]:
    """
    The folds cut back to ``run.start``/``run.end``, so no window reads data the run config
    leaves out: :func:`make_folds` counts a partial first or last day as a day, whose train
    window then starts at ``run.start`` (not the midnight before) and whose test window ends
    at ``run.end`` (not the midnight after).
    """
    from liqcascade.strategies.trading_gate import parse_utc

    low = parse_utc(start) if start else None
    high = parse_utc(end) + NS_PER_US if end else None  # a window ends 1 us after its run.end
    return [
        replace(
            fold,
            train_start_ns=max(fold.train_start_ns, low)
            if low is not None
            else fold.train_start_ns,
            test_end_ns=min(fold.test_end_ns, high) if high is not None else fold.test_end_ns,
        )
        for fold in folds
    ]


def run_span(base: RunSpec) -> tuple[int, int]:
    """
    The span of the data the base run reads, as its system measures it (System A: trades and
    liquidations; System B: bars), inside ``run.start``/``run.end``.

    Raises
    ------
    ConfigError
        If the system does not measure its span, or there is no data in it.

    """
    system = get_system(base.system)
    if system.data_span is None:
        raise ConfigError(
            f"run.system: {system.label} ({system.name}) does not say which span its data "
            "covers (System.data_span), so there are no folds to cut: no walk-forward"
        )
    first, last = system.data_span(base)
    if first > last:  # bounds that leave out every row
        raise ConfigError(
            f"run.start/run.end: catalog {base.catalog} has no data of "
            f"{', '.join(base.symbols)} between {base.start or 'the start'} and "
            f"{base.end or 'the end'}"
        )
    return first, last


@dataclass
class WalkForwardOutcome:
    """A finished walk-forward: per-fold table, overall figures, where the files are."""

    folds: pd.DataFrame
    overall: dict[str, Any]
    train_rows: dict[int, list[dict[str, Any]]]
    test_rows: dict[int, dict[str, Any] | None]
    report: Path


def _trade_records(rows: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
    from liqcascade.backtests.records import TradeRecord

    trades = [TradeRecord(**t) for row in rows for t in row["trades"]]
    return tuple(sorted(trades, key=lambda t: t.exit_ns))


def stitched_records(
    folds: Sequence[Fold], test_rows: dict[int, dict[str, Any] | None], base: Any
) -> Any:
    """Every test fold's trades on one account over the test span (flat folds included)."""
    from liqcascade.backtests.records import RunRecords

    rows = [r for r in test_rows.values() if r is not None]
    return RunRecords(
        name="out-of-sample",
        symbols=base.symbols,
        start_ns=folds[0].test_start_ns,
        end_ns=folds[-1].test_end_ns - NS_PER_US,
        starting_balance=base.starting_balance,
        cascades=(),
        signals=(),
        trades=_trade_records(rows),
    )


def _ratio(oos: float | None, ins: float | None) -> float | None:
    """``oos / ins`` where it means something (a positive in-sample figure)."""
    if oos is None or ins is None or ins <= 0:
        return None
    return oos / ins


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def run_walk_forward(
    config: str,
    overrides: Sequence[str] = (),
    workers: int | None = None,
    address: str | None = None,
    out: Path | None = None,
    progress: bool = True,
    charts: bool = True,
    echo: Callable[[str], None] = print,
) -> WalkForwardOutcome:
    """Run the walk-forward of a run config; write its report; return the outcome."""
    config = str(config)
    spec = load_sweep(config, overrides)
    wf = parse_walk_forward(load_raw(config, overrides).get("walk_forward"))
    base = load_runs(config, list(overrides), scenarios=False)[0]
    folds = inside_run(make_folds(wf, *run_span(base)), base.start, base.end)
    window = folds[0].train_window
    settings = spec.settings() if spec.mode != "guided" else []
    check_settings(config, [*overrides, *window], spec, settings)
    # A test run starts cold (see above): every window must hold the system's warm-up.
    windows = {tuple(w): None for f in folds for w in (f.train_window, f.test_window)}
    check_data_first(config, overrides, settings, list(windows))
    folder = out or sweep_folder(config, overrides)
    store = ResultStore(folder, echo)
    pool = SettingPool(config, overrides, store, progress, echo)
    echo(
        f"walk-forward: {len(folds)} {wf.mode} fold(s) of {wf.train_days} train + "
        f"{wf.test_days} test day(s); each train fold: {spec.describe()}"
    )
    echo(f"results: {store.path}")
    started = time.perf_counter()
    with ray_session(workers, address) as cpus:
        echo(f"ray: {cpus} CPU(s)" + (f" at {address}" if address else " (local)"))
        train_rows: dict[int, list[dict[str, Any]]] = {}
        if spec.mode == "guided":
            for fold in folds:
                train_rows[fold.index] = search(spec, pool, fold.train_window, cpus)
        else:  # every fold's train settings at once: the folds are independent
            jobs = []
            for fold in folds:
                mine = [pool.job(s, fold.train_window, {"fold": fold.index}) for s in settings]
                if spec.confirm:  # screened on the fold's train days, the best confirmed
                    mine = screened_jobs(spec, pool, mine, f"screen-fold{fold.index}.csv")
                jobs += mine
            pool.prebuild_views(jobs, cpus)
            rows = pool.run(jobs, cpus, "train folds")
            for fold in folds:
                mine = [r for r, j in zip(rows, jobs, strict=True) if j.tag["fold"] == fold.index]
                train_rows[fold.index] = ranked(spec, mine)
        best = {
            fold.index: next((r for r in train_rows[fold.index] if r["feasible"]), None)
            for fold in folds
        }
        test_jobs = [
            pool.job(
                tuple((k, v) for k, v in best[fold.index]["setting"]),
                fold.test_window,
                {"fold": fold.index},
            )
            for fold in folds
            if best[fold.index] is not None
        ]
        pool.prebuild_views(test_jobs, cpus)
        tested = pool.run(test_jobs, cpus, "test folds")
    with contextlib.suppress(OSError):
        (folder / "runs").rmdir()  # the runs' scratch folders (each removed as it ended)
    test_rows: dict[int, dict[str, Any] | None] = {f.index: None for f in folds}
    for job, row in zip(test_jobs, tested, strict=True):
        test_rows[job.tag["fold"]] = ranked(spec, [row])[0]
    echo(
        f"{pool.ran} run(s) now, the rest from earlier runs; {time.perf_counter() - started:.1f} s"
    )
    outcome = _report(spec, wf, folds, train_rows, best, test_rows, base, folder, charts)
    echo((outcome.report / "walk_forward.txt").read_text())
    return outcome


def _report(
    spec: SweepSpec,
    wf: WalkForwardSpec,
    folds: Sequence[Fold],
    train_rows: dict[int, list[dict[str, Any]]],
    best: dict[int, dict[str, Any] | None],
    test_rows: dict[int, dict[str, Any] | None],
    base: Any,
    folder: Path,
    charts: bool,
) -> WalkForwardOutcome:
    from liqcascade.backtests.metrics import compute_metrics
    from liqcascade.backtests.metrics import equity_curve
    from liqcascade.backtests.report import trades_frame
    from liqcascade.backtests.research_plots import plot_walk_forward

    report = folder / "walk_forward"
    report.mkdir(parents=True, exist_ok=True)
    keys = [p.key for p in spec.params]
    records = []
    for fold in folds:
        ins, oos = best[fold.index], test_rows[fold.index]
        setting = dict(ins["setting"]) if ins else {}
        records.append(
            {
                "fold": fold.index,
                "train_start": pd.Timestamp(fold.train_start_ns, tz="UTC"),
                "test_start": pd.Timestamp(fold.test_start_ns, tz="UTC"),
                "test_end": pd.Timestamp(fold.test_end_ns, tz="UTC"),
                "settings_tried": len(train_rows[fold.index]),
                **{f"param:{k}": setting.get(k) for k in keys},
                "is_objective": ins["objective"] if ins else None,
                "oos_objective": oos["objective"] if oos else None,
                "is_daily_return_pct": ins["metrics"]["daily_return_pct"] if ins else None,
                "oos_daily_return_pct": oos["metrics"]["daily_return_pct"] if oos else 0.0,
                "is_trades": ins["metrics"]["trades"] if ins else None,
                "oos_trades": oos["metrics"]["trades"] if oos else 0,
                "is_sharpe": ins["metrics"]["sharpe"] if ins else None,
                "oos_sharpe": oos["metrics"]["sharpe"] if oos else None,
                "oos_total_pnl": oos["metrics"]["total_pnl"] if oos else 0.0,
            }
        )
    table = pd.DataFrame.from_records(records)
    table.to_csv(report / "folds.csv", index=False)
    stitched = stitched_records(folds, test_rows, base)
    oos = compute_metrics(stitched)
    trades_frame(stitched).to_csv(report / "oos_trades.csv", index=False)
    equity = equity_curve(stitched)
    equity.to_csv(report / "oos_equity.csv", header=True)
    # Folds where both figures exist (a Sharpe needs 2+ days: a 1-day test fold has none).
    both = table.dropna(subset=["is_objective", "oos_objective"])
    is_objective = _mean(list(both["is_objective"]))
    oos_objective_mean = _mean(list(both["oos_objective"]))
    is_objective_all = _mean(list(table["is_objective"]))
    is_daily = _mean(list(table["is_daily_return_pct"]))
    overall = {
        "folds": len(folds),
        "folds_without_feasible_setting": int(sum(b is None for b in best.values())),
        "is_objective_mean": is_objective,
        "oos_objective_mean": oos_objective_mean,
        "oos_objective_stitched": oos.get(spec.objective),
        "is_daily_return_pct_mean": is_daily,
        "oos_daily_return_pct": oos["daily_return_pct"],
        "oos_trades": oos["trades"],
        "oos_total_return_pct": oos["total_return_pct"],
        "oos_max_drawdown_pct": oos["max_drawdown_pct"],
        "oos_sharpe": oos["sharpe"],
        "oos_win_rate": oos["win_rate"],
        "objective_ratio": _ratio(oos_objective_mean, is_objective),
        # A rate (per day, per trade, annualised) compares across window lengths: the stitched
        # out-of-sample run against the mean of the train folds' best.
        "objective_ratio_stitched": (
            _ratio(oos.get(spec.objective), is_objective_all)
            if spec.objective in RATE_METRICS
            else None
        ),
        "daily_return_ratio": _ratio(oos["daily_return_pct"], is_daily),
    }
    pd.Series(overall).to_csv(report / "overall.csv", header=["value"])
    (report / "walk_forward.txt").write_text(_text(spec, wf, table, overall, keys))
    if charts:
        plot_walk_forward(table, equity, spec.objective, keys, report / "walk_forward.html")
    return WalkForwardOutcome(table, overall, train_rows, test_rows, report)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _text(
    spec: SweepSpec,
    wf: WalkForwardSpec,
    table: pd.DataFrame,
    overall: dict[str, Any],
    keys: Sequence[str],
) -> str:
    lines = [
        f"Walk-forward ({wf.mode}): {len(table)} fold(s), {wf.train_days} train + "
        f"{wf.test_days} test day(s); per train fold: {spec.describe()}",
        "In-sample = the best train run (chosen on those same days, so optimistic); "
        "out-of-sample = that setting on the following test days. Every figure is an engine run.",
        "",
    ]
    names = [k.rsplit(".", 1)[-1] for k in keys]
    header = ["fold", "test day(s)", *names, f"IS {spec.objective}", f"OOS {spec.objective}"]
    header += ["IS day %", "OOS day %", "IS trades", "OOS trades"]
    lines.append("  ".join(f"{h:>12}" for h in header))
    for _, row in table.iterrows():
        test = f"{row['test_start']:%m-%d}" + (
            f"..{row['test_end'] - pd.Timedelta(days=1):%m-%d}" if wf.test_days > 1 else ""
        )
        cells = [
            str(row["fold"]),
            test,
            *[_fmt(row[f"param:{k}"]) for k in keys],
            _fmt(row["is_objective"]),
            _fmt(row["oos_objective"]),
            _fmt(row["is_daily_return_pct"]),
            _fmt(row["oos_daily_return_pct"]),
            _fmt(row["is_trades"]),
            _fmt(row["oos_trades"]),
        ]
        lines.append("  ".join(f"{c:>12}" for c in cells))
    lines.append("")
    if overall["folds_without_feasible_setting"]:
        lines.append(
            f"{overall['folds_without_feasible_setting']} fold(s) had no setting meeting the "
            "constraints: not traded out of sample (flat)."
        )
    lines += [
        f"overall {spec.objective}: in-sample mean {_fmt(overall['is_objective_mean'])}, "
        f"out-of-sample mean {_fmt(overall['oos_objective_mean'])} (folds with both); "
        f"stitched out-of-sample {_fmt(overall['oos_objective_stitched'])}",
        f"mean daily return: in-sample {_fmt(overall['is_daily_return_pct_mean'])} %, "
        f"out-of-sample (stitched) {_fmt(overall['oos_daily_return_pct'])} %",
        f"stitched out-of-sample: {overall['oos_trades']} trades, total return "
        f"{_fmt(overall['oos_total_return_pct'])} %, max drawdown "
        f"{_fmt(overall['oos_max_drawdown_pct'])} %, Sharpe {_fmt(overall['oos_sharpe'])}",
    ]
    rows = [
        (f"{spec.objective} per fold", "objective_ratio", overall["is_objective_mean"]),
        (f"{spec.objective}, stitched vs in-sample mean", "objective_ratio_stitched", 1.0),
        ("mean daily return, stitched vs in-sample mean", "daily_return_ratio", 1.0),
    ]
    if spec.objective not in RATE_METRICS:
        rows.pop(1)  # a sum over days: windows of different lengths do not compare
    for label, key, ins in rows:
        ratio = overall[key]
        if ratio is None:
            why = (
                "no fold has both figures; a Sharpe needs 2+ test days"
                if ins is None
                else "in-sample figure <= 0"
            )
            lines.append(f"degradation of the {label}: undefined ({why})")
        else:
            lines.append(
                f"degradation of the {label}: OOS/IS = {ratio:.2f} "
                f"({(1 - ratio) * 100:.0f} % lost out of sample)"
            )
    return "\n".join(lines) + "\n"
