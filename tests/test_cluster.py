"""Sweep workers and Dask clusters: workers end with their driver, `--scheduler` is checked, and a real cluster
(a `dask scheduler` and two `dask worker` processes) loses a worker mid-sweep without losing a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from gd_apps.sweep import SWEEP_FILE, run_state
from tests.helpers import SMALL, gd, published

BIN = Path(sys.executable).parent
DATA = [f"{kind}.{key}={value}" for kind, values in SMALL.items() for key, value in values.items() if kind != "model"]


def sweep_args(out: Path, *extra: str, models=("random_forest",), acquisitions=("random",), seeds: int = 1,
               cycles: int = 3, params=("model.n_estimators=10",)) -> list[str]:
    """`gd sweep` arguments for a small simulated grid."""
    args = ["sweep", "--out", str(out), "--assay", "simulated", "--descriptor", "simulated", "--seeds", str(seeds),
            "--cycles", str(cycles), "--batch-size", "10"]
    args += [a for m in models for a in ("--model", m)] + [a for q in acquisitions for a in ("--acquisition", q)]
    args += [a for p in (*DATA, *params) for a in ("--param", p)]
    return [*args, *extra]


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> object:
    """Poll ``condition`` until it holds (returning its value) or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {seconds:.0f}s"
        time.sleep(0.05)
    return value


def processes() -> dict[int, tuple[int, str]]:
    """Every process on this machine: pid → (parent pid, state letter), read from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended while we looked
            continue
        state, parent = text[text.rindex(")") + 2:].split()[:2]
        found[int(stat.parent.name)] = (int(parent), state)
    return found


def descendants(root: int) -> set[int]:
    """The pids of every process below ``root``."""
    table, found, frontier = processes(), set(), {root}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended: it only waits to be reaped)."""
    table = processes()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def kill_all(pids: set[int] | list[int]) -> None:
    """SIGKILL each pid still there (our own processes only, by pid)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------------------ workers end with their driver

STALLS = '''
import threading

import numpy as np

from gd_core import hookimpl


class Stalls:
    """A model whose fit never returns: its run keeps a worker busy until something ends that worker."""

    def fit(self, X, y, rng):
        threading.Event().wait()

    def predict(self, X):
        return np.zeros(len(X))


@hookimpl
def gd_register_models(register):
    register("stalls", Stalls)
'''


@pytest.mark.parametrize("executor", ["local", "dask"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_end_with_their_driver_however_it_is_killed(tmp_path, executor, signum):
    plugin = tmp_path / "stalls.py"
    plugin.write_text(STALLS)
    out = tmp_path / "sweep"
    args = sweep_args(out, "--executor", executor, "--jobs", "2", "--plugin", str(plugin), models=("stalls",),
                      seeds=4, params=())
    driver = subprocess.Popen([str(BIN / "gd"), *args], start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        # Both workers are set up and inside a run (their staging directories exist) that would never end.
        wait_for(lambda: len(list((out / "runs").glob(".*.partial-*"))) >= 2, 90, "two runs to start")
        workers = descendants(driver.pid)
        assert len(workers) >= 2
        os.kill(driver.pid, signum)  # the driver only, not its process group
        driver.wait(timeout=30)
        wait_for(lambda: not running(workers), 15, f"the workers {sorted(running(workers))} to end")
    finally:
        kill_all(running(workers))
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_the_workers_of_a_local_dask_cluster_watch_their_driver():
    from distributed import Client

    from gd_core.helpers.parallel import DRIVER_VARIABLE
    from gd_apps.sweep import _local_cluster

    cluster, client = _local_cluster(Client, 1)
    try:
        seen = client.run(lambda: (os.environ.get(DRIVER_VARIABLE), os.getppid(),
                                   [t.name for t in threading.enumerate()]))
    finally:
        client.close()
        cluster.close()
    [(driver, parent, threads)] = seen.values()
    assert driver == str(os.getpid()) == str(parent)
    assert "gd-end-with-driver" in threads


ORPHAN_DRIVER = """
import multiprocessing, os, sys, time
from pathlib import Path

from gd_core.helpers.parallel import end_with_driver


def worker(driver_pid, marker):
    end_with_driver(driver_pid, False)  # no parent-death signal: the watching thread alone
    Path(marker).touch()
    time.sleep(300)


if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=worker, args=(os.getpid(), sys.argv[1]))
    child.start()
    print(child.pid, flush=True)
    time.sleep(300)
"""


def test_an_orphaned_worker_ends_even_without_the_kernel_s_parent_death_signal(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(ORPHAN_DRIVER)
    marker = tmp_path / "guarded"
    driver = subprocess.Popen([sys.executable, str(script), str(marker)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    worker: set[int] = set()
    try:
        worker = {int(driver.stdout.readline())}
        wait_for(marker.exists, 60, "the worker to start watching its driver")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        wait_for(lambda: not running(worker), 10, "the orphaned worker to end")
    finally:
        kill_all(running(worker))
        if driver.poll() is None:
            driver.kill()
            driver.wait()


DIES = '''
import os
import signal

import numpy as np

from gd_core import hookimpl


class Dies:
    """A model whose fit kills its own process, as the kernel's out-of-memory killer would."""

    def fit(self, X, y, rng):
        os.kill(os.getpid(), signal.SIGKILL)

    def predict(self, X):
        return np.zeros(len(X))


@hookimpl
def gd_register_models(register):
    register("dies", Dies)
'''


def test_a_run_whose_worker_is_killed_twice_is_given_up_in_one_line_and_the_others_finish(tmp_path, capsys):
    plugin = tmp_path / "dies.py"
    plugin.write_text(DIES)
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "2", "--plugin", str(plugin),
                                         models=("random_forest", "dies"), params=("random_forest.n_estimators=10",)))
    assert code == 1
    [line] = [line for line in err.splitlines() if line.startswith("failed ")]
    assert "/dies/random b10 s0: its worker process was killed by SIGKILL twice while running it; out of memory? " \
           "run the same command again with fewer --jobs" in line
    done = [d for d in (out / "runs").iterdir() if run_state(d) == "done"]
    # the random forest run is not given up, though the pool stops its worker whenever the other run's worker dies
    assert [json.loads((d / "config.json").read_text())["settings"]["model"] for d in done] == ["random_forest"]


# ------------------------------------------------------------------------------------------- --scheduler

@pytest.mark.parametrize("given, write, message", [
    ("sched.json", None, "--scheduler {s} does not exist; start the scheduler first with `dask scheduler "
                         "--scheduler-file {s}`, or pass its address as tcp://HOST:PORT"),
    ("sched.json", "not json", "--scheduler {s} is not a Dask scheduler file (JSON with an \"address\")"),
    ("sched.json", '{"type": "Scheduler"}', "--scheduler {s} is not a Dask scheduler file"),
    ("sched.json", '["tcp://127.0.0.1:8786"]', "--scheduler {s} is not a Dask scheduler file"),
    ("sched.json", '{"address": "tcp://127.0.0.1"}', "--scheduler {s}: the address in it, 'tcp://127.0.0.1', is "
                                                     "not a Dask scheduler address (missing port number"),
    ("cluster", "directory", "--scheduler {s} is a directory; give the file"),
    ("localhost", None, "--scheduler localhost is not a Dask scheduler address (missing port number"),
    ("127.0.0.1:8786:1", None, "--scheduler 127.0.0.1:8786:1 is not a Dask scheduler address (invalid address"),
    ("http://127.0.0.1:8786", None, "--scheduler http://127.0.0.1:8786 is not a Dask scheduler address (unknown "
                                    "address scheme 'http'"),
    ("tcp://127.0.0.1:0", None, "--scheduler tcp://127.0.0.1:0 is not a Dask scheduler address"),
])
def test_a_wrong_scheduler_is_one_line_naming_it_before_anything_is_written(tmp_path, capsys, given, write,
                                                                           message):
    scheduler = str(tmp_path / given) if given in ("sched.json", "cluster") else given
    if write == "directory":
        Path(scheduler).mkdir()
    elif write is not None:
        Path(scheduler).write_text(write)
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, sweep_args(out, "--executor", "dask", "--scheduler", scheduler))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert message.format(s=scheduler) in " ".join(err.split())
    assert not out.exists()


@pytest.mark.parametrize("in_file", [False, True], ids=["address", "scheduler file"])
def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path, capsys, monkeypatch, in_file):
    import gd_apps.sweep as sweep

    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    scheduler = "tcp://127.0.0.1:1"
    if in_file:  # left behind by a scheduler that has stopped
        (tmp_path / "sched.json").write_text(json.dumps({"type": "Scheduler", "address": scheduler}))
        scheduler = str(tmp_path / "sched.json")
    code, _, err = gd(capsys, sweep_args(tmp_path / "sweep", "--executor", "dask", "--scheduler", scheduler))
    assert code == 1
    [line] = err.strip().splitlines()  # refused before the grid is shown: the error is the only line
    assert line.startswith("error: ")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in line and "--scheduler" in line
    assert (f"read from --scheduler {scheduler}" in line) == in_file
    assert not (tmp_path / "sweep").exists()


# -------------------------------------------------------------------------------------------- a real cluster

CLUSTER_GRID = {"acquisitions": ("random", "topuncertain"), "seeds": 3, "cycles": 6,
                "params": ("model.n_estimators=50",)}  # six runs of a fraction of a second each


class Cluster:
    """A real Dask cluster on 127.0.0.1 as its user starts one (`dask scheduler --scheduler-file`, then
    `dask worker` processes), and the sweeps run on it: every process logs to a file and is stopped by pid."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.scheduler_file = directory / "sched.json"
        self.processes: dict[str, subprocess.Popen] = {}
        (directory / "logs").mkdir()

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        """Start a process in its own session, its output in logs/NAME.log."""
        with open(self.directory / "logs" / f"{name}.log", "w") as log:
            self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                                    start_new_session=True)
        return self.processes[name]

    def log(self, name: str) -> str:
        """What a process has printed so far."""
        return (self.directory / "logs" / f"{name}.log").read_text()

    def dask(self, name: str, *argv: str) -> subprocess.Popen:
        """Start `dask scheduler` or `dask worker` on this cluster's scheduler file."""
        return self.start(name, str(BIN / "dask"), *argv, "--scheduler-file", str(self.scheduler_file), "--host",
                          "127.0.0.1", "--no-dashboard")

    def start_scheduler(self) -> None:
        """Start the scheduler and wait for its file."""
        self.dask("scheduler", "scheduler", "--port", "0")
        wait_for(lambda: self.scheduler_file.exists() and "address" in self.scheduler_file.read_text(), 60,
                 "the scheduler file")

    def sweep(self, out: Path, **grid) -> subprocess.Popen:
        """Start `gd sweep --executor dask --scheduler FILE`."""
        return self.start("sweep", str(BIN / "gd"), *sweep_args(
            out, "--executor", "dask", "--scheduler", str(self.scheduler_file), *grid.pop("extra", ()), **grid))

    def stop(self) -> None:
        """Kill every process started, and those they started, by pid (a stalled worker would not stop politely)."""
        pids = {pid for process in self.processes.values() for pid in descendants(process.pid)}
        kill_all([process.pid for process in self.processes.values()])
        kill_all(running(pids))
        for process in self.processes.values():
            process.wait(timeout=10)


def result_files(out: Path) -> dict[str, tuple[bytes, bytes]]:
    """Each finished run's metrics and selections, by key."""
    return {d.name: ((d / "metrics.csv").read_bytes(), (d / "selections.csv").read_bytes())
            for d in sorted((out / "runs").iterdir()) if run_state(d) == "done"}


def staging_pid(staging: Path) -> int:
    """The pid in a run's staging directory name, ``.KEY.partial-PID-XXXX``: the process running it."""
    return int(staging.name.rpartition(".partial-")[2].split("-")[0])


def test_a_real_dask_cluster_loses_a_worker_mid_sweep_and_still_gives_the_local_results(tmp_path, capsys):
    cluster, out = Cluster(tmp_path), tmp_path / "cluster"
    try:
        cluster.start_scheduler()
        sweep = cluster.sweep(out, **CLUSTER_GRID)  # before any worker: it must say that it waits
        wait_for(lambda: "has no workers" in cluster.log("sweep"), 60, "the sweep to say that it waits for workers")
        workers = [cluster.dask(f"worker{i}", "worker", "--nthreads", "1", "--name", f"w{i}") for i in range(2)]

        def busy_worker() -> tuple[subprocess.Popen, set[int], Path] | None:
            """After the first run is published: a worker (nanny and process) running a run, and its staging."""
            if not published(out):
                return None
            for worker in workers:
                pids = {worker.pid} | descendants(worker.pid)
                for staging in out.glob("runs/.*.partial-*"):
                    if staging_pid(staging) in pids:
                        return worker, pids, staging
            return None

        victim, victim_pids, staging = wait_for(busy_worker, 90, "a worker running a run after the first one")
        kill_all([victim.pid, *victim_pids])  # the nanny first, so that it cannot restart its worker
        victim.wait(timeout=10)
        sweep.wait(timeout=120)
        assert sweep.returncode == 0, cluster.log("sweep")
        assert "6 of 6 runs finished" in cluster.log("sweep")
        [survivor] = [w for w in workers if w is not victim]
        assert survivor.poll() is None  # a cluster's workers are the cluster's: they outlive the sweep
    finally:
        cluster.stop()

    expected = set(json.loads((out / SWEEP_FILE).read_text())["runs"])
    assert len(expected) == 6
    entries = {d.name for d in (out / "runs").iterdir()}
    assert {name for name in entries if not name.startswith(".")} == expected
    assert entries - expected <= {staging.name}  # the killed worker's staging, which the next sweep clears
    lost_key = staging.name[1:].rpartition(".partial-")[0]
    assert run_state(out / "runs" / lost_key) == "done"  # its run was done again on the other worker

    assert gd(capsys, sweep_args(tmp_path / "local", "--executor", "local", "--jobs", "1", **CLUSTER_GRID))[0] == 0
    assert result_files(out) == result_files(tmp_path / "local")


def test_a_sweep_that_loses_its_scheduler_says_so_in_one_line(tmp_path):
    cluster, out = Cluster(tmp_path), tmp_path / "cluster"
    (tmp_path / "stalls.py").write_text(STALLS)
    try:
        cluster.start_scheduler()
        cluster.dask("worker", "worker", "--nthreads", "1")
        sweep = cluster.sweep(out, models=("stalls",), seeds=2, params=(),
                              extra=("--plugin", str(tmp_path / "stalls.py")))
        wait_for(lambda: list(out.glob("runs/.*.partial-*")), 90, "a run to start")
        kill_all([cluster.processes["scheduler"].pid])
        sweep.wait(timeout=60)
        log = cluster.log("sweep")
    finally:
        cluster.stop()
    assert sweep.returncode == 1
    assert log.strip().splitlines()[-1] == (
        f"error: lost contact with the Dask scheduler of --scheduler {cluster.scheduler_file} after 0 of the 2 runs "
        "had finished (they are kept); start the scheduler again, then run the same command to resume")
    assert "Traceback" not in log and "unexpected" not in log


def test_a_system_that_refuses_worker_processes_is_one_line_naming_jobs(tmp_path, capsys, monkeypatch):
    import errno
    from multiprocessing.context import SpawnProcess

    def refuse(self):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(SpawnProcess, "start", refuse)  # as fork() fails when the process limit is reached
    code, _, err = gd(capsys, sweep_args(tmp_path / "sweep", "--jobs", "2", seeds=2))
    assert code == 1
    assert err.strip().splitlines()[-1] == ("error: --jobs 2: the system refused a worker process (Resource "
                                            "temporarily unavailable); use fewer --jobs, or --jobs 1 to run in this "
                                            "process")


def test_a_port_where_no_dask_scheduler_answers_is_one_line_not_a_hang(tmp_path, capsys, monkeypatch):
    import socket

    import gd_apps.sweep as sweep

    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts connections, never speaks: another service
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        code, _, err = gd(capsys, sweep_args(tmp_path / "sweep", "--executor", "dask", "--scheduler", address))
    assert code == 1 and time.monotonic() - started < 30
    assert err.strip().splitlines()[-1] == (f"error: the server at {address} does not answer as a Dask scheduler; "
                                            "check --scheduler (the port of another service?), or drop --scheduler "
                                            "to use a local cluster")


def test_a_run_that_kills_its_dask_workers_is_given_up_in_one_line(tmp_path, capsys):
    import dask

    plugin = tmp_path / "dies.py"
    plugin.write_text(DIES)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first death gives the run up
        code, _, err = gd(capsys, sweep_args(tmp_path / "sweep", "--executor", "dask", "--jobs", "1", "--plugin",
                                             str(plugin), models=("dies",), params=()))
    assert code == 1
    [line] = [line for line in err.splitlines() if line.startswith("failed ")]
    assert "distributed" not in err  # Dask's own log of it stays out of the way
    assert "/dies/random b10 s0: the Dask workers running it died, one after another (killed, or out of memory?); " \
           "see the workers' logs, then run the same command again to retry it" in line
