"""Registries: finding a component by name, describing it and building it with parameters."""

from __future__ import annotations

import functools

import pytest

from gd_core import GdError, hookimpl
from gd_core.registry import KINDS, Entry, Registries, Registry, failed_hint, validate_registration


def _entry(factory, *, name: str = "thing", kind: str = "model", **metadata) -> Entry:
    return Entry(kind, name, factory, "SomePlugin", "gd-some", "1.0", metadata)


class Forest:
    """A forest of trees.

    Longer description that ``gd list`` does not show.
    """

    def __init__(self, n_trees: int = 10, max_depth: int | None = None) -> None:
        if n_trees < 1:
            raise ValueError(f"n_trees must be at least 1, got {n_trees}")
        self.n_trees = n_trees
        self.max_depth = max_depth


class Forests:
    @hookimpl
    def gd_register_models(self, register):
        register("random_forest", Forest)
        register("extra_trees", Forest)
        register("gradient_boosting", Forest)


# --- looking names up ----------------------------------------------------------------------------


def test_a_registered_name_is_found(host_with):
    entry = host_with(Forests()).registries.models.get("extra_trees")
    assert (entry.kind, entry.name, entry.factory, entry.plugin) == ("model", "extra_trees", Forest, "Forests")


def test_an_unknown_name_suggests_close_matches_and_lists_the_known_ones(host_with):
    models = host_with(Forests()).registries.models
    with pytest.raises(GdError) as excinfo:
        models.get("random_forst")
    message = str(excinfo.value)
    assert "model" in message and "'random_forst'" in message
    assert "did you mean 'random_forest'" in message
    assert all(name in message for name in models.names())


def test_an_unknown_name_with_nothing_close_still_lists_the_known_ones(host_with):
    models = host_with(Forests()).registries.models
    with pytest.raises(GdError) as excinfo:
        models.get("xyz")
    message = str(excinfo.value)
    assert "did you mean" not in message
    assert all(name in message for name in models.names())


def test_an_unknown_name_in_an_empty_registry_is_a_gd_error():
    with pytest.raises(GdError, match="'anything'"):
        Registry("metric").get("anything")


def test_names_are_sorted_and_iteration_follows_them(host_with):
    models = host_with(Forests()).registries.models
    assert models.names() == sorted(["random_forest", "extra_trees", "gradient_boosting"])
    assert [entry.name for entry in models] == models.names()
    assert len(models) == 3
    assert "extra_trees" in models and "extra" not in models


def test_adding_a_taken_name_returns_the_holder_and_get_reports_the_conflict():
    registry = Registry("metric")
    first = Entry("metric", "score", lambda: None, "PluginA", "gd-a", "1", {})
    second = Entry("metric", "score", lambda: None, "PluginB", "gd-b", "2", {})
    assert registry.add(first) is None
    assert registry.add(second) is first
    with pytest.raises(GdError) as excinfo:
        registry.get("score")
    assert "'PluginA'" in str(excinfo.value) and "'PluginB'" in str(excinfo.value)


# --- summaries -----------------------------------------------------------------------------------


def test_summary_metadata_wins_over_the_docstring():
    assert _entry(Forest, summary="Trees, briefly.").summary == "Trees, briefly."


def test_summary_falls_back_to_the_first_docstring_line():
    assert _entry(Forest).summary == "A forest of trees."


def test_summary_of_a_function_factory_is_its_first_docstring_line():
    def make():
        """

        Build a thing (the docstring starts with blank lines).
        Second line.
        """

    assert _entry(make).summary == "Build a thing (the docstring starts with blank lines)."


def test_summary_is_empty_without_a_docstring():
    class Bare:
        pass

    assert _entry(lambda: None).summary == ""
    assert _entry(Bare).summary == ""


def test_summary_of_a_partial_is_not_partials_own_docstring():
    entry = _entry(functools.partial(Forest, n_trees=3))
    assert entry.summary in ("", "A forest of trees.")


# --- building with parameters --------------------------------------------------------------------


def test_create_passes_parameters_to_the_factory(host_with):
    forest = host_with(Forests()).registries.models.create("random_forest", n_trees=3, max_depth=2)
    assert (forest.n_trees, forest.max_depth) == (3, 2)


def test_create_refuses_an_unknown_parameter_and_lists_the_accepted_ones():
    with pytest.raises(GdError) as excinfo:
        _entry(Forest, name="random_forest").create(n_tres=3)
    message = str(excinfo.value)
    assert "model" in message and "'random_forest'" in message and "n_tres" in message
    assert "n_trees" in message and "max_depth" in message


def test_create_refuses_parameters_before_calling_the_factory():
    calls = []

    def factory(size: int = 1):
        calls.append(size)

    with pytest.raises(GdError):
        _entry(factory).create(colour="blue")
    assert calls == []


def test_create_refuses_any_parameter_for_a_factory_that_takes_none():
    with pytest.raises(GdError, match="'thing'"):
        _entry(lambda: None).create(anything=1)


def test_create_accepts_any_parameter_for_a_factory_with_keyword_arguments():
    assert _entry(lambda **params: params).create(a=1, b="two") == {"a": 1, "b": "two"}


def test_a_value_error_from_the_factory_becomes_a_gd_error_naming_kind_and_name(host_with):
    models = host_with(Forests()).registries.models
    with pytest.raises(GdError) as excinfo:
        models.create("gradient_boosting", n_trees=0)
    message = str(excinfo.value)
    assert "model" in message and "'gradient_boosting'" in message
    assert "n_trees must be at least 1, got 0" in message


def test_other_exceptions_from_the_factory_name_the_component_and_its_plugin_in_one_line(monkeypatch):
    monkeypatch.delenv("GD_DEBUG", raising=False)

    def factory():
        raise RuntimeError("a bug in the plugin\nwith more to say")

    with pytest.raises(GdError) as excinfo:
        _entry(factory).create()
    assert str(excinfo.value) == ("model 'thing' (plugin 'SomePlugin' of gd-some) raised RuntimeError while being "
                                  "built: a bug in the plugin with more to say (a bug in it, or a failure it did not "
                                  "word; set GD_DEBUG=1 to see the traceback)")
    assert isinstance(excinfo.value.__cause__, RuntimeError)  # chained, for a log's traceback


def test_with_gd_debug_a_factory_exception_propagates_as_raised(monkeypatch):
    monkeypatch.setenv("GD_DEBUG", "1")

    def factory():
        raise RuntimeError("a bug in the plugin")

    with pytest.raises(RuntimeError, match="a bug in the plugin"):
        _entry(factory).create()


# --- registries by kind --------------------------------------------------------------------------


def test_registries_of_returns_the_registry_of_each_kind():
    registries = Registries()
    assert registries.of("model") is registries.models
    assert registries.of("descriptor") is registries.descriptors
    assert [registries.of(kind).kind for kind in KINDS] == list(KINDS)
    assert [registry.kind for registry in registries] == list(KINDS)


def test_registries_of_an_unknown_kind_is_a_gd_error_listing_the_kinds():
    with pytest.raises(GdError) as excinfo:
        Registries().of("widget")
    assert "'widget'" in str(excinfo.value)
    assert all(kind in str(excinfo.value) for kind in KINDS)


# --- what a registration must look like ----------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "random_forest", "A1", "x_2_y"])
def test_valid_names_pass(name):
    validate_registration("model", name, Forest)


@pytest.mark.parametrize("name", ["bad name", "1abc", "", "with-dash", "_leading", "dotted.name", None, 3])
def test_invalid_names_are_refused(name):
    with pytest.raises(ValueError, match="not valid"):
        validate_registration("model", name, Forest)


def test_a_non_callable_factory_is_refused():
    with pytest.raises(ValueError, match="not callable"):
        validate_registration("metric", "score", 0.5)


# --- parameter names and values, one wording for every component (issue 11) ----------------------


def test_an_unknown_parameter_names_the_closest_one_and_every_parameter_with_its_default():
    with pytest.raises(GdError) as excinfo:
        _entry(Forest, name="random_forest").create(n_tres=3)
    message = str(excinfo.value)
    assert message == ("model 'random_forest' has no parameter 'n_tres'; did you mean 'n_trees'? "
                       "Its parameters: n_trees = 10, max_depth = null")
    assert "unexpected" not in message  # Python's own wording is not shown


def test_an_abbreviated_parameter_is_matched_to_the_one_it_starts(builtin_host):
    with pytest.raises(GdError, match="acquisition 'softuncertain' has no parameter 'temp'; did you mean "
                                      "'temperature'\\? Its parameters: temperature = 1.5, relative = true"):
        builtin_host.registries.acquisitions.create("softuncertain", temp=1)


def test_a_keyword_factory_passing_on_a_name_nobody_takes_reports_an_unknown_parameter():
    with pytest.raises(GdError) as excinfo:
        _entry(lambda **params: Forest(**params), name="forest").create(n_tres=3)
    message = str(excinfo.value)
    assert "model 'forest' has no parameter 'n_tres'" in message and "SomePlugin" in message
    assert "unexpected" not in message


@pytest.mark.parametrize("error", [TypeError("unsupported operand type(s) for +: 'int' and 'str'"),
                                   TypeError("f() got an unexpected keyword argument 'colour'")])
def test_a_type_error_from_the_factory_for_another_reason_is_not_called_an_unknown_parameter(error):
    def factory(**params):
        raise error

    with pytest.raises(GdError) as excinfo:  # a bug in the plugin, reported as one (the user gave no 'colour')
        _entry(factory).create(size=3)
    assert "raised TypeError while being built" in str(excinfo.value)
    assert "has no parameter" not in str(excinfo.value) and excinfo.value.__cause__ is error


def test_a_bad_parameter_value_names_the_parameter_as_the_user_set_it():
    from gd_core.registry import BadParameter

    def factory(depth=1):
        raise BadParameter("depth", "a whole number ≥ 1", depth)

    with pytest.raises(GdError) as by_kind:
        _entry(factory, name="forest").create(depth=True)
    assert str(by_kind.value) == "model 'forest': depth must be a whole number ≥ 1, got true (set as model.depth)"
    with pytest.raises(GdError, match=r"got \"3\" \(set as forest\.depth\)"):
        _entry(factory, name="forest").build({"depth": "3"}, prefixes={"depth": "forest"})


def test_a_missing_required_parameter_is_named_with_where_to_set_it():
    def factory(source, dims=2):
        return source

    with pytest.raises(GdError, match="descriptor 'thing' needs parameter 'source': set descriptor.source; its "
                                      "parameters: source \\(required\\), dims = 2"):
        _entry(factory, kind="descriptor").create(dims=3)


def test_the_registries_suggest_the_closest_kind():
    with pytest.raises(GdError, match="unknown kind 'acqusition'; did you mean 'acquisition'\\?"):
        Registries().of("acqusition")


@pytest.mark.parametrize("value, written", [
    (True, "true"), (False, "false"), (None, "null"), ("0.2", '"0.2"'), (3, "3"), (0.5, "0.5"),
    (float("nan"), "nan"), (float("-inf"), "-inf"), ([1, "a", True], '[1, "a", true]'), ((8, 16), "[8, 16]"),
    ({"a": 1, "b c": False}, '{a = 1, "b c" = false}'), ("x" * 100, '"' + "x" * 58 + "…"),
])
def test_values_in_messages_are_written_as_in_a_spec_file(value, written):
    from gd_core.registry import literal

    assert literal(value) == written


def test_a_deferred_factory_imports_its_target_only_to_build_or_describe_it(tmp_path, monkeypatch):
    import sys

    from gd_core.registry import Deferred

    (tmp_path / "gd_deferred_target.py").write_text(
        "class Heavy:\n    def __init__(self, width: int = 8, depth: int = 2):\n        self.width = width\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gd_deferred_target", raising=False)
    entry = _entry(Deferred("gd_deferred_target:Heavy", "A heavy model.\n\nMore."), name="heavy")

    assert entry.summary == "A heavy model." and "gd_deferred_target" not in sys.modules
    assert [p.name for p in entry.parameters()] == ["width", "depth"]
    with pytest.raises(GdError, match="did you mean 'width'"):
        entry.create(widht=3)
    assert entry.create(width=3).width == 3
    with pytest.raises(GdError, match="cannot import gd_missing_module:Heavy"):
        _entry(Deferred("gd_missing_module:Heavy", "Gone.")).create()


BAD_VALUES = ["abc", {"a": 1}, True, [1], -1, 0, 2.5, float("nan"), float("inf"), None]


@pytest.mark.parametrize("kind", ["model", "acquisition", "metric"])
def test_every_builtin_factory_refuses_a_bad_value_of_each_parameter_in_one_line(builtin_host, kind):
    # Whatever a user types for a parameter, building the component either works or is one GdError that
    # names the parameter as it was set: never scikit-learn's or Python's own exception at the first cycle.
    checked = 0
    for entry in builtin_host.registries.of(kind):
        for parameter in entry.parameters():
            for value in BAD_VALUES:
                try:
                    entry.create(**{parameter.name: value})
                except GdError as exc:
                    assert f"set as {kind}.{parameter.name}" in str(exc), str(exc)
                    assert "\n" not in str(exc)
                    checked += 1
                else:
                    assert not isinstance(value, (str, dict)), f"{entry.name}.{parameter.name} took {value!r}"
    assert checked >= {"model": 60, "acquisition": 40, "metric": 0}[kind]


# --- unknown names and plugins that failed to load -----------------------------------------------


def test_an_unknown_name_names_the_plugins_that_failed_to_load():
    registries = Registries(missing_hint=lambda: failed_hint(["gdisco-broken"]))
    with pytest.raises(GdError) as excinfo:
        registries.acquisitions.get("broken_acq")
    assert str(excinfo.value).startswith("unknown acquisition 'broken_acq' (plugin 'gdisco-broken' failed to load "
                                         "and may have provided it: gd list-plugins); ")

    several = Registry("metric", lambda: failed_hint(["gdisco-a", "gdisco-b"], ["gdisco-c"]))
    with pytest.raises(GdError, match=r"\(plugins 'gdisco-a', 'gdisco-b' failed to load and may have provided it: "
                                      r"gd list-plugins; GD_LOAD_PLUGINS leaves out the installed 'gdisco-c'\); "):
        several.get("mae")


def test_the_host_tells_its_registries_which_plugins_failed(host_with):
    class Exploding:
        @hookimpl
        def gd_register_acquisitions(self, register):
            raise RuntimeError("boom")

    class Clashing:
        @hookimpl
        def gd_register_metrics(self, register):
            register("score", lambda: None)

    class AlsoClashing(Clashing):
        pass

    host = host_with(Exploding(), Clashing(), AlsoClashing())
    # a plugin that registered (even in a clash) provided what it had: only the one that failed is named
    assert host.failed_to_load() == ["Exploding"]
    with pytest.raises(GdError, match=r"\(plugin 'Exploding' failed to load"):
        host.registries.models.get("anything")


# --- plain values: the same JSON in every process --------------------------------------------------


def _check_something(name, path, *, strict=True):
    return name


def test_plain_turns_functions_partials_and_records_into_stable_json():
    import dataclasses
    import json

    from gd_core.registry import literal, plain

    @dataclasses.dataclass(frozen=True)
    class Remote:
        url: str
        size: int | None = None

    class Opaque:
        pass

    value = {"check": functools.partial(_check_something, "achilles", strict=False), "files": (Remote("u"),),
             "reader": _check_something, "kind": Forest, "weird": Opaque(), "nan": float("nan"), 3: {1, 2}}
    shown = plain(value)

    assert shown["check"] == f'partial({__name__}._check_something, "achilles", strict=false)'
    assert shown["files"] == [{"url": "u", "size": None}]
    assert (shown["reader"], shown["kind"]) == (f"{__name__}._check_something", f"{__name__}.Forest")
    assert "0x" not in shown["weird"] and shown["weird"].startswith("<") and shown["nan"] == "nan"
    assert shown["3"] == [1, 2]
    json.dumps(shown, allow_nan=False)  # every value is JSON
    assert "0x" not in literal(_check_something) and "0x" not in literal(Opaque())
