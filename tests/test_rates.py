"""Rate fits and their descriptive rows (docs/theory.md, "Verdicts"), on synthetic data.

Synthetic replicates are S = C x^k (1 + eps) with eps ~ N(0, s^2): the mean at every grid point
is exactly C x^k, so the log-log slope of the means is exactly k and the fit has no bias beyond
its sampling error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theorycheck.errors import UserInputError
from theorycheck.rates import RateFit, fit_rate, implied_constant
from theorycheck.seeding import generator
from theorycheck.verdicts import RATE_TEST, Verdict, apply_holm, rate_verdict

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


def test_rate_rows_are_descriptions_outside_the_family():
    # Rates are tested through implied constants (tests/test_decisions.py); a fitted slope is
    # a description with the claimed exponent beside it, never a verdict, whatever its value.
    samples, rng = _power_law("descriptive", k=-0.5)
    fit = fit_rate(GRID, samples, rng, n_boot=200)
    for claimed in (-0.5, 0.5):
        row = rate_verdict("c", "s", {"m": 10}, "E S", fit, claimed, "Theta", variable="d")
        assert row.verdict == Verdict.DESCRIPTIVE and row.family == "descriptive"
        assert row.test == RATE_TEST and row.bound == claimed and row.estimate == fit.exponent
        assert math.isnan(row.p_value)
        assert row.params()["over"] == "d" and row.params()["grid"] == list(GRID)
        assert apply_holm([row])[0] == row
    # Four points over three decades are too few for a rate verdict, and the row says so.
    assert "too few for a rate verdict" in row.note


def test_implied_constants_are_the_statistic_over_the_rate():
    samples, rng = _power_law("implied", k=0.5, C=0.7)
    true = implied_constant(GRID, samples, GRID**0.5, rng, n_boot=500)
    # The implied constant S / x^0.5 is 0.7 at every grid point (se per point 0.3/sqrt(2000) *
    # 0.7 ~ 0.0047: 0.03 is > 6 se).
    assert true.values == pytest.approx(0.7, abs=0.03)
    wrong = implied_constant(GRID, samples, GRID**0.2, rng, n_boot=500)
    # S / x^0.2 grows like x^0.3: se of the slope ~0.0013, 0.01 is > 7 se.
    assert wrong.exponent == pytest.approx(0.3, abs=0.01)


def _fit(exponent: float, se: float) -> RateFit:
    x = np.array([10.0, 100.0])
    return RateFit(x, np.ones(2), np.ones(2), np.ones(2), np.array([50, 50]), "mean", exponent,
                   se, exponent - 1.96 * se, exponent + 1.96 * se, 1.0, (), 0.95, 100)  # fmt: skip


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
    assert math.isinf(rate_verdict("c", "s", {}, "S", fit, 0.0, "Theta").ci_high)
