"""The one exception type the user sees."""

from __future__ import annotations


class GdError(Exception):
    """A problem the user can fix: the message names the culprit and the way out.

    The CLI prints it as one red line and exits with code 1; anything else that escapes is a bug.
    """
