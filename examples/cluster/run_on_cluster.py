"""Run `gd sweep` on a SLURM or PBS cluster: batch jobs become Dask workers that pull runs from one scheduler.

Start it on a login node (in tmux/screen: it must live as long as the sweep), from the venv where gd
(distribution gdisco) is installed with its cluster extra (`pip install -e '.[cluster]'` in this repository),
with --out on a file system the compute nodes share:

    python examples/cluster/run_on_cluster.py --system slurm --jobs 50 --queue cpu --walltime 08:00:00 \\
        -- examples/cluster/paper_grid.toml --out /shared/$USER/gd-paper

(and then the same with examples/cluster/paper_grid_forest.toml, the forest's part of the paper's grid).

Every batch job runs one single-threaded Dask worker per core; each worker loads each dataset once and then runs configuration
after configuration. Stop it at any time (Ctrl-C, or a job that hits its walltime): the same command resumes,
skipping finished runs. Check what the jobs will look like with --print-job-script.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def make_cluster(system: str, *, cores: int, memory: str, walltime: str, queue: str | None,
                 account: str | None, venv: Path) -> object:
    """A dask-jobqueue cluster: each job runs ``cores`` single-threaded Dask worker processes inside ``venv``."""
    import dask_jobqueue

    cluster_class = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[system]
    return cluster_class(
        # One process per core, one run per process, each held to one thread by GD_THREADS: runs in
        # parallel beat threads within a run for models this size.
        cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue, account=account,
        job_script_prologue=[f"source {venv}/bin/activate", "export GD_THREADS=1"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=["slurm", "pbs"], required=True)
    parser.add_argument("--jobs", type=int, default=10, help="most batch jobs (workers) at once")
    parser.add_argument("--cores", type=int, default=1, help="cores per job")
    parser.add_argument("--memory", default=None, help="memory per job (default: 2GB per core)")
    parser.add_argument("--walltime", default="04:00:00")
    parser.add_argument("--queue", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix), help="venv the jobs activate")
    parser.add_argument("--print-job-script", action="store_true", help="show one job's script and stop")
    parser.add_argument("sweep", nargs=argparse.REMAINDER, help="after --: the `gd sweep` arguments")
    options = parser.parse_args()

    memory = options.memory or f"{2 * options.cores}GB"
    cluster = make_cluster(options.system, cores=options.cores, memory=memory, walltime=options.walltime,
                           queue=options.queue, account=options.account, venv=options.venv)
    try:
        if options.print_job_script:
            print(cluster.job_script())
            return
        # Jobs are asked for while runs wait and given back when idle; a job that ends is replaced.
        cluster.adapt(minimum_jobs=0, maximum_jobs=options.jobs)
        arguments = [a for a in options.sweep if a != "--"]
        gd = shutil.which("gd") or str(Path(sys.executable).parent / "gd")
        command = [gd, "sweep", *arguments, "--executor", "dask", "--scheduler", cluster.scheduler_address]
        sys.exit(subprocess.run(command).returncode)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
