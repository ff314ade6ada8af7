"""Data contracts: the aligned dataset, the pool view an acquisition sees, and model capabilities."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_core.tables import require_shared_genes


@dataclass(frozen=True)
class Dataset:
    """Descriptor features and assay outcomes for the genes both cover, row i describing ``genes[i]``."""

    X: np.ndarray  # float32 [n, d]
    y: np.ndarray  # float32 [n]
    genes: pd.Index  # unique gene symbols, sorted
    feature_names: pd.Index

    def __post_init__(self) -> None:
        n = len(self.genes)
        if self.X.dtype != np.float32 or self.X.ndim != 2 or self.X.shape[0] != n:
            raise ValueError(f"X must be float32 [{n}, d], got {self.X.dtype} {self.X.shape}")
        if self.y.dtype != np.float32 or self.y.shape != (n,):
            raise ValueError(f"y must be float32 [{n}], got {self.y.dtype} {self.y.shape}")

    @property
    def n(self) -> int:
        """Number of genes."""
        return len(self.genes)

    def checksums(self) -> dict[str, str]:
        """sha256 of the aligned features, outcomes and gene list, for the run manifest."""
        return {
            "X_sha256": hashlib.sha256(np.ascontiguousarray(self.X).tobytes()).hexdigest(),
            "y_sha256": hashlib.sha256(self.y.tobytes()).hexdigest(),
            "genes_sha256": genes_checksum(self.genes),
        }


def genes_checksum(genes: Any) -> str:
    """sha256 of gene symbols, one per line in the given order (the aligned order is sorted)."""
    return hashlib.sha256("\n".join(map(str, genes)).encode()).hexdigest()


def align(descriptor: Any, assay: Any, *, descriptor_name: str, assay_name: str) -> Dataset:
    """Inner-join a descriptor (DataFrame by gene) and an assay (Series by gene) on gene symbol.

    The result is sorted by gene symbol, so it does not depend on either source's row order; every
    refusal names the source at fault.
    """
    if not isinstance(descriptor, pd.DataFrame):
        raise GdError(f"descriptor '{descriptor_name}' returned {type(descriptor).__name__}; "
                      "a descriptor factory must return a pandas DataFrame indexed by gene")
    if isinstance(assay, pd.DataFrame) and assay.shape[1] == 1:
        assay = assay.iloc[:, 0]
    if not isinstance(assay, pd.Series):
        raise GdError(f"assay '{assay_name}' returned {type(assay).__name__}; "
                      "an assay factory must return a pandas Series indexed by gene")
    _refuse_duplicates(descriptor.index, f"descriptor '{descriptor_name}'")
    _refuse_duplicates(assay.index, f"assay '{assay_name}'")
    non_numeric = [c for c in descriptor.columns if not pd.api.types.is_numeric_dtype(descriptor[c])]
    if non_numeric:
        raise GdError(f"descriptor '{descriptor_name}' has non-numeric columns {non_numeric[:3]}; "
                      "drop or encode them in the descriptor")
    if not pd.api.types.is_numeric_dtype(assay):
        raise GdError(f"assay '{assay_name}' has non-numeric values ({assay.dtype}); convert them to floats")

    genes = pd.Index(descriptor.index.intersection(assay.index).astype(str)).sort_values()
    require_shared_genes(descriptor.index, assay.index, descriptor=f"descriptor '{descriptor_name}'",
                         assay=f"assay '{assay_name}'")
    rows = descriptor.index.astype(str).get_indexer(genes)
    values = assay.index.astype(str).get_indexer(genes)
    # Labels must follow their gene: check explicitly rather than trust positional arithmetic.
    if (rows < 0).any() or (values < 0).any() or not (
        descriptor.index[rows].astype(str).equals(genes) and assay.index[values].astype(str).equals(genes)
    ):
        raise AssertionError("alignment put a row on the wrong gene")
    X = np.ascontiguousarray(descriptor.to_numpy(dtype=np.float32)[rows])
    y = assay.to_numpy(dtype=np.float32)[values]
    _refuse_non_finite(X, genes, f"descriptor '{descriptor_name}'", "features")
    _refuse_non_finite(y[:, None], genes, f"assay '{assay_name}'", "values")
    return Dataset(X=X, y=y, genes=genes, feature_names=pd.Index(descriptor.columns.astype(str)))


def _refuse_duplicates(index: pd.Index, source: str) -> None:
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise GdError(f"{source} lists {len(duplicated)} gene(s) more than once (e.g. "
                      f"{list(duplicated.unique()[:3])}); merge or drop the duplicates")


def _refuse_non_finite(values: np.ndarray, genes: pd.Index, source: str, what: str) -> None:
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise GdError(f"{source} has NaN or infinite {what} for {int(bad.sum())} aligned gene(s) "
                      f"(e.g. {list(genes[bad][:3])}); impute or drop them first")


@dataclass(frozen=True)
class Pool:
    """What an acquisition sees: features and positions, never the labels of unacquired genes.

    Positions index the rows of ``X`` and ``genes``. ``available`` excludes the test genes and all
    genes acquired so far; an acquisition returns a subset of it.
    """

    X: np.ndarray  # float32 [n, d], read-only, every gene of the dataset
    genes: pd.Index
    available: np.ndarray  # int64, sorted
    acquired: np.ndarray  # int64, in the order they were acquired
    cycle: int

    def features(self, positions: np.ndarray) -> np.ndarray:
        """Descriptor rows for the given positions."""
        return self.X[positions]


@dataclass
class Truth:
    """What a metric may see: the held-out test set, the hit genes, and the model's test predictions."""

    X_test: np.ndarray
    y_test: np.ndarray
    test: np.ndarray  # positions of the test genes
    hits: np.ndarray  # positions of the top-|y| non-test genes
    model: Any = field(repr=False)
    model_name: str = "model"

    @cached_property
    def predicted_test(self) -> np.ndarray:
        """The model's predicted mean on the test genes, computed once per cycle for all metrics."""
        predicted = np.asarray(self.model.predict(self.X_test))
        if predicted.shape != self.y_test.shape:
            raise GdError(f"model '{self.model_name}' predicted shape {predicted.shape} for "
                          f"{len(self.y_test)} genes; predict must return one value per row, shape (n,)")
        return predicted.astype(np.float64)


# Capability protocols. Every model offers `predict`; acquisitions name the others they need.
@runtime_checkable
class Model(Protocol):
    """Every model: ``fit`` on acquired genes, then ``predict`` the mean outcome."""

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Any:
        """Fit on float32 ``X [n, d]`` and ``y [n]``; deterministic given ``rng``."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted mean outcome, shape ``[len(X)]``."""


@runtime_checkable
class Sampler(Protocol):
    """Posterior samples of the outcome (MC-dropout passes, the trees of a forest)."""

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Samples ``[n, len(X)]``; ``n=None`` gives the model's natural number of samples."""


@runtime_checkable
class Embedder(Protocol):
    """A learned representation of genes (e.g. the last hidden layer)."""

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Embeddings ``[len(X), h]``."""


@runtime_checkable
class GradientEmbedder(Protocol):
    """Gradients of the loss with respect to the last layer's parameters (BADGE)."""

    def gradient_embedding(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gradient embeddings ``[len(X), e]`` at pseudo-labels ŷ ~ N(ĝ(x), σ²) drawn with ``rng`` (paper eq. 2).

        A model may take further keyword arguments, e.g. ``pseudo_label=`` for other ways to draw ŷ.
        """


@runtime_checkable
class InputGradient(Protocol):
    """Gradient of the predictive variance with respect to the inputs (adversarial BIM)."""

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """Gradients ``[len(X), d]``."""


CAPABILITIES: dict[str, type] = {
    "predict": Model,
    "sample": Sampler,
    "embed": Embedder,
    "gradient_embedding": GradientEmbedder,
    "input_gradient": InputGradient,
}


def capabilities_of(model: object) -> list[str]:
    """The capability names a model object offers."""
    return [name for name, protocol in CAPABILITIES.items() if isinstance(model, protocol)]


def check_compatible(model_name: str, model: object, acquisition_name: str, acquisition: object) -> None:
    """Refuse a model that lacks what the acquisition needs, in one sentence."""
    if not isinstance(model, Model):
        raise GdError(f"model '{model_name}' has no fit/predict methods; its factory must return a model object")
    if not callable(getattr(acquisition, "select", None)):
        raise GdError(f"acquisition '{acquisition_name}' has no select(pool, model, batch_size, rng) method")
    required = list(getattr(acquisition, "requires", ()))
    unknown = [r for r in required if r not in CAPABILITIES]
    if unknown:
        raise GdError(f"acquisition '{acquisition_name}' requires unknown capability {unknown[0]!r}; "
                      f"known capabilities: {', '.join(CAPABILITIES)}")
    offered = capabilities_of(model)
    missing = [r for r in required if r not in offered]
    if missing:
        raise GdError(f"acquisition '{acquisition_name}' needs {' and '.join(missing)}, which model "
                      f"'{model_name}' does not offer (it has {', '.join(offered)}); choose another model "
                      "or acquisition")
