"""An example third-party gd plugin: a UCB acquisition and a descriptor read from the user's gene table.

Installed, it is found through the ``gd.plugins`` entry point in ``pyproject.toml``; nothing runs at
import beyond defining the two components and the hooks that register them.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gd_core import GdError, hookimpl

# numpy is imported inside the functions that compute: gd imports every installed plugin to answer `gd list`,
# which should not wait for numerical libraries.
if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from gd_core.data import Pool

# Genes per call of model.sample, which bounds memory: a forest's 100 trees × 2^15 genes are 26 MB of float64.
ROWS_PER_CHUNK = 1 << 15
# Bump when the processing in table_projection changes, so that cached tables are rebuilt.
TABLE_VERSION = 1


@hookimpl
def gd_register_acquisitions(register):
    register("ucb_kappa", UpperConfidenceBound, source="example plugin",
             citation="Srinivas N. et al., Gaussian process optimization in the bandit setting, ICML 2010",
             summary="Upper confidence bound for hit discovery: top genes by |mean| + kappa·std")


@hookimpl
def gd_register_treatment_descriptors(register):
    register("table_projection", table_projection, source="user-supplied",
             summary="Your gene × feature table (path or http(s) URL), optionally randomly projected")


class UpperConfidenceBound:
    """UCB: the genes whose posterior samples promise the largest effect, |mean| + kappa·std."""

    requires: tuple[str, ...] = ("sample",)

    def __init__(self, kappa: float = 1.0) -> None:
        if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real) or not math.isfinite(kappa) or kappa < 0:
            raise ValueError(f"kappa must be a finite number >= 0 (0 ranks by |mean| alone), got {kappa!r}")
        self.kappa = float(kappa)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest score, ties going to the lower position."""
        import numpy as np

        available = pool.available
        if not 0 < batch_size <= len(available):
            raise GdError(f"cannot select {batch_size} genes from {len(available)} available; "
                          "lower --batch-size or --cycles")
        scores = self.scores(pool, model)
        # A stable sort keeps tied genes in position order, since ``available`` is sorted.
        return available[np.argsort(-scores, kind="stable")[:batch_size]]

    def scores(self, pool: Pool, model: object) -> np.ndarray:
        """|mean| + kappa·std of the model's posterior samples, one per available gene."""
        import numpy as np

        available = pool.available
        scores = np.empty(len(available), dtype=np.float64)
        for start in range(0, len(available), ROWS_PER_CHUNK):
            rows = available[start:start + ROWS_PER_CHUNK]
            # No rng: the model's own fixed samples score every chunk alike.
            samples = np.asarray(model.sample(pool.X[rows]), dtype=np.float64)
            if samples.ndim != 2 or samples.shape[1] != len(rows) or samples.shape[0] < 1:
                raise GdError(f"model.sample returned shape {samples.shape} for {len(rows)} genes; "
                              f"it must return [n_samples, {len(rows)}]")
            scores[start:start + len(rows)] = np.abs(samples.mean(axis=0)) + self.kappa * samples.std(axis=0)
        if not np.isfinite(scores).all():
            raise GdError(f"model.sample gave NaN or infinite values for {int((~np.isfinite(scores)).sum())} "
                          "available gene(s); check the model's fit and inputs")
        return scores


def table_projection(source: str | None = None, dims: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Your gene × feature table from a path or http(s) URL, Gaussian-randomly projected to ``dims`` if given."""
    if source is None or not str(source).strip():
        raise ValueError("needs a table: pass --param descriptor.source=PATH_OR_URL "
                         "(a CSV, TSV or parquet file with a gene column and numeric feature columns)")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, numbers.Integral) or dims < 1):
        raise ValueError(f"dims must be a positive integer (or left out for no projection), got {dims!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    from gd_core.helpers.downloads import cached_table
    from gd_core.helpers.tables import read_descriptor_file

    source = str(source).strip()
    path = _local_copy(source)
    dims = None if dims is None else int(dims)

    def build() -> pd.DataFrame:
        table = read_descriptor_file(path)
        return table if dims is None else _project(table, dims, seed)

    # cached_table keys on the file's contents; the key adds what else decides the result, so that
    # each source, dims and seed keeps its own cached table.
    origin = source if _is_url(source) else str(path.resolve())
    key = f"table_projection-{_digest(origin)}-{'all' if dims is None else dims}-{int(seed)}"
    return cached_table(key, [path], TABLE_VERSION, build)


def _local_copy(source: str) -> Path:
    """A local path for ``source``: the path itself, or the verified download of a URL."""
    from pathlib import Path

    from gd_core.helpers.downloads import CORRUPT, RemoteFile, fetch, status

    if not _is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():  # say so here: cached_table would only say it cannot hash the file
            raise GdError(f"{path}: no such file (relative paths start from {Path.cwd()}); "
                          "check --param descriptor.source=PATH_OR_URL")
        return path
    # One cache file per URL; its own name last, so that the reader still sees .csv, .tsv or .parquet.
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", urlsplit(source).path.rsplit("/", 1)[-1]).lstrip("._") or "table"
    remote = RemoteFile(source, f"table_projection-{_digest(source)}-{name}")
    try:
        # Nothing pins a user's URL, so a damaged cached copy is simply downloaded again.
        return fetch(remote, force=status(remote) == CORRUPT, name="table_projection")
    except GdError as exc:
        # fetch's ways out (`gd data fetch/import NAME`) serve files a plugin declares; a URL has simpler ones.
        problem = str(exc).split("; ")[0]
        raise GdError(f"{problem}; check the URL, or download the file yourself and pass its path with "
                      "--param descriptor.source=PATH") from None


def _is_url(source: str) -> bool:
    return re.match(r"^https?://", source, flags=re.IGNORECASE) is not None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _project(table: pd.DataFrame, dims: int, seed: int) -> pd.DataFrame:
    """``table`` times a Gaussian matrix of variance 1/dims, which keeps distances in expectation."""
    import numpy as np
    import pandas as pd

    weights = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(dims), size=(table.shape[1], dims))
    values = (table.to_numpy(dtype=np.float64) @ weights).astype(np.float32)
    return pd.DataFrame(values, index=table.index, columns=[f"projection_{i}" for i in range(dims)])
