"""The hooks a gd plugin implements: this module is the plugin author's API reference.

Every hook receives a ``register(name, factory, **metadata)`` callable instead of returning a list,
so the core knows which plugin registered what and can check each name where it is registered.
A hookimpl takes only the arguments it uses (pluggy passes them by name), so hooks can gain
arguments later without breaking plugins.

Metadata understood by every kind: ``summary="one line"`` (shown by ``gd list``; defaults to the first
line of the factory's docstring). Parameters reach a factory as keyword arguments, from
``gd run --param KIND.KEY=VALUE`` (values read as JSON: numbers, ``true``, ``null``, lists, strings).

Parameters: the registry checks their names against the factory's signature before calling it (a name it
lacks is refused with the closest one and the list, which ``gd list KIND NAME`` also shows with defaults). A
factory written as ``def f(**params)`` cannot be checked that way; to put off a heavy import and keep the
check, register ``gd_core.registry.Deferred("package.module:Class", "Summary.")``. A factory checks each
value's type and range itself, raising ``gd_core.registry.BadParameter(name, allowed, value)`` (or a
``ValueError``), so a bad value stops a run before any data loads, in one line naming the parameter as the
user set it (``model.max_depth``).

One run, in order (``gd_core.loop``; settings: batch size b, cycles C, seed s)::

    prepare, before any data loads:
        model = model_factory(**params)            # only to check parameters and the pairing; never fitted
        acquisition = acquisition_factory(**params)  # this one object selects in every cycle of the run
        metric = metric_factory()                  # once per metric, no parameters; used every cycle
        descriptor_factory(**params), assay_factory(**params)  -> inner join on gene -> X float32, y float32
        test genes: a seeded 20% (--test-fraction), never acquired; hits: top 5% (--hit-fraction) of the
        other genes by |y|; acquired = b random non-test genes (the initial batch)
    for cycle c in 0 .. C-1:
        model = model_factory(**params)            # a fresh object every cycle, retrained from scratch
        model.fit(X[acquired], y[acquired], rng)   # rng = numpy Generator seeded from (s, "model", c)
        predicted_test = model.predict(X_test)     # once; checked: shape [n_test], finite
        for each metric: value = metric(pool, model, truth)   # one row: (c, len(acquired), name, value)
        if c < C-1:                                # the last cycle measures but does not acquire
            batch = acquisition.select(pool, model, b, rng)   # rng seeded from (s, "acquire", c)
            acquired += batch                      # checked: b distinct positions of pool.available

So the metrics of cycle c describe the model fitted on every gene acquired before cycle c (the initial
batch and the batches selected in cycles 0 .. c-1), including the batch selected in cycle c-1, and never
the batch selected in cycle c, which is chosen after them. Positions (integers) index the rows of the
aligned, gene-sorted data throughout; gene symbols appear only in ``pool.genes`` and the written results.
Everything random comes from the ``rng`` arguments, so one seed gives byte-identical selections and metrics.

``gd_core.testing`` checks each kind against these contracts (``check_model``, ``check_acquisition``,
``check_metric``, ``check_descriptor``, ``check_assay``) and runs this loop on tiny data (``run_tiny``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import pluggy

from gd_core.errors import GdError, described, labelled, shown

if TYPE_CHECKING:
    import typer

PROJECT = "gd"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# What a model may offer, by method name (gd_core.data.CAPABILITIES holds their protocols), in this light module so
# that listing and describing components needs no numerical library.
CAPABILITY_NAMES = ("predict", "sample", "embed", "gradient_embedding", "input_gradient")


def declared_requirements(acquisition: object, acquisition_name: str, origin: str = "") -> list[str]:
    """The capability names an acquisition's ``requires`` declares (none if it has no such attribute), refused in
    one line unless they are a collection of strings; ``origin`` (e.g. ``plugin 'X'``) names its plugin there."""
    who = labelled("acquisition", acquisition_name, origin)
    try:
        requires = getattr(acquisition, "requires", ())
    except Exception as exc:  # noqa: BLE001 — a property that raises: the acquisition's bug, worded as such
        raise GdError(f"{who}: reading its requires raised {described(exc)}") from exc
    if isinstance(requires, str):  # ("sample") without its comma: iterating it would name letters
        raise GdError(f"{who} declares requires = {requires!r}, a string; write a "
                      f"tuple of capability names: ({requires!r},)")
    try:
        required = list(requires)
    except TypeError:
        required = None
    if required is None or not all(isinstance(r, str) for r in required):
        raise GdError(f"{who} declares requires = {shown(requires)}; write a tuple of "
                      f"capability names, e.g. ('sample',) (known: {', '.join(CAPABILITY_NAMES)})")
    return required



class Register(Protocol):
    """The callable every ``gd_register_*`` hook receives."""

    def __call__(self, name: str, factory: Callable[..., Any], **metadata: Any) -> None: ...


@hookspec
def gd_register_treatment_descriptors(register: Register) -> None:
    """Register treatment descriptors: the model inputs, one feature vector per gene.

    ``factory(**params)`` returns a ``pandas.DataFrame``:

    - index: gene symbols as ``str``, unique, none empty or padded with spaces (official HGNC symbols for
      human screens, as the bundled assays use; ``gd_core.helpers.genes.harmonise`` maps other names). Order and
      index name do not matter: a run sorts the genes.
    - columns: at least one, unique names, numeric dtypes. A run converts the features to float32, so
      float64 values are rounded there.
    - values: finite everywhere; no NaN or infinity (impute, or drop the gene). A run refuses a non-finite
      value in any gene it keeps, and ``gd_core.testing.check_descriptor`` in any gene at all.
    - genes: a run keeps the genes the descriptor and the assay share (an inner join on the index) and drops
      the rest of each silently; fewer than 2 shared genes stops the run with both sides' gene names shown.
    - the same parameters give the same table, to the bit: a run records the checksum of its aligned data.

    The factory runs in the process that runs the loop, once per run (a sweep's worker keeps its last two
    aligned datasets, so once per descriptor × assay there), after every parameter and pairing check.
    Cache expensive work yourself: across processes with ``gd_core.helpers.downloads.cached_table`` (as the built-in
    downloaded descriptors and ``gene_ontology``'s computed SVDs do), within one with ``functools.lru_cache``
    (return a copy). To build on another registered descriptor or assay, call
    ``gd_core.load("descriptor", "gene_ontology", **params)`` inside the factory: it is cached per process.

    Metadata read by ``gd data``: ``source`` (``"bundled"``, ``"simulated"``, ``"download"``, ``"import"``,
    ``"file"``), ``licence``, ``citation``, ``url``, ``files`` (``RemoteFile`` objects ``gd data fetch``
    downloads), ``details`` (a callable returning a dict of facts), ``check`` and ``importer`` (docs/plugins.md).

    Args:
        register: call ``register(name, factory, **metadata)`` once per descriptor.
    """


@hookspec
def gd_register_assays(register: Register) -> None:
    """Register assays: the measured outcome of perturbing each gene.

    ``factory(**params)`` returns a ``pandas.Series`` (a one-column DataFrame is taken as its column):

    - index: gene symbols as ``str``, unique, none empty, in the descriptors' naming (official symbols).
    - values: numbers (not bool), finite; a gene that was not measured is left out, not given NaN (a run
      refuses NaN in any gene it keeps). A run converts the values to float32.
    - genes not in the descriptor are dropped by the run's inner join, as the descriptor's genes not here are.
    - the same parameters give the same values, to the bit. Called as a descriptor's factory is (above).

    Hits are the top ``--hit-fraction`` (5%) of the non-test genes by absolute value, so put the outcome on a
    scale where a large |value| is the effect a screen looks for, in either direction.

    Args:
        register: call ``register(name, factory, **metadata)`` once per assay; the metadata are those of
            descriptors.
    """


@hookspec
def gd_register_models(register: Register) -> None:
    """Register models: counterfactual estimators, built afresh and refitted every cycle.

    ``factory(**params)`` returns an unfitted model: cheap to build (the run builds one only to check its
    parameters and pairing, then a new one every cycle) and checking every parameter value there. Its methods
    (each specified, with shapes and dtypes, by its protocol in ``gd_core.data``):

    - ``fit(X, y, rng)`` (``Model``): X float32 ``[n, d]`` and y float32 ``[n]``, the genes acquired so far (n
      is at least the batch size, which may be 1); ``rng`` a ``numpy.random.Generator`` for all its
      randomness. The same data and generator state must give a model whose every output below is the same
      to the bit (no global random state, no timing-dependent thread order). Returns ``self``.
    - ``predict(X) -> [len(X)]`` real, finite numbers (float64 preferred): the predicted mean outcome.
    - optional capabilities, each offered by defining the method (``gd_core.data.CAPABILITIES``) and used by
      the acquisitions that ``require`` it: ``sample`` (posterior samples: ``topuncertain``,
      ``softuncertain``, ``marginsample``, ``adversarialBIM``), ``embed`` (a representation in which
      Euclidean distance means similarity to the model: ``kmeans_embedding``, ``coreset``),
      ``gradient_embedding`` (last-layer loss gradients: ``badge``) and ``input_gradient`` (gradient of the
      predictive variance: ``adversarialBIM``). Offer only those that mean something for the model: a model
      without ``embed`` is refused by ``coreset`` before the run, in one sentence, while an embedding that
      is just the input features would run and mislead. What a forest, a linear model or a kernel model
      should offer is said in each protocol's docstring.

    Every method must treat its array arguments as read-only (the loop passes read-only test features to
    ``predict``, and an acquisition may pass ``pool.X`` itself) and must give each row a result that does not
    depend on the other rows of the call: acquisitions call the capabilities on blocks of up to 32,768
    genes. Outputs must be finite numbers of the stated shape: the loop fails the run, naming the model and
    its plugin, when ``predict`` gives a NaN, an infinity or a wrong shape (and the built-in acquisitions
    do the same for ``sample``, ``embed`` and the gradients), rather than publish it.

    Args:
        register: call ``register(name, factory, **metadata)`` once per model.
    """


@hookspec
def gd_register_acquisitions(register: Register) -> None:
    """Register acquisition functions: the policies that pick the next batch of genes.

    ``factory(**params)`` returns the acquisition, built once per run (before any data loads) and asked to
    select in every cycle but the last: keep no state that changes later selections unless that is the
    method. It has:

    - ``requires``: a collection of capability names (``gd_core.data.CAPABILITIES``) the model must offer,
      possibly empty; ``gd run`` refuses a model lacking one before any work, naming both.
    - optionally ``check_model(model)``: raise a ``GdError`` for an unfitted model this acquisition cannot use for a
      reason ``requires`` cannot say (``badge``'s ``pseudo_label="mc_dropout"`` needs a ``gradient_embedding``
      that takes it); called with ``requires`` before any work, so ``gd sweep --dry-run`` refuses the pairing too.
    - ``select(pool, model, batch_size, rng) -> positions``:

      - ``pool``: a ``gd_core.data.Pool`` (features of every gene, read-only; ``available``: the positions
        it may pick, sorted; ``acquired``: in acquisition order; ``measured``: their outcomes, in that order;
        ``hit_rule``: how the run's protocol counts hits; ``genes``; ``cycle``). It never holds the outcome of a
        gene not yet acquired.
      - ``model``: fitted this cycle on ``pool.acquired``, offering at least ``requires``.
      - ``batch_size``: a whole number from 1 to ``len(pool.available)``.
      - ``rng``: a ``numpy.random.Generator``, fresh each cycle and seeded from the run's seed and the cycle;
        draw every random choice (sampling, tie breaking, k-means starts) from it, never from
        ``numpy.random`` or an unseeded generator, so that a seed repeats a run.
      - returns exactly ``batch_size`` distinct entries of ``pool.available``: a 1-D array or list of
        integers of any integer type (numpy ints included; the loop converts to int64; a boolean mask or
        floats are refused). Order is recorded (``selections.csv``, and ``pool.acquired`` of later cycles)
        and should be the order of preference, best or first chosen first; no built-in metric reads it.

    The same pool, model and generator state must give the same selection. Refuse non-finite scores with a
    ``GdError`` (a NaN ranks arbitrarily); the loop adds the cycle, model and plugin to the message.

    Optionally, ``select`` explains its choice for a lab's plate (``gd campaign propose``, ``gd propose``): it sets
    ``self.last_explanation`` to a dict of 1-D arrays, one value per gene of the returned batch and in its order,
    which the plate adds as columns: ``"score"`` (what the genes were ranked or drawn by: ``topuncertain`` and
    ``softuncertain`` give the BALD score, ``marginsample`` the sample range) or ``"cluster"`` (the index of the
    centre that chose the gene: ``kmeans_data``, ``kmeans_embedding``), or other names of your own. Values are
    booleans or real numbers; text, objects or complex numbers are refused, naming the acquisition, before the
    plate is written. Setting it must not change the selection; a campaign builds the acquisition afresh for
    every plate and ignores an explanation of the wrong length. The benchmark loop does not read it.

    Args:
        register: call ``register(name, factory, **metadata)`` once per acquisition.
    """


@hookspec
def gd_register_metrics(register: Register) -> None:
    """Register metrics, computed once per cycle after the model is fitted and before the cycle's selection.

    ``factory()`` (no parameters: ``--param`` has no metric kind) is called once per run and returns a
    callable ``metric(pool, model, truth) -> float`` called every cycle:

    - ``pool``: as the acquisition sees it this cycle; ``pool.acquired`` holds exactly the genes the model
      was fitted on, the batch selected in the previous cycle included (the module docstring shows the order).
    - ``model``: the fitted model of this cycle.
    - ``truth``: a ``gd_core.data.Truth``: the test genes (``test`` positions, ``X_test``, ``y_test``),
      ``predicted_test`` (``model.predict(X_test)`` as float64, computed once per cycle for all metrics and
      already checked finite), and ``hits`` (positions of the top-|y| non-test genes, fixed for the run).
      Metrics are evaluation: they may read labels, which acquisitions never see.
    - returns a number (Python or numpy): NaN where the metric is undefined (``spearman`` of a constant
      prediction has no ranking) is recorded as such; an infinity, or anything that is not a number, fails
      the run. The same arguments must give the same value (there is no ``rng``).

    Metadata ``better="lower"`` or ``better="higher"`` (the default) is the metric's direction: ``gd report``
    ranks acquisitions by it and ``check_metric`` verifies it on a good and a bad prediction.

    Args:
        register: call ``register(name, factory, **metadata)`` once per metric.
    """


@hookspec
def gd_register_commands(app: typer.Typer, host: Any) -> None:
    """Add subcommands to the ``gd`` command line (gd's own ``data``, ``info``, ``sweep``, ``report`` and ``plot``
    are added through this hook too, by the built-in plugins in ``gd_apps``).

    Args:
        app: the root ``typer.Typer``; add commands with ``@app.command()`` or groups with
            ``app.add_typer(...)``. Keep imports inside the command functions so ``gd --help`` stays fast.
        host: the ``gd_core.plugins.PluginHost`` of this invocation: its ``registries`` hold every registered
            component (look names up there when the command runs, after any ``--plugin`` file is loaded with
            ``gd_apps.common.load_plugin_files``). A hookimpl may take ``app`` alone, as before.
    """


#: The registration hooks and the registry kind each one fills, in the order they are called.
REGISTRATION_HOOKS: dict[str, str] = {
    "gd_register_treatment_descriptors": "descriptor",
    "gd_register_assays": "assay",
    "gd_register_models": "model",
    "gd_register_acquisitions": "acquisition",
    "gd_register_metrics": "metric",
}
