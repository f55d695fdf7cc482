"""Inputs uniform on the sphere of radius sqrt(d): what the exact solvers can do there.

docs/theory.md Sec. 5 ("x ~ N(0, I_d), sphere of radius sqrt d as an option"); derivation in
docs/derivations/quadratic.md Sec. 10.

x = sqrt(d) g / ||g|| with g ~ N(0, I_d) is uniform on the sphere and independent of ||g||. For h
positively homogeneous of degree p (h(t y) = t^p h(y) for t > 0), h(g) = (||g|| / sqrt d)^p h(x),
so

    E_sphere h(x) = c_p E_gauss h(g),   c_p = d^(p/2) / E||g||^p
                                            = (d/2)^(p/2) Gamma(d/2) / Gamma((d + p)/2).

c_0 = c_2 = 1, c_4 = d / (d + 2). Every population moment the RF, NT and lazy solvers need is a sum
of such homogeneous terms when sigma is positively homogeneous (relu: degree 1; t^2: degree 2):
u^p sigma^(k)(u) has degree p + a - k for sigma of degree a. So for these activations the exact
Gaussian machinery gives the exact sphere solution after rescaling each term by its c_p. For any
other activation (gelu, tanh, softplus) no exact sphere solver exists here: the solvers refuse,
and the simulations compare the end-to-end sphere fit with the Gaussian solver instead.

The robustness S = E||grad f(x)||^2 keeps the Euclidean gradient (as for Gaussian inputs). On the
sphere a model whose span contains a function constant on the sphere (sigma = t^2 NT with m >= d:
||x||^2 is in its span; the quadratic network with m >= d - 1) has fits that agree on the sphere
but differ in their Euclidean gradient: S is then not a function of the fitted values, and the
t^2 solvers return the representative with the smallest S (docs/derivations/quadratic.md Sec. 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import special

from theorycheck.activations import Activation, get_activation
from theorycheck.errors import UserInputError, check_choice
from theorycheck.quadratic.targets import INPUT_LAWS

__all__ = [
    "HOMOGENEOUS_DEGREE",
    "check_law",
    "homogeneous_degree",
    "radial_factor",
    "sphere_factors",
]

#: Positively homogeneous activations and their degree a: sigma(t y) = t^a sigma(y), t > 0.
HOMOGENEOUS_DEGREE = {"relu": 1, "quadratic": 2}


def check_law(law: str) -> str:
    """``law`` must be 'gaussian' or 'sphere' (one-line error naming the parameter otherwise)."""
    return check_choice("law", law, INPUT_LAWS)


def radial_factor(d: int, p: int) -> float:
    """c_p = E_sphere h / E_gauss h for h positively homogeneous of degree p (module docstring).

    c_p = (d/2)^(p/2) Gamma(d/2) / Gamma((d + p)/2), from E||g||^p = 2^(p/2) Gamma((d + p)/2) /
    Gamma(d/2) for g ~ N(0, I_d).
    """
    if p == 0:
        return 1.0
    log_c = 0.5 * p * math.log(0.5 * d) + special.gammaln(0.5 * d) - special.gammaln(0.5 * (d + p))
    return math.exp(log_c)


def homogeneous_degree(activation: str | Activation) -> int:
    """The degree a of a positively homogeneous activation, or a one-line error naming it."""
    act = get_activation(activation)
    if act.name not in HOMOGENEOUS_DEGREE:
        raise UserInputError(
            f"activation: no exact sphere solver for {act.name!r} (not positively homogeneous; "
            f"exact sphere solvers exist for {', '.join(HOMOGENEOUS_DEGREE)})"
        )
    return HOMOGENEOUS_DEGREE[act.name]


def sphere_factors(d: int, activation: str | Activation) -> tuple[int, Callable[[int], float]]:
    """(a, p -> c_p): the degree of a positively homogeneous activation and the radial factors
    at dimension d (refuses any other activation with a one-line error)."""
    a = homogeneous_degree(activation)
    return a, lambda p: radial_factor(d, p)
