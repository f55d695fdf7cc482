"""The conformance check every registered bound must pass (like scikit-learn's check_estimator).

:func:`check_bound` raises :class:`AssertionError` listing every way a bound breaks the contract:
documented (id, citation, statement, kind, constants), vectorised over its parameters (array
calls equal scalar calls), monotone in the directions its statement implies, conditions
well-defined (boolean, broadcast), out-of-domain parameters rejected with the parameter's name,
and for exact laws a CDF that is a CDF (nondecreasing, in [0, 1]) with a finite mean and a
nonnegative variance.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np

from theorycheck.bounds._base import Bound, ExactLaw, Kind, Param
from theorycheck.errors import UserInputError

__all__ = ["check_bound", "valid_values"]

_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


def valid_values(p: Param, k: int = 5) -> np.ndarray:
    """``k`` increasing values inside the domain of ``p`` (log-spaced on half-lines)."""
    lo = p.low if math.isfinite(p.low) else -1e3
    hi = p.high if math.isfinite(p.high) else max(lo, 0.0) + 1e4
    if math.isfinite(p.low) and math.isfinite(p.high):
        t = np.linspace(0.0, 1.0, k + 2)[1:-1]
        vals = lo + (hi - lo) * t**2 if hi - lo <= 1 else lo + (hi - lo) * t
    else:
        start = lo + (0.5 if p.low_open or not p.integer else 0.0)
        vals = start + np.geomspace(1.0, hi - lo, k) - 1.0
        if not p.low_open:
            vals[0] = lo
    if p.integer:
        vals = np.unique(np.ceil(vals - 1e-9))
        vals = vals[(vals > lo) if p.low_open else (vals >= lo)]
    return np.asarray(vals, dtype=float)


def _invalid_values(p: Param) -> list[float]:
    bad = [math.nan]
    if math.isfinite(p.low):
        bad.append(p.low if p.low_open else p.low - 1.0)
    if math.isfinite(p.high):
        bad.append(p.high if p.high_open else p.high + 1.0)
    if p.integer:
        base = p.low if math.isfinite(p.low) else 0.0
        bad.append(base + 1.5)
    return bad


def check_bound(bound: Bound) -> None:
    """Raise AssertionError naming every contract violation of ``bound`` (see module docstring)."""
    problems: list[str] = []

    def need(cond: bool, msg: str) -> None:
        if not cond:
            problems.append(msg)

    need(bool(_ID.match(bound.id)), f"id {bound.id!r} is not '<paper>.<statement>'")
    need(len(bound.citation) > 10, "citation missing")
    need(len(bound.statement) > 20, "statement missing")
    need(isinstance(bound.kind, Kind), f"kind {bound.kind!r} is not a Kind")
    need(bool(bound.params), "no parameters declared")
    for c in bound.constants:
        need(bool(c.doc) and math.isfinite(c.default), f"constant {c.name} undocumented")
    names = [p.name for p in bound.params]
    for name in bound.monotone:
        need(name in names, f"monotone direction for unknown parameter {name!r}")
    grids = {p.name: valid_values(p) for p in bound.params}

    # Vectorised: one call over the full grid equals scalar calls point by point.
    mesh = np.meshgrid(*grids.values(), indexing="ij")
    arrays = dict(zip(grids, mesh, strict=True))
    try:
        vec = np.asarray(bound(**arrays), dtype=float)
        if vec.shape != mesh[0].shape:
            raise ValueError(f"vectorised call has shape {vec.shape}, not {mesh[0].shape}")
        for idx in itertools.islice(np.ndindex(mesh[0].shape), 200):
            scalar = bound(**{k: float(v[idx]) for k, v in arrays.items()})
            need(isinstance(scalar, float), "scalar call does not return a float")
            ok = math.isclose(scalar, float(vec[idx]), rel_tol=1e-12, abs_tol=1e-12)
            need(ok, f"vectorised != scalar at {idx}: {vec[idx]} vs {scalar}")
        need(bool(np.all(np.isfinite(vec))), "non-finite values inside the domain")
    except (UserInputError, ValueError, TypeError) as exc:
        problems.append(f"evaluation on valid parameters failed: {exc}")
        vec = None

    # Monotone in each declared direction, along every grid line of that parameter.
    if vec is not None:
        for name, direction in bound.monotone.items():
            if name not in names:
                continue
            axis = names.index(name)
            steps = np.diff(vec, axis=axis) * direction
            scale = np.maximum(np.abs(vec).max(), 1.0)
            word = "nondecreasing" if direction > 0 else "nonincreasing"
            need(bool(np.all(steps >= -1e-12 * scale)), f"not {word} in {name}")

    # Conditions: boolean and broadcast to the parameters' shape.
    try:
        cond = np.asarray(bound.conditions(**arrays))
        need(cond.dtype == bool and cond.shape == mesh[0].shape, "conditions not a boolean array")
    except (UserInputError, ValueError, TypeError) as exc:
        problems.append(f"conditions failed on valid parameters: {exc}")

    # Out-of-domain values are rejected with the parameter's name.
    point = {k: float(v[0]) for k, v in grids.items()}
    for p in bound.params:
        for bad in _invalid_values(p):
            try:
                bound(**{**point, p.name: bad})
            except UserInputError as exc:
                need(p.name in str(exc), f"error for {p.name}={bad} does not name it: {exc}")
            else:
                problems.append(f"{p.name}={bad} accepted outside its domain")

    if isinstance(bound, ExactLaw):
        for idx in itertools.islice(np.ndindex(mesh[0].shape), 12):
            at = {k: float(v[idx]) for k, v in arrays.items()}
            mean, var = float(bound.mean(**at)), float(bound.var(**at))
            need(math.isfinite(mean) and var >= 0, f"mean/var invalid at {at}")
            sd = math.sqrt(var) if var > 0 else 1.0
            xs = mean + sd * np.linspace(-8, 8, 81)
            F = bound.cdf(xs, **at)
            need(bool(np.all(np.diff(F) >= -1e-12)), f"cdf decreasing at {at}")
            need(bool(np.all((F >= -1e-12) & (F <= 1 + 1e-12))), f"cdf outside [0,1] at {at}")
            need(F[0] < 0.01 and F[-1] > 0.99, f"cdf does not span its mass at {at}")

    if problems:
        raise AssertionError(f"{bound.id or type(bound).__name__}: " + "; ".join(problems))
