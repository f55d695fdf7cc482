"""f(x) and grad_x f(x) for a batch of inputs, and the gradient difference.

grad_x f(x) = m^{-1/2} sum_s a_s sigma'(<w_s, x> + b_s) w_s   (docs/theory.md Sec. 3).

Every estimator has a readable NumPy twin (``_*_reference``) and a numba kernel (``_*_numba``);
tests check they agree. Kernels reduce over fixed neuron chunks (:data:`paths.N_CHUNKS`) in a
fixed order, so their results do not depend on the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from theorycheck.activations import act_deriv, act_value
from theorycheck.errors import UserInputError, check_finite
from theorycheck.network import Network
from theorycheck.paths import N_CHUNKS, check_path

__all__ = ["Forward", "as_inputs", "gradient_difference", "output_and_gradient"]


@dataclass(frozen=True)
class Forward:
    """Outputs f (n,) and input gradients grad (n, d) of a network at n inputs."""

    f: np.ndarray
    grad: np.ndarray

    @property
    def grad_norm(self) -> np.ndarray:
        """||grad_x f(x)|| per input."""
        return np.linalg.norm(self.grad, axis=1)


def as_inputs(net: Network, X) -> np.ndarray:
    """Validate a batch of inputs (n, d) (a single (d,) input becomes (1, d))."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != net.spec.d:
        raise UserInputError(f"X must have shape (n, {net.spec.d}), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise UserInputError("X contains NaN or infinity")
    return np.ascontiguousarray(X)


def output_and_gradient(net: Network, X, path: str = "numba") -> Forward:
    """f(x) and grad_x f(x) for each row x of X.

    References: Wang et al. (2022), Sec. 2.1; Bubeck et al. (2021), Sec. 1.
    """
    check_path(path, what="output_and_gradient")
    X = as_inputs(net, X)
    if path == "reference":
        f, grad = _forward_reference(net, X)
    else:
        f, grad = _forward_numba(net.W, net.a, net.b, net.c, X, net.spec.act.code)
    check_finite("f", f)
    check_finite("grad f", grad)
    return Forward(f, grad)


def _forward_reference(net: Network, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    act = net.spec.act
    Z = X @ net.W.T + net.b  # (n, m) pre-activations
    f = act.sigma(Z) @ net.a / math.sqrt(net.spec.m) + net.c
    grad = (act.dsigma(Z) * net.a) @ net.W / math.sqrt(net.spec.m)
    return f, grad


@numba.njit(cache=True)
def preactivations(W, b, XT, lo, hi):
    """Pre-activations (hi - lo, n) of neurons lo..hi-1 at the inputs XT (d, n), by BLAS gemm.

    Each entry is one dot product computed by one thread, so the result does not depend on
    the number of threads.
    """
    Z = W[lo:hi] @ XT
    for s in range(hi - lo):
        Z[s] += b[lo + s]
    return Z


@numba.njit(cache=True)
def _forward_numba(W, a, b, c, X, code):
    m, d = W.shape
    n = X.shape[0]
    XT = np.ascontiguousarray(X.T)
    n_chunks = min(N_CHUNKS, m)
    f_part = np.zeros((n_chunks, n))
    g_part = np.zeros((n_chunks, n, d))
    for ch in numba.prange(n_chunks):
        lo, hi = ch * m // n_chunks, (ch + 1) * m // n_chunks
        Z = preactivations(W, b, XT, lo, hi)
        G = np.empty((n, hi - lo))
        for i in range(n):
            acc = 0.0  # local accumulator: adjacent chunks' slots share cache lines
            for s in range(hi - lo):
                acc += a[lo + s] * act_value(code, Z[s, i])
                G[i, s] = a[lo + s] * act_deriv(code, Z[s, i])
            f_part[ch, i] = acc
        g_part[ch] = G @ W[lo:hi]
    scale = 1.0 / math.sqrt(m)
    f = np.zeros(n)
    grad = np.zeros((n, d))
    for ch in range(n_chunks):
        f += f_part[ch]
        grad += g_part[ch]
    return f * scale + c, grad * scale


def gradient_difference(net: Network, X, delta, path: str = "numba") -> np.ndarray:
    """D(x, delta) = ||grad f(x + delta) - grad f(x)|| for each row of X and of ``delta``.

    Gradient stability, Bubeck et al. (2021) Sec. 3 and Wang et al. (2022) Lemma 4.4.
    Only neurons whose sigma' changes contribute; the kernel accumulates just those.
    """
    check_path(path, what="gradient_difference")
    X = as_inputs(net, X)
    delta = as_inputs(net, np.broadcast_to(np.asarray(delta, float), X.shape))
    if path == "reference":
        act = net.spec.act
        Z0 = X @ net.W.T + net.b
        Z1 = (X + delta) @ net.W.T + net.b
        diff = ((act.dsigma(Z1) - act.dsigma(Z0)) * net.a) @ net.W / math.sqrt(net.spec.m)
        out = np.linalg.norm(diff, axis=1)
    else:
        out = _gradient_difference_numba(net.W, net.a, net.b, X, delta, net.spec.act.code)
    check_finite("gradient difference", out)
    return out


@numba.njit(cache=True)
def _gradient_difference_numba(W, a, b, X, delta, code):
    m, d = W.shape
    n = X.shape[0]
    XT0 = np.ascontiguousarray(X.T)
    XT1 = np.ascontiguousarray((X + delta).T)
    n_chunks = min(N_CHUNKS, m)
    part = np.zeros((n_chunks, n, d))
    for ch in numba.prange(n_chunks):
        lo, hi = ch * m // n_chunks, (ch + 1) * m // n_chunks
        Z0 = preactivations(W, b, XT0, lo, hi)
        Z1 = preactivations(W, b, XT1, lo, hi)
        G = np.empty((n, hi - lo))
        for s in range(hi - lo):
            for i in range(n):
                G[i, s] = a[lo + s] * (act_deriv(code, Z1[s, i]) - act_deriv(code, Z0[s, i]))
        part[ch] = G @ W[lo:hi]
    diff = np.zeros((n, d))
    for ch in range(n_chunks):
        diff += part[ch]
    out = np.empty(n)
    for i in range(n):
        out[i] = math.sqrt(np.sum(diff[i] ** 2)) / math.sqrt(m)
    return out
