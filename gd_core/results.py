"""Writing a run's results: staged beside ``--out`` and moved into place only once complete.

A run directory holds ``config.json``, ``metrics.csv``, ``selections.csv`` and ``run.log``. Until the
run finishes they live in a hidden sibling ``.NAME.partial-PID-XXXX``; a run that dies leaves only that
(with its log), never a directory that looks complete. A sweep also publishes runs that raised: their
directory holds ``failure.json`` (settings, error and traceback) and ``run.log`` but no ``config.json``,
and the next attempt replaces it.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gd_core.data import genes_checksum
from gd_core.errors import GdError
from gd_core.loop import Plan, RunResult

MANIFEST = "config.json"
FAILURE = "failure.json"
_PACKAGES = ("gd", "numpy", "pandas", "scikit-learn", "scipy", "pluggy", "torch")
log = logging.getLogger("gd")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # /proc/PID/stat: "pid (name) state ..."; the name may hold spaces, so read after the last ")".
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust the signal check
    return state not in ("Z", "X")


def remove_stale(parent: Path, name: str = "*") -> int:
    """Delete the staging (and set-aside) directories of runs named ``name`` whose process is dead.

    Returns how many were removed.
    """
    removed = 0
    for marker in (".partial-", ".old-"):
        for stale in parent.glob(f".{name}{marker}*"):
            run_name, _, rest = stale.name[1:].rpartition(marker)
            pid = rest.split("-")[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            target = parent / run_name
            if marker == ".old-" and not target.exists():
                os.rename(stale, target)  # killed between the two renames of --force: put the old run back
                continue
            shutil.rmtree(stale, ignore_errors=True)
            removed += 1
    return removed


class RunDirectory:
    """Context manager that stages a run's files and publishes them with one rename."""

    def __init__(self, out: Path, *, force: bool = False) -> None:
        self.out = Path(out)
        self.force = force
        self.staging = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"  # made unique on entry
        self._handler: logging.Handler | None = None

    def check(self) -> None:
        """Refuse an ``out`` that is a file, holds something else, or holds a finished run without --force."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise GdError(f"--out {out} is a file; give a directory path")
        if out.is_dir() and any(out.iterdir()) and not (out / FAILURE).exists():
            if not (out / MANIFEST).exists():
                raise GdError(f"--out {out} is not empty and holds no gd run; choose a new or empty directory")
            if not self.force:
                raise GdError(f"--out {out} already holds a finished run; pass --force to replace it "
                              "or choose another directory")

    def __enter__(self) -> RunDirectory:
        self.check()
        out = self.out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(out.parent, out.name)
            # pid for spotting dead runs, a random suffix for repeated runs in one process
            self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
        except OSError as exc:
            raise GdError(f"cannot write beside --out {out}: {exc.strerror}; choose a writable directory") from None
        self._handler = logging.FileHandler(self.staging / "run.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("gd")
        logger.setLevel(logging.INFO)
        logger.addHandler(self._handler)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is not None:
            log.error("run failed", exc_info=(exc_type, exc, tb))
        if self._handler is not None:
            logging.getLogger("gd").removeHandler(self._handler)
            self._handler.close()

    def log_plan(self, plan: Plan) -> None:
        """Record what is about to run at the top of run.log."""
        data = plan.dataset
        log.info("settings %s", json.dumps(plan.config.as_dict(), sort_keys=True))
        log.info("%d genes x %d features aligned; %d test, %d pool, %d hits", data.n, data.X.shape[1],
                 len(plan.test), len(plan.pool), len(plan.hits))

    @property
    def log_path(self) -> Path:
        """Where the log of a run in progress (or one that died) is."""
        return self.staging / "run.log"

    def commit(self, result: RunResult, manifest: dict[str, Any]) -> None:
        """Write the result files and move the finished run into ``out`` in one step."""
        write_synced(self.staging / "metrics.csv", _csv(["cycle", "n_acquired", "metric", "value"],
                                                  [(c, n, m, repr(float(v))) for c, n, m, v in
                                                   result.metrics.itertuples(index=False)]))
        write_synced(self.staging / "selections.csv", _csv(["cycle", "gene"], result.selections.itertuples(index=False)))
        log.info("finished in %.2fs", result.seconds)
        self._handler.flush()
        # The manifest goes last: a directory with config.json is a complete run.
        write_synced(self.staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        self._publish()

    def record_failure(self, settings: dict[str, Any], error: str, traceback: str) -> None:
        """Publish a run that raised: its settings, error and traceback in ``failure.json``, beside its log."""
        if not self.staging.is_dir():
            return  # it failed before anything was staged; there is nothing to keep
        failure = {"format": "gd-failure/1", "settings": settings, "error": error, "traceback": traceback,
                   "versions": package_versions(),
                   "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_synced(self.staging / FAILURE, json.dumps(failure, indent=2, sort_keys=True) + "\n")
        self._publish()

    def _publish(self) -> None:
        if self.out.is_dir() and any(self.out.iterdir()):
            # --force or a failed run: move the old one aside first so a crash between the renames loses neither.
            old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
            os.rename(self.out, old)
            os.rename(self.staging, self.out)
            shutil.rmtree(old)
        else:
            os.replace(self.staging, self.out)  # an empty target directory is replaced atomically


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


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def resolved_parameters(component: object) -> dict[str, Any]:
    """The values a component holds for its constructor's parameters, defaults included.

    Read from attributes named as the parameters (the scikit-learn convention all built-ins follow), so
    ``config.json`` says e.g. which temperature a run used even when it took the default; a parameter a
    component does not keep under its own name is left out, and a value JSON cannot hold is written as text.
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
            value = repr(value)
        resolved[parameter.name] = value
    return resolved


def build_manifest(result: RunResult, *, started: datetime, command: list[str] | None = None) -> dict[str, Any]:
    """The content of ``config.json``: resolved settings, versions, components and data checksums."""
    plan = result.plan
    data = plan.dataset
    return {
        "format": "gd-run/1",
        "settings": plan.config.as_dict(),
        "components": {
            key: {"name": e.name, "plugin": e.plugin, "distribution": e.distribution, "version": e.version}
            for key, e in plan.entries.items()
        },
        # Every parameter value the model and acquisition ran with, defaults included (see resolved_parameters);
        # the loop builds a fresh model each cycle and keeps none, so one more is built to be read.
        "parameters": {
            "model": resolved_parameters(plan.entries["model"].create(**plan.config.params.get("model", {}))),
            "acquisition": resolved_parameters(plan.acquisition),
        },
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
            "test_variance": float(np.var(data.y[plan.test], dtype=np.float64)),
            **data.checksums(),
        },
        "command": command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]],
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 3),
    }
