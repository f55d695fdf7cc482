"""Activation functions sigma with sigma', sigma'' and Hermite coefficients.

Conventions (docs/theory.md Sec. 1, docs/derivations/quadratic.md "Hermite conventions"):

* relu: sigma'(0) := 0, so a neuron is active iff its pre-activation is > 0.
* Hermite coefficients mu_k = E[sigma(g) h_k(g)], g ~ N(0, 1), h_k = He_k / sqrt(k!).

Numba kernels select the activation by its integer ``code`` through :func:`act_value` and
:func:`act_deriv`, the compiled twins of :attr:`Activation.sigma` and :attr:`Activation.dsigma`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np
from scipy import integrate, optimize, special

from theorycheck.errors import UserInputError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "act_deriv",
    "act_value",
    "gaussian_expectation",
    "get_activation",
]

RELU, SOFTPLUS, TANH, GELU, QUADRATIC = 0, 1, 2, 3, 4

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _Phi(t):
    # ndtr = erfc(-t/sqrt 2)/2 keeps relative precision in the left tail, where
    # 0.5 (1 + erf) cancels to 0 below t ~ -8.3 and gelu would vanish instead of staying < 0.
    return special.ndtr(np.asarray(t, dtype=float))


def _phi(t):
    t = np.asarray(t, dtype=float)
    return _INV_SQRT2PI * np.exp(-0.5 * t * t)


@functools.lru_cache(maxsize=8)
def _hermegauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.hermite_e.hermegauss(nodes)


def gaussian_expectation(fn: Callable, kinks: tuple[float, ...] = (), nodes: int = 160) -> float:
    """E[fn(g)] for g ~ N(0, 1).

    Smooth integrands use probabilists' Gauss-Hermite quadrature with ``nodes`` nodes (exact for
    polynomials of degree < 2*nodes). Across a kink Gauss-Hermite converges only algebraically
    (relu's mu_2 is off in the 5th digit with 160 nodes), so integrands with ``kinks`` are
    integrated piecewise between the kinks with adaptive Gauss-Kronrod (scipy.integrate.quad).
    """
    if not kinks:
        t, w = _hermegauss(nodes)
        return float(np.dot(w, fn(t)) / math.sqrt(2.0 * math.pi))
    edges = [-np.inf, *sorted(kinks), np.inf]
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        val, _ = integrate.quad(
            lambda s: float(fn(np.asarray(s))) * _INV_SQRT2PI * math.exp(-0.5 * s * s),
            lo,
            hi,
            epsabs=1e-13,
            epsrel=1e-12,
            limit=200,
        )
        total += val
    return total


@dataclass(frozen=True)
class Activation:
    """An activation sigma with its derivatives and Gaussian moments.

    Parameters
    ----------
    name : the CLI/config name.
    code : integer used by the numba kernels.
    sigma, dsigma, d2sigma : vectorised NumPy functions (d2sigma is the a.e. value for relu).
    monotone : sigma is nondecreasing (worst-output has the endpoint closed form).
    piecewise_linear : sigma is piecewise linear (first sign flip is exact by breakpoints).
    kinks : points where sigma is not differentiable.
    critical_points : interior points where sigma' = 0 (extrema used by worst-output).
    joint : optional (sigma, sigma', sigma'') at once, sharing the transcendental work (one tanh,
        or one exp and one ndtr for gelu) that the three functions above each repeat; the
        fast path of :meth:`jet`, tested against them.
    """

    name: str
    code: int
    sigma: Callable = field(repr=False)
    dsigma: Callable = field(repr=False)
    d2sigma: Callable = field(repr=False)
    monotone: bool
    piecewise_linear: bool
    kinks: tuple[float, ...] = ()
    critical_points: tuple[float, ...] = ()
    joint: Callable | None = field(default=None, repr=False)

    def jet(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sigma(t), sigma'(t), sigma''(t)) elementwise: one pass where ``joint`` is given."""
        if self.joint is not None:
            return self.joint(t)
        return self.sigma(t), self.dsigma(t), self.d2sigma(t)

    def expect(self, fn: Callable) -> float:
        """E[fn(g)], g ~ N(0,1), integrating piecewise across the activation's kinks."""
        return gaussian_expectation(fn, self.kinks)

    def hermite_coefficients(self, k_max: int) -> np.ndarray:
        """mu_0..mu_{k_max}: mu_k = E[sigma(g) He_k(g)] / sqrt(k!) (docs/derivations/quadratic.md
        conventions)."""
        out = np.empty(k_max + 1)
        for k in range(k_max + 1):
            he = np.polynomial.hermite_e.HermiteE.basis(k)
            out[k] = self.expect(lambda t, he=he: self.sigma(t) * he(t)) / math.sqrt(
                math.factorial(k)
            )
        return out

    @cached_property
    def second_moment(self) -> float:
        """E sigma(g)^2: the variance of f(x) at initialisation (docs/theory.md F1, general
        sigma)."""
        return self.expect(lambda t: self.sigma(t) ** 2)

    @cached_property
    def derivative_second_moment(self) -> float:
        """E sigma'(g)^2."""
        return self.expect(lambda t: self.dsigma(t) ** 2)

    @cached_property
    def weighted_derivative_moment(self) -> float:
        """E[sigma'(g)^2 g^2] (the radial part of E||grad f||^2, docs/derivations)."""
        return self.expect(lambda t: self.dsigma(t) ** 2 * t**2)


def _relu(t):
    return np.maximum(np.asarray(t, dtype=float), 0.0)


def _drelu(t):
    return (np.asarray(t, dtype=float) > 0.0).astype(float)


def _softplus(t):
    return np.logaddexp(0.0, np.asarray(t, dtype=float))


def _dsoftplus(t):
    return special.expit(np.asarray(t, dtype=float))


def _d2softplus(t):
    s = special.expit(np.asarray(t, dtype=float))
    return s * (1.0 - s)


def _dtanh(t):
    return 1.0 - np.tanh(t) ** 2


def _d2tanh(t):
    th = np.tanh(t)
    return -2.0 * th * (1.0 - th**2)


def _tanh_jet(t):
    th = np.tanh(np.asarray(t, dtype=float))
    d1 = 1.0 - th * th
    return th, d1, -2.0 * th * d1


def _gelu(t):
    t = np.asarray(t, dtype=float)
    return t * _Phi(t)


def _dgelu(t):
    t = np.asarray(t, dtype=float)
    return _Phi(t) + t * _phi(t)


def _d2gelu(t):
    t = np.asarray(t, dtype=float)
    return _phi(t) * (2.0 - t * t)


def _gelu_jet(t):
    t = np.asarray(t, dtype=float)
    out = np.empty((3, *t.shape))
    _gelu_jet_kernel(t.ravel(), out.reshape(3, -1))
    return out[0], out[1], out[2]


@numba.njit(cache=True)
def _gelu_jet_kernel(t, out):
    """gelu, gelu', gelu'' in one compiled pass: Phi by erfc (relative precision in the left
    tail, as :func:`_Phi`), one exp for phi."""
    for i in range(t.size):
        u = t[i]
        Phi = 0.5 * math.erfc(-u / _SQRT2)
        phi = _INV_SQRT2PI * math.exp(-0.5 * u * u)
        out[0, i] = u * Phi
        out[1, i] = Phi + u * phi
        out[2, i] = phi * (2.0 - u * u)


# gelu's single minimum: Phi(t) + t phi(t) = 0 at t ~ -0.7518 (found once, to machine precision).
_GELU_MIN = optimize.brentq(lambda t: float(_dgelu(t)), -2.0, 0.0, xtol=1e-15)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", RELU, _relu, _drelu, lambda t: np.zeros_like(np.asarray(t, float)),
                   monotone=True, piecewise_linear=True, kinks=(0.0,)),
        Activation("softplus", SOFTPLUS, _softplus, _dsoftplus, _d2softplus,
                   monotone=True, piecewise_linear=False),
        Activation("tanh", TANH, np.tanh, _dtanh, _d2tanh, monotone=True, piecewise_linear=False,
                   joint=_tanh_jet),
        Activation("gelu", GELU, _gelu, _dgelu, _d2gelu, monotone=False, piecewise_linear=False,
                   critical_points=(_GELU_MIN,), joint=_gelu_jet),
        Activation("quadratic", QUADRATIC, np.square, lambda t: 2.0 * np.asarray(t, float),
                   lambda t: np.full_like(np.asarray(t, float), 2.0),
                   monotone=False, piecewise_linear=False, critical_points=(0.0,)),
    )
}  # fmt: skip


def get_activation(name: str | Activation) -> Activation:
    """The activation called ``name`` (or ``name`` itself if already an Activation)."""
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise UserInputError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]


@numba.njit(cache=True, inline="always")
def act_value(code, t):
    """sigma(t) for the activation with integer ``code`` (numba twin of Activation.sigma)."""
    if code == RELU:
        return t if t > 0.0 else 0.0
    if code == SOFTPLUS:
        return max(t, 0.0) + math.log1p(math.exp(-abs(t)))
    if code == TANH:
        return math.tanh(t)
    if code == GELU:
        return t * 0.5 * math.erfc(-t / 1.4142135623730951)
    return t * t


@numba.njit(cache=True, inline="always")
def act_deriv(code, t):
    """sigma'(t) for ``code`` (relu: sigma'(0) = 0, active iff t > 0)."""
    if code == RELU:
        return 1.0 if t > 0.0 else 0.0
    if code == SOFTPLUS:
        if t >= 0.0:
            return 1.0 / (1.0 + math.exp(-t))
        e = math.exp(t)
        return e / (1.0 + e)
    if code == TANH:
        th = math.tanh(t)
        return 1.0 - th * th
    if code == GELU:
        return 0.5 * math.erfc(-t / 1.4142135623730951) + t * 0.3989422804014327 * math.exp(
            -0.5 * t * t
        )
    return 2.0 * t
