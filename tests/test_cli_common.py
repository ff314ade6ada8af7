"""What every command shares: the warning about broken installed plugins, the hint they give an unknown name,
`--plugin` on every command that touches components, and tables that stay readable off a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from gd_apps.common import OFF_TERMINAL_WIDTH, print_table, table
from tests.helpers import gd, run_args

GD = Path(sys.executable).parent / "gd"
BROKEN = {"gdisco-broken": ("gdisco_broken_mod", 'raise ImportError("gdisco-broken needs the frobnicator package")\n'),
          "gdisco-typo": ("gdisco_typo_mod", "from gd_core import hookimpl\n\n\n@hookimpl\n"
                                             "def gd_register_acquisition(register):\n    pass\n")}
PLUGIN = '''
from gd_core import hookimpl


def lowest(n_genes: int = 50):
    """Lowest: a descriptor of the genes LOW1…LOWn."""
    import pandas as pd

    return pd.DataFrame({"f": range(n_genes)}, index=[f"LOW{i}" for i in range(n_genes)], dtype="float32")


@hookimpl
def gd_register_treatment_descriptors(register):
    register("lowest_genes", lowest, source="generated")
'''


def install(root: Path, monkeypatch, *names: str) -> None:
    """Fake installed distributions with gd.plugins entry points that fail, on sys.path for one test."""
    for dist in names:
        module, source = BROKEN[dist]
        info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[gd.plugins]\n{dist.split('-')[1]} = {module}\n")
        (root / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("GD_LOAD_PLUGINS", ",".join(names))


@pytest.fixture
def broken(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    install(tmp_path / "site", monkeypatch, "gdisco-broken")
    yield
    for module, _ in BROKEN.values():
        sys.modules.pop(module, None)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_a_broken_installed_plugin_is_one_warning_line_in_gd_run(broken, tmp_path, capsys):
    code, _, stderr = gd(capsys, run_args(tmp_path / "run"))

    assert code == 0, stderr
    assert warnings(stderr) == ["warning: plugin 'gdisco-broken' failed to load (import of 'gdisco_broken_mod' "
                                "failed: ImportError: gdisco-broken needs the frobnicator package); details: "
                                "gd list-plugins"]


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["list", "model"], ["info", "mse"],
                                  ["data", "list", "--json"]])
def test_a_broken_installed_plugin_is_one_warning_line_in_listings(broken, capsys, argv):
    code, stdout, stderr = gd(capsys, argv)

    assert code == 0 and stdout
    assert len(warnings(stderr)) == 1 and "'gdisco-broken'" in stderr and "gd list-plugins" in stderr


def test_list_plugins_shows_the_failure_instead_of_warning(broken, capsys):
    code, stdout, stderr = gd(capsys, ["list-plugins"])

    assert code == 0 and warnings(stderr) == []
    assert "gdisco-broken" in stdout and "frobnicator" in stdout


def test_several_broken_plugins_are_one_line_with_their_count(tmp_path, monkeypatch, capsys):
    (tmp_path / "site").mkdir()
    install(tmp_path / "site", monkeypatch, "gdisco-broken", "gdisco-typo")
    try:
        code, _, stderr = gd(capsys, ["list"])
    finally:
        for module, _ in BROKEN.values():
            sys.modules.pop(module, None)

    assert code == 0
    assert warnings(stderr) == ["warning: 2 plugins failed to load: 'gdisco-broken', 'gdisco-typo'; details: "
                                "gd list-plugins"]


def test_an_unknown_name_says_a_failed_plugin_may_have_provided_it(broken, tmp_path, capsys):
    code, _, stderr = gd(capsys, run_args(tmp_path / "run", acquisition="broken_acq"))

    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 1 and len(error) == 1 and len(warnings(stderr)) == 1
    # (the test environment's GD_LOAD_PLUGINS also leaves out whatever is really installed: said after a "; ")
    assert error[0].startswith("error: unknown acquisition 'broken_acq' (plugin 'gdisco-broken' failed to load and "
                               "may have provided it: gd list-plugins")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [["info", "broken_acq"], ["list", "acquisition", "broken_acq"],
                                  ["data", "info", "broken_screen"]])
def test_every_unknown_name_gets_the_hint(broken, capsys, argv):
    code, _, stderr = gd(capsys, argv)
    assert code == 1 and "(plugin 'gdisco-broken' failed to load and may have provided it: gd list-plugins" in stderr


def test_without_failed_plugins_an_unknown_name_has_no_hint(tmp_path, capsys):
    code, _, stderr = gd(capsys, run_args(tmp_path / "run", acquisition="broken_acq"))
    assert code == 1 and "unknown acquisition 'broken_acq'" in stderr and "failed to load" not in stderr
    assert warnings(stderr) == []


def test_a_gd_load_plugins_typo_is_a_warning_and_unknown_names_say_what_it_left_out(tmp_path, monkeypatch, capsys):
    (tmp_path / "site").mkdir()
    install(tmp_path / "site", monkeypatch, "gdisco-broken")
    monkeypatch.setenv("GD_LOAD_PLUGINS", "gdisco-brokn")  # the user's typo: nothing installed has that name
    try:
        code, _, stderr = gd(capsys, run_args(tmp_path / "run", acquisition="broken_acq"))
    finally:
        sys.modules.pop("gdisco_broken_mod", None)

    assert code == 1 and len(warnings(stderr)) == 1, stderr
    assert warnings(stderr)[0].startswith("warning: GD_LOAD_PLUGINS names 'gdisco-brokn', which is not installed "
                                          "(installed plugins: ") and "gdisco-broken" in warnings(stderr)[0]
    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert error[0].startswith("error: unknown acquisition 'broken_acq' (GD_LOAD_PLUGINS leaves out the installed "
                               "'gdisco-broken'"), error


# --- --plugin on every command that touches components -------------------------------------------


@pytest.fixture
def plugin(tmp_path) -> Path:
    path = tmp_path / "lowest.py"
    path.write_text(PLUGIN)
    return path


def test_list_and_list_plugins_take_plugin_files(plugin, capsys):
    listed = json.loads(gd(capsys, ["list", "descriptor", "--json", "--plugin", str(plugin)])[1])
    records = json.loads(gd(capsys, ["list-plugins", "--json", "--plugin", str(plugin)])[1])

    assert {"plugin": "file:lowest.py", "name": "lowest_genes"}.items() <= \
        next(row for row in listed if row["name"] == "lowest_genes").items()
    record = next(r for r in records if r["name"] == "file:lowest.py")
    assert record["source"] == "file" and re.fullmatch(r"sha256:[0-9a-f]{16}", record["version"])
    assert record["registered"] == {"descriptor": ["lowest_genes"]}


def test_data_commands_take_plugin_files(plugin, tmp_path, capsys):
    listed = json.loads(gd(capsys, ["data", "list", "--json", "--plugin", str(plugin)])[1])
    facts = json.loads(gd(capsys, ["data", "info", "lowest_genes", "--json", "--plugin", str(plugin)])[1])
    target = tmp_path / "lowest.csv"
    code, _, stderr = gd(capsys, ["data", "export", "lowest_genes", str(target), "--param", "n_genes=7",
                                  "--plugin", str(plugin)])

    assert "lowest_genes" in {row["name"] for row in listed}
    assert (facts["source"], facts["plugin"]) == ("generated", "file:lowest.py")
    assert code == 0, stderr
    assert target.read_text().splitlines()[:2] == ["gene,f", "LOW0,0.0"] and len(target.read_text().split()) == 8


def test_a_missing_plugin_file_is_one_line_on_any_command(tmp_path, capsys):
    for argv in (["list"], ["info", "mse"], ["data", "list"], ["list-plugins"]):
        code, _, stderr = gd(capsys, [*argv, "--plugin", str(tmp_path / "nope.py")])
        assert code == 1 and stderr.count("\n") == 1 and "no such file" in stderr, argv


# --- tables off a terminal -----------------------------------------------------------------------


def gd_piped(*argv: str, columns: str | None) -> str:
    """``gd`` with no terminal anywhere (stdin from /dev/null, output captured), as in CI or a pipe to a file."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["GD_LOAD_PLUGINS"] = ""
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([str(GD), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gd_list_at_80_columns_keeps_every_name_whole_and_every_summary_readable():
    rows = json.loads(gd_piped("list", "--json", columns=None))
    shown = gd_piped("list", columns="80")
    lines = shown.splitlines()

    assert max(cell_len(line) for line in lines) <= 80
    tokens = [line.split() for line in lines]
    for row in rows:  # each component's kind, name and plugin on one line, whole
        assert [row["kind"], row["name"], row["plugin"]] in tokens, row["name"]
    words = shown.split()
    for row in rows:  # and every word of its summary, none cut (the summary column never shrinks to a strip)
        assert all(word in words for word in row["summary"].split()), row["summary"]


def test_off_a_terminal_without_columns_tables_get_room():
    lines = gd_piped("list", columns=None).splitlines()
    assert 80 < max(cell_len(line) for line in lines) <= OFF_TERMINAL_WIDTH
    assert "┃ summary" in "\n".join(lines)  # wide enough for the table itself


def test_list_plugins_at_80_columns_keeps_plugin_names_whole():
    records = json.loads(gd_piped("list-plugins", "--json", columns=None))
    shown = gd_piped("list-plugins", columns="80")
    assert max(cell_len(line) for line in shown.splitlines()) <= 80
    first_words = {line.split()[0] for line in shown.splitlines() if line.strip()}
    assert {r["name"] for r in records} <= first_words


def render(width: int, build) -> str:
    out = Console(width=width, record=True, file=open(os.devnull, "w"), emoji=False)
    print_table(build(), out)
    return out.export_text()


def _components():
    listing = table("name", "plugin", "summary", names=("name", "plugin"))
    listing.add_row("a_rather_long_component_name", "gdisco-some-plugin", "Words that wrap " * 6)
    listing.add_row("short", "builtin.models", "Short.")
    return listing


def test_a_table_that_fits_is_a_table_and_only_its_text_wraps():
    text = render(100, _components)
    assert "┃ name" in text and "a_rather_long_component_name" in text
    assert max(cell_len(line) for line in text.splitlines()) <= 100


def test_a_table_too_narrow_for_its_text_is_stacked_with_names_whole():
    text = render(60, _components)
    lines = text.splitlines()
    assert "┃" not in text and max(cell_len(line) for line in lines) <= 60
    assert lines[1].split() == ["a_rather_long_component_name", "gdisco-some-plugin"]
    assert lines[2].split()[:2] == ["summary:", "Words"]
    assert text.split().count("wrap") == 6


def test_a_name_wider_than_the_console_runs_past_the_edge_uncut():
    def build():
        listing = table("name", "summary", names=("name",))
        listing.add_row("n" * 70, "text")
        return listing

    assert "n" * 70 in render(40, build)
