"""Helpers for testing gd plugins: a host with only your plugins, tiny data, a checker for every kind, a tiny run.

    from gd_core.testing import check_acquisition, check_descriptor, check_metric, check_model, run_tiny

    def test_my_model_keeps_the_contract():
        check_model(MyModel, alpha=0.5)               # a factory (a class is one) or an unfitted model

    def test_my_acquisition_keeps_the_contract():
        check_acquisition(MyAcquisition(), batch_size=8)

    def test_my_metric_ranks_the_right_way_round():
        check_metric(MyMetric, better="lower")        # the direction it is registered with

    def test_my_descriptor_is_a_valid_table():
        check_descriptor(my_descriptor(), name="my_descriptor")

    def test_a_tiny_run_goes_through():
        result = run_tiny(model="my_model", plugins=[my_plugin])   # result.metrics, result.selections

Each checker asserts the contract written in ``gd_core.hookspecs`` and the protocols of ``gd_core.data``, and
raises ``AssertionError`` naming the component and the broken rule, so it reads as a test failure in pytest.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from gd_core.data import CAPABILITIES, Dataset, Model, Pool, Truth, align, capabilities_of
from gd_core.errors import GdError
from gd_core.hookspecs import hookimpl
from gd_core.plugins import PluginHost

#: Parameters ``run_tiny`` gives built-in components the caller sets nothing for: seconds, not minutes.
TINY_PARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("descriptor", "simulated"): {"n_genes": 200, "n_features": 8},
    ("assay", "simulated"): {"n_genes": 200},
    ("model", "random_forest"): {"n_estimators": 10, "n_jobs": 1},
    ("model", "bnn"): {"hidden_sizes": [16], "max_epochs": 10, "mc_samples": 10, "n_threads": 1},
}
_ROWS_SHOWN = 7  # rows asked for alone, to compare with the same rows asked for among others


def host_with(*plugins: object, builtins: bool = False) -> PluginHost:
    """A plugin host holding only ``plugins`` (and the built-ins if asked), never installed plugins."""
    return PluginHost(builtins=builtins, entry_points=False, plugins=plugins)


def tiny_dataset(n_genes: int = 300, n_features: int = 8, seed: int = 0) -> Dataset:
    """A small SIMULATED screen (built-in generator), aligned as a run would align it."""
    from gd_plugins_builtin.simulated import simulated_assay, simulated_descriptor

    return align(simulated_descriptor(n_genes=n_genes, n_features=n_features, seed=seed),
                 simulated_assay(n_genes=n_genes, seed=seed), descriptor_name="simulated", assay_name="simulated")


def tiny_pool(dataset: Dataset | None = None, *, n_acquired: int = 30, test_fraction: float = 0.2,
              seed: int = 0) -> Pool:
    """A pool over ``dataset`` with a seeded test split and ``n_acquired`` genes already acquired."""
    data = dataset if dataset is not None else tiny_dataset(seed=seed)
    order = np.random.default_rng(seed).permutation(data.n)
    n_test = int(round(test_fraction * data.n))
    acquired = order[n_test:n_test + n_acquired]
    available = np.sort(order[n_test + n_acquired:])
    return Pool(X=_read_only(data.X), genes=data.genes, available=available, acquired=acquired, cycle=1,
                measured=_read_only(data.y[acquired]))


def fitted_forest(pool: Pool, dataset: Dataset, seed: int = 0) -> Any:
    """A small built-in random forest fitted on the pool's acquired genes (offers predict and sample)."""
    from gd_plugins_builtin.forest import RandomForest

    model = RandomForest(n_estimators=20, n_jobs=1)
    return model.fit(pool.X[pool.acquired], dataset.y[pool.acquired], np.random.default_rng(seed))


def fitted_model(model: Any, pool: Pool, dataset: Dataset, seed: int = 0, **params: Any) -> Any:
    """``model`` (a registry entry, a factory, or an unfitted model, which is copied) fitted on the pool's
    acquired genes as a run would fit it."""
    name, make = _model_maker(model, params)
    fresh = make()
    _call(f"model '{name}'", "fit", fresh.fit, pool.X[pool.acquired], dataset.y[pool.acquired],
          np.random.default_rng(seed))
    return fresh


# --- acquisitions -------------------------------------------------------------------------------------------


def check_acquisition(acquisition: Any, model: Any = None, *, pool: Pool | None = None,
                      dataset: Dataset | None = None, batch_size: int = 10, seed: int = 0) -> np.ndarray:
    """Assert the acquisition contract and return the selection.

    The contract: ``requires`` names known capabilities, all offered by the model; ``batch_size`` distinct
    positions, all from ``pool.available`` (never a test or acquired gene), integer typed, the pool left as it
    was, and the same selection again for the same seed. Without a model, a small fitted random forest is
    used; without a pool, a tiny simulated one.
    """
    data = dataset if dataset is not None else tiny_dataset(seed=seed)
    pool = pool if pool is not None else tiny_pool(data, seed=seed)
    model = model if model is not None else fitted_forest(pool, data, seed)
    who = f"acquisition '{type(acquisition).__name__}'"
    assert hasattr(acquisition, "requires"), f"{who}: an acquisition declares the capabilities it needs in `requires`"
    assert not isinstance(acquisition.requires, str), \
        f"{who}: requires = {acquisition.requires!r} is a string; write a tuple: ({acquisition.requires!r},)"
    unknown = [r for r in acquisition.requires if r not in CAPABILITIES]
    assert not unknown, f"{who}: requires unknown capability {unknown[0]!r}; known: {', '.join(CAPABILITIES)}"
    missing = [r for r in acquisition.requires if r not in capabilities_of(model)]
    assert not missing, (f"{who} requires {', '.join(missing)}, which the model given to the check "
                         f"({type(model).__name__}) does not offer; pass a model that does")
    before = (pool.available.copy(), pool.acquired.copy())
    first = np.asarray(_call(who, "select", acquisition.select, pool, model, batch_size, np.random.default_rng(seed)))
    assert np.array_equal(pool.available, before[0]) and np.array_equal(pool.acquired, before[1]), \
        f"{who} changed pool.available or pool.acquired; treat the pool as read-only"
    again = np.asarray(_call(who, "select", acquisition.select, pool, model, batch_size, np.random.default_rng(seed)))
    assert first.ndim == 1 and np.issubdtype(first.dtype, np.integer), \
        f"{who}: positions must be a 1-D array of integers, got {first.dtype} of shape {first.shape}"
    assert len(first) == batch_size, f"{who} selected {len(first)} genes instead of {batch_size}"
    assert len(np.unique(first)) == batch_size, f"{who} selected the same gene twice"
    assert np.isin(first, pool.available).all(), f"{who} selected a gene that is not available (test or acquired)"
    assert np.array_equal(first, again), f"{who}: the same seed gave a different selection; draw randomness from rng"
    return first


# --- models -------------------------------------------------------------------------------------------------


def check_model(model: Any, /, *, name: str | None = None, dataset: Dataset | None = None, n_fit: int = 60,
                n_small: int | None = 4, seed: int = 0, **params: Any) -> Any:
    """Assert the model contract on tiny data and return the fitted model.

    ``model`` is a registry entry (``host.registries.models.get("bnn")``), a factory called with ``params``
    (a class is one), or an unfitted model (copied for each fit). Checked: ``fit`` leaves its inputs as they
    were; ``predict`` gives ``[m]`` finite real numbers; every capability the model offers gives its shape
    (``sample`` ``[s, m]``, ``embed`` ``[m, h]``, ``gradient_embedding`` ``[m, e]``, ``input_gradient``
    ``[m, d]``), finite, from read-only inputs; a row's result does not depend on the other rows of the call;
    a second model fitted with the same seed gives the same outputs to the bit; ``sample`` without ``rng``
    gives the same samples on every call, and with equal generators equal samples; and the model fits on
    ``n_small`` genes (the first cycle fits on one batch; None skips this).
    """
    label, make = _model_maker(model, params, name)
    who = f"model '{label}'"
    data = dataset if dataset is not None else tiny_dataset(n_genes=150, n_features=8, seed=seed)
    order = np.random.default_rng(seed).permutation(data.n)
    train, rows = order[:n_fit], order[n_fit:n_fit + 40]
    X_eval = _read_only(data.X[rows])
    m, d = X_eval.shape

    fitted = make()
    assert isinstance(fitted, Model), f"{who}: the factory returned {type(fitted).__name__}, which has no fit/predict"
    X_train, y_train = data.X[train].copy(), data.y[train].copy()
    _call(who, "fit", fitted.fit, X_train, y_train, np.random.default_rng(seed))
    assert np.array_equal(X_train, data.X[train]) and np.array_equal(y_train, data.y[train]), \
        f"{who}: fit changed its X or y argument; treat inputs as read-only (copy before changing them)"
    twin = make()
    _call(who, "fit", twin.fit, data.X[train].copy(), data.y[train].copy(), np.random.default_rng(seed))

    predicted = _checked_output(who, "predict", fitted.predict, X_eval, (m,))
    _same_rows(who, "predict", fitted.predict, X_eval, predicted)
    _deterministic(who, "predict", predicted, _call(who, "predict", twin.predict, X_eval))
    for capability in capabilities_of(fitted):
        if capability != "predict":
            _check_capability(who, capability, fitted, twin, X_eval, d)

    if n_small:
        small = make()
        _call(who, f"fit on {n_small} genes (a run's first cycle fits on one batch)", small.fit,
              data.X[train[:n_small]].copy(), data.y[train[:n_small]].copy(), np.random.default_rng(seed))
        _checked_output(who, f"predict after a fit on {n_small} genes", small.predict, X_eval, (m,))
    return fitted


def _check_capability(who: str, capability: str, fitted: Any, twin: Any, X: np.ndarray, d: int) -> np.ndarray:
    """One capability's shape, finiteness, independence of rows and determinism; returns its output on ``X``.

    ``twin`` is a second model fitted with the same seed: it must give the same output to the bit.
    """
    m = len(X)
    if capability == "sample":
        samples = _checked_output(who, "sample", fitted.sample, X, (None, m))
        assert samples.shape[0] >= 1, f"{who}: sample returned no sample (shape {samples.shape})"
        _deterministic(who, "sample (called again, without rng)", samples, _call(who, "sample", fitted.sample, X),
                       why="without rng, sample must return the model's fixed samples on every call")
        part = _call(who, "sample", fitted.sample, X[:_ROWS_SHOWN])
        _close(who, "sample", samples[:, :_ROWS_SHOWN], np.asarray(part))
        _deterministic(who, "sample", samples, _call(who, "sample", twin.sample, X))
        drawn = _checked_output(who, "sample(X, n=3, rng)", lambda x: fitted.sample(x, 3, np.random.default_rng(1)),
                                X, (3, m))
        _deterministic(who, "sample(X, n=3, rng)", drawn, _call(who, "sample", fitted.sample, X, 3,
                                                                np.random.default_rng(1)),
                       why="generators in the same state must give the same samples")
        return samples
    if capability == "embed":
        embedded = _checked_output(who, "embed", fitted.embed, X, (m, None))
        # The contract (gd_core.data.Embedder): the input features are no embedding (kmeans_data clusters those), and a
        # space where every gene sits at one point gives distance-based acquisitions nothing to go on.
        assert not (embedded.shape == X.shape and np.array_equal(embedded, X)), \
            f"{who}: embed returned the input features; offer embed only for a representation of the model's own"
        assert np.ptp(embedded, axis=0).max() > 0, \
            f"{who}: embed put every gene at the same point; offer embed only for a representation that separates genes"
        _same_rows(who, "embed", fitted.embed, X, embedded)
        _deterministic(who, "embed", embedded, _call(who, "embed", twin.embed, X))
        return embedded
    if capability == "gradient_embedding":
        gradients = _checked_output(who, "gradient_embedding",
                                    lambda x: fitted.gradient_embedding(x, np.random.default_rng(2)), X, (m, None))
        again = _call(who, "gradient_embedding", fitted.gradient_embedding, X, np.random.default_rng(2))
        _deterministic(who, "gradient_embedding (called again with an equal generator)", gradients, again,
                       why="generators in the same state must give the same embeddings")
        _deterministic(who, "gradient_embedding", gradients,
                       _call(who, "gradient_embedding", twin.gradient_embedding, X, np.random.default_rng(2)))
        return gradients
    if capability == "input_gradient":
        gradients = _checked_output(who, "input_gradient", fitted.input_gradient, X, (m, d))
        _same_rows(who, "input_gradient", fitted.input_gradient, X, gradients)
        _deterministic(who, "input_gradient", gradients, _call(who, "input_gradient", twin.input_gradient, X))
        return gradients
    raise AssertionError(f"{who}: no check written for capability {capability!r}")


def _model_maker(model: Any, params: dict[str, Any], name: str | None = None) -> tuple[str, Callable[[], Any]]:
    """A label for messages and a function returning a fresh unfitted model."""
    if hasattr(model, "factory") and hasattr(model, "kind"):  # a registry entry: parameters checked as a run does
        return name or model.name, lambda: model.create(**params)
    if isinstance(model, type) or not (hasattr(model, "fit") and hasattr(model, "predict")):
        label = name or getattr(model, "__name__", type(model).__name__)
        return label, lambda: model(**params)
    assert not params, f"model '{type(model).__name__}': parameters go to a factory; give the class, not an object"
    return name or type(model).__name__, lambda: copy.deepcopy(model)


# --- metrics ------------------------------------------------------------------------------------------------


class _Oracle:
    """Predicts each gene's outcome exactly (or reversed: −y), by looking its descriptor row up."""

    def __init__(self, data: Dataset, sign: float) -> None:
        self._y = {row.tobytes(): sign * float(v) for row, v in zip(data.X, data.y)}
        self._default = float(np.mean(data.y)) * sign

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> _Oracle:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.array([self._y.get(np.asarray(row, dtype=np.float32).tobytes(), self._default) for row in X])


def check_metric(metric: Any, /, *, better: str | None = None, name: str | None = None, seed: int = 0,
                 direction: bool = True) -> dict[str, float]:
    """Assert the metric contract and its direction; return its values in the two situations it is shown.

    ``metric`` is a registry entry (its ``better`` metadata is checked), a factory (called without
    parameters, as a run does; a class is one) or the metric itself. It is shown a tiny run's cycle twice,
    with the same number of genes acquired: *good*, a model predicting every test outcome exactly with every
    hit acquired, and *bad*, a model predicting the outcomes reversed (−y) with no hit acquired. Both values
    must be finite numbers, the same again on a second call, and, with ``direction``, the good one must be
    the better by ``better`` (``"higher"``, the default, or ``"lower"``) unless the two are equal. Pass
    ``direction=False`` for a metric that measures neither prediction nor hits (a batch's diversity, say).
    """
    from gd_core.loop import split_test, top_hits

    if hasattr(metric, "factory") and hasattr(metric, "kind"):
        name = name or metric.name
        better = better if better is not None else metric.metadata.get("better", "higher")
        metric = metric.factory
    label = name or getattr(metric, "__name__", type(metric).__name__)
    who = f"metric '{label}'"
    better = "higher" if better is None else better
    assert better in ("higher", "lower"), \
        f"{who}: better={better!r} is not a direction; register it with better='higher' or better='lower'"
    if _is_factory(metric, who):
        metric = _call(who, "factory() (a run calls it without parameters)", metric)
    assert callable(metric), f"{who}: the factory returned {type(metric).__name__}, not a callable metric"

    data = tiny_dataset(n_genes=200, n_features=8, seed=seed)
    test = split_test(data.n, 0.2, seed)
    outside = np.setdiff1d(np.arange(data.n), test)
    hits = top_hits(data.y, outside, 0.05)
    others = np.setdiff1d(outside, hits)
    n_acquired = 2 * len(hits)
    rng = np.random.default_rng(seed)
    acquired = {"good": np.concatenate([hits, rng.choice(others, n_acquired - len(hits), replace=False)]),
                "bad": rng.choice(others, n_acquired, replace=False)}
    values = {}
    for situation, sign in (("good", 1.0), ("bad", -1.0)):
        model = _Oracle(data, sign)
        pool = Pool(X=_read_only(data.X), genes=data.genes, available=np.setdiff1d(others, acquired[situation]),
                    acquired=acquired[situation].astype(np.int64), cycle=1)

        def truth() -> Truth:
            return Truth(_read_only(data.X[test]), _read_only(data.y[test]), test, hits, model, "oracle")

        value = _call(who, "its computation", metric, pool, model, truth())
        assert isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)), \
            f"{who} returned {type(value).__name__}, not a number"
        assert np.isfinite(value), f"{who} returned {value} for the {situation} situation; it must be a finite number"
        again = _call(who, "its computation", metric, pool, model, truth())
        assert again == value, f"{who} gave {value} and then {again} for the same cycle; it must be deterministic"
        values[situation] = float(value)
    if direction and values["good"] != values["bad"]:
        good_wins = values["good"] > values["bad"] if better == "higher" else values["good"] < values["bad"]
        other = "lower" if better == "higher" else "higher"
        assert good_wins, (f"{who} is registered better={better!r} but scores an exact prediction with every hit "
                           f"acquired ({values['good']:.4g}) {other} than a reversed one with no hit acquired "
                           f"({values['bad']:.4g}); register it with better={other!r}")
    return values


def _is_factory(metric: Any, who: str) -> bool:
    """Whether ``metric`` builds a metric (callable without arguments) rather than being one (three arguments)."""
    if isinstance(metric, type):
        return True
    try:
        parameters = inspect.signature(metric).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in parameters if p.default is p.empty and p.kind in positional]
    assert len(required) in (0, 3), (f"{who} takes {len(required)} required argument(s): a factory takes none (a run "
                                     "calls it without parameters) and a metric takes (pool, model, truth)")
    return not required


# --- descriptors and assays ---------------------------------------------------------------------------------


def check_descriptor(descriptor: Any, name: str = "descriptor") -> pd.DataFrame:
    """Assert the descriptor contract: a non-empty DataFrame indexed by unique gene symbols (str, not empty nor
    padded), with unique numeric columns and only finite values. Returns the table."""
    who = f"descriptor '{name}'"
    assert isinstance(descriptor, pd.DataFrame), \
        f"{who} is a {type(descriptor).__name__}; a descriptor is a pandas DataFrame indexed by gene"
    assert descriptor.shape[0] >= 1 and descriptor.shape[1] >= 1, \
        f"{who} is empty ({descriptor.shape[0]} genes × {descriptor.shape[1]} features); it needs both"
    _check_genes(who, descriptor.index)
    repeated = descriptor.columns[descriptor.columns.astype(str).duplicated()]
    assert not len(repeated), f"{who} has repeated feature names (e.g. {list(repeated[:3])}); name each column once"
    bad = [c for c in descriptor.columns if not _is_real(descriptor[c].dtype)]
    assert not bad, (f"{who} has non-numeric columns (e.g. {list(bad[:3])}, dtype {descriptor[bad[0]].dtype}); "
                     "drop or encode them")
    _check_finite(who, descriptor.to_numpy(dtype=np.float64, na_value=np.nan), descriptor.index, "features")
    return descriptor


def check_assay(assay: Any, name: str = "assay") -> pd.Series:
    """Assert the assay contract: a non-empty Series indexed by unique gene symbols (str, not empty nor padded),
    of real numbers (not bool), all finite (unmeasured genes left out, not NaN). Returns the series."""
    who = f"assay '{name}'"
    assert isinstance(assay, pd.Series), \
        f"{who} is a {type(assay).__name__}; an assay is a pandas Series of numbers indexed by gene"
    assert len(assay) >= 1, f"{who} is empty; it needs one value per measured gene"
    _check_genes(who, assay.index)
    assert _is_real(assay.dtype) and not pd.api.types.is_bool_dtype(assay.dtype), \
        f"{who} has values of dtype {assay.dtype}; an assay's values are real numbers (floats)"
    _check_finite(who, assay.to_numpy(dtype=np.float64, na_value=np.nan)[:, None], assay.index, "values")
    return assay


def _check_genes(who: str, index: pd.Index) -> None:
    not_text = [g for g in index if not isinstance(g, str)]
    assert not not_text, (f"{who} is indexed by non-string labels (e.g. {not_text[:3]}); the index holds gene "
                          "symbols as str")
    padded = [g for g in index if not g or g != g.strip()]
    assert not padded, f"{who} has empty or space-padded gene symbols (e.g. {padded[:3]}); strip them"
    repeated = index[index.duplicated()]
    assert not len(repeated), (f"{who} lists {len(repeated)} gene(s) more than once (e.g. "
                               f"{list(repeated.unique()[:3])}); merge or drop the duplicates")


def _check_finite(who: str, values: np.ndarray, genes: pd.Index, what: str) -> None:
    bad = ~np.isfinite(values).all(axis=1)
    assert not bad.any(), (f"{who} has NaN or infinite {what} for {int(bad.sum())} gene(s) (e.g. "
                           f"{list(genes[bad][:3])}); impute them or leave the genes out")


def _is_real(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)


# --- a tiny run through the real loop -----------------------------------------------------------------------


def run_tiny(descriptor: Any = "simulated", assay: Any = "simulated", model: Any = "random_forest",
             acquisition: Any = "random", *, plugins: Iterable[Any] = (), cycles: int = 2, batch_size: int = 4,
             seed: int = 0, metrics: Iterable[str] | None = None, params: dict[str, dict[str, Any]] | None = None,
             builtins: bool = True) -> Any:
    """Run the active-learning loop (``gd_core.loop.prepare`` and ``execute``, as ``gd run`` does) on tiny data;
    returns the ``RunResult``: ``.metrics`` (cycle, n_acquired, metric, value) and ``.selections`` (cycle, gene).

    Components are registered names, or objects registered for this run: a DataFrame or Series for the
    descriptor or assay, a factory (a class is one) or an object for the model and acquisition (a model object
    is copied for each cycle). ``plugins`` are plugin objects (modules, instances) or ``.py`` paths, as
    ``gd run --plugin``; installed plugins are not loaded. Built-ins left without parameters get small ones
    (``TINY_PARAMS``: 200 simulated genes × 8 features, a 10-tree forest, a small bnn), which ``params``
    (``{"model": {"n_estimators": 5}}``) override key by key. Bad settings raise
    the ``GdError`` ``gd run`` would print.
    """
    from gd_core.loop import DEFAULT_METRICS, RunConfig, execute, prepare
    from gd_core.plugins import load_plugin_file

    objects, files = [], []
    for plugin in plugins:
        (files if isinstance(plugin, (str, bytes)) or hasattr(plugin, "__fspath__") else objects).append(plugin)
    given = {kind: value for kind, value in (("descriptor", descriptor), ("assay", assay), ("model", model),
                                             ("acquisition", acquisition)) if not isinstance(value, str)}
    if given:
        objects.append(_GivenComponents(given))
    host = PluginHost(builtins=builtins, entry_points=False, plugins=objects)
    failed = [r for r in host.records if r.error]
    if failed:
        raise GdError(f"plugin '{failed[0].name}' failed: {failed[0].error}")
    for path in files:
        load_plugin_file(host, path)
    names = {kind: value if isinstance(value, str) else f"given_{kind}" for kind, value in
             (("descriptor", descriptor), ("assay", assay), ("model", model), ("acquisition", acquisition))}
    settings: dict[str, dict[str, Any]] = {}
    for kind, value in names.items():
        chosen = {**TINY_PARAMS.get((kind, value), {}), **((params or {}).get(kind) or {})}
        if chosen:
            settings[kind] = chosen
    config = RunConfig(assay=names["assay"], descriptor=names["descriptor"], model=names["model"],
                       acquisition=names["acquisition"], batch_size=batch_size, cycles=cycles, seed=seed,
                       metrics=tuple(metrics or DEFAULT_METRICS), params=settings)
    return execute(prepare(config, host.registries, on_status=lambda status: None))


class _GivenComponents:
    """A plugin registering the components handed to ``run_tiny`` as objects, under ``given_<kind>``."""

    def __init__(self, given: dict[str, Any]) -> None:
        self.given = given

    def _factories(self, kinds: tuple[str, ...]) -> list[tuple[str, Callable[..., Any]]]:
        made = []
        for kind in kinds:
            if kind not in self.given:
                continue
            value = self.given[kind]
            if isinstance(value, (pd.DataFrame, pd.Series)):
                factory = value.copy
            elif kind == "model" and hasattr(value, "fit") and not isinstance(value, type):
                factory = lambda value=value: copy.deepcopy(value)  # noqa: E731 — a fresh model every cycle
            elif kind == "acquisition" and hasattr(value, "select") and not isinstance(value, type):
                factory = lambda value=value: value  # noqa: E731
            else:
                factory = value
            made.append((f"given_{kind}", factory))
        return made

    @hookimpl
    def gd_register_treatment_descriptors(self, register: Any) -> None:
        for name, factory in self._factories(("descriptor",)):
            register(name, factory)

    @hookimpl
    def gd_register_assays(self, register: Any) -> None:
        for name, factory in self._factories(("assay",)):
            register(name, factory)

    @hookimpl
    def gd_register_models(self, register: Any) -> None:
        for name, factory in self._factories(("model",)):
            register(name, factory)

    @hookimpl
    def gd_register_acquisitions(self, register: Any) -> None:
        for name, factory in self._factories(("acquisition",)):
            register(name, factory)


# --- shared pieces ------------------------------------------------------------------------------------------


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.setflags(write=False)
    return view


def _call(who: str, what: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, its exception turned into an AssertionError naming the component and the call."""
    try:
        return function(*args)
    except AssertionError:
        raise
    except Exception as exc:
        hint = ("; it was given a read-only array, as a run gives it, and must not write into its inputs"
                if "read-only" in str(exc) else "")
        raise AssertionError(f"{who}: {what} raised {type(exc).__name__}: {exc}{hint}") from exc


def _checked_output(who: str, method: str, function: Callable[[np.ndarray], Any], X: np.ndarray,
                    shape: tuple[int | None, ...]) -> np.ndarray:
    """``function(X)`` as an array of the given shape (None: any size ≥ 1) of finite real numbers."""
    out = np.asarray(_call(who, method, function, X))
    expected = "[" + ", ".join("k" if s is None else str(s) for s in shape) + "]"
    assert out.ndim == len(shape) and all(s is None or s == o for s, o in zip(shape, out.shape)), \
        f"{who}: {method} returned shape {out.shape} for {len(X)} genes; it must return {expected}"
    assert all(o >= 1 for o in out.shape), f"{who}: {method} returned an empty array of shape {out.shape}"
    assert _is_real(out.dtype) and not np.issubdtype(out.dtype, np.bool_), \
        f"{who}: {method} returned values of dtype {out.dtype}; it must return real numbers"
    bad = int((~np.isfinite(out)).sum())
    assert not bad, f"{who}: {method} returned {bad} NaN or infinite value(s) for {len(X)} genes; all must be finite"
    return out


def _same_rows(who: str, method: str, function: Callable[[np.ndarray], Any], X: np.ndarray,
               full: np.ndarray) -> None:
    """A row's result must not depend on the other rows of the call (acquisitions call on blocks of rows)."""
    _close(who, method, full[:_ROWS_SHOWN], np.asarray(_call(who, method, function, X[:_ROWS_SHOWN])))


def _close(who: str, method: str, among_others: np.ndarray, alone: np.ndarray) -> None:
    scale = max(1.0, float(np.max(np.abs(among_others)))) if among_others.size else 1.0
    assert among_others.shape == alone.shape and np.allclose(among_others, alone, rtol=1e-5, atol=1e-6 * scale), \
        (f"{who}: {method} gave the first {_ROWS_SHOWN} genes different results alone than among {len(among_others)}"
         " others; a gene's result must depend only on its own row (acquisitions call on blocks of genes)")


def _deterministic(who: str, method: str, first: Any, second: Any,
                   why: str = "two models fitted with the same seed must give the same outputs") -> None:
    second = np.asarray(second)
    assert first.shape == second.shape and np.array_equal(first, second), \
        f"{who}: {method} differed between two calls that must agree; {why} (draw randomness only from rng)"
