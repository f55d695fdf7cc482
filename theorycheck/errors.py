"""User-facing errors: one clear line naming the bad parameter and the fix."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


class UserInputError(ValueError):
    """Bad input from a user (CLI or API). The CLI prints the message and exits with code 2."""


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise naming the parameter."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not math.isfinite(value):
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) != value or value < minimum:
        raise UserInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in the given interval or raise naming the parameter."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    interval = f"{lo}{low:g}, {high:g}{hi}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a real number in {interval}, got {value!r}") from None
    if not math.isfinite(v):
        raise UserInputError(f"{name} must be a finite number in {interval}, got {value!r}")
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if below or above:
        raise UserInputError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise UserInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_finite(name: str, array) -> None:
    """Raise if a computed result contains NaN or infinity (no silent NaN)."""
    import numpy as np

    arr = np.asarray(array)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise FloatingPointError(f"{name}: {bad} non-finite value(s) in a computed result")
