"""A user's own claim, checked by theorycheck against stored observables.

Run it with ``theorycheck run lazy-sign-flips --claims docs/examples/my_bounds.py``, or from
Python with ``theorycheck.load(OUT).check("docs/examples/my_bounds.py")``.

Wang, Ullah, Mianjy, Arora (2022), Lemma 4.3 bounds the number of neurons the lazy ball
B_{2,inf}(W0, C0/sqrt(m)) can flip: |S_R| <= C0 sqrt(m) + sqrt(m log(1/gamma)/2) with probability
at least 1 - gamma (a Hoeffding bound). |S_R| is a sum of m independent indicators, each with
probability p = 2 Phi(C0/sqrt(m)) - 1 <= sqrt(2/pi) C0/sqrt(m)
(docs/theory.md Sec. 4, F6), so Bernstein's inequality gives the tighter

    |S_R| <= m p + sqrt(2 m p log(1/gamma)) + (2/3) log(1/gamma),   m p <= sqrt(2/pi) C0 sqrt(m),

which grows like sqrt(2/pi) C0 sqrt(m) instead of C0 sqrt(m) + sqrt(m log(1/gamma)/2).
"""

import numpy as np

from theorycheck.bounds import Bound, Kind, Param


class BernsteinFlippable(Bound):
    id = "mine.bernstein_flippable"
    citation = "Bernstein's inequality applied to Wang et al. (2022), Lemma 4.3"
    statement = (
        "With probability at least 1 - gamma, |S_R| <= mu + sqrt(2 mu log(1/gamma)) "
        "+ (2/3) log(1/gamma), mu = sqrt(2/pi) C0 sqrt(m)."
    )
    kind = Kind.HP_UPPER
    params = (
        Param("m", "width", low=1, integer=True),
        Param("C0", "lazy-ball constant, R = C0/sqrt(m)", low=0),
        Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True),
    )
    monotone = {"m": +1, "C0": +1, "gamma": -1}  # noqa: RUF012
    #: The observable the claim speaks about: <simulation id>:<column of its replicates>.
    observable = "lazy-sign-flips:flippable"
    #: Values for the parameters the stored replicates do not carry.
    grid = {"gamma": (0.01, 0.1)}  # noqa: RUF012

    def _value(self, m, C0, gamma):
        mu = np.sqrt(2 / np.pi) * C0 * np.sqrt(m)
        log = np.log(1 / gamma)
        return mu + np.sqrt(2 * mu * log) + 2 * log / 3
