"""Rate fits and rate verdicts (THEORY.md Sec. 6) on synthetic data with known exponents.

Synthetic replicates are S = C x^k (1 + eps) with eps ~ N(0, s^2): the mean at every grid point
is exactly C x^k, so the log-log slope of the means is exactly k and the fit has no bias beyond
its sampling error.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theorycheck.errors import UserInputError
from theorycheck.rates import RateFit, fit_rate, implied_constant
from theorycheck.seeding import generator
from theorycheck.verdicts import RATE_TEST, Verdict, apply_holm, law_verdict, rate_verdict

GRID = np.array([10.0, 100.0, 1_000.0, 10_000.0])


def _power_law(key, k, C=2.0, n=2_000, noise=0.3, grid=GRID):
    rng = generator(2024, "rates", key)
    return [C * x**k * (1 + noise * rng.standard_normal(n)) for x in grid], rng


@given(
    k=st.floats(-2.0, 2.0),
    C=st.floats(0.01, 100.0),
    grid=st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6, unique=True),
    statistic=st.sampled_from(["mean", "median", 0.9]),
)
def test_noise_free_power_laws_are_recovered_exactly(k, C, grid, statistic):
    x = np.array(sorted(grid))
    if np.any(np.diff(np.log(x)) < 1e-3):
        return
    # Replicates whose spread is proportional to the level: every statistic is C x^k times
    # the same factor, so the fitted slope is exactly k (the bootstrap still varies: it
    # resamples each grid point independently).
    base = np.array([0.5, 1.0, 1.5, 2.0])
    samples = [C * xi**k * base for xi in x]
    fit = fit_rate(x, samples, generator(0, "exact"), n_boot=50, statistic=statistic)
    assert fit.exponent == pytest.approx(k, abs=1e-9)
    factor = {"mean": 1.25, "median": 1.25}.get(statistic, float(np.quantile(base, 0.9)))
    assert fit.constant == pytest.approx(C * factor, rel=1e-8)
    for s in fit.local_slopes:
        assert s.estimate == pytest.approx(k, abs=1e-9)
    # Identical replicates: every bootstrap grid is the data itself, se = 0, and the verdict
    # is decided exactly (no spread, no doubt).
    flat = fit_rate(x, [np.full(3, C * xi**k) for xi in x], generator(0, "flat"), n_boot=20)
    assert flat.se == pytest.approx(0.0, abs=1e-9)
    assert rate_verdict("c", "s", {}, "S", flat, k, "Theta", 0.01).verdict == Verdict.HOLDS
    assert rate_verdict("c", "s", {}, "S", flat, k + 0.5, "Theta", 0.01).verdict == "VIOLATED"


def test_a_known_exponent_is_recovered_from_noisy_replicates():
    samples, rng = _power_law("recover", k=-0.37, C=3.0)
    fit = fit_rate(GRID, samples, rng, n_boot=2000)
    # Delta method: Var log(mean_i) ~ noise^2 / n, so se(slope) = (0.3 / sqrt 2000) / sqrt(Sxx)
    # with Sxx = sum (log x_i - mean)^2 = 5 (ln 10)^2: se ~ 0.00130. A correct fit is more than
    # 5.3 se from k with probability < 1e-7. The bootstrap se has a relative sd of ~1.6% (2000
    # bootstrap grids) plus ~1% from the sample variances: 10% is > 5 sd (probability < 1e-6).
    se_delta = 0.3 / math.sqrt(2000) / math.sqrt(5 * math.log(10) ** 2)
    assert fit.se == pytest.approx(se_delta, rel=0.1)
    assert abs(fit.exponent - (-0.37)) < 5.3 * se_delta
    # log C_hat = mean(log y) - k_hat mean(log x): se ~ 0.0067/2 + 6.9 * 0.0013 ~ 0.013, so a
    # relative error of 0.07 is > 5 se.
    assert fit.constant == pytest.approx(3.0, rel=0.07)
    frame = fit.frame()
    assert list(frame["x"]) == list(GRID)
    assert np.all(frame["ci_low"] <= frame["estimate"]) and np.all(
        frame["estimate"] <= frame["ci_high"]
    )


def test_local_slopes_show_where_the_rate_changes():
    # S = 1 up to x = 100, then S = 100 / x: local slopes 0, 0, -1, -1.
    grid = np.array([1.0, 10.0, 100.0, 1_000.0, 10_000.0])
    rng = generator(2024, "rates", "kink")
    level = np.minimum(1.0, 100.0 / grid)
    samples = [lv * (1 + 0.2 * rng.standard_normal(4000)) for lv in level]
    fit = fit_rate(grid, samples, rng, n_boot=500)
    slopes = fit.local_slope_frame()
    # Each local slope has se ~ 0.2 / sqrt(4000) * sqrt 2 / ln 10 ~ 0.002: 0.05 is 25 se.
    assert slopes["estimate"].to_numpy() == pytest.approx([0, 0, -1, -1], abs=0.05)
    assert np.all(slopes["ci_low"] < slopes["estimate"])
    assert slopes["x"].to_numpy() == pytest.approx(np.sqrt(grid[:-1] * grid[1:]))


def test_the_bootstrap_is_stratified_and_deterministic():
    samples, _ = _power_law("strata", k=0.5, n=300)
    a = fit_rate(GRID, samples, generator(5, "boot"), n_boot=300)
    b = fit_rate(GRID, samples, generator(5, "boot"), n_boot=300)
    assert (a.exponent, a.se, a.ci_low, a.ci_high) == (b.exponent, b.se, b.ci_low, b.ci_high)
    # Unsorted input gives the same fit (the grid is sorted with its samples).
    order = [2, 0, 3, 1]
    c = fit_rate(GRID[order], [samples[i] for i in order], generator(5, "boot"), n_boot=300)
    assert c.exponent == pytest.approx(a.exponent, abs=1e-12)
    assert list(c.x) == list(GRID)


@pytest.mark.parametrize("kind", ["Theta", "O", "Omega"])
def test_a_true_rate_claim_holds(kind):
    samples, rng = _power_law(f"true-{kind}", k=-0.5)
    fit = fit_rate(GRID, samples, rng, n_boot=1000)
    # se ~ 0.0013: at alpha = 1e-6 the interval is k_hat +- 4.9 se ~ +-0.0064, inside the band
    # +-0.05, unless k_hat is more than (0.05 - 0.0064) / se ~ 33 se off: probability ~0. The
    # p-value is below 1e-6 with probability <= 1e-6 (it is a valid p-value at the band's edge
    # and conservative inside).
    row = rate_verdict("c", "s", {"m": 10}, "E S", fit, -0.5, kind, tolerance=0.05, variable="d",
                       alpha=1e-6)  # fmt: skip
    assert row.verdict == Verdict.HOLDS
    assert row.test == RATE_TEST and row.bound == -0.5 and row.estimate == fit.exponent
    assert row.params()["rate_kind"] == kind and row.params()["over"] == "d"
    assert row.params()["m"] == 10 and row.params()["grid"] == list(GRID)
    assert "local slopes" in row.note


@pytest.mark.parametrize(
    ("kind", "claimed"),
    [("Theta", -0.25), ("Theta", -0.75), ("O", -0.75), ("Omega", -0.25), ("o", -0.75)],
)
def test_a_rate_claim_off_by_a_quarter_is_violated(kind, claimed):
    samples, rng = _power_law(f"off-{kind}-{claimed}", k=-0.5)
    fit = fit_rate(GRID, samples, rng, n_boot=1000)
    # The true slope is 0.25 from the claimed exponent, 0.15 outside the band (tol 0.1): with
    # se ~ 0.0013 a correct fit fails to reject only if k_hat is ~0.15 / se - 1.6 ~ 100 se off
    # (probability far below 1e-6).
    row = rate_verdict("c", "s", {}, "E S", fit, claimed, kind, tolerance=0.1)
    assert row.verdict == Verdict.VIOLATED
    assert row.p_value < 1e-12


def test_claims_in_the_right_direction_are_not_violated_by_a_faster_rate():
    samples, rng = _power_law("direction", k=-0.5)
    fit = fit_rate(GRID, samples, rng, n_boot=500)
    # S = O(x^0) and S = o(x^0) hold for a decaying S; Omega(x^-1) too.
    for kind, k in (("O", 0.0), ("o", 0.0), ("Omega", -1.0)):
        assert rate_verdict("c", "s", {}, "S", fit, k, kind).verdict == Verdict.HOLDS


def test_wide_intervals_are_inconclusive():
    # Slope 0.02 +- 0.1 against Theta(x^0), tol 0.05: the interval (+-0.196) cannot fit in the
    # band and the slope is not significantly outside it -> INCONCLUSIVE, with the replicates
    # that would narrow it (~(0.392 / 0.1)^2 = 15x).
    row = rate_verdict("c", "s", {}, "S", _fit(0.02, 0.1), 0.0, "Theta", tolerance=0.05)
    assert row.verdict == Verdict.INCONCLUSIVE
    assert "~15.4x the replicates needed" in row.note


def test_the_type_one_error_of_a_true_theta_claim_is_about_alpha():
    # 1000 independent planted fits of a true claim (tol = 0): the VIOLATED count is
    # Bin(1000, size). The normal bootstrap test's size here was measured once at 0.0525 +-
    # 0.0035 (4000 fits); for any size in [0.035, 0.07] the count lies in [11, 120] except with
    # probability < 5e-7 (exact binomial tails). An engine that never rejects (size 0) or that
    # ignores the bootstrap spread fails.
    x = GRID
    violated = 0
    for r in range(1000):
        rng = generator(99, "size-test", r)
        samples = [3 * xi**-0.37 * (1 + 0.5 * rng.standard_normal(50)) for xi in x]
        fit = fit_rate(x, samples, rng, n_boot=200)
        violated += rate_verdict("c", "s", {}, "S", fit, -0.37, "Theta", 0.0).verdict == "VIOLATED"
    assert 11 <= violated <= 120


def test_implied_constants_stay_bounded_for_the_true_rate_and_grow_for_a_wrong_one():
    samples, rng = _power_law("implied", k=0.5, C=0.7)
    true = implied_constant(GRID, samples, GRID**0.5, rng, n_boot=500)
    # The implied constant S / x^0.5 is 0.7 at every grid point (se per point 0.3/sqrt(2000) *
    # 0.7 ~ 0.0047: 0.03 is > 6 se).
    assert true.values == pytest.approx(0.7, abs=0.03)
    assert rate_verdict("c", "s", {}, "S / x^0.5", true, 0.0, "O").verdict == Verdict.HOLDS
    wrong = implied_constant(GRID, samples, GRID**0.2, rng, n_boot=500)
    # S / x^0.2 grows like x^0.3: 0.2 above the band edge, ~150 se.
    assert wrong.exponent == pytest.approx(0.3, abs=0.01)
    assert rate_verdict("c", "s", {}, "S / x^0.2", wrong, 0.0, "O").verdict == Verdict.VIOLATED


def _fit(exponent: float, se: float) -> RateFit:
    x = np.array([10.0, 100.0])
    return RateFit(x, np.ones(2), np.ones(2), np.ones(2), np.array([50, 50]), "mean", exponent,
                   se, exponent - 1.96 * se, exponent + 1.96 * se, 1.0, (), 0.95, 100)  # fmt: skip


def test_holm_re_decides_rate_rows_and_keeps_their_notes():
    # Slope 0.2 +- 0.05 against Theta(x^0) with tol 0.1: p = P(Z >= 2) + P(Z >= 6) = 0.02275.
    marginal = rate_verdict("c", "s", {"i": 0}, "S", _fit(0.2, 0.05), 0.0, "Theta", 0.1)
    assert marginal.p_value == pytest.approx(stats.norm.sf(2) + stats.norm.sf(6))
    assert marginal.verdict == Verdict.VIOLATED
    clear = rate_verdict("c", "s", {"i": 1}, "S", _fit(0.6, 0.05), 0.0, "Theta", 0.1)
    holds = rate_verdict("c", "s", {"i": 2}, "S", _fit(0.01, 0.01), 0.0, "Theta", 0.1)
    law = law_verdict("c", "s", {"i": 3}, "X", "z", 0.5, [0.0, 1.0])
    adjusted = apply_holm([marginal, clear, holds, law])
    # Holm with 4 tests: the marginal row's p becomes 3 * 0.02275 = 0.068 > 0.05: its interval
    # still lies outside the band, but not significantly after the adjustment -> INCONCLUSIVE.
    assert [r.verdict for r in adjusted] == ["INCONCLUSIVE", "VIOLATED", "HOLDS", "AGREES"]
    assert adjusted[0].p_adjusted == pytest.approx(3 * marginal.p_value)
    assert adjusted[0].note == marginal.note and "local slopes" in adjusted[0].note
    # Re-deciding is idempotent.
    assert apply_holm(adjusted) == adjusted


def test_an_o_claim_is_decided_one_sided():
    # Slope 0.05 +- 0.02 against O(x^0) with tol 0: p = P(Z >= 2.5); HOLDS needs the upper end
    # of the interval <= 0.
    row = rate_verdict("c", "s", {}, "S", _fit(0.05, 0.02), 0.0, "O", tolerance=0.0)
    assert row.p_value == pytest.approx(stats.norm.sf(2.5))
    assert row.verdict == Verdict.VIOLATED
    row = rate_verdict("c", "s", {}, "S", _fit(0.05, 0.02), 0.0, "O", tolerance=0.1)
    assert row.verdict == Verdict.HOLDS  # 0.05 + 1.96 * 0.02 = 0.089 <= 0.1
    row = replace(row, p_adjusted=0.01)
    assert apply_holm([row])[0].verdict == Verdict.HOLDS  # re-adjusted from its own p-value


def test_bad_input_is_rejected_with_the_parameter_named():
    rng = generator(0, "bad")
    with pytest.raises(UserInputError, match="two grid points"):
        fit_rate([10.0], [np.ones(3)], rng)
    with pytest.raises(UserInputError, match="not positive"):
        fit_rate([10.0, 100.0], [np.ones(3), -np.ones(3)], rng)
    with pytest.raises(UserInputError, match="statistic"):
        fit_rate([10.0, 100.0], [np.ones(3), np.ones(3)], rng, statistic="mode")
    with pytest.raises(UserInputError, match="kind"):
        rate_verdict("c", "s", {}, "S", _fit(0.0, 0.1), 0.0, "Big-O")
    with pytest.raises(UserInputError, match="distinct"):
        fit_rate([10.0, 10.0], [np.ones(3), np.ones(3)], rng)


def test_non_positive_bootstrap_statistics_give_no_interval():
    # Means near zero: some bootstrap grids have a non-positive mean, no log-log fit exists
    # there, so the fit reports an infinite interval and the verdict cannot be HOLDS.
    rng = generator(3, "nonpositive")
    samples = [0.01 + rng.standard_normal(30), 1.0 + 0.1 * rng.standard_normal(30)]
    if np.mean(samples[0]) <= 0:
        samples[0] = samples[0] - np.mean(samples[0]) + 0.01
    fit = fit_rate([10.0, 100.0], samples, rng, n_boot=200)
    assert fit.invalid_boot > 0 and math.isinf(fit.se)
    assert rate_verdict("c", "s", {}, "S", fit, 0.0, "Theta").verdict == Verdict.INCONCLUSIVE
