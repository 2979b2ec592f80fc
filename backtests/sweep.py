"""``liqcascade sweep``: many backtests of one run config, as Ray tasks, persisted as they finish.

Every setting is an ordinary backtest: the run config plus ``key=value`` overrides, resolved by
:func:`~liqcascade.backtests.run_config.load_runs` and run by
:func:`~liqcascade.backtests.runner.run_spec` - the runner of ``liqcascade backtest``, checks and
fall-backs included. A result row holds the run's portfolio metrics (exactly
:func:`~liqcascade.backtests.metrics.compute_metrics`) and its trades.

Work shared, not repeated:

* the execution views of all settings known in advance are built before any run, in one pass
  over the catalog (:func:`~liqcascade.backtests.execution_view.build_execution_views`);
  settings with equal window parameters (they differ in trading hours, fees, fill mode,
  cooldown, ...) share one view. Workers then find their views in the cache;
* every finished setting is appended to ``results.jsonl`` at once (flushed and synced), keyed
  by its overrides. The folder is named after the run config, the catalog's files and the code
  (:func:`sweep_folder`): the same command after a crash or Ctrl-C runs only what is missing,
  and any later sweep or walk-forward of the same config reuses every setting already run.

Ray: each setting is a task (``num_cpus=1``) on a local Ray instance of ``--workers`` CPUs, or
on a cluster (``--address``) whose nodes have this package installed and see the catalog and
the output folder at the same paths (a shared file system: the runner reads the catalog and
writes views beside it with ordinary file operations, so object-store URLs are not supported).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from liqcascade.backtests.run_config import ConfigError
from liqcascade.backtests.run_config import RunSpec
from liqcascade.backtests.run_config import load_raw
from liqcascade.backtests.run_config import load_runs
from liqcascade.backtests.sweep_space import Score
from liqcascade.backtests.sweep_space import Setting
from liqcascade.backtests.sweep_space import SweepSpec
from liqcascade.backtests.sweep_space import overrides_of
from liqcascade.backtests.sweep_space import parse_sweep
from liqcascade.backtests.sweep_space import setting_of
from liqcascade.backtests.systems import get_system

RESULTS = "results.jsonl"
#: Tables of a run config that describe searches, not the run (left out of its fingerprint).
_SEARCH_TABLES = ("sweep", "walk_forward", "scenario")


class SweepInterruptedError(Exception):
    """Ctrl-C: the finished settings are saved; the same command resumes."""


# --------------------------------------------------------------------------- one setting


def run_setting(config: str, overrides: Sequence[str], folder: str) -> dict[str, Any]:
    """
    Run one setting exactly as ``liqcascade backtest --config CONFIG OVERRIDES`` runs its base
    run, and reduce it to a result row. The event logs are deleted afterwards (the plain
    backtest of the row's overrides writes them again).
    """
    from liqcascade.backtests.metrics import compute_metrics
    from liqcascade.backtests.runner import run_spec

    notes: list[str] = []
    spec = load_runs(config, list(overrides), scenarios=False)[0]
    # Neither changes a row, which equals a plain backtest's: the framework's own post-run
    # analysis (the tearsheet's) is not read, nor are the log lines the system leaves out.
    spec = replace(spec, framework_analysis=False)
    extra = get_system(spec.system).sweep_strategy_kwargs
    if extra:
        strategies = {symbol: {**kwargs, **extra} for symbol, kwargs in spec.strategies.items()}
        spec = replace(spec, strategies=strategies)
    result = run_spec(spec, Path(folder), echo=notes.append)
    try:
        records = result.records
        view = result.view
        fed = None
        if view is not None:
            kind = "all trades"
            if view.trades_kept < view.trades_in:
                kind = "speculative windows, checked" if view.speculative else "proven windows"
            fed = {"kept": view.trades_kept, "in": view.trades_in, "kind": kind}
        return {
            "metrics": compute_metrics(records),
            "trades": [asdict(t) for t in records.trades],
            "start_ns": records.start_ns,
            "end_ns": records.end_ns,
            "starting_balance": records.starting_balance,
            "symbols": list(spec.symbols),
            "skipped": [list(s) for s in spec.skipped],
            "seconds": result.seconds,
            "fed": fed,
            "notes": notes,
        }
    finally:
        result.dispose()
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- identity


def _tree_text(tree: dict[str, Any]) -> str:
    run_tree = {k: v for k, v in tree.items() if k not in _SEARCH_TABLES}
    return json.dumps(run_tree, sort_keys=True, default=str)


def _catalog_files(catalog: Path) -> str:
    digest = hashlib.sha256()
    data = catalog / "data"
    for f in sorted(data.rglob("*.parquet")) if data.exists() else []:
        stat = f.stat()
        digest.update(f"{f.relative_to(catalog)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


#: Modules that report or search but never change a run's figures (left out of the code
#: fingerprint, so editing a chart does not discard every result).
_NOT_RUN_CODE = frozenset(
    {
        "sweep.py", "sweep_space.py", "sweep_report.py", "walk_forward.py", "screen.py",
        "research_plots.py", "plots.py", "report.py", "job.py",
    }
)  # fmt: skip


def _code() -> str:
    """The source a run executes (strategies, data classes, runner): a result is as new as it."""
    import liqcascade.backtests
    import liqcascade.data_loaders
    import liqcascade.strategies

    digest = hashlib.sha256()
    for package in (liqcascade.strategies, liqcascade.data_loaders, liqcascade.backtests):
        root = Path(package.__file__).parent
        for module in sorted(root.rglob("*.py")):  # sub-packages too (backtests/systems/)
            name = module.relative_to(root).as_posix()
            if package is liqcascade.backtests and name in _NOT_RUN_CODE:
                continue
            digest.update(name.encode() + module.read_bytes())
    return digest.hexdigest()


def run_fingerprint(config: str | Path, overrides: Sequence[str] = ()) -> str:
    """
    What a setting's result depends on besides its own overrides: the resolved run config
    (strategy file and overrides included, the search tables left out), the catalog's files
    and the code. Part of every row's key, so a row is reused exactly when it would come out
    the same.
    """
    tree = load_raw(config, overrides)
    base = load_runs(config, overrides, scenarios=False)[0]
    digest = hashlib.sha256()
    digest.update(_tree_text(tree).encode())
    digest.update(_catalog_files(base.catalog).encode())
    digest.update(_code().encode())
    return digest.hexdigest()


def sweep_folder(config: str | Path, overrides: Sequence[str] = ()) -> Path:
    """Where a config's sweep results live: ``<run.output>/sweeps/<name>-<fingerprint>``."""
    from liqcascade.backtests.runner import slug

    base = load_runs(config, overrides, scenarios=False)[0]
    fingerprint = run_fingerprint(config, overrides)
    return base.output / "sweeps" / f"{slug(base.name)}-{fingerprint[:12]}"


def setting_key(base: str, overrides: Sequence[str]) -> str:
    """A result row's key: the run's fingerprint and the overrides (setting and window)."""
    return hashlib.sha256(json.dumps([base, *overrides]).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- results


class ResultStore:
    """``results.jsonl``: one row per finished setting, appended and synced as it finishes."""

    def __init__(self, folder: Path, echo: Callable[[str], None] = print) -> None:
        self.folder = folder
        self.path = folder / RESULTS
        self.rows: dict[str, dict[str, Any]] = {}
        folder.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            for number, line in enumerate(lines, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    if number == len(lines):  # a write cut short by a crash: run it again
                        echo(f"{self.path}:{number}: incomplete last line dropped (rerun)")
                        self._rewrite()
                        break
                    raise ValueError(f"{self.path}:{number}: not a result row") from None
                self.rows[row["key"]] = row

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows.values()))
        os.replace(tmp, self.path)

    def saved(self) -> int:
        """Rows in the file (an interrupt can fall between a row's write and ``rows``)."""
        if not self.path.exists():
            return 0
        return sum(1 for line in self.path.read_text().splitlines() if line.endswith("}"))

    def add(self, row: dict[str, Any]) -> None:
        """Persist a row before anything else sees it."""
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.rows[row["key"]] = row


# --------------------------------------------------------------------------- Ray


@contextlib.contextmanager
def ray_session(workers: int | None, address: str | None) -> Iterator[int]:
    """
    Ray for the duration of a command: a local instance of ``workers`` CPUs (default: every
    core), or the cluster at ``address``. A session already started in this process (a test
    module's) is used as it is and left running. Yields the CPUs tasks can use.
    """
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": "warning",
            "log_to_driver": False,  # a failed task's traceback still reaches ray.get
        }
        if address:
            ray.init(address=address, **kwargs)
        else:
            # "local": always a new instance of our own, never another user's cluster.
            cpus = workers or len(os.sched_getaffinity(0))
            ray.init(address="local", num_cpus=cpus, **kwargs)
        started = True
    try:
        yield int(ray.cluster_resources().get("CPU", 1))
    finally:
        if started:
            ray.shutdown()


def _remote() -> Any:
    """``run_setting`` as a Ray task of the current session."""
    import ray

    # A failed setting fails the sweep with its error: not retried, never skipped.
    return ray.remote(num_cpus=1, max_retries=0)(run_setting)


@dataclass
class Job:
    """One setting to evaluate: its parameter values and its full overrides."""

    setting: Setting
    overrides: list[str]  # the setting's overrides after any window's
    base: str  # the run's fingerprint (see run_fingerprint)
    tag: dict[str, Any] = field(default_factory=dict)  # e.g. the walk-forward fold

    @property
    def key(self) -> str:
        return setting_key(self.base, self.overrides)


class SettingPool:
    """
    Runs jobs as Ray tasks, at most ``in_flight`` at once, and persists each result.

    A job whose key is already in the store is answered from it without running.
    """

    def __init__(
        self,
        config: str,
        base_overrides: Sequence[str],
        store: ResultStore,
        progress: bool = True,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.base_overrides = list(base_overrides)
        self.store = store
        self.progress = progress
        self.echo = echo
        self.ran = 0  # settings run by this pool (the rest came from the store)
        self.run_seconds = 0.0  # wall time spent running settings on Ray
        self.view_seconds = 0.0  # wall time spent building views before the runs
        self.fingerprint = run_fingerprint(config, base_overrides)

    def job(
        self, setting: Setting, window: Sequence[str] = (), tag: dict[str, Any] | None = None
    ) -> Job:
        """The job of ``setting`` over ``window`` (``run.start``/``run.end`` overrides)."""
        return Job(setting, [*window, *overrides_of(setting)], self.fingerprint, tag or {})

    def prebuild_views(self, jobs: Sequence[Job], in_flight: int = 1) -> None:
        """
        Build every missing execution view of ``jobs`` (System A, windowed) before the runs:
        ``in_flight`` Ray tasks, each building its share of the views in one pass over the
        catalog (which also starts the workers the runs then use).
        """
        import ray

        from liqcascade.backtests.execution_view import ViewRequest
        from liqcascade.backtests.execution_view import build_execution_views
        from liqcascade.strategies.trading_gate import parse_utc

        groups: dict[tuple[Path, tuple[str, ...]], list[ViewRequest]] = {}
        for job in jobs:
            if job.key in self.store.rows:
                continue
            spec = self.spec(job)
            if not get_system(spec.system).trade_windows or not spec.trade_windows:
                continue
            request = ViewRequest(
                spec.strategies,
                int(spec.venue.latency_ms * 1_000_000),
                True,
                parse_utc(spec.start) if spec.start else None,
            )
            groups.setdefault((spec.catalog, spec.symbols), []).append(request)
        for (catalog, symbols), requests in groups.items():
            started = time.perf_counter()
            shares = [requests[i::in_flight] for i in range(min(in_flight, len(requests)))]
            task = ray.remote(num_cpus=1, max_retries=0)(build_execution_views)
            ray.get([task.remote(catalog, list(symbols), share) for share in shares])
            self.view_seconds += time.perf_counter() - started
            self.echo(
                f"execution views of {len(requests)} setting(s) ready in "
                f"{time.perf_counter() - started:.1f} s ({len(shares)} task(s), one pass over the "
                "catalog each)"
            )

    def spec(self, job: Job) -> RunSpec:
        """The resolved run of a job (raises a ConfigError naming the key)."""
        return load_runs(self.config, [*self.base_overrides, *job.overrides], scenarios=False)[0]

    def run(self, jobs: Sequence[Job], in_flight: int, label: str = "settings") -> list[dict]:
        """Every job's row, in order; runs the missing ones on Ray."""
        import ray
        from tqdm import tqdm

        rows: dict[str, dict[str, Any]] = {}
        todo: dict[str, Job] = {}
        for job in jobs:
            if job.key in self.store.rows:
                rows[job.key] = self.store.rows[job.key]
            else:
                todo.setdefault(job.key, job)
        if todo:
            self.echo(f"{label}: {len(todo)} to run, {len(set(rows))} already in {self.store.path}")
        queue = list(todo.values())
        running: dict[Any, Job] = {}
        started = time.perf_counter()
        task = _remote()
        bar = tqdm(total=len(queue), desc=label, unit="run", disable=not self.progress)
        try:
            while queue or running:
                while queue and len(running) < in_flight:
                    job = queue.pop(0)
                    folder = self.store.folder / "runs" / job.key
                    ref = task.remote(
                        self.config, [*self.base_overrides, *job.overrides], str(folder)
                    )
                    running[ref] = job
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    job = running.pop(ref)
                    row = self._row(job, ray.get(ref))
                    self.store.add(row)
                    rows[job.key] = row
                    self.ran += 1
                    bar.update(1)
        except KeyboardInterrupt:
            # No ray.cancel: force-cancelling a task as it completes aborts Ray 2.60's driver
            # ("Tried to complete task that was not pending"). A local instance ends with the
            # command and its workers with it; on a cluster the running settings finish there
            # and their rows are dropped (the next run runs them again).
            raise SweepInterruptedError(
                f"interrupted: {self.store.saved()} setting(s) saved in {self.store.path}; "
                "the same command resumes"
            ) from None
        finally:
            bar.close()
            self.run_seconds += time.perf_counter() - started
        return [rows[job.key] for job in jobs]

    def _row(self, job: Job, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": job.key,
            "setting": [[k, v] for k, v in job.setting],
            "overrides": job.overrides,
            "base_overrides": self.base_overrides,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            **result,
        }


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    """A finished sweep: its rows ranked best first, and where its files are."""

    spec: SweepSpec
    rows: list[dict[str, Any]]
    folder: Path
    report: Path
    ran: int
    pool: SettingPool | None = None

    @property
    def best(self) -> dict[str, Any] | None:
        """The best feasible row, or ``None``."""
        return self.rows[0] if self.rows and self.rows[0]["feasible"] else None


def load_sweep(config: str, overrides: Sequence[str] = ()) -> SweepSpec:
    """The config's ``[sweep]`` table, checked."""
    return parse_sweep(load_raw(config, overrides).get("sweep"))


def check_settings(
    config: str, overrides: Sequence[str], spec: SweepSpec, settings: Sequence[Setting]
) -> None:
    """
    Resolve every setting before anything runs (a bad value names its key), and refuse a
    parameter that changes nothing in the run (a typo'd key, a skipped symbol's parameter).
    """
    resolved: dict[str, RunSpec] = {}
    for setting in settings:
        try:
            resolved[json.dumps(overrides_of(setting))] = load_runs(
                config, [*overrides, *overrides_of(setting)], scenarios=False
            )[0]
        except ConfigError as e:
            raise ConfigError(f"sweep setting {' '.join(overrides_of(setting))}: {e}") from e
    base = load_runs(config, list(overrides), scenarios=False)[0]
    for param in spec.params:
        values = param.grid_values() if param.choices or param.step else (param.low, param.high)
        runs = []
        for value in values:  # every value alone: a bad one is named before anything runs
            single = overrides_of(((param.key, value),))
            try:
                runs.append(load_runs(config, [*overrides, *single], scenarios=False)[0])
            except ConfigError as e:
                raise ConfigError(f"sweep.params.{param.key} = {single[0]}: {e}") from e
        if len(runs) >= 2 and all(run == runs[0] for run in runs[1:]):
            raise ConfigError(
                f"sweep.params.{param.key}: changing it changes nothing in the run (a key the "
                f"run does not read, or a symbol it skips? symbols: {', '.join(base.symbols)})"
            )


def check_data_first(
    config: str,
    overrides: Sequence[str],
    settings: Sequence[Setting],
    windows: Sequence[Sequence[str]] = ((),),
) -> None:
    """
    Where the run's system asks for it (``System.check_every_run_first``, System B), the data
    of every run before the first starts, as ``liqcascade backtest`` checks every scenario's:
    each setting (the base run alone when the settings are not known in advance) on each
    window. A window too short for a setting's warm-up is then a ConfigError naming both
    before Ray starts, not a task's traceback after other runs finished.
    """
    for window in windows:
        for setting in settings or [()]:
            extra = [*window, *overrides_of(setting)]
            run = load_runs(config, [*overrides, *extra], scenarios=False)[0]
            system = get_system(run.system)
            if not system.check_every_run_first:
                return
            try:
                system.check_data(run)
            except ConfigError as e:
                raise ConfigError(f"{' '.join(extra) or 'the base run'}: {e}") from e


def score_row(spec: SweepSpec, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its objective and feasibility under ``spec``."""
    score = spec.score(row["metrics"])
    return {**row, "objective": score.objective, "feasible": score.feasible}


def ranked(spec: SweepSpec, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows scored and sorted: feasible first, best objective first."""
    scored = [score_row(spec, r) for r in rows]
    return sorted(scored, key=lambda r: spec.rank_key(Score(r["objective"], r["feasible"], ())))


def guided_rows(
    spec: SweepSpec, pool: SettingPool, window: Sequence[str], in_flight: int
) -> list[dict[str, Any]]:
    """
    Optuna's TPE sampler picks settings, ``in_flight`` at a time (ask, run on Ray, tell).

    Rows already in the store inside this space are told to the study first, so a resumed
    search continues from everything it knew; a setting the sampler proposes again is
    answered from the store, never run twice.
    """
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p.key: p.distribution() for p in spec.params}
    study = optuna.create_study(
        direction=spec.direction, sampler=optuna.samplers.TPESampler(seed=spec.seed)
    )
    rows: dict[str, dict[str, Any]] = {}

    def constraints(score: Score) -> dict[str, float]:
        values = {"objective_defined": 0.0 if score.objective is not None else 1.0}
        values |= {c.metric: v for c, v in zip(spec.constraints, score.violations, strict=True)}
        return values

    def value(score: Score) -> float:
        return score.objective if score.objective is not None else 0.0

    window = list(window)
    for row in pool.store.rows.values():
        setting = dict(row.get("setting", []))
        if row["key"] != setting_key(pool.fingerprint, row["overrides"]):
            continue  # another run config's row (a shared --out folder)
        if row["overrides"][: len(window)] != window or set(setting) != set(distributions):
            continue
        if not all(p.contains(setting[p.key]) for p in spec.params):
            continue
        score = spec.score(row["metrics"])
        study.add_trial(
            optuna.trial.create_trial(
                params={p.key: p.to_optuna(setting[p.key]) for p in spec.params},
                distributions=distributions,
                value=value(score),
                constraints=constraints(score),
            )
        )
        rows[row["key"]] = row
    told = len(rows)
    if told:
        pool.echo(f"guided search resumes from {told} setting(s) already run")

    from tqdm import tqdm

    # ``trials`` distinct settings: a small space makes the sampler repeat itself, so asks
    # are capped too.
    bar = tqdm(
        total=max(0, spec.trials - told), desc="guided", unit="setting", disable=not pool.progress
    )
    running: dict[Any, Job] = {}
    waiting: dict[str, list[Any]] = {}  # a running setting's key -> the trials awaiting it

    def tell(trial: Any, row: dict[str, Any]) -> None:
        score = spec.score(row["metrics"])
        for name, v in constraints(score).items():
            trial.set_constraint(name, v)
        study.tell(trial, value(score))
        if row["key"] not in rows:
            bar.update(1)
        rows[row["key"]] = row

    asks_left = 20 * spec.trials
    task = _remote()

    def more() -> bool:
        return len(rows) + len(waiting) < spec.trials and asks_left > 0

    try:
        while more() or running:
            while more() and len(running) < in_flight:
                trial = study.ask(distributions)
                asks_left -= 1
                setting = setting_of(
                    spec.params, {p.key: p.from_optuna(trial.params[p.key]) for p in spec.params}
                )
                job = pool.job(setting, window)
                if job.key in pool.store.rows:  # proposed again: the stored answer
                    tell(trial, pool.store.rows[job.key])
                elif job.key in waiting:  # proposed again while it runs: wait for it
                    waiting[job.key].append(trial)
                else:
                    ref = task.remote(
                        pool.config,
                        [*pool.base_overrides, *job.overrides],
                        str(pool.store.folder / "runs" / job.key),
                    )
                    running[ref] = job
                    waiting[job.key] = [trial]
            if not running:
                continue
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job = running.pop(ref)
                row = pool._row(job, ray.get(ref))
                pool.store.add(row)
                pool.ran += 1
                for trial in waiting.pop(job.key):
                    tell(trial, row)
    except KeyboardInterrupt:  # no ray.cancel: see SettingPool.run
        raise SweepInterruptedError(
            f"interrupted: {pool.store.saved()} setting(s) saved in {pool.store.path}; "
            "the same command resumes"
        ) from None
    finally:
        bar.close()
    return list(rows.values())


def search(
    spec: SweepSpec,
    pool: SettingPool,
    window: Sequence[str] = (),
    in_flight: int = 1,
    label: str = "settings",
) -> list[dict[str, Any]]:
    """Every row of one search (grid, random or guided) over one window, ranked."""
    if spec.mode == "guided":
        return ranked(spec, guided_rows(spec, pool, window, in_flight))
    jobs = [pool.job(s, window) for s in spec.settings()]
    if spec.confirm:
        jobs = screened_jobs(spec, pool, jobs)
    pool.prebuild_views(jobs, in_flight)
    return ranked(spec, pool.run(jobs, in_flight, label))


def screened_jobs(
    spec: SweepSpec, pool: SettingPool, jobs: Sequence[Job], name: str = "screen.csv"
) -> list[Job]:
    """
    Screen every job (:mod:`liqcascade.backtests.screen`) and keep the ``spec.confirm`` best
    for the engine. The screen's table is saved as ``screen.csv`` - a ranking aid, not a
    result: only the engine runs of the kept settings are reported.
    """
    import pandas as pd

    from liqcascade.backtests.metrics import compute_metrics
    from liqcascade.backtests.screen import screen_records
    from liqcascade.backtests.screen import screen_runs

    started = time.perf_counter()
    runs = [pool.spec(job) for job in jobs]
    if not all(get_system(run.system).screen for run in runs):
        raise ConfigError("sweep.confirm: the screen replays System A (cascade_mm) only")
    scored = []
    for job, run, trades in zip(jobs, runs, screen_runs(runs), strict=True):
        metrics = compute_metrics(screen_records(run, trades))
        score = spec.score(metrics)
        if metrics.get(spec.objective) is None and metrics["trades"]:
            raise ConfigError(
                f"sweep.objective: the screen has trades only; {spec.objective} needs the engine"
            )
        scored.append((spec.rank_key(score), job, metrics, score))
    scored.sort(key=lambda item: item[0])
    table = pd.DataFrame.from_records(
        [
            {
                "screen_rank": rank,
                **dict(job.setting),
                "objective": score.objective,
                "feasible": score.feasible,
                "trades": metrics["trades"],
                "total_pnl": metrics["total_pnl"],
                "confirmed": rank <= spec.confirm,
                "key": job.key,
            }
            for rank, (_, job, metrics, score) in enumerate(scored, 1)
        ]
    )
    table.to_csv(pool.store.folder / name, index=False)
    pool.echo(
        f"screen: {len(jobs)} setting(s) replayed in {time.perf_counter() - started:.1f} s; "
        f"the best {min(spec.confirm, len(jobs))} go to the engine ({name} is a ranking, "
        "not a result)"
    )
    return [job for _, job, _, _ in scored[: spec.confirm]]


def run_sweep(
    config: str,
    overrides: Sequence[str] = (),
    workers: int | None = None,
    address: str | None = None,
    out: Path | None = None,
    progress: bool = True,
    charts: bool = True,
    echo: Callable[[str], None] = print,
) -> SweepOutcome:
    """
    Run the ``[sweep]`` of a run config; write ``sweep.csv``, ``sweep.txt`` and the charts.

    Raises
    ------
    ConfigError
        A bad ``[sweep]`` table or setting, named by its key.
    SweepInterruptedError
        Ctrl-C; the settings finished so far are saved.

    """
    from liqcascade.backtests.sweep_report import write_sweep_report

    config = str(config)
    spec = load_sweep(config, overrides)
    settings = spec.settings() if spec.mode != "guided" else []
    check_settings(config, overrides, spec, settings)
    check_data_first(config, overrides, settings)
    folder = out or sweep_folder(config, overrides)
    store = ResultStore(folder, echo)
    echo(f"sweep: {spec.describe()}")
    echo(f"results: {store.path}")
    pool = SettingPool(config, overrides, store, progress, echo)
    started = time.perf_counter()
    with ray_session(workers, address) as cpus:
        echo(f"ray: {cpus} CPU(s)" + (f" at {address}" if address else " (local)"))
        rows = search(spec, pool, (), cpus)
    elapsed = time.perf_counter() - started
    with contextlib.suppress(OSError):
        (folder / "runs").rmdir()  # the runs' scratch folders (each removed as it ended)
    report = write_sweep_report(spec, rows, folder, config, overrides, charts=charts)
    echo(
        f"{len(rows)} setting(s): {pool.ran} run now, {len(rows) - pool.ran} from earlier runs; "
        f"{elapsed:.1f} s"
    )
    echo((report / "sweep.txt").read_text())
    return SweepOutcome(spec, rows, folder, report, pool.ran, pool)
