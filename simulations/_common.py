"""Pieces shared by simulations: the ``python -m simulations.<module>`` entry and summaries."""

from __future__ import annotations

import sys

import numpy as np

from theorycheck.stats import mean_ci


def main(simulation, argv: list[str] | None = None) -> None:
    """Run one simulation as ``theorycheck run <id>`` would (same options, same store)."""
    from theorycheck.cli import main as cli_main

    args = sys.argv[1:] if argv is None else argv
    cli_main(["run", simulation.id, *args])


def law_summary(x, base: dict) -> dict:
    """A summary row: mean of ``x`` with its 95% t interval, merged into ``base``."""
    x = np.asarray(x, dtype=float)
    if x.size < 2 or np.all(x == x[0]):
        v = float(x.mean())
        return {**base, "estimate": v, "ci_low": v, "ci_high": v}
    ci = mean_ci(x)
    return {**base, "estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}
