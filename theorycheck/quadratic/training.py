"""Training on samples: online SGD on fresh samples (population risk) and least squares.

docs/theory.md Sec. 5: "SGD on the population risk = online SGD on fresh samples each step; it must
approach the global optimum". Every step draws a new mini-batch x ~ N(0, I_d) (or uniform on the
sphere of radius sqrt(d), ``law='sphere'``), so the iterates follow stochastic gradients of the
population risk E (f - f*)^2 / 2 under that law.

* :func:`train_quadratic_network`: the fully trained network c + sum_j a_j <w_j, x>^2 (regime (i)
  of Dohmatob & Bietti 2022). Its global optimum is the Eckart-Young truncation of B
  (:func:`theorycheck.quadratic.frobenius.nn_eckart_young`). Gradient flow conserves
  ||w_j||^2 - 2 a_j^2 (the rescaling a -> a/t^2, w -> t w leaves f unchanged), so an output
  weight can change sign only if ||w_j||^2 > 2 a_j^2 at initialisation: a_j starts at 0, otherwise
  the sign pattern of a is frozen and the optimum (which needs a given number of positive and
  negative eigenvalues) may be out of reach. The mini-batch gradients (:func:`network_gradients`)
  go through the (n, m) matrix of pre-activations (reference) or, when m > d/2, through the
  quadratic form M = W^T diag(a) W (the same numbers; O((n + m) d^2) instead of O(n m d)).
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
from theorycheck.quadratic.models import NeuralTangent, QuadraticForm, RandomFeatures
from theorycheck.quadratic.random_features import solve_psd
from theorycheck.quadratic.targets import QuadraticTarget, sample_inputs

__all__ = [
    "QuadraticNetwork",
    "feature_map",
    "least_squares",
    "linear_model",
    "network_gradients",
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
    law: str = "gaussian",
) -> QuadraticNetwork:
    """Online SGD with heavy-ball momentum on fresh mini-batches (module docstring).

    The step is (lr / d) (1 - momentum) on the momentum buffer: constant for the first
    1 - ``anneal`` of the steps, then decayed linearly to 0 while the mini-batch grows
    geometrically by ``batch_growth`` (both remove the noise floor of a constant step).
    W starts with rows N(0, init_scale^2 I_d / d), a = 0, c = 0. ``law``: the input law of the
    mini-batches ('gaussian' or 'sphere' of radius sqrt(d)); the returned eps and S are exact
    under that law.
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
    route = "matrix" if 2 * m > d else "neurons"
    for t in range(steps):
        late = max(0.0, (t - start) / max(steps - start, 1))
        step = lr / d * (1.0 - momentum) * (1.0 - late)
        bs = round(batch * batch_growth**late)
        X = sample_inputs(d, bs, rng, law)
        gc, ga, gW = network_gradients(X, W, a, c, target, route)
        vc, va, vW = momentum * vc + gc, momentum * va + ga, momentum * vW + gW
        c, a, W = c - step * vc, a - step * va, W - step * vW
        if record_every and (t % record_every == 0 or t == steps - 1):
            eps, S, _ = quadratic_form_metrics(target, W.T @ (a[:, None] * W), None, c, law)
            history.append((t, eps, S))
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(a))):
        raise FloatingPointError("quadratic-network SGD diverged; lower lr")
    eps, S, _ = quadratic_form_metrics(target, W.T @ (a[:, None] * W), None, c, law)
    return QuadraticNetwork(a, W, c, eps, S, history)


def network_gradients(
    X: np.ndarray,
    W: np.ndarray,
    a: np.ndarray,
    c: float,
    target: QuadraticTarget,
    route: str = "neurons",
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mini-batch gradients (d/dc, d/da, d/dW) of mean (f - f*)^2 / 2 for f = c + sum a_j u_j^2.

    With residuals r_i = f(x_i) - f*(x_i): d/dc = mean r, d/da_j = mean r u_j^2,
    d/dw_j = 2 a_j mean r u_j x. ``route='neurons'`` (reference) works with the (n, m) matrix of
    u_ij = <w_j, x_i>, O(n m d). ``route='matrix'`` uses f = c + x^T M x with M = W^T diag(a) W and
    C = mean r x x^T: d/da_j = w_j^T C w_j, d/dw_j = 2 a_j C w_j, O((n + m) d^2), cheaper when
    m > d/2 (the same numbers up to round-off).
    """
    n = len(X)
    if route == "neurons":
        U = X @ W.T
        U2 = U * U
        r = c + U2 @ a - target.value(X)
        return float(r.mean()), U2.T @ r / n, 2.0 * a[:, None] * ((U * r[:, None]).T @ X) / n
    if route != "matrix":
        raise ValueError(f"route must be neurons or matrix, got {route!r}")
    B = target.B
    D = W.T @ (a[:, None] * W) - B
    # r = c + x^T M x - (<beta, x> + x^T B x - tr B)
    r = c + float(np.trace(B)) + np.sum((X @ D) * X, axis=1) - X @ target.beta
    C = (X.T * r) @ X / n
    WC = W @ C
    return float(r.mean()), np.sum(WC * W, axis=1), 2.0 * a[:, None] * WC


def feature_map(kind: str, W: np.ndarray, activation) -> Callable[[np.ndarray], np.ndarray]:
    """Features of the RF (sigma(<w_j, x>)) or NT (x_p sigma'(<w_j, x>)) model, (n, p)."""
    if kind == "rf":
        return lambda X: activation.sigma(X @ W.T)
    if kind == "nt":
        return lambda X: (activation.dsigma(X @ W.T)[:, :, None] * X[:, None, :]).reshape(
            len(X), -1
        )
    raise ValueError(f"kind must be rf or nt, got {kind!r}")


def linear_model(kind: str, W: np.ndarray, activation, theta: np.ndarray, c: float):
    """The RF or NT model whose features :func:`feature_map` gives, with coefficients theta (p,)
    in that feature order and intercept c (what :func:`least_squares` and
    :func:`online_sgd_linear` return)."""
    if kind == "rf":
        return RandomFeatures(W, theta, activation, c)
    if kind == "nt":
        return NeuralTangent(W, np.reshape(theta, W.shape), activation, c)
    raise ValueError(f"kind must be rf or nt, got {kind!r}")


def least_squares(
    features: Callable[[np.ndarray], np.ndarray],
    target: QuadraticTarget,
    n: int,
    rng: np.random.Generator,
    *,
    chunk: int = 4096,
    law: str = "gaussian",
    offset=None,
) -> tuple[np.ndarray, float]:
    """Least squares with an intercept on n fresh samples from ``law``: returns (theta, c).

    Normal equations of the centred problem, accumulated over chunks of ``chunk`` samples
    (memory O(p^2 + chunk p)); rank-deficient designs get the minimum-norm solution. With an
    ``offset`` model (value on inputs) the labels are f* - offset: the correction of a lazy
    model f0 + <theta, phi> around its initial function f0 = offset.
    """
    n = check_int("n", n)
    G = s = sy = None
    y_sum, count = 0.0, 0
    for start in range(0, n, chunk):
        X = sample_inputs(target.d, min(chunk, n - start), rng, law)
        Phi, y = features(X), target.value(X)
        if offset is not None:
            y = y - offset.value(X)
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
    law: str = "gaussian",
) -> tuple[np.ndarray, float]:
    """Normalised online SGD on fresh samples for f = c + <theta, phi(x)>; returns (theta, c).

    Step lr / mean ||(1, phi)||^2 (stable for lr < 2 since the Gram's largest eigenvalue is at most
    its trace), and the Polyak-Ruppert average of the second half of the iterates. Inputs from
    ``law`` ('gaussian' or 'sphere' of radius sqrt(d)).
    """
    steps = check_int("steps", steps)
    X = sample_inputs(target.d, batch, rng, law)
    p = features(X).shape[1]
    theta, c = np.zeros(p), 0.0
    avg_theta, avg_c, n_avg = np.zeros(p), 0.0, 0
    for t in range(steps):
        X = sample_inputs(target.d, batch, rng, law)
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
