"""Wang, Ullah, Mianjy, Arora (2022), Sec. 5.2 and Fig. 4: adversarial training in the lazy regime.

The paper's Sec. 5.2 trains the hidden layer with l2 PGD adversarial training (Madry et al. 2018),
projecting the weights onto B_{2,inf}(W0, V) after every step (its Algorithm 1), and reads three
statements off its Fig. 4 (``wang`` scaling, ||x|| = 1):

* the theory applies to every W of the lazy ball, hence to adversarially trained ones: at
  ||delta|| >= C_R / sqrt(d) their robust accuracy is that of Corollary 3.2, at most 0.1 with
  probability >= 1 - 10 gamma (``wang2022_training.adversarial_robust_accuracy``, a high-probability
  upper bound on the robust accuracy 1 - L_R(W; D));
* Fig. 4 left (m = 1000, V = 10/sqrt(m)): "a sharp drop in robust accuracy about the 5/sqrt(d)
  threshold for the perturbation budget", robust below it, ~0 "slightly larger"
  (``wang2022_training.radius_drop``, the threshold C_drop / sqrt(d) as a rate in d);
* Fig. 4 right (d = 784, ||delta|| = 0.2): "a phase transition in the robust test accuracy at value
  of V around O(1/sqrt(m))": "even a slight deviation from the 25/sqrt(m) radius allows for
  training networks that are completely robust", while "with a smaller radius ... the robust test
  accuracy quickly drops to 0" (``wang2022_training.width_transition``, the transition
  C_V / sqrt(m) as a rate in m).

The two Fig. 4 statements are figure-level: the paper gives the thresholds 5/sqrt(d) and
25/sqrt(m) from its plots, without a tolerance, so a simulation reports where its own transition
lies (descriptions) rather than testing them. The statements' thresholds are constants
(``C_drop``, ``C_V``) with the paper's values as defaults. docs/theory.md states them in the
project's words.
"""

from __future__ import annotations

import numpy as np

from theorycheck.bounds._base import Bound, Constant, Kind, Param
from theorycheck.bounds.wang2022 import _in_theorem_window

__all__ = ["AdversarialRobustAccuracy", "RadiusDrop", "WidthTransition"]

_CITE = "Wang, Ullah, Mianjy, Arora (2022)"
_D = Param("d", "input dimension", low=1, integer=True)
_M = Param("m", "width (number of hidden neurons)", low=1, integer=True)
_C0 = Param("C0", "lazy-ball constant of the projection, V = C0/sqrt(m)", low=0)
_R = Param("R", "attack radius ||delta|| (wang units, ||x|| = 1)", low=0, low_open=True)


class AdversarialRobustAccuracy(Bound):
    """Robust accuracy <= 0.1 at R >= C_R/sqrt(d) for adversarially trained W of the lazy ball.

    Corollary 3.2 (robust error >= 0.9 for every W of B_{2,inf}(W0, C0/sqrt(m)), w.p. >= 1 - 10
    gamma over (a, W0), in the width window of Theorem 3.1) applied to the W that Sec. 5.2's
    adversarial training returns; the paper: "our theoretical results are not limited to any
    particular learning algorithm ... In this section, we further verify our theoretical results
    for networks that are adversarially trained in the lazy regime".
    """

    id = "wang2022_training.adversarial_robust_accuracy"
    citation = f"{_CITE}, Sec. 5.2 (adversarial training, Algorithm 1) with Corollary 3.2"
    statement = (
        "Sec. 5.2: 'our theoretical results are not limited to any particular learning "
        "algorithm. In fact, the results hold simultaneously for all networks in the lazy "
        "regime.' With Corollary 3.2: for W returned by l2 PGD adversarial training projected "
        "onto B_{2,inf}(W0, C0/sqrt(m)) after every step, with probability at least 1 - 10 gamma "
        "over (a, W0), the robust error L_R(W; D) >= 0.9 for R = O~(1/sqrt(d)), in the parameter "
        "settings of Theorem 3.1. [theorycheck: the robust accuracy 1 - L_R(W; D) <= 0.1 w.p. >= "
        "1 - 10 gamma, R = O~(1/sqrt(d)) read as R >= C_R/sqrt(d).]"
    )
    kind = Kind.HP_UPPER
    params = (
        _D, _M, _C0,
        Param("gamma", "failure parameter (the statement holds w.p. >= 1 - 10 gamma)", low=0,
              high=0.1, low_open=True, high_open=True),
        _R,
    )  # fmt: skip
    constants = (
        Constant("C_R", 5.0, "radius constant, R >= C_R/sqrt(d); default 5, the paper's "
                 "5/sqrt(d) threshold (Sec. 5.2, Fig. 4 left)"),
        Constant("C3", 1.0, "width constant of Theorem 3.1, m >= C3 log(1/gamma); not given (1)"),
        Constant("C4", 1.0, "width constant of Theorem 3.1, m <= C4 exp(d^0.24); not given (1)"),
    )  # fmt: skip
    scaling = "wang"

    def _value(self, d, m, C0, gamma, R, C_R, C3, C4):
        return np.full(np.shape(d), 0.1)

    def _conditions(self, d, m, C0, gamma, R, C_R, C3, C4):
        """max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24) and R >= C_R/sqrt(d)"""
        return _in_theorem_window(m, d, gamma, C3, C4) & (R >= C_R / np.sqrt(d))

    @staticmethod
    def failure_probability(gamma):
        """The statement fails with probability at most 10 gamma (Corollary 3.2)."""
        return 10.0 * np.asarray(gamma, dtype=float)


class RadiusDrop(Bound):
    """Fig. 4 left: lazy adversarial training's robust accuracy drops near ||delta|| = 5/sqrt(d)."""

    id = "wang2022_training.radius_drop"
    citation = f"{_CITE}, Sec. 5.2, Fig. 4 (left)"
    statement = (
        "Fig. 4 (left), m = 1000, V = C0/sqrt(m) with C0 = 10: 'We observe a sharp drop in "
        "robust accuracy about the 5/sqrt(d) threshold for the perturbation budget ||delta|| as "
        "predicted by Theorem 3.1. We can see that for perturbation sizes slightly larger than "
        "5/sqrt(d), the robust accuracy drops to 0, while the trained networks are robust against "
        "smaller perturbations.' [theorycheck: the radius where the robust accuracy of the "
        "adversarially trained networks crosses 1/2 is C_drop/sqrt(d), C_drop = 5: a rate "
        "Theta(d^-1/2), read off a figure.]"
    )
    kind = Kind.RATE
    params = (_D, _M, _C0)
    constants = (
        Constant("C_drop", 5.0, "threshold constant, ||delta|| = C_drop/sqrt(d); the paper's 5"),
    )
    monotone = {"d": -1}  # noqa: RUF012
    exponents = {"d": -0.5}  # noqa: RUF012
    order = "Theta"
    scaling = "wang"

    def _value(self, d, m, C0, C_drop):
        return C_drop / np.sqrt(d) + 0.0 * m + 0.0 * C0


class WidthTransition(Bound):
    """Fig. 4 right: adversarial training becomes robust once V exceeds about 25/sqrt(m)."""

    id = "wang2022_training.width_transition"
    citation = f"{_CITE}, Sec. 5.2, Fig. 4 (right)"
    statement = (
        "Fig. 4 (right), d = 28^2, ||delta|| = 0.2: 'We observe a phase transition in the robust "
        "test accuracy at value of V around O(1/sqrt(m)), as required by Theorem 3.1. In "
        "particular, for any fixed width m, even a slight deviation from the 25/sqrt(m) radius "
        "allows for training networks that are completely robust against the PGD attacks. With a "
        "smaller radius, however, the robust test accuracy quickly drops to 0.' [theorycheck: the "
        "ball radius V where the robust accuracy of the adversarially trained networks crosses "
        "1/2 is C_V/sqrt(m), C_V = 25: a rate Theta(m^-1/2), read off a figure.]"
    )
    kind = Kind.RATE
    params = (_D, _M, _R)
    constants = (Constant("C_V", 25.0, "transition constant, V = C_V/sqrt(m); the paper's 25"),)
    monotone = {"m": -1}  # noqa: RUF012
    exponents = {"m": -0.5}  # noqa: RUF012
    order = "Theta"
    scaling = "wang"

    def _value(self, d, m, R, C_V):
        return C_V / np.sqrt(m) + 0.0 * d + 0.0 * R


BOUNDS: tuple[Bound, ...] = (AdversarialRobustAccuracy(), RadiusDrop(), WidthTransition())
