"""The single gradient step attack: t* (first sign flip along the ray), s_lin, eta*.

Ray: x(t) = x - sign(f(x)) t u, u = grad f(x) / ||grad f(x)|| (docs/theory.md Sec. 3,
theorycheck.attack). Every check evaluates f at points x(t) built here from the forward pass,
independently of the attack kernels (which work with the pre-activations z_s + t v_s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from theorycheck.activations import ACTIVATIONS
from theorycheck.attack import SMOOTH_GRID_DIVISIONS, SMOOTH_T_MAX, first_sign_flip
from theorycheck.forward import output_and_gradient
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator

SMOOTH = tuple(name for name, act in ACTIVATIONS.items() if not act.piecewise_linear)
EPS = float(np.finfo(np.float64).eps)
REL_T = 1e-9  # relative agreement of t* between paths, and the step past/before t*


@st.composite
def attack_cases(draw, activations=tuple(ACTIVATIONS), biases=(False, True)):
    d = draw(st.integers(1, 30))
    m = draw(st.integers(1, 200))
    n = draw(st.integers(1, 4))
    spec = NetworkSpec(
        d=d,
        m=m,
        activation=draw(st.sampled_from(activations)),
        scaling=draw(st.sampled_from(("wang", "bubeck"))),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.sampled_from(biases)),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_attack")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, n, rng)
    return net, X


def ray(net, x):
    """sign f(x), u and a function t -> points x(t) (rows), from the reference forward pass."""
    fw = output_and_gradient(net, x[None], path="reference")
    g = fw.grad[0]
    gn = np.linalg.norm(g)
    u = g / gn if gn > 0 else np.zeros_like(g)
    sgn = float(np.sign(fw.f[0]))

    def points(t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return x[None, :] - sgn * t[:, None] * u[None, :]

    return sgn, u, points


# An independent evaluator of f with activations accurate to a few ulps *relative* to their
# value everywhere (gelu through scipy's ndtr, which keeps Phi accurate in the left tail, where
# 1 + erf(t / sqrt 2) cancels to 0 for t < -8.3 although t Phi(t) is still a normal double).
_ACCURATE = {
    "relu": (lambda t: np.maximum(t, 0.0), lambda t: (t > 0).astype(float)),
    "softplus": (lambda t: np.logaddexp(0.0, t), special.expit),
    "tanh": (np.tanh, lambda t: 1.0 / np.cosh(t) ** 2),
    "gelu": (lambda t: t * special.ndtr(t), lambda t: special.ndtr(t) + t * _phi(t)),
    "quadratic": (np.square, lambda t: 2.0 * t),
}


def _phi(t):
    return np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


def f_accurate(net, P):
    sigma, _ = _ACCURATE[net.spec.activation]
    return sigma(P @ net.W.T + net.b) @ net.a / math.sqrt(net.spec.m) + net.c


def sign_f(net, P):
    return np.sign(f_accurate(net, P))


def zero_tolerance(net, x, sgn, u, t):
    """Rounding bound on f at the point x(t) as the kernels reach it (pre-activations z_s + t v_s)
    versus as evaluated here (x(t) first): each pre-activation differs by at most
    ~ 2 gamma_{d+2} (|b_s| + sum_k |W_sk| (|x_k| + t |u_k|)), and the sum of m terms adds gamma_m.
    A value of f within this bound of 0 counts as "reaching 0" (docs/theory.md Sec. 3).
    ``t`` may be an array; returns one bound per t."""
    sigma, dsigma = _ACCURATE[net.spec.activation]
    d, m = net.spec.d, net.spec.m
    t = np.atleast_1d(np.asarray(t, dtype=float))
    zabs = (
        np.abs(net.b) + (np.abs(x) @ np.abs(net.W).T) + t[:, None] * (np.abs(u) @ np.abs(net.W).T)
    )
    Z = (x[None, :] - sgn * t[:, None] * u[None, :]) @ net.W.T + net.b
    scale = (np.abs(sigma(Z)) + np.abs(dsigma(Z)) * zabs) @ np.abs(net.a) / math.sqrt(m)
    out = 4 * (d + m + 10) * EPS * (scale + abs(net.c))
    return out if out.size > 1 else float(out[0])


def flipped(net, x, sgn, u, points, ts):
    """Mask of the t in ts where f(x(t)) has left sign(f(x)) by more than rounding."""
    ts = np.atleast_1d(np.asarray(ts, dtype=float))
    f = f_accurate(net, points(ts))
    return (np.sign(f) != sgn) & (np.abs(f) > zero_tolerance(net, x, sgn, u, ts))


def relu_breakpoints(net, x, sgn, u):
    """t_s = -z_s / v_s > 0 with v_s = -sign(f) <w_s, u> (docs/theory.md Sec. 3)."""
    z = net.W @ x + net.b
    v = -sgn * (net.W @ u)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -z / v
    return np.sort(t[(v != 0) & (t > 0) & np.isfinite(t)])


# -- numba == reference -------------------------------------------------------------------------


@given(case=attack_cases())
def test_first_sign_flip_numba_matches_reference(warm_numba, case):
    """t* agrees to 1e-9 (inf == inf). relu is exact by breakpoints: no exception. Smooth sigma:
    a touch (f reaches 0 without changing sign: a double crossing of zero width) is found only if
    a bracketing point happens to land on it -- the documented limitation -- so there the paths
    may differ, but only when the smaller of the two t* is such a touch."""
    net, X = case
    fast = first_sign_flip(net, X, path="numba")
    ref = first_sign_flip(net, X, path="reference")
    assert np.array_equal(fast.zero_output, ref.zero_output)
    assert np.all(fast.t_star >= 0) and np.all(ref.t_star >= 0)
    for i, x in enumerate(X):
        tf, tr = fast.t_star[i], ref.t_star[i]
        if (tf == tr == math.inf) or (np.isfinite(tf) and abs(tf - tr) <= REL_T * abs(tr)):
            continue
        assert net.spec.activation in SMOOTH, f"relu: t* = {tf!r} (numba) != {tr!r} (reference)"
        t1 = min(tf, tr)
        sgn, u, points = ray(net, x)
        f_before, f_at, f_after = f_accurate(net, points([t1 * (1 - REL_T), t1, t1 * (1 + REL_T)]))
        touch = (
            abs(f_at) <= zero_tolerance(net, x, sgn, u, t1)
            and np.sign(f_before) == sgn
            and np.sign(f_after) == sgn
        )
        assert touch, f"t* = {tf!r} (numba) != {tr!r} (reference), and {t1!r} is not a touch"


# -- t* is the first sign flip --------------------------------------------------------------------


@given(case=attack_cases())
def test_t_star_flips_the_sign(warm_numba, case):
    """At t* the output reaches 0 or, just past t*, its sign differs from sign f(x); just before
    t* it does not. (f(x) = 0 exactly: t* = 0 and x(0) = x, where f is 0.)

    Also checks eta*: x - sign(f) eta* grad f(x) is the same point as x(t*).
    """
    net, X = case
    for path in ("numba", "reference"):
        res = first_sign_flip(net, X, path=path)
        for i, x in enumerate(X):
            t = res.t_star[i]
            if not np.isfinite(t):
                continue
            sgn, u, points = ray(net, x)
            f_at, f_after = f_accurate(net, points([t, t * (1 + REL_T)]))
            tol = zero_tolerance(net, x, sgn, u, t)
            assert abs(f_at) <= tol or np.sign(f_after) != sgn, (
                f"{path}: t* = {t!r} but f(x(t*)) = {f_at!r} (zero tolerance {tol:.3g}) and "
                f"f(x(t*(1+1e-9))) = {f_after!r}, while sign f(x) = {sgn}"
            )
            if res.zero_output[i]:  # no attack direction: eta* is undefined
                continue
            if t > 0:
                before = sign_f(net, points(t * (1 - REL_T)))[0]
                assert before == sgn, f"{path}: sign already changed before t* = {t!r}"
            # eta*: delta = -sign(f) eta* grad f is the step to x(t*) (|delta| = t*).
            grad = output_and_gradient(net, x[None], path=path).grad[0]
            x_eta = x - sgn * res.eta_star[i] * grad
            np.testing.assert_allclose(
                x_eta, points(t)[0], rtol=0, atol=1e-12 * (np.linalg.norm(x) + t)
            )


@given(case=attack_cases(activations=("relu",)))
def test_no_earlier_flip_relu(warm_numba, case):
    """relu: f(x(t)) is piecewise linear in t with breakpoints t_s, so its sign on (0, t*) is
    constant iff it is constant at every breakpoint in (0, t*) and on a grid; check 200 grid
    points and every breakpoint and its two neighbours t_s (1 +- 1e-9) that lie before t*.
    For t* = +inf the same holds on (0, 2 t_max + ||x||] and the last piece must not descend."""
    net, X = case
    res = first_sign_flip(net, X)
    for i, x in enumerate(X):
        if res.zero_output[i]:
            continue
        sgn, u, points = ray(net, x)
        bps = relu_breakpoints(net, x, sgn, u)
        t_star = res.t_star[i]
        if np.isfinite(t_star):
            end = t_star
        else:
            end = 2 * (bps[-1] if bps.size else 0.0) + np.linalg.norm(x)
        grid = np.linspace(0.0, end, 202)[1:-1]
        near = np.concatenate([bps, bps * (1 - REL_T), bps * (1 + REL_T)])
        limit = end * (1 - 100 * REL_T) if np.isfinite(t_star) else end
        ts = np.concatenate([grid, near[(near > 0) & (near < limit)]])
        bad = ts[flipped(net, x, sgn, u, points, ts)]
        assert bad.size == 0, f"sign changed at t = {bad[:5]} before t* = {t_star!r}"
        if not np.isfinite(t_star):
            assert not np.any(flipped(net, x, sgn, u, points, [4 * end, 1e3 * end]))


@given(case=attack_cases(activations=("relu",)))
def test_relu_t_star_equals_linear_prediction_on_first_piece(warm_numba, case):
    """Along the ray sign(f) f(x(t)) = |f| - t ||grad f|| until the first breakpoint, so
    t* = s_lin = |f| / ||grad f|| whenever s_lin comes before every breakpoint."""
    net, X = case
    res = first_sign_flip(net, X)
    for i, x in enumerate(X):
        if res.zero_output[i]:
            continue
        sgn, u, _ = ray(net, x)
        bps = relu_breakpoints(net, x, sgn, u)
        s_lin = res.s_lin[i]
        if bps.size == 0 or s_lin < bps[0] * (1 - 1e-6):
            np.testing.assert_allclose(res.t_star[i], s_lin, rtol=REL_T)


@given(case=attack_cases(activations=SMOOTH))
def test_no_earlier_flip_smooth(warm_numba, case):
    """Smooth sigma: the kernel brackets on t_j = j h, h = max(s_lin / 32, 1e-4 ||x||), up to
    4 ||x||. Check a grid of spacing h/2 on (0, t*) (or (0, 4||x||] when t* = inf).

    Documented limitation (theorycheck.attack): a double crossing narrower than h can be missed.
    A grid point of the wrong sign is therefore accepted only when it lies strictly inside a
    bracketing step ((j-1) h, j h) whose two ends have the right sign -- such a step is exactly
    one the kernel is documented not to look into. Every kernel grid point before t* must have
    the right sign (otherwise the kernel skipped a bracket it did look at)."""
    net, X = case
    res = first_sign_flip(net, X)
    for i, x in enumerate(X):
        if res.zero_output[i]:
            continue
        xnorm = np.linalg.norm(x)
        h = max(res.s_lin[i] / SMOOTH_GRID_DIVISIONS, 1e-4 * xnorm)
        t_star = res.t_star[i]
        t_max = SMOOTH_T_MAX * xnorm
        end = t_star if np.isfinite(t_star) else t_max
        n_steps = math.floor(end / h)
        sgn, u, points = ray(net, x)
        knots = h * np.arange(1, n_steps + 1)
        if np.isfinite(t_star):
            knots = knots[knots < t_star * (1 - 100 * REL_T)]
        if knots.size:
            assert not np.any(flipped(net, x, sgn, u, points, knots)), (
                f"a bracketing point before t* = {t_star!r} already has the new sign"
            )
        fine = np.arange(1, 2 * n_steps + 3) * (h / 2)
        fine = fine[fine < end * (1 - 100 * REL_T)]
        if not fine.size:
            continue
        for t in fine[flipped(net, x, sgn, u, points, fine)]:
            # t lies in the step ((j-1) h, j h); its ends, where they come before t*, must have
            # been seen with the right sign (t = 0 is x itself).
            j = math.ceil(t / h)
            assert t < j * h, f"sign changed at the bracketing point t = {t!r} < t* = {t_star!r}"
            step_ends = [e for e in ((j - 1) * h, j * h) if 0 < e < end]
            if step_ends:
                assert not np.any(flipped(net, x, sgn, u, points, step_ends)), (
                    f"sign changed at t = {t!r} < t* = {t_star!r} outside a narrow double crossing"
                )


# -- SingleStep fields ----------------------------------------------------------------------------


@given(case=attack_cases())
def test_single_step_fields_follow_their_definitions(warm_numba, case):
    net, X = case
    for path in ("numba", "reference"):
        res = first_sign_flip(net, X, path=path)
        fw = output_and_gradient(net, X, path=path)
        assert np.array_equal(res.f, fw.f)
        assert np.array_equal(res.grad_norm, fw.grad_norm)
        with np.errstate(divide="ignore", invalid="ignore"):
            assert np.array_equal(res.s_lin, np.abs(fw.f) / fw.grad_norm, equal_nan=True)
            assert np.array_equal(res.eta_star, res.t_star / fw.grad_norm, equal_nan=True)
        # Documented in SingleStep: zero_output means f(x) == 0 exactly, and then t* = 0.
        assert np.array_equal(res.zero_output, fw.f == 0.0)
        assert np.all(res.t_star[res.zero_output] == 0.0)


def test_zero_output_is_flagged_with_t_star_zero(warm_numba):
    """relu, no biases, every neuron inactive: f(x) = 0 exactly (probability 2^-m at init)."""
    spec = NetworkSpec(d=2, m=3)
    x = np.array([[1.0, 0.0]])
    W = np.array([[-1.0, 0.3], [-0.5, -2.0], [0.0, 1.0]])  # z = (-1, -0.5, 0): all inactive
    net = Network(spec, np.array([1.0, -1.0, 1.0]), W, np.zeros(3), 0.0)
    for path in ("numba", "reference"):
        res = first_sign_flip(net, x, path=path)
        assert res.f[0] == 0.0 and res.zero_output[0] and res.t_star[0] == 0.0


def test_zero_gradient_with_nonzero_output_never_flips(warm_numba):
    """relu with biases, every neuron inactive, output bias c != 0: f(x) = c and grad f(x) = 0.

    The ray x(t) = x - sign(f) t u does not move, sign f(x(t)) = sign c for every t, so by the
    definition (docs/theory.md Sec. 3: first t > 0 with a sign change, +inf when it never flips) t*
    is
    +inf; and SingleStep.zero_output is documented as "f(x) == 0 exactly".
    """
    spec = NetworkSpec(d=2, m=2, biases=True)
    net = Network(spec, np.array([1.0, -1.0]), np.array([[1.0, 0.0], [0.0, 1.0]]),
                  np.array([-5.0, -5.0]), 0.7)  # fmt: skip
    x = np.array([[0.6, 0.8]])
    for path in ("numba", "reference"):
        res = first_sign_flip(net, x, path=path)
        assert res.f[0] == 0.7 and res.grad_norm[0] == 0.0
        assert not res.zero_output[0], "zero_output is documented as f(x) == 0 exactly"
        assert res.t_star[0] == math.inf, (
            f"{path}: t* = {res.t_star[0]} for an input that never flips"
        )


def test_t_star_known_value_single_neuron(warm_numba):
    """m = 1 relu, no biases, z = <w, x> > 0: f = z, grad f = w, so the ray reaches the kink of the
    only neuron at t = z / ||w|| = s_lin, where f = 0: t* = s_lin exactly."""
    spec = NetworkSpec(d=3, m=1)
    w = np.array([[0.5, -1.0, 2.0]])
    net = Network(spec, np.array([1.0]), w, np.zeros(1), 0.0)
    x = np.array([[0.2, -0.4, 0.9]])
    z = float(w[0] @ x[0])
    for path in ("numba", "reference"):
        res = first_sign_flip(net, x, path=path)
        np.testing.assert_allclose(res.t_star[0], z / np.linalg.norm(w), rtol=1e-14)
        np.testing.assert_allclose(res.eta_star[0], z / np.linalg.norm(w) ** 2, rtol=1e-14)


def test_gelu_left_tail_is_not_a_sign_flip(warm_numba):
    """gelu(t) = t Phi(t) < 0 for every t < 0. One neuron, a > 0, w < 0, x = 1: f < 0 and the
    ray x(t) = 1 + t drives the pre-activation w (1 + t) to -infinity, where f -> 0 from below
    without ever reaching it (|f| >= 1e-300 up to t = 4 ||x||): t* = +inf (docs/theory.md Sec.
    3)."""
    spec = NetworkSpec(d=1, m=1, activation="gelu", output_weights="gaussian")
    net = Network(spec, np.array([0.25]), np.array([[-2.0]]), np.zeros(1), 0.0)
    x = np.array([[1.0]])
    sgn, u, points = ray(net, x[0])
    assert sgn == -1.0 and u[0] == 1.0
    ts = np.linspace(0.0, SMOOTH_T_MAX, 4001)
    assert np.all(f_accurate(net, points(ts)) < 0)  # the exact output never reaches 0
    for path in ("numba", "reference"):
        res = first_sign_flip(net, x, path=path)
        assert res.t_star[0] == math.inf, f"{path}: reports a sign flip at t* = {res.t_star[0]}"


@pytest.mark.parametrize(("seed", "next_breakpoint"), [(3, 3.1457247269891684), (7, math.inf)])
def test_relu_output_vanishing_on_an_interval_is_a_flip(warm_numba, seed, next_breakpoint):
    """relu, no biases, one active neuron (probability m 2^-m at init): the ray switches that
    neuron off at t = s_lin = |f| / ||grad f||, after which every neuron is inactive and
    f(x(t)) = 0 exactly until the next breakpoint. Reaching 0 counts (docs/theory.md Sec. 3), so
    t* = s_lin. Regression test: with these seeds the numba (3) and the reference (7) walk used
    to miss the flip, depending on how the running value rounded at the breakpoint."""
    spec = NetworkSpec(d=3, m=3)
    rng = generator(seed, "repro")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 1, rng)
    assert np.count_nonzero(net.W @ X[0] > 0) == 1
    _, _, points = ray(net, X[0])
    s_lin = float(first_sign_flip(net, X, path="reference").s_lin[0])
    end = min(next_breakpoint, 10 * s_lin)
    ts = np.linspace(s_lin * (1 + 1e-9), end * (1 - 1e-9), 50)
    assert np.all(f_accurate(net, points(ts)) == 0.0)  # f is exactly 0 on (s_lin, end)
    for path in ("numba", "reference"):
        t_star = first_sign_flip(net, X, path=path).t_star[0]
        assert abs(t_star - s_lin) <= 1e-9 * s_lin, f"{path}: t* = {t_star!r}, s_lin = {s_lin!r}"
