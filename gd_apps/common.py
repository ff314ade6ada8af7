"""What every ``gd`` command module shares: consoles and tables, the ``--plugin`` option, the warning about
plugins that failed to load, and the parsing of ``--param`` and ``--split-seed``.

It imports no other CLI module, so ``cli.py``, ``cli_data.py``, ``cli_info.py`` and ``cli_sweep.py`` can all
import it without a circle. Like them, it loads no numerical library at import.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Optional

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape

from gd_core.errors import GdError

if TYPE_CHECKING:
    from rich.table import Column, Table

    from gd_core.plugins import PluginHost

# Off any terminal (a file, CI log, a subprocess) with no COLUMNS, rich falls back to 80 columns, which folds
# every summary into a narrow strip; a log or a file has no edge to fit, so tables get this much room.
OFF_TERMINAL_WIDTH = 120
# Text narrower than this reads as a strip of single words: a table that leaves less is printed stacked.
TEXT_MIN_WIDTH = 30
_STACK_INDENT = 4  # a stacked row's text values, under its names
# One wording for `gd run` and `gd sweep`, so the two helps cannot drift apart.
TEST_FRACTION_HELP = "Share of the aligned genes held out for testing, strictly between 0 and 1."
HIT_FRACTION_HELP = ("Share of the non-test genes that are hits (by |y|, or by signed y under discobax; not used "
                     "with a screen's published list under biodiscoveryagent): above 0 and at most 1.")
PROTOCOL_HELP = ("How genes are split and hits counted: genedisco (default), biodiscoveryagent, "
                 "biodiscoveryagent_noess or discobax (`gd info protocol NAME`); sets the default batch size, cycles, "
                 "fractions and metrics.")
PLUGIN_HELP = "A Python file with @hookimpl functions to load for this command (repeatable)."

# `--plugin FILE`, repeatable; one definition for every command that touches components.
PluginFiles = Annotated[Optional[list[Path]], typer.Option("--plugin", help=PLUGIN_HELP)]


def console(*, stderr: bool = False) -> Console:
    """A rich console for gd's output: no emoji (``:name:`` in a gene is text), and off every terminal without
    ``COLUMNS``, ``OFF_TERMINAL_WIDTH`` columns rather than rich's 80.

    On a terminal, or when stdout is piped but the terminal is still there (``gd list | less``), rich's own width
    (the terminal's, or ``COLUMNS``) stands: the table must fit where it is read.
    """
    width = None if "COLUMNS" in os.environ or _on_a_terminal() else OFF_TERMINAL_WIDTH
    return Console(stderr=stderr, emoji=False, width=width)


def _on_a_terminal() -> bool:
    """Whether any of the standard streams is a terminal whose size rich can read (rich asks the same three)."""
    for fd in (0, 1, 2):
        try:
            os.get_terminal_size(fd)
        except (OSError, ValueError):
            continue
        return True
    return False


def table(*columns: str | Column, names: Iterable[str] = (), **options: Any) -> Table:
    """A table whose ``names`` columns (identifiers: kinds, names, plugins, versions, numbers) never wrap, and
    whose other columns hold text that wraps in the width left; print it with ``print_table``.

    Rich's default shrinks every column alike when the width is short, cutting names into pieces; here only
    free text wraps, at word boundaries where it can.
    """
    from rich.table import Column, Table

    keys = set(names)
    built = [column if not isinstance(column, str) else
             Column(column, no_wrap=True) if column in keys else Column(column, overflow="fold")
             for column in columns]
    return Table(*built, **options)


def print_table(table: Table, out: Console | None = None) -> None:
    """Print ``table`` with every name whole and every text column at least ``TEXT_MIN_WIDTH`` wide (or as wide
    as its longest value, if less); where that needs more than the console's width, print it stacked instead.

    Stacked, as psql's expanded display does for a wide result: the names of a row on one line (under a
    header line), then each of its text values on its own indented line, wrapped to the full width. A name
    longer than the line runs past the edge rather than being cut: it may be copied into a command.
    """
    out = out or console()
    if _needed_width(table) <= out.width:
        out.print(table)
    else:
        _print_stacked(table, out)


def _needed_width(table: Table) -> int:
    """Columns the table takes with its names whole and its text columns at their minimum readable width."""
    _, right, _, left = table.padding
    width = (2 if table.box and table.show_edge else 0) + (len(table.columns) - 1 if table.box else 0)
    for column in table.columns:
        widest = max([_plain_len(column.header) if table.show_header else 0,
                      *(_plain_len(cell) for cell in column.cells)])
        width += left + right + (widest if column.no_wrap else min(widest, TEXT_MIN_WIDTH))
    return width


def _print_stacked(table: Table, out: Console) -> None:
    from rich.text import Text

    keys = [column for column in table.columns if column.no_wrap]
    texts = [column for column in table.columns if not column.no_wrap]
    cells = {id(column): [_text(cell) for cell in column.cells] for column in table.columns}
    widths = [max([_plain_len(column.header), *(t.cell_len for t in cells[id(column)])]) for column in keys]
    label_width = max((cell_len(str(column.header)) for column in texts), default=0) + 2  # "name: "

    def names_line(parts: list[Text]) -> Text:
        padded = [part.copy() for part in parts]
        for part, width in zip(padded[:-1], widths):
            part.pad_right(width - part.cell_len)
        return Text("  ").join(padded)

    def show(text: Text) -> None:
        out.print(text, soft_wrap=True, highlight=False)

    if table.title:
        show(_text(table.title))
    if table.show_header and keys:
        show(names_line([Text(str(column.header), style="bold") for column in keys]))
    indent = _STACK_INDENT + label_width
    for row in range(table.row_count):
        if keys:
            show(names_line([cells[id(column)][row] for column in keys]))
        for column in texts:
            value = cells[id(column)][row]
            if value.plain.strip() in ("", "-", "–"):
                continue
            # wrapped to the width left of the label, each line after the first under the first
            lines = value.wrap(out, max(out.width - indent, TEXT_MIN_WIDTH), overflow="fold")
            label = f"{column.header}:".ljust(label_width)
            for i, line in enumerate(lines):
                line.rstrip()
                show(Text(" " * _STACK_INDENT) + (Text(label, style="dim") if i == 0 else Text(" " * label_width))
                     + line)
    if table.caption:
        show(_text(table.caption))


def _text(cell: Any) -> Any:
    """A cell as rich Text (markup read)."""
    from rich.text import Text

    return cell if isinstance(cell, Text) else Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))


def _plain_len(cell: Any) -> int:
    """How many columns a cell's longest line takes, markup aside."""
    from rich.text import Text

    if not isinstance(cell, (str, Text)):
        return 0
    return max((cell_len(line) for line in _text(cell).plain.splitlines()), default=0)


def load_plugin_files(host: PluginHost, paths: Iterable[Path] | None, *, warn: bool = True) -> None:
    """Load each ``--plugin FILE`` into ``host`` (a file that cannot be used is a GdError naming it), then, unless
    ``warn`` is False, say in one line which plugins failed (``warn_failed_plugins``)."""
    from gd_core.plugins import load_plugin_file

    for path in paths or []:
        load_plugin_file(host, path)
    if warn:
        warn_failed_plugins(host)


def warn_failed_plugins(host: PluginHost) -> None:
    """One line on stderr naming every plugin that failed to load or register, pointing to ``gd list-plugins``;
    and one naming the ``GD_LOAD_PLUGINS`` entries that match no installed plugin (a typo hides a plugin).

    Said once per host, however many code paths of a command ask.
    """
    if host.failures_reported:
        return
    host.failures_reported = True
    lines = []
    failed = [record for record in host.records if record.error]
    if failed:
        what = "failed to load" if not any(record.loaded for record in failed) else "failed"
        if len(failed) == 1:
            line = f"plugin '{failed[0].name}' {what} ({_short(failed[0].error or '')})"
        else:
            line = f"{len(failed)} plugins {what}: {', '.join(repr(record.name) for record in failed)}"
        lines.append(f"{line}; details: gd list-plugins")
    if host.unmatched:
        installed = sorted({r.distribution for r in host.records if r.source == "entry point"} | set(host.left_out))
        lines.append(f"GD_LOAD_PLUGINS names {', '.join(repr(name) for name in host.unmatched)}, which "
                     f"{'is' if len(host.unmatched) == 1 else 'are'} not installed (installed plugins: "
                     f"{', '.join(installed) or 'none'})")
    for line in lines:
        console(stderr=True).print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True, highlight=False)


def _short(error: str, limit: int = 160) -> str:
    """A plugin's error for a warning line: its gist, with the start kept (the exception's type and message)."""
    return error if len(error) <= limit else error[:limit - 1] + "…"


def parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """Turn ``KIND.KEY=VALUE`` strings into ``{kind: {key: value}}``; values are read as JSON when they can be.

    The values' types and ranges are checked by the component that takes them, when it is built.
    """
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        kind, dot, key = target.partition(".")
        if not (sep and dot and kind and key):
            raise GdError(f"--param {item!r} must look like KIND.KEY=VALUE, e.g. acquisition.temperature=0.5")
        params.setdefault(kind, {})[key] = _value(raw)  # a later value for the same key wins
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
    """A ``--param`` value: JSON (``3``, ``0.5``, ``true``, ``null``, ``[8, 16]``), Python's True/False/None, or
    else the text itself."""
    python_words = {"True": True, "False": False, "None": None}
    if raw in python_words:
        return python_words[raw]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def json_value(value: Any) -> Any:
    """A table cell as JSON wants it: numpy scalars as Python numbers, NaN and pandas' NA as null."""
    value = value.item() if hasattr(value, "item") else value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if value.__class__.__name__ == "NAType" else value


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 run``, ``2 runs`` (``plural`` where adding an s is wrong: ``counted(2, "process", "processes")``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
