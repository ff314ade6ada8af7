"""How many cores this process may use, and limiting the thread pools of a sweep's worker to that."""

from __future__ import annotations

import os
import sys

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
