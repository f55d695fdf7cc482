"""The pipeline: ``theorycheck.run`` (Python) and ``theorycheck run`` (CLI) are this function.

It is the composition root: the one place that joins the registries of ``bounds`` and
``simulations``, the runner, the user's claims (:mod:`theorycheck.claims`) and the report
builder. The CLI only parses arguments, calls :func:`run` and prints (docs/design.md "Library and
plugins"), so both write the same files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from theorycheck.errors import UserInputError
from theorycheck.verdicts import DEFAULT_ALPHA

__all__ = ["DEFAULT_OUT", "claim_conditions", "run"]

DEFAULT_OUT = "theorycheck-results"


def run(
    ids: Sequence[str] | str | None = None,
    *,
    profile: str = "quick",
    seed: int = 0,
    out: str | os.PathLike = DEFAULT_OUT,
    workers: int | None = None,
    scheduler: str | None = None,
    path: str | None = None,
    claims=None,
    entry_points: bool = True,
    report: bool = True,
    progress: bool = True,
    alpha: float = DEFAULT_ALPHA,
    data: str | os.PathLike | None = None,
):
    """Run simulations, store and decide their verdicts, check your claims, write the report.

    Parameters
    ----------
    ids : simulation ids (``theorycheck list``); all when None or empty.
    profile : ``quick`` or ``full``.
    seed : the run's seed; the same seed gives the same bits on every backend.
    out : the results directory (reused: stored blocks that verify are not recomputed).
    workers : local worker processes (1: inline; None: one per core for a run of at least
        :data:`theorycheck.runner.AUTO_MIN_BLOCKS` blocks, else inline).
    scheduler : a dask.distributed address, or ``local:N`` (needs the ``distributed`` extra).
    path : computation path in the simulations that offer it (exact, numba, reference,
        streaming); default: each simulation's own.
    claims : your own claims (:mod:`theorycheck.claims`): a file path, Bound classes or
        instances; checked against the stored observables in their own Holm family.
    entry_points : also check the claims installed packages expose (group
        ``theorycheck.claims``).
    report : write ``OUT/report.pdf``.
    progress : show the progress bar on stderr.
    alpha : family-wise error rate of the refutations (Holm).
    data : what the simulations that train networks train on (:mod:`theorycheck.data`):
        ``clusters`` (default), ``digits`` (scikit-learn's handwritten 0 and 1) or a ``.npz``
        file with arrays ``x`` and ``y``. Named simulations must train networks.

    Returns
    -------
    :class:`theorycheck.results.Results`: ``.verdicts``, ``.user_verdicts``, ``.summaries``,
    ``.observables(simulation)`` as DataFrames with the parameters as columns, ``.report()``.
    """
    from theorycheck import claims as user_claims
    from theorycheck.bounds import catalog_frame
    from theorycheck.results import USER_CLAIMS, USER_VERDICTS, Results
    from theorycheck.runner import run as run_simulations
    from theorycheck.simulations import REGISTRY, get_simulation
    from theorycheck.store import ResultsStore

    if isinstance(ids, str):
        ids = [ids]
    out = os.fspath(out)
    if not out.strip():  # before abspath('') turns it into the current directory
        raise UserInputError("--out must name a results directory, got ''")
    sims = [get_simulation(i) for i in ids] if ids else list(REGISTRY.values())
    if path is not None:
        # Named simulations must offer the path; a run of all applies it where offered.
        for sim in sims if ids else []:
            sim.configs(profile, path)  # raises naming the paths it offers
        if not any(path in sim.paths for sim in sims):
            raise UserInputError(f"no simulation offers path {path!r}")
    if data is not None:
        from theorycheck.run_arguments import check_data_argument

        offered = [s.id for s in REGISTRY.values() if s.takes_data]
        data = check_data_argument(sims, data, named=bool(ids), offered=offered)
    mine = user_claims.resolve_claims(claims)
    if entry_points:
        mine += user_claims.entry_point_claims()
    absent = [s for s in user_claims.claim_simulations(mine) if s not in {x.id for x in sims}]
    if absent:
        raise UserInputError(
            f"your claims speak about {', '.join(absent)}, which this run does not include; "
            "add the id(s) to the run"
        )
    backend = contextlib.nullcontext(None)
    if scheduler is not None:
        if workers not in (None, 1):
            raise UserInputError(
                "--scheduler and --workers cannot be combined: the cluster's workers compute "
                "the blocks (use --scheduler local:N for N local dask workers)"
            )
        from theorycheck.distributed import dask_executor

        out = os.path.abspath(out)  # the workers write the blocks, maybe from another cwd
        backend = dask_executor(scheduler, results_dir=out)
    with backend as executor:
        done = run_simulations(sims, profile=profile, seed=seed, out=out, workers=workers,
                               executor=executor, progress=progress, alpha=alpha, path=path,
                               conditions=claim_conditions, data=data)  # fmt: skip
    store = ResultsStore(out)
    # The whole catalogue: runs of different simulations into one directory share this table.
    store.write_table("claims", catalog_frame())
    results = Results(Path(store.root), profile, int(seed), tuple(s.id for s in sims),
                      done.computed_blocks, done.reused_blocks, done.seconds)  # fmt: skip
    if mine:
        user_claims.check_claims(mine, results, alpha)
    else:  # a previous run's claims are not this run's
        for name in (USER_VERDICTS, USER_CLAIMS):
            store.table_path(name).unlink(missing_ok=True)
    if report:
        from dataclasses import replace

        results = replace(results, report_path=results.report())
    return results


def claim_conditions(claim: str, parameters: dict) -> bool | None:
    """Whether the registered claim's conditions hold at a verdict row's grid point.

    None (unknown) when the claim is not a registered bound, has no conditions beyond its
    parameter domains, or the row's parameters do not give every parameter its conditions
    depend on (:meth:`theorycheck.bounds.Bound.condition_parameters`). A row
    over a grid (``over`` and ``grid`` in its parameters, e.g. an implied constant over d) is
    inside when the conditions hold at every grid value, outside when they hold at none, and
    unknown when they hold at some. Constants the row records (e.g. C2) are used.
    References: :meth:`theorycheck.bounds.Bound.conditions`.
    """
    from theorycheck.bounds import REGISTRY
    from theorycheck.bounds._base import Bound

    bound = REGISTRY.get(claim)
    if bound is None or type(bound)._conditions is Bound._conditions:
        return None
    over, grid = parameters.get("over"), parameters.get("grid")
    if over is not None and isinstance(grid, list) and grid:
        answers = {_conditions_at(bound, {**parameters, over: v}) for v in grid}
        return answers.pop() if len(answers) == 1 else None
    return _conditions_at(bound, parameters)


def _conditions_at(bound, parameters: dict) -> bool | None:
    names = [p.name for p in bound.params] + [c.name for c in bound.constants]
    if any(name not in parameters for name in bound.condition_parameters()):
        return None
    try:
        holds = bound.conditions(**{k: parameters[k] for k in names if k in parameters})
    except (UserInputError, TypeError, ValueError):
        return None  # a parameter out of the bound's domain or not a number
    return bool(holds)
