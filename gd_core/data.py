"""Data contracts: the aligned dataset, the pool view an acquisition sees, and model capabilities."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from gd_core.errors import MESSAGE_LIMIT, GdError, described, labelled, one_line, shown
from gd_core.protocols import HitRule
from gd_core.helpers.genes import REPORT_KEYS
from gd_core.helpers.tables import require_shared_genes
from gd_core.hookspecs import CAPABILITY_NAMES, declared_requirements


@dataclass(frozen=True)
class Dataset:
    """Descriptor features and assay outcomes for the genes both cover, row i describing ``genes[i]``."""

    X: np.ndarray  # float32 [n, d]
    y: np.ndarray  # float32 [n]
    genes: pd.Index  # unique gene symbols, sorted
    feature_names: pd.Index
    #: the assay's published hit list (its ``attrs["hit_list"]``: gene symbols, all of them, aligned or not), or None
    hit_list: tuple[str, ...] | None = None
    #: what loading did to the sources that a user should know, one sentence each (e.g. gene names harmonised)
    notes: tuple[str, ...] = ()

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

    def subset(self, keep: np.ndarray) -> "Dataset":
        """The genes where the boolean mask ``keep`` is true, in the same order (the hit list is kept whole)."""
        return Dataset(X=np.ascontiguousarray(self.X[keep]), y=self.y[keep], genes=self.genes[keep],
                       feature_names=self.feature_names, hit_list=self.hit_list, notes=self.notes)

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


def align(descriptor: Any, assay: Any, *, descriptor_name: str, assay_name: str, descriptor_origin: str = "",
          assay_origin: str = "") -> Dataset:
    """Inner-join a descriptor (DataFrame by gene) and an assay (Series by gene) on gene symbol.

    The result is sorted by gene symbol, so it does not depend on either source's row order; every
    refusal names the source at fault, and its ``*_origin`` (e.g. ``plugin 'X'``) when given. An assay may carry
    its published hit list as ``attrs["hit_list"]`` (gene symbols); the dataset keeps it for protocols that count
    those hits.
    """
    descriptor_who = labelled("descriptor", descriptor_name, descriptor_origin)
    assay_who = labelled("assay", assay_name, assay_origin)
    if not isinstance(descriptor, pd.DataFrame):
        raise GdError(f"{descriptor_who} returned {type(descriptor).__name__}; "
                      "a descriptor factory must return a pandas DataFrame indexed by gene")
    notes = tuple(note for note in (harmonise_note(f"descriptor '{descriptor_name}'", descriptor),
                                    harmonise_note(f"assay '{assay_name}'", assay),
                                    _missing_note(f"assay '{assay_name}'", assay)) if note)
    if isinstance(assay, pd.DataFrame) and assay.shape[1] == 1:
        assay = assay.iloc[:, 0]
    if not isinstance(assay, pd.Series):
        raise GdError(f"{assay_who} returned {type(assay).__name__}; "
                      "an assay factory must return a pandas Series indexed by gene")
    for table, source in ((descriptor, descriptor_who), (assay, assay_who)):
        notes += _check_gene_names(table.index, source)
    if descriptor.shape[1] == 0:
        raise GdError(f"{descriptor_who} has no feature columns, only gene names; give it at least "
                      "one numeric feature")
    if not descriptor.columns.is_unique:
        raise GdError(f"{descriptor_who} has columns of the same name (e.g. "
                      f"{shown(descriptor.columns[descriptor.columns.duplicated()][0])!r}); rename or drop them")
    non_numeric = [c for c, dtype in descriptor.dtypes.items() if not _real(dtype, bool_too=True)]
    if non_numeric:
        raise GdError(f"{descriptor_who} has non-numeric columns {non_numeric[:3]}; "
                      "drop or encode them in the descriptor")
    if not _real(assay.dtype, bool_too=False):
        raise GdError(f"{assay_who} has non-numeric values ({assay.dtype}); convert them to floats")

    genes = pd.Index(descriptor.index.intersection(assay.index).astype(str)).sort_values()
    try:
        require_shared_genes(descriptor.index, assay.index, descriptor=descriptor_who, assay=assay_who)
    except GdError as exc:  # say so when a side lost most of its names to harmonising: that is the likely cause
        lost = [text for text in (_mostly_unknown(descriptor_who, descriptor), _mostly_unknown(assay_who, assay))
                if text]
        if not lost:
            raise
        raise GdError(f"{exc} ({'; '.join(lost)})") from None
    rows = descriptor.index.astype(str).get_indexer(genes)
    values = assay.index.astype(str).get_indexer(genes)
    # Labels must follow their gene: check explicitly rather than trust positional arithmetic.
    if (rows < 0).any() or (values < 0).any() or not (
        descriptor.index[rows].astype(str).equals(genes) and assay.index[values].astype(str).equals(genes)
    ):
        raise AssertionError("alignment put a row on the wrong gene")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below with the genes named
        X = np.ascontiguousarray(descriptor.to_numpy(dtype=np.float32)[rows])
        y = assay.to_numpy(dtype=np.float32)[values]
    _refuse_non_finite(X, genes, descriptor_who, "features")
    _refuse_non_finite(y[:, None], genes, assay_who, "values")
    constant = int((X.min(axis=0) == X.max(axis=0)).sum()) if len(X) else 0
    if constant:
        notes += (f"descriptor '{descriptor_name}': {constant:,} of its {X.shape[1]:,} features take one value for "
                  "every aligned gene and tell the model nothing",)
    hit_list = assay.attrs.get("hit_list")
    if hit_list is not None and (isinstance(hit_list, (str, bytes)) or not isinstance(hit_list, (list, tuple, set,
                                                                                                 frozenset))):
        raise GdError(f"{assay_who} carries attrs['hit_list'] = {shown(hit_list)[:60]}; it must be a list of "
                      "gene symbols (or left out)")
    return Dataset(X=X, y=y, genes=genes, feature_names=pd.Index(descriptor.columns.astype(str)),
                   hit_list=None if hit_list is None else tuple(str(g) for g in hit_list), notes=notes)


def harmonise_note(source: str, table: Any) -> str | None:
    """One sentence on what harmonising did to ``table``'s gene names (its ``attrs["harmonise"]`` report, as a
    user table carries it), or None when every name was an official symbol or there is no report."""
    count = _harmonise_counts(table)
    if count is None:
        return None
    renamed = count["alias"] + count["alias_protein_coding"] + count["repaired"]
    dropped = count["ambiguous"] + count["unmapped"] + count["controls"]
    if not (renamed or dropped or count["merged"]):
        return None
    rows = _rows_read(count)
    return (f"{source}: gene names of {rows:,} rows harmonised to official symbols: {count['symbol']:,} as written, "
            f"{renamed:,} renamed (aliases and repaired names), {dropped:,} dropped ({count['ambiguous']:,} "
            f"ambiguous, {count['unmapped']:,} unknown, {count['controls']:,} controls), {count['merged']:,} "
            "averaged into another row of the same symbol")


def _harmonise_counts(table: Any) -> dict[str, int] | None:
    """The counts of ``table``'s ``attrs["harmonise"]`` report (as gd's reader of user tables makes it), or None
    when there is none or it is not gd's."""
    report = getattr(table, "attrs", {}).get("harmonise")
    if not isinstance(report, dict):
        return None
    try:
        return {key: int(report.get(key, 0)) for key in REPORT_KEYS}
    except (TypeError, ValueError):  # not gd's reader's report: nothing to tell
        return None


def _rows_read(count: dict[str, int]) -> int:
    """The rows a harmonise report covers ("merged" counts rows already counted under another key)."""
    return sum(value for key, value in count.items() if key != "merged")


def _mostly_unknown(source: str, table: Any) -> str | None:
    """A clause saying that more than half of a user table's rows had names that are not gene symbols, or None."""
    count = _harmonise_counts(table)
    rows = _rows_read(count) if count is not None else 0
    if not rows or 2 * count["unmapped"] <= rows:
        return None
    return f"{count['unmapped']:,} of the {rows:,} gene names in {source} are not known human gene symbols"


def _missing_note(source: str, assay: Any) -> str | None:
    """One sentence on the genes a user's assay file left without a value (its reader drops them), or None."""
    attrs = getattr(assay, "attrs", {})
    count, genes = attrs.get("missing"), attrs.get("missing_genes")
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        return None
    example = f" (e.g. {', '.join(map(str, genes))})" if isinstance(genes, list) and genes else ""
    return f"{source}: {count:,} gene(s) without a value{example} left out, as not measured"


def holds_real_numbers(array: np.ndarray) -> bool:
    """Whether a model's output array holds real numbers: integers or floats, not text, true/false, objects or
    complex numbers (which numpy would read as numbers, silently or with a warning, if asked to)."""
    return np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)


def _real(dtype: Any, *, bool_too: bool) -> bool:
    """Whether a column of ``dtype`` holds real numbers (complex numbers are not outcomes or features; true/false
    are features, one-hot, but never outcomes)."""
    if pd.api.types.is_bool_dtype(dtype):
        return bool_too
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)


def _check_gene_names(index: pd.Index, source: str) -> tuple[str, ...]:
    """Refuse an index that is not one level of gene names, holds missing or blank names, or names a gene twice (as
    text, as the join compares them: 1 and "1" are one gene). Names that begin or end with whitespace get a note:
    such a name matches only one padded the same way, so its gene silently drops out of the join (gd does not
    rewrite a table's names; user files are harmonised on reading)."""
    if isinstance(index, pd.MultiIndex):
        raise GdError(f"{source} is indexed by {index.nlevels} levels; index it by gene symbol alone")
    names = index.astype(str)
    stripped = names.str.strip()
    bad = int((index.isna() | np.asarray(stripped.str.len() == 0, dtype=bool)).sum())
    if bad:
        raise GdError(f"{source} has {bad} row(s) whose gene name is missing or blank; drop them or name their genes")
    _refuse_duplicates(names, source)
    padded = names[np.asarray(names != stripped, dtype=bool)]
    if not len(padded):
        return ()
    return (f"{source}: {len(padded):,} gene name(s) begin or end with spaces or tabs (e.g. {padded[0]!r}) and match "
            "only a name padded the same way; strip them if they should match",)


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
    """What an acquisition (and a metric) sees in one cycle: features, positions and the outcomes measured so far.

    Positions are row numbers of ``X`` and ``genes``: the run's aligned genes, sorted by symbol, test genes
    included. ``available`` excludes the test genes and every gene acquired so far; an acquisition returns
    a subset of it. The arrays are the loop's own: do not modify them (``X`` is read-only). Outcomes of genes
    not yet acquired are never here.
    """

    X: np.ndarray  # float32 [n, d], read-only: the features of every gene of the dataset, test genes too
    genes: pd.Index  # [n] gene symbols (str), sorted, unique: genes[i] is the gene of row i
    available: np.ndarray  # int64, sorted ascending: positions an acquisition may choose
    acquired: np.ndarray  # int64, in the order acquired (initial batch first): the genes the model is fitted on
    cycle: int  # 0-based; select runs in cycles 0 .. C-2, metrics in 0 .. C-1
    #: float32 [len(acquired)], read-only: the measured outcomes of ``acquired``, in that order (None when a
    #: caller built a pool without them; an acquisition that needs them refuses such a pool)
    measured: np.ndarray | None = None
    hit_rule: HitRule = field(default_factory=HitRule)  # how the run's protocol counts hits

    def features(self, positions: np.ndarray) -> np.ndarray:
        """Descriptor rows for the given positions."""
        return self.X[positions]


@dataclass
class Truth:
    """What a metric may see besides the pool: the held-out test set, the hit genes, and the model's test predictions.

    The test set and the hits are fixed for the whole run; they are drawn before the first cycle. Under a protocol
    without a test split (``biodiscoveryagent``, ``discobax``) the test arrays are empty: a metric that reads them
    declares ``needs_test_split = True`` and is refused there before the run starts.
    """

    X_test: np.ndarray  # float32 [n_test, d], read-only: features of the test genes
    y_test: np.ndarray  # float32 [n_test], read-only: their outcomes
    test: np.ndarray  # int64 [n_test], sorted: positions of the test genes (rows of pool.X)
    hits: np.ndarray  # int64, sorted: the protocol's hits among the non-test genes (≥ 1; gd_core.protocols)
    model: Any = field(repr=False)  # the model fitted this cycle (the metric's ``model`` argument)
    model_name: str = "model"

    @cached_property
    def predicted_test(self) -> np.ndarray:
        """The model's predicted mean on the test genes, float64 ``[n_test]``, computed once per cycle for all
        metrics (the loop checks it is finite before any metric runs)."""
        returned = self.model.predict(self.X_test)  # the model's own exceptions pass on, as its own
        try:
            predicted = np.asarray(returned)
        except Exception as exc:  # noqa: BLE001 — e.g. a ragged list: not numbers, whatever numpy says about it
            raise GdError(f"model '{self.model_name}' predicted {type(returned).__name__} that is not an array of "
                          f"numbers ({one_line(exc, limit=120)}); predict must return one real number per row"
                          ) from None
        if predicted.shape != self.y_test.shape:
            raise GdError(f"model '{self.model_name}' predicted shape {predicted.shape} for "
                          f"{len(self.y_test)} genes; predict must return one value per row, shape (n,)")
        if not holds_real_numbers(predicted):
            raise GdError(f"model '{self.model_name}' predicted values of dtype {predicted.dtype}; predict must "
                          "return one real number per row")
        predicted = predicted.astype(np.float64)
        predicted.setflags(write=False)  # shared by every metric: none may change what the next one reads
        return predicted


# Capability protocols. Every model offers `predict`; acquisitions name the others they need in `requires`.
# What every method shares: array arguments are read-only to it (it may be handed read-only arrays, and must
# not change them); each row's result depends only on that row and the fitted model, never on the other
# rows of the call (acquisitions call in blocks of up to 32,768 genes); outputs are finite real numbers.
@runtime_checkable
class Model(Protocol):
    """Every model: ``fit`` on the acquired genes, then ``predict`` the mean outcome."""

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Any:
        """Fit on the genes acquired so far; the loop calls it once, on a fresh object, every cycle.

        Args:
            X: float32 ``[n, d]``, n ≥ 1 (the first cycle fits on one batch, which may be a single gene).
            y: float32 ``[n]``, finite.
            rng: the only source of randomness; the same ``X``, ``y`` and generator state must give the
                same fitted model, every output of which is then the same to the bit.

        Returns:
            ``self`` (the loop keeps using the object it called, whatever ``fit`` returns).
        """

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted mean outcome.

        Args:
            X: float32 ``[m, d]``, possibly read-only (the test features are).

        Returns:
            ``[m]`` finite real numbers (float64 preferred; the loop converts), deterministic after ``fit``.
        """


@runtime_checkable
class Sampler(Protocol):
    """Posterior samples of the outcome (MC-dropout passes, the trees of a forest)."""

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Posterior samples: row j is one posterior draw (one tree, one dropout mask) evaluated at every row of X.

        The built-in acquisitions call ``sample(X)`` only, on blocks of the pool, and score each gene by the
        spread of its column (variance, max − min). So without ``rng`` the samples must be the model's fixed
        ones: the same column for a gene on every call after one ``fit``, whatever the other rows. ``predict``
        should be their mean (the forest's is exactly; the bnn's up to rounding).

        Args:
            X: float32 ``[m, d]``, possibly read-only.
            n: number of samples; None: the model's natural number (forest: its trees; bnn: ``mc_samples``).
                A model with a finite set of draws may repeat draws when ``n`` exceeds it.
            rng: None for the fixed samples above (with ``n`` given, a fixed set too, derived from the fit);
                a generator to draw the samples afresh from it (Thompson sampling): equal generator states
                give equal samples, so to evaluate one draw over a pool in blocks, give each block a
                generator in the same state.

        Returns:
            ``[n, m]`` finite real numbers (float64 preferred), n ≥ 1.
            Draws may coincide (trees can agree); genes whose samples all agree tie, and the uncertainty
            acquisitions break ties by position.
        """


@runtime_checkable
class Embedder(Protocol):
    """A representation of genes in which Euclidean distance means similarity to the model.

    Used by ``kmeans_embedding`` (k-means in this space) and ``coreset`` (greedy k-center between the
    available and the acquired genes), which compare genes only by Euclidean distance. A neural network
    offers its last hidden layer (the bnn: ReLU activations without dropout). A model that is not one should
    offer ``embed`` only if it has such a space: a linear model ``X · diag(|w|)`` (features weighted by how
    much the model uses them), a kernel model its (approximate) feature map, a forest the per-tree predictions
    of a gene (``sample(X).T``). Otherwise leave it out: a run pairing the model with an acquisition that
    needs it is then refused before it starts, whereas returning the input features would run and mislead
    (``kmeans_data`` already clusters those). The built-in ``random_forest`` offers none.
    """

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Embeddings of the rows of X.

        Args:
            X: float32 ``[m, d]``, possibly read-only.

        Returns:
            ``[m, h]`` finite real numbers (float32 preferred), h ≥ 1 the same on every call after one ``fit``
            (it may change between fits); deterministic after ``fit`` (there is no ``rng``).
        """


@runtime_checkable
class GradientEmbedder(Protocol):
    """Gradients of the loss with respect to the last layer's parameters (BADGE, paper eq. 2).

    ``badge`` seeds k-means++ with them: the longest gradient first, then genes drawn by squared distance
    to those chosen, so a gradient's length carries the model's uncertainty and its direction the gene's
    representation. For a linear last layer on features h(x), the gradient of ½(ĝ(x) − ŷ)² with respect to
    (weights, bias) is (ĝ(x) − ŷ)·[h(x), 1]: a linear or ridge model offers it with h(x) = x. A model with
    no last layer of parameters (a forest) should not offer it.
    """

    def gradient_embedding(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gradient embeddings at pseudo-labels ŷ ~ N(ĝ(x), σ²), σ² = 1, one drawn with ``rng`` per row.

        Args:
            X: float32 ``[m, d]``, possibly read-only.
            rng: the acquisition's generator; ``badge`` calls on blocks of the pool in order with the same
                generator, so equal generator states (and blocks) must give equal results.

        A model may take further keyword arguments: ``badge`` passes ``pseudo_label="mc_dropout"`` when the
        user sets it (ŷ drawn with the model's own predictive variance), and refuses that setting for a
        model whose method does not take ``pseudo_label``.

        Returns:
            ``[m, e]`` finite real numbers (float32 preferred), e the same on every call after one ``fit``.
        """


@runtime_checkable
class InputGradient(Protocol):
    """Gradient of the predictive variance with respect to the inputs (``adversarialBIM``, with ``sample``)."""

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """∂Var/∂x for each row: Var the population variance over the fixed samples ``sample(X)`` returns.

        ``adversarialBIM`` climbs the variance by sign steps from each available gene's descriptor, so X
        holds perturbed descriptors, not only rows of the pool, and only the gradient's signs matter: a
        finite-difference estimate serves a model without autograd.

        Args:
            X: float32 ``[m, d]``, possibly read-only.

        Returns:
            ``[m, d]`` finite real numbers (float32 preferred), in target units² per unit of each feature.
        """


CAPABILITIES: dict[str, type] = {
    "predict": Model,
    "sample": Sampler,
    "embed": Embedder,
    "gradient_embedding": GradientEmbedder,
    "input_gradient": InputGradient,
}
assert tuple(CAPABILITIES) == CAPABILITY_NAMES  # the names are also kept where no numerical library is imported


def capabilities_of(model: object) -> list[str]:
    """The capability names a model object offers."""
    return [name for name, protocol in CAPABILITIES.items() if isinstance(model, protocol)]


def check_compatible(model_name: str, model: object, acquisition_name: str, acquisition: object, *,
                     model_origin: str = "", acquisition_origin: str = "") -> None:
    """Refuse a model that lacks what the acquisition needs, in one sentence; the origins (e.g. ``plugin 'X'``),
    when given, name each component's plugin, so a plugin's fault points at the package to fix."""
    model_who = labelled("model", model_name, model_origin)
    acquisition_who = labelled("acquisition", acquisition_name, acquisition_origin)
    try:  # the protocols' checks read attributes, which a model's own __getattr__ may answer by raising
        is_model = isinstance(model, Model)
        offered = capabilities_of(model) if is_model else []
    except Exception as exc:  # noqa: BLE001
        raise GdError(f"{model_who}: reading its methods raised {described(exc)}; a model's attributes "
                      "must be readable") from exc
    if not is_model:
        raise GdError(f"{model_who} has no fit/predict methods; its factory must return a model object")
    if not callable(getattr(acquisition, "select", None)):
        raise GdError(f"{acquisition_who} has no select(pool, model, batch_size, rng) method")
    required = declared_requirements(acquisition, acquisition_name, acquisition_origin)
    unknown = [r for r in required if r not in CAPABILITIES]
    if unknown:
        raise GdError(f"{acquisition_who} requires unknown capability {unknown[0]!r}; "
                      f"known capabilities: {', '.join(CAPABILITIES)}")
    missing = [r for r in required if r not in offered]
    if missing:
        raise GdError(f"acquisition '{acquisition_name}' needs {' and '.join(missing)}, which model "
                      f"'{model_name}' does not offer (it has {', '.join(offered)}); choose another model "
                      "or acquisition")
    # An acquisition may refine the pairing beyond capabilities (badge's mc_dropout pseudo-label needs a model whose
    # gradient_embedding takes it): its optional check_model(model) raises a GdError, here, before any fit.
    refine = getattr(acquisition, "check_model", None)
    if callable(refine):
        try:
            refine(model)
        except (GdError, ValueError) as exc:  # its verdict on the pairing
            raise GdError(f"{acquisition_who} with model '{model_name}': {one_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 — a bug in the check: still one line, naming whose it is
            raise GdError(f"{acquisition_who} raised {type(exc).__name__} in check_model(model "
                          f"'{model_name}'): {one_line(exc, limit=MESSAGE_LIMIT)}") from exc
