"""Hermite coefficients and Gaussian moments (theorycheck.quadratic.hermite).

Statistical tests: sample means over n = 4e5 draws of (u, v) against the exact moment, rejected at
|z| > 6 (nominal two-sided 2e-9; a correct implementation fails with probability < 1e-6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theorycheck.activations import get_activation
from theorycheck.quadratic.hermite import FUNCTIONS, GaussianMoments, hermite_series, pair_matrix
from theorycheck.seeding import generator

Z_MAX = 6.0


def test_relu_hermite_coefficients_match_the_closed_form():
    # docs/derivations/quadratic.md: mu0 = 1/sqrt(2 pi), mu1 = 1/2, mu2 = 1/(2 sqrt pi), mu_odd>=3
    # = 0,
    # mu_2p = (-1)^(p+1) (2p-3)!! / sqrt(2 pi (2p)!).
    mu = get_activation("relu").hermite_coefficients(6)  # beyond 6 quad warns of roundoff
    assert mu[0] == pytest.approx(1 / math.sqrt(2 * math.pi), abs=1e-12)
    assert mu[1] == pytest.approx(0.5, abs=1e-12)
    assert mu[2] == pytest.approx(1 / (2 * math.sqrt(math.pi)), abs=1e-12)
    assert np.allclose(mu[3::2], 0.0, atol=1e-12)
    for p in (2, 3):
        double_fact = math.prod(range(2 * p - 3, 0, -2))
        closed = (-1) ** (p + 1) * double_fact / math.sqrt(2 * math.pi * math.factorial(2 * p))
        assert mu[2 * p] == pytest.approx(closed, abs=1e-10)
    assert mu[4] == pytest.approx(-0.081434, abs=1e-6) and mu[6] == pytest.approx(
        0.044603, abs=1e-6
    )


@pytest.mark.parametrize("name", ["gelu", "tanh", "softplus", "quadratic"])
def test_recurrence_coefficients_equal_the_activation_module(name):
    act = get_activation(name)
    assert np.allclose(hermite_series(act.sigma, 8), act.hermite_coefficients(8), atol=1e-10)


def test_gelu_constants_of_quadratic_md():
    moments = GaussianMoments("gelu")
    c = moments.coefficients("s")
    assert c[[0, 1, 2, 4]] == pytest.approx([0.282095, 0.5, 0.299207, -0.071978], abs=1e-6)
    assert moments.univariate("s", "s") == pytest.approx(0.425221, abs=1e-6)
    assert moments.univariate("d", "d") == pytest.approx(0.455851, abs=1e-6)
    assert moments.univariate("dd", "dd") == pytest.approx(0.275664, abs=1e-6)


PAIRS = [
    ("s", "s"),
    ("d", "d"),
    ("uud", "d"),
    ("ud", "ud"),
    ("us", "d"),
    ("s", "ud"),
    ("ud", "dd"),
    ("d", "udd"),
    ("dd", "dd"),
    ("uudd", "dd"),
    ("udd", "udd"),
    ("s", "d"),
]


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
@pytest.mark.parametrize("rho", [-0.55, 0.3, 0.93])  # 0.93 takes the direct branch (smooth)
def test_bivariate_moments_match_brute_force(activation, rho):
    moments = GaussianMoments(activation)
    rng = generator(0, "bivariate", activation, str(rho))
    n = 400_000
    u = rng.standard_normal(n)
    v = rho * u + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
    for f, g in PAIRS:
        if activation == "relu" and 2 in (FUNCTIONS[f][1], FUNCTIONS[g][1]):
            assert moments.bivariate(f, g, np.array([rho]))[0] == 0.0  # sigma'' = 0 a.e.
            continue
        x = moments.function(f)(u) * moments.function(g)(v)
        exact = moments.bivariate(f, g, np.array([rho]))[0]
        z = (x.mean() - exact) / (x.std(ddof=1) / math.sqrt(n))
        assert abs(z) < Z_MAX, (f, g, exact, x.mean())


def test_relu_closed_forms_against_the_general_series_on_a_smooth_proxy():
    # softplus(k t)/k -> relu as k grows; at |rho| < 1 the moments converge. A check of the
    # orthant formulas independent of sampling (k = 60: error O(1/k)).
    relu = GaussianMoments("relu")
    rho = np.array([-0.7, -0.2, 0.0, 0.4, 0.75])
    exact = relu.bivariate("s", "s", rho)
    t, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    k = 60.0
    for i, r in enumerate(rho):
        v = r * t[:, None] + math.sqrt(1 - r * r) * t[None, :]
        sp = np.logaddexp(0, k * t)[:, None] / k * np.logaddexp(0, k * v) / k
        assert float(w @ sp @ w) == pytest.approx(exact[i], abs=2e-3)
    assert exact == pytest.approx(
        (np.sqrt(1 - rho**2) + (np.pi - np.arccos(rho)) * rho) / (2 * np.pi)
    )


@settings(max_examples=30)
@given(rho=st.floats(-0.99, 0.99), name=st.sampled_from(["relu", "gelu", "tanh", "quadratic"]))
def test_moments_obey_cauchy_schwarz_and_symmetry(rho, name):
    moments = GaussianMoments(name)
    for f in ("s", "d", "ud"):
        val = moments.bivariate(f, f, np.array([rho]))[0]
        assert abs(val) <= moments.univariate(f, f) * (1 + 1e-9) + 1e-12
    a = moments.bivariate("s", "ud", np.array([rho]))[0]
    b = moments.bivariate("ud", "s", np.array([rho]))[0]
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


@settings(max_examples=20)
@given(
    d=st.integers(2, 12),
    m=st.integers(1, 15),
    seed=st.integers(0, 10**6),
    name=st.sampled_from(["relu", "gelu", "tanh"]),
)
def test_kernel_matrices_are_covariances(d, m, seed, name):
    rng = generator(seed, "kernel-psd")
    W = rng.standard_normal((m, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    moments = GaussianMoments(name)
    rho = np.clip(W @ W.T, -1, 1)
    for f in ("s", "d"):
        K = pair_matrix(moments, f, f, rho)
        assert np.allclose(K, K.T)
        assert np.linalg.eigvalsh(K).min() > -1e-9 * max(1.0, np.abs(K).max())
