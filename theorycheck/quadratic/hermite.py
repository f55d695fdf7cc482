"""Gaussian moments of an activation: univariate, and bivariate by Mehler's formula.

The exact population solvers need E[f(u) g(v)] for (u, v) standard bivariate normal with
correlation rho, where f and g are one of the functions of u (docs/derivations/quadratic.md
"Hermite conventions";
docs/derivations/quadratic.md Sec. 2)::

    s = sigma(u),  us = u sigma(u),  d = sigma'(u),  ud = u sigma'(u),  uud = u^2 sigma'(u),
    dd = sigma''(u),  udd = u sigma''(u),  uudd = u^2 sigma''(u).

* smooth sigma: Mehler's formula E[f(u) g(v)] = sum_k f_k g_k rho^k with the normalised Hermite
  coefficients f_k = E[f(g) h_k(g)], truncated at ``terms``; for |rho| > ``series_max_rho`` (where
  a slowly decaying series such as tanh's would need many terms) a direct Gauss-Hermite product
  rule on E[f(u) g(rho u + sqrt(1 - rho^2) z)] is used instead.
* relu: closed forms (orthant integrals); sigma'' = 0 almost everywhere, so every pair with a
  second derivative is 0 (the a.e. convention of docs/derivations/quadratic.md: the weak S of an NT
  relu model is
  infinite, the product reports its almost-everywhere value).
* t^2: Mehler's formula is exact (finite Hermite expansions).

The diagonal rho = 1 is always a univariate expectation :meth:`GaussianMoments.univariate`,
integrated piecewise across kinks by :meth:`theorycheck.activations.Activation.expect`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, cached_property

import numpy as np

from theorycheck.activations import Activation, get_activation
from theorycheck.errors import UserInputError

__all__ = ["FUNCTIONS", "GaussianMoments", "hermite_series"]

#: name -> (power of u, derivative order): f(u) = u^p sigma^{(k)}(u).
FUNCTIONS: dict[str, tuple[int, int]] = {
    "s": (0, 0),
    "us": (1, 0),
    "d": (0, 1),
    "ud": (1, 1),
    "uud": (2, 1),
    "dd": (0, 2),
    "udd": (1, 2),
    "uudd": (2, 2),
}

_TWO_PI = 2.0 * math.pi


@cache
def _gauss_hermite(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    # Nodes and weights of the probabilists' rule, normalised to the N(0, 1) law (cached: the
    # eigenvalue computation behind hermegauss costs a noticeable fraction of a second).
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    return t, w / math.sqrt(_TWO_PI)


def hermite_series(fn: Callable, terms: int, nodes: int = 300) -> np.ndarray:
    """Normalised Hermite coefficients c_k = E[fn(g) h_k(g)], k = 0..terms, g ~ N(0, 1).

    h_k = He_k / sqrt(k!) is evaluated by the stable three-term recurrence
    h_{k+1} = (t h_k - sqrt(k) h_{k-1}) / sqrt(k + 1) (no overflow of He_k or k!), at the nodes of a
    ``nodes``-point Gauss-Hermite rule: accurate for smooth ``fn`` only (kinks converge slowly).
    """
    t, w = _gauss_hermite(nodes)
    fw = np.asarray(fn(t), dtype=float) * w
    out = np.empty(terms + 1)
    h_prev, h = np.zeros_like(t), np.ones_like(t)
    for k in range(terms + 1):
        out[k] = fw @ h
        h_prev, h = h, (t * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
    return out


def _relu_pair(f: str, g: str, rho: np.ndarray) -> np.ndarray:
    """E[f(u) g(v)] for relu in closed form (docs/derivations/quadratic.md Sec. 2).

    theta = arccos rho, s = sqrt(1 - rho^2): P(u>0, v>0) = (pi - theta)/(2 pi);
    E[u 1{u>0,v>0}] = (1 + rho)/(2 sqrt(2 pi)); E[u^2 1{u>0,v>0}] = (pi - theta + rho s)/(2 pi);
    E[uv 1{u>0,v>0}] = (rho (pi - theta) + s)/(2 pi).
    """
    if FUNCTIONS[f][1] == 2 or FUNCTIONS[g][1] == 2:
        return np.zeros_like(rho)  # sigma'' = 0 a.e.
    s = np.sqrt(np.clip(1.0 - rho * rho, 0.0, None))
    orthant = (math.pi - np.arccos(np.clip(rho, -1.0, 1.0))) / _TWO_PI
    u2 = orthant + rho * s / _TWO_PI  # E[u^2 1{u>0, v>0}]
    uv = rho * orthant + s / _TWO_PI  # E[u v 1{u>0, v>0}] = E relu(u) relu(v)
    # On {u > 0}: sigma = u, sigma' = 1, so each function is u^(p + 1 - k) 1{u > 0}.
    pf = FUNCTIONS[f][0] + 1 - FUNCTIONS[f][1]
    pg = FUNCTIONS[g][0] + 1 - FUNCTIONS[g][1]
    u1 = (1.0 + rho) / (2.0 * math.sqrt(_TWO_PI))  # E[u 1{u>0, v>0}] (Stein's lemma)
    table = {(0, 0): orthant, (1, 0): u1, (0, 1): u1, (1, 1): uv, (2, 0): u2, (0, 2): u2}
    if (pf, pg) not in table:
        raise UserInputError(f"no relu closed form for E[{f}(u) {g}(v)]")
    return table[(pf, pg)]


class GaussianMoments:
    """Univariate and bivariate Gaussian moments of one activation (module docstring).

    Parameters
    ----------
    activation : name or :class:`Activation`.
    terms : number of Mehler terms for smooth activations.
    series_max_rho : beyond this |rho|, smooth activations use a direct product rule.
    """

    def __init__(
        self, activation: str | Activation, terms: int = 160, series_max_rho: float = 0.8
    ) -> None:
        self.activation = get_activation(activation)
        self.terms = terms
        self.series_max_rho = series_max_rho
        self._univariate: dict[tuple[str, str], float] = {}

    @property
    def closed_form(self) -> bool:
        return self.activation.name == "relu"

    def function(self, name: str) -> Callable:
        """The function u -> u^p sigma^{(k)}(u) called ``name``."""
        if name not in FUNCTIONS:
            raise UserInputError(f"moment function must be one of {', '.join(FUNCTIONS)}")
        p, k = FUNCTIONS[name]
        a = self.activation
        base = (a.sigma, a.dsigma, a.d2sigma)[k]
        return lambda t: np.asarray(t, dtype=float) ** p * base(t)

    def univariate(self, f: str, g: str = "") -> float:
        """E[f(u) g(u)] (E[f(u)] when ``g`` is empty), u ~ N(0, 1), across kinks."""
        key = (f, g)
        if key not in self._univariate:
            self._univariate[key] = self._integrate(f, g)
        return self._univariate[key]

    def _integrate(self, f: str, g: str) -> float:
        ff = self.function(f)
        if not g:
            return self.activation.expect(ff)
        gg = self.function(g)
        return self.activation.expect(lambda t: ff(t) * gg(t))

    @cached_property
    def _coefficients(self) -> dict[str, np.ndarray]:
        return {name: hermite_series(self.function(name), self.terms) for name in FUNCTIONS}

    def coefficients(self, name: str) -> np.ndarray:
        """Normalised Hermite coefficients of the function ``name`` (smooth activations)."""
        return self._coefficients[name]

    def bivariate(self, f: str, g: str, rho) -> np.ndarray:
        """E[f(u) g(v)], (u, v) standard normal with correlation ``rho`` (|rho| < 1), broadcast."""
        rho = np.asarray(rho, dtype=float)
        if self.closed_form:
            return _relu_pair(f, g, rho)
        prod = self.coefficients(f) * self.coefficients(g)
        out = np.polynomial.polynomial.polyval(rho, prod)
        far = np.abs(rho) > self.series_max_rho
        if np.any(far):
            out = np.where(far, 0.0, out)
            out[far] = self._direct(f, g, rho[far])
        return out

    def _direct(self, f: str, g: str, rho: np.ndarray, nodes: int = 120) -> np.ndarray:
        # E[f(u) g(rho u + sqrt(1 - rho^2) z)] by a product Gauss-Hermite rule (smooth f, g).
        t, w = _gauss_hermite(nodes)
        ff, gg = self.function(f)(t), self.function(g)
        out = np.empty(rho.shape)
        for i, r in enumerate(rho.ravel()):
            s = math.sqrt(max(1.0 - r * r, 0.0))
            v = r * t[:, None] + s * t[None, :]
            out.flat[i] = (w * ff) @ gg(v) @ w
        return out


def pair_matrix(moments: GaussianMoments, f: str, g: str, rho: np.ndarray) -> np.ndarray:
    """The (m, m) matrix E[f(u_j) g(u_k)] for unit rows with Gram ``rho`` = W W^T.

    Off the diagonal the bivariate moment at rho_jk; on it the univariate E[f(u) g(u)]. For
    symmetric pairs (f == g) only the upper triangle is evaluated.
    """
    m = rho.shape[0]
    out = np.empty((m, m))
    if f == g:
        iu = np.triu_indices(m, 1)
        vals = moments.bivariate(f, g, rho[iu])
        out[iu] = vals
        out[iu[1], iu[0]] = vals
    else:
        off = ~np.eye(m, dtype=bool)
        out[off] = moments.bivariate(f, g, rho[off])
    np.fill_diagonal(out, moments.univariate(f, g))
    return out
