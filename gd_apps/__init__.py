"""The applications built on the kernel: the ``gd`` command line, sweeps, reports and plots.

The root command (``cli``) holds ``run``, ``list``, ``list-plugins`` and ``info``; every other command group is a
built-in plugin that adds its commands through the ``gd_register_commands`` hook, the one a third-party plugin uses.
The kernel (``gd_core``) never imports this package.
"""

#: Built-in plugins that add commands, registered by ``cli.build_app`` in this order.
COMMAND_MODULES = (
    "gd_apps.info",  # gd info
    "gd_apps.data_commands",  # gd data list / info / fetch / import / export
    "gd_apps.sweep_commands",  # gd sweep, gd report, gd plot
    "gd_apps.campaign_commands",  # gd campaign init / add / propose / status, gd propose
)
