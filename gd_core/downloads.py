"""Files that users download on first use: a verified cache of raw files and of the tables built from them.

Raw files live in ``data_dir()/downloads``; ``data_dir()/manifest.json`` records each file's URL, size and
sha256 when it arrives, and every later use checks the file against that record, so a damaged or edited
file is refused instead of silently feeding a run. Processed tables live in ``data_dir()/processed``,
keyed by the sha256 of their sources and a processing version. Third-party plugins use the same calls:

    GENES = RemoteFile("https://example.org/genes.tsv", "example_genes.tsv", sha256="ab12...")
    path = fetch(GENES, name="example")
    table = cached_table("example", [path], 1, lambda: parse(path))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from gd_core.errors import GdError

if TYPE_CHECKING:
    import pandas as pd

TIMEOUT = 30.0  # seconds without progress before a download gives up
CHUNK = 1 << 20
MANIFEST = "manifest.json"
CACHED, CORRUPT, NEEDS_DOWNLOAD = "cached", "corrupt", "needs download"
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class RemoteFile:
    """A file fetched from ``url`` into the cache as ``filename``; ``sha256`` and ``size`` pin it when known."""

    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not self.filename or Path(self.filename).name != self.filename or self.filename.startswith("."):
            raise ValueError(f"RemoteFile filename {self.filename!r} must be a plain file name")


def data_dir() -> Path:
    """Where downloads and processed tables are kept: ``$GD_DATA_DIR``, else the user cache dir for gd."""
    configured = os.environ.get("GD_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("gd"))


def downloads_dir() -> Path:
    """The directory holding downloaded raw files under their ``RemoteFile.filename``."""
    return data_dir() / "downloads"


def cached_path(remote: RemoteFile) -> Path:
    """Where ``remote`` is (or will be) kept; the file may not exist yet."""
    return downloads_dir() / remote.filename


def status(remote: RemoteFile) -> str:
    """``"cached"``, ``"corrupt"`` or ``"needs download"``, checked against the manifest without network."""
    return _check(remote)[0]


def fetch(remote: RemoteFile, *, force: bool = False, name: str | None = None) -> Path:
    """The verified local copy of ``remote``, downloading it first when it is missing or stale.

    ``name`` is the dataset as the user knows it (the descriptor name), used in error messages. A cached
    file that no longer matches the manifest is refused unless ``force`` is set, which downloads it again.
    """
    label = name or "NAME"
    state, detail = _check(remote)
    if state == CACHED and not force:
        if detail == "unrecorded":  # matches its pin: adopt it rather than download it again
            path = cached_path(remote)
            _record(remote, path.stat().st_size, str(remote.sha256).lower())
        return cached_path(remote)
    if state == CORRUPT and not force:
        raise GdError(f"cached file {cached_path(remote)} {detail}, so it is not used; "
                      f"run `gd data fetch {label} --force` to download it again")
    return _download(remote, label)


def import_file(remote: RemoteFile, source: str | Path) -> Path:
    """Copy a file the user obtained by other means into the cache as ``remote`` (``gd data import``)."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise GdError(f"cannot import {source}: no such file; give the path of the downloaded {remote.filename}")
    target = cached_path(remote)
    with _staged(target) as handle:
        digest = hashlib.sha256()
        with source.open("rb") as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                digest.update(chunk)
                handle.write(chunk)
        size = handle.tell()
        _verify_pins(remote, size, digest.hexdigest(), what=str(source), retry="check that it is the right file")
    _record(remote, size, digest.hexdigest(), imported_from=str(source.resolve()))
    return target


def cached_table(key: str, sources: list[Path], version: int, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A numeric table built from ``sources``, cached until a source changes or ``version`` is bumped.

    Bump ``version`` whenever the processing in ``build`` changes. The cached form is parquet when pyarrow
    is installed, else an uncompressed npz (never a pickle); labels come back as strings either way.
    """
    if not _KEY.match(key):
        raise ValueError(f"cached_table key {key!r}: use letters, digits, '_' and '-'")
    fingerprint = json.dumps({"key": key, "version": int(version), "sources": [_sha256_of(Path(s)) for s in sources]})
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    suffix = ".parquet" if _has_pyarrow() else ".npz"
    folder = data_dir() / "processed"
    path = folder / f"{key}.v{int(version)}.{digest}{suffix}"
    if path.exists():
        try:
            return _read_table(path)
        except Exception:  # unreadable (a disk fault, a changed library): rebuild rather than fail
            pass
    frame = build()
    _check_table(frame, key)
    folder.mkdir(parents=True, exist_ok=True)
    with _staged(path) as handle:
        _write_table(frame, handle, suffix)
    # Older versions and sources of this table will never be read again.
    stale = re.compile(rf"^{re.escape(key)}\.v\d+\.[0-9a-f]{{16}}\.(?:npz|parquet)$")
    for old in folder.iterdir():
        if old != path and stale.match(old.name):
            old.unlink(missing_ok=True)
    return _read_table(path)


# --- checking the cache -------------------------------------------------------------------------------

def _check(remote: RemoteFile) -> tuple[str, str]:
    """The cache state of ``remote`` and, when corrupt, what is wrong with it."""
    path = cached_path(remote)
    if not path.is_file():
        return NEEDS_DOWNLOAD, "missing"
    entry = _read_manifest().get(remote.filename)
    if entry is None or entry.get("url") != remote.url:
        # Not ours to vouch for (a crash before the manifest was written, or another URL): download anew,
        # unless it matches a pinned checksum, which is proof enough.
        if remote.sha256 and _hash_file(path) == remote.sha256.lower():
            return CACHED, "unrecorded"
        return NEEDS_DOWNLOAD, "unrecorded"
    if (remote.sha256 and entry.get("sha256") != remote.sha256.lower()) or (
        remote.size is not None and entry.get("size") != remote.size
    ):
        return NEEDS_DOWNLOAD, "pinned to another version"
    size = path.stat().st_size
    if size != entry.get("size"):
        return CORRUPT, f"has {size} bytes but {entry.get('size')} were downloaded"
    if _hash_file(path) != entry.get("sha256"):
        return CORRUPT, "no longer matches the sha256 recorded when it was downloaded"
    return CACHED, ""


def _sha256_of(path: Path) -> str:
    """A source's sha256: the manifest's record for a cached download (just verified by fetch), else hashed."""
    if path.parent.resolve() == downloads_dir().resolve():
        entry = _read_manifest().get(path.name)
        if entry and path.is_file() and path.stat().st_size == entry.get("size"):
            return str(entry["sha256"])
    try:
        return _hash_file(path)
    except OSError as exc:
        raise GdError(f"cannot read {path} to check it: {exc.strerror or exc}; fetch or import it again") from None


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- downloading --------------------------------------------------------------------------------------

def _download(remote: RemoteFile, label: str) -> Path:
    url, target = remote.url, cached_path(remote)
    offline = f"download it elsewhere and run `gd data import {label} /path/to/{remote.filename}`"
    request = urllib.request.Request(url, headers={"User-Agent": "gd (GeneDisco reimplementation)"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise GdError(f"download of {url} failed with HTTP {exc.code} {_one_line(exc.reason)}; "
                      f"the file may have moved: check the URL, or {offline}") from None
    except urllib.error.URLError as exc:
        raise GdError(f"cannot reach {url} ({_one_line(exc.reason)}); check that you are online, "
                      f"or {offline}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise GdError(f"cannot reach {url} ({_one_line(exc)}); check that you are online, or {offline}") from None
    with response, _staged(target) as handle:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        digest = hashlib.sha256()
        try:
            with _progress(remote.filename, expected) as advance:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    digest.update(chunk)
                    handle.write(chunk)
                    advance(len(chunk))
        except (OSError, ValueError) as exc:  # includes http.client.IncompleteRead and socket timeouts
            raise GdError(f"download of {url} broke off after {handle.tell()} bytes ({_one_line(exc)}); "
                          f"nothing was saved; run `gd data fetch {label}` again, or {offline}") from None
        size = handle.tell()
        if expected is not None and size != expected:
            raise GdError(f"download of {url} was truncated: {size} of {expected} bytes arrived; nothing was "
                          f"saved; run `gd data fetch {label}` again, or {offline}")
        if size == 0:
            raise GdError(f"download of {url} was empty; nothing was saved; check the URL, or {offline}")
        _verify_pins(remote, size, digest.hexdigest(), what=f"download of {url}",
                     retry=f"run `gd data fetch {label}` again later, or report the changed file")
    _record(remote, size, digest.hexdigest())
    return target


def _verify_pins(remote: RemoteFile, size: int, sha256: str, *, what: str, retry: str) -> None:
    if remote.size is not None and size != remote.size:
        raise GdError(f"{what} has {size} bytes, not the pinned {remote.size}; nothing was saved; {retry}")
    if remote.sha256 and sha256 != remote.sha256.lower():
        raise GdError(f"{what} failed its checksum (sha256 {sha256[:16]}…, expected {remote.sha256[:16]}…); "
                      f"nothing was saved; {retry}")


@contextlib.contextmanager
def _progress(filename: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr: bytes, speed and time left (when the size is known)."""
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"downloading {filename}", total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def _staged(target: Path) -> Iterator[Any]:
    """A binary file handle that becomes ``target`` atomically when the block ends without an error.

    Written beside ``target`` so the final rename stays on one file system; on any error the partial
    file is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split()) or type(reason).__name__


# --- the manifest -------------------------------------------------------------------------------------

def _read_manifest() -> dict[str, dict[str, Any]]:
    path = data_dir() / MANIFEST
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GdError(f"download manifest {path} is unreadable ({_one_line(exc)}); delete it and run "
                      "`gd data fetch NAME --force` for each dataset") from None
    if not isinstance(files, dict):
        raise GdError(f"download manifest {path} is malformed; delete it and run `gd data fetch NAME --force`")
    return files


def _record(remote: RemoteFile, size: int, sha256: str, **extra: str) -> None:
    """Write ``remote``'s size and sha256 into the manifest (read-modify-write under a lock, atomically)."""
    path = data_dir() / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f".{MANIFEST}.lock")):
        files = _read_manifest()
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        files[remote.filename] = {"url": remote.url, "size": size, "sha256": sha256, "recorded": when, **extra}
        text = json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True)
        with _staged(path) as handle:
            handle.write(text.encode("utf-8"))


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    # Parallel sweep workers may finish downloads at once; without fcntl (Windows) the last write wins,
    # which costs at most a re-download.
    try:
        import fcntl
    except ImportError:
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- processed tables ---------------------------------------------------------------------------------

def _has_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def _check_table(frame: object, key: str) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"cached_table {key!r}: build() returned {type(frame).__name__}, not a DataFrame")
    odd = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if odd:
        raise TypeError(f"cached_table {key!r}: columns {odd[:3]} are not numeric")


def _write_table(frame: pd.DataFrame, handle: Any, suffix: str) -> None:
    import numpy as np

    index = frame.index.astype(str).rename(frame.index.name)
    columns = frame.columns.astype(str).rename(frame.columns.name)
    if suffix == ".parquet":
        frame.set_axis(index, axis=0).set_axis(columns, axis=1).to_parquet(handle)
        return
    names = json.dumps({"index": frame.index.name, "columns": frame.columns.name})
    np.savez(handle, values=frame.to_numpy(), index=np.asarray(index, dtype=str),
             columns=np.asarray(columns, dtype=str), names=np.asarray(names))


def _read_table(path: Path) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    with np.load(path, allow_pickle=False) as archive:
        names = json.loads(str(archive["names"]))
        index = pd.Index(archive["index"].astype(object), dtype=object, name=names["index"])
        columns = pd.Index(archive["columns"].astype(object), dtype=object, name=names["columns"])
        return pd.DataFrame(archive["values"], index=index, columns=columns)
