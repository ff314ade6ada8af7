"""gd_core.testing: the helpers plugin authors use in their own tests."""

from __future__ import annotations

import numpy as np
import pytest

from gd_core import hookimpl
from gd_core.testing import check_acquisition, host_with, tiny_dataset, tiny_pool
from gd_plugins_builtin.acquisitions import RandomAcquisition, TopUncertainAcquisition


def test_check_acquisition_accepts_the_builtins():
    assert len(check_acquisition(RandomAcquisition(), batch_size=7)) == 7
    assert len(check_acquisition(TopUncertainAcquisition(), batch_size=5)) == 5


class Repeats:
    requires = ()

    def select(self, pool, model, batch_size, rng):
        return np.repeat(pool.available[:1], batch_size)


class TakesAcquired:
    requires = ()

    def select(self, pool, model, batch_size, rng):
        return pool.acquired[:batch_size]


class Unseeded:
    requires = ()

    def select(self, pool, model, batch_size, rng):
        return np.random.default_rng().choice(pool.available, batch_size, replace=False)


@pytest.mark.parametrize(("acquisition", "complaint"), [
    (Repeats(), "same gene twice"), (TakesAcquired(), "not available"), (Unseeded(), "same seed"),
])
def test_check_acquisition_catches_broken_contracts(acquisition, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_acquisition(acquisition, batch_size=6)


def test_tiny_pool_keeps_test_and_acquired_genes_out_of_available():
    data = tiny_dataset(n_genes=200)
    pool = tiny_pool(data, n_acquired=15)

    assert len(pool.acquired) == 15 and len(pool.available) == 200 - 40 - 15
    assert not np.isin(pool.acquired, pool.available).any()
    assert not pool.X.flags.writeable


def test_host_with_holds_only_the_given_plugins():
    class One:
        @hookimpl
        def gd_register_metrics(self, register):
            register("one", lambda: lambda pool, model, truth: 1.0)

    host = host_with(One())
    assert [r.name for r in host.records] == ["One"]
    assert host.registries.metrics.names() == ["one"]
