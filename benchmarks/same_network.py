"""The `bnn` against the reference's on compare.sh's workload, with gd's default network and with the reference's.

    python benchmarks/same_network.py [--descriptor /tmp/peer_descriptor.csv] [--repeats 3]

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
    variants = {"gd bnn (default: CV over 128, 256)": [],
                "gd bnn, hidden_sizes=16": ["--param", "model.hidden_sizes=16"]}
    # Warm gd's cache of the user table first, as compare.sh's later calls find it.
    timed([*GD, *workload(options.descriptor, "bnn", scratch / "warm")], cwd=scratch)
    print("| round | load | reference s | " + " | ".join(f"{v} s (speed-up)" for v in variants) + " |")
    print("|---:|---:|---:|" + "---:|" * len(variants))
    for round_ in range(1, options.repeats + 1):
        load = os.getloadavg()[0]
        reference = timed(["bash", str(PEER), "bayesian_mlp", "random", "64", "8", "0"],
                          env={**os.environ, "PEER_OUT": str(scratch / "peer")})
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
