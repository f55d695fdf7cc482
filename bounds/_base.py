"""The Bound base class: public behaviour written once, each bound overrides small hooks.

In the manner of ``scipy.stats.rv_continuous``: :meth:`Bound.__call__` validates every parameter
against its declared domain, broadcasts the parameters against each other, and calls the private
``_value`` hook with float arrays; :meth:`Bound.conditions` does the same for ``_conditions``.
Exact laws (:class:`ExactLaw`) add ``cdf``, ``mean`` and ``var``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from theorycheck.errors import UserInputError, check_numbers

__all__ = ["Bound", "Constant", "ExactLaw", "Kind", "Param"]


class Kind(StrEnum):
    HP_UPPER = "high-probability upper bound"
    HP_LOWER = "high-probability lower bound"
    EXPECTATION = "expectation"
    EXACT_LAW = "exact law"
    RATE = "rate"
    ASYMPTOTIC = "asymptotic reference"


@dataclass(frozen=True)
class Param:
    """A parameter of a bound with its domain [low, high] (ends open or closed)."""

    name: str
    doc: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def validate(self, value) -> np.ndarray:
        """``value`` as a float array in the domain (finite), or a one-line error naming it."""
        return check_numbers(self.name, value, low=self.low, high=self.high,
                             low_open=self.low_open, high_open=self.high_open,
                             integer=self.integer)  # fmt: skip


@dataclass(frozen=True)
class Constant:
    """An unspecified universal constant of a statement, with the default the product uses.

    The statements' constants are positive ("there exist constants C > 0 such that ..."), so
    the default domain is (0, inf); an override outside it, or not finite, is refused.
    """

    name: str
    default: float
    doc: str
    low: float = 0.0
    high: float = math.inf
    low_open: bool = True

    def validate(self, value, bound_id: str = "") -> np.ndarray:
        """``value`` as a float array in the constant's domain, or a one-line error naming it."""
        where = f"{bound_id}: constant " if bound_id else "constant "
        return check_numbers(f"{where}{self.name}", value, low=self.low, high=self.high,
                             low_open=self.low_open)  # fmt: skip


class Bound:
    """A closed-form bound from a paper (or a [derived] fact), evaluated vectorised.

    Subclasses set the class attributes and override ``_value`` (and ``_conditions`` when the
    statement has conditions beyond the parameter domains).

    Attributes
    ----------
    id : stable registry id, ``<paper>.<statement>`` (e.g. ``wang2022.lemma_4_3``).
    citation : paper and theorem/lemma number, or the docs/ derivation for [derived] facts.
    statement : the statement as the paper gives it (plain text).
    kind : a :class:`Kind`.
    params : the parameters the value depends on, with their domains.
    constants : free constants with documented defaults (may be overridden per call).
    monotone : {param: +1 or -1}, directions in which the value must be nondecreasing (+1) or
        nonincreasing (-1) according to the statement (checked by the conformance check).
    derived : True for facts derived for this project (docs/theory.md [derived]).
    """

    id: str = ""
    citation: str = ""
    statement: str = ""
    kind: Kind = Kind.HP_UPPER
    params: tuple[Param, ...] = ()
    constants: tuple[Constant, ...] = ()
    monotone: dict[str, int] = {}  # noqa: RUF012 (read-only class-level declaration)
    derived: bool = False

    # -- public behaviour, written once ------------------------------------------------------
    def _bind(self, kwargs: dict, optional: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Validated, broadcast parameters and constants; ``optional`` parameters may be
        absent (they are then left out)."""
        names = {p.name for p in self.params}
        const_names = {c.name for c in self.constants}
        unknown = set(kwargs) - names - const_names
        if unknown:
            raise UserInputError(
                f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(sorted(names | const_names))}"
            )
        missing = names - set(kwargs) - optional
        if missing:
            raise UserInputError(f"{self.id}: missing parameter(s) {', '.join(sorted(missing))}")
        values = {p.name: p.validate(kwargs[p.name]) for p in self.params if p.name in kwargs}
        for c in self.constants:
            values[c.name] = c.validate(kwargs.get(c.name, c.default), self.id)
        arrays = np.broadcast_arrays(*values.values())
        return dict(zip(values, arrays, strict=True))

    def __call__(self, **kwargs) -> np.ndarray | float:
        """The bound's value, broadcast over array-valued parameters."""
        bound = self._bind(kwargs)
        out = np.asarray(self._value(**bound), dtype=float)
        return float(out) if out.ndim == 0 else out

    def condition_parameters(self) -> frozenset[str]:
        """The parameters the statement's conditions depend on (those ``_conditions`` names);
        :meth:`conditions` needs only these (e.g. a width window does not depend on the
        attack radius)."""
        signature = inspect.signature(self._conditions).parameters.values()
        named = {a.name for a in signature if a.kind is not inspect.Parameter.VAR_KEYWORD}
        return frozenset(p.name for p in self.params if p.name in named)

    def conditions(self, **kwargs) -> np.ndarray | bool:
        """Whether the statement's conditions hold at the given parameters (broadcast); the
        parameters outside :meth:`condition_parameters` may be left out."""
        optional = frozenset(p.name for p in self.params) - self.condition_parameters()
        bound = self._bind(kwargs, optional)
        shape = np.broadcast(*bound.values()).shape
        out = np.broadcast_to(np.asarray(self._conditions(**bound), dtype=bool), shape)
        return bool(out) if out.ndim == 0 else out.copy()

    def describe(self) -> dict:
        """A plain dict for catalogs and reports."""
        return {
            "id": self.id,
            "citation": self.citation,
            "statement": self.statement,
            "kind": str(self.kind),
            "parameters": ", ".join(p.name for p in self.params),
            "constants": ", ".join(f"{c.name}={c.default:g}" for c in self.constants),
            "conditions": (self._conditions.__doc__ or "none beyond the parameter domains").strip(),
            "derived": self.derived,
        }

    # -- hooks -------------------------------------------------------------------------------
    def _value(self, **params) -> np.ndarray:
        raise NotImplementedError

    def _conditions(self, **params) -> np.ndarray:
        """none beyond the parameter domains"""
        return np.True_


class ExactLaw(Bound):
    """An exact law (reference distribution): ``_cdf`` plus mean and variance hooks.

    Calling the law returns its mean. ``cdf(x, **params)`` takes scalar parameters (one
    distribution) and an array of points.
    """

    kind = Kind.EXACT_LAW

    def _value(self, **params):
        return self._mean(**params)

    def cdf(self, x, **kwargs) -> np.ndarray:
        bound = self._bind(kwargs)
        if any(v.ndim for v in bound.values()):
            raise UserInputError(f"{self.id}.cdf takes scalar parameters")
        return np.asarray(self._cdf(np.asarray(x, dtype=float), **bound), dtype=float)

    def mean(self, **kwargs) -> np.ndarray | float:
        return self(**kwargs)

    def var(self, **kwargs) -> np.ndarray | float:
        out = np.asarray(self._var(**self._bind(kwargs)), dtype=float)
        return float(out) if out.ndim == 0 else out

    def _cdf(self, x, **params):
        raise NotImplementedError

    def _mean(self, **params):
        raise NotImplementedError

    def _var(self, **params):
        raise NotImplementedError
