"""Time `gd --help`, `gd list` and `gd list-plugins` against Python's own start-up, measured in the same minute.

Every round runs `python -c pass` and each command once, interleaved, so a change in the machine's load hits
all of them alike; the table gives the best of the rounds and that best minus `python -c pass`'s (gd's own
time). Target: under 0.3 s of gd's own time for each command.

By default the measurement is of gd and its built-in plugins alone (``GD_LOAD_PLUGINS=`` keeps installed
plugins out: their import time is theirs) and with bytecode caching on, as an installed gd runs: compiled
files go to a temporary ``PYTHONPYCACHEPREFIX``, filled by one warm-up round, so nothing is written into the
source tree. ``--installed-plugins`` and ``--no-bytecode`` (every module compiled from source on every run,
as under ``PYTHONDONTWRITEBYTECODE=1``) measure the other cases.

Run: `python benchmarks/cli_latency.py [--repeat 10] [--installed-plugins] [--no-bytecode]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (("gd", "--help"), ("gd", "list"), ("gd", "list-plugins"))
BASELINE = ("python", "-c", "pass")


def gd_script() -> Path:
    """The ``gd`` console script of the Python running this benchmark."""
    script = Path(sys.executable).parent / "gd"
    if not script.is_file():
        sys.exit(f"no gd console script next to {sys.executable}; install gd into this environment "
                 "(pip install -e .) or run the benchmark with its Python")
    return script


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one run; a failing run stops the benchmark (its time would mean nothing)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="rounds; the best of them is reported")
    parser.add_argument("--installed-plugins", action="store_true",
                        help="load installed plugins too (the environment's GD_LOAD_PLUGINS, if any)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile every module from source on every run (PYTHONDONTWRITEBYTECODE=1)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = dict(os.environ, COLUMNS="100")  # the same help and table layout whatever the terminal
    if not args.installed_plugins:
        env["GD_LOAD_PLUGINS"] = ""
    cache = tempfile.TemporaryDirectory(prefix="gd-cli-latency-")
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache.name

    argv = {BASELINE: [sys.executable, "-c", "pass"]}
    argv.update({command: [str(gd_script()), *command[1:]] for command in COMMANDS})
    for command in argv:  # warm-up: fills the bytecode cache and the OS file cache
        wall_time(argv[command], env)
    best = {command: float("inf") for command in argv}
    load_before = os.getloadavg()
    for _ in range(args.repeat):
        for command in argv:
            best[command] = min(best[command], wall_time(argv[command], env))
    load_after = os.getloadavg()
    cache.cleanup()

    plugins = "installed plugins loaded" if args.installed_plugins else "GD_LOAD_PLUGINS= (gd and its built-ins)"
    bytecode = "no bytecode (compiled from source every run)" if args.no_bytecode else "bytecode cached"
    print(f"best of {args.repeat}, {plugins}, {bytecode}; Python {sys.version.split()[0]}, {os.cpu_count()} "
          f"cores, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print()
    print("| command | best s | minus python start-up s |")
    print("|---|---:|---:|")
    start_up = best[BASELINE]
    for command, seconds in best.items():
        own = "" if command is BASELINE else f"{seconds - start_up:.3f}"
        print(f"| `{' '.join(command)}` | {seconds:.3f} | {own} |")


if __name__ == "__main__":
    main()
