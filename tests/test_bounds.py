"""The bounds registry: conformance of every entry, and each bound's behaviour over its whole
parameter range, exact (no sampling) wherever an exact law exists."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theorycheck.bounds import REGISTRY, Bound, Kind, Param, catalog_frame, get_bound
from theorycheck.bounds.conformance import check_bound
from theorycheck.errors import UserInputError


@pytest.mark.parametrize("bound_id", sorted(REGISTRY))
def test_every_registered_bound_conforms(bound_id):
    check_bound(REGISTRY[bound_id])


class _Decreasing(Bound):
    id = "test.decreasing"
    citation = "a planted bound for the conformance check"
    statement = "claims to be increasing in m but is decreasing"
    kind = Kind.HP_UPPER
    params = (Param("m", "width", low=1, integer=True),)
    monotone = {"m": +1}  # noqa: RUF012

    def _value(self, m):
        return 1.0 / m


class _Unvectorised(_Decreasing):
    monotone = {}  # noqa: RUF012

    def _value(self, m):
        return float(np.sum(m))  # collapses arrays: wrong shape


def test_conformance_check_catches_a_wrong_monotonicity():
    with pytest.raises(AssertionError, match="not nondecreasing in m"):
        check_bound(_Decreasing())


def test_conformance_check_catches_an_unvectorised_bound():
    with pytest.raises(AssertionError, match="vectorised"):
        check_bound(_Unvectorised())


# --- Wang et al. (2022), Lemma 4.3, against the exact law F6 ---------------------------------
lemma43 = get_bound("wang2022.lemma_4_3")
f6 = get_bound("exact.f6_flippable")


@given(
    m=st.integers(1, 10**7),
    C0=st.floats(0.0, 1e3, allow_nan=False),
    gamma=st.floats(1e-12, 1 - 1e-12),
)
def test_lemma_4_3_exceedance_probability_is_at_most_gamma(m, C0, gamma):
    # Exact binomial tail, no sampling: P(|S_R| > bound) with |S_R| ~ Bin(m, 2 Phi(C0/sqrt m) - 1).
    bound = lemma43(m=m, C0=C0, gamma=gamma)
    assert float(f6.exceedance(bound, m, C0)) <= gamma


@given(m=st.integers(1, 10**6), C0=st.floats(0.0, 100.0), g1=st.floats(1e-9, 0.999))
def test_lemma_4_3_monotone_in_its_statement(m, C0, g1):
    g2 = min(0.9999, g1 * 1.5)
    assert lemma43(m=m, C0=C0, gamma=g2) <= lemma43(m=m, C0=C0, gamma=g1)
    assert lemma43(m=m, C0=C0, gamma=g1) <= lemma43(m=m + 1, C0=C0, gamma=g1)
    assert lemma43(m=m, C0=C0, gamma=g1) <= lemma43(m=m, C0=C0 + 0.5, gamma=g1)


def test_lemma_4_3_is_loose_as_theory_md_says():
    # docs/theory.md F6: m = 2000, C0 = 3, gamma = 0.1: bound 182, exact 90% quantile 120.
    assert lemma43(m=2000, C0=3, gamma=0.1) == pytest.approx(182.149, abs=1e-3)
    assert f6.ppf(0.9, 2000, 3.0) == 120


@given(m=st.integers(10**4, 10**9), C0=st.floats(0.01, 10.0))
def test_f6_mean_tends_to_sqrt_2_over_pi_C0_sqrt_m(m, C0):
    # m p = m erf(C0/sqrt(2m)) = sqrt(2/pi) C0 sqrt(m) (1 - C0^2/(6m) + ...).
    ratio = f6.mean(m=m, C0=C0) / (math.sqrt(2 / math.pi) * C0 * math.sqrt(m))
    assert ratio == pytest.approx(1.0, abs=C0**2 / (6 * m) * 1.01 + 1e-12)


# --- F1 --------------------------------------------------------------------------------------
f1 = get_bound("exact.f1_output")


@pytest.mark.parametrize(
    ("m", "expected"), [(1, 0.39894), (2, 0.48157), (5, 0.54303), (10, 0.55620), (100, 0.56348)]
)
def test_f1_mean_abs_matches_theory_md(m, expected):
    assert f1.mean_abs(m) == pytest.approx(expected, abs=5e-6)


@given(m=st.integers(1, 3000), gamma=st.floats(1e-6, 0.999))
def test_f1_explicit_bound_holds_exactly_for_every_m(m, gamma):
    # P(|f| > t) computed from the exact law F1; the bound says it is <= gamma for every m.
    t = get_bound("exact.f1_abs_output_bound")(gamma=gamma)
    tail = 1.0 - (f1.cdf([t], m=m)[0] - f1.cdf([-t], m=m)[0])
    assert tail <= gamma * (1 + 1e-9)


@pytest.mark.parametrize("m", [1, 3, 50, 1000])
def test_f1_mean_and_variance_match_the_mixture(m):
    # Moments by numerical integration of the mixture CDF (a route independent of the catalog's
    # _mean/_var): E f = int_0^inf (P(f > x) - P(f < -x)) dx, E f^2 = int_0^inf 2x P(|f| > x) dx.
    x = np.linspace(0, 12, 24_001)  # P(|f| > 12) < 1e-32; trapezoid error ~ h^2 = 2.5e-7
    # P(f < -x), also at x = 0 where cdf(-0) would count the atom P(f = 0) = 2^-m.
    upper, lower = 1 - f1.cdf(x, m=m), f1.cdf(-np.maximum(x, 1e-300), m=m)
    mean = np.trapezoid(upper - lower, x)
    second = np.trapezoid(2 * x * (upper + lower), x)
    assert mean == pytest.approx(float(f1.mean(m=m)), abs=1e-6)
    assert second - mean**2 == pytest.approx(float(f1.var(m=m)), rel=1e-4)


def test_f1_law_point_mass_at_zero_is_2_to_minus_m():
    for m in (1, 3, 8):
        jump = f1.cdf([0.0], m=m)[0] - f1.cdf([-1e-300], m=m)[0]
        assert jump == pytest.approx(2.0**-m, rel=1e-9)


# --- F2 --------------------------------------------------------------------------------------
f2 = get_bound("exact.f2_grad_norm_sq")


@pytest.mark.parametrize(("m", "d"), [(1, 1), (3, 7), (50, 20), (1000, 100)])
def test_f2_mean_and_variance_match_the_mixture(m, d):
    # Moments by numerical integration of the mixture CDF: E X = int (1 - F), E X^2 = int 2x(1-F).
    x = np.linspace(0, d * 12 + 50, 200_001)
    sf = 1 - f2.cdf(x, m=m, d=d)
    mean = np.trapezoid(sf, x)
    second = np.trapezoid(2 * x * sf, x)
    assert mean == pytest.approx(f2.mean(m=m, d=d), rel=1e-4)
    assert second - mean**2 == pytest.approx(f2.var(m=m, d=d), rel=1e-3)


def test_grad_energy_relu_is_d_over_2():
    assert get_bound("exact.grad_energy_relu")(d=np.array([1, 10, 784])) == pytest.approx(
        [0.5, 5, 392]
    )


def test_bad_parameters_name_the_parameter():
    with pytest.raises(UserInputError, match="gamma"):
        lemma43(m=10, C0=1, gamma=1.5)
    with pytest.raises(UserInputError, match="C0"):
        lemma43(m=10, C0=-1, gamma=0.1)
    with pytest.raises(UserInputError, match="m"):
        lemma43(m=2.5, C0=1, gamma=0.1)
    with pytest.raises(UserInputError, match="unknown bound"):
        get_bound("wang2022.lemma_9_9")


def test_catalog_lists_every_bound_with_citation_and_statement():
    cat = catalog_frame()
    assert set(cat["id"]) == set(REGISTRY)
    assert cat["citation"].str.len().min() > 10
    assert cat["statement"].str.len().min() > 20
    assert stats.norm.isf(0.05) == pytest.approx(get_bound("exact.f1_abs_output_bound")(gamma=0.1))


@given(m=st.integers(1, 10**7), log_tail=st.integers(-17, -3))
def test_active_count_support_is_the_symmetric_window_with_the_stated_tail(m, log_tail):
    """N ~ Bin(m, 1/2) restricted to [lo, m - lo]: the mass left out is at most ``tail``, and the
    window is the narrowest symmetric one that achieves it (it used to run to m whenever
    1 - tail/2 rounded to 1)."""
    from theorycheck.bounds.exact_laws import active_count_support

    tail = 10.0**log_tail
    N, p = active_count_support(m, tail)
    lo = int(N[0])
    np.testing.assert_array_equal(N, np.arange(lo, m - lo + 1))
    outside = 2 * stats.binom.cdf(lo - 1, m, 0.5) if lo > 0 else 0.0
    assert outside <= tail
    if lo < m / 2:  # one step narrower leaves out more than the tail
        assert 2 * stats.binom.cdf(lo, m, 0.5) > tail * (1 - 1e-9)
    np.testing.assert_allclose(p, stats.binom.pmf(N, m, 0.5))
