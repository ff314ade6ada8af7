"""The audit's building blocks: a sandbox per case, the records that describe cases, and how outcomes are judged.

A bad input is a `Case`: the `gd` arguments, a setup that writes what they need into the sandbox, why gd must
refuse it, and optionally the text (the culprit) the refusal should name. A fault is a `Fault`: a scenario that
drives one or more `gd` processes (kills them, fills the disk, damages a cache) and returns a `Verdict`.
Every `gd` is a real subprocess of the installed console script, run with no installed plugins
(``GD_LOAD_PLUGINS=""``), a private ``GD_DATA_DIR``, ``HOME`` and working directory, so nothing touches the
user's files. Run as root, it loses the capabilities that let root ignore file modes, so ``chmod`` cases mean
what they mean for everyone else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# The brief's tiny simulated screen: a `gd run` of these settings takes about two seconds.
TINY_DATA = ("--assay", "simulated", "--descriptor", "simulated", "--param", "descriptor.n_genes=600",
             "--param", "descriptor.n_features=8", "--param", "assay.n_genes=600")
TINY_LOOP = ("--batch-size", "10", "--cycles", "3")
INPUT_TIMEOUT = 120.0  # seconds a bad input may take before it counts as a hang
WIDE = "240"  # COLUMNS for gd: a terminal wide enough that rich never breaks one message into two lines

# Started in the child before gd: drop the two capabilities that make root ignore file modes, apply
# resource limits, then become gd (same pid). A launcher rather than preexec_fn, which is unsafe with threads.
_LAUNCHER = """
import ctypes, json, os, resource, sys
LAUNCHER_FAILED = "audit launcher:"
spec = json.loads(sys.argv[1])
if os.geteuid() == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone from gd and all its children
            sys.exit(f"{LAUNCHER_FAILED} cannot drop capability {capability}: {os.strerror(ctypes.get_errno())}")
for name, value in spec["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(sys.argv[2], sys.argv[2:])
"""


def tiny_run(*extra: str, out: str = "out", model: str = "random_forest", acquisition: str = "random",
             data: Sequence[str] = TINY_DATA) -> tuple[str, ...]:
    """``gd run`` on the tiny simulated screen; ``extra`` comes last, so a repeated option overrides the default."""
    forest = ("--param", "model.n_estimators=10") if model == "random_forest" else ()
    return ("run", *data, "--model", model, *forest, "--acquisition", acquisition, *TINY_LOOP, "--out", out,
            *extra)


def tiny_sweep(*extra: str, out: str = "sweep", acquisitions: Sequence[str] = ("random",), seeds: int = 1,
               jobs: int = 1, data: Sequence[str] = TINY_DATA) -> tuple[str, ...]:
    """``gd sweep`` of tiny simulated runs (one per acquisition and seed); ``extra`` comes last."""
    chosen = [arg for name in acquisitions for arg in ("--acquisition", name)]
    return ("sweep", *data, "--model", "random_forest", "--param", "model.n_estimators=10", *chosen,
            *TINY_LOOP, "--seeds", str(seeds), "--jobs", str(jobs), "--out", out, *extra)


# ------------------------------------------------------------------------------------------- processes

@dataclass
class Result:
    """What one finished (or abandoned) gd process did."""

    argv: list[str]
    rc: int | None  # None: still running at the timeout, then killed
    stdout: str
    stderr: str
    seconds: float
    left_running: bool = False  # processes of its group still ran when it exited

    @property
    def timed_out(self) -> bool:
        """Whether the process had to be killed at its timeout."""
        return self.rc is None

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def first_line(self) -> str:
        """The line a reader judges the refusal by: the error line if there is one, else stderr's last line."""
        lines = self.lines
        errors = [line for line in lines if line.lstrip().startswith("error:")]
        return (errors or lines[-1:] or [""])[0].strip()


class Processes:
    """Every process group the audit started, so an interrupted audit leaves nothing running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[int] = set()

    def started(self, pid: int) -> None:
        """Remember a new process group."""
        with self._lock:
            self._live.add(pid)

    def ended(self, pid: int) -> None:
        """Kill what is left of a process group and forget it."""
        kill_group(pid)
        with self._lock:
            self._live.discard(pid)

    def kill_all(self) -> None:
        """Kill every process group still known."""
        with self._lock:
            live = list(self._live)
        for pid in live:
            kill_group(pid)


PROCESSES = Processes()


def kill_group(pid: int) -> None:
    """SIGKILL a process group (sessions we started have their leader's pid as group id)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_left(pid: int) -> bool:
    """Whether any process of group ``pid`` still runs."""
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return any(alive(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit() and _group_of(p) == pid)


def _group_of(proc_dir: Path) -> int | None:
    try:
        return int(proc_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc (children of each of its threads)."""
    found: set[int] = set()
    stack = [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def command_line(pid: int) -> str:
    """A process's command line, spaces between arguments ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_for(condition: Callable[[], Any], *, timeout: float, proc: subprocess.Popen | None = None,
             every: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy (returned) or ``timeout`` passes, or ``proc`` exits (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            return condition() or None
        time.sleep(every)
    return None


# ---------------------------------------------------------------------------------------------- sandbox

class Sandbox:
    """A case's private directories (``work`` is gd's cwd, ``data`` its GD_DATA_DIR) and how gd runs there."""

    def __init__(self, root: Path, gd: Path, fixtures: Any) -> None:
        self.root = root
        self.gd_path = gd
        self.fixtures = fixtures
        self.work, self.data, self.home = root / "work", root / "data", root / "home"
        for directory in (self.work, self.data, self.home):
            directory.mkdir(parents=True, exist_ok=True)
        self._groups: list[int] = []
        self._count = 0  # gd processes started, to name their output files

    def path(self, relative: str | Path) -> Path:
        """A path inside the working directory."""
        return self.work / relative

    def expand(self, text: str) -> str:
        """Fill ``{work}``, ``{data}``, ``{root}`` and ``{fixtures}`` in an argument or variable."""
        if "{" not in text:
            return text
        return text.format(work=self.work, data=self.data, root=self.root, fixtures=self.fixtures.root)

    def write(self, relative: str, content: str | bytes, mode: int | None = None) -> Path:
        """Write a file under ``work`` (parents created); returns its path."""
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
        return path

    def copy(self, source: Path, relative: str) -> Path:
        """Copy a file or directory (e.g. a fixture) to ``work/relative``."""
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        return target

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every gd: no installed plugins, a private cache and home, a wide terminal."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GD_") and k not in ("COLUMNS", "LINES")}
        env.update(GD_LOAD_PLUGINS="", GD_DATA_DIR=str(self.data), HOME=str(self.home),
                   XDG_CACHE_HOME=str(self.home / ".cache"), XDG_CONFIG_HOME=str(self.home / ".config"),
                   MPLCONFIGDIR=str(self.fixtures.matplotlib), COLUMNS=WIDE, PYTHONDONTWRITEBYTECODE="1")
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = self.expand(value)
        return env

    def start(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
              limits: dict[str, int] | None = None) -> subprocess.Popen:
        """Start ``gd ARGV`` in its own session (so its workers can be found and killed as one group).

        Output goes to files beside ``work``, not pipes: a worker that outlives gd cannot hold them open.
        """
        args = [self.expand(a) for a in argv]
        spec = json.dumps({"limits": limits or {}})
        self._count += 1
        out, err = (self.root / f"gd-{self._count}.{name}" for name in ("stdout", "stderr"))
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, spec, str(self.gd_path), *args],
                                    cwd=self.work, env=self.env(env), stdin=subprocess.DEVNULL, stdout=stdout,
                                    stderr=stderr, start_new_session=True)
        proc.audit_argv = args  # type: ignore[attr-defined]
        proc.audit_started = time.monotonic()  # type: ignore[attr-defined]
        proc.audit_output = (out, err)  # type: ignore[attr-defined]
        PROCESSES.started(proc.pid)
        self._groups.append(proc.pid)
        return proc

    def finish(self, proc: subprocess.Popen, *, timeout: float = INPUT_TIMEOUT) -> Result:
        """Wait for a started gd (killing its group at the timeout) and collect what it printed.

        Processes gd left behind keep running (a fault may be judging them) until ``cleanup``.
        """
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            rc = None
        out, err = (path.read_bytes().decode(errors="replace")
                    for path in proc.audit_output)  # type: ignore[attr-defined]
        if err.startswith("audit launcher:"):
            raise SetupError(err.strip())
        return Result(list(proc.audit_argv), rc, out, err,  # type: ignore[attr-defined]
                      time.monotonic() - proc.audit_started, group_left(proc.pid))  # type: ignore[attr-defined]

    def gd(self, argv: Sequence[str], *, env: dict[str, str] | None = None, limits: dict[str, int] | None = None,
           timeout: float = INPUT_TIMEOUT) -> Result:
        """Run ``gd ARGV`` to completion."""
        return self.finish(self.start(argv, env=env, limits=limits), timeout=timeout)

    def cleanup(self) -> None:
        """Kill whatever is left of every process group this sandbox started."""
        for pid in self._groups:
            PROCESSES.ended(pid)
        self._groups.clear()


class SetupError(Exception):
    """The audit could not build what a case needs (not a verdict on gd)."""


def require(result: Result, what: str) -> Result:
    """``result`` if gd exited 0, else a SetupError saying which step of the setup failed."""
    if result.rc != 0:
        raise SetupError(f"{what} failed (exit {result.rc}): {result.first_line or result.stdout[-200:]}")
    return result


# ------------------------------------------------------------------------------------------- the records

Setup = Callable[[Sandbox], None]
Check = Callable[[Sandbox, Result], "str | None"]


@dataclass(frozen=True)
class Case:
    """A bad input: ``gd ARGV`` after ``setup``, which gd must refuse (``expect="refuse"``) or survive.

    ``expect="tolerate"`` is for inputs gd may also handle (a report skipping a damaged run, a BOM):
    exit 0 is then right when ``check`` finds nothing wrong. ``culprit`` is text the refusal should contain.
    """

    name: str
    argv: tuple[str, ...]
    why: str
    setup: Setup | None = None
    culprit: str | None = None
    expect: str = "refuse"
    check: Check | None = None
    env: dict[str, str] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    timeout: float = INPUT_TIMEOUT

    @property
    def group(self) -> str:
        """The command or area, the name's first part."""
        return self.name.split(".")[0]


@dataclass(frozen=True)
class Verdict:
    """A fault's outcome: survived, lost (lost or corrupted), unclear, or error (the audit could not test)."""

    outcome: str
    reason: str
    results: tuple[Result, ...] = ()


@dataclass(frozen=True)
class Fault:
    """A fault scenario: ``scenario(sandbox)`` drives gd through it and judges what is left."""

    name: str
    why: str
    scenario: Callable[[Sandbox], Verdict]
    timeout: float = 300.0

    @property
    def group(self) -> str:
        """The area, the name's first part."""
        return self.name.split(".")[0]


class Judge:
    """Collects a fault's findings: what was lost, what was unclear, and what was verified."""

    def __init__(self) -> None:
        self.lost: list[str] = []
        self.unclear: list[str] = []
        self.verified: list[str] = []
        self.results: list[Result] = []

    def saw(self, result: Result) -> Result:
        """Keep a gd result for the report."""
        self.results.append(result)
        return result

    def verdict(self) -> Verdict:
        """Lost beats unclear beats survived; the reason lists the findings, or what was verified."""
        if self.lost:
            return Verdict("lost", "; ".join(self.lost + self.unclear), tuple(self.results))
        if self.unclear:
            return Verdict("unclear", "; ".join(self.unclear), tuple(self.results))
        return Verdict("survived", "; ".join(self.verified), tuple(self.results))

    def messages(self, result: Result, *, needs_message: bool, words: Sequence[str] = ()) -> None:
        """Note a traceback, the bug handler's ``unexpected``, logging noise, or a missing final message.

        With ``words``, the last stderr line must contain one of them (e.g. "disk" after a full disk).
        """
        problems = message_problems(result)
        self.unclear += [f"gd {' '.join(result.argv[:1])}: {p}" for p in problems]
        if needs_message and not problems:
            last = result.lines[-1].strip() if result.lines else ""
            if not last:
                self.unclear.append(f"gd {result.argv[0]} exited {result.rc} with nothing on stderr")
            elif words and not any(w in last.lower() for w in words):
                self.unclear.append(f"gd {result.argv[0]} exited {result.rc}; its last line does not say what "
                                    f"happened (no '{words[0]}' or the like): {last[:160]!r}")


def refused_cleanly(result: Result) -> bool:
    """Exit 1, its last stderr line an ``error:`` line, no traceback and no ``unexpected`` (progress may precede)."""
    lines = result.lines
    return result.rc == 1 and not message_problems(result) and bool(lines) and lines[-1].lstrip().startswith("error:")


def message_problems(result: Result) -> list[str]:
    """What makes gd's stderr unclear beyond its length: a traceback, 'unexpected', logging's own errors."""
    text = result.stderr + result.stdout
    problems = []
    if "Traceback" in text:
        problems.append("a traceback")
    if "--- Logging error ---" in text:
        problems.append(f"{text.count('--- Logging error ---')} '--- Logging error ---' blocks")
    if "unexpected" in result.stderr.lower():
        problems.append("says 'unexpected'")
    return problems


# ------------------------------------------------------------------------------------------- judging inputs

def classify(case: Case, box: Sandbox, result: Result, changed: list[str]) -> tuple[str, str]:
    """``(clean|unclear|wrong, reason)`` for a bad input's result, per the audit's rules (see tools/audit.py)."""
    if result.timed_out:
        return "wrong", f"no answer within {case.timeout:.0f}s (hang)"
    rc = result.rc
    assert rc is not None
    if rc < 0 or rc >= 128:
        name = signal.Signals(-rc).name if rc < 0 and -rc in signal.valid_signals() else f"exit {rc}"
        return "wrong", f"crashed ({name})"
    if changed:
        return "wrong", f"changed what was on disk before: {', '.join(changed[:3])}"
    if rc == 0:
        if case.expect == "tolerate":
            problem = message_problems(result)
            if problem:
                return "unclear", f"accepted with {', '.join(problem)}"
            wrong = case.check(box, result) if case.check is not None else None
            return ("wrong", wrong) if wrong else ("clean", "accepted and handled correctly")
        return "wrong", "accepted (exit 0)"
    reasons = message_problems(result)
    lines = result.lines
    if rc != 1:
        reasons.append(f"exit code {rc}, not 1")
    if not lines:
        reasons.append("no message on stderr")
    elif len(lines) > 1:
        errors = [line for line in lines if line.lstrip().startswith("error:")]
        if len(errors) == 1 and lines[-1] == errors[0] and "a traceback" not in reasons:
            reasons.append(f"{len(lines) - 1} progress line(s) before the error line")
        else:
            reasons.append(f"{len(lines)} lines on stderr")
    if result.left_running:
        reasons.append("left processes running after it exited")
    if reasons:
        return "unclear", "; ".join(reasons)
    return "clean", "refused in one line"


def names_culprit(case: Case, result: Result) -> bool | None:
    """Whether the refusal names ``case.culprit`` (None when the case names none or gd accepted)."""
    if case.culprit is None or result.rc in (0, None):
        return None
    return case.culprit.lower() in result.first_line.lower()


# ---------------------------------------------------------------------------------------------- disk state

def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every regular file under ``roots`` (unreadable ones as 'unreadable'), by path."""
    hashes: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                try:
                    hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    hashes[str(path)] = "unreadable"
    return hashes


def changed_files(before: dict[str, str], after: dict[str, str], root: Path) -> list[str]:
    """Files that existed before and were changed or removed, relative to ``root``."""
    return [str(Path(p).relative_to(root)) for p, digest in before.items() if after.get(p) != digest]


def tree_hash(directory: Path) -> str | None:
    """One sha256 over a directory's file names and contents (None when it does not exist)."""
    if not directory.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def finished_runs(sweep: Path) -> dict[str, str]:
    """Hash of each published, finished run of a sweep directory (those with config.json), by key."""
    runs = sweep / "runs"
    if not runs.is_dir():
        return {}
    return {d.name: tree_hash(d) or "" for d in sorted(runs.iterdir())
            if d.is_dir() and not d.name.startswith(".") and (d / "config.json").is_file()}


def run_problem(directory: Path, cycles: int | None = None) -> str | None:
    """Why a directory that claims to be a finished run (config.json) is not one, or None."""
    if not (directory / "config.json").is_file():
        return f"{directory.name} has no config.json"
    try:
        json.loads((directory / "config.json").read_text())
        lines = (directory / "metrics.csv").read_text().splitlines()
        selections = (directory / "selections.csv").read_text().splitlines()
    except (OSError, ValueError) as exc:
        return f"{directory.name} looks finished but {exc}"
    if lines[:1] != ["cycle,n_acquired,metric,value"] or len(selections) < 2:
        return f"{directory.name} looks finished but its metrics.csv or selections.csv is incomplete"
    if cycles is not None and len(lines) - 1 < cycles:
        return f"{directory.name} looks finished but metrics.csv has {len(lines) - 1} rows"
    return None
