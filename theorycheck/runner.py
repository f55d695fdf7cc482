"""The runner: schedule (simulation, config, block) tasks, store blocks, evaluate, decide verdicts.

Each block's generator is :func:`theorycheck.seeding.generator` (seed, simulation id, config id,
block): what is drawn depends on what is computed, never on which worker computes it, so the
stored numbers are identical for any worker or thread count. Blocks already in the store are
skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import pandas as pd
from threadpoolctl import threadpool_limits

from theorycheck import _worker, interrupts
from theorycheck.costs import estimated_seconds
from theorycheck.integrity import blocks_to_compute
from theorycheck.progress import Progress, describe_config
from theorycheck.provenance import provenance
from theorycheck.run_arguments import check_data_argument, check_run_arguments
from theorycheck.sequential import look_count, next_blocks, undecided_configs, with_design_looks
from theorycheck.simulation import (
    PROFILES,
    Simulation,
    config_dict,
    config_id,
    measure_block,
)
from theorycheck.store import ResultsStore
from theorycheck.verdicts import (
    DEFAULT_ALPHA,
    VerdictRow,
    apply_holm,
    family_size,
    rows_from_frame,
    verdict_frame,
    with_conditions,
)
from theorycheck.writes import remove_stale_temp_files

__all__ = ["RunResult", "Task", "local_executor", "run", "run_block"]


@dataclass(frozen=True)
class Task:
    simulation: Simulation
    config: object
    block: int
    seed: int

    @property
    def cfg_id(self) -> str:
        return config_id(self.config)


def run_block(task: Task, root: str) -> str:
    """Measure one block and store it (runs in a worker process or inline)."""
    sim = task.simulation
    t0 = time.perf_counter()
    # One BLAS thread whatever the worker count: OpenBLAS's reductions depend on its thread
    # count, so the stored bits would otherwise depend on the backend (quadratic-rf, -nn).
    with threadpool_limits(limits=1, user_api="blas"):
        df = measure_block(sim, task.config, task.seed, task.block)
    # Wall time of the measurement, for the report's provenance (where the time goes); it is
    # metadata, never part of the stored numbers.
    seconds = round(time.perf_counter() - t0, 3)
    meta = provenance(simulation=sim.id, config=config_dict(task.config), seed=task.seed,
                      block=task.block, config_id=task.cfg_id, seconds=seconds)  # fmt: skip
    ResultsStore(root).write_block(sim.id, task.cfg_id, task.seed, task.block, df, meta)
    return f"{describe_config(sim.id, config_dict(task.config))} #{task.block}"


@dataclass(frozen=True)
class RunResult:
    verdicts: pd.DataFrame
    root: str
    computed_blocks: int
    reused_blocks: int
    seconds: float


def _configs(sim: Simulation, profile: str, path: str | None, data: str | None) -> list:
    """The simulation's configs, with ``path`` if the simulation offers it and ``data`` if it
    trains on data."""
    return sim.configs(profile, path if path in sim.paths else None,
                       data if sim.takes_data else None)  # fmt: skip


def _evaluation_name(sim_id: str, what: str, profile: str, seed: int) -> str:
    return f"{sim_id}/{what}-{profile}-s{seed}"


@interrupts.deferring  # SIGINT/SIGTERM stop the run between blocks (Interrupted)
def run(
    simulations: list[Simulation],
    *,
    profile: str = "quick",
    seed: int = 0,
    out: str = "theorycheck-results",
    workers: int | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    alpha: float = DEFAULT_ALPHA,
    path: str | None = None,
    conditions: Callable[[str, dict], bool | None] | None = None,
    data: str | None = None,
) -> RunResult:
    """Run ``simulations`` at ``profile``: compute missing blocks, evaluate, store verdicts.

    ``workers=1`` computes inline; ``workers=N`` uses N local processes, each with
    cpu_count // N numba threads; ``None`` (the default) one process per core when the run has
    at least :data:`AUTO_MIN_BLOCKS` blocks, else inline (:func:`auto_workers`); ``executor`` may
    be any concurrent.futures-like executor.
    ``path`` selects the computation path in the simulations that offer it (their ``paths``);
    the others compute as they always do. ``conditions(claim, parameters)`` says whether a
    claim's conditions hold at a grid point (True/False, None: not applicable); each verdict
    row records it (:func:`theorycheck.verdicts.with_conditions`; "n/a" when not given).
    ``data`` (:mod:`theorycheck.data`: clusters, digits or a .npz file) is what the simulations
    that train networks train on (their ``takes_data``); None: their default, clusters.
    """
    if profile not in PROFILES:
        from theorycheck.errors import UserInputError

        raise UserInputError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    seed, workers, alpha = check_run_arguments(simulations, seed=seed, workers=workers,
                                               alpha=alpha, path=path, out=out)  # fmt: skip
    source = check_data_argument(simulations, data, named=False)  # `data`: blocks, below
    store = ResultsStore(out)
    store.check_writable()
    remove_stale_temp_files(store.root)  # left by killed runs
    t0 = time.monotonic()
    root = str(store.root)
    # Look 0: every config's own blocks; sequential simulations (theorycheck.sequential) then
    # give the configs of undecided rows the next look's blocks, up to their budget.
    blocks = {
        (sim.id, config_id(cfg)): sim.blocks(cfg)
        for sim in simulations
        for cfg in _configs(sim, profile, path, source)
    }
    if workers is None:
        workers = auto_workers(sum(blocks.values()))
    if executor is None and workers > 1:
        executor = local_executor(workers)
        owned = True
    else:
        owned = False
    computed = reused = 0
    evaluations: dict[str, tuple] = {}
    pending = list(simulations)
    grown: list[Simulation] = []  # simulations whose undecided configs get another look
    look = 0

    def evaluate(sim: Simulation) -> None:
        """Read the simulation's blocks, evaluate, and grow the undecided configs."""
        interrupts.check()
        configs = _configs(sim, profile, path, source)
        data = {
            cfg: store.read_blocks(sim.id, config_id(cfg), seed,
                                   blocks[sim.id, config_id(cfg)])
            for cfg in configs
        }  # fmt: skip
        t_eval = time.perf_counter()
        ev = sim.evaluate(data)
        rows = with_design_looks(sim, ev.verdicts)
        evaluations[sim.id] = (sim, configs, ev, rows, time.perf_counter() - t_eval)
        grow = False
        for cfg in undecided_configs(configs, rows) if look_count(sim) > 1 else []:
            key = (sim.id, config_id(cfg))
            more = next_blocks(sim, cfg, blocks[key])
            if more > blocks[key]:
                blocks[key], grow = more, True
        if grow:
            grown.append(sim)

    try:
        while pending:
            tasks = [
                Task(sim, cfg, b, seed)
                for sim in pending
                for cfg in _configs(sim, profile, path, source)
                for b in range(blocks[sim.id, config_id(cfg)])
            ]
            todo = blocks_to_compute(store, tasks)  # missing, or stored but failing verification
            computed += len(todo)
            reused += len(tasks) - len(todo) if look == 0 else 0
            label = f"theorycheck run ({profile})" + (f", look {look}" if look else "")
            cost = estimated_seconds(store, [(t.simulation.id, t.cfg_id) for t in todo])
            bar = Progress(len(todo), label=label, enabled=progress, weight=sum(cost))
            _compute(todo, cost, root, executor, bar, pending, evaluate)
            # The next look: the grown simulations in the run's order, whichever finished first.
            pending, look = sorted(grown, key=pending.index), look + 1
            grown.clear()
    finally:
        if owned:
            executor.shutdown(cancel_futures=True)

    for sim_id in [sim.id for sim in simulations if sim.id in evaluations]:  # the run's order
        sim, configs, ev, rows, seconds = evaluations[sim_id]
        records = [_config_record(store, sim, cfg, seed, blocks[sim_id, config_id(cfg)])
                   for cfg in configs]  # fmt: skip
        meta = provenance(simulation=sim.id, profile=profile, seed=seed,
                          title=sim.title, claims=list(sim.claims), limitations=sim.limitations,
                          figures=[asdict(f) for f in ev.figures], configs=records,
                          looks=look_count(sim), evaluate_seconds=round(seconds, 3),
                          data=source if sim.takes_data else None)  # fmt: skip
        store.write_table(_evaluation_name(sim.id, "summary", profile, seed), ev.summary, meta)
        rows = rows if conditions is None else with_conditions(rows, conditions)
        store.write_table(_evaluation_name(sim.id, "verdicts", profile, seed),
                          verdict_frame(rows), meta)  # fmt: skip
    interrupts.check()
    invocation = {
        "seconds": round(time.monotonic() - t0, 1),
        "computed_blocks": computed,
        "reused_blocks": reused,
        "backend": _backend(executor, owned, workers),
        "simulations": [sim.id for sim in simulations],
    }
    verdicts = collect_verdicts(
        store, profile, seed, alpha, invocation, simulations=[sim.id for sim in simulations]
    )
    return RunResult(verdicts, root, computed, reused, time.monotonic() - t0)


def _compute(
    todo: list[Task],
    cost: list[float],
    root: str,
    executor: Executor | None,
    bar: Progress,
    simulations: list[Simulation],
    finished: Callable[[Simulation], None],
) -> None:
    """Measure and store the blocks of ``todo``, inline or on ``executor``; the bar advances by
    each block's estimated ``cost``. ``finished(sim)`` is called once per simulation as soon as
    all of its blocks are stored (at once for a simulation with nothing to compute), so with
    workers its evaluation overlaps the other simulations' blocks."""
    left = {sim.id: 0 for sim in simulations}
    for t in todo:
        left[t.simulation.id] += 1
    by_id = {sim.id: sim for sim in simulations}
    # Simulations by expected work, longest first, and each one's blocks longest first: the
    # longest blocks start early (as in LPT scheduling, the last block to finish is a short one)
    # and simulations finish one after another, so their evaluations spread over the run.
    work: dict[str, float] = {sim.id: 0.0 for sim in simulations}
    for t, c in zip(todo, cost, strict=True):
        work[t.simulation.id] += c
    order = sorted(range(len(todo)), key=lambda i: (-work[todo[i].simulation.id],
                                                    todo[i].simulation.id, -cost[i]))  # fmt: skip

    def done(sim_id: str) -> None:
        left[sim_id] -= 1
        if left[sim_id] == 0:
            finished(by_id[sim_id])

    if executor is None:
        for sim in simulations:
            if left[sim.id] == 0:
                finished(sim)
        for i in order:
            interrupts.check()
            bar.advance(run_block(todo[i], root), cost[i])
            done(todo[i].simulation.id)
        return
    # The order changes no number: each block is seeded by its identity.
    with interrupts.children_shielded():  # a terminal's Ctrl-C reaches only this process
        futures = {executor.submit(run_block, todo[i], root): i for i in order}
    for sim in simulations:  # nothing to compute: evaluated while the workers start
        if left[sim.id] == 0:
            finished(sim)
    for fut in as_completed(futures):
        i = futures[fut]
        bar.advance(fut.result(), cost[i])
        interrupts.check()
        done(todo[i].simulation.id)


#: Fewest blocks for which the default runs one process per core: a spawned worker costs
#: ~2-4 s of imports and kernel loading, more than a handful of small blocks.
AUTO_MIN_BLOCKS = 16


def auto_workers(n_blocks: int, cpus: int | None = None) -> int:
    """The default number of local processes: one per core for a run of at least
    :data:`AUTO_MIN_BLOCKS` blocks, else 1 (inline, with the cores as numba threads)."""
    cpus = cpus if cpus is not None else os.cpu_count() or 1
    return cpus if n_blocks >= AUTO_MIN_BLOCKS else 1


def local_executor(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes, each with cpu_count // workers numba and BLAS threads."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: forking a process whose OpenMP runtime is live aborts the child.
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker.init_worker, initargs=(threads, os.getpid()),
    )  # fmt: skip


def _backend(executor, owned: bool, workers: int) -> str:
    if executor is None:
        return "inline (1 process)"
    if owned:
        return f"{workers} local worker processes"
    return type(executor).__name__


def _config_record(store: ResultsStore, sim: Simulation, cfg, seed: int, n: int) -> dict:
    """A config's id, fields, the blocks its verdicts used and the summed measurement time of
    those blocks (None when a block was stored without one), for the report's provenance."""
    cfg_id = config_id(cfg)
    seconds = [store.block_meta(sim.id, cfg_id, seed, b).get("seconds") for b in range(n)]
    total = None if any(s is None for s in seconds) else round(sum(seconds), 3)
    return {"id": cfg_id, "config": config_dict(cfg), "blocks": n, "seconds": total}


def collect_verdicts(
    store: ResultsStore,
    profile: str,
    seed: int,
    alpha: float,
    invocation: dict | None = None,
    *,
    simulations: list[str],
) -> pd.DataFrame:
    """Holm-adjust the verdicts of the run's ``simulations`` at (profile, seed); store the table.

    The Holm family is the confirmatory rows of exactly these simulations at this profile: fixed
    by the run, never by what else happens to be stored in the results directory (a run of one
    simulation is its own family; ``theorycheck run`` of every simulation is the profile's).
    ``invocation``: the wall time and block counts of the ``run`` call that ends here, kept in
    the table's provenance (the report's run time).
    """
    rows: list[VerdictRow] = []
    for sim_id in simulations:
        stored = store.read_table(_evaluation_name(sim_id, "verdicts", profile, seed))  # verified
        rows.extend(rows_from_frame(stored))
    adjusted = apply_holm(rows, alpha)
    table = verdict_frame(adjusted)
    meta = provenance(profile=profile, seed=seed, alpha=alpha, simulations=list(simulations),
                      family_size=family_size(adjusted), invocation=invocation)  # fmt: skip
    store.write_table("verdicts", table, meta)
    return table
