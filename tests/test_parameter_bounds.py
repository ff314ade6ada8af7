"""Whole-number parameters beyond what numpy, torch and numba hold are refused when the component is built, in one
line naming the parameter; the largest they hold is taken, and a forest given more depth or bigger leaves than any
tree can use fits as the largest useful value does."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from gd_core.errors import GdError
from gd_core.plugins import PluginHost
from gd_plugins_builtin._checks import LARGEST_WHOLE
from gd_plugins_builtin.forest import RandomForest

KINDS = ("descriptors", "assays", "models", "acquisitions", "metrics")


def whole_number_parameters() -> list[tuple[str, str, str]]:
    """(kind, component, parameter) for every built-in parameter that takes a whole number (by default or type)."""
    registries = PluginHost(builtins=True, entry_points=False).registries
    found = []
    for kind in KINDS:
        registry = getattr(registries, kind)
        for name in registry.names():
            for parameter in inspect.signature(registry.get(name).factory).parameters.values():
                default = parameter.default
                if (isinstance(default, int) and not isinstance(default, bool)) or "int" in str(parameter.annotation):
                    found.append((kind, name, parameter.name))
    return found


PARAMETERS = whole_number_parameters()


def test_the_built_ins_have_whole_number_parameters_to_check():
    assert len(PARAMETERS) >= 30  # the enumeration itself works (models, acquisitions and datasets alike)
    assert ("models", "random_forest", "max_depth") in PARAMETERS and ("models", "bnn", "mc_samples") in PARAMETERS


@pytest.mark.parametrize(("kind", "name", "parameter"), PARAMETERS)
def test_a_whole_number_beyond_64_bits_is_refused_in_one_line_naming_the_parameter(builtin_host, kind, name,
                                                                                    parameter):
    registry = getattr(builtin_host.registries, kind)
    with pytest.raises(GdError) as refused:
        registry.create(name, **{parameter: LARGEST_WHOLE + 1})
    message = str(refused.value)
    assert "\n" not in message
    assert f"{parameter} must be" in message and "9223372036854775808" in message
    # A count checked as a count says what the bound is; a narrower range (e.g. dims) names its own.
    assert "2**63 - 1" in message or " to " in message


@pytest.mark.parametrize("parameter", ["mc_samples", "max_epochs", "patience", "batch_size", "folds", "n_threads"])
def test_the_largest_whole_number_is_accepted(builtin_host, parameter):
    model = builtin_host.registries.models.create("bnn", **{parameter: LARGEST_WHOLE})
    assert getattr(model, parameter) == LARGEST_WHOLE


@pytest.mark.parametrize("backend", ["presorted", "sklearn"])
def test_a_forest_with_more_depth_or_bigger_leaves_than_any_tree_can_use_fits_as_the_largest_useful_value(backend):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), rng.normal(size=60)
    pool = rng.normal(size=(30, 4)).astype(np.float32)

    def predictions(**params):
        forest = RandomForest(n_estimators=5, backend=backend, n_jobs=1, **params)
        return forest.fit(X, y, np.random.default_rng(1)).predict(pool)

    np.testing.assert_array_equal(predictions(max_depth=LARGEST_WHOLE), predictions(max_depth=None))
    # No split leaves two leaves of 60 genes or more: every tree is one leaf, so every gene gets the same prediction.
    largest = predictions(min_samples_leaf=LARGEST_WHOLE)
    np.testing.assert_array_equal(largest, predictions(min_samples_leaf=60))
    assert len(np.unique(largest)) == 1
    assert len(np.unique(predictions(min_samples_leaf=5))) > 1  # a leaf size trees can use does split
