"""Run directories: what a finished run holds, how --out is protected, and that results repeat across processes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, cli, hookimpl
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
    assert manifest["components"]["model"] == {
        "name": "random_forest", "plugin": "builtin.models", "distribution": "gd",
        "version": manifest["versions"]["gd"]}
    assert {"descriptor", "assay", "model", "acquisition", "metric:mse", "metric:hit_ratio",
            "metric:spearman"} <= set(manifest["components"])
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
                                               "n_jobs": manifest["parameters"]["model"]["n_jobs"]}
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
    assert "RuntimeError" in error and "fit exploded at cycle 2" in error and str(staging / "run.log") in error
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
    run_dir.record_failure({"seed": 0}, "RuntimeError: boom", "Traceback …")
    failure = json.loads((out / "failure.json").read_text())
    assert failure["error"] == "RuntimeError: boom" and failure["settings"] == {"seed": 0}
    assert "boom" in (out / "run.log").read_text()
    assert not (out / "config.json").exists()
    code, _, err = gd(capsys, run_args(out))  # a failed run is replaced without --force
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert not list(tmp_path.glob(".run.*"))  # the set-aside failure is gone too
