"""Paper-style learning curves of a sweep: rows by assay, columns by batch size, a line per acquisition."""

from __future__ import annotations

import os
import secrets
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_apps.report import (CEILING_ORACLE, EXPECTED_RANDOM, SweepResults, check_metric, did_you_mean,
                            expected_random, oracle_ceiling)

FORMATS = (".png", ".svg", ".pdf")
FACET_INCHES = (3.4, 2.6)  # width, height of one panel
SINGLE_INCHES = (5.0, 3.6)  # a figure of one panel
LEGEND_INCHES = 0.7  # below the panels
LEGEND_RIGHT_INCHES = 1.8  # beside them
DPI = 150
ROW_TITLE_POINTS = 10  # font size of a row's label beside its panels
LABELS = {"mse": "test MSE", "hit_ratio": "hit ratio", "spearman": "Spearman ρ (test)"}
BASELINE_STYLES = {EXPECTED_RANDOM: {"color": "0.45", "linestyle": "--", "linewidth": 0.9},
                   CEILING_ORACLE: {"color": "0.45", "linestyle": ":", "linewidth": 1.2}}


@dataclass(frozen=True)
class Layout:
    """The facets drawn: row labels (assay, with descriptor and model when they vary), batch sizes (of the columns;
    one column of None when every row has a batch size of its own, as a protocol may set per assay: those are
    ``row_batch_sizes``), size."""

    rows: tuple[str, ...]
    columns: tuple[int | None, ...]
    acquisitions: tuple[str, ...]
    size_inches: tuple[float, float]
    dpi: int
    baselines: tuple[str, ...] = ()  # the analytic lines drawn (hit ratio: random's expectation, oracle's ceiling)
    row_batch_sizes: tuple[int, ...] = ()  # each row's own batch size, when the rows have one each


def check_output(out: Path) -> None:
    """Refuse an ``-o`` the figure cannot or should not be written to: a directory, a read-only file, an unknown
    type, a parent that is a file."""
    out = Path(out)
    try:
        if out.is_dir():
            raise GdError(f"-o {out} is a directory; give an image file path such as {out / 'curves.png'}")
        if out.exists() and not os.access(out, os.W_OK):  # replacing it would work (a rename), but it says keep me
            raise GdError(f"-o {out} is read-only; make it writable or choose another path")
        parent = out.parent
        while not parent.exists() and parent != parent.parent:  # missing directories are created; the first
            parent = parent.parent                               # that exists must be one
    except OSError as exc:  # a directory on the way that may not be searched
        raise GdError(f"cannot write -o {out}: {exc.strerror or exc}; choose a writable path") from None
    if not parent.is_dir():
        raise GdError(f"-o {out}: {parent} is a file, not a directory; choose another path")
    if not out.suffix:
        raise GdError(f"-o {out} has no file type; end it in {', '.join(FORMATS)}")
    if out.suffix.lower() not in FORMATS:
        hint = did_you_mean(out.suffix.lower(), FORMATS).strip() or f"use one of {', '.join(FORMATS)}"
        raise GdError(f"-o {out}: unknown image type '{out.suffix}'; {hint}")


def plot_curves(results: SweepResults, metric: str, out: Path, *, dpi: int = DPI) -> Layout:
    """Draw ``metric`` against genes acquired, mean ± sd over seeds, and save it to ``out``.

    Missing directories are created. An existing file is replaced only by a complete figure: it is written
    beside ``out`` first and renamed over it, so a failed or interrupted save leaves the old file as it was.
    """
    out = Path(out)
    check_output(out)
    figure, layout = draw_curves(results, metric, dpi=dpi)
    import matplotlib.pyplot as plt  # after draw_curves has chosen the file-only backend

    temporary = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}{out.suffix}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide the mode, as for any file a user's tool writes.
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            figure.savefig(handle, format=out.suffix[1:].lower(), dpi=dpi)
        os.replace(temporary, out)
    except OSError as exc:
        raise GdError(f"cannot write -o {out}: {exc.strerror or exc}; choose a writable path with free space"
                      ) from None
    finally:
        plt.close(figure)
        temporary.unlink(missing_ok=True)
    return layout


def draw_curves(results: SweepResults, metric: str, *, dpi: int = DPI) -> tuple[Any, Layout]:
    """The figure of ``plot_curves``, not saved; the caller closes it (``matplotlib.pyplot.close``)."""
    curves = results.curves
    if curves.empty:
        raise GdError(f"{results.root} holds no finished run yet; run `gd sweep` first (see `gd report "
                      f"{results.root}`)")
    check_metric(results, metric)
    curves = curves[curves["metric"] == metric]
    if curves.empty:  # runs that will record it have not finished yet
        raise GdError(f"no finished run of {results.root} has recorded {metric} yet; choose another --metric")

    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    # Descriptor and model only enter the row label when the sweep varies them.
    varying = [c for c in ("assay", "descriptor", "model") if c == "assay" or curves[c].nunique() > 1]
    rows = sorted(set(map(tuple, curves[varying].astype(str).to_numpy())))
    columns = sorted(curves["batch_size"].unique().tolist())
    # A protocol may set the batch size per assay (biodiscoveryagent: 32 on a small library, else 128): when every
    # row has one batch size of its own, each row is one panel at its size instead of a grid of empty panels.
    per_row = {row: sorted(curves[(curves[varying].astype(str) == list(row)).all(axis=1)]["batch_size"].unique())
               for row in rows}
    own_sizes = len(columns) > 1 and all(len(sizes) == 1 for sizes in per_row.values())
    if own_sizes:
        columns = [None]  # stands for "the row's own batch size"
    acquisitions = sorted(curves["acquisition"].unique().tolist())
    colours = dict(zip(acquisitions, _palette(len(acquisitions))))
    # Few columns: the legend goes to the right (a row of nine names would be wider than the figure).
    legend_right = len(columns) <= 2
    facet = SINGLE_INCHES if len(rows) * len(columns) == 1 else FACET_INCHES
    size = (facet[0] * len(columns) + 0.6 + (LEGEND_RIGHT_INCHES if legend_right else 0),
            facet[1] * len(rows) + 0.3 + (0 if legend_right else LEGEND_INCHES))

    figure, axes = plt.subplots(len(rows), len(columns), figsize=size, dpi=dpi, squeeze=False,
                                sharex=False if own_sizes else "col", sharey="row", layout="constrained")
    drawn: set[str] = set()
    for i, row in enumerate(rows):
        selected = curves
        for column, value in zip(varying, row):
            selected = selected[selected[column].astype(str) == value]
        for j, batch_size in enumerate(columns):
            ax = axes[i][j]
            if batch_size is None:
                batch_size = per_row[row][0]
                ax.set_title(f"batch size {batch_size}", fontsize="small")
            panel = selected[selected["batch_size"] == batch_size]
            for acquisition, runs in panel.groupby("acquisition", sort=True):
                stats = runs.groupby("n_acquired")["value"].agg(["mean", "std", "size"]).sort_index()
                x, mean = stats.index.to_numpy(), stats["mean"].to_numpy()
                ax.plot(x, mean, color=colours[acquisition], linewidth=1.4, label=acquisition)
                spread = stats["std"].fillna(0).to_numpy()  # one seed: no band
                ax.fill_between(x, mean - spread, mean + spread, color=colours[acquisition], alpha=0.15,
                                linewidth=0)
            if metric == "hit_ratio" and not panel.empty:
                drawn.update(_draw_baselines(ax, panel, results.runs))
            if panel.empty:
                ax.text(0.5, 0.5, "no finished runs", ha="center", va="center", transform=ax.transAxes,
                        color="0.5")
            if i == 0 and not own_sizes:
                ax.set_title(f"batch size {batch_size}")
            if i == len(rows) - 1:
                ax.set_xlabel("genes acquired")
            if j == 0:
                ax.set_ylabel(LABELS.get(metric, metric))
            if j == len(columns) - 1:
                _row_title(ax, row, facet[1])
            ax.grid(alpha=0.3, linewidth=0.5)
    baselines = tuple(name for name in BASELINE_STYLES if name in drawn)
    handles = [plt.Line2D([], [], color=colours[a], linewidth=2) for a in acquisitions]
    handles += [plt.Line2D([], [], **BASELINE_STYLES[name]) for name in baselines]
    names = [*acquisitions, *baselines]
    if legend_right:
        figure.legend(handles, names, loc="outside right center", frameon=False)
    else:
        figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5), frameon=False)
    seeds = curves["seed"].nunique()
    figure.suptitle(f"{LABELS.get(metric, metric)}: mean ± sd over {seeds} seed{'s' if seeds != 1 else ''}",
                    fontsize="medium")
    return figure, Layout(tuple(" · ".join(r) for r in rows), tuple(columns), tuple(acquisitions), size, dpi,
                          baselines, tuple(int(per_row[r][0]) for r in rows) if own_sizes else ())


def _row_title(ax: Any, row: tuple[str, ...], panel_inches: float) -> None:
    """The row's label in a strip right of its last panel, turned to run down it (as ggplot's facet_grid does).

    It is wrapped at its " · " separators to the panel's height, so a long assay · descriptor · model label
    stays beside its own row instead of running into the next one (the y axis keeps only the metric's name).
    Constrained layout makes room for it, as it does for the axis labels.
    """
    fits = max(12, int(panel_inches * 72 * 0.8 / (ROW_TITLE_POINTS * 0.6)))  # characters down the panel
    lines: list[str] = []
    for part in row:
        for piece in textwrap.wrap(part, fits) or [""]:
            if lines and len(lines[-1]) + 3 + len(piece) <= fits:
                lines[-1] += f" · {piece}"
            else:
                lines.append(piece)
    ax.annotate("\n".join(lines), xy=(1, 0.5), xycoords="axes fraction", xytext=(6, 0), textcoords="offset points",
                rotation=-90, ha="left", va="center", ma="center", fontsize=ROW_TITLE_POINTS)


def _draw_baselines(ax: Any, panel: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """Random's expected hit ratio and the oracle's ceiling as thin grey lines; returns the labels drawn.

    Pool size and hits are the mean over the panel's runs (they differ only when the split follows the seed).
    """
    known = runs[runs["key"].isin(panel["key"].unique())].dropna(subset=["n_pool", "n_hits"])
    if known.empty:  # runs written before config.json recorded them
        return []
    n_pool, n_hits = known["n_pool"].mean(), known["n_hits"].mean()
    lo, hi = panel["n_acquired"].min(), panel["n_acquired"].max()
    x = np.unique(np.concatenate([[lo, hi], [n_hits] if lo < n_hits < hi else []])).astype(float)  # the kink
    ax.plot(x, expected_random(x, n_pool), label=EXPECTED_RANDOM, zorder=1, **BASELINE_STYLES[EXPECTED_RANDOM])
    ax.plot(x, oracle_ceiling(x, n_hits), label=CEILING_ORACLE, zorder=1, **BASELINE_STYLES[CEILING_ORACLE])
    return [EXPECTED_RANDOM, CEILING_ORACLE]


def _palette(n: int) -> list[tuple[float, float, float, float]]:
    import matplotlib

    name = "tab10" if n <= 10 else "tab20"
    cmap = matplotlib.colormaps[name]
    return [cmap(i % cmap.N) for i in range(n)]

