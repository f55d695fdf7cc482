"""Pieces shared by the quadratic-target simulations (quadratic-rf, -nt, -nn, -lazy, -tradeoff).

Each replicate block draws one target and one nested first layer (the first m rows of an
(m_max, d) draw), so along the psi grid the spans grow and eps can only decrease. Per block and
psi the simulations store the exact solver's eps and S, Monte Carlo estimates on fresh inputs
(mean, per-sample variance and count, so that blocks can be pooled), and end-to-end fits.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.quadratic import monte_carlo_metrics
from theorycheck.stats import mean_ci
from theorycheck.verdicts import comparison_verdict, law_verdict, statement_verdict

__all__ = [
    "PSI_GRID",
    "formula_rows",
    "formula_verdict",
    "identity_statement",
    "interval",
    "mc_columns",
    "poincare_statement",
    "pooled_mc",
    "pooled_z_verdict",
    "solver_summary",
    "tradeoff_statement",
    "width",
]

#: The width ratios psi = m / d of the issue.
PSI_GRID = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0)


def width(psi: float, d: int) -> int:
    """m = round(psi d), at least 1."""
    return max(1, round(psi * d))


def mc_columns(prefix: str, model, target, n: int, rng) -> dict:
    """Monte Carlo eps and S of ``model`` on n fresh inputs: means, per-sample variances, n."""
    mc = monte_carlo_metrics(model, target, n, rng)
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
    claim: str, sim_id: str, params: dict, sub: pd.DataFrame, tolerance: float, note: str
):
    """End-to-end least squares (pooled Monte Carlo eps) against the exact solver's eps."""
    mean, se, _ = pooled_mc(sub, "e2e", "eps")
    return comparison_verdict(
        claim, sim_id, params, "eps: end-to-end least squares vs exact solver", mean,
        float(sub["eps"].mean()), tolerance, n=int(sub["e2e_n"].sum()),
        ci=(mean - 1.96 * se, mean + 1.96 * se), note=note,
    )  # fmt: skip


def pooled_z_verdict(
    claim: str,
    sim_id: str,
    params: dict,
    statistic: str,
    sub: pd.DataFrame,
    prefix: str,
    quantity: str,
    exact_col: str,
):
    """z-test of the pooled Monte Carlo mean against the pooled exact values (THEORY.md Sec. 6).

    Per block the exact value is a constant and the Monte Carlo mean has variance var/n; the
    difference of the block averages is approximately normal with the summed variance.
    """
    mean, se, n = pooled_mc(sub, prefix, quantity)
    exact = float(sub[exact_col].mean())
    z = (mean - exact) / se if se > 0 else (0.0 if mean == exact else math.inf)
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
