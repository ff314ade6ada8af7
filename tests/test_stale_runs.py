"""Results that cannot go stale: a run's code is recorded and compared, and a report ranks by the direction its
runs recorded (issue 13, items 2 and 3)."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from gd_apps.sweep import code_change
from gd_core.results import OLDER_GD
from gd_apps.sweep import _WORKER, FAILURES, RUNS, SWEEP_FILE
from tests.helpers import SMALL, gd

SMALL_PARAMS = [f"{kind}.{key}={value}" for kind, values in SMALL.items() for key, value in values.items()]

# An acquisition in a --plugin file: the lowest available positions; PICK is edited to make a new version.
LOWEST = '''
from gd_core import hookimpl

PICK = "lowest"


class Lowest:
    """The lowest (or, edited, the highest) available positions."""

    requires = ()

    def select(self, pool, model, batch_size, rng):
        if PICK == "broken":
            raise RuntimeError("this version of lowest is broken")
        chosen = pool.available[:batch_size] if PICK == "lowest" else pool.available[-batch_size:]
        return chosen


@hookimpl
def gd_register_acquisitions(register):
    register("lowest", Lowest)
'''

# docs/plugins.md's metric example, as a --plugin file.
MAE = '''
import numpy as np

from gd_core import hookimpl


class MeanAbsoluteError:
    """Test-set mean absolute error of the predicted mean."""

    def __call__(self, pool, model, truth):
        return float(np.mean(np.abs(truth.predicted_test - truth.y_test)))


@hookimpl
def gd_register_metrics(register):
    register("mae", MeanAbsoluteError, better="lower")
'''


def sweep_args(out: Path, *extra: str, acquisitions=("random", "lowest"), seeds: int = 2) -> list[str]:
    """`gd sweep` of a small simulated grid on random forests (2 cycles of 10 genes)."""
    args = ["sweep", "--out", str(out), "--assay", "simulated", "--descriptor", "simulated", "--model",
            "random_forest", "--seeds", str(seeds), "--cycles", "2", "--batch-size", "10", "--jobs", "1"]
    args += [a for q in acquisitions for a in ("--acquisition", q)]
    args += [a for p in SMALL_PARAMS for a in ("--param", p)]
    return [*args, *extra]


def snapshot(out: Path) -> dict[str, dict[str, tuple[bytes, int]]]:
    """Every run directory's files: content and modification time, by run key."""
    return {d.name: {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in sorted(d.iterdir())}
            for d in sorted((out / RUNS).iterdir())}


def acquisition_of(out: Path) -> dict[str, str]:
    """Each run's acquisition, by key."""
    runs = json.loads((out / SWEEP_FILE).read_text())["runs"]
    return {key: settings["acquisition"] for key, settings in runs.items()}


def flat(text: str) -> str:
    return " ".join(text.split())


def stale_lines(stdout: str) -> list[str]:
    """The dry run's one line per stale run: ``stale LABEL: WHY``."""
    return [line.strip() for line in stdout.splitlines() if line.startswith("  stale ")]


@pytest.fixture
def lowest(tmp_path) -> Path:
    plugin = tmp_path / "lowest.py"
    plugin.write_text(LOWEST)
    return plugin


def test_an_edited_plugin_file_makes_only_its_runs_stale_and_a_plain_sweep_redoes_only_those(tmp_path, capsys,
                                                                                              lowest):
    out = tmp_path / "sweep"
    args = sweep_args(out, "--plugin", str(lowest))
    assert gd(capsys, args)[0] == 0
    before = snapshot(out)
    by_acquisition = acquisition_of(out)
    ours = {key for key, name in by_acquisition.items() if name == "lowest"}
    builtin = set(by_acquisition) - ours
    assert len(ours) == len(builtin) == 2

    lowest.write_text(LOWEST.replace('PICK = "lowest"', 'PICK = "highest"'))

    # The dry run: the plugin's runs are stale, saying why; the built-in runs are done; nothing is written.
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0
    assert re.search(r"^done: 2 runs\b", stdout, re.M) and re.search(r"^stale: 2 runs\b", stdout, re.M)
    assert re.search(r"^missing: 0 runs$", stdout, re.M) and re.search(r"^failed: 0 runs$", stdout, re.M)
    lines = stale_lines(stdout)
    assert len(lines) == 2 and all("/lowest b10 s" in line for line in lines)
    assert all(re.search(r": acquisition lowest: plugin file changed \(sha256:[0-9a-f]{8}… → [0-9a-f]{8}…\)$", line)
               for line in lines), lines
    assert snapshot(out) == before

    # --keep-stale keeps them, and says so.
    code, _, err = gd(capsys, [*args, "--keep-stale"])
    assert code == 0 and "kept 2 stale runs" in flat(err) and "--keep-stale" in flat(err)
    assert "4 finished already, 0 to run" in flat(err)
    assert snapshot(out) == before

    # A plain sweep redoes the two stale runs with the edited code, and leaves the built-in runs untouched.
    code, _, err = gd(capsys, args)
    assert code == 0, err
    assert "2 finished already, 2 to run" in flat(err) and "2 of them redone because they were stale" in flat(err)
    after = snapshot(out)
    assert {key: after[key] for key in builtin} == {key: before[key] for key in builtin}
    for key in ours:
        assert after[key]["config.json"][1] != before[key]["config.json"][1]
        # The new code ran: "highest" picks other genes than "lowest" did.
        assert after[key]["selections.csv"][0] != before[key]["selections.csv"][0]
        recorded = json.loads(after[key]["config.json"][0])["code"]["acquisition"]
        assert recorded == "sha256:" + hashlib.sha256(lowest.read_bytes()).hexdigest()[:16]
    assert not list((out / RUNS).glob(".*"))  # no staging or set-aside directory left behind

    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert re.search(r"^done: 4 runs\b", stdout, re.M) and re.search(r"^stale: 0 runs$", stdout, re.M)


FAKE_PLUGIN = '''
from gd_core import hookimpl


class Fake:
    """Random picks."""

    requires = ()

    def select(self, pool, model, batch_size, rng):
        return rng.choice(pool.available, batch_size, replace=False)


@hookimpl
def gd_register_acquisitions(register):
    register("fake", Fake)
'''


def install_fake_distribution(site: Path, version: str, *, editable: bool = False) -> None:
    """An installed distribution ``gdisco-fake`` (metadata and entry point only) at ``version``, in ``site``;
    ``editable`` marks it as ``pip install -e`` does (PEP 610's direct_url.json)."""
    for old in site.glob("gdisco_fake-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"gdisco_fake-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: gdisco-fake\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[gd.plugins]\nfake = gd_fake_plugin\n")
    (site / "gd_fake_plugin.py").write_text(FAKE_PLUGIN)
    if editable:
        (info / "direct_url.json").write_text(json.dumps({"url": site.as_uri(), "dir_info": {"editable": True}}))
    importlib.invalidate_caches()


def test_a_new_version_of_an_installed_plugin_makes_only_its_runs_stale(tmp_path, capsys, monkeypatch):
    site = tmp_path / "site"
    install_fake_distribution(site, "0.1.0")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("GD_LOAD_PLUGINS", "gdisco-fake")
    monkeypatch.delitem(sys.modules, "gd_fake_plugin", raising=False)
    _WORKER.clear()
    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random", "fake"))
    try:
        assert gd(capsys, args)[0] == 0
        before = snapshot(out)

        install_fake_distribution(site, "0.1.1")
        code, stdout, _ = gd(capsys, [*args, "--dry-run"])
        assert code == 0 and re.search(r"^done: 2 runs\b", stdout, re.M)
        lines = stale_lines(stdout)
        assert len(lines) == 2 and all(line.endswith("/fake b10 s0: acquisition fake: gdisco-fake 0.1.0 → 0.1.1")
                                       or line.endswith("/fake b10 s1: acquisition fake: gdisco-fake 0.1.0 → 0.1.1")
                                       for line in lines), lines

        # A worker still holding the old version (a long-lived Dask worker, here this process's) makes stale runs
        # again: the sweep says so rather than claim them redone for good.
        code, _, err = gd(capsys, args)
        assert code == 0 and "2 runs made just now are stale already" in flat(err)
        assert "gdisco-fake 0.1.0 → 0.1.1" in flat(err) and "install the same versions" in flat(err)

        _WORKER.clear()  # a new `gd sweep` is a new process: its workers load the new version
        code, _, err = gd(capsys, args)
        assert code == 0 and "2 of them redone because they were stale" in flat(err) and "warning" not in err
        after = snapshot(out)
        ours = {key for key, name in acquisition_of(out).items() if name == "fake"}
        assert {k: v for k, v in after.items() if k not in ours} == {k: v for k, v in before.items() if k not in ours}
        assert all(json.loads(after[key]["config.json"][0])["code"]["acquisition"] == "gdisco-fake==0.1.1"
                   for key in ours)
    finally:
        _WORKER.clear()  # its host holds the fake plugin


def test_editing_an_editable_installed_plugin_makes_its_runs_stale(tmp_path, capsys, monkeypatch):
    # `pip install -e` runs the source as it is now: the version alone cannot tell an edited plugin's results apart.
    site = tmp_path / "site"
    install_fake_distribution(site, "0.1.0", editable=True)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("GD_LOAD_PLUGINS", "gdisco-fake")
    monkeypatch.delitem(sys.modules, "gd_fake_plugin", raising=False)
    _WORKER.clear()
    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random", "fake"), seeds=1)
    try:
        assert gd(capsys, args)[0] == 0
        recorded = {json.loads((out / "runs" / key / "config.json").read_text())["code"]["acquisition"]
                    for key, name in acquisition_of(out).items() if name == "fake"}
        assert len(recorded) == 1 and re.fullmatch(r"gdisco-fake==0\.1\.0\+sha256:[0-9a-f]{16}", recorded.pop())
        code, stdout, _ = gd(capsys, [*args, "--dry-run"])
        assert code == 0 and not stale_lines(stdout)  # unchanged source: nothing stale

        plugin = site / "gd_fake_plugin.py"
        plugin.write_text(plugin.read_text() + "\n# an edit\n")
        code, stdout, _ = gd(capsys, [*args, "--dry-run"])
        lines = stale_lines(stdout)
        assert code == 0 and len(lines) == 1 and "/fake b10 s0: acquisition fake: gdisco-fake 0.1.0+sha256:" in lines[0]
        assert re.search(r"^done: 1 run", stdout, re.M)  # the built-in run is not touched
    finally:
        _WORKER.clear()


def test_a_stale_run_whose_redo_fails_is_kept_until_a_redo_succeeds(tmp_path, capsys, lowest):
    out = tmp_path / "sweep"
    args = sweep_args(out, "--plugin", str(lowest), seeds=1)
    assert gd(capsys, args)[0] == 0
    before = snapshot(out)
    (key,) = [k for k, name in acquisition_of(out).items() if name == "lowest"]

    lowest.write_text(LOWEST.replace('PICK = "lowest"', 'PICK = "broken"'))
    code, _, err = gd(capsys, args)

    assert code == 1 and "the earlier finished run is kept" in flat(err)
    assert snapshot(out) == before  # the finished run stays whole until a new one is complete
    assert (out / FAILURES / key / "failure.json").is_file()
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert re.search(r"^stale: 1 run\b", stdout, re.M)


def test_a_new_gd_version_makes_every_run_stale(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random",))
    assert gd(capsys, args)[0] == 0
    now = json.loads(next((out / RUNS).glob("*/config.json")).read_text())["code"]["gd"]

    monkeypatch.setattr("gd_core.plugins.gd_version", lambda: "99.0.0")
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])

    assert code == 0 and re.search(r"^stale: 2 runs\b", stdout, re.M)
    assert all(line.endswith(f": gd {now} → 99.0.0") for line in stale_lines(stdout)) and stale_lines(stdout)


def test_force_still_redoes_every_run_and_cannot_be_combined_with_keep_stale(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random",))
    assert gd(capsys, args)[0] == 0
    code, _, err = gd(capsys, [*args, "--force"])
    assert code == 0 and "0 finished already, 2 to run" in flat(err) and "stale" not in err
    code, _, err = gd(capsys, [*args, "--force", "--keep-stale"])
    assert code == 1 and err.strip().count("\n") == 0 and "drop one of them" in err


def test_the_phrase_says_what_changed():
    settings = {"descriptor": "gene_ontology", "assay": "simulated", "model": "random_forest",
                "acquisition": "thompson"}
    recorded = {"gd": "0.1.0", "acquisition": "gdisco-thompson==0.1.0", "metric:mae": "sha256:0123456789abcdef"}
    assert code_change(recorded, {**recorded, "acquisition": "gdisco-thompson==0.1.1"}, settings) == \
        "acquisition thompson: gdisco-thompson 0.1.0 → 0.1.1"
    assert code_change(recorded, {**recorded, "metric:mae": "gdisco-mae==1.0"}, settings) == \
        "metric mae: plugin file sha256:0123456789abcdef → gdisco-mae 1.0"
    assert code_change(recorded, {**recorded, "gd": "0.2.0", "acquisition": "x==1"}, settings) == \
        "gd 0.1.0 → 0.2.0; acquisition thompson: gdisco-thompson 0.1.0 → x 1"
    assert code_change(recorded, {**recorded, "acquisition": None}, settings) is None  # not loaded now: unknown
    assert code_change(recorded, dict(recorded), settings) is None
    assert code_change(None, recorded, settings) == OLDER_GD


def rewrite_manifests(out: Path, change) -> None:
    for path in (out / RUNS).glob("*/config.json"):
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))


def test_runs_written_before_code_records_are_derived_when_exact_and_stale_otherwise(tmp_path, capsys, lowest):
    out = tmp_path / "sweep"
    args = sweep_args(out, "--plugin", str(lowest), seeds=1)
    assert gd(capsys, args)[0] == 0

    # Written by the gd before: no "code", built-ins recorded under the distribution "gd", a file plugin without
    # its hash. The built-in run's code follows from its components; the file plugin's cannot.
    def older(manifest):
        del manifest["code"]
        for component in manifest["components"].values():
            component.pop("summary"), component.pop("better", None)
            if component["plugin"].startswith("builtin."):
                component["distribution"] = "gd"
            else:
                component["version"] = ""
    rewrite_manifests(out, older)
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0 and re.search(r"^done: 1 run\b", stdout, re.M)
    assert stale_lines(stdout) == [f"stale simulated/simulated/random_forest/lowest b10 s0: {OLDER_GD}"]

    # Older still: no components either. Every command copes; the report says how many runs are stale.
    rewrite_manifests(out, lambda manifest: manifest.pop("components"))
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0 and re.search(r"^stale: 2 runs\b", stdout, re.M)
    code, _, err = gd(capsys, ["report", str(out), "--plugin", str(lowest)])
    assert code == 0 and "2 of 2 finished runs are stale" in flat(err) and OLDER_GD in flat(err)
    code, _, err = gd(capsys, ["plot", str(out), "-o", str(tmp_path / "curves.png"), "--plugin", str(lowest)])
    assert code == 0 and "2 of 2 finished runs are stale" in flat(err)
    code, _, err = gd(capsys, args)
    assert code == 0 and "2 of them redone because they were stale" in flat(err)
    assert all("code" in json.loads(p.read_text()) for p in (out / RUNS).glob("*/config.json"))


def test_a_run_whose_config_json_is_not_json_is_stale_not_a_crash(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random",), seeds=1)
    assert gd(capsys, args)[0] == 0
    (path,) = (out / RUNS).glob("*/config.json")
    path.write_text("{not json")
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0 and stale_lines(stdout)[0].endswith(": its config.json cannot be read")
    assert gd(capsys, args)[0] == 0 and json.loads(path.read_text())["code"]


# ------------------------------------------------------------------------------ the report's direction

def final_mae_ranks(capsys, out: Path, *extra: str) -> tuple[dict[str, tuple[float, int]], dict]:
    code, stdout, err = gd(capsys, ["report", str(out), "--metric", "mae", "--json", *extra])
    assert code == 0, err
    report = json.loads(stdout)
    return {row["acquisition"]: (row["final_mae_mean"], row["final_mae_rank"]) for row in report["summary"]}, report


def test_report_ranks_a_plugin_file_s_lower_is_better_metric_smallest_first_even_after_the_file_is_gone(
        tmp_path, capsys, lowest):
    mae = tmp_path / "mae.py"
    mae.write_text(MAE)
    out = tmp_path / "sweep"
    args = sweep_args(out, "--plugin", str(lowest), "--plugin", str(mae), "--metric", "mae", "--metric", "hit_ratio")
    assert gd(capsys, args)[0] == 0
    manifest = json.loads(next((out / RUNS).glob("*/config.json")).read_text())
    assert manifest["components"]["metric:mae"]["better"] == "lower"
    assert manifest["components"]["metric:mae"]["summary"] == "Test-set mean absolute error of the predicted mean."

    for extra in (["--plugin", str(mae), "--plugin", str(lowest)], []):
        ranks, report = final_mae_ranks(capsys, out, *extra)
        means = {name: mean for name, (mean, _) in ranks.items()}
        assert means["random"] != means["lowest"]  # otherwise the ranking would prove nothing
        smallest = min(means, key=means.get)
        assert ranks[smallest][1] == 1 and ranks[max(means, key=means.get)][1] == 2
        assert report["lower_is_better"] == ["mae"] and report["runs"]["stale"] == []
        code, stdout, _ = gd(capsys, ["report", str(out), "--metric", "mae", "--format", "markdown", *extra])
        assert code == 0 and re.search(rf"\| {smallest} \| 2 \| [^|]* \(1\) \|", stdout)
    mae.unlink()
    ranks_without_file, _ = final_mae_ranks(capsys, out)
    assert ranks_without_file == ranks


def test_a_report_of_runs_that_recorded_only_a_plugin_metric_shows_it_and_names_the_others(tmp_path, capsys):
    mae = tmp_path / "mae.py"
    mae.write_text(MAE)
    out = tmp_path / "sweep"
    assert gd(capsys, sweep_args(out, "--plugin", str(mae), "--metric", "mae", acquisitions=("random",)))[0] == 0

    code, stdout, err = gd(capsys, ["report", str(out), "--json"])  # no --metric: the runs' own metric
    assert code == 0 and json.loads(stdout)["metrics"] == ["mae"], err

    both = tmp_path / "both"
    assert gd(capsys, sweep_args(both, "--plugin", str(mae), "--metric", "mse", "--metric", "mae",
                                 acquisitions=("random",)))[0] == 0
    code, stdout, err = gd(capsys, ["report", str(both), "--json"])
    assert code == 0 and json.loads(stdout)["metrics"] == ["mse"]
    assert "also recorded: mae (add `--metric NAME` for each metric to report)" in err


def test_runs_that_disagree_on_a_metric_s_direction_are_one_error_line_naming_both(tmp_path, capsys):
    mae = tmp_path / "mae.py"
    mae.write_text(MAE)
    out = tmp_path / "sweep"
    assert gd(capsys, sweep_args(out, "--plugin", str(mae), "--metric", "mae", acquisitions=("random",)))[0] == 0
    first, second = sorted((out / RUNS).glob("*/config.json"))
    manifest = json.loads(first.read_text())
    manifest["components"]["metric:mae"]["better"] = "higher"
    first.write_text(json.dumps(manifest))

    code, _, err = gd(capsys, ["report", str(out), "--metric", "mae"])

    assert code == 1 and err.strip().count("\n") == 0
    assert "metric 'mae' is lower-is-better in run" in err and "but higher-is-better in run" in err
    assert first.parent.name in err and second.parent.name in err


def test_old_runs_with_no_recorded_direction_use_the_loaded_plugin_or_say_they_guess(tmp_path, capsys):
    mae = tmp_path / "mae.py"
    mae.write_text(MAE)
    out = tmp_path / "sweep"
    assert gd(capsys, sweep_args(out, "--plugin", str(mae), "--metric", "mae",
                                 acquisitions=("random", "topuncertain")))[0] == 0
    ranks, _ = final_mae_ranks(capsys, out)
    rewrite_manifests(out, lambda manifest: (manifest.pop("code"), manifest.pop("components")))

    assert final_mae_ranks(capsys, out, "--plugin", str(mae))[0] == ranks  # the loaded plugin says lower
    code, _, err = gd(capsys, ["report", str(out), "--metric", "mae", "--format", "csv"])
    assert code == 0 and "metric 'mae': neither its runs nor a loaded plugin say whether lower is better" in flat(err)
    guessed, _ = final_mae_ranks(capsys, out)  # higher taken as better: the order turns round
    assert {name: rank for name, (_, rank) in guessed.items()} == {name: 3 - rank for name, (_, rank) in ranks.items()}


# ------------------------------------------------------------------------------------------ cosmetic

def test_sweep_report_and_plot_helps_end_their_lists_and_offer_plugin(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for command in ("sweep", "report", "plot"):
        code, stdout, _ = gd(capsys, [command, "--help"])
        assert code == 0 and ", )" not in stdout and ",)" not in stdout
        assert "--plugin" in stdout
    assert "--keep-stale" in gd(capsys, ["sweep", "--help"])[1]
    assert "params.KIND)" in flat(gd(capsys, ["sweep", "--help"])[1].replace("│", " "))


def test_a_changed_default_makes_only_the_runs_that_took_it_stale_and_a_plain_sweep_redoes_them(
        tmp_path, capsys, monkeypatch):
    # gd's own components follow gd's version, which a change of default within one version leaves alone: the
    # parameter values each run recorded are compared with what the defaults would give now.
    from gd_plugins_builtin.diversity import _KMeans

    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("random", "kmeans_data"), seeds=1)
    set_by_user = sweep_args(tmp_path / "own", "--param", "kmeans_data.n_init=1", acquisitions=("kmeans_data",),
                             seeds=1)
    assert gd(capsys, args)[0] == 0 and gd(capsys, set_by_user)[0] == 0
    before = snapshot(out)

    monkeypatch.setattr(_KMeans.__init__, "__defaults__", (2, 50, 50_000))  # n_init 1 → 2
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0 and stale_lines(stdout) == ["stale simulated/simulated/random_forest/kmeans_data b10 s0: "
                                                 "acquisition kmeans_data: n_init 1 → 2"]
    assert not stale_lines(gd(capsys, [*set_by_user, "--dry-run"])[1])  # it set n_init itself
    assert "made by other code or defaults than now (acquisition kmeans_data: n_init 1 → 2)" in \
        flat(gd(capsys, ["report", str(out)])[2])

    code, _, err = gd(capsys, args)
    assert code == 0 and "1 of them redone because they were stale" in flat(err)
    after = snapshot(out)
    (redone,) = [key for key, name in acquisition_of(out).items() if name == "kmeans_data"]
    assert {k: v for k, v in after.items() if k != redone} == {k: v for k, v in before.items() if k != redone}
    assert json.loads(after[redone]["config.json"][0])["parameters"]["acquisition"]["n_init"] == 2
    assert not stale_lines(gd(capsys, [*args, "--dry-run"])[1])


def test_declared_defaults_are_compared_and_for_older_runs_the_values_they_held():
    from gd_apps.sweep import CodeBook, parameter_change
    from gd_core.plugins import PluginHost

    code = CodeBook(PluginHost(entry_points=False).registries)
    settings = {"model": "random_forest", "acquisition": "random", "params": {}}
    declared = code.declared_defaults("model", "random_forest")
    assert declared["n_estimators"] == 100 and declared["n_jobs"] is None
    held = code.resolved_defaults("model", "random_forest", {})
    assert held["n_estimators"] == 100 and "n_jobs" not in held  # None: resolved by the worker (its cores)

    # A run that recorded the declared defaults: those are compared, whatever values its components held.
    then = {"model": {**declared, "n_estimators": 50}}
    assert parameter_change({"model": {"n_estimators": 50, "n_jobs": 7}}, then, code, settings) == \
        "model random_forest: n_estimators 50 → 100"
    assert parameter_change({"model": {"n_estimators": 3, "n_jobs": 7}}, {"model": declared}, code, settings) is None
    assert parameter_change(None, then, code, {**settings, "params": {"model": {"n_estimators": 50}}}) is None
    # An older run: the values it held are compared with what a run would hold now.
    assert parameter_change({"model": {**held, "n_jobs": 7}}, None, code, settings) is None
    assert parameter_change({"model": {**held, "n_estimators": 50}}, None, code, settings) == \
        "model random_forest: n_estimators 50 → 100"
    assert parameter_change(None, None, code, settings) is None  # recorded before gd kept either
    assert code.declared_defaults("model", "no_such_model") == {}  # not registered here: nothing to compare
    assert code.resolved_defaults("model", "no_such_model", {}) == {}


def test_a_run_recorded_before_declared_defaults_were_kept_is_judged_by_the_values_it_held(
        tmp_path, capsys, monkeypatch):
    from gd_plugins_builtin.diversity import _KMeans

    out = tmp_path / "sweep"
    args = sweep_args(out, acquisitions=("kmeans_data",), seeds=1)
    assert gd(capsys, args)[0] == 0
    manifest = next((out / RUNS).glob("*/config.json"))
    older = json.loads(manifest.read_text())
    del older["defaults"]
    manifest.write_text(json.dumps(older))
    assert not stale_lines(gd(capsys, [*args, "--dry-run"])[1])

    monkeypatch.setattr(_KMeans.__init__, "__defaults__", (2, 50, 50_000))
    assert stale_lines(gd(capsys, [*args, "--dry-run"])[1]) == [
        "stale simulated/simulated/random_forest/kmeans_data b10 s0: acquisition kmeans_data: n_init 1 → 2"]


# An acquisition whose default is an object without a repr of its own: its text in config.json names a memory
# address, different in every process.
OPAQUE = '''
from gd_core import hookimpl


class Rule:
    pass


class Opaque:
    """The lowest available positions; ``rule`` is kept but not used."""

    requires = ()

    def __init__(self, rule=Rule(), offset=0):
        self.rule = rule
        self.offset = offset

    def select(self, pool, model, batch_size, rng):
        return pool.available[self.offset:self.offset + batch_size]


@hookimpl
def gd_register_acquisitions(register):
    register("opaque", Opaque)
'''


def test_a_default_recorded_as_text_is_not_compared_so_a_finished_run_stays_done(tmp_path, capsys):
    plugin = tmp_path / "opaque.py"
    plugin.write_text(OPAQUE)
    out = tmp_path / "sweep"
    args = sweep_args(out, "--plugin", str(plugin), acquisitions=("opaque",), seeds=1)
    assert gd(capsys, args)[0] == 0
    recorded = json.loads(next((out / RUNS).glob("*/config.json")).read_text())["parameters"]["acquisition"]
    assert recorded["offset"] == 0 and " at 0x" in recorded["rule"]  # what it used, in words

    _WORKER.clear()  # another process: the same default object is now at another address
    code, stdout, _ = gd(capsys, [*args, "--dry-run"])
    assert code == 0 and not stale_lines(stdout) and re.search(r"^done: 1 run\b", stdout, re.M)
