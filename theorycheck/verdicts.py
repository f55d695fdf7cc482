"""The verdict engine (THEORY.md Sec. 6): one place where a verdict is decided.

* High-probability bounds "w.p. >= 1 - gamma, X <= B" (or X >= B): n replicates, k exceedances,
  one-sided Clopper-Pearson at level 1 - alpha. HOLDS if the upper limit <= gamma, VIOLATED if the
  lower limit > gamma (equivalently the one-sided p-value P(K >= k | gamma) < alpha), else
  INCONCLUSIVE with the number of replicates that would settle it. Slack = B / (empirical
  1-gamma quantile of X) for upper bounds, (empirical gamma quantile) / B for lower bounds.
* Exact laws and identities: two-sided tests; AGREES unless the p-value is below alpha.
* Many tests in one run: :func:`apply_holm` adjusts the rejecting p-values (VIOLATED, DISAGREES)
  with Holm's step-down procedure at family-wise alpha (default 0.05) and re-decides the rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.errors import check_choice, check_real
from theorycheck.stats import clopper_pearson, quantile_ci, replicates_needed

__all__ = [
    "DEFAULT_ALPHA",
    "Verdict",
    "VerdictRow",
    "apply_holm",
    "bound_verdict",
    "law_verdict",
    "verdict_frame",
]

DEFAULT_ALPHA = 0.05


class Verdict(StrEnum):
    HOLDS = "HOLDS"
    VIOLATED = "VIOLATED"
    INCONCLUSIVE = "INCONCLUSIVE"
    AGREES = "AGREES"
    DISAGREES = "DISAGREES"


@dataclass(frozen=True)
class VerdictRow:
    """One checked statement at one grid point (SPEC.md "Verdict engine")."""

    claim: str  # bound / law id in the bounds registry
    simulation: str
    parameters: str  # JSON of the grid point's parameters
    statistic: str  # what was measured, in the paper's words
    test: str  # clopper-pearson, ks, binomial, z
    n: int
    bound: float  # the bound's value (NaN for a law)
    gamma: float  # the claim's failure probability (NaN for a law)
    estimate: float  # empirical 1-gamma quantile (bounds) or mean (laws)
    ci_low: float
    ci_high: float
    slack: float  # B / quantile (NaN for a law)
    exceedances: int  # k (bounds), -1 for laws
    exceed_ci_high: float  # one-sided CP upper limit of the exceedance probability
    p_value: float  # the p-value of the test that would reject the claim
    p_adjusted: float  # Holm-adjusted across the run (equals p_value until adjusted)
    verdict: str
    note: str = ""

    def params(self) -> dict:
        return json.loads(self.parameters)


def _params_json(parameters: dict) -> str:
    return json.dumps(parameters, sort_keys=True, default=float)


def bound_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    samples,
    bound: float,
    gamma: float,
    side: str = "upper",
    alpha: float = DEFAULT_ALPHA,
) -> VerdictRow:
    """Verdict on "with probability >= 1 - gamma, X <= bound" (``side='upper'``) or X >= bound.

    References: THEORY.md Sec. 6; Clopper & Pearson (1934).
    """
    check_choice("side", side, ("upper", "lower"))
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    k = int(np.count_nonzero(x > bound if side == "upper" else x < bound))
    q = 1 - gamma if side == "upper" else gamma
    qci = quantile_ci(x, q)
    if side == "upper":
        slack = bound / qci.estimate if qci.estimate > 0 else math.inf
    else:
        slack = qci.estimate / bound if bound > 0 else math.inf
    upper = clopper_pearson(k, n, 1 - alpha, "upper")[1]
    p_violation = float(stats.binom.sf(k - 1, n, gamma))  # P(K >= k | p = gamma)
    row = VerdictRow(
        claim, simulation, _params_json(parameters), statistic, "clopper-pearson", n,
        float(bound), gamma, qci.estimate, qci.low, qci.high, float(slack), k, upper,
        p_violation, p_violation, "", "",
    )  # fmt: skip
    return _decide(row, alpha)


def _decide(row: VerdictRow, alpha: float) -> VerdictRow:
    gamma = row.gamma
    if row.test == "clopper-pearson":
        if row.p_adjusted < alpha:
            verdict, note = Verdict.VIOLATED, f"{row.exceedances}/{row.n} exceed the bound"
        elif row.exceed_ci_high <= gamma:
            verdict, note = Verdict.HOLDS, ""
        else:
            need = replicates_needed(row.exceedances, row.n, gamma, 1 - alpha)
            verdict = Verdict.INCONCLUSIVE
            note = (
                f"about {need} replicates in all would settle it"
                if need < 10**8
                else "the exceedance rate is at gamma; more replicates will not settle it"
            )
        return replace(row, verdict=str(verdict), note=note)
    verdict = Verdict.DISAGREES if row.p_adjusted < alpha else Verdict.AGREES
    return replace(row, verdict=str(verdict))


def law_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    test: str,
    p_value: float,
    samples,
    reference_mean: float = math.nan,
    alpha: float = DEFAULT_ALPHA,
) -> VerdictRow:
    """Verdict on an exact law or identity from a two-sided test's p-value (AGREES/DISAGREES).

    ``samples`` give the reported estimate (their mean with a t interval); ``reference_mean``
    is the law's mean, reported in the ``bound`` column for comparison.
    """
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    mean = float(x.mean())
    half = 1.959963984540054 * float(x.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    row = VerdictRow(
        claim, simulation, _params_json(parameters), statistic, test, n, float(reference_mean),
        math.nan, mean, mean - half, mean + half, math.nan, -1, math.nan,
        float(p_value), float(p_value), "", "",
    )  # fmt: skip
    return _decide(row, alpha)


def apply_holm(rows: list[VerdictRow], alpha: float = DEFAULT_ALPHA) -> list[VerdictRow]:
    """Holm step-down adjustment of every row's rejecting p-value; rows are re-decided.

    Holm (1979): sort the m p-values, p_adj(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    Controls the family-wise error of all VIOLATED/DISAGREES verdicts at ``alpha``.
    """
    if not rows:
        return []
    p = np.array([r.p_value for r in rows])
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    out = []
    for row, pa in zip(rows, adj, strict=True):
        out.append(_decide(replace(row, p_adjusted=float(pa)), alpha))
    return out


def verdict_frame(rows: list[VerdictRow]) -> pd.DataFrame:
    """Verdict rows as a tidy DataFrame (the stored and printed form)."""
    cols = list(VerdictRow.__dataclass_fields__)
    return pd.DataFrame([asdict(r) for r in rows], columns=cols)
