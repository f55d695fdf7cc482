"""Exact laws at initialisation, relu, no biases, a = +-1 (docs/theory.md Sec. 4) [derived].

Derivations: docs/derivations/exact_laws_at_init.md (F1, F2, F6) and
docs/derivations/single_step_laws.md (F3, F5; F4 is a Monte Carlo reference table). All
statements are in the ``wang`` scaling (w ~ N(0, I_d), ||x|| = 1); ``bubeck`` quantities map onto
them by f_wang(x) = f_bubeck(sqrt(d) x), grad f_wang = sqrt(d) grad f_bubeck.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from theorycheck.activations import ACTIVATIONS
from theorycheck.bounds._base import Bound, ExactLaw, Kind, Param

__all__ = [
    "F4_MEDIAN_TSTAR_OVER_SLIN",
    "F1AbsOutputBound",
    "F1Output",
    "F2GradNormSq",
    "F3SLin",
    "F5Flips",
    "F5GradientJump",
    "F5LinearisationError",
    "F6Flippable",
    "GradEnergy",
    "active_count_support",
]

_M = Param("m", "width (number of hidden neurons)", low=1, integer=True)
_D = Param("d", "input dimension", low=1, integer=True)
_C0 = Param("C0", "lazy-ball constant, R = C0 / sqrt(m)", low=0)
_GAMMA = Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True)
_THETA = Param("theta", "angle between x and x + delta (radians)", low=0, high=math.pi)


def active_count_support(m: int, tail: float = 1e-17) -> tuple[np.ndarray, np.ndarray]:
    """Values N and probabilities of N ~ Bin(m, 1/2) covering all but ``tail`` of the mass.

    The upper end comes from the symmetry N ~ m - N: 1 - tail/2 rounds to 1 in floating point
    for tail < 2.2e-16, where ``ppf`` returns m and the support would run to m (half of all
    values: 51,357 of them at m = 1e5 instead of 2,713, and a 19x slower mixture CDF).
    """
    lo = int(stats.binom.ppf(tail / 2, m, 0.5))
    N = np.arange(lo, m - lo + 1)
    return N, stats.binom.pmf(N, m, 0.5)


class F1Output(ExactLaw):
    id = "exact.f1_output"
    citation = "docs/theory.md Sec. 4 F1 [derived]; docs/derivations/exact_laws_at_init.md"
    statement = (
        "At initialisation (relu, a = +-1, ||x|| = 1) f(x) has exactly the law of sqrt(N/m) G, "
        "N ~ Bin(m, 1/2) independent of G ~ N(0, 1). Var f = 1/2 for every m."
    )
    params = (_M,)
    derived = True

    def _cdf(self, x, m):
        N, p = active_count_support(int(m))
        x = np.atleast_1d(x)[:, None]
        with np.errstate(divide="ignore"):
            scale = np.sqrt(N / m)
            cond = np.where(N > 0, stats.norm.cdf(x / np.where(N > 0, scale, 1.0)), (x >= 0) * 1.0)
        return cond @ p

    def _mean(self, m):
        return np.zeros_like(m)

    def _var(self, m):
        return np.full_like(m, 0.5)

    def mean_abs(self, m: int) -> float:
        """E|f| = sqrt(2/pi) E sqrt(N/m)."""
        N, p = active_count_support(int(m))
        return float(math.sqrt(2 / math.pi) * np.sqrt(N / m) @ p)


class F1AbsOutputBound(Bound):
    id = "exact.f1_abs_output_bound"
    citation = "docs/theory.md Sec. 4 F1 [derived]; docs/derivations/exact_laws_at_init.md"
    statement = (
        "At initialisation (relu, a = +-1, ||x|| = 1), for every m and d: "
        "|f(x)| <= Phi^{-1}(1 - gamma/2) with probability >= 1 - gamma."
    )
    kind = Kind.HP_UPPER
    params = (_GAMMA,)
    monotone = {"gamma": -1}  # noqa: RUF012
    derived = True

    def _value(self, gamma):
        return stats.norm.isf(gamma / 2)


class F2GradNormSq(ExactLaw):
    id = "exact.f2_grad_norm_sq"
    citation = "docs/theory.md Sec. 4 F2 [derived]; docs/derivations/exact_laws_at_init.md"
    statement = (
        "At initialisation (relu, a = +-1, no biases, ||x|| = 1), conditional on N ~ Bin(m, 1/2), "
        "grad f ~ N(0, (N/m) I_d): ||grad f||^2 ~ (N/m) chi2_d and E||grad f||^2 = d/2 "
        "(bubeck scaling: d ||grad f||^2 has this law)."
    )
    params = (_M, _D)
    monotone = {"d": +1}  # noqa: RUF012
    derived = True

    def _cdf(self, x, m, d):
        N, p = active_count_support(int(m))
        x = np.atleast_1d(x)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = np.where(N > 0, stats.chi2.cdf(x * m / np.where(N > 0, N, 1), d), x >= 0)
        return cond @ p

    def _mean(self, m, d):
        return d / 2

    def _var(self, m, d):
        # E[(N/m)^2] E[chi2_d^2] - (d/2)^2 with E (N/m)^2 = 1/4 + 1/(4m), E chi2^2 = d^2 + 2d.
        return (0.25 + 0.25 / m) * (d * d + 2 * d) - d * d / 4


class GradEnergy(Bound):
    """E||grad f||^2 at initialisation for a general activation (wang, ||x|| = 1, a = +-1)."""

    kind = Kind.EXPECTATION
    params = (_D,)
    monotone = {"d": +1}  # noqa: RUF012
    derived = True

    def __init__(self, activation: str):
        act = ACTIVATIONS[activation]
        self.activation = activation
        self.id = f"exact.grad_energy_{activation}"
        self.citation = (
            "docs/theory.md Sec. 4 F2 (general sigma) [derived]; "
            "docs/derivations/exact_laws_at_init.md"
        )
        self.statement = (
            f"At initialisation ({activation}, a = +-1, no biases, ||x|| = 1): "
            "E||grad f||^2 = E[sigma'(g)^2 g^2] + (d - 1) E[sigma'(g)^2] "
            f"= {act.weighted_derivative_moment:.6f} + (d - 1) {act.derivative_second_moment:.6f}."
        )
        self._radial = act.weighted_derivative_moment
        self._tangential = act.derivative_second_moment

    def _value(self, d):
        return self._radial + (d - 1) * self._tangential


class F6Flippable(ExactLaw):
    id = "exact.f6_flippable"
    citation = "docs/theory.md Sec. 4 F6 [derived]; docs/derivations/exact_laws_at_init.md"
    statement = (
        "|S_R(x)| ~ Bin(m, 2 Phi(R||x||) - 1) exactly; with R = C0/sqrt(m) (wang, ||x|| = 1) its "
        "mean is ~ sqrt(2/pi) C0 sqrt(m)."
    )
    params = (_M, _C0)
    monotone = {"m": +1, "C0": +1}  # noqa: RUF012
    derived = True

    @staticmethod
    def probability(m, C0):
        """p = 2 Phi(C0 / sqrt m) - 1, computed as erf(C0 / sqrt(2m)) to keep small p accurate."""
        from scipy.special import erf

        return erf(np.asarray(C0, float) / np.sqrt(2.0 * np.asarray(m, float)))

    def _cdf(self, x, m, C0):
        return stats.binom.cdf(x, int(m), float(self.probability(m, C0)))

    def _mean(self, m, C0):
        return m * self.probability(m, C0)

    def _var(self, m, C0):
        p = self.probability(m, C0)
        return m * p * (1 - p)

    def ppf(self, q, m: int, C0: float) -> np.ndarray:
        """Quantiles of the exact binomial law."""
        return stats.binom.ppf(q, int(m), float(self.probability(m, C0)))

    def exceedance(self, threshold, m, C0) -> np.ndarray:
        """P(|S_R| > threshold), broadcast over arrays."""
        return stats.binom.sf(np.floor(threshold), m, self.probability(m, C0))


class F3SLin(ExactLaw):
    """The linear prediction of the flip distance, s_lin = |f(x)| / ||grad f(x)|| (docs/theory.md
    F3).

    Derivation (docs/derivations/single_step_laws.md): f(x) = <grad f(x), x> (Euler, relu is
    positively homogeneous, no biases), so s_lin / ||x|| = |<u, x/||x||>| with
    u = grad f / ||grad f||, and given N >= 1 grad f ~ N(0, (N/m) I_d) is isotropic (F2): u is
    uniform on S^{d-1}.
    """

    id = "exact.f3_s_lin"
    citation = "docs/theory.md Sec. 4 F3 [derived]; docs/derivations/single_step_laws.md"
    statement = (
        "At initialisation (relu, a = +-1, no biases), conditional on f(x) != 0 (probability "
        "1 - 2^-m), s_lin/||x|| = |f(x)|/(||grad f(x)|| ||x||) has the law of |u_1|, u uniform on "
        "S^{d-1}: (s_lin/||x||)^2 ~ Beta(1/2, (d-1)/2), independent of m, in both scalings. "
        "In bubeck scaling s_lin -> |N(0,1)|; at ||delta|| = s the linear prediction (flip iff "
        "s >= s_lin) flips with probability I_{s^2/||x||^2}(1/2, (d-1)/2)."
    )
    params = (_D,)
    monotone = {"d": -1}  # noqa: RUF012
    derived = True

    def _cdf(self, x, d):
        x = np.atleast_1d(x)
        if float(d) == 1.0:
            return (x >= 1.0) * 1.0  # d = 1: s_lin = ||x|| exactly
        inside = stats.beta.cdf(np.clip(x, 0.0, 1.0) ** 2, 0.5, (d - 1) / 2)
        return np.where(x < 0, 0.0, np.where(x >= 1.0, 1.0, inside))

    def _mean(self, d):
        # E|u_1| = Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)), in logs for large d.
        return np.exp(special.gammaln(d / 2) - special.gammaln((d + 1) / 2)) / math.sqrt(math.pi)

    def _var(self, d):
        return np.maximum(1.0 / d - self._mean(d) ** 2, 0.0)

    def linear_flip_probability(self, s, d: int, x_norm: float = 1.0) -> np.ndarray:
        """P(s_lin <= s): the linear prediction flips the sign at ||delta|| = s."""
        return self.cdf(np.asarray(s, dtype=float) / x_norm, d=d)

    @staticmethod
    def eta_flip_rate_limit(eta) -> np.ndarray:
        """Bubeck scaling, d -> infinity: the linear flip rate at step multiplier eta,
        P(s_lin / ||grad f|| <= eta) -> 2 Phi(eta / sqrt(2)) - 1 (||grad f||^2 -> 1/2)."""
        return 2.0 * stats.norm.cdf(np.asarray(eta, dtype=float) / math.sqrt(2.0)) - 1.0


#: docs/theory.md F4 (Monte Carlo only, NOT an exact law and not registered as a bound): median of
#: t*/s_lin, the true relu first-flip distance over its linear prediction, at (d, m). The ratio
#: tends to 1 roughly like 1 + 0.2/sqrt(d). A reference table for the single-step simulations.
F4_MEDIAN_TSTAR_OVER_SLIN: dict[tuple[int, int], float] = {
    (100, 20): 1.024,
    (100, 1000): 1.020,
    (400, 400): 1.012,
    (1000, 10000): 1.007,
}


class F5Flips(ExactLaw):
    id = "exact.f5_flips"
    citation = "docs/theory.md Sec. 4 F5 [derived]; docs/derivations/single_step_laws.md"
    statement = (
        "For delta independent of W (relu, w_s i.i.d. isotropic Gaussian) with angle "
        "theta = angle(x, x + delta), each neuron's activation differs between x and x + delta "
        "with probability theta/pi, independently: the number of flipped neurons is "
        "Bin(m, theta/pi)."
    )
    params = (_M, _THETA)
    monotone = {"m": +1, "theta": +1}  # noqa: RUF012
    derived = True

    def _cdf(self, x, m, theta):
        return stats.binom.cdf(x, int(m), float(theta) / math.pi)

    def _mean(self, m, theta):
        return m * theta / math.pi

    def _var(self, m, theta):
        p = theta / math.pi
        return m * p * (1 - p)


class F5GradientJump(Bound):
    id = "exact.f5_gradient_jump"
    citation = "docs/theory.md Sec. 4 F5 [derived]; docs/derivations/single_step_laws.md"
    statement = (
        "For delta independent of W (relu, no biases, E a_s a_t = 1[s = t]) with angle "
        "theta = angle(x, x + delta): E||grad f(x + delta) - grad f(x)||^2 = d theta/pi (wang), "
        "theta/pi (bubeck), for every m and every ||x||, ||delta||."
    )
    kind = Kind.EXPECTATION
    params = (_D, _THETA)
    monotone = {"d": +1, "theta": +1}  # noqa: RUF012
    derived = True

    def _value(self, d, theta):
        return d * theta / math.pi


class F5LinearisationError(Bound):
    id = "exact.f5_linearisation_error"
    citation = "docs/theory.md Sec. 4 F5 [derived]; docs/derivations/single_step_laws.md"
    statement = (
        "For delta independent of W (relu, no biases, E a_s a_t = 1[s = t]) with angle "
        "theta = angle(x, x + delta): E[(f(x + delta) - f(x) - <grad f(x), delta>)^2] = "
        "||x + delta||^2 (theta - sin theta cos theta)/pi (wang); divided by d in bubeck scaling, "
        "(||x + delta||^2/d)(theta - sin theta cos theta)/pi."
    )
    kind = Kind.EXPECTATION
    params = (_THETA, Param("r", "||x + delta|| (wang units)", low=0))
    monotone = {"theta": +1, "r": +1}  # noqa: RUF012
    derived = True

    def _value(self, theta, r):
        # theta - sin(theta) cos(theta) = (y - sin y)/2 with y = 2 theta; for small y the
        # difference cancels catastrophically, so use its Taylor series there (error < 1e-16
        # relative for y < 0.5).
        y = 2.0 * theta
        series = y**3 / 6 * (1 - y**2 / 20 * (1 - y**2 / 42 * (1 - y**2 / 72 * (1 - y**2 / 110))))
        y_minus_sin = np.where(y < 0.5, series, y - np.sin(y))
        return r * r * y_minus_sin / (2.0 * math.pi)


class WorstOutputRelu(Bound):
    """E sup_W f(x; W) over the lazy ball for relu at initialisation."""

    id = "exact.worst_output_relu"
    citation = "docs/theory.md Sec. 2 item 2 [derived]; docs/derivations/worst_output.md"
    statement = (
        "Relu at initialisation (wang, ||x|| = 1, a = +-1, no biases), R = C0/sqrt(m): "
        "E sup f = C0/2, E inf f = -C0/2, Var sup = 1/2 + C0^2/(4m), 0 <= sup - inf <= 2 C0, "
        "and |f(x;W) - f(x;W0)| <= C0 for every W in the ball."
    )
    kind = Kind.EXPECTATION
    params = (_M, _C0)
    monotone = {"C0": +1}  # noqa: RUF012
    derived = True

    def _value(self, m, C0):
        return C0 / 2.0 + 0.0 * m


LAWS: tuple[Bound, ...] = (
    WorstOutputRelu(),
    F1Output(),
    F1AbsOutputBound(),
    F2GradNormSq(),
    F6Flippable(),
    *(GradEnergy(name) for name in ACTIVATIONS),
    F3SLin(),
    F5Flips(),
    F5GradientJump(),
    F5LinearisationError(),
)
