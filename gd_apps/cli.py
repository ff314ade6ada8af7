"""The ``gd`` command line: list plugins and components, and run the active-learning loop.

The other command modules (``cli_data``, ``cli_info``, ``cli_sweep``) attach their commands in ``build_app``;
what they share lives in ``cli_common``, which imports none of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

# parse_params, parse_split_seed, json_value and the *_HELP texts are also imported from here by older code.
from gd_apps.common import (HIT_FRACTION_HELP, PROTOCOL_HELP, TEST_FRACTION_HELP, PluginFiles, console, json_value,
                                load_plugin_files, parse_params, parse_split_seed, print_table, table)
from gd_core.errors import MESSAGE_LIMIT, GdError, Interrupted, one_line
from gd_core.plugins import PluginHost
from gd_core.registry import KINDS, closest, literal

if TYPE_CHECKING:  # imported where used, to keep `gd --help` fast
    from gd_core.loop import RunConfig

# `gd run` with no options: a real screen and a descriptor that ship with gd (so it works offline), the
# paper's Bayesian network and its canonical uncertainty acquisition.
DEFAULTS = {"assay": "schmidt_2021_il2", "descriptor": "gene_ontology", "model": "bnn",
            "acquisition": "topuncertain"}


def usage_message(exc: Any) -> str:
    """A typer usage error's message, with the value the user gave when typer's wording leaves it out
    (``Invalid value for '--seed': Input should be a valid integer …; got "abc"``)."""
    message = exc.format_message()
    # click's wording; "unexpected" is how gd marks its own bugs
    message = message.replace("Got unexpected extra argument(s) ", "This command does not take the extra argument(s) ")
    message = message.replace("Got unexpected extra argument ", "This command does not take the extra argument ")
    errors = getattr(exc.__cause__, "errors", None)  # typer checks values with pydantic, which keeps the input
    try:
        given = errors()[0]["input"] if callable(errors) else None
    except (TypeError, IndexError, KeyError):
        given = None
    if given is None or literal(given) in message:
        return message
    return f"{message}; got {literal(given)}"


def _default_out(config: RunConfig) -> Path:
    """``runs/ASSAY-DESCRIPTOR-MODEL-ACQUISITION-bBATCH-sSEED``, plus ``-splitS`` off the default split seed and
    ``-PROTOCOL`` off the default protocol."""
    assay, descriptor = (Path(name).name.split(".")[0] for name in (config.assay, config.descriptor))  # stems
    split = "" if config.split_seed == 0 else f"-split{config.split_seed}"
    protocol = "" if config.protocol == "genedisco" else f"-{config.protocol}"
    return Path("runs") / (f"{assay}-{descriptor}-{config.model}-{config.acquisition}-b{config.batch_size}"
                           f"-s{config.seed}{split}{protocol}")


def build_app(host: PluginHost) -> typer.Typer:
    """The typer application, with every plugin's extra commands."""
    app = typer.Typer(
        name="gd", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
        help="Batch active learning for genetic experimental design (GeneDisco benchmark).",
    )

    @app.command("list-plugins")
    def list_plugins(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """List loaded plugins: distribution, version, source, what each registered, and errors."""
        load_plugin_files(host, plugin, warn=False)  # the table below shows the failures
        if as_json:
            print(json.dumps([r.as_dict() for r in host.records], indent=2))
            return
        out = console()
        listing = table("plugin", "distribution", "version", "source", "registered", "status",
                        names=("plugin", "version", "source", "status"))
        for r in host.records:
            registered = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in r.registered.items()) or "-"
            status = "[green]ok[/]" if r.error is None else "[red]failed[/]" if not r.loaded else "[red]error[/]"
            listing.add_row(escape(r.name), escape(r.distribution), escape(r.version), r.source, escape(registered),
                            status)
        print_table(listing, out)
        failed = [r for r in host.records if r.error]
        # Errors go below the table, unwrapped: a message cut to fit a column loses its hint.
        for r in failed:
            out.print(f"[red]{escape(r.name)}:[/] {escape(r.error)}", soft_wrap=True, highlight=False)
        if failed:
            console(stderr=True).print("[yellow]fix or uninstall the failing plugins, or choose plugins with "
                                       "GD_LOAD_PLUGINS=dist1,dist2[/]")

    @app.command("list")
    def list_components(
        kind: Annotated[Optional[str], typer.Argument(
            help=f"One of: {', '.join(KINDS)}, protocol (plurals too); or a component's name.")] = None,
        name: Annotated[Optional[str], typer.Argument(
            help="A component of that kind: show it in full, as `gd info KIND NAME` does.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """List registered components with their kind, plugin and summary; KIND NAME shows one in full."""
        load_plugin_files(host, plugin)
        if kind in ("protocol", "protocols"):  # how runs are scored (gd_core.protocols), listed beside components
            from gd_apps.info import show_protocols

            show_protocols(name, as_json)
            return
        if kind is not None:
            kind = kind[:-1] if kind.endswith("s") and kind[:-1] in KINDS else kind
        if name is not None or (kind is not None and kind not in KINDS and host.registries.find(kind)):
            # `gd list acquisition softuncertain`, or just `gd list softuncertain`: the page of `gd info`
            from gd_apps.info import find_components, show

            show(find_components(host, kind, name), as_json)
            return
        if kind is not None and kind not in KINDS:
            known = [*KINDS, *sorted({e.name for registry in host.registries for e in registry})]
            meant = closest(kind, known)
            hint = f"did you mean '{meant}'? " if meant else ""
            raise GdError(f"'{kind}' is neither a kind nor a registered component"
                          f"{host.missing_hint()}; {hint}use a kind ({', '.join(KINDS)}), KIND NAME, "
                          "or a name from `gd list`")
        from gd_core.registry import summary_of  # a plugin's summary that cannot be shown is marked, not fatal

        registries = [host.registries.of(kind)] if kind else list(host.registries)
        rows = [
            {"kind": e.kind, "name": e.name, "plugin": e.plugin, "distribution": e.distribution,
             "version": e.version, "summary": summary_of(e)}
            for registry in registries for e in registry
        ]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        listing = table("kind", "name", "plugin", "summary", names=("kind", "name", "plugin"))
        for row in rows:
            listing.add_row(row["kind"], escape(row["name"]), escape(row["plugin"]), escape(row["summary"]))
        print_table(listing)

    @app.command("run")
    def run(
        assay: Annotated[str, typer.Option(
            help="Assay name (see `gd data list`) or a CSV/TSV/parquet file: gene column + value column.")
        ] = DEFAULTS["assay"],
        descriptor: Annotated[str, typer.Option(
            help="Treatment descriptor name or a CSV/TSV/parquet file: gene column + feature columns.")
        ] = DEFAULTS["descriptor"],
        model: Annotated[str, typer.Option(help="Model name.")] = DEFAULTS["model"],
        acquisition: Annotated[str, typer.Option(help="Acquisition function name.")] = DEFAULTS["acquisition"],
        protocol: Annotated[str, typer.Option(help=PROTOCOL_HELP)] = "genedisco",
        batch_size: Annotated[Optional[int], typer.Option(
            help="Genes acquired per cycle (default: the protocol's; genedisco 64).")] = None,
        cycles: Annotated[Optional[int], typer.Option(
            help="Cycles: the model is fitted this many times; batch-size × cycles genes are acquired (default: "
                 "the protocol's; genedisco 8).")] = None,
        seed: Annotated[int, typer.Option(help="Seed for the first batch, models and acquisitions.")] = 0,
        split_seed: Annotated[str, typer.Option(
            help="Seed of the test split (and so of the hits), fixed apart from --seed so that seeds repeat the "
                 "experiment on one test set; 'seed' draws a new split for every --seed.")] = "0",
        metric: Annotated[Optional[list[str]], typer.Option(
            help="Metric to record, repeatable (default: the protocol's; genedisco mse, hit_ratio, spearman).")
        ] = None,
        param: Annotated[Optional[list[str]], typer.Option(
            help="KIND.KEY=VALUE passed to a factory, e.g. acquisition.temperature=0.5 (repeatable; values are "
                 "JSON; `gd list KIND NAME` shows a component's parameters).")] = None,
        test_fraction: Annotated[Optional[float], typer.Option(
            help=TEST_FRACTION_HELP + " Default: the protocol's (genedisco 0.2).")] = None,
        hit_fraction: Annotated[Optional[float], typer.Option(
            help=HIT_FRACTION_HELP + " Default: the protocol's (genedisco 0.05).")] = None,
        out: Annotated[Optional[Path], typer.Option(
            help="Run directory (default: a name made of the settings, under runs/).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace a finished run in --out.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the final metrics as JSON.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Run the active-learning loop for one assay, descriptor, model and acquisition."""
        from gd_core.loop import RunConfig

        err = console(stderr=True)
        # With --json, stdout carries only the JSON: whatever plugin code prints goes to stderr.
        quiet_stdout = contextlib.ExitStack()
        if as_json:
            quiet_stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
        try:
            load_plugin_files(host, plugin)
            config = RunConfig.for_protocol(
                protocol, assay=assay, descriptor=descriptor, model=model, acquisition=acquisition,
                batch_size=batch_size, cycles=cycles, seed=seed, metrics=tuple(metric) if metric else None,
                test_fraction=test_fraction, hit_fraction=hit_fraction, params=parse_params(param or []),
                split_seed=parse_split_seed(split_seed),
            )
            out = out or _default_out(config)
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from gd_apps.api import write_run

            progress = Progress(
                TextColumn("[bold]cycle"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                # Off a terminal (a log file, a pipe) the bar's last frame would be noise: a line per cycle instead.
                TextColumn("{task.description}"), console=err, transient=False, disable=not err.is_terminal,
            )
            task = progress.add_task("", total=config.cycles)

            def on_cycle(report: Any) -> None:
                shown = " ".join(f"{k}={v:.4g}" for k, v in report.metrics.items())
                progress.update(task, advance=1, description=f"n={report.n_acquired} {shown}")
                if not err.is_terminal:  # a log file or a batch job gets a line per cycle instead of a bar
                    err.print(f"cycle {report.cycle + 1}/{report.cycles}: n={report.n_acquired} {shown} "
                              f"(fit {report.fit_seconds:.2f}s)", soft_wrap=True, highlight=False, markup=False)

            @contextlib.contextmanager
            def preparing() -> Any:
                # Status lines update the spinner instead of piling up: a refusal after them stays the only line.
                with err.status("checking and loading data…") as status:
                    yield lambda line: status.update(f"[dim]{escape(line)}[/]")

            result, _ = write_run(config, host.registries, out, force=force, on_cycle=on_cycle, preparing=preparing,
                                  running=lambda: progress)
        except KeyboardInterrupt:  # before write_run took over (it says itself what a stopped run left)
            raise Interrupted("stopped before the run began; nothing was written") from None
        finally:
            quiet_stdout.close()
        _show_result(result, out, as_json)

    add_builtin_commands(host)
    host.add_commands(app)
    return app


def add_builtin_commands(host: PluginHost) -> None:
    """Register gd's own command plugins (``gd_apps.COMMAND_MODULES``) with ``host``, once; ``host.add_commands``
    then lets them add their commands through ``gd_register_commands``, as any installed plugin does."""
    import importlib

    from gd_apps import COMMAND_MODULES
    from gd_core.plugins import gd_version

    for module_name in COMMAND_MODULES:
        name = "builtin." + module_name.rsplit(".", 1)[-1]
        if host.pm.get_plugin(name) is None:
            host.add(importlib.import_module(module_name), name=name, distribution="gdisco", version=gd_version(),
                     source="builtin")


def _show_result(result: Any, out: Path, as_json: bool) -> None:
    wide = result.metrics.pivot(index=["cycle", "n_acquired"], columns="metric", values="value")
    wide = wide[list(result.plan.config.metrics)].reset_index()
    if as_json:
        final = {k: json_value(float(v)) for k, v in wide.iloc[-1].drop(["cycle", "n_acquired"]).items()}
        cycles = [{k: json_value(v) for k, v in row.items()}
                  for row in wide.to_dict(orient="records")]
        print(json.dumps({"out": str(out), "final": final, "cycles": cycles}, indent=2))
        return
    headers = [str(column) for column in wide.columns]
    listing = table(*headers, names=headers, title=f"results in {escape(str(out))}")
    for row in wide.itertuples(index=False):
        listing.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    print_table(listing)
    facts = result.plan.protocol_facts
    if "hit_ratio" in wide.columns and facts.get("hits"):
        # the hit ratio's two reference points, as `gd report` gives them: n / candidates and min(n, hits) / hits
        n = int(wide["n_acquired"].iloc[-1])
        console().print(f"hit ratio after {n} genes: random expects {n / facts['candidates']:.4g}, the oracle's "
                        f"ceiling is {min(n, facts['hits']) / facts['hits']:.4g} (protocol {facts['name']}: "
                        f"{facts['hits']} hits, {facts['hits_from']})", soft_wrap=True, highlight=False)


def _error(message: str) -> None:
    # One line whatever the message holds: a plugin's GdError may span many.
    console(stderr=True).print(f"[red]error:[/] {escape(one_line(message))}", soft_wrap=True, highlight=False)


def _interrupted(message: str) -> None:
    console(stderr=True).print(f"[yellow]interrupted:[/] {escape(one_line(message))}", soft_wrap=True,
                               highlight=False)


def _quiet_after_a_closed_pipe() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError (Python's advice)."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _StopSignals:
    """While gd runs, SIGTERM stops it the way Ctrl-C does (a KeyboardInterrupt, so every command cleans up and
    says what it kept), and the signal is remembered for the exit code. A second signal stops gd at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (gd called from a thread by a host program)
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:  # started under nohup or `&`: stay deaf to it
                self._previous[signum] = signal.signal(signum, self._stop)

    def _stop(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # the first one's cleanup takes too long for the user: leave now
            with contextlib.suppress(OSError):
                os.write(2, b"\ninterrupted again: stopping now\n")
            os._exit(128 + signum)
        self.signum = signum
        raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process the signal ended (130 for Ctrl-C)."""
        return 128 + (self.signum or signal.SIGINT)

    def restore(self) -> None:
        """Put back the handlers gd found."""
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one line and exit code 1 for any error, 128 + signal when interrupted."""
    stop = _StopSignals()
    try:
        host = PluginHost()
        from gd_core.loader import use_host

        use_host(host)  # gd_core.load inside a plugin's factory sees this command's --plugin files too
        app = build_app(host)
        code = app(args=argv, prog_name="gd", standalone_mode=False)
    except Interrupted as exc:
        _interrupted(str(exc))
        sys.exit(stop.exit_code)
    except GdError as exc:
        _error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:  # while plugins load, before any command runs
        _interrupted("stopped before doing anything")
        sys.exit(stop.exit_code)
    except (BrokenPipeError, SystemExit) as exc:
        if isinstance(exc, BrokenPipeError) or isinstance(exc.__context__, BrokenPipeError):
            _quiet_after_a_closed_pipe()  # `gd list | head`: the reader has all it wanted
            sys.exit(1)
        # gd's own exits happen below: this one came from a plugin's code
        from gd_core.loop import exit_text

        _error(f"{exit_text(exc)} (nothing was published)")
        sys.exit(1)
    except OSError as exc:
        # The system refused a read or write (a full disk, a read-only place, a name too long) that no command had
        # its own words for: the place is at fault, not gd.
        if os.environ.get("GD_DEBUG"):
            raise
        from gd_core.errors import refused_by_system

        _error(refused_by_system(exc))
        sys.exit(1)
    except Exception as exc:
        # Usage errors from typer's parser carry their own message; anything else is a bug of ours.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if not exc.format_message():  # `gd` alone: the help was printed, there is nothing to add
                sys.exit(0)
            ctx = getattr(exc, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else " (see `gd --help`)"
            _error(usage_message(exc) + where)
            sys.exit(1)
        if os.environ.get("GD_DEBUG"):
            raise
        # A bug (ours or a plugin's): still one line, with the way to the full traceback.
        _error(f"unexpected {type(exc).__name__}: {one_line(exc, limit=MESSAGE_LIMIT)} (set GD_DEBUG=1 to see the "
               "traceback)")
        sys.exit(1)
    finally:
        stop.restore()
    if stop.signum is not None or code == 130:
        # typer turns a KeyboardInterrupt that a command did not catch into exit code 130, silently
        _interrupted(f"stopped by {signal.Signals(stop.signum or signal.SIGINT).name}")
        sys.exit(stop.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
