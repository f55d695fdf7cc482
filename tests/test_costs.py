"""Expected block times (theorycheck.costs): stored times first, then the shipped reference,
then means; the reference table is what measured_table reads from a results directory."""

from __future__ import annotations

import statistics

from _tiny import TinySignFlips

from theorycheck.costs import estimated_seconds, measured_table, reference_table
from theorycheck.runner import run
from theorycheck.simulation import config_id
from theorycheck.simulations import REGISTRY
from theorycheck.store import ResultsStore


def _stored(root) -> dict[str, list[float]]:
    """Config id -> the measured seconds of its stored blocks, read block by block."""
    store = ResultsStore(root)
    out: dict[str, list[float]] = {}
    for path in store.root.glob("lazy-sign-flips/*/block-*.parquet"):
        out.setdefault(path.parent.name.split("-s")[0], []).append(store.read_meta(path)["seconds"])
    return out


def test_measured_table_holds_each_configs_median_to_two_digits(tmp_path):
    run([TinySignFlips()], out=tmp_path, workers=1, progress=False)
    stored = _stored(tmp_path)
    table = measured_table([tmp_path])
    assert set(table) == {"lazy-sign-flips"}
    assert set(table["lazy-sign-flips"]) == set(stored) and len(stored) == 2
    for cfg, seconds in stored.items():
        assert len(seconds) == TinySignFlips.n_blocks
        median = statistics.median(seconds)
        value = table["lazy-sign-flips"][cfg]
        assert abs(value - median) <= 0.05 * median  # 2 significant digits: within 5%
        assert len(f"{value:e}".split("e")[0].rstrip("0").replace(".", "")) <= 2


def test_estimates_prefer_stored_then_reference_then_simulation_mean(tmp_path):
    run([TinySignFlips()], out=tmp_path, workers=1, progress=False)
    stored = {cfg: v[0] for cfg, v in _stored(tmp_path).items()}  # one block per config is read
    cfg_a, cfg_b = sorted(stored)
    store = ResultsStore(tmp_path)
    sim = "lazy-sign-flips"
    reference = {
        sim: {cfg_a: 500.0},
        "sim-x": {"c1": 2.0, "c2": 4.0},
        "sim-z": {"c1": 2.0, "c2": 4.0},
    }
    keys = [(sim, cfg_a), (sim, cfg_b), (sim, "new"), ("sim-x", "c2"), ("sim-x", "c9"),
            ("sim-y", "c1"), ("sim-z", "c9")]  # fmt: skip
    est = estimated_seconds(store, keys, reference)
    assert est[0] in _stored(tmp_path)[cfg_a]  # measured here beats the reference's 500
    assert est[1] in _stored(tmp_path)[cfg_b]
    assert est[2] == statistics.fmean(est[:2])  # a new config: the mean of its simulation's
    assert est[3] == 4.0  # from the reference
    assert est[4] == 4.0  # a config the reference lacks: the mean of its simulation's known
    assert est[5] == statistics.fmean([est[0], est[1], 4.0])  # unknown: the mean of all known
    assert est[6] == 3.0  # none of the simulation's configs known: its mean in the reference
    assert estimated_seconds(ResultsStore(tmp_path / "empty"), [("a", "b")], {}) == [1.0]


def test_the_shipped_reference_names_every_simulation_and_only_known_ones():
    """A simulation missing from the table starts a fresh run at the overall mean: its long
    blocks could start last. Regenerate with benchmarks/block_costs.py."""
    table = reference_table()
    assert set(table) == set(REGISTRY)
    quick = {(sid, config_id(c)) for sid, sim in REGISTRY.items()
             for c in sim.configs("quick", None, None)}  # fmt: skip
    covered = sum(cfg in table[sid] for sid, cfg in quick)
    assert covered > 0 and all(v > 0 for t in table.values() for v in t.values())
