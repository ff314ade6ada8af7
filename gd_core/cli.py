"""The ``gd`` command line: list plugins and components, and run the active-learning loop."""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from gd_core.errors import GdError
from gd_core.plugins import PluginHost
from gd_core.registry import KINDS

if TYPE_CHECKING:  # imported where used, to keep `gd --help` fast
    from gd_core.loop import RunConfig

# `gd run` with no options: a real screen and a descriptor that ship with gd (so it works offline), the
# paper's Bayesian network and its canonical uncertainty acquisition.
DEFAULTS = {"assay": "schmidt_2021_il2", "descriptor": "gene_ontology", "model": "bnn",
            "acquisition": "topuncertain"}
stdout = Console()
stderr = Console(stderr=True)


def parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """Turn ``KIND.KEY=VALUE`` strings into ``{kind: {key: value}}``; values are read as JSON when they can be."""
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        kind, dot, key = target.partition(".")
        if not (sep and dot and kind and key):
            raise GdError(f"--param {item!r} must look like KIND.KEY=VALUE, e.g. acquisition.temperature=0.5")
        params.setdefault(kind, {})[key] = _value(raw)
    return params


def parse_split_seed(raw: str) -> int | str:
    """``--split-seed``: a whole number ≥ 0, or ``seed`` to follow the run seed."""
    from gd_core.loop import SPLIT_FOLLOWS_SEED

    text = raw.strip()
    if text == SPLIT_FOLLOWS_SEED:
        return text
    if not (text.isascii() and text.isdigit()):
        raise GdError(f"--split-seed {raw!r} must be a whole number ≥ 0 or '{SPLIT_FOLLOWS_SEED}' (a new test "
                      "split for every --seed)")
    return int(text)


def _value(raw: str) -> Any:
    python_words = {"True": True, "False": False, "None": None}
    if raw in python_words:
        return python_words[raw]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _default_out(config: RunConfig) -> Path:
    """``runs/ASSAY-DESCRIPTOR-MODEL-ACQUISITION-bBATCH-sSEED``, plus ``-splitS`` off the default split seed."""
    assay, descriptor = (Path(name).name.split(".")[0] for name in (config.assay, config.descriptor))  # stems
    split = "" if config.split_seed == 0 else f"-split{config.split_seed}"
    return Path("runs") / (f"{assay}-{descriptor}-{config.model}-{config.acquisition}-b{config.batch_size}"
                           f"-s{config.seed}{split}")


def build_app(host: PluginHost) -> typer.Typer:
    """The typer application, with every plugin's extra commands."""
    app = typer.Typer(
        name="gd", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
        help="Batch active learning for genetic experimental design (GeneDisco benchmark).",
    )

    @app.command("list-plugins")
    def list_plugins(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        """List loaded plugins: distribution, version, source, what each registered, and errors."""
        if as_json:
            print(json.dumps([r.as_dict() for r in host.records], indent=2))
            return
        table = Table(*(Column(h, overflow="fold") for h in
                        ("plugin", "distribution", "version", "source", "registered", "status")))
        for r in host.records:
            registered = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in r.registered.items()) or "-"
            status = "[green]ok[/]" if r.error is None else "[red]failed[/]" if not r.loaded else "[red]error[/]"
            table.add_row(r.name, r.distribution, r.version, r.source, registered, status)
        stdout.print(table)
        failed = [r for r in host.records if r.error]
        # Errors go below the table, unwrapped: a message cut to fit a column loses its hint.
        for r in failed:
            stdout.print(f"[red]{escape(r.name)}:[/] {escape(r.error)}", soft_wrap=True, highlight=False)
        if failed:
            stderr.print("[yellow]fix or uninstall the failing plugins, or choose plugins with "
                         "GD_LOAD_PLUGINS=dist1,dist2[/]")

    @app.command("list")
    def list_components(
        kind: Annotated[Optional[str], typer.Argument(help=f"One of: {', '.join(KINDS)}.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List registered components with their kind, plugin and summary."""
        if kind is not None:
            kind = kind[:-1] if kind.endswith("s") and kind[:-1] in KINDS else kind
        registries = [host.registries.of(kind)] if kind else list(host.registries)
        rows = [
            {"kind": e.kind, "name": e.name, "plugin": e.plugin, "distribution": e.distribution,
             "version": e.version, "summary": e.summary}
            for registry in registries for e in registry
        ]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table(*(Column(h, overflow="fold") for h in ("kind", "name", "plugin", "summary")))
        for row in rows:
            table.add_row(row["kind"], row["name"], row["plugin"], escape(row["summary"]))
        stdout.print(table)

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
        batch_size: Annotated[int, typer.Option(help="Genes acquired per cycle.")] = 64,
        cycles: Annotated[int, typer.Option(
            help="Cycles: the model is fitted this many times; batch-size × cycles genes are acquired.")] = 8,
        seed: Annotated[int, typer.Option(help="Seed for the first batch, models and acquisitions.")] = 0,
        split_seed: Annotated[str, typer.Option(
            help="Seed of the test split (and so of the hits), fixed apart from --seed so that seeds repeat the "
                 "experiment on one test set; 'seed' draws a new split for every --seed.")] = "0",
        metric: Annotated[Optional[list[str]], typer.Option(
            help="Metric to record, repeatable (default: mse, hit_ratio, spearman).")] = None,
        param: Annotated[Optional[list[str]], typer.Option(
            help="KIND.KEY=VALUE passed to a factory, e.g. acquisition.temperature=0.5 (repeatable).")] = None,
        test_fraction: Annotated[float, typer.Option(help="Share of genes held out for testing.")] = 0.2,
        hit_fraction: Annotated[float, typer.Option(help="Share of non-test genes, by |y|, that are hits.")] = 0.05,
        out: Annotated[Optional[Path], typer.Option(
            help="Run directory (default: a name made of the settings, under runs/).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace a finished run in --out.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the final metrics as JSON.")] = False,
        plugin: Annotated[Optional[list[Path]], typer.Option(
            help="A Python file with @hookimpl functions to load for this run (repeatable).")] = None,
    ) -> None:
        """Run the active-learning loop for one assay, descriptor, model and acquisition."""
        from gd_core.loop import DEFAULT_METRICS, RunConfig, execute, prepare
        from gd_core.plugins import load_plugin_file
        from gd_core.results import RunDirectory, build_manifest

        for path in plugin or []:
            load_plugin_file(host, path)

        config = RunConfig(
            assay=assay, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=batch_size,
            cycles=cycles, seed=seed, metrics=tuple(metric or DEFAULT_METRICS), test_fraction=test_fraction,
            hit_fraction=hit_fraction, params=parse_params(param or []), split_seed=parse_split_seed(split_seed),
        )
        out = out or _default_out(config)
        run_dir = RunDirectory(out, force=force)
        run_dir.check()
        started = datetime.now(timezone.utc)
        with stderr.status("checking and loading data…"):
            plan = prepare(config, host.registries, on_status=lambda s: stderr.print(f"[dim]{escape(s)}[/]"))
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        try:
            with run_dir, Progress(
                TextColumn("[bold]cycle"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=stderr, transient=False,
            ) as progress:
                task = progress.add_task("", total=config.cycles)

                def on_cycle(report: Any) -> None:
                    shown = " ".join(f"{k}={v:.4g}" for k, v in report.metrics.items())
                    progress.update(task, advance=1, description=f"n={report.n_acquired} {shown}")

                run_dir.log_plan(plan)
                result = execute(plan, on_cycle=on_cycle)
                run_dir.commit(result, build_manifest(result, started=started))
        except GdError:
            raise
        except Exception as exc:
            raise GdError(f"run failed: {type(exc).__name__}: {exc} (traceback in {run_dir.log_path})") from exc
        _show_result(result, out, as_json)

    from gd_core.cli_data import add_data_commands
    from gd_core.cli_sweep import add_sweep_commands

    add_data_commands(app, host)
    add_sweep_commands(app, host)
    host.add_commands(app)
    return app


def _show_result(result: Any, out: Path, as_json: bool) -> None:
    wide = result.metrics.pivot(index=["cycle", "n_acquired"], columns="metric", values="value")
    wide = wide[list(result.plan.config.metrics)].reset_index()
    if as_json:
        final = {k: json_value(float(v)) for k, v in wide.iloc[-1].drop(["cycle", "n_acquired"]).items()}
        cycles = [{k: json_value(v) for k, v in row.items()}
                  for row in wide.to_dict(orient="records")]
        print(json.dumps({"out": str(out), "final": final, "cycles": cycles}, indent=2))
        return
    table = Table(*wide.columns, title=f"results in {out}")
    for row in wide.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    stdout.print(table)


def json_value(value: Any) -> Any:
    """A table cell as JSON wants it: numpy scalars as Python numbers, NaN and pandas' NA as null."""
    value = value.item() if hasattr(value, "item") else value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if value.__class__.__name__ == "NAType" else value


def _error(message: str) -> None:
    stderr.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one red line and exit code 1 for any error."""
    try:
        app = build_app(PluginHost())
        code = app(args=argv, prog_name="gd", standalone_mode=False)
    except GdError as exc:
        _error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        _error("interrupted; nothing was published to --out")
        sys.exit(130)
    except Exception as exc:
        # Usage errors from typer's parser carry their own message; anything else is a bug of ours.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if not exc.format_message():  # `gd` alone: the help was printed, there is nothing to add
                sys.exit(0)
            ctx = getattr(exc, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else " (see `gd --help`)"
            _error(exc.format_message() + where)
            sys.exit(1)
        if os.environ.get("GD_DEBUG"):
            raise
        # A bug (ours or a plugin's): still one line, with the way to the full traceback.
        _error(f"unexpected {type(exc).__name__}: {exc} (set GD_DEBUG=1 to see the traceback)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
