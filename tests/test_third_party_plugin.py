"""The example third-party plugin, installed as a user installs it, seen through the installed ``gd`` command.

These tests need ``pip install ./examples/third_party_plugin`` in this environment (CI does it), and
fail rather than skip without it: they are the check that entry-point discovery works end to end.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.plugins import PluginHost

GD = Path(sys.executable).parent / "gd"
DISTRIBUTION = "gdisco-example"
SMALL_RUN = ["--model", "random_forest", "--batch-size", "16", "--cycles", "3", "--param", "model.n_estimators=10"]


@pytest.fixture
def user_env(tmp_path) -> dict[str, str]:
    """The environment of a user who loads every installed plugin, with a private data cache."""
    env = dict(os.environ)
    env.pop("GD_LOAD_PLUGINS", None)
    env["GD_DATA_DIR"] = str(tmp_path / "gd-data")
    return env


def gd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``gd`` and insist that it succeeds."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = None
    assert version is not None, (f"{DISTRIBUTION} is not installed in {sys.prefix}; "
                                 "run `pip install ./examples/third_party_plugin` from the repository root")
    done = subprocess.run([str(GD), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"gd {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
    return done


def config(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())


def test_gd_list_plugins_finds_the_installed_example(user_env, tmp_path):
    records = json.loads(gd("list-plugins", "--json", env=user_env, cwd=tmp_path).stdout)
    (example,) = [r for r in records if r["distribution"] == DISTRIBUTION]
    # an editable install (as README and CI make it) adds a hash of its source to the version: edits make runs stale
    assert re.fullmatch(re.escape(importlib.metadata.version(DISTRIBUTION)) + r"(\+sha256:[0-9a-f]{16})?",
                        example["version"]), example["version"]
    assert example["source"] == "entry point"
    assert example["loaded"] and example["error"] is None
    assert example["registered"] == {"descriptor": ["table_projection"], "acquisition": ["ucb_kappa"]}


def test_gd_run_with_the_example_acquisition(user_env, tmp_path):
    out = tmp_path / "ucb"
    done = gd("run", *SMALL_RUN, "--acquisition", "ucb_kappa", "--param", "acquisition.kappa=2", "--out", str(out),
              "--json", env=user_env, cwd=tmp_path)
    assert [c["n_acquired"] for c in json.loads(done.stdout)["cycles"]] == [16, 32, 48]
    assert config(out)["components"]["acquisition"]["distribution"] == DISTRIBUTION


def test_gd_run_with_the_example_descriptor(user_env, tmp_path):
    # A small feature table for genes of the default assay, named by the file a user would write.
    genes = PluginHost(entry_points=False).registries.assays.create("schmidt_2021_il2").index[:400]
    features = pd.DataFrame(np.random.default_rng(0).normal(size=(len(genes), 8)), index=genes)
    features.rename_axis("gene").add_prefix("f").reset_index().to_csv(tmp_path / "features.csv", index=False)
    out = tmp_path / "projected"
    done = gd("run", *SMALL_RUN, "--acquisition", "random", "--descriptor", "table_projection",
              "--param", "descriptor.source=features.csv", "--param", "descriptor.dims=4", "--out", str(out),
              "--json", env=user_env, cwd=tmp_path)
    assert [c["n_acquired"] for c in json.loads(done.stdout)["cycles"]] == [16, 32, 48]
    recorded = config(out)
    assert recorded["components"]["descriptor"]["distribution"] == DISTRIBUTION
    assert (recorded["data"]["n_genes"], recorded["data"]["n_features"]) == (400, 4)
