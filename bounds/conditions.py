"""Where a statement's conditions can hold: width windows m_low <= m <= m_high at fixed d.

Several statements hold only for widths in a window that moves with the input dimension d:

* Wang, Ullah, Mianjy, Arora (2022), Theorem 3.1 and Corollary 3.2:
  max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24); Lemma 4.4: d^2.4 <= m <= O(exp(d^0.24));
  Lemma 4.1 (m >= Omega(log(2/gamma))) and Lemma 4.2 (m >= Omega(log(1/gamma)),
  d >= Omega(log(m/gamma)/m)) have a lower edge only.
* Bubeck, Cherapanamjeri, Gidel, Tachet des Combes (2021), main theorem: k >= C1 log^3(1/gamma) and
  d >= C2 log(k/gamma) log(1/gamma), i.e. k <= gamma exp(d / (C2 log(1/gamma))) (k is the width m).

A bound with a width window implements the hook ``_log_width_window(d, gamma, **constants)``
returning the natural logarithms of the two edges (vectorised over d): exp(d^0.24) overflows a
float beyond d ~ 7e11 and Bubeck's upper edge beyond d ~ 1600, so everything here is computed in
log space. The edges are the same floating-point expressions as the bound's ``_conditions`` hook,
so ``width_window(...).contains(m)`` and ``bound.conditions(m=m, ...)`` agree exactly.

With C4 = 1, d^2.4 <= exp(d^0.24) holds for d <= 1.594 and again for d >= 2.97216e6: the window
of Theorem 3.1 is empty for every d from 2 to 2,972,162 (derivation, the degenerate d = 1 window
and the effect of the constants: docs/derivations/width_window.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theorycheck.bounds._base import Bound
from theorycheck.errors import UserInputError, check_real

__all__ = [
    "DEFAULT_GAMMA",
    "WidthWindow",
    "dimensions_with_window",
    "first_dimension_with_window",
    "has_width_window",
    "width_window",
    "windowed_bound_ids",
]

#: gamma used by ``theorycheck conditions`` and the width-window simulation unless told otherwise
#: (Corollary 3.2 needs gamma < 0.1, so the common 0.1 would not do).
DEFAULT_GAMMA = 0.05
#: log(2^53): beyond it every float is an integer, and the window is treated as an interval of
#: reals (at the thresholds its width is then astronomically larger than 1, see the docs).
_LOG_INTEGER_RESOLUTION = 53 * math.log(2.0)
#: Search range of :func:`first_dimension_with_window`.
_D_MAX = 1e300


@dataclass(frozen=True)
class WidthWindow:
    """The widths m at which a statement's conditions hold, at one input dimension d.

    Unpacks as ``m_low, m_high = window`` (floats; ``inf`` when an edge overflows or is absent).
    ``log_m_low``/``log_m_high`` are the exact natural-log edges. ``empty`` is True when no integer
    m >= 1 lies in [m_low, m_high].
    """

    bound_id: str
    d: float
    gamma: float
    constants: dict[str, float] = field(compare=False)
    log_m_low: float
    log_m_high: float

    @property
    def m_low(self) -> float:
        return _exp(self.log_m_low)

    @property
    def m_high(self) -> float:
        return _exp(self.log_m_high)

    def __iter__(self):
        yield self.m_low
        yield self.m_high

    @property
    def empty(self) -> bool:
        return bool(_empty(np.float64(self.log_m_low), np.float64(self.log_m_high)))

    def contains(self, m) -> np.ndarray | bool:
        """Whether each width m (>= 1) lies in the window (edges included, as in the papers)."""
        logm = np.log(np.asarray(m, dtype=float))
        out = (logm >= self.log_m_low) & (logm <= self.log_m_high)
        return bool(out) if out.ndim == 0 else out

    def describe(self) -> str:
        """``[m_low, m_high]`` in plain numbers, or ``empty (m_low > m_high)``."""
        lo, hi = _fmt_log(self.log_m_low), _fmt_log(self.log_m_high)
        return f"empty (lower edge {lo} > upper edge {hi})" if self.empty else f"[{lo}, {hi}]"


def _exp(log_value: float) -> float:
    return math.inf if log_value > 709.0 else math.exp(log_value)


def _fmt_log(log_value: float) -> str:
    """exp(log_value) printed with 4 significant digits, also beyond the float range."""
    if math.isinf(log_value):
        return "inf" if log_value > 0 else "0"
    if log_value <= 700:
        return f"{math.exp(log_value):.4g}"
    exponent = log_value / math.log(10)
    mantissa = 10 ** (exponent - math.floor(exponent))
    return f"{mantissa:.3f}e+{math.floor(exponent)}"


def _empty(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """True where no integer m >= 1 satisfies lo <= log m <= hi (lo, hi natural-log edges).

    Below 2^53 the smallest qualifying integer is found with the very comparisons of
    :meth:`WidthWindow.contains` (and of the bounds' ``_conditions``), so that "non-empty" means
    exactly "the conditions hold at some integer m". Beyond 2^53 every float is an integer and
    the window is non-empty iff lo <= hi.
    """
    lo = np.maximum(np.asarray(lo, dtype=float), 0.0)
    hi = np.asarray(hi, dtype=float)
    small = lo < _LOG_INTEGER_RESOLUTION
    m0 = np.ceil(np.exp(np.where(small, lo, 0.0)))
    # exp/log round: step to the neighbour if it qualifies (down) or if m0 does not (up).
    m0 = np.where((m0 > 1) & (np.log(np.maximum(m0 - 1, 1)) >= lo), m0 - 1, m0)
    m0 = np.where(np.log(m0) < lo, m0 + 1, m0)
    return np.where(small, np.log(m0) > hi, hi < lo)


def has_width_window(bound: Bound) -> bool:
    """Whether ``bound`` declares a width window (the ``_log_width_window`` hook)."""
    return callable(getattr(bound, "_log_width_window", None))


def windowed_bound_ids() -> list[str]:
    """Ids of every registered bound with a width window."""
    from theorycheck.bounds import REGISTRY

    return [i for i, b in REGISTRY.items() if has_width_window(b)]


def _resolve(bound_or_id) -> Bound:
    from theorycheck.bounds import get_bound

    bound = get_bound(bound_or_id) if isinstance(bound_or_id, str) else bound_or_id
    if not has_width_window(bound):
        raise UserInputError(
            f"{bound.id} has no width window (its conditions do not bound the width m); "
            f"statements with one: {', '.join(windowed_bound_ids())}"
        )
    return bound


def _param(bound: Bound, name: str):
    for p in bound.params:
        if p.name == name:
            return p
    return None


def _window_inputs(bound: Bound, gamma: float, constants: dict) -> tuple[float, dict[str, float]]:
    """Validated gamma and the full set of constants (defaults overridden by ``constants``)."""
    known = {c.name: c.default for c in bound.constants}
    unknown = set(constants) - set(known)
    if unknown:
        raise UserInputError(
            f"{bound.id}: unknown constant(s) {', '.join(sorted(unknown))}; "
            f"its constants are {', '.join(known) or 'none'}"
        )
    by_name = {c.name: c for c in bound.constants}
    used = {**known, **constants}
    used = {k: float(by_name[k].validate(v, bound.id)) for k, v in used.items()}
    p = _param(bound, "gamma")
    gamma = float(p.validate(gamma)) if p is not None else float(gamma)
    return gamma, used


def _log_edges(bound: Bound, d, gamma: float, constants: dict) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(d, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 1):
        raise UserInputError("d must be a finite number >= 1")
    lo, hi = bound._log_width_window(d, gamma, **constants)
    lo = np.maximum(np.broadcast_to(np.asarray(lo, dtype=float), d.shape), 0.0)  # m >= 1
    hi = np.broadcast_to(np.asarray(hi, dtype=float), d.shape)
    return lo, hi


def width_window(bound_id: str | Bound, d: float, gamma: float = DEFAULT_GAMMA,
                 **constants: float) -> WidthWindow:  # fmt: skip
    """The width window of statement ``bound_id`` at input dimension ``d``.

    Parameters
    ----------
    bound_id : a registered id with a width window (see :func:`windowed_bound_ids`) or the bound.
    d : input dimension (>= 1; floats beyond 2^53 are accepted).
    gamma : the statement's failure probability (enters the C3 log(1/gamma) edge of Wang et al.
        Theorem 3.1 and both edges of Bubeck et al.'s theorem).
    constants : overrides of the statement's free constants (e.g. ``C4=2``); all must be > 0.

    Returns
    -------
    WidthWindow, unpacking as ``(m_low, m_high)``.

    References: Wang et al. (2022) Theorem 3.1, Corollary 3.2, Lemmas 4.1, 4.2, 4.4; Bubeck et al.
    (2021) Theorem; docs/derivations/width_window.md.
    """
    bound = _resolve(bound_id)
    gamma, used = _window_inputs(bound, gamma, constants)
    d_arr = _param(bound, "d").validate(d) if _param(bound, "d") else np.asarray(d, float)
    if d_arr.ndim:
        raise UserInputError("width_window takes one d; use dimensions_with_window for arrays")
    lo, hi = _log_edges(bound, float(d_arr), gamma, used)
    return WidthWindow(bound.id, float(d_arr), gamma, used, float(lo), float(hi))


def dimensions_with_window(bound_id: str | Bound, d, gamma: float = DEFAULT_GAMMA,
                           **constants: float) -> np.ndarray:  # fmt: skip
    """Vectorised over ``d``: True where the width window of ``bound_id`` is non-empty."""
    bound = _resolve(bound_id)
    gamma, used = _window_inputs(bound, gamma, constants)
    lo, hi = _log_edges(bound, d, gamma, used)
    return ~_empty(lo, hi)


def first_dimension_with_window(bound_id: str | Bound, gamma: float = DEFAULT_GAMMA,
                                **constants: float) -> int:  # fmt: skip
    """The smallest integer d* such that the width window is non-empty for every d >= d*.

    The window may also be non-empty at isolated small d (Theorem 3.1 with C4 = 1 at d = 1, where
    [1, e] holds m = 1 and 2): those do not count; use :func:`dimensions_with_window` to see them.

    Method: scan a log grid of d from 1 to 1e300 (400 points per decade), take the last grid point
    with an empty window, and bisect over the integers between it and the next grid point. This
    finds the start of the final stretch because, for every registered window, the log-gap
    log m_high - log m_low is quasi-convex in log d (decreasing, then increasing: see
    docs/derivations/width_window.md), so the non-empty set is a union of (-inf, a] and [b, inf).
    Raises UserInputError if the window is still empty at d = 1e300.
    """
    bound = _resolve(bound_id)
    grid = np.unique(np.concatenate([[1.0], np.geomspace(1.0, _D_MAX, 300 * 400 + 1)]))
    ok = dimensions_with_window(bound, grid, gamma, **constants)
    if not ok[-1]:
        raise UserInputError(
            f"{bound.id}: the width window is empty for every d up to {_D_MAX:g} with these "
            "constants"
        )
    empty_at = np.flatnonzero(~ok)
    if empty_at.size == 0:
        return 1
    # Between the last empty grid point and the next one the integers run from "empty" to
    # "non-empty" exactly once (quasi-convexity, see above): bisect with lo empty, hi non-empty.
    lo, hi = math.ceil(grid[empty_at[-1]]), math.ceil(grid[empty_at[-1] + 1])
    if dimensions_with_window(bound, float(lo), gamma, **constants):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dimensions_with_window(bound, float(mid), gamma, **constants):
            hi = mid
        else:
            lo = mid
    return hi


def _parse_count(name: str, text) -> float:
    """A dimension or width given on the command line: an integer >= 1 (``3e6`` is accepted)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be an integer >= 1, got {text!r}") from None
    if not math.isfinite(value) or value < 1 or value != math.floor(value):
        raise UserInputError(f"{name} must be an integer >= 1, got {text!r}")
    return value


def _parse_constants(items) -> dict[str, float]:
    out = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UserInputError(f"--constant takes NAME=VALUE (e.g. C4=2), got {item!r}") from None
    return out


def _fmt_int(value: float) -> str:
    return f"{int(value):,}" if value < 1e15 else f"{value:.4g}"


def _ranges(ds: np.ndarray) -> str:
    """Sorted integers as 'a-b, c' runs."""
    runs, start = [], None
    for i, d in enumerate(ds):
        if start is None:
            start = d
        if i + 1 == len(ds) or ds[i + 1] != d + 1:
            runs.append(f"{start:,}" if start == d else f"{start:,}-{d:,}")
            start = None
    return ", ".join(runs)


def conditions_report(bound_id: str, d, m=(), gamma=None, constants=()) -> str:
    """The text of ``theorycheck conditions CLAIM --d D [--m M ...] [--gamma G]``.

    The statement, its condition text, the width window at ``d`` (or "empty"), whether each
    width ``m`` satisfies it, and the smallest d from which the window is non-empty for every
    larger d, with the constants used. Arguments may be strings as typed on the command line.
    """
    import textwrap

    from theorycheck.bounds import get_bound

    bound = get_bound(bound_id)
    d = _parse_count("d", d)
    widths = [_parse_count("m", v) for v in (m or ())]
    gamma = DEFAULT_GAMMA if gamma is None else gamma
    # A failure probability, whether or not this claim has a width window that uses it.
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    info = bound.describe()
    lines = [f"{bound.id}  [{info['kind']}]", f"  citation:    {info['citation']}"]
    lines += textwrap.wrap(info["statement"], 96, initial_indent="  statement:   ",
                           subsequent_indent=" " * 15)  # fmt: skip
    lines += textwrap.wrap(info["conditions"], 96, initial_indent="  conditions:  ",
                           subsequent_indent=" " * 15)  # fmt: skip
    if not has_width_window(bound):
        if constants:
            _window_inputs(bound, gamma, _parse_constants(constants))  # still reject bad names
        lines.append("  width window: none (the conditions do not restrict the width m)")
        return "\n".join(lines)
    gamma, used = _window_inputs(bound, gamma, _parse_constants(constants))
    window = width_window(bound, d, gamma, **used)
    shown = ", ".join(f"{k}={v:g}" for k, v in used.items())
    lines.append(f"  constants:   {shown}; gamma={gamma:g}")
    where = window.describe() if window.empty else f"m in {window.describe()}"
    lines.append(f"  width window at d = {_fmt_int(d)}: {where}")
    for value in widths:
        inside = window.contains(value)
        lines.append(f"    m = {_fmt_int(value)}: {'inside' if inside else 'outside'} the window")
    first = first_dimension_with_window(bound, gamma, **used)
    if first == 1:
        lines.append(f"  the window is non-empty for every d >= 1 (constants {shown})")
    else:
        text = (
            f"smallest d with a non-empty window: {_fmt_int(first)} (non-empty for every "
            f"d >= {_fmt_int(first)}, empty at d = {_fmt_int(first - 1)}; constants {shown}, "
            f"gamma={gamma:g})"
        )
        lines += textwrap.wrap(text, 98, initial_indent="  ", subsequent_indent="    ")
        below = np.arange(1, min(first - 1, 10**6) + 1, dtype=np.int64)
        islands = below[dimensions_with_window(bound, below.astype(float), gamma, **used)]
        if islands.size:
            lines.append(f"  also non-empty at the isolated small d = {_ranges(islands)}")
    return "\n".join(lines)
