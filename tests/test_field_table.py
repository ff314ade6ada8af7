"""benchmarks/field_table.py reads a protocol sweep into its table and heat map (on a tiny sweep, not the real one)."""

from __future__ import annotations

import pytest

from benchmarks import field_table


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("field")
    argv = ["sweep", "--protocol", "biodiscoveryagent", "--assay", "simulated", "--descriptor", "simulated",
            "--model", "bayesian_linear", "--acquisition", "random", "--acquisition", "exploit", "--acquisition",
            "ucb", "--seeds", "3", "--cycles", "2", "--batch-size", "40", "--param", "assay.n_genes=1500",
            "--param", "descriptor.n_genes=1500", "--jobs", "1", "--out", str(out / "biodiscoveryagent")]
    with pytest.raises(SystemExit) as done:
        from gd_apps import cli

        cli.main(argv)
    assert done.value.code == 0
    return out


def test_the_table_has_the_baselines_every_strategy_and_the_verdicts(tiny, monkeypatch):
    monkeypatch.setattr(field_table, "GRIDS", {"biodiscoveryagent": ("simulated",)})
    text = field_table.table(tiny)

    lines = text.splitlines()
    assert lines[0].startswith("### `--protocol biodiscoveryagent`: final hit ratio, mean ± sd over 3 seeds")
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [r[1] for r in rows] == ["expected (random)", "ceiling (oracle)", "exploit", "random", "ucb"]
    assert rows[0][2].strip(" |") == f"{80 / 1500:.3f}"  # n / genes, no test split
    assert "[" in rows[2][2] and "[" not in rows[3][2]  # a CI for exploit against random, none for random itself
    assert "Strategies × screens vs random:" in text and "- simulated: best bayesian_linear · " in text


def test_the_heat_map_is_written(tiny, monkeypatch, tmp_path):
    monkeypatch.setattr(field_table, "GRIDS", {"biodiscoveryagent": ("simulated",)})
    image = tmp_path / "field.png"
    field_table.plot(tiny, image)
    assert image.stat().st_size > 10_000
