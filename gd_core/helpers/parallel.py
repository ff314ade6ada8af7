"""Cores, threads and processes: how many cores a process may use, mapping work over threads, ending a sweep's
workers with the driver that started them, and whether a process still runs."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Set by a sweep in each worker, so that N workers on one machine share its cores instead of each taking all.
THREADS_VARIABLE = "GD_THREADS"
_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def usable_cores() -> int:
    """Cores this process should use: ``GD_THREADS`` when a sweep set it, else the CPU affinity mask."""
    given = os.environ.get(THREADS_VARIABLE, "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_in_threads(function: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """``function`` over ``items`` on up to ``threads`` threads, results in the items' order.

    For work that releases the GIL (numba, torch, numpy kernels). Each item is computed whole by one thread, so
    results do not depend on ``threads``; one thread, or one item, runs in the caller's thread.
    """
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(function, items))


def limit_threads(n: int) -> None:
    """Hold this process's BLAS, OpenMP and torch thread pools (loaded now or later) to ``n`` threads."""
    os.environ[THREADS_VARIABLE] = str(n)
    for name in _POOL_VARIABLES:  # read by libraries loaded after this point
        os.environ[name] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)  # pools already loaded (numpy's BLAS, scikit-learn's OpenMP)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)


# Set by a sweep for the worker processes of a Dask LocalCluster it starts: the pid of that sweep (the driver).
DRIVER_VARIABLE = "GD_DRIVER_PID"
WATCH_SECONDS = 0.5  # how often an orphaned worker notices that its driver is gone
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_watching = threading.Event()


def end_with_driver(driver_pid: int, death_signal: bool = False) -> None:
    """End this worker process as soon as ``driver_pid`` (the sweep that started it) is gone, however it died.

    A worker left behind would run on for hours under PID 1, holding its memory. With ``death_signal`` (only
    right when the driver started this process from its main thread: Linux sends the signal when the *thread*
    that started a process ends) the kernel kills this process with its parent. On any system, a daemon
    thread also exits the process once its parent changes, or, for a process the driver did not start itself
    (a forkserver's child), once the driver's pid is gone.
    """
    if _watching.is_set():
        return
    _watching.set()
    if death_signal and sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGKILL)
    direct_child = os.getppid() == driver_pid
    if not direct_child and not process_alive(driver_pid, ours=True):
        os._exit(1)  # the driver died before this process could watch it
    threading.Thread(target=_exit_when_driver_gone, args=(driver_pid, direct_child), daemon=True,
                     name="gd-end-with-driver").start()


def dask_setup(worker: Any) -> None:
    """Dask preload hook: a LocalCluster worker started by ``gd sweep`` ends with it (see ``end_with_driver``)."""
    driver = os.environ.get(DRIVER_VARIABLE, "")
    if driver.isdigit():
        end_with_driver(int(driver))


def _set_parent_death_signal(signum: int) -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the watching thread still ends the process
        pass


def _exit_when_driver_gone(driver_pid: int, direct_child: bool) -> None:
    def driver_there() -> bool:
        # A direct child is handed to another parent the moment the driver dies; the pid test is the fallback.
        return os.getppid() == driver_pid if direct_child else process_alive(driver_pid, ours=True)

    while driver_there():
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def process_alive(pid: int, *, ours: bool = False) -> bool:
    """Whether process ``pid`` still runs (a zombie, killed but not yet reaped, does not). ``ours``: it was
    this user's, so a pid now held by another user's process means it is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, unless the one we look for was our own
        return not ours
    try:
        # /proc/PID/stat: "pid (name) state ..."; the name may hold spaces, so read after the last ")".
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust the signal check
    return state not in ("Z", "X")
