"""Sweeps: the paper's grid of runs, each stored under a hash of its settings, run on a process pool or Dask.

A sweep directory holds ``sweep.json`` (every run the sweeps into it asked for, and the combinations they
skipped) and ``runs/<key>/``, one run directory per configuration (see ``gd_core.results``). The key hashes
a run's settings; the code that made it (gd's version, each component's distribution and version, a
``--plugin`` file's content hash) is recorded in its ``config.json``. A run is *done* when its directory holds
``config.json`` made by the code this host would use now, *stale* when made by other code or with a default
that has changed since (the defaults its components declared are recorded too), *failed* when it holds
``failure.json``, and *missing* otherwise. A sweep runs the missing and failed runs and redoes the stale
ones (unless told to keep them), so a sweep killed at any moment resumes where it stopped. A redo (stale, or
``--force``) replaces the finished run only once the new one is complete; one that fails keeps the finished
run and records its failure in ``failures/<key>/`` instead.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from gd_core.data import CAPABILITIES, capabilities_of, check_compatible
from gd_core.errors import GdError
from gd_core.hookspecs import declared_requirements
from gd_core.helpers.parallel import process_alive
from gd_core.protocols import DEFAULT_PROTOCOL, get_protocol
from gd_core.loop import (PARAM_KINDS, SPLIT_FOLLOWS_SEED, DatasetCache, RunConfig, failure_text,
                          check_settings, dataset_entry, is_fraction, is_split_seed, is_whole)
from gd_core.registry import Registries, check_params, closest, literal
from gd_core.results import (FAILURE, MANIFEST, OLDER_GD, FileLock, LockBusy, Unwritable, component_code,
                             enclosing_run, file_in_the_way, recorded_code, remove_stale,
                             write_atomic)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SWEEP_FILE = "sweep.json"
LOCK = ".lock"
RUNS = "runs"
FAILURES = "failures"  # failure records of redone runs whose finished result was kept in runs/
PAPER_BATCH_SIZES = (16, 32, 64, 128, 256, 512)
PAPER_CYCLES = 40
PAPER_GENES = 40 * 64  # larger batches get fewer cycles, so every batch size ends with this many genes
MAX_RUNS = 1_000_000  # a grid beyond this is a typo (the paper's is 6,480 combinations)
CONNECT_TIMEOUT = "10s"  # how long to wait for a Dask scheduler to answer
WORKER_CHECK_SECONDS = 2.0  # how often a sweep on an existing Dask cluster checks it has workers


def paper_cycles(batch_size: int) -> int:
    """The paper's rule: 40 cycles up to batch 64; above that, as many as keep 40 × 64 genes acquired."""
    return PAPER_CYCLES if batch_size <= 64 else max(1, PAPER_GENES // batch_size)


@dataclass(frozen=True)
class SweepSpec:
    """The axes of a grid and the settings shared by all its runs.

    ``cycles`` None follows the paper's rule under the genedisco protocol, else the protocol's; ``batch_sizes``,
    ``metrics``, ``test_fraction`` and ``hit_fraction`` None are the protocol's (``gd_core.protocols``; genedisco:
    64, mse/hit_ratio/spearman, 0.2, 0.05). ``"all"`` as a model or acquisition means every registered one.
    ``params`` maps a kind (``acquisition``) or a component name (``softuncertain``) to its parameters.
    """

    assays: tuple[str, ...] = ("schmidt_2021_il2",)
    descriptors: tuple[str, ...] = ("gene_ontology",)
    models: tuple[str, ...] = ("bnn",)
    acquisitions: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] | None = None
    seeds: int = 5
    cycles: int | None = None
    metrics: tuple[str, ...] | None = None
    test_fraction: float | None = None
    hit_fraction: float | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    split_seed: int | str = 0
    protocol: str = DEFAULT_PROTOCOL
    #: The spec file each setting came from; a setting not listed was given as a ``gd sweep`` option (or is
    #: the default), so that a message names it as the user wrote it.
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def updated(self, values: dict[str, Any]) -> SweepSpec:
        """This spec with the given fields replaced (lists become tuples); values from ``read_spec`` remember
        their file, any others count as options."""
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        sources = {k: v for k, v in self.sources.items() if k not in values}
        if isinstance(values, SpecFile):
            sources.update({key: str(values.path) for key in values})
        return replace(self, **given, sources=sources)

    def name_of(self, key: str) -> str:
        """How the user wrote a setting: ``spec file grid.toml: 'test_fraction'`` or ``--test-fraction``."""
        return f"spec file {self.sources[key]}: '{key}'" if key in self.sources else SWEEP_OPTIONS[key]


class SpecFile(dict):
    """The settings read from a spec file, by key, with the file's path (see ``SweepSpec.updated``)."""

    def __init__(self, path: Path, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.path = path


_LIST_KEYS = ("assays", "descriptors", "models", "acquisitions", "batch_sizes", "metrics")
#: The ``gd sweep`` option for each spec key.
SWEEP_OPTIONS = {"protocol": "--protocol", "assays": "--assay", "descriptors": "--descriptor", "models": "--model",
                 "acquisitions": "--acquisition", "batch_sizes": "--batch-size", "seeds": "--seeds",
                 "cycles": "--cycles", "metrics": "--metric", "test_fraction": "--test-fraction",
                 "hit_fraction": "--hit-fraction", "params": "--param", "split_seed": "--split-seed"}
SPEC_KEYS = tuple(SWEEP_OPTIONS)


def read_spec(path: Path) -> SpecFile:
    """The settings of a TOML spec file, by key; apply them with ``SweepSpec.updated``.

    Only what must hold before options are merged in is checked here (a readable TOML file, known keys,
    ``params`` as tables); ``expand`` checks each value's type and range, naming the key and the file, so that
    an option overriding a bad key (``--split-seed 3`` over ``split_seed = -1``) is not blocked by it.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is not TOML
    except FileNotFoundError:
        raise GdError(f"spec file {path} does not exist; give the path of a TOML file") from None
    except IsADirectoryError:
        raise GdError(f"spec file {path} is a directory; give the path of a TOML file") from None
    except OSError as exc:
        raise GdError(f"cannot read spec file {path}: {exc.strerror or exc}; check the path and its "
                      "permissions") from None
    except UnicodeDecodeError as exc:
        raise GdError(f"spec file {path} is not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
                      "save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        reason = (str(exc).splitlines() or ["nested too deeply"])[0]
        raise GdError(f"spec file {path} is not valid TOML: {reason}; see examples/cluster/paper_grid.toml") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SPEC_KEYS:
            meant = closest(key, list(SPEC_KEYS))
            hint = f"did you mean '{meant}'? " if meant else ""
            raise GdError(f"spec file {path}: unknown key '{key}'; {hint}the known keys are "
                          f"{', '.join(SPEC_KEYS)}")
        if key in _LIST_KEYS and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # one name or batch size needs no list
        elif key == "cycles" and value == "paper":
            value = None
        elif key == "params":
            _check_params_tables(path, value)
        values[key] = value
    return SpecFile(path, values)


def _check_params_tables(path: Path, params: Any) -> None:
    """``params`` must be tables of parameters by kind or name, as options are merged into them."""
    if not isinstance(params, dict):
        raise GdError(f"spec file {path}: 'params' must be tables like [params.acquisition] (a kind) or "
                      f"[params.softuncertain] (a name), got {literal(params)}")
    for target, table in params.items():
        if not isinstance(table, dict):
            raise GdError(f"spec file {path}: 'params.{target}' must be a table like [params.{target}] with one "
                          f"KEY = VALUE per line, got {literal(table)}")


def _check_spec(spec: SweepSpec) -> None:
    """Refuse a setting of the wrong type or out of range, named as the user wrote it (spec key or option).

    A bool is never a number here, a string never a number, and a list must hold only its kind of element.
    """
    def refuse(key: str, allowed: str, value: Any) -> None:
        raise GdError(f"{spec.name_of(key)} must be {allowed}, got {literal(value)}")

    in_file = spec.sources.__contains__
    try:
        protocol = get_protocol(spec.protocol)
    except GdError as exc:  # named as the user wrote it: the spec key or the option
        raise GdError(str(exc).replace("--protocol", spec.name_of("protocol"), 1)) from None
    for key in _LIST_KEYS:
        values = getattr(spec, key)
        if values is None and key in ("batch_sizes", "metrics"):
            continue  # the protocol's
        numbers = key == "batch_sizes"
        element = "a whole number ≥ 1" if numbers else "a name"
        if not isinstance(values, (tuple, list)):
            refuse(key, f"{element} or a list of them", values)
        if not values:
            raise GdError(f"{spec.name_of(key)} is empty; give at least one {key[:-1].replace('_', ' ')}")
        for value in values:
            good = is_whole(value, 1) if numbers else isinstance(value, str) and value.strip() != ""
            if not good and in_file(key):
                refuse(key, f"a non-empty list of {'whole numbers ≥ 1' if numbers else 'names'}", list(values))
            if not good:
                refuse(key, element, value)
    if not is_whole(spec.seeds, 1):
        refuse("seeds", "a whole number ≥ 1 (seeds 0 to N−1 per setting)", spec.seeds)
    if spec.cycles is not None and not is_whole(spec.cycles, 1):
        refuse("cycles", 'a whole number ≥ 1 or "paper" (the paper\'s rule)' if in_file("cycles")
               else "a whole number ≥ 1", spec.cycles)
    if spec.test_fraction is not None and not protocol.has_test_split:
        raise GdError(f"{spec.name_of('test_fraction')} is set, but protocol {protocol.name} has no test split; "
                      "leave it out, or use protocol genedisco")
    if spec.test_fraction is not None and not is_fraction(spec.test_fraction, one_allowed=False):
        refuse("test_fraction", "a number strictly between 0 and 1 (the share of genes held out, e.g. 0.2)",
               spec.test_fraction)
    if spec.hit_fraction is not None and not is_fraction(spec.hit_fraction, one_allowed=True):
        refuse("hit_fraction", "a number above 0 and at most 1 (the share of genes that are hits, e.g. 0.05)",
               spec.hit_fraction)
    if not is_split_seed(spec.split_seed):
        seed = '"seed"' if in_file("split_seed") else f"'{SPLIT_FOLLOWS_SEED}'"
        refuse("split_seed", f"a whole number ≥ 0 or {seed} (a new test split per seed)", spec.split_seed)
    repeated = [m for i, m in enumerate(spec.metrics or ()) if m in spec.metrics[:i]]
    if repeated:
        raise GdError(f"{spec.name_of('metrics')} names metric '{repeated[0]}' twice; list each metric once")
    if not isinstance(spec.params, dict) or not all(isinstance(t, dict) for t in spec.params.values()):
        refuse("params", "tables of parameters by kind or name", spec.params)


@dataclass(frozen=True)
class Skipped:
    """A model × acquisition pair left out of a grid, and why."""

    model: str
    acquisition: str
    reason: str


class CodeBook:
    """The code this host would make each run with: gd's version and each component's code (see
    ``results.component_code``), looked up once per component. A component not registered here is None.
    Also the defaults each component declares now (``declared_defaults``), so a run made before a default changed
    is stale even where the version did not change."""

    def __init__(self, registries: Registries) -> None:
        from gd_core.plugins import gd_version

        self.registries = registries
        self.gd = gd_version()
        self._codes: dict[tuple[str, str], str | None] = {}
        self._declared: dict[tuple[str, str], dict[str, Any]] = {}
        self._resolved: dict[tuple[str, str, str], dict[str, Any]] = {}

    def stale_reason(self, recorded_code: dict[str, Any] | None, recorded_parameters: Any, recorded_defaults: Any,
                     settings: dict[str, Any]) -> str | None:
        """Why a finished run that recorded this code, these parameter values and these declared defaults is stale
        now, or None (see ``code_change`` and ``parameter_change``)."""
        return (code_change(recorded_code, self.expected(settings), settings)
                or parameter_change(recorded_parameters, recorded_defaults, self, settings))

    def declared_defaults(self, kind: str, name: str) -> dict[str, Any]:
        """The defaults component ``name``'s factory declares now (``results.declared_defaults``); empty when no
        loaded plugin registers it."""
        from gd_core.results import declared_defaults

        if (kind, name) not in self._declared:
            try:
                self._declared[kind, name] = declared_defaults(self.registries.of(kind).get(name))
            except GdError:
                self._declared[kind, name] = {}
        return self._declared[kind, name]

    def resolved_defaults(self, kind: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """What a run of component ``name`` built with ``params`` would record now (``results.resolved_parameters``)
        for each parameter it leaves at a default other than None; empty when it cannot be built here. Only for
        runs made before config.json kept the declared defaults.

        A None default is resolved where the run happens (the threads a worker may use), and a value JSON cannot
        hold is recorded as its text, which may name a memory address: neither is compared.
        """
        key = (kind, name, json.dumps(params, sort_keys=True, default=repr))
        if key not in self._resolved:
            self._resolved[key] = self._built_defaults(kind, name, params)
        return self._resolved[key]

    def _built_defaults(self, kind: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        from gd_core.results import resolved_parameters

        try:
            entry = self.registries.of(kind).get(name)
            declared = entry.parameters() or []
            left = {p.name for p in declared
                    if p.default is not p.empty and p.default is not None and p.name not in params}
            if not left:
                return {}
            resolved = resolved_parameters(entry.create(**params), as_text=False)
        except Exception:  # noqa: BLE001 — a component that cannot be built here tells nothing about its defaults
            return {}
        # As config.json holds them (a tuple inside a list is a list there too).
        return json.loads(json.dumps({n: v for n, v in resolved.items() if n in left}))

    def component(self, kind: str, name: str) -> str | None:
        """The code of one component, or None when no loaded plugin registers it."""
        if (kind, name) not in self._codes:
            try:
                entry = (dataset_entry(kind, name, self.registries) if kind in ("assay", "descriptor")
                         else self.registries.of(kind).get(name))
            except GdError:
                entry = None
            self._codes[kind, name] = None if entry is None else component_code(entry)
        return self._codes[kind, name]

    def expected(self, settings: dict[str, Any]) -> dict[str, str | None]:
        """The ``code`` record a run with these settings would get now (keys as ``results.code_record``)."""
        code: dict[str, str | None] = {"gd": self.gd}
        for kind in ("descriptor", "assay", "model", "acquisition"):
            code[kind] = self.component(kind, settings[kind])
        for metric in settings.get("metrics", []):
            code[f"metric:{metric}"] = self.component("metric", metric)
        return code


@dataclass(frozen=True)
class Grid:
    """An expanded sweep: the runs to do, in an order that keeps runs on the same data together.

    ``code`` tells stale runs from done ones; without it (a grid built by hand) a finished run counts as done.
    """

    runs: tuple[RunConfig, ...]
    skipped: tuple[Skipped, ...]
    code: CodeBook | None = field(default=None, compare=False, repr=False)


def run_key(config: RunConfig) -> str:
    """The name of a run's directory: a hash of its resolved settings.

    A run under the default protocol is hashed without it, so sweeps made before protocols existed keep their keys.
    """
    settings = config.as_dict()
    if settings["protocol"] == DEFAULT_PROTOCOL:
        del settings["protocol"]
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_label(settings: dict[str, Any]) -> str:
    """A short human name for a run (from its settings), for progress lines and reports."""
    return (f"{Path(settings['assay']).stem}/{Path(settings['descriptor']).stem}/{settings['model']}/"
            f"{settings['acquisition']} b{settings['batch_size']} s{settings['seed']}")


def expand(spec: SweepSpec, registries: Registries) -> Grid:
    """Every run of the grid; bad settings, unknown names and bad parameters are errors, incompatible pairs are
    skipped. Model, acquisition and metric parameters are checked by building each once, as a run would."""
    _check_spec(spec)
    models = _names("model", spec.models, registries)
    acquisitions = _names("acquisition", spec.acquisitions, registries)
    assays = _unique(spec.assays)
    descriptors = _unique(spec.descriptors)
    protocol = get_protocol(spec.protocol)
    metrics = tuple(spec.metrics if spec.metrics is not None else protocol.metrics)
    for name in metrics:
        metric = registries.metrics.get(name).create()
        if not protocol.has_test_split and getattr(metric, "needs_test_split", False):
            raise GdError(f"{spec.name_of('metrics')}: metric '{name}' is measured on a test split, which protocol "
                          f"{protocol.name} does not have; choose other metrics (e.g. hit_ratio) or protocol genedisco")

    def batch_sizes(assay: str) -> list[int]:
        return _unique(spec.batch_sizes) if spec.batch_sizes is not None else [protocol.default_batch_size(assay)]

    size = len(descriptors) * len(models) * len(acquisitions) * sum(len(batch_sizes(a)) for a in assays) \
        * spec.seeds
    if size > MAX_RUNS:  # before the runs are built: a typo such as seeds = 1000000000 must not fill the memory
        raise GdError(f"the grid would have {size:,} runs, more than {MAX_RUNS:,}; check {spec.name_of('seeds')} "
                      f"({spec.seeds}) and the lengths of the other axes")
    used = {"assay": assays, "descriptor": descriptors, "model": models, "acquisition": acquisitions}
    _check_param_targets(spec.params, used)
    for kind in ("assay", "descriptor"):
        for name in used[kind]:
            _params_for(kind, name, spec.params, registries)  # the name exists and takes its parameters

    pairs: dict[tuple[str, str], str | None] = {}
    for model, acquisition in itertools.product(models, acquisitions):
        pairs[model, acquisition] = _incompatibility(model, acquisition, spec.params, registries)

    runs = []
    for assay, descriptor, model, batch_size, acquisition, seed in (
            (assay, descriptor, model, batch_size, acquisition, seed) for assay in assays for descriptor in descriptors
            for model in models for batch_size in batch_sizes(assay) for acquisition in acquisitions
            for seed in range(spec.seeds)):
        if pairs[model, acquisition] is not None:
            continue
        params = {kind: p for kind, name in (("descriptor", descriptor), ("assay", assay), ("model", model),
                                             ("acquisition", acquisition))
                  if (p := _merged_params(kind, name, spec.params))}
        cycles = spec.cycles
        if cycles is None and protocol.name == DEFAULT_PROTOCOL:
            cycles = paper_cycles(batch_size)
        runs.append(RunConfig.for_protocol(
            protocol.name, assay=assay, descriptor=descriptor, model=model, acquisition=acquisition,
            batch_size=batch_size, cycles=cycles, seed=seed, metrics=metrics, test_fraction=spec.test_fraction,
            hit_fraction=spec.hit_fraction, params=params, split_seed=spec.split_seed,
        ))
    for config in runs[:1]:
        check_settings(config)  # cycles, fractions and metrics are the same for every run
    skipped = tuple(Skipped(m, a, reason) for (m, a), reason in pairs.items() if reason is not None)
    return Grid(tuple(runs), skipped, CodeBook(registries))


def _unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _names(kind: str, names: Sequence[str], registries: Registries) -> list[str]:
    """Names checked against the registry, with ``all`` standing for every registered one."""
    registry = registries.of(kind)
    expanded: list[str] = []
    for name in names:
        expanded += registry.names() if name == "all" else [registry.get(name).name]
    return _unique(expanded)


def _check_param_targets(params: dict[str, dict[str, Any]], used: dict[str, list[str]]) -> None:
    """Each parameter table must address a kind or a component of this sweep."""
    in_sweep = {name for names in used.values() for name in names}
    for target in params:
        if target not in PARAM_KINDS and target not in in_sweep:
            meant = closest(target, [*PARAM_KINDS, *sorted(in_sweep)])
            hint = f" (did you mean '{meant}'?)" if meant else ""
            raise GdError(f"parameters for '{target}': '{target}' is neither a kind ({', '.join(PARAM_KINDS)}) nor a "
                          f"component of this sweep{hint}; write --param KIND.KEY=VALUE or NAME.KEY=VALUE (in a spec "
                          "file, [params.KIND] or [params.NAME])")


def _merged_params(kind: str, name: str, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A component's parameters: those given for its kind, overridden by those given for its name."""
    return {**params.get(kind, {}), **params.get(name, {})}


def _params_for(kind: str, name: str, params: dict[str, dict[str, Any]], registries: Registries) -> dict[str, Any]:
    """A component's merged parameters, checked against its factory's signature."""
    merged = _merged_params(kind, name, params)
    entry = dataset_entry(kind, name, registries) if kind in ("assay", "descriptor") else registries.of(kind).get(name)
    try:
        check_params(entry, merged)
    except GdError as exc:
        if any(key in params.get(kind, {}) for key in merged):
            raise GdError(f"{exc}; to give a parameter to some {kind}s only, write --param NAME.KEY=VALUE "
                          f"(in a spec file, [params.NAME]) with each one's name") from None
        raise
    return merged


def _built(kind: str, name: str, params: dict[str, dict[str, Any]], registries: Registries) -> Any:
    """The component built with its merged parameters, a refused value named as the user set it."""
    merged = _params_for(kind, name, params, registries)
    prefixes = {key: name if key in params.get(name, {}) else kind for key in merged}
    return registries.of(kind).get(name).build(merged, prefixes=prefixes)


def _incompatibility(model: str, acquisition: str, params: dict[str, dict[str, Any]],
                     registries: Registries) -> str | None:
    """Why this model cannot serve this acquisition (missing capabilities), or None when it can."""
    model_object = _built("model", model, params, registries)
    acquisition_object = _built("acquisition", acquisition, params, registries)
    origins = {"model_origin": registries.models.get(model).origin,
               "acquisition_origin": registries.acquisitions.get(acquisition).origin}
    required = declared_requirements(acquisition_object, acquisition, origins["acquisition_origin"])
    try:
        offered = capabilities_of(model_object)
    except Exception:  # noqa: BLE001 — a model whose attributes raise: check_compatible below words it
        offered = None
    missing = [r for r in required if r in CAPABILITIES and r not in offered] if offered is not None else []
    if missing:
        return f"{acquisition} needs {' and '.join(missing)}, which {model} does not offer"
    check_compatible(model, model_object, acquisition, acquisition_object, **origins)  # anything else is an error
    return None


# ---------------------------------------------------------------------------------------------- the store

def run_state(directory: Path) -> str:
    """``done`` (config.json present), ``failed`` (failure.json present) or ``missing``; see ``run_status`` for
    telling stale runs from done ones."""
    if (directory / MANIFEST).is_file():
        return "done"
    if (directory / FAILURE).is_file():
        return "failed"
    return "missing"


STATES = ("done", "stale", "missing", "failed")


def run_status(directory: Path, settings: dict[str, Any], code: CodeBook | None) -> tuple[str, str]:
    """A run's state (one of ``STATES``) and, for a stale one, why in one short phrase.

    A finished run is stale when the code its config.json records differs from what ``code`` would use now,
    or a default it took has changed since (``CodeBook.stale_reason``); a config.json that cannot be read counts
    as stale too, so the run is made again.
    """
    state = run_state(directory)
    if state != "done" or code is None:
        return state, ""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "stale", "its config.json cannot be read"
    if not isinstance(manifest, dict):
        return "stale", OLDER_GD
    reason = code.stale_reason(recorded_code(manifest), manifest.get("parameters"), manifest.get("defaults"),
                               settings)
    return ("stale", reason) if reason else ("done", "")


class SweepStore:
    """A sweep directory: ``sweep.json`` and ``runs/<key>/``; held by one sweep at a time."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / RUNS
        self._lock = FileLock(self.root / LOCK, remove=False)  # kept: it also marks a sweep that just began

    def check(self, grid: Grid | None = None) -> None:
        """Refuse a path that is a file, or a non-empty directory that is not a sweep; with ``grid``, also a sweep
        whose runs follow another protocol (a report compares the runs of one directory, so they must share one)."""
        if grid is not None and grid.runs and (self.root / SWEEP_FILE).is_file():
            wanted = grid.runs[0].protocol
            try:
                listed = read_sweep(self.root)["runs"].values()
                held = {settings.get("protocol", DEFAULT_PROTOCOL) for settings in listed if isinstance(settings, dict)}
            except GdError:
                held = set()  # a damaged sweep.json is the business of the run that reads it
            if held - {wanted}:
                raise GdError(f"--out {self.root} holds runs of protocol {', '.join(sorted(held - {wanted}))}, not "
                              f"{wanted}; one sweep directory holds one protocol, so give another --out")
        try:
            blocking = file_in_the_way(self.root)
            if blocking == self.root:
                raise GdError(f"--out {self.root} is a file; give a directory path")
            if blocking is not None:
                raise GdError(f"--out {self.root} is inside {blocking}, which is a file; choose another place")
            run = enclosing_run(self.root)
            if run is not None:
                raise GdError(f"--out {self.root} is inside the gd run {run}; choose a place outside it")
            ours = (self.root / SWEEP_FILE).exists() or (self.root / LOCK).exists()  # LOCK: a sweep that just began
            if self.root.is_dir() and any(self.root.iterdir()) and not ours:
                raise GdError(f"--out {self.root} is not empty and holds no gd sweep; choose a new or empty directory")
        except OSError as exc:
            raise GdError(f"cannot read --out {self.root}: {exc.strerror}; choose a directory you can read and "
                          "write") from None

    def open(self) -> int:
        """Take the directory's lock and clear what killed runs left behind; returns how many were cleared."""
        self.check()
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except LockBusy as busy:
            raise busy.refusal(self.root, "gd sweep", "wait for it to finish or stop it") from None
        except OSError as exc:
            raise Unwritable(self.root, exc) from None
        try:
            for temporary in self.root.glob(f".{SWEEP_FILE}.*"):  # a sweep.json being replaced when gd was killed
                pid = temporary.name.rsplit(".", 1)[1].split("-")[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    temporary.unlink()
            if (self.root / FAILURES).is_dir():
                remove_stale(self.root / FAILURES)
            return remove_stale(self.runs)
        except OSError as exc:
            self.close()
            raise Unwritable(self.root, exc) from None

    def close(self) -> None:
        """Release the lock."""
        self._lock.release()

    def path(self, config: RunConfig) -> Path:
        """Where a run's directory lives."""
        return self.runs / run_key(config)

    def count_done(self, grid: Grid) -> int:
        """How many of the grid's runs are finished (stale ones included: their results are kept)."""
        return sum(run_state(self.path(config)) == "done" for config in grid.runs)

    def statuses(self, grid: Grid) -> list[tuple[str, str]]:
        """Each run's state and, for a stale one, why (see ``run_status``), in the grid's order."""
        return [run_status(self.path(config), config.as_dict(), grid.code) for config in grid.runs]

    def record(self, grid: Grid) -> None:
        """Add a grid's runs and skipped pairs to ``sweep.json`` (replaced atomically)."""
        known = read_sweep(self.root) if (self.root / SWEEP_FILE).exists() else {"runs": {}, "skipped": []}
        for config in grid.runs:
            known["runs"][run_key(config)] = config.as_dict()
        skipped = {(s["model"], s["acquisition"]): s for s in known["skipped"]}
        skipped.update({(s.model, s.acquisition): {"model": s.model, "acquisition": s.acquisition,
                                                   "reason": s.reason} for s in grid.skipped})
        document = {"format": "gd-sweep/1", "runs": known["runs"], "skipped": list(skipped.values())}
        try:
            write_atomic(self.root / SWEEP_FILE, json.dumps(document, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise Unwritable(self.root, exc, then="run the same command again (finished runs are kept)") \
                from None


def read_sweep(root: Path) -> dict[str, Any]:
    """The content of a sweep directory's ``sweep.json``."""
    path = Path(root) / SWEEP_FILE
    if not Path(root).is_dir():
        raise GdError(f"{root} does not exist; give a directory made by `gd sweep --out`")
    redo = ("delete it and run your `gd sweep` commands again (finished runs are kept and not redone)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GdError(f"{root} holds no {SWEEP_FILE}; give a directory made by `gd sweep --out`") from None
    except ValueError as exc:
        raise GdError(f"{path} is damaged ({exc}); {redo}") from None
    except OSError as exc:
        raise GdError(f"cannot read {path}: {exc.strerror}; make it readable") from None
    if not isinstance(document, dict) or document.get("format") != "gd-sweep/1":
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise GdError(f"{path} has format {found!r}, not gd-sweep/1; use a matching gd version")
    runs, skipped = document.get("runs"), document.get("skipped")
    if not isinstance(runs, dict) or not isinstance(skipped, list):
        raise GdError(f"{path} is damaged ('runs' must be a table and 'skipped' a list); {redo}")
    if not all(isinstance(settings, dict) for settings in runs.values()) or not all(
            isinstance(s, dict) and {"model", "acquisition", "reason"} <= s.keys() for s in skipped):
        raise GdError(f"{path} is damaged (each run must be a table of settings, each skipped pair a table with "
                      f"model, acquisition and reason); {redo}")
    return document


# --------------------------------------------------------------------------------------------- the workers

@dataclass(frozen=True)
class RunTask:
    """One run for a worker: its settings, where to write it, and how the worker should be set up."""

    config: RunConfig
    out: str
    threads: int | None = None  # None: leave the worker's thread pools alone
    plugin_files: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    force: bool = False  # replace a finished run, stale or --force (otherwise one that appeared meanwhile is kept)


@dataclass(frozen=True)
class Outcome:
    """What became of one run."""

    key: str
    label: str
    ok: bool
    seconds: float
    error: str = ""
    worker: str = ""
    data_loads: int = 0  # datasets this worker has loaded so far
    record: str = ""  # a failure's failure.json, relative to the sweep directory ("" when none was written)
    kept: bool = False  # a failed redo: the finished run from before is still in runs/<key>
    unwritable: str = ""  # why the run or its record could not be written ("disk full or not writable (…)")


# One per worker process: the plugin host, the recently used datasets and the thread limit already applied.
_WORKER: dict[str, Any] = {}


def _worker_state(threads: int | None, plugin_files: tuple[str, ...]) -> tuple[Any, DatasetCache]:
    from gd_core.helpers.parallel import THREADS_VARIABLE

    given = os.environ.get(THREADS_VARIABLE, "")
    if threads is None and given.isdigit() and int(given) > 0:
        threads = int(given)  # a cluster's job script set the limit for its workers
    if threads is not None and _WORKER.get("threads") != threads:
        from gd_core.helpers.parallel import limit_threads

        limit_threads(threads)
        _WORKER["threads"] = threads
    # Keyed by the files' content too: a worker that lives on (one in this process, a Dask worker) must load an
    # edited plugin file again, or it would redo a stale run with the old code.
    files = tuple((path, _digest_or_none(path)) for path in plugin_files)
    if _WORKER.get("plugin_files") != files:
        from gd_core.plugins import PluginHost, load_plugin_file

        host = PluginHost()
        for path in plugin_files:
            load_plugin_file(host, Path(path))
        from gd_core.loader import use_host

        use_host(host)  # a new host (changed plugin files) also empties gd_core.load's cache
        _WORKER.update(host=host, plugin_files=files, cache=DatasetCache())
    return _WORKER["host"], _WORKER["cache"]


def _digest_or_none(path: str) -> str | None:
    try:
        from gd_core.plugins import file_version

        return file_version(Path(path))
    except OSError:
        return None  # load_plugin_file says what is wrong with it


def run_task(task: RunTask) -> Outcome:
    """Run one configuration into its directory; a run that raises is published as failed, not re-raised."""
    # A worker with several threads (a Dask worker started with --nthreads > 1) still runs one at a time:
    # a run's log handler and the dataset cache belong to the process.
    with _ONE_RUN_AT_A_TIME:
        return _run_alone(task)


_ONE_RUN_AT_A_TIME = threading.Lock()


def _run_alone(task: RunTask) -> Outcome:
    from gd_core.loop import execute, prepare
    from gd_core.results import RunDirectory, build_manifest

    started_clock = time.perf_counter()
    started = datetime.now(timezone.utc)
    out = Path(task.out)
    key, label = out.name, run_label(task.config.as_dict())
    root = out.parent.parent
    aside = root / FAILURES / key
    worker = f"{os.uname().nodename}:{os.getpid()}"
    if not task.force and run_state(out) == "done":
        # Finished since the sweep looked (by a stray worker of an earlier, killed sweep): keep it, run nothing.
        return Outcome(key, label, True, 0.0, "", worker)
    run_dir = RunDirectory(out, force=task.force, lock=False)  # the sweep's lock covers its runs
    cache = None
    try:
        host, cache = _worker_state(task.threads, task.plugin_files)
        with run_dir:
            plan = prepare(task.config, host.registries, cache=cache)
            if _WORKER.get("threads") and "torch" in sys.modules and not _WORKER.get("torch_limited"):
                from gd_core.helpers.parallel import limit_threads

                limit_threads(_WORKER["threads"])  # this run's model may have imported torch just now
                _WORKER["torch_limited"] = True
            run_dir.log_plan(plan)
            result = execute(plan)
            run_dir.commit(result, build_manifest(result, started=started, command=list(task.command)))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 — any run's failure (sys.exit too) is recorded; go on
        error = str(exc) if isinstance(exc, Unwritable) else failure_text(exc)
        unwritable = exc.why if isinstance(exc, Unwritable) else ""
        record = None
        try:
            record = run_dir.record_failure(task.config.as_dict(), error, traceback.format_exc(), aside=aside)
        except Unwritable as not_recorded:
            unwritable = unwritable or not_recorded.why
        except GdError:
            pass  # runs/<key> holds something else now; its staging (with the log) stays for the next sweep to clear
        return Outcome(key, label, False, time.perf_counter() - started_clock, error, worker,
                       cache.loads if cache else 0,
                       record=str((record / FAILURE).relative_to(root)) if record is not None else "",
                       kept=record == aside, unwritable=unwritable)
    shutil.rmtree(aside, ignore_errors=True)  # the record of an earlier failed redo is out of date now
    return Outcome(key, label, True, time.perf_counter() - started_clock, "", worker, cache.loads)


# ------------------------------------------------------------------------------------------- the executors

class SerialExecutor:
    """Runs in this process, one after another (``--jobs 1``)."""

    name = "local"

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes in task order."""
        for task in tasks:
            yield run_task(task)

    def threads(self) -> int | None:
        """The thread limit per run (None: no limit)."""
        return None


class LocalExecutor:
    """A pool of ``jobs`` worker processes on this machine, each held to its share of the cores."""

    name = "local"

    def __init__(self, jobs: int) -> None:
        from gd_core.helpers.parallel import usable_cores

        self.jobs = jobs
        self._threads = max(1, usable_cores() // jobs)

    def threads(self) -> int | None:
        """The thread limit per run."""
        return self._threads

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes as runs finish; a worker that dies costs only its run, and no worker outlives this process."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        from gd_core.helpers.parallel import end_with_driver

        # spawn, not fork: forking a process that has started torch or BLAS threads can deadlock the child.
        context = multiprocessing.get_context("spawn")
        # The pool starts its workers from the thread that submits, this one. Linux's parent-death signal
        # fires when that *thread* ends, so it is asked for only from the main thread, which lives as long as we do.
        guard = (os.getpid(), threading.current_thread() is threading.main_thread())
        deaths: dict[str, list[str]] = {}  # run key → how its worker died, each time one died running it
        pending = list(tasks)
        while pending:
            try:
                pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context, initializer=end_with_driver,
                                           initargs=guard)
            except OSError as exc:
                raise _cannot_start(self.jobs, exc) from None
            workers = getattr(pool, "_processes", None)  # pid → Process, filled as the pool starts them
            futures: dict[Any, RunTask] = {}
            broken: list[RunTask] = []
            progressed = False
            try:
                try:
                    for task in pending:
                        futures[pool.submit(run_task, task)] = task
                except BrokenProcessPool:  # a worker died while the runs were handed out: the rest go to a new pool
                    broken = pending[len(futures):]
                except OSError as exc:  # the system refused a process or a pipe
                    raise _cannot_start(self.jobs, exc) from None
                for future in as_completed(futures):
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken.append(futures[future])
                        continue
                    progressed = True
                    yield outcome
            except BaseException:
                # Interrupted: the runs in progress are abandoned, so their workers end now rather than run on
                # while the interpreter waits for them at exit. Their staging is cleared by the next sweep.
                _kill(workers)
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            exits = {pid: process.exitcode for pid, process in (workers or {}).items()}
            pending = []
            # A worker died (killed, out of memory): the pool then stops the others with SIGTERM. The runs whose
            # worker died otherwise are blamed (all started ones if every worker got SIGTERM), and a run blamed
            # twice is given up; every other run simply goes to a fresh pool.
            started = {id(task): exits[pid] for task in broken if (pid := _started_by(task, exits)) is not None}
            blamed = {i for i, code in started.items() if code != -signal.SIGTERM} or set(started)
            for task in broken:
                if id(task) in blamed:
                    progressed = True
                    key = Path(task.out).name
                    deaths.setdefault(key, []).append(_death(started[id(task)]))
                    if len(deaths[key]) >= 2:
                        yield _lost(task, _worker_deaths(deaths[key]))
                        continue
                pending.append(task)
            if pending and not progressed:  # the pool cannot even start a run: do not loop forever
                how = sorted({_death(code) for code in exits.values() if code}) or ["died"]
                for task in pending:
                    yield _lost(task, f"the worker processes could not start (they {', '.join(how)}); "
                                      "see the messages above, then run the same command again")
                return


def _cannot_start(jobs: int, exc: OSError) -> GdError:
    return GdError(f"--jobs {jobs}: the system refused a worker process ({exc.strerror or exc}); use fewer --jobs, "
                   "or --jobs 1 to run in this process")


def _started_by(task: RunTask, exits: dict[int, int | None]) -> int | None:
    """The pid of the pool worker that had started this run (its staging directory bears that pid), if any."""
    out = Path(task.out)
    for staging in out.parent.glob(f".{out.name}.partial-*"):
        pid = staging.name.rpartition(".partial-")[2].split("-")[0]
        if pid.isdigit() and int(pid) in exits:
            return int(pid)
    return None


def _death(exitcode: int | None) -> str:
    """How a worker process ended, in words: ``was killed by SIGKILL``."""
    if exitcode is None:
        return "died"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def _worker_deaths(deaths: list[str]) -> str:
    """Why a run was given up after its worker died twice, and the way out."""
    how = f"{deaths[0]} twice" if len(set(deaths)) == 1 else ", then ".join(deaths)
    hint = ("out of memory? run the same command again with fewer --jobs" if any("SIGKILL" in d for d in deaths)
            else "run the same command again to retry it")
    return f"its worker process {how} while running it; {hint}"


def _kill(workers: dict[int, Any] | None) -> None:
    """Kill a pool's worker processes (those already gone are skipped)."""
    for process in list((workers or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass


def _lost(task: RunTask, why: str) -> Outcome:
    return Outcome(Path(task.out).name, run_label(task.config.as_dict()), False, 0.0, why)


class DaskExecutor:
    """Runs on a ``dask.distributed`` cluster: an existing scheduler, or a LocalCluster started here.

    ``notify`` receives a line for the user when the sweep waits (a cluster with no workers); stderr by default.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, jobs: int = 1, client: Any = None,
                 notify: Callable[[str], None] | None = None) -> None:
        if scheduler is not None:
            _scheduler_address(scheduler)  # a wrong --scheduler is refused before anything is written
        self.scheduler = scheduler
        self.jobs = jobs
        self._client = client
        self._connected: Any = None  # the client connect() made, used (and closed) by map()
        self._notify = notify or _to_stderr

    def connect(self) -> None:
        """Reach ``--scheduler`` now, so an unreachable one is refused before the sweep prints or writes anything."""
        if self.scheduler is None or self._client is not None or self._connected is not None:
            return
        try:
            from distributed import Client
        except ImportError:
            raise GdError("the dask executor needs dask.distributed; pip install 'dask[distributed]'") from None
        self._connected = _connect(Client, self.scheduler)

    def threads(self) -> int | None:
        """The thread limit per run: a LocalCluster shares this machine; a real cluster sets its own."""
        if self.scheduler is None and self._client is None:
            from gd_core.helpers.parallel import usable_cores

            return max(1, usable_cores() // self.jobs)
        return None

    def map(self, tasks: Sequence[RunTask]) -> Iterator[Outcome]:
        """Outcomes as runs finish on the cluster's workers; Dask gives the run of a lost worker to another."""
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise GdError("the dask executor needs dask.distributed; pip install 'dask[distributed]'") from None
        cluster = None
        client = self._client
        if client is None:
            if self.scheduler is None:
                cluster, client = _local_cluster(Client, self.jobs)
            else:
                client = self._connected or _connect(Client, self.scheduler)
                self._connected = None
        # Workers of an existing cluster come and go (batch jobs may wait in a queue for hours): the sweep
        # waits for them rather than time out, and says so.
        watch = _WorkerWatch(client, self.scheduler, self._notify) if self.scheduler and not self._client else None
        # What the client meets (a lost scheduler, a lost run) is said below in one line each; the client's own
        # log would print a traceback for it.
        client_log = logging.getLogger("distributed.client")
        level = client_log.level
        client_log.setLevel(logging.CRITICAL)
        finished = 0
        try:
            if watch:
                watch.start()
            futures = {client.submit(run_task, task, key=f"gd-run-{Path(task.out).name}-{time.time_ns()}",
                                     pure=False): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 — run_task catches a run's errors: this is Dask's loss
                    if client.status != "running":  # the scheduler is gone, and every run with it
                        where = f"of --scheduler {self.scheduler}" if self.scheduler else "of the local cluster"
                        raise GdError(f"lost contact with the Dask scheduler {where} after {finished} of the "
                                      f"{len(futures)} runs had finished (they are kept); start the scheduler "
                                      "again, then run the same command to resume") from None
                    outcome = _lost(task, _dask_loss(exc))
                finished += outcome.ok
                yield outcome
        finally:
            if watch:
                watch.stop()
            if self._client is None:
                client.close()
            if cluster is not None:
                cluster.close()
            client_log.setLevel(level)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _local_cluster(client_class: Any, jobs: int) -> tuple[Any, Any]:
    """A LocalCluster of ``jobs`` single-threaded worker processes that end with this process, and its client."""
    from distributed import LocalCluster

    from gd_core.helpers.parallel import DRIVER_VARIABLE

    try:
        # No dashboard (it would need bokeh and a port), and no log: what happens to a run is said in its own line,
        # and Dask would add its own view of it (a worker lost, each worker stopped with a stopped sweep). Each
        # worker process loads gd_core.helpers.parallel as a Dask preload, whose dask_setup ends it with this process.
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL, preload=["gd_core.helpers.parallel"],
                               env={DRIVER_VARIABLE: str(os.getpid())})
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise GdError(f"--executor dask could not start a local Dask cluster ({type(exc).__name__}: {exc}); "
                      "use --executor local, or pass --scheduler with a running cluster") from None
    return cluster, client_class(cluster)


def _dask_loss(exc: Exception) -> str:
    """Why Dask returned a run without an outcome, and the way out, in one line."""
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return ("the Dask workers running it died, one after another (killed, or out of memory?); see the "
                "workers' logs, then run the same command again to retry it")
    if isinstance(exc, ImportError):
        return (f"a Dask worker could not load it ({type(exc).__name__}: {exc}); install gd, and any plugin the "
                "sweep uses, in the workers' environment")
    if isinstance(exc, CancelledError):
        return "the Dask scheduler dropped it (restarted, or lost contact); run the same command again to retry it"
    return f"Dask could not run it ({type(exc).__name__}: {exc}); run the same command again to retry it"


class _WorkerWatch:
    """Tells the user when the cluster has no workers, so that a sweep never waits in silence."""

    def __init__(self, client: Any, scheduler: str, notify: Callable[[str], None]) -> None:
        self._client = client
        self._scheduler = scheduler
        self._notify = notify
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gd-worker-watch", daemon=True)

    def start(self) -> None:
        """Watch in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stopped.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        told = False
        while not self._stopped.is_set():
            try:
                workers: int | None = len(self._client.nthreads())
            except Exception:  # noqa: BLE001 — contact lost for a moment: the client reconnects or fails the runs
                workers = None
            if workers == 0 and not told:
                start = (f"dask worker --scheduler-file {self._scheduler}" if _is_scheduler_file(self._scheduler)
                         else f"dask worker {self._scheduler}")
                self._notify(f"waiting: the Dask scheduler of --scheduler {self._scheduler} has no workers; runs "
                             f"start as workers connect (start some with `{start}`, or wait for the batch jobs "
                             "that do), or press Ctrl-C to stop")
            told = workers == 0 or (told and workers is None)
            self._stopped.wait(WORKER_CHECK_SECONDS)


def _is_scheduler_file(scheduler: str) -> bool:
    """Whether ``--scheduler`` names a scheduler file (a path) rather than an address (tcp://host:8786)."""
    if "://" in scheduler:
        return False
    return scheduler.endswith(".json") or "/" in scheduler or os.sep in scheduler or Path(scheduler).exists()


def _scheduler_address(scheduler: str) -> str:
    """The address ``--scheduler`` stands for: itself, or the one in the scheduler file it names."""
    if not _is_scheduler_file(scheduler):
        _check_address(scheduler, f"--scheduler {scheduler}")
        return scheduler
    way_out = (f"start the scheduler first with `dask scheduler --scheduler-file {scheduler}`, or pass its address "
               "as tcp://HOST:PORT")
    try:
        text = Path(scheduler).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GdError(f"--scheduler {scheduler} does not exist; {way_out}") from None
    except IsADirectoryError:
        raise GdError(f"--scheduler {scheduler} is a directory; give the file that `dask scheduler "
                      "--scheduler-file FILE` writes, or the scheduler's address as tcp://HOST:PORT") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GdError(f"--scheduler {scheduler}: cannot read the scheduler file "
                      f"({getattr(exc, 'strerror', None) or exc}); {way_out}") from None
    try:
        address = json.loads(text).get("address")
    except (ValueError, AttributeError):
        address = None
    if not isinstance(address, str) or not address:
        raise GdError(f"--scheduler {scheduler} is not a Dask scheduler file (JSON with an \"address\"); give the "
                      "file that `dask scheduler --scheduler-file FILE` writes, or tcp://HOST:PORT")
    _check_address(address, f"--scheduler {scheduler}: the address in it, {address!r},")
    return address


def _check_address(address: str, culprit: str) -> None:
    """Refuse a Dask address that no scheduler can have (unknown protocol, no port, a malformed host:port)."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            host, port = parse_host_port(location)
            if not host or not 0 < port < 65536:
                raise ValueError(f"no host, or port {port} outside 1-65535")
    except (ValueError, TypeError) as exc:
        raise GdError(f"{culprit} is not a Dask scheduler address ({exc}); give tcp://HOST:PORT or the path of a "
                      "scheduler file (.json)") from None


def _connect(client_class: Any, scheduler: str) -> Any:
    """A client for the scheduler ``--scheduler`` names by address (tcp://host:8786) or scheduler file (JSON)."""
    from dask.utils import parse_timedelta

    address = _scheduler_address(scheduler)
    origin = "" if address == scheduler else f" (read from --scheduler {scheduler}: is it left from a stopped one?)"
    attempt: dict[str, Any] = {}

    def connect() -> None:
        try:
            attempt["client"] = client_class(address, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 — handed to the caller below
            attempt["error"] = exc

    # Dask's own timeout does not cover a port where another kind of server answers (its handshake then waits
    # forever), so the attempt runs in a thread that is given up a little after that timeout.
    thread = threading.Thread(target=connect, name="gd-connect", daemon=True)
    thread.start()
    thread.join(parse_timedelta(CONNECT_TIMEOUT) * 1.5 + 1)
    if thread.is_alive():
        raise GdError(f"the server at {address}{origin} does not answer as a Dask scheduler; check --scheduler "
                      "(the port of another service?), or drop --scheduler to use a local cluster")
    error = attempt.get("error")
    if isinstance(error, (OSError, TimeoutError)):
        raise GdError(f"cannot reach the Dask scheduler at {address}{origin} ({error}); start it, check --scheduler, "
                      "or drop --scheduler to use a local cluster") from None
    if error is not None:
        raise error
    return attempt["client"]


# ------------------------------------------------------------------------------------------------ a sweep

@dataclass
class SweepSummary:
    """What one `gd sweep` did."""

    total: int
    already_done: int
    outcomes: list[Outcome]
    skipped: tuple[Skipped, ...]
    cleared: int
    seconds: float
    stale: int = 0  # finished runs found stale (made by other code than this host's)
    kept_stale: bool = False  # --keep-stale: they were kept, not redone
    redone_stale: set[str] = field(default_factory=set)  # keys of the stale runs given to the executor
    still_stale: list[tuple[str, str]] = field(default_factory=list)  # (label, why) of runs made stale just now

    @property
    def failed(self) -> list[Outcome]:
        """The runs that failed this time."""
        return [o for o in self.outcomes if not o.ok]

    @property
    def redone(self) -> int:
        """How many stale runs were made again and finished."""
        return sum(o.ok and o.key in self.redone_stale for o in self.outcomes)


def run_sweep(grid: Grid, out: Path, executor: Any, *, force: bool = False, keep_stale: bool = False,
              plugin_files: Sequence[Path] = (), command: Sequence[str] = (),
              on_start: Callable[[int, int, int], None] | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> SweepSummary:
    """Run the grid's missing and failed runs, and its stale ones unless ``keep_stale`` (every run with ``force``),
    into ``out`` and report what happened. ``on_start`` gets the number of runs, of runs to do, and of stale runs."""
    started = time.perf_counter()
    store = SweepStore(out)
    cleared = store.open()
    try:
        store.record(grid)
        statuses = store.statuses(grid)
        stale = sum(state == "stale" for state, _ in statuses)
        redo = {"missing", "failed"} if keep_stale else {"missing", "failed", "stale"}
        todo = [(c, state) for c, (state, _) in zip(grid.runs, statuses) if force or state in redo]
        if on_start:
            on_start(len(grid.runs), len(todo), stale)
        threads = executor.threads()
        files = tuple(str(Path(p).resolve()) for p in plugin_files)
        # A stale run is replaced like a --force one: the old directory stays until the new one is complete.
        tasks = [RunTask(c, str(store.path(c).resolve()), threads, files, tuple(command), force or state == "stale")
                 for c, state in todo]
        outcomes = []
        for outcome in executor.map(tasks):
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        made = {o.key for o in outcomes if o.ok}
        # Runs made now that are still stale were made by other code than this host's (workers elsewhere).
        still = []
        for config, _ in todo:
            if run_key(config) in made:
                state, why = run_status(store.path(config), config.as_dict(), grid.code)
                if state == "stale":
                    still.append((run_label(config.as_dict()), why))
    finally:
        store.close()
    return SweepSummary(len(grid.runs), len(grid.runs) - len(todo), outcomes, grid.skipped, cleared,
                        time.perf_counter() - started, stale=stale, kept_stale=keep_stale and not force,
                        redone_stale={run_key(c) for c, state in todo if state == "stale"}, still_stale=still)


def code_change(recorded: dict[str, Any] | None, expected: dict[str, str | None],
                settings: dict[str, Any]) -> str | None:
    """Why a run made with ``recorded`` code is stale against ``expected`` (its changes, joined by "; "), or None.

    A component that ``expected`` holds as None (not registered now) is not compared: nothing says what it
    would be. ``settings`` names the components in the phrase.
    """
    if not isinstance(recorded, dict):
        return OLDER_GD
    from gd_core.plugins import DISTRIBUTION

    changed = [key for key, now in expected.items() if now is not None and recorded.get(key) != now]
    if "gd" in changed:  # gd's own built-ins follow its version: "gd 0.1.0 → 0.2.0" says it for them
        own = f"{DISTRIBUTION}=="
        changed = [key for key in changed if key == "gd" or not (
            str(recorded.get(key)).startswith(own) and str(expected[key]).startswith(own))]
    changes = [_change(key, recorded.get(key), expected[key], settings) for key in changed]
    if not changes:
        return None
    return "; ".join(changes)  # every change: the reader decides which one matters


def parameter_change(recorded: Any, recorded_defaults: Any, code: CodeBook, settings: dict[str, Any]) -> str | None:
    """Which defaults of the run's model and acquisition have changed since it was made (``model bnn:
    hidden_sizes [128, 512] → [128, 256]``, joined by "; "), or None. Parameters the run set itself do not count.

    The defaults its config.json recorded as declared are compared with those declared now; a run made before
    gd recorded them has the parameter values it ran with compared with those a run would hold now
    (``CodeBook.resolved_defaults``); a run with neither, or a component not registered here, has nothing to
    compare.
    """
    given = settings.get("params")
    changes = []
    for kind in ("model", "acquisition"):
        params = given.get(kind, {}) if isinstance(given, dict) else {}
        if not isinstance(params, dict):
            continue
        then = recorded_defaults.get(kind) if isinstance(recorded_defaults, dict) else None
        if isinstance(then, dict):
            now = code.declared_defaults(kind, settings[kind])
        else:
            then = recorded.get(kind) if isinstance(recorded, dict) else None
            if not isinstance(then, dict):
                continue
            now = code.resolved_defaults(kind, settings[kind], params)
        for name, value in now.items():
            if name not in params and name in then and then[name] != value:
                changes.append(f"{kind} {settings[kind]}: {name} {_shown(then[name])} → {_shown(value)}")
    return "; ".join(changes) or None


def _shown(value: Any) -> str:
    """A parameter value as a user would type it: JSON, so lists read [128, 256] and text "likelihood"."""
    return json.dumps(value, ensure_ascii=False)


def _change(key: str, before: Any, now: str, settings: dict[str, Any]) -> str:
    """One change in words: ``gd 0.1.0 → 0.1.1``, ``acquisition thompson: gdisco-thompson 0.1.0 → 0.1.1``."""
    if key == "gd":
        return f"gd {before} → {now}"
    kind, _, name = key.partition(":")
    what = f"{kind} {name or settings.get(kind, '?')}"
    if not isinstance(before, str):
        return f"{what}: not recorded → {_code_text(now)}"
    if before.startswith("sha256:") and now.startswith("sha256:"):
        return f"{what}: plugin file changed ({before[:15]}… → {now[7:15]}…)"  # 8 hex digits tell them apart
    old_dist, same, old_version = before.partition("==")
    new_dist, _, new_version = now.partition("==")
    if same and old_dist == new_dist:
        return f"{what}: {new_dist} {old_version} → {new_version}"
    return f"{what}: {_code_text(before)} → {_code_text(now)}"


def _code_text(code: str) -> str:
    if code.startswith("sha256:"):
        return f"plugin file {code}"
    return code.replace("==", " ", 1)


def unwritten_error(summary: SweepSummary, grid: Any, out: Path, ran: int, *, option: str, again: str) -> GdError | None:
    """The one line for a sweep some of whose runs could not be written (a full disk, a read-only place), or None.

    ``option`` names the output as the caller took it (``--out`` or ``out``), ``again`` how to resume
    ("run the same command again").
    """
    unwritten = [o for o in summary.failed if o.unwritable]
    if not unwritten:
        return None
    done = SweepStore(out).count_done(grid)
    space = "free some space or " if unwritten[0].unwritable.startswith("disk full") else ""
    return GdError(f"cannot write to {out}: {unwritten[0].unwritable}; {len(unwritten)} of {ran} runs could not be "
                   f"written ({done} of {summary.total} runs are finished and kept); {space}choose another {option}, "
                   f"then {again}")
