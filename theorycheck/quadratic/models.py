"""The fitted functions of the four regimes, evaluated on inputs (value and input gradient).

docs/theory.md Sec. 5: rows w_j of W are unit vectors, m = psi d, every model has an intercept c.

* :class:`QuadraticForm`: c + <b, x> + x^T M x (the sigma = t^2 networks: RF, NT and the
  fully trained NN all reduce to one, Frobenius projections, docs/derivations/quadratic.md Sec. 3).
* :class:`RandomFeatures`: c + sum_j z_j sigma(<w_j, x>).
* :class:`NeuralTangent`: c + sum_j <a_j, x> sigma'(<w_j, x>).
* :class:`SumModel`: a sum of the above (lazy: f0 + a tangent correction).

Each model has ``value`` and ``gradient`` (the readable reference) and ``value_and_gradient``,
the Monte Carlo fast path: one product per layer and one activation jet shared by both
(tested against the pair).

Gradients follow the a.e. convention for relu (sigma'' = 0), so the NT relu energy is the
almost-everywhere value (docs/derivations/quadratic.md: the weak value is infinite).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theorycheck.activations import Activation, get_activation

__all__ = ["Fit", "NeuralTangent", "QuadraticForm", "RandomFeatures", "SumModel"]


@dataclass(frozen=True)
class QuadraticForm:
    """f(x) = c + <b, x> + x^T M x with M symmetric."""

    M: np.ndarray
    b: np.ndarray
    c: float = 0.0

    def value(self, X: np.ndarray) -> np.ndarray:
        return self.c + X @ self.b + np.sum((X @ self.M) * X, axis=1)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return self.b[None, :] + 2.0 * X @ self.M

    def value_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        XM = X @ self.M
        return self.c + X @ self.b + np.sum(XM * X, axis=1), self.b[None, :] + 2.0 * XM


@dataclass(frozen=True)
class RandomFeatures:
    """f(x) = c + sum_j z_j sigma(<w_j, x>), W of shape (m, d)."""

    W: np.ndarray
    z: np.ndarray
    activation: Activation
    c: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation", get_activation(self.activation))

    def value(self, X: np.ndarray) -> np.ndarray:
        return self.c + self.activation.sigma(X @ self.W.T) @ self.z

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return (self.activation.dsigma(X @ self.W.T) * self.z[None, :]) @ self.W

    def value_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, ds, _ = self.activation.jet(X @ self.W.T)
        return self.c + s @ self.z, (ds * self.z[None, :]) @ self.W


@dataclass(frozen=True)
class NeuralTangent:
    """f(x) = c + sum_j <a_j, x> sigma'(<w_j, x>), W and A of shape (m, d)."""

    W: np.ndarray
    A: np.ndarray
    activation: Activation
    c: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation", get_activation(self.activation))

    def value(self, X: np.ndarray) -> np.ndarray:
        U = X @ self.W.T
        return self.c + np.sum((X @ self.A.T) * self.activation.dsigma(U), axis=1)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        # grad = sum_j a_j sigma'(u_j) + <a_j, x> sigma''(u_j) w_j.
        U = X @ self.W.T
        act = self.activation
        return act.dsigma(U) @ self.A + ((X @ self.A.T) * act.d2sigma(U)) @ self.W

    def value_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        act = self.activation
        _, d1, d2 = act.jet(X @ self.W.T)
        V = X @ self.A.T
        grad = d1 @ self.A
        if not act.piecewise_linear:  # else sigma'' = 0 (a.e.): the product would add zeros
            grad += (V * d2) @ self.W
        return self.c + np.sum(V * d1, axis=1), grad


@dataclass(frozen=True)
class SumModel:
    """The sum of several models (e.g. lazy: f0 + a tangent correction)."""

    parts: tuple

    def value(self, X: np.ndarray) -> np.ndarray:
        return sum(p.value(X) for p in self.parts)

    def gradient(self, X: np.ndarray) -> np.ndarray:
        return sum(p.gradient(X) for p in self.parts)

    def value_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs = [p.value_and_gradient(X) for p in self.parts]
        return sum(f for f, _ in pairs), sum(g for _, g in pairs)


@dataclass(frozen=True)
class Fit:
    """An exact population fit: the fitted function with its exact test error and robustness.

    Attributes
    ----------
    model : the fitted function (value and gradient on inputs).
    eps : E (f - f*)^2 over x ~ N(0, I_d), exact (no sampling of x).
    S : E ||grad f||^2, exact (a.e. value for relu).
    variance : Var f(x), exact (for the Poincare check S >= Var f).
    details : solver diagnostics (iterations, residuals, parts of eps and S).
    """

    model: object
    eps: float
    S: float
    variance: float
    details: dict = field(default_factory=dict)
