"""User-facing errors: one clear line naming the bad parameter and the fix."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


class UserInputError(ValueError):
    """Bad input from a user (CLI or API). The CLI prints the message and exits with code 2."""


#: Memory any one allocation sized from a user's parameters may take (a materialised W, a block
#: of exact-path draws, a batch of inputs); larger requests are refused before allocating.
MEMORY_BUDGET_BYTES = 4 * 2**30


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low == -math.inf else "["
    right = ")" if high_open or high == math.inf else "]"
    return f"{left}{low:g}, {high:g}{right}"


def check_numbers(
    name: str,
    value,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> np.ndarray:
    """The one validation of numeric parameters: ``value`` (a number or an array of them) as a
    float array whose entries are finite, integral if ``integer``, and in the interval from
    ``low`` to ``high`` (ends open or closed); otherwise a :class:`UserInputError` of one line
    naming ``name``, the allowed range and the first bad entry.

    Booleans, strings, None and complex numbers are not numbers here. Reference:
    docs/user-guide.md, "When something goes wrong" (a user error is one line naming the
    parameter, exit code 2).
    """
    domain = _interval(low, high, low_open, high_open) + (" (integer)" if integer else "")
    try:
        if isinstance(value, bool | np.bool_ | str | bytes | complex) or value is None:
            raise TypeError
        arr = np.asarray(value)
        if arr.dtype.kind not in "iufO":
            raise TypeError
        arr = arr.astype(float)  # an object array of numbers (e.g. Fractions) converts
    except (TypeError, ValueError, OverflowError):
        raise UserInputError(f"{name} must be a number in {domain}, got {value!r}") from None
    if arr.size == 0:
        raise UserInputError(f"{name} is empty; give a number in {domain}")
    flat = arr.ravel()
    bad = ~np.isfinite(flat)
    bad |= (flat <= low) if low_open else (flat < low)
    bad |= (flat >= high) if high_open else (flat > high)
    if integer:
        with np.errstate(invalid="ignore"):
            bad |= flat != np.round(flat)
    if bad.any():
        first = value if arr.ndim == 0 else flat[bad][0]
        if isinstance(first, numbers.Real) and not math.isfinite(first):
            raise UserInputError(f"{name} must be finite and lie in {domain}, got {first!r}")
        raise UserInputError(f"{name} must lie in {domain}, got {_show(first)}")
    return arr


def _show(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return repr(v)
    return repr(v) if isinstance(v, int) and not isinstance(v, bool) else f"{f:g}"


def check_int(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in [``minimum``, ``maximum``] or raise naming the parameter."""
    rng = f">= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise UserInputError(f"{name} must be an integer {rng}, got {value!r}")
    try:
        ok = math.isfinite(value) and int(value) == value
    except (OverflowError, ValueError):
        ok = False
    if not ok or value < minimum or (maximum is not None and value > maximum):
        shown = value if abs(int(value) if ok else 0) < 10**30 else f"{float(value):.3g}"
        raise UserInputError(f"{name} must be an integer {rng}, got {shown!r}")
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
    """Return ``value`` as a finite float in the given interval or raise naming the parameter
    (a scalar :func:`check_numbers`)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            domain = _interval(low, high, low_open, high_open)
            raise UserInputError(f"{name} must be a number in {domain}, got {value!r}") from None
    arr = check_numbers(name, value, low=low, high=high, low_open=low_open, high_open=high_open)
    if arr.ndim != 0 and arr.size != 1:
        raise UserInputError(f"{name} must be one number, got {arr.size}")
    return float(arr.reshape(()))


def check_allocation(
    what: str, nbytes: float, *, budget: int = MEMORY_BUDGET_BYTES, hint: str = "lower it"
) -> None:
    """Raise a one-line :class:`UserInputError` naming ``what`` (the parameters that size the
    allocation, e.g. ``"n*d = 10*1000000"``) if ``nbytes`` exceeds ``budget``: refused before
    anything is allocated instead of a raw MemoryError."""
    if nbytes > budget:
        raise UserInputError(
            f"{what}: needs {nbytes / 2**30:.1f} GiB, over the {budget / 2**30:.1f} GiB memory "
            f"budget; {hint}"
        )


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
