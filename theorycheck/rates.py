"""Rate fits (docs/theory.md Sec. 6): log-log slopes with stratified bootstrap CIs, local slopes,
implied constants.

A rate claim "S(x) in Theta(x^k)" (or O(x^k), Omega(x^k), o(x^k)) is checked on a grid
x_1 < ... < x_K with independent replicates at every grid point:

* the per-grid-point statistic y_i (mean, median or a q-quantile of the replicates at x_i) is
  fitted by least squares on the log-log scale, log y_i = log C + k log x_i; the slope k is the
  fitted exponent and C the fitted constant;
* the uncertainty comes from a *stratified* bootstrap (Efron & Tibshirani 1993, Sec. 8.3):
  replicates are resampled with replacement within each grid point, never across, so every
  bootstrap grid keeps its design; each bootstrap grid is refitted;
* the interval is the normal bootstrap interval k_hat +- z_{1-alpha/2} se_boot (Efron &
  Tibshirani 1993, Sec. 13.3) rather than the percentile interval, so that the interval and the
  p-value of :meth:`RateFit.p_value` are dual (the p-value is below alpha exactly when the
  interval excludes the value) and p-values are not floored at 1/n_boot — Holm's adjustment over
  a run of many tests needs p-values far below 1/n_boot;
* local slopes between neighbouring grid points, with intervals from the same bootstrap, show
  where on the grid the rate is (or is not yet) asymptotic.

An O-claim's implied constant (docs/theory.md Sec. 5) is statistic / rate at each grid point:
:func:`implied_constant` fits it like any statistic, and the claim's constant "stays bounded"
when the fitted slope of the implied constant is not above 0.

This module only estimates; the verdict on a fit is decided by the one verdict engine,
:func:`theorycheck.verdicts.rate_verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from theorycheck.errors import UserInputError, check_int, check_real
from theorycheck.numbers import num

__all__ = [
    "RATE_KINDS",
    "LocalSlope",
    "RateFit",
    "fit_rate",
    "implied_constant",
]

#: Kinds of rate claims: Theta (exponent = k up to the tolerance), O (exponent <= k + tol),
#: Omega (exponent >= k - tol) and o (exponent < k: the fitted slope must be shown below k).
RATE_KINDS = ("Theta", "O", "Omega", "o")

#: Bootstrap resampling works on blocks of at most this many resampled values at a time.
_BLOCK_VALUES = 2_000_000


@dataclass(frozen=True)
class LocalSlope:
    """The log-log slope between two neighbouring grid points, with its bootstrap interval."""

    x_low: float
    x_high: float
    estimate: float
    ci_low: float
    ci_high: float

    @property
    def x_mid(self) -> float:
        """Geometric midpoint of the two grid points (where a log-x plot shows the slope)."""
        return math.sqrt(self.x_low * self.x_high)


@dataclass(frozen=True)
class RateFit:
    """A fitted power law S(x) ~ constant * x^exponent with a stratified bootstrap.

    Attributes
    ----------
    x : the grid (increasing).
    values : the statistic at each grid point; ``values_low``/``values_high`` its bootstrap
        percentile interval at ``level``.
    n : replicates at each grid point.
    statistic : ``mean``, ``median`` or ``quantile q``.
    exponent, se : fitted log-log slope and its bootstrap standard error.
    ci_low, ci_high : normal bootstrap interval of the exponent at ``level`` (infinite when a
        bootstrap grid had a non-positive statistic: no log-log fit exists there).
    constant : exp(intercept), so that S(x) ~ constant * x^exponent on the grid.
    local_slopes : slopes between neighbouring grid points.
    n_boot : bootstrap replicates; ``invalid_boot`` of them had a non-positive statistic.
    """

    x: np.ndarray
    values: np.ndarray
    values_low: np.ndarray
    values_high: np.ndarray
    n: np.ndarray
    statistic: str
    exponent: float
    se: float
    ci_low: float
    ci_high: float
    constant: float
    local_slopes: tuple[LocalSlope, ...]
    level: float
    n_boot: int
    invalid_boot: int = 0

    def p_value(self, exponent: float, kind: str = "Theta", tolerance: float = 0.0) -> float:
        """p-value of the test that would refute the claim "exponent is k (kind) up to tol".

        With Z = (k_hat - k) / se approximately N(0, 1) under the bootstrap (normal) approximation:

        * O (claim: slope <= k + tol): p = P(N(0,1) >= (k_hat - k - tol) / se), one-sided;
        * Omega (claim: slope >= k - tol): p = P(N(0,1) >= (k - tol - k_hat) / se);
        * o (claim: slope < k): as O with tol = 0;
        * Theta (claim: |slope - k| <= tol): the p-value of D = |k_hat - k| at the least
          favourable point of the null, slope = k +- tol:
          p = P(N >= (D - tol)/se) + P(N >= (D + tol)/se); with tol = 0 the usual two-sided
          2 P(N >= D/se).
        """
        check_kind(kind)
        tolerance = check_real("tolerance", tolerance, low=0.0)
        if kind == "o":
            tolerance = 0.0
        se = self.se
        if not math.isfinite(se):
            return 1.0  # no interval, no evidence against the claim
        diff = self.exponent - exponent
        if se == 0.0:
            if kind in ("O", "o"):
                return 0.0 if diff > tolerance else 1.0
            if kind == "Omega":
                return 0.0 if -diff > tolerance else 1.0
            return 0.0 if abs(diff) > tolerance else 1.0
        if kind in ("O", "o"):
            return float(stats.norm.sf((diff - tolerance) / se))
        if kind == "Omega":
            return float(stats.norm.sf((-diff - tolerance) / se))
        D = abs(diff)
        p = stats.norm.sf((D - tolerance) / se) + stats.norm.sf((D + tolerance) / se)
        return float(min(1.0, p))

    def frame(self) -> pd.DataFrame:
        """The statistic per grid point with its interval and the fitted power law."""
        return pd.DataFrame({
            "x": self.x, "n": self.n, "estimate": self.values, "ci_low": self.values_low,
            "ci_high": self.values_high, "fitted": self.constant * self.x**self.exponent,
        })  # fmt: skip

    def local_slope_frame(self) -> pd.DataFrame:
        """Local slopes at the geometric midpoints of neighbouring grid points."""
        return pd.DataFrame({
            "x": [s.x_mid for s in self.local_slopes],
            "x_low": [s.x_low for s in self.local_slopes],
            "x_high": [s.x_high for s in self.local_slopes],
            "estimate": [s.estimate for s in self.local_slopes],
            "ci_low": [s.ci_low for s in self.local_slopes],
            "ci_high": [s.ci_high for s in self.local_slopes],
        })  # fmt: skip

    def summary_rows(
        self, base: dict, local: bool = False, verdict=None, points: bool = True
    ) -> list[dict]:
        """Rows for a simulation's summary table (theorycheck.simulation.FigureSpec format).

        One row per grid point (the statistic with its bootstrap interval) or, with ``local``, one
        per pair of neighbouring grid points (the local slope at their geometric midpoint);
        ``base`` (figure, panel, series, reference, ...) is merged into every row.

        ``verdict``, the :func:`theorycheck.verdicts.rate_verdict` row of this fit, marks the
        series as fitted (grid-point rows only): the rows gain the fitted power law
        ``fitted`` = constant x^exponent and the row's identity ``rate_claim``,
        ``rate_statistic``, ``rate_parameters``, so the report draws the fit and labels it with
        the verdict's exponent, interval and claimed exponent. ``points=False`` leaves the
        statistic out (NaN) when the figure's points come from other rows of the same series.
        """
        frame = self.local_slope_frame() if local else self.frame()
        rows = [
            {**base, "x": float(r.x), "estimate": float(r.estimate), "ci_low": float(r.ci_low),
             "ci_high": float(r.ci_high)}
            for r in frame.itertuples()
        ]  # fmt: skip
        if not points:
            for row in rows:
                row.update(estimate=math.nan, ci_low=math.nan, ci_high=math.nan)
        if verdict is not None and not local:
            for row, fitted in zip(rows, frame["fitted"], strict=True):
                row.update(fitted=float(fitted), rate_claim=verdict.claim,
                           rate_statistic=verdict.statistic,
                           rate_parameters=verdict.parameters)  # fmt: skip
        return rows

    def describe(self, variable: str = "x") -> str:
        """One line: exponent with CI, constant, local slopes (for verdict notes)."""
        local = ", ".join(
            f"{num(s.x_low)}-{num(s.x_high)}: {s.estimate:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]"
            for s in self.local_slopes
        )
        text = (
            f"{self.statistic} ~ {self.constant:.4g} {variable}^{self.exponent:.3f} "
            f"(se {self.se:.3g}); local slopes {local}"
        )
        if self.invalid_boot:
            text += (
                f"; {self.invalid_boot}/{self.n_boot} bootstrap grids had a non-positive "
                "statistic, so no interval"
            )
        return text


def check_kind(kind: str) -> str:
    """Validate a rate-claim kind (:data:`RATE_KINDS`)."""
    if kind not in RATE_KINDS:
        raise UserInputError(f"kind must be one of {', '.join(RATE_KINDS)}; got {kind!r}")
    return kind


def _parse_statistic(statistic) -> tuple[str, float | None]:
    if statistic in ("mean", "median"):
        return str(statistic), None
    if isinstance(statistic, str) and statistic.startswith("quantile"):
        statistic = statistic.split()[-1]
    try:
        q = float(statistic)
    except (TypeError, ValueError):
        raise UserInputError(
            f"statistic must be 'mean', 'median' or a quantile level in (0, 1); got {statistic!r}"
        ) from None
    q = check_real("statistic (quantile level)", q, low=0.0, high=1.0, low_open=True,
                   high_open=True)  # fmt: skip
    return f"quantile {q:g}", q


def _reduce(values: np.ndarray, kind: str, q: float | None) -> np.ndarray:
    """The statistic along the last axis."""
    if kind == "mean":
        return values.mean(axis=-1)
    if kind == "median":
        return np.median(values, axis=-1)
    return np.quantile(values, q, axis=-1)


def fit_rate(
    x,
    samples_by_x: Sequence,
    rng: np.random.Generator,
    n_boot: int = 1000,
    statistic="mean",
    level: float = 0.95,
) -> RateFit:
    """Fit S(x) ~ C x^k to replicates at each grid point, with a stratified bootstrap.

    Parameters
    ----------
    x : grid values (positive, distinct; at least two).
    samples_by_x : one 1-D array of replicates per grid point (independent across points).
    rng : the generator for the bootstrap (from :func:`theorycheck.seeding.generator`).
    n_boot : bootstrap replicates.
    statistic : ``"mean"``, ``"median"`` or a quantile level q in (0, 1) (also ``"quantile q"``).
    level : confidence level of the intervals.

    Returns
    -------
    RateFit

    References
    ----------
    docs/theory.md Sec. 6 (rates); Efron & Tibshirani (1993), *An Introduction to the Bootstrap*,
    Sec. 8.3 (stratified resampling) and Sec. 13.3 (normal interval).
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        raise UserInputError("a rate fit needs at least two grid points")
    if len(samples_by_x) != x.size:
        raise UserInputError(
            f"samples_by_x has {len(samples_by_x)} groups for {x.size} grid points"
        )
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise UserInputError("rate-fit grid values x must be finite and positive")
    order = np.argsort(x, kind="stable")
    x = x[order]
    if np.any(np.diff(x) == 0):
        raise UserInputError("rate-fit grid values x must be distinct")
    groups = [np.asarray(samples_by_x[i], dtype=float).ravel() for i in order]
    for xi, g in zip(x, groups, strict=True):
        if g.size == 0:
            raise UserInputError(f"no replicates at grid point x = {xi:g}")
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(f"replicates at x = {xi:g} contain NaN or infinity")
    n_boot = check_int("n_boot", n_boot, minimum=2)
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    kind, q = _parse_statistic(statistic)

    values = np.array([float(_reduce(g, kind, q)) for g in groups])
    if np.any(values <= 0):
        bad = x[values <= 0][0]
        raise UserInputError(
            f"the {kind} at x = {bad:g} is not positive: a log-log rate fit needs positive "
            "statistics"
        )
    # Stratified bootstrap: resample within each grid point; boot[b, i] is grid point i's
    # statistic in bootstrap grid b.
    boot = np.empty((n_boot, x.size))
    for i, g in enumerate(groups):
        chunk = max(1, _BLOCK_VALUES // g.size)
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, g.size, size=(stop - start, g.size))
            boot[start:stop, i] = _reduce(g[idx], kind, q)
    valid = np.all(boot > 0, axis=1)
    invalid = int(n_boot - np.count_nonzero(valid))

    lx = np.log(x)
    slope, intercept = _ols(lx, np.log(values))
    z = float(stats.norm.ppf(0.5 + level / 2))
    alpha_half = (1 - level) / 2
    with np.errstate(divide="ignore"):
        lboot = np.log(np.where(boot > 0, boot, np.nan))
    if invalid:
        se = math.inf
        ci = (-math.inf, math.inf)
    else:
        se = float(np.std(_ols_slopes(lx, lboot), ddof=1))
        ci = (slope - z * se, slope + z * se)
    local = []
    for i in range(x.size - 1):
        dlx = lx[i + 1] - lx[i]
        est = (math.log(values[i + 1]) - math.log(values[i])) / dlx
        if invalid:
            lo, hi = -math.inf, math.inf
        else:
            s_se = float(np.std((lboot[:, i + 1] - lboot[:, i]) / dlx, ddof=1))
            lo, hi = est - z * s_se, est + z * s_se
        local.append(LocalSlope(float(x[i]), float(x[i + 1]), float(est), lo, hi))
    vlo = np.nanquantile(np.where(boot > 0, boot, np.nan), alpha_half, axis=0)
    vhi = np.nanquantile(np.where(boot > 0, boot, np.nan), 1 - alpha_half, axis=0)
    return RateFit(
        x=x, values=values, values_low=vlo, values_high=vhi,
        n=np.array([g.size for g in groups]), statistic=kind, exponent=float(slope),
        se=se, ci_low=float(ci[0]), ci_high=float(ci[1]), constant=float(math.exp(intercept)),
        local_slopes=tuple(local), level=level, n_boot=n_boot, invalid_boot=invalid,
    )  # fmt: skip


def _ols(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of ly on lx."""
    cx = lx - lx.mean()
    slope = float(cx @ (ly - ly.mean()) / (cx @ cx))
    return slope, float(ly.mean() - slope * lx.mean())


def _ols_slopes(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of ly (B, K) on lx (K,)."""
    cx = lx - lx.mean()
    return (ly - ly.mean(axis=1, keepdims=True)) @ cx / (cx @ cx)


def implied_constant(
    x,
    samples_by_x: Sequence,
    rate_values,
    rng: np.random.Generator,
    n_boot: int = 1000,
    statistic="mean",
    level: float = 0.95,
) -> RateFit:
    """The implied constant of an O()-claim: statistic / rate at each grid point, fitted.

    ``rate_values`` is the claimed rate r(x_i) at each grid point (e.g. x_i^k, or a bound's
    value); the replicates are divided by it, so :attr:`RateFit.values` are the implied constants
    S(x_i) / r(x_i) with bootstrap intervals and :attr:`RateFit.exponent` is their log-log slope.
    The constant stays bounded on the grid when that slope is not above 0: decide it with
    ``rate_verdict(..., fit, exponent=0.0, kind="O")``.

    References: docs/theory.md Sec. 5 ("for an O(.)-claim the product estimates the implied constant
    (statistic / rate) across the grid and checks that it stays bounded") and Sec. 6.
    """
    r = np.asarray(rate_values, dtype=float).ravel()
    x = np.asarray(x, dtype=float).ravel()
    if r.size != x.size:
        raise UserInputError(f"rate_values has {r.size} values for {x.size} grid points")
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise UserInputError("rate_values must be finite and positive")
    scaled = [np.asarray(s, dtype=float) / ri for s, ri in zip(samples_by_x, r, strict=True)]
    return fit_rate(x, scaled, rng, n_boot=n_boot, statistic=statistic, level=level)
