"""Wang, Ullah, Mianjy, Arora (2022), "Adversarial Robustness is at Odds with Lazy Training".

``wang`` scaling: w_{s,0} ~ N(0, I_d), x in S^{d-1}, lazy ball R = C0 / sqrt(m) (Def. 2.1).
"""

from __future__ import annotations

import numpy as np

from bounds._base import Bound, Kind, Param

__all__ = ["Lemma43"]


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


BOUNDS: tuple[Bound, ...] = (Lemma43(),)
