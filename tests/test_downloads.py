"""Downloaded descriptors and the verified download cache, served by a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.helpers import downloads
from gd_core.helpers.downloads import RemoteFile, cached_path, cached_table, fetch, import_file, status
from gd_core.errors import GdError
from gd_plugins_builtin import downloaded

# Real layouts in miniature. Achilles: cell lines × "SYMBOL (ENTREZ)"; P53 is an alias of TP53, NOTAGENE
# is unknown and BRCA1 has no score at all. ACH-000002 misses GAPDH: its other scores average -0.25.
ACHILLES_CSV = (
    "DepMap_ID,A1BG (1),P53 (7157),KRAS (3845),NOTAGENE (999999),GAPDH (2597),BRCA1 (672)\n"
    "ACH-000001,0.5,-1.5,-2.0,0.0,-3.0,\n"
    "ACH-000002,0.1,-0.5,-1.0,0.4,,\n"
    "ACH-000003,0.2,0.3,-0.8,0.1,-2.5,\n"
)
# Mashup: one gene per line; the vectors file has one row of 5 numbers per gene, no header.
STRING_GENES = ["A1BG", "P53", "KRAS", "NOTAGENE"]
STRING_VECTORS = np.arange(20, dtype=np.float64).reshape(4, 5) / 10 - 0.5
# CCLE: two KRAS isoforms (averaged), MMAC1 an alias of PTEN, a protein without symbol, quoted commas and
# missing values. Sample B's present values average (4 + 6 + 1 + 3) / 4 = 3.5.
CCLE_CSV = (
    '"Protein_Id","Gene_Symbol","Description","Group_ID","Uniprot","Uniprot_Acc",'
    '"A_BREAST_TenPx01","B_LUNG_TenPx02","C_SKIN_TenPx03"\n'
    'sp|P01116|RASK,KRAS,"GTPase KRas, isoform 2A",1,RASK_HUMAN,P01116,1.0,4.0,NA\n'
    'sp|P01116-2|RASK,KRAS,"GTPase KRas, isoform 2B",1,RASK_HUMAN,P01116-2,3.0,6.0,2.0\n'
    "sp|P60484|PTEN,MMAC1,Phosphatase PTEN,2,PTEN_HUMAN,P60484,-1.0,NA,0.5\n"
    "sp|P04406|G3P,GAPDH,GAPDH,3,G3P_HUMAN,P04406,2.0,1.0,1.5\n"
    "sp|Q00000|XXXX,,Uncharacterised,4,XXXX_HUMAN,Q00000,0.0,3.0,1.0\n"
)


@dataclass
class Server:
    """Serves fixture bodies by path and counts the requests for each."""

    base: str = ""
    bodies: dict[str, bytes] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    declared: dict[str, int] = field(default_factory=dict)  # a Content-Length to claim instead of the real one
    hits: Counter = field(default_factory=Counter)

    def serve(self, path: str, body: bytes) -> str:
        self.bodies[path] = body
        return self.base + path


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.hits[self.path] += 1
            if self.path in state.statuses:
                self.send_error(state.statuses[self.path])
                return
            if self.path not in state.bodies:
                self.send_error(404)
                return
            body = state.bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(state.declared.get(self.path, len(body))))
            self.end_headers()
            self.wfile.write(body)  # HTTP/1.0: the connection closes here, short or not

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh gd data directory; proxies would swallow requests to 127.0.0.1."""
    monkeypatch.setenv("GD_DATA_DIR", str(tmp_path / "gd-data"))
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    return tmp_path / "gd-data"


@pytest.fixture
def upstream(tmp_path, server, monkeypatch) -> Server:
    """The three descriptors' files, written in their real formats and served in place of the real URLs."""
    files = tmp_path / "upstream"
    files.mkdir()
    (files / "achilles.csv").write_text(ACHILLES_CSV)
    (files / "genes.txt").write_text("".join(f"{g}\n" for g in STRING_GENES))
    (files / "vectors.txt").write_text("".join("\t".join(f"{v:.6f}" for v in row) + "\n" for row in STRING_VECTORS))
    (files / "ccle.csv.gz").write_bytes(gzip.compress(CCLE_CSV.encode()))
    remotes = {
        "achilles": {"gene_effect": ("achilles.csv", "achilles.csv")},
        "string": {"vectors": ("vectors.txt", "string_vectors.txt"), "genes": ("genes.txt", "string_genes.txt")},
        "ccle": {"proteomics": ("ccle.csv.gz", "ccle.csv.gz")},
    }
    for name, roles in remotes.items():
        monkeypatch.setitem(downloaded.REMOTES, name, {
            role: RemoteFile(server.serve(f"/{source}", (files / source).read_bytes()), filename)
            for role, (source, filename) in roles.items()
        })
    return server


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    """The error's message, after checking it is a single line as the CLI prints it."""
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def leftovers(data_dir: Path) -> list[str]:
    folder = data_dir / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_achilles_is_genes_by_cell_lines_with_official_symbols(upstream):
    table = downloaded.achilles()

    assert list(table.columns) == ["ACH-000001", "ACH-000002", "ACH-000003"]
    # P53 became TP53, NOTAGENE is unknown and BRCA1 had no score at all.
    assert list(table.index) == ["A1BG", "GAPDH", "KRAS", "TP53"]
    assert (table.dtypes == np.float32).all()
    assert table.loc["TP53"].tolist() == pytest.approx([-1.5, -0.5, 0.3])
    assert table.loc["KRAS", "ACH-000003"] == pytest.approx(-0.8)
    # The missing GAPDH score is its cell line's mean over the raw table.
    assert table.loc["GAPDH", "ACH-000002"] == pytest.approx(-0.25)


@pytest.mark.parametrize("genes_as", ["rows", "columns"])
def test_string_keeps_every_dimension_whichever_way_the_vectors_are_laid_out(upstream, genes_as):
    matrix = STRING_VECTORS if genes_as == "rows" else STRING_VECTORS.T
    upstream.serve("/vectors.txt", "".join("\t".join(f"{v:.6f}" for v in row) + "\n" for row in matrix).encode())

    table = downloaded.string()

    assert list(table.columns) == [f"mashup_{j}" for j in range(5)]
    assert list(table.index) == ["A1BG", "KRAS", "TP53"]
    assert (table.dtypes == np.float32).all()
    assert table.loc["TP53"].tolist() == pytest.approx(STRING_VECTORS[1].tolist())  # column 0 included
    assert table.loc["KRAS"].tolist() == pytest.approx(STRING_VECTORS[2].tolist())


def test_string_refuses_vectors_that_fit_no_gene_count(upstream):
    upstream.serve("/vectors.txt", b"0.1\t0.2\t0.3\n0.4\t0.5\t0.6\n")

    with pytest.raises(GdError) as excinfo:
        downloaded.string()

    message = one_line(excinfo)
    assert "2 × 3" in message and "lists 4 genes" in message


def test_ccle_drops_annotations_imputes_by_sample_and_averages_isoforms(upstream):
    table = downloaded.ccle()

    assert list(table.columns) == ["A_BREAST_TenPx01", "B_LUNG_TenPx02", "C_SKIN_TenPx03"]
    assert list(table.index) == ["GAPDH", "KRAS", "PTEN"]  # MMAC1 became PTEN; no-symbol row dropped
    assert (table.dtypes == np.float32).all()
    assert table.loc["KRAS"].tolist() == pytest.approx([2.0, 5.0, (1.25 + 2.0) / 2])  # C's mean is 1.25
    assert table.loc["PTEN", "B_LUNG_TenPx02"] == pytest.approx(3.5)


def test_descriptors_are_built_in_and_marked_as_downloads(builtin_host):
    descriptors = builtin_host.registries.descriptors

    for name in ("achilles", "string", "ccle"):
        entry = descriptors.get(name)
        assert entry.plugin == "builtin.downloaded"
        assert entry.metadata["source"] == "download"
        assert entry.metadata["url"].startswith("https://")
        assert entry.metadata["licence"] and entry.metadata["citation"] and entry.summary
        assert all(isinstance(f, RemoteFile) for f in entry.metadata["files"])
    assert descriptors.get("string").metadata["url"].endswith("string_human_mashup_vectors_d800.txt")


def test_a_descriptor_is_created_through_the_registry(upstream, builtin_host):
    table = builtin_host.registries.descriptors.create("ccle")

    assert table.shape == (3, 3)


def test_files_are_downloaded_once_and_tables_processed_once(upstream, monkeypatch):
    first = downloaded.achilles()
    monkeypatch.setattr(downloaded, "parse_achilles", lambda **_: pytest.fail("parsed again"))

    again = downloaded.achilles()

    assert upstream.hits["/achilles.csv"] == 1
    pd.testing.assert_frame_equal(first, again)


def test_a_processing_version_bump_rebuilds_the_table_without_downloading(upstream, monkeypatch, data_dir):
    downloaded.achilles()
    parsed = []
    original = downloaded.parse_achilles
    monkeypatch.setattr(downloaded, "parse_achilles", lambda **paths: parsed.append(1) or original(**paths))
    monkeypatch.setitem(downloaded.VERSIONS, "achilles", downloaded.VERSIONS["achilles"] + 1)

    downloaded.achilles()

    assert parsed == [1]
    assert upstream.hits["/achilles.csv"] == 1
    (table,) = (data_dir / "processed").glob("achilles.*.parquet")  # the old version is gone
    assert sorted(p.name for p in (data_dir / "processed").glob("achilles.*")) == [table.name, table.name + ".sha256"]


def test_cached_table_is_keyed_by_source_content_and_version(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("one")
    builds = []

    def build():
        builds.append(1)
        return pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="gene"))

    first = cached_table("demo", [source], 1, build)
    hit = cached_table("demo", [source], 1, build)
    assert len(builds) == 1
    pd.testing.assert_frame_equal(first, hit)
    assert hit.index.name == "gene" and hit.loc["b", "x"] == 2.0

    cached_table("demo", [source], 2, build)
    assert len(builds) == 2
    source.write_text("two")
    cached_table("demo", [source], 2, build)
    assert len(builds) == 3


def test_cached_table_stores_no_pickle_without_pyarrow(tmp_path, monkeypatch, data_dir):
    monkeypatch.setattr(downloads, "_has_pyarrow", lambda: False)
    frame = pd.DataFrame(np.eye(2, dtype=np.float32), index=["g1", "g2"], columns=["c1", "c2"])

    cached_table("plain", [], 1, lambda: frame)

    (path,) = (data_dir / "processed").glob("plain.*.npz")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as archive:
        assert archive["values"].dtype == np.float32


def test_cached_table_uses_parquet_when_pyarrow_is_installed(data_dir):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"c1": np.ones(2, dtype=np.float32)}, index=pd.Index(["g1", "g2"], name="gene"))

    pd.testing.assert_frame_equal(cached_table("columnar", [], 1, lambda: frame), frame, check_index_type=False)
    files = (data_dir / "processed").glob("[!.]*")  # not the hidden lock file
    assert sorted(p.suffix for p in files) == [".parquet", ".sha256"]


def test_status_follows_a_file_from_download_to_damage_to_repair(server, data_dir):
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin")
    assert status(remote) == "needs download"

    path = fetch(remote)
    assert path == cached_path(remote) and path.read_bytes() == b"payload"
    assert status(remote) == "cached"

    path.write_bytes(b"PAYLOAD")  # same size, other content
    assert status(remote) == "corrupt"
    path.write_bytes(b"pay")
    assert status(remote) == "corrupt"

    fetch(remote, force=True)
    assert status(remote) == "cached"
    assert server.hits["/f.bin"] == 2


def test_a_cached_file_changed_after_download_is_refused(server):
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin")
    fetch(remote).write_bytes(b"tampers")

    with pytest.raises(GdError) as excinfo:
        fetch(remote, name="achilles")

    message = one_line(excinfo)
    assert str(cached_path(remote)) in message and "`gd data fetch achilles --force`" in message
    assert server.hits["/f.bin"] == 1


def test_a_cached_file_is_used_without_network(server):
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin")
    fetch(remote)
    server.statuses["/f.bin"] = 500

    assert fetch(remote).read_bytes() == b"payload"
    assert server.hits["/f.bin"] == 1


def test_a_pinned_checksum_mismatch_saves_nothing(server, data_dir):
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin", sha256="0" * 64)

    with pytest.raises(GdError) as excinfo:
        fetch(remote)

    assert "checksum" in one_line(excinfo)
    assert leftovers(data_dir) == []
    assert status(remote) == "needs download"


def test_a_matching_pin_is_accepted_and_vouches_for_an_unrecorded_file(server, data_dir):
    pin = hashlib.sha256(b"payload").hexdigest()
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin", sha256=pin, size=7)
    fetch(remote)
    (data_dir / "manifest.json").unlink()

    assert status(remote) == "cached"
    assert fetch(remote).read_bytes() == b"payload"
    assert server.hits["/f.bin"] == 1


def test_a_truncated_transfer_saves_nothing(server, data_dir):
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin")
    server.declared["/f.bin"] = 1000

    with pytest.raises(GdError) as excinfo:
        fetch(remote, name="string")

    message = one_line(excinfo)
    assert "truncated" in message and "7 of 1000 bytes" in message and remote.url in message
    assert leftovers(data_dir) == []


@pytest.mark.parametrize("code", [404, 500])
def test_an_http_error_names_its_code_and_url(server, data_dir, code):
    url = server.serve("/f.bin", b"payload")
    server.statuses["/f.bin"] = code

    with pytest.raises(GdError) as excinfo:
        fetch(RemoteFile(url, "f.bin"))

    message = one_line(excinfo)
    assert f"HTTP {code}" in message and url in message
    assert leftovers(data_dir) == []


def test_an_unreachable_host_suggests_importing_the_file(data_dir):
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/string_human_genes.txt"

    with pytest.raises(GdError) as excinfo:
        fetch(RemoteFile(url, "genes.txt"), name="string")

    message = one_line(excinfo)
    assert url in message and "`gd data import string /path/to/genes.txt`" in message
    assert leftovers(data_dir) == []


def test_an_imported_file_is_verified_and_used_without_network(server, tmp_path):
    local = tmp_path / "copy.bin"
    local.write_bytes(b"payload")
    remote = RemoteFile(server.serve("/f.bin", b"payload"), "f.bin", sha256=hashlib.sha256(b"payload").hexdigest())

    import_file(remote, local)

    assert status(remote) == "cached"
    assert fetch(remote).read_bytes() == b"payload"
    assert server.hits["/f.bin"] == 0
    with pytest.raises(GdError) as excinfo:
        import_file(RemoteFile(remote.url, "other.bin", sha256="0" * 64), local)
    assert "checksum" in one_line(excinfo)


def test_data_dir_defaults_to_the_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("GD_DATA_DIR")
    assert downloads.data_dir() == Path(platformdirs.user_cache_dir("gd"))
