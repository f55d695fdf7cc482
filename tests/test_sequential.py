"""Sequential sampling (theorycheck.sequential): undecided rows get more blocks, under a valid
stopping rule, reproducibly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tiny import GAMMA, Coins, FixedCoins
from scipy import stats

from theorycheck.distributed import dask_executor
from theorycheck.runner import run
from theorycheck.sequential import look_count
from theorycheck.simulation import config_id
from theorycheck.store import ResultsStore
from theorycheck.verdicts import bound_verdict, with_looks


def _stored_blocks(root, sim, cfg) -> int:
    return len(list((root / sim.id).glob(f"{config_id(cfg)}-s0/block-*.parquet")))


def test_undecided_rows_get_more_blocks_by_the_looks_rule(tmp_path):
    sim = Coins()
    result = run([sim], out=tmp_path, progress=False)
    store = ResultsStore(tmp_path)
    low, high = sim.configs("quick")
    # Replay the looks from the stored blocks: a config is extended exactly while its row is
    # INCONCLUSIVE with "would settle it", doubling its blocks up to 8 x n_blocks.
    for cfg in (low, high):
        n = cfg.n_blocks
        while True:
            df = store.read_blocks(sim.id, config_id(cfg), 0, n)
            row = bound_verdict("toy.coin", sim.id, {"rate": cfg.rate}, "X", df["x"], 0.5, GAMMA)
            row = with_looks(row, look_count(sim))
            if row.verdict != "INCONCLUSIVE" or "would settle it" not in row.note or n == 8 * 2:
                break
            n *= 2
        assert _stored_blocks(tmp_path, sim, cfg) == n
        final = result.verdicts.set_index("rate").loc[cfg.rate]
        assert final["verdict"] == row.verdict and final["n"] == n * cfg.per_block
    assert _stored_blocks(tmp_path, sim, high) == 2  # decided at the first look
    # 40 replicates cannot show HOLDS at gamma = 0.1 even with none exceeding: the CP limit at
    # 1 - 0.05/4 is then 1 - 0.0125^(1/40) = 0.104.
    assert _stored_blocks(tmp_path, sim, low) > 2
    meta = store.read_meta("coins/summary-quick-s0")
    assert [c["blocks"] for c in meta["configs"]] == [
        _stored_blocks(tmp_path, sim, low), _stored_blocks(tmp_path, sim, high)
    ]  # fmt: skip


def test_the_design_looks_are_a_bonferroni_factor(tmp_path):
    result = run([Coins()], out=tmp_path, progress=False)
    row = result.verdicts.set_index("rate").loc[0.3]
    assert look_count(Coins()) == 4 and row["looks"] == 4
    k, n = int(row["exceedances"]), int(row["n"])
    assert row["p_value"] == pytest.approx(min(1.0, 4 * stats.binom.sf(k - 1, n, GAMMA)))
    # The Clopper-Pearson limit at 1 - 0.05/4.
    assert row["exceed_ci_high"] == pytest.approx(stats.beta.ppf(1 - 0.0125, k + 1, n - k))


def test_a_fixed_design_is_never_extended(tmp_path):
    sim = FixedCoins()
    result = run([sim], out=tmp_path, progress=False)
    assert all(_stored_blocks(tmp_path, sim, cfg) == 2 for cfg in sim.configs("quick"))
    assert (result.verdicts["looks"] == 1).all()


def test_a_sequential_run_resumes_to_the_same_stopped_result(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    a = run([Coins()], out=whole, progress=False)
    run([Coins()], out=cut, progress=False)
    blocks = sorted(cut.glob("coins/*/block-*.parquet"))
    for b in blocks[1::2]:
        b.unlink()  # killed mid-way: half of the blocks of every look are gone
    b = run([Coins()], out=cut, progress=False)
    pd.testing.assert_frame_equal(a.verdicts, b.verdicts)
    for path in sorted(whole.glob("coins/*/block-*.parquet")):
        other = cut / path.relative_to(whole)
        pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(other))
    assert np.all(a.verdicts["n"] == b.verdicts["n"])


def test_a_sequential_run_on_dask_stores_the_local_numbers(tmp_path):
    local = run([Coins()], out=tmp_path / "local", progress=False)
    with dask_executor("local:2") as ex:
        remote = run([Coins()], out=str(tmp_path / "dask"), executor=ex, progress=False)
    pd.testing.assert_frame_equal(local.verdicts, remote.verdicts)
    assert local.computed_blocks == remote.computed_blocks
