"""`gd info`: a component's kind, plugin, version, parameters, capabilities and direction, for people and as JSON."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gd_core import hookimpl
from tests.helpers import gd

GD = Path(sys.executable).parent / "gd"

# A plugin file with a component of each kind whose answer is found a different way.
PLUGIN = '''
from gd_core import hookimpl


class Ridge:
    """Ridge regression; no posterior samples."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return X[:, 0]


class Sampled:
    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return X[:, 0]

    def sample(self, X, n=None, rng=None):
        return X[None, :, 0]

    def embed(self, X):
        return X


def ensemble(size=8):
    """An ensemble built by a plain function: gd info must build one (unfitted) to see what it offers."""
    return Sampled()


class Thompson:
    """Thompson sampling over posterior samples."""

    requires = ("sample",)

    def __init__(self, draws: int = 1):
        self.draws = draws

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


class MeanAbsoluteError:
    """Mean absolute error on the test genes."""

    def __call__(self, pool, model, truth):
        return 0.0


@hookimpl
def gd_register_models(register):
    register("ridge", Ridge)
    register("ensemble", ensemble)


@hookimpl
def gd_register_acquisitions(register):
    register("thompson_file", Thompson)


@hookimpl
def gd_register_metrics(register):
    register("mae", MeanAbsoluteError, better="lower")
    register("undirected", MeanAbsoluteError)
'''


@pytest.fixture
def plugin(tmp_path) -> Path:
    path = tmp_path / "extras.py"
    path.write_text(PLUGIN)
    return path


def info_json(capsys, *argv: str) -> dict:
    code, stdout, stderr = gd(capsys, ["info", *argv, "--json"])
    assert code == 0, stderr
    return json.loads(stdout)


def test_info_of_a_model_shows_its_plugin_parameters_and_capabilities(capsys):
    code, stdout, _ = gd(capsys, ["info", "random_forest"])

    assert code == 0
    assert stdout.startswith("model random_forest: Random forest")
    assert "plugin: builtin.models (gdisco " in stdout
    assert stdout.split("offers: ", 1)[1].split(" (", 1)[0] == "predict, sample"
    rows = [line.split() for line in stdout.splitlines()]
    assert ["n_estimators", "100"] in rows and ["max_depth", "null"] in rows


def test_info_json_of_models_tells_capabilities_from_the_class_without_fitting(capsys):
    forest = info_json(capsys, "model", "random_forest")
    bnn = info_json(capsys, "bnn")

    assert (forest["offers"], forest["offers_from"]) == (["predict", "sample"], "class")
    assert bnn["offers"] == ["predict", "sample", "embed", "gradient_embedding", "input_gradient"]
    assert (forest["distribution"], forest["plugin"]) == ("gdisco", "builtin.models")
    assert {p["name"]: p["default"] for p in forest["parameters"]}["n_estimators"] == 100


def test_info_of_an_acquisition_shows_what_it_requires(capsys):
    badge = info_json(capsys, "badge")
    random = info_json(capsys, "acquisition", "random")
    code, stdout, _ = gd(capsys, ["info", "softuncertain"])

    assert (badge["kind"], badge["requires"], badge["requires_from"]) == ("acquisition", ["gradient_embedding"],
                                                                           "class")
    assert random["requires"] == []
    assert code == 0 and "requires: sample " in stdout
    assert ["temperature", "1.5"] in [line.split() for line in stdout.splitlines()]


# Acquisitions whose requires gd run refuses, or reads only from an instance.
DECLARING = '''
from gd_core import hookimpl


class Base:
    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


class Letters(Base):
    requires = "sample"  # ("sample") without its comma


class Nothing(Base):
    def __init__(self, k: int = 1):
        self.requires = None


class Computed(Base):
    @property
    def requires(self):
        return ("sample",)


@hookimpl
def gd_register_acquisitions(register):
    register("letters", Letters)
    register("nothing", Nothing)
    register("computed", Computed)
'''


def test_info_of_an_acquisition_whose_requires_gd_run_refuses_says_why(tmp_path, capsys):
    path = tmp_path / "declaring.py"
    path.write_text(DECLARING)

    letters = info_json(capsys, "letters", "--plugin", str(path))
    nothing = info_json(capsys, "nothing", "--plugin", str(path))
    computed = info_json(capsys, "computed", "--plugin", str(path))
    code, stdout, _ = gd(capsys, ["info", "nothing", "--plugin", str(path)])

    assert (letters["requires"], nothing["requires"]) == (None, None)
    assert letters["requires_refused"] == (f"acquisition 'letters' (plugin 'file:declaring.py' of {path}) declares "
                                           "requires = 'sample', a string; write a tuple of capability names: "
                                           "('sample',)")
    assert "declares requires = None; write a tuple of capability names" in nothing["requires_refused"]
    # a property is read from an instance, not refused for being a property on the class
    assert (computed["requires"], computed["requires_from"], computed["requires_refused"]) == (["sample"], "instance",
                                                                                               None)
    line = next(li for li in stdout.splitlines() if li.startswith("requires:"))
    assert code == 0 and line.startswith("requires: refused by `gd run`: acquisition 'nothing' (plugin 'file:")


def test_info_of_a_metric_shows_its_direction(capsys):
    assert info_json(capsys, "mse")["better"] == "lower"
    assert info_json(capsys, "hit_ratio")["better"] == "higher"
    code, stdout, _ = gd(capsys, ["info", "mse"])
    assert code == 0 and "better: lower" in stdout and "lowest value first" in stdout


def test_info_of_plugin_file_components(plugin, capsys):
    version = "sha256:" + hashlib.sha256(plugin.read_bytes()).hexdigest()[:16]
    ridge = info_json(capsys, "ridge", "--plugin", str(plugin))
    ensemble = info_json(capsys, "ensemble", "--plugin", str(plugin))
    thompson = info_json(capsys, "thompson_file", "--plugin", str(plugin))
    mae = info_json(capsys, "mae", "--plugin", str(plugin))
    undirected = info_json(capsys, "undirected", "--plugin", str(plugin))

    assert (ridge["plugin"], ridge["version"]) == ("file:extras.py", version)
    assert (ridge["offers"], ridge["offers_from"]) == (["predict"], "class")
    assert ridge["parameters"] == [{"name": "alpha", "required": False, "default": 1.0}]
    # a plain function as factory: an unfitted instance tells
    assert (ensemble["offers"], ensemble["offers_from"]) == (["predict", "sample", "embed"], "instance")
    assert (thompson["requires"], thompson["summary"]) == (["sample"], "Thompson sampling over posterior samples.")
    assert (mae["better"], undirected["better"]) == ("lower", None)
    code, stdout, _ = gd(capsys, ["info", "undirected", "--plugin", str(plugin)])
    assert code == 0 and "better: not declared" in stdout


def test_a_plugin_file_s_version_follows_its_content(plugin, capsys):
    before = info_json(capsys, "ridge", "--plugin", str(plugin))["version"]
    plugin.write_text(PLUGIN.replace("alpha: float = 1.0", "alpha: float = 2.0"))
    after = info_json(capsys, "ridge", "--plugin", str(plugin))

    assert before != after["version"] and after["version"].startswith("sha256:") and len(after["version"]) == 23
    assert after["parameters"][0]["default"] == 2.0


def test_info_of_a_name_of_two_kinds_shows_both(capsys):
    both = info_json(capsys, "simulated")
    assert [(c["kind"], c["name"]) for c in both] == [("descriptor", "simulated"), ("assay", "simulated")]
    assert info_json(capsys, "assay", "simulated")["kind"] == "assay"


def test_info_of_an_unknown_name_is_one_line_with_the_closest(capsys):
    code, stdout, stderr = gd(capsys, ["info", "softuncertian"])

    assert code == 1 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown component 'softuncertian'" in lines[0]
    assert "did you mean 'softuncertain' (acquisition)?" in lines[0]


def test_info_of_a_kind_alone_asks_for_the_name(capsys):
    code, _, stderr = gd(capsys, ["info", "models"])
    assert code == 1 and "gd info model NAME" in stderr


def _json_of(argv: list[str]) -> str:
    env = {**os.environ, "GD_LOAD_PLUGINS": ""}
    done = subprocess.run([str(GD), *argv], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("argv", [["info", "achilles", "--json"], ["info", "shifrut_2018", "--json"],
                                  ["list", "descriptor", "achilles", "--json"]])
def test_json_is_the_same_in_two_processes_and_has_no_memory_addresses(argv):
    """Metadata holding functions (a dataset's importer, a partial) used to print as `<function … at 0x…>`."""
    first, second = _json_of(argv), _json_of(argv)

    assert first == second
    assert "0x" not in first and " at 0x" not in first
    about = json.loads(first)
    if about["name"] == "achilles":
        assert about["metadata"]["files"][0]["filename"].endswith(".csv")  # a record as fields, not its repr
        assert about["metadata"]["check"].startswith("partial(gd_plugins_builtin.")


def test_list_kind_name_shows_the_same_page_as_info(capsys):
    listed = gd(capsys, ["list", "model", "random_forest", "--json"])[1]
    shown = gd(capsys, ["info", "model", "random_forest", "--json"])[1]
    assert json.loads(listed) == json.loads(shown)


def test_a_factory_annotated_with_its_class_is_read_without_calling_it(host_with):
    from gd_apps.info import model_capabilities

    calls = []

    class Model:
        def fit(self, X, y, rng):
            return self

        def predict(self, X):
            return X

        def embed(self, X):
            return X

    def factory() -> Model:
        calls.append(1)
        return Model()

    factory.__annotations__["return"] = Model  # what get_type_hints resolves a module-level annotation to

    class Registers:
        @hookimpl
        def gd_register_models(self, register):
            register("annotated", factory)

    entry = host_with(Registers()).registries.models.get("annotated")
    assert model_capabilities(entry) == (["predict", "embed"], "class") and calls == []
