"""Single-file plugins: `gd run --plugin FILE` loads a module's hookimpls for one invocation."""

from __future__ import annotations

import json

from tests.helpers import gd, run_args

LOWEST = '''
from gd_core import hookimpl


class LowestIndex:
    """Pick the available genes with the lowest positions."""

    requires = ()

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


@hookimpl
def gd_register_acquisitions(register):
    register("lowest_index", LowestIndex)
'''


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_plugin_file_adds_an_acquisition_for_this_run(tmp_path, capsys):
    plugin = write(tmp_path, "lowest.py", LOWEST)
    out = tmp_path / "run"

    code, _, stderr = gd(capsys, run_args(out, "--plugin", str(plugin), acquisition="lowest_index"))
    manifest = json.loads((out / "config.json").read_text())

    assert code == 0, stderr
    assert manifest["components"]["acquisition"]["plugin"] == "file:lowest.py"
    # lowest positions first: cycle 1 takes the smallest available genes (sorted gene names)
    cycle1 = [line.split(",")[1] for line in (out / "selections.csv").read_text().splitlines()[1:]
              if line.startswith("1,")]
    assert cycle1 == sorted(cycle1)


def test_without_the_file_the_name_is_unknown(tmp_path, capsys):
    code, _, stderr = gd(capsys, run_args(tmp_path / "run", acquisition="lowest_index"))

    assert code == 1 and "unknown acquisition 'lowest_index'" in stderr


def test_an_error_while_importing_points_at_file_and_line(tmp_path, capsys):
    plugin = write(tmp_path, "broken.py", "from gd_core import hookimpl\n\nLIMIT = 1 / 0\n")

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin)))

    assert code == 1
    line = stderr.strip().splitlines()[-1]
    assert f"{plugin}:3:" in line and "ZeroDivisionError" in line


def test_a_syntax_error_points_at_file_and_line(tmp_path, capsys):
    plugin = write(tmp_path, "syntax.py", "x = 1\ndef f(:\n    pass\n")

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin)))

    assert code == 1 and f"{plugin}:2: syntax error" in stderr


def test_a_file_that_registers_nothing_is_refused(tmp_path, capsys):
    plugin = write(tmp_path, "empty.py", "VALUE = 1\n")

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin)))

    assert code == 1 and "registers nothing" in stderr and str(plugin) in stderr


def test_a_misspelt_hook_in_a_file_is_named(tmp_path, capsys):
    plugin = write(tmp_path, "typo.py", LOWEST.replace("def gd_register_acquisitions", "def gd_register_acquisition"))

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin)))

    assert code == 1 and "gd_register_acquisitions" in stderr and str(plugin) in stderr
