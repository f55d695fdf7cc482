"""Schmidt, Santurkar, Tsipras, Talwar, Madry (2018), "Adversarially Robust Generalization
Requires More Data" (NeurIPS 2018): the Gaussian and Bernoulli models.

docs/theory.md Sec. 5.5; the exact laws are derived in docs/derivations/gaussian_model.md.

* (theta*, sigma)-Gaussian model: y uniform on {-1, +1}, x ~ N(y theta*, sigma^2 I_d),
  ||theta*|| = sqrt(d). A linear classifier is f_w(x) = sgn(<w, x>).
* (theta*, tau)-Bernoulli model: theta* in {-1, +1}^d, x_j = y theta*_j with probability
  1/2 + tau, else -y theta*_j (independently over j).

How each statement is represented (every unspecified constant is a :class:`Constant` with a
documented default; the verdicts never decide at the default but through implied constants,
docs/theory.md Sec. 6, wherever a statement has an O / Omega):

* ``schmidt2018.gaussian_one_sample``: the Gaussian-model one-sample theorem, a high-probability
  upper bound 1% on the standard error of w = y x, under sigma <= c d^(1/4).
* ``schmidt2018.gaussian_robust_one_sample``: the n = 1 branch of the Gaussian-model robust
  upper bound (eps <= d^(-1/4)/4): the l_inf-eps robust error of w = y x is at most 1% w.h.p.
* ``schmidt2018.gaussian_robust_upper``: the other branch, n >= c2 eps^2 sqrt(d) samples suffice
  for w = sum_i y_i x_i (d^(-1/4)/4 <= eps <= 1/4): a RATE (order O, exponent 1/2 in d) of the
  sample count reaching 1% robust error w.h.p.
* ``schmidt2018.gaussian_robust_lower``: the Gaussian-model lower bound for any algorithm
  (theta ~ N(0, I_d), sigma = c1 d^(1/4)): expected robust error at least (1 - 1/d)/2 when
  n <= c eps^2 sqrt(d) / log d; a RATE of order Omega for the sample count at which the robust
  error of an algorithm first drops below (1 - 1/d)/2.
* ``schmidt2018.gaussian_linear_error`` and ``schmidt2018.bernoulli_linear_error``: exact laws
  of the standard (eps = 0) and l_inf-robust error of a linear classifier [derived]. The error
  indicator of one test point is Bernoulli(p); the law's mean is p.
* ``schmidt2018.bernoulli_one_sample``, ``schmidt2018.bernoulli_sign_one_sample``: the
  Bernoulli-model one-sample theorem (tau >= c d^(-1/4)) for f_w and for f_w o sign.
* ``schmidt2018.bernoulli_linear_lower``: the (informal) Bernoulli-model lower bound for linear
  classifiers; its O~(.) hides constants and logarithms the statement does not give, so the
  product shows it and does not decide it.

Statements are cited by name (Gaussian-model one-sample theorem, robust upper and lower bounds,
Bernoulli-model theorems).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from theorycheck.bounds._base import Bound, Constant, ExactLaw, Kind, Param

__all__ = [
    "BOUNDS",
    "BernoulliLinearError",
    "BernoulliLinearLower",
    "BernoulliOneSample",
    "BernoulliSignOneSample",
    "GaussianLinearError",
    "GaussianOneSample",
    "GaussianRobustLower",
    "GaussianRobustOneSample",
    "GaussianRobustUpper",
    "bernoulli_error",
    "gaussian_error",
]

_CITE = "Schmidt, Santurkar, Tsipras, Talwar, Madry (2018)"
_DERIVED = "docs/derivations/gaussian_model.md [derived]"
#: The error level of every one-sample and sample-complexity statement of the paper.
ERROR_LEVEL = 0.01

_D = Param("d", "input dimension", low=1, integer=True)
_SIGMA = Param("sigma", "noise level of the Gaussian model, x ~ N(y theta*, sigma^2 I)", low=0,
               low_open=True)  # fmt: skip
#: The statements' noise conditions are in units of d^(1/4): a row over a d grid keeps s fixed.
_S = Param("s", "noise in units of d^(1/4): sigma = s d^(1/4)", low=0, low_open=True)
_EPS = Param("eps", "l_inf perturbation radius", low=0)
_GAMMA = Param("gamma", "failure probability of 'with high probability'", low=0, high=1,
               low_open=True, high_open=True)  # fmt: skip
_TAU = Param("tau", "bias of the Bernoulli model, P(x_j = y theta*_j) = 1/2 + tau", low=0,
             high=0.5, low_open=True)  # fmt: skip

_C_SIGMA = Constant(
    "c", 0.5,
    "noise constant of the one-sample theorem, sigma <= c d^(1/4); not given. For large d the "
    "standard error of w = y x tends to Phi(-1/c^2) (docs/derivations/gaussian_model.md), so the "
    "statement needs c <= 1/sqrt(Phi^-1(0.99)) = 0.656; default 1/2",
)  # fmt: skip
_C1 = Constant(
    "c1", 0.5,
    "noise constant of the robust upper and lower bounds, sigma <= c1 d^(1/4) (upper) and "
    "sigma = c1 d^(1/4) (lower); not given; default 1/2 as for the one-sample theorem",
)  # fmt: skip
_C2 = Constant(
    "c2", 1.0,
    "sample constant of the robust upper bound, n >= c2 eps^2 sqrt(d); not given (1). "
    "Asymptotically n* ~ (2/pi) c1^2 eps^2 sqrt(d) for the flat theta* "
    "(docs/derivations/gaussian_model.md)",
)  # fmt: skip
_C_LOWER = Constant(
    "c",
    1.0,
    "sample constant of the robust lower bound, n <= c eps^2 sqrt(d) / log d; not given (1)",
)
_C_TAU = Constant(
    "c", 1.0,
    "bias constant of the Bernoulli one-sample theorem, tau >= c d^(-1/4); not given. For large "
    "d the standard error of w = y x tends to Phi(-4 c^2), so c >= 0.763 is needed; default 1",
)  # fmt: skip


# -- exact laws --------------------------------------------------------------------------------


def gaussian_error(inner, l1, l2, sigma, eps=0.0):
    """Standard (eps = 0) or l_inf-eps robust error of f_w in the (theta*, sigma)-Gaussian model:
    Phi(-(<w, theta*> - eps ||w||_1) / (sigma ||w||_2)).

    ``inner`` = <w, theta*>, ``l1`` = ||w||_1, ``l2`` = ||w||_2 (> 0). A point on the decision
    boundary counts as an error (probability 0 here). Reference: docs/derivations/gaussian_model.md
    Sec. 1 (the worst l_inf perturbation lowers the margin by exactly eps ||w||_1, Hoelder).
    """
    inner, l1, l2, sigma, eps = np.broadcast_arrays(*map(np.asarray, (inner, l1, l2, sigma, eps)))
    return special.ndtr(-(inner - eps * l1) / (sigma * l2))


def bernoulli_error(agree, disagree, tau, eps=0.0):
    """Standard (eps = 0) or l_inf-eps robust error of f_w in the (theta*, tau)-Bernoulli model,
    for w = theta* o s with s in {-1, +1}^d having ``agree`` entries +1 and ``disagree`` entries
    -1 (w = y x of one sample; w = theta* is agree = d).

    y <w, x> = sum_j s_j t_j with t_j = +1 w.p. 1/2 + tau, so y <w, x> = 2K - d with
    K = K1 + (disagree - K2), K1 ~ Bin(agree, 1/2 + tau), K2 ~ Bin(disagree, 1/2 + tau); the worst
    l_inf perturbation lowers it by eps ||w||_1 = eps d. Error when 2K - d - eps d <= 0 (a tie
    counts as an error). Exact sum over K1: O(agree) per point. Reference:
    docs/derivations/gaussian_model.md Sec. 3.
    """
    agree, disagree, tau, eps = np.broadcast_arrays(*map(np.asarray, (agree, disagree, tau, eps)))
    points = np.stack([v.astype(float).ravel() for v in (agree, disagree, tau, eps)], axis=1)
    unique, where = np.unique(points, axis=0, return_inverse=True)  # one sum per distinct point
    values = np.empty(len(unique))
    for i, (a, b, t, e) in enumerate(unique):
        a, b = int(a), int(b)
        p = 0.5 + t
        # error <=> K1 + b - K2 <= k0, k0 = floor(d (1 + eps) / 2)  <=>  K2 >= K1 + b - k0
        k0 = np.floor((a + b) * (1.0 + e) / 2.0 + 1e-12)
        # Hoeffding: P(|K1 - a p| >= 20 sqrt(a)) <= 2 exp(-800), below the smallest double, so
        # the window holds every representable term of the sum.
        half = math.ceil(20.0 * math.sqrt(a)) + 1
        j = np.arange(max(0, int(a * p) - half), min(a, int(a * p) + half) + 1)
        tail = stats.binom.sf(j + b - k0 - 1, b, p)  # P(K2 >= j + b - k0); 1 when that is <= 0
        values[i] = float(np.clip(stats.binom.pmf(j, a, p) @ tail, 0.0, 1.0))
    return values[np.ravel(where)].reshape(agree.shape)


class _IndicatorLaw(ExactLaw):
    """The law of one test point's error indicator, Bernoulli(p): mean p, variance p (1 - p)."""

    derived = True

    def _p(self, **params):
        raise NotImplementedError

    def _mean(self, **params):
        return self._p(**params)

    def _var(self, **params):
        p = self._p(**params)
        return p * (1.0 - p)

    def _cdf(self, x, **params):
        p = float(self._p(**params))
        return np.where(x < 0, 0.0, np.where(x < 1, 1.0 - p, 1.0))


class GaussianLinearError(_IndicatorLaw):
    id = "schmidt2018.gaussian_linear_error"
    citation = f"{_DERIVED}; the model of {_CITE}"
    statement = (
        "In the (theta*, sigma)-Gaussian model, the linear classifier f_w(x) = sgn(<w, x>) has "
        "standard error Phi(-<w, theta*>/(sigma ||w||_2)) and l_inf-eps robust error "
        "Phi(-(<w, theta*> - eps ||w||_1)/(sigma ||w||_2)) (eps = 0: standard error). The law is "
        "that of one test point's error indicator, Bernoulli(error)."
    )
    params = (
        Param("inner", "<w, theta*>"),
        Param("l1", "||w||_1", low=0),
        Param("l2", "||w||_2", low=0, low_open=True),
        _SIGMA,
        _EPS,
    )
    monotone = {"inner": -1, "l1": +1, "eps": +1}  # noqa: RUF012

    def _p(self, inner, l1, l2, sigma, eps):
        return gaussian_error(inner, l1, l2, sigma, eps)


class BernoulliLinearError(_IndicatorLaw):
    id = "schmidt2018.bernoulli_linear_error"
    citation = f"{_DERIVED}; the model of {_CITE}"
    statement = (
        "In the (theta*, tau)-Bernoulli model, for w = theta* o s with s in {-1, +1}^d (agree "
        "entries +1, disagree entries -1; one sample's w = y x, or w = theta*), the l_inf-eps "
        "robust error of f_w (eps = 0: standard error) is P(2K - d <= eps d), "
        "K = K1 + disagree - K2, K1 ~ Bin(agree, 1/2 + tau), K2 ~ Bin(disagree, 1/2 + tau) "
        "independent (a tie counts as an error). The law is that of one test point's error "
        "indicator."
    )
    params = (
        Param("agree", "entries of s equal to +1", low=0, integer=True),
        Param("disagree", "entries of s equal to -1", low=0, integer=True),
        _TAU,
        _EPS,
    )
    monotone = {"eps": +1}  # noqa: RUF012

    def _p(self, agree, disagree, tau, eps):
        return bernoulli_error(agree, disagree, tau, eps)


# -- the paper's statements --------------------------------------------------------------------


class GaussianOneSample(Bound):
    """Standard error of w = y x at most 1% w.h.p. once sigma <= c d^(1/4)."""

    id = "schmidt2018.gaussian_one_sample"
    citation = f"{_CITE}, Gaussian-model theorem on one sample (standard generalisation)"
    statement = (
        "Let (x, y) be drawn from a (theta*, sigma)-Gaussian model with ||theta*||_2 = sqrt(d) and "
        "sigma <= c d^(1/4). Let w = y x. Then w.h.p. the linear classifier f_w has "
        "classification error at most 1%. [theorycheck: w.h.p. read as with probability at least "
        "1 - gamma; the value is the error bound 0.01.]"
    )
    kind = Kind.HP_UPPER
    params = (_D, _S, _GAMMA)
    constants = (_C_SIGMA,)

    def _value(self, d, s, gamma, c):
        return np.full(np.shape(d), ERROR_LEVEL)

    def _conditions(self, d, s, gamma, c):
        """s <= c, i.e. sigma <= c d^(1/4)"""
        return s <= c * (1 + 1e-12)


class GaussianRobustOneSample(Bound):
    """Robust error of w = y x at most 1% w.h.p. for eps <= d^(-1/4)/4, sigma <= c1 d^(1/4)."""

    id = "schmidt2018.gaussian_robust_one_sample"
    citation = f"{_CITE}, Gaussian-model robust upper bound (the branch n = 1, eps <= d^(-1/4)/4)"
    statement = (
        "Let (x_i, y_i), i <= n, be drawn i.i.d. from a (theta*, sigma)-Gaussian model with "
        "||theta*||_2 = sqrt(d) and sigma <= c1 d^(1/4). Let w = sum_i y_i x_i. Then w.h.p. f_w "
        "has l_inf-eps robust classification error at most 1% if n >= 1 for eps <= d^(-1/4)/4. "
        "[theorycheck: the value is the error bound 0.01 at n = 1.]"
    )
    kind = Kind.HP_UPPER
    params = (_D, _S, _EPS, _GAMMA)
    constants = (_C1,)

    def _value(self, d, s, eps, gamma, c1):
        return np.full(np.shape(d), ERROR_LEVEL)

    def _conditions(self, d, s, eps, gamma, c1):
        """s <= c1 (sigma <= c1 d^(1/4)) and eps <= d^(-1/4)/4"""
        tol = 1 + 1e-12
        return (s <= c1 * tol) & (eps <= d**-0.25 / 4 * tol)


class GaussianRobustUpper(Bound):
    """n >= c2 eps^2 sqrt(d) samples give w = sum y_i x_i robust error <= 1% w.h.p."""

    id = "schmidt2018.gaussian_robust_upper"
    citation = f"{_CITE}, Gaussian-model robust upper bound (the branch n >= c2 eps^2 sqrt(d))"
    statement = (
        "Let (x_i, y_i), i <= n, be drawn i.i.d. from a (theta*, sigma)-Gaussian model with "
        "||theta*||_2 = sqrt(d) and sigma <= c1 d^(1/4). Let w = sum_i y_i x_i. Then w.h.p. f_w "
        "has l_inf-eps robust classification error at most 1% if n >= c2 eps^2 sqrt(d) for "
        "d^(-1/4)/4 <= eps <= 1/4. [theorycheck: the value is the sufficient sample count "
        "c2 eps^2 sqrt(d), a rate O(d^(1/2)); checked through the implied constant "
        "n*/(eps^2 sqrt(d)), n* the sample count reaching 1% robust error w.h.p.]"
    )
    kind = Kind.RATE
    params = (_D, _S, _EPS, _GAMMA)
    constants = (_C1, _C2)
    monotone = {"d": +1, "eps": +1}  # noqa: RUF012
    exponents = {"d": 0.5}  # noqa: RUF012
    order = "O"

    def _value(self, d, s, eps, gamma, c1, c2):
        return c2 * eps**2 * np.sqrt(d)

    def _conditions(self, d, s, eps, gamma, c1, c2):
        """s <= c1 (sigma <= c1 d^(1/4)) and d^(-1/4)/4 <= eps <= 1/4"""
        tol = 1e-12
        return (s <= c1 * (1 + tol)) & (eps >= d**-0.25 / 4 * (1 - tol)) & (eps <= 0.25 * (1 + tol))


class GaussianRobustLower(Bound):
    """Any algorithm: expected robust error >= (1 - 1/d)/2 when n <= c eps^2 sqrt(d)/log d."""

    id = "schmidt2018.gaussian_robust_lower"
    citation = f"{_CITE}, Gaussian-model lower bound for any learning algorithm"
    statement = (
        "Let g_n be any learning algorithm, i.e. a function from n samples to a binary classifier "
        "f_n. Let sigma = c1 d^(1/4), eps >= 0, and theta ~ N(0, I_d); let the samples be drawn "
        "from the (theta, sigma)-Gaussian model. Then the expected l_inf-eps robust classification "
        "error of f_n is at least (1 - 1/d)/2 if n <= c eps^2 sqrt(d) / log d. [theorycheck: the "
        "value is the sample count c eps^2 sqrt(d)/log d, a rate Omega(sqrt(d)/log d); checked "
        "for the algorithms the product runs through the implied constant "
        "n_half log d/(eps^2 sqrt(d)), n_half the sample count at which the robust error first "
        "drops below (1 - 1/d)/2. The level is (1 - 1/d)/2, not (1 - 1/d)^(1/2): a constant "
        "classifier has robust error 1/2, so no algorithm-free bound can exceed 1/2.]"
    )
    kind = Kind.RATE
    params = (Param("d", "input dimension", low=2, integer=True), _S, _EPS)
    constants = (_C1, _C_LOWER)
    monotone = {"eps": +1}  # noqa: RUF012
    # Exact power-law scaling in eps only: in d the rate is sqrt(d)/log d, not a power.
    exponents = {"eps": 2.0}  # noqa: RUF012
    order = "Omega"

    def _value(self, d, s, eps, c1, c):
        return c * eps**2 * np.sqrt(d) / np.log(d)

    def _conditions(self, d, s, eps, c1, c):
        """s = c1 (sigma = c1 d^(1/4)) and c eps^2 sqrt(d)/log d >= 1 (else it says nothing)"""
        on_line = np.abs(s - c1) <= 1e-9 * c1
        return on_line & (c * eps**2 * np.sqrt(d) / np.log(d) >= 1.0)

    @staticmethod
    def error_level(d) -> np.ndarray:
        """The robust-error level of the statement, (1 - 1/d)/2."""
        return (1.0 - 1.0 / np.asarray(d, dtype=float)) / 2.0


class BernoulliOneSample(Bound):
    """Standard error of w = y x at most 1% w.h.p. once tau >= c d^(-1/4)."""

    id = "schmidt2018.bernoulli_one_sample"
    citation = f"{_CITE}, Bernoulli-model theorem on one sample (standard generalisation)"
    statement = (
        "Let (x, y) be drawn from a (theta*, tau)-Bernoulli model with tau >= c d^(-1/4), c a "
        "universal constant. Let w = y x. Then with high probability the linear classifier f_w "
        "has classification error at most 1%. [theorycheck: the value is the error bound 0.01.]"
    )
    kind = Kind.HP_UPPER
    params = (_D, _TAU, _GAMMA)
    constants = (_C_TAU,)

    def _value(self, d, tau, gamma, c):
        return np.full(np.shape(d), ERROR_LEVEL)

    def _conditions(self, d, tau, gamma, c):
        """tau >= c d^(-1/4)"""
        return tau >= c * d**-0.25 * (1 - 1e-12)


class BernoulliSignOneSample(Bound):
    """f_w o sign with w = y x: l_inf-eps robust error at most 1% w.h.p. (eps < 1)."""

    id = "schmidt2018.bernoulli_sign_one_sample"
    citation = f"{_CITE}, Bernoulli-model theorem (informal), the f o sign part"
    statement = (
        "In the (theta*, tau)-Bernoulli model, f o sign has l_inf-eps robust classification error "
        "at most 1% when using a single sample. [theorycheck: f = f_w, w = y x of one sample, "
        "tau >= c d^(-1/4) as in the one-sample theorem and eps < 1, so that sign(x + delta) = x "
        "for x in {-1, +1}^d and ||delta||_inf <= eps; the value is the error bound 0.01.]"
    )
    kind = Kind.HP_UPPER
    params = (_D, _TAU, _EPS, _GAMMA)
    constants = (_C_TAU,)

    def _value(self, d, tau, eps, gamma, c):
        return np.full(np.shape(d), ERROR_LEVEL)

    def _conditions(self, d, tau, eps, gamma, c):
        """tau >= c d^(-1/4) and eps < 1"""
        return (tau >= c * d**-0.25 * (1 - 1e-12)) & (eps < 1.0)


class BernoulliLinearLower(Bound):
    """Linear classifiers: expected robust error >= 1/2 - g when n in O~(g^2 d) (informal)."""

    id = "schmidt2018.bernoulli_linear_lower"
    citation = f"{_CITE}, Bernoulli-model theorem (informal), the linear part"
    statement = (
        "Assume that the data is generated by the Bernoulli model. Then a linear model f has "
        "expected l_inf-eps robust classification error of at least 1/2 - g if n in O~(g^2 d). "
        "[theorycheck: informal, the O~ hides constants and logarithms and the relation of eps to "
        "tau is not stated; the value 1/2 - g is shown beside measured robust errors of linear "
        "classifiers, never decided.]"
    )
    kind = Kind.HP_LOWER
    params = (_D, Param("g", "slack of the error level 1/2 - g", low=0, high=0.5, low_open=True,
                        high_open=True), _EPS)  # fmt: skip

    def _value(self, d, g, eps):
        return 0.5 - g + 0.0 * d


BOUNDS: tuple[Bound, ...] = (
    GaussianOneSample(),
    GaussianRobustOneSample(),
    GaussianRobustUpper(),
    GaussianRobustLower(),
    GaussianLinearError(),
    BernoulliOneSample(),
    BernoulliSignOneSample(),
    BernoulliLinearLower(),
    BernoulliLinearError(),
)
