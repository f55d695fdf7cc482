"""Inputs uniform on the sphere of radius sqrt(d) (theorycheck.quadratic.sphere and the law='sphere'
options of the solvers and trainers; docs/derivations/quadratic.md Sec. 10).

Statistical tests follow tests/test_quadratic_solvers.py: a z-statistic of a sample mean over
n = 2e5 fresh sphere inputs against the exact value, rejected at |z| > 6 (nominal two-sided
probability 2e-9; the margin covers the skewness of squared errors, so a correct solver fails
with probability < 1e-6). Power: the same test rejects a 3% error in the exact value, and rejects
the Gaussian solver's values on sphere inputs (the two laws differ at these d).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theorycheck.activations import get_activation
from theorycheck.errors import UserInputError
from theorycheck.quadratic import (
    GaussianMoments,
    lazy_fit,
    least_squares,
    monte_carlo_metrics,
    nn_eckart_young,
    nt_fit,
    nt_frobenius,
    online_sgd_linear,
    quadratic_form_metrics,
    rf_fit,
    rf_frobenius,
    sample_first_layer,
    sample_target,
    train_quadratic_network,
)
from theorycheck.quadratic.frobenius import nn_sign_constrained
from theorycheck.quadratic.sphere import radial_factor
from theorycheck.quadratic.targets import sample_inputs
from theorycheck.quadratic.training import feature_map, linear_model, network_gradients
from theorycheck.seeding import generator

Z_MAX = 6.0
N_MC = 200_000


def _z(samples: np.ndarray, exact: float) -> float:
    return (samples.mean() - exact) / (samples.std(ddof=1) / math.sqrt(samples.size))


def _problem(d: int, m: int, seed: int, **energies):
    rng = generator(seed, "test-sphere", d, m)
    target = sample_target(d, rng, **{"F1sq": 1.0, "F2sq": 1.0, "Ftrsq": 0.5, **energies})
    return target, sample_first_layer(d, m, rng), rng


# --- the radial factor and the target ------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3, 8, 40])
def test_radial_factor_is_d_to_the_p_half_over_the_chi_moment(d):
    assert radial_factor(d, 0) == 1.0
    assert radial_factor(d, 2) == pytest.approx(1.0, rel=1e-13)
    assert radial_factor(d, 4) == pytest.approx(d / (d + 2), rel=1e-13)
    for p in (1, 3, 5):
        assert radial_factor(d, p) == pytest.approx(
            d ** (p / 2) / stats.chi(d).moment(p), rel=1e-10
        )


def test_sphere_inputs_have_norm_sqrt_d_and_identity_covariance():
    rng = generator(0, "sphere-inputs")
    X = sample_inputs(6, N_MC, rng, "sphere")
    assert np.allclose(np.sum(X * X, axis=1), 6.0, rtol=1e-12)
    # E x x^T = I: each entry of the sample covariance within 6 standard errors.
    C = X.T @ X / N_MC
    se = math.sqrt(2.0 / N_MC)  # Var(x_i^2) <= 2 on the sphere (= 2 d / (d + 2))
    assert np.max(np.abs(C - np.eye(6))) < Z_MAX * se


def test_sphere_target_variance_matches_monte_carlo_and_differs_from_gaussian():
    rng = generator(1, "sphere-target")
    t = sample_target(6, rng, F1sq=0.7, F2sq=1.3, Ftrsq=0.4)
    X = sample_inputs(6, N_MC, rng, "sphere")
    f = t.value(X)
    assert t.variance_under("sphere") == pytest.approx(0.7 + 1.3 * 6 / 8, rel=1e-12)
    assert abs(_z(f, 0.0)) < Z_MAX
    assert abs(_z(f * f, t.variance_under("sphere"))) < Z_MAX
    assert abs(_z(f * f, t.variance_under("gaussian"))) > Z_MAX  # power: the laws differ
    g = np.sum(t.gradient(X) ** 2, axis=1)
    assert abs(_z(g, t.robustness)) < Z_MAX  # S(f*) is the same under both laws


# --- exact sphere solvers against brute-force Monte Carlo --------------------------------------
CASES = [("relu", "rf"), ("quadratic", "rf"), ("relu", "nt"), ("quadratic", "nt")]


@pytest.mark.parametrize(("activation", "regime"), CASES)
def test_exact_sphere_solver_matches_brute_force_monte_carlo(activation, regime):
    target, W, rng = _problem(8, 6, 2)
    moments = GaussianMoments(activation)
    solver = rf_fit if regime == "rf" else nt_fit
    fit = solver(target, W, moments, law="sphere")
    mc = monte_carlo_metrics(fit.model, target, N_MC, rng, law="sphere")
    assert abs(_z(mc.errors, fit.eps)) < Z_MAX
    assert abs(_z(mc.energies, fit.S)) < Z_MAX
    assert abs(_z(mc.values, 0.0)) < Z_MAX  # the intercept centres the fit under the sphere law
    assert abs(_z((mc.values - mc.values.mean()) ** 2, fit.variance)) < Z_MAX
    # Power: a 3% error in the exact values would be rejected, and so is the Gaussian solution.
    assert abs(_z(mc.errors, 1.03 * fit.eps)) > Z_MAX or abs(_z(mc.energies, 1.03 * fit.S)) > Z_MAX
    gauss = solver(target, W, moments)
    mc_g = monte_carlo_metrics(gauss.model, target, N_MC, rng, law="sphere")
    assert abs(_z(mc_g.errors, gauss.eps)) > Z_MAX


@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_exact_sphere_lazy_fit_matches_brute_force_monte_carlo(regime):
    target, W, rng = _problem(8, 5, 3)
    a0 = rng.choice([-1.0, 1.0], 5)
    fit = lazy_fit(target, W, a0, GaussianMoments("relu"), regime, law="sphere")
    assert abs(fit.residual_norm_sq) < 1e-12 and abs(fit.residual_energy) < 1e-10
    mc = monte_carlo_metrics(fit.model(3.0), target, N_MC, rng, law="sphere")
    assert abs(_z(mc.errors, fit.eps(3.0))) < Z_MAX
    assert abs(_z(mc.energies, fit.S(3.0))) < Z_MAX


@pytest.mark.parametrize(("d", "m"), [(6, 2), (9, 5), (7, 12)])
def test_t2_sphere_frobenius_routes_equal_the_general_sphere_solvers(d, m):
    # RF for every m; NT for m < d only (for m >= d the NT fit's S is not identified on the
    # sphere: the Frobenius route returns the smallest-S representative, the general solver the
    # minimum-norm coefficients, which agree on the sphere but not in their gradient).
    target, W, _ = _problem(d, m, 4)
    moments = GaussianMoments("quadratic")
    pairs = [(rf_frobenius(target, W, "sphere"), rf_fit(target, W, moments, law="sphere"))]
    nt_general = nt_fit(target, W, moments, law="sphere", method="dense")
    nt_exact = nt_frobenius(target, W, "sphere")
    assert nt_general.eps == pytest.approx(nt_exact.eps, rel=1e-8, abs=1e-10)
    if m < d:
        pairs.append((nt_exact, nt_general))
    else:
        assert nt_exact.S <= nt_general.S + 1e-10  # the smallest-S representative
    for exact, general in pairs:
        assert general.eps == pytest.approx(exact.eps, rel=1e-8, abs=1e-10)
        assert general.S == pytest.approx(exact.S, rel=1e-8, abs=1e-10)
        assert general.variance == pytest.approx(exact.variance, rel=1e-8, abs=1e-10)


def test_sphere_nt_cg_equals_dense():
    target, W, _ = _problem(7, 9, 5)
    moments = GaussianMoments("relu")
    dense = nt_fit(target, W, moments, law="sphere", method="dense")
    cg = nt_fit(target, W, moments, law="sphere", method="cg", tol=1e-12)
    assert cg.eps == pytest.approx(dense.eps, rel=1e-9)
    assert cg.S == pytest.approx(dense.S, rel=1e-8)


def test_t2_lazy_nt_on_the_sphere_keeps_a_radial_residual_when_m_exceeds_d():
    # f0 is in the tangent span as a function on the sphere (residual norm 0), but for m >= d the
    # span contains ||x||^2, so the minimum-norm coefficients of Pi_T f0 differ from f0's own off
    # the sphere: the residual has Euclidean gradient energy. For m < d it vanishes entirely.
    moments = GaussianMoments("quadratic")
    for m, radial in ((4, False), (9, True)):
        target, W, rng = _problem(6, m, 6)
        fit = lazy_fit(target, W, rng.choice([-1.0, 1.0], m), moments, "nt", law="sphere")
        assert abs(fit.residual_norm_sq) < 1e-12
        assert (fit.residual_energy > 1e-3) == radial


def test_sphere_solvers_refuse_non_homogeneous_activations_with_a_clear_error():
    target, W, _ = _problem(6, 3, 7)
    for solver in (rf_fit, nt_fit):
        with pytest.raises(UserInputError, match="no exact sphere solver for 'gelu'"):
            solver(target, W, GaussianMoments("gelu"), law="sphere")
    with pytest.raises(UserInputError, match="law must be one of"):
        rf_fit(target, W, GaussianMoments("relu"), law="ball")


# --- the quadratic network on the sphere ----------------------------------------------------
def _window_brute_force(lam: np.ndarray, k: int) -> float:
    """min over every set of k discarded eigenvalues of their spread around their mean."""
    if k <= 0:
        return 0.0
    return min(float(np.var(lam[list(c)]) * k) for c in itertools.combinations(range(lam.size), k))


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 8), m=st.integers(1, 9), seed=st.integers(0, 10**6))
def test_sphere_eckart_young_is_the_best_rank_m_plus_shift(d, m, seed):
    target, _, rng = _problem(d, 1, seed, F1sq=0.4)
    best = nn_eckart_young(target, m, "sphere")
    lam = np.linalg.eigvalsh(target.B0)
    kappa = d / (d + 2)
    assert best.eps == pytest.approx(0.4 + 2 * kappa * _window_brute_force(lam, d - m), abs=1e-12)
    for _ in range(5):  # random rank-m competitors with a free shift (the intercept)
        k = min(m, d)
        V = rng.standard_normal((k, d))
        M = V.T @ np.diag(rng.standard_normal(k)) @ V
        eps, _, _ = quadratic_form_metrics(target, M, None, -np.trace(M), "sphere")
        assert eps >= best.eps - 1e-12
    assert np.linalg.matrix_rank(best.model.M, tol=1e-9) <= m


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 7), n_pos=st.integers(0, 4), n_neg=st.integers(0, 4),
       seed=st.integers(0, 10**6))  # fmt: skip
def test_sphere_sign_constrained_optimum_beats_every_shift(d, n_pos, n_neg, seed):
    # Brute force over t: for fixed t the best M keeps the n_pos largest positive and n_neg most
    # negative eigenvalues of B0 - t I; the solver must be at least as good as every t on a grid.
    target, _, _ = _problem(d, 1, seed, F1sq=0.0)
    fit = nn_sign_constrained(target, n_pos, n_neg, "sphere")
    lam = np.linalg.eigvalsh(target.B0)
    kappa = d / (d + 2)

    def at(t):
        s = lam - t
        pos = np.sort(s[s > 0])[::-1][:n_pos]
        neg = np.sort(s[s < 0])[:n_neg]
        return 2 * kappa * (np.sum(s * s) - np.sum(pos**2) - np.sum(neg**2))

    grid = np.linspace(lam.min() - 0.1, lam.max() + 0.1, 2001)
    values = np.array([at(t) for t in grid])
    assert fit.eps <= values.min() + 1e-12
    assert fit.eps == pytest.approx(at(fit.details.get("shift", 0.0)), abs=1e-12)
    M = fit.model.M
    ev = np.linalg.eigvalsh(M)
    assert np.sum(ev > 1e-9) <= n_pos and np.sum(ev < -1e-9) <= n_neg


# --- training on sphere samples ----------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(d=st.integers(2, 9), m=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_network_gradient_routes_agree(d, m, seed):
    rng = generator(seed, "grad-routes")
    target = sample_target(d, rng, F1sq=0.5, F2sq=1.0, Ftrsq=0.3)
    W, a = rng.standard_normal((m, d)), rng.standard_normal(m)
    X = sample_inputs(d, 17, rng, "sphere")
    ref = network_gradients(X, W, a, 0.3, target, "neurons")
    fast = network_gradients(X, W, a, 0.3, target, "matrix")
    for r, f in zip(ref, fast, strict=True):
        assert np.allclose(r, f, rtol=1e-10, atol=1e-10)


def test_sgd_on_sphere_inputs_reaches_the_sphere_optimum():
    rng = generator(0, "sgd-sphere")
    target = sample_target(10, rng, F1sq=0.0, F2sq=1.0)
    var = target.variance_under("sphere")
    wide = train_quadratic_network(target, 15, rng, steps=2000, law="sphere")
    assert wide.eps <= 0.005 * var  # m >= d - 1: every sphere fit is exact
    narrow = train_quadratic_network(target, 4, rng, steps=3000, law="sphere")
    split = nn_sign_constrained(target, int(np.sum(narrow.a > 0)), int(np.sum(narrow.a < 0)),
                                "sphere")  # fmt: skip
    assert abs(narrow.eps - split.eps) <= 0.005 * var
    assert narrow.eps >= nn_eckart_young(target, 4, "sphere").eps - 1e-12


@pytest.mark.parametrize(("activation", "kind"), [("relu", "rf"), ("relu", "nt"),
                                                  ("quadratic", "rf")])  # fmt: skip
def test_end_to_end_fits_on_sphere_samples_approach_the_exact_sphere_fit(activation, kind):
    # The end-to-end estimate of the simulations' sphere lines: train on n sphere samples, then eps
    # and S on fresh sphere samples. A trained fit cannot beat the population optimum beyond the
    # Monte Carlo error (6 standard errors), and its excess is O(eps p / n) (first order
    # eps p / n; 10 p / n allows for heavy tails). Failure probability < 1e-6 per assertion.
    rng = generator(8, "e2e-sphere", activation, kind)
    d, m = (8, 6) if kind == "rf" else (5, 4)
    target = sample_target(d, rng, F1sq=1.0, F2sq=1.0)
    W = sample_first_layer(d, m, rng)
    act = get_activation(activation)
    solver = rf_fit if kind == "rf" else nt_fit
    exact = solver(target, W, GaussianMoments(act), law="sphere")
    gauss = solver(target, W, GaussianMoments(act))
    feats = feature_map(kind, W, act)
    p = m + 1 if kind == "rf" else m * d + 1

    def model(theta, c):
        return linear_model(kind, W, act, theta, c)

    n = 20_000 * 32
    fits = [least_squares(feats, target, n, rng, law="sphere")]
    fits.append(online_sgd_linear(feats, target, rng, steps=n // 32, batch=32, law="sphere"))
    for theta, c in fits:
        mc = monte_carlo_metrics(model(theta, c), target, N_MC, rng, law="sphere")
        se = mc.errors.std(ddof=1) / math.sqrt(N_MC)
        assert mc.errors.mean() >= exact.eps - Z_MAX * se
        assert mc.errors.mean() <= exact.eps * (1 + 10 * p / n) + Z_MAX * se
        # Power: at these d the sphere fit is not the Gaussian one.
        assert abs(mc.errors.mean() - gauss.eps) > Z_MAX * se + exact.eps * 10 * p / n
