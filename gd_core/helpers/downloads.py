"""Files that users download on first use: a verified cache of raw files and of the tables built from them.

Raw files live in ``data_dir()/downloads``; ``data_dir()/manifest.json`` records each file's URL, size and
sha256 when it arrives, and every later use checks the file against that record, so a damaged or edited
file is refused instead of silently feeding a run. Processed tables live in ``data_dir()/processed``,
keyed by the sha256 of their sources and a processing version; each is written with a sha256 record beside
it and checked against it on every read, so a damaged one is rebuilt rather than used. A read-only cache
can be read; only what needs to write to it is refused. Third-party plugins use the same calls:

    GENES = RemoteFile("https://example.org/genes.tsv", "example_genes.tsv", sha256="ab12...")
    path = fetch(GENES, name="example")
    table = cached_table("example", [path], 1, lambda: parse(path))
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import io
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from gd_core.errors import GdError, one_line
from gd_core.helpers.parallel import process_alive

if TYPE_CHECKING:
    import urllib.request

    import pandas as pd

log = logging.getLogger("gd")

TIMEOUT = 30.0  # seconds without progress before a download gives up
CHUNK = 1 << 20
MANIFEST = "manifest.json"
CACHED, CORRUPT, NEEDS_DOWNLOAD = "cached", "corrupt", "needs download"
RECORD_SUFFIX = ".sha256"  # the checksum record written beside a verified file, in `sha256sum -c` form
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
    """Where downloads and processed tables are kept: ``$GD_DATA_DIR``, else the user cache dir for gd.

    A path that is a file, or lies under one, is refused here, naming GD_DATA_DIR, so that no command
    fails later with an obscure error; whether it can be written is only asked when something is written.
    """
    configured = os.environ.get("GD_DATA_DIR")
    if configured:
        folder = Path(configured).expanduser()
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("gd"))
    for place in (folder, *folder.parents):
        try:
            if not place.exists():
                continue
            if place.is_dir():
                break
        except OSError as exc:
            raise GdError(f"cannot look into {_cache_label(folder)} ({place}: {exc.strerror or exc}); "
                          f"{_way_out('point GD_DATA_DIR at a directory you can read')}") from None
        where = "is a file" if place == folder else f"lies under {place}, which is a file"
        raise GdError(f"{_cache_label(folder)} {where}, not a directory; "
                      f"{_way_out('point GD_DATA_DIR at a directory')}")
    return folder


def _cache_label(folder: Path) -> str:
    """How messages name the data cache: as the user set it, or as gd's default."""
    configured = os.environ.get("GD_DATA_DIR")
    return f"GD_DATA_DIR={configured}" if configured else f"gd's data cache {folder}"


def _way_out(action: str) -> str:
    return action if os.environ.get("GD_DATA_DIR") else action.replace("point GD_DATA_DIR at", "set GD_DATA_DIR to")


def _cache_write_error(path: Path, exc: OSError) -> GdError:
    """The one-line refusal for a write into the data cache that the system refused."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        way = _way_out("free disk space there, or point GD_DATA_DIR at a directory on another disk")
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        way = _way_out("make it writable, or point GD_DATA_DIR at a writable directory "
                       "(a read-only cache can still be read once it holds the data)")
    else:
        way = _way_out("check that directory, or point GD_DATA_DIR at another one")
    folder = data_dir()
    reason = f"{path}: {exc.strerror or one_line(exc)}"
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:  # e.g. a file where the cache keeps its processed/ folder
        reason = f"{blocker} is a file where a directory belongs"
        way = _way_out(f"remove {blocker}, or point GD_DATA_DIR at another directory")
    return GdError(f"cannot write to {_cache_label(folder)} ({reason}); {way}")


def notice(message: str, *, logged: bool = True) -> None:
    """A dim status line on stderr, and (``logged``) in the run log: something was repaired, skipped or left out;
    nothing failed."""
    from rich.console import Console
    from rich.markup import escape

    if logged:
        log.info(message)
    Console(stderr=True, emoji=False).print(f"[dim]{escape(message)}[/]", soft_wrap=True, highlight=False)


def file_mode() -> int:
    """The mode a new file gets from a plain ``open()`` under this process's umask (0644 under umask 022).

    Files staged with ``mkstemp`` start as 0600; they are given this mode so that the umask decides who
    may read them, as for any other file the user creates.
    """
    try:  # Linux states the umask without changing it, which is safe with other threads running
        with open("/proc/self/status", encoding="ascii") as status_file:
            for line in status_file:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


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
            # Recording only saves a later hash check, so a read-only cache still serves the file.
            with contextlib.suppress(GdError):
                _record(remote, path.stat().st_size, str(remote.sha256).lower())
        return cached_path(remote)
    if state == CORRUPT and not force:
        raise GdError(f"cached file {cached_path(remote)} {detail}, so it is not used; "
                      f"run `gd data fetch {label} --force` to download it again")
    return _download(remote, label)


def import_file(remote: RemoteFile, source: str | Path, *, name: str | None = None,
                check: Callable[[Path, Path], None] | None = None) -> Path:
    """Copy a file the user obtained by other means into the cache as ``remote`` (``gd data import``).

    The copy must match ``remote``'s pinned size and sha256, if any, and pass ``check(copy, source)``,
    which parses it as a run would and raises a ``GdError`` naming ``source``; only then does it replace
    what the cache held, so a bad file never displaces a good one.
    """
    label = name or "NAME"
    source = Path(source).expanduser()
    expected = f"the {remote.filename} of '{label}', from {remote.url}"
    if source.is_dir():
        raise GdError(f"cannot import {source}: it is a directory; give the path of {expected}")
    if not source.is_file():
        what = "no such file" if not source.exists() else "not a regular file"
        raise GdError(f"cannot import {source}: {what}; give the path of {expected}")
    target = cached_path(remote)
    try:
        reader = source.open("rb")
    except OSError as exc:
        raise GdError(f"cannot import {source}: {exc.strerror or one_line(exc)}; check its permissions") from None
    with reader, _staged(target) as handle:
        digest = hashlib.sha256()
        try:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                digest.update(chunk)
                handle.write(chunk)
        except OSError as exc:  # a read error; write errors are GdErrors already
            raise GdError(f"cannot import {source}: reading it failed ({exc.strerror or one_line(exc)}); "
                          "nothing was imported") from None
        size, sha256 = handle.tell(), digest.hexdigest()
        _refuse_unpinned(remote, source, size, sha256, expected)
        if check is not None:
            handle.flush()
            check(handle.path, source)
    _record(remote, size, sha256, imported_from=str(source.resolve()))
    return target


def check_import(remote: RemoteFile, source: str | Path, *, name: str | None = None) -> None:
    """Refuse ``source`` as ``import_file`` would for its size or checksum, without copying it: ``gd data import`` of
    several files checks them all first, so that one bad file leaves the others unimported too."""
    source = Path(source).expanduser()
    if not source.is_file() or (remote.size is None and not remote.sha256):
        return  # import_file says what is wrong with a path that is not a file; nothing pinned, nothing to check
    try:
        size, sha256 = source.stat().st_size, hash_file(source)
    except OSError:
        return  # import_file reports the read error
    _refuse_unpinned(remote, source, size, sha256, f"the {remote.filename} of '{name or 'NAME'}', from {remote.url}")


def _refuse_unpinned(remote: RemoteFile, source: Path, size: int, sha256: str, expected: str) -> None:
    if remote.size is not None and size != remote.size:
        raise GdError(f"cannot import {source}: it has {size} bytes, not the {remote.size} of {expected}; "
                      "nothing was imported; import that file as downloaded")
    if remote.sha256 and sha256 != remote.sha256.lower():
        raise GdError(f"cannot import {source}: its checksum differs (sha256 {sha256[:16]}…) from the "
                      f"pinned {remote.sha256[:16].lower()}… of {expected}; nothing was imported; "
                      "import that file as downloaded")


def cached_table(key: str, sources: list[Path], version: int, build: Callable[[], pd.DataFrame], *,
                 extra: Any = None, label: str | None = None, form: str | None = None) -> pd.DataFrame:
    """A numeric table built from ``sources``, cached until a source changes or ``version`` is bumped.

    Bump ``version`` whenever the processing in ``build`` changes; ``extra`` holds any other JSON-able facts
    the table depends on (a file's size and mtime, the build's parameters), which join the cache key. The
    cached form is parquet when pyarrow is installed, else (or with ``form="npz"``) an uncompressed npz, never
    a pickle; an npz is written piece by piece, never as a second copy of the table in memory. Labels come
    back as strings either way, and ``frame.attrs`` (JSON-able) is kept. The cached file is checked against
    the sha256 recorded when it was written on every read; a damaged one, or one without a record, is rebuilt
    (one dim line, naming ``label`` or else ``key``, says so). A source whose bytes changed while ``build`` read
    it is refused (``GdError``), and nothing is kept. Where the cache cannot be written (read-only,
    full), the table is built and used all the same, and a dim line says it was not kept.
    """
    if not _KEY.match(key):
        raise ValueError(f"cached_table key {key!r}: use letters, digits, '_' and '-'")
    if form not in (None, "npz"):
        raise ValueError(f"cached_table form {form!r}: use None or 'npz'")
    facts = {"key": key, "version": int(version), "sources": [_sha256_of(Path(s)) for s in sources]}
    if extra is not None:  # absent otherwise, so that existing cache entries keep their names
        facts["extra"] = extra
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    suffix = ".npz" if form == "npz" or not _has_pyarrow() else ".parquet"
    folder = data_dir() / "processed"
    path = folder / f"{key}.v{int(version)}.{digest}{suffix}"
    name = label or key
    damage = None
    try:
        return _parse_table(read_verified(path), suffix)
    except FileNotFoundError:
        pass
    except Unverified as exc:
        damage = str(exc)  # completes "processed cache for NAME …"
    frame = build()
    # A source rewritten while it was read (a file still being copied or saved) may have given a mix of old and
    # new bytes: kept under the old bytes' hash, that table would be served again once the file is put back.
    if [_sha256_of(Path(s)) for s in sources] != facts["sources"]:
        raise GdError(f"{name} changed while gd was reading it; run again once nothing is writing to it")
    _check_table(frame, key)
    if suffix == ".npz":
        parts = _npz_parts(frame)  # its values without a copy

        def produce(sink: Any) -> None:
            _write_npz(sink, parts)
    else:
        data = _table_bytes(frame, suffix)

        def produce(sink: Any) -> None:
            sink.write(data)
    del frame
    try:
        with _locked(folder / ".lock"):  # sweep workers building one table at once write one at a time
            _write_verified_by(path, produce)
        _remove_stale(folder, key, keep=path)
    except GdError as exc:
        notice(f"processed table for {name} was built but not kept in the cache: {exc}")
    else:
        if damage:
            notice(f"processed cache for {name} {damage}; rebuilt")
    return _npz_frame(*parts) if suffix == ".npz" else _parse_table(data, suffix)


class Unverified(Exception):
    """A cached file that cannot be vouched for: no checksum record, a mismatch, or unreadable.

    Its message completes a sentence about the file, e.g. "was damaged (… does not match …)".
    """


def write_verified(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, its sha256 record first, so that ``read_verified`` can check it.

    A crash between the two leaves a record without its file, or beside an older file that no longer
    matches it: either way the next read rebuilds instead of trusting the file.
    """
    _write_verified_by(path, lambda sink: sink.write(data))


def _write_verified_by(path: Path, produce: Callable[[Any], None]) -> None:
    """``write_verified`` for bytes that ``produce(sink)`` writes, the same bytes on every call, to any object
    with a ``write`` method: once to hash them for the record, once into the file, never all held at once."""
    digest = _Digest()
    produce(digest)
    with _staged(_record_path(path)) as handle:
        handle.write(f"{digest.hexdigest()}  {path.name}\n".encode("ascii"))
    with _staged(path) as handle:
        produce(handle)


class _Digest:
    """A sink that only hashes what is written to it."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        """Hash ``data``."""
        self._hash.update(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def hexdigest(self) -> str:
        """The sha256 of everything written so far."""
        return self._hash.hexdigest()


def read_verified(path: Path) -> bytes:
    """The bytes of a file written by ``write_verified``, after checking them against its sha256 record.

    The bytes returned are the bytes hashed, so a file changed in between cannot slip through. Raises
    ``FileNotFoundError`` when there is no such file and ``Unverified`` when it cannot be vouched for.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unverified(f"cannot be read ({path}: {exc.strerror or one_line(exc)})") from None
    try:
        recorded = _record_path(path).read_text(encoding="ascii").split()
    except FileNotFoundError:
        raise Unverified(f"has no checksum record ({_record_path(path)} is missing)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unverified(f"has an unreadable checksum record ({one_line(exc)})") from None
    if not recorded or hashlib.sha256(data).hexdigest() != recorded[0].lower():
        raise Unverified(f"was damaged ({path} no longer matches the sha256 recorded when it was written)")
    return data


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _remove_stale(folder: Path, key: str, *, keep: Path) -> None:
    """Delete older versions of a processed table, and their records: they will never be read again."""
    stale = re.compile(rf"^{re.escape(key)}\.v\d+\.[0-9a-f]{{16}}\.(?:npz|parquet)(?:{re.escape(RECORD_SUFFIX)})?$")
    for old in folder.iterdir():
        if old not in (keep, _record_path(keep)) and stale.match(old.name):
            with contextlib.suppress(OSError):  # a leftover costs disk space, not correctness
                old.unlink(missing_ok=True)


# --- checking the cache -------------------------------------------------------------------------------

def _check(remote: RemoteFile) -> tuple[str, str]:
    """The cache state of ``remote`` and, when corrupt, what is wrong with it."""
    path = cached_path(remote)
    if not path.is_file():
        return NEEDS_DOWNLOAD, "missing"
    entry = _read_manifest().get(remote.filename)
    try:
        if entry is None or entry.get("url") != remote.url:
            # Not ours to vouch for (a crash before the manifest was written, or another URL): download anew,
            # unless it matches a pinned checksum, which is proof enough.
            if remote.sha256 and hash_file(path) == remote.sha256.lower():
                return CACHED, "unrecorded"
            return NEEDS_DOWNLOAD, "unrecorded"
        if (remote.sha256 and entry.get("sha256") != remote.sha256.lower()) or (
            remote.size is not None and entry.get("size") != remote.size
        ):
            return NEEDS_DOWNLOAD, "pinned to another version"
        size = path.stat().st_size
        if size != entry.get("size"):
            return CORRUPT, f"has {size} bytes but {entry.get('size')} were downloaded"
        if hash_file(path) != entry.get("sha256"):
            return CORRUPT, "no longer matches the sha256 recorded when it was downloaded"
    except OSError as exc:  # e.g. a shared cache holding a file this user may not read
        return CORRUPT, f"cannot be read ({exc.strerror or one_line(exc)})"
    return CACHED, ""


def _sha256_of(path: Path) -> str:
    """A source's sha256: the manifest's record for a cached download (just verified by fetch), else hashed."""
    if path.parent.resolve() == downloads_dir().resolve():
        entry = _read_manifest().get(path.name)
        if entry and path.is_file() and path.stat().st_size == entry.get("size") and entry.get("sha256"):
            return str(entry["sha256"])
    try:
        return hash_file(path)
    except OSError as exc:
        raise GdError(f"cannot read {path} to check it: {exc.strerror or exc}; fetch or import it again") from None


def hash_file(path: Path) -> str:
    """The sha256 (hex) of a file's bytes, read a chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- downloading --------------------------------------------------------------------------------------

def _download(remote: RemoteFile, label: str) -> Path:
    url, target = remote.url, cached_path(remote)
    offline = f"download it elsewhere and run `gd data import {label} /path/to/{remote.filename}`"
    import urllib.request  # here, not at the top: it pulls in http, ssl and email, which only a download needs

    request = urllib.request.Request(url, headers={"User-Agent": "gd (GeneDisco reimplementation)"})
    # The staged file comes first: a cache that cannot be written is refused before anything is transferred.
    with _staged(target) as handle, _opened(request, offline) as response:
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
            raise GdError(f"download of {url} broke off after {handle.tell()} bytes ({one_line(exc)}); "
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


@contextlib.contextmanager
def _opened(request: urllib.request.Request, offline: str) -> Iterator[Any]:
    """The HTTP response to ``request``, or a GdError naming the URL and the way to work offline."""
    import urllib.error
    import urllib.request

    url = request.full_url
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise GdError(f"download of {url} failed with HTTP {exc.code} {one_line(exc.reason)}; "
                      f"the file may have moved: check the URL, or {offline}") from None
    except urllib.error.URLError as exc:
        raise GdError(f"cannot reach {url} ({one_line(exc.reason)}); check that you are online, "
                      f"or {offline}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise GdError(f"cannot reach {url} ({one_line(exc)}); check that you are online, or {offline}") from None
    with response:
        yield response


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


class _Staged:
    """The handle ``_staged`` yields: ``write`` and ``tell`` of the temporary file, whose ``path`` is known."""

    def __init__(self, handle: Any, path: Path, target: Path) -> None:
        self._handle, self.path, self._target = handle, path, target

    def write(self, data: bytes) -> int:
        """Write bytes; a refusal by the system (full disk, quota) becomes a GdError naming the cache."""
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise _cache_write_error(self._target, exc) from None

    def tell(self) -> int:
        """Bytes written so far."""
        return self._handle.tell()

    def flush(self) -> None:
        """Push buffered bytes to the file, e.g. before reading it back to check it."""
        try:
            self._handle.flush()
        except OSError as exc:
            raise _cache_write_error(self._target, exc) from None


@contextlib.contextmanager
def _staged(target: Path) -> Iterator[_Staged]:
    """A binary file handle that becomes ``target`` atomically when the block ends without an error.

    Written beside ``target`` so the final rename stays on one file system; on any error the partial
    file is removed and ``target`` is left as it was. The file gets the mode the umask gives new files,
    so a cache shared with others stays readable by them. Any refusal by the system (read-only place,
    full disk, a directory in the way) is a GdError that names the data cache and the way out.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_parts(target)
        # The writer's pid in the name tells a later writer whether the file is still being written.
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".part")
    except OSError as exc:
        raise _cache_write_error(target, exc) from None
    temp = Path(name)
    _WRITING.add(temp)
    handle = os.fdopen(fd, "wb")
    try:
        yield _Staged(handle, temp, target)
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.chmod(temp, file_mode())
            os.replace(temp, target)
        except OSError as exc:
            raise _cache_write_error(target, exc) from None
    finally:
        with contextlib.suppress(OSError):  # closing again flushes again, which may fail as the write did
            handle.close()
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        _WRITING.discard(temp)


# The partial files this process is writing now: its own pid on a leftover does not prove it is being written
# (in a container gd may start with the same pid every time).
_WRITING: set[Path] = set()


def _remove_dead_parts(target: Path) -> None:
    """Delete the partial files of ``target`` (``.NAME.PID.XXXX.part``) that a killed writer left behind."""
    ours = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[^.]+\.part")
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        match = ours.fullmatch(part.name)
        if match is None or part in _WRITING:
            continue  # a name of another form (an older gd's, another target's): not ours to judge
        pid = int(match.group(1))
        if pid == os.getpid() or not process_alive(pid):
            with contextlib.suppress(OSError):
                part.unlink()


# --- the manifest -------------------------------------------------------------------------------------

def _read_manifest() -> dict[str, dict[str, Any]]:
    path = data_dir() / MANIFEST
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GdError(f"download manifest {path} is unreadable ({one_line(exc)}); delete it and run "
                      "`gd data fetch NAME --force` for each dataset") from None
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise GdError(f"download manifest {path} is malformed; delete it and run `gd data fetch NAME --force`")
    return files


def _record(remote: RemoteFile, size: int, sha256: str, **extra: str) -> None:
    """Write ``remote``'s size and sha256 into the manifest (read-modify-write under a lock, atomically)."""
    path = data_dir() / MANIFEST
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
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as exc:
        raise _cache_write_error(lock_path, exc) from None
    with handle:
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


def _table_bytes(frame: pd.DataFrame, suffix: str) -> bytes:
    """The cached form of a table as bytes: parquet, or an npz without pickles; labels as strings."""
    if suffix != ".parquet":
        buffer = io.BytesIO()
        _write_npz(buffer, _npz_parts(frame))
        return buffer.getvalue()
    index = frame.index.astype(str).rename(frame.index.name)
    columns = frame.columns.astype(str).rename(frame.columns.name)
    buffer = io.BytesIO()
    frame.set_axis(index, axis=0).set_axis(columns, axis=1).to_parquet(buffer)
    return buffer.getvalue()


_NPZ_PIECE = 1 << 20  # bytes of the values written at a time: a large table is never copied whole


def _npz_parts(frame: pd.DataFrame) -> tuple[Any, Any, Any, str]:
    """What the npz form holds: the values (a view where pandas has one block), labels as str, and names and
    attrs as JSON."""
    import numpy as np

    names = {"index": frame.index.name, "columns": frame.columns.name, "attrs": frame.attrs}
    values = frame.to_numpy()
    if values.dtype.hasobject:  # numeric columns of different kinds (bool beside float): no pickles here
        values = frame.to_numpy(dtype=np.float64)
    return (values, np.asarray(frame.index.astype(str), dtype=str),
            np.asarray(frame.columns.astype(str), dtype=str), json.dumps(names, sort_keys=True))


def _write_npz(sink: Any, parts: tuple[Any, Any, Any, str]) -> None:
    """Write an uncompressed npz with members values, index, columns and names, the same bytes every time."""
    import zipfile

    import numpy as np

    values, index, columns, names = parts
    if not (values.flags.c_contiguous or values.flags.f_contiguous):
        values = np.ascontiguousarray(values)
    arrays = {"values": values, "index": index, "columns": columns, "names": np.asarray(names)}
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member, array in arrays.items():
            info = zipfile.ZipInfo(f"{member}.npy", date_time=(1980, 1, 1, 0, 0, 0))  # no clock in the bytes
            with archive.open(info, "w", force_zip64=True) as handle:
                # The header says whether the bytes are in C or Fortran order, so either is written as it lies.
                header = np.lib.format.header_data_from_array_1_0(array)
                np.lib.format.write_array_header_1_0(handle, header)
                flat = (array.T if header["fortran_order"] else array).reshape(-1)
                flat = flat.view(np.uint8) if flat.size else flat
                for start in range(0, flat.nbytes, _NPZ_PIECE):
                    handle.write(memoryview(flat[start:start + _NPZ_PIECE]))


def _npz_frame(values: Any, index: Any, columns: Any, names: str) -> pd.DataFrame:
    """The table the npz form stands for: the same for a fresh build and for a read of the cached file."""
    import pandas as pd

    named = json.loads(names)
    frame = pd.DataFrame(values, index=pd.Index(index, dtype=str, name=named["index"]),
                         columns=pd.Index(columns, dtype=str, name=named["columns"]), copy=False)
    frame.attrs.update(named.get("attrs", {}))
    return frame


def _parse_table(data: bytes, suffix: str) -> pd.DataFrame:
    """A table from its cached bytes; ``Unverified`` if they do not parse (a changed library, say)."""
    import numpy as np
    import pandas as pd

    try:
        if suffix == ".parquet":
            import pyarrow

            return pd.read_parquet(pyarrow.BufferReader(data))  # parsed in place, without another copy
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return _npz_frame(archive["values"], archive["index"], archive["columns"], str(archive["names"]))
    except Exception as exc:  # pyarrow's and numpy's parse errors share no narrower base class
        raise Unverified(f"was damaged (it cannot be parsed: {type(exc).__name__}: {one_line(exc)})") from None
