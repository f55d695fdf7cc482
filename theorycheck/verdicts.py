"""The verdict engine (THEORY.md Sec. 6): one place where a verdict is decided.

* High-probability bounds "w.p. >= 1 - gamma, X <= B" (or X >= B): n replicates, k exceedances,
  one-sided Clopper-Pearson at level 1 - alpha. HOLDS if the upper limit <= gamma, VIOLATED if the
  lower limit > gamma (equivalently the one-sided p-value P(K >= k | gamma) < alpha), else
  INCONCLUSIVE with the number of replicates that would settle it. Slack = B / (empirical
  1-gamma quantile of X) for upper bounds, (empirical gamma quantile) / B for lower bounds.
* Exact laws and identities: two-sided tests; AGREES unless the p-value is below alpha.
* Rates "statistic in Theta/O/Omega/o(x^k)": :func:`rate_verdict` on a log-log fit with a
  stratified bootstrap (:mod:`theorycheck.rates`): HOLDS if the exponent's interval lies in the
  claim's band of exponents, VIOLATED if the fitted slope is significantly outside it.
* Many tests in one run: :func:`apply_holm` adjusts the rejecting p-values (VIOLATED, DISAGREES)
  with Holm's step-down procedure at family-wise alpha (default 0.05) and re-decides the rows.
* Deterministic checks (no sampling): :func:`comparison_verdict` (a computed value against a
  reference within a stated relative tolerance: AGREES / DISAGREES) and
  :func:`statement_verdict` (a statement evaluated over a grid: HOLDS / VIOLATED). Their verdict
  is fixed when the row is made; they carry no p-value and are not part of Holm's family.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
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
    "comparison_verdict",
    "law_verdict",
    "rate_verdict",
    "statement_verdict",
    "verdict_frame",
    "with_conditions",
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
    # Whether the claim's conditions hold at this grid point: "hold", "fail" or "n/a" (no
    # conditions beyond the parameter domains, or the parameters do not determine them, e.g. a
    # rate fitted over a grid). Filled by :func:`with_conditions` after evaluation.
    conditions: str = "n/a"

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


_ENGINE_NOTE = re.compile(
    r"^(\d+/\d+ exceed the bound|about \d+ replicates in all would settle it"
    r"|the exceedance rate is at gamma; more replicates will not settle it)(; )?"
)


def _decide(row: VerdictRow, alpha: float) -> VerdictRow:
    gamma = row.gamma
    if row.test in DETERMINISTIC_TESTS:
        return row  # decided when made (comparison_verdict, statement_verdict)
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
        # Keep what the simulation added to the note; replace only the engine's own sentence.
        detail = _ENGINE_NOTE.sub("", row.note)
        return replace(row, verdict=str(verdict), note="; ".join(filter(None, (note, detail))))
    if row.test == RATE_TEST:
        return _decide_rate(row, alpha)
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
    # Deterministic rows have no p-value and do not enlarge the family.
    tested = [i for i, r in enumerate(rows) if r.test not in DETERMINISTIC_TESTS]
    p = np.array([rows[i].p_value for i in tested])
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    out = list(rows)
    for i, pa in zip(tested, adj, strict=True):
        out[i] = _decide(replace(rows[i], p_adjusted=float(pa)), alpha)
    return out


#: Values of :attr:`VerdictRow.conditions`.
CONDITIONS_VALUES = ("hold", "fail", "n/a")


def with_conditions(
    rows: list[VerdictRow], conditions: Callable[[str, dict], bool | None]
) -> list[VerdictRow]:
    """Record at each row whether its claim's conditions hold at the row's grid point.

    ``conditions(claim, parameters)`` returns True (the statement's conditions hold), False
    (they fail) or None (not applicable: no conditions beyond the parameter domains, or the
    row's parameters do not determine them). The composition root (``theorycheck.cli``) builds
    it from the bounds registry (``Bound.conditions``), so this module never imports ``bounds``.

    References: SPEC.md "Reports" (each claim's conditions and whether the grid satisfies them).
    """
    out = []
    for r in rows:
        holds = conditions(r.claim, r.params())
        word = "n/a" if holds is None else "hold" if bool(holds) else "fail"
        out.append(replace(r, conditions=word))
    return out


def verdict_frame(rows: list[VerdictRow]) -> pd.DataFrame:
    """Verdict rows as a tidy DataFrame (the stored and printed form)."""
    cols = list(VerdictRow.__dataclass_fields__)
    return pd.DataFrame([asdict(r) for r in rows], columns=cols)


# -- rate claims (THEORY.md Sec. 6 "Rates") ---------------------------------------------------

#: ``test`` of a rate row; :func:`_decide` recognises rate rows by it.
RATE_TEST = "rate fit (bootstrap)"


def _rate_band(kind: str, exponent: float, tolerance: float) -> tuple[float, float]:
    """The exponents a rate claim allows: Theta [k-tol, k+tol], O (-inf, k+tol],
    Omega [k-tol, inf), o (-inf, k]."""
    if kind == "Theta":
        return exponent - tolerance, exponent + tolerance
    if kind == "O":
        return -math.inf, exponent + tolerance
    if kind == "Omega":
        return exponent - tolerance, math.inf
    return -math.inf, exponent


def _decide_rate(row: VerdictRow, alpha: float) -> VerdictRow:
    """VIOLATED if the (Holm-adjusted) p-value is below alpha, HOLDS if the exponent's interval
    lies inside the claim's band, INCONCLUSIVE otherwise. The note (the fit) is kept."""
    p = row.params()
    lo, hi = _rate_band(p["rate_kind"], row.bound, float(p["rate_tolerance"]))
    if row.p_adjusted < alpha:
        verdict = Verdict.VIOLATED
    elif lo <= row.ci_low and row.ci_high <= hi:
        verdict = Verdict.HOLDS
    else:
        verdict = Verdict.INCONCLUSIVE
    return replace(row, verdict=str(verdict))


def rate_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    fit,
    exponent: float,
    kind: str = "Theta",
    tolerance: float = 0.1,
    variable: str = "x",
    alpha: float = DEFAULT_ALPHA,
) -> VerdictRow:
    """Verdict on a rate claim "statistic in kind(variable^exponent)" from a
    :class:`theorycheck.rates.RateFit`.

    The claim allows a band of exponents: Theta [k - tol, k + tol], O (-inf, k + tol],
    Omega [k - tol, inf), o (-inf, k] (``tolerance`` is ignored for o: the slope must be shown
    below k). HOLDS when the exponent's (1 - alpha) normal bootstrap interval lies inside the
    band; VIOLATED when the p-value of :meth:`RateFit.p_value` (the fitted slope is outside the
    band) is below alpha, after Holm's adjustment when :func:`apply_holm` re-decides the row;
    INCONCLUSIVE otherwise. The tolerance absorbs the pre-asymptotic drift a finite grid always
    shows (e.g. E||grad f|| = sqrt(1/2) (1 - 1/(4d) + ...)): without it every Theta claim is
    refuted once the replicates are many enough. For an O-claim's implied constant fit
    (:func:`theorycheck.rates.implied_constant`) use ``exponent=0, kind="O"``.

    Columns: ``bound`` = claimed exponent k, ``estimate``/``ci_low``/``ci_high`` = fitted
    exponent and interval, ``n`` = replicates over the grid; ``parameters`` gain ``rate_kind``,
    ``rate_tolerance``, ``over`` (the grid variable) and ``grid``; the note describes the fit
    (constant, local slopes with intervals).

    References: THEORY.md Sec. 6.
    """
    from theorycheck.rates import check_kind  # rates never imports verdicts: no cycle

    check_kind(kind)
    tolerance = 0.0 if kind == "o" else check_real("tolerance", tolerance, low=0.0)
    alpha = check_real("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    z = float(stats.norm.ppf(1 - alpha / 2))
    if math.isfinite(fit.se):
        ci_low, ci_high = fit.exponent - z * fit.se, fit.exponent + z * fit.se
    else:
        ci_low, ci_high = -math.inf, math.inf
    p_value = fit.p_value(exponent, kind, tolerance)
    params = {**parameters, "rate_kind": kind, "rate_tolerance": tolerance, "over": variable,
              "grid": [float(v) for v in fit.x]}  # fmt: skip
    lo, hi = _rate_band(kind, exponent, tolerance)
    hints = [f"claim {kind}({variable}^{exponent:g}), allowed exponents [{lo:g}, {hi:g}]"]
    if kind == "Theta" and math.isfinite(fit.se):
        hints.append(
            f"interval {'contains' if ci_low <= exponent <= ci_high else 'excludes'} {exponent:g}"
        )
    if math.isfinite(fit.se) and not (lo <= ci_low and ci_high <= hi) and kind == "Theta":
        if ci_high - ci_low > hi - lo > 0:
            factor = ((ci_high - ci_low) / (hi - lo)) ** 2
            hints.append(f"interval wider than the band: ~{factor:.1f}x the replicates needed")
    hints.append(fit.describe(variable))
    row = VerdictRow(
        claim, simulation, _params_json(params), statistic, RATE_TEST, int(np.sum(fit.n)),
        float(exponent), math.nan, float(fit.exponent), float(ci_low), float(ci_high), math.nan,
        -1, math.nan, float(p_value), float(p_value), "", "; ".join(hints),
    )  # fmt: skip
    return _decide(row, alpha)


# -- deterministic checks (no sampling) ---------------------------------------------------------

#: ``test`` of a :func:`comparison_verdict` row.
COMPARISON_TEST = "relative error"
#: ``test`` of a :func:`statement_verdict` row.
STATEMENT_TEST = "checked statement"
DETERMINISTIC_TESTS = (COMPARISON_TEST, STATEMENT_TEST)


def comparison_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    estimate: float,
    reference: float,
    tolerance: float,
    *,
    atol: float = 0.0,
    n: int = 1,
    ci: tuple[float, float] | None = None,
    note: str = "",
) -> VerdictRow:
    """A computed value against a reference (e.g. an exact solver against an asymptotic formula):
    AGREES if |estimate - reference| <= tolerance |reference| + atol, else DISAGREES.

    Deterministic: no p-value (NaN), outside Holm's family. Columns: ``bound`` = reference,
    ``estimate`` (with ``ci`` when the estimate is a mean over ``n`` draws), ``slack`` =
    reference / estimate; the tolerance and the relative error go into ``parameters`` and the note.
    """
    tolerance = check_real("tolerance", tolerance, low=0.0)
    atol = check_real("atol", atol, low=0.0)
    estimate, reference = float(estimate), float(reference)
    error = abs(estimate - reference)
    rel = error / abs(reference) if reference != 0 else (0.0 if error == 0 else math.inf)
    agrees = error <= tolerance * abs(reference) + atol
    lo, hi = ci if ci is not None else (estimate, estimate)
    slack = reference / estimate if estimate != 0 else math.nan
    params = {**parameters, "tolerance": tolerance, "atol": atol}
    error_text = f"relative error {rel:.2%}" if math.isfinite(rel) else f"error {error:.2g}"
    text = f"{error_text} (tolerance {tolerance:.0%}" + (f" + {atol:g} absolute)" if atol else ")")
    return VerdictRow(
        claim, simulation, _params_json(params), statistic, COMPARISON_TEST, int(n),
        reference, math.nan, estimate, float(lo), float(hi), float(slack), -1, math.nan,
        math.nan, math.nan, str(Verdict.AGREES if agrees else Verdict.DISAGREES),
        "; ".join(filter(None, (text, note))),
    )  # fmt: skip


def statement_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    holds: bool,
    *,
    estimate: float = math.nan,
    bound: float = math.nan,
    n: int = 1,
    note: str = "",
) -> VerdictRow:
    """A statement evaluated exactly over a grid (e.g. "along psi, S does not decrease where eps
    decreases"): HOLDS or VIOLATED, with the offending grid points in the note.

    Deterministic: no p-value (NaN), outside Holm's family. ``estimate``/``bound`` may carry the
    statement's worst case and its threshold (e.g. the largest decrease of S and 0).
    """
    verdict = Verdict.HOLDS if holds else Verdict.VIOLATED
    return VerdictRow(
        claim, simulation, _params_json(parameters), statistic, STATEMENT_TEST, int(n),
        float(bound), math.nan, float(estimate), float(estimate), float(estimate), math.nan,
        -1, math.nan, math.nan, math.nan, str(verdict), note,
    )  # fmt: skip
