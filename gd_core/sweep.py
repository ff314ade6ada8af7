"""Sweeps: the paper's grid of runs, each stored under a hash of its settings, run on a process pool or Dask.

A sweep directory holds ``sweep.json`` (every run the sweeps into it asked for, and the combinations they
skipped) and ``runs/<key>/``, one run directory per configuration (see ``gd_core.results``). A run is
finished when its directory holds ``config.json``; anything else is run again, so a sweep killed at any
moment resumes where it stopped.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from gd_core.data import CAPABILITIES, capabilities_of, check_compatible
from gd_core.errors import GdError
from gd_core.loop import (DEFAULT_METRICS, PARAM_KINDS, SPLIT_FOLLOWS_SEED, DatasetCache, RunConfig, check_settings,
                          dataset_entry, is_split_seed)
from gd_core.registry import Registries, check_params
from gd_core.results import FAILURE, MANIFEST, remove_stale, write_synced

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SWEEP_FILE = "sweep.json"
LOCK = ".lock"
RUNS = "runs"
PAPER_BATCH_SIZES = (16, 32, 64, 128, 256, 512)
PAPER_CYCLES = 40
PAPER_GENES = 40 * 64  # larger batches get fewer cycles, so every batch size ends with this many genes
CONNECT_TIMEOUT = "30s"  # how long to wait for a Dask scheduler


def paper_cycles(batch_size: int) -> int:
    """The paper's rule: 40 cycles up to batch 64; above that, as many as keep 40 × 64 genes acquired."""
    return PAPER_CYCLES if batch_size <= 64 else max(1, PAPER_GENES // batch_size)


@dataclass(frozen=True)
class SweepSpec:
    """The axes of a grid and the settings shared by all its runs.

    ``cycles`` None follows the paper's rule; ``"all"`` as a model or acquisition means every registered
    one. ``params`` maps a kind (``acquisition``) or a component name (``softuncertain``) to its parameters.
    """

    assays: tuple[str, ...] = ("schmidt_2021_il2",)
    descriptors: tuple[str, ...] = ("gene_ontology",)
    models: tuple[str, ...] = ("bnn",)
    acquisitions: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] = (64,)
    seeds: int = 5
    cycles: int | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS
    test_fraction: float = 0.2
    hit_fraction: float = 0.05
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    split_seed: int | str = 0

    def updated(self, values: dict[str, Any]) -> SweepSpec:
        """This spec with the given fields replaced (lists become tuples)."""
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return replace(self, **given)


_LIST_KEYS = ("assays", "descriptors", "models", "acquisitions", "batch_sizes", "metrics")


def read_spec(path: Path) -> dict[str, Any]:
    """The settings of a TOML spec file, checked key by key (apply them with ``SweepSpec.updated``)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GdError(f"spec file {path} does not exist; give the path of a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GdError(f"cannot read spec file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GdError(f"spec file {path} is not valid TOML: {exc}") from None
    known = [f.name for f in fields(SweepSpec)]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise GdError(f"spec file {path}: unknown key '{key}'; known keys: {', '.join(known)}")
        if key in _LIST_KEYS:
            value = [value] if isinstance(value, (str, int)) else value
            kind = int if key == "batch_sizes" else str
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, kind) and not isinstance(v, bool) for v in value):
                raise GdError(f"spec file {path}: '{key}' must be a non-empty list of "
                              f"{'whole numbers' if kind is int else 'names'}")
        elif key == "cycles" and value == "paper":
            value = None
        elif key == "params" and not (isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())):
            raise GdError(f"spec file {path}: 'params' must be tables like [params.acquisition]")
        elif key == "split_seed" and not is_split_seed(value):
            raise GdError(f"spec file {path}: 'split_seed' must be a whole number ≥ 0 or \"{SPLIT_FOLLOWS_SEED}\" "
                          f"(a new test split per seed), got {value!r}")
        values[key] = value
    return values


@dataclass(frozen=True)
class Skipped:
    """A model × acquisition pair left out of a grid, and why."""

    model: str
    acquisition: str
    reason: str


@dataclass(frozen=True)
class Grid:
    """An expanded sweep: the runs to do, in an order that keeps runs on the same data together."""

    runs: tuple[RunConfig, ...]
    skipped: tuple[Skipped, ...]


def run_key(config: RunConfig) -> str:
    """The name of a run's directory: a hash of its resolved settings."""
    text = json.dumps(config.as_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_label(settings: dict[str, Any]) -> str:
    """A short human name for a run (from its settings), for progress lines and reports."""
    return (f"{Path(settings['assay']).stem}/{Path(settings['descriptor']).stem}/{settings['model']}/"
            f"{settings['acquisition']} b{settings['batch_size']} s{settings['seed']}")


def expand(spec: SweepSpec, registries: Registries) -> Grid:
    """Every run of the grid; unknown names and bad parameters are errors, incompatible pairs are skipped."""
    for name, value in (("seeds", spec.seeds), *(("batch-size", b) for b in spec.batch_sizes)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise GdError(f"{name} must be a positive whole number, got {value!r}")
    for name in ("assays", "descriptors", "models", "acquisitions", "batch_sizes"):
        if not getattr(spec, name):
            raise GdError(f"the sweep has no {name.replace('_', ' ')[:-1]}; give at least one")
    models = _names("model", spec.models, registries)
    acquisitions = _names("acquisition", spec.acquisitions, registries)
    assays = _unique(spec.assays)
    descriptors = _unique(spec.descriptors)
    for name in spec.metrics:
        registries.metrics.get(name)
    used = {"assay": assays, "descriptor": descriptors, "model": models, "acquisition": acquisitions}
    _check_param_targets(spec.params, used)
    for kind in ("assay", "descriptor"):
        for name in used[kind]:
            _params_for(kind, name, spec.params, registries)  # the name exists and takes its parameters

    pairs: dict[tuple[str, str], str | None] = {}
    for model, acquisition in itertools.product(models, acquisitions):
        pairs[model, acquisition] = _incompatibility(model, acquisition, spec.params, registries)

    runs = []
    for assay, descriptor, model, batch_size, acquisition, seed in itertools.product(
            assays, descriptors, models, _unique(spec.batch_sizes), acquisitions, range(spec.seeds)):
        if pairs[model, acquisition] is not None:
            continue
        params = {kind: p for kind, name in (("descriptor", descriptor), ("assay", assay), ("model", model),
                                             ("acquisition", acquisition))
                  if (p := _merged_params(kind, name, spec.params))}
        runs.append(RunConfig(
            assay=assay, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=batch_size,
            cycles=spec.cycles if spec.cycles is not None else paper_cycles(batch_size), seed=seed,
            metrics=tuple(spec.metrics), test_fraction=spec.test_fraction, hit_fraction=spec.hit_fraction,
            params=params, split_seed=spec.split_seed,
        ))
    for config in runs[:1]:
        check_settings(config)  # cycles, fractions and metrics are the same for every run
    skipped = tuple(Skipped(m, a, reason) for (m, a), reason in pairs.items() if reason is not None)
    return Grid(tuple(runs), skipped)


def _unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _names(kind: str, names: Sequence[str], registries: Registries) -> list[str]:
    """Names checked against the registry, with ``all`` standing for every registered one."""
    registry = registries.of(kind)
    expanded: list[str] = []
    for name in names:
        expanded += registry.names() if name == "all" else [registry.get(name).name]
    return _unique(expanded)


def _check_param_targets(params: dict[str, dict[str, Any]], used: dict[str, list[str]]) -> None:
    in_sweep = {name for names in used.values() for name in names}
    for target in params:
        if target not in PARAM_KINDS and target not in in_sweep:
            raise GdError(f"--param {target}.…: '{target}' is neither a kind ({', '.join(PARAM_KINDS)}) nor a "
                          "component of this sweep; use KIND.KEY=VALUE or NAME.KEY=VALUE")


def _merged_params(kind: str, name: str, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A component's parameters: those given for its kind, overridden by those given for its name."""
    return {**params.get(kind, {}), **params.get(name, {})}


def _params_for(kind: str, name: str, params: dict[str, dict[str, Any]], registries: Registries) -> dict[str, Any]:
    """A component's merged parameters, checked against its factory's signature."""
    merged = _merged_params(kind, name, params)
    entry = dataset_entry(kind, name, registries) if kind in ("assay", "descriptor") else registries.of(kind).get(name)
    try:
        check_params(entry, merged)
    except GdError as exc:
        if any(key in params.get(kind, {}) for key in merged):
            raise GdError(f"{exc}; to give a parameter to some {kind}s only, write --param NAME.KEY=VALUE "
                          f"with each one's name") from None
        raise
    return merged


def _incompatibility(model: str, acquisition: str, params: dict[str, dict[str, Any]],
                     registries: Registries) -> str | None:
    """Why this model cannot serve this acquisition (missing capabilities), or None when it can."""
    model_object = registries.models.get(model).create(**_params_for("model", model, params, registries))
    acquisition_object = registries.acquisitions.get(acquisition).create(
        **_params_for("acquisition", acquisition, params, registries))
    required = [r for r in getattr(acquisition_object, "requires", ()) if r in CAPABILITIES]
    missing = [r for r in required if r not in capabilities_of(model_object)]
    if missing:
        return f"{acquisition} needs {' and '.join(missing)}, which {model} does not offer"
    check_compatible(model, model_object, acquisition, acquisition_object)  # anything else is an error
    return None


# ---------------------------------------------------------------------------------------------- the store

def run_state(directory: Path) -> str:
    """``done`` (config.json present), ``failed`` (failure.json present) or ``missing``."""
    if (directory / MANIFEST).is_file():
        return "done"
    if (directory / FAILURE).is_file():
        return "failed"
    return "missing"


class SweepStore:
    """A sweep directory: ``sweep.json`` and ``runs/<key>/``; held by one sweep at a time."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / RUNS
        self._lock: Any = None

    def check(self) -> None:
        """Refuse a path that is a file, or a non-empty directory that is not a sweep."""
        if self.root.exists() and not self.root.is_dir():
            raise GdError(f"--out {self.root} is a file; give a directory path")
        ours = (self.root / SWEEP_FILE).exists() or (self.root / LOCK).exists()  # LOCK: a sweep that just began
        if self.root.is_dir() and any(self.root.iterdir()) and not ours:
            raise GdError(f"--out {self.root} is not empty and holds no gd sweep; choose a new or empty directory")

    def open(self) -> int:
        """Take the directory's lock and clear what killed runs left behind; returns how many were cleared."""
        self.check()
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / LOCK, "a+")
        except OSError as exc:
            raise GdError(f"cannot write to --out {self.root}: {exc.strerror}; choose a writable directory") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the kernel even on SIGKILL
        except BlockingIOError:
            handle.close()
            raise GdError(f"another gd sweep is writing to {self.root}; wait for it to finish or stop it") from None
        self._lock = handle
        return remove_stale(self.runs)

    def close(self) -> None:
        """Release the lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def path(self, config: RunConfig) -> Path:
        """Where a run's directory lives."""
        return self.runs / run_key(config)

    def record(self, grid: Grid) -> None:
        """Add a grid's runs and skipped pairs to ``sweep.json`` (replaced atomically)."""
        known = read_sweep(self.root) if (self.root / SWEEP_FILE).exists() else {"runs": {}, "skipped": []}
        for config in grid.runs:
            known["runs"][run_key(config)] = config.as_dict()
        skipped = {(s["model"], s["acquisition"]): s for s in known["skipped"]}
        skipped.update({(s.model, s.acquisition): {"model": s.model, "acquisition": s.acquisition,
                                                   "reason": s.reason} for s in grid.skipped})
        document = {"format": "gd-sweep/1", "runs": known["runs"], "skipped": list(skipped.values())}
        temporary = self.root / f".{SWEEP_FILE}.{os.getpid()}"
        write_synced(temporary, json.dumps(document, indent=1, sort_keys=True) + "\n")
        os.replace(temporary, self.root / SWEEP_FILE)


def read_sweep(root: Path) -> dict[str, Any]:
    """The content of a sweep directory's ``sweep.json``."""
    path = Path(root) / SWEEP_FILE
    if not Path(root).is_dir():
        raise GdError(f"{root} does not exist; give a directory made by `gd sweep --out`")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GdError(f"{root} holds no {SWEEP_FILE}; give a directory made by `gd sweep --out`") from None
    except ValueError as exc:
        raise GdError(f"{path} is damaged ({exc}); delete it and run your `gd sweep` commands again "
                      "(finished runs are kept and not redone)") from None
    if document.get("format") != "gd-sweep/1":
        raise GdError(f"{path} has format {document.get('format')!r}, not gd-sweep/1; use a matching gd version")
    return document


# --------------------------------------------------------------------------------------------- the workers

@dataclass(frozen=True)
class RunTask:
    """One run for a worker: its settings, where to write it, and how the worker should be set up."""

    config: RunConfig
    out: str
    threads: int | None = None  # None: leave the worker's thread pools alone
    plugin_files: tuple[str, ...] = ()
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What became of one run."""

    key: str
    label: str
    ok: bool
    seconds: float
    error: str = ""
    worker: str = ""
    data_loads: int = 0  # datasets this worker has loaded so far


# One per worker process: the plugin host, the recently used datasets and the thread limit already applied.
_WORKER: dict[str, Any] = {}


def _worker_state(threads: int | None, plugin_files: tuple[str, ...]) -> tuple[Any, DatasetCache]:
    from gd_core.parallel import THREADS_VARIABLE

    given = os.environ.get(THREADS_VARIABLE, "")
    if threads is None and given.isdigit() and int(given) > 0:
        threads = int(given)  # a cluster's job script set the limit for its workers
    if threads is not None and _WORKER.get("threads") != threads:
        from gd_core.parallel import limit_threads

        limit_threads(threads)
        _WORKER["threads"] = threads
    if _WORKER.get("plugin_files") != plugin_files:
        from gd_core.plugins import PluginHost, load_plugin_file

        host = PluginHost()
        for path in plugin_files:
            load_plugin_file(host, Path(path))
        _WORKER.update(host=host, plugin_files=plugin_files, cache=DatasetCache())
    return _WORKER["host"], _WORKER["cache"]


def run_task(task: RunTask) -> Outcome:
    """Run one configuration into its directory; a run that raises is published as failed, not re-raised."""
    # A worker with several threads (a Dask worker started with --nthreads > 1) still runs one at a time:
    # a run's log handler and the dataset cache belong to the process.
    with _ONE_RUN_AT_A_TIME:
        return _run_alone(task)


_ONE_RUN_AT_A_TIME = threading.Lock()


def _run_alone(task: RunTask) -> Outcome:
    from gd_core.loop import execute, prepare
    from gd_core.results import RunDirectory, build_manifest

    started_clock = time.perf_counter()
    started = datetime.now(timezone.utc)
    key, label = Path(task.out).name, run_label(task.config.as_dict())
    worker = f"{os.uname().nodename}:{os.getpid()}"
    run_dir = RunDirectory(Path(task.out), force=True)
    cache = None
    try:
        host, cache = _worker_state(task.threads, task.plugin_files)
        with run_dir:
            plan = prepare(task.config, host.registries, cache=cache)
            if _WORKER.get("threads") and "torch" in sys.modules and not _WORKER.get("torch_limited"):
                from gd_core.parallel import limit_threads

                limit_threads(_WORKER["threads"])  # this run's model may have imported torch just now
                _WORKER["torch_limited"] = True
            run_dir.log_plan(plan)
            result = execute(plan)
            run_dir.commit(result, build_manifest(result, started=started, command=list(task.command)))
    except Exception as exc:  # noqa: BLE001 — any failure of one run is recorded and the sweep goes on
        error = f"{type(exc).__name__}: {exc}"
        try:
            run_dir.record_failure(task.config.as_dict(), error, traceback.format_exc())
        except OSError:
            pass
        return Outcome(key, label, False, time.perf_counter() - started_clock, error, worker,
                       cache.loads if cache else 0)
    return Outcome(key, label, True, time.perf_counter() - started_clock, "", worker, cache.loads)


# ------------------------------------------------------------------------------------------- the executors

class SerialExecutor:
    """Runs in this process, one after another (``--jobs 1``)."""

    name = "local"

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes in task order."""
        for task in tasks:
            yield run_task(task)

    def threads(self) -> int | None:
        """The thread limit per run (None: no limit)."""
        return None


class LocalExecutor:
    """A pool of ``jobs`` worker processes on this machine, each held to its share of the cores."""

    name = "local"

    def __init__(self, jobs: int) -> None:
        from gd_core.parallel import usable_cores

        self.jobs = jobs
        self._threads = max(1, usable_cores() // jobs)

    def threads(self) -> int | None:
        """The thread limit per run."""
        return self._threads

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes as runs finish; a worker that dies costs only its run."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        # spawn, not fork: forking a process that has started torch or BLAS threads can deadlock the child.
        context = multiprocessing.get_context("spawn")
        blamed: dict[str, int] = {}
        pending = list(tasks)
        while pending:
            pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context)
            futures = {pool.submit(run_task, task): task for task in pending}
            pending, progressed = [], False
            try:
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        # A worker died (killed, out of memory): the runs it had started are blamed, and one
                        # blamed twice is given up; all the others simply go to a fresh pool.
                        key = Path(task.out).name
                        if any(Path(task.out).parent.glob(f".{key}.partial-*")):
                            blamed[key] = blamed.get(key, 0) + 1
                            progressed = True
                            if blamed[key] >= 2:
                                yield _lost(task, "its worker process died twice (out of memory?)")
                                continue
                        pending.append(task)
                        continue
                    progressed = True
                    yield outcome
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            if pending and not progressed:  # the pool cannot even start a run: do not loop forever
                for task in pending:
                    yield _lost(task, "the worker processes could not start")
                return


def _lost(task: RunTask, why: str) -> Outcome:
    return Outcome(Path(task.out).name, run_label(task.config.as_dict()), False, 0.0, why)


class DaskExecutor:
    """Runs on a ``dask.distributed`` cluster: an existing scheduler, or a LocalCluster started here."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, jobs: int = 1, client: Any = None) -> None:
        self.scheduler = scheduler
        self.jobs = jobs
        self._client = client

    def threads(self) -> int | None:
        """The thread limit per run: a LocalCluster shares this machine; a real cluster sets its own."""
        if self.scheduler is None and self._client is None:
            from gd_core.parallel import usable_cores

            return max(1, usable_cores() // self.jobs)
        return None

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes as runs finish on the cluster's workers."""
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise GdError("the dask executor needs dask.distributed; pip install 'dask[distributed]'") from None
        cluster = None
        client = self._client
        if client is None:
            if self.scheduler is None:
                # one single-threaded worker process per job; no dashboard (it would need bokeh and a port)
                cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            else:
                client = _connect(Client, self.scheduler)
        try:
            futures = {client.submit(run_task, task, key=f"gd-run-{Path(task.out).name}-{time.time_ns()}",
                                     pure=False): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    yield future.result()
                except Exception as exc:  # noqa: BLE001 — a worker lost with its run (KilledWorker and the like)
                    yield _lost(task, f"{type(exc).__name__}: {exc}")
        finally:
            if self._client is None:
                client.close()
            if cluster is not None:
                cluster.close()


def _connect(client_class: Any, scheduler: str) -> Any:
    """A client for a scheduler given by address (tcp://host:8786) or by a scheduler file (JSON)."""
    try:
        if Path(scheduler).is_file():
            return client_class(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
        return client_class(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise GdError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it, or drop "
                      "--scheduler to use a local cluster") from None


# ------------------------------------------------------------------------------------------------ a sweep

@dataclass
class SweepSummary:
    """What one `gd sweep` did."""

    total: int
    already_done: int
    outcomes: list[Outcome]
    skipped: tuple[Skipped, ...]
    cleared: int
    seconds: float

    @property
    def failed(self) -> list[Outcome]:
        """The runs that failed this time."""
        return [o for o in self.outcomes if not o.ok]


def run_sweep(grid: Grid, out: Path, executor: Any, *, force: bool = False, plugin_files: Sequence[Path] = (),
              command: Sequence[str] = (), on_start: Callable[[int, int], None] | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> SweepSummary:
    """Run the grid's unfinished runs (all with ``force``) into ``out`` and report what happened."""
    started = time.perf_counter()
    store = SweepStore(out)
    cleared = store.open()
    try:
        store.record(grid)
        todo = [c for c in grid.runs if force or run_state(store.path(c)) != "done"]
        if on_start:
            on_start(len(grid.runs), len(todo))
        threads = executor.threads()
        files = tuple(str(Path(p).resolve()) for p in plugin_files)
        tasks = [RunTask(c, str(store.path(c).resolve()), threads, files, tuple(command)) for c in todo]
        outcomes = []
        for outcome in executor.map(tasks):
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    finally:
        store.close()
    return SweepSummary(len(grid.runs), len(grid.runs) - len(todo), outcomes, grid.skipped, cleared,
                        time.perf_counter() - started)
