"""What verifying a processed table on every read costs: its sha256 against reading and parsing it.

    python benchmarks/cache_verification.py [DIMS]

Builds the Gene Ontology descriptor at ``dims=DIMS`` (default 256, the largest processed table made offline)
and a simulated 20,000 × 1,400 float32 table (~165 MB, the size of the reference's STRING descriptor as a
CSV), caches each through ``gd_core.helpers.downloads.cached_table`` in a scratch GD_DATA_DIR, and prints the best of
5 timings of: reading the bytes, hashing them, parsing them, an unchecked ``pd.read_parquet`` (what a read
cost before the check) and a checked read through the cache (what every run now does).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd


def best_of(call: Callable[[], object], repeats: int = 5) -> float:
    """The shortest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(label: str, key: str, table: pd.DataFrame) -> None:
    """Cache ``table`` under ``key`` once, then time unchecked and checked reads of it."""
    from gd_core.helpers import downloads

    downloads.cached_table(key, [], 1, lambda: table)
    (path,) = (Path(os.environ["GD_DATA_DIR"]) / "processed").glob(f"{key}.*.parquet")
    data = path.read_bytes()
    timings = {
        "read bytes": best_of(path.read_bytes),
        "sha256": best_of(lambda: hashlib.sha256(data).hexdigest()),
        "parse": best_of(lambda: pd.read_parquet(io.BytesIO(data))),
        "unchecked read": best_of(lambda: pd.read_parquet(path)),
        "checked read": best_of(lambda: downloads.cached_table(key, [], 1, lambda: sys.exit("cache was rebuilt"))),
    }
    shown = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in timings.items())
    print(f"{label} ({table.shape[0]:,} × {table.shape[1]:,}, {len(data) / 1e6:.1f} MB): {shown}", flush=True)


def main() -> None:
    """Measure both tables in a scratch cache."""
    dims = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    os.environ["GD_DATA_DIR"] = tempfile.mkdtemp(prefix="gd-cache-bench-")
    from gd_plugins_builtin.genedisco import _svd_gene_ontology

    measure(f"gene_ontology dims={dims}", f"bench_go_d{dims}", _svd_gene_ontology(dims, False))
    rng = np.random.default_rng(0)
    simulated = pd.DataFrame(rng.standard_normal((20_000, 1_400), dtype=np.float32),
                             index=pd.Index([f"SIM{i:07d}" for i in range(20_000)], name="gene"),
                             columns=[f"f{j}" for j in range(1_400)])
    measure("simulated", "bench_simulated", simulated)


if __name__ == "__main__":
    main()
