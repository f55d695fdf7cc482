"""Same seed, same stored bits on every backend, for one simulation of each kind: numba kernels
(lazy-sign-flips), BLAS-bound solvers (quadratic-rf) and training (lazy-gradient).

Four separate processes store the same three tiny sweeps: inline with 1 numba and 1 BLAS
thread; inline with 2 and 2; 2 local worker processes; a dask LocalCluster of 2 workers. Every
stored block, summary and verdict table must be bit-identical. quadratic-rf at d = 30 is large
enough that OpenBLAS splits its products over 2 threads: without the runner's one-thread pin
around each measurement its end-to-end columns differ in the last bits between the first two
processes (seen before the pin: 3 of its columns).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

TESTS = Path(__file__).resolve().parent
SIMULATIONS = ("lazy-sign-flips", "quadratic-rf", "lazy-gradient")

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from _tiny import TinyLazyGradient, TinyQuadraticRF, TinySignFlips
    from theorycheck.runner import run

    def blas_threads():
        from threadpoolctl import threadpool_info

        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    root, mode = sys.argv[1], sys.argv[2]
    sims = [TinySignFlips(), TinyQuadraticRF(), TinyLazyGradient()]
    workers = None
    if mode == "dask":
        from theorycheck.distributed import dask_executor

        with dask_executor("local:2", results_dir=root) as executor:
            run(sims, seed=11, out=root, executor=executor, progress=False)
            workers = list(executor.client.run(blas_threads).values())
    else:
        run(sims, seed=11, out=root, workers=int(mode), progress=False)
    import numba

    print(json.dumps({"numba": numba.get_num_threads(), "blas": blas_threads(),
                      "dask_workers_blas": workers}))
    """
)


def _threads_env(n: int) -> dict:
    pin = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {
        **os.environ,
        **dict.fromkeys(pin, str(n)),
        "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}",
    }


def _start(root: Path, mode: str, threads: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(root), mode], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_threads_env(threads),
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _stored(root: Path) -> dict[str, pd.DataFrame]:
    files = [p for sim in SIMULATIONS for p in sorted((root / sim).rglob("*.parquet"))]
    files.append(root / "verdicts.parquet")
    return {str(p.relative_to(root)): pd.read_parquet(p) for p in files}


def test_stored_numbers_are_bit_identical_across_threads_workers_and_dask(tmp_path):
    pytest.importorskip("distributed")
    variants = {"1 thread": ("1", 1), "2 threads": ("1", 2), "2 workers": ("2", 2),
                "dask local:2": ("dask", 2)}  # fmt: skip
    roots = {name: tmp_path / name.replace(" ", "_") for name in variants}
    # The two inline runs side by side, then the two multi-process backends one at a time.
    first = {name: _start(roots[name], *variants[name]) for name in ("1 thread", "2 threads")}
    threads = {name: _finish(proc) for name, proc in first.items()}
    for name in ("2 workers", "dask local:2"):
        threads[name] = _finish(_start(roots[name], *variants[name]))
    assert threads["1 thread"]["numba"] == 1 and set(threads["1 thread"]["blas"]) == {1}
    # Every BLAS library of every dask worker (numpy's, scipy's) on one thread for good.
    assert [set(w) for w in threads["dask local:2"]["dask_workers_blas"]] == [{1}, {1}]
    # The 2-thread process really had 2 BLAS and 2 numba threads at hand (on >= 2 cores).
    if (os.cpu_count() or 1) >= 2:
        assert threads["2 threads"]["numba"] == 2 and set(threads["2 threads"]["blas"]) == {2}
    base = _stored(roots["1 thread"])
    kinds = {key.split("/")[0] for key in base if "/block-" in key}
    assert kinds == set(SIMULATIONS)
    assert sum("/block-" in key for key in base) == 6 + 2 + 2
    for name in ("2 threads", "2 workers", "dask local:2"):
        other = _stored(roots[name])
        assert other.keys() == base.keys(), name
        for key in base:
            assert len(base[key]) > 0, key
            pd.testing.assert_frame_equal(
                base[key], other[key], check_exact=True, obj=f"{name}: {key}"
            )
