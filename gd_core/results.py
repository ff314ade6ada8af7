"""Writing a run's results: staged beside ``--out`` and moved into place only once complete.

A run directory holds ``config.json``, ``metrics.csv``, ``selections.csv`` and ``run.log``. Until the
run finishes they live in a hidden sibling ``.NAME.partial-PID-XXXX``; a run that dies leaves only that
(with its log), never a directory that looks complete.
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

from gd_core.errors import GdError
from gd_core.loop import Plan, RunResult

MANIFEST = "config.json"
_PACKAGES = ("gd", "numpy", "pandas", "scikit-learn", "scipy", "pluggy", "torch")
log = logging.getLogger("gd")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if out.is_dir() and any(out.iterdir()):
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
            for stale in out.parent.glob(f".{out.name}.partial-*"):
                pid = stale.name.rsplit(".partial-", 1)[-1].split("-")[0]
                if pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(stale, ignore_errors=True)
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
        _write(self.staging / "metrics.csv", _csv(["cycle", "n_acquired", "metric", "value"],
                                                  [(c, n, m, repr(float(v))) for c, n, m, v in
                                                   result.metrics.itertuples(index=False)]))
        _write(self.staging / "selections.csv", _csv(["cycle", "gene"], result.selections.itertuples(index=False)))
        log.info("finished in %.2fs", result.seconds)
        self._handler.flush()
        # The manifest goes last: a directory with config.json is a complete run.
        _write(self.staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if self.out.is_dir() and any(self.out.iterdir()):
            # --force: move the old run aside first so a crash between the renames loses neither.
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


def _write(path: Path, text: str) -> None:
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


def build_manifest(result: RunResult, *, started: datetime) -> dict[str, Any]:
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
        "versions": package_versions(),
        "data": {
            "n_genes": data.n,
            "n_features": int(data.X.shape[1]),
            "n_test": len(plan.test),
            "n_pool": len(plan.pool),
            "n_hits": len(plan.hits),
            **data.checksums(),
        },
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 3),
    }
