"""Pieces shared by the quadratic-target simulations (quadratic-rf, -nt, -nn, -lazy, -tradeoff).

Each replicate block draws one target and one nested first layer (the first m rows of an
(m_max, d) draw), so along the psi grid the spans grow and eps can only decrease. Per block and
psi the simulations store the exact solver's eps and S, Monte Carlo estimates on fresh inputs
(mean, per-sample variance and count, so that blocks can be pooled), and end-to-end fits.

Configs with ``inputs='sphere'`` draw every input (training and evaluation) uniformly on the
sphere of radius sqrt(d). Their reference is the exact sphere solver where one exists (positively
homogeneous sigma: relu, t^2; :mod:`theorycheck.quadratic.sphere`), otherwise the Gaussian solver,
and the sphere-minus-Gaussian difference is reported with its interval (:func:`sphere_note`).

Asymptotic formulas (d, m -> infinity at fixed psi) are never held to a tolerance at one d: the
exact solver runs on solver-only lines at further d (``FitLines.solver_only``, widths chosen by
:func:`convergence_psis`), and :func:`formula_convergence` decides CONVERGES / DOES NOT CONVERGE /
INCONCLUSIVE from the gap at >= 3 values of d (docs/theory.md, "Verdicts": asymptotic reference
formulas). A formula that is exact at every finite d (the gap is round-off everywhere) is a
deterministic comparison instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.quadratic import monte_carlo_metrics, online_sgd_linear
from theorycheck.quadratic.sphere import HOMOGENEOUS_DEGREE
from theorycheck.quadratic.targets import INPUT_LAWS
from theorycheck.simulation import FigureSpec
from theorycheck.stats import mean_ci
from theorycheck.verdicts import (
    Evidence,
    comparison_verdict,
    convergence_verdict,
    description,
    law_verdict,
    monotone_verdict,
    statement_verdict,
)

__all__ = [
    "INPUTS",
    "PSI_GRID",
    "SPHERE_FIGURE",
    "FitLines",
    "block_se",
    "convergence_psis",
    "e2e_verdict",
    "formula_convergence",
    "formula_rows",
    "has_sphere_solver",
    "identity_statement",
    "interval",
    "mc_columns",
    "monotone_along_psi",
    "poincare_statement",
    "pooled_mc",
    "pooled_z_verdict",
    "solver_summary",
    "sphere_gauss_rows",
    "sphere_note",
    "tradeoff_statement",
    "values_by_d",
    "width",
]

#: The width ratios psi = m / d of the issue.
PSI_GRID = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0)

#: Input laws of a config's ``inputs`` field.
INPUTS = INPUT_LAWS

#: The figure of :func:`sphere_gauss_rows` (sphere lines without an exact sphere solver).
SPHERE_FIGURE = FigureSpec(
    "sphere",
    "Sphere inputs without an exact sphere solver: least squares eps(sphere) - eps(Gaussian)",
    "psi = m/d",
    "eps difference",
    logx=True,
    caption="Per block, least squares on inputs uniform on the sphere of radius sqrt(d) minus "
    "least squares on Gaussian inputs (same draws, same n), then Monte Carlo on fresh inputs of "
    "each law: mean with a 95% t interval over blocks. A description, not a verdict: no exact "
    "solver exists for sphere inputs with this activation.",
)


@dataclass(frozen=True, kw_only=True)
class FitLines:
    """Config fields shared by the RF and NT simulations: which kind of grid line a config is.

    inputs : 'gaussian' or 'sphere' (x uniform on the sphere of radius sqrt(d)).
    sgd_steps : > 0 also trains by online SGD (batch ``sgd_batch``, step ``sgd_lr``).
    solver_only : a line of the convergence grid in d: the exact solver only (no Monte Carlo,
        no training), for the convergence verdicts of the asymptotic formulas.
    """

    inputs: str = "gaussian"
    sgd_steps: int = 0
    sgd_batch: int = 32
    sgd_lr: float = 1.0
    solver_only: bool = False

    @property
    def main_grid(self) -> bool:
        """The Gaussian psi grid at the simulation's d, with Monte Carlo and training (not a
        sphere, online-SGD or solver-only line)."""
        return self.inputs == "gaussian" and self.sgd_steps == 0 and not self.solver_only

    @property
    def formula_line(self) -> bool:
        """A Gaussian line whose exact solver values enter the formulas' convergence verdicts."""
        return self.inputs == "gaussian" and self.sgd_steps == 0

    def sgd_columns(self, feats, make_model, target, mc_samples: int, rng) -> dict:
        """Online SGD on fresh inputs of this line's law (the population risk), then Monte Carlo
        eps and S of ``make_model(theta, c)`` (columns sgd_*)."""
        theta, c = online_sgd_linear(
            feats, target, rng, steps=self.sgd_steps, batch=self.sgd_batch, lr=self.sgd_lr,
            law=self.inputs,
        )  # fmt: skip
        return mc_columns("sgd", make_model(theta, c), target, mc_samples, rng, self.inputs)


def formula_lines(data: dict) -> dict[str, list]:
    """The (config, frame) pairs of the Gaussian lines whose exact solver values enter the
    formulas' convergence verdicts, per activation (RF and NT alike)."""
    lines: dict[str, list] = {}
    for cfg, df in data.items():
        if cfg.formula_line:
            lines.setdefault(cfg.activation, []).append((cfg, df))
    return lines


def has_sphere_solver(activation: str) -> bool:
    """True when the exact solvers support inputs on the sphere (positively homogeneous sigma)."""
    return activation in HOMOGENEOUS_DEGREE


def width(psi: float, d: int) -> int:
    """m = round(psi d), at least 1."""
    return max(1, round(psi * d))


def mc_columns(prefix: str, model, target, n: int, rng, law: str = "gaussian") -> dict:
    """Monte Carlo eps and S of ``model`` on n fresh inputs from ``law``: means, per-sample
    variances, n."""
    mc = monte_carlo_metrics(model, target, n, rng, law=law)
    return {
        f"{prefix}_eps": float(mc.errors.mean()),
        f"{prefix}_eps_var": float(mc.errors.var(ddof=1)),
        f"{prefix}_S": float(mc.energies.mean()),
        f"{prefix}_S_var": float(mc.energies.var(ddof=1)),
        f"{prefix}_n": n,
    }


def pooled_mc(sub: pd.DataFrame, prefix: str, quantity: str) -> tuple[float, float, float]:
    """Pooled Monte Carlo mean over blocks and its standard error (equal n per block)."""
    mean = float(sub[f"{prefix}_{quantity}"].mean())
    var = float(np.sum(sub[f"{prefix}_{quantity}_var"] / sub[f"{prefix}_n"])) / len(sub) ** 2
    return mean, math.sqrt(var), float(sub[f"{prefix}_n"].sum())


def e2e_verdict(
    claim: str,
    sim_id: str,
    params: dict,
    sub: pd.DataFrame,
    note: str,
    *,
    prefix: str = "e2e",
    reference: str = "eps",
    statistic: str = "eps: end-to-end least squares (a fit in the span) vs exact solver (minimum)",
):
    """An end-to-end fit (pooled Monte Carlo eps of the columns ``prefix``_*) against the exact
    solver's eps (column ``reference``), which is the minimum of eps over the model's span.

    The trained model lies in that span, so its eps is >= the solver's for every draw: the fit
    is a search, its eps an upper estimate of the minimum (evidence ``search``). It can refute
    the solver (a fit significantly BELOW the minimum: one-sided z-test of the pooled Monte Carlo
    mean, conditional on the trained models, in the Holm family: law kind, AGREES / DISAGREES
    with its power), never confirm that the solver's value is attained; its excess over the
    minimum (~ eps p / n for least squares) is reported in the note, as a description.
    """
    mean, se, n = pooled_mc(sub, prefix, "eps")
    exact = float(sub[reference].mean())
    z = (mean - exact) / se if se > 0 else (0.0 if mean >= exact else -math.inf)
    p = float(stats.norm.cdf(z))  # small when the fit beats the minimum
    excess = mean - exact
    rel = f" ({excess / exact:+.1%} of the minimum)" if exact > 0 else ""
    text = (
        f"excess over the minimum {excess:+.3g} [{excess - 1.96 * se:+.3g}, "
        f"{excess + 1.96 * se:+.3g}]{rel}; a fit in the span cannot be below the minimum"
    )
    row = law_verdict(
        claim, sim_id, params, statistic, "z one-sided (pooled blocks)", p,
        sub[f"{prefix}_eps"].to_numpy(), reference_mean=exact, evidence=Evidence.SEARCH,
        note="; ".join(filter(None, (text, note))),
    )  # fmt: skip
    return replace(row, n=int(n), estimate=mean, ci_low=mean - 1.96 * se,
                   ci_high=mean + 1.96 * se, se=se)  # fmt: skip


def input_e2e_verdict(
    claim: str,
    sim_id: str,
    params: dict,
    sub: pd.DataFrame,
    activation: str,
    inputs: str,
    note: str,
):
    """End-to-end least squares against the exact solver of its input law (:func:`e2e_verdict`);
    on the sphere the note adds the exact sphere-minus-Gaussian difference (same draws). None
    when the inputs are on the sphere and no sphere solver exists: a Gaussian solver is no
    reference for sphere inputs, so those fits are descriptions only
    (:func:`sphere_gauss_rows`)."""
    if inputs == "gaussian":
        return e2e_verdict(claim, sim_id, params, sub, note)
    if not has_sphere_solver(activation):
        return None
    note += "; exact sphere - Gaussian solver (same draws): " + "; ".join(
        sphere_note(sub, q, f"gauss_{q}", f"d{q}") for q in ("eps", "S")
    )
    statistic = (
        "eps: end-to-end least squares (sphere inputs, a fit in the span) vs exact sphere "
        "solver (minimum)"
    )
    return e2e_verdict(claim, sim_id, params, sub, note, statistic=statistic)


def sphere_gauss_rows(sub: pd.DataFrame, panel: str, x, tag: str = "", *, fits: bool = True):
    """Summary rows (no verdict) for a sphere line without an exact sphere solver: with ``fits``
    the end-to-end least squares on Gaussian inputs (same draws and n; figures eps and S, pooled
    95% interval) beside the sphere fit's own series, and always the per-block sphere - Gaussian
    difference of eps with its 95% t interval over blocks (figure ``sphere``)."""
    rows = []
    if fits:
        for q in ("eps", "S"):
            series = f"{tag}least squares, Gaussian inputs (same n)"
            rows.append(pooled_row(sub, "e2e_gauss", q, panel, series, x))
    est, lo, hi = interval((sub["e2e_eps"] - sub["e2e_gauss_eps"]).to_numpy(float))
    rows.append({"figure": "sphere", "panel": panel, "series": f"{tag}eps sphere - Gaussian",
                 "x": x, "estimate": est, "ci_low": lo, "ci_high": hi})  # fmt: skip
    return rows


def sgd_verdict(claim: str, sim_id: str, params: dict, sub: pd.DataFrame, cfg, n_params: int):
    """Online SGD (columns sgd_*) against the exact solver's eps: a fit in the span, so an upper
    estimate of the minimum (:func:`e2e_verdict`)."""
    samples = cfg.sgd_steps * cfg.sgd_batch
    note = (
        f"{cfg.sgd_steps} steps x {cfg.sgd_batch} fresh samples ({samples / n_params:.0f} per "
        "parameter), Polyak-Ruppert average of the second half"
    )
    return e2e_verdict(
        claim, sim_id, params, sub, note, prefix="sgd",
        statistic="eps: online SGD on fresh samples (a fit in the span) vs exact solver (minimum)",
    )  # fmt: skip


def pooled_row(sub: pd.DataFrame, prefix: str, q: str, panel: str, series: str, x) -> dict:
    """A summary row: pooled Monte Carlo mean of ``prefix``_``q`` with its 95% interval."""
    mean, se, _ = pooled_mc(sub, prefix, q)
    return {"figure": q, "panel": panel, "series": series, "x": x, "estimate": mean,
            "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se}  # fmt: skip


def on_inputs(inputs: str) -> str:
    """' on the sphere' for sphere inputs (statistic labels), else ''."""
    return " on the sphere" if inputs == "sphere" else ""


def sphere_note(sub: pd.DataFrame, sphere_col: str, gauss_col: str, what: str) -> str:
    """'<what> = mean [95% t interval over blocks]' of the per-block differences sphere - Gaussian,
    also relative to the Gaussian mean (the sphere-vs-Gaussian finding at this d)."""
    diff = (sub[sphere_col] - sub[gauss_col]).to_numpy(float)
    est, lo, hi = interval(diff)
    base = float(sub[gauss_col].mean())
    rel = f" ({est / base:+.1%} of the Gaussian value)" if base else ""
    return f"{what} = {est:+.4f} [{lo:+.4f}, {hi:+.4f}]{rel} over {len(diff)} blocks"


def pooled_z_verdict(
    claim: str,
    sim_id: str,
    params: dict,
    statistic: str,
    sub: pd.DataFrame,
    prefix: str,
    quantity: str,
    exact_col: str,
    atol: float = 0.0,
):
    """z-test of the pooled Monte Carlo mean against the pooled exact values (docs/theory.md,
    "Verdicts": exact finite-size laws).

    Per block the exact value is a constant and the Monte Carlo mean has variance var/n; the
    difference of the block averages is approximately normal with the summed variance. A
    difference within ``atol`` counts as none: an exact fit has eps at round-off (~1e-32), where
    the Monte Carlo "noise" is round-off too and a z-statistic means nothing.
    """
    mean, se, n = pooled_mc(sub, prefix, quantity)
    exact = float(sub[exact_col].mean())
    if abs(mean - exact) <= atol:
        z = 0.0
    else:
        z = (mean - exact) / se if se > 0 else math.inf
    p = float(2 * stats.norm.sf(abs(z)))
    row = law_verdict(
        claim,
        sim_id,
        params,
        statistic,
        "z (pooled blocks)",
        p,
        sub[f"{prefix}_{quantity}"].to_numpy(),
        reference_mean=exact,
    )
    # Report the pooled interval (x-sampling error) rather than the spread of block means.
    return replace(
        row, n=int(n), estimate=mean, ci_low=mean - 1.96 * se, ci_high=mean + 1.96 * se, se=se
    )


def interval(values) -> tuple[float, float, float]:
    """Mean with a 95% t interval over replicate blocks (a point when there is one block)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 or np.all(x == x[0]):
        v = float(x.mean())
        return v, v, v
    ci = mean_ci(x)
    return ci.estimate, ci.low, ci.high


def solver_summary(values, base: dict) -> dict:
    """A summary row for the exact solver: mean over blocks with a 95% t interval."""
    est, lo, hi = interval(values)
    return {**base, "estimate": est, "ci_low": lo, "ci_high": hi}


def formula_rows(bound, d_series: str, psis, base: dict, **params) -> list[dict]:
    """Summary rows drawing an asymptotic formula as its own series (no interval)."""
    rows = []
    for psi in psis:
        v = float(bound(psi=psi, **params))
        rows.append(
            {**base, "series": d_series, "x": psi, "estimate": v, "ci_low": v, "ci_high": v}
        )
    return rows


#: Below this many neurons a width is not a point of a psi -> d -> infinity curve (m = 1..3 is
#: dominated by the single draw of W).
MIN_WIDTH = 4


def convergence_psis(d: int, psis, max_width: int | None = None, max_md: int | None = None):
    """The psi of ``psis`` solved on a convergence line at ``d``: at least ``MIN_WIDTH`` neurons
    and within the solver budget (m <= max_width, m d <= max_md)."""
    out = []
    for psi in psis:
        m = width(psi, d)
        if m < MIN_WIDTH or (max_width and m > max_width) or (max_md and m * d > max_md):
            continue
        out.append(psi)
    return tuple(out)


def values_by_d(lines, psi: float, column: str) -> dict:
    """d -> the values of ``column`` at ``psi`` over every block of the (config, frame) pairs in
    ``lines``, pooling the lines that share a d (the main line and a solver-only one)."""
    out: dict = {}
    for cfg, df in lines:
        at = df["psi"] == psi
        if at.any():
            vals = df.loc[at, column].to_numpy(float)
            out[cfg.d] = np.concatenate([out[cfg.d], vals]) if cfg.d in out else vals
    return out


def block_se(values) -> float:
    """Standard error of a mean over k independent blocks, scaled by t_{k-1} / z at 97.5% so
    that the engine's normal 95% intervals are Student t intervals (k is small). NaN for k < 2;
    0 when the blocks agree exactly."""
    x = np.asarray(values, dtype=float)
    k = x.size
    if k < 2:
        return math.nan
    sd = float(x.std(ddof=1))
    return sd / math.sqrt(k) * float(stats.t.ppf(0.975, k - 1) / stats.norm.ppf(0.975))


def formula_convergence(
    claim: str,
    sim_id: str,
    params: dict,
    statistic: str,
    by_d: dict,
    reference: float,
    *,
    atol: float = 1e-9,
    note: str = "",
):
    """The exact finite-d solver against an asymptotic formula over the values of d in ``by_d``
    (d -> the solver's values, one per independent block; docs/theory.md, "Verdicts").

    Per d the estimate is the mean over blocks with :func:`block_se` (the spread over draws of
    W and the target): :func:`theorycheck.verdicts.convergence_verdict` reports the gap at each d
    and decides CONVERGES / DOES NOT CONVERGE / INCONCLUSIVE. When every value at every d equals
    the formula within ``atol`` (1 + |reference|) the formula is exact at finite d (e.g. an odd
    activation that cannot fit an even target): a deterministic comparison at round-off. With
    fewer than 3 values of d (only for formulas exact at finite d) it is that comparison too,
    which then disagrees.
    """
    ds = sorted(by_d)
    values = [np.asarray(by_d[d], dtype=float) for d in ds]
    worst = max(float(np.max(np.abs(v - reference))) for v in values)
    grid = ", ".join(f"{d:g}" for d in ds)
    if worst <= atol * (1 + abs(reference)) or len(ds) < 3:
        return comparison_verdict(
            claim, sim_id, {**params, "over": "d"}, statistic, reference + worst, reference,
            0.0, atol=atol * (1 + abs(reference)), n=sum(v.size for v in values),
            note="; ".join(filter(None, (f"at d = {grid}: largest gap {worst:.1e}", note))),
        )  # fmt: skip
    blocks = ", ".join(f"{v.size}" for v in values)
    return convergence_verdict(
        claim, sim_id, params, statistic, ds, [float(v.mean()) for v in values], reference,
        [block_se(v) for v in values], evidence=Evidence.SAMPLED,
        note="; ".join(filter(None, (
            f"exact solver per draw, mean over {blocks} blocks at d = {grid} (t-scaled se)",
            note,
        ))),
    )  # fmt: skip


def monotone_along_psi(
    claim: str,
    sim_id: str,
    params: dict,
    statistic: str,
    frame: pd.DataFrame,
    eps_col: str,
    S_col: str,
):
    """The claim "S does not decrease where eps decreases" along psi, on means over blocks with
    their standard errors (:func:`block_se`): a statistical monotonicity test in the Holm family
    (:func:`theorycheck.verdicts.monotone_verdict`, direction +1 in psi), over the psi where the
    mean eps decreases step by step beyond round-off (the eps-improving chain of the grid).

    The blocks' values at neighbouring psi come from the same draw (nested widths) and are
    positively correlated, so the independent-error step test is conservative.
    """
    g = frame.groupby("psi", sort=True)
    psi = np.asarray(sorted(g.groups), dtype=float)
    eps = g[eps_col].mean().to_numpy(float)
    S = g[S_col].mean().to_numpy(float)
    ses = np.array([block_se(v) for _, v in g[S_col]])
    keep = [0]
    for i in range(1, psi.size):  # a decrease within round-off (an exact fit's eps ~ 1e-30) is none
        if eps[i] < eps[keep[-1]] - 1e-9 * max(1.0, abs(eps[keep[-1]])):
            keep.append(i)
    note = f"{len(keep)} of {psi.size} psi on the eps-decreasing chain; S means over blocks"
    return monotone_verdict(
        claim, sim_id, params, statistic, psi[keep], S[keep], ses[keep], direction=+1,
        variable="psi", note=note,
    )  # fmt: skip


def tradeoff_statement(
    claim: str,
    sim_id: str,
    params: dict,
    statistic: str,
    frame: pd.DataFrame,
    eps_col: str,
    S_col: str,
    rtol: float = 1e-9,
):
    """The paper's claim along psi: wherever eps decreases, S does not decrease (per block).

    ``frame`` has columns block, psi and the two value columns. A decrease of S smaller than
    ``rtol`` S (solver round-off) is not counted. HOLDS if no block shows a violation.
    """
    bad, worst, pairs = [], 0.0, 0
    for block, sub in frame.groupby("block", sort=True):
        sub = sub.sort_values("psi")
        psi, eps, S = (sub[c].to_numpy(float) for c in ("psi", eps_col, S_col))
        for i in range(len(psi) - 1):
            if eps[i + 1] < eps[i]:
                pairs += 1
                drop = S[i] - S[i + 1]
                if drop > rtol * max(abs(S[i]), 1e-300):
                    bad.append(
                        f"block {block}: psi {psi[i]:g}->{psi[i + 1]:g} S "
                        f"{S[i]:.4g}->{S[i + 1]:.4g}"
                    )
                    worst = max(worst, drop / S[i])
    if pairs == 0:  # eps never improves along psi: the claim says nothing here
        row = statement_verdict(claim, sim_id, params, statistic, True, bound=0.0, n=0)
        return description(row, "no eps-improving step along psi: nothing to check")
    if bad:
        note = (
            f"{len(bad)} of {pairs} eps-improving steps lower S (largest relative drop "
            f"{worst:.2%}): " + "; ".join(bad[:4])
        )
    else:
        note = f"S never decreases over {pairs} eps-improving steps"
    return statement_verdict(
        claim, sim_id, params, statistic, not bad, estimate=worst, bound=0.0, n=pairs, note=note
    )


def poincare_statement(sim_id: str, params: dict, df: pd.DataFrame):
    """S(fhat) >= Var fhat = Var f* - eps(fhat) for every fit in ``df`` (exact solver values;
    columns S, variance, eps, target_variance). The second equality holds for projections."""
    ratio = df["S"] / df["variance"]
    lower = df["target_variance"] - df["eps"]
    holds = bool(np.all(df["S"] >= df["variance"] * (1 - 1e-9)))
    holds &= bool(np.allclose(lower, df["variance"], rtol=1e-7, atol=1e-9))
    return statement_verdict(
        "dohmatob2022.tradeoff_poincare",
        sim_id,
        params,
        "S(fhat) >= Var f* - eps(fhat) for every fit (exact solver)",
        holds,
        estimate=float(ratio.min()),
        bound=1.0,
        n=len(df),
        note=f"smallest S / Var fhat = {ratio.min():.3f} over {len(df)} fits",
    )


def identity_statement(sim_id: str, params: dict, df: pd.DataFrame, eps: str = "eps", S: str = "S"):
    """sigma = t^2: S + 2 eps = S(f*) + F1^2 exactly for every projection in ``df``."""
    gap = (df[S] + 2 * df[eps] - df["target_S"] - df["F1sq"]).abs() / df["target_S"]
    return statement_verdict(
        "dohmatob2022.tradeoff_identity_t2",
        sim_id,
        params,
        "S + 2 eps = S(f*) + F1^2 (exact solver, every fit)",
        bool(gap.max() < 1e-9),
        estimate=float(gap.max()),
        bound=1e-9,
        n=len(df),
        note=f"largest relative gap {gap.max():.1e} over {len(df)} fits",
    )
