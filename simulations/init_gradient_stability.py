"""init-gradient-stability: how much the input gradient moves (F5 of
docs/derivations/single_step_laws.md; Bubeck et al. 2021, "gradient locally stable", eq. (4)).

For each replicate (one network at initialisation, one input x):

* random perturbations independent of W: x' = cos(theta) x + sin(theta) ||x|| v with v uniform
  on the unit sphere orthogonal to x (so ||x'|| = ||x|| and angle(x, x') = theta, delta = x' - x);
  theta from a bubeck-unit size ||delta|| = rho (sin(theta/2) = rho / (2 sqrt(d))) for rho in
  :data:`RHOS`, and one fixed angle :data:`FIXED_THETA`. Recorded: the neurons whose
  pre-activation changes sign, ||grad f(x') - grad f(x)||^2 and the linearisation error
  (f(x') - f(x) - <grad f(x), delta>)^2;
* the attack ray: delta = -sign f(x) t u, u = grad f / ||grad f||, at t = c t* for c in
  :data:`RAY_FRACTIONS` (t* the first sign flip): ||grad f(x + delta) - grad f(x)|| / ||grad f(x)||.

Checks (exact laws, both scalings):

* each neuron flips with probability theta/pi, independently (``exact.f5_flips``): the pooled count
  over n networks is Bin(n m, theta/pi) (exact binomial test) — for every activation, it is a
  statement about W only;
* E||grad f(x') - grad f(x)||^2 = d theta/pi (wang), theta/pi (bubeck) for relu
  (``exact.f5_gradient_jump``), z-test; for a general sigma (gelu here) by the same argument
  (E a_s a_t = 1[s = t], w = g1 x + g2 v + r with r in the other d - 2 dimensions):
  E||.||^2 = (d - 2) E[D^2] + E[D^2 (g1^2 + g2^2)], D = sigma'(z1) - sigma'(z0), z0 = g1,
  z1 = cos(theta) g1 + sin(theta) g2 (wang; divided by d in bubeck), evaluated by 2-D
  Gauss-Hermite quadrature (:func:`gradient_jump_energy`);
* E[(f(x') - f(x) - <grad f, delta>)^2] = ||x'||^2 (theta - sin theta cos theta)/pi (relu, wang
  units, ``exact.f5_linearisation_error``), E[(sigma(z1) - sigma(z0) - sigma'(z0)(z1 - z0))^2] for
  a general sigma (:func:`linearisation_energy`); f-values are scale-invariant, so the same in both
  scalings;
* Bubeck et al.'s gradient stability (``bubeck2021.gradient_stability``), w.h.p.
  ||grad f(x + delta) - grad f(x)|| = o(||grad f(x)||): the 1 - gamma quantile (gamma =
  :data:`STABILITY_GAMMA`) of the ratio ||grad f(x + delta) - grad f(x)|| / ||grad f(x)|| must
  tend to 0 as d grows, tested through its trend over the large end of the d grid
  (:func:`theorycheck.verdicts.implied_constant_verdict`, side ``vanish``: HOLDS when it is shown
  to decrease there; a finite grid never refutes an o-claim). On the exact d-free sampler (relu,
  docs/derivations/exact_sampler.md) along the attack ray at a fixed bubeck-unit distance
  :data:`RATE_RHO` (the theorem's delta), over d up to 25600; on the networks of the F5 grid at
  ||delta|| = t* along the ray and at a random delta of size RATE_RHO. For relu the jump scales
  like d^-1/4 (F5: theta ~ rho / sqrt(d) and E||.||^2 = theta/pi), for smooth sigma like d^-1/2.
  These are particular perturbations, not the supremum over ||delta|| <= rho. The fitted
  log-log slopes of the mean ratio are shown as descriptions.

Paths: for relu without biases every replicate of the F5 grid (random perturbations and the ray at
c t*) comes from the d-free exact sampler :func:`theorycheck.exact_perturb.
sample_perturbation_statistics` (docs/derivations/exact_sampler.md Sec. 7: span{x, v_1..v_P} plus
a Wishart complement, O(m) per network whatever d is), so no d x m matrix is drawn; ``--path
numba`` (or ``reference``) draws materialised networks instead, as gelu always does.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from theorycheck.activations import get_activation
from theorycheck.bounds import get_bound
from theorycheck.exact import sample_init_statistics
from theorycheck.exact_perturb import PERTURB_PATHS, sample_perturbation_statistics
from theorycheck.network import NetworkSpec
from theorycheck.rates import fit_rate, implied_constant
from theorycheck.seeding import generator
from theorycheck.simulation import Evaluation, FigureSpec
from theorycheck.simulations._common import InitPathSimulation, default_path, law_summary, main
from theorycheck.stats import binomial_total_test, mean_z_test, quantile_ci
from theorycheck.verdicts import (
    Evidence,
    Quantifier,
    implied_constant_verdict,
    law_verdict,
    rate_verdict,
)

#: Random perturbation sizes ||delta|| (bubeck units).
RHOS = (0.5, 1.0, 2.0)
#: One fixed angle theta (radians), the same at every d.
FIXED_THETA = 0.5
#: Points along the attack ray, as fractions of t*.
RAY_FRACTIONS = (0.25, 0.5, 1.0)
#: The stability claims use the ray at t = t*, the random perturbation of size rho = 1 and, on
#: the exact sampler, the ray at distance rho = 1 (bubeck units; <= C4 sqrt(log(1/gamma)) with
#: C4 = 1 at gamma = 0.1).
RATE_RHO = 1.0
#: "w.h.p.": the 1 - gamma quantile of the ratio must vanish.
STABILITY_GAMMA = 0.1
#: Implied constants are tested over the last this-many points of the d grid (at least).
LARGE_END = 4
N_BOOT = 400
#: Gauss-Hermite nodes per dimension of the 2-D quadratures.
_GH_NODES = 120


@dataclass(frozen=True)
class StabilityConfig:
    d: int
    m: int
    activation: str
    scaling: str
    networks_per_block: int
    n_blocks: int
    #: ``exact`` (relu without biases: the d-free sampler of theorycheck/exact_perturb.py),
    #: ``numba`` or ``reference`` (materialised networks).
    path: str = "numba"


@dataclass(frozen=True)
class RayStabilityConfig:
    """The exact d-free sampler (relu, a = +-1, no biases): the gradient difference along the
    attack ray at the bubeck-unit distance ``rho``."""

    d: int
    m: int
    scaling: str
    networks_per_block: int
    n_blocks: int
    rho: float = RATE_RHO
    activation: str = "relu"


def _perturbations(d: int) -> list[tuple[str, float]]:
    """(column label, theta) of the random perturbations at dimension d."""
    out = [(f"rho_{rho:g}", 2.0 * math.asin(min(1.0, rho / (2.0 * math.sqrt(d))))) for rho in RHOS]
    return [*out, (f"theta_{FIXED_THETA:g}", FIXED_THETA)]


@functools.cache
def _gh_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (g1, g2) and weights of the 2-D probabilists' Gauss-Hermite rule for N(0, I_2)."""
    t, w = np.polynomial.hermite_e.hermegauss(_GH_NODES)
    w = w / math.sqrt(2.0 * math.pi)
    g1, g2 = np.meshgrid(t, t, indexing="ij")
    return g1, g2, np.outer(w, w)


def _gauss_hermite_2d(fn, theta: float) -> float:
    """E[fn(z0, z1, g1, g2)] with g1, g2 iid N(0,1), z0 = g1, z1 = cos(theta) g1 + sin(theta) g2,
    by a tensor product of probabilists' Gauss-Hermite rules (exact for polynomials of degree
    < 2 * _GH_NODES in each variable; smooth activations converge fast)."""
    g1, g2, W = _gh_grid()
    z0, z1 = g1, math.cos(theta) * g1 + math.sin(theta) * g2
    return float(np.sum(W * fn(z0, z1, g1, g2)))


def gradient_jump_energy(activation: str, d: int, theta: float) -> float:
    """E||grad f(x') - grad f(x)||^2 at initialisation, wang units (||x|| = ||x'|| = 1).

    = (d - 2) E[D^2] + E[D^2 (g1^2 + g2^2)] with D = sigma'(z1) - sigma'(z0) (module docstring);
    relu: d theta / pi exactly (F5, docs/derivations/single_step_laws.md). Divide by d for the
    bubeck scaling.
    """
    act = get_activation(activation)
    if activation == "relu":
        return d * theta / math.pi
    d2 = _gauss_hermite_2d(lambda z0, z1, g1, g2: (act.dsigma(z1) - act.dsigma(z0)) ** 2, theta)
    d2r = _gauss_hermite_2d(
        lambda z0, z1, g1, g2: (act.dsigma(z1) - act.dsigma(z0)) ** 2 * (g1**2 + g2**2), theta
    )
    return (d - 2) * d2 + d2r


def linearisation_energy(activation: str, theta: float) -> float:
    """E[(f(x') - f(x) - <grad f(x), x' - x>)^2] at initialisation for ||x'|| = ||x|| (in wang
    units ||x|| = 1; the same in bubeck units: f-values are scale-invariant).

    = E[(sigma(z1) - sigma(z0) - sigma'(z0)(z1 - z0))^2]; relu: (theta - sin theta cos theta)/pi.
    """
    act = get_activation(activation)
    if activation == "relu":
        return (theta - math.sin(theta) * math.cos(theta)) / math.pi
    return _gauss_hermite_2d(
        lambda z0, z1, g1, g2: (act.sigma(z1) - act.sigma(z0) - act.dsigma(z0) * (z1 - z0)) ** 2,
        theta,
    )


class InitGradientStability(InitPathSimulation):
    id = "init-gradient-stability"
    title = "How far the input gradient moves: F5 and Bubeck et al.'s gradient stability"
    claims = ("exact.f5_flips", "exact.f5_gradient_jump", "exact.f5_linearisation_error",
              "bubeck2021.gradient_stability")  # fmt: skip
    limitations = (
        "Random perturbations are independent of W (F5's setting); along the attack ray the "
        "perturbation depends on W, and only the decay in d is checked there. Gradient "
        "stability is measured at particular perturbations, a lower estimate of the supremum "
        "over the ball that Bubeck et al. bound. The smooth-activation references come from "
        "2-D Gauss-Hermite quadrature of formulas derived here (module docstring). A rate "
        "verdict concerns the log-log slope over the grid only."
    )
    paths = PERTURB_PATHS

    def _configs(self, profile):
        if profile == "quick":
            dims, m, per_block, blocks = (25, 100, 400), 1000, 150, 2
            ray_dims, ray_m, ray_per_block = (25, 100, 400, 1600, 6400, 25_600), 1000, 500
        else:
            dims, m, per_block, blocks = (25, 100, 400, 1600), 2000, 500, 4
            ray_dims, ray_m, ray_per_block = (25, 100, 400, 1600, 10_000, 100_000), 10_000, 500
        for activation in ("relu", "gelu"):
            for scaling in ("bubeck", "wang"):
                for d in dims:
                    yield StabilityConfig(d, m, activation, scaling, per_block, blocks,
                                          default_path(activation))  # fmt: skip
        # The exact sampler is d-free: the ray's d grid spans three decades and more.
        for scaling in ("bubeck", "wang"):
            for d in ray_dims:
                yield RayStabilityConfig(d, ray_m, scaling, ray_per_block, blocks)

    def measure(self, config, rng) -> pd.DataFrame:
        if isinstance(config, RayStabilityConfig):
            return self._measure_ray(config, rng)
        spec = NetworkSpec(d=config.d, m=config.m, activation=config.activation,
                           scaling=config.scaling)  # fmt: skip
        perturbations = _perturbations(config.d)
        st = sample_perturbation_statistics(spec, config.networks_per_block, rng,
                                            thetas=[th for _, th in perturbations],
                                            ray_fractions=RAY_FRACTIONS,
                                            path=config.path)  # fmt: skip
        cols = {"replicate": np.arange(len(st.f)), "f": st.f, "grad_norm": st.grad_norm,
                "t_star": st.t_star}  # fmt: skip
        for j, (label, _theta) in enumerate(perturbations):
            cols[f"flips_{label}"] = st.flips[:, j]
            cols[f"jump2_{label}"] = st.jump2[:, j]
            cols[f"lin2_{label}"] = st.lin2[:, j]
            cols[f"ratio_{label}"] = st.ratio[:, j]
        for k, c in enumerate(RAY_FRACTIONS):
            cols[f"ray_ratio_{c:g}"] = st.ray_ratio[:, k]
        return pd.DataFrame(cols)

    def _measure_ray(self, config: RayStabilityConfig, rng) -> pd.DataFrame:
        """f, ||grad f||, t* and ||grad f(x - sign(f) rho u) - grad f(x)|| from the exact sampler
        (the distance rho in bubeck units is rho / sqrt(d) in wang units)."""
        spec = NetworkSpec(d=config.d, m=config.m, scaling=config.scaling)
        t = config.rho * (1.0 if config.scaling == "bubeck" else 1.0 / math.sqrt(config.d))
        st = sample_init_statistics(spec, config.networks_per_block, rng, ray_distances=(t,))
        ok = ~st.zero_output
        ratio = np.where(ok, st.grad_diff[:, 0] / np.where(ok, st.grad_norm, 1.0), np.nan)
        return pd.DataFrame({"replicate": np.arange(len(st.f)), "f": st.f,
                             "grad_norm": st.grad_norm, "t_star": st.t_star,
                             "zero_output": st.zero_output, "ray_ratio_rho": ratio})  # fmt: skip

    def evaluate(self, data) -> Evaluation:
        rays = {c: df for c, df in data.items() if isinstance(c, RayStabilityConfig)}
        data = {c: df for c, df in data.items() if not isinstance(c, RayStabilityConfig)}
        flips_law = get_bound("exact.f5_flips")
        jump_law = get_bound("exact.f5_gradient_jump")
        lin_law = get_bound("exact.f5_linearisation_error")
        verdicts, summary = [], []
        for cfg, df in data.items():
            params = {"d": cfg.d, "m": cfg.m, "activation": cfg.activation,
                      "scaling": cfg.scaling}  # fmt: skip
            panel = f"{cfg.activation}, {cfg.scaling}"
            per_unit = cfg.d if cfg.scaling == "bubeck" else 1.0  # wang -> scaling units
            for label, theta in _perturbations(cfg.d):
                p = {**params, "perturbation": label, "theta": theta}
                n = len(df)
                flips = df[f"flips_{label}"].to_numpy()
                verdicts.append(law_verdict(
                    flips_law.id, self.id, p, "neurons flipped ~ Bin(m, theta/pi), pooled",
                    "exact binomial (pooled)",
                    binomial_total_test(int(flips.sum()), n * cfg.m, theta / math.pi), flips,
                    reference_mean=float(flips_law.mean(m=cfg.m, theta=theta)),
                    evidence=Evidence.SAMPLED, quantifier=Quantifier.RANDOM,
                ))  # fmt: skip
                jump2 = df[f"jump2_{label}"].to_numpy()
                if cfg.activation == "relu":
                    ref = float(jump_law(d=cfg.d, theta=theta)) / per_unit
                    ref_lin = float(lin_law(theta=theta, r=1.0))
                    how = "(relu, exact)"
                else:
                    ref = gradient_jump_energy(cfg.activation, cfg.d, theta) / per_unit
                    ref_lin = linearisation_energy(cfg.activation, theta)
                    how = f"({cfg.activation}, 2-D Gauss-Hermite quadrature)"
                units = "wang" if cfg.scaling == "wang" else "bubeck"
                verdicts.append(law_verdict(
                    jump_law.id, self.id, p,
                    f"E||grad f(x') - grad f(x)||^2 ({units} units) {how}", "z (sample variance)",
                    mean_z_test(jump2, ref), jump2, reference_mean=ref,
                    evidence=Evidence.SAMPLED, quantifier=Quantifier.RANDOM,
                ))  # fmt: skip
                lin2 = df[f"lin2_{label}"].to_numpy()
                verdicts.append(law_verdict(
                    lin_law.id, self.id, p,
                    f"E[(f(x') - f(x) - <grad f, delta>)^2] {how}", "z (sample variance)",
                    mean_z_test(lin2, ref_lin), lin2, reference_mean=ref_lin,
                    evidence=Evidence.SAMPLED, quantifier=Quantifier.RANDOM,
                ))  # fmt: skip
                for figure, values, reference in (
                    ("f5-jump", jump2 / ref, 1.0),
                    ("f5-linearisation", lin2 / ref_lin, 1.0),
                    ("f5-flips", flips / (cfg.m * theta / math.pi), 1.0),
                ):
                    summary.append(law_summary(values, {
                        "figure": figure, "panel": panel, "series": label.replace("_", " = "),
                        "x": cfg.d, "reference": reference}))  # fmt: skip
        rows, rate_summary = self._rate_rows(data)
        ray_rows, ray_summary = self._ray_rows(rays)
        rows += ray_rows
        rate_summary += ray_summary
        figures = [
            FigureSpec("f5-jump", "E||grad f(x') - grad f(x)||^2 / exact value (F5), random "
                       "delta independent of W", "input dimension d", "estimate / exact",
                       logx=True, caption="Mean with 95% CI; dashed: 1. Exact: d theta/pi (wang), "
                       "theta/pi (bubeck) for relu; 2-D Gauss-Hermite quadrature for gelu."),
            FigureSpec("f5-flips", "Flipped neurons / (m theta/pi) (F5)", "input dimension d",
                       "estimate / exact", logx=True,
                       caption="Mean with 95% CI; dashed: 1."),
            FigureSpec("f5-linearisation", "Linearisation error E[(f(x') - f(x) - <grad f, "
                       "delta>)^2] / exact value (F5)", "input dimension d", "estimate / exact",
                       logx=True, caption="Mean with 95% CI; dashed: 1."),
            FigureSpec("ray-stability", "||grad f(x + delta) - grad f(x)|| / ||grad f(x)|| along "
                       "the attack ray, delta = c t* u", "input dimension d", "relative change",
                       logx=True, logy=True,
                       caption="Mean with stratified-bootstrap 95% CI, one series per fraction c "
                               "of t*. Bubeck et al.: o(1) as d grows (eq. (4))."),
            FigureSpec("random-stability", "Relative gradient change for a random delta of "
                       "bubeck-unit size rho", "input dimension d", "relative change",
                       logx=True, logy=True,
                       caption="Mean with stratified-bootstrap 95% CI; F5 predicts "
                               "~ (rho / (pi sqrt(d)))^(1/2) / ||grad f|| for relu."),
            FigureSpec("rate-slopes", "Local log-log slopes of the relative gradient change "
                       "(o(1): slope below 0)", "grid midpoint d", "local slope", logx=True,
                       caption="Stratified-bootstrap 95% CIs; dashed: 0.",
                       reference_label="claimed exponent"),
            FigureSpec("exact-ray-stability", f"{1 - STABILITY_GAMMA:g} quantile of ||grad "
                       "f(x + delta) - grad f(x)|| / ||grad f(x)|| along the attack ray at "
                       f"||delta|| = {RATE_RHO:g} (bubeck units), exact sampler (relu)",
                       "input dimension d", "relative change", logx=True, logy=True,
                       caption="Order-statistic 95% CIs. Bubeck et al.: o(1) as d grows (eq. "
                               "(4)); the verdict tests the decrease over the large end."),
        ]  # fmt: skip
        drawn = set(pd.DataFrame(summary + rate_summary).get("figure", pd.Series(dtype=str)))
        figures = [f for f in figures if f.name in drawn]
        return Evaluation(verdicts + rows, pd.DataFrame(summary + rate_summary), figures)

    def _rate_rows(self, data) -> tuple[list, list]:
        claim = get_bound("bubeck2021.gradient_stability")
        exponent, kind = float(claim.exponents["d"]), claim.order
        groups: dict[tuple, dict] = {}
        paths: dict[tuple, set] = {}
        for cfg, df in data.items():
            groups.setdefault((cfg.activation, cfg.scaling, cfg.m), {})[cfg.d] = df
            paths.setdefault((cfg.activation, cfg.scaling, cfg.m), set()).add(cfg.path)
        rows, summary = [], []
        for (activation, scaling, m), by_d in groups.items():
            dims = sorted(by_d)
            # exact: the d-free sampler gave every replicate (theorycheck/exact_perturb.py).
            exact = paths[(activation, scaling, m)] == {"exact"}
            evidence = Evidence.EXACT if exact else Evidence.SAMPLED
            panel = f"{activation}, {scaling}"
            columns = [(f"ray_ratio_{c:g}", "ray-stability", f"c = {c:g}") for c in RAY_FRACTIONS]
            columns += [(f"ratio_rho_{r:g}", "random-stability", f"rho = {r:g}") for r in RHOS]
            for column, figure, series in columns:
                samples = [by_d[d][column].to_numpy() for d in dims]
                samples = [s[np.isfinite(s)] for s in samples]
                if len(dims) < 2 or any(s.size < 2 for s in samples):
                    continue
                rng = generator(0, "bootstrap", self.id, activation, scaling, column)
                fit = fit_rate(dims, samples, rng, n_boot=N_BOOT, statistic="mean")
                summary += fit.summary_rows({"figure": figure, "panel": panel,
                                             "series": series})  # fmt: skip
                checked = column in ("ray_ratio_1", f"ratio_rho_{RATE_RHO:g}")
                if not checked:
                    continue
                what = (
                    "at ||delta|| = t* along the attack ray"
                    if column.startswith("ray")
                    else f"at a random delta, ||delta|| = {RATE_RHO:g} (bubeck units)"
                )
                params = {"m": m, "activation": activation, "scaling": scaling,
                          "delta": column}  # fmt: skip
                rows.append(rate_verdict(
                    claim.id, self.id, params,
                    f"E ||grad f(x + delta) - grad f(x)|| / ||grad f(x)|| {what}", fit,
                    exponent, kind, variable="d",
                ))  # fmt: skip
                rows.append(_vanish_row(
                    self.id, {**params, "gamma": STABILITY_GAMMA, "rho": RATE_RHO}, dims,
                    samples, f"||grad f(x + delta) - grad f(x)|| / ||grad f(x)|| {what}",
                    evidence, ("materialised", activation, scaling, column),
                ))  # fmt: skip
                summary += fit.summary_rows({"figure": "rate-slopes", "panel": panel,
                                             "series": series, "reference": exponent},
                                            local=True)  # fmt: skip
        return rows, summary

    def _ray_rows(self, rays: dict) -> tuple[list, list]:
        """Gradient stability on the exact sampler: the ratio along the attack ray at the fixed
        bubeck-unit distance RATE_RHO, per scaling over the d grid."""
        rows, summary = [], []
        lines: dict[tuple, dict] = {}
        for cfg, df in rays.items():
            lines.setdefault((cfg.scaling, cfg.m, cfg.rho), {})[cfg.d] = df
        q = 1 - STABILITY_GAMMA
        for (scaling, m, rho), by_d in lines.items():
            dims = sorted(by_d)
            samples = []
            for d in dims:
                r = by_d[d]["ray_ratio_rho"].to_numpy(dtype=float)
                samples.append(r[np.isfinite(r)])  # f = 0: no attack direction
                ci = quantile_ci(samples[-1], q)
                summary.append({"figure": "exact-ray-stability", "panel": "relu",
                                "series": f"{scaling}, m = {m}", "x": d,
                                "estimate": ci.estimate, "ci_low": ci.low,
                                "ci_high": ci.high})  # fmt: skip
            if len(dims) < 2:
                continue
            params = {"m": m, "activation": "relu", "scaling": scaling, "delta": "ray_rho",
                      "gamma": STABILITY_GAMMA, "rho": rho}  # fmt: skip
            rows.append(_vanish_row(
                self.id, params, dims, samples,
                f"||grad f(x + delta) - grad f(x)|| / ||grad f(x)|| along the attack ray at "
                f"||delta|| = {rho:g} (bubeck units)", Evidence.EXACT,
                ("exact", scaling, m, f"{rho:g}"),
            ))  # fmt: skip
        return rows, summary


def _vanish_row(sim_id: str, params: dict, dims, samples, what: str, evidence, key: tuple):
    """Bubeck et al.'s o(||grad f||): the 1 - gamma quantile of the ratio over the large end of
    the d grid must decrease (:func:`implied_constant_verdict`, side ``vanish``)."""
    q = 1 - params["gamma"]
    tail = max(LARGE_END, math.ceil(len(dims) / 2)) if len(dims) >= LARGE_END else len(dims)
    rng = generator(0, "implied", sim_id, *key)
    fit = implied_constant(dims[-tail:], samples[-tail:], np.ones(tail), rng, n_boot=N_BOOT,
                           statistic=q)  # fmt: skip
    return implied_constant_verdict(
        "bubeck2021.gradient_stability",
        sim_id,
        params,
        f"{what}: its {q:g} quantile",
        fit,
        side="vanish",
        variable="d",
        evidence=evidence,
        quantifier=Quantifier.RANDOM,
        note="a particular delta, not the supremum over ||delta|| <= rho",
    )


SIMULATION = InitGradientStability()

if __name__ == "__main__":
    main(SIMULATION)
