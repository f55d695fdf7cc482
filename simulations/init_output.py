"""init-output: the output f(x) of a random network (F1 of docs/derivations/exact_laws_at_init.md;
Bubeck et al. 2021, eq. (2)).

For each replicate: draw a network at initialisation and one input x uniform on the sphere, and
record f(x) (one input per network: f at two inputs of one network are correlated, e.g. by 1/pi
for relu at orthogonal inputs, so replicates must be networks). Checks:

* relu (a = +-1, no biases): f has exactly the law of sqrt(N/m) G, N ~ Bin(m, 1/2) (F1): KS test
  of the nonzero values against the law conditioned on f != 0, Bonferroni-combined with the exact
  binomial test of P(f = 0) = 2^-m (a plain KS test would count the atom at 0 against the sample);
  E|f| = sqrt(2/pi) E sqrt(N/m) by a z-test with the exact variance 1/2 - (E|f|)^2; the explicit
  bound |f| <= Phi^{-1}(1 - gamma/2) w.p. >= 1 - gamma (HP upper bound, Clopper-Pearson), with the
  exact 1 - gamma quantile and exceedance probability in the note.
* every activation: Var f = E f^2 = E sigma(g)^2 (a = +-1 makes E f = 0) by a z-test of the mean
  of f^2 with its exact variance Var f^2 = (E sigma^4 - 3 (E sigma^2)^2) / m + 2 (E sigma^2)^2
  (f is a normalised sum of m iid terms a_s sigma(z_s), z_s ~ N(0, 1) in both scalings).
* Bubeck et al.'s "w.h.p. |f(x)| in Theta(1)" (``bubeck2021.output_order``): its constants are
  free, so it is tested through implied constants over the large end of every grid line (over d
  at fixed m, over m >= 10 at fixed d; >= 4 points): the 1 - gamma quantile of |f| must stay
  bounded (O(1), an upper-side row) and its gamma quantile bounded away from 0 (Omega(1), a
  lower-side row), gamma = :data:`ORDER_GAMMA`. The fitted log-log slopes of E|f| are shown as
  descriptions.

Sample sizes: the relu configs on the exact path have the replicates at which the explicit bound
at gamma = 0.01 reads HOLDS w.p. >= 0.99 at exceedance rate gamma/2 and VIOLATED w.p. >= 0.99 at
2 gamma, at the worst-case level of the quick profile's Holm family
(:func:`theorycheck.power.replicates_for_power`); at m = 1 the exact exceedance rate is gamma/2,
so less would not settle it. The widest configs keep fewer and their rows state their power.

f is scale-invariant between the scalings (f_wang(x) = f_bubeck(sqrt(d) x)), so both scalings
must give the same law: they are run separately as a check of the two samplers.

Paths: relu configs use the exact d-free sampler (docs/derivations/exact_sampler.md) by default,
which is what lets the full profile reach d = 1e5 and m = 1e6; ``--path numba`` (or
``reference``) draws materialised networks instead. Both samplers are checked against F1 here
and against each other in tests/test_exact_path.py.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize

from theorycheck.activations import get_activation
from theorycheck.bounds import get_bound
from theorycheck.forward import output_and_gradient
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.power import replicates_for_power
from theorycheck.rates import fit_rate, implied_constant
from theorycheck.seeding import generator
from theorycheck.simulation import Evaluation, FigureSpec
from theorycheck.simulations._common import (
    STREAMED,
    InitPathSimulation,
    StreamingPathMixin,
    default_path,
    law_summary,
    main,
)
from theorycheck.stats import binomial_total_test, ks_test, mean_z_test, quantile_ci
from theorycheck.verdicts import (
    Evidence,
    Quantifier,
    bound_verdict,
    implied_constant_verdict,
    law_verdict,
    rate_verdict,
)

#: Failure probabilities at which the explicit bound |f| <= Phi^{-1}(1 - gamma/2) is checked.
GAMMAS = (0.05, 0.01)
#: Largest drift of a Theta(1) exponent over a finite grid accepted as pre-asymptotic.
RATE_TOLERANCE = 0.1
#: Bootstrap replicates of the rate and implied-constant fits (the slope's standard error to
#: about 5%, enough for its one-sided 95% limit).
N_BOOT = 200
#: Rate fits over the width use m >= this (Bubeck et al. assume k >= C1 log^3(1/gamma)).
MIN_RATE_WIDTH = 10
#: "w.h.p. |f| in Theta(1)" is read at this gamma: the 1 - gamma quantile of |f| is O(1), the
#: gamma quantile Omega(1).
ORDER_GAMMA = 0.1
#: Implied constants are tested over the last this-many points of a grid line (at least).
LARGE_END = 4
#: Exact-path configs up to this width get the replicates of :func:`_power_replicates`.
POWER_MAX_WIDTH = 1000


@dataclass(frozen=True)
class OutputConfig:
    d: int
    m: int
    activation: str
    scaling: str
    networks_per_block: int
    n_blocks: int
    path: str = "numba"


@functools.cache
def _power_replicates() -> int:
    """Replicates at which the explicit bound at the smallest gamma reads HOLDS w.p. >= 0.99 at
    rate gamma/2 and VIOLATED w.p. >= 0.99 at rate 2 gamma, at the family's worst-case level
    (5440 at gamma = 0.01, level 5e-5)."""
    return replicates_for_power(min(GAMMAS))


def _evidence(cfg) -> str:
    """``exact`` when the exact sampler gave f per replicate, else ``sampled``."""
    return str(Evidence.EXACT if cfg.path == "exact" else Evidence.SAMPLED)


@functools.cache
def _f1_quantile_abs(m: int, q: float) -> float:
    """The exact q-quantile of |f| under F1: P(|f| <= t) = 2 F(t) - 1 for t >= 0."""
    law = get_bound("exact.f1_output")
    return float(optimize.brentq(lambda t: 2 * law.cdf(t, m=m)[0] - 1 - q, 0.0, 40.0, xtol=1e-12))


def _fourth_moment(activation: str) -> float:
    act = get_activation(activation)
    return act.expect(lambda t: act.sigma(t) ** 4)


class InitOutput(StreamingPathMixin, InitPathSimulation):
    id = "init-output"
    title = "The output |f(x)| at initialisation (F1; Bubeck et al. 2021: |f| in Theta(1))"
    claims = ("exact.f1_output", "exact.f1_abs_output_bound", "bubeck2021.output_order")
    limitations = (
        "One input per network (by rotation invariance every input has the same law at "
        "initialisation). The exact law F1 is for relu without biases; smooth activations are "
        "checked through their exact second moment E sigma(g)^2 only. Theta(1) is decided on the "
        "implied constants' trend over the large end of each grid line: bounded there, not "
        "beyond the grid; a slowly drifting constant stays undecided."
    )

    def _configs(self, profile):
        # relu goes through the exact sampler (O(m) per network whatever d is), so its lines
        # span four decades of d and three of m; gelu draws materialised networks.
        n_power = _power_replicates()
        if profile == "quick":
            dims, widths = (10, 100, 1000, 10_000, 100_000), (1, 3, 10, 30, 100, 300, 1000)
            per_block, blocks = 500, 2
            smooth_dims = (10, 30, 100, 1000)
        else:
            dims, widths, per_block, blocks = (
                (10, 100, 1000, 10_000, 100_000), (1, 2, 5, 10, 100, 1000, 10_000, 100_000,
                                                   1_000_000), 1000, 4)  # fmt: skip
            smooth_dims = (10, 100, 1000, 10_000)
        relu_path = default_path("relu")
        for scaling in ("wang", "bubeck"):
            pairs = [(d, 100) for d in dims] + [(100, m) for m in widths if m != 100]
            for d, m in pairs:
                per = (-(-n_power // blocks) if relu_path in STREAMED and m <= POWER_MAX_WIDTH
                       else per_block)  # fmt: skip
                yield OutputConfig(d, m, "relu", scaling, max(per, per_block), blocks, relu_path)
            for d in smooth_dims:
                yield OutputConfig(d, 100, "gelu", scaling, per_block, blocks, default_path("gelu"))

    def measure(self, config: OutputConfig, rng) -> pd.DataFrame:
        spec = NetworkSpec(d=config.d, m=config.m, activation=config.activation,
                           scaling=config.scaling)  # fmt: skip
        if config.path in STREAMED:
            f = STREAMED[config.path](spec, config.networks_per_block, rng).f
            return pd.DataFrame({"replicate": np.arange(f.size), "f": f})
        f = np.empty(config.networks_per_block)
        for rep in range(config.networks_per_block):
            net = sample_network(spec, rng)
            f[rep] = output_and_gradient(net, sample_inputs(spec, 1, rng), path=config.path).f[0]
        return pd.DataFrame({"replicate": np.arange(f.size), "f": f})

    def evaluate(self, data) -> Evaluation:
        law, hp = get_bound("exact.f1_output"), get_bound("exact.f1_abs_output_bound")
        verdicts, summary = [], []
        for cfg, df in data.items():
            f = df["f"].to_numpy()
            params = {"d": cfg.d, "m": cfg.m, "activation": cfg.activation,
                      "scaling": cfg.scaling, "path": cfg.path}  # fmt: skip
            act = get_activation(cfg.activation)
            v = act.second_moment
            if cfg.activation == "relu":
                verdicts += self._relu_law_rows(law, hp, cfg, f, params)
            # E f^2 = E sigma(g)^2 with the exact variance of f^2 (module docstring).
            var_f2 = (_fourth_moment(cfg.activation) - 3 * v * v) / cfg.m + 2 * v * v
            verdicts.append(law_verdict(
                law.id, self.id, params, f"Var f = E f^2 = E sigma(g)^2 = {v:.6g} ({act.name})",
                "z (exact variance)", mean_z_test(f * f, v, var_f2), f * f, reference_mean=v,
                evidence=_evidence(cfg), quantifier=Quantifier.RANDOM,
            ))  # fmt: skip
        # Figures and rates follow the grid's lines: over d at fixed m, over m at fixed d.
        for (var, scaling, activation, fixed, value), by_x in _grid_lines(data).items():
            panel = f"{scaling} scaling"
            series = f"{activation}, {fixed} = {value}"
            mean_abs = (lambda c: law.mean_abs(c.m)) if activation == "relu" else (
                lambda c: math.nan)  # fmt: skip
            for cfg, df in sorted(by_x.items(), key=lambda kv: getattr(kv[0], var)):
                f = df["f"].to_numpy()
                x = getattr(cfg, var)
                base = {"panel": panel, "series": series, "x": x}
                summary.append(
                    law_summary(
                        np.abs(f), {**base, "figure": f"mean-abs-{var}", "reference": mean_abs(cfg)}
                    )
                )
                v = get_activation(activation).second_moment
                summary.append(law_summary(f * f / v, {
                    **base, "figure": "second-moment", "panel": f"over {var} ({scaling})",
                    "reference": 1.0}))  # fmt: skip
                if activation == "relu" and var == "m":
                    q99 = quantile_ci(np.abs(f), 0.99)
                    summary.append({**base, "figure": "tail", "estimate": q99.estimate,
                                    "ci_low": q99.low, "ci_high": q99.high,
                                    "reference": _f1_quantile_abs(cfg.m, 0.99),
                                    "bound": float(hp(gamma=0.01))})  # fmt: skip
        rate_rows, rate_summary = self._rate_rows(data)
        figures = [
            FigureSpec("mean-abs-d", "E|f(x)| vs input dimension d: a Theta(1) rate (Bubeck et "
                       "al. 2021, eq. (2))", "input dimension d", "E|f(x)|",
                       logx=True, logy=True,
                       caption="Mean with 95% CI; dashed: exact E|f| of F1 (relu). f has the same "
                               "law in both scalings and for every d."),
            FigureSpec("mean-abs-m", "E|f(x)| vs width m (exact law F1)", "width m", "E|f(x)|",
                       logx=True, logy=True,
                       caption="Mean with 95% CI; dashed: sqrt(2/pi) E sqrt(N/m), N ~ Bin(m, 1/2) "
                               "(0.399 at m = 1, limit 1/sqrt(pi) = 0.564)."),
            FigureSpec("second-moment", "E f^2 / E sigma(g)^2 (F1, general sigma: Var f = "
                       "E sigma(g)^2)", "d or m", "E f^2 / E sigma(g)^2", logx=True,
                       caption="Mean with 95% CI; dashed: 1."),
            FigureSpec("tail", "99% quantile of |f(x)| vs width m (relu)", "width m",
                       "|f| quantile", logx=True,
                       caption="Empirical 99% quantile with its order-statistic 95% CI; dashed: "
                               "exact quantile under F1; dotted: the explicit bound "
                               "Phi^{-1}(1 - gamma/2) at gamma = 0.01."),
            FigureSpec("rate-slopes", "Local log-log slopes of E|f| (Theta(1): slope 0)",
                       "grid midpoint (d or m)", "local slope", logx=True,
                       caption="Slope between neighbouring grid points with a stratified "
                               "bootstrap 95% CI; dashed: the claimed exponent 0.",
                       reference_label="claimed exponent"),
            FigureSpec("implied-constant", f"Implied constants of |f| in Theta(1): the "
                       f"{1 - ORDER_GAMMA:g} and {ORDER_GAMMA:g} quantiles of |f| at each grid "
                       "point", "d or m", "|f| quantile", logx=True, logy=True,
                       caption="Order-statistic 95% CIs. O(1) needs the upper quantile bounded, "
                               "Omega(1) the lower one bounded away from 0; the verdicts test "
                               "their trend over the large end of each line."),
        ]  # fmt: skip
        return Evaluation(verdicts + rate_rows, pd.DataFrame(summary + rate_summary), figures)

    def _relu_law_rows(self, law, hp, cfg, f, params) -> list:
        rows = []
        m = cfg.m
        p0 = 0.5**m  # P(f = 0) = P(N = 0)
        zero = f == 0.0
        nonzero = f[~zero]

        def cdf_nonzero(t, m=m, p0=p0):
            # The continuous part of F1: P(f <= t | f != 0).
            return (law.cdf(t, m=m) - p0 * (np.asarray(t) >= 0)) / (1 - p0)

        p_ks = ks_test(nonzero, cdf_nonzero) if nonzero.size else 1.0
        p_atom = binomial_total_test(int(zero.sum()), f.size, p0)
        evidence = _evidence(cfg)
        rows.append(law_verdict(
            law.id, self.id, params, "f(x) ~ sqrt(N/m) G, N ~ Bin(m, 1/2)",
            "KS (f != 0) + binomial P(f = 0) = 2^-m (Bonferroni)",
            min(1.0, 2 * min(p_ks, p_atom)), f, reference_mean=0.0, evidence=evidence,
            quantifier=Quantifier.RANDOM,
        ))  # fmt: skip
        mean_abs = law.mean_abs(m)
        rows.append(law_verdict(
            law.id, self.id, params, "E|f| = sqrt(2/pi) E sqrt(N/m)", "z (exact variance)",
            mean_z_test(np.abs(f), mean_abs, 0.5 - mean_abs**2), np.abs(f),
            reference_mean=mean_abs, evidence=evidence, quantifier=Quantifier.RANDOM,
        ))  # fmt: skip
        for gamma in GAMMAS:
            B = float(hp(gamma=gamma))
            row = bound_verdict(hp.id, self.id, {**params, "gamma": gamma}, "|f(x)|", np.abs(f),
                                B, gamma, evidence=evidence,
                                quantifier=Quantifier.RANDOM)  # fmt: skip
            exact_q = _f1_quantile_abs(m, 1 - gamma)
            exact_p = float(1 - (2 * law.cdf(B, m=m)[0] - 1))
            note = f"exact: 1-gamma quantile {exact_q:.4g}, P(|f| > bound) = {exact_p:.2e}"
            rows.append(replace(row, note="; ".join(filter(None, (row.note, note)))))
        return rows

    def _rate_rows(self, data) -> tuple[list, list]:
        """Bubeck et al.'s w.h.p. |f| in Theta(1), on every line of the grid (over d at fixed m,
        over m >= MIN_RATE_WIDTH at fixed d) with at least two points: implied constants (the
        1 - gamma quantile of |f| bounded, the gamma quantile bounded away from 0) over the large
        end, and the fitted slope of E|f| as a description."""
        order = get_bound("bubeck2021.output_order")
        rows, summary = [], []
        for (var, scaling, activation, fixed, value), by_x in _grid_lines(data).items():
            by_x = {c: df for c, df in by_x.items() if var == "d" or c.m >= MIN_RATE_WIDTH}
            if len(by_x) < 2:
                continue
            cfgs = sorted(by_x, key=lambda c: getattr(c, var))
            x = [getattr(c, var) for c in cfgs]
            samples = [np.abs(by_x[c]["f"].to_numpy()) for c in cfgs]
            evidence = (Evidence.EXACT if all(c.path == "exact" for c in cfgs)
                        else Evidence.SAMPLED)  # fmt: skip
            params = {fixed: value, "activation": activation, "scaling": scaling}
            tail = max(LARGE_END, math.ceil(len(x) / 2)) if len(x) >= LARGE_END else len(x)
            for side, q in (("upper", 1 - ORDER_GAMMA), ("lower", ORDER_GAMMA)):
                for xv, smp in zip(x, samples, strict=True):
                    ci = quantile_ci(smp, q)
                    summary.append({"figure": "implied-constant", "panel": f"over {var} "
                                    f"({scaling} scaling)", "series": f"{activation}, {fixed} = "
                                    f"{value}, {q:g} quantile", "x": xv, "estimate": ci.estimate,
                                    "ci_low": ci.low, "ci_high": ci.high})  # fmt: skip
                rng = generator(0, "implied", self.id, var, scaling, activation, fixed, value, side)
                fit = implied_constant(x[-tail:], samples[-tail:], np.ones(tail), rng,
                                       n_boot=N_BOOT, statistic=q)  # fmt: skip
                what = "O(1)" if side == "upper" else "Omega(1)"
                rows.append(implied_constant_verdict(
                    order.id, self.id, {**params, "gamma": ORDER_GAMMA},
                    f"|f(x)| in {what} over {var}: its {q:g} quantile", fit, side=side,
                    variable=var, evidence=evidence, quantifier=Quantifier.RANDOM,
                ))  # fmt: skip
            rng = generator(0, "bootstrap", self.id, var, scaling, activation, fixed, value)
            fit = fit_rate(x, samples, rng, n_boot=N_BOOT, statistic="mean")
            rows.append(replace(rate_verdict(
                order.id, self.id, params, f"E|f(x)| over {var}", fit, order.exponents[var],
                order.order, RATE_TOLERANCE, variable=var,
            ), evidence=str(evidence)))  # fmt: skip
            summary += fit.summary_rows({
                "figure": "rate-slopes", "panel": f"over {var} ({scaling} scaling)",
                "series": f"{activation}, {fixed} = {value}", "reference": order.exponents[var]},
                local=True)  # fmt: skip
            # The fitted power law on the log-log figure of E|f| (its points come from evaluate).
            summary += fit.summary_rows({"figure": f"mean-abs-{var}", "panel": f"{scaling} scaling",
                                         "series": f"{activation}, {fixed} = {value}"},
                                        verdict=rows[-1], points=False)  # fmt: skip
        return rows, summary


def _grid_lines(data) -> dict[tuple, dict]:
    """The grid's lines with at least two points: {(var, scaling, activation, fixed, value):
    {config: data}}, var the varying parameter (d or m), fixed the other one."""
    lines: dict[tuple, dict] = {}
    for cfg, df in data.items():
        lines.setdefault(("d", cfg.scaling, cfg.activation, "m", cfg.m), {})[cfg] = df
        lines.setdefault(("m", cfg.scaling, cfg.activation, "d", cfg.d), {})[cfg] = df
    return {k: v for k, v in lines.items() if len(v) >= 2}


SIMULATION = InitOutput()

if __name__ == "__main__":
    main(SIMULATION)
