"""The computation paths of docs/design.md "Architecture" and their selection.

* ``reference``: plain NumPy with W materialised, the readable ground truth.
* ``numba``: compiled kernels over a materialised W. The kernels are serial loops around BLAS
  products (pre-activations, gradients): numba ``prange`` regions alternating with OpenBLAS's own
  thread pool made every region wait for the other pool's spinning threads (25-150 ms instead
  of 0.3 ms per call on 2 cores), so parallelism comes from BLAS and from worker processes, and
  results cannot depend on the numba thread count;
  :func:`theorycheck.fused.single_step_statistics` fuses f, ||grad f||, |S_R| and t* in one kernel.
* ``streaming`` (numba, W never materialised, rows regenerated from counter-based streams keyed by
  (seed, network, neuron)): :func:`theorycheck.streaming.streaming_statistics`.
* ``exact``: the d-free laws of docs/theory.md Sec. 4.1 at initialisation, O(m) per network
whatever d
  is: :func:`theorycheck.exact.sample_init_statistics` (which also offers ``numba``/``reference``,
  drawing materialised networks, for the cross-checks).

Each public estimator takes ``path=`` and dispatches through :func:`check_path`, which rejects a
path the estimator does not offer with a message listing those it does.
"""

from __future__ import annotations

from theorycheck.errors import UserInputError

PATHS = ("reference", "numba")

#: Fixed number of neuron chunks in reductions. Partial sums are formed per chunk and added in
#: chunk order, so the summation order is fixed whatever runs the chunks.
N_CHUNKS = 64


def check_path(path: str, offered: tuple[str, ...] = PATHS, *, what: str = "this estimator") -> str:
    """Return ``path`` if ``what`` offers it, else raise naming the paths it offers."""
    if path not in offered:
        raise UserInputError(f"path must be one of {', '.join(offered)} for {what}; got {path!r}")
    return path
