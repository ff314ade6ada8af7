"""Evaluation protocols: which genes are held out, what counts as a hit, and how many genes a run acquires.

The field's papers count differently, so their numbers do not line up:

- ``genedisco`` (Mehrjou et al., ICLR 2022; the default): 20% of the genes are a test set for the model's error;
  the hits are the top 5% by |y| of the other genes; gd's own default size, 8 cycles × 64.
- ``biodiscoveryagent`` (Roohani et al., ICLR 2025): no test split; 5 rounds × 128 genes (× 32 on Scharenberg's
  focused library of ~1,000 genes); the hits are the screen's published hit list (BioDiscoveryAgent's
  ``topmovers``, the top 5% of the screen by |y|) where the assay has one, else the top 5% by |y| of all genes.
  ``biodiscoveryagent_noess`` is the same without the common essential genes (CEGv2): they are removed from the
  genes a run may acquire and from the hits, as that paper's variant leaves them out of the task.
- ``discobax`` (Lyle et al., ICML 2023): no test split; the hits are the top 1% by *signed* y (the largest
  outcomes); 25 cycles × 32.

Choices where the papers leave room, stated once here: every protocol starts from a random first batch (the
models have nothing to learn from before it), and that batch counts towards the hit ratio, as every later one
does; hits are counted among the genes the descriptor covers (a gene without features cannot be chosen), so a
published list loses the genes the descriptor lacks; without a test split the error metrics (``mse``,
``spearman``) have nothing to be measured on and are refused.

This module imports nothing heavy (``gd list protocols`` reads it); ``gd_core.data`` re-exports ``HitRule``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from gd_core.errors import GdError

DEFAULT_PROTOCOL = "genedisco"


@dataclass(frozen=True)
class HitRule:
    """How the run's protocol counts hits, for acquisitions that hunt them (``ucb``, ``probability_of_hit`` …).

    ``by="abs"``: the hits are the genes of largest |y| (GeneDisco, BioDiscoveryAgent); ``by="high"``: of
    largest signed y (DiscoBAX). ``fraction`` is the share of the run's genes that are hits (0.05, 0.01; for a
    published hit list, the list's own share, e.g. 652 of 18,825 on ``bda_il2``), so that the current hit
    threshold can be estimated from the outcomes measured so far. A published list is described by the rule it
    is nearest to (BioDiscoveryAgent's lists lie in the top 5% by |y|).
    """

    by: str = "abs"
    fraction: float = 0.05


@dataclass(frozen=True)
class Protocol:
    """One way of scoring a run: its split, its hits and its default size."""

    name: str
    summary: str
    source: str
    test_fraction: float  # share of genes held out for the error metrics; 0: no test split
    hit_rule: HitRule
    batch_size: int
    cycles: int
    metrics: tuple[str, ...]
    published_hits: bool = False  # use the assay's own hit list (``attrs["hit_list"]``) where it has one
    exclude_essential: bool = False  # drop the bundled CEGv2 common essential genes from the run
    batch_size_by_assay: Mapping[str, int] = field(default_factory=dict)

    @property
    def has_test_split(self) -> bool:
        """Whether the protocol holds out test genes (only then can error metrics be computed)."""
        return self.test_fraction > 0

    def default_batch_size(self, assay: str) -> int:
        """The protocol's batch size for ``assay`` (BioDiscoveryAgent uses 32 on its small focused library)."""
        return self.batch_size_by_assay.get(assay, self.batch_size)

    def describe(self) -> dict[str, Any]:
        """Plain JSON-ready facts, for config.json, ``gd info`` and reports."""
        return {"name": self.name, "summary": self.summary, "source": self.source,
                "test_fraction": self.test_fraction, "hits_by": self.hit_rule.by,
                "hit_fraction": self.hit_rule.fraction, "published_hits": self.published_hits,
                "exclude_essential": self.exclude_essential, "batch_size": self.batch_size, "cycles": self.cycles,
                "batch_size_by_assay": dict(self.batch_size_by_assay), "metrics": list(self.metrics)}


_BDA_SOURCE = ("Roohani Y. et al., BioDiscoveryAgent: an AI agent for designing genetic perturbation experiments, "
               "ICLR 2025 (arXiv:2405.17631)")
_BDA_SMALL = {"scharenberg_2022_choline": 32}

PROTOCOLS: dict[str, Protocol] = {
    "genedisco": Protocol(
        "genedisco", "GeneDisco: 20% test split; hits = top 5% |y| of the non-test genes; 8 × 64",
        "Mehrjou A. et al., GeneDisco: a benchmark for experimental design in drug discovery, ICLR 2022",
        test_fraction=0.2, hit_rule=HitRule("abs", 0.05), batch_size=64, cycles=8,
        metrics=("mse", "hit_ratio", "spearman")),
    "biodiscoveryagent": Protocol(
        "biodiscoveryagent", "BioDiscoveryAgent: no test split; hits = the screen's published list, else top 5% "
        "|y| of all genes; 5 × 128 (5 × 32 on scharenberg_2022_choline)", _BDA_SOURCE,
        test_fraction=0.0, hit_rule=HitRule("abs", 0.05), batch_size=128, cycles=5, metrics=("hit_ratio",),
        published_hits=True, batch_size_by_assay=_BDA_SMALL),
    "biodiscoveryagent_noess": Protocol(
        "biodiscoveryagent_noess", "biodiscoveryagent without the common essential genes (CEGv2) in the pool or "
        "the hits", _BDA_SOURCE,
        test_fraction=0.0, hit_rule=HitRule("abs", 0.05), batch_size=128, cycles=5, metrics=("hit_ratio",),
        published_hits=True, exclude_essential=True, batch_size_by_assay=_BDA_SMALL),
    "discobax": Protocol(
        "discobax", "DiscoBAX: no test split; hits = top 1% by signed y (largest outcomes); 25 × 32",
        "Lyle C. et al., DiscoBAX: discovery of optimal intervention sets in genomic experiment design, ICML 2023",
        test_fraction=0.0, hit_rule=HitRule("high", 0.01), batch_size=32, cycles=25, metrics=("hit_ratio",)),
}


def get_protocol(name: object) -> Protocol:
    """The protocol called ``name``, or one line listing the protocols there are."""
    if isinstance(name, str) and name in PROTOCOLS:
        return PROTOCOLS[name]
    from gd_core.registry import closest, literal

    guess = closest(name, list(PROTOCOLS)) if isinstance(name, str) else None
    hint = f"did you mean '{guess}'? " if guess else ""
    shown = f"'{name}'" if isinstance(name, str) else literal(name)
    raise GdError(f"--protocol {shown} is not a protocol; {hint}choose one of {', '.join(PROTOCOLS)}")


@lru_cache(maxsize=1)
def essential_genes() -> frozenset[str]:
    """The bundled CEGv2 common essential genes (gd_core/resources/CEGv2.txt), as official symbols."""
    from importlib import resources

    from gd_core.helpers.genes import default_symbol_map, harmonise_names

    text = (resources.files("gd_core") / "resources" / "CEGv2.txt").read_text(encoding="utf-8")
    names = [line.split("\t")[0].strip() for line in text.splitlines()[1:] if line.strip()]
    symbols, kept, _ = harmonise_names(names, default_symbol_map())
    return frozenset(s for s, k in zip(symbols, kept) if k)
