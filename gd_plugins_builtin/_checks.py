"""Checks shared by the built-in acquisitions: parameter values, batch sizes and model outputs."""

from __future__ import annotations

import math

import numpy as np

from gd_core.errors import GdError


def positive_int(name: str, value: object, example: str) -> int:
    """``value`` as an int if it is a positive integer, else a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer (e.g. {example}), got {value!r}")
    return int(value)


def positive_float(name: str, value: object, example: str) -> float:
    """``value`` as a float if it is a positive finite number, else a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number (e.g. {example}), got {value!r}")
    return float(value)


def check_batch_size(batch_size: object, available: np.ndarray) -> None:
    """Refuse a batch size that is not a whole number between 1 and the number of available genes."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 0 < batch_size <= len(available):
        raise GdError(f"cannot select {batch_size!r} genes from {len(available)} available; "
                      "lower --batch-size or --cycles")


def refuse_non_finite(values: np.ndarray, method: str) -> None:
    """Refuse model output with NaN or infinite values, counting the genes (rows) affected."""
    finite = np.isfinite(values)
    if not finite.all():
        bad = int((~finite.reshape(len(values), -1).all(axis=1)).sum())
        raise GdError(f"model.{method} gave NaN or infinite values for {bad} gene(s); "
                      "check the model's fit and inputs")


def posterior_samples(model: object, X: np.ndarray) -> np.ndarray:
    """``model.sample(X)``, refused with a GdError unless it is ``[n_samples ≥ 1, len(X)]``."""
    samples = np.asarray(model.sample(X))
    if samples.ndim != 2 or samples.shape[1] != len(X) or samples.shape[0] < 1:
        raise GdError(f"model.sample returned shape {samples.shape} for {len(X)} genes; "
                      f"it must return [n_samples, {len(X)}]")
    return samples
