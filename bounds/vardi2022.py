"""Vardi, Yehudai, Shamir (2022), "Gradient Methods Provably Converge to Non-Robust Networks"
(NeurIPS 2022): depth-2 relu networks f(x) = sum_k a_k relu(<w_k, x> + b_k) on data
{(x_i, y_i)} in sqrt(d) S^{d-1} x {-1, +1}.

How each statement is represented (an unspecified constant is a :class:`Constant` with a
documented default; verdicts never decide at the default but through implied constants,
docs/theory.md Sec. 6):

* ``vardi2022.universal_perturbation`` (the main theorem): classes balanced (each at
  least a fraction c of the n points), n <= (d + 1) / (3 (max_{i != j} |<x_i, x_j>| + 1)) (the
  separation condition), theta a KKT point of the max-margin problem; then some
  delta = eta sum_i y_i x_i, eta > 0, with ||delta|| = O(sqrt(d / (c^2 n))) flips every training
  point: sign f(x_i - y_i delta) = -y_i. A RATE (order O) in d (exponent 1/2) and n (-1/2);
  the separation condition enters through s = 3 n (max |<x_i, x_j>| + 1) / (d + 1) <= 1.
* ``vardi2022.robust_network`` (the theorem "robust networks exist"): if |<x_i, x_j>| <= rho d for
  i != j with rho < 1, some depth-2 relu network classifies every x_i correctly and needs a
  perturbation of size Omega(sqrt(d)) to change any of its predictions. A RATE (order Omega,
  exponent 1/2 in d). The value C (1 - rho) sqrt(d) with C = 1/2 is the certified radius of the
  construction the product uses (one neuron per point, threshold (1 + rho) d / 2): every
  ||delta|| < (1 - rho) sqrt(d) / 2 keeps each neuron of the other class off and the point's own
  neuron on (Cauchy-Schwarz with ||x_j|| = sqrt(d)).
* ``vardi2022.kkt_direction`` (Lyu & Li 2020 and Ji & Telgarsky 2020, the theorem on gradient flow
  and KKT points that Vardi et al. state and build on): gradient flow on the exponential or
  logistic loss of a homogeneous relu network, once the loss is below l(0), converges in direction
  to a KKT point of min ||theta||^2 / 2 s.t. y_i f(x_i) >= 1. An ASYMPTOTIC reference: the KKT
  residual tends to 0 as the loss tends to 0 (checked against log10(1/L)).
* ``vardi2022.sphere_inner_products`` (the remark after the main theorem): for x_i i.i.d. uniform
  on sqrt(d) S^{d-1} and n = poly(d), w.h.p. max_{i != j} |<x_i, x_j>| = O(sqrt(d) log d), so the
  separation condition allows n of order sqrt(d) / log d. A RATE (order O, exponent 1/2 in d up to
  the log), checked through the implied constant max |<x_i, x_j>| / (sqrt(d) log d).
"""

from __future__ import annotations

import numpy as np

from theorycheck.bounds._base import Bound, Constant, Kind, Param

__all__ = [
    "BOUNDS",
    "KKTDirection",
    "RobustNetwork",
    "SphereInnerProducts",
    "UniversalPerturbation",
    "separation_ratio",
]

_CITE = "Vardi, Yehudai, Shamir (2022), Gradient Methods Provably Converge to Non-Robust Networks"

_D = Param("d", "input dimension (inputs on the sphere of radius sqrt(d))", low=2, integer=True)
_N = Param("n", "number of training points", low=2, integer=True)
_C = Param("c", "smallest class fraction: each class holds at least c n points", low=0,
           high=0.5, low_open=True)  # fmt: skip
_S = Param("s", "separation ratio 3 n (max_{i != j} |<x_i, x_j>| + 1) / (d + 1); the theorem "
           "needs s <= 1", low=0)  # fmt: skip
_RHO = Param("rho", "max_{i != j} |<x_i, x_j>| / d", low=0, high=1, high_open=True)


def separation_ratio(n, d, max_inner):
    """s = 3 n (max_{i != j} |<x_i, x_j>| + 1) / (d + 1): the separation condition of the main
    theorem is s <= 1, i.e. n <= (d + 1) / (3 (max |<x_i, x_j>| + 1))."""
    n, d, m = (np.asarray(v, dtype=float) for v in (n, d, max_inner))
    return 3.0 * n * (m + 1.0) / (d + 1.0)


class UniversalPerturbation(Bound):
    """||delta|| <= C sqrt(d / (c^2 n)) for a universal delta = eta sum_i y_i x_i (main theorem)."""

    id = "vardi2022.universal_perturbation"
    citation = f"{_CITE}, main theorem (universal perturbation of KKT points)"
    statement = (
        "Let {(x_i, y_i)}_{i<=n} be in sqrt(d) S^{d-1} x {-1, +1}, with each class holding at "
        "least c n points, and n <= (d + 1) / (3 (max_{i != j} |<x_i, x_j>| + 1)). Let f_theta "
        "be a depth-2 relu network where theta is a KKT point of the max-margin problem "
        "min ||theta||^2/2 s.t. y_i f_theta(x_i) >= 1. Then there is delta = eta sum_i y_i x_i, "
        "eta > 0, with ||delta|| = O(sqrt(d / (c^2 n))), such that sign f_theta(x_i - y_i delta) "
        "= -y_i for every i. [theorycheck: the value is C sqrt(d / (c^2 n)); checked on networks "
        "trained to loss 1e-30 through the implied constant ||delta_min|| / sqrt(d / (c^2 n)), "
        "delta_min the smallest such delta; the separation condition is s <= 1.]"
    )
    kind = Kind.RATE
    params = (_D, _N, _C, _S)
    constants = (
        Constant(
            "C", 1.0,
            "constant of the O(.) in the main theorem; not given in the statement (1). Networks "
            "trained to loss 1e-30 on uniform data measure ||delta_min|| / sqrt(d / (c^2 n)) "
            "~ 0.5-0.9",
        ),
    )  # fmt: skip
    monotone = {"d": +1, "n": -1, "c": -1}  # noqa: RUF012
    exponents = {"d": 0.5, "n": -0.5}  # noqa: RUF012
    order = "O"

    def _value(self, d, n, c, s, C):
        return C * np.sqrt(d / (c * c * n))

    def _conditions(self, d, n, c, s, C):
        """s <= 1 (n <= (d + 1) / (3 (max_{i != j} |<x_i, x_j>| + 1))) and n <= d"""
        return (s <= 1.0 + 1e-12) & (n <= d)


class RobustNetwork(Bound):
    """Some depth-2 relu network fits the data and needs ||delta|| = Omega(sqrt(d))."""

    id = "vardi2022.robust_network"
    citation = f'{_CITE}, theorem "robust networks exist"'
    statement = (
        "Let {(x_i, y_i)}_{i<=n} be in sqrt(d) S^{d-1} x {-1, +1} with |<x_i, x_j>| <= rho d for "
        "all i != j, 0 <= rho < 1. Then there is a depth-2 relu network f with y_i f(x_i) > 0 for "
        "all i such that changing the prediction at any x_i needs a perturbation of norm "
        "Omega(sqrt(d)). [theorycheck: the value is C (1 - rho) sqrt(d), C = 1/2 the certified "
        "radius of the one-neuron-per-point construction; checked through the implied constant "
        "certified radius / sqrt(d), which must stay away from 0.]"
    )
    kind = Kind.RATE
    params = (_D, _RHO)
    constants = (
        Constant(
            "C", 0.5,
            "constant of the Omega(.); 1/2 is what the construction certifies (the radius "
            "(1 - rho) sqrt(d)/2 of its proof)",
        ),
    )  # fmt: skip
    monotone = {"d": +1, "rho": -1}  # noqa: RUF012
    exponents = {"d": 0.5}  # noqa: RUF012
    order = "Omega"

    def _value(self, d, rho, C):
        return C * (1.0 - rho) * np.sqrt(d)

    def _conditions(self, d, rho, C):
        """rho < 1 (every pair of points separated: |<x_i, x_j>| <= rho d)"""
        return rho < 1.0


class KKTDirection(Bound):
    """Gradient flow converges in direction to a KKT point of the max-margin problem."""

    id = "vardi2022.kkt_direction"
    citation = (
        "Lyu & Li (2020) and Ji & Telgarsky (2020), the theorem on gradient flow and KKT "
        f"points as stated and used by {_CITE}"
    )
    statement = (
        "Let f_theta be a homogeneous relu network trained by gradient flow on the exponential or "
        "logistic loss, and suppose the loss drops below l(0) at some time (every training point "
        "classified correctly). Then theta(t)/||theta(t)|| converges to the direction of a KKT "
        "point of min ||theta||^2/2 s.t. y_i f_theta(x_i) >= 1, and the loss tends to 0. "
        "[theorycheck: the value is the KKT residual's limit 0, compared with the residual "
        "measured at loss L = 10^-ell.]"
    )
    kind = Kind.ASYMPTOTIC
    params = (Param("ell", "log10 of the inverse training loss, L = 10^-ell", low=0,
                    low_open=True),)  # fmt: skip

    def _value(self, ell):
        return np.zeros(np.shape(ell))


class SphereInnerProducts(Bound):
    """max_{i != j} |<x_i, x_j>| = O(sqrt(d) log d) w.h.p. for uniform data (a remark)."""

    id = "vardi2022.sphere_inner_products"
    citation = f"{_CITE}, the remark following the main theorem"
    statement = (
        "If x_1, ..., x_n are i.i.d. uniform on sqrt(d) S^{d-1} and n is polynomial in d, then "
        "w.h.p. max_{i != j} |<x_i, x_j>| = O(sqrt(d) log d); hence the main theorem applies with "
        "n of order sqrt(d) / log d, where ||delta|| = o(sqrt(d)). [theorycheck: the value is "
        "C sqrt(d) log d; checked through the implied constant max |<x_i, x_j>| / (sqrt(d) log d) "
        "at its 1 - gamma quantile.]"
    )
    kind = Kind.RATE
    params = (_D, _N)
    constants = (Constant("C", 1.0, "constant of the O(.); not given (1)"),)
    monotone = {"d": +1}  # noqa: RUF012
    # sqrt(d) log d is no power of d (its local exponent is 1/2 + 1/log d): no exponent is
    # declared, and the claim is checked only through its implied constant.
    exponents: dict[str, float] = {}  # noqa: RUF012
    order = "O"

    def _value(self, d, n, C):
        return C * np.sqrt(d) * np.log(d) + 0.0 * n

    def _conditions(self, d, n, C):
        """n <= d^2 (n polynomial in d; the grid's n are far below)"""
        return n <= d * d


BOUNDS: tuple[Bound, ...] = (
    UniversalPerturbation(),
    RobustNetwork(),
    KKTDirection(),
    SphereInnerProducts(),
)
