"""init-gradient: the input gradient of a random network (docs/theory.md F2; Bubeck et al. 2021).

For each replicate: draw a network at initialisation and x uniform on the sphere, and record
||grad f(x)||^2. In the ``wang`` scaling it is checked against its exact law (N/m) chi2_d,
N ~ Bin(m, 1/2) (relu, no biases), and its mean against E||grad f||^2 = d/2; ``bubeck`` quantities
are mapped onto ``wang`` ones by grad f_wang = sqrt(d) grad f_bubeck, so d ||grad f_bubeck||^2
must have the same law. Smooth activations are checked against their own expectation
E[sigma'(g)^2 g^2] + (d - 1) E[sigma'(g)^2], and relu with biases against d/2.

Bubeck et al. (2021)'s ||grad f(x)|| in Omega(1) and O(1) (``bubeck2021.gradient_norm``, read as
Theta(1)) is checked as rate claims in the ``bubeck`` scaling: E||grad f|| over d at each width and
over m at each dimension (relu, no biases), log-log slope 0 within :data:`RATE_TOLERANCE`.

Paths: relu without biases uses the exact d-free sampler (docs/theory.md Sec. 4.1) by default, so
the
full profile reaches d = 1e5 and m = 1e5; ``--path numba`` (or ``reference``) draws materialised
networks; smooth activations and biases always do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from theorycheck.bounds import get_bound
from theorycheck.forward import output_and_gradient
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
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
from theorycheck.stats import ks_test, mean_z_test
from theorycheck.verdicts import Evidence, implied_constant_verdict, law_verdict, rate_verdict

#: Largest drift of a Theta(1) exponent over a finite grid accepted as pre-asymptotic.
RATE_TOLERANCE = 0.1
#: Bootstrap replicates of the rate fits.
N_BOOT = 1000
#: Failure probability of the high-probability reading of Theta(1).
GAMMA = 0.1
#: Extra dimensions of the bubeck relu lines (exact sampler).
BUBECK_EXTRA_DIMS = {"quick": (30, 300, 3000), "full": (1_000_000,)}


@dataclass(frozen=True)
class GradientConfig:
    d: int
    m: int
    activation: str
    scaling: str
    biases: bool
    networks_per_block: int
    n_blocks: int
    path: str = "numba"


class InitGradient(StreamingPathMixin, InitPathSimulation):
    id = "init-gradient"
    title = "Input-gradient norm at initialisation (exact law F2; Bubeck et al. 2021)"
    claims = ("exact.f2_grad_norm_sq", "exact.grad_energy_relu", "exact.grad_energy_gelu",
              "exact.grad_energy_tanh", "bubeck2021.gradient_norm")  # fmt: skip
    limitations = (
        "The law of ||grad f||^2 is tested at one input per network (by rotation invariance every "
        "input has the same law at initialisation). Agreement at the grid points does not prove "
        "the law; a DISAGREES verdict at any grid point would refute the implementation or the "
        "derivation."
    )

    def _configs(self, profile):
        if profile == "quick":
            dims, widths, per_block, blocks = (10, 100, 1000), (10, 100, 1000), 200, 2
        else:
            # The exact sampler costs O(m) per network whatever d is (docs/theory.md Sec. 4.1).
            dims = widths = (10, 100, 1000, 10_000, 100_000)
            per_block, blocks = 500, 4
        for scaling in ("wang", "bubeck"):
            # Bubeck et al.'s Theta(1) is read through implied constants over d: >= 4 points at
            # the large end of each line (the exact sampler is cheap in d).
            line = sorted({*dims, *BUBECK_EXTRA_DIMS[profile]}) if scaling == "bubeck" else dims
            for d in line:
                for m in widths:
                    yield GradientConfig(d, m, "relu", scaling, False, per_block, blocks,
                                         default_path("relu"))  # fmt: skip
            for act in ("gelu", "tanh"):
                yield GradientConfig(100, 1000, act, scaling, False, per_block, blocks,
                                     default_path(act))  # fmt: skip
            yield GradientConfig(100, 1000, "relu", scaling, True, per_block, blocks,
                                 default_path("relu", biases=True))  # fmt: skip

    def measure(self, config: GradientConfig, rng) -> pd.DataFrame:
        spec = NetworkSpec(d=config.d, m=config.m, activation=config.activation,
                           scaling=config.scaling, biases=config.biases)  # fmt: skip
        if config.path in STREAMED:
            st = STREAMED[config.path](spec, config.networks_per_block, rng)
            return pd.DataFrame({"replicate": np.arange(st.f.size), "f": st.f,
                                 "grad_norm_sq": st.grad_norm**2})  # fmt: skip
        out = np.empty((config.networks_per_block, 2))
        for rep in range(config.networks_per_block):
            net = sample_network(spec, rng)
            fw = output_and_gradient(net, sample_inputs(spec, 1, rng), path=config.path)
            out[rep] = fw.f[0], fw.grad_norm[0] ** 2
        return pd.DataFrame({"replicate": np.arange(len(out)), "f": out[:, 0],
                             "grad_norm_sq": out[:, 1]})  # fmt: skip

    def evaluate(self, data) -> Evaluation:
        f2 = get_bound("exact.f2_grad_norm_sq")
        verdicts, summary = [], []
        for cfg, df in data.items():
            # In wang units: ||grad f_wang||^2 = d ||grad f_bubeck||^2 (docs/theory.md Sec. 1).
            g2 = df["grad_norm_sq"].to_numpy() * (cfg.d if cfg.scaling == "bubeck" else 1.0)
            params = {"d": cfg.d, "m": cfg.m, "activation": cfg.activation,
                      "scaling": cfg.scaling, "biases": cfg.biases, "path": cfg.path}  # fmt: skip
            law = {"m": cfg.m, "d": cfg.d}
            if cfg.activation == "relu" and not cfg.biases:
                # The mean and variance of the z-row come from the catalog's law (E = d/2).
                mean = float(f2.mean(**law))
                verdicts.append(law_verdict(
                    f2.id, self.id, params, "||grad f||^2 ~ (N/m) chi2_d (wang units)", "KS",
                    ks_test(g2, lambda t, law=law: f2.cdf(t, **law)), g2, reference_mean=mean,
                ))  # fmt: skip
                verdicts.append(law_verdict(
                    f2.id, self.id, params, "E||grad f||^2 = d/2 (wang units)",
                    "z (exact variance)", mean_z_test(g2, mean, f2.var(**law)), g2,
                    reference_mean=mean,
                ))  # fmt: skip
                reference = mean
            else:
                energy = get_bound(f"exact.grad_energy_{cfg.activation}")
                # With biases b ~ N(0,1) relu keeps F2's mean E||grad f||^2 = d/2, only the mean
                # (docs/derivations/exact_laws_at_init.md, "With hidden biases").
                reference = float(f2.mean(**law)) if cfg.biases else float(energy(d=cfg.d))
                verdicts.append(law_verdict(
                    energy.id, self.id, params, "E||grad f||^2 (wang units)", "z (sample variance)",
                    mean_z_test(g2, reference), g2, reference_mean=reference,
                ))  # fmt: skip
            label = cfg.activation + (" + biases" if cfg.biases else "")
            series = f"m = {cfg.m}" if label == "relu" else label
            summary.append(law_summary(g2 / cfg.d, {
                "figure": "energy", "panel": cfg.scaling, "series": series, "x": cfg.d,
                "reference": reference / cfg.d,
            }))  # fmt: skip
        figures = [FigureSpec(
            "energy", "Gradient energy E||grad f||^2 / d at initialisation (wang units)",
            "input dimension d", "E||grad f||^2 / d", logx=True,
            caption="Markers: mean with 95% CI; dashed: exact value (1/2 for relu; "
                    "E sigma'(g)^2 + O(1/d) for smooth sigma).",
        )]  # fmt: skip
        rate_rows, rate_summary = self._rate_rows(data)
        figures += [
            FigureSpec("bubeck-norm", "E||grad f(x)|| in bubeck scaling (Bubeck et al. 2021: "
                       "Omega(1) and O(1))", "input dimension d", "E||grad f||", logx=True,
                       logy=True, caption="Mean with stratified-bootstrap 95% CI, one series per "
                       "width; relu, no biases."),
            FigureSpec("bubeck-slopes", "Local log-log slopes of E||grad f|| (bubeck scaling; "
                       "Theta(1): slope 0)", "grid midpoint (d or m)", "local slope", logx=True,
                       caption="Stratified-bootstrap 95% CIs; dashed: 0.",
                       reference_label="claimed exponent"),
        ]  # fmt: skip
        summary += rate_summary
        return Evaluation(verdicts + rate_rows, pd.DataFrame(summary), figures)

    def _rate_rows(self, data) -> tuple[list, list]:
        """||grad f|| in Theta(1) (bubeck scaling, relu, no biases): over d at each m, over m at
        each d (grids with at least two points). The claim is decided through its implied
        constants over the large end of each line (the 1 - gamma quantile of ||grad f|| must stay
        bounded, the gamma quantile away from 0); the fitted slopes are descriptions."""
        claim = get_bound("bubeck2021.gradient_norm")
        by: dict[tuple, dict] = {}
        for cfg, df in data.items():
            if cfg.scaling != "bubeck" or cfg.activation != "relu" or cfg.biases:
                continue
            norm = np.sqrt(df["grad_norm_sq"].to_numpy())
            by.setdefault(("d", "m", cfg.m), {})[cfg.d] = norm
            by.setdefault(("m", "d", cfg.d), {})[cfg.m] = norm
        rows, summary = [], []
        for (var, fixed, value), samples in sorted(by.items()):
            if len(samples) < 2:
                continue
            grid = sorted(samples)
            rng = generator(0, "bootstrap", self.id, var, value)
            fit = fit_rate(grid, [samples[v] for v in grid], rng, n_boot=N_BOOT)
            row = rate_verdict(
                claim.id, self.id, {fixed: value, "activation": "relu", "scaling": "bubeck"},
                f"E||grad f(x)|| over {var} (bubeck scaling)", fit, claim.exponents[var],
                claim.order, RATE_TOLERANCE, variable=var,
            )  # fmt: skip
            rows.append(row)
            tail = grid[-max(4, math.ceil(len(grid) / 2)) :]
            x = np.asarray(tail, dtype=float)
            for side, q in (("upper", 1 - GAMMA), ("lower", GAMMA)):
                implied = implied_constant(x, [samples[v] for v in tail], np.ones(x.size), rng,
                                           n_boot=N_BOOT, statistic=q)  # fmt: skip
                rows.append(implied_constant_verdict(
                    claim.id, self.id, {fixed: value, "activation": "relu", "scaling": "bubeck",
                                        "gamma": GAMMA},
                    f"||grad f(x)|| (bubeck scaling), {q:g} quantile over {var}", implied,
                    side=side, variable=var, evidence=Evidence.EXACT,
                ))  # fmt: skip
            if var == "d":
                summary += fit.summary_rows({"figure": "bubeck-norm", "panel": "main",
                                             "series": f"m = {value}"}, verdict=row)  # fmt: skip
            summary += fit.summary_rows({
                "figure": "bubeck-slopes", "panel": f"over {var}", "series": f"{fixed} = {value}",
                "reference": claim.exponents[var]}, local=True)  # fmt: skip
        return rows, summary


SIMULATION = InitGradient()

if __name__ == "__main__":
    main(SIMULATION)
