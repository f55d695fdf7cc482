"""The verdict engine on planted cases, with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theorycheck.rates import implied_constant
from theorycheck.seeding import generator
from theorycheck.stats import (
    binomial_total_test,
    clopper_pearson,
    ks_test,
    mean_ci,
    quantile_ci,
    replicates_needed,
)
from theorycheck.verdicts import (
    Verdict,
    apply_holm,
    bound_verdict,
    implied_constant_verdict,
    law_verdict,
)

N = 20_000
GAMMA = 0.05


def _normal_samples(key):
    return generator(12345, "verdict-tests", key).standard_normal(N)


def _normal_quantiles():
    """The N quantiles Phi^{-1}((i + 1/2) / N) of N(0, 1): a deterministic "sample" with exactly
    GAMMA N = 1000 values above Phi^{-1}(1 - GAMMA) (those with (i + 1/2) / N > 0.95, i >= 19000).
    """
    return stats.norm.ppf((np.arange(N) + 0.5) / N)


def test_a_true_bound_holds():
    # True 99.5% quantile as the bound at gamma = 0.05: exceedance rate 0.005 << 0.05.
    # With n = 20000 the CP upper limit is ~0.006, so HOLDS; for a correct engine the chance of
    # anything else is P(Bin(20000, 0.005) > 830) < 1e-100.
    row = bound_verdict("c", "s", {}, "X", _normal_samples("true"), stats.norm.isf(0.005), GAMMA)
    assert row.verdict == Verdict.HOLDS
    assert row.slack > 1


def test_a_bound_ten_percent_too_small_is_violated():
    # 0.9 * Phi^{-1}(0.95) = 1.480 is exceeded with probability 0.0694 > 0.05: with n = 20000 the
    # one-sided p-value P(Bin(20000, 0.05) >= k) at k ~ 1388 is ~1e-30; a correct engine
    # returns VIOLATED except with probability P(Bin(20000, 0.0694) < 1120) < 1e-12.
    bound = 0.9 * stats.norm.isf(GAMMA)
    row = bound_verdict("c", "s", {}, "X", _normal_samples("small"), bound, GAMMA)
    assert row.verdict == Verdict.VIOLATED
    assert row.slack < 1


def test_an_exact_quantile_is_not_violated_and_says_what_would_settle_it():
    # A bound at the exact (1 - gamma)-quantile sits on the boundary: on random samples the engine
    # may read HOLDS with probability up to its per-row 5% (the former version of this test, on
    # seeded normal samples, failed 30 of 400 seeds). Here the exceedance count is exactly
    # gamma n = 1000 (deterministic sample of quantiles): P(K >= 1000 | gamma) = 0.5, the CP
    # upper limit 0.0526 > gamma, so the verdict is INCONCLUSIVE for every correct engine.
    bound = stats.norm.isf(GAMMA)
    row = bound_verdict("c", "s", {}, "X", _normal_quantiles(), bound, GAMMA)
    assert row.exceedances == GAMMA * N
    assert row.verdict == Verdict.INCONCLUSIVE
    assert "replicates" in row.note
    # On a random sample the only error the engine must not make is VIOLATED: with alpha = 1e-7
    # the exact binomial test rejects the true rate gamma with probability <= 1e-7.
    random = bound_verdict("c", "s", {}, "X", _normal_samples("exact"), bound, GAMMA, alpha=1e-7)
    assert random.verdict != Verdict.VIOLATED


def test_lower_bounds_are_checked_from_below():
    x = _normal_samples("lower") + 10
    assert bound_verdict("c", "s", {}, "X", x, 10 - 3.0, 0.05, side="lower").verdict == "HOLDS"
    assert bound_verdict("c", "s", {}, "X", x, 10.0, 0.05, side="lower").verdict == "VIOLATED"


def test_law_verdicts_agree_with_the_right_law_and_reject_a_wrong_one():
    x = _normal_samples("law")
    # Both rows at alpha = 1e-7 (at the default 0.05 the first assertion failed 20 of 400 seeds).
    # KS against N(0, 1): exact p-value, uniform under the null, so AGREES fails w.p. 1e-7.
    # Against N(0, 1.25^2): the laws' KS distance is sup|Phi(t) - Phi(t/1.25)| = 0.0538 (at
    # t = 1.113); the test rejects when D > kstwo.isf(1e-7, 20000) = 0.0205, and D <= 0.0205 needs
    # sup|F_n - Phi| >= 0.033, probability <= 2 exp(-2 n 0.033^2) = 2e-19 (DKW, Massart 1990).
    # Failure probability of this test <= 1.1e-7.
    right = law_verdict("c", "s", {}, "X", "KS", ks_test(x, stats.norm.cdf), x, 0.0, alpha=1e-7)
    wrong = law_verdict(
        "c", "s", {}, "X", "KS", ks_test(x, stats.norm(0, 1.25).cdf), x, 0.0, alpha=1e-7
    )
    assert right.verdict == Verdict.AGREES
    assert wrong.verdict == Verdict.DISAGREES


def test_holm_matches_the_textbook_procedure_and_redecides():
    ps = [0.01, 0.04, 0.03, 0.005]
    rows = [law_verdict("c", "s", {"i": i}, "X", "z", p, [0.0, 1.0]) for i, p in enumerate(ps)]
    adjusted = apply_holm(rows, alpha=0.05)
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04) = 0.06
    assert [r.p_adjusted for r in adjusted] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [r.verdict for r in adjusted] == ["DISAGREES", "AGREES", "AGREES", "DISAGREES"]
    assert [r.verdict for r in rows] == ["DISAGREES"] * 4


@given(k=st.integers(0, 200), extra=st.integers(0, 200))
def test_clopper_pearson_matches_scipy_exact_interval(k, extra):
    n = k + extra
    if n == 0:
        return
    lo, hi = clopper_pearson(k, n, 0.95)
    ref = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)


@given(k=st.integers(0, 30), n=st.integers(31, 3000), gamma=st.floats(0.001, 0.3))
def test_replicates_needed_is_enough_at_the_observed_rate(k, n, gamma):
    # At the returned size and the same rate the row would be settled: HOLDS (CP upper limit
    # <= gamma) below gamma, VIOLATED (P(K >= k' | gamma) < 0.05) above it; at gamma nothing
    # settles it.
    need = replicates_needed(k, n, gamma)
    rate = k / n
    if k == 0:
        assert clopper_pearson(0, need, 0.95, "upper")[1] <= gamma
        assert need == n or clopper_pearson(0, need - 1, 0.95, "upper")[1] > gamma
    elif rate == gamma:
        assert need == 10**8
    elif need < 10**8:
        assert need >= n
        if rate < gamma:
            assert clopper_pearson(round(rate * need), need, 0.95, "upper")[1] <= gamma
        else:
            assert stats.binom.sf(math.ceil(rate * need) - 1, need, gamma) < 0.05


def test_quantile_and_mean_intervals_cover_the_truth():
    # Level 1 - 1e-7 each (at 95% each, as before, the test failed 29 of 400 seeds): the
    # order-statistic interval is conservative (coverage >= level) and the t interval is exact
    # for normal samples, so a correct implementation fails the coverage assertions w.p. <= 2e-7.
    x = _normal_samples("ci")
    level = 1 - 1e-7
    q90 = stats.norm.ppf(0.9)
    assert quantile_ci(x, 0.9, level).contains(q90)
    assert mean_ci(x, level).contains(0.0)
    # ... and they are not vacuous. The quantile interval's upper end is the order statistic
    # x_(u), u = binom.ppf(1 - 5e-8, N, 0.9) = 18222; it reaches q90 + 0.2 only if
    # #{x < q90 + 0.2} ~ Bin(N, Phi(1.4816) = 0.9308) is <= 18222 (mean 18615, sd 36):
    # probability < 1e-20. The t interval has half-width 5.33 s / sqrt(N) ~ 0.038 (s within 2%
    # of 1 w.p. 1 - 1e-10); it contains +-0.1 only if |mean| >= 0.06 = 8.8 sd: < 1e-17.
    assert not quantile_ci(x, 0.9, level).contains(q90 + 0.2)
    assert not quantile_ci(x, 0.9, level).contains(q90 - 0.2)
    assert not mean_ci(x, level).contains(0.1)
    assert not mean_ci(x, level).contains(-0.1)


def test_integer_ks_accepts_a_binomial_with_a_big_atom():
    # Bin(100, 0.99993): almost every sample is 100. scipy's ks_1samp gives D = 1 here.
    # Thresholds 1e-7: the integer KS p-value is conservative (P(p <= a) <= a for a discrete
    # law) and the exact two-sided binomial test is valid: summed over the law of the 40000
    # trials, P(binomial p <= 1e-7) = 4.9e-8, so a correct implementation fails w.p. <= 1.5e-7.
    # (Before: thresholds 0.5 and 1e-3, failure probability 6.6e-4 from the second.)
    # Power of the first: the values below 100 number K ~ Bin(400, 1 - 0.99993^100 = 0.00698),
    # D = |K/400 - 0.00698| (plus ~1e-5 below 99); a wrong D = 1 gives p = 0.
    rng = generator(7, "atom")
    x = rng.binomial(100, 0.99993, size=400)
    assert ks_test(x, lambda t: stats.binom.cdf(t, 100, 0.99993), integer=True) > 1e-7
    assert binomial_total_test(int(x.sum()), 400 * 100, 0.99993) > 1e-7


def test_integer_ks_rejects_a_shifted_binomial():
    x = generator(8, "shift").binomial(1000, 0.1, size=2000)
    assert ks_test(x, lambda t: stats.binom.cdf(t, 1000, 0.11), integer=True) < 1e-7


def test_holm_keeps_what_a_simulation_added_to_a_note():
    from dataclasses import replace

    # The deterministic quantile sample: exactly gamma n exceedances, INCONCLUSIVE for every
    # correct engine (on random samples this test failed with the 10% of the exact-quantile one).
    x = _normal_quantiles()
    row = bound_verdict("c", "s", {}, "X", x, stats.norm.isf(GAMMA), GAMMA)
    row = replace(row, note="; ".join(filter(None, (row.note, "exact: quantile 1.64"))))
    once = apply_holm([row])[0]
    twice = apply_holm([once])[0]
    assert once.note.endswith("exact: quantile 1.64") and twice.note == once.note
    assert "replicates" in once.note


def test_numbers_in_verdict_notes_are_written_without_plus_signs_or_leading_zeros():
    """An implied-constant note reads 'd=1e4' (the report writes 1e4 too), not 'd=1e+04'."""
    fit = implied_constant(
        [1e4, 1e5, 1e6, 1e8], [np.full(5, 2.0)] * 4, [1.0] * 4, np.random.default_rng(0), n_boot=50
    )
    row = implied_constant_verdict("c", "s", {}, "x", fit, side="upper", variable="d")
    assert "d=1e4: 2 [2, 2], d=1e5: 2 [2, 2], d=1e6: 2 [2, 2], d=1e8: 2 [2, 2]" in row.note
    assert "e+" not in row.note
