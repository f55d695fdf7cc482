"""Ctrl-C and SIGTERM at random points of a real ``theorycheck run`` (start-up imports, blocks in
numba, worker start-up, dask start-up, evaluation): exit 130 and exactly one line, never a
traceback, from the parent or from any worker; the interrupted runs resume to the numbers of an
uninterrupted run. A killed parent leaves no worker behind.

Signals go to the whole process group, as a terminal's Ctrl-C does. The delays are drawn from a
fixed seed, measured from the moment the CLI script is about to call ``main``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from _tiny import ManyTinySignFlips, SlowTinySignFlips

from theorycheck.integrity import blocks_to_compute
from theorycheck.interrupts import MESSAGE
from theorycheck.runner import Task, run
from theorycheck.store import ResultsStore

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}


def _start(root: Path, *extra: str, options: tuple[str, ...] = ()) -> subprocess.Popen:
    """``theorycheck run`` of lazy-sign-flips into ``root`` (``options``: _cli_tiny's own)."""
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "_cli_tiny.py"), *options, "run", "lazy-sign-flips",
         "--out", str(root), "--no-report", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        start_new_session=True,  # its own process group, which the signal is sent to
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _communicate(proc: subprocess.Popen) -> tuple[str, str]:
    """Its output; a run still going after 5 minutes is killed with its workers, then fails."""
    try:
        return proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


def _blocks(root: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(root)): pd.read_parquet(p)
        for p in sorted(root.glob("lazy-sign-flips/*/block-*.parquet"))
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    run([ManyTinySignFlips()], seed=0, out=root, progress=False, workers=1)
    return root


BACKENDS = {
    # name: (extra CLI arguments, delays as fractions of an uninterrupted run's duration)
    # inline: start-up imports, numba blocks, evaluation; 8 runs of a few seconds.
    "inline": (
        ("--workers", "1"),
        (0.0, 0.01, *(random.Random(130).uniform(0.05, 0.8) for _ in range(6))),
    ),
    # workers and dask clusters take ~10 s to start on 2 busy cores: fewer, longer runs.
    "workers 2": (("--workers", "2"), (0.05, random.Random(131).uniform(0.2, 0.8))),
    "dask local:2": (("--scheduler", "local:2"), (random.Random(132).uniform(0.65, 0.85),)),
}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_interrupts_at_random_points_end_in_one_line_and_resume_identically(
    backend, reference, tmp_path
):
    if backend.startswith("dask"):
        pytest.importorskip("distributed")
    extra, fractions = BACKENDS[backend]
    t0 = time.monotonic()
    proc = _start(tmp_path / "timing", *extra)
    assert proc.wait(timeout=300) == 0
    delays = [f * (time.monotonic() - t0) for f in fractions]  # this machine's speed, now
    root = tmp_path / "results"
    outcomes = []
    for k, delay in enumerate(delays):
        proc = _start(root, *extra)
        time.sleep(delay)
        sig = signal.SIGTERM if k % 3 == 2 else signal.SIGINT
        os.killpg(proc.pid, sig)
        out, err = _communicate(proc)
        assert "Traceback" not in err and "Error" not in err, (delay, err)
        if proc.returncode != 130:
            # The run finished before the signal (which then met the default handler as the
            # interpreter exited: -2/-15): a complete run, in silence.
            assert proc.returncode in (0, -signal.SIGINT, -signal.SIGTERM), (delay, err)
            assert err == "" and "blocks computed" in out, (delay, out, err)
            outcomes.append("finished")
            continue
        assert proc.returncode == 130, (delay, proc.returncode, err)
        assert err.splitlines() == [MESSAGE], (delay, err)
        outcomes.append("interrupted")
    assert outcomes.count("interrupted") >= len(delays) / 2, outcomes  # not a vacuous test
    proc = _start(root, *extra)
    _out, err = _communicate(proc)
    assert proc.returncode == 0, err
    a, b = _blocks(reference), _blocks(root)
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(reference / "verdicts.parquet"), pd.read_parquet(root / "verdicts.parquet")
    )
    assert not list(root.rglob(".tmp-*"))  # the temp files of interrupted writes are gone


@pytest.mark.parametrize("backend", ["workers 2", "dask local:2"])
def test_workers_die_with_a_killed_parent(backend, tmp_path):
    if backend.startswith("dask"):
        pytest.importorskip("distributed")
    root = tmp_path / "results"
    proc = _start(root, *BACKENDS[backend][0])
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 240
    while not list(root.glob("lazy-sign-flips/*/block-*.parquet")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    workers = parent.children(recursive=True)
    assert len(workers) >= 2
    proc.kill()  # SIGKILL: no handler, no cleanup in the parent
    proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == [], f"workers alive 5 s after their parent was killed: {alive}"
    before = set(root.rglob("block-*.parquet"))
    time.sleep(1.0)
    assert set(root.rglob("block-*.parquet")) == before  # nobody writes blocks any more


def test_a_second_ctrl_c_with_blocks_in_flight_ends_at_once_in_one_line(tmp_path):
    """Two Ctrl-Cs with --workers 2 while blocks are in flight: the first one waits for them,
    the second ends the process at once (os._exit) and its workers with it. Exactly one line
    and 130: multiprocessing's resource tracker, which unlinks the semaphores the process left
    behind, says nothing about them; the blocks stored before are intact."""
    delay = 4.0  # seconds per block: an orderly stop would wait for the block in flight
    root = tmp_path / "results"
    proc = _start(root, "--workers", "2", options=("--slow", str(delay)))
    deadline = time.monotonic() + 240
    while not list(root.glob("lazy-sign-flips/*/block-*.parquet")):  # a block stored, others
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    t_stored = time.monotonic()  # each worker is now within a block (12 blocks, 4 s each)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.stderr.readline().rstrip("\n") == MESSAGE  # at once, not after the block
    assert proc.poll() is None  # still waiting for the blocks in flight
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = _communicate(proc)
    # Within half a block of the first stored one: not the orderly stop after the blocks in
    # flight (the other worker started its next block as the first one was stored).
    assert time.monotonic() - t_stored < delay / 2
    assert err == "", err  # nothing after the one line: no traceback, no leaked semaphores
    assert proc.returncode == 130
    stored = {p.relative_to(root) for p in root.glob("lazy-sign-flips/*/block-*.parquet")}
    assert 1 <= len(stored) < 12
    sim = SlowTinySignFlips(0.0)
    tasks = [Task(sim, cfg, b, 0) for cfg in sim.configs("quick") for b in range(sim.blocks(cfg))]
    store = ResultsStore(root)
    todo = {store.block_path(sim.id, t.cfg_id, 0, t.block).relative_to(root)
            for t in blocks_to_compute(store, tasks)}  # fmt: skip
    assert len(todo) == len(tasks) - len(stored) and not todo & stored  # stored ones verify


def _sigint_set_up(pid: int) -> bool:
    """Whether the process has caught or ignored SIGINT (Linux: /proc/PID/status): a Python
    process has finished initialising its interpreter."""
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    sigint = 1 << (signal.SIGINT - 1)  # the bit masks in hex, signal n at bit n - 1
    return bool((int(status["SigCgt"], 16) | int(status["SigIgn"], 16)) & sigint)


def test_a_ctrl_c_while_a_local_dask_cluster_starts_stops_the_run_once_it_is_up(tmp_path):
    """Ctrl-C once the first worker of ``--scheduler local:2`` has its interpreter up (it then
    imports dask and theorycheck, and the cluster waits for it for seconds more): remembered,
    not lost, and acted on once the cluster is up, before any block is submitted. One line,
    130, nothing from the workers (they got it too if they had SIGINT unblocked)."""
    pytest.importorskip("distributed")
    if not sys.platform.startswith("linux"):
        pytest.skip("reads the workers' signal dispositions from /proc")
    root = tmp_path / "results"
    proc = _start(root, "--scheduler", "local:2")
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 240

    def workers_started() -> bool:
        try:
            return any("spawn_main" in " ".join(c.cmdline()) and _sigint_set_up(c.pid)
                       for c in parent.children())  # fmt: skip
        except (psutil.Error, OSError):  # a child gone between listing and reading: again
            return False

    while not workers_started():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = _communicate(proc)
    assert err.splitlines() == [MESSAGE], err  # no traceback from the parent or a worker
    assert proc.returncode == 130, (proc.returncode, out)
    assert not list(root.glob("lazy-sign-flips/*/block-*.parquet"))  # stopped before blocks


class _SignalsItself(ManyTinySignFlips):
    """Sends itself ``signals`` SIGINTs while measuring the block ``at`` (a numba kernel follows
    each signal: the interrupt lands as a compiled function runs)."""

    def __init__(self, at: int, signals: int = 1):
        self.at, self.signals, self.measured = at, signals, 0

    def measure(self, config, rng):
        self.measured += 1
        if self.measured == self.at:
            for _ in range(self.signals):
                os.kill(os.getpid(), signal.SIGINT)
        return super().measure(config, rng)


def test_from_python_a_signal_stops_run_after_the_block_and_restores_the_handler(tmp_path):
    from theorycheck.interrupts import Interrupted

    before = signal.getsignal(signal.SIGINT)
    sim = _SignalsItself(at=3)
    with pytest.raises(Interrupted):
        run([sim], seed=0, out=tmp_path, progress=False, workers=1)  # inline: it signals itself
    assert sim.measured == 3  # the block in progress finished, no other started
    assert len(list(tmp_path.glob("lazy-sign-flips/*/block-*.parquet"))) == 3
    assert signal.getsignal(signal.SIGINT) is before
    # A second signal from Python raises KeyboardInterrupt at once (here in the middle of the
    # block) instead of ending the interpreter as the CLI does.
    with pytest.raises(KeyboardInterrupt) as info:
        run([_SignalsItself(at=1, signals=2)], seed=0, out=tmp_path / "two", progress=False,
            workers=1)  # fmt: skip
    assert not isinstance(info.value, Interrupted)
    assert not list((tmp_path / "two").glob("lazy-sign-flips/*/block-*.parquet"))
    assert signal.getsignal(signal.SIGINT) is before
    resumed = run([ManyTinySignFlips()], seed=0, out=tmp_path, progress=False, workers=1)
    assert resumed.reused_blocks == 3


def test_a_signal_after_the_last_check_still_exits_130_in_one_line(monkeypatch, capfd):
    """A Ctrl-C that lands after the runner's last check (e.g. while a dask cluster closes, with
    the results already printed) writes the one line from the handler; the exit code must say
    the same (it was 0: the flaky dask case of the random-interrupt test above)."""
    from theorycheck import cli, interrupts

    def late_signal(args):
        with interrupts.deferred():  # as the runner's deferred section
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs in the main thread at the next bytecode
        print("results")

    monkeypatch.setattr(cli, "_cmd_list", late_signal)
    with pytest.raises(SystemExit) as exc:
        cli.main(["list"])
    assert exc.value.code == interrupts.EXIT_CODE
    out, err = capfd.readouterr()
    assert out == "results\n" and err.splitlines() == [MESSAGE]
