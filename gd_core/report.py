"""Reading a sweep directory back: per-run states, learning curves, the per-setting summary with ranks, paired
differences between acquisitions with their uncertainty, and the analytic hit-ratio baselines."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_core.results import FAILURE, MANIFEST
from gd_core.sweep import RUNS, read_sweep, run_label, run_state

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
DIFFERENCE_COLUMNS = [*SETTING, "statistic", "acquisition", "reference", "versus", "pairs", "mean_diff",
                      "ci_low", "ci_high", "p", "verdict", "seeds_needed", "note"]


@dataclass(frozen=True)
class SweepResults:
    """What a sweep directory holds: one row per expected run, and the metric curves of finished ones."""

    root: Path
    runs: pd.DataFrame  # key, label, the run columns, state, error, n_pool, n_hits, test_variance
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
               "state": state, "error": error, **dict.fromkeys(RUN_DATA, math.nan)}
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
                row.update(_run_data(directory / MANIFEST))
        rows.append(row)
    runs = pd.DataFrame(rows, columns=["key", "label", *RUN_COLUMNS, "state", "error", *RUN_DATA])
    columns = ["key", *RUN_COLUMNS, "cycle", "n_acquired", "metric", "value"]
    curve_table = pd.concat(curves, ignore_index=True)[columns] if curves else pd.DataFrame(columns=columns)
    return SweepResults(root, runs, curve_table, document.get("skipped", []))


def _run_data(path: Path) -> dict[str, float]:
    """Pool size, number of hits and test-outcome variance from a run's ``config.json``; NaN for what is absent."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")).get("data", {})
    except (OSError, ValueError, AttributeError):
        data = {}
    data = data if isinstance(data, dict) else {}
    return {name: float(value) if isinstance(value := data.get(name), (int, float)) and not isinstance(value, bool)
            else math.nan for name in RUN_DATA}


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


def _failure_message(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("error", "unknown error"))
    except (OSError, ValueError):
        return "failure.json is unreadable"


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
        return ("AUC over each run's own range of genes acquired: the runs share no common range, so AUCs of "
                "different batch sizes are not comparable")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: from, to (null for each run's own range), common and the caption."""
        return {"from": self.lo, "to": self.hi, "common": self.common, "text": self.caption()}


def _count(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None and float(value).is_integer() else f"{value:,}"


def auc_range(curves: pd.DataFrame) -> AucRange:
    """The range every finished run covers: from the largest first to the smallest last ``n_acquired``."""
    if curves.empty:
        return AucRange()
    ends = curves.groupby("key")["n_acquired"].agg(["min", "max"])
    lo, hi = float(ends["min"].max()), float(ends["max"].min())
    return AucRange(lo, hi) if lo < hi else AucRange()


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
    missing = [m for m in metrics if m not in results.metrics]
    if missing and not results.curves.empty:
        raise GdError(f"metric '{missing[0]}' was not recorded in this sweep; recorded: "
                      f"{', '.join(results.metrics)}")
    span = auc_range(results.curves) if span is None else span
    data = results.runs.set_index("key")[RUN_DATA]
    rows = []
    for (key, *settings), run in results.curves.groupby(["key", *RUN_COLUMNS], sort=True):
        row = dict(zip(["key", *RUN_COLUMNS], [key, *settings]), **data.loc[key].to_dict())
        for metric in metrics:
            curve = run[run["metric"] == metric].sort_values("cycle")
            row[f"final_{metric}"] = float(curve["value"].iloc[-1])
            row[f"auc_{metric}"] = area_under_curve(curve["n_acquired"].to_numpy(), curve["value"].to_numpy(),
                                                    span.lo, span.hi)
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
    metrics in ``lower_is_better``, highest for the others); ties share the better rank. Relative MSE is not
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


# --------------------------------------------------------------------------------- paired differences

def paired_differences(runs: pd.DataFrame, metrics: Sequence[str], lower_is_better: set[str]) -> pd.DataFrame:
    """Per setting and statistic, each acquisition minus ``random`` and minus the best, paired by seed.

    Runs of one setting with the same seed share the test split, the hits and the initial batch, so the
    difference of two acquisitions is taken seed by seed over the seeds both have (``pairs``). The best is
    the acquisition with the best mean of that statistic among those with the most seeds; it is not
    compared with itself, and when it is ``random`` there are no rows vs the best (they would repeat those
    vs random). See ``compare``.
    """
    rows = []
    for setting, block in runs.groupby(SETTING, sort=True):
        for stat in statistics(metrics, relative=False):
            lower = stat.split("_", 1)[1] in lower_is_better
            by_seed = block.pivot_table(index="seed", columns="acquisition", values=stat, aggfunc="mean",
                                        dropna=False)
            # The best is chosen among the acquisitions with the most seeds, so one lucky seed cannot win.
            counts = by_seed.count()
            means = by_seed.mean()[counts == counts.max()].dropna()
            references = [("random", REFERENCE)] if REFERENCE in by_seed.columns else []
            best = (means.idxmin() if lower else means.idxmax()) if len(means) else REFERENCE
            if best != REFERENCE:  # else its rows would repeat those vs random
                references.append(("best", best))
            for reference, versus in references:
                for acquisition in (a for a in by_seed.columns if a != versus):
                    pairs = by_seed[[acquisition, versus]].dropna()
                    rows.append({**dict(zip(SETTING, setting)), "statistic": stat, "acquisition": acquisition,
                                 "reference": reference, "versus": versus,
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
    shown = [c for c in SETTING if c not in constant]
    stats = statistics(metrics)
    headers = [*("batch" if c == "batch_size" else c for c in shown), "acquisition", "seeds",
               *map(statistic_label, stats)]
    extra = {} if baseline is None else {key: block for key, block in baseline.groupby(SETTING, sort=False)}
    rows = []
    for setting, block in summary.groupby(SETTING, sort=False):
        for record in block.to_dict(orient="records"):
            cells = [str(record[c]) for c in [*shown, "acquisition", "seeds"]]
            for stat in stats:
                mean, sd, rank = record[f"{stat}_mean"], record[f"{stat}_sd"], record.get(f"{stat}_rank")
                text = "–" if pd.isna(mean) else f"{mean:.4g}" + ("" if pd.isna(sd) else f" ± {sd:.2g}")
                cells.append(text + ("" if rank is None or pd.isna(rank) else f" ({rank})"))
            rows.append(cells)
        for record in extra.get(setting, pd.DataFrame()).to_dict(orient="records"):
            cells = [str(record[c]) for c in shown] + [record["baseline"], "–"]
            rows.append(cells + [f"{record[s]:.4g}" if s in record else "–" for s in stats])
    return caption, headers, rows


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
    versus = "random" if record["reference"] == "random" else f"best: {record['versus']}"
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
