"""Power of the verdict engine's tests: what a row could have detected (docs/theory.md, "Verdicts").

A HOLDS or AGREES is worth only as much as the test's power: every such row states the smallest
deviation it would have caught. These functions are exact for the binomial tests and use the
Dvoretzky-Kiefer-Wolfowitz inequality (Massart 1990) for Kolmogorov-Smirnov, so the stated powers
are lower bounds, never approximations that flatter the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from theorycheck.errors import check_int, check_real
from theorycheck.stats import smallest_n

__all__ = [
    "DESIGN_LEVEL",
    "BinomialPower",
    "binomial_power",
    "hold_threshold",
    "ks_detectable",
    "mean_detectable",
    "replicates_for_power",
    "slope_detectable",
    "violation_threshold",
]

#: The power every "would have caught" statement refers to.
STATED_POWER = 0.9
#: The level sample sizes are designed for: the worst case of one row in a Holm family of about
#: 1000 confirmatory rows (the quick profile's), alpha / 1000 with alpha = 0.05.
DESIGN_LEVEL = 0.05 / 1000


def hold_threshold(n: int, gamma: float, confidence: float) -> int:
    """Largest k whose one-sided Clopper-Pearson upper limit (at ``confidence``) is <= gamma, or -1.

    The upper limit of k exceedances in n is the ``confidence`` quantile of Beta(k + 1, n - k),
    increasing in k, so HOLDS is decided exactly when K <= this threshold.
    """
    n = check_int("n", n)
    lo, hi = -1, n  # invariant: limit(lo) <= gamma (or lo = -1), limit(hi) > gamma
    if _cp_upper(n - 1, n, confidence) <= gamma:
        return n - 1 if _cp_upper(n, n, confidence) > gamma else n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _cp_upper(mid, n, confidence) <= gamma:
            lo = mid
        else:
            hi = mid
    return lo


def _cp_upper(k: int, n: int, confidence: float) -> float:
    return 1.0 if k >= n else float(stats.beta.ppf(confidence, k + 1, n - k))


def violation_threshold(n: int, gamma: float, level: float) -> int:
    """Smallest k with P(K >= k | p = gamma) < level (the exceedance test rejects), or n + 1."""
    n = check_int("n", n)
    # binom.isf: the smallest k0 with P(K > k0) <= level; then settle the strict inequality.
    k = int(stats.binom.isf(level, n, gamma)) + 1
    k = max(0, min(k, n + 1))
    while k > 0 and stats.binom.sf(k - 2, n, gamma) < level:
        k -= 1
    while k <= n and not stats.binom.sf(k - 1, n, gamma) < level:
        k += 1
    return k


@dataclass(frozen=True)
class BinomialPower:
    """The chances of a high-probability-bound row at its sample size.

    ``holds``: P(the row reads HOLDS) when the true exceedance rate is gamma/2;
    ``violated``: P(the row reads VIOLATED) when the true rate is 2 gamma, at the row's level
    (the Holm family's worst case alpha / family size once the family is known).
    """

    n: int
    gamma: float
    level: float
    holds: float
    violated: float

    def text(self, can_hold: bool = True, can_violate: bool = True) -> str:
        parts = []
        if can_violate:
            parts.append(f"VIOLATED at rate 2 gamma w.p. {self.violated:.2f}")
        if can_hold:
            parts.append(f"HOLDS at rate gamma/2 w.p. {self.holds:.2f}")
        return "power: " + ", ".join(parts) + f" (n = {self.n}, level {self.level:.2g})"


def binomial_power(n: int, gamma: float, level: float, confidence: float = 0.95) -> BinomialPower:
    """Exact power of the exceedance tests of a bound row with n replicates.

    References: Clopper & Pearson (1934); the decision rule of docs/theory.md ("Verdicts").
    """
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    k_hold = hold_threshold(n, gamma, confidence)
    holds = float(stats.binom.cdf(k_hold, n, gamma / 2)) if k_hold >= 0 else 0.0
    k_vio = violation_threshold(n, gamma, level)
    violated = float(stats.binom.sf(k_vio - 1, n, min(1.0, 2 * gamma))) if k_vio <= n else 0.0
    return BinomialPower(n, gamma, level, holds, violated)


def replicates_for_power(
    gamma: float,
    level: float = DESIGN_LEVEL,
    beta: float = 0.01,
    confidence: float = 0.95,
    cap: int = 10**6,
) -> int:
    """Smallest n (on a doubling-then-bisection search) at which HOLDS is reached w.p. >= 1 - beta
    at rate gamma/2 and VIOLATED w.p. >= 1 - beta at rate 2 gamma, at ``level``.

    Both powers are monotone in n up to the lattice wiggles of the binomial; the search returns
    the first n of its sequence that meets both, which is what a design needs.
    """
    beta = check_real("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)

    def ok(n: int) -> bool:
        p = binomial_power(n, gamma, level, confidence)
        return p.holds >= 1 - beta and p.violated >= 1 - beta

    return smallest_n(ok, 16, cap, resolution=50)


def mean_detectable(se: float, level: float, power: float = STATED_POWER) -> float:
    """Smallest shift of a mean a two-sided z-test at ``level`` detects with ``power``:
    (z_{1 - level/2} + z_power) * se."""
    return (stats.norm.isf(level / 2) + stats.norm.ppf(power)) * float(se)


def ks_detectable(n: int, level: float, power: float = STATED_POWER) -> float:
    """A sup-distance between the sample's law and the reference that a one-sample KS test at
    ``level`` detects with probability >= ``power``.

    If sup|F - F0| = D, then D_n >= D - sup|F_n - F| and, by the DKW inequality with Massart's
    constant, sup|F_n - F| <= sqrt(log(2 / (1 - power)) / (2 n)) with probability >= power; the
    test rejects once D_n exceeds its critical value, so D = critical + that margin suffices.
    """
    n = check_int("n", n)
    critical = float(stats.kstwo.isf(level, n))
    return min(1.0, critical + math.sqrt(math.log(2 / (1 - power)) / (2 * n)))


def slope_detectable(se: float, level: float, power: float = STATED_POWER) -> float:
    """Smallest log-log slope a one-sided z-test at ``level`` detects with ``power``."""
    return (stats.norm.isf(level) + stats.norm.ppf(power)) * float(se)
