"""Certified gradient lower bounds over the lazy ball and certified flip radii (relu).

theorycheck/certify.py; docs/derivations/certificates.md. Every check here is deterministic: a
certificate is a proven bound, so one sampled W of the ball with a smaller ||grad f||, or one
sampled delta inside the certified radius that flips sign f, is a bug. Brute force: dense grids
(d = 2), many random points of the ball and its boundary, the gradient-shrinking search and the
attacks (whose outputs are verified points). No test is statistical: a correct implementation
fails none of them with any seed (failure probability 0), so the 1e-6 rule holds trivially.

Tolerances. f and ||grad f|| recomputed through theorycheck.forward differ from the module's own
sums by rounding, far below 1e-9 of the scale S = ||grad f|| + |f| + 1 at these sizes (d, m <= 60;
tests/test_kernels.py), and the certificates carry a 1e-9 relative margin
(certify.CERT_MARGIN): comparisons allow TOL * S with TOL = 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theorycheck.certify as certify_module
from theorycheck.attack import first_sign_flip
from theorycheck.certify import (
    DEFAULT_ROUTES,
    RADIUS_ROUTES,
    certified_at,
    certified_radius,
    directional_infimum,
    gradient_norm_lower_bound,
    robust_error_upper,
)
from theorycheck.errors import UserInputError
from theorycheck.forward import output_and_gradient
from theorycheck.lazy_ball import lazy_radius, perturb
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.perturbations import gradient_shrinking, robustifying
from theorycheck.pgd import min_flip_radius_pgd, pgd_attack
from theorycheck.seeding import generator

TOL = 1e-9


def _net(d, m, seed, biases=False, output_weights="sign", C0=None):
    spec = NetworkSpec(d=d, m=m, biases=biases, output_weights=output_weights)
    rng = generator(seed, "test_certify")
    return sample_network(spec, rng), rng


def _ball_points(net: Network, x, R, rng, n):
    """n points of B_{2,inf}(W0, R): uniform in the ball, on its boundary, and the adversarial
    corners W0 +- R a x^T/||x|| and rows moved along +-x only (where flips happen)."""
    m, d = net.W.shape
    out = []
    xh = x / np.linalg.norm(x)
    for j in range(n):
        G = rng.standard_normal((m, d))
        G /= np.linalg.norm(G, axis=1, keepdims=True)
        if j % 3 == 0:
            radii = R * rng.random(m) ** (1.0 / d)
        elif j % 3 == 1:
            radii = np.full(m, R)
        else:  # radial moves with random signs and lengths: every reachable pattern
            G = np.sign(rng.standard_normal(m))[:, None] * xh
            radii = R * rng.random(m)
        out.append(net.W + G * radii[:, None])
    return out


def _grad_norm(net, W, x):
    return float(output_and_gradient(net.with_weights(W), x, path="reference").grad_norm[0])


# ---------------------------------------------------------------------------------------------
# 1. gradient lower bound over the ball
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_directional_infimum_equals_a_dense_grid_minimum_per_neuron(seed):
    """m = 1, d = 2: the per-neuron infimum is exact. A 401 x 401 grid of the disc
    ||w - w0|| <= R never goes below it (soundness) and comes within the grid's reach of it
    (exactness): the objective a 1[active] <w, v> is 1-Lipschitz on each side of the kink, the
    grid spacing is 2R/400, and the infimum is approached from the active side or is 0, so the
    grid's minimum lies within sqrt(2) * 2R/400 * |a| of it."""
    rng = generator(seed, "grid")
    spec = NetworkSpec(d=2, m=1, biases=bool(seed % 2), output_weights="gaussian")
    net = sample_network(spec, rng)
    x = rng.standard_normal(2) * (0.5 + rng.random())
    v = rng.standard_normal(2)
    v /= np.linalg.norm(v)
    R = float(abs(net.W[0] @ x + net.b[0]) / np.linalg.norm(x)) * (0.5 + rng.random())
    exact = float(directional_infimum(net, x, v, R)[0])
    u = np.linspace(-R, R, 401)
    D = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2)
    D = D[np.linalg.norm(D, axis=1) <= R]
    Wg = net.W[0] + D
    vals = net.a[0] * ((Wg @ x + net.b[0]) > 0.0) * (Wg @ v)
    grid_min = float(vals.min())
    assert grid_min >= exact - TOL * (1.0 + abs(exact))
    assert grid_min <= exact + math.sqrt(2) * 2 * R / 400 * abs(net.a[0]) + 1e-12


@st.composite
def tiny_cases(draw):
    spec = NetworkSpec(
        d=draw(st.integers(1, 3)),
        m=draw(st.integers(1, 8)),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.booleans()),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_certify.tiny")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0] * draw(st.floats(0.3, 3.0))
    R = draw(st.floats(0.0, 2.0))
    return net, x, R, rng


@settings(max_examples=60, deadline=None)
@given(tiny_cases())
def test_gradient_lower_bound_is_below_every_sampled_and_searched_point(case):
    """Soundness: the certificate is <= ||grad f(x; W)|| for 300 points of the ball (interior,
    boundary, radial pattern changes) and for the gradient-shrinking search's W (exact on tiny
    relu networks, docs/derivations/gradient_certificates.md Sec. 8)."""
    net, x, R, rng = case
    cert = gradient_norm_lower_bound(net, x, R, iterations=30)
    lb = float(cert.lower_bound[0])
    assert lb <= cert.hull_norm[0] + TOL * (1.0 + cert.hull_norm[0])
    values = [_grad_norm(net, W, x) for W in _ball_points(net, x, R, rng, 300)]
    search = gradient_shrinking(net, x, R, rng, restarts=3)
    values.append(search.grad_norm)
    scale = 1.0 + float(cert.init_norm[0]) + R * float(np.abs(net.a).sum())
    assert lb <= min(values) + TOL * scale


def test_gradient_lower_bound_equals_the_init_gradient_at_zero_radius():
    """R = 0: the ball is {W0}; the directional bound along g(W0) is ||g(W0)|| exactly."""
    net, rng = _net(30, 200, 1)
    X = sample_inputs(net.spec, 5, rng)
    cert = gradient_norm_lower_bound(net, X, 0.0, iterations=5)
    g0 = output_and_gradient(net, X, path="reference").grad_norm
    np.testing.assert_allclose(cert.lower_bound, g0, rtol=1e-6)
    assert np.all(cert.lower_bound <= g0)


def _always_active_case():
    """A network where every neuron stays active over the ball: the reachable gradients form the
    ball of radius R sum|a|/sqrt(m) around g0, so inf ||g|| = ||g0|| - R sum|a|/sqrt(m), attained
    at W* = W0 - R sign(a) g0^T/||g0|| (docs/derivations/certificates.md Sec. 3)."""
    net, rng = _net(3, 6, 7, output_weights="gaussian")
    x = np.array([1.0, 0.0, 0.0])
    W = net.W.copy()
    W[:, 0] = 2.0 + rng.random(6)  # <w_s, x> >= 2 > R
    a = np.abs(net.a) + 0.5  # same sign: g0 is large
    net = Network(net.spec, a, W, net.b, net.c)
    R = 0.3
    g0 = output_and_gradient(net, x, path="reference").grad[0]
    W_star = W - R * np.outer(np.sign(a), g0 / np.linalg.norm(g0))
    exact = np.linalg.norm(g0) - R * a.sum() / math.sqrt(6)
    return net, x, R, W_star, exact


def test_gradient_lower_bound_is_exact_when_no_neuron_can_flip():
    net, x, R, W_star, exact = _always_active_case()
    cert = float(gradient_norm_lower_bound(net, x, R, iterations=20).lower_bound[0])
    attained = _grad_norm(net, W_star, x)
    assert attained == pytest.approx(exact, rel=1e-12)
    assert cert == pytest.approx(exact, rel=1e-8)


def test_planted_inflated_gradient_bound_is_caught():
    """Inflating the certificate by 1% must be refuted by a point of the ball: here the exact
    minimiser W* of the always-active case (||W* - W0|| rows = R exactly)."""
    net, x, R, W_star, _ = _always_active_case()
    assert np.all(np.linalg.norm(W_star - net.W, axis=1) <= R * (1 + 1e-12))
    cert = float(gradient_norm_lower_bound(net, x, R, iterations=20).lower_bound[0])
    assert cert <= _grad_norm(net, W_star, x)
    assert 1.01 * cert > _grad_norm(net, W_star, x)


def test_gradient_lower_bound_below_search_at_moderate_size():
    """d = 20, m = 200, C0 = 3, a = +-1: certificate <= gradient-shrinking search, per input, and
    the certificate is not vacuous there (>= 0.5 of the search; measured ratio ~0.9)."""
    net, rng = _net(20, 200, 3)
    R = lazy_radius(net.spec, 3.0)
    X = sample_inputs(net.spec, 4, rng)
    cert = gradient_norm_lower_bound(net, X, R)
    for i in range(4):
        s = gradient_shrinking(net, X[i], R, rng).grad_norm
        assert cert.lower_bound[i] <= s + TOL * (1.0 + cert.init_norm[i])
        assert cert.lower_bound[i] >= 0.5 * s


# ---------------------------------------------------------------------------------------------
# 2. certified flip radius
# ---------------------------------------------------------------------------------------------


def _no_flip_inside(net, x, radius, rng, n=4000):
    """y f(x + delta) > 0 at n points with ||delta|| <= radius (uniform in the ball, on its
    sphere, and along +-grad f and +-w_s directions, where flips come first)."""
    d = len(x)
    f0 = float(output_and_gradient(net, x, path="reference").f[0])
    y = np.sign(f0)
    G = rng.standard_normal((n, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    lengths = radius * np.where(np.arange(n) % 2 == 0, rng.random(n) ** (1.0 / d), 1.0)
    dirs = [G]
    g = output_and_gradient(net, x, path="reference").grad[0]
    special = [row / np.linalg.norm(row) for row in (g, *net.W) if np.linalg.norm(row) > 0]
    for u in special:
        dirs.append(np.array([u, -u]))
    D = np.concatenate(dirs)
    L = np.concatenate([lengths, np.full(len(D) - n, radius)])
    vals = y * output_and_gradient(net, x + D * L[:, None], path="reference").f
    return bool(np.all(vals > 0.0))


@settings(max_examples=40, deadline=None)
@given(tiny_cases())
def test_certified_radius_has_no_flip_inside(case):
    """Soundness of every route on tiny networks: no sampled delta inside a route's radius flips
    sign f, and the single-step attack and PGD never flip closer."""
    net, x, _, rng = case
    cert = certified_radius(net, x, routes=RADIUS_ROUTES)
    f0 = float(cert.f[0])
    for route, r in cert.by_route.items():
        assert r[0] <= cert.radius[0]
        if f0 != 0.0 and r[0] > 0.0:
            assert _no_flip_inside(net, x, float(r[0]), rng), route
    r = float(cert.radius[0])
    t_star = float(first_sign_flip(net, x, path="reference").t_star[0])
    assert r <= t_star
    if r > 0.0:
        res = pgd_attack(net, x, r, steps=30, path="reference")
        assert not res.success[0]


@pytest.mark.parametrize("seed", range(4))
def test_certified_radius_against_a_polar_grid_in_two_dimensions(seed):
    """d = 2, m = 8: the exact flip radius is the smallest ||delta|| on the zero set; a polar grid
    (720 angles x 2000 radii up to the certificate) finds no flip inside the certified radius."""
    net, rng = _net(2, 8, 100 + seed, biases=bool(seed % 2), output_weights="gaussian")
    x = sample_inputs(net.spec, 1, rng)[0]
    r = float(certified_radius(net, x).radius[0])
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    rad = np.linspace(0, r, 2000)[1:]
    D = (rad[:, None, None] * np.stack([np.cos(th), np.sin(th)], axis=-1)[None]).reshape(-1, 2)
    f = output_and_gradient(net, x + D, path="reference").f
    f0 = float(output_and_gradient(net, x, path="reference").f[0])
    assert np.all(np.sign(f0) * f > 0.0)


def _single_neuron_case():
    """f = relu(<w, x>) with a = +1: the zero set is the half-space <w, x + delta> <= 0, at
    distance <w, x>/||w|| = |f|/||grad f||, and no neuron is harmful: the interval route is
    exact up to the bisection's resolution."""
    spec = NetworkSpec(d=3, m=1)
    W = np.array([[1.0, 2.0, -0.5]])
    net = Network(spec, np.array([1.0]), W, np.zeros(1), 0.0)
    x = np.array([0.6, 0.3, 0.2])
    exact = float(W[0] @ x / np.linalg.norm(W[0]))
    return net, x, exact


def test_certified_radius_is_exact_for_one_active_neuron():
    net, x, exact = _single_neuron_case()
    r = float(certified_radius(net, x, bisections=40).radius[0])
    assert exact * (1 - 1e-8) <= r <= exact


def test_planted_inflated_radius_is_caught():
    """Inflating the certified radius by 1% must be refuted: the point x - 1.01 r w/||w|| lies
    inside the inflated ball and has f <= 0."""
    net, x, _ = _single_neuron_case()
    r = float(certified_radius(net, x).radius[0])
    w = net.W[0] / np.linalg.norm(net.W[0])
    assert output_and_gradient(net, x - r * w, path="reference").f[0] > 0.0
    assert output_and_gradient(net, x - 1.01 * r * w, path="reference").f[0] <= 0.0
    rng = generator(5, "planted")
    assert not _no_flip_inside(net, x, 1.01 * r, rng)


@pytest.mark.parametrize("family", ["W0", "random-sphere", "robustifying"])
def test_certified_radius_below_attacks_on_lazy_families(family):
    """d = 16, m = 120, C0 = 4: per input, certified radius < the flipping delta PGD found and
    <= the single step's t*; the certified robust error bounds PGD's from above at every eps."""
    net, rng = _net(16, 120, 11)
    R = lazy_radius(net.spec, 4.0)
    X = sample_inputs(net.spec, 4, rng)
    if family == "W0":
        nets = [net] * 4
    elif family == "random-sphere":
        nets = [net.with_weights(perturb(net, R, "random-sphere", rng))] * 4
    else:
        nets = [net.with_weights(robustifying(net, x, R)) for x in X]
    for i, nw in enumerate(nets):
        x = X[i : i + 1]
        r = float(certified_radius(nw, x, routes=RADIUS_ROUTES).radius[0])
        assert r > 0.0
        assert r <= float(first_sign_flip(nw, x).t_star[0])
        pg = min_flip_radius_pgd(nw, x, steps=30, bisections=12)
        if np.isfinite(pg.radius[0]):
            assert r < float(pg.delta_norm[0])
    nw = nets[0]
    for eps in (0.05, 0.2, 0.5):
        upper = robust_error_upper(nw, X, eps)
        lower = float(pgd_attack(nw, X, eps, steps=30).robust_error)
        assert lower <= upper


def test_routes_are_individually_sound_and_certified_at_agrees_with_the_radius():
    net, rng = _net(12, 80, 21, biases=True)
    X = sample_inputs(net.spec, 5, rng)
    cert = certified_radius(net, X, routes=RADIUS_ROUTES)
    assert np.all(cert.by_route["quadratic-opt"] >= cert.by_route["quadratic"])
    for route in RADIUS_ROUTES:
        r = cert.by_route[route]
        assert np.all(certified_at(net, X, r, route) | (r == 0.0))
        for i in range(5):
            if r[i] > 0.0:
                assert _no_flip_inside(net, X[i], float(r[i]), rng)


def test_quadratic_early_stop_gives_the_same_decisions(monkeypatch):
    """Stopping the majorant sequence once every input is certified (the fast path) decides as
    the full sequence does, at radii on both sides of each input's certified radius and on a
    robustifying W; one input per call (as the bisection calls it) and batched."""
    net, rng = _net(20, 120, 5)
    X = sample_inputs(net.spec, 4, rng)
    W = robustifying(net, X[0], lazy_radius(net.spec, 10.0), path="reference")
    for nw in (net, net.with_weights(W)):
        q = certified_radius(nw, X, routes=("quadratic",)).radius
        radii = np.concatenate([q * f for f in (0.3, 0.7, 0.95, 0.999, 1.001, 1.05, 1.5)])
        Xs = np.tile(X, (7, 1))
        fast = [certified_at(nw, Xs[i : i + 1], radii[i], "quadratic")[0] for i in range(28)]
        batched = certified_at(nw, Xs, radii, "quadratic")
        monkeypatch.setattr(certify_module, "QUADRATIC_EARLY_STOP", False)
        full = certified_at(nw, Xs, radii, "quadratic")
        monkeypatch.setattr(certify_module, "QUADRATIC_EARLY_STOP", True)
        assert full.any() and not full.all()  # both sides of the radius are exercised
        np.testing.assert_array_equal(fast, full)
        np.testing.assert_array_equal(batched, full)


def test_zero_output_has_radius_zero_and_bad_input_is_refused():
    spec = NetworkSpec(d=2, m=2)
    net = Network(spec, np.array([1.0, -1.0]), np.array([[1.0, 0.0], [1.0, 0.0]]), np.zeros(2))
    x = np.array([1.0, 0.5])  # f = relu(1) - relu(1) = 0
    assert certified_radius(net, x).radius[0] == 0.0
    assert robust_error_upper(net, x, 0.1) == 1.0
    with pytest.raises(UserInputError):
        certified_at(net, x, -1.0, "interval")
    with pytest.raises(UserInputError):
        certified_at(net, x, 0.1, "exact")
    tanh = sample_network(NetworkSpec(d=2, m=3, activation="tanh"), generator(0, "t"))
    with pytest.raises(UserInputError):
        certified_radius(tanh, x)
    with pytest.raises(UserInputError):
        gradient_norm_lower_bound(tanh, x, 0.1)


def test_batched_inputs_give_the_per_input_radii_and_bounds():
    """Vectorised over inputs = one input at a time (bisection decisions may differ only where
    BLAS sums in another order move a bound across the threshold: at most the last bisection
    step, 4 ||x|| 2^-24 ~ 2.4e-7 here)."""
    net, rng = _net(10, 60, 31, biases=True, output_weights="gaussian")
    X = sample_inputs(net.spec, 7, rng)
    R = lazy_radius(net.spec, 2.0)
    batch = certified_radius(net, X)
    grad = gradient_norm_lower_bound(net, X, R, iterations=20)
    for i in range(7):
        one = certified_radius(net, X[i])
        for route in DEFAULT_ROUTES:
            assert abs(one.by_route[route][0] - batch.by_route[route][i]) <= 5e-7
        g1 = gradient_norm_lower_bound(net, X[i], R, iterations=20)
        assert g1.lower_bound[0] == pytest.approx(grad.lower_bound[i], rel=1e-9, abs=1e-12)


def test_bubeck_units_scale_the_certificates_by_sqrt_d():
    """One model at two input scales (f_wang(x) = f_bubeck(sqrt(d) x), W_bubeck = W / sqrt(d)):
    certified radii scale by sqrt(d) and gradient bounds by 1/sqrt(d) (ball radius R/sqrt(d))."""
    d, m = 9, 50
    net, rng = _net(d, m, 41)
    X = sample_inputs(net.spec, 4, rng)
    bub = Network(NetworkSpec(d=d, m=m, scaling="bubeck"), net.a, net.W / 3.0, net.b, net.c)
    R = lazy_radius(net.spec, 3.0)
    assert lazy_radius(bub.spec, 3.0) == pytest.approx(R / 3.0)
    rw = certified_radius(net, X)
    rb = certified_radius(bub, 3.0 * X)
    assert np.all(rw.radius > 0.0)
    for route in DEFAULT_ROUTES:
        np.testing.assert_allclose(rb.by_route[route], 3.0 * rw.by_route[route], rtol=1e-6)
    gw = gradient_norm_lower_bound(net, X, R, iterations=20).lower_bound
    gb = gradient_norm_lower_bound(bub, 3.0 * X, R / 3.0, iterations=20).lower_bound
    np.testing.assert_allclose(gb, gw / 3.0, rtol=1e-8, atol=1e-12)
