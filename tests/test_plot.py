"""`gd plot`'s facets: each row's label stays beside its own row, clear of the axes' labels."""

from __future__ import annotations

import pytest

from gd_core.loop import RunConfig
from gd_apps.report import load_results
from tests.test_report import record, write_run

# Two rows whose labels (assay · descriptor · model) are longer than a panel is high.
ROWS = (("schmidt_2021_ifng", "gene_ontology", "random_forest"), ("zhu_2021_sarscov2", "achilles", "bnn"))


@pytest.fixture
def long_rows(tmp_path):
    root = tmp_path / "sweep"
    runs = [RunConfig(assay, descriptor, model, acquisition, batch_size, 3, seed=seed, metrics=("mse", "hit_ratio"))
            for assay, descriptor, model in ROWS for batch_size in (16, 32, 64)
            for acquisition in ("random", "topuncertain") for seed in (0, 1)]
    record(root, runs)
    for run in runs:
        lift = 0.1 if run.acquisition == "topuncertain" else 0.0
        write_run(root, run, {"mse": [1.0 - 0.1 * c - lift for c in range(3)],
                              "hit_ratio": [0.05 * c + lift for c in range(3)]},
                  [run.batch_size * (c + 1) for c in range(3)], data={"n_pool": 1000, "n_hits": 50})
    return root


@pytest.mark.parametrize("metric", ["mse", "hit_ratio"])
def test_row_titles_stay_beside_their_row_and_clear_of_every_label(long_rows, metric):
    import matplotlib.pyplot as plt

    from gd_apps.plot import LABELS, draw_curves

    figure, layout = draw_curves(load_results(long_rows), metric)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        axes = [figure.axes[i * 3:(i + 1) * 3] for i in range(2)]
        titles = [[text for text in row[-1].texts if text.get_rotation() == 270] for row in axes]
        assert [len(t) for t in titles] == [1, 1]
        shown = [" ".join(t[0].get_text().replace(" · ", " ").split()) for t in titles]
        assert shown == [" ".join(row) for row in ROWS]  # the whole label, only re-wrapped
        assert layout.rows == tuple(" · ".join(row) for row in ROWS)

        labels = [ax.yaxis.label for row in axes for ax in row if ax.yaxis.label.get_text()]
        assert {label.get_text() for label in labels} == {LABELS[metric]}  # the y axis names only the metric
        others = [*labels, *(tick for row in axes for ax in row for tick in ax.get_yticklabels() if tick.get_text())]
        page = figure.bbox
        for i, (title,) in enumerate(titles):
            box = title.get_window_extent(renderer)
            panel = axes[i][-1].get_window_extent(renderer)
            assert panel.y0 - 1 <= box.y0 and box.y1 <= panel.y1 + 1, f"row {i}'s title runs past its row"
            assert box.x0 >= panel.x1 and box.x1 <= page.x1, f"row {i}'s title is not in the figure's margin"
            assert not any(box.overlaps(other.get_window_extent(renderer)) for other in others)
        assert not titles[0][0].get_window_extent(renderer).overlaps(titles[1][0].get_window_extent(renderer))
    finally:
        plt.close(figure)
