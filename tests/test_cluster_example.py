"""The SLURM/PBS example renders job scripts that start gd-ready Dask workers (no batch system needed)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gd_apps.sweep import SweepSpec, expand, read_spec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster"


@pytest.mark.parametrize("system, directive", [("slurm", "#SBATCH"), ("pbs", "#PBS")])
def test_the_example_renders_a_job_script_for_dask_workers(system, directive, tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "run_on_cluster.py"), "--system", system, "--cores", "4", "--memory", "8GB",
         "--walltime", "02:00:00", "--queue", "short", "--venv", str(tmp_path / "venv"), "--print-job-script"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert directive in script and "short" in script and "02:00:00" in script
    assert f"source {tmp_path / 'venv'}/bin/activate" in script and "export GD_THREADS=1" in script
    assert "distributed.cli.dask_worker tcp://" in script
    assert "--nworkers 4" in script and "--nthreads 1" in script  # one single-threaded worker per core


def test_the_paper_grid_specs_expand_to_the_runs_the_paper_made(builtin_host):
    bnn = expand(SweepSpec().updated(read_spec(EXAMPLE / "paper_grid.toml")), builtin_host.registries)
    forest = expand(SweepSpec().updated(read_spec(EXAMPLE / "paper_grid_forest.toml")), builtin_host.registries)
    assert len(tomllib.loads((EXAMPLE / "paper_grid.toml").read_text())["acquisitions"]) == 9  # the paper's
    # bnn: 4 assays × 3 descriptors × 9 × 6 × 5; the forest (Appendix C.2): STRING and CCLE, five acquisitions
    assert (len(bnn.runs), len(forest.runs)) == (3240, 1200) and not bnn.skipped and not forest.skipped
    assert {c.descriptor for c in forest.runs} == {"string", "ccle"} and {c.model for c in forest.runs} == {
        "random_forest"}
    for grid in (bnn, forest):
        assert {(c.batch_size, c.cycles) for c in grid.runs} == {(16, 40), (32, 40), (64, 40), (128, 20),
                                                                 (256, 10), (512, 5)}
        assert {c.seed for c in grid.runs} == set(range(5))
