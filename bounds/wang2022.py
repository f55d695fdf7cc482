"""Wang, Ullah, Mianjy, Arora (2022), "Adversarial Robustness is at Odds with Lazy Training".

``wang`` scaling: w_{s,0} ~ N(0, I_d), x in S^{d-1}, lazy ball R = C0 / sqrt(m) (Def. 2.1).
Statements are quoted from the paper (Sec. 3 and 4); Lemmas 4.1 and 4.2 are marked
"(Informal)" there, and their Omega(.) conditions hide constants that the paper does not give.

How each statement is represented (every free constant is a :class:`Constant` with a default):

* Theorem 3.1 is a sign-flip guarantee; what is closed-form is the size of the guaranteed step.
  ``wang2022.theorem_3_1``: the perturbation ||delta|| = |eta| ||grad f|| = C2 / ||grad f||, which
  on the event of Lemma 4.2 (||grad f|| >= sqrt(d)/4) is at most 4 C2 / sqrt(d), a RATE in d with
  exponent -1/2 (the paper's "attack size of O(1/sqrt(d))"); ``wang2022.theorem_3_1_step``: the step
  |eta| = C2 / ||grad f||^2 <= 16 C2 / d, exponent -1. The default C2 = 5/4 makes 4 C2/sqrt(d)
  the 5/sqrt(d) threshold the paper reports in Sec. 5.2 (Fig. 4, "as predicted by Theorem 3.1").
  Both carry the width window max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24) as conditions.
* Corollary 3.2: a high-probability LOWER bound 0.9 on the robust error at radius R, holding with
  probability 1 - 10 gamma; R = O~(1/sqrt(d)) is read as R >= C_R / sqrt(d) (log factors set to 1).
* Lemmas 4.1 and 4.2: high-probability upper / lower bounds with their conditions.
* Lemma 4.4: sup ||grad f(x; W) - grad f(x + delta; W)|| = o(sqrt(d)): a RATE claim whose log-log
  slope in d must stay below 1/2 (``order = "o"``); the value is the scale sqrt(d).

RATE bounds declare ``exponents`` ({parameter: exponent of the value}) and ``order`` (one of
"O", "Omega", "Theta", "o"): the verdict engine fits the slope of the estimate and compares it with
the exponent (docs/theory.md Sec. 6). Width windows: :mod:`bounds.conditions`.
"""

from __future__ import annotations

import numpy as np

from theorycheck.bounds._base import Bound, Constant, Kind, Param

__all__ = [
    "Corollary32",
    "Lemma41",
    "Lemma42",
    "Lemma43",
    "Lemma44",
    "Theorem31",
    "Theorem31Step",
]

_CITE = "Wang, Ullah, Mianjy, Arora (2022)"
_D = Param("d", "input dimension", low=1, integer=True)
_M = Param("m", "width (number of hidden neurons)", low=1, integer=True)
_C0 = Param("C0", "lazy-ball constant, R = C0/sqrt(m)", low=0)
_GAMMA = Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True)

_C2 = Constant(
    "C2", 1.25,
    "step constant of Theorem 3.1, |eta| = C2/||grad f||^2. A flip needs C2 > |f(x; W)| (bounded "
    "by Lemma 4.1). Default 5/4: then the perturbation bound 4 C2/sqrt(d) is the 5/sqrt(d) "
    "threshold of the paper's Fig. 4 (Sec. 5.2)",
)  # fmt: skip
_C3 = Constant("C3", 1.0, "width constant of Theorem 3.1, m >= C3 log(1/gamma); not given (1)")
_C4 = Constant(
    "C4", 1.0,
    "width constant of Theorem 3.1, m <= C4 exp(d^0.24) (Lemma 4.4: the constant of "
    "O(exp(d^0.24))); not given in the paper (1, as in docs/theory.md)",
)  # fmt: skip


def _theorem_window(d, gamma, C3, C4):
    """Natural-log edges of max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24)."""
    with np.errstate(divide="ignore"):
        lower = np.maximum(2.4 * np.log(d), np.log(C3 * np.log(1.0 / gamma)))
        upper = np.log(C4) + d**0.24
    return lower, upper


def _in_theorem_window(m, d, gamma, C3, C4):
    # The same floating-point expressions as _theorem_window: conditions and windows agree exactly.
    logm = np.log(m)
    with np.errstate(divide="ignore"):
        return (
            (logm >= 2.4 * np.log(d))
            & (logm >= np.log(C3 * np.log(1.0 / gamma)))
            & (logm <= np.log(C4) + d**0.24)
        )


class _Theorem31Window:
    """Width window of Theorem 3.1 (shared by its step and by Corollary 3.2)."""

    def _conditions(self, d, m, C0, gamma, C2, C3, C4, **_):
        """max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24) (width requirement)"""
        return _in_theorem_window(m, d, gamma, C3, C4)

    def _log_width_window(self, d, gamma, C3, C4, **_):
        return _theorem_window(d, gamma, C3, C4)


_THEOREM_31 = (
    "Theorem 3.1 (Main Result). Let w_{s,0} ~ N(0, I_d), a ~ unif({1, +1}) [sic: {-1, +1}] and "
    "gamma in (0, 1). For any given x in S^{d-1}, with probability at least 1 - gamma, the "
    "following holds simultaneously for all W in B_{2,inf}(W0, C0/sqrt(m)): "
    "sign(f(x; a, W)) != sign(f(x + delta; a, W)) where delta = eta grad_x f(x; a, W), provided "
    "that the following conditions are satisfied: 1. Step Size: |eta| = C2/||grad f(x; a, W)||^2, "
    "2. Width requirement: max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24), where C0, C2, C3, "
    "C4 are constants independent of width m and dimension d."
)


class Theorem31(_Theorem31Window, Bound):
    """Perturbation size of Theorem 3.1: ||delta|| = C2/||grad f|| <= 4 C2/sqrt(d).

    The inequality uses ||grad f|| >= sqrt(d)/4 (Lemma 4.2). The paper: "Our analysis suggests that
    an attack size of O(1/sqrt(d)) suffices". :meth:`step` gives the prescribed step.
    """

    id = "wang2022.theorem_3_1"
    citation = f"{_CITE}, Theorem 3.1 (and the remark after it: attack size O(1/sqrt(d)))"
    statement = _THEOREM_31 + (
        " [theorycheck evaluates the perturbation size ||delta|| = C2/||grad f|| <= 4 C2/sqrt(d) "
        "(using Lemma 4.2's ||grad f|| >= sqrt(d)/4): a rate O(d^-1/2).]"
    )
    kind = Kind.RATE
    params = (_D, _M, _C0, _GAMMA)
    constants = (_C2, _C3, _C4)
    monotone = {"d": -1}  # noqa: RUF012
    exponents = {"d": -0.5}  # noqa: RUF012
    order = "O"
    scaling = "wang"

    def _value(self, d, m, C0, gamma, C2, C3, C4):
        return 4.0 * C2 / np.sqrt(d) + 0.0 * m

    def step(self, grad_norm, C2: float = _C2.default) -> np.ndarray:
        """The prescribed step |eta| = C2 / ||grad f(x; a, W)||^2 (Theorem 3.1, condition 1)."""
        g = np.asarray(grad_norm, dtype=float)
        return C2 / (g * g)


class Theorem31Step(_Theorem31Window, Bound):
    """Step size of Theorem 3.1: |eta| = C2/||grad f||^2 <= 16 C2/d (with Lemma 4.2)."""

    id = "wang2022.theorem_3_1_step"
    citation = f"{_CITE}, Theorem 3.1 (and the remark after it: step size O(1/d))"
    statement = _THEOREM_31 + (
        " [theorycheck evaluates the step |eta| = C2/||grad f||^2 <= 16 C2/d (using Lemma 4.2): "
        "a rate O(d^-1), 'a single step of gradient suffices with a small step size of O(1/d)'.]"
    )
    kind = Kind.RATE
    params = (_D, _M, _C0, _GAMMA)
    constants = (_C2, _C3, _C4)
    monotone = {"d": -1}  # noqa: RUF012
    exponents = {"d": -1.0}  # noqa: RUF012
    order = "O"
    scaling = "wang"

    def _value(self, d, m, C0, gamma, C2, C3, C4):
        return 16.0 * C2 / d + 0.0 * m


class Corollary32(_Theorem31Window, Bound):
    """Robust error >= 0.9 for every W in the ball, w.p. >= 1 - 10 gamma, at R = O~(1/sqrt(d))."""

    id = "wang2022.corollary_3_2"
    citation = f"{_CITE}, Corollary 3.2"
    statement = (
        "Corollary 3.2. Let w_{s,0} ~ N(0, I_d), a ~ unif({-1, +1}), R = O~(1/sqrt(d)) and "
        "gamma in (0, 1). In the parameter settings of Theorem 3.1, for any data distribution D "
        "supported on the sphere S^{d-1}, with probability at least 1 - 10 gamma (over the draw "
        "of W0 and a), for all W s.t. W in B_{2,inf}(W0, C0/sqrt(m)), the robust error "
        "L_R(W; D) >= 0.9. "
        "[theorycheck: the value 0.9 is a lower bound on L_R holding w.p. >= 1 - 10 gamma, so "
        "gamma < 0.1; R = O~(1/sqrt(d)) is read as R >= C_R/sqrt(d).]"
    )
    kind = Kind.HP_LOWER
    params = (
        _D, _M, _C0,
        Param("gamma", "failure parameter (the corollary holds w.p. >= 1 - 10 gamma)", low=0,
              high=0.1, low_open=True, high_open=True),
        Param("R", "attack radius (||delta|| <= R)", low=0, low_open=True),
    )  # fmt: skip
    constants = (
        _C2, _C3, _C4,
        Constant("C_R", 5.0, "radius constant, R >= C_R/sqrt(d); default 5 = 4 C2 at C2 = 5/4, "
                 "the perturbation bound of Theorem 3.1 (the paper's 5/sqrt(d))"),
    )  # fmt: skip
    scaling = "wang"

    def _value(self, d, m, C0, gamma, R, C2, C3, C4, C_R):
        return np.full(np.shape(d), 0.9)

    # The conditions are Theorem 3.1's width window (_Theorem31Window). R = O~(1/sqrt(d)) is the
    # statement's radius with a free constant, not a condition (every R = c/sqrt(d) with c fixed
    # meets it): rows decide at R >= C_R/sqrt(d) only, or on the implied radius constant.

    @staticmethod
    def failure_probability(gamma):
        """The corollary fails with probability at most 10 gamma."""
        return 10.0 * np.asarray(gamma, dtype=float)


class Lemma41(Bound):
    """|f(x; W)| <= 2 sqrt(log(2/gamma)) + C0 over the whole lazy ball, w.p. >= 1 - gamma.

    At W0 it holds exactly for every m (docs/theory.md F1: P(|f| > t) <= P(|G| > t) <= 2 e^{-t^2/2},
    = gamma^2/2 at t = 2 sqrt(log(2/gamma))), and |f(x; W) - f(x; W0)| <= C0 deterministically in
    the ball (docs/theory.md Sec. 2 item 2; docs/derivations/worst_output.md).
    """

    id = "wang2022.lemma_4_1"
    citation = f"{_CITE}, Lemma 4.1 (stated as informal in the paper)"
    statement = (
        "Lemma 4.1. (Informal) For any x, with probability at least 1 - gamma, "
        "|f(x; a, W)| <= 2 sqrt(log(2/gamma)) + C0 holds for all W in B_{2,inf}(W0, C0/sqrt(m)), "
        "provided that m >= Omega(log(2/gamma))."
    )
    kind = Kind.HP_UPPER
    params = (_M, _C0, _GAMMA)
    constants = (Constant("C_m", 1.0, "constant of m >= Omega(log(2/gamma)); not given (1)"),)
    monotone = {"C0": +1, "gamma": -1}  # noqa: RUF012
    scaling = "wang"

    def _value(self, m, C0, gamma, C_m):
        return 2.0 * np.sqrt(np.log(2.0 / gamma)) + C0 + 0.0 * m

    def _conditions(self, m, C0, gamma, C_m):
        """m >= C_m log(2/gamma)"""
        return np.log(m) >= np.log(C_m * np.log(2.0 / gamma))

    def _log_width_window(self, d, gamma, C_m):
        return np.full(np.shape(d), np.log(C_m * np.log(2.0 / gamma))), np.full(np.shape(d), np.inf)


def _log_lemma_42_d_edge(d, gamma, C_d):
    """log of the smallest m_b with d m >= C_d log(m/gamma) for every m >= m_b.

    d m = C_d log(m/gamma) has a real root iff l1 = log(C_d/(d gamma)) >= 1; the larger root is
    m_b = (C_d/d) w with w - log w = l1, w >= 1 (w = -W_{-1}(-d gamma/C_d), Lambert W). Solved by
    Newton's method from w0 = l1 + log l1 (monotone: w - log w is convex and increasing for w >= 1).
    Without a root every m >= 1 qualifies (log edge 0). A second piece m <= m_a (the W_0 root) can
    exist only when d < C_d; it is not part of the window (docs/derivations/width_window.md).
    """
    d = np.asarray(d, dtype=float)
    l1 = np.log(C_d) - np.log(d) - np.log(gamma)
    has_root = l1 >= 1.0
    l1c = np.where(has_root, l1, 1.0)
    w = l1c + np.log(l1c) + 1.0
    for _ in range(80):
        w = np.maximum(w - (w - np.log(w) - l1c) / (1.0 - 1.0 / w), 1.0)
    return np.where(has_root, np.log(C_d) - np.log(d) + np.log(w), 0.0)


class Lemma42(Bound):
    """||grad f(x; W)|| >= sqrt(d)/4 over the whole lazy ball, w.p. >= 1 - gamma.

    Finding (tests/test_bounds_catalog.py, docs/derivations/width_window.md): the condition
    d >= Omega(log(m/gamma)/m) cannot suffice. W0 is in the ball and, by docs/theory.md F2,
    P(||grad f(x; W0)|| < sqrt(d)/4) -> P(chi2_d < d/8) as m -> infinity (0.276 at d = 1, 0.118 at
    d = 2), while the conditions hold for all large m whatever the constants. A condition
    d >= Omega(log(1/gamma)) is needed.
    """

    id = "wang2022.lemma_4_2"
    citation = f"{_CITE}, Lemma 4.2 (stated as informal in the paper)"
    statement = (
        "Lemma 4.2. (Informal) For any x, with probability at least 1 - gamma, "
        "||grad f(x; a, W)|| >= (1/4) sqrt(d) holds for all W in B_{2,inf}(W0, C0/sqrt(m)), "
        "provided that m >= Omega(log(1/gamma)) and d >= Omega(log(m/gamma)/m)."
    )
    kind = Kind.HP_LOWER
    params = (_D, _M, _C0, _GAMMA)
    constants = (
        Constant("C_m", 1.0, "constant of m >= Omega(log(1/gamma)); not given (1)"),
        Constant("C_d", 1.0, "constant of d >= Omega(log(m/gamma)/m); not given (1)"),
    )
    monotone = {"d": +1}  # noqa: RUF012
    scaling = "wang"

    def _value(self, d, m, C0, gamma, C_m, C_d):
        return np.sqrt(d) / 4.0 + 0.0 * m

    def _conditions(self, d, m, C0, gamma, C_m, C_d):
        """m >= C_m log(1/gamma) and d >= C_d log(m/gamma)/m"""
        return (np.log(m) >= np.log(C_m * np.log(1.0 / gamma))) & (
            d * m >= C_d * (np.log(m) - np.log(gamma))
        )

    def _log_width_window(self, d, gamma, C_m, C_d):
        lower = np.maximum(np.log(C_m * np.log(1.0 / gamma)), _log_lemma_42_d_edge(d, gamma, C_d))
        return lower, np.full(np.shape(d), np.inf)


class Lemma43(Bound):
    id = "wang2022.lemma_4_3"
    citation = "Wang, Ullah, Mianjy, Arora (2022), Lemma 4.3"
    statement = (
        "Let S_v := {s | exists W in B_{2,inf}(W0, C0/sqrt(m)), "
        "1[<w_s,x> > 0] != 1[<w_{s,0},x> > 0]}. "
        "Then, with probability at least 1 - gamma, |S_v| <= C0 sqrt(m) + sqrt(m log(1/gamma)/2)."
    )
    kind = Kind.HP_UPPER
    params = (
        Param("m", "width", low=1, integer=True),
        Param("C0", "lazy-ball constant, R = C0/sqrt(m)", low=0),
        Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True),
    )
    monotone = {"m": +1, "C0": +1, "gamma": -1}  # noqa: RUF012

    def _value(self, m, C0, gamma):
        return C0 * np.sqrt(m) + np.sqrt(m * np.log(1.0 / gamma) / 2.0)


class Lemma44(Bound):
    """Gradient stability: sup ||grad f(x; W) - grad f(x + delta; W)|| = o(sqrt(d)).

    A RATE claim: the value is the scale sqrt(d); the statement says the deviation grows strictly
    slower (log-log slope in d below 1/2, ``order = "o"``), for ||delta|| <= O(1/sqrt(d)) (read as
    rho <= C_delta/sqrt(d)) and d^2.4 <= m <= O(exp(d^0.24)) (constant C4).
    """

    id = "wang2022.lemma_4_4"
    citation = f"{_CITE}, Lemma 4.4"
    statement = (
        "Lemma 4.4. For any x, with probability at least 1 - gamma, for all W in "
        "B_{2,inf}(W0, C0/sqrt(m)), we have that sup_{r in S^{d-1}, delta in R^d} "
        "||grad f(x; a, W) - grad f(x + delta; a, W)|| <= o(sqrt(d)), provided that "
        "||delta|| <= O(1/sqrt(d)), and d^2.4 <= m <= O(exp(d^0.24)). [theorycheck: a rate claim, "
        "the value is the scale sqrt(d) that the deviation must be little-o of.]"
    )
    kind = Kind.RATE
    params = (
        _D, _M, _C0, _GAMMA,
        Param("rho", "perturbation size ||delta|| (wang units)", low=0),
    )  # fmt: skip
    constants = (
        Constant("C_delta", 5.0, "||delta|| <= C_delta/sqrt(d) reads ||delta|| <= O(1/sqrt(d)); "
                 "default 5 = the perturbation bound of Theorem 3.1 at C2 = 5/4"),
        _C4,
    )  # fmt: skip
    monotone = {"d": +1}  # noqa: RUF012
    exponents = {"d": 0.5}  # noqa: RUF012
    order = "o"
    scaling = "wang"

    def _value(self, d, m, C0, gamma, rho, C_delta, C4):
        return np.sqrt(d) + 0.0 * m

    def _conditions(self, d, m, C4, **_):
        """d^2.4 <= m <= C4 exp(d^0.24) (the proviso ||delta|| <= O(1/sqrt(d)) leaves its
        constant free, so every rho = c/sqrt(d) with c fixed meets it: not a condition)"""
        return _in_theorem_window(m, d, 0.5, 0.0, C4)

    def _log_width_window(self, d, gamma, C_delta, C4):
        # No log(1/gamma) edge in Lemma 4.4: C3 = 0 removes it (log 0 = -inf).
        return _theorem_window(d, 0.5, 0.0, C4)


BOUNDS: tuple[Bound, ...] = (
    Theorem31(),
    Theorem31Step(),
    Corollary32(),
    Lemma41(),
    Lemma42(),
    Lemma43(),
    Lemma44(),
)
