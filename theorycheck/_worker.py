"""Worker-process initialiser: pin numba's and the BLAS libraries' thread counts.

Runs in a freshly spawned worker before numpy or numba is imported there (this module imports
neither), so the environment variables take effect. Without them each of N workers starts a
BLAS pool as wide as the machine: on 2 cores with 2 workers a quick run took 786 s instead of
70 s.
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
