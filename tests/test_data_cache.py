"""The data cache: processed tables verified on every read, GD_DATA_DIR that cannot be used, read-only caches."""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.helpers import downloads
from gd_core.helpers.downloads import cached_table
from gd_core.errors import GdError
from gd_plugins_builtin import genedisco
from tests.helpers import gd
from tests.test_bad_tables import snapshot
from tests.test_downloads import ACHILLES_CSV, server, upstream  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh data cache, and no descriptor remembered in this process from an earlier test."""
    monkeypatch.setenv("GD_DATA_DIR", str(tmp_path / "gd-data"))
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    genedisco._reduced_gene_ontology.cache_clear()
    yield tmp_path / "gd-data"
    genedisco._reduced_gene_ontology.cache_clear()


@contextmanager
def read_only(folder: Path):
    """Make ``folder`` read-only for this process, root included: a read-only bind mount, else chmod.

    Root ignores permission bits, and a shared cache on a read-only mount is what users meet, so as root
    the folder is bind-mounted onto itself read-only (EROFS), as any writer would find it.
    """
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
    for path in modes:
        path.chmod(modes[path] & ~0o222)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def small_run(out: Path, *extra: str) -> list[str]:
    """`gd run` on a bundled assay and the Gene Ontology descriptor reduced to 4 dims (a processed table)."""
    return ["run", "--assay", "schmidt_2021_il2", "--descriptor", "gene_ontology", "--param", "descriptor.dims=4",
            "--model", "random_forest", "--param", "model.n_estimators=5", "--acquisition", "random",
            "--batch-size", "20", "--cycles", "2", "--out", str(out), "--json", *extra]


def processed(data_dir: Path, key: str) -> Path:
    (path,) = (data_dir / "processed").glob(f"{key}.v*.parquet")
    return path


# --- processed tables are verified on every read ---------------------------------------------------------

def test_a_processed_descriptor_whose_rows_were_shuffled_is_rebuilt_not_used(data_dir, tmp_path, capsys):
    code, first, _ = gd(capsys, small_run(tmp_path / "a"))
    assert code == 0
    path = processed(data_dir, "gene_ontology_d4")
    table = pd.read_parquet(path)
    shuffled = pd.DataFrame(table.to_numpy()[np.random.default_rng(0).permutation(len(table))], index=table.index,
                            columns=table.columns)
    shuffled.to_parquet(path)  # a valid parquet file, each gene given another gene's features
    genedisco._reduced_gene_ontology.cache_clear()

    code, again, stderr = gd(capsys, small_run(tmp_path / "b"))

    assert code == 0
    assert json.loads(again)["final"] == json.loads(first)["final"]
    assert "processed cache for gene_ontology_d4 was damaged" in stderr and "rebuilt" in stderr
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)  # repaired in place


@pytest.mark.parametrize("damage", ["truncated", "not parquet", "empty", "record missing", "record edited"])
def test_a_damaged_processed_table_is_rebuilt_with_one_status_line(data_dir, capsys, damage):
    builds = []

    def build():
        builds.append(1)
        return pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=pd.Index(["a", "b", "c"], name="gene"))

    expected = cached_table("demo", [], 1, build)
    path = processed(data_dir, "demo")
    record = path.with_name(path.name + ".sha256")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "not parquet":
        path.write_text("gene,x\na,1\n")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "record missing":
        record.unlink()
    else:
        record.write_text("0" * 64 + f"  {path.name}\n")
    capsys.readouterr()

    rebuilt = cached_table("demo", [], 1, build)

    assert len(builds) == 2
    pd.testing.assert_frame_equal(rebuilt, expected)
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "processed cache for demo" in stderr and "rebuilt" in stderr
    assert cached_table("demo", [], 1, build) is not None and len(builds) == 2  # repaired: read, not built


def test_a_processed_table_and_its_record_are_written_record_first(data_dir, monkeypatch):
    order = []
    real = downloads._staged

    def watched(target):
        order.append(target.name)
        return real(target)

    monkeypatch.setattr(downloads, "_staged", watched)
    cached_table("demo", [], 1, lambda: pd.DataFrame({"x": [1.0]}, index=["a"]))

    assert order[0].endswith(".parquet.sha256") and order[1].endswith(".parquet")


def test_partial_files_of_killed_writers_are_removed_by_the_next_write_and_others_kept(data_dir):
    # A writer killed mid-file leaves .NAME.PID.XXXX.part; the next write of NAME removes it once PID is gone.
    target = data_dir / "processed" / "demo.npz"
    target.parent.mkdir(parents=True)
    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid runs nothing now
    dead = target.parent / f".demo.npz.{ended.pid}.k3j2x9qa.part"
    alive = target.parent / f".demo.npz.{os.getppid()}.a8b7c6d5.part"  # our parent is running: still writing
    other_form = target.parent / ".demo.npz.sha256.7.a8b7c6d5.part"  # the record's partial file, not demo.npz's
    for leftover in (dead, alive, other_form):
        leftover.write_bytes(b"half a table")

    downloads.write_verified(target, b"the whole table")

    assert target.read_bytes() == b"the whole table"
    assert not dead.exists() and alive.exists() and other_form.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        [target.name, f"{target.name}.sha256", alive.name, other_form.name])


def test_verified_files_get_the_mode_the_umask_gives(data_dir):
    previous = os.umask(0o027)
    try:
        cached_table("demo", [], 1, lambda: pd.DataFrame({"x": [1.0]}, index=["a"]))
    finally:
        os.umask(previous)

    assert processed(data_dir, "demo").stat().st_mode & 0o777 == 0o640


def test_a_damaged_shifrut_import_is_refused_until_imported_again(tmp_path, capsys, data_dir):
    from tests.test_data_import import orcs_file

    screen = orcs_file(tmp_path / "1107.screen.tab.txt", 1107, {"CD5": 1.0, "LCP2": 0.5, "TP53": -1.0})
    assert gd(capsys, ["data", "import", "shifrut_2018", str(screen)])[0] == 0
    stored = data_dir / "imported" / "shifrut_2018.tsv.gz"
    import gzip

    stored.write_bytes(gzip.compress(b"gene\tvalue\nCD5\t9\nLCP2\t9\nTP53\t9\n"))  # valid, but not what was imported

    code, _, stderr = gd(capsys, ["run", "--assay", "shifrut_2018", "--out", str(tmp_path / "r")])
    info = json.loads(gd(capsys, ["data", "info", "shifrut_2018", "--json"])[1])

    assert code == 1
    line = stderr.strip().splitlines()[-1]
    assert "shifrut_2018" in line and "was damaged" in line and "gd data import shifrut_2018" in line
    assert info["status"].startswith("damaged")


# --- measuring what verification costs ---------------------------------------------------------------------

def test_the_bytes_checked_are_the_bytes_parsed(data_dir, monkeypatch):
    """One read of the file, hashed then parsed from memory: a file changed in between cannot slip through."""
    cached_table("demo", [], 1, lambda: pd.DataFrame({"x": np.arange(10.0)}, index=[f"g{i}" for i in range(10)]))
    parsed_from = []
    real = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda source, **kw: parsed_from.append(source) or real(source, **kw))

    table = cached_table("demo", [], 1, lambda: pytest.fail("rebuilt"))

    assert table["x"].tolist() == list(np.arange(10.0))
    assert len(parsed_from) == 1 and not isinstance(parsed_from[0], (str, os.PathLike))  # bytes in memory


# --- GD_DATA_DIR that cannot be used -----------------------------------------------------------------------

COMMANDS = [
    ["data", "list"],
    ["data", "info", "achilles"],
    ["data", "fetch", "achilles"],
    ["data", "import", "achilles", "{file}"],
    ["data", "export", "gene_ontology", "--param", "dims=3", "{out}"],
    ["run", "--descriptor", "achilles", "--model", "random_forest", "--out", "{run}"],
    ["run", "--descriptor", "gene_ontology", "--param", "descriptor.dims=3", "--model", "random_forest",
     "--out", "{run}"],
]


@pytest.mark.parametrize("where", ["a file", "under a file"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:3]))
def test_a_data_dir_that_is_a_file_is_named_with_the_way_out(tmp_path, monkeypatch, capsys, where, command):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    configured = blocker if where == "a file" else blocker / "cache"
    monkeypatch.setenv("GD_DATA_DIR", str(configured))
    (tmp_path / "achilles.csv").write_text(ACHILLES_CSV)
    argv = [a.format(file=tmp_path / "achilles.csv", out=tmp_path / "out.csv", run=tmp_path / "run")
            for a in command]
    before = snapshot(tmp_path)

    code, _, stderr = gd(capsys, argv)

    assert code == 1
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and f"GD_DATA_DIR={configured}" in line
    assert "point GD_DATA_DIR at a directory" in line
    assert snapshot(tmp_path) == before


# --- a read-only cache: read what it holds, refuse only writes ---------------------------------------------

def test_a_read_only_cache_serves_what_it_holds_and_refuses_writes_clearly(upstream, data_dir, tmp_path, capsys):
    code, first, _ = gd(capsys, small_run(tmp_path / "a"))  # fills processed/ with gene_ontology_d4
    assert code == 0
    assert gd(capsys, ["data", "fetch", "achilles"])[0] == 0  # fills downloads/ and processed/
    local = tmp_path / "ccle.csv.gz"
    local.write_bytes((tmp_path / "upstream" / "ccle.csv.gz").read_bytes())
    genedisco._reduced_gene_ontology.cache_clear()
    before = snapshot(data_dir)

    with read_only(data_dir):
        listed = gd(capsys, ["data", "list", "--json"])
        exported = gd(capsys, ["data", "export", "achilles", str(tmp_path / "achilles.csv")])
        run = gd(capsys, small_run(tmp_path / "b"))
        fetch = gd(capsys, ["data", "fetch", "ccle"])
        imported = gd(capsys, ["data", "import", "ccle", str(local)])
        other_dims = gd(capsys, ["data", "export", "gene_ontology", "--param", "dims=3", str(tmp_path / "go3.csv")])

    assert listed[0] == 0 and {r["name"]: r["status"] for r in json.loads(listed[1])}["achilles"] == "cached"
    assert exported[0] == 0 and pd.read_csv(tmp_path / "achilles.csv").shape == (4, 4)
    assert run[0] == 0 and json.loads(run[1])["final"] == json.loads(first)["final"]
    for code, _, stderr in (fetch, imported):
        line = stderr.strip().splitlines()[-1]
        assert code == 1 and line.startswith("error: cannot write to GD_DATA_DIR=")
        assert "point GD_DATA_DIR at a writable directory" in line
    assert upstream.hits["/ccle.csv.gz"] == 0  # refused before anything was transferred
    # A table the cache lacks is still built for this command; a dim line says it was not kept.
    assert other_dims[0] == 0 and "was built but not kept in the cache" in other_dims[2]
    assert snapshot(data_dir) == before


def test_a_cache_file_the_system_refuses_to_write_names_the_cache(data_dir, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(downloads.tempfile, "mkstemp", full)

    with pytest.raises(GdError) as excinfo:
        downloads.write_verified(data_dir / "processed" / "t.parquet", b"data")

    message = str(excinfo.value)
    assert "No space left on device" in message and "GD_DATA_DIR" in message and "free disk space" in message


def test_a_file_where_the_cache_keeps_a_folder_is_named_and_the_table_still_built(data_dir, capsys):
    data_dir.mkdir()
    (data_dir / "processed").write_text("not a folder")

    table = cached_table("demo", [], 1, lambda: pd.DataFrame({"x": [1.0]}, index=["a"]))

    assert table.loc["a", "x"] == 1.0
    stderr = capsys.readouterr().err
    assert "processed table for demo was built but not kept in the cache" in stderr
    assert f"({data_dir / 'processed'} is a file where a directory belongs); remove {data_dir / 'processed'}" in stderr
    assert (data_dir / "processed").read_text() == "not a folder"
