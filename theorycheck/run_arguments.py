"""Validation of :func:`theorycheck.runner.run`'s arguments: one line naming the bad one.

Every numeric argument goes through :mod:`theorycheck.errors` (finite, in range, named); the
results directory must name one (an empty ``--out`` would write into the current directory);
``--data`` must name a source some of the simulations train on (:mod:`theorycheck.data`).

Reference: docs/user-guide.md, "When something goes wrong".
"""

from __future__ import annotations

import os

from theorycheck.errors import UserInputError, check_int, check_real

__all__ = ["MAX_SEED", "check_data_argument", "check_run_arguments", "max_workers"]

#: Seeds are stored in directory names (``<config id>-s<seed>``) and fed to SeedSequence: 64 bits.
MAX_SEED = 2**64 - 1


def max_workers() -> int:
    """At most 4 local worker processes per core: more only queue for the same cores."""
    return 4 * (os.cpu_count() or 1)


def check_run_arguments(
    simulations, *, seed, workers, alpha, path, out
) -> tuple[int, int | None, float]:
    """Return ``(seed, workers, alpha)`` checked, or raise a :class:`UserInputError` naming the
    bad argument (seed, workers, alpha, path or out)."""
    seed = check_int("seed", seed, minimum=0, maximum=MAX_SEED)
    if workers is not None:  # None: one per core for runs that pay for processes (runner)
        workers = check_int("workers", workers, maximum=max_workers())
    alpha = check_real("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    if path is not None and not any(path in sim.paths for sim in simulations):
        offered = sorted({p for sim in simulations for p in sim.paths})
        raise UserInputError(
            f"path {path!r} is offered by none of these simulations "
            f"(they offer: {', '.join(offered) or 'no path'})"
        )
    if not isinstance(out, str | os.PathLike) or not str(os.fspath(out)).strip():
        raise UserInputError(f"out (--out) must name a results directory, got {out!r}")
    return seed, workers, alpha


def check_data_argument(simulations, data, *, named: bool = True, offered=()) -> str | None:
    """``data`` (``--data``) resolved to the value configs store
    (:func:`theorycheck.data.resolve_data`: a file is validated and hashed), or None.

    Raise a :class:`UserInputError` when no simulation of the run trains networks on data, or,
    with ``named`` (the user listed the ids), when one of them does not. ``offered``: the ids
    of the simulations that do, for the message."""
    if data is None:
        return None
    refused = [s.id for s in simulations if not s.takes_data]
    if (named and refused) or len(refused) == len(simulations):
        which = ", ".join(offered) or "the simulations with a trained family"
        none = ", ".join(refused) if named else "none of these simulations"
        raise UserInputError(f"--data applies only to simulations that train networks on a "
                             f"task ({which}); {none} take(s) no --data")  # fmt: skip
    from theorycheck.data import resolve_data

    return resolve_data(data)
