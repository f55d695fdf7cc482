"""Same seed, same bits, whatever the number of numba threads (docs/design.md "Architecture").

Kernels reduce over a fixed number of neuron chunks added in a fixed order (paths.N_CHUNKS), and
randomness is drawn outside the kernels, so every result must be bit-identical with 1 and with 2
threads. In process: ``numba.set_num_threads`` around each call. Across processes: one block of
a simulation measured by ``runner.run_block`` under NUMBA_NUM_THREADS=1 and =2, and the stored
Parquet tables compared exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import fields, is_dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest

from theorycheck.activations import ACTIVATIONS
from theorycheck.attack import first_sign_flip
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.lazy_ball import (
    flippable_neurons,
    lazy_ball_project,
    lazy_radius,
    perturb,
    realised_flips,
    worst_output,
)
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator

MAX_THREADS = numba.config.NUMBA_NUM_THREADS
# With a single available thread the calls are still exercised, comparing 1 thread with 1 thread.
THREAD_COUNTS = (1, min(2, MAX_THREADS))


def _as_arrays(result):
    if is_dataclass(result):
        return {f.name: np.asarray(getattr(result, f.name)) for f in fields(result)}
    if isinstance(result, list):
        return {str(i): np.asarray(r) for i, r in enumerate(result)}
    return {"": np.asarray(result)}


def assert_bit_identical(a, b, what):
    A, B = _as_arrays(a), _as_arrays(b)
    assert A.keys() == B.keys()
    for key in A:
        x, y = A[key], B[key]
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}.{key}"
        assert x.tobytes() == y.tobytes(), f"{what}.{key} differs between thread counts"


def run_with_threads(fn, restore):
    """fn() under each thread count of THREAD_COUNTS; returns the results."""
    out = []
    try:
        for k in THREAD_COUNTS:
            numba.set_num_threads(k)
            assert numba.get_num_threads() == k
            out.append(fn())
    finally:
        numba.set_num_threads(restore)
    return out


@pytest.fixture(scope="module")
def problem(warm_numba):
    """m = 300 > N_CHUNKS neurons (several chunks per thread), d = 20, 7 inputs."""
    spec = NetworkSpec(d=20, m=300, biases=True)
    rng = generator(2024, "test_threads")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 7, rng) * 1.3
    return net, X


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_and_attack_kernels_are_thread_count_invariant(
    problem, name, restore_numba_threads
):
    base, X = problem
    net = Network(NetworkSpec(d=20, m=300, activation=name, biases=True), base.a, base.W, base.b,
                  base.c)  # fmt: skip
    delta = 0.05 * generator(1, "delta").standard_normal(X.shape)
    R = lazy_radius(net.spec, 3.0)
    calls = {
        "output_and_gradient": lambda: output_and_gradient(net, X, path="numba"),
        "gradient_difference": lambda: gradient_difference(net, X, delta, path="numba"),
        "worst_output": lambda: worst_output(net, X, R, path="numba"),
        "first_sign_flip": lambda: first_sign_flip(net, X, path="numba"),
    }
    for what, fn in calls.items():
        one, two = run_with_threads(fn, restore_numba_threads)
        assert_bit_identical(one, two, f"{name} {what}")


def test_lazy_ball_kernels_are_thread_count_invariant(problem, restore_numba_threads):
    net, X = problem
    R = lazy_radius(net.spec, 5.0)
    far = net.W + generator(3, "far").standard_normal(net.W.shape)
    W_in = perturb(net, R, "random-ball", generator(4, "in"), path="numba")
    calls = {
        "flippable_neurons": lambda: flippable_neurons(net, X, R, path="numba"),
        "realised_flips": lambda: realised_flips(net, W_in, X, path="numba"),
        "lazy_ball_project": lambda: lazy_ball_project(far, net.W, R, path="numba"),
        "perturb sphere": lambda: perturb(net, R, "random-sphere", generator(5, "p"), path="numba"),
        "perturb ball": lambda: perturb(net, R, "random-ball", generator(5, "p"), path="numba"),
    }
    for what, fn in calls.items():
        one, two = run_with_threads(fn, restore_numba_threads)
        assert_bit_identical(one, two, what)


_BLOCK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numba
    from theorycheck.simulations.init_gradient import SIMULATION as GRAD, GradientConfig
    from theorycheck.simulations.lazy_sign_flips import SIMULATION as FLIPS, SignFlipConfig
    from theorycheck.runner import Task, run_block
    from theorycheck.simulation import config_id
    from theorycheck.store import ResultsStore

    root = sys.argv[1]
    tasks = [
        Task(FLIPS, SignFlipConfig(m=300, d=4, C0s=(1.0, 10.0), gammas=(0.1,),
                                   networks_per_block=6, n_blocks=1), 0, 123),
        Task(GRAD, GradientConfig(d=30, m=300, activation="gelu", scaling="wang", biases=True,
                                  networks_per_block=10, n_blocks=1), 0, 123),
    ]
    paths = []
    for t in tasks:
        run_block(t, root)
        paths.append(str(ResultsStore(root).block_path(t.simulation.id, config_id(t.config),
                                                       t.seed, t.block)))
    print(json.dumps({"threads": numba.get_num_threads(), "paths": paths}))
    """
)


def test_run_block_results_identical_across_thread_counts(tmp_path):
    """The stored Parquet tables of one block of lazy-sign-flips (and of init-gradient, whose
    columns are floats) are identical under NUMBA_NUM_THREADS=1 and =2 (separate processes)."""
    procs = {}
    for k in THREAD_COUNTS:
        env = {**os.environ, "NUMBA_NUM_THREADS": str(k)}
        root = tmp_path / f"threads-{k}"
        procs[k] = subprocess.Popen(
            [sys.executable, "-c", _BLOCK_SCRIPT, str(root)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
    reports = {}
    for k, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        reports[k] = json.loads(out.strip().splitlines()[-1])
        assert reports[k]["threads"] == k
    one, two = (reports[k] for k in THREAD_COUNTS)
    assert len(one["paths"]) == len(two["paths"]) == 2
    for p1, p2 in zip(one["paths"], two["paths"], strict=True):
        df1, df2 = pd.read_parquet(p1), pd.read_parquet(p2)
        assert len(df1) > 0
        pd.testing.assert_frame_equal(df1, df2, check_exact=True)


# A main module that imports numpy before the pool starts, as the `theorycheck` console script
# does (it imports theorycheck.cli): a spawned worker re-imports it, so OpenBLAS starts its pool
# before the worker's initialiser runs.
_POOL_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy  # noqa: F401  (before the pool, like the console script)
    from theorycheck.runner import local_executor

    def blas_threads(_):
        from threadpoolctl import threadpool_info
        return sorted({lib["num_threads"] for lib in threadpool_info()
                       if lib["user_api"] == "blas"})

    if __name__ == "__main__":
        with local_executor(2) as ex:
            print(json.dumps(list(ex.map(blas_threads, range(2)))))
    """
)


def test_local_workers_run_one_blas_thread_each_even_if_numpy_was_imported_first(tmp_path):
    """``--workers 2`` on 2 cores: each worker's BLAS uses cpu_count // 2 threads, also when the
    parent's main module imported numpy (environment variables alone came too late there)."""
    script = tmp_path / "main_with_numpy.py"
    script.write_text(_POOL_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[expected], [expected]]
