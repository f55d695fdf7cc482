"""The verdict engine: one place where every verdict is decided (docs/theory.md, "Verdicts").

A verdict speaks about a claim as its paper states it, at one grid point, with stated error rates.
Every row carries four qualifiers beside its test:

* ``conditions``: ``inside`` / ``outside`` / ``unknown``: whether the paper's own conditions hold
  at the row's grid point (filled by :func:`with_conditions` from the bounds registry);
* ``quantifier``: what the claim quantifies over (:class:`Quantifier`): a random point (W0, x), a
  particular W of the lazy ball, or every W of the ball;
* ``evidence``: how the statistic was obtained (:class:`Evidence`): exact, sampled, certified (a
  proven bound) or search (an attack or optimiser);
* ``vacuous``: the bound is no better than a trivial one.

Decisions by kind (``VerdictRow.kind``):

* ``bound`` -- "w.p. >= 1 - gamma, X <= B" (or X >= B): n replicates, k exceedances. VIOLATED when
  the one-sided exact binomial p-value P(K >= k | gamma), Holm-adjusted over the family, is below
  alpha; HOLDS when the one-sided Clopper-Pearson upper limit of the exceedance rate (95%, per row)
  is <= gamma; else INCONCLUSIVE with the replicates that would settle it. A directional estimate
  (``bias``) restricts the verdict: a lower estimate of X (a search for a maximum) can refute an
  upper bound, never confirm it; an upper estimate (a certificate) can confirm it, never refute it.
* ``universal`` -- "for every W of the ball": VIOLATED needs a witness (a W found by search and
  verified exactly) on which the exceedance test rejects; HOLDS needs a certified bound over the
  whole ball; otherwise "no counterexample found" (INCONCLUSIVE).
* ``law`` -- exact finite-size laws and identities, two-sided tests: AGREES / DISAGREES; every
  AGREES states the smallest deviation it would have caught with power 0.9.
* ``implied constant`` -- O / Omega / o claims: the smallest constant making the statement hold at
  level 1 - gamma at each grid point, and a trend test of its log-log slope over the large end of
  the grid (>= 4 points): VIOLATED when it grows (O) or shrinks (Omega) significantly there, and the
  last local slope agrees (an intersection-union test, valid at level alpha); HOLDS when the
  one-sided 95% limit of the slope stays within ``FLAT_TOLERANCE`` of flat; else INCONCLUSIVE.
* ``rate`` -- fitted exponents are descriptions (``DESCRIPTIVE``), outside the Holm family.
* ``convergence`` -- an asymptotic formula against finite-d values over >= 3 dimensions:
  CONVERGES / DOES NOT CONVERGE / INCONCLUSIVE from the gaps (:func:`convergence_verdict`).
* ``monotone`` -- "X only gets worse when Y improves" on estimated curves: one-sided z-tests of
  every step with Bonferroni over the steps, in the Holm family (:func:`monotone_verdict`).
* ``comparison`` / ``statement`` -- deterministic checks (no sampling), decided when made.

The Holm family (:func:`apply_holm`) is the set of confirmatory rows of one run; descriptive and
deterministic rows are outside it. VIOLATED / DISAGREES / DOES NOT CONVERGE control the family-wise
error at alpha; each HOLDS / AGREES / CONVERGES is a per-row 95% statement with its power stated.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.errors import UserInputError, check_choice, check_real
from theorycheck.numbers import num
from theorycheck.power import (
    binomial_power,
    ks_detectable,
    mean_detectable,
    slope_detectable,
)
from theorycheck.stats import clopper_pearson, quantile_ci, replicates_needed

__all__ = [
    "DEFAULT_ALPHA",
    "Evidence",
    "Quantifier",
    "Verdict",
    "VerdictRow",
    "apply_holm",
    "bound_verdict",
    "comparison_verdict",
    "convergence_verdict",
    "description",
    "implied_constant_verdict",
    "law_verdict",
    "monotone_verdict",
    "rate_verdict",
    "rows_from_frame",
    "statement_verdict",
    "universal_verdict",
    "verdict_frame",
    "with_conditions",
    "with_looks",
]

DEFAULT_ALPHA = 0.05
#: Per-row confidence of HOLDS / AGREES / CONVERGES statements.
ROW_CONFIDENCE = 0.95
#: An implied constant whose log-log slope is shown to be below this over the large end of the grid
#: is "bounded": a drift slower than x^0.1 over 1.5 decades (a factor < 1.42) cannot be told apart
#: from a constant still approaching its limit.
FLAT_TOLERANCE = 0.1
#: The smallest p-value a normal (CLT or bootstrap) approximation is trusted to resolve; smaller
#: values are reported as this floor (exact binomial p-values are not floored).
P_FLOOR = 1e-12
#: The power statement of a deterministic row.
EXACT_POWER = "exact computation: no sampling error (rounding tolerance stated in the note)"
#: An asymptotic formula's gap must shrink at least like d^-1/2, over the grid and at its last
#: step, to read as converging (the finite-size corrections of the formulas checked here are
#: O(1/d)); a slower shrinking gap may be settling at a nonzero value.
CONVERGENCE_RATE = 0.5


class Verdict(StrEnum):
    HOLDS = "HOLDS"
    VIOLATED = "VIOLATED"
    INCONCLUSIVE = "INCONCLUSIVE"
    AGREES = "AGREES"
    DISAGREES = "DISAGREES"
    CONVERGES = "CONVERGES"
    DOES_NOT_CONVERGE = "DOES NOT CONVERGE"
    DESCRIPTIVE = "DESCRIPTIVE"


#: Verdicts that refute the claim.
REFUTING = (Verdict.VIOLATED, Verdict.DISAGREES, Verdict.DOES_NOT_CONVERGE)
#: Verdicts that support the claim.
SUPPORTING = (Verdict.HOLDS, Verdict.AGREES, Verdict.CONVERGES)


class Quantifier(StrEnum):
    """What a claim quantifies over."""

    RANDOM = "random point"  # a random draw (W0, x), or a population quantity over one
    PARTICULAR = "particular W"  # a given W of the lazy ball (a family, a trained network)
    EVERY = "every W in the ball"  # sup / inf over the whole lazy ball


class Evidence(StrEnum):
    """How a row's statistic was obtained."""

    EXACT = "exact"  # an exact law or closed form, or an exact computation per replicate
    SAMPLED = "sampled"  # unbiased Monte Carlo
    CERTIFIED = "certified"  # a proven upper / lower bound on the quantity
    SEARCH = "search"  # an attack or optimiser: a lower estimate of a max, upper of a min


#: Values of :attr:`VerdictRow.conditions`.
CONDITIONS_VALUES = ("inside", "outside", "unknown")

# Decision kinds (``VerdictRow.kind``).
BOUND, UNIVERSAL, LAW, IMPLIED, RATE = "bound", "universal", "law", "implied constant", "rate"
CONVERGENCE, MONOTONE, COMPARISON, STATEMENT = "convergence", "monotone", "comparison", "statement"
DETERMINISTIC_KINDS = (COMPARISON, STATEMENT)

#: ``test`` strings of the kinds that have a fixed one.
RATE_TEST = "rate fit (bootstrap)"
COMPARISON_TEST = "relative error"
STATEMENT_TEST = "checked statement"
DETERMINISTIC_TESTS = (COMPARISON_TEST, STATEMENT_TEST)


@dataclass(frozen=True)
class VerdictRow:
    """One checked statement at one grid point (docs/theory.md, "Verdicts")."""

    claim: str  # bound / law id in the bounds registry
    simulation: str
    parameters: str  # JSON of the grid point's parameters (also stored one column each)
    statistic: str  # what was measured, in the paper's words
    test: str  # clopper-pearson, ks, binomial, z, trend, ...
    n: int
    bound: float  # the bound's value, the law's mean, the claimed exponent, the reference
    gamma: float  # the claim's failure probability (NaN where it has none)
    estimate: float  # empirical quantile (bounds), mean (laws), slope (implied constants)
    ci_low: float
    ci_high: float
    slack: float  # B / quantile (NaN where it has no meaning)
    exceedances: int  # k (bounds), -1 otherwise
    exceed_ci_high: float  # one-sided CP upper limit of the exceedance probability
    p_value: float  # the p-value of the test that would reject the claim
    p_adjusted: float  # Holm-adjusted over the family (equals p_value until adjusted)
    verdict: str
    note: str = ""
    conditions: str = "unknown"
    quantifier: str = str(Quantifier.RANDOM)
    evidence: str = str(Evidence.SAMPLED)
    vacuous: bool = False
    kind: str = ""
    #: ``confirmatory`` rows form the Holm family; ``descriptive`` rows have no verdict to control;
    #: ``deterministic`` rows are exact computations; ``conditions`` rows compute where a claim's
    #: conditions hold (they test nothing about the claim itself).
    family: str = "confirmatory"
    #: Direction of a directional estimate: ``lower`` (an estimate below the truth, e.g. a search
    #: for a maximum), ``upper`` (above it, e.g. a certificate of a supremum) or "" (unbiased).
    bias: str = ""
    #: ``upper`` (X <= B; an O-claim's constant must not grow), ``lower`` (X >= B; an Omega-claim's
    #: constant must not shrink) or ``vanish`` (an o-claim's ratio must go to 0).
    side: str = ""
    se: float = math.nan  # standard error of the estimate where a power statement needs it
    level: float = math.nan  # the row's worst-case test level in its family (alpha / size)
    power: str = ""  # what the test would have caught
    #: Universal rows: replicates whose certificate does not reach the bound (-1: none given).
    uncertified: int = -1
    #: Looks of a sequential design (:mod:`theorycheck.sequential`): the row's p-value carries
    #: this Bonferroni factor and its Clopper-Pearson limit is at confidence 1 - 0.05 / looks.
    looks: int = 1
    #: Implied-constant rows: the constant at the grid's largest value (``estimate`` holds the
    #: slope the verdict tests); NaN for every other kind.
    constant: float = math.nan

    def params(self) -> dict:
        return json.loads(self.parameters)


def _params_json(parameters: dict) -> str:
    return json.dumps(parameters, sort_keys=True, default=float)


def _can(side: str, bias: str) -> tuple[bool, bool]:
    """(can hold, can violate) for a claim on ``side`` estimated with ``bias``."""
    if not bias:
        return True, True
    agrees_with_side = (side == "upper") == (bias == "upper")
    # X <= B: an upper estimate below B shows it; a lower estimate above B refutes it.
    return agrees_with_side, not agrees_with_side


# -- high-probability bounds ---------------------------------------------------------------------


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
    *,
    quantifier: str = Quantifier.RANDOM,
    evidence: str = Evidence.SAMPLED,
    bias: str = "",
    vacuous: bool = False,
    note: str = "",
) -> VerdictRow:
    """Verdict on "with probability >= 1 - gamma, X <= bound" (``side='upper'``) or X >= bound.

    ``samples`` are X per replicate (independent). ``bias`` says that X is a directional estimate
    (``lower``: below the truth, as a search for a maximum; ``upper``: above it, as a certificate of
    a supremum), which restricts the verdict to the direction the estimate can show.

    References: Clopper & Pearson (1934); docs/theory.md ("Verdicts").
    """
    check_choice("side", side, ("upper", "lower"))
    check_choice("bias", bias, ("", "lower", "upper"))
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = _check_alpha(alpha)
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    if n == 0:
        raise UserInputError(f"{claim}: no replicates to decide on")
    if np.any(np.isnan(x)):
        raise FloatingPointError(f"{claim}: NaN among the replicates")
    k = int(np.count_nonzero(x > bound if side == "upper" else x < bound))
    q = 1 - gamma if side == "upper" else gamma
    qci = quantile_ci(np.minimum(np.maximum(x, -1e300), 1e300), q)
    if side == "upper":
        slack = bound / qci.estimate if qci.estimate > 0 else math.inf
    else:
        slack = qci.estimate / bound if bound > 0 else math.inf
    upper = clopper_pearson(k, n, ROW_CONFIDENCE, "upper")[1]
    p_violation = float(stats.binom.sf(k - 1, n, gamma))  # P(K >= k | p = gamma)
    row = VerdictRow(
        claim, simulation, _params_json(parameters), statistic, "clopper-pearson", n,
        float(bound), gamma, qci.estimate, qci.low, qci.high, float(slack), k, upper,
        p_violation, p_violation, "", note, quantifier=str(quantifier), evidence=str(evidence),
        vacuous=bool(vacuous), kind=BOUND, bias=bias, side=side, level=alpha,
    )  # fmt: skip
    return _decide(row, alpha)


def universal_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    *,
    bound: float,
    gamma: float,
    side: str,
    witness=None,
    certified=None,
    search: str = "",
    alpha: float = DEFAULT_ALPHA,
    vacuous: bool = False,
    note: str = "",
) -> VerdictRow:
    """Verdict on "w.p. >= 1 - gamma, for every W in the ball, X(W) <= bound" (or >=).

    ``witness``: per replicate, X at a W of the ball found by ``search`` and verified exactly (a
    lower estimate of sup X, an upper estimate of inf X). ``certified``: per replicate, a proven
    bound on sup X (side upper) or inf X (side lower) over the whole ball. VIOLATED when the
    witnesses' exceedance test rejects (Holm-adjusted); HOLDS when the certificates' Clopper-Pearson
    upper limit is <= gamma; else INCONCLUSIVE ("no counterexample found by <search>").

    References: docs/theory.md ("Verdicts": universal claims).
    """
    check_choice("side", side, ("upper", "lower"))
    if witness is None and certified is None:
        raise UserInputError(f"{claim}: a universal verdict needs a witness or a certificate")
    alpha = _check_alpha(alpha)
    search_bias = "lower" if side == "upper" else "upper"
    cert_bias = "upper" if side == "upper" else "lower"
    w = (
        bound_verdict(claim, simulation, parameters, statistic, witness, bound, gamma, side, alpha,
                      bias=search_bias)
        if witness is not None else None
    )  # fmt: skip
    c = (
        bound_verdict(claim, simulation, parameters, statistic, certified, bound, gamma, side,
                      alpha, bias=cert_bias)
        if certified is not None else None
    )  # fmt: skip
    main = w if w is not None else c
    parts = [note]
    if w is not None:
        parts.append(f"search ({search or 'unnamed'}): {w.exceedances}/{w.n} witnesses exceed")
    if c is not None:
        parts.append(f"certificate: {c.exceedances}/{c.n} not certified")
    row = replace(
        main, kind=UNIVERSAL, quantifier=str(Quantifier.EVERY), bias="",
        exceed_ci_high=c.exceed_ci_high if c is not None else 1.0,
        p_value=w.p_value if w is not None else math.nan,
        p_adjusted=w.p_adjusted if w is not None else math.nan,
        test="+".join(t for t, r in (("witness", w), ("certificate", c)) if r is not None),
        uncertified=c.exceedances if c is not None else -1,
        vacuous=bool(vacuous), note="; ".join(filter(None, parts)),
    )  # fmt: skip
    return _decide(row, alpha)


# -- exact laws ----------------------------------------------------------------------------------


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
    *,
    evidence: str = Evidence.SAMPLED,
    quantifier: str = Quantifier.RANDOM,
    note: str = "",
) -> VerdictRow:
    """Verdict on an exact law or identity from a two-sided test's p-value (AGREES/DISAGREES).

    ``samples`` give the reported estimate (their mean with a t interval) and the power statement:
    for a KS test the CDF distance it would catch, otherwise the shift of the mean (from the
    samples' standard error). ``reference_mean`` is reported in the ``bound`` column.
    """
    alpha = _check_alpha(alpha)
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else math.inf
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) if n > 1 else math.inf
    p = float(p_value)
    if test.startswith(("z", "t")) and p < P_FLOOR:
        p = P_FLOOR  # a normal approximation does not resolve smaller tail probabilities
    row = VerdictRow(
        claim, simulation, _params_json(parameters), statistic, test, n, float(reference_mean),
        math.nan, mean, mean - half, mean + half, math.nan, -1, math.nan, p, p, "", note,
        quantifier=str(quantifier), evidence=str(evidence), kind=LAW,
        se=sd / math.sqrt(n) if n > 1 else math.inf, level=alpha,
    )  # fmt: skip
    return _decide(row, alpha)


# -- implied constants and rates ------------------------------------------------------------------


def implied_constant_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    fit,
    *,
    side: str,
    variable: str = "x",
    alpha: float = DEFAULT_ALPHA,
    min_points: int = 4,
    note: str = "",
    evidence: str = Evidence.SAMPLED,
    quantifier: str = Quantifier.RANDOM,
    bias: str = "",
) -> VerdictRow:
    """Verdict on an O / Omega / o claim through its implied constant.

    ``fit`` is a :class:`theorycheck.rates.RateFit` of the implied constant (the statistic divided
    by the claimed rate, e.g. t* sqrt(d), at the quantile the claim speaks about: 1 - gamma for a
    high-probability O-claim, gamma for Omega) over the LARGE END of the grid (the caller passes
    the last >= ``min_points`` grid points). ``side``: ``upper`` (O: the constant must stay
    bounded), ``lower`` (Omega: bounded away from 0), ``vanish`` (o: the ratio must go to 0).

    Decision (one-sided, slope s of log C on log x, bootstrap standard error se):
    O -- VIOLATED when s > FLAT_TOLERANCE significantly (Holm) and so is the last local slope
    (intersection-union: both must reject, so the level stays alpha): the constant grows at least
    like x^0.1 and is not levelling off; HOLDS when s + z_0.95 se <= FLAT_TOLERANCE. Omega mirrors
    it. A constant that approaches a finite limit slowly sits in between (INCONCLUSIVE): a
    finite grid cannot tell it from a slow divergence, so extend the grid (on exact samplers).
    o -- HOLDS when s + z_0.95 se < 0; a finite
    grid cannot refute an o-claim, so never VIOLATED. Fewer than ``min_points`` points: DESCRIPTIVE.
    ``bias`` as in :func:`bound_verdict`: the implied constant of a searched or particular W is a
    lower estimate of the constant a claim over every W needs, so it can refute, never confirm.

    References: docs/theory.md ("Verdicts": free constants).
    """
    check_choice("side", side, ("upper", "lower", "vanish"))
    check_choice("bias", bias, ("", "lower", "upper"))
    alpha = _check_alpha(alpha)
    parameters = {**parameters, "grid": [float(v) for v in fit.x]}
    k = len(fit.x)
    se = float(fit.se)
    slope = float(fit.exponent)
    constants = ", ".join(
        f"{variable}={num(x)}: {num(v)} [{num(lo)}, {num(hi)}]"
        for x, v, lo, hi in zip(fit.x, fit.values, fit.values_low, fit.values_high, strict=True)
    )
    text = f"implied constant ({fit.statistic}) {constants}; slope {slope:+.3f}"
    if math.isfinite(se):
        text += f" (se {se:.3f})"
    if k < min_points or not math.isfinite(se):
        why = f"{k} grid points < {min_points}" if k < min_points else "no finite interval"
        row = VerdictRow(
            claim, simulation, _params_json({**parameters, "over": variable}), statistic,
            "trend of the implied constant", int(np.sum(fit.n)), 0.0, math.nan, slope,
            math.nan, math.nan, math.nan, -1, math.nan, math.nan, math.nan,
            str(Verdict.DESCRIPTIVE), "; ".join(filter(None, (f"no verdict: {why}", text, note))),
            quantifier=str(quantifier), evidence=str(evidence), kind=IMPLIED, family="descriptive",
            side=side, se=se, bias=bias, constant=float(fit.values[-1]),
        )  # fmt: skip
        return row
    if side in ("upper", "lower"):
        sign = 1 if side == "upper" else -1
        # Growth (O) or decay (Omega) at least like x^FLAT_TOLERANCE over the large end and at
        # its last step: both must be significant (intersection-union test, level alpha).
        excess = sign * slope - FLAT_TOLERANCE
        p_trend = _sf(excess / se) if se > 0 else float(excess > 0)
        p_last = _local_p(fit.local_slopes[-1], sign, fit.level, FLAT_TOLERANCE)
        p = max(p_trend, p_last)
    else:
        p = math.nan
    z = stats.norm.ppf(ROW_CONFIDENCE)
    row = VerdictRow(
        claim, simulation, _params_json({**parameters, "over": variable}), statistic,
        "trend of the implied constant", int(np.sum(fit.n)), 0.0, math.nan, slope,
        slope - z * se, slope + z * se, math.nan, -1, math.nan, p, p, "",
        "; ".join(filter(None, (text, note))), quantifier=str(quantifier),
        evidence=str(evidence), kind=IMPLIED, side=side, se=se, level=alpha, bias=bias,
        constant=float(fit.values[-1]),
    )  # fmt: skip
    return _decide(row, alpha)


def _local_p(local, direction: int, level: float, margin: float = 0.0) -> float:
    """One-sided p-value that a local slope is > margin (direction +1) or < -margin (-1), from
    its normal bootstrap interval at ``level``."""
    lo, hi, s = local.ci_low, local.ci_high, local.estimate
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return 1.0
    se = (hi - lo) / (2 * stats.norm.isf((1 - level) / 2))
    return _sf((direction * s - margin) / se)


def _sf(z: float) -> float:
    return max(float(stats.norm.sf(z)), P_FLOOR)


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
    *,
    evidence: str = Evidence.SAMPLED,
    quantifier: str = Quantifier.RANDOM,
) -> VerdictRow:
    """A fitted rate "statistic ~ C variable^k" as a description (``DESCRIPTIVE``).

    Rates are tested through their implied constants (:func:`implied_constant_verdict`); the fitted
    slope and the local slopes are descriptions, outside the Holm family, with the claimed exponent
    beside them. A fit with fewer than 5 grid points or less than 1.5 decades says so.
    """
    from theorycheck.rates import check_kind  # rates never imports verdicts: no cycle

    check_kind(kind)
    tolerance = 0.0 if kind == "o" else check_real("tolerance", tolerance, low=0.0)
    z = float(stats.norm.ppf(1 - _check_alpha(alpha) / 2))
    if math.isfinite(fit.se):
        ci_low, ci_high = fit.exponent - z * fit.se, fit.exponent + z * fit.se
    else:
        ci_low, ci_high = -math.inf, math.inf
    x = np.asarray(fit.x, dtype=float)
    decades = float(np.log10(x.max() / x.min())) if x.size else 0.0
    params = {**parameters, "rate_kind": kind, "rate_tolerance": tolerance, "over": variable,
              "grid": [float(v) for v in fit.x]}  # fmt: skip
    hints = [f"claim {kind}({variable}^{exponent:g})"]
    if x.size < 5 or decades < 1.5:
        hints.append(f"{x.size} points over {decades:.2f} decades: too few for a rate verdict")
    hints.append(fit.describe(variable))
    return VerdictRow(
        claim, simulation, _params_json(params), statistic, RATE_TEST, int(np.sum(fit.n)),
        float(exponent), math.nan, float(fit.exponent), float(ci_low), float(ci_high), math.nan,
        -1, math.nan, math.nan, math.nan, str(Verdict.DESCRIPTIVE), "; ".join(hints),
        kind=RATE, family="descriptive", se=float(fit.se), evidence=str(evidence),
        quantifier=str(quantifier),
    )  # fmt: skip


# -- asymptotic formulas and monotone curves ------------------------------------------------------


def convergence_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    d,
    estimates,
    references,
    ses=None,
    *,
    alpha: float = DEFAULT_ALPHA,
    variable: str = "d",
    evidence: str = Evidence.EXACT,
    note: str = "",
) -> VerdictRow:
    """An asymptotic formula against finite-size values over >= 3 values of ``d``.

    gap_i = estimate_i - reference_i, with standard errors ``ses`` (0 or None for exact values).
    CONVERGES when the gap at the largest d is inside its 95% interval around 0 (stating that
    interval's half-width: the smallest gap it would have seen), or when |gap| shrinks at least
    like d^-CONVERGENCE_RATE at 95% over the grid (exactly, for exact values) and still shrinks
    at least like d^-CONVERGENCE_RATE/2 at its last step; DOES NOT CONVERGE when |gap| grows
    significantly (slope > 0, Holm) and the gap at the largest d is significant; else
    INCONCLUSIVE (a gap that does not shrink over the grid cannot be told apart from a slow
    convergence). With exact values the slope's standard error comes from the residuals of the
    fit (t with K - 2 degrees of freedom). References: docs/theory.md ("Verdicts": asymptotic
    reference formulas).
    """
    alpha = _check_alpha(alpha)
    d = np.asarray(d, dtype=float)
    est = np.asarray(estimates, dtype=float)
    ref = np.asarray(references, dtype=float) * np.ones_like(est)
    se = np.zeros_like(est) if ses is None else np.asarray(ses, dtype=float) * np.ones_like(est)
    if d.size < 3:
        raise UserInputError(f"{claim}: a convergence verdict needs >= 3 values of {variable}")
    order = np.argsort(d)
    d, est, ref, se = d[order], est[order], ref[order], se[order]
    gap = est - ref
    z95 = stats.norm.isf(0.025)
    inside_last = abs(gap[-1]) <= z95 * se[-1]
    agap = np.maximum(np.abs(gap), 1e-300)
    lx, ly = np.log(d), np.log(agap)
    if np.all(se > 0):
        w = (agap / se) ** 2  # delta method: se(log|gap|) = se / |gap|
    else:
        w = np.ones_like(agap)
    X = np.column_stack([np.ones_like(lx), lx])
    beta, *_ = np.linalg.lstsq(X * np.sqrt(w)[:, None], ly * np.sqrt(w), rcond=None)
    slope = float(beta[1])
    resid = (ly - X @ beta) * np.sqrt(w)
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    if np.all(se > 0):
        slope_se = math.sqrt(max(0.0, cov[1, 1]) * max(1.0, float(resid @ resid) / (d.size - 2)))
        dist = stats.norm
    else:
        slope_se = math.sqrt(max(0.0, cov[1, 1] * float(resid @ resid) / (d.size - 2)))
        dist = stats.t(d.size - 2)
    last = float((ly[-1] - ly[-2]) / (lx[-1] - lx[-2]))  # the last step's slope
    if np.all(se == 0):  # exact values: the gaps are what they are, no interval to take
        p_grow = 0.0 if slope > 0 and last > 0 else 1.0
        overall_fast = slope < -CONVERGENCE_RATE
    elif slope_se > 0:
        p_grow = max(float(dist.sf(slope / slope_se)), P_FLOOR)
        overall_fast = float(dist.isf(0.05)) * slope_se < -slope - CONVERGENCE_RATE
    else:
        p_grow = 0.0 if slope > 0 else 1.0
        overall_fast = slope < -CONVERGENCE_RATE
    # A gap that shrinks over the grid but has stopped shrinking at its end may be settling at a
    # nonzero value (a formula off by a few percent): the last step must still shrink at least
    # like d^-rate/2 (a point estimate: with a few blocks per d its interval is too wide to ask
    # for significance; the overall slope carries the 95% statement).
    last_fast = last < -CONVERGENCE_RATE / 2
    shrinks = overall_fast and last_fast
    significant_last = not inside_last
    p = p_grow if significant_last else 1.0
    gaps = ", ".join(f"{variable}={num(a)}: {g:+.3g}" for a, g in zip(d, gap, strict=True))
    text = f"gap {gaps}; log|gap| slope {slope:+.2f} (se {slope_se:.2f}), last step {last:+.2f}"
    if inside_last and se[-1] > 0:
        text += f"; at {variable}={num(d[-1])} a gap beyond {z95 * se[-1]:.3g} would have shown"
    row = VerdictRow(
        claim, simulation, _params_json({**parameters, "over": variable}), statistic,
        "convergence of the gap", d.size, float(ref[-1]), math.nan, float(est[-1]),
        float(est[-1] - z95 * se[-1]), float(est[-1] + z95 * se[-1]), math.nan, -1, math.nan,
        p, p, "", "; ".join(filter(None, (text, note))), evidence=str(evidence),
        kind=CONVERGENCE, se=slope_se, level=alpha,
        side="converged" if inside_last else ("shrinks" if shrinks else ""),
    )  # fmt: skip
    return _decide(row, alpha)


def monotone_verdict(
    claim: str,
    simulation: str,
    parameters: dict,
    statistic: str,
    x,
    estimates,
    ses,
    *,
    direction: int,
    alpha: float = DEFAULT_ALPHA,
    variable: str = "x",
    evidence: str = Evidence.SAMPLED,
    note: str = "",
) -> VerdictRow:
    """ "The curve is nondecreasing (direction +1) / nonincreasing (-1) in ``variable``" on
    estimated points with independent standard errors.

    Each step i -> i+1 is tested one-sided for a violation (z = -direction (y_{i+1} - y_i) /
    sqrt(se_i^2 + se_{i+1}^2)); the row's p-value is the smallest step p-value times the number of
    steps (Bonferroni), in the Holm family. VIOLATED when it is below alpha after Holm, else HOLDS
    with the smallest violation each step would have caught with power 0.9.

    References: docs/theory.md ("Verdicts": monotonicity).
    """
    alpha = _check_alpha(alpha)
    if direction not in (1, -1):
        raise UserInputError(f"direction must be +1 or -1, got {direction!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(estimates, dtype=float)
    s = np.asarray(ses, dtype=float) * np.ones_like(y)
    order = np.argsort(x)
    x, y, s = x[order], y[order], s[order]
    if x.size < 2:
        raise UserInputError(f"{claim}: a monotonicity verdict needs >= 2 points")
    diff = direction * np.diff(y)  # >= 0 where the claim holds
    step_se = np.sqrt(s[:-1] ** 2 + s[1:] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(step_se > 0, -diff / step_se, np.where(diff < 0, np.inf, -np.inf))
    p_steps = stats.norm.sf(zs)
    steps = diff.size
    p = float(min(1.0, steps * max(float(p_steps.min()), 0.0)))
    p = max(p, P_FLOOR) if np.all(step_se > 0) else p
    worst = int(np.argmin(diff))
    step = f"{variable} {num(x[worst])} -> {num(x[worst + 1])}"
    claimed, against = ("rises", "falls") if direction == 1 else ("falls", "rises")
    if diff[worst] < 0:
        text = f"largest step against the claim: {step}, the value {against} by "
    else:
        text = f"every step goes the claimed way; the smallest: {step}, the value {claimed} by "
    text += f"{num(abs(diff[worst]))} (se {num(step_se[worst])}); {steps} steps, Bonferroni"
    row = VerdictRow(
        claim, simulation, _params_json({**parameters, "over": variable}), statistic,
        "monotone steps (z, Bonferroni)", x.size, 0.0, math.nan, float(-diff[worst]),
        math.nan, math.nan, math.nan, -1, math.nan, p, p, "", "; ".join(filter(None, (text, note))),
        evidence=str(evidence), kind=MONOTONE, se=float(step_se.max()), level=alpha / steps,
    )  # fmt: skip
    return _decide(row, alpha)


# -- deterministic checks (no sampling) ---------------------------------------------------------


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
    evidence: str = Evidence.EXACT,
) -> VerdictRow:
    """A computed value against a reference that it must equal up to rounding (e.g. a fast path
    against an exact computation): AGREES if |estimate - reference| <= tolerance |reference| + atol.

    Deterministic: no p-value, outside Holm's family. Never use it for an asymptotic formula at
    finite d (:func:`convergence_verdict`) or a Monte Carlo estimate (:func:`law_verdict`).
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
        "; ".join(filter(None, (text, note))), evidence=str(evidence), kind=COMPARISON,
        family="deterministic", power=EXACT_POWER,
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
    evidence: str = Evidence.EXACT,
) -> VerdictRow:
    """A statement evaluated exactly (no sampling), e.g. where a width window is empty: HOLDS or
    VIOLATED, with the offending points in the note. Deterministic, outside Holm's family."""
    verdict = Verdict.HOLDS if holds else Verdict.VIOLATED
    return VerdictRow(
        claim, simulation, _params_json(parameters), statistic, STATEMENT_TEST, int(n),
        float(bound), math.nan, float(estimate), float(estimate), float(estimate), math.nan,
        -1, math.nan, math.nan, math.nan, str(verdict), note, evidence=str(evidence),
        kind=STATEMENT, family="deterministic", power=EXACT_POWER,
    )  # fmt: skip


def with_looks(row: VerdictRow, looks: int, alpha: float = DEFAULT_ALPHA) -> VerdictRow:
    """``row`` decided under a sequential design of ``looks`` looks (Bonferroni over the looks:
    p-value times ``looks``, Clopper-Pearson at 1 - 0.05 / ``looks``); re-deciding is stable."""
    if looks <= 1 or row.looks == looks or _kind(row) in DETERMINISTIC_KINDS:
        return row
    if row.family == "descriptive" or _kind(row) == RATE:
        return replace(row, looks=int(looks))
    factor = looks / row.looks
    p = min(1.0, row.p_value * factor) if math.isfinite(row.p_value) else row.p_value
    changes = {"p_value": p, "p_adjusted": p, "looks": int(looks)}
    if _kind(row) in (BOUND, UNIVERSAL):
        confidence = 1 - (1 - ROW_CONFIDENCE) / looks
        k = row.uncertified if _kind(row) == UNIVERSAL else row.exceedances
        if k >= 0:
            changes["exceed_ci_high"] = clopper_pearson(k, row.n, confidence, "upper")[1]
    level = row.level if math.isfinite(row.level) else alpha
    changes["level"] = level / factor
    return _decide(replace(row, **changes), alpha)


def description(row: VerdictRow, why: str) -> VerdictRow:
    """``row`` kept as a description (``DESCRIPTIVE``, outside the Holm family), saying ``why`` its
    evidence cannot decide the claim (e.g. an attack's lower estimate of a robust error on a
    particular W, for a claim over every W that needs a certificate either way)."""
    return replace(
        row, verdict=str(Verdict.DESCRIPTIVE), family="descriptive", power="",
        p_value=math.nan, p_adjusted=math.nan, note="; ".join(filter(None, (why, row.note))),
    )  # fmt: skip


def powered(row: VerdictRow, n: int, needed: int) -> VerdictRow:
    """``row``, or its :func:`description` when its ``n`` replicates are fewer than the ``needed``
    ones power asks (:func:`theorycheck.power.replicates_for_power`): a test that could neither
    hold nor fail with the stated power is not a verdict (docs/theory.md Sec. 6.2)."""
    if n >= needed:
        return row
    return description(row, f"n = {n} < the {needed} replicates power needs")


# -- the decision -------------------------------------------------------------------------------

_ENGINE_NOTE = re.compile(
    r"^(\d+/\d+ (exceed|fall below) the bound"
    r"|about \d+ (certified )?replicates in all would settle it"
    r"|the exceedance rate is at gamma; more replicates will not settle it"
    r"|no counterexample found[^;]*|an? (lower|upper) estimate cannot [^;]*|undecided: [^;]*)"
    r"(; )?"
)


def _without_engine_notes(note: str) -> str:
    """``note`` without the sentences an earlier decision wrote (Holm re-decides every row)."""
    previous = None
    while note != previous:
        previous, note = note, _ENGINE_NOTE.sub("", note)
    return note


def _kind(row: VerdictRow) -> str:
    """The decision kind; rows stored before kinds existed are recognised by their test."""
    if row.kind:
        return row.kind
    if row.test in DETERMINISTIC_TESTS:
        return COMPARISON if row.test == COMPARISON_TEST else STATEMENT
    if row.test == "clopper-pearson":
        return BOUND
    if row.test == RATE_TEST:
        return RATE
    return LAW


def _decide(row: VerdictRow, alpha: float) -> VerdictRow:
    kind = _kind(row)
    level = row.level if math.isfinite(row.level) else alpha
    if kind in DETERMINISTIC_KINDS:
        return row if row.power else replace(row, power=EXACT_POWER)
    if row.family == "descriptive" or kind == RATE:
        return row
    if kind in (BOUND, UNIVERSAL):
        return _decide_bound(row, alpha, level, kind)
    if kind == IMPLIED:
        return _decide_implied(row, alpha, level)
    if kind == CONVERGENCE:
        if row.p_adjusted < alpha:
            verdict = Verdict.DOES_NOT_CONVERGE
        elif row.side in ("converged", "shrinks"):
            verdict = Verdict.CONVERGES
        else:
            verdict = Verdict.INCONCLUSIVE
        half = (row.ci_high - row.ci_low) / 2
        power = (
            f"power: a gap beyond {half:.3g} at the largest {row.params().get('over', 'd')} "
            "(95%), or one shrinking slower than d^-1/2"
            if half > 0
            else "power: exact values; a gap shrinking slower than d^-1/2 reads INCONCLUSIVE"
        )
        return replace(row, verdict=str(verdict), power=power)
    if kind == MONOTONE:
        verdict = Verdict.VIOLATED if row.p_adjusted < alpha else Verdict.HOLDS
        power = f"power: a step against the claim of {mean_detectable(row.se, level):.3g} (0.9)"
        return replace(row, verdict=str(verdict), power=power)
    verdict = Verdict.DISAGREES if row.p_adjusted < alpha else Verdict.AGREES
    return replace(row, verdict=str(verdict), power=_law_power(row, level))


def _law_power(row: VerdictRow, level: float) -> str:
    if row.test.startswith("ks"):
        return f"power: a CDF distance of {ks_detectable(row.n, level):.3g} (0.9)"
    if not math.isfinite(row.se):
        return ""
    shift = mean_detectable(row.se, level)
    rel = ""
    if row.bound and math.isfinite(row.bound):
        rel = f" ({shift / abs(row.bound):.1%} of the mean)"
    return f"power: a shift of the mean by {shift:.3g}{rel} (0.9)"


def _decide_bound(row: VerdictRow, alpha: float, level: float, kind: str) -> VerdictRow:
    gamma = row.gamma
    if kind == UNIVERSAL:
        can_hold, can_violate = "certificate" in row.test, "witness" in row.test
    else:
        can_hold, can_violate = _can(row.side or "upper", row.bias)
    if can_violate and row.p_adjusted < alpha:
        broken = "fall below" if row.side == "lower" else "exceed"  # X >= B / X <= B
        verdict, text = Verdict.VIOLATED, f"{row.exceedances}/{row.n} {broken} the bound"
    elif can_hold and row.exceed_ci_high <= gamma:
        verdict, text = Verdict.HOLDS, ""
    else:
        verdict = Verdict.INCONCLUSIVE
        if kind == UNIVERSAL:
            text = "no counterexample found" if can_violate else "not certified"
            if can_hold:
                need = replicates_needed(
                    row.uncertified, row.n, gamma, 1 - (1 - ROW_CONFIDENCE) / row.looks
                )
                if row.uncertified / row.n < gamma and need < 10**8:
                    text += f"; about {need} certified replicates in all would settle it"
        elif not can_hold:
            text = f"{_article(row.bias)} estimate cannot show that the bound holds"
        elif not can_violate:
            text = f"{_article(row.bias)} estimate cannot show that the bound fails"
        else:
            text = _settle_text(row, alpha)
    confidence = 1 - (1 - ROW_CONFIDENCE) / row.looks
    power = binomial_power(row.n, gamma, level, confidence).text(can_hold, can_violate)
    detail = _without_engine_notes(row.note)
    evidence = row.evidence
    if kind == UNIVERSAL:  # what decided it: a verified witness, a certificate, or the search
        evidence = (
            Evidence.CERTIFIED if verdict == Verdict.HOLDS or not can_violate else Evidence.SEARCH
        )
    return replace(
        row, verdict=str(verdict), note="; ".join(filter(None, (text, detail))), power=power,
        evidence=str(evidence),
    )  # fmt: skip


def _settle_text(row: VerdictRow, alpha: float) -> str:
    confidence = 1 - (1 - ROW_CONFIDENCE) / row.looks
    need = replicates_needed(row.exceedances, row.n, row.gamma, confidence, alpha=alpha / row.looks)
    if need >= 10**8:
        return "the exceedance rate is at gamma; more replicates will not settle it"
    return f"about {need} replicates in all would settle it"


def _decide_implied(row: VerdictRow, alpha: float, level: float) -> VerdictRow:
    z = stats.norm.ppf(ROW_CONFIDENCE)
    hi, lo = row.estimate + z * row.se, row.estimate - z * row.se
    can_hold, can_violate = _can("upper" if row.side == "vanish" else row.side, row.bias)
    note = _without_engine_notes(row.note)
    if row.side in ("upper", "lower") and can_violate and row.p_adjusted < alpha:
        verdict = Verdict.VIOLATED
    elif can_hold and (
        (row.side == "upper" and hi <= FLAT_TOLERANCE)
        or (row.side == "lower" and lo >= -FLAT_TOLERANCE)
        or (row.side == "vanish" and hi < 0)
    ):
        verdict = Verdict.HOLDS
    else:
        verdict = Verdict.INCONCLUSIVE
        if not can_hold:
            why = f"{_article(row.bias)} estimate cannot show the claim"
            note = f"no counterexample found: {why}; {note}"
        elif can_hold and can_violate:
            note = "; ".join(filter(None, (_undecided_slope(row, hi, lo), note)))
    what = {"upper": "growth", "lower": "decay", "vanish": "decay"}[row.side]
    power = f"power: a {what} like x^{slope_detectable(row.se, level):.2g} of the constant (0.9)"
    return replace(row, verdict=str(verdict), power=power, note=note)


def _undecided_slope(row: VerdictRow, hi: float, lo: float) -> str:
    """Why an implied constant that could go either way is INCONCLUSIVE, in words."""
    if row.side == "vanish":
        return f"undecided: the slope's 95% upper limit {hi:+.2f} is not below 0"
    sign = 1 if row.side == "upper" else -1
    trend = {1: "grows", -1: "falls"}[sign]
    if sign * row.estimate > FLAT_TOLERANCE:
        return (
            f"undecided: the constant {trend} (slope {row.estimate:+.2f}), but not significantly "
            f"faster than x^{sign * FLAT_TOLERANCE:+.1f} both overall and at the last step "
            "(it may be levelling off, a longer grid would settle it)"
        )
    limit = hi if sign == 1 else lo
    return (
        f"undecided: the slope's 95% limit {limit:+.2f} is beyond {sign * FLAT_TOLERANCE:+.1f} "
        "(more replicates or grid points would settle it)"
    )


# -- the family ----------------------------------------------------------------------------------


def in_family(row: VerdictRow) -> bool:
    """Whether a row is a confirmatory test of the Holm family (it has a rejecting p-value)."""
    return (
        row.family == "confirmatory"
        and _kind(row) not in DETERMINISTIC_KINDS
        and _kind(row) != RATE
        and math.isfinite(row.p_value)
    )


def apply_holm(rows: list[VerdictRow], alpha: float = DEFAULT_ALPHA) -> list[VerdictRow]:
    """Holm step-down adjustment over the confirmatory rows; every row is re-decided.

    Holm (1979): sort the M p-values, p_adj(i) = max_{j<=i} min(1, (M - j + 1) p_(j)). Controls
    the family-wise error of all refutations (VIOLATED, DISAGREES, DOES NOT CONVERGE) at ``alpha``.
    Each row's ``level`` becomes alpha / M, the worst case at which its power is stated.
    """
    alpha = _check_alpha(alpha)
    if not rows:
        return []
    tested = [i for i, r in enumerate(rows) if in_family(r)]
    p = np.array([rows[i].p_value for i in tested])
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    out = list(rows)
    for i, pa in zip(tested, adj, strict=True):
        r = rows[i]
        steps = _steps(r)
        level = alpha / m / steps / r.looks
        out[i] = _decide(replace(r, p_adjusted=float(pa), level=level), alpha)
    return out


def _steps(row: VerdictRow) -> int:
    """Bonferroni factor inside a row (a monotone row tests each of its steps)."""
    return max(1, row.n - 1) if _kind(row) == MONOTONE else 1


def family_size(rows: Sequence[VerdictRow]) -> int:
    return sum(in_family(r) for r in rows)


# -- conditions and frames ------------------------------------------------------------------------


def with_conditions(
    rows: list[VerdictRow], conditions: Callable[[str, dict], bool | None]
) -> list[VerdictRow]:
    """Record at each row whether its claim's conditions hold at the row's grid point.

    ``conditions(claim, parameters)`` returns True (inside), False (outside) or None (unknown: the
    statement has no conditions beyond its parameter domains, or the row's parameters do not
    determine them). The composition root builds it from the bounds registry
    (``Bound.conditions``), so this module never imports ``bounds``.
    """
    out = []
    for r in rows:
        holds = conditions(r.claim, r.params())
        word = "unknown" if holds is None else "inside" if bool(holds) else "outside"
        out.append(replace(r, conditions=word))
    return out


_FIELDS = tuple(f.name for f in fields(VerdictRow))


def verdict_frame(rows: Sequence[VerdictRow]) -> pd.DataFrame:
    """Verdict rows as a tidy DataFrame: every field, then one column per parameter (a parameter
    whose name is also a field's is stored as ``param_<name>``)."""
    base = pd.DataFrame([asdict(r) for r in rows], columns=list(_FIELDS))
    params = [_flat(r.params()) for r in rows]
    names = sorted({k for p in params for k in p})
    for name in names:
        col = f"param_{name}" if name in _FIELDS else name
        base[col] = pd.Series([p.get(name) for p in params], dtype=_dtype(params, name))
    return base


def _flat(params: dict) -> dict:
    return {k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in params.items()}


def _dtype(params: list[dict], name: str):
    values = [p[name] for p in params if name in p and p[name] is not None]
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float64"
    return "string"


def rows_from_frame(df: pd.DataFrame) -> list[VerdictRow]:
    """The rows of a stored verdict table (its parameter columns are ignored: ``parameters``
    holds them)."""
    present = [f for f in _FIELDS if f in df.columns]
    out = []
    for rec in df[present].to_dict("records"):
        rec = {k: v for k, v in rec.items() if not (v is None or v is pd.NA)}
        if "conditions" in rec:
            rec["conditions"] = _OLD_CONDITIONS.get(rec["conditions"], rec["conditions"])
        out.append(VerdictRow(**rec))
    return out


_OLD_CONDITIONS = {"hold": "inside", "fail": "outside", "n/a": "unknown"}


def _check_alpha(alpha) -> float:
    return check_real("alpha", alpha, low=0.0, high=0.5, low_open=True)


def _article(bias: str) -> str:
    return {"upper": "an upper", "lower": "a lower"}.get(bias, "an")
