"""Sequential sampling: more blocks for undecided rows, under a valid stopping rule
(docs/theory.md, "Verdicts": sequential sampling).

A simulation with ``max_block_factor = F > 1`` runs in looks: look 0 uses each config's
``n_blocks`` blocks, look j its first ``n_blocks * 2^j`` blocks (at most ``F n_blocks``). After
each look, the configs that an undecided row speaks about -- an INCONCLUSIVE row whose note says
that more replicates would settle it -- get the next look's blocks; the others stop.

The stopping rule is valid by Bonferroni over the looks fixed by the design: with L = 1 + log2(F)
possible looks, every confirmatory row of the simulation is decided with its p-value multiplied by
L and its Clopper-Pearson limit at confidence 1 - 0.05 / L, whether or not it was extended. The
probability that any look wrongly refutes (or wrongly confirms) a row is then at most the sum of
the L per-look levels, the row's level. Blocks stay seeded by (seed, simulation, config, block):
the looks are decided from stored blocks only, so a stopped or resumed run reaches the same look
with the same numbers, on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from theorycheck.simulation import Simulation, config_dict
from theorycheck.verdicts import VerdictRow, with_looks

__all__ = ["extendable", "look_count", "next_blocks", "undecided_configs", "with_design_looks"]


def look_count(sim: Simulation) -> int:
    """Looks the design allows: 1 + log2(max_block_factor) (1 for a fixed design)."""
    factor = int(getattr(sim, "max_block_factor", 1))
    if factor < 1 or factor & (factor - 1):
        raise ValueError(f"{sim.id}: max_block_factor must be a power of 2, got {factor}")
    return 1 + int(math.log2(factor))


def extendable(row: VerdictRow) -> bool:
    """An undecided row that more replicates could settle (not a directional estimate that can
    never decide, nor a rate sitting at gamma)."""
    return row.verdict == "INCONCLUSIVE" and "would settle it" in row.note


def _matches(cfg, params: dict) -> bool:
    """Whether a verdict row's grid point covers ``cfg``: every shared key agrees; a row over a
    grid (``over`` and ``grid``) covers the configs whose ``over`` field is on the grid."""
    fields = config_dict(cfg)
    over, grid = params.get("over"), params.get("grid")
    for key, value in fields.items():
        if key == over and isinstance(grid, list):
            if float(value) not in [float(g) for g in grid]:
                return False
        elif key in params and not _equal(params[key], value):
            return False
    return True


def _equal(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def undecided_configs(configs: Iterable, rows: Sequence[VerdictRow]) -> list:
    """The configs some extendable row speaks about, in the given order."""
    open_rows = [r.params() for r in rows if extendable(r)]
    return [cfg for cfg in configs if any(_matches(cfg, p) for p in open_rows)]


def next_blocks(sim: Simulation, cfg, current: int) -> int:
    """Blocks of the next look of ``cfg`` (``current`` if it is at its last look)."""
    cap = sim.blocks(cfg) * int(getattr(sim, "max_block_factor", 1))
    return min(2 * current, cap)


def with_design_looks(sim: Simulation, rows: Sequence[VerdictRow]) -> list[VerdictRow]:
    """Every row of a sequential simulation decided with the design's Bonferroni factor."""
    looks = look_count(sim)
    return [with_looks(r, looks) for r in rows] if looks > 1 else list(rows)
