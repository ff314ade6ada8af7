"""The built-in plugins: each module registers through the same hooks an installed plugin uses."""

#: Imported and registered by the plugin host, in this order.
MODULES = (
    "gd_plugins_builtin.simulated",
    "gd_plugins_builtin.genedisco",
    "gd_plugins_builtin.downloaded",
    "gd_plugins_builtin.models",
    "gd_plugins_builtin.acquisitions",
    "gd_plugins_builtin.diversity",
    "gd_plugins_builtin.adversarial",
    "gd_plugins_builtin.metrics",
)
