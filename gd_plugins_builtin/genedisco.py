"""GeneDisco's real screens and the offline Gene Ontology descriptor, shipped inside gd.

The five assays, the Gene Ontology membership matrix and its default 128-dimensional SVD are processed,
derived files built by ``tools/build_data.py`` from pinned public sources; DATA.md gives each one's
definition, provenance, licence and citation.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gd_core import hookimpl

# numpy and pandas load inside the functions that compute: registering stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_SCHMIDT = ("Schmidt R, Steinhart Z, Layeghi M, et al. CRISPR activation and interference screens in primary "
            "human T cells decode cytokine regulation. bioRxiv 2021, doi:10.1101/2021.05.11.443701; GEO GSE174292")
_GEO = "GEO (public)"
_CC_BY = "CC BY 4.0"

ASSAYS: dict[str, dict[str, str]] = {
    "schmidt_2021_il2": {
        "summary": "Schmidt et al. 2021: IL-2 in primary human T cells, CRISPRi (mean LFC of two donors)",
        "value": "mean over two donors of MAGeCK RRA log-fold change (pos|lfc), IL-2 high vs low sorted T cells",
        "citation": _SCHMIDT,
        "licence": _GEO,
    },
    "schmidt_2021_ifng": {
        "summary": "Schmidt et al. 2021: IFN-γ in primary human T cells, CRISPRi (mean LFC of two donors)",
        "value": "mean over two donors of MAGeCK RRA log-fold change (pos|lfc), IFN-γ high vs low sorted T cells",
        "citation": _SCHMIDT,
        "licence": _GEO,
    },
    "zhuang_2019_nk": {
        "summary": "Zhuang et al. 2019: K562 leukaemia cells vs NK cells (sum of replicate MAGeCK-MLE z)",
        "value": "Rep1|z + Rep2|z of MAGeCK-MLE, low NK-cell selection",
        "citation": "Zhuang X, Veltri DP, Long EO. Genome-wide CRISPR screen reveals cancer cell resistance to NK "
                    "cells induced by NK-derived IFN-gamma. Front Immunol 2019, doi:10.3389/fimmu.2019.02879",
        "licence": _CC_BY,
    },
    "sanchez_2021_tau": {
        "summary": "Sanchez et al. 2021: tau levels in iPSC-derived neurons (−RSA_Down)",
        "value": "−RSA_Down at 21 days; high = knockdown lowers tau",
        "citation": "Sanchez CG, Acker CM, Gray A, et al. Genome-wide CRISPR screen identifies protein pathways "
                    "modulating tau protein levels in neurons. Commun Biol 2021, doi:10.1038/s42003-021-02272-1",
        "licence": _CC_BY,
    },
    "zhu_2021_sarscov2": {
        "summary": "Zhu et al. 2021: SARS-CoV-2 entry host factors (−ln MAGeCK positive score)",
        "value": "−ln(pos|score) of MAGeCK RRA; high = knockout enriched among surviving cells",
        "citation": "Zhu Y, Feng F, Hu G, et al. A genome-wide CRISPR screen identifies host factors that regulate "
                    "SARS-CoV-2 entry. Nat Commun 2021, doi:10.1038/s41467-021-21213-4",
        "licence": _CC_BY,
    },
}
_RESOURCES = resources.files("gd_plugins_builtin") / "resources"


@hookimpl
def gd_register_treatment_descriptors(register):
    register("gene_ontology", gene_ontology, source="bundled", licence="GO CC BY 4.0; Pfam CC0",
             details=functools.partial(_provenance, "gene_ontology"),
             citation="Carlson M., org.Hs.eg.db 3.16.0 (Bioconductor); Gene Ontology Consortium; Pfam")


def _provenance(name: str) -> dict:
    """Genes, dimensions and harmonisation counts recorded by tools/build_data.py."""
    facts = json.loads((_RESOURCES / "provenance.json").read_text(encoding="utf-8"))["datasets"][name]
    if name == "gene_ontology":
        size = sum((_RESOURCES / f).stat().st_size for f in ("gene_ontology.npz", GENE_ONTOLOGY_SVD))
        return {"genes": facts["genes"], "dims": GENE_ONTOLOGY_DIMS, "terms": facts["terms"], "size": size,
                "reduction": f"exact truncated SVD (ARPACK); the default {GENE_ONTOLOGY_DIMS} dims are shipped "
                             f"precomputed ({GENE_ONTOLOGY_SVD}), other dims or tfidf=true computed locally"}
    size = (_RESOURCES / "assays" / f"{name}.tsv.gz").stat().st_size
    return {"genes": facts.pop("genes"), "dims": 1, "size": size, "harmonisation": facts}


def bundled_assay(name: str) -> pd.Series:
    """One shipped assay: outcome per official gene symbol."""
    import numpy as np
    import pandas as pd

    with (_RESOURCES / "assays" / f"{name}.tsv.gz").open("rb") as handle:
        table = pd.read_csv(handle, sep="\t", compression="gzip", dtype={"gene": str, "value": np.float64},
                            keep_default_na=False)
    return pd.Series(table["value"].to_numpy(), index=pd.Index(table["gene"], name="gene"), name=name)


# The default descriptor is shipped as data: the exact SVD differs across BLAS kernels and thread counts by
# ~1e-12, which flips the last bit of some float32 values, so only shipped bytes are the same everywhere.
GENE_ONTOLOGY_DIMS = 128
GENE_ONTOLOGY_SVD = "gene_ontology_svd128.npz"


def gene_ontology(dims: int = 128, tfidf: bool = False) -> pd.DataFrame:
    """Gene Ontology (BP/MF/CC, propagated) and Pfam membership, reduced by exact (ARPACK) SVD; 128 dims shipped.

    The default (``dims=128, tfidf=False``) is loaded from ``gene_ontology_svd128.npz``, the SVD computed
    once by ``tools/build_data.py``, so every machine gets the same bytes. Any other ``dims``, or
    ``tfidf=True``, is computed the same way (ARPACK, float64, ``random_state=0``) at first use and kept in
    the data cache; its definition is identical, but the last bits of its float32 values may differ between
    machines (BLAS kernels, thread counts).
    """
    import numpy as np

    from gd_core.registry import BadParameter
    from gd_plugins_builtin._checks import boolean

    limit = _gene_ontology_limit()
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or not 1 <= dims < limit:
        raise BadParameter("dims", f"a whole number from 1 to {limit - 1}, fewer than the matrix's {limit} terms "
                           "(e.g. 64)", dims)
    return _reduced_gene_ontology(int(dims), boolean("tfidf", tfidf)).copy()


def _gene_ontology_limit() -> int:
    """The matrix's smaller side (genes or terms), which the number of SVD components must stay below."""
    facts = json.loads((_RESOURCES / "provenance.json").read_text(encoding="utf-8"))["datasets"]["gene_ontology"]
    return min(int(facts["genes"]), int(facts["terms"]))


def gene_ontology_matrix():
    """The binary gene × term matrix (scipy CSR) with its gene symbols and term ids."""
    with (_RESOURCES / "gene_ontology.npz").open("rb") as handle:
        return read_gene_ontology_matrix(handle)


def read_gene_ontology_matrix(source):
    """The gene × term matrix, genes and terms from a ``gene_ontology.npz`` (a path or binary file)."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    with np.load(source) as archive:
        shape = tuple(archive["shape"])
        indices, indptr = archive["indices"], archive["indptr"]
        matrix = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=shape)
        return matrix, pd.Index(archive["genes"], name="gene"), pd.Index(archive["terms"])


def exact_svd(matrix, dims: int) -> np.ndarray:
    """The gene embedding ``U * S`` of the exact truncated SVD (ARPACK, float64), as float32.

    ``random_state=0`` fixes ARPACK's start vector; signs follow scikit-learn's ``svd_flip``. Used both at
    run time and by tools/build_data.py for the shipped default, so the two share one definition.
    """
    import numpy as np
    from sklearn.decomposition import TruncatedSVD

    if dims >= min(matrix.shape):
        raise ValueError(f"dims must be below {min(matrix.shape)}, got {dims}")
    svd = TruncatedSVD(n_components=dims, algorithm="arpack", random_state=0)
    return svd.fit_transform(matrix.astype(np.float64)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _reduced_gene_ontology(dims: int, tfidf: bool) -> pd.DataFrame:
    from gd_core.helpers.downloads import cached_table

    if (dims, tfidf) == (GENE_ONTOLOGY_DIMS, False):
        return _shipped_gene_ontology()
    # The SVD takes seconds; keep its result in the data cache, keyed by the shipped matrix's checksum.
    # Version 2: exact (ARPACK) SVD; version 1 was sklearn's randomized SVD.
    with resources.as_file(_RESOURCES / "gene_ontology.npz") as source:
        key = f"gene_ontology_d{dims}" + ("_tfidf" if tfidf else "")
        return cached_table(key, [source], 2, functools.partial(_svd_gene_ontology, dims, tfidf))


def _shipped_gene_ontology() -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    with (_RESOURCES / GENE_ONTOLOGY_SVD).open("rb") as handle, np.load(handle) as archive:
        reduced, genes = archive["X"], archive["genes"]
    columns = [f"go_svd_{j}" for j in range(reduced.shape[1])]
    return pd.DataFrame(reduced, index=pd.Index(genes, name="gene"), columns=columns)


def _svd_gene_ontology(dims: int, tfidf: bool) -> pd.DataFrame:
    import pandas as pd

    matrix, genes, _ = gene_ontology_matrix()
    if tfidf:
        from sklearn.feature_extraction.text import TfidfTransformer

        matrix = TfidfTransformer().fit_transform(matrix)
    reduced = exact_svd(matrix, dims)
    columns = [f"go_svd_{j}" for j in range(dims)]
    return pd.DataFrame(reduced, index=genes, columns=columns)


# Shifrut et al. 2018 (the paper's fourth assay) is in no redistributable release: users import it.
SHIFRUT = {
    "summary": "Shifrut et al. 2018: T-cell proliferation, primary human T cells (import it: gd data import)",
    "value": "Score.1 of BioGRID ORCS screens 1107/1109, or pos|lfc of a MAGeCK gene summary; mean over files",
    "citation": "Shifrut E, Carnevale J, Tobin V, et al. Genome-wide CRISPR screens in primary human T cells "
                "reveal key regulators of immune function. Cell 2018;175(7):1958-1971",
    "licence": "not redistributed (get it from BioGRID ORCS or GEO)",
}
_SHIFRUT_HOWTO = (
    "download the gene-level results of BioGRID ORCS screens 1107 and 1109 (https://orcs.thebiogrid.org, "
    "Shifrut 2018, '*.screen.tab.txt') or a MAGeCK gene summary of GEO GSE119450, then run "
    "`gd data import shifrut_2018 FILE [FILE]`"
)


@hookimpl
def gd_register_assays(register):
    for name, info in ASSAYS.items():
        register(name, functools.partial(bundled_assay, name), source="bundled",
                 details=functools.partial(_provenance, name), **info)
    register("shifrut_2018", shifrut_2018, source="import", importer=import_shifrut,
             details=_shifrut_details, **SHIFRUT)


def _shifrut_path():
    from gd_core.helpers.downloads import data_dir

    return data_dir() / "imported" / "shifrut_2018.tsv.gz"


def _shifrut_details() -> dict:
    from gd_core.helpers.downloads import Unverified, read_verified

    path = _shifrut_path()
    try:
        read_verified(path)
        state = "imported"
    except FileNotFoundError:
        state = "needs import"
    except Unverified:
        state = "damaged: import it again"
    return {"status": state, "path": str(path)}


def shifrut_2018() -> pd.Series:
    """Shifrut 2018 T-cell proliferation screen, from the copy imported with `gd data import`."""
    import io

    import numpy as np
    import pandas as pd

    from gd_core.helpers.downloads import Unverified, read_verified
    from gd_core.errors import GdError

    path = _shifrut_path()
    try:
        data = read_verified(path)  # checked against the sha256 recorded at import
    except FileNotFoundError:
        raise GdError(f"assay 'shifrut_2018' is not shipped with gd: {_SHIFRUT_HOWTO}") from None
    except Unverified as exc:
        raise GdError(f"the imported copy of assay 'shifrut_2018' {exc}, so it is not used; import your screen "
                      "files again with `gd data import shifrut_2018 FILE [FILE]`") from None
    table = pd.read_csv(io.BytesIO(data), sep="\t", compression="gzip", dtype={"gene": str, "value": np.float64},
                        keep_default_na=False)
    return pd.Series(table["value"].to_numpy(), index=pd.Index(table["gene"], name="gene"), name="shifrut_2018")


def import_shifrut(files: list) -> str:
    """Read one or more Shifrut screen files, average them per gene, harmonise and store the result.

    A file the run could not use (unreadable, no numbers, fewer than 2 known genes in all) is refused
    before anything is written, so an earlier good import stays in place.
    """
    import gzip

    import pandas as pd

    from gd_core.helpers.downloads import write_verified
    from gd_core.errors import GdError
    from gd_core.helpers.genes import default_symbol_map, harmonise

    screens = [_read_screen(Path(f)) for f in files]
    joined = pd.concat(screens, axis=1, join="inner")  # genes measured in every file, like Schmidt's donors
    values, report = harmonise(joined.mean(axis=1).rename("shifrut_2018"), default_symbol_map(),
                               source="shifrut_2018")
    if len(values) < 2:
        shown = ", ".join(str(Path(f)) for f in files)
        why = ("they share fewer than 2 genes" if len(files) > 1 and len(joined) < 2
               else "fewer than 2 of its gene names are known human gene symbols")
        raise GdError(f"cannot import {shown} as shifrut_2018: {why}; nothing was imported; {_SHIFRUT_HOWTO}")
    text = pd.DataFrame({"gene": values.index, "value": values.to_numpy()}).to_csv(
        sep="\t", index=False, float_format="%.9g")
    path = _shifrut_path()
    write_verified(path, gzip.compress(text.encode("utf-8"), mtime=0))
    routes = ", ".join(f"{k} {v}" for k, v in report.items() if v)
    return f"imported shifrut_2018: {len(values)} genes from {len(files)} file(s) ({routes}) into {path}"


def _read_screen(path: Path) -> pd.Series:
    """Gene → finite value from a BioGRID ORCS screen file (Score.1) or a MAGeCK gene summary (pos|lfc)."""
    import numpy as np
    import pandas as pd

    from gd_core.errors import GdError

    if path.is_dir():
        raise GdError(f"{path}: is a directory, not a screen file; {_SHIFRUT_HOWTO}")
    if not path.is_file():  # a FIFO would block the reader; a missing file has nothing to read
        what = "no such file" if not path.exists() else "not a regular file"
        raise GdError(f"{path}: {what}; {_SHIFRUT_HOWTO}")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, compression="infer")
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
        raise GdError(f"{path}: cannot read it as a tab-separated screen file ({reason}); {_SHIFRUT_HOWTO}") from None
    table.columns = [str(c).lstrip("#").strip() for c in table.columns]  # ORCS headers start with '#'
    for gene, value in (("Official Symbol", "Score.1"), ("id", "pos|lfc")):
        if {gene, value} <= set(table.columns):
            numbers = pd.to_numeric(table[value], errors="coerce")
            finite = np.isfinite(numbers.to_numpy(dtype=np.float64))
            if not finite.any():
                raise GdError(f"{path}: column '{value}' holds no finite numbers; is this the right file? "
                              f"{_SHIFRUT_HOWTO}")
            series = pd.Series(numbers.to_numpy()[finite], index=table[gene].str.strip()[finite], name=path.name)
            return series.groupby(level=0).mean()  # an ORCS gene listed twice: one value per gene
    raise GdError(f"{path}: expected columns 'Official Symbol' and 'Score.1' (BioGRID ORCS) or 'id' and "
                  f"'pos|lfc' (MAGeCK), found {list(table.columns)[:6]}; {_SHIFRUT_HOWTO}")
