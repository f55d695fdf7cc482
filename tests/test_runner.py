"""The runner and the results store: resume, reuse, determinism across worker counts."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from _tiny import TinySignFlips

from theorycheck import runner
from theorycheck.errors import UserInputError
from theorycheck.runner import AUTO_MIN_BLOCKS, auto_workers, run
from theorycheck.simulation import config_dict, config_id
from theorycheck.store import ResultsStore


def _blocks(root: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(root)): pd.read_parquet(p)
        for p in sorted(root.glob("lazy-sign-flips/*/block-*.parquet"))
    }


def test_run_stores_blocks_with_provenance_and_reuses_them(tmp_path):
    sim = TinySignFlips()
    first = run([sim], seed=3, out=tmp_path, progress=False)
    assert first.computed_blocks == 6 and first.reused_blocks == 0
    blocks = _blocks(tmp_path)
    assert len(blocks) == 6
    meta = ResultsStore(tmp_path).read_meta(next(tmp_path.glob("lazy-sign-flips/*/block-*")))
    assert meta["seed"] == 3 and meta["simulation"] == "lazy-sign-flips"
    assert {"theorycheck", "dependencies", "numba_threading_layer", "config"} <= set(meta)
    second = run([sim], seed=3, out=tmp_path, progress=False)
    assert second.computed_blocks == 0 and second.reused_blocks == 6
    pd.testing.assert_frame_equal(first.verdicts, second.verdicts)
    assert set(first.verdicts["verdict"]) <= {"AGREES", "DISAGREES", "HOLDS", "VIOLATED",
                                              "INCONCLUSIVE", "DESCRIPTIVE"}  # fmt: skip


def test_run_records_block_times_config_ids_and_its_wall_time(tmp_path):
    """The provenance the report's "Where the time went" and "Configurations" read: each block's
    measurement time, each config's id, fields, blocks and summed block time, and the wall time
    and block counts of the last run call."""
    sim, store = TinySignFlips(), ResultsStore(tmp_path)
    first = run([sim], seed=3, out=tmp_path, progress=False)
    summary = store.read_meta("lazy-sign-flips/summary-quick-s3")
    configs = summary["configs"]
    assert [c["id"] for c in configs] == [config_id(c) for c in sim.configs("quick")]
    for rec, cfg in zip(configs, sim.configs("quick"), strict=True):
        assert rec["config"] == config_dict(cfg) and rec["blocks"] == sim.blocks(cfg)
        seconds = [
            store.block_meta(sim.id, rec["id"], 3, b)["seconds"] for b in range(rec["blocks"])
        ]
        assert all(t >= 0 for t in seconds)
        assert rec["seconds"] == pytest.approx(sum(seconds), abs=1e-9)
        assert (tmp_path / "lazy-sign-flips" / f"{rec['id']}-s3").is_dir()
    assert summary["evaluate_seconds"] >= 0
    inv = store.read_meta("verdicts")["invocation"]
    assert inv["computed_blocks"] == first.computed_blocks == 6 and inv["reused_blocks"] == 0
    assert inv["backend"] == "inline (1 process)" and inv["simulations"] == [sim.id]
    assert 0 <= inv["seconds"] <= first.seconds + 0.1
    # A rerun reuses the blocks: its own counts, the blocks' stored times.
    run([sim], seed=3, out=tmp_path, progress=False)
    inv = store.read_meta("verdicts")["invocation"]
    assert inv["computed_blocks"] == 0 and inv["reused_blocks"] == 6
    assert store.read_meta("lazy-sign-flips/summary-quick-s3")["configs"] == configs


def test_the_default_workers_are_one_process_per_core_for_runs_that_pay_for_them():
    """A run of AUTO_MIN_BLOCKS or more blocks gets a process per core; a smaller one (the
    6-block run above: its backend is 'inline (1 process)') computes in this process."""
    assert auto_workers(AUTO_MIN_BLOCKS, cpus=2) == 2
    assert auto_workers(AUTO_MIN_BLOCKS - 1, cpus=2) == 1
    assert auto_workers(1000, cpus=1) == 1
    assert auto_workers(691, cpus=8) == 8


def test_a_run_with_enough_blocks_starts_one_worker_per_core_by_default(tmp_path, monkeypatch):
    """The default reaches the executor: with the threshold at the run's 6 blocks, run() asks
    for os.cpu_count() workers and records them (threads stand in for the processes here)."""
    asked = []

    def executor(n):
        asked.append(n)
        return ThreadPoolExecutor(n)

    monkeypatch.setattr(runner, "AUTO_MIN_BLOCKS", 6)
    monkeypatch.setattr(runner, "local_executor", executor)
    run([TinySignFlips()], seed=3, out=tmp_path, progress=False)
    cpus = os.cpu_count() or 1
    inv = ResultsStore(tmp_path).read_meta("verdicts")["invocation"]
    if cpus > 1:
        assert asked == [cpus] and inv["backend"] == f"{cpus} local worker processes"
    else:
        assert asked == [] and inv["backend"] == "inline (1 process)"


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    sim = TinySignFlips()
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run([sim], seed=5, out=whole, progress=False)
    run([sim], seed=5, out=cut, progress=False)
    # Simulate a run killed after some blocks: remove two blocks and leave a stray temp file
    # like the one an interrupted atomic write leaves behind.
    victims = sorted(cut.glob("lazy-sign-flips/*/block-*.parquet"))[1::3]
    for v in victims:
        v.unlink()
    (victims[0].parent / ".tmp-abandoned.parquet").write_bytes(b"partial")
    resumed = run([sim], seed=5, out=cut, progress=False)
    assert resumed.computed_blocks == len(victims)
    a, b = _blocks(whole), _blocks(cut)
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(whole / "verdicts.parquet"), pd.read_parquet(cut / "verdicts.parquet")
    )


def test_two_worker_processes_store_the_same_numbers(tmp_path):
    sim = TinySignFlips()
    run([sim], seed=9, out=tmp_path / "one", progress=False, workers=1)
    run([sim], seed=9, out=tmp_path / "two", progress=False, workers=2)
    a, b = _blocks(tmp_path / "one"), _blocks(tmp_path / "two")
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)


def test_different_seeds_give_different_numbers(tmp_path):
    sim = TinySignFlips()
    run([sim], seed=1, out=tmp_path, progress=False)
    run([sim], seed=2, out=tmp_path, progress=False)
    s1 = sorted(tmp_path.glob("lazy-sign-flips/*-s1/block-00000.parquet"))[0]
    s2 = Path(str(s1).replace("-s1", "-s2"))
    assert not pd.read_parquet(s1).equals(pd.read_parquet(s2))


def test_bad_run_arguments_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="profile"):
        run([TinySignFlips()], profile="huge", out=tmp_path, progress=False)
    with pytest.raises(UserInputError, match="seed"):
        run([TinySignFlips()], seed=-1, out=tmp_path, progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserInputError, match="cannot write results"):
        run([TinySignFlips()], out=blocker / "sub", progress=False)


class _Sim:
    def __init__(self, sim_id):
        self.id = sim_id


def _schedule(monkeypatch, executor):
    """_compute on fake tasks: (events in order, the order blocks ran in)."""
    from concurrent.futures import Future

    import theorycheck.runner as runner

    a, b, c = _Sim("a"), _Sim("b"), _Sim("c")  # c has nothing to compute
    todo = [runner.Task(s, cfg, blk, 0) for s, cfg, blk in
            ((a, "x", 0), (b, "y", 0), (a, "x", 1), (b, "y", 1), (b, "y", 2))]  # fmt: skip
    cost = [1.0, 5.0, 2.0, 1.0, 1.0]
    monkeypatch.setattr(runner.Task, "cfg_id", property(lambda t: t.config))
    events = []
    monkeypatch.setattr(runner, "run_block", lambda t, root: events.append(
        ("block", t.simulation.id, t.block)) or "label")  # fmt: skip

    class Inline:  # an executor whose futures complete in submission order
        def submit(self, fn, *args):
            fut = Future()
            fut.set_result(fn(*args))
            return fut

    bar = runner.Progress(len(todo), label="t", enabled=False, weight=sum(cost))
    runner._compute(todo, cost, "", Inline() if executor else None, bar, [a, b, c],
                    lambda sim: events.append(("finished", sim.id)))  # fmt: skip
    return events


@pytest.mark.parametrize("executor", [False, True])
def test_each_simulation_is_evaluated_once_as_soon_as_its_blocks_are_stored(monkeypatch, executor):
    """The runner evaluates a simulation when its last block is stored (overlapping the others'
    blocks on workers): b (7 s of expected work) runs first, longest block first, then a; c,
    with nothing to compute, is evaluated before the first result is awaited."""
    events = _schedule(monkeypatch, executor)
    finished = [e[1] for e in events if e[0] == "finished"]
    assert sorted(finished) == ["a", "b", "c"]  # once each
    blocks = [e[1:] for e in events if e[0] == "block"]
    assert blocks == [("b", 0), ("b", 1), ("b", 2), ("a", 1), ("a", 0)]
    for sim, last in (("a", ("block", "a", 0)), ("b", ("block", "b", 2))):
        assert events.index(("finished", sim)) > events.index(last)
    if not executor:  # inline: b is evaluated right after its last block, before a's blocks
        assert events[0] == ("finished", "c")
        assert events.index(("finished", "b")) == events.index(("block", "b", 2)) + 1
