"""The streaming path: the single-step statistics without materialising W (SPEC "Architecture").

Neuron s of network ``network`` has weights w_s = std * (normals of the counter-based stream
:func:`theorycheck.rng.neuron_key` (key, s)) and output weight a_s =
:func:`theorycheck.rng.neuron_sign`: a pure function of (seed, network, neuron).
:func:`streaming_statistics` regenerates each row when it needs it: one pass for f, grad f and the
pre-activations, a second for <w_s, u> along the attack directions; memory is O(d) per thread for
the rows plus the partial gradients of a fixed number of neuron chunks, and O(n m) for the
pre-activations the breakpoint walk needs, never O(m d). :func:`stream_network` materialises the
same network (the same numbers), so the two agree with
:func:`theorycheck.fused.single_step_statistics` to rounding (tests/test_streaming.py).

Chunks of neurons are fixed (:data:`STREAM_CHUNKS`) and their partial sums added in chunk order, so
results do not depend on the number of threads. relu, no biases (the setting of the theorems).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from theorycheck.attack import _tstar_pwl_numba
from theorycheck.errors import UserInputError, check_finite, check_int, check_real
from theorycheck.forward import as_inputs
from theorycheck.fused import SingleStepStatistics
from theorycheck.network import Network, NetworkSpec, sample_inputs
from theorycheck.rng import fill_normals, network_key, neuron_key, neuron_sign, word_offsets

__all__ = ["STREAM_CHUNKS", "sample_stream_statistics", "stream_network", "streaming_statistics"]

#: Fixed number of neuron chunks (each holds an (n, d) partial gradient).
STREAM_CHUNKS = 16


def _check_spec(spec: NetworkSpec) -> None:
    if spec.activation != "relu" or spec.biases or spec.output_weights != "sign":
        raise UserInputError(
            "the streaming path covers relu networks with output_weights='sign' and no biases; "
            f"got activation={spec.activation!r}, output_weights={spec.output_weights!r}, "
            f"biases={spec.biases}"
        )


def stream_network(spec: NetworkSpec, seed: int, network: str | int) -> Network:
    """The network of the stream (seed, network), materialised (for tests and small sizes)."""
    _check_spec(spec)
    spec.check_materializable()
    W = np.empty((spec.m, spec.d))
    a = np.empty(spec.m)
    _stream_rows(network_key(seed, network), spec.weight_std, W, a)
    return Network(spec, a, W, np.zeros(spec.m), 0.0)


@numba.njit(parallel=True, cache=True)
def _stream_rows(key, std, W, a):
    offsets = word_offsets(W.shape[1] + 1)
    for s in numba.prange(W.shape[0]):  # each row depends on (key, s) only
        k = neuron_key(key, s)
        fill_normals(k, W[s], offsets)
        for j in range(W.shape[1]):
            W[s, j] *= std
        a[s] = neuron_sign(k)


def streaming_statistics(
    spec: NetworkSpec, seed: int, network: str | int, X, radii=()
) -> SingleStepStatistics:
    """f, ||grad f||, t* and |S_R(x)| at each row x of X for the stream network (seed, network).

    Same quantities and conventions as :func:`theorycheck.fused.single_step_statistics` on
    :func:`stream_network` (spec, seed, network), with W never materialised.
    """
    _check_spec(spec)
    X = np.asarray(X, dtype=np.float64)
    X = as_inputs(Network(spec, np.zeros(0), np.zeros((0, spec.d)), np.zeros(0)), X)
    radii = np.array([check_real("radii", R, low=0.0) for R in np.atleast_1d(radii).tolist()])
    r = np.ascontiguousarray(radii[None, :] * np.linalg.norm(X, axis=1)[:, None])
    n = len(X)
    out = (np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=bool),
           np.empty((n, len(radii)), dtype=np.int64))  # fmt: skip
    _streaming_numba(network_key(seed, network), spec.m, spec.weight_std, X, r, *out)
    check_finite("f", out[0])
    check_finite("grad f", out[1])
    return SingleStepStatistics(*out)


@numba.njit(cache=True, fastmath=True)
def _dot(w, x):
    # fastmath only here: it lets LLVM split the sum over SIMD lanes (a fixed order for a given
    # build, the same on every thread), which makes the two passes' m*n*d products ~4x cheaper.
    acc = 0.0
    for j in range(w.shape[0]):
        acc += w[j] * x[j]
    return acc


@numba.njit(parallel=True, cache=True)
def _streaming_numba(key, m, std, X, r, f, gnorm, tstar, zero, flips):
    n, d = X.shape
    n_chunks = min(STREAM_CHUNKS, m)
    offsets = word_offsets(d + 1)
    Z = np.empty((n, m))
    a = np.empty(m)
    f_part = np.zeros((n_chunks, n))
    g_part = np.zeros((n_chunks, n, d))
    for ch in numba.prange(n_chunks):  # pass 1: pre-activations, f, grad f
        w = np.empty(d)
        for s in range(ch * m // n_chunks, (ch + 1) * m // n_chunks):
            k = neuron_key(key, s)
            fill_normals(k, w, offsets)
            for j in range(d):
                w[j] *= std  # the same product as stream_network's W[s, j]
            a_s = neuron_sign(k)
            a[s] = a_s
            for i in range(n):
                z = _dot(w, X[i])
                Z[i, s] = z
                if z > 0.0:  # relu: active iff z > 0
                    f_part[ch, i] += a_s * z
                    for j in range(d):
                        g_part[ch, i, j] += a_s * w[j]
    inv_sqrt_m = 1.0 / math.sqrt(m)
    U = np.zeros((n, d))
    for i in range(n):
        acc = 0.0
        for ch in range(n_chunks):  # chunk order: independent of the thread count
            acc += f_part[ch, i]
            for j in range(d):
                U[i, j] += g_part[ch, i, j]
        f[i] = acc * inv_sqrt_m
        sq = 0.0
        for j in range(d):
            U[i, j] *= inv_sqrt_m
            sq += U[i, j] * U[i, j]
        gnorm[i] = math.sqrt(sq)
        zero[i] = f[i] == 0.0 or gnorm[i] == 0.0
        for j in range(d):
            U[i, j] = 0.0 if zero[i] else U[i, j] / gnorm[i]
        for q in range(r.shape[1]):
            cnt = 0
            for s in range(m):
                if -r[i, q] < Z[i, s] <= r[i, q]:
                    cnt += 1
            flips[i, q] = cnt
    V = np.empty((n, m))
    for ch in numba.prange(n_chunks):  # pass 2: <w_s, u_i>, regenerating the rows
        w = np.empty(d)
        for s in range(ch * m // n_chunks, (ch + 1) * m // n_chunks):
            fill_normals(neuron_key(key, s), w, offsets)
            for j in range(d):
                w[j] *= std
            for i in range(n):
                V[i, s] = _dot(w, U[i])
    for i in numba.prange(n):
        if zero[i]:
            tstar[i] = 0.0
            continue
        sgn = 1.0 if f[i] > 0.0 else -1.0
        v = np.empty(m)
        for s in range(m):
            v[s] = -sgn * V[i, s]
        tstar[i] = _tstar_pwl_numba(Z[i], v, a, 0.0, sgn)


def sample_stream_statistics(
    spec: NetworkSpec, n: int, rng: np.random.Generator, radii=()
) -> SingleStepStatistics:
    """n stream networks with one input each (x uniform on the sphere): f, ||grad f||, t* and
    |S_R(x)| as :func:`streaming_statistics` gives them, W never materialised.

    The stream's seed is drawn once from ``rng`` and network i is the stream (seed, i), so the
    numbers depend only on ``rng`` (the block's generator in a simulation), and network i equals
    ``stream_network(spec, seed, i)`` materialised. Memory is O(d) per thread whatever m is.
    """
    n = check_int("n", n)
    seed = int(rng.integers(2**62))
    X = sample_inputs(spec, n, rng)
    parts = [streaming_statistics(spec, seed, i, X[i : i + 1], radii) for i in range(n)]
    return SingleStepStatistics(
        *(np.concatenate([getattr(p, name) for p in parts]) for name in
          ("f", "grad_norm", "t_star", "zero_output", "flippable"))
    )  # fmt: skip
