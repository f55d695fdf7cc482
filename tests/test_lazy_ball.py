"""The lazy ball B_{2,inf}(W0, R): projection, perturbations, flippable neurons, worst output.

docs/theory.md Sec. 2 and 3; docs/derivations/worst_output.md. Tolerances: a row deviation
recomputed
from a stored W carries the rounding of forming W0 + D and of subtracting W0 again, at most a few
eps * ||w_s|| on top of a relative few eps of R; we allow R (1 + 1e-12) + 4 eps ||w_s||. Values of
f are compared to 1e-10 of their absolute scale (see tests/test_kernels.py for the derivation).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theorycheck.activations import ACTIVATIONS
from theorycheck.forward import output_and_gradient
from theorycheck.lazy_ball import (
    flippable_neurons,
    lazy_ball_project,
    lazy_radius,
    perturb,
    realised_flips,
    worst_output,
)
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator
from theorycheck.stats import ks_test

EPS = float(np.finfo(np.float64).eps)
RTOL = 1e-10
SIGMA_FLOOR = {"gelu": 1.0}  # see tests/test_kernels.py: absolute-error floors of sigma, sigma'
DSIGMA_FLOOR = {"gelu": 1.0, "tanh": 1.0}


@st.composite
def lazy_cases(draw, activations=tuple(ACTIVATIONS), init=False):
    """(net, X, C0, R, rng). ``init``: relu-at-init setting of docs/theory.md Sec. 2 (wang, ||x|| =
    1,
    a = +-1, no biases); otherwise any scaling, output weights, biases, inputs off the sphere."""
    d = draw(st.integers(1, 30))
    m = draw(st.integers(1, 200))
    n = draw(st.integers(1, 4))
    if init:
        spec = NetworkSpec(d=d, m=m, activation=draw(st.sampled_from(activations)))
    else:
        spec = NetworkSpec(
            d=d,
            m=m,
            activation=draw(st.sampled_from(activations)),
            scaling=draw(st.sampled_from(("wang", "bubeck"))),
            output_weights=draw(st.sampled_from(("sign", "gaussian"))),
            biases=draw(st.booleans()),
        )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_lazy_ball")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, n, rng)
    if not init:
        X = X * draw(st.floats(0.1, 10.0))
    C0 = draw(st.sampled_from((0.0, 0.1, 1.0, 3.0, 10.0, 40.0)) | st.floats(0.0, 50.0))
    return net, X, C0, lazy_radius(spec, C0), rng


def row_deviation(W, W0):
    return np.linalg.norm(W - W0, axis=1)


def assert_in_ball(W, W0, R, slack=0.0):
    dev = row_deviation(W, W0)
    tol = R * (1 + 1e-12) + 4 * EPS * np.linalg.norm(W, axis=1) + slack
    assert np.all(dev <= tol), f"row deviation {dev.max()!r} > R = {R!r}"


def argmax_slack(net, x):
    """Rounding slack of a worst-output maximiser's row deviation |t_s - z_s| / ||x||.

    t_s comes from the kernel's pre-activation and z_s is recomputed by argmax_weights; each
    carries an error <= gamma_{d+1} (|b_s| + sum_k |W_sk x_k|).
    """
    d = net.spec.d
    zabs = np.abs(net.W) @ np.abs(x) + np.abs(net.b)
    return 2 * (d + 2) * EPS * zabs / np.linalg.norm(x)


def f_at(net, W, X, path="reference"):
    return output_and_gradient(net.with_weights(W), X, path=path).f


def f_scale(net, W, X):
    """Absolute scale of f(x; W) (tests/test_kernels.py docstring)."""
    act = net.spec.act
    Z = X @ W.T + net.b
    Zabs = np.abs(X) @ np.abs(W).T + np.abs(net.b)
    terms = (
        np.abs(act.sigma(Z))
        + SIGMA_FLOOR.get(act.name, 0.0) * np.abs(Z)
        + (np.abs(act.dsigma(Z)) + DSIGMA_FLOOR.get(act.name, 0.0)) * Zabs
    )
    return terms @ np.abs(net.a) / math.sqrt(net.spec.m) + abs(net.c)


def worst_scale(net, X, res, R):
    """Scale of sup/inf: per neuron |sigma(t)| + (|sigma'(t)| + floor)(|z|abs + r + |t|)."""
    act = net.spec.act
    r = R * np.linalg.norm(X, axis=1)[:, None]
    Zabs = np.abs(X) @ np.abs(net.W).T + np.abs(net.b)
    out = 0.0
    for T in (res.t_sup, res.t_inf):
        terms = (
            np.abs(act.sigma(T))
            + SIGMA_FLOOR.get(act.name, 0.0) * np.abs(T)
            + (np.abs(act.dsigma(T)) + DSIGMA_FLOOR.get(act.name, 0.0)) * (Zabs + r + np.abs(T))
        )
        out = out + terms @ np.abs(net.a) / math.sqrt(net.spec.m)
    return out + abs(net.c)


# -- projection ---------------------------------------------------------------------------------


@st.composite
def projection_cases(draw):
    m = draw(st.integers(1, 200))
    d = draw(st.integers(1, 30))
    R = draw(st.sampled_from((0.0, 1e-3, 0.5, 1.0)) | st.floats(0.0, 100.0))
    rng = generator(draw(st.integers(0, 2**32 - 1)), "projection")
    W0 = rng.standard_normal((m, d)) * draw(st.sampled_from((1.0, 0.1, 10.0)))
    G = rng.standard_normal((m, d))
    G /= np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
    # Row deviations inside, on, just outside and far outside the ball, and zero rows.
    factors = rng.choice(np.array([0.0, 0.3, 1 - 1e-9, 1.0, 1 + 1e-9, 2.0, 1e3]), size=m)
    W = W0 + G * (R * factors)[:, None]
    if draw(st.booleans()):  # also an arbitrary W, unrelated to W0
        W = W + rng.standard_normal((m, d)) * draw(st.floats(0.0, 50.0))
    return W, W0, R


@given(case=projection_cases())
def test_projection_lands_in_ball_and_is_idempotent(warm_numba, case):
    W, W0, R = case
    for path in ("numba", "reference"):
        P = lazy_ball_project(W, W0, R, path=path)
        assert P.shape == W.shape
        assert_in_ball(P, W0, R)
        P2 = lazy_ball_project(P, W0, R, path=path)
        # A second projection rescales a row by at most 1 - O(eps ||w|| / R): elementwise change
        # <= 4 eps (||p_s|| + R).
        tol = 4 * EPS * (np.linalg.norm(P, axis=1) + R)[:, None]
        assert np.all(np.abs(P2 - P) <= tol)


@given(case=projection_cases())
def test_projection_clips_radially(warm_numba, case):
    """Rows outside keep their direction and land on the sphere of radius R; rows inside stay."""
    W, W0, R = case
    P = lazy_ball_project(W, W0, R)
    D, DP = W - W0, P - W0
    dev, devP = np.linalg.norm(D, axis=1), np.linalg.norm(DP, axis=1)
    tol = 8 * EPS * (np.linalg.norm(W, axis=1) + np.linalg.norm(W0, axis=1) + R)
    outside = dev > R + tol
    assert np.all(np.abs(devP[outside] - R) <= tol[outside])
    # Same direction: DP = (R / ||D||) D.
    expected = D[outside] * (R / dev[outside])[:, None]
    assert np.all(np.abs(DP[outside] - expected) <= tol[outside, None])


@given(case=projection_cases(), shrink=st.floats(0.0, 1 - 1e-9))
def test_projection_leaves_points_inside_unchanged(warm_numba, case, shrink):
    W, W0, R = case
    D = W - W0
    dev = np.linalg.norm(D, axis=1, keepdims=True)
    inside = W0 + np.where(dev > 0, D * (shrink * R / np.where(dev > 0, dev, 1.0)), 0.0)
    for path in ("numba", "reference"):
        P = lazy_ball_project(inside, W0, R, path=path)
        # W0 + (W - W0) reproduces W up to two roundings: <= 2 eps (|w| + |w0|) elementwise.
        assert np.all(np.abs(P - inside) <= 2 * EPS * (np.abs(inside) + np.abs(W0)))
    assert np.array_equal(lazy_ball_project(W0, W0, R), W0)


@given(case=projection_cases())
def test_projection_numba_matches_reference(warm_numba, case):
    W, W0, R = case
    fast = lazy_ball_project(W, W0, R, path="numba")
    ref = lazy_ball_project(W, W0, R, path="reference")
    tol = RTOL * (R + np.abs(W0) + np.abs(ref))
    assert np.all(np.abs(fast - ref) <= tol)


# -- random perturbations -----------------------------------------------------------------------


@given(case=lazy_cases(), seed=st.integers(0, 2**32 - 1))
def test_perturb_lies_in_ball_and_paths_agree(warm_numba, case, seed):
    net, _, _, R, _ = case
    for kind in ("random-sphere", "random-ball"):
        fast = perturb(net, R, kind, generator(seed, kind), path="numba")
        ref = perturb(net, R, kind, generator(seed, kind), path="reference")
        assert fast.shape == net.W.shape
        assert np.all(np.abs(fast - ref) <= RTOL * (R + np.abs(net.W) + np.abs(ref)))
        for W in (fast, ref):
            norms_W = np.linalg.norm(W, axis=1)
            dev = row_deviation(W, net.W)
            slack = 1e-12 * R + 4 * EPS * norms_W
            if kind == "random-sphere":
                assert np.all(np.abs(dev - R) <= slack), "random-sphere rows must move by exactly R"
            else:
                assert np.all(dev <= R + slack)


def test_random_ball_radius_law(warm_numba):
    """random-ball: a uniform point of the d-ball has (||dev|| / R)^d ~ U(0, 1).

    Fixed seed; KS against U(0,1) rejects a correct sampler with probability 1e-7 (threshold).
    Power: a sampler using radius R U^{1/(d+1)} (wrong exponent) is rejected at the same threshold
    on the same number of rows (companion assertion below).
    """
    d, m, R = 3, 20_000, 0.7
    net = sample_network(NetworkSpec(d=d, m=m), generator(11, "ball-law"))
    W = perturb(net, R, "random-ball", generator(12, "ball-law"))
    u = (row_deviation(W, net.W) / R) ** d
    assert ks_test(u, lambda t: np.clip(t, 0.0, 1.0)) > 1e-7
    wrong = (row_deviation(W, net.W) / R) ** (d / (d + 1))  # as if radius were R U^{1/(d+1)}
    assert ks_test(wrong**d, lambda t: np.clip(t, 0.0, 1.0)) < 1e-7


# -- flippable neurons and realised flips ---------------------------------------------------------


@given(case=lazy_cases())
def test_flippable_numba_matches_reference(warm_numba, case):
    net, X, _, R, _ = case
    fast = flippable_neurons(net, X, R, path="numba")
    ref = flippable_neurons(net, X, R, path="reference")
    assert fast.dtype == np.int64 and fast.shape == (len(X),)
    assert np.array_equal(fast, ref)
    assert np.all((0 <= ref) & (ref <= net.spec.m))


def _ball_points(net, X, R, rng):
    """Points of the ball: random-sphere, random-ball, projections, worst-output maximisers."""
    pts = [perturb(net, R, "random-sphere", rng), perturb(net, R, "random-ball", rng)]
    for spread in (0.1, 10.0):
        arbitrary = net.W + spread * (R + 1e-3) * rng.standard_normal(net.W.shape)
        pts.append(lazy_ball_project(arbitrary, net.W, R))
    res = worst_output(net, X, R)
    pts_per_input = [res.argmax_weights(net, X, "sup"), res.argmax_weights(net, X, "inf")]
    return pts, pts_per_input


@given(case=lazy_cases())
def test_realised_flips_never_exceed_flippable(warm_numba, case):
    net, X, _, R, rng = case
    S = flippable_neurons(net, X, R)
    common, per_input = _ball_points(net, X, R, rng)
    for W in common:
        assert_in_ball(W, net.W, R)
        fast = realised_flips(net, W, X, path="numba")
        assert np.array_equal(fast, realised_flips(net, W, X, path="reference"))
        assert np.all(fast <= S)
    for Ws in per_input:
        for i, W in enumerate(Ws):
            assert_in_ball(W, net.W, R, argmax_slack(net, X[i]))
            assert realised_flips(net, W, X[i : i + 1])[0] <= S[i]


@given(case=lazy_cases())
def test_flippable_set_is_attained(warm_numba, case):
    """Lemma 4.3's S_R(x) is exactly the flippable set: moving every row by R along -+x/||x||
    (towards the kink) flips every neuron of S_R(x) at once, so realised == flippable."""
    net, X, _, R, _ = case
    for x in X:
        z = net.W @ x + net.b
        direction = np.where(z > 0, -1.0, 1.0)
        W = net.W + R * np.outer(direction, x / np.linalg.norm(x))
        assert_in_ball(W, net.W, R)
        assert np.array_equal(realised_flips(net, W, x), flippable_neurons(net, x, R))


# -- worst output -------------------------------------------------------------------------------


@given(case=lazy_cases())
def test_worst_output_numba_matches_reference(warm_numba, case):
    net, X, _, R, _ = case
    fast = worst_output(net, X, R, path="numba")
    ref = worst_output(net, X, R, path="reference")
    scale = worst_scale(net, X, ref, R)
    assert np.all(np.abs(fast.sup - ref.sup) <= RTOL * scale)
    assert np.all(np.abs(fast.inf - ref.inf) <= RTOL * scale)
    # The maximiser need not be unique (relu below its kink, tanh saturated to +-1, ties between
    # gelu's endpoints): compare what each path's pre-activations achieve, neuron by neuron, and
    # check that they are feasible (in [z_s - r, z_s + r] up to rounding).
    act = net.spec.act
    r = R * np.linalg.norm(X, axis=1)[:, None]
    Z = X @ net.W.T + net.b
    t_scale = np.abs(X) @ np.abs(net.W).T + np.abs(net.b) + r
    for T_fast, T_ref in ((fast.t_sup, ref.t_sup), (fast.t_inf, ref.t_inf)):
        for T in (T_fast, T_ref):
            assert np.all(np.abs(T - Z) <= r + RTOL * t_scale)
        neuron_scale = np.abs(net.a) * (
            np.abs(act.sigma(T_ref))
            + SIGMA_FLOOR.get(act.name, 0.0) * np.abs(T_ref)
            + (np.abs(act.dsigma(T_ref)) + DSIGMA_FLOOR.get(act.name, 0.0))
            * (t_scale + np.abs(T_ref))
        )
        gain = net.a * (act.sigma(T_fast) - act.sigma(T_ref))
        assert np.all(np.abs(gain) <= RTOL * neuron_scale)


@given(case=lazy_cases())
def test_worst_output_matches_closed_forms(warm_numba, case):
    """docs/derivations/worst_output.md Sec. 2-3, written independently of the implementation."""
    net, X, _, R, _ = case
    act = net.spec.act
    res = worst_output(net, X, R)
    a = net.a
    for i, x in enumerate(X):
        z = net.W @ x + net.b
        r = R * np.linalg.norm(x)
        lo, hi = z - r, z + r
        if act.monotone:
            sup_terms = a * act.sigma(z + np.sign(a) * r)
            inf_terms = a * act.sigma(z - np.sign(a) * r)
        elif act.name == "quadratic":
            big, small = (np.abs(z) + r) ** 2, np.maximum(np.abs(z) - r, 0.0) ** 2
            sup_terms = np.where(a > 0, a * big, a * small)
            inf_terms = np.where(a > 0, a * small, a * big)
        else:  # gelu: decreasing up to t_c, increasing after
            (tc,) = act.critical_points
            edge_max = np.maximum(act.sigma(lo), act.sigma(hi))
            nearest = np.where(hi < tc, hi, lo)
            edge_min = np.where((lo < tc) & (tc < hi), act.sigma(tc), act.sigma(nearest))
            sup_terms = np.where(a > 0, a * edge_max, a * edge_min)
            inf_terms = np.where(a > 0, a * edge_min, a * edge_max)
        scale = worst_scale(net, X, res, R)[i]
        m = net.spec.m
        assert abs(res.sup[i] - (sup_terms.sum() / math.sqrt(m) + net.c)) <= RTOL * scale
        assert abs(res.inf[i] - (inf_terms.sum() / math.sqrt(m) + net.c)) <= RTOL * scale


@given(case=lazy_cases())
def test_worst_output_bounds_every_point_of_the_ball(warm_numba, case):
    """inf <= f(x; W) <= sup for random points of the ball; the maximisers attain sup and inf."""
    net, X, _, R, rng = case
    res = worst_output(net, X, R)
    scale = worst_scale(net, X, res, R)
    assert np.all(res.inf <= res.sup + RTOL * scale)
    common, (W_sup, W_inf) = _ball_points(net, X, R, rng)
    for W in common:
        f = f_at(net, W, X)
        tol = RTOL * (scale + f_scale(net, W, X))
        assert np.all(f <= res.sup + tol) and np.all(f >= res.inf - tol)
    f0 = output_and_gradient(net, X).f
    assert np.all(f0 <= res.sup + RTOL * scale) and np.all(f0 >= res.inf - RTOL * scale)
    for i in range(len(X)):
        xi = X[i : i + 1]
        for W, target in ((W_sup[i], res.sup[i]), (W_inf[i], res.inf[i])):
            assert_in_ball(W, net.W, R, argmax_slack(net, X[i]))
            tol = RTOL * (scale[i] + f_scale(net, W, xi)[0])
            assert abs(f_at(net, W, xi, path="numba")[0] - target) <= tol


@given(case=lazy_cases(activations=("relu",), init=True))
def test_relu_at_init_output_moves_at_most_C0(warm_numba, case):
    """docs/theory.md Sec. 2: R = C0/sqrt(m), wang, ||x|| = 1, a = +-1, no biases: relu is
    1-Lipschitz
    and each pre-activation moves by at most R, so |f(x;W) - f(x;W0)| <= m^{-1/2} m R = C0 for
    every W in the ball, and 0 <= sup - inf <= 2 C0 (deterministically)."""
    net, X, C0, R, rng = case
    assert R == pytest.approx(C0 / math.sqrt(net.spec.m), rel=1e-15)
    f0 = output_and_gradient(net, X).f
    res = worst_output(net, X, R)
    scale = worst_scale(net, X, res, R)
    gap = res.sup - res.inf
    assert np.all(gap >= -RTOL * scale) and np.all(gap <= 2 * C0 + RTOL * scale)
    assert np.all(np.abs(res.sup - f0) <= C0 + RTOL * scale)
    assert np.all(np.abs(res.inf - f0) <= C0 + RTOL * scale)
    common, _ = _ball_points(net, X, R, rng)
    for W in common:
        f = f_at(net, W, X)
        assert np.all(np.abs(f - f0) <= C0 + RTOL * (scale + f_scale(net, W, X)))


def test_worst_output_sup_attained_by_W0_plus_R_a_xT_for_monotone(warm_numba):
    """docs/theory.md Sec. 2: for monotone sigma and a = +-1, W0 + R a x^T/||x|| attains the sup."""
    spec = NetworkSpec(d=5, m=50, activation="softplus")
    rng = generator(5, "monotone-argmax")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0] * 2.5
    R = 0.3
    res = worst_output(net, x, R)
    u = x / np.linalg.norm(x)
    for W, target in ((net.W + R * np.outer(net.a, u), res.sup[0]),
                      (net.W - R * np.outer(net.a, u), res.inf[0])):  # fmt: skip
        scale = f_scale(net, W, x[None])[0]
        assert abs(f_at(net, W, x[None])[0] - target) <= RTOL * scale


def test_worst_output_uses_the_network_bias_terms(warm_numba):
    """With hidden biases b and output bias c, sup/inf shift exactly as the closed form says."""
    spec = NetworkSpec(d=3, m=40, activation="relu", biases=True)
    rng = generator(21, "biases")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 3, rng)
    R = 0.2
    res = worst_output(net, X, R)
    no_c = worst_output(Network(spec, net.a, net.W, net.b, 0.0), X, R)
    np.testing.assert_allclose(res.sup - no_c.sup, net.c, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.inf - no_c.inf, net.c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", ["reference", "numba"])
def test_worst_output_maximiser_is_w0_plus_r_a_x_even_on_ties(path):
    """docs/theory.md Sec. 2 item 2: W* = W0 + R a x^T/||x|| (sup) and W0 - R a x^T/||x|| (inf),
    also
    for rows whose relu is 0 on the whole interval (a tie: any point is a maximiser, but the
    single-step ray from W* depends on which one is taken)."""
    from theorycheck.network import Network, NetworkSpec

    a = np.array([1.0, 1.0, -1.0, -1.0])
    W = np.array([[1.0, 0.3], [-1.0, 0.2], [0.8, -0.1], [-2.0, 0.5]])  # rows 1, 3: dead
    net = Network(NetworkSpec(d=2, m=4), a, W, np.zeros(4), 0.0)
    x = np.array([[1.0, 0.0]])
    wo = worst_output(net, x, 0.5, path=path)
    np.testing.assert_allclose(wo.argmax_weights(net, x, "sup")[0], W + 0.5 * np.outer(a, x[0]))
    np.testing.assert_allclose(wo.argmax_weights(net, x, "inf")[0], W - 0.5 * np.outer(a, x[0]))
