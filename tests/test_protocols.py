"""Protocols (gd_core/protocols.py): split, hit definition and defaults, through the loop and the commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, hookimpl
from gd_core.loop import RunConfig, execute, prepare
from gd_core.protocols import PROTOCOLS, essential_genes, get_protocol
from tests.helpers import gd


def screen_table(n: int = 400, *, hit_list: list[str] | None = None, genes: list[str] | None = None, seed: int = 0):
    """A descriptor whose column ``id`` tells the gene, and a signed assay (|y| and y rank genes differently)."""
    rng = np.random.default_rng(seed)
    names = genes if genes is not None else [f"G{i:04d}" for i in range(n)]
    y = rng.standard_normal(len(names)).astype(np.float32)
    descriptor = pd.DataFrame({"id": np.arange(len(names), dtype=np.float32),
                               "noise": rng.standard_normal(len(names)).astype(np.float32)}, index=names)
    assay = pd.Series(y, index=names, name="outcome")
    if hit_list is not None:
        assay.attrs["hit_list"] = hit_list
    return descriptor, assay


class Screen:
    """Registers a descriptor and an assay, both as 'screen'."""

    def __init__(self, descriptor: pd.DataFrame, assay: pd.Series) -> None:
        self.descriptor, self.assay = descriptor, assay

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        register("screen", lambda: self.descriptor)

    @hookimpl
    def gd_register_assays(self, register):
        register("screen", lambda: self.assay.copy())  # a copy keeps attrs, as a fresh load would


class Spy:
    """An acquisition that records what each pool showed it (measured outcomes, hit rule), then picks at random."""

    seen: list = []

    def select(self, pool, model, batch_size, rng):
        Spy.seen.append((pool.acquired.copy(), None if pool.measured is None else pool.measured.copy(),
                         pool.hit_rule))
        return rng.choice(pool.available, batch_size, replace=False)

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("spy", Spy)


def plan_for(host, protocol: str, **settings):
    config = RunConfig.for_protocol(protocol, assay="screen", descriptor="screen", model="random_forest",
                                    acquisition=settings.pop("acquisition", "random"), **settings)
    return prepare(config, host.registries)


@pytest.fixture
def screen_host(host_with):
    def make(descriptor, assay):
        return host_with(Screen(descriptor, assay), Spy(), builtins=True)
    return make


# ------------------------------------------------------------------------------------------- defaults

def test_each_protocol_fills_in_its_own_defaults_and_only_those_left_out():
    bda = RunConfig.for_protocol("biodiscoveryagent", assay="bda_il2", descriptor="d", model="m", acquisition="a")
    small = RunConfig.for_protocol("biodiscoveryagent", assay="scharenberg_2022_choline", descriptor="d", model="m",
                                   acquisition="a")
    disco = RunConfig.for_protocol("discobax", assay="x", descriptor="d", model="m", acquisition="a", cycles=3)
    genedisco = RunConfig.for_protocol(assay="x", descriptor="d", model="m", acquisition="a")

    assert (bda.batch_size, bda.cycles, bda.test_fraction, bda.hit_fraction, bda.metrics) == (
        128, 5, 0.0, 0.05, ("hit_ratio",))
    assert (small.batch_size, small.cycles) == (32, 5)
    assert (disco.batch_size, disco.cycles, disco.test_fraction, disco.hit_fraction) == (32, 3, 0.0, 0.01)
    assert (genedisco.protocol, genedisco.batch_size, genedisco.cycles, genedisco.test_fraction,
            genedisco.hit_fraction, genedisco.metrics) == ("genedisco", 64, 8, 0.2, 0.05,
                                                           ("mse", "hit_ratio", "spearman"))
    assert genedisco == RunConfig("x", "d", "m", "a", batch_size=64, cycles=8)  # the defaults before protocols


def test_an_unknown_protocol_is_one_line_with_a_suggestion():
    with pytest.raises(GdError, match=r"--protocol 'discobx' is not a protocol; did you mean 'discobax'\? choose "
                                      r"one of genedisco, biodiscoveryagent, biodiscoveryagent_noess, discobax"):
        get_protocol("discobx")


# ---------------------------------------------------------------------------------- split and hits

def test_genedisco_is_unchanged_a_test_split_and_the_top_5_percent_by_abs_y_of_the_other_genes(screen_host):
    descriptor, assay = screen_table()
    plan = plan_for(screen_host(descriptor, assay), "genedisco", batch_size=10, cycles=2)

    y = plan.dataset.y
    assert len(plan.test) == 80 and len(np.intersect1d(plan.test, plan.pool)) == 0
    expected = plan.pool[np.argsort(-np.abs(y[plan.pool]), kind="stable")[:16]]  # 5% of 320
    assert set(plan.hits) == set(expected)
    assert plan.protocol_facts["hits_from"] == "top 0.05 of the non-test genes by |y|"


def test_biodiscoveryagent_has_no_test_split_and_counts_the_published_hits_the_descriptor_covers(screen_host):
    descriptor, assay = screen_table(hit_list=["G0003", "G0010", "G0399", "NOT_IN_DESCRIPTOR"])
    plan = plan_for(screen_host(descriptor, assay), "biodiscoveryagent", batch_size=10, cycles=2)

    assert len(plan.test) == 0 and len(plan.pool) == 400
    assert list(plan.dataset.genes[plan.hits]) == ["G0003", "G0010", "G0399"]
    assert plan.protocol_facts["hits_from"] == "published hit list of assay 'screen' (3 of 4 listed)"
    assert plan.protocol_facts["candidates"] == 400 and plan.protocol_facts["hits"] == 3


def test_biodiscoveryagent_without_a_published_list_takes_the_top_5_percent_by_abs_y_of_all_genes(screen_host):
    descriptor, assay = screen_table()
    plan = plan_for(screen_host(descriptor, assay), "biodiscoveryagent", batch_size=10, cycles=2)

    y = plan.dataset.y
    assert set(plan.hits) == set(np.argsort(-np.abs(y), kind="stable")[:20])
    assert plan.protocol_facts["hits_from"] == "top 0.05 of the genes by |y|"


def test_discobax_counts_the_top_1_percent_by_signed_y_so_large_negative_outcomes_are_not_hits(screen_host):
    descriptor, assay = screen_table(n=500)
    assay[:] = np.linspace(-10, 1, 500, dtype=np.float32)  # the largest |y| are all negative
    plan = plan_for(screen_host(descriptor, assay), "discobax", batch_size=5, cycles=2)

    hit_values = np.sort(plan.dataset.y[plan.hits])
    assert len(plan.hits) == 5 and len(plan.test) == 0
    assert hit_values.min() > 0.9 and np.all(hit_values > np.sort(plan.dataset.y)[-6])
    assert plan.protocol_facts["hits_from"] == "top 0.01 of the genes by signed y (largest)"


def test_the_noess_variant_drops_common_essential_genes_from_the_pool_and_the_hits(screen_host):
    essential = sorted(essential_genes())[:30]
    names = essential + [f"G{i:04d}" for i in range(370)]
    descriptor, assay = screen_table(genes=names, hit_list=essential[:10] + ["G0001", "G0002"])
    host = screen_host(descriptor, assay)

    with_ess = plan_for(host, "biodiscoveryagent", batch_size=10, cycles=2)
    without = plan_for(host, "biodiscoveryagent_noess", batch_size=10, cycles=2)

    assert len(with_ess.hits) == 12 and with_ess.protocol_facts["candidates"] == 400
    assert list(without.dataset.genes[without.hits]) == ["G0001", "G0002"]
    assert without.protocol_facts["candidates"] == 370 and without.protocol_facts["essential_excluded"] == 30
    assert not set(without.dataset.genes) & set(essential)
    selected = execute(without).selections["gene"]
    assert not set(selected) & set(essential)


def test_the_bundled_essential_list_is_cegv2_as_official_symbols():
    genes = essential_genes()
    assert 600 < len(genes) <= 684
    assert {"POLR2A", "RPL3", "PSMA1"} <= genes


# ------------------------------------------------------------------------------------ the loop's use

def test_hit_ratio_counts_the_first_batch_and_pools_show_measured_outcomes_and_the_hit_rule(screen_host):
    descriptor, assay = screen_table(n=300)
    Spy.seen = []
    plan = plan_for(screen_host(descriptor, assay), "discobax", batch_size=30, cycles=3, acquisition="spy")
    result = execute(plan)

    first = plan.initial
    hit_ratio = result.metrics.query("metric == 'hit_ratio'")["value"].to_numpy()
    assert hit_ratio[0] == np.isin(plan.hits, first).mean()
    assert list(result.metrics["metric"].unique()) == ["hit_ratio"]
    acquired, measured, rule = Spy.seen[0]
    assert np.array_equal(measured, plan.dataset.y[acquired]) and (rule.by, rule.fraction) == ("high", 0.01)
    acquired, measured, _ = Spy.seen[1]
    assert len(acquired) == 60 and np.array_equal(measured, plan.dataset.y[acquired])


@pytest.mark.parametrize("metric", ["mse", "spearman"])
def test_an_error_metric_is_refused_without_a_test_split(screen_host, metric):
    descriptor, assay = screen_table()
    with pytest.raises(GdError, match=rf"metric '{metric}' is measured on a test split, which --protocol "
                                      r"biodiscoveryagent does not have"):
        plan_for(screen_host(descriptor, assay), "biodiscoveryagent", batch_size=10, cycles=2,
                 metrics=("hit_ratio", metric))


def test_a_test_fraction_under_a_protocol_without_test_split_is_refused(screen_host):
    descriptor, assay = screen_table()
    with pytest.raises(GdError, match="--protocol discobax has no test split, but --test-fraction is 0.2"):
        plan_for(screen_host(descriptor, assay), "discobax", batch_size=10, cycles=2, test_fraction=0.2)


# ---------------------------------------------------------------------------------------- commands

def test_gd_run_records_the_protocol_and_what_it_made_of_the_data(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = gd(capsys, ["run", "--protocol", "biodiscoveryagent", "--assay", "simulated", "--descriptor",
                               "simulated", "--model", "random_forest", "--acquisition", "ucb", "--batch-size", "20",
                               "--cycles", "2", "--param", "model.n_estimators=10", "--out", str(out)])
    assert code == 0, err
    manifest = json.loads((out / "config.json").read_text())
    assert manifest["settings"]["protocol"] == "biodiscoveryagent"
    assert manifest["settings"]["test_fraction"] == 0.0 and manifest["settings"]["metrics"] == ["hit_ratio"]
    facts = manifest["protocol"]
    assert facts["name"] == "biodiscoveryagent" and facts["published_hits"] and facts["hits"] == 1000  # 5%, no list
    assert facts["candidates"] == manifest["data"]["n_genes"] == manifest["data"]["n_pool"] == 20000
    assert manifest["data"]["n_test"] == 0 and manifest["data"]["test_variance"] is None



@pytest.mark.parametrize("argv, message", [
    (["--protocol", "biodiscoveryagent", "--test-fraction", "0.2"],
     "--protocol biodiscoveryagent has no test split, but --test-fraction is 0.2; leave --test-fraction out, or use "
     "--protocol genedisco"),
    (["--protocol", "biodiscoveryagent", "--metric", "mse"],
     "metric 'mse' is measured on a test split, which --protocol biodiscoveryagent does not have"),
    (["--protocol", "geneDisco"], "--protocol 'geneDisco' is not a protocol; did you mean 'genedisco'?"),
])
def test_gd_run_refuses_a_protocol_clash_in_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    code, _, err = gd(capsys, ["run", "--assay", "simulated", "--descriptor", "simulated", "--model",
                               "random_forest", *argv, "--out", str(tmp_path / "run")])
    assert code == 1 and len(err.strip().splitlines()) == 1 and message in err
    assert not list(tmp_path.iterdir())


def test_a_sweep_under_a_protocol_takes_its_sizes_and_the_report_its_baselines(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text('protocol = "discobax"\nassays = ["simulated"]\ndescriptors = ["simulated"]\n'
                    'models = ["random_forest"]\nacquisitions = ["random", "exploit"]\nseeds = 2\ncycles = 2\n'
                    "[params.random_forest]\nn_estimators = 5\n")
    out = tmp_path / "sweep"
    code, _, err = gd(capsys, ["sweep", str(spec), "--out", str(out), "--jobs", "1"])
    assert code == 0, err
    settings = [json.loads(p.read_text())["settings"] for p in out.glob("runs/*/config.json")]
    assert len(settings) == 4
    assert {(s["protocol"], s["batch_size"], s["cycles"], s["hit_fraction"]) for s in settings} == {
        ("discobax", 32, 2, 0.01)}

    code, stdout, err = gd(capsys, ["report", str(out), "--format", "csv", "--what", "baselines"])
    assert code == 0, err
    table = pd.read_csv(pd.io.common.StringIO(stdout))
    expected = table.set_index("baseline")
    assert expected.loc["expected (random)", "n_pool"] == 20000 and expected.loc["ceiling (oracle)", "n_hits"] == 200
    assert expected.loc["expected (random)", "final_hit_ratio"] == pytest.approx(64 / 20000)
    assert expected.loc["ceiling (oracle)", "final_hit_ratio"] == pytest.approx(64 / 200)


def test_every_protocol_is_documented_with_its_source_and_summary():
    for name, protocol in PROTOCOLS.items():
        assert protocol.name == name and protocol.source and protocol.summary
        assert protocol.describe()["name"] == name


def test_the_python_api_takes_the_protocol_as_the_commands_do(tmp_path):
    import gd_core

    result = gd_core.run(protocol="discobax", assay="simulated", descriptor="simulated", model="bayesian_linear",
                         acquisition="probability_of_hit", cycles=2, params={"assay": {"n_genes": 3000},
                                                                              "descriptor": {"n_genes": 3000}})
    assert result.config["protocol"] == "discobax" and result.config["batch_size"] == 32
    assert list(result.metrics["metric"].unique()) == ["hit_ratio"]
    assert result.command[:4] == ["gd", "run", "--protocol", "discobax"]

    swept = gd_core.sweep(out=tmp_path / "s", protocol="biodiscoveryagent_noess", assay="simulated",
                          descriptor="simulated", model="random_forest", acquisition=["random", "exploit"], seeds=1,
                          cycles=1, batch_size=16, params=["random_forest.n_estimators=5"], jobs=1)
    settings = [json.loads(p.read_text())["settings"] for p in (tmp_path / "s").glob("runs/*/config.json")]
    assert {s["protocol"] for s in settings} == {"biodiscoveryagent_noess"} and len(settings) == 2
    assert "hit_ratio" in swept.report()["summary"].columns.str.cat()


def test_gd_list_protocols_and_gd_info_protocol_show_them(capsys):
    code, stdout, err = gd(capsys, ["list", "protocols", "--json"])
    assert code == 0, err
    assert [p["name"] for p in json.loads(stdout)] == list(PROTOCOLS)

    code, stdout, err = gd(capsys, ["info", "protocol", "discobax", "--json"])
    assert code == 0, err
    assert json.loads(stdout)["hits_by"] == "high" and json.loads(stdout)["hit_fraction"] == 0.01

    code, stdout, err = gd(capsys, ["info", "protocol", "discobx"])
    assert code == 1 and err.strip() == ("error: 'discobx' is no protocol; did you mean 'discobax'? "
                                         "choose one of genedisco, biodiscoveryagent, biodiscoveryagent_noess, "
                                         "discobax")


def test_a_published_list_sets_the_hit_share_acquisitions_are_told_and_takes_no_hit_fraction(screen_host):
    descriptor, assay = screen_table(hit_list=[f"G{i:04d}" for i in range(0, 400, 20)])  # 20 of 400: 5%
    host = screen_host(descriptor, assay)
    Spy.seen = []
    plan = plan_for(host, "biodiscoveryagent", batch_size=10, cycles=2, acquisition="spy")
    execute(plan)
    assert Spy.seen[0][2].fraction == pytest.approx(20 / 400) and plan.protocol_facts["hit_share"] == 0.05

    descriptor, assay = screen_table(hit_list=["G0001", "G0002"])  # 2 of 400
    Spy.seen = []
    execute(plan_for(screen_host(descriptor, assay), "biodiscoveryagent", batch_size=10, cycles=2, acquisition="spy"))
    assert Spy.seen[0][2].fraction == pytest.approx(2 / 400)

    with pytest.raises(GdError, match=r"assay 'screen' has a published hit list, which --protocol biodiscoveryagent "
                                      r"counts as its hits, so --hit-fraction 0.1 would not apply"):
        plan_for(host, "biodiscoveryagent", batch_size=10, cycles=2, hit_fraction=0.1)


def test_discobax_refuses_an_assay_without_a_positive_outcome(screen_host):
    descriptor, assay = screen_table()
    assay[:] = -np.abs(assay.to_numpy()) - 0.1
    with pytest.raises(GdError, match="assay 'screen' has no outcome above 0, so --protocol discobax's hits"):
        plan_for(screen_host(descriptor, assay), "discobax", batch_size=10, cycles=2)


def test_a_sweep_refuses_an_error_metric_without_a_test_split_before_any_run(tmp_path, capsys):
    out = tmp_path / "s"
    code, _, err = gd(capsys, ["sweep", "--protocol", "discobax", "--assay", "simulated", "--descriptor",
                               "simulated", "--model", "random_forest", "--acquisition", "random", "--seeds", "1",
                               "--metric", "hit_ratio", "--metric", "mse", "--out", str(out)])
    assert code == 1 and err.strip() == ("error: --metric: metric 'mse' is measured on a test split, which protocol "
                                         "discobax does not have; choose other metrics (e.g. hit_ratio) or protocol "
                                         "genedisco")
    assert not out.exists()


def test_gd_info_of_an_unknown_kind_lists_protocol_among_the_kinds(capsys):
    code, _, err = gd(capsys, ["info", "protocl", "genedisco"])

    assert code == 1 and err.strip() == ("error: unknown kind 'protocl'; did you mean 'protocol'? use one of: "
                                         "descriptor, assay, model, acquisition, metric, protocol")
