"""The plugin host: one broken plugin never takes the others down, and installed plugins are found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gd_core import GdError, hookimpl
from gd_apps.cli import build_app
from gd_core.plugins import PluginHost, gd_version

RECORD_KEYS = {"name", "distribution", "version", "source", "loaded", "registered", "error"}


def _record(host: PluginHost, name: str):
    (record,) = [r for r in host.records if r.name == name]
    return record


def _all_names(host: PluginHost) -> set[tuple[str, str]]:
    return {(registry.kind, name) for registry in host.registries for name in registry.names()}


# --- failure isolation ---------------------------------------------------------------------------


class Healthy:
    @hookimpl
    def gd_register_models(self, register):
        register("healthy", lambda: None)


def test_a_plugin_that_raises_is_recorded_and_the_others_still_register(host_with):
    class Exploding:
        @hookimpl
        def gd_register_treatment_descriptors(self, register):
            register("early", lambda: None)  # made before the raise: must be discarded too

        @hookimpl
        def gd_register_models(self, register):
            register("doomed", lambda: None)
            raise RuntimeError("the frobnicator is missing")

    host = host_with(Exploding(), Healthy())
    exploding = _record(host, "Exploding")
    assert exploding.loaded is False
    assert "RuntimeError" in exploding.error and "the frobnicator is missing" in exploding.error
    assert exploding.registered == {}
    assert _all_names(host) == {("model", "healthy")}
    assert _record(host, "Healthy").loaded and _record(host, "Healthy").error is None


def test_a_failed_plugin_leaves_its_names_free_for_others(host_with):
    class Exploding:
        @hookimpl
        def gd_register_models(self, register):
            register("healthy", lambda: None)
            raise RuntimeError("boom")

    host = host_with(Exploding(), Healthy())
    assert host.registries.models.get("healthy").plugin == "Healthy"
    assert _record(host, "Healthy").error is None


def test_a_failed_plugin_adds_no_commands(host_with):
    class Exploding:
        @hookimpl
        def gd_register_models(self, register):
            raise RuntimeError("boom")

        @hookimpl
        def gd_register_commands(self, app):
            @app.command("exploding-command")
            def command() -> None:
                """Should not exist."""

    result = CliRunner().invoke(build_app(host_with(Exploding())), ["exploding-command"])
    assert result.exit_code != 0


def test_a_commands_hook_that_raises_is_recorded_and_the_cli_still_works(host_with):
    class BadCommands:
        @hookimpl
        def gd_register_commands(self, app):
            raise RuntimeError("no commands today")

    class GoodCommands:
        @hookimpl
        def gd_register_commands(self, app):
            @app.command("ping")
            def ping() -> None:
                """Answer pong."""
                typer.echo("pong")

    host = host_with(BadCommands(), GoodCommands())
    app = build_app(host)
    assert "no commands today" in _record(host, "BadCommands").error
    result = CliRunner().invoke(app, ["ping"])
    assert (result.exit_code, result.stdout.strip()) == (0, "pong")


def test_a_misspelt_hook_is_recorded_with_the_right_name_suggested(host_with):
    class Misspelt:
        @hookimpl
        def gd_register_model(self, register):
            register("never", lambda: None)

        @hookimpl
        def gd_register_metrics(self, register):
            register("never_either", lambda: None)

    host = host_with(Misspelt(), Healthy())
    misspelt = _record(host, "Misspelt")
    assert misspelt.loaded is False
    assert "gd_register_model'" in misspelt.error
    assert "did you mean 'gd_register_models'" in misspelt.error
    assert _all_names(host) == {("model", "healthy")}


def test_a_hook_function_without_hookimpl_is_reported(host_with):
    class Unmarked:
        def gd_register_models(self, register):
            register("unmarked", lambda: None)

    host = host_with(Unmarked(), Healthy())
    unmarked = _record(host, "Unmarked")
    assert unmarked.loaded is False
    assert "gd_register_models" in unmarked.error and "@hookimpl" in unmarked.error
    assert _all_names(host) == {("model", "healthy")}


@pytest.mark.parametrize("bad_name", ["bad name", "1abc", "", "with-dash", "_leading", 42])
def test_an_invalid_name_fails_the_plugin(host_with, bad_name):
    class BadName:
        @hookimpl
        def gd_register_models(self, register):
            register("fine_before", lambda: None)
            register(bad_name, lambda: None)

    host = host_with(BadName(), Healthy())
    record = _record(host, "BadName")
    assert record.loaded is False
    assert repr(bad_name) in record.error
    assert _all_names(host) == {("model", "healthy")}


def test_a_non_callable_factory_fails_the_plugin(host_with):
    class NotCallable:
        @hookimpl
        def gd_register_metrics(self, register):
            register("constant", 1.0)

    host = host_with(NotCallable(), Healthy())
    record = _record(host, "NotCallable")
    assert record.loaded is False
    assert "constant" in record.error and "not callable" in record.error
    assert _all_names(host) == {("model", "healthy")}


def test_a_plugin_registering_one_name_twice_fails(host_with):
    class Twice:
        @hookimpl
        def gd_register_acquisitions(self, register):
            register("again", lambda: None)
            register("again", lambda: None)

    host = host_with(Twice(), Healthy())
    record = _record(host, "Twice")
    assert record.loaded is False
    assert "again" in record.error and "twice" in record.error
    assert _all_names(host) == {("model", "healthy")}


# --- the same name from two plugins --------------------------------------------------------------


def test_a_name_registered_by_two_plugins_names_both(host_with):
    class First:
        @hookimpl
        def gd_register_models(self, register):
            register("shared", lambda: "first")
            register("first_only", lambda: "first")

    class Second:
        @hookimpl
        def gd_register_models(self, register):
            register("shared", lambda: "second")
            register("second_only", lambda: "second")

    host = host_with(First(), Second())
    assert _record(host, "First").error is None
    second = _record(host, "Second")
    assert "'First'" in second.error and "'Second'" in second.error and "shared" in second.error

    with pytest.raises(GdError) as excinfo:
        host.registries.models.get("shared")
    message = str(excinfo.value)
    assert "'First'" in message and "'Second'" in message and "GD_LOAD_PLUGINS" in message
    with pytest.raises(GdError):
        host.registries.models.create("shared")

    assert host.registries.models.create("first_only") == "first"
    assert host.registries.models.create("second_only") == "second"


def test_a_plugin_clashing_with_a_builtin_names_the_builtin(host_with):
    reference = PluginHost(builtins=True, entry_points=False)
    builtin_entry = next(iter(reference.registries.acquisitions))

    class Copycat:
        @hookimpl
        def gd_register_acquisitions(self, register):
            register(builtin_entry.name, lambda: None)

    host = host_with(Copycat(), builtins=True)
    with pytest.raises(GdError) as excinfo:
        host.registries.acquisitions.get(builtin_entry.name)
    assert f"'{builtin_entry.plugin}'" in str(excinfo.value) and "'Copycat'" in str(excinfo.value)


def test_two_plugins_under_one_name_do_not_take_each_other_down(host_with):
    host = host_with(Healthy(), Healthy())
    first, second = host.records
    assert first.loaded and first.error is None
    assert not second.loaded and second.error
    assert host.registries.models.get("healthy").plugin == "Healthy"


# --- built-ins -----------------------------------------------------------------------------------


def test_builtins_are_ordinary_plugins_that_all_load(builtin_host):
    import gd_plugins_builtin

    assert len(builtin_host.records) == len(gd_plugins_builtin.MODULES)
    for record in builtin_host.records:
        assert (record.source, record.distribution, record.version) == ("builtin", "gdisco", gd_version())
        assert record.loaded and record.error is None, record
        assert record.registered
        for kind, names in record.registered.items():
            for name in names:
                assert builtin_host.registries.of(kind).get(name).plugin == record.name


# --- installed plugins, through entry points -----------------------------------------------------

FAKE_DISTRIBUTIONS = {
    # distribution: (version, entry point name, module, module source or None for no module)
    "fake-good": ("1.0", "good", "fake_good_mod", (
        "from gd_core import hookimpl\n\n\n"
        "class Greedy:\n"
        '    """Pick the first available genes."""\n\n'
        "    requires = ()\n\n"
        "    def select(self, pool, model, batch_size, rng):\n"
        "        return pool.available[:batch_size]\n\n\n"
        "@hookimpl\n"
        "def gd_register_acquisitions(register):\n"
        '    register("fake_greedy", Greedy)\n\n\n'
        "@hookimpl\n"
        "def gd_register_commands(app):\n"
        '    @app.command("fake-hello")\n'
        "    def fake_hello():\n"
        '        """Say hello from an installed plugin."""\n'
        '        print("hello from fake-good")\n'
    )),
    "fake-broken": ("2.3.1", "broken", "fake_broken_mod",
                    'raise ImportError("fake-broken needs the frobnicator package")\n'),
    "fake-misspelt": ("0.4", "misspelt", "fake_misspelt_mod", (
        "from gd_core import hookimpl\n\n\n"
        "@hookimpl\n"
        "def gd_register_acquisition(register):\n"
        '    register("never", object)\n'
    )),
    "fake-missing": ("0.0.1", "missing", "fake_missing_mod_that_is_not_there", None),
}
FAILING = {"fake-broken", "fake-misspelt", "fake-missing"}


def _write_distributions(root: Path) -> None:
    for dist, (version, point, module, source) in FAKE_DISTRIBUTIONS.items():
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[gd.plugins]\n{point} = {module}\n")
        if source is not None:
            (root / f"{module}.py").write_text(source)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Four fake installed distributions with gd.plugins entry points, on sys.path for this test only."""
    _write_distributions(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates the import and metadata caches
    monkeypatch.delenv("GD_LOAD_PLUGINS")
    yield tmp_path
    for _, _, module, _ in FAKE_DISTRIBUTIONS.values():
        sys.modules.pop(module, None)


def _fake_records(host: PluginHost) -> dict[str, object]:
    return {r.name: r for r in host.records if r.name.startswith("fake-")}


def test_entry_points_are_loaded_with_their_distribution_and_version(installed):
    host = PluginHost(builtins=False, entry_points=True)
    records = _fake_records(host)
    assert set(records) == set(FAKE_DISTRIBUTIONS)
    for dist, record in records.items():
        assert (record.source, record.distribution, record.version) == (
            "entry point", dist, FAKE_DISTRIBUTIONS[dist][0])

    good = records["fake-good"]
    assert (good.loaded, good.error, good.registered) == (True, None, {"acquisition": ["fake_greedy"]})
    entry = host.registries.acquisitions.get("fake_greedy")
    assert (entry.plugin, entry.distribution, entry.version) == ("fake-good", "fake-good", "1.0")
    assert entry.summary == "Pick the first available genes."
    assert type(entry.create()).__name__ == "Greedy"


def test_an_entry_point_whose_import_fails_is_recorded(installed):
    broken = _record(PluginHost(builtins=False, entry_points=True), "fake-broken")
    assert broken.loaded is False and broken.registered == {}
    assert "fake_broken_mod" in broken.error
    assert "ImportError" in broken.error and "needs the frobnicator package" in broken.error


def test_an_entry_point_naming_a_missing_module_is_recorded(installed):
    missing = _record(PluginHost(builtins=False, entry_points=True), "fake-missing")
    assert missing.loaded is False
    assert "ModuleNotFoundError" in missing.error and "fake_missing_mod_that_is_not_there" in missing.error


def test_an_entry_point_with_a_misspelt_hook_is_recorded(installed):
    host = PluginHost(builtins=False, entry_points=True)
    misspelt = _record(host, "fake-misspelt")
    assert misspelt.loaded is False
    assert "did you mean 'gd_register_acquisitions'" in misspelt.error
    assert "never" not in host.registries.acquisitions


def test_installed_plugins_and_builtins_load_side_by_side(installed):
    host = PluginHost(builtins=True, entry_points=True)
    assert {r.source for r in host.records} == {"builtin", "entry point"}
    assert all(r.loaded for r in host.records if r.source == "builtin")
    assert "fake_greedy" in host.registries.acquisitions
    assert {name for name, r in _fake_records(host).items() if r.error} == FAILING


def test_an_installed_plugin_adds_commands(installed):
    app = build_app(PluginHost(builtins=False, entry_points=True))
    result = CliRunner().invoke(app, ["fake-hello"])
    assert (result.exit_code, result.stdout.strip()) == (0, "hello from fake-good")


def test_gd_load_plugins_unset_loads_every_distribution(installed):
    assert set(_fake_records(PluginHost(builtins=False, entry_points=True))) == set(FAKE_DISTRIBUTIONS)


def test_gd_load_plugins_empty_loads_none(installed, monkeypatch):
    monkeypatch.setenv("GD_LOAD_PLUGINS", "")
    assert PluginHost(builtins=False, entry_points=True).records == []


@pytest.mark.parametrize("chosen", ["fake-good", "fake_good", "Fake.Good", " fake-good "])
def test_gd_load_plugins_chooses_distributions_by_normalised_name(installed, monkeypatch, chosen):
    monkeypatch.setenv("GD_LOAD_PLUGINS", chosen)
    host = PluginHost(builtins=False, entry_points=True)
    assert [r.name for r in host.records] == ["fake-good"]
    assert "fake_greedy" in host.registries.acquisitions


def test_gd_load_plugins_takes_a_comma_separated_list(installed, monkeypatch):
    monkeypatch.setenv("GD_LOAD_PLUGINS", "fake-good,fake_broken")
    host = PluginHost(builtins=False, entry_points=True)
    assert sorted(r.name for r in host.records) == ["fake-broken", "fake-good"]


def test_gd_load_plugins_does_not_affect_builtins(installed, monkeypatch):
    monkeypatch.setenv("GD_LOAD_PLUGINS", "")
    host = PluginHost(builtins=True, entry_points=True)
    assert host.records and {r.source for r in host.records} == {"builtin"}


def test_strict_mode_turns_a_plugin_failure_into_an_error(installed, monkeypatch):
    monkeypatch.setenv("GD_STRICT_PLUGINS", "1")
    with pytest.raises(GdError) as excinfo:
        PluginHost(builtins=False, entry_points=True)
    message = str(excinfo.value)
    assert "GD_STRICT_PLUGINS" in message
    assert any(f"'{dist}'" in message for dist in FAILING)


def test_strict_mode_accepts_healthy_plugins(installed, monkeypatch):
    monkeypatch.setenv("GD_STRICT_PLUGINS", "1")
    monkeypatch.setenv("GD_LOAD_PLUGINS", "fake-good")
    assert PluginHost(builtins=True, entry_points=True).records[-1].name == "fake-good"


def test_strict_mode_also_covers_given_plugins(host_with, monkeypatch):
    class Exploding:
        @hookimpl
        def gd_register_models(self, register):
            raise RuntimeError("boom")

    monkeypatch.setenv("GD_STRICT_PLUGINS", "1")
    with pytest.raises(GdError, match="Exploding"):
        host_with(Exploding())


def test_strict_mode_off_when_zero(installed, monkeypatch):
    monkeypatch.setenv("GD_STRICT_PLUGINS", "0")
    host = PluginHost(builtins=False, entry_points=True)
    assert {name for name, r in _fake_records(host).items() if r.error} == FAILING


def test_the_gd_console_script_lists_builtin_and_installed_plugins(installed):
    gd = Path(sys.executable).parent / "gd"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GD_")}
    env["PYTHONPATH"] = str(installed)
    done = subprocess.run([str(gd), "list-plugins", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr

    rows = json.loads(done.stdout)
    assert all(set(row) == RECORD_KEYS for row in rows)
    by_name = {row["name"]: row for row in rows}
    builtins = [row for row in rows if row["source"] == "builtin"]
    assert builtins and all(row["loaded"] and row["error"] is None for row in builtins)
    assert set(FAKE_DISTRIBUTIONS) <= set(by_name)
    for dist in FAKE_DISTRIBUTIONS:
        row = by_name[dist]
        assert (row["source"], row["distribution"], row["version"]) == (
            "entry point", dist, FAKE_DISTRIBUTIONS[dist][0])
        if dist in FAILING:
            assert row["loaded"] is False and row["error"], row
        else:
            assert row["loaded"] is True and row["error"] is None, row
    assert by_name["fake-good"]["registered"] == {"acquisition": ["fake_greedy"], "command": ["fake-hello"]}
    # gd's own command groups are built-in plugins that use the same hook, and are listed as such
    assert by_name["builtin.sweep_commands"]["registered"] == {"command": ["sweep", "report", "plot"]}
    assert by_name["builtin.data_commands"]["registered"] == {"command": ["data"]}


# --- gd list-plugins -----------------------------------------------------------------------------


class Exploding:
    @hookimpl
    def gd_register_models(self, register):
        raise RuntimeError("the flux capacitor needs counterpart_configuration_file")


class Misspelt:
    @hookimpl
    def gd_register_model(self, register):
        pass


def test_list_plugins_json_has_stable_keys(host_with):
    host = host_with(Exploding(), Healthy(), builtins=True)
    result = CliRunner().invoke(build_app(host), ["list-plugins", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == [r.name for r in host.records]
    assert all(set(row) == RECORD_KEYS for row in rows)
    assert rows == [r.as_dict() for r in host.records]


def test_list_plugins_shows_each_failing_plugins_whole_error(host_with, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # a standard terminal, and what rich assumes when piped
    host = host_with(Exploding(), Misspelt(), Healthy(), builtins=True)
    result = CliRunner().invoke(build_app(host), ["list-plugins"])
    assert result.exit_code == 0

    # the table may wrap a long error over several lines, but every word of it must be there
    shown = set(result.stdout.replace("│", " ").split())
    for name in ("Exploding", "Misspelt"):
        error = _record(host, name).error
        missing = [word for word in error.split() if word not in shown]
        assert not missing, f"words of {name}'s error missing from `gd list-plugins`: {missing}"
    assert "GD_LOAD_PLUGINS" in result.stderr


# --- a plugin's error is one line (issue 11) -----------------------------------------------------


def test_a_hook_with_an_argument_its_spec_lacks_is_one_line_with_the_way_out(host_with):
    class WrongArgument:
        @hookimpl
        def gd_register_models(self, registr):
            pass

    record = _record(host_with(WrongArgument()), "WrongArgument")
    assert record.loaded is False
    assert "\n" not in record.error  # pluggy's own message spans three lines
    assert "'registr'" in record.error and "see gd_core/hookspecs.py" in record.error


def test_a_plugin_file_with_a_wrong_hook_argument_is_one_error_line(tmp_path, capsys):
    from tests.helpers import gd, run_args

    plugin = tmp_path / "wrong.py"
    plugin.write_text("from gd_core import hookimpl\n\n@hookimpl\ndef gd_register_models(registr):\n    pass\n")
    code, _, err = gd(capsys, [*run_args(tmp_path / "run"), "--plugin", str(plugin)])
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {plugin}: PluginValidationError")
