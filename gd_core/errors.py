"""The one exception type the user sees."""

from __future__ import annotations


class GdError(Exception):
    """A problem the user can fix: the message names the culprit and the way out.

    The CLI prints it as one red line and exits with code 1; anything else that escapes is a bug.
    """


class Interrupted(GdError):
    """The user stopped gd (Ctrl-C or SIGTERM): the message says what was kept and how to go on.

    The CLI prints it as one line and exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
    """
