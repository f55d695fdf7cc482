"""Training on samples: online SGD on fresh samples (population risk) and least squares.

THEORY.md Sec. 5: "SGD on the population risk = online SGD on fresh samples each step; it must
approach the global optimum". Every step draws a new mini-batch x ~ N(0, I_d), so the iterates
follow stochastic gradients of the population risk E (f - f*)^2 / 2.

* :func:`train_quadratic_network`: the fully trained network c + sum_j a_j <w_j, x>^2 (regime (i)
  of Dohmatob & Bietti 2022). Its global optimum is the Eckart-Young truncation of B
  (:func:`theorycheck.quadratic.frobenius.nn_eckart_young`). Gradient flow conserves
  ||w_j||^2 - 2 a_j^2 (the rescaling a -> a/t^2, w -> t w leaves f unchanged), so an output
  weight can change sign only if ||w_j||^2 > 2 a_j^2 at initialisation: a_j starts at 0, otherwise
  the sign pattern of a is frozen and the optimum (which needs a given number of positive and
  negative eigenvalues) may be out of reach.
* :func:`online_sgd_linear`: models linear in their parameters (RF, NT features) trained by
  normalised online SGD with Polyak-Ruppert averaging.
* :func:`least_squares`: ordinary least squares with an intercept on n samples (normal equations
  accumulated in chunks), the second end-to-end check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from theorycheck.errors import check_int, check_real
from theorycheck.quadratic.frobenius import quadratic_form_metrics
from theorycheck.quadratic.models import QuadraticForm
from theorycheck.quadratic.random_features import solve_psd
from theorycheck.quadratic.targets import QuadraticTarget, sample_inputs

__all__ = [
    "QuadraticNetwork",
    "feature_map",
    "least_squares",
    "online_sgd_linear",
    "train_quadratic_network",
]


@dataclass(frozen=True)
class QuadraticNetwork:
    """A trained network f(x) = c + sum_j a_j <w_j, x>^2 with its exact population metrics."""

    a: np.ndarray
    W: np.ndarray
    c: float
    eps: float
    S: float
    history: list = field(default_factory=list)

    @property
    def M(self) -> np.ndarray:
        """The quadratic form W^T diag(a) W: f(x) = c + x^T M x."""
        return self.W.T @ (self.a[:, None] * self.W)

    def model(self) -> QuadraticForm:
        return QuadraticForm(self.M, np.zeros(self.W.shape[1]), self.c)


def train_quadratic_network(
    target: QuadraticTarget,
    m: int,
    rng: np.random.Generator,
    *,
    steps: int = 3000,
    batch: int = 128,
    lr: float = 8.0,
    momentum: float = 0.9,
    init_scale: float = 0.5,
    anneal: float = 0.6,
    batch_growth: float = 8.0,
    record_every: int = 0,
) -> QuadraticNetwork:
    """Online SGD with heavy-ball momentum on fresh mini-batches (module docstring).

    The step is (lr / d) (1 - momentum) on the momentum buffer: constant for the first
    1 - ``anneal`` of the steps, then decayed linearly to 0 while the mini-batch grows
    geometrically by ``batch_growth`` (both remove the noise floor of a constant step).
    W starts with rows N(0, init_scale^2 I_d / d), a = 0, c = 0.
    """
    m = check_int("m", m)
    steps = check_int("steps", steps)
    batch = check_int("batch", batch)
    check_real("lr", lr, low=0.0, low_open=True)
    d = target.d
    W = rng.standard_normal((m, d)) * (init_scale / math.sqrt(d))
    a = np.zeros(m)
    c = 0.0
    vW, va, vc = np.zeros_like(W), np.zeros(m), 0.0
    history = []
    start = int((1.0 - anneal) * steps)
    for t in range(steps):
        late = max(0.0, (t - start) / max(steps - start, 1))
        step = lr / d * (1.0 - momentum) * (1.0 - late)
        bs = round(batch * batch_growth**late)
        X = sample_inputs(d, bs, rng)
        U = X @ W.T
        U2 = U * U
        r = c + U2 @ a - target.value(X)
        gc, ga = float(r.mean()), U2.T @ r / bs
        gW = 2.0 * a[:, None] * ((U * r[:, None]).T @ X) / bs
        vc, va, vW = momentum * vc + gc, momentum * va + ga, momentum * vW + gW
        c, a, W = c - step * vc, a - step * va, W - step * vW
        if record_every and (t % record_every == 0 or t == steps - 1):
            eps, S, _ = quadratic_form_metrics(target, W.T @ (a[:, None] * W), None, c)
            history.append((t, eps, S))
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(a))):
        raise FloatingPointError("quadratic-network SGD diverged; lower lr")
    eps, S, _ = quadratic_form_metrics(target, W.T @ (a[:, None] * W), None, c)
    return QuadraticNetwork(a, W, c, eps, S, history)


def feature_map(kind: str, W: np.ndarray, activation) -> Callable[[np.ndarray], np.ndarray]:
    """Features of the RF (sigma(<w_j, x>)) or NT (x_p sigma'(<w_j, x>)) model, (n, p)."""
    if kind == "rf":
        return lambda X: activation.sigma(X @ W.T)
    if kind == "nt":
        return lambda X: (activation.dsigma(X @ W.T)[:, :, None] * X[:, None, :]).reshape(
            len(X), -1
        )
    raise ValueError(f"kind must be rf or nt, got {kind!r}")


def least_squares(
    features: Callable[[np.ndarray], np.ndarray],
    target: QuadraticTarget,
    n: int,
    rng: np.random.Generator,
    *,
    chunk: int = 4096,
    law: str = "gaussian",
) -> tuple[np.ndarray, float]:
    """Least squares with an intercept on n fresh samples: returns (theta, c).

    Normal equations of the centred problem, accumulated over chunks of ``chunk`` samples
    (memory O(p^2 + chunk p)); rank-deficient designs get the minimum-norm solution.
    """
    n = check_int("n", n)
    G = s = sy = None
    y_sum, count = 0.0, 0
    for start in range(0, n, chunk):
        X = sample_inputs(target.d, min(chunk, n - start), rng, law)
        Phi, y = features(X), target.value(X)
        if G is None:
            p = Phi.shape[1]
            G, s, sy = np.zeros((p, p)), np.zeros(p), np.zeros(p)
        G += Phi.T @ Phi
        s += Phi.sum(axis=0)
        sy += Phi.T @ y
        y_sum += float(y.sum())
        count += len(X)
    mean_phi, mean_y = s / count, y_sum / count
    cov = G / count - np.outer(mean_phi, mean_phi)
    rhs = sy / count - mean_phi * mean_y
    theta = solve_psd(cov, rhs)
    return theta, mean_y - float(mean_phi @ theta)


def online_sgd_linear(
    features: Callable[[np.ndarray], np.ndarray],
    target: QuadraticTarget,
    rng: np.random.Generator,
    *,
    steps: int = 20000,
    batch: int = 32,
    lr: float = 0.5,
) -> tuple[np.ndarray, float]:
    """Normalised online SGD on fresh samples for f = c + <theta, phi(x)>; returns (theta, c).

    Step lr / mean ||(1, phi)||^2 (stable for lr < 2 since the Gram's largest eigenvalue is at most
    its trace), and the Polyak-Ruppert average of the second half of the iterates.
    """
    steps = check_int("steps", steps)
    X = sample_inputs(target.d, batch, rng)
    p = features(X).shape[1]
    theta, c = np.zeros(p), 0.0
    avg_theta, avg_c, n_avg = np.zeros(p), 0.0, 0
    for t in range(steps):
        X = sample_inputs(target.d, batch, rng)
        Phi = features(X)
        r = c + Phi @ theta - target.value(X)
        norm = 1.0 + float(np.mean(np.sum(Phi * Phi, axis=1)))
        step = lr / norm
        theta -= step * (Phi.T @ r) / batch
        c -= step * float(r.mean())
        if t >= steps // 2:
            n_avg += 1
            avg_theta += (theta - avg_theta) / n_avg
            avg_c += (c - avg_c) / n_avg
    return avg_theta, avg_c
