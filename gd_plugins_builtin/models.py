"""Built-in models."""

from __future__ import annotations

from gd_core import hookimpl
from gd_core.registry import Deferred

# torch loads only when a run builds this model; the signature (and so the parameter check) is BayesianMLP's.
_bnn = Deferred("gd_plugins_builtin.bnn:BayesianMLP", """\
Bayesian MLP: one hidden ReLU layer, MC dropout; hidden size and epochs by 3-fold CV at each fit.

The width (128 or 512) and the epochs come from the cross-validation's pooled held-out loss; the final
network then trains on every gene, with a ridge-like L2 penalty and one scale for all input features.
Details and measured effects: ``gd_plugins_builtin.bnn``.""")


_forest = Deferred("gd_plugins_builtin.forest:RandomForest", """\
Random forest regressor (100 unpruned trees); posterior samples are the trees' predictions.""")


@hookimpl
def gd_register_models(register):
    register("random_forest", _forest)
    register("bnn", _bnn)
