"""The distributed backend: run the sweep's blocks on a dask.distributed cluster.

``theorycheck run --scheduler ADDRESS`` hands the runner the executor built here:

* ``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes on this machine
  (one dask thread each);
* any other address (``tcp://HOST:8786``, ``HOST:8786``, ...) connects to a running scheduler,
  e.g. one started with ``dask scheduler`` and workers started with ``dask worker``.

Nothing about the numbers changes: one task is one block of replicates at one grid point, its
generator is seeded from (seed, simulation, config, block) and the worker writes the block
atomically to the results store (:func:`theorycheck.runner.run_block`), so which worker computes
a block, how often it is retried, and whether the driver was restarted in between never changes
what is stored. A block lost with a dead worker is recomputed elsewhere by the scheduler; a block
whose task raised is retried ``retries`` times.

Oversubscription: each dask worker thread runs one block at a time, and the block's numba kernels
use ``max(1, cpu_count // dask threads on that host)`` threads (a worker plugin computes the
budget on the worker and sets ``NUMBA_NUM_THREADS`` before numba is imported there; every task
pins its own thread, since numba's thread count is per calling thread). BLAS runs on one thread
on every worker (the plugin sets it for good), as it does inside every block's measurement, so
the stored bits never depend on a BLAS thread count. The numba on-disk cache
(kernels are ``njit(cache=True)``) sits next to the installed sources, so the worker processes
of one machine share it; on a cluster with a shared filesystem ``NUMBA_CACHE_DIR`` in the
workers' environment shares it across machines.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from theorycheck import interrupts
from theorycheck.errors import UserInputError
from theorycheck.provenance import package_version
from theorycheck.store import ResultsStore

__all__ = [
    "DistributedExecutor",
    "check_results_dir",
    "dask_executor",
    "parse_scheduler",
    "version_mismatches",
]

INSTALL_HINT = 'the distributed backend needs dask: pip install "theorycheck[distributed]"'

_LOCAL = re.compile(r"local:(\d+)")

# Set on a worker by the plugin: numba threads for each block this worker runs (None: no pin).
_NUMBA_THREADS: int | None = None


def parse_scheduler(address: str) -> tuple[str, str | int]:
    """``("local", N)`` for ``local:N``, ``("remote", address)`` for a scheduler address.

    Raises :class:`UserInputError` (one line naming ``--scheduler``) for an empty address or a
    ``local:`` address without a worker count >= 1.
    """
    address = str(address).strip()
    if not address:
        raise UserInputError("--scheduler needs an address: tcp://HOST:8786 or local:N")
    if address.startswith("local"):
        match = _LOCAL.fullmatch(address)
        if match is None or int(match.group(1)) < 1:
            raise UserInputError(
                f"--scheduler {address!r}: a local cluster is local:N with N >= 1 worker processes"
            )
        return "local", int(match.group(1))
    return "remote", address


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise UserInputError(INSTALL_HINT) from None
    return distributed


def numba_thread_budget(cpu_count: int, dask_threads_on_host: int) -> int:
    """Numba threads per block so that all blocks running on one host share its cores."""
    return max(1, cpu_count // max(1, dask_threads_on_host))


def _pin_numba_threads(n_threads: int) -> None:
    """Worker side: size numba's pool before numba is imported, and remember the budget."""
    global _NUMBA_THREADS
    _NUMBA_THREADS = n_threads
    if "numba" not in sys.modules:
        # Read once when numba is imported; changing it after the pool started is an error.
        os.environ["NUMBA_NUM_THREADS"] = str(n_threads)


def _one_blas_thread() -> None:
    """Worker side: BLAS on one thread for good. Each block's measurement pins it to one thread
    and then restores the count it found (:func:`theorycheck.runner.run_block`); on a worker
    running several blocks at once in threads, a restore to more threads in one block would
    otherwise land while another block's products run. BLAS libraries loaded later (scipy's
    own OpenBLAS) read the environment when they load."""
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = "1"
    import numpy  # noqa: F401  (loads the BLAS library, so that the limit applies to it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def _pinned_call(fn: Callable, *args, **kwargs):
    """Worker side: run ``fn`` with this thread's numba thread count set to the budget."""
    if _NUMBA_THREADS is not None:
        import numba

        numba.set_num_threads(min(_NUMBA_THREADS, numba.config.NUMBA_NUM_THREADS))
    return fn(*args, **kwargs)


def _plugin_class(distributed):
    class PinNumbaThreads(distributed.WorkerPlugin):
        """Set each worker's numba thread budget from the dask threads on its host."""

        async def setup(self, worker):
            host = distributed.comm.get_address_host(worker.address)
            try:
                info = await worker.scheduler.identity()
                threads = sum(
                    w["nthreads"]
                    for addr, w in info["workers"].items()
                    if distributed.comm.get_address_host(addr) == host
                )
            except Exception:  # an old scheduler: count this worker alone
                threads = worker.state.nthreads
            _pin_numba_threads(numba_thread_budget(os.cpu_count() or 1, threads))
            _one_blas_thread()

    return PinNumbaThreads


class DistributedExecutor(cf.Executor):
    """A :class:`concurrent.futures.Executor` over a dask client (what ``run(executor=)`` takes).

    ``submit`` returns ordinary :class:`concurrent.futures.Future` objects (so
    :func:`concurrent.futures.as_completed` works); each call runs on a worker with its numba
    threads pinned, is retried ``retries`` times if it raises, and is rescheduled by the
    scheduler if its worker dies.
    """

    def __init__(self, client, retries: int = 2):
        self.client = client
        # pure=False: every submission is a fresh task, never a cached result of an earlier run.
        self._inner = client.get_executor(pure=False, retries=retries)

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        return self._inner.submit(_pinned_call, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)


def version_mismatches(versions: dict, expected: str) -> list[str]:
    """Cluster members whose theorycheck is missing or not version ``expected``.

    ``versions`` is what :meth:`distributed.Client.get_versions` returns with
    ``packages=["theorycheck"]``. The scheduler counts: recent dask unpickles the tasks there.
    """
    members = {"scheduler": versions["scheduler"], **versions["workers"]}
    bad = []
    for name, info in members.items():
        found = info.get("packages", {}).get("theorycheck")
        if found != expected:
            bad.append(f"{name} ({'not installed' if found is None else found})")
    return bad


def _sees(marker: str, root: str) -> bool:
    """Worker side: the driver's marker file is visible and the directory is writable."""
    return os.path.exists(marker) and os.access(root, os.W_OK)


def check_results_dir(client, results_dir: str | os.PathLike) -> None:
    """Raise a :class:`UserInputError` unless every worker of ``client`` sees ``results_dir``.

    Workers write the blocks themselves, so the results directory must be on a filesystem that
    the driver and every worker share, at the same path. The driver writes a marker file there
    and asks each worker whether it sees it.
    """
    store = ResultsStore(Path(results_dir).absolute())
    store.check_writable()
    fd, marker = tempfile.mkstemp(dir=store.root, prefix=".tmp-probe-")
    os.close(fd)
    try:
        seen = client.run(_sees, marker, str(store.root))
    finally:
        os.unlink(marker)
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise UserInputError(
            f"{len(blind)} of {len(seen)} dask workers (e.g. {blind[0]}) cannot write the results "
            f"directory {store.root}: --out must be on a filesystem shared by this machine and "
            "every worker, at the same path"
        )


@contextmanager
def dask_executor(
    address: str,
    *,
    results_dir: str | os.PathLike | None = None,
    timeout: float = 10.0,
    retries: int = 2,
) -> Iterator[DistributedExecutor]:
    """An executor on the dask cluster at ``address`` (``local:N`` or a scheduler address).

    Parameters
    ----------
    address : ``local:N`` (a LocalCluster of N single-threaded worker processes on this machine,
        each with ``cpu_count // N`` numba threads, closed on exit) or the address of a running
        scheduler, e.g. ``tcp://HOST:8786`` (left running on exit).
    results_dir : if given, check that every worker sees this directory (the workers write the
        blocks there; pass the same absolute path to :func:`theorycheck.runner.run`).
    timeout : seconds to wait for the scheduler before giving up with a one-line error.
    retries : how often a block whose task raised is retried (a block lost with a dead worker is
        recomputed by the scheduler regardless).

    Raises
    ------
    UserInputError
        dask is not installed (the message names the ``distributed`` extra), the address is
        malformed, no scheduler answers at it, the scheduler or a worker lacks this version of
        theorycheck, or a worker cannot see ``results_dir``.
    """
    kind, where = parse_scheduler(address)
    distributed = _import_distributed()
    cluster = None
    if kind == "local":
        threads = numba_thread_budget(os.cpu_count() or 1, where)
        # The cluster's own processes log only CRITICAL records: when a run stops, workers
        # still heartbeating to a scheduler that is closing log "Failed to communicate with
        # scheduler" with a traceback, which is shutdown noise (a lost block is recomputed and a
        # block's own exception reaches the runner through its future).
        # The workers start with SIGINT blocked: the terminal's Ctrl-C reaches only this process,
        # which remembers it and closes them in order once the cluster is up (a signal during
        # start-up waits for it: a half-started cluster fails to close).
        with interrupts.deferred(), interrupts.children_shielded():
            cluster = distributed.LocalCluster(
                n_workers=where, threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
                env={"NUMBA_NUM_THREADS": str(threads)},
            )  # fmt: skip
            client = distributed.Client(cluster)
    else:
        client = reason = None
        try:
            client = distributed.Client(where, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        if client is None:
            # Raised outside the except block: the failed Client, held by the traceback, is then
            # collected now, while its event loop still runs, not at exit (a 4 s hang and noise).
            raise UserInputError(
                f"--scheduler {address!r}: cannot reach a dask scheduler there ({reason})"
            )
    # When a run stops (Ctrl-C, SIGTERM), the futures of blocks still queued are cancelled and
    # tornado logs each cancellation as "Exception in callback ... FutureCancelledError" with a
    # traceback. Those are not errors (a block's own exception reaches the runner through
    # future.result()), so tornado's callback log is muted while theorycheck holds the cluster.
    callbacks = logging.getLogger("tornado.application")
    level = callbacks.level
    callbacks.setLevel(logging.CRITICAL)
    try:
        interrupts.check()
        bad = version_mismatches(client.get_versions(packages=["theorycheck"]), package_version())
        if bad:
            raise UserInputError(
                f"--scheduler {address!r}: theorycheck {package_version()} is needed on the "
                f"scheduler and every worker; found {', '.join(bad)}"
            )
        client.register_plugin(_plugin_class(distributed)(), name="theorycheck-numba-threads")
        if results_dir is not None:
            check_results_dir(client, results_dir)
        yield DistributedExecutor(client, retries=retries)
    finally:
        with interrupts.deferred():  # closed in order even if Ctrl-C lands here
            client.close()
            if cluster is not None:
                cluster.close()
        callbacks.setLevel(level)
