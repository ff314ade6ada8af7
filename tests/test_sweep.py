"""`gd sweep`: grid expansion, the hash-keyed store, resuming, failures, and the local and Dask executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gd_core.errors import GdError
from gd_core.loop import RunConfig
from gd_apps.sweep import (SWEEP_FILE, DaskExecutor, LocalExecutor, SerialExecutor, SweepSpec, SweepStore, _WORKER,
                           expand, paper_cycles, read_spec, run_key, run_state, run_sweep)
from tests.helpers import SMALL, gd, published

SMALL_PARAMS = [f"{kind}.{key}={value}" for kind, values in SMALL.items() for key, value in values.items()]


def sweep_args(out: Path, *extra: str, acquisitions=("random", "topuncertain"), seeds: int = 2,
               batch_sizes=(10,), cycles: int = 3) -> list[str]:
    """`gd sweep` arguments for a small simulated grid on random forests."""
    args = ["sweep", "--out", str(out), "--assay", "simulated", "--descriptor", "simulated", "--model",
            "random_forest", "--seeds", str(seeds), "--cycles", str(cycles)]
    args += [a for q in acquisitions for a in ("--acquisition", q)]
    args += [a for b in batch_sizes for a in ("--batch-size", str(b))]
    args += [a for p in SMALL_PARAMS for a in ("--param", p)]
    return [*args, *extra]


def small_spec(**changes) -> SweepSpec:
    params = {kind: dict(values) for kind, values in SMALL.items()}
    spec = SweepSpec(assays=("simulated",), descriptors=("simulated",), models=("random_forest",),
                     acquisitions=("random", "topuncertain"), batch_sizes=(10,), seeds=2, cycles=3, params=params)
    return spec.updated(changes)


def result_files(out: Path) -> dict[str, tuple[bytes, bytes]]:
    """Each finished run's metrics and selections, by key."""
    return {d.name: ((d / "metrics.csv").read_bytes(), (d / "selections.csv").read_bytes())
            for d in sorted((out / "runs").iterdir()) if run_state(d) == "done"}


# ---------------------------------------------------------------------------------------------- the grid

def test_the_paper_cycle_rule_keeps_40_cycles_up_to_64_then_40_times_64_genes():
    assert [paper_cycles(b) for b in (16, 32, 64, 128, 256, 512)] == [40, 40, 40, 20, 10, 5]
    assert {b * paper_cycles(b) for b in (64, 128, 256, 512)} == {40 * 64}


def test_the_grid_is_the_product_of_its_axes_and_follows_the_paper_rule(builtin_host):
    grid = expand(small_spec(batch_sizes=(16, 128), cycles=None, seeds=3), builtin_host.registries)
    assert len(grid.runs) == 2 * 2 * 3
    assert {(c.batch_size, c.cycles) for c in grid.runs} == {(16, 40), (128, 20)}
    assert {c.seed for c in grid.runs} == {0, 1, 2}
    assert len({run_key(c) for c in grid.runs}) == len(grid.runs)


def test_incompatible_pairs_are_skipped_with_their_reason(builtin_host):
    grid = expand(small_spec(acquisitions=("random", "badge", "kmeans_embedding")), builtin_host.registries)
    assert {c.acquisition for c in grid.runs} == {"random"}
    reasons = {s.acquisition: s.reason for s in grid.skipped}
    assert set(reasons) == {"badge", "kmeans_embedding"}
    assert "gradient_embedding" in reasons["badge"] and "random_forest" in reasons["badge"]


def test_all_stands_for_every_registered_acquisition(builtin_host):
    grid = expand(small_spec(acquisitions=("all",), seeds=1), builtin_host.registries)
    ran = {c.acquisition for c in grid.runs} | {s.acquisition for s in grid.skipped}
    assert ran == set(builtin_host.registries.acquisitions.names())
    assert len(ran) == 15  # the paper's nine, the descriptor_norm baseline and the five hit-hunting ones


def test_an_unknown_name_is_an_error_not_a_skip(builtin_host):
    with pytest.raises(GdError, match="unknown acquisition 'topuncertian'.*topuncertain"):
        expand(small_spec(acquisitions=("random", "topuncertian")), builtin_host.registries)


def test_a_kind_parameter_one_component_refuses_points_to_the_name_form(builtin_host):
    spec = small_spec(acquisitions=("random", "softuncertain"))
    spec = spec.updated({"params": {**spec.params, "acquisition": {"temperature": 0.5}}})
    with pytest.raises(GdError, match=r"acquisition 'random' has no parameter 'temperature'.*--param NAME\.KEY=VALUE"):
        expand(spec, builtin_host.registries)
    named = spec.updated({"params": {**small_spec().params, "softuncertain": {"temperature": 0.5}}})
    grid = expand(named, builtin_host.registries)
    params = {c.acquisition: c.params.get("acquisition") for c in grid.runs}
    assert params == {"random": None, "softuncertain": {"temperature": 0.5}}


def test_a_parameter_for_a_component_outside_the_sweep_is_refused(builtin_host):
    spec = small_spec().updated({"params": {"coreset": {"x": 1}}})
    with pytest.raises(GdError, match="'coreset' is neither a kind"):
        expand(spec, builtin_host.registries)


def test_the_run_key_is_a_hash_of_the_settings():
    config = RunConfig("simulated", "simulated", "random_forest", "random", 10, 3)
    assert run_key(config) == run_key(RunConfig("simulated", "simulated", "random_forest", "random", 10, 3))
    assert run_key(config) != run_key(RunConfig("simulated", "simulated", "random_forest", "random", 10, 3, seed=1))
    assert len(run_key(config)) == 16


def test_a_spec_file_gives_the_axes_and_options_override_it(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text('assays = "simulated"\ndescriptors = ["simulated"]\nmodels = ["random_forest"]\n'
                    'acquisitions = ["random", "topuncertain", "marginsample"]\nbatch_sizes = [10, 20]\n'
                    'seeds = 2\ncycles = 3\n[params.descriptor]\nn_genes = 600\nn_features = 8\n'
                    '[params.assay]\nn_genes = 600\n[params.model]\nn_estimators = 10\n')
    values = read_spec(spec)
    assert values["assays"] == ["simulated"] and values["batch_sizes"] == [10, 20]
    code, out, err = gd(capsys, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--seeds", "1", "--dry-run"])
    assert code == 0, err
    assert "grid: 6 runs" in " ".join(err.split())  # 3 acquisitions × 2 batch sizes × 1 seed (option wins)
    assert not (tmp_path / "s").exists()  # a dry run writes nothing


def test_every_run_of_a_sweep_shares_split_seed_0_unless_told_to_follow_the_seed(builtin_host, tmp_path):
    assert {c.split_seed for c in expand(small_spec(), builtin_host.registries).runs} == {0}
    spec = tmp_path / "grid.toml"
    spec.write_text('split_seed = "seed"\n')
    follow = expand(small_spec(**read_spec(spec)), builtin_host.registries).runs
    assert {(c.seed, c.resolved_split_seed) for c in follow} == {(0, 0), (1, 1)}
    assert {run_key(c) for c in follow}.isdisjoint({run_key(c) for c in expand(small_spec(),
                                                                               builtin_host.registries).runs})
    with pytest.raises(GdError, match="split-seed must be a whole number ≥ 0 or 'seed'"):
        expand(small_spec(split_seed=-3), builtin_host.registries)


@pytest.mark.parametrize("text, message", [
    ("assay = ['x']\n", "unknown key 'assay'; did you mean 'assays'\\? the known keys are protocol, assays"),
    ("batch_sizes = ['64']\n", "'batch_sizes' must be a non-empty list of whole numbers"),
    ("seeds = \n", "not valid TOML"),
    ("params = 3\n", "'params' must be tables"),
    ("split_seed = -1\n", "'split_seed' must be a whole number ≥ 0 or \"seed\""),
    ("split_seed = 'run'\n", "'split_seed' must be .* got \"run\""),
    ("split_seed = true\n", "'split_seed' must be .* got true"),
])
def test_a_bad_spec_file_is_refused_by_key(tmp_path, builtin_host, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    with pytest.raises(GdError, match=message):  # the file's shape when read, its values when expanded
        expand(small_spec().updated(read_spec(spec)), builtin_host.registries)


# ---------------------------------------------------------------------------------------------- the store

def test_a_sweep_writes_one_complete_directory_per_run_and_resumes_without_rerunning(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1"))
    assert code == 0, err
    document = json.loads((out / SWEEP_FILE).read_text())
    assert set(document["runs"]) == {d.name for d in (out / "runs").iterdir()}
    assert len(document["runs"]) == 4
    for key, recorded in document["runs"].items():
        manifest = json.loads((out / "runs" / key / "config.json").read_text())
        assert manifest["settings"] == recorded
        assert run_key(RunConfig(**{**recorded, "metrics": tuple(recorded["metrics"])})) == key
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/config.json")}

    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1"))
    assert code == 0 and "4 finished already, 0 to run" in " ".join(err.split())
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/config.json")} == stamps

    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", "--force"))
    assert code == 0 and "0 finished already, 4 to run" in " ".join(err.split())
    assert all(p.stat().st_mtime_ns != stamp for p, stamp in stamps.items())


def test_a_larger_grid_in_the_same_directory_adds_only_the_new_runs(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert gd(capsys, sweep_args(out, "--jobs", "1", seeds=1))[0] == 0
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", seeds=2))
    assert code == 0 and "4 runs: 2 finished already, 2 to run" in " ".join(err.split())
    assert len(json.loads((out / SWEEP_FILE).read_text())["runs"]) == 4


FLAKY = '''
import os
from gd_core import hookimpl


class Flaky:
    """Random picks, but raises in its second cycle while GD_TEST_FLAKY is set."""

    requires = ()

    def select(self, pool, model, batch_size, rng):
        if os.environ.get("GD_TEST_FLAKY") and pool.cycle == 1:
            raise RuntimeError("flaky acquisition broke on purpose")
        return rng.choice(pool.available, batch_size, replace=False)


@hookimpl
def gd_register_acquisitions(register):
    register("flaky", Flaky)
'''


def test_a_run_that_raises_is_recorded_with_its_traceback_and_retried_next_time(tmp_path, capsys, monkeypatch):
    plugin = tmp_path / "flaky.py"
    plugin.write_text(FLAKY)
    out = tmp_path / "sweep"
    args = sweep_args(out, "--jobs", "2", "--plugin", str(plugin), acquisitions=("random", "flaky"))
    monkeypatch.setenv("GD_TEST_FLAKY", "1")
    code, _, err = gd(capsys, args)
    assert code == 1
    assert "2 of 4 runs failed" in " ".join(err.split())
    states = {d.name: run_state(d) for d in (out / "runs").iterdir()}
    assert sorted(states.values()) == ["done", "done", "failed", "failed"]
    failed = [d for d in (out / "runs").iterdir() if states[d.name] == "failed"]
    failure = json.loads((failed[0] / "failure.json").read_text())
    assert failure["settings"]["acquisition"] == "flaky"
    assert "flaky acquisition broke on purpose" in failure["error"]
    assert 'raise RuntimeError("flaky acquisition broke on purpose")' in failure["traceback"]
    assert "flaky acquisition broke on purpose" in (failed[0] / "run.log").read_text()

    monkeypatch.delenv("GD_TEST_FLAKY")
    code, _, err = gd(capsys, args)
    assert code == 0, err
    assert "2 finished already, 2 to run" in " ".join(err.split())
    assert all(run_state(d) == "done" and not (d / "failure.json").exists() for d in (out / "runs").iterdir())


def test_stale_staging_of_dead_processes_is_cleared_and_an_interrupted_replacement_restored(tmp_path):
    store = SweepStore(tmp_path / "sweep")
    store.runs.mkdir(parents=True)
    (store.runs / ".abc.partial-999999999-x1").mkdir()  # no such pid
    (store.runs / f".mine.partial-{os.getpid()}-x2").mkdir()  # alive: not touched
    old = store.runs / ".kept.old-999999999"
    old.mkdir()
    (old / "config.json").write_text("{}")
    (tmp_path / "sweep" / SWEEP_FILE).write_text('{"format": "gd-sweep/1", "runs": {}, "skipped": []}')
    assert store.open() == 1
    store.close()
    assert sorted(p.name for p in store.runs.iterdir()) == [f".mine.partial-{os.getpid()}-x2", "kept"]
    assert (store.runs / "kept" / "config.json").exists()


def test_one_sweep_at_a_time_per_directory(tmp_path, capsys):
    out = tmp_path / "sweep"
    holder = SweepStore(out)
    holder.open()
    try:
        code, _, err = gd(capsys, sweep_args(out, "--jobs", "1"))
    finally:
        holder.close()
    assert code == 1
    assert f"--out {out} is being written by another gd sweep (pid {os.getpid()})" in " ".join(err.split())


@pytest.mark.parametrize("extra, message", [
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is for --executor dask"),
    (["--executor", "slurm"], "--executor 'slurm' is not one of local, dask"),
    (["--split-seed", "-1"], "--split-seed '-1' must be a whole number ≥ 0 or 'seed'"),
])
def test_bad_sweep_options_are_one_line_errors(tmp_path, capsys, extra, message):
    code, _, err = gd(capsys, sweep_args(tmp_path / "s", *extra))
    assert code == 1 and message in err and "Traceback" not in err


def test_a_directory_that_is_not_a_sweep_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = gd(capsys, sweep_args(tmp_path, "--jobs", "1"))
    assert code == 1 and "is not empty and holds no gd sweep" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------ the executors

def test_each_worker_loads_the_data_once_not_once_per_run(tmp_path, builtin_host):
    grid = expand(small_spec(seeds=3), builtin_host.registries)
    _WORKER.clear()
    serial = run_sweep(grid, tmp_path / "serial", SerialExecutor())
    assert [o.data_loads for o in serial.outcomes] == [1] * 6

    pooled = run_sweep(grid, tmp_path / "pool", LocalExecutor(2))
    assert all(o.ok for o in pooled.outcomes)
    loads: dict[str, int] = {}
    for outcome in pooled.outcomes:
        loads[outcome.worker] = max(loads.get(outcome.worker, 0), outcome.data_loads)
    assert set(loads.values()) == {1} and 1 <= len(loads) <= 2


def test_local_pool_and_dask_local_cluster_give_identical_results(tmp_path, capsys):
    grid = sweep_args(tmp_path / "local", "--jobs", "2", batch_sizes=(10, 20))
    assert gd(capsys, grid)[0] == 0
    code, _, err = gd(capsys, sweep_args(tmp_path / "dask", "--executor", "dask", "--jobs", "2",
                                         batch_sizes=(10, 20)))
    assert code == 0, err
    assert "LocalCluster of 2 workers" in " ".join(err.split())
    local, dask = result_files(tmp_path / "local"), result_files(tmp_path / "dask")
    assert len(local) == 8
    assert local == dask
    assert gd(capsys, sweep_args(tmp_path / "serial", "--jobs", "1", batch_sizes=(10, 20)))[0] == 0
    assert result_files(tmp_path / "serial") == local


def test_an_existing_dask_scheduler_is_used_by_address(tmp_path, capsys, builtin_host):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code, _, err = gd(capsys, sweep_args(tmp_path / "remote", "--executor", "dask", "--scheduler",
                                             cluster.scheduler_address, seeds=1))
    assert code == 0, err
    assert f"scheduler {cluster.scheduler_address}" in " ".join(err.split())
    assert len(result_files(tmp_path / "remote")) == 2


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, builtin_host, monkeypatch):
    import gd_apps.sweep as sweep

    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    grid = expand(small_spec(seeds=1), builtin_host.registries)
    with pytest.raises(GdError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_sweep(grid, tmp_path / "s", DaskExecutor("tcp://127.0.0.1:9"))


def test_a_sweep_killed_with_sigkill_resumes_to_exactly_the_expected_runs(tmp_path):
    out = tmp_path / "sweep"
    # Slow enough runs (3,000 genes, 8 cycles) that the kill lands while some are unfinished.
    args = sweep_args(out, "--jobs", "2", "--param", "descriptor.n_genes=3000", "--param", "assay.n_genes=3000",
                      seeds=4, cycles=8, acquisitions=("random", "topuncertain", "marginsample"))
    command = [str(Path(sys.executable).parent / "gd"), *args]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(published(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = published(out)
    assert 2 <= len(finished_before) < 12, "the kill should land mid-sweep"
    for key in finished_before:  # whatever was published is complete
        assert {"metrics.csv", "selections.csv", "run.log"} <= {p.name for p in (out / "runs" / key).iterdir()}

    restarted = subprocess.run(command, capture_output=True, text=True)
    assert restarted.returncode == 0, restarted.stderr
    expected = set(json.loads((out / SWEEP_FILE).read_text())["runs"])
    assert len(expected) == 12
    assert {p.name for p in (out / "runs").iterdir()} == expected  # no partial or extra directory left
    assert all(run_state(out / "runs" / key) == "done" for key in expected)
    assert {k: (out / "runs" / k / "config.json").stat().st_mtime_ns for k in finished_before} == finished_before
    assert f"{len(finished_before)} finished already, {12 - len(finished_before)} to run" in \
        " ".join(restarted.stderr.split())


# ------------------------------------------------------------------ nothing finished is lost, whatever happens

def user_screen(directory: Path, n: int = 600) -> tuple[Path, Path]:
    """A user's descriptor and assay as CSV files, on real gene symbols (user tables are harmonised)."""
    import numpy as np
    import pandas as pd
    from gd_plugins_builtin.genedisco import bundled_assay

    rng = np.random.default_rng(0)
    genes = list(bundled_assay("schmidt_2021_il2").index[:n])
    descriptor, assay = directory / "descriptor.csv", directory / "assay.csv"
    pd.DataFrame(rng.normal(size=(n, 8)), index=pd.Index(genes, name="gene")).add_prefix("f").to_csv(descriptor)
    pd.DataFrame({"gene": genes, "value": rng.normal(size=n)}).to_csv(assay, index=False)
    return descriptor, assay


def files_under(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory``, by relative path."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_failed_redo_with_force_keeps_the_finished_runs_and_records_the_failures_aside(tmp_path, capsys):
    descriptor, assay = user_screen(tmp_path)
    out = tmp_path / "sweep"
    args = ["sweep", "--out", str(out), "--assay", str(assay), "--descriptor", str(descriptor), "--model",
            "random_forest", "--acquisition", "random", "--seeds", "2", "--cycles", "2", "--batch-size", "10",
            "--param", "model.n_estimators=5", "--jobs", "1"]
    assert gd(capsys, args)[0] == 0
    finished = files_under(out / "runs")
    good = assay.read_text()
    header, *rows = good.splitlines()
    assay.write_text("\n".join([header, *(f"{row.split(',')[0]},not a number" for row in rows)]) + "\n")
    # This process ran the first sweep and keeps its data cache: the changed file must be read again regardless.

    code, _, err = gd(capsys, [*args, "--force"])

    assert code == 1
    assert files_under(out / "runs") == finished
    keys = sorted(p.name for p in (out / "runs").iterdir())
    assert sorted(p.name for p in (out / "failures").iterdir()) == keys
    for key in keys:
        failure = json.loads((out / "failures" / key / "failure.json").read_text())
        assert failure["settings"]["assay"] == str(assay) and "Traceback" in failure["traceback"]
    lines = err.strip().splitlines()
    failed = [line for line in lines if line.startswith("failed ")]
    assert len(failed) == 2
    assert {key for key in keys for line in failed
            if line.endswith(f"; the earlier finished run is kept ({out}/failures/{key}/failure.json)")} == set(keys)
    assert lines[-1] == (f"error: 2 of 2 runs failed (2 of them redone runs whose earlier finished result was kept); "
                         f"each one's error and traceback is in {out}/failures/<key>/failure.json; fix the cause and "
                         "run the same command again to retry them")

    assay.write_text(good)
    _WORKER.clear()
    code, _, err = gd(capsys, [*args, "--force"])
    assert code == 0, err
    assert list((out / "failures").iterdir()) == []  # the records of the failed redo are out of date now


def test_a_resumed_run_finished_meanwhile_is_kept_not_redone(tmp_path, builtin_host):
    from gd_apps.sweep import RunTask, run_task

    grid = expand(small_spec(seeds=1, acquisitions=("random",)), builtin_host.registries)
    out = tmp_path / "sweep"
    assert all(o.ok for o in run_sweep(grid, out, SerialExecutor()).outcomes)
    (config,) = grid.runs
    run = (out / "runs" / run_key(config)).resolve()
    finished = files_under(run)

    # A plain resume (no --force) reaching a run that is finished by now, e.g. by a stray worker of an earlier,
    # killed sweep: it stays as it is.
    outcome = run_task(RunTask(config, str(run)))

    assert outcome.ok
    assert files_under(run) == finished


def test_a_failure_is_recorded_aside_when_a_finished_run_appeared_meanwhile(tmp_path):
    from gd_core.results import RunDirectory

    out, aside = tmp_path / "runs" / "key", tmp_path / "failures" / "key"
    with pytest.raises(RuntimeError):
        with RunDirectory(out, lock=False) as run_dir:
            out.mkdir(parents=True)  # another writer publishes a finished run while this one runs
            (out / "config.json").write_text("{}")
            raise RuntimeError("boom")

    assert run_dir.record_failure({"seed": 0}, "RuntimeError: boom", "Traceback …", aside=aside) == aside
    assert files_under(out) == {"config.json": b"{}"}
    assert json.loads((aside / "failure.json").read_text())["error"] == "RuntimeError: boom"
    assert list((tmp_path / "runs").iterdir()) == [out]  # the staging became the record


def full_disk_under(monkeypatch, directory: Path) -> None:
    """Make every fsync of a file below ``directory`` fail with ENOSPC, as on a full disk."""
    import errno

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_runs_that_meet_a_full_disk_are_one_line_each_and_a_true_summary(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    args = sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=1)
    assert gd(capsys, args)[0] == 0
    finished = files_under(out / "runs")
    full_disk_under(monkeypatch, out / "runs")

    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=3))

    assert code == 1
    assert "Logging error" not in err and "Traceback" not in err
    lines = err.strip().splitlines()
    failed = [line for line in lines if line.startswith("failed ")]
    assert len(failed) == 2
    assert all(line.endswith(": its files could not be written: disk full (No space left on "
                             "device) (nothing recorded)") for line in failed)
    assert lines[-1] == (f"error: cannot write to {out}: disk full (No space left on device); 2 of 2 runs could "
                         "not be written (1 of 3 runs are finished and kept); free some space or choose another "
                         "--out, then run the same command again")
    assert files_under(out / "runs") == finished  # nothing half-written left, nothing earlier lost
    assert len(list((out / "runs").iterdir())) == 1

    monkeypatch.undo()
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=3))
    assert code == 0 and "1 finished already, 2 to run" in " ".join(err.split())


def test_a_sweep_that_cannot_write_sweep_json_says_so_in_one_line_and_leaves_no_temporary_file(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    assert gd(capsys, sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=1))[0] == 0
    before = files_under(out)
    full_disk_under(monkeypatch, out)

    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=2))

    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: cannot write to {out}: disk full (No space left on device); free some space or "
        "choose another --out, then run the same command again (finished runs are kept)")
    assert files_under(out) == before
    assert sorted(p.name for p in out.iterdir()) == [".lock", "runs", SWEEP_FILE]


def test_a_sweep_whose_files_outgrow_the_file_size_limit_fails_each_run_in_one_line(tmp_path):
    # RLIMIT_FSIZE makes every write past 1,000 bytes fail with EFBIG, as a full disk fails it with ENOSPC:
    # sweep.json (one run) is smaller, the run's config.json larger.
    limit = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)); "
             "from gd_apps.cli import main; sys.argv[0] = 'gd'; main(sys.argv[1:])")
    out = tmp_path / "sweep"
    result = subprocess.run([sys.executable, "-c", limit, *sweep_args(out, "--jobs", "1", acquisitions=("random",),
                                                                      seeds=1)],
                            capture_output=True, text=True, env={**os.environ, "GD_LOAD_PLUGINS": ""})

    assert result.returncode == 1
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len([line for line in lines if line.startswith("failed ")]) == 1
    assert lines[-1] == (f"error: cannot write to {out}: disk full (File too large); 1 of 1 runs could not be "
                         "written (0 of 1 runs are finished and kept); free some space or choose another --out, then "
                         "run the same command again")
    assert list((out / "runs").iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == [".lock", "runs", SWEEP_FILE]


STALLING = '''
import os
import time
from pathlib import Path

from gd_core import hookimpl


class Stalling:
    """Predicts its first feature. Once a run of the sweep $GD_TEST_SWEEP has finished, each fit says so in
    $GD_TEST_SWEEP.stalled and waits to be stopped."""

    def fit(self, X, y, rng):
        sweep = os.environ.get("GD_TEST_SWEEP")
        if sweep and any(Path(sweep).glob("runs/*/config.json")):
            Path(f"{sweep}.stalled").touch()
            while True:
                time.sleep(0.01)
        return self

    def predict(self, X):
        return X[:, 0].astype(float)


@hookimpl
def gd_register_models(register):
    register("stalling", Stalling)
'''


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_sweep_says_how_many_runs_are_kept_and_the_same_command_resumes(tmp_path, capsys, signum, code):
    plugin = tmp_path / "stalling.py"
    plugin.write_text(STALLING)
    out = tmp_path / "sweep"
    args = ["sweep", "--out", str(out), "--assay", "simulated", "--descriptor", "simulated", "--model", "stalling",
            "--acquisition", "random", "--seeds", "3", "--cycles", "3", "--batch-size", "10", "--jobs", "1",
            "--plugin", str(plugin), *[a for p in SMALL_PARAMS if not p.startswith("model.") for a in ("--param", p)]]
    process = subprocess.Popen([str(Path(sys.executable).parent / "gd"), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "GD_LOAD_PLUGINS": "", "GD_TEST_SWEEP": str(out)})
    try:
        while not Path(f"{out}.stalled").exists():  # the first run is published, the second one is under way
            try:
                process.wait(0.01)
                pytest.fail(f"the sweep ended before it stalled: {process.communicate()[1]}")
            except subprocess.TimeoutExpired:
                continue
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == code
    assert err.strip().splitlines()[-1] == (f"interrupted: 1 of 3 runs are finished and kept in {out}; run the same "
                                            "command again to resume")
    assert "Traceback" not in err
    assert len(list(out.glob("runs/*/config.json"))) == 1

    code, _, err = gd(capsys, args)  # GD_TEST_SWEEP is not set here: nothing stalls
    assert code == 0, err
    assert "1 finished already, 2 to run" in " ".join(err.split())
    assert sorted(run_state(d) for d in (out / "runs").iterdir()) == ["done"] * 3  # no partial run left


def test_sweep_directories_and_files_get_the_modes_of_the_umask(tmp_path, capsys):
    import stat

    out = tmp_path / "sweep"
    previous = os.umask(0o022)
    try:
        assert gd(capsys, sweep_args(out, "--jobs", "1", acquisitions=("random",), seeds=1))[0] == 0
    finally:
        os.umask(previous)

    modes = {str(p.relative_to(out)): stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")]}
    assert {path for path, mode in modes.items() if mode != (0o755 if (out / path).is_dir() else 0o644)} == set()
    assert len(modes) == 9  # the sweep, runs/, its run and their files: .lock, sweep.json and four


@pytest.mark.parametrize("text, message", [
    ("[]", "has format 'list', not gd-sweep/1"),
    ('{"format": "gd-sweep/1", "runs": {}}', "is damaged ('runs' must be a table and 'skipped' a list)"),
    ('{"format": "gd-sweep/1", "runs": [], "skipped": []}', "is damaged ('runs' must be a table"),
    ('{"format": "gd-sweep/1", "runs": {}, "skipped": [{"model": "bnn"}]}', "is damaged (each run must be a table"),
])
def test_a_sweep_json_of_the_wrong_shape_is_one_line(tmp_path, capsys, text, message):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / SWEEP_FILE).write_text(text)
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1", seeds=1))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f"error: {out / SWEEP_FILE} {message}")
    assert (out / SWEEP_FILE).read_text() == text


# ------------------------------------------------------------- spec keys and parameters, checked up front (issue 11)

SMALL_SPEC = ('assays = ["simulated"]\ndescriptors = ["simulated"]\nmodels = ["random_forest"]\n'
              'acquisitions = ["random"]\nbatch_sizes = [10]\nseeds = 1\ncycles = 2\n')


def dry_run(capsys, tmp_path, spec_text: str, *options: str) -> tuple[int, str]:
    """``gd sweep SPEC --dry-run`` in this process on a small spec with ``spec_text`` added: exit code, stderr."""
    spec = tmp_path / "grid.toml"
    spec.write_text(SMALL_SPEC + spec_text)
    code, _, err = gd(capsys, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--dry-run",
                               *[a for p in SMALL_PARAMS for a in ("--param", p)], *options])
    return code, err


@pytest.mark.parametrize("text, message", [
    ("hit_fraction = true\n", "'hit_fraction' must be a number above 0 and at most 1 (the share of genes that "
                              "are hits, e.g. 0.05), got true"),
    ('test_fraction = "0.2"\n', "'test_fraction' must be a number strictly between 0 and 1 (the share of genes "
                                'held out, e.g. 0.2), got "0.2"'),
    ("seeds = true\n", "'seeds' must be a whole number ≥ 1 (seeds 0 to N−1 per setting), got true"),
    ("seeds = 2.0\n", "'seeds' must be a whole number ≥ 1 (seeds 0 to N−1 per setting), got 2.0"),
    ("[seeds]\nfirst = 1\n", "'seeds' must be a whole number ≥ 1 (seeds 0 to N−1 per setting), got {first = 1}"),
    ("batch_sizes = [10, true]\n", "'batch_sizes' must be a non-empty list of whole numbers ≥ 1, got [10, true]"),
    ("batch_sizes = []\n", "'batch_sizes' is empty; give at least one batch size"),
    ('models = ["random_forest", 3]\n', "'models' must be a non-empty list of names, got [\"random_forest\", 3]"),
    ("assays = {name = \"simulated\"}\n", "'assays' must be a name or a list of them, got {name = \"simulated\"}"),
    ('cycles = "many"\n', "'cycles' must be a whole number ≥ 1 or \"paper\" (the paper's rule), got \"many\""),
    ("split_seed = 1.5\n", "'split_seed' must be a whole number ≥ 0 or \"seed\" (a new test split per seed), "
                           "got 1.5"),
    ('metrics = ["mse", "mse"]\n', "'metrics' names metric 'mse' twice; list each metric once"),
    ("acquisitons = [\"random\"]\n", "unknown key 'acquisitons'; did you mean 'acquisitions'? the known keys are "
                                      "protocol, assays, descriptors, models, acquisitions, batch_sizes, seeds, cycles, "
                                      "metrics, test_fraction, hit_fraction, params, split_seed"),
    ("[params]\nmodel = 3\n", "'params.model' must be a table like [params.model] with one KEY = VALUE per line, "
                              "got 3"),
])
def test_a_spec_value_of_the_wrong_type_is_one_line_naming_file_key_and_toml_value(tmp_path, capsys, text,
                                                                                     message):
    spec = tmp_path / "grid.toml"
    spec.write_text(text)  # every other key keeps its (valid) default
    code, _, err = gd(capsys, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--dry-run"])

    assert code == 1
    assert err.strip().splitlines() == [f"error: spec file {spec}: {message}"]
    assert not (tmp_path / "s").exists()


def test_an_option_overrides_a_bad_spec_key_instead_of_being_blocked_by_it(tmp_path, capsys):
    code, err = dry_run(capsys, tmp_path, "split_seed = -1\ntest_fraction = \"0.2\"\n", "--split-seed", "3",
                        "--test-fraction", "0.25")
    assert code == 0, err
    code, err = dry_run(capsys, tmp_path, "split_seed = -1\n")
    assert code == 1 and "'split_seed' must be a whole number ≥ 0" in err


def test_an_option_out_of_range_is_named_as_the_option(tmp_path, capsys):
    code, err = dry_run(capsys, tmp_path, "", "--hit-fraction", "1.5")
    assert code == 1
    assert err.strip().splitlines() == ["error: --hit-fraction must be a number above 0 and at most 1 (the share of "
                                        "genes that are hits, e.g. 0.05), got 1.5"]


@pytest.mark.parametrize("param, message", [
    ("model.max_depth=-1", "model 'random_forest': max_depth must be a positive integer (e.g. 4), or null for "
                           "unlimited depth, got -1 (set as model.max_depth)"),
    ("random_forest.n_estimators=abc", "model 'random_forest': n_estimators must be a positive integer (e.g. 100), "
                                       'got "abc" (set as random_forest.n_estimators)'),
    ("random.temp=1", "acquisition 'random' has no parameter 'temp'; it takes no parameters"),
    ("modle.n_estimators=3", "parameters for 'modle': 'modle' is neither a kind (descriptor, assay, model, "
                             "acquisition) nor a component of this sweep (did you mean 'model'?)"),
])
def test_a_dry_run_refuses_the_parameter_values_a_run_would_refuse(tmp_path, capsys, param, message):
    code, err = dry_run(capsys, tmp_path, "", "--param", param)
    assert code == 1
    assert err.strip().splitlines() == [f"error: {message}"] or message in err.strip().splitlines()[-1], err
    assert len(err.strip().splitlines()) == 1


def test_a_grid_too_large_to_be_meant_is_refused_before_it_is_built(builtin_host):
    with pytest.raises(GdError, match="the grid would have 2,000,000,000 runs, more than 1,000,000; check --seeds"):
        expand(small_spec(seeds=1_000_000_000), builtin_host.registries)


def test_the_paper_grid_names_its_nine_acquisitions_so_a_plugin_s_do_not_join_it(host_with):
    from gd_core import hookimpl

    class Extra:
        @hookimpl
        def gd_register_acquisitions(self, register):
            register("ucb_extra", lambda: None)

    spec_file = Path(__file__).resolve().parent.parent / "examples" / "cluster" / "paper_grid.toml"
    grid = expand(SweepSpec().updated(read_spec(spec_file)), host_with(Extra(), builtins=True).registries)
    assert len(grid.runs) == 3240  # the bnn's part; README: "The paper's whole grid (4,440 runs)"
    assert len({c.acquisition for c in grid.runs} | {s.acquisition for s in grid.skipped}) == 9


def test_an_empty_spec_file_means_every_default(tmp_path, capsys):
    spec = tmp_path / "empty.toml"
    spec.write_text("")
    code, _, err = gd(capsys, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--dry-run"])
    assert code == 0, err
    assert "grid: 75 runs" in " ".join(err.split())  # schmidt_2021_il2, gene_ontology, bnn, all fifteen, 5 seeds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.toml"]


# ------------------------------------------------------------- malformed spec files, generated (issue 11)

from hypothesis import HealthCheck, given, settings  # noqa: E402 (this part's own imports)
from hypothesis import strategies as st  # noqa: E402

from gd_core.protocols import PROTOCOLS  # noqa: E402

from gd_core.registry import literal  # noqa: E402
from gd_apps.sweep import SPEC_KEYS  # noqa: E402
from gd_core.helpers.tables import looks_like_path  # noqa: E402

NAME_KEYS = {"assays": "assay", "descriptors": "descriptor", "models": "model", "acquisitions": "acquisition",
             "metrics": "metric"}
FOREST_PARAMETERS = ("n_estimators", "max_depth", "min_samples_leaf", "n_jobs")


def toml(value) -> str:
    """``value`` written as a TOML value (inline tables for dicts)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return literal(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def acceptable(key: str, value, names: dict[str, set[str]]) -> bool:
    """Whether ``gd sweep --dry-run`` may rightly accept ``value`` for ``key`` (the test keeps only the others)."""
    def whole(v, low):
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if key in NAME_KEYS:
        items = [value] if isinstance(value, str) else value
        known = names[NAME_KEYS[key]] | {"all"}
        return isinstance(items, list) and bool(items) and len(set(map(str, items))) == len(items) and all(
            isinstance(v, str) and (v in known or (key in ("assays", "descriptors") and looks_like_path(v)))
            for v in items)
    if key == "batch_sizes":
        items = [value] if whole(value, 1) else value
        return isinstance(items, list) and bool(items) and all(whole(v, 1) for v in items)
    return {"seeds": lambda v: whole(v, 1) and v <= 1_000_000,  # the small grid has one run per seed
            "cycles": lambda v: whole(v, 1) or v == "paper",
            "test_fraction": lambda v: number(v) and 0 < v < 1,
            "hit_fraction": lambda v: number(v) and 0 < v <= 1,
            "split_seed": lambda v: whole(v, 0) or v == "seed",
            "protocol": lambda v: isinstance(v, str) and v in PROTOCOLS,
            "params": lambda v: False}[key](value)  # params are generated bad by construction


scalars = st.one_of(st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.dates(),
                    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
                    st.sampled_from(["", " ", "all", "paper", "seed", "0.2", "random_forest", "x.csv"]))
keys = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=10)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=5)


@st.composite
def bad_params(draw, names: dict[str, set[str]]):
    """A ``params`` value that the small spec's sweep must refuse."""
    targets = set(SPEC_KEYS) | {"descriptor", "assay", "model", "acquisition"} | set().union(*names.values())
    how = draw(st.sampled_from(["not a table", "not tables", "unknown target", "unknown parameter", "bad value"]))
    if how == "not a table":
        return draw(st.one_of(scalars, st.lists(values, max_size=2)))
    if how == "not tables":
        return {draw(st.sampled_from(["model", "acquisition", "random_forest"])): draw(scalars)}
    if how == "unknown target":
        return {draw(keys.filter(lambda k: k not in targets)): {}}
    if how == "unknown parameter":
        return {"model": {draw(keys.filter(lambda k: k not in FOREST_PARAMETERS)): draw(values)}}
    parameter = draw(st.sampled_from(FOREST_PARAMETERS))
    value = draw(values.filter(lambda v: not (
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 2**63 - 1  # any count ≥ 1 that numpy holds …
        or (parameter == "min_samples_leaf" and isinstance(v, float) and 0 < v < 1)  # … or a share of genes
        or (parameter in ("max_depth", "n_jobs") and v is None))))
    return {"random_forest": {parameter: value}}


@st.composite
def malformed_spec(draw, names: dict[str, set[str]]):
    """``(content, what)``: bytes of a spec file that ``gd sweep SPEC --dry-run`` must refuse, or "directory"."""
    small = {"assays": '["simulated"]', "descriptors": '["simulated"]', "models": '["random_forest"]',
             "acquisitions": '["random"]', "batch_sizes": "[10]", "seeds": "1", "cycles": "2"}
    what = draw(st.sampled_from(["wrong value", "wrong value", "wrong value", "unknown key", "garbage", "not utf-8",
                                 "directory"]))
    if what == "directory":
        return "directory", what
    if what == "garbage":
        return draw(st.binary(min_size=1, max_size=120).filter(_refusable_bytes)), what
    if what == "not utf-8":
        return b"\xff" + draw(st.binary(max_size=40)), what
    if what == "unknown key":
        key, value = draw(keys.filter(lambda k: k not in SPEC_KEYS)), draw(values)
    else:
        key = draw(st.sampled_from(SPEC_KEYS))
        value = draw(bad_params(names)) if key == "params" else draw(values.filter(
            lambda v: not acceptable(key, v, names)))
    lines = [f"{k} = {v}" for k, v in small.items() if k != key]
    lines.append(f"{json.dumps(key, ensure_ascii=False)} = {toml(value)}")
    return "\n".join(lines).encode(), f"{what}: {key} = {toml(value)}"


def _refusable_bytes(content: bytes) -> bool:
    """Bytes that are not UTF-8, not TOML, or TOML with a key no spec has (empty TOML is a valid spec)."""
    import tomllib

    try:
        parsed = tomllib.loads(content.decode("utf-8-sig"))  # as gd reads it: a leading BOM is allowed
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    return any(key not in SPEC_KEYS for key in parsed)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_malformed_spec_file_is_one_line_and_changes_nothing(capsys, builtin_host, data):
    import tempfile

    names = {r.kind: set(r.names()) for r in builtin_host.registries}
    content, what = data.draw(malformed_spec(names))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "kept.txt").write_text("earlier work")
        spec = root / "grid.toml"
        if content == "directory":
            spec.mkdir()
        else:
            spec.write_bytes(content)
        before = _snapshot(root)
        code, out, err = gd(capsys, ["sweep", str(spec), "--out", str(root / "sweep"), "--dry-run"])

        lines = err.strip().splitlines()
        assert code == 1, (what, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, err)
        # The bug handler's wording and a traceback's first line (the spec's own text, echoed, may hold any word)
        assert "Traceback (most recent call last)" not in err and "error: unexpected " not in err, (what, err)
        assert out == "" and _snapshot(root) == before, what


def test_a_worker_reads_a_user_table_again_when_the_file_changes(tmp_path, builtin_host):
    """A long-lived worker's dataset cache must not serve a user table's old contents after it was edited."""
    import os

    import numpy as np

    from gd_core.loop import DatasetCache, RunConfig, prepare

    descriptor, assay = user_screen(tmp_path)
    config = RunConfig(assay=str(assay), descriptor=str(descriptor), model="random_forest", acquisition="random",
                       batch_size=10, cycles=2, params={"model": {"n_estimators": 5}})
    cache = DatasetCache()
    first = prepare(config, builtin_host.registries, cache=cache)
    assert prepare(config, builtin_host.registries, cache=cache).dataset is first.dataset and cache.loads == 1
    text = assay.read_text()
    assay.write_text(text.replace("-", "+", 1).replace("+", "-", 2).replace("0.", "1.", 1))  # same size, new values
    stat = assay.stat()
    os.utime(assay, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    again = prepare(config, builtin_host.registries, cache=cache)

    assert cache.loads == 2 and not np.array_equal(again.dataset.y, first.dataset.y)


def test_a_sweep_refused_for_its_out_or_its_grid_prints_only_the_error_line(tmp_path, capsys):
    """The grid summary and skip lines come after every refusal, so a refused sweep is one line and makes nothing."""
    (tmp_path / "afile").write_text("notes\n")
    base = ["sweep", "--assay", "simulated", "--descriptor", "simulated", "--seeds", "1", "--cycles", "1"]
    cases = {
        "an --out that is a file": ([*base, "--out", str(tmp_path / "afile")], "is a file"),
        "an --out that holds other things": ([*base, "--out", str(tmp_path)], "holds no gd sweep"),
        "a grid with no compatible pair": ([*base, "--out", str(tmp_path / "new"), "--model", "random_forest",
                                            "--acquisition", "badge"], "badge needs gradient_embedding"),
    }
    for name, (argv, expected) in cases.items():
        code, _, err = gd(capsys, argv)
        assert code == 1, name
        assert err.strip().count("\n") == 0 and err.startswith("error: ") and expected in err, (name, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_spec_file_with_a_byte_order_mark_is_read(tmp_path, capsys):
    """Some Windows editors start UTF-8 files with a BOM; it is not part of the TOML."""
    spec = tmp_path / "bom.toml"
    spec.write_bytes(b"\xef\xbb\xbfseeds = 1\nacquisitions = [\"random\"]\n")
    code, _, err = gd(capsys, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--assay", "simulated",
                               "--descriptor", "simulated", "--dry-run"])
    assert code == 0 and "grid: 1 run " in err
