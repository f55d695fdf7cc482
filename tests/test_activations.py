"""Activations: numba twins, derivatives, conventions, Hermite coefficients and Gaussian moments.

Closed forms (derived here by Gaussian integration by parts, E[sigma(g) He_k(g)] =
E[sigma^(k)(g)], and checked against the 6-digit tables of docs/derivations/quadratic.md "Hermite
conventions"):

* relu: mu0 = 1/sqrt(2 pi), mu1 = 1/2, mu2 = 1/(2 sqrt pi), odd k >= 3: 0,
  mu_2p = (-1)^(p+1) (2p-3)!! / sqrt(2 pi (2p)!); E sigma^2 = E sigma'^2 = E[sigma'^2 g^2] = 1/2.
* gelu t Phi(t): sigma'' = phi (2 - t^2), sigma'''' = phi (-t^4 + 7 t^2 - 4), and
  E[phi(g) p(g)] = (2 pi)^-1 int e^{-t^2} p(t) dt, so mu0 = E phi(g) = 1/(2 sqrt pi),
  mu1 = 1/2, mu2 = (3 / (4 sqrt pi)) / sqrt 2, mu3 = 0 (t Phi(t) - t/2 is even),
  mu4 = (-5 / (8 sqrt pi)) / sqrt 24; E sigma^2 = E Phi^2 + E[(Phi^2)''] = 1/3 + 1/(2 pi sqrt 3),
  E sigma'^2 = 1/3 + 2/(3 pi sqrt 3).
* quadratic t^2 = He_2 + 1: mu0 = 1, mu2 = sqrt 2, others 0; E sigma'^2 = 4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import integrate, special

from theorycheck.activations import ACTIVATIONS, act_deriv, act_value, get_activation

EPS = float(np.finfo(np.float64).eps)
SQRT_PI = math.sqrt(math.pi)
SQRT_2PI = math.sqrt(2 * math.pi)
TABLE_TOL = 5e-7  # docs/derivations/quadratic.md gives 6 decimals: half a unit in the last place
QUAD_TOL = (
    1e-10  # quadrature (Gauss-Hermite with 160 nodes / adaptive Gauss-Kronrod) vs closed form
)


def _double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2)) if n > 0 else 1


# -- Hermite coefficients and moments ------------------------------------------------------------


def test_relu_hermite_coefficients():
    mu = get_activation("relu").hermite_coefficients(9)
    closed = {0: 1 / SQRT_2PI, 1: 0.5, 2: 1 / (2 * SQRT_PI)}
    for p in (2, 3, 4):
        closed[2 * p] = (
            (-1) ** (p + 1)
            * _double_factorial(2 * p - 3)
            / math.sqrt(2 * math.pi * math.factorial(2 * p))
        )
    for k in (3, 5, 7, 9):
        closed[k] = 0.0
    for k, value in closed.items():
        assert mu[k] == pytest.approx(value, abs=QUAD_TOL), f"mu_{k}"
    table = {
        0: 0.398942,
        1: 0.5,
        2: 0.282095,
        4: -0.081434,
        6: 0.044603,
    }  # docs/derivations/quadratic.md
    for k, value in table.items():
        assert mu[k] == pytest.approx(value, abs=TABLE_TOL), f"mu_{k} (table)"


def test_relu_moments():
    act = get_activation("relu")
    assert act.second_moment == pytest.approx(0.5, abs=QUAD_TOL)
    assert act.derivative_second_moment == pytest.approx(0.5, abs=QUAD_TOL)
    assert act.weighted_derivative_moment == pytest.approx(0.5, abs=QUAD_TOL)


def test_gelu_hermite_coefficients_and_moments():
    act = get_activation("gelu")
    mu = act.hermite_coefficients(4)
    closed = [1 / (2 * SQRT_PI), 0.5, 3 / (4 * SQRT_PI) / math.sqrt(2), 0.0,
              -5 / (8 * SQRT_PI) / math.sqrt(24)]  # fmt: skip
    np.testing.assert_allclose(mu, closed, rtol=0, atol=QUAD_TOL)
    np.testing.assert_allclose(mu[[0, 1, 2, 4]], [0.282095, 0.5, 0.299207, -0.071978],
                               rtol=0, atol=TABLE_TOL)  # fmt: skip
    e_sigma2 = 1 / 3 + 1 / (2 * math.pi * math.sqrt(3))
    e_dsigma2 = 1 / 3 + 2 / (3 * math.pi * math.sqrt(3))
    assert act.second_moment == pytest.approx(e_sigma2, abs=QUAD_TOL)
    assert act.derivative_second_moment == pytest.approx(e_dsigma2, abs=QUAD_TOL)
    assert act.second_moment == pytest.approx(0.425221, abs=TABLE_TOL)
    assert act.derivative_second_moment == pytest.approx(0.455851, abs=TABLE_TOL)


def test_quadratic_and_tanh_hermite_structure():
    mu = get_activation("quadratic").hermite_coefficients(6)
    np.testing.assert_allclose(mu, [1, 0, math.sqrt(2), 0, 0, 0, 0], rtol=0, atol=QUAD_TOL)
    assert get_activation("quadratic").derivative_second_moment == pytest.approx(4, abs=QUAD_TOL)
    tanh = get_activation("tanh").hermite_coefficients(6)  # odd function: even mu vanish
    np.testing.assert_allclose(tanh[[0, 2, 4, 6]], 0.0, rtol=0, atol=QUAD_TOL)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_moments_by_independent_quadrature(name):
    """Stein's identities mu1 = E sigma'(g), mu2 = E sigma''(g) / sqrt 2 and the Parseval-type
    sums E sigma'^2 >= mu1^2 + 2 mu2^2, evaluated with scipy's adaptive quadrature (not the
    implementation's Gauss-Hermite rule)."""
    act = get_activation(name)

    def expect(fn):
        pieces = [(-np.inf, 0.0), (0.0, np.inf)]  # split at relu's kink (harmless elsewhere)
        return sum(
            integrate.quad(lambda t: float(fn(t)) * math.exp(-t * t / 2) / SQRT_2PI, lo, hi,
                           epsabs=1e-13, epsrel=1e-12, limit=200)[0]
            for lo, hi in pieces
        )  # fmt: skip

    mu = act.hermite_coefficients(2)
    assert mu[1] == pytest.approx(expect(act.dsigma), abs=QUAD_TOL)
    if name != "relu":  # relu's sigma'' is a Dirac mass at 0: mu2 = phi(0) / sqrt 2 (tested above)
        assert mu[2] == pytest.approx(expect(act.d2sigma) / math.sqrt(2), abs=QUAD_TOL)
    assert act.second_moment == pytest.approx(expect(lambda t: act.sigma(t) ** 2), abs=QUAD_TOL)
    assert act.derivative_second_moment == pytest.approx(
        expect(lambda t: act.dsigma(t) ** 2), abs=QUAD_TOL
    )
    assert act.derivative_second_moment >= mu[1] ** 2 + 2 * mu[2] ** 2 - QUAD_TOL
    assert act.second_moment >= mu[0] ** 2 + mu[1] ** 2 + mu[2] ** 2 - QUAD_TOL


# -- numba twins, derivatives, conventions --------------------------------------------------------

# sigma and sigma' of gelu and sigma' of tanh are differences of O(1) numbers (1 + erf, 1 - tanh^2):
# their absolute error is ~ eps (times |t| for gelu's sigma), whatever their size.
SIGMA_FLOOR = {"gelu": 1.0}
DSIGMA_FLOOR = {"gelu": 1.0, "tanh": 1.0}


@given(name=st.sampled_from(list(ACTIVATIONS)), t=st.floats(-60.0, 60.0))
def test_numba_twins_match_numpy(name, t):
    act = ACTIVATIONS[name]
    v, dv = float(act.sigma(np.array(t))), float(act.dsigma(np.array(t)))
    tol_v = 8 * EPS * (abs(v) + SIGMA_FLOOR.get(name, 0.0) * abs(t))
    tol_dv = 8 * EPS * (abs(dv) + DSIGMA_FLOOR.get(name, 0.0))
    assert abs(act_value(act.code, t) - v) <= tol_v
    assert abs(act_deriv(act.code, t) - dv) <= tol_dv


def test_relu_derivative_at_zero_is_zero():
    """docs/theory.md Sec. 1: sigma'(0) := 0, a neuron is active iff its pre-activation is > 0."""
    relu = get_activation("relu")
    assert act_deriv(relu.code, 0.0) == 0.0 and act_deriv(relu.code, -0.0) == 0.0
    assert float(relu.dsigma(np.array(0.0))) == 0.0
    assert act_deriv(relu.code, 5e-324) == 1.0


# sup |sigma'''| and sup |sigma''''| (closed forms or polynomial maxima, see test_kernels.py).
def _sup_tanh4():
    y = np.linspace(-1.0, 1.0, 200_001)  # tanh'''' = 8 y (1 - y^2)(2 - 3 y^2), y = tanh t
    return float(np.max(np.abs(8 * y * (1 - y**2) * (2 - 3 * y**2)))) * 1.001


SUP3 = {
    "relu": 0.0,
    "softplus": math.sqrt(3) / 18,
    "tanh": 2.0,
    "quadratic": 0.0,
    "gelu": 0.78,
}  # fmt: skip  gelu: phi(t)|t^3 - 4t| <= 0.7797 (at t^2 = (7 - sqrt 33)/2)
SUP4 = {
    "relu": 0.0,
    "softplus": 0.125,
    "tanh": _sup_tanh4(),
    "quadratic": 0.0,
    "gelu": 4 / SQRT_2PI,
}  # fmt: skip  gelu: phi(t)|t^4 - 7t^2 + 4| is largest at t = 0


@given(name=st.sampled_from(list(ACTIVATIONS)), t=st.floats(-20.0, 20.0))
def test_derivatives_match_central_differences(name, t):
    """sigma' and sigma'' against central differences (step h = 2^-17): error <= h^2/6 sup|f'''|
    + 2 * (rounding of the two values) / (2h); relu only away from its kink."""
    act = ACTIVATIONS[name]
    h = 2.0**-17
    assume(name != "relu" or abs(t) > 2 * h)
    for fn, dfn, sup3, floor in (
        (act.sigma, act.dsigma, SUP3[name], SIGMA_FLOOR.get(name, 0.0) * (abs(t) + h)),
        (act.dsigma, act.d2sigma, SUP4[name], DSIGMA_FLOOR.get(name, 0.0)),
    ):
        tp, tm = t + h, t - h
        step = tp - tm
        vp, vm = float(fn(np.array(tp))), float(fn(np.array(tm)))
        fd = (vp - vm) / step
        exact = float(dfn(np.array(t)))
        rounding = 8 * EPS * (abs(vp) + abs(vm) + 2 * floor) / step
        assert abs(fd - exact) <= step**2 / 24 * sup3 + rounding + 4 * EPS * abs(exact)


def test_critical_points_and_monotonicity():
    t = np.linspace(-30, 30, 60_001)
    for act in ACTIVATIONS.values():
        d = act.dsigma(t)
        if act.monotone:
            assert np.all(d >= 0), act.name
        else:
            assert np.any(d < 0), act.name
        for c in act.critical_points:
            # gelu's minimum is a Brent root to 1e-15: |sigma'(c)| <= sup|sigma''| 1e-15 + rounding
            assert abs(float(act.dsigma(np.array(c)))) <= 1e-15 + 8 * EPS, act.name
    tc = get_activation("gelu").critical_points[0]
    assert tc == pytest.approx(-0.7517915247, abs=1e-10)  # docs/derivations/worst_output.md
    assert float(get_activation("gelu").sigma(np.array(tc))) == pytest.approx(
        -0.1699712075, abs=1e-10
    )


def test_gelu_is_negative_on_the_whole_negative_axis():
    """gelu(t) = t Phi(t) < 0 for every t < 0; t Phi(t) stays a normal double down to t = -37
    (Phi(-37) ~ 6e-300). A sign error here turns a far-negative pre-activation into f = 0, which
    the single-step attack counts as a sign flip (see tests/test_attack.py)."""
    gelu = get_activation("gelu")
    t = -np.geomspace(1e-3, 37.0, 2000)
    exact = t * special.ndtr(t)  # ndtr keeps Phi accurate in the left tail
    assert np.all(exact < 0)
    assert np.all(gelu.sigma(t) < 0), f"gelu(t) = 0 from t = {t[gelu.sigma(t) >= 0].max():.3f}"
    assert all(act_value(gelu.code, float(s)) < 0 for s in t)


@given(name=st.sampled_from([n for n, a in ACTIVATIONS.items() if a.joint is not None]),
       t=st.floats(-60.0, 60.0))  # fmt: skip
def test_jet_equals_the_three_functions(name, t):
    """Activation.jet's shared-work fast path (one tanh; one exp and one ndtr for gelu) against
    sigma, sigma', sigma'' computed separately: the same formulas, so equal to a few ulps of
    the terms (gelu's Phi + t phi and phi (2 - t^2) are summed in the same order). Only the
    activations with a joint jet: for the others jet is the three functions themselves."""
    act = ACTIVATIONS[name]
    x = np.array([t])
    for got, want, floor in zip(
        act.jet(x),
        (act.sigma(x), act.dsigma(x), act.d2sigma(x)),
        (SIGMA_FLOOR.get(name, 0.0) * abs(t), DSIGMA_FLOOR.get(name, 0.0), 1.0),
        strict=True,
    ):
        assert got.shape == x.shape
        assert abs(float(got[0]) - float(want[0])) <= 8 * EPS * (abs(float(want[0])) + floor)
