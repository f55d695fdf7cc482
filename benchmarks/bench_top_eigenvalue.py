"""The drift certificate's top eigenvalue: full ``eigvalsh`` against the certified Lanczos +
Cholesky bound (theorycheck.perturbations.certified_top_eigenvalue), side by side in one run.

    python benchmarks/bench_top_eigenvalue.py [--repeats 3]

Not a test: nothing here asserts a time. Gram matrices U U^T of Gaussian rows, n x n, at the sizes
the drift certificate meets (n = |S| flippable neurons when |S| <= d, else d).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from theorycheck.perturbations import certified_top_eigenvalue


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"{'n':>6} {'eigvalsh s':>11} {'certified s':>12} {'ratio':>6} {'bound/exact - 1':>16}")
    for n in (400, 784, 1600, 3000):
        G = (U := np.random.default_rng(n).standard_normal((n, n))) @ U.T
        times = {"eig": [], "cert": []}
        for _ in range(args.repeats):
            t = time.perf_counter()
            exact = float(np.linalg.eigvalsh(G)[-1])
            times["eig"].append(time.perf_counter() - t)
            t = time.perf_counter()
            bound = certified_top_eigenvalue(G)
            times["cert"].append(time.perf_counter() - t)
        e, c = statistics.median(times["eig"]), statistics.median(times["cert"])
        print(f"{n:>6} {e:>11.3f} {c:>12.3f} {e / c:>6.2f} {bound / exact - 1:>16.2e}")


if __name__ == "__main__":
    main()
