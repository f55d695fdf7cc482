"""The quadratic-* simulations (Dohmatob & Bietti 2022) on tiny grids: registry, verdict rows,
figures, and the statements that must hold exactly whatever the draws.

Each simulation's ``measure``/``evaluate`` runs as the runner runs it (one generator per block from
:func:`theorycheck.seeding.generator`). Statistical rows (Monte Carlo vs exact solver) are only
required not to reject at 1e-7 (a correct implementation fails with probability < 1e-7 per row).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from simulations import REGISTRY
from simulations.quadratic_lazy import QuadraticLazy
from simulations.quadratic_nn import QuadraticNN
from simulations.quadratic_nt import QuadraticNT
from simulations.quadratic_rf import QuadraticRF
from simulations.quadratic_tradeoff import QuadraticTradeoff
from theorycheck.seeding import generator
from theorycheck.simulation import config_id
from theorycheck.verdicts import Verdict, apply_holm

STRICT = 1e-7
PSIS = (0.25, 1.0, 2.0)


def _tiny(sim, **changes):
    """The quick configs of ``sim`` shrunk to d = 12, the grid PSIS and 2 blocks. Sphere and
    online-SGD lines keep their own psi (chosen where S is identified on the sphere)."""
    configs = []
    for cfg in sim.configs("quick"):
        fields = {"d": 12, "n_blocks": 2, **changes}
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
    data = {}
    for cfg in configs:
        frames = []
        for b in range(sim.blocks(cfg)):
            df = sim.measure(cfg, generator(0, sim.id, config_id(cfg), b))
            df.insert(0, "block", b)
            frames.append(df)
        data[cfg] = pd.concat(frames, ignore_index=True)
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
        if row.test == "checked statement" and "tradeoff" not in row.claim:
            assert row.verdict == "HOLDS", row


def test_the_five_simulations_are_registered():
    for sim_id in ("quadratic-rf", "quadratic-nt", "quadratic-nn", "quadratic-lazy",
                   "quadratic-tradeoff"):  # fmt: skip
        assert sim_id in REGISTRY
        for profile in ("quick", "full"):
            assert REGISTRY[sim_id].configs(profile)


@pytest.mark.parametrize("sim_class", [QuadraticRF, QuadraticNT])
def test_rf_and_nt_tiny_runs(sim_class):
    sim = sim_class()
    configs = _tiny(sim, train_ratio=20)
    ev = _run(sim, configs)
    _check_common(sim, ev)
    statistics = {r.statistic for r in ev.verdicts}
    assert any("vs asymptotic formula" in s for s in statistics)
    assert any("Monte Carlo (fresh x) vs exact solver" in s for s in statistics)
    poincare = [r for r in ev.verdicts if r.claim == "dohmatob2022.tradeoff_poincare"]
    assert poincare and all(r.verdict == "HOLDS" for r in poincare)


def test_nn_tiny_run_reaches_the_optimum_for_m_above_d():
    sim = QuadraticNN()
    configs = [replace(c, sgd_steps=1500, extra_targets=2) for c in _tiny(sim, n_blocks=1)]
    ev = _run(sim, configs)
    _check_common(sim, ev)
    for r in ev.verdicts:
        if r.statistic.startswith("eps: SGD") and r.params()["psi"] >= 1.0:
            assert r.verdict == "AGREES", r
    identity = [r for r in ev.verdicts if r.claim == "dohmatob2022.tradeoff_identity_t2"]
    assert identity and identity[0].verdict == "HOLDS"


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
    # x 2 regimes each; gelu (no sphere solver) only has its end-to-end comparison.
    sphere = [r for r in claims if r.params().get("inputs") == "sphere"]
    assert len(sphere) == 2 * 2 * 2 and all("flat" in r.statistic for r in sphere)
    e2e = [r for r in ev.verdicts if r.statistic.startswith("eps: end-to-end")]
    assert {r.params()["activation"] for r in e2e} == {"relu", "quadratic", "gelu"}
    assert all(r.params()["inputs"] == "sphere" and r.params()["regime"] == "nt" for r in e2e)


def test_tradeoff_tiny_run_checks_every_regime():
    sim = QuadraticTradeoff()
    ev = _run(sim, _tiny(sim))
    _check_common(sim, ev)
    rows = [r for r in ev.verdicts if r.claim == "dohmatob2022.claim_tradeoff"]
    regimes = {r.params()["regime"] for r in rows}
    assert len(regimes) == 9
    for r in rows:  # t^2: S + 2 eps is constant, so S can only rise as eps falls
        if "t^2" in r.params()["regime"]:
            assert r.verdict == "HOLDS", r
    fixed = [r for r in ev.verdicts if r.claim != "dohmatob2022.claim_tradeoff"]
    assert all(r.verdict == "HOLDS" for r in fixed)
