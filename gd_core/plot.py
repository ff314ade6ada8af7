"""Paper-style learning curves of a sweep: rows by assay, columns by batch size, a line per acquisition."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gd_core.errors import GdError
from gd_core.report import SweepResults

FORMATS = (".png", ".svg", ".pdf")
FACET_INCHES = (3.4, 2.6)  # width, height of one panel
SINGLE_INCHES = (5.0, 3.6)  # a figure of one panel
LEGEND_INCHES = 0.7  # below the panels
LEGEND_RIGHT_INCHES = 1.8  # beside them
DPI = 150
LABELS = {"mse": "test MSE", "hit_ratio": "hit ratio", "spearman": "Spearman ρ (test)"}


@dataclass(frozen=True)
class Layout:
    """The facets drawn: row labels (assay, with descriptor and model when they vary), batch sizes, size."""

    rows: tuple[str, ...]
    columns: tuple[int, ...]
    acquisitions: tuple[str, ...]
    size_inches: tuple[float, float]
    dpi: int


def plot_curves(results: SweepResults, metric: str, out: Path, *, dpi: int = DPI) -> Layout:
    """Draw ``metric`` against genes acquired, mean ± sd over seeds, and save it to ``out``."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise GdError(f"-o {out}: unknown image type '{out.suffix}'; use one of {', '.join(FORMATS)}")
    curves = results.curves
    if curves.empty:
        raise GdError(f"{results.root} holds no finished run yet; run `gd sweep` first (see `gd report`)")
    if metric not in results.metrics:
        raise GdError(f"metric '{metric}' was not recorded in this sweep; recorded: {', '.join(results.metrics)}")
    curves = curves[curves["metric"] == metric]

    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    # Descriptor and model only enter the row label when the sweep varies them.
    varying = [c for c in ("assay", "descriptor", "model") if c == "assay" or curves[c].nunique() > 1]
    rows = sorted(set(map(tuple, curves[varying].astype(str).to_numpy())))
    columns = sorted(curves["batch_size"].unique().tolist())
    acquisitions = sorted(curves["acquisition"].unique().tolist())
    colours = dict(zip(acquisitions, _palette(len(acquisitions))))
    # Few columns: the legend goes to the right (a row of nine names would be wider than the figure).
    legend_right = len(columns) <= 2
    facet = SINGLE_INCHES if len(rows) * len(columns) == 1 else FACET_INCHES
    size = (facet[0] * len(columns) + 0.6 + (LEGEND_RIGHT_INCHES if legend_right else 0),
            facet[1] * len(rows) + 0.3 + (0 if legend_right else LEGEND_INCHES))

    figure, axes = plt.subplots(len(rows), len(columns), figsize=size, dpi=dpi, squeeze=False,
                                sharex="col", sharey="row", layout="constrained")
    for i, row in enumerate(rows):
        selected = curves
        for column, value in zip(varying, row):
            selected = selected[selected[column].astype(str) == value]
        for j, batch_size in enumerate(columns):
            ax = axes[i][j]
            panel = selected[selected["batch_size"] == batch_size]
            for acquisition, runs in panel.groupby("acquisition", sort=True):
                stats = runs.groupby("n_acquired")["value"].agg(["mean", "std", "size"]).sort_index()
                x, mean = stats.index.to_numpy(), stats["mean"].to_numpy()
                ax.plot(x, mean, color=colours[acquisition], linewidth=1.4, label=acquisition)
                spread = stats["std"].fillna(0).to_numpy()  # one seed: no band
                ax.fill_between(x, mean - spread, mean + spread, color=colours[acquisition], alpha=0.15,
                                linewidth=0)
            if panel.empty:
                ax.text(0.5, 0.5, "no finished runs", ha="center", va="center", transform=ax.transAxes,
                        color="0.5")
            if i == 0:
                ax.set_title(f"batch size {batch_size}")
            if i == len(rows) - 1:
                ax.set_xlabel("genes acquired")
            if j == 0:
                ax.set_ylabel(f"{' · '.join(row)}\n{LABELS.get(metric, metric)}")
            ax.grid(alpha=0.3, linewidth=0.5)
    handles = [plt.Line2D([], [], color=colours[a], linewidth=2) for a in acquisitions]
    if legend_right:
        figure.legend(handles, acquisitions, loc="outside right center", frameon=False)
    else:
        figure.legend(handles, acquisitions, loc="outside lower center", ncols=min(len(acquisitions), 5),
                      frameon=False)
    seeds = curves["seed"].nunique()
    figure.suptitle(f"{LABELS.get(metric, metric)}: mean ± sd over {seeds} seed{'s' if seeds != 1 else ''}",
                    fontsize="medium")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=dpi)
    except OSError as exc:
        raise GdError(f"cannot write {out}: {exc.strerror}; choose a writable path") from None
    finally:
        plt.close(figure)
    return Layout(tuple(" · ".join(r) for r in rows), tuple(columns), tuple(acquisitions), size, dpi)


def _palette(n: int) -> list[tuple[float, float, float, float]]:
    import matplotlib

    name = "tab10" if n <= 10 else "tab20"
    cmap = matplotlib.colormaps[name]
    return [cmap(i % cmap.N) for i in range(n)]

