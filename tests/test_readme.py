"""README.md's command blocks run as written, so the README cannot drift from the code.

Every command in a ```bash block is either run (offline, on bundled or simulated data, in a scratch
directory) or listed in ``NOT_RUN`` with the reason; a new command nobody classified fails the test.
Long commands run with smaller sizes appended (``SHRINK``): a repeated single-value option takes the last
value, so the command is the README's own, only shorter. The Python plugin example is run as a ``--plugin`` file.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# Commands that cannot run offline here, by a pattern of their text, with why.
NOT_RUN = {
    r"^python3 -m venv": "makes a new venv: .ci/run does it on every clean clone",
    r"^pip install": "installs into a new venv: .ci/run does it on every clean clone",
    r"^python -m pytest": "the test command: this test is part of it",
    r"^gd data fetch": "downloads from the internet (tests/test_downloads.py serves the real bytes locally)",
    r"^gd data import achilles \./25494359\.csv": "needs the user's copy of the file (tests/test_data_import.py)",
    r"^gd data import shifrut_2018": "needs the user's copy of the screen files (tests/test_data_import.py)",
    r"^gd run --assay my_screen\.csv": "needs the user's own tables (tests/test_tables.py)",
    r"^gd run --protocol biodiscoveryagent --assay bda_il2": "downloads from the internet (tests/test_screens.py "
                                                             "runs the protocol on the real bytes, served locally)",
    r"^python benchmarks/field_table\.py": "the table's two sweeps take about two hours (benchmarks/README.md)",
    r"--system slurm": "needs a SLURM cluster (--print-job-script is run instead)",
}
# Options appended to long commands so the test stays short; the value of the README's command is what
# runs otherwise.
SHRINK = {
    r"^gd run --assay sanchez_2021_tau": ["--cycles", "2"],
    r"^gd run --protocol biodiscoveryagent --assay schmidt_2021_il2": ["--cycles", "2"],
    r"^gd run --assay simulated": ["--cycles", "2", "--param", "descriptor.n_genes=5000",
                                   "--param", "assay.n_genes=5000"],
    r"^gd sweep --assay schmidt_2021_il2": ["--seeds", "2", "--cycles", "2", "--acquisition", "random",
                                            "--jobs", "1"],
    r"^gd sweep examples/cluster/paper_grid(_forest)?\.toml": ["--dry-run"],
}
# Options that must be replaced rather than appended (lists append in typer): the acquisition list.
REPLACE = {r"--acquisition all": "--acquisition topuncertain"}


def readme_commands() -> list[str]:
    """Every shell command in README.md's ```bash blocks, continuation lines joined, comments removed."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                # `.venv/bin/gd` and `gd` are the same command here: the test runs the venv's own.
                commands.extend(part.strip().removeprefix(".venv/bin/") for part in line.split(" && "))
    return commands


def _matching(table: dict[str, object], command: str) -> object | None:
    return next((value for pattern, value in table.items() if re.search(pattern, command)), None)


def _argv(command: str) -> list[str]:
    for pattern, replacement in REPLACE.items():
        command = re.sub(pattern, replacement, command)
    argv = shlex.split(command)
    if argv[0] == "gd":
        argv[0] = str(BIN / "gd")
    elif argv[0] == "python":
        argv[0] = sys.executable
    return argv + list(_matching(SHRINK, command) or [])


def test_every_readme_command_is_classified():
    """A command must either run below or say in NOT_RUN why it cannot; nothing is skipped silently."""
    commands = readme_commands()
    assert len(commands) >= 15, commands  # the blocks were found
    runnable = [c for c in commands if _matching(NOT_RUN, c) is None]
    assert all(c.split()[0] in ("gd", "python") for c in runnable), runnable
    # Every NOT_RUN entry still matches a README command, so the list cannot outlive what it excuses.
    for pattern in NOT_RUN:
        assert any(re.search(pattern, c) for c in commands), f"NOT_RUN entry {pattern!r} matches nothing"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A working directory where README's relative paths (examples/…) resolve and outputs stay out of the repo."""
    where = tmp_path_factory.mktemp("readme")
    (where / "examples").symlink_to(ROOT / "examples")
    (where / "benchmarks").symlink_to(ROOT / "benchmarks")
    return where


def test_readme_commands_run_in_order(scratch):
    """Each runnable command exits 0, in README order (so `gd report` reads the sweep made above it)."""
    # As a README reader has it: every installed plugin loaded (the example plugin is installed by line 1).
    env = {k: v for k, v in os.environ.items() if k != "GD_LOAD_PLUGINS"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    ran = []
    for command in readme_commands():
        if _matching(NOT_RUN, command) is not None:
            continue
        done = subprocess.run(_argv(command), cwd=scratch, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README command failed: {command}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, command
        ran.append((command, done))
    assert any(c.startswith("gd run --out runs/demo") for c, _ in ran)  # the main job
    assert (scratch / "runs" / "demo" / "config.json").is_file()
    assert (scratch / "il2-go.png").stat().st_size > 10_000
    # README states the size of the paper's grid; the dry run of the shipped spec must say the same number.
    stated = re.search(r"The paper's whole grid \(([\d,]+) runs\)", README.read_text(encoding="utf-8"))
    dries = [done for c, done in ran if "examples/cluster/paper_grid" in c]
    counts = [int(re.search(r"grid: (\d+) runs", (d.stdout + d.stderr).replace(",", "")).group(1)) for d in dries]
    assert stated and len(dries) == 2 and sum(counts) == int(stated.group(1).replace(",", ""))


def test_readme_plugin_example_runs(scratch, tmp_path):
    """The Python block of "Write a plugin" is a working acquisition when loaded with --plugin."""
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S).group(1)
    plugin = tmp_path / "lowest_index.py"
    plugin.write_text(block, encoding="utf-8")
    from tests.helpers import run_args

    argv = [str(BIN / "gd"), *run_args(tmp_path / "run", acquisition="lowest_index"), "--plugin", str(plugin)]
    done = subprocess.run(argv, cwd=scratch, env={**os.environ, "GD_LOAD_PLUGINS": ""}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    selections = (tmp_path / "run" / "selections.csv").read_text().splitlines()
    assert len(selections) == 1 + 30
