"""Bubeck, Cherapanamjeri, Gidel, Tachet des Combes (2021), "A single gradient step finds
adversarial examples on random two-layers neural networks" (NeurIPS 2021).

``bubeck`` scaling: f(x) = k^{-1/2} sum_l a_l sigma(w_l^T x), w_l ~ N(0, I_d/d), a_l ~ U{-1, +1},
x in sqrt(d) S^{d-1}; the width k is called ``m`` here, as everywhere in theorycheck. Statements are
quoted from the paper's main theorem and its proof outline ("The High Level Idea", eqs. (2)-(4):
the lower bound on the gradient and the stability of the gradient).

Representation:

* ``bubeck2021.theorem``: the perturbation ||eta grad f(x)|| <= C4 sqrt(log(1/gamma)) as a
  high-probability upper bound, with the theorem's conditions k >= C1 log^3(1/gamma) and
  d >= C2 log(k/gamma) log(1/gamma) (a width window k <= gamma exp(d/(C2 log(1/gamma))), see
  :mod:`bounds.conditions`); :meth:`BubeckTheorem.step` gives the prescribed step
  |eta| = C3 sqrt(log(1/gamma)) ||grad f(x)||^-2. The sign-flip guarantee itself is a statement
  about an event, checked by simulation (init-single-step).
* The high-level lemmas are RATE claims (``exponents``, ``order`` as in :mod:`bounds.wang2022`):
  |f(x)| in Theta(1), ||grad f(x)|| in Omega(1) and O(1), and gradient stability
  ||grad f(x) - grad f(x + delta)|| in o(||grad f(x)||) for ||delta|| up to the theorem's
  perturbation size. Their values are the implied constant C (default 1), which the simulations
  estimate; the exact laws F1, F2 (docs/theory.md Sec. 4) give it for relu.

All constants are "constants [that] depend only on sigma" (slides); none is given, all default
to 1.
"""

from __future__ import annotations

import numpy as np

from theorycheck.bounds._base import Bound, Constant, Kind, Param

__all__ = ["BubeckTheorem", "GradientNorm", "GradientStability", "OutputOrder"]

_CITE = "Bubeck, Cherapanamjeri, Gidel, Tachet des Combes (2021)"
_D = Param("d", "input dimension", low=1, integer=True)
_M = Param("m", "width (k in Bubeck et al.)", low=1, integer=True)
_GAMMA = Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True)
_C1 = Constant("C1", 1.0, "width constant, k >= C1 log^3(1/gamma); depends only on sigma (1)")
_C2 = Constant("C2", 1.0, "dimension constant, d >= C2 log(k/gamma) log(1/gamma) (1)")
_C3 = Constant("C3", 1.0, "step constant, |eta| = C3 sqrt(log(1/gamma)) ||grad f||^-2 (1)")
_C4 = Constant("C4", 1.0, "perturbation constant, ||eta grad f|| <= C4 sqrt(log(1/gamma)) (1)")
_C = Constant("C", 1.0, "the implied constant of the Theta/O/Omega claim (estimated; 1)")

_ASSUME = (
    "Let gamma in (0, 1) and let sigma be non-constant, Lipschitz and with Lipschitz derivative. "
    "Assume k >= C1 log^3(1/gamma), d >= C2 log(k/gamma) log(1/gamma)"
)


def _log_window(d, gamma, C1, C2):
    """Natural-log edges of C1 log^3(1/gamma) <= k <= gamma exp(d/(C2 log(1/gamma)))."""
    L = np.log(1.0 / gamma)
    return np.log(C1 * L**3) + 0.0 * d, d / (C2 * L) - L


def _in_window(m, d, gamma, C1, C2):
    # d >= C2 log(k/gamma) log(1/gamma)  <=>  log k <= d/(C2 L) - L, with L = log(1/gamma); the
    # same floating-point expressions as _log_window.
    L = np.log(1.0 / gamma)
    logm = np.log(m)
    return (logm >= np.log(C1 * L**3)) & (logm <= d / (C2 * L) - L)


class BubeckTheorem(Bound):
    """The single-step perturbation ||eta grad f(x)|| <= C4 sqrt(log(1/gamma)), w.p. 1 - gamma."""

    id = "bubeck2021.theorem"
    citation = f"{_CITE}, main theorem"
    statement = (
        f"Theorem. {_ASSUME}, and let eta in R such that |eta| = C3 sqrt(log(1/gamma)) "
        "||grad f(x)||^{-2} and sign(eta) = -sign(f(x)). Then with probability at least 1 - gamma: "
        "sign(f(x)) != sign(f(x + eta grad f(x))). Moreover, we have "
        "||eta grad f(x)|| <= C4 sqrt(log(1/gamma))."
    )
    kind = Kind.HP_UPPER
    params = (_D, _M, _GAMMA)
    constants = (_C1, _C2, _C3, _C4)
    monotone = {"gamma": -1}  # noqa: RUF012
    scaling = "bubeck"

    def _value(self, d, m, gamma, C1, C2, C3, C4):
        return C4 * np.sqrt(np.log(1.0 / gamma)) + 0.0 * d

    def _conditions(self, d, m, gamma, C1, C2, C3, C4):
        """k >= C1 log^3(1/gamma) and d >= C2 log(k/gamma) log(1/gamma) (k = width m)"""
        return _in_window(m, d, gamma, C1, C2)

    def _log_width_window(self, d, gamma, C1, C2, **_):
        return _log_window(d, gamma, C1, C2)

    def step(self, grad_norm, gamma, C3: float = _C3.default) -> np.ndarray:
        """The prescribed step |eta| = C3 sqrt(log(1/gamma)) / ||grad f(x)||^2."""
        g = np.asarray(grad_norm, dtype=float)
        return C3 * np.sqrt(np.log(1.0 / np.asarray(gamma, dtype=float))) / (g * g)


class OutputOrder(Bound):
    """|f(x)| in Theta(1) as d and k grow (relu: docs/theory.md F1, E|f| -> 1/sqrt(pi))."""

    id = "bubeck2021.output_order"
    citation = f"{_CITE}, high-level idea eq. (2)"
    statement = (
        "For k large + our scale of input/weights + sigma 'nice', should expect w.h.p. (CLT) "
        "|f(x)| in Theta(1). (2) [theorycheck: a Theta(1) rate in d and k; the value is the "
        "implied constant C.]"
    )
    kind = Kind.RATE
    params = (_D, _M)
    constants = (_C,)
    exponents = {"d": 0.0, "m": 0.0}  # noqa: RUF012
    order = "Theta"
    scaling = "bubeck"

    def _value(self, d, m, C):
        return C + 0.0 * d * m


class GradientNorm(Bound):
    """||grad f(x)|| in Omega(1) and O(1) (bubeck units; relu: E||grad f||^2 = 1/2, F2)."""

    id = "bubeck2021.gradient_norm"
    citation = f"{_CITE}, high-level idea eq. (3) and the upper bound after (4)"
    statement = (
        "Bounded gradient: ||grad f(x)|| in Omega(1) (3). [...] Together with an *upper* bound on "
        "||grad f(x)|| implies that the gradient essentially is constant on the 'macroscopic' "
        "scale. [theorycheck: a Theta(1) rate in d and k; the value is the implied constant C.]"
    )
    kind = Kind.RATE
    params = (_D, _M)
    constants = (_C,)
    exponents = {"d": 0.0, "m": 0.0}  # noqa: RUF012
    order = "Theta"
    scaling = "bubeck"

    def _value(self, d, m, C):
        return C + 0.0 * d * m


class GradientStability(Bound):
    """||grad f(x) - grad f(x + delta)|| in o(||grad f(x)||) for ||delta|| <= rho.

    Read as: at ||delta|| = rho <= C4 sqrt(log(1/gamma)) (the theorem's perturbation size, bubeck
    units) the deviation, relative to ||grad f|| = Theta(1), tends to 0 as d grows with k in the
    theorem's window: the log-log slope in d must be below 0 (``order = "o"``). For a random
    delta docs/theory.md F5 gives E||grad f(x + delta) - grad f(x)||^2 = theta/pi ~ rho/(pi
    sqrt(d)).
    """

    id = "bubeck2021.gradient_stability"
    citation = f"{_CITE}, high-level idea eq. (4), stability of the gradient"
    statement = (
        "Gradient locally stable: for delta small, ||grad f(x) - grad f(x + delta)|| in "
        "o(||grad f(x)||) (4). [theorycheck: for ||delta|| <= C4 sqrt(log(1/gamma)), the ratio to "
        "||grad f|| = Theta(1) tends to 0 in d; the value is the gradient scale C.]"
    )
    kind = Kind.RATE
    params = (_D, _M, _GAMMA, Param("rho", "perturbation size ||delta|| (bubeck units)", low=0))
    constants = (_C1, _C2, _C4, _C)
    exponents = {"d": 0.0}  # noqa: RUF012
    order = "o"
    scaling = "bubeck"

    def _value(self, d, m, gamma, rho, C1, C2, C4, C):
        return C + 0.0 * d

    def _conditions(self, d, m, gamma, rho, C1, C2, C4, C):
        """k >= C1 log^3(1/gamma), d >= C2 log(k/gamma) log(1/gamma), rho <= C4 log(1/gamma)^0.5"""
        return _in_window(m, d, gamma, C1, C2) & (rho <= C4 * np.sqrt(np.log(1.0 / gamma)))

    def _log_width_window(self, d, gamma, C1, C2, **_):
        return _log_window(d, gamma, C1, C2)


BOUNDS: tuple[Bound, ...] = (BubeckTheorem(), OutputOrder(), GradientNorm(), GradientStability())
