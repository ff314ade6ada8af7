"""The one exception type the user sees."""

from __future__ import annotations

import errno


class GdError(Exception):
    """A problem the user can fix: the message names the culprit and the way out.

    The CLI prints it as one red line and exits with code 1; anything else that escapes is a bug.
    """


class Interrupted(GdError):
    """The user stopped gd (Ctrl-C or SIGTERM): the message says what was kept and how to go on.

    The CLI prints it as one line and exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
    """


# Characters of a library's or plugin's own message shown on an error line (their whole text goes to a log).
MESSAGE_LIMIT = 300


def one_line(reason: object, *, limit: int | None = None) -> str:
    """``reason`` (a message or an exception) on one line, its whitespace runs as single spaces; an empty message
    reads as the exception's type. With ``limit``, a longer text is cut there and ends "… (cut)": some libraries'
    messages (numba's, torch's) run to dozens of lines, whose whole text belongs in a log, not on the screen."""
    text = " ".join(shown(reason).split()) or type(reason).__name__
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + " … (cut)"
    return text


def described(exc: BaseException, *, limit: int = MESSAGE_LIMIT) -> str:
    """``Type: message`` on one line, the message cut after ``limit`` characters; ``Type`` alone when the exception
    has no message (e.g. a bare MemoryError)."""
    text = one_line(exc, limit=limit)
    return type(exc).__name__ if text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def labelled(kind: str, name: str, origin: str = "") -> str:
    """How an error line names a component: ``model 'm'``, with its plugin when ``origin`` is given
    (``model 'm' (plugin 'X')``)."""
    return f"{kind} '{name}'" + (f" ({origin})" if origin else "")


def shown(value: object) -> str:
    """``str(value)``, or a stand-in naming its type when its own ``__str__`` fails (a plugin's exception may): an
    error report must not fail while it is being worded."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 — whatever the __str__ raises, the report goes on
        return f"<{type(value).__name__} whose text cannot be shown>"


# What a write meets on a full disk (or over a quota or file size limit), and in a place it may not write to.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def refused_by_system(exc: OSError) -> str:
    """One line for a read or write the operating system refused where no command had its own words for it: the
    path, the system's reason and a way out that fits it (a full disk, a read-only place, a name too long)."""
    if exc.errno in DISK_FULL:
        way = "free some space or write somewhere else"
    elif exc.errno in NOT_WRITABLE:
        way = "choose a writable place" if exc.errno == errno.EROFS else "check its permissions or choose another place"
    else:
        way = {errno.ENAMETOOLONG: "choose a shorter name", errno.ENOENT: "check the path",
               errno.ENOTDIR: "check the path: a part of it is a file"}.get(exc.errno, "check the path and the disk")
    where = f"{exc.filename}" if exc.filename is not None else "gd's output"
    return f"cannot use {where}: {exc.strerror or one_line(exc)}; {way}"
