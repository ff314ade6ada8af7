"""Run directories: what a finished run holds, how --out is protected, and that results repeat across processes."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, hookimpl
from gd_apps import cli
from gd_core.loop import RunConfig, prepare
from gd_core.results import RunDirectory
from tests.helpers import RUN_FILES, SMALL, gd, run_args

GD = Path(sys.executable).parent / "gd"


def the_error(stderr: str) -> str:
    """The single ``error:`` line, checked to be the last line and without a traceback."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], stderr
    assert "Traceback" not in stderr
    return errors[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


class Fragile:
    """Registers model 'fragile', whose third fit (cycle 2) raises."""

    def __init__(self) -> None:
        self.fits = 0

    @hookimpl
    def gd_register_models(self, register):
        register("fragile", lambda: FragileModel(self))


class FragileModel:
    def __init__(self, plugin: Fragile) -> None:
        self.plugin = plugin
        self.mean = 0.0

    def fit(self, X, y, rng):
        self.plugin.fits += 1
        if self.plugin.fits == 3:
            raise RuntimeError("fit exploded at cycle 2")
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean)


@pytest.fixture
def fragile_cli(monkeypatch, host_with):
    """Make in-process ``gd`` see the built-ins plus the Fragile model."""
    plugin = Fragile()  # one instance, so its fit count carries over to a retry in the same process
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(plugin, builtins=True))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished small run, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exit_:
        patch.setenv("GD_LOAD_PLUGINS", "")  # the autouse fixture does not reach module-scoped ones
        cli.main(run_args(out))
    assert exit_.value.code == 0
    return out


# A finished run


def test_a_finished_run_holds_exactly_its_four_files(finished):
    assert {p.name for p in finished.iterdir()} == RUN_FILES
    assert [p.name for p in finished.parent.iterdir()] == [finished.name]  # no staging left beside it


def test_metrics_csv_has_one_row_per_cycle_and_metric(finished):
    header, *rows = read_csv(finished / "metrics.csv")

    assert header == ["cycle", "n_acquired", "metric", "value"]
    assert [(int(c), int(n), m) for c, n, m, _ in rows] == [
        (cycle, 10 * (cycle + 1), metric) for cycle in range(3) for metric in ("mse", "hit_ratio", "spearman")
    ]
    assert all(np.isfinite(float(value)) for *_, value in rows)


def test_selections_csv_starts_with_the_initial_batch(finished):
    header, *rows = read_csv(finished / "selections.csv")
    plan = prepare(RunConfig("simulated", "simulated", "random_forest", "random", 10, 3, params=SMALL),
                   cli.PluginHost(entry_points=False).registries, on_status=lambda message: None)

    assert header == ["cycle", "gene"]
    assert [int(c) for c, _ in rows] == [c for c in range(3) for _ in range(10)]
    assert [g for c, g in rows if c == "0"] == list(plan.dataset.genes[plan.initial])
    assert len({g for _, g in rows}) == 30
    assert not {g for _, g in rows} & set(plan.dataset.genes[plan.test])


def test_config_json_records_settings_versions_components_and_data(finished):
    manifest = json.loads((finished / "config.json").read_text())
    config = RunConfig("simulated", "simulated", "random_forest", "random", 10, 3, params=SMALL)
    plan = prepare(config, cli.PluginHost(entry_points=False).registries, on_status=lambda message: None)

    assert manifest["settings"] == config.as_dict()
    assert {"python", "gd", "numpy", "pandas", "scikit-learn"} <= set(manifest["versions"])
    forest = plan.entries["model"]
    assert manifest["components"]["model"] == {
        "name": "random_forest", "plugin": "builtin.models", "distribution": "gdisco",
        "version": manifest["versions"]["gd"], "summary": forest.summary}
    assert {"descriptor", "assay", "model", "acquisition", "metric:mse", "metric:hit_ratio",
            "metric:spearman"} <= set(manifest["components"])
    # Each metric's direction, so that a report ranks it right without its plugin.
    assert {key: manifest["components"][key]["better"] for key in ("metric:mse", "metric:hit_ratio")} == {
        "metric:mse": "lower", "metric:hit_ratio": "higher"}
    # The code that made the run: gd's version and each component's distribution and version.
    assert manifest["code"] == {"gd": manifest["versions"]["gd"],
                                **{key: f"gdisco=={manifest['versions']['gd']}" for key in plan.entries}}
    genes, y = plan.dataset.genes, plan.dataset.y.astype(np.float64)
    assert manifest["data"] == {
        "n_genes": 600, "n_features": 8, "n_test": 120, "n_pool": 480, "n_hits": 24, "split_seed": 0,
        "test_genes_sha256": hashlib.sha256("\n".join(genes[plan.test]).encode()).hexdigest(),
        "hit_genes_sha256": hashlib.sha256("\n".join(genes[plan.hits]).encode()).hexdigest(),
        "test_variance": pytest.approx(np.mean((y[plan.test] - y[plan.test].mean()) ** 2), rel=1e-12),
        **plan.dataset.checksums()}


def test_config_json_records_every_parameter_value_defaults_included(finished, tmp_path, capsys):
    manifest = json.loads((finished / "config.json").read_text())
    # SMALL sets n_estimators=10; the rest are the forest's defaults; random takes no parameters.
    assert manifest["parameters"]["model"] == {"n_estimators": 10, "max_depth": None, "min_samples_leaf": 1,
                                               "n_jobs": manifest["parameters"]["model"]["n_jobs"],
                                               "backend": "presorted"}
    assert manifest["parameters"]["acquisition"] == {}

    code, _, err = gd(capsys, run_args(tmp_path / "soft", "--param", "acquisition.temperature=0.5",
                                       acquisition="softuncertain"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "soft" / "config.json").read_text())
    assert manifest["parameters"]["acquisition"] == {"temperature": 0.5, "relative": True}


def test_resolved_parameters_keep_what_json_can_hold_and_skip_what_is_not_kept():
    from gd_core.results import resolved_parameters

    class Component:
        def __init__(self, widths=(1, 2), scale=float("nan"), hidden=3, *args, **kwargs):
            self.widths, self.scale = widths, scale

    assert resolved_parameters(Component()) == {"widths": [1, 2], "scale": "nan"}


def test_config_json_records_the_resolved_split_seed_and_runs_with_one_split_share_their_test_genes(tmp_path):
    manifests = {}
    for name, extra in [("a", ["--seed", "1"]), ("b", ["--seed", "2"]), ("c", ["--seed", "2", "--split-seed", "seed"])]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(run_args(tmp_path / name) + extra)
        assert exit_.value.code == 0
        manifests[name] = json.loads((tmp_path / name / "config.json").read_text())

    a, b, c = (manifests[k]["data"] for k in "abc")
    assert a["split_seed"] == b["split_seed"] == 0 and c["split_seed"] == 2
    assert a["test_genes_sha256"] == b["test_genes_sha256"] != c["test_genes_sha256"]
    assert a["hit_genes_sha256"] == b["hit_genes_sha256"] != c["hit_genes_sha256"]
    assert manifests["c"]["settings"]["split_seed"] == "seed"


def test_run_log_tells_the_story_of_the_run(finished):
    log = (finished / "run.log").read_text()

    assert "settings" in log
    assert "600 genes x 8 features aligned" in log
    assert "cycle 3/3" in log
    assert "finished in" in log


# Protecting --out


def test_a_finished_run_is_not_replaced_without_force(finished, capsys):
    before = snapshot(finished)
    code, _, err = gd(capsys, run_args(finished, seed=1))

    assert code == 1
    assert "--force" in the_error(err)
    assert snapshot(finished) == before


def test_force_replaces_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert gd(capsys, run_args(out))[0] == 0
    code, _, _ = gd(capsys, run_args(out, "--force", seed=1))

    assert code == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert json.loads((out / "config.json").read_text())["settings"]["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_an_empty_directory_is_a_fine_out(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()

    assert gd(capsys, run_args(out))[0] == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_holding_something_else_is_refused(tmp_path, capsys, force):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("mine")
    code, _, err = gd(capsys, run_args(out, *(["--force"] if force else [])))

    assert code == 1
    assert str(out) in the_error(err) and "no gd run" in the_error(err)
    assert snapshot(out) == {"todo.txt": b"mine"}


def test_a_file_is_refused_as_out(tmp_path):
    out = tmp_path / "run"
    out.write_text("not a directory")
    with pytest.raises(GdError, match="is a file"):
        RunDirectory(out).check()


def test_stale_staging_of_a_dead_process_is_cleaned_up(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".run.partial-{dead.pid}"
    stale.mkdir()
    (stale / "run.log").write_text("old crash")

    assert gd(capsys, run_args(tmp_path / "run"))[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# A run that dies


def test_a_run_that_fails_midway_publishes_nothing_and_keeps_its_log(tmp_path, capsys, fragile_cli):
    out = tmp_path / "run"
    code, _, err = gd(capsys, run_args(out, model="fragile"))
    (staging,) = tmp_path.glob(f".run.partial-{os.getpid()}-*")

    assert code == 1
    error = the_error(err)
    assert "RuntimeError" in error and "fit exploded at cycle 2" in error
    # It points to the partial run (its directory, or its log inside) as README says.
    assert f"{staging} " in error or str(staging / "run.log") in error
    assert "run.log" in error
    # The line names the component that raised, its plugin, the call and the cycle.
    assert "model 'fragile' (plugin 'Fragile') raised in fit in cycle 2: RuntimeError" in error
    assert not out.exists()
    assert {p.name for p in staging.iterdir()} == {"run.log"}
    log = (staging / "run.log").read_text()
    assert "Traceback" in log and "RuntimeError: fit exploded at cycle 2" in log
    assert "cycle 2/3" in log and "cycle 3/3" not in log


def test_a_failed_forced_run_leaves_the_old_run_untouched(tmp_path, capsys, fragile_cli):
    out = tmp_path / "run"
    assert gd(capsys, run_args(out))[0] == 0
    before = snapshot(out)

    code, _, err = gd(capsys, run_args(out, "--force", model="fragile"))

    assert code == 1
    assert "fit exploded" in the_error(err)
    assert snapshot(out) == before
    (staging,) = tmp_path.glob(f".run.partial-{os.getpid()}-*")
    assert "Traceback" in (staging / "run.log").read_text()


def test_a_retry_in_the_same_process_after_a_failed_run_succeeds(tmp_path, capsys, fragile_cli):
    out = tmp_path / "run"
    assert gd(capsys, run_args(out, model="fragile"))[0] == 1  # the third fit raises

    code, _, err = gd(capsys, run_args(out, model="fragile"))  # later fits succeed

    assert code == 0, err
    assert {p.name for p in out.iterdir()} == RUN_FILES


# Determinism across processes


def test_results_are_byte_identical_across_processes_and_change_with_the_seed(tmp_path):
    def start(name: str, hash_seed: str, seed: int) -> subprocess.Popen:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "GD_LOAD_PLUGINS": ""}
        return subprocess.Popen([str(GD), *run_args(tmp_path / name, seed=seed)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    runs = [start("a", "1", 0), start("b", "2", 0), start("c", "1", 1)]
    for process in runs:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()

    a, b, c = (tmp_path / name for name in "abc")
    for name in ("metrics.csv", "selections.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def duplicated_screen(directory: Path) -> tuple[Path, Path]:
    """A descriptor whose genes come in groups with identical rows (as genes with the same annotations do),
    and an assay: ties in every distance, which rounding must not decide."""
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(60, 16))[rng.integers(0, 60, size=900)]
    from gd_plugins_builtin.genedisco import bundled_assay

    genes = list(bundled_assay("schmidt_2021_il2").index[:900])  # real symbols: user tables are harmonised
    descriptor, assay = directory / "descriptor.csv", directory / "assay.csv"
    pd.DataFrame(rows, index=pd.Index(genes, name="gene")).add_prefix("f").to_csv(descriptor)
    pd.DataFrame({"gene": genes, "value": rng.normal(size=900)}).to_csv(assay, index=False)
    return descriptor, assay


# Each setting changes how numpy's and torch's matrix products split and order their work.
THREADS = {name: {variable: str(n) for variable in ("GD_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS")} for name, n in (("one", 1), ("two", 2))}
KERNELS = {"older_blas_kernels": {"OPENBLAS_CORETYPE": "Sandybridge"}} if platform.machine() == "x86_64" else {}


@pytest.mark.parametrize("model, acquisition", [("random_forest", "kmeans_data"), ("bnn", "coreset"),
                                                ("bnn", "badge")])
def test_selections_do_not_depend_on_thread_counts_or_blas_kernels(tmp_path, model, acquisition):
    descriptor, assay = duplicated_screen(tmp_path)
    settings = {**THREADS, **KERNELS}
    runs = {}
    for name, env in settings.items():
        args = ["run", "--assay", str(assay), "--descriptor", str(descriptor), "--model", model, "--acquisition",
                acquisition, "--batch-size", "20", "--cycles", "4", "--out", str(tmp_path / name)]
        args += ["--param", "model.n_estimators=10"] if model == "random_forest" else []
        runs[name] = subprocess.Popen([str(GD), *args], env={**os.environ, "GD_LOAD_PLUGINS": "", **env},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for process in runs.values():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()

    first, *others = settings
    for name in ("metrics.csv", "selections.csv"):
        for other in others:
            assert (tmp_path / first / name).read_bytes() == (tmp_path / other / name).read_bytes(), (other, name)


def test_a_recorded_failure_is_published_and_replaced_by_the_next_attempt(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunDirectory(out) as run_dir:
            raise RuntimeError("boom")
    run_dir.record_failure({"seed": 0}, "RuntimeError: boom", "Traceback …", aside=tmp_path / "aside")
    failure = json.loads((out / "failure.json").read_text())
    assert failure["error"] == "RuntimeError: boom" and failure["settings"] == {"seed": 0}
    assert "boom" in (out / "run.log").read_text()
    assert not (out / "config.json").exists()
    code, _, err = gd(capsys, run_args(out))  # a failed run is replaced without --force
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert not list(tmp_path.glob(".run.*"))  # the set-aside failure is gone too


# One writer per --out, whatever happens meanwhile

WAITING = '''
import os
import time
from pathlib import Path

from gd_core import hookimpl


class Waiting:
    """Predicts its first feature; its second fit says so in $GD_TEST_DIR/waiting, then waits for $GD_TEST_DIR/go."""

    fits = 0

    def fit(self, X, y, rng):
        Waiting.fits += 1
        if Waiting.fits == 2:
            directory = Path(os.environ["GD_TEST_DIR"])
            (directory / "waiting").touch()
            while not (directory / "go").exists():
                time.sleep(0.01)
        return self

    def predict(self, X):
        return X[:, 0].astype(float)


@hookimpl
def gd_register_models(register):
    register("waiting", Waiting)
'''


def start_waiting_run(tmp_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    """A `gd run` in a subprocess that stops in its second cycle until ``tmp_path / "go"`` exists."""
    plugin = tmp_path / "waiting.py"
    plugin.write_text(WAITING)
    env = {**os.environ, "GD_LOAD_PLUGINS": "", "GD_TEST_DIR": str(tmp_path)}
    return subprocess.Popen([str(GD), *run_args(out, *extra, model="waiting"), "--plugin", str(plugin)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen) -> None:
    """Wait until ``path`` exists (the subprocess got there), failing if the process ends first."""
    while not path.exists():
        try:
            process.wait(0.01)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"gd ended before {path.name} appeared: {process.communicate()[1]}")


def test_a_second_gd_run_into_the_same_out_is_refused_while_the_first_writes_it(tmp_path, capsys):
    out = tmp_path / "run"
    first = start_waiting_run(tmp_path, out)
    try:
        wait_for(tmp_path / "waiting", first)
        code, _, err = gd(capsys, run_args(out, seed=1))
        assert code == 1
        assert the_error(err) == (f"error: --out {out} is being written by another gd process (pid {first.pid}); "
                                  "wait for it to finish, or choose another --out")
        (tmp_path / "go").touch()
        _, first_err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, first_err
    assert json.loads((out / "config.json").read_text())["settings"]["seed"] == 0  # the first run, not replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "run", "waiting", "waiting.py"]  # no lock file left


def test_the_lock_is_taken_by_one_holder_at_a_time_and_its_file_removed_on_release(tmp_path):
    from gd_core.results import FileLock, LockBusy

    first, second = FileLock(tmp_path / ".run.lock", remove=True), FileLock(tmp_path / ".run.lock", remove=True)
    first.acquire()
    with pytest.raises(LockBusy) as busy:
        second.acquire()
    assert busy.value.pid == os.getpid()
    first.release()
    assert not (tmp_path / ".run.lock").exists()
    second.acquire()  # a fresh file: the deleted one is not locked again
    assert (tmp_path / ".run.lock").read_text() == f"{os.getpid()}\n"
    second.release()


def test_a_run_put_back_after_a_crash_between_the_renames_of_force_is_not_overwritten(finished, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # What a --force replacement killed between its two renames leaves: the old run set aside, no run.
    shutil.copytree(finished, tmp_path / f".run.old-{dead.pid}-0a1b2c3d")
    before = snapshot(finished)

    code, _, err = gd(capsys, run_args(tmp_path / "run", seed=1))

    assert code == 1
    assert "already holds a finished run; pass --force" in the_error(err)
    assert snapshot(tmp_path / "run") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


class Intruder:
    """Registers model 'intruder', whose first fit writes a finished run into $GD_TEST_OUT (as a writer that
    ignores the lock would)."""

    @hookimpl
    def gd_register_models(self, register):
        register("intruder", IntruderModel)


class IntruderModel:
    def fit(self, X, y, rng):
        out = Path(os.environ["GD_TEST_OUT"])
        if not out.exists():
            out.mkdir()
            (out / "config.json").write_text('{"theirs": true}')
        return self

    def predict(self, X):
        return X[:, 0].astype(float)


def test_publishing_checks_out_again_and_never_replaces_a_run_written_meanwhile(tmp_path, capsys, monkeypatch,
                                                                                 host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Intruder(), builtins=True))
    out = tmp_path / "run"
    monkeypatch.setenv("GD_TEST_OUT", str(out))

    code, _, err = gd(capsys, run_args(out, model="intruder"))

    assert code == 1
    assert f"--out {out} already holds a finished run" in the_error(err)
    assert snapshot(out) == {"config.json": b'{"theirs": true}'}


# Signals: Ctrl-C and SIGTERM


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_run_says_where_its_partial_run_is_and_leaves_a_finished_one_untouched(
        tmp_path, capsys, signum, code):
    out = tmp_path / "run"
    assert gd(capsys, run_args(out))[0] == 0
    before = snapshot(out)
    process = start_waiting_run(tmp_path, out, "--force")
    try:
        wait_for(tmp_path / "waiting", process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == code
    (staging,) = tmp_path.glob(".run.partial-*")
    last = err.strip().splitlines()[-1]
    assert last == (f"interrupted: nothing was published to --out {out}; the finished run already in {out} is "
                    f"untouched; the partial run and its log are in {staging} (the next run into {out} removes it)")
    assert "Traceback" not in err and "unexpected" not in err
    assert snapshot(out) == before
    assert "cycle 1/3" in (staging / "run.log").read_text()
    assert not (tmp_path / ".run.lock").exists()


class Impatient:
    """Registers model 'impatient', whose second fit is stopped as if by Ctrl-C."""

    @hookimpl
    def gd_register_models(self, register):
        register("impatient", ImpatientModel)


class ImpatientModel:
    fits = 0

    def fit(self, X, y, rng):
        ImpatientModel.fits += 1
        if ImpatientModel.fits == 2:
            raise KeyboardInterrupt
        return self

    def predict(self, X):
        return X[:, 0].astype(float)


def test_ctrl_c_during_a_run_exits_130_naming_the_partial_run(tmp_path, capsys, monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Impatient(), builtins=True))
    monkeypatch.setattr(ImpatientModel, "fits", 0)
    out = tmp_path / "run"

    code, _, err = gd(capsys, run_args(out, model="impatient"))

    assert code == 130
    (staging,) = tmp_path.glob(".run.partial-*")
    assert err.strip().splitlines()[-1] == (f"interrupted: nothing was published to --out {out}; the partial run "
                                            f"and its log are in {staging} (the next run into {out} removes it)")
    assert not out.exists()


def test_ctrl_c_in_a_command_that_does_not_handle_it_still_says_so(tmp_path, capsys, monkeypatch):
    import gd_apps.report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gd_apps.report, "load_results", interrupted)
    code, _, err = gd(capsys, ["report", str(tmp_path)])

    assert code == 130
    assert err.strip().splitlines()[-1] == "interrupted: stopped by SIGINT"


def test_ctrl_c_is_held_back_while_a_run_is_moved_into_place():
    from gd_core.results import signals_held

    moved = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            signal.raise_signal(signal.SIGINT)
            moved.append("both renames done")
    assert moved == ["both renames done"]


# Full disk, read-only places, and permissions


def test_a_run_on_a_full_disk_is_one_line_and_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert gd(capsys, run_args(out))[0] == 0
    before = snapshot(out)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = gd(capsys, run_args(out, "--force", seed=1))

    assert code == 1
    assert the_error(err) == (f"error: cannot write --out {out} (in {tmp_path}): disk full (No space "
                              "left on device); nothing was published; free some space or choose another --out")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging, no lock file


def test_a_run_whose_files_outgrow_the_file_size_limit_is_one_line_and_leaves_nothing_behind(tmp_path):
    # RLIMIT_FSIZE makes every write past 1,500 bytes fail with EFBIG, as a full disk fails it with ENOSPC:
    # config.json and run.log are larger, metrics.csv and selections.csv smaller.
    limit = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500)); "
             "from gd_apps.cli import main; sys.argv[0] = 'gd'; main(sys.argv[1:])")
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", limit, *run_args(out)], capture_output=True, text=True,
                            env={**os.environ, "GD_LOAD_PLUGINS": ""})

    assert result.returncode == 1
    assert the_error(result.stderr) == (f"error: cannot write --out {out} (in {tmp_path}): disk full (File too "
                                        "large); nothing was published; free some space or choose another --out")
    assert "Logging error" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask, directory_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_a_published_run_gets_the_modes_of_the_umask(tmp_path, capsys, umask, directory_mode, file_mode):
    out = tmp_path / "run"
    previous = os.umask(umask)
    try:
        assert gd(capsys, run_args(out))[0] == 0
    finally:
        os.umask(previous)

    assert stat.S_IMODE(out.stat().st_mode) == directory_mode
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == dict.fromkeys(RUN_FILES, file_mode)


def test_an_out_that_cannot_be_read_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    listing = Path.iterdir

    def unreadable(path):
        if path == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return listing(path)

    monkeypatch.setattr(Path, "iterdir", unreadable)  # chmod 000 would not stop root
    with pytest.raises(GdError, match=f"^cannot read --out {out}: Permission denied; choose a directory you can "
                                      "read and write$"):
        RunDirectory(out).check()


def test_an_out_inside_a_file_is_one_line_naming_the_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "run"
    code, _, err = gd(capsys, run_args(out))
    assert code == 1
    assert the_error(err) == (f"error: --out {out} is inside {tmp_path / 'notes.txt'}, which is a file; "
                              "choose another place")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_ctrl_c_while_a_run_is_moved_into_place_waits_for_the_move_and_says_the_run_is_complete(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real_replace = os.replace

    def replace_then_ctrl_c(source, destination):
        if Path(source).name.startswith(".run.partial-"):
            signal.raise_signal(signal.SIGINT)  # lands while the staging is being moved to --out
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace_then_ctrl_c)
    code, _, err = gd(capsys, run_args(out))

    assert code == 130
    assert err.strip().splitlines()[-1] == f"interrupted: stopped after the run had finished; it is complete in {out}"
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


class Dividing:
    """Registers acquisition 'divides', which fails with a bug of its own."""

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("divides", Divides)


class Divides:
    requires = ()

    def select(self, pool, model, batch_size, rng):
        return 1 / 0


def test_an_acquisition_that_raises_is_named_with_its_plugin_and_cycle(tmp_path, capsys, monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Dividing(), builtins=True))
    code, _, err = gd(capsys, run_args(tmp_path / "run", acquisition="divides"))
    assert code == 1
    assert "acquisition 'divides' (plugin 'Dividing') raised in select in cycle 0: ZeroDivisionError" in the_error(err)


def test_force_never_deletes_files_gd_did_not_write_nor_anything_nested_in_a_run(tmp_path, capsys):
    """--force replaces a run, not the user's notes beside it; and no run or sweep may be put inside a run."""
    out = tmp_path / "base"
    assert gd(capsys, run_args(out))[0] == 0
    (out / "NOTES.txt").write_text("mine\n")
    before = snapshot(out)

    code, _, err = gd(capsys, run_args(out, "--force"))
    assert code == 1 and "files gd did not write (NOTES.txt)" in the_error(err)
    assert snapshot(out) == before

    (out / "NOTES.txt").unlink()
    for argv in (run_args(out / "inner"),
                 ["sweep", "--assay", "simulated", "--descriptor", "simulated", "--seeds", "1", "--dry-run",
                  "--out", str(out / "sub")]):
        code, _, err = gd(capsys, argv)
        assert code == 1 and f"is inside the gd run {out}" in the_error(err), err
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES - {"failure.json"})


def test_an_out_name_too_long_for_the_file_system_names_out(tmp_path, capsys):
    out = tmp_path / ("a" * 300)
    code, _, err = gd(capsys, run_args(out))
    assert code == 1 and the_error(err).startswith(f"error: --out {out}: the name is too long for the file system (300")


def test_a_set_aside_run_is_put_back_only_if_it_is_whole(tmp_path):
    """A killed --force leaves `.NAME.old-PID-…`: put back when the run is missing, but never a half-deleted one."""
    from gd_core.results import MANIFEST, remove_stale

    dead = 999_999_999  # no such process
    whole = tmp_path / f".whole.old-{dead}-aa"
    whole.mkdir()
    (whole / MANIFEST).write_text("{}")
    (whole / "metrics.csv").write_text("cycle\n")
    half = tmp_path / f".half.old-{dead}-bb"  # killed while being deleted: its config.json went first
    half.mkdir()
    (half / "metrics.csv").write_text("cycle\n")

    assert remove_stale(tmp_path) == 1
    assert (tmp_path / "whole" / MANIFEST).is_file() and not whole.exists()
    assert not half.exists() and not (tmp_path / "half").exists()


class Verbose:
    """Registers model 'verbose', whose first fit raises with a message of many lines (as numba's and torch's do)."""

    @hookimpl
    def gd_register_models(self, register):
        register("verbose", VerboseModel)


class VerboseModel:
    def fit(self, X, y, rng):
        raise ValueError("first line of the library's story\n" + "\n".join(f"  detail {i}" for i in range(60)))

    def predict(self, X):
        return np.zeros(len(X))


def test_a_component_error_of_many_lines_reads_as_one_cut_line_and_the_log_keeps_it_whole(tmp_path, capsys,
                                                                                         monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Verbose(), builtins=True))
    code, _, err = gd(capsys, run_args(tmp_path / "run", model="verbose"))

    assert code == 1
    error = the_error(err)
    assert "model 'verbose' (plugin 'Verbose') raised in fit in cycle 0: ValueError: first line of the library's " \
           "story detail 0 detail 1" in error
    assert "… (cut)" in error and "detail 59" not in error
    (staging,) = tmp_path.glob(f".run.partial-{os.getpid()}-*")
    assert "  detail 59" in (staging / "run.log").read_text()  # the whole message, as raised
