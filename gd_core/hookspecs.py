"""The hooks a gd plugin implements: this module is the plugin author's API reference.

Every hook receives a ``register(name, factory, **metadata)`` callable instead of returning a list,
so the core knows which plugin registered what and can check each name where it is registered.
A hookimpl takes only the arguments it uses (pluggy passes them by name), so hooks can gain
arguments later without breaking plugins.

Metadata understood by every kind: ``summary="one line"`` (shown by ``gd list``; defaults to the first
line of the factory's docstring). Parameters reach a factory as keyword arguments, from
``gd run --param KIND.KEY=VALUE``.

Parameters: the registry checks their names against the factory's signature before calling it (a name it
lacks is refused with the closest one and the list, which ``gd list KIND NAME`` also shows with defaults). A
factory written as ``def f(**params)`` cannot be checked that way; to put off a heavy import and keep the
check, register ``gd_core.registry.Deferred("package.module:Class", "Summary.")``. A factory checks each
value's type and range itself, raising ``gd_core.registry.BadParameter(name, allowed, value)`` (or a
``ValueError``), so a bad value stops a run before any data loads, in one line naming the parameter as the
user set it (``model.max_depth``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import pluggy

if TYPE_CHECKING:
    import typer

PROJECT = "gd"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callable every ``gd_register_*`` hook receives."""

    def __call__(self, name: str, factory: Callable[..., Any], **metadata: Any) -> None: ...


@hookspec
def gd_register_treatment_descriptors(register: Register) -> None:
    """Register treatment descriptors: the model inputs, one feature vector per gene.

    Args:
        register: call ``register(name, factory, **metadata)`` once per descriptor. ``factory(**params)``
            returns a ``pandas.DataFrame`` indexed by gene symbol (unique), one numeric column per feature,
            with no NaN or infinite value. It is called once per run, so cache expensive work yourself.
    """


@hookspec
def gd_register_assays(register: Register) -> None:
    """Register assays: the measured outcome of perturbing each gene.

    Args:
        register: call ``register(name, factory, **metadata)`` once per assay. ``factory(**params)``
            returns a ``pandas.Series`` of floats indexed by gene symbol (unique). The run aligns it with
            the descriptor by an inner join on the index.
    """


@hookspec
def gd_register_models(register: Register) -> None:
    """Register models: counterfactual estimators, built afresh and refitted every cycle.

    Args:
        register: call ``register(name, factory, **metadata)`` once per model. ``factory(**params)``
            returns an unfitted object with ``fit(X, y, rng)`` and ``predict(X) -> mean [n]``, plus any
            of the capabilities in ``gd_core.data.CAPABILITIES`` it offers (``sample``, ``embed``,
            ``gradient_embedding``, ``input_gradient``). ``X`` is float32 ``[n, d]``, ``y`` float32 ``[n]``
            and ``rng`` a ``numpy.random.Generator``; fitting must be deterministic given ``rng``.
            Outputs must be finite numbers of the stated shape: the loop fails the run, naming the model and its
            plugin, when ``predict`` gives a NaN, an infinity or a wrong shape (and the built-in acquisitions
            do the same for ``sample``, ``embed`` and the gradients), rather than publish it.
    """


@hookspec
def gd_register_acquisitions(register: Register) -> None:
    """Register acquisition functions: the policies that pick the next batch of genes.

    Args:
        register: call ``register(name, factory, **metadata)`` once per acquisition.
            ``factory(**params)`` returns an object with a ``requires`` attribute (a collection of
            capability names the model must offer, may be empty) and
            ``select(pool, model, batch_size, rng) -> positions``: exactly ``batch_size`` distinct
            entries of ``pool.available``. ``pool`` is a ``gd_core.data.Pool``: it carries features and
            positions, never the labels of genes not yet acquired. Refuse non-finite scores with a
            ``GdError`` (a NaN ranks arbitrarily); the loop adds the cycle, model and plugin to the message.
    """


@hookspec
def gd_register_metrics(register: Register) -> None:
    """Register metrics, computed once per cycle after the model is fitted.

    Args:
        register: call ``register(name, factory, **metadata)`` once per metric. ``factory()`` returns a
            callable ``metric(pool, model, truth) -> float``; ``truth`` is a ``gd_core.data.Truth``
            (test set, its cached predictions, the hit genes). Metrics are evaluation: they may see labels.
            Metadata ``better="lower"`` (or ``"higher"``, the default) tells ``gd report`` how to rank.
            Return NaN where the metric is undefined (``spearman`` of a constant prediction has no ranking):
            it is recorded as such. An infinite value, or anything that is not a number, fails the run.
    """


@hookspec
def gd_register_commands(app: typer.Typer) -> None:
    """Add subcommands to the ``gd`` command line.

    Args:
        app: the root ``typer.Typer``; add commands with ``@app.command()`` or groups with
            ``app.add_typer(...)``. Keep imports inside the command functions so ``gd --help`` stays fast.
    """


#: The registration hooks and the registry kind each one fills, in the order they are called.
REGISTRATION_HOOKS: dict[str, str] = {
    "gd_register_treatment_descriptors": "descriptor",
    "gd_register_assays": "assay",
    "gd_register_models": "model",
    "gd_register_acquisitions": "acquisition",
    "gd_register_metrics": "metric",
}
