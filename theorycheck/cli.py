"""The ``theorycheck`` command line (docs/design.md "CLI contract").

This module is the composition root: it is the one place in ``theorycheck`` that imports the
registries in ``bounds`` and ``simulations`` and the report builder in ``reports``; the rest of
the package never does. User errors print one line and exit with code 2; an interrupt (SIGINT,
SIGTERM), wherever it lands, prints one line and exits with code 130. Only the standard library
is imported before :func:`main` has installed the interrupt handler
(:mod:`theorycheck.interrupts`), so a Ctrl-C during the start-up imports is handled too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from theorycheck import interrupts

if TYPE_CHECKING:
    import argparse

    import pandas as pd

DEFAULT_OUT = "theorycheck-results"  # theorycheck.pipeline.DEFAULT_OUT (not imported: start-up)
FORMATS = ("table", "csv", "json")

EXAMPLES = """\
examples:
  theorycheck run                                   every simulation, quick profile, PDF report
  theorycheck run lazy-sign-flips --profile full --workers 2
  theorycheck run lazy-sign-flips --claims docs/examples/my_bounds.py
  theorycheck run lazy-single-step --data digits    trained networks on real digits 0 vs 1
  theorycheck run --scheduler local:2 --out results
  theorycheck report --results results              rebuild the PDF from stored results
  theorycheck list --format csv                     simulations as CSV
  theorycheck bounds wang2022.lemma_4_3             one claim of the catalogue
  theorycheck conditions wang2022.theorem_3_1 --d 784 --m 1000 1e6
  theorycheck bench --quick

docs: docs/theory.md (what is checked), docs/user-guide.md (how to use it)
"""


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse with errors in one line (the usage is one --help away)."""

        def error(self, message: str):
            self.exit(2, f"theorycheck: error: {message} (see `{self.prog} --help`)\n")

    raw = argparse.RawDescriptionHelpFormatter
    p = Parser(
        prog="theorycheck",
        description="Monte Carlo verification of adversarial-robustness theorems for two-layer "
        "networks (Bubeck et al. 2021; Wang et al. 2022; Dohmatob & Bietti 2022).",
        epilog=EXAMPLES,
        formatter_class=raw,
    )
    p.add_argument("--version", action="version", version=f"theorycheck {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def fmt(parser) -> None:
        parser.add_argument(
            "--format", default="table", choices=FORMATS,
            help="how to print: a readable table (default), CSV or JSON records",
        )  # fmt: skip

    lst = sub.add_parser("list", help="every simulation: id, claims it checks, profiles")
    fmt(lst)
    bnd = sub.add_parser(
        "bounds", help="the bounds catalogue: id, citation, statement, kind, constants",
        description="The catalogue of the papers' claims (all, or the ids given; a prefix such "
        "as wang2022 selects a paper).",
    )  # fmt: skip
    bnd.add_argument("ids", nargs="*", metavar="ID", help="bound ids or id prefixes (default: all)")
    fmt(bnd)
    run = sub.add_parser(
        "run", help="run simulations, store results, print verdicts, write the PDF report",
        description="Run simulations (all when no id is given), store every block, decide the "
        "verdicts, print them with the bottom line and write OUT/report.pdf. Blocks already "
        "stored (and verified) are reused, so an interrupted run resumes.",
        epilog=EXAMPLES, formatter_class=raw,
    )  # fmt: skip
    run.add_argument("ids", nargs="*", metavar="ID",
                     help="simulation ids (see `theorycheck list`; default: all)")  # fmt: skip
    run.add_argument("--profile", default="quick", choices=("quick", "full"),
                     help="grid and sample sizes: quick (minutes) or full (the powered profile); "
                     "default quick")  # fmt: skip
    run.add_argument("--seed", type=int, default=0,
                     help="seed of every random draw (default 0); same seed, same bits on any "
                     "backend")  # fmt: skip
    run.add_argument(
        "--out", default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})"
    )
    run.add_argument("--workers", type=int, default=None,
                     help="local worker processes (default: one per core for a run of 16 or "
                     "more blocks, else 1, computing in this process)")  # fmt: skip
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
    run.add_argument(
        "--claims", metavar="FILE", default=None,
        help="a Python file of your own claims (Bound subclasses naming an observable), checked "
        "against the stored observables in their own Holm family; see docs/examples/my_bounds.py",
    )  # fmt: skip
    run.add_argument(
        "--data", metavar="DATA", default=None,
        help="what the trained networks learn (lazy-gradient, lazy-single-step, "
        "lazy-robust-error, lazy-adversarial-training): clusters (synthetic, default), digits "
        "(scikit-learn's handwritten 0 vs 1, resampled to each d) or FILE.npz with arrays x "
        "(n, h, w) or (n, d) and y (n,), two classes",
    )  # fmt: skip
    run.add_argument("--no-report", action="store_true", help="skip writing the PDF report")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    fmt(run)
    rep = sub.add_parser("report", help="rebuild the PDF report from stored results")
    rep.add_argument("--results", default=DEFAULT_OUT,
                     help=f"results directory (default {DEFAULT_OUT})")  # fmt: skip
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


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("theorycheck")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _print_frame(df: pd.DataFrame, form: str, table: str) -> None:
    """``df`` as CSV or JSON records (``--format csv|json``), or ``table`` as given."""
    if form == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif form == "json":
        sys.stdout.write(df.to_json(orient="records", indent=1) + "\n")
    else:
        print(table)


def _cmd_list(args) -> None:
    import textwrap

    import pandas as pd

    from theorycheck.simulations import REGISTRY

    df = pd.DataFrame([
        {"id": sim.id, "title": sim.title, "claims": " ".join(sim.claims),
         "profiles": "quick full", "paths": " ".join(sim.paths)}
        for sim in REGISTRY.values()
    ])  # fmt: skip
    lines = []
    for sim in REGISTRY.values():
        paths = f"; paths: {', '.join(sim.paths)}" if sim.paths else ""
        lines.append(f"{sim.id}  (profiles: quick, full{paths})")
        lines.append(f"  {sim.title}")
        lines.append(textwrap.fill(", ".join(sim.claims), 96, initial_indent="  checks: ",
                                   subsequent_indent=" " * 10) + "\n")  # fmt: skip
    _print_frame(df, args.format, "\n".join(lines).rstrip())


def _cmd_bounds(args) -> None:
    import textwrap

    from theorycheck.bounds import REGISTRY, catalog_frame
    from theorycheck.errors import UserInputError

    def matches(bound_id: str, selector: str) -> bool:  # an id, or a paper's prefix
        return bound_id == selector or bound_id.split(".")[0] == selector

    ids = None
    if args.ids:
        ids = [b for b in REGISTRY if any(matches(b, i) for i in args.ids)]
        unknown = [i for i in args.ids if not any(matches(b, i) for b in REGISTRY)]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(REGISTRY), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserInputError(f"no bound matches {', '.join(unknown)}{hint}")
    df = catalog_frame(ids)
    lines = []
    for info in df.to_dict("records"):
        lines.append(f"{info['id']}  [{info['kind']}{', derived' if info['derived'] else ''}]")
        lines.append(f"  citation:   {info['citation']}")
        lines.append(textwrap.fill(info["statement"], 96, initial_indent="  statement:  ",
                                   subsequent_indent=" " * 14))  # fmt: skip
        lines.append(f"  parameters: {info['parameters'] or '-'};  "
                     f"constants: {info['constants'] or '-'}")  # fmt: skip
        lines.append(f"  conditions: {info['conditions']}\n")
    _print_frame(df, args.format, "\n".join(lines).rstrip())


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


def _cmd_run(args) -> None:
    from theorycheck.pipeline import run

    if not args.quiet and sys.stderr.isatty():  # a terminal sees something from the start
        print("theorycheck: loading the simulations and compiling their kernels "
              "(the first run compiles; later runs use the cache) ...", file=sys.stderr,
              flush=True)  # fmt: skip
    res = run(args.ids, profile=args.profile, seed=args.seed, out=args.out,
              workers=args.workers, scheduler=args.scheduler, path=args.path,
              claims=args.claims, report=False, progress=not args.quiet,
              data=args.data)  # fmt: skip
    verdicts, mine = res.verdicts, res.user_verdicts
    if args.format != "table":
        import pandas as pd

        both = pd.concat([verdicts.assign(family_of="papers"),
                          mine.assign(family_of="yours")], ignore_index=True)  # fmt: skip
        _print_frame(both if not mine.empty else verdicts, args.format, "")
    else:
        from theorycheck.bottom_line import bottom_line, format_bottom_line
        from theorycheck.verdicts import family_size, rows_from_frame

        print(format_verdicts(verdicts))
        size = family_size(rows_from_frame(verdicts))
        print("\n" + format_bottom_line(bottom_line(verdicts), size))
        if not mine.empty:
            print("\nYour claims (their own Holm family of "
                  f"{family_size(rows_from_frame(mine))}):")  # fmt: skip
            print(format_verdicts(mine))
    print(f"\n{res.computed_blocks} blocks computed, {res.reused_blocks} reused from "
          f"{res.root} in {res.seconds:.1f}s", file=sys.stderr if args.format != "table"
          else sys.stdout)  # fmt: skip
    if not args.no_report:
        print(f"report: {res.report()}", file=sys.stderr if args.format != "table" else sys.stdout)


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
            _cmd_list(args)
        elif args.command == "bounds":
            _cmd_bounds(args)
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
    if interrupts.received() is not None:
        # The signal came after the last check (e.g. while a dask cluster closed): its line is
        # on stderr, so the exit code says it too.
        interrupts.announce()
        raise SystemExit(interrupts.EXIT_CODE)
    return 0


if __name__ == "__main__":
    main()
