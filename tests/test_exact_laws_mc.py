"""Monte Carlo against the exact laws at initialisation (docs/theory.md Sec. 2 and 4,
bounds.exact_laws).

Every test uses a fixed seed, so it is deterministic; the comment at each threshold states the
probability that a correct implementation would fail it over a random seed. Thresholds are
p < ALPHA = 1e-7 per test statistic, and no test combines more than 5 statistics, so each test's
failure probability is below 5e-7 < 1e-6 (docs/design.md "Reliability"). Each law has a companion
test
showing *power*: the same samples, the same statistic and the same threshold reject a law that is
10% wrong (variance or scale x 1.1, or Bin(m, 1.1 p)).

Sampling goes through the product: ``sample_network`` and ``sample_inputs`` for every replicate,
then ``output_and_gradient`` / ``flippable_neurons`` / ``worst_output``. The many tiny calls use
the reference path where it is cheaper (numba == reference is checked in test_kernels.py and
test_lazy_ball.py); the flippable counts use the numba path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from theorycheck.bounds import get_bound
from theorycheck.forward import output_and_gradient
from theorycheck.lazy_ball import flippable_neurons, lazy_radius, worst_output
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator
from theorycheck.stats import binomial_total_test, ks_test, mean_z_test

ALPHA = 1e-7


# -- F1 / F2: f and ||grad f||^2 at initialisation -----------------------------------------------

F12_M, F12_D, F12_N = 5, 3, 200_000


@pytest.fixture(scope="module")
def init_samples():
    """f(x) and ||grad f(x)||^2 for F12_N independent (network, input) pairs: relu, wang,
    a = +-1, no biases, ||x|| = 1, m = 5 (small, so that the law of N/m matters and the atom
    P(f = 0) = 2^-5 is visible), d = 3."""
    spec = NetworkSpec(d=F12_D, m=F12_M)
    rng = generator(20240601, "test_exact_laws_mc", "F1-F2")
    f = np.empty(F12_N)
    g2 = np.empty(F12_N)
    for k in range(F12_N):
        net = sample_network(spec, rng)
        fw = output_and_gradient(net, sample_inputs(spec, 1, rng), path="reference")
        f[k] = fw.f[0]
        g2[k] = fw.grad_norm[0] ** 2
    return f, g2


def _f1_continuous_cdf(scale=1.0):
    """cdf of f given f != 0: F1 minus its atom 2^-m at 0, renormalised; ``scale`` multiplies
    the variance (scale 1.1 is the deliberately wrong law of the power check)."""
    law = get_bound("exact.f1_output")
    p0 = 2.0**-F12_M

    def cdf(x):
        x = np.asarray(x, float) / math.sqrt(scale)
        return (law.cdf(x, m=F12_M) - p0 * (x >= 0)) / (1 - p0)

    return cdf


def _f2_continuous_cdf(scale=1.0):
    """cdf of ||grad f||^2 given it is != 0 (the atom 2^-m at 0 is N = 0); ``scale`` multiplies
    the variable."""
    law = get_bound("exact.f2_grad_norm_sq")
    p0 = 2.0**-F12_M

    def cdf(x):
        x = np.asarray(x, float) / scale
        return np.clip((law.cdf(x, m=F12_M, d=F12_D) - p0 * (x >= 0)) / (1 - p0), 0.0, 1.0)

    return cdf


def test_f1_output_law(init_samples):
    """F1: f ~ sqrt(N/m) G, N ~ Bin(m, 1/2) independent of G ~ N(0,1); P(f = 0) = 2^-m.

    Statistics (each rejects a correct implementation with probability <= ALPHA = 1e-7; 5 of them:
    failure probability <= 5e-7): exact binomial test of #{f = 0} against Bin(n, 2^-m); KS of the
    nonzero values against the continuous part of F1 (exact for a continuous law); z-tests with
    the sample variance (CLT, n = 2e5, all moments finite) of E|f| = sqrt(2/pi) E sqrt(N/m), of
    the catalog's mean E f and of its variance E f^2 (E f = 0, so Var f = E f^2).
    """
    f, _ = init_samples
    zero = f == 0.0
    law = get_bound("exact.f1_output")
    assert binomial_total_test(int(zero.sum()), F12_N, 2.0**-F12_M) > ALPHA
    assert ks_test(f[~zero], _f1_continuous_cdf()) > ALPHA
    assert law.mean_abs(F12_M) == pytest.approx(0.54303, abs=5e-6)  # docs/theory.md F1 table
    assert mean_z_test(np.abs(f), law.mean_abs(F12_M)) > ALPHA
    assert mean_z_test(f, float(law.mean(m=F12_M))) > ALPHA
    assert mean_z_test(f**2, float(law.var(m=F12_M))) > ALPHA


def test_f1_power_wrong_variance_is_rejected(init_samples):
    """Power: the same KS and the same z-test of E f^2 at the same threshold reject F1 with its
    variance scaled by 1.1 (E f^2 = 0.55: Var f^2 = 3 E(N/m)^2 - 1/4 = 0.65 at m = 5, so the
    sample mean of f^2 has sd 0.0018 and 0.05 is 28 sd away)."""
    f, _ = init_samples
    law = get_bound("exact.f1_output")
    assert ks_test(f[f != 0.0], _f1_continuous_cdf(scale=1.1)) < ALPHA
    assert mean_z_test(f**2, 1.1 * float(law.var(m=F12_M))) < ALPHA


def test_f2_grad_norm_law(init_samples):
    """F2: ||grad f||^2 ~ (N/m) chi2_d, with the catalog's mean (d/2) and variance (failure
    probability <= 3e-7: KS of the nonzero values against the continuous part, z-tests of the
    catalog's mean with its exact variance and of its variance, E (g2 - mean)^2, with the sample
    variance; the zeros of ||grad f||^2 are exactly those of f (N = 0), a deterministic fact for
    relu without biases). (g2 - mean)^2 is skewed (skewness 13, measured on 1e7 draws of the
    law): at n = 2e5 the first-order Edgeworth term of the studentised mean moves each tail at the
    5.3-sigma threshold by < 8e-8, so that statistic fails w.p. < 2e-7 and the test w.p. < 4e-7.
    """
    f, g2 = init_samples
    law = get_bound("exact.f2_grad_norm_sq")
    mean, var = float(law.mean(m=F12_M, d=F12_D)), float(law.var(m=F12_M, d=F12_D))
    assert np.array_equal(g2 == 0.0, f == 0.0)
    assert ks_test(g2[g2 != 0.0], _f2_continuous_cdf()) > ALPHA
    assert mean_z_test(g2, mean, var) > ALPHA
    assert mean_z_test((g2 - mean) ** 2, var) > ALPHA


def test_f2_power_wrong_scale_is_rejected(init_samples):
    """Power: KS and the z-tests reject ||grad f||^2 scaled by 1.1 (mean 1.1 d/2, variance
    1.21 Var), and a variance 10% off."""
    _, g2 = init_samples
    law = get_bound("exact.f2_grad_norm_sq")
    mean, var = float(law.mean(m=F12_M, d=F12_D)), float(law.var(m=F12_M, d=F12_D))
    assert ks_test(g2[g2 != 0.0], _f2_continuous_cdf(scale=1.1)) < ALPHA
    assert mean_z_test(g2, 1.1 * mean, 1.21 * var) < ALPHA
    assert mean_z_test((g2 - mean) ** 2, 1.1 * var) < ALPHA


# -- F6: flippable neurons ------------------------------------------------------------------------

F6_CASES = [  # (scaling, m, C0, number of networks)
    ("wang", 200, 2.0, 1500),
    ("bubeck", 2000, 3.0, 600),
]


@pytest.fixture(scope="module", params=F6_CASES, ids=lambda c: f"{c[0]}-m{c[1]}-C0{c[2]:g}")
def flippable_samples(request, warm_numba):
    scaling, m, C0, n = request.param
    spec = NetworkSpec(d=2, m=m, scaling=scaling)
    R = lazy_radius(spec, C0)  # R ||x|| = C0 / sqrt(m) in both scalings
    rng = generator(7, "test_exact_laws_mc", "F6", scaling)
    counts = np.empty(n, dtype=np.int64)
    for k in range(n):
        net = sample_network(spec, rng)
        counts[k] = flippable_neurons(net, sample_inputs(spec, 1, rng), R)[0]
    return m, C0, counts


def test_f6_flippable_law(flippable_samples):
    """F6: |S_R(x)| ~ Bin(m, 2 Phi(C0/sqrt m) - 1). Pooled count over n networks ~ Bin(n m, p):
    exact binomial test; KS for integer laws (conservative). Failure probability <= 2e-7."""
    m, C0, counts = flippable_samples
    law = get_bound("exact.f6_flippable")
    p = float(law.probability(m, C0))
    assert p == pytest.approx(2 * 0.5 * (1 + math.erf(C0 / math.sqrt(2 * m))) - 1, rel=1e-12)
    assert binomial_total_test(int(counts.sum()), len(counts) * m, p) > ALPHA
    assert ks_test(counts, lambda t: law.cdf(t, m=m, C0=C0), integer=True) > ALPHA


def test_f6_power_wrong_probability_is_rejected(flippable_samples):
    """Power: the same two tests reject Bin(m, 1.1 p)."""
    m, C0, counts = flippable_samples
    from scipy import stats

    p = 1.1 * float(get_bound("exact.f6_flippable").probability(m, C0))
    assert binomial_total_test(int(counts.sum()), len(counts) * m, p) < ALPHA
    assert ks_test(counts, lambda t: stats.binom.cdf(t, m, p), integer=True) < ALPHA


# -- E||grad f||^2 for smooth activations ---------------------------------------------------------

ENERGY_D, ENERGY_M, ENERGY_N = 5, 20, 6_000


@pytest.fixture(scope="module", params=["gelu", "tanh"])
def energy_samples(request):
    spec = NetworkSpec(d=ENERGY_D, m=ENERGY_M, activation=request.param)
    rng = generator(99, "test_exact_laws_mc", "energy", request.param)
    g2 = np.empty(ENERGY_N)
    for k in range(ENERGY_N):
        net = sample_network(spec, rng)
        g2[k] = output_and_gradient(net, sample_inputs(spec, 1, rng), path="reference").grad_norm[0]
    return request.param, g2**2


def test_grad_energy_smooth(energy_samples):
    """E||grad f||^2 = E[sigma'(g)^2 g^2] + (d - 1) E[sigma'(g)^2] (bounds 'exact.grad_energy_*').

    z-test with the sample variance (CLT at n = 6e3 for a variable with all moments): failure
    probability ~ ALPHA = 1e-7."""
    name, g2 = energy_samples
    expected = float(get_bound(f"exact.grad_energy_{name}")(d=ENERGY_D))
    assert mean_z_test(g2, expected) > ALPHA


def test_grad_energy_power_wrong_mean_is_rejected(energy_samples):
    name, g2 = energy_samples
    expected = float(get_bound(f"exact.grad_energy_{name}")(d=ENERGY_D))
    assert mean_z_test(g2, 1.1 * expected) < ALPHA


# -- worst output over the lazy ball, relu at init (docs/theory.md Sec. 2, item 2)
# --------------------

WORST_M, WORST_C0, WORST_N = 50, 3.0, 20_000


@pytest.fixture(scope="module")
def worst_samples(warm_numba):
    spec = NetworkSpec(d=3, m=WORST_M)
    R = lazy_radius(spec, WORST_C0)
    rng = generator(5, "test_exact_laws_mc", "worst-output")
    sup = np.empty(WORST_N)
    inf = np.empty(WORST_N)
    for k in range(WORST_N):
        net = sample_network(spec, rng)
        res = worst_output(net, sample_inputs(spec, 1, rng), R, path="reference")
        sup[k], inf[k] = res.sup[0], res.inf[0]
    return sup, inf


def test_worst_output_moments(worst_samples):
    """E sup = C0/2, Var sup = 1/2 + C0^2/(4m); inf has the law of -sup (derivation in
    docs/derivations/worst_output.md Sec. 4). Four z-tests (means with the exact variance; the
    variance as the mean of (sup - C0/2)^2 with its sample variance): failure probability <= 4e-7.
    """
    sup, inf = worst_samples
    var = 0.5 + WORST_C0**2 / (4 * WORST_M)
    assert mean_z_test(sup, WORST_C0 / 2, var) > ALPHA
    assert mean_z_test(inf, -WORST_C0 / 2, var) > ALPHA
    assert mean_z_test((sup - WORST_C0 / 2) ** 2, var) > ALPHA
    assert mean_z_test((inf + WORST_C0 / 2) ** 2, var) > ALPHA


def test_worst_output_power(worst_samples):
    """Power: a 10% error in the mean or the variance is rejected at the same threshold."""
    sup, _ = worst_samples
    var = 0.5 + WORST_C0**2 / (4 * WORST_M)
    assert mean_z_test(sup, 1.1 * WORST_C0 / 2, var) < ALPHA
    assert mean_z_test((sup - WORST_C0 / 2) ** 2, 1.1 * var) < ALPHA
