"""The verdict engine's decisions (docs/theory.md, "Verdicts"), on planted data.

Every kind of decision is tested both ways: planted errors come out VIOLATED / DISAGREES / DOES NOT
CONVERGE, the truth does not. Randomised tests use fixed seeds; where a test could fail for a
correct engine its probability is computed exactly in the test or stated in a comment.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from theorycheck.bottom_line import STATUSES, bottom_line
from theorycheck.power import binomial_power, replicates_for_power
from theorycheck.rates import fit_rate, implied_constant
from theorycheck.runner import collect_verdicts
from theorycheck.seeding import generator
from theorycheck.stats import replicates_needed
from theorycheck.store import ResultsStore
from theorycheck.verdicts import (
    FLAT_TOLERANCE,
    P_FLOOR,
    Verdict,
    apply_holm,
    bound_verdict,
    convergence_verdict,
    family_size,
    implied_constant_verdict,
    law_verdict,
    monotone_verdict,
    rows_from_frame,
    universal_verdict,
    verdict_frame,
    with_conditions,
)

# -- high-probability bounds ----------------------------------------------------------------------


def _exceedances(key, n, rate):
    """X per replicate: 1 (exceeds the bound 0.5) with probability ``rate``, else 0."""
    rng = generator(7, "decisions", key)
    return (rng.random(n) < rate).astype(float)


def test_a_doubled_exceedance_rate_is_violated_and_the_true_rate_holds():
    gamma, n = 0.1, 3000
    bad = bound_verdict("c", "s", {}, "X", _exceedances("double", n, 2 * gamma), 0.5, gamma)
    good = bound_verdict("c", "s", {}, "X", _exceedances("half", n, gamma / 2), 0.5, gamma)
    assert bad.verdict == Verdict.VIOLATED and good.verdict == Verdict.HOLDS
    # Exact failure probabilities of this test for a correct engine (the same thresholds the
    # engine uses): both far below 1e-6.
    from theorycheck.power import hold_threshold, violation_threshold

    k_vio = violation_threshold(n, gamma, 0.05)
    assert stats.binom.cdf(k_vio - 1, n, 2 * gamma) < 1e-6
    assert stats.binom.sf(hold_threshold(n, gamma, 0.95), n, gamma / 2) < 1e-6
    assert "power: VIOLATED at rate 2 gamma w.p. 1.00" in good.power


def test_the_exceedance_test_is_p_of_k_or_more_and_a_value_at_the_bound_is_no_exceedance():
    n, gamma = 100, 0.1
    # The smallest k with P(K >= k) < 0.05: P(K > k) is then >= 0.05 (a test of K > k would
    # not reject). k = 16: P(K >= 16) = 0.0399, P(K >= 17) = 0.0206 -> check both sides.
    k = next(k for k in range(n) if stats.binom.sf(k - 1, n, gamma) < 0.05)
    assert stats.binom.sf(k, n, gamma) < 0.05 <= stats.binom.sf(k - 2, n, gamma)
    x = np.r_[np.full(k, 2.0), np.full(n - k, 1.0)]  # k exceed B = 1; the others sit AT the bound
    row = bound_verdict("c", "s", {}, "X", x, 1.0, gamma)
    assert row.exceedances == k
    assert row.p_value == pytest.approx(stats.binom.sf(k - 1, n, gamma))
    assert row.verdict == Verdict.VIOLATED
    one_less = bound_verdict("c", "s", {}, "X", np.r_[x[1:], 1.0], 1.0, gamma)
    assert one_less.verdict == Verdict.INCONCLUSIVE
    assert row.note.startswith(f"{k}/{n} exceed the bound")
    # X >= B mirrored: the same k points below the bound break it, and the note says so.
    lower = bound_verdict("c", "s", {}, "X", -x, -1.0, gamma, side="lower")
    assert lower.verdict == Verdict.VIOLATED
    assert lower.note.startswith(f"{k}/{n} fall below the bound")


def test_directional_estimates_decide_only_their_direction():
    n, gamma = 3000, 0.1
    high = _exceedances("dir-high", n, 2 * gamma)
    low = _exceedances("dir-low", n, gamma / 2)
    # A lower estimate (a search for a maximum) that exceeds: refutes; that does not: undecided.
    assert bound_verdict("c", "s", {}, "X", high, 0.5, gamma, bias="lower").verdict == "VIOLATED"
    row = bound_verdict("c", "s", {}, "X", low, 0.5, gamma, bias="lower")
    assert row.verdict == Verdict.INCONCLUSIVE and "cannot show that the bound holds" in row.note
    # An upper estimate (a certificate): confirms, never refutes.
    assert bound_verdict("c", "s", {}, "X", low, 0.5, gamma, bias="upper").verdict == "HOLDS"
    row = bound_verdict("c", "s", {}, "X", high, 0.5, gamma, bias="upper")
    assert row.verdict == Verdict.INCONCLUSIVE
    # Lower-side claims (X >= B) mirror it: an upper estimate below B refutes.
    assert bound_verdict("c", "s", {}, "X", -high, -0.5, gamma, "lower", bias="upper").verdict == (
        "VIOLATED"
    )
    row = bound_verdict("c", "s", {}, "X", -high, -0.5, gamma, "lower", bias="lower")
    assert row.verdict == Verdict.INCONCLUSIVE


def test_a_universal_claim_needs_a_witness_to_fail_and_a_certificate_to_hold():
    n, gamma = 3000, 0.1
    witness = _exceedances("u-witness", n, 2 * gamma)
    clean = _exceedances("u-clean", n, gamma / 2)
    kw = {"bound": 0.5, "gamma": gamma, "side": "upper", "search": "gradient ascent"}
    assert universal_verdict("c", "s", {}, "X", witness=witness, **kw).verdict == "VIOLATED"
    found_none = universal_verdict("c", "s", {}, "X", witness=clean, **kw)
    assert found_none.verdict == Verdict.INCONCLUSIVE
    assert "no counterexample found" in found_none.note and "gradient ascent" in found_none.note
    certified = universal_verdict("c", "s", {}, "X", witness=clean, certified=clean, **kw)
    assert certified.verdict == Verdict.HOLDS and certified.quantifier == "every W in the ball"
    # A certificate that is too loose leaves the claim undecided, never refuted.
    loose = universal_verdict("c", "s", {}, "X", certified=witness, **kw)
    assert loose.verdict == Verdict.INCONCLUSIVE


def test_replicates_needed_points_both_ways():
    # The bug: k/n > gamma used to say "more replicates will not settle it".
    need = replicates_needed(60, 400, 0.1)  # rate 0.15 > 0.1
    assert need < 10**8
    k = math.ceil(0.15 * need)
    assert stats.binom.sf(k - 1, need, 0.1) < 0.05
    assert replicates_needed(40, 400, 0.1) == 10**8  # exactly at gamma
    assert replicates_needed(20, 400, 0.1) < 10**8  # 0.05 < gamma: HOLDS reachable


def test_binomial_power_matches_enumeration():
    n, gamma, level = 200, 0.05, 0.01
    p = binomial_power(n, gamma, level)
    ks = np.arange(n + 1)
    upper = np.where(ks < n, stats.beta.ppf(0.95, ks + 1, n - ks), 1.0)
    holds = stats.binom.pmf(ks, n, gamma / 2)[upper <= gamma].sum()
    reject = stats.binom.sf(ks - 1, n, gamma) < level
    violated = stats.binom.pmf(ks, n, 2 * gamma)[reject].sum()
    assert p.holds == pytest.approx(holds, abs=1e-12)
    assert p.violated == pytest.approx(violated, abs=1e-12)
    n_design = replicates_for_power(0.01, 0.05 / 1000)
    design = binomial_power(n_design, 0.01, 0.05 / 1000)
    assert design.holds >= 0.99 and design.violated >= 0.99
    assert 3000 < n_design < 8000  # the estimate: ~5,400 for gamma = 0.01 after Holm


# -- implied constants ------------------------------------------------------------------------

GRID = np.array([100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0])


def _constant_fit(key, growth, saturate=0.0, n=4000):
    """Replicates of C(x) = (1 + saturate * (1 - 100/x)) x^growth times lognormal noise; the
    fitted implied constant at quantile 0.9."""
    rng = generator(11, "implied", key)
    samples = [
        (1 + saturate * (1 - 100 / x)) * x**growth * np.exp(0.3 * rng.standard_normal(n))
        for x in GRID
    ]
    return implied_constant(GRID, samples, np.ones(GRID.size), rng, n_boot=400, statistic=0.9)


def test_a_bounded_constant_holds_and_one_growing_like_x_to_the_0_2_is_violated():
    # The 0.9-quantile of a lognormal(0, 0.3) has se ~ 0.3 * 1.8 / sqrt(4000) * q ~ 0.9% per
    # point; over 1.5 decades the slope's se is ~0.006. True slope 0: HOLDS unless the slope is
    # > (0.1 / 0.006 - 1.64) ~ 15 se off. Slope 0.2: VIOLATED unless ~(0.1/0.006 - 1.64) se off.
    true = implied_constant_verdict("c", "s", {}, "C", _constant_fit("flat", 0.0), side="upper")
    grows = implied_constant_verdict("c", "s", {}, "C", _constant_fit("grow", 0.2), side="upper")
    assert true.verdict == Verdict.HOLDS and grows.verdict == Verdict.VIOLATED
    assert "growth like x^" in true.power
    # Omega mirrored: a decaying constant refutes an Omega claim.
    decays = implied_constant_verdict("c", "s", {}, "C", _constant_fit("d", -0.2), side="lower")
    assert decays.verdict == Verdict.VIOLATED
    assert (
        implied_constant_verdict(
            "c", "s", {}, "C", _constant_fit("flat", 0.0), side="lower"
        ).verdict
        == Verdict.HOLDS
    )


def test_an_implied_constant_row_carries_the_constant_at_the_largest_grid_value():
    """The row's estimate is the slope the verdict tests; its ``constant`` is the implied
    constant at x = 3200, and the report's table shows both under their own headers."""
    from theorycheck.reports.tables import detail_table, fmt_num, implied_constants_table

    row = implied_constant_verdict("c", "s", {}, "C", _constant_fit("grow", 0.2), side="upper")
    # Exact 0.9 quantile of 3200^0.2 lognormal(0, 0.3). The empirical quantile of n = 4000 has a
    # log-scale sd of 0.3 sqrt(0.09 / 4000) / phi(1.2816) = 0.0081; 6% is > 7 sd (P < 1e-12).
    exact = 3200**0.2 * math.exp(0.3 * stats.norm.ppf(0.9))
    assert abs(row.constant / exact - 1) < 0.06
    assert abs(row.estimate - 0.2) < 0.05  # the slope: se ~0.006 (see the test above)
    table = implied_constants_table(verdict_frame([row]))
    cells = dict(zip(table.headers, table.rows[0], strict=True))
    assert cells["at the largest grid value"] == fmt_num(row.constant)
    assert cells["slope"] == "+" + fmt_num(row.estimate)
    # The appendix names the grid the row spans, not "(single point)".
    detail = detail_table(verdict_frame([row]))
    assert detail.rows[1][0] == "x = 100 to 3200, 6 points"


def test_a_saturating_constant_is_not_violated():
    # C = 1 + 3 (1 - 100/x): it rises from 1 to 4 and levels off. Over the grid its overall slope
    # is ~0.3, but the last local slope (1600 -> 3200) is ~0.03 < FLAT_TOLERANCE: the
    # intersection-union test does not refute it.
    fit = _constant_fit("saturate", 0.0, saturate=3.0)
    assert fit.exponent > FLAT_TOLERANCE
    row = implied_constant_verdict("c", "s", {}, "C", fit, side="upper")
    # Not HOLDS either: its slope (~0.3) is far above the tolerance. It says why, once, also
    # after Holm re-decides it.
    assert row.verdict == Verdict.INCONCLUSIVE
    again = apply_holm([row, row])[0]
    for r in (row, again):
        assert r.note.startswith("undecided: the constant grows (slope +0.")
        assert r.note.count("undecided") == 1


def test_implied_constants_need_four_points_and_respect_the_bias():
    fit = _constant_fit("grow", 0.2)
    short = fit_rate(GRID[:3], [np.exp(GRID[i] / 1e4) * np.ones(5) for i in range(3)],
                     generator(0, "s"), n_boot=10)  # fmt: skip
    row = implied_constant_verdict("c", "s", {}, "C", short, side="upper")
    assert row.verdict == Verdict.DESCRIPTIVE and row.family == "descriptive"
    # A particular W's constant is a lower estimate of the sup over the ball: refutes, never holds.
    flat = implied_constant_verdict(
        "c", "s", {}, "C", _constant_fit("flat", 0.0), side="upper", bias="lower"
    )
    assert flat.verdict == Verdict.INCONCLUSIVE and "no counterexample found" in flat.note
    grows = implied_constant_verdict("c", "s", {}, "C", fit, side="upper", bias="lower")
    assert grows.verdict == Verdict.VIOLATED
    assert grows.params()["grid"] == list(GRID)


# -- convergence, monotonicity, laws -----------------------------------------------------------


def test_convergence_of_an_asymptotic_formula():
    d = np.array([40.0, 160.0, 640.0])
    # The RF t^2 example: S = 0.430, 0.4105, 0.4025 at d = 40, 160, 640, limit 0.4 (gap ~ 1/d).
    row = convergence_verdict("c", "s", {}, "S", d, [0.430, 0.4105, 0.4025], 0.4)
    assert row.verdict == Verdict.CONVERGES
    # A formula off by 10%: the gap levels off at 0.04, it does not shrink.
    off = convergence_verdict("c", "s", {}, "S", d, [0.470, 0.4505, 0.4425], 0.4)
    assert off.verdict == Verdict.INCONCLUSIVE
    # A gap that grows significantly refutes the formula as a limit.
    grows = convergence_verdict("c", "s", {}, "S", d, [0.41, 0.43, 0.47], 0.4, [1e-3] * 3)
    assert grows.verdict == Verdict.DOES_NOT_CONVERGE
    # Noisy estimates whose largest-d gap is inside the CI: converges, stating what it would see.
    noisy = convergence_verdict("c", "s", {}, "S", d, [0.43, 0.41, 0.401], 0.4, [0.01] * 3)
    assert noisy.verdict == Verdict.CONVERGES and "would have shown" in noisy.note
    # Every supporting row states its power, exact ones included.
    assert "power: a gap beyond 0.0196" in noisy.power
    assert "exact values" in row.power


def test_monotonicity_is_a_statistical_test():
    x = np.arange(6.0)
    y = np.array([1.0, 1.1, 1.2, 1.195, 1.3, 1.4])  # a dip of 0.005 with se 0.01: noise
    assert monotone_verdict("c", "s", {}, "S", x, y, 0.01, direction=1).verdict == "HOLDS"
    deep = y.copy()
    deep[3] = 1.0  # a dip of 0.2 = 14 se of the step
    row = monotone_verdict("c", "s", {}, "S", x, deep, 0.01, direction=1)
    assert row.verdict == Verdict.VIOLATED and "power" in row.power
    # The note says which way the worst step went, in words (no sign convention to decode).
    assert "x 2 -> 3, the value falls by 0.2 " in row.note
    rising = monotone_verdict("c", "s", {}, "S", x, x, 0.01, direction=1)
    assert "every step goes the claimed way; the smallest: x 0 -> 1, the value rises by 1" in (
        rising.note
    )
    falling = monotone_verdict("c", "s", {}, "S", x, -x, 0.01, direction=-1)
    assert falling.verdict == "HOLDS" and "the value falls by 1" in falling.note


def test_law_rows_state_their_power_and_floor_normal_p_values():
    rng = generator(3, "law")
    x = rng.standard_normal(400)
    row = law_verdict("c", "s", {}, "mean", "z", 0.3, x, 0.0)
    assert row.verdict == Verdict.AGREES
    # (z_0.975 + z_0.9) * sd / sqrt(n): about 3.24 / 20 = 0.16.
    assert "shift of the mean by 0.1" in row.power
    tiny = law_verdict("c", "s", {}, "mean", "z", 1e-293, x, 0.0)
    assert tiny.p_value == P_FLOOR and tiny.verdict == Verdict.DISAGREES
    ks = law_verdict("c", "s", {}, "law", "ks", 0.3, x, 0.0)
    assert "CDF distance" in ks.power


# -- the family ----------------------------------------------------------------------------------


def test_holm_adjusts_the_confirmatory_rows_only():
    rows = [law_verdict("c", "s", {"i": i}, "X", "z", 0.02, [0.0, 1.0]) for i in range(3)]
    assert all(r.verdict == Verdict.DISAGREES for r in rows)  # unadjusted
    descr = _constant_fit("flat", 0.0)
    two = fit_rate(GRID[:2], [np.ones(3), 2 * np.ones(3)], generator(0, "t"), n_boot=5)
    d_row = implied_constant_verdict("c", "s", {}, "C", two, side="upper")
    assert d_row.family == "descriptive"
    adjusted = apply_holm([*rows, d_row])
    # Holm over 3 rows (the descriptive one is outside): 3 * 0.02 = 0.06 > 0.05 for every row.
    assert [r.verdict for r in adjusted[:3]] == ["AGREES"] * 3
    assert adjusted[0].p_adjusted == pytest.approx(0.06)
    assert adjusted[3] == d_row and family_size(adjusted) == 3
    assert adjusted[0].level == pytest.approx(0.05 / 3)
    assert descr.n.sum() > 0


def test_the_runner_applies_holm_over_the_runs_simulations_only(tmp_path):
    store = ResultsStore(tmp_path)
    for sim, ps in (("sim-a", [0.02, 0.02, 0.02]), ("sim-b", [0.03] * 20)):
        rows = [law_verdict("c", sim, {"i": i}, "X", "z", p, [0.0, 1.0]) for i, p in enumerate(ps)]
        store.write_table(f"{sim}/verdicts-quick-s0", verdict_frame(rows), {})
    alone = collect_verdicts(store, "quick", 0, 0.05, simulations=["sim-a"])
    # sim-b is stored in the same directory but not part of this run: the family has 3 rows.
    assert set(alone["simulation"]) == {"sim-a"}
    assert (alone["verdict"] == "AGREES").all()  # 3 * 0.02 = 0.06 after Holm
    assert alone["p_adjusted"].tolist() == pytest.approx([0.06] * 3)
    both = collect_verdicts(store, "quick", 0, 0.05, simulations=["sim-a", "sim-b"])
    assert len(both) == 23 and (both["verdict"] == "AGREES").all()


def test_the_stored_table_has_parameters_as_columns_and_round_trips():
    rows = [
        bound_verdict("c", "s", {"d": 10, "m": 100, "W": "W0", "gamma": 0.1}, "X",
                      _exceedances("frame", 50, 0.05), 0.5, 0.1),
        law_verdict("c2", "s", {"d": 20, "n": 3}, "Y", "z", 0.5, [0.0, 1.0]),
    ]  # fmt: skip
    rows = with_conditions(rows, lambda claim, p: {"c": True, "c2": None}[claim])
    frame = verdict_frame(rows)
    assert frame["d"].tolist() == [10.0, 20.0] and frame["W"].tolist()[0] == "W0"
    assert frame["param_gamma"].tolist()[0] == 0.1 and frame["param_n"].tolist()[1] == 3
    assert frame["conditions"].tolist() == ["inside", "unknown"]
    for col in ("quantifier", "evidence", "vacuous", "conditions"):
        assert col in frame
    # NaN fields make row equality useless: compare the stored forms.
    pd.testing.assert_frame_equal(verdict_frame(rows_from_frame(frame)), frame)


def test_the_bottom_line_never_counts_outside_rows_as_refutations():
    def row(claim, verdict, conditions, family="confirmatory", note=""):
        fixed = {"simulation": "s", "parameters": '{"d": 1}', "evidence": "exact", "note": note}
        return {"claim": claim, "verdict": verdict, "conditions": conditions, "family": family,
                **fixed}  # fmt: skip

    table = pd.DataFrame([
        row("wang2022.a", "VIOLATED", "outside"), row("wang2022.a", "HOLDS", "inside"),
        row("wang2022.b", "VIOLATED", "inside"), row("wang2022.b", "HOLDS", "inside"),
        row("exact.c", "AGREES", "unknown"),
        row("dohmatob2022.d", "CONVERGES", "unknown"),
        row("bubeck2021.e", "INCONCLUSIVE", "unknown"), row("bubeck2021.e", "HOLDS", "unknown"),
        row("exact.f", "DESCRIPTIVE", "unknown", note="n = 2 < the 472 replicates; more"),
        row("exact.f", "DESCRIPTIVE", "unknown", note="n = 2 < the 472 replicates"),
        row("exact.k", "DESCRIPTIVE", "unknown", note="trivial radius; attack cannot decide"),
        row("exact.k", "DESCRIPTIVE", "unknown", note="attack cannot decide; R = 0.5"),
        # A deterministic computation next to tests of the claim is no test of it ...
        row("wang2022.g", "AGREES", "unknown", "deterministic"),
        row("wang2022.g", "HOLDS", "outside"),
        # ... but it is when nothing else checks the claim (an identity computed exactly).
        row("exact.h", "HOLDS", "unknown", "deterministic"),
    ])  # fmt: skip
    line = bottom_line(table).set_index("claim")["status"]
    assert line["wang2022.a"] == "fails only outside its conditions"
    assert line["wang2022.b"] == "refuted inside its conditions"
    assert line["exact.c"] == "holds at every decided point inside its conditions"
    assert line["dohmatob2022.d"] == "converges"
    assert line["bubeck2021.e"] == "undecided"
    # Every claim is on the line: one described only is undecided, and the line says why.
    assert line["exact.f"] == "undecided"
    detail = bottom_line(table).set_index("claim").loc["exact.f", "detail"]
    assert detail == "2 rows, all descriptive: n = 2 < the 472 replicates"
    # The reason is the clause most rows share, not the first clause of some row.
    detail = bottom_line(table).set_index("claim").loc["exact.k", "detail"]
    assert detail == "2 rows, all descriptive: attack cannot decide"
    assert line["wang2022.g"] == "undecided"
    # ... and the line says it passed, so its count does not seem to vanish.
    detail = bottom_line(table).set_index("claim").loc["wang2022.g", "detail"]
    assert detail.startswith("no decided test inside its conditions (and 1 exact check passes)")
    assert line["exact.h"] == "holds at every decided point inside its conditions"
    # Findings first.
    assert line.index[0] == "wang2022.b"
    assert list(line.index) == sorted(line.index, key=lambda c: STATUSES.index(line[c]))


def test_every_registered_claim_has_its_paper_on_the_bottom_line():
    """The bottom line groups claims by paper: a registered paper module without an entry in
    PAPERS would show its raw id prefix (as schmidt2018 and vardi2022 once did)."""
    from theorycheck.bottom_line import PAPERS
    from theorycheck.bounds import REGISTRY

    missing = sorted({c.split(".", 1)[0] for c in REGISTRY} - set(PAPERS))
    assert not missing, missing


def test_a_refutation_on_the_bottom_line_says_where_it_lives_and_why():
    """Lemma 4.2's refutations are all at d = 1 while its other rows are not: the line says
    "all 2 at d=1" and gives the first refuting row's evidence; a value every row shares (m)
    locates nothing and is not named."""

    def row(verdict, d, note=""):
        return {"claim": "wang2022.x", "verdict": verdict, "conditions": "inside",
                "family": "confirmatory", "simulation": "s", "evidence": "search",
                "parameters": json.dumps({"d": d, "m": 100}), "note": note}  # fmt: skip

    table = pd.DataFrame([
        row("VIOLATED", 1, "short; exact P(norm < sqrt(d)/4) = 0.277 at W0; search: 200 of 200; x"),
        row("VIOLATED", 1, "other"),
        row("HOLDS", 100), row("INCONCLUSIVE", 10),
    ])  # fmt: skip
    detail = bottom_line(table).set_index("claim").loc["wang2022.x", "detail"]
    assert detail.startswith("all 2 at d=1: VIOLATED at d=1, m=100")
    assert "m=100:" not in detail.split(":")[0]
    # clauses up to >= 60 characters: all three here (46 after the second)
    why = "Why: short; exact P(norm < sqrt(d)/4) = 0.277 at W0; search: 200 of 200"
    assert detail.endswith(why)
    # Refutations at several d: no "all ... at" prefix.
    table.loc[1, "parameters"] = json.dumps({"d": 10, "m": 100})
    detail = bottom_line(table).set_index("claim").loc["wang2022.x", "detail"]
    assert detail.startswith("VIOLATED at d=1, m=100")
