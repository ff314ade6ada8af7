"""The example notebook (issue 14) runs from top to bottom, fresh, in an empty directory, and shows what the committed,
executed copy shows: every number is seeded, so the text outputs are the same, and the notebook cannot rot.

After a change that moves its numbers, run ``python -m tests.test_notebook`` to execute it again and store the outputs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbclient  # the test extra (pip install -e '.[test]') brings nbclient, nbformat and ipykernel
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebooks" / "gd_tour.ipynb"
CELL_TIMEOUT = 60  # seconds per cell; the whole notebook takes about 10 s on two cores
MAX_BYTES = 1_000_000


def execute(directory: Path) -> tuple[object, float]:
    """The notebook executed in ``directory`` (its working directory), and the seconds it took."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(directory)}})
    started = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - started


def texts(notebook: object) -> list[list[str]]:
    """Per code cell, what it printed on stdout and the text form of its value; images and HTML aside."""
    shown = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        # stdout arrives in chunks whose boundaries depend on timing: one string per cell
        printed = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        values = [o.data.get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result"]
        shown.append([printed, *values])
    return shown


def test_the_notebook_runs_fresh_and_shows_what_its_committed_outputs_show(tmp_path):
    committed = nbformat.read(NOTEBOOK, as_version=4)

    fresh, seconds = execute(tmp_path)

    errors = [o for cell in fresh.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    # the committed copy is executed, small, and shows what a fresh run shows
    assert all(cell.outputs for cell in committed.cells if cell.cell_type == "code" and "import" not in cell.source)
    assert NOTEBOOK.stat().st_size < MAX_BYTES
    assert texts(fresh) == texts(committed)
    # what each part is about is there: the run, the sweep's runs and report, the campaign's rounds and plots
    shown = "\n".join(part for parts in texts(fresh) for part in parts)
    assert "RunResult(random_forest + topuncertain on schmidt_2021_il2 / gene_ontology" in shown
    assert "gd run --model random_forest --batch-size 32 --cycles 6 --param model.n_estimators=10" in shown
    assert shown.count(" done") == 4 and "final_hit_ratio_mean" in shown and "verdict" in shown
    assert "round 2: proposed" in shown and "same plate: True" in shown
    assert "GdError: --batch-size must be a positive whole number, got 0" in shown
    images = [o for cell in fresh.cells if cell.cell_type == "code" for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the run's curve, the sweep's curves, the campaign's status
    # it wrote only into its working directory
    assert {p.name for p in tmp_path.iterdir()} >= {"runs", "sweeps", "il2-campaign", "campaign-status.png"}
    assert json.loads((tmp_path / "runs" / "il2-forest-topuncertain" / "config.json").read_text())["settings"]["cycles"] == 6
    assert seconds < 60, f"the notebook took {seconds:.0f} s; keep it small"


if __name__ == "__main__":  # python -m tests.test_notebook: execute the notebook and store it with its outputs
    import os
    import tempfile

    os.environ["GD_LOAD_PLUGINS"] = ""  # as under pytest (tests/conftest.py): installed plugins stay out
    with tempfile.TemporaryDirectory() as directory:
        executed, took = execute(Path(directory))
    nbformat.write(executed, NOTEBOOK)
    print(f"executed {NOTEBOOK} in {took:.1f} s ({NOTEBOOK.stat().st_size:,} bytes)", file=sys.stderr)
