"""The active-learning loop: split, hits, initial batch, then fit → measure → acquire each cycle."""

from __future__ import annotations

import functools
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from gd_core.data import CAPABILITIES, Dataset, HitRule, Pool, Truth, align, check_compatible
from gd_core.errors import GdError, described, labelled, shown
from gd_core.protocols import DEFAULT_PROTOCOL, Protocol, essential_genes, get_protocol
from gd_core.registry import Entry, Registries, closest, literal
from gd_core.helpers.tables import load_assay_file, load_descriptor_file, looks_like_path

log = logging.getLogger("gd")

# Independent random streams, so e.g. the test split never depends on the model or batch size.
_SPLIT, _INITIAL, _MODEL, _ACQUIRE = 0, 1, 2, 3
PARAM_KINDS = ("descriptor", "assay", "model", "acquisition")
SPLIT_FOLLOWS_SEED = "seed"  # split_seed value that draws a new test split for every run seed
DEFAULT_METRICS = ("mse", "hit_ratio", "spearman")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's selections and metrics."""

    assay: str
    descriptor: str
    model: str
    acquisition: str
    batch_size: int
    cycles: int
    seed: int = 0
    metrics: tuple[str, ...] = DEFAULT_METRICS
    test_fraction: float = 0.2
    hit_fraction: float = 0.05
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Seed of the test split, apart from ``seed`` so that seeds repeat the experiment on one test set
    #: (the paper keeps the test set "fixed across all experimental settings"); ``"seed"`` follows ``seed``.
    split_seed: int | str = 0
    #: How genes are split and hits counted (``gd_core.protocols``); ``test_fraction`` and ``hit_fraction`` above are
    #: this protocol's unless set otherwise (``RunConfig.for_protocol`` fills them in).
    protocol: str = DEFAULT_PROTOCOL

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready settings."""
        settings = asdict(self)
        settings["metrics"] = list(self.metrics)
        return settings

    @property
    def protocol_spec(self) -> Protocol:
        """The protocol this run follows."""
        return get_protocol(self.protocol)

    @classmethod
    def for_protocol(cls, protocol: str = DEFAULT_PROTOCOL, *, assay: str, descriptor: str, model: str,
                     acquisition: str, batch_size: int | None = None, cycles: int | None = None,
                     test_fraction: float | None = None, hit_fraction: float | None = None,
                     metrics: tuple[str, ...] | None = None, **rest: Any) -> "RunConfig":
        """A run's settings with whatever is left as None taken from the protocol (its batch size for this assay,
        cycles, split, hit share and metrics); ``rest`` are the other fields (seed, params, split_seed)."""
        spec = get_protocol(protocol)
        return cls(assay=assay, descriptor=descriptor, model=model, acquisition=acquisition,
                   batch_size=spec.default_batch_size(assay) if batch_size is None else batch_size,
                   cycles=spec.cycles if cycles is None else cycles,
                   test_fraction=spec.test_fraction if test_fraction is None else test_fraction,
                   hit_fraction=spec.hit_rule.fraction if hit_fraction is None else hit_fraction,
                   metrics=tuple(spec.metrics if metrics is None else metrics), protocol=protocol, **rest)

    @property
    def resolved_split_seed(self) -> int:
        """The seed the test split is drawn from."""
        return self.seed if self.split_seed == SPLIT_FOLLOWS_SEED else self.split_seed


@dataclass(frozen=True)
class Plan:
    """A run that passed every check: resolved components, aligned data, split and hits."""

    config: RunConfig
    entries: dict[str, Entry]  # kind → entry, plus "metric:<name>" for each metric
    dataset: Dataset
    test: np.ndarray
    pool: np.ndarray
    hits: np.ndarray
    initial: np.ndarray
    acquisition: Any  # built once in prepare, where its parameters and needs were checked
    metrics: dict[str, Any] = field(default_factory=dict)  # name → metric, built in prepare too
    #: what the protocol made of this data: genes a run may acquire, hits and where they come from (config.json)
    protocol_facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CycleReport:
    """Progress of one finished cycle, for displays and logs."""

    cycle: int
    cycles: int
    n_acquired: int
    metrics: dict[str, float]
    fit_seconds: float
    acquire_seconds: float


@dataclass
class RunResult:
    """A finished run: the tidy metrics table and the genes chosen per cycle."""

    plan: Plan
    metrics: pd.DataFrame  # cycle, n_acquired, metric, value
    selections: pd.DataFrame  # cycle, gene
    seconds: float


def is_split_seed(value: object) -> bool:
    """Whether ``value`` can be a split seed: a whole number ≥ 0 (not a bool) or ``SPLIT_FOLLOWS_SEED``."""
    return value == SPLIT_FOLLOWS_SEED or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def is_whole(value: object, minimum: int) -> bool:
    """Whether ``value`` is a whole number ≥ ``minimum``; a bool is an int to Python, never a count to a user."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_fraction(value: object, *, one_allowed: bool) -> bool:
    """Whether ``value`` is a number strictly above 0 and below 1 (or equal to 1 if ``one_allowed``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 < value < 1 or (one_allowed and value == 1)


#: How ``gd run`` spells each setting, for messages; a sweep checks its settings first, by its own names.
RUN_OPTIONS = {"protocol": "--protocol", "batch_size": "--batch-size", "cycles": "--cycles", "seed": "--seed",
               "split_seed": "--split-seed",
               "test_fraction": "--test-fraction", "hit_fraction": "--hit-fraction", "metrics": "--metric",
               "params": "--param"}


def check_settings(config: RunConfig) -> None:
    """Refuse settings no run could use: sizes, fractions, parameter kinds, metrics; named as ``gd run`` options."""
    protocol = get_protocol(config.protocol)
    for name in ("batch_size", "cycles"):
        if not is_whole(getattr(config, name), 1):
            raise GdError(f"{RUN_OPTIONS[name]} must be a positive whole number, got {literal(getattr(config, name))}")
    if not is_whole(config.seed, 0):
        raise GdError(f"--seed must be a whole number ≥ 0, got {literal(config.seed)}")
    if not is_split_seed(config.split_seed):
        raise GdError(f"--split-seed must be a whole number ≥ 0 or '{SPLIT_FOLLOWS_SEED}' (a new test split per "
                      f"run seed), got {literal(config.split_seed)}")
    if not protocol.has_test_split:
        if config.test_fraction != 0:
            raise GdError(f"--protocol {protocol.name} has no test split, but --test-fraction is "
                          f"{literal(config.test_fraction)}; leave --test-fraction out, or use --protocol genedisco")
    elif not is_fraction(config.test_fraction, one_allowed=False):
        raise GdError(f"--test-fraction must be a number strictly between 0 and 1 (the share of genes held out "
                      f"for testing, e.g. 0.2), got {literal(config.test_fraction)}")
    if not is_fraction(config.hit_fraction, one_allowed=True):
        raise GdError(f"--hit-fraction must be a number above 0 and at most 1 (the share of genes that are hits, "
                      f"e.g. 0.05), got {literal(config.hit_fraction)}")
    unknown = sorted(set(config.params) - set(PARAM_KINDS))
    if unknown:
        # NAME.KEY (as gd sweep takes) for the component chosen for a kind: say which KIND.KEY it means
        named = {getattr(config, kind): kind for kind in PARAM_KINDS}
        meant = named.get(unknown[0]) or closest(unknown[0], list(PARAM_KINDS))
        keys = ", ".join(f"{meant}.{key}" for key in config.params[unknown[0]]) if unknown[0] in named else meant
        hint = f"did you mean '{keys}'? " if meant else ""
        raise GdError(f"--param {unknown[0]}.…: unknown kind '{unknown[0]}'; {hint}use --param KIND.KEY=VALUE "
                      f"with KIND one of {', '.join(PARAM_KINDS)}")
    if not config.metrics:
        raise GdError("no metric chosen; pass --metric NAME at least once")
    repeated = [m for i, m in enumerate(config.metrics) if m in config.metrics[:i]]
    if repeated:
        raise GdError(f"--metric {repeated[0]} is given more than once; list each metric once")


def split_test(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """Sorted positions of the test genes: a seeded share of ``n``, the same for every model, acquisition,
    batch size and (with a fixed split seed) run seed."""
    n_test = int(round(test_fraction * n))
    return np.sort(np.random.default_rng([seed, _SPLIT]).permutation(n)[:n_test])


def top_hits(y: np.ndarray, pool: np.ndarray, hit_fraction: float, by: str = "abs") -> np.ndarray:
    """Sorted positions of the top ``hit_fraction`` of the pool by |y| (``by="abs"``) or by y (``by="high"``),
    ties broken by position."""
    k = max(1, int(round(hit_fraction * len(pool))))
    values = y[pool].astype(np.float64)
    order = np.lexsort((pool, -(np.abs(values) if by == "abs" else values)))
    return np.sort(pool[order[:k]])


def protocol_hits(dataset: Dataset, pool: np.ndarray, config: RunConfig) -> tuple[np.ndarray, str, float]:
    """The hit positions the run's protocol defines, where they come from (for config.json and reports), and the
    share of the pool they are said to be (what acquisitions are told in ``pool.hit_rule``).

    A protocol that takes published hits uses the assay's list where it has one: the listed genes of ``pool``
    (genes the descriptor lacks, or excluded ones, cannot be acquired and are left out), a share of their own.
    Otherwise, and for every other protocol, the top ``hit_fraction`` of the pool by the protocol's rule.
    """
    protocol = config.protocol_spec
    if protocol.published_hits and dataset.hit_list is not None:
        if config.hit_fraction != protocol.hit_rule.fraction:
            raise GdError(f"assay '{config.assay}' has a published hit list, which --protocol {protocol.name} counts "
                          f"as its hits, so --hit-fraction {config.hit_fraction:g} would not apply; leave it out, "
                          "or use --protocol genedisco to take a top share")
        listed = np.flatnonzero(dataset.genes.isin(list(dataset.hit_list)))
        hits = np.intersect1d(listed, pool)
        if len(hits) == 0:
            raise GdError(f"none of the {len(dataset.hit_list)} published hits of assay '{config.assay}' is among the "
                          f"{len(pool)} genes descriptor '{config.descriptor}' covers; use another descriptor or "
                          "--protocol genedisco")
        return (hits, f"published hit list of assay '{config.assay}' ({len(hits)} of {len(dataset.hit_list)} listed)",
                len(hits) / len(pool))
    rule = "|y|" if protocol.hit_rule.by == "abs" else "signed y (largest)"
    where = "non-test genes" if protocol.has_test_split else "genes"
    hits = top_hits(dataset.y, pool, config.hit_fraction, protocol.hit_rule.by)
    return hits, f"top {config.hit_fraction:g} of the {where} by {rule}", config.hit_fraction


def dataset_entry(kind: str, name: str, registries: Registries) -> Entry:
    """A registered descriptor or assay, or, for a name that is a file path, a reader of that table (through
    the data cache, so that a large table is parsed once, not on every run)."""
    registry = registries.of(kind)
    # A bare file name without a table suffix ("mytable.dat") is a file when it names one and no component.
    if not looks_like_path(name) and (name in registry or not Path(name).is_file()):
        return registry.get(name)
    reader = load_descriptor_file if kind == "descriptor" else load_assay_file
    return Entry(kind, name, functools.partial(reader, Path(name)), plugin="user file", distribution="file",
                 version="", metadata={"source": "file", "summary": f"{kind} table read from {name}"})


class DatasetCache:
    """The last few aligned datasets, so a sweep's worker loads each descriptor × assay once, not once per run."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.loads = 0  # how many times data was actually loaded, for tests and logs
        self._items: dict[str, Dataset] = {}

    def get(self, key: str, load: Callable[[], Dataset]) -> Dataset:
        """The dataset stored under ``key``, loading (and keeping) it if absent."""
        if key in self._items:
            self._items[key] = self._items.pop(key)  # most recently used goes last
            return self._items[key]
        dataset = load()
        self.loads += 1
        self._items[key] = dataset
        while len(self._items) > self.size:
            del self._items[next(iter(self._items))]
        return dataset


def _file_identity(name: str) -> list[Any] | None:
    """Size and modification time of a user table named by path, so a long-lived worker re-reads a changed file."""
    try:
        stat = Path(name).stat()
    except (OSError, ValueError):
        return None  # a registered name, or a path that the loader will refuse with its own message
    return [str(Path(name).resolve()), stat.st_size, stat.st_mtime_ns]


def prepare(config: RunConfig, registries: Registries, *, on_status: Callable[[str], None] = log.info,
            cache: DatasetCache | None = None, on_note: Callable[[str], None] | None = None) -> Plan:
    """Check everything that can be checked, load and align the data, and fix split, hits and first batch.

    Every refusal happens here, before any model is trained. With a ``cache``, data loaded by an earlier
    run with the same descriptor, assay and their parameters is reused. ``on_note`` gets each of the aligned
    data's notes (genes renamed, dropped or left out) as soon as the data is loaded, before the checks that
    such losses may make fail.
    """
    check_settings(config)
    entries = {
        "descriptor": dataset_entry("descriptor", config.descriptor, registries),
        "assay": dataset_entry("assay", config.assay, registries),
        "model": registries.models.get(config.model),
        "acquisition": registries.acquisitions.get(config.acquisition),
    }
    for metric in config.metrics:
        entries[f"metric:{metric}"] = registries.metrics.get(metric)
    # Building the model, acquisition and metrics is cheap and checks every parameter value and the pairing,
    # so a bad one is refused here, before any data is loaded or a run directory made.
    model = entries["model"].create(**config.params.get("model", {}))
    acquisition = entries["acquisition"].create(**config.params.get("acquisition", {}))
    check_compatible(config.model, model, config.acquisition, acquisition,
                     model_origin=entries["model"].origin, acquisition_origin=entries["acquisition"].origin)
    metrics = {name: entries[f"metric:{name}"].create() for name in config.metrics}
    protocol = config.protocol_spec
    if not protocol.has_test_split:
        # mse and spearman are measured on held-out genes; a protocol without them has nothing to measure
        needing = [name for name, metric in metrics.items() if getattr(metric, "needs_test_split", False)]
        if needing:
            raise GdError(f"metric '{needing[0]}' is measured on a test split, which --protocol {protocol.name} does "
                          f"not have; choose other metrics (e.g. --metric hit_ratio) or --protocol genedisco")

    def load() -> Dataset:
        on_status(f"loading descriptor '{config.descriptor}' and assay '{config.assay}'")
        descriptor = _built("descriptor", config.descriptor, entries["descriptor"], config.params)
        assay = _built("assay", config.assay, entries["assay"], config.params)
        return align(descriptor, assay, descriptor_name=config.descriptor, assay_name=config.assay,
                     descriptor_origin=_third_party(entries["descriptor"]), assay_origin=_third_party(entries["assay"]))

    if cache is None:
        dataset = load()
    else:
        key = json.dumps([config.descriptor, config.assay, config.params.get("descriptor", {}),
                          config.params.get("assay", {}), _file_identity(config.descriptor),
                          _file_identity(config.assay)], sort_keys=True)
        dataset = cache.get(key, load)
    for note in dataset.notes if on_note is not None else ():
        on_note(note)

    if dataset.n > 1 and float(dataset.y.min()) == float(dataset.y.max()):
        raise GdError(f"{labelled('assay', config.assay, _third_party(entries['assay']))} has the same value "
                      f"({float(dataset.y[0]):g}) for all {dataset.n:,} genes "
                      f"it shares with descriptor '{config.descriptor}': there is nothing to learn and no hit to find; "
                      "check the assay's values")
    excluded = 0
    if protocol.exclude_essential:
        essential = dataset.genes.isin(list(essential_genes()))
        excluded = int(essential.sum())
        dataset = dataset.subset(~essential)
    if protocol.hit_rule.by == "high" and len(dataset.y) and float(dataset.y.max()) <= 0:
        raise GdError(f"assay '{config.assay}' has no outcome above 0, so --protocol {protocol.name}'s hits (the "
                      "largest signed outcomes) would be the genes that changed least; give an assay where larger "
                      "means a stronger effect (e.g. a negated copy of this one), or use a protocol that counts |y|")
    if protocol.has_test_split:
        test = split_test(dataset.n, config.test_fraction, config.resolved_split_seed)
        if len(test) == 0:
            raise GdError(f"--test-fraction {config.test_fraction} of {dataset.n} aligned genes leaves no test gene; "
                          "raise it")
    else:
        test = np.zeros(0, dtype=np.int64)
    outside = np.ones(dataset.n, dtype=bool)
    outside[test] = False
    pool = np.flatnonzero(outside)
    needed = config.batch_size * config.cycles
    if needed > len(pool):
        where, lower = (("are outside the test set", "--batch-size, --cycles or --test-fraction") if len(test) else
                        ("can be acquired", "--batch-size or --cycles"))
        raise GdError(
            f"--batch-size {config.batch_size} × --cycles {config.cycles} = {needed} genes, but only {len(pool)} "
            f"of the {dataset.n} genes of assay '{config.assay}' found in descriptor '{config.descriptor}' {where}; "
            f"lower {lower}"
        )
    hits, hits_from, hit_share = protocol_hits(dataset, pool, config)
    initial = initial_batch(pool, config.batch_size, config.seed)
    split = f"{len(test)} test (split seed {config.resolved_split_seed})" if len(test) else "no test split"
    essential = f"; {excluded} common essential genes left out" if protocol.exclude_essential else ""
    on_status(f"{dataset.n} genes × {dataset.X.shape[1]} features; {split}, {len(hits)} hits ({hits_from})"
              f"{essential}")
    facts = {"name": protocol.name, "candidates": int(len(pool)), "hits": int(len(hits)), "hits_from": hits_from,
             "hit_share": hit_share, "essential_excluded": excluded}
    return Plan(config, entries, dataset, test, pool, hits, initial, acquisition, metrics, facts)


# The steps of one cycle, shared by the benchmark (``_execute``) and a lab's campaign (``gd_apps.campaign``), so
# that a campaign fed what a run had measured by cycle c proposes exactly the batch the run acquires at cycle c.

def initial_batch(positions: np.ndarray, batch_size: int, seed: int) -> np.ndarray:
    """The first batch, before any model: ``batch_size`` distinct entries of ``positions`` (sorted positions the
    batch may use: a run's non-test genes, a campaign's available ones) drawn at random from the run's seed."""
    return np.random.default_rng([seed, _INITIAL]).choice(positions, batch_size, replace=False).astype(np.int64)


def fit_model(entry: Entry, params: dict[str, Any], X: np.ndarray, y: np.ndarray, acquired: np.ndarray,
              seed: int, cycle: int) -> Any:
    """A fresh model built from ``entry`` with ``params``, fitted on the ``acquired`` rows of ``X`` and ``y`` (in that
    order) with the cycle's own generator; an exception of the model's own names it (``ComponentError``)."""
    model = entry.create(**params)
    with blaming(entry, "fit", cycle):
        model.fit(X[acquired], y[acquired], np.random.default_rng([seed, _MODEL, cycle]))
    return model


def select_batch(entry: Entry, acquisition: Any, pool: Pool, model: Any, batch_size: int, seed: int, cycle: int,
                 *, model_entry: Entry) -> np.ndarray:
    """The acquisition's batch for this cycle, drawn with the cycle's own generator and checked: exactly
    ``batch_size`` distinct positions of ``pool.available`` (int64, in the acquisition's order)."""
    rng = np.random.default_rng([seed, _ACQUIRE, cycle])
    try:
        with blaming(entry, "select", cycle, model=(model, model_entry)):
            batch = acquisition.select(pool, model, batch_size, rng)
    except GdError as exc:  # e.g. the model's samples were NaN, or the acquisition's own refusal: name both
        raise GdError(f"cycle {cycle}, acquisition '{entry.name}' ({entry.origin}) with model '{model_entry.name}' "
                      f"({model_entry.origin}): {exc}") from None
    available = np.zeros(len(pool.genes), dtype=bool)
    available[pool.available] = True
    return _checked_batch(batch, available, f"'{entry.name}' ({entry.origin})", batch_size, cycle)


def _third_party(entry: Entry) -> str:
    """The plugin to name where gd passes on a component's own refusal: a third party's; none for gd's own
    components and the user's table files, whose names say enough."""
    return "" if entry.plugin.startswith("builtin.") or entry.distribution == "file" else entry.origin


def _built(kind: str, name: str, entry: Entry, params: dict[str, dict[str, Any]]) -> Any:
    """The descriptor or assay ``name``; a refusal from inside it (e.g. a derived descriptor's own ``gd_core.load``
    of a misspelt name) says which component the user asked for when it does not already."""
    try:
        return entry.create(**params.get(kind, {}))
    except GdError as exc:
        if f"'{name}'" in str(exc):
            raise
        raise GdError(f"{kind} '{name}': {exc}") from None


def execute(plan: Plan, *, on_cycle: Callable[[CycleReport], None] | None = None) -> RunResult:
    """Run the cycles of a prepared plan.

    Every cycle runs with numpy's BLAS held to one thread: a matrix product's last bits depend on how its
    work is split between threads, and selections must not depend on the machine's core count. Models that
    want parallel work use their own threads (``parallel.map_in_threads``), which this does not touch.
    """
    from threadpoolctl import threadpool_limits

    # Floating-point warnings (overflow, invalid) would print lines of their own around gd's; what they warn of
    # (a NaN or an infinity) is refused by the checks of predictions, metrics and batches, naming the culprit.
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
        return _execute(plan, on_cycle)


class ComponentError(Exception):
    """A model, acquisition or metric raised something other than a GdError while the loop called it.

    The message names the component, the plugin that registered it, the call and the cycle; the original
    exception is chained (``__cause__``) so run.log and failure.json keep its traceback.
    """


def failure_text(exc: BaseException) -> str:
    """How a run's exception reads in one line: a component's own error already names itself."""
    if isinstance(exc, SystemExit):
        return exit_text(exc)
    return shown(exc) if isinstance(exc, ComponentError) else described(exc)


def exit_text(exc: SystemExit) -> str:
    """What a ``sys.exit`` that gd did not call reads as: where it was called (the plugin's line) and why that is
    wrong."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" in {frame.filename}:{frame.lineno}" if frame else ""
    return f"stopped by sys.exit({exc.code!r}) called{where}; a plugin must raise an exception instead of exiting"


@contextmanager
def blaming(entry: Entry, call: str, cycle: int, *, model: tuple[Any, Entry] | None = None) -> Iterator[None]:
    """Re-raise a component's own exception as a ComponentError that says whose it was and where. With ``model``
    (the fitted model an acquisition was given, and its entry), an exception raised inside one of the model's
    capability methods is the model's, not the acquisition's that called it. A GdError is the component's own
    message to the user and goes on as it is, prefixed with whose it is when a third party's plugin raised it
    and its text does not name the component."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        method = _model_method_in(exc.__traceback__, model[0]) if model is not None else None
        if method is not None:
            entry, call = model[1], f"{method} (called by {entry.kind} '{entry.name}')"
        if isinstance(exc, GdError):
            origin = _third_party(entry)
            if not origin or f"'{entry.name}'" in str(exc):
                raise
            raise GdError(f"{labelled(entry.kind, entry.name, origin)} in {call} in cycle {cycle}: {exc}") from exc
        # One line, however long the library's message: the traceback (run.log, failure.json) keeps all of it.
        raise ComponentError(f"{entry.kind} '{entry.name}' ({entry.origin}) raised in {call} in cycle {cycle}: "
                             f"{described(exc)}") from exc


def _model_method_in(traceback: Any, model: Any) -> str | None:
    """The capability method of ``model`` (``embed``, ``sample``, …) that the traceback passes through, if any."""
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name in CAPABILITIES and frame.f_locals.get("self") is model:
            return frame.f_code.co_name
        traceback = traceback.tb_next
    return None


def _execute(plan: Plan, on_cycle: Callable[[CycleReport], None] | None) -> RunResult:
    config, data = plan.config, plan.dataset
    started = time.perf_counter()
    X = data.X.view()
    X.setflags(write=False)  # acquisitions get a view they cannot change
    model_entry, acquisition = plan.entries["model"], plan.acquisition
    available = np.ones(data.n, dtype=bool)
    available[plan.test] = False
    available[plan.initial] = False
    batches = [plan.initial]
    rows: list[tuple[int, int, str, float]] = []
    # The test genes never change: their features and labels are gathered once, not at every cycle.
    X_test, y_test = X[plan.test], data.y[plan.test]
    # Read-only, as everything a metric sees: one metric must not change what the next one reads.
    test, hits = plan.test.view(), plan.hits.view()
    for shared in (X_test, y_test, test, hits):
        shared.setflags(write=False)
    hit_rule = HitRule(config.protocol_spec.hit_rule.by, plan.protocol_facts.get("hit_share", config.hit_fraction))

    for cycle in range(config.cycles):
        acquired = np.concatenate(batches)
        t0 = time.perf_counter()
        model = fit_model(model_entry, config.params.get("model", {}), X, data.y, acquired, config.seed, cycle)
        fit_seconds = time.perf_counter() - t0

        measured = data.y[acquired]
        measured.setflags(write=False)
        candidates = np.flatnonzero(available)
        candidates.setflags(write=False)
        acquired.setflags(write=False)  # the metrics and the acquisition share the pool: none may change it
        pool = Pool(X=X, genes=data.genes, available=candidates, acquired=acquired, cycle=cycle,
                    measured=measured, hit_rule=hit_rule)
        truth = Truth(X_test, y_test, test, hits, model, config.model)
        if len(plan.test):  # without a test split no metric reads test predictions (prepare refused those)
            with blaming(model_entry, "predict", cycle):
                check_predictions(truth, model_entry, cycle)
        values = {}
        for name, metric in plan.metrics.items():
            with blaming(plan.entries[f"metric:{name}"], "its computation", cycle):
                value = metric(pool, model, truth)
            values[name] = _metric_value(value, plan.entries[f"metric:{name}"], cycle,
                                         lambda: _overflowing(truth, model_entry, cycle) if len(plan.test) else None)
            rows.append((cycle, len(acquired), name, values[name]))

        t1 = time.perf_counter()
        if cycle < config.cycles - 1:
            batches.append(select_batch(plan.entries["acquisition"], acquisition, pool, model, config.batch_size,
                                        config.seed, cycle, model_entry=model_entry))
            available[batches[-1]] = False
        report = CycleReport(cycle, config.cycles, len(acquired), values, fit_seconds, time.perf_counter() - t1)
        log.info("cycle %d/%d: %d acquired, fit %.2fs, acquire %.2fs, %s", cycle + 1, config.cycles,
                 len(acquired), fit_seconds, report.acquire_seconds,
                 ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
        if on_cycle:
            on_cycle(report)

    table = pd.DataFrame(rows, columns=["cycle", "n_acquired", "metric", "value"])
    selections = pd.DataFrame(
        [(cycle, data.genes[p]) for cycle, batch in enumerate(batches) for p in batch], columns=["cycle", "gene"]
    )
    return RunResult(plan, table, selections, time.perf_counter() - started)


def check_predictions(truth: Truth, model_entry: Entry, cycle: int, *, genes: str = "test genes") -> None:
    """Refuse a model whose predicted means on the test genes (``genes``, as the message names them) are of the wrong
    shape or not all finite.

    Every metric reads these predictions: a NaN among them would be published as a complete run with
    ``mse=nan``, so the run fails here instead, naming the model and the plugin that registered it.
    """
    where = f"model '{model_entry.name}' ({model_entry.origin})"
    try:
        predicted = truth.predicted_test
    except GdError as exc:  # a wrong shape, or not numbers; predict's own exceptions go to blaming
        raise GdError(f"{exc} (cycle {cycle}; {model_entry.origin})") from None
    bad = int((~np.isfinite(predicted)).sum())
    if bad:
        raise GdError(f"{where} predicted {bad} non-finite value(s) (NaN or infinite) for the {len(predicted)} "
                      f"{genes} in cycle {cycle}; fix the model or its parameters")


def _overflowing(truth: Truth, model_entry: Entry, cycle: int) -> str | None:
    """Why the model's test predictions are too large to measure (their squares sum beyond float64), or None."""
    predicted = np.asarray(truth.predicted_test, dtype=np.float64)
    with np.errstate(over="ignore"):
        if len(predicted) == 0 or np.isfinite(np.square(predicted).sum()):
            return None
    return (f"model '{model_entry.name}' ({model_entry.origin}) predicted values as large as "
            f"{np.abs(predicted).max():.3g} for the test genes in cycle {cycle}, too large for float64 arithmetic")


def _metric_value(value: Any, entry: Entry, cycle: int, overflowing: Callable[[], str | None] = lambda: None) -> float:
    """A metric's value as a float: NaN is allowed and means undefined (e.g. spearman of a constant
    prediction); anything not a number, or infinite, fails the run naming the metric and its plugin, or the
    model when ``overflowing()`` says its predictions are too large to measure (so mse's inf is the model's)."""
    number, why = None, ""
    # float() would read "0.5" and True as numbers; numpy's float would drop a complex number's imaginary part
    if not isinstance(value, (str, bytes, bool, np.bool_, complex, np.complexfloating)):
        try:
            number = float(value)
        except Exception as exc:  # noqa: BLE001 — TypeError, ValueError, OverflowError (10**400), a raising __float__
            why = f" ({described(exc)})"
    if number is None:
        raise GdError(f"metric '{entry.name}' ({entry.origin}) returned {type(value).__name__}, not a number{why}, "
                      f"in cycle {cycle}; fix the metric") from None
    if np.isinf(number):
        culprit = overflowing()
        if culprit:
            raise GdError(f"{culprit} (metric '{entry.name}' returned {number}); fix the model or its parameters")
        raise GdError(f"metric '{entry.name}' ({entry.origin}) returned {number} in cycle {cycle}; a metric must "
                      "return a finite number, or NaN where it is undefined") from None
    return number


def _checked_batch(batch: Any, available: np.ndarray, acquisition: str, batch_size: int, cycle: int) -> np.ndarray:
    """Refuse a batch that is not exactly batch_size distinct available positions (``available``: a mask);
    ``acquisition`` names it in the message (quoted name and plugin)."""
    problem = None
    try:
        positions = np.asarray(batch)
    except Exception:  # noqa: BLE001 — e.g. a ragged list, or an object whose __array__ raises
        positions = None
    if positions is None:
        problem = f"a {type(batch).__name__} that is not an array"
    elif positions.ndim != 1 or not np.issubdtype(positions.dtype, np.integer):
        problem = f"an array of shape {positions.shape} and dtype {positions.dtype}"
    elif len(positions) != batch_size:
        problem = f"{len(positions)} genes instead of {batch_size}"
    elif len(np.unique(positions)) != len(positions):
        problem = "the same gene twice"
    elif positions.min() < 0 or positions.max() >= len(available) or not available[positions].all():
        problem = "a gene that is not available (a test gene, or one acquired already)"
    if problem:
        raise GdError(f"acquisition {acquisition} returned {problem} at cycle {cycle}; "
                      f"it must return {batch_size} distinct positions from pool.available")
    return positions.astype(np.int64)
