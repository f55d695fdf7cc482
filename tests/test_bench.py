"""``theorycheck bench`` machinery on a tiny workload (never a timing assertion: docs/design.md).

Checks that every path runs, that the materialised paths computed the same t* as the reference
on the same networks, that the report prints every target, and that bad options exit with one line.
"""

from __future__ import annotations

import numpy as np
import pytest
from _tiny import Coins

from theorycheck.bench import TARGETS, Workload, format_report, profile_timings, run_bench
from theorycheck.cli import main
from theorycheck.runner import run
from theorycheck.store import ResultsStore


def test_bench_runs_every_path_and_agrees_with_the_reference(warm_numba):
    df = run_bench((Workload("tiny", d=6, m=40, n_networks=2, n_inputs=3),), repeats=1,
                   torch_walk=False, progress=None)  # fmt: skip
    paths = set(df["path"])
    assert {"reference", "numba", "numba fused", "numba streaming", "exact", "draw W",
            "rng floor", "blas floor"} <= paths  # fmt: skip
    assert np.all(df["median_s"] > 0)
    same = df[df["path"].isin(["numba", "numba fused"])]
    assert np.all(same["max_dt_star"] <= 1e-9)
    text = format_report(df)
    for path, other, *_ in TARGETS:
        if path in paths and other in paths:
            assert f"target: {path} " in text


def test_bench_bad_option_exits_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--repeats", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--repeats" in err[0]


def test_bench_results_says_where_a_stored_runs_time_went(tmp_path, capsys):
    """``theorycheck bench --results DIR``: per simulation, from the blocks' own provenance."""
    run([Coins()], out=tmp_path, progress=False)
    assert main(["bench", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "coins" in out and "TOTAL" in out
    df = profile_timings(tmp_path)
    store = ResultsStore(tmp_path)
    blocks = sorted((tmp_path / "coins").rglob("block-*.parquet"))  # the sequential looks' too
    stored = sum(store.read_meta(p)["seconds"] for p in blocks)
    coins = df.set_index("simulation").loc["coins"]
    assert coins["blocks"] == len(blocks) > 4
    assert coins["block_seconds"] == pytest.approx(stored, abs=1e-6)
