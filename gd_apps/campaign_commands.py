"""``gd campaign init|add|propose|status`` and ``gd propose``: a lab's screen round after round, from the shell.

A thin layer over ``gd_apps.campaign`` (which loads pandas and numpy, so it is imported inside the commands: ``gd
--help`` stays fast). Tables go to stdout; progress, notices and the harmonisation report to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

from gd_apps.common import PluginFiles, console, json_value, load_plugin_files, parse_params, print_table, table
from gd_core.errors import GdError
from gd_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import pandas as pd

    from gd_core.plugins import PluginHost

PARAM_HELP = ("KIND.KEY=VALUE passed to a factory, KIND one of descriptor, model, acquisition (repeatable; values are "
              "JSON; `gd list KIND NAME` shows a component's parameters).")
EXCLUDE_HELP = "A gene list (one per line, or a table with a gene column) never to propose (repeatable)."
ONLY_HELP = "A gene list: propose only these genes."
SKIP_ESSENTIAL_HELP = "Never propose the bundled CEGv2 list of common essential genes (BioDiscoveryAgent, MIT)."
DIRECTORY_HELP = "The campaign's directory."
HEADERS = {"value_mean": "mean", "value_sd": "sd", "value_min": "min", "value_median": "median", "value_max": "max",
           "hits_cumulative": "hits in all"}


def _notice(line: str) -> None:
    console(stderr=True).print(f"[yellow]note:[/] {escape(line)}", soft_wrap=True, highlight=False)


def _show_plate(plate: pd.DataFrame, title: str) -> None:
    """The plate as a table: rank, gene, predicted mean and sd, and the acquisition's explanation columns."""
    extra = [c for c in plate.columns if c not in ("gene", "rank", "predicted_mean", "predicted_sd")]
    columns = ["rank", "gene", "predicted mean", "predicted sd", *extra]
    listing = table(*columns, names=columns, title=title, title_justify="left")
    for row in plate.to_dict("records"):
        listing.add_row(str(row["rank"]), escape(str(row["gene"])), _number(row["predicted_mean"]),
                        _number(row["predicted_sd"]), *(_number(row[c]) for c in extra))
    print_table(listing)


def _number(value: Any) -> str:
    value = json_value(value)
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


@hookimpl
def gd_register_commands(app: typer.Typer, host: PluginHost) -> None:
    """Add ``gd campaign`` and ``gd propose`` to the root application (a built-in plugin, through the public hook)."""
    campaign = typer.Typer(no_args_is_help=True, help=(
        "A lab's screen round after round: fit on the values measured so far, propose the next plate (the same "
        "steps as gd run, so the benchmark's verdict carries over)."))
    app.add_typer(campaign, name="campaign")

    def status_line() -> Any:
        return console(stderr=True).status("working…")

    @campaign.command("init")
    def init(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help="A new (or empty) directory for the campaign.")],
        descriptor: Annotated[str, typer.Option(
            help="Treatment descriptor name or a CSV/TSV/parquet file: gene column + feature columns.")] = ...,
        model: Annotated[str, typer.Option(help="Model name.")] = ...,
        acquisition: Annotated[str, typer.Option(help="Acquisition function name.")] = ...,
        batch_size: Annotated[int, typer.Option(help="Genes per plate.")] = ...,
        seed: Annotated[int, typer.Option(help="Seed of the first plate, the model fits and the acquisitions.")] = 0,
        param: Annotated[Optional[list[str]], typer.Option(help=PARAM_HELP)] = None,
        only: Annotated[Optional[Path], typer.Option(help="A gene list: the campaign's genes are these ∩ the "
                                                           "descriptor's.")] = None,
        exclude: Annotated[Optional[list[Path]], typer.Option(help=EXCLUDE_HELP)] = None,
        skip_essential: Annotated[bool, typer.Option("--skip-essential", help=SKIP_ESSENTIAL_HELP)] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Start a campaign: check and write its settings (DIR/campaign.toml, yours to edit between rounds)."""
        from gd_apps.campaign import Campaign, SETTINGS

        load_plugin_files(host, plugin)
        with status_line() as status:
            started = Campaign.init(
                directory, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=batch_size,
                seed=seed, params=parse_params(param or []), only=only, exclude=exclude or [],
                skip_essential=skip_essential, plugins=plugin or [], host=host, on_notice=_notice,
                on_status=lambda s: status.update(f"[dim]{escape(s)}[/]"))
        genes = next((e.get("genes") for e in started.history() if e.get("event") == "init"), None)
        console().print(f"campaign {escape(str(directory))}: {model} + {acquisition}, {batch_size} genes per plate, "
                        f"{genes} genes of descriptor {escape(descriptor)}; settings in {SETTINGS}. Next: gd campaign "
                        f"propose {escape(str(directory))}", soft_wrap=True, highlight=False)

    @campaign.command("add")
    def add(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help=DIRECTORY_HELP)],
        file: Annotated[Path, typer.Argument(metavar="FILE", help=(
            "CSV/TSV of measured values: a gene column (gene, or the first) and one or more value columns "
            "(replicates, averaged)."))],
        round: Annotated[Optional[int], typer.Option(
            "--round", help="The round the values belong to (default: the latest round with a proposal, or 0).")
        ] = None,
        replace: Annotated[bool, typer.Option("--replace", help=(
            "Replace genes measured before with a different value (recorded in history.jsonl); without it such a "
            "file is refused."))] = False,
    ) -> None:
        """Record measured values (gene symbols harmonised; replicates averaged; a changed value needs --replace)."""
        from gd_apps.campaign import Campaign

        with status_line() as status:
            report = Campaign(directory, host=host, on_notice=_notice,
                              on_status=lambda s: status.update(f"[dim]{escape(s)}[/]")).add(
                file, round=round, replace=replace)
        out = console()
        for line in report.lines():
            out.print(escape(line), soft_wrap=True, highlight=False)

    @campaign.command("propose")
    def propose(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help=DIRECTORY_HELP)],
        batch_size: Annotated[Optional[int], typer.Option(help="Genes on this plate (default: the campaign's).")
                              ] = None,
        exclude: Annotated[Optional[list[Path]], typer.Option(help=EXCLUDE_HELP)] = None,
        only: Annotated[Optional[Path], typer.Option(help=ONLY_HELP)] = None,
        force: Annotated[bool, typer.Option("--force", help=(
            "Propose a round that has a proposal again; the earlier one is kept in round-N/superseded-<time>/."))
                         ] = False,
    ) -> None:
        """Fit on every measured gene and write the next plate (DIR/round-N/proposal.csv and config.json)."""
        from gd_apps.campaign import Campaign

        with status_line() as status:
            plate = Campaign(directory, host=host, on_notice=_notice,
                             on_status=lambda s: status.update(f"[dim]{escape(s)}[/]")).propose(
                batch_size=batch_size, exclude=exclude or [], only=only, force=force)
        _show_plate(plate, f"round {plate.attrs['round']} plate: {plate.attrs['path']}")

    @campaign.command("status")
    def status(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help=DIRECTORY_HELP)],
        hit_threshold: Annotated[Optional[float], typer.Option(
            help="A hit is a measured gene with |value| ≥ this; adds hits per round and in all.")] = None,
        plot: Annotated[Optional[Path], typer.Option(
            help="Also draw the rounds to this image (.png, .svg or .pdf).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show the rounds: genes proposed, measured and pending, the measured values, hits found."""
        from gd_apps.campaign import Campaign, check_plot_path, plot_status

        if plot is not None:
            check_plot_path(plot)  # before anything is read or printed
        opened = Campaign(directory, host=host, on_notice=_notice)
        summary = opened.status(hit_threshold)
        if plot is not None:
            plot_status(summary, opened.measurements, plot, hit_threshold, title=directory.name)
        if as_json:
            print(json.dumps([{k: json_value(v) for k, v in row.items()} for row in summary.to_dict("records")],
                             indent=2))
        else:
            # Short headers, so that the table with hits fits 100 columns: "mean" is value_mean, and so on.
            headers = [HEADERS.get(c, c) for c in summary.columns]
            listing = table(*headers, names=headers)
            for row in summary.to_dict("records"):
                listing.add_row(*(_number(row[c]) for c in summary.columns))
            print_table(listing)
            if summary.empty:
                console().print(f"no round yet: gd campaign propose {escape(str(directory))}", highlight=False)
        if plot is not None:
            console(stderr=True).print(f"plot: {escape(str(plot))}", highlight=False)

    @app.command("propose")
    def propose_once(
        measured: Annotated[Optional[list[Path]], typer.Option(help=(
            "CSV/TSV of measured values (gene column, value columns: replicates), in the order measured "
            "(repeatable; a campaign's measurements.csv works too)."))] = None,
        descriptor: Annotated[str, typer.Option(
            help="Treatment descriptor name or a CSV/TSV/parquet file: gene column + feature columns.")] = ...,
        model: Annotated[str, typer.Option(help="Model name.")] = ...,
        acquisition: Annotated[str, typer.Option(help="Acquisition function name.")] = ...,
        batch_size: Annotated[int, typer.Option(help="Genes on the plate.")] = ...,
        out: Annotated[Path, typer.Option(help="Where to write the plate (CSV).")] = ...,
        seed: Annotated[int, typer.Option(help="Seed of the first plate, the model fit and the acquisition.")] = 0,
        cycle: Annotated[Optional[int], typer.Option(help=(
            "gd run's cycle index to draw randomness for (default: the highest round of the measured files, else "
            "batches measured − 1)."))] = None,
        param: Annotated[Optional[list[str]], typer.Option(help=PARAM_HELP)] = None,
        exclude: Annotated[Optional[list[Path]], typer.Option(help=EXCLUDE_HELP)] = None,
        only: Annotated[Optional[Path], typer.Option(help=ONLY_HELP)] = None,
        skip_essential: Annotated[bool, typer.Option("--skip-essential", help=SKIP_ESSENTIAL_HELP)] = False,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Propose one plate from measured values, without a campaign (the same plate a campaign would propose)."""
        from gd_apps.api import check_plate_out
        from gd_apps.campaign import measured_table, plate_csv, propose_plate

        load_plugin_files(host, plugin)
        check_plate_out(out, force)
        # Names as written: propose_plate harmonises them against the descriptor's genes, and reports.
        table_in = measured_table(measured or [], notice=_notice)
        with console(stderr=True).status("working…") as status:
            plate = propose_plate(
                table_in, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=batch_size,
                seed=seed, cycle=cycle, params=parse_params(param or []), exclude=exclude or [], only=only,
                skip_essential=skip_essential, plugins=plugin or [], host=host, on_notice=_notice,
                on_status=lambda s: status.update(f"[dim]{escape(s)}[/]"))
        from gd_core.results import write_atomic

        try:
            write_atomic(out, plate_csv(plate))
        except OSError as exc:
            raise GdError(f"cannot write --out {out}: {exc.strerror or exc}; choose a writable path") from None
        cycle_text = "the first, random plate" if plate.attrs.get("cycle") is None else \
            f"fitted on {plate.attrs['fitted_on']} genes, cycle {plate.attrs['cycle']}"
        _show_plate(plate, f"plate ({cycle_text}): {out}")
