"""The conformance check every registered simulation must pass (as ``check_bound`` for bounds).

:func:`check_simulation` raises :class:`AssertionError` listing every way a simulation breaks
the contract of :class:`theorycheck.simulation.Simulation` (docs/design.md "Architecture"):

* documented: an id in kebab case, a title, the claims it checks (each registered in
  ``theorycheck.bounds.REGISTRY``) and its limitations;
* its grids: both profiles non-empty, configs frozen dataclasses with distinct config ids,
  at least one block each, every offered path selectable;
* end to end on a tiny version of its first quick config (:func:`tiny_config`: the same grid
  point with a handful of replicates), measured block by block as the runner does: the
  observables (the block's columns) the same in every block, with a ``block`` column; the
  evaluation's verdict rows speak about the simulation's own claims with known verdicts, and
  each row of a claim with conditions carries every parameter of its bound (otherwise its
  conditions silently read "unknown") and never silently replaces a free constant's default
  (a simulation that means to lists the constant in ``constant_overrides``); the summary has
  the columns the report draws.
"""

from __future__ import annotations

import dataclasses
import math
import re

from theorycheck.simulation import PROFILES, Simulation, config_id, measure_blocks
from theorycheck.verdicts import Verdict

__all__ = ["check_simulation", "tiny_config"]

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Config fields that set how many replicates are drawn, with the value a tiny run uses.
_TINY = {
    "networks_per_block": 4,
    "trained_per_block": 1,
    "searched_per_block": 1,
    "n_test": 8,
    "mc_samples": 400,
    "init_samples": 400,
    "sgd_steps": 20,
    "extra_targets": 1,
}
#: Grids inside a config (one replicate computes every value): a tiny run keeps this many.
_TINY_GRIDS = {"psis": 3, "alphas": 2, "convergence_ds": 1}
_SUMMARY_COLUMNS = ("figure", "panel", "series", "x", "estimate", "ci_low", "ci_high")


def tiny_config(config):
    """``config`` with few replicates (the fields of ``_TINY`` it has, never enlarged)."""
    names = {f.name for f in dataclasses.fields(config)}
    small = {}
    for name, value in _TINY.items():
        if name in names:
            current = getattr(config, name)
            if isinstance(current, int | float) and current > value:
                small[name] = type(current)(value)
    for name, keep in _TINY_GRIDS.items():
        if name in names and len(getattr(config, name)) > keep:
            small[name] = tuple(getattr(config, name)[:keep])
    return dataclasses.replace(config, **small)


def check_simulation(sim: Simulation, *, end_to_end: bool = True, blocks: int = 2) -> None:
    """Raise AssertionError listing every way ``sim`` breaks the simulation contract."""
    from theorycheck.bounds import REGISTRY
    from theorycheck.bounds._base import Bound

    problems: list[str] = []

    def need(cond: bool, msg: str) -> None:
        if not cond:
            problems.append(msg)

    need(bool(_ID.match(sim.id or "")), f"id {sim.id!r} is not kebab case")
    need(bool(sim.title), "no title")
    need(bool(sim.limitations), "no limitations: say what the simulation cannot show")
    need(bool(sim.claims), "checks no claim")
    for claim in sim.claims:
        need(claim in REGISTRY, f"claim {claim} is not in theorycheck.bounds.REGISTRY")
    need(sim.max_block_factor >= 1 and sim.max_block_factor & (sim.max_block_factor - 1) == 0,
         f"max_block_factor {sim.max_block_factor} is not a power of 2")  # fmt: skip
    first = None
    for profile in PROFILES:
        configs = sim.configs(profile)
        need(bool(configs), f"profile {profile} has no config")
        ids = [config_id(c) for c in configs]  # raises for a config that is not a dataclass
        need(len(set(ids)) == len(ids), f"profile {profile} repeats a config")
        for c in configs:
            params = getattr(type(c), "__dataclass_params__", None)
            need(params is not None and params.frozen, f"{type(c).__name__} is not frozen")
            need(sim.blocks(c) >= 1, f"config {config_id(c)} has no block")
        for path in sim.paths:
            need(bool(sim.configs(profile, path)), f"path {path} gives no config")
        first = first or (configs[0] if configs else None)
    if end_to_end and first is not None and not problems:
        _end_to_end(sim, tiny_config(first), blocks, need, REGISTRY, Bound)
    if problems:
        raise AssertionError(f"simulation {sim.id}:\n  " + "\n  ".join(problems))


def _end_to_end(sim, cfg, blocks, need, registry, bound_base) -> None:
    n = min(blocks, sim.blocks(cfg))
    data = measure_blocks(sim, cfg, seed=0, blocks=n)
    need(len(data) > 0, "a block measured no replicate")
    need("block" in data.columns and sorted(set(data["block"])) == list(range(n)),
         "the blocks are not numbered 0..n-1")  # fmt: skip
    per_block = [set(df.columns) for _, df in data.groupby("block")]
    need(all(c == per_block[0] for c in per_block), "blocks measure different observables")
    ev = sim.evaluate({cfg: data})
    verdicts = {str(v) for v in Verdict}
    for row in ev.verdicts:
        need(row.claim in sim.claims, f"a verdict row speaks about {row.claim}, not a claim of "
             "the simulation")  # fmt: skip
        need(row.verdict in verdicts, f"{row.claim}: unknown verdict {row.verdict!r}")
        need(row.simulation == sim.id, f"{row.claim}: row of simulation {row.simulation!r}")
        bound = registry.get(row.claim)
        if row.family == "conditions":  # rows that compute where conditions hold
            continue
        if bound is None or type(bound)._conditions is bound_base._conditions:
            continue
        params = row.params()
        for c in bound.constants:
            # A grid field named like a free constant would silently replace its documented
            # default in the conditions; a simulation that means it declares it.
            if c.name in params and params[c.name] != c.default:
                need(c.name in getattr(sim, "constant_overrides", ()),
                     f"{row.claim}: rows set the constant {c.name} = {params[c.name]} (default "
                     f"{c.default}) without declaring it in constant_overrides")  # fmt: skip
        lacking = [p.name for p in bound.params if p.name not in params
                   and params.get("over") != p.name]  # fmt: skip
        need(not lacking, f"{row.claim}: rows lack parameter(s) {', '.join(lacking)} of the "
             "bound, so its conditions cannot be evaluated")  # fmt: skip
    summary = ev.summary
    if not summary.empty and ev.figures:
        lacking = [c for c in _SUMMARY_COLUMNS if c not in summary.columns]
        need(not lacking, f"the summary lacks column(s) {', '.join(lacking)}")
        if "estimate" in summary.columns:
            finite = summary["estimate"].map(lambda v: isinstance(v, int | float)
                                             and not math.isnan(v))  # fmt: skip
            need(bool(finite.any()), "no summary estimate is a number")
