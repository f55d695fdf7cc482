"""The Bubeck 2021 / Wang 2022 catalog: conformance of every new entry, each bound's behaviour over
its whole parameter range (exact wherever an exact law exists), the width windows, the
``theorycheck conditions`` command, the width-window simulation, and Monte Carlo checks of the
new exact laws F3 and F5 with the core kernels.

Statistical tests (F3, F5) use fixed seeds. There are 7 of them, each rejecting at p < 1e-7, so a
correct implementation fails this file with probability < 1e-6 (KS and exact binomial p-values
are exact or conservative; the z-tests rely on the CLT with n = 3000 and skewness <= 3.2, whose
error at the 5.3-sigma threshold is at most a small factor). Each is paired with a wrong law that
the same data reject at the same threshold (power).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize, stats

from theorycheck.attack import first_sign_flip
from theorycheck.bounds import REGISTRY, Kind, get_bound
from theorycheck.bounds.conditions import (
    WidthWindow,
    conditions_report,
    dimensions_with_window,
    first_dimension_with_window,
    has_width_window,
    width_window,
    windowed_bound_ids,
)
from theorycheck.bounds.conformance import check_bound, valid_values
from theorycheck.cli import main
from theorycheck.errors import UserInputError
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.pipeline import claim_conditions
from theorycheck.seeding import generator
from theorycheck.stats import binomial_total_test, ks_test, mean_z_test

NEW_IDS = (
    "wang2022.theorem_3_1",
    "wang2022.theorem_3_1_step",
    "wang2022.corollary_3_2",
    "wang2022.lemma_4_1",
    "wang2022.lemma_4_2",
    "wang2022.lemma_4_4",
    "bubeck2021.theorem",
    "bubeck2021.output_order",
    "bubeck2021.gradient_norm",
    "bubeck2021.gradient_stability",
    "exact.f3_s_lin",
    "exact.f5_flips",
    "exact.f5_gradient_jump",
    "exact.f5_linearisation_error",
)
WINDOWED = (
    "wang2022.theorem_3_1",
    "wang2022.theorem_3_1_step",
    "wang2022.corollary_3_2",
    "wang2022.lemma_4_1",
    "wang2022.lemma_4_2",
    "wang2022.lemma_4_4",
    "bubeck2021.theorem",
    "bubeck2021.gradient_stability",
)
#: p-value threshold of every statistical test in this file (7 tests: family error < 1e-6).
P_MIN = 1e-7


# --- registry and conformance ------------------------------------------------------------------
@pytest.mark.parametrize("bound_id", NEW_IDS)
def test_new_bound_is_registered_and_conforms(bound_id):
    assert bound_id in REGISTRY
    check_bound(REGISTRY[bound_id])


def test_the_windowed_statements_are_exactly_those_with_width_conditions():
    assert sorted(windowed_bound_ids()) == sorted(WINDOWED)


@pytest.mark.parametrize("bound_id", [i for i in REGISTRY if REGISTRY[i].kind == Kind.RATE])
def test_rate_bounds_declare_exponents_and_scale_as_declared(bound_id):
    # Scaling equivalence: value(lambda p) = lambda^e value(p) for each declared exponent e.
    bound = REGISTRY[bound_id]
    assert bound.order in ("O", "Omega", "Theta", "o")
    point = {p.name: float(valid_values(p)[1]) for p in bound.params}
    for name, exponent in bound.exponents.items():
        for lam in (2.0, 10.0, 1e4):
            ratio = bound(**{**point, name: point[name] * lam}) / bound(**point)
            assert ratio == pytest.approx(lam**exponent, rel=1e-12)


def test_statements_quote_the_papers():
    # Lemmas 4.1 and 4.2 are "(Informal)" in the paper: the catalog says so.
    for lemma in ("wang2022.lemma_4_1", "wang2022.lemma_4_2"):
        b = get_bound(lemma)
        assert "(Informal)" in b.statement and "informal" in b.citation
    assert (
        "max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24)"
        in get_bound("wang2022.theorem_3_1").statement
    )
    assert (
        "k >= C1 log^3(1/gamma), d >= C2 log(k/gamma) log(1/gamma)"
        in get_bound("bubeck2021.theorem").statement
    )


# --- Wang et al. Lemma 4.1 against the exact law F1 -------------------------------------------
lemma41 = get_bound("wang2022.lemma_4_1")
f1 = get_bound("exact.f1_output")


@given(m=st.integers(1, 3000), gamma=st.floats(1e-9, 1 - 1e-9), C0=st.floats(0.0, 50.0))
def test_lemma_4_1_holds_exactly_at_every_width(m, gamma, C0):
    # |f(x; W)| <= |f(x; W0)| + C0 for every W in the ball (deterministic, worst_output.md), so
    # the lemma fails only if |f(x; W0)| > bound - C0, whose probability F1 gives exactly. It is
    # even <= gamma^2/2 (sub-Gaussian tail 2 exp(-t^2/2) at t = 2 sqrt(log(2/gamma))), for every
    # m: the condition m >= Omega(log(2/gamma)) is not needed.
    t = lemma41(m=m, C0=C0, gamma=gamma) - C0
    tail = 1.0 - (f1.cdf([t], m=m)[0] - f1.cdf([-t], m=m)[0])
    # The tail is 1 - (F(t) - F(-t)), each F a sum of m + 1 rounded terms: its absolute rounding
    # error is below (m + 3) 2^-52 (hypothesis found 1.1e-15 at m = 2411, gamma = 1e-9, where
    # the exact tail is ~5e-19; a fixed 1e-15 was too tight).
    assert tail <= gamma**2 / 2 * (1 + 1e-9) + (m + 3) * 2.0**-52
    assert tail <= gamma


@given(m=st.integers(1, 10**6), C0=st.floats(0.0, 100.0), g=st.floats(1e-12, 0.99))
def test_lemma_4_1_monotone_and_limits(m, C0, g):
    assert lemma41(m=m, C0=C0, gamma=min(g * 1.01, 0.999)) <= lemma41(m=m, C0=C0, gamma=g)
    assert lemma41(m=m, C0=C0 + 1, gamma=g) == pytest.approx(lemma41(m=m, C0=C0, gamma=g) + 1)
    # gamma -> 1: 2 sqrt(log 2) + C0.
    assert lemma41(m=m, C0=C0, gamma=1 - 1e-12) == pytest.approx(2 * math.sqrt(math.log(2)) + C0)


# --- Wang et al. Lemma 4.2 against the exact law F2 -------------------------------------------
lemma42 = get_bound("wang2022.lemma_4_2")
f2 = get_bound("exact.f2_grad_norm_sq")
_KL_EIGHTH = 0.125 * math.log(0.25) + 0.875 * math.log(1.75)  # KL(Bin 1/8 || Bin 1/2) per trial
_CHI2_HALF = 0.5 * (0.5 - 1 - math.log(0.5))  # Chernoff rate of P(chi2_d < d/2) per dimension


def _lemma_42_failure_at_init(d: int, m: int) -> float:
    # P(||grad f(x; W0)|| < sqrt(d)/4) = P(||grad f||^2 < d/16), exactly from F2.
    return float(f2.cdf([d / 16], m=m, d=d)[0])


@given(
    gamma=st.floats(1e-6, 0.5),
    m_factor=st.floats(1.0, 20.0),
    d_factor=st.floats(1.0, 20.0),
)
def test_lemma_4_2_holds_at_init_in_a_derived_region(gamma, m_factor, d_factor):
    # Derived: fail => N/m < 1/8 or chi2_d/d < 1/2; Chernoff bounds each by gamma/2 once
    # m >= log(2/gamma)/KL(1/8 || 1/2) and d >= log(2/gamma)/0.0966. Checked exactly with F2.
    m = math.ceil(m_factor * math.log(2 / gamma) / _KL_EIGHTH)
    d = math.ceil(d_factor * math.log(2 / gamma) / _CHI2_HALF)
    assert _lemma_42_failure_at_init(d, m) <= gamma


def test_lemma_4_2_fails_at_small_d_for_large_m():
    # Finding: at W = W0 (in the ball) the failure probability tends to P(chi2_d < d/8) as m
    # grows: 0.276 at d = 1 and 0.118 at d = 2, above gamma = 0.1 (exact, F2).
    for d, limit in ((1, stats.chi2.cdf(1 / 8, 1)), (2, stats.chi2.cdf(2 / 8, 2))):
        fail = _lemma_42_failure_at_init(d, 10**6)
        assert fail == pytest.approx(limit, abs=1e-3)
        assert fail > 0.1
    assert stats.chi2.cdf(1 / 8, 1) == pytest.approx(0.2763, abs=1e-4)


@given(C_m=st.floats(0.01, 100.0), C_d=st.floats(0.01, 100.0))
def test_lemma_4_2_conditions_as_printed_do_not_suffice(C_m, C_d):
    # ... while d >= Omega(log(m/gamma)/m) vanishes as m grows: whatever the hidden constants,
    # the lemma's conditions hold at d = 1, 2 and m = 10^6 (gamma = 0.1), where it fails.
    for d in (1, 2):
        assert lemma42.conditions(d=d, m=10**6, C0=0.0, gamma=0.1, C_m=C_m, C_d=C_d)


# --- Wang et al. Theorem 3.1, Corollary 3.2, Lemma 4.4 -----------------------------------------
theorem = get_bound("wang2022.theorem_3_1")
step = get_bound("wang2022.theorem_3_1_step")
corollary = get_bound("wang2022.corollary_3_2")
lemma44 = get_bound("wang2022.lemma_4_4")


@given(d=st.integers(1, 10**9), C2=st.floats(0.01, 100.0), excess=st.floats(1.0, 10.0))
def test_theorem_3_1_values_are_the_step_and_perturbation_under_lemma_4_2(d, C2, excess):
    # A route independent of the two bounds' own formulas: the theorem's prescribed step
    # (condition 1, ``theorem.step``) applied to the gradients Lemma 4.2 allows, ||grad f|| >= g
    # with g Lemma 4.2's own catalog value. |eta| = step(G) and ||delta|| = step(G) G decrease in
    # G, so their sup over the lemma's event is at G = g, and every G >= g stays below it.
    g = float(lemma42(d=d, m=1, C0=0.0, gamma=0.1))
    kw = {"d": d, "m": 1, "C0": 1.0, "gamma": 0.1, "C2": C2}
    assert theorem(**kw) == pytest.approx(float(theorem.step(g, C2=C2)) * g, rel=1e-12)
    assert step(**kw) == pytest.approx(float(theorem.step(g, C2=C2)), rel=1e-12)
    G = g * excess
    assert float(theorem.step(G, C2=C2)) * G <= theorem(**kw) * (1 + 1e-12)
    assert float(theorem.step(G, C2=C2)) <= step(**kw) * (1 + 1e-12)


@pytest.mark.parametrize("d", [25, 100, 784, 10**6])
def test_theorem_3_1_default_step_constant_gives_the_papers_5_over_sqrt_d(d):
    # The paper, Sec. 5.2 (Fig. 4): the threshold 5/sqrt(d) "as predicted by Theorem 3.1" (MNIST:
    # d = 784, 5/28), with the default C2 = 5/4.
    assert theorem(d=d, m=1, C0=10.0, gamma=0.1) == pytest.approx(5 / math.sqrt(d))


def test_corollary_3_2_value_failure_probability_and_window_condition():
    kw = {"d": 4 * 10**6, "m": 2 * 10**16, "C0": 1.0, "gamma": 0.05}
    assert corollary(**kw, R=1.0) == 0.9
    assert float(corollary.failure_probability(0.05)) == pytest.approx(0.5)
    # The conditions are Theorem 3.1's width window; the radius R is the statement's variable
    # (a row with the radius constant left free gives no R), not a condition.
    assert corollary.condition_parameters() == {"d", "m", "C0", "gamma"}
    assert corollary.conditions(**kw) and corollary.conditions(**kw, R=4.9 / 2000)
    assert not corollary.conditions(**{**kw, "m": 10**15})  # below d^2.4 = 6.9e15
    with pytest.raises(UserInputError, match="missing parameter"):
        corollary.conditions(d=4 * 10**6, C0=1.0, gamma=0.05)
    # A row over a grid of d without R: outside at every d of lazy-single-step's grid at m = 1000.
    row = {"m": 1000, "C0": 10.0, "gamma": 0.01, "over": "d", "grid": [49.0, 100.0, 400.0]}
    assert claim_conditions("wang2022.corollary_3_2", row) is False
    with pytest.raises(UserInputError, match="gamma"):
        corollary(**{**kw, "gamma": 0.1}, R=1.0)


def test_lemma_4_4_window_conditions():
    # ||delta|| <= O(1/sqrt(d)) leaves its constant free: rho is not a condition, the window is.
    kw = {"d": 4 * 10**6, "C0": 1.0, "gamma": 0.05}
    assert lemma44.condition_parameters() == {"d", "m"}
    assert lemma44.conditions(**kw, m=2 * 10**16, rho=6 / 2000)
    assert lemma44.conditions(d=4 * 10**6, m=2 * 10**16)
    assert not lemma44.conditions(**kw, m=10**15, rho=0.0)  # below d^2.4 = 6.9e15
    row = {"m": 1000, "C0": 10.0, "gamma": 0.1, "over": "d", "grid": [49.0, 100.0, 400.0]}
    assert claim_conditions("wang2022.lemma_4_4", row) is False
    assert lemma44.order == "o" and lemma44.exponents == {"d": 0.5}


# --- Bubeck et al. ------------------------------------------------------------------------------
bubeck = get_bound("bubeck2021.theorem")


@given(gamma=st.floats(1e-12, 1 - 1e-6), C4=st.floats(0.01, 100.0), grad=st.floats(0.01, 10.0))
def test_bubeck_perturbation_bound_equals_the_prescribed_step_at_unit_gradient(gamma, C4, grad):
    # A different route to sqrt(log(1/gamma)): it is t / sqrt(2) for the t at which the Gaussian
    # Chernoff tail exp(-t^2 / 2) equals gamma, found by root finding.
    t = optimize.brentq(lambda t: math.exp(-t * t / 2) - gamma, 0.0, 10.0, xtol=1e-300)
    value = bubeck(d=100, m=100, gamma=gamma, C4=C4)
    assert value == pytest.approx(C4 * t / math.sqrt(2), rel=1e-6)
    # ||eta grad f|| = C3 sqrt(log(1/gamma)) / ||grad f||: equal to the bound when C3 = C4 and
    # ||grad f|| = 1, the Theta(1) gradient scale of the bubeck scaling.
    eta = float(bubeck.step(grad, gamma, C3=C4))
    assert eta * grad == pytest.approx(value / grad, rel=1e-12)


def test_bubeck_conditions_match_the_slides():
    L = math.log(20)  # gamma = 0.05
    assert bubeck.conditions(d=19, m=27, gamma=0.05)
    assert not bubeck.conditions(d=19, m=26, gamma=0.05)  # k < C1 log^3(1/gamma) = 26.9
    d_needed = L * (math.log(1000) + L)  # d >= C2 log(k/gamma) log(1/gamma) at k = 1000
    assert bubeck.conditions(d=math.ceil(d_needed), m=1000, gamma=0.05)
    assert not bubeck.conditions(d=math.floor(d_needed), m=1000, gamma=0.05)


# --- exact laws F3 and F5: closed forms ---------------------------------------------------------
f3 = get_bound("exact.f3_s_lin")
f5_flips = get_bound("exact.f5_flips")
f5_jump = get_bound("exact.f5_gradient_jump")
f5_lin = get_bound("exact.f5_linearisation_error")


@given(x=st.floats(0.0, 1.0))
def test_f3_small_dimensions_are_the_arcsine_and_archimedes_laws(x):
    # d = 2: u_1 = cos(phi), P(|u_1| <= x) = 1 - (2/pi) arccos(x); d = 3: |u_1| ~ U(0, 1).
    assert f3.cdf([x], d=2)[0] == pytest.approx(1 - 2 / math.pi * math.acos(x), abs=1e-12)
    assert f3.cdf([x], d=3)[0] == pytest.approx(x, abs=1e-12)
    assert f3.cdf([x], d=1)[0] == (1.0 if x >= 1 else 0.0)


@pytest.mark.parametrize("d", [1, 2, 3, 10, 784, 10**5])
def test_f3_mean_and_variance_match_its_cdf(d):
    x = np.linspace(0, 1, 400_001)
    sf = 1 - f3.cdf(x, d=d)
    mean, second = np.trapezoid(sf, x), np.trapezoid(2 * x * sf, x)
    assert f3.mean(d=d) == pytest.approx(mean, rel=1e-5, abs=1e-9)
    assert f3.var(d=d) == pytest.approx(second - mean**2, rel=1e-3, abs=1e-9)
    assert f3.var(d=d) + f3.mean(d=d) ** 2 == pytest.approx(1 / d, rel=1e-12)  # E u_1^2 = 1/d


@given(s=st.floats(0.0, 6.0))
def test_f3_bubeck_limits(s):
    # s_lin in bubeck units is sqrt(d) |u_1| -> |N(0, 1)|; eta-flip rate -> 2 Phi(eta/sqrt 2) - 1.
    d = 10**7
    assert float(f3.linear_flip_probability(s, d, math.sqrt(d))[0]) == pytest.approx(
        2 * stats.norm.cdf(s) - 1, abs=1e-6
    )
    assert float(f3.eta_flip_rate_limit(s)) == pytest.approx(2 * stats.norm.cdf(s / 2**0.5) - 1)
    assert f3.mean(d=d) * math.sqrt(d) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-6)


def _flip_probability_by_quadrature(theta: float, n: int = 1_000_000) -> float:
    """P(sign <w, x> != sign <w, x'>) for w ~ N(0, I), angle(x, x') = theta: only the in-plane
    angle phi of w matters (uniform), <w, x> ~ cos(phi), <w, x'> ~ cos(phi - theta); midpoint
    rule on the indicator, whose 4 jumps cost at most 4/n."""
    phi = (np.arange(n) + 0.5) * (2 * math.pi / n)
    return float(np.mean(np.cos(phi) * np.cos(phi - theta) < 0))


@pytest.mark.parametrize("theta", [0.05, 0.3, 1.2, 2.5, math.pi])
@pytest.mark.parametrize("d", [2, 20, 784])
def test_f5_flips_and_gradient_jump_by_quadrature(d, theta):
    # Independent route: E||grad f(x') - grad f(x)||^2 = E[1{flip} ||w||^2] (wang, E a_s a_t =
    # 1[s = t]) = E[1{flip} r^2] + (d - 2) P(flip), with w = r (cos phi, sin phi) + w_perp in the
    # plane of x, x' and r^2 independent of phi: E[1{flip} r^2] = P(flip) int r^2 r e^{-r^2/2} dr.
    p = _flip_probability_by_quadrature(theta)
    r2 = integrate.quad(lambda r: r**3 * math.exp(-r * r / 2), 0, math.inf)[0]
    tol = 4e-6
    assert float(f5_flips.mean(m=d, theta=theta)) == pytest.approx(d * p, abs=d * tol)
    assert float(f5_flips.var(m=d, theta=theta)) == pytest.approx(d * p * (1 - p), abs=d * tol)
    assert float(f5_jump(d=d, theta=theta)) == pytest.approx(p * r2 + (d - 2) * p, abs=d * tol)


@given(d=st.integers(1, 10**6), theta=st.floats(0.0, math.pi), r=st.floats(0.0, 10.0))
def test_f5_values_limits_and_monotonicity(d, theta, r):
    assert f5_jump(d=min(d + 1, 10**6), theta=theta) >= f5_jump(d=d, theta=theta)
    lin = f5_lin(theta=theta, r=r)
    # Small angles: (theta - sin theta cos theta)/pi ~ 2 theta^3/(3 pi); theta = pi: all neurons
    # flip and the error is |<w, x + delta>|^2 with mean r^2.
    assert lin <= r * r * 2 * theta**3 / (3 * math.pi) * (1 + 1e-9) + 1e-300
    assert f5_lin(theta=math.pi, r=r) == pytest.approx(r * r)
    assert f5_jump(d=d, theta=math.pi) == pytest.approx(d)
    assert f5_lin(theta=min(theta + 0.01, math.pi), r=r) >= lin


# --- exact laws F3 and F5 against Monte Carlo with the core kernels -----------------------------
def _s_lin_samples(d: int, m: int, n: int, seed: int) -> np.ndarray:
    rng = generator(seed, "test-f3", d, m)
    spec = NetworkSpec(d=d, m=m)
    out = []
    for _ in range(n):
        net = sample_network(spec, rng)
        step_ = first_sign_flip(net, sample_inputs(spec, 1, rng), path="reference")
        if not step_.zero_output[0]:  # F3 is the law given f(x) != 0 (N >= 1)
            out.append(step_.s_lin[0])
    return np.asarray(out)


@pytest.mark.parametrize(("d", "m", "wrong_d"), [(6, 3, 8), (40, 200, 80)])
def test_f3_s_lin_law_against_first_sign_flip(d, m, wrong_d):
    # 4000 independent networks, one input each; m = 3 shows the law does not depend on m.
    s = _s_lin_samples(d, m, 4000, seed=11)
    assert ks_test(s, lambda t: f3.cdf(t, d=d)) > P_MIN
    assert ks_test(s, lambda t: f3.cdf(t, d=wrong_d)) < P_MIN  # power: a wrong dimension


@pytest.fixture(scope="module")
def f5_samples():
    """For theta in (0.3, 1.2): 3000 networks (d = 20, m = 100), x uniform, x + delta at angle
    theta and norm 1.3 with delta independent of W; flips, ||grad f(x+delta) - grad f(x)||^2 and
    the squared linearisation error per network."""
    d, m, n, r = 20, 100, 3000, 1.3
    out = {}
    for theta in (0.3, 1.2):
        rng = generator(12, "test-f5", str(theta))
        spec = NetworkSpec(d=d, m=m)
        rows = np.empty((n, 3))
        for i in range(n):
            net = sample_network(spec, rng)
            x, v = sample_inputs(spec, 2, rng)
            v = v - (v @ x) * x
            v /= np.linalg.norm(v)
            x_new = r * (math.cos(theta) * x + math.sin(theta) * v)
            delta = x_new - x
            flips = np.count_nonzero((net.W @ x > 0) != (net.W @ x_new > 0))
            jump = gradient_difference(net, x, delta, path="reference")[0] ** 2
            fw = output_and_gradient(net, np.stack([x, x_new]), path="reference")
            rows[i] = flips, jump, (fw.f[1] - fw.f[0] - fw.grad[0] @ delta) ** 2
        out[theta] = rows
    return {"d": d, "m": m, "r": r, "n": n, "data": out}


@pytest.mark.parametrize("theta", [0.3, 1.2])
def test_f5_flips_and_gradient_jump_against_kernels(f5_samples, theta):
    d, m, n = f5_samples["d"], f5_samples["m"], f5_samples["n"]
    flips, jump = f5_samples["data"][theta][:, 0], f5_samples["data"][theta][:, 1]
    # Flips of n m i.i.d. neurons: exactly Bin(n m, theta/pi) in total.
    p = float(f5_flips.mean(m=1, theta=theta))
    assert binomial_total_test(int(flips.sum()), n * m, p) > P_MIN
    assert binomial_total_test(int(flips.sum()), n * m, 1.05 * p) < P_MIN  # power
    assert mean_z_test(jump, f5_jump(d=d, theta=theta)) > P_MIN
    # Power: (d - 2) theta/pi would forget the two in-plane coordinates of the flipped w_s.
    assert mean_z_test(jump, (d - 2) * theta / math.pi) < P_MIN


def test_f5_linearisation_error_against_kernels(f5_samples):
    err = f5_samples["data"][1.2][:, 2]
    r = f5_samples["r"]
    assert mean_z_test(err, f5_lin(theta=1.2, r=r)) > P_MIN
    # Power: the small-angle approximation 2 theta^3/(3 pi) r^2 is 34% off at theta = 1.2.
    assert mean_z_test(err, r * r * 2 * 1.2**3 / (3 * math.pi)) < P_MIN


# --- width windows --------------------------------------------------------------------------------
_OTHER = {"C0": 1.0, "R": 1e6, "rho": 0.0}  # satisfy every condition that is not about m
_M_GRID = np.unique(np.round(10.0 ** np.arange(0.0, 60.25, 0.25)))


def _conditions_at(bound, m, d, gamma):
    names = {p.name for p in bound.params}
    kw = {k: v for k, v in {**_OTHER, "d": d}.items() if k in names}
    return np.asarray(bound.conditions(m=m, gamma=gamma, **kw))


@pytest.mark.parametrize("bound_id", WINDOWED)
@given(log_d=st.floats(0.0, 12.0), gamma=st.floats(1e-6, 0.09))
def test_window_is_non_empty_iff_the_conditions_hold_at_some_width(bound_id, log_d, gamma):
    bound = get_bound(bound_id)
    d = float(np.round(10.0**log_d))
    w = width_window(bound_id, d, gamma)
    m_low, m_high = w
    candidates = [*_M_GRID]
    if math.isfinite(m_low):
        candidates += [math.ceil(m_low), math.ceil(m_low) + 1]
    if math.isfinite(m_high):
        candidates += [max(1.0, math.floor(m_high))]
    m = np.asarray(candidates, dtype=float)
    holds = _conditions_at(bound, m, d, gamma)
    assert holds.any() == (not w.empty)
    if not w.empty:
        assert m_low <= m_high
        # Inside the window the conditions hold, outside they do not (Lemma 4.2's d-edge is
        # computed by Newton's method, so it is compared away from the edge).
        inside = w.contains(m)
        if bound_id == "wang2022.lemma_4_2":
            far = np.abs(np.log(m) - w.log_m_low) > 1e-9
            assert np.array_equal(inside[far], holds[far])
        else:
            assert np.array_equal(inside, holds)


@given(d=st.integers(2, 2_972_162))
def test_theorem_3_1_window_is_empty_below_the_threshold(d):
    assert width_window("wang2022.theorem_3_1", d).empty


@given(log_d=st.floats(math.log10(2_972_163), 30.0))
def test_windows_stay_non_empty_and_widen_beyond_the_threshold(log_d):
    d = float(np.round(10.0**log_d))
    for bound_id in ("wang2022.theorem_3_1", "wang2022.lemma_4_4"):
        w1, w2 = width_window(bound_id, d), width_window(bound_id, 2 * d)
        assert not w1.empty and not w2.empty
        assert w2.log_m_low > w1.log_m_low and w2.log_m_high > w1.log_m_high
        assert w2.log_m_high - w2.log_m_low > w1.log_m_high - w1.log_m_low


def test_theory_md_threshold_2_97e6_is_reproduced():
    # docs/theory.md [derived]: with C4 = 1, d^2.4 <= exp(d^0.24) needs d >= 2.97e6. Independent
    # solver: the larger root of exp(0.24 L) = 2.4 L, L = log d.
    root = optimize.brentq(lambda L: math.exp(0.24 * L) - 2.4 * L, 5.0, 50.0)
    assert math.exp(root) == pytest.approx(2.972162e6, rel=1e-6)
    first = first_dimension_with_window("wang2022.theorem_3_1")
    assert first == math.ceil(math.exp(root)) == 2_972_163
    assert abs(first / 2.97e6 - 1) < 0.01
    assert first_dimension_with_window("wang2022.lemma_4_4") == first
    assert width_window("wang2022.theorem_3_1", first - 1).empty
    assert not width_window("wang2022.theorem_3_1", first).empty


def test_the_degenerate_d_1_window():
    # d = 1: d^2.4 = 1 <= m <= e holds m in {1, 2} unless C3 log(1/gamma) > 2.
    assert not width_window("wang2022.theorem_3_1", 1, gamma=0.5).empty
    assert width_window("wang2022.theorem_3_1", 1, gamma=0.05).empty  # log 20 = 3.0 > e
    assert list(dimensions_with_window("wang2022.theorem_3_1", [1, 2, 3], 0.5)) == [1, 0, 0]


@given(C3=st.floats(0.01, 1e30), C4=st.floats(1e-3, 1e5), gamma=st.floats(1e-6, 0.5))
def test_wang_threshold_matches_its_closed_form(C3, C4, gamma):
    # Non-empty iff 2.4 L <= log C4 + e^{0.24 L} (two roots in L; the larger matters) and
    # log(C3 log(1/gamma)) <= log C4 + d^0.24 (monotone).
    def gap(L):
        return math.log(C4) + math.exp(0.24 * L) - 2.4 * L

    L_min = math.log(10.0) / 0.24  # where the gap is smallest (e^{0.24 L} = 10)
    d_power = math.exp(optimize.brentq(gap, L_min, 200.0)) if gap(L_min) < 0 else 1.0
    extra = math.log(C3 * math.log(1 / gamma) / C4)
    d_log = extra ** (1 / 0.24) if extra > 0 else 1.0
    expected = max(math.ceil(d_power), math.ceil(d_log), 1)
    got = first_dimension_with_window("wang2022.theorem_3_1", gamma, C3=C3, C4=C4)
    assert abs(got - expected) <= max(1, 1e-9 * expected)


@given(C1=st.floats(0.01, 100.0), C2=st.floats(0.01, 100.0), gamma=st.floats(1e-9, 0.9))
def test_bubeck_threshold_matches_its_closed_form(C1, C2, gamma):
    # log k <= d/(C2 L) - L with k >= max(1, C1 L^3) integer: d >= C2 L (L + log ceil(C1 L^3)).
    L = math.log(1 / gamma)
    k_min = max(1, math.ceil(C1 * L**3 * (1 - 1e-12)))
    expected = max(1, math.ceil(C2 * L * (L + math.log(k_min))))
    got = first_dimension_with_window("bubeck2021.theorem", gamma, C1=C1, C2=C2)
    assert abs(got - expected) <= 1


def test_window_object_and_errors():
    w = width_window("bubeck2021.theorem", 784, 0.05)
    assert isinstance(w, WidthWindow)
    m_low, m_high = w
    assert m_low == pytest.approx(math.log(20) ** 3) and m_high == pytest.approx(2.271e112, 1e-3)
    assert w.contains(1000) and not w.contains(10) and w.contains([27, 26]).tolist() == [1, 0]
    assert math.isinf(width_window("bubeck2021.theorem", 1e5, 0.05).m_high)  # overflows a float
    assert "e+" in width_window("bubeck2021.theorem", 1e5, 0.05).describe()
    assert not has_width_window(get_bound("wang2022.lemma_4_3"))
    with pytest.raises(UserInputError, match="no width window"):
        width_window("wang2022.lemma_4_3", 10)
    with pytest.raises(UserInputError, match=r"constant C4 must lie in \(0, inf\)"):
        width_window("wang2022.theorem_3_1", 10, C4=0.0)
    with pytest.raises(UserInputError, match="unknown constant"):
        width_window("wang2022.theorem_3_1", 10, C9=1.0)
    with pytest.raises(UserInputError, match="gamma"):
        width_window("wang2022.theorem_3_1", 10, gamma=1.5)
    with pytest.raises(UserInputError, match="d must"):
        width_window("wang2022.theorem_3_1", 0.5)


# --- theorycheck conditions ---------------------------------------------------------------------
def test_cli_conditions_at_784_is_empty_and_names_the_threshold(capsys):
    assert main(["conditions", "wang2022.theorem_3_1", "--d", "784", "--m", "1000", "1e5"]) == 0
    out = capsys.readouterr().out
    assert "width window at d = 784: empty" in out
    assert "m = 1,000: outside the window" in out and "m = 100,000: outside" in out
    assert "smallest d with a non-empty window: 2,972,163" in out
    assert "C3=1, C4=1" in out and "gamma=0.05" in out


def test_cli_conditions_bubeck_and_constants(capsys):
    main(["conditions", "bubeck2021.theorem", "--d", "784", "--m", "1000", "--gamma", "0.1"])
    out = capsys.readouterr().out
    assert "m = 1,000: inside the window" in out and "smallest d with a non-empty window: 12" in out
    main(["conditions", "wang2022.theorem_3_1", "--d", "3e6", "--constant", "C4=100"])
    out = capsys.readouterr().out
    assert "m in [" in out and "1,258,241" in out and "C4=100" in out
    main(["conditions", "wang2022.lemma_4_3", "--d", "10"])
    assert "width window: none" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["wang2022.theorem_3_2", "--d", "784"], "unknown bound 'wang2022.theorem_3_2'"),
        (["wang2022.theorem_3_1", "--d", "0"], "d must be an integer >= 1"),
        (["wang2022.theorem_3_1", "--d", "784", "--m", "2.5"], "m must be an integer >= 1"),
        (["wang2022.theorem_3_1", "--d", "784", "--gamma", "2"], "gamma must lie in (0, 1)"),
        (["wang2022.theorem_3_1", "--d", "9", "--constant", "C4"], "--constant takes NAME=VALUE"),
    ],
)
def test_cli_conditions_user_errors_exit_2(capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        main(["conditions", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_conditions_report_lists_small_d_islands():
    text = conditions_report("wang2022.lemma_4_4", "10", constants=["C4=2"])
    assert "also non-empty at the isolated small d = 1-2" in text


# --- the width-window simulation -----------------------------------------------------------------
def test_width_window_simulation_checks_the_stated_threshold(monkeypatch):
    import theorycheck.simulations.width_window as ww
    from theorycheck.simulations import get_simulation

    sim = get_simulation("width-window")
    cfg = sim.configs("quick")[0]
    data = {cfg: sim.measure(cfg, generator(0, "unused"))}
    ev = sim.evaluate(data)
    rows = {(v.claim, v.statistic.split(" (")[0]): v for v in ev.verdicts}
    threshold = rows[("wang2022.theorem_3_1", "smallest d with a non-empty width window")]
    assert threshold.verdict == "AGREES" and threshold.estimate == 2_972_163
    fig2 = next(v for v in ev.verdicts if v.statistic.startswith("number of Fig. 2"))
    assert fig2.verdict == "AGREES" and fig2.estimate == 0
    table = ev.summary[ev.summary["figure"] == "fig2-table"]
    assert sorted(table["x"].unique()) == [25, 49, 100, 196, 400, 625, 784]
    assert (table[table["series"] == "window empty (1 = yes)"]["estimate"] == 1).all()
    assert {f.name for f in ev.figures} == {"window", "dimensions"}
    for claim in sim.claims:
        assert claim in REGISTRY
    # A wrong stated number would be reported, not hidden.
    monkeypatch.setattr(ww, "THEORY_STATED_THRESHOLD", 3.1e6)
    wrong = [v for v in sim.evaluate(data).verdicts if v.test == "exact computation"]
    assert [v.verdict for v in wrong[:2]] == ["DISAGREES", "DISAGREES"]
