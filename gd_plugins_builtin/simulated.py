"""A SIMULATED screen (not real data): genes in latent functional modules, a few with strong effects.

Each gene either belongs to one of ``n_modules`` modules or to none (most genes). A few modules
carry a strong effect on the outcome, the rest a weak one, so the screen has a few strong hits among
many nulls, like a real CRISPR screen. Features are a module centroid plus noise, so a model can
learn which genes share a module. Genes are generated in fixed-size chunks with their own seeds:
the first k genes are the same whatever ``n_genes`` is, and descriptor and assay agree gene by gene.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from gd_core import hookimpl
from gd_core.registry import BadParameter
from gd_plugins_builtin._checks import number, whole

# numpy and pandas load inside the functions that compute: registering stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_CHUNK = 1 << 16
_MEMBERSHIP = 0.3  # share of genes in some module
_STRONG_SHARE = 1 / 7  # share of modules with a strong effect
# Peak bytes per gene of loading and aligning a simulated screen, measured with ru_maxrss at 10^6 genes
# (gene names, indexes, outcomes: ~300 bytes; each float32 feature is held about three times over).
_BYTES_PER_GENE = 320
_BYTES_PER_FEATURE = 12


@hookimpl
def gd_register_treatment_descriptors(register):
    register("simulated", simulated_descriptor, source="simulated",
             summary="SIMULATED descriptor (not real data) of module genes")


@hookimpl
def gd_register_assays(register):
    register("simulated", simulated_assay, source="simulated",
             summary="SIMULATED assay (not real data): few strong hits, many nulls")


def simulated_descriptor(n_genes: int = 20_000, n_features: int = 64, n_modules: int = 20,
                         seed: int = 0) -> pd.DataFrame:
    """SIMULATED descriptor: module centroid plus unit noise per gene (float32)."""
    import numpy as np
    import pandas as pd

    n_genes, n_features = whole("n_genes", n_genes, example="2000"), whole("n_features", n_features, example="64")
    n_modules, seed = whole("n_modules", n_modules, example="20"), whole("seed", seed, minimum=0)
    _check_memory(n_genes, n_features)
    module = _modules(n_genes, n_modules, seed)
    centroids = np.random.default_rng([seed, 3, n_modules, n_features]).normal(
        0.0, 1.0, size=(n_modules, n_features)).astype(np.float32)
    X = np.empty((n_genes, n_features), dtype=np.float32)
    for start in range(0, n_genes, _CHUNK):
        stop = min(start + _CHUNK, n_genes)
        rng = np.random.default_rng([seed, 2, start // _CHUNK, n_features])
        X[start:stop] = rng.standard_normal((_CHUNK, n_features), dtype=np.float32)[: stop - start]
    members = module >= 0
    X[members] += centroids[module[members]]
    columns = [f"sim_feature_{j}" for j in range(n_features)]
    return pd.DataFrame(X, index=_gene_names(n_genes), columns=columns, copy=False)


def simulated_assay(n_genes: int = 20_000, n_modules: int = 20, seed: int = 0, noise: float = 0.3) -> pd.Series:
    """SIMULATED assay: module effect plus Gaussian noise per gene."""
    import numpy as np
    import pandas as pd

    n_genes, n_modules = whole("n_genes", n_genes, example="2000"), whole("n_modules", n_modules, example="20")
    seed, noise = whole("seed", seed, minimum=0), number("noise", noise, low=0.0, example="0.3")
    _check_memory(n_genes, 0)
    module = _modules(n_genes, n_modules, seed)
    rng = np.random.default_rng([seed, 0, n_modules])
    effects = rng.normal(0.0, 0.2, size=n_modules)
    n_strong = max(1, round(n_modules * _STRONG_SHARE))
    strong = rng.choice(n_modules, n_strong, replace=False)
    effects[strong] = rng.choice([-1.0, 1.0], n_strong) * rng.uniform(1.5, 3.0, n_strong)
    y = np.where(module >= 0, effects[np.maximum(module, 0)], 0.0)
    for start in range(0, n_genes, _CHUNK):
        stop = min(start + _CHUNK, n_genes)
        y[start:stop] += noise * np.random.default_rng([seed, 4, start // _CHUNK]).standard_normal(_CHUNK)[: stop - start]
    return pd.Series(y.astype(np.float32), index=_gene_names(n_genes), name="simulated")


def _check_memory(n_genes: int, n_features: int) -> None:
    """Refuse, before allocating anything, a screen too large for the memory this machine has free."""
    per_gene = _BYTES_PER_GENE + _BYTES_PER_FEATURE * n_features
    available = available_memory()
    if available is not None and n_genes * per_gene > available:
        width = f" with n_features={n_features}" if n_features else ""
        raise BadParameter("n_genes", f"at most about {available // per_gene:,}{width} on this machine: "
                           f"{n_genes:,} genes need about {_gigabytes(n_genes * per_gene)} of memory to load and "
                           f"align, more than the {_gigabytes(available)} available", n_genes)


def available_memory() -> int | None:
    """Bytes of memory this process can still take: MemAvailable, capped by a cgroup limit; None if unknown."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            return None
    try:  # a container's limit can be far below the machine's free memory
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text(encoding="ascii").strip()
        used = int((cgroup / "memory.current").read_text(encoding="ascii").strip())
        if limit.isdigit():
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(available, 0)


def _gigabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:,.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:,.1f} MB"


@lru_cache(maxsize=4)
def _modules(n_genes: int, n_modules: int, seed: int) -> np.ndarray:
    """Module of each gene (−1 for none), generated chunk by chunk so prefixes agree."""
    import numpy as np

    module = np.empty(n_genes, dtype=np.int64)
    for start in range(0, n_genes, _CHUNK):
        stop = min(start + _CHUNK, n_genes)
        rng = np.random.default_rng([seed, 1, start // _CHUNK, n_modules])
        joined = rng.random(_CHUNK) < _MEMBERSHIP
        which = rng.integers(0, n_modules, _CHUNK)
        module[start:stop] = np.where(joined, which, -1)[: stop - start]
    module.setflags(write=False)
    return module


@lru_cache(maxsize=2)
def _gene_names(n_genes: int) -> pd.Index:
    import pandas as pd

    return pd.Index([f"SIM{i:07d}" for i in range(n_genes)], name="gene")
