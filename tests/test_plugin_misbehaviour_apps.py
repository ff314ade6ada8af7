"""A misbehaving plugin in gd's applications: ``gd propose`` and ``gd campaign propose`` refuse a model's non-finite
predictions and an acquisition's explanation that is not numbers in one ``error:`` line naming it, before anything is
written or published; ``gd info``, ``gd list KIND NAME`` and ``gd data list/info`` show a plugin's metadata that
raises or has the wrong type as a stand-in naming the plugin, and every other entry as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_apps import cli
from gd_core import hookimpl
from tests.helpers import gd
from tests.test_campaign import one_line_refusal, snapshot

GENES = [f"G{i:04d}" for i in range(300)]
MEASURED = GENES[:20]


def tiny() -> pd.DataFrame:
    """300 genes × 5 random features."""
    return pd.DataFrame(np.random.default_rng(0).normal(size=(len(GENES), 5)), index=GENES)


class Mean:
    """Predicts the training mean, with posterior samples around it; ``how`` picks how it misbehaves."""

    def __init__(self, how: str = "") -> None:
        self.how, self.mean = how, 0.0

    def fit(self, X, y, rng):
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), np.nan if self.how == "nan" else self.mean)

    def sample(self, X):
        draws = self.mean + np.arange(3.0)[:, None] * np.ones((3, len(X)))
        if self.how == "nan samples":
            draws[:, 0] = np.nan
        return draws


class Labels:
    """Picks the first available genes and explains them with ``values`` (a function of the batch size)."""

    requires = ()

    def __init__(self, values) -> None:
        self.values = values

    def select(self, pool, model, batch_size, rng):
        self.last_explanation = {"label": self.values(batch_size)}
        return pool.available[:batch_size]


EXPLANATIONS = {
    "text": lambda b: np.array(["x"] * b),
    "objects": lambda b: np.array([object()] * b, dtype=object),
    "complex numbers": lambda b: np.arange(b) + 1j,
}


class Misbehaving:
    """The tiny descriptor, models that predict NaN or sample NaN, and an acquisition per bad explanation."""

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        register("tiny", tiny)

    @hookimpl
    def gd_register_models(self, register):
        register("mean", Mean)
        register("nan_mean", lambda: Mean("nan"))
        register("nan_samples", lambda: Mean("nan samples"))

    @hookimpl
    def gd_register_acquisitions(self, register):
        for case, values in EXPLANATIONS.items():
            register(f"labels_{case.replace(' ', '_')}", lambda values=values: Labels(values))


@pytest.fixture
def misbehaving(monkeypatch, host_with, tmp_path) -> Path:
    """Every command's host holds the built-ins and ``Misbehaving``; returns a file of 20 measured genes."""
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(Misbehaving(), builtins=True))
    measured = tmp_path / "measured.csv"
    measured.write_text("gene,value\n" + "".join(f"{g},{i / 10}\n" for i, g in enumerate(MEASURED)))
    return measured


def propose(measured: Path, out: Path, *, model: str = "mean", acquisition: str = "random") -> list[str]:
    """``gd propose`` arguments for a plate of 5 of the tiny descriptor's genes."""
    return ["propose", "--measured", str(measured), "--descriptor", "tiny", "--model", model,
            "--acquisition", acquisition, "--batch-size", "5", "--out", str(out)]


def campaign_at_round_1(capsys, directory: Path, measured: Path, *, model: str = "mean",
                        acquisition: str = "random") -> None:
    """A campaign of the tiny descriptor whose round 0 is measured (the 20 genes), ready to propose round 1."""
    code, _, err = gd(capsys, ["campaign", "init", str(directory), "--descriptor", "tiny", "--model", model,
                               "--acquisition", acquisition, "--batch-size", "5"])
    assert code == 0, err
    code, _, err = gd(capsys, ["campaign", "add", str(directory), str(measured), "--round", "0"])
    assert code == 0, err


# ---------------------------------------------------------------------------------------- an explanation's values


@pytest.mark.parametrize("case", list(EXPLANATIONS))
def test_gd_propose_refuses_an_explanation_that_is_not_numbers_and_writes_no_plate(case, misbehaving, tmp_path,
                                                                                   capsys):
    out = tmp_path / "plate.csv"
    acquisition = f"labels_{case.replace(' ', '_')}"

    line = one_line_refusal(*gd(capsys, propose(misbehaving, out, acquisition=acquisition))[::2])

    assert f"acquisition '{acquisition}'" in line and "plugin 'Misbehaving'" in line and "'label'" in line
    assert "not numbers" in line and "fix the acquisition" in line
    assert not out.exists()


def test_a_forced_campaign_proposal_with_a_text_explanation_keeps_the_round_it_had(misbehaving, tmp_path, capsys):
    directory = tmp_path / "campaign"
    campaign_at_round_1(capsys, directory, misbehaving)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    settings = directory / "campaign.toml"
    settings.write_text(settings.read_text().replace('acquisition = "random"', 'acquisition = "labels_text"'))
    before = snapshot(directory)

    line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory), "--force"])[::2], notes=True)

    assert "acquisition 'labels_text'" in line and "plugin 'Misbehaving'" in line
    assert snapshot(directory) == before  # the plate is not superseded, nothing is staged, nothing recorded
    assert not list((directory / "round-1").glob("superseded-*"))


# ------------------------------------------------------------------------------------------ a model's predictions


def test_gd_propose_refuses_nan_predictions_as_gd_run_does_and_writes_no_plate(misbehaving, tmp_path, capsys):
    out = tmp_path / "plate.csv"

    line = one_line_refusal(*gd(capsys, propose(misbehaving, out, model="nan_mean"))[::2])

    # gd run's own check and wording (gd_core.loop), counting the plate's genes
    assert "model 'nan_mean' (plugin 'Misbehaving')" in line
    assert "predicted 5 non-finite value(s) (NaN or infinite) for the 5 genes of the plate" in line
    assert "fix the model" in line
    assert not out.exists()


def test_gd_propose_refuses_nan_samples_rather_than_leave_the_sd_empty(misbehaving, tmp_path, capsys):
    out = tmp_path / "plate.csv"

    line = one_line_refusal(*gd(capsys, propose(misbehaving, out, model="nan_samples"))[::2])

    assert "model 'nan_samples' (plugin 'Misbehaving')" in line and "non-finite" in line
    assert not out.exists()


def test_a_campaign_refuses_nan_predictions_and_publishes_no_round(misbehaving, tmp_path, capsys):
    directory = tmp_path / "campaign"
    campaign_at_round_1(capsys, directory, misbehaving, model="nan_mean")
    before = snapshot(directory)

    line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory)])[::2])

    assert "model 'nan_mean' (plugin 'Misbehaving')" in line and "non-finite" in line
    assert snapshot(directory) == before
    assert not (directory / "round-1").exists()


# ------------------------------------------------------------------------------------------------- metadata


class Shy:
    """An object whose text cannot be made."""

    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def _zero() -> dict:
    """A details function that raises."""
    return 1 / 0  # type: ignore[return-value]


# name → (metadata, what its stand-in says)
BAD_METADATA = {
    "details_raises": ({"details": _zero}, "(details unavailable: plugin 'BadMetadata' raised ZeroDivisionError: "
                                           "division by zero)"),
    "details_none": ({"details": lambda: None}, "(details unavailable: plugin 'BadMetadata' returned NoneType"),
    "details_list": ({"details": lambda: [1, 2]}, "(details unavailable: plugin 'BadMetadata' returned list"),
    "details_shy": ({"details": lambda: {"genes": Shy()}}, "(genes unavailable: plugin 'BadMetadata' raised "
                                                            "RuntimeError: no text)"),
    "files_int": ({"files": 5}, "(files unavailable: plugin 'BadMetadata' gave int, not a tuple of RemoteFile)"),
    "files_text": ({"files": "abc"}, "(files unavailable: plugin 'BadMetadata' gave str, not a tuple of RemoteFile)"),
    "source_list": ({"source": ["x"]}, "(source unavailable: plugin 'BadMetadata' gave list, not text)"),
    "licence_shy": ({"licence": Shy()}, "(licence unavailable: plugin 'BadMetadata' gave Shy, not text)"),
    "summary_shy": ({"summary": Shy()}, "(summary unavailable: plugin 'BadMetadata' raised RuntimeError: no text)"),
}


class BadMetadata:
    """One descriptor per way of getting its metadata wrong, a dataset whose details try to rename it, and a model
    whose summary cannot be shown."""

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        for name, (metadata, _) in BAD_METADATA.items():
            register(name, tiny, **metadata)
        register("renamed", tiny, details=lambda: {"name": 5, "kind": "assay", "genes": 300})

    @hookimpl
    def gd_register_models(self, register):
        register("shy_model", Mean, summary=Shy())
        register("shy_default", ShyDefault)


class ShyDefault(Mean):
    """A model whose parameter's default cannot be shown."""

    def __init__(self, how: object = Shy()) -> None:
        super().__init__()


@pytest.fixture
def bad_metadata(monkeypatch, host_with) -> None:
    """Every command's host holds the built-ins and ``BadMetadata``."""
    monkeypatch.setattr(cli, "PluginHost", lambda: host_with(BadMetadata(), builtins=True))


@pytest.mark.parametrize("name", list(BAD_METADATA))
def test_gd_data_info_shows_metadata_a_plugin_got_wrong_as_a_stand_in_naming_it(name, bad_metadata, capsys):
    marked = BAD_METADATA[name][1]

    code, out, err = gd(capsys, ["data", "info", name])

    assert code == 0, err
    assert marked in " ".join(out.split()) and "file:" not in out  # the table may wrap it
    code, out, err = gd(capsys, ["data", "info", name, "--json"])
    assert code == 0, err
    facts = json.loads(out)
    assert facts["name"] == name and any(str(value).startswith(marked) for value in facts.values())


def test_gd_data_list_shows_every_dataset_and_notes_each_bad_field(bad_metadata, capsys):
    code, out, err = gd(capsys, ["data", "list"])

    assert code == 0, err
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {*BAD_METADATA, "renamed", "gene_ontology", "simulated", "schmidt_2021_il2"} <= listed
    for name, (_, marked) in BAD_METADATA.items():  # one note per field, naming the dataset
        assert f"note: descriptor '{name}' {marked}" in err
    rows = json.loads(gd(capsys, ["data", "list", "--json"])[1])
    assert {row["name"] for row in rows} >= {*BAD_METADATA, "renamed", "gene_ontology"}


def test_a_dataset_s_details_cannot_rename_it(bad_metadata, capsys):
    code, out, err = gd(capsys, ["data", "info", "renamed", "--json"])

    assert code == 0, err
    facts = json.loads(out)
    assert (facts["name"], facts["kind"], facts["genes"]) == ("renamed", "descriptor", 300)


@pytest.mark.parametrize("command", [["data", "fetch", "files_int"], ["data", "fetch", "files_text"],
                                     ["data", "import", "files_int", "x.csv"]])
def test_fetch_and_import_refuse_files_of_the_wrong_type_in_one_line(command, bad_metadata, capsys):
    line = one_line_refusal(*gd(capsys, command)[::2])

    assert f"descriptor '{command[2]}'" in line and "plugin 'BadMetadata'" in line and "files=" in line


@pytest.mark.parametrize("argv", [["info", "model", "shy_model"], ["info", "shy_model"],
                                  ["list", "model", "shy_model"]])
def test_gd_info_shows_a_summary_that_cannot_be_shown_as_a_stand_in(argv, bad_metadata, capsys):
    code, out, err = gd(capsys, argv)

    assert code == 0, err
    assert "model shy_model: (summary unavailable: plugin 'BadMetadata' raised RuntimeError: no text)" in out
    about = json.loads(gd(capsys, [*argv, "--json"])[1])
    assert about["summary"] == about["metadata"]["summary"] == \
        "(summary unavailable: plugin 'BadMetadata' raised RuntimeError: no text)"
    assert about["offers"] == ["predict", "sample"]


def test_gd_info_shows_a_default_that_cannot_be_shown_as_a_stand_in(bad_metadata, capsys):
    code, out, err = gd(capsys, ["info", "model", "shy_default"])

    assert code == 0, err
    marked = "(default of how unavailable: plugin 'BadMetadata' raised RuntimeError: no text)"
    assert marked in out and "A model whose parameter's default cannot be shown." in out
    about = json.loads(gd(capsys, ["info", "model", "shy_default", "--json"])[1])
    assert about["parameters"] == [{"name": "how", "required": False, "default": marked}]
