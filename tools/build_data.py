"""Maintainer script: rebuild the data shipped inside gd from pinned public sources.

    python -m tools.build_data            # rebuild the shipped files in place
    python -m tools.build_data --check    # rebuild into a temporary folder; exit 1 if anything differs

Sources (checksums pinned below and in the modules they come from): the genedisco 1.0.5 wheel from PyPI
(the five assays' raw screens) and Debian's r-bioc-org.hs.eg.db 3.16.0-1 (the org.Hs.eg.db SQLite, for
gene symbols and the Gene Ontology / Pfam descriptor). Only processed, derived values are written. The
output is byte-identical on every run: sorted rows, fixed float formatting, gzip and zip timestamps fixed.

One exception: the default Gene Ontology descriptor (its exact 128-component SVD) is shipped precomputed so
that every user loads the same bytes, but ARPACK's float64 result differs across BLAS kernels and thread
counts by ~1e-12, which flips the last bit of some float32 values. ``--check`` therefore compares that file
numerically (same genes, values within ``SVD_ATOL``) and every other file byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SYMBOL_MAP = Path("gd_core/resources/symbol_map.tsv.gz")
ASSAY_DIR = Path("gd_plugins_builtin/resources/assays")
GENE_ONTOLOGY = Path("gd_plugins_builtin/resources/gene_ontology.npz")
GENE_ONTOLOGY_SVD = Path("gd_plugins_builtin/resources/gene_ontology_svd128.npz")  # the default descriptor
SVD_ATOL = 1e-6  # --check's tolerance for GENE_ONTOLOGY_SVD; machines differ by ~1e-12 (float32 last bits)
PROVENANCE = Path("gd_plugins_builtin/resources/provenance.json")  # read by `gd data info`

DEB_NAME = "r-bioc-org.hs.eg.db"
DEB_FILE = "r-bioc-org.hs.eg.db_3.16.0-1_all.deb"
DEB_SHA256 = "0f61810d35b858915b1a9787d8dcab08b7e164c14c20a9e1d86eb9837308c2c2"
SQLITE_MEMBER = "usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite"
SQLITE_SHA256 = "bba36057dd3100a099e8054511b34d831349761971829a72b84859d2efe34605"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise SystemExit(f"{path}: sha256 {actual} is not the pinned {expected}; delete it and run again")
    return path


def fetch_org_hs_eg_db(cache: Path) -> Path:
    """The org.Hs.eg.db SQLite, from Debian's package (apt-get download + dpkg -x), checksummed."""
    sqlite = cache / "org.Hs.eg.db" / SQLITE_MEMBER
    if not sqlite.exists():
        deb = cache / DEB_FILE
        if not deb.exists():
            download = ["apt-get", "download", f"{DEB_NAME}=3.16.0-1"]
            if subprocess.run(download, cwd=cache).returncode != 0:
                # a fresh machine has no package lists yet
                subprocess.run(["apt-get", "update", "-qq"], check=True)
                subprocess.run(download, cwd=cache, check=True)
        _verified(deb, DEB_SHA256)
        subprocess.run(["dpkg", "-x", str(deb), str(cache / "org.Hs.eg.db")], check=True)
    return _verified(sqlite, SQLITE_SHA256)


def write_tsv_gz(path: Path, frame: pd.DataFrame) -> None:
    """A gzip TSV whose bytes depend only on the frame (no timestamp or file name in the header)."""
    text = frame.to_csv(sep="\t", index=False, lineterminator="\n", float_format="%.9g")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="",
                                                compresslevel=9) as handle:
        handle.write(text.encode("utf-8"))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz (readable by numpy.load) with fixed member timestamps, so rebuilding gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.save(buffer, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def build(out: Path, cache: Path) -> dict[str, object]:
    """Write every shipped data file under ``out`` (a repository root) and return a summary."""
    from gd_core.helpers.genes import harmonise, load_symbol_map
    from tools import org_hs_eg_db, raw_assays

    cache.mkdir(parents=True, exist_ok=True)
    sqlite = fetch_org_hs_eg_db(cache)
    wheel = raw_assays.fetch_wheel(cache)
    summary: dict[str, object] = {}

    write_tsv_gz(out / SYMBOL_MAP, org_hs_eg_db.build_symbol_map(sqlite))
    symbols = load_symbol_map(out / SYMBOL_MAP)

    for name, reader in sorted(raw_assays.ASSAYS.items()):
        values, report = harmonise(reader(wheel), symbols, source=name)
        table = pd.DataFrame({"gene": values.index, "value": values.to_numpy(dtype=np.float64)})
        write_tsv_gz(out / ASSAY_DIR / f"{name}.tsv.gz", table)
        summary[name] = {"genes": len(table), **report}

    matrix, genes, terms = org_hs_eg_db.build_gene_ontology(sqlite)
    matrix = matrix.tocsr()
    matrix.sort_indices()
    write_npz(out / GENE_ONTOLOGY, {
        "indptr": matrix.indptr.astype(np.int64), "indices": matrix.indices.astype(np.int32),
        "shape": np.asarray(matrix.shape, dtype=np.int64),
        "genes": np.asarray(genes, dtype=str), "terms": np.asarray(terms, dtype=str),
    })
    summary["gene_ontology"] = {"genes": matrix.shape[0], "terms": matrix.shape[1], "nnz": int(matrix.nnz)}

    # The default descriptor, from the file just written, exactly as gd would compute it at run time.
    from gd_plugins_builtin.genedisco import GENE_ONTOLOGY_DIMS, exact_svd, read_gene_ontology_matrix

    shipped, shipped_genes, _ = read_gene_ontology_matrix(out / GENE_ONTOLOGY)
    started = time.perf_counter()
    reduced = exact_svd(shipped, GENE_ONTOLOGY_DIMS)
    seconds = time.perf_counter() - started
    write_npz(out / GENE_ONTOLOGY_SVD, {"X": reduced, "genes": np.asarray(shipped_genes, dtype=str)})
    summary["gene_ontology"]["svd_dims"] = GENE_ONTOLOGY_DIMS
    print(f"{GENE_ONTOLOGY_SVD.name}: exact SVD of {shipped.shape[0]} x {shipped.shape[1]} in {seconds:.1f} s, "
          f"{(out / GENE_ONTOLOGY_SVD).stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    routes = symbols.table["route"].value_counts()
    provenance = {
        "sources": {
            "genedisco wheel": {"file": wheel.name, "sha256": raw_assays.WHEEL_SHA256},
            "org.Hs.eg.db": {"file": DEB_FILE, "sha256": DEB_SHA256, "sqlite_sha256": SQLITE_SHA256},
        },
        "symbol_map": {route: int(routes.get(route, 0)) for route in sorted(routes.index)},
        "datasets": summary,
    }
    (out / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def svd_difference(built: Path, committed: Path, atol: float = SVD_ATOL) -> str | None:
    """None when two SVD files hold the same genes and values within ``atol``, else one line saying why not."""
    name = committed.relative_to(REPO) if committed.is_relative_to(REPO) else committed
    if not committed.exists():
        return f"{name}: missing; a fresh build has it"
    with np.load(built) as new, np.load(committed) as old:
        if not np.array_equal(new["genes"], old["genes"]):
            return f"{name}: its genes differ from a fresh build's"
        if new["X"].shape != old["X"].shape:
            return f"{name}: shape {old['X'].shape}, a fresh build has {new['X'].shape}"
        rebuilt, shipped = new["X"].astype(np.float64), old["X"].astype(np.float64)
    largest = float(np.max(np.abs(rebuilt - shipped), initial=0.0))  # NaN anywhere gives NaN: refused
    if np.allclose(rebuilt, shipped, rtol=0, atol=atol):
        return None
    return f"{name}: largest difference from a fresh build {largest:.3g} exceeds {atol:g}"


def main(argv: list[str] | None = None) -> int:
    """Rebuild (or with --check, verify) the shipped data files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files instead of writing")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "gd-raw",
                        help="where downloaded sources are kept")
    args = parser.parse_args(argv)
    if not args.check:
        summary = build(REPO, args.cache)
        for name, facts in summary.items():
            print(name, facts)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), args.cache)
        built = sorted(p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file())
        exact = [p for p in built if p != GENE_ONTOLOGY_SVD]
        differ = [p for p in exact if not (REPO / p).exists() or not filecmp.cmp(Path(tmp) / p, REPO / p, shallow=False)]
        numeric = svd_difference(Path(tmp) / GENE_ONTOLOGY_SVD, REPO / GENE_ONTOLOGY_SVD)
        committed = {p.relative_to(REPO) for d in (ASSAY_DIR,) for p in (REPO / d).glob("*")}
        stray = sorted(committed - set(built))
    for path in differ:
        print(f"differs from a fresh build: {path}", file=sys.stderr)
    if numeric:
        print(numeric, file=sys.stderr)
    for path in stray:
        print(f"committed but no longer built: {path}", file=sys.stderr)
    if differ or numeric or stray:
        print("run `python -m tools.build_data` and commit the result", file=sys.stderr)
        return 1
    print(f"{len(built)} shipped data files match a fresh build ({GENE_ONTOLOGY_SVD.name} within {SVD_ATOL:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
