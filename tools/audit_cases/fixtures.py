"""What several cases start from, built once (on first use) with the real `gd` and shared read-only.

- ``tables``: ``assay.csv`` and ``descriptor.csv``, 600 real gene symbols (from ``schmidt_2021_il2``) with the
  screen's values and 8 seeded random features: a valid user-table pair that runs in seconds.
- ``run``: a finished tiny run in ``run/``.
- ``sweep``: a finished tiny sweep in ``sweep/`` (random and topuncertain × 2 seeds), and the command that made it.
- ``go_cache``: a GD_DATA_DIR holding the processed ``gene_ontology`` table with ``dims=8``, and the metrics of
  a run on it, to compare runs on a damaged copy with.
- ``campaign``: a campaign in ``camp/`` on the ``tables`` pair (random_forest, random, batch 8) with round 0
  proposed and measured (``results-0.csv``, looked up in ``assay.csv``) and round 1 proposed, not yet measured.
- ``remote``: a plugin whose descriptors are "downloaded" from a ``file://`` URL through gd's verified download
  cache (one pinned by sha256, one recorded only), a GD_DATA_DIR holding both downloads, and a run's metrics.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Callable

from tools.audit_cases.common import Sandbox, SetupError, require, tiny_run, tiny_sweep

GO_DATA = ("--assay", "schmidt_2021_il2", "--descriptor", "gene_ontology", "--param", "descriptor.dims=8")
SWEEP_ACQUISITIONS = ("random", "topuncertain")
REMOTE_PLUGIN = '''\
"""Audit fixture: descriptors "downloaded" from a file:// URL into gd's verified download cache."""

from pathlib import Path

import pandas as pd

from gd_core import hookimpl
from gd_core.helpers.downloads import RemoteFile, fetch

SOURCE = Path(__file__).with_name("remote_descriptor.csv")
PINNED = RemoteFile(SOURCE.as_uri(), "remote_pinned.csv", sha256="{sha256}", size={size})
RECORDED = RemoteFile(SOURCE.as_uri(), "remote_recorded.csv")


def remote_pinned():
    """The descriptor from a download pinned by sha256."""
    return pd.read_csv(fetch(PINNED, name="remote_pinned"), index_col="gene").astype("float32")


def remote_recorded():
    """The descriptor from a download checked against the manifest only."""
    return pd.read_csv(fetch(RECORDED, name="remote_recorded"), index_col="gene").astype("float32")


@hookimpl
def gd_register_treatment_descriptors(register):
    register("remote_pinned", remote_pinned, source="download", files=[PINNED])
    register("remote_recorded", remote_recorded, source="download", files=[RECORDED])
'''


def remote_data(name: str, plugin: Path) -> tuple[str, ...]:
    """Run options for the tiny screen with the ``remote`` fixture's descriptor ``name``."""
    return ("--assay", "simulated", "--param", "assay.n_genes=600", "--descriptor", name, "--plugin", str(plugin))


class Fixtures:
    """Fixtures by name, each built once under ``root/NAME`` the first time a case asks for it."""

    def __init__(self, root: Path, gd: Path) -> None:
        self.root = root
        self.gd = gd
        self.matplotlib = root / "matplotlib"  # one font cache for every gd plot
        self.matplotlib.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._built: dict[str, Sandbox | SetupError] = {}

    def box(self, name: str) -> Sandbox:
        """The sandbox the fixture was built in (its ``work`` holds the files, its ``data`` a GD_DATA_DIR)."""
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._built:
                box = Sandbox(self.root / name, self.gd, self)
                try:
                    BUILDERS[name](box)
                    self._built[name] = box
                except SetupError as exc:
                    self._built[name] = SetupError(f"fixture '{name}': {exc}")
            built = self._built[name]
        if isinstance(built, SetupError):
            raise built
        return built

    def path(self, name: str, relative: str = "") -> Path:
        """A file or directory of fixture ``name``."""
        return self.box(name).work / relative


def _tables(box: Sandbox) -> None:
    import numpy as np
    import pandas as pd

    require(box.gd(["data", "export", "schmidt_2021_il2", "il2.csv"]), "gd data export schmidt_2021_il2")
    screen = pd.read_csv(box.path("il2.csv"))
    genes = screen.iloc[:600, 0].tolist()
    assay = pd.DataFrame({"gene": genes, "value": screen.iloc[:600, 1].round(5)})
    assay.to_csv(box.path("assay.csv"), index=False)
    features = np.random.default_rng(0).normal(size=(600, 8)).round(4)
    descriptor = pd.DataFrame(features, columns=[f"f{j}" for j in range(8)])
    descriptor.insert(0, "gene", genes)
    descriptor.to_csv(box.path("descriptor.csv"), index=False)


def _run(box: Sandbox) -> None:
    require(box.gd(tiny_run(out="run")), "a tiny gd run")


def _sweep(box: Sandbox) -> None:
    require(box.gd(tiny_sweep(out="sweep", acquisitions=SWEEP_ACQUISITIONS, seeds=2)), "a tiny gd sweep")


def _go_cache(box: Sandbox) -> None:
    require(box.gd(tiny_run(out="run", data=GO_DATA)), "a run on gene_ontology dims=8")
    if not any((box.data / "processed").glob("*")):
        raise SetupError("the run on gene_ontology dims=8 cached no processed table")


def _campaign(box: Sandbox) -> None:
    import pandas as pd

    for name in ("assay.csv", "descriptor.csv"):
        box.copy(box.fixtures.path("tables", name), name)
    require(box.gd(["campaign", "init", "camp", "--descriptor", "descriptor.csv", "--model", "random_forest",
                    "--param", "model.n_estimators=10", "--acquisition", "random", "--batch-size", "8"]),
            "gd campaign init")
    require(box.gd(["campaign", "propose", "camp"]), "gd campaign propose (round 0)")
    screen = pd.read_csv(box.path("assay.csv"), index_col="gene")["value"]
    plate = pd.read_csv(box.path("camp/round-0/proposal.csv"))["gene"]
    pd.DataFrame({"gene": plate, "value": screen.reindex(plate).to_numpy()}).to_csv(box.path("results-0.csv"),
                                                                                    index=False)
    require(box.gd(["campaign", "add", "camp", "results-0.csv"]), "gd campaign add (round 0)")
    require(box.gd(["campaign", "propose", "camp"]), "gd campaign propose (round 1)")


def _remote(box: Sandbox) -> None:
    export = ["data", "export", "simulated", "remote_descriptor.csv", "--kind", "descriptor",
              "--param", "n_genes=600", "--param", "n_features=8"]
    require(box.gd(export), "gd data export simulated")
    content = box.path("remote_descriptor.csv").read_bytes()
    box.write("remote_plugin.py", REMOTE_PLUGIN.replace("{sha256}", hashlib.sha256(content).hexdigest())
              .replace("{size}", str(len(content))))
    for name in ("remote_pinned", "remote_recorded"):
        require(box.gd(tiny_run(out=f"run_{name}", data=remote_data(name, box.path("remote_plugin.py")))),
                f"a run on the downloaded descriptor {name}")


BUILDERS: dict[str, Callable[[Sandbox], None]] = {
    "tables": _tables, "run": _run, "sweep": _sweep, "go_cache": _go_cache, "remote": _remote, "campaign": _campaign,
}
