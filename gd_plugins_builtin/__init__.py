"""The built-in plugins: each module registers through the same hooks an installed plugin uses.

Every ``gd`` command imports these modules to register them, ``gd --help`` and ``gd list`` included, so they
import numpy, pandas, scipy and scikit-learn inside the functions that compute, never at module level (numpy
only for type annotations, under ``TYPE_CHECKING``); a model whose whole module is heavy is registered as a
``Deferred`` target (``models.py``). tests/test_cli_imports.py holds them to it.
"""

#: Imported and registered by the plugin host, in this order.
MODULES = (
    "gd_plugins_builtin.simulated",
    "gd_plugins_builtin.genedisco",
    "gd_plugins_builtin.downloaded",
    "gd_plugins_builtin.screens",
    "gd_plugins_builtin.models",
    "gd_plugins_builtin.acquisitions",
    "gd_plugins_builtin.diversity",
    "gd_plugins_builtin.adversarial",
    "gd_plugins_builtin.hit_acquisitions",
    "gd_plugins_builtin.metrics",
)
