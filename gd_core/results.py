"""Writing a run's results: staged beside ``--out`` and moved into place only once complete.

A run directory holds ``config.json``, ``metrics.csv``, ``selections.csv`` and ``run.log``. Until the
run finishes they live in a hidden sibling ``.NAME.partial-PID-XXXX``; a run that dies leaves only that
(with its log), never a directory that looks complete. While a run is staged and published, the lock file
``.NAME.lock`` beside it keeps other gd processes out. A sweep also publishes runs that raised: their
directory holds ``failure.json`` (settings, error and traceback) and ``run.log`` but no ``config.json``,
and the next attempt replaces it; a failure never replaces a finished run, it goes to a directory of the
caller's choosing instead (a sweep's ``failures/<key>``). Directories and files get the modes a plain
``mkdir`` and ``open`` give under the user's umask.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import importlib.metadata
import io
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from gd_core.data import genes_checksum
from gd_core.errors import DISK_FULL, NOT_WRITABLE, GdError
from gd_core.helpers.parallel import process_alive
from gd_core.loop import Plan, RunResult
from gd_core.registry import Entry, plain, summary_of

MANIFEST = "config.json"
FAILURE = "failure.json"
RUN_FILES = frozenset({MANIFEST, "metrics.csv", "selections.csv", "run.log", FAILURE})  # all gd puts in a run
RUN_LOG = "run.log"
_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "pluggy", "torch")
log = logging.getLogger("gd")




class Unwritable(GdError):
    """gd could not write where it was told to: the disk is full, a quota is reached, or the place is read-only.

    ``why`` says which, e.g. "disk full (No space left on device)" or "not writable (Permission denied)".
    """

    def __init__(self, place: Path, exc: OSError, then: str = "") -> None:
        self.place = Path(place)
        reason = exc.strerror or type(exc).__name__
        self.why, self.way_out = reason, "choose another --out"
        if exc.errno in DISK_FULL:
            self.why, self.way_out = f"disk full ({reason})", "free some space or choose another --out"
        elif exc.errno in NOT_WRITABLE:
            self.why = f"not writable ({reason})"
        super().__init__(f"cannot write to {place}: {self.why}; {self.way_out}{f', then {then}' if then else ''}")


class LockBusy(Exception):
    """Another process holds the lock; ``pid`` is the one it wrote in the lock file (None if not known yet)."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid

    def refusal(self, out: Path, holder: str, way_out: str) -> GdError:
        """The one line for a user whose --out another gd process (``holder``, e.g. "gd sweep") is writing."""
        pid = f" (pid {self.pid})" if self.pid else ""
        return GdError(f"--out {out} is being written by another {holder}{pid}; {way_out}")


class FileLock:
    """An advisory lock (flock) on a file: one holder at a time, released by the kernel when the holder dies,
    so a crash never leaves a stale lock. The holder writes its pid in the file for the one it turns away.

    With ``remove``, the file is deleted on release (taking the lock checks that the file locked is still the
    one at the path, so a holder that deletes it cannot let two others in).
    """

    def __init__(self, path: Path, *, remove: bool) -> None:
        self.path = Path(path)
        self.remove = remove
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise ``LockBusy``; an OSError means the lock file cannot be created."""
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise LockBusy(pid) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
            else:  # its holder deleted it on release before we locked it: lock the file now at the path
                os.close(fd)
        with contextlib.suppress(OSError):  # the pid only makes the refusal clearer; a full disk may refuse it
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Let the lock go (deleting the file first with ``remove``)."""
        if self._fd is None:
            return
        if self.remove:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                    os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def remove_stale(parent: Path, name: str = "*", *, ours_too: bool = False) -> int:
    """Delete the staging (and set-aside) directories of runs named ``name`` whose process is dead; put back a
    run that a killed ``--force`` replacement had set aside. Returns how many were removed.

    With ``ours_too`` (the caller holds the run's lock and stages nothing yet), this process's own leftovers count
    as dead too: in a container gd may get the same pid every time it starts.
    """
    removed = 0
    for marker in (".old-", ".partial-"):  # restore first: a set-aside run is worth more than a staging
        for stale in parent.glob(f".{name}{marker}*"):
            run_name, _, rest = stale.name[1:].rpartition(marker)
            pid = rest.split("-")[0]
            if not pid.isdigit() or (process_alive(int(pid)) and not (ours_too and int(pid) == os.getpid())):
                continue
            target = parent / run_name
            if marker == ".old-" and not target.exists() and (stale / MANIFEST).is_file():
                os.rename(stale, target)  # killed between the two renames of --force: put the old run back
                continue
            _remove_run(stale)
            removed += 1
    return removed


def _remove_run(directory: Path) -> None:
    """Delete a run directory, its config.json first: killed halfway, what is left never looks like a finished run."""
    with contextlib.suppress(OSError):
        (directory / MANIFEST).unlink()
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done, so Ctrl-C cannot land between two renames.

    A signal that arrives meanwhile is raised again at the end. (SIGKILL cannot be held: ``remove_stale``
    repairs what it leaves.) Python runs signal handlers in the main thread only, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: pending.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


class _RunLog(logging.FileHandler):
    """The run's ``run.log``. A write that fails (disk full) is kept for ``sync`` to raise, instead of logging's
    ``--- Logging error ---`` traceback on stderr for every line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.failure: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:  # after a failed write the log is incomplete anyway
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)  # a bad log call is a bug: let logging say so
        elif self.failure is None:
            self.failure = exc

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            self.failure = self.failure or exc

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:
            self.failure = self.failure or exc

    def sync(self) -> None:
        """Put everything logged so far on disk; raise the first write that failed."""
        self.flush()
        if self.failure is None and self.stream is not None:
            try:
                os.fsync(self.stream.fileno())
            except OSError as exc:
                self.failure = exc
        if self.failure is not None:
            raise self.failure


class RunDirectory:
    """Stages a run's files beside ``out`` and publishes them with one rename, holding ``out``'s lock meanwhile.

    ``claim()`` takes the lock and checks ``out``; ``release()`` lets it go. Entering claims too, and then
    releases on exit. Without ``lock`` (a sweep's runs, covered by the sweep's lock) only the checks are made.
    """

    def __init__(self, out: Path, *, force: bool = False, lock: bool = True) -> None:
        self.out = Path(out)
        self.force = force
        self.staging: Path | None = None
        self.published: Path | None = None
        self._lock = FileLock(self.out.parent / f".{self.out.name}.lock", remove=True) if lock else None
        self._handler: _RunLog | None = None
        self._claimed_on_entry = False

    def check(self) -> None:
        """Refuse an ``out`` that is a file, holds something else, or holds a finished run without --force."""
        _check_target(self.out, replace_finished=self.force, option="--out ")

    def claim(self) -> None:
        """Lock ``out`` against other gd processes, put back a run an interrupted --force had set aside, and check.

        Before ``out``'s parent exists there is nothing to lock or restore yet: entering creates it and claims.
        """
        parent = self.out.parent
        if self._lock is not None and not self._lock.held:
            if not parent.is_dir():
                self.check()
                return
            try:
                self._lock.acquire()
            except LockBusy as busy:
                raise busy.refusal(self.out, "gd process", "wait for it to finish, or choose another --out") from None
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:  # the lock file's name is --out's name and a few characters
                    raise GdError(f"--out {self.out}: the name is too long for the file system "
                                  f"({len(self.out.name)} characters); choose a shorter --out") from None
                raise Unwritable(parent, exc) from None
        try:
            remove_stale(parent, self.out.name, ours_too=self._lock is not None)
        except OSError as exc:
            raise Unwritable(parent, exc) from None
        self.check()

    def release(self) -> None:
        """Let other gd processes write to ``out`` again."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> RunDirectory:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unwritable(self.out.parent, exc) from None
        self._claimed_on_entry = self._lock is not None and not self._lock.held
        try:
            self.claim()
            self.staging = self._new_staging()
            try:
                self._handler = _RunLog(self.staging / RUN_LOG)
            except OSError as exc:
                self.discard()
                raise Unwritable(self.out.parent, exc) from None
        except BaseException:
            if self._claimed_on_entry:
                self.release()
            raise
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("gd")
        logger.setLevel(logging.INFO)
        logger.addHandler(self._handler)
        return self

    def _new_staging(self) -> Path:
        """A fresh ``.NAME.partial-PID-XXXX``: the pid spots dead runs, the random part repeated runs in a process.

        Made with a plain mkdir, so it (and the run it becomes) gets the umask's mode, not mkdtemp's 0700.
        """
        while True:
            staging = self.out.parent / f".{self.out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                staging.mkdir()
                return staging
            except FileExistsError:
                continue
            except OSError as exc:
                raise Unwritable(self.out.parent, exc) from None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is not None:
            log.error("run failed", exc_info=(exc_type, exc, tb))
        if self._handler is not None:
            logging.getLogger("gd").removeHandler(self._handler)
            self._handler.close()
        if self._claimed_on_entry:  # a lock taken by claim() before entering is the caller's to release
            self.release()

    def log_plan(self, plan: Plan) -> None:
        """Record what is about to run at the top of run.log."""
        data = plan.dataset
        log.info("settings %s", json.dumps(plan.config.as_dict(), sort_keys=True))
        log.info("%d genes x %d features aligned; %d test, %d pool, %d hits", data.n, data.X.shape[1],
                 len(plan.test), len(plan.pool), len(plan.hits))
        for note in data.notes:
            log.info("%s", note)

    @property
    def log_path(self) -> Path | None:
        """Where the log of a run in progress (or one that died) is; None before it is staged."""
        return None if self.staging is None else self.staging / RUN_LOG

    def commit(self, result: RunResult, manifest: dict[str, Any]) -> None:
        """Write the result files and move the finished run into ``out`` in one step."""
        assert self.staging is not None and self._handler is not None, "commit() belongs inside `with`"
        try:
            write_synced(self.staging / "metrics.csv", _csv(["cycle", "n_acquired", "metric", "value"],
                                                      [(c, n, m, repr(float(v))) for c, n, m, v in
                                                       result.metrics.itertuples(index=False)]))
            write_synced(self.staging / "selections.csv",
                         _csv(["cycle", "gene"], result.selections.itertuples(index=False)))
            log.info("finished in %.2fs", result.seconds)
            self._handler.sync()  # a log cut short by a full disk fails the run like any other file
            # The manifest goes last and appears whole: a directory with config.json is a complete run.
            write_atomic(self.staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise Unwritable(self.out.parent, exc) from None
        self._publish(self.out, replace_finished=self.force)

    def record_failure(self, settings: dict[str, Any], error: str, traceback: str, *, aside: Path) -> Path | None:
        """Publish a run that raised: its settings, error and traceback in ``failure.json``, beside its log.

        It goes to ``out``, or to ``aside`` when ``out`` holds a finished run (a failure never replaces one).
        Returns the directory it went to, or None when nothing was staged. Raises ``Unwritable`` (after
        removing the staging) when the record cannot be written.
        """
        if self.staging is None or not self.staging.is_dir():
            return None  # it failed before anything was staged; there is nothing to keep
        failure = {"format": "gd-failure/1", "settings": settings, "error": error, "traceback": traceback,
                   "versions": package_versions(),
                   "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            for staged in self.staging.iterdir():
                if staged.name != RUN_LOG:  # result files of a run that failed are not results
                    staged.unlink()
            write_synced(self.staging / FAILURE, json.dumps(failure, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            self.discard()
            raise Unwritable(self.out.parent, exc) from None
        target = aside if (self.out / MANIFEST).is_file() else self.out
        self._publish(target, replace_finished=False)
        return target

    def discard(self) -> None:
        """Delete the staging directory (a run that cannot be written: its files are incomplete)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _publish(self, target: Path, *, replace_finished: bool) -> None:
        assert self.staging is not None
        with signals_held():
            # Checked again now: another process (an older gd, or someone by hand) may have written it meanwhile.
            _check_target(target, replace_finished=replace_finished, option="--out " if target == self.out else "")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_dir() and any(target.iterdir()):
                    # Move the old one aside first so that a crash between the renames loses neither.
                    old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
                    os.rename(target, old)
                    try:
                        os.rename(self.staging, target)
                    except OSError:
                        os.rename(old, target)
                        raise
                    _remove_run(old)
                else:
                    os.replace(self.staging, target)  # an empty target directory is replaced atomically
            except OSError as exc:
                raise Unwritable(target.parent, exc) from None
            self.published = target  # before a held-back Ctrl-C is raised, so that its message can say so


def _check_target(target: Path, *, replace_finished: bool, option: str) -> None:
    """Refuse a target that is a file, holds something that is not a gd run, or a finished run (unless told)."""
    try:
        blocking = file_in_the_way(target)
        if blocking is not None and blocking != target:
            raise GdError(f"{option}{target} is inside {blocking}, which is a file; choose another place")
        if target.exists() and not target.is_dir():
            raise GdError(f"{option}{target} is a file; give a directory path")
        run = enclosing_run(target)
        if run is not None:
            raise GdError(f"{option}{target} is inside the gd run {run}; choose a place outside it (a --force "
                          "of that run would delete it)")
        foreign = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
        foreign = [name for name in foreign if name not in RUN_FILES]
        if foreign and ((target / MANIFEST).exists() or (target / FAILURE).exists()):
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise GdError(f"{option}{target} holds a gd run and files gd did not write ({shown}); move them out "
                          "or choose another directory")
        if target.is_dir() and any(target.iterdir()) and not (target / FAILURE).exists():
            if not (target / MANIFEST).exists():
                raise GdError(f"{option}{target} is not empty and holds no gd run; choose a new or empty directory")
            if not replace_finished:
                raise GdError(f"{option}{target} already holds a finished run; pass --force to replace it "
                              "or choose another directory")
    except OSError as exc:
        raise GdError(f"cannot read {option}{target}: {exc.strerror}; choose a directory you can read and "
                      "write") from None


def enclosing_run(path: Path) -> Path | None:
    """The nearest parent of ``path`` that holds a gd run (finished or failed), if any: nothing may go inside one."""
    for place in path.parents:
        if (place / MANIFEST).is_file() or (place / FAILURE).is_file():
            return place
    return None


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and its parents, if it is not a directory (nothing can go under it)."""
    for place in (path, *path.parents):
        if place.exists():
            return None if place.is_dir() else place
    return None


def _csv(header: list[str], rows: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_synced(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` and flush it to disk before returning."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by a file holding ``text`` in one rename: readers see the old file or the whole new one.

    The temporary file is removed if the write fails (a full disk) or is interrupted.
    """
    temporary = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        write_synced(temporary, text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def package_versions() -> dict[str, str]:
    """Versions of Python, gd (whatever its distribution is named) and the packages that shape results."""
    from gd_core.plugins import gd_version

    versions = {"python": platform.python_version(), "gd": gd_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def resolved_parameters(component: object, *, as_text: bool = True) -> dict[str, Any]:
    """The values a component holds for its constructor's parameters, defaults included.

    Read from attributes named as the parameters (the scikit-learn convention all built-ins follow), so
    ``config.json`` says e.g. which temperature a run used even when it took the default; a parameter a
    component does not keep under its own name is left out, and a value JSON cannot hold is written as text
    (its ``repr``), or left out with ``as_text=False``: such text may name a memory address, which differs
    between processes, so it says what a run used but cannot tell whether another run used the same.
    """
    import inspect

    try:
        parameters = inspect.signature(type(component)).parameters.values()
    except (TypeError, ValueError):  # a builtin or C type
        return {}
    resolved = {}
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or not hasattr(component,
                                                                                             parameter.name):
            continue
        value = getattr(component, parameter.name)
        value = list(value) if isinstance(value, tuple) else value
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            if not as_text:
                continue
            value = repr(value)
        resolved[parameter.name] = value
    return resolved


def declared_defaults(entry: Entry) -> dict[str, Any]:
    """The defaults a component's factory declares, as JSON holds them (``registry.plain``, so the same text in
    every process): what ``gd sweep`` compares to tell a run made before a default changed (empty when the
    factory's parameters cannot be listed)."""
    return {p.name: plain(p.default) for p in entry.parameters() or [] if p.default is not p.empty}


def build_manifest(result: RunResult, *, started: datetime, command: list[str] | None = None) -> dict[str, Any]:
    """The content of ``config.json``: resolved settings, versions, components and data checksums."""
    plan = result.plan
    data = plan.dataset
    return {
        "format": "gd-run/1",
        "settings": plan.config.as_dict(),
        "components": {key: component_record(e) for key, e in plan.entries.items()},
        # What made the run, compared by `gd sweep` with what would make it now (gd_apps.sweep.code_change).
        "code": code_record(plan.entries),
        # Every parameter value the model and acquisition ran with, defaults included (see resolved_parameters);
        # the loop builds a fresh model each cycle and keeps none, so one more is built to be read.
        "parameters": {
            "model": resolved_parameters(plan.entries["model"].create(**plan.config.params.get("model", {}))),
            "acquisition": resolved_parameters(plan.acquisition),
        },
        # The defaults the model's and acquisition's factories declared, compared by `gd sweep` with today's.
        "defaults": {kind: declared_defaults(plan.entries[kind]) for kind in ("model", "acquisition")},
        "versions": package_versions(),
        "data": {
            "n_genes": data.n,
            "n_features": int(data.X.shape[1]),
            "n_test": len(plan.test),
            "n_pool": len(plan.pool),
            "n_hits": len(plan.hits),
            "split_seed": plan.config.resolved_split_seed,
            # Which genes were held out and which count as hits, so paired runs can be checked to share them.
            "test_genes_sha256": genes_checksum(data.genes[plan.test]),
            "hit_genes_sha256": genes_checksum(data.genes[plan.hits]),
            # Population variance of the test outcomes: MSE / test_variance = 1 is "no better than the mean".
            "test_variance": float(np.var(data.y[plan.test], dtype=np.float64)) if len(plan.test) else None,
            **data.checksums(),
        },
        # The protocol's rules and what they made of this data (gd_core.protocols); `gd report` reads the random
        # expectation (n / n_pool) and the oracle's ceiling (min(n, n_hits) / n_hits) from "data" above.
        "protocol": {**plan.config.protocol_spec.describe(), **plan.protocol_facts},
        "command": command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]],
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 3),
    }


# ------------------------------------------------------------------------------ the code that made a run

OLDER_GD = "made by an older gd (no code record)"
USER_TABLE = "user table"  # a descriptor or assay read from the user's file: data, checksummed under "data"


def component_record(entry: Entry) -> dict[str, Any]:
    """A component as config.json records it: name, plugin, distribution, version and summary; a metric also
    records ``better`` ("lower" or "higher"), so that a report ranks it the right way without its plugin."""
    record = {"name": entry.name, "plugin": entry.plugin, "distribution": entry.distribution,
              "version": entry.version, "summary": summary_of(entry)}  # a summary that fails must not fail the run
    if entry.kind == "metric":
        record["better"] = metric_direction(entry)
    return record


def metric_direction(entry: Entry) -> str:
    """``lower`` when the metric was registered with ``better="lower"``, else ``higher`` (the documented default)."""
    return "lower" if entry.metadata.get("better") == "lower" else "higher"


def component_code(entry: Entry) -> str:
    """The code a component stands for: ``DIST==VERSION`` for an installed plugin, ``sha256:…`` of a --plugin
    file's content (wherever the file lives), ``user table`` for a descriptor or assay read from a file."""
    if entry.version.startswith("sha256:"):
        return entry.version
    if entry.plugin.startswith("file:"):  # a --plugin file whose record carries no hash: read the file itself
        from gd_core.plugins import file_version

        try:
            return file_version(Path(entry.distribution))
        except OSError:
            return f"{entry.plugin} (unreadable)"
    if entry.metadata.get("source") == "file":
        return USER_TABLE
    return f"{entry.distribution}=={entry.version}"


def code_record(entries: dict[str, Entry]) -> dict[str, str]:
    """config.json's ``code``: gd's version and each component's code, keyed as ``Plan.entries`` is."""
    from gd_core.plugins import gd_version

    return {"gd": gd_version(), **{key: component_code(entry) for key, entry in entries.items()}}


def recorded_code(manifest: dict[str, Any]) -> dict[str, str] | None:
    """The code a run's config.json records; for a run made before gd recorded it, the same record derived
    from its components and versions where that is exact (installed plugins only), else None."""
    code = manifest.get("code")
    if isinstance(code, dict):
        return code
    components, versions = manifest.get("components"), manifest.get("versions")
    if not isinstance(components, dict) or not isinstance(versions, dict) or not isinstance(versions.get("gd"), str):
        return None
    from gd_core.plugins import DISTRIBUTION

    derived = {"gd": versions["gd"]}
    for key, component in components.items():
        if not isinstance(component, dict):
            return None
        plugin, distribution, version = (component.get(k) for k in ("plugin", "distribution", "version"))
        if not all(isinstance(v, str) for v in (plugin, distribution, version)) or plugin.startswith("file:"):
            return None  # a --plugin file's content was not recorded: nothing says which code it was
        if plugin.startswith("builtin.") and distribution == "gd":
            distribution = DISTRIBUTION  # gd's own built-ins, recorded under the distribution's former name
        derived[key] = USER_TABLE if plugin == "user file" else f"{distribution}=={version}"
    return derived
