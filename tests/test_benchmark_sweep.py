"""benchmarks/sweep.py: which runs a variant of the paper's-grid estimate re-measures, and where it keeps them."""

from __future__ import annotations

import pytest

from benchmarks import sweep

ONE_RESTART = ["kmeans_embedding.n_init=1", "kmeans_data.n_init=1"]


def test_without_settings_every_run_is_measured_into_the_default_folders():
    assert sweep.variant([]) == (sweep.MODEL_ACQUISITIONS, "")


def test_an_acquisition_setting_touches_that_acquisition_under_every_model_that_runs_it():
    touched, suffix = sweep.variant(ONE_RESTART)

    assert touched == {"bnn": ("kmeans_data", "kmeans_embedding"), "random_forest": ("kmeans_data",)}
    assert suffix == "-kmeans_data.n_init=1+kmeans_embedding.n_init=1"  # sorted: the order given does not matter
    # the forest's sweep gets only the setting of the acquisition it runs
    assert sweep.settings_for("random_forest", touched["random_forest"], ONE_RESTART) == [
        "--param", "kmeans_data.n_init=1"]


def test_a_model_setting_touches_every_run_of_that_model_and_no_other():
    params = ["bnn.hidden_sizes=[128,256]", *ONE_RESTART]
    touched, suffix = sweep.variant(params)

    assert touched == {"bnn": sweep.MODEL_ACQUISITIONS["bnn"], "random_forest": ("kmeans_data",)}
    assert suffix == "-bnn.hidden_sizes=128_256+kmeans_data.n_init=1+kmeans_embedding.n_init=1"
    assert sweep.settings_for("bnn", ("random",), params) == ["--param", "bnn.hidden_sizes=[128,256]"]


@pytest.mark.parametrize("bad", [["gp.alpha=1"], ["bnn"], ["hidden_sizes=16"], ["bnn.hidden_sizes"]])
def test_a_setting_of_no_component_of_the_grid_is_refused_by_name(bad):
    with pytest.raises(SystemExit, match="NAME.KEY=VALUE"):
        sweep.variant(bad)
