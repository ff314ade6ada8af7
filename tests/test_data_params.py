"""Parameters of the built-in datasets: every bad value is refused up front, in one line naming it."""

from __future__ import annotations

import time

import pytest

from gd_plugins_builtin import simulated
from tests.helpers import gd, run_args


def refusal(capsys, argv: list[str]) -> str:
    """The one error line of a refused command."""
    code, _, stderr = gd(capsys, argv)
    assert code == 1, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "Traceback" not in stderr
    return line


@pytest.mark.parametrize(("param", "complaint"), [
    ("descriptor.n_genes=abc", 'descriptor \'simulated\': n_genes must be a positive integer (e.g. 2000), got "abc" '
                               "(set as descriptor.n_genes)"),
    ("descriptor.n_genes=-5", "n_genes must be a positive integer (e.g. 2000), got -5"),
    ("descriptor.n_genes=0", "n_genes must be a positive integer (e.g. 2000), got 0"),
    ("descriptor.n_genes=600.5", "n_genes must be a positive integer (e.g. 2000), got 600.5"),
    ("descriptor.n_genes=true", "n_genes must be a positive integer (e.g. 2000), got true"),
    ("descriptor.n_features=0", "n_features must be a positive integer (e.g. 64), got 0"),
    ("descriptor.n_modules=[3]", "n_modules must be a positive integer (e.g. 20), got [3]"),
    ("descriptor.seed=-1", "seed must be a whole number ≥ 0, got -1 (set as descriptor.seed)"),
    ("assay.n_genes=null", "assay 'simulated': n_genes must be a positive integer (e.g. 2000), got null"),
    ("assay.noise=-0.1", "assay 'simulated': noise must be a number in [0, inf) (e.g. 0.3), got -0.1"),
    ("assay.noise=NaN", "noise must be a number in [0, inf) (e.g. 0.3), got nan (set as assay.noise)"),
    ("assay.noise=Infinity", "noise must be a number in [0, inf) (e.g. 0.3), got inf"),
    ("assay.noise=loud", 'noise must be a number in [0, inf) (e.g. 0.3), got "loud"'),
])
def test_a_bad_simulated_parameter_is_named(tmp_path, capsys, param, complaint):
    assert complaint in refusal(capsys, run_args(tmp_path / "r", "--param", param))


def test_a_simulated_screen_too_large_for_memory_is_refused_at_once(tmp_path, capsys):
    started = time.perf_counter()
    line = refusal(capsys, run_args(tmp_path / "r", "--param", "descriptor.n_genes=1000000000"))

    assert time.perf_counter() - started < 10  # refused before anything was allocated
    assert "n_genes must be at most about" in line and "with n_features=8 on this machine" in line
    assert "1,000,000,000 genes need about 416.0 GB of memory" in line and "(set as descriptor.n_genes)" in line


def test_the_memory_limit_follows_what_the_machine_has_free(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(simulated, "available_memory", lambda: 1_000_000)  # 1 MB free

    line = refusal(capsys, run_args(tmp_path / "r", "--param", "descriptor.n_genes=5000"))

    # 5,000 genes × (320 + 12 × 8 features) bytes = 2.1 MB; 1 MB holds 2,403 of them.
    assert "n_genes must be at most about 2,403 with n_features=8 on this machine" in line
    assert "5,000 genes need about 2.1 MB of memory to load and align, more than the 1.0 MB available" in line


def test_available_memory_is_a_positive_number_here():
    available = simulated.available_memory()

    assert available is not None and available > 100_000_000


@pytest.mark.parametrize(("param", "complaint"), [
    ("dims=abc", "descriptor 'gene_ontology': dims must be a whole number from 1 to 13475, fewer than the "
                 'matrix\'s 13476 terms (e.g. 64), got "abc"'),
    ("dims=0", "got 0"),
    ("dims=13476", "got 13476"),
    ("dims=true", "got true"),
    ("dims=2.5", "got 2.5"),
    ("tfidf=yes", 'descriptor \'gene_ontology\': tfidf must be true or false, got "yes"'),
    ("tfidf=1", "tfidf must be true or false, got 1"),
])
def test_a_bad_gene_ontology_parameter_is_named(tmp_path, capsys, param, complaint):
    line = refusal(capsys, ["data", "export", "gene_ontology", "--param", param, str(tmp_path / "go.csv")])

    assert complaint in line
    assert list(tmp_path.iterdir()) == []
