"""The data shipped inside gd: every assay value sits on its gene, and the Gene Ontology descriptor is sane."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gd_core.helpers.genes import default_symbol_map, harmonise
from gd_plugins_builtin.genedisco import ASSAYS, bundled_assay, gene_ontology, gene_ontology_matrix
from tools import raw_assays


@pytest.mark.parametrize("name", sorted(ASSAYS))
def test_every_bundled_value_is_its_genes_value_in_the_raw_file(name, wheel):
    raw = raw_assays.ASSAYS[name](wheel)
    shipped = bundled_assay(name)
    symbols = default_symbol_map()

    # The shipped file is exactly what harmonising the raw screen gives (to the 9 digits written).
    expected, report = harmonise(raw, symbols, source=name)
    assert shipped.index.equals(expected.index)
    np.testing.assert_allclose(shipped.to_numpy(), expected.to_numpy(), rtol=1e-8, atol=1e-12)

    # Independently of harmonise: a raw row named by its official symbol keeps its own value, except
    # where another raw row was merged into the same gene (at most report["merged"] genes).
    counts = raw.index.value_counts()
    official = [g for g in raw.index if counts[g] == 1 and symbols.resolve(g) == (g, "symbol")]
    assert len(official) / len(raw) > 0.84
    assert set(official) <= set(shipped.index)
    differs = [g for g in official if not np.isclose(shipped[g], raw[g], rtol=1e-8, atol=1e-12)]
    assert len(differs) <= report["merged"]


@pytest.mark.parametrize("name", sorted(ASSAYS))
def test_bundled_assays_are_clean_series_of_official_symbols(name):
    values = bundled_assay(name)
    symbols = default_symbol_map()

    assert values.index.is_unique and values.index.is_monotonic_increasing
    assert np.isfinite(values.to_numpy()).all()
    assert all(symbols.resolve(g) == (g, "symbol") for g in values.index)
    assert len(values) > 18_000


def test_gene_ontology_matrix_keeps_terms_on_5_to_1000_genes():
    matrix, genes, terms = gene_ontology_matrix()
    per_term = np.asarray((matrix > 0).sum(axis=0)).ravel()

    assert matrix.shape == (len(genes), len(terms))
    assert per_term.min() >= 5 and per_term.max() <= 1000
    assert np.asarray((matrix > 0).sum(axis=1)).ravel().min() >= 1  # no gene without a term
    assert genes.is_unique and genes.is_monotonic_increasing
    assert any(t.startswith("GO:") for t in terms) and any(t.startswith("PF") for t in terms)


def test_gene_ontology_descriptor_is_a_deterministic_float32_embedding():
    first = gene_ontology(dims=16)
    again = gene_ontology(dims=16)

    assert first.shape == (len(gene_ontology_matrix()[1]), 16)
    assert (first.dtypes == np.float32).all()
    assert np.isfinite(first.to_numpy()).all()
    pd.testing.assert_frame_equal(first, again)
    first.iloc[0, 0] = 1e6  # callers get a copy: the cache cannot be corrupted
    assert gene_ontology(dims=16).iloc[0, 0] != 1e6


def _shipped_svd() -> tuple[np.ndarray, np.ndarray]:
    from gd_plugins_builtin.genedisco import _RESOURCES, GENE_ONTOLOGY_SVD

    with (_RESOURCES / GENE_ONTOLOGY_SVD).open("rb") as handle, np.load(handle) as archive:
        return archive["X"], archive["genes"]


def test_default_gene_ontology_is_the_shipped_array_and_computes_no_svd(monkeypatch):
    import gd_core.helpers.downloads
    import sklearn.decomposition

    from gd_plugins_builtin.genedisco import _reduced_gene_ontology

    def refuse(*args, **kwargs):
        raise AssertionError("the default gene_ontology descriptor must be loaded, not computed or cached")

    monkeypatch.setattr(sklearn.decomposition, "TruncatedSVD", refuse)
    monkeypatch.setattr(gd_core.helpers.downloads, "cached_table", refuse)
    _reduced_gene_ontology.cache_clear()
    try:
        frame = gene_ontology()
    finally:
        _reduced_gene_ontology.cache_clear()
    shipped, genes = _shipped_svd()

    assert shipped.dtype == np.float32 and shipped.shape == (len(genes), 128)
    assert np.array_equal(frame.to_numpy(), shipped)  # bit for bit: the same on every machine
    assert (frame.dtypes == np.float32).all()
    assert list(frame.columns) == [f"go_svd_{j}" for j in range(128)]
    assert frame.index.name == "gene" and list(frame.index) == list(genes)
    assert frame.index.equals(gene_ontology_matrix()[1])  # same genes, same order as the shipped matrix


def test_other_gene_ontology_dims_are_the_exact_svd_and_agree_with_the_shipped_columns():
    from sklearn.decomposition import TruncatedSVD

    matrix, genes, _ = gene_ontology_matrix()
    frame = gene_ontology(dims=16)
    exact = TruncatedSVD(16, algorithm="arpack", random_state=0).fit_transform(matrix.astype(np.float64))

    assert frame.index.equals(genes) and list(frame.columns) == [f"go_svd_{j}" for j in range(16)]
    np.testing.assert_allclose(frame.to_numpy(), exact, rtol=0, atol=1e-5)
    # ARPACK's leading components do not depend on how many are asked for (measured: 5e-13 apart, same
    # signs), so dims=16 is the first 16 columns of the shipped 128; compared up to sign, to be safe.
    head = _shipped_svd()[0][:, :16].astype(np.float64)
    signs = np.sign((head * frame.to_numpy()).sum(axis=0))
    np.testing.assert_allclose(frame.to_numpy() * signs, head, rtol=0, atol=1e-4)


def test_gene_ontology_refuses_impossible_dimensions():
    from gd_core import GdError
    from gd_core.plugins import PluginHost

    entry = PluginHost(entry_points=False).registries.descriptors.get("gene_ontology")
    with pytest.raises(GdError, match="dims"):
        entry.create(dims=0)
