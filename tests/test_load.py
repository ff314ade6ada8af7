"""gd_core.load: a registered descriptor or assay by name, as gd run builds it, cached for the process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, hookimpl, load, loader
from gd_core.data import align
from tests.helpers import gd

GO_TOP = '''\
from gd_core import hookimpl, load


def go_top(dims: int = 8):
    """The first `dims` components of the Gene Ontology descriptor."""
    return load("descriptor", "gene_ontology").iloc[:, :dims]


@hookimpl
def gd_register_treatment_descriptors(register):
    register("go_top", go_top)
'''


@pytest.fixture(autouse=True)
def _fresh_loader():
    """Each test starts with no host and no cached table, and leaves none behind."""
    loader.reset()
    yield
    loader.reset()


class Counting:
    """A plugin whose descriptor counts how often its factory ran."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        def counted(scale: float = 1.0):
            self.calls += 1
            return pd.DataFrame({"f0": [1.0 * scale, 2.0 * scale]}, index=["A", "B"])

        register("counted", counted)


def test_load_gives_the_registered_tables():
    go = load("descriptor", "gene_ontology")
    il2 = load("assay", "schmidt_2021_il2")

    assert isinstance(go, pd.DataFrame) and go.shape[1] == 128 and go.index.is_unique
    assert isinstance(il2, pd.Series) and np.issubdtype(il2.dtype, np.floating)
    assert load("descriptor", "gene_ontology", dims=16).shape == (len(go), 16)


def test_a_second_call_returns_a_copy_of_the_cached_table_without_calling_the_factory_again():
    plugin = Counting()
    first = load("descriptor", "counted", plugins=[plugin])
    second = load("descriptor", "counted")
    explicit_default = load("descriptor", "counted", scale=1.0)

    assert plugin.calls == 1
    assert first.equals(second) and second.equals(explicit_default)
    first.iloc[0, 0] = 99.0  # a caller changing its copy changes nobody else's
    assert load("descriptor", "counted").iloc[0, 0] == 1.0
    assert load("descriptor", "counted", scale=2.0).iloc[0, 0] == 2.0 and plugin.calls == 2


def test_one_host_serves_every_call(monkeypatch):
    import gd_core.plugins

    built = []

    class CountedHost(gd_core.plugins.PluginHost):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gd_core.plugins, "PluginHost", CountedHost)
    load("assay", "simulated", n_genes=50)
    load("assay", "simulated", n_genes=60)
    load("descriptor", "simulated", n_genes=50, n_features=2)

    assert len(built) == 1 and loader.process_host() is built[0]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: load("descriptor", "gene_ontolgy"), "unknown descriptor 'gene_ontolgy'; did you mean 'gene_ontology'?"),
    (lambda: load("descriptor", "gene_ontology", dim=8), "descriptor 'gene_ontology' has no parameter 'dim'; did you "
                                                         "mean 'dims'?"),
    (lambda: load("descriptor", "gene_ontology", dims=0), r"dims must be .*, got 0 \(set as descriptor.dims\)"),
    (lambda: load("assay", "simulated", n_genes="many"), "n_genes must be a positive integer"),
    (lambda: load("descripter", "gene_ontology"), "unknown kind 'descripter'; did you mean 'descriptor'?"),
    (lambda: load("model", "bnn"), "builds descriptors and assays, not a model"),
    (lambda: load("assay", "no/such/table.csv"), "no/such/table.csv"),
])
def test_a_bad_request_is_one_line_naming_the_culprit(call, message):
    with pytest.raises(GdError, match=message) as refusal:
        call()
    assert "\n" not in str(refusal.value)


def test_a_factory_that_loads_itself_is_refused():
    class Ouroboros:
        @hookimpl
        def gd_register_treatment_descriptors(self, register):
            register("ouroboros", lambda: load("descriptor", "ouroboros"))

    with pytest.raises(GdError, match=r"descriptor 'ouroboros' loads itself .*ouroboros → ouroboros"):
        load("descriptor", "ouroboros", plugins=[Ouroboros()])


def test_a_factory_returning_the_wrong_type_is_named():
    class Listy:
        @hookimpl
        def gd_register_assays(self, register):
            register("listy", lambda: [1.0, 2.0])

    with pytest.raises(GdError, match="assay 'listy' returned list; an assay factory must return a pandas Series"):
        load("assay", "listy", plugins=[Listy()])


LOADS_AT_IMPORT = """
from gd_core import hookimpl, load

GO = load("descriptor", "gene_ontology")


@hookimpl
def gd_register_treatment_descriptors(register):
    register("go_copy", lambda: GO)
"""

LOADS_IN_HOOK = """
from gd_core import hookimpl, load


@hookimpl
def gd_register_treatment_descriptors(register):
    GO = load("descriptor", "gene_ontology")
    register("go_copy", lambda: GO)
"""

REFUSAL = ("gd_core.load was called while gd was loading plugins (at a plugin's import or in its gd_register_* hook); "
           "call it inside the factory, which runs when a run needs the data")


@pytest.mark.parametrize("source", [LOADS_AT_IMPORT, LOADS_IN_HOOK], ids=["at import", "in the hook"])
def test_gd_run_refuses_a_plugin_file_that_loads_while_plugins_load(tmp_path, capsys, source):
    path = tmp_path / "go_copy.py"
    path.write_text(source)
    code, _, err = gd(capsys, ["run", "--plugin", str(path), "--descriptor", "go_copy", "--out", str(tmp_path / "run")])
    assert code == 1 and REFUSAL in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("source", [LOADS_AT_IMPORT, LOADS_IN_HOOK], ids=["at import", "in the hook"])
def test_load_while_plugins_are_loading_fails_the_plugin_not_gd(tmp_path, source):
    from gd_core.plugins import PluginHost, load_plugin_file

    path = tmp_path / "go_copy.py"
    path.write_text(source)
    host = PluginHost(entry_points=False)
    with pytest.raises(GdError) as refused:
        load_plugin_file(host, path)
    assert REFUSAL in str(refused.value) and str(path) in str(refused.value)
    assert "go_copy" not in host.registries.descriptors  # nothing half-registered
    assert load("assay", "simulated", n_genes=30).shape == (30,)  # load itself still works afterwards


def test_plugin_files_are_loaded_once(tmp_path):
    path = tmp_path / "go_top.py"
    path.write_text(GO_TOP)

    narrow = load("descriptor", "go_top", plugins=[path], dims=3)
    again = load("descriptor", "go_top", plugins=[str(path)], dims=3)

    assert narrow.shape[1] == 3 and narrow.equals(again)
    assert [r.source for r in loader.process_host().records].count("file") == 1


def test_use_host_shares_a_host_and_forgets_the_other_hosts_tables(host_with):
    plugin = Counting()
    load("descriptor", "counted", plugins=[plugin])
    loader.use_host(host_with(plugin))
    load("descriptor", "counted")

    assert plugin.calls == 2
    with pytest.raises(GdError, match="unknown assay 'schmidt_2021_il2'"):  # this host has no built-ins
        load("assay", "schmidt_2021_il2")


def test_a_plugin_descriptor_built_on_gene_ontology_runs_end_to_end(tmp_path, capsys):
    path = tmp_path / "go_top.py"
    path.write_text(GO_TOP)
    out = tmp_path / "run"

    code, _, err = gd(capsys, ["run", "--plugin", str(path), "--descriptor", "go_top", "--param", "descriptor.dims=5",
                               "--assay", "schmidt_2021_il2", "--model", "random_forest", "--param",
                               "model.n_estimators=5", "--acquisition", "random", "--batch-size", "16", "--cycles",
                               "2", "--out", str(out)])

    assert code == 0, err
    data = json.loads((out / "config.json").read_text())["data"]
    expected = align(load("descriptor", "gene_ontology").iloc[:, :5], load("assay", "schmidt_2021_il2"),
                     descriptor_name="go_top", assay_name="schmidt_2021_il2")
    assert data["n_features"] == 5 and data["X_sha256"] == expected.checksums()["X_sha256"]


def test_a_refusal_inside_a_plugin_factory_reaches_gd_run_as_one_line(tmp_path, capsys):
    path = tmp_path / "go_typo.py"
    path.write_text(GO_TOP.replace('"gene_ontology"', '"gene_ontolgy"'))

    code, _, err = gd(capsys, ["run", "--plugin", str(path), "--descriptor", "go_top", "--assay", "simulated",
                               "--out", str(tmp_path / "run")])

    assert code == 1 and len(err.strip().splitlines()) == 1
    # the line starts with the component the user asked for, then what went wrong inside it
    assert err.startswith("error: descriptor 'go_top': unknown descriptor 'gene_ontolgy'; did you mean 'gene_ontology'?")
