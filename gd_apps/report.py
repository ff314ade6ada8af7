"""Reading a sweep directory back: per-run states, learning curves, the per-setting summary with ranks, paired
differences between acquisitions with their uncertainty, and the analytic hit-ratio baselines."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_core.loop import SPLIT_FOLLOWS_SEED, is_split_seed
from gd_core.registry import closest
from gd_core.results import FAILURE, MANIFEST, recorded_code
from gd_apps.sweep import RUNS, SWEEP_FILE, run_label

if TYPE_CHECKING:
    from gd_core.registry import Registries
    from gd_apps.sweep import CodeBook

SETTING = ["assay", "descriptor", "model", "batch_size"]  # one block of the report; acquisitions compete in it
RUN_COLUMNS = [*SETTING, "acquisition", "seed", "cycles"]
RUN_DATA = ["n_pool", "n_hits", "test_variance"]  # from each finished run's config.json; NaN where it lacks them
RELATIVE = {"mse": "relative_mse"}  # metric → its name when divided by the variance of the test outcomes
REFERENCE = "random"
EXPECTED_RANDOM = "expected (random)"
CEILING_ORACLE = "ceiling (oracle)"
CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000
DIGITS = 4  # significant digits of the means printed, and so of the ranking: equal printed means tie
DIFFERENCE_COLUMNS = [*SETTING, "statistic", "acquisition", "reference", "versus", "tie", "pairs", "mean_diff",
                      "ci_low", "ci_high", "p", "verdict", "seeds_needed", "note"]


@dataclass(frozen=True)
class Damage:
    """A file or directory of a sweep that the report could not use, and what is wrong with it."""

    path: Path
    reason: str
    key: str | None = None  # the run it concerns; None when it concerns the whole of sweep.json

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    @property
    def of_run(self) -> bool:
        """Whether a run's own file or directory is damaged (not sweep.json): that run is left out."""
        return self.path.name != SWEEP_FILE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: path, key (null for sweep.json) and reason."""
        return {"path": str(self.path), "key": self.key, "reason": self.reason}


@dataclass(frozen=True)
class SweepResults:
    """What a sweep directory holds: one row per expected run, and the metric curves of finished ones."""

    root: Path
    runs: pd.DataFrame  # key, label, the run columns, state, error, n_pool, n_hits, test_variance
    curves: pd.DataFrame  # key, the run columns, cycle, n_acquired, metric, value
    skipped: list[dict[str, str]]
    damaged: tuple[Damage, ...] = ()  # what was left out, and why
    planned_metrics: tuple[str, ...] = ()  # the metrics the runs' settings name, finished or not
    #: Per finished run (by key), each metric's record in its config.json: better, plugin, distribution, …
    metric_records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Finished runs made by other code than the host's now: (key, label, why); see ``load_results``.
    stale: tuple[tuple[str, str, str], ...] = ()

    @property
    def metrics(self) -> list[str]:
        """The metrics recorded, in the order they first appear."""
        return list(dict.fromkeys(self.curves["metric"]))


class _Damaged(Exception):
    """Raised while reading one file of a sweep: the file cannot be used (see ``Damage``)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path, self.reason = path, reason


METRICS_HEADER = ["cycle", "n_acquired", "metric", "value"]
REDO = "delete a damaged run's directory and run the same `gd sweep` command again to redo it"
REWRITE_PLAN = "delete it and run your `gd sweep` command(s) again to rewrite it (finished runs are kept, not redone)"


def load_results(root: Path, code: CodeBook | None = None) -> SweepResults:
    """Read ``sweep.json`` and every run directory under ``root``; what cannot be read is set aside as damaged.

    With ``code`` (what this host would make each run with), finished runs made by other code are listed in
    ``stale``; they are reported all the same.

    A run whose files cannot be read or are not what gd writes (config.json not an object with ``settings``,
    metrics.csv not the complete table of the run's cycles and metrics, a failure.json without its error) is
    left out of the curves and listed in ``damaged`` with the reason. A ``sweep.json`` entry that is not a run's
    settings is listed too, and the run's own config.json or failure.json gives its settings instead. When
    ``sweep.json`` itself cannot be used, the runs are the directories under ``runs/`` (with the settings their
    files record): finished and failed runs are reported, runs never started are not known. Raises ``GdError``
    when ``root`` is no sweep, or when damage leaves no finished run to report.
    """
    root = Path(root)
    plan, skipped, damaged = _read_plan(root)
    rows, curve_rows, planned, records, stale = [], [], {}, {}, []
    readable = {key: settings for key, settings in plan.items() if settings is not None}
    for key in sorted(plan):
        run = _read_run(root / RUNS / key, key, plan[key])
        if run.damage is not None:
            damaged.append(run.damage)
        if run.settings is not None:
            readable[key] = run.settings
        rows.append((key, run))
    protocols = sorted({settings.get("protocol", "genedisco") for settings in readable.values()})
    if len(protocols) > 1:  # their hits, splits and baselines differ: no run of one is a seed of the other
        raise GdError(f"{root} holds runs of {len(protocols)} protocols ({', '.join(protocols)}), which count hits "
                      "differently and cannot be compared or pooled; sweep each protocol into its own --out")
    variants = _variants(readable)
    table = []
    for key, run in rows:
        settings = readable.get(key)
        if settings is None:  # neither sweep.json nor the run's files say what it was: it cannot be reported
            table.append({"key": key, "label": f"run {key}", **dict.fromkeys(RUN_COLUMNS), "state": run.state,
                          "error": run.error, **dict.fromkeys(RUN_DATA, math.nan)})
            continue
        planned.update(dict.fromkeys(settings.get("metrics", [])))
        if run.state == "done":
            records[key] = run.metric_records
            why = code.stale_reason(run.code, run.parameters, run.defaults, settings) if code is not None else None
            if why:
                stale.append((key, run_label(settings), why))
        if variants[key]:  # the same acquisition run with other settings is another line, not more seeds
            settings = {**settings, "acquisition": f"{settings['acquisition']} [{variants[key]}]"}
        values = [settings[c] for c in RUN_COLUMNS]
        table.append({"key": key, "label": run_label(settings), **dict(zip(RUN_COLUMNS, values)),
                      "state": run.state, "error": run.error, **run.data})
        curve_rows += [(key, *values, *row) for row in run.rows]
    runs = pd.DataFrame(table, columns=["key", "label", *RUN_COLUMNS, "state", "error", *RUN_DATA])
    columns = ["key", *RUN_COLUMNS, *METRICS_HEADER]
    curves = pd.DataFrame(curve_rows, columns=columns)
    if damaged and not (runs["state"] == "done").any():
        raise GdError(_nothing_readable(root, damaged))
    return SweepResults(root, runs, curves, skipped, tuple(damaged), tuple(planned), records, tuple(stale))


def _nothing_readable(root: Path, damaged: list[Damage]) -> str:
    """The one line of a sweep whose damage leaves no finished run to report."""
    first = next((damage for damage in damaged if damage.of_run), damaged[0])
    more = f" (and {len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
    way_out = REDO if first.of_run else REWRITE_PLAN
    return f"no finished run of {root} can be read: {first}{more}; {way_out}"


def _read_plan(root: Path) -> tuple[dict[str, dict[str, Any] | None], list[dict[str, str]], list[Damage]]:
    """The runs ``sweep.json`` lists (settings, or None for a damaged entry), its skipped pairs, and its damage.

    When sweep.json cannot be used, the plan is the run directories under ``runs/``, each with None.
    """
    try:
        if not root.is_dir():
            what = "is a file, not a directory" if root.exists() else "does not exist"
            raise GdError(f"{root} {what}; give a directory made by `gd sweep --out`")
        runs = root / RUNS
        if (runs.exists() or runs.is_symlink()) and not runs.is_dir():
            raise GdError(f"{runs} is not a directory, so no run of the sweep can be read; move it aside and run "
                          "your `gd sweep` command(s) again")
        sweep_exists = (root / SWEEP_FILE).exists()
    except OSError as exc:  # a directory on the way that may not be searched
        raise GdError(f"cannot read {root}: {exc.strerror or exc}; give a sweep directory you may read") from None
    path = root / SWEEP_FILE
    try:
        if not sweep_exists:
            raise _Damaged(path, "is missing")
        document = _json_object(path)
        if not isinstance(document.get("format"), str):
            raise _Damaged(path, "has no 'format'")
        if document["format"] != "gd-sweep/1":
            raise GdError(f"{path} has format {document['format']!r}, not gd-sweep/1; use a matching gd version")
        if not isinstance(document.get("runs"), dict):
            raise _Damaged(path, "has no 'runs' object")
    except _Damaged as exc:
        way_out = REWRITE_PLAN.removeprefix("delete it and ") if exc.reason == "is missing" else REWRITE_PLAN
        return _plan_from_runs(root, Damage(exc.path, f"{exc.reason}; the report lists the runs found under "
                                                      f"{RUNS}/ (runs never started are not known); {way_out}"))
    plan: dict[str, dict[str, Any] | None] = {}
    damaged = []
    for key, settings in document["runs"].items():
        if not _is_run_name(key):
            damaged.append(Damage(path, f"lists a run named {key!r}, which is not a run directory's name"))
            continue
        problem = _settings_problem(settings)
        if problem:
            damaged.append(Damage(path, f"the entry of run {key} {problem}; the run's own files give its settings",
                                  key))
        plan[key] = None if problem else settings
    skipped = document.get("skipped", [])
    if not isinstance(skipped, list):
        damaged.append(Damage(path, "'skipped' is not a list; the skipped pairs are not shown"))
        skipped = []
    wellformed = [s for s in skipped if isinstance(s, dict) and all(
        isinstance(s.get(name), str) for name in ("model", "acquisition", "reason"))]
    if len(wellformed) < len(skipped):
        damaged.append(Damage(path, f"{len(skipped) - len(wellformed)} entries of 'skipped' lack a model, "
                                    "acquisition or reason; they are not shown"))
    return plan, wellformed, damaged


def _plan_from_runs(root: Path, damage: Damage) -> tuple[dict[str, None], list[dict[str, str]], list[Damage]]:
    """The plan of a sweep without a usable sweep.json: every run directory under ``runs/``."""
    try:
        names = sorted(p.name for p in (root / RUNS).iterdir() if _is_run_name(p.name))
    except OSError:
        names = []
    if not names:
        if damage.reason.startswith("is missing"):
            raise GdError(f"{root} holds no {SWEEP_FILE}; give a directory made by `gd sweep --out`")
        raise GdError(f"{damage.path} is damaged ({damage.reason.split(';')[0]}) and {root}/{RUNS} holds no run; "
                      f"{REWRITE_PLAN}")
    return dict.fromkeys(names), [], [damage]


def _is_run_name(name: Any) -> bool:
    """Whether ``name`` can be a run directory's name: printable, no path separator, not hidden (staging)."""
    return (isinstance(name, str) and name.isprintable() and bool(name) and not name.startswith(".")
            and "/" not in name and "\\" not in name)


_NAMES = ("assay", "descriptor", "model", "acquisition")


def _settings_problem(settings: Any) -> str | None:
    """What makes ``settings`` not a run's resolved settings (as sweep.json and config.json record them), or None."""
    if not isinstance(settings, dict):
        return f"is a JSON {_json_type(settings)}, not an object"
    for name in (*_NAMES, "batch_size", "cycles", "seed"):
        if name not in settings:
            return f"lacks '{name}'"
    for name in _NAMES:
        if not isinstance(settings[name], str) or not settings[name]:
            return f"has {name} {settings[name]!r}, not a name"
    for name, least in (("batch_size", 1), ("cycles", 1), ("seed", 0)):
        value = settings[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            return f"has {name} {value!r}, not a whole number ≥ {least}"
    metrics = settings.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) and m for m in metrics):
        return f"has metrics {metrics!r}, not a list of names"
    params = settings.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(p, dict) for p in params.values()):
        return "has 'params' that are not tables of parameters"
    for name in ("test_fraction", "hit_fraction"):
        value = settings.get(name, 0.5)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"has {name} {value!r}, not a number"
    if "split_seed" in settings and not is_split_seed(settings["split_seed"]):
        return f"has split_seed {settings['split_seed']!r}, not a whole number ≥ 0 or \"{SPLIT_FOLLOWS_SEED}\""
    return None


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


@dataclass(frozen=True)
class _Run:
    """One run directory as read: its state, settings (None when unknown), curve rows and data, or its damage."""

    state: str
    settings: dict[str, Any] | None
    error: str = ""
    rows: tuple[tuple[int, int, str, float], ...] = ()
    data: dict[str, float] | None = None
    damage: Damage | None = None
    code: dict[str, Any] | None = None  # a finished run's code record (None when it has none)
    parameters: Any = None  # a finished run's recorded parameter values (config.json's "parameters")
    defaults: Any = None  # and the defaults its components declared (config.json's "defaults")
    metric_records: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_run(directory: Path, key: str, listed: dict[str, Any] | None) -> _Run:
    """Read a run directory against its sweep.json entry ``listed`` (None when that entry is damaged)."""
    blank = dict.fromkeys(RUN_DATA, math.nan)
    own: dict[str, Any] | None = None
    try:
        if not directory.exists() and not directory.is_symlink():
            started = any(directory.parent.glob(f".{key}.partial-*"))  # its staging directory: being written
            return _Run("started" if started else "missing", listed, data=blank,
                        error="" if listed else "sweep.json's entry is damaged and the run has not finished")
        if not directory.is_dir():
            raise _Damaged(directory, "is not a directory")
        manifest, failure = directory / MANIFEST, directory / FAILURE
        if manifest.exists() or manifest.is_symlink():
            document = _json_object(manifest)
            own = document.get("settings")
            problem = "lacks 'settings'" if own is None else _settings_problem(own)
            if problem:
                own = None
                raise _Damaged(manifest, f"'settings' {problem}" if "settings" in document else problem)
            settings = listed or own
            for name in RUN_COLUMNS:
                if own[name] != settings[name]:
                    raise _Damaged(manifest, f"records {name} {own[name]!r}, but sweep.json has {settings[name]!r} "
                                             "for this run")
            data = _run_data(document, manifest)
            rows = _metric_rows(directory / "metrics.csv", settings)
            return _Run("done", settings, rows=rows, data=data, code=recorded_code(document),
                        parameters=document.get("parameters"), defaults=document.get("defaults"),
                        metric_records=_metric_records(document))
        if failure.exists() or failure.is_symlink():
            document = _json_object(failure)
            if not isinstance(document.get("error"), str):
                raise _Damaged(failure, "has no 'error' text")
            own = document.get("settings")
            own = own if _settings_problem(own) is None else None
            return _Run("failed", listed or own, error=document["error"], data=blank)
        return _Run("missing", listed, data=blank)
    except _Damaged as exc:
        damage = Damage(exc.path, exc.reason, key)
    except OSError as exc:  # a directory on the way that may not be searched (chmod 000), a vanished mount
        damage = Damage(directory, f"cannot be read ({exc.strerror or exc})", key)
    return _Run("damaged", listed or own, error=f"{damage.path.name} {damage.reason}", data=blank, damage=damage)


def _read_text(path: Path) -> str:
    """The text of a file gd wrote, or ``_Damaged`` saying why it cannot be read."""
    if not path.exists():
        raise _Damaged(path, "is missing")
    if not path.is_file():  # a directory, a dangling link, a FIFO (reading one would wait forever)
        raise _Damaged(path, "is not a regular file")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise _Damaged(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise _Damaged(path, "is not UTF-8 text (binary or overwritten)") from None


def _json_object(path: Path) -> dict[str, Any]:
    """A JSON file's top-level object, or ``_Damaged``."""
    text = _read_text(path)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "is empty" if not text.strip() else f"is not valid JSON ({exc})"
        raise _Damaged(path, reason) from None
    if not isinstance(value, dict):
        raise _Damaged(path, f"holds a JSON {_json_type(value)}, not an object")
    return value


def _metric_records(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each metric's component record in config.json (``components["metric:NAME"]``), where it is an object."""
    components = document.get("components")
    if not isinstance(components, dict):
        return {}
    return {key.partition(":")[2]: record for key, record in components.items()
            if key.startswith("metric:") and isinstance(record, dict)}


def _run_data(document: dict[str, Any], path: Path) -> dict[str, float]:
    """Pool size, number of hits and test-outcome variance from config.json; NaN for what older runs lack."""
    data = document.get("data", {})
    if not isinstance(data, dict):
        raise _Damaged(path, f"'data' is a JSON {_json_type(data)}, not an object")
    values = {}
    for name in RUN_DATA:
        value = data.get(name)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise _Damaged(path, f"data.{name} is {value!r}, not a number")
        values[name] = math.nan if value is None else float(value)
    return values


def _metric_rows(path: Path, settings: dict[str, Any]) -> tuple[tuple[int, int, str, float], ...]:
    """The rows of a finished run's metrics.csv, checked to be the whole table its settings call for.

    gd writes one row per cycle and metric and ends the file with a newline, so a file cut at any byte is
    caught: mid-line by its last line, at a line's end by the rows it lacks.
    """
    text = _read_text(path)
    if not text:
        raise _Damaged(path, "is empty")
    if not text.endswith("\n"):
        raise _Damaged(path, "is truncated (its last line is incomplete)")
    cycles = settings["cycles"]
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # e.g. a NUL byte, or a field past the csv module's size limit
        raise _Damaged(path, "is not a readable CSV table") from None
    if lines[0] != METRICS_HEADER:
        raise _Damaged(path, f"has the header {','.join(lines[0])!r}, not {','.join(METRICS_HEADER)!r}")
    rows, seen = [], set()
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(METRICS_HEADER):
            raise _Damaged(path, f"line {number} has {len(fields)} fields, not {len(METRICS_HEADER)}")
        cycle, n_acquired, metric, value = fields
        for name, text_value in (("cycle", cycle), ("n_acquired", n_acquired)):
            if not text_value.isascii() or not text_value.isdigit():
                raise _Damaged(path, f"line {number}: {name} {text_value!r} is not a whole number")
        if int(cycle) >= cycles:
            raise _Damaged(path, f"line {number}: cycle {cycle}, but the run has {cycles} cycles (0–{cycles - 1})")
        if not metric:
            raise _Damaged(path, f"line {number}: the metric name is empty")
        try:
            number_value = float(value)
        except ValueError:
            raise _Damaged(path, f"line {number}: value {value!r} is not a number") from None
        if (int(cycle), metric) in seen:
            raise _Damaged(path, f"line {number}: {metric!r} at cycle {cycle} appears twice")
        seen.add((int(cycle), metric))
        rows.append((int(cycle), int(n_acquired), metric, number_value))
    metrics = settings.get("metrics") or list(dict.fromkeys(metric for _, metric in seen))
    lacking = [(c, m) for c in range(cycles) for m in metrics if (c, m) not in seen]
    if lacking:
        cycle, metric = lacking[0]
        raise _Damaged(path, f"lacks {len(lacking)} of its {cycles * len(metrics)} rows (first: {metric!r} at "
                             f"cycle {cycle}): incomplete")
    return tuple(rows)


def _variants(runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per run, ``key=value`` for each setting off the grid's axes that differs between runs of the sweep.

    Runs added to one directory with other parameters, fractions, split seeds or cycle counts must not be
    pooled as seeds of one acquisition. Cycles that follow from the batch size (the paper's rule) are not a
    variant.
    """
    flat: dict[str, dict[str, str]] = {}
    for key, settings in runs.items():
        values = {name: json.dumps(settings.get(name), sort_keys=True)
                  for name in ("test_fraction", "hit_fraction", "metrics")}
        # Runs from before split_seed existed drew the test split from the run seed.
        values["split_seed"] = json.dumps(settings.get("split_seed", "seed"))
        for kind, params in sorted(settings.get("params", {}).items()):
            values.update({f"{kind}.{name}": json.dumps(value) for name, value in sorted(params.items())})
        values["cycles"] = str(settings["cycles"])
        flat[key] = values
    names = sorted({name for values in flat.values() for name in values})
    varying = []
    for name in names:
        if name == "cycles":
            per_batch: dict[int, set[str]] = {}
            for key, settings in runs.items():
                per_batch.setdefault(settings["batch_size"], set()).add(flat[key]["cycles"])
            if any(len(v) > 1 for v in per_batch.values()):
                varying.append(name)
        elif len({values.get(name, "default") for values in flat.values()}) > 1:
            varying.append(name)
    return {key: ", ".join(f"{n}={flat[key].get(n, 'default')}" for n in varying) for key in runs}


# ------------------------------------------------------------------------------------ areas under curves

@dataclass(frozen=True)
class AucRange:
    """The genes-acquired range areas are taken over: one common to every run, or (None) each run's own."""

    lo: float | None = None
    hi: float | None = None

    @property
    def common(self) -> bool:
        """Whether every run's area is over the same range."""
        return self.lo is not None

    def caption(self) -> str:
        """The range in words, for the report's caption."""
        if self.common:
            return f"AUC over {_count(self.lo)}–{_count(self.hi)} genes acquired (mean height of each curve)"
        return ("AUC over each run's own range of genes acquired: the runs share no common range (or too little of "
                "one), so AUCs of different batch sizes are not comparable")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: from, to (null for each run's own range), common and the caption."""
        return {"from": self.lo, "to": self.hi, "common": self.common, "text": self.caption()}


def _count(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None and float(value).is_integer() else f"{value:,}"


def auc_range(curves: pd.DataFrame) -> AucRange:
    """The range every finished run covers: from the largest first to the smallest last ``n_acquired``.

    When that range is less than half of some run's own (a protocol's 5 × 32 screen beside 5 × 128 ones share
    only 128–160 genes), an area over it would say little of that run: each run's own range is used instead.
    """
    if curves.empty:
        return AucRange()
    ends = curves.groupby("key")["n_acquired"].agg(["min", "max"])
    lo, hi = float(ends["min"].max()), float(ends["max"].min())
    return AucRange(lo, hi) if lo < hi and hi - lo >= 0.5 * float((ends["max"] - ends["min"]).min()) else AucRange()


def area_under_curve(n_acquired: Sequence[float], values: Sequence[float], lo: float | None = None,
                     hi: float | None = None) -> float:
    """Mean height of a metric-vs-genes-acquired curve over [lo, hi] (default: its own range).

    The curve is interpolated linearly between its points, and its trapezoidal area over the range is divided
    by the range's width, so curves of different batch sizes over one common range are comparable. The range
    must lie within the curve's; a single-point curve's area over its own range is its value.
    """
    order = np.argsort(n_acquired)
    x, y = np.asarray(n_acquired, dtype=float)[order], np.asarray(values, dtype=float)[order]
    lo, hi = (x[0] if lo is None else float(lo)), (x[-1] if hi is None else float(hi))
    if hi <= lo:
        return float(y.mean()) if x[0] == x[-1] else float(np.interp(lo, x, y))
    grid = np.concatenate([[lo], x[(x > lo) & (x < hi)], [hi]])
    heights = np.interp(grid, x, y)
    return float(np.sum((heights[1:] + heights[:-1]) / 2 * np.diff(grid)) / (hi - lo))


# ------------------------------------------------------------------------------------------ the summary

def check_metric(results: SweepResults, metric: str) -> None:
    """Refuse a ``--metric`` that no run of the sweep records, naming the ones it does (and a close match)."""
    known = list(dict.fromkeys([*results.metrics, *results.planned_metrics]))
    if metric in known:
        return
    raise GdError(f"--metric {metric!r} was not recorded in this sweep; {did_you_mean(metric, known)}"
                  f"recorded: {', '.join(known) or 'none'}")


def lower_is_better(results: SweepResults, metrics: Sequence[str],
                    registries: Registries | None = None) -> tuple[set[str], list[str]]:
    """The metrics among ``metrics`` where lower is better, and a note for each whose direction is a guess.

    A metric's direction is what its runs recorded (config.json, from the plugin's ``better=`` when the run was
    made), so a metric whose plugin is gone or given by ``--plugin`` ranks the right way. Runs that disagree are
    an error naming two of them. For runs that recorded none (made by an older gd) the loaded plugin's
    registration decides; failing that, higher is better, with a note.
    """
    from gd_core.results import metric_direction

    labels = dict(zip(results.runs["key"], results.runs["label"]))
    lower, notes = set(), []
    for metric in metrics:
        seen: dict[str, str] = {}  # direction → the first run recording it
        for key, records in sorted(results.metric_records.items()):
            better = records.get(metric, {}).get("better")
            if better in ("lower", "higher"):
                seen.setdefault(better, key)
        if len(seen) > 1:
            raise GdError(f"metric '{metric}' is lower-is-better in run {labels[seen['lower']]} ({seen['lower']}) but "
                          f"higher-is-better in run {labels[seen['higher']]} ({seen['higher']}): their plugins "
                          "disagree; run `gd sweep` again to redo the stale runs with the plugin loaded now")
        if seen:
            direction = next(iter(seen))
        elif registries is not None and metric in registries.metrics:
            direction = metric_direction(registries.metrics.get(metric))
        else:
            direction = "higher"
            notes.append(f"metric '{metric}': neither its runs nor a loaded plugin say whether lower is better, so "
                         "higher is taken as better; load its plugin with --plugin FILE, or install it")
        if direction == "lower":
            lower.add(metric)
    return lower, notes


@dataclass
class Report:
    """What ``gd report`` shows (and ``gd_core.sweep(...).report()`` returns) for a sweep's results."""

    metrics: list[str]  # those reported: the ones asked for, else mse and hit_ratio where recorded, else all
    lower: set[str]  # the lower-is-better among them, as the runs recorded it
    guesses: list[str]  # warnings: metrics whose direction no run recorded
    hidden: list[str]  # metrics the runs recorded that the default choice leaves out
    span: AucRange
    summary: pd.DataFrame
    ranks: pd.DataFrame
    differences: pd.DataFrame
    best: pd.DataFrame
    baselines: pd.DataFrame  # empty unless hit_ratio is reported


def build_report(results: SweepResults, asked: Sequence[str], registries: Any) -> Report:
    """The report's tables for the metrics ``asked`` (none: the default choice). Each run records its metrics'
    direction, so a metric from a --plugin file, or one whose plugin is gone, ranks as it did when the runs were
    made; ``registries`` (the loaded plugins) decide only for runs that recorded none."""
    for name in asked:
        check_metric(results, name)
    known = list(dict.fromkeys([*results.metrics, *results.planned_metrics]))  # recorded, then asked for
    metrics = list(dict.fromkeys(asked)) or [m for m in ("mse", "hit_ratio") if m in known or not known] or known
    lower, guesses = lower_is_better(results, metrics, registries)
    span = auc_range(results.curves)
    runs = per_run(results, metrics, span)
    summary = summarise(runs, metrics, lower)
    base = baselines(results, span)
    return Report(metrics, lower, list(guesses), [m for m in known if m not in metrics] if not asked else [], span,
                  summary, mean_ranks(summary, metrics), paired_differences(runs, metrics, lower),
                  best_acquisitions(runs, metrics, lower), base if "hit_ratio" in metrics else base.iloc[:0])


def stale_line(results: SweepResults) -> str | None:
    """One line saying how many finished runs are stale and why (the commonest reason), or None when none is."""
    if not results.stale:
        return None
    reasons: dict[str, int] = {}
    for _, _, why in results.stale:
        reasons[why] = reasons.get(why, 0) + 1
    common = max(reasons, key=reasons.get)
    more = f"; {len(reasons) - 1} other reason(s)" if len(reasons) > 1 else ""
    done = int((results.runs["state"] == "done").sum())
    return (f"{len(results.stale)} of {done} finished runs are stale, made by other code or defaults than now ({common}{more}); "
            "they are reported all the same: `gd sweep --dry-run` lists them and `gd sweep` redoes them")


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """``did you mean 'x'? `` for the choice closest to a mistyped ``value``, or nothing when none is close."""
    meant = closest(value, list(choices))
    return f"did you mean '{meant}'? " if meant else ""


def shown(value: float) -> float:
    """A mean as the report prints it, to ``DIGITS`` significant digits; means that print the same tie."""
    return float(f"{value:.{DIGITS}g}")


def statistics(metrics: Sequence[str], relative: bool = True) -> list[str]:
    """Per-run statistic names: ``final_<metric>`` and ``auc_<metric>``, and of MSE over the test variance."""
    names = []
    for metric in metrics:
        names += [f"final_{metric}", f"auc_{metric}"]
        if relative and metric in RELATIVE:
            names += [f"final_{RELATIVE[metric]}", f"auc_{RELATIVE[metric]}"]
    return names


def statistic_label(statistic: str) -> str:
    """A statistic's name for people: ``auc_hit_ratio`` → ``AUC hit ratio``."""
    kind, metric = statistic.split("_", 1)
    return f"{'final' if kind == 'final' else 'AUC'} {metric.replace('_', ' ')}"


def per_run(results: SweepResults, metrics: Sequence[str], span: AucRange | None = None) -> pd.DataFrame:
    """One row per finished run: final value (last cycle) and AUC over ``span`` of each metric, and relative MSE.

    Relative MSE is the MSE divided by the run's test-outcome variance (1.0: no better than predicting the
    mean); NaN for runs whose config.json does not record ``data.test_variance``.
    """
    for metric in metrics if not results.curves.empty else ():
        check_metric(results, metric)
    span = auc_range(results.curves) if span is None else span
    data = results.runs.set_index("key")[RUN_DATA]
    rows = []
    for (key, *settings), run in results.curves.groupby(["key", *RUN_COLUMNS], sort=True):
        row = dict(zip(["key", *RUN_COLUMNS], [key, *settings]), **data.loc[key].to_dict())
        for metric in metrics:
            curve = run[run["metric"] == metric].sort_values("cycle")
            if curve.empty:  # a run of another variant that does not record this metric
                row[f"final_{metric}"] = row[f"auc_{metric}"] = math.nan
            else:
                row[f"final_{metric}"] = float(curve["value"].iloc[-1])
                row[f"auc_{metric}"] = area_under_curve(curve["n_acquired"].to_numpy(),
                                                        curve["value"].to_numpy(), span.lo, span.hi)
            if metric in RELATIVE:
                variance = row["test_variance"]
                for kind in ("final", "auc"):
                    row[f"{kind}_{RELATIVE[metric]}"] = (row[f"{kind}_{metric}"] / variance if variance > 0
                                                         else math.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["key", *RUN_COLUMNS, *RUN_DATA, *statistics(metrics)])


def summarise(runs: pd.DataFrame, metrics: Sequence[str], lower_is_better: set[str]) -> pd.DataFrame:
    """Mean and sd over seeds of each statistic of ``per_run``, per setting and acquisition, with ranks.

    Ranks are within a setting (assay, descriptor, model, batch size); 1 is the best mean (lowest for
    metrics in ``lower_is_better``, highest for the others). Means equal to the printed precision (``shown``)
    tie and share the better rank. Relative MSE is not
    ranked (it ranks as MSE does), and is NaN for an acquisition when any of its runs lacks the test variance.
    """
    stats, ranked = statistics(metrics), statistics(metrics, relative=False)
    parts = {stat: ("mean", "sd", "rank") if stat in ranked else ("mean", "sd") for stat in stats}
    columns = [*SETTING, "acquisition", "seeds", *[f"{stat}_{part}" for stat in stats for part in parts[stat]]]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    grouped = runs.groupby([*SETTING, "acquisition"], sort=True)
    table = grouped[stats].agg(["mean", "std"])
    table.columns = [f"{stat}_{'sd' if part == 'std' else part}" for stat, part in table.columns]
    for stat in (s for s in stats if s not in ranked):
        incomplete = grouped[stat].count() < grouped.size()  # mixing runs with and without it would mislead
        table.loc[incomplete, [f"{stat}_mean", f"{stat}_sd"]] = math.nan
    table.insert(0, "seeds", grouped.size())
    table = table.reset_index()
    for stat in ranked:
        metric = stat.split("_", 1)[1]
        # Ranked as printed, so two means that read the same share a rank whatever their last bits.
        table[f"{stat}_rank"] = table[f"{stat}_mean"].map(shown).groupby([table[c] for c in SETTING]).rank(
            method="min", ascending=metric in lower_is_better).astype("Int64")
    return table[columns]


def mean_ranks(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Each acquisition's rank averaged over the settings, per statistic: the paper's overall comparison."""
    ranks = [f"{s}_{m}_rank" for m in metrics for s in ("final", "auc")]
    if summary.empty:
        return pd.DataFrame(columns=["acquisition", "settings", *ranks])
    grouped = summary.groupby("acquisition")
    table = grouped[ranks].agg(lambda r: float(r.astype(float).mean()))
    table.insert(0, "settings", grouped.size())
    return table.reset_index().sort_values(ranks[0], kind="stable")[["acquisition", "settings", *ranks]]


# --------------------------------------------------------------------------------- paired differences

def best_acquisitions(runs: pd.DataFrame, metrics: Sequence[str], lower_is_better: set[str]) -> pd.DataFrame:
    """Per setting and ranked statistic, the acquisition(s) ``paired_differences`` compares with as the best.

    The best has the best mean among the acquisitions with the most seeds (so one lucky seed cannot win). Means
    equal to the printed precision (``shown``) tie: every tied acquisition is listed, and ``tie`` is true.
    """
    rows = [{**dict(zip(SETTING, setting)), "statistic": stat, "best": best, "tie": len(best) > 1, "seeds": seeds,
             "mean": mean} for setting, stat, _, _, best, seeds, mean in _blocks(runs, metrics, lower_is_better)]
    return pd.DataFrame(rows, columns=[*SETTING, "statistic", "best", "tie", "seeds", "mean"])


def _blocks(runs: pd.DataFrame, metrics: Sequence[str], lower_is_better: set[str]) -> Iterator[tuple[Any, ...]]:
    """Per setting and ranked statistic: the setting, statistic, lower-is-better, values by seed × acquisition,
    the best acquisitions (sorted by name), their number of seeds and their mean as printed."""
    stats = statistics(metrics, relative=False)
    for setting, block in runs.groupby(SETTING, sort=True):
        per_seed = block.groupby(["seed", "acquisition"])[stats].mean()  # one pass for every statistic
        for stat in stats:
            lower = stat.split("_", 1)[1] in lower_is_better
            by_seed = per_seed[stat].unstack("acquisition")
            counts = by_seed.count()
            means = by_seed.mean()[counts == counts.max()].dropna().map(shown)
            if not len(means):
                yield setting, stat, lower, by_seed, [], 0, math.nan
                continue
            target = means.min() if lower else means.max()
            yield setting, stat, lower, by_seed, sorted(means.index[means == target]), int(counts.max()), target


def paired_differences(runs: pd.DataFrame, metrics: Sequence[str], lower_is_better: set[str]) -> pd.DataFrame:
    """Per setting and statistic, each acquisition minus ``random`` and minus the best, paired by seed.

    Runs of one setting with the same seed share the test split, the hits and the initial batch, so the
    difference of two acquisitions is taken seed by seed over the seeds both have (``pairs``). The best is
    as ``best_acquisitions`` says; it is not compared with itself, and when it is ``random`` there are no rows
    vs the best (they would repeat those vs random). When several tie for the best, each is a reference
    (``tie`` true): every other acquisition, the other tied ones included, is compared with each. See
    ``compare``.
    """
    rows = []
    for setting, stat, lower, by_seed, best, _, _ in _blocks(runs, metrics, lower_is_better):
        references = [("random", REFERENCE, False)] if REFERENCE in by_seed.columns else []
        # A best that is random would repeat the rows vs random.
        references += [("best", name, len(best) > 1) for name in best if name != REFERENCE]
        for reference, versus, tie in references:
            for acquisition in (a for a in by_seed.columns if a != versus):
                pairs = by_seed[[acquisition, versus]].dropna()
                rows.append({**dict(zip(SETTING, setting)), "statistic": stat, "acquisition": acquisition,
                             "reference": reference, "versus": versus, "tie": tie,
                             **compare((pairs[acquisition] - pairs[versus]).to_numpy(), lower)})
    table = pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)
    table["seeds_needed"] = pd.Series([r["seeds_needed"] for r in rows], index=table.index, dtype=object)
    return table


def compare(differences: np.ndarray, lower_is_better: bool) -> dict[str, Any]:
    """Mean, 95% CI and two-sided paired t-test of paired differences (acquisition − reference), with a verdict.

    The interval is mean ± t(0.975, n−1)·sd/√n and p = 2·P(T_{n−1} > |mean|/(sd/√n)). The verdict is
    "not separable" when the interval contains 0, else "better" or "worse" for the acquisition (lower is
    better where ``lower_is_better``). Fewer than 2 pairs ("too few seeds") or differences that do not vary
    ("identical" when every one is 0, else "constant difference") allow no test; a ``note`` says which.
    ``seeds_needed`` is ``seeds_for_power`` of the observed mean and sd (``">10000"`` past the cap).
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    row = {"pairs": n, "mean_diff": float(d.mean()) if n else math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "p": math.nan, "verdict": "too few seeds", "seeds_needed": None, "note": ""}
    if n < 2:
        return {**row, "note": "one pair" if n else "no seed in common"}
    if not d.any():
        return {**row, "verdict": "identical", "note": "every pair has the same value"}
    if np.ptp(d) <= 1e-12 * np.abs(d).max():  # rounding noise of a constant difference is no spread
        return {**row, "verdict": "constant difference",
                "note": "every pair differs by the same amount, so the t-test is undefined"}
    from scipy import stats

    mean, sd = float(d.mean()), float(d.std(ddof=1))
    error = sd / math.sqrt(n)
    half = float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, n - 1)) * error
    low, high = mean - half, mean + half
    separated = low > 0 or high < 0
    verdict = ("better" if (mean < 0) == lower_is_better else "worse") if separated else "not separable"
    needed = seeds_for_power(mean, sd)
    return {**row, "ci_low": low, "ci_high": high, "p": float(2 * stats.t.sf(abs(mean) / error, n - 1)),
            "verdict": verdict, "seeds_needed": needed if needed is not None else f">{MAX_SEEDS}"}


def seeds_for_power(effect: float, sd: float, *, alpha: float = ALPHA, power: float = POWER,
                    cap: int = MAX_SEEDS) -> int | None:
    """Smallest number of pairs n ≥ 2 at which a two-sided paired t-test at ``alpha`` has ``power``.

    Power at n is P(|T| > t(1 − alpha/2, n−1)) for T noncentral t with n−1 degrees of freedom and
    noncentrality effect/sd·√n. This is a post-hoc estimate from the observed effect: it takes the observed
    mean difference and sd of the differences as the truth, so it says roughly how many seeds an effect of
    this size would need, not that the effect is real. None when more than ``cap`` pairs would be needed
    (or the effect is 0).
    """
    from scipy import stats

    if not (sd > 0 and effect != 0 and math.isfinite(effect / sd)):
        return None
    size = abs(effect) / sd
    # The t-test never needs fewer pairs than the z-test with known sd, so the search starts there.
    start = max(2, math.floor(((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) / size) ** 2))
    for first in range(start, cap + 1, 64):
        n = np.arange(first, min(first + 64, cap + 1))
        critical, shift = stats.t.ppf(1 - alpha / 2, n - 1), size * np.sqrt(n)
        # The far tail is negligible and scipy returns NaN for it at large noncentralities.
        reached = stats.nct.sf(critical, n - 1, shift) + np.nan_to_num(stats.nct.cdf(-critical, n - 1, shift))
        if (reached >= power).any():
            return int(n[np.argmax(reached >= power)])
    return None


# -------------------------------------------------------------------------------- hit-ratio baselines

def expected_random(n_acquired: np.ndarray, n_pool: float) -> np.ndarray:
    """Random acquisition's expected hit ratio after ``n_acquired`` genes of a pool of ``n_pool``."""
    return np.asarray(n_acquired, dtype=float) / n_pool


def oracle_ceiling(n_acquired: np.ndarray, n_hits: float) -> np.ndarray:
    """The best hit ratio any acquisition can have after ``n_acquired`` genes: every gene a hit."""
    return np.minimum(np.asarray(n_acquired, dtype=float), n_hits) / n_hits


def baselines(results: SweepResults, span: AucRange | None = None) -> pd.DataFrame:
    """Per setting, random's expected hit ratio and the oracle's ceiling, final and AUC like the runs'.

    Both are evaluated at the n_acquired of the setting's finished runs, the final at the last, the AUC over
    ``span`` as for a run. When the setting's runs disagree on n_pool or n_hits (a split that varies with the
    seed), their means are used and ``varies`` is true. Settings whose runs do not record them have no rows.
    """
    span = auc_range(results.curves) if span is None else span
    columns = [*SETTING, "baseline", "n_pool", "n_hits", "varies", "final_hit_ratio", "auc_hit_ratio"]
    known = results.runs[results.runs["state"] == "done"].dropna(subset=["n_pool", "n_hits"])
    rows = []
    for setting, runs in known.groupby(SETTING, sort=True):
        n = np.sort(results.curves.loc[results.curves["key"].isin(runs["key"]), "n_acquired"].unique())
        if not len(n):
            continue
        n_pool, n_hits = float(runs["n_pool"].mean()), float(runs["n_hits"].mean())
        varies = bool(runs["n_pool"].nunique() > 1 or runs["n_hits"].nunique() > 1)
        for name, values in ((EXPECTED_RANDOM, expected_random(n, n_pool)),
                             (CEILING_ORACLE, oracle_ceiling(n, n_hits))):
            rows.append({**dict(zip(SETTING, setting)), "baseline": name, "n_pool": n_pool, "n_hits": n_hits,
                         "varies": varies, "final_hit_ratio": float(values[-1]),
                         "auc_hit_ratio": area_under_curve(n, values, span.lo, span.hi)})
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------------------- display

def setting_caption(values: dict[str, Any], columns: Sequence[str] = SETTING) -> str:
    """``assay · descriptor · model · batch N`` for the given setting columns."""
    return " · ".join(f"{'batch ' if c == 'batch_size' else ''}{values[c]}" for c in columns)


def display_rows(summary: pd.DataFrame, metrics: Sequence[str],
                 baseline: pd.DataFrame | None = None) -> tuple[str, list[str], list[list[str]]]:
    """A caption, headers and text cells for a human table, each statistic as ``mean ± sd (rank)``.

    Setting columns with one value throughout move into the caption, so a one-setting report stays narrow.
    The rows of ``baseline`` (see ``baselines``) follow each setting's acquisitions.
    """
    constant = [c for c in SETTING if summary[c].nunique() == 1] if len(summary) else []
    caption = setting_caption(summary.iloc[0].to_dict(), constant) if constant else ""
    varying = [c for c in SETTING if c not in constant]
    stats = statistics(metrics)
    headers = [*("batch" if c == "batch_size" else c for c in varying), "acquisition", "seeds",
               *map(statistic_label, stats)]
    extra = {} if baseline is None else {key: block for key, block in baseline.groupby(SETTING, sort=False)}
    rows = []
    for setting, block in summary.groupby(SETTING, sort=False):
        shared = {stat: block[f"{stat}_rank"].value_counts() for stat in stats if f"{stat}_rank" in block}
        for record in block.to_dict(orient="records"):
            cells = [str(record[c]) for c in [*varying, "acquisition", "seeds"]]
            for stat in stats:
                mean, sd, rank = record[f"{stat}_mean"], record[f"{stat}_sd"], record.get(f"{stat}_rank")
                text = "–" if pd.isna(mean) else f"{mean:.{DIGITS}g}" + ("" if pd.isna(sd) else f" ± {sd:.2g}")
                if rank is not None and not pd.isna(rank):
                    text += f" ({rank}{'=' if shared[stat][rank] > 1 else ''})"  # = : a tie
                cells.append(text)
            rows.append(cells)
        for record in extra.get(setting, pd.DataFrame()).to_dict(orient="records"):
            cells = [str(record[c]) for c in varying] + [record["baseline"], "–"]
            rows.append(cells + [f"{record[s]:.{DIGITS}g}" if s in record else "–" for s in stats])
    return caption, headers, rows


RANK_RULE = (f"rank 1 = best mean; means equal to {DIGITS} significant digits tie and share the better rank, "
             "marked =")


def tie_notes(best: pd.DataFrame) -> list[str]:
    """One line per setting and statistic where several acquisitions tie for the best (see ``best_acquisitions``)."""
    return [f"{setting_caption(r)}: {', '.join(r['best'])} tie for the best {statistic_label(r['statistic'])} "
            f"(mean {r['mean']:.{DIGITS}g} over {r['seeds']} seeds); 'vs best' compares with each of them"
            for r in best[best["tie"]].to_dict(orient="records")]


def baseline_notes(baseline: pd.DataFrame) -> list[str]:
    """One line per setting whose runs disagree on pool size or number of hits."""
    varying = baseline[baseline["varies"]].drop_duplicates(SETTING)
    return [f"{setting_caption(r)}: the runs disagree on n_pool or n_hits (the split varies with the seed); the "
            f"baselines use their means (n_pool {r['n_pool']:.1f}, n_hits {r['n_hits']:.1f})"
            for r in varying.to_dict(orient="records")]


DIFFERENCE_HEADERS = ["statistic", "acquisition", "vs", "pairs", "mean diff", "95% CI", "p", "verdict",
                      f"seeds for {POWER:.0%} power"]


def difference_tables(differences: pd.DataFrame) -> list[tuple[str, list[list[str]]]]:
    """Per setting, a title and the text cells of its paired differences (headers: ``DIFFERENCE_HEADERS``).

    Rows keep the order of ``paired_differences``: by statistic, then vs random before vs best.
    """
    tables = []
    for _, block in differences.groupby(SETTING, sort=False):
        title = (f"{setting_caption(block.iloc[0].to_dict())}: paired difference over seeds "
                 "(acquisition − reference; 95% CI and p of a paired t-test)")
        if not (block["reference"] == "random").any():
            title += f"; no {REFERENCE} runs here, so only differences from the best"
        tables.append((title, [_difference_cells(r) for r in block.to_dict(orient="records")]))
    return tables


def _difference_cells(record: dict[str, Any]) -> list[str]:
    mean, low, high, p = record["mean_diff"], record["ci_low"], record["ci_high"], record["p"]
    versus = ("random" if record["reference"] == "random"
              else f"best{' (tie)' if record['tie'] else ''}: {record['versus']}")
    interval = "–" if pd.isna(low) else f"[{low:+.3g}, {high:+.3g}]"
    if record["verdict"] == "constant difference":
        interval = "– (no spread)"
    needed = record["seeds_needed"]
    return [statistic_label(record["statistic"]), record["acquisition"], versus, str(record["pairs"]),
            "–" if pd.isna(mean) else f"{mean:+.4g}", interval, "–" if pd.isna(p) else f"{p:.2g}",
            record["verdict"], "–" if needed is None else str(needed)]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
