"""What reading a large user descriptor costs: the first read, a read from the data cache, and peak memory.

    python benchmarks/user_tables.py [--csv PATH] [--before OLD_CHECKOUT] [--repeats 3]

The table is ``--csv`` (default ``/tmp/peer_descriptor.csv``: 18,899 genes × 799 float columns, 165 MB);
when it is missing a table of that shape and size is generated, with real gene symbols from the shipped
symbol map and float32 values written to 8 significant digits. Each measurement runs in a new process (no symbol map or
table left over from an earlier one), imports first, then times one call and records the peak resident
memory above what the process held after its imports (``VmHWM`` reset through ``/proc/self/clear_refs``;
MB = 10^6 bytes):

- first read: ``load_descriptor_file`` with an empty data cache (parse, harmonise, write the cache entry);
- the reader alone: ``read_descriptor_file`` (parse and harmonise, nothing written);
- cached read: ``load_descriptor_file`` again, from the cache entry the first read wrote;
- small file: the first rows, just over 1 MB (the size from which tables are cached), read afresh and from
  the cache;
- parquet: the same table written by pandas (``read_csv(...).to_parquet(index=False)``: float64 columns, one
  row group), first read and from the cache; and written with the genes as the frame's index
  (``read_csv(..., index_col=0).to_parquet()``, pandas' default, which stores the index as a column), first read;
- one missing cell: the CSV with "NA" in one cell of data row 7,000, which must be refused (``read_descriptor_file``);
- before: ``read_descriptor_file`` of ``--before`` (e.g. ``git archive HEAD | tar -x -C /tmp/gd-before``),
  which read the file on every run, on the CSV, the gene-indexed parquet and the CSV with a missing cell.

Times are the best of ``--repeats``; memory is the largest peak among them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = Path("/tmp/peer_descriptor.csv")
GENES, FEATURES = 18_899, 799

# Runs in a fresh interpreter: import, then time one call and measure its peak memory.
CHILD = r"""
import json, sys, time
from pathlib import Path

def kb(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])

import importlib, os
import numpy, pandas, pyarrow
# The module of the checkout on PYTHONPATH (older checkouts kept it at gd_core/tables.py), never the installed
# gd's: an editable install's import hook would otherwise serve a module the checkout lacks.
root = Path(os.environ["PYTHONPATH"]).resolve()
where = "gd_core.helpers" if (root / "gd_core" / "helpers" / "tables.py").is_file() else "gd_core"
tables = importlib.import_module(f"{where}.tables")
if not Path(tables.__file__).resolve().is_relative_to(root):
    raise SystemExit(f"measured {tables.__file__}, not the checkout at {root}")
importlib.import_module(f"{where}.downloads")
call, path = sys.argv[1], Path(sys.argv[2])
reader = getattr(tables, call)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak (VmHWM) starts again from here
before = kb("VmRSS")
started = time.perf_counter()
try:
    shape = list(reader(path).shape)
except Exception as exc:  # a refusal is a result too; anything else is a failure of the benchmark
    if type(exc).__name__ != "GdError":
        raise
    shape = ["refused", str(exc)]
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mb": (kb("VmHWM") - before) * 1024 / 1e6, "shape": shape}))
"""


def measure(call: str, path: Path, data_dir: Path, pythonpath: Path) -> dict:
    """One call in a new process, with GD_DATA_DIR=data_dir and gd imported from ``pythonpath``."""
    env = {**os.environ, "GD_DATA_DIR": str(data_dir), "PYTHONPATH": str(pythonpath)}
    done = subprocess.run([sys.executable, "-c", CHILD, call, str(path)], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"{call} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(runs: list[dict]) -> tuple[float, float, list]:
    """Best time, largest peak and the shape read."""
    return min(r["seconds"] for r in runs), max(r["peak_mb"] for r in runs), runs[0]["shape"]


def generate(path: Path) -> None:
    """A table shaped like the peer descriptor: real symbols, float32 values to 8 significant digits."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from gd_core.helpers.genes import default_symbol_map

    table = default_symbol_map().table
    genes = sorted(table.index[table["route"] == "symbol"])[:GENES]
    rng = np.random.default_rng(0)
    with path.open("w") as handle:
        handle.write(",".join(["gene", *(f"f{j}" for j in range(FEATURES))]) + "\n")
        for gene in genes:
            values = rng.standard_normal(FEATURES).astype(np.float32)
            handle.write(gene + "," + ",".join(f"{v:.8g}" for v in values.tolist()) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--before", type=Path, help="an older checkout of gd to time its reader")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gd-user-tables-"))
    csv = args.csv
    if not csv.is_file():
        csv = scratch / "peer_descriptor.csv"
        print(f"{args.csv} is missing; generating {csv} ({GENES} genes x {FEATURES} columns)", file=sys.stderr)
        generate(csv)
    size = csv.stat().st_size
    sys.path.insert(0, str(REPO))
    from gd_core.helpers.tables import CACHE_FROM_BYTES

    small = scratch / "small.csv"  # the first rows, just over the size from which tables are cached
    with csv.open() as source, small.open("w") as target:
        written = 0
        for line in source:
            written += target.write(line)
            if written >= CACHE_FROM_BYTES:
                break
    small_size = small.stat().st_size
    import pandas as pd

    parquet = scratch / "peer_descriptor.parquet"
    pd.read_csv(csv).to_parquet(parquet, index=False)
    indexed = scratch / "peer_descriptor_indexed.parquet"
    pd.read_csv(csv, index_col=0).to_parquet(indexed)
    holed = scratch / "peer_descriptor_missing.csv"  # one "NA" in the 11th field of data row 7,000
    with csv.open() as source, holed.open("w") as target:
        for number, line in enumerate(source):
            if number == 7000:
                fields = line.split(",")
                line = ",".join(fields[:10] + ["NA"] + fields[11:])
            target.write(line)
    rows = []
    first, cached, small_first, small_cached = [], [], [], []
    for repeat in range(args.repeats):
        cache = scratch / f"cache{repeat}"
        first.append(measure("load_descriptor_file", csv, cache, REPO))
        cached.append(measure("load_descriptor_file", csv, cache, REPO))
        small_first.append(measure("load_descriptor_file", small, cache, REPO))
        small_cached.append(measure("load_descriptor_file", small, cache, REPO))
    reader = [measure("read_descriptor_file", csv, scratch / "unused", REPO) for _ in range(args.repeats)]
    parquet_first, parquet_cached = [], []
    for repeat in range(args.repeats):
        cache = scratch / f"parquet-cache{repeat}"
        parquet_first.append(measure("load_descriptor_file", parquet, cache, REPO))
        parquet_cached.append(measure("load_descriptor_file", parquet, cache, REPO))
    indexed_first = [measure("load_descriptor_file", indexed, scratch / f"indexed-cache{repeat}", REPO)
                     for repeat in range(args.repeats)]
    rows += [("first read (uncached: parse, harmonise, write the cache entry)", best(first)),
             ("  of which the reader alone (read_descriptor_file)", best(reader)),
             ("cached read (load_descriptor_file, entry verified)", best(cached)),
             (f"its first {best(small_first)[2][0]} rows ({small_size / 1e6:.2f} MB): first read", best(small_first)),
             ("  and from the cache", best(small_cached)),
             (f"the same table as parquet ({parquet.stat().st_size / 1e6:.0f} MB, float64): first read",
              best(parquet_first)),
             ("  and from the cache", best(parquet_cached)),
             ("  written with the genes as its pandas index: first read", best(indexed_first)),
             ("the CSV with one missing cell: refused (read_descriptor_file)",
              best([measure("read_descriptor_file", holed, scratch / "unused", REPO) for _ in range(args.repeats)]))]
    if args.before:
        for label, path in (("CSV", csv), ("parquet, genes as index", indexed), ("CSV, one missing cell", holed)):
            old = [measure("read_descriptor_file", path, scratch / "unused", args.before) for _ in range(args.repeats)]
            rows.append((f"before ({args.before}), {label}", best(old)))

    shutil.rmtree(scratch)
    matrix_mb = GENES * FEATURES * 4 / 1e6
    source = f"a table generated like {args.csv}" if csv.parent == scratch else str(csv)
    print(f"{source} ({size / 1e6:.0f} MB); best of {args.repeats}; float32 matrix {matrix_mb:.1f} MB, "
          f"budget 2x = {2 * matrix_mb:.1f} MB; load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'':66s} {'seconds':>8s} {'peak MB':>8s}  shape")
    for label, (seconds, peak, shape) in rows:
        # a refusal by its words, without the scratch file's path
        outcome = (f"refused: {shape[1].split(': ', 1)[-1][:40]}…" if shape[0] == "refused"
                   else f"{shape[0]} x {shape[1]}")
        print(f"{label:66s} {seconds:8.2f} {peak:8.1f}  {outcome}")


if __name__ == "__main__":
    main()
