"""The distributed backend: same numbers as the local backend, retries, resume, clear errors.

Every cluster here is a dask LocalCluster on the loopback interface. A test that kills something
(a worker, the driver) uses :class:`SlowTinySignFlips`, whose blocks wait half a second so that
the kill lands while blocks are in flight; the kill is triggered by observed progress (block files
appearing), never by a fixed sleep, and each test asserts that the sweep really was unfinished
when the kill landed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from _tiny import SlowTinySignFlips, TinySignFlips

from theorycheck import simulations
from theorycheck.cli import main
from theorycheck.distributed import (
    check_results_dir,
    dask_executor,
    numba_thread_budget,
    parse_scheduler,
    version_mismatches,
)
from theorycheck.errors import UserInputError
from theorycheck.runner import run
from theorycheck.store import ResultsStore

TESTS_DIR = Path(__file__).resolve().parent
SLOW_BLOCKS = 12  # SlowTinySignFlips: 2 configs x 6 blocks


def _blocks(root: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(root)): pd.read_parquet(p)
        for p in sorted(root.glob("lazy-sign-flips/*/block-*.parquet"))
    }


def _assert_same_store(a: Path, b: Path) -> None:
    """Bit-for-bit equal blocks, summary and Holm-adjusted verdicts."""
    blocks_a, blocks_b = _blocks(a), _blocks(b)
    assert blocks_a and blocks_a.keys() == blocks_b.keys()
    for key in blocks_a:
        pd.testing.assert_frame_equal(blocks_a[key], blocks_b[key], check_exact=True)
    for table in ("verdicts.parquet", *(str(p.relative_to(a)) for p in a.glob("*/*.parquet"))):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / table), pd.read_parquet(b / table), check_exact=True
        )


def _wait_for_blocks(root: Path, at_least: int, timeout: float = 120.0, proc=None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver exited early: {proc.communicate()[1]}")
        n = len(list(root.glob("lazy-sign-flips/*/block-*.parquet")))
        if n >= at_least:
            return n
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} blocks under {root} after {timeout}s")


# -- errors ------------------------------------------------------------------------------------
def test_missing_dask_is_a_one_line_error_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    with pytest.raises(UserInputError, match=r'pip install "theorycheck\[distributed\]"'):
        with dask_executor("local:2"):
            pass
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "lazy-sign-flips", "--scheduler", "tcp://127.0.0.1:8786", "--no-report"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "theorycheck: error: the distributed backend needs dask: "
        'pip install "theorycheck[distributed]"'
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scheduler", "local:0"], "local:N with N >= 1"),
        (["--scheduler", "local:two"], "local:N with N >= 1"),
        (["--scheduler", "nonsense"], "cannot reach a dask scheduler there"),
        (["--scheduler", "foo://host:1"], "cannot reach a dask scheduler there"),
        (["--scheduler", "local:2", "--workers", "2"], "--scheduler and --workers cannot"),
    ],
)
def test_bad_scheduler_arguments_are_one_line_user_errors(args, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "lazy-sign-flips", "--no-report", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_scheduler_is_a_user_error_after_the_timeout():
    # Port 1 on the loopback interface: nothing listens there.
    t0 = time.monotonic()
    with pytest.raises(UserInputError, match="cannot reach a dask scheduler there"):
        with dask_executor("tcp://127.0.0.1:1", timeout=1.0):
            pass
    assert time.monotonic() - t0 < 30


class _TwoWorkers:
    """A client whose first worker shares this machine's filesystem and whose second does not."""

    def run(self, fn, *args):
        return {"tcp://127.0.0.1:1001": fn(*args), "tcp://127.0.0.1:1002": False}


def test_a_worker_that_cannot_see_the_results_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match=r"1 of 2 dask workers \(e.g. tcp://127.0.0.1:1002\)"):
        check_results_dir(_TwoWorkers(), tmp_path / "results")
    assert not list((tmp_path / "results").iterdir())  # the probe file is removed
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserInputError, match="cannot write results"):
        check_results_dir(_TwoWorkers(), blocker / "sub")


def test_a_cluster_member_without_this_theorycheck_is_named():
    def member(version):
        return {"packages": {"dask": "2026.1.0", "theorycheck": version}}

    versions = {
        "scheduler": member(None),
        "workers": {"tcp://10.0.0.2:4000": member("0.1.0"), "tcp://10.0.0.3:4000": member("0.0.9")},
        "client": member("0.1.0"),
    }
    assert version_mismatches(versions, "0.1.0") == [
        "scheduler (not installed)",
        "tcp://10.0.0.3:4000 (0.0.9)",
    ]
    versions["scheduler"] = member("0.1.0")
    versions["workers"]["tcp://10.0.0.3:4000"] = member("0.1.0")
    assert version_mismatches(versions, "0.1.0") == []


def test_scheduler_addresses_and_the_numba_thread_budget():
    assert parse_scheduler(" local:3 ") == ("local", 3)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    assert parse_scheduler("HOST:8786") == ("remote", "HOST:8786")
    with pytest.raises(UserInputError, match="needs an address"):
        parse_scheduler("")
    # All blocks running on one host share its cores, at least one numba thread each.
    assert numba_thread_budget(16, 4) == 4
    assert numba_thread_budget(2, 2) == 1
    assert numba_thread_budget(2, 8) == 1
    assert numba_thread_budget(8, 0) == 8


# -- same numbers --------------------------------------------------------------------------------
def test_cli_on_a_local_cluster_stores_the_local_backends_numbers_bit_for_bit(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(simulations, "get_simulation", lambda sim_id: TinySignFlips())
    out = tmp_path / "dask"
    main(["run", "lazy-sign-flips", "--scheduler", "local:2", "--seed", "9", "--out", str(out),
          "--no-report"])  # fmt: skip
    captured = capsys.readouterr()
    assert "6 blocks computed, 0 reused" in captured.out
    assert "6/6 blocks (100%)" in captured.err  # the same progress lines as the local backend
    run([TinySignFlips()], seed=9, out=tmp_path / "local", progress=False)
    _assert_same_store(tmp_path / "local", out)
    # Each of the 2 workers ran its blocks with cpu_count // 2 numba threads (no
    # oversubscription); the block's provenance records the count in force in its worker.
    store = ResultsStore(out)
    threads = {
        store.read_meta(p)["numba_threads"] for p in out.glob("lazy-sign-flips/*/block-*.parquet")
    }
    assert threads == {numba_thread_budget(os.cpu_count() or 1, 2)}


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster (2 single-threaded worker processes) for the kill tests."""
    with dask_executor("local:2") as ex:
        yield ex


def test_a_worker_killed_mid_sweep_has_its_blocks_recomputed(tmp_path, cluster):
    out = tmp_path / "dask"
    killed = {}
    pids = cluster.client.run(os.getpid)
    victim = sorted(pids)[0]

    def kill_when_blocks_flow():
        # Both single-threaded workers are busy from the first stored block on (12 blocks of
        # >= 0.5 s for 2 workers), so the victim dies with a block in flight.
        killed["blocks_at_kill"] = _wait_for_blocks(out, 1)
        os.kill(pids[victim], signal.SIGKILL)

    killer = threading.Thread(target=kill_when_blocks_flow)
    killer.start()
    result = run([SlowTinySignFlips()], seed=4, out=out, executor=cluster, progress=False)
    killer.join()
    after = cluster.client.run(os.getpid)
    assert killed["blocks_at_kill"] < SLOW_BLOCKS
    assert pids[victim] not in after.values()  # the nanny started a fresh worker process
    assert result.computed_blocks == SLOW_BLOCKS
    run([SlowTinySignFlips(delay=0.0)], seed=4, out=tmp_path / "local", progress=False)
    _assert_same_store(tmp_path / "local", out)


def test_a_driver_killed_mid_sweep_resumes_to_the_uninterrupted_result(tmp_path, cluster):
    out = tmp_path / "dask"
    address = cluster.client.scheduler.address
    driver = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        from _tiny import SlowTinySignFlips
        from theorycheck.distributed import dask_executor
        from theorycheck.runner import run
        with dask_executor(sys.argv[2]) as ex:
            run([SlowTinySignFlips()], seed=7, out=sys.argv[3], executor=ex, progress=False)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", driver, str(TESTS_DIR), address, str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        at_kill = _wait_for_blocks(out, 2, proc=proc)
    finally:
        proc.kill()  # SIGKILL: no cleanup in the driver, as after a crash
        proc.communicate(timeout=60)
    assert at_kill < SLOW_BLOCKS
    assert not (out / "verdicts.parquet").exists()  # the driver never got to evaluate
    with dask_executor(address) as ex:  # a new driver, as `theorycheck run` run again
        resumed = run([SlowTinySignFlips()], seed=7, out=out, executor=ex, progress=False)
    assert resumed.reused_blocks >= at_kill and resumed.computed_blocks >= 1
    assert resumed.reused_blocks + resumed.computed_blocks == SLOW_BLOCKS
    run([SlowTinySignFlips(delay=0.0)], seed=7, out=tmp_path / "local", progress=False)
    _assert_same_store(tmp_path / "local", out)
