"""Pieces shared by simulations: the ``python -m simulations.<module>`` entry, summaries, and
the choice between the exact laws and materialised networks at initialisation."""

from __future__ import annotations

import sys

import numpy as np

from theorycheck.exact import SAMPLER_PATHS, sample_init_statistics
from theorycheck.simulation import Simulation
from theorycheck.stats import mean_ci
from theorycheck.streaming import sample_stream_statistics

#: Samplers of per-network statistics at initialisation (one input each) that never materialise
#: W: the exact laws (O(m) per network) and the counter-based stream (O(d) memory). Both give f,
#: grad_norm and flippable for the given radii.
STREAMED = {"exact": sample_init_statistics, "streaming": sample_stream_statistics}


class InitPathSimulation(Simulation):
    """A simulation at initialisation whose configs carry a ``path`` field: ``exact`` (the d-free
    laws of THEORY.md Sec. 4.1, :func:`theorycheck.exact.sample_init_statistics`) where they
    apply, i.e. relu without biases, else ``numba`` or ``reference`` (materialised networks)."""

    paths = SAMPLER_PATHS

    def supports_path(self, config, path: str) -> bool:
        return super().supports_path(config, path) and (path != "exact" or exact_applies(config))


class StreamingPathMixin:
    """For simulations whose measurements (f, ||grad f||, |S_R|) the streaming path also gives
    (relu without biases, like the exact laws)."""

    paths = ("exact", "streaming", "numba", "reference")

    def supports_path(self, config, path: str) -> bool:
        ok = Simulation.supports_path(self, config, path)
        return ok and (path not in STREAMED or exact_applies(config))


def exact_applies(config) -> bool:
    """Whether the exact laws cover ``config``: relu (a = +-1) without biases (THEORY.md Sec. 4)."""
    return getattr(config, "activation", "relu") == "relu" and not getattr(config, "biases", False)


def default_path(activation: str = "relu", biases: bool = False) -> str:
    """The path a config uses unless the user chooses: exact where it applies, else numba."""
    return "exact" if activation == "relu" and not biases else "numba"


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
