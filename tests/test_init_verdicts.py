"""The init-* simulations' VERDICTS on planted data: a planted error must be refuted, the truth not.

Each simulation's ``evaluate`` runs on hand-built frames (a planted exceedance rate, a planted
growth of an implied constant, an o(1) ratio that does not vanish) or on its own measurements
from tiny exact-path configs (the truth). Hand-built frames are deterministic: their verdicts do
not depend on a seed. Where data are sampled, the comment states the probability that a correct
implementation fails, with the arithmetic.

Verdicts are read as ``evaluate`` returns them: per row, before the runner's Holm adjustment,
at alpha = 0.05 (a refutation there is necessary for one after Holm, and the planted errors are
large enough to be refuted at the family's level too; the truth rows are checked at the
per-row level, which is the harder test for them).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from theorycheck.simulation import measure_blocks
from theorycheck.simulations.init_gradient_stability import (
    InitGradientStability,
    RayStabilityConfig,
)
from theorycheck.simulations.init_output import GAMMAS, InitOutput, OutputConfig
from theorycheck.simulations.init_single_step import (
    ETAS,
    InitSingleStep,
    SingleStepConfig,
    _flip_columns,
)
from theorycheck.verdicts import DEFAULT_ALPHA, Verdict

ALPHA = DEFAULT_ALPHA


def _half_normal(n: int) -> np.ndarray:
    """A deterministic 'perfect' sample of |N(0, 1)|: its quantiles at (i + 1/2)/n."""
    return stats.halfnorm.ppf((np.arange(n) + 0.5) / n)


def _measure(sim, cfg, seed: int = 5) -> pd.DataFrame:
    """All blocks of ``cfg`` as the runner measures them (one generator per block)."""
    return measure_blocks(sim, cfg, seed)


def _smallest_rejecting_k(n: int, gamma: float, alpha: float) -> int:
    """Smallest k whose exact one-sided p-value P(K >= k | p = gamma) is below alpha (scan)."""
    k = 0
    while stats.binom.sf(k - 1, n, gamma) >= alpha:
        k += 1
    return k


# -- init-output: the explicit bound |f| <= Phi^{-1}(1 - gamma/2) -----------------------------


def _output_frame(n: int, exceed: int, bound: float) -> pd.DataFrame:
    """f with exactly ``exceed`` values beyond the bound (|f| = 1.5 bound) and the rest well
    inside it, alternating in sign."""
    inside = 0.5 * bound * (np.arange(n - exceed) + 0.5) / (n - exceed)
    f = np.concatenate([np.full(exceed, 1.5 * bound), inside])
    f *= np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return pd.DataFrame({"replicate": np.arange(n), "f": f})


def _bound_rows(ev, gamma: float):
    rows = [r for r in ev.verdicts
            if r.claim == "exact.f1_abs_output_bound" and r.params()["gamma"] == gamma]  # fmt: skip
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("gamma", GAMMAS)
def test_output_bound_refutes_a_doubled_exceedance_rate(gamma):
    # Deterministic: exactly 2 gamma n exceedances among n = 5440 (the power sample size).
    n = 5440
    cfg = OutputConfig(100, 1, "relu", "wang", n, 1, "exact")
    bound = float(stats.norm.isf(gamma / 2))
    ev = InitOutput().evaluate({cfg: _output_frame(n, round(2 * gamma * n), bound)})
    assert _bound_rows(ev, gamma).verdict == Verdict.VIOLATED


@pytest.mark.parametrize("gamma", GAMMAS)
def test_output_bound_decides_at_the_exact_binomial_boundary(gamma):
    # "w.p. >= 1 - gamma, X <= B" is refuted when P(K >= k | gamma) < alpha: with the smallest
    # such k (found here by a scan) the row is VIOLATED, with k - 1 it is not. A test of
    # P(K > k) instead rejects at k - 1 already (its p-value there is P(K >= k) < alpha).
    # Deterministic frames.
    n = 2000
    k = _smallest_rejecting_k(n, gamma, ALPHA)
    cfg = OutputConfig(100, 1, "relu", "wang", n, 1, "exact")
    bound = float(stats.norm.isf(gamma / 2))
    at = _bound_rows(InitOutput().evaluate({cfg: _output_frame(n, k, bound)}), gamma)
    below = _bound_rows(InitOutput().evaluate({cfg: _output_frame(n, k - 1, bound)}), gamma)
    assert at.exceedances == k and below.exceedances == k - 1
    assert at.verdict == Verdict.VIOLATED
    assert below.verdict != Verdict.VIOLATED


def test_output_bound_holds_on_the_exact_law_at_m_1():
    # The truth at m = 1: P(|f| > Phi^{-1}(1 - gamma/2)) = gamma/2 exactly (f = sqrt(N) G, N ~
    # Bin(1, 1/2)), the hardest width for the bound. n = 5440 exact-path replicates. A false
    # VIOLATED needs K >= k_crit (about 2.4 gamma n at alpha = 0.05) when E K = gamma n/2:
    # P = binom.sf(k_crit - 1, 5440, gamma/2) < 1e-10 for gamma = 0.05 and 0.01. HOLDS needs K
    # at or below the Clopper-Pearson threshold: the power computation of the row says 0.99 at
    # the family's level; at a single row's 95% it is not asserted (it fails with ~1%).
    sim = InitOutput()
    cfg = OutputConfig(100, 1, "relu", "wang", 2720, 2, "exact")
    ev = sim.evaluate({cfg: _measure(sim, cfg)})
    for gamma in GAMMAS:
        row = _bound_rows(ev, gamma)
        k_crit = _smallest_rejecting_k(row.n, gamma, ALPHA)
        assert stats.binom.sf(k_crit - 1, row.n, gamma / 2) < 1e-10
        assert row.verdict != Verdict.VIOLATED
        assert row.evidence == "exact" and row.quantifier == "random point"
        assert "power" in row.power


# -- init-output: |f| in Theta(1) through implied constants ------------------------------------

_OUTPUT_DIMS = (10, 100, 1000, 10_000)


def _order_rows(ev, var: str = "d"):
    rows = [r for r in ev.verdicts if r.claim == "bubeck2021.output_order"
            and r.kind == "implied constant" and r.params()["over"] == var]  # fmt: skip
    return {r.side: r for r in rows}


@pytest.mark.parametrize("exponent, refuted", [(0.2, "upper"), (-0.2, "lower")])
def test_output_order_refutes_an_implied_constant_drifting_like_d_to_0_2(exponent, refuted):
    # |f| = (perfect half-normal sample) * d^exponent at 4 values of d over three decades:
    # Theta(1) fails (O(1) for +0.2, Omega(1) for -0.2). Deterministic data; the bootstrap
    # standard error of the slope is ~0.005 at n = 4000 per point, so the margin of 0.1 above
    # FLAT_TOLERANCE is ~20 standard errors.
    n = 4000
    data = {}
    for d in _OUTPUT_DIMS:
        cfg = OutputConfig(d, 100, "relu", "bubeck", n, 1, "exact")
        f = _half_normal(n) * d**exponent * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        data[cfg] = pd.DataFrame({"replicate": np.arange(n), "f": f})
    rows = _order_rows(InitOutput().evaluate(data))
    assert rows[refuted].verdict == Verdict.VIOLATED
    other = "lower" if refuted == "upper" else "upper"
    assert rows[other].verdict != Verdict.VIOLATED


def test_output_order_holds_on_the_exact_law():
    # The truth: f has the same law at every d (F1), so both implied constants are flat. n =
    # 2000 per point: measured bootstrap se of the slope 0.003 (0.9 quantile) and 0.012 (0.1
    # quantile). HOLDS needs |slope| + 1.645 se <= 0.1 on the tested side, and a VIOLATED needs
    # more: for a true slope of 0 each fails only if the estimate is off by >= 0.1 - 1.645 se,
    # i.e. z >= 0.1/0.012 - 1.645 = 6.7: P < 2e-11 per side.
    sim = InitOutput()
    data = {}
    for d in _OUTPUT_DIMS:
        cfg = OutputConfig(d, 100, "relu", "bubeck", 1000, 2, "exact")
        data[cfg] = _measure(sim, cfg)
    rows = _order_rows(sim.evaluate(data))
    assert set(rows) == {"upper", "lower"}
    for row in rows.values():
        assert row.verdict == Verdict.HOLDS
        assert row.evidence == "exact"


# -- init-single-step: implied constants of Bubeck et al.'s and Wang et al.'s theorems ----------

_STEP_DIMS = (100, 400, 1600, 6400)


def _step_frame(t_star: np.ndarray, grad_norm: float = 1.0, f: float = 0.3) -> pd.DataFrame:
    n = t_star.size
    frame = pd.DataFrame({"replicate": np.arange(n), "f": np.full(n, f),
                          "grad_norm": np.full(n, grad_norm), "t_star": t_star,
                          "zero_output": np.zeros(n, dtype=bool)})  # fmt: skip
    for name in _flip_columns():
        frame[name] = False
    return frame


def _implied_rows(ev, claim: str, scaling: str):
    return [r for r in ev.verdicts if r.claim == claim and r.kind == "implied constant"
            and r.params()["scaling"] == scaling]  # fmt: skip


def test_single_step_refutes_an_implied_constant_growing_like_d_to_0_2():
    # t* = (perfect half-normal sample) * d^0.2 with ||grad f|| = 1 (bubeck units): C3 and C4
    # grow like d^0.2 over 1.8 decades. Deterministic data; n = 4000 per point puts the slope's
    # bootstrap se near 0.01 (0.99 quantile), the margin of 0.1 above FLAT_TOLERANCE ~10 se.
    n = 4000
    data = {SingleStepConfig(d, 1000, "relu", "bubeck", n, 1, "exact"):
            _step_frame(_half_normal(n) * d**0.2) for d in _STEP_DIMS}  # fmt: skip
    ev = InitSingleStep().evaluate(data)
    rows = _implied_rows(ev, "bubeck2021.theorem", "bubeck")
    assert {r.params()["gamma"] for r in rows} == {0.1, 0.01}
    assert len(rows) == 4  # C3 and C4 at two gammas
    assert all(r.verdict == Verdict.VIOLATED for r in rows), [
        (r.statistic, r.verdict) for r in rows
    ]
    # Flat t* is the control: the same rows are not refuted.
    flat = {SingleStepConfig(d, 1000, "relu", "bubeck", n, 1, "exact"):
            _step_frame(_half_normal(n)) for d in _STEP_DIMS}  # fmt: skip
    rows = _implied_rows(InitSingleStep().evaluate(flat), "bubeck2021.theorem", "bubeck")
    assert rows and all(r.verdict == Verdict.HOLDS for r in rows)


@pytest.mark.parametrize("gamma", (0.1, 0.01))
def test_single_step_never_flips_bound_refutes_a_doubled_rate(gamma):
    # "w.p. >= 1 - gamma some step flips" needs P(the ray never flips) <= gamma whatever the
    # constant. Deterministic frame: exactly 2 gamma n rays never flip (t* = inf), n = 5440;
    # the row at that gamma is VIOLATED, the other gamma's row agrees with its own rate.
    n = 5440
    t = _half_normal(n)
    t[: round(2 * gamma * n)] = np.inf
    cfg = SingleStepConfig(400, 1000, "relu", "bubeck", n, 1, "exact")
    ev = InitSingleStep().evaluate({cfg: _step_frame(t)})
    rows = {r.params()["gamma"]: r for r in ev.verdicts if r.kind == "bound"}
    assert rows[gamma].verdict == Verdict.VIOLATED
    assert rows[gamma].exceedances == round(2 * gamma * n)
    assert rows[gamma].evidence == "exact" and "power" in rows[gamma].power


@pytest.fixture(scope="module")
def true_single_step():
    """The simulation's own measurements on the exact path, both scalings, 4 values of d."""
    sim = InitSingleStep()
    data = {}
    for scaling in ("bubeck", "wang"):
        for d in _STEP_DIMS:
            cfg = SingleStepConfig(d, 200, "relu", scaling, 1000, 2, "exact")
            data[cfg] = _measure(sim, cfg)
    return data, sim.evaluate(data)


def test_single_step_theorems_are_not_refuted_on_the_exact_law(true_single_step):
    # The truth (exact sampler, m = 200, n = 2000 per point): C3, C4, C2, t* sqrt(d) and eta* d
    # are bounded in d; measured large-end slopes -0.04 to -0.01, bootstrap se <= 0.013. A false
    # VIOLATED needs the slope estimate above 0.1 + 1.645 se (and the last local slope above 0.1
    # significantly): for a true slope <= 0 that is z >= 0.1/0.013 + 1.645 = 9.3, P < 1e-19 per
    # row, < 1e-17 for the 12 rows. (Planting the wang <-> bubeck step conversion as x sqrt(d)
    # makes eta* d, read from the bubeck configs, grow like d^0.5, which this test refutes.)
    _, ev = true_single_step
    rows = [r for r in ev.verdicts if r.kind == "implied constant"]
    assert len(rows) == 12  # per scaling: 3 statistics at 2 gammas
    claims = {r.claim for r in rows}
    assert claims == {"bubeck2021.theorem", "wang2022.theorem_3_1", "wang2022.theorem_3_1_step"}
    for r in rows:
        assert r.verdict != Verdict.VIOLATED, (r.statistic, r.params(), r.note)
        assert r.evidence == "exact" and r.quantifier == "random point"
    # The never-flips bound rows (no free constant) on the same data.
    never = [r for r in ev.verdicts if r.kind == "bound"]
    assert len(never) == 2 * len(_STEP_DIMS) * 2
    assert all(r.verdict != Verdict.VIOLATED for r in never)


def test_single_step_scalings_flip_at_the_same_bubeck_unit_step(true_single_step):
    # One model, two input scales: a bubeck-unit step eta is eta/d in wang units, so the
    # end-point flip rate at every eta must agree between the scalings at every d (independent
    # samples, 2000 each). Two-proportion z-test per (d, eta), |z| <= 5.7: under equal rates
    # P(|z| > 5.7) = 1.2e-8 per comparison, < 1e-6 over the 4 x 6 comparisons (Bonferroni).
    # Converting the step with sqrt(d) instead of d multiplies the wang step by sqrt(d) >= 10.
    data, _ = true_single_step
    by = {(c.scaling, c.d): df for c, df in data.items()}
    for d in _STEP_DIMS:
        b, w = by[("bubeck", d)], by[("wang", d)]
        for e in ETAS:
            pb, pw = (df[f"flip_eta_{e:g}"].astype(float).mean() for df in (b, w))
            pool = (pb + pw) / 2
            se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / len(b) + 1 / len(w)))
            assert abs(pb - pw) <= 5.7 * se, (d, e, pb, pw)


# -- init-gradient-stability: o(||grad f||) -----------------------------------------------------


def _ray_frame(ratio: np.ndarray) -> pd.DataFrame:
    n = ratio.size
    return pd.DataFrame({"replicate": np.arange(n), "f": np.full(n, 0.3),
                         "grad_norm": np.ones(n), "t_star": np.ones(n),
                         "zero_output": np.zeros(n, dtype=bool),
                         "ray_ratio_rho": ratio})  # fmt: skip


def _stability_rows(ev):
    return [r for r in ev.verdicts if r.claim == "bubeck2021.gradient_stability"
            and r.kind == "implied constant" and r.params().get("delta") == "ray_rho"]  # fmt: skip


@pytest.mark.parametrize("exponent", [0.0, 0.2])
def test_gradient_stability_is_not_confirmed_when_the_ratio_does_not_vanish(exponent):
    # ratio = (perfect half-normal sample) * d^exponent: constant or growing, so o(1) must not
    # read HOLDS (a finite grid never refutes an o-claim: INCONCLUSIVE). Deterministic data.
    n = 2000
    data = {RayStabilityConfig(d, 1000, "bubeck", n, 1):
            _ray_frame(0.2 * _half_normal(n) * d**exponent) for d in _STEP_DIMS}  # fmt: skip
    rows = _stability_rows(InitGradientStability().evaluate(data))
    assert len(rows) == 1
    assert rows[0].verdict == Verdict.INCONCLUSIVE


def test_gradient_stability_holds_on_the_exact_sampler():
    # The truth along the attack ray at ||delta|| = 1 (bubeck), m = 1000: the 0.9 quantile of
    # the ratio falls from ~0.26 (d = 100) to ~0.17 (d = 6400), slope ~ -0.1 with bootstrap se
    # ~0.003 at n = 1000 per point; HOLDS needs slope + 1.645 se < 0, failing only if the
    # estimate is > 30 se off: P < 1e-100. The random-W F5 rows run on materialised networks
    # and are not part of this test.
    sim = InitGradientStability()
    data = {}
    for d in _STEP_DIMS:
        cfg = RayStabilityConfig(d, 1000, "wang", 500, 2)
        data[cfg] = _measure(sim, cfg)
    rows = _stability_rows(sim.evaluate(data))
    assert len(rows) == 1
    assert rows[0].verdict == Verdict.HOLDS
    assert rows[0].evidence == "exact" and rows[0].side == "vanish"


def test_gradient_jump_law_refutes_a_doubled_jump_and_not_the_truth():
    # F5 on materialised networks (relu, d = 24, m = 40, 300 networks): the measured frame is
    # the truth; doubling ||grad f(x') - grad f(x)||^2 is the planted error. Planted: the
    # squared jump's sd/mean is about 1 here, so the z-test's z is about 300^(1/2) = 17 at
    # every perturbation, p far below 1e-12 (the engine's floor for normal approximations):
    # DISAGREES. Truth: the 12 law rows (4 perturbations x flips, jump, linearisation) each
    # have p <= 1e-8 with probability 1e-8 (exact binomial for the flips; for the two z-tests,
    # as far as the normal approximation of a mean of 300 iid terms holds): < 1.2e-7 in all.
    from theorycheck.simulations.init_gradient_stability import StabilityConfig

    sim = InitGradientStability()
    cfg = StabilityConfig(24, 40, "relu", "wang", 150, 2)
    truth = _measure(sim, cfg)
    laws = ("exact.f5_flips", "exact.f5_gradient_jump", "exact.f5_linearisation_error")
    rows = [r for r in sim.evaluate({cfg: truth}).verdicts if r.claim in laws]
    assert len(rows) == 12
    assert all(r.p_value > 1e-8 for r in rows), [(r.claim, r.p_value) for r in rows]
    planted = truth.copy()
    for col in [c for c in planted.columns if c.startswith("jump2_")]:
        planted[col] *= 2.0
    jumps = [r for r in sim.evaluate({cfg: planted}).verdicts
             if r.claim == "exact.f5_gradient_jump"]  # fmt: skip
    assert len(jumps) == 4
    assert all(r.verdict == Verdict.DISAGREES and r.p_value < 1e-8 for r in jumps)
