"""The ``gd`` console script: imports the CLI where a Ctrl-C during start-up can still be answered in one line."""

from __future__ import annotations

import sys


def main() -> None:
    """Import and run the CLI; Ctrl-C while its libraries load exits 130 with a line, not a traceback.

    When the command is over, the process ends without tearing down its modules: with torch loaded that
    teardown alone takes ~0.35 s, a tenth of a short run, and nothing gd needs happens in it. Everything
    that should happen at exit still does: output is flushed and every ``atexit`` function runs (logging's
    flush, thread pools' joins, temporary folders' removal), as in a normal exit.
    """
    try:
        from gd_apps.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: gd was stopped while starting; nothing was done\n")
        raise SystemExit(130) from None
    try:
        run()
        code = 0
    except SystemExit as exc:
        code = exc.code
    _end(code)


def _end(code: object) -> None:
    """Exit with ``code`` as ``sys.exit`` would, after the atexit functions, skipping module teardown."""
    import atexit
    import os

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message") prints the message and exits 1
        sys.stderr.write(f"{code}\n")
        status = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # e.g. stdout is a closed pipe: leave the ending to Python's own exit
        raise SystemExit(status) from None
    os._exit(status & 0xFF if status >= 0 else 1)
