"""Worker-process initialiser: pin numba's thread count before numba is imported."""

import os
import sys


def pin_threads(n_threads: int) -> None:
    os.environ["NUMBA_NUM_THREADS"] = str(n_threads)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(n_threads)
