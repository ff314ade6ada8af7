"""More real screens, downloaded on first use from public GitHub repositories at pinned commits.

Each assay is one CSV file fetched from its raw GitHub address (``REMOTES``; tests point it at a local
server), verified against its pinned size and sha256, and importable offline with ``gd data import NAME FILE``
(the same file, verified the same way). Gene names are harmonised with ``gd_core.helpers.genes.harmonise``
as the GeneDisco assays are; ``gd data info NAME`` shows how many rows took each route.

Decisions on points the sources leave open:

- duplicate symbols (raw, or after harmonisation) are averaged: Scharenberg22 lists 1,061 rows for 1,055
  genes, and ``harmonise`` folds rows that land on one symbol into their mean (its ``merged`` count);
- Steinhart's file has the header ``0,1`` instead of ``Gene,Score``: columns are taken by position, first
  the gene, then the score, in every file;
- the PerturbTrace Shifrut table holds 26 Excel date serials instead of symbols (43160–43170 = MARCH1–11,
  43344–43358 = SEPT1–15, 43435 = DEC1, as its provenance and data/README say): they are mapped to those
  old symbols (September and December as Excel's date text, which ``harmonise`` repairs as in every other
  assay: SEPT2 → SEPTIN2, DEC1 → DELEC1), then harmonised;
- rows with a missing or non-finite score are dropped (an assay leaves unmeasured genes out).

Each screen also carries its source's published hit list (``HIT_LISTS``: BioDiscoveryAgent's
``topmovers_<screen>.npy``, the top 5% of the screen by |y| — 149 genes on Steinhart's, whose list is shorter —
and PerturbTrace's ``hit_set.npy`` for Shifrut, the 962 genes with neg_fdr < 0.05) as the assay's
``attrs["hit_list"]``, mapped to official symbols the way the scores' own names are; ``--protocol
biodiscoveryagent`` counts those hits. Both files download together and import together (``gd data import NAME
SCORES HITS``). The ``.npy`` files are only ever read after their pinned sha256 has been checked (PerturbTrace's is
a pickled object array).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from gd_core import hookimpl
from gd_core.errors import GdError
from gd_core.helpers.downloads import RemoteFile

if TYPE_CHECKING:
    import pandas as pd

_BDA = ("snap-stanford/BioDiscoveryAgent", "19673c7371c542cfa155ffaa9047c53525f9fe2e")
_PT = ("HSZD-Team/PerturbTrace", "22de40ad67835991b84a8bef4d38ec4546e5e56f")
_BDA_CITE = ("as distributed by BioDiscoveryAgent (Roohani Y. et al., BioDiscoveryAgent: an AI agent for designing "
             "genetic perturbation experiments, arXiv:2405.17631), github.com/snap-stanford/BioDiscoveryAgent @ "
             + _BDA[1][:12])
_SCHMIDT = ("Schmidt R, Steinhart Z, Layeghi M, et al. CRISPR activation and interference screens in primary "
            "human T cells decode cytokine regulation. bioRxiv 2021, doi:10.1101/2021.05.11.443701")
_BDA_LICENCE = "MIT (snap-stanford/BioDiscoveryAgent; no separate data licence stated)"


def _raw(repo: tuple[str, str], path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo[0]}/{repo[1]}/{path}"


def _bda(screen: str, sha256: str, size: int) -> RemoteFile:
    return RemoteFile(_raw(_BDA, f"datasets/ground_truth_{screen}.csv"), f"bda_ground_truth_{screen}.csv",
                      sha256=sha256, size=size)


def _bda_hits(screen: str, sha256: str, size: int) -> RemoteFile:
    return RemoteFile(_raw(_BDA, f"datasets/topmovers_{screen}.npy"), f"bda_topmovers_{screen}.npy",
                      sha256=sha256, size=size)


#: Each assay's one source file. Tests and mirrors may replace entries (same pins).
REMOTES: dict[str, RemoteFile] = {
    "carnevale_2022_adenosine": _bda(
        "Carnevale22_Adenosine", "07c8bf9c03daf1a13d02945d146c73d85233dfee945921df5265d9297169375d", 293468),
    "steinhart_crispra_gd2_d22": _bda(
        "Steinhart_crispra_GD2_D22", "16ddc7bc76cfe4683c6cf235be549b64d0e402ca831cc673806590161919274a", 502146),
    "scharenberg_2022_choline": _bda(
        "Scharenberg22", "8af56bc1b87f446a1c5fb87f9a48d96a28d32baff228f2cbe2fea24559d08255", 12210),
    "bda_il2": _bda("IL2", "40b27104ea01f9e38d42822a1021cee00529dca34fcf2c9cca7bd4bd79622503", 293457),
    "bda_ifng": _bda("IFNG", "89c363b196976bd5d4574c0edb3447e1f93c3075ccff94f031066d2aa4cdb333", 295721),
    "sanchez_2021_tau_down": _bda(
        "Sanchez21_down", "901fa303cd6002464f6e32d75f7883e677b541b8586fedc381254895a72de7cc", 357268),
    "shifrut_2018_fitdb": RemoteFile(
        _raw(_PT, "benchmarks/perturbtrace/tasks/c3_primary_tcell_function_screen_v0/hidden/oracle_scores.csv"),
        "perturbtrace_shifrut_2018_fitdb_scores.csv",
        sha256="f80c1b0cbf9cb0b2b3b4dc4e05e9c63516d224fa09d7c83463fd438fb94f1a1b", size=299808),
}

#: Each assay's published hit list (a .npy array of gene names), downloaded and verified with its scores.
HIT_LISTS: dict[str, RemoteFile] = {
    "carnevale_2022_adenosine": _bda_hits(
        "Carnevale22_Adenosine", "c2967f092f18c5892dd5dd791c3597ba05063da864685f6b5fe2575441b02b5a", 64252),
    "steinhart_crispra_gd2_d22": _bda_hits(
        "Steinhart_crispra_GD2_D22", "4e6b376d35503fe675f3a7a8072532cd80ddd92947252391170bb3ca6214d99d", 7280),
    "scharenberg_2022_choline": _bda_hits(
        "Scharenberg22", "2d303eceb30f102c1c1b11fb616311648c072328df496febfb684b00cd3f0692", 1824),
    "bda_il2": _bda_hits("IL2", "f9f55cdc3f8efed82abaaeaaf770824f0b87d8298391a7b40e39286d3ab83ed1", 31520),
    "bda_ifng": _bda_hits("IFNG", "dce64c81e702c8f8888f925432041921dd205ed880a72898916a7e39eeddaa35", 44288),
    "sanchez_2021_tau_down": _bda_hits(
        "Sanchez21_down", "43010fdc72aacc797e20b432414e0632c6dd0410624c81046cba35dc90a9d755", 37088),
    "shifrut_2018_fitdb": RemoteFile(
        _raw(_PT, "benchmarks/perturbtrace/tasks/c3_primary_tcell_function_screen_v0/hidden/hit_set.npy"),
        "perturbtrace_shifrut_2018_fitdb_hit_set.npy",
        sha256="f6efe37f2861e136d46d9990b0f95ec4c14123f35ea8cd683b4f23a8e3728ffd", size=8210),
}

INFO: dict[str, dict[str, str]] = {
    "carnevale_2022_adenosine": {
        "summary": "Carnevale et al. 2022: primary human T-cell proliferation under an adenosine agonist, "
                   "knockout (BioDiscoveryAgent; downloaded)",
        "value": "change in T-cell proliferation under adenosine-agonist immunosuppression; high = knockout "
                 "boosts engineered T cells (BioDiscoveryAgent's Score)",
        "citation": "Carnevale J. et al., RASA2 ablation in T cells boosts antigen sensitivity and long-term "
                    "function, Nature 2022; " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "steinhart_crispra_gd2_d22": {
        "summary": "Steinhart et al.: CRISPRa in HA-GD2 CAR T cells, resistance to exhaustion at day 22 "
                   "(BioDiscoveryAgent; downloaded)",
        "value": "log fold change of normalised sgRNA read counts vs non-targeting control, 22 days after "
                 "activation, HA GD2 CAR condition (file header '0,1': gene, score)",
        "citation": "Steinhart et al., CRISPRa screen in HA-GD2 CAR T cells (day 22; publication year not stated "
                    "in the source); " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "scharenberg_2022_choline": {
        "summary": "Scharenberg et al. 2022: lysosomal choline recycling, endolysosome-focused knockout library "
                   "(1,055 genes; BioDiscoveryAgent; downloaded)",
        "value": "sgRNA enrichment or depletion (high score) in medium without free choline; duplicate gene "
                 "rows averaged",
        "citation": "Scharenberg S. G. et al., An SPNS1-dependent lysosomal lipid transport pathway that enables "
                    "cell survival under choline limitation (bioRxiv 2022); " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "bda_il2": {
        "summary": "BioDiscoveryAgent's IL-2 table of the Schmidt et al. 2021 screen (not GeneDisco's donor "
                   "mean, r = 0.74; downloaded)",
        "value": "log fold change of IL-2 normalised read counts (BioDiscoveryAgent's Score)",
        "citation": _SCHMIDT + "; " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "bda_ifng": {
        "summary": "BioDiscoveryAgent's IFN-γ table of the Schmidt et al. 2021 screen (equals GeneDisco's "
                   "donor mean for 17,332 of 17,771 shared genes; downloaded)",
        "value": "log fold change of IFN-γ normalised read counts (BioDiscoveryAgent's Score)",
        "citation": _SCHMIDT + "; " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "sanchez_2021_tau_down": {
        "summary": "Sanchez et al. 2021: tau levels in iPSC-derived neurons, BioDiscoveryAgent's 'down' table "
                   "(downloaded)",
        "value": "change in total tau vs non-targeting control (BioDiscoveryAgent's Sanchez21_down Score; its "
                 "other Sanchez21 table equals GeneDisco's RSA_Down, i.e. −sanchez_2021_tau, so it is not "
                 "registered)",
        "citation": "Sanchez C. G. et al., Genome-wide CRISPR screen identifies protein pathways modulating tau "
                    "protein levels in neurons, Commun Biol 2021; " + _BDA_CITE,
        "licence": _BDA_LICENCE,
    },
    "shifrut_2018_fitdb": {
        "summary": "Shifrut et al. 2018: T-cell proliferation, FITdb cell_vs_cell_4 as PerturbTrace's oracle "
                   "table (19,106 genes; downloaded)",
        "value": "−neg_lfc of non-proliferating vs highly proliferating primary human T cells (FITdb API "
                 "cell_vs_cell_4); duplicate symbols averaged by PerturbTrace",
        "citation": "Shifrut E. et al., Genome-wide CRISPR screens in primary human T cells reveal key regulators "
                    "of immune function, Cell 2018;175(7):1958-1971; via FITdb and PerturbTrace, "
                    "github.com/HSZD-Team/PerturbTrace @ " + _PT[1][:12],
        "licence": "MIT (HSZD-Team/PerturbTrace); FITdb public web API",
    },
}

# Excel turned these symbols into 2018 dates; the table holds the date serials (provenance, data/README).
# September and December become the date text Excel shows ("2-Sep"), which harmonise repairs as it does in
# every other assay (SEPT2 -> SEPTIN2, DEC1 -> DELEC1, where the old symbols alone are ambiguous or point
# elsewhere); March becomes MARCH<d>, as data/README records, because "1-Mar" could also be MARC1.
EXCEL_SERIALS: dict[str, str] = {
    **{str(43160 + k): f"MARCH{k + 1}" for k in range(11)},
    **{str(43344 + k): f"{k + 1}-Sep" for k in range(15)},
    "43435": "1-Dec",
}


@hookimpl
def gd_register_assays(register):
    for name, remote in REMOTES.items():
        register(name, functools.partial(screen, name), source="download", url=remote.url,
                 files=(remote, HIT_LISTS[name]), details=functools.partial(details, name), **INFO[name])


def screen(name: str) -> pd.Series:
    """One downloaded screen: outcome per official gene symbol, with its published hit list as
    ``attrs["hit_list"]`` (both fetched and verified on first use)."""
    from gd_core.helpers.downloads import fetch

    scores = fetch(REMOTES[name], name=name)
    hit_path = fetch(HIT_LISTS[name], name=name)
    values, _report = _harmonised(name, scores)
    values.attrs["hit_list"] = published_hits(name, scores, hit_path)
    return values


def published_hits(name: str, scores: Path, hit_path: Path) -> list[str]:
    """The screen's published hit list as official symbols, sorted: each listed name mapped as the same name is
    among the scores (so a hit and its score land on one symbol); a name the scores lack is harmonised alone."""
    from gd_core.helpers.genes import default_symbol_map, harmonise_names

    listed = [EXCEL_SERIALS.get(n, n) if name == "shifrut_2018_fitdb" else n for n in read_hit_list(name, hit_path)]
    raw, _ = read_screen(name, scores)
    symbol_map = default_symbol_map()
    symbols, kept, _ = harmonise_names(list(raw.index), symbol_map)
    as_scored = {n: s for n, s, k in zip(raw.index, symbols, kept) if k}
    alone = [n for n in listed if n not in as_scored]
    alone_symbols, alone_kept, _ = harmonise_names(alone, symbol_map) if alone else ([], [], {})
    as_listed = {n: s for n, s, k in zip(alone, alone_symbols, alone_kept) if k}
    return sorted({as_scored.get(n) or as_listed.get(n) for n in listed} - {None})


def read_hit_list(name: str, path: Path) -> list[str]:
    """Gene names from a verified .npy hit list (a 1-D array of strings; PerturbTrace's is a pickled object array,
    which is why only files whose pinned sha256 was checked are read)."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError) as exc:
        raise GdError(f"assay '{name}': cannot read its hit list {path} ({' '.join(str(exc).split())}); "
                      f"run `gd data fetch {name} --force`, or offline `gd data import {name} SCORES HITS`") from None
    if array.ndim != 1:
        raise GdError(f"assay '{name}': its hit list {path} is not a list of genes (shape {array.shape}); "
                      f"run `gd data fetch {name} --force`, or offline `gd data import {name} SCORES HITS`")
    return [str(n).strip() for n in array.tolist()]


def details(name: str) -> dict:
    """Genes and harmonisation counts of a cached screen (nothing is downloaded to answer)."""
    from gd_core.helpers.downloads import CACHED, cached_path, status

    remote = REMOTES[name]
    if status(remote) != CACHED:
        return {}
    values, report = _harmonised(name, cached_path(remote))
    facts = {"genes": len(values), "dims": 1, "harmonisation": report}
    if status(HIT_LISTS[name]) == CACHED:
        facts["published hits"] = len(published_hits(name, cached_path(remote), cached_path(HIT_LISTS[name])))
    return facts


def _harmonised(name: str, path: Path) -> tuple[pd.Series, dict[str, int]]:
    from gd_core.helpers.genes import default_symbol_map, harmonise

    raw, serials = read_screen(name, path)
    values, report = harmonise(raw, default_symbol_map(), source=name)
    if serials:
        report = {**report, "excel_serials": serials}
    values.index.name = "gene"
    return values.rename(name), report


def read_screen(name: str, path: Path) -> tuple[pd.Series, int]:
    """Raw gene name → finite score from a two-column CSV (gene, score), and how many Excel serials were mapped."""
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise GdError(f"assay '{name}': cannot read {path} ({' '.join(str(exc).split())}); "
                      f"run `gd data fetch {name} --force`") from None
    if frame.shape[1] != 2:
        raise GdError(f"assay '{name}': {path} has {frame.shape[1]} columns, not 2 (gene, score); "
                      f"run `gd data fetch {name} --force`")
    # By position: Steinhart's header is '0,1', the others 'Gene,Score' or 'action_id,score'.
    genes = frame.iloc[:, 0].str.strip()
    scores = pd.to_numeric(frame.iloc[:, 1], errors="coerce").to_numpy(dtype=np.float64)
    serials = 0
    if name == "shifrut_2018_fitdb":
        mapped = genes.map(EXCEL_SERIALS)
        serials = int(mapped.notna().sum())
        genes = mapped.fillna(genes)
    finite = np.isfinite(scores)
    return pd.Series(scores[finite], index=pd.Index(genes[finite].to_numpy(), dtype=object), name=name), serials
