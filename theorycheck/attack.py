"""The single gradient step attack and its first sign flip t* (docs/theory.md Sec. 3).

Ray: x(t) = x - sign(f(x)) t u with u = grad f(x) / ||grad f(x)||. Along it every pre-activation is
affine in t: z_s(t) = z_s + t v_s with v_s = -sign(f(x)) <w_s, u>. t* is the first t > 0 with
sign f(x(t)) != sign f(x) (reaching 0 counts), +inf if there is none.

* piecewise-linear sigma (relu): f(x(t)) is piecewise linear with breakpoints t_s = -z_s / v_s,
  so t* is exact: walk the sorted breakpoints and solve the linear piece that crosses zero.
* smooth sigma: bracket the first sign change on the grid t_j = j h, h = max(s_lin / 32,
  1e-4 ||x||), up to t = 4 ||x||, then bisect to machine precision. A double crossing narrower than
  h can be missed; beyond 4 ||x|| the result is +inf (the input itself would have been erased).

Bubeck et al. (2021), Theorem 1; Wang et al. (2022), Theorem 3.1. Inputs with f(x) = 0 exactly
(probability 2^-m for relu at init, docs/theory.md F1) have no attack direction: they get t* = 0
and are
flagged in :attr:`SingleStep.zero_output` so that they can be reported apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy import optimize

from theorycheck.activations import act_value
from theorycheck.forward import as_inputs, output_and_gradient, preactivations
from theorycheck.network import Network
from theorycheck.paths import check_path

__all__ = [
    "SMOOTH_GRID_DIVISIONS",
    "SMOOTH_T_MAX",
    "TOUCH_TOLERANCE",
    "SingleStep",
    "first_sign_flip",
]

#: Grid step for smooth activations is s_lin / SMOOTH_GRID_DIVISIONS (at least 1e-4 ||x||).
SMOOTH_GRID_DIVISIONS = 32
#: relu walk: f(x(t)) within TOUCH_TOLERANCE * (sum_s |a_s z_s| / sqrt(m) + |c|) of 0 at a
#: breakpoint counts as reaching 0. Where the ray touches f = 0 exactly at a kink (in d = 1 every
#: breakpoint is the same point x = 0, up to one ulp), the computed value there is +-1e-16 by
#: rounding, and without a tolerance the two summation orders of the paths disagreed on whether
#: the sign flips.
TOUCH_TOLERANCE = 1e-12
#: Smooth activations: search for the first flip only up to SMOOTH_T_MAX * ||x||.
SMOOTH_T_MAX = 4.0


@dataclass(frozen=True)
class SingleStep:
    """Per-input results of the single-step attack.

    f, grad_norm : f(x) and ||grad f(x)||.
    t_star : ||delta*||, the distance along the ray to the first sign flip (+inf if none).
    zero_output : f(x) == 0 exactly (no attack direction; t_star set to 0).
    """

    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray

    @property
    def s_lin(self) -> np.ndarray:
        """Linear prediction of the flip distance, |f| / ||grad f|| (inf where grad f = 0 and
        f != 0, NaN where both vanish)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(self.f) / self.grad_norm

    @property
    def eta_star(self) -> np.ndarray:
        """|eta*| = t* / ||grad f||, the step multiplier of delta = eta grad f that first flips."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.t_star / self.grad_norm


def first_sign_flip(net: Network, X, path: str = "numba") -> SingleStep:
    """t* of the single gradient step attack for each row of X (see the module docstring)."""
    check_path(path, what="first_sign_flip")
    X = as_inputs(net, X)
    fw = output_and_gradient(net, X, path=path)
    gnorm = fw.grad_norm
    zero = fw.f == 0.0
    # grad f = 0 with f != 0: the ray does not move, the sign never changes: t* = +inf.
    still = (gnorm == 0.0) & ~zero
    skip = zero | still
    sgn = np.sign(fw.f)
    U = np.where(skip[:, None], 0.0, fw.grad / np.where(gnorm > 0, gnorm, 1.0)[:, None])
    xnorm = np.linalg.norm(X, axis=1)
    s_lin = np.where(skip, 0.0, np.abs(fw.f) / np.where(gnorm > 0, gnorm, 1.0))
    h = np.maximum(s_lin / SMOOTH_GRID_DIVISIONS, 1e-4 * xnorm)
    act = net.spec.act
    if path == "reference":
        Z = X @ net.W.T + net.b
        V = -sgn[:, None] * (U @ net.W.T)
        t_star = np.array([
            0.0 if zero[i]
            else math.inf if still[i]
            else _tstar_pwl_reference(Z[i], V[i], net.a, net.c, sgn[i])
            if act.piecewise_linear
            else _tstar_smooth_reference(Z[i], V[i], net.a, net.c, sgn[i], act.sigma, h[i],
                                         SMOOTH_T_MAX * xnorm[i])
            for i in range(len(X))
        ])  # fmt: skip
    else:
        t_star = _tstar_numba(
            net.W, net.a, net.b, net.c, X, U, sgn, skip, h, SMOOTH_T_MAX * xnorm,
            act.code, act.piecewise_linear,
        )  # fmt: skip
    t_star[still] = math.inf
    return SingleStep(fw.f, gnorm, t_star, zero)


def _tstar_pwl_reference(z, v, a, c, sgn):
    """Exact t* for relu: walk the breakpoints in increasing order (ties in index order).

    On each piece between breakpoints sign(f) f(x(t)) is affine: value h, slope. Crossing a
    breakpoint activates a neuron (v > 0) or deactivates it (v < 0). When the last active neuron
    switches off, f = c exactly from there on: the value is set to sign(f) c and the slope to 0
    instead of the rounded running sums (which would leave a spurious +-1e-17 and decide by chance
    whether a network whose ray kills every neuron flips).
    """
    m = len(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = -z / v
    toggles = np.flatnonzero((v != 0) & (bp > 0))
    order = toggles[np.argsort(bp[toggles], kind="stable")]
    active0 = (z > 0) | ((z == 0) & (v > 0))
    n_active = int(np.count_nonzero(active0))
    scale = sgn / math.sqrt(m)
    h = float(np.sum(a[z > 0] * z[z > 0])) * scale + sgn * c
    slope = float(np.sum(a[active0] * v[active0])) * scale
    tol = TOUCH_TOLERANCE * (float(np.sum(np.abs(a * z))) / math.sqrt(m) + abs(c))
    t_prev = 0.0
    for s in order:
        t = float(bp[s])
        h_next = h + slope * (t - t_prev)
        n_active += 1 if v[s] > 0 else -1
        if n_active == 0:
            h_next = sgn * c
            if h_next == 0.0:
                return t
        if h_next <= tol:
            return min(t, t_prev + h / -slope) if slope < 0.0 else t
        h, t_prev = h_next, t
        slope = 0.0 if n_active == 0 else slope + scale * a[s] * abs(v[s])
    if slope < 0.0:
        return t_prev + h / -slope
    return math.inf


def _tstar_smooth_reference(z, v, a, c, sgn, sigma, h, t_max):
    m = len(z)

    def g(t):
        return sgn * (np.dot(a, sigma(z + t * v)) / math.sqrt(m) + c)

    n_steps = math.ceil(t_max / h)
    for j in range(1, n_steps + 1):
        t = j * h
        if g(t) <= 0.0:
            lo = (j - 1) * h
            if g(t) == 0.0:
                return t
            return optimize.brentq(g, lo, t, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return math.inf


@numba.njit(cache=True)
def _ray_value(z, v, a, c, sgn, t, code):
    acc = 0.0
    for s in range(z.shape[0]):
        acc += a[s] * act_value(code, z[s] + t * v[s])
    return sgn * (acc / math.sqrt(z.shape[0]) + c)


@numba.njit(cache=True)
def _tstar_pwl_numba(z, v, a, c, sgn):
    # The walk of _tstar_pwl_reference (same operations in the same order). Only the breakpoints
    # that can matter are sorted: they are taken in bands [lo, hi) of doubling width starting near
    # the linear prediction h / -slope. Bands partition the breakpoints by value and each is sorted
    # stably, so the walk visits them in the order of one stable sort of all of them: O(m) work per
    # band plus a sort of the few candidates instead of O(m log m).
    m = z.shape[0]
    bp = np.empty(m)
    h = 0.0
    slope = 0.0
    n_active = 0
    n_bp = 0
    bp_min = np.inf
    abs_sum = 0.0
    for s in range(m):
        abs_sum += abs(a[s] * z[s])
        if z[s] > 0.0:
            h += a[s] * z[s]
        if z[s] > 0.0 or (z[s] == 0.0 and v[s] > 0.0):
            slope += a[s] * v[s]
            n_active += 1
        bp[s] = np.inf
        if v[s] != 0.0:
            t = -z[s] / v[s]
            if t > 0.0:
                bp[s] = t
                n_bp += 1
                bp_min = min(bp_min, t)
    scale = sgn / math.sqrt(m)
    h = h * scale + sgn * c
    slope *= scale
    tol = TOUCH_TOLERANCE * (abs_sum / math.sqrt(m) + abs(c))
    t_prev = 0.0
    lo = 0.0
    hi = 2.0 * h / -slope if slope < 0.0 and h > 0.0 else 2.0 * bp_min
    idx = np.empty(n_bp, dtype=np.int64)
    done = 0
    while done < n_bp:
        hi = max(hi, 2.0 * bp_min)  # bp_min: the smallest breakpoint not yet walked
        cnt = 0
        next_min = np.inf
        for s in range(m):
            if lo <= bp[s] < hi:
                idx[cnt] = s
                cnt += 1
            elif hi <= bp[s] < next_min:
                next_min = bp[s]
        band = idx[:cnt]
        order = band[np.argsort(bp[band], kind="mergesort")]
        for j in range(cnt):
            s = order[j]
            h_next = h + slope * (bp[s] - t_prev)
            n_active += 1 if v[s] > 0.0 else -1
            if n_active == 0:  # f = c exactly once no neuron is active (see the reference)
                h_next = sgn * c
                if h_next == 0.0:
                    return bp[s]
            if h_next <= tol:
                return min(bp[s], t_prev + h / -slope) if slope < 0.0 else bp[s]
            h = h_next
            t_prev = bp[s]
            slope = 0.0 if n_active == 0 else slope + scale * a[s] * abs(v[s])
        done += cnt
        lo = hi
        hi = 2.0 * hi
        bp_min = next_min
    if slope < 0.0:
        return t_prev + h / -slope
    return np.inf


@numba.njit(cache=True)
def _tstar_smooth_numba(z, v, a, c, sgn, h, t_max, code):
    n_steps = math.ceil(t_max / h)
    for j in range(1, n_steps + 1):
        hi = j * h
        g_hi = _ray_value(z, v, a, c, sgn, hi, code)
        if g_hi <= 0.0:
            if g_hi == 0.0:
                return hi
            lo = (j - 1) * h
            for _ in range(200):  # bisection to adjacent floats
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                if _ray_value(z, v, a, c, sgn, mid, code) <= 0.0:
                    hi = mid
                else:
                    lo = mid
            return hi
    return np.inf


@numba.njit(cache=True)
def _tstar_numba(W, a, b, c, X, U, sgn, zero, h, t_max, code, piecewise_linear):
    m, _d = W.shape
    n = X.shape[0]
    out = np.zeros(n)
    Z = preactivations(W, b, np.ascontiguousarray(X.T), 0, m)  # (m, n)
    V = W @ np.ascontiguousarray(U.T)  # (m, n): <w_s, u_i>
    for i in numba.prange(n):
        if zero[i]:
            continue
        z = np.ascontiguousarray(Z[:, i])
        v = -sgn[i] * V[:, i]
        if piecewise_linear:
            out[i] = _tstar_pwl_numba(z, v, a, c, sgn[i])
        else:
            out[i] = _tstar_smooth_numba(z, v, a, c, sgn[i], h[i], t_max[i], code)
    return out
