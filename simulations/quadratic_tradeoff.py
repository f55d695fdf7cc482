"""quadratic-tradeoff: test error against robustness across psi and regimes, and the verdict on
the claim "robustness can only get worse when test error improves, and vice versa" (Dohmatob &
Bietti 2022, abstract).

Each block draws one target (F1 = F2 = 1, GOE-like B0) and one nested first layer, and solves
every regime exactly at every psi = m/d: RF (relu, gelu, t^2), NT (relu a.e., gelu, t^2), the
quadratic network at its global optimum (Eckart-Young), and lazy NT (gelu) at init scales alpha.

The claim is checked along psi, per regime: wherever eps decreases, S does not decrease. At the
finite d it is a statistical monotonicity test of the mean S over blocks (a block is one draw
of the target and the first layer; standard errors from the spread over blocks), on the psi
where the mean eps decreases, in the Holm family (``monotone`` verdicts): a dip of S counts only
when it is several standard errors deep. On the asymptotic formulas (docs/derivations/
quadratic.md; exact, no sampling) it is a checked statement. The derived tradeoff forms are
exact identities and inequalities of every fit, checked on the exact solver values at round-off:
S >= Var f* - eps (Poincare), and S + 2 eps = S(f*) + F1^2 for sigma = t^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from theorycheck.bounds import get_bound
from theorycheck.quadratic import (
    GaussianMoments,
    lazy_fit,
    nn_eckart_young,
    nt_fit,
    nt_frobenius,
    rf_fit,
    rf_frobenius,
    sample_first_layer,
    sample_target,
)
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.simulations._common import main
from theorycheck.simulations._quadratic import (
    PSI_GRID,
    identity_statement,
    interval,
    monotone_along_psi,
    poincare_statement,
    tradeoff_statement,
    width,
)

CLAIM = "dohmatob2022.claim_tradeoff"

#: (label, solver, activation, panel); lazy regimes carry their alpha in the label.
REGIMES = (
    ("RF relu", "rf", "relu", "relu / gelu"),
    ("RF gelu", "rf", "gelu", "relu / gelu"),
    ("NT relu (a.e. S)", "nt", "relu", "relu / gelu"),
    ("NT gelu", "nt", "gelu", "relu / gelu"),
    ("lazy NT gelu, alpha = 2", "lazy", "gelu", "relu / gelu"),
    ("lazy NT gelu, alpha = 8", "lazy", "gelu", "relu / gelu"),
    ("RF t^2", "rf", "quadratic", "sigma = t^2"),
    ("NT t^2", "nt", "quadratic", "sigma = t^2"),
    ("NN t^2 (Eckart-Young)", "nn", "quadratic", "sigma = t^2"),
)


@dataclass(frozen=True)
class TradeoffConfig:
    d: int
    psis: tuple[float, ...]
    F1sq: float
    F2sq: float
    n_blocks: int


def _formula_curve(label: str, cfg: TradeoffConfig, psis) -> tuple[np.ndarray, np.ndarray] | None:
    """The asymptotic (eps, S) of a regime along psi, or None when docs/derivations/quadratic.md
    has none."""
    F1, F2 = cfg.F1sq, cfg.F2sq
    psi = np.asarray(psis, dtype=float)
    b = get_bound
    if label in ("RF relu", "RF gelu"):
        act = label.split()[1]
        return (
            b(f"dohmatob2022.rf_error_{act}")(psi=psi, F1sq=F1, F2sq=F2),
            b(f"dohmatob2022.rf_robustness_{act}")(psi=psi, F1sq=F1),
        )
    if label == "NT gelu":
        return (
            b("dohmatob2022.nt_error_gelu")(psi=psi, F2sq=F2),
            b("dohmatob2022.nt_robustness_gelu")(psi=psi, F1sq=F1, F2sq=F2),
        )
    if label == "RF t^2":
        return (
            b("dohmatob2022.quad_rf_error")(psi=psi, F1sq=F1, F2sq=F2, Ftrsq=0.0),
            b("dohmatob2022.quad_rf_robustness")(psi=psi, Ftrsq=0.0),
        )
    if label == "NT t^2":
        return (
            b("dohmatob2022.quad_nt_error")(psi=psi, F1sq=F1, F2sq=F2, Ftrsq=0.0),
            b("dohmatob2022.quad_nt_robustness")(psi=psi, F2sq=F2, Ftrsq=0.0),
        )
    if label.startswith("NN"):
        return (
            b("dohmatob2022.quad_nn_error")(psi=psi, F1sq=F1, F2sq=F2),
            b("dohmatob2022.quad_nn_robustness")(psi=psi, F2sq=F2),
        )
    return None


class QuadraticTradeoff(Simulation):
    id = "quadratic-tradeoff"
    title = "Test error vs robustness across widths and regimes (Dohmatob & Bietti 2022)"
    claims = (CLAIM, "dohmatob2022.tradeoff_poincare", "dohmatob2022.tradeoff_identity_t2")
    limitations = (
        "The claim is checked at the grid points only, on exact population fits (infinite "
        "samples) at one finite d, averaged over a few draws, and on the d -> infinity formulas "
        "(a decrease of a formula's S smaller than 1e-9 S is treated as round-off). The draws "
        "at neighbouring psi share the target and the nested first layer, so the step test, "
        "which treats their errors as independent, is conservative. With F1 > 0 the t^2 "
        "models never fit the linear part, so their eps includes F1^2 at every width. relu NT "
        "is discontinuous: its S is the almost-everywhere value and it is left out of the "
        "Poincaré check."
    )

    def _configs(self, profile):
        d, blocks = (40, 3) if profile == "quick" else (100, 3)
        yield TradeoffConfig(d, PSI_GRID, 1.0, 1.0, blocks)

    def measure(self, config: TradeoffConfig, rng) -> pd.DataFrame:
        target = sample_target(config.d, rng, F1sq=config.F1sq, F2sq=config.F2sq)
        m_max = width(max(config.psis), config.d)
        W_max = sample_first_layer(config.d, m_max, rng)
        a0_max = rng.choice([-1.0, 1.0], m_max)
        moments = {a: GaussianMoments(a) for a in ("relu", "gelu", "quadratic")}
        rows = []
        for psi in config.psis:
            m = width(psi, config.d)
            W = W_max[:m]
            lazy = lazy_fit(target, W, a0_max[:m], moments["gelu"], "nt")
            for label, kind, act, _ in REGIMES:
                if kind == "lazy":
                    alpha = float(label.rsplit("=", 1)[1])
                    # sign-symmetrised: the a0-average (odd cross terms cancel); Var fhat is not
                    # needed: lazy fits are not projections of f*.
                    eps, S, var = lazy.eps(alpha, True), lazy.S(alpha, True), np.nan
                else:
                    fit = _solve(kind, act, target, W, m, moments[act])
                    eps, S, var = fit.eps, fit.S, fit.variance
                rows.append(
                    {
                        "psi": psi,
                        "m": m,
                        "regime": label,
                        "eps": eps,
                        "S": S,
                        "variance": var,
                        "target_variance": target.variance,
                        "target_S": target.robustness,
                        "F1sq": target.F1sq,
                    }
                )
        return pd.DataFrame(rows)

    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in data.items():
            var_star = float(df["target_variance"].mean())
            for label, _kind, _act, panel in REGIMES:
                sub = df[df["regime"] == label]
                params = {"regime": label, "d": cfg.d, "blocks": int(sub["block"].nunique())}
                verdicts.append(
                    monotone_along_psi(
                        CLAIM,
                        self.id,
                        params,
                        "along psi: S does not decrease where eps decreases "
                        "(exact solver, mean over blocks)",
                        sub,
                        "eps",
                        "S",
                    )
                )
                curve = _formula_curve(label, cfg, cfg.psis)
                if curve is not None:
                    frame = pd.DataFrame(
                        {"block": 0, "psi": cfg.psis, "eps": curve[0], "S": curve[1]}
                    )
                    verdicts.append(
                        tradeoff_statement(
                            CLAIM,
                            self.id,
                            {**params, "d": "infinity"},
                            "along psi: S does not decrease where eps decreases "
                            "(asymptotic formula)",
                            frame,
                            "eps",
                            "S",
                        )
                    )
                for psi, at in sub.groupby("psi", sort=True):
                    e = interval(at["eps"].to_numpy())
                    s = interval(at["S"].to_numpy())
                    summary.append(
                        {
                            "figure": "tradeoff",
                            "panel": panel,
                            "series": label,
                            "x": e[0],
                            "estimate": s[0],
                            "ci_low": s[1],
                            "ci_high": s[2],
                            "psi": psi,
                        }
                    )
                    summary.append(
                        {
                            "figure": "sum",
                            "panel": panel,
                            "series": label,
                            "x": psi,
                            **_interval_row(at["S"] + at["eps"]),
                        }
                    )
            fits = df[~df["regime"].str.startswith(("NT relu", "lazy"))]
            verdicts.append(
                poincare_statement(self.id, {"d": cfg.d, "regimes": "all projections"}, fits)
            )
            t2 = df[df["regime"].str.contains("t\\^2")]
            verdicts.append(
                identity_statement(self.id, {"d": cfg.d, "regimes": "RF, NT, NN t^2"}, t2)
            )
            grid = np.linspace(0.0, var_star, 9)
            for panel in ("relu / gelu", "sigma = t^2"):
                for e in grid:
                    summary.append(
                        {
                            "figure": "tradeoff",
                            "panel": panel,
                            "series": "Poincaré floor S = Var f* - eps",
                            "x": e,
                            "estimate": var_star - e,
                            "ci_low": var_star - e,
                            "ci_high": var_star - e,
                        }
                    )
        figures = [
            FigureSpec(
                "tradeoff",
                "Robustness S against test error eps, one point per psi",
                "test error eps",
                "S = E||grad f||^2",
                caption="Exact solver at finite d, mean over blocks (S: 95% t interval). "
                "The claim: moving along a curve towards small eps (larger psi) raises S; "
                "where a curve turns down instead, its rows read VIOLATED. A projection lies "
                "above the Poincaré floor S = Var f* - eps when it is smooth; NT relu's fit "
                "jumps (its features x 1[w.x > 0] are discontinuous), so its a.e. S, which "
                "misses the jumps, is not bound by the floor. Lazy NT (gelu) is sign-averaged "
                "over a0.",
            ),
            FigureSpec(
                "sum",
                "S + eps against psi",
                "psi = m/d",
                "S + eps",
                logx=True,
                caption="For smooth projections S + eps >= Var f* = 2 (Poincaré); NT relu's "
                "a.e. S misses its fit's jumps and may fall below.",
            ),
        ]
        return Evaluation(verdicts, pd.DataFrame(summary), figures)


def _interval_row(values) -> dict:
    est, lo, hi = interval(np.asarray(values, dtype=float))
    return {"estimate": est, "ci_low": lo, "ci_high": hi}


def _solve(kind: str, act: str, target, W, m: int, moments):
    if kind == "nn":
        return nn_eckart_young(target, m)
    if act == "quadratic":
        return rf_frobenius(target, W) if kind == "rf" else nt_frobenius(target, W)
    return rf_fit(target, W, moments) if kind == "rf" else nt_fit(target, W, moments)


SIMULATION = QuadraticTradeoff()

if __name__ == "__main__":
    main(SIMULATION)
