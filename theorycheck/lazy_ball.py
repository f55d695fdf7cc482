"""The lazy ball B_{2,inf}(W0, R) = { W : max_s ||w_s - w_{s,0}|| <= R }, R = C0 / sqrt(m).

Wang, Ullah, Mianjy, Arora (2022), Def. 2.1 and Lemma 4.3; docs/theory.md Sec. 2 and 3.

The ball is defined in the ``wang`` parametrisation. In ``bubeck`` units (W scaled by 1/sqrt(d),
x by sqrt(d)) the same ball has radius C0 / sqrt(m d), so R ||x|| = C0 / sqrt(m) in both scalings;
:func:`lazy_radius` returns the radius in the network's own units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from theorycheck.activations import act_value
from theorycheck.errors import UserInputError, check_choice, check_finite, check_real
from theorycheck.forward import as_inputs, preactivations
from theorycheck.network import Network, NetworkSpec
from theorycheck.paths import N_CHUNKS, check_path

__all__ = [
    "PERTURBATIONS",
    "WorstOutput",
    "flippable_neurons",
    "lazy_ball_project",
    "lazy_radius",
    "perturb",
    "realised_flips",
    "worst_output",
]

PERTURBATIONS = ("random-sphere", "random-ball")


def lazy_radius(spec: NetworkSpec, C0: float) -> float:
    """R = C0 / sqrt(m) (wang) or C0 / sqrt(m d) (bubeck): Wang et al. (2022), Def. 2.1."""
    C0 = check_real("C0", C0, low=0.0)
    R = C0 / math.sqrt(spec.m)
    return R if spec.scaling == "wang" else R / math.sqrt(spec.d)


def _check_radius(R) -> float:
    return check_real("R", R, low=0.0)


def flippable_neurons(net: Network, X, R: float, path: str = "numba") -> np.ndarray:
    """|S_R(x)| for each row x of X: neurons whose activation some W in the ball can flip.

    S_R(x) = { s : -R||x|| < <w_{s,0}, x> + b_s <= R||x|| } (Wang et al. 2022, Lemma 4.3; the
    pre-activation ranges over [z_s - R||x||, z_s + R||x||] in the ball, and a relu neuron is
    active iff its pre-activation is > 0). Returns int64 counts of shape (n,).
    """
    check_path(path, what="flippable_neurons")
    X = as_inputs(net, X)
    R = _check_radius(R)
    r = R * np.linalg.norm(X, axis=1)
    if path == "reference":
        Z = X @ net.W.T + net.b
        return np.count_nonzero((Z > -r[:, None]) & (Z <= r[:, None]), axis=1).astype(np.int64)
    return _flippable_numba(net.W, net.b, X, r)


@numba.njit(cache=True)
def _flippable_numba(W, b, X, r):
    m, _d = W.shape
    n = X.shape[0]
    n_chunks = min(N_CHUNKS, m)
    XT = np.ascontiguousarray(X.T)
    part = np.zeros((n_chunks, n), dtype=np.int64)
    for ch in numba.prange(n_chunks):
        lo, hi = ch * m // n_chunks, (ch + 1) * m // n_chunks
        Z = preactivations(W, b, XT, lo, hi)
        for i in range(n):  # count locally: adjacent chunks' slots share cache lines
            count = 0
            for s in range(hi - lo):
                if -r[i] < Z[s, i] <= r[i]:
                    count += 1
            part[ch, i] = count
    return part.sum(axis=0)


def realised_flips(net: Network, W, X, path: str = "numba") -> np.ndarray:
    """Number of neurons whose relu activation (pre-activation > 0) differs between W0 and W."""
    check_path(path, what="realised_flips")
    X = as_inputs(net, X)
    W = np.ascontiguousarray(W, dtype=np.float64)
    if W.shape != net.W.shape:
        raise UserInputError(f"W must have shape {net.W.shape}, got {W.shape}")
    if path == "reference":
        Z0 = X @ net.W.T + net.b
        Z1 = X @ W.T + net.b
        return np.count_nonzero((Z0 > 0) != (Z1 > 0), axis=1).astype(np.int64)
    return _realised_flips_numba(net.W, W, net.b, X)


@numba.njit(cache=True)
def _realised_flips_numba(W0, W, b, X):
    m, _d = W0.shape
    n = X.shape[0]
    n_chunks = min(N_CHUNKS, m)
    XT = np.ascontiguousarray(X.T)
    part = np.zeros((n_chunks, n), dtype=np.int64)
    for ch in numba.prange(n_chunks):
        lo, hi = ch * m // n_chunks, (ch + 1) * m // n_chunks
        Z0 = preactivations(W0, b, XT, lo, hi)
        Z1 = preactivations(W, b, XT, lo, hi)
        for i in range(n):
            count = 0
            for s in range(hi - lo):
                if (Z0[s, i] > 0.0) != (Z1[s, i] > 0.0):
                    count += 1
            part[ch, i] = count
    return part.sum(axis=0)


def lazy_ball_project(W, W0, R: float, path: str = "numba") -> np.ndarray:
    """Euclidean projection of W onto B_{2,inf}(W0, R): each row's deviation clipped radially.

    The ball is a product of per-row Euclidean balls, so the projection acts row by row.
    """
    check_path(path, what="lazy_ball_project")
    R = _check_radius(R)
    W = np.ascontiguousarray(W, dtype=np.float64)
    W0 = np.ascontiguousarray(W0, dtype=np.float64)
    if W.shape != W0.shape or W.ndim != 2:
        raise UserInputError(
            f"W and W0 must be (m, d) arrays of one shape, got {W.shape}, {W0.shape}"
        )
    if path == "reference":
        D = W - W0
        norms = np.linalg.norm(D, axis=1, keepdims=True)
        scale = np.where(norms > R, R / np.where(norms > 0, norms, 1.0), 1.0)
        out = W0 + D * scale
    else:
        out = _project_numba(W, W0, R)
    check_finite("projected W", out)
    return out


@numba.njit(cache=True)
def _project_numba(W, W0, R):
    m, d = W.shape
    out = np.empty_like(W)
    for s in numba.prange(m):
        sq = 0.0
        for k in range(d):
            sq += (W[s, k] - W0[s, k]) ** 2
        norm = math.sqrt(sq)
        scale = R / norm if norm > R else 1.0
        for k in range(d):
            out[s, k] = W0[s, k] + (W[s, k] - W0[s, k]) * scale
    return out


def perturb(
    net: Network, R: float, kind: str, rng: np.random.Generator, path: str = "numba"
) -> np.ndarray:
    """A random point W of the lazy ball around the network's W (docs/theory.md Sec. 2, item 1).

    ``random-sphere``: every row moves by exactly R in a uniform direction.
    ``random-ball``: every row moves to a uniform point of its ball of radius R
    (radius R U^{1/d}, U uniform). The random numbers are drawn here with ``rng``; the kernel only
    normalises and scales them, so both paths return the same W for the same generator state.
    """
    check_path(path, what="perturb")
    check_choice("kind", kind, PERTURBATIONS)
    R = _check_radius(R)
    m, d = net.W.shape
    G = rng.standard_normal((m, d))
    radii = np.full(m, R) if kind == "random-sphere" else R * rng.random(m) ** (1.0 / d)
    if path == "reference":
        norms = np.linalg.norm(G, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return net.W + G / norms * radii[:, None]
    return _perturb_numba(net.W, G, radii)


@numba.njit(cache=True)
def _perturb_numba(W0, G, radii):
    m, d = W0.shape
    out = np.empty_like(W0)
    for s in numba.prange(m):
        sq = 0.0
        for k in range(d):
            sq += G[s, k] * G[s, k]
        norm = math.sqrt(sq)
        scale = radii[s] / norm if norm > 0.0 else 0.0
        for k in range(d):
            out[s, k] = W0[s, k] + G[s, k] * scale
    return out


@dataclass(frozen=True)
class WorstOutput:
    """sup and inf of f(x; W) over the lazy ball, per input, with the maximising pre-activations.

    ``t_sup``/``t_inf`` (n, m) are the per-neuron pre-activations attaining the sup/inf; the
    attaining W moves row s by (t - z_s)/||x|| along x/||x||.
    """

    sup: np.ndarray
    inf: np.ndarray
    t_sup: np.ndarray
    t_inf: np.ndarray

    def argmax_weights(self, net: Network, X, which: str = "sup") -> list[np.ndarray]:
        """The W attaining the sup (or inf) for each input: W0 + ((t - z)/||x||^2) x^T row-wise."""
        X = as_inputs(net, X)
        T = self.t_sup if which == "sup" else self.t_inf
        out = []
        for i, x in enumerate(X):
            z = net.W @ x + net.b
            out.append(net.W + np.outer((T[i] - z) / float(x @ x), x))
        return out


def worst_output(net: Network, X, R: float, path: str = "numba") -> WorstOutput:
    """Closed-form sup/inf of f(x; W) over W in B_{2,inf}(W0, R) (docs/theory.md Sec. 2, item 2).

    The problem separates per neuron: <w_s, x> ranges over [z_s - R||x||, z_s + R||x||]
    independently, so sup f = m^{-1/2} sum_s max_t a_s sigma(t) + c over that interval, attained at
    an endpoint or at an interior critical point of sigma (gelu's minimum, 0 for t^2).
    Derivation: docs/derivations/worst_output.md.
    """
    check_path(path, what="worst_output")
    X = as_inputs(net, X)
    R = _check_radius(R)
    act = net.spec.act
    r = R * np.linalg.norm(X, axis=1)
    crit = np.asarray(act.critical_points, dtype=np.float64)
    if path == "reference":
        Z = X @ net.W.T + net.b
        sup, inf, t_sup, t_inf = _worst_reference(Z, r, net.a, act.sigma, crit)
    else:
        sup, inf, t_sup, t_inf = _worst_numba(net.W, net.a, net.b, X, r, crit, act.code)
    scale = 1.0 / math.sqrt(net.spec.m)
    res = WorstOutput(sup * scale + net.c, inf * scale + net.c, t_sup, t_inf)
    check_finite("worst-output sup", res.sup)
    check_finite("worst-output inf", res.inf)
    return res


def _worst_reference(Z, r, a, sigma, crit):
    lo, hi = Z - r[:, None], Z + r[:, None]
    # Ties (e.g. a relu row dead on the whole interval) go to the end in the direction of a_s for
    # the sup and the opposite end for the inf: W* = W0 +- R a x^T/||x|| (docs/theory.md Sec. 2
    # item 2).
    up = a > 0
    sup_first, sup_second = np.where(up, hi, lo), np.where(up, lo, hi)

    def best(first, second, pick):
        cands = [first, second]
        for c in crit:  # an interior critical point is a candidate only inside the interval
            cands.append(np.where((lo < c) & (c < hi), c, first))
        T = np.stack(cands)  # (k, n, m)
        vals = a * sigma(T)
        i = pick(vals, axis=0)[None]  # the first of equal values: the preferred end
        return np.take_along_axis(vals, i, 0)[0], np.take_along_axis(T, i, 0)[0]

    vmax, t_sup = best(sup_first, sup_second, np.argmax)
    vmin, t_inf = best(sup_second, sup_first, np.argmin)
    return vmax.sum(axis=1), vmin.sum(axis=1), t_sup, t_inf


@numba.njit(cache=True)
def _worst_numba(W, a, b, X, r, crit, code):
    m, _d = W.shape
    n = X.shape[0]
    t_sup = np.empty((n, m))
    t_inf = np.empty((n, m))
    vmax = np.empty((n, m))
    vmin = np.empty((n, m))
    XT = np.ascontiguousarray(X.T)
    n_chunks = min(N_CHUNKS, m)
    for ch in numba.prange(n_chunks):
        c_lo, c_hi = ch * m // n_chunks, (ch + 1) * m // n_chunks
        Z = preactivations(W, b, XT, c_lo, c_hi)
        for s in range(c_lo, c_hi):
            for i in range(n):
                z = Z[s - c_lo, i]
                _worst_neuron(z, r[i], a[s], crit, code, s, i, t_sup, t_inf, vmax, vmin)
    # Sums over neurons in index order: identical for any number of threads.
    return vmax.sum(axis=1), vmin.sum(axis=1), t_sup, t_inf


@numba.njit(cache=True)
def _worst_neuron(z, r, a_s, crit, code, s, i, t_sup, t_inf, vmax, vmin):
    """Max and min of a_s sigma(t) over t in [z - r, z + r]: endpoints and critical points.
    Ties go to the end in the direction of a_s for the max, the other end for the min."""
    first = z + r if a_s > 0 else z - r
    second = z - r if a_s > 0 else z + r
    lo = z - r
    hi = z + r
    best_t, best = first, a_s * act_value(code, first)
    worst_t, worst = second, a_s * act_value(code, second)
    v = a_s * act_value(code, second)
    if v > best:
        best_t, best = second, v
    v = a_s * act_value(code, first)
    if v < worst:
        worst_t, worst = first, v
    for c in crit:
        if lo < c < hi:
            v = a_s * act_value(code, c)
            if v > best:
                best_t, best = c, v
            if v < worst:
                worst_t, worst = c, v
    t_sup[i, s], vmax[i, s] = best_t, best
    t_inf[i, s], vmin[i, s] = worst_t, worst
