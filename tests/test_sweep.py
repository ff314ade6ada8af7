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
from gd_core.sweep import (SWEEP_FILE, DaskExecutor, LocalExecutor, SerialExecutor, SweepSpec, SweepStore, _WORKER,
                           expand, paper_cycles, read_spec, run_key, run_state, run_sweep)
from tests.helpers import SMALL, gd

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
    assert len(ran) == 10  # the paper's nine and the descriptor_norm baseline


def test_an_unknown_name_is_an_error_not_a_skip(builtin_host):
    with pytest.raises(GdError, match="unknown acquisition 'topuncertian'.*topuncertain"):
        expand(small_spec(acquisitions=("random", "topuncertian")), builtin_host.registries)


def test_a_kind_parameter_one_component_refuses_points_to_the_name_form(builtin_host):
    spec = small_spec(acquisitions=("random", "softuncertain"))
    spec = spec.updated({"params": {**spec.params, "acquisition": {"temperature": 0.5}}})
    with pytest.raises(GdError, match=r"acquisition 'random' refused its parameters.*--param NAME\.KEY=VALUE"):
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
    ("assay = ['x']\n", "unknown key 'assay'; known keys: assays"),
    ("batch_sizes = ['64']\n", "'batch_sizes' must be a non-empty list of whole numbers"),
    ("seeds = \n", "not valid TOML"),
    ("params = 3\n", "'params' must be tables"),
    ("split_seed = -1\n", "'split_seed' must be a whole number ≥ 0 or \"seed\""),
    ("split_seed = 'run'\n", "'split_seed' must be .* got 'run'"),
    ("split_seed = true\n", "'split_seed' must be"),
])
def test_a_bad_spec_file_is_refused_by_key(tmp_path, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    with pytest.raises(GdError, match=message):
        read_spec(spec)


# ---------------------------------------------------------------------------------------------- the store

def test_a_sweep_writes_one_complete_directory_per_run_and_resumes_without_rerunning(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, sweep_args(out, "--jobs", "1"))
    assert code == 0, err
    document = json.loads((out / SWEEP_FILE).read_text())
    assert set(document["runs"]) == {d.name for d in (out / "runs").iterdir()}
    assert len(document["runs"]) == 4
    for key, settings in document["runs"].items():
        manifest = json.loads((out / "runs" / key / "config.json").read_text())
        assert manifest["settings"] == settings
        assert run_key(RunConfig(**{**settings, "metrics": tuple(settings["metrics"])})) == key
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
    assert code == 1 and "another gd sweep is writing to" in err


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
    import gd_core.sweep as sweep

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
    while len(list(out.glob("runs/*/config.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/config.json")}
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
