"""The hookspecs are the plugin author's API: each one is documented and each one works as documented.

Every hook has a ``test_hook_<hook name>`` test below; ``test_every_hookspec_has_a_test`` fails when a
hookspec is added (or renamed) without one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from gd_core import hookimpl, hookspecs
from gd_apps.cli import build_app
from gd_core.registry import KINDS

HOOKSPECS = sorted(
    name for name, obj in vars(hookspecs).items() if name.startswith("gd_register_") and callable(obj)
)


def _kinds_holding(host, name: str) -> list[str]:
    return [registry.kind for registry in host.registries if name in registry]


# --- the hookspec module itself ------------------------------------------------------------------


def test_hookspecs_are_found():
    assert HOOKSPECS, "no gd_register_* function found in gd_core.hookspecs"


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_is_marked_as_a_hookspec(hook):
    assert hasattr(getattr(hookspecs, hook), hookspecs.PROJECT + "_spec")


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_documents_its_arguments(hook):
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function) or ""
    summary, _, rest = doc.partition("\n")
    assert summary.strip(), f"{hook} has no summary line"
    assert "Args:" in rest, f"{hook} has no Args: section"
    args_section = rest.split("Args:", 1)[1]
    for parameter in inspect.signature(function).parameters:
        assert f"\n    {parameter}:" in "\n" + args_section, f"{hook} does not document {parameter!r}"


def test_every_hookspec_has_a_test():
    tested = {name.removeprefix("test_hook_") for name in globals() if name.startswith("test_hook_")}
    assert tested == set(HOOKSPECS)


def test_every_hookspec_but_commands_fills_one_registry_kind():
    assert set(hookspecs.REGISTRATION_HOOKS) == set(HOOKSPECS) - {"gd_register_commands"}
    assert tuple(hookspecs.REGISTRATION_HOOKS.values()) == KINDS


# --- one test per hook ---------------------------------------------------------------------------


def test_hook_gd_register_treatment_descriptors(host_with):
    class TinyDescriptor:
        @hookimpl
        def gd_register_treatment_descriptors(self, register):
            register("tiny", lambda: pd.DataFrame({"f0": [0.0, 1.0]}, index=["A", "B"]))

    host = host_with(TinyDescriptor())
    entry = host.registries.descriptors.get("tiny")
    assert (entry.kind, entry.plugin) == ("descriptor", "TinyDescriptor")
    assert _kinds_holding(host, "tiny") == ["descriptor"]
    assert list(entry.create().index) == ["A", "B"]


def test_hook_gd_register_assays(host_with):
    class TinyAssay:
        @hookimpl
        def gd_register_assays(self, register):
            register("tiny", lambda: pd.Series([0.5, -0.5], index=["A", "B"]))

    host = host_with(TinyAssay())
    entry = host.registries.assays.get("tiny")
    assert (entry.kind, entry.plugin) == ("assay", "TinyAssay")
    assert _kinds_holding(host, "tiny") == ["assay"]
    assert entry.create().to_dict() == {"A": 0.5, "B": -0.5}


def test_hook_gd_register_models(host_with):
    class MeanModel:
        """Predicts the training mean."""

        def fit(self, X, y, rng):
            self.mean = float(np.mean(y))
            return self

        def predict(self, X):
            return np.full(len(X), self.mean)

    class MeanModelPlugin:
        @hookimpl
        def gd_register_models(self, register):
            register("mean", MeanModel)

    host = host_with(MeanModelPlugin())
    entry = host.registries.models.get("mean")
    assert (entry.kind, entry.plugin) == ("model", "MeanModelPlugin")
    assert _kinds_holding(host, "mean") == ["model"]
    model = host.registries.models.create("mean").fit(np.zeros((2, 1)), np.array([1.0, 3.0]), None)
    assert model.predict(np.zeros((3, 1))).tolist() == [2.0, 2.0, 2.0]


def test_hook_gd_register_acquisitions(host_with):
    class FirstAvailable:
        requires = ()

        def select(self, pool, model, batch_size, rng):
            return pool.available[:batch_size]

    class FirstAvailablePlugin:
        @hookimpl
        def gd_register_acquisitions(self, register):
            register("first", FirstAvailable, summary="the first available genes")

    host = host_with(FirstAvailablePlugin())
    entry = host.registries.acquisitions.get("first")
    assert (entry.kind, entry.plugin, entry.summary) == ("acquisition", "FirstAvailablePlugin",
                                                         "the first available genes")
    assert _kinds_holding(host, "first") == ["acquisition"]
    assert isinstance(entry.create(), FirstAvailable)


def test_hook_gd_register_metrics(host_with):
    class AlwaysOne:
        @hookimpl
        def gd_register_metrics(self, register):
            register("always_one", lambda: lambda pool, model, truth: 1.0)

    host = host_with(AlwaysOne())
    assert host.registries.metrics.get("always_one").plugin == "AlwaysOne"
    assert _kinds_holding(host, "always_one") == ["metric"]
    assert host.registries.metrics.create("always_one")(None, None, None) == 1.0


def test_hook_gd_register_commands(host_with):
    class Greeter:
        @hookimpl
        def gd_register_commands(self, app):
            @app.command("hello")
            def hello(name: str = "world") -> None:
                """Say hello."""
                typer.echo(f"hello {name}")

    result = CliRunner().invoke(build_app(host_with(Greeter())), ["hello", "--name", "gd"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "hello gd"


# --- every registration hook, generically --------------------------------------------------------


@pytest.mark.parametrize("hook, kind", list(hookspecs.REGISTRATION_HOOKS.items()))
def test_each_registration_hook_fills_only_its_own_registry(host_with, hook, kind):
    def factory():
        """First line of the factory's docstring.

        More detail.
        """

    def implementation(self, register):
        register("thing", factory, colour="blue")

    plugin_class = type("ThingPlugin", (), {hook: hookimpl(implementation)})
    host = host_with(plugin_class())

    (record,) = host.records
    assert (record.loaded, record.error, record.registered) == (True, None, {kind: ["thing"]})
    assert _kinds_holding(host, "thing") == [kind]
    entry = host.registries.of(kind).get("thing")
    assert entry.metadata == {"colour": "blue"}
    assert entry.summary == "First line of the factory's docstring."


def test_one_plugin_may_use_one_name_in_several_kinds(host_with):
    class Simulated:
        @hookimpl
        def gd_register_treatment_descriptors(self, register):
            register("same", lambda: None)

        @hookimpl
        def gd_register_assays(self, register):
            register("same", lambda: None)

    host = host_with(Simulated())
    assert host.records[0].error is None
    assert _kinds_holding(host, "same") == ["descriptor", "assay"]


# --- hookimpls take only the arguments they use --------------------------------------------------


def test_a_hookimpl_without_arguments_is_called(host_with):
    calls = []

    class Quiet:
        @hookimpl
        def gd_register_models(self):
            calls.append("models")

        @hookimpl
        def gd_register_commands(self):
            calls.append("commands")

    host = host_with(Quiet())
    assert host.records[0].loaded and host.records[0].error is None
    build_app(host)
    assert calls == ["models", "commands"]


def test_a_module_level_hookimpl_without_self_is_called(host_with):
    import types

    module = types.ModuleType("gd_tiny_module")
    module.__file__ = "gd_tiny_module.py"

    @hookimpl
    def gd_register_metrics(register):
        register("zero", lambda: lambda pool, model, truth: 0.0)

    module.gd_register_metrics = gd_register_metrics
    host = host_with(module)
    assert host.registries.metrics.get("zero").plugin == "gd_tiny_module"


def test_a_hookimpl_asking_for_an_argument_the_hook_lacks_is_recorded(host_with):
    class Greedy:
        @hookimpl
        def gd_register_models(self, register, config):
            register("greedy", lambda: None)

    class Fine:
        @hookimpl
        def gd_register_models(self, register):
            register("fine", lambda: None)

    host = host_with(Greedy(), Fine())
    greedy, fine = host.records
    assert not greedy.loaded
    assert "config" in greedy.error
    assert "greedy" not in host.registries.models
    assert fine.loaded and host.registries.models.get("fine").plugin == "Fine"


def test_every_hookspec_has_a_section_in_the_plugin_guide():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    headings = {line.removeprefix("## ").strip() for line in guide.splitlines() if line.startswith("## ")}
    specs = {name for name in dir(hookspecs) if name.startswith("gd_register_")}

    assert specs <= headings, f"docs/plugins.md lacks a section for {sorted(specs - headings)}"
