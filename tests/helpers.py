"""Helpers shared by tests: a small `gd run`, in-process invocation, and a model with no posterior samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gd_core import hookimpl
from gd_apps import cli

RUN_FILES = {"config.json", "metrics.csv", "selections.csv", "run.log"}
SMALL = {"descriptor": {"n_genes": 600, "n_features": 8}, "assay": {"n_genes": 600}, "model": {"n_estimators": 10}}


def run_args(out: Path, *extra: str, seed: int = 0, model: str = "random_forest",
             acquisition: str = "random") -> list[str]:
    """``gd run`` arguments for a small simulated screen: 10 genes per cycle, 3 cycles."""
    params = [f"{kind}.{key}={value}" for kind, values in SMALL.items() for key, value in values.items()
              if kind != "model" or model == "random_forest"]
    return ["run", "--assay", "simulated", "--descriptor", "simulated", "--model", model,
            "--acquisition", acquisition, "--batch-size", "10", "--cycles", "3", "--seed", str(seed),
            *[arg for p in params for arg in ("--param", p)], "--out", str(out), *extra]


def gd(capsys, argv: list[str], *, bug_expected: bool = False) -> tuple[int, str, str]:
    """Run ``gd`` in this process: exit code, stdout and stderr.

    Fails the test when gd reports ``unexpected …`` (its wording for a bug: an input gd should have refused
    clearly, or a crash), unless the test is about that path and says ``bug_expected=True``.
    """
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    out, err = capsys.readouterr()
    if not bug_expected:
        assert "error: unexpected " not in err, f"gd {' '.join(argv)} reached the bug handler: {err.strip()}"
    return exit_.value.code, out, err


class NoSamples:
    """Registers model 'mean_only', which predicts but offers no posterior samples."""

    @hookimpl
    def gd_register_models(self, register):
        register("mean_only", lambda: MeanOnly())


class MeanOnly:
    """Predicts zero; has no sample method."""

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return np.zeros(len(X))


def published(out: Path) -> dict[str, int]:
    """The sweep's published runs (runs/<key>/config.json) by key, with config.json's mtime. A staging directory
    (runs/.<key>.partial-…) that holds config.json is not one: the kill may land between its last write and
    its rename, and the restart rightly redoes it."""
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/config.json")
            if not p.parent.name.startswith(".")}
