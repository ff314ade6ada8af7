"""The Bayesian MLP of GeneDisco: one hidden ReLU layer, MC dropout for the posterior.

Imported only by the ``bnn`` factory in ``gd_plugins_builtin.models``, so torch stays out of ``gd list``.

Differences from the reference (genedisco 1.0.5), each on purpose:

- Prediction and target have the same shape ``(B,)`` in the loss; the reference broadcast (B,1,1)
  against (B,1) and so learnt the batch mean.
- Early stopping watches the loss on held-out genes (the cross-validation's folds, or a validation split)
  and restores the best weights; the reference passed no validation set, so it stopped on the training loss.
- ``predict`` is the mean of ``mc_samples`` dropout passes, not one pass.
- Inputs are centred and divided by one scale for all features; targets are standardised; outputs are in
  the original target units.
- The hidden size is chosen at every fit, as the reference's per-cycle hyper-parameter search did, by
  3-fold cross-validation over (128, 256) (the reference searched 4, 8, 16; the paper names no widths), and
  the same cross-validation fixes the number of epochs; the final network is then trained on every gene (below).
- The L2 penalty is ``l2`` = 100 per summed squared error (Adam's coefficient ``l2 / n``), not a fixed 1e-4.
- Kept from the reference: dropout 0.5, Adam with learning rate 1e-3, mini-batches of 64, at most 100
  epochs, patience 13, 100 MC samples.

Fitting weak screens. Real screens are mostly nulls with a few strong hits, and a descriptor explains a few
per cent of the variance at best: on schmidt_2021_il2 (il2) and sanchez_2021_tau (tau) with gene_ontology,
RidgeCV reaches a test R² of 0.004–0.025 from 1,280–5,000 genes. The earlier fitting (every feature
standardised, PyTorch's random output layer, weight decay 1e-4, dropout 0.1, widths 16/64/256, each network
early-stopped on its own 20% split, the final one on 80% of the genes) was best after 1–3 epochs, no width's
CV loss beat the mean, and it scored R² −0.029 (il2) and −0.025 (tau) at 1,280 genes, below predicting the
mean, and −0.006 on tau at 5,000 (the "before" column of benchmarks/README.md, commit af370ff).
``benchmarks/static_fit.py`` measures this (R² on gd's test split, mean of 3 seeds). Each change below, with
the change in that R² when it alone is undone from the final fitting, at il2 1,280 / il2 5,000 / tau 1,280 /
tau 5,000 genes (negative: worse without it; differences under ~0.002 are within seed noise):

1. One input scale, the root mean square of the features' standard deviations, instead of one per feature
   (−0.003 / +0.001 / −0.004 / −0.002). Descriptors such as gene_ontology are SVD components of decreasing
   variance whose weak tail is mostly noise; standardising each feature raised the tail to the head's level,
   while ridge on the raw components penalises it implicitly (RidgeCV itself loses 0.001–0.004 R² on
   standardised features). Features in unrelated units should be put on one scale before they reach gd.
2. The output layer (weights and bias) starts at zero, so every network starts at the training mean
   (−0.008 / −0.001 / −0.012 / −0.003). PyTorch's random output layer starts as a random function carrying
   ~5–10% of the target variance, more than the signal, and early stopping stops before it is unlearnt.
3. A ridge-like L2 penalty, ``l2 = 100`` per summed squared error: Adam's coefficient is ``l2`` divided by
   the genes a network is fitted on, so the pull fades as genes accumulate, as ridge's does
   (−0.002 / −0.006 / −0.004 / −0.003 with the former fixed 1e-4). 30 and 300 did no better on the screens,
   and 300 costs strong signals: R² 0.77 on the tests' linear target with 10% noise, where 100 reaches
   0.95 (0.996 before); on the simulated screen (strong modules) 100 scores as before or better (R² 0.32 /
   0.56 at 320 / 1,280 genes, against 0.28 / 0.54).
4. Cross-validation scores a width by its held-out loss pooled over the folds, epoch by epoch: a width's
   networks (one per fold) stop together ``patience`` epochs after that pooled loss, over every gene once,
   last fell, and its lowest point is the width's score and its epoch the width's epoch count. A 20% split
   per network, of 170–670 genes whose loss a few outliers dominate, was too noisy to stop on.
5. The final network trains on every gene for the chosen width's epoch count, instead of being
   early-stopped on 80% of them (5 and 4 together: −0.014 / −0.007 / 0.000 / 0.000; 5 alone:
   −0.014 / −0.007 / −0.001 / −0.002). Its mini-batches are sized to give an epoch as many Adam steps as the
   cross-validation networks took on their (k−1)/k of the genes (Adam's progress is per step; on the table's
   seeds this alone is within noise, +0.001 / +0.001 / +0.001 / 0.000 without it, but in an earlier
   configuration it lifted all 5 refits of one tau 5,000 sample, by 0.001 on average).
6. The output bias is set at the end to the least-squares intercept given the rest of the network (the mean
   training residual), as a linear model's: early stopping leaves it off by up to 0.01 of y on tau
   (−0.001 / −0.001 / 0.000 / 0.000).
7. Widths 128 and 512 instead of 16, 64 and 256 (−0.001 / −0.004 / −0.002 / 0.000): with dropout a narrow
   layer fits a noisier function (at 16, about 8 units per pass), and cross-validation picked it by chance;
   over 5 refits of one tau 5,000 sample (earlier configuration) single widths scored 0.008 (16), 0.011
   (64), 0.010 (256), 0.012 (1024); 1024 costs too much time. Since 2026-11-30 the default is 128 and 256:
   the 512-wide networks were most of a fit's arithmetic on the paper's 799- and 808-wide descriptors (the
   whole paper grid: 53.6 → 45.3 CPU hours), and the learning curves cannot tell the two apart
   (benchmarks/paired_settings.py, 90 paired runs); on a fixed sample 128/256 is within the seeds' sd of
   128/512 in three cells of four and lower on tau at 1,280 genes (benchmarks/README.md, static_fit.py).
   The numbers of items 1–8 were measured with 128 and 512; ``hidden_sizes=[128,512]`` restores them.
8. Dropout 0.5, the reference's, instead of 0.1 (0.000 / +0.001 / +0.001 / −0.001: within noise, but
   tau 5,000 falls below RidgeCV without it).

Without cross-validation (one width, or fewer than ``2 * folds`` genes) the network is early-stopped on a
held-out ``validation_fraction`` of the genes as before, with changes 1–3 and 6. The fitted model's
MC-dropout spread is smaller after these changes: on il2 at 1,280 genes the per-gene predictive variance over
the pool has median 4e-5 and 90th percentile 2.6e-4 (y variance 0.046; widths 128 and 512), against 2.6e-4 and
1.3e-3 before; with today's widths, 2.5e-5 and 1.4e-4.

Dropout is "consistent": one mask over the hidden units per posterior sample, shared by every gene, so
each sample is one function of the inputs (as the reference's ConsistentMCDropout) rather than
independent noise per gene. The output layer is linear, so m passes over n genes are one product of
the hidden activations ``[n, h]`` with the masked output weights ``[h, m]``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from gd_core.helpers.parallel import map_in_threads, usable_cores
from gd_core.registry import BadParameter
from gd_plugins_builtin._checks import LARGEST_WHOLE, number, one_of, too_large, whole


# Rows per chunk at prediction: bounds memory to tens of MB (hidden [rows, h], samples [rows, m])
# whatever the number of genes.
_ROWS_PER_CHUNK = 1 << 15
# Streams derived from the seed drawn from the fit's rng, so each part of a fit has its own.
_CV, _FINAL, _MASKS, _EXTRA_MASKS = 0, 1, 2, 3
# How BADGE's pseudo-label is drawn (see BayesianMLP.gradient_embedding); the first is the paper's.
PSEUDO_LABELS = ("likelihood", "mc_dropout")


@dataclass
class _Net:
    """Weights of the network in standardised units: ``f(x) = relu(x W1ᵀ + b1) · w2 + b2``."""

    W1: torch.Tensor  # [h, d]
    b1: torch.Tensor  # [h]
    w2: torch.Tensor  # [h]
    b2: torch.Tensor  # [1]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer's activations, ``[len(x), h]``."""
        return torch.relu(torch.addmm(self.b1, x, self.W1.T))

    def mean_output(self, x: torch.Tensor) -> torch.Tensor:
        """The output without dropout (inverted dropout keeps its expectation), shape ``[len(x)]``."""
        return self.hidden(x) @ self.w2 + self.b2


class BayesianMLP:
    """Bayesian MLP: one hidden ReLU layer with MC dropout; hidden size and epochs chosen by k-fold CV at each fit.

    A fit centres the inputs and divides them by one scale (the root mean square of the features' standard
    deviations, so an SVD descriptor keeps its decreasing spectrum), standardises the targets, and then, by
    ``folds``-fold cross-validation, trains for each candidate width one network per fold, all early-stopped
    together on their held-out folds' pooled loss; the width with the lowest pooled held-out MSE wins, and its
    best epoch sets how long the final network trains on every gene (with as many mini-batch steps per epoch
    as the cross-validation networks took). Every network starts at the training mean (zero output layer)
    and carries a ridge-like L2 penalty; the final output bias is the mean training residual. Why each of
    these, and its measured effect on real screens, is in the module docstring.

    Args:
        hidden_sizes: candidate hidden-layer widths; each fit picks one by ``folds``-fold cross-validation
            (a single width skips the search).
        dropout: probability of dropping a hidden unit, in training and for posterior samples.
        mc_samples: dropout masks behind ``predict`` and ``sample`` (the number of posterior samples).
        max_epochs: most passes over the training genes.
        patience: stop after this many epochs without a lower validation loss, keeping the best weights.
        lr: Adam's learning rate.
        batch_size: genes per mini-batch (of the cross-validation networks, and without cross-validation).
        l2: L2 penalty on all weights per summed squared error (standardised units), as ridge's alpha: each
            network's objective is its mean squared error plus ``l2 / (2 n)`` times the squared weights, n the
            genes it is fitted on, so the penalty fades as genes accumulate.
        folds: cross-validation folds for choosing the hidden size and epochs; fits on fewer than
            ``2 * folds`` genes skip the search, use the middle candidate and early-stop on a validation split.
        validation_fraction: share of the genes held out for early stopping when there is no cross-validation.
        n_threads: candidate widths trained side by side during cross-validation, each in its own thread; None
            uses the cores this process may use. Every torch operation runs single-threaded (torch's MKL promises
            identical bits only at a fixed thread count), so results are the same at any value.
    """

    def __init__(self, hidden_sizes: int | Sequence[int] = (128, 256), dropout: float = 0.5,
                 mc_samples: int = 100, max_epochs: int = 100, patience: int = 13, lr: float = 1e-3,
                 batch_size: int = 64, l2: float = 100.0, folds: int = 3,
                 validation_fraction: float = 0.2, n_threads: int | None = None) -> None:
        self.hidden_sizes = _sizes(hidden_sizes)
        # each value is checked here, so a bad one stops a run before any cycle
        self.dropout = number("dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.mc_samples = whole("mc_samples", mc_samples, minimum=1)
        self.max_epochs = whole("max_epochs", max_epochs, minimum=1)
        self.patience = whole("patience", patience, minimum=1)
        self.lr = number("lr", lr, low=0.0, low_open=True)
        self.batch_size = whole("batch_size", batch_size, minimum=1)
        self.l2 = number("l2", l2, low=0.0)
        self.folds = whole("folds", folds, minimum=2)
        self.validation_fraction = number("validation_fraction", validation_fraction, low=0.0, high=1.0,
                                           low_open=True, high_open=True)
        # Default to the cores this process may use (which a sweep's worker limits), not all of the machine.
        self.n_threads = usable_cores() if n_threads is None else whole("n_threads", n_threads, minimum=1)
        self._net: _Net | None = None
        #: After ``fit``: the chosen width, the epochs the final training ran, its best epoch (1-based; after
        #: cross-validation, its last), per-epoch losses of the final training (no ``val_loss`` after
        #: cross-validation, which trains on every gene), and per candidate width the pooled held-out MSE at
        #: its best epoch (standardised units) and that epoch.
        self.hidden_size_: int | None = None
        self.epochs_: int | None = None
        self.best_epoch_: int | None = None
        self.history_: dict[str, list[float]] = {}
        self.cv_scores_: dict[int, float] = {}
        self.cv_epochs_: dict[int, int] = {}

    # --- fitting ---------------------------------------------------------------------------------------

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> BayesianMLP:
        """Choose the hidden size and epochs by cross-validation, then train on all genes; randomness from ``rng``."""
        X, y = _checked(X, "X", 2), _checked(y, "y", 1)
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"fit needs X [n, d] and y [n] with n ≥ 1, got {X.shape} and {y.shape}")
        root = int(rng.integers(2**63 - 1))
        # One scale for every feature, so weak (e.g. trailing SVD) components stay weak; see the module docstring.
        scale = math.sqrt(float(X.var(axis=0, dtype=np.float64).mean()))
        self._x_mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        self._x_std = np.full(X.shape[1], scale if scale > 1e-12 else 1.0, dtype=np.float32)
        self._y_mean = float(y.mean(dtype=np.float64))
        y_std = float(y.std(dtype=np.float64))
        self._y_std = y_std if y_std > 1e-12 else 1.0
        xs = self._standardised(X)
        ys = torch.from_numpy(((y.astype(np.float64) - self._y_mean) / self._y_std).astype(np.float32))

        with _threads(1):
            self.cv_scores_, self.cv_epochs_, steps = self._cross_validate(xs, ys, root)
            generator = _generator(root, _FINAL)
            every = torch.arange(len(xs))
            if self.cv_scores_:
                self.hidden_size_ = min(self.cv_scores_, key=lambda h: (self.cv_scores_[h], h))
                # Every gene, for the chosen width's best epochs, in as many Adam steps per epoch as it took there.
                (run,) = _train(xs, ys, [(every, every[:0])], self.hidden_size_, self, generator,
                                epochs=self.cv_epochs_[self.hidden_size_], batch_size=math.ceil(len(xs) / steps))
            else:
                self.hidden_size_ = self.hidden_sizes[len(self.hidden_sizes) // 2]
                split = _holdout(every, self.validation_fraction, generator)
                (run,) = _train(xs, ys, [split], self.hidden_size_, self, generator)
            # The least-squares output bias given the rest of the network: the mean training residual.
            run.net.b2 += (ys - run.net.mean_output(xs)).double().mean().float()
        self._net = run.net
        self.epochs_, self.best_epoch_, self.history_ = run.epochs, run.best_epoch, run.history
        self._masks = self._output_weights(self._draw_masks(self.mc_samples, _generator(root, _MASKS)))
        self._root = root
        return self

    def _cross_validate(self, xs: torch.Tensor, ys: torch.Tensor,
                        root: int) -> tuple[dict[int, float], dict[int, int], int]:
        """Per candidate width, the pooled held-out MSE (standardised units) at its best epoch and that epoch;
        and the mini-batch steps per epoch the networks took. Empty when there is nothing to choose.

        The folds are the same for every width. A width trains one network per fold on the other folds; every
        epoch all are scored on their held-out folds, which together hold every gene once, and they stop
        together ``patience`` epochs after that pooled loss last fell.
        """
        n = len(xs)
        if len(self.hidden_sizes) == 1 or n < 2 * self.folds:
            return {}, {}, 0
        order = torch.randperm(n, generator=_generator(root, _CV))
        held_out = [order[k::self.folds] for k in range(self.folds)]
        splits = [(torch.cat([f for j, f in enumerate(held_out) if j != k]), held_out[k]) for k in range(self.folds)]

        def train(i: int) -> list[_Run]:
            with _threads(1):  # a new thread starts with the library's default thread count
                return _train(xs, ys, splits, self.hidden_sizes[i], self, _generator(root, _CV, i), pooled=True)

        # Each width has its own random stream and single-threaded arithmetic, so training the widths side by
        # side in threads (torch releases the GIL) gives the same bits as one after the other.
        trained = map_in_threads(train, range(len(self.hidden_sizes)), self.n_threads)
        scores, epochs = {}, {}
        for width, runs in zip(self.hidden_sizes, trained):
            best = runs[0].best_epoch  # the same for every network of a pooled stack
            scores[width] = sum(len(test) * run.history["val_loss"][best - 1]
                                for run, (_, test) in zip(runs, splits)) / n
            epochs[width] = best
        return scores, epochs, math.ceil(max(len(fit) for fit, _ in splits) / self.batch_size)

    # --- the posterior ---------------------------------------------------------------------------------

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean of the ``mc_samples`` dropout passes, float64 ``[len(X)]`` in the target's units."""
        self._require_fit("predict")
        # The mean of the m outputs h·v_j + b2 is h·mean(v_j) + b2: the passes cost one product.
        mean_weights = self._masks.mean(dim=0, keepdim=True)
        return self._outputs(X, mean_weights)[0]

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Posterior samples ``[n, len(X)]`` (float64, target units): one dropout mask per sample.

        Without ``rng`` the masks are the fixed ones behind ``predict`` (for ``n=None`` or ``n == mc_samples``)
        or a fixed set derived from the fit; with ``rng`` they are drawn afresh from it.
        """
        self._require_fit("sample")
        n = self.mc_samples if n is None else whole("n", n, minimum=1)
        if rng is not None:
            weights = self._output_weights(self._draw_masks(n, _generator(int(rng.integers(2**63 - 1)))))
        elif n == self.mc_samples:
            weights = self._masks
        else:
            weights = self._output_weights(self._draw_masks(n, _generator(self._root, _EXTRA_MASKS, n)))
        return self._outputs(X, weights)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Hidden-layer activations without dropout, float32 ``[len(X), hidden_size_]``."""
        net = self._require_fit("embed")
        out = np.empty((len(X), net.W1.shape[0]), dtype=np.float32)
        with self._inference():
            for rows, x in self._chunks(X):
                out[rows] = net.hidden(x).numpy()
        return out

    def gradient_embedding(self, X: np.ndarray, rng: np.random.Generator,
                           pseudo_label: str = "likelihood") -> np.ndarray:
        """BADGE embeddings (paper eq. 2): the gradient of the loss at a sampled pseudo-label with respect to the
        output layer's weights and bias.

        The loss is the Gaussian likelihood's ½(ĝ(x) − ŷ)² with σ² = 1 (eq. 5), ĝ(x) the predictive mean (what
        ``predict`` returns); the output layer is linear, so its gradient is (ĝ(x) − ŷ)·y_std·[h(x), 1] with h(x)
        the hidden activations (``embed``) and y_std the target scale the network works in. The two modes differ
        only in the variance ŷ is drawn with, never in the loss:

        - ``"likelihood"`` (the paper): ŷ ~ N(ĝ(x), σ²), σ² = 1 as in eq. 5, so the embedding is
          −ε·y_std·[h(x), 1] with ε = ``rng.standard_normal(len(X))``: a unit normal multiple of [h, 1] (σ² and
          y_std scale every gene alike, which k-means++ seeding ignores). The reference computes the same.
        - ``"mc_dropout"``: ŷ ~ N(ĝ(x), Var_ω(x)), the spread of the ``mc_samples`` dropout passes, so uncertain
          genes get long gradients and confident ones short (gd's behaviour before it followed the paper).

        float32 ``[len(X), hidden_size_ + 1]``.
        """
        one_of("pseudo_label", pseudo_label, PSEUDO_LABELS)
        net = self._require_fit("gradient_embedding")
        eps = torch.from_numpy(rng.standard_normal(len(X)).astype(np.float32))
        out = np.empty((len(X), net.W1.shape[0] + 1), dtype=np.float32)
        with self._inference():
            for rows, x in self._chunks(X):
                hidden = net.hidden(x)
                # ĝ − ŷ = −σ·ε in target units: σ = 1, or the MC sd (the network's spread times y_std).
                sigma = 1.0 if pseudo_label == "likelihood" else _spread(hidden, self._masks).sqrt() * self._y_std
                residual = -eps[rows] * sigma * self._y_std  # times ∂ĝ/∂(h·w2 + b2) = y_std
                out[rows, :-1] = (residual[:, None] * hidden).numpy()
                out[rows, -1] = residual.numpy()
        return out

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """∂Var[f(x)]/∂x: gradient of the predictive variance (target units², over the fixed ``mc_samples``
        dropout masks behind ``predict``, population variance) with respect to the inputs in their own units.

        Fixing the masks makes the variance a smooth function of x between ReLU kinks, so autograd gives the
        exact gradient of what ``sample(X).var(axis=0)`` computes. float32 ``[len(X), d]``.
        """
        net = self._require_fit("input_gradient")
        X = self._features(X)
        out = np.empty(X.shape, dtype=np.float32)
        mean, std = torch.from_numpy(self._x_mean), torch.from_numpy(self._x_std)
        with _threads(1), torch.enable_grad():
            for start in range(0, len(X), _ROWS_PER_CHUNK):
                x = torch.from_numpy(X[start:start + _ROWS_PER_CHUNK]).requires_grad_(True)
                variance = _spread(net.hidden((x - mean) / std), self._masks) * self._y_std ** 2
                # Rows are independent, so the gradient of the sum is each row's own gradient.
                (grad,) = torch.autograd.grad(variance.sum(), x)
                out[start:start + len(x)] = grad.numpy()
        return out

    # --- internals -------------------------------------------------------------------------------------

    def _require_fit(self, method: str) -> _Net:
        if self._net is None:
            raise RuntimeError(f"BayesianMLP.{method} called before fit")
        return self._net

    def _draw_masks(self, n: int, generator: torch.Generator) -> torch.Tensor:
        width = self._net.W1.shape[0]
        return torch.rand(n, width, generator=generator) >= self.dropout

    def _output_weights(self, keep: torch.Tensor) -> torch.Tensor:
        """Per-sample output weights ``[m, h]``: w2 with the dropped units zeroed, the rest scaled by 1/(1−p)."""
        return keep.float() * (self._net.w2.detach() / (1.0 - self.dropout))

    def _outputs(self, X: np.ndarray, weights: torch.Tensor) -> np.ndarray:
        """``[m, len(X)]`` outputs in target units for output weights ``[m, h]``."""
        net = self._require_fit("predict")
        out = np.empty((len(weights), len(X)), dtype=np.float64)
        with self._inference():
            for rows, x in self._chunks(X):
                passes = torch.addmm(net.b2, weights, net.hidden(x).T)  # [m, rows]
                out[:, rows] = passes.numpy()
        return out * self._y_std + self._y_mean

    def _features(self, X: np.ndarray) -> np.ndarray:
        X = _checked(X, "X", 2)
        if X.shape[1] != len(self._x_mean):
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on {len(self._x_mean)}")
        return X

    def _chunks(self, X: np.ndarray) -> Iterator[tuple[slice, torch.Tensor]]:
        X = self._features(X)
        for start in range(0, len(X), _ROWS_PER_CHUNK):
            rows = slice(start, min(start + _ROWS_PER_CHUNK, len(X)))
            yield rows, self._standardised(X[rows])

    def _standardised(self, X: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(X) - torch.from_numpy(self._x_mean)) / torch.from_numpy(self._x_std)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        with _threads(1), torch.no_grad():
            yield


def _spread(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Variance over the m passes ``hidden @ weights.T`` (population), computed from the centred weights."""
    # Centring the weights rather than the outputs keeps float32 from cancelling mean against spread.
    centred = hidden @ (weights - weights.mean(dim=0)).T  # [rows, m]
    return (centred ** 2).mean(dim=1)


@dataclass
class _Run:
    """One trained network: its best weights, the epochs it ran, its best epoch and its loss per epoch."""

    net: _Net
    epochs: int
    best_epoch: int
    history: dict[str, list[float]]


def _holdout(rows: torch.Tensor, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``rows`` into (fit, validation) at random; a single row has no validation."""
    n_val = max(1, round(fraction * len(rows))) if len(rows) >= 2 else 0
    shuffled = rows[torch.randperm(len(rows), generator=generator)]
    return shuffled[n_val:], shuffled[:n_val]


def _train(xs: torch.Tensor, ys: torch.Tensor, splits: list[tuple[torch.Tensor, torch.Tensor]], width: int,
           cfg: BayesianMLP, generator: torch.Generator, *, pooled: bool = False, epochs: int | None = None,
           batch_size: int | None = None) -> list[_Run]:
    """Train one network per (fit rows, validation rows) split, from scratch, early-stopped on its validation loss
    (mean squared error of the network without dropout); ``pooled``, on the loss over all their validation rows
    together, so that all keep the weights of one epoch. Without validation rows, ``epochs`` (default
    ``cfg.max_epochs``) epochs of ``batch_size`` (default ``cfg.batch_size``) genes per mini-batch.

    Every network starts at the training mean (output weights and bias zero; the hidden layer as
    torch.nn.Linear draws it) and is penalised by ``cfg.l2 / n`` times its weights (Adam's L2 term), n its fit
    rows. The networks are trained side by side as a stack (batched matrix products, one Adam over the
    stacked weights; Adam is elementwise, so they do not interact): a small network spends most of its
    time in per-operation overhead, which the stack shares. Each network keeps the weights of its lowest
    validation loss and stops ``patience`` epochs after it; the stack stops when all have.
    """
    epochs = cfg.max_epochs if epochs is None else epochs
    batch_size = cfg.batch_size if batch_size is None else batch_size
    G, d = len(splits), xs.shape[1]
    fit_rows, fit_weight = _padded([fit for fit, _ in splits])
    val_rows, val_weight = _padded([val for _, val in splits])
    validated = val_weight.shape[1] > 0
    if validated and not bool((val_weight.sum(dim=1) > 0).all()):
        raise AssertionError("every network of a stack needs validation rows, or none does")
    n_fit = fit_weight.sum(dim=1)
    x_val, y_val = xs[val_rows], ys[val_rows]

    params = _initial(G, d, width, generator)
    for output in _views(params, d, width)[2:]:
        output.zero_()
    optimiser = _Adam(params, cfg.lr, (cfg.l2 / n_fit.clamp_min(1.0)).unsqueeze(1))
    grad = torch.empty_like(params)  # written by every step: reusing it spares a fresh multi-MB buffer per step
    scale = 1.0 / (1.0 - cfg.dropout)
    best_loss = torch.full((G,), math.inf)
    best_epoch = torch.zeros(G, dtype=torch.long)
    stopped_at = torch.zeros(G, dtype=torch.long)  # 0 while training
    best_params = params.clone()
    train_history, val_history = [], []
    for epoch in range(1, epochs + 1):
        # Each network shuffles its own rows; padding (weight 0) sorts last.
        keys = torch.rand(fit_rows.shape, generator=generator).masked_fill_(fit_weight == 0, 2.0)
        order = keys.argsort(dim=1, stable=True)
        rows, weights = fit_rows.gather(1, order), fit_weight.gather(1, order)
        total = torch.zeros(G)
        # A network one row short may meet a batch of padding only: zero loss and gradient, weight decay only.
        for start in range(0, rows.shape[1], batch_size):
            batch, w = rows[:, start:start + batch_size], weights[:, start:start + batch_size]
            keep = (torch.rand(*batch.shape, width, generator=generator) >= cfg.dropout) * scale
            x = xs.index_select(0, batch.flatten()).view(*batch.shape, d)
            loss = _loss_and_grad(params, d, width, x, ys.index_select(0, batch.flatten()).view(batch.shape),
                                  w, keep, out=grad)
            optimiser.step(grad)
            total += loss * w.sum(dim=1)
        train_history.append(total / n_fit)
        if not validated:
            continue
        W1, b1, w2, b2 = _views(params, d, width)
        hidden = torch.relu(torch.baddbmm(b1.unsqueeze(1), x_val, W1.transpose(1, 2)))
        residual = torch.bmm(hidden, w2.unsqueeze(2)).squeeze(2) + b2.unsqueeze(1) - y_val
        squared = (val_weight * residual ** 2).sum(dim=1)
        val_loss = squared / val_weight.sum(dim=1)
        val_history.append(val_loss)
        criterion = (squared.sum() / val_weight.sum()).expand(G) if pooled else val_loss
        improved = (criterion < best_loss) & (stopped_at == 0)
        best_loss = torch.where(improved, criterion, best_loss)
        best_epoch = torch.where(improved, epoch, best_epoch)
        best_params = torch.where(improved.unsqueeze(1), params, best_params)
        stopped_at = torch.where((stopped_at == 0) & (epoch - best_epoch >= cfg.patience), epoch, stopped_at)
        if bool((stopped_at > 0).all()):
            break
    if not validated:  # nothing to stop on: the last weights
        best_epoch[:], best_params = epoch, params.clone()
    stopped_at = torch.where(stopped_at == 0, epoch, stopped_at)

    runs = []
    for g in range(G):
        W1, b1, w2, b2 = (v[g].clone() for v in _views(best_params, d, width))
        ran = int(stopped_at[g])
        history = {"train_loss": [float(t[g]) for t in train_history[:ran]],
                   "val_loss": [float(v[g]) for v in val_history[:ran]]}
        runs.append(_Run(_Net(W1, b1, w2, b2.reshape(1)), ran, int(best_epoch[g]), history))
    return runs


def _loss_and_grad(params: torch.Tensor, d: int, width: int, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                   keep: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Weighted mean squared error of each stacked network on its mini-batch; its gradient goes into ``out``
    (shaped as ``params``), by hand.

    Shapes: x ``[G, B, d]``, y and w ``[G, B]``, keep ``[G, B, width]`` (dropout mask already scaled by
    1/(1−p)). Written out rather than through autograd, whose per-call overhead dominates networks this
    small; the test suite checks it against autograd.
    """
    W1, b1, w2, b2 = _views(params, d, width)
    pre = torch.baddbmm(b1.unsqueeze(1), x, W1.transpose(1, 2))  # [G, B, h]
    # ∂hidden/∂pre: the mask where the unit is active. In place where a buffer is free: at these sizes each
    # fresh [G, B, h] buffer costs about as much as the arithmetic on it.
    relu = pre.clamp_min_(0)
    active = torch.sign(relu).mul_(keep)  # keep where the unit is active, else 0 (sign: float ops, unlike where)
    hidden = relu.mul_(keep)
    prediction = torch.bmm(hidden, w2.unsqueeze(2)).squeeze(2) + b2.unsqueeze(1)  # [G, B]
    # One prediction per target: the reference's (B,1,1) against (B,1) broadcast learnt the batch mean.
    assert prediction.shape == y.shape, (prediction.shape, y.shape)
    residual = prediction - y
    count = w.sum(dim=1).clamp_min(1.0)
    loss = (w * residual ** 2).sum(dim=1) / count
    d_out = 2.0 * w * residual / count.unsqueeze(1)  # [G, B]
    d_pre = active.mul_(d_out.unsqueeze(2) * w2.unsqueeze(1))  # [G, B, h]
    gW1, gb1, gw2, gb2 = _views(out, d, width)
    torch.bmm(d_pre.transpose(1, 2), x, out=gW1)
    torch.sum(d_pre, dim=1, out=gb1)
    gw2.copy_(torch.bmm(d_out.unsqueeze(1), hidden).squeeze(1))
    torch.sum(d_out, dim=1, out=gb2)
    return loss


def _views(params: torch.Tensor, d: int, width: int) -> tuple[torch.Tensor, ...]:
    """W1 ``[G, h, d]``, b1 ``[G, h]``, w2 ``[G, h]``, b2 ``[G]``: views of the stacked weights ``[G, h·d+2h+1]``."""
    G, hd = params.shape[0], width * d
    return (params[:, :hd].view(G, width, d), params[:, hd:hd + width], params[:, hd + width:hd + 2 * width],
            params[:, -1])


def _initial(G: int, d: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """Stacked weights drawn as torch.nn.Linear initialises them, U(±1/√fan_in)."""
    params = torch.empty(G, width * d + 2 * width + 1)
    W1, b1, w2, b2 = _views(params, d, width)
    for view, fan_in in ((W1, d), (b1, d), (w2, width), (b2, width)):
        bound = 1.0 / math.sqrt(fan_in)
        view.uniform_(-bound, bound, generator=generator)
    return params


class _Adam:
    """Adam with L2 weight decay, the update of torch.optim.Adam, on one tensor of stacked weights.

    torch.optim.Adam's Python wrapper costs more than the whole update at these sizes. ``weight_decay`` is a
    number, or a tensor ``[G, 1]`` with one coefficient per stacked network.
    """

    def __init__(self, params: torch.Tensor, lr: float, weight_decay: float | torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.weight_decay = torch.as_tensor(weight_decay, dtype=params.dtype)
        self.first, self.second = torch.zeros_like(params), torch.zeros_like(params)
        # Written in place every step: with a million weights, a fresh buffer per operation costs more than the
        # arithmetic (the allocator hands back untouched pages).
        self._denominator = torch.empty_like(params)
        self.steps = 0

    def step(self, grad: torch.Tensor) -> None:
        """One update from ``grad``, which it overwrites (with the gradient plus the L2 term)."""
        beta1, beta2 = self.betas
        self.steps += 1
        grad.addcmul_(self.params, self.weight_decay)
        self.first.lerp_(grad, 1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denominator = torch.sqrt(self.second, out=self._denominator).div_(math.sqrt(1 - beta2 ** self.steps))
        self.params.addcdiv_(self.first, denominator.add_(self.eps), value=-self.lr / (1 - beta1 ** self.steps))


def _padded(groups: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices ``[G, longest]`` padded with row 0, and weights that are 1 for real rows and 0 for padding."""
    longest = max(len(g) for g in groups)
    rows = torch.zeros(len(groups), longest, dtype=torch.long)
    weights = torch.zeros(len(groups), longest)
    for i, g in enumerate(groups):
        rows[i, :len(g)], weights[i, :len(g)] = g, 1.0
    return rows, weights


def _generator(root: int, *keys: int) -> torch.Generator:
    """A torch generator for one purpose, seeded from the fit's root seed and the purpose's keys."""
    high, low = np.random.SeedSequence([root, *keys]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed((int(high) << 31) ^ int(low))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads, then give the caller back its own setting."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)



def _checked(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """``a`` as contiguous, writable float32 with ``ndim`` dimensions and only finite values."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not a.flags.writeable:  # e.g. the loop's read-only test features: torch.from_numpy warns about those
        a = a.copy()
    if a.ndim != ndim or (ndim == 2 and a.shape[1] == 0):
        raise ValueError(f"{name} must have {ndim} dimension(s){' and a feature' if ndim == 2 else ''}, "
                         f"got shape {a.shape}")
    # By blocks of rows, so checking a million-gene pool needs no copy of its size.
    if not all(np.isfinite(a[i:i + _ROWS_PER_CHUNK]).all() for i in range(0, len(a), _ROWS_PER_CHUNK)):
        raise ValueError(f"{name} has NaN or infinite values; impute or drop them first")
    return a


def _sizes(value: int | Sequence[int]) -> tuple[int, ...]:
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        sizes = tuple(values) if not isinstance(values, (str, dict)) else ()
    except TypeError:
        sizes = ()
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= LARGEST_WHOLE for s in sizes):
        bound = ", each up to 2**63 - 1" if any(too_large(s) for s in sizes) else ""
        raise BadParameter("hidden_sizes", f"a positive whole number or a list of them (e.g. [128, 256]){bound}", value)
    if len(set(sizes)) != len(sizes):
        raise BadParameter("hidden_sizes", "a list of different widths", list(sizes))
    return tuple(sorted(sizes))
