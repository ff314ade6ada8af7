"""Reading a sweep directory back: per-run states, learning curves, and the per-setting summary with ranks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_core.results import FAILURE
from gd_core.sweep import RUNS, read_sweep, run_label, run_state

SETTING = ["assay", "descriptor", "model", "batch_size"]  # one block of the report; acquisitions compete in it
RUN_COLUMNS = [*SETTING, "acquisition", "seed", "cycles"]


@dataclass(frozen=True)
class SweepResults:
    """What a sweep directory holds: one row per expected run, and the metric curves of finished ones."""

    root: Path
    runs: pd.DataFrame  # key, label, assay, descriptor, model, batch_size, acquisition, seed, cycles, state, error
    curves: pd.DataFrame  # key, the run columns, cycle, n_acquired, metric, value
    skipped: list[dict[str, str]]

    @property
    def metrics(self) -> list[str]:
        """The metrics recorded, in the order they first appear."""
        return list(dict.fromkeys(self.curves["metric"]))


def load_results(root: Path) -> SweepResults:
    """Read ``sweep.json`` and every run directory under ``root``."""
    root = Path(root)
    document = read_sweep(root)
    rows, curves = [], []
    variants = _variants(document["runs"])
    for key, settings in sorted(document["runs"].items()):
        if variants[key]:  # the same acquisition run with other settings is another line, not more seeds
            settings = {**settings, "acquisition": f"{settings['acquisition']} [{variants[key]}]"}
        directory = root / RUNS / key
        state = run_state(directory)
        error = ""
        if state == "failed":
            error = _failure_message(directory / FAILURE)
        row = {"key": key, "label": run_label(settings), **{c: settings[c] for c in RUN_COLUMNS},
               "state": state, "error": error}
        if state == "done":
            try:
                table = pd.read_csv(directory / "metrics.csv")
            except (OSError, ValueError) as exc:
                row.update(state="failed", error=f"unreadable metrics.csv: {exc}")
            else:
                for column in RUN_COLUMNS:
                    table[column] = settings[column]
                table["key"] = key
                curves.append(table)
        rows.append(row)
    runs = pd.DataFrame(rows, columns=["key", "label", *RUN_COLUMNS, "state", "error"])
    columns = ["key", *RUN_COLUMNS, "cycle", "n_acquired", "metric", "value"]
    curve_table = pd.concat(curves, ignore_index=True)[columns] if curves else pd.DataFrame(columns=columns)
    return SweepResults(root, runs, curve_table, document.get("skipped", []))


def _variants(runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per run, ``key=value`` for each setting off the grid's axes that differs between runs of the sweep.

    Runs added to one directory with other parameters, fractions or cycle counts must not be pooled as
    seeds of one acquisition. Cycles that follow from the batch size (the paper's rule) are not a variant.
    """
    flat: dict[str, dict[str, str]] = {}
    for key, settings in runs.items():
        values = {name: json.dumps(settings.get(name), sort_keys=True)
                  for name in ("test_fraction", "hit_fraction", "metrics")}
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


def _failure_message(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("error", "unknown error"))
    except (OSError, ValueError):
        return "failure.json is unreadable"


def area_under_curve(n_acquired: np.ndarray, values: np.ndarray) -> float:
    """Trapezoidal area under a metric-vs-genes-acquired curve divided by its width: the curve's mean height.

    Dividing by the width makes curves of different batch sizes and cycle counts comparable; a
    single-point curve's area is its value.
    """
    order = np.argsort(n_acquired)
    x, y = np.asarray(n_acquired, dtype=float)[order], np.asarray(values, dtype=float)[order]
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def per_run(results: SweepResults, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per finished run: ``final_<metric>`` (last cycle) and ``auc_<metric>`` for each metric."""
    missing = [m for m in metrics if m not in results.metrics]
    if missing and not results.curves.empty:
        raise GdError(f"metric '{missing[0]}' was not recorded in this sweep; recorded: "
                      f"{', '.join(results.metrics)}")
    rows = []
    for (key, *settings), run in results.curves.groupby(["key", *RUN_COLUMNS], sort=True):
        row = dict(zip(["key", *RUN_COLUMNS], [key, *settings]))
        for metric in metrics:
            curve = run[run["metric"] == metric].sort_values("cycle")
            row[f"final_{metric}"] = float(curve["value"].iloc[-1])
            row[f"auc_{metric}"] = area_under_curve(curve["n_acquired"].to_numpy(), curve["value"].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows, columns=["key", *RUN_COLUMNS,
                                       *[f"{s}_{m}" for m in metrics for s in ("final", "auc")]])


def summarise(results: SweepResults, metrics: Sequence[str], lower_is_better: set[str]) -> pd.DataFrame:
    """Mean and sd over seeds of each final value and area, per setting and acquisition, with ranks.

    Ranks are within a setting (assay, descriptor, model, batch size); 1 is the best mean (lowest for
    metrics in ``lower_is_better``, highest for the others); ties share the better rank.
    """
    runs = per_run(results, metrics)
    stats = [f"{s}_{m}" for m in metrics for s in ("final", "auc")]
    columns = [*SETTING, "acquisition", "seeds",
               *[f"{stat}_{part}" for stat in stats for part in ("mean", "sd", "rank")]]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    grouped = runs.groupby([*SETTING, "acquisition"], sort=True)
    table = grouped[stats].agg(["mean", "std"])
    table.columns = [f"{stat}_{'sd' if part == 'std' else part}" for stat, part in table.columns]
    table.insert(0, "seeds", grouped.size())
    table = table.reset_index()
    for stat in stats:
        metric = stat.split("_", 1)[1]
        table[f"{stat}_rank"] = table.groupby(SETTING)[f"{stat}_mean"].rank(
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


def display_rows(summary: pd.DataFrame, metrics: Sequence[str]) -> tuple[str, list[str], list[list[str]]]:
    """A caption, headers and text cells for a human table, each statistic as ``mean ± sd (rank)``.

    Setting columns with one value throughout move into the caption, so a one-setting report stays narrow.
    """
    constant = [c for c in SETTING if summary[c].nunique() == 1] if len(summary) else []
    caption = " · ".join(f"{'batch ' if c == 'batch_size' else ''}{summary[c].iloc[0]}" for c in constant)
    shown = [c for c in SETTING if c not in constant]
    stats = [f"{s}_{m}" for m in metrics for s in ("final", "auc")]
    headers = [*("batch" if c == "batch_size" else c for c in shown), "acquisition", "seeds"]
    headers += [f"{'final' if s.startswith('final') else 'AUC'} {s.split('_', 1)[1].replace('_', ' ')}"
                for s in stats]
    rows = []
    for record in summary.to_dict(orient="records"):
        cells = [str(record[c]) for c in [*shown, "acquisition", "seeds"]]
        for stat in stats:
            mean, sd, rank = record[f"{stat}_mean"], record[f"{stat}_sd"], record[f"{stat}_rank"]
            text = "–" if pd.isna(mean) else f"{mean:.4g}" + ("" if pd.isna(sd) else f" ± {sd:.2g}")
            cells.append(text + ("" if pd.isna(rank) else f" ({rank})"))
        rows.append(cells)
    return caption, headers, rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
