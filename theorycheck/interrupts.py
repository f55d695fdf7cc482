"""Interrupts (Ctrl-C, SIGTERM) that stop a run cleanly, and workers that die with their parent.

Standard library only, so that the command line installs it before its first heavy import.

* :func:`install` (the CLI's first act): SIGINT and SIGTERM set a flag, then raise
  ``KeyboardInterrupt`` as usual, so an interrupt during start-up imports or the report ends
  with the CLI's one line and exit code 130, never a traceback.
* :func:`deferred` (around the runner's blocks and evaluation): the first SIGINT/SIGTERM sets
  the flag and prints the one line at once; :func:`check` raises :class:`Interrupted` between
  blocks, after the blocks in flight are stored. Nothing is raised inside a numba kernel or a
  dask call (a ``KeyboardInterrupt`` raised as a compiled function returns surfaced as
  ``SystemError: CPUDispatcher(...) returned a result with an exception set``). Under the CLI a
  second signal ends the process at once (``os._exit(130)``): blocks are written atomically,
  local workers die with their parent, and a rerun removes the temporary files of blocks that
  were in flight. Called from Python (a notebook), a second signal raises ``KeyboardInterrupt``
  instead, so that the interpreter survives. multiprocessing's resource tracker (a process of
  its own, started with the first semaphore of a worker pool or a dask cluster) then unlinks the
  semaphores the ended process held, as it should, but also warns about them on stderr, a second
  line: :func:`install` gives it this interpreter's ``-W`` options with its UserWarnings ignored.
* :func:`children_shielded`: SIGINT blocked while worker processes (or a local dask cluster,
  whose event-loop threads start them) are started, so that they inherit a blocked SIGINT: a
  Ctrl-C in the terminal, sent to the whole process group, reaches only the parent, which
  remembers it and stops them in order (no traceback from each worker).
* :func:`die_with_parent` (in each local worker): ``PR_SET_PDEATHSIG`` = SIGKILL on Linux, a
  watchdog thread polling the parent elsewhere, so that a killed parent leaves no worker
  computing blocks.

Reference: docs/user-guide.md, "When something goes wrong".
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

__all__ = [
    "EXIT_CODE",
    "MESSAGE",
    "Interrupted",
    "announce",
    "announced",
    "check",
    "children_shielded",
    "deferred",
    "deferring",
    "die_with_parent",
    "install",
    "received",
    "restore",
]

EXIT_CODE = 130
MESSAGE = "theorycheck: interrupted; stored blocks are kept and a rerun resumes"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []  # signals received since install() / the outermost deferred()
_announced: list[bool] = []  # [True] once MESSAGE was written
_deferring = 0
_hard_exit: list[bool] = [False]  # the CLI's handler: a repeated signal ends the process
# A -W option: multiprocessing starts its resource tracker (and spawned workers) with this
# interpreter's sys.warnoptions, so the tracker started after install() does not warn about the
# semaphores it cleans up after an os._exit (module names a -W option matches exactly).
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


class Interrupted(KeyboardInterrupt):
    """Raised between blocks after SIGINT or SIGTERM (a ``KeyboardInterrupt``)."""


def announce() -> None:
    """Write :data:`MESSAGE` to stderr, once (unbuffered: safe inside a signal handler)."""
    if not _announced:
        _announced.append(True)
        lead = "\n" if sys.stderr is not None and sys.stderr.isatty() else ""
        with contextlib.suppress(OSError):
            os.write(2, f"{lead}{MESSAGE}\n".encode())


def announced() -> bool:
    """Whether :data:`MESSAGE` has been written."""
    return bool(_announced)


def _handler(signum, frame) -> None:
    _received.append(signum)
    if len(_received) > 1 and _hard_exit[0]:  # the user insists: stop now
        announce()
        os._exit(EXIT_CODE)
    if _deferring and len(_received) == 1:
        announce()
        return  # the runner stops at the next block boundary
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install(hard_exit: bool = False) -> dict:
    """Route SIGINT and SIGTERM through a fresh flag (main thread only; elsewhere a no-op).
    ``hard_exit`` (the CLI): a repeated signal ends the process at once, and multiprocessing's
    resource tracker, if started later, cleans up after it without a warning. Returns the
    handlers it replaced, for :func:`restore`."""
    if not _in_main_thread():
        return {}
    _received.clear()
    _announced.clear()
    _hard_exit[0] = hard_exit
    if hard_exit and _QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(_QUIET_TRACKER)  # before any pool starts the tracker
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, _handler)
    return previous


def restore(previous: dict) -> None:
    """Put back the handlers :func:`install` replaced."""
    if previous:
        _hard_exit[0] = False
    for sig, h in previous.items():
        if h is not None:
            signal.signal(sig, h)


def received() -> int | None:
    """The first signal received since :func:`install` (None if none)."""
    return _received[0] if _received else None


def check() -> None:
    """Raise :class:`Interrupted` if SIGINT or SIGTERM arrived (call it between blocks)."""
    if _received:
        raise Interrupted(signal.Signals(_received[0]).name)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within, the first SIGINT/SIGTERM only sets the flag (see the module docstring). Installs
    the handler for the duration if another one was in place (library use) and restores it."""
    global _deferring
    if not _in_main_thread():
        yield
        return
    ours = all(signal.getsignal(sig) is _handler for sig in _SIGNALS)
    previous = {} if ours else install()  # library use: a fresh flag, handlers put back after
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        restore(previous)


def deferring(fn):
    """Decorator: run ``fn`` within :func:`deferred`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with deferred():
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def children_shielded() -> Iterator[None]:
    """Block SIGINT in this thread while processes, and threads that start processes, are
    started within: they inherit the blocked signal (the processes through exec; nothing in
    Python or dask unblocks it). A SIGINT arriving meanwhile is not lost: it runs this
    process's handler when the block is lifted, or at once if another thread has it unblocked.

    multiprocessing's resource tracker is started first (unless it runs already): starting it
    unblocks SIGINT in the thread that starts it (``ResourceTracker.ensure_running``), and a
    dask cluster starts it from its event-loop thread, which then passed an unblocked SIGINT to
    every worker (a KeyboardInterrupt traceback from each)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """End this process when ``parent_pid`` (its parent) dies: SIGKILL from the kernel on Linux
    (``prctl(PR_SET_PDEATHSIG)``), else a daemon thread polling ``os.getppid()``."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="theorycheck-parent-watchdog", daemon=True).start()
