"""The computation paths of SPEC.md "Architecture" and their selection.

* ``reference``: plain NumPy with W materialised, the readable ground truth.
* ``numba``: compiled kernels over a materialised W (parallel, thread-count invariant).

Each public estimator takes ``path=`` and dispatches through :func:`check_path`, which rejects a
path the estimator does not offer with a message listing those it does.
"""

from __future__ import annotations

from theorycheck.errors import UserInputError

PATHS = ("reference", "numba")

#: Fixed number of neuron chunks in parallel reductions. Partial sums are formed per chunk and
#: added in chunk order, so results do not depend on how many threads run the chunks.
N_CHUNKS = 64


def check_path(path: str, offered: tuple[str, ...] = PATHS, *, what: str = "this estimator") -> str:
    """Return ``path`` if ``what`` offers it, else raise naming the paths it offers."""
    if path not in offered:
        raise UserInputError(f"path must be one of {', '.join(offered)} for {what}; got {path!r}")
    return path
