"""init-single-step: one gradient step flips the sign of a random network (Bubeck et al. 2021,
main theorem; F3, F4 of docs/derivations/single_step_laws.md; Wang et al. 2022, Theorem 3.1 at
W = W0).

Normalisation of the step (stated once, used everywhere here): delta = eta grad f(x) with
sign(eta) = -sign f(x), eta in Bubeck et al.'s ``bubeck`` units (w ~ N(0, I_d/d),
||x|| = sqrt(d)). The theorem prescribes |eta| = C3 sqrt(log(1/gamma)) ||grad f(x)||^-2, i.e.
eta ||grad f||^2 = C3 sqrt(log(1/gamma)). A network drawn in the ``wang`` scaling is the same
model at input scale 1/sqrt(d) (:func:`_bubeck_factors`, the one place where units convert):
the same bubeck-unit eta is applied there as eta / d (grad f_wang = sqrt(d) grad f_bubeck,
delta_wang = delta_bubeck / sqrt(d)), and distances as ||delta|| / sqrt(d); so flip rates have
one law in both scalings.

Per replicate (one network, one input): the exact first flip t* along the ray and its linear
prediction s_lin = |f| / ||grad f|| (:func:`theorycheck.attack.first_sign_flip`), and whether the
sign flips at the END POINT of a step -- sign f(x + delta) != sign f(x) evaluated by
:func:`theorycheck.forward.output_and_gradient` at x + delta, not inferred from t* (relu f along
the ray can cross zero and come back) -- for multipliers eta in :data:`ETAS` and for fixed
||delta|| = s in :data:`S_VALUES`.

Checks:

* F3 (relu): (s_lin/||x||)^2 ~ Beta(1/2, (d-1)/2) (KS), and the linear prediction's flip rate
  at ||delta|| = s is I_{s^2/d}(1/2, (d-1)/2) (exact binomial tests, Bonferroni over s).
* Bubeck et al.'s theorem and Wang et al.'s Theorem 3.1 leave their constants free (C3, C4;
  C2, which may depend on C0), so no verdict is decided at a chosen value. Per grid point the
  IMPLIED constant is reported: the smallest C3 for which the step |eta| = C3 sqrt(log(1/gamma))
  ||grad f||^-2 reaches the first flip w.p. >= 1 - gamma, i.e. the 1 - gamma quantile of
  eta* ||grad f||^2 / sqrt(log(1/gamma)) with eta* = t*/||grad f|| (bubeck units); C4, the
  1 - gamma quantile of t* / sqrt(log(1/gamma)); and in wang units C2 = the 1 - gamma quantile
  of t* ||grad f||, with the rate readings t* sqrt(d) (perturbation O(d^-1/2)) and eta* d (step
  O(1/d)). Each is tested for boundedness over the large end of every grid line (over d at fixed
  m, over m at fixed d; >= 4 points), by :func:`theorycheck.verdicts.implied_constant_verdict`.
  Reaching the first flip is necessary for an end point to flip, so the implied C3 is a lower
  estimate of the constant an end-point reading needs; the end-point flip rates are shown beside.
* A ray that never flips (t* = +inf) defeats every constant: "P(t* = inf) <= gamma" is a
  high-probability bound with no free constant (exact binomial test), at sample sizes chosen for
  power on the exact path (:func:`theorycheck.power.replicates_for_power`).
* Reported, not asserted: the fitted log-log slopes (``rate_verdict``, descriptive); the median of
  t*/s_lin against F4's Monte Carlo table and its decay (ratio - 1 ~ 0.2/sqrt(d)); the
  flip rate at multiplier eta against the d -> infinity limit 2 Phi(eta e / sqrt(v)) - 1 with
  v = E sigma(g)^2, e = E sigma'(g)^2 (2 Phi(eta/sqrt 2) - 1 for relu: f -> N(0, v),
  ||grad f||^2 -> e); Bubeck et al.'s experiment (networks x inputs, a grid search over
  |eta| <= 20 for the smallest eta that flips; "needed eta ~ 1 almost always").

Paths: relu configs use the exact d-free sampler (docs/derivations/exact_sampler.md) by default:
t*, s_lin and f at every end point above come from O(m) scalars per network whatever d is, which
is what lets the full profile reach d = 1e5 and m = 1e5, where Bubeck et al.'s condition
d << k << exp(d^c) holds. ``--path numba`` (or ``reference``) draws materialised networks; gelu
and Bubeck et al.'s eta-search experiment (several inputs per network) always do.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.activations import get_activation
from theorycheck.attack import first_sign_flip
from theorycheck.bounds import get_bound
from theorycheck.bounds.exact_laws import F4_MEDIAN_TSTAR_OVER_SLIN
from theorycheck.exact import sample_init_statistics
from theorycheck.forward import output_and_gradient
from theorycheck.network import NetworkSpec, input_radius, sample_inputs, sample_network
from theorycheck.power import replicates_for_power
from theorycheck.rates import fit_rate, implied_constant
from theorycheck.seeding import generator
from theorycheck.simulation import Evaluation, FigureSpec
from theorycheck.simulations._common import InitPathSimulation, default_path, main
from theorycheck.stats import (
    Interval,
    binomial_total_test,
    clopper_pearson,
    ks_test,
    quantile_ci,
)
from theorycheck.verdicts import (
    Evidence,
    Quantifier,
    bound_verdict,
    implied_constant_verdict,
    law_verdict,
    rate_verdict,
)

#: Step multipliers eta (bubeck units) at which the end-point flip is evaluated.
ETAS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
#: Perturbation sizes ||delta|| (bubeck units) at which the end-point flip is evaluated.
S_VALUES = (0.25, 0.5, 1.0, 2.0)
#: Values c of eta ||grad f||^2 (= C3 sqrt(log(1/gamma)); the same number in both scalings) at
#: which the end point of the prescribed step is evaluated: the end-point reading of the implied
#: constant beside the first-flip one.
C_VALUES = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
#: gamma of the theorems' "with probability >= 1 - gamma": implied constants are 1 - gamma
#: quantiles, and the never-flips bound is checked at each.
THEOREM_GAMMAS = (0.1, 0.01)
#: The descriptive rate fits use the 1 - gamma quantile of t* and eta* at this gamma.
RATE_GAMMA = 0.1
#: Descriptive rate fits: the exponent excess shown as pre-asymptotic.
RATE_TOLERANCE = 0.1
#: Bootstrap replicates of the rate and implied-constant fits (the slope's standard error to
#: about 5%, enough for its one-sided 95% limit; the fits over 5440 replicates per point are
#: most of the evaluation's time).
N_BOOT = 200
#: Implied constants are tested over the last this-many points of a grid line (at least).
LARGE_END = 4
#: Exact-path configs up to this width get the replicates of :func:`_power_replicates`.
POWER_MAX_WIDTH = 10_000
#: t* = +inf (the ray never flips) enters quantile fits as this finite stand-in: a quantile that
#: reaches it means that no constant works at that point.
T_INF = 1e300
#: Bubeck et al.'s experiment: smallest grid eta in (0, 20] (bubeck units) that flips.
ETA_GRID = np.round(np.arange(1, 401) * 0.05, 10)
#: Grid points evaluated per batch in the eta search (inputs leave the search once flipped).
_ETA_BATCH = 20
#: Fractions reported from the eta search: P(eta* <= e).
SEARCH_REPORT = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True)
class SingleStepConfig:
    d: int
    m: int
    activation: str
    scaling: str
    networks_per_block: int
    n_blocks: int
    path: str = "numba"
    #: The prescribed steps eta ||grad f||^2 = c whose end points are measured: part of the
    #: config, so stored blocks measured without them are never reused for it.
    c_values: tuple[float, ...] = C_VALUES


@dataclass(frozen=True)
class EtaSearchConfig:
    """Bubeck et al.'s experiment: ``networks_per_block`` networks x ``inputs_per_network``."""

    d: int
    m: int
    activation: str
    networks_per_block: int
    inputs_per_network: int
    n_blocks: int
    scaling: str = "bubeck"


def _units(spec: NetworkSpec) -> tuple[float, float]:
    """(eta factor, distance factor): a bubeck-unit eta and ||delta|| in the spec's scaling."""
    _, step, dist = _bubeck_factors(spec.scaling, spec.d)
    return 1.0 / step, 1.0 / dist


def _bubeck_factors(scaling: str, d: int) -> tuple[float, float, float]:
    """(gradient, step, distance) factors from ``scaling``'s units to bubeck units: the one place
    where the scalings are converted.

    The ``wang`` network is the ``bubeck`` one at input scale 1/sqrt(d): grad f_wang(x) =
    sqrt(d) grad f_bubeck(sqrt(d) x), so ||grad f||_bubeck = ||grad f||_wang / sqrt(d); a step
    delta = eta grad f of multiplier eta_wang is delta_bubeck = sqrt(d) delta_wang =
    (eta_wang d) grad f_bubeck, i.e. eta_bubeck = eta_wang d; a distance t_bubeck = t_wang sqrt(d).
    """
    if scaling == "bubeck":
        return 1.0, 1.0, 1.0
    return 1.0 / math.sqrt(d), float(d), math.sqrt(d)


def _flip_columns(c_values=C_VALUES) -> list[str]:
    """End-point flip columns: at bubeck-unit multipliers eta, at sizes ||delta|| = s, and at the
    prescribed steps eta ||grad f||^2 = c."""
    return ([f"flip_eta_{e:g}" for e in ETAS] + [f"flip_s_{s:g}" for s in S_VALUES]
            + [f"flip_c_{c:g}" for c in c_values])  # fmt: skip


@functools.cache
def _power_replicates() -> int:
    """Replicates at which the never-flips bound at the smallest gamma reads HOLDS w.p. >= 0.99
    at rate gamma/2 and VIOLATED w.p. >= 0.99 at rate 2 gamma, at the family's worst-case level
    (5440 at gamma = 0.01, level 5e-5)."""
    return replicates_for_power(min(THEOREM_GAMMAS))


def _flip_limit(activation: str, eta) -> np.ndarray:
    """d, m -> infinity flip rate of the linear prediction at multiplier eta (bubeck units):
    P(|f| <= eta ||grad f||^2) -> 2 Phi(eta e / sqrt(v)) - 1, v = E sigma^2, e = E sigma'^2."""
    act = get_activation(activation)
    e, v = act.derivative_second_moment, act.second_moment
    return 2.0 * stats.norm.cdf(np.asarray(eta, float) * e / math.sqrt(v)) - 1.0


def _s_limit(activation: str, s) -> np.ndarray:
    """d, m -> infinity: P(s_lin <= s) -> 2 Phi(s sqrt(e / v)) - 1 (bubeck units)."""
    act = get_activation(activation)
    e, v = act.derivative_second_moment, act.second_moment
    return 2.0 * stats.norm.cdf(np.asarray(s, float) * math.sqrt(e / v)) - 1.0


def _quantile_ci_inf(x, q: float) -> Interval:
    """:func:`theorycheck.stats.quantile_ci` for samples that may be +inf (t* = inf: the ray
    never flips): order statistics are still defined; infinite ones are reported as inf."""
    x = np.asarray(x, dtype=float)
    big = np.finfo(float).max
    ci = quantile_ci(np.where(np.isposinf(x), big, x), q)
    back = [math.inf if v >= big else v for v in (ci.estimate, ci.low, ci.high)]
    return Interval(back[0], back[1], back[2], ci.level)


def _linear_flip_probabilities(d: int) -> list[float]:
    """F3: the linear prediction flips at ||delta|| = s (bubeck units) with probability
    I_{s^2/d}(1/2, (d-1)/2), for s in S_VALUES."""
    f3 = get_bound("exact.f3_s_lin")
    return [float(p) for p in f3.linear_flip_probability(np.array(S_VALUES), d, math.sqrt(d))]


def _proportion(k: int, n: int, base: dict) -> dict:
    lo, hi = clopper_pearson(int(k), int(n), 0.95)
    return {**base, "estimate": k / n, "ci_low": lo, "ci_high": hi}


class InitSingleStep(InitPathSimulation):
    id = "init-single-step"
    title = "One gradient step flips a random network's sign (Bubeck et al. 2021; F3, F4)"
    claims = ("exact.f3_s_lin", "bubeck2021.theorem", "wang2022.theorem_3_1",
              "wang2022.theorem_3_1_step")  # fmt: skip
    limitations = (
        "One input per network except in the eta-search experiment, where inputs share "
        "networks (its intervals treat the pairs as independent). The theorems' constants (C3, "
        "C4; C2) are not given in the papers: their implied values are estimated from the first "
        "flip t* (a lower estimate of what an end-point reading needs) and tested for "
        "boundedness over the large end of each grid line, a statement about the grid, not "
        "beyond it; gelu's grid is short (materialised networks). Width and dimension are "
        "far below the regime where Wang et al.'s conditions can hold. The flip rate "
        "at multiplier eta is compared with its d -> infinity limit, which a finite d need not "
        "match; F4 is a Monte Carlo table, shown for comparison only."
    )

    def _configs(self, profile):
        # relu goes through the exact sampler (O(m) per network whatever d is): its d grids span
        # three decades and more, so implied constants have >= 4 points at the large end, and its
        # configs up to POWER_MAX_WIDTH have the replicates that give the never-flips bound power
        # at gamma = 0.01. gelu draws materialised networks (d m normals each): a shorter grid
        # at a smaller width, its rows stating their (low) power.
        n_power = _power_replicates()
        if profile == "quick":
            m, dims, blocks = 1000, (25, 100, 400, 1600, 6400, 25_600), 2
            gelu = {"bubeck": (25, 50, 100, 200, 400), "wang": (25, 100, 400)}
            gelu_m, gelu_per_block, small_per_block = 250, 150, 500
            widths = ()  # the quick profile follows d only
            f4_points = ((100, 20), (400, 400))
            search = (100, 1000, 5, 20, 2)
        else:
            m, dims, blocks = 10_000, (25, 100, 400, 1600, 10_000, 100_000), 4
            gelu = {"bubeck": (25, 100, 400, 1600), "wang": (25, 100, 400, 1600)}
            gelu_m, gelu_per_block, small_per_block = 2000, 500, 500
            widths = (1000, 3162, 31_623, 100_000)  # with m = 10_000: a line over m at d = 1e5
            f4_points = (*F4_MEDIAN_TSTAR_OVER_SLIN, (100_000, 1000))
            search = (100, 1000, 10, 100, 10)  # 100 networks x 100 inputs
        relu_path = default_path("relu")
        big = -(-n_power // blocks)  # the power's replicates, split over the blocks

        def per(width: int) -> int:
            return big if width <= POWER_MAX_WIDTH else small_per_block

        for scaling in ("bubeck", "wang"):
            for d in dims:
                yield SingleStepConfig(d, m, "relu", scaling, per(m), blocks, relu_path)
        for mm in widths:
            yield SingleStepConfig(dims[-1], mm, "relu", "bubeck", per(mm), blocks, relu_path)
        for scaling, grid in gelu.items():
            for d in grid:
                yield SingleStepConfig(d, gelu_m, "gelu", scaling, gelu_per_block, blocks,
                                       default_path("gelu"))  # fmt: skip
        for d, mm in f4_points:
            if not (d in dims and mm == m) and not (d == dims[-1] and mm in widths):
                yield SingleStepConfig(d, mm, "relu", "bubeck", per(mm), blocks, relu_path)
        for activation in ("relu", "gelu"):
            d, mm, nets, inputs, nb = search
            yield EtaSearchConfig(d, mm, activation, nets, inputs, nb)

    # -- measurement -------------------------------------------------------------------------
    def measure(self, config, rng) -> pd.DataFrame:
        if isinstance(config, EtaSearchConfig):
            return self._measure_search(config, rng)
        spec = NetworkSpec(d=config.d, m=config.m, activation=config.activation,
                           scaling=config.scaling)  # fmt: skip
        if config.path == "exact":
            return self._measure_exact(spec, config.networks_per_block, rng, config.c_values)
        eta_unit, dist_unit = _units(spec)
        rows = []
        for rep in range(config.networks_per_block):
            net = sample_network(spec, rng)
            x = sample_inputs(spec, 1, rng)
            ss = first_sign_flip(net, x, path=config.path)
            fw = output_and_gradient(net, x, path=config.path)
            f, gnorm = float(fw.f[0]), float(fw.grad_norm[0])
            row = {"replicate": rep, "f": f, "grad_norm": gnorm, "t_star": float(ss.t_star[0]),
                   "zero_output": bool(ss.zero_output[0])}  # fmt: skip
            if row["zero_output"]:
                rows.append(row)  # no attack direction: reported apart, no flips recorded
                continue
            direction = -math.copysign(1.0, f) * fw.grad[0]  # delta = eta grad f, sign -sign f
            steps = np.concatenate([
                np.array(ETAS) * eta_unit,
                np.array(S_VALUES) * dist_unit / gnorm,  # ||eta grad f|| = s
                np.array(config.c_values) / gnorm**2,  # eta ||grad f||^2 = c, every scaling
            ])  # fmt: skip
            f_end = output_and_gradient(net, x + steps[:, None] * direction[None, :],
                                        path=config.path).f  # fmt: skip
            flipped = np.sign(f_end) != np.sign(f)
            names = _flip_columns(config.c_values)
            row.update(dict(zip(names, flipped.tolist(), strict=True)))
            rows.append(row)
        return pd.DataFrame(rows)

    def _measure_exact(self, spec: NetworkSpec, n: int, rng, c_values) -> pd.DataFrame:
        """The same columns from the exact sampler: the end points are the steps t = alpha
        ||grad f||^power along the ray (spec units) of :func:`sample_init_statistics` (a
        bubeck-unit step eta is eta * eta_unit here and moves by eta * eta_unit * ||grad f||)."""
        eta_unit, dist_unit = _units(spec)
        steps = (
            [(e * eta_unit, 1.0) for e in ETAS]
            + [(s * dist_unit, 0.0) for s in S_VALUES]
            + [(c, -1.0) for c in c_values]
        )  # t = eta ||grad f|| = c / ||grad f||
        st = sample_init_statistics(spec, n, rng, steps=steps)
        frame = pd.DataFrame({"replicate": np.arange(n), "f": st.f, "grad_norm": st.grad_norm,
                              "t_star": st.t_star, "zero_output": st.zero_output})  # fmt: skip
        names = _flip_columns(c_values)
        flipped = np.sign(st.f_step) != np.sign(st.f)[:, None]
        for j, name in enumerate(names):
            frame[name] = flipped[:, j]
            if st.zero_output.any():  # no direction: missing, as in the materialised rows
                frame[name] = frame[name].astype(object)
                frame.loc[st.zero_output, name] = None
        return frame

    def _measure_search(self, config: EtaSearchConfig, rng) -> pd.DataFrame:
        """Bubeck et al.'s experiment: the smallest grid eta in (0, 20] whose end point flips."""
        spec = NetworkSpec(d=config.d, m=config.m, activation=config.activation,
                           scaling=config.scaling)  # fmt: skip
        frames = []
        for net_index in range(config.networks_per_block):
            net = sample_network(spec, rng)
            X = sample_inputs(spec, config.inputs_per_network, rng)
            fw = output_and_gradient(net, X)
            ss = first_sign_flip(net, X)
            sgn = np.sign(fw.f)
            direction = -sgn[:, None] * fw.grad
            eta_grid = np.full(len(X), np.inf)
            active = np.flatnonzero(sgn != 0)
            for start in range(0, ETA_GRID.size, _ETA_BATCH):
                if active.size == 0:
                    break
                etas = ETA_GRID[start : start + _ETA_BATCH]
                ends = X[active, None, :] + etas[None, :, None] * direction[active, None, :]
                f_end = output_and_gradient(net, ends.reshape(-1, spec.d)).f
                flipped = (np.sign(f_end).reshape(active.size, etas.size)
                           != sgn[active, None])  # fmt: skip
                hit = flipped.any(axis=1)
                eta_grid[active[hit]] = etas[np.argmax(flipped[hit], axis=1)]
                active = active[~hit]
            frames.append(pd.DataFrame({
                "network": net_index, "input": np.arange(len(X)), "f": fw.f,
                "grad_norm": fw.grad_norm, "t_star": ss.t_star, "eta_grid": eta_grid,
                "zero_output": ss.zero_output,
            }))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        steps = {c: df for c, df in data.items() if isinstance(c, SingleStepConfig)}
        for cfg, df in steps.items():
            v, s = self._evaluate_config(cfg, df)
            verdicts += v
            summary += s
        v, s = self._implied_rows(steps)
        verdicts += v
        summary += s
        v, s = self._rate_rows(steps)
        verdicts += v
        summary += s
        for cfg, df in data.items():
            if isinstance(cfg, EtaSearchConfig):
                summary += self._search_summary(cfg, df)
        figures = [
            FigureSpec("ratio", "Median t*/s_lin: exact first flip over its linear prediction",
                       "input dimension d", "median t*/s_lin", logx=True,
                       caption="Median with its order-statistic 95% CI; dashed: the Monte Carlo "
                               "table F4 of docs/derivations/single_step_laws.md at (d, m) where "
                               "it has an entry. Series: activation, width, scaling.",
                       reference_label="Monte Carlo table F4"),
            FigureSpec("ratio-excess", "Median t*/s_lin - 1 vs d: does the ratio tend to 1?",
                       "input dimension d", "median t*/s_lin - 1", logx=True, logy=True,
                       caption="Median with stratified-bootstrap 95% CI; dashed: F4's rough "
                               "description 0.2/sqrt(d) (relu).",
                       reference_label="F4's rough description"),
            FigureSpec("flip-eta", "End-point flip rate at step multiplier eta (bubeck units, "
                       "delta = eta grad f)", "eta", "P(sign f(x + delta) != sign f(x))",
                       caption="Clopper-Pearson 95% CIs; dashed: the d -> infinity limit "
                               "2 Phi(eta e/sqrt(v)) - 1 (relu: 2 Phi(eta/sqrt 2) - 1).",
                       reference_label="d -> infinity limit"),
            FigureSpec("flip-s", "End-point flip rate at ||delta|| = s along the gradient "
                       "(bubeck units)", "||delta|| = s", "P(sign flips)",
                       caption="Clopper-Pearson 95% CIs; dashed: the linear prediction's exact "
                               "flip rate I_{s^2/d}(1/2, (d-1)/2) (relu, F3) or its "
                               "d -> infinity limit (gelu).",
                       reference_label="linear prediction (exact for relu)"),
            FigureSpec("flip-c", "End-point flip rate at the prescribed step eta ||grad f||^2 = "
                       "c (= C3 sqrt(log(1/gamma)))", "c", "P(sign f(x + delta) != sign f(x))",
                       caption="Clopper-Pearson 95% CIs; dashed: P(t* ||grad f|| <= c), the "
                               "first-flip reading of the implied constants. An end point can "
                               "flip back after t*, so the end-point rate may fall short of it.",
                       reference_label="P(t* ||grad f|| <= c), first flip"),
            FigureSpec("perturbation", "1 - gamma quantile (gamma = 0.1) of the flipping "
                       "perturbation t* = ||eta* grad f|| vs d", "input dimension d",
                       "t* quantile", logx=True, logy=True,
                       caption="Stratified-bootstrap 95% CIs; the fitted power law is a "
                               "description. Bubeck et al.: O(1) in bubeck units; Wang et al. "
                               "Theorem 3.1: O(1/sqrt(d)) in wang units."),
            FigureSpec("implied-constant", "Implied constants of the theorems at each grid point "
                       "(1 - gamma quantiles)", "grid value (d or m)", "implied constant",
                       logx=True,
                       caption="Order-statistic 95% CIs. C3: eta* ||grad f||^2 / "
                               "sqrt(log(1/gamma)); C4: t* / sqrt(log(1/gamma)) (bubeck units); "
                               "C2: t* ||grad f||, and t* sqrt(d), eta* d (wang units). The "
                               "theorems need each bounded along the grid: the verdict tests "
                               "the trend over the large end."),
            FigureSpec("rate-slopes", "Local log-log slopes of the rate statistics",
                       "grid midpoint d", "local slope", logx=True,
                       caption="Slope between neighbouring grid points (stratified bootstrap "
                               "95% CI); dashed: the claimed exponent.",
                       reference_label="claimed exponent"),
            FigureSpec("eta-search", "Bubeck et al.'s experiment: fraction of (network, input) "
                       "pairs whose smallest flipping grid eta is <= eta", "eta (bubeck units)",
                       "fraction flipped by eta", logx=True,
                       caption="Grid search over eta in (0, 20] (step 0.05), flips evaluated at "
                               "the end point; Clopper-Pearson 95% CIs (pairs treated as "
                               "independent); dashed: the d -> infinity limit of the linear "
                               "prediction.",
                       reference_label="d -> infinity limit"),
            FigureSpec("implied-c3", "Implied constant C3 of the prescribed step: 1 - gamma "
                       "quantile of eta* ||grad f||^2 / sqrt(log(1/gamma))", "gamma",
                       "implied C3", logx=True,
                       caption="eta* from the grid search; order-statistic 95% CIs. The theorem "
                               "needs a C3 that works for every gamma: bounded as gamma -> 0."),
        ]  # fmt: skip
        drawn = {r["figure"] for r in summary}
        return Evaluation(verdicts, pd.DataFrame(summary), [f for f in figures if f.name in drawn])

    def _evaluate_config(self, cfg: SingleStepConfig, df: pd.DataFrame):
        verdicts, summary = [], []
        params = {
            "d": cfg.d,
            "m": cfg.m,
            "activation": cfg.activation,
            "scaling": cfg.scaling,
            "path": cfg.path,
        }
        evidence = _evidence(cfg)
        ok = df[~df["zero_output"].astype(bool)]
        xnorm = input_radius(NetworkSpec(d=cfg.d, m=cfg.m, scaling=cfg.scaling))
        s_lin = np.abs(ok["f"].to_numpy()) / ok["grad_norm"].to_numpy()
        t_star = ok["t_star"].to_numpy()
        to_bubeck = math.sqrt(cfg.d) / xnorm  # distances in bubeck units
        if cfg.activation == "relu":
            f3 = get_bound("exact.f3_s_lin")
            r = s_lin / xnorm
            verdicts.append(law_verdict(
                f3.id, self.id, params, "s_lin/||x|| ~ |u_1|: (s_lin/||x||)^2 ~ Beta(1/2, (d-1)/2)",
                "KS", ks_test(r, lambda t, d=cfg.d: f3.cdf(t, d=d)), r,
                reference_mean=float(f3.mean(d=cfg.d)), evidence=evidence,
                quantifier=Quantifier.RANDOM,
            ))  # fmt: skip
            probs = _linear_flip_probabilities(cfg.d)
            pvals = [binomial_total_test(int(np.sum(s_lin * to_bubeck <= s)), r.size, p)
                     for s, p in zip(S_VALUES, probs, strict=True)]  # fmt: skip
            verdicts.append(law_verdict(
                f3.id, self.id, {**params, "s": list(S_VALUES)},
                "linear prediction flips (s >= s_lin) at ||delta|| = s w.p. "
                "I_{s^2/d}(1/2, (d-1)/2) (bubeck units)", "exact binomial (Bonferroni over s)",
                min(1.0, len(S_VALUES) * min(pvals)), s_lin * to_bubeck <= S_VALUES[2],
                reference_mean=probs[2], evidence=evidence, quantifier=Quantifier.RANDOM,
            ))  # fmt: skip
        # The claim-free part of the theorems: if the ray never flips the sign (t* = +inf), no
        # step does, whatever the constant. Zero outputs (no attack direction) count as such.
        claim = "bubeck2021.theorem" if cfg.scaling == "bubeck" else "wang2022.theorem_3_1"
        never = np.isinf(df["t_star"].to_numpy()) | df["zero_output"].to_numpy(dtype=bool)
        extra = {} if cfg.scaling == "bubeck" else {"C0": 0.0}
        for gamma in THEOREM_GAMMAS:
            verdicts.append(bound_verdict(
                claim, self.id, {**params, **extra, "gamma": gamma},
                "the attack ray never flips the sign (no constant suffices; 1 = never)",
                never.astype(float), 0.5, gamma, quantifier=Quantifier.RANDOM, evidence=evidence,
                note=f"{int(never.sum())}/{never.size} rays never flip",
            ))  # fmt: skip
        # Figures.
        label = f"{cfg.activation}, m = {cfg.m}, {cfg.scaling}"
        finite = np.isfinite(t_star)
        ratio = t_star[finite] / s_lin[finite]
        q = quantile_ci(ratio, 0.5)
        ref = F4_MEDIAN_TSTAR_OVER_SLIN.get((cfg.d, cfg.m), math.nan)
        summary.append({"figure": "ratio", "panel": cfg.activation, "series": label,
                        "x": cfg.d, "estimate": q.estimate, "ci_low": q.low, "ci_high": q.high,
                        "reference": ref if cfg.activation == "relu" else math.nan})  # fmt: skip
        if cfg.scaling == "bubeck":
            n = len(ok)
            series = f"d = {cfg.d}, m = {cfg.m}"
            for e in ETAS:
                k = int(ok[f"flip_eta_{e:g}"].sum())
                summary.append(_proportion(k, n, {
                    "figure": "flip-eta", "panel": cfg.activation, "series": series, "x": e,
                    "reference": float(_flip_limit(cfg.activation, e))}))  # fmt: skip
            refs_s = (_linear_flip_probabilities(cfg.d) if cfg.activation == "relu"
                      else [float(_s_limit(cfg.activation, s)) for s in S_VALUES])  # fmt: skip
            for s, ref_s in zip(S_VALUES, refs_s, strict=True):
                k = int(ok[f"flip_s_{s:g}"].sum())
                summary.append(_proportion(k, n, {
                    "figure": "flip-s", "panel": cfg.activation, "series": series, "x": s,
                    "reference": float(ref_s)}))  # fmt: skip
        # The prescribed step eta ||grad f||^2 = c: the end point's flip rate beside the rate at
        # which the first flip is reached by then (t* ||grad f|| <= c), the reading the implied
        # constants use; an end point past t* may have flipped back.
        reach = t_star * ok["grad_norm"].to_numpy()
        for c in cfg.c_values:
            k = int(ok[f"flip_c_{c:g}"].astype(bool).sum())
            summary.append(_proportion(k, len(ok), {
                "figure": "flip-c", "panel": cfg.activation,
                "series": f"d = {cfg.d}, m = {cfg.m}, {cfg.scaling}", "x": c,
                "reference": float(np.mean(reach <= c))}))  # fmt: skip
        return verdicts, summary

    def _implied_rows(self, steps: dict):
        """The theorems' free constants (module docstring), per grid line: their value with a CI
        at every point (figure) and the trend verdict over the large end of the line."""
        verdicts, summary = [], []
        for (activation, scaling, var, fixed, value), line in _grid_lines(steps).items():
            cfgs = sorted(line, key=lambda c: getattr(c, var))
            xs = [getattr(c, var) for c in cfgs]
            evidence = (Evidence.EXACT if all(c.path == "exact" for c in cfgs)
                        else Evidence.SAMPLED)  # fmt: skip
            stats_by = [_attack_statistics(c, line[c]) for c in cfgs]
            for claim_id, name, what, gamma, rate in _constants(scaling, var):
                q = 1 - gamma
                samples = [st[name] / _per_gamma(name, gamma) for st in stats_by]
                rates = [c.d**rate if var == "d" else 1.0 for c in cfgs]
                scaled = [smp / r for smp, r in zip(samples, rates, strict=True)]
                label = f"{what}, gamma = {gamma:g}"
                for x, smp in zip(xs, scaled, strict=True):
                    ci = _quantile_ci_inf(smp, q)
                    summary.append({"figure": "implied-constant", "panel": f"{claim_id}: {label}",
                                    "series": f"{activation}, {scaling}, over {var} "
                                              f"({fixed} = {value})",
                                    "x": x, "estimate": ci.estimate, "ci_low": ci.low,
                                    "ci_high": ci.high})  # fmt: skip
                tail = max(LARGE_END, math.ceil(len(xs) / 2)) if len(xs) >= LARGE_END else len(xs)
                grid = xs[-tail:]
                ys = [np.minimum(smp, T_INF) for smp in scaled[-tail:]]
                params = {fixed: value, "activation": activation, "scaling": scaling,
                          "gamma": gamma, "grid": [float(v) for v in grid]}  # fmt: skip
                if claim_id.startswith("wang2022"):
                    params["C0"] = 0.0  # at initialisation: W = W0
                if any(np.quantile(y, q) >= T_INF for y in ys):
                    continue  # no constant at all at some point: the never-flips rows say so
                rng = generator(0, "implied", self.id, activation, scaling, var, value, name,
                                f"{gamma:g}")  # fmt: skip
                fit = implied_constant(grid, ys, np.ones(len(grid)), rng, n_boot=N_BOOT,
                                       statistic=q)  # fmt: skip
                verdicts.append(implied_constant_verdict(
                    claim_id, self.id, params, f"{label}: {1 - gamma:g} quantile", fit,
                    side="upper", variable=var, evidence=evidence, quantifier=Quantifier.RANDOM,
                ))  # fmt: skip
        return verdicts, summary

    def _rate_rows(self, steps: dict):
        """Descriptive rate fits over d on the main grid (the width with the most points): the
        fitted slope of the 1 - gamma quantile of t* and eta*, beside the claimed exponent."""
        verdicts, summary = [], []
        for (activation, scaling, var, _fixed, m), by_cfg in _grid_lines(steps, 2).items():
            if var != "d":
                continue
            cfgs = sorted(by_cfg, key=lambda c: c.d)
            dims = [c.d for c in cfgs]
            oks = [by_cfg[c][~by_cfg[c]["zero_output"].astype(bool)] for c in cfgs]
            t = [o["t_star"].to_numpy() for o in oks]
            finite = [np.isfinite(v) for v in t]
            lost = sum(int((~fi).sum()) for fi in finite)
            t = [v[fi] for v, fi in zip(t, finite, strict=True)]
            g = [o["grad_norm"].to_numpy()[fi] for o, fi in zip(oks, finite, strict=True)]
            params = {"m": m, "activation": activation, "scaling": scaling,
                      "gamma": RATE_GAMMA}  # fmt: skip
            rng = generator(0, "bootstrap", self.id, activation, scaling)
            claim = get_bound("bubeck2021.theorem" if scaling == "bubeck"
                              else "wang2022.theorem_3_1")  # fmt: skip
            exponent = 0.0 if scaling == "bubeck" else float(claim.exponents["d"])
            fit = fit_rate(dims, t, rng, n_boot=N_BOOT, statistic=1 - RATE_GAMMA)
            row = rate_verdict(claim.id, self.id, params, "1-gamma quantile of the flipping "
                               f"perturbation t* ({scaling} units)", fit, exponent, "O",
                               RATE_TOLERANCE, variable="d")  # fmt: skip
            if lost:
                row = replace(row, note=f"{lost} inputs never flipped (t* = inf), left out; "
                              + row.note)  # fmt: skip
            evidence = _evidence(cfgs[0]) if len({c.path for c in cfgs}) == 1 else "sampled"
            row = replace(row, evidence=evidence)
            verdicts.append(row)
            series = f"{activation}, {scaling} units"
            summary += fit.summary_rows({"figure": "perturbation", "panel": scaling,
                                         "series": series}, verdict=row)  # fmt: skip
            summary += fit.summary_rows({"figure": "rate-slopes", "panel": "t* quantile",
                                         "series": series, "reference": exponent},
                                        local=True)  # fmt: skip
            if scaling == "wang":
                step = get_bound("wang2022.theorem_3_1_step")
                k_step = float(step.exponents["d"])
                eta = [tv / gv for tv, gv in zip(t, g, strict=True)]
                fit = fit_rate(dims, eta, rng, n_boot=N_BOOT, statistic=1 - RATE_GAMMA)
                verdicts.append(replace(rate_verdict(
                    step.id, self.id, params, "1-gamma quantile of the step eta* = "
                    "t*/||grad f|| (wang units)", fit, k_step, step.order, RATE_TOLERANCE,
                    variable="d",
                ), evidence=evidence))  # fmt: skip
                summary += fit.summary_rows({"figure": "rate-slopes", "panel": "eta* (wang)",
                                             "series": series, "reference": k_step},
                                            local=True)  # fmt: skip
            if scaling == "bubeck":
                # t*/s_lin - 1: reported with F4's rough 0.2/sqrt(d), no verdict (F4 is a Monte
                # Carlo table, not a claim).
                excess = [tv / (np.abs(o["f"].to_numpy()[fi]) / gv) - 1.0
                          for tv, o, fi, gv in zip(t, oks, finite, g, strict=True)]  # fmt: skip
                if all(np.median(e) > 0 for e in excess):
                    fit = fit_rate(dims, excess, rng, n_boot=N_BOOT, statistic="median")
                    base = {"figure": "ratio-excess", "panel": "main",
                            "series": f"{activation}, m = {m}"}  # fmt: skip
                    for r in fit.summary_rows(base):
                        r["reference"] = (
                            0.2 / math.sqrt(r["x"]) if activation == "relu" else math.nan
                        )
                        summary.append(r)
        return verdicts, summary

    def _search_summary(self, cfg: EtaSearchConfig, df: pd.DataFrame) -> list[dict]:
        ok = df[~df["zero_output"].astype(bool)]
        eta = ok["eta_grid"].to_numpy()
        n = eta.size
        rows = []
        for e in SEARCH_REPORT:
            rows.append(_proportion(int(np.sum(eta <= e + 1e-12)), n, {
                "figure": "eta-search", "panel": "main", "series": f"{cfg.activation}, d = "
                f"{cfg.d}, m = {cfg.m}", "x": e,
                "reference": float(_flip_limit(cfg.activation, e))}))  # fmt: skip
        g2 = ok["grad_norm"].to_numpy() ** 2
        c3 = np.where(np.isfinite(eta), eta * g2, np.inf)  # eta* ||grad f||^2, per pair
        for gamma in (0.5, 0.2, 0.1, 0.05, 0.01):
            q = _quantile_ci_inf(c3, 1 - gamma)
            if not math.isfinite(q.high):
                continue  # too few pairs for an upper limit at this gamma (or no flip)
            scale = math.sqrt(math.log(1 / gamma))
            rows.append({"figure": "implied-c3", "panel": "main", "series": cfg.activation,
                         "x": gamma, "estimate": q.estimate / scale, "ci_low": q.low / scale,
                         "ci_high": q.high / scale})  # fmt: skip
        return rows


def _evidence(cfg) -> str:
    """``exact`` when the exact sampler computed the row's statistic per replicate, else
    ``sampled`` (materialised networks, Monte Carlo)."""
    return str(Evidence.EXACT if cfg.path == "exact" else Evidence.SAMPLED)


def _attack_statistics(cfg: SingleStepConfig, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per replicate, the statistics whose quantiles are the implied constants (+inf where the
    ray never flips or f = 0), whatever scaling the network was drawn in (one model, two input
    scales): in bubeck units c3 = eta* ||grad f||^2 and t*; in wang units c2 = eta* ||grad f||^2,
    t* and eta* = t*/||grad f||. Both scalings' data give every claim, through
    :func:`_bubeck_factors`."""
    zero = df["zero_output"].to_numpy(dtype=bool)
    t = np.where(zero, math.inf, df["t_star"].to_numpy(dtype=float))
    g = np.where(zero, 1.0, df["grad_norm"].to_numpy(dtype=float))
    eta = t / g  # the step that reaches the first flip, in the config's units
    to_b = _bubeck_factors(cfg.scaling, cfg.d)
    wang = _bubeck_factors("wang", cfg.d)
    g_b, eta_b, t_b = g * to_b[0], eta * to_b[1], t * to_b[2]
    g_w, eta_w, t_w = g_b / wang[0], eta_b / wang[1], t_b / wang[2]
    return {"c3": eta_b * g_b**2, "t_b": t_b, "c2": eta_w * g_w**2, "t_w": t_w, "eta_w": eta_w}


def _constants(scaling: str, var: str) -> list[tuple[str, str, str, float, float]]:
    """(claim, statistic, description, gamma, exponent in d) of the implied constants read from
    a grid line of ``scaling``: the rate is d^exponent (the implied constant is the statistic
    over it); over m every rate is m^0.

    Each line gives its own scaling's claims, and the bubeck lines also Wang et al.'s step
    O(1/d) through the conversion of units (a network drawn in one scaling is the other's at
    another input scale), so every claim is read in its own units from both samplers of the
    model and the conversion is checked by the verdicts themselves."""
    out = []
    for gamma in THEOREM_GAMMAS:
        step = ("wang2022.theorem_3_1_step", "eta_w", "eta* d (wang; step O(1/d))", gamma, -1.0)
        if scaling == "bubeck":
            out += [
                ("bubeck2021.theorem", "c3", "implied C3 = eta* ||grad f||^2 / sqrt(log(1/gamma))",
                 gamma, 0.0),
                ("bubeck2021.theorem", "t_b", "implied C4 = t* / sqrt(log(1/gamma)) (bubeck)",
                 gamma, 0.0),
                step,
            ]  # fmt: skip
        else:
            out += [
                ("wang2022.theorem_3_1", "c2", "implied C2 = eta* ||grad f||^2 (wang)", gamma,
                 0.0),
                ("wang2022.theorem_3_1", "t_w", "t* sqrt(d) (wang; perturbation O(d^-1/2))",
                 gamma, -0.5),
                step,
            ]  # fmt: skip
    if var == "m":
        out = [(c, n, w, g, 0.0) for c, n, w, g, _ in out]
    return out


def _per_gamma(name: str, gamma: float) -> float:
    """The sqrt(log(1/gamma)) of Bubeck et al.'s C3 and C4 (1 for Wang et al.'s readings)."""
    return math.sqrt(math.log(1.0 / gamma)) if name in ("c3", "t_b") else 1.0


def _grid_lines(steps: dict, min_points: int = 3) -> dict[tuple, dict]:
    """Grid lines with >= ``min_points`` points: {(activation, scaling, var, fixed, value):
    {config: data}}, over d at fixed m and over m at fixed d."""
    lines: dict[tuple, dict] = {}
    for cfg, df in steps.items():
        lines.setdefault((cfg.activation, cfg.scaling, "d", "m", cfg.m), {})[cfg] = df
        lines.setdefault((cfg.activation, cfg.scaling, "m", "d", cfg.d), {})[cfg] = df
    return {k: v for k, v in lines.items() if len(v) >= min_points}


SIMULATION = InitSingleStep()

if __name__ == "__main__":
    main(SIMULATION)
