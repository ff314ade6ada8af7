"""The ``gd`` console script: imports the CLI where a Ctrl-C during start-up can still be answered in one line."""

from __future__ import annotations

import sys


def main() -> None:
    """Import and run the CLI; Ctrl-C while its libraries load exits 130 with a line, not a traceback."""
    try:
        from gd_core.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: gd was stopped while starting; nothing was done\n")
        raise SystemExit(130) from None
    run()
