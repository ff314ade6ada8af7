"""Built-in acquisition functions."""

from __future__ import annotations

import numpy as np

from gd_core import hookimpl
from gd_core.data import Pool


@hookimpl
def gd_register_acquisitions(register):
    register("random", RandomAcquisition)


class RandomAcquisition:
    """Uniformly random genes from the available pool (paper eq. 1)."""

    requires: tuple[str, ...] = ()

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, drawn uniformly."""
        return rng.choice(pool.available, batch_size, replace=False)
