"""Side-by-side timing of init-gradient-stability's measurement (not a test: no time asserted).

    python benchmarks/bench_perturb.py [--d 1600] [--m 2000] [--networks 50] [--repeats 3]

Times :func:`theorycheck.exact_perturb.sample_perturbation_statistics` on the simulation's own
workload (relu, bubeck, the four random perturbations of ``_perturbations(d)`` and the attack ray
at c t* for c in RAY_FRACTIONS), end to end (drawing included), with ``path="exact"`` (d-free,
docs/derivations/exact_sampler.md Sec. 7) and ``path="numba"`` (materialised networks, the
simulation's former measurement). Each path gets one untimed warm-up call (numba compilation or
cache load); the table shows the median and minimum over ``--repeats`` and the ratio of medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from theorycheck.exact_perturb import sample_perturbation_statistics
from theorycheck.network import NetworkSpec
from theorycheck.seeding import generator
from theorycheck.simulations.init_gradient_stability import RAY_FRACTIONS, _perturbations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=1600)
    parser.add_argument("--m", type=int, default=2000)
    parser.add_argument("--networks", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    spec = NetworkSpec(d=args.d, m=args.m, scaling="bubeck")
    thetas = [th for _, th in _perturbations(args.d)]
    times: dict[str, list[float]] = {}
    for path in ("exact", "numba"):
        sample_perturbation_statistics(spec, 2, generator(0, "warm", path), thetas=thetas,
                                       ray_fractions=RAY_FRACTIONS, path=path)  # fmt: skip
        times[path] = []
        for rep in range(args.repeats):
            rng = generator(rep, "bench-perturb", path)
            t0 = time.perf_counter()
            sample_perturbation_statistics(spec, args.networks, rng, thetas=thetas,
                                           ray_fractions=RAY_FRACTIONS, path=path)  # fmt: skip
            times[path].append(time.perf_counter() - t0)
    print(f"d = {args.d}, m = {args.m}, {args.networks} networks, {len(thetas)} perturbations, "
          f"{len(RAY_FRACTIONS)} ray points, {args.repeats} repeats")  # fmt: skip
    print(f"{'path':<8} {'median s':>10} {'min s':>10} {'ms/network':>11}")
    for path, ts in times.items():
        med = statistics.median(ts)
        print(f"{path:<8} {med:>10.3f} {min(ts):>10.3f} {1e3 * med / args.networks:>11.2f}")
    ratio = statistics.median(times["numba"]) / statistics.median(times["exact"])
    print(f"materialised (numba) / exact: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
