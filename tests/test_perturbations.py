"""Lazy perturbation families, the gradient-shrinking search and the gradient certificates.

theorycheck/perturbations.py; docs/theory.md Sec. 2 items 3-4 and Sec. 3;
docs/derivations/gradient_certificates.md. Invariants (hypothesis, every activation, scaling,
output weights, biases): every family lands in the lazy ball; worst-output bounds f at every point
the families produce; certificates bound every point a search or a random draw produces. Exact
solvers: brute-force enumeration of activation patterns with a W-space convex solver (relu, tiny m)
for the minimum gradient norm, a 2-D grid and the closed form of the quadratic activation for the
drift supremum.

Tolerances. Row deviations: R (1 + 1e-12) + 4 eps ||w_s|| as in tests/test_lazy_ball.py. Values of
f and ||grad f|| computed along two routes differ by rounding of at most ~300 eps of their absolute
scale (tests/test_kernels.py); we compare with 1e-9 of the scale S = ||grad f(W0)|| + |f(W0)| + 1
(with d, m <= 60 the sums involved are far from that). Certificates carry a 1e-9 relative margin
(perturbations.CERT_MARGIN) plus these comparison tolerances.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import optimize

from theorycheck.activations import ACTIVATIONS
from theorycheck.errors import UserInputError
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.lazy_ball import lazy_radius, perturb, worst_output
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.perturbations import (
    gradient_drift_certificate,
    gradient_drift_search,
    gradient_norm_certificate,
    gradient_shrinking,
    robustifying,
)
from theorycheck.seeding import generator

EPS = float(np.finfo(np.float64).eps)
TOL = 1e-9


@st.composite
def cases(draw, activations=tuple(ACTIVATIONS), max_d=8, max_m=40):
    """(net, x, C0, R, rng): any scaling, output weights, biases; x off the sphere."""
    spec = NetworkSpec(
        d=draw(st.integers(1, max_d)),
        m=draw(st.integers(1, max_m)),
        activation=draw(st.sampled_from(activations)),
        scaling=draw(st.sampled_from(("wang", "bubeck"))),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.booleans()),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_perturbations")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0] * draw(st.floats(0.3, 3.0))
    C0 = draw(st.sampled_from((0.0, 0.1, 0.5, 1.0, 3.0, 10.0)))
    return net, x, C0, lazy_radius(spec, C0), rng


def assert_in_ball(W, W0, R):
    dev = np.linalg.norm(W - W0, axis=1)
    tol = R * (1 + 1e-12) + 4 * EPS * np.linalg.norm(W, axis=1)
    assert np.all(dev <= tol), f"row deviation {dev.max()!r} > R = {R!r}"


def fg(net, W, x):
    fw = output_and_gradient(net.with_weights(W), x, path="reference")
    return float(fw.f[0]), fw.grad[0]


def scale(net, x) -> float:
    f, g = fg(net, net.W, x)
    return float(np.linalg.norm(g)) + abs(f) + 1.0


def family_points(net, x, R, rng):
    """Points of the ball produced by every family (names -> W)."""
    out = {
        "random-sphere": perturb(net, R, "random-sphere", rng, path="reference"),
        "random-ball": perturb(net, R, "random-ball", rng, path="reference"),
        "robustifying": robustifying(net, x, R, path="reference"),
        "gradient-shrinking": gradient_shrinking(
            net, x, R, rng, steps=15, restarts=2, path="reference"
        ).W,
    }
    wo = worst_output(net, x, R, path="reference")
    out["worst-output sup"] = wo.argmax_weights(net, x, "sup")[0]
    out["worst-output inf"] = wo.argmax_weights(net, x, "inf")[0]
    return out


# -- every family: in the ball, bounded by worst-output, gradient above the certificate ----------


@settings(max_examples=25)
@given(cases())
def test_every_family_lands_in_the_ball_and_respects_both_bounds(case):
    net, x, _C0, R, rng = case
    wo = worst_output(net, x, R, path="reference")
    cert = gradient_norm_certificate(net, x, R).lower_bound
    tol = TOL * scale(net, x)
    for name, W in family_points(net, x, R, rng).items():
        if not name.startswith("worst-output"):
            assert_in_ball(W, net.W, R)
        f, g = fg(net, W, x)
        assert wo.inf[0] - tol <= f <= wo.sup[0] + tol, name
        assert float(np.linalg.norm(g)) >= cert - tol, name


@settings(max_examples=40)
@given(cases(), st.sampled_from(("numba", "reference")))
def test_gradient_shrinking_reports_an_attained_value_above_the_certificate(case, path):
    net, x, _C0, R, rng = case
    res = gradient_shrinking(net, x, R, rng, steps=40, restarts=2, path=path)
    assert_in_ball(res.W, net.W, R)
    _, g = fg(net, res.W, x)
    tol = TOL * scale(net, x)
    assert abs(res.grad_norm - float(np.linalg.norm(g))) <= tol  # attained at the returned W
    assert res.certified_lower_bound <= res.grad_norm + tol
    assert res.grad_norm <= res.grad_norm_init + tol  # W0 is in the ball
    assert np.all(np.diff(res.history) <= 0.0)
    assert res.certified_lower_bound == gradient_norm_certificate(net, x, R).lower_bound
    assert res.method == ("pattern" if net.spec.act.piecewise_linear else "pgd")


@settings(max_examples=40)
@given(cases())
def test_certificate_bounds_the_gradient_at_random_points_of_the_ball(case):
    net, x, _C0, R, rng = case
    cert = gradient_norm_certificate(net, x, R)
    tol = TOL * scale(net, x)
    for _ in range(20):
        W = perturb(net, R, "random-ball", rng, path="reference")
        assert float(np.linalg.norm(fg(net, W, x)[1])) >= cert.lower_bound - tol
    # The flip term is the minimum of three valid bounds; the operator form is docs/theory.md's.
    assert cert.flip_term == min(cert.flip_terms.values())


@settings(max_examples=30)
@given(cases())
def test_certificate_is_exact_at_radius_zero(case):
    """At R = 0 the ball is {W0}: radial and flip terms vanish and the bound is ||grad f(W0)||."""
    net, x, _C0, _R, _rng = case
    cert = gradient_norm_certificate(net, x, 0.0)
    g = float(np.linalg.norm(fg(net, net.W, x)[1]))
    assert cert.radial_term == 0.0 and cert.flip_term == 0.0
    if net.spec.act.piecewise_linear:  # the radial component is certified only for relu
        assert cert.lower_bound == pytest.approx(g, rel=1e-8, abs=TOL * scale(net, x))
    else:
        assert cert.lower_bound == pytest.approx(cert.p_grad_norm_init, rel=1e-8, abs=1e-12)


def test_certificate_flip_term_operator_form_is_theory_formula():
    """relu, a = +-1: the operator form is m^{-1/2} ||P W0[S_R]||_op sqrt(|S_R|)."""
    spec = NetworkSpec(d=30, m=300)
    rng = generator(1, "op-form")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0]
    R = lazy_radius(spec, 3.0)
    cert = gradient_norm_certificate(net, x, R)
    z = net.W @ x
    S = (z > -R) & (z <= R)
    PW = net.W[S] - np.outer(net.W[S] @ x, x)
    expected = np.linalg.norm(PW, 2) * math.sqrt(S.sum()) / math.sqrt(spec.m)
    assert cert.n_flippable == S.sum() > 0
    assert cert.flip_terms["operator"] == pytest.approx(expected, rel=1e-10)
    assert cert.radial_term == pytest.approx(R * np.count_nonzero(z + R > 0) / math.sqrt(spec.m))


# -- exact minimum for tiny relu networks: enumeration + convex solver in W-space ----------------


def exact_min_gradient_relu(net: Network, x: np.ndarray, R: float) -> float:
    """min_{W in ball} ||grad f(x; W)|| for relu by brute force.

    Independent of the library's reduction: every activation pattern reachable in the ball (S_R
    free, the rest fixed) is a convex program in W (convex quadratic objective, per-row balls,
    linear sign constraints on <w_s, x> + b_s, closed), solved by SLSQP from a feasible start.
    """
    W0, a, b = net.W, net.a, net.b
    m, d = W0.shape
    xn = float(np.linalg.norm(x))
    z = W0 @ x + b
    r = R * xn
    S = np.flatnonzero((z > -r) & (z <= r))
    sm = 1 / math.sqrt(m)
    best = math.inf
    for bits in itertools.product((False, True), repeat=len(S)):
        A = z > 0
        A[S] = bits
        alpha = np.zeros(m)
        for s in S:  # a strictly feasible start for the pattern
            if A[s] != (z[s] > 0):
                alpha[s] = (-z[s] / xn + (R if A[s] else -R)) / 2
        start = W0 + np.outer(alpha, x / xn)

        def obj(v, A=A):
            g = sm * (a * A) @ v.reshape(m, d)
            return float(g @ g), (2 * sm * np.outer(a * A, g)).ravel()

        cons = []
        for s in range(m):
            sg = 1.0 if A[s] else -1.0
            e = np.zeros((m, d))
            e[s] = sg * x
            cons.append(dict(type="ineq", fun=lambda v, s=s, sg=sg: sg * (v.reshape(m, d)[s] @ x
                                                                         + b[s]),
                             jac=lambda v, e=e: e.ravel()))  # fmt: skip

            def ball(v, s=s):
                D = v.reshape(m, d)[s] - W0[s]
                return R * R - D @ D

            def ball_jac(v, s=s):
                J = np.zeros((m, d))
                J[s] = -2 * (v.reshape(m, d)[s] - W0[s])
                return J.ravel()

            cons.append(dict(type="ineq", fun=ball, jac=ball_jac))
        res = optimize.minimize(obj, start.ravel(), jac=True, constraints=cons, method="SLSQP",
                                options=dict(maxiter=500, ftol=1e-15))  # fmt: skip
        best = min(best, math.sqrt(max(res.fun, 0.0)))
    return best


def test_pattern_search_finds_the_exact_minimum_on_tiny_relu_networks():
    """search >= exact - 1e-7 and certificate <= exact on 12 fixed tiny networks (exact bounds:
    the search reports an attained value), and search = exact (to 1e-7) on most of them.

    Equality is the search's power: it is a local search and can miss the best pattern. The
    threshold follows from a tail bound, not from these seeds: on 400 development networks
    (another key, "tiny-relu-dev") it missed once (seed 351: 0.087 against an exact 0); the
    one-sided 99.9% Clopper-Pearson upper limit of the miss rate is 0.0228, and at that rate 6 or
    more misses among 12 networks have probability P(Bin(12, 0.0228) >= 6) = 1.2e-7. (Before:
    equality asserted on each of the 12, which fails w.p. 1 - (1 - 1/400)^12 ~ 3% over seeds.)
    """
    misses = 0
    for seed in range(12):
        rng = generator(seed, "tiny-relu")
        spec = NetworkSpec(
            d=int(rng.integers(2, 4)),
            m=int(rng.integers(2, 7)),
            biases=bool(seed % 2),
            output_weights="gaussian" if seed % 3 == 0 else "sign",
        )
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0] * rng.uniform(0.5, 2.0)
        R = lazy_radius(spec, (0.3, 1.0)[seed % 2])
        exact = exact_min_gradient_relu(net, x, R)
        res = gradient_shrinking(net, x, R, generator(seed, "search"), restarts=6, path="reference")
        assert res.grad_norm >= exact - 1e-7
        assert res.certified_lower_bound <= exact + 1e-9
        misses += res.grad_norm > exact + 1e-7
    assert misses <= 5


def test_pattern_search_beats_weight_space_pgd_on_relu():
    """The exact-per-pattern search is the stronger adversary (d=20, m=200, C0=3), and the
    certificate's flip term is necessary: without it ("||P grad f0|| - radial term") the bound
    would sit above a point of the ball that the search exhibits.

    Exact on every network: both searches end at or below ||grad f(W0)|| (W0 is in the ball) and
    above the certificate. The rest is counted over 6 independent networks, with thresholds from
    tail bounds on 400 development networks (another key, "pattern-vs-pgd-dev"): the pattern
    search was above weight-space PGD (by more than 1e-9) on none of them (one-sided 99.9%
    Clopper-Pearson upper limit 0.0171), so it loses on 5 or more of 6 w.p. P(Bin(6, 0.0171)
    >= 5) = 8.7e-9; it undercut ||P grad f0|| - radial term on 387 of 400 (the no-witness rate's
    upper limit is 0.0697), so no witness among 6 has probability 0.0697^6 = 1.2e-7. (Before: 2
    fixed networks, each required to be a witness: 13 of 400 development networks are not, so
    that test failed ~6% of seeds.)
    """
    wins = witnesses = 0
    for seed in range(6):
        rng = generator(seed, "pattern-vs-pgd")
        spec = NetworkSpec(d=20, m=200)
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        R = lazy_radius(spec, 3.0)
        pattern = gradient_shrinking(net, x, R, rng, restarts=2, path="reference")
        pgd = gradient_shrinking(net, x, R, rng, steps=40, restarts=1, method="pgd",
                                 path="reference")  # fmt: skip
        tol = TOL * scale(net, x)
        assert pattern.grad_norm <= pattern.grad_norm_init + tol
        assert pgd.grad_norm <= pattern.grad_norm_init + tol
        assert pattern.certified_lower_bound <= min(pattern.grad_norm, pgd.grad_norm) + tol
        wins += pattern.grad_norm <= pgd.grad_norm + 1e-9
        cert = gradient_norm_certificate(net, x, R)
        witnesses += pattern.grad_norm < cert.p_grad_norm_init - cert.radial_term
    assert wins >= 2
    assert witnesses >= 1


def test_gradient_shrinking_rejects_pattern_for_smooth_activations():
    spec = NetworkSpec(d=3, m=4, activation="tanh")
    rng = generator(0, "reject")
    net = sample_network(spec, rng)
    with pytest.raises(UserInputError, match="piecewise-linear"):
        gradient_shrinking(net, np.ones(3), 0.1, rng, method="pattern")
    with pytest.raises(UserInputError, match="x must be nonzero"):
        gradient_shrinking(net, np.zeros(3), 0.1, rng)


# -- robustifying --------------------------------------------------------------------------------


@settings(max_examples=40)
@given(cases())
def test_robustifying_raises_abs_f_and_stays_in_the_ball(case):
    """|f(W)| >= |f(W0)| deterministically (derivation Sec. 5): W0 lies in the radial half-ball."""
    net, x, _C0, R, _rng = case
    W = robustifying(net, x, R, path="reference")
    assert_in_ball(W, net.W, R)
    assert np.all(np.linalg.norm(W - net.W, axis=1) <= R / math.sqrt(2) * (1 + 1e-12)
                  + 4 * EPS * np.linalg.norm(W, axis=1))  # fmt: skip
    f0, _ = fg(net, net.W, x)
    f1, _ = fg(net, W, x)
    assert abs(f1) >= abs(f0) - TOL * scale(net, x)


def fixed_case(activation, d, m, biases, C0, seed, output_weights="sign"):
    """One case drawn as :func:`cases` draws it (wang scaling, x from sample_inputs, unscaled)."""
    spec = NetworkSpec(d=d, m=m, activation=activation, scaling="wang",
                       output_weights=output_weights, biases=biases)  # fmt: skip
    rng = generator(seed, "test_perturbations")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0]
    return net, x, C0, lazy_radius(spec, C0), rng


#: Regression cases (found by hypothesis and a direct search): the radial move puts every neuron
#: (the first three) or three of four (the last) at an interior critical point of sigma, where
#: sigma' = 0 exactly. Before the fix, sigma' evaluated at the rounded pre-activations (~1e-17,
#: either sign) made up grad f, so e was a rounding-noise direction that the two paths rounded
#: differently: the paths differed by 0.093 (gelu, d = m = 4, C0 = 10, R = 5), 7.0 (the minimal
#: d = m = 2; m = 1 or d = 1 cannot disagree) and 3.5 (t^2), and by 7e-9 (the partly critical case).
#: name -> (number of neurons at a critical point, case).
CRITICAL_CASES = {
    "gelu-d4-m4-biases-C0=10": (4, fixed_case("gelu", 4, 4, True, 10.0, 214)),
    "gelu-d2-m2-minimal": (2, fixed_case("gelu", 2, 2, False, 10.0, 78)),
    "quadratic-d2-m2": (2, fixed_case("quadratic", 2, 2, True, 10.0, 248)),
    "gelu-d4-m4-three-of-four": (3, fixed_case("gelu", 4, 4, True, 10.0, 34, "gaussian")),
}


def robustifying_by_definition(net, x, R, rf=0.5):
    """The robustifying point computed neuron by neuron from its definition (docstring;
    docs/derivations/gradient_certificates.md Sec. 5), sigma'(t_s) = 0 at a critical point."""
    act, m = net.spec.act, net.spec.m
    xh = x / np.linalg.norm(x)
    f0, _ = fg(net, net.W, x)
    wo = worst_output(net, x, rf * R, path="reference")  # tested against brute force elsewhere
    t_target = (wo.t_sup if f0 >= 0 else wo.t_inf)[0]
    W = net.W.copy()
    dsig = np.zeros(m)
    for s in range(m):
        z = net.W[s] @ x + net.b[s]
        W[s] = net.W[s] + (t_target[s] - z) / np.linalg.norm(x) * xh
        if t_target[s] not in act.critical_points:
            dsig[s] = float(act.dsigma(np.float64(t_target[s])))
    g = sum(net.a[s] * dsig[s] * W[s] for s in range(m)) / math.sqrt(m)
    Pg = g - (g @ xh) * xh
    if np.linalg.norm(Pg) > 0.0:
        e = Pg / np.linalg.norm(Pg)
        for s in range(m):
            c = np.sign(net.a[s]) * (-1.0 if dsig[s] < 0.0 else 1.0)
            W[s] = W[s] - (1.0 - rf) * R * c * e
    return W


@pytest.mark.parametrize("name", sorted(CRITICAL_CASES))
def test_robustifying_at_critical_points_follows_the_definition(name):
    n_crit, (net, x, _C0, R, _rng) = CRITICAL_CASES[name]
    f0, _ = fg(net, net.W, x)
    wo = worst_output(net, x, R / 2, path="reference")
    at_crit = np.isin((wo.t_sup if f0 >= 0 else wo.t_inf)[0], net.spec.act.critical_points)
    # The case still exercises the bug (a change of the samplers would make it vacuous).
    assert at_crit.sum() == n_crit
    W_def = robustifying_by_definition(net, x, R)
    if at_crit.all():  # exact grad f = 0 at the radially moved weights: no orthogonal move
        D = W_def - net.W
        assert np.abs(D - np.outer(D @ x, x) / (x @ x)).max() <= 1e-12 * (1 + R)
    for path in ("reference", "numba"):
        W = robustifying(net, x, R, path=path)
        np.testing.assert_allclose(W, W_def, rtol=1e-9, atol=1e-9 * (1 + R), err_msg=path)


@settings(max_examples=30)
@given(cases())
@example(case=CRITICAL_CASES["gelu-d4-m4-biases-C0=10"][1])
@example(case=CRITICAL_CASES["gelu-d2-m2-minimal"][1])
@example(case=CRITICAL_CASES["quadratic-d2-m2"][1])
@example(case=CRITICAL_CASES["gelu-d4-m4-three-of-four"][1])
def test_robustifying_paths_agree(case):
    net, x, _C0, R, _rng = case
    W_ref = robustifying(net, x, R, path="reference")
    W_nb = robustifying(net, x, R, path="numba")
    # The paths share the formulas; pre-activations differ by rounding only (relu ties aside,
    # which have probability 0 for drawn weights).
    np.testing.assert_allclose(W_nb, W_ref, rtol=1e-9, atol=1e-9 * (1 + R))


@settings(max_examples=30)
@given(cases(activations=("relu", "softplus", "tanh")))
def test_robustifying_radial_part_alone_is_the_worst_output_maximiser(case):
    """radial_fraction = 1: the whole budget radially gives f = sup (f0 >= 0) or inf (f0 < 0)."""
    net, x, _C0, R, _rng = case
    W = robustifying(net, x, R, radial_fraction=1.0, path="reference")
    wo = worst_output(net, x, R, path="reference")
    f0, _ = fg(net, net.W, x)
    f1, _ = fg(net, W, x)
    target = wo.sup[0] if f0 >= 0 else wo.inf[0]
    assert f1 == pytest.approx(target, abs=TOL * scale(net, x) * (1 + R))


@settings(max_examples=30)
@given(cases())
def test_robustifying_orthogonal_part_alone_keeps_f_and_shrinks_P_grad_exactly(case):
    """radial_fraction = 0: f unchanged and
    ||P grad f|| = | ||P grad f0|| - R m^{-1/2} sum_s |a_s sigma'(t_s)| |."""
    net, x, _C0, R, _rng = case
    W = robustifying(net, x, R, radial_fraction=0.0, path="reference")
    f0, g0 = fg(net, net.W, x)
    f1, g1 = fg(net, W, x)
    xh = x / np.linalg.norm(x)
    P0 = float(np.linalg.norm(g0 - (g0 @ xh) * xh))
    P1 = float(np.linalg.norm(g1 - (g1 @ xh) * xh))
    t = net.W @ x + net.b
    kappa = R * float(np.abs(net.a * net.spec.act.dsigma(t)).sum()) / math.sqrt(net.spec.m)
    tol = TOL * scale(net, x) * (1 + R)
    assert f1 == pytest.approx(f0, abs=tol)
    assert g1 @ xh == pytest.approx(g0 @ xh, abs=tol)
    if P0 > 1e-6 * scale(net, x):
        assert P1 == pytest.approx(abs(P0 - kappa), abs=tol * (1 + kappa))


def test_robustifying_shrinks_the_gradient_on_average():
    """relu at init, d=20, m=200, C0=3: ||grad f|| drops in >= 75 of 100 replicates.

    Development run (300 replicates, other seeds): the drop happened in 292/300 (one-sided 99.9%
    Clopper-Pearson lower limit p >= 0.931), mean drop 0.44, sd 0.24. If p >= 0.93 the test fails
    (<= 74 drops) with probability <= 1e-8 (binomial cdf). Power: if robustifying did not lower
    the gradient systematically (p = 1/2), >= 75 drops happen with probability 2.8e-7.
    |f| rises in every replicate (proved, Sec. 5 of the derivation).
    """
    spec = NetworkSpec(d=20, m=200)
    R = lazy_radius(spec, 3.0)
    drops = 0
    for rep in range(100):
        rng = generator(2024, "robustifying-average", rep)
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        W = robustifying(net, x, R, path="reference")
        f0, g0 = fg(net, net.W, x)
        f1, g1 = fg(net, W, x)
        drops += int(np.linalg.norm(g1) < np.linalg.norm(g0))
        assert abs(f1) > abs(f0)
    assert drops >= 75


# -- gradient drift: certificate >= sup >= search >= random ---------------------------------------


@settings(max_examples=30)
@given(cases(), st.floats(0.0, 1.0))
def test_drift_search_stays_below_the_certificate(case, rho_rel):
    net, x, _C0, _R, rng = case
    rho = rho_rel * float(np.linalg.norm(x))
    res = gradient_drift_search(net, x, rho, rng, steps=25, restarts=2, path="reference")
    assert np.linalg.norm(res.delta) <= rho * (1 + 1e-12)
    D = float(gradient_difference(net, x, res.delta, path="reference")[0])
    assert res.value == pytest.approx(D, rel=1e-12, abs=1e-300)
    tol = TOL * scale(net, x)
    assert res.value <= res.certificate + tol
    assert res.certificate == gradient_drift_certificate(net, x, rho).bound
    # random points of the ball as well
    G = rng.standard_normal((20, net.spec.d))
    G *= (rho * rng.random(20) / np.maximum(np.linalg.norm(G, axis=1), 1e-300))[:, None]
    Dr = gradient_difference(net, np.repeat(x[None], 20, 0), G, path="reference")
    assert np.all(Dr <= res.certificate + tol)


def test_drift_certificate_operator_form_is_theory_formula():
    """relu, a = +-1: m^{-1/2} ||W_S||_op sqrt(|S|),
    S = {-rho ||w_s|| < <w_s, x> <= rho ||w_s||} (docs/theory.md Sec. 3)."""
    spec = NetworkSpec(d=30, m=300)
    rng = generator(2, "drift-op")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)[0]
    rho = 0.1
    t = net.W @ x
    reach = rho * np.linalg.norm(net.W, axis=1)
    S = (t > -reach) & (t <= reach)
    cert = gradient_drift_certificate(net, x, rho)
    expected = np.linalg.norm(net.W[S], 2) * math.sqrt(S.sum()) / math.sqrt(spec.m)
    assert cert.n_flippable == S.sum() > 0
    assert cert.terms["operator"] == pytest.approx(expected, rel=1e-10)
    assert cert.bound == pytest.approx(min(cert.terms.values()), rel=2e-9)
    assert gradient_drift_certificate(net, x, 0.0).bound == 0.0


def _grid_sup_2d(net, x, rho, n=301):
    g = np.linspace(-rho, rho, n)
    U, V = np.meshgrid(g, g, indexing="ij")
    P = np.stack([U.ravel(), V.ravel()], axis=1)
    P = P[U.ravel() ** 2 + V.ravel() ** 2 <= rho * rho]
    return gradient_difference(net, np.repeat(x[None], len(P), 0), P, path="reference").max()


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_drift_search_matches_a_dense_grid_in_two_dimensions_smooth(activation):
    """d = 2, smooth sigma: D(delta) is smooth and the ascent usually reaches the sup that a grid
    of the disc sees (the grid is itself a lower estimate). Exact on every network: search and
    grid stay below the certificate.

    Counted over 8 independent networks, threshold from a tail bound: on 200 development
    networks per activation (another key, "drift-2d-dev") the search fell below 0.995 of the
    301 x 301 grid's sup on 3 (tanh; worst 0.82) and 2 (gelu); the one-sided 99.9%
    Clopper-Pearson upper limit of the miss rate is 0.064 (tanh, the larger). The 151 x 151 grid
    used here is a subset of that grid, so its sup is lower and a miss here is a miss there: 7 or
    more misses among 8 have probability P(Bin(8, 0.064) >= 7) = 3.2e-8. (Before: 4 networks,
    each required to reach 0.995: that failed ~6% of seeds for tanh.)
    """
    reached = 0
    for seed in range(8):
        rng = generator(seed, "drift-2d", activation)
        spec = NetworkSpec(d=2, m=40, activation=activation, biases=bool(seed % 2))
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        res = gradient_drift_search(net, x, 0.5, rng, path="reference")
        grid = _grid_sup_2d(net, x, 0.5, n=151)
        reached += res.value >= 0.995 * grid
        assert max(res.value, grid) <= res.certificate
    assert reached >= 2


def test_drift_search_on_relu_in_two_dimensions_usually_reaches_the_grid_sup():
    """d = 2, relu: D is piecewise constant and the best cell can be a thin sliver the search
    misses (a known weakness of any local search; the result stays a valid lower estimate).

    Exact, on every network: the grid and the search stay below the certificate, and the search
    is at least D at its own deterministic start points rho (+-grad f / ||grad f||).

    Statistical, with a threshold from a tail bound rather than from these seeds: on 100
    development networks of the same spec drawn with another key ("drift-2d-dev", seeds 0-99)
    the search reached >= 0.99 of the grid sup on 90; the one-sided 99.9% Clopper-Pearson lower
    limit of that rate is p0 = 0.775. If the rate is >= p0, fewer than 6 of 20 independent
    networks reach it with probability P(Bin(20, 0.775) <= 5) = 9.1e-7 < 1e-6. Power: a random
    point of the disc lands in the best cells on 3.5% of the disc on average (the same 40
    development networks' grids), so it would reach 6 of 20 with probability ~1e-4. (The test
    asserted 16 of 20 before, tuned to these seeds: 18 reach here.)
    """
    reached = 0
    for seed in range(0, 60, 3):
        rng = generator(seed, "drift-2d")
        spec = NetworkSpec(d=2, m=40, biases=bool(seed % 2))
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        res = gradient_drift_search(net, x, 0.5, rng, path="reference")
        grid = _grid_sup_2d(net, x, 0.5)
        reached += res.value >= 0.99 * grid
        assert max(res.value, grid) <= res.certificate
        g = output_and_gradient(net, x[None], path="reference").grad[0]
        starts = 0.5 * np.array([g, -g]) / np.linalg.norm(g)
        at_starts = gradient_difference(net, np.repeat(x[None], 2, 0), starts, path="reference")
        assert res.value >= at_starts.max() * (1 - 1e-12)
    assert reached >= 6


def test_drift_search_reaches_the_closed_form_for_the_quadratic_activation():
    """sigma = t^2: grad f(x + delta) - grad f(x) = 2 m^{-1/2} W^T diag(a) W delta, so the sup is
    2 m^{-1/2} rho ||W^T diag(a) W||_op exactly; the ascent is then a power iteration, whose
    accuracy after a fixed number of steps depends on the network's eigenvalue gap.

    Exact on every network: value <= sup <= certificate. Counted over 6 independent networks
    (300 steps), thresholds from tail bounds: on 400 development networks (another key,
    "quadratic-drift-dev") the relative error was > 1e-3 on none (one-sided 99.9% Clopper-Pearson
    upper limit 0.0171) and > 1e-4 on 9 (upper limit 0.0557); so fewer than 2 of 6 within 1e-3
    has probability P(Bin(6, 0.0171) >= 5) = 8.7e-9, none within 1e-4 0.0557^6 = 3.0e-8.
    (Before: one network at 100 steps, asserted within 1e-6: 157 of 300 development networks
    were not, so that test failed about half of all seeds.)
    """
    spec = NetworkSpec(d=40, m=200, activation="quadratic")
    rho = 0.2
    errors = []
    for seed in range(6):
        rng = generator(seed, "quadratic-drift")
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        M = net.W.T @ (net.a[:, None] * net.W)
        exact = 2 * rho * np.linalg.norm(M, 2) / math.sqrt(spec.m)
        res = gradient_drift_search(net, x, rho, rng, steps=300, scales=(1.0,), path="reference")
        assert res.value <= exact * (1 + 1e-12)
        assert res.certificate >= exact
        errors.append(1 - res.value / exact)
    errors = np.array(errors)
    assert np.count_nonzero(errors <= 1e-3) >= 2
    assert np.count_nonzero(errors <= 1e-4) >= 1


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_drift_search_beats_random_perturbations(activation):
    """The search beats the best of 50 independent random deltas of norm rho (d=40, m=400).

    Threshold from a tail bound, not from a seed: on 200 development networks per activation
    (another key, "drift-vs-random-dev") the search beat the best random delta on all 200
    (ratio search / best random: relu min 1.42, median 1.73; softplus min 1.28, median 1.61);
    the one-sided 99.9% Clopper-Pearson lower limit of that rate is p0 = 0.001^(1/200) = 0.966.
    At p >= p0, fewer than 2 of 6 independent networks are won with probability
    P(Bin(6, 0.966) <= 1) = 2.6e-7 < 1e-6. Power: a "search" that returned a random delta of
    norm rho would be exchangeable with the 50 and beat them all with probability 1/51, so it
    would win 2 of 6 with probability 5.5e-3. (Before: one network, asserted > 1.3 x best random,
    the ratio that network happened to clear.)
    """
    spec = NetworkSpec(d=40, m=400, activation=activation)
    rho = 0.1
    wins = 0
    for seed in range(6):
        rng = generator(seed, "drift-vs-random", activation)
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        G = rng.standard_normal((50, spec.d))
        G = rho * G / np.linalg.norm(G, axis=1, keepdims=True)
        random_best = gradient_difference(net, np.repeat(x[None], 50, 0), G, path="reference")
        res = gradient_drift_search(net, x, rho, rng, path="reference")
        wins += res.value > random_best.max()
        assert res.value <= res.certificate
    assert wins >= 2


# -- the certified top eigenvalue of the drift certificate's Gram ---------------------------------
@pytest.mark.parametrize(("n", "rank", "seed"), [(250, 250, 0), (400, 60, 1), (600, 600, 2)])
def test_certified_top_eigenvalue_bounds_eigvalsh_from_above_and_is_tight(n, rank, seed):
    """Deterministic (no sampling error): above eigvalsh's value (a valid bound), within 1%
    (the Cholesky search's step) of it; a Lanczos estimate alone (the planted shortcut) is
    below it on at least one of these matrices."""
    from scipy.sparse.linalg import eigsh

    from theorycheck.perturbations import EIG_DIRECT_MAX, certified_top_eigenvalue

    assert n > EIG_DIRECT_MAX  # the Lanczos + Cholesky route, not the direct one
    U = np.random.default_rng(seed).standard_normal((n, rank))
    G = U @ U.T
    exact = float(np.linalg.eigvalsh(G)[-1])
    bound = certified_top_eigenvalue(G)
    assert exact <= bound <= exact * 1.0101
    assert certified_top_eigenvalue(G) == bound  # deterministic start: same bits every call
    lanczos = float(eigsh(G, k=1, which="LA", tol=1e-8, return_eigenvectors=False)[0])
    assert lanczos < bound  # the certificate is not the estimate


def test_certified_top_eigenvalue_survives_a_repeated_top_eigenvalue():
    """A diagonal matrix with a double top eigenvalue and an eigenvalue just below it."""
    from theorycheck.perturbations import certified_top_eigenvalue

    G = np.diag(np.r_[np.full(2, 5.0), 5.0 - 1e-9, np.linspace(0, 4, 400)])
    assert 5.0 <= certified_top_eigenvalue(G) <= 5.0 * 1.0101


def test_best_mu_returns_the_value_its_callers_compute_and_the_grid_minimum():
    """best_mu's J is the objective at its mu evaluated for that one mu, bit for bit (the greedy
    search compares it with its own one-mu value and re-solves while it is lower: a batched
    value rounding lower looped forever on some hypothesis cases), and it is no larger than a
    dense grid's minimum (quasi-convex J: nested grids find the minimiser)."""
    from theorycheck.perturbations import _PatternProblem

    rng = generator(0, "best-mu")
    for _ in range(50):
        k = int(rng.integers(1, 40))
        prob = _PatternProblem(
            R=float(rng.uniform(0.01, 1.0)), sm=float(rng.uniform(0.05, 1.0)),
            a=rng.standard_normal(k), p=rng.standard_normal(k),
            lo=-rng.uniform(0.0, 1.0, k), U=rng.standard_normal((k, 3)), q=rng.random(k),
            GF=float(rng.standard_normal()), AF=float(rng.uniform(0.0, 2.0)),
            vF=rng.standard_normal(3),
        )  # fmt: skip
        prob.lo = np.maximum(prob.lo, -prob.R)
        active = rng.random(k) < 0.5
        V = float(rng.uniform(0.0, 3.0))
        mu, J = prob.best_mu(active, V)
        assert J == float(prob.objective(active, mu, V)[0])
        dense = prob.objective(active, np.linspace(-1.0, 1.0, 20_001), V)
        assert J <= float(dense.min()) * (1.0 + 1e-9) + 1e-15
