"""The quadratic-* simulations (Dohmatob & Bietti 2022) on tiny grids: registry, verdict rows,
figures, the statements that must hold exactly whatever the draws, and the VERDICTS on planted
data (a formula shifted by 5%, a gap that does not shrink or grows with d, a dip of S several
standard errors deep, a wrong sign split of SGD): each must come out DOES NOT CONVERGE /
INCONCLUSIVE / VIOLATED, and the true data must not.

Each simulation's ``measure``/``evaluate`` runs as the runner runs it (one generator per block from
:func:`theorycheck.seeding.generator`). Statistical rows (Monte Carlo vs exact solver) are only
required not to reject at 1e-7 (a correct implementation fails with probability < 1e-7 per row),
and refutations of the true data are decided with Holm at family-wise level STRICT = 1e-7.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import theorycheck.simulations.quadratic_nt as nt_module
import theorycheck.simulations.quadratic_rf as rf_module
from theorycheck.simulation import measure_blocks
from theorycheck.simulations import REGISTRY
from theorycheck.simulations._quadratic import block_se, e2e_verdict, formula_convergence
from theorycheck.simulations.quadratic_lazy import QuadraticLazy
from theorycheck.simulations.quadratic_nn import QuadraticNN, _sgd_row
from theorycheck.simulations.quadratic_nt import QuadraticNT
from theorycheck.simulations.quadratic_rf import QuadraticRF
from theorycheck.simulations.quadratic_tradeoff import QuadraticTradeoff
from theorycheck.verdicts import Verdict, apply_holm

STRICT = 1e-7
PSIS = (0.25, 1.0, 2.0)
#: The values of d of the tiny convergence grid: the main line's and two solver-only lines.
TINY_DS = (12, 24, 48)


def _tiny(sim, **changes):
    """The quick configs of ``sim`` shrunk to d = 12, the grid PSIS and 2 blocks. Sphere and
    online-SGD lines keep their own psi (chosen where S is identified on the sphere). The
    solver-only convergence lines become one line at each further d of TINY_DS (3 blocks)."""
    configs, seen = [], set()
    for cfg in sim.configs("quick"):
        if getattr(cfg, "solver_only", False):
            key = cfg.activation
            if key not in seen:
                seen.add(key)
                configs += [replace(cfg, d=d, psis=PSIS) for d in TINY_DS[1:]]
            continue
        fields = {"d": 12, "n_blocks": 2, **changes}
        if getattr(cfg, "convergence_ds", ()):
            fields["convergence_ds"] = TINY_DS[1:]
        special = getattr(cfg, "inputs", "gaussian") != "gaussian" or not getattr(
            cfg, "main_grid", True
        )
        if special:
            fields.pop("psis", None)
        elif hasattr(cfg, "psis"):
            fields["psis"] = changes.get("psis", PSIS)
        if hasattr(cfg, "mc_samples"):
            fields["mc_samples"] = 4000
        if getattr(cfg, "sgd_steps", 0):
            fields["sgd_steps"] = 1000
        configs.append(replace(cfg, **{k: v for k, v in fields.items() if hasattr(cfg, k)}))
    return configs


def _run(sim, configs):
    data = {cfg: measure_blocks(sim, cfg) for cfg in configs}
    return sim.evaluate(data)


def _check_common(sim, ev):
    assert ev.verdicts and {r.verdict for r in ev.verdicts} <= {v.value for v in Verdict}
    assert {r.claim for r in ev.verdicts} <= set(sim.claims)
    names = {f.name for f in ev.figures}
    assert set(ev.summary["figure"]) <= names
    assert {"x", "estimate", "ci_low", "ci_high", "series", "panel"} <= set(ev.summary)
    for row in ev.verdicts:
        json.loads(row.parameters)
        if row.test.startswith("z"):  # Monte Carlo vs exact: no rejection at 1e-7
            assert row.p_value > STRICT, row
    for row in apply_holm(ev.verdicts):
        # Exact statements hold whatever the draws (SGD's run is a search: tested below).
        searched = row.statistic.startswith("online SGD")
        if row.test == "checked statement" and "tradeoff" not in row.claim and not searched:
            assert row.verdict == "HOLDS", row


def test_the_five_simulations_are_registered():
    for sim_id in ("quadratic-rf", "quadratic-nt", "quadratic-nn", "quadratic-lazy",
                   "quadratic-tradeoff"):  # fmt: skip
        assert sim_id in REGISTRY
        for profile in ("quick", "full"):
            assert REGISTRY[sim_id].configs(profile)


# -- RF and NT: tiny runs, kept for the planted-data tests --------------------------------------

_RUNS: dict = {}


def _tiny_data(sim_class):
    """(simulation, data) of a tiny run, computed once per test session."""
    if sim_class not in _RUNS:
        sim = sim_class()
        configs = _tiny(sim, train_ratio=20, n_blocks=3)  # 3 draws per d, as the solver lines
        data = {cfg: measure_blocks(sim, cfg) for cfg in configs}
        _RUNS[sim_class] = (sim, data)
    return _RUNS[sim_class]


def _convergence_rows(ev):
    return [r for r in ev.verdicts if r.statistic.endswith("over d")]


@pytest.mark.parametrize("sim_class", [QuadraticRF, QuadraticNT])
def test_rf_and_nt_tiny_runs(sim_class):
    sim, data = _tiny_data(sim_class)
    ev = sim.evaluate(data)
    _check_common(sim, ev)
    statistics = {r.statistic for r in ev.verdicts}
    assert any("Monte Carlo (fresh x) vs exact solver" in s for s in statistics)
    poincare = [r for r in ev.verdicts if r.claim == "dohmatob2022.tradeoff_poincare"]
    assert poincare and all(r.verdict == "HOLDS" for r in poincare)
    # No formula is held to a tolerance at one d: every formula row spans >= 3 values of d, or
    # is a comparison at round-off of a formula exact at every d.
    assert not any(s.endswith("vs asymptotic formula") for s in statistics)
    rows = _convergence_rows(ev)
    assert rows
    for r in rows:
        if r.test == "relative error":
            assert r.params()["atol"] <= 1e-8 * (1 + abs(r.bound)), r
        else:
            assert r.test == "convergence of the gap" and r.n >= 3, r
            for d in TINY_DS:
                assert f"d={d}:" in r.note, r  # the gap at each d is reported
    # The true data: no refutation at family-wise level STRICT, and the formulas do converge.
    strict = apply_holm(ev.verdicts, alpha=STRICT)
    assert not [r for r in strict if r.verdict == "DOES NOT CONVERGE"]
    assert any(r.verdict == "CONVERGES" for r in strict)


@pytest.mark.parametrize("sim_class", [QuadraticRF, QuadraticNT])
def test_sphere_inputs_without_a_sphere_solver_get_no_verdict(sim_class):
    sim, data = _tiny_data(sim_class)
    ev = sim.evaluate(data)
    gelu_sphere = [
        r for r in ev.verdicts
        if r.params().get("inputs") == "sphere" and r.params().get("activation") == "gelu"
    ]  # fmt: skip
    assert gelu_sphere == []
    assert "Gaussian solver" not in " ".join(r.statistic for r in ev.verdicts)
    sphere = ev.summary[ev.summary["figure"] == "sphere"]
    assert len(sphere) == len(nt_module.SPHERE_PSIS if sim_class is QuadraticNT else
                              rf_module.SPHERE_PSIS)  # fmt: skip
    assert "sphere" in {f.name for f in ev.figures}
    # relu and t^2 (sphere solvers) keep their verdicts on the sphere.
    acts = {r.params()["activation"] for r in ev.verdicts if r.params().get("inputs") == "sphere"}
    assert acts == {"relu", "quadratic"}


def _formula_lines(data):
    return {c: df for c, df in data.items() if c.formula_line}


def _plant(data, gap_of):
    """``data`` with every formula line's solver values (column eps/S, RF: eps_avg/S_avg)
    replaced, per (activation, psi, d), by reference + gap_of(reference, d) + the blocks' own
    deviations from their mean: the planted gap is exact, the spread over blocks is kept.
    Rows with a formula of 0 (exact at every d) are left alone. Returns (data, references)."""
    sim_class = QuadraticRF if any(isinstance(c, rf_module.RFConfig) for c in data) else QuadraticNT
    refs = {
        (r.params()["activation"], r.params()["psi"], r.statistic.split(":")[0].split()[0]): r.bound
        for r in _convergence_rows(sim_class().evaluate(data))
    }  # fmt: skip
    out = dict(data)
    for cfg, df in _formula_lines(data).items():
        df = df.copy()
        for psi in df["psi"].unique():
            at = df["psi"] == psi
            for q in ("eps", "S"):
                ref = refs.get((cfg.activation, psi, q))
                if ref is None or abs(ref) < 1e-6:
                    continue
                col = f"{q}_avg" if sim_class is QuadraticRF else q
                v = df.loc[at, col].to_numpy(float)
                df.loc[at, col] = ref + gap_of(ref, cfg.d) + (v - v.mean())
        out[cfg] = df
    return out, refs


def _decided(sim, data, alpha=0.05):
    rows = apply_holm(sim.evaluate(data).verdicts, alpha)
    return [r for r in rows if r.test == "convergence of the gap"]


def _precise(data, refs, sim_class):
    """(activation, psi, q) whose block standard error is <= 1% of |formula| at every d: there a
    5% gap is >= 5 standard errors (the planted-data arithmetic below relies on it)."""
    ok = {}
    for cfg, df in _formula_lines(data).items():
        for psi, sub in df.groupby("psi"):
            for q in ("eps", "S"):
                ref = refs.get((cfg.activation, psi, q))
                if ref is None or abs(ref) < 1e-6:
                    continue
                col = f"{q}_avg" if sim_class is QuadraticRF else q
                key = (cfg.activation, psi, q)
                ok[key] = ok.get(key, True) and block_se(sub[col]) <= 0.01 * abs(ref)
    return {k for k, v in ok.items() if v}


def _key(r):
    q = r.statistic.split(":")[0].split()[0]
    return (r.params()["activation"], r.params()["psi"], q)


@pytest.mark.parametrize("sim_class", [QuadraticRF, QuadraticNT])
def test_a_gap_that_grows_with_d_does_not_converge(sim_class):
    """Planted gap 5% |formula| (d / 12): 5%, 10%, 20% at d = 12, 24, 48, exact (the blocks'
    deviations have mean 0). Where the block se is <= 1% of |formula|, the weights
    (gap / se)^2 are >= 25, 100, 400, so the weighted slope's se is <= 0.115 (1 / sqrt(sum w
    (log d - mean)^2) = 1 / sqrt(75.6)) and its z for the slope 1 is >= 8.7: p <= 2e-18, below
    0.05 after Holm over any family here. The only randomness is whether se <= 1%, which the
    test checks (and requires of at least one row per simulation), so it cannot fail by chance."""
    sim, data = _tiny_data(sim_class)
    planted, refs = _plant(data, lambda ref, d: 0.05 * abs(ref) * d / 12)
    precise = _precise(data, refs, sim_class)
    assert precise
    rows = [r for r in _decided(sim, planted) if _key(r) in precise]
    assert rows
    assert all(r.verdict == "DOES NOT CONVERGE" for r in rows), [(_key(r), r.note) for r in rows]


@pytest.mark.parametrize("sim_class", [QuadraticRF, QuadraticNT])
def test_a_gap_that_does_not_shrink_never_converges(sim_class):
    """Planted gap 5% |formula| at every d, exact: log|gap| is flat (slope 0 up to round-off,
    no residual), so the slope is never significantly negative, and where se <= 1% of
    |formula| the last gap is >= 5 se, outside its 95% interval: never CONVERGES, whatever the
    seed (deterministic arithmetic, no failure probability)."""
    sim, data = _tiny_data(sim_class)
    planted, refs = _plant(data, lambda ref, d: 0.05 * abs(ref))
    precise = _precise(data, refs, sim_class)
    rows = [r for r in _decided(sim, planted) if _key(r) in precise]
    assert rows
    assert all(r.verdict in ("INCONCLUSIVE", "DOES NOT CONVERGE") for r in rows), [
        (_key(r), r.verdict, r.note) for r in rows
    ]


def test_a_formula_shifted_by_five_percent_is_not_confirmed(monkeypatch):
    """The RF formulas multiplied by 1.05 (a planted 5% error) against the true solver values:
    wherever the true gap is below 1% of the formula at every d of the grid (and se <= 1%), the
    shifted gap stays between 4% and 6% of the formula, a ratio of at most 1.5 over a 4-fold
    range of d, while a converging gap would fall towards 0: the row must not CONVERGE."""
    sim, data = _tiny_data(QuadraticRF)
    true_rows = {_key(r): r for r in _decided(sim, data)}
    refs = {k: r.bound for k, r in true_rows.items()}
    precise = _precise(data, refs, QuadraticRF)
    small = set()
    for key in precise:
        act, psi, q = key
        gaps = []
        for cfg, df in _formula_lines(data).items():
            if cfg.activation == act and (df["psi"] == psi).any():
                gaps.append(abs(df.loc[df["psi"] == psi, f"{q}_avg"].mean() - refs[key]))
        if max(gaps) < 0.01 * abs(refs[key]):
            small.add(key)
    assert small
    formulas = rf_module._formulas
    monkeypatch.setattr(rf_module, "_formulas", lambda cfg, psi: tuple(
        1.05 * v for v in formulas(cfg, psi)))  # fmt: skip
    rows = [r for r in _decided(sim, data) if _key(r) in small]
    assert rows and not [r for r in rows if r.verdict == "CONVERGES"], [
        (_key(r), r.note) for r in rows if r.verdict == "CONVERGES"
    ]
    # ... and the true formulas do converge on some of them.
    assert any(true_rows[k].verdict == "CONVERGES" for k in small)


def test_nt_formulas_exact_at_every_d_are_compared_at_round_off():
    """tanh with F1 = 0: eps = F2^2 and S = 0 at every d (odd features, even target): a
    deterministic comparison that agrees on the true values and disagrees on a planted 1e-3."""
    sim, data = _tiny_data(QuadraticNT)
    tanh = {c: df for c, df in data.items() if c.activation == "tanh" and c.formula_line}
    assert tanh

    def rows(d):
        ev = sim.evaluate(d)
        return [
            r for r in ev.verdicts
            if r.statistic.endswith("over d") and r.params()["activation"] == "tanh"
        ]  # fmt: skip

    true = rows(data)
    assert len(true) == 2 * len(PSIS) and all(r.verdict == "AGREES" for r in true)
    cfg, df = next(iter(tanh.items()))
    bad = df.copy()
    bad["S"] = bad["S"] + 1e-3
    planted = rows({**data, cfg: bad})
    assert {r.verdict for r in planted if r.statistic.startswith("S")} == {"DISAGREES"}


# -- quadratic-nn ---------------------------------------------------------------------------------


def test_nn_tiny_run():
    sim = QuadraticNN()
    configs = [replace(c, sgd_steps=1500, extra_targets=2) for c in _tiny(sim, n_blocks=1)]
    ev = _run(sim, configs)
    _check_common(sim, ev)
    identity = [r for r in ev.verdicts if r.claim == "dohmatob2022.tradeoff_identity_t2"]
    assert identity and identity[0].verdict == "HOLDS"
    # The semicircle formulas: over d, never a tolerance at one d; exact for psi >= 1.
    formula = [r for r in ev.verdicts if r.statistic.endswith("over d")]
    assert {r.params()["psi"] for r in formula} == set(PSIS)
    for r in formula:
        if r.params()["psi"] >= 1:
            assert r.test == "relative error" and r.verdict == "AGREES", r
        else:
            assert r.test == "convergence of the gap", r
    assert not [r for r in apply_holm(ev.verdicts, STRICT) if r.verdict == "DOES NOT CONVERGE"]
    # SGD: a search, decided by exact computations on the network it returned.
    sgd = [r for r in ev.verdicts if r.statistic.startswith("online SGD")]
    assert len(sgd) == len(PSIS) + 3  # Gaussian grid and the sphere line
    for r in sgd:
        assert r.evidence == "search" and r.family == "deterministic"
        assert (r.verdict == "VIOLATED") == r.note.startswith("witness"), r


def _sgd_frame(sgd_eps, eps, split_eps, split=(3, 1), needed=(2, 2)):
    return pd.DataFrame({"sgd_eps": [sgd_eps], "eps": [eps], "split_eps": [split_eps],
                         "target_variance": [1.0], "n_pos": [split[0]], "n_neg": [split[1]],
                         "ey_pos": [needed[0]], "ey_neg": [needed[1]]})  # fmt: skip


def test_nn_sgd_verdict_follows_the_search_rules():
    """Hand-built outcomes of one SGD run (Var f* = 1, optimiser tolerance 0.5%)."""
    cfg = next(c for c in QuadraticNN().configs("quick") if c.inputs == "gaussian")
    params = {"psi": 0.1}

    def row(*args, **kw):
        return _sgd_row("quadratic-nn", cfg, params, _sgd_frame(*args, **kw), "", "")

    # A wrong sign split whose own optimum is above the global one: a certified witness, however
    # well SGD converged inside its split.
    r = row(0.70, 0.68, 0.6999)
    assert r.verdict == "VIOLATED" and r.evidence == "search" and "witness" in r.note
    # The right split: within the optimiser tolerance it reached the optimum...
    assert row(0.682, 0.68, 0.68, split=(2, 2)).verdict == "HOLDS"
    # ... beyond it SGD has not converged: an upper estimate of the optimum proves nothing.
    r = row(0.75, 0.68, 0.68, split=(2, 2))
    assert r.verdict == "INCONCLUSIVE" and "not converged" in r.note
    # A different split whose optimum equals the global one (up to round-off) is no witness.
    assert row(0.68, 0.68, 0.68 + 1e-14).verdict == "HOLDS"


# -- quadratic-lazy -------------------------------------------------------------------------------


def test_lazy_tiny_run_flat_where_f0_is_in_the_span_and_growing_elsewhere():
    sim = QuadraticLazy()
    configs = [replace(c, init_samples=4000) for c in _tiny(sim, psis=(0.5, 2.0))]
    ev = _run(sim, configs)
    _check_common(sim, ev)
    claims = [r for r in ev.verdicts if r.test == "checked statement"]
    assert all(r.verdict == "HOLDS" for r in claims)
    gaussian = [r for r in claims if "inputs" not in r.params()]
    assert len(gaussian) == 4 * 2 * 2  # activations x psi x regime
    grows = {(r.params()["activation"], r.params()["regime"]) for r in gaussian
             if "increasing" in r.statistic}  # fmt: skip
    assert grows == {("gelu", "nt"), ("tanh", "nt")}
    # Sphere lines: exact solver for relu and t^2 only (flat: f0 stays in the tangent span), 2 psi
    # x 2 regimes each; gelu (no sphere solver) has no verdict, only its summary rows.
    sphere = [r for r in claims if r.params().get("inputs") == "sphere"]
    assert len(sphere) == 2 * 2 * 2 and all("flat" in r.statistic for r in sphere)
    e2e = [r for r in ev.verdicts if r.statistic.startswith("eps: end-to-end")]
    assert {r.params()["activation"] for r in e2e} == {"relu", "quadratic"}
    assert all(r.params()["inputs"] == "sphere" and r.params()["regime"] == "nt" for r in e2e)
    assert not [
        r
        for r in ev.verdicts
        if r.params().get("inputs") == "sphere" and r.params()["activation"] == "gelu"
    ]
    assert len(ev.summary[ev.summary["figure"] == "sphere"]) == 2  # gelu, one row per psi


# -- quadratic-tradeoff ---------------------------------------------------------------------------


def _tradeoff_data():
    sim = QuadraticTradeoff()
    cfg = replace(_tiny(sim)[0], n_blocks=4)
    return sim, cfg, measure_blocks(sim, cfg)


def _monotone(ev):
    return {r.params()["regime"]: r for r in apply_holm(ev.verdicts)
            if r.test.startswith("monotone")}  # fmt: skip


def test_tradeoff_tiny_run_checks_every_regime():
    sim, cfg, df = _tradeoff_data()
    ev = sim.evaluate({cfg: df})
    _check_common(sim, ev)
    rows = [r for r in ev.verdicts if r.claim == "dohmatob2022.claim_tradeoff"]
    assert len({r.params()["regime"] for r in rows}) == 9
    monotone = _monotone(ev)
    assert len(monotone) == 9
    for regime, r in monotone.items():  # t^2: S + 2 eps is constant per fit, S rises as eps falls
        if "t^2" in regime:
            assert r.verdict == "HOLDS", r
    fixed = [r for r in ev.verdicts if r.claim != "dohmatob2022.claim_tradeoff"]
    assert all(r.verdict == "HOLDS" for r in fixed)


def test_tradeoff_dip_several_standard_errors_deep_is_violated_and_noise_is_not():
    """Planted on the exact t^2 RF values (S rises along psi in every block): at the last psi,
    S lowered so that the mean steps down by 8 step standard errors (the engine's own se:
    sqrt(se_i^2 + se_{i+1}^2) from block_se): z = 8 on that step, p = 6e-16, x 2 steps x a
    family of ~10 rows: < 1e-13, so VIOLATED whatever the seed. A dip of 0.5 step se (z = 0.5,
    p = 0.3 per step) is no evidence: HOLDS, since HOLDS needs p_adj >= 0.05 and the only
    candidate step has p >= 0.3 x 2 steps... Deterministic given the data: the planted means
    are exact."""
    sim, cfg, df = _tradeoff_data()
    regime = "RF t^2"

    def planted(depth):
        out = df.copy()
        at = out["regime"] == regime
        sub = out[at]
        g = sub.groupby("psi")["S"]
        psis = sorted(g.groups)
        last, prev = psis[-1], psis[-2]
        step_se = math.hypot(block_se(g.get_group(last)), block_se(g.get_group(prev)))
        assert step_se > 0
        shift = g.get_group(last).mean() - g.get_group(prev).mean() + depth * step_se
        out.loc[at & (out["psi"] == last), "S"] -= shift
        return out

    deep = _monotone(sim.evaluate({cfg: planted(8.0)}))[regime]
    assert deep.verdict == "VIOLATED", deep
    shallow = _monotone(sim.evaluate({cfg: planted(0.5)}))[regime]
    assert shallow.verdict == "HOLDS", shallow


# -- end-to-end fits: a search over the span, tested one-sided ------------------------------------


def _e2e_frame(e2e_eps, solver_eps, var=0.25, n=10_000, blocks=3):
    return pd.DataFrame({"e2e_eps": [e2e_eps] * blocks, "e2e_eps_var": [var] * blocks,
                         "e2e_n": [n] * blocks, "eps": [solver_eps] * blocks})  # fmt: skip


def test_end_to_end_fit_below_the_minimum_refutes_the_solver_and_an_excess_does_not():
    """Pooled se = sqrt(3 x 0.25 / 1e4) / 3 = 0.00289. A fit 0.03 below the solver's minimum is
    z = -10.4 (p = 1e-25): DISAGREES after Holm over any family here. A fit 10% above it (the
    least-squares excess) is no evidence against the solver (p = 1): AGREES, with its power."""
    low = e2e_verdict("dohmatob2022.rf_error_relu", "quadratic-rf", {}, _e2e_frame(0.47, 0.5), "")
    assert apply_holm([low])[0].verdict == "DISAGREES" and low.evidence == "search"
    high = e2e_verdict("dohmatob2022.rf_error_relu", "quadratic-rf", {}, _e2e_frame(0.55, 0.5), "")
    high = apply_holm([high])[0]
    assert high.verdict == "AGREES" and high.p_value > 0.99 and "power" in high.power
    assert "excess over the minimum +0.05" in high.note


def test_a_gap_settling_at_five_percent_is_not_read_as_converging():
    """Hand-built exact-solver values: gap = 5% + 2% (40 / d) of the formula at d = 40, 80, 160
    (7%, 6%, 5.5%), block spread 0.01% of it: a formula off by 5% whose finite-d correction is of
    the same size. Deterministic (no sampling), so no failure probability."""
    ref = 1.0
    rng = np.random.default_rng(0)
    by_d = {d: ref * (1.05 + 0.02 * 40 / d) + 1e-4 * rng.standard_normal(3) for d in (40, 80, 160)}
    row = formula_convergence("dohmatob2022.quad_rf_error", "quadratic-rf", {"psi": 1.0},
                              "eps: planted", by_d, ref)  # fmt: skip
    assert apply_holm([row])[0].verdict != "CONVERGES", row.note


def test_tradeoff_statement_needs_an_eps_improving_step_to_decide():
    """Deterministic: a drop of S along an eps-improving step refutes, none holds, and a grid
    where eps never improves decides nothing (no HOLDS from no data)."""
    from theorycheck.simulations._quadratic import tradeoff_statement

    psi = [0.5, 1.0, 2.0]

    def frame(eps, S):
        return pd.DataFrame({"block": 0, "psi": psi, "eps": eps, "S": S})

    def verdict(eps, S):
        return tradeoff_statement("c", "s", {}, "S", frame(eps, S), "eps", "S")

    assert verdict([0.3, 0.2, 0.1], [1.0, 1.1, 1.2]).verdict == Verdict.HOLDS
    dropped = verdict([0.3, 0.2, 0.1], [1.0, 1.1, 1.05])
    assert dropped.verdict == Verdict.VIOLATED and "1 of 2 eps-improving steps" in dropped.note
    none = verdict([0.1, 0.2, 0.3], [1.0, 0.9, 0.8])  # S falls, but eps never improves
    assert none.verdict == Verdict.DESCRIPTIVE and none.n == 0
    assert none.family == "descriptive"
