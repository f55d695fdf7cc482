"""Pieces shared by the quadratic-target simulations (quadratic-rf, -nt, -nn, -lazy, -tradeoff).

Each replicate block draws one target and one nested first layer (the first m rows of an
(m_max, d) draw), so along the psi grid the spans grow and eps can only decrease. Per block and
psi the simulations store the exact solver's eps and S, Monte Carlo estimates on fresh inputs
(mean, per-sample variance and count, so that blocks can be pooled), and end-to-end fits.

Configs with ``inputs='sphere'`` draw every input (training and evaluation) uniformly on the
sphere of radius sqrt(d). Their reference is the exact sphere solver where one exists (positively
homogeneous sigma: relu, t^2; :mod:`theorycheck.quadratic.sphere`), otherwise the Gaussian solver,
and the sphere-minus-Gaussian difference is reported with its interval (:func:`sphere_note`).
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
from theorycheck.stats import mean_ci
from theorycheck.verdicts import comparison_verdict, law_verdict, statement_verdict

__all__ = [
    "INPUTS",
    "PSI_GRID",
    "FitLines",
    "e2e_verdict",
    "formula_rows",
    "formula_verdict",
    "has_sphere_solver",
    "identity_statement",
    "interval",
    "mc_columns",
    "poincare_statement",
    "pooled_mc",
    "pooled_z_verdict",
    "solver_summary",
    "sphere_note",
    "tradeoff_statement",
    "width",
]

#: The width ratios psi = m / d of the issue.
PSI_GRID = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0)

#: Input laws of a config's ``inputs`` field.
INPUTS = INPUT_LAWS


@dataclass(frozen=True, kw_only=True)
class FitLines:
    """Config fields shared by the RF and NT simulations: which kind of grid line a config is.

    inputs : 'gaussian' or 'sphere' (x uniform on the sphere of radius sqrt(d)).
    sgd_steps : > 0 also trains by online SGD (batch ``sgd_batch``, step ``sgd_lr``).
    """

    inputs: str = "gaussian"
    sgd_steps: int = 0
    sgd_batch: int = 32
    sgd_lr: float = 1.0

    @property
    def main_grid(self) -> bool:
        """The Gaussian psi grid with formula rows (not a sphere or an online-SGD line)."""
        return self.inputs == "gaussian" and self.sgd_steps == 0

    def sgd_columns(self, feats, make_model, target, mc_samples: int, rng) -> dict:
        """Online SGD on fresh inputs of this line's law (the population risk), then Monte Carlo
        eps and S of ``make_model(theta, c)`` (columns sgd_*)."""
        theta, c = online_sgd_linear(
            feats, target, rng, steps=self.sgd_steps, batch=self.sgd_batch, lr=self.sgd_lr,
            law=self.inputs,
        )  # fmt: skip
        return mc_columns("sgd", make_model(theta, c), target, mc_samples, rng, self.inputs)


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
    tolerance: float,
    note: str,
    *,
    prefix: str = "e2e",
    reference: str = "eps",
    statistic: str = "eps: end-to-end least squares vs exact solver",
):
    """An end-to-end fit (pooled Monte Carlo eps of the columns ``prefix``_*) against the exact
    solver's eps (column ``reference``), at a relative ``tolerance``."""
    mean, se, _ = pooled_mc(sub, prefix, "eps")
    return comparison_verdict(
        claim, sim_id, params, statistic, mean, float(sub[reference].mean()), tolerance,
        n=int(sub[f"{prefix}_n"].sum()), ci=(mean - 1.96 * se, mean + 1.96 * se), note=note,
    )  # fmt: skip


def input_e2e_verdict(
    claim: str,
    sim_id: str,
    params: dict,
    sub: pd.DataFrame,
    activation: str,
    inputs: str,
    tolerance: float,
    note: str,
):
    """End-to-end least squares against the exact solver of its input law; on the sphere the
    note adds the sphere-minus-Gaussian finding: exact (same draws) when a sphere solver exists,
    else the difference of least squares on sphere and on Gaussian inputs (same draws and n,
    columns e2e_gauss_*) and the verdict is against the Gaussian solver."""
    if inputs == "gaussian":
        return e2e_verdict(claim, sim_id, params, sub, tolerance, note)
    if has_sphere_solver(activation):
        note += "; exact sphere - Gaussian solver (same draws): " + "; ".join(
            sphere_note(sub, q, f"gauss_{q}", f"d{q}") for q in ("eps", "S")
        )
        statistic = "eps: end-to-end least squares (sphere inputs) vs exact sphere solver"
    else:
        note += (
            f"; no exact sphere solver for {activation}: "
            + sphere_note(sub, "e2e_eps", "e2e_gauss_eps",
                          "least squares sphere - Gaussian inputs (same draws and n), deps")
            + " (Monte Carlo and training noise)"
        )  # fmt: skip
        statistic = (
            "eps: end-to-end least squares (sphere inputs) vs exact Gaussian solver "
            "(no sphere solver)"
        )
    return e2e_verdict(claim, sim_id, params, sub, tolerance, note, statistic=statistic)


def sgd_verdict(claim: str, sim_id: str, params: dict, sub: pd.DataFrame, cfg, n_params: int):
    """Online SGD (columns sgd_*) against the exact solver's eps, at ``cfg.e2e_tolerance``."""
    samples = cfg.sgd_steps * cfg.sgd_batch
    note = (
        f"{cfg.sgd_steps} steps x {cfg.sgd_batch} fresh samples ({samples / n_params:.0f} per "
        "parameter), Polyak-Ruppert average of the second half"
    )
    return e2e_verdict(
        claim, sim_id, params, sub, cfg.e2e_tolerance, note, prefix="sgd",
        statistic="eps: online SGD on fresh samples (population risk) vs exact solver",
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
    """z-test of the pooled Monte Carlo mean against the pooled exact values (THEORY.md Sec. 6).

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
    return replace(row, n=int(n), estimate=mean, ci_low=mean - 1.96 * se, ci_high=mean + 1.96 * se)


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


def formula_verdict(
    claim,
    sim_id,
    params,
    statistic,
    solver_values,
    formula: float,
    tolerance: float,
    note: str = "",
    atol: float = 1e-9,
):
    """Exact solver (mean over blocks) against the asymptotic formula, relative tolerance.

    ``atol`` (absolute, on O(1) quantities) lets values that are zero up to round-off agree
    (e.g. tanh's NT robustness with F1 = 0: the odd features cannot fit an even target).
    """
    est, lo, hi = interval(solver_values)
    return comparison_verdict(
        claim,
        sim_id,
        params,
        statistic,
        est,
        formula,
        tolerance,
        atol=atol,
        n=len(solver_values),
        ci=(lo, hi),
        note=note,
    )


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
