"""The ``gd`` command line: run, list, list-plugins, --param parsing and one-line errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gd_core import GdError, hookimpl
from gd_apps import cli
from gd_apps.cli import parse_params
from gd_plugins_builtin.acquisitions import RandomAcquisition
from tests.helpers import RUN_FILES, gd, run_args

GD = Path(sys.executable).parent / "gd"


def only_error_line(stderr: str) -> str:
    """The whole of stderr, checked to be one ``error:`` line."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


class Echo:
    """Registers acquisition 'echo', which keeps the parameters it was built with."""

    def __init__(self) -> None:
        self.received: list[dict] = []

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("echo", self._build)

    def _build(self, **params) -> RandomAcquisition:
        self.received.append(params)
        return RandomAcquisition()


# gd run


def test_the_acceptance_command_runs_at_full_size(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [str(GD), "run", "--assay", "simulated", "--descriptor", "simulated", "--model", "random_forest",
         "--acquisition", "random", "--batch-size", "32", "--cycles", "5", "--seed", "0", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "GD_LOAD_PLUGINS": ""},
    )

    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == RUN_FILES
    with open(out / "selections.csv", newline="") as handle:
        assert len(list(csv.reader(handle))) == 1 + 32 * 5
    data = json.loads((out / "config.json").read_text())["data"]
    assert (data["n_genes"], data["n_test"]) == (20_000, 4_000)


def test_run_json_prints_the_metrics_per_cycle(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = gd(capsys, run_args(out, "--json", "--metric", "hit_ratio", "--metric", "mse"))
    printed = json.loads(stdout)  # stdout holds the JSON and nothing else

    assert code == 0
    assert set(printed) == {"out", "final", "cycles"}
    assert printed["out"] == str(out)
    assert [c["cycle"] for c in printed["cycles"]] == [0, 1, 2]
    assert [c["n_acquired"] for c in printed["cycles"]] == [10, 20, 30]
    assert list(printed["final"]) == ["hit_ratio", "mse"]
    assert printed["final"] == {k: printed["cycles"][-1][k] for k in ("hit_ratio", "mse")}
    assert {p.name for p in out.iterdir()} == RUN_FILES


def test_run_without_json_prints_a_table(tmp_path, capsys):
    code, stdout, _ = gd(capsys, run_args(tmp_path / "run"))

    assert code == 0
    assert "hit_ratio" in stdout and "spearman" in stdout


def test_params_reach_the_factory_typed(tmp_path, capsys, monkeypatch, host_with):
    echo = Echo()
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(echo, builtins=True))
    code, _, err = gd(capsys, run_args(
        tmp_path / "run", "--param", "acquisition.count=1", "--param", "acquisition.share=0.5",
        "--param", "acquisition.greedy=true", "--param", "acquisition.label=abc", acquisition="echo"))

    assert code == 0, err
    assert echo.received
    received = echo.received[0]
    assert received == {"count": 1, "share": 0.5, "greedy": True, "label": "abc"}
    assert [type(received[k]) for k in ("count", "share", "greedy", "label")] == [int, float, bool, str]


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", 1), ("-3", -3), ("0.5", 0.5), ("1e-3", 0.001), ("true", True), ("True", True), ("false", False),
     ("False", False), ("null", None), ("None", None), ("abc", "abc"), ('"7"', "7"), ("[1, 2]", [1, 2]),
     ("", ""), ("a=b", "a=b")],
)
def test_parse_params_reads_values_as_json_when_it_can(raw, value):
    parsed = parse_params([f"acquisition.x={raw}"])["acquisition"]["x"]

    assert parsed == value
    assert type(parsed) is type(value)


def test_parse_params_groups_values_by_kind():
    assert parse_params(["model.depth=3", "acquisition.t=0.5", "model.width=8", "model.depth=4"]) == {
        "model": {"depth": 4, "width": 8}, "acquisition": {"t": 0.5}}
    assert parse_params([]) == {}


@pytest.mark.parametrize("item", ["foo", "acquisition=1", ".x=1", "model.=1", "model.x", "=1"])
def test_parse_params_refuses_items_that_are_not_kind_key_value(item):
    with pytest.raises(GdError, match="KIND.KEY=VALUE") as refusal:
        parse_params([item])
    assert repr(item) in str(refusal.value)


# Errors: exit code 1 and one line


ERRORS = {
    "unknown assay": (["--assay", "simulatd"], ["assay 'simulatd'", "did you mean 'simulated'"]),
    "unknown model": (["--model", "forest"], ["model 'forest'"]),
    "unknown metric": (["--metric", "mse", "--metric", "spearmann"], ["metric 'spearmann'", "did you mean"]),
    "option without a value": (["--seed"], ["--seed"]),
    "bad --param": (["--param", "descriptor:n_genes=5"], ["descriptor:n_genes=5", "KIND.KEY=VALUE"]),
    "param for unknown kind": (["--param", "modle.n_estimators=5"], ["'modle'"]),
    "param the factory refuses": (["--param", "model.n_trees=5"], ["model 'random_forest'", "n_trees"]),
    "zero batch size": (["--batch-size", "0"], ["batch-size", "0"]),
    "negative cycles": (["--cycles", "-2"], ["cycles", "-2"]),
    "not a number": (["--batch-size", "many"], ["--batch-size", "integer"]),
    "test fraction": (["--test-fraction", "1.5"], ["--test-fraction", "1.5"]),
    "unknown option": (["--bogus", "1"], ["--bogus"]),
    "bad split seed": (["--split-seed", "first"], ["--split-seed 'first'", "'seed'"]),
    "non-ASCII digit split seed": (["--split-seed", "²"], ["--split-seed '²'", "whole number"]),
    "negative seed": (["--seed", "-1"], ["--seed must be a whole number ≥ 0", "-1"]),
}


def with_changes(tmp_path: Path, changes: list) -> list[str]:
    """run_args with options replaced (value None drops the option) or added; a lone last option ends the line."""
    args = run_args(tmp_path / "run")
    for option, value in zip(changes[::2], changes[1::2]):
        if option in args and option not in ("--param", "--metric"):
            at = args.index(option)
            args[at:at + 2] = [] if value is None else [option, value]
        else:
            args += [option, value]
    if len(changes) % 2:  # a lone option at the very end, given no value
        args.append(changes[-1])
    return args


@pytest.mark.parametrize(("changes", "culprits"), list(ERRORS.values()), ids=list(ERRORS))
def test_errors_are_one_line_and_exit_code_one(tmp_path, capsys, changes, culprits):
    code, stdout, stderr = gd(capsys, with_changes(tmp_path, changes))

    assert code == 1
    line = only_error_line(stderr)
    for culprit in culprits:
        assert culprit in line
    assert stdout == ""
    assert not (tmp_path / "run").exists()


def test_a_batch_too_large_for_the_pool_ends_with_one_error_line(tmp_path, capsys):
    code, _, stderr = gd(capsys, with_changes(tmp_path, ["--batch-size", "100", "--cycles", "5"]))
    lines = stderr.strip().splitlines()

    assert code == 1
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert "batch-size 100" in lines[-1] and "480" in lines[-1]
    assert "Traceback" not in stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["file", "foreign directory"])
def test_a_bad_out_is_one_error_line(tmp_path, capsys, kind):
    out = tmp_path / "run"
    if kind == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("x")
    code, _, stderr = gd(capsys, run_args(out))

    assert code == 1
    assert str(out) in only_error_line(stderr)


def test_an_error_from_the_installed_command_is_one_line(tmp_path):
    done = subprocess.run([str(GD), *with_changes(tmp_path, ["--acquisition", "randon"])],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "GD_LOAD_PLUGINS": ""})

    assert done.returncode == 1
    assert "acquisition 'randon'" in only_error_line(done.stderr)
    assert done.stdout == ""


# Help and listings


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["list", "--help"], ["list-plugins", "--help"]])
def test_help_exits_zero(capsys, argv):
    code, stdout, stderr = gd(capsys, argv)

    assert code == 0
    assert "Usage" in stdout
    assert stderr == ""


def test_run_help_shows_its_options(capsys):
    _, stdout, _ = gd(capsys, ["run", "--help"])

    for option in ("--assay", "--descriptor", "--model", "--acquisition", "--batch-size", "--cycles", "--seed",
                   "--param", "--out", "--force", "--json"):
        assert option in stdout


def test_gd_without_arguments_shows_help_and_no_empty_error(capsys):
    _, stdout, stderr = gd(capsys, [])

    assert "Usage" in stdout
    messages = [line.removeprefix("error:").split("(see")[0].strip()
                for line in stderr.splitlines() if line.startswith("error:")]
    assert all(messages), f"an error line without a message: {stderr!r}"


def test_list_model_json_describes_random_forest(capsys):
    code, stdout, _ = gd(capsys, ["list", "model", "--json"])
    rows = json.loads(stdout)

    assert code == 0
    assert {row["kind"] for row in rows} == {"model"}
    forest = next(row for row in rows if row["name"] == "random_forest")
    assert set(forest) == {"kind", "name", "plugin", "distribution", "version", "summary"}
    assert (forest["plugin"], forest["distribution"]) == ("builtin.models", "gdisco")
    assert forest["summary"].startswith("Random forest")


@pytest.mark.parametrize("kind", ["models", "acquisitions", "metrics", "assays", "descriptors"])
def test_list_accepts_plural_kinds(capsys, kind):
    singular = gd(capsys, ["list", kind[:-1], "--json"])
    plural = gd(capsys, ["list", kind, "--json"])

    assert plural[0] == singular[0] == 0
    assert json.loads(plural[1]) == json.loads(singular[1]) != []


def test_list_without_kind_lists_every_kind(capsys):
    code, stdout, _ = gd(capsys, ["list", "--json"])
    rows = json.loads(stdout)

    assert code == 0
    assert {row["kind"] for row in rows} == {"descriptor", "assay", "model", "acquisition", "metric"}
    assert {"mse", "hit_ratio", "spearman", "random", "random_forest", "simulated"} <= {r["name"] for r in rows}


def test_list_models_as_a_table(capsys):
    code, stdout, _ = gd(capsys, ["list", "models"])

    assert code == 0
    assert "random_forest" in stdout


def test_list_of_an_unknown_kind_is_one_error_line(capsys):
    code, stdout, stderr = gd(capsys, ["list", "bogus"])

    assert code == 1
    assert "'bogus'" in only_error_line(stderr)
    assert stdout == ""


def test_list_plugins_json_shows_what_each_builtin_registered(capsys):
    code, stdout, _ = gd(capsys, ["list-plugins", "--json"])
    records = {r["name"]: r for r in json.loads(stdout)}

    assert code == 0
    assert records["builtin.models"]["registered"] == {"model": ["random_forest", "bnn", "gp", "bayesian_linear"]}
    assert all(r["loaded"] and r["error"] is None and r["source"] == "builtin" for r in records.values())


def test_run_json_final_is_null_for_an_undefined_metric(tmp_path, capsys, monkeypatch, host_with):
    class Undefined:
        @hookimpl
        def gd_register_metrics(self, register):
            register("undefined", lambda: lambda pool, model, truth: math.nan)

    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Undefined(), builtins=True))
    code, stdout, _ = gd(capsys, run_args(tmp_path / "run", "--json", "--metric", "undefined"))

    assert code == 0
    assert json.loads(stdout)["final"] == {"undefined": None}


class Buggy:
    """Registers descriptor 'buggy', whose factory has a bug (raises KeyError)."""

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        register("buggy", lambda **params: {}["missing"])


def test_a_plugin_bug_is_one_line_naming_the_component_and_its_plugin_pointing_to_gd_debug(tmp_path, capsys,
                                                                                            monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Buggy(), builtins=True))

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--descriptor", "buggy"))

    assert code == 1
    line = only_error_line(stderr.replace("loading descriptor 'buggy' and assay 'simulated'\n", ""))
    assert line.startswith("error: descriptor 'buggy' (plugin 'Buggy') raised KeyError while being built: 'missing'")
    assert "GD_DEBUG=1" in line and not (tmp_path / "run").exists()


class Wordy:
    """Registers model 'wordy', whose factory raises errors of many lines: a ValueError (its verdict on a value)
    or, given ``crash``, a RuntimeError."""

    @hookimpl
    def gd_register_models(self, register):
        register("wordy", wordy)


def wordy(crash: bool = False):
    story = "the first line\n" + "\n".join(f"  and line {i}" for i in range(80))
    raise RuntimeError(story) if crash else ValueError(story)


@pytest.mark.parametrize("crash", [False, True])
def test_a_factory_error_of_many_lines_is_one_line(tmp_path, capsys, monkeypatch, host_with, crash):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Wordy(), builtins=True))

    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--param", f"model.crash={str(crash).lower()}",
                                          model="wordy"))

    assert code == 1
    line = only_error_line(stderr)
    assert "model 'wordy'" in line and "the first line and line 0 and line 1" in line
    assert ("RuntimeError" in line and "… (cut)" in line) if crash else "and line 79" in line


def test_gd_debug_shows_the_traceback_of_a_plugin_bug(tmp_path, monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Buggy(), builtins=True))
    monkeypatch.setenv("GD_DEBUG", "1")

    with pytest.raises(KeyError):
        cli.main(run_args(tmp_path / "run", "--descriptor", "buggy"))


def test_the_default_run_directory_names_a_split_seed_off_the_default():
    from gd_apps.cli import _default_out
    from gd_core.loop import RunConfig

    base = dict(assay="data/my_screen.csv", descriptor="gene_ontology", model="bnn", acquisition="badge",
                batch_size=32, cycles=4, seed=3)
    assert _default_out(RunConfig(**base)).as_posix() == "runs/my_screen-gene_ontology-bnn-badge-b32-s3"
    assert _default_out(RunConfig(**base, split_seed=7)).name.endswith("-b32-s3-split7")
    assert _default_out(RunConfig(**base, split_seed="seed")).name.endswith("-s3-splitseed")


# Bad parameters and settings: one line naming them as typed, nothing on disk (issue 11)


@pytest.mark.parametrize("param, culprit", [
    ("model.n_estimators=abc", 'n_estimators must be a positive integer (e.g. 100), got "abc" (set as '
                               "model.n_estimators)"),
    ("model.max_depth=-1", "max_depth must be a positive integer (e.g. 4), or null for unlimited depth, got -1"),
    ("model.min_samples_leaf=0.0", "min_samples_leaf must be a positive integer (genes per leaf, e.g. 5) or a "
                                   "fraction in (0, 1) of the training genes, got 0.0"),
    ("model.n_jobs=abc", 'n_jobs must be a positive integer (e.g. 4), or null for every usable core, got "abc"'),
    ("model.n_estimators=true", "n_estimators must be a positive integer (e.g. 100), got true"),
    ("model.n_estimators=[3]", "n_estimators must be a positive integer (e.g. 100), got [3]"),
])
def test_a_bad_model_parameter_is_one_line_before_anything_is_written(tmp_path, capsys, param, culprit):
    code, stdout, stderr = gd(capsys, run_args(tmp_path / "run", "--param", param))

    assert code == 1 and stdout == ""
    line = only_error_line(stderr.replace("loading descriptor 'simulated' and assay 'simulated'\n", ""))
    assert f"error: model 'random_forest': {culprit}" in line
    assert list(tmp_path.iterdir()) == []  # no run directory, not even a partial one


def test_an_unknown_parameter_gets_the_closest_name_in_the_registry_s_wording(tmp_path, capsys):
    code, _, stderr = gd(capsys, run_args(tmp_path / "run", "--param", "acquisition.temp=0.5",
                                          acquisition="softuncertain"))

    assert code == 1
    assert only_error_line(stderr) == ("error: acquisition 'softuncertain' has no parameter 'temp'; did you mean "
                                       "'temperature'? Its parameters: temperature = 1.5, relative = true")


@pytest.mark.parametrize("changes, culprits", [
    (["--seed", "abc"], ["--seed", '"abc"']),
    (["--batch-size", "1.5"], ["--batch-size", '"1.5"']),
    (["--test-fraction", "half"], ["--test-fraction", '"half"']),
    (["--hit-fraction", "0"], ["--hit-fraction must be a number above 0 and at most 1", "got 0.0"]),
    (["--seed", "-1"], ["--seed must be a whole number ≥ 0, got -1"]),
    (["--cycles", "0"], ["--cycles must be a positive whole number, got 0"]),
])
def test_a_bad_setting_names_the_option_and_the_value_as_typed(tmp_path, capsys, changes, culprits):
    code, _, stderr = gd(capsys, with_changes(tmp_path, changes))

    line = only_error_line(stderr)
    assert code == 1 and all(culprit in line for culprit in culprits), line
    assert "test_fraction" not in line and "hit_fraction" not in line


def test_an_extra_argument_is_refused_without_the_bug_wording(tmp_path, capsys):
    code, _, stderr = gd(capsys, [*run_args(tmp_path / "run"), "extra"])

    assert code == 1
    assert "extra" in only_error_line(stderr) and "unexpected" not in stderr


def test_run_and_sweep_describe_the_fractions_in_the_same_words(builtin_host):
    import typer

    commands = typer.main.get_command(cli.build_app(builtin_host)).commands
    helps = {command: {p.name: p.help for p in commands[command].params} for command in ("run", "sweep")}
    for option, text in (("hit_fraction", cli.HIT_FRACTION_HELP), ("test_fraction", cli.TEST_FRACTION_HELP)):
        assert helps["run"][option].startswith(text) and helps["sweep"][option].startswith(text)
    assert "by |y|" in cli.HIT_FRACTION_HELP and "non-test" in cli.HIT_FRACTION_HELP


# gd list KIND NAME


def test_list_kind_name_shows_the_component_its_plugin_and_its_parameters_with_defaults(capsys):
    code, stdout, _ = gd(capsys, ["list", "acquisition", "softuncertain"])

    assert code == 0
    assert stdout.startswith("acquisition softuncertain: SoftBALD")
    assert "plugin: builtin.acquisitions (gdisco " in stdout
    rows = [line.split() for line in stdout.splitlines()]
    assert ["temperature", "1.5"] in rows and ["relative", "true"] in rows


def test_list_kind_name_json_has_the_parameters_of_a_deferred_factory(capsys):
    code, stdout, _ = gd(capsys, ["list", "models", "bnn", "--json"])
    about = json.loads(stdout)

    assert code == 0
    assert (about["kind"], about["name"], about["plugin"]) == ("model", "bnn", "builtin.models")
    defaults = {p["name"]: p["default"] for p in about["parameters"]}
    assert defaults["hidden_sizes"] == [128, 256] and defaults["dropout"] == 0.5
    assert not any(p["required"] for p in about["parameters"])


def test_list_a_name_alone_shows_every_component_of_that_name(capsys):
    code, stdout, _ = gd(capsys, ["list", "simulated", "--json"])

    assert code == 0
    assert [(c["kind"], c["name"]) for c in json.loads(stdout)] == [("descriptor", "simulated"),
                                                                     ("assay", "simulated")]


@pytest.mark.parametrize("argv, culprit", [
    (["list", "acquisition", "softuncertian"], "unknown acquisition 'softuncertian'; did you mean 'softuncertain'"),
    (["list", "acqusition", "random"], "unknown kind 'acqusition'; did you mean 'acquisition'?"),
    (["list", "softuncertian"], "'softuncertian' is neither a kind nor a registered component; did you mean "
                                "'softuncertain'?"),
])
def test_list_of_an_unknown_kind_or_name_is_one_line_with_the_closest(capsys, argv, culprit):
    code, stdout, stderr = gd(capsys, argv)

    assert code == 1 and stdout == ""
    assert culprit in only_error_line(stderr)


def test_ctrl_c_while_gd_starts_is_one_line_and_exit_130():
    """A Ctrl-C while the CLI's libraries import (before gd's own handler exists) is still a line, not a traceback."""
    code = ("import sys, gd_apps.launch\n"
            "class Stop:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'gd_apps.cli':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Stop())\n"
            "gd_apps.launch.main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr.startswith("interrupted: ") and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_importing_gd_core_loads_no_numerical_library():
    """`import gd_core` (what the console script does first) stays light; the public names still resolve."""
    code = ("import sys, gd_core\n"
            "heavy = sorted(m for m in ('numpy', 'pandas', 'torch', 'sklearn') if m in sys.modules)\n"
            "from gd_core import GdError, hookimpl, Dataset\n"
            "print(heavy, GdError.__name__, Dataset.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["[]", "GdError", "Dataset"], done.stderr


def test_colons_in_a_message_are_not_turned_into_emoji(tmp_path, capsys):
    """A culprit like 'a:x:b' is printed as typed: rich would render ':x:' as an emoji."""
    code, _, err = gd(capsys, ["run", "--model", "bnn:x:y", "--out", str(tmp_path / "r")])
    assert code == 1 and "bnn:x:y" in err


@pytest.mark.parametrize("code", ["0", "3"])
def test_a_plugin_that_calls_sys_exit_is_one_error_line_not_a_silent_exit(tmp_path, capsys, code):
    plugin = tmp_path / "quits.py"
    plugin.write_text(f"import sys\nsys.exit({code})\n")
    status, _, err = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin)))
    assert status == 1
    assert err.startswith(f"error: stopped by sys.exit({code}) called in {plugin}:2") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_run_json_stays_json_when_a_plugin_prints(tmp_path, capsys):
    plugin = tmp_path / "chatty.py"
    plugin.write_text("from gd_core import hookimpl\n"
                      "print('hello from plugin')\n"
                      "class First:\n"
                      "    requires = ()\n"
                      "    def select(self, pool, model, batch_size, rng):\n"
                      "        print('selecting')\n"
                      "        return pool.available[:batch_size]\n"
                      "@hookimpl\n"
                      "def gd_register_acquisitions(register):\n"
                      "    register('first', First)\n")
    code, out, err = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin), "--json", acquisition="first"))
    assert code == 0 and json.loads(out)["out"] == str(tmp_path / "run")
    assert "hello from plugin" in err and "selecting" in err


def test_a_run_refused_mid_way_says_where_its_partial_run_is(tmp_path, capsys):
    plugin = tmp_path / "nanny.py"
    plugin.write_text("import numpy as np\nfrom gd_core import hookimpl\n"
                      "class Nanny:\n"
                      "    def fit(self, X, y, rng):\n        return self\n"
                      "    def predict(self, X):\n        return np.full(len(X), np.nan)\n"
                      "@hookimpl\ndef gd_register_models(register):\n    register('nanny', Nanny)\n")
    code, _, err = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin), model="nanny"))
    assert code == 1 and "model 'nanny'" in err and "non-finite" in err
    assert f"nothing was published to --out {tmp_path / 'run'}" in err
    partial = Path(err.split("the partial run is in ", 1)[1].split(" (", 1)[0])
    assert partial.name.startswith(".run.partial-") and (partial / "run.log").is_file()
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_a_run_whose_model_raises_points_to_its_partial_run_and_traceback(tmp_path, capsys):
    plugin = tmp_path / "boom.py"
    plugin.write_text("from gd_core import hookimpl\n"
                      "class Boom:\n"
                      "    def fit(self, X, y, rng):\n        raise RuntimeError('boom in fit')\n"
                      "    def predict(self, X):\n        return X[:, 0]\n"
                      "@hookimpl\ndef gd_register_models(register):\n    register('boom', Boom)\n")
    code, _, err = gd(capsys, run_args(tmp_path / "run", "--plugin", str(plugin), model="boom"))

    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "RuntimeError: boom in fit" in err and "Traceback" not in err
    partial = Path(err.split("the partial run is in ", 1)[1].split(" (", 1)[0])
    assert partial.parent == tmp_path and "Traceback" in (partial / "run.log").read_text()
    assert "the traceback is in its run.log" in err and not (tmp_path / "run").exists()


def test_a_read_or_write_the_system_refuses_is_one_line_naming_the_place_not_a_bug(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GD_DATA_DIR", str(tmp_path / "data"))
    too_long = tmp_path / ("a" * 300 + ".csv")  # longer than a file name may be

    code, _, stderr = gd(capsys, ["data", "export", "simulated", str(too_long)])

    assert code == 1
    assert only_error_line(stderr) == f"error: cannot use {too_long}: File name too long; choose a shorter name"


def test_output_the_system_cannot_take_is_one_line_not_a_bug(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([str(GD), "list"], stdout=full, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "GD_DATA_DIR": str(tmp_path / "data")})

    assert done.returncode == 1
    assert only_error_line(done.stderr) == ("error: cannot use gd's output: No space left on device; free some space "
                                            "or write somewhere else")


def test_propose_into_a_directory_is_refused_as_one_with_or_without_force(tmp_path, capsys):
    for force in ([], ["--force"]):
        code, _, stderr = gd(capsys, ["propose", "--descriptor", "gene_ontology", "--model", "bnn", "--acquisition",
                                      "topuncertain", "--batch-size", "16", "--out", str(tmp_path), *force])
        assert code == 1
        assert only_error_line(stderr) == (f"error: --out {tmp_path} is a directory; give a file name such as "
                                           f"{tmp_path / 'plate.csv'}")


def test_a_plugin_path_that_is_a_directory_is_called_one(tmp_path, capsys):
    code, _, stderr = gd(capsys, ["list", "--plugin", str(tmp_path)])

    assert code == 1
    assert only_error_line(stderr) == (f"error: --plugin {tmp_path}: is a directory; give the path of a Python file "
                                       "with @hookimpl functions")


def test_a_sweep_into_a_directory_that_refuses_files_is_one_line_before_the_grid(tmp_path, capsys, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):  # as an existing directory on a read-only mount answers, even to root
        raise OSError(errno.EROFS, "Read-only file system")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    code, _, stderr = gd(capsys, ["sweep", "--assay", "simulated", "--descriptor", "simulated", "--model",
                                  "random_forest", "--acquisition", "random", "--batch-size", "10", "--cycles", "2",
                                  "--seeds", "1", "--out", str(out)])

    assert code == 1
    assert only_error_line(stderr) == (f"error: cannot write to {out}: not writable (Read-only file system); "
                                       "choose another --out")
    assert list(out.iterdir()) == []
