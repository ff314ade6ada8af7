"""The Python API (issue 14): ``gd_core.run``, ``sweep``, ``propose`` and ``Campaign`` give what the commands give —
the same files byte for byte, the same tables, the same defaults, and the same one-line refusals as GdError —
and ``import gd_core`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer

import gd_core
from gd_apps import api, cli
from gd_apps.campaign import Campaign
from gd_core.errors import GdError
from gd_core.loader import reset
from gd_core.plugins import PluginHost
from tests.helpers import SMALL, gd

SIMULATED = {"assay": "simulated", "descriptor": "simulated", "model": "random_forest", "batch_size": 10,
             "cycles": 3, "params": SMALL}
PARAM_ARGS = [arg for kind, values in SMALL.items() for key, value in values.items()
              for arg in ("--param", f"{kind}.{key}={value}")]
FOREST = {"model": {"n_estimators": 10}}
PLATE = {"descriptor": "gene_ontology", "model": "random_forest", "acquisition": "topuncertain", "batch_size": 8}


@pytest.fixture(autouse=True)
def _fresh_process_host():
    """The API uses the process's plugin host; each test starts and ends without one."""
    reset()
    yield
    reset()


def run_argv(out: Path, acquisition: str, *extra: str) -> list[str]:
    return ["run", "--assay", "simulated", "--descriptor", "simulated", "--model", "random_forest", "--acquisition",
            acquisition, "--batch-size", "10", "--cycles", "3", *PARAM_ARGS, "--out", str(out), *extra]


def error_line(capsys, argv: list[str]) -> str:
    """The one ``error:`` line of a refused command, without its prefix."""
    code, _, err = gd(capsys, argv)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0].removeprefix("error: ")


# 1. run


@pytest.mark.parametrize("acquisition", ["random", "topuncertain"])
def test_run_writes_the_files_gd_run_writes_byte_for_byte_and_returns_them_as_tables(acquisition, tmp_path, capsys):
    code, out, err = gd(capsys, run_argv(tmp_path / "cli", acquisition, "--json"))
    assert code == 0, err

    result = gd_core.run(acquisition=acquisition, out=tmp_path / "api", seed=0, **SIMULATED)

    for name in ("metrics.csv", "selections.csv"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert result.path == tmp_path / "api"
    pd.testing.assert_frame_equal(result.metrics, pd.read_csv(tmp_path / "cli" / "metrics.csv"))
    pd.testing.assert_frame_equal(result.selections, pd.read_csv(tmp_path / "cli" / "selections.csv", dtype={"gene": str}))
    assert result.wide().to_dict(orient="records") == json.loads(out)["cycles"]
    manifest = json.loads((tmp_path / "api" / "config.json").read_text())
    assert manifest["settings"] == result.config == json.loads((tmp_path / "cli" / "config.json").read_text())["settings"]
    assert manifest["command"] == result.command and result.command[:2] == ["gd", "run"]
    # the recorded command line makes the same run
    assert gd(capsys, [*result.command[1:], "--out", str(tmp_path / "again")])[0] == 0
    assert (tmp_path / "again" / "selections.csv").read_bytes() == (tmp_path / "api" / "selections.csv").read_bytes()


def test_run_without_out_writes_nothing_and_equals_a_run_with_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kept = gd_core.run(acquisition="topuncertain", out="kept", **SIMULATED)

    alone = gd_core.run(acquisition="topuncertain", **SIMULATED)

    assert alone.path is None and sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    pd.testing.assert_frame_equal(alone.metrics, kept.metrics)
    pd.testing.assert_frame_equal(alone.selections, kept.selections)


def test_run_takes_params_and_metrics_as_the_command_line_spells_them(tmp_path):
    as_dict = gd_core.run(acquisition="random", metrics="mse", **SIMULATED)

    as_text = gd_core.run(**{**SIMULATED, "params": PARAM_ARGS[1::2]}, acquisition="random", metrics=["mse"],
                          split_seed="0")

    pd.testing.assert_frame_equal(as_dict.metrics, as_text.metrics)
    assert list(as_dict.metrics["metric"].unique()) == ["mse"]


def test_run_has_the_defaults_of_gd_run():
    command = typer.main.get_command(cli.build_app(PluginHost())).commands["run"]
    options = {param.name: param.default for param in command.params}
    parameters = api.run.__kwdefaults__

    for name, default in api.RUN_DEFAULTS.items():
        assert parameters[name] == default
        assert str(options[name]) == str(default), name  # --split-seed is text on the command line
    assert parameters["metrics"] is None and options["metric"] is None
    assert parameters["params"] is None and options["param"] is None


REFUSED_RUNS = [
    ({"batch_size": 0}, ["--batch-size", "0"]),
    ({"cycles": -1}, ["--cycles", "-1"]),
    ({"model": "forest"}, ["--model", "forest"]),
    ({"acquisition": "topuncertian"}, ["--acquisition", "topuncertian"]),
    ({"test_fraction": 1.5}, ["--test-fraction", "1.5"]),
    ({"split_seed": "first"}, ["--split-seed", "first"]),
    ({"params": ["acquisitoin.temperature=2"]}, ["--param", "acquisitoin.temperature=2"]),
    ({"params": ["model.depth=2"]}, ["--param", "model.depth=2"]),
    ({"metrics": ["mse", "mse"]}, ["--metric", "mse", "--metric", "mse"]),
    ({"batch_size": 400}, ["--batch-size", "400"]),  # more genes than the pool holds: refused after loading
]


@pytest.mark.parametrize(("given", "argv"), REFUSED_RUNS, ids=[str(g) for g, _ in REFUSED_RUNS])
def test_run_refuses_what_gd_run_refuses_with_its_line_and_writes_nothing(given, argv, tmp_path, capsys):
    expected = error_line(capsys, run_argv(tmp_path / "cli", "random", *argv))

    with pytest.raises(GdError) as refused:
        gd_core.run(**{**SIMULATED, "acquisition": "random", "out": tmp_path / "api", **given})

    assert str(refused.value) == expected.replace(str(tmp_path / "cli"), str(tmp_path / "api"))
    assert not (tmp_path / "api").exists()


def test_run_into_a_finished_out_is_refused_as_gd_run_refuses_it_and_force_replaces_it(tmp_path, capsys):
    assert gd(capsys, run_argv(tmp_path / "out", "random"))[0] == 0
    expected = error_line(capsys, run_argv(tmp_path / "out", "random"))

    with pytest.raises(GdError, match="^" + expected.replace("(", r"\(").replace(")", r"\)") + "$"):
        gd_core.run(acquisition="random", out=tmp_path / "out", **SIMULATED)
    replaced = gd_core.run(acquisition="random", out=tmp_path / "out", force=True, seed=1, **SIMULATED)

    assert json.loads((tmp_path / "out" / "config.json").read_text())["settings"]["seed"] == 1 == replaced.config["seed"]


def test_a_run_that_fails_midway_is_one_line_naming_where_its_log_is(tmp_path):
    class Breaks:
        @gd_core.hookimpl
        def gd_register_models(self, register):
            register("breaks", Broken)

    with pytest.raises(GdError) as refused:
        gd_core.run(**{**SIMULATED, "params": {k: v for k, v in SMALL.items() if k != "model"}, "model": "breaks"},
                    acquisition="random", plugins=[Breaks()], out=tmp_path / "out")

    message = str(refused.value)
    assert "\n" not in message and message.startswith("run failed: model 'breaks'")
    assert f"nothing was published to --out {tmp_path / 'out'}" in message and "the traceback is in its run.log" in message


class Broken:
    """A model whose fit raises."""

    def fit(self, X, y, rng):
        raise RuntimeError("out of reagent")

    def predict(self, X):
        raise AssertionError("never fitted")


# 2. sweep and report


SWEEP_ARGS = ["--assay", "simulated", "--descriptor", "simulated", "--model", "random_forest", "--acquisition",
              "random", "--acquisition", "topuncertain", "--batch-size", "10", "--seeds", "2", "--cycles", "3",
              *PARAM_ARGS, "--jobs", "1"]


def test_sweep_makes_the_runs_gd_sweep_makes_and_report_gives_gd_reports_tables(tmp_path, capsys):
    code, _, err = gd(capsys, ["sweep", "--out", str(tmp_path / "cli"), *SWEEP_ARGS])
    assert code == 0, err

    made = gd_core.sweep(out=tmp_path / "api", assay="simulated", descriptor="simulated", model="random_forest",
                         acquisition=["random", "topuncertain"], batch_size=10, seeds=2, cycles=3, params=SMALL, jobs=1)

    keys = sorted(p.name for p in (tmp_path / "cli" / "runs").iterdir())
    assert sorted(made.runs["key"]) == keys and len(keys) == 4 and set(made.runs["state"]) == {"done"}
    for key in keys:
        for name in ("metrics.csv", "selections.csv"):
            assert (tmp_path / "api" / "runs" / key / name).read_bytes() == \
                (tmp_path / "cli" / "runs" / key / name).read_bytes()
    assert made.summary.total == 4 and len(made.summary.outcomes) == 4
    assert len(made.metrics) == 4 * 3 * 3 and set(made.metrics["key"]) == set(keys)

    tables = made.report(metrics=["mse", "hit_ratio"])
    for what in ("summary", "differences", "baselines"):
        code, out, err = gd(capsys, ["report", str(tmp_path / "cli"), "--format", "csv", "--what", what])
        assert code == 0, err
        assert tables[what].to_csv(index=False, lineterminator="\n") == out, what
    assert set(tables["summary"]["acquisition"]) == {"random", "topuncertain"}
    assert set(tables) == set(api.REPORT_TABLES)


def test_sweep_resumes_like_gd_sweep_and_an_opened_directory_reads_the_same(tmp_path):
    settings = {"assay": "simulated", "descriptor": "simulated", "model": "random_forest", "acquisition": "random",
                "batch_size": 10, "seeds": 1, "cycles": 2, "params": SMALL, "jobs": 1}
    first = gd_core.sweep(out=tmp_path / "s", **settings)

    again = gd_core.sweep(out=tmp_path / "s", **{**settings, "seeds": 2})

    assert len(first.summary.outcomes) == 1 and again.summary.already_done == 1 and len(again.summary.outcomes) == 1
    opened = api.SweepResult(tmp_path / "s")
    pd.testing.assert_frame_equal(opened.runs, again.runs)
    assert opened.summary is None and len(opened.runs) == 2


REFUSED_SWEEPS = [
    ({"acquisition": "nope"}, ["--acquisition", "nope"]),
    ({"seeds": 0}, ["--seeds", "0"]),
    ({"test_fraction": 0.0}, ["--test-fraction", "0"]),
    ({"force": True, "keep_stale": True}, ["--force", "--keep-stale"]),
    ({"jobs": 0}, ["--jobs", "0"]),
    ({"params": {"forest": {"n_estimators": 3}}}, ["--param", "forest.n_estimators=3"]),
]


@pytest.mark.parametrize(("given", "argv"), REFUSED_SWEEPS, ids=[str(g) for g, _ in REFUSED_SWEEPS])
def test_sweep_refuses_what_gd_sweep_refuses_with_its_line(given, argv, tmp_path, capsys):
    base = {"assay": "simulated", "descriptor": "simulated", "model": "random_forest", "seeds": 1, "cycles": 2}
    expected = error_line(capsys, ["sweep", "--out", str(tmp_path / "s"), "--assay", "simulated", "--descriptor",
                                   "simulated", "--model", "random_forest", "--seeds", "1", "--cycles", "2", *argv])

    with pytest.raises(GdError) as refused:
        gd_core.sweep(out=tmp_path / "s", **{**base, **given})

    assert str(refused.value) == expected
    assert not (tmp_path / "s").exists()


def test_sweep_refuses_a_plugin_object_its_workers_could_not_load(tmp_path):
    with pytest.raises(GdError, match="is not a .py file; a sweep's workers load plugins from files"):
        gd_core.sweep(out=tmp_path / "s", plugins=[object()])


def test_report_of_a_directory_that_is_no_sweep_is_gd_reports_line(tmp_path, capsys):
    expected = error_line(capsys, ["report", str(tmp_path)])

    with pytest.raises(GdError) as refused:
        api.report(tmp_path)

    assert str(refused.value) == expected


# 3. propose and Campaign


def lab_results(path: Path, genes: list[str]) -> Path:
    """Measured values for ``genes``: the screen's own, as a lab would send them."""
    screen = gd_core.load("assay", "schmidt_2021_il2")
    screen.reindex(genes).dropna().rename_axis("gene").rename("value").reset_index().to_csv(path, index=False)
    return path


def test_propose_gives_the_plate_gd_propose_writes_from_files_or_a_dataframe(tmp_path, capsys):
    first = gd_core.propose(measured=None, params=FOREST, **PLATE)
    results = lab_results(tmp_path / "results-0.csv", list(first["gene"]))
    argv = ["propose", "--measured", str(results), "--descriptor", "gene_ontology", "--model", "random_forest",
            "--acquisition", "topuncertain", "--batch-size", "8", "--param", "model.n_estimators=10"]
    code, _, err = gd(capsys, [*argv, "--out", str(tmp_path / "cli.csv")])
    assert code == 0, err

    from_file = gd_core.propose(measured=results, params=FOREST, out=tmp_path / "api.csv", **PLATE)
    from_frame = gd_core.propose(measured=pd.read_csv(results), params=["model.n_estimators=10"], **PLATE)

    assert (tmp_path / "api.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    pd.testing.assert_frame_equal(from_file, from_frame)
    assert len(from_file) == 8 and not set(from_file["gene"]) & set(first["gene"])
    code, _, _ = gd(capsys, [*argv, "--out", str(tmp_path / "cli.csv")])
    with pytest.raises(GdError) as refused:
        gd_core.propose(measured=results, params=FOREST, out=tmp_path / "api.csv", **PLATE)
    assert str(refused.value) == f"--out {tmp_path / 'api.csv'} exists; pass --force to replace it, or choose another file"


@pytest.mark.parametrize(("given", "option"), [({"batch_size": 0}, ["--batch-size", "0"]),
                                              ({"model": "forest"}, ["--model", "forest"]),
                                              ({"seed": -1}, ["--seed", "-1"])])
def test_propose_refuses_what_gd_propose_refuses_with_its_line(given, option, tmp_path, capsys):
    settings = {**PLATE, **given}
    argv = ["propose", "--descriptor", "gene_ontology", "--model", settings["model"], "--acquisition", "topuncertain",
            "--batch-size", str(settings["batch_size"]), "--out", str(tmp_path / "plate.csv"),
            *(option if "seed" in given else [])]

    with pytest.raises(GdError) as refused:
        gd_core.propose(measured=None, **settings)

    assert str(refused.value) == error_line(capsys, argv)


def test_the_campaign_object_is_the_commands_campaign_and_three_rounds_match_gd_propose(tmp_path, capsys):
    assert gd_core.Campaign is api.Campaign is Campaign
    for method in ("init", "add", "propose", "status", "plot", "measurements", "settings", "proposal", "history"):
        assert hasattr(Campaign, method), method
    campaign = gd_core.Campaign.init(tmp_path / "c", params=FOREST, **PLATE)
    for round_ in range(3):
        plate = campaign.propose()
        campaign.add(lab_results(tmp_path / f"results-{round_}.csv", list(plate["gene"])))

    status = campaign.status(hit_threshold=0.39)

    assert list(status["round"]) == [0, 1, 2] and list(status["proposed"]) == [8, 8, 8]
    one_shot = gd_core.propose(measured=tmp_path / "c" / "measurements.csv", params=FOREST, **PLATE)
    assert list(campaign.propose()["gene"]) == list(one_shot["gene"])
    assert campaign.plot(tmp_path / "status.png", hit_threshold=0.39).stat().st_size > 0


# 4. the names, and what importing them costs


def test_the_api_names_are_gd_cores_lazily_and_import_gd_core_loads_no_pandas():
    code = ("import sys\n"
            "import gd_core\n"
            "light = sorted(m for m in ('pandas', 'numpy', 'gd_apps') if m in sys.modules)\n"
            "names = [getattr(gd_core, n).__module__ for n in ('run', 'sweep', 'propose')]\n"
            "print(light, names, gd_core.Campaign.__module__, 'pandas' in sys.modules)\n"
            "try:\n"
            "    gd_core.runn\n"
            "except AttributeError as e:\n"
            "    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[] ['gd_apps.api', 'gd_apps.api', 'gd_apps.api'] gd_apps.campaign True"
    assert lines[1] == "module 'gd_core' has no attribute 'runn'"
    assert {"run", "sweep", "propose", "Campaign", "load"} <= set(gd_core.__all__)


# 5. the documentation's Python runs as written


ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path, fence: str) -> str:
    """Every ``fence`` code block of a Markdown file, in order, as one program."""
    import re

    return "\n".join(re.findall(rf"```{fence}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S))


def test_docs_python_md_examples_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}

    exec(compile(python_blocks(ROOT / "docs" / "python.md", "python"), "docs/python.md", "exec"), namespace)

    assert namespace["result"].path is None and len(namespace["result"].selections) == 32 * 6
    assert set(namespace["tables"]) == set(api.REPORT_TABLES) and len(namespace["sweep"].runs) == 4
    status = namespace["campaign"].status(hit_threshold=0.39)
    assert list(status["round"]) == [0, 1, 2] and list(status["measured"]) == [32, 32, 32]
    assert list(namespace["plate"]["gene"]) == list(namespace["campaign"].propose()["gene"])  # one-shot = next plate
    assert namespace["small"].shape[1] == 64
    assert capsys.readouterr().out.splitlines()[-1] == "--batch-size must be a positive whole number, got 0"


def test_the_readme_python_example_proposes_what_the_readme_commands_propose(tmp_path, monkeypatch, capsys):
    """README's Python block is its `gd campaign` session in Python: run both, the plates are the same files."""
    monkeypatch.chdir(tmp_path)
    assert gd(capsys, ["data", "export", "schmidt_2021_il2", "il2-library.csv"])[0] == 0
    assert gd(capsys, ["campaign", "init", "il2-campaign", "--descriptor", "gene_ontology", "--model", "bnn",
                       "--acquisition", "topuncertain", "--batch-size", "32", "--only", "il2-library.csv"])[0] == 0
    for round_ in range(3):
        assert gd(capsys, ["campaign", "propose", "il2-campaign"])[0] == 0
        lab_results(tmp_path / f"results-{round_}.csv", list(Campaign("il2-campaign").proposal(round_)["gene"]))
        assert gd(capsys, ["campaign", "add", "il2-campaign", f"results-{round_}.csv"])[0] == 0

    exec(compile(python_blocks(ROOT / "README.md", "py"), "README.md", "exec"), {})

    for round_ in range(3):
        plate = Path(f"round-{round_}") / "proposal.csv"
        assert (tmp_path / "il2-py" / plate).read_bytes() == (tmp_path / "il2-campaign" / plate).read_bytes()
    assert "hits_cumulative" in capsys.readouterr().out
