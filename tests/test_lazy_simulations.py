"""The lazy-* simulations of Wang et al. (2022) on tiny grids: columns, verdict rows, figures, and
the invariants that hold for every replicate (points of the ball compared with the ball's extrema).

Each simulation's ``measure``/``evaluate`` run as the runner runs them (one generator per block
from :func:`theorycheck.seeding.generator`). The statistical rows are only required not to reject
at 1e-7 (a correct implementation fails with probability < 1e-7 per row, < 1e-6 in all); where
cheap, a wrong reference value is shown to be rejected at the same threshold (power).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import theorycheck.simulations.lazy_output as lazy_output_module
from theorycheck.attack import first_sign_flip
from theorycheck.bounds import get_bound
from theorycheck.lazy_ball import lazy_radius
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.perturbations import robustifying
from theorycheck.pgd import pgd_attack
from theorycheck.seeding import generator
from theorycheck.simulation import measure_blocks
from theorycheck.simulations import REGISTRY
from theorycheck.simulations.lazy_gradient import FAMILIES, LazyGradient, LazyGradientConfig
from theorycheck.simulations.lazy_gradient_stability import LazyGradientStability, StabilityConfig
from theorycheck.simulations.lazy_output import (
    WORST_OUTPUT_FACTS,
    LazyOutput,
    OutputConfig,
    worst_output_moments,
)
from theorycheck.simulations.lazy_single_step import (
    LazySingleStep,
    SingleStepConfig,
    certified_flip_radius,
)
from theorycheck.verdicts import Verdict, VerdictRow, apply_holm

VALID = {v.value for v in Verdict}
#: Rows of a correct implementation reject at this level with probability < 1e-7 each.
STRICT = 1e-7


class TinyOutput(LazyOutput):
    def _configs(self, profile):
        for m in (20, 300):
            # 500 replicates: the 472 that gamma = 0.1 needs for a powered Lemma 4.1 row.
            yield OutputConfig(m, 3, (1.0, 10.0), (0.1,), networks_per_block=250, n_blocks=2)


class TinyGradient(LazyGradient):
    def _configs(self, profile):
        for d in (4, 30):
            yield LazyGradientConfig(d, 40, 10.0, (0.1,), 6, 2, 2)


class TinySingleStep(LazySingleStep):
    def _configs(self, profile):
        # The grid reaches d >> C0^2, where the implied constants have levelled off (at d <= 64,
        # t* sqrt(d) of worst-output W still rises towards its limit C0/sqrt 2).
        for d in (36, 100, 256, 625):
            # Certificates (d x d eigendecompositions) on a few networks at the small end.
            yield SingleStepConfig(d, 60, 10.0, 40, 2, trained_per_block=2,
                                   certified_per_block=2 if d <= 100 else 0)  # fmt: skip


class TinySweep(LazySingleStep):
    """The Fig. 3 analogue: a C0 sweep on the exact samplers."""

    def _configs(self, profile):
        for C0 in (10.0, 40.0):
            for d in (9, 25, 64):
                yield SingleStepConfig(d, 500, C0, 30, 2, "exact")


class TinyStability(LazyGradientStability):
    def _configs(self, profile):
        for d in (9, 36):
            yield StabilityConfig(d, 40, 10.0, 4, 1, 2)


def run_blocks(sim, path=None):
    """{config: concatenated blocks}, each block from its own generator (as the runner does)."""
    return {cfg: measure_blocks(sim, cfg) for cfg in sim.configs("quick", path)}


def check_evaluation(sim, data, absent=()):
    """``absent``: claims the data cannot speak to (e.g. no certificate on the exact path)."""
    ev = sim.evaluate(data)
    assert ev.verdicts and all(isinstance(v, VerdictRow) for v in ev.verdicts)
    assert {v.verdict for v in ev.verdicts} <= VALID
    assert all(v.simulation == sim.id for v in ev.verdicts)
    assert {v.claim for v in ev.verdicts} == set(sim.claims) - set(absent)
    for col in ("figure", "x", "estimate", "ci_low", "ci_high", "series", "panel"):
        assert col in ev.summary.columns
    assert {f.name for f in ev.figures} <= set(ev.summary["figure"])
    assert len(apply_holm(ev.verdicts)) == len(ev.verdicts)
    return ev


def test_registered():
    for sim_id in ("lazy-output", "lazy-gradient", "lazy-single-step", "lazy-robust-error",
                   "lazy-gradient-stability"):  # fmt: skip
        sim = REGISTRY[sim_id]
        for profile in ("quick", "full"):
            assert sim.configs(profile)


# -- lazy-output ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def output_data():
    return run_blocks(TinyOutput())


def test_lazy_output_columns_and_invariants(output_data):
    for cfg, df in output_data.items():
        assert {"C0", "f0", "sup", "inf", "sup_abs", "f_random_sphere"} <= set(df.columns)
        assert len(df) == cfg.networks_per_block * cfg.n_blocks * len(cfg.C0s)
        eps = 1e-9 * (1 + df["C0"])
        # W0 and the random-sphere W are points of the ball: inf <= f <= sup at both.
        for col in ("f0", "f_random_sphere"):
            assert (df["inf"] <= df[col] + eps).all() and (df[col] <= df["sup"] + eps).all()
        assert np.allclose(df["sup_abs"], np.maximum(df["sup"], -df["inf"]))


def test_lazy_output_verdicts(output_data):
    sim = TinyOutput()
    ev = check_evaluation(sim, output_data)
    facts = [v for v in ev.verdicts if v.claim == WORST_OUTPUT_FACTS]
    # 3 z-tests + 2 deterministic checks per (config, C0)
    assert len(facts) == 5 * sum(len(c.C0s) for c in output_data)
    for v in facts:
        if v.test == "relative error":  # the deterministic facts: no violation at all
            assert v.verdict == "AGREES" and v.estimate == 0
        else:
            assert v.p_value > STRICT, v
    lemma = [v for v in ev.verdicts if v.claim == "wang2022.lemma_4_1"]
    assert len(lemma) == 4 and all(v.verdict == "HOLDS" for v in lemma)
    assert all(v.slack > 1 for v in lemma)
    # Every W of the ball, on the exact sup: both a witness and a certificate.
    assert all(v.quantifier == "every W in the ball" and v.evidence == "exact" for v in lemma)
    assert all("VIOLATED at rate 2 gamma w.p. 1.00" in v.power for v in lemma)
    assert {"sup-abs", "sup-mean", "sup-var", "gap"} == {f.name for f in ev.figures}


def test_lazy_output_moment_tests_have_power(output_data, monkeypatch):
    """A mean off by 0.5 or a doubled variance is rejected at STRICT (z ~ 10 at n = 400)."""
    for shift, scale, statistic in ((0.5, 1.0, "E sup"), (0.0, 2.0, "Var sup")):

        def wrong(m, C0, shift=shift, scale=scale):
            mean, var = worst_output_moments(m, C0)
            return mean + shift, var * scale

        monkeypatch.setattr(lazy_output_module, "worst_output_moments", wrong)
        rows = [v for v in TinyOutput().evaluate(output_data).verdicts
                if v.statistic.startswith(statistic)]  # fmt: skip
        assert rows and all(v.p_value < STRICT for v in rows)


def test_lazy_output_on_the_exact_path():
    """The exact sampler gives sup and inf (not the random-sphere point): the same law checks
    pass at STRICT and the random-sphere row is left out, not faked."""
    sim = TinyOutput()
    data = run_blocks(sim, "exact")
    assert {c.path for c in data} == {"exact"}
    for df in data.values():
        assert {"C0", "f0", "sup", "inf", "sup_abs"} <= set(df.columns)
        assert "f_random_sphere" not in df
        eps = 1e-9 * (1 + df["C0"])
        assert (df["inf"] <= df["f0"] + eps).all() and (df["f0"] <= df["sup"] + eps).all()
    ev = check_evaluation(sim, data)
    facts = [v for v in ev.verdicts if v.claim == WORST_OUTPUT_FACTS]
    assert len(facts) == 4 * sum(len(c.C0s) for c in data)
    assert all(v.p_value > STRICT for v in facts if v.test != "relative error")
    assert not any("random-sphere" in v.statistic for v in facts)


def test_lazy_sign_flips_decides_lemma_4_3_only_with_power_and_refutes_a_planted_excess():
    from theorycheck.power import replicates_for_power
    from theorycheck.simulations.lazy_sign_flips import SignFlipConfig

    sim = REGISTRY["lazy-sign-flips"]
    gamma, m, C0 = 0.1, 1000, 10.0
    n = replicates_for_power(gamma, 0.05 / 1000)
    cfg = SignFlipConfig(m, 4, (C0,), (gamma,), n, 1, "wang", "exact")
    rng = generator(5, "planted-flips")
    p = float(get_bound("exact.f6_flippable").probability(m, C0))
    B = float(get_bound("wang2022.lemma_4_3")(m=m, C0=C0, gamma=gamma))
    truth = rng.binomial(m, p, n)  # the exact law of |S_R|
    planted = truth.copy()
    planted[: int(0.3 * n)] = int(B) + 1  # 30% of networks above the bound: 3 gamma

    def frame(x):
        return pd.DataFrame({"replicate": np.arange(n), "C0": C0, "f0": 0.0, "flippable": x})

    def lemma_rows(x):
        rows = apply_holm(sim.evaluate({cfg: frame(x)}).verdicts, 1e-6)
        return [r for r in rows if r.claim == "wang2022.lemma_4_3"]

    # The bound is loose (P(|S_R| > B) is ~1e-3 here): the truth HOLDS; 30% above it is refuted
    # at family-wise 1e-6 (P(K >= 0.3 n | 0.1) is astronomically small for n ~ 470).
    assert [r.verdict for r in lemma_rows(truth)] == ["HOLDS"]
    bad = lemma_rows(planted)
    assert [r.verdict for r in bad] == ["VIOLATED"] and bad[0].evidence == "exact"
    # The figure plots the statistic the verdict tests: the (1 - gamma) quantile (not the mean)
    # against the bound at that gamma; the planted quantile sits above the bound, the truth's
    # below, as the verdicts say.
    for x, above in ((truth, False), (planted, True)):
        fig = sim.evaluate({cfg: frame(x)}).summary.query("figure == 'flippable'").iloc[0]
        q = np.quantile(x, 1 - gamma, method="inverted_cdf")
        assert math.isclose(fig["estimate"] * math.sqrt(m), q) and fig["ci_low"] <= fig["estimate"]
        assert math.isclose(fig["bound"] * math.sqrt(m), B) and "gamma = 0.1" in fig["panel"]
        assert bool(fig["estimate"] > fig["bound"]) == above
    # Below the replicates power needs, the row is a description, never a verdict.
    small = SignFlipConfig(m, 4, (C0,), (gamma,), 50, 1, "wang", "exact")
    rows = sim.evaluate({small: frame(truth)[:50]}).verdicts
    assert [r.verdict for r in rows if r.claim == "wang2022.lemma_4_3"] == ["DESCRIPTIVE"]


def test_lazy_sign_flips_on_the_exact_path():
    from _tiny import TinySignFlips

    sim = TinySignFlips()
    data = run_blocks(sim, "exact")
    for cfg, df in data.items():
        assert cfg.path == "exact" and "flips_random_sphere" not in df
        assert (df["flippable"] >= 0).all() and (df["flippable"] <= cfg.m).all()
    ev = check_evaluation(sim, data)
    laws = [v for v in ev.verdicts if v.claim == "exact.f6_flippable"]
    # |S_R| against its exact binomial law: a correct sampler fails with probability < STRICT.
    assert laws and all(v.p_value > STRICT for v in laws)
    assert {f.name for f in ev.figures} == {"flippable"}  # no realised flips to draw


def test_worst_output_moments_match_exact_integrals():
    """E sup and Var sup by quadrature of the one-neuron law X = a relu(z + a R)."""
    from scipy import integrate, stats

    for m, C0 in ((10, 1.0), (100, 10.0), (1000, 40.0)):
        R = C0 / math.sqrt(m)

        def moment(k, R=R):
            plus = integrate.quad(lambda z: max(z + R, 0) ** k * stats.norm.pdf(z), -40, 40)[0]
            minus = integrate.quad(lambda z: max(z - R, 0) ** k * stats.norm.pdf(z), -40, 40)[0]
            return 0.5 * plus + 0.5 * (-1) ** k * minus

        mean, var = worst_output_moments(m, C0)
        assert math.isclose(mean, math.sqrt(m) * moment(1), rel_tol=1e-7)
        assert math.isclose(var, moment(2) - moment(1) ** 2, rel_tol=1e-7)


# -- lazy-gradient ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gradient_data():
    return run_blocks(TinyGradient())


def test_lazy_gradient_columns_and_invariants(gradient_data):
    for cfg, df in gradient_data.items():
        cols = [c for c, _, _ in FAMILIES]
        assert {*cols, "certified_lower", "train_error", "test_error", "trained_deviation"} <= set(
            df.columns
        )
        trained = df["test_error"].notna()
        assert (trained == df["grad_trained"].notna()).all()
        assert df.loc[trained, ["train_error", "test_error"]].stack().between(0, 1).all()
        assert len(df) == cfg.networks_per_block * cfg.n_blocks
        assert df["grad_trained"].notna().sum() == cfg.trained_per_block * cfg.n_blocks
        # The certificate bounds the minimum over the ball from below: every point is above it,
        # and the search is never worse than its start W0.
        values = df[cols].to_numpy()
        lower = df["certified_lower"].to_numpy()[:, None]
        assert np.all(np.isnan(values) | (values >= lower * (1 - 1e-9)))
        assert (df["grad_shrink"] <= df["grad_init"] * (1 + 1e-12)).all()
        assert (df["trained_deviation"].dropna() <= 1 + 1e-9).all()


def test_lazy_gradient_verdicts(gradient_data):
    ev = check_evaluation(TinyGradient(), gradient_data)
    rows = [v for v in ev.verdicts if v.claim == "wang2022.lemma_4_2"]
    universal = [v for v in rows if v.kind == "universal"]
    trained = [v for v in rows if v.kind == "bound"]
    # One universal row per config and gamma, one trained-W row (particular W) beside it.
    assert len(universal) == len(gradient_data) == len(trained)
    for v in rows:
        assert v.bound == pytest.approx(math.sqrt(v.params()["d"]) / 4)
    assert all(v.quantifier == "every W in the ball" for v in universal)
    assert all(v.test == "witness+certificate" for v in universal)
    # HOLDS only from the certificate; a particular W never shows the lemma holds.
    assert all(v.evidence == "certified" for v in universal if v.verdict == "HOLDS")
    assert all(v.verdict != "HOLDS" for v in trained)
    # A handful of trained networks cannot refute a rate of 2 gamma with power: described.
    assert all(v.verdict in ("DESCRIPTIVE", "VIOLATED") for v in trained if v.n < 472)
    assert all("trained W: mean test error" in v.note for v in trained)
    assert {"grad-norm", "below-bound", "trained-error"} == {f.name for f in ev.figures}


def test_lazy_gradient_decides_on_witnesses_and_certificates(gradient_data):
    sim, alpha = TinyGradient(), 1e-6
    # A planted witness: half the networks have a point of the ball with ||grad f|| = 0.
    planted = {}
    for cfg, df in gradient_data.items():
        df = df.copy()
        df.loc[df.index[::2], "grad_shrink"] = 0.0
        planted[cfg] = df
    rows = apply_holm(sim.evaluate(planted).verdicts, alpha)
    assert all(v.verdict == "VIOLATED" for v in rows if v.kind == "universal")
    # A planted certificate at twice the bound and witnesses above it: HOLDS (certified).
    certified = {}
    for cfg, df in gradient_data.items():
        df = df.copy()
        B = math.sqrt(cfg.d) / 4
        df["certified_lower"] = 2 * B
        for col, _, _ in FAMILIES:
            df[col] = np.where(df[col].notna(), 3 * B, np.nan)
        certified[cfg] = df
    rows = apply_holm(sim.evaluate(certified).verdicts, alpha)
    universal = [v for v in rows if v.kind == "universal"]
    # 24 networks, 0 uncertified: CP upper limit 1 - 0.05^(1/24) = 0.117 > gamma = 0.1 -> the
    # row cannot HOLD at this size: it says it is undecided, never VIOLATED.
    assert all(v.verdict == "INCONCLUSIVE" for v in universal)
    assert all("would settle it" in v.note for v in universal)


# -- lazy-single-step -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_step_data():
    return run_blocks(TinySingleStep())


def test_lazy_single_step_columns_and_invariants(single_step_data):
    for cfg, df in single_step_data.items():
        assert {"family", "f", "grad_norm", "t_star", "eta_star"} <= set(df.columns)
        assert set(df["family"]) == {"W0", "random-sphere", "worst-output", "robustifying",
                                     "trained"}  # fmt: skip
        n_trained = cfg.trained_per_block * cfg.n_blocks
        assert len(df) == 4 * cfg.networks_per_block * cfg.n_blocks + n_trained
        trained = df[df["family"] == "trained"]
        assert len(trained) == n_trained and trained["test_error"].between(0, 1).all()
        assert df.loc[df["family"] != "trained", "test_error"].isna().all()
        finite = np.isfinite(df["t_star"])
        assert np.allclose(df.loc[finite, "eta_star"] * df.loc[finite, "grad_norm"],
                           df.loc[finite, "t_star"])  # fmt: skip
        # worst-output maximises |f| over the ball: no other family's |f| is larger.
        absf = df.assign(absf=df["f"].abs()).pivot(index=["block", "replicate"], columns="family",
                                                   values="absf")  # fmt: skip
        # (the trained W is attacked at another input: its own task's test input)
        others = absf.drop(columns=["worst-output", "trained"]).to_numpy()
        assert np.all(others <= absf["worst-output"].to_numpy()[:, None] * (1 + 1e-9) + 1e-12)
        assert (df["t_star"] > 0).all()
        # Certified flip radii: on the first certified_per_block robustifying W of each block,
        # a lower bound on the flip distance, so never above the single step's flip t*.
        cert = df[df["certified_radius"].notna()]
        assert len(cert) == cfg.certified_per_block * cfg.n_blocks
        assert set(cert["family"]) <= {"robustifying"}
        assert ((cert["certified_radius"] >= 0) & (cert["certified_radius"] < cert["t_star"])).all()


def test_certified_flip_radius_is_sound_and_not_trivial():
    """No flip inside the certified radius, on the single step's ray and on PGD's best
    attempt (a flip there would prove the certificate wrong), and the radius is positive (0
    would be sound and useless); no fixed fraction of t* is asked for: measured medians of
    r / t* run from 0.28 (d = 49) to 0.81 (d = 400) at m = 1000."""
    spec = NetworkSpec(d=49, m=200)
    rng = np.random.default_rng(11)
    for _ in range(3):
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)
        nw = net.with_weights(robustifying(net, x[0], lazy_radius(spec, 10.0), path="reference"))
        t = float(first_sign_flip(nw, x, path="reference").t_star[0])
        r = certified_flip_radius(nw, x, t)
        assert 0.0 < r < t
        res = pgd_attack(nw, x, r, steps=100, path="reference", restarts=3, rng=rng)
        assert not res.success.any()


def test_lazy_single_step_verdicts(single_step_data):
    ev = check_evaluation(TinySingleStep(), single_step_data)
    rates = [v for v in ev.verdicts if v.test == "rate fit (bootstrap)"]
    assert rates and all(v.params()["grid"] == [36.0, 100.0, 256.0, 625.0] for v in rates)
    assert all(v.verdict == "DESCRIPTIVE" for v in rates)  # slopes describe, never decide
    kinds = {v.claim: v.params()["rate_kind"] for v in rates}
    assert kinds == {"wang2022.theorem_3_1": "O", "wang2022.theorem_3_1_step": "O",
                     "wang2022.lemma_4_2": "Omega"}  # fmt: skip
    implied = [v for v in ev.verdicts if v.kind == "implied constant"]
    # No row decides at an arbitrary value of the free constant C2.
    assert not [v for v in ev.verdicts if "C2" in v.params()]
    # The families are particular W of the ball and the claims are over every W: no HOLDS.
    # Corollary 3.2's row speaks about every W of the ball through a certified lower estimate
    # of sup_W r(x; W) (2 certified dimensions here: too few for a trend, so descriptive).
    assert implied and all(v.quantifier == "particular W" for v in implied
                           if v.claim != "wang2022.corollary_3_2")  # fmt: skip
    (cor,) = [v for v in implied if v.claim == "wang2022.corollary_3_2"]
    assert (cor.quantifier, cor.evidence, cor.bias) == ("every W in the ball", "certified", "lower")
    assert cor.verdict == "DESCRIPTIVE" and cor.params()["grid"] == [36.0, 100.0]
    assert all(v.verdict != "HOLDS" for v in ev.verdicts)
    assert "trained" in {v.params()["W"] for v in rates}
    assert {"perturbation", "gradient", "step", "c2"} == {f.name for f in ev.figures}


def _planted(data, family, factor=None, never=0.0):
    """The data with one family's t* multiplied by factor(d), or a fraction set to +inf."""
    out = {}
    for cfg, df in data.items():
        df = df.copy()
        rows = df["family"] == family
        if factor is not None:
            df.loc[rows, "t_star"] *= factor(cfg.d)
            df.loc[rows, "eta_star"] *= factor(cfg.d)
        if never:
            idx = df.index[rows][: int(never * rows.sum())]
            df.loc[idx, ["t_star", "eta_star"]] = np.inf
        out[cfg] = df
    return out


def test_lazy_single_step_refutes_planted_errors_and_not_the_truth(single_step_data):
    # Decided at family-wise alpha = 1e-6: a correct simulation shows a VIOLATED on its true data
    # with probability <= 1e-6 (Holm), so the first assertion is sound; the planted errors are
    # strong enough to be refuted even at that level.
    sim, alpha = TinySingleStep(), 1e-6
    truth = apply_holm(sim.evaluate(single_step_data).verdicts, alpha)
    assert not [v for v in truth if v.verdict == "VIOLATED"]
    # t* sqrt(d) growing like d^2 over d = 36..625 (the constant would need to grow): refuted.
    # The trend test also needs the last local slope (256 -> 625, 80 networks, 0.9 quantile) to
    # exceed 0.1: its bootstrap se is ~0.25 here, so a planted d^0.8 gives z ~ 3 (p ~ 1e-3, not
    # below Holm's 1e-6 / 20) while d^2 gives z ~ 7.5 (p at the 1e-12 floor).
    grown = _planted(single_step_data, "W0", lambda d: d**2)
    grown = apply_holm(sim.evaluate(grown).verdicts, alpha)
    bad = [v for v in grown if v.verdict == "VIOLATED"]
    assert bad and {v.params()["W"] for v in bad} == {"W0"}
    assert {"wang2022.theorem_3_1", "wang2022.theorem_3_1_step"} & {v.claim for v in bad}
    # A third of the rays never flip: no C2 suffices, whatever its value (gamma = 0.1).
    never = apply_holm(
        sim.evaluate(_planted(single_step_data, "robustifying", never=0.34)).verdicts
    )
    rows = [v for v in never if v.statistic.startswith("the ray never flips")]
    assert rows and all(v.verdict == "VIOLATED" for v in rows)


def _planted_radius(data, growth, rng):
    """Every robustifying row certified at r = 3 d^(growth - 1/2) times uniform noise in
    [0.8, 1.2]: r sqrt(d) grows like d^growth."""
    out = {}
    for cfg, df in data.items():
        df = df.copy()
        rows = df["family"] == "robustifying"
        noise = rng.uniform(0.8, 1.2, int(rows.sum()))
        df.loc[rows, "certified_radius"] = 3.0 * cfg.d ** (growth - 0.5) * noise
        out[cfg] = df
    return out


def test_corollary_3_2_certified_radius_refutes_growth_and_never_confirms(single_step_data):
    """Corollary 3.2 through its free radius constant: a certified flip radius whose r sqrt(d)
    grows like d^0.5 is refuted; a bounded one is not, and (a lower estimate of sup_W r) it
    cannot HOLD either. Dropping the certified row's bias would let the bounded one HOLD.
    Arithmetic: 80 networks per d with +-20% noise put the median's log within ~0.03 (se), so
    a planted slope of 0.5 over d = 36..625 (local slopes 0.5, se ~0.05) rejects growth <= 0.1 at
    z ~ 8 (p at the 1e-12 floor); a flat constant has slope 0 +- 0.02 and a growth p-value
    near 1."""
    sim, rng = TinySingleStep(), np.random.default_rng(5)

    def cor(data):
        rows = apply_holm(sim.evaluate(data).verdicts, 1e-6)
        (row,) = [v for v in rows if v.claim == "wang2022.corollary_3_2"]
        assert row.params()["grid"] == [36.0, 100.0, 256.0, 625.0]
        return row

    assert cor(_planted_radius(single_step_data, 0.5, rng)).verdict == "VIOLATED"
    flat = cor(_planted_radius(single_step_data, 0.0, rng))
    assert flat.verdict == "INCONCLUSIVE" and "cannot show the claim" in flat.note


def test_lazy_single_step_c0_sweep_is_drawn_as_fig_3():
    """Rates per (m, C0, family); C0 = 10 in the Fig. 2 figures, every C0 in the Fig. 3 ones."""
    data = run_blocks(TinySweep())
    # The exact samplers materialise no W: no certificate, no Corollary 3.2 row.
    ev = check_evaluation(TinySweep(), data, absent=("wang2022.corollary_3_2",))
    rates = [v for v in ev.verdicts if v.test == "rate fit (bootstrap)"]
    assert {(v.params()["C0"], v.params()["W"]) for v in rates} == {
        (C0, W) for C0 in (10.0, 40.0) for W in ("W0", "worst-output", "robustifying")
    }
    names = {f.name for f in ev.figures}
    assert names == {"perturbation", "gradient", "step", "c2", "perturbation-c0",
                     "gradient-c0", "step-c0"}  # fmt: skip
    s = ev.summary
    sweep = s[s["figure"] == "perturbation-c0"]
    assert set(sweep["series"]) == {"C0 = 10", "C0 = 40"}
    assert set(sweep["panel"]) == {"W = W0", "W = worst-output", "W = robustifying"}
    assert set(s.loc[s["figure"] == "perturbation", "panel"]) == {"m = 500"}
    # A larger ball moves f further: worst-output's |f| has mean C0/2 (docs/theory.md Sec. 2 item 2)
    # and sd sqrt(1/2 + C0^2/(4m)) <= 1.2 here, so its median at C0 = 40 (about 20) is above the
    # one at C0 = 10 (about 5) unless 60 draws sit > 6 sd off: never for a correct sampler.
    for d in (9, 25, 64):
        med = {cfg.C0: df.loc[df["family"] == "worst-output", "f"].abs().median()
               for cfg, df in data.items() if cfg.d == d}  # fmt: skip
        assert med[40.0] > med[10.0] + 5


def test_lazy_single_step_on_the_exact_path():
    """The exact samplers give W0, worst-output and robustifying (random-sphere leaves span{x, e}
    and is not offered); the same verdict rows come out."""
    data = run_blocks(TinySingleStep(), "exact")
    for cfg, df in data.items():
        assert cfg.path == "exact"
        assert set(df["family"]) == {"W0", "worst-output", "robustifying"}
        ok = df[~df["zero_output"]]
        np.testing.assert_allclose(ok["eta_star"], ok["t_star"] / ok["grad_norm"], rtol=1e-12)
        # Every W of the ball is within C0 of f(W0) and worst-output maximises |f|: its median
        # |f| is larger than W0's (C0 = 10 moves |f| by ~C0/2 on average).
        med = df.assign(af=df["f"].abs()).groupby("family")["af"].median()
        assert med["worst-output"] > med["W0"]
    ev = check_evaluation(TinySingleStep(), data, absent=("wang2022.corollary_3_2",))
    assert {v.params()["W"] for v in ev.verdicts if v.test == "rate fit (bootstrap)"} == {
        "W0", "worst-output", "robustifying"}  # fmt: skip


# -- lazy-gradient-stability ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stability_data():
    return run_blocks(TinyStability())


def test_lazy_gradient_stability_columns_and_invariants(stability_data):
    for cfg, df in stability_data.items():
        assert {"family", "rho", "grad_norm", "ray", "search", "certificate"} <= set(df.columns)
        assert np.allclose(df["rho"], 5 / math.sqrt(cfg.d))
        assert df["search"].notna().sum() == 3 * cfg.searched_per_block * cfg.n_blocks
        # The certificate bounds the sup from above: the ray point and the search lie below it.
        cert = df["certificate"] * (1 + 1e-9)
        assert (df["ray"] <= cert).all()
        searched = df["search"].notna()
        assert (df.loc[searched, "search"] <= cert[searched]).all()


def test_lazy_gradient_stability_verdicts(stability_data):
    ev = check_evaluation(TinyStability(), stability_data)
    rows = [v for v in ev.verdicts if v.claim == "wang2022.lemma_4_4"]
    # 3 families x (ray, search, certificate), each a little-o rate row in d
    assert len(rows) == 9
    assert all(v.params()["rate_kind"] == "o" and v.bound == 0.5 for v in rows)
    assert {"drift"} == {f.name for f in ev.figures}


def test_law_summary_cuts_the_interval_to_the_range_of_the_values():
    """Two networks' robust accuracies 0 and 1: the t interval reaches about -5.9 and 6.9; the
    mean of values in [0, 1] lies in [0, 1], so the cut interval keeps its coverage."""
    from theorycheck.simulations._common import law_summary

    wide = law_summary([0.0, 1.0], {})
    assert wide["ci_low"] < -1 and wide["ci_high"] > 2
    cut = law_summary([0.0, 1.0], {}, within=(0.0, 1.0))
    assert (cut["ci_low"], cut["estimate"], cut["ci_high"]) == (0.0, 0.5, 1.0)
    inside = law_summary([0.4, 0.5, 0.6], {}, within=(0.0, 1.0))  # far from the ends: unchanged
    assert inside == law_summary([0.4, 0.5, 0.6], {})
