"""Checks shared by the built-in components: parameter values, batch sizes and model outputs.

The parameter checks raise ``BadParameter``, which the registry turns into one line naming the component,
the parameter as the user set it (``model.max_depth``) and what is allowed. numpy is imported inside the
functions, as in every built-in plugin module (see ``gd_plugins_builtin``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from gd_core.errors import GdError
from gd_core.registry import BadParameter, boolean  # noqa: F401  (boolean: the built-ins' check, kept in core)

if TYPE_CHECKING:
    import numpy as np


def _is_whole(value: object) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: object) -> bool:
    import numpy as np

    # a bool is an int to Python, never a number to a user
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# The largest whole number a parameter may take: numpy, torch and numba hold counts in 64 bits, and a larger one
# would fail deep inside them, mid-run, in their words. (A count that fits may still not fit in memory: that fails
# at the first fit, in one line.)
LARGEST_WHOLE = 2**63 - 1


def whole(name: str, value: object, *, minimum: int = 1, example: str | None = None) -> int:
    """``value`` as an int if it is a whole number from ``minimum`` to ``LARGEST_WHOLE``, else a ``BadParameter``
    naming ``name``."""
    if not _is_whole(value) or not minimum <= value <= LARGEST_WHOLE:
        allowed = "a positive integer" if minimum == 1 else f"a whole number ≥ {minimum}"
        notes = [f"e.g. {example}"] if example else []
        if too_large(value):
            allowed += " up to 2**63 - 1"
            notes.append("numpy and torch hold no larger count")
        raise BadParameter(name, allowed + (f" ({'; '.join(notes)})" if notes else ""), value)
    return int(value)


def too_large(value: object) -> bool:
    """Whether ``value`` is a whole number beyond ``LARGEST_WHOLE`` (for checks that word their own refusal)."""
    return _is_whole(value) and value > LARGEST_WHOLE


def positive_int(name: str, value: object, example: str) -> int:
    """``value`` as an int if it is a positive integer, else a ``BadParameter`` naming the parameter."""
    return whole(name, value, minimum=1, example=example)


def number(name: str, value: object, *, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
           high_open: bool = False, example: str | None = None) -> float:
    """``value`` as a float if it is a finite number in the interval, else a ``BadParameter`` naming ``name``."""
    ok = _is_number(value) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if low == 0 and low_open and high == math.inf:
            allowed = "a positive finite number"
        else:
            allowed = (f"a number in {'(' if low_open else '['}{low:g}, "
                       f"{high:g}{')' if high_open or high == math.inf else ']'}")
        raise BadParameter(name, allowed + (f" (e.g. {example})" if example else ""), value)
    return float(value)


def positive_float(name: str, value: object, example: str) -> float:
    """``value`` as a float if it is a positive finite number, else a ``BadParameter`` naming the parameter."""
    return number(name, value, low=0.0, low_open=True, example=example)


def one_of(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of the ``choices``, else a ``BadParameter`` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise BadParameter(name, "one of " + ", ".join(f'"{c}"' for c in choices), value)
    return value


def check_batch_size(batch_size: object, available: np.ndarray) -> None:
    """Refuse a batch size that is not a whole number between 1 and the number of available genes."""
    import numpy as np

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 0 < batch_size <= len(available):
        raise GdError(f"cannot select {batch_size!r} genes from {len(available)} available; "
                      "lower --batch-size or --cycles")


def refuse_non_finite(values: np.ndarray, method: str) -> None:
    """Refuse model output with NaN or infinite values, counting the genes (rows) affected.

    Non-finite output is always an error: a score of NaN would rank arbitrarily and silently.
    """
    import numpy as np

    finite = np.isfinite(values)
    if not finite.all():
        bad = int((~finite.reshape(len(values), -1).all(axis=1)).sum())
        raise GdError(f"model.{method} gave NaN or infinite values for {bad} gene(s); "
                      "check the model's fit and inputs")


def real_numbers(values: object, method: str, shape: str) -> np.ndarray:
    """What ``model.<method>`` returned, as an array in its own dtype, refused with a GdError naming the method
    unless it holds real numbers (not text, true/false, objects or complex numbers, which numpy would convert
    silently or with a warning). ``shape`` says what it must return, for the message."""
    import numpy as np

    from gd_core.data import holds_real_numbers

    try:
        array = np.asarray(values)
    except Exception:  # noqa: BLE001 — e.g. a ragged list
        raise GdError(f"model.{method} returned a {type(values).__name__} that is not an array; it must return "
                      f"{shape} real numbers") from None
    if not holds_real_numbers(array):
        raise GdError(f"model.{method} returned values of dtype {array.dtype}; it must return {shape} real numbers")
    return array


def posterior_samples(model: object, X: np.ndarray) -> np.ndarray:
    """``model.sample(X)``, refused with a GdError unless it is ``[n_samples ≥ 1, len(X)]`` real numbers."""
    # its own dtype: float32 samples must score exactly as before
    samples = real_numbers(model.sample(X), "sample", f"[n_samples, {len(X)}]")
    if samples.ndim != 2 or samples.shape[1] != len(X) or samples.shape[0] < 1:
        raise GdError(f"model.sample returned shape {samples.shape} for {len(X)} genes; "
                      f"it must return [n_samples, {len(X)}]")
    return samples


def training_data(X: object, y: object, name: str, dtype: object) -> tuple[np.ndarray, np.ndarray]:
    """A fit's inputs as a fresh C-ordered ``dtype`` matrix and float64 outcomes, refused in one line naming the
    model unless ``[n, d]`` and ``[n]`` with n ≥ 1, all finite (the loop never gives otherwise; a caller might)."""
    import numpy as np

    X = np.array(X, dtype=dtype, order="C")
    y = np.array(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise GdError(f"{name}: cannot fit {X.shape} features to {y.shape} outcomes; give one row of features "
                      "per outcome, at least one")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise GdError(f"{name}: the training features or outcomes hold NaN or infinite values; replace them "
                      "with finite numbers")
    return X, y
