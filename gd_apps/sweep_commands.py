"""``gd sweep``, ``gd report`` and ``gd plot``: the benchmark grid, its summary table and its figure.

Each loads the ``--plugin`` files it is given and warns about installed plugins that failed, before anything
else: a sweep's components, and the metrics a report ranks, may come from either.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

from gd_apps.common import (HIT_FRACTION_HELP, PROTOCOL_HELP, TEST_FRACTION_HELP, PluginFiles, console, counted,
                             load_plugin_files, print_table)
from gd_core.errors import GdError, Interrupted
from gd_core.hookspecs import hookimpl
from gd_core.plugins import PluginHost

if TYPE_CHECKING:
    from rich.table import Table

stdout = console()  # no emoji (":name:" in a gene or path is text); off a terminal, wide enough for the tables
stderr = console(stderr=True)
EXECUTORS = ("local", "dask")
FORMATS = ("table", "markdown", "csv")
CSV_TABLES = ("summary", "differences", "baselines")  # gd report --format csv --what
STATE_TABLE_LIMIT = 50  # a dry run lists every run up to this many; a larger grid is summarised by state
EXAMPLES = 3  # runs named per state or stale reason in a summarised dry run
REASONS_SHOWN = 8  # stale reasons listed in a dry run; the rest are counted


@hookimpl
def gd_register_commands(app: typer.Typer, host: PluginHost) -> None:
    """Add ``gd sweep``, ``gd report`` and ``gd plot`` to the root application (a built-in plugin, through the public hook)."""

    @app.command("sweep")
    def sweep(
        spec: Annotated[Optional[Path], typer.Argument(
            help="TOML file with the grid (keys: protocol, assays, descriptors, models, acquisitions, batch_sizes, "
                 "seeds, cycles, metrics, test_fraction, hit_fraction, split_seed, and tables params.KIND); options "
                 "override it.")
        ] = None,
        out: Annotated[Path, typer.Option(help="Sweep directory; an existing one is resumed.")] = ...,
        assay: Annotated[Optional[list[str]], typer.Option(help="Assay (repeatable).")] = None,
        descriptor: Annotated[Optional[list[str]], typer.Option(help="Descriptor (repeatable).")] = None,
        model: Annotated[Optional[list[str]], typer.Option(help="Model (repeatable; 'all' for every one).")] = None,
        acquisition: Annotated[Optional[list[str]], typer.Option(
            help="Acquisition (repeatable; 'all', the default, for every registered one).")] = None,
        protocol: Annotated[Optional[str], typer.Option(help=PROTOCOL_HELP)] = None,
        batch_size: Annotated[Optional[list[int]], typer.Option(
            help="Batch size (repeatable; default: the protocol's, 64 for genedisco).")] = None,
        seeds: Annotated[Optional[int], typer.Option(help="Seeds 0..N-1 per setting (default 5).")] = None,
        cycles: Annotated[Optional[int], typer.Option(
            help="Cycles per run (default: the protocol's; for genedisco the paper's rule, 40 up to batch 64, then "
                 "40×64 genes in all).")] = None,
        metric: Annotated[Optional[list[str]], typer.Option(help="Metric to record (repeatable).")] = None,
        param: Annotated[Optional[list[str]], typer.Option(
            help="KIND.KEY=VALUE for every component of a kind, or NAME.KEY=VALUE for one (repeatable; values "
                 "are JSON; `gd list KIND NAME` shows a component's parameters).")] = None,
        test_fraction: Annotated[Optional[float], typer.Option(help=f"{TEST_FRACTION_HELP} Default: the protocol's.")
                                 ] = None,
        hit_fraction: Annotated[Optional[float], typer.Option(help=f"{HIT_FRACTION_HELP} Default: the protocol's.")
                                ] = None,
        split_seed: Annotated[Optional[str], typer.Option(
            help="Seed of the test split, the same for every run seed (default 0); 'seed' draws one per seed.")
        ] = None,
        executor: Annotated[str, typer.Option(help="local (process pool) or dask.")] = "local",
        jobs: Annotated[Optional[int], typer.Option(
            help="Runs at once on this machine (local, or a Dask LocalCluster); default: one per core.")] = None,
        scheduler: Annotated[Optional[str], typer.Option(
            help="Dask scheduler address (tcp://HOST:8786) or scheduler file; none starts a LocalCluster.")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Run every run again, finished ones too.")] = False,
        keep_stale: Annotated[bool, typer.Option("--keep-stale", help=(
            "Keep finished runs made by other code (another version of gd or of a component's plugin, an edited "
            "--plugin file, a changed default) instead of redoing them."))] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help=(
            "Show each run's state (done, stale, missing, failed) and why stale runs are stale; run nothing."))
                           ] = False,
        plugin: Annotated[Optional[list[Path]], typer.Option(
            help="A Python file with @hookimpl functions, loaded here and by every worker (repeatable).")] = None,
    ) -> None:
        """Run a grid of active-learning runs; resumes an existing --out, skipping finished runs and redoing stale
        ones (made by other code than now, or with a default that has changed since)."""
        from gd_apps.common import parse_params, parse_split_seed
        from gd_core.results import Unwritable
        from gd_apps.sweep import SweepSpec, SweepStore, expand, read_spec, run_sweep, unwritten_error

        _fresh_consoles()
        if force and keep_stale:
            raise GdError("--force redoes every run and --keep-stale keeps the stale ones; drop one of them")
        load_plugin_files(host, plugin)
        values = read_spec(spec) if spec is not None else {}
        cli_values = {"assays": assay, "descriptors": descriptor, "models": model, "acquisitions": acquisition,
                      "batch_sizes": batch_size, "seeds": seeds, "cycles": cycles, "metrics": metric,
                      "test_fraction": test_fraction, "hit_fraction": hit_fraction,
                      "split_seed": None if split_seed is None else parse_split_seed(split_seed),
                      "protocol": protocol}
        params = values.pop("params", {})
        for target, given in parse_params(param or []).items():
            params.setdefault(target, {}).update(given)
        given = {k: v for k, v in cli_values.items() if v is not None}  # options left out keep the spec's value
        grid = expand(SweepSpec().updated(values).updated(given).updated({"params": params}),
                      host.registries)
        chosen = _executor(executor, jobs, scheduler, len(grid.runs))
        # Refuse what cannot run before anything is printed or made: a refusal stays one line.
        _refuse_an_empty_grid(grid)
        SweepStore(out).check(grid)
        if not dry_run:
            if hasattr(chosen, "connect"):
                chosen.connect()  # an unreachable --scheduler is refused here, not after the grid is shown
            try:
                out.mkdir(parents=True, exist_ok=True)
                # An existing directory may still refuse files (a read-only mount): find out before the grid shows.
                import tempfile

                with tempfile.TemporaryFile(dir=out):
                    pass
            except OSError as exc:
                raise Unwritable(out, exc) from None
        _show_grid(grid)
        if dry_run:
            _show_states(grid, out, force=force, keep_stale=keep_stale)
            return
        progress, task = _progress(), None

        def on_start(total: int, todo: int, stale: int) -> None:
            nonlocal task
            done = total - todo
            if chosen.name == "dask":
                how = f"scheduler {scheduler}" if scheduler else f"a LocalCluster of {chosen.jobs} workers"
            else:
                how = counted(getattr(chosen, 'jobs', 1), "process", "processes")
            stderr.print(f"{counted(total, 'run')}: {done} finished already, {todo} to run on {chosen.name} ({how})",
                         soft_wrap=True)
            if stale and keep_stale:
                stderr.print(f"kept {counted(stale, 'stale run')}, made by other code than now (--keep-stale); "
                             f"`gd sweep --dry-run` says why each is stale", soft_wrap=True, highlight=False)
            elif stale and not force:
                stderr.print(f"redoing {counted(stale, 'stale run')}, made by other code than now (each is replaced once its "
                             "new run is complete; --keep-stale keeps them, --dry-run says why)", soft_wrap=True,
                             highlight=False)
            task = progress.add_task("", total=todo)

        finished = 0

        def on_outcome(outcome: Any) -> None:
            nonlocal finished
            finished += 1
            if not stderr.is_terminal and outcome.ok:  # a log file gets a line per run instead of a bar
                stderr.print(f"[{finished}/{progress.tasks[task].total}] {outcome.label}: done in "
                             f"{outcome.seconds:.1f}s", soft_wrap=True, highlight=False, markup=False)
            if not outcome.ok:
                progress.console.print(f"[red]failed[/] {escape(outcome.label)}: {escape(_failed_run(outcome, out))}",
                                       soft_wrap=True, highlight=False)
            progress.update(task, advance=1, description=escape(outcome.label))

        command = ["gd", *sys.argv[1:]] if sys.argv and Path(sys.argv[0]).name == "gd" else ["gd", "sweep"]
        try:
            with progress:
                summary = run_sweep(grid, out, chosen, force=force, keep_stale=keep_stale, plugin_files=plugin or [],
                                    command=command, on_start=on_start, on_outcome=on_outcome)
        except KeyboardInterrupt:
            done = SweepStore(out).count_done(grid)
            raise Interrupted(f"{done} of {len(grid.runs)} runs are finished and kept in {out}; run the same command "
                              "again to resume") from None
        if summary.cleared:
            stderr.print(f"[dim]cleared {counted(summary.cleared, 'unfinished run')} left by an earlier, stopped sweep[/]")
        ran = len(summary.outcomes)
        redone = (f" ({summary.redone} of them redone because they were stale)"
                  if summary.redone and not force else "")
        stderr.print(f"{ran - len(summary.failed)} of {ran} runs finished in {_duration(summary.seconds)}{redone}; "
                     f"see `gd report {out}` and `gd plot {out} -o curves.png`", soft_wrap=True)
        if summary.still_stale:
            label, why = summary.still_stale[0]
            verb = "is" if len(summary.still_stale) == 1 else "are"
            stderr.print(f"[yellow]warning:[/] {counted(len(summary.still_stale), 'run')} made just now {verb} stale "
                         f"already ({escape(label)}: {escape(why)}): the workers run other code than this gd; install "
                         "the same versions of gd and the plugins where the runs are made", soft_wrap=True,
                         highlight=False)
        unwritable = unwritten_error(summary, grid, out, ran, option="--out", again="run the same command again")
        if unwritable:
            raise unwritable
        if summary.failed:
            raise GdError(_failures(summary.failed, ran, out))

    @app.command("report")
    def report(
        directory: Annotated[Path, typer.Argument(help="A sweep directory (gd sweep --out).")],
        fmt: Annotated[Optional[str], typer.Option("--format", help="table (default), markdown or csv.")] = None,
        metric: Annotated[Optional[list[str]], typer.Option(
            help="Metric to summarise (repeatable; default mse and hit_ratio).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every table); not with --format.")
                           ] = False,
        what: Annotated[Optional[str], typer.Option(
            help="The table --format csv prints: summary (default; mean, sd and rank per acquisition, relative "
                 "MSE, the AUC range), differences (paired vs random and vs the best: 95% CI, p, verdict, seeds "
                 "needed) or baselines (hit ratio of random in expectation and of an oracle).")] = None,
        plugin: PluginFiles = None,
    ) -> None:
        """Per setting: mean ± sd over seeds of final and area-under-curve metrics with ranks, paired differences vs
        random and vs the best (95% CI, paired t-test, seeds for 80% power), hit-ratio baselines, missing runs;
        damaged runs are left out and listed."""
        _fresh_consoles()
        fmt, what = _report_options(fmt, as_json, what)
        load_plugin_files(host, plugin)
        _report(host, directory, fmt, metric or [], as_json, what)

    @app.command("plot")
    def plot(
        directory: Annotated[Path, typer.Argument(help="A sweep directory (gd sweep --out).")],
        output: Annotated[Path, typer.Option("-o", "--output", help=(
            "Image file: .png, .svg or .pdf; an existing file is replaced once the new one is complete, missing "
            "directories are created."))],
        metric: Annotated[str, typer.Option(help="Metric on the y axis (mse, hit_ratio, spearman, …).")
                          ] = "hit_ratio",
        plugin: PluginFiles = None,
    ) -> None:
        """Learning curves in the paper's style: assays in rows, batch sizes in columns, a line per acquisition.

        For hit_ratio, thin grey lines add random's expected hit ratio (n / n_pool) and the oracle's ceiling
        (min(n, n_hits) / n_hits). Damaged runs are left out and listed."""
        from gd_apps.plot import check_output, plot_curves
        from gd_apps.report import load_results
        from gd_apps.sweep import CodeBook

        _fresh_consoles()
        load_plugin_files(host, plugin)
        check_output(output)
        results = load_results(directory, CodeBook(host.registries))
        _warn_damaged(results)
        _warn_stale(results)
        layout = plot_curves(results, metric, output)
        stderr.print(f"wrote {output}: {len(layout.rows)} × {len(layout.columns)} panels, "
                     f"{len(layout.acquisitions)} acquisitions"
                     + "".join(f", {name}" for name in layout.baselines), soft_wrap=True, markup=False)


def _fresh_consoles() -> None:
    """New consoles for a command, their width read from the environment (COLUMNS, a terminal) as it starts."""
    global stdout, stderr
    stdout, stderr = console(), console(stderr=True)


def _report_options(fmt: str | None, as_json: bool, what: str | None) -> tuple[str, str]:
    """The output format and csv table of ``gd report``; values and combinations it cannot honour are errors."""
    from gd_apps.report import did_you_mean

    if fmt is not None and fmt not in FORMATS:
        hint = did_you_mean(fmt, FORMATS).strip() or "choose one of them"
        raise GdError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}; {hint}")
    if what is not None and what not in CSV_TABLES:
        hint = did_you_mean(what, CSV_TABLES).strip() or "choose one of them"
        raise GdError(f"--what {what!r} is not one of {', '.join(CSV_TABLES)}; {hint}")
    if as_json and fmt is not None:
        raise GdError(f"--json and --format {fmt} both choose how the report is printed; drop one of them")
    if as_json and what is not None:
        raise GdError("--what picks the table of --format csv, but --json prints every table; drop --what, or use "
                      "--format csv instead of --json")
    if what is not None and fmt != "csv":
        raise GdError(f"--what picks the table of --format csv; --format {fmt or 'table'} shows every table, so drop "
                      "--what or use --format csv")
    return fmt or "table", what or "summary"


def _report(host: PluginHost, directory: Path, fmt: str, metric: list[str], as_json: bool, what: str) -> None:
    """The body of ``gd report``, once its options are checked."""
    from gd_apps.report import ALPHA, CONFIDENCE, DIGITS, MAX_SEEDS, POWER, build_report, load_results
    from gd_apps.sweep import CodeBook

    results = load_results(directory, CodeBook(host.registries))
    report = build_report(results, metric, host.registries)
    metrics, lower, span = report.metrics, report.lower, report.span
    summary, ranks, differences, best, base = (report.summary, report.ranks, report.differences, report.best,
                                               report.baselines)
    _warn_stale(results)
    if report.hidden:  # the default report shows mse and hit ratio: say what else the runs recorded
        stderr.print(f"also recorded: {', '.join(report.hidden)} (add `--metric NAME` for each metric to report)",
                     soft_wrap=True, highlight=False, markup=False)
    for note in report.guesses:
        stderr.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True, highlight=False)
    runs = results.runs
    if as_json:
        print(json.dumps({
            "directory": str(directory), "metrics": metrics,
            "lower_is_better": sorted(m for m in metrics if m in lower),
            "runs": {"expected": len(runs), "done": int((runs["state"] == "done").sum()),
                     "stale": [{"key": key, "label": label, "reason": why} for key, label, why in results.stale],
                     **{state: _records(runs[runs["state"] == state], columns)
                        for state, columns in (("failed", ["key", "label", "error"]), ("started", ["key", "label"]),
                                               ("missing", ["key", "label"]),
                                               ("damaged", ["key", "label", "error"]))}},
            "damaged": [damage.as_dict() for damage in results.damaged],
            "skipped": results.skipped,
            "auc_range": span.as_dict(),
            "summary": _records(summary, list(summary.columns)),
            "mean_ranks": _records(ranks, list(ranks.columns)),
            "best": _records(best, list(best.columns)),
            "baselines": _records(base, list(base.columns)),
            "differences": _records(differences, list(differences.columns)),
            "method": {"difference": "acquisition − reference, paired by seed within a setting",
                       "interval": f"{CONFIDENCE:.0%} Student t on the paired differences, n−1 df",
                       "test": "two-sided paired t-test", "alpha": ALPHA, "power": POWER,
                       "seeds_needed": "post-hoc: pairs for the observed mean and sd of the differences "
                                       f"(noncentral t), capped at {MAX_SEEDS}",
                       "ranks": f"1 = best mean; means equal to {DIGITS} significant digits tie and share the "
                                "better rank",
                       "best": "the best mean among the acquisitions with the most seeds; when several tie, each "
                               "is a reference of 'vs best'"},
        }, indent=2))
        return
    if fmt == "csv":
        _warn_damaged(results)  # stdout holds only the table
        table = {"summary": summary.assign(auc_from=span.lo, auc_to=span.hi), "differences": differences,
                 "baselines": base}[what]
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
        return
    if len(summary):
        _print_report(fmt == "markdown", metrics, span, summary, ranks, differences, base, best)
    _show_unfinished(runs, results, directory, markdown=fmt == "markdown")

def _failed_run(outcome: Any, out: Path) -> str:
    """A failed run's error and where its record is (or that the earlier finished run was kept)."""
    error, record_unwritable = outcome.error, bool(outcome.unwritable)
    if outcome.unwritable and error.startswith("cannot write"):  # the run's own files could not be written
        error = f"its files could not be written: {outcome.unwritable}"
        record_unwritable = False
    if outcome.kept:
        return f"{error}; the earlier finished run is kept ({out / outcome.record})"
    if outcome.record:
        return f"{error} ({out / outcome.record})"
    return f"{error} (nothing recorded{f': {outcome.unwritable}' if record_unwritable else ''})"


def _failures(failed: list[Any], ran: int, out: Path) -> str:
    """The closing line of a sweep in which runs failed: how many, where their records are, what to do."""
    recorded = [o for o in failed if o.record]
    kept = sum(o.kept for o in failed)
    text = f"{len(failed)} of {ran} runs failed"
    if kept:
        text += f" ({kept} of them redone runs whose earlier finished result was kept)"
    places = sorted({Path(o.record).parts[0] for o in recorded})
    if places:
        text += "; each one's error and traceback is in " + " or ".join(f"{out}/{p}/<key>/failure.json" for p in places)
    if len(recorded) < len(failed):
        text += f"; {len(failed) - len(recorded)} failed before writing anything (see their lines above)"
    return text + "; fix the cause and run the same command again to retry them"


def _executor(name: str, jobs: int | None, scheduler: str | None, n_runs: int) -> Any:
    from gd_core.helpers.parallel import usable_cores
    from gd_apps.sweep import DaskExecutor, LocalExecutor, SerialExecutor

    if name not in EXECUTORS:
        raise GdError(f"--executor {name!r} is not one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise GdError(f"--jobs must be at least 1, got {jobs}")
    if scheduler is not None and name != "dask":
        raise GdError("--scheduler is for --executor dask; add --executor dask or drop --scheduler")
    jobs = jobs or max(1, min(usable_cores(), n_runs))
    if name == "dask":
        return DaskExecutor(scheduler, jobs, notify=lambda line: stderr.print(
            f"[yellow]{escape(line)}[/]", soft_wrap=True, highlight=False, emoji=False))
    return SerialExecutor() if jobs == 1 else LocalExecutor(jobs)


def _refuse_an_empty_grid(grid: Any) -> None:
    if not grid.runs:
        reasons = sorted({skip.reason for skip in grid.skipped})
        more = f"; and {len(reasons) - 2} more" if len(reasons) > 2 else ""
        raise GdError(f"every combination of this grid is incompatible ({'; '.join(reasons[:2])}{more}); choose "
                      "other models or acquisitions")


def _show_grid(grid: Any) -> None:
    for skip in grid.skipped:
        stderr.print(f"[yellow]skipped[/] {skip.model} × {skip.acquisition}: {escape(skip.reason)}",
                     highlight=False)
    axes = {name: sorted({str(getattr(c, name)) for c in grid.runs}, key=lambda v: (len(v), v))
            for name in ("assay", "descriptor", "model", "acquisition", "batch_size", "seed")}
    shown = ", ".join(f"{len(v)} {k.replace('_', ' ')}{'s' if len(v) != 1 else ''}" for k, v in axes.items())
    stderr.print(f"grid: {counted(len(grid.runs), 'run')} ({shown})", soft_wrap=True)


def _show_states(grid: Any, out: Path, *, force: bool, keep_stale: bool) -> None:
    """Each run's state (a table up to ``STATE_TABLE_LIMIT`` runs), a count line per state, why stale runs are
    stale (grouped by reason), and what a plain ``gd sweep`` would do with them."""
    from gd_apps.sweep import STATES, SweepStore, run_key, run_label

    statuses = SweepStore(out).statuses(grid)
    labels = [run_label(config.as_dict()) for config in grid.runs]
    if len(grid.runs) <= STATE_TABLE_LIMIT:
        from gd_apps.common import table

        shown = table("key", "run", "cycles", "state", names=("key", "run", "cycles", "state"))
        for config, label, (state, _) in zip(grid.runs, labels, statuses):
            shown.add_row(run_key(config), escape(label), str(config.cycles), state)
        print_table(shown, stdout)

    def line(text: str) -> None:
        stdout.print(escape(text), soft_wrap=True, highlight=False)

    summarised = len(grid.runs) > STATE_TABLE_LIMIT
    action = {"done": "kept", "missing": "to run", "failed": "to run again",
              "stale": "kept (--keep-stale)" if keep_stale else "to redo (--keep-stale keeps them)"}
    for state in STATES:
        members = [label for label, (s, _) in zip(labels, statuses) if s == state]
        if force and members:
            what = "to run again (--force)" if state != "missing" else "to run"
        else:
            what = action[state] if members else ""
        examples = ""
        if summarised and members and state != "done" and state != "stale":
            examples = ": " + ", ".join(members[:EXAMPLES]) + (", …" if len(members) > EXAMPLES else "")
        line(f"{state}: {len(members)} run{'s' if len(members) != 1 else ''}"
             f"{f', {what}' if what else ''}{examples}")
        if state == "stale" and members and not summarised:
            for label, (s, why) in zip(labels, statuses):
                if s == "stale":
                    line(f"  stale {label}: {why}")
        elif state == "stale" and members:
            reasons: dict[str, list[str]] = {}
            for label, (s, why) in zip(labels, statuses):
                if s == "stale":
                    reasons.setdefault(why, []).append(label)
            ordered = sorted(reasons.items(), key=lambda item: (-len(item[1]), item[0]))
            for why, runs in ordered[:REASONS_SHOWN]:
                which = runs[0] if len(runs) == 1 else f"{len(runs)} runs, e.g. {runs[0]}"
                line(f"  stale because {why} ({which})")
            if len(ordered) > REASONS_SHOWN:
                rest = sum(len(runs) for _, runs in ordered[REASONS_SHOWN:])
                line(f"  and {len(ordered) - REASONS_SHOWN} other reasons ({rest} runs)")


def _progress() -> Any:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]runs"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), TextColumn("[dim]{task.description}"),
                    console=stderr, disable=not stderr.is_terminal)  # off a terminal: a line per run instead


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _records(frame: Any, columns: list[str]) -> list[dict[str, Any]]:
    """JSON-ready rows of a table; NaN and infinities (which JSON cannot hold) are null."""
    from gd_apps.common import json_value

    def value(cell: Any) -> Any:
        cell = json_value(cell)
        return None if isinstance(cell, float) and not math.isfinite(cell) else cell

    return [{c: value(v) for c, v in row.items()} for row in frame[columns].to_dict(orient="records")]


def _rich_table(headers: list[str], rows: list[list[str]], title: str, caption: str | None = None,
                group: int | None = None) -> Table:
    """A table whose names (settings, acquisitions, statistics) never wrap and whose other cells fold; with
    ``group``, a rule wherever that column's value changes. Print it with ``print_table``."""
    from gd_apps.common import table

    names = [h for h in headers if h in NAME_COLUMNS]
    shown = table(*headers, names=names, title=title, caption=caption)
    for i, row in enumerate(rows):
        last = i + 1 == len(rows)
        shown.add_row(*(escape(cell) for cell in row),
                      end_section=group is not None and not last and rows[i + 1][group] != row[group])
    return shown


# Report columns that name a row (a setting, an acquisition, a comparison): they never wrap, and a table too wide
# for the console is printed stacked under them (see cli_common.print_table).
NAME_COLUMNS = ("assay", "descriptor", "model", "batch", "acquisition", "seeds", "settings", "statistic", "vs")


def _print_report(markdown: bool, metrics: list[str], span: Any, summary: Any, ranks: Any, differences: Any,
                  base: Any, best: Any) -> None:
    """The report for people: the summary with the baselines, mean ranks, and each setting's paired differences."""
    from gd_apps.report import (DIFFERENCE_HEADERS, POWER, RANK_RULE, baseline_notes, difference_tables,
                                display_rows, markdown_table, statistic_label, tie_notes)

    caption, headers, rows = display_rows(summary, metrics, base)
    title = f"{caption}: mean ± sd over seeds (rank)" if caption else "mean ± sd over seeds (rank within setting)"
    rank_headers = ["acquisition", "settings", *[statistic_label(c.removesuffix("_rank")) for c in ranks.columns[2:]]]
    rank_rows = [[str(r[0]), str(r[1]), *[f"{v:.2f}" for v in r[2:]]] for r in ranks.itertuples(index=False)]
    several = summary[["assay", "descriptor", "model", "batch_size"]].drop_duplicates().shape[0] > 1
    notes = baseline_notes(base)
    tables = difference_tables(differences)
    if tables:
        notes.append("paired differences: 'not separable' when the 95% CI contains 0; seeds for "
                     f"{POWER:.0%} power is a post-hoc estimate from the observed mean and sd of the differences; "
                     "'best' is the best mean among the acquisitions with the most seeds, and when several tie, "
                     "each of them is a reference")
    notes += tie_notes(best)
    table_caption = f"{span.caption()}; {RANK_RULE}"
    if markdown:
        print(f"**{title}**\n\n{markdown_table(headers, rows)}\n\n_{table_caption}_")
        if several:
            print(f"\n**Mean rank over settings (1 = best)**\n\n{markdown_table(rank_headers, rank_rows)}")
        for difference_title, difference_rows in tables:
            print(f"\n**{difference_title}**\n\n{markdown_table(DIFFERENCE_HEADERS, difference_rows)}")
        print("".join(f"\n_{note}_\n" for note in notes))
        return
    print_table(_rich_table(headers, rows, title, table_caption), stdout)
    if several:
        print_table(_rich_table(rank_headers, rank_rows, "mean rank over settings (1 = best)"), stdout)
    for difference_title, difference_rows in tables:
        print_table(_rich_table(DIFFERENCE_HEADERS, difference_rows, difference_title, group=0), stdout)
    for note in notes:
        stdout.print(f"[dim]{escape(note)}[/]", soft_wrap=True, highlight=False)


def _show_unfinished(runs: Any, results: Any, directory: Path, *, markdown: bool) -> None:
    """How many runs finished; each failed, started, missing and damaged run and skipped pair, one line each."""
    from gd_apps.report import REDO

    def line(text: str, style: str = "") -> None:
        if markdown:
            print(f"- {text}")
        else:
            stdout.print(f"[{style}]{escape(text)}[/]" if style else escape(text), soft_wrap=True, highlight=False)

    count = {state: int((runs["state"] == state).sum()) for state in ("done", "failed", "started", "missing")}
    started = f", {count['started']} started" if count["started"] else ""
    summary = (f"{count['done']} of {len(runs)} runs finished, {count['failed']} failed{started}, "
               f"{count['missing']} missing" + (f", {len(results.damaged)} damaged" if results.damaged else ""))
    if markdown:
        print(f"\n**{summary}**\n")
    else:
        stdout.print(summary if count["done"] else f"no run has finished yet: {summary}", highlight=False)
    for row in runs[runs["state"] == "failed"].itertuples(index=False):
        line(f"failed {row.label}: {row.error} ({directory}/runs/{row.key}/failure.json)", "red")
    for row in runs[runs["state"] == "started"].itertuples(index=False):
        line(f"started {row.label} ({row.key}: being written, or left by a stopped sweep)", "yellow")
    for row in runs[runs["state"] == "missing"].itertuples(index=False):
        line(f"missing {row.label} ({row.key})", "yellow")
    for damage in results.damaged:
        line(f"damaged {damage}", "red")
    if any(damage.of_run for damage in results.damaged):
        line(f"damaged runs are left out of the report; {REDO}", "dim")
    for skip in results.skipped:
        line(f"skipped {skip['model']} × {skip['acquisition']}: {skip['reason']}", "dim")


def _warn_damaged(results: Any) -> None:
    """Each damaged file on stderr, one line each, for outputs whose stdout is data (csv) or a file (plot)."""
    from gd_apps.report import REDO

    for damage in results.damaged:
        stderr.print(f"[yellow]damaged[/] {escape(str(damage))}", soft_wrap=True, highlight=False)
    if any(damage.of_run for damage in results.damaged):
        stderr.print(f"[dim]damaged runs are left out; {escape(REDO)}[/]", soft_wrap=True, highlight=False)


def _warn_stale(results: Any) -> None:
    """One line on stderr when finished runs of the sweep were made by other code than now (see ``stale_line``)."""
    from gd_apps.report import stale_line

    text = stale_line(results)
    if text:
        stderr.print(f"[yellow]stale:[/] {escape(text)}", soft_wrap=True, highlight=False)
