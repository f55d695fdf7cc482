"""Expected block times: the progress bar's ETA and the scheduler's order (longest first).

A block's expected time is, in this order of preference:

1. its config's measured time in the results directory (any seed): this machine, this code;
2. its config's time in the reference table shipped with the package (``block_seconds.json``,
   measured on a 2-core machine by ``python benchmarks/block_costs.py RESULTS...``);
3. the mean of its simulation's known configs in this run, else of the simulation's configs in
   the reference table, else of everything known; 1 s when nothing is.

Only ratios matter (the order of the blocks and the bar's fraction), so a table measured on
another machine serves as long as the configs keep their ids. The order changes no stored
number: each block is seeded by its identity (:mod:`theorycheck.seeding`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from theorycheck.store import ResultsStore

__all__ = ["estimated_seconds", "measured_table", "reference_table"]

REFERENCE = "block_seconds.json"


def estimated_seconds(
    store: ResultsStore, keys: Iterable[tuple[str, str]], reference: dict | None = None
) -> list[float]:
    """Expected measurement seconds of each block, given as ``(simulation id, config id)``, by
    the preference order of this module's docstring (``reference``: the shipped table when
    None)."""
    keys = list(keys)
    table = reference_table() if reference is None else reference
    known: dict[tuple[str, str], float] = {}
    for key in dict.fromkeys(keys):
        seconds = _stored_seconds(store, *key)
        if seconds is None:
            seconds = table.get(key[0], {}).get(key[1])
        if seconds is not None:
            known[key] = float(seconds)
    by_sim: dict[str, list[float]] = {}
    for (sim_id, _), v in known.items():
        by_sim.setdefault(sim_id, []).append(v)
    for sim_id, table_sim in table.items():  # a new config of a known simulation
        by_sim.setdefault(sim_id, list(table_sim.values()))
    overall = statistics.fmean(known.values()) if known else 1.0
    out = []
    for key in keys:
        v = known.get(key)
        if v is None:
            seen = by_sim.get(key[0])
            v = statistics.fmean(seen) if seen else overall
        out.append(max(v, 1e-3))
    return out


def _stored_seconds(store: ResultsStore, sim_id: str, cfg_id: str) -> float | None:
    """The stored measurement time of one block of this config (any seed), if any."""
    for path in sorted((store.root / sim_id).glob(f"{cfg_id}-s*/block-*.parquet"))[:1]:
        try:
            seconds = store.read_meta(path).get("seconds")
        except Exception:  # an unreadable block is the integrity check's business, not ours
            return None
        return float(seconds) if seconds is not None else None
    return None


@cache
def reference_table() -> dict[str, dict[str, float]]:
    """The shipped reference: simulation id -> config id -> median block seconds ({} if the
    file is missing or unreadable: the estimates then fall back to 1 s per block)."""
    try:
        text = resources.files("theorycheck").joinpath(REFERENCE).read_text()
        return json.loads(text)
    except (OSError, ValueError):
        return {}


def measured_table(roots: Iterable[str | Path]) -> dict[str, dict[str, float]]:
    """Median measured seconds per (simulation, config) over the blocks stored under ``roots``
    (results directories), rounded to 2 significant digits: the reference table's content."""
    times: dict[str, dict[str, list[float]]] = {}
    for root in roots:
        store = ResultsStore(root)
        for path in sorted(store.root.glob("*/*-s*/block-*.parquet")):
            seconds = store.read_meta(path).get("seconds")
            if seconds is None:
                continue
            sim_id, cfg_id = path.parts[-3], path.parts[-2].rsplit("-s", 1)[0]
            times.setdefault(sim_id, {}).setdefault(cfg_id, []).append(float(seconds))
    return {
        sim_id: {cfg: float(f"{statistics.median(v):.2g}") for cfg, v in sorted(cfgs.items())}
        for sim_id, cfgs in sorted(times.items())
    }
