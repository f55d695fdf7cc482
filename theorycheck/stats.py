"""Confidence intervals and tests used by the verdict engine (docs/theory.md Sec. 6).

Results are small frozen objects, in the manner of ``scipy.stats.BinomTestResult``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from theorycheck.errors import UserInputError, check_real

__all__ = [
    "Interval",
    "binomial_total_test",
    "clopper_pearson",
    "ks_test",
    "mean_ci",
    "mean_z_test",
    "quantile_ci",
    "replicates_needed",
    "smallest_n",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _sample(x) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    if x.size == 0:
        raise UserInputError("need at least one sample")
    if not np.all(np.isfinite(x)):
        raise FloatingPointError("samples contain NaN or infinity")
    return x


def mean_ci(x, level: float = 0.95) -> Interval:
    """Student-t interval for the mean (n >= 2)."""
    x = _sample(x)
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    if x.size < 2:
        raise UserInputError("mean_ci needs at least two samples")
    mean = float(x.mean())
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half, level)


def quantile_ci(x, q: float, level: float = 0.95) -> Interval:
    """Distribution-free interval for the q-quantile from order statistics.

    The number of samples below the true quantile is Bin(n, q); the interval is
    [x_(l), x_(u)] with l, u the binomial (1-level)/2 and (1+level)/2 quantiles (conservative).
    Ends beyond the sample are reported as -inf / +inf.
    """
    x = np.sort(_sample(x))
    q = check_real("q", q, low=0.0, high=1.0, low_open=True, high_open=True)
    n = x.size
    alpha = 1 - level
    lo = int(stats.binom.ppf(alpha / 2, n, q)) - 1
    hi = int(stats.binom.ppf(1 - alpha / 2, n, q))
    est = float(np.quantile(x, q, method="inverted_cdf"))
    return Interval(est, float(x[lo]) if lo >= 0 else -math.inf,
                    float(x[hi]) if hi < n else math.inf, level)  # fmt: skip


def clopper_pearson(k: int, n: int, level: float = 0.95, side: str = "two-sided"):
    """Clopper-Pearson limits for a binomial proportion k/n.

    ``side='upper'`` gives the one-sided (0, upper] interval, ``'lower'`` gives [lower, 1).
    Returns (low, high).
    """
    if not 0 <= k <= n or n < 1:
        raise UserInputError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    alpha = 1 - level if side != "two-sided" else (1 - level) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha, k + 1, n - k))
    if side == "upper":
        return 0.0, high
    if side == "lower":
        return low, 1.0
    return low, high


def replicates_needed(
    k: int, n: int, gamma: float, level: float = 0.95, cap: int = 10**8, *, alpha: float = 0.05
) -> int:
    """Replicates in all that would settle a bound row if its exceedance rate stayed at k/n.

    * k/n < gamma: the n' at which the one-sided CP upper limit (at ``level``) falls to gamma
      (with k = 0: 1 - (1 - level)^(1/n') <= gamma), so the row reads HOLDS;
    * k/n > gamma: the n' at which P(K' >= k/n n' | gamma) < ``alpha``, so it reads VIOLATED;
    * k/n = gamma: ``cap`` (no number of replicates settles a rate that sits at gamma).
    """
    if k == 0:
        return max(n, math.ceil(math.log(1 - level) / math.log1p(-gamma)))
    rate = k / n
    if rate == gamma:
        return cap
    if rate < gamma:

        def settled(size: int) -> bool:
            return clopper_pearson(round(rate * size), size, level, "upper")[1] <= gamma
    else:

        def settled(size: int) -> bool:
            return float(stats.binom.sf(math.ceil(rate * size) - 1, size, gamma)) < alpha

    return smallest_n(settled, n, cap)


def smallest_n(ok: Callable[[int], bool], start: int, cap: int, resolution: int = 100) -> int:
    """The first n >= ``start`` found by doubling then bisecting at which ``ok(n)`` holds, to
    within 1/``resolution`` of n; ``cap`` if doubling passes it. ``ok`` should be monotone up to
    lattice wiggles (binomial tests are), which is all a sample-size design needs."""
    lo, hi = start, start
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > cap:
            return cap
    while hi - lo > max(1, lo // resolution):
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def ks_test(x, cdf: Callable[[np.ndarray], np.ndarray], *, integer: bool = False) -> float:
    """Two-sided one-sample Kolmogorov-Smirnov p-value against ``cdf``.

    For a law on the integers pass ``integer=True``: the statistic is then the exact
    sup_t |F_n(t) - F(t)| of two step functions (evaluated on every integer of the sample's range,
    where both are constant in between) and the p-value from the continuous null distribution is
    conservative (Noether 1963). scipy's ``ks_1samp`` must not be used there: it compares
    F(x_(i)) with (i-1)/n, counting the atom at x_(i) against the sample, and rejects correct
    discrete laws (every sample equal to an atom of mass 0.99 gives D = 1).
    """
    x = _sample(x)
    if not integer:
        return float(stats.ks_1samp(x, cdf).pvalue)
    if np.any(x != np.round(x)):
        raise UserInputError("integer=True needs integer-valued samples")
    n = x.size
    grid = np.arange(x.min() - 1, x.max() + 1)
    ecdf = np.searchsorted(np.sort(x), grid, side="right") / n
    D = float(np.max(np.abs(ecdf - np.asarray(cdf(grid), dtype=float))))
    return float(stats.kstwo.sf(D, n))


def binomial_total_test(successes: int, trials: int, p: float) -> float:
    """Exact two-sided binomial test of ``successes`` out of ``trials`` against probability p."""
    return float(stats.binomtest(int(successes), int(trials), float(p)).pvalue)


def mean_z_test(x, mean: float, variance: float | None = None) -> float:
    """Two-sided z-test p-value of the sample mean against ``mean``.

    With ``variance`` given (the exact law's variance) the test is exact up to the CLT; otherwise
    the sample variance is used.
    """
    x = _sample(x)
    var = float(x.var(ddof=1)) if variance is None else float(variance)
    if var <= 0:
        return 1.0 if float(x.mean()) == mean else 0.0
    z = (float(x.mean()) - mean) / math.sqrt(var / x.size)
    return float(2 * stats.norm.sf(abs(z)))
