"""The init-* simulations on tiny grids: columns, verdict rows, figures; and their invariants.

Each simulation's ``measure``/``evaluate`` run as the runner runs them (one generator per block
from :func:`theorycheck.seeding.generator`), on grids small enough for a unit test. Statistical
agreement is the job of the quick/full profiles; here the contract and the deterministic
invariants are checked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from theorycheck.errors import UserInputError
from theorycheck.seeding import generator
from theorycheck.simulation import config_id, evaluate_in_memory
from theorycheck.simulations.init_gradient import GradientConfig, InitGradient
from theorycheck.simulations.init_gradient_stability import (
    InitGradientStability,
    StabilityConfig,
    gradient_jump_energy,
    linearisation_energy,
)
from theorycheck.simulations.init_output import InitOutput, OutputConfig
from theorycheck.simulations.init_single_step import (
    ETAS,
    S_VALUES,
    EtaSearchConfig,
    InitSingleStep,
    SingleStepConfig,
)
from theorycheck.verdicts import Verdict, VerdictRow, apply_holm, in_family

VALID = {v.value for v in Verdict}


class TinyOutput(InitOutput):
    def _configs(self, profile):
        for scaling in ("wang", "bubeck"):
            for d, m in ((4, 12), (16, 12), (4, 1), (4, 40)):
                yield OutputConfig(d, m, "relu", scaling, 30, 2)
            for d in (4, 16):
                yield OutputConfig(d, 12, "gelu", scaling, 30, 2)


class TinySingleStep(InitSingleStep):
    def _configs(self, profile):
        for activation in ("relu", "gelu"):
            for scaling in ("bubeck", "wang"):
                for d in (6, 24):
                    yield SingleStepConfig(d, 40, activation, scaling, 25, 2)
            yield EtaSearchConfig(6, 40, activation, 2, 6, 1)


class TinyStability(InitGradientStability):
    def _configs(self, profile):
        for activation in ("relu", "gelu"):
            for scaling in ("bubeck", "wang"):
                for d in (6, 24):
                    yield StabilityConfig(d, 40, activation, scaling, 25, 2)


class TinyGradient(InitGradient):
    def _configs(self, profile):
        for scaling in ("wang", "bubeck"):
            for d, m in ((4, 10), (16, 10), (4, 30)):
                yield GradientConfig(d, m, "relu", scaling, False, 30, 2)


def _run(sim, path=None) -> tuple[dict, object]:
    """measure every block as the runner does, then evaluate."""
    return evaluate_in_memory(sim, sim.configs("quick", path), seed=11)


@pytest.fixture(scope="module")
def runs(warm_numba):
    # One numba thread: every kernel call here is on one tiny network, where waking a thread
    # pool costs more than the work (results do not depend on the thread count).
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _runs()
    finally:
        numba.set_num_threads(before)


def _runs():
    runs = {sim.id: _run(sim) for sim in (TinyOutput(), TinySingleStep(), TinyStability(),
                                          TinyGradient())}  # fmt: skip
    for sim in (TinyOutput(), TinySingleStep(), TinyGradient()):
        runs[f"{sim.id}/exact"] = _run(sim, "exact")
    for sim in (TinyOutput(), TinyGradient()):
        runs[f"{sim.id}/streaming"] = _run(sim, "streaming")
    return runs


def _check_evaluation(ev, sim_id):
    assert ev.verdicts, "no verdict rows"
    for row in ev.verdicts:
        assert isinstance(row, VerdictRow)
        assert row.simulation == sim_id
        assert row.verdict in VALID
        # Confirmatory rows carry a valid p-value; descriptive and deterministic ones none.
        if in_family(row):
            assert 0.0 <= row.p_value <= 1.0
        else:
            assert row.family in ("descriptive", "deterministic") or math.isnan(row.p_value)
        row.params()  # valid JSON
    # Holm re-decides every row type without error and keeps the words valid.
    assert {r.verdict for r in apply_holm(ev.verdicts)} <= VALID
    names = {f.name for f in ev.figures}
    figures_in_summary = set(ev.summary["figure"])
    assert figures_in_summary <= names, figures_in_summary - names
    assert names <= figures_in_summary, names - figures_in_summary
    for col in ("figure", "panel", "series", "x", "estimate", "ci_low", "ci_high"):
        assert col in ev.summary.columns
    est = ev.summary[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
    ok = np.isfinite(est).all(axis=1)
    assert np.all(est[ok, 1] <= est[ok, 0] + 1e-12) and np.all(est[ok, 0] <= est[ok, 2] + 1e-12)


@pytest.mark.parametrize("which", ["init-output", "init-output/exact", "init-output/streaming"])
def test_init_output_contract(runs, which):
    data, ev = runs[which]
    for df in data.values():
        assert list(df.columns) == ["block", "replicate", "f"] and len(df) == 60
    _check_evaluation(ev, "init-output")
    tests = {(r.claim, r.test) for r in ev.verdicts}
    assert ("exact.f1_output", "KS (f != 0) + binomial P(f = 0) = 2^-m (Bonferroni)") in tests
    assert ("exact.f1_abs_output_bound", "clopper-pearson") in tests
    assert ("bubeck2021.output_order", "rate fit (bootstrap)") in tests
    # Over d at m = 12 (relu and gelu, two scalings) and over m >= 10 at d = 4 (12, 40).
    rates = [r for r in ev.verdicts if r.test == "rate fit (bootstrap)"]
    assert {(r.params()["over"], r.params()["scaling"], r.params()["activation"])
            for r in rates} == {(v, s, a) for s in ("wang", "bubeck") for v, a in
                                (("d", "relu"), ("d", "gelu"), ("m", "relu"))}  # fmt: skip


def test_f_is_the_same_function_in_both_scalings():
    # f_wang(x) = f_bubeck(sqrt(d) x) when W_bubeck = W_wang / sqrt(d): the two samplers draw
    # one model (docs/theory.md Sec. 1), which is why init-output expects one law in both.
    from theorycheck.forward import output_and_gradient
    from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network

    rng = generator(1, "scalings")
    wang = sample_network(NetworkSpec(d=9, m=20), rng)
    bub = Network(NetworkSpec(d=9, m=20, scaling="bubeck"), wang.a, wang.W / 3.0, wang.b, wang.c)
    x = sample_inputs(NetworkSpec(d=9, m=20), 4, rng)
    fw, fb = output_and_gradient(wang, x), output_and_gradient(bub, 3.0 * x)
    np.testing.assert_allclose(fw.f, fb.f, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fw.grad, 3.0 * fb.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("which", ["init-single-step", "init-single-step/exact"])
def test_init_single_step_contract_and_end_point_invariants(runs, which):
    data, ev = runs[which]
    # Under path="exact" the relu configs use the d-free sampler, the rest stay materialised.
    relu = [c for c in data if c.activation == "relu" and not isinstance(c, EtaSearchConfig)]
    assert {c.path for c in relu} == {"exact" if which.endswith("/exact") else "numba"}
    _check_evaluation(ev, "init-single-step")
    for cfg, df in data.items():
        if isinstance(cfg, EtaSearchConfig):
            assert {"network", "input", "eta_grid", "t_star", "grad_norm"} <= set(df.columns)
            assert len(df) == 12
            # The sign cannot flip before the first crossing t*: the smallest flipping grid eta
            # reaches at least t* (delta = eta grad f, ||delta|| = eta ||grad f||).
            flipped = np.isfinite(df["eta_grid"])
            reach = df["eta_grid"][flipped] * df["grad_norm"][flipped]
            assert np.all(reach >= df["t_star"][flipped] * (1 - 1e-9))
            continue
        assert len(df) == 50
        names = [f"flip_eta_{e:g}" for e in ETAS] + [f"flip_s_{s:g}" for s in S_VALUES]
        assert {"f", "grad_norm", "t_star", "zero_output", *names} <= set(df.columns)
        # An end point flips only at or beyond the first crossing t* (bubeck-unit eta becomes
        # eta/d in wang units, a distance s becomes s/sqrt(d)).
        eta_unit, dist_unit = (1.0, 1.0) if cfg.scaling == "bubeck" else (
            1.0 / cfg.d, 1.0 / math.sqrt(cfg.d))  # fmt: skip
        g = df["grad_norm"].to_numpy()
        t = df["t_star"].to_numpy()
        for e in ETAS:
            flips = df[f"flip_eta_{e:g}"].to_numpy(dtype=bool)
            assert np.all(e * eta_unit * g[flips] >= t[flips] * (1 - 1e-9))
        for s in S_VALUES:
            flips = df[f"flip_s_{s:g}"].to_numpy(dtype=bool)
            assert np.all(s * dist_unit >= t[flips] * (1 - 1e-9))
    tests = {(r.claim, r.test) for r in ev.verdicts}
    assert ("exact.f3_s_lin", "KS") in tests
    assert ("bubeck2021.theorem", "clopper-pearson") in tests
    assert {"bubeck2021.theorem", "wang2022.theorem_3_1", "wang2022.theorem_3_1_step"} <= {
        r.claim for r in ev.verdicts if r.test == "rate fit (bootstrap)"}  # fmt: skip


def test_an_end_point_beyond_t_star_can_have_the_original_sign():
    # Why init-single-step evaluates sign f at the end point instead of comparing the step with
    # t*: along the ray a relu network can cross zero and come back. d = 1, x = 1, two neurons
    # with biases: f(y) = (relu(y - 1/2) + relu(1/2 - y)) / sqrt 2 - 0.1 = |y - 1/2|/sqrt 2 - 0.1.
    # f(1) > 0 and f' > 0, so the ray is y = 1 - t: f crosses zero at y = 1/2 + 0.1 sqrt 2
    # (t* = 1/2 - 0.1 sqrt 2) and is positive again for y < 1/2 - 0.1 sqrt 2, e.g. at t = 1.
    from theorycheck.attack import first_sign_flip
    from theorycheck.forward import output_and_gradient
    from theorycheck.network import Network, NetworkSpec

    net = Network(NetworkSpec(d=1, m=2, biases=True), np.array([1.0, 1.0]),
                  np.array([[1.0], [-1.0]]), np.array([-0.5, 0.5]), -0.1)  # fmt: skip
    x = np.array([[1.0]])
    ss = first_sign_flip(net, x)
    assert ss.t_star[0] == pytest.approx(0.5 - 0.1 * math.sqrt(2), rel=1e-12)
    f0 = output_and_gradient(net, x).f[0]
    assert np.sign(output_and_gradient(net, x - 0.5).f[0]) != np.sign(f0)  # t = 0.5 > t*: flip
    assert np.sign(output_and_gradient(net, x - 1.0).f[0]) == np.sign(f0)  # t = 1: back again


def test_init_gradient_stability_contract(runs):
    data, ev = runs["init-gradient-stability"]
    _check_evaluation(ev, "init-gradient-stability")
    for df in data.values():
        assert len(df) == 50
        assert {"ray_ratio_1", "ratio_rho_1", "jump2_rho_1", "lin2_rho_1", "flips_rho_1"} <= set(
            df.columns)  # fmt: skip
    claims = {r.claim for r in ev.verdicts}
    assert {"exact.f5_flips", "exact.f5_gradient_jump", "exact.f5_linearisation_error",
            "bubeck2021.gradient_stability"} <= claims  # fmt: skip
    rates = [r for r in ev.verdicts if r.test == "rate fit (bootstrap)"]
    assert {r.params()["rate_kind"] for r in rates} == {"o"}
    assert len(rates) == 8  # 2 activations x 2 scalings x (ray, random)


@pytest.mark.parametrize(
    "which", ["init-gradient", "init-gradient/exact", "init-gradient/streaming"]
)
def test_init_gradient_reports_bubecks_gradient_norm_rates(runs, which):
    _data, ev = runs[which]
    _check_evaluation(ev, "init-gradient")
    rates = [r for r in ev.verdicts if r.claim == "bubeck2021.gradient_norm"]
    # bubeck scaling only: over d at m = 10, over m at d = 4.
    assert {(r.params()["over"], r.params()["scaling"]) for r in rates} == {
        ("d", "bubeck"), ("m", "bubeck")}  # fmt: skip


@pytest.mark.parametrize("theta", [0.05, 0.5, 2.0])
def test_smooth_references_match_closed_forms_for_a_quadratic_activation(theta):
    # sigma = t^2: D = 2 (z1 - z0) with z1 - z0 = (cos theta - 1) g1 + sin theta g2, so
    # E D^2 = 8 (1 - cos theta), E D^2 (g1^2 + g2^2) = 32 (1 - cos theta) and the
    # linearisation error (z1 - z0)^2 has E = 3 (2 (1 - cos theta))^2. Gauss-Hermite is exact
    # for polynomials.
    c = 1 - math.cos(theta)
    assert gradient_jump_energy("quadratic", 7, theta) == pytest.approx(8 * c * (7 - 2) + 32 * c,
                                                                       rel=1e-10)  # fmt: skip
    assert linearisation_energy("quadratic", theta) == pytest.approx(12 * c * c, rel=1e-10)


def test_smooth_references_match_a_monte_carlo_of_the_same_expectation_for_gelu():
    # The same quadrature with gelu agrees with a brute-force Monte Carlo of the 2-D expectation
    # (n = 400000: relative sd ~ 0.3%; 3% is > 10 sd).
    rng = generator(4, "gh-mc")
    g1, g2 = rng.standard_normal((2, 400_000))
    from theorycheck.activations import get_activation

    act = get_activation("gelu")
    theta = 0.7
    z1 = math.cos(theta) * g1 + math.sin(theta) * g2
    D2 = (act.dsigma(z1) - act.dsigma(g1)) ** 2
    mc = float(np.mean(D2 * (5 - 2 + g1**2 + g2**2)))
    assert gradient_jump_energy("gelu", 5, theta) == pytest.approx(mc, rel=0.03)
    lin = float(np.mean((act.sigma(z1) - act.sigma(g1) - act.dsigma(g1) * (z1 - g1)) ** 2))
    assert linearisation_energy("gelu", theta) == pytest.approx(lin, rel=0.03)


def test_path_choice_applies_where_the_exact_laws_do():
    sim = TinyOutput()
    exact = sim.configs("quick", "exact")
    assert {(c.activation, c.path) for c in exact} == {("relu", "exact"), ("gelu", "numba")}
    assert {c.path for c in sim.configs("quick", "reference")} == {"reference"}
    # The path is part of the config, so results of different paths are stored apart.
    relu_ids = {config_id(c) for c in exact if c.activation == "relu"}
    assert relu_ids.isdisjoint(config_id(c) for c in sim.configs("quick"))
    assert {(c.activation, c.path) for c in sim.configs("quick", "streaming")} == {
        ("relu", "streaming"), ("gelu", "numba")}  # fmt: skip
    with pytest.raises(UserInputError, match="init-single-step offers paths exact, numba, refer"):
        TinySingleStep().configs("quick", "streaming")
    from theorycheck.simulations import get_simulation

    with pytest.raises(UserInputError, match="width-window offers no path"):
        get_simulation("width-window").configs("quick", "exact")
    # Configs without a path field (Bubeck et al.'s eta search) keep computing as they do.
    search = [c for c in TinySingleStep().configs("quick", "exact")
              if isinstance(c, EtaSearchConfig)]  # fmt: skip
    assert search and all(not hasattr(c, "path") for c in search)


def test_init_gradient_reads_f2s_mean_from_the_catalog(runs, monkeypatch):
    """The F2 rows' reference mean is the catalog's E||grad f||^2 (bounds 'exact.f2_grad_norm_sq'),
    not a constant of the simulation: a planted error in the catalog's mean (doubled) turns every
    z-row DISAGREES on the tiny run's own data.

    Soundness of the planted half: each z-row has n = 60 replicates; it still AGREES only if the
    sample mean is >= 2 E - 1.96 sd(mean), i.e. >= 3.59 (d = 4, m = 10, E = 2), >= 15.0
    (d = 16, m = 10, E = 8), >= 3.62 (d = 4, m = 30). Chernoff with the exact moment generating
    function E exp(s X) = sum_N P(N) (1 - 2 s N/m)^(-d/2) bounds these by 1.0e-8, 3e-27, 1.1e-10;
    over the two scalings the test fails a correct implementation w.p. <= 2.3e-8.
    """
    from theorycheck.bounds.exact_laws import F2GradNormSq

    data, ev = runs["init-gradient"]
    f2 = F2GradNormSq()
    z_rows = [r for r in ev.verdicts if r.claim == f2.id and r.test.startswith("z")]
    assert len(z_rows) == len(data) == 6
    for row in z_rows:
        p = row.params()
        assert row.bound == float(f2.mean(m=p["m"], d=p["d"]))

    monkeypatch.setattr(F2GradNormSq, "_mean", lambda self, m, d: d * 1.0)  # planted: 2 x d/2
    planted = [r for r in InitGradient().evaluate(data).verdicts
               if r.claim == f2.id and r.test.startswith("z")]  # fmt: skip
    assert [r.bound for r in planted] == [2 * r.bound for r in z_rows]
    assert all(r.verdict == Verdict.DISAGREES for r in planted), [r.verdict for r in planted]
