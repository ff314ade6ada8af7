"""The Python API: ``gd run``, ``gd sweep``, ``gd report``, ``gd propose`` and ``gd campaign`` as functions that take
keyword arguments and return pandas tables, for notebooks and scripts (``docs/python.md``).

Each function checks its arguments as its command checks its options, by the same code and with the same one-line
messages (raised as ``gd_core.errors.GdError``; a message names the command's option, ``--batch-size`` for
``batch_size``), and then runs the very code the command runs: ``run`` is ``gd_core.loop.prepare``/``execute`` and,
given ``out``, the run directory ``gd run --out`` writes, byte for byte; ``sweep`` is ``gd_apps.sweep``; ``propose``
is ``gd_apps.campaign.propose_plate``; ``Campaign`` is ``gd_apps.campaign.Campaign``. ``gd_core.run``,
``gd_core.sweep``, ``gd_core.propose`` and ``gd_core.Campaign`` are these names, imported on first use.

Components come from the process's plugin host, the one ``gd_core.load`` uses (built-ins and the installed plugins
``GD_LOAD_PLUGINS`` allows); ``plugins=`` adds plugin files, module names or objects to it, as ``--plugin`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Sequence

import pandas as pd

from gd_apps.campaign import Campaign
from gd_core.errors import GdError, Interrupted
from gd_core.loader import load
from gd_core.loop import DEFAULT_METRICS, RunConfig, execute, failure_text, prepare

if TYPE_CHECKING:
    from gd_apps.report import SweepResults
    from gd_apps.sweep import SweepSummary
    from gd_core.loop import CycleReport, RunResult as LoopResult
    from gd_core.plugins import PluginHost
    from gd_core.registry import Registries

__all__ = ["Campaign", "RunResult", "SweepResult", "load", "propose", "report", "run", "sweep", "write_run"]

# `gd run`'s defaults (tests/test_api.py checks them against the command's options).
# None: the protocol's (gd_core.protocols; genedisco: batch 64, 8 cycles, test fraction 0.2, hit fraction 0.05).
RUN_DEFAULTS: dict[str, Any] = {"protocol": "genedisco", "assay": "schmidt_2021_il2", "descriptor": "gene_ontology",
                                "model": "bnn", "acquisition": "topuncertain", "batch_size": None, "cycles": None,
                                "seed": 0, "split_seed": 0, "test_fraction": None, "hit_fraction": None}
REPORT_TABLES = ("summary", "differences", "baselines", "mean_ranks", "best")


# ---------------------------------------------------------------------------------------------------- gd run

@dataclass
class RunResult:
    """A finished run: ``metrics`` (cycle, n_acquired, metric, value), ``selections`` (cycle, gene), the resolved
    settings (``config``, as config.json's ``settings``), the run directory (``path``, None without ``out``), the
    equivalent ``gd run`` command line and the seconds the cycles took."""

    metrics: pd.DataFrame
    selections: pd.DataFrame
    config: dict[str, Any]
    path: Path | None
    command: list[str]
    seconds: float

    def wide(self) -> pd.DataFrame:
        """One row per cycle (cycle, n_acquired, then one column per metric): the table ``gd run`` prints."""
        table = self.metrics.pivot(index=["cycle", "n_acquired"], columns="metric", values="value")
        table = table[list(self.config["metrics"])].reset_index()
        table.columns.name = None
        return table

    def __repr__(self) -> str:
        c = self.config
        last = self.wide().iloc[-1]
        final = ", ".join(f"{m}={last[m]:.4g}" for m in c["metrics"])
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (f"RunResult({c['model']} + {c['acquisition']} on {c['assay']} / {c['descriptor']}, batch "
                f"{c['batch_size']} × {c['cycles']} cycles, seed {c['seed']}: {final}{where})")


def run(*, protocol: str = RUN_DEFAULTS["protocol"], assay: str = RUN_DEFAULTS["assay"],
        descriptor: str = RUN_DEFAULTS["descriptor"], model: str = RUN_DEFAULTS["model"], acquisition: str = RUN_DEFAULTS["acquisition"],
        batch_size: int | None = RUN_DEFAULTS["batch_size"], cycles: int | None = RUN_DEFAULTS["cycles"],
        seed: int = RUN_DEFAULTS["seed"], params: dict[str, dict[str, Any]] | Sequence[str] | None = None,
        metrics: str | Sequence[str] | None = None, test_fraction: float | None = RUN_DEFAULTS["test_fraction"],
        hit_fraction: float | None = RUN_DEFAULTS["hit_fraction"], split_seed: int | str = RUN_DEFAULTS["split_seed"],
        plugins: Iterable[Any] = (), out: str | os.PathLike[str] | None = None, force: bool = False,
        on_cycle: Callable[[CycleReport], None] | None = None) -> RunResult:
    """``gd run``: the active-learning loop for one assay, descriptor, model and acquisition, with its defaults.

    ``protocol`` says how genes are split and hits counted (``gd_core.protocols``); batch size, cycles, fractions and
    metrics left as None are its own. ``params`` is ``{KIND: {KEY: VALUE}}`` or ``["KIND.KEY=VALUE", …]`` as
    ``--param`` takes; ``metrics`` a name or a list (genedisco's default: mse, hit_ratio, spearman). With ``out`` the
    run directory is written as ``gd run --out`` writes it (``force`` replaces a finished one); without, nothing is
    written. ``on_cycle`` gets each finished cycle's report.
    """
    host = _host(plugins)
    config = RunConfig.for_protocol(
        protocol, assay=_name("assay", assay), descriptor=_name("descriptor", descriptor), model=_name("model", model),
        acquisition=_name("acquisition", acquisition), batch_size=batch_size, cycles=cycles, seed=seed,
        metrics=None if metrics is None else _names_tuple(metrics, DEFAULT_METRICS), test_fraction=test_fraction,
        hit_fraction=hit_fraction, params=_params(params), split_seed=_split_seed(split_seed))
    command = run_command(config, plugins)
    if out is None:
        plan = prepare(config, host.registries)
        result = execute(plan, on_cycle=on_cycle)
        path = None
    else:
        result, path = write_run(config, host.registries, Path(out), force=force, command=command, on_cycle=on_cycle)
    return RunResult(result.metrics, result.selections, config.as_dict(), path, command, result.seconds)


def write_run(config: RunConfig, registries: Registries, out: Path, *, force: bool = False,
              command: list[str] | None = None, on_cycle: Callable[[CycleReport], None] | None = None,
              preparing: Callable[[], ContextManager[Callable[[str], None]]] | None = None,
              running: Callable[[], ContextManager[Any]] | None = None) -> tuple[LoopResult, Path]:
    """Check, prepare and execute ``config`` into the run directory ``out`` as ``gd run --out`` does: ``out`` locked
    first, every refusal before anything is written, the run staged and published whole; returns the result and
    where it was published. A failure is one GdError line saying what was published and where the partial run is.

    ``preparing`` (entered while the data loads; yields the status callback) and ``running`` (entered around the
    cycles) let a command show a spinner and a progress bar.
    """
    from gd_core.helpers.downloads import notice
    from gd_core.results import RunDirectory, Unwritable, build_manifest

    run_dir = None
    try:
        run_dir = RunDirectory(out, force=force)
        run_dir.claim()  # before the data loads: a second writer into this out stops here, not later
        started = datetime.now(timezone.utc)
        with (preparing or _no_status)() as on_status:
            # The data's notes (e.g. genes left out) on stderr too; run.log gets them from log_plan.
            plan = prepare(config, registries, on_status=on_status, on_note=lambda note: notice(note, logged=False))
        try:
            with run_dir, (running or contextlib.nullcontext)():
                run_dir.log_plan(plan)
                result = execute(plan, on_cycle=on_cycle)
                run_dir.commit(result, build_manifest(result, started=started, command=command))
        except Unwritable as exc:
            run_dir.discard()  # its files are incomplete, and on a full disk the space is better freed
            raise GdError(f"cannot write --out {out} (in {exc.place.resolve()}): {exc.why}; nothing was "
                          f"published; {exc.way_out}") from None
        except Interrupted:
            raise
        except GdError as exc:  # raised mid-run (e.g. NaN predictions): say where the partial run is
            if run_dir.log_path is None or not run_dir.log_path.exists():
                raise
            raise GdError(f"{exc}; {_where_a_failed_run_is(run_dir)}") from None
        except Exception as exc:
            raise GdError(f"run failed: {failure_text(exc)}; {_where_a_failed_run_is(run_dir, traceback=True)}"
                          ) from exc
    except KeyboardInterrupt:
        raise Interrupted(_what_an_interrupted_run_left(run_dir)) from None
    finally:
        if run_dir is not None:
            run_dir.release()
    assert run_dir.published is not None
    return result, run_dir.published


def _where_a_failed_run_is(run_dir: Any, *, traceback: bool = False) -> str:
    """The end of a failed `gd run`'s line: nothing published, and the partial directory holding its log."""
    log = run_dir.log_path.name
    what = f"the traceback is in its {log}" if traceback else f"with its {log}"
    return (f"nothing was published to --out {run_dir.out}; the partial run is in {run_dir.staging} ({what}; the "
            f"next run into {run_dir.out} removes it)")


def _what_an_interrupted_run_left(run_dir: Any) -> str:
    """The line for a `gd run` stopped by Ctrl-C or SIGTERM: what is in --out and where the partial run is."""
    if run_dir is None:
        return "stopped before the run began; nothing was written"
    out = run_dir.out
    if run_dir.published is not None:
        return f"stopped after the run had finished; it is complete in {out}"
    kept = f"; the finished run already in {out} is untouched" if (out / "config.json").is_file() else ""
    if run_dir.staging is not None and run_dir.staging.is_dir():
        return (f"nothing was published to --out {out}{kept}; the partial run and its log are in {run_dir.staging} "
                f"(the next run into {out} removes it)")
    return f"stopped before the run began; nothing was written to --out {out}{kept}"


@contextlib.contextmanager
def _no_status() -> Any:
    """Status lines while the data loads go to the ``gd`` logger (a run.log, if one listens), not the screen."""
    from gd_core.loop import log

    yield log.info


def run_command(config: RunConfig, plugins: Iterable[Any] = ()) -> list[str]:
    """The ``gd run`` command line that makes the same run (recorded as config.json's ``command``); a plugin given as
    an object or a module name has no ``--plugin`` form and is left out."""
    defaults = RunConfig.for_protocol(config.protocol, assay=config.assay, descriptor=RUN_DEFAULTS["descriptor"],
                                      model=RUN_DEFAULTS["model"], acquisition=RUN_DEFAULTS["acquisition"])
    argv = ["gd", "run"]
    if config.protocol != RUN_DEFAULTS["protocol"]:
        argv += ["--protocol", config.protocol]
    for key in ("assay", "descriptor", "model", "acquisition", "batch_size", "cycles", "seed", "split_seed",
                "test_fraction", "hit_fraction"):
        value = getattr(config, key)
        default = RUN_DEFAULTS[key] if key in ("assay", "seed", "split_seed") else getattr(defaults, key)
        if value != default:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    if tuple(config.metrics) != tuple(defaults.metrics):
        argv += [arg for metric in config.metrics for arg in ("--metric", metric)]
    for kind, values in config.params.items():
        argv += [arg for key, value in values.items()
                 for arg in ("--param", f"{kind}.{key}={json.dumps(value, default=str)}")]
    for plugin in _as_list(plugins):
        if isinstance(plugin, (str, os.PathLike)) and _is_file_name(str(plugin)):
            argv += ["--plugin", str(Path(plugin).resolve())]
    return argv


# -------------------------------------------------------------------------------------------------- gd sweep

class SweepResult:
    """A sweep directory read back: ``runs`` (every run: key, label, settings, state, error, …), ``metrics`` (the
    tidy curves of finished runs), ``skipped`` (incompatible pairs) and ``report()`` (the tables of ``gd report``).

    ``SweepResult(DIR)`` opens any directory made by ``gd sweep``; each property reads it afresh. ``summary`` is what
    the ``sweep`` call that returned it did (None when opened).
    """

    def __init__(self, path: str | os.PathLike[str], *, plugins: Iterable[Any] = (),
                 summary: SweepSummary | None = None) -> None:
        self.path = Path(path)
        self.summary = summary
        self._plugins = _plugin_files(plugins, "SweepResult")

    def results(self) -> SweepResults:
        """Everything ``gd report`` reads (``gd_apps.report.SweepResults``); a damaged file is listed, not fatal."""
        from gd_apps.report import load_results
        from gd_apps.sweep import CodeBook

        return load_results(self.path, CodeBook(_sweep_host(self._plugins).registries))

    @property
    def runs(self) -> pd.DataFrame:
        """One row per run the sweeps into this directory asked for: key, label, settings, state, error, …"""
        return self.results().runs

    @property
    def metrics(self) -> pd.DataFrame:
        """The metric curves of every finished run: key, settings, cycle, n_acquired, metric, value."""
        return self.results().curves

    @property
    def skipped(self) -> pd.DataFrame:
        """The model × acquisition pairs left out as incompatible, with the reason."""
        return pd.DataFrame(self.results().skipped, columns=["model", "acquisition", "reason"])

    def report(self, metrics: str | Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
        """The tables of ``gd report`` (see ``report``)."""
        return report(self.path, metrics=metrics, plugins=self._plugins)

    def __repr__(self) -> str:
        return f"SweepResult({str(self.path)!r})"


def sweep(*, out: str | os.PathLike[str], assay: str | Sequence[str] | None = None,
          descriptor: str | Sequence[str] | None = None, model: str | Sequence[str] | None = None,
          acquisition: str | Sequence[str] | None = None, batch_size: int | Sequence[int] | None = None,
          seeds: int | None = None, cycles: int | None = None, metrics: str | Sequence[str] | None = None,
          params: dict[str, dict[str, Any]] | Sequence[str] | None = None, test_fraction: float | None = None,
          hit_fraction: float | None = None, split_seed: int | str | None = None, protocol: str | None = None,
          spec: str | os.PathLike[str] | None = None, jobs: int | None = None, executor: str = "local",
          scheduler: str | None = None, plugins: Iterable[str | os.PathLike[str]] = (), force: bool = False,
          keep_stale: bool = False) -> SweepResult:
    """``gd sweep``: every run of the grid into ``out`` (an existing sweep is resumed: finished runs are kept, stale
    ones redone unless ``keep_stale``, every one with ``force``); the same engine, defaults and refusals.

    Each axis takes one value or a list. An argument left as None keeps the ``spec`` file's value, else ``gd sweep``'s
    default: protocol genedisco, assay schmidt_2021_il2, descriptor gene_ontology, model bnn, acquisition "all", the
    protocol's batch size, metrics and fractions (genedisco: 64, mse/hit_ratio/spearman, 0.2, 0.05), 5 seeds, the
    protocol's cycles (genedisco: the paper's rule). ``params`` is ``{KIND or NAME: {KEY: VALUE}}`` or
    ``["NAME.KEY=VALUE", …]``. ``jobs`` runs at once (default one per core; 1 runs them in this process); ``plugins`` are plugin files, which every worker
    loads. Runs that fail are recorded in ``out`` and then reported in one GdError line, as ``gd sweep`` does.
    """
    from gd_apps.sweep import SweepSpec, SweepStore, expand, read_spec, run_sweep, unwritten_error
    from gd_apps.sweep_commands import _executor, _failures, _refuse_an_empty_grid
    from gd_core.results import Unwritable

    if force and keep_stale:
        raise GdError("--force redoes every run and --keep-stale keeps the stale ones; drop one of them")
    files = _plugin_files(plugins, "sweep")
    host = _sweep_host(files)
    out = Path(out)
    values = read_spec(Path(spec)) if spec is not None else {}
    given = {"assays": _axis(assay), "descriptors": _axis(descriptor), "models": _axis(model),
             "acquisitions": _axis(acquisition), "batch_sizes": _axis(batch_size), "seeds": seeds, "cycles": cycles,
             "metrics": _axis(metrics), "test_fraction": test_fraction, "hit_fraction": hit_fraction,
             "split_seed": None if split_seed is None else _split_seed(split_seed), "protocol": protocol}
    merged = values.pop("params", {})
    for target, table in _params(params).items():
        merged.setdefault(target, {}).update(table)
    grid = expand(SweepSpec().updated(values).updated({k: v for k, v in given.items() if v is not None})
                  .updated({"params": merged}), host.registries)
    chosen = _executor(executor, jobs, scheduler, len(grid.runs))
    _refuse_an_empty_grid(grid)
    SweepStore(out).check(grid)
    if hasattr(chosen, "connect"):
        chosen.connect()  # an unreachable scheduler is refused before anything is made
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Unwritable(out, exc) from None
    try:
        summary = run_sweep(grid, out, chosen, force=force, keep_stale=keep_stale, plugin_files=files,
                            command=sweep_command(grid, files))
    except KeyboardInterrupt:
        done = SweepStore(out).count_done(grid)
        raise Interrupted(f"{done} of {len(grid.runs)} runs are finished and kept in {out}; make the same call "
                          "again to resume") from None
    unwritable = unwritten_error(summary, grid, out, len(summary.outcomes), option="out",
                                 again="make the same call again")
    if unwritable:
        raise unwritable
    if summary.failed:
        raise GdError(_failures(summary.failed, len(summary.outcomes), out))
    return SweepResult(out, plugins=files, summary=summary)


def sweep_command(grid: Any, plugin_files: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """A ``gd sweep`` command line for the record in each run's config.json: the axes the grid spans."""
    argv = ["gd", "sweep"]
    for option, key in (("--assay", "assay"), ("--descriptor", "descriptor"), ("--model", "model"),
                        ("--acquisition", "acquisition"), ("--batch-size", "batch_size")):
        for value in dict.fromkeys(str(getattr(config, key)) for config in grid.runs):
            argv += [option, value]
    if grid.runs:
        argv += ["--seeds", str(1 + max(config.seed for config in grid.runs))]
    argv += [arg for path in plugin_files for arg in ("--plugin", str(Path(path).resolve()))]
    return argv


def report(directory: str | os.PathLike[str], *, metrics: str | Sequence[str] | None = None,
           plugins: Iterable[str | os.PathLike[str]] = ()) -> dict[str, pd.DataFrame]:
    """``gd report``'s tables for a sweep directory, as DataFrames: ``summary`` (mean, sd and rank per acquisition of
    each metric's final and area-under-curve values, relative MSE, the AUC range: ``--format csv --what summary``),
    ``differences`` (paired vs random and vs the best), ``baselines`` (random's expected and the oracle's hit
    ratio), ``mean_ranks`` and ``best``. ``metrics`` default to mse and hit_ratio; stale runs are reported all the
    same, with a warning, as ``gd report`` prints.
    """
    from gd_apps.report import load_results
    from gd_apps.sweep import CodeBook

    registries = _sweep_host(_plugin_files(plugins, "report")).registries
    results = load_results(Path(directory), CodeBook(registries))
    tables, notes = report_tables(results, list(_names_tuple(metrics, ())), registries)
    import warnings

    for note in notes["stale"] + notes["guessed"]:  # the metrics not shown are the caller's choice: no warning
        warnings.warn(note, stacklevel=2)
    return tables


def report_tables(results: SweepResults, metrics: Sequence[str],
                  registries: Registries) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """The tables of ``gd report`` for the chosen ``metrics`` (none: mse and hit_ratio, where recorded), and the
    notes it prints on stderr by kind: ``stale`` runs, metrics whose direction was ``guessed``, metrics recorded
    but ``hidden``."""
    from gd_apps.report import build_report, stale_line

    report = build_report(results, metrics, registries)
    notes = {"stale": [f"stale: {text}" for text in [stale_line(results)] if text], "guessed": report.guesses,
             "hidden": [f"also recorded: {', '.join(report.hidden)} (add `--metric NAME` for each metric to report)"]
             if report.hidden else []}
    tables = {"summary": report.summary.assign(auc_from=report.span.lo, auc_to=report.span.hi),
              "differences": report.differences, "baselines": report.baselines, "mean_ranks": report.ranks,
              "best": report.best}
    return tables, notes


# ------------------------------------------------------------------------------------------------ gd propose

def propose(*, measured: pd.DataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
            descriptor: str, model: str, acquisition: str, batch_size: int, seed: int = 0, cycle: int | None = None,
            params: dict[str, dict[str, Any]] | Sequence[str] | None = None, exclude: Iterable[str | os.PathLike[str]] = (),
            only: str | os.PathLike[str] | None = None, skip_essential: bool = False, plugins: Iterable[Any] = (),
            out: str | os.PathLike[str] | None = None, force: bool = False) -> pd.DataFrame:
    """``gd propose``: the next plate for measured values, without a campaign (what a campaign would propose).

    ``measured`` is a DataFrame (gene, value[, round]; rows in the order measured), or one or more files as
    ``--measured`` takes (gene column, value columns as replicates; a campaign's measurements.csv), or None for the
    first, random plate. Returns gene, rank, predicted_mean, predicted_sd (and the acquisition's score or cluster);
    with ``out``, also writes it there as ``gd propose --out`` does (``force`` replaces an existing file).
    """
    from gd_apps.campaign import plate_csv, propose_plate

    if out is not None:
        check_plate_out(Path(out), force)
    host = _host(plugins)
    if measured is None:
        table = pd.DataFrame({"gene": [], "value": []})
    elif isinstance(measured, pd.DataFrame):
        table = measured
    else:
        from gd_apps.campaign import measured_table

        table = measured_table(_as_list(measured))
    plate = propose_plate(table, descriptor=_name("descriptor", descriptor), model=_name("model", model),
                          acquisition=_name("acquisition", acquisition), batch_size=batch_size, seed=seed,
                          cycle=cycle, params=_params(params), exclude=_as_list(exclude), only=only,
                          skip_essential=skip_essential, host=host)
    if out is not None:
        from gd_core.results import write_atomic

        try:
            write_atomic(Path(out), plate_csv(plate))
        except OSError as exc:
            raise GdError(f"cannot write --out {out}: {exc.strerror or exc}; choose a writable path") from None
    return plate


def check_plate_out(out: Path, force: bool) -> None:
    """``gd propose``'s refusals of ``--out``, before anything is read or fitted (a directory first: --force would
    not help there)."""
    if out.is_dir():
        raise GdError(f"--out {out} is a directory; give a file name such as {out / 'plate.csv'}")
    if out.exists() and not force:
        raise GdError(f"--out {out} exists; pass --force to replace it, or choose another file")


# ---------------------------------------------------------------------------------------------------- shared

def _host(plugins: Iterable[Any]) -> PluginHost:
    """The process's plugin host (``gd_core.load``'s), with ``plugins`` added; failed plugins warned once."""
    from gd_apps.common import warn_failed_plugins
    from gd_core.loader import _add_plugins, process_host

    host = process_host()
    _add_plugins(host, _as_list(plugins))
    warn_failed_plugins(host)
    return host


def _sweep_host(files: Sequence[str]) -> PluginHost:
    """A host as a sweep's workers build one (installed plugins and the plugin files), so that a grid is expanded
    with exactly the components its runs will use, and stale runs are told from done ones alike."""
    from gd_apps.common import load_plugin_files
    from gd_core.plugins import PluginHost

    host = PluginHost()
    load_plugin_files(host, [Path(p) for p in files])
    return host


def _plugin_files(plugins: Iterable[Any], where: str) -> list[str]:
    """Plugins for a sweep, which every worker process loads: only files can travel there."""
    files = []
    for plugin in _as_list(plugins):
        if not isinstance(plugin, (str, os.PathLike)) or not _is_file_name(str(plugin)):
            raise GdError(f"{where}: plugin {plugin!r} is not a .py file; a sweep's workers load plugins from files, "
                          "so put its hooks in a file and give its path (or install it as a package)")
        files.append(str(Path(plugin).resolve()))
    return files


def _is_file_name(text: str) -> bool:
    return text.endswith(".py") or "/" in text or os.sep in text


def _as_list(values: Any) -> list[Any]:
    """One value or an iterable of them, as a list (a string or path is one value)."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, os.PathLike)) or not isinstance(values, Iterable):
        return [values]
    return list(values)


def _name(kind: str, value: Any) -> str:
    """A component named by a string, or a user table by a path."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, str):
        raise GdError(f"--{kind} must be a registered name or a file path, got {type(value).__name__} {value!r}; "
                      f"`gd list {kind}` shows the names")
    return value


def _names_tuple(values: str | Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Metric names: None for the default, one name, or a list of them."""
    if values is None:
        return default
    return tuple(_as_list(values))


def _axis(values: Any) -> list[Any] | None:
    """A sweep axis: None (keep the spec's or the default), one value, or a list of values."""
    return None if values is None else [os.fspath(v) if isinstance(v, os.PathLike) else v for v in _as_list(values)]


def _params(params: Any) -> dict[str, dict[str, Any]]:
    """``{KIND: {KEY: VALUE}}`` as given (copied), or parsed from ``["KIND.KEY=VALUE", …]`` as ``--param`` is."""
    from gd_apps.common import parse_params

    if params is None:
        return {}
    if isinstance(params, str):
        params = [params]
    if isinstance(params, (list, tuple)) and all(isinstance(item, str) for item in params):
        return parse_params(list(params))
    if isinstance(params, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in params.items()):
        return {kind: dict(values) for kind, values in params.items()}
    raise GdError(f"params must be {{KIND: {{KEY: VALUE}}}} (e.g. {{'model': {{'n_estimators': 10}}}}) or a list of "
                  f"'KIND.KEY=VALUE' strings, got {params!r}")


def _split_seed(value: Any) -> int | str:
    """``split_seed``: a whole number, ``"seed"``, or their text as ``--split-seed`` takes it."""
    from gd_apps.common import parse_split_seed

    return parse_split_seed(value) if isinstance(value, str) else value
