"""The `bnn` against the reference's on compare.sh's workload, with gd's default network and with the reference's.

    python benchmarks/same_network.py [--descriptor /tmp/peer_descriptor.csv | gene_ontology] [--repeats 3]

The reference (genedisco 1.0.5, `bash ../shared/peer/run_peer.sh bayesian_mlp random 64 8 0`) trains one
network per cycle, 16 hidden units wide, for 100 epochs. gd's `bnn` by default chooses the width at every
cycle by 3-fold cross-validation over 128 and 256 units and then trains the winner on every gene: seven
networks of up to 256 units per cycle, as the paper's protocol asks. So compare.sh's ratio is between two
different amounts of arithmetic. This script times, in turn and `--repeats` times, the reference, gd's
default `bnn`, and gd's `bnn` with `--param model.hidden_sizes=16` (one width: no cross-validation, one
network of the reference's width per cycle, early-stopped on a 20% split), each as a fresh process on
compare.sh's workload (Schmidt IL-2, the reference's 18,899 × 799 descriptor as a CSV file, random
acquisition, batch 64, 8 cycles, seed 0; gd's data cache warm, as in compare.sh's repeated calls). It prints
each call's wall time, the speed-ups against the reference's call of the same round, gd's loop and fit
seconds (from its run.log; the rest is starting the process, importing, reading the cached table and
writing results), and the 1-minute load average before each round.

``--descriptor`` may also name a registered descriptor (e.g. gd's bundled ``gene_ontology``): the reference,
which loads only its own descriptors, then reads it from a copy of its offline cache whose STRING embedding
file holds that descriptor instead (written as the reference's setup writes its stand-in, with slingpy's
HDF5Tools, in the reference's venv); both sides join it with the screen on gene symbol as usual.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from run_profile import launcher, log_times, workload  # compare.sh's gd command, and reading its run.log

PEER = Path(__file__).resolve().parents[2] / "shared" / "peer" / "run_peer.sh"
GD = launcher(None)  # the installed gd, as a fresh process
PEER_VENV = Path(os.environ.get("PEER_VENV", Path(tempfile.gettempdir()) / "peer-venv"))
PEER_CACHE = Path(os.environ.get("PEER_CACHE", Path(tempfile.gettempdir()) / "peer-cache"))
# Run in the reference's venv: its STRING file as its own loader expects it (slingpy's HDF5 layout).
_WRITE_STRING_H5 = """
import sys, numpy as np
from slingpy.data_access.data_sources.hdf5_tools import HDF5Tools
table = np.load(sys.argv[1], allow_pickle=False)
X, genes = table["X"], [str(g) for g in table["genes"]]
HDF5Tools.save_h5_file(sys.argv[2], X, "string_embedding", column_names=[f"feature_{i}" for i in range(X.shape[1])],
                       row_names=genes)
"""


def reference_cache(descriptor: str, scratch: Path) -> Path:
    """A copy of the reference's offline cache whose STRING embedding is gd's registered ``descriptor``."""
    import numpy as np

    from gd_core.loader import process_host

    if not (PEER_CACHE / "hgnc_mapping.tsv").is_file():
        subprocess.run(["bash", str(PEER.parent / "setup.sh")], check=True, stdout=subprocess.DEVNULL)
    table = process_host().registries.descriptors.create(descriptor)
    cache = scratch / "peer-cache"
    cache.mkdir()
    for kept in PEER_CACHE.iterdir():  # the HGNC table and the screens, as the reference's setup made them
        if kept.name != "string_embedding.h5":
            (cache / kept.name).symlink_to(kept)
    np.savez(scratch / "descriptor.npz", X=table.to_numpy(dtype=np.float32), genes=table.index.to_numpy(dtype=str))
    subprocess.run([str(PEER_VENV / "bin" / "python"), "-c", _WRITE_STRING_H5, str(scratch / "descriptor.npz"),
                    str(cache / "string_embedding.h5")], check=True)
    print(f"reference cache with '{descriptor}' ({table.shape[0]:,} genes × {table.shape[1]} features) as its "
          f"STRING embedding: {cache}")
    return cache


def timed(command: list[str], **kwargs) -> float:
    """Wall seconds of one command, which must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptor", default="/tmp/peer_descriptor.csv")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    if not PEER.exists():
        raise SystemExit(f"no reference runner at {PEER}: this needs ../shared/peer beside the checkout")
    scratch = Path(tempfile.mkdtemp(prefix="gd-same-network-"))
    peer_env = {**os.environ, "PEER_OUT": str(scratch / "peer")}
    if not Path(options.descriptor).is_file():  # a registered name: the reference reads it in its STRING slot
        peer_env["PEER_CACHE"] = str(reference_cache(options.descriptor, scratch))
    variants = {"gd bnn (default: CV over 128, 256)": [],
                "gd bnn, hidden_sizes=16": ["--param", "model.hidden_sizes=16"]}
    # Warm gd's cache of the user table first, as compare.sh's later calls find it.
    timed([*GD, *workload(options.descriptor, "bnn", scratch / "warm")], cwd=scratch)
    print("| round | load | reference s | " + " | ".join(f"{v} s (speed-up)" for v in variants) + " |")
    print("|---:|---:|---:|" + "---:|" * len(variants))
    for round_ in range(1, options.repeats + 1):
        load = os.getloadavg()[0]
        reference = timed(["bash", str(PEER), "bayesian_mlp", "random", "64", "8", "0"],
                          env=peer_env)
        cells = []
        for i, extra in enumerate(variants.values()):
            run = scratch / f"r{round_}-{i}"
            seconds = timed([*GD, *workload(options.descriptor, "bnn", run), *extra], cwd=scratch)
            parts = log_times(run)
            cells.append(f"{seconds:.2f} ({reference / seconds:.1f}×; loop {parts['loop']:.2f}, "
                         f"fits {parts['fits']:.2f})")
        print(f"| {round_} | {load:.2f} | {reference:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
