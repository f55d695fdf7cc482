"""The ``theorycheck`` command line (docs/design.md "CLI contract").

This module is the composition root: it is the one place in ``theorycheck`` that imports the
registries in ``bounds`` and ``simulations`` and the report builder in ``reports``; the rest of
the package never does. User errors print one line and exit with code 2; an interrupt (SIGINT,
SIGTERM), wherever it lands, prints one line and exits with code 130. Only the standard library
is imported before :func:`main` has installed the interrupt handler
(:mod:`theorycheck.interrupts`), so a Ctrl-C during the start-up imports is handled too.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from theorycheck import interrupts

if TYPE_CHECKING:
    import argparse

    import pandas as pd

DEFAULT_OUT = "theorycheck-results"


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse with errors in one line (the usage is one --help away)."""

        def error(self, message: str):
            self.exit(2, f"theorycheck: error: {message} (see `{self.prog} --help`)\n")

    p = Parser(
        prog="theorycheck",
        description="Monte Carlo verification of adversarial-robustness theorems for two-layer "
        "networks (Bubeck et al. 2021; Wang et al. 2022).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every simulation: id, claims it checks, profiles")
    sub.add_parser("bounds", help="the bounds catalog: id, citation, statement, kind, constants")
    run = sub.add_parser("run", help="run simulations, store results, print verdicts, write PDF")
    run.add_argument("ids", nargs="*", metavar="ID", help="simulation ids (default: all)")
    run.add_argument("--profile", default="quick", choices=("quick", "full"))
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--out", default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})"
    )
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument(
        "--scheduler", metavar="ADDRESS", default=None,
        help="run on a dask cluster: tcp://HOST:8786, or local:N for N local dask workers "
        '(needs pip install "theorycheck[distributed]")',
    )  # fmt: skip
    run.add_argument(
        "--path", default=None, choices=("exact", "numba", "reference", "streaming"),
        help="computation path, in the simulations that offer it (see `theorycheck list`); "
        "default: each simulation's own (the exact laws where they apply)",
    )  # fmt: skip
    run.add_argument("--no-report", action="store_true", help="skip writing the PDF report")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    rep = sub.add_parser("report", help="rebuild the PDF report from stored results")
    rep.add_argument("--results", default=DEFAULT_OUT, help="results directory")
    rep.add_argument("--out", default=None, help="PDF path (default RESULTS/report.pdf)")
    cond = sub.add_parser("conditions", help="where a theorem's conditions hold (width windows)")
    cond.add_argument("claim", metavar="CLAIM", help="bound id, e.g. wang2022.theorem_3_1")
    cond.add_argument("--d", required=True, help="input dimension")
    cond.add_argument("--m", nargs="+", default=(), metavar="M", help="widths to check")
    cond.add_argument("--gamma", default=None, help="failure probability (default 0.05)")
    cond.add_argument("--constant", action="append", default=[], metavar="NAME=VALUE",
                      help="override a free constant, e.g. C4=2 (repeatable)")  # fmt: skip
    from theorycheck.bench import add_arguments as bench_arguments

    bench_arguments(sub.add_parser("bench", help="time the computation paths side by side"))
    return p


def _cmd_list() -> None:
    import textwrap

    from theorycheck.simulations import REGISTRY

    for sim in REGISTRY.values():
        paths = f"; paths: {', '.join(sim.paths)}" if sim.paths else ""
        print(f"{sim.id}  (profiles: quick, full{paths})")
        print(f"  {sim.title}")
        print(textwrap.fill(", ".join(sim.claims), 96, initial_indent="  checks: ",
                            subsequent_indent=" " * 10))  # fmt: skip
        print()


def _cmd_bounds() -> None:
    import textwrap

    from theorycheck.bounds import catalog_frame

    for info in catalog_frame().to_dict("records"):
        print(f"{info['id']}  [{info['kind']}{', derived' if info['derived'] else ''}]")
        print(f"  citation:   {info['citation']}")
        print(textwrap.fill(info["statement"], 96, initial_indent="  statement:  ",
                            subsequent_indent=" " * 14))  # fmt: skip
        print(f"  parameters: {info['parameters'] or '-'};  constants: {info['constants'] or '-'}")
        print(f"  conditions: {info['conditions']}\n")


def format_verdicts(table: pd.DataFrame) -> str:
    """The verdict table as printed by ``theorycheck run``."""
    import pandas as pd

    if table.empty:
        return "(no verdicts)"
    show = pd.DataFrame({
        "simulation": table["simulation"],
        "claim": table["claim"],
        "parameters": table["parameters"].str.replace(r'[{}"]', "", regex=True),
        "estimate": table["estimate"].map(lambda v: f"{v:.4g}"),
        "bound/ref": table["bound"].map(lambda v: f"{v:.4g}"),
        "slack": table["slack"].map(lambda v: "" if v != v else f"{v:.2f}"),
        "p(Holm)": table["p_adjusted"].map(lambda v: "" if v != v else f"{v:.2g}"),
        "conditions": table["conditions"],
        "evidence": table["evidence"],
        "verdict": table["verdict"],
    })  # fmt: skip
    counts = table["verdict"].value_counts().to_dict()
    tally = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        return show.to_string(index=False) + f"\n\n{len(table)} verdicts ({tally})"


def claim_conditions(claim: str, parameters: dict) -> bool | None:
    """Whether the registered claim's conditions hold at a verdict row's grid point.

    None (unknown) when the claim is not a registered bound, has no conditions beyond its
    parameter domains, or the row's parameters do not give every parameter of the bound. A row
    over a grid (``over`` and ``grid`` in its parameters, e.g. an implied constant over d) is
    inside when the conditions hold at every grid value, outside when they hold at none, and
    unknown when they hold at some. Constants the row records (e.g. C2) are used.
    References: :meth:`bounds._base.Bound.conditions`.
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
    from theorycheck.errors import UserInputError

    names = [p.name for p in bound.params] + [c.name for c in bound.constants]
    if any(p.name not in parameters for p in bound.params):
        return None
    try:
        holds = bound.conditions(**{k: parameters[k] for k in names if k in parameters})
    except (UserInputError, TypeError, ValueError):
        return None  # a parameter out of the bound's domain or not a number
    return bool(holds)


def _cmd_run(args) -> None:
    import contextlib

    from theorycheck.errors import UserInputError
    from theorycheck.runner import run
    from theorycheck.simulations import REGISTRY, get_simulation

    if not args.out.strip():  # before abspath('') turns it into the current directory
        raise UserInputError("--out must name a results directory, got ''")

    sims = [get_simulation(i) for i in args.ids] if args.ids else list(REGISTRY.values())
    if args.path is not None:
        # Named simulations must offer the path; a run of all applies it where offered.
        for sim in sims if args.ids else []:
            sim.configs(args.profile, args.path)  # raises naming the paths it offers
        if not any(args.path in sim.paths for sim in sims):
            raise UserInputError(f"no simulation offers path {args.path!r}")
    out, backend = args.out, contextlib.nullcontext(None)
    if args.scheduler is not None:
        if args.workers != 1:
            raise UserInputError(
                "--scheduler and --workers cannot be combined: the cluster's workers compute "
                "the blocks (use --scheduler local:N for N local dask workers)"
            )
        from theorycheck.distributed import dask_executor

        out = os.path.abspath(args.out)  # the workers write the blocks, maybe from another cwd
        backend = dask_executor(args.scheduler, results_dir=out)
    with backend as executor:
        result = run(sims, profile=args.profile, seed=args.seed, out=out,
                     workers=args.workers, executor=executor, progress=not args.quiet,
                     path=args.path, conditions=claim_conditions)  # fmt: skip
    from theorycheck.bounds import catalog_frame
    from theorycheck.store import ResultsStore

    # The whole catalog: runs of different simulations into one directory share this table.
    ResultsStore(args.out).write_table("claims", catalog_frame())
    print(format_verdicts(result.verdicts))
    from theorycheck.bottom_line import bottom_line, format_bottom_line
    from theorycheck.verdicts import family_size, rows_from_frame

    size = family_size(rows_from_frame(result.verdicts))
    print("\n" + format_bottom_line(bottom_line(result.verdicts), size))
    print(f"\n{result.computed_blocks} blocks computed, {result.reused_blocks} reused from "
          f"{result.root} in {result.seconds:.1f}s")  # fmt: skip
    if not args.no_report:
        from theorycheck.reports import build_report

        path = build_report(args.out, None)
        print(f"report: {path}")


def _cmd_report(args) -> None:
    from theorycheck.errors import UserInputError
    from theorycheck.reports import build_report

    if not args.results.strip():  # Path('') is the current directory
        raise UserInputError("--results must name a results directory, got ''")

    print(f"report: {build_report(args.results, args.out)}")


def _cmd_conditions(args) -> None:
    from theorycheck.bounds.conditions import conditions_report

    print(conditions_report(args.claim, args.d, args.m, args.gamma, args.constant))


def main(argv: list[str] | None = None) -> int:
    previous: dict = {}
    try:
        # First of all: a Ctrl-C from here on ends in one line and exit 130.
        previous = interrupts.install(hard_exit=True)
        return _main(argv)
    except KeyboardInterrupt:  # landed before the handler was in place
        interrupts.announce()
        raise SystemExit(interrupts.EXIT_CODE) from None
    finally:
        interrupts.restore(previous)


def _main(argv: list[str] | None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "list":
            _cmd_list()
        elif args.command == "bounds":
            _cmd_bounds()
        elif args.command == "run":
            _cmd_run(args)
        elif args.command == "report":
            _cmd_report(args)
        elif args.command == "conditions":
            _cmd_conditions(args)
        elif args.command == "bench":
            from theorycheck.bench import run_from_args

            run_from_args(args)
    except SystemExit:
        raise
    except BrokenPipeError:  # e.g. `theorycheck list | head`
        sys.stderr.close()
        raise SystemExit(0) from None
    except BaseException as exc:
        # Whatever an interrupt surfaced as (KeyboardInterrupt, numba's SystemError, a dask
        # CancelledError): one line and 130.
        if isinstance(exc, KeyboardInterrupt) or interrupts.received() is not None:
            sys.stderr.flush()
            interrupts.announce()  # the one line, unless the signal handler wrote it already
            raise SystemExit(interrupts.EXIT_CODE) from None
        from theorycheck.errors import UserInputError

        if isinstance(exc, UserInputError):
            print(f"theorycheck: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise
    return 0


if __name__ == "__main__":
    main()
