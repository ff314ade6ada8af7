"""The commands that only list or explain import no numerical library: they answer before numpy would load.

Each command runs in a fresh process as the ``gd`` console script, which on exit writes down every module
loaded (``sys.modules``: also what ``importlib.import_module`` loaded, which Python's ``-X importtime`` log
leaves out). Installed plugins are kept out (conftest sets ``GD_LOAD_PLUGINS=``): what they import is theirs.
Speed itself is measured by benchmarks/cli_latency.py, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gd_plugins_builtin

GD = Path(sys.executable).parent / "gd"
HEAVY = {"numpy", "pandas", "torch", "sklearn", "scipy", "dask", "distributed", "matplotlib", "pyarrow", "numba"}
# Runs the console script itself, after arranging for the loaded modules to be written down at exit.
DRIVER = ("import atexit, json, runpy, sys\n"
          "record, script = sys.argv[1], sys.argv[2]\n"
          "atexit.register(lambda: open(record, 'w').write(json.dumps(sorted(sys.modules))))\n"
          "sys.argv = sys.argv[2:]\n"
          "runpy.run_path(script, run_name='__main__')\n")


def imported_by(argv: list[str], tmp_path: Path) -> tuple[set[str], str]:
    """Every module the ``gd`` command loaded, and its stdout; a failing command fails the test."""
    record = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", DRIVER, str(record), str(GD), *argv], capture_output=True,
                          text=True, env=dict(os.environ, COLUMNS="100"), timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(record.read_text())), done.stdout


@pytest.mark.parametrize("argv", [
    ["--help"], ["list"], ["list", "--json"], ["list", "acquisition"], ["list-plugins"], ["list-plugins", "--json"],
    ["run", "--help"], ["sweep", "--help"], ["report", "--help"], ["plot", "--help"], ["data", "--help"],
    ["info", "--help"], ["info", "mse"], ["info", "softuncertain", "--json"],
    ["campaign", "--help"], ["campaign", "propose", "--help"], ["campaign", "add", "--help"], ["propose", "--help"],
])
def test_listing_and_help_import_no_numerical_library(argv, tmp_path):
    modules, _ = imported_by(argv, tmp_path)

    # the record is complete: the CLI and every built-in plugin are in it
    assert {"gd_apps.cli", *gd_plugins_builtin.MODULES} <= modules
    assert sorted(HEAVY & {name.split(".")[0] for name in modules}) == []


def test_gd_list_still_shows_every_built_in_with_its_summary(tmp_path):
    """Registering without numpy loses nothing: the listing names each component with its docstring's summary."""
    _, stdout = imported_by(["list", "--json"], tmp_path)

    rows = {(row["kind"], row["name"]): row for row in json.loads(stdout)}
    assert rows[("acquisition", "softuncertain")]["summary"].startswith("SoftBALD (paper eq. 7)")
    assert rows[("acquisition", "badge")]["plugin"] == "builtin.diversity"
    assert rows[("metric", "mse")]["summary"] == "Test-set mean squared error of the model's predicted mean."
    assert rows[("descriptor", "simulated")]["summary"] == "SIMULATED descriptor (not real data) of module genes"
    assert {kind for kind, _ in rows} == {"descriptor", "assay", "model", "acquisition", "metric"}


def test_a_host_loads_numpy_only_when_a_component_computes():
    """Registering the built-ins loads no numpy; building one then imports it inside the function that computes."""
    code = ("import sys\n"
            "from gd_core.plugins import PluginHost\n"
            "host = PluginHost(entry_points=False)\n"
            "assert 'numpy' not in sys.modules\n"
            "frame = host.registries.descriptors.create('simulated', n_genes=50, n_features=3)\n"
            "print(type(frame).__name__, frame.shape, 'numpy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DataFrame", "(50,", "3)", "True"]
