"""A misbehaving plugin gets one `error:` line naming it (component and plugin), never the bug handler's
"unexpected", a traceback or lines of warnings; and nothing it does changes what other components see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_apps import cli
from gd_core import hookimpl
from gd_core.errors import GdError
from tests.helpers import gd, run_args

GENES = [f"G{i:04d}" for i in range(300)]


class BadStr(Exception):
    """An exception whose own text cannot be made."""

    def __str__(self) -> str:
        raise RuntimeError("str of the exception failed")


class Mean:
    """A model predicting the training mean; ``how`` picks one way for it to misbehave."""

    def __init__(self, how: str = "") -> None:
        self.how, self.mean = how, 0.0

    def fit(self, X, y, rng):
        if self.how == "fit badstr":
            raise BadStr()
        if self.how == "fit memory":
            raise MemoryError()
        if self.how == "fit gderror lines":
            raise GdError("\n".join(f"line {i}" for i in range(50)))
        if self.how == "fit gderror named":
            raise GdError("model 'm' needs at least 1,000 genes; use a larger batch")
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        values = np.full(len(X), self.mean)
        return {"predict complex": values + 1j, "predict strings": values.astype(str),
                "predict bools": values > 0, "predict huge": 1e300 * (1 + np.arange(len(X))),
                "predict ragged": [[1.0, 2.0], [3.0]]}.get(self.how, values)

    def sample(self, X):
        return np.stack([self.predict(X)] * 3)

    def embed(self, X):
        if self.how == "embed raises":
            raise KeyError("embed boom")
        if self.how == "embed strings":
            return np.full((len(X), 2), "x")
        return np.zeros((len(X), 0)) if self.how == "embed no columns" else np.asarray(X)[:, :2]


class Misbehaving:
    """Registers model 'm' and acquisition 'a' whose behaviour the test picks, metric 'x', descriptor 'd', assay 'q'."""

    def __init__(self, how: str) -> None:
        self.how = how

    @hookimpl
    def gd_register_models(self, register):
        register("m", lambda: Mean(self.how))

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("a", lambda: Acquisition(self.how))

    @hookimpl
    def gd_register_metrics(self, register):
        register("x", lambda: Metric(self.how))

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        register("d", lambda: descriptor(self.how))

    @hookimpl
    def gd_register_assays(self, register):
        register("q", lambda: assay(self.how))


class Acquisition:
    def __init__(self, how: str) -> None:
        self.how = how
        if how == "requires none":
            self.requires = None
        elif how == "requires number":
            self.requires = 5

    def check_model(self, model):
        if self.how == "check_model refuses":
            raise ValueError("not this model")
        if self.how == "check_model badstr":
            raise BadStr()

    def select(self, pool, model, batch_size, rng):
        if self.how == "select ragged":
            return [[1, 2], [3]]
        return pool.available[:batch_size]


class Metric:
    def __init__(self, how: str) -> None:
        self.how = how

    def __call__(self, pool, model, truth):
        if self.how == "metric huge":
            return 10**400
        if self.how == "metric writes predictions":
            truth.predicted_test[:] = truth.y_test
        if self.how == "metric writes hits":
            truth.hits[:] = truth.hits[0]
        if self.how == "metric writes pool":
            pool.available[:] = pool.available[0]
        return 0.5


def descriptor(how: str) -> pd.DataFrame:
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 5)), index=GENES).add_prefix("f")
    if how == "no columns":
        return table.iloc[:, :0]
    if how == "two levels":
        table.index = pd.MultiIndex.from_arrays([GENES, GENES])
    if how == "1 and '1'":
        table.index = ["1", 1, *GENES[2:]]
    if how == "blank gene":
        table.index = ["  ", *GENES[1:]]
    if how == "complex features":
        table["f0"] = table["f0"] + 1j
    if how == "true/false features":
        table["f0"] = table["f0"] > 0
    if how == "float32 overflow":
        table.iloc[0, 0] = 1e39
    if how == "padded gene":
        table.index = [" G0000", *GENES[1:]]
    return table


def assay(how: str) -> pd.Series:
    values = pd.Series(np.random.default_rng(1).normal(size=300), index=GENES)
    if how == "true/false outcomes":
        values = values > 0
    if how == "hit list not a list":
        values.attrs["hit_list"] = 5
    if how == "harmonise report not counts":
        values.attrs["harmonise"] = {"alias": "many"}
    if how == "constant outcomes":
        values[:] = 0.0
    return values


def run(tmp_path: Path, capsys, monkeypatch, host_with, how: str, *, model: str = "random_forest",
        acquisition: str = "random", data: bool = False, metric: bool = False) -> tuple[int, str]:
    """`gd run` with the Misbehaving plugin: exit code and stderr."""
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Misbehaving(how), builtins=True))
    extra = ["--metric", "x", "--metric", "mse", "--metric", "hit_ratio"] if metric else []
    if data:  # the plugin's own tables, 300 genes
        argv = ["run", "--descriptor", "d", "--assay", "q", "--model", "random_forest", "--param",
                "model.n_estimators=5", "--acquisition", "random", "--batch-size", "10", "--cycles", "2", "--out",
                str(tmp_path / "run")]
    else:
        argv = run_args(tmp_path / "run", *extra, model=model, acquisition=acquisition)
    code, _, err = gd(capsys, argv)
    return code, err


def the_line(err: str) -> str:
    """The one `error:` line after the cycles' progress lines, with no warning or traceback around it."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("cycle ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "error: unexpected" not in err and "Traceback" not in err and "Warning" not in err, err
    return lines[0]


@pytest.mark.parametrize(("how", "model", "acquisition", "expected"), [
    ("fit badstr", "m", "random", "model 'm' (plugin 'Misbehaving') raised in fit in cycle 0: BadStr: <BadStr whose "
                                  "text cannot be shown>"),
    ("fit memory", "m", "random", "model 'm' (plugin 'Misbehaving') raised in fit in cycle 0: MemoryError;"),
    # a plugin's own message to the user, with whose it is
    ("fit gderror lines", "m", "random", "error: model 'm' (plugin 'Misbehaving') in fit in cycle 0: line 0 line 1 "
                                         "line 2"),
    ("fit gderror named", "m", "random", "error: model 'm' needs at least 1,000 genes; use a larger batch"),
    ("predict complex", "m", "random", "model 'm' predicted values of dtype complex128; predict must return one "
                                       "real number per row"),
    ("predict strings", "m", "random", "model 'm' predicted values of dtype <U"),
    ("predict bools", "m", "random", "model 'm' predicted values of dtype bool"),
    ("predict ragged", "m", "random", "model 'm' predicted list that is not an array of numbers"),
    # the model is the culprit, not the metric that overflowed on its predictions
    ("predict huge", "m", "random", "model 'm' (plugin 'Misbehaving') predicted values as large as 1.2e+302 for the "
                                    "test genes in cycle 0, too large for float64 arithmetic (metric 'mse' returned "
                                    "inf); fix the model"),
    ("embed raises", "m", "coreset", "model 'm' (plugin 'Misbehaving') raised in embed (called by acquisition "
                                     "'coreset') in cycle 0: KeyError: 'embed boom'"),
    ("embed strings", "m", "coreset", "model.embed returned values of dtype <U1"),
    ("embed no columns", "m", "coreset", ", 0) for 470 genes; it must return [470, k] with k ≥ 1"),
    ("select ragged", "random_forest", "a", "acquisition 'a' (plugin 'Misbehaving') returned a list that is not an "
                                            "array at cycle 0"),
    ("requires none", "random_forest", "a", "acquisition 'a' (plugin 'Misbehaving') declares requires = None; write "
                                            "a tuple of capability names"),
    ("requires number", "random_forest", "a", "acquisition 'a' (plugin 'Misbehaving') declares requires = 5"),
    ("check_model refuses", "random_forest", "a", "acquisition 'a' (plugin 'Misbehaving') with model "
                                                  "'random_forest': not this model"),
    ("check_model badstr", "random_forest", "a", "acquisition 'a' (plugin 'Misbehaving') raised BadStr in "
                                                 "check_model(model "
                                                 "'random_forest'): <BadStr whose text cannot be shown>"),
])
def test_a_component_that_misbehaves_is_named_on_one_line(tmp_path, capsys, monkeypatch, host_with, how, model,
                                                          acquisition, expected):
    code, err = run(tmp_path, capsys, monkeypatch, host_with, how, model=model, acquisition=acquisition)
    assert code == 1
    assert expected in the_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("how", "expected"), [
    ("metric huge", "metric 'x' (plugin 'Misbehaving') returned int, not a number (OverflowError: int too large to "
                    "convert to float), in cycle 0"),
    ("metric writes predictions", "metric 'x' (plugin 'Misbehaving') raised in its computation in cycle 0: "
                                  "ValueError: assignment destination is read-only"),
    ("metric writes hits", "assignment destination is read-only"),
    ("metric writes pool", "assignment destination is read-only"),
])
def test_a_metric_can_neither_break_the_run_unnamed_nor_change_what_the_other_metrics_read(
        tmp_path, capsys, monkeypatch, host_with, how, expected):
    code, err = run(tmp_path, capsys, monkeypatch, host_with, how, metric=True)
    assert code == 1
    assert expected in the_line(err)


@pytest.mark.parametrize(("how", "expected"), [
    ("no columns", "descriptor 'd' (plugin 'Misbehaving') has no feature columns, only gene names"),
    ("two levels", "descriptor 'd' (plugin 'Misbehaving') is indexed by 2 levels; index it by gene symbol alone"),
    ("1 and '1'", "descriptor 'd' (plugin 'Misbehaving') lists 1 gene(s) more than once (e.g. ['1'])"),
    ("blank gene", "descriptor 'd' (plugin 'Misbehaving') has 1 row(s) whose gene name is missing or blank"),
    ("complex features", "descriptor 'd' (plugin 'Misbehaving') has non-numeric columns ['f0']"),
    ("float32 overflow", "descriptor 'd' (plugin 'Misbehaving') has NaN or infinite features for 1 aligned gene(s)"),
    ("true/false outcomes", "assay 'q' (plugin 'Misbehaving') has non-numeric values (bool)"),
    ("hit list not a list", "assay 'q' (plugin 'Misbehaving') carries attrs['hit_list'] = 5; it must be a list of "
                            "gene symbols"),
    ("constant outcomes", "assay 'q' (plugin 'Misbehaving') has the same value (0) for all 300 genes it shares with "
                          "descriptor 'd': there is nothing to learn and no hit to find"),
])
def test_a_table_gd_cannot_use_is_refused_naming_it(tmp_path, capsys, monkeypatch, host_with, how, expected):
    code, err = run(tmp_path, capsys, monkeypatch, host_with, how, data=True)
    assert code == 1
    assert expected in the_line(err)


@pytest.mark.parametrize("how", ["true/false features", "harmonise report not counts"])
def test_true_false_features_and_a_report_gd_did_not_write_are_accepted(tmp_path, capsys, monkeypatch, host_with,
                                                                         how):
    code, err = run(tmp_path, capsys, monkeypatch, host_with, how, data=True)
    assert code == 0, err


def test_a_metric_without_a_direction_gd_knows_is_refused_when_its_plugin_loads(host_with):
    class Sideways:
        @hookimpl
        def gd_register_metrics(self, register):
            register("x", lambda: (lambda pool, model, truth: 0.0), better="sideways")

    host = host_with(Sideways())
    (record,) = [r for r in host.records if r.name == "Sideways"]
    assert "metric 'x' declares better='sideways'; write better=\"lower\" or better=\"higher\"" in record.error
    assert "x" not in host.registries.metrics.names()


class Unreadable(Mean):
    """A model whose own __getattr__ answers the question "do you have sample?" by raising."""

    def __getattr__(self, name):
        raise RuntimeError(f"getattr {name}")


class TextFails:
    def __str__(self) -> str:
        raise RuntimeError("summary boom")


class UnreadablePlugin:
    """Registers model 'm', whose attributes cannot be read."""

    @hookimpl
    def gd_register_models(self, register):
        register("m", Unreadable)


def test_a_model_whose_attributes_cannot_be_read_is_one_line(tmp_path, capsys, monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(UnreadablePlugin(), builtins=True))
    code, _, err = gd(capsys, run_args(tmp_path / "run", model="m"))
    assert code == 1
    line = the_line(err)
    assert line.startswith("error: model 'm' (plugin 'UnreadablePlugin'): reading its methods raised "
                           "RuntimeError: getattr ")
    assert line.endswith("; a model's attributes must be readable")


def test_a_summary_whose_text_fails_does_not_fail_a_run_or_a_listing(tmp_path, capsys, monkeypatch, host_with):
    class Plugin:
        @hookimpl
        def gd_register_models(self, register):
            register("m", Mean, summary=TextFails())

    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Plugin(), builtins=True))
    assert gd(capsys, run_args(tmp_path / "run", model="m"))[0] == 0
    code, out, _ = gd(capsys, ["list", "model"])
    assert code == 0 and "random_forest" in out


def test_a_plugin_calling_sys_exit_fails_its_runs_in_a_sweep_and_the_sweep_goes_on(tmp_path, capsys):
    plugin = tmp_path / "exits.py"
    plugin.write_text("import sys\nimport numpy as np\nfrom gd_core import hookimpl\n\n"
                      "class Exits:\n    def fit(self, X, y, rng):\n        sys.exit(0)\n\n"
                      "    def predict(self, X):\n        return np.zeros(len(X))\n\n"
                      "@hookimpl\ndef gd_register_models(register):\n    register('exits', Exits)\n")
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, ["sweep", "--out", str(out), "--assay", "simulated", "--descriptor", "simulated",
                               "--param", "descriptor.n_genes=300", "--param", "assay.n_genes=300", "--model",
                               "exits", "--acquisition", "random", "--batch-size", "10", "--cycles", "2", "--seeds",
                               "2", "--jobs", "1", "--plugin", str(plugin)])
    assert code == 1
    assert err.count(f"stopped by sys.exit(0) called in {plugin}:7; a plugin must raise an exception") == 2
    assert err.strip().splitlines()[-1].startswith("error: 2 of 2 runs failed")
    assert len(list(out.glob("runs/*/failure.json"))) == 2


def test_a_gene_name_padded_with_spaces_runs_with_a_note_in_the_log(tmp_path, capsys, monkeypatch, host_with):
    code, err = run(tmp_path, capsys, monkeypatch, host_with, "padded gene", data=True)
    assert code == 0, err
    assert ("descriptor 'd' (plugin 'Misbehaving'): 1 gene name(s) begin or end with spaces or tabs (e.g. ' G0000') "
            "and match only a name padded the same way") in (tmp_path / "run" / "run.log").read_text()


@pytest.mark.parametrize(("how", "expected"), [
    ("requires none", "acquisition 'a' (plugin 'Misbehaving') declares requires = None; write a tuple"),
    ("requires number", "acquisition 'a' (plugin 'Misbehaving') declares requires = 5"),
    ("check_model refuses", "acquisition 'a' (plugin 'Misbehaving') with model 'random_forest': not this model"),
])
def test_gd_sweep_names_the_plugin_of_an_acquisition_it_cannot_pair(tmp_path, capsys, monkeypatch, host_with, how,
                                                                    expected):
    # a sweep checks every pairing before its first run, as gd run does for its one
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Misbehaving(how), builtins=True))
    code, _, err = gd(capsys, ["sweep", "--out", str(tmp_path / "s"), "--assay", "simulated", "--descriptor",
                               "simulated", "--model", "random_forest", "--acquisition", "a", "--seeds", "1",
                               "--cycles", "2", "--jobs", "1"])
    assert code == 1
    assert expected in the_line(err)
    assert not (tmp_path / "s").exists()


def test_gd_sweep_names_a_model_whose_attributes_cannot_be_read(tmp_path, capsys, monkeypatch, host_with):
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(UnreadablePlugin(), builtins=True))
    code, _, err = gd(capsys, ["sweep", "--out", str(tmp_path / "s"), "--assay", "simulated", "--descriptor",
                               "simulated", "--model", "m", "--acquisition", "topuncertain", "--seeds", "1",
                               "--cycles", "2", "--jobs", "1"])
    assert code == 1
    assert the_line(err).startswith("error: model 'm' (plugin 'UnreadablePlugin'): reading its methods raised "
                                    "RuntimeError")
