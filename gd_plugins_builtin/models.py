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


# numpy and scipy load only when a run builds one of these (Gupta et al. 2025's strongest baselines).
_gp = Deferred("gd_plugins_builtin.gp:GaussianProcess", """\
Exact Gaussian process: RBF kernel plus noise, hyperparameters by marginal likelihood at each fit.

One lengthscale for all features; outcomes standardised, features centred; samples are marginal posterior
draws of the mean function; embed is the kernel's Nyström feature map on the training genes. Details:
``gd_plugins_builtin.gp``.""")


_bayesian_linear = Deferred("gd_plugins_builtin.linear:BayesianLinear", """\
Bayesian linear regression (the linear bandit's model); prior and noise precisions by evidence maximisation.

MacKay's fixed-point updates; samples are joint posterior draws of the weights (each a whole linear
function); embed is x·diag(|w|); gradient_embedding is BADGE's for a linear model. Details:
``gd_plugins_builtin.linear``.""")


@hookimpl
def gd_register_models(register):
    register("random_forest", _forest)
    register("bnn", _bnn)
    register("gp", _gp)
    register("bayesian_linear", _bayesian_linear)
