"""One fused pass for the statistics of relu networks at given inputs: f, ||grad f||, |S_R|, t*.

The public estimators (:func:`~theorycheck.attack.first_sign_flip`,
:func:`~theorycheck.lazy_ball.flippable_neurons`) each recompute the pre-activations; asked
together for k radii they form X W^T k + 2 times and grad f twice. :func:`single_step_statistics`
forms the three products that are needed once each (pre-activations Z = X W^T, grad f = G W with
G = a * 1{Z > 0} / sqrt(m), and V = U W^T along the attack directions U) by BLAS, and does
everything else (f, |S_R|, ||grad f||, the breakpoint walks) in one compiled serial loop per
input. On this workload BLAS is the time (3 gemms of n x m x d against O(n m) for the rest), so
the kernel has no ``prange``: alternating numba's thread pool with OpenBLAS's made every parallel
region wait for the other pool's spinning threads (measured on 2 cores: 2.6 s instead of 1.3 ms at
d=100, m=1e3, 32 inputs). With no parallel region the results cannot depend on the numba thread
count; BLAS never splits a dot product across its threads.

Same quantities and conventions as :func:`~theorycheck.attack.first_sign_flip` (t* by the exact
breakpoint walk; f = 0 or grad f = 0 flagged with t* = 0) and
:func:`~theorycheck.lazy_ball.flippable_neurons`; the NumPy twin is those two functions.
References: Wang et al. (2022) Lemma 4.3 and Theorem 3.1; Bubeck et al. (2021) Theorem 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from theorycheck.attack import _tstar_pwl_numba, first_sign_flip
from theorycheck.errors import UserInputError, check_finite, check_real
from theorycheck.forward import as_inputs
from theorycheck.lazy_ball import flippable_neurons
from theorycheck.network import Network
from theorycheck.paths import check_path

__all__ = ["SingleStepStatistics", "single_step_statistics"]

#: Inputs are processed in groups so that the three (group, m) work arrays stay below this size.
GROUP_ELEMENTS = 2**22


@dataclass(frozen=True)
class SingleStepStatistics:
    """Per input: f, ||grad f||, t*, zero_output (as in SingleStep) and |S_R| (n, len(radii))."""

    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray
    flippable: np.ndarray


def single_step_statistics(net: Network, X, radii=(), path: str = "numba") -> SingleStepStatistics:
    """f, ||grad f||, t* and |S_R(x)| for each radius, for each row x of X (relu networks).

    ``path="reference"`` calls :func:`first_sign_flip` and :func:`flippable_neurons` (the twin);
    ``path="numba"`` runs the fused kernel described in the module docstring.
    """
    check_path(path, what="single_step_statistics")
    if not net.spec.act.piecewise_linear:
        raise UserInputError(
            f"single_step_statistics covers relu; got activation={net.spec.activation!r}: use "
            "first_sign_flip"
        )
    X = as_inputs(net, X)
    radii = np.array([check_real("radii", R, low=0.0) for R in np.atleast_1d(radii).tolist()])
    if path == "reference":
        step = first_sign_flip(net, X, path="reference")
        flips = np.zeros((len(X), len(radii)), dtype=np.int64)
        for j, R in enumerate(radii):
            flips[:, j] = flippable_neurons(net, X, R, path="reference")
        return SingleStepStatistics(step.f, step.grad_norm, step.t_star, step.zero_output, flips)
    n = len(X)
    m = net.spec.m
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.empty(n, dtype=bool)
    flips = np.empty((n, len(radii)), dtype=np.int64)
    r = radii[None, :] * np.linalg.norm(X, axis=1)[:, None]  # R ||x||
    group = max(1, GROUP_ELEMENTS // m)
    for lo in range(0, n, group):
        hi = min(n, lo + group)
        _fused_numba(net.W, net.a, net.b, net.c, X[lo:hi], np.ascontiguousarray(r[lo:hi]),
                     f[lo:hi], gnorm[lo:hi], tstar[lo:hi], zero[lo:hi], flips[lo:hi])  # fmt: skip
    check_finite("f", f)
    check_finite("grad f", gnorm)
    return SingleStepStatistics(f, gnorm, tstar, zero, flips)


@numba.njit(cache=True)
def _fused_numba(W, a, b, c, X, r, f, gnorm, tstar, zero, flips):
    m = W.shape[0]
    n = X.shape[0]
    inv_sqrt_m = 1.0 / math.sqrt(m)
    Z = X @ W.T  # (n, m) by BLAS, outside prange
    G = np.empty((n, m))
    for i in range(n):
        acc = 0.0
        for s in range(m):
            z = Z[i, s] + b[s]
            Z[i, s] = z
            if z > 0.0:  # relu: active iff z > 0, sigma'(0) := 0
                acc += a[s] * z
                G[i, s] = a[s] * inv_sqrt_m
            else:
                G[i, s] = 0.0
        f[i] = acc * inv_sqrt_m + c
        for j in range(r.shape[1]):
            cnt = 0
            for s in range(m):
                if -r[i, j] < Z[i, s] <= r[i, j]:
                    cnt += 1
            flips[i, j] = cnt
    grad = G @ W  # (n, d)
    U = np.empty_like(grad)
    for i in range(n):
        sq = 0.0  # an explicit loop, as in every kernel: never a thread-split reduction
        for k in range(grad.shape[1]):
            sq += grad[i, k] * grad[i, k]
        gnorm[i] = math.sqrt(sq)
        zero[i] = f[i] == 0.0
        if zero[i] or gnorm[i] == 0.0:
            U[i] = 0.0
        else:
            U[i] = grad[i] / gnorm[i]
    V = U @ W.T  # (n, m): <w_s, u_i>
    for i in range(n):
        if zero[i]:
            tstar[i] = 0.0
            continue
        if gnorm[i] == 0.0:  # the ray does not move: the sign never changes
            tstar[i] = np.inf
            continue
        sgn = 1.0 if f[i] > 0.0 else -1.0
        v = np.empty(m)
        for s in range(m):
            v[s] = -sgn * V[i, s]
        tstar[i] = _tstar_pwl_numba(Z[i], v, a, c, sgn)
