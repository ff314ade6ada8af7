"""`process_alive`: which pids count as running, for lock files, sweep workers and a worker's driver."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gd_core.helpers import parallel
from gd_core.helpers.parallel import process_alive


def test_a_running_process_is_alive_and_an_ended_one_is_not():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid is free

    assert process_alive(os.getpid())
    assert not process_alive(child.pid)


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Ended but not reaped: the pid still answers a signal, and /proc says Z.
        deadline = time.monotonic() + 30
        while _state(child.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(child.pid) == "Z"
        assert not process_alive(child.pid)
    finally:
        child.wait()


def _state(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize(("ours", "alive"), [(False, True), (True, False)])
def test_another_users_process_is_alive_unless_the_pid_was_ours(monkeypatch, ours, alive):
    def refused(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(parallel.os, "kill", refused)

    assert process_alive(12345, ours=ours) is alive
