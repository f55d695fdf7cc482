"""Worker-process initialiser: pin numba's and BLAS' thread counts; die with the parent.

Without it each of N workers runs a BLAS pool as wide as the machine: on 2 cores with 2 workers a
quick run took 786 s instead of 70 s. The environment variables take effect only if numpy and
numba are not imported yet, and a spawned worker first re-imports the parent's main module: for
the ``theorycheck`` console script that is ``theorycheck.cli``, which imports numpy, so OpenBLAS
has already started a pool as wide as the machine (seen: each of 2 workers with a second thread
at 50% CPU, load 3.9 on 2 cores). threadpoolctl then resizes the pools of the BLAS and OpenMP
libraries already loaded.
"""

import os
import sys

_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(n_threads: int) -> None:
    os.environ["NUMBA_NUM_THREADS"] = str(n_threads)
    for var in _BLAS_VARS:
        os.environ[var] = str(n_threads)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(n_threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(n_threads)  # the libraries loaded already (none if numpy is not imported)


def init_worker(n_threads: int, parent_pid: int) -> None:
    """Initialiser of a local worker process: pin its threads (:func:`pin_threads`) and make it
    die with its parent (:func:`theorycheck.interrupts.die_with_parent`): a killed ``theorycheck
    run --workers N`` leaves no worker computing blocks."""
    from theorycheck.interrupts import die_with_parent

    die_with_parent(parent_pid)
    pin_threads(n_threads)
