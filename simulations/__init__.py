"""How each claim is put to the test: one module per claim or figure, and a registry.

Every module defines ``SIMULATION`` (a :class:`theorycheck.simulation.Simulation`) and can be run
on its own: ``python -m theorycheck.simulations.lazy_sign_flips --profile quick``. Register a new
simulation
by adding its module to ``_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

from theorycheck.errors import UserInputError
from theorycheck.simulation import Simulation

__all__ = ["REGISTRY", "Simulation", "get_simulation"]

_MODULES = (
    "gaussian_model",
    "init_gradient",
    "init_gradient_stability",
    "init_output",
    "init_single_step",
    "kkt_universal_perturbation",
    "lazy_gradient",
    "lazy_gradient_stability",
    "lazy_output",
    "lazy_adversarial_training",
    "lazy_robust_error",
    "lazy_sign_flips",
    "lazy_single_step",
    "quadratic_lazy",
    "quadratic_nn",
    "quadratic_nt",
    "quadratic_rf",
    "quadratic_tradeoff",
    "width_window",
)


def __getattr__(name: str):
    # The registry is built on first use, not at import, so that ``python -m
    # theorycheck.simulations.<module>`` executes its module once (as __main__), not twice.
    if name == "REGISTRY":
        registry: dict[str, Simulation] = {
            sim.id: sim for sim in (import_module(f"{__name__}.{m}").SIMULATION for m in _MODULES)
        }
        globals()["REGISTRY"] = registry
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_simulation(sim_id: str) -> Simulation:
    """The registered simulation ``sim_id``; a one-line error with close ids otherwise."""
    registry = globals().get("REGISTRY") or __getattr__("REGISTRY")
    try:
        return registry[sim_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(sim_id, registry, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `theorycheck list`"
        raise UserInputError(f"unknown simulation {sim_id!r}{hint}") from None
